/*
 * op.h - internal: a layer kind as one unit (kann's op table, Darknet's file per layer).
 *
 * Everything the engine knows about one kind lives in one file, src/engine/op_<kind>.c,
 * which defines one `layer_op` (or a few closely related ones, e.g. the four poolings):
 *
 *   - its Keras class name (summaries, error messages, the Keras writer's class);
 *   - shape inference: the output shape from the inputs, and the parameters the
 *     kind has (allocated zeroed, or checked when a loader filled them);
 *   - the plain-C reference forward and backward (runner_ref.c calls them);
 *   - the oneDNN forward and backward builders (dnnl_plan*.c call them).
 *
 * The kinds themselves are listed once, in LAYER_KINDS (layer.h): the enum, the
 * table in op.c and the externs below are all generated from that list, so a
 * kind cannot be half registered.  Code that must treat kinds one by one indexes
 * the table; there are no switches over kinds with a `default:`.  Keras' JSON
 * description of a kind lives in modelfile/keras_layers.c (the engine knows
 * nothing about files), one table row per kind guarded by a _Static_assert on
 * LAYER_KIND_COUNT.
 *
 * Not part of the public contract: only engine/ includes it (and tests).
 */
#ifndef CATDOG_ENGINE_OP_H
#define CATDOG_ENGINE_OP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "engine/model.h"
#include "engine/ref_ops.h"

struct dn_plan;

/* Flags of a kind. */
enum {
    OP_FUSED_ACT = 1 << 0,   /* applies l->act to its output (Conv2D, Dense, Activation) */
    OP_MULTI_INPUT = 1 << 1, /* takes several inputs (Concatenate); others take exactly one */
    OP_GLOROT = 1 << 2,      /* model_init_params: Glorot-uniform kernels (rank >= 2), zero biases */
    OP_REF_MASK = 1 << 4     /* reference training keeps a per-layer mask (Dropout) */
};

/* What the reference backend hands a kind for one layer and one batch.
 * Activations are NHWC floats, n samples.  Forward overwrites y; backward ADDS
 * into dx[j] and dparam[p] (each NULL when nothing upstream learns / the layer
 * is frozen); dy is dL/d(output) already taken through the fused activation. */
typedef struct op_ref_io {
    const model *m;
    const layer *l;
    int n;                                  /* batch */
    const float *x[LAYER_MAX_INPUTS];       /* input activations, one per l->inputs[j] */
    float *y;                               /* this layer's activation */
    int training;
    uint64_t *rng;                          /* dropout stream (training), advanced */
    float *mask;                            /* OP_REF_MASK: out-size floats kept for backward */
    const float *dy;                        /* backward: dL/dz */
    float *dx[LAYER_MAX_INPUTS];            /* backward: dL/d(input j), or NULL */
    tensor *dparam[LAYER_MAX_PARAMS];       /* backward: parameter gradients, or NULL */
    float *work;                            /* ref_work floats per sample (n of them), kept
                                               from forward to backward; NULL when none */
} op_ref_io;

typedef struct layer_op {
    const char *keras_class;
    unsigned flags;
    /* Sets l's output shape from its inputs (already inferred) and ensures its
     * parameters; *params_left is the model's remaining parameter budget
     * (MODEL_MAX_PARAMS).  Errors name the layer. */
    int (*infer)(const model *m, layer *l, size_t *params_left, cd_err *err);
    /* Reference forward/backward (see op_ref_io). */
    void (*ref_forward)(const op_ref_io *io);
    void (*ref_backward)(const op_ref_io *io);
    /* oneDNN: 1 when layer i of m computes nothing in this plan and shares its
     * input's memory (NULL: never); the builders of the forward and backward
     * steps of layer i (NULL: not supported by oneDNN). */
    int (*dn_alias)(const model *m, int i, int training, layer_act act);
    int (*dn_forward)(struct dn_plan *p, int i, cd_err *err);
    int (*dn_backward)(struct dn_plan *p, int i, cd_err *err);
    /* Optional: Keras' name of parameter k (NULL: "kernel", "bias"), the
     * number of parameters Keras counts as trainable (NULL: all), and the
     * initial values of a freshly built layer (NULL: Glorot per OP_GLOROT, or
     * the zeros shape inference allocates). */
    const char *(*param_name)(const layer *l, int k);
    int (*trainable_params)(const layer *l);
    void (*init_params)(layer *l);
    /* Optional: Keras' defaults for a new layer of the kind (layer_template). */
    void (*defaults)(layer *l);
    /* Optional: floats per sample of scratch the reference code needs
     * (io->work), e.g. SeparableConv2D's depthwise output (NULL: none). */
    size_t (*ref_work)(const model *m, const layer *l);
} layer_op;

/* The op of a kind; kind must be valid (< LAYER_KIND_COUNT). */
const layer_op *layer_op_of(layer_kind kind);

#define LAYER_OP_EXTERN(KIND, op) extern const layer_op op;
LAYER_KINDS(LAYER_OP_EXTERN)
#undef LAYER_OP_EXTERN

/* ---- helpers shared by the kinds' shape inference (op.c) ---- */

/* Output length of a window over `in` with TF padding; -1 when in < k (VALID). */
int op_window_out(int in, int k, int s, layer_pad pad);
void op_set_out(layer *l, int h, int w, int c, int rank);
/* Checks the layer holds no weights; sets n_params = 0. */
int op_no_params(layer *l, cd_err *err);
/* Allocates parameter p (zeros) with shape dims, or checks the one present;
 * `what` names it in errors. */
int op_param_ensure(layer *l, int p, const char *what, int rank, const int *dims, cd_err *err);
/* Kernel of `rank` dims kdims (and a bias of `units` when use_bias): allocated
 * zeroed or checked, and charged to *left. */
int op_params_ensure(layer *l, int rank, const int *kdims, int units, size_t *left, cd_err *err);
/* Output shape of a sliding window (Conv2D, pooling) with window kh x kw and
 * l->strides / l->padding over a 4-D input; c is the output channels. */
int op_infer_window(const model *m, layer *l, int kh, int kw, int c, const char *what,
                    cd_err *err);
/* The same shape as the (single) input: for kinds that map values one to one. */
int op_infer_same(const model *m, layer *l, size_t *params_left, cd_err *err);
/* The input layer j of l. */
static inline const layer *op_in(const model *m, const layer *l, int j)
{
    return &m->layers[l->inputs[j]];
}

/* ---- helpers shared by the kinds' reference code (op.c) ---- */

/* Window geometry of l over its input for n samples (window kh x kw). */
ref_win op_ref_window(const op_ref_io *io, int kh, int kw);
/* y = x[0] (forward of kinds that compute nothing) and dx[0] += dy. */
void op_ref_copy_forward(const op_ref_io *io);
void op_ref_copy_backward(const op_ref_io *io);
/* Values of one sample of l's output and of the whole batch. */
size_t op_ref_rows(const op_ref_io *io);   /* n * out_h * out_w */

#endif
