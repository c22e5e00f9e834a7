/* tests/modelfile/test_keras_layers.c - Keras layer classes added as op units:
 * BatchNormalization and Rescaling read from a config, written back and read
 * again with the same configuration; a whole file round trip keeps the BN
 * statistics under Keras' weight names; augmentation layers (identity at
 * inference) are left out of the graph, also inside a nested Sequential and a
 * functional model; ZeroPadding2D's padding forms; Add/Subtract in a
 * functional model; BatchNormalization options catdog does not compute are
 * refused naming the layer; Rescaling's per-channel lists (Keras 3, e.g.
 * EfficientNet's rescaling_1) read, computed and written back as lists with
 * the same float32 values, numbers staying numbers, a wrong length refused
 * naming the layer. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
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
    assert_true(r->rescale[0][0] == 0.5f && r->rescale[1][0] == -1.0f);
    assert_true(r->rescale_n[0] == 0 && r->rescale_n[1] == 0);
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
/* Cropping2D and GlobalAveragePooling2D(keepdims=True) read, written, read. */
static void test_cropping_and_keepdims_round_trip(void **state)
{
    (void)state;
    char json[1024] =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"Cropping2D\", \"config\": {\"name\": \"cr\", "
        "\"cropping\": [[1, 0], [2, 1]], \"batch_input_shape\": [null, 5, 6, 2]}},"
        "{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"name\": \"g\", "
        "\"keepdims\": true}}]}}";
    for (int pass = 0; pass < 2; pass++) {
        model *m = from_json(json);
        assert_int_equal(m->layers[1].kind, LAYER_CROPPING2D);
        assert_int_equal(m->layers[1].out_h, 4);
        assert_int_equal(m->layers[1].out_w, 3);
        assert_int_equal(m->layers[2].out_rank, 4);
        cd_err err;
        char *out = keras_json_config(m, &err);
        if (!out)
            fail_msg("%s", err.msg);
        snprintf(json, sizeof json, "%s", out);
        free(out);
        model_free(m);
    }
}

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

/* Two Rescaling layers: EfficientNet's rescaling_1 (three scales as Keras 3
 * writes them, offset the number 0) and one with a one-element scale list and
 * three offsets. */
static const char *rescale_lists_json =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_input_shape\": "
    "[null, 1, 2, 3]}},"
    "{\"class_name\": \"Rescaling\", \"config\": {\"name\": \"rescaling_1\", \"scale\": "
    "[2.0896918976428642, 2.1128856368212916, 2.1081851067789197], \"offset\": 0.0}},"
    "{\"class_name\": \"Rescaling\", \"config\": {\"name\": \"r2\", \"scale\": [0.5], "
    "\"offset\": [0.1, -0.2, 0.3]}},"
    "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"f\"}}]}}";

/* The config object of the layer called name anywhere under v, or NULL. */
static json_t *find_layer_config(json_t *v, const char *name)
{
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "config");
        json_t *n = json_is_object(c) ? json_object_get(c, "name") : NULL;
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0 &&
            json_object_get(v, "class_name"))
            return c;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            json_t *f = find_layer_config(e, name);
            if (f)
                return f;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *f = find_layer_config(json_array_get(v, i), name);
            if (f)
                return f;
        }
    }
    return NULL;
}

static void check_rescale_lists(const model *m)
{
    const layer *a = &m->layers[1], *b = &m->layers[2];
    assert_int_equal(a->kind, LAYER_RESCALING);
    assert_int_equal(a->rescale_n[0], 3);
    assert_int_equal(a->rescale_n[1], 0);
    assert_true(a->rescale[0][0] == (float)2.0896918976428642 &&
                a->rescale[0][1] == (float)2.1128856368212916 &&
                a->rescale[0][2] == (float)2.1081851067789197 && a->rescale[1][0] == 0.0f);
    assert_int_equal(b->rescale_n[0], 1);
    assert_int_equal(b->rescale_n[1], 3);
    assert_true(b->rescale[0][0] == 0.5f && b->rescale[1][0] == 0.1f && b->rescale[1][1] == -0.2f &&
                b->rescale[1][2] == 0.3f);
}

static void test_rescaling_per_channel_lists_round_trip(void **state)
{
    (void)state;
    model *m = from_json(rescale_lists_json);
    check_rescale_lists(m);
    /* y = (x * s_a) * 0.5 + o_b, channel by channel, in both backends */
    const float x[6] = {1.0f, 2.0f, 3.0f, -4.0f, 5.0f, 6.0f};
    float want[6], y[6];
    for (int i = 0; i < 6; i++)
        want[i] = x[i] * m->layers[1].rescale[0][i % 3] * 0.5f + m->layers[2].rescale[1][i % 3];
    cd_err err;
    for (int k = 0; k < 2; k++) {
        runner_opts o = {.backend = k ? RUNNER_DNNL : RUNNER_REF, .threads = 1};
        runner *r = runner_new(m, 1, &o, &err);
        if (!r)
            fail_msg("%s", err.msg);
        assert_int_equal(runner_forward(r, x, 1, y, &err), 0);
        for (int i = 0; i < 6; i++)
            if (fabsf(y[i] - want[i]) > 1e-6f)
                fail_msg("%s: value %d is %.9g, want %.9g", k ? "dnnl" : "ref", i, (double)y[i],
                         (double)want[i]);
        runner_free(r);
    }

    char *json = keras_json_config(m, &err);
    if (!json)
        fail_msg("%s", err.msg);
    json_t *root = json_loads(json, 0, NULL);
    assert_non_null(root);
    json_t *ca = find_layer_config(root, "rescaling_1"), *cb = find_layer_config(root, "r2");
    assert_non_null(ca);
    assert_non_null(cb);
    /* the form read: lists stay lists (of their length), numbers numbers */
    assert_true(json_is_array(json_object_get(ca, "scale")));
    assert_int_equal(json_array_size(json_object_get(ca, "scale")), 3);
    assert_true(json_is_number(json_object_get(ca, "offset")));
    assert_true(json_is_array(json_object_get(cb, "scale")));
    assert_int_equal(json_array_size(json_object_get(cb, "scale")), 1);
    assert_int_equal(json_array_size(json_object_get(cb, "offset")), 3);
    json_decref(root);
    model *back = from_json(json);
    check_rescale_lists(back);
    free(json);
    model_free(back);
    model_free(m);
}

/* A list of 2 on 3 channels, and a list holding a string: refused, naming
 * the layer. */
static void test_rescaling_bad_lists_name_the_layer(void **state)
{
    (void)state;
    const char *bad[] = {
        "\"scale\": [1.0, 2.0], \"offset\": 0.0",
        "\"scale\": 1.0, \"offset\": [1.0, 2.0, 3.0, 4.0]",
        "\"scale\": [1.0, \"x\", 2.0], \"offset\": 0.0",
        "\"scale\": [], \"offset\": 0.0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
                 "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", "
                 "\"batch_input_shape\": [null, 2, 2, 3]}},"
                 "{\"class_name\": \"Rescaling\", \"config\": {\"name\": \"resx\", %s}},"
                 "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"f\"}}]}}",
                 bad[i]);
        cd_err err;
        model *m = keras_from_json(json, "t", &err);
        if (m)
            fail_msg("case %zu: accepted", i);
        if (!strstr(err.msg, "resx"))
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
        cmocka_unit_test(test_cropping_and_keepdims_round_trip),
        cmocka_unit_test(test_batchnorm_unsupported_options_name_the_layer),
        cmocka_unit_test(test_rescaling_per_channel_lists_round_trip),
        cmocka_unit_test(test_rescaling_bad_lists_name_the_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
