/* tests/engine/test_op_zeropad2d.c - ZeroPadding2D: hand-computed padding
 * (uneven sides) in both backends, oneDNN against the reference after a
 * blocked-layout convolution, and the gradients through it in training. */
#include "test_dnnl_common.h"

static int td_zeropad(model *m, int input, int t, int b, int l, int r)
{
    layer z = layer_template(LAYER_ZEROPAD2D, "z", -1);
    z.pad4[0] = t;
    z.pad4[1] = b;
    z.pad4[2] = l;
    z.pad4[3] = r;
    return td_add(m, z, input);
}

/* A 2x2x1 map padded top 1, bottom 0, left 0, right 2 becomes 3x4. */
static void test_zeropad_hand_computed_both_backends(void **state)
{
    (void)state;
    model *m = td_model(2, 2, 1);
    int z = td_zeropad(m, 0, 1, 0, 0, 2);
    td_finish(m, 1);
    assert_int_equal(m->layers[z].out_h, 3);
    assert_int_equal(m->layers[z].out_w, 4);
    float x[4] = {1, 2, 3, 4}, y[12];
    const float want[12] = {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0};
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int k = 0; k < 2; k++) {
        for (int rep = 0; rep < 2; rep++) { /* the border stays zero on a second run */
            runner *r = td_runner(m, backs[k], 1, 0, 1, 0);
            td_forward(r, x, 1, y);
            td_assert_close(k ? "dnnl" : "ref", y, want, 12, 1e-7f);
            runner_free(r);
        }
    }
    model_free(m);
}

static model *pad_model(void)
{
    model *m = td_model(6, 5, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1);
    x = td_zeropad(m, x, 1, 2, 2, 1);
    x = td_conv(m, x, 8, 3, 3, 2, 2, PAD_VALID, ACT_TANH, 1);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 3);
    return m;
}

static void test_zeropad_matches_reference(void **state)
{
    (void)state;
    model *m = pad_model();
    td_compare_forward(m, 4, 1, 1, 0, 70);
    td_compare_forward(m, 4, 4, 2, 0, 71);
    model_free(m);
}

static void test_zeropad_gradients_match_reference(void **state)
{
    (void)state;
    model *m = pad_model();
    const int n = 3;
    float in[3 * 90], dy[6], y[6];
    td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 4);
    td_fill(dy, 6, -1.0f, 1.0f, 5);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0), *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, in, n, y);
    td_forward(rd, in, n, y);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("%s", err.msg);
    for (int p = 0; p < 2; p++) {
        const tensor *a = runner_param_grad(rd, 1, p), *b = runner_param_grad(rr, 1, p);
        assert_non_null(a);
        assert_non_null(b);
        td_assert_close("first conv gradient", a->data, b->data, a->size, TD_TOL);
    }
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeropad_hand_computed_both_backends),
        cmocka_unit_test(test_zeropad_matches_reference),
        cmocka_unit_test(test_zeropad_gradients_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
