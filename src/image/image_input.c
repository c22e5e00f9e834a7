/*
 * image_input.c - RGB8 pixels to the float input a model expects.
 *
 * The preprocessing belongs to the model (core/preprocess.h) and is applied
 * here, in one place, so a model trained on x/255 is never fed Caffe-style
 * inputs or the other way round.  Output is HWC float32, the layout of one
 * NHWC batch item.
 *   rescale: R/255, G/255, B/255 (as R * (1/255), like Keras' rescale)
 *   caffe:   B-103.939, G-116.779, R-123.68 (Keras imagenet_utils 'caffe')
 *   tf:      R/127.5 - 1, G/127.5 - 1, B/127.5 - 1 (Keras imagenet_utils 'tf')
 *   torch:   (R/255 - 0.485) / 0.229, (G/255 - 0.456) / 0.224, (B/255 - 0.406) / 0.225
 *            (torchvision's ToTensor + Normalize with ImageNet's statistics)
 *   none:    R, G, B as floats
 */
#include "image/image.h"

#include <stddef.h>
#include <stdlib.h>

void image_to_input(const image *img, cd_preprocess p, float *dst)
{
    if (!img || !img->rgb || !dst)
        return;
    const size_t n = (size_t)img->width * (size_t)img->height;
    const unsigned char *s = img->rgb;
    switch (p) {
    case CD_PRE_RESCALE:
        /* Keras' rescale=1./255 multiplies in float32 by the float nearest 1/255. */
        for (size_t i = 0; i < 3 * n; i++)
            dst[i] = (float)s[i] * (1.0f / 255.0f);
        break;
    case CD_PRE_CAFFE:
        for (size_t i = 0; i < n; i++) {
            dst[3 * i + 0] = (float)s[3 * i + 2] - 103.939f;
            dst[3 * i + 1] = (float)s[3 * i + 1] - 116.779f;
            dst[3 * i + 2] = (float)s[3 * i + 0] - 123.68f;
        }
        break;
    case CD_PRE_TF:
        /* imagenet_utils 'tf': x / 127.5 - 1, in float32 as Keras computes it. */
        for (size_t i = 0; i < 3 * n; i++)
            dst[i] = (float)s[i] / 127.5f - 1.0f;
        break;
    case CD_PRE_TORCH: {
        /* ToTensor divides by 255 in float32, Normalize subtracts the mean and
         * divides by the std in float32: the same operations in the same order. */
        static const float mean[3] = {0.485f, 0.456f, 0.406f};
        static const float std[3] = {0.229f, 0.224f, 0.225f};
        for (size_t i = 0; i < 3 * n; i++)
            dst[i] = ((float)s[i] / 255.0f - mean[i % 3]) / std[i % 3];
        break;
    }
    case CD_PRE_NONE:
    default:
        for (size_t i = 0; i < 3 * n; i++)
            dst[i] = (float)s[i];
        break;
    }
}

int image_luminance(const image *src, image *dst, cd_err *err)
{
    const size_t n = (size_t)src->width * (size_t)src->height;
    unsigned char *out = malloc(n * 3 > 0 ? n * 3 : 1);
    if (!out)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory converting a %dx%d photo to grayscale",
                          src->width, src->height);
    const unsigned char *s = src->rgb;
    for (size_t i = 0; i < n; i++) {
        /* Pillow's L24 macro (Convert.c): the exact rounding its 'L' images have. */
        unsigned l = ((unsigned)s[3 * i] * 19595u + (unsigned)s[3 * i + 1] * 38470u +
                      (unsigned)s[3 * i + 2] * 7471u + 0x8000u) >> 16;
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = (unsigned char)l;
    }
    dst->width = src->width;
    dst->height = src->height;
    dst->rgb = out;
    return 0;
}

void image_to_input_gray(const image *img, cd_preprocess p, float *dst)
{
    if (!img || !img->rgb || !dst)
        return;
    const size_t n = (size_t)img->width * (size_t)img->height;
    const unsigned char *s = img->rgb;
    for (size_t i = 0; i < n; i++) {
        float l = (float)s[3 * i];
        /* Not a switch: modes added later (tf, torch) fall back to raw
         * values here until they say what they do on one channel. */
        if (p == CD_PRE_RESCALE)
            l *= 1.0f / 255.0f;
        else if (p == CD_PRE_CAFFE)
            l -= (103.939f + 116.779f + 123.68f) / 3.0f;
        else if (p == CD_PRE_TF)
            l = l / 127.5f - 1.0f;
        dst[i] = l;
    }
}
