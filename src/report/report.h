/*
 * report.h - `catdog evaluate --report FILE.html`: one self-contained HTML page
 * (inline CSS, inline SVG charts, thumbnails as data: URIs; no outside link of
 * any kind) that shows how one or more models did on a labelled folder:
 *
 *   - a summary table (photos, accuracy, ROC AUC, average precision, ECE, log loss);
 *   - ROC and precision-recall curves, one line per model, overlaid;
 *   - the reliability diagram (fraction of dogs against mean P(dog) per bin) with ECE;
 *   - the confusion matrices, side by side;
 *   - accuracy by the original photo's size and by its orientation;
 *   - each model's most confident mistakes as thumbnails with P(dog) and file name.
 *
 * The caller (the evaluate command) classifies the photos; this module only
 * computes (report/stats.h), draws (report/svg.h) and writes.  The mistakes'
 * thumbnails are made here from the photo files (decoded again, shrunk, JPEG
 * by libjpeg, base64).  Every text that comes from outside (file and model
 * names, settings) is HTML-escaped.
 */
#ifndef CATDOG_REPORT_REPORT_H
#define CATDOG_REPORT_REPORT_H

#include <stddef.h>

#include "core/error.h"

/* One classified photo. */
typedef struct report_photo {
    const char *path;   /* borrowed: the file, read again for a mistake's thumbnail */
    const char *name;   /* borrowed: shown (e.g. the path under the data folder) */
    int label;          /* the truth: 0 = cat, 1 = dog */
    float p_dog;        /* the model's P(dog); predicted dog when >= 0.5 */
    int width, height;  /* the original photo's size (after EXIF orientation, before resizing) */
} report_photo;

/* One model's results over the folder.  All borrowed. */
typedef struct report_model {
    const char *name;          /* e.g. the model file */
    const char *settings;      /* one line: architecture, input size, preprocessing, precision, TTA */
    const report_photo *photos;
    size_t n;
    size_t unreadable;         /* photos that could not be decoded (not in photos) */
} report_model;

#define REPORT_MAX_MODELS 4

typedef struct report_opts {
    const char *title;          /* NULL = "catdog evaluation" */
    const char *data_dir;       /* shown in the heading; may be NULL */
    int max_mistakes;           /* thumbnails per model; 0 = 24 */
    int thumb_size;             /* a thumbnail's longer side in px; 0 = 128 */
    int thumb_quality;          /* JPEG quality 1..100; 0 = 70 */
} report_opts;

/* Writes the page for n_models (1..REPORT_MAX_MODELS) models to path
 * atomically (core/fileio.h).  A mistake whose photo can no longer be read
 * is shown without its thumbnail.  Returns 0, or -1 with err naming the
 * problem (CD_ERR_INVALID for no model or no photo, CD_ERR_IO, CD_ERR_NOMEM). */
int report_write_html(const char *path, const report_model *models, int n_models, const report_opts *opts,
                      cd_err *err);

/* The HTML <img> source for one photo: "data:image/jpeg;base64,..." of the
 * photo shrunk so its longer side is at most `size` px (never enlarged),
 * JPEG at `quality`.  *out is malloc'd (caller frees).  Returns 0 or -1. */
int report_thumbnail_uri(const char *path, int size, int quality, char **out, cd_err *err);

#endif
