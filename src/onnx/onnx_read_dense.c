/*
 * onnx_read_dense.c - ONNX's operators on vectors and on whole values
 * (activations are onnx_read_acts.c's): Flatten and the reshapes that are one, the NCHW->NHWC Transpose,
 * Gemm/MatMul as Dense (rows permuted once when the input was flattened in
 * NCHW order), Identity/Dropout, and the dog-column Slice of a 2-unit head.
 */
#include <string.h>

#include "onnx/onnx_read.h"

/* (N, C, H, W) -> (N, C*H*W): the engine's Flatten is NHWC order, so the
 * result remembers the NCHW order for the Gemm/MatMul that reads it. */
int rd_flatten_to(reader *r, val *x, val *y)
{
    const char *nm = y->name;
    int uses = y->uses;
    if (x->kind == V_VEC) {
        *y = *x;
        y->rank4 = 0;
    } else if (x->kind == V_MAP || x->kind == V_MAP_NHWC) {
        char name[LAYER_NAME_MAX];
        rd_layer_name(r, "", name);
        layer l = layer_template(LAYER_FLATTEN, name, x->layer);
        int idx = rd_add_layer(r, &l);
        if (idx < 0)
            return -1;
        memset(y, 0, sizeof *y);
        y->kind = V_VEC;
        y->layer = idx;
        y->c = x->c * x->h * x->w;
        if (x->kind == V_MAP && (x->h > 1 || x->w > 1)) {
            y->chw = 1;
            y->ch = x->c;
            y->hh = x->h;
            y->ww = x->w;
        }
    } else {
        return rd_fail(r, CD_ERR_UNSUPPORTED, "flattens a constant");
    }
    y->name = nm;
    y->uses = uses;
    y->defined = 1;
    return 0;
}

int rd_flatten(reader *r)
{
    val *x = rd_input(r, 0), *y;
    if (!x || !(y = rd_output(r, 0)))
        return -1;
    if (rd_attr_i(r, "axis", 1) != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "axis %lld; only 1 (keep the batch) is supported",
                  (long long)rd_attr_i(r, "axis", 1));
    return rd_flatten_to(r, x, y);
}

int rd_transpose(reader *r)
{
    val *x = rd_input(r, 0), *y;
    int64_t perm[5] = {0};
    if (!x)
        return -1;
    size_t np = rd_attr_ints(r, "perm", perm, 4);
    /* NHWC back to NCHW (catdog writes a Reshape to a map between the two) */
    if (x->kind == V_MAP_NHWC && np == 4 && perm[0] == 0 && perm[1] == 3 && perm[2] == 1 && perm[3] == 2) {
        if (!(y = rd_alias(r, x)))
            return -1;
        y->kind = V_MAP;
        return 0;
    }
    if (x->kind != V_MAP || np != 4 || perm[0] != 0 || perm[1] != 2 || perm[2] != 3 || perm[3] != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "only NCHW -> NHWC (perm 0,2,3,1) of a feature map before a Flatten or Reshape, "
                  "and back, is supported");
    if (!(y = rd_alias(r, x)))
        return -1;
    y->kind = V_MAP_NHWC;
    return 0;
}

/* Element count of a value without the batch, for Reshape's checks. */
static long long per_sample(const val *x)
{
    return x->kind == V_VEC ? x->c : (long long)x->c * x->h * x->w;
}

int rd_reshape(reader *r)
{
    val *x = rd_input(r, 0), *s, *y;
    if (!x || !(s = rd_const_input(r, 1, 1)) || !(y = rd_output(r, 0)))
        return -1;
    if (x->kind == V_CONST)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "reshapes a constant");
    long long k = per_sample(x);
    /* Only the flatten PyTorch writes as x.view(x.size(0), -1): (N, -1) or (N, k). */
    if (s->rank == 1 && s->n == 2) {
        int64_t a = s->i[0], b = s->i[1];
        int batch_ok = a == BATCH_DIM || a == 0 || a == -1;
        if (batch_ok && (b == -1 || b == k) && !(a == -1 && b == -1)) {
            if (x->kind != V_MAP_NHWC)
                return rd_flatten_to(r, x, y);
            /* Transpose to NHWC + Reshape is how catdog writes Keras'
             * Reshape to (C): read back as that layer (its Flatten is a
             * Flatten op).  The engine's Reshape also gives the vector a
             * plain (N, C) layout, which a reader other than Dense needs
             * after a oneDNN map (Flatten only aliases the 4-D map). */
            char name[LAYER_NAME_MAX];
            rd_layer_name(r, "", name);
            layer l = layer_template(LAYER_RESHAPE, name, x->layer);
            l.target[0] = l.target[1] = 1, l.target[2] = -1;
            l.target_rank = 1;
            return rd_emit(r, &l, V_VEC, (int)k, 1, 1) ? 0 : -1;
        }
    }
    /* (N, C) back to (N, C, 1, 1), as x.view(-1, C, 1, 1) writes it: same
     * data, only the ONNX rank changes. Not for a flattened map (chw), whose
     * elements are not in ONNX's order. */
    if (x->kind == V_VEC && !x->chw && s->rank == 1 && s->n == 4 && s->i[2] == 1 && s->i[3] == 1) {
        int64_t a = s->i[0], b = s->i[1];
        int batch_ok = a == BATCH_DIM || a == 0 || a == -1;
        if (batch_ok && (b == k || (b == -1 && a != -1))) {
            if (!(y = rd_alias(r, x)))
                return -1;
            y->rank4 = 1;
            return 0;
        }
    }
    /* To (N, H, W, C) from NHWC values (a map transposed to NHWC, a vector
     * not flattened from NCHW): Keras' Reshape, whose output is that map in
     * NHWC (a Transpose back to NCHW follows, as catdog writes it). */
    if ((x->kind == V_MAP_NHWC || (x->kind == V_VEC && !x->chw)) && s->rank == 1 && s->n == 4 &&
        (s->i[0] == BATCH_DIM || s->i[0] == 0 || s->i[0] == -1)) {
        long long t[3], known = 1;
        int unknown = -1;
        for (int d = 0; d < 3; d++) {
            t[d] = s->i[d + 1];
            if (t[d] == -1 && unknown < 0 && s->i[0] != -1)
                unknown = d;
            else if (t[d] < 1 || t[d] > k || known > k)   /* known * t[d] stays below k^2 */
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "reshape dimension %lld", t[d]);
            else
                known *= t[d];
        }
        if (unknown >= 0 && known > 0 && k % known == 0)
            t[unknown] = k / known, known = k;
        if (known == k) {
            char name[LAYER_NAME_MAX];
            rd_layer_name(r, "", name);
            layer l = layer_template(LAYER_RESHAPE, name, x->layer);
            l.target[0] = (int)t[0], l.target[1] = (int)t[1], l.target[2] = (int)t[2];
            l.target_rank = 3;
            return rd_emit(r, &l, V_MAP_NHWC, (int)t[2], (int)t[0], (int)t[1]) ? 0 : -1;
        }
    }
    NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only a reshape to (N, %lld) (a flatten), of a vector to "
              "(N, C, 1, 1) or of NHWC values to (N, H, W, C) is supported", k);
}

int rd_squeeze(reader *r)
{
    val *x = rd_input(r, 0), *y;
    if (!x || !(y = rd_output(r, 0)))
        return -1;
    if (x->kind != V_VEC || !x->rank4)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only squeezing the 1x1 of a global pooling is supported");
    /* Axes (attribute before opset 13, input since) may only name H and W. */
    int64_t ax[4] = {2, 3};
    size_t na = 2;
    if (r->opset >= 13 && r->node->n_input > 1 && r->node->input[1][0]) {
        val *a = rd_const_input(r, 1, 1);
        if (!a)
            return -1;
        na = a->n;
        for (size_t i = 0; i < na && i < 4; i++)
            ax[i] = a->i[i];
    } else if (r->opset < 13 && rd_attr(r, "axes")) {
        na = rd_attr_ints(r, "axes", ax, 3);
    }
    for (size_t i = 0; i < na; i++)
        if (na > 2 || !(ax[i] == 2 || ax[i] == 3 || ax[i] == -1 || ax[i] == -2))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "squeezes axes other than H and W");
    return rd_flatten_to(r, x, y);
}

/* Dense from a constant [K, M] matrix (rows in ONNX's order), bias or NULL. */
static int add_dense(reader *r, val *x, const float *wm, int trans, int K, int M, float alpha,
                     const float *bias, size_t n_bias, float beta)
{
    if (x->kind != V_VEC || x->rank4)
        return rd_fail(r, CD_ERR_UNSUPPORTED, "wants an (N, K) input (flatten the feature map first)");
    if (x->c != K)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight has %d rows; the input has %d values", K, x->c);
    if (bias && n_bias != (size_t)M && n_bias != 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "bias has %zu values, not %d", n_bias, M);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_DENSE, name, x->layer);
    l.units = M;
    l.use_bias = bias != NULL;
    int kd[2] = {K, M};
    if (!(l.params[0] = tensor_new(2, kd, r->err)))
        return -1;
    l.n_params = 1;
    for (int e = 0; e < K; e++) {
        /* Engine row e (NHWC flatten) is ONNX row `src` (NCHW flatten). */
        int src = e;
        if (x->chw) {
            int ch = e % x->ch, pix = e / x->ch;
            src = ch * x->hh * x->ww + pix;
        }
        for (int m = 0; m < M; m++)
            l.params[0]->data[(size_t)e * M + m] =
                alpha * (trans ? wm[(size_t)m * K + src] : wm[(size_t)src * M + m]);
    }
    if (bias) {
        int bd[1] = {M};
        if (!(l.params[1] = tensor_new(1, bd, r->err))) {
            tensor_free(l.params[0]);
            return -1;
        }
        for (int m = 0; m < M; m++)
            l.params[1]->data[m] = beta * bias[n_bias == 1 ? 0 : m];
        l.n_params = 2;
    }
    return rd_emit(r, &l, V_VEC, M, 1, 1) ? 0 : -1;
}

int rd_gemm(reader *r)
{
    val *x = rd_input(r, 0), *b, *c = NULL;
    if (!x || !(b = rd_const_input(r, 1, 0)))
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(c = rd_const_input(r, 2, 0)))
        return -1;
    if (rd_attr_i(r, "transA", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "transA 1 is not supported");
    int trans = rd_attr_i(r, "transB", 0) != 0;
    if (b->rank != 2 || b->dims[0] < 1 || b->dims[1] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "B is not a matrix");
    if (c && !(c->rank == 1 || (c->rank == 2 && c->dims[0] == 1) || c->rank == 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "C must broadcast along the batch (shape (M) or (1, M))");
    int K = (int)b->dims[trans ? 1 : 0], M = (int)b->dims[trans ? 0 : 1];
    return add_dense(r, x, b->f, trans, K, M, rd_attr_f(r, "alpha", 1.0f), c ? c->f : NULL,
                     c ? c->n : 0, rd_attr_f(r, "beta", 1.0f));
}

int rd_matmul(reader *r)
{
    val *x = rd_input(r, 0), *b;
    if (!x || !(b = rd_const_input(r, 1, 0)))
        return -1;
    if (b->rank != 2 || b->dims[0] < 1 || b->dims[1] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "B is not a matrix");
    return add_dense(r, x, b->f, 0, (int)b->dims[0], (int)b->dims[1], 1.0f, NULL, 0, 1.0f);
}

/* Dropout (inference: identity; its mask output must be unused) and Identity. */
int rd_identity(reader *r)
{
    val *x = rd_input(r, 0);
    if (!x)
        return -1;
    for (size_t k = 1; k < r->node->n_output; k++) {
        val *mask = r->node->output[k][0] ? rd_lookup(r, r->node->output[k], 0) : NULL;
        if (mask && mask->uses)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "its mask output is read; inference has no mask");
    }
    return rd_alias(r, x) ? 0 : -1;
}

/* Slice: only column 1 of a 2-unit vector (P(dog) of a cat/dog softmax,
 * how catdog exports such heads), which may only be the graph's output. */
int rd_slice(reader *r)
{
    val *x = rd_input(r, 0), *st, *en, *ax;
    if (!x || !(st = rd_const_input(r, 1, 1)) || !(en = rd_const_input(r, 2, 1)))
        return -1;
    ax = NULL;
    if (r->node->n_input >= 4 && r->node->input[3][0] && !(ax = rd_const_input(r, 3, 1)))
        return -1;
    if (r->node->n_input > 4 && r->node->input[4][0]) {
        val *steps = rd_const_input(r, 4, 1);
        if (!steps)
            return -1;
        for (size_t k = 0; k < steps->n; k++)
            if (steps->i[k] != 1)
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Slice (opset %d) with steps is not supported",
                          r->opset);
    }
    int rc;
    if (rd_slice_shape(r, x, st, en, ax, &rc))   /* a crop, or shape arithmetic */
        return rc;
    if (x->kind != V_VEC || x->rank4 || x->chw || x->c != 2 || st->n != 1 || en->n != 1 ||
        !ax || ax->n != 1 || st->i[0] != 1 || en->i[0] < 2 || !(ax->i[0] == 1 || ax->i[0] == -1))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op Slice (opset %d) is supported only as column 1 (dog) of a 2-unit output",
                  r->opset);
    val *y = rd_alias(r, x);
    if (!y)
        return -1;
    y->kind = V_DOG;
    return 0;
}

