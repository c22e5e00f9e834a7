/*
 * image_input.c - RGB8 pixels to the float input a model expects.
 *
 * The preprocessing belongs to the model (core/preprocess.h) and is applied
 * here, in one place, so a model trained on x/255 is never fed Caffe-style
 * inputs or the other way round.  Output is HWC float32, the layout of one
 * NHWC batch item.
 *   rescale: R/255, G/255, B/255 (as R * (1/255), like Keras' rescale)
 *   caffe:   B-103.939, G-116.779, R-123.68 (Keras imagenet_utils 'caffe')
 *   torch:   (R/255 - 0.485) / 0.229, (G/255 - 0.456) / 0.224, (B/255 - 0.406) / 0.225
 *            (torchvision's ToTensor + Normalize with ImageNet's statistics)
 *   none:    R, G, B as floats
 */
#include "image/image.h"

#include <stddef.h>

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
