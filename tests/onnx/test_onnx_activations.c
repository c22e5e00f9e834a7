/*
 * test_onnx_activations.c - the activations through ONNX (src/onnx/onnx_acts.c):
 *   - every activation with an ONNX form, standalone and fused into a Conv,
 *     exported at opset 20 and read back: same function and parameters, same
 *     outputs (reference backend);
 *   - ONNX Runtime (npm onnxruntime-node, its own kernels for LeakyRelu, Gelu,
 *     HardSwish, Clip, ...) runs the exported file on the same inputs and
 *     gives catdog's output within 1e-5 (skipped with a note when node or
 *     onnxruntime-node is missing);
 *   - PReLU (alpha shared over H and W, not shared, after a Dense) as PRelu,
 *     both ways, also in ONNX Runtime;
 *   - PyTorch's own export of its activations (LeakyReLU, ELU, SELU,
 *     Hardsigmoid, Hardswish, Softplus, ReLU6 as Clip, SiLU as
 *     x * Sigmoid(x), PReLU) gives PyTorch's output in catdog (oneDNN);
 *   - what has no catdog form is refused on import with a reason: Clip with
 *     a lower bound other than 0, HardSigmoid with other constants; what has
 *     no single ONNX op (HardSwish before opset 14, Keras' ReLU with a
 *     threshold) is exported as a chain of ops.
 */
#include "test_util.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/runner.h"
#include "onnx/onnx.h"
#include "onnx/onnx_internal.h"

#define H 6
#define W 5
#define C 3
#define N 3

/* input -> conv(linear) -> Activation(act, ap) -> conv 1x1 (act fused, defaults)
 * -> global average pool -> dense(1, sigmoid) */
static model *act_model(layer_act act, layer_act_params ap)
{
    cd_err err;
    model *m = model_new("acts", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "input", -1);
    in.in_h = H;
    in.in_w = W;
    in.in_c = C;
    int x = model_add(m, &in, &err);
    layer c1 = layer_template(LAYER_CONV2D, "conv1", x);
    c1.filters = 4;
    c1.kernel[0] = c1.kernel[1] = 3;
    c1.padding = PAD_SAME;
    x = model_add(m, &c1, &err);
    layer a = layer_template(LAYER_ACTIVATION, "act", x);
    a.act = act;
    a.act_p = ap;
    x = model_add(m, &a, &err);
    layer c2 = layer_template(LAYER_CONV2D, "conv2", x);
    c2.filters = 3;
    c2.kernel[0] = c2.kernel[1] = 1;
    layer_set_act(&c2, act);
    if (act == ACT_RELU_X) /* its defaults (no clip) are plain relu: use the clip */
        c2.act_p = ap;
    x = model_add(m, &c2, &err);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", x);
    x = model_add(m, &g, &err);
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    layer_set_act(&d, ACT_SIGMOID);
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, 3);
    for (size_t k = 0; k < m->layers[1].params[0]->size; k++)
        m->layers[1].params[0]->data[k] *= 3.0f; /* spread past the kinks */
    return m;
}

static void forward(const model *m, const float *x, float *y)
{
    cd_err err;
    runner_opts o = {.backend = RUNNER_REF, .threads = 1};
    runner *r = runner_new(m, N, &o, &err);
    if (!r || runner_forward(r, x, N, y, &err) != 0)
        fail_msg("%s", err.msg);
    runner_free(r);
}

/* ONNX Runtime's outputs for the NHWC inputs x; 77 when it is not installed. */
static int run_ort(const char *dir, const unsigned char *onnx, size_t len, const float *x,
                   float *y)
{
    char mpath[160], ipath[160], opath[160], cmd[1024];
    snprintf(mpath, sizeof mpath, "%s/m.onnx", dir);
    snprintf(ipath, sizeof ipath, "%s/in.f32", dir);
    snprintf(opath, sizeof opath, "%s/ort.txt", dir);
    FILE *f = fopen(mpath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(onnx, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    float chw[N * H * W * C];
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int k = 0; k < C; k++)
                    chw[((n * C + k) * H + i) * W + j] = x[((n * H + i) * W + j) * C + k];
    f = fopen(ipath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(chw, sizeof *chw, N * H * W * C, f), (size_t)N * H * W * C);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd,
             "CATDOG_SOURCE_DIR='%s' node '%s/tests/onnx/ort_run.js' '%s' '%s' %d %d %d %d > '%s'",
             CATDOG_SOURCE_DIR, CATDOG_SOURCE_DIR, mpath, ipath, N, C, H, W, opath);
    int rc = system(cmd);
    unlink(ipath);
    unlink(mpath);
    if (rc != 0 && WIFEXITED(rc) && (WEXITSTATUS(rc) == 77 || WEXITSTATUS(rc) == 127)) {
        unlink(opath);
        return 77;
    }
    assert_int_equal(rc, 0);
    f = fopen(opath, "r");
    assert_non_null(f);
    for (int n = 0; n < N; n++)
        assert_int_equal(fscanf(f, "%f", &y[n]), 1);
    fclose(f);
    unlink(opath);
    return 0;
}

static int ort_missing;

static void check_act(const char *dir, layer_act act, layer_act_params ap)
{
    model *m = act_model(act, ap);
    cd_err err;
    onnx_save_opts so = {.opset = 20};
    size_t len = 0;
    unsigned char *buf = onnx_save_memory(m, &so, &len, &err);
    if (!buf)
        fail_msg("%s: %s", layer_act_name(act), err.msg);
    model *back = onnx_load_memory(buf, len, "acts.onnx", NULL, &err);
    if (!back)
        fail_msg("%s: %s", layer_act_name(act), err.msg);
    /* both activations come back with their parameters, fused or not */
    int seen = 0;
    for (int i = 0; i < back->n_layers; i++) {
        const layer *l = &back->layers[i];
        if (l->act != act || l->kind == LAYER_DENSE)
            continue;
        seen++;
        if (act == ACT_LEAKY_RELU || act == ACT_ELU || act == ACT_RELU_X)
            assert_true(fabsf(l->act_p.alpha - (seen == 1 ? ap.alpha
                                                           : layer_act_defaults(act).alpha)) <
                        1e-7f);
        if (act == ACT_RELU_X)
            assert_true(l->act_p.max_value == ap.max_value);
    }
    if (seen != 2)
        fail_msg("%s: %d layers with it after the round trip", layer_act_name(act), seen);
    float x[N * H * W * C], y1[N], y2[N], y3[N];
    unsigned s = 5;
    for (int i = 0; i < N * H * W * C; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    forward(m, x, y1);
    forward(back, x, y2);
    for (int n = 0; n < N; n++)
        if (!(fabsf(y1[n] - y2[n]) <= 1e-6f))
            fail_msg("%s: catdog %.8g, after the round trip %.8g", layer_act_name(act),
                     (double)y1[n], (double)y2[n]);
    {
        int rc = run_ort(dir, buf, len, x, y3);
        if (rc == 77)
            ort_missing = 1;
        else
            for (int n = 0; n < N; n++)
                if (!(fabsf(y1[n] - y3[n]) <= 1e-5f))
                    fail_msg("%s: catdog %.8g, ONNX Runtime %.8g", layer_act_name(act),
                             (double)y1[n], (double)y3[n]);
    }
    free(buf);
    model_free(back);
    model_free(m);
}

static void test_round_trip_and_onnx_runtime(void **state)
{
    (void)state;
    char dir[] = "/tmp/catdog-onnx-act-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (int a = ACT_RELU; a < ACT_COUNT; a++) {
        if (a == ACT_SOFTMAX || a == ACT_RELU_X)
            continue;
        check_act(dir, (layer_act)a, layer_act_defaults((layer_act)a));
    }
    check_act(dir, ACT_LEAKY_RELU, (layer_act_params){0.05f, -1.0f, 0.0f});
    check_act(dir, ACT_ELU, (layer_act_params){0.7f, -1.0f, 0.0f});
    check_act(dir, ACT_RELU_X, (layer_act_params){0.0f, 1.5f, 0.0f}); /* Clip(0, 1.5) */
    rmdir(dir);
    if (ort_missing)
        fprintf(stderr, "note: ONNX Runtime not run (node or onnxruntime-node missing)\n");
}

/* conv -> PReLU (shared over H, W) -> PReLU (not shared) -> GAP -> dense ->
 * PReLU (vector) -> dense(1, sigmoid), random alphas: PRelu export and import */
static void test_prelu_round_trip_and_onnx_runtime(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("prelu", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "input", -1);
    in.in_h = H;
    in.in_w = W;
    in.in_c = C;
    int x = model_add(m, &in, &err);
    layer c1 = layer_template(LAYER_CONV2D, "conv1", x);
    c1.filters = 4;
    c1.kernel[0] = c1.kernel[1] = 3;
    c1.padding = PAD_SAME;
    x = model_add(m, &c1, &err);
    const int shared[3] = {1 | 2, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (k == 2) {
            layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", x);
            x = model_add(m, &g, &err);
            layer d = layer_template(LAYER_DENSE, "hidden", x);
            d.units = 5;
            x = model_add(m, &d, &err);
        }
        char name[16];
        snprintf(name, sizeof name, "prelu%d", k);
        layer p = layer_template(LAYER_PRELU, name, x);
        p.shared_axes = shared[k];
        x = model_add(m, &p, &err);
    }
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    layer_set_act(&d, ACT_SIGMOID);
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, 4);
    unsigned s = 9;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_PRELU)
            for (size_t k = 0; k < m->layers[i].params[0]->size; k++) {
                s = s * 1664525u + 1013904223u;
                m->layers[i].params[0]->data[k] = (float)(s >> 8) / 8388608.0f - 1.0f;
            }
    onnx_save_opts so = {.opset = 17};
    size_t len = 0;
    unsigned char *buf = onnx_save_memory(m, &so, &len, &err);
    if (!buf)
        fail_msg("%s", err.msg);
    model *back = onnx_load_memory(buf, len, "prelu.onnx", NULL, &err);
    if (!back)
        fail_msg("%s", err.msg);
    int seen = 0;
    for (int i = 0; i < back->n_layers; i++) {
        const layer *l = &back->layers[i];
        if (l->kind != LAYER_PRELU)
            continue;
        const layer *o = &m->layers[model_find(m, "prelu0") + (seen == 2 ? 4 : seen)];
        assert_int_equal(l->shared_axes, o->shared_axes);
        assert_true(tensor_same_shape(l->params[0], o->params[0]));
        assert_memory_equal(l->params[0]->data, o->params[0]->data,
                            o->params[0]->size * sizeof(float));
        seen++;
    }
    assert_int_equal(seen, 3);
    float xin[N * H * W * C], y1[N], y2[N], y3[N];
    for (int i = 0; i < N * H * W * C; i++) {
        s = s * 1664525u + 1013904223u;
        xin[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    forward(m, xin, y1);
    forward(back, xin, y2);
    for (int n = 0; n < N; n++)
        assert_true(fabsf(y1[n] - y2[n]) <= 1e-6f);
    char dir[] = "/tmp/catdog-onnx-prelu-XXXXXX";
    assert_non_null(mkdtemp(dir));
    if (run_ort(dir, buf, len, xin, y3) == 0) {
        for (int n = 0; n < N; n++)
            if (!(fabsf(y1[n] - y3[n]) <= 1e-5f))
                fail_msg("PReLU: catdog %.8g, ONNX Runtime %.8g", (double)y1[n], (double)y3[n]);
    } else {
        fprintf(stderr, "note: ONNX Runtime not run (node or onnxruntime-node missing)\n");
    }
    rmdir(dir);
    free(buf);
    model_free(back);
    model_free(m);
}

/* PyTorch's own export (tests/onnx/make_torch_acts.py) of its activations
 * reads in catdog and gives PyTorch's output. */
static void test_pytorch_export_matches_pytorch(void **state)
{
    (void)state;
    char dir[] = "/tmp/catdog-onnx-torch-XXXXXX", cmd[600], path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/onnx/make_torch_acts.py' '%s' 2>&1",
             CATDOG_SOURCE_DIR, dir);
    if (system(cmd) != 0)
        fail_msg("tests/onnx/make_torch_acts.py failed (needs python3-torch, python3-onnx)");
    snprintf(path, sizeof path, "%s/acts.onnx", dir);
    cd_err err;
    model *m = onnx_load(path, NULL, &err);
    if (!m)
        fail_msg("%s", err.msg);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/in.f32", dir);
    float *chw = (float *)test_read_file(path, &len);
    assert_non_null(chw);
    assert_int_equal(len, sizeof(float) * 2 * 3 * 7 * 6);
    float hwc[2 * 7 * 6 * 3], y[2];
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 6; j++)
                    hwc[((n * 7 + i) * 6 + j) * 3 + k] = chw[((n * 3 + k) * 7 + i) * 6 + j];
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 1};
    runner *r = runner_new(m, 2, &o, &err);
    if (!r || runner_forward(r, hwc, 2, y, &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/out.f32", dir);
    float *want = (float *)test_read_file(path, &len);
    assert_non_null(want);
    for (int n = 0; n < 2; n++) {
        fprintf(stderr, "PyTorch %.8g, catdog %.8g\n", (double)want[n], (double)y[n]);
        assert_true(fabsf(want[n] - y[n]) <= 1e-5f);
    }
    assert_true(fabsf(want[0] - want[1]) > 1e-3f); /* the inputs reach the output */
    runner_free(r);
    model_free(m);
    free(chw);
    free(want);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_refusals_give_reasons_and_chains_export(void **state)
{
    (void)state;
    layer_act act;
    layer_act_params ap;
    char why[200];
    assert_int_equal(onnx_act_clip(1, -1.0f, 1, 1.0f, &act, &ap, why, sizeof why), -1);
    assert_non_null(strstr(why, "lower bound of 0"));
    assert_int_equal(onnx_act_clip(1, 0.0f, 1, 6.0f, &act, &ap, why, sizeof why), 0);
    assert_int_equal(act, ACT_RELU6);
    onnx_act_attrs hs = {.has_alpha = 1, .alpha = 0.3f};
    assert_int_equal(onnx_act_import("HardSigmoid", &hs, &act, &ap, why, sizeof why), -1);
    assert_non_null(strstr(why, "HardSigmoid"));
    onnx_act_attrs torch_hs = {.has_alpha = 1, .alpha = 1.0f / 6.0f};
    assert_int_equal(onnx_act_import("HardSigmoid", &torch_hs, &act, &ap, why, sizeof why), 1);
    assert_int_equal(act, ACT_HARD_SIGMOID6);
    onnx_act_attrs none = {0};
    assert_int_equal(onnx_act_import("Mish", &none, &act, &ap, why, sizeof why), 0);

    /* What has no single ONNX op at an opset is written as a chain
     * (test_onnx_export_kinds runs those in ONNX Runtime): no refusal. */
    cd_err err;
    onnx_save_opts so = {.opset = 13};
    size_t len;
    model *m = act_model(ACT_HARD_SWISH, layer_act_defaults(ACT_HARD_SWISH));
    unsigned char *buf = onnx_save_memory(m, &so, &len, &err);
    assert_non_null(buf);
    free(buf);
    model_free(m);
    m = act_model(ACT_RELU_X, (layer_act_params){0.1f, -1.0f, 0.5f});
    so.opset = 20;
    buf = onnx_save_memory(m, &so, &len, &err);
    assert_non_null(buf);
    free(buf);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_onnx_runtime),
        cmocka_unit_test(test_prelu_round_trip_and_onnx_runtime),
        cmocka_unit_test(test_pytorch_export_matches_pytorch),
        cmocka_unit_test(test_refusals_give_reasons_and_chains_export),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
