/* tests/modelfile/test_keras_activations.c - Keras' spellings of the
 * activations: the strings on Conv2D/Dense/Activation, Keras 3's function
 * objects, and the layer forms ReLU (max_value, negative_slope, threshold),
 * LeakyReLU (alpha / negative_slope), ELU, ThresholdedReLU and Softmax.
 *   - read: kinds and parameters as Keras defines them; "hard_sigmoid" is
 *     Keras 2's 0.2 x + 0.5 in a Keras 2 config and relu6(x + 3) / 6 in a Keras 3
 *     one;
 *   - write: saved as .h5 and loaded again, same functions and parameters and
 *     bit-identical outputs; the independent reader (tests/oracle/
 *     keras_reader.py, PyTorch's own F.silu, F.gelu, F.elu, F.selu, ...) runs the
 *     saved file on random inputs and gives catdog's outputs;
 *   - refused: a Lambda layer (named), and writing a function with no Keras 2
 *     name. */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/runner.h"
#include "modelfile/keras.h"

#define LAYER(cls, cfg) "{\"class_name\": \"" cls "\", \"config\": {" cfg "}},"

/* Every spelling once; the input is Keras 2's batch_input_shape or Keras 3's
 * batch_shape (which makes the config Keras 3's). */
static char *acts_json(int keras3)
{
    static const char *body =
        LAYER("Conv2D", "\"name\": \"c_swish\", \"filters\": 4, \"kernel_size\": [3, 3], "
              "\"padding\": \"same\", \"activation\": \"swish\"")
        LAYER("Activation", "\"name\": \"a_gelu\", \"activation\": \"gelu\"")
        LAYER("LeakyReLU", "\"name\": \"leaky\", \"alpha\": 0.1")
        LAYER("LeakyReLU", "\"name\": \"leaky3\", \"negative_slope\": 0.05")
        LAYER("ELU", "\"name\": \"elu\", \"alpha\": 0.5")
        LAYER("Activation", "\"name\": \"a_selu\", \"activation\": \"selu\"")
        LAYER("ReLU", "\"name\": \"relu6\", \"max_value\": 6.0, \"negative_slope\": 0.0, "
              "\"threshold\": 0.0")
        LAYER("ReLU", "\"name\": \"relu_x\", \"max_value\": 2.0, \"negative_slope\": 0.1, "
              "\"threshold\": 0.5")
        LAYER("Activation", "\"name\": \"a_hsig\", \"activation\": \"hard_sigmoid\"")
        LAYER("Conv2D", "\"name\": \"c_elu\", \"filters\": 3, \"kernel_size\": [1, 1], "
              "\"activation\": \"elu\"")
        LAYER("PReLU", "\"name\": \"prelu\", \"shared_axes\": [1, 2]")
        LAYER("Activation", "\"name\": \"a_softplus\", \"activation\": \"softplus\"")
        LAYER("Activation", "\"name\": \"a_softsign\", \"activation\": \"softsign\"")
        LAYER("Activation", "\"name\": \"a_hswish\", \"activation\": {\"module\": "
              "\"keras.activations\", \"class_name\": \"function\", \"config\": \"hard_silu\", "
              "\"registered_name\": \"function\"}")
        LAYER("ThresholdedReLU", "\"name\": \"thr\", \"theta\": 0.1")
        LAYER("Conv2D", "\"name\": \"c_relu6\", \"filters\": 3, \"kernel_size\": [1, 1], "
              "\"activation\": \"relu6\"")
        LAYER("Activation", "\"name\": \"a_leaky\", \"activation\": \"leaky_relu\"")
        LAYER("Flatten", "\"name\": \"flat\"")
        LAYER("Dense", "\"name\": \"d_exp\", \"units\": 3, \"activation\": \"exponential\"")
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"out\", \"units\": 2, "
        "\"activation\": \"linear\"}}]}}";
    char *s = malloc(4096);
    assert_non_null(s);
    snprintf(s, 4096,
             "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"acts\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"%s\": "
             "[null, 5, 4, 3]}},%s",
             keras3 ? "batch_shape" : "batch_input_shape", body);
    return s;
}

typedef struct want {
    const char *name;
    layer_act act;
    float alpha, max_value, threshold;
} want;

static const want wants[] = {
    {"c_swish", ACT_SWISH, 0, -1, 0},       {"a_gelu", ACT_GELU, 0, -1, 0},
    {"leaky", ACT_LEAKY_RELU, 0.1f, -1, 0}, {"leaky3", ACT_LEAKY_RELU, 0.05f, -1, 0},
    {"elu", ACT_ELU, 0.5f, -1, 0},          {"a_selu", ACT_SELU, 0, -1, 0},
    {"relu6", ACT_RELU6, 0, -1, 0},         {"relu_x", ACT_RELU_X, 0.1f, 2.0f, 0.5f},
    {"a_hsig", ACT_HARD_SIGMOID, 0, -1, 0}, {"c_elu", ACT_ELU, 1.0f, -1, 0},
    {"a_softplus", ACT_SOFTPLUS, 0, -1, 0}, {"a_softsign", ACT_SOFTSIGN, 0, -1, 0},
    {"a_hswish", ACT_HARD_SWISH, 0, -1, 0}, {"thr", ACT_RELU_X, 0, -1, 0.1f},
    {"c_relu6", ACT_RELU6, 0, -1, 0},       {"a_leaky", ACT_LEAKY_RELU, 0.2f, -1, 0},
    {"d_exp", ACT_EXPONENTIAL, 0, -1, 0},   {"out", ACT_LINEAR, 0, -1, 0},
};

static void check_acts(const model *m, int keras3)
{
    for (size_t k = 0; k < sizeof wants / sizeof wants[0]; k++) {
        int i = model_find(m, wants[k].name);
        if (i < 0)
            fail_msg("no layer %s", wants[k].name);
        const layer *l = &m->layers[i];
        layer_act act = wants[k].act;
        if (act == ACT_HARD_SIGMOID && keras3)
            act = ACT_HARD_SIGMOID6;
        if (l->act != act)
            fail_msg("%s: activation %s, expected %s", l->name, layer_act_name(l->act),
                     layer_act_name(act));
        if (act == ACT_LEAKY_RELU || act == ACT_ELU || act == ACT_RELU_X)
            assert_true(fabsf(l->act_p.alpha - wants[k].alpha) < 1e-7f);
        if (act == ACT_RELU_X)
            assert_true(l->act_p.max_value == wants[k].max_value &&
                        l->act_p.threshold == wants[k].threshold);
    }
}

static model *from_json(int keras3)
{
    cd_err err;
    char *json = acts_json(keras3);
    model *m = keras_from_json(json, "test", &err);
    free(json);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

static void test_read_keras2_and_keras3_spellings(void **state)
{
    (void)state;
    for (int k3 = 0; k3 < 2; k3++) {
        model *m = from_json(k3);
        check_acts(m, k3);
        model_free(m);
    }
}

static float *run_ref(const model *m, const float *x, int n)
{
    cd_err err;
    runner_opts o = {.backend = RUNNER_REF, .threads = 1};
    runner *r = runner_new(m, n, &o, &err);
    if (!r)
        fail_msg("%s", err.msg);
    float *y = malloc(sizeof *y * model_output_size(m) * (size_t)n);
    assert_non_null(y);
    if (runner_forward(r, x, n, y, &err) != 0)
        fail_msg("%s", err.msg);
    runner_free(r);
    return y;
}

/* Save (Keras 2 config) and load: same functions, bit-identical outputs; the
 * PyTorch reader agrees.  The Keras 3 hard_sigmoid cannot be written, so the
 * Keras 2 read is the one saved. */
static void test_write_read_and_pytorch_reader_agree(void **state)
{
    (void)state;
    model *m = from_json(0);
    model_init_params(m, 7);
    int pr = model_find(m, "prelu");
    assert_true(pr >= 0);
    assert_int_equal(m->layers[pr].shared_axes, 3);
    assert_int_equal(m->layers[pr].params[0]->rank, 3);
    assert_int_equal(m->layers[pr].params[0]->size, 3); /* (1, 1, C) */
    for (int k = 0; k < 3; k++) /* Keras starts at zeros: make it matter */
        m->layers[pr].params[0]->data[k] = 0.2f * (float)(k + 1) - 0.3f;
    char dir[] = "/tmp/catdog-ka-XXXXXX", path[80], in_path[96], out_path[96], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/acts.h5", dir);
    cd_err err;
    if (keras_save(m, path, &err) != 0)
        fail_msg("%s", err.msg);
    model *back = keras_load(path, &err);
    if (!back)
        fail_msg("%s", err.msg);
    check_acts(back, 0);
    const int n = 4;
    size_t in_n = (size_t)n * 5 * 4 * 3;
    float x[4 * 60];
    unsigned s = 11;
    for (size_t i = 0; i < in_n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = 4.0f * ((float)(s >> 8) / 8388608.0f - 1.0f); /* [-4, 4): past the kinks */
    }
    float *y1 = run_ref(m, x, n), *y2 = run_ref(back, x, n);
    assert_memory_equal(y1, y2, sizeof *y1 * 2 * (size_t)n);

    snprintf(in_path, sizeof in_path, "%s/in.f32", dir);
    snprintf(out_path, sizeof out_path, "%s/out.f32", dir);
    FILE *f = fopen(in_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, in_n, f), in_n);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/tests/oracle/keras_reader.py' forward '%s' '%s' %d '%s'",
             CATDOG_SOURCE_DIR, path, in_path, n, out_path);
    assert_int_equal(system(cmd), 0);
    size_t len = 0;
    float *got = (float *)test_read_file(out_path, &len);
    assert_non_null(got);
    assert_int_equal(len, sizeof(float) * 2 * (size_t)n);
    double worst = 0, scale = 1e-3;
    for (int i = 0; i < 2 * n; i++) {
        worst = fmax(worst, fabs((double)got[i] - (double)y1[i]));
        scale = fmax(scale, fabs((double)got[i]));
    }
    fprintf(stderr, "PyTorch reader vs catdog: max |diff| %.3g on outputs up to %.3g\n", worst,
            scale);
    assert_true(worst <= 1e-5 * scale);
    free(got);
    free(y1);
    free(y2);
    model_free(back);
    model_free(m);
    unlink(in_path);
    unlink(out_path);
    unlink(path);
    rmdir(dir);
}

static void test_lambda_and_unwritable_are_refused(void **state)
{
    (void)state;
    cd_err err;
    const char *json =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_input_shape\": "
        "[null, 4, 4, 3]}},"
        "{\"class_name\": \"Lambda\", \"config\": {\"name\": \"my_lambda\", \"function\": "
        "[\"4wEAAAAAAAAA\", null, null]}}]}}";
    assert_null(keras_from_json(json, "lam.json", &err));
    assert_non_null(strstr(err.msg, "my_lambda"));
    assert_non_null(strstr(err.msg, "Lambda"));

    model *m = from_json(1); /* Keras 3: hard_sigmoid is relu6(x + 3) / 6 */
    char dir[] = "/tmp/catdog-ka-XXXXXX", path[80];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/k3.h5", dir);
    assert_int_equal(keras_save(m, path, &err), -1);
    assert_non_null(strstr(err.msg, "a_hsig"));
    assert_int_not_equal(access(path, F_OK), 0);
    model_free(m);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_keras2_and_keras3_spellings),
        cmocka_unit_test(test_write_read_and_pytorch_reader_agree),
        cmocka_unit_test(test_lambda_and_unwritable_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
