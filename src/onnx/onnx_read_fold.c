/*
 * onnx_read_fold.c - constants and the shape arithmetic exporters write
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), folded at load into
 * int64 constants; the batch stands as BATCH_DIM.  Concat also joins feature
 * maps or vectors along the channels (the engine's Concatenate).
 */
#include <string.h>

#include "onnx/onnx_read.h"

int rd_concat(reader *r)
{
    const Onnx__NodeProto *nd = r->node;
    if (nd->n_input < 1 || nd->n_input > LAYER_MAX_INPUTS)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenates %zu inputs (1 to %d)", nd->n_input,
                  LAYER_MAX_INPUTS);
    val *in[LAYER_MAX_INPUTS];
    for (size_t k = 0; k < nd->n_input; k++)
        if (!(in[k] = rd_input(r, k)))
            return -1;
    int64_t axis = rd_attr_i(r, "axis", 1);
    val *y;
    if (in[0]->kind == V_CONST) {
        /* Shape arithmetic: 1-D int64 constants joined. */
        size_t n = 0;
        for (size_t k = 0; k < nd->n_input; k++) {
            if (!rd_as_const(r, in[k]))
                return -1;
            if (!in[k]->is_int || in[k]->rank != 1 || axis != 0)
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only 1-D int64 constants are concatenated");
            n += in[k]->n;
        }
        if (n > MAX_RANK)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "shape of %zu dimensions", n);
        int64_t *d = onnx_arena_alloc(&r->scratch, (n ? n : 1) * sizeof *d);
        if (!d || !(y = rd_output(r, 0)))
            return d ? -1 : rd_oom(r);
        size_t o = 0;
        for (size_t k = 0; k < nd->n_input; k++)
            for (size_t j = 0; j < in[k]->n; j++)
                d[o++] = in[k]->i[j];
        y->defined = 1;
        y->kind = V_CONST;
        y->is_int = 1;
        y->rank = 1;
        y->dims[0] = (int64_t)n;
        y->n = n;
        y->i = d;
        return 0;
    }
    if (nd->n_input == 1)   /* a concatenation of one value is that value */
        return rd_identity(r);
    int maps = in[0]->kind == V_MAP;
    int ok = maps ? (axis == 1 || axis == -3) : (axis == 1 || (axis == -1 && !in[0]->rank4));
    if (!ok)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenation along axis %lld; the engine's is the channels",
                  (long long)axis);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_CONCAT, name, in[0]->layer);
    int c = 0;
    for (size_t k = 0; k < nd->n_input; k++) {
        val *v = in[k];
        if (v->kind != in[0]->kind || v->rank4 != in[0]->rank4 || v->chw ||
            (maps && (v->h != in[0]->h || v->w != in[0]->w)) || (!maps && v->kind != V_VEC))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "concatenates values of different kinds or sizes");
        l.inputs[k] = v->layer;
        c += v->c;
    }
    l.n_inputs = (int)nd->n_input;
    int idx = rd_add_layer(r, &l);
    if (idx < 0 || !(y = rd_alias(r, in[0])))
        return -1;
    y->layer = idx;
    y->c = c;
    return 0;
}

int rd_constant(reader *r)
{
    val *y = rd_output(r, 0);
    if (!y)
        return -1;
    const Onnx__AttributeProto *a = rd_attr(r, "value");
    if (a && a->t) {
        if (rd_decode_tensor(r, a->t, y) != 0)
            return -1;
    } else if ((a = rd_attr(r, "value_ints")) || (a = rd_attr(r, "value_int"))) {
        y->kind = V_CONST;
        y->is_int = 1;
        if (a->n_ints > MAX_RANK)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "value_ints of %zu values", a->n_ints);
        y->rank = strcmp(a->name, "value_int") != 0;
        y->n = y->rank ? a->n_ints : 1;
        y->dims[0] = (int64_t)y->n;
        y->i = y->rank ? a->ints : &a->i;
    } else if ((a = rd_attr(r, "value_float")) && a->has_f) {
        y->kind = V_CONST;
        y->rank = 0;
        y->n = 1;
        y->f = &a->f;
    } else {
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only value, value_int(s) and value_float are supported");
    }
    y->defined = 1;
    return 0;
}

/* Shape of a computed value; the batch is BATCH_DIM. */
int rd_shape(reader *r)
{
    val *x = rd_input(r, 0), *y;
    if (!x || !(y = rd_output(r, 0)))
        return -1;
    if (x->kind == V_CONST || x->kind == V_DOG || rd_attr(r, "start") || rd_attr(r, "end"))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only the whole shape of a computed value is folded");
    int64_t *d = onnx_arena_alloc(&r->scratch, 4 * sizeof *d);
    if (!d)
        return rd_oom(r);
    size_t n = 0;
    d[n++] = BATCH_DIM;
    if (x->kind == V_VEC) {
        d[n++] = x->c;
        if (x->rank4)
            d[n++] = 1, d[n++] = 1;
    } else if (x->kind == V_MAP) {
        d[n++] = x->c, d[n++] = x->h, d[n++] = x->w;
    } else {
        d[n++] = x->h, d[n++] = x->w, d[n++] = x->c;
    }
    y->defined = 1;
    y->kind = V_CONST;
    y->is_int = 1;
    y->rank = 1;
    y->dims[0] = (int64_t)n;
    y->n = n;
    y->i = d;
    return 0;
}

int rd_gather(reader *r)
{
    val *d = rd_const_input(r, 0, 1), *k, *y;
    if (!d || !(k = rd_const_input(r, 1, 1)) || !(y = rd_output(r, 0)))
        return -1;
    if (d->rank != 1 || rd_attr_i(r, "axis", 0) != 0 || k->rank > 1 || k->n > MAX_RANK)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only indexing a 1-D int64 constant is folded");
    int64_t *o = onnx_arena_alloc(&r->scratch, (k->n ? k->n : 1) * sizeof *o);
    if (!o)
        return rd_oom(r);
    for (size_t j = 0; j < k->n; j++) {
        int64_t ix = k->i[j] < 0 ? k->i[j] + (int64_t)d->n : k->i[j];
        if (ix < 0 || ix >= (int64_t)d->n)
            NODE_FAIL(r, CD_ERR_FORMAT, "index %lld out of range", (long long)k->i[j]);
        o[j] = d->i[ix];
    }
    y->defined = 1;
    y->kind = V_CONST;
    y->is_int = 1;
    y->rank = k->rank;
    y->dims[0] = (int64_t)k->n;
    y->n = k->n;
    y->i = o;
    return 0;
}

int rd_unsqueeze(reader *r)
{
    val *x = rd_input(r, 0), *y;
    if (!x)
        return -1;
    if (x->kind != V_CONST)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only unsqueezing shape constants is folded");
    if (!(x = rd_as_const(r, x)) || !(y = rd_output(r, 0)))
        return -1;
    if (x->rank != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only a scalar becomes a 1-D constant");
    *y = (val){.name = y->name, .uses = y->uses, .defined = 1, .kind = V_CONST, .is_int = x->is_int,
               .rank = 1, .dims = {1}, .n = 1, .f = x->f, .i = x->i, .layer = -1};
    return 0;
}

