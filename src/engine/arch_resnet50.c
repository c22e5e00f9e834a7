/*
 * arch_resnet50.c - Keras' ResNet50 without its classifier
 * (keras.applications.ResNet50(include_top=False)), layer for layer:
 *
 *   input_1 - conv1_pad (3) - conv1_conv (64, 7x7, stride 2, valid) - conv1_bn
 *   - conv1_relu - pool1_pad (1) - pool1_pool (max 3x3, stride 2)
 *   conv2 (3 blocks, 64), conv3 (4 blocks, 128), conv4 (6, 256), conv5 (3, 512)
 *
 * A block convN_blockB (Keras' block1, "bottleneck") of f filters:
 *   _1_conv (f, 1x1, the block's stride), _1_bn, _1_relu,
 *   _2_conv (f, 3x3, same), _2_bn, _2_relu,
 *   _0_conv (4f, 1x1, the stride; first block of a stage only: the shortcut),
 *   _3_conv (4f, 1x1), _0_bn, _3_bn, _add (shortcut + _3_bn), _out (relu)
 * in the order Keras lists the layers.  The stride (2, except in conv2) is on
 * the first 1x1 convolution, as in Keras (ResNet v1) -- torchvision's resnet50
 * puts it on the 3x3 (v1.5), so the two compute different things.
 * Convolutions have biases; BatchNormalization epsilon 1.001e-5, momentum 0.99.
 *
 * 23,587,712 parameters (23,534,592 trainable) at any input size; caffe
 * preprocessing.  The output is conv5_block3_out (7x7x2048 at 224).
 */
#include "engine/arch_blocks.h"

#include <stdio.h>

#define BN_EPS 1.001e-5f
#define BN_MOMENTUM 0.99f

static int block(model *m, int in, int filters, int stride, int conv_shortcut, const char *name,
                 cd_err *err)
{
    int x = arch_conv(m, in, filters, 1, stride, PAD_VALID, 1, err, "%s_1_conv", name);
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%s_1_bn", name);
    x = arch_act(m, x, ACT_RELU, err, "%s_1_relu", name);
    x = arch_conv(m, x, filters, 3, 1, PAD_SAME, 1, err, "%s_2_conv", name);
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%s_2_bn", name);
    x = arch_act(m, x, ACT_RELU, err, "%s_2_relu", name);
    int shortcut = in;
    if (conv_shortcut) {
        shortcut = arch_conv(m, x < 0 ? -1 : in, 4 * filters, 1, stride, PAD_VALID, 1, err,
                             "%s_0_conv", name);
        x = arch_conv(m, shortcut < 0 ? -1 : x, 4 * filters, 1, 1, PAD_VALID, 1, err,
                      "%s_3_conv", name);
        shortcut = arch_bn(m, x < 0 ? -1 : shortcut, BN_EPS, BN_MOMENTUM, err, "%s_0_bn", name);
        x = arch_bn(m, shortcut < 0 ? -1 : x, BN_EPS, BN_MOMENTUM, err, "%s_3_bn", name);
    } else {
        x = arch_conv(m, x, 4 * filters, 1, 1, PAD_VALID, 1, err, "%s_3_conv", name);
        x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%s_3_bn", name);
    }
    x = arch_add(m, shortcut, x, err, "%s_add", name);
    return arch_act(m, x, ACT_RELU, err, "%s_out", name);
}

model *arch_resnet50(int img_size, cd_err *err)
{
    /* Keras refuses inputs under 32x32 (obtain_input_shape, min_size 32). */
    if (arch_check_size("resnet50", img_size, 32, err) != 0)
        return NULL;
    static const int n_blocks[4] = {3, 4, 6, 3};
    static const int width[4] = {64, 128, 256, 512};
    model *m = model_new("resnet50", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "resnet50");
    m->preprocess = CD_PRE_CAFFE;

    int x = arch_input(m, img_size, err);
    x = arch_zeropad(m, x, 3, 3, 3, 3, err, "conv1_pad");
    x = arch_conv(m, x, 64, 7, 2, PAD_VALID, 1, err, "conv1_conv");
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "conv1_bn");
    x = arch_act(m, x, ACT_RELU, err, "conv1_relu");
    x = arch_zeropad(m, x, 1, 1, 1, 1, err, "pool1_pad");
    x = arch_maxpool(m, x, 3, 2, err, "pool1_pool");
    for (int s = 0; s < 4; s++)
        for (int b = 1; b <= n_blocks[s]; b++) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_block%d", s + 2, b);
            x = block(m, x, width[s], b == 1 && s > 0 ? 2 : 1, b == 1, name, err);
        }
    return arch_finish(m, x, "resnet50", img_size, err);
}
