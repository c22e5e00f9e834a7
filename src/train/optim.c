/*
 * optim.c - SGD, RMSprop and Adam state and updates (see optim.h).
 *
 * The state is a flat list of per-parameter entries; each holds one float
 * array per moment.  Updates run in float like Keras (TensorFlow float32); only
 * Adam's bias-correction factor is computed in double.
 */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct optim_entry {
    int layer, param;
    size_t size;
    const tensor *shape_of;   /* borrowed from the model given to optim_new */
    float *slot[2];           /* owned; slot[1] only for Adam */
} optim_entry;

struct optim {
    optim_opts opts;
    long long iterations;
    optim_entry *entries;
    int n_entries;
    int n_moments;
};

void optim_defaults(optim_kind kind, optim_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->rho = 0.9f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->epsilon = 1e-7f;
    o->lr = kind == OPTIM_SGD ? 0.01f : 0.001f;
}

int optim_kind_parse(const char *name, optim_kind *out)
{
    static const char *names[] = {"sgd", "rmsprop", "adam"};
    for (int i = 0; i < 3; i++)
        if (strcasecmp(name, names[i]) == 0) {
            *out = (optim_kind)i;
            return 0;
        }
    return -1;
}

const char *optim_kind_name(optim_kind kind)
{
    switch (kind) {
    case OPTIM_SGD: return "sgd";
    case OPTIM_RMSPROP: return "rmsprop";
    case OPTIM_ADAM: return "adam";
    }
    return "?";
}

const char *optim_keras_class(optim_kind kind)
{
    switch (kind) {
    case OPTIM_SGD: return "SGD";
    case OPTIM_RMSPROP: return "RMSprop";
    case OPTIM_ADAM: return "Adam";
    }
    return "?";
}

int optim_slots_per_param(optim_kind kind)
{
    return kind == OPTIM_ADAM ? 2 : 1;
}

void optim_update(const optim_opts *o, long long t, float lr, float *p, const float *g, float *s1,
                  float *s2, size_t n, int decay)
{
    const float wd = decay ? o->weight_decay : 0.0f;
    switch (o->kind) {
    case OPTIM_SGD: {
        const float m = o->momentum;
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float v = m * s1[i] - lr * gi;
            s1[i] = v;
            p[i] += o->nesterov ? m * v - lr * gi : v;
        }
        break;
    }
    case OPTIM_RMSPROP: {
        const float rho = o->rho, eps = o->epsilon;
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float a = rho * s1[i] + (1.0f - rho) * gi * gi;
            s1[i] = a;
            p[i] -= lr * gi / (sqrtf(a) + eps);
        }
        break;
    }
    case OPTIM_ADAM: {
        const float b1 = o->beta1, b2 = o->beta2, eps = o->epsilon;
        double td = (double)t;
        float lr_t = (float)(lr * sqrt(1.0 - pow(b2, td)) / (1.0 - pow(b1, td)));
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float m = b1 * s1[i] + (1.0f - b1) * gi;
            float v = b2 * s2[i] + (1.0f - b2) * gi * gi;
            s1[i] = m;
            s2[i] = v;
            p[i] -= lr_t * m / (sqrtf(v) + eps);
        }
        break;
    }
    }
}

optim *optim_new(const model *m, const optim_opts *opts, cd_err *err)
{
    if (opts->kind != OPTIM_SGD && opts->kind != OPTIM_RMSPROP && opts->kind != OPTIM_ADAM) {
        cd_err_set(err, CD_ERR_INVALID, "unknown optimizer kind %d", (int)opts->kind);
        return NULL;
    }
    if (!(opts->lr > 0.0f)) {
        cd_err_set(err, CD_ERR_INVALID, "learning rate must be positive (got %g)", (double)opts->lr);
        return NULL;
    }
    optim *o = calloc(1, sizeof *o);
    if (!o) {
        cd_err_set(err, CD_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    o->opts = *opts;
    o->n_moments = optim_slots_per_param(opts->kind);
    /* Only what Keras trains: BatchNormalization's moving statistics come
     * after its trainable parameters and get no gradient (layer.h). */
    int count = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].trainable)
            for (int k = 0; k < layer_trainable_params(&m->layers[i]); k++)
                count += m->layers[i].params[k] != NULL;
    o->entries = calloc(count ? (size_t)count : 1, sizeof *o->entries);
    if (!o->entries) {
        free(o);
        cd_err_set(err, CD_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!l->trainable)
            continue;
        for (int k = 0; k < layer_trainable_params(l); k++) {
            if (!l->params[k])
                continue;
            optim_entry *e = &o->entries[o->n_entries++];
            e->layer = i;
            e->param = k;
            e->size = l->params[k]->size;
            e->shape_of = l->params[k];
            for (int s = 0; s < o->n_moments; s++) {
                e->slot[s] = calloc(e->size ? e->size : 1, sizeof(float));
                if (!e->slot[s]) {
                    optim_free(o);
                    cd_err_set(err, CD_ERR_NOMEM, "optimizer: out of memory for layer '%s'", l->name);
                    return NULL;
                }
            }
        }
    }
    return o;
}

void optim_free(optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_entries; i++) {
        free(o->entries[i].slot[0]);
        free(o->entries[i].slot[1]);
    }
    free(o->entries);
    free(o);
}

int optim_step(optim *o, model *m, optim_grad_fn grad, const void *ctx, cd_err *err)
{
    long long t = o->iterations + 1;
    for (int i = 0; i < o->n_entries; i++) {
        optim_entry *e = &o->entries[i];
        if (e->layer >= m->n_layers || e->param >= m->layers[e->layer].n_params)
            return cd_err_set(err, CD_ERR_INVALID, "optimizer: model changed since the optimizer was made");
        layer *l = &m->layers[e->layer];
        tensor *p = l->params[e->param];
        const tensor *g = grad(ctx, e->layer, e->param);
        if (!g)
            return cd_err_set(err, CD_ERR_NOTFOUND, "optimizer: no gradient for layer '%s' parameter %d",
                              l->name, e->param);
        if (!p || g->size != p->size || p->size != e->size)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "optimizer: layer '%s' parameter %d has %zu values, gradient %zu",
                              l->name, e->param, p ? p->size : 0, g->size);
        /* Decay kernels of layers that compute (Conv2D, Dense), never biases. */
        optim_update(&o->opts, t, o->opts.lr, p->data, g->data, e->slot[0], e->slot[1], e->size,
                     e->param == 0);
    }
    o->iterations = t;
    return 0;
}

const optim_opts *optim_get_opts(const optim *o) { return &o->opts; }
float optim_lr(const optim *o) { return o->opts.lr; }
void optim_set_lr(optim *o, float lr) { o->opts.lr = lr; }
long long optim_iterations(const optim *o) { return o->iterations; }
void optim_set_iterations(optim *o, long long t) { o->iterations = t; }

size_t optim_n_slots(const optim *o)
{
    return (size_t)o->n_entries * (size_t)o->n_moments;
}

int optim_slot(const optim *o, size_t i, optim_slot_info *out)
{
    if (i >= optim_n_slots(o))
        return -1;
    const optim_entry *e = &o->entries[i % (size_t)o->n_entries];
    out->layer = e->layer;
    out->param = e->param;
    out->moment = (int)(i / (size_t)o->n_entries);
    out->size = e->size;
    out->shape_of = e->shape_of;
    out->data = e->slot[out->moment];
    return 0;
}
