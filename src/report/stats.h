/*
 * stats.h - what an evaluation report computes from scored photos: the ROC and
 * precision-recall curves with their areas, the calibration (reliability) bins
 * with the expected calibration error, and the photo-size and orientation
 * groups that accuracy is broken down by.
 *
 * Scores are P(dog) in [0, 1]; labels are 0 (cat) or 1 (dog, the positive
 * class).  Ties follow scikit-learn: a curve has one point per distinct score
 * (all photos with that score cross the threshold together), so the ROC area
 * equals roc_auc_score (a random dog above a random cat, ties counting one
 * half) and the PR area equals average_precision_score.  Pure functions of
 * their inputs; nothing here reads files or keeps state.
 */
#ifndef CATDOG_REPORT_STATS_H
#define CATDOG_REPORT_STATS_H

#include <stddef.h>

#include "core/error.h"

/* A curve: n points (x[i], y[i]) in threshold order (high to low), and the
 * area it stands for.  Owned by the caller; stats_curve_free releases it. */
typedef struct stats_curve {
    size_t n;
    double *x, *y; /* owned, n entries each */
    double area;
} stats_curve;

/* ROC: x = false-positive rate, y = true-positive rate, starting at (0, 0)
 * and ending at (1, 1); one point per distinct score after the start.
 * area = the trapezoid area under it (scikit-learn's roc_auc_score).
 * Fails (CD_ERR_INVALID) when the labels hold only one class, and on OOM. */
int stats_roc(const float *p_dog, const int *labels, size_t n, stats_curve *out, cd_err *err);

/* Precision-recall: x = recall, y = precision, one point per distinct score
 * (threshold "P(dog) >= score"), high to low, so recall rises to 1.
 * area = average precision, sum over points of (recall_k - recall_{k-1}) *
 * precision_k with recall_0 = 0 (scikit-learn's average_precision_score; no
 * interpolation).  Fails (CD_ERR_INVALID) when there is no dog, and on OOM. */
int stats_pr(const float *p_dog, const int *labels, size_t n, stats_curve *out, cd_err *err);

void stats_curve_free(stats_curve *c);

/* Calibration over STATS_CAL_BINS equal-width bins of P(dog): photo i falls in
 * bin floor(STATS_CAL_BINS * p) (computed in double; p = 1 in the last bin).
 * For each bin: the photos in it, their mean P(dog) and the fraction that are
 * dogs (both NAN for an empty bin).  ece = sum over bins of
 * count / n * |fraction of dogs - mean P(dog)|: the expected calibration error
 * of P(dog) as a probability (what the reliability diagram shows). */
#define STATS_CAL_BINS 10

typedef struct stats_calibration {
    size_t count[STATS_CAL_BINS];
    double mean_p[STATS_CAL_BINS];
    double frac_dog[STATS_CAL_BINS];
    double ece; /* NAN when n == 0 */
} stats_calibration;

void stats_calibrate(const float *p_dog, const int *labels, size_t n, stats_calibration *out);

/* Photo-size groups by the shorter side of the original photo (before any
 * resizing): the model sees all of them at its own input size, so the shorter
 * side says how much detail was there to lose (or, below 150, that the photo
 * was enlarged for the 150x150 binary model). */
enum { STATS_SIZE_UNDER_150, STATS_SIZE_150_249, STATS_SIZE_250_349, STATS_SIZE_350_449,
       STATS_SIZE_450_UP, STATS_SIZE_COUNT };

int stats_size_group(int width, int height);
const char *stats_size_group_name(int group); /* "under 150 px", "150-249 px", ... (plain text) */

/* Orientation groups: square when the longer side is at most 5 % longer than
 * the shorter (photos "almost square" look square to the model after the
 * resize), else landscape (wider) or portrait (taller). */
enum { STATS_LANDSCAPE, STATS_PORTRAIT, STATS_SQUARE, STATS_ORIENT_COUNT };

int stats_orientation(int width, int height);
const char *stats_orientation_name(int group); /* "landscape", "portrait", "square" */

#endif
