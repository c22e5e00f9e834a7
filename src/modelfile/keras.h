/*
 * keras.h - Keras model files: load, save, and weights-only import.
 *
 * keras_load* also read Keras 3 `.keras` archives (zip: config.json,
 * metadata.json, model.weights.h5), recognised by their zip signature;
 * keras_save_keras writes one.  Files that are no Keras model get a message
 * naming what they are (another zip, a PyTorch checkpoint, a TensorFlow.js
 * model.json, a SavedModel folder) and what catdog reads.
 *
 * Whole-model files are what Keras 2.x `model.save()` writes:
 *   root attrs   model_config (JSON), keras_version, backend, [training_config]
 *   /model_weights  attr layer_names; per layer a group with attr weight_names
 *                   naming datasets ("conv2d_1/kernel:0", ...)
 *   [/optimizer_weights]  optimizer state (written by the trainer, see train/)
 * catdog adds root attribute `catdog_preprocess` ("rescale" | "caffe" | "none")
 * and, when known, `catdog_arch` and `catdog_test_accuracy`; Keras ignores them.
 *
 * Weights-only files (`save_weights`): root attr layer_names, per-layer groups
 * with weight_names.  They load onto an architecture built from a JSON config or
 * a built-in definition (arch.h), matching layers by name and weights by order.
 *
 * Every failure fills err with one line naming the file and the problem: not
 * HDF5, not a Keras model, truncated, unsupported layer class (named), weight
 * of the wrong shape (layer, expected, found), missing weights, an input size
 * the architecture cannot take.
 *
 * libhdf5 prints its error stack by default; these functions switch that off
 * (H5Eset_auto2, a libhdf5 setting) and fold HDF5's message into err instead.
 * A serial libhdf5 is not thread-safe: do not call keras_* from several threads
 * at once.  The trainer's hook for adding training_config / optimizer_weights
 * to a saved file is keras_save_ex() in modelfile/keras_h5.h.
 */
#ifndef CATDOG_MODELFILE_KERAS_H
#define CATDOG_MODELFILE_KERAS_H

#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"

/* Loads a whole-model file.  The result has had model_infer_shapes called.
 * Preprocessing: the file's catdog_preprocess, else a default by architecture
 * (caffe for VGG16/SqueezeNet-like, rescale otherwise).  Caller frees. */
model *keras_load(const char *path, cd_err *err);

/* keras_load with the input's height and width set to img_size x img_size
 * (img_size 0: as in the file).  Needed for files that leave the input size
 * open (None), as Keras' VGG16(include_top=False) does; for other files a size
 * the layers cannot take fails with a message naming the layer. */
model *keras_load_sized(const char *path, int img_size, cd_err *err);

/* The same from an in-memory file image (the model embedded in the program).
 * `name` is used in messages in place of a path. */
model *keras_load_memory(const void *buf, size_t len, const char *name, cd_err *err);

/* Builds a model from a Keras JSON config (model.to_json(), or the root
 * model_config attribute).  Parameters are zero; shapes inferred; arch and
 * preprocessing set by recognising the architecture, as keras_load does. */
model *keras_from_json(const char *json, const char *source_name, cd_err *err);

/* Loads weights-only file `path` onto m (by layer name, weights by order; a
 * whole-model file's model_weights are accepted too; a Keras 3 .weights.h5 is
 * matched by its class+counter groups, see keras_zip.c).  Layers of the file that
 * m lacks are ignored; every parameter of m must be found, with its shape. */
int keras_load_weights(model *m, const char *path, cd_err *err);

/* keras_load_weights for m built from config_json (keras_from_json): a Keras 3
 * weights file is matched by walking that config, as Keras does. */
int keras_load_weights_json(model *m, const char *config_json, const char *path, cd_err *err);

/* The int8 calibration of m as the JSON text of the "catdog_int8" attribute
 * (malloc'd; NULL with err on OOM).  Only for m->quant.int8.  (A transfer
 * head file carries its composed model's in "catdog_transfer_int8", see
 * transfer/transfer_model.h.) */
char *keras_quant_json(const model *m, cd_err *err);
/* Reads a "catdog_int8" text onto m (layers by name).  On error m keeps no
 * calibration and err names the file (`what`) and the layer. */
int keras_quant_read(model *m, const char *text, const char *what, cd_err *err);

/* Writes m as a Keras 2 whole-model file that Keras and h5py can read back. */
int keras_save(const model *m, const char *path, cd_err *err);

/* Writes m as a Keras 3 .keras archive (zip: config.json, metadata.json,
 * model.weights.h5 in Keras 3's class+counter layout; see keras_zip.c), via a
 * temporary file renamed over `path`. */
int keras_save_keras(const model *m, const char *path, cd_err *err);

#endif
