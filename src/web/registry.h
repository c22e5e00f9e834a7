/*
 * registry.h - the models the service serves, loaded once at start-up.
 *
 *   binary    models/binary.h5 from the models folder.  When that file is
 *             missing, or present but unloadable (truncated, garbage, a folder),
 *             the copy built into the program (the `embedded` hook) is served
 *             instead, and for a broken file a start-up note says which file
 *             failed and why.  With no built-in copy, binary is off.
 *   transfer  models/transfer.h5 when it loads (it is composed with its backbone
 *             weights, found as transfer/transfer_weights.h says).
 * For either, <name>.onnx (an ONNX classifier, e.g. exported by PyTorch) is
 * served when <name>.h5 is absent.
 *
 *   others    every other Keras model file in the folder (*.keras, *.h5; not
 *             *.weights.h5 nor the trainer's *.last.h5 checkpoints), in name
 *             order, served under its file name without the extension, up to
 *             REGISTRY_MAX models in all.
 *
 * A model that cannot be served is listed in `off` with a one-line reason
 * naming the file; the others are served.  Start-up fails only when no model
 * at all can be loaded.
 *
 * Every model goes through one loader (registry.c, load_one), so a new source
 * (an embedded copy, another folder) plugs in at one place.  The registry is read-only
 * after loading and shared by all threads (each worker makes its own
 * predictor_session).
 */
#ifndef CATDOG_WEB_REGISTRY_H
#define CATDOG_WEB_REGISTRY_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"

#define REGISTRY_MAX 8

/* Returns the bytes of the built-in copy of models/<file> (borrowed, static), or
 * NULL when the program has none.  May be NULL itself. */
typedef const void *(*registry_embedded_fn)(const char *file, size_t *len);

typedef struct registry_model {
    char name[48];            /* "binary", "transfer", or another file's name without extension */
    char source[512];         /* where it came from: a path or "built-in models/binary.h5" */
    predictor *pred;          /* owned */
    char arch[32];            /* the model's architecture record */
    int input_h, input_w;
    const char *preprocess;   /* "rescale", "caffe", "none" (static string) */
    size_t params;
    double test_accuracy;     /* recorded at training; negative when unknown */
} registry_model;

typedef struct registry_off {
    char name[48];            /* as registry_model.name */
    char reason[600];         /* why it is not served, naming the file */
} registry_off;

typedef struct registry {
    registry_model models[REGISTRY_MAX];
    int n;
    int best;                 /* index of the default model: highest recorded test accuracy */
    registry_off off[REGISTRY_MAX]; /* the models not served, and why */
    int n_off;
    char notes[REGISTRY_MAX][700]; /* start-up notes, e.g. a broken file replaced by the built-in copy */
    int n_notes;
} registry;

/* Loads the models from `dir` (see above).  opts applies to every model (threads
 * per session, pixel limit); weights names the transfer model's backbone
 * weights file (NULL: searched for).  NULL with err (every model's reason) when
 * no model can be loaded. */
registry *registry_load(const char *dir, const predictor_opts *opts, registry_embedded_fn embedded,
                        const char *weights, cd_err *err);
void registry_free(registry *r);

/* Index of the model called name, or -1. */
int registry_find(const registry *r, const char *name);

/* Why the model called name is not served (borrowed), or NULL when it is
 * served or was never known. */
const char *registry_off_reason(const registry *r, const char *name);

#endif
