/*
 * transfer_weights.h - pretrained backbones: which weights file each needs,
 * where it is looked for, how it is checked, and loading it onto the built-in
 * architecture (engine/arch.h) with keras_load_weights (modelfile/keras.h).
 *
 * Backbones (transfer_backbone_find):
 *   squeezenet  SqueezeNet 1.1 (ImageNet, no top), keras-squeezenet's
 *               squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5,
 *               size and SHA-256 known and checked.
 *   vgg16       Keras' VGG16 (ImageNet, no top),
 *               vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5.  Its SHA-256
 *               was not available when this was written (the file is not on
 *               these machines), so only its size and, when loading, every
 *               weight's shape are checked; its SHA-256 is still computed and
 *               recorded in models trained on it.
 *   mobilenetv2 Keras' MobileNetV2 (alpha 1.0, ImageNet, no top),
 *               mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5;
 *               'tf' preprocessing.
 *   resnet50    Keras' ResNet50 (ImageNet, no top),
 *               resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5; caffe.
 *   efficientnetb0 Keras' EfficientNetB0 (ImageNet, no top),
 *               efficientnetb0_notop.h5; raw pixels (the model normalizes; its
 *               rescaling_1 approximates Keras' per-channel one, see
 *               engine/arch_efficientnetb0.c).
 *               For these three neither size nor SHA-256 is known here: any
 *               Keras save_weights file of the architecture is accepted when
 *               every weight is found by layer name with its shape, and its
 *               SHA-256 is recorded in the models trained on it.
 *
 * Where a weights file is looked for, first hit wins:
 *   1. an explicit path (--weights FILE), used as is;
 *   2. $CATDOG_WEIGHTS_DIR/<file>;
 *   3. $HOME/.keras/models/<file> (where Keras keeps downloaded weights);
 *   4. ./weights/<file>;
 *   5. ../shared/weights/<file>.
 * Not found: CD_ERR_NOTFOUND naming the file, every place searched, and where
 * the file comes from.  Found but of the wrong size or SHA-256: CD_ERR_FORMAT
 * naming the path, what was found and what was expected.  Pretrained weights
 * are never part of the repository.
 */
#ifndef CATDOG_TRANSFER_TRANSFER_WEIGHTS_H
#define CATDOG_TRANSFER_TRANSFER_WEIGHTS_H

#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"

#define TRANSFER_SHA256_HEX 65   /* 64 hex digits + NUL */
#define TRANSFER_PATH_MAX 4096

typedef struct transfer_backbone_info {
    const char *name;       /* "squeezenet", "vgg16", ... (also the arch.h name) */
    const char *file;       /* weights file name, as Keras / keras-squeezenet name it */
    const char *sha256;     /* lower-case hex, or NULL when not known */
    long long size;         /* bytes, or 0 when not known */
    const char *origin;     /* where the file comes from, for the not-found message */
    const char *out_layer;  /* the backbone's last layer (its feature map) */
    int default_size;       /* input size used when none is given */
} transfer_backbone_info;

/* The backbone called `name`, or NULL with err filled (naming the known ones). */
const transfer_backbone_info *transfer_backbone_find(const char *name, cd_err *err);

/* Finds b's weights file (explicit path first, see above) and writes its path
 * to out (n bytes).  0, or -1 with CD_ERR_NOTFOUND and the places searched. */
int transfer_weights_locate(const transfer_backbone_info *b, const char *explicit_path, char *out,
                            size_t n, cd_err *err);

/* SHA-256 of a file as 64 lower-case hex digits (OpenSSL EVP).  0 or -1. */
int transfer_sha256_file(const char *path, char hex[TRANSFER_SHA256_HEX], cd_err *err);

/* Checks that path is b's file: its size (when known), then its SHA-256 (when
 * known).  The computed SHA-256 goes to hex (may be NULL).  0 or -1. */
int transfer_weights_verify(const transfer_backbone_info *b, const char *path,
                            char hex[TRANSFER_SHA256_HEX], cd_err *err);

/* Where a backbone's weights came from, filled by transfer_backbone_load. */
typedef struct transfer_weights_found {
    char path[TRANSFER_PATH_MAX];
    char sha256[TRANSFER_SHA256_HEX];
} transfer_weights_found;

/* Builds backbone b at img_size x img_size (arch_build), locates and verifies
 * its weights, and loads them (shapes checked).  All layers frozen
 * (trainable = 0).  found may be NULL.  Caller frees the model. */
model *transfer_backbone_load(const transfer_backbone_info *b, int img_size,
                              const char *explicit_path, transfer_weights_found *found,
                              cd_err *err);

#endif
