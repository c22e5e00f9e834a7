/*
 * keras_h5.h - internal to modelfile/ (and the trainer): the small HDF5 layer
 * under the Keras loader and saver.
 *
 * Keras files keep their text in attributes that h5py may have written in two
 * ways: fixed-length strings (Keras 2.2.x stores numpy bytes) or variable-length
 * strings (h5py 3 stores Python str), each either scalar or a 1-D array.  An
 * empty list (a layer without weights) arrives as a zero-length float64 array.
 * The readers below accept all of these and hand back plain C strings.
 *
 * HDF5 errors: libhdf5 prints its error stack to stderr by default.  Library
 * code must not print, so keras_h5_quiet() turns that off with
 * H5Eset_auto2(H5E_DEFAULT, NULL, NULL).  That is a setting inside libhdf5 (per
 * thread in a thread-safe build, process-wide otherwise), not state of ours; it
 * is called at every keras_* entry point, is idempotent, and nothing in catdog
 * wants the printed stack back.  keras_h5_errmsg() turns the innermost record of
 * the stack into text for our one-line messages, then clears the stack.
 *
 * Thread safety: a serial libhdf5 build is not thread-safe, so keras_* calls
 * must not run concurrently with each other (load models before starting
 * worker threads; the web server loads at start-up).
 *
 * Trainer hook: keras_save_ex() lets a caller add groups and attributes
 * (training_config, optimizer_weights) to a file keras_save is writing, before
 * it is closed and moved into place.
 */
#ifndef CATDOG_MODELFILE_KERAS_H5_H
#define CATDOG_MODELFILE_KERAS_H5_H

#include <hdf5.h>

#include "core/error.h"
#include "engine/model.h"

/* Turns off libhdf5's printing of its error stack (see above). */
void keras_h5_quiet(void);

/* Copies the most specific message on the HDF5 error stack into buf ("truncated
 * file: eof = 4096, ..."), or "unknown HDF5 error"; clears the stack. */
void keras_h5_errmsg(char *buf, size_t size);

/* Reads string attribute `name` of obj into a malloc'd string (*out, caller
 * frees).  Returns 1 when read, 0 when there is no such attribute, -1 with err
 * filled when it exists but is not one string.  `what` names the file in
 * messages. */
int keras_h5_read_str_attr(hid_t obj, const char *name, char **out, const char *what,
                           cd_err *err);

/* Reads a string-array attribute (fixed or variable length, scalar counts as
 * one element, an empty numeric array as none) into a malloc'd array of
 * malloc'd strings (*out, free with keras_h5_free_strs) and its length.
 * Returns 1 / 0 (absent) / -1 as above.  A list Keras split into chunks
 * (name0, name1, ... when over HDF5's 64 KiB header limit) is joined. */
int keras_h5_read_strs_attr(hid_t obj, const char *name, char ***out, int *n,
                            const char *what, cd_err *err);
void keras_h5_free_strs(char **strs, int n);

/* Reads a numeric scalar attribute as double: 1 / 0 (absent) / -1. */
int keras_h5_read_double_attr(hid_t obj, const char *name, double *out, const char *what,
                              cd_err *err);

/* Writers, in the form Keras 2.2.4 (h5py with numpy bytes) writes them:
 * fixed-length, NUL-padded ASCII strings; a string array of n == 0 is written as
 * an empty float64 array, as h5py does for an empty list.  0 or -1. */
int keras_h5_write_str_attr(hid_t obj, const char *name, const char *value, cd_err *err);
int keras_h5_write_strs_attr(hid_t obj, const char *name, const char *const *values, int n,
                             cd_err *err);
int keras_h5_write_double_attr(hid_t obj, const char *name, double value, cd_err *err);

/* Writes a float32 dataset at `path` below loc (intermediate groups created, as
 * h5py does for names containing '/'); rank 0 (Normalization's count, an
 * integer in Keras) is written as an int64 scalar, rounded.  0 or -1. */
int keras_h5_write_floats(hid_t loc, const char *path, int rank, const int *dims,
                          const float *data, cd_err *err);

/* Writes a 64-bit integer scalar dataset at `path` below loc (Keras keeps an
 * optimizer's iteration count so).  0 or -1. */
int keras_h5_write_int64(hid_t loc, const char *path, long long value, cd_err *err);

/* Creates group `path` below loc (intermediate groups created).  Caller closes
 * it with H5Gclose.  Negative with err filled on failure. */
hid_t keras_h5_create_group(hid_t loc, const char *path, cd_err *err);

/* Called by keras_save_ex with the open file after the model is written. */
typedef int (*keras_save_extra_fn)(hid_t file, void *user, cd_err *err);

/* keras_save plus a callback that may add to the file (extra may be NULL).  The
 * file is written to "<path>.tmp" and renamed over `path` only when everything,
 * the callback included, succeeded, so a crash never leaves half a model. */
int keras_save_ex(const model *m, const char *path, keras_save_extra_fn extra, void *user,
                  cd_err *err);

#endif
