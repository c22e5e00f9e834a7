/* tests/engine/test_ref_grad.c - the reference backend's backward pass, checked by
 * central finite differences on whole small models.
 *
 * The loss is L = sum_i r_i * y_i with fixed random r, so dL/dy = r.  Each
 * parameter entry checked is perturbed by +-eps in the model itself and the loss
 * recomputed with a fresh training runner of the same seed (so Dropout draws the
 * same mask).  Entries where the two one-sided differences disagree sit on a
 * relu/max kink: there the analytic value must match the one-sided difference
 * of the side without the kink; entries with kinks on both sides are skipped
 * and a test fails if too many are.
 * Gradient flow into earlier layers (input gradients of every layer kind) is
 * covered because a trainable layer sits before each layer under test. */
#include "test_util.h"

#include <math.h>

#include "engine/model.h"
#include "engine/runner.h"

#define SEED 99
#define EPS 1e-2f

static unsigned rnd = 777;
static float frand(void)
{
    rnd = rnd * 1103515245u + 12345u;
    return (float)((rnd >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

typedef struct gcase {
    model *m;
    int n;
    float *x, *r;
    int logits;
} gcase;

static runner *train_runner(const gcase *g)
{
    cd_err err;
    runner_opts o = {.backend = RUNNER_REF, .training = 1, .seed = SEED, .output_logits = g->logits};
    runner *rn = runner_new(g->m, g->n, &o, &err);
    if (!rn)
        fail_msg("%s", err.msg);
    return rn;
}

static double loss(const gcase *g)
{
    cd_err err;
    size_t out = (size_t)g->n * model_output_size(g->m);
    float *y = malloc(out * sizeof *y);
    runner *rn = train_runner(g);
    if (runner_forward(rn, g->x, g->n, y, &err) != 0)
        fail_msg("%s", err.msg);
    double l = 0.0;
    for (size_t i = 0; i < out; i++)
        l += (double)g->r[i] * y[i];
    runner_free(rn);
    free(y);
    return l;
}

static int close(double a, double b)
{
    return fabs(a - b) <= 2e-2 * fmax(fabs(a), fabs(b)) + 2e-3;
}

/* Checks up to `per_param` entries of every parameter; returns the number checked. */
static int check_grads(gcase *g, int per_param)
{
    cd_err err;
    int h, w, c;
    model_input_shape(g->m, &h, &w, &c);
    size_t in = (size_t)g->n * h * w * c, out = (size_t)g->n * model_output_size(g->m);
    if (!g->x) {
        g->x = malloc(in * sizeof *g->x);
        for (size_t i = 0; i < in; i++)
            g->x[i] = frand();
    }
    g->r = malloc(out * sizeof *g->r);
    for (size_t i = 0; i < out; i++)
        g->r[i] = frand();

    float *y = malloc(out * sizeof *y);
    runner *rn = train_runner(g);
    assert_int_equal(runner_forward(rn, g->x, g->n, y, &err), 0);
    if (runner_backward(rn, g->r, &err) != 0)
        fail_msg("%s", err.msg);

    int checked = 0, skipped = 0;
    for (int li = 0; li < g->m->n_layers; li++) {
        layer *l = &g->m->layers[li];
        for (int p = 0; p < l->n_params; p++) {
            const tensor *gr = runner_param_grad(rn, li, p);
            if (!l->trainable) {
                assert_null(gr);
                continue;
            }
            assert_non_null(gr);
            assert_true(tensor_same_shape(gr, l->params[p]));
            tensor *t = l->params[p];
            for (int k = 0; k < per_param; k++) {
                size_t j = t->size <= (size_t)per_param ? (size_t)k
                                                       : (size_t)((frand() + 1.0f) * 0.5f * (float)(t->size - 1));
                if (j >= t->size)
                    break;
                float keep = t->data[j];
                double l0 = loss(g);
                t->data[j] = keep + EPS;
                double lp = loss(g);
                t->data[j] = keep - EPS;
                double lm = loss(g);
                t->data[j] = keep;
                double dp = (lp - l0) / EPS, dm = (l0 - lm) / EPS, num = (lp - lm) / (2.0 * EPS);
                double ana = gr->data[j];
                if (fabs(dp - dm) > 0.05 * fmax(fabs(dp), fabs(dm)) + 5e-3) {
                    /* A kink between p - eps and p + eps: the side without it still
                     * gives the derivative; with kinks on both sides, skip. */
                    if (close(ana, dp) || close(ana, dm)) {
                        checked++;
                        continue;
                    }
                    if (getenv("GRAD_DEBUG"))
                        fprintf(stderr, "skip %s p%d [%zu] dp %.6g dm %.6g ana %.6g\n", l->name,
                                p, j, dp, dm, ana);
                    skipped++;
                    continue;
                }
                if (!close(ana, num))
                    fail_msg("layer '%s' param %d [%zu]: analytic %.6g, numeric %.6g", l->name, p,
                             j, ana, num);
                checked++;
            }
        }
    }
    if (skipped > checked / 4 + 2)
        fail_msg("%d of %d entries sat on kinks", skipped, checked + skipped);
    runner_free(rn);
    free(y);
    free(g->x);
    free(g->r);
    g->x = g->r = NULL;
    return checked;
}

/* ---- model builders ---- */

static int input(model *m, int h, int w, int c)
{
    layer l = layer_template(LAYER_INPUT, "input", -1);
    l.in_h = h;
    l.in_w = w;
    l.in_c = c;
    return model_add(m, &l, NULL);
}

static int conv(model *m, const char *name, int in, int f, int k, int s, layer_pad pad,
                layer_act act, int bias)
{
    layer l = layer_template(LAYER_CONV2D, name, in);
    l.filters = f;
    l.kernel[0] = k;
    l.kernel[1] = k == 3 ? 2 : k; /* non-square where it is cheap */
    l.strides[0] = s;
    l.strides[1] = s;
    l.padding = pad;
    l.act = act;
    l.use_bias = bias;
    return model_add(m, &l, NULL);
}

static int pool(model *m, layer_kind kind, const char *name, int in, int p, int s, layer_pad pad)
{
    layer l = layer_template(kind, name, in);
    l.pool[0] = l.pool[1] = p;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    return model_add(m, &l, NULL);
}

static int simple(model *m, layer_kind kind, const char *name, int in)
{
    layer l = layer_template(kind, name, in);
    return model_add(m, &l, NULL);
}

static int dense(model *m, const char *name, int in, int units, layer_act act)
{
    layer l = layer_template(LAYER_DENSE, name, in);
    l.units = units;
    l.act = act;
    return model_add(m, &l, NULL);
}

static void finish(model *m, unsigned long long seed)
{
    cd_err err;
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, seed);
    /* non-zero biases so they matter */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].n_params > 1)
            for (size_t j = 0; j < m->layers[i].params[1]->size; j++)
                m->layers[i].params[1]->data[j] = 0.1f * frand();
}

static void run_case(model *m, int n, int logits)
{
    gcase g = {.m = m, .n = n, .logits = logits};
    assert_true(check_grads(&g, 12) > 0);
    model_free(m);
}

/* ---- the cases ---- */

static void test_grad_conv_valid_relu_flatten_dense(void **state)
{
    (void)state;
    model *m = model_new("a", NULL);
    int i = input(m, 5, 6, 2);
    i = conv(m, "conv", i, 3, 3, 1, PAD_VALID, ACT_RELU, 1);
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    dense(m, "dense", i, 3, ACT_LINEAR);
    finish(m, 1);
    run_case(m, 2, 0);
}

static void test_grad_conv_same_stride2_tanh_gap_sigmoid(void **state)
{
    (void)state;
    model *m = model_new("b", NULL);
    int i = input(m, 7, 5, 3);
    i = conv(m, "conv1", i, 4, 3, 2, PAD_SAME, ACT_TANH, 0);
    i = conv(m, "conv2", i, 3, 2, 2, PAD_SAME, ACT_SIGMOID, 1);
    i = simple(m, LAYER_GLOBAL_AVGPOOL2D, "gap", i);
    dense(m, "dense", i, 2, ACT_SIGMOID);
    finish(m, 2);
    run_case(m, 2, 0);
}

static void test_grad_maxpool3_stride2_and_avgpool_same(void **state)
{
    (void)state;
    model *m = model_new("c", NULL);
    int i = input(m, 9, 9, 2);
    i = conv(m, "conv1", i, 3, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    i = pool(m, LAYER_MAXPOOL2D, "maxpool", i, 3, 2, PAD_VALID); /* 4x4 */
    i = conv(m, "conv2", i, 2, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    i = pool(m, LAYER_AVGPOOL2D, "avgpool", i, 3, 2, PAD_SAME); /* 2x2 with uneven padding */
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    dense(m, "dense", i, 3, ACT_SOFTMAX);
    finish(m, 3);
    run_case(m, 2, 0);
}

static void test_grad_maxpool_same_and_global_max(void **state)
{
    (void)state;
    model *m = model_new("d", NULL);
    int i = input(m, 5, 5, 2);
    i = conv(m, "conv1", i, 3, 2, 1, PAD_SAME, ACT_LINEAR, 1);
    i = pool(m, LAYER_MAXPOOL2D, "maxpool", i, 2, 2, PAD_SAME); /* 3x3 */
    i = conv(m, "conv2", i, 4, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    i = simple(m, LAYER_GLOBAL_MAXPOOL2D, "gmp", i);
    dense(m, "dense", i, 2, ACT_LINEAR);
    finish(m, 4);
    run_case(m, 2, 0);
}

static void test_grad_fire_module_concat_and_fan_out(void **state)
{
    (void)state;
    model *m = model_new("fire", NULL);
    int i = input(m, 6, 6, 3);
    int sq = conv(m, "squeeze", i, 3, 1, 1, PAD_VALID, ACT_TANH, 1);
    int e1 = conv(m, "expand1x1", sq, 2, 1, 1, PAD_VALID, ACT_TANH, 1);
    int e3 = conv(m, "expand3x3", sq, 3, 3, 1, PAD_SAME, ACT_TANH, 1);
    layer c = layer_template(LAYER_CONCAT, "concat", e1);
    c.inputs[1] = e3;
    c.inputs[2] = sq; /* a third consumer of squeeze */
    c.n_inputs = 3;
    int cat = model_add(m, &c, NULL);
    int top = conv(m, "top", cat, 2, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    int gap1 = simple(m, LAYER_GLOBAL_AVGPOOL2D, "gap1", top);
    int gap2 = simple(m, LAYER_GLOBAL_AVGPOOL2D, "gap2", sq); /* squeeze's fourth consumer */
    layer c2 = layer_template(LAYER_CONCAT, "concat_vectors", gap1);
    c2.inputs[1] = gap2;
    c2.n_inputs = 2;
    model_add(m, &c2, NULL);
    finish(m, 5);
    run_case(m, 2, 0);
}

static void test_grad_activation_layers_and_dropout(void **state)
{
    (void)state;
    const layer_act acts[] = {ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTMAX, ACT_LINEAR};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        model *m = model_new("act", NULL);
        int i = input(m, 3, 3, 2);
        i = conv(m, "conv", i, 4, 1, 1, PAD_VALID, ACT_LINEAR, 1);
        layer l = layer_template(LAYER_ACTIVATION, "activation", i);
        l.act = acts[a];
        i = model_add(m, &l, NULL); /* softmax over the 4 channels of each pixel */
        layer d = layer_template(LAYER_DROPOUT, "dropout", i);
        d.rate = 0.4f;
        i = model_add(m, &d, NULL);
        i = simple(m, LAYER_FLATTEN, "flatten", i);
        dense(m, "dense", i, 2, ACT_LINEAR);
        finish(m, 6 + a);
        run_case(m, 2, 0);
    }
}

static void test_grad_frozen_layers_pass_gradients_on(void **state)
{
    (void)state;
    model *m = model_new("frozen", NULL);
    int i = input(m, 6, 6, 2);
    i = conv(m, "conv1", i, 3, 3, 1, PAD_VALID, ACT_TANH, 1);
    i = conv(m, "conv2", i, 3, 3, 1, PAD_VALID, ACT_TANH, 1);
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    i = dense(m, "dense1", i, 4, ACT_TANH);
    dense(m, "dense2", i, 1, ACT_LINEAR);
    finish(m, 12);
    m->layers[model_find(m, "conv2")].trainable = 0;
    m->layers[model_find(m, "dense2")].trainable = 0;
    run_case(m, 2, 0); /* asserts NULL grads for frozen layers, checks conv1 through them */
}

static void test_grad_output_logits_skips_final_sigmoid(void **state)
{
    (void)state;
    model *m = model_new("logits", NULL);
    int i = input(m, 3, 3, 1);
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    i = dense(m, "dense1", i, 3, ACT_TANH);
    dense(m, "dense2", i, 1, ACT_SIGMOID);
    finish(m, 13);
    run_case(m, 3, 1);
    /* a standalone softmax Activation as the output */
    m = model_new("logits2", NULL);
    i = input(m, 2, 2, 2);
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    i = dense(m, "dense", i, 3, ACT_LINEAR);
    layer a = layer_template(LAYER_ACTIVATION, "softmax", i);
    a.act = ACT_SOFTMAX;
    model_add(m, &a, NULL);
    finish(m, 14);
    run_case(m, 2, 1);
}

/* Parameter gradients are summed over the batch, and a second backward starts afresh. */
static void test_grad_sums_over_batch_and_resets(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("sum", NULL);
    int i = input(m, 4, 4, 2);
    i = conv(m, "conv", i, 2, 3, 1, PAD_SAME, ACT_TANH, 1);
    i = simple(m, LAYER_FLATTEN, "flatten", i);
    dense(m, "dense", i, 2, ACT_LINEAR);
    finish(m, 15);
    float x[64], r[4], y[4];
    for (int k = 0; k < 64; k++)
        x[k] = frand();
    for (int k = 0; k < 4; k++)
        r[k] = frand();
    runner_opts o = {.backend = RUNNER_REF, .training = 1};
    runner *rn = runner_new(m, 2, &o, &err);
    assert_non_null(rn);
    assert_int_equal(runner_backward(rn, r, &err), -1); /* no forward yet */
    float sum[2][64];
    memset(sum, 0, sizeof sum);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(runner_forward(rn, x + 32 * s, 1, y, &err), 0);
        assert_int_equal(runner_backward(rn, r + 2 * s, &err), 0);
        const tensor *gk = runner_param_grad(rn, 1, 0), *gd = runner_param_grad(rn, 3, 0);
        for (size_t k = 0; k < gk->size; k++)
            sum[0][k] += gk->data[k];
        for (size_t k = 0; k < 64 && k < gd->size; k++)
            sum[1][k] += gd->data[k];
    }
    assert_int_equal(runner_forward(rn, x, 2, y, &err), 0);
    assert_int_equal(runner_backward(rn, r, &err), 0);
    const tensor *gk = runner_param_grad(rn, 1, 0), *gd = runner_param_grad(rn, 3, 0);
    for (size_t k = 0; k < gk->size; k++)
        assert_true(fabsf(gk->data[k] - sum[0][k]) <= 1e-5f * (1.0f + fabsf(sum[0][k])));
    for (size_t k = 0; k < 64; k++)
        assert_true(fabsf(gd->data[k] - sum[1][k]) <= 1e-5f * (1.0f + fabsf(sum[1][k])));
    assert_null(runner_param_grad(rn, 2, 0)); /* Flatten has no parameters */
    assert_null(runner_param_grad(rn, 1, 2));
    runner_params_changed(rn);
    runner_free(rn);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_conv_valid_relu_flatten_dense),
        cmocka_unit_test(test_grad_conv_same_stride2_tanh_gap_sigmoid),
        cmocka_unit_test(test_grad_maxpool3_stride2_and_avgpool_same),
        cmocka_unit_test(test_grad_maxpool_same_and_global_max),
        cmocka_unit_test(test_grad_fire_module_concat_and_fan_out),
        cmocka_unit_test(test_grad_activation_layers_and_dropout),
        cmocka_unit_test(test_grad_frozen_layers_pass_gradients_on),
        cmocka_unit_test(test_grad_output_logits_skips_final_sigmoid),
        cmocka_unit_test(test_grad_sums_over_batch_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
