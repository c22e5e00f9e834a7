/*
 * ref_dense.c - reference Dense: y = x K + b with K in Keras' [in, units] layout.
 *
 * The units axis is contiguous in K, y and dy, so it is the inner loop.
 */
#include "engine/ref_ops.h"

void ref_dense_forward(int n, int in, int units, const float *x, const float *k, const float *b,
                       float *y)
{
    for (int s = 0; s < n; s++) {
        float *restrict yr = y + (size_t)s * units;
        const float *xr = x + (size_t)s * in;
        for (int u = 0; u < units; u++)
            yr[u] = b ? b[u] : 0.0f;
        for (int i = 0; i < in; i++) {
            const float xv = xr[i];
            const float *restrict kr = k + (size_t)i * units;
            for (int u = 0; u < units; u++)
                yr[u] += xv * kr[u];
        }
    }
}

void ref_dense_backward_data(int n, int in, int units, const float *dy, const float *k,
                             float *dx)
{
    for (int s = 0; s < n; s++) {
        const float *restrict dyr = dy + (size_t)s * units;
        float *dxr = dx + (size_t)s * in;
        for (int i = 0; i < in; i++) {
            const float *restrict kr = k + (size_t)i * units;
            float acc = 0.0f;
            for (int u = 0; u < units; u++)
                acc += dyr[u] * kr[u];
            dxr[i] += acc;
        }
    }
}

void ref_dense_backward_weights(int n, int in, int units, const float *x, const float *dy,
                                float *dk, float *db)
{
    for (int s = 0; s < n; s++) {
        const float *restrict dyr = dy + (size_t)s * units;
        const float *xr = x + (size_t)s * in;
        if (db)
            for (int u = 0; u < units; u++)
                db[u] += dyr[u];
        for (int i = 0; i < in; i++) {
            const float xv = xr[i];
            float *restrict dkr = dk + (size_t)i * units;
            for (int u = 0; u < units; u++)
                dkr[u] += xv * dyr[u];
        }
    }
}
