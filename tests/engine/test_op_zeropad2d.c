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
    const float x[4] = {1, 2, 3, 4};
    const float want[12] = {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0};
    td_expect_both(m, x, want, 12, 1e-7f, "padded");
    td_expect_both(m, x, want, 12, 1e-7f, "padded, again (the border stays zero)");
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
    td_compare_param_grads(m, 3, 1, 2, 4); /* the first convolution's kernel and bias */
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
