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
    const float x[4] = {0.0f, 255.0f, 51.0f, 127.5f};
    const float want[4] = {-0.5f, 0.5f, 0.2f - 0.5f, 0.0f};
    td_expect_both(m, x, want, 4, 1e-6f, "rescaled");
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
    td_compare_param_grads(m, 3, 1, 2, 4); /* the convolution's kernel and bias */
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
