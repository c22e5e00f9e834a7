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

/* ONNX's IR version for an opset (what ONNX Runtime checks). */
int64_t onnx_ir_version_for_opset(int opset);

#endif
