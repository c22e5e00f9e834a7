/* tests/engine/test_op_rescaling.c - Rescaling (y = x * scale + offset):
 * hand-computed values in both backends, and in training the oneDNN
 * gradients through it equal the reference's. */
#include "test_dnnl_common.h"

static int td_rescaling(model *m, int input, float scale, float offset)
{
    layer l = layer_template(LAYER_RESCALING, "r", -1);
    l.rescale[0] = scale;
    l.rescale[1] = offset;
    return td_add(m, l, input);
}

static void test_rescaling_hand_computed_both_backends(void **state)
{
    (void)state;
    model *m = td_model(1, 2, 2);
    td_rescaling(m, 0, 1.0f / 255.0f, -0.5f);
    td_finish(m, 1);
    float x[4] = {0.0f, 255.0f, 51.0f, 127.5f}, y[4];
    const float want[4] = {-0.5f, 0.5f, 0.2f - 0.5f, 0.0f};
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int k = 0; k < 2; k++) {
        runner *r = td_runner(m, backs[k], 1, 0, 1, 0);
        td_forward(r, x, 1, y);
        td_assert_close(k ? "dnnl" : "ref", y, want, 4, 1e-6f);
        runner_free(r);
    }
    model_free(m);
}

/* conv -> Rescaling -> flatten -> dense: the conv kernel's gradient passes
 * through the rescaling's backward in both backends. */
static void test_rescaling_gradients_match_reference(void **state)
{
    (void)state;
    model *m = td_model(5, 4, 2);
    int x = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    x = td_rescaling(m, x, 2.5f, 0.25f);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
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
    for (int p = 0; p < 2; p++) {
        const tensor *a = runner_param_grad(rd, 1, p), *b = runner_param_grad(rr, 1, p);
        assert_non_null(a);
        assert_non_null(b);
        td_assert_close("conv gradient", a->data, b->data, a->size, TD_TOL);
    }
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rescaling_hand_computed_both_backends),
        cmocka_unit_test(test_rescaling_gradients_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
