/*
 * dataset.h - labelled image folders and the batch iterator that feeds training.
 *
 * A dataset folder holds one subfolder per class, taken in alphabetical order as
 * Keras' flow_from_directory does (cats = 0, dogs = 1).  The iterator shuffles
 * each epoch from a seed, yields batches of N (the last partial batch kept), and
 * decodes, resizes and augments in worker threads ahead of the consumer, with an
 * optional in-memory cache of decoded, resized images so later epochs decode
 * nothing.  Unreadable images are skipped, counted and listed, never fatal.
 */
#ifndef CATDOG_DATA_DATASET_H
#define CATDOG_DATA_DATASET_H

#include <stddef.h>

#include "core/error.h"
#include "core/preprocess.h"
#include "data/augment.h"

#define DATASET_MAX_CLASSES 16

typedef struct dataset {
    int n_classes;
    char *class_names[DATASET_MAX_CLASSES];  /* owned, alphabetical */
    size_t n;                                 /* number of files */
    char **paths;                             /* owned, n entries */
    int *labels;                              /* owned, n entries */
} dataset;

/* Scans DIR/<class>/ for image files (by extension .jpg/.jpeg/.png/.webp, any
 * case).  Errors: DIR missing, no class folders, an empty class folder (named). */
dataset *dataset_open(const char *dir, cd_err *err);
void dataset_free(dataset *d);

/* Appends other's files (copied) after d's, for training on two folders as
 * one (`train --final`: train/ + validation/).  Both must have the same class
 * folders.  0, or -1 (d unchanged). */
int dataset_append(dataset *d, const dataset *other, cd_err *err);

typedef struct dataset_iter_opts {
    int batch;              /* samples per batch */
    int img_size;           /* square output size */
    cd_preprocess preprocess;
    int shuffle;            /* 1 = new order each epoch */
    unsigned long long seed;
    int workers;            /* decoding threads; 0 = cores.  Batches are prepared up
                               to workers + 2 ahead of the consumer */
    int cache;              /* 1 = keep decoded, resized images in memory
                               (n * S * S * 3 bytes, reserved up front, filled in
                               epoch 0; a failed file is not retried) */
    const augment_opts *augment;  /* NULL = no augmentation; copied by dataset_iter_new */
    /* Data parallelism (train/engine.h): with shard_count > 1 batch b holds
     * only this rank's slice of the epoch's samples [b*N, (b+1)*N), namely
     * [b*N + m*r/c, b*N + m*(r+1)/c) with m the batch's nominal size, r the
     * rank and c the count, and only those images are ever read.  A slice with
     * nothing readable (or nothing at all: a small last batch) is delivered
     * with *n = 0 rather than skipped, so every rank sees the same number of
     * batches.  0 or 1: the whole batch. */
    int shard_rank, shard_count;
    /* With shard_count > 1: 1 = this rank's contiguous run of whole batches
     * instead of a slice of each: of the nb = ceil(n / batch) batches an
     * unsharded iterator delivers, batches [nb*r/c, nb*(r+1)/c), each exactly
     * as that iterator makes it (a batch with nothing readable skipped), so the
     * ranks' runs, in rank order, are one process's epoch (distributed
     * evaluation: every photo in the batch one process would use).  A rank may
     * get no batch at all. */
    int shard_whole_batches;
} dataset_iter_opts;

typedef struct dataset_iter dataset_iter;

/* Starts iterating over d (borrowed; must outlive the iterator). */
dataset_iter *dataset_iter_new(const dataset *d, const dataset_iter_opts *opts, cd_err *err);
void dataset_iter_free(dataset_iter *it);

/* Batches in one epoch: ceil(n / batch) (under shard_whole_batches the
 * rank's run of them).  An upper bound when files are
 * unreadable (a batch whose every image fails is skipped). */
size_t dataset_iter_batches(const dataset_iter *it);

/* Starts epoch `epoch` (0-based; shuffle order and augmentation derive from seed+epoch). */
int dataset_iter_begin_epoch(dataset_iter *it, int epoch, cd_err *err);

/* What an iterator's epoch is made of, for a source that replays it from
 * something other than the photos (transfer/'s cache of a frozen front's
 * output): the epoch's sample order (n entries: the identity, or shuffled
 * from (seed, epoch) when shuffle is set) and the seed of sample idx's
 * augmentation (augment_apply, augment_draw).  Batch b of the epoch is
 * order[b*N .. (b+1)*N) minus the unreadable samples, as dataset_iter_next
 * says.  dataset_iter uses these very functions. */
void dataset_epoch_order(unsigned long long seed, int shuffle, int epoch, size_t *order, size_t n);
unsigned long long dataset_sample_seed(unsigned long long seed, int epoch, size_t idx);

/* Next batch of the epoch: x receives n x S x S x 3 floats, y n labels (as float).
 * *n is set to the batch's size; returns 1 for a batch, 0 at the end of the
 * epoch, -1 on error.  x and y are borrowed, valid until the next call; until
 * then the batch's slot is the caller's, which may change x's values in place
 * (the trainer's mixup / cutmix, train/engine.h).
 * Batch b holds the epoch's samples [b*N, (b+1)*N) minus the unreadable ones:
 * a bad image shrinks its batch (nothing is substituted), so batches stay a
 * pure function of (seed, epoch) whatever the worker count or timing, and the
 * same with or without the cache.  Only allocation failures return -1. */
int dataset_iter_next(dataset_iter *it, const float **x, const float **y, int *n, cd_err *err);

/* Images that could not be read in the batches delivered so far, each listed
 * once however many epochs met it (paths borrowed from the dataset). */
size_t dataset_iter_failed(const dataset_iter *it, const char *const **paths);

/* 1 when the iterator delivers one rank's slice of every batch
 * (shard_count > 1, not shard_whole_batches). */
int dataset_iter_sharded(const dataset_iter *it);

#endif
