/*
 * model.c - building a model graph, inferring its shapes, counting and
 * initialising its parameters (see model.h).  The summary printer lives in
 * model_summary.c.
 *
 * Each kind's shape rule (Keras/TensorFlow's) is in its op file (op_*.c);
 * this file walks the graph and applies the checks every layer shares.
 */
#include "engine/model.h"

#include "engine/op.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

model *model_new(const char *name, cd_err *err)
{
    model *m = calloc(1, sizeof *m);
    if (!m) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a model");
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "model");
    snprintf(m->arch, sizeof m->arch, "custom");
    m->output = -1;
    m->preprocess = CD_PRE_NONE;
    m->test_accuracy = -1.0;
    return m;
}

static void layer_free_params(layer *l)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
        tensor_free(l->params[p]);
        l->params[p] = NULL;
    }
    l->n_params = 0;
}

void model_free(model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_layers; i++)
        layer_free_params(&m->layers[i]);
    free(m->layers);
    free(m);
}

layer layer_template(layer_kind kind, const char *name, int input)
{
    layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "%s", name ? name : "");
    l.kind = kind;
    if (input >= 0) {
        l.inputs[0] = input;
        l.n_inputs = 1;
    }
    l.trainable = 1;
    l.use_bias = 1;
    l.strides[0] = l.strides[1] = 1;
    layer_set_act(&l, ACT_LINEAR);
    if ((int)kind >= 0 && kind < LAYER_KIND_COUNT && layer_op_of(kind)->defaults)
        layer_op_of(kind)->defaults(&l);
    return l;
}

int model_add(model *m, const layer *tmpl, cd_err *err)
{
    /* The model owns tmpl's params from here on, also on failure. */
    layer l = *tmpl;
    const char *why = NULL;
    if (!l.name[0])
        why = "has no name";
    else if (model_find(m, l.name) >= 0)
        why = "is not unique";
    else if ((int)l.kind < 0 || l.kind >= LAYER_KIND_COUNT)
        why = "has an unknown kind";
    else if (l.n_inputs < 0 || l.n_inputs > LAYER_MAX_INPUTS)
        why = "has a bad number of inputs";
    else if (l.kind != LAYER_INPUT && l.n_inputs == 0)
        why = "has no input";
    else if (l.n_params < 0 || l.n_params > LAYER_MAX_PARAMS)
        why = "has a bad number of parameters";
    for (int i = 0; !why && i < l.n_inputs; i++)
        if (l.inputs[i] < 0 || l.inputs[i] >= m->n_layers)
            why = "reads a layer that is not before it";
    if (why) {
        cd_err_set(err, CD_ERR_INVALID, "model '%s': layer '%s' %s", m->name, l.name, why);
        layer_free_params(&l);
        return -1;
    }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? m->cap_layers * 2 : 16;
        layer *grown = realloc(m->layers, (size_t)cap * sizeof *grown);
        if (!grown) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory adding layer '%s'", l.name);
            layer_free_params(&l);
            return -1;
        }
        m->layers = grown;
        m->cap_layers = cap;
    }
    m->layers[m->n_layers] = l;
    return m->n_layers++;
}

int model_find(const model *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -1;
}

int model_output_index(const model *m)
{
    if (m->output >= 0 && m->output < m->n_layers)
        return m->output;
    return m->n_layers - 1;
}

/* ---- shape inference ---------------------------------------------------- */

/* One layer's shape and parameters: the checks every kind shares, then its op. */
static int infer_layer(model *m, int idx, size_t *params_left, cd_err *err)
{
    layer *l = &m->layers[idx];
    if ((int)l->kind < 0 || l->kind >= LAYER_KIND_COUNT)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': unknown layer kind %d", l->name,
                          (int)l->kind);
    const layer_op *op = layer_op_of(l->kind);
    if (!(op->flags & OP_MULTI_INPUT) && l->kind != LAYER_INPUT && l->n_inputs != 1)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': %s takes exactly one input", l->name,
                          op->keras_class);
    return op->infer(m, l, params_left, err);
}

int model_infer_shapes(model *m, cd_err *err)
{
    if (!m || m->n_layers == 0 || m->layers[0].kind != LAYER_INPUT)
        return cd_err_set(err, CD_ERR_INVALID, "model '%s': the first layer must be an InputLayer",
                          m ? m->name : "?");
    if (m->output >= m->n_layers)
        return cd_err_set(err, CD_ERR_INVALID, "model '%s': output layer %d does not exist",
                          m->name, m->output);
    size_t params_left = MODEL_MAX_PARAMS;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        for (int j = 0; j < l->n_inputs; j++)
            if (l->inputs[j] < 0 || l->inputs[j] >= i)
                return cd_err_set(err, CD_ERR_INVALID,
                                  "layer '%s': input %d is not an earlier layer", l->name,
                                  l->inputs[j]);
        if (infer_layer(m, i, &params_left, err) != 0)
            return -1;
        /* Every later size (Flatten's units, buffer sizes) is bounded by this. */
        if (layer_out_size(l) > MODEL_MAX_LAYER_VALUES)
            return cd_err_set(err, CD_ERR_LIMIT,
                              "layer '%s': its output %dx%dx%d (%zu values per image) is over the "
                              "limit of %zu",
                              l->name, l->out_h, l->out_w, l->out_c, layer_out_size(l),
                              MODEL_MAX_LAYER_VALUES);
    }
    return 0;
}

void model_input_shape(const model *m, int *h, int *w, int *c)
{
    const layer *in = &m->layers[0];
    if (h) *h = in->in_h;
    if (w) *w = in->in_w;
    if (c) *c = in->in_c;
}

size_t model_output_size(const model *m)
{
    if (!m || m->n_layers == 0)
        return 0;
    return layer_out_size(&m->layers[model_output_index(m)]);
}

void model_param_counts(const model *m, size_t *total, size_t *trainable, size_t *non_trainable)
{
    size_t all = 0, train = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        all += layer_param_count(l);
        if (l->trainable)
            for (int p = 0; p < layer_trainable_params(l) && p < l->n_params; p++)
                train += l->params[p] ? l->params[p]->size : 0;
    }
    if (total) *total = all;
    if (trainable) *trainable = train;
    if (non_trainable) *non_trainable = all - train;
}

/* ---- initialisation ----------------------------------------------------- */

/* splitmix64: tiny, well mixed, and its whole state is one local integer. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) from the top 24 bits (exact in float). */
static float uniform01(uint64_t *s)
{
    return (float)(splitmix64(s) >> 40) * (1.0f / 16777216.0f);
}

void model_init_params(model *m, unsigned long long seed)
{
    uint64_t state = seed;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (layer_op_of(l->kind)->init_params) {
            layer_op_of(l->kind)->init_params(l);
            continue;
        }
        if (!(layer_op_of(l->kind)->flags & OP_GLOROT))
            continue;
        /* every kernel (rank >= 2: SeparableConv2D has two) Glorot, biases zero */
        for (int p = 0; p < l->n_params; p++) {
            tensor *k = l->params[p];
            if (!k)
                continue;
            if (k->rank < 2) {
                memset(k->data, 0, k->size * sizeof(float));
                continue;
            }
            double fan_in, fan_out;
            if (k->rank == 4) { /* HWIO: receptive field times channels */
                double rf = (double)k->dims[0] * k->dims[1];
                fan_in = rf * k->dims[2];
                fan_out = rf * k->dims[3];
            } else {
                fan_in = k->dims[0];
                fan_out = k->rank > 1 ? k->dims[1] : k->dims[0];
            }
            float limit = (float)sqrt(6.0 / (fan_in + fan_out));
            for (size_t j = 0; j < k->size; j++)
                k->data[j] = (2.0f * uniform01(&state) - 1.0f) * limit;
        }
    }
}
