/* tests/engine/test_op_batchnorm.c - BatchNormalization at inference:
 * hand-computed values in both backends, oneDNN against the reference with
 * and without gamma/beta on maps and vectors, Keras' parameter names and
 * trainable counts, and the reference gradients by finite differences. */
#include "test_dnnl_common.h"

/* BN parameters: gamma in [0.5, 1.5), beta in [-0.5, 0.5), mean in [-1, 1),
 * variance in [0.2, 2) (positive, as a trained one is). */
static const td_bn_ranges bn_ranges = {{0.5f, 1.5f}, {-0.5f, 0.5f}, {0.2f, 2.0f}};

/* y = (x - mean) / sqrt(var + eps) * gamma + beta, per channel, by hand. */
static void test_batchnorm_hand_computed_both_backends(void **state)
{
    (void)state;
    model *m = td_model(2, 1, 2);
    int b = td_bn(m, 0, 1, 1, 0.001f);
    td_finish(m, 1);
    layer *l = &m->layers[b];
    assert_int_equal(l->n_params, 4);
    const float g[2] = {2.0f, 1.0f}, be[2] = {0.5f, -1.0f}, mu[2] = {1.0f, 2.0f},
                var[2] = {3.999f, 0.249f};
    memcpy(l->params[0]->data, g, sizeof g);
    memcpy(l->params[1]->data, be, sizeof be);
    memcpy(l->params[2]->data, mu, sizeof mu);
    memcpy(l->params[3]->data, var, sizeof var);
    /* sqrt(var + eps) = 2 and 0.5 */
    float x[4] = {5.0f, 3.0f, -1.0f, 2.5f}, y[4];
    const float want[4] = {(5 - 1) / 2.0f * 2 + 0.5f, (3 - 2) / 0.5f * 1 - 1.0f,
                           (-1 - 1) / 2.0f * 2 + 0.5f, (2.5f - 2) / 0.5f * 1 - 1.0f};
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int k = 0; k < 2; k++) {
        runner *r = td_runner(m, backs[k], 1, 0, 1, 0);
        td_forward(r, x, 1, y);
        td_assert_close(k ? "dnnl" : "ref", y, want, 4, 1e-6f);
        runner_free(r);
    }
    model_free(m);
}

/* conv -> BN -> maxpool -> BN (no gamma) -> flatten -> dense -> BN (no beta,
 * on a vector) -> dense: oneDNN equals the reference at batch 1 and 3. */
static void test_batchnorm_matches_reference(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        model *m = td_model(7, 6, 3);
        int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, variant);
        int b1 = x = td_bn(m, x, 1, 1, 0.001f);
        x = td_pool(m, x, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
        int b2 = x = td_bn(m, x, 1, 0, 1e-5f);
        x = td_simple(m, x, LAYER_FLATTEN);
        x = td_dense(m, x, 8, ACT_RELU, 1);
        int b3 = x = td_bn(m, x, 0, 1, 0.01f);
        int b4 = x = td_bn(m, x, 0, 0, 0.001f);
        td_dense(m, x, 1, ACT_SIGMOID, 1);
        td_finish(m, 7 + (uint64_t)variant);
        td_bn_fill(&m->layers[b1], bn_ranges, 11);
        td_bn_fill(&m->layers[b2], bn_ranges, 12);
        td_bn_fill(&m->layers[b3], bn_ranges, 13);
        td_bn_fill(&m->layers[b4], bn_ranges, 14);
        assert_int_equal(m->layers[b2].n_params, 3);
        assert_int_equal(m->layers[b4].n_params, 2);
        td_compare_forward(m, 3, 1, 1, 0, 300 + (uint64_t)variant);
        td_compare_forward(m, 3, 3, 2, 0, 310 + (uint64_t)variant);
        model_free(m);
    }
}

/* Keras' names and counts: gamma and beta trainable, the statistics not. */
static void test_batchnorm_param_names_and_counts(void **state)
{
    (void)state;
    model *m = td_model(4, 4, 5);
    int b = td_bn(m, 0, 1, 1, 0.001f);
    int c = td_bn(m, b, 1, 0, 0.001f);
    td_finish(m, 3);
    const char *want[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int k = 0; k < 4; k++)
        assert_string_equal(layer_param_name(&m->layers[b], k), want[k]);
    assert_string_equal(layer_param_name(&m->layers[c], 0), "beta");
    assert_string_equal(layer_param_name(&m->layers[c], 1), "moving_mean");
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 4 * 5 + 3 * 5);
    assert_int_equal(trainable, 2 * 5 + 1 * 5);
    assert_int_equal(frozen, 4 * 5);
    /* a fresh layer starts as Keras': gamma 1, beta 0, mean 0, variance 1 */
    assert_true(m->layers[b].params[0]->data[0] == 1.0f);
    assert_true(m->layers[b].params[2]->data[0] == 0.0f);
    assert_true(m->layers[b].params[3]->data[0] == 1.0f);
    model_free(m);
}

/* L = sum r * y; the reference's conv kernel, gamma and beta gradients
 * through a BN layer against central differences. */
static double bn_loss(const model *m, const float *x, const float *rw, int n)
{
    runner *r = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    size_t out = model_output_size(m) * (size_t)n;
    float y[64];
    assert_true(out <= 64);
    td_forward(r, x, n, y);
    runner_free(r);
    double s = 0;
    for (size_t i = 0; i < out; i++)
        s += (double)rw[i] * y[i];
    return s;
}

static void test_batchnorm_reference_gradients(void **state)
{
    (void)state;
    model *m = td_model(4, 4, 2);
    int c = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
    int b = td_bn(m, c, 1, 1, 0.001f);
    int f = td_simple(m, b, LAYER_FLATTEN);
    td_dense(m, f, 2, ACT_TANH, 1);
    td_finish(m, 5);
    td_bn_fill(&m->layers[b], bn_ranges, 21);
    const int n = 2;
    float x[2 * 32], rw[4];
    td_fill(x, sizeof x / sizeof x[0], -1.0f, 1.0f, 31);
    td_fill(rw, 4, -1.0f, 1.0f, 32);
    cd_err err;
    runner *r = td_runner(m, RUNNER_REF, n, 1, 1, 0);
    float y[4];
    td_forward(r, x, n, y);
    if (runner_backward(r, rw, &err) != 0)
        fail_msg("%s", err.msg);
    const int layers[3][2] = {{c, 0}, {b, 0}, {b, 1}}; /* kernel, gamma, beta */
    for (int t = 0; t < 3; t++) {
        tensor *p = m->layers[layers[t][0]].params[layers[t][1]];
        const tensor *g = runner_param_grad(r, layers[t][0], layers[t][1]);
        assert_non_null(g);
        for (size_t i = 0; i < p->size && i < 6; i++) {
            float keep = p->data[i];
            const float h = 1e-2f;
            p->data[i] = keep + h;
            double up = bn_loss(m, x, rw, n);
            p->data[i] = keep - h;
            double down = bn_loss(m, x, rw, n);
            p->data[i] = keep;
            double num = (up - down) / (2.0 * h);
            if (fabs(num - g->data[i]) > 2e-3 * (1.0 + fabs(num)))
                fail_msg("layer %d param %d entry %zu: analytic %.6g, numeric %.6g",
                         layers[t][0], layers[t][1], i, (double)g->data[i], num);
        }
    }
    /* the moving statistics get no gradient */
    const tensor *gm = runner_param_grad(r, b, 2);
    for (size_t i = 0; gm && i < gm->size; i++)
        assert_true(gm->data[i] == 0.0f);
    runner_free(r);
    model_free(m);
}

/* Training through BN: oneDNN's conv kernel, gamma and beta gradients equal
 * the reference's, with and without gamma; and a BN after a frozen input
 * needs no backward at all. */
static void test_batchnorm_gradients_match_reference(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        model *m = td_model(5, 4, 2);
        int c = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int b = td_bn(m, c, 1, variant == 0, 0.001f);
        int x = td_pool(m, b, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
        x = td_simple(m, x, LAYER_FLATTEN);
        td_dense(m, x, 2, ACT_LINEAR, 1);
        td_finish(m, 9 + (uint64_t)variant);
        td_bn_fill(&m->layers[b], bn_ranges, 40 + (uint64_t)variant);
        const int n = 3;
        float in[3 * 40], dy[6], y[6];
        td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 4);
        td_fill(dy, 6, -1.0f, 1.0f, 5);
        runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0);
        runner *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
        cd_err err;
        td_forward(rr, in, n, y);
        td_forward(rd, in, n, y);
        if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
            fail_msg("%s", err.msg);
        const int which[4][2] = {{c, 0}, {c, 1}, {b, 0}, {b, 1}};
        for (int t = 0; t < (variant == 0 ? 4 : 3); t++) {
            const tensor *a = runner_param_grad(rd, which[t][0], which[t][1]);
            const tensor *e = runner_param_grad(rr, which[t][0], which[t][1]);
            assert_non_null(a);
            assert_non_null(e);
            td_assert_close("gradient", a->data, e->data, a->size, TD_TOL);
        }
        runner_free(rr);
        runner_free(rd);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_hand_computed_both_backends),
        cmocka_unit_test(test_batchnorm_matches_reference),
        cmocka_unit_test(test_batchnorm_param_names_and_counts),
        cmocka_unit_test(test_batchnorm_reference_gradients),
        cmocka_unit_test(test_batchnorm_gradients_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
