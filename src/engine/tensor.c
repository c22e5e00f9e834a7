/*
 * tensor.c - dense float32 arrays with a shape (see tensor.h).
 *
 * Deliberately minimal: the engine keeps activations in plain float buffers it
 * sizes itself; tensors are for parameters and gradients, whose shapes matter
 * to loaders, shape checks and optimizers.
 */
#include "engine/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tensor *tensor_new(int rank, const int *dims, cd_err *err)
{
    if (rank < 0 || rank > TENSOR_MAX_RANK || (!dims && rank > 0)) {
        cd_err_set(err, CD_ERR_SHAPE, "tensor rank %d is not in 0..%d", rank, TENSOR_MAX_RANK);
        return NULL;
    }
    size_t size = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] <= 0) {
            char s[64];
            tensor_shape_str(rank, dims, s, sizeof s);
            cd_err_set(err, CD_ERR_SHAPE, "tensor shape %s has a non-positive dimension", s);
            return NULL;
        }
        if (size > SIZE_MAX / sizeof(float) / (size_t)dims[i]) {
            cd_err_set(err, CD_ERR_LIMIT, "tensor too large");
            return NULL;
        }
        size *= (size_t)dims[i];
    }
    tensor *t = calloc(1, sizeof *t);
    float *data = calloc(size, sizeof *data);
    if (!t || !data) {
        free(t);
        free(data);
        cd_err_set(err, CD_ERR_NOMEM, "out of memory allocating a tensor of %zu floats", size);
        return NULL;
    }
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->size = size;
    t->data = data;
    return t;
}

tensor *tensor_clone(const tensor *t, cd_err *err)
{
    if (!t) {
        cd_err_set(err, CD_ERR_INVALID, "tensor_clone of NULL");
        return NULL;
    }
    tensor *c = tensor_new(t->rank, t->dims, err);
    if (c)
        memcpy(c->data, t->data, t->size * sizeof(float));
    return c;
}

void tensor_free(tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t);
}

int tensor_same_shape(const tensor *a, const tensor *b)
{
    if (!a || !b || a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

void tensor_shape_str(int rank, const int *dims, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return;
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, bufsize, "(");
    for (int i = 0; i < rank && used < bufsize; i++)
        used += (size_t)snprintf(buf + used, bufsize - used, "%s%d", i ? ", " : "", dims[i]);
    if (used < bufsize)
        snprintf(buf + used, bufsize - used, "%s)", rank == 1 ? "," : "");
}
