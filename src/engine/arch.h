/*
 * arch.h - built-in architectures, as Keras defines them.
 *
 *   binary      the seed's CNN: 3 x [Conv2D 3x3 (32, 32, 64) relu + MaxPooling2D 2],
 *               Flatten, Dense 64 relu, Dropout 0.5, Dense 1 sigmoid; input size a
 *               parameter (150 -> 1,212,513 parameters); preprocessing rescale.
 *   vgg16       Keras VGG16 without top (14,714,688 parameters); caffe.
 *   squeezenet  SqueezeNet 1.1 without top, layer names as the keras-squeezenet
 *               weights file (conv1, fire2/squeeze1x1, ...); caffe.
 *
 * Each returns a new model with shapes inferred and zero parameters (call
 * model_init_params or load weights).  NULL with err filled when the input size
 * is too small for the architecture.
 */
#ifndef CATDOG_ENGINE_ARCH_H
#define CATDOG_ENGINE_ARCH_H

#include "core/error.h"
#include "engine/model.h"

model *arch_binary(int img_size, cd_err *err);
model *arch_vgg16(int img_size, cd_err *err);
model *arch_squeezenet(int img_size, cd_err *err);

/* By name ("binary", "vgg16", "squeezenet"); NULL + err for an unknown name. */
model *arch_build(const char *name, int img_size, cd_err *err);

#endif
