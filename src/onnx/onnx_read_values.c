/*
 * onnx_read_values.c - the reader's bookkeeping (see onnx_read.h): errors that
 * name the node, the table of ONNX values, attributes, constant tensors (with
 * their sizes checked before anything is allocated, and external data), and
 * emitting engine layers for a node's output.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_read.h"

/* ---- errors ------------------------------------------------------------- */

static const char *node_label(reader *r, char *buf, size_t n)
{
    if (r->node && r->node->name && r->node->name[0])
        snprintf(buf, n, "%s", r->node->name);
    else
        snprintf(buf, n, "#%zu", r->node_index);
    return buf;
}

/* "node 'conv1' (Conv): <what>" */
int rd_fail(reader *r, cd_code code, const char *what)
{
    char b[LAYER_NAME_MAX];
    return cd_err_set(r->err, code, "node '%s' (%s): %s", node_label(r, b, sizeof b),
                      r->node && r->node->op_type ? r->node->op_type : "?", what);
}

int rd_oom(reader *r)
{
    if (r->scratch.refused)
        return cd_err_set(r->err, CD_ERR_LIMIT,
                          "the graph needs more than %zu bytes of memory, too much for a file its "
                          "size",
                          r->scratch.budget);
    return cd_err_set(r->err, CD_ERR_NOMEM, "out of memory reading the ONNX graph");
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The value called name; created (undefined, no uses) when `create`. */
val *rd_lookup(reader *r, const char *name, int create)
{
    size_t mask = r->table_cap - 1;
    for (size_t k = hash_str(name) & mask;; k = (k + 1) & mask) {
        int idx = r->table[k];
        if (idx == 0) {
            if (!create)
                return NULL;
            if (r->n_vals == r->cap_vals) {
                rd_oom(r);   /* sized up front: more names than counted cannot happen */
                return NULL;
            }
            val *v = &r->vals[r->n_vals++];
            memset(v, 0, sizeof *v);
            v->name = name;
            v->layer = -1;
            r->table[k] = (int)r->n_vals;
            return v;
        }
        if (strcmp(r->vals[idx - 1].name, name) == 0)
            return &r->vals[idx - 1];
    }
}

/* An input of the current node: must exist and be defined by now. */
val *rd_input(reader *r, size_t k)
{
    const Onnx__NodeProto *nd = r->node;
    if (k >= nd->n_input || !nd->input[k][0]) {
        rd_fail(r, CD_ERR_FORMAT, "missing input");
        return NULL;
    }
    val *v = rd_lookup(r, nd->input[k], 0);
    if (!v || !v->defined) {
        char msg[CD_ERR_MSG_MAX / 2];
        snprintf(msg, sizeof msg,
                 "reads '%.60s', which no earlier node, input or initializer makes (the graph "
                 "is cyclic or not topologically sorted)",
                 nd->input[k]);
        rd_fail(r, CD_ERR_FORMAT, msg);
        return NULL;
    }
    return v;
}

/* The current node's output k, to be defined by the caller. */
val *rd_output(reader *r, size_t k)
{
    const Onnx__NodeProto *nd = r->node;
    if (k >= nd->n_output || !nd->output[k][0]) {
        rd_fail(r, CD_ERR_FORMAT, "has no output");
        return NULL;
    }
    val *v = rd_lookup(r, nd->output[k], 1);
    if (!v)
        return NULL;
    if (v->defined) {
        rd_fail(r, CD_ERR_FORMAT, "writes a value an earlier node or initializer already made");
        return NULL;
    }
    return v;
}

const Onnx__AttributeProto *rd_attr(reader *r, const char *name)
{
    for (size_t i = 0; i < r->node->n_attribute; i++)
        if (r->node->attribute[i]->name && strcmp(r->node->attribute[i]->name, name) == 0)
            return r->node->attribute[i];
    return NULL;
}

int64_t rd_attr_i(reader *r, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = rd_attr(r, name);
    return a && a->has_i ? a->i : dflt;
}

float rd_attr_f(reader *r, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = rd_attr(r, name);
    return a && a->has_f ? a->f : dflt;
}

/* Copies up to max ints of attribute name into out; returns how many (0 when absent). */
size_t rd_attr_ints(reader *r, const char *name, int64_t *out, size_t max)
{
    const Onnx__AttributeProto *a = rd_attr(r, name);
    if (!a)
        return 0;
    size_t n = a->n_ints < max ? a->n_ints : max;
    if (n)   /* an empty list has no array (memcpy from NULL is undefined) */
        memcpy(out, a->ints, n * sizeof *out);
    return a->n_ints > max ? max + 1 : n;
}

const char *rd_attr_s(reader *r, const char *name, char *buf, size_t n)
{
    const Onnx__AttributeProto *a = rd_attr(r, name);
    if (!a || !a->has_s)
        return NULL;
    size_t k = a->s.len < n - 1 ? a->s.len : n - 1;
    if (k)
        memcpy(buf, a->s.data, k);
    buf[k] = '\0';
    return buf;
}

static int shape_str(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "(");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < n)
        snprintf(buf + o, n - o, ")");
    return 0;
}

/* Reads the external data of t (data_location EXTERNAL) into the scratch arena. */
static const void *read_external(reader *r, const Onnx__TensorProto *t, size_t bytes)
{
    const char *tn = t->name ? t->name : "";
    const char *where = NULL;
    long long off = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value)
            continue;
        if (strcmp(e->key, "location") == 0)
            where = e->value;
        else if (strcmp(e->key, "offset") == 0)
            off = strtoll(e->value, NULL, 10);
        else if (strcmp(e->key, "length") == 0)
            length = strtoll(e->value, NULL, 10);
    }
    if (!r->dir) {
        cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                   "tensor '%.60s' keeps its data in an external file; load the model from a path",
                   tn);
        return NULL;
    }
    /* The location is relative to the model's folder and must stay inside it. */
    if (!where || !where[0] || where[0] == '/' || strstr(where, "..")) {
        cd_err_set(r->err, CD_ERR_FORMAT, "tensor '%.60s': bad external data location '%.60s'",
                   tn, where ? where : "");
        return NULL;
    }
    if (off < 0 || (length >= 0 && (size_t)length != bytes)) {
        cd_err_set(r->err, CD_ERR_FORMAT,
                   "tensor '%.60s': external data offset %lld / length %lld do not fit its %zu bytes",
                   tn, off, length, bytes);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->dir, where);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cd_err_set(r->err, CD_ERR_NOTFOUND, "tensor '%.60s': external data file %.200s: %s", tn,
                   path, strerror(errno));
        return NULL;
    }
    void *buf = NULL;
    long long size = -1;
    if (fseeko(f, 0, SEEK_END) == 0)
        size = (long long)ftello(f);
    if (size < 0 || (unsigned long long)off + bytes > (unsigned long long)size) {
        cd_err_set(r->err, CD_ERR_FORMAT,
                   "tensor '%.60s': external data file %.200s holds %lld bytes, fewer than offset "
                   "%lld + %zu",
                   tn, path, size, off, bytes);
    } else if (!(buf = onnx_arena_alloc(&r->scratch, bytes ? bytes : 1))) {
        rd_oom(r);
    } else if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(buf, 1, bytes, f) != bytes) {
        cd_err_set(r->err, CD_ERR_IO, "tensor '%.60s': cannot read %.200s", tn, path);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Decodes an initializer or Constant tensor into v (V_CONST), checking that
 * its data holds exactly what its shape says before anything is allocated. */
int rd_decode_tensor(reader *r, const Onnx__TensorProto *t, val *v)
{
    const char *tn = t->name ? t->name : "";
    if (t->n_dims > MAX_RANK)
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED, "tensor '%.60s' has rank %zu (at most %d)", tn,
                          t->n_dims, MAX_RANK);
    size_t n = 1;
    char shp[160];
    shape_str(t->dims, (int)t->n_dims, shp, sizeof shp);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return cd_err_set(r->err, CD_ERR_FORMAT, "tensor '%.60s' has a negative dimension %s",
                              tn, shp);
        if (t->dims[i] > 0 && n > MAX_TENSOR_ELEMS / (size_t)t->dims[i])
            return cd_err_set(r->err, CD_ERR_LIMIT,
                              "tensor '%.60s' has shape %s, over %zu elements", tn, shp,
                              MAX_TENSOR_ELEMS);
        n *= (size_t)t->dims[i];
        v->dims[i] = t->dims[i];
    }
    if (n > MAX_TENSOR_ELEMS)
        return cd_err_set(r->err, CD_ERR_LIMIT, "tensor '%.60s' has shape %s, over %zu elements",
                          tn, shp, MAX_TENSOR_ELEMS);
    v->rank = (int)t->n_dims;
    v->n = n;
    v->kind = V_CONST;
    int type = t->has_data_type ? t->data_type : 0;
    size_t esize;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        esize = sizeof(float), v->is_int = 0;
    else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        esize = sizeof(int64_t), v->is_int = 1;
    else
        return cd_err_set(r->err, CD_ERR_UNSUPPORTED,
                          "tensor '%.60s' has data type %d; only float32 (1) and int64 (7) are read",
                          tn, type);
    const void *data = NULL;
    size_t have;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (!(data = read_external(r, t, n * esize)))
            return -1;
        have = n;
    } else if (t->has_raw_data) {
        data = t->raw_data.data;
        have = t->raw_data.len % esize ? (size_t)-1 : t->raw_data.len / esize;
    } else if (!v->is_int) {
        data = t->float_data;
        have = t->n_float_data;
    } else {
        data = t->int64_data;
        have = t->n_int64_data;
    }
    if (have != n) {
        size_t bytes = t->has_raw_data ? t->raw_data.len : have * esize;
        return cd_err_set(r->err, CD_ERR_FORMAT,
                          "tensor '%.60s' has shape %s (%zu bytes) but its data holds %zu bytes", tn,
                          shp, n * esize, bytes);
    }
    /* protobuf-c copies bytes fields into arena blocks, which are 16-byte aligned. */
    if (n == 0)
        data = NULL;
    if (v->is_int)
        v->i = data;
    else
        v->f = data;
    return 0;
}

/* v as a decoded constant (initializers are decoded on first use). */
val *rd_as_const(reader *r, val *v)
{
    if (v->kind != V_CONST) {
        rd_fail(r, CD_ERR_UNSUPPORTED, "wants a constant (an initializer) where the graph computes a value");
        return NULL;
    }
    if (v->tp) {
        const Onnx__TensorProto *t = v->tp;
        v->tp = NULL;
        if (rd_decode_tensor(r, t, v) != 0)
            return NULL;
    }
    return v;
}

val *rd_const_input(reader *r, size_t k, int want_int)
{
    val *v = rd_input(r, k);
    if (!v || !(v = rd_as_const(r, v)))
        return NULL;
    if (v->is_int != want_int) {
        rd_fail(r, CD_ERR_UNSUPPORTED, want_int ? "wants an int64 constant" : "wants a float32 constant");
        return NULL;
    }
    return v;
}

/* A unique layer name derived from the node. */
void rd_layer_name(reader *r, const char *suffix, char *out)
{
    char base[LAYER_NAME_MAX - 16];
    const char *src = r->node->name && r->node->name[0] ? r->node->name : r->node->op_type;
    size_t k = 0;
    for (; src[k] && k < sizeof base - 1; k++) {
        unsigned char c = (unsigned char)src[k];
        base[k] = isalnum(c) || c == '_' || c == '.' || c == '-' || c == '/' ? (char)c : '_';
    }
    base[k] = '\0';
    snprintf(out, LAYER_NAME_MAX, "%s%s", base, suffix);
    for (int i = 1; model_find(r->m, out) >= 0; i++)
        snprintf(out, LAYER_NAME_MAX, "%s%s_%d", base, suffix, i);
}

/* model_add takes the parameters over, also when it fails. */
int rd_add_layer(reader *r, layer *l) { return model_add(r->m, l, r->err); }

int rd_want_map(reader *r, const val *x)
{
    if (x->kind != V_MAP)
        return rd_fail(r, CD_ERR_UNSUPPORTED, "wants a feature map (N, C, H, W) input");
    return 0;
}

val *rd_emit(reader *r, layer *l, vkind kind, int c, int h, int w)
{
    int idx = rd_add_layer(r, l);
    val *y = idx < 0 ? NULL : rd_output(r, 0);
    if (!y)
        return NULL;
    y->defined = 1;
    y->kind = kind;
    y->layer = idx;
    y->c = c;
    y->h = h;
    y->w = w;
    return y;
}

val *rd_alias(reader *r, const val *x)
{
    val *y = rd_output(r, 0);
    if (!y)
        return NULL;
    const char *nm = y->name;
    int uses = y->uses;
    *y = *x;
    y->name = nm;
    y->uses = uses;
    y->defined = 1;
    return y;
}
