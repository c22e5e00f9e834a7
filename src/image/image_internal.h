/*
 * image_internal.h - what the image room's files share and nobody else sees.
 *
 * image.c sniffs the format and dispatches to one decoder per codec
 * (image_jpeg.c, image_png.c, image_webp.c).  Every decoder checks the pixel
 * limit from the header before it allocates pixels, leaves a plain RGB8
 * buffer in `out`, and reports the EXIF orientation it found (1 = none) so
 * image.c can rotate once, in one place (image_exif.c).
 */
#ifndef CATDOG_IMAGE_INTERNAL_H
#define CATDOG_IMAGE_INTERNAL_H

#include <stddef.h>

#include "image/image.h"

/* The limits and hints a decoder works with, defaults already applied. */
typedef struct image_limits {
    long max_pixels;       /* > 0 */
    int hint_width;        /* 0 = none; in display orientation (after EXIF) */
    int hint_height;
    int use_exif;          /* 0 = ignore orientation tags */
} image_limits;

/* Refuses width x height over the limit (CD_ERR_LIMIT) or not positive
 * (CD_ERR_FORMAT); `what` names the codec in the message.  Returns 0 or -1. */
int image_check_size(long width, long height, const image_limits *lim, const char *what,
                     cd_err *err);

/* Allocates an uninitialised w x h RGB buffer into img (CD_ERR_NOMEM on failure). */
int image_alloc(image *img, int width, int height, cd_err *err);

/* Composites n RGBA pixels over white into n RGB pixels; src and dst may alias
 * (dst is written front to back, never ahead of src). */
void image_rgba_over_white(const unsigned char *src, unsigned char *dst, size_t n);

/* What a codec learned from the file besides the pixels. */
typedef struct image_info {
    int full_width, full_height; /* declared size, stored orientation, before DCT scaling */
    int orientation;             /* EXIF 1..8; 1 when absent or lim->use_exif is 0 */
} image_info;

/* Codec decoders: fill out (RGB8, stored orientation) and info.
 * Return 0 or -1; on failure out owns nothing. */
int image_jpeg_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                      image *out, image_info *info, cd_err *err);
int image_png_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                     image *out, image_info *info, cd_err *err);
int image_webp_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                      image *out, image_info *info, cd_err *err);

/* The EXIF Orientation tag (1..8) in an EXIF block as JPEG's APP1 holds it
 * ("Exif\0\0" then a TIFF header) or as a bare TIFF block (PNG eXIf, WebP
 * EXIF chunk).  Returns 1 when the block has no valid tag. */
int image_exif_orientation(const unsigned char *data, size_t len);

/* True for orientations 5..8, which swap width and height. */
int image_orientation_swaps(int orientation);

/* Applies an EXIF orientation to img in place (replacing its buffer).
 * Returns 0 or -1 (CD_ERR_NOMEM). */
int image_apply_orientation(image *img, int orientation, cd_err *err);

#endif
