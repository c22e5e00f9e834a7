/*
 * history.h - the per-epoch training record, as CSV and as an SVG chart.
 *
 * One row per epoch: loss and accuracy on the training split (running means
 * over the epoch, as Keras reports them), validation loss and accuracy at the
 * epoch's end, the learning rate used, and the epoch's wall time.  The CSV
 * (header `epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds`, epochs from
 * 1) is what Keras' CSVLogger writes plus lr and seconds; the SVG shows two
 * panels (loss, accuracy), training and validation curves in each, readable in
 * any browser with no script.
 */
#ifndef CATDOG_TRAIN_HISTORY_H
#define CATDOG_TRAIN_HISTORY_H

#include "core/error.h"

typedef struct history_row {
    int epoch;          /* 1-based */
    double loss, accuracy;
    double val_loss, val_accuracy;
    double lr;
    double seconds;
} history_row;

typedef struct history {
    history_row *rows;  /* owned */
    int n, cap;
} history;

/* An empty history (no allocation until the first append). */
void history_init(history *h);
void history_free(history *h);   /* frees rows; h may be reused after history_init */

int history_append(history *h, const history_row *row, cd_err *err);

/* Keeps only rows with epoch <= max_epoch (resuming a run that went further). */
void history_truncate(history *h, int max_epoch);

/* Writes all rows to path (replacing it). */
int history_write_csv(const history *h, const char *path, cd_err *err);

/* Appends the rows of a CSV written by history_write_csv to h.  A missing file
 * is CD_ERR_NOTFOUND; a malformed line is CD_ERR_FORMAT naming the line. */
int history_read_csv(history *h, const char *path, cd_err *err);

/* Writes the loss/accuracy chart; `title` is shown at the top (escaped). */
int history_write_svg(const history *h, const char *path, const char *title, cd_err *err);

#endif
