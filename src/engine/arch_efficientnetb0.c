/*
 * arch_efficientnetb0.c - Keras' EfficientNetB0 without its classifier
 * (keras.applications.EfficientNetB0(include_top=False), Keras 2.10+ / 3),
 * layer for layer:
 *
 *   input_1 - rescaling (1/255) - normalization (mean, variance, count) -
 *   rescaling_1 - stem_conv_pad - stem_conv (32, 3x3, stride 2, valid, no
 *   bias) - stem_bn - stem_activation
 *   block1a ... block7a: [expand_conv (1x1), expand_bn, expand_activation]
 *       (expand ratio 6; none in block1a), [dwconv_pad] (stride 2), dwconv,
 *       bn, activation, se_squeeze (GlobalAveragePooling2D), se_reshape
 *       (1, 1, C), se_reduce (1x1, bias, swish), se_expand (1x1, bias,
 *       sigmoid), se_excite (Multiply), project_conv (1x1), project_bn,
 *       [drop, add] (stride 1 and as many channels in as out)
 *   top_conv (1280, 1x1, no bias) - top_bn - top_activation
 *
 * Stages (kernel, repeats, output channels, stride of the first block):
 * 1 (3, 1, 16, 1), 2 (3, 2, 24, 2), 3 (5, 2, 40, 2), 4 (3, 3, 80, 2),
 * 5 (5, 3, 112, 1), 6 (5, 4, 192, 2), 7 (3, 1, 320, 1); blocks are named
 * block<stage><a, b, ...>_.  The squeeze has max(1, in_channels / 4) channels,
 * the block's input channels (not the expanded ones).  Every activation is
 * swish, every BatchNormalization Keras' default (epsilon 1e-3, momentum
 * 0.99).  A stride-2 convolution pads as Keras' correct_pad does: k/2 at the
 * end, k/2 at the start less one on an even size.  The Dropout before each add
 * has Keras' drop-connect rate 0.2 * block index / 16; Keras drops whole
 * samples there (noise_shape (None, 1, 1, 1)), catdog's Dropout single values
 * -- the same at inference, a different regulariser in training.
 *
 * rescaling_1: Keras (2.10+, with weights='imagenet', the default) multiplies
 * by 1 / sqrt(stddev) per channel, stddev ImageNet's [0.229, 0.224, 0.225],
 * because its ImageNet file's normalization holds the standard deviations
 * where the variances belong (Keras' efficientnet.py:
 * layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in
 * IMAGENET_STDDEV_RGB])).  This layer is that per-channel Rescaling, scale
 * the list [1/sqrt(0.229), 1/sqrt(0.224), 1/sqrt(0.225)] (rounded to float32
 * as Keras stores them), offset 0; no parameters.
 *
 * 4,049,571 parameters (4,007,548 trainable; the rest are BN moving
 * statistics and normalization's 7 numbers) at any input size; raw pixels
 * 0..255 in (the model normalizes).  Output top_activation, 7x7x1280 at 224.
 */
#include "engine/arch_blocks.h"

#include <math.h>
#include <stdio.h>

#define BN_EPS 1e-3f
#define BN_MOMENTUM 0.99f
#define N_BLOCKS 16 /* sum of the repeats: drop-connect rates are b / 16 of 0.2 */

/* Keras' correct_pad(x, k) then a 'valid' stride-2 convolution: the pad
 * layer; *size updated to the convolution's output. */
static int pad_for_stride2(model *m, int x, int k, int *size, cd_err *err, const char *name)
{
    int adjust = 1 - *size % 2;
    x = arch_zeropad(m, x, k / 2 - adjust, k / 2, k / 2 - adjust, k / 2, err, "%s", name);
    *size = (*size + 1) / 2;
    return x;
}

/* One MBConv block named prefix; returns its last layer. */
static int mbconv(model *m, int in, int in_c, int out_c, int k, int stride, int expand,
                  float drop, const char *prefix, int *size, cd_err *err)
{
    int filters = in_c * expand, x = in;
    if (expand != 1) {
        x = arch_conv(m, x, filters, 1, 1, PAD_SAME, 0, err, "%sexpand_conv", prefix);
        x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sexpand_bn", prefix);
        x = arch_act(m, x, ACT_SWISH, err, "%sexpand_activation", prefix);
    }
    if (stride == 2) {
        char name[LAYER_NAME_MAX];
        snprintf(name, sizeof name, "%sdwconv_pad", prefix);
        x = pad_for_stride2(m, x, k, size, err, name);
        x = arch_depthwise(m, x, k, 2, PAD_VALID, err, "%sdwconv", prefix);
    } else {
        x = arch_depthwise(m, x, k, 1, PAD_SAME, err, "%sdwconv", prefix);
    }
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sbn", prefix);
    x = arch_act(m, x, ACT_SWISH, err, "%sactivation", prefix);

    int se_c = in_c / 4 > 1 ? in_c / 4 : 1;
    int se = arch_gap(m, x, err, "%sse_squeeze", prefix);
    se = arch_reshape(m, se, 1, 1, filters, err, "%sse_reshape", prefix);
    se = arch_conv(m, se, se_c, 1, 1, PAD_SAME, 1, err, "%sse_reduce", prefix);
    if (se >= 0)
        layer_set_act(&m->layers[se], ACT_SWISH);
    se = arch_conv(m, se, filters, 1, 1, PAD_SAME, 1, err, "%sse_expand", prefix);
    if (se >= 0)
        layer_set_act(&m->layers[se], ACT_SIGMOID);
    x = arch_multiply(m, x, se, err, "%sse_excite", prefix);

    x = arch_conv(m, x, out_c, 1, 1, PAD_SAME, 0, err, "%sproject_conv", prefix);
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "%sproject_bn", prefix);
    if (stride == 1 && in_c == out_c) {
        if (drop > 0.0f)
            x = arch_dropout(m, x, drop, err, "%sdrop", prefix);
        x = arch_add(m, x, in, err, "%sadd", prefix);
    }
    return x;
}

model *arch_efficientnetb0(int img_size, cd_err *err)
{
    /* Keras refuses inputs under 32x32 (obtain_input_shape, min_size 32). */
    if (arch_check_size("efficientnetb0", img_size, 32, err) != 0)
        return NULL;
    static const struct {
        int k, repeats, out_c, stride;
    } stages[7] = {{3, 1, 16, 1}, {3, 2, 24, 2},  {5, 2, 40, 2}, {3, 3, 80, 2},
                   {5, 3, 112, 1}, {5, 4, 192, 2}, {3, 1, 320, 1}};
    model *m = model_new("efficientnetb0", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "efficientnetb0");
    m->preprocess = CD_PRE_NONE;

    int x = arch_input(m, img_size, err);
    x = arch_rescaling(m, x, 1.0f / 255.0f, 0.0f, err, "rescaling");
    x = arch_normalization(m, x, err, "normalization");
    /* Keras' per-channel 1 / sqrt(stddev): see the top. */
    const float inv_sqrt_std[3] = {(float)(1.0 / sqrt(0.229)), (float)(1.0 / sqrt(0.224)),
                                   (float)(1.0 / sqrt(0.225))};
    x = arch_rescaling_channels(m, x, 3, inv_sqrt_std, 0.0f, err, "rescaling_1");
    int size = img_size;
    x = pad_for_stride2(m, x, 3, &size, err, "stem_conv_pad");
    x = arch_conv(m, x, 32, 3, 2, PAD_VALID, 0, err, "stem_conv");
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "stem_bn");
    x = arch_act(m, x, ACT_SWISH, err, "stem_activation");

    int in_c = 32, b = 0;
    for (int s = 0; s < 7; s++) {
        for (int j = 0; j < stages[s].repeats; j++, b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "block%d%c_", s + 1, 'a' + j);
            x = mbconv(m, x, in_c, stages[s].out_c, stages[s].k, j == 0 ? stages[s].stride : 1,
                       s == 0 ? 1 : 6, 0.2f * (float)b / N_BLOCKS, prefix, &size, err);
            in_c = stages[s].out_c;
        }
    }
    x = arch_conv(m, x, 1280, 1, 1, PAD_SAME, 0, err, "top_conv");
    x = arch_bn(m, x, BN_EPS, BN_MOMENTUM, err, "top_bn");
    x = arch_act(m, x, ACT_SWISH, err, "top_activation");
    return arch_finish(m, x, "efficientnetb0", img_size, err);
}
