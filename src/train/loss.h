/*
 * loss.h - training losses computed from logits, and their gradients.
 *
 * The runner is created with output_logits = 1, so the model's last layer hands
 * back pre-activation values z.  Computing the loss from z instead of from
 * sigmoid(z) or softmax(z) avoids log(0) and the cancellation of 1 - p near 1:
 *
 *   binary cross-entropy   l(z, y) = max(z, 0) - z*y + log1p(exp(-|z|))
 *                          dl/dz   = sigmoid(z) - y
 *   categorical (softmax)  l(z, y) = -sum_k y_k * log_softmax(z)_k
 *                          dl/dz_k = softmax(z)_k - y_k
 *
 * Both functions return the mean loss over the n samples (Keras' reduction) and,
 * when grad is not NULL, write d(mean loss)/dz, i.e. the per-sample gradient
 * divided by n.  That is what runner_backward takes: the runner sums parameter
 * gradients over the batch, so the sum of these is the gradient of the mean.
 * Pure functions: no allocation, no failure.
 */
#ifndef CATDOG_TRAIN_LOSS_H
#define CATDOG_TRAIN_LOSS_H

/* The logistic function, computed without overflow for any z. */
float loss_sigmoid(float z);

/* Mean binary cross-entropy of n logits z against targets y (0..1).  grad
 * (n floats) may be NULL; it may not alias z. */
double loss_bce_logits(const float *z, const float *y, int n, float *grad);

/* Keras' label smoothing s (0 = none, < 1) on n rows of target
 * probabilities t, in place: each row moves towards the uniform
 * distribution, t = t * (1 - s) + s / c, where c is the number of classes:
 * k for k > 1 outputs, 2 for one sigmoid output (t = y * (1 - s) + 0.5 * s,
 * Keras' BinaryCrossentropy(label_smoothing=s)). */
void loss_smooth_targets(float *t, int n, int k, float s);

/* Class indices y (n of them, 0..k-1) as one-hot rows t (n x k); an index
 * out of range gives a row of zeros. */
void loss_onehot(const float *y, int n, int k, float *t);

/* Mean categorical cross-entropy of n rows of k logits (row-major n x k) against
 * target distributions y (n x k, usually one-hot).  grad (n x k) may be NULL. */
double loss_cce_logits(const float *z, const float *y, int n, int k, float *grad);

#endif
