/*
 * keras_internal.h - what the files of modelfile/ share and nobody else needs.
 *
 *   keras_json_read.c   Keras JSON config -> flat model graph
 *   keras_json_write.c  flat model graph -> Keras JSON config
 *   keras_items.c       how the flat graph regroups into Keras' top-level layers
 *                       (a layer, or a nested model = all layers of one scope)
 *   keras_weights.c     model_weights groups: read onto a model, write from one
 *   keras_arch.c        recognising an architecture, default preprocessing
 *   keras_frozen.c      a Keras 2.2 file's frozen nested model, from its optimizer state
 *   keras_output.c      the output rule and default preprocessing of a loaded model
 *   keras_load.c        keras_load / keras_load_memory / keras_load_weights
 *   keras_save.c        keras_save / keras_save_ex
 *   keras_quant.c       the int8 calibration attribute (catdog_int8)
 */
#ifndef CATDOG_MODELFILE_KERAS_INTERNAL_H
#define CATDOG_MODELFILE_KERAS_INTERNAL_H

#include <hdf5.h>

#include "core/error.h"
#include "engine/model.h"

/* keras_from_json with an optional square input size (img_size > 0) that
 * replaces the config's input height and width (needed when the file leaves
 * them open, as Keras' VGG16(include_top=False) does).  Shapes are inferred. */
model *keras_json_build(const char *json, const char *source_name, int img_size, cd_err *err);

/* One of Keras' top-level layers of the model being saved: a single layer, or
 * a nested model (every layer sharing one non-empty scope, contiguous). */
typedef struct keras_item {
    int first, last;  /* layer index range, inclusive */
    int scoped;       /* 1: nested model named m->layers[first].scope */
    int output;       /* the layer whose activation leaves the item */
    int feeder;       /* scoped only: the outside layer feeding it, -1 when it holds the input */
} keras_item;

/* Groups m's layers into items (caller frees *items).  Fails for graphs Keras
 * files cannot express here: a scope split in two, a nested model with several
 * outputs or inputs. */
int keras_items(const model *m, keras_item **items, int *n, cd_err *err);

/* 1 when the items form a chain that Keras' Sequential can hold. */
int keras_items_sequential(const model *m, const keras_item *items, int n);

/* The Keras config of m ({"class_name": ..., "config": ...}) as a malloc'd JSON
 * string (caller frees). */
char *keras_json_config(const model *m, cd_err *err);

/* Reads the weights a group lists (its layer_names attribute, each layer's
 * weight_names) onto m, by layer name; a name that is one of m's scopes holds
 * that nested model's weights, matched by the layer named in each weight name.
 * Every parameter m has must be found with its exact shape.  `what` names the
 * file in messages. */
int keras_weights_read(model *m, hid_t group, const char *what, cd_err *err);

/* What catdog reads, for messages about files it does not. */
#define KERAS_ACCEPTS                                                                      \
    "catdog reads Keras models: .keras archives (Keras 3), .h5 model files (Keras 2.1-3), " \
    "and weights-only .h5 files onto an architecture (--config model.json or a built-in)"

/* Loads a Keras 3 .keras archive (keras_zip.c); img_size as keras_load_sized. */
model *keras_zip_load(const char *path, int img_size, cd_err *err);

/* Reads a Keras 3 weights file (root groups layers/<class>[_n]/vars, as
 * model.save_weights("x.weights.h5") writes) onto m, walking config_json (the
 * config m was built from; NULL: catdog's config of m). */
int keras3_weights_read(model *m, hid_t file, const char *config_json, const char *what,
                        cd_err *err);

/* Keras' naming.to_snake_case ("BatchNormalization" -> "batch_normalization"),
 * the stem of a Keras 3 weight group's name. */
void keras_snake_case(const char *cls, char *out, size_t size);

/* 1 when the file starts with a zip signature (PK\3\4 or an empty archive's PK\5\6). */
int keras_is_zip(const char *path);

/* Opens an in-memory HDF5 file image read-only (libhdf5 copies it); -1 with
 * err naming `what` when it is not HDF5 or cannot be opened. */
hid_t keras_open_memory(const void *buf, size_t len, const char *what, cd_err *err);

/* Reads dataset `dname` of group g into parameter k of layer l, checking its
 * shape against the parameter's. */
int keras_weights_read_param(hid_t g, const char *dname, layer *l, int k, const char *what,
                             cd_err *err);

/* Writes m's weights into group in Keras' layout (layer_names, per item a group
 * with weight_names and datasets). */
int keras_weights_write(const model *m, hid_t group, cd_err *err);

/* Sets m->arch from the graph when it is recognisable ("binary", "vgg16",
 * "squeezenet", "mobilenetv2", "resnet50", "efficientnetb0", "transfer" for one of those
 * backbones plus a head; else "custom"). */
void keras_guess_arch(model *m);

/* Marks a nested model frozen when the config says all its layers are
 * trainable but the file's optimizer_weights hold no state for its kernels
 * (Keras 2.2 does not save `model.trainable = False`; see keras_frozen.c). */
void keras_guess_frozen(model *m, hid_t file);

/* The preprocessing m's architecture (keras_guess_arch) expects: caffe for
 * vgg16, squeezenet, resnet50, tf for mobilenetv2, none for efficientnetb0 (it
 * normalizes), a transfer model its
 * backbone's; rescale otherwise. */
cd_preprocess keras_default_preprocess(const model *m);

/* Sets m->output_rule and output_why from the last activation and, for a
 * linear one, the loss of training_json (a Keras 2 training_config or Keras 3
 * compile_config; NULL when the file has none). */
void keras_decide_output(model *m, const char *training_json);

/* Sets m->preprocess and preprocess_why for a file that does not record it:
 * none when the model rescales or normalizes itself, else the architecture's
 * default. */
void keras_decide_preprocess(model *m);


#endif
