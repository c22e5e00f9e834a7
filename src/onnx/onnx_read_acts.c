/*
 * onnx_read_acts.c - ONNX's activation operators: those of onnx_acts.c's
 * table (Relu, LeakyRelu, Elu, Selu, HardSigmoid, HardSwish, Softplus,
 * Softsign, Gelu, Exp, Tanh, Sigmoid, Softmax, ...), Clip (relu6 or a capped
 * ReLU), PRelu as a PReLU layer, PyTorch's SiLU (x * Sigmoid(x)) as swish and
 * its Hardswish before opset 14 (x * HardSigmoid(x), alpha 1/6) as hard_swish.
 */
#include <string.h>

#include "onnx/onnx_internal.h"
#include "onnx/onnx_read.h"

/* 1 when act with parameters ap can be a Conv/Dense's fused activation and
 * still be written to Keras (a string with its default parameters). */
static int fusable_act(layer_act act, const layer_act_params *ap)
{
    layer_act_params d = layer_act_defaults(act);
    return act != ACT_RELU_X && act != ACT_HARD_SIGMOID6 && act != ACT_GELU_TANH &&
           memcmp(&d, ap, sizeof d) == 0;
}

/* An activation (onnx_acts.c's table, Clip): fused into the producing
 * Conv/Dense when it is that layer's only reader (the engine's fused
 * post-ops) and Keras can still write it, else an Activation layer. */
int rd_act(reader *r, layer_act act, const layer_act_params *ap)
{
    val *x = rd_input(r, 0);
    if (!x)
        return -1;
    /* a map transposed to NHWC: element-wise the same, its channels the last axis
     * (catdog's map softmax before opset 13, between two Transposes) */
    if (x->kind != V_MAP && x->kind != V_VEC && x->kind != V_MAP_NHWC)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants a feature map or a vector input");
    if (act == ACT_SOFTMAX) {
        int64_t axis = rd_attr_i(r, "axis", r->opset >= 13 ? -1 : 1);
        int ok = x->kind == V_MAP_NHWC ? (axis == 3 || axis == -1)
                 : x->kind == V_MAP    ? (axis == 1 || axis == -3)
                                       : (x->rank4 ? (axis == 1 || axis == -3) : (axis == 1 || axis == -1));
        if (!ok || (x->kind == V_VEC && x->chw))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "softmax over axis %lld; the engine's is over the channels",
                      (long long)axis);
        if (x->kind == V_MAP && r->opset < 13)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "softmax of a feature map before opset 13 spans C, H and W");
    }
    layer *p = &r->m->layers[x->layer];
    int fuse = x->uses == 1 && (p->kind == LAYER_CONV2D || p->kind == LAYER_DENSE) &&
               p->act == ACT_LINEAR && !(x->kind == V_VEC && x->chw && act == ACT_SOFTMAX) &&
               fusable_act(act, ap);
    val *y = rd_alias(r, x);
    if (!y)
        return -1;
    if (fuse) {
        p->act = act;
        p->act_p = *ap;
        return 0;
    }
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_ACTIVATION, name, x->layer);
    l.act = act;
    l.act_p = *ap;
    int idx = rd_add_layer(r, &l);
    if (idx < 0)
        return -1;
    y->layer = idx;
    return 0;
}

/* A float attribute into *v; 1 when present. */
static int attr_has_f(reader *r, const char *name, float *v)
{
    const Onnx__AttributeProto *a = rd_attr(r, name);
    if (!a || !a->has_f)
        return 0;
    *v = a->f;
    return 1;
}

int rd_act_named(reader *r, const char *op)
{
    onnx_act_attrs at = {0};
    char buf[32], why[CD_ERR_MSG_MAX / 4];
    at.has_alpha = attr_has_f(r, "alpha", &at.alpha);
    at.has_beta = attr_has_f(r, "beta", &at.beta);
    at.has_gamma = attr_has_f(r, "gamma", &at.gamma);
    at.approximate = rd_attr_s(r, "approximate", buf, sizeof buf);
    layer_act act;
    layer_act_params ap;
    int rc = onnx_act_import(op, &at, &act, &ap, why, sizeof why);
    if (rc < 0)
        return rd_fail(r, CD_ERR_UNSUPPORTED, why);
    if (rc == 0)
        return 0;
    return rd_act(r, act, &ap) != 0 ? -1 : 1;
}

int rd_mul_swish(reader *r)
{
    val *a = rd_input(r, 0), *b = a ? rd_input(r, 1) : NULL;
    if (!b)
        return -1;
    for (int k = 0; k < 2; k++) {
        val *x = k ? b : a, *g = k ? a : b;
        if ((x->kind != V_MAP && x->kind != V_VEC) || g->kind != x->kind || g->uses != 1 ||
            g->layer < 0 || x->layer < 0)
            continue;
        layer *gl = &r->m->layers[g->layer];
        if (gl->kind != LAYER_ACTIVATION ||
            (gl->act != ACT_SIGMOID && gl->act != ACT_HARD_SIGMOID6) || gl->n_inputs != 1 ||
            gl->inputs[0] != x->layer)
            continue;
        /* x * hardsigmoid(x) is PyTorch's Hardswish before opset 14 */
        layer_set_act(gl, gl->act == ACT_SIGMOID ? ACT_SWISH : ACT_HARD_SWISH);
        return rd_alias(r, g) ? 1 : -1;
    }
    return 0;
}

int rd_prelu(reader *r)
{
    val *x = rd_input(r, 0), *sv = x ? rd_const_input(r, 1, 0) : NULL;
    if (!sv)
        return -1;
    if ((x->kind != V_MAP && x->kind != V_VEC) || (x->kind == V_VEC && x->chw))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "wants a feature map or a vector input");
    int map = x->kind == V_MAP, h = map ? x->h : 1, w = map ? x->w : 1;
    int64_t sd[3] = {1, 1, 1}; /* slope as (C, H, W), left-padded with 1 */
    if (sv->rank > 3 + (sv->rank == 4 && sv->dims[0] == 1))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "slope of rank %d", sv->rank);
    for (int k = 0; k < sv->rank && k < 3; k++)
        sd[2 - k] = sv->dims[sv->rank - 1 - k];
    if (!map && sv->rank >= 1) { /* a vector: the slope's last dim is the channels */
        sd[0] = sv->dims[sv->rank - 1];
        sd[1] = sd[2] = 1;
    }
    if ((sd[0] != 1 && sd[0] != x->c) || (sd[1] != 1 && sd[1] != h) || (sd[2] != 1 && sd[2] != w))
        NODE_FAIL(r, CD_ERR_SHAPE, "slope does not broadcast over (%d, %d, %d)", x->c, h, w);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_PRELU, name, x->layer);
    int ah = (int)sd[1], aw = (int)sd[2], ac = (int)sd[0];
    l.shared_axes = map ? (ah == 1 ? 1 : 0) | (aw == 1 ? 2 : 0) | (ac == 1 ? 4 : 0)
                        : (ac == 1 ? 1 : 0);
    int d3[3] = {ah, aw, ac};
    l.params[0] = map ? tensor_new(3, d3, r->err) : tensor_new(1, &ac, r->err);
    if (!l.params[0])
        return -1;
    l.n_params = 1;
    for (int c = 0; c < ac; c++)
        for (int i = 0; i < ah; i++)
            for (int j = 0; j < aw; j++)
                l.params[0]->data[((size_t)i * aw + j) * ac + c] =
                    sv->f[((size_t)c * ah + i) * aw + j];
    int idx = rd_add_layer(r, &l);
    val *y = idx < 0 ? NULL : rd_alias(r, x);
    if (!y)
        return -1;
    y->layer = idx;
    return 0;
}

int rd_clip(reader *r)
{
    int has[2] = {0, 0};
    float b[2] = {0.0f, 0.0f};
    static const char *const names[2] = {"min", "max"};
    for (int k = 0; k < 2; k++) {
        if (r->opset < 11) {
            has[k] = attr_has_f(r, names[k], &b[k]);
            continue;
        }
        if (r->node->n_input <= (size_t)k + 1 || !r->node->input[k + 1][0])
            continue;
        val *c = rd_const_input(r, (size_t)k + 1, 0);
        if (!c)
            return -1;
        if (c->n != 1)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "Clip's %s is not a scalar", names[k]);
        has[k] = 1;
        b[k] = c->f[0];
    }
    layer_act act;
    layer_act_params ap;
    char why[CD_ERR_MSG_MAX / 4];
    if (onnx_act_clip(has[0], b[0], has[1], b[1], &act, &ap, why, sizeof why) != 0)
        return rd_fail(r, CD_ERR_UNSUPPORTED, why);
    return rd_act(r, act, &ap);
}
