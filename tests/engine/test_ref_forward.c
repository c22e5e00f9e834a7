/* tests/engine/test_ref_forward.c - the reference backend's forward pass on small
 * hand-computed cases (padding same/valid, odd sizes, strides, pools 3/2),
 * random shapes against an independent padded-input formula, and the runner's
 * contract (batches, activations, logits, dropout, errors). */
#include "test_util.h"

#include <math.h>

#include "engine/model.h"
#include "engine/runner.h"

/* Input h x w x c followed by the layer `l` (its single input is the input). */
static model *one_layer(int h, int w, int c, layer l)
{
    cd_err err;
    model *m = model_new("t", NULL);
    layer in = layer_template(LAYER_INPUT, "input_1", -1);
    in.in_h = h;
    in.in_w = w;
    in.in_c = c;
    assert_int_equal(model_add(m, &in, NULL), 0);
    l.inputs[0] = 0;
    l.n_inputs = 1;
    assert_int_equal(model_add(m, &l, NULL), 1);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    return m;
}

static runner *ref_runner(const model *m, int batch, int training)
{
    cd_err err;
    runner_opts o = {.backend = RUNNER_REF, .training = training, .seed = 7};
    runner *r = runner_new(m, batch, &o, &err);
    if (!r)
        fail_msg("%s", err.msg);
    return r;
}

static void run(const model *m, const float *x, int n, float *y)
{
    cd_err err;
    runner *r = ref_runner(m, n, 0);
    if (runner_forward(r, x, n, y, &err) != 0)
        fail_msg("%s", err.msg);
    runner_free(r);
}

static void assert_close(const float *got, const float *want, size_t n, float tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i]))))
            fail_msg("element %zu: got %.7g, want %.7g", i, (double)got[i], (double)want[i]);
}

static void iota(float *x, size_t n, float start)
{
    for (size_t i = 0; i < n; i++)
        x[i] = start + (float)i;
}

static layer conv(int filters, int kh, int kw, int s, layer_pad pad)
{
    layer l = layer_template(LAYER_CONV2D, "conv", -1);
    l.filters = filters;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    return l;
}

static layer pool(layer_kind kind, int p, int s, layer_pad pad)
{
    layer l = layer_template(kind, "pool", -1);
    l.pool[0] = l.pool[1] = p;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    return l;
}

static void fill(tensor *t, float v)
{
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = v;
}

static void test_conv_valid_and_same_stride1_hand_computed(void **state)
{
    (void)state;
    float x[9], y[9];
    iota(x, 9, 1.0f); /* 1 2 3 / 4 5 6 / 7 8 9 */
    model *m = one_layer(3, 3, 1, conv(1, 2, 2, 1, PAD_VALID));
    fill(m->layers[1].params[0], 1.0f);
    run(m, x, 1, y);
    const float valid[4] = {12, 16, 24, 28};
    assert_close(y, valid, 4, 0);
    model_free(m);

    /* SAME with an even kernel: total pad 1, all of it on the end (bottom/right) */
    m = one_layer(3, 3, 1, conv(1, 2, 2, 1, PAD_SAME));
    fill(m->layers[1].params[0], 1.0f);
    m->layers[1].params[1]->data[0] = 0.5f;
    run(m, x, 1, y);
    const float same[9] = {12.5, 16.5, 9.5, 24.5, 28.5, 15.5, 15.5, 17.5, 9.5};
    assert_close(y, same, 9, 0);
    model_free(m);
}

static void test_conv_same_stride2_pads_bottom_right(void **state)
{
    (void)state;
    float x[16], y[4];
    iota(x, 16, 1.0f);
    /* 4x4, k3 s2 SAME: out 2x2, total pad 1 -> 0 before, 1 after */
    model *m = one_layer(4, 4, 1, conv(1, 3, 3, 2, PAD_SAME));
    fill(m->layers[1].params[0], 1.0f);
    run(m, x, 1, y);
    const float want[4] = {54, 45, 72, 54};
    assert_close(y, want, 4, 0);
    model_free(m);

    /* 5x5, k3 s2 SAME: out 3x3, total pad 2 -> 1 before, 1 after */
    float x5[25], y5[9];
    iota(x5, 25, 1.0f);
    m = one_layer(5, 5, 1, conv(1, 3, 3, 2, PAD_SAME));
    fill(m->layers[1].params[0], 1.0f);
    run(m, x5, 1, y5);
    /* centre output (1,1) sees rows 1..3, cols 1..3 */
    assert_true(y5[4] == 7 + 8 + 9 + 12 + 13 + 14 + 17 + 18 + 19);
    /* corner (0,0) sees rows 0..1, cols 0..1 */
    assert_true(y5[0] == 1 + 2 + 6 + 7);
    model_free(m);
}

static void test_conv_channels_bias_and_fused_relu(void **state)
{
    (void)state;
    /* 1x1 map, 2 input channels, 3 filters: y = relu(x K + b) */
    float x[2] = {1.0f, -2.0f}, y[3];
    model *m = one_layer(1, 1, 2, conv(3, 1, 1, 1, PAD_VALID));
    m->layers[1].act = ACT_RELU;
    const float k[6] = {1, 2, 3, 4, 5, 6}; /* HWIO: [ci][co] */
    memcpy(m->layers[1].params[0]->data, k, sizeof k);
    const float b[3] = {1, 0, 20};
    memcpy(m->layers[1].params[1]->data, b, sizeof b);
    run(m, x, 1, y);
    /* z = [1-8+1, 2-10+0, 3-12+20] = [-6, -8, 11] */
    const float want[3] = {0, 0, 11};
    assert_close(y, want, 3, 0);
    model_free(m);
}

static void test_maxpool_ignores_padding_and_pool3_stride2(void **state)
{
    (void)state;
    float x[25], y[9];
    for (int i = 0; i < 25; i++)
        x[i] = -100.0f + (float)i; /* all negative: padding zeros would win if used */
    model *m = one_layer(5, 5, 1, pool(LAYER_MAXPOOL2D, 2, 2, PAD_SAME));
    run(m, x, 1, y);
    const float want[9] = {-94, -92, -91, -84, -82, -81, -79, -77, -76};
    assert_close(y, want, 9, 0);
    model_free(m);

    m = one_layer(5, 5, 1, pool(LAYER_MAXPOOL2D, 3, 2, PAD_VALID));
    run(m, x, 1, y);
    const float want3[4] = {-88, -86, -78, -76};
    assert_close(y, want3, 4, 0);
    model_free(m);
}

static void test_avgpool_excludes_padding_from_the_average(void **state)
{
    (void)state;
    float x[9], y[4];
    iota(x, 9, 1.0f);
    model *m = one_layer(3, 3, 1, pool(LAYER_AVGPOOL2D, 2, 2, PAD_SAME));
    run(m, x, 1, y);
    const float want[4] = {3.0f, 4.5f, 7.5f, 9.0f};
    assert_close(y, want, 4, 1e-6f);
    model_free(m);

    /* 2 channels, VALID 2x2 stride 1 */
    float x2[18], y2[8];
    iota(x2, 18, 0.0f); /* channel c of pixel p is 2p + c */
    m = one_layer(3, 3, 2, pool(LAYER_AVGPOOL2D, 2, 1, PAD_VALID));
    run(m, x2, 1, y2);
    const float want2[8] = {4, 5, 6, 7, 10, 11, 12, 13};
    assert_close(y2, want2, 8, 1e-6f);
    model_free(m);
}

static void test_global_pools_flatten_dense(void **state)
{
    (void)state;
    float x[12], y[12];
    iota(x, 12, 1.0f); /* 2x2 map, 3 channels: channel c = {1+c, 4+c, 7+c, 10+c} */
    model *m = one_layer(2, 2, 3, layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", -1));
    run(m, x, 1, y);
    const float avg[3] = {5.5f, 6.5f, 7.5f};
    assert_close(y, avg, 3, 1e-6f);
    model_free(m);

    m = one_layer(2, 2, 3, layer_template(LAYER_GLOBAL_MAXPOOL2D, "gmp", -1));
    run(m, x, 1, y);
    const float mx[3] = {10, 11, 12};
    assert_close(y, mx, 3, 0);
    model_free(m);

    /* Flatten keeps NHWC order: (h, w, c) with c fastest, as Keras channels_last */
    m = one_layer(2, 2, 3, layer_template(LAYER_FLATTEN, "flatten", -1));
    run(m, x, 1, y);
    assert_close(y, x, 12, 0);
    assert_int_equal(model_output_size(m), 12);
    model_free(m);

    /* Dense: [1, 2] x [[1, 2, 3], [4, 5, 6]] + 0.5 */
    layer d = layer_template(LAYER_DENSE, "dense", -1);
    d.units = 3;
    model *f = model_new("t", NULL);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = in.in_w = 1;
    in.in_c = 2;
    model_add(f, &in, NULL);
    layer fl = layer_template(LAYER_FLATTEN, "flat", 0);
    model_add(f, &fl, NULL);
    d.inputs[0] = 1;
    d.n_inputs = 1;
    model_add(f, &d, NULL);
    assert_int_equal(model_infer_shapes(f, NULL), 0);
    const float k[6] = {1, 2, 3, 4, 5, 6};
    memcpy(f->layers[2].params[0]->data, k, sizeof k);
    fill(f->layers[2].params[1], 0.5f);
    const float xd[4] = {1, 2, -1, 0};
    run(f, xd, 2, y);
    const float want[6] = {9.5f, 12.5f, 15.5f, -0.5f, -1.5f, -2.5f};
    assert_close(y, want, 6, 0);
    model_free(f);
}

static void test_activations_and_softmax_over_channels(void **state)
{
    (void)state;
    const float x[6] = {-1.0f, 0.0f, 2.0f, 1.0f, 2.0f, 3.0f};
    float y[6];
    layer a = layer_template(LAYER_ACTIVATION, "act", -1);
    a.act = ACT_RELU;
    model *m = one_layer(1, 2, 3, a);
    run(m, x, 1, y);
    const float relu[6] = {0, 0, 2, 1, 2, 3};
    assert_close(y, relu, 6, 0);
    m->layers[1].act = ACT_SIGMOID;
    run(m, x, 1, y);
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(y[i] - 1.0f / (1.0f + expf(-x[i]))) < 1e-6f);
    m->layers[1].act = ACT_TANH;
    run(m, x, 1, y);
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(y[i] - tanhf(x[i])) < 1e-6f);
    m->layers[1].act = ACT_LINEAR;
    run(m, x, 1, y);
    assert_close(y, x, 6, 0);
    m->layers[1].act = ACT_SOFTMAX; /* over the 3 channels of each of the 2 pixels */
    run(m, x, 1, y);
    double s0 = exp(-1.0) + exp(0.0) + exp(2.0);
    assert_true(fabs(y[0] - exp(-1.0) / s0) < 1e-6);
    assert_true(fabs(y[2] - exp(2.0) / s0) < 1e-6);
    double s1 = exp(1.0) + exp(2.0) + exp(3.0);
    assert_true(fabs(y[3] - exp(1.0) / s1) < 1e-6);
    assert_true(fabs(y[5] - exp(3.0) / s1) < 1e-6);
    model_free(m);

    /* sigmoid and softmax stay finite for huge inputs */
    const float big[2] = {1000.0f, -1000.0f};
    a.act = ACT_SOFTMAX;
    m = one_layer(1, 1, 2, a);
    run(m, big, 1, y);
    assert_true(y[0] == 1.0f && y[1] == 0.0f);
    m->layers[1].act = ACT_SIGMOID;
    run(m, big, 1, y);
    assert_true(y[0] == 1.0f && y[1] == 0.0f);
    model_free(m);
}

/* Independent Conv2D: explicit zero-padded copy of the input, then the textbook
 * sum, in double. */
static void naive_conv(const float *x, int n, int h, int w, int c, const float *k, const float *b,
                       int kh, int kw, int s, layer_pad pad, int f, int oh, int ow, float *y)
{
    int pt = 0, pl = 0;
    if (pad == PAD_SAME) {
        int th = (oh - 1) * s + kh - h, tw = (ow - 1) * s + kw - w;
        pt = th > 0 ? th / 2 : 0;
        pl = tw > 0 ? tw / 2 : 0;
    }
    int ph = h + kh + s, pw = w + kw + s; /* big enough for any tail padding */
    double *p = calloc((size_t)n * ph * pw * c, sizeof *p);
    assert_non_null(p);
    for (int b0 = 0; b0 < n; b0++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                for (int ch = 0; ch < c; ch++)
                    p[(((size_t)b0 * ph + i + pt) * pw + j + pl) * c + ch] =
                        x[(((size_t)b0 * h + i) * w + j) * c + ch];
    for (int b0 = 0; b0 < n; b0++)
        for (int co = 0; co < f; co++)
            for (int oi = 0; oi < oh; oi++)
                for (int oj = 0; oj < ow; oj++) {
                    double acc = b[co];
                    for (int a = 0; a < kh; a++)
                        for (int bb = 0; bb < kw; bb++)
                            for (int ch = 0; ch < c; ch++)
                                acc += p[(((size_t)b0 * ph + oi * s + a) * pw + oj * s + bb) * c + ch] *
                                       k[((a * kw + bb) * c + ch) * f + co];
                    y[(((size_t)b0 * oh + oi) * ow + oj) * f + co] = (float)acc;
                }
    free(p);
}

static unsigned rnd_state = 12345;
static float frand(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (float)((rnd_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}
static int irand(int lo, int hi)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return lo + (int)((rnd_state >> 8) % (unsigned)(hi - lo + 1));
}

static void test_conv_random_shapes_match_padded_formula(void **state)
{
    (void)state;
    for (int trial = 0; trial < 40; trial++) {
        int h = irand(1, 11), w = irand(1, 11), c = irand(1, 5), f = irand(1, 6);
        int kh = irand(1, 4), kw = irand(1, 4), s = irand(1, 3), n = irand(1, 3);
        layer_pad pad = irand(0, 1) ? PAD_SAME : PAD_VALID;
        if (pad == PAD_VALID && (h < kh || w < kw))
            continue;
        model *m = one_layer(h, w, c, conv(f, kh, kw, s, pad));
        tensor *k = m->layers[1].params[0], *b = m->layers[1].params[1];
        for (size_t i = 0; i < k->size; i++)
            k->data[i] = frand();
        for (size_t i = 0; i < b->size; i++)
            b->data[i] = frand();
        size_t insz = (size_t)n * h * w * c, outsz = (size_t)n * model_output_size(m);
        float *x = malloc(insz * sizeof *x), *y = malloc(outsz * sizeof *y), *want = malloc(outsz * sizeof *want);
        for (size_t i = 0; i < insz; i++)
            x[i] = frand();
        run(m, x, n, y);
        naive_conv(x, n, h, w, c, k->data, b->data, kh, kw, s, pad, f, m->layers[1].out_h,
                   m->layers[1].out_w, want);
        assert_close(y, want, outsz, 1e-5f);
        free(x);
        free(y);
        free(want);
        model_free(m);
    }
}

/* Independent pooling: enumerate each window of the padded grid and keep the
 * cells that fall inside the input. */
static void naive_pool(const float *x, int n, int h, int w, int c, int p, int s, layer_pad pad,
                       int is_max, int oh, int ow, float *y)
{
    int pt = 0, pl = 0;
    if (pad == PAD_SAME) {
        int th = (oh - 1) * s + p - h, tw = (ow - 1) * s + p - w;
        pt = th > 0 ? th / 2 : 0;
        pl = tw > 0 ? tw / 2 : 0;
    }
    for (int b0 = 0; b0 < n; b0++)
        for (int oi = 0; oi < oh; oi++)
            for (int oj = 0; oj < ow; oj++)
                for (int ch = 0; ch < c; ch++) {
                    double acc = is_max ? -INFINITY : 0.0;
                    int cnt = 0;
                    for (int a = 0; a < p; a++)
                        for (int bb = 0; bb < p; bb++) {
                            int i = oi * s - pt + a, j = oj * s - pl + bb;
                            if (i < 0 || j < 0 || i >= h || j >= w)
                                continue;
                            double v = x[(((size_t)b0 * h + i) * w + j) * c + ch];
                            acc = is_max ? fmax(acc, v) : acc + v;
                            cnt++;
                        }
                    assert_true(cnt > 0);
                    y[(((size_t)b0 * oh + oi) * ow + oj) * c + ch] = (float)(is_max ? acc : acc / cnt);
                }
}

static void test_pools_random_shapes_match_window_formula(void **state)
{
    (void)state;
    for (int trial = 0; trial < 60; trial++) {
        int h = irand(1, 10), w = irand(1, 10), c = irand(1, 4), p = irand(1, 3);
        int s = irand(1, 3), n = irand(1, 2), is_max = trial % 2;
        layer_pad pad = irand(0, 1) ? PAD_SAME : PAD_VALID;
        if (pad == PAD_VALID && (h < p || w < p))
            continue;
        model *m = one_layer(h, w, c, pool(is_max ? LAYER_MAXPOOL2D : LAYER_AVGPOOL2D, p, s, pad));
        size_t insz = (size_t)n * h * w * c, outsz = (size_t)n * model_output_size(m);
        float *x = malloc(insz * sizeof *x), *y = malloc(outsz * sizeof *y), *want = malloc(outsz * sizeof *want);
        for (size_t i = 0; i < insz; i++)
            x[i] = frand() - 2.0f; /* negative, so a padded zero would show */
        run(m, x, n, y);
        naive_pool(x, n, h, w, c, p, s, pad, is_max, m->layers[1].out_h, m->layers[1].out_w, want);
        assert_close(y, want, outsz, 1e-6f);
        free(x);
        free(y);
        free(want);
        model_free(m);
    }
}

static void test_runner_keeps_activations_and_batches(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("chain", NULL);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = in.in_w = 4;
    in.in_c = 1;
    model_add(m, &in, NULL);
    layer c = conv(2, 3, 3, 1, PAD_SAME);
    c.inputs[0] = 0;
    c.n_inputs = 1;
    c.act = ACT_RELU;
    model_add(m, &c, NULL);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", 1);
    model_add(m, &g, NULL);
    layer d = layer_template(LAYER_DENSE, "out", 2);
    d.units = 1;
    d.act = ACT_SIGMOID;
    model_add(m, &d, NULL);
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    model_init_params(m, 3);
    float x[32], y[2], y1[1];
    for (int i = 0; i < 32; i++)
        x[i] = frand();
    runner *r = ref_runner(m, 2, 0);
    assert_int_equal(runner_forward(r, x, 2, y, &err), 0);
    /* batch elements are independent */
    assert_int_equal(runner_forward(r, x + 16, 1, y1, &err), 0);
    assert_true(y1[0] == y[1]);
    assert_int_equal(runner_forward(r, x, 2, y, &err), 0);
    const float *gap = runner_activation(r, 2);
    assert_non_null(gap);
    const float *kd = m->layers[3].params[0]->data;
    float z = gap[2] * kd[0] + gap[3] * kd[1];
    assert_true(fabsf(y[1] - 1.0f / (1.0f + expf(-z))) < 1e-6f);
    assert_memory_equal(runner_activation(r, 0), x, sizeof x);
    assert_null(runner_activation(r, 4));
    /* batch out of range */
    assert_int_equal(runner_forward(r, x, 3, y, &err), -1);
    assert_non_null(strstr(err.msg, "batch 3"));
    assert_int_equal(runner_forward(r, x, 0, y, &err), -1);
    /* backward without training mode */
    assert_int_equal(runner_backward(r, y, &err), -1);
    assert_null(runner_param_grad(r, 1, 0));
    runner_free(r);

    /* output_logits: the sigmoid is skipped */
    runner_opts o = {.backend = RUNNER_REF, .output_logits = 1};
    r = runner_new(m, 2, &o, &err);
    assert_non_null(r);
    float logits[2];
    assert_int_equal(runner_forward(r, x, 2, logits, &err), 0);
    for (int i = 0; i < 2; i++)
        assert_true(fabsf(y[i] - 1.0f / (1.0f + expf(-logits[i]))) < 1e-6f);
    runner_free(r);
    model_free(m);
}

static void test_runner_new_errors(void **state)
{
    (void)state;
    cd_err err;
    model *m = one_layer(4, 4, 1, layer_template(LAYER_FLATTEN, "f", -1));
    runner_opts o = {.backend = RUNNER_REF};
    assert_null(runner_new(m, 0, &o, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    m->layers[1].out_rank = 0; /* as if model_infer_shapes was never called */
    assert_null(runner_new(m, 1, &o, &err));
    assert_non_null(strstr(err.msg, "model_infer_shapes"));
    model_free(m);
}

static void test_dropout_identity_at_inference_and_seeded_in_training(void **state)
{
    (void)state;
    cd_err err;
    layer d = layer_template(LAYER_DROPOUT, "drop", -1);
    d.rate = 0.25f;
    model *m = one_layer(10, 10, 40, d);
    size_t sz = 4000;
    float *x = malloc(sz * sizeof *x), *y = malloc(sz * sizeof *y), *y2 = malloc(sz * sizeof *y2);
    for (size_t i = 0; i < sz; i++)
        x[i] = 1.0f + frand() * 0.5f;
    run(m, x, 1, y);
    assert_memory_equal(x, y, sz * sizeof *x);

    runner *r = ref_runner(m, 1, 1);
    assert_int_equal(runner_forward(r, x, 1, y, &err), 0);
    size_t zeros = 0;
    for (size_t i = 0; i < sz; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else
            assert_true(fabsf(y[i] - x[i] / 0.75f) < 1e-6f);
    }
    assert_true(zeros > 850 && zeros < 1150); /* 1000 expected, sd ~27 */
    /* the next forward draws a new mask */
    assert_int_equal(runner_forward(r, x, 1, y2, &err), 0);
    assert_true(memcmp(y, y2, sz * sizeof *y) != 0);
    runner_free(r);
    /* the same seed gives the same masks */
    r = ref_runner(m, 1, 1);
    assert_int_equal(runner_forward(r, x, 1, y2, &err), 0);
    assert_memory_equal(y, y2, sz * sizeof *y);
    runner_free(r);
    free(x);
    free(y);
    free(y2);
    model_free(m);
}

static void test_dnnl_backend_reports_not_built(void **state)
{
    (void)state;
    cd_err err;
    cd_err_clear(&err);
    model *m = one_layer(4, 4, 1, layer_template(LAYER_FLATTEN, "f", -1));
    runner_opts o = {.backend = RUNNER_DNNL};
    runner *r = runner_new(m, 1, &o, &err);
    if (r) {
        /* once engine-dnnl lands, the backend exists and must agree with the reference */
        float x[16], y[16];
        iota(x, 16, 0.0f);
        assert_int_equal(runner_forward(r, x, 1, y, &err), 0);
        assert_close(y, x, 16, 0);
        runner_free(r);
    } else {
        assert_non_null(strstr(err.msg, "oneDNN backend"));
    }
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_valid_and_same_stride1_hand_computed),
        cmocka_unit_test(test_conv_same_stride2_pads_bottom_right),
        cmocka_unit_test(test_conv_channels_bias_and_fused_relu),
        cmocka_unit_test(test_maxpool_ignores_padding_and_pool3_stride2),
        cmocka_unit_test(test_avgpool_excludes_padding_from_the_average),
        cmocka_unit_test(test_global_pools_flatten_dense),
        cmocka_unit_test(test_activations_and_softmax_over_channels),
        cmocka_unit_test(test_conv_random_shapes_match_padded_formula),
        cmocka_unit_test(test_pools_random_shapes_match_window_formula),
        cmocka_unit_test(test_runner_keeps_activations_and_batches),
        cmocka_unit_test(test_runner_new_errors),
        cmocka_unit_test(test_dropout_identity_at_inference_and_seeded_in_training),
        cmocka_unit_test(test_dnnl_backend_reports_not_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
