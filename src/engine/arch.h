/*
 * arch.h - built-in architectures, as Keras defines them.
 *
 *   binary       the seed's CNN: 3 x [Conv2D 3x3 (32, 32, 64) relu + MaxPooling2D 2],
 *                Flatten, Dense 64 relu, Dropout 0.5, Dense 1 sigmoid; input size a
 *                parameter (150 -> 1,212,513 parameters); preprocessing rescale.
 *   vgg16        Keras VGG16 without top (14,714,688 parameters); caffe.
 *   squeezenet   SqueezeNet 1.1 without top, layer names as the keras-squeezenet
 *                weights file (conv1, fire2/squeeze1x1, ...); caffe.
 *   mobilenetv2  Keras MobileNetV2 (alpha 1.0) without top: Conv1 ... block_16_*,
 *                Conv_1, out_relu (2,257,984 parameters, 34,112 of them BN moving
 *                statistics); tf ([-1, 1]).
 *   resnet50     Keras ResNet50 without top: conv1_pad ... conv5_block3_out
 *                (23,587,712 parameters, 53,120 of them BN moving statistics); caffe.
 *   efficientnetb0  Keras EfficientNetB0 without top: rescaling, normalization,
 *                rescaling_1, stem_conv ... block7a_*, top_activation (4,049,571
 *                parameters); raw pixels (the model normalizes; its rescaling_1 is
 *                Keras' per-channel 1/sqrt(stddev), see arch_efficientnetb0.c).
 *
 * The layer names, kinds, configuration and weight shapes are Keras' (its
 * keras.applications definitions), so a weights file Keras wrote for that
 * architecture (save_weights, or its *_notop.h5 ImageNet files) loads by name
 * with keras_load_weights (modelfile/keras.h).
 *
 * Each returns a new model with shapes inferred and zero parameters (call
 * model_init_params or load weights).  NULL with err filled when the input size
 * is out of range for the architecture.
 */
#ifndef CATDOG_ENGINE_ARCH_H
#define CATDOG_ENGINE_ARCH_H

#include "core/error.h"
#include "engine/model.h"

model *arch_binary(int img_size, cd_err *err);
model *arch_vgg16(int img_size, cd_err *err);
model *arch_squeezenet(int img_size, cd_err *err);
model *arch_mobilenetv2(int img_size, cd_err *err);
model *arch_resnet50(int img_size, cd_err *err);
model *arch_efficientnetb0(int img_size, cd_err *err);

/* One row of the built-in table (arch.c). */
typedef struct arch_info {
    const char *name;                             /* "binary", "vgg16", ... */
    model *(*build)(int img_size, cd_err *err);
    int default_size;                             /* input size when none is given */
} arch_info;

/* The built-in called `name`, or NULL (no error: callers decide whether a
 * name that is not a built-in is a file name or a mistake). */
const arch_info *arch_find(const char *name);

/* The built-in names, comma separated, for messages:
 * "binary, vgg16, squeezenet, mobilenetv2, resnet50, efficientnetb0". */
const char *arch_names(void);

/* By name; NULL + err (naming the built-ins) for an unknown name. */
model *arch_build(const char *name, int img_size, cd_err *err);

#endif
