/* tests/engine/test_dnnl_backward.c - the oneDNN backend's training forward and
 * backward against the plain-C reference: parameter gradients of every layer
 * kind (convolutions with valid/same padding, odd sizes and strides, max/avg and
 * global pooling, dense, every activation fused or standalone, softmax, dropout
 * with the same seeded masks, channel and vector concatenation, a layer feeding
 * two others), frozen layers, output logits, batches smaller than the maximum,
 * refreshed weights after a parameter change; plus a finite-difference check of
 * the oneDNN gradients that does not rely on the reference. */
#include "test_dnnl_common.h"

#define TD_GRAD_TOL 1e-4f

static void td_backward(runner *r, const float *dy)
{
    cd_err err;
    if (runner_backward(r, dy, &err) != 0)
        fail_msg("runner_backward: %s", err.msg);
}

static void compare_grads(const model *m, const runner *rd, const runner *rr)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
            const tensor *a = runner_param_grad(rd, i, k), *b = runner_param_grad(rr, i, k);
            char what[160];
            snprintf(what, sizeof what, "gradient %d of '%s'", k, m->layers[i].name);
            if (!b) {
                if (a)
                    fail_msg("%s: oneDNN has one, the reference none", what);
                continue;
            }
            if (!a)
                fail_msg("%s: missing in oneDNN", what);
            assert_true(tensor_same_shape(a, b));
            td_assert_close(what, a->data, b->data, a->size, TD_GRAD_TOL);
        }
}

/* Trains-style round trip through both backends: forward n samples (training
 * mode, the same dropout seed), compare outputs and activations, back-propagate
 * the same random d_output and compare every parameter gradient.  Then scales
 * the parameters, signals the change and does it again. */
static void compare_training(model *m, int max_batch, int n, int threads, int logits, uint64_t seed)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *dy = malloc(out_sz * sizeof *dy);
    float *y1 = malloc(out_sz * sizeof *y1), *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(dy);
    assert_non_null(y1);
    assert_non_null(y2);
    runner *rd = td_runner(m, RUNNER_DNNL, max_batch, 1, threads, logits);
    runner *rr = td_runner(m, RUNNER_REF, max_batch, 1, 1, logits);
    for (int round = 0; round < 2; round++) {
        td_fill(x, in_sz, -1.0f, 1.0f, seed + (uint64_t)round);
        td_fill(dy, out_sz, -1.0f, 1.0f, seed + 77u + (uint64_t)round);
        td_forward(rd, x, n, y1);
        td_forward(rr, x, n, y2);
        td_assert_close("training output", y1, y2, out_sz, TD_TOL);
        for (int i = 0; i <= model_output_index(m); i++) {
            const float *a = runner_activation(rd, i), *b = runner_activation(rr, i);
            if (!a || !b)
                continue;
            char what[160];
            snprintf(what, sizeof what, "training activation of '%s'", m->layers[i].name);
            td_assert_close(what, a, b, layer_out_size(&m->layers[i]) * (size_t)n, TD_TOL);
        }
        td_backward(rd, dy);
        td_backward(rr, dy);
        compare_grads(m, rd, rr);
        for (int i = 0; i < m->n_layers; i++)
            for (int k = 0; k < m->layers[i].n_params; k++)
                for (size_t j = 0; j < m->layers[i].params[k]->size; j++)
                    m->layers[i].params[k]->data[j] *= (j % 3 == 0) ? 1.25f : 0.9f;
        runner_params_changed(rd);
        runner_params_changed(rr);
    }
    runner_free(rd);
    runner_free(rr);
    free(x);
    free(dy);
    free(y1);
    free(y2);
}

static model *binary_like(int size, float dropout)
{
    model *m = td_model(size, size, 3);
    int x = 0, f[3] = {32, 32, 64};
    for (int k = 0; k < 3; k++) {
        x = td_conv(m, x, f[k], 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1);
        x = td_pool(m, x, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
    }
    x = td_simple(m, x, LAYER_FLATTEN);
    x = td_dense(m, x, 64, ACT_RELU, 1);
    x = td_dropout(m, x, dropout);
    td_dense(m, x, 1, ACT_SIGMOID, 1);
    td_finish(m, 51);
    return m;
}

static void test_binary_cnn_gradients(void **state)
{
    (void)state;
    model *m = binary_like(30, 0.5f);
    compare_training(m, 4, 4, 0, 1, 1);    /* logits, as the trainer uses it */
    compare_training(m, 4, 4, 2, 0, 2);    /* through the sigmoid */
    compare_training(m, 6, 3, 1, 1, 3);    /* n < max_batch */
    compare_training(m, 1, 1, 1, 1, 4);    /* batch 1 */
    model_free(m);
}

static void test_conv_gradients_padding_strides(void **state)
{
    (void)state;
    static const struct {
        int h, w, c, f, kh, kw, sh, sw;
        layer_pad pad;
        layer_act act;
        int bias;
    } cases[] = {
        {7, 9, 3, 5, 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1},
        {7, 9, 3, 5, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1},
        {13, 11, 4, 16, 3, 3, 2, 2, PAD_SAME, ACT_RELU, 0},
        {13, 11, 4, 17, 5, 3, 2, 3, PAD_SAME, ACT_TANH, 1},
        {10, 10, 16, 32, 4, 4, 3, 3, PAD_SAME, ACT_SIGMOID, 1},
        {12, 8, 8, 24, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1},
        {9, 9, 32, 16, 2, 2, 2, 2, PAD_VALID, ACT_LINEAR, 1},
        {6, 5, 5, 7, 3, 3, 1, 1, PAD_SAME, ACT_SOFTMAX, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* a first convolution so the tested one also back-propagates data */
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        int c0 = td_conv(m, 0, cases[k].c, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int c = td_conv(m, c0, cases[k].f, cases[k].kh, cases[k].kw, cases[k].sh, cases[k].sw,
                        cases[k].pad, cases[k].act, cases[k].bias);
        int f = td_simple(m, c, LAYER_FLATTEN);
        td_dense(m, f, 3, ACT_LINEAR, 1);
        td_finish(m, 10 + k);
        compare_training(m, 2, 2, 1, 0, 100 + k);
        model_free(m);
    }
}

/* Grouped, depthwise and dilated convolutions train the same in both backends. */
static void test_grouped_dilated_conv_gradients(void **state)
{
    (void)state;
    static const struct {
        int h, w, c, f, kh, kw, sh, sw, g, dh, dw;
        layer_pad pad;
    } cases[] = {
        {9, 9, 8, 8, 3, 3, 1, 1, 8, 1, 1, PAD_SAME},
        {12, 10, 6, 12, 3, 3, 2, 2, 6, 1, 1, PAD_SAME},
        {11, 9, 8, 12, 3, 3, 1, 1, 4, 1, 1, PAD_VALID},
        {13, 13, 4, 6, 3, 3, 1, 1, 1, 2, 2, PAD_SAME},
        {14, 12, 6, 6, 3, 2, 2, 1, 3, 2, 3, PAD_VALID},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        int c0 = td_conv(m, 0, cases[k].c, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int c = td_conv(m, c0, cases[k].f, cases[k].kh, cases[k].kw, cases[k].sh, cases[k].sw,
                        cases[k].pad, ACT_RELU, 1);
        m->layers[c].groups = cases[k].g;
        m->layers[c].dilation[0] = cases[k].dh;
        m->layers[c].dilation[1] = cases[k].dw;
        int f = td_simple(m, c, LAYER_FLATTEN);
        td_dense(m, f, 3, ACT_LINEAR, 1);
        td_finish(m, 50 + k);
        compare_training(m, 2, 2, 1, 0, 500 + k);
        model_free(m);
    }
}

static void test_pool_gradients(void **state)
{
    (void)state;
    static const struct {
        int h, w, c;
        layer_kind kind;
        int ph, pw, sh, sw;
        layer_pad pad;
    } cases[] = {
        {8, 8, 16, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID},
        {9, 7, 5, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID},
        {9, 7, 5, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_SAME},
        {13, 13, 32, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID},
        {11, 10, 3, LAYER_MAXPOOL2D, 3, 2, 1, 2, PAD_SAME},
        {9, 7, 5, LAYER_AVGPOOL2D, 2, 2, 2, 2, PAD_SAME},
        {11, 10, 16, LAYER_AVGPOOL2D, 3, 3, 2, 2, PAD_SAME},
        {11, 10, 16, LAYER_AVGPOOL2D, 3, 3, 3, 3, PAD_VALID},
        {9, 7, 20, LAYER_GLOBAL_AVGPOOL2D, 0, 0, 0, 0, PAD_VALID},
        {9, 7, 20, LAYER_GLOBAL_MAXPOOL2D, 0, 0, 0, 0, PAD_VALID},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        int c = td_conv(m, 0, cases[k].c, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int p = td_pool(m, c, cases[k].kind, cases[k].ph, cases[k].pw, cases[k].sh, cases[k].sw,
                        cases[k].pad);
        if (m->layers[p].kind == LAYER_MAXPOOL2D || m->layers[p].kind == LAYER_AVGPOOL2D)
            p = td_simple(m, p, LAYER_FLATTEN);
        td_dense(m, p, 4, ACT_SOFTMAX, 1);
        td_finish(m, 20 + k);
        compare_training(m, 3, 3, 1, 0, 200 + k);   /* through the softmax */
        compare_training(m, 3, 2, 1, 1, 300 + k);   /* logits, n < max */
        model_free(m);
    }
}

/* Fire modules: the squeeze output feeds two convolutions, whose outputs are
 * concatenated (gradients summed into the squeeze, split out of the concat). */
static void test_fire_concat_gradients(void **state)
{
    (void)state;
    int sq[2] = {16, 5}, ex[2] = {32, 7};
    for (int k = 0; k < 2; k++) {
        model *m = td_model(11, 11, 8);
        int s = td_conv(m, 0, sq[k], 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
        int a = td_conv(m, s, ex[k], 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
        int b = td_conv(m, s, ex[k], 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int in[2] = {a, b};
        int c = td_concat(m, 2, in);
        int p = td_pool(m, c, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID);
        int s2 = td_conv(m, p, 8, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
        int g = td_simple(m, s2, LAYER_GLOBAL_AVGPOOL2D);
        td_dense(m, g, 1, ACT_SIGMOID, 1);
        td_finish(m, 60 + k);
        compare_training(m, 2, 2, 0, 1, 700 + k);
        model_free(m);
    }
}

/* Vectors concatenated from a global pool, a flattened map and a dense layer;
 * the convolution's output reaches the loss along three paths. */
static void test_vector_concat_gradients(void **state)
{
    (void)state;
    model *m = td_model(6, 5, 3);
    int c = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int g = td_simple(m, c, LAYER_GLOBAL_AVGPOOL2D);
    int p = td_pool(m, c, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
    int f = td_simple(m, p, LAYER_FLATTEN);
    int d = td_dense(m, f, 9, ACT_TANH, 1);
    int in[3] = {g, f, d};
    int cat = td_concat(m, 3, in);
    td_dense(m, cat, 3, ACT_LINEAR, 1);
    td_finish(m, 70);
    compare_training(m, 3, 3, 0, 0, 800);
    model_free(m);
}

static void test_activation_layer_gradients(void **state)
{
    (void)state;
    layer_act acts[5] = {ACT_LINEAR, ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTMAX};
    for (int k = 0; k < 5; k++) {
        model *m = td_model(5, 4, 3);
        int c = td_conv(m, 0, 6, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
        int a = td_act(m, c, acts[k]);
        int f = td_simple(m, a, LAYER_FLATTEN);
        int b = td_act(m, f, acts[k]);
        int d = td_dense(m, b, 5, ACT_LINEAR, 1);
        int dr = td_dropout(m, d, 0.3f);
        td_act(m, dr, acts[k]);
        td_finish(m, 80 + k);
        compare_training(m, 2, 2, 0, 0, 900 + k);
        compare_training(m, 2, 2, 0, 1, 950 + k);
        model_free(m);
    }
}

/* Frozen layers get no gradient; the layers around them still do. */
static void test_frozen_layers(void **state)
{
    (void)state;
    model *m = binary_like(30, 0.0f);
    m->layers[1].trainable = 0;             /* first convolution */
    m->layers[5].trainable = 0;             /* third convolution */
    compare_training(m, 2, 2, 1, 1, 1200);
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .training = 1, .output_logits = 1};
    runner *r = runner_new(m, 2, &o, &err);
    assert_non_null(r);
    assert_null(runner_param_grad(r, 1, 0));
    assert_null(runner_param_grad(r, 5, 1));
    assert_non_null(runner_param_grad(r, 3, 0));
    runner_free(r);
    /* everything frozen: backward is a no-op, not an error */
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].trainable = 0;
    compare_training(m, 2, 2, 1, 1, 1201);
    model_free(m);
}

/* Central differences of L = sum(y * dy) on a few parameters of every layer,
 * against the oneDNN gradient (float32: step 1e-2, loose tolerance). */
static void test_finite_differences(void **state)
{
    (void)state;
    model *m = td_model(7, 6, 2);
    int c = td_conv(m, 0, 4, 3, 3, 2, 1, PAD_SAME, ACT_TANH, 1);
    int p = td_pool(m, c, LAYER_AVGPOOL2D, 2, 2, 2, 2, PAD_SAME);
    int f = td_simple(m, p, LAYER_FLATTEN);
    td_dense(m, f, 2, ACT_SIGMOID, 1);
    td_finish(m, 3);
    const int n = 2;
    size_t in_sz = td_in_size(m) * n;
    float x[7 * 6 * 2 * 2], dy[4] = {0.7f, -1.1f, 0.4f, 0.9f}, y[4];
    td_fill(x, in_sz, -1.0f, 1.0f, 9);
    runner *r = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    td_forward(r, x, n, y);
    td_backward(r, dy);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++) {
            const tensor *g = runner_param_grad(r, i, k);
            tensor *w = m->layers[i].params[k];
            assert_non_null(g);
            for (size_t j = 0; j < w->size; j += 1 + w->size / 7) {
                float keep = w->data[j], lp = 0, lm = 0;
                const float h = 1e-2f;
                w->data[j] = keep + h;
                runner_params_changed(r);
                td_forward(r, x, n, y);
                for (int q = 0; q < 4; q++)
                    lp += y[q] * dy[q];
                w->data[j] = keep - h;
                runner_params_changed(r);
                td_forward(r, x, n, y);
                for (int q = 0; q < 4; q++)
                    lm += y[q] * dy[q];
                w->data[j] = keep;
                float fd = (lp - lm) / (2 * h);
                if (fabsf(fd - g->data[j]) > 2e-3f + 2e-2f * fabsf(fd))
                    fail_msg("layer '%s' param %d [%zu]: finite difference %g, oneDNN %g",
                             m->layers[i].name, k, j, (double)fd, (double)g->data[j]);
            }
        }
    runner_free(r);
    model_free(m);
}

/* With 2 threads a batch is split into slices run side by side (gradients
 * summed, dropout masks drawn where the whole batch would draw them); a batch
 * smaller than the thread count runs unsplit.  Alternating both on one runner
 * must track the reference step for step (same dropout stream). */
static void test_split_and_unsplit_batches(void **state)
{
    (void)state;
    model *m = binary_like(26, 0.5f);
    const int max = 5, sizes[5] = {5, 1, 3, 2, 5};
    size_t in1 = td_in_size(m);
    float *x = malloc(in1 * max * sizeof *x), y1[5], y2[5], dy[5];
    assert_non_null(x);
    runner *rd = td_runner(m, RUNNER_DNNL, max, 1, 2, 1);
    runner *rr = td_runner(m, RUNNER_REF, max, 1, 1, 1);
    for (int k = 0; k < 5; k++) {
        int n = sizes[k];
        td_fill(x, in1 * (size_t)n, 0.0f, 1.0f, 40u + (uint64_t)k);
        td_fill(dy, (size_t)n, -1.0f, 1.0f, 50u + (uint64_t)k);
        td_forward(rd, x, n, y1);
        td_forward(rr, x, n, y2);
        td_assert_close("output", y1, y2, (size_t)n, TD_TOL);
        const float *a = runner_activation(rd, 9), *b = runner_activation(rr, 9); /* dropout */
        assert_non_null(a);
        assert_non_null(b);
        td_assert_close("dropout activation", a, b, 64 * (size_t)n, TD_TOL);
        td_backward(rd, dy);
        td_backward(rr, dy);
        compare_grads(m, rd, rr);
    }
    runner_free(rd);
    runner_free(rr);
    free(x);
    model_free(m);
}

/* runner_set_grad_ready (what data parallelism overlaps its sums with):
 * during one backward every layer with a gradient is reported exactly once,
 * with its gradients already final (a copy taken in the hook equals the
 * gradient after the pass, bit for bit), the last layers first (strictly
 * decreasing unless the oneDNN backend split the batch over threads, which
 * reports after the pass); frozen layers are not reported; a hook's error
 * stops the pass.  Both backends, the binary CNN and fire modules (a layer
 * read by two others). */
typedef struct ready_log {
    const runner *r;
    int order[64], n;
    float *snap[64][LAYER_MAX_PARAMS];
    int fail_at;             /* layer whose report fails (-1: none) */
} ready_log;

static int on_ready(void *ctx, int layer, cd_err *err)
{
    ready_log *g = ctx;
    if (layer == g->fail_at)
        return cd_err_set(err, CD_ERR_IO, "hook failed at layer %d", layer);
    assert_true(g->n < 64);
    g->order[g->n] = layer;
    for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
        const tensor *t = runner_param_grad(g->r, layer, k);
        g->snap[g->n][k] = NULL;
        if (!t)
            continue;
        g->snap[g->n][k] = malloc(t->size * sizeof(float));
        assert_non_null(g->snap[g->n][k]);
        memcpy(g->snap[g->n][k], t->data, t->size * sizeof(float));
    }
    g->n++;
    return 0;
}

static void check_ready(model *m, runner_backend b, int threads, int n)
{
    size_t in_sz = td_in_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), y[8], dy[8];
    assert_non_null(x);
    td_fill(x, in_sz, -1.0f, 1.0f, 90);
    td_fill(dy, (size_t)n, -1.0f, 1.0f, 91);
    runner *r = td_runner(m, b, n, 1, threads, 1);
    ready_log g = {.r = r, .fail_at = -1};
    runner_set_grad_ready(r, on_ready, &g);
    for (int round = 0; round < 2; round++) { /* the plan is reused: reported again */
        g.n = 0;
        td_forward(r, x, n, y);
        td_backward(r, dy);
        int expect = 0;
        for (int i = 0; i < m->n_layers; i++)
            expect += runner_param_grad(r, i, 0) != NULL;
        assert_int_equal(g.n, expect);
        for (int j = 0; j < g.n; j++) {
            int i = g.order[j];
            if (j > 0 && !(b == RUNNER_DNNL && threads > 1))
                assert_true(i < g.order[j - 1]);
            for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
                const tensor *t = runner_param_grad(r, i, k);
                assert_true((t == NULL) == (g.snap[j][k] == NULL));
                if (t)
                    assert_memory_equal(g.snap[j][k], t->data, t->size * sizeof(float));
                free(g.snap[j][k]);
            }
        }
    }
    /* a failing hook stops the pass with its error */
    g.fail_at = g.order[0];
    g.n = 0;
    td_forward(r, x, n, y);
    cd_err err;
    assert_int_equal(runner_backward(r, dy, &err), -1);
    assert_non_null(strstr(err.msg, "hook failed"));
    runner_set_grad_ready(r, NULL, NULL);
    td_backward(r, dy);
    runner_free(r);
    free(x);
}

static void test_grad_ready_reports_each_layer_once_when_final(void **state)
{
    (void)state;
    model *m = binary_like(30, 0.5f);
    m->layers[3].trainable = 0; /* the second convolution: not reported */
    check_ready(m, RUNNER_DNNL, 1, 4);
    check_ready(m, RUNNER_DNNL, 2, 4); /* split over 2 threads */
    check_ready(m, RUNNER_REF, 1, 4);
    model_free(m);
    m = td_model(11, 11, 8);
    int s = td_conv(m, 0, 16, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
    int a = td_conv(m, s, 32, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
    int c = td_conv(m, s, 32, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int in[2] = {a, c};
    int g = td_simple(m, td_concat(m, 2, in), LAYER_GLOBAL_AVGPOOL2D);
    td_dense(m, g, 1, ACT_SIGMOID, 1);
    td_finish(m, 62);
    check_ready(m, RUNNER_DNNL, 1, 3);
    check_ready(m, RUNNER_REF, 1, 3);
    model_free(m);
}

/* Backward before any forward, and on an inference runner, are errors. */
static void test_backward_misuse(void **state)
{
    (void)state;
    model *m = binary_like(24, 0.5f);
    float dy[1] = {1.0f};
    cd_err err;
    runner *r = td_runner(m, RUNNER_DNNL, 1, 1, 1, 1);
    assert_int_equal(runner_backward(r, dy, &err), -1);
    runner_free(r);
    r = td_runner(m, RUNNER_DNNL, 1, 0, 1, 1);
    assert_int_equal(runner_backward(r, dy, &err), -1);
    assert_null(runner_param_grad(r, 1, 0));
    runner_free(r);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_cnn_gradients),
        cmocka_unit_test(test_conv_gradients_padding_strides),
        cmocka_unit_test(test_grouped_dilated_conv_gradients),
        cmocka_unit_test(test_pool_gradients),
        cmocka_unit_test(test_fire_concat_gradients),
        cmocka_unit_test(test_vector_concat_gradients),
        cmocka_unit_test(test_activation_layer_gradients),
        cmocka_unit_test(test_frozen_layers),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_split_and_unsplit_batches),
        cmocka_unit_test(test_backward_misuse),
        cmocka_unit_test(test_grad_ready_reports_each_layer_once_when_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
