/*
 * arch_blocks.h - internal to engine/: the layer-adding steps the built-in
 * architectures with many layers (arch_mobilenetv2.c, arch_resnet50.c,
 * arch_efficientnetb0.c) are
 * written in, one Keras layer per call.
 *
 * Each step takes the index of its input layer and returns the new layer's
 * index; an input < 0 (an earlier step failed, err already filled) is passed
 * on without doing anything, so a builder chains steps and checks once, in
 * arch_finish.  The layer's name is printf-formatted from the last arguments.
 * Every configuration field a step does not mention keeps Keras' default
 * (layer_template): strides 1, use_bias 1, linear activation.
 */
#ifndef CATDOG_ENGINE_ARCH_BLOCKS_H
#define CATDOG_ENGINE_ARCH_BLOCKS_H

#include "engine/arch.h"

#define ARCH_FMT(i) __attribute__((format(printf, i, i + 1)))

/* 0 when size is within [min, 4096], else -1 with err naming `what`. */
int arch_check_size(const char *what, int size, int min, cd_err *err);

/* InputLayer "input_1" of size x size x 3: the first layer of m. */
int arch_input(model *m, int size, cd_err *err);

/* Conv2D: square kernel k, stride s. */
int arch_conv(model *m, int in, int filters, int k, int s, layer_pad pad, int use_bias,
              cd_err *err, const char *fmt, ...) ARCH_FMT(9);

/* DepthwiseConv2D (depth_multiplier 1), no bias: square kernel k, stride s. */
int arch_depthwise(model *m, int in, int k, int s, layer_pad pad, cd_err *err, const char *fmt,
                   ...) ARCH_FMT(7);

/* BatchNormalization with gamma and beta. */
int arch_bn(model *m, int in, float epsilon, float momentum, cd_err *err, const char *fmt, ...)
    ARCH_FMT(6);

/* Activation layer (ACT_RELU6 is Keras' ReLU(6.) layer). */
int arch_act(model *m, int in, layer_act act, cd_err *err, const char *fmt, ...) ARCH_FMT(5);

/* ZeroPadding2D: top, bottom, left, right. */
int arch_zeropad(model *m, int in, int top, int bottom, int left, int right, cd_err *err,
                 const char *fmt, ...) ARCH_FMT(8);

/* MaxPooling2D: square pool k, stride s, valid. */
int arch_maxpool(model *m, int in, int k, int s, cd_err *err, const char *fmt, ...) ARCH_FMT(6);

/* Add of inputs a and b, in that order. */
int arch_add(model *m, int a, int b, cd_err *err, const char *fmt, ...) ARCH_FMT(5);

/* Rescaling: x * scale + offset. */
int arch_rescaling(model *m, int in, float scale, float offset, cd_err *err, const char *fmt, ...)
    ARCH_FMT(6);

/* Rescaling with a list of n scales (one per channel, or one for all, as
 * Keras' config holds it) and a number offset. */
int arch_rescaling_channels(model *m, int in, int n, const float *scale, float offset, cd_err *err,
                            const char *fmt, ...) ARCH_FMT(7);

/* Normalization over the channel axis (mean, variance, count; Keras' epsilon). */
int arch_normalization(model *m, int in, cd_err *err, const char *fmt, ...) ARCH_FMT(4);

/* GlobalAveragePooling2D (output (N, C), keepdims off). */
int arch_gap(model *m, int in, cd_err *err, const char *fmt, ...) ARCH_FMT(4);

/* Reshape to (h, w, c). */
int arch_reshape(model *m, int in, int h, int w, int c, cd_err *err, const char *fmt, ...)
    ARCH_FMT(7);

/* Multiply of inputs a and b, in that order. */
int arch_multiply(model *m, int a, int b, cd_err *err, const char *fmt, ...) ARCH_FMT(5);

/* Dropout at rate. */
int arch_dropout(model *m, int in, float rate, cd_err *err, const char *fmt, ...) ARCH_FMT(5);

/* Infers m's shapes when last >= 0 and returns m; otherwise, or when that
 * fails, frees m and returns NULL, err saying `what` at size x size. */
model *arch_finish(model *m, int last, const char *what, int size, cd_err *err);

#endif
