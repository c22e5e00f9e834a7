/*
 * mix.c - mixup and cutmix of a training batch (see mix.h).
 *
 * Beta(a, a) is drawn as G1 / (G1 + G2) with G1, G2 ~ Gamma(a, 1)
 * (Marsaglia & Tsang 2000; for a < 1 Gamma(a) = Gamma(a + 1) U^(1/a)), in
 * logarithms so that a small alpha, whose gammas underflow, still gives a
 * weight near 0 or 1 rather than 0 / 0.
 */
#include "data/mix.h"

#include <math.h>
#include <stddef.h>

#include "data/rng.h"

/* Domain tag of the mix draws among the run's random streams. */
#define MIX_TAG 0x6D69787570ULL /* "mixup" */

int mix_enabled(const mix_opts *o)
{
    return o && (o->mixup_alpha > 0 || o->cutmix_alpha > 0);
}

static double normal(rng *r)
{
    /* Box-Muller; 1 - u keeps the logarithm finite. */
    double u = 1.0 - rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* log of a Gamma(a, 1) draw, a > 0. */
static double log_gamma_draw(rng *r, double a)
{
    double boost = 0.0;
    if (a < 1.0) {
        boost = log(1.0 - rng_uniform(r)) / a;
        a += 1.0;
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = normal(r), v = 1.0 + c * z;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = 1.0 - rng_uniform(r);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
            return log(d * v) + boost;
    }
}

/* Beta(a, a) in [0, 1]. */
static double beta_draw(rng *r, double a)
{
    double g1 = log_gamma_draw(r, a), g2 = log_gamma_draw(r, a);
    return 1.0 / (1.0 + exp(g2 - g1));
}

static int clip(int v, int hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

void mix_draw_batch(const mix_opts *o, unsigned long long seed, int epoch, long long step, int h, int w,
                    mix_draw *d)
{
    d->kind = MIX_NONE;
    d->lam = 1.0f;
    d->y0 = d->y1 = d->x0 = d->x1 = 0;
    if (!mix_enabled(o))
        return;
    rng r;
    rng_init(&r, rng_derive(rng_derive(rng_derive(seed, MIX_TAG), (uint64_t)epoch), (uint64_t)step));
    int cut = o->cutmix_alpha > 0 && (o->mixup_alpha <= 0 || rng_uniform(&r) < 0.5);
    double lam = beta_draw(&r, cut ? o->cutmix_alpha : o->mixup_alpha);
    if (!cut) {
        d->kind = MIX_MIXUP;
        d->lam = (float)lam;
        return;
    }
    /* timm's rand_bbox: sides int(H sqrt(1 - lam)), a uniform centre, halves
     * of the sides (rounded down) either way, clipped; the weight is then the
     * part of the image the box leaves. */
    double rat = sqrt(1.0 - lam);
    int ch = (int)(h * rat), cw = (int)(w * rat);
    int cy = (int)rng_below(&r, (size_t)h), cx = (int)rng_below(&r, (size_t)w);
    d->kind = MIX_CUTMIX;
    d->y0 = clip(cy - ch / 2, h);
    d->y1 = clip(cy + ch / 2, h);
    d->x0 = clip(cx - cw / 2, w);
    d->x1 = clip(cx + cw / 2, w);
    d->lam = (float)(1.0 - (double)(d->y1 - d->y0) * (d->x1 - d->x0) / ((double)h * w));
}

void mix_images(float *x, int n, int h, int w, int c, const mix_draw *d)
{
    size_t img = (size_t)h * (size_t)w * (size_t)c;
    const float lam = d->lam, rest = 1.0f - d->lam;
    for (int i = 0; i < n / 2; i++) {
        float *restrict a = x + (size_t)i * img, *restrict b = x + (size_t)(n - 1 - i) * img;
        if (d->kind == MIX_MIXUP) {
            for (size_t e = 0; e < img; e++) {
                float va = a[e], vb = b[e];
                a[e] = lam * va + rest * vb;
                b[e] = lam * vb + rest * va;
            }
        } else if (d->kind == MIX_CUTMIX) {
            /* The pair swaps the box. */
            for (int yy = d->y0; yy < d->y1; yy++) {
                size_t o = ((size_t)yy * (size_t)w + (size_t)d->x0) * (size_t)c;
                size_t len = (size_t)(d->x1 - d->x0) * (size_t)c;
                for (size_t e = o; e < o + len; e++) {
                    float t = a[e];
                    a[e] = b[e];
                    b[e] = t;
                }
            }
        }
    }
}

void mix_targets(float *t, int n, int k, const mix_draw *d)
{
    if (d->kind == MIX_NONE)
        return;
    const float lam = d->lam, rest = 1.0f - d->lam;
    for (int i = 0; i < n / 2; i++) {
        float *a = t + (size_t)i * (size_t)k, *b = t + (size_t)(n - 1 - i) * (size_t)k;
        for (int j = 0; j < k; j++) {
            float va = a[j], vb = b[j];
            a[j] = lam * va + rest * vb;
            b[j] = lam * vb + rest * va;
        }
    }
}

void mix_dominant_labels(const float *y, int n, const mix_draw *d, float *out)
{
    int own = d->kind == MIX_NONE || d->lam >= 0.5f;
    for (int i = 0; i < n; i++)
        out[i] = own ? y[i] : y[n - 1 - i];
}
