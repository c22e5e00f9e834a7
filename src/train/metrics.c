/*
 * metrics.c - accuracy and rank-based ROC AUC (see metrics.h).
 */
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>

size_t metrics_binary_correct(const float *scores, const float *labels, size_t n, float threshold)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += ((scores[i] > threshold) == (labels[i] > 0.5f));
    return ok;
}

double metrics_binary_accuracy(const float *scores, const float *labels, size_t n, float threshold)
{
    if (n == 0)
        return 0.0;
    return (double)metrics_binary_correct(scores, labels, n, threshold) / (double)n;
}

double metrics_categorical_accuracy(const float *scores, const int *labels, size_t n, int k)
{
    if (n == 0 || k <= 0)
        return 0.0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        const float *s = scores + i * (size_t)k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (s[j] > s[best])
                best = j;
        ok += (best == labels[i]);
    }
    return (double)ok / (double)n;
}

typedef struct scored {
    float score;
    int positive;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

int metrics_roc_auc(const float *scores, const float *labels, size_t n, double *auc, cd_err *err)
{
    size_t npos = 0;
    for (size_t i = 0; i < n; i++)
        npos += labels[i] > 0.5f;
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return cd_err_set(err, CD_ERR_INVALID,
                          "ROC AUC needs both classes; got %zu positives and %zu negatives", npos, nneg);
    scored *s = malloc(n * sizeof *s);
    if (!s)
        return cd_err_set(err, CD_ERR_NOMEM, "ROC AUC: out of memory for %zu scores", n);
    for (size_t i = 0; i < n; i++) {
        s[i].score = scores[i];
        s[i].positive = labels[i] > 0.5f;
    }
    qsort(s, n, sizeof *s, cmp_scored);
    /* Sum of the positives' ranks (1-based), each tie group getting its mean rank. */
    double rank_sum = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && s[j].score == s[i].score)
            j++;
        double mean_rank = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        for (size_t t = i; t < j; t++)
            if (s[t].positive)
                rank_sum += mean_rank;
        i = j;
    }
    free(s);
    double u = rank_sum - (double)npos * (double)(npos + 1) / 2.0;
    *auc = u / ((double)npos * (double)nneg);
    return 0;
}

void metrics_tally_add(metrics_tally *t, double loss, int n, size_t correct)
{
    t->loss_sum += loss * n;
    t->correct += correct;
    t->seen += (size_t)n;
}

double metrics_tally_loss(const metrics_tally *t)
{
    return t->seen ? t->loss_sum / (double)t->seen : NAN;
}

double metrics_tally_accuracy(const metrics_tally *t)
{
    return t->seen ? (double)t->correct / (double)t->seen : NAN;
}
