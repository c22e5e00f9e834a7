/*
 * onnx_read_merge.c - ONNX's element-wise arithmetic onto the engine:
 *   - two computed values of one shape (a residual connection): the engine's
 *     merge layers, Add / Subtract / Multiply, and the variadic Sum / Mean /
 *     Max as Add / Average / Maximum;
 *   - a computed value and a constant that is one number or one number per
 *     channel (ONNX broadcasting of (C, 1, 1), (1, C, 1, 1), or (C) / (1, C)
 *     on a vector): a per-channel affine y = a x + b, folded into the Conv or
 *     Gemm/MatMul that made x when that layer is x's only reader and has no
 *     activation yet (a MatMul's bias Add is this case), else a Rescaling
 *     layer (one number) or a BatchNormalization layer holding a and b (mean
 *     0, variance 1, epsilon 1e-30: the marker of such a layer, into which a
 *     following affine is composed).
 *   - a map times a (N, C, 1, 1) vector (squeeze-and-excitation): the
 *     engine's broadcasting Multiply.
 *   - Div by such a constant: the multiply by its reciprocal (Normalization's
 *     (x - mean) / std, as catdog writes it).
 * Other broadcasts are refused with the node named.
 */
#include <string.h>

#include "onnx/onnx_read.h"

typedef enum arith { AR_ADD, AR_SUB, AR_MUL, AR_DIV } arith;

/* Map x times channel vector: a broadcasting Multiply of both, in the node's order. */
static int merge_broadcast(reader *r, val **in, const val *x)
{
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_MULTIPLY, name, in[0]->layer);
    l.inputs[1] = in[1]->layer;
    l.n_inputs = 2;
    int idx = rd_add_layer(r, &l);
    val *y = idx < 0 ? NULL : rd_alias(r, x);
    if (!y)
        return -1;
    y->layer = idx;
    return 0;
}

/* Two computed values of the same shape, as an engine merge layer. */
static int merge(reader *r, layer_kind kind, val **in, size_t n)
{
    /* The scale step of squeeze-and-excitation: a map times a (N, C, 1, 1)
     * channel vector, the engine's broadcasting Multiply (op_merge.c). */
    if (kind == LAYER_MULTIPLY && n == 2) {
        for (int j = 0; j < 2; j++) {
            const val *v = in[j], *x = in[1 - j];
            if (v->kind == V_VEC && v->rank4 && !v->chw && x->kind == V_MAP && x->c == v->c)
                return merge_broadcast(r, in, x);
        }
        if ((in[0]->kind == V_MAP && in[1]->kind == V_VEC) ||
            (in[0]->kind == V_VEC && in[1]->kind == V_MAP))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "multiplies a feature map by a vector that is not (N, C, 1, 1) with the "
                      "map's channels; only a per-channel scale (squeeze-and-excitation) is "
                      "supported");
    }
    for (size_t k = 1; k < n; k++) {
        const val *a = in[0], *b = in[k];
        if (b->kind != a->kind || b->c != a->c || (a->kind == V_MAP && (b->h != a->h || b->w != a->w)) ||
            b->rank4 != a->rank4 || b->chw != a->chw)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "inputs of different shapes (%dx%dx%d and %dx%dx%d); only equal shapes are "
                      "merged",
                      a->c, a->h, a->w, b->c, b->h, b->w);
    }
    if (in[0]->kind != V_MAP && in[0]->kind != V_VEC)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants feature maps or vectors");
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(kind, name, in[0]->layer);
    for (size_t k = 0; k < n; k++)
        l.inputs[k] = in[k]->layer;
    l.n_inputs = (int)n;
    int idx = rd_add_layer(r, &l);
    val *y = idx < 0 ? NULL : rd_alias(r, in[0]);
    if (!y)
        return -1;
    y->layer = idx;
    return 0;
}

/* The channel count a constant c broadcasts over x with, 1 for one number;
 * 0 when it broadcasts some other way. */
static int const_channels(const val *x, const val *c)
{
    if (c->n == 1)
        return 1;
    int C = x->c;
    if (c->n != (size_t)C)
        return 0;
    /* leading dimensions of 1, then C, then as many 1s as x has after C */
    int trailing = x->kind == V_MAP || x->rank4 ? 2 : 0;
    if (c->rank < 1 + trailing || c->rank > (x->kind == V_MAP || x->rank4 ? 4 : 2))
        return 0;
    for (int d = 0; d < c->rank; d++) {
        int64_t want = d == c->rank - 1 - trailing ? C : 1;
        if (c->dims[d] != want)
            return 0;
    }
    return C;
}

/* x * a + b per channel (a, b of C values) folded into x's layer. */
static int fold_affine(reader *r, layer *p, int C, const float *a, const float *b)
{
    if (!p->use_bias) {
        int bd[1] = {C};
        if (!(p->params[1] = tensor_new(1, bd, r->err)))
            return -1;
        p->n_params = 2;
        p->use_bias = 1;
    }
    /* HWIO conv kernels and [in, out] dense kernels both end in the output channel. */
    tensor *k = p->params[0], *bias = p->params[1];
    for (size_t i = 0; i < k->size; i++)
        k->data[i] *= a[i % (size_t)C];
    for (int o = 0; o < C; o++)
        bias->data[o] = bias->data[o] * a[o] + b[o];
    return 0;
}

/* x op c (c first when `c_first`: matters for Sub) with a constant c. */
static int with_constant(reader *r, arith op, val *x, val *c, int c_first)
{
    if (x->kind != V_MAP && x->kind != V_VEC)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants a feature map or a vector and a constant");
    if (!(c = rd_as_const(r, c)))
        return -1;
    int C = c->is_int ? 0 : const_channels(x, c);
    if (C == 0) {
        char shp[64] = "(";
        for (int d = 0; d < c->rank && d < 6; d++)
            snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", d ? ", " : "",
                     (long long)c->dims[d]);
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "a %s constant of shape %s); only one number or one per channel (%d) is "
                  "supported",
                  c->is_int ? "int64" : "float", shp, x->c);
    }
    float *a = onnx_arena_alloc(&r->scratch, 2 * (size_t)x->c * sizeof *a);
    if (!a)
        return rd_oom(r);
    float *b = a + x->c;
    for (int o = 0; o < x->c; o++) {
        float v = c->f[C == 1 ? 0 : o];
        if (op == AR_DIV) {   /* x / v as x * (1 / v): within an ulp of the quotient */
            if (v == 0.0f)
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "divides by a constant holding 0");
            a[o] = 1.0f / v;
            b[o] = 0.0f;
            continue;
        }
        a[o] = op == AR_MUL ? v : op == AR_SUB && c_first ? -1.0f : 1.0f;
        b[o] = op == AR_MUL ? 0.0f : op == AR_SUB && !c_first ? -v : v;
    }
    layer *p = &r->m->layers[x->layer];
    if (x->uses == 1 && (p->kind == LAYER_CONV2D || p->kind == LAYER_DENSE) &&
        p->act == ACT_LINEAR && p->n_params >= 1) {
        if (fold_affine(r, p, x->c, a, b) != 0)
            return -1;
        return rd_alias(r, x) ? 0 : -1;
    }
    /* A second affine after one this reader made (an in-graph (x - mean) *
     * (1 / std)): composed into that layer. */
    if (x->uses == 1 && p->kind == LAYER_BATCHNORM && p->epsilon == 1e-30f && p->n_params == 4 &&
        p->act == ACT_LINEAR) {
        for (int o = 0; o < x->c; o++) {
            p->params[0]->data[o] *= a[o];
            p->params[1]->data[o] = p->params[1]->data[o] * a[o] + b[o];
        }
        return rd_alias(r, x) ? 0 : -1;
    }
    if (x->uses == 1 && p->kind == LAYER_RESCALING && C == 1 && p->act == ACT_LINEAR) {
        for (int c = 0; c < p->rescale_n[0] || c < 1; c++)
            p->rescale[0][c] *= a[0];
        for (int c = 0; c < p->rescale_n[1] || c < 1; c++)
            p->rescale[1][c] = p->rescale[1][c] * a[0] + b[0];
        return rd_alias(r, x) ? 0 : -1;
    }
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l;
    if (C == 1) {
        l = layer_template(LAYER_RESCALING, name, x->layer);
        l.rescale[0][0] = a[0];
        l.rescale[1][0] = b[0];
    } else {
        l = layer_template(LAYER_BATCHNORM, name, x->layer);
        /* gamma a, beta b, mean 0, variance 1: sqrt(1 + 1e-30) is 1 in float */
        l.epsilon = 1e-30f;
        int cd[1] = {x->c};
        for (int k = 0; k < 4; k++)
            if (!(l.params[k] = tensor_new(1, cd, r->err))) {
                for (int j = 0; j < k; j++)
                    tensor_free(l.params[j]);
                return -1;
            }
        l.n_params = 4;
        memcpy(l.params[0]->data, a, (size_t)x->c * sizeof *a);
        memcpy(l.params[1]->data, b, (size_t)x->c * sizeof *b);
        for (int o = 0; o < x->c; o++)
            l.params[3]->data[o] = 1.0f;
    }
    int idx = rd_add_layer(r, &l);
    val *y = idx < 0 ? NULL : rd_alias(r, x);
    if (!y)
        return -1;
    y->layer = idx;
    return 0;
}

/* Add, Sub, Mul: two inputs, either merged or one of them a constant. */
int rd_arith(reader *r, int op)
{
    if (r->node->n_input != 2)
        NODE_FAIL(r, CD_ERR_FORMAT, "has %zu inputs, not 2", r->node->n_input);
    val *in[2] = {rd_input(r, 0), rd_input(r, 1)};
    if (!in[0] || !in[1])
        return -1;
    int c0 = in[0]->kind == V_CONST, c1 = in[1]->kind == V_CONST;
    if (c0 && c1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "arithmetic on two constants is not folded");
    if (op == AR_DIV && !c1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "divides by a computed value; only a constant divisor is "
                  "supported");
    if (c0 || c1)
        return with_constant(r, (arith)op, in[c0 ? 1 : 0], in[c0 ? 0 : 1], c0);
    static const layer_kind kinds[] = {LAYER_ADD, LAYER_SUBTRACT, LAYER_MULTIPLY};
    return merge(r, kinds[op], in, 2);
}

/* Sum, Mean, Max of computed values (what catdog writes for its merge layers). */
int rd_variadic(reader *r, layer_kind kind)
{
    size_t n = r->node->n_input;
    if (n < 1 || n > LAYER_MAX_INPUTS)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "has %zu inputs (1 to %d)", n, LAYER_MAX_INPUTS);
    val *in[LAYER_MAX_INPUTS];
    for (size_t k = 0; k < n; k++) {
        if (!(in[k] = rd_input(r, k)))
            return -1;
        if (in[k]->kind == V_CONST)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "input %zu is a constant; only computed values are "
                      "merged", k);
    }
    if (n == 1)
        return rd_identity(r);
    return merge(r, kind, in, n);
}
