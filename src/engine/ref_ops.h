/*
 * ref_ops.h - internal: the plain-C reference operators behind runner_ref.c.
 *
 * Each operator is a short loop nest over NHWC float buffers, written to be
 * obviously correct: it is the oracle the oneDNN backend and the gradient
 * checks are tested against.  Loops keep the channel axis innermost so the
 * compiler vectorises them; there are no per-element function pointers.
 *
 * Conventions:
 *   - forward functions overwrite their output;
 *   - backward functions ADD into dx / dk / db (so a layer feeding several
 *     consumers gets the sum of their gradients); callers zero them first;
 *   - parameters use Keras layouts: conv kernel HWIO, dense kernel [in, units].
 * Not part of the public contract: only engine/ and its tests include it.
 */
#ifndef CATDOG_ENGINE_REF_OPS_H
#define CATDOG_ENGINE_REF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/layer.h"

/* Geometry of a sliding-window op (Conv2D, MaxPooling2D, AveragePooling2D). */
typedef struct ref_win {
    int n;              /* batch */
    int ih, iw, ic;     /* input map */
    int oh, ow, oc;     /* output map (oc == ic for pooling) */
    int kh, kw;         /* kernel or pool window */
    int sh, sw;         /* strides */
    int pt, pl;         /* padding before (top, left); any odd extra pad is on the end (TF) */
    int g;              /* Conv2D: channel groups (0 or 1: none); kernel (kh, kw, ic/g, oc) */
    int dh, dw;         /* Conv2D: dilation (0 or 1: none) */
} ref_win;

/* Sets pt/pl from the sizes: SAME pads total = max((out-1)*s + k - in, 0) split
 * with the smaller half first; VALID pads nothing. */
void ref_win_pads(ref_win *w, layer_pad pad);

/* ---- Conv2D (ref_conv.c) ---- */
void ref_conv2d_forward(const ref_win *w, const float *x, const float *k, const float *b,
                        float *y);                                 /* b may be NULL */
void ref_conv2d_backward_data(const ref_win *w, const float *dy, const float *k, float *dx);
void ref_conv2d_backward_weights(const ref_win *w, const float *x, const float *dy, float *dk,
                                 float *db);                       /* db may be NULL */

/* ---- pooling (ref_pool.c): padded cells never take part ---- */
void ref_maxpool_forward(const ref_win *w, const float *x, float *y);
/* The gradient goes to the first maximum of each window (x is the forward input). */
void ref_maxpool_backward(const ref_win *w, const float *x, const float *dy, float *dx);
/* The average is over the window's cells inside the input (Keras excludes padding). */
void ref_avgpool_forward(const ref_win *w, const float *x, float *y);
void ref_avgpool_backward(const ref_win *w, const float *dy, float *dx);

/* Global pooling over hw = H*W cells: x is (n, hw, c), y is (n, c). */
void ref_global_avgpool_forward(int n, int hw, int c, const float *x, float *y);
void ref_global_avgpool_backward(int n, int hw, int c, const float *dy, float *dx);
void ref_global_maxpool_forward(int n, int hw, int c, const float *x, float *y);
void ref_global_maxpool_backward(int n, int hw, int c, const float *x, const float *dy,
                                 float *dx);

/* ---- Dense (ref_dense.c): y = x K + b, x (n, in), K (in, units) ---- */
void ref_dense_forward(int n, int in, int units, const float *x, const float *k, const float *b,
                       float *y);                                  /* b may be NULL */
void ref_dense_backward_data(int n, int in, int units, const float *dy, const float *k,
                             float *dx);
void ref_dense_backward_weights(int n, int in, int units, const float *x, const float *dy,
                                float *dk, float *db);             /* db may be NULL */

/* ---- activations and dropout (ref_act.c) ---- */
/* Applies act with parameters ap (NULL: Keras' defaults) in place to rows x c
 * values (softmax over each row of c). */
void ref_act_forward(layer_act act, const layer_act_params *ap, size_t rows, int c, float *y);
/* dz = dL/dz from dL/dy and the activation's input x (read only when
 * layer_act_needs_input(act), else may be NULL) or output y (read otherwise);
 * overwrites dz; dz may be dy. */
void ref_act_backward(layer_act act, const layer_act_params *ap, size_t rows, int c,
                      const float *x, const float *y, const float *dy, float *dz);
/* Inverted dropout mask: each entry 0 with probability rate, else 1/(1-rate);
 * draws from *state (splitmix64), which advances. */
void ref_dropout_mask(size_t size, float rate, uint64_t *state, float *mask);
/* y[i] = x[i] * m[i] */
void ref_mul(size_t size, const float *x, const float *m, float *y);
/* dx[i] += dy[i] * m[i] */
void ref_mul_acc(size_t size, const float *dy, const float *m, float *dx);
/* dx[i] += dy[i] */
void ref_acc(size_t size, const float *dy, float *dx);

/* ---- Concatenate on channels (ref_concat.c) ---- */
/* Copies x (rows, c_in) into channels [offset, offset + c_in) of y (rows, c_out). */
void ref_concat_forward(size_t rows, int c_in, int c_out, int offset, const float *x, float *y);
/* dx (rows, c_in) += that channel slice of dy (rows, c_out). */
void ref_concat_backward(size_t rows, int c_in, int c_out, int offset, const float *dy,
                         float *dx);

#endif
