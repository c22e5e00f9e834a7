/*
 * ref_act.c - reference activations (forward in place, backward from the
 * output) and dropout helpers.
 *
 * Every derivative is written in terms of the activation's output y, so the
 * runner only keeps outputs: relu' = [y > 0], sigmoid' = y (1 - y),
 * tanh' = 1 - y^2, softmax: dz = y * (dy - sum(dy * y)) per row.
 */
#include "engine/ref_ops.h"

#include <math.h>

static float sigmoidf(float z)
{
    /* Stable for large |z|: never exponentiates a positive number. */
    if (z >= 0.0f)
        return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

void ref_act_forward(layer_act act, size_t rows, int c, float *y)
{
    size_t size = rows * (size_t)c;
    switch (act) {
    case ACT_LINEAR:
        return;
    case ACT_RELU:
        for (size_t i = 0; i < size; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        return;
    case ACT_SIGMOID:
        for (size_t i = 0; i < size; i++)
            y[i] = sigmoidf(y[i]);
        return;
    case ACT_TANH:
        for (size_t i = 0; i < size; i++)
            y[i] = tanhf(y[i]);
        return;
    case ACT_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            float *yr = y + r * (size_t)c;
            float mx = yr[0], sum = 0.0f;
            for (int j = 1; j < c; j++)
                mx = yr[j] > mx ? yr[j] : mx;
            for (int j = 0; j < c; j++) {
                yr[j] = expf(yr[j] - mx);
                sum += yr[j];
            }
            for (int j = 0; j < c; j++)
                yr[j] /= sum;
        }
        return;
    }
}

void ref_act_backward(layer_act act, size_t rows, int c, const float *y, const float *dy,
                      float *dz)
{
    size_t size = rows * (size_t)c;
    switch (act) {
    case ACT_LINEAR:
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i];
        return;
    case ACT_RELU:
        for (size_t i = 0; i < size; i++)
            dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        return;
    case ACT_SIGMOID:
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
    case ACT_TANH:
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
    case ACT_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            const float *yr = y + r * (size_t)c, *dyr = dy + r * (size_t)c;
            float *dzr = dz + r * (size_t)c;
            float dot = 0.0f;
            for (int j = 0; j < c; j++)
                dot += dyr[j] * yr[j];
            for (int j = 0; j < c; j++)
                dzr[j] = yr[j] * (dyr[j] - dot);
        }
        return;
    }
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void ref_dropout_mask(size_t size, float rate, uint64_t *state, float *mask)
{
    const float keep = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < size; i++) {
        float u = (float)(splitmix64(state) >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
        mask[i] = u < rate ? 0.0f : keep;
    }
}

void ref_mul(size_t size, const float *x, const float *m, float *y)
{
    for (size_t i = 0; i < size; i++)
        y[i] = x[i] * m[i];
}

void ref_mul_acc(size_t size, const float *dy, const float *m, float *dx)
{
    for (size_t i = 0; i < size; i++)
        dx[i] += dy[i] * m[i];
}

void ref_acc(size_t size, const float *dy, float *dx)
{
    for (size_t i = 0; i < size; i++)
        dx[i] += dy[i];
}
