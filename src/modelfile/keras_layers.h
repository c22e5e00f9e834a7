/*
 * keras_layers.h - internal to modelfile/: the Keras description of each
 * layer kind, one place per kind (keras_layers.c).
 *
 * The engine knows a kind's computation (engine/op_<kind>.c); this room knows
 * how Keras spells it in a model config: the class names that read as the
 * kind, the config keys read into the layer, and the config written back.
 * keras_json_read.c and keras_json_write.c handle the model structure
 * (Sequential, functional, nested) and call these for each layer.
 */
#ifndef CATDOG_MODELFILE_KERAS_LAYERS_H
#define CATDOG_MODELFILE_KERAS_LAYERS_H

#include <jansson.h>

#include "core/error.h"
#include "engine/layer.h"

/* Where a config is read from, for messages: "<src>: layer '<name>': <what>". */
typedef struct keras_rd {
    const char *src;
    cd_err *err;
    int keras3;       /* the config is Keras 3's: "hard_sigmoid" is relu6(x + 3) / 6 */
} keras_rd;

/* One Keras class that reads as a layer kind. */
typedef struct keras_reader {
    const char *class_name;
    layer_kind kind;
    int multi_input;  /* takes several inputs (others take exactly one) */
    /* Reads cfg into l (kind, inputs and trainable are already set); NULL when
     * the class has no configuration catdog uses.  -1 with rd->err filled. */
    int (*read)(const keras_rd *rd, json_t *cfg, const char *name, layer *l);
} keras_reader;

/* The reader of Keras class `cls`, or NULL when catdog does not support it. */
const keras_reader *keras_reader_find(const char *cls);

/* 1 when Keras class `cls` is the identity at inference (augmentation and
 * noise layers): the reader leaves it out of the graph, so a model exported
 * again lacks it (it would change nothing catdog computes but training). */
int keras_inference_identity(const char *cls);

/* Adds l's kind-specific keys to its config object c (name, trainable and
 * dtype are already there).  Sets *oom on an allocation failure. */
void keras_layer_write(json_t *c, const layer *l, int *oom);

/* Keras' class for l: its kind's, except for an Activation whose function
 * Keras spells as a layer of its own (LeakyReLU, ELU, ReLU). */
const char *keras_layer_class(const layer *l);

/* Why l cannot be written in a Keras 2 config (a function no Keras 2 name
 * stands for: Keras 3's hard_sigmoid, gelu's tanh form, an ELU or leaky
 * slope other than the string's default fused into a Conv2D/Dense), or NULL. */
const char *keras_layer_unwritable(const layer *l);

/* 1 when a parsed config is Keras 3's (an InputLayer with batch_shape, a
 * DTypePolicy object, or keras_version 3.x at its root). */
int keras_config_is_keras3(json_t *root);

/* Small readers of a JSON config shared with keras_json_read.c: a string
 * member or NULL; an integer as an int (-1 when an int cannot hold it, which
 * every caller refuses); a boolean member or def. */
const char *keras_jstr(json_t *obj, const char *key);
int keras_jint(json_t *v);
int keras_jbool(json_t *obj, const char *key, int def);

/* An error naming the source and the layer: "<src>: layer '<name>': <fmt % arg>". */
int keras_rd_bad(const keras_rd *rd, cd_code code, const char *layer_name, const char *fmt,
                 const char *arg);

#endif
