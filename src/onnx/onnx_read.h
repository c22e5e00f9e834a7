/*
 * onnx_read.h - internal to the ONNX reader (onnx_read*.c); onnx.h is the contract.
 *
 * The reader walks the graph's nodes once, in file order, and describes every
 * ONNX value it meets (a `val`):
 *   - a feature map: an engine layer's NHWC output standing for ONNX's NCHW;
 *   - a vector (N, C): an engine layer's rank-2 output; `rank4` marks the
 *     (N, C, 1, 1) ONNX keeps after a global pooling, `chw` one that came from
 *     flattening an NCHW map, whose order differs from the engine's NHWC
 *     flatten (the next Gemm/MatMul permutes its rows instead);
 *   - a map transposed to NHWC (Keras-style Flatten ahead, as catdog writes);
 *   - a constant: an initializer, a Constant node or folded shape arithmetic.
 *
 * Files, by what they hold:
 *   onnx_read.c         loading, the walk over the nodes, the graph's input and output
 *   onnx_read_values.c  errors, the value table, attributes, constant tensors, emitting layers
 *   onnx_read_conv.c    window operators: Conv (groups, dilations, explicit pads as a
 *                       ZeroPadding2D layer), pooling, BatchNormalization folding
 *   onnx_read_shape.c   Pad (ZeroPadding2D), Slice of a map (Cropping2D) or of a shape
 *                       constant, Resize (Resizing)
 *   onnx_read_chains.c  activations catdog writes as chains (Gelu before opset 20 from
 *                       Erf / Tanh, Keras' ReLU threshold from Greater / Where)
 *   onnx_read_dense.c   vectors: activations, Flatten/Reshape/Squeeze/Transpose, Gemm/MatMul,
 *                       Identity/Dropout, the dog-column Slice
 *   onnx_read_merge.c   element-wise Add/Sub/Mul (residuals; constants folded or a scale
 *                       layer) and the variadic Sum/Mean/Max
 *   onnx_read_fold.c    constants and shape arithmetic folded at load: Constant, Shape,
 *                       Gather, Unsqueeze, Concat (which also joins feature maps)
 *
 * An operator handler (rd_<op>) reads its node's inputs with rd_input /
 * rd_const_input, checks what the engine can express (failing with NODE_FAIL,
 * which names the node and its op), and defines its outputs: rd_emit for a new
 * engine layer, rd_alias when the output is an input under a new name.
 */
#ifndef CATDOG_ONNX_READ_H
#define CATDOG_ONNX_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/model.h"
#include "onnx/onnx.h"
#include "onnx/onnx_internal.h"

/* Largest constant tensor read (elements); VGG16's largest is 102 M. */
#define MAX_TENSOR_ELEMS ((size_t)1 << 28)
#define MAX_RANK 8
/* Stands for the (dynamic) batch size in folded shape arithmetic. */
#define BATCH_DIM INT64_MIN

/* V_DOG: the dog column of a 2-unit layer (what catdog writes as output "p_dog"
 * for a softmax head); only the graph output may be one. */
typedef enum vkind { V_MAP, V_VEC, V_MAP_NHWC, V_CONST, V_DOG } vkind;

typedef struct val {
    const char *name;
    int defined;     /* 0 until an initializer, input or node output sets it */
    int uses;        /* readers: node inputs plus graph outputs */
    vkind kind;
    int layer;       /* V_MAP, V_VEC, V_MAP_NHWC: the engine layer holding it */
    int c, h, w;     /* map shape; a vector's length in c */
    int rank4;       /* V_VEC: ONNX shape (N, C, 1, 1) */
    int chw, ch, hh, ww; /* V_VEC: flattened NCHW order of a (ch, hh, ww) map */
    /* V_CONST */
    const Onnx__TensorProto *tp; /* an initializer not decoded yet */
    int is_int;
    int rank;
    int64_t dims[MAX_RANK];
    size_t n;
    const float *f;
    const int64_t *i;
} val;

typedef struct reader {
    const char *source;
    const char *dir;        /* folder of the file, for external data; NULL from memory */
    const onnx_load_opts *opts;
    onnx_arena arena;       /* protobuf-c's allocations (budgeted) */
    onnx_arena scratch;     /* our own small pieces (budgeted with the same bound) */
    int opset;
    val *vals;
    size_t n_vals, cap_vals;
    int *table;             /* open addressing: index into vals + 1, 0 = empty */
    size_t table_cap;
    model *m;
    cd_err *err;
    const Onnx__NodeProto *node;  /* the node being mapped, for messages */
    size_t node_index;
    const Onnx__GraphProto *graph; /* the nodes, for a chain read at its first (rd_chain) */
    size_t skip_to;         /* the walk resumes at this node: the ones before were a chain's */
} reader;

/* ---- errors (onnx_read_values.c) ---- */

/* Sets "node 'conv1' (Conv): <what>"; returns -1. */
int rd_fail(reader *r, cd_code code, const char *what);
#define NODE_FAIL(r, code, ...)                                  \
    do {                                                         \
        char msg_[CD_ERR_MSG_MAX / 2];                           \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                \
        return rd_fail((r), (code), msg_);                       \
    } while (0)
/* Out of memory, or over the budget the file's size allows; returns -1. */
int rd_oom(reader *r);

/* ---- values ---- */

/* The value called name; created (undefined, no uses) when `create`. */
val *rd_lookup(reader *r, const char *name, int create);
/* Input k of the current node: must exist and be defined by now (else NULL, error set). */
val *rd_input(reader *r, size_t k);
/* The current node's output k, to be defined by the caller (NULL: error set). */
val *rd_output(reader *r, size_t k);
/* Input k as a decoded constant of the wanted type. */
val *rd_const_input(reader *r, size_t k, int want_int);
/* v as a decoded constant (initializers are decoded on first use). */
val *rd_as_const(reader *r, val *v);
/* Decodes an initializer or Constant tensor into v (V_CONST). */
int rd_decode_tensor(reader *r, const Onnx__TensorProto *t, val *v);
/* Fails unless x is a feature map. */
int rd_want_map(reader *r, const val *x);

/* ---- attributes of the current node ---- */

const Onnx__AttributeProto *rd_attr(reader *r, const char *name);
int64_t rd_attr_i(reader *r, const char *name, int64_t dflt);
float rd_attr_f(reader *r, const char *name, float dflt);
/* Copies up to max ints into out; returns how many (0 when absent, max + 1 when more). */
size_t rd_attr_ints(reader *r, const char *name, int64_t *out, size_t max);
const char *rd_attr_s(reader *r, const char *name, char *buf, size_t n);

/* ---- emitting layers ---- */

/* A unique layer name derived from the node, plus suffix. */
void rd_layer_name(reader *r, const char *suffix, char *out);
/* Adds l (the model takes its parameters over, also on failure); returns its index or -1. */
int rd_add_layer(reader *r, layer *l);
/* Adds l and defines the node's output 0 as its output: a `kind` value of
 * c (x h x w) -- the one step every operator that makes a layer ends with.
 * Returns that value (to mark e.g. rank4), or NULL with the error set. */
val *rd_emit(reader *r, layer *l, vkind kind, int c, int h, int w);
/* Defines the node's output 0 as the value x under the output's name (an
 * operator that computes nothing, or whose work was folded into x's layer).
 * Returns it, or NULL with the error set. */
val *rd_alias(reader *r, const val *x);

/* ---- shared by the operator files ---- */

/* Output length of a window with the engine's padding mode. */
int rd_window_out(int in, int k, int s, layer_pad p);
/* Fails unless the node's dilations are all 1. */
int rd_no_dilation(reader *r);
/* (N, C, H, W) -> (N, C*H*W) into y (see onnx_read_dense.c). */
int rd_flatten_to(reader *r, val *x, val *y);

/* ---- operator handlers: one node each; 0 or -1 with the error set ---- */

int rd_conv(reader *r);
int rd_pool(reader *r, layer_kind kind);
int rd_global_pool(reader *r, layer_kind kind);
int rd_batchnorm(reader *r);
int rd_pad(reader *r);
/* onnx_read_acts.c */
int rd_act(reader *r, layer_act act, const layer_act_params *ap);
/* An op of onnx_acts.c's table: 1 mapped, 0 not one of them, -1 failed. */
int rd_act_named(reader *r, const char *op);
/* Mul(x, Sigmoid(x)) in either order (PyTorch's SiLU): the Sigmoid's layer
 * becomes swish (x * HardSigmoid(x), alpha 1/6: hard_swish); 1 done, 0 not that pattern, -1 failed. */
int rd_mul_swish(reader *r);
/* PRelu(x, slope): a PReLU layer (slope's shared dims: Keras' shared_axes). */
int rd_prelu(reader *r);
/* Clip(x, min, max): relu6 or a capped ReLU; other bounds refused. */
int rd_clip(reader *r);
int rd_flatten(reader *r);
int rd_transpose(reader *r);
int rd_reshape(reader *r);
int rd_squeeze(reader *r);
int rd_gemm(reader *r);
int rd_matmul(reader *r);
/* op: 0 Add, 1 Sub, 2 Mul, 3 Div by a constant (onnx_read_merge.c) */
int rd_arith(reader *r, int op);
int rd_variadic(reader *r, layer_kind kind);
int rd_identity(reader *r);
int rd_slice(reader *r);
/* onnx_read_shape.c: a Slice of a map (Cropping2D) or of a shape constant
 * (folded): 1 when it was one (*rc 0 or -1), 0 when not. */
int rd_slice_shape(reader *r, val *x, val *st, val *en, val *ax, int *rc);
int rd_resize(reader *r);
/* onnx_read_chains.c: an activation catdog writes as a chain of ops (Gelu
 * before opset 20, Keras' ReLU threshold) starting at the current node: 1
 * read (skip_to set past it), 0 not one, -1 failed. */
int rd_chain(reader *r);
int rd_concat(reader *r);
int rd_constant(reader *r);
int rd_shape(reader *r);
int rd_gather(reader *r);
int rd_unsqueeze(reader *r);

#endif
