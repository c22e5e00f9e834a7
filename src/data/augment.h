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
} augment_opts;

/* 1 when every transformation is off. */
int augment_is_identity(const augment_opts *o);

/* Parses "flip,rotate=20,shift=0.1,zoom=0.2,shear=10,brightness=0.2" (or
 * "none"/"default") into o.  Returns 0 or -1 with a message naming the bad item.
 * Items apply left to right: "none" clears, "default" sets Keras' classic
 * cats-vs-dogs example (flip, rotate=40, shift=0.2, zoom=0.2, shear=11.5), so
 * "default,brightness=0.2" adds to it.  Keys: flip (or hflip, flip=0|1),
 * rotate=DEG [0,180], shift=F (both), wshift=F, hshift=F [0,1), zoom=F [0,1),
 * shear=DEG [0,90), brightness=F [0,1].  o is unchanged on error. */
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
 *   flip  1 = mirror left-right;  brightness  factor on the pixel values.
 * Added to the contract so tests can pin the geometry to Keras' formulas. */
typedef struct augment_params {
    double theta, tx, ty, shear, zx, zy;
    int flip;
    double brightness;
} augment_params;

/* Draws the parameters for an image of w x h from seed.  Every parameter is
 * drawn in a fixed order whether or not its transformation is on, so switching
 * one transformation on or off never changes the others' values. */
void augment_draw(const augment_opts *o, unsigned long long seed, int w, int h, augment_params *p);

/* Applies p as Keras does: one affine map (rotation, then shift, shear, zoom,
 * about the centre Keras uses, h/2+0.5 and w/2+0.5), bilinear sampling with
 * edge pixels repeated ('nearest' fill), then the flip, then brightness
 * (multiply and clip to 0..255, as PIL's ImageEnhance.Brightness).  A map that
 * is the identity copies pixels exactly.  dst as for augment_apply. */
void augment_apply_params(const augment_params *p, const image *src, image *dst);

#endif
