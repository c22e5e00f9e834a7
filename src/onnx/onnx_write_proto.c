/*
 * onnx_write_proto.c - the protobuf pieces the ONNX writer builds a graph from
 * (nodes, attributes, initializers), all allocated from the writer's arena
 * (see onnx_write.h).
 */
#include "onnx/onnx_write.h"

#include <stdio.h>
#include <string.h>

int ow_oom(onnx_writer *w)
{
    return cd_err_set(w->err, CD_ERR_NOMEM, "out of memory writing the ONNX graph");
}

int ow_push(onnx_writer *w, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void **na = onnx_arena_alloc(&w->arena, nc * sizeof *na);
        if (!na)
            return ow_oom(w);
        if (*n)
            memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = item;
    return 0;
}

char *ow_fmt(onnx_writer *w, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = onnx_arena_alloc(&w->arena, n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

/* A node with the given inputs (NULL-terminated) and one output. */
Onnx__NodeProto *ow_node(onnx_writer *w, const char *op, const char *name, const char *const *in,
                             const char *out)
{
    if (!name || !out) {
        ow_oom(w);
        return NULL;
    }
    if (ow_define(w, out) != 0 || !(name = ow_node_name(w, name)))
        return NULL;
    Onnx__NodeProto *n = onnx_arena_alloc(&w->arena, sizeof *n);
    size_t n_in = 0;
    while (in[n_in])
        n_in++;
    char **ins = onnx_arena_alloc(&w->arena, (n_in + 1) * sizeof *ins);
    char **outs = onnx_arena_alloc(&w->arena, sizeof *outs);
    if (!n || !ins || !outs) {
        ow_oom(w);
        return NULL;
    }
    onnx__node_proto__init(n);
    for (size_t i = 0; i < n_in; i++)
        if (!(ins[i] = onnx_arena_strdup(&w->arena, in[i]))) {
            ow_oom(w);
            return NULL;
        }
    outs[0] = onnx_arena_strdup(&w->arena, out);
    n->op_type = onnx_arena_strdup(&w->arena, op);
    n->name = onnx_arena_strdup(&w->arena, name);
    if (!outs[0] || !n->op_type || !n->name) {
        ow_oom(w);
        return NULL;
    }
    n->input = ins;
    n->n_input = n_in;
    n->output = outs;
    n->n_output = 1;
    if (ow_push(w, (void ***)&w->nodes, &w->n_nodes, &w->cap_nodes, n) != 0)
        return NULL;
    return n;
}

Onnx__AttributeProto *ow_attr(onnx_writer *w, Onnx__NodeProto *n, const char *name)
{
    Onnx__AttributeProto *a = onnx_arena_alloc(&w->arena, sizeof *a);
    Onnx__AttributeProto **list = onnx_arena_alloc(&w->arena, (n->n_attribute + 1) * sizeof *list);
    if (!a || !list || !(name = onnx_arena_strdup(&w->arena, name))) {
        ow_oom(w);
        return NULL;
    }
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    if (n->n_attribute)
        memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

int ow_attr_int(onnx_writer *w, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ow_attr(w, n, name);
    if (!a)
        return -1;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return 0;
}

int ow_attr_ints(onnx_writer *w, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t k)
{
    Onnx__AttributeProto *a = ow_attr(w, n, name);
    int64_t *copy = onnx_arena_alloc(&w->arena, k * sizeof *copy);
    if (!a || !copy)
        return a ? ow_oom(w) : -1;
    memcpy(copy, v, k * sizeof *copy);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = copy;
    a->n_ints = k;
    return 0;
}

/* An initializer; `data` (k elements of float or int64) is borrowed until packing. */
int ow_init_tensor(onnx_writer *w, const char *name, int float_type, const void *data, size_t k,
                       const int64_t *dims, size_t rank)
{
    if (!name)
        return ow_oom(w);
    if (ow_define(w, name) != 0)
        return -1;
    Onnx__TensorProto *t = onnx_arena_alloc(&w->arena, sizeof *t);
    int64_t *d = onnx_arena_alloc(&w->arena, (rank ? rank : 1) * sizeof *d);
    if (!t || !d || !(name = onnx_arena_strdup(&w->arena, name)))
        return ow_oom(w);
    onnx__tensor_proto__init(t);
    memcpy(d, dims, rank * sizeof *d);
    t->dims = d;
    t->n_dims = rank;
    t->has_data_type = 1;
    t->data_type = float_type ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                              : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->name = (char *)name;
    /* raw_data is little-endian: the x86-64 and arm64 hosts catdog runs on. */
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = k * (float_type ? sizeof(float) : sizeof(int64_t));
    return ow_push(w, (void ***)&w->inits, &w->n_inits, &w->cap_inits, t);
}

int ow_attr_float(onnx_writer *w, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = ow_attr(w, n, name);
    if (!a)
        return -1;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
    return 0;
}

int ow_attr_string(onnx_writer *w, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = ow_attr(w, n, name);
    char *c = onnx_arena_strdup(&w->arena, v);
    if (!a || !c)
        return ow_oom(w);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.data = (uint8_t *)c;
    a->s.len = strlen(c);
    return 0;
}


const char *ow_scalar(onnx_writer *w, const char *prefix, const char *suffix, float v)
{
    const char *name = ow_value(w, prefix, suffix);
    float *data = onnx_arena_alloc(&w->arena, sizeof *data);
    if (!name || !data) {
        ow_oom(w);
        return NULL;
    }
    *data = v;
    const int64_t no_dims[1] = {1};
    return ow_init_tensor(w, name, 1, data, 1, no_dims, 0) == 0 ? name : NULL;
}
