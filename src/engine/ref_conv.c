/*
 * ref_conv.c - reference Conv2D: forward, backward to data, backward to weights.
 *
 * Direct convolution over NHWC maps with an HWIO kernel, as Keras/TensorFlow
 * compute it (cross-correlation, SAME padding split with the extra on the end).
 * Every loop nest walks output pixels, then kernel taps, then input channels,
 * with the output channels innermost (contiguous in both the output row and the
 * kernel), which keeps it simple and lets the compiler vectorise.
 */
#include "engine/ref_ops.h"

#include <string.h>

void ref_win_pads(ref_win *w, layer_pad pad)
{
    w->pt = w->pl = 0;
    if (pad != PAD_SAME)
        return;
    int th = (w->oh - 1) * w->sh + w->kh - w->ih;
    int tw = (w->ow - 1) * w->sw + w->kw - w->iw;
    w->pt = th > 0 ? th / 2 : 0;
    w->pl = tw > 0 ? tw / 2 : 0;
}

/* Offset of pixel (b, y, x) in an NHWC map of h x w x c. */
static size_t pix(int b, int y, int x, int h, int w, int c)
{
    return (((size_t)b * h + y) * w + x) * c;
}

void ref_conv2d_forward(const ref_win *w, const float *x, const float *k, const float *b,
                        float *y)
{
    const int ic = w->ic, oc = w->oc;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                float *restrict yr = y + pix(n, oy, ox, w->oh, w->ow, oc);
                for (int co = 0; co < oc; co++)
                    yr[co] = b ? b[co] : 0.0f;
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, ic);
                        const float *kt = k + ((size_t)ky * w->kw + kx) * ic * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const float xv = xr[ci];
                            const float *restrict kr = kt + (size_t)ci * oc;
                            for (int co = 0; co < oc; co++)
                                yr[co] += xv * kr[co];
                        }
                    }
                }
            }
}

void ref_conv2d_backward_data(const ref_win *w, const float *dy, const float *k, float *dx)
{
    const int ic = w->ic, oc = w->oc;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                const float *restrict dyr = dy + pix(n, oy, ox, w->oh, w->ow, oc);
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        float *dxr = dx + pix(n, iy, ix, w->ih, w->iw, ic);
                        const float *kt = k + ((size_t)ky * w->kw + kx) * ic * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const float *restrict kr = kt + (size_t)ci * oc;
                            float s = 0.0f;
                            for (int co = 0; co < oc; co++)
                                s += dyr[co] * kr[co];
                            dxr[ci] += s;
                        }
                    }
                }
            }
}

void ref_conv2d_backward_weights(const ref_win *w, const float *x, const float *dy, float *dk,
                                 float *db)
{
    const int ic = w->ic, oc = w->oc;
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                const float *restrict dyr = dy + pix(n, oy, ox, w->oh, w->ow, oc);
                if (db)
                    for (int co = 0; co < oc; co++)
                        db[co] += dyr[co];
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, ic);
                        float *dkt = dk + ((size_t)ky * w->kw + kx) * ic * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const float xv = xr[ci];
                            float *restrict dkr = dkt + (size_t)ci * oc;
                            for (int co = 0; co < oc; co++)
                                dkr[co] += xv * dyr[co];
                        }
                    }
                }
            }
}
