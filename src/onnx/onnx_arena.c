/*
 * onnx_arena.c - the bump arena ONNX reading and writing allocate from
 * (see onnx_internal.h).  Blocks are malloc'd on demand; large requests get a
 * block of their own so a big weight blob never wastes a block's tail.
 */
#include "onnx/onnx_internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_BYTES ((size_t)64 << 10)

struct onnx_arena_block {
    onnx_arena_block *next;
    size_t size;   /* usable bytes after the header */
    size_t off;    /* bytes used */
    _Alignas(16) unsigned char data[];
};

void *onnx_arena_alloc(onnx_arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL;
    if (a->budget && (need > a->budget || a->used > a->budget - need)) {
        a->refused = 1;
        return NULL;
    }
    onnx_arena_block *b = a->head;
    if (!b || b->size - b->off < need) {
        size_t bytes = need > ARENA_BLOCK_BYTES / 4 ? need : ARENA_BLOCK_BYTES;
        b = malloc(sizeof *b + bytes);
        if (!b)
            return NULL;
        b->size = bytes;
        b->off = 0;
        /* A dedicated block goes behind the current one, so the current
         * block's free tail stays usable for the small pieces. */
        if (bytes == need && a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->off;
    b->off += need;
    a->used += need;
    memset(p, 0, need);
    return p;
}

char *onnx_arena_strdup(onnx_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = onnx_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void onnx_arena_free(onnx_arena *a)
{
    onnx_arena_block *b = a->head;
    while (b) {
        onnx_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

static void *pb_alloc(void *data, size_t size) { return onnx_arena_alloc(data, size); }

static void pb_free(void *data, void *ptr)
{
    /* Everything goes at once with onnx_arena_free. */
    (void)data;
    (void)ptr;
}

ProtobufCAllocator onnx_arena_allocator(onnx_arena *a)
{
    ProtobufCAllocator al = {pb_alloc, pb_free, a};
    return al;
}

int64_t onnx_ir_version_for_opset(int opset)
{
    /* onnx/helper.py's VERSION_TABLE: the IR version that introduced each opset. */
    if (opset <= 11)
        return 6;
    if (opset <= 13)
        return 7;
    if (opset <= 18)
        return 8;
    return 9;
}
