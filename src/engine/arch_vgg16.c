/*
 * arch_vgg16.c - Keras' VGG16 without its classifier (include_top=False):
 *
 *   input_1, then five blocks of 3x3 'same' ReLU convolutions
 *   (block1: 2 x 64, block2: 2 x 128, block3: 3 x 256, block4/5: 3 x 512),
 *   each followed by a 2x2 max pooling: block1_conv1 ... block5_pool.
 *
 * 14,714,688 parameters; caffe preprocessing.  The layer names are Keras', so
 * Keras' vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 loads by name.
 */
#include "engine/arch.h"

#include <stdio.h>

#define ARCH_MAX_SIZE 4096

model *arch_vgg16(int img_size, cd_err *err)
{
    if (img_size <= 0 || img_size > ARCH_MAX_SIZE) {
        cd_err_set(err, CD_ERR_INVALID, "vgg16: input size %d out of range (1..%d)", img_size,
                   ARCH_MAX_SIZE);
        return NULL;
    }
    static const int convs[5] = {2, 2, 3, 3, 3};
    static const int width[5] = {64, 128, 256, 512, 512};
    model *m = model_new("vgg16", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "vgg16");
    m->preprocess = CD_PRE_CAFFE;

    layer in = layer_template(LAYER_INPUT, "input_1", -1);
    in.in_h = in.in_w = img_size;
    in.in_c = 3;
    int prev = model_add(m, &in, err);
    for (int b = 0; b < 5 && prev >= 0; b++) {
        char name[32];
        for (int c = 0; c < convs[b] && prev >= 0; c++) {
            snprintf(name, sizeof name, "block%d_conv%d", b + 1, c + 1);
            layer l = layer_template(LAYER_CONV2D, name, prev);
            l.filters = width[b];
            l.kernel[0] = l.kernel[1] = 3;
            l.padding = PAD_SAME;
            l.act = ACT_RELU;
            prev = model_add(m, &l, err);
        }
        if (prev < 0)
            break;
        snprintf(name, sizeof name, "block%d_pool", b + 1);
        layer p = layer_template(LAYER_MAXPOOL2D, name, prev);
        p.pool[0] = p.pool[1] = 2;
        p.strides[0] = p.strides[1] = 2;
        prev = model_add(m, &p, err);
    }
    if (prev < 0 || model_infer_shapes(m, err) != 0) {
        if (prev >= 0)
            cd_err_wrap(err, "vgg16 at %dx%d", img_size, img_size);
        model_free(m);
        return NULL;
    }
    return m;
}
