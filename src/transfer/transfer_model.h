/*
 * transfer_model.h - transfer models on disk: the shipped head-only file, the
 * composed model, and the self-contained export.
 *
 * A transfer model is a frozen backbone (transfer_weights.h) cut at one layer
 * (the "cut": its feature map, or an earlier layer when the last blocks were
 * fine-tuned) followed by a "tail": the fine-tuned backbone layers after the
 * cut, if any, then the head (transfer_head.h).
 *
 * The shipped file (models/transfer.h5) is a valid Keras whole-model file of the
 * tail alone: InputLayer "backbone_features" shaped like the cut's output, then
 * the tail's layers with their weights.  Its root attributes say how to rebuild
 * the rest (Keras ignores them):
 *     catdog_arch              "transfer"
 *     catdog_backbone          "squeezenet" | "vgg16" | "mobilenetv2" | "resnet50" |
 *                              "efficientnetb0"
 *     catdog_backbone_file     the weights file name
 *     catdog_backbone_sha256   SHA-256 of the weights file it was trained on
 *     catdog_backbone_cut      the backbone layer whose output feeds the tail
 *     catdog_img_size          the input size (square)
 *     catdog_head              the head spec (transfer_head_format)
 * plus catdog_preprocess (the backbone's: caffe, or tf for mobilenetv2) and
 * catdog_test_accuracy as any model, and for a quantized model (catdog
 * quantize on a transfer file) catdog_transfer_int8: the composed model's
 * int8 calibration (keras_quant_json: activation ranges of backbone and tail
 * layers, no weights), applied by transfer_load after composing, so an int8
 * transfer model ships without the backbone's weights too.
 * So the repository carries a few hundred kilobytes, never the pretrained
 * weights.
 *
 * transfer_load() composes it: the backbone is built at catdog_img_size, its
 * weights found and verified (transfer_weights.h) and required to have the
 * recorded SHA-256, the layers up to the cut are kept, the tail appended.  The
 * result is one ordinary model: backbone layers (fine-tuned ones included:
 * every layer not named head_*) carry scope = the backbone's name (summaries
 * and Keras files show it as a nested model), head layers are top level.  Any other Keras file is loaded with keras_load, and an
 * .onnx file with onnx_load (onnx/onnx.h), so callers can use transfer_load
 * for every model file.
 *
 * transfer_export() writes the composed model with keras_save: one file, no
 * backbone lookup needed to load it (keras_load reads it like any model).
 */
#ifndef CATDOG_TRANSFER_TRANSFER_MODEL_H
#define CATDOG_TRANSFER_TRANSFER_MODEL_H

#include "core/error.h"
#include "engine/model.h"
#include "transfer/transfer_head.h"
#include "transfer/transfer_weights.h"

typedef struct transfer_meta {
    char backbone[32];
    char backbone_file[256];
    char backbone_sha256[TRANSFER_SHA256_HEX];
    char cut[LAYER_NAME_MAX];
    int img_size;
    char head[TRANSFER_HEAD_SPEC_MAX];
} transfer_meta;

typedef struct transfer_load_opts {
    const char *weights_path;   /* explicit backbone weights file (--weights), or NULL */
    int img_size;               /* input size for ONNX graphs with a dynamic H/W; 0 = none */
} transfer_load_opts;

/* 1 when path is a shipped transfer file (meta filled when not NULL); 0 when
 * it is anything else, unreadable included (keras_load then says what is
 * wrong); -1 when it has catdog_backbone but the other attributes are missing
 * or malformed (err filled). */
int transfer_file_probe(const char *path, transfer_meta *meta, cd_err *err);

/* Loads a model file: a transfer file composed with its backbone, an .onnx
 * file with onnx_load, anything else with keras_load.  opts may be NULL.  Caller frees. */
model *transfer_load(const char *path, const transfer_load_opts *opts, cd_err *err);

/* The composed model from a backbone (all of its layers up to `cut`, params
 * copied) and a tail model whose input layer stands for the cut's output.
 * Neither argument is changed.  Caller frees. */
model *transfer_compose(const model *backbone, const char *cut, const model *tail, cd_err *err);

/* The tail of composed model m: every layer after `cut` (which must be the
 * only earlier layer they read), with a fresh InputLayer shaped like the cut's
 * output.  Params copied.  Caller frees. */
model *transfer_tail(const model *m, const char *cut, cd_err *err);

/* Writes the shipped form of composed model m (its tail after meta->cut, and
 * meta as root attributes; m's int8 calibration, if any, as
 * catdog_transfer_int8) to path.  0 or -1. */
int transfer_save(const model *m, const transfer_meta *meta, const char *path, cd_err *err);

/* Loads model_path (transfer_load) and writes it as one self-contained Keras
 * whole-model file at out_path.  0 or -1. */
int transfer_export(const char *model_path, const transfer_load_opts *opts, const char *out_path,
                    cd_err *err);

#endif
