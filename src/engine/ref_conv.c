/*
 * ref_conv.c - reference Conv2D: forward, backward to data, backward to weights.
 *
 * Direct convolution over NHWC maps with an HWIO kernel, as Keras/TensorFlow
 * compute it (cross-correlation, SAME padding split with the extra on the end).
 * Every loop nest walks output pixels, then kernel taps, then input channels,
 * with the output channels innermost (contiguous in both the output row and the
 * kernel), which keeps it simple and lets the compiler vectorise.
 *
 * Groups: input channel ci belongs to group ci / (ic/g) and meets only that
 * group's oc/g output channels, through kernel row ci % (ic/g) (Keras' and
 * TensorFlow's grouped layout; a depthwise convolution is g = ic).  Dilation
 * spaces the taps: tap ky reads input row oy * sh - pt + ky * dh.
 */
#include "engine/ref_ops.h"

#include <string.h>

void ref_win_pads(ref_win *w, layer_pad pad)
{
    w->pt = w->pl = 0;
    if (pad != PAD_SAME)
        return;
    /* a dilated kernel covers (k - 1) * d + 1 pixels */
    int ekh = (w->kh - 1) * (w->dh > 1 ? w->dh : 1) + 1;
    int ekw = (w->kw - 1) * (w->dw > 1 ? w->dw : 1) + 1;
    int th = (w->oh - 1) * w->sh + ekh - w->ih;
    int tw = (w->ow - 1) * w->sw + ekw - w->iw;
    w->pt = th > 0 ? th / 2 : 0;
    w->pl = tw > 0 ? tw / 2 : 0;
}

/* Offset of pixel (b, y, x) in an NHWC map of h x w x c. */
static size_t pix(int b, int y, int x, int h, int w, int c)
{
    return (((size_t)b * h + y) * w + x) * c;
}

/* The grouping of w: input channels per group, output channels per group. */
static void groups_of(const ref_win *w, int *icg, int *ocg)
{
    int g = w->g > 1 ? w->g : 1;
    *icg = w->ic / g;
    *ocg = w->oc / g;
}

#define DIL(v) ((v) > 1 ? (v) : 1)

void ref_conv2d_forward(const ref_win *w, const float *x, const float *k, const float *b,
                        float *y)
{
    const int ic = w->ic, oc = w->oc, dh = DIL(w->dh), dw = DIL(w->dw);
    int icg, ocg;
    groups_of(w, &icg, &ocg);
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                float *restrict yr = y + pix(n, oy, ox, w->oh, w->ow, oc);
                for (int co = 0; co < oc; co++)
                    yr[co] = b ? b[co] : 0.0f;
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky * dh;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx * dw;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, ic);
                        const float *kt = k + ((size_t)ky * w->kw + kx) * icg * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const float xv = xr[ci];
                            const int o0 = ci / icg * ocg;
                            const float *restrict kr = kt + (size_t)(ci % icg) * oc;
                            for (int co = o0; co < o0 + ocg; co++)
                                yr[co] += xv * kr[co];
                        }
                    }
                }
            }
}

void ref_conv2d_backward_data(const ref_win *w, const float *dy, const float *k, float *dx)
{
    const int ic = w->ic, oc = w->oc, dh = DIL(w->dh), dw = DIL(w->dw);
    int icg, ocg;
    groups_of(w, &icg, &ocg);
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                const float *restrict dyr = dy + pix(n, oy, ox, w->oh, w->ow, oc);
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky * dh;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx * dw;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        float *dxr = dx + pix(n, iy, ix, w->ih, w->iw, ic);
                        const float *kt = k + ((size_t)ky * w->kw + kx) * icg * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const int o0 = ci / icg * ocg;
                            const float *restrict kr = kt + (size_t)(ci % icg) * oc;
                            float s = 0.0f;
                            for (int co = o0; co < o0 + ocg; co++)
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
    const int ic = w->ic, oc = w->oc, dh = DIL(w->dh), dw = DIL(w->dw);
    int icg, ocg;
    groups_of(w, &icg, &ocg);
    for (int n = 0; n < w->n; n++)
        for (int oy = 0; oy < w->oh; oy++)
            for (int ox = 0; ox < w->ow; ox++) {
                const float *restrict dyr = dy + pix(n, oy, ox, w->oh, w->ow, oc);
                if (db)
                    for (int co = 0; co < oc; co++)
                        db[co] += dyr[co];
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pt + ky * dh;
                    if (iy < 0 || iy >= w->ih)
                        continue;
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pl + kx * dw;
                        if (ix < 0 || ix >= w->iw)
                            continue;
                        const float *xr = x + pix(n, iy, ix, w->ih, w->iw, ic);
                        float *dkt = dk + ((size_t)ky * w->kw + kx) * icg * oc;
                        for (int ci = 0; ci < ic; ci++) {
                            const float xv = xr[ci];
                            const int o0 = ci / icg * ocg;
                            float *restrict dkr = dkt + (size_t)(ci % icg) * oc;
                            for (int co = o0; co < o0 + ocg; co++)
                                dkr[co] += xv * dyr[co];
                        }
                    }
                }
            }
}
