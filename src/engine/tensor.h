/*
 * tensor.h - dense float32 arrays with a shape.
 *
 * Activations are NHWC (Keras channels_last) so Keras weights and Flatten order
 * match without transposes.  Parameters keep Keras' own layouts:
 *   Conv2D kernel  [kh, kw, in_channels, filters]   (HWIO)
 *   Dense kernel   [in_units, units]
 *   biases         [units or filters]
 * A tensor owns its data; tensor_free releases both.
 */
#ifndef CATDOG_ENGINE_TENSOR_H
#define CATDOG_ENGINE_TENSOR_H

#include <stddef.h>

#include "core/error.h"

#define TENSOR_MAX_RANK 4

typedef struct tensor {
    int rank;                   /* 0..4 (0: a scalar, size 1, as Normalization's count) */
    int dims[TENSOR_MAX_RANK];  /* dims[0..rank-1], row-major (last dim contiguous) */
    size_t size;                /* product of dims */
    float *data;                /* owned, size floats, zero-initialised */
} tensor;

/* A zero-filled tensor of the given shape (rank 0: a scalar; dims may then be
 * NULL); NULL (err filled) on a bad shape or OOM. */
tensor *tensor_new(int rank, const int *dims, cd_err *err);

/* A deep copy; NULL on OOM. */
tensor *tensor_clone(const tensor *t, cd_err *err);

void tensor_free(tensor *t);

/* 1 when both shapes are identical. */
int tensor_same_shape(const tensor *a, const tensor *b);

/* Writes the shape as "(3, 3, 32, 64)" into buf (always NUL-terminated). */
void tensor_shape_str(int rank, const int *dims, char *buf, size_t bufsize);

#endif
