/* tests/engine/test_op_zeropad2d.c - ZeroPadding2D: hand-computed padding
 * (uneven sides) in both backends, oneDNN against the reference after a
 * blocked-layout convolution, and the gradients through it in training; pads
 * folded into the stride-2 Conv2D / DepthwiseConv2D that reads them (oneDNN's
 * asymmetric padding_l / padding_r) and pads that must stay copies; at
 * inference, pads over a non-negative map folded into the VALID max pooling
 * that reads them (ResNet's stem), and pads over a map that may be negative,
 * or in training, that must not be. */
#include "test_dnnl_common.h"
#include "engine/dnnl_plan.h"

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

/* conv (act) -> pad -> VALID max pooling, twice: ResNet's stem (pads 1 on
 * every side, 3x3 stride 2) and asymmetric pads under a 2x3 pool; then a
 * 1x1 convolution and the head.  z[0], z[1]: the two ZeroPadding2D layers. */
static model *pool_pad_model(layer_act act, int z[2])
{
    model *m = td_model(12, 11, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, act, 1);
    x = z[0] = td_zeropad(m, x, 1, 1, 1, 1);
    x = td_pool(m, x, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID); /* 14x13 -> 6x6 */
    x = td_conv(m, x, 16, 1, 1, 1, 1, PAD_VALID, act, 1);
    x = z[1] = td_zeropad(m, x, 0, 1, 2, 1);
    x = td_pool(m, x, LAYER_MAXPOOL2D, 2, 3, 2, 1, PAD_VALID); /* 7x9 -> 3x7 */
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
    return m;
}

/* 1 when ZeroPadding2D layer z is an alias in m's oneDNN plan for batch n. */
static int pad_folded(const model *m, int z, int n, int training)
{
    td_plan t;
    td_plan_new(&t, m, n, (dn_plan_cfg){.training = training});
    int folded = t.p->nodes[z].root != z;
    td_plan_free(&t);
    return folded;
}

/* After a ReLU / ReLU6 / sigmoid the pads go into the pooling (no copy) at
 * inference and the outputs and every activation (the folded pad's padded
 * map included) equal the reference's; training keeps the copies and its
 * gradients equal the reference's too. */
static void test_zeropad_folded_into_maxpool_matches_reference(void **state)
{
    (void)state;
    const layer_act acts[3] = {ACT_RELU, ACT_RELU6, ACT_SIGMOID};
    for (int a = 0; a < 3; a++) {
        int z[2];
        model *m = pool_pad_model(acts[a], z);
        for (int k = 0; k < 2; k++) {
            assert_true(pad_folded(m, z[k], 2, 0));
            assert_false(pad_folded(m, z[k], 2, 1));
        }
        td_compare_forward(m, 1, 1, 1, 0, 90u + (uint64_t)a);
        td_compare_forward(m, 3, 3, 2, 0, 93u + (uint64_t)a);
        if (a == 0)
            td_compare_param_grads(m, 2, 1, -1, 96);
        model_free(m);
    }
}

/* Over tanh / linear maps (negative values: a window of negatives beside the
 * pads has the maximum 0) the pads stay copies and the reference's maxima
 * hold; so does a Keras ReLU with a negative threshold. */
static void test_zeropad_before_maxpool_of_negatives_stays_a_copy(void **state)
{
    (void)state;
    const layer_act acts[3] = {ACT_TANH, ACT_LINEAR, ACT_RELU_X};
    for (int a = 0; a < 3; a++) {
        int z[2];
        model *m = pool_pad_model(acts[a], z);
        if (acts[a] == ACT_RELU_X)
            for (int i = 0; i < m->n_layers; i++)
                if (m->layers[i].act == ACT_RELU_X)
                    m->layers[i].act_p.threshold = -0.5f;
        for (int k = 0; k < 2; k++)
            assert_false(pad_folded(m, z[k], 2, 0));
        td_compare_forward(m, 2, 2, 1, 0, 97u + (uint64_t)a);
        model_free(m);
    }
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
        cmocka_unit_test(test_zeropad_folded_into_maxpool_matches_reference),
        cmocka_unit_test(test_zeropad_before_maxpool_of_negatives_stays_a_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
