/* tests/modelfile/test_builtin_arch_weights.c - a weights file in Keras 2's
 * save_weights layout for keras.applications' MobileNetV2 / ResNet50 /
 * EfficientNetB0 without top loads onto catdog's built-ins by layer name, and
 * the features catdog computes with it are torchvision's on the same inputs.
 *
 * tests/modelfile/keras_apps_ref.py (h5py + PyTorch, no catdog code) gives
 * torchvision's mobilenet_v2 / resnet50 / efficientnet_b0 seeded random weights, writes them as
 * Keras would (layer_names with the weightless layers, weight_names, kernels
 * (kh, kw, in, out)), and runs the inputs in float64 through torchvision's
 * modules with the differences from Keras taken out exactly (Keras' padding of
 * stride-2 convolutions in MobileNetV2, ResNet v1's stride placement and
 * convolution biases; EfficientNetB0's padding and its input rescaling and
 * normalization; see the script).  MobileNetV2 and EfficientNetB0 run at 33
 * (odd sizes all the way down, 33-17-9-5-3: symmetric pads) and 64 (even: Keras' one-sided
 * pads), ResNet50 at 64; batch 8 and batch 1 with oneDNN, batch 1 with the
 * plain-C reference.
 * Fails when /usr/bin/python3 lacks h5py or torchvision (scripts/install-deps.sh). */
#include "test_util.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/arch.h"
#include "engine/runner.h"
#include "modelfile/keras.h"

/* max |catdog - reference| / max |reference|, float32 against float64 through
 * 50+ layers.  Measured: see the numbers each check prints on stderr. */
#define TOL 1e-4
#define BATCH 8

typedef struct arch_case {
    const char *arch;
    int size;
    int seed;
    char in[96], weights[96], out[96];
} arch_case;

static char tmpdir[64];
static arch_case cases[] = {
    {"mobilenetv2", 33, 1, "", "", ""},
    {"mobilenetv2", 64, 2, "", "", ""},
    {"resnet50", 64, 3, "", "", ""},
    {"efficientnetb0", 33, 4, "", "", ""},
    {"efficientnetb0", 64, 5, "", "", ""},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Deterministic pseudo-random values in [-1, 1) (inputs as 'tf' preprocessing
 * gives), or raw pixels in [0, 255) when pixels (EfficientNetB0 normalizes). */
static float *random_input(size_t len, unsigned seed, int pixels)
{
    float *x = malloc(len * sizeof *x);
    assert_non_null(x);
    unsigned s = seed;
    for (size_t i = 0; i < len; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
        if (pixels)
            x[i] = (x[i] + 1.0f) * 127.5f;
    }
    return x;
}

static size_t input_len(const arch_case *c, int n)
{
    return (size_t)n * (size_t)c->size * (size_t)c->size * 3;
}

/* Writes every case's inputs and runs the reference once for all of them. */
static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/catdog-arch-w-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    if (system("/usr/bin/python3 -c 'import h5py, torchvision' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "/usr/bin/python3 with h5py and torchvision not found: run "
                        "scripts/install-deps.sh (python3-h5py, python3-torchvision)\n");
        return -1;
    }
    char cmd[4096];
    int off = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/modelfile/keras_apps_ref.py'",
                       CATDOG_SOURCE_DIR);
    for (int k = 0; k < N_CASES; k++) {
        arch_case *c = &cases[k];
        snprintf(c->in, sizeof c->in, "%s/%s%d.in.f32", tmpdir, c->arch, c->size);
        snprintf(c->weights, sizeof c->weights, "%s/%s%d.h5", tmpdir, c->arch, c->size);
        snprintf(c->out, sizeof c->out, "%s/%s%d.out.f32", tmpdir, c->arch, c->size);
        float *x = random_input(input_len(c, BATCH), (unsigned)c->seed,
                                strcmp(c->arch, "efficientnetb0") == 0);
        FILE *f = fopen(c->in, "wb");
        int ok = f && fwrite(x, sizeof *x, input_len(c, BATCH), f) == input_len(c, BATCH);
        if (f && fclose(f) != 0)
            ok = 0;
        free(x);
        if (!ok)
            return -1;
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, " %s %d %d '%s' %d '%s' '%s'",
                        c->arch, c->size, c->seed, c->in, BATCH, c->weights, c->out);
    }
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* catdog's output for n inputs starting at sample `first`, in one batch. */
static float *features(const model *m, runner_backend be, const float *x, int first, int n,
                       const arch_case *c)
{
    cd_err err;
    runner_opts o = {.backend = be, .threads = 2};
    runner *r = runner_new(m, n, &o, &err);
    if (!r)
        fail_msg("%s", err.msg);
    size_t per = model_output_size(m);
    float *y = malloc(per * (size_t)n * sizeof *y);
    assert_non_null(y);
    if (runner_forward(r, x + input_len(c, first), n, y, &err) != 0)
        fail_msg("%s", err.msg);
    runner_free(r);
    return y;
}

static void compare(const char *what, const float *got, const float *want, size_t len)
{
    double worst = 0, scale = 0;
    for (size_t i = 0; i < len; i++) {
        scale = fmax(scale, fabs((double)want[i]));
        worst = fmax(worst, fabs((double)got[i] - (double)want[i]));
    }
    fprintf(stderr, "%s: max |catdog - torchvision| %.3g, outputs up to %.3g (%.3g relative)\n",
            what, worst, scale, worst / scale);
    assert_true(scale > 0.1); /* features of order one, not vanished */
    assert_true(worst <= TOL * scale);
}

static void check_case(const arch_case *c)
{
    cd_err err;
    model *m = arch_build(c->arch, c->size, &err);
    if (!m)
        fail_msg("%s", err.msg);
    if (keras_load_weights(m, c->weights, &err) != 0)
        fail_msg("%s", err.msg);
    size_t len = 0, per = model_output_size(m);
    float *want = (float *)test_read_file(c->out, &len);
    assert_non_null(want);
    assert_int_equal(len, per * BATCH * sizeof(float));
    float *x = (float *)test_read_file(c->in, &len);
    assert_non_null(x);

    char what[128];
    float *y = features(m, RUNNER_DNNL, x, 0, BATCH, c);
    snprintf(what, sizeof what, "%s %d oneDNN batch %d", c->arch, c->size, BATCH);
    compare(what, y, want, per * BATCH);
    free(y);
    y = features(m, RUNNER_DNNL, x, BATCH - 1, 1, c);
    snprintf(what, sizeof what, "%s %d oneDNN batch 1", c->arch, c->size);
    compare(what, y, want + per * (BATCH - 1), per);
    free(y);
    /* The reference runner is plain C loops: one sample is enough. */
    y = features(m, RUNNER_REF, x, 1, 1, c);
    snprintf(what, sizeof what, "%s %d reference batch 1", c->arch, c->size);
    compare(what, y, want + per, per);
    free(y);
    free(x);
    free(want);
    model_free(m);
}

static void test_mobilenetv2_odd_size_keras_weights_give_torchvision_features(void **state)
{
    (void)state;
    check_case(&cases[0]);
}

static void test_mobilenetv2_even_size_pads_as_keras_correct_pad(void **state)
{
    (void)state;
    check_case(&cases[1]);
}

static void test_resnet50_keras_weights_give_torchvision_v1_features(void **state)
{
    (void)state;
    check_case(&cases[2]);
}

static void test_efficientnetb0_odd_size_keras_weights_give_torchvision_features(void **state)
{
    (void)state;
    check_case(&cases[3]);
}

static void test_efficientnetb0_even_size_pads_as_keras_correct_pad(void **state)
{
    (void)state;
    check_case(&cases[4]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mobilenetv2_odd_size_keras_weights_give_torchvision_features),
        cmocka_unit_test(test_mobilenetv2_even_size_pads_as_keras_correct_pad),
        cmocka_unit_test(test_resnet50_keras_weights_give_torchvision_v1_features),
        cmocka_unit_test(test_efficientnetb0_odd_size_keras_weights_give_torchvision_features),
        cmocka_unit_test(test_efficientnetb0_even_size_pads_as_keras_correct_pad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
