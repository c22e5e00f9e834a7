/*
 * image_resize.c - resizing RGB8 images the way PIL does.
 *
 * The pretrained backbones were evaluated on inputs that PIL resized, and
 * Keras' load_img resizes with PIL, so this file follows PIL's arithmetic
 * (Pillow's Resample.c and Geometry.c) closely enough to give the same bytes:
 *
 * BILINEAR is a separable convolution with a triangle filter.  For output
 * pixel i along an axis, the centre in input coordinates is (i + 0.5) * s
 * with s = in / out.  When downscaling (s > 1) the triangle is stretched by s
 * (support s instead of 1), so every input pixel contributes: that is the
 * antialiasing, and for an integer factor it is an average over the block.
 * When upscaling the support stays 1, which is plain bilinear interpolation
 * between the two nearest pixel centres.  The normalised weights are stored
 * as 22-bit fixed point; the horizontal pass runs first into an 8-bit
 * intermediate image, then the vertical pass, each rounding to nearest, as
 * PIL does on 8-bit images.
 *
 * NEAREST takes the input pixel under each output pixel's centre,
 * floor((i + 0.5) * s), with s accumulated step by step as PIL's affine
 * scaler does (it decides the rare exact ties the same way).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

#define RESIZE_PRECISION_BITS (32 - 8 - 2)

/* Speed: every output pixel is a sum over taps of u8 pixel x int32 weight.
 * Both passes run as resize_vertical's loop along contiguous rows (the
 * horizontal one on transposed rows), which GCC vectorises when this file is
 * built with -fvect-cost-model=dynamic (CMakeLists.txt).  Baseline x86-64
 * (SSE2) has no 32-bit multiply, so on x86-64 the loop is also built for
 * AVX2 and that copy runs on CPUs that have it (a plain run-time check, not
 * an ifunc: ifunc resolvers run before the sanitizers' runtimes start).
 * Integer sums do not depend on the order, so every path gives the same
 * bytes.  200x200 -> 150x150 went from 0.39 to 0.15 ms (best of 200, one
 * core of the development machine). */
#if defined(__GNUC__) && defined(__x86_64__)
#define RESIZE_AVX2 1
#define RESIZE_INLINE inline __attribute__((always_inline))
#else
#define RESIZE_AVX2 0
#define RESIZE_INLINE inline
#endif
#define RESIZE_MAX_SIDE 65535

/* The weights of one axis: for output pixel i, `count[i]` input pixels
 * starting at `first[i]`, weighted by w[i * ksize + 0 .. count[i]-1]. */
typedef struct resize_axis {
    int ksize;
    int *first, *count;
    int32_t *w;
} resize_axis;

static void resize_axis_free(resize_axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
    memset(a, 0, sizeof *a);
}

static double resize_triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int resize_axis_init(resize_axis *a, int in_size, int out_size, cd_err *err)
{
    memset(a, 0, sizeof *a);
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale; /* the triangle's support is 1 */
    a->ksize = (int)ceil(support) * 2 + 1;
    a->first = malloc(sizeof *a->first * (size_t)out_size);
    a->count = malloc(sizeof *a->count * (size_t)out_size);
    a->w = calloc((size_t)out_size * (size_t)a->ksize, sizeof *a->w);
    double *tmp = malloc(sizeof *tmp * (size_t)a->ksize);
    if (!a->first || !a->count || !a->w || !tmp) {
        free(tmp);
        resize_axis_free(a);
        return cd_err_set(err, CD_ERR_NOMEM, "resize: out of memory for filter weights");
    }
    for (int i = 0; i < out_size; i++) {
        const double center = (i + 0.5) * scale;
        /* Rounded the way PIL rounds (truncation of x + 0.5), then clamped. */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        int n = hi - lo;
        if (n > a->ksize)
            n = a->ksize;
        if (n < 1) { /* cannot happen for in, out >= 1; keep the weights sane */
            lo = lo < in_size ? lo : in_size - 1;
            n = 1;
        }
        double sum = 0.0;
        for (int x = 0; x < n; x++) {
            tmp[x] = resize_triangle((x + lo - center + 0.5) / filterscale);
            sum += tmp[x];
        }
        int32_t *w = a->w + (size_t)i * a->ksize;
        for (int x = 0; x < n; x++) {
            double v = sum != 0.0 ? tmp[x] / sum : tmp[x];
            w[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << RESIZE_PRECISION_BITS)
                                   : 0.5 + v * (1 << RESIZE_PRECISION_BITS));
        }
        a->first[i] = lo;
        a->count[i] = n;
    }
    free(tmp);
    return 0;
}

static inline unsigned char resize_clip8(int32_t v)
{
    if (v >= (1 << RESIZE_PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (unsigned char)(v >> RESIZE_PRECISION_BITS);
}

/* src rows are numbered from y0 (src holds rows y0..); dst is w x dst_h.
 * acc is scratch for one row of sums (w * 3 ints); walking the taps in the
 * outer loop keeps the inner loop contiguous (and vectorisable).  Integer
 * sums do not depend on the order, so this is the same arithmetic as PIL. */
static RESIZE_INLINE void resize_vertical_rows(const unsigned char *src, int y0, int w, const resize_axis *ay,
                                               unsigned char *dst, int dst_h, int32_t *acc)
{
    const size_t stride = (size_t)w * 3;
    for (int y = 0; y < dst_h; y++) {
        const int32_t *wt = ay->w + (size_t)y * ay->ksize;
        const unsigned char *base = src + (size_t)(ay->first[y] - y0) * stride;
        for (size_t x = 0; x < stride; x++)
            acc[x] = 1 << (RESIZE_PRECISION_BITS - 1);
        for (int k = 0; k < ay->count[y]; k++) {
            const unsigned char *row = base + (size_t)k * stride;
            const int32_t wk = wt[k];
            for (size_t x = 0; x < stride; x++)
                acc[x] += row[x] * wk;
        }
        unsigned char *out = dst + (size_t)y * stride;
        for (size_t x = 0; x < stride; x++)
            out[x] = resize_clip8(acc[x]);
    }
}

#if RESIZE_AVX2
__attribute__((target("avx2"))) static void resize_vertical_avx2(const unsigned char *src, int y0, int w,
                                                                 const resize_axis *ay, unsigned char *dst,
                                                                 int dst_h, int32_t *acc)
{
    resize_vertical_rows(src, y0, w, ay, dst, dst_h, acc);
}
#endif

static void resize_vertical(const unsigned char *src, int y0, int w, const resize_axis *ay, unsigned char *dst,
                            int dst_h, int32_t *acc)
{
#if RESIZE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        resize_vertical_avx2(src, y0, w, ay, dst, dst_h, acc);
        return;
    }
#endif
    resize_vertical_rows(src, y0, w, ay, dst, dst_h, acc);
}

/* dst[x][y] = src[y][x] for RGB pixels: src is h rows of w, dst w rows of h. */
static void transpose_rgb(const unsigned char *src, int w, int h, unsigned char *dst)
{
    for (int y = 0; y < h; y++) {
        const unsigned char *in = src + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            memcpy(dst + ((size_t)x * h + y) * 3, in + (size_t)x * 3, 3);
    }
}

/* Rows [y0, y0 + rows) of src (src_w wide), resized horizontally into dst
 * (dst_w x rows).  Done as the vertical pass on the transposed rows and
 * transposed back: the same integer sums per output pixel as a loop along
 * each row (so the same bytes), but the inner loop runs over contiguous
 * memory and vectorises, where taps along a row of 3-byte pixels do not.
 * scratch holds (src_w + dst_w) * rows * 3 bytes; acc rows * 3 ints. */
static void resize_horizontal(const unsigned char *src, int src_w, int y0, int rows, const resize_axis *ax,
                              unsigned char *dst, int dst_w, unsigned char *scratch, int32_t *acc)
{
    unsigned char *cols = scratch;                            /* src_w rows of `rows` pixels */
    unsigned char *out_cols = scratch + (size_t)src_w * rows * 3; /* dst_w rows of `rows` pixels */
    transpose_rgb(src + (size_t)y0 * src_w * 3, src_w, rows, cols);
    resize_vertical(cols, 0, rows, ax, out_cols, dst_w, acc);
    transpose_rgb(out_cols, rows, dst_w, dst);
}

static int resize_bilinear(const image *src, int w, int h, image *dst, cd_err *err)
{
    const int need_h = w != src->width, need_v = h != src->height;
    resize_axis ax = {0}, ay = {0};
    unsigned char *tmp = NULL, *scratch = NULL;
    int32_t *acc = NULL;
    if (image_alloc(dst, w, h, err) != 0)
        return -1;
    if (!need_h && !need_v) {
        memcpy(dst->rgb, src->rgb, (size_t)w * h * 3);
        return 0;
    }
    if ((need_h && resize_axis_init(&ax, src->width, w, err) != 0) ||
        (need_v && resize_axis_init(&ay, src->height, h, err) != 0))
        goto fail;
    /* The source rows the horizontal pass makes: those the vertical pass reads. */
    int y_first = 0, y_last = src->height;
    if (need_v) {
        y_first = ay.first[0];
        y_last = ay.first[h - 1] + ay.count[h - 1];
        for (int y = 0; y < h; y++) {
            if (ay.first[y] < y_first)
                y_first = ay.first[y];
            if (ay.first[y] + ay.count[y] > y_last)
                y_last = ay.first[y] + ay.count[y];
        }
    }
    const int rows = y_last - y_first;
    /* acc: one row of sums for either pass (w pixels vertically, `rows` horizontally). */
    const size_t acc_px = (size_t)(w > rows ? w : rows);
    if (!(acc = malloc(sizeof *acc * acc_px * 3)) ||
        (need_h && !(scratch = malloc(((size_t)src->width + (size_t)w) * (size_t)rows * 3))) ||
        (need_h && need_v && !(tmp = malloc((size_t)w * (size_t)rows * 3)))) {
        cd_err_set(err, CD_ERR_NOMEM, "resize: out of memory for a %dx%d intermediate", w, rows);
        goto fail;
    }

    if (!need_v) {
        resize_horizontal(src->rgb, src->width, 0, h, &ax, dst->rgb, w, scratch, acc);
    } else if (!need_h) {
        resize_vertical(src->rgb, 0, w, &ay, dst->rgb, h, acc);
    } else {
        resize_horizontal(src->rgb, src->width, y_first, rows, &ax, tmp, w, scratch, acc);
        resize_vertical(tmp, y_first, w, &ay, dst->rgb, h, acc);
    }
    free(acc);
    free(scratch);
    free(tmp);
    resize_axis_free(&ax);
    resize_axis_free(&ay);
    return 0;
fail:
    free(acc);
    free(scratch);
    free(tmp);
    resize_axis_free(&ax);
    resize_axis_free(&ay);
    image_free(dst);
    return -1;
}

/* Source index under each output pixel's centre, accumulated like PIL. */
static int resize_nearest_table(int in_size, int out_size, int **out, cd_err *err)
{
    int *t = malloc(sizeof *t * (size_t)out_size);
    if (!t)
        return cd_err_set(err, CD_ERR_NOMEM, "resize: out of memory");
    const double step = (double)in_size / out_size;
    double pos = step * 0.5;
    for (int i = 0; i < out_size; i++) {
        int v = pos < 0.0 ? 0 : (int)pos;
        t[i] = v < in_size ? v : in_size - 1;
        pos += step;
    }
    *out = t;
    return 0;
}

static int resize_nearest(const image *src, int w, int h, image *dst, cd_err *err)
{
    int *tx = NULL, *ty = NULL;
    if (resize_nearest_table(src->width, w, &tx, err) != 0 ||
        resize_nearest_table(src->height, h, &ty, err) != 0 || image_alloc(dst, w, h, err) != 0) {
        free(tx);
        free(ty);
        return -1;
    }
    for (int y = 0; y < h; y++) {
        const unsigned char *in = src->rgb + (size_t)ty[y] * src->width * 3;
        unsigned char *out = dst->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            memcpy(out + 3 * x, in + (size_t)tx[x] * 3, 3);
    }
    free(tx);
    free(ty);
    return 0;
}

int image_resize(const image *src, int w, int h, image_filter filter, image *dst, cd_err *err)
{
    if (!dst)
        return cd_err_set(err, CD_ERR_INVALID, "image_resize: no output image");
    dst->width = dst->height = 0;
    dst->rgb = NULL;
    if (!src || !src->rgb || src->width <= 0 || src->height <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "image_resize: empty source image");
    if (w <= 0 || h <= 0 || w > RESIZE_MAX_SIDE || h > RESIZE_MAX_SIDE)
        return cd_err_set(err, CD_ERR_INVALID, "image_resize: bad target size %dx%d", w, h);
    switch (filter) {
    case IMAGE_FILTER_BILINEAR: return resize_bilinear(src, w, h, dst, err);
    case IMAGE_FILTER_NEAREST: return resize_nearest(src, w, h, dst, err);
    }
    return cd_err_set(err, CD_ERR_INVALID, "image_resize: unknown filter %d", (int)filter);
}
