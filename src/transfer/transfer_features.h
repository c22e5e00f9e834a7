/*
 * transfer_features.h - running a frozen backbone once per image and keeping
 * what it computed (the feature cache), so a head trains in seconds.
 *
 * The extractor is the backbone with the head's pooling appended:
 *   gap, gmp, gapgmp  ->  Concatenate(GlobalAveragePooling2D, GlobalMaxPooling2D)
 *                         of the backbone's map (2*C floats per image: the
 *                         average first), so one cache serves all three heads;
 *   flatten           ->  Flatten of the map (H*W*C floats per image).
 * Images are read as the predictor reads them (predict/predictor.h): decoded
 * with IMAGE_DECODE_HINT of the input size, resized (bilinear) to S x S, preprocessed as the
 * backbone wants; variant 1 is the same input flipped horizontally (the only
 * augmentation a cache of frozen features can hold exactly; it is also what
 * test-time augmentation averages).
 *
 * A cache can be saved to and loaded from a file (raw float32 with a small
 * header and a key: the decoding rule, backbone weights' SHA-256, input size,
 * pooling, variants and a SHA-256 of the image list), so a second run on the same data skips
 * extraction.  A file whose key differs is not used (it is recomputed).
 */
#ifndef CATDOG_TRANSFER_TRANSFER_FEATURES_H
#define CATDOG_TRANSFER_TRANSFER_FEATURES_H

#include <signal.h>
#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "transfer/transfer_head.h"

#define TRANSFER_KEY_MAX 256

/* What the built-in backbones compute, in every cache key (1 -> 2:
 * EfficientNetB0's rescaling_1 became Keras' per-channel scales); bump it
 * when a backbone's arithmetic changes, so caches made by the old graph are
 * built again. */
#define TRANSFER_GRAPH_VERSION 2

typedef struct transfer_features {
    size_t n;          /* images (unreadable ones are left out) */
    int variants;      /* 1 (as is) or 2 (as is, flipped) */
    size_t dim;        /* floats per image and variant */
    float *x;          /* owned: n x variants x dim */
    float *y;          /* owned: n labels (0 cat, 1 dog) */
    size_t n_failed;   /* images that could not be read */
} transfer_features;

void transfer_features_free(transfer_features *f);   /* frees x and y; f reusable after */

/* Appends the extractor's pooling to backbone m after its last layer and makes
 * it the output (see above).  0 or -1. */
int transfer_extractor_append(model *m, transfer_pool pool, cd_err *err);

/* Mirrors n inputs of s x s x 3 floats (NHWC) left-right in place. */
void transfer_flip_batch(float *x, int n, int s);

/* For the gap/gmp/gapgmp heads: which part of an extractor vector of `dim`
 * floats the head takes (offset and length).  flatten takes all. */
void transfer_features_slice(transfer_pool pool, size_t dim, size_t *offset, size_t *len);

/* Progress of a part's cache ("train", "validation", "test", or those with
 * the cut for fine-tuning's activations): done of total photos, from_cache =
 * 1 when the file was used as is. */
typedef void (*transfer_stage_fn)(const char *part, size_t done, size_t total, int from_cache,
                                  void *ctx);

typedef void (*transfer_extract_progress_fn)(size_t done, size_t total, void *ctx);

typedef struct transfer_extract_opts {
    int variants;              /* 1 or 2 (with the flipped image) */
    int batch;                 /* images per forward pass (default 32 when 0) */
    runner_backend backend;
    int threads;
    const volatile sig_atomic_t *stop;   /* borrowed, may be NULL: CD_ERR_INTERRUPTED */
    transfer_extract_progress_fn progress;  /* may be NULL; called after each batch */
    void *progress_ctx;
} transfer_extract_opts;

/* Runs extractor over n image files (labels 0/1) into out (zeroed or freed
 * before).  Unreadable images are skipped and counted.  0 or -1. */
int transfer_extract(const model *extractor, const char *const *paths, const int *labels, size_t n,
                     const transfer_extract_opts *o, transfer_features *out, cd_err *err);

/* The cache key for an image list under the given settings (written to key). */
int transfer_features_key(const char *weights_sha256, int img_size, transfer_pool pool,
                          int variants, const char *const *paths, const int *labels, size_t n,
                          char key[TRANSFER_KEY_MAX], cd_err *err);

/* The SHA-256 of an image list with its labels, as 64 hex digits (hex). */
int transfer_list_sha256(const char *const *paths, const int *labels, size_t n, char hex[65], cd_err *err);

/* Writes f with its key to path (via a temporary file renamed into place). */
int transfer_features_save(const transfer_features *f, const char *key, const char *path,
                           cd_err *err);

/* Loads path into f when its key equals key: 1 loaded, 0 absent or stale (f
 * untouched), -1 on a read error. */
int transfer_features_load(transfer_features *f, const char *key, const char *path, cd_err *err);

#endif
