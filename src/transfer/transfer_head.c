/*
 * transfer_head.c - head specs (parse, format), building the head onto a
 * backbone or onto the cached-feature input, and moving weights between
 * models by layer name (see transfer_head.h).
 */
#include "transfer/transfer_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void transfer_head_default(transfer_head_spec *h)
{
    memset(h, 0, sizeof *h);
    h->pool = TRANSFER_POOL_GAP;
    h->n_dense = 1;
    h->units[0] = 256;
    h->dropout = 0.5f;
}

static const char *pool_name(transfer_pool p)
{
    switch (p) {
    case TRANSFER_POOL_GAP: return "gap";
    case TRANSFER_POOL_GMP: return "gmp";
    case TRANSFER_POOL_GAPGMP: return "gapgmp";
    case TRANSFER_POOL_FLATTEN: return "flatten";
    }
    return "?";
}

static int parse_rate(const char *item, const char *val, float *out, cd_err *err)
{
    char *end;
    double r = strtod(val, &end);
    if (end == val || *end || r < 0.0 || r >= 1.0)
        return cd_err_set(err, CD_ERR_INVALID, "head item '%s': the rate must be in [0, 1)", item);
    *out = (float)r;
    return 0;
}

int transfer_head_parse(const char *spec, transfer_head_spec *out, cd_err *err)
{
    if (!spec || !*spec)
        return cd_err_set(err, CD_ERR_INVALID, "empty head spec (e.g. gap,dense=256,dropout=0.5)");
    char buf[512];
    if (strlen(spec) >= sizeof buf)
        return cd_err_set(err, CD_ERR_INVALID, "head spec too long");
    snprintf(buf, sizeof buf, "%s", spec);
    transfer_head_spec h;
    memset(&h, 0, sizeof h);
    int have_pool = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            transfer_pool p;
            if (strcmp(item, "gap") == 0) p = TRANSFER_POOL_GAP;
            else if (strcmp(item, "gmp") == 0) p = TRANSFER_POOL_GMP;
            else if (strcmp(item, "gapgmp") == 0) p = TRANSFER_POOL_GAPGMP;
            else if (strcmp(item, "flatten") == 0) p = TRANSFER_POOL_FLATTEN;
            else
                return cd_err_set(err, CD_ERR_INVALID,
                                  "head item '%s' unknown (pooling: gap, gmp, gapgmp, flatten; "
                                  "then dense=N, dropout=R, input-dropout=R)",
                                  item);
            if (have_pool)
                return cd_err_set(err, CD_ERR_INVALID, "head spec '%s' names two poolings", spec);
            h.pool = p;
            have_pool = 1;
            continue;
        }
        *eq = 0;
        const char *val = eq + 1;
        if (strcmp(item, "dense") == 0) {
            char *end;
            long u = strtol(val, &end, 10);
            if (end == val || *end || u < 1 || u > 65536)
                return cd_err_set(err, CD_ERR_INVALID, "head item 'dense=%s': units must be 1..65536",
                                  val);
            if (h.n_dense >= TRANSFER_HEAD_MAX_DENSE)
                return cd_err_set(err, CD_ERR_INVALID, "head spec: at most %d dense layers",
                                  TRANSFER_HEAD_MAX_DENSE);
            h.units[h.n_dense++] = (int)u;
        } else if (strcmp(item, "dropout") == 0) {
            if (parse_rate("dropout", val, &h.dropout, err) != 0)
                return -1;
        } else if (strcmp(item, "input-dropout") == 0) {
            if (parse_rate("input-dropout", val, &h.input_dropout, err) != 0)
                return -1;
        } else {
            return cd_err_set(err, CD_ERR_INVALID,
                              "head item '%s=%s' unknown (dense=N, dropout=R, input-dropout=R)", item,
                              val);
        }
    }
    if (!have_pool)
        return cd_err_set(err, CD_ERR_INVALID,
                          "head spec '%s' names no pooling (gap, gmp, gapgmp or flatten)", spec);
    *out = h;
    return 0;
}

void transfer_head_format(const transfer_head_spec *h, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "%s", pool_name(h->pool));
    if (h->input_dropout > 0 && off < n)
        off += (size_t)snprintf(buf + off, n - off, ",input-dropout=%g", (double)h->input_dropout);
    for (int i = 0; i < h->n_dense && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, ",dense=%d", h->units[i]);
    if (h->n_dense > 0 && h->dropout > 0 && off < n)
        snprintf(buf + off, n - off, ",dropout=%g", (double)h->dropout);
}

size_t transfer_head_feature_size(const transfer_head_spec *h, int map_h, int map_w, int map_c)
{
    switch (h->pool) {
    case TRANSFER_POOL_GAP:
    case TRANSFER_POOL_GMP:
        return (size_t)map_c;
    case TRANSFER_POOL_GAPGMP:
        return 2 * (size_t)map_c;
    case TRANSFER_POOL_FLATTEN:
        return (size_t)map_h * map_w * map_c;
    }
    return 0;
}

/* Adds one single-input layer; returns its index or -1. */
static int add1(model *m, layer_kind kind, const char *name, int input, cd_err *err)
{
    layer l = layer_template(kind, name, input);
    return model_add(m, &l, err);
}

static int add_dropout(model *m, const char *name, int input, float rate, cd_err *err)
{
    layer l = layer_template(LAYER_DROPOUT, name, input);
    l.rate = rate;
    return model_add(m, &l, err);
}

/* The Dense/Dropout part after the pooled vector `prev`. */
static int append_dense(model *m, int prev, const transfer_head_spec *h, cd_err *err)
{
    if (prev >= 0 && h->input_dropout > 0)
        prev = add_dropout(m, "head_dropout_in", prev, h->input_dropout, err);
    for (int i = 0; i < h->n_dense && prev >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "head_dense_%d", i + 1);
        layer d = layer_template(LAYER_DENSE, name, prev);
        d.units = h->units[i];
        d.act = ACT_RELU;
        prev = model_add(m, &d, err);
        if (prev >= 0 && h->dropout > 0) {
            snprintf(name, sizeof name, "head_dropout_%d", i + 1);
            prev = add_dropout(m, name, prev, h->dropout, err);
        }
    }
    if (prev < 0)
        return -1;
    layer o = layer_template(LAYER_DENSE, "head_output", prev);
    o.units = 1;
    o.act = ACT_SIGMOID;
    return model_add(m, &o, err);
}

int transfer_head_append(model *m, int from, const transfer_head_spec *h, cd_err *err)
{
    int prev = -1;
    switch (h->pool) {
    case TRANSFER_POOL_GAP:
        prev = add1(m, LAYER_GLOBAL_AVGPOOL2D, "head_gap", from, err);
        break;
    case TRANSFER_POOL_GMP:
        prev = add1(m, LAYER_GLOBAL_MAXPOOL2D, "head_gmp", from, err);
        break;
    case TRANSFER_POOL_GAPGMP: {
        int a = add1(m, LAYER_GLOBAL_AVGPOOL2D, "head_gap", from, err);
        int b = a < 0 ? -1 : add1(m, LAYER_GLOBAL_MAXPOOL2D, "head_gmp", from, err);
        if (b < 0)
            return -1;
        layer c = layer_template(LAYER_CONCAT, "head_concat", a);
        c.inputs[1] = b;
        c.n_inputs = 2;
        prev = model_add(m, &c, err);
        break;
    }
    case TRANSFER_POOL_FLATTEN:
        prev = add1(m, LAYER_FLATTEN, "head_flatten", from, err);
        break;
    }
    return prev < 0 ? -1 : append_dense(m, prev, h, err);
}

model *transfer_head_training_model(const transfer_head_spec *h, size_t feature_size,
                                    unsigned long long seed, cd_err *err)
{
    if (feature_size == 0 || feature_size > (1u << 30)) {
        cd_err_set(err, CD_ERR_INVALID, "head: feature size %zu out of range", feature_size);
        return NULL;
    }
    model *m = model_new("transfer_head", err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "transfer");
    layer in = layer_template(LAYER_INPUT, "head_input", -1);
    in.in_h = in.in_w = 1;
    in.in_c = (int)feature_size;
    int prev = model_add(m, &in, err);
    if (prev >= 0)
        prev = add1(m, LAYER_FLATTEN, "head_features", prev, err);
    if (prev < 0 || append_dense(m, prev, h, err) < 0 || model_infer_shapes(m, err) != 0) {
        model_free(m);
        return NULL;
    }
    model_init_params(m, seed);
    return m;
}

int transfer_copy_params(model *dst, const model *src, cd_err *err)
{
    for (int i = 0; i < src->n_layers; i++) {
        const layer *s = &src->layers[i];
        if (s->n_params == 0)
            continue;
        int j = model_find(dst, s->name);
        if (j < 0)
            return cd_err_set(err, CD_ERR_NOTFOUND, "layer '%s' of model '%s' is missing in '%s'",
                              s->name, src->name, dst->name);
        layer *d = &dst->layers[j];
        if (d->n_params != s->n_params)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %d parameters, expected %d", s->name,
                              s->n_params, d->n_params);
        for (int k = 0; k < s->n_params; k++) {
            if (!d->params[k] || !tensor_same_shape(d->params[k], s->params[k])) {
                char a[64], b[64] = "(none)";
                tensor_shape_str(s->params[k]->rank, s->params[k]->dims, a, sizeof a);
                if (d->params[k])
                    tensor_shape_str(d->params[k]->rank, d->params[k]->dims, b, sizeof b);
                return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': parameter %d has shape %s, expected %s",
                                  s->name, k, a, b);
            }
            memcpy(d->params[k]->data, s->params[k]->data, s->params[k]->size * sizeof(float));
        }
    }
    return 0;
}
