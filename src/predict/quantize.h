/*
 * quantize.h - post-training int8 calibration (catdog quantize).
 *
 * int8 inference (engine/runner.h, RUNNER_PREC_INT8) needs, for every
 * Conv2D and Dense layer, the range of the values that flow into it; the
 * weights' per-channel symmetric scales follow from the weights and are made
 * at load time.  quantize_calibrate runs the float32 model over photos of a
 * folder, records the largest |input| of each such layer (and whether it goes
 * negative: then s8, else u8), and marks the model as calibrated
 * (model.quant: folder, photo count, date).  Saving the model then writes the
 * calibration with it (modelfile: the catdog_int8 attribute).
 *
 * Which photos: the regular files of the folder and of its subfolders one
 * level down (a split's cats/ and dogs/), sorted by path, `photos` of them
 * evenly spaced over that list -- the same files on every run and machine.
 * Files that do not decode are skipped and do not count.
 */
#ifndef CATDOG_PREDICT_QUANTIZE_H
#define CATDOG_PREDICT_QUANTIZE_H

#include "core/error.h"
#include "predict/predictor.h"

#define QUANTIZE_DEFAULT_PHOTOS 300

typedef struct quantize_opts {
    const char *calib_dir;   /* folder of photos */
    int photos;              /* how many to use; 0 = QUANTIZE_DEFAULT_PHOTOS */
    const char *float_layers; /* comma-separated Conv2D/Dense layers kept float32, or NULL */
} quantize_opts;

typedef struct quantize_report {
    int photos;              /* photos that went through the model */
    int skipped;             /* files that did not decode */
    int int8_layers;         /* layers given a scale */
    int float_layers;        /* Conv2D/Dense layers left float32 */
} quantize_report;

/* Calibrates the predictor's model in place.  The predictor must have been
 * made with precision RUNNER_PREC_F32 (or be uncalibrated) and have no
 * session running; afterwards its model runs int8 by default.  rep may be
 * NULL.  0, or -1 with err filled (a folder without usable photos is an
 * error). */
int quantize_calibrate(predictor *p, const quantize_opts *o, quantize_report *rep, cd_err *err);

#endif
