/*
 * loss.c - binary and categorical cross-entropy from logits (see loss.h).
 *
 * Sums are accumulated in double: a batch's loss is compared across epochs
 * and float rounding would show in the history at the fourth digit.
 */
#include "train/loss.h"

#include <math.h>
#include <stddef.h>

float loss_sigmoid(float z)
{
    /* exp of a negative number only, so no overflow for large |z|. */
    if (z >= 0.0f) {
        float e = expf(-z);
        return 1.0f / (1.0f + e);
    }
    float e = expf(z);
    return e / (1.0f + e);
}

double loss_bce_logits(const float *z, const float *y, int n, float *grad)
{
    if (n <= 0)
        return 0.0;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double zi = z[i], yi = y[i];
        sum += (zi > 0.0 ? zi : 0.0) - zi * yi + log1p(exp(-fabs(zi)));
        if (grad)
            grad[i] = (loss_sigmoid(z[i]) - y[i]) / (float)n;
    }
    return sum / n;
}

double loss_cce_logits(const float *z, const float *y, int n, int k, float *grad)
{
    if (n <= 0 || k <= 0)
        return 0.0;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k;
        const float *yi = y + (size_t)i * k;
        /* log_softmax(z)_j = z_j - (max + log sum exp(z - max)) */
        double mx = zi[0];
        for (int j = 1; j < k; j++)
            if (zi[j] > mx)
                mx = zi[j];
        double se = 0.0;
        for (int j = 0; j < k; j++)
            se += exp(zi[j] - mx);
        double lse = mx + log(se);
        for (int j = 0; j < k; j++) {
            double logp = zi[j] - lse;
            sum -= yi[j] * logp;
            if (grad)
                grad[(size_t)i * k + j] = (float)((exp(logp) - yi[j]) / n);
        }
    }
    return sum / n;
}

void loss_smooth_targets(float *t, int n, int k, float s)
{
    if (s == 0.0f || n <= 0 || k <= 0)
        return;
    float u = s / (float)(k == 1 ? 2 : k);
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
        t[i] = t[i] * (1.0f - s) + u;
}

void loss_onehot(const float *y, int n, int k, float *t)
{
    for (int i = 0; i < n; i++) {
        float *r = t + (size_t)i * k;
        for (int j = 0; j < k; j++)
            r[j] = 0.0f;
        int c = (int)y[i];
        if (c >= 0 && c < k)
            r[c] = 1.0f;
    }
}
