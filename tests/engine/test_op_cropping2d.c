/* tests/engine/test_op_cropping2d.c - Cropping2D (hand-computed in both
 * backends, oneDNN against the reference forward and in training on a
 * blocked-layout input) and global pooling with keepdims (a 1x1 map that a
 * convolution can read). */
#include "test_dnnl_common.h"

static int td_crop(model *m, int input, int t, int b, int l, int r)
{
    layer c = layer_template(LAYER_CROPPING2D, "crop", -1);
    c.pad4[0] = t;
    c.pad4[1] = b;
    c.pad4[2] = l;
    c.pad4[3] = r;
    return td_add(m, c, input);
}

/* A 3x4x1 map cropped top 1, bottom 0, left 1, right 2 keeps a 2x1 window. */
static void test_crop_hand_computed_both_backends(void **state)
{
    (void)state;
    model *m = td_model(3, 4, 1);
    td_crop(m, 0, 1, 0, 1, 2);
    td_finish(m, 1);
    const float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const float want[2] = {5, 9};
    td_expect_both(m, x, want, 2, 1e-7f, "cropped");
    model_free(m);
}

static model *crop_model(void)
{
    model *m = td_model(7, 6, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    x = td_crop(m, x, 2, 1, 0, 3);
    x = td_conv(m, x, 8, 2, 2, 1, 1, PAD_VALID, ACT_TANH, 1);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 3);
    return m;
}

static void test_crop_matches_reference_and_gradients(void **state)
{
    (void)state;
    model *m = crop_model();
    td_compare_forward(m, 4, 1, 1, 0, 60);
    td_compare_forward(m, 4, 4, 2, 0, 61);
    td_compare_param_grads(m, 3, 1, 2, 4); /* the first convolution's kernel and bias */
    model_free(m);
}

static void test_global_pool_keepdims(void **state)
{
    (void)state;
    layer_kind kinds[2] = {LAYER_GLOBAL_AVGPOOL2D, LAYER_GLOBAL_MAXPOOL2D};
    for (int k = 0; k < 2; k++) {
        model *m = td_model(5, 6, 3);
        int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        layer g = layer_template(kinds[k], "g", -1);
        g.keepdims = 1;
        x = td_add(m, g, x);
        int c = td_conv(m, x, 4, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
        x = td_simple(m, c, LAYER_FLATTEN);
        td_dense(m, x, 1, ACT_SIGMOID, 1);
        td_finish(m, 8 + (uint64_t)k);
        assert_int_equal(m->layers[2].out_rank, 4);
        assert_int_equal(m->layers[c].out_h, 1);
        td_compare_forward(m, 3, 3, 1, 0, 66 + (uint64_t)k);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crop_hand_computed_both_backends),
        cmocka_unit_test(test_crop_matches_reference_and_gradients),
        cmocka_unit_test(test_global_pool_keepdims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
