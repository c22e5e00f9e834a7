/*
 * onnx_internal.h - what onnx_read.c and onnx_write.c share: the generated
 * protobuf-c types (build/onnx_pb/onnx.pb-c.h, from Debian's onnx.proto) and
 * a bump arena for the many small pieces a graph is made of.
 *
 * Not a contract for other rooms; onnx.h is.
 */
#ifndef CATDOG_ONNX_INTERNAL_H
#define CATDOG_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "engine/layer.h"
#include "onnx.pb-c.h"

/* A bump allocator: every piece lives until onnx_arena_free, so building or
 * reading a graph needs no per-piece frees.  `budget` (0 = unlimited) caps
 * the total handed out; past it allocations fail (NULL), which is how a
 * hostile file is kept from making the reader allocate more than a fixed
 * multiple of its own size. */
typedef struct onnx_arena_block onnx_arena_block;
typedef struct onnx_arena {
    onnx_arena_block *head;
    size_t used;     /* bytes handed out so far */
    size_t budget;   /* 0 = no limit */
    int refused;     /* 1 once a request was refused for the budget */
} onnx_arena;

/* 16-byte aligned, zeroed memory; NULL when out of memory or over budget. */
void *onnx_arena_alloc(onnx_arena *a, size_t size);
char *onnx_arena_strdup(onnx_arena *a, const char *s);
void onnx_arena_free(onnx_arena *a);

/* A protobuf-c allocator drawing from `a` (its free is a no-op). */
ProtobufCAllocator onnx_arena_allocator(onnx_arena *a);

/* ---- element-wise activations (onnx_acts.c) ---- */

/* The attributes of an activation node the table reads. */
typedef struct onnx_act_attrs {
    int has_alpha, has_beta, has_gamma;
    float alpha, beta, gamma;
    const char *approximate;   /* Gelu, or NULL */
} onnx_act_attrs;

/* ONNX op `op` as a catdog activation: 1 with *act and *ap set, 0 when op is
 * not an activation op, -1 with `why` when its attributes have no catdog form. */
int onnx_act_import(const char *op, const onnx_act_attrs *at, layer_act *act,
                    layer_act_params *ap, char *why, size_t n);
/* Clip with these bounds as an activation (relu, relu6, ReLU(max_value));
 * -1 with `why` for other bounds. */
int onnx_act_clip(int has_min, float lo, int has_max, float hi, layer_act *act,
                  layer_act_params *ap, char *why, size_t n);

/* How the writer spells an activation: op with up to two float attributes,
 * Clip's bounds (inputs from opset 11, attributes before), Gelu's approximate,
 * or -- mul_input -- the op's output multiplied by its input (swish). */
typedef struct onnx_act_form {
    const char *op;
    const char *attr[2];
    float val[2];
    float clip_min, clip_max;
    const char *approximate;
    int mul_input;
} onnx_act_form;
int onnx_act_export(layer_act act, const layer_act_params *ap, int opset, onnx_act_form *f,
                    char *why, size_t n);

/* ONNX's IR version for an opset (what ONNX Runtime checks). */
int64_t onnx_ir_version_for_opset(int opset);

#endif
