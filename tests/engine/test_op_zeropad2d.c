/* tests/engine/test_op_zeropad2d.c - ZeroPadding2D: hand-computed padding
 * (uneven sides) in both backends, oneDNN against the reference after a
 * blocked-layout convolution, and the gradients through it in training; pads
 * folded into the stride-2 Conv2D / DepthwiseConv2D that reads them (oneDNN's
 * asymmetric padding_l / padding_r) and pads that must stay copies. */
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

static int td_depthwise(model *m, int input, int k, int s, layer_act act)
{
    layer l = layer_template(LAYER_DEPTHWISE_CONV2D, "dw", -1);
    l.kernel[0] = k;
    l.kernel[1] = k;
    l.strides[0] = s;
    l.strides[1] = s;
    l.padding = PAD_VALID;
    layer_set_act(&l, act);
    l.use_bias = 1;
    return td_add(m, l, input);
}

/* MobileNetV2's and PyTorch-from-ONNX's pattern: asymmetric pads, each read
 * only by a VALID stride-2 convolution (folded on oneDNN), on odd and even
 * maps in blocked layouts. */
static model *folded_pad_model(void)
{
    model *m = td_model(11, 10, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    x = td_zeropad(m, x, 0, 1, 0, 1);
    x = td_depthwise(m, x, 3, 2, ACT_RELU6);         /* 12x11 -> 5x5 */
    x = td_zeropad(m, x, 1, 2, 2, 1);
    x = td_depthwise(m, x, 3, 2, ACT_LINEAR);        /* 8x8 -> 3x3 */
    x = td_conv(m, x, 32, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
    x = td_zeropad(m, x, 1, 2, 2, 1);
    x = td_conv(m, x, 8, 3, 3, 2, 2, PAD_VALID, ACT_TANH, 1); /* 6x6 -> 2x2 */
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 5);
    return m;
}

/* The first layer a padded map: the pad reads the input itself. */
static model *folded_input_pad_model(void)
{
    model *m = td_model(9, 8, 3);
    int x = td_zeropad(m, 0, 1, 2, 2, 1);
    x = td_conv(m, x, 16, 3, 3, 2, 2, PAD_VALID, ACT_RELU, 1);
    x = td_zeropad(m, x, 0, 1, 0, 1);
    x = td_depthwise(m, x, 3, 2, ACT_RELU);
    x = td_simple(m, x, LAYER_GLOBAL_AVGPOOL2D);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 6);
    return m;
}

/* Pads that stay copies: wider than the kernel, read by two layers, read by
 * a SAME convolution, and the model's output. */
static model *unfolded_pad_model(void)
{
    model *m = td_model(7, 6, 4);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1);
    x = td_zeropad(m, x, 3, 0, 0, 3);
    x = td_conv(m, x, 16, 3, 3, 2, 2, PAD_VALID, ACT_RELU, 1);
    int z = td_zeropad(m, x, 1, 0, 0, 1);
    int a = td_depthwise(m, z, 3, 2, ACT_RELU);
    int b = td_pool(m, z, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID);
    int both[2] = {a, b};
    x = td_concat(m, 2, both);
    x = td_zeropad(m, x, 0, 1, 0, 1);
    x = td_conv(m, x, 8, 3, 3, 2, 2, PAD_SAME, ACT_RELU, 1);
    td_zeropad(m, x, 1, 1, 0, 2);
    td_finish(m, 7);
    return m;
}

static void test_zeropad_folded_into_conv_matches_reference(void **state)
{
    (void)state;
    model *m = folded_pad_model();
    td_compare_forward(m, 1, 1, 1, 0, 80);
    td_compare_forward(m, 5, 5, 2, 0, 81);
    model_free(m);
    m = folded_input_pad_model();
    td_compare_forward(m, 1, 1, 1, 0, 82);
    td_compare_forward(m, 3, 3, 1, 0, 83);
    model_free(m);
}

static void test_zeropad_folded_gradients_match_reference(void **state)
{
    (void)state;
    model *m = folded_pad_model();
    td_compare_param_grads(m, 3, 1, -1, 84);
    model_free(m);
    m = folded_input_pad_model();
    td_compare_param_grads(m, 2, 1, -1, 85);
    model_free(m);
}

static void test_zeropad_unfolded_matches_reference(void **state)
{
    (void)state;
    model *m = unfolded_pad_model();
    td_compare_forward(m, 2, 2, 1, 0, 86);
    td_compare_param_grads(m, 2, 1, -1, 87);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeropad_hand_computed_both_backends),
        cmocka_unit_test(test_zeropad_matches_reference),
        cmocka_unit_test(test_zeropad_gradients_match_reference),
        cmocka_unit_test(test_zeropad_folded_into_conv_matches_reference),
        cmocka_unit_test(test_zeropad_folded_gradients_match_reference),
        cmocka_unit_test(test_zeropad_unfolded_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
