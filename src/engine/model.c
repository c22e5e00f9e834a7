/*
 * model.c - building a model graph, inferring its shapes, counting and
 * initialising its parameters (see model.h).  The summary printer lives in
 * model_summary.c.
 *
 * Shape rules are Keras/TensorFlow's:
 *   Conv2D / pooling, padding 'valid': out = floor((in - k) / s) + 1 (in >= k)
 *                     padding 'same':  out = ceil(in / s)
 *   Flatten, Dense, global pooling give (N, C) vectors (out_rank 2, out_h = out_w = 1).
 *   Concatenate joins channels of inputs with equal H and W.
 */
#include "engine/model.h"

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
    /* Pooling strides default to the pool size (Keras): 0 means "same as pool"
     * and model_infer_shapes resolves it, so a caller that only sets pool gets
     * Keras' behaviour. */
    if (kind == LAYER_MAXPOOL2D || kind == LAYER_AVGPOOL2D) {
        l.strides[0] = l.strides[1] = 0;
    } else {
        l.strides[0] = l.strides[1] = 1;
    }
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

/* Output length of a window op along one axis; -1 when the input is too small. */
/* Output length of a window over `in` (64-bit: a config may give any int). */
static int window_out(int in, int k, int s, layer_pad pad)
{
    if (pad == PAD_SAME)
        return (int)(((long long)in + s - 1) / s);
    if (in < k)
        return -1;
    return (in - k) / s + 1;
}

/* Allocates param p with the expected shape, or checks the one present. */
static int param_ensure(const model *m, layer *l, int p, const char *what, int rank,
                        const int *dims, cd_err *err)
{
    if (!l->params[p]) {
        l->params[p] = tensor_new(rank, dims, err);
        if (!l->params[p])
            return cd_err_wrap(err, "layer '%s': %s", l->name, what);
        return 0;
    }
    tensor want = {.rank = rank};
    for (int i = 0; i < rank; i++)
        want.dims[i] = dims[i];
    if (!tensor_same_shape(l->params[p], &want)) {
        char found[64], expected[64];
        tensor_shape_str(l->params[p]->rank, l->params[p]->dims, found, sizeof found);
        tensor_shape_str(rank, dims, expected, sizeof expected);
        (void)m;
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s has shape %s, expected %s", l->name,
                          what, found, expected);
    }
    return 0;
}

/* Kernel (and bias when use_bias) of Conv2D / Dense.  *left is how many more
 * parameters the model may have (MODEL_MAX_PARAMS); it is checked before
 * allocating and reduced by this layer's count. */
static int params_ensure(const model *m, layer *l, int rank, const int *kdims, int units,
                         size_t *left, cd_err *err)
{
    int want = l->use_bias ? 2 : 1;
    if (!l->use_bias && l->params[1]) {
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': has a bias but use_bias is off",
                          l->name);
    }
    size_t count = l->use_bias ? (size_t)units : 0, kernel = 1;
    for (int i = 0; i < rank; i++) {
        if (kdims[i] > 0 && kernel > MODEL_MAX_PARAMS / (size_t)kdims[i]) {
            kernel = MODEL_MAX_PARAMS + 1;
            break;
        }
        kernel *= kdims[i] > 0 ? (size_t)kdims[i] : 1;
    }
    count += kernel;
    if (count > *left) {
        char shape[64];
        tensor_shape_str(rank, kdims, shape, sizeof shape);
        return cd_err_set(err, CD_ERR_LIMIT,
                          "layer '%s': a kernel of shape %s takes the model over the limit of %zu "
                          "parameters",
                          l->name, shape, MODEL_MAX_PARAMS);
    }
    *left -= count;
    if (param_ensure(m, l, 0, "kernel", rank, kdims, err) != 0)
        return -1;
    if (l->use_bias && param_ensure(m, l, 1, "bias", 1, &units, err) != 0)
        return -1;
    l->n_params = want;
    return 0;
}

static int no_params(layer *l, cd_err *err)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++)
        if (l->params[p])
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': a %s layer has no weights", l->name,
                              layer_kind_name(l->kind));
    l->n_params = 0;
    return 0;
}

static void set_out(layer *l, int h, int w, int c, int rank)
{
    l->out_h = h;
    l->out_w = w;
    l->out_c = c;
    l->out_rank = rank;
}

static int infer_window(const model *m, layer *l, const layer *in, int kh, int kw, cd_err *err)
{
    const char *what = l->kind == LAYER_CONV2D ? "kernel" : "pool";
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s needs a 4-D (N, H, W, C) input",
                          l->name, layer_kind_name(l->kind));
    if (kh <= 0 || kw <= 0 || l->strides[0] <= 0 || l->strides[1] <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad %s %dx%d or strides %dx%d",
                          l->name, what, kh, kw, l->strides[0], l->strides[1]);
    int oh = window_out(in->out_h, kh, l->strides[0], l->padding);
    int ow = window_out(in->out_w, kw, l->strides[1], l->padding);
    if (oh <= 0 || ow <= 0) {
        const layer *first = &m->layers[0];
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': input %dx%d is smaller than the %s %dx%d "
                          "(input size %dx%d too small for this architecture)",
                          l->name, in->out_h, in->out_w, what, kh, kw, first->in_h, first->in_w);
    }
    set_out(l, oh, ow, l->kind == LAYER_CONV2D ? l->filters : in->out_c, 4);
    return 0;
}

static int infer_concat(const model *m, layer *l, cd_err *err)
{
    const layer *a = &m->layers[l->inputs[0]];
    long long c = 0;
    for (int i = 0; i < l->n_inputs; i++) {
        const layer *b = &m->layers[l->inputs[i]];
        if (b->out_rank != a->out_rank || b->out_h != a->out_h || b->out_w != a->out_w)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': inputs '%s' (%dx%d) and '%s' (%dx%d) differ in size",
                              l->name, a->name, a->out_h, a->out_w, b->name, b->out_h,
                              b->out_w);
        c += b->out_c;
    }
    if (c > INT_MAX)
        return cd_err_set(err, CD_ERR_LIMIT, "layer '%s': %lld channels is too many", l->name, c);
    set_out(l, a->out_h, a->out_w, (int)c, a->out_rank);
    return 0;
}

static int infer_layer(model *m, int idx, size_t *params_left, cd_err *err)
{
    layer *l = &m->layers[idx];
    const layer *in = l->n_inputs > 0 ? &m->layers[l->inputs[0]] : NULL;

    if (l->kind != LAYER_CONCAT && l->kind != LAYER_INPUT && l->n_inputs != 1)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': %s takes exactly one input", l->name,
                          layer_kind_name(l->kind));
    switch (l->kind) {
    case LAYER_INPUT:
        if (!in) {
            if (idx != 0)
                return cd_err_set(err, CD_ERR_UNSUPPORTED,
                                  "layer '%s': a second model input is not supported", l->name);
            if (l->in_h <= 0 || l->in_w <= 0 || l->in_c <= 0)
                return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': bad input shape %dx%dx%d",
                                  l->name, l->in_h, l->in_w, l->in_c);
            set_out(l, l->in_h, l->in_w, l->in_c, 4);
        } else {
            /* A nested model's InputLayer inside the flat graph: identity. */
            if (l->n_inputs != 1)
                return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad inputs", l->name);
            if (l->in_h > 0 && (l->in_h != in->out_h || l->in_w != in->out_w ||
                                l->in_c != in->out_c))
                return cd_err_set(err, CD_ERR_SHAPE,
                                  "layer '%s': expects input %dx%dx%d, gets %dx%dx%d", l->name,
                                  l->in_h, l->in_w, l->in_c, in->out_h, in->out_w, in->out_c);
            set_out(l, in->out_h, in->out_w, in->out_c, in->out_rank);
        }
        return no_params(l, err);
    case LAYER_CONV2D: {
        if (l->filters <= 0)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': filters must be positive",
                              l->name);
        if (infer_window(m, l, in, l->kernel[0], l->kernel[1], err) != 0)
            return -1;
        int k[4] = {l->kernel[0], l->kernel[1], in->out_c, l->filters};
        return params_ensure(m, l, 4, k, l->filters, params_left, err);
    }
    case LAYER_MAXPOOL2D:
    case LAYER_AVGPOOL2D:
        if (l->strides[0] == 0 && l->strides[1] == 0) {
            l->strides[0] = l->pool[0];
            l->strides[1] = l->pool[1];
        }
        if (infer_window(m, l, in, l->pool[0], l->pool[1], err) != 0)
            return -1;
        return no_params(l, err);
    case LAYER_GLOBAL_AVGPOOL2D:
    case LAYER_GLOBAL_MAXPOOL2D:
        if (in->out_rank != 4)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s needs a 4-D input", l->name,
                              layer_kind_name(l->kind));
        set_out(l, 1, 1, in->out_c, 2);
        return no_params(l, err);
    case LAYER_FLATTEN:
        set_out(l, 1, 1, (int)layer_out_size(in), 2);
        return no_params(l, err);
    case LAYER_DENSE: {
        if (l->units <= 0)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': units must be positive", l->name);
        if (in->out_rank != 2)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': Dense needs a 2-D input, '%s' gives (None, %d, %d, %d)"
                              " (add a Flatten)",
                              l->name, in->name, in->out_h, in->out_w, in->out_c);
        set_out(l, 1, 1, l->units, 2);
        int k[2] = {in->out_c, l->units};
        return params_ensure(m, l, 2, k, l->units, params_left, err);
    }
    case LAYER_ACTIVATION:
    case LAYER_DROPOUT:
        if (l->kind == LAYER_DROPOUT && (l->rate < 0.0f || l->rate >= 1.0f))
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': dropout rate %g not in [0, 1)",
                              l->name, (double)l->rate);
        set_out(l, in->out_h, in->out_w, in->out_c, in->out_rank);
        return no_params(l, err);
    case LAYER_CONCAT:
        if (infer_concat(m, l, err) != 0)
            return -1;
        return no_params(l, err);
    case LAYER_KIND_COUNT:
        break;
    }
    return cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': unknown layer kind %d", l->name,
                      (int)l->kind);
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
        size_t n = layer_param_count(&m->layers[i]);
        all += n;
        if (m->layers[i].trainable)
            train += n;
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
        if (l->kind != LAYER_CONV2D && l->kind != LAYER_DENSE)
            continue;
        tensor *k = l->n_params > 0 ? l->params[0] : NULL;
        if (k) {
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
        if (l->n_params > 1 && l->params[1])
            memset(l->params[1]->data, 0, l->params[1]->size * sizeof(float));
    }
}
