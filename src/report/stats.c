/*
 * stats.c - curves, areas, calibration and groups for reports (see stats.h).
 *
 * Both curves walk the photos once in descending score order and emit a point
 * where the score changes, which is what makes tied scores cross a threshold
 * together (the scikit-learn convention the tests check against).
 */
#include "report/stats.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    float p;
    int y;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    float pa = ((const scored *)a)->p, pb = ((const scored *)b)->p;
    return (pa < pb) - (pa > pb);
}

/* The photos sorted by descending score, with the number of dogs; NULL on OOM. */
static scored *sorted(const float *p, const int *labels, size_t n, size_t *dogs, cd_err *err)
{
    scored *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory sorting %zu scores", n);
        return NULL;
    }
    *dogs = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].p = p[i];
        s[i].y = labels[i] != 0;
        *dogs += (size_t)s[i].y;
    }
    qsort(s, n, sizeof *s, by_score_desc);
    return s;
}

static int curve_alloc(stats_curve *c, size_t n, cd_err *err)
{
    c->n = 0;
    c->area = NAN;
    c->x = malloc(n * sizeof *c->x);
    c->y = malloc(n * sizeof *c->y);
    if (!c->x || !c->y) {
        stats_curve_free(c);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for a curve of %zu points", n);
    }
    return 0;
}

void stats_curve_free(stats_curve *c)
{
    if (!c)
        return;
    free(c->x);
    free(c->y);
    c->x = c->y = NULL;
    c->n = 0;
}

int stats_roc(const float *p_dog, const int *labels, size_t n, stats_curve *out, cd_err *err)
{
    size_t pos;
    out->x = out->y = NULL;
    out->n = 0;
    scored *s = sorted(p_dog, labels, n, &pos, err);
    if (!s)
        return -1;
    size_t neg = n - pos;
    if (pos == 0 || neg == 0) {
        free(s);
        return cd_err_set(err, CD_ERR_INVALID, "ROC needs photos of both classes (%zu dogs, %zu cats)", pos, neg);
    }
    if (curve_alloc(out, n + 1, err) != 0) {
        free(s);
        return -1;
    }
    size_t tp = 0, fp = 0;
    double area = 0;
    out->x[0] = out->y[0] = 0;
    out->n = 1;
    for (size_t i = 0; i < n; i++) {
        tp += (size_t)s[i].y;
        fp += (size_t)!s[i].y;
        if (i + 1 < n && s[i + 1].p == s[i].p)
            continue; /* the tie crosses the threshold as one step */
        double x = (double)fp / (double)neg, y = (double)tp / (double)pos;
        area += (x - out->x[out->n - 1]) * (y + out->y[out->n - 1]) / 2;
        out->x[out->n] = x;
        out->y[out->n] = y;
        out->n++;
    }
    out->area = area;
    free(s);
    return 0;
}

int stats_pr(const float *p_dog, const int *labels, size_t n, stats_curve *out, cd_err *err)
{
    size_t pos;
    out->x = out->y = NULL;
    out->n = 0;
    scored *s = sorted(p_dog, labels, n, &pos, err);
    if (!s)
        return -1;
    if (pos == 0) {
        free(s);
        return cd_err_set(err, CD_ERR_INVALID, "precision-recall needs at least one dog among %zu photos", n);
    }
    if (curve_alloc(out, n, err) != 0) {
        free(s);
        return -1;
    }
    size_t tp = 0;
    double ap = 0, last_recall = 0;
    for (size_t i = 0; i < n; i++) {
        tp += (size_t)s[i].y;
        if (i + 1 < n && s[i + 1].p == s[i].p)
            continue;
        double recall = (double)tp / (double)pos, precision = (double)tp / (double)(i + 1);
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        out->x[out->n] = recall;
        out->y[out->n] = precision;
        out->n++;
    }
    out->area = ap;
    free(s);
    return 0;
}

void stats_calibrate(const float *p_dog, const int *labels, size_t n, stats_calibration *out)
{
    double sum_p[STATS_CAL_BINS] = {0};
    size_t dogs[STATS_CAL_BINS] = {0};
    for (int b = 0; b < STATS_CAL_BINS; b++)
        out->count[b] = 0;
    for (size_t i = 0; i < n; i++) {
        double p = (double)p_dog[i];
        int b = (int)floor(p * STATS_CAL_BINS);
        b = b < 0 ? 0 : b >= STATS_CAL_BINS ? STATS_CAL_BINS - 1 : b;
        out->count[b]++;
        sum_p[b] += p;
        dogs[b] += labels[i] != 0;
    }
    double ece = 0;
    for (int b = 0; b < STATS_CAL_BINS; b++) {
        if (!out->count[b]) {
            out->mean_p[b] = out->frac_dog[b] = NAN;
            continue;
        }
        out->mean_p[b] = sum_p[b] / (double)out->count[b];
        out->frac_dog[b] = (double)dogs[b] / (double)out->count[b];
        ece += (double)out->count[b] / (double)n * fabs(out->frac_dog[b] - out->mean_p[b]);
    }
    out->ece = n ? ece : NAN;
}

int stats_size_group(int width, int height)
{
    int s = width < height ? width : height;
    return s < 150 ? STATS_SIZE_UNDER_150 : s < 250 ? STATS_SIZE_150_249 : s < 350 ? STATS_SIZE_250_349
           : s < 450 ? STATS_SIZE_350_449 : STATS_SIZE_450_UP;
}

const char *stats_size_group_name(int group)
{
    static const char *const names[STATS_SIZE_COUNT] = {"under 150 px", "150-249 px", "250-349 px",
                                                         "350-449 px", "450 px and more"};
    return group >= 0 && group < STATS_SIZE_COUNT ? names[group] : "?";
}

int stats_orientation(int width, int height)
{
    int lo = width < height ? width : height, hi = width < height ? height : width;
    if ((double)hi <= 1.05 * (double)lo)
        return STATS_SQUARE;
    return width > height ? STATS_LANDSCAPE : STATS_PORTRAIT;
}

const char *stats_orientation_name(int group)
{
    static const char *const names[STATS_ORIENT_COUNT] = {"landscape", "portrait", "square"};
    return group >= 0 && group < STATS_ORIENT_COUNT ? names[group] : "?";
}
