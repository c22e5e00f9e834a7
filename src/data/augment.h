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
 * "none"/"default") into o.  Returns 0 or -1 with a message naming the bad item. */
int augment_parse(const char *spec, augment_opts *o, cd_err *err);

/* Applies a random transformation drawn from `seed` to src (size w x h) into dst
 * of the same size (nearest-edge fill, bilinear sampling).  dst is caller-owned
 * and must be allocated w*h*3. */
void augment_apply(const augment_opts *o, unsigned long long seed, const image *src, image *dst);

#endif
