/*
 * ref_concat.c - reference Concatenate along the channel (last) axis.
 *
 * Each input is copied into its slice of every output row; backward adds the
 * slice back, so an input used by several consumers sums their gradients.
 */
#include "engine/ref_ops.h"

#include <string.h>

void ref_concat_forward(size_t rows, int c_in, int c_out, int offset, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * (size_t)c_out + offset, x + r * (size_t)c_in, (size_t)c_in * sizeof *x);
}

void ref_concat_backward(size_t rows, int c_in, int c_out, int offset, const float *dy,
                         float *dx)
{
    for (size_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * (size_t)c_out + offset;
        float *dxr = dx + r * (size_t)c_in;
        for (int j = 0; j < c_in; j++)
            dxr[j] += dyr[j];
    }
}
