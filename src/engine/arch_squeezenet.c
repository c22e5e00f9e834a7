/*
 * arch_squeezenet.c - SqueezeNet 1.1 without its classifier, exactly as the
 * keras-squeezenet weights file (squeezenet_weights_tf_dim_ordering_tf_kernels_
 * notop.h5) lays it out, so keras_load_weights matches its layers by name:
 *
 *   input_1 - conv1 (64, 3x3, stride 2, valid, relu) - pool1 (max 3x3 / 2)
 *   fire2 (squeeze 16, expand 64)   fire3 (16, 64)    pool3 (max 3x3 / 2)
 *   fire4 (32, 128)   fire5 (32, 128)                 pool5 (max 3x3 / 2)
 *   fire6 (48, 192)   fire7 (48, 192)   fire8 (64, 256)   fire9 (64, 256)
 *
 * A Fire module N is fireN/squeeze1x1 (1x1, relu), then fireN/expand1x1 (1x1,
 * relu) and fireN/expand3x3 (3x3 same, relu) side by side, joined by
 * fireN/concat (expand1x1 channels first).  The file's separate ReLU layers
 * (relu_conv1, fireN/relu_*) carry no weights; here the ReLU is fused into each
 * convolution, which computes the same.  The output is fire9/concat (512
 * channels: 8x8 at 150, 13x13 at 224); the file's drop9 is left to the head.
 * Caffe preprocessing.
 */
#include "engine/arch.h"

#include <stdio.h>

#define ARCH_MAX_SIZE 4096

static int add_conv(model *m, const char *name, int input, int filters, int k, int stride,
                    layer_pad pad, cd_err *err)
{
    layer l = layer_template(LAYER_CONV2D, name, input);
    l.filters = filters;
    l.kernel[0] = l.kernel[1] = k;
    l.strides[0] = l.strides[1] = stride;
    l.padding = pad;
    l.act = ACT_RELU;
    return model_add(m, &l, err);
}

static int add_pool(model *m, const char *name, int input, cd_err *err)
{
    layer p = layer_template(LAYER_MAXPOOL2D, name, input);
    p.pool[0] = p.pool[1] = 3;
    p.strides[0] = p.strides[1] = 2;
    return model_add(m, &p, err);
}

static int add_fire(model *m, int id, int input, int squeeze, int expand, cd_err *err)
{
    char sq[32], e1[32], e3[32], cat[32];
    snprintf(sq, sizeof sq, "fire%d/squeeze1x1", id);
    snprintf(e1, sizeof e1, "fire%d/expand1x1", id);
    snprintf(e3, sizeof e3, "fire%d/expand3x3", id);
    snprintf(cat, sizeof cat, "fire%d/concat", id);
    int s = add_conv(m, sq, input, squeeze, 1, 1, PAD_VALID, err);
    if (s < 0)
        return -1;
    int a = add_conv(m, e1, s, expand, 1, 1, PAD_VALID, err);
    int b = a < 0 ? -1 : add_conv(m, e3, s, expand, 3, 1, PAD_SAME, err);
    if (b < 0)
        return -1;
    layer c = layer_template(LAYER_CONCAT, cat, a);
    c.inputs[1] = b;
    c.n_inputs = 2;
    return model_add(m, &c, err);
}

model *arch_squeezenet(int img_size, cd_err *err)
{
    if (img_size <= 0 || img_size > ARCH_MAX_SIZE) {
        cd_err_set(err, CD_ERR_INVALID, "squeezenet: input size %d out of range (1..%d)",
                   img_size, ARCH_MAX_SIZE);
        return NULL;
    }
    static const int squeeze[8] = {16, 16, 32, 32, 48, 48, 64, 64};
    static const int expand[8] = {64, 64, 128, 128, 192, 192, 256, 256};
    model *m = model_new("squeezenet", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "squeezenet");
    m->preprocess = CD_PRE_CAFFE;

    layer in = layer_template(LAYER_INPUT, "input_1", -1);
    in.in_h = in.in_w = img_size;
    in.in_c = 3;
    int prev = model_add(m, &in, err);
    if (prev >= 0)
        prev = add_conv(m, "conv1", prev, 64, 3, 2, PAD_VALID, err);
    if (prev >= 0)
        prev = add_pool(m, "pool1", prev, err);
    for (int f = 2; f <= 9 && prev >= 0; f++) {
        prev = add_fire(m, f, prev, squeeze[f - 2], expand[f - 2], err);
        if (prev >= 0 && (f == 3 || f == 5))
            prev = add_pool(m, f == 3 ? "pool3" : "pool5", prev, err);
    }
    if (prev < 0 || model_infer_shapes(m, err) != 0) {
        if (prev >= 0)
            cd_err_wrap(err, "squeezenet at %dx%d", img_size, img_size);
        model_free(m);
        return NULL;
    }
    return m;
}
