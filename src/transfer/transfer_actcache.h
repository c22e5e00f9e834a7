/*
 * transfer_actcache.h - the activation cache of fine-tuning: what a frozen
 * front (the backbone up to the first unfrozen block, transfer_finetune.h)
 * computes for every photo and its mirror image, kept on disk, so that each
 * epoch of fine-tuning runs only the trained tail.
 *
 * Why it is exact: fine-tuning's only augmentation is the horizontal flip,
 * and the front is frozen and runs in inference mode (BatchNormalization on
 * its moving statistics, no dropout), so its output for a photo is one of two
 * fixed maps.  The cache holds both (variant 0 as is, variant 1 mirrored);
 * the source below replays the dataset iterator's epochs from it: the same
 * order, the same batches (unreadable photos left out the same way), the same
 * flip per sample (dataset_epoch_order, dataset_sample_seed, augment_draw).
 * In float32 (the default) the training is the one that runs the front each
 * step, bit for bit on every backbone tested (the front's output for a photo
 * does not depend on its batch); float16 storage halves the file and rounds
 * each value to 11 significant bits, which moves the losses by about 1 %
 * (README: "Fine-tuning from cached activations").
 *
 * The file (one per dataset part and split point): a header with the key,
 * then n x variants x H*W*C values (float16 or float32, photo after photo,
 * variants in turn), then n bytes saying which photos were readable.  The
 * key names everything that decides the content: the decoding and resize
 * rule, the built-in graph's version, the backbone and its weights' SHA-256,
 * the cut layer, the input size, the preprocessing, the map's shape, the
 * variants, the precision and a SHA-256 of the photo list with labels.  A file
 * whose key differs (or that is truncated) is built again; nothing stale is
 * ever read.  It is written to a temporary file, fsynced and renamed into
 * place, and read through mmap (the page cache holds what fits in memory).
 *
 * Disk size: n * variants * H*W*C * (4 or 2) bytes; SqueezeNet 1.1 split
 * before fire6 at 224 (13x13x256), 11,200 photos with mirrors: 3.9 GB in
 * float32, 1.9 GB in float16.
 */
#ifndef CATDOG_TRANSFER_TRANSFER_ACTCACHE_H
#define CATDOG_TRANSFER_TRANSFER_ACTCACHE_H

#include <signal.h>
#include <stddef.h>

#include "core/error.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "train/engine.h"
#include "transfer/transfer_features.h"

#define TRANSFER_ACTCACHE_KEY_MAX 512

typedef enum transfer_actcache_precision {
    TRANSFER_ACTCACHE_F16 = 0,   /* IEEE half, round to nearest even */
    TRANSFER_ACTCACHE_F32 = 1    /* exact (transfer_opts' default) */
} transfer_actcache_precision;

/* "f16" / "f32" both ways; parse: 0, or -1 (CD_ERR_INVALID) for another name. */
const char *transfer_actcache_precision_name(transfer_actcache_precision p);
int transfer_actcache_precision_parse(const char *name, transfer_actcache_precision *out, cd_err *err);

typedef struct transfer_actcache_opts {
    const char *backbone;          /* its name, for the key */
    const char *weights_sha256;    /* the backbone weights' SHA-256 (64 hex digits) */
    const char *cut;               /* the front's last layer (whose output is cached) */
    int variants;                  /* 1 (as is) or 2 (and mirrored) */
    transfer_actcache_precision precision;
    /* building */
    int batch;                     /* photos per front pass (default 32 when 0) */
    runner_backend backend;
    int threads;
    int workers;                   /* decoding threads (dataset_iter_opts.workers) */
    const volatile sig_atomic_t *stop;   /* borrowed, may be NULL: CD_ERR_INTERRUPTED */
    transfer_extract_progress_fn progress;  /* may be NULL; after each batch while building */
    void *progress_ctx;
} transfer_actcache_opts;

typedef struct transfer_actcache transfer_actcache;

/* The key of front's output over d under o (written to key).  0 or -1. */
int transfer_actcache_key(const model *front, const dataset *d, const transfer_actcache_opts *o,
                          char key[TRANSFER_ACTCACHE_KEY_MAX], cd_err *err);

/* The cache of front (input S x S x 3, output H x W x C) over every photo of d
 * (borrowed; the photos are read as dataset_iter reads them): the file at
 * path when its key matches, else built there first (*built = 1; a stale file
 * is replaced).  float16 refuses values beyond its range (+-65504) with a
 * message naming the cut.  NULL with err filled. */
transfer_actcache *transfer_actcache_open(const char *path, const model *front, const dataset *d,
                                          const transfer_actcache_opts *o, int *built, cd_err *err);
void transfer_actcache_free(transfer_actcache *c);

size_t transfer_actcache_n(const transfer_actcache *c);          /* photos (= d->n) */
size_t transfer_actcache_dim(const transfer_actcache *c);        /* H*W*C */
int transfer_actcache_variants(const transfer_actcache *c);
size_t transfer_actcache_failed(const transfer_actcache *c);     /* unreadable photos */
/* 1 when photo idx was readable (it has values), else 0. */
int transfer_actcache_ok(const transfer_actcache *c, size_t idx);
/* Photo idx's variant v as dim floats into dst (idx readable, v < variants). */
void transfer_actcache_read(const transfer_actcache *c, size_t idx, int variant, float *dst);

/* An engine source replaying dataset_iter's epochs over c (see above):
 * batches of `batch` from dataset_epoch_order(seed, shuffle, epoch), labels
 * from d, and per sample the variant `flip` says: TRANSFER_ACTCACHE_AS_IS
 * variant 0; TRANSFER_ACTCACHE_FLIP_RANDOM variant 1 for the samples the
 * flip augmentation mirrors in that epoch, else 0; TRANSFER_ACTCACHE_MIRRORED
 * variant 1 (test-time flip averaging).  The last two need variants == 2.
 * img_size is the photos' size (augment_draw's). */
enum { TRANSFER_ACTCACHE_AS_IS = 0, TRANSFER_ACTCACHE_FLIP_RANDOM = 1, TRANSFER_ACTCACHE_MIRRORED = 2 };

typedef struct transfer_actcache_src {
    const transfer_actcache *c;    /* borrowed */
    const dataset *d;              /* borrowed */
    int batch, shuffle, flip, img_size;
    unsigned long long seed;
    int epoch;
    size_t *order;                 /* owned, n */
    size_t pos;
    float *x, *y;                  /* owned: batch x dim, batch */
} transfer_actcache_src;

int transfer_actcache_source(transfer_actcache_src *s, const transfer_actcache *c, const dataset *d, int batch,
                             unsigned long long seed, int shuffle, int flip, int img_size, engine_source *out,
                             cd_err *err);
void transfer_actcache_source_free(transfer_actcache_src *s);

/* IEEE half conversions (round to nearest even; out-of-range values become
 * infinities), for the cache and its tests. */
unsigned short transfer_f32_to_f16(float f);
float transfer_f16_to_f32(unsigned short h);

#endif
