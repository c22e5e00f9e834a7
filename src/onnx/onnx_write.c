/*
 * onnx_write.c - a catdog model as an ONNX graph (see onnx.h).
 *
 * Every layer becomes one or a few NCHW nodes, named after the layer, whose
 * output value carries the layer's name (made unique, as every value and node
 * name is, by onnx_write_names.c); weights are converted once (HWIO to OIHW;
 * Dense kernels stay [in, out] with Gemm's transB = 0).  All protobuf
 * pieces come from one arena, packed with protobuf-c and freed together.
 */
#include "onnx/onnx.h"
#include "engine/op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "onnx/onnx_internal.h"
#include "onnx/onnx_write.h"

/* ONNX pads [top, left, bottom, right] for a window over a layer's input. */
static void window_pads(const layer *l, const layer *in, int kh, int kw, int64_t pads[4])
{
    memset(pads, 0, 4 * sizeof *pads);
    if (l->padding != PAD_SAME)
        return;
    int k[2] = {kh, kw}, size[2] = {in->out_h, in->out_w};
    for (int d = 0; d < 2; d++) {
        int s = l->strides[d];
        int out = (size[d] + s - 1) / s;
        int total = (out - 1) * s + k[d] - size[d];
        if (total < 0)
            total = 0;
        pads[d] = total / 2;
        pads[d + 2] = total - total / 2;   /* TensorFlow puts the odd pixel at the end */
    }
}

/* 1 when layer i is a ZeroPadding2D whose one consumer is a VALID
 * convolution: its pads go into that Conv's (as PyTorch writes padding), and
 * no Pad node is written. */
static int zeropad_folds(const model *m, int i)
{
    if (m->layers[i].kind != LAYER_ZEROPAD2D || i == model_output_index(m))
        return 0;
    int users = 0, conv = -1;
    for (int j = i + 1; j < m->n_layers; j++)
        for (int k = 0; k < m->layers[j].n_inputs; k++)
            if (m->layers[j].inputs[k] == i) {
                users++;
                conv = j;
            }
    if (users != 1)
        return 0;
    const layer *c = &m->layers[conv];
    return (c->kind == LAYER_CONV2D || c->kind == LAYER_DEPTHWISE_CONV2D) && c->padding == PAD_VALID;
}

/* One Conv node: an HWIO kernel (kh, kw, ci, co) of `group` groups, written as
 * ONNX's OIHW; the bias when not NULL. */
typedef struct conv_spec {
    const float *hwio, *bias;
    int kh, kw, ci, co, group;
    const char *wname, *bname;
    int64_t strides[2], dil[2], pads[4];
} conv_spec;

static int conv_node(onnx_writer *w, const char *name, const conv_spec *s, const char *x, const char *y)
{
    size_t size = (size_t)s->kh * s->kw * s->ci * s->co;
    float *oihw = onnx_arena_alloc(&w->arena, size * sizeof *oihw);
    if (!oihw)
        return ow_oom(w);
    /* The HWIO kernel of a grouped conv is (kh, kw, C/g, O): the transpose
     * gives ONNX's (O, C/g, kh, kw) as it stands. */
    for (int a = 0; a < s->kh; a++)
        for (int b = 0; b < s->kw; b++)
            for (int i = 0; i < s->ci; i++)
                for (int o = 0; o < s->co; o++)
                    oihw[(((size_t)o * s->ci + i) * s->kh + a) * s->kw + b] =
                        s->hwio[(((size_t)a * s->kw + b) * s->ci + i) * s->co + o];
    int64_t wd[4] = {s->co, s->ci, s->kh, s->kw}, bd[1] = {s->co};
    if (ow_init_tensor(w, s->wname, 1, oihw, size, wd, 4) != 0)
        return -1;
    if (s->bias && ow_init_tensor(w, s->bname, 1, s->bias, (size_t)s->co, bd, 1) != 0)
        return -1;
    const char *ins[] = {x, s->wname, s->bias ? s->bname : NULL, NULL};
    Onnx__NodeProto *n = ow_node(w, "Conv", name, ins, y);
    int64_t ks[2] = {s->kh, s->kw};
    if (!n || ow_attr_ints(w, n, "kernel_shape", ks, 2) != 0 ||
        ow_attr_ints(w, n, "strides", s->strides, 2) != 0 || ow_attr_ints(w, n, "pads", s->pads, 4) != 0 ||
        ((s->dil[0] > 1 || s->dil[1] > 1) && ow_attr_ints(w, n, "dilations", s->dil, 2) != 0) ||
        (s->group > 1 && ow_attr_int(w, n, "group", s->group) != 0))
        return -1;
    return 0;
}

static int write_conv(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y)
{
    const tensor *k = l->params[0];
    /* From the layer, not the tensor: a DepthwiseConv2D keeps Keras' (kh, kw,
     * C, multiplier), the same memory as (kh, kw, 1, C * multiplier). */
    conv_spec s = {.hwio = k->data, .bias = l->use_bias ? l->params[1]->data : NULL,
                   .kh = k->dims[0], .kw = k->dims[1], .ci = in->out_c / layer_groups(l),
                   .co = l->filters, .group = layer_groups(l),
                   .wname = ow_value(w, l->name, "/kernel"),
                   .bname = l->use_bias ? ow_value(w, l->name, "/bias") : "",
                   .strides = {l->strides[0], l->strides[1]},
                   .dil = {layer_dilation(l, 0), layer_dilation(l, 1)}};
    const char *pre = l->act == ACT_LINEAR ? y : ow_value(w, l->name, "/conv");
    if (!s.wname || !s.bname || !pre)
        return -1;
    window_pads(l, in, (int)((s.kh - 1) * s.dil[0] + 1), (int)((s.kw - 1) * s.dil[1] + 1), s.pads);
    if (zeropad_folds(w->m, l->inputs[0])) {   /* VALID: pads[] are 0 */
        s.pads[0] = in->pad4[0], s.pads[1] = in->pad4[2], s.pads[2] = in->pad4[1], s.pads[3] = in->pad4[3];
    }
    if (conv_node(w, l->name, &s, x, pre) != 0)
        return -1;
    return l->act == ACT_LINEAR ? 0 : ow_act_node(w, l, l->act, pre, y);
}

/* SeparableConv2D: the depthwise Conv (group = C, C * multiplier outputs;
 * Keras' (kh, kw, C, multiplier) kernel is the memory of a grouped
 * (kh, kw, 1, C * multiplier) one) with the layer's strides, padding and
 * dilation, then the pointwise 1x1 Conv with the bias, then the activation. */
static int write_separable(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y)
{
    int mult = l->depth_multiplier > 1 ? l->depth_multiplier : 1, mid = in->out_c * mult;
    conv_spec d = {.hwio = l->params[0]->data, .kh = l->kernel[0], .kw = l->kernel[1], .ci = 1,
                   .co = mid, .group = in->out_c, .wname = ow_value(w, l->name, "/depthwise_kernel"),
                   .strides = {l->strides[0], l->strides[1]},
                   .dil = {layer_dilation(l, 0), layer_dilation(l, 1)}};
    conv_spec p = {.hwio = l->params[1]->data, .bias = l->use_bias ? l->params[2]->data : NULL,
                   .kh = 1, .kw = 1, .ci = mid, .co = l->filters, .group = 1,
                   .wname = ow_value(w, l->name, "/pointwise_kernel"),
                   .bname = l->use_bias ? ow_value(w, l->name, "/bias") : "",
                   .strides = {1, 1}, .dil = {1, 1}};
    const char *dname = ow_value(w, l->name, "/depthwise");
    const char *pre = l->act == ACT_LINEAR ? y : ow_value(w, l->name, "/conv");
    if (!d.wname || !p.wname || !p.bname || !dname || !pre)
        return -1;
    window_pads(l, in, (int)((d.kh - 1) * d.dil[0] + 1), (int)((d.kw - 1) * d.dil[1] + 1), d.pads);
    if (conv_node(w, dname, &d, x, dname) != 0 || conv_node(w, l->name, &p, dname, pre) != 0)
        return -1;
    return l->act == ACT_LINEAR ? 0 : ow_act_node(w, l, l->act, pre, y);
}

static int write_pool(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y)
{
    const char *ins[] = {x, NULL};
    Onnx__NodeProto *n = ow_node(w, l->kind == LAYER_MAXPOOL2D ? "MaxPool" : "AveragePool", l->name,
                              ins, y);
    int64_t ks[2] = {l->pool[0], l->pool[1]}, st[2] = {l->strides[0], l->strides[1]}, pads[4];
    window_pads(l, in, l->pool[0], l->pool[1], pads);
    /* AveragePool's count_include_pad defaults to 0: padding excluded, as Keras does. */
    if (!n || ow_attr_ints(w, n, "kernel_shape", ks, 2) != 0 || ow_attr_ints(w, n, "strides", st, 2) != 0 ||
        ow_attr_ints(w, n, "pads", pads, 4) != 0)
        return -1;
    return 0;
}

static int write_dense(onnx_writer *w, const layer *l, const char *x, const char *y)
{
    const tensor *k = l->params[0];
    const char *wname = ow_value(w, l->name, "/kernel");
    const char *bname = l->use_bias ? ow_value(w, l->name, "/bias") : "";
    const char *pre = l->act == ACT_LINEAR ? y : ow_value(w, l->name, "/gemm");
    if (!wname || !bname || !pre)
        return -1;
    int64_t wd[2] = {k->dims[0], k->dims[1]}, bd[1] = {k->dims[1]};
    if (ow_init_tensor(w, wname, 1, k->data, k->size, wd, 2) != 0)
        return -1;
    if (l->use_bias && ow_init_tensor(w, bname, 1, l->params[1]->data, (size_t)k->dims[1], bd, 1) != 0)
        return -1;
    const char *ins[] = {x, wname, l->use_bias ? bname : NULL, NULL};
    if (!ow_node(w, "Gemm", l->name, ins, pre))
        return -1;
    return l->act == ACT_LINEAR ? 0 : ow_act_node(w, l, l->act, pre, y);
}

/* Flatten of an NHWC map: Keras flattens (h, w, c), ONNX's Flatten of NCHW
 * (c, h, w); a Transpose to NHWC first keeps the next Dense's rows valid. */
static int write_flatten(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y)
{
    const char *src = x;
    if (in->out_rank == 4 && (in->out_h > 1 || in->out_w > 1)) {
        const char *t = ow_value(w, l->name, "/nhwc");
        const char *ins[] = {x, NULL};
        Onnx__NodeProto *n = t ? ow_node(w, "Transpose", t, ins, t) : NULL;
        int64_t perm[4] = {0, 2, 3, 1};
        if (!n || ow_attr_ints(w, n, "perm", perm, 4) != 0)
            return -1;
        src = t;
    }
    const char *ins[] = {src, NULL};
    Onnx__NodeProto *n = ow_node(w, "Flatten", l->name, ins, y);
    return n ? ow_attr_int(w, n, "axis", 1) : -1;
}

/* BatchNormalization with the moving statistics (ONNX's inference form):
 * gamma and beta, which a Keras layer may lack, become ones and zeros. */
static int write_batchnorm(onnx_writer *w, const layer *l, const char *x, const char *y)
{
    int k = 0, c = l->out_c;
    const float *gamma = l->scale ? l->params[k++]->data : NULL;
    const float *beta = l->center ? l->params[k++]->data : NULL;
    const float *mean = l->params[k]->data, *var = l->params[k + 1]->data;
    float *fill = gamma && beta ? NULL : onnx_arena_alloc(&w->arena, 2 * (size_t)c * sizeof *fill);
    if (!(gamma && beta) && !fill)
        return ow_oom(w);
    for (int j = 0; fill && j < c; j++)
        fill[j] = 1.0f;   /* fill[c..2c) stays 0 (the arena zeroes) */
    const float *data[4] = {gamma ? gamma : fill, beta ? beta : fill + c, mean, var};
    static const char *const suffix[4] = {"/gamma", "/beta", "/moving_mean", "/moving_variance"};
    const char *ins[6] = {x, NULL, NULL, NULL, NULL, NULL};
    int64_t dims[1] = {c};
    for (int j = 0; j < 4; j++) {
        const char *name = ow_value(w, l->name, suffix[j]);
        if (!name)
            return -1;
        if (ow_init_tensor(w, name, 1, data[j], (size_t)c, dims, 1) != 0)
            return -1;
        ins[j + 1] = name;
    }
    Onnx__NodeProto *n = ow_node(w, "BatchNormalization", l->name, ins, y);
    return n ? ow_attr_float(w, n, "epsilon", l->epsilon) : -1;
}

/* Rescaling's scale (k = 0) or offset (k = 1) as an initializer: a scalar
 * when it is the same on every channel, else (1, C, 1, 1) for a map (NCHW)
 * or (C) for a vector, both broadcasting along the channels. */
static const char *rescale_const(onnx_writer *w, const layer *l, int k, const char *suffix)
{
    int C = l->out_c, same = 1;
    for (int c = 1; c < C; c++)
        same &= layer_rescale(l, k, c) == layer_rescale(l, k, 0);
    if (same)
        return ow_scalar(w, l->name, suffix, layer_rescale(l, k, 0));
    const char *name = ow_value(w, l->name, suffix);
    float *data = onnx_arena_alloc(&w->arena, (size_t)C * sizeof *data);
    if (!name || !data) {
        ow_oom(w);
        return NULL;
    }
    for (int c = 0; c < C; c++)
        data[c] = layer_rescale(l, k, c);
    const int64_t d4[4] = {1, C, 1, 1}, d1[1] = {C};
    int map = l->out_rank == 4;
    return ow_init_tensor(w, name, 1, data, (size_t)C, map ? d4 : d1, map ? 4 : 1) == 0 ? name
                                                                                       : NULL;
}

static int write_layer(onnx_writer *w, int i)
{
    const model *m = w->m;
    const layer *l = &m->layers[i];
    const layer *in = l->n_inputs ? &m->layers[l->inputs[0]] : NULL;
    const char *x = in ? w->value[l->inputs[0]] : NULL;
    /* The output value carries the layer's name where no value has it yet
     * (ow_value); an Input, a Dropout and a folded ZeroPadding2D write no
     * node (the cases below set their value). */
    int passes = l->kind == LAYER_INPUT || l->kind == LAYER_DROPOUT ||
                 (l->kind == LAYER_ZEROPAD2D && zeropad_folds(m, i));
    const char *y = passes ? NULL : ow_value(w, l->name, "");
    if (!passes && !y)
        return -1;
    w->value[i] = y;
    switch (l->kind) {
    case LAYER_INPUT:
        w->value[i] = "input";
        return 0;
    case LAYER_CONV2D:
    case LAYER_DEPTHWISE_CONV2D:   /* Conv with group = C */
        return write_conv(w, l, in, x, y);
    case LAYER_MAXPOOL2D:
    case LAYER_AVGPOOL2D:
        return write_pool(w, l, in, x, y);
    case LAYER_GLOBAL_AVGPOOL2D:
    case LAYER_GLOBAL_MAXPOOL2D: {
        /* ONNX keeps the 1x1 map; catdog's global pools give (N, C) vectors. */
        const char *map = l->keepdims ? y : ow_value(w, l->name, "/map");
        const char *ins[] = {x, NULL}, *ins2[] = {map, NULL};
        if (!map || !ow_node(w, l->kind == LAYER_GLOBAL_AVGPOOL2D ? "GlobalAveragePool" : "GlobalMaxPool",
                          l->name, ins, map))
            return -1;
        if (l->keepdims)    /* (N, 1, 1, C) in catdog, (N, C, 1, 1) in ONNX */
            return 0;
        Onnx__NodeProto *n = ow_node(w, "Flatten", ow_fmt(w, l->name, "/flatten"), ins2, y);
        return n ? ow_attr_int(w, n, "axis", 1) : -1;
    }
    case LAYER_FLATTEN:
        return write_flatten(w, l, in, x, y);
    case LAYER_DENSE:
        return write_dense(w, l, x, y);
    case LAYER_ACTIVATION:
        return ow_act_node(w, l, l->act, x, y);
    case LAYER_DROPOUT:
        /* Identity at inference: the value is passed on unchanged. */
        w->value[i] = x;
        return 0;
    case LAYER_CONCAT: {
        const char *ins[LAYER_MAX_INPUTS + 1] = {0};
        for (int j = 0; j < l->n_inputs; j++)
            ins[j] = w->value[l->inputs[j]];
        Onnx__NodeProto *n = ow_node(w, "Concat", l->name, ins, y);
        return n ? ow_attr_int(w, n, "axis", 1) : -1;
    }
    case LAYER_ADD:
    case LAYER_AVERAGE:
    case LAYER_MAXIMUM: {
        /* Sum, Mean and Max are variadic in ONNX; elementwise, so NCHW changes nothing. */
        const char *ins[LAYER_MAX_INPUTS + 1] = {0};
        for (int j = 0; j < l->n_inputs; j++)
            ins[j] = w->value[l->inputs[j]];
        const char *op = l->kind == LAYER_ADD ? "Sum" : l->kind == LAYER_AVERAGE ? "Mean" : "Max";
        return ow_node(w, op, l->name, ins, y) ? 0 : -1;
    }
    case LAYER_SUBTRACT:
    case LAYER_MULTIPLY: {
        /* Sub and Mul are binary: a chain, the last link named after the layer.
         * A Multiply broadcasting a channel vector over a map: one Mul. */
        int v = ow_bcast_vec(m, l);
        if (v >= 0)
            return ow_multiply_bcast(w, l, v, y);
        const char *acc = w->value[l->inputs[0]];
        for (int j = 1; j < l->n_inputs; j++) {
            char part[24];
            snprintf(part, sizeof part, "/partial%d", j);
            const char *out = j + 1 == l->n_inputs ? y : ow_value(w, l->name, part);
            const char *ins[] = {acc, w->value[l->inputs[j]], NULL};
            if (!out || !ow_node(w, l->kind == LAYER_SUBTRACT ? "Sub" : "Mul", out == y ? l->name : out, ins, out))
                return -1;
            acc = out;
        }
        return 0;
    }
    case LAYER_PRELU: {
        /* PRelu broadcasts slope from the right over NCHW: Keras' (ah, aw, ac)
         * becomes (ac, ah, aw); a vector's alpha (ac) stays */
        const tensor *a = l->params[0];
        int ah = a->rank == 3 ? a->dims[0] : 1, aw = a->rank == 3 ? a->dims[1] : 1;
        int ac = a->rank == 3 ? a->dims[2] : a->dims[0];
        float *t = onnx_arena_alloc(&w->arena, a->size * sizeof *t);
        const char *sname = ow_value(w, l->name, "/slope");
        if (!t || !sname)
            return ow_oom(w);
        for (int h = 0; h < ah; h++)
            for (int ww = 0; ww < aw; ww++)
                for (int c = 0; c < ac; c++)
                    t[((size_t)c * ah + h) * aw + ww] = a->data[((size_t)h * aw + ww) * ac + c];
        int64_t d3[3] = {ac, ah, aw}, d1[1] = {ac};
        if (ow_init_tensor(w, sname, 1, t, a->size, a->rank == 3 ? d3 : d1, a->rank == 3 ? 3 : 1))
            return -1;
        const char *ins[] = {x, sname, NULL};
        return ow_node(w, "PRelu", l->name, ins, y) ? 0 : -1;
    }
    case LAYER_BATCHNORM:
        return write_batchnorm(w, l, x, y);
    case LAYER_RESCALING: {
        /* x * scale + offset; Mul and Add broadcast a scalar over any rank,
         * per-channel constants as (1, C, 1, 1) over NCHW maps */
        int offsets = 0;
        for (int c = 0; c < l->out_c; c++)
            offsets |= layer_rescale(l, 1, c) != 0.0f;
        const char *sc = rescale_const(w, l, 0, "/scale");
        const char *mul = offsets ? ow_value(w, l->name, "/mul") : y;
        const char *ins[] = {x, sc, NULL};
        if (!sc || !mul || !ow_node(w, "Mul", mul, ins, mul))
            return sc && !mul ? ow_oom(w) : -1;
        if (mul == y)
            return 0;
        const char *off = rescale_const(w, l, 1, "/offset");
        const char *ins2[] = {mul, off, NULL};
        return off && ow_node(w, "Add", l->name, ins2, y) ? 0 : -1;
    }
    case LAYER_ZEROPAD2D: {
        if (zeropad_folds(w->m, i)) {   /* written as the next Conv's pads */
            w->value[i] = x;
            return 0;
        }
        /* pad4 is (top, bottom, left, right); ONNX wants all begins, then all
         * ends.  From opset 18 the pads name their axes (H, W): besides being
         * shorter, a Pad with `axes` is one ONNX Runtime's PadFusion leaves
         * alone, and that pass folds a zero Pad into a following MaxPool's
         * pads, which MaxPool fills with -inf, not 0 (README, ONNX). */
        int with_axes = w->opset >= 18;
        int64_t *pads = onnx_arena_alloc(&w->arena, 10 * sizeof *pads);
        const char *pname = ow_value(w, l->name, "/pads");
        const char *aname = with_axes ? ow_value(w, l->name, "/axes") : "";
        if (!pads || !pname || !aname)
            return ow_oom(w);
        int64_t n = with_axes ? 4 : 8, *v = with_axes ? pads : pads + 2;
        v[0] = l->pad4[0], v[1] = l->pad4[2], v[n / 2] = l->pad4[1], v[n / 2 + 1] = l->pad4[3];
        pads[8] = 2, pads[9] = 3;
        const int64_t two[1] = {2};
        if (ow_init_tensor(w, pname, 0, pads, (size_t)n, &n, 1) != 0 ||
            (with_axes && ow_init_tensor(w, aname, 0, pads + 8, 2, two, 1) != 0))
            return -1;
        /* mode "constant" and value 0 are the defaults ("" = input absent) */
        const char *ins[] = {x, pname, with_axes ? "" : NULL, aname, NULL};
        return ow_node(w, "Pad", l->name, ins, y) ? 0 : -1;
    }
    case LAYER_CROPPING2D:
    case LAYER_CENTER_CROP: {   /* its shape inference filled pad4 */
        int64_t *v = onnx_arena_alloc(&w->arena, 6 * sizeof *v);
        const char *st = ow_value(w, l->name, "/starts"), *en = ow_value(w, l->name, "/ends");
        const char *ax = ow_value(w, l->name, "/axes");
        if (!v || !st || !en || !ax)
            return ow_oom(w);
        v[0] = l->pad4[0], v[1] = l->pad4[2];
        v[2] = in->out_h - l->pad4[1], v[3] = in->out_w - l->pad4[3];
        v[4] = 2, v[5] = 3;
        const int64_t two[1] = {2};
        if (ow_init_tensor(w, st, 0, v, 2, two, 1) != 0 || ow_init_tensor(w, en, 0, v + 2, 2, two, 1) != 0 ||
            ow_init_tensor(w, ax, 0, v + 4, 2, two, 1) != 0)
            return -1;
        const char *ins[] = {x, st, en, ax, NULL};
        return ow_node(w, "Slice", l->name, ins, y) ? 0 : -1;
    }
    case LAYER_RESHAPE:
        return ow_reshape(w, l, in, x, y);
    case LAYER_NORMALIZATION:
        return ow_normalization(w, l, x, y);
    case LAYER_RESIZING:
        return ow_resizing(w, l, x, y);
    case LAYER_SEPARABLE_CONV2D:
        return write_separable(w, l, in, x, y);
    case LAYER_KIND_COUNT:
        break;
    }
    return cd_err_set(w->err, CD_ERR_UNSUPPORTED, "layer '%s' (%s) cannot be exported to ONNX yet", l->name,
                      layer_op_of(l->kind)->keras_class);
}

/* A graph input/output: float32 [N, dims...] with N named "N" (dynamic). */
static Onnx__ValueInfoProto *value_info(onnx_writer *w, const char *name, const int64_t *dims, size_t k)
{
    onnx_arena *a = &w->arena;
    Onnx__ValueInfoProto *vi = onnx_arena_alloc(a, sizeof *vi);
    Onnx__TypeProto *tp = onnx_arena_alloc(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = onnx_arena_alloc(a, sizeof *tt);
    Onnx__TensorShapeProto *sh = onnx_arena_alloc(a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dl = onnx_arena_alloc(a, (k + 1) * sizeof *dl);
    if (!vi || !tp || !tt || !sh || !dl) {
        ow_oom(w);
        return NULL;
    }
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (size_t i = 0; i <= k; i++) {
        Onnx__TensorShapeProto__Dimension *d = onnx_arena_alloc(a, sizeof *d);
        if (!d) {
            ow_oom(w);
            return NULL;
        }
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i - 1];
        }
        dl[i] = d;
    }
    sh->dim = dl;
    sh->n_dim = k + 1;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* The graph's tail: output "p_dog" [N, 1] from the output layer's value. */
static int write_output(onnx_writer *w)
{
    int o = model_output_index(w->m);
    const layer *l = &w->m->layers[o];
    size_t units = layer_out_size(l);
    if (l->out_rank != 2 || (units != 1 && units != 2))
        return cd_err_set(w->err, CD_ERR_UNSUPPORTED,
                          "model '%s': output layer '%s' gives %zu values per image; ONNX export "
                          "wants a classifier head of 1 (sigmoid) or 2 (softmax) units",
                          w->m->name, l->name, units);
    const char *x = w->value[o];
    if (units == 1) {
        const char *ins[] = {x, NULL};
        return ow_node(w, "Identity", "p_dog", ins, "p_dog") ? 0 : -1;
    }
    /* Two softmax units (cat, dog): the dog column. */
    static const int64_t starts[1] = {1}, ends[1] = {2}, axes[1] = {1}, one[1] = {1};
    const char *st = ow_value(w, "p_dog", "/starts"), *en = ow_value(w, "p_dog", "/ends");
    const char *ax = ow_value(w, "p_dog", "/axes");
    if (!st || !en || !ax || ow_init_tensor(w, st, 0, starts, 1, one, 1) != 0 ||
        ow_init_tensor(w, en, 0, ends, 1, one, 1) != 0 || ow_init_tensor(w, ax, 0, axes, 1, one, 1) != 0)
        return -1;
    const char *ins[] = {x, st, en, ax, NULL};
    return ow_node(w, "Slice", "p_dog", ins, "p_dog") ? 0 : -1;
}

static Onnx__StringStringEntryProto *meta(onnx_writer *w, const char *k, const char *v)
{
    Onnx__StringStringEntryProto *e = onnx_arena_alloc(&w->arena, sizeof *e);
    if (!e) {
        ow_oom(w);
        return NULL;
    }
    onnx__string_string_entry_proto__init(e);
    e->key = onnx_arena_strdup(&w->arena, k);
    e->value = onnx_arena_strdup(&w->arena, v);
    return e->key && e->value ? e : NULL;
}

unsigned char *onnx_save_memory(const model *m, const onnx_save_opts *opts, size_t *len, cd_err *err)
{
    int opset = opts && opts->opset ? opts->opset : ONNX_OPSET_DEFAULT;
    if (opset < ONNX_OPSET_MIN || opset > ONNX_OPSET_MAX) {
        cd_err_set(err, CD_ERR_INVALID, "ONNX opset %d is not supported (%d to %d)", opset,
                   ONNX_OPSET_MIN, ONNX_OPSET_MAX);
        return NULL;
    }
    if (m->n_layers < 1 || m->layers[0].kind != LAYER_INPUT || m->layers[0].out_c <= 0) {
        cd_err_set(err, CD_ERR_INVALID, "model '%s' has no input layer with inferred shapes", m->name);
        return NULL;
    }
    onnx_writer w = {.m = m, .opset = opset, .err = err};
    unsigned char *buf = NULL;
    w.value = calloc((size_t)m->n_layers, sizeof *w.value);
    if (!w.value) {
        ow_oom(&w);
        return NULL;
    }
    /* The graph's own names first: no layer can take them. */
    if (!ow_value(&w, "input", "") || ow_define(&w, "input") != 0 || !ow_value(&w, "p_dog", ""))
        goto done;
    for (int i = 0; i < m->n_layers; i++)
        if (write_layer(&w, i) != 0)
            goto done;
    if (write_output(&w) != 0)
        goto done;

    const layer *in = &m->layers[0];
    int64_t in_dims[3] = {in->out_c, in->out_h, in->out_w};
    int64_t out_dims[1] = {1};
    Onnx__ValueInfoProto *gi = value_info(&w, "input", in_dims, 3);
    Onnx__ValueInfoProto *go = value_info(&w, "p_dog", out_dims, 1);
    Onnx__GraphProto *g = onnx_arena_alloc(&w.arena, sizeof *g);
    Onnx__ModelProto *mp = onnx_arena_alloc(&w.arena, sizeof *mp);
    Onnx__OperatorSetIdProto *os = onnx_arena_alloc(&w.arena, sizeof *os);
    Onnx__OperatorSetIdProto **osl = onnx_arena_alloc(&w.arena, sizeof *osl);
    Onnx__ValueInfoProto **gil = onnx_arena_alloc(&w.arena, sizeof *gil);
    Onnx__ValueInfoProto **gol = onnx_arena_alloc(&w.arena, sizeof *gol);
    Onnx__StringStringEntryProto **props = onnx_arena_alloc(&w.arena, 2 * sizeof *props);
    if (!gi || !go || !g || !mp || !os || !osl || !gil || !gol || !props) {
        ow_oom(&w);
        goto done;
    }
    if (!(props[0] = meta(&w, "catdog_preprocess", cd_preprocess_name(m->preprocess))) ||
        !(props[1] = meta(&w, "catdog_arch", m->arch))) {
        ow_oom(&w);
        goto done;
    }
    onnx__graph_proto__init(g);
    g->name = (char *)m->name;
    g->node = w.nodes;
    g->n_node = w.n_nodes;
    g->initializer = w.inits;
    g->n_initializer = w.n_inits;
    gil[0] = gi;
    gol[0] = go;
    g->input = gil;
    g->n_input = 1;
    g->output = gol;
    g->n_output = 1;
    onnx__operator_set_id_proto__init(os);
    os->domain = "";
    os->has_version = 1;
    os->version = opset;
    osl[0] = os;
    onnx__model_proto__init(mp);
    mp->has_ir_version = 1;
    mp->ir_version = onnx_ir_version_for_opset(opset);
    mp->opset_import = osl;
    mp->n_opset_import = 1;
    mp->producer_name = "catdog";
    mp->graph = g;
    mp->metadata_props = props;
    mp->n_metadata_props = 2;

    size_t n = onnx__model_proto__get_packed_size(mp);
    if (n > ONNX_MAX_FILE_BYTES) {
        cd_err_set(err, CD_ERR_LIMIT, "model '%s' is %zu bytes as ONNX, over protobuf's 2 GiB",
                   m->name, n);
        goto done;
    }
    buf = malloc(n ? n : 1);
    if (!buf) {
        ow_oom(&w);
        goto done;
    }
    *len = onnx__model_proto__pack(mp, buf);
done:
    free(w.value);
    onnx_arena_free(&w.arena);
    return buf;
}

int onnx_save(const model *m, const char *path, const onnx_save_opts *opts, cd_err *err)
{
    size_t len = 0;
    unsigned char *buf = onnx_save_memory(m, opts, &len, err);
    if (!buf) {
        cd_err_wrap(err, "%s", path);
        return -1;
    }
    int rc = cd_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
