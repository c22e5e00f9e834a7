/*
 * pool_max.h - max pooling without padding: the kernels the oneDNN runner's
 * plans use instead of oneDNN's pooling primitive where they apply
 * (op_pool.c).
 *
 * Why: oneDNN 2.6's jit:avx2 max pooling spends ~33 ms of CPU on the binary
 * CNN's first pooling of a training slice (16 x 32 x 148 x 148 -> 74 x 74,
 * nChw8c, pages warm) and about as long on its backward; the loops here do
 * the same in a fraction of that (numbers in docs/ARCHITECTURE.md).
 *
 * The forward takes any unpadded window and stride (VALID, or SAME where it
 * pads nothing).  The backward takes the CNNs' common case: the window is the
 * stride (Keras' MaxPooling2D(k) with its default strides), so every input
 * cell belongs to at most one window (the last rows / columns that do not
 * fill a window belong to none), and the backward pass writes every input
 * cell once -- the window's gradient at its argmax, zero elsewhere -- with no
 * zeroing pass and no accumulation.  (Overlapping windows, SqueezeNet's 3x3
 * of stride 2, run forward only: at inference, and in training where no
 * gradient flows back through them -- a frozen backbone's.)
 *
 * Layout: a map is n samples x `blocks` channel blocks x h x w pixels, each
 * pixel of a block holding `lanes` consecutive channels contiguously:
 * oneDNN's blocked nChw8c / nChw16c (lanes 8 / 16, blocks = padded C / lanes)
 * and plain NHWC (one block, lanes = C).  Strides are in elements, the lane
 * stride is 1.  The output, the argmax and the gradients use the output's
 * strides (argmax: one byte per output element, the window position
 * dy * kw + dx of the first maximum in row-major order -- oneDNN's and the
 * reference backend's choice among equal values).
 *
 * Work is split in "rows": one output row of one channel block of one sample
 * (pool_max_rows of them); every function does rows [lo, hi), so callers can
 * hand contiguous ranges to threads.  Rows touch disjoint memory.
 *
 * On x86-64 the loops are compiled twice, for baseline SSE2 and for AVX2, and
 * the AVX2 copy runs where the CPU has it (a run-time check, as in
 * image_resize.c).  Results are the same either way (a maximum is exact).
 */
#ifndef CATDOG_ENGINE_POOL_MAX_H
#define CATDOG_ENGINE_POOL_MAX_H

#include <stddef.h>
#include <stdint.h>

typedef struct pool_max_shape {
    int n, blocks, lanes;            /* samples, channel blocks, channels per block */
    int ih, iw, oh, ow;              /* input and output pixels: oh = (ih - kh) / sh + 1, ... */
    int kh, kw;                      /* window; kh * kw <= 255 */
    int sh, sw;                      /* stride (backward: = kh, kw) */
    ptrdiff_t x_n, x_b, x_h, x_w;    /* input strides (elements) */
    ptrdiff_t y_n, y_b, y_h, y_w;    /* output / argmax / output-gradient strides */
} pool_max_shape;

/* 1 when s describes a case the kernels' forward takes (positive sizes,
 * oh = (ih - kh) / sh + 1, ow likewise, a window of at most 255 cells, lanes
 * within a pixel's stride); the backward also needs sh = kh and sw = kw. */
int pool_max_shape_ok(const pool_max_shape *s);

/* The units of work: n * blocks * oh. */
size_t pool_max_rows(const pool_max_shape *s);

/* y = the maximum of each window, max(y, 0) when relu (a ReLU moved behind
 * the pooling: the same values); argmax (may be NULL, at inference) = where
 * in the window it is. */
void pool_max_f32(const pool_max_shape *s, const float *x, float *y, uint8_t *argmax, int relu,
                  size_t lo, size_t hi);

/* dx = dy at each window's argmax, 0 elsewhere (also in the rows and columns
 * no window covers); windows must not overlap (sh = kh, sw = kw).  relu: y is the forward's output and a window whose y is
 * not > 0 passes no gradient (the ReLU's backward, fused); y is NULL otherwise.
 * dx is written, not added to. */
void pool_max_f32_backward(const pool_max_shape *s, const uint8_t *argmax, const float *dy,
                           const float *y, float *dx, size_t lo, size_t hi);

/* Inference on an int8 plan's quantized maps: the maximum of each window. */
void pool_max_u8(const pool_max_shape *s, const uint8_t *x, uint8_t *y, size_t lo, size_t hi);
void pool_max_s8(const pool_max_shape *s, const int8_t *x, int8_t *y, size_t lo, size_t hi);

#endif
