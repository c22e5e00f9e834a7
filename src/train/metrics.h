/*
 * metrics.h - classification metrics: accuracy and ROC AUC.
 *
 * Used by the training loop (per epoch and on the test split) and by
 * `catdog evaluate`.  Scores may be probabilities or logits: accuracy takes the
 * threshold that fits (0.5 for probabilities, 0 for logits), and AUC depends only
 * on the order of the scores, so it is the same for both.
 *
 * Labels are floats 0 or 1 (the dataset iterator's y); the positive class is 1
 * ("dogs", the second class folder in alphabetical order).
 */
#ifndef CATDOG_TRAIN_METRICS_H
#define CATDOG_TRAIN_METRICS_H

#include <stddef.h>

#include "core/error.h"

/* Fraction of the n samples where (score > threshold) equals (label > 0.5).
 * 0 when n == 0. */
double metrics_binary_accuracy(const float *scores, const float *labels, size_t n, float threshold);

/* Number of correct predictions (same rule), for accumulating over batches. */
size_t metrics_binary_correct(const float *scores, const float *labels, size_t n, float threshold);

/* Running means over an epoch's batches, as a training progress line reports
 * them.  Every training loop (train/, transfer/) keeps one, so "loss" and
 * "accuracy" mean the same everywhere. */
typedef struct metrics_tally {
    double loss_sum;       /* sum of per-sample losses */
    size_t correct, seen;
} metrics_tally;

/* Adds a batch of n samples with mean loss `loss` and `correct` right answers. */
void metrics_tally_add(metrics_tally *t, double loss, int n, size_t correct);

/* The means so far; NAN when nothing was added. */
double metrics_tally_loss(const metrics_tally *t);
double metrics_tally_accuracy(const metrics_tally *t);

/* Fraction of the n rows of k scores whose argmax is labels[i] (class index). */
double metrics_categorical_accuracy(const float *scores, const int *labels, size_t n, int k);

/* Area under the ROC curve: the probability that a random positive scores
 * above a random negative, ties counting one half (Mann-Whitney U from ranks,
 * tied scores given their average rank).  O(n log n), allocates n entries.
 * Fails (CD_ERR_INVALID) when the labels hold only one class, where AUC is
 * undefined, and on OOM. */
int metrics_roc_auc(const float *scores, const float *labels, size_t n, double *auc, cd_err *err);

#endif
