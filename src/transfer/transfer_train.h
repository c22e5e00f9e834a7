/*
 * transfer_train.h - `catdog train --arch transfer`: a pretrained, frozen
 * backbone, its features computed once and cached, and a small head trained on
 * the cache.
 *
 * transfer_train takes the same train_opts as the training loop (train/train.h:
 * data_dir, out_path, img_size, epochs, batch, optimizer, seed, threads,
 * early stopping, schedule, backend, stop flag, progress callback) plus
 * transfer_opts, and:
 *   1. checks the data folders and that the output can be written;
 *   2. loads the backbone with verified weights (transfer_weights.h);
 *   3. gets the features of train/, validation/ and test/ (when present) from
 *      the disk cache (transfer_opts.cache_dir) or by running the backbone once
 *      per image and variant (transfer_features.h): train/ gets the flipped
 *      variant too when the augmentation asks for horizontal_flip (each epoch
 *      then picks one variant per image at random), test/ always (test-time
 *      augmentation is reported next to the plain result);
 *   4. trains the head (transfer_head.h) on the cached features with the given
 *      optimizer, per epoch validation loss/accuracy, the best weights by
 *      validation loss kept, history CSV + SVG written next to out_path as the
 *      training loop does (<out>.history.csv, <out>.svg), same progress events;
 *   5. saves the shipped head-only file at out_path (transfer_model.h) with the
 *      test accuracy, and evaluates on test/.
 *   6. with fine_tune = N > 0, after the head: the last N backbone blocks and
 *      the head train on together from the photos (transfer_finetune.h: the
 *      frozen front's output for each photo and its mirror cached in
 *      cache_dir, or the front run each step without one),
 *      fine_tune_epochs epochs at fine_tune_lr (constant or cosine), kept
 *      only when the monitored metric improves on the head's (with the
 *      cache, test/ is then evaluated from one as well: photo and mirror);
 *      test is then evaluated from the photos, and the shipped file holds
 *      the fine-tuned blocks too.
 * Other augmentations than a horizontal flip cannot be cached exactly and are
 * refused.
 */
#ifndef CATDOG_TRANSFER_TRANSFER_TRAIN_H
#define CATDOG_TRANSFER_TRANSFER_TRAIN_H

#include "core/error.h"
#include "train/train.h"
#include "transfer/transfer_actcache.h"
#include "transfer/transfer_features.h"
#include "transfer/transfer_head.h"

typedef struct transfer_opts {
    const char *backbone;          /* "squeezenet" (default) or "vgg16" */
    const char *weights_path;      /* explicit weights file, or NULL to search */
    transfer_head_spec head;       /* default transfer_head_default() */
    int fine_tune;                 /* last backbone blocks to fine-tune after the head; 0 = none */
    int fine_tune_epochs;          /* default 3 */
    float fine_tune_lr;            /* default 1e-4 (the optimizer of train_opts) */
    train_schedule fine_tune_schedule;  /* constant (default) or cosine over phase 2's epochs */
    int fine_tune_warmup;          /* cosine: phase 2's linear warm-up epochs (default 0) */
    /* With cache_dir: phase 2 caches the frozen front's output there
     * (transfer_actcache.h) and trains the tail from it (default 1); 0 runs
     * the front every step. */
    int fine_tune_cache;
    transfer_actcache_precision fine_tune_cache_precision;  /* default f32 (exact) */
    const char *cache_dir;         /* folder for feature caches, or NULL (memory only) */
    int extract_batch;             /* images per backbone forward pass (default 32) */
    transfer_stage_fn extract_progress;  /* may be NULL: "train"/"validation"/"test" progress */
    void *extract_ctx;
} transfer_opts;

void transfer_opts_defaults(transfer_opts *t);

typedef struct transfer_result {
    train_result train;            /* as train_run fills it (test_* plain, no TTA) */
    double test_accuracy_tta;      /* with the flipped image averaged in (NaN without test/) */
    double test_auc_tta;
    double extract_seconds;        /* wall time of feature extraction (0 when all cached) */
    size_t extracted_images;       /* backbone forward passes run (images x variants) */
    double head_seconds;           /* wall time of head training */
    double finetune_seconds;       /* wall time of fine-tuning (0 without) */
    double finetune_cache_seconds; /* of that, building or opening its activation cache */
    size_t finetune_cache_built;   /* front passes run for it (0: reused or none) */
    double finetune_epoch_seconds; /* mean wall time of a fine-tuning epoch */
    int finetune_best_epoch;       /* 0: fine-tuning did not beat the head alone (or none) */
    size_t feature_size;           /* floats the head takes per image */
} transfer_result;

/* Runs the above.  Returns 0 (also when interrupted: res->train.interrupted)
 * or -1 with err filled. */
int transfer_train(const train_opts *o, const transfer_opts *t, transfer_result *res, cd_err *err);

#endif
