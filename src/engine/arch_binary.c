/*
 * arch_binary.c - the seed's cat/dog CNN, with Keras' default layer names:
 *
 *   conv2d_1 (32, 3x3, relu) - max_pooling2d_1 (2x2) - conv2d_2 (32) -
 *   max_pooling2d_2 - conv2d_3 (64) - max_pooling2d_3 - flatten_1 -
 *   dense_1 (64, relu) - dropout_1 (0.5) - dense_2 (1, sigmoid)
 *
 * At 150x150 that is 1,212,513 parameters.  Preprocessing: x / 255.
 */
#include "engine/arch.h"

#include <stdio.h>

#define ARCH_MAX_SIZE 4096

model *arch_binary(int img_size, cd_err *err)
{
    if (img_size <= 0 || img_size > ARCH_MAX_SIZE) {
        cd_err_set(err, CD_ERR_INVALID, "binary: input size %d out of range (1..%d)", img_size,
                   ARCH_MAX_SIZE);
        return NULL;
    }
    model *m = model_new("sequential_1", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "binary");
    m->preprocess = CD_PRE_RESCALE;

    layer in = layer_template(LAYER_INPUT, "conv2d_1_input", -1);
    in.in_h = in.in_w = img_size;
    in.in_c = 3;
    int prev = model_add(m, &in, err);
    static const int filters[3] = {32, 32, 64};
    for (int i = 0; i < 3 && prev >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "conv2d_%d", i + 1);
        layer c = layer_template(LAYER_CONV2D, name, prev);
        c.filters = filters[i];
        c.kernel[0] = c.kernel[1] = 3;
        c.act = ACT_RELU;
        if ((prev = model_add(m, &c, err)) < 0)
            break;
        snprintf(name, sizeof name, "max_pooling2d_%d", i + 1);
        layer p = layer_template(LAYER_MAXPOOL2D, name, prev);
        p.pool[0] = p.pool[1] = 2;
        p.strides[0] = p.strides[1] = 2;
        prev = model_add(m, &p, err);
    }
    if (prev >= 0) {
        layer f = layer_template(LAYER_FLATTEN, "flatten_1", prev);
        prev = model_add(m, &f, err);
    }
    if (prev >= 0) {
        layer d = layer_template(LAYER_DENSE, "dense_1", prev);
        d.units = 64;
        d.act = ACT_RELU;
        prev = model_add(m, &d, err);
    }
    if (prev >= 0) {
        layer d = layer_template(LAYER_DROPOUT, "dropout_1", prev);
        d.rate = 0.5f;
        prev = model_add(m, &d, err);
    }
    if (prev >= 0) {
        layer d = layer_template(LAYER_DENSE, "dense_2", prev);
        d.units = 1;
        d.act = ACT_SIGMOID;
        prev = model_add(m, &d, err);
    }
    if (prev < 0 || model_infer_shapes(m, err) != 0) {
        if (prev >= 0)
            cd_err_wrap(err, "binary at %dx%d", img_size, img_size);
        model_free(m);
        return NULL;
    }
    return m;
}
