/*
 * embedded.h - the shipped default model, built into the program.
 *
 * When models/binary.h5 exists at build time, CMake links its bytes into the
 * program (an .incbin section), so `catdog serve` and `catdog predict` work
 * from any directory with no model file beside them.
 */
#ifndef CATDOG_PREDICT_EMBEDDED_H
#define CATDOG_PREDICT_EMBEDDED_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"

/* The embedded models/binary.h5: sets *buf (static, read-only) and *len and
 * returns 1, or returns 0 when the program was built without one. */
int embedded_model(const void **buf, size_t *len);

/* Loads the default model: `path` when not NULL; else models/binary.h5 in the
 * current directory when present; else the embedded copy.  *source (may be
 * NULL) is set to a static description of where it came from. */
predictor *predictor_load_default(const char *path, const predictor_opts *opts,
                                  const char **source, cd_err *err);

#endif
