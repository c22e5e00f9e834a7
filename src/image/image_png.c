/*
 * image_png.c - PNG decoding and encoding with libpng.
 *
 * libpng reports errors through a callback that must not return; ours
 * copies the message and longjmps to the decoder, which turns it into a
 * cd_err.  Warnings are dropped (library code never prints).
 *
 * Every colour type and bit depth becomes RGB8 through libpng's transforms:
 * palette -> RGB, gray 1/2/4 -> 8 bits, tRNS -> alpha, 16 -> 8 bits (scaled,
 * not truncated), gray -> RGB; alpha is then composited over white.
 * Interlaced images go through libpng's interlace handling.
 *
 * The pixel limit is checked twice before any pixel memory exists: once on
 * the raw IHDR bytes (so even a file with nothing after its header is
 * refused as too large, not as truncated) and once on what libpng parsed.
 * A file that ends early, in the data or before IEND, is an error.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/image_internal.h"

typedef struct png_dec {
    png_structp png;
    png_infop info;
    const unsigned char *bytes;
    size_t len, pos;
    char msg[256];
    unsigned char *pixels; /* rows of `channels` bytes per pixel */
    png_bytep *rows;
} png_dec;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_dec *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* library code never prints; libpng recovers from warnings */
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_dec *d = png_get_io_ptr(png);
    if (n > d->len - d->pos)
        png_error(png, "file is truncated");
    memcpy(dst, d->bytes + d->pos, n);
    d->pos += n;
}

static unsigned long png_be32(const unsigned char *p)
{
    return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
           ((unsigned long)p[2] << 8) | (unsigned long)p[3];
}

static void png_dec_free(png_dec *d)
{
    if (d->png)
        png_destroy_read_struct(&d->png, d->info ? &d->info : NULL, NULL);
    free(d->rows);
    free(d->pixels);
    free(d);
}

int image_png_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                     image *out, image_info *info, cd_err *err)
{
    /* Signature (8), then IHDR: length (4), "IHDR", width (4), height (4). */
    if (len >= 24 && memcmp(bytes + 12, "IHDR", 4) == 0 &&
        image_check_size((long)png_be32(bytes + 16), (long)png_be32(bytes + 20), lim, "PNG",
                         err) != 0)
        return -1;

    png_dec *d = calloc(1, sizeof *d);
    if (!d)
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: out of memory");
    d->bytes = bytes;
    d->len = len;
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, png_on_error, png_on_warning);
    if (!d->png) {
        png_dec_free(d);
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: cannot create the libpng decoder");
    }
    d->info = png_create_info_struct(d->png);
    if (!d->info) {
        png_dec_free(d);
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: cannot create the libpng info block");
    }
    if (setjmp(png_jmpbuf(d->png))) {
        cd_err_set(err, CD_ERR_FORMAT, "corrupt or truncated PNG: %s", d->msg);
        png_dec_free(d);
        return -1;
    }
    png_set_read_fn(d->png, d, png_read_mem);
    png_read_info(d->png, d->info);

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(d->png, d->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (image_check_size((long)w, (long)h, lim, "PNG", err) != 0) {
        png_dec_free(d);
        return -1;
    }

    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(d->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(d->png);
    if (png_get_valid(d->png, d->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(d->png);
    if (depth == 16)
        png_set_scale_16(d->png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(d->png);
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);

    int channels = png_get_channels(d->png, d->info);
    size_t rowbytes = png_get_rowbytes(d->png, d->info);
    if ((channels != 3 && channels != 4) || png_get_bit_depth(d->png, d->info) != 8 ||
        rowbytes != (size_t)w * (size_t)channels) {
        cd_err_set(err, CD_ERR_UNSUPPORTED, "PNG: unexpected layout after conversion "
                   "(%d channels, %zu bytes a row)", channels, rowbytes);
        png_dec_free(d);
        return -1;
    }
    d->pixels = malloc(rowbytes * h);
    d->rows = malloc(sizeof *d->rows * h);
    if (!d->pixels || !d->rows) {
        cd_err_set(err, CD_ERR_NOMEM, "PNG: out of memory for a %lux%lu image",
                   (unsigned long)w, (unsigned long)h);
        png_dec_free(d);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        d->rows[y] = d->pixels + (size_t)y * rowbytes;
    png_read_image(d->png, d->rows);
    /* Reads up to IEND: a file cut after its pixel data is still truncated,
     * and an eXIf chunk may follow the data. */
    png_read_end(d->png, d->info);

    info->full_width = (int)w;
    info->full_height = (int)h;
    info->orientation = 1;
    if (lim->use_exif) {
        png_uint_32 exif_len = 0;
        png_bytep exif = NULL;
        if (png_get_eXIf_1(d->png, d->info, &exif_len, &exif) && exif)
            info->orientation = image_exif_orientation(exif, exif_len);
    }

    if (channels == 4) {
        image_rgba_over_white(d->pixels, d->pixels, (size_t)w * h);
        unsigned char *shrunk = realloc(d->pixels, (size_t)w * h * 3);
        if (shrunk)
            d->pixels = shrunk; /* otherwise keep the larger block: still valid */
    }
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = d->pixels;
    d->pixels = NULL;
    png_dec_free(d);
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct png_enc {
    png_structp png;
    png_infop info;
    unsigned char *buf;
    size_t len, cap;
    int nomem;
    char msg[256];
    png_bytep *rows;
} png_enc;

static void png_write_mem(png_structp png, png_bytep src, size_t n)
{
    png_enc *e = png_get_io_ptr(png);
    if (n > e->cap - e->len) {
        size_t cap = e->cap ? e->cap : 4096;
        while (cap - e->len < n) {
            if (cap > ((size_t)-1) / 2) {
                e->nomem = 1;
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        unsigned char *nb = realloc(e->buf, cap);
        if (!nb) {
            e->nomem = 1;
            png_error(png, "out of memory");
        }
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, src, n);
    e->len += n;
}

static void png_flush_mem(png_structp png)
{
    (void)png;
}

static void png_on_enc_error(png_structp png, png_const_charp msg)
{
    png_enc *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_enc_free(png_enc *e)
{
    if (e->png)
        png_destroy_write_struct(&e->png, e->info ? &e->info : NULL);
    free(e->rows);
    free(e->buf);
    free(e);
}

int image_encode_png(const image *img, unsigned char **out, size_t *out_len, cd_err *err)
{
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !out || !out_len)
        return cd_err_set(err, CD_ERR_INVALID, "image_encode_png: empty image or no output");
    png_enc *e = calloc(1, sizeof *e);
    if (!e)
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: out of memory");
    e->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_on_enc_error, png_on_warning);
    if (!e->png || !(e->info = png_create_info_struct(e->png))) {
        png_enc_free(e);
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: cannot create the libpng encoder");
    }
    e->rows = malloc(sizeof *e->rows * (size_t)img->height);
    if (!e->rows) {
        png_enc_free(e);
        return cd_err_set(err, CD_ERR_NOMEM, "PNG: out of memory");
    }
    for (int y = 0; y < img->height; y++)
        e->rows[y] = img->rgb + (size_t)y * img->width * 3;
    if (setjmp(png_jmpbuf(e->png))) {
        cd_err_set(err, e->nomem ? CD_ERR_NOMEM : CD_ERR_BACKEND, "PNG encoder: %s", e->msg);
        png_enc_free(e);
        return -1;
    }
    png_set_write_fn(e->png, e, png_write_mem, png_flush_mem);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_rows(e->png, e->info, e->rows);
    png_write_png(e->png, e->info, PNG_TRANSFORM_IDENTITY, NULL);
    *out = e->buf;
    *out_len = e->len;
    e->buf = NULL;
    png_enc_free(e);
    return 0;
}
