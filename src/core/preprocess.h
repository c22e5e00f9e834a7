/*
 * preprocess.h - how a model expects its input pixels, recorded in the model file.
 *
 * The seed project fed VGG16's preprocessing to a model trained on x/255; here the
 * preprocessing travels with the model (root attribute `catdog_preprocess` in the .h5)
 * and the image pipeline applies it, so that mistake cannot happen.
 *   CD_PRE_RESCALE  RGB, x / 255                      (the binary CNN)
 *   CD_PRE_CAFFE    BGR, x - [103.939,116.779,123.68] (VGG16, SqueezeNet; Keras 'caffe' mode)
 *   CD_PRE_NONE     RGB, raw 0..255 floats
 *   CD_PRE_TF       RGB, x / 127.5 - 1 in [-1, 1]      (Keras 'tf' mode: MobileNet(V2), Inception)
 *   CD_PRE_TORCH    RGB, (x / 255 - mean) / std with ImageNet's mean [0.485, 0.456, 0.406]
 *                   and std [0.229, 0.224, 0.225] (torchvision's transforms; the default
 *                   for imported ONNX files, which PyTorch users export)
 */
#ifndef CATDOG_CORE_PREPROCESS_H
#define CATDOG_CORE_PREPROCESS_H

typedef enum cd_preprocess {
    CD_PRE_NONE = 0,
    CD_PRE_RESCALE,
    CD_PRE_CAFFE,
    CD_PRE_TF,
    CD_PRE_TORCH
} cd_preprocess;

/* "none", "rescale", "caffe", "tf", "torch". */
const char *cd_preprocess_name(cd_preprocess p);

/* Parses a name as above; returns 0 and sets *out, or -1 for an unknown name. */
int cd_preprocess_parse(const char *name, cd_preprocess *out);

#endif
