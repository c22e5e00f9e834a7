/*
 * keras_output.c - what a loaded Keras model's output and input mean: the
 * rule that turns its output row into P(dog) and, when the file does not
 * record catdog's preprocessing, the preprocessing to feed it.
 *
 * The output rule comes from the last activation first (sigmoid / softmax:
 * already a probability), then, for a linear last layer, from the loss the
 * owner compiled with (Keras 2 `training_config`, Keras 3 `compile_config`):
 * `from_logits` means logits, a hinge loss means a score read by its sign.
 * A linear layer with no loss recorded is taken as logits, which is what a
 * linear classifier head almost always is; `info` says it was a guess.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "modelfile/keras_internal.h"
#include "modelfile/keras_layers.h"

/* The layer whose activation decides: the output layer, looked through the
 * layers that leave values alone at inference (Dropout, Flatten). */
static const layer *deciding_layer(const model *m)
{
    const layer *l = &m->layers[model_output_index(m)];
    while ((l->kind == LAYER_DROPOUT || l->kind == LAYER_FLATTEN) && l->n_inputs == 1)
        l = &m->layers[l->inputs[0]];
    return l;
}

/* The loss of a training/compile config: its name (class or function) and
 * whether it says from_logits.  0 when there is none. */
static int config_loss(json_t *cfg, const char **name, int *from_logits)
{
    json_t *loss = json_object_get(cfg, "loss");
    /* One output: Keras also writes the loss as a one-entry dict or list. */
    if (json_is_object(loss) && !json_object_get(loss, "class_name") && json_object_size(loss) == 1)
        loss = json_object_iter_value(json_object_iter(loss));
    if (json_is_array(loss) && json_array_size(loss) == 1)
        loss = json_array_get(loss, 0);
    *from_logits = 0;
    if (json_is_string(loss)) {
        *name = json_string_value(loss);
        return 1;
    }
    if (json_is_object(loss)) {
        json_t *c = json_object_get(loss, "config");
        const char *cls = keras_jstr(loss, "class_name");
        const char *nm = json_is_object(c) ? keras_jstr(c, "name") : NULL;
        *name = cls ? cls : nm ? nm : "?";
        *from_logits = json_is_object(c) && json_is_true(json_object_get(c, "from_logits"));
        return 1;
    }
    return 0;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && (s[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

void keras_decide_output(model *m, const char *training_json)
{
    const layer *l = deciding_layer(m);
    if (l->act == ACT_SIGMOID || l->act == ACT_SOFTMAX) {
        m->output_rule = CD_OUT_PROB;
        snprintf(m->output_why, sizeof m->output_why, "last layer '%.40s' ends in %s", l->name,
                 layer_act_name(l->act));
        return;
    }
    json_t *cfg = training_json ? json_loads(training_json, 0, NULL) : NULL;
    const char *loss = NULL;
    int from_logits = 0;
    int known = cfg && config_loss(cfg, &loss, &from_logits);
    if (known && contains_ci(loss, "hinge")) {
        m->output_rule = CD_OUT_HINGE;
        snprintf(m->output_why, sizeof m->output_why, "%s last layer, trained with %.40s: by sign",
                 layer_act_name(l->act), loss);
    } else if (known && from_logits) {
        m->output_rule = CD_OUT_LOGITS;
        snprintf(m->output_why, sizeof m->output_why, "%s last layer, trained with %.40s(from_logits)",
                 layer_act_name(l->act), loss);
    } else {
        m->output_rule = CD_OUT_LOGITS;
        snprintf(m->output_why, sizeof m->output_why, "%s last layer, %s: guessed logits",
                 layer_act_name(l->act), known ? "loss without from_logits" : "no loss recorded");
    }
    json_decref(cfg);
}

void keras_decide_preprocess(model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const char *cls = layer_kind_name(m->layers[i].kind);
        if (strcmp(cls, "Rescaling") == 0 || strcmp(cls, "Normalization") == 0) {
            m->preprocess = CD_PRE_NONE;
            snprintf(m->preprocess_why, sizeof m->preprocess_why,
                     "the model has a %s layer ('%.40s'): raw pixels go in", cls,
                     m->layers[i].name);
            return;
        }
    }
    m->preprocess = keras_default_preprocess(m);
    snprintf(m->preprocess_why, sizeof m->preprocess_why,
             "not recorded in the file; the default for a '%.32s' model", m->arch);
}
