/*
 * encoders.h - small encoders the image tests use to make their own inputs.
 *
 * The tests never depend on image files from elsewhere: they draw pixels,
 * encode them here with the codec libraries themselves (grayscale, CMYK,
 * YCCK and progressive JPEG, JPEG with an EXIF APP1 segment, PNG of every
 * colour type and depth, interlaced PNG, PNG with eXIf, WebP lossy and
 * lossless, WebP with an EXIF chunk), then check what image_decode makes of
 * them.  Include test_util.h first.
 */
#ifndef CATDOG_TESTS_IMAGE_ENCODERS_H
#define CATDOG_TESTS_IMAGE_ENCODERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <libexif/exif-data.h>
#include <png.h>
#include <webp/encode.h>

#include "image/image.h"

/* A growable byte buffer. */
typedef struct enc_buf {
    unsigned char *p;
    size_t len, cap;
} enc_buf;

static inline void enc_put(enc_buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void enc_put_be32(enc_buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    enc_put(b, q, 4);
}

static inline void enc_put_le32(enc_buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    enc_put(b, q, 4);
}

/* ---- EXIF ---------------------------------------------------------------- */

/* An APP1-style EXIF block ("Exif\0\0" + TIFF) holding only Orientation,
 * made with libexif (little-endian, Intel order).  Caller frees. */
static inline unsigned char *enc_exif_libexif(int orientation, size_t *len)
{
    ExifData *ed = exif_data_new();
    assert_non_null(ed);
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_INTEL);
    ExifEntry *e = exif_entry_new();
    assert_non_null(e);
    exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
    exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
    exif_set_short(e->data, EXIF_BYTE_ORDER_INTEL, (ExifShort)orientation);
    exif_entry_unref(e);
    unsigned char *buf = NULL;
    unsigned int n = 0;
    exif_data_save_data(ed, &buf, &n);
    exif_data_unref(ed);
    assert_non_null(buf);
    *len = n;
    return buf;
}

/* The same, built byte by byte in big-endian (Motorola) order, so the
 * reader is not only checked against the library that wrote the data.
 * with_header = 0 gives the bare TIFF block (PNG eXIf, WebP EXIF chunk). */
static inline unsigned char *enc_exif_by_hand(int orientation, int with_header, size_t *len)
{
    enc_buf b = {0};
    if (with_header)
        enc_put(&b, "Exif\0\0", 6);
    enc_put(&b, "MM\0\x2a", 4);         /* big-endian TIFF, magic 42 */
    enc_put_be32(&b, 8);                /* IFD0 right after the header */
    enc_put(&b, "\0\x01", 2);           /* one entry */
    enc_put(&b, "\x01\x12\0\x03", 4);   /* tag 0x0112 Orientation, type 3 SHORT */
    enc_put_be32(&b, 1);                /* count 1 */
    unsigned char v[4] = {0, (unsigned char)orientation, 0, 0}; /* value, padded to 4 */
    enc_put(&b, v, 4);
    enc_put_be32(&b, 0);                /* no next IFD */
    *len = b.len;
    return b.p;
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct enc_jpeg_opts {
    J_COLOR_SPACE in_space;   /* JCS_RGB, JCS_GRAYSCALE, JCS_CMYK */
    J_COLOR_SPACE jpeg_space; /* 0 = libjpeg's default for in_space; JCS_YCCK to force */
    int quality;              /* 0 = 95 */
    int progressive;
    const unsigned char *app1; /* EXIF block written as APP1 first thing after SOI */
    size_t app1_len;
} enc_jpeg_opts;

/* Encodes w x h pixels with as many components as in_space has. Caller frees. */
static inline unsigned char *enc_jpeg(const unsigned char *px, int w, int h,
                                      const enc_jpeg_opts *o, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    int comps = o->in_space == JCS_GRAYSCALE ? 1 : o->in_space == JCS_CMYK ? 4 : 3;
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = o->in_space;
    jpeg_set_defaults(&c);
    if (o->jpeg_space)
        jpeg_set_colorspace(&c, o->jpeg_space);
    jpeg_set_quality(&c, o->quality ? o->quality : 95, TRUE);
    if (o->progressive)
        jpeg_simple_progression(&c);
    if (o->app1)
        c.write_JFIF_header = FALSE; /* cameras put APP1 Exif first */
    jpeg_start_compress(&c, TRUE);
    if (o->app1)
        jpeg_write_marker(&c, JPEG_APP0 + 1, o->app1, (unsigned int)o->app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = n;
    return buf;
}

static inline unsigned char *enc_jpeg_rgb(const unsigned char *px, int w, int h, size_t *len)
{
    enc_jpeg_opts o = {JCS_RGB, 0, 95, 0, NULL, 0};
    return enc_jpeg(px, w, h, &o, len);
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct enc_png_opts {
    int color_type;  /* PNG_COLOR_TYPE_* */
    int bit_depth;   /* 1, 2, 4, 8, 16; samples are given in that depth, 16-bit big-endian */
    int interlace;   /* 1 = Adam7 */
    const png_color *palette;
    int palette_len;
    const unsigned char *trns; /* palette alpha, per entry */
    int trns_len;
    const png_color_16 *trns_color; /* gray/RGB transparent colour */
    const unsigned char *exif;      /* bare TIFF block for eXIf */
    size_t exif_len;
} enc_png_opts;

static inline void enc_png_write(png_structp png, png_bytep src, size_t n)
{
    enc_put(png_get_io_ptr(png), src, n);
}

static inline void enc_png_flush(png_structp png)
{
    (void)png;
}

/* Encodes rows of packed samples, `rowbytes` bytes each.  Caller frees. */
static inline unsigned char *enc_png(const unsigned char *rows, size_t rowbytes, int w, int h,
                                     const enc_png_opts *o, size_t *len)
{
    enc_buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed while encoding a test image");
    png_set_write_fn(png, &b, enc_png_write, enc_png_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, o->bit_depth, o->color_type,
                 o->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (o->palette)
        png_set_PLTE(png, info, o->palette, o->palette_len);
    if (o->trns || o->trns_color)
        png_set_tRNS(png, info, o->trns, o->trns_len, o->trns_color);
    if (o->exif)
        png_set_eXIf_1(png, info, (png_uint_32)o->exif_len, (png_bytep)o->exif);
    png_bytep *rp = malloc(sizeof *rp * (size_t)h);
    assert_non_null(rp);
    for (int y = 0; y < h; y++)
        rp[y] = (png_bytep)(rows + (size_t)y * rowbytes);
    png_set_rows(png, info, rp);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rp);
    *len = b.len;
    return b.p;
}

/* ---- WebP ---------------------------------------------------------------- */

/* Lossy RGB, lossless RGB, lossless RGBA (channels 3 or 4).  Caller frees with free(). */
static inline unsigned char *enc_webp(const unsigned char *px, int w, int h, int channels,
                                      int lossless, size_t *len)
{
    uint8_t *out = NULL;
    size_t n;
    if (channels == 4)
        n = lossless ? WebPEncodeLosslessRGBA(px, w, h, w * 4, &out)
                     : WebPEncodeRGBA(px, w, h, w * 4, 90, &out);
    else
        n = lossless ? WebPEncodeLosslessRGB(px, w, h, w * 3, &out)
                     : WebPEncodeRGB(px, w, h, w * 3, 90, &out);
    assert_true(n > 0);
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, out, n);
    WebPFree(out);
    *len = n;
    return copy;
}

/* Re-wraps a simple WebP file ("RIFF" "WEBP" + one VP8/VP8L chunk) in the
 * extended format with an EXIF chunk after the image chunk.  Caller frees. */
static inline unsigned char *enc_webp_add_exif(const unsigned char *webp, size_t webp_len, int w,
                                               int h, const unsigned char *exif,
                                               size_t exif_len, size_t *len)
{
    enc_buf b = {0};
    enc_put(&b, "RIFF\0\0\0\0WEBP", 12);
    enc_put(&b, "VP8X", 4);
    enc_put_le32(&b, 10);
    unsigned char vp8x[10] = {0x08 /* EXIF flag */, 0, 0, 0};
    uint32_t cw = (uint32_t)w - 1, ch = (uint32_t)h - 1;
    vp8x[4] = (unsigned char)cw; vp8x[5] = (unsigned char)(cw >> 8); vp8x[6] = (unsigned char)(cw >> 16);
    vp8x[7] = (unsigned char)ch; vp8x[8] = (unsigned char)(ch >> 8); vp8x[9] = (unsigned char)(ch >> 16);
    enc_put(&b, vp8x, 10);
    enc_put(&b, webp + 12, webp_len - 12); /* the image chunk as it was */
    enc_put(&b, "EXIF", 4);
    enc_put_le32(&b, (uint32_t)exif_len);
    enc_put(&b, exif, exif_len);
    if (exif_len & 1)
        enc_put(&b, "\0", 1);
    uint32_t riff = (uint32_t)(b.len - 8);
    b.p[4] = (unsigned char)riff; b.p[5] = (unsigned char)(riff >> 8);
    b.p[6] = (unsigned char)(riff >> 16); b.p[7] = (unsigned char)(riff >> 24);
    *len = b.len;
    return b.p;
}

/* ---- pixels -------------------------------------------------------------- */

/* Mean absolute difference per sample between two same-sized images. */
static inline double img_mean_abs_diff(const image *a, const image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    size_t n = (size_t)a->width * a->height * 3;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a->rgb[i] - (int)b->rgb[i]);
    return s / (double)n;
}

static inline const unsigned char *img_px(const image *im, int x, int y)
{
    return im->rgb + ((size_t)y * im->width + x) * 3;
}

/* Asserts pixel (x, y) is within tol of (r, g, b). */
#define assert_px_near(im, x, y, r, g, b, tol)                                           \
    do {                                                                                 \
        const unsigned char *p_ = img_px((im), (x), (y));                                \
        if (abs(p_[0] - (r)) > (tol) || abs(p_[1] - (g)) > (tol) || abs(p_[2] - (b)) > (tol)) \
            fail_msg("pixel (%d,%d) is (%d,%d,%d), expected (%d,%d,%d) +-%d", (x), (y),    \
                     p_[0], p_[1], p_[2], (r), (g), (b), (tol));                         \
    } while (0)

#endif
