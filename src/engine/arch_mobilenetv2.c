/*
 * arch_mobilenetv2.c - Keras' MobileNetV2 (alpha 1.0) without its classifier
 * (keras.applications.MobileNetV2(include_top=False)), layer for layer:
 *
 *   input_1 - Conv1 (32, 3x3, stride 2, same, no bias) - bn_Conv1 - Conv1_relu
 *   expanded_conv_: depthwise, depthwise_BN, depthwise_relu, project (16),
 *                   project_BN                           (expansion 1: no expand)
 *   block_1_ ... block_16_: expand (6 x in channels, 1x1), expand_BN,
 *                   expand_relu, [pad], depthwise (3x3), depthwise_BN,
 *                   depthwise_relu, project (1x1), project_BN, [add]
 *   Conv_1 (1280, 1x1, no bias) - Conv_1_bn - out_relu
 *
 * Blocks (output channels, stride): 1-2 (24, 2 then 1), 3-5 (32, 2), 6-9
 * (64, 2), 10-12 (96, 1), 13-15 (160, 2), 16 (320, 1).  A block whose stride is
 * 1 and whose input has its output's channels adds its input back (add).  Every
 * ReLU is Keras' ReLU(6.), every BatchNormalization epsilon 1e-3, momentum
 * 0.999; convolutions have no bias.
 *
 * A stride-2 block pads before its 'valid' depthwise convolution as Keras'
 * correct_pad does: one row and column at the end on an even input, one on
 * each side on an odd one (block_N_pad) -- not symmetrically as torchvision's
 * mobilenet_v2, which therefore computes something else on even sizes.
 *
 * 2,257,984 parameters (2,223,872 trainable) at any input size; tf
 * preprocessing ([-1, 1]).  The model is named as Keras names it
 * (mobilenetv2_1.00_224), the output is out_relu (7x7x1280 at 224).
 */
#include "engine/arch_blocks.h"

#include <stdio.h>

#define BN_EPS 1e-3f
#define BN_MOMENTUM 0.999f

/* One inverted residual block; *size is the input's height (= width), updated
 * to the output's.  Returns the block's last layer. */
static int inverted_res(model *m, int in, int in_c, int filters, int stride, int expansion,
                        int id, int *size, cd_err *err)
{
    char prefix[32];
    int x = in;
    if (id > 0) {
        snprintf(prefix, sizeof prefix, "block_%d_", id);
        x = arch_conv(m, x, expansion * in_c, 1, 1, PAD_SAME, 0, err, "%sexpand", prefix);
        x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sexpand_BN", prefix);
        x = arch_act(m, x, ACT_RELU6, err, "%sexpand_relu", prefix);
    } else {
        snprintf(prefix, sizeof prefix, "expanded_conv_");
    }
    if (stride == 2) {
        /* Keras' correct_pad(x, 3) for a known size. */
        int adjust = 1 - *size % 2;
        x = arch_zeropad(m, x, 1 - adjust, 1, 1 - adjust, 1, err, "%spad", prefix);
        x = arch_depthwise(m, x, 3, 2, PAD_VALID, err, "%sdepthwise", prefix);
        *size = (*size + 1) / 2;
    } else {
        x = arch_depthwise(m, x, 3, 1, PAD_SAME, err, "%sdepthwise", prefix);
    }
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sdepthwise_BN", prefix);
    x = arch_act(m, x, ACT_RELU6, err, "%sdepthwise_relu", prefix);
    x = arch_conv(m, x, filters, 1, 1, PAD_SAME, 0, err, "%sproject", prefix);
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sproject_BN", prefix);
    if (in_c == filters && stride == 1)
        x = arch_add(m, in, x, err, "%sadd", prefix);
    return x;
}

model *arch_mobilenetv2(int img_size, cd_err *err)
{
    /* Keras refuses inputs under 32x32 (obtain_input_shape, min_size 32). */
    if (arch_check_size("mobilenetv2", img_size, 32, err) != 0)
        return NULL;
    static const struct {
        int filters, stride, expansion;
    } blocks[17] = {{16, 1, 1},  {24, 2, 6},  {24, 1, 6},  {32, 2, 6},  {32, 1, 6},  {32, 1, 6},
                    {64, 2, 6},  {64, 1, 6},  {64, 1, 6},  {64, 1, 6},  {96, 1, 6},  {96, 1, 6},
                    {96, 1, 6},  {160, 2, 6}, {160, 1, 6}, {160, 1, 6}, {320, 1, 6}};
    char name[MODEL_NAME_MAX];
    snprintf(name, sizeof name, "mobilenetv2_1.00_%d", img_size);
    model *m = model_new(name, err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "mobilenetv2");
    m->preprocess = CD_PRE_TF;

    int x = arch_input(m, img_size, err);
    x = arch_conv(m, x, 32, 3, 2, PAD_SAME, 0, err, "Conv1");
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "bn_Conv1");
    x = arch_act(m, x, ACT_RELU6, err, "Conv1_relu");
    int size = (img_size + 1) / 2, in_c = 32;
    for (int b = 0; b < 17; b++) {
        x = inverted_res(m, x, in_c, blocks[b].filters, blocks[b].stride, blocks[b].expansion, b,
                         &size, err);
        in_c = blocks[b].filters;
    }
    x = arch_conv(m, x, 1280, 1, 1, PAD_VALID, 0, err, "Conv_1");
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "Conv_1_bn");
    x = arch_act(m, x, ACT_RELU6, err, "out_relu");
    return arch_finish(m, x, "mobilenetv2", img_size, err);
}
