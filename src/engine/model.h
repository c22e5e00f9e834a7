/*
 * model.h - a model: a flat, topologically ordered graph of layers plus metadata.
 *
 * Concepts (read this first):
 *   - A model owns an array of layers.  Layer i only reads layers < i, so running
 *     the array front to back is a valid schedule (kann style: a flat node list).
 *     Layer 0 is the LAYER_INPUT; `output` names the layer whose activation is the
 *     model's result (by default the last one).
 *   - Sequential, functional (DAG: Concatenate has several inputs) and nested
 *     models all become this one flat graph.  A nested model (the seed's transfer
 *     model is a Sequential whose first layer is the VGG16 functional model) keeps
 *     its identity through layer.scope, so summaries and Keras files can show and
 *     write it as one layer again.
 *   - Shapes are inferred once (model_infer_shapes) from the input layer; that also
 *     allocates zeroed parameters a layer does not have yet, and checks the shape
 *     of every parameter it already has.
 *   - Execution lives in runner.h (oneDNN and the plain-C reference); a model is
 *     read-only while runners use it, so several threads may share one.
 *
 * Ownership: model_new returns a model the caller frees with model_free, which
 * frees every layer's parameters.
 */
#ifndef CATDOG_ENGINE_MODEL_H
#define CATDOG_ENGINE_MODEL_H

#include <stdio.h>

#include "core/error.h"
#include "core/output.h"
#include "core/preprocess.h"
#include "engine/layer.h"

#define MODEL_NAME_MAX 96
#define MODEL_ARCH_MAX 32

/* What a model may ask for, checked by model_infer_shapes before anything is
 * allocated.  A Keras config is a few bytes of JSON that can ask for
 * terabytes; these turn "too large" into an error naming the layer, instead of
 * an allocation failure (or a lazily overcommitted calloc) later, and keep
 * every size the engine computes within an int.  They are generous: VGG16
 * with its classifier has 138 M parameters, and its widest layer holds 3.2 M
 * values per image (224x224x64). */
#define MODEL_MAX_PARAMS ((size_t)1 << 30)       /* 1 Gi parameters: 4 GiB of float32 */
#define MODEL_MAX_LAYER_VALUES ((size_t)1 << 28) /* one layer's output for one image: 1 GiB */

/* Where a model's int8 calibration came from (catdog quantize); int8 = 0 when
 * the model was never quantized.  The per-layer scales are in layer.q_in_max. */
typedef struct model_quant {
    int int8;                    /* 1 = calibrated: RUNNER_PREC_AUTO runs it in int8 */
    char source[256];            /* calibration folder */
    int photos;                  /* photos it was calibrated on */
    char date[32];               /* UTC, ISO 8601 */
} model_quant;

typedef struct model {
    char name[MODEL_NAME_MAX];   /* Keras model name ("sequential_1", "vgg16") */
    char arch[MODEL_ARCH_MAX];   /* "binary", "vgg16", "squeezenet", "transfer", "custom" */
    layer *layers;               /* owned, n_layers valid entries */
    int n_layers;
    int cap_layers;
    int output;                  /* index of the output layer; -1 = last */
    cd_preprocess preprocess;    /* how input pixels must be prepared */
    double test_accuracy;        /* recorded at training time; negative when unknown */
    cd_output output_rule;       /* how the output row becomes P(dog); set by the file reader */
    char preprocess_why[96];     /* why `preprocess` was chosen ("" = not said), for `info` */
    char output_why[96];         /* why `output_rule` was chosen ("" = not said) */
    model_quant quant;           /* int8 calibration record (per-layer scales: layer.q_in_*) */
} model;

/* An empty model named `name` (arch "custom", preprocess none, output -1). */
model *model_new(const char *name, cd_err *err);
void model_free(model *m);

/* Appends a copy of *tmpl (its params pointers are taken over by the model, and
 * tmpl's must not be freed by the caller).  Checks that the name is unique and
 * that every input index refers to an earlier layer.  Returns the new layer's
 * index, or -1 with err filled. */
int model_add(model *m, const layer *tmpl, cd_err *err);

/* Convenience: a zeroed layer template of the given kind and name, trainable,
 * strides 1, use_bias 1, with `input` as its single input (or none when -1).
 * Then the kind's Keras defaults (its op's `defaults`): pooling kinds get
 * strides 0, meaning "the pool size", which model_infer_shapes resolves;
 * BatchNormalization epsilon 1e-3, momentum 0.99, center and scale; Rescaling
 * scale 1 (a number, offset 0). */
layer layer_template(layer_kind kind, const char *name, int input);

/* Index of the layer called `name`, or -1. */
int model_find(const model *m, const char *name);

/* The index of the output layer (resolves output == -1). */
int model_output_index(const model *m);

/* Infers every layer's output shape from the input layer, allocates missing
 * parameters (zeros) and checks present ones.  Errors name the layer and the
 * shapes: "layer 'dense_1': kernel has shape (100, 64), expected (6272, 64)" or
 * "layer 'max_pooling2d_3': input 1x1 is smaller than the pool 2x2 (input size
 * 30x30 too small for this architecture)".  A model over MODEL_MAX_PARAMS or a
 * layer output over MODEL_MAX_LAYER_VALUES is CD_ERR_LIMIT, before allocating. */
int model_infer_shapes(model *m, cd_err *err);

/* Input shape (without batch). */
void model_input_shape(const model *m, int *h, int *w, int *c);

/* Output size per sample (1 for the sigmoid binary head). */
size_t model_output_size(const model *m);

/* Parameter counts as Keras reports them. */
void model_param_counts(const model *m, size_t *total, size_t *trainable, size_t *non_trainable);

/* Glorot-uniform kernels, zero biases, from a seeded generator (reproducible). */
void model_init_params(model *m, unsigned long long seed);

/* Prints a Keras-style summary (layer name and class, output shape, parameter
 * count; nested models shown as one line; then totals) to `out`. */
void model_summary(const model *m, FILE *out);

#endif
