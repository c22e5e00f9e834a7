/*
 * image.h - decoding photos into RGB pixels, resizing them, and turning them
 * into the float input a model expects.
 *
 * Formats are identified by their bytes (magic numbers), never by a file name:
 * JPEG (libjpeg-turbo; decoded at a reduced DCT scale when the photo is much
 * larger than the size the caller needs), PNG (libpng) and WebP (libwebp).
 * EXIF orientation is applied (libexif); grayscale, CMYK/YCCK and alpha
 * become plain RGB (alpha composited over white).
 *
 * Limits are checked from the header before any pixel buffer is allocated, so
 * a file declaring 100000x100000 pixels costs nothing.  Corrupt and truncated
 * files are errors (CD_ERR_FORMAT), not partial images.
 *
 * Ownership: image_decode fills a caller-owned `image`; release it with
 * image_free.  Nothing here knows about models or HTTP.
 */
#ifndef CATDOG_IMAGE_IMAGE_H
#define CATDOG_IMAGE_IMAGE_H

#include <stddef.h>

#include "core/error.h"
#include "core/preprocess.h"

typedef enum image_format {
    IMAGE_FORMAT_UNKNOWN = 0,
    IMAGE_FORMAT_JPEG,
    IMAGE_FORMAT_PNG,
    IMAGE_FORMAT_WEBP
} image_format;

typedef struct image {
    int width, height;
    unsigned char *rgb;   /* owned: width * height * 3 bytes, row-major, RGB */
} image;

#define IMAGE_DEFAULT_MAX_PIXELS (64L * 1000 * 1000)

typedef struct image_decode_opts {
    long max_pixels;   /* refuse images with more pixels; 0 = IMAGE_DEFAULT_MAX_PIXELS */
    int hint_width;    /* size the caller will resize to (0 = none): lets JPEG decode */
    int hint_height;   /* at a reduced DCT scale that still covers it */
    int no_exif;       /* 1 = ignore EXIF orientation */
} image_decode_opts;

typedef enum image_filter {
    IMAGE_FILTER_BILINEAR = 0, /* bilinear, antialiased when downscaling (PIL-like) */
    IMAGE_FILTER_NEAREST       /* Keras load_img's default */
} image_filter;

/* The format the bytes start with (needs at most 12 bytes). */
image_format image_sniff(const unsigned char *bytes, size_t len);

/* "jpeg", "png", "webp", "unknown"; and the file extension ("jpg", "png", "webp"). */
const char *image_format_name(image_format f);
const char *image_format_ext(image_format f);

/* Decodes bytes into out (opts may be NULL for defaults).  The original size,
 * before any DCT scaling and after EXIF rotation, goes to *orig_w and *orig_h when
 * those are not NULL.  Returns 0 or -1. */
int image_decode(const unsigned char *bytes, size_t len, const image_decode_opts *opts,
                 image *out, int *orig_w, int *orig_h, cd_err *err);

/* Reads and decodes a file (messages name the path). */
int image_decode_file(const char *path, const image_decode_opts *opts, image *out,
                      int *orig_w, int *orig_h, cd_err *err);

void image_free(image *img);

/* Resizes src to w x h into dst (caller frees dst).  Returns 0 or -1. */
int image_resize(const image *src, int w, int h, image_filter filter, image *dst, cd_err *err);

/* Converts w*h RGB8 pixels into w*h*3 floats (HWC) with the model's preprocessing:
 * rescale -> RGB/255, caffe -> BGR minus ImageNet means, none -> RGB as floats. */
void image_to_input(const image *img, cd_preprocess p, float *dst);

/* Encoders, used by tests, the upload store's thumbnails and training previews. */
int image_encode_jpeg(const image *img, int quality, unsigned char **out, size_t *out_len, cd_err *err);
int image_encode_png(const image *img, unsigned char **out, size_t *out_len, cd_err *err);

#endif
