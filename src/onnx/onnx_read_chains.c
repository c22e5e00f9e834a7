/*
 * onnx_read_chains.c - activations that catdog's writer spells as chains of
 * elementary ops where the opset has no single one (onnx_write_acts.c), read
 * back as the one activation:
 *   - Gelu before opset 20: 0.5 x (1 + erf(x / sqrt 2)), or with the tanh
 *     approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)));
 *   - Keras' ReLU threshold: Where(Greater(x, t), x, 0) (the rest of Keras'
 *     ReLU chain, Clip / Relu / Mul / Sub, are operators read one by one).
 * A chain is recognised at its first node by looking at the nodes that follow
 * it in the file, exactly as the writer orders them, with every intermediate
 * value read once and the constants the writer's; the reader then skips to
 * the node after the chain (reader.skip_to).  Anything else falls through to
 * the operator table, where Erf, Greater and Where are refused naming the node.
 */
#include <string.h>

#include "onnx/onnx_read.h"

/* Node i of the graph when it is `op` with one output, else NULL. */
static const Onnx__NodeProto *node_is(const reader *r, size_t i, const char *op, size_t n_in)
{
    if (i >= r->graph->n_node)
        return NULL;
    const Onnx__NodeProto *n = r->graph->node[i];
    if (!n->op_type || strcmp(n->op_type, op) != 0 || n->n_output != 1 || n->n_input != n_in ||
        (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0))
        return NULL;
    for (size_t k = 0; k < n_in; k++)
        if (!n->input[k] || !n->input[k][0])
            return NULL;
    return n->output[0] && n->output[0][0] ? n : NULL;
}

/* 1 when `name` is a float scalar constant equal to want, 0 when not, -1 on error. */
static int scalar_is(reader *r, const char *name, float want)
{
    val *v = rd_lookup(r, name, 0);
    if (!v || !v->defined || v->kind != V_CONST)
        return 0;
    if (!rd_as_const(r, v))
        return -1;
    return !v->is_int && v->n == 1 && v->f[0] == want;
}

/* 1 when `name` is read by exactly one node and is no graph output. */
static int read_once(reader *r, const char *name)
{
    val *v = rd_lookup(r, name, 0);
    return v && v->uses == 1;
}

/* n computes `a` op a scalar constant equal to c (in either order): 1, 0, -1. */
static int with_scalar(reader *r, const Onnx__NodeProto *n, const char *a, float c)
{
    if (!n)
        return 0;
    for (int j = 0; j < 2; j++)
        if (strcmp(n->input[j], a) == 0) {
            int s = scalar_is(r, n->input[1 - j], c);
            if (s != 0)
                return s;
        }
    return 0;
}

/* n's two inputs are a and b in either order. */
static int reads_pair(const Onnx__NodeProto *n, const char *a, const char *b)
{
    return n && ((strcmp(n->input[0], a) == 0 && strcmp(n->input[1], b) == 0) ||
                 (strcmp(n->input[0], b) == 0 && strcmp(n->input[1], a) == 0));
}

/* The chain from the current node to node `last` computes act of the current
 * node's input 0 (read x_reads times inside the chain): the activation as
 * rd_act makes it, its value defined under the last node's output name. */
static int emit(reader *r, size_t last, layer_act act, const layer_act_params *ap, int x_reads)
{
    val *x = rd_input(r, 0);
    if (!x)
        return -1;
    const char *out = r->graph->node[last]->output[0];
    val *yf = rd_lookup(r, out, 1);
    if (!yf)
        return -1;
    if (yf->defined)
        NODE_FAIL(r, CD_ERR_FORMAT, "value '%.60s' is defined twice", out);
    /* the chain's own reads of x count as one: the activation may fuse */
    int uses = x->uses;
    x->uses = uses - (x_reads - 1);
    int rc = rd_act(r, act, ap);
    x->uses = uses;
    if (rc != 0)
        return -1;
    val *y0 = rd_lookup(r, r->node->output[0], 0);
    if (!y0)
        return rd_fail(r, CD_ERR_FORMAT, "an output is missing");
    const char *nm = yf->name;
    int yuses = yf->uses;
    *yf = *y0;
    yf->name = nm;
    yf->uses = yuses;
    yf->defined = 1;
    r->skip_to = last + 1;
    return 1;
}

/* 0.5 x (1 + erf(x * (1 / sqrt 2))) from the Mul by 1 / sqrt 2 on. */
static int gelu_exact(reader *r, const char *x)
{
    size_t i = r->node_index;
    const Onnx__NodeProto *n0 = r->node, *n1 = node_is(r, i + 1, "Erf", 1),
                          *n2 = node_is(r, i + 2, "Add", 2), *n3 = node_is(r, i + 3, "Mul", 2),
                          *n4 = node_is(r, i + 4, "Mul", 2);
    if (!n1 || !n2 || !n3 || !n4 || strcmp(n1->input[0], n0->output[0]) != 0 ||
        !read_once(r, n0->output[0]) || !read_once(r, n1->output[0]) ||
        !read_once(r, n2->output[0]) || !read_once(r, n3->output[0]) ||
        !reads_pair(n4, n3->output[0], n2->output[0]))
        return 0;
    int s[3] = {with_scalar(r, n0, x, 0.70710678118654752f), with_scalar(r, n2, n1->output[0], 1.0f),
                with_scalar(r, n3, x, 0.5f)};
    for (int k = 0; k < 3; k++)
        if (s[k] <= 0)
            return s[k];
    layer_act_params ap = layer_act_defaults(ACT_GELU);
    return emit(r, i + 4, ACT_GELU, &ap, 2);
}

/* The tanh approximation from Mul(x, x) on. */
static int gelu_tanh(reader *r, const char *x)
{
    size_t i = r->node_index;
    const Onnx__NodeProto *n[9] = {r->node};
    static const char *const ops[9] = {"Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"};
    for (int k = 1; k < 9; k++)
        if (!(n[k] = node_is(r, i + (size_t)k, ops[k], k == 5 ? 1 : 2)))
            return 0;
    const char *o[9];
    for (int k = 0; k < 9; k++)
        o[k] = n[k]->output[0];
    for (int k = 0; k < 8; k++)
        if (!read_once(r, o[k]))
            return 0;
    if (!reads_pair(n[0], x, x) || !reads_pair(n[1], o[0], x) ||
        !reads_pair(n[3], x, o[2]) || strcmp(n[5]->input[0], o[4]) != 0 ||
        !reads_pair(n[8], o[7], o[6]))
        return 0;
    int s[4] = {with_scalar(r, n[2], o[1], 0.044715f), with_scalar(r, n[4], o[3], 0.79788456080286536f),
                with_scalar(r, n[6], o[5], 1.0f), with_scalar(r, n[7], x, 0.5f)};
    for (int k = 0; k < 4; k++)
        if (s[k] <= 0)
            return s[k];
    layer_act_params ap = layer_act_defaults(ACT_GELU_TANH);
    return emit(r, i + 8, ACT_GELU_TANH, &ap, 5);
}

/* Where(Greater(x, t), x, 0): Keras' ReLU(threshold = t). */
static int relu_threshold(reader *r, const char *x)
{
    const Onnx__NodeProto *g = r->node, *wh = node_is(r, r->node_index + 1, "Where", 3);
    if (!wh || strcmp(g->input[0], x) != 0 || strcmp(wh->input[0], g->output[0]) != 0 ||
        strcmp(wh->input[1], x) != 0 || !read_once(r, g->output[0]))
        return 0;
    val *t = rd_lookup(r, g->input[1], 0);
    int z = scalar_is(r, wh->input[2], 0.0f);
    if (z <= 0 || !t || !t->defined || t->kind != V_CONST)
        return z < 0 ? -1 : 0;
    if (!rd_as_const(r, t))
        return -1;
    if (t->is_int || t->n != 1)
        return 0;
    layer_act_params ap = layer_act_defaults(ACT_RELU_X);
    ap.alpha = 0.0f;
    ap.max_value = -1.0f;
    ap.threshold = t->f[0];
    return emit(r, r->node_index + 1, ACT_RELU_X, &ap, 2);
}

int rd_chain(reader *r)
{
    const Onnx__NodeProto *n = r->node;
    if (!r->graph || n->n_input != 2 || n->n_output != 1 || !n->op_type || !n->input[0][0] ||
        !n->input[1][0])
        return 0;
    const char *x = n->input[0];
    val *xv = rd_lookup(r, x, 0);
    if (!xv || !xv->defined || (xv->kind != V_MAP && xv->kind != V_VEC))
        return 0;
    if (strcmp(n->op_type, "Greater") == 0)
        return relu_threshold(r, x);
    if (strcmp(n->op_type, "Mul") != 0)
        return 0;
    if (strcmp(n->input[1], x) == 0)
        return gelu_tanh(r, x);
    return gelu_exact(r, x);
}
