/*
 * keras_json_write.c - the Keras 2.2.4 model_config of a model.
 *
 * The form chosen is the simplest Keras would build the same network from:
 *   - Sequential {"name", "layers"} when the top-level items (keras_items.c)
 *     form a chain; the first layer carries batch_input_shape (an explicit
 *     InputLayer when the input's name is not Keras' implicit one), or the
 *     first item is a nested model holding the input (the seed's model);
 *   - otherwise a functional Model with inbound_nodes, input_layers and
 *     output_layers.
 * Nested models (scopes) are written as functional Models; one that does not
 * hold the model input gets an InputLayer of its own whose shape is that of the
 * layer feeding it.  As Keras does, a reference to a nested model's output uses
 * node index 1 (node 0 is the model's own internal call).
 * Every layer config carries the fields Keras 2.2.4's from_config expects;
 * the fields of each kind are written by its row in keras_layers.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras_internal.h"
#include "modelfile/keras_layers.h"

/* Builds JSON with jansson; every json_*_new may return NULL on OOM, and the
 * setters accept NULL values by failing, which we detect once at the end via
 * a sticky flag rather than at every call. */
typedef struct writer {
    const model *m;
    int oom;
} writer;

static json_t *jset(writer *w, json_t *obj, const char *key, json_t *val)
{
    if (!obj || !val || json_object_set_new(obj, key, val) != 0)
        w->oom = 1;
    return obj;
}

static void jappend(writer *w, json_t *arr, json_t *val)
{
    if (!arr || !val || json_array_append_new(arr, val) != 0)
        w->oom = 1;
}

static json_t *batch_shape(const layer *l)
{
    if (l->kind == LAYER_INPUT)
        return json_pack("[n, i, i, i]", l->in_h, l->in_w, l->in_c);
    if (l->out_rank == 2)
        return json_pack("[n, i]", l->out_c);
    return json_pack("[n, i, i, i]", l->out_h, l->out_w, l->out_c);
}

static json_t *input_config(writer *w, const char *name, json_t *shape)
{
    json_t *c = json_object();
    jset(w, c, "batch_input_shape", shape);
    jset(w, c, "dtype", json_string("float32"));
    jset(w, c, "sparse", json_false());
    jset(w, c, "name", json_string(name));
    return c;
}

/* The "config" object of one layer.  in_shape, when not NULL, is added as
 * batch_input_shape (first layer of a Sequential). */
static json_t *layer_config(writer *w, const layer *l, json_t *in_shape)
{
    if (l->kind == LAYER_INPUT)
        return input_config(w, l->name, batch_shape(l));
    json_t *c = json_object();
    jset(w, c, "name", json_string(l->name));
    jset(w, c, "trainable", json_boolean(l->trainable));
    if (in_shape)
        jset(w, c, "batch_input_shape", in_shape);
    jset(w, c, "dtype", json_string("float32"));
    keras_layer_write(c, l, &w->oom);
    return c;
}

static json_t *layer_entry(writer *w, const layer *l, json_t *in_shape)
{
    json_t *e = json_object();
    jset(w, e, "class_name", json_string(keras_layer_class(l)));
    jset(w, e, "config", layer_config(w, l, in_shape));
    return e;
}

/* Name by which a layer's output is referenced at the top level: the nested
 * model's name for a scoped layer (node 1), else its own (node 0). */
static json_t *top_ref(writer *w, int idx, int with_kwargs)
{
    const layer *l = &w->m->layers[idx];
    const char *name = l->scope[0] ? l->scope : l->name;
    int node = l->scope[0] ? 1 : 0;
    return with_kwargs ? json_pack("[s, i, i, {}]", name, node, 0)
                       : json_pack("[s, i, i]", name, node, 0);
}

/* 1 when `name` is a layer's or a nested model's name: both share Keras'
 * namespace in a functional config. */
static int name_taken(const model *m, const char *name)
{
    if (model_find(m, name) >= 0)
        return 1;
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].scope, name) == 0)
            return 1;
    return 0;
}

/* A name for a synthesized InputLayer, used by no layer and no nested model.
 * A long base is cut to leave room for the suffix: cut by snprintf instead,
 * "<95-char scope>_input" would come out as the scope's own name. */
static void fresh_input_name(const model *m, const char *base, char *buf, size_t size)
{
    int keep = (int)size - 1 - (int)sizeof "_input_2147483647";
    snprintf(buf, size, "%.*s_input", keep, base);
    for (int k = 2; name_taken(m, buf); k++)
        snprintf(buf, size, "%.*s_input_%d", keep, base, k);
}

/* A scoped item as a functional Model ({"class_name", "config"}; the caller
 * adds "name"/"inbound_nodes" when it sits in a functional model). */
static json_t *nested_entry(writer *w, const keras_item *it)
{
    const model *m = w->m;
    const char *scope = m->layers[it->first].scope;
    char in_name[LAYER_NAME_MAX];
    json_t *layers = json_array();
    if (it->feeder >= 0) {
        fresh_input_name(m, scope, in_name, sizeof in_name);
        json_t *e = json_object();
        jset(w, e, "name", json_string(in_name));
        jset(w, e, "class_name", json_string("InputLayer"));
        jset(w, e, "config", input_config(w, in_name, batch_shape(&m->layers[it->feeder])));
        jset(w, e, "inbound_nodes", json_array());
        jappend(w, layers, e);
    } else {
        snprintf(in_name, sizeof in_name, "%s", m->layers[it->first].name);
    }
    for (int i = it->first; i <= it->last; i++) {
        const layer *l = &m->layers[i];
        json_t *e = layer_entry(w, l, NULL);
        jset(w, e, "name", json_string(l->name));
        json_t *node = json_array();
        for (int j = 0; j < l->n_inputs; j++) {
            int src = l->inputs[j];
            const char *sname = src < it->first ? in_name : m->layers[src].name;
            jappend(w, node, json_pack("[s, i, i, {}]", sname, 0, 0));
        }
        jset(w, e, "inbound_nodes", l->n_inputs ? json_pack("[o]", node) : json_array());
        if (!l->n_inputs)
            json_decref(node);
        jappend(w, layers, e);
    }
    json_t *cfg = json_object();
    jset(w, cfg, "name", json_string(scope));
    jset(w, cfg, "layers", layers);
    jset(w, cfg, "input_layers", json_pack("[[s, i, i]]", in_name, 0, 0));
    jset(w, cfg, "output_layers", json_pack("[[s, i, i]]", m->layers[it->output].name, 0, 0));
    return json_pack("{s:s, s:o}", "class_name", "Model", "config", cfg);
}

static json_t *sequential_config(writer *w, const keras_item *items, int n)
{
    const model *m = w->m;
    json_t *layers = json_array();
    int start = 0;
    json_t *in_shape = NULL;
    if (!items[0].scoped) {
        /* Keras 2.2.4 style: the input becomes batch_input_shape on the first
         * layer, and Keras names it "<first layer>_input" when reading.  An
         * input with another name is written as an explicit InputLayer. */
        const layer *in = &m->layers[items[0].first];
        char implicit[LAYER_NAME_MAX + 8] = "";
        if (!items[1].scoped)
            snprintf(implicit, sizeof implicit, "%s_input", m->layers[items[1].first].name);
        start = 1;
        if (strcmp(in->name, implicit) == 0)
            in_shape = batch_shape(in);
        else
            jappend(w, layers, layer_entry(w, in, NULL));
    }
    for (int k = start; k < n; k++) {
        if (items[k].scoped) {
            jappend(w, layers, nested_entry(w, &items[k]));
        } else {
            jappend(w, layers, layer_entry(w, &m->layers[items[k].first], in_shape));
            in_shape = NULL;
        }
    }
    json_decref(in_shape);
    json_t *cfg = json_object();
    jset(w, cfg, "name", json_string(m->name));
    jset(w, cfg, "layers", layers);
    return json_pack("{s:s, s:o}", "class_name", "Sequential", "config", cfg);
}

static json_t *functional_config(writer *w, const keras_item *items, int n)
{
    const model *m = w->m;
    json_t *layers = json_array();
    char in_name[LAYER_NAME_MAX];
    if (items[0].scoped) {
        /* The nested model holds the input: the outer model needs its own. */
        fresh_input_name(m, m->layers[items[0].first].scope, in_name, sizeof in_name);
        json_t *e = json_object();
        jset(w, e, "name", json_string(in_name));
        jset(w, e, "class_name", json_string("InputLayer"));
        jset(w, e, "config", input_config(w, in_name, batch_shape(&m->layers[items[0].first])));
        jset(w, e, "inbound_nodes", json_array());
        jappend(w, layers, e);
    } else {
        snprintf(in_name, sizeof in_name, "%s", m->layers[items[0].first].name);
    }
    for (int k = 0; k < n; k++) {
        const keras_item *it = &items[k];
        json_t *e;
        json_t *node = json_array();
        if (it->scoped) {
            e = nested_entry(w, it);
            jset(w, e, "name", json_string(m->layers[it->first].scope));
            if (it->feeder >= 0)
                jappend(w, node, top_ref(w, it->feeder, 1));
            else
                jappend(w, node, json_pack("[s, i, i, {}]", in_name, 0, 0));
        } else {
            const layer *l = &m->layers[it->first];
            e = layer_entry(w, l, NULL);
            jset(w, e, "name", json_string(l->name));
            for (int j = 0; j < l->n_inputs; j++)
                jappend(w, node, top_ref(w, l->inputs[j], 1));
        }
        if (json_array_size(node) > 0) {
            jset(w, e, "inbound_nodes", json_pack("[o]", node));
        } else {
            json_decref(node);
            jset(w, e, "inbound_nodes", json_array());
        }
        jappend(w, layers, e);
    }
    json_t *cfg = json_object();
    jset(w, cfg, "name", json_string(m->name));
    jset(w, cfg, "layers", layers);
    jset(w, cfg, "input_layers", json_pack("[[s, i, i]]", in_name, 0, 0));
    jset(w, cfg, "output_layers", json_pack("[o]", top_ref(w, model_output_index(m), 0)));
    return json_pack("{s:s, s:o}", "class_name", "Model", "config", cfg);
}

char *keras_json_config(const model *m, cd_err *err)
{
    keras_item *items;
    int n;
    if (m->n_layers == 0 || m->layers[0].kind != LAYER_INPUT) {
        cd_err_set(err, CD_ERR_INVALID, "model '%s' has no input layer", m->name);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const char *why = keras_layer_unwritable(&m->layers[i]);
        if (why) {
            cd_err_set(err, CD_ERR_UNSUPPORTED,
                       "layer '%s': %s has no Keras 2 name, and catdog writes Keras 2 model "
                       "configs (also in .keras files)",
                       m->layers[i].name, why);
            return NULL;
        }
    }
    if (keras_items(m, &items, &n, err) != 0)
        return NULL;
    writer w = {m, 0};
    json_t *root = keras_items_sequential(m, items, n) ? sequential_config(&w, items, n)
                                                       : functional_config(&w, items, n);
    free(items);
    jset(&w, root, "keras_version", json_string("2.2.4"));
    jset(&w, root, "backend", json_string("tensorflow"));
    char *s = (!w.oom && root) ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s)
        cd_err_set(err, CD_ERR_NOMEM, "out of memory writing the model config");
    return s;
}
