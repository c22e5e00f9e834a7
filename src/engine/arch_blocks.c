/*
 * arch_blocks.c - the layer-adding steps of the larger built-in
 * architectures (see arch_blocks.h).
 */
#include "engine/arch_blocks.h"

#include <stdarg.h>
#include <stdio.h>

#define ARCH_MAX_SIZE 4096

int arch_check_size(const char *what, int size, int min, cd_err *err)
{
    if (size < min || size > ARCH_MAX_SIZE)
        return cd_err_set(err, CD_ERR_INVALID, "%s: input size %d out of range (%d..%d)", what,
                          size, min, ARCH_MAX_SIZE);
    return 0;
}

/* A template of `kind` reading `in`, named from fmt/ap. */
static layer named(layer_kind kind, int in, const char *fmt, va_list ap)
{
    char name[LAYER_NAME_MAX];
    vsnprintf(name, sizeof name, fmt, ap);
    return layer_template(kind, name, in);
}

int arch_input(model *m, int size, cd_err *err)
{
    layer l = layer_template(LAYER_INPUT, "input_1", -1);
    l.in_h = l.in_w = size;
    l.in_c = 3;
    return model_add(m, &l, err);
}

int arch_conv(model *m, int in, int filters, int k, int s, layer_pad pad, int use_bias,
              cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_CONV2D, in, fmt, ap);
    va_end(ap);
    l.filters = filters;
    l.kernel[0] = l.kernel[1] = k;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    l.use_bias = use_bias;
    return model_add(m, &l, err);
}

int arch_depthwise(model *m, int in, int k, int s, layer_pad pad, cd_err *err, const char *fmt,
                   ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_DEPTHWISE_CONV2D, in, fmt, ap);
    va_end(ap);
    l.kernel[0] = l.kernel[1] = k;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    l.use_bias = 0;
    return model_add(m, &l, err);
}

int arch_bn(model *m, int in, float epsilon, float momentum, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_BATCHNORM, in, fmt, ap);
    va_end(ap);
    l.epsilon = epsilon;
    l.rate = momentum;
    return model_add(m, &l, err);
}

int arch_act(model *m, int in, layer_act act, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_ACTIVATION, in, fmt, ap);
    va_end(ap);
    layer_set_act(&l, act);
    return model_add(m, &l, err);
}

int arch_zeropad(model *m, int in, int top, int bottom, int left, int right, cd_err *err,
                 const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_ZEROPAD2D, in, fmt, ap);
    va_end(ap);
    l.pad4[0] = top;
    l.pad4[1] = bottom;
    l.pad4[2] = left;
    l.pad4[3] = right;
    return model_add(m, &l, err);
}

int arch_maxpool(model *m, int in, int k, int s, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_MAXPOOL2D, in, fmt, ap);
    va_end(ap);
    l.pool[0] = l.pool[1] = k;
    l.strides[0] = l.strides[1] = s;
    l.padding = PAD_VALID;
    return model_add(m, &l, err);
}

int arch_add(model *m, int a, int b, cd_err *err, const char *fmt, ...)
{
    if (a < 0 || b < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_ADD, a, fmt, ap);
    va_end(ap);
    l.inputs[1] = b;
    l.n_inputs = 2;
    return model_add(m, &l, err);
}

int arch_rescaling(model *m, int in, float scale, float offset, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_RESCALING, in, fmt, ap);
    va_end(ap);
    l.rescale[0][0] = scale;
    l.rescale[1][0] = offset;
    return model_add(m, &l, err);
}

int arch_rescaling_channels(model *m, int in, int n, const float *scale, float offset, cd_err *err,
                            const char *fmt, ...)
{
    if (in < 0)
        return -1;
    if (n < 1 || n > LAYER_RESCALE_MAX)
        return cd_err_set(err, CD_ERR_INVALID, "Rescaling: %d scales (1 to %d)", n,
                          LAYER_RESCALE_MAX);
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_RESCALING, in, fmt, ap);
    va_end(ap);
    for (int c = 0; c < n; c++)
        l.rescale[0][c] = scale[c];
    l.rescale_n[0] = n;
    l.rescale[1][0] = offset;
    return model_add(m, &l, err);
}

int arch_normalization(model *m, int in, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_NORMALIZATION, in, fmt, ap);
    va_end(ap);
    return model_add(m, &l, err);
}

int arch_gap(model *m, int in, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_GLOBAL_AVGPOOL2D, in, fmt, ap);
    va_end(ap);
    return model_add(m, &l, err);
}

int arch_reshape(model *m, int in, int h, int w, int c, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_RESHAPE, in, fmt, ap);
    va_end(ap);
    l.target[0] = h;
    l.target[1] = w;
    l.target[2] = c;
    l.target_rank = 3;
    return model_add(m, &l, err);
}

int arch_multiply(model *m, int a, int b, cd_err *err, const char *fmt, ...)
{
    if (a < 0 || b < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_MULTIPLY, a, fmt, ap);
    va_end(ap);
    l.inputs[1] = b;
    l.n_inputs = 2;
    return model_add(m, &l, err);
}

int arch_dropout(model *m, int in, float rate, cd_err *err, const char *fmt, ...)
{
    if (in < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    layer l = named(LAYER_DROPOUT, in, fmt, ap);
    va_end(ap);
    l.rate = rate;
    return model_add(m, &l, err);
}

model *arch_finish(model *m, int last, const char *what, int size, cd_err *err)
{
    if (last >= 0 && model_infer_shapes(m, err) == 0)
        return m;
    cd_err_wrap(err, "%s at %dx%d", what, size, size);
    model_free(m);
    return NULL;
}
