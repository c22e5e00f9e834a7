/* tests/engine/test_op_rescaling.c - Rescaling (y = x * scale[c] +
 * offset[c], scalar or per channel): hand-computed values in both backends,
 * and in training the oneDNN gradients through it equal the reference's; a
 * list whose length is neither 1 nor the channels is refused, naming the
 * layer. */
#include "test_dnnl_common.h"

#include <math.h>
#include <string.h>

static int td_rescaling(model *m, int input, float scale, float offset)
{
    layer l = layer_template(LAYER_RESCALING, "r", -1);
    l.rescale[0][0] = scale;
    l.rescale[1][0] = offset;
    return td_add(m, l, input);
}

/* Per channel: n scales, n offsets (n = 0: offset the number 0). */
static int td_rescaling_c(model *m, int input, int n, const float *scale, int n_off,
                          const float *offset)
{
    layer l = layer_template(LAYER_RESCALING, "r", -1);
    for (int c = 0; c < n; c++)
        l.rescale[0][c] = scale[c];
    for (int c = 0; c < n_off; c++)
        l.rescale[1][c] = offset[c];
    l.rescale_n[0] = n;
    l.rescale_n[1] = n_off;
    return td_add(m, l, input);
}

/* Keras' EfficientNet-style rescaling_1 (1 / sqrt(stddev) per channel) with
 * per-channel offsets on a 1x2 RGB image, by hand. */
static void test_rescaling_per_channel_hand_computed_both_backends(void **state)
{
    (void)state;
    const float s[3] = {2.0f, -0.5f, 0.25f}, o[3] = {1.0f, 0.0f, -3.0f};
    model *m = td_model(1, 2, 3);
    td_rescaling_c(m, 0, 3, s, 3, o);
    td_finish(m, 1);
    const float x[6] = {1.0f, 2.0f, 4.0f, -3.0f, 10.0f, 8.0f};
    const float want[6] = {3.0f, -1.0f, -2.0f, -5.0f, -5.0f, -1.0f};
    td_expect_both(m, x, want, 6, 0.0f, "per-channel");
    model_free(m);

    /* a one-element list and a scalar offset: every channel alike */
    const float one[1] = {3.0f}, off[1] = {0.5f};
    m = td_model(1, 1, 3);
    td_rescaling_c(m, 0, 1, one, 1, off);
    td_finish(m, 1);
    const float x2[3] = {1.0f, -1.0f, 2.0f}, want2[3] = {3.5f, -2.5f, 6.5f};
    td_expect_both(m, x2, want2, 3, 0.0f, "one-element list");
    model_free(m);

    /* per-channel scales, no offsets (EfficientNetB0's rescaling_1) */
    const float inv[3] = {(float)(1.0 / sqrt(0.229)), (float)(1.0 / sqrt(0.224)),
                          (float)(1.0 / sqrt(0.225))};
    m = td_model(1, 1, 3);
    td_rescaling_c(m, 0, 3, inv, 0, NULL);
    td_finish(m, 1);
    const float x3[3] = {1.0f, 2.0f, -1.0f};
    const float want3[3] = {inv[0], 2.0f * inv[1], -inv[2]};
    td_expect_both(m, x3, want3, 3, 0.0f, "scales only");
    model_free(m);
}

/* A list of 2 on 3 channels: a shape error naming the layer. */
static void test_rescaling_wrong_list_length_is_refused(void **state)
{
    (void)state;
    const float s[2] = {1.0f, 2.0f};
    model *m = td_model(1, 1, 3);
    td_rescaling_c(m, 0, 2, s, 0, NULL);
    cd_err err;
    assert_int_not_equal(model_infer_shapes(m, &err), 0);
    if (!strstr(err.msg, "'Rescaling_1'") || !strstr(err.msg, "scale has 2 values for 3 channels"))
        fail_msg("not the message wanted: %s", err.msg);
    model_free(m);
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

/* The same through a per-channel Rescaling (the forward and the activations
 * of both backends agree too, batch of 3). */
static void test_rescaling_per_channel_gradients_match_reference(void **state)
{
    (void)state;
    const float s[3] = {2.5f, -0.75f, 0.125f}, o[3] = {0.25f, -1.0f, 0.5f};
    model *m = td_model(5, 4, 2);
    int x = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    x = td_rescaling_c(m, x, 3, s, 3, o);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
    td_compare_forward(m, 3, 3, 1, 0, 5);
    td_compare_param_grads(m, 3, 1, 2, 4);
    model_free(m);

    /* on a vector (N, C): conv -> global average pool -> Rescaling -> dense */
    m = td_model(5, 4, 2);
    x = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    x = td_simple(m, x, LAYER_GLOBAL_AVGPOOL2D);
    x = td_rescaling_c(m, x, 3, s, 3, o);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
    td_compare_forward(m, 3, 3, 1, 0, 5);
    td_compare_param_grads(m, 3, 1, 2, 4);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rescaling_hand_computed_both_backends),
        cmocka_unit_test(test_rescaling_gradients_match_reference),
        cmocka_unit_test(test_rescaling_per_channel_hand_computed_both_backends),
        cmocka_unit_test(test_rescaling_wrong_list_length_is_refused),
        cmocka_unit_test(test_rescaling_per_channel_gradients_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
