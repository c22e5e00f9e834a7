/*
 * registry.h - the models the service serves, loaded once at start-up.
 *
 *   binary    models/binary.h5, always: from the models folder, else from the copy
 *             built into the program (the `embedded` hook), else start-up fails.
 *   transfer  models/transfer.h5 when it loads (it is composed with its backbone
 *             weights, found as transfer/transfer_weights.h says); otherwise
 *             `transfer_off` says in one line why it is off.
 *
 * Every model goes through registry_load_one, so a new source (an embedded
 * copy, another folder) plugs in at one place.  The registry is read-only
 * after loading and shared by all threads (each worker makes its own
 * predictor_session).
 */
#ifndef CATDOG_WEB_REGISTRY_H
#define CATDOG_WEB_REGISTRY_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"

#define REGISTRY_MAX 2

/* Returns the bytes of the built-in copy of models/<file> (borrowed, static), or
 * NULL when the program has none.  May be NULL itself. */
typedef const void *(*registry_embedded_fn)(const char *file, size_t *len);

typedef struct registry_model {
    char name[16];            /* "binary", "transfer" */
    char source[512];         /* where it came from: a path or "built-in models/binary.h5" */
    predictor *pred;          /* owned */
    char arch[32];            /* the model's architecture record */
    int input_h, input_w;
    const char *preprocess;   /* "rescale", "caffe", "none" (static string) */
    size_t params;
    double test_accuracy;     /* recorded at training; negative when unknown */
} registry_model;

typedef struct registry {
    registry_model models[REGISTRY_MAX];
    int n;
    int best;                 /* index of the default model: highest recorded test accuracy */
    char transfer_off[600];   /* why the transfer model is not loaded; "" when it is */
} registry;

/* Loads the models from `dir` (see above).  opts applies to every model (threads
 * per session, pixel limit); weights names the transfer model's backbone
 * weights file (NULL: searched for).  NULL with err when binary cannot be loaded. */
registry *registry_load(const char *dir, const predictor_opts *opts, registry_embedded_fn embedded,
                        const char *weights, cd_err *err);
void registry_free(registry *r);

/* Loads one model: `dir`/`file` when the file exists, else the embedded copy of
 * `file` when there is one.  *source receives where it came from. */
predictor *registry_load_one(const char *dir, const char *file, const predictor_opts *opts,
                             registry_embedded_fn embedded, const char *weights, char *source, size_t source_size,
                             cd_err *err);

/* Index of the model called name, or -1. */
int registry_find(const registry *r, const char *name);

#endif
