/*
 * mix.h - mixup and cutmix: mixing the samples of a training batch in pairs
 * (`catdog train --mixup ALPHA`, `--cutmix ALPHA`), as timm's Mixup in its
 * per-batch mode.
 *
 * A batch of n samples is mixed in pairs (i, n-1-i): sample i takes the
 * weight lam of its own image and target and 1 - lam of its partner's (timm:
 * x.flip(0)); with an odd n the middle sample is its own partner and stays as
 * it is.  Per batch, one draw (mix_draw_batch):
 *   mixup   lam ~ Beta(a, a); every image x_i = lam x_i + (1 - lam) x_{n-1-i}.
 *   cutmix  lam ~ Beta(a, a) sizes a box of about (1 - lam) of the image
 *           (sides H sqrt(1 - lam), W sqrt(1 - lam) around a uniform centre,
 *           clipped to the image); the box of x_i is replaced by that of
 *           x_{n-1-i} and lam becomes the part of the image left, 1 - box/(HW).
 *   both    each batch is cutmix with probability 1/2, else mixup.
 * The targets are mixed with the same lam (mix_targets: soft targets, the
 * loss's), and a sample's dominant label (what training accuracy is counted
 * against) is its own when lam >= 1/2, else its partner's.
 *
 * The draw is a pure function of (seed, epoch, step), so a resumed run mixes
 * as an uninterrupted one, and the images are mixed in place: no allocation.
 */
#ifndef CATDOG_DATA_MIX_H
#define CATDOG_DATA_MIX_H

typedef struct mix_opts {
    float mixup_alpha;       /* Beta(a, a) of mixup; 0 = no mixup */
    float cutmix_alpha;      /* Beta(a, a) of cutmix; 0 = no cutmix */
} mix_opts;

typedef enum mix_kind { MIX_NONE = 0, MIX_MIXUP, MIX_CUTMIX } mix_kind;

/* One batch's mix. */
typedef struct mix_draw {
    mix_kind kind;
    float lam;               /* each sample's own share (1: nothing mixed) */
    int y0, y1, x0, x1;      /* cutmix: rows [y0, y1), columns [x0, x1) from the partner */
} mix_draw;

/* 1 when o asks for mixup or cutmix. */
int mix_enabled(const mix_opts *o);

/* The draw of step `step` (1-based) of epoch `epoch` (0-based) of a run with
 * seed `seed`, for images of h x w pixels.  o must be enabled (else kind =
 * MIX_NONE, lam = 1). */
void mix_draw_batch(const mix_opts *o, unsigned long long seed, int epoch, long long step, int h, int w,
                    mix_draw *d);

/* Mixes n images (NHWC, h x w x c floats each) in place as d says. */
void mix_images(float *x, int n, int h, int w, int c, const mix_draw *d);

/* Mixes n target rows of k probabilities (k == 1: P(positive)) in place:
 * t_i = lam t_i + (1 - lam) t_{n-1-i}. */
void mix_targets(float *t, int n, int k, const mix_draw *d);

/* Each sample's dominant label of n labels y into out (no alias):
 * y_i when lam >= 1/2, else y_{n-1-i}. */
void mix_dominant_labels(const float *y, int n, const mix_draw *d, float *out);

#endif
