/*
 * augment.h - random image transformations, as Keras' ImageDataGenerator offers.
 *
 * Each is off at its zero value.  A transformation is drawn from a caller-given
 * seed, so a (seed, epoch, index) triple always gives the same image.
 */
#ifndef CATDOG_DATA_AUGMENT_H
#define CATDOG_DATA_AUGMENT_H

#include "core/error.h"
#include "image/image.h"

typedef struct augment_opts {
    int horizontal_flip;       /* 1 = flip half the images */
    float rotation_range;      /* degrees, uniform in [-r, r] */
    float width_shift_range;   /* fraction of width */
    float height_shift_range;  /* fraction of height */
    float zoom_range;          /* scale in [1-z, 1+z] */
    float shear_range;         /* degrees */
    float brightness_range;    /* factor in [1-b, 1+b] */
    float crop_area;           /* random resized crop: a region of [a, 1] of the area, aspect
                                * ratio (width / height) log-uniform in [3/4, 4/3], resized
                                * back to the whole image (Inception's / torchvision's
                                * RandomResizedCrop); 0 = off */
    float contrast_range;      /* factor in [1-c, 1+c], PIL ImageEnhance.Contrast */
    float saturation_range;    /* factor in [1-s, 1+s], PIL ImageEnhance.Color */
    float hue_range;           /* hue turned by [-h, h] of a full turn, in YIQ */
} augment_opts;

/* 1 when every transformation is off. */
int augment_is_identity(const augment_opts *o);

/* Parses "flip,rotate=20,shift=0.1,zoom=0.2,shear=10,brightness=0.2" (or
 * "none"/"default") into o.  Returns 0 or -1 with a message naming the bad item.
 * Items apply left to right: "none" clears, "default" sets Keras' classic
 * cats-vs-dogs example (flip, rotate=40, shift=0.2, zoom=0.2, shear=11.5), so
 * "default,brightness=0.2" adds to it.  Keys: flip (or hflip, flip=0|1),
 * rotate=DEG [0,180], shift=F (both), wshift=F, hshift=F [0,1), zoom=F [0,1),
 * shear=DEG [0,90), brightness=F [0,1], crop=A (0,1) (the smallest area kept),
 * contrast=F [0,1], saturation=F [0,1], hue=F [0,0.5].  o is unchanged on error. */
int augment_parse(const char *spec, augment_opts *o, cd_err *err);

/* Applies a random transformation drawn from `seed` to src (size w x h) into dst
 * of the same size (nearest-edge fill, bilinear sampling).  dst is caller-owned
 * and must be allocated w*h*3.  Same as augment_draw + augment_apply_params. */
void augment_apply(const augment_opts *o, unsigned long long seed, const image *src, image *dst);

/* The drawn parameters of one transformation, with Keras' names and meanings
 * (ImageDataGenerator.get_random_transform / apply_transform):
 *   theta  rotation in degrees;  tx, ty  shifts in pixels along rows (height)
 *   and columns (width);  shear  in degrees;  zx, zy  zoom along rows and
 *   columns (Keras samples input = zoom * output about the centre, so >1
 *   zooms out, showing more of the photo with its edges repeated);
 *   flip  1 = mirror left-right;  brightness  factor on the pixel values;
 *   crop_h, crop_w  the random resized crop's region in source pixels (0 =
 *   none), at rows crop_y .. crop_y + crop_h and columns crop_x .. crop_x +
 *   crop_w;  contrast, saturation  factors (1 = unchanged);  hue  turn in
 *   fractions of a full turn (0 = unchanged).
 * Added to the contract so tests can pin the geometry to Keras' formulas. */
typedef struct augment_params {
    double theta, tx, ty, shear, zx, zy;
    int flip;
    double brightness;
    double crop_y, crop_x, crop_h, crop_w;
    double contrast, saturation, hue;
} augment_params;

/* Draws the parameters for an image of w x h from seed.  Every parameter is
 * drawn in a fixed order whether or not its transformation is on, so switching
 * one transformation on or off never changes the others' values. */
void augment_draw(const augment_opts *o, unsigned long long seed, int w, int h, augment_params *p);

/* Applies p as Keras does: one affine map (rotation, then shift, shear, zoom,
 * about the centre Keras uses, h/2+0.5 and w/2+0.5), bilinear sampling with
 * edge pixels repeated ('nearest' fill), then the flip, then brightness
 * (multiply and clip to 0..255, as PIL's ImageEnhance.Brightness).  A map that
 * is the identity copies pixels exactly.  dst as for augment_apply.
 * The random resized crop is part of the same map, applied first: Keras'
 * transform works on the crop stretched to the whole image, whose pixel
 * centres map to source positions crop_y + (r + 0.5) crop_h / h - 0.5 (and
 * the same for columns).  After brightness, the colour jitter, each rounded
 * to 0..255: contrast blends every value v with the mean grey m of the image
 * (PIL's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, its mean rounded):
 * m + f (v - m); saturation blends with the pixel's own L: L + f (v - L); hue
 * turns (I, Q) of YIQ by 2 pi hue, keeping Y (greys stay grey). */
void augment_apply_params(const augment_params *p, const image *src, image *dst);

#endif
