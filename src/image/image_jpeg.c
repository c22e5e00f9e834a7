/*
 * image_jpeg.c - JPEG decoding and encoding with libjpeg-turbo.
 *
 * libjpeg reports fatal errors by calling error_exit, which by default prints
 * and calls exit(); here error_exit formats the message and longjmps back to
 * the decoder, which turns it into a cd_err.  Warnings are silenced, except
 * "Premature end of JPEG file": jpeg_mem_src answers a truncated file with a
 * fake end marker and that warning, and a truncated photo must be an error,
 * not a grey-bottomed image.
 *
 * All state that must survive a longjmp lives in one heap block whose
 * pointer is set before setjmp and never changed afterwards, so no local
 * variable needs to be volatile.
 *
 * Decoding: grayscale and YCbCr come out as RGB from libjpeg itself;
 * CMYK/YCCK come out as CMYK and are converted here (Adobe's inverted
 * convention when an Adobe APP14 marker is present, as Photoshop writes
 * them).  When the caller says which size it will resize to, the image is
 * decoded at the smallest DCT scale n/8 whose output still covers that size,
 * which for phone photos saves most of the decoding time and memory.
 */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image_internal.h"

typedef struct jpeg_err_ctx {
    struct jpeg_error_mgr pub; /* first: libjpeg sees only this part */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

static void jpeg_on_error_exit(j_common_ptr cinfo)
{
    jpeg_err_ctx *ctx = (jpeg_err_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, ctx->msg);
    longjmp(ctx->jump, 1);
}

static void jpeg_on_emit_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return; /* trace messages */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpeg_on_error_exit(cinfo);
    /* Other warnings (extraneous bytes, bad restart markers) are common in
     * real photos and libjpeg recovers from them, as every viewer does. */
    cinfo->err->num_warnings++;
}

static void jpeg_on_output_message(j_common_ptr cinfo)
{
    (void)cinfo; /* library code never prints */
}

static void jpeg_install_errors(jpeg_err_ctx *ctx)
{
    jpeg_std_error(&ctx->pub);
    ctx->pub.error_exit = jpeg_on_error_exit;
    ctx->pub.emit_message = jpeg_on_emit_message;
    ctx->pub.output_message = jpeg_on_output_message;
    ctx->msg[0] = '\0';
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct jpeg_dec {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx jerr;
    int created;
    image img;
    unsigned char *row; /* CMYK scanline */
} jpeg_dec;

/* Smallest n in 1..8 whose n/8 scale still covers want_w x want_h
 * (0 = no requirement on that side); 8 when nothing smaller does. */
static void jpeg_choose_scale(j_decompress_ptr cinfo, int want_w, int want_h)
{
    cinfo->scale_denom = 8;
    for (unsigned n = 1; n <= 8; n++) {
        cinfo->scale_num = n;
        jpeg_calc_output_dimensions(cinfo);
        if ((long)cinfo->output_width >= want_w && (long)cinfo->output_height >= want_h)
            return;
    }
}

static int jpeg_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return image_exif_orientation(m->data, m->data_length);
    }
    return 1;
}

/* One CMYK pixel to RGB.  Inverted (Adobe) CMYK stores 255-ink, so
 * R = (1-C)(1-K) is simply c*k/255 there. */
static void jpeg_cmyk_to_rgb(const unsigned char *src, unsigned char *dst, int width,
                             int inverted)
{
    for (int x = 0; x < width; x++) {
        unsigned c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
        if (!inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        dst[3 * x + 0] = (unsigned char)((c * k + 127) / 255);
        dst[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
        dst[3 * x + 2] = (unsigned char)((y * k + 127) / 255);
    }
}

static void jpeg_dec_free(jpeg_dec *d)
{
    if (d->created)
        jpeg_destroy_decompress(&d->cinfo);
    free(d->row);
    image_free(&d->img);
    free(d);
}

int image_jpeg_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                      image *out, image_info *info, cd_err *err)
{
    jpeg_dec *d = calloc(1, sizeof *d);
    if (!d)
        return cd_err_set(err, CD_ERR_NOMEM, "JPEG: out of memory");
    d->cinfo.err = &d->jerr.pub;
    jpeg_install_errors(&d->jerr);
    if (setjmp(d->jerr.jump)) {
        cd_err_set(err, CD_ERR_FORMAT, "corrupt or truncated JPEG: %s", d->jerr.msg);
        jpeg_dec_free(d);
        return -1;
    }
    jpeg_create_decompress(&d->cinfo);
    d->created = 1;
    jpeg_mem_src(&d->cinfo, bytes, (unsigned long)len);
    if (lim->use_exif)
        jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&d->cinfo, TRUE);

    /* Refuse oversized images before libjpeg allocates anything image-sized. */
    if (image_check_size((long)d->cinfo.image_width, (long)d->cinfo.image_height, lim, "JPEG",
                         err) != 0) {
        jpeg_dec_free(d);
        return -1;
    }
    info->full_width = (int)d->cinfo.image_width;
    info->full_height = (int)d->cinfo.image_height;
    info->orientation = lim->use_exif ? jpeg_orientation(&d->cinfo) : 1;

    int cmyk = d->cinfo.jpeg_color_space == JCS_CMYK || d->cinfo.jpeg_color_space == JCS_YCCK;
    d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;

    if (lim->hint_width > 0 || lim->hint_height > 0) {
        /* The hint is in display orientation; the DCT works on stored pixels. */
        int swap = image_orientation_swaps(info->orientation);
        jpeg_choose_scale(&d->cinfo, swap ? lim->hint_height : lim->hint_width,
                          swap ? lim->hint_width : lim->hint_height);
    }

    jpeg_start_decompress(&d->cinfo);
    int w = (int)d->cinfo.output_width, h = (int)d->cinfo.output_height;
    int comps = d->cinfo.output_components;
    if (comps != (cmyk ? 4 : 3)) {
        cd_err_set(err, CD_ERR_UNSUPPORTED, "JPEG: unexpected %d output components", comps);
        jpeg_dec_free(d);
        return -1;
    }
    if (image_alloc(&d->img, w, h, err) != 0) {
        jpeg_dec_free(d);
        return -1;
    }
    if (cmyk) {
        d->row = malloc((size_t)w * 4);
        if (!d->row) {
            cd_err_set(err, CD_ERR_NOMEM, "JPEG: out of memory for a %d-pixel row", w);
            jpeg_dec_free(d);
            return -1;
        }
    }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JDIMENSION y = d->cinfo.output_scanline;
        unsigned char *dst = d->img.rgb + (size_t)y * w * 3;
        JSAMPROW rowp = cmyk ? d->row : dst;
        if (jpeg_read_scanlines(&d->cinfo, &rowp, 1) != 1)
            longjmp(d->jerr.jump, 1); /* cannot happen with a memory source */
        if (cmyk)
            jpeg_cmyk_to_rgb(d->row, dst, w, d->cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d->cinfo);

    *out = d->img;
    d->img.rgb = NULL;
    jpeg_dec_free(d);
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct jpeg_enc {
    struct jpeg_compress_struct cinfo;
    jpeg_err_ctx jerr;
    int created;
    unsigned char *buf; /* malloc'd by jpeg_mem_dest */
    unsigned long len;
} jpeg_enc;

static void jpeg_enc_free(jpeg_enc *e)
{
    if (e->created)
        jpeg_destroy_compress(&e->cinfo);
    free(e->buf);
    free(e);
}

int image_encode_jpeg(const image *img, int quality, unsigned char **out, size_t *out_len,
                      cd_err *err)
{
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !out || !out_len)
        return cd_err_set(err, CD_ERR_INVALID, "image_encode_jpeg: empty image or no output");
    if (quality < 1 || quality > 100)
        return cd_err_set(err, CD_ERR_INVALID, "JPEG quality %d is not in 1..100", quality);
    jpeg_enc *e = calloc(1, sizeof *e);
    if (!e)
        return cd_err_set(err, CD_ERR_NOMEM, "JPEG: out of memory");
    e->cinfo.err = &e->jerr.pub;
    jpeg_install_errors(&e->jerr);
    if (setjmp(e->jerr.jump)) {
        cd_err_set(err, CD_ERR_BACKEND, "JPEG encoder: %s", e->jerr.msg);
        jpeg_enc_free(e);
        return -1;
    }
    jpeg_create_compress(&e->cinfo);
    e->created = 1;
    jpeg_mem_dest(&e->cinfo, &e->buf, &e->len);
    e->cinfo.image_width = (JDIMENSION)img->width;
    e->cinfo.image_height = (JDIMENSION)img->height;
    e->cinfo.input_components = 3;
    e->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(img->rgb + (size_t)e->cinfo.next_scanline * img->width * 3);
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    *out = e->buf;
    *out_len = (size_t)e->len;
    e->buf = NULL;
    jpeg_enc_free(e);
    return 0;
}
