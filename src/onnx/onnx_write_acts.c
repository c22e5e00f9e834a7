/*
 * onnx_write_acts.c - a catdog activation as ONNX nodes: one op where ONNX
 * has it at the chosen opset (the table in onnx_acts.c), else a small chain of
 * elementary ops computing the same function (see onnx_write.h).
 */
#include "onnx/onnx_write.h"

#include <stdio.h>
#include <string.h>

/* One node `op` of layer l on inputs `ins` (NULL-terminated), named
 * l->name + suffix and written to `out` when this is the chain's last link,
 * else to a new value l->name + suffix (ow_value) named alike; the value's
 * name or NULL. */
static const char *link_n(onnx_writer *w, const layer *l, const char *op, const char *const *ins,
                          const char *suffix, const char *out)
{
    const char *v = out ? out : ow_value(w, l->name, suffix);
    if (!v)
        return NULL;
    return ow_node(w, op, out ? ow_fmt(w, l->name, suffix) : v, ins, v) ? v : NULL;
}

/* link_n on inputs a (and b). */
static const char *link(onnx_writer *w, const layer *l, const char *op, const char *a,
                        const char *b, const char *suffix, const char *out)
{
    const char *ins[] = {a, b, NULL};
    return link_n(w, l, op, ins, suffix, out);
}

/* Gelu before opset 20: 0.5 x (1 + erf(x / sqrt 2)), or with the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), in the
 * order engine/ref_act.c computes them. */
static int gelu_chain(onnx_writer *w, const layer *l, int approx, const char *x, const char *out)
{
    const char *one = ow_scalar(w, l->name, "/gelu_one", 1.0f);
    const char *half = ow_scalar(w, l->name, "/gelu_half_c", 0.5f);
    if (!one || !half)
        return -1;
    const char *arg;
    if (!approx) {
        const char *c = ow_scalar(w, l->name, "/gelu_rsqrt2", 0.70710678118654752f);
        arg = c ? link(w, l, "Mul", x, c, "/gelu_scaled", NULL) : NULL;
        arg = arg ? link(w, l, "Erf", arg, NULL, "/gelu_erf", NULL) : NULL;
    } else {
        const char *c = ow_scalar(w, l->name, "/gelu_c", 0.044715f);
        const char *k = ow_scalar(w, l->name, "/gelu_sqrt_2_pi", 0.79788456080286536f);
        const char *x2 = c && k ? link(w, l, "Mul", x, x, "/gelu_x2", NULL) : NULL;
        const char *x3 = x2 ? link(w, l, "Mul", x2, x, "/gelu_x3", NULL) : NULL;
        const char *cx3 = x3 ? link(w, l, "Mul", x3, c, "/gelu_cx3", NULL) : NULL;
        const char *in = cx3 ? link(w, l, "Add", x, cx3, "/gelu_inner", NULL) : NULL;
        arg = in ? link(w, l, "Mul", in, k, "/gelu_scaled", NULL) : NULL;
        arg = arg ? link(w, l, "Tanh", arg, NULL, "/gelu_tanh", NULL) : NULL;
    }
    const char *p = arg ? link(w, l, "Add", arg, one, "/gelu_1p", NULL) : NULL;
    const char *h = p ? link(w, l, "Mul", x, half, "/gelu_half", NULL) : NULL;
    return h && link(w, l, "Mul", h, p, "/act", out) ? 0 : -1;
}

/* Keras' ReLU(negative_slope, max_value, threshold) as engine/ref_act.c
 * computes it: a = x > t ? x : 0, clipped to [0, max], minus
 * slope * relu(t - x). */
static int relu_x_chain(onnx_writer *w, const layer *l, const char *x, const char *out)
{
    const layer_act_params *p = &l->act_p;
    int clip = p->max_value >= 0.0f, slope = p->alpha != 0.0f;
    const char *a;
    if (p->threshold != 0.0f) {
        const char *t = ow_scalar(w, l->name, "/relu_threshold", p->threshold);
        const char *zero = ow_scalar(w, l->name, "/relu_zero", 0.0f);
        const char *gt = t && zero ? link(w, l, "Greater", x, t, "/relu_pass", NULL) : NULL;
        const char *ins[] = {gt, x, zero, NULL};
        int last = !clip && !slope;
        if (!gt || !(a = link_n(w, l, "Where", ins, last ? "/act" : "/relu", last ? out : NULL)))
            return -1;
    } else {
        a = link(w, l, "Relu", x, NULL, clip || slope ? "/relu" : "/act", clip || slope ? NULL : out);
    }
    if (a && clip) {
        const char *lo = ow_scalar(w, l->name, "/clip_min", 0.0f);
        const char *hi = ow_scalar(w, l->name, "/clip_max", p->max_value);
        const char *ins[] = {a, lo, hi, NULL};
        if (!lo || !hi || !(a = link_n(w, l, "Clip", ins, slope ? "/clip" : "/act", slope ? NULL : out)))
            return -1;
    }
    if (a && slope) {
        const char *t = ow_scalar(w, l->name, "/relu_t", p->threshold);
        const char *al = ow_scalar(w, l->name, "/relu_slope", p->alpha);
        const char *n = t && al ? link(w, l, "Sub", t, x, "/relu_below", NULL) : NULL;
        const char *r = n ? link(w, l, "Relu", n, NULL, "/relu_neg", NULL) : NULL;
        const char *s = r ? link(w, l, "Mul", r, al, "/relu_leak", NULL) : NULL;
        a = s ? link(w, l, "Sub", a, s, "/act", out) : NULL;
    }
    return a ? 0 : -1;
}

/* Softmax over the channels of a feature map before opset 13 (where Softmax
 * flattens every axis from `axis` on): to NHWC, softmax over the last axis,
 * back to NCHW. */
static int softmax_map_chain(onnx_writer *w, const layer *l, const char *x, const char *out)
{
    static const int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};
    const char *t = link(w, l, "Transpose", x, NULL, "/nhwc", NULL);
    Onnx__NodeProto *n = t ? w->nodes[w->n_nodes - 1] : NULL;
    if (!n || ow_attr_ints(w, n, "perm", to_nhwc, 4) != 0)
        return -1;
    const char *s = link(w, l, "Softmax", t, NULL, "/softmax", NULL);
    if (!s || ow_attr_int(w, w->nodes[w->n_nodes - 1], "axis", 3) != 0)
        return -1;
    if (!link(w, l, "Transpose", s, NULL, "/act", out))
        return -1;
    return ow_attr_ints(w, w->nodes[w->n_nodes - 1], "perm", to_nchw, 4);
}

/* x * HardSigmoid(x; 1/6, 1/2): HardSwish before opset 14. */
static int hard_swish_chain(onnx_writer *w, const layer *l, const char *x, const char *out)
{
    const char *g = link(w, l, "HardSigmoid", x, NULL, "/gate", NULL);
    Onnx__NodeProto *n = g ? w->nodes[w->n_nodes - 1] : NULL;
    if (!n || ow_attr_float(w, n, "alpha", 1.0f / 6.0f) != 0 || ow_attr_float(w, n, "beta", 0.5f) != 0)
        return -1;
    return link(w, l, "Mul", x, g, "/act", out) ? 0 : -1;
}

int ow_act_node(onnx_writer *w, const layer *l, layer_act act, const char *in, const char *out)
{
    if (act == ACT_LINEAR) {
        const char *ins[] = {in, NULL};
        return ow_node(w, "Identity", ow_fmt(w, l->name, "/identity"), ins, out) ? 0 : -1;
    }
    /* Where the opset has no single op (or onnx_acts.c no spelling): a chain. */
    if ((act == ACT_GELU || act == ACT_GELU_TANH) && w->opset < 20)
        return gelu_chain(w, l, act == ACT_GELU_TANH, in, out);
    if (act == ACT_HARD_SWISH && w->opset < 14)
        return hard_swish_chain(w, l, in, out);
    if (act == ACT_RELU_X && (l->act_p.threshold != 0.0f || l->act_p.alpha != 0.0f ||
                              l->act_p.max_value < 0.0f))
        return relu_x_chain(w, l, in, out);
    if (act == ACT_SOFTMAX && l->out_rank == 4 && w->opset < 13)
        return softmax_map_chain(w, l, in, out);
    onnx_act_form f;
    char why[CD_ERR_MSG_MAX / 4];
    if (onnx_act_export(act, &l->act_p, w->opset, &f, why, sizeof why) != 0)
        return cd_err_set(w->err, CD_ERR_UNSUPPORTED, "layer '%s': %s", l->name, why);
    const char *ins[4] = {in, NULL, NULL, NULL};
    int clip_inputs = strcmp(f.op, "Clip") == 0 && w->opset >= 11;
    if (clip_inputs) {
        const char *lo = ow_value(w, l->name, "/clip_min"), *hi = ow_value(w, l->name, "/clip_max");
        /* the tensors point at their data until the file is packed: not the stack */
        float *bounds = onnx_arena_alloc(&w->arena, 2 * sizeof *bounds);
        if (!bounds)
            return ow_oom(w);
        bounds[0] = f.clip_min;
        bounds[1] = f.clip_max;
        const int64_t no_dims[1] = {1}; /* scalars: rank 0 (init_tensor copies 0 dims) */
        if (!lo || !hi || ow_init_tensor(w, lo, 1, &bounds[0], 1, no_dims, 0) != 0 ||
            ow_init_tensor(w, hi, 1, &bounds[1], 1, no_dims, 0) != 0)
            return -1;
        ins[1] = lo;
        ins[2] = hi;
    }
    const char *act_out = f.mul_input ? ow_value(w, l->name, "/gate") : out;
    if (!act_out)
        return -1;
    Onnx__NodeProto *n = ow_node(w, f.op, ow_fmt(w, l->name, "/act"), ins, act_out);
    if (!n)
        return -1;
    if (act == ACT_SOFTMAX && ow_attr_int(w, n, "axis", 1) != 0)
        return -1;
    for (int k = 0; k < 2; k++)
        if (f.attr[k] && ow_attr_float(w, n, f.attr[k], f.val[k]) != 0)
            return -1;
    if (f.approximate && ow_attr_string(w, n, "approximate", f.approximate) != 0)
        return -1;
    if (strcmp(f.op, "Clip") == 0 && !clip_inputs &&
        (ow_attr_float(w, n, "min", f.clip_min) != 0 || ow_attr_float(w, n, "max", f.clip_max) != 0))
        return -1;
    if (f.mul_input) {
        const char *mins[] = {in, act_out, NULL};
        if (!ow_node(w, "Mul", ow_fmt(w, l->name, "/mul"), mins, out))
            return -1;
    }
    return 0;
}

