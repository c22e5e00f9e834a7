/*
 * image.c - the front door of the image room: format sniffing, the decode
 * dispatcher, reading files, and the small helpers every codec shares.
 *
 * The codec files (image_jpeg.c, image_png.c, image_webp.c) only turn bytes
 * into RGB8 in the orientation the file stores; this file applies the EXIF
 * orientation they report, so rotation happens in exactly one place.
 */
#include "image/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/image_internal.h"

/* Files larger than this are refused before being read: no photo we accept
 * (64 Mpx by default) comes near it, and it bounds what a bad path costs. */
#define IMAGE_MAX_FILE_BYTES (1024L * 1024 * 1024)

image_format image_sniff(const unsigned char *b, size_t len)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!b)
        return IMAGE_FORMAT_UNKNOWN;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return IMAGE_FORMAT_JPEG;
    if (len >= 8 && memcmp(b, png_sig, 8) == 0)
        return IMAGE_FORMAT_PNG;
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return IMAGE_FORMAT_WEBP;
    return IMAGE_FORMAT_UNKNOWN;
}

const char *image_format_name(image_format f)
{
    switch (f) {
    case IMAGE_FORMAT_JPEG: return "jpeg";
    case IMAGE_FORMAT_PNG: return "png";
    case IMAGE_FORMAT_WEBP: return "webp";
    case IMAGE_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

const char *image_format_ext(image_format f)
{
    switch (f) {
    case IMAGE_FORMAT_JPEG: return "jpg";
    case IMAGE_FORMAT_PNG: return "png";
    case IMAGE_FORMAT_WEBP: return "webp";
    case IMAGE_FORMAT_UNKNOWN: break;
    }
    return "bin";
}

int image_check_size(long width, long height, const image_limits *lim, const char *what,
                     cd_err *err)
{
    if (width <= 0 || height <= 0)
        return cd_err_set(err, CD_ERR_FORMAT, "%s header declares an empty image (%ldx%ld)",
                          what, width, height);
    /* Compare without multiplying first so huge declared sizes cannot overflow. */
    if (width > lim->max_pixels || height > lim->max_pixels / width)
        return cd_err_set(err, CD_ERR_LIMIT,
                          "%s image is %ldx%ld pixels, over the limit of %ld pixels", what,
                          width, height, lim->max_pixels);
    /* The rest of the pipeline indexes with int. */
    if (width > 65535 || height > 65535)
        return cd_err_set(err, CD_ERR_LIMIT, "%s image is %ldx%ld pixels, over 65535 on a side",
                          what, width, height);
    return 0;
}

int image_alloc(image *img, int width, int height, cd_err *err)
{
    size_t n = (size_t)width * (size_t)height * 3;
    img->rgb = malloc(n ? n : 1);
    if (!img->rgb) {
        img->width = img->height = 0;
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    }
    img->width = width;
    img->height = height;
    return 0;
}

void image_rgba_over_white(const unsigned char *src, unsigned char *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned a = src[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            unsigned v = src[4 * i + c];
            /* v*a/255 + 255*(1-a/255), rounded to nearest. */
            dst[3 * i + c] = (unsigned char)((v * a + 255u * (255u - a) + 127u) / 255u);
        }
    }
}

void image_free(image *img)
{
    if (!img)
        return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

int image_decode(const unsigned char *bytes, size_t len, const image_decode_opts *opts,
                 image *out, int *orig_w, int *orig_h, cd_err *err)
{
    if (!out)
        return cd_err_set(err, CD_ERR_INVALID, "image_decode: no output image");
    out->width = out->height = 0;
    out->rgb = NULL;
    if (!bytes || len == 0)
        return cd_err_set(err, CD_ERR_FORMAT, "empty image data");

    image_limits lim = {IMAGE_DEFAULT_MAX_PIXELS, 0, 0, 1};
    if (opts) {
        if (opts->max_pixels < 0 || opts->hint_width < 0 || opts->hint_height < 0)
            return cd_err_set(err, CD_ERR_INVALID, "image_decode: negative limit or hint");
        if (opts->max_pixels > 0)
            lim.max_pixels = opts->max_pixels;
        lim.hint_width = opts->hint_width;
        lim.hint_height = opts->hint_height;
        lim.use_exif = !opts->no_exif;
    }

    image_info info = {0, 0, 1};
    int rc;
    image_format fmt = image_sniff(bytes, len);
    switch (fmt) {
    case IMAGE_FORMAT_JPEG:
        rc = image_jpeg_decode(bytes, len, &lim, out, &info, err);
        break;
    case IMAGE_FORMAT_PNG:
        rc = image_png_decode(bytes, len, &lim, out, &info, err);
        break;
    case IMAGE_FORMAT_WEBP:
        rc = image_webp_decode(bytes, len, &lim, out, &info, err);
        break;
    default:
        return cd_err_set(err, CD_ERR_FORMAT,
                          "not a JPEG, PNG or WebP image (unrecognised first bytes)");
    }
    if (rc != 0) {
        image_free(out);
        return -1;
    }
    if (info.orientation != 1 && image_apply_orientation(out, info.orientation, err) != 0) {
        image_free(out);
        return -1;
    }
    int swap = image_orientation_swaps(info.orientation);
    if (orig_w)
        *orig_w = swap ? info.full_height : info.full_width;
    if (orig_h)
        *orig_h = swap ? info.full_width : info.full_height;
    return 0;
}

int image_decode_file(const char *path, const image_decode_opts *opts, image *out,
                      int *orig_w, int *orig_h, cd_err *err)
{
    if (out) {
        out->width = out->height = 0;
        out->rgb = NULL;
    }
    if (!path)
        return cd_err_set(err, CD_ERR_INVALID, "image_decode_file: no path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return cd_err_set(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO,
                          "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return cd_err_set(err, CD_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return cd_err_set(err, CD_ERR_IO, "%s is not a regular file", path);
    }
    if (st.st_size > IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        return cd_err_set(err, CD_ERR_LIMIT, "%s: file is %lld bytes, over the %ld-byte limit",
                          path, (long long)st.st_size, IMAGE_MAX_FILE_BYTES);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int read_err = ferror(f);
    fclose(f);
    if (got != n || read_err) {
        free(buf);
        return cd_err_set(err, CD_ERR_IO, "cannot read %s", path);
    }
    int rc = image_decode(buf, n, opts, out, orig_w, orig_h, err);
    free(buf);
    if (rc != 0)
        return cd_err_wrap(err, "%s", path);
    return 0;
}
