/* tests/engine/test_op_prelu.c - PReLU (y = x > 0 ? x : alpha x, alpha learned):
 *   - hand values in both backends, alpha shared over H and W (Keras'
 *     shared_axes [1, 2]), not shared, and after a Dense;
 *   - alpha's and the input's gradients against central finite differences
 *     of the reference forward;
 *   - oneDNN's gradients (alpha and the convolution before it) equal the
 *     reference's. */
#include "test_dnnl_common.h"

static int td_prelu(model *m, int input, int shared)
{
    layer l = layer_template(LAYER_PRELU, "pr", -1);
    l.shared_axes = shared;
    return td_add(m, l, input);
}

static void test_hand_values_both_backends(void **state)
{
    (void)state;
    model *m = td_model(1, 2, 3);
    int p = td_prelu(m, 0, 1 | 2);
    td_finish(m, 1);
    float *al = m->layers[p].params[0]->data;
    assert_int_equal(m->layers[p].params[0]->size, 3);
    al[0] = 0.1f;
    al[1] = -0.5f;
    al[2] = 2.0f;
    const float x[6] = {-1.0f, -2.0f, -3.0f, 4.0f, 0.0f, -0.25f};
    const float want[6] = {-0.1f, 1.0f, -6.0f, 4.0f, 0.0f, -0.5f};
    td_expect_both(m, x, want, 6, 1e-7f, "shared over H and W");
    model_free(m);

    /* not shared: one alpha per value */
    m = td_model(2, 2, 1);
    p = td_prelu(m, 0, 0);
    td_finish(m, 1);
    assert_int_equal(m->layers[p].params[0]->size, 4);
    for (int k = 0; k < 4; k++)
        m->layers[p].params[0]->data[k] = 0.1f * (float)(k + 1);
    const float x2[4] = {-1.0f, -1.0f, -1.0f, 1.0f}, want2[4] = {-0.1f, -0.2f, -0.3f, 1.0f};
    td_expect_both(m, x2, want2, 4, 1e-7f, "unshared");
    model_free(m);
}

/* conv -> PReLU(shared) -> flatten -> dense -> PReLU(vector) -> dense(2) */
static model *grad_model(void)
{
    model *m = td_model(5, 4, 2);
    int x = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
    int p1 = td_prelu(m, x, 1 | 2);
    x = td_simple(m, p1, LAYER_FLATTEN);
    x = td_dense(m, x, 5, ACT_LINEAR, 1);
    int p2 = td_prelu(m, x, 0);
    td_dense(m, p2, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
    td_fill(m->layers[p1].params[0]->data, m->layers[p1].params[0]->size, -0.5f, 0.5f, 21);
    td_fill(m->layers[p2].params[0]->data, m->layers[p2].params[0]->size, -0.5f, 0.5f, 22);
    return m;
}

static void test_gradients_finite_differences_and_dnnl(void **state)
{
    (void)state;
    model *m = grad_model();
    const int n = 3;
    float in[3 * 40], dy[6], y[6];
    td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 4);
    td_fill(dy, 6, -1.0f, 1.0f, 5);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0), *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, in, n, y);
    td_forward(rd, in, n, y);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *a = runner_param_grad(rd, i, p), *b = runner_param_grad(rr, i, p);
            assert_non_null(a);
            assert_non_null(b);
            char what[64];
            snprintf(what, sizeof what, "gradient %d of layer %d", p, i);
            td_assert_close(what, a->data, b->data, b->size, 1e-4f);
        }
    /* finite differences of the reference for both alphas */
    runner *rf = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].kind != LAYER_PRELU)
            continue;
        tensor *a = m->layers[i].params[0];
        const tensor *g = runner_param_grad(rr, i, 0);
        for (size_t k = 0; k < a->size; k++) {
            const float eps = 1e-2f, keep = a->data[k];
            a->data[k] = keep + eps;
            double lp = td_loss(rf, m, in, dy, n);
            a->data[k] = keep - eps;
            double lm = td_loss(rf, m, in, dy, n);
            a->data[k] = keep;
            double fd = (lp - lm) / (2.0 * eps);
            if (fabs(fd - g->data[k]) > 2e-3 + 2e-2 * fabs(fd))
                fail_msg("alpha %zu of layer %d: gradient %.6g, finite differences %.6g", k, i,
                         (double)g->data[k], fd);
        }
    }
    runner_free(rf);
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_values_both_backends),
        cmocka_unit_test(test_gradients_finite_differences_and_dnnl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
