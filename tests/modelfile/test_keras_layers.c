/* tests/modelfile/test_keras_layers.c - Keras layer classes added as op units:
 * BatchNormalization and Rescaling read from a config, written back and read
 * again with the same configuration; a whole file round trip keeps the BN
 * statistics under Keras' weight names; augmentation layers (identity at
 * inference) are left out of the graph, also inside a nested Sequential and a
 * functional model; ZeroPadding2D's padding forms; Add/Subtract in a
 * functional model; BatchNormalization options catdog does not compute are
 * refused naming the layer. */
#include "test_util.h"

#include <unistd.h>

#include "engine/model.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"

static const char *seq_json =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_input_shape\": "
    "[null, 6, 5, 3]}},"
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"aug\", \"layers\": ["
    "{\"class_name\": \"RandomFlip\", \"config\": {\"name\": \"rf\", \"mode\": \"horizontal\"}},"
    "{\"class_name\": \"RandomRotation\", \"config\": {\"name\": \"rr\", \"factor\": 0.1}}]}},"
    "{\"class_name\": \"Rescaling\", \"config\": {\"name\": \"resc\", \"scale\": 0.5, "
    "\"offset\": -1.0}},"
    "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"conv\", \"filters\": 4, "
    "\"kernel_size\": [3, 3], \"padding\": \"same\", \"activation\": \"relu\"}},"
    "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", \"axis\": [3], "
    "\"momentum\": 0.9, \"epsilon\": 0.01, \"center\": true, \"scale\": false}},"
    "{\"class_name\": \"GaussianNoise\", \"config\": {\"name\": \"gn\", \"stddev\": 0.1}},"
    "{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"name\": \"gap\"}},"
    "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn2\", \"axis\": -1}},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"out\", \"units\": 1, "
    "\"activation\": \"sigmoid\"}}]}}";

static model *from_json(const char *json)
{
    cd_err err;
    model *m = keras_from_json(json, "test", &err);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

static void check_model(const model *m)
{
    const char *names[] = {"in", "resc", "conv", "bn", "gap", "bn2", "out"};
    assert_int_equal(m->n_layers, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(m->layers[i].name, names[i]);
    const layer *r = &m->layers[1], *bn = &m->layers[3], *bn2 = &m->layers[5];
    assert_int_equal(r->kind, LAYER_RESCALING);
    assert_true(r->rescale[0] == 0.5f && r->rescale[1] == -1.0f);
    assert_int_equal(bn->kind, LAYER_BATCHNORM);
    assert_true(bn->epsilon == 0.01f && bn->rate == 0.9f && bn->center && !bn->scale);
    assert_int_equal(bn->n_params, 3);
    assert_int_equal(bn2->n_params, 4);
    assert_true(bn2->epsilon == 0.001f);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    /* conv 3*3*3*4+4, bn 3*4, bn2 4*4, dense 4+1 */
    assert_int_equal(total, 112 + 12 + 16 + 5);
    assert_int_equal(frozen, 8 + 8);
}

static void test_batchnorm_rescaling_read_write_read(void **state)
{
    (void)state;
    model *m = from_json(seq_json);
    check_model(m);
    cd_err err;
    char *json = keras_json_config(m, &err);
    if (!json)
        fail_msg("%s", err.msg);
    assert_non_null(strstr(json, "\"BatchNormalization\""));
    assert_null(strstr(json, "RandomFlip"));
    model *back = from_json(json);
    check_model(back);
    free(json);
    model_free(back);
    model_free(m);
}

/* Whole file: the BN statistics and the outputs survive keras_save/keras_load. */
static void test_batchnorm_file_round_trip_keeps_outputs(void **state)
{
    (void)state;
    model *m = from_json(seq_json);
    model_init_params(m, 5);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++) {
            tensor *t = m->layers[i].params[k];
            for (size_t j = 0; j < t->size; j++)
                t->data[j] += 0.25f + 0.01f * (float)((j * 7 + (size_t)k) % 13);
        }
    char dir[] = "/tmp/catdog-kl-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.h5", dir);
    cd_err err;
    if (keras_save(m, path, &err) != 0)
        fail_msg("%s", err.msg);
    model *back = keras_load(path, &err);
    if (!back)
        fail_msg("%s", err.msg);
    check_model(back);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++)
            assert_memory_equal(m->layers[i].params[k]->data, back->layers[i].params[k]->data,
                                m->layers[i].params[k]->size * sizeof(float));
    float x[2 * 90], y1[2], y2[2];
    for (int i = 0; i < 180; i++)
        x[i] = (float)((i * 37) % 255);
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 1};
    runner *r1 = runner_new(m, 2, &o, &err), *r2 = r1 ? runner_new(back, 2, &o, &err) : NULL;
    if (!r2)
        fail_msg("%s", err.msg);
    assert_int_equal(runner_forward(r1, x, 2, y1, &err), 0);
    assert_int_equal(runner_forward(r2, x, 2, y2, &err), 0);
    assert_memory_equal(y1, y2, sizeof y1);
    runner_free(r1);
    runner_free(r2);
    model_free(back);
    model_free(m);
    unlink(path);
    rmdir(dir);
}

/* In a functional model an augmentation layer stands for its input. */
static void test_functional_augmentation_is_identity(void **state)
{
    (void)state;
    const char *json =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"name\": \"in\", "
        "\"batch_input_shape\": [null, 4, 4, 3]}, \"inbound_nodes\": []},"
        "{\"class_name\": \"RandomZoom\", \"name\": \"z\", \"config\": {\"name\": \"z\"}, "
        "\"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
        "{\"class_name\": \"Flatten\", \"name\": \"f\", \"config\": {\"name\": \"f\"}, "
        "\"inbound_nodes\": [[[\"z\", 0, 0, {}]]]}],"
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"f\", 0, 0]]}}";
    model *m = from_json(json);
    assert_int_equal(m->n_layers, 2);
    assert_int_equal(m->layers[1].kind, LAYER_FLATTEN);
    assert_int_equal(m->layers[1].inputs[0], 0);
    model_free(m);
}

/* ZeroPadding2D's three spellings of padding, written back as pairs. */
static void test_zeropadding_forms_read_and_write(void **state)
{
    (void)state;
    const char *forms[3] = {"2", "[1, 3]", "[[0, 1], [2, 3]]"};
    const int want[3][4] = {{2, 2, 2, 2}, {1, 1, 3, 3}, {0, 1, 2, 3}};
    for (int f = 0; f < 3; f++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
                 "{\"class_name\": \"ZeroPadding2D\", \"config\": {\"name\": \"zp\", "
                 "\"padding\": %s, \"batch_input_shape\": [null, 5, 4, 2]}}]}}",
                 forms[f]);
        for (int pass = 0; pass < 2; pass++) {
            model *m = from_json(json);
            const layer *z = &m->layers[1];
            assert_int_equal(z->kind, LAYER_ZEROPAD2D);
            assert_memory_equal(z->pad4, want[f], sizeof want[f]);
            assert_int_equal(z->out_h, 5 + want[f][0] + want[f][1]);
            assert_int_equal(z->out_w, 4 + want[f][2] + want[f][3]);
            cd_err err;
            char *out = keras_json_config(m, &err);
            if (!out)
                fail_msg("%s", err.msg);
            snprintf(json, sizeof json, "%s", out);
            free(out);
            model_free(m);
        }
    }
}

/* A residual Add and a Subtract in a functional model: read, written back as
 * a functional config, read again with the same inputs. */
static void test_merge_layers_round_trip(void **state)
{
    (void)state;
    const char *json =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"name\": \"in\", "
        "\"batch_input_shape\": [null, 4, 4, 3]}, \"inbound_nodes\": []},"
        "{\"class_name\": \"Conv2D\", \"name\": \"c\", \"config\": {\"name\": \"c\", "
        "\"filters\": 3, \"kernel_size\": 1}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
        "{\"class_name\": \"Add\", \"name\": \"add\", \"config\": {\"name\": \"add\"}, "
        "\"inbound_nodes\": [[[\"in\", 0, 0, {}], [\"c\", 0, 0, {}]]]},"
        "{\"class_name\": \"Subtract\", \"name\": \"sub\", \"config\": {\"name\": \"sub\"}, "
        "\"inbound_nodes\": [[[\"add\", 0, 0, {}], [\"c\", 0, 0, {}]]]}],"
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"sub\", 0, 0]]}}";
    model *m = from_json(json);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(m->n_layers, 4);
        assert_int_equal(m->layers[2].kind, LAYER_ADD);
        assert_int_equal(m->layers[2].n_inputs, 2);
        assert_int_equal(m->layers[2].inputs[0], 0);
        assert_int_equal(m->layers[2].inputs[1], 1);
        assert_int_equal(m->layers[3].kind, LAYER_SUBTRACT);
        assert_int_equal(m->layers[3].inputs[0], 2);
        assert_int_equal(m->layers[3].inputs[1], 1);
        cd_err err;
        char *out = keras_json_config(m, &err);
        if (!out)
            fail_msg("%s", err.msg);
        model_free(m);
        m = from_json(out);
        free(out);
    }
    model_free(m);
}

static void test_batchnorm_unsupported_options_name_the_layer(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"name\": \"bnx\", \"axis\": [1, 2]}",
        "{\"name\": \"bnx\", \"axis\": 1}",
        "{\"name\": \"bnx\", \"renorm\": true}",
        "{\"name\": \"bnx\", \"epsilon\": 0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
                 "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c\", \"filters\": 2, "
                 "\"kernel_size\": 1, \"batch_input_shape\": [null, 3, 3, 1]}},"
                 "{\"class_name\": \"BatchNormalization\", \"config\": %s}]}}",
                 bad[i]);
        cd_err err;
        model *m = keras_from_json(json, "t", &err);
        assert_null(m);
        if (!strstr(err.msg, "bnx"))
            fail_msg("case %zu: the error does not name the layer: %s", i, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_rescaling_read_write_read),
        cmocka_unit_test(test_batchnorm_file_round_trip_keeps_outputs),
        cmocka_unit_test(test_functional_augmentation_is_identity),
        cmocka_unit_test(test_zeropadding_forms_read_and_write),
        cmocka_unit_test(test_merge_layers_round_trip),
        cmocka_unit_test(test_batchnorm_unsupported_options_name_the_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
