/*
 * pool_max.c - max pooling without padding (see pool_max.h).
 *
 * Each pixel's lanes are handled in chunks: 8 floats or 32 bytes as one GCC
 * vector-extension value (one AVX2 register; written as plain loops over
 * arrays, GCC kept the window's maximum and argmax on the stack: 2-3x slower),
 * the lanes left over (NHWC with C not a multiple) by a loop per lane.  The
 * 2x2 window of stride 2, the 3x3 of stride 2, nChw8c's 8 lanes and whether
 * the argmax is written are spelled as constants so that the loops unroll.
 * This file is built with GCC's dynamic vectoriser cost model
 * (CMakeLists.txt), as image_resize.c: -O2's "very cheap" model refuses the
 * leftover lanes' loops.
 */
#include "engine/pool_max.h"

#include <assert.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define PM_AVX2 1
#define PM_INLINE inline __attribute__((always_inline))
#else
#define PM_AVX2 0
#define PM_INLINE inline
#endif

#define PM_CHUNK 8

/* Eight lanes as one value (GCC's vector extension, also clang's): one AVX2
 * register, two SSE2 ones; loads and stores by memcpy, so nothing assumes
 * alignment. */
typedef float pm_v8f __attribute__((vector_size(32)));
typedef int32_t pm_v8i __attribute__((vector_size(32)));
typedef uint8_t pm_v8b __attribute__((vector_size(8)));
typedef uint8_t pm_v32u __attribute__((vector_size(32)));
typedef int8_t pm_v32s __attribute__((vector_size(32)));

int pool_max_shape_ok(const pool_max_shape *s)
{
    return s->n > 0 && s->blocks > 0 && s->lanes > 0 && s->kh > 0 && s->kw > 0 && s->sh > 0 &&
           s->sw > 0 && s->kh * s->kw <= 255 && s->ih >= s->kh && s->iw >= s->kw &&
           s->oh == (s->ih - s->kh) / s->sh + 1 && s->ow == (s->iw - s->kw) / s->sw + 1 &&
           s->x_w >= s->lanes && s->y_w >= s->lanes;
}

size_t pool_max_rows(const pool_max_shape *s)
{
    return (size_t)s->n * (size_t)s->blocks * (size_t)s->oh;
}

/* Row r's sample, block and output row as offsets into x and y. */
static PM_INLINE void row_at(const pool_max_shape *s, size_t r, ptrdiff_t *xo, ptrdiff_t *yo,
                             int *oy)
{
    size_t per_sample = (size_t)s->blocks * (size_t)s->oh;
    ptrdiff_t n = (ptrdiff_t)(r / per_sample);
    size_t rest = r % per_sample;
    ptrdiff_t b = (ptrdiff_t)(rest / (size_t)s->oh);
    *oy = (int)(rest % (size_t)s->oh);
    *xo = n * s->x_n + b * s->x_b + (ptrdiff_t)*oy * s->sh * s->x_h;
    *yo = n * s->y_n + b * s->y_b + (ptrdiff_t)*oy * s->y_h;
}

/* ---- float32 forward ---------------------------------------------------- */

/* One window of 8 lanes whose top-left cell is x; want_am: write argmax. */
static PM_INLINE void fwd_f32_v8(const float *x, ptrdiff_t xh, ptrdiff_t xw, int kh, int kw,
                                 float *y, uint8_t *am, int relu, int want_am)
{
    pm_v8f m, v;
    pm_v8i id = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(&m, x, sizeof m);
    for (int i = 0; i < kh; i++)
#pragma GCC unroll 4
        for (int j = 0; j < kw; j++) {
            if (i == 0 && j == 0)
                continue;
            memcpy(&v, x + i * xh + j * xw, sizeof v);
            /* strictly greater: the first maximum keeps its place */
            pm_v8i gt = v > m;
            m = (pm_v8f)((gt & (pm_v8i)v) | (~gt & (pm_v8i)m));
            if (want_am)
                id = (gt & (i * kw + j)) | (~gt & id);
        }
    if (relu)
        m = (pm_v8f)((m > 0.0f) & (pm_v8i)m);
    memcpy(y, &m, sizeof m);
    if (want_am) {
        pm_v8b b = __builtin_convertvector(id, pm_v8b);
        memcpy(am, &b, sizeof b);
    }
}

/* The same for L < 8 lanes (NHWC's last channels). */
static PM_INLINE void fwd_f32_px(const float *x, ptrdiff_t xh, ptrdiff_t xw, int kh, int kw,
                                 float *y, uint8_t *am, int relu, int L)
{
    for (int l = 0; l < L; l++) {
        float m = x[l];
        int k = 0;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float v = x[i * xh + j * xw + l];
                if (v > m) {
                    m = v;
                    k = i * kw + j;
                }
            }
        y[l] = relu && !(m > 0.0f) ? 0.0f : m;
        if (am)
            am[l] = (uint8_t)k;
    }
}

static PM_INLINE void fwd_f32_rows(const pool_max_shape *s, const float *x, float *y,
                                   uint8_t *am, int relu, size_t lo, size_t hi, int kh, int kw,
                                   int sw, int want_am, int lanes)
{
    for (size_t r = lo; r < hi; r++) {
        ptrdiff_t xo, yo;
        int oy;
        row_at(s, r, &xo, &yo, &oy);
        for (int ox = 0; ox < s->ow; ox++) {
            const float *xp = x + xo + (ptrdiff_t)ox * sw * s->x_w;
            ptrdiff_t o = yo + (ptrdiff_t)ox * s->y_w;
            for (int c = 0; c < lanes; c += PM_CHUNK) {
                int L = lanes - c < PM_CHUNK ? lanes - c : PM_CHUNK;
                uint8_t *a = want_am ? am + o + c : NULL;
                if (L == 8)
                    fwd_f32_v8(xp + c, s->x_h, s->x_w, kh, kw, y + o + c, a, relu, want_am);
                else
                    fwd_f32_px(xp + c, s->x_h, s->x_w, kh, kw, y + o + c, a, relu, L);
            }
        }
    }
}

/* The 2x2 window of stride 2, SqueezeNet's 3x3 of stride 2, nChw8c's 8
 * lanes and whether argmax is written are spelled as constants for the
 * common cases, so the loops unroll. */
static PM_INLINE void fwd_f32_lanes(const pool_max_shape *s, const float *x, float *y, uint8_t *am,
                                    int relu, size_t lo, size_t hi, int kh, int kw, int sw,
                                    int want_am)
{
    if (s->lanes == 8)
        fwd_f32_rows(s, x, y, am, relu, lo, hi, kh, kw, sw, want_am, 8);
    else
        fwd_f32_rows(s, x, y, am, relu, lo, hi, kh, kw, sw, want_am, s->lanes);
}

static PM_INLINE void fwd_f32_any(const pool_max_shape *s, const float *x, float *y, uint8_t *am,
                                  int relu, size_t lo, size_t hi)
{
    int k2 = s->kh == 2 && s->kw == 2, k3 = s->kh == 3 && s->kw == 3;
    if ((k2 || k3) && s->sh == 2 && s->sw == 2) {
        if (am)
            fwd_f32_lanes(s, x, y, am, relu, lo, hi, k2 ? 2 : 3, k2 ? 2 : 3, 2, 1);
        else if (k2)
            fwd_f32_lanes(s, x, y, NULL, relu, lo, hi, 2, 2, 2, 0);
        else
            fwd_f32_lanes(s, x, y, NULL, relu, lo, hi, 3, 3, 2, 0);
    } else {
        fwd_f32_lanes(s, x, y, am, relu, lo, hi, s->kh, s->kw, s->sw, am != NULL);
    }
}

static void fwd_f32_base(const pool_max_shape *s, const float *x, float *y, uint8_t *am, int relu,
                         size_t lo, size_t hi)
{
    fwd_f32_any(s, x, y, am, relu, lo, hi);
}

#if PM_AVX2
__attribute__((target("avx2"))) static void fwd_f32_avx2(const pool_max_shape *s, const float *x,
                                                         float *y, uint8_t *am, int relu,
                                                         size_t lo, size_t hi)
{
    fwd_f32_any(s, x, y, am, relu, lo, hi);
}
#endif

void pool_max_f32(const pool_max_shape *s, const float *x, float *y, uint8_t *argmax, int relu,
                  size_t lo, size_t hi)
{
#if PM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        fwd_f32_avx2(s, x, y, argmax, relu, lo, hi);
        return;
    }
#endif
    fwd_f32_base(s, x, y, argmax, relu, lo, hi);
}

/* ---- float32 backward --------------------------------------------------- */

/* One window of 8 lanes: dx at the window's cells from its gradient dy. */
static PM_INLINE void bwd_f32_v8(const uint8_t *am, const float *dy, const float *y, float *dx,
                                 ptrdiff_t xh, ptrdiff_t xw, int kh, int kw)
{
    pm_v8f g, d;
    pm_v8b b;
    memcpy(&g, dy, sizeof g);
    memcpy(&b, am, sizeof b);
    pm_v8i id = __builtin_convertvector(b, pm_v8i);
    if (y) {
        pm_v8f yv;
        memcpy(&yv, y, sizeof yv);
        g = (pm_v8f)((yv > 0.0f) & (pm_v8i)g);
    }
    for (int i = 0; i < kh; i++)
#pragma GCC unroll 4
        for (int j = 0; j < kw; j++) {
            d = (pm_v8f)((id == i * kw + j) & (pm_v8i)g);
            memcpy(dx + i * xh + j * xw, &d, sizeof d);
        }
}

/* The same for L < 8 lanes. */
static PM_INLINE void bwd_f32_px(const uint8_t *am, const float *dy, const float *y, float *dx,
                                 ptrdiff_t xh, ptrdiff_t xw, int kh, int kw, int L)
{
    for (int l = 0; l < L; l++) {
        float g = y && !(y[l] > 0.0f) ? 0.0f : dy[l];
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                dx[i * xh + j * xw + l] = am[l] == i * kw + j ? g : 0.0f;
    }
}

/* Zeroes `count` pixels of L lanes from d on, `xw` apart. */
static PM_INLINE void zero_px(float *d, int count, ptrdiff_t xw, int L)
{
    for (int i = 0; i < count; i++)
        memset(d + (ptrdiff_t)i * xw, 0, (size_t)L * sizeof *d);
}

static PM_INLINE void bwd_f32_rows(const pool_max_shape *s, const uint8_t *am, const float *dy,
                                   const float *y, float *dx, size_t lo, size_t hi, int kh, int kw,
                                   int lanes)
{
    const int tail_w = s->iw - s->ow * kw;
    for (size_t r = lo; r < hi; r++) {
        ptrdiff_t xo, yo;
        int oy;
        row_at(s, r, &xo, &yo, &oy);
        for (int ox = 0; ox < s->ow; ox++) {
            float *dp = dx + xo + (ptrdiff_t)ox * kw * s->x_w;
            ptrdiff_t o = yo + (ptrdiff_t)ox * s->y_w;
            for (int c = 0; c < lanes; c += PM_CHUNK) {
                int L = lanes - c < PM_CHUNK ? lanes - c : PM_CHUNK;
                const float *yp = y ? y + o + c : NULL;
                if (L == 8)
                    bwd_f32_v8(am + o + c, dy + o + c, yp, dp + c, s->x_h, s->x_w, kh, kw);
                else
                    bwd_f32_px(am + o + c, dy + o + c, yp, dp + c, s->x_h, s->x_w, kh, kw, L);
            }
        }
        /* the columns right of the last window, and below the last window row
         * the rows no window reaches */
        if (tail_w > 0)
            for (int i = 0; i < kh; i++)
                zero_px(dx + xo + i * s->x_h + (ptrdiff_t)s->ow * kw * s->x_w, tail_w, s->x_w,
                        s->lanes);
        if (oy == s->oh - 1)
            for (int i = s->oh * kh; i < s->ih; i++)
                zero_px(dx + xo + (ptrdiff_t)(i - oy * kh) * s->x_h, s->iw, s->x_w, s->lanes);
    }
}

static PM_INLINE void bwd_f32_lanes(const pool_max_shape *s, const uint8_t *am, const float *dy,
                                    const float *y, float *dx, size_t lo, size_t hi, int kh, int kw)
{
    if (s->lanes == 8)
        bwd_f32_rows(s, am, dy, y, dx, lo, hi, kh, kw, 8);
    else
        bwd_f32_rows(s, am, dy, y, dx, lo, hi, kh, kw, s->lanes);
}

static PM_INLINE void bwd_f32_any(const pool_max_shape *s, const uint8_t *am, const float *dy,
                                  const float *y, float *dx, size_t lo, size_t hi)
{
    if (s->kh == 2 && s->kw == 2)
        bwd_f32_lanes(s, am, dy, y, dx, lo, hi, 2, 2);
    else
        bwd_f32_lanes(s, am, dy, y, dx, lo, hi, s->kh, s->kw);
}

static void bwd_f32_base(const pool_max_shape *s, const uint8_t *am, const float *dy,
                         const float *y, float *dx, size_t lo, size_t hi)
{
    bwd_f32_any(s, am, dy, y, dx, lo, hi);
}

#if PM_AVX2
__attribute__((target("avx2"))) static void bwd_f32_avx2(const pool_max_shape *s,
                                                         const uint8_t *am, const float *dy,
                                                         const float *y, float *dx, size_t lo,
                                                         size_t hi)
{
    bwd_f32_any(s, am, dy, y, dx, lo, hi);
}
#endif

void pool_max_f32_backward(const pool_max_shape *s, const uint8_t *argmax, const float *dy,
                           const float *y, float *dx, size_t lo, size_t hi)
{
    assert(s->sh == s->kh && s->sw == s->kw);
#if PM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        bwd_f32_avx2(s, argmax, dy, y, dx, lo, hi);
        return;
    }
#endif
    bwd_f32_base(s, argmax, dy, y, dx, lo, hi);
}

/* ---- int8 forward ------------------------------------------------------- */

/* The forward of element type T (vector type VT: 32 of them), chunks of up
 * to 32 lanes (one AVX2 register of bytes): whole chunks as vectors, the
 * rest lane by lane. */
#define PM_INT_KERNELS(T, VT, NAME)                                                                \
    static PM_INLINE void NAME##_v32(const T *x, ptrdiff_t xh, ptrdiff_t xw, int kh, int kw,      \
                                     T *y)                                                         \
    {                                                                                              \
        VT m, v, gt;                                                                               \
        memcpy(&m, x, sizeof m);                                                                   \
        for (int i = 0; i < kh; i++)                                                               \
            for (int j = 0; j < kw; j++) {                                                         \
                if (i == 0 && j == 0)                                                              \
                    continue;                                                                      \
                memcpy(&v, x + i * xh + j * xw, sizeof v);                                         \
                gt = (VT)(v > m);                                                                  \
                m = (gt & v) | (~gt & m);                                                          \
            }                                                                                      \
        memcpy(y, &m, sizeof m);                                                                   \
    }                                                                                              \
    static PM_INLINE void NAME##_px(const T *x, ptrdiff_t xh, ptrdiff_t xw, int kh, int kw, T *y, \
                                    int L)                                                         \
    {                                                                                              \
        T m[32];                                                                                   \
        for (int l = 0; l < L; l++)                                                                \
            m[l] = x[l];                                                                           \
        for (int i = 0; i < kh; i++)                                                               \
            for (int j = 0; j < kw; j++) {                                                         \
                const T *v = x + i * xh + j * xw;                                                  \
                for (int l = 0; l < L; l++)                                                        \
                    m[l] = v[l] > m[l] ? v[l] : m[l];                                              \
            }                                                                                      \
        for (int l = 0; l < L; l++)                                                                \
            y[l] = m[l];                                                                           \
    }                                                                                              \
    static PM_INLINE void NAME##_rows(const pool_max_shape *s, const T *x, T *y, size_t lo,       \
                                      size_t hi, int kh, int kw, int sw)                           \
    {                                                                                              \
        for (size_t r = lo; r < hi; r++) {                                                         \
            ptrdiff_t xo, yo;                                                                      \
            int oy;                                                                                \
            row_at(s, r, &xo, &yo, &oy);                                                           \
            for (int ox = 0; ox < s->ow; ox++) {                                                   \
                const T *xp = x + xo + (ptrdiff_t)ox * sw * s->x_w;                                \
                T *yp = y + yo + (ptrdiff_t)ox * s->y_w;                                           \
                for (int c = 0; c < s->lanes; c += 32) {                                           \
                    int L = s->lanes - c < 32 ? s->lanes - c : 32;                                 \
                    if (L == 32)                                                                   \
                        NAME##_v32(xp + c, s->x_h, s->x_w, kh, kw, yp + c);                        \
                    else if (L == 16)                                                              \
                        NAME##_px(xp + c, s->x_h, s->x_w, kh, kw, yp + c, 16);                     \
                    else if (L == 8)                                                               \
                        NAME##_px(xp + c, s->x_h, s->x_w, kh, kw, yp + c, 8);                      \
                    else                                                                           \
                        NAME##_px(xp + c, s->x_h, s->x_w, kh, kw, yp + c, L);                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static PM_INLINE void NAME##_any(const pool_max_shape *s, const T *x, T *y, size_t lo,        \
                                     size_t hi)                                                    \
    {                                                                                              \
        if (s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2)                                  \
            NAME##_rows(s, x, y, lo, hi, 2, 2, 2);                                                 \
        else if (s->kh == 3 && s->kw == 3 && s->sh == 2 && s->sw == 2)                             \
            NAME##_rows(s, x, y, lo, hi, 3, 3, 2);                                                 \
        else                                                                                       \
            NAME##_rows(s, x, y, lo, hi, s->kh, s->kw, s->sw);                                     \
    }                                                                                              \
    static void NAME##_base(const pool_max_shape *s, const T *x, T *y, size_t lo, size_t hi)      \
    {                                                                                              \
        NAME##_any(s, x, y, lo, hi);                                                               \
    }

PM_INT_KERNELS(uint8_t, pm_v32u, fwd_u8)
PM_INT_KERNELS(int8_t, pm_v32s, fwd_s8)

#if PM_AVX2
__attribute__((target("avx2"))) static void fwd_u8_avx2(const pool_max_shape *s, const uint8_t *x,
                                                        uint8_t *y, size_t lo, size_t hi)
{
    fwd_u8_any(s, x, y, lo, hi);
}

__attribute__((target("avx2"))) static void fwd_s8_avx2(const pool_max_shape *s, const int8_t *x,
                                                        int8_t *y, size_t lo, size_t hi)
{
    fwd_s8_any(s, x, y, lo, hi);
}
#endif

void pool_max_u8(const pool_max_shape *s, const uint8_t *x, uint8_t *y, size_t lo, size_t hi)
{
#if PM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        fwd_u8_avx2(s, x, y, lo, hi);
        return;
    }
#endif
    fwd_u8_base(s, x, y, lo, hi);
}

void pool_max_s8(const pool_max_shape *s, const int8_t *x, int8_t *y, size_t lo, size_t hi)
{
#if PM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        fwd_s8_avx2(s, x, y, lo, hi);
        return;
    }
#endif
    fwd_s8_base(s, x, y, lo, hi);
}
