/*
 * augment.c - Keras ImageDataGenerator's random transformations on RGB8 images
 * (see augment.h): parameters drawn from a seed, one composed affine map with
 * bilinear sampling and 'nearest' edge fill, then flip and brightness.
 *
 * The geometry follows keras_preprocessing's apply_affine_transform exactly:
 * matrices act on (row, column) coordinates and map an OUTPUT pixel to the
 * INPUT position it samples (scipy.ndimage.affine_transform's convention),
 * composed as rotation . shift . shear . zoom and re-centred on (h/2+0.5, w/2+0.5).
 */
#include "data/augment.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/rng.h"

int augment_is_identity(const augment_opts *o)
{
    return !o || (!o->horizontal_flip && o->rotation_range == 0 && o->width_shift_range == 0 &&
                  o->height_shift_range == 0 && o->zoom_range == 0 && o->shear_range == 0 &&
                  o->brightness_range == 0 && o->crop_area == 0 && o->contrast_range == 0 &&
                  o->saturation_range == 0 && o->hue_range == 0);
}

void augment_draw(const augment_opts *o, unsigned long long seed, int w, int h, augment_params *p)
{
    rng r;
    rng_init(&r, rng_derive(seed, 0xA46D3E7ULL));
    /* Draw everything, always, in Keras' order; then zero what is off. */
    double u_theta = rng_range(&r, -1, 1);
    double u_tx = rng_range(&r, -1, 1);
    double u_ty = rng_range(&r, -1, 1);
    double u_shear = rng_range(&r, -1, 1);
    double u_zx = rng_range(&r, -1, 1);
    double u_zy = rng_range(&r, -1, 1);
    double u_flip = rng_uniform(&r);
    double u_bright = rng_range(&r, -1, 1);
    /* Later additions draw after the Keras set, so its values never move. */
    double u_area = rng_uniform(&r);
    double u_ratio = rng_uniform(&r);
    double u_cy = rng_uniform(&r);
    double u_cx = rng_uniform(&r);
    double u_contrast = rng_range(&r, -1, 1);
    double u_saturation = rng_range(&r, -1, 1);
    double u_hue = rng_range(&r, -1, 1);
    p->theta = o->rotation_range * u_theta;
    p->tx = o->height_shift_range * u_tx * h;
    p->ty = o->width_shift_range * u_ty * w;
    p->shear = o->shear_range * u_shear;
    p->zx = 1 + o->zoom_range * u_zx;
    p->zy = 1 + o->zoom_range * u_zy;
    p->flip = o->horizontal_flip && u_flip < 0.5;
    p->brightness = 1 + o->brightness_range * u_bright;
    p->crop_y = p->crop_x = p->crop_h = p->crop_w = 0;
    if (o->crop_area > 0) {
        double area = o->crop_area + (1 - o->crop_area) * u_area;
        double ratio = exp(log(3.0 / 4.0) + (log(4.0 / 3.0) - log(3.0 / 4.0)) * u_ratio);
        double cw = sqrt(area * ratio), ch = sqrt(area / ratio); /* fractions of w and h */
        cw = cw > 1 ? 1 : cw;
        ch = ch > 1 ? 1 : ch;
        p->crop_w = cw * w;
        p->crop_h = ch * h;
        p->crop_x = (w - p->crop_w) * u_cx;
        p->crop_y = (h - p->crop_h) * u_cy;
    }
    p->contrast = 1 + o->contrast_range * u_contrast;
    p->saturation = 1 + o->saturation_range * u_saturation;
    p->hue = o->hue_range * u_hue;
}

/* 3x3 product c = a . b. */
static void mat_mul(const double a[3][3], const double b[3][3], double c[3][3])
{
    double t[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
    memcpy(c, t, sizeof t);
}

/* The output->input map of keras apply_affine_transform; returns 0 when identity. */
static int affine_matrix(const augment_params *p, int w, int h, double m[3][3])
{
    static const double eye[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    memcpy(m, eye, sizeof eye);
    int any = 0;
    if (p->theta != 0) {
        double t = p->theta * M_PI / 180.0;
        double rot[3][3] = {{cos(t), -sin(t), 0}, {sin(t), cos(t), 0}, {0, 0, 1}};
        mat_mul(m, rot, m);
        any = 1;
    }
    if (p->tx != 0 || p->ty != 0) {
        double sh[3][3] = {{1, 0, p->tx}, {0, 1, p->ty}, {0, 0, 1}};
        mat_mul(m, sh, m);
        any = 1;
    }
    if (p->shear != 0) {
        double s = p->shear * M_PI / 180.0;
        double sm[3][3] = {{1, -sin(s), 0}, {0, cos(s), 0}, {0, 0, 1}};
        mat_mul(m, sm, m);
        any = 1;
    }
    if (p->zx != 1 || p->zy != 1) {
        double z[3][3] = {{p->zx, 0, 0}, {0, p->zy, 0}, {0, 0, 1}};
        mat_mul(m, z, m);
        any = 1;
    }
    if (any) {
        /* transform_matrix_offset_center(m, h, w): o = size/2 + 0.5. */
        double ox = (double)h / 2 + 0.5, oy = (double)w / 2 + 0.5;
        double off[3][3] = {{1, 0, ox}, {0, 1, oy}, {0, 0, 1}};
        double reset[3][3] = {{1, 0, -ox}, {0, 1, -oy}, {0, 0, 1}};
        mat_mul(off, m, m);
        mat_mul(m, reset, m);
    }
    if (p->crop_h > 0 && p->crop_w > 0) {
        /* The crop stretched over the image: pixel centres to source positions. */
        double sy = p->crop_h / h, sx = p->crop_w / w;
        double crop[3][3] = {{sy, 0, p->crop_y + 0.5 * sy - 0.5}, {0, sx, p->crop_x + 0.5 * sx - 0.5}, {0, 0, 1}};
        mat_mul(crop, m, m);
        any = 1;
    }
    return any;
}

static unsigned char clamp_u8(double v)
{
    if (v <= 0)
        return 0;
    if (v >= 255)
        return 255;
    return (unsigned char)lrint(v);
}

/* dst(r, c) = bilinear src at m . (r, c), positions clamped to the image
 * (scipy order=1, mode='nearest').  Weights are fixed point (10 bits), which
 * keeps integer positions exact and is several times faster than doubles;
 * the result differs from exact bilinear by at most one level. */
#define WBITS 10
#define WONE (1 << WBITS)
static void warp(const double m[3][3], const image *src, unsigned char *dst)
{
    int w = src->width, h = src->height;
    const unsigned char *s = src->rgb;
    const float ymax = (float)(h - 1), xmax = (float)(w - 1);
    const float dy = (float)m[0][1], dx = (float)m[1][1];
    const size_t stride = (size_t)w * 3;
    for (int r = 0; r < h; r++) {
        double ir0 = m[0][0] * r + m[0][2], ic0 = m[1][0] * r + m[1][2];
        unsigned char *d = dst + (size_t)r * stride;
        for (int c = 0; c < w; c++, d += 3) {
            /* Positions from the row start each time (no drift along the row). */
            float y = (float)ir0 + dy * (float)c, x = (float)ic0 + dx * (float)c;
            y = y < 0 ? 0 : y > ymax ? ymax : y;
            x = x < 0 ? 0 : x > xmax ? xmax : x;
            int y0 = (int)y, x0 = (int)x;
            int wy = (int)((y - (float)y0) * WONE + 0.5f), wx = (int)((x - (float)x0) * WONE + 0.5f);
            size_t oy = y0 + 1 < h ? stride : 0, ox = x0 + 1 < w ? 3 : 0;
            const unsigned char *p00 = s + (size_t)y0 * stride + (size_t)x0 * 3;
            const unsigned char *p01 = p00 + ox, *p10 = p00 + oy, *p11 = p10 + ox;
            int ax = WONE - wx, ay = WONE - wy;
            for (int k = 0; k < 3; k++) {
                int top = p00[k] * ax + p01[k] * wx;
                int bot = p10[k] * ax + p11[k] * wx;
                d[k] = (unsigned char)((top * ay + bot * wy + (1 << (2 * WBITS - 1))) >> (2 * WBITS));
            }
        }
    }
}

/* PIL's 8-bit luminance (ITU-R 601-2, as Image.convert("L")). */
static int luma(const unsigned char *px)
{
    return (px[0] * 19595 + px[1] * 38470 + px[2] * 7471 + 0x8000) >> 16;
}

/* Contrast, saturation and hue on n pixels, in that order (augment.h). */
static void colour_jitter(const augment_params *p, unsigned char *rgb, size_t n)
{
    if (p->contrast != 1) {
        unsigned long long sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (unsigned long long)luma(rgb + i * 3);
        double mean = n ? floor((double)sum / (double)n + 0.5) : 0, f = p->contrast;
        unsigned char lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = clamp_u8(mean + f * (v - mean));
        for (size_t i = 0; i < n * 3; i++)
            rgb[i] = lut[rgb[i]];
    }
    if (p->saturation != 1) {
        double f = p->saturation;
        for (size_t i = 0; i < n; i++) {
            unsigned char *q = rgb + i * 3;
            double l = luma(q);
            for (int k = 0; k < 3; k++)
                q[k] = clamp_u8(l + f * (q[k] - l));
        }
    }
    if (p->hue != 0) {
        /* RGB -> YIQ (FCC), turn (I, Q), back: one 3x3 matrix. */
        static const double to[3][3] = {{0.299, 0.587, 0.114}, {0.596, -0.274, -0.322}, {0.211, -0.523, 0.312}};
        double a = 2 * M_PI * p->hue, c = cos(a), s = sin(a);
        double rot[3][3] = {{1, 0, 0}, {0, c, -s}, {0, s, c}}, back[3][3], m[3][3];
        /* The inverse of `to`, computed, so that a turn of 0 is the identity to rounding. */
        double det = to[0][0] * (to[1][1] * to[2][2] - to[1][2] * to[2][1]) -
                     to[0][1] * (to[1][0] * to[2][2] - to[1][2] * to[2][0]) +
                     to[0][2] * (to[1][0] * to[2][1] - to[1][1] * to[2][0]);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
                back[i][j] = (to[r0][c0] * to[r1][c1] - to[r0][c1] * to[r1][c0]) / det;
            }
        mat_mul(rot, to, m);
        mat_mul(back, m, m);
        for (size_t i = 0; i < n; i++) {
            unsigned char *q = rgb + i * 3;
            double r = q[0], g = q[1], b = q[2];
            for (int k = 0; k < 3; k++)
                q[k] = clamp_u8(m[k][0] * r + m[k][1] * g + m[k][2] * b);
        }
    }
}

void augment_apply_params(const augment_params *p, const image *src, image *dst)
{
    int w = src->width, h = src->height;
    size_t row = (size_t)w * 3;
    dst->width = w;
    dst->height = h;
    double m[3][3];
    if (affine_matrix(p, w, h, m))
        warp(m, src, dst->rgb);
    else
        memcpy(dst->rgb, src->rgb, row * h);
    if (p->flip)
        for (int r = 0; r < h; r++) {
            unsigned char *a = dst->rgb + r * row, *b = a + row - 3;
            for (; a < b; a += 3, b -= 3)
                for (int k = 0; k < 3; k++) {
                    unsigned char t = a[k];
                    a[k] = b[k];
                    b[k] = t;
                }
        }
    if (p->brightness != 1) {
        unsigned char lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = clamp_u8(v * p->brightness);
        size_t n = row * h;
        for (size_t i = 0; i < n; i++)
            dst->rgb[i] = lut[dst->rgb[i]];
    }
    colour_jitter(p, dst->rgb, (size_t)w * (size_t)h);
}

void augment_apply(const augment_opts *o, unsigned long long seed, const image *src, image *dst)
{
    augment_params p;
    augment_draw(o, seed, src->width, src->height, &p);
    augment_apply_params(&p, src, dst);
}

/* --- augment_parse ---------------------------------------------------------------- */

/* The settings of the classic Keras cats-vs-dogs example (Chollet, Deep Learning
 * with Python, 5.2): rotation 40, shifts 0.2, zoom 0.2, shear 0.2 rad (written
 * when Keras took radians; 11.5 degrees), horizontal flips. */
static void set_default(augment_opts *o)
{
    memset(o, 0, sizeof *o);
    o->horizontal_flip = 1;
    o->rotation_range = 40;
    o->width_shift_range = 0.2f;
    o->height_shift_range = 0.2f;
    o->zoom_range = 0.2f;
    o->shear_range = 11.5f;
}

static int parse_value(const char *item, const char *v, double lo, double hi, int hi_open, float *out,
                       cd_err *err)
{
    if (!v)
        return cd_err_set(err, CD_ERR_INVALID, "augmentation '%s' needs a value (%s=X)", item, item);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end)
        return cd_err_set(err, CD_ERR_INVALID, "augmentation '%s': '%s' is not a number", item, v);
    if (!(x >= lo && (hi_open ? x < hi : x <= hi)))
        return cd_err_set(err, CD_ERR_INVALID, "augmentation '%s=%s' is out of range [%g, %g%c", item, v, lo, hi,
                          hi_open ? ')' : ']');
    *out = (float)x;
    return 0;
}

int augment_parse(const char *spec, augment_opts *o, cd_err *err)
{
    if (!spec || !o)
        return cd_err_set(err, CD_ERR_INVALID, "augmentation: no specification");
    augment_opts res;
    memset(&res, 0, sizeof res);
    char *copy = strdup(spec);
    if (!copy)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    int rc = 0, items = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*item))
            item++;
        char *e = item + strlen(item);
        while (e > item && isspace((unsigned char)e[-1]))
            *--e = 0;
        if (!*item)
            continue;
        items++;
        char *v = strchr(item, '=');
        if (v)
            *v++ = 0;
        float f = 0;
        if (strcmp(item, "none") == 0 && !v) {
            memset(&res, 0, sizeof res);
        } else if (strcmp(item, "default") == 0 && !v) {
            set_default(&res);
        } else if (strcmp(item, "flip") == 0 || strcmp(item, "hflip") == 0 ||
                   strcmp(item, "horizontal_flip") == 0) {
            if (!v)
                res.horizontal_flip = 1;
            else if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
                res.horizontal_flip = v[0] == '1';
            else
                rc = cd_err_set(err, CD_ERR_INVALID, "augmentation '%s=%s': use 0 or 1", item, v);
        } else if (strcmp(item, "rotate") == 0 || strcmp(item, "rotation") == 0) {
            if ((rc = parse_value(item, v, 0, 180, 0, &f, err)) == 0)
                res.rotation_range = f;
        } else if (strcmp(item, "shift") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 1, &f, err)) == 0)
                res.width_shift_range = res.height_shift_range = f;
        } else if (strcmp(item, "wshift") == 0 || strcmp(item, "width_shift") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 1, &f, err)) == 0)
                res.width_shift_range = f;
        } else if (strcmp(item, "hshift") == 0 || strcmp(item, "height_shift") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 1, &f, err)) == 0)
                res.height_shift_range = f;
        } else if (strcmp(item, "zoom") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 1, &f, err)) == 0)
                res.zoom_range = f;
        } else if (strcmp(item, "shear") == 0) {
            if ((rc = parse_value(item, v, 0, 90, 1, &f, err)) == 0)
                res.shear_range = f;
        } else if (strcmp(item, "brightness") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 0, &f, err)) == 0)
                res.brightness_range = f;
        } else if (strcmp(item, "crop") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 1, &f, err)) == 0 && !(f > 0))
                rc = cd_err_set(err, CD_ERR_INVALID, "augmentation 'crop=%s': give the smallest area kept, in (0, 1)",
                                v);
            if (rc == 0)
                res.crop_area = f;
        } else if (strcmp(item, "contrast") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 0, &f, err)) == 0)
                res.contrast_range = f;
        } else if (strcmp(item, "saturation") == 0) {
            if ((rc = parse_value(item, v, 0, 1, 0, &f, err)) == 0)
                res.saturation_range = f;
        } else if (strcmp(item, "hue") == 0) {
            if ((rc = parse_value(item, v, 0, 0.5, 0, &f, err)) == 0)
                res.hue_range = f;
        } else {
            rc = cd_err_set(err, CD_ERR_INVALID,
                            "unknown augmentation '%s' (use none, default, flip, rotate=DEG, shift=F, "
                            "wshift=F, hshift=F, zoom=F, shear=DEG, brightness=F, crop=A, contrast=F, "
                            "saturation=F, hue=F)",
                            item);
        }
    }
    if (rc == 0 && items == 0)
        rc = cd_err_set(err, CD_ERR_INVALID, "augmentation: empty specification (use 'none' for no augmentation)");
    free(copy);
    if (rc == 0)
        *o = res;
    return rc;
}
