/* tests/engine/test_op_merge.c - Add, Subtract, Multiply, Average, Maximum:
 * hand-computed values in both backends, oneDNN against the reference on a
 * residual block (convolution branches in blocked layouts), gradients in
 * training against the reference (Add, Subtract, Average in oneDNN) and the
 * reference's Multiply/Maximum gradients against finite differences. */
#include "test_dnnl_common.h"

static const layer_kind kinds[5] = {LAYER_ADD, LAYER_SUBTRACT, LAYER_MULTIPLY, LAYER_AVERAGE,
                                    LAYER_MAXIMUM};

static void test_merge_hand_computed_both_backends(void **state)
{
    (void)state;
    /* x = (1, -2, 3, 0.5); branch a = x, branch b = Rescaling(x) = 2x - 1 */
    const float x[4] = {1.0f, -2.0f, 3.0f, 0.5f}, bv[4] = {1.0f, -5.0f, 5.0f, 0.0f};
    for (int k = 0; k < 5; k++) {
        model *m = td_model(1, 2, 2);
        layer r = layer_template(LAYER_RESCALING, "r", -1);
        r.rescale[0][0] = 2.0f;
        r.rescale[1][0] = -1.0f;
        int b = td_add(m, r, 0);
        td_merge2(m, kinds[k], 0, b);
        td_finish(m, 1);
        float want[4], y[4];
        for (int i = 0; i < 4; i++) {
            float a = x[i], c = bv[i];
            want[i] = k == 0 ? a + c : k == 1 ? a - c : k == 2 ? a * c : k == 3 ? (a + c) / 2
                                                                        : (a > c ? a : c);
        }
        runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
        for (int e = 0; e < 2; e++) {
            runner *rn = td_runner(m, backs[e], 1, 0, 1, 0);
            td_forward(rn, x, 1, y);
            td_assert_close(layer_kind_name(kinds[k]), y, want, 4, 1e-6f);
            runner_free(rn);
        }
        model_free(m);
    }
}

/* x -> conv a (16, tanh) -> conv b (16) ; merge(a, b) -> conv -> flatten -> dense. */
static model *residual(layer_kind kind, int *ca)
{
    model *m = td_model(6, 5, 3);
    int a = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1); /* smooth: no kinks */
    int b = td_conv(m, a, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    int x = td_merge2(m, kind, a, b);
    x = td_conv(m, x, 4, 3, 3, 2, 2, PAD_VALID, ACT_LINEAR, 1);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 17);
    *ca = a;
    return m;
}

static void test_merge_matches_reference(void **state)
{
    (void)state;
    for (int k = 0; k < 5; k++) {
        int a;
        model *m = residual(kinds[k], &a);
        td_compare_forward(m, 4, 1, 1, 0, 80 + (uint64_t)k);
        td_compare_forward(m, 4, 4, 2, 0, 90 + (uint64_t)k);
        model_free(m);
    }
}

static void test_sum_merges_gradients_match_reference(void **state)
{
    (void)state;
    const int sums[3] = {0, 1, 3}; /* Add, Subtract, Average */
    for (int s = 0; s < 3; s++) {
        int a;
        model *m = residual(kinds[sums[s]], &a);
        const int n = 2;
        float in[2 * 90], dy[4], y[4];
        td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 6);
        td_fill(dy, 4, -1.0f, 1.0f, 7);
        runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0);
        runner *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
        cd_err err;
        td_forward(rr, in, n, y);
        td_forward(rd, in, n, y);
        if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
            fail_msg("%s", err.msg);
        for (int p = 0; p < 2; p++) {
            const tensor *g1 = runner_param_grad(rd, a, p), *g2 = runner_param_grad(rr, a, p);
            assert_non_null(g1);
            assert_non_null(g2);
            td_assert_close(layer_kind_name(kinds[sums[s]]), g1->data, g2->data, g1->size,
                            TD_TOL);
        }
        runner_free(rr);
        runner_free(rd);
        model_free(m);
    }
}

/* Multiply and Maximum: the reference's first-conv gradients by central
 * differences (Maximum: entries near a tie are skipped). */
static void test_product_and_max_reference_gradients(void **state)
{
    (void)state;
    const int which[2] = {2, 4};
    for (int t = 0; t < 2; t++) {
        int a;
        model *m = residual(kinds[which[t]], &a);
        const int n = 2;
        float in[2 * 90], w[4], y[4];
        td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 8);
        td_fill(w, 4, -1.0f, 1.0f, 9);
        runner *r = td_runner(m, RUNNER_REF, n, 1, 1, 0);
        cd_err err;
        td_forward(r, in, n, y);
        if (runner_backward(r, w, &err) != 0)
            fail_msg("%s", err.msg);
        tensor *k = m->layers[a].params[1]; /* the bias: each entry moves a whole channel */
        const tensor *g = runner_param_grad(r, a, 1);
        int checked = 0;
        for (size_t i = 0; i < k->size; i++) {
            float keep = k->data[i];
            const float h = 1e-3f;
            k->data[i] = keep + h;
            double up = td_ref_loss(m, in, w, n);
            k->data[i] = keep - h;
            double down = td_ref_loss(m, in, w, n);
            k->data[i] = keep + h / 2;
            double up2 = td_ref_loss(m, in, w, n);
            k->data[i] = keep;
            double num = (up - down) / (2.0 * h), num2 = (up2 - down) / (1.5 * h);
            if (fabs(num - num2) > 1e-2 * (1.0 + fabs(num)))
                continue; /* a kink (relu or a tie of the maximum) inside the step */
            checked++;
            if (fabs(num - g->data[i]) > 5e-3 * (1.0 + fabs(num)))
                fail_msg("%s bias %zu: analytic %.6g, numeric %.6g",
                         layer_kind_name(kinds[which[t]]), i, (double)g->data[i], num);
        }
        assert_true(checked >= 8);
        runner_free(r);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_hand_computed_both_backends),
        cmocka_unit_test(test_merge_matches_reference),
        cmocka_unit_test(test_sum_merges_gradients_match_reference),
        cmocka_unit_test(test_product_and_max_reference_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
