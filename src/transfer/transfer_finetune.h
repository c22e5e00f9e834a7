/*
 * transfer_finetune.h - internal to transfer/: the second phase of
 * transfer_train, fine-tuning the last blocks of the backbone together with
 * the head once the head has converged on cached features.
 *
 * The composed model is split at the input of the first block to unfreeze
 * (SqueezeNet: Fire modules fire2..fire9, VGG16: blocks block1..block5,
 * MobileNetV2: block_1..block_16, ResNet50: conv2_block1..conv5_block3):
 *   front  backbone layers up to the cut, frozen, run in inference mode;
 *   tail   the unfrozen blocks and the head (transfer_tail), trained.
 * It is a configuration of the training engine (train/engine.h): source the
 * photos (flip-augmented when asked), step the frozen front then the trained
 * tail, so no gradient is ever computed for the frozen part.  With a cache
 * folder the front runs once per photo and mirror image instead
 * (transfer_actcache.h): the source replays the same batches and flips from
 * the cached front outputs and the step is the tail alone, so an epoch costs
 * the tail's forward and backward only (under MPI rank 0 builds the files,
 * every rank reads whole batches from them and the engine takes its slice;
 * each rank validates on all of the cached validation set).  The monitored
 * metric decides the best epoch; when no epoch beats the model as it came in,
 * it is kept.  Phase 2 writes no checkpoint: a resumed transfer run repeats it
 * from phase 1's end, which gives the same weights (same seed).
 */
#ifndef CATDOG_TRANSFER_TRANSFER_FINETUNE_H
#define CATDOG_TRANSFER_TRANSFER_FINETUNE_H

#include <stdio.h>

#include "core/error.h"
#include "data/dataset.h"
#include "engine/model.h"
#include "train/history.h"
#include "train/train.h"
#include "transfer/transfer_actcache.h"
#include "transfer/transfer_features.h"

/* The layer whose output feeds the first of the last `blocks` blocks of a
 * composed model with backbone `backbone` ("squeezenet", "vgg16", "mobilenetv2",
 * "resnet50"); written to
 * cut.  0, or -1 (CD_ERR_INVALID) when blocks is out of range. */
int transfer_finetune_cut(const model *m, const char *backbone, int blocks, char *cut, size_t n,
                          cd_err *err);

typedef struct transfer_finetune_opts {
    const train_opts *o;        /* batch, seed, threads, backend, optimizer kind, stop, progress */
    int blocks;
    int epochs;
    float lr;
    int flip;                   /* horizontal flip augmentation */
    train_schedule schedule;    /* constant or cosine, counted from phase 2's first epoch */
    int warmup_epochs;          /* cosine: linear warm-up epochs */
    /* The front's outputs cached in this folder (made when missing or stale),
     * or NULL: the front runs every step. */
    const char *cache_dir;
    transfer_actcache_precision cache_precision;
    const char *weights_sha256; /* the backbone weights' (part of the cache key) */
    transfer_stage_fn cache_progress;   /* may be NULL */
    void *cache_progress_ctx;
    int epoch_offset;           /* epochs already done (numbering of progress and history) */
    int total_epochs;           /* for progress */
    double start_score;         /* the incoming model's monitored score (train_state.best_score), to beat */
    FILE *log_json;             /* JSON lines (borrowed), or NULL */
} transfer_finetune_opts;

typedef struct transfer_finetune_result {
    int epochs_done;
    int best_epoch;             /* 0 = no epoch beat the incoming model */
    double best_val_loss, best_val_accuracy;
    int interrupted;
    int cached;                 /* 1 when the epochs ran from the activation cache */
    double cache_seconds;       /* wall time building (or opening) it */
    size_t cache_built;         /* front passes run to build it (photos x variants; 0: all reused) */
    double epoch_seconds;       /* mean wall time of an epoch (steps and validation) */
} transfer_finetune_result;

/* Fine-tunes *m (replaced by the fine-tuned model, whose backbone layers after
 * the cut are trainable) and appends a history row per epoch.  0 or -1. */
int transfer_finetune(model **m, const char *backbone, const dataset *train, const dataset *val,
                      const transfer_finetune_opts *fo, history *hist, transfer_finetune_result *res,
                      cd_err *err);

/* What transfer_model_logits gives for composed model m (fine-tuned with
 * fo->blocks blocks), as is and mirrored, from the activation cache of d at
 * m's cut in fo->cache_dir (built when missing or stale, named after part):
 * the frozen front once per photo and mirror, then the tail.  Labels in d's
 * order, unreadable photos left out (*n those given).  0 or -1. */
int transfer_finetune_logits(const model *m, const char *backbone, const dataset *d, const char *part,
                             const transfer_finetune_opts *fo, float *logits, float *flipped, float *labels,
                             size_t *n, cd_err *err);

/* Logits of m on every photo of d, as is and (flipped != NULL) mirrored. */
int transfer_model_logits(const model *m, const dataset *d, const train_opts *o, float *logits,
                          float *flipped, float *labels, size_t *n, cd_err *err);

#endif
