/*
 * split.h - `catdog split`: turns a folder of labelled photos into the
 * train / validation / test layout the dataset iterator reads.
 *
 * Two source layouts are accepted:
 *   flat (Kaggle's train/):  SOURCE/cat.0.jpg, SOURCE/dog.17.jpg, ...  The class is
 *       the part of the name before the first '.', and the name must have a
 *       second '.' (so "cat.jpg" carries no label and is ignored).  Class folders
 *       are named by appending 's' ("cat" -> "cats", "dog" -> "dogs"; a label
 *       already ending in 's' is kept as is).
 *   foldered:  SOURCE/<class>/<image> for any class names, kept as they are.
 * A source with image files directly inside is flat (its subfolders are then
 * ignored); otherwise each non-hidden subfolder is a class.  Images are
 * recognised by extension (.jpg .jpeg .png .webp, any case); other files are
 * ignored and counted.
 *
 * The split is stratified and deterministic: each class's names are sorted
 * (byte order), shuffled by a generator seeded from (seed, class name), and the
 * first round(n*test) go to test/, the next round(n*val) to validation/, the
 * rest to train/.  Changing --val therefore never changes the test set.
 *
 * DEST receives DEST/{train,validation,test}/<class>/<original file name>, as
 * symbolic links with absolute targets (default) or as copies.  A non-empty
 * DEST is refused unless opts.force; with force only DEST/train, DEST/validation
 * and DEST/test are removed (recursively, links not followed) before writing,
 * anything else in DEST is left alone.  SOURCE and DEST may not contain each
 * other.  On a failure midway DEST holds a partial split; rerun with force.
 */
#ifndef CATDOG_DATA_SPLIT_H
#define CATDOG_DATA_SPLIT_H

#include <stddef.h>

#include "core/error.h"

#define SPLIT_MAX_CLASSES 16 /* as DATASET_MAX_CLASSES: a split the iterator can read */
#define SPLIT_NAME_MAX 256

typedef enum split_mode {
    SPLIT_LINK = 0, /* symbolic links to the absolute source paths */
    SPLIT_COPY      /* byte copies */
} split_mode;

typedef enum split_layout {
    SPLIT_LAYOUT_FLAT = 0, /* Kaggle: <label>.<n>.<ext> in one folder */
    SPLIT_LAYOUT_FOLDERS   /* one subfolder per class */
} split_layout;

/* The three parts, in the order of split_report.counts. */
enum { SPLIT_TRAIN = 0, SPLIT_VALIDATION, SPLIT_TEST, SPLIT_PARTS };

/* "train", "validation", "test". */
const char *split_part_name(int part);

typedef struct split_opts {
    double val;             /* fraction of each class for validation/, in [0, 1) */
    double test;            /* fraction for test/, in [0, 1); val + test < 1 */
    unsigned long long seed;
    split_mode mode;
    int force;              /* 1 = replace DEST's train/validation/test */
} split_opts;

/* Defaults: val 0.15, test 0.15, seed 42, links, no force. */
void split_opts_default(split_opts *o);

typedef struct split_report {
    split_layout layout;
    int n_classes;
    char class_names[SPLIT_MAX_CLASSES][SPLIT_NAME_MAX]; /* destination folder names, sorted */
    size_t counts[SPLIT_PARTS][SPLIT_MAX_CLASSES];       /* files written per part and class */
    size_t ignored;         /* files in SOURCE that were not used (no image extension, no label) */
    char source_abs[4096];  /* SOURCE resolved (the link targets' folder) */
} split_report;

/* Splits source into dest as described above; fills *report (may be NULL).
 * Returns 0 or -1 with a message naming the file or folder at fault.  Errors:
 * missing SOURCE (CD_ERR_NOTFOUND), no images or a class too small to leave a
 * training image, bad fractions, non-empty DEST without force, overlapping
 * SOURCE/DEST (CD_ERR_INVALID), file system failures (CD_ERR_IO). */
int split_run(const char *source, const char *dest, const split_opts *opts, split_report *report,
              cd_err *err);

#endif
