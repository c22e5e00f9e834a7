/*
 * onnx_write.h - what the pieces of the ONNX writer share (not a contract for
 * other rooms; onnx.h is).
 *
 * onnx_write.c walks the model's layers and writes each as NCHW nodes;
 * onnx_write_acts.c spells activations (one op, or a chain where the opset
 * lacks the op); onnx_write_proto.c builds the protobuf pieces.  Everything
 * comes from the writer's arena and lives until the file is packed, so the
 * builders borrow their strings and data and never free: a NULL or -1 return
 * means the writer's err is set (out of memory, or the message given).
 */
#ifndef CATDOG_ONNX_WRITE_H
#define CATDOG_ONNX_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "onnx/onnx_internal.h"

/* Growable pointer arrays for the graph's nodes and initializers. */
typedef struct onnx_writer {
    onnx_arena arena;
    const model *m;
    int opset;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    const char **value;  /* per layer: the ONNX value holding its output (NCHW) */
    cd_err *err;
} onnx_writer;

/* Sets "out of memory writing the ONNX graph"; returns -1. */
int ow_oom(onnx_writer *w);

/* Appends item to the arena array *arr (n used of cap); 0 or -1. */
int ow_push(onnx_writer *w, void ***arr, size_t *n, size_t *cap, void *item);

/* a followed by b, in the arena; NULL when out of memory (err NOT set). */
char *ow_fmt(onnx_writer *w, const char *a, const char *b);

/* A node `op` named `name` with inputs `in` (NULL-terminated) and one output
 * `out`, appended to the graph; NULL on error. */
Onnx__NodeProto *ow_node(onnx_writer *w, const char *op, const char *name, const char *const *in,
                         const char *out);

/* Attributes of n; 0 or -1. */
Onnx__AttributeProto *ow_attr(onnx_writer *w, Onnx__NodeProto *n, const char *name);
int ow_attr_int(onnx_writer *w, Onnx__NodeProto *n, const char *name, int64_t v);
int ow_attr_ints(onnx_writer *w, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t k);
int ow_attr_float(onnx_writer *w, Onnx__NodeProto *n, const char *name, float v);
int ow_attr_string(onnx_writer *w, Onnx__NodeProto *n, const char *name, const char *v);

/* An initializer `name` of k float32 (float_type 1) or int64 (0) values with
 * the given dims (rank 0: a scalar).  `data` is borrowed until the file is
 * packed: arena or model memory, never the stack.  0 or -1. */
int ow_init_tensor(onnx_writer *w, const char *name, int float_type, const void *data, size_t k,
                   const int64_t *dims, size_t rank);

/* A float32 scalar initializer `prefix``suffix` holding v (copied into the
 * arena); its name, or NULL on error. */
const char *ow_scalar(onnx_writer *w, const char *prefix, const char *suffix, float v);

/* The activation node(s) of layer l applied to value `in`, the last one
 * writing `out`: one ONNX op where the opset has it, else an equivalent
 * chain (HardSwish before opset 14, Gelu before 20, Keras' ReLU with a slope
 * or threshold, a feature map's Softmax before 13).  0 or -1 with err naming
 * the layer. */
int ow_act_node(onnx_writer *w, const layer *l, layer_act act, const char *in, const char *out);

/* onnx_write_shape.c: the layers that move values between shapes or
 * broadcast per-channel constants.  Each writes layer l (input layer `in`,
 * its value x) as nodes ending in value y; 0 or -1 with err set. */

/* A Transpose `name` of x by perm (4 axes) into value `name`; NULL on error. */
const char *ow_transpose(onnx_writer *w, const char *name, const char *x, const int64_t perm[4]);

/* Keras' Reshape (row-major over NHWC): a plain Reshape where NCHW and NHWC
 * hold the values in one order (vectors, 1x1 maps), else between Transposes. */
int ow_reshape(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y);

/* The index (0 or 1) of the channel-vector input of a broadcasting Multiply
 * (engine/op_merge.c), -1 when l is not one. */
int ow_bcast_vec(const model *m, const layer *l);

/* The broadcasting Multiply, input v the vector: one Mul with the vector as
 * [N, C, 1, 1]. */
int ow_multiply_bcast(onnx_writer *w, const layer *l, int v, const char *y);

/* Normalization: Sub of the mean, Div by max(sqrt(variance), epsilon), as
 * per-channel constants. */
int ow_normalization(onnx_writer *w, const layer *l, const char *x, const char *y);

/* Resizing as Resize (TensorFlow's half-pixel bilinear / nearest). */
int ow_resizing(onnx_writer *w, const layer *l, const char *x, const char *y);

#endif
