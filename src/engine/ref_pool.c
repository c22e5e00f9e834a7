/*
 * ref_pool.c - reference pooling: max and average windows, global pools.
 *
 * Windows follow the same geometry as Conv2D (ref_win).  Padded cells never
 * take part: max pooling looks only at cells inside the input, and average
 * pooling divides by the number of cells inside the input, as Keras/TensorFlow
 * do.  Under TF's padding rules every window holds at least one real cell.
 */
#include "engine/ref_ops.h"

#include <float.h>

static size_t pix(int b, int y, int x, int h, int w, int c)
{
    return (((size_t)b * h + y) * w + x) * c;
}

/* The window of output (oy, ox), clipped to the input: rows [y0, y1), cols [x0, x1). */
static void clip(const ref_win *w, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    int ys = oy * w->sh - w->pt, xs = ox * w->sw - w->pl;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + w->kh > w->ih ? w->ih : ys + w->kh;
    *x1 = xs + w->kw > w->iw ? w->iw : xs + w->kw;
}

void ref_maxpool_forward(const ref_win *w, const float *x, float *y)
{
    const int c = w->ic;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                int y0, y1, x0, x1;
                clip(w, oy, ox, &y0, &y1, &x0, &x1);
                float *yr = y + pix(n, oy, ox, w->oh, w->ow, c);
                for (int ch = 0; ch < c; ch++)
                    yr[ch] = -FLT_MAX;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, c);
                        for (int ch = 0; ch < c; ch++)
                            yr[ch] = xr[ch] > yr[ch] ? xr[ch] : yr[ch];
                    }
            }
}

void ref_maxpool_backward(const ref_win *w, const float *x, const float *dy, float *dx)
{
    const int c = w->ic;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                int y0, y1, x0, x1;
                clip(w, oy, ox, &y0, &y1, &x0, &x1);
                const float *dyr = dy + pix(n, oy, ox, w->oh, w->ow, c);
                for (int ch = 0; ch < c; ch++) {
                    size_t best = pix(n, y0, x0, w->ih, w->iw, c) + (size_t)ch;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) {
                            size_t at = pix(n, iy, ix, w->ih, w->iw, c) + (size_t)ch;
                            if (x[at] > x[best])
                                best = at;
                        }
                    dx[best] += dyr[ch];
                }
            }
}

void ref_avgpool_forward(const ref_win *w, const float *x, float *y)
{
    const int c = w->ic;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                int y0, y1, x0, x1;
                clip(w, oy, ox, &y0, &y1, &x0, &x1);
                float *yr = y + pix(n, oy, ox, w->oh, w->ow, c);
                for (int ch = 0; ch < c; ch++)
                    yr[ch] = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, c);
                        for (int ch = 0; ch < c; ch++)
                            yr[ch] += xr[ch];
                    }
                const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int ch = 0; ch < c; ch++)
                    yr[ch] *= inv;
            }
}

void ref_avgpool_backward(const ref_win *w, const float *dy, float *dx)
{
    const int c = w->ic;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                int y0, y1, x0, x1;
                clip(w, oy, ox, &y0, &y1, &x0, &x1);
                const float *dyr = dy + pix(n, oy, ox, w->oh, w->ow, c);
                const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        float *dxr = dx + pix(n, iy, ix, w->ih, w->iw, c);
                        for (int ch = 0; ch < c; ch++)
                            dxr[ch] += dyr[ch] * inv;
                    }
            }
}

void ref_global_avgpool_forward(int n, int hw, int c, const float *x, float *y)
{
    for (int b = 0; b < n; b++) {
        float *yr = y + (size_t)b * c;
        for (int ch = 0; ch < c; ch++)
            yr[ch] = 0.0f;
        for (int p = 0; p < hw; p++) {
            const float *xr = x + ((size_t)b * hw + p) * c;
            for (int ch = 0; ch < c; ch++)
                yr[ch] += xr[ch];
        }
        for (int ch = 0; ch < c; ch++)
            yr[ch] /= (float)hw;
    }
}

void ref_global_avgpool_backward(int n, int hw, int c, const float *dy, float *dx)
{
    for (int b = 0; b < n; b++)
        for (int p = 0; p < hw; p++) {
            float *dxr = dx + ((size_t)b * hw + p) * c;
            for (int ch = 0; ch < c; ch++)
                dxr[ch] += dy[(size_t)b * c + ch] / (float)hw;
        }
}

void ref_global_maxpool_forward(int n, int hw, int c, const float *x, float *y)
{
    for (int b = 0; b < n; b++) {
        float *yr = y + (size_t)b * c;
        for (int ch = 0; ch < c; ch++)
            yr[ch] = -FLT_MAX;
        for (int p = 0; p < hw; p++) {
            const float *xr = x + ((size_t)b * hw + p) * c;
            for (int ch = 0; ch < c; ch++)
                yr[ch] = xr[ch] > yr[ch] ? xr[ch] : yr[ch];
        }
    }
}

void ref_global_maxpool_backward(int n, int hw, int c, const float *x, const float *dy, float *dx)
{
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            size_t best = (size_t)b * hw * c + (size_t)ch;
            for (int p = 1; p < hw; p++) {
                size_t at = ((size_t)b * hw + p) * c + (size_t)ch;
                if (x[at] > x[best])
                    best = at;
            }
            dx[best] += dy[(size_t)b * c + ch];
        }
}
