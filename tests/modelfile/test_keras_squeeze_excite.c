/* tests/modelfile/test_keras_squeeze_excite.c - a squeeze-and-excitation block
 * spelled as Keras' EfficientNetB0 writes it (keras.applications.efficientnet:
 * GlobalAveragePooling2D "block1a_se_squeeze" -> Reshape((1, 1, C))
 * "block1a_se_reshape" -> Conv2D 1x1 swish "block1a_se_reduce" -> Conv2D 1x1
 * sigmoid "block1a_se_expand" -> Multiply([map, scale]) "block1a_se_excite")
 * read from a functional config: the layer kinds, shapes and inputs, the
 * config written back and read again the same, and its output equal to the
 * block computed by hand (each channel of the map times the sigmoid gate of
 * its own mean), in both backends. */
#include "test_util.h"

#include <math.h>

#include "engine/model.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"

#define NODE(src) "[[[\"" src "\", 0, 0, {}]]]"
static const char *se_json =
    "{\"class_name\": \"Functional\", \"config\": {\"name\": \"efficientnet_block\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"name\": \"in\", "
    "\"batch_input_shape\": [null, 3, 4, 2]}, \"inbound_nodes\": []},"
    "{\"class_name\": \"Activation\", \"name\": \"block1a_activation\", \"config\": {\"name\": "
    "\"block1a_activation\", \"activation\": \"linear\"}, \"inbound_nodes\": " NODE("in") "},"
    "{\"class_name\": \"GlobalAveragePooling2D\", \"name\": \"block1a_se_squeeze\", \"config\": "
    "{\"name\": \"block1a_se_squeeze\", \"data_format\": \"channels_last\"}, "
    "\"inbound_nodes\": " NODE("block1a_activation") "},"
    "{\"class_name\": \"Reshape\", \"name\": \"block1a_se_reshape\", \"config\": {\"name\": "
    "\"block1a_se_reshape\", \"target_shape\": [1, 1, 2]}, "
    "\"inbound_nodes\": " NODE("block1a_se_squeeze") "},"
    "{\"class_name\": \"Conv2D\", \"name\": \"block1a_se_reduce\", \"config\": {\"name\": "
    "\"block1a_se_reduce\", \"filters\": 2, \"kernel_size\": [1, 1], \"padding\": \"same\", "
    "\"activation\": \"swish\"}, \"inbound_nodes\": " NODE("block1a_se_reshape") "},"
    "{\"class_name\": \"Conv2D\", \"name\": \"block1a_se_expand\", \"config\": {\"name\": "
    "\"block1a_se_expand\", \"filters\": 2, \"kernel_size\": [1, 1], \"padding\": \"same\", "
    "\"activation\": \"sigmoid\"}, \"inbound_nodes\": " NODE("block1a_se_reduce") "},"
    "{\"class_name\": \"Multiply\", \"name\": \"block1a_se_excite\", \"config\": {\"name\": "
    "\"block1a_se_excite\"}, \"inbound_nodes\": [[[\"block1a_activation\", 0, 0, {}], "
    "[\"block1a_se_expand\", 0, 0, {}]]]},"
    "{\"class_name\": \"Reshape\", \"name\": \"flat\", \"config\": {\"name\": \"flat\", "
    "\"target_shape\": [-1]}, \"inbound_nodes\": " NODE("block1a_se_excite") "}],"
    "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"flat\", 0, 0]]}}";

static void check_structure(const model *m)
{
    assert_int_equal(m->n_layers, 8);
    const layer *rs = &m->layers[3], *mul = &m->layers[6], *flat = &m->layers[7];
    assert_int_equal(rs->kind, LAYER_RESHAPE);
    assert_int_equal(rs->out_rank, 4);
    assert_true(rs->out_h == 1 && rs->out_w == 1 && rs->out_c == 2);
    assert_int_equal(m->layers[4].act, ACT_SWISH);
    assert_int_equal(mul->kind, LAYER_MULTIPLY);
    assert_int_equal(mul->n_inputs, 2);
    assert_int_equal(mul->inputs[0], 1);
    assert_int_equal(mul->inputs[1], 5);
    assert_true(mul->out_rank == 4 && mul->out_h == 3 && mul->out_w == 4 && mul->out_c == 2);
    assert_int_equal(flat->kind, LAYER_RESHAPE);
    assert_true(flat->out_rank == 2 && flat->out_c == 24);
}

static void test_efficientnet_se_block_reads_writes_and_computes(void **state)
{
    (void)state;
    cd_err err;
    model *m = keras_from_json(se_json, "se.json", &err);
    if (!m)
        fail_msg("%s", err.msg);
    check_structure(m);
    char *out = keras_json_config(m, &err);
    if (!out)
        fail_msg("%s", err.msg);
    assert_non_null(strstr(out, "\"target_shape\":[1,1,2]"));
    assert_non_null(strstr(out, "\"target_shape\":[-1]"));
    model *again = keras_from_json(out, "written.json", &err);
    free(out);
    if (!again)
        fail_msg("%s", err.msg);
    check_structure(again);
    model_free(again);

    /* reduce = identity, expand = 2 * identity, biases 0 and -1: the gate of
     * channel k is sigmoid(2 swish(mean_k) - 1) */
    layer *red = &m->layers[4], *exp_ = &m->layers[5];
    for (int k = 0; k < 4; k++) {
        red->params[0]->data[k] = k % 3 == 0 ? 1.0f : 0.0f;
        exp_->params[0]->data[k] = k % 3 == 0 ? 2.0f : 0.0f;
    }
    for (int c = 0; c < 2; c++) {
        red->params[1]->data[c] = 0.0f;
        exp_->params[1]->data[c] = -1.0f;
    }
    float x[24], want[24], y[24];
    double mean[2] = {0, 0};
    for (int i = 0; i < 24; i++) {
        x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
        mean[i % 2] += x[i] / 12.0;
    }
    for (int i = 0; i < 24; i++) {
        double s = mean[i % 2] / (1.0 + exp(-mean[i % 2]));
        want[i] = (float)(x[i] / (1.0 + exp(-(2.0 * s - 1.0))));
    }
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int b = 0; b < 2; b++) {
        runner_opts o = {.backend = backs[b], .threads = 1};
        runner *r = runner_new(m, 1, &o, &err);
        if (!r)
            fail_msg("%s", err.msg);
        if (runner_forward(r, x, 1, y, &err) != 0)
            fail_msg("%s", err.msg);
        for (int i = 0; i < 24; i++)
            if (fabsf(y[i] - want[i]) > 1e-6f)
                fail_msg("%s, value %d: %.7g, by hand %.7g", b ? "oneDNN" : "reference", i,
                         (double)y[i], (double)want[i]);
        runner_free(r);
    }
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_efficientnet_se_block_reads_writes_and_computes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
