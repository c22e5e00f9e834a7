/*
 * check_model.c - the checks the Keras harnesses (fuzz_keras_h5.c,
 * fuzz_keras_json.c) run on a model a loader accepted.  A loader that says
 * yes promises a usable graph: an input first, every layer reading only
 * earlier layers, shapes inferred, and a config that catdog can write and
 * read back into the same model (what keras_save and the trainer rely on).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"

void fuzz_check_model(const model *m)
{
    FUZZ_CHECK(m != NULL && m->n_layers >= 1 && m->n_layers <= m->cap_layers);
    FUZZ_CHECK(m->layers[0].kind == LAYER_INPUT);
    int out = model_output_index(m);
    FUZZ_CHECK(out >= 0 && out < m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        FUZZ_CHECK(memchr(l->name, 0, sizeof l->name) != NULL);
        FUZZ_CHECK(l->n_inputs >= 0 && l->n_inputs <= LAYER_MAX_INPUTS);
        for (int k = 0; k < l->n_inputs; k++)
            FUZZ_CHECK(l->inputs[k] >= 0 && l->inputs[k] < i);
        FUZZ_CHECK(l->out_h > 0 && l->out_w > 0 && l->out_c > 0);
    }
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    FUZZ_CHECK(total == trainable + frozen);
    FUZZ_CHECK(model_output_size(m) > 0);

    /* Round trip through catdog's own JSON writer. */
    cd_err err;
    char *json = keras_json_config(m, &err);
    if (!json) {
        /* Graphs Keras cannot express (keras_items) are refused with a reason. */
        FUZZ_CHECK(err.code != CD_OK && err.msg[0] != '\0');
        return;
    }
    model *back = keras_from_json(json, "round trip", &err);
    if (!back)
        fprintf(stderr, "round trip refused: %s\n%s\n", err.msg, json);
    FUZZ_CHECK(back != NULL);
    size_t total2, trainable2, frozen2;
    model_param_counts(back, &total2, &trainable2, &frozen2);
    FUZZ_CHECK(back->n_layers == m->n_layers);
    FUZZ_CHECK(total2 == total && trainable2 == trainable && frozen2 == frozen);
    FUZZ_CHECK(model_output_size(back) == model_output_size(m));
    model_free(back);
    free(json);
}
