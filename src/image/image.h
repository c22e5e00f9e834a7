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
/* About the hint: it is in display orientation (after EXIF); JPEG picks the
 * smallest scale n/8 whose output is at least hint_width x hint_height (a 0
 * side is unconstrained), never upscaling; PNG and WebP ignore it.  The DCT
 * shortcut is fast but not PIL's arithmetic: the 200x200 dataset photos
 * decoded with hint 150 and resized to 150 differ from PIL's bilinear inputs
 * by a mean of 0.8-2.7 levels (max 18-32), while with no hint our pipeline
 * reproduces PIL exactly.  A hint of twice the target (PIL's reducing_gap=2
 * idea) keeps the speed-up for big photos (a 4000x3000 JPEG for 224 decodes
 * at 1000x750) and leaves photos under twice the target at full scale. */

/* The decode hint to pass for a model input of n pixels a side: twice the size.
 * Reduced-scale JPEG decoding is a shortcut PIL does not take; with a hint of 2n
 * it only applies to photos more than twice as large as needed, so typical
 * photos decode at full scale and resize PIL-exactly, while large phone photos
 * still decode fast.  Training (data/) and inference (predict/) both use this,
 * so a photo is prepared the same way in both. */
#define IMAGE_DECODE_HINT(n) (2 * (n))

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
 * those are not NULL.  Returns 0 or -1; on failure out is {0, 0, NULL} and err
 * says why: CD_ERR_FORMAT (not an image, corrupt, truncated), CD_ERR_LIMIT
 * (over max_pixels, or over 65535 on a side), CD_ERR_UNSUPPORTED (animated
 * WebP), CD_ERR_NOMEM. */
int image_decode(const unsigned char *bytes, size_t len, const image_decode_opts *opts,
                 image *out, int *orig_w, int *orig_h, cd_err *err);

/* Reads and decodes a file (messages name the path; CD_ERR_NOTFOUND when it
 * does not exist, CD_ERR_IO when unreadable, CD_ERR_LIMIT over 1 GiB). */
int image_decode_file(const char *path, const image_decode_opts *opts, image *out,
                      int *orig_w, int *orig_h, cd_err *err);

void image_free(image *img);

/* Resizes src to w x h into dst (caller frees dst).  Returns 0 or -1.
 * Bilinear reproduces Pillow's Image.resize(BILINEAR) on RGB images byte for
 * byte (a triangle filter whose support grows with the downscale factor,
 * 22-bit fixed-point weights, horizontal pass then vertical); nearest
 * reproduces Image.resize(NEAREST): source pixel floor((i + 0.5) * in / out). */
int image_resize(const image *src, int w, int h, image_filter filter, image *dst, cd_err *err);

/* Converts w*h RGB8 pixels into w*h*3 floats (HWC) with the model's preprocessing:
 * rescale -> RGB/255, caffe -> BGR minus ImageNet means, none -> RGB as floats.
 * dst must hold img->width * img->height * 3 floats. */
void image_to_input(const image *img, cd_preprocess p, float *dst);

/* The luminance of src as Pillow's Image.convert('L') computes it,
 * L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (ITU-R 601-2 weights
 * 0.299/0.587/0.114 in 16-bit fixed point, rounded), written into a new RGB
 * image dst whose three channels all hold L (image_to_input_gray reads one).
 * Caller frees dst. */
int image_luminance(const image *src, image *dst, cd_err *err);

/* image_to_input for a 1-channel model: w*h floats from channel 0 of a
 * luminance image (image_luminance), with the model's preprocessing applied to
 * L as to each of R, G, B (caffe: minus the mean of the three means).  dst must
 * hold img->width * img->height floats. */
void image_to_input_gray(const image *img, cd_preprocess p, float *dst);

/* Encoders, used by tests, the upload store's thumbnails and training previews.
 * *out is malloc'd (release it with free()); quality is 1..100. */
int image_encode_jpeg(const image *img, int quality, unsigned char **out, size_t *out_len, cd_err *err);
int image_encode_png(const image *img, unsigned char **out, size_t *out_len, cd_err *err);

#endif
