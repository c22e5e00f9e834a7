/*
 * onnx_write.h - what the pieces of the ONNX writer share (not a contract for
 * other rooms; onnx.h is).
 *
 * onnx_write.c walks the model's layers and writes each as NCHW nodes;
 * onnx_write_acts.c spells activations (one op, or a chain where the opset
 * lacks the op); onnx_write_proto.c builds the protobuf pieces;
 * onnx_write_names.c gives out the value and node names.  Everything
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

/* A set of names (onnx_write_names.c): open addressing in the writer's
 * arena, at most half full; `defined` marks a value some node or
 * initializer writes. */
typedef struct ow_name_entry {
    const char *name;   /* NULL: a free slot */
    int defined;
} ow_name_entry;
typedef struct ow_names {
    ow_name_entry *slots;
    size_t n, cap;      /* cap: 0 or a power of two */
} ow_names;

/* Growable pointer arrays for the graph's nodes and initializers; the names
 * given out so far. */
typedef struct onnx_writer {
    onnx_arena arena;
    const model *m;
    int opset;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    const char **value;  /* per layer: the ONNX value holding its output (NCHW) */
    ow_names values;     /* every value and initializer name of the graph */
    ow_names node_names;
    cd_err *err;
} onnx_writer;

/* Sets "out of memory writing the ONNX graph"; returns -1. */
int ow_oom(onnx_writer *w);

/* Appends item to the arena array *arr (n used of cap); 0 or -1. */
int ow_push(onnx_writer *w, void ***arr, size_t *n, size_t *cap, void *item);

/* a followed by b, in the arena; NULL when out of memory (err NOT set).  For
 * node names (ow_node makes them unique); a value is named by ow_value. */
char *ow_fmt(onnx_writer *w, const char *a, const char *b);

/* Names (onnx_write_names.c).  Every value of the graph -- node outputs,
 * initializers, "input" and "p_dog" -- is named by ow_value, once: a followed
 * by b, or that with "#<k>" appended where the name is already taken (layers
 * may be named anything, "p_dog", "x/kernel" or one name twice), so no two
 * values can share a name.  NULL with err set when out of memory. */
const char *ow_value(onnx_writer *w, const char *a, const char *b);

/* Marks the value `name` (from ow_value) as written: a node's output or an
 * initializer; 0, or -1 with err set when it was not named by ow_value or is
 * written twice (a bug in the writer, caught rather than exported). */
int ow_define(onnx_writer *w, const char *name);

/* `name`, or "<name>#<k>" where another node has it: node names are unique
 * too (ONNX Runtime refuses a graph with two nodes of one name).  NULL with
 * err set when out of memory. */
const char *ow_node_name(onnx_writer *w, const char *name);

/* A node `op` named `name` (made unique by ow_node_name) with inputs `in`
 * (NULL-terminated) and one output `out` (named by ow_value and not written
 * before), appended to the graph; NULL on error (a NULL name or out: out of
 * memory). */
Onnx__NodeProto *ow_node(onnx_writer *w, const char *op, const char *name, const char *const *in,
                         const char *out);

/* Attributes of n; 0 or -1. */
Onnx__AttributeProto *ow_attr(onnx_writer *w, Onnx__NodeProto *n, const char *name);
int ow_attr_int(onnx_writer *w, Onnx__NodeProto *n, const char *name, int64_t v);
int ow_attr_ints(onnx_writer *w, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t k);
int ow_attr_float(onnx_writer *w, Onnx__NodeProto *n, const char *name, float v);
int ow_attr_string(onnx_writer *w, Onnx__NodeProto *n, const char *name, const char *v);

/* An initializer `name` (named by ow_value and not written before) of k
 * float32 (float_type 1) or int64 (0) values with the given dims (rank 0: a
 * scalar).  `data` is borrowed until the file is
 * packed: arena or model memory, never the stack.  0 or -1. */
int ow_init_tensor(onnx_writer *w, const char *name, int float_type, const void *data, size_t k,
                   const int64_t *dims, size_t rank);

/* A float32 scalar initializer named ow_value(prefix, suffix) holding v
 * (copied into the arena); its name, or NULL on error. */
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

/* A Transpose of x by perm (4 axes) into the value `name` (from ow_value;
 * NULL: out of memory), the node named after it; the name or NULL on error. */
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
