/*
 * onnx_read_conv.c - ONNX's window operators onto engine layers: Conv (OIHW
 * weights converted to HWIO once), MaxPool/AveragePool, the global poolings,
 * BatchNormalization folded into the Conv or Gemm before it, and the zero Pad
 * PyTorch writes before some poolings.
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_read.h"

/* How a window's ONNX padding maps onto the engine: VALID (no pads),
 * TensorFlow's SAME (the engine's padded mode), or explicit zero padding
 * (a ZeroPadding2D layer) before a VALID window; `pads` is (top, left,
 * bottom, right) as ONNX orders them. */
typedef struct win_pad {
    layer_pad mode;
    int explicit_;
    int pads[4];
} win_pad;

/* The padding of the current node's window (span kh x kw after dilation,
 * strides sh x sw) over x; ceil_mode (pools) may add pixels at the end. */
static int window_padding(reader *r, const val *x, int kh, int kw, int sh, int sw, int ceil_mode,
                          win_pad *out)
{
    char ap[32] = "NOTSET";
    rd_attr_s(r, "auto_pad", ap, sizeof ap);
    memset(out, 0, sizeof *out);
    if (strcmp(ap, "VALID") == 0) {
        out->mode = PAD_VALID;
        return 0;
    }
    if (strcmp(ap, "SAME_UPPER") == 0) {
        out->mode = PAD_SAME;
        return 0;
    }
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "SAME_LOWER") != 0)
        NODE_FAIL(r, CD_ERR_FORMAT, "auto_pad '%s' is not an ONNX mode", ap);
    int64_t pads[5] = {0};
    size_t np = rd_attr_ints(r, "pads", pads, 5);
    if (np != 0 && np != 4)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "pads has %zu values; 2-D windows have 4", np);
    int k[2] = {kh, kw}, s[2] = {sh, sw}, in[2] = {x->h, x->w};
    int same[4];
    for (int d = 0; d < 2; d++) {
        int o = (in[d] + s[d] - 1) / s[d];
        int total = (o - 1) * s[d] + k[d] - in[d];
        if (total < 0)
            total = 0;
        int lo = strcmp(ap, "SAME_LOWER") == 0 ? total - total / 2 : total / 2;
        same[d] = lo;
        same[d + 2] = total - lo;
    }
    int p[4];
    if (strcmp(ap, "SAME_LOWER") == 0) {
        memcpy(p, same, sizeof p);
    } else {
        for (int j = 0; j < 4; j++) {
            if (pads[j] < 0 || pads[j] > 4096)
                NODE_FAIL(r, CD_ERR_UNSUPPORTED, "pads (%lld, %lld, %lld, %lld) out of 0 to 4096",
                          (long long)pads[0], (long long)pads[1], (long long)pads[2],
                          (long long)pads[3]);
            p[j] = (int)pads[j];
        }
    }
    /* ceil_mode: one more window when the last partial one starts inside the
     * input or its start padding (ONNX's and PyTorch's rule); the pixels it
     * reaches past the end are padding, which pools leave out. */
    for (int d = 0; d < 2 && ceil_mode; d++) {
        int span = in[d] + p[d] + p[d + 2] - k[d];
        if (span < 0 || span % s[d] == 0)
            continue;
        int o = span / s[d] + 2;
        if ((o - 1) * s[d] >= in[d] + p[d])
            o--;
        int extra = (o - 1) * s[d] + k[d] - (in[d] + p[d] + p[d + 2]);
        if (extra > 0)
            p[d + 2] += extra;
    }
    if (!p[0] && !p[1] && !p[2] && !p[3]) {
        out->mode = PAD_VALID;
        return 0;
    }
    if (p[0] == same[0] && p[1] == same[1] && p[2] == same[2] && p[3] == same[3]) {
        out->mode = PAD_SAME;
        return 0;
    }
    out->mode = PAD_VALID;
    out->explicit_ = 1;
    memcpy(out->pads, p, sizeof p);
    return 0;
}

/* A ZeroPadding2D layer over x for explicit pads; *px describes its output
 * (a value of no ONNX name: the window's real input). */
static int zero_pad(reader *r, const val *x, const win_pad *wp, val *px)
{
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "/pad", name);
    layer l = layer_template(LAYER_ZEROPAD2D, name, x->layer);
    l.pad4[0] = wp->pads[0];   /* top, bottom, left, right */
    l.pad4[1] = wp->pads[2];
    l.pad4[2] = wp->pads[1];
    l.pad4[3] = wp->pads[3];
    int idx = rd_add_layer(r, &l);
    if (idx < 0)
        return -1;
    *px = *x;
    px->layer = idx;
    px->h = x->h + wp->pads[0] + wp->pads[2];
    px->w = x->w + wp->pads[1] + wp->pads[3];
    return 0;
}

int rd_window_out(int in, int k, int s, layer_pad p)
{
    return p == PAD_SAME ? (in + s - 1) / s : (in - k) / s + 1;
}

int rd_no_dilation(reader *r)
{
    int64_t d[3];
    size_t nd = rd_attr_ints(r, "dilations", d, 2);
    for (size_t i = 0; i < nd && i < 2; i++)
        if (d[i] != 1)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "dilations other than 1 are not supported");
    return 0;
}

/* Conv with a 1x1 kernel, group 1 and no padding on a (N, C, 1, 1) vector
 * (strides and dilations change nothing there): a Dense layer whose [in, out]
 * kernel is the transposed (O, I, 1, 1) weight.  Its output stays (N, O, 1, 1). */
static int conv_on_vector(reader *r, val *x)
{
    val *wv = rd_const_input(r, 1, 0), *b = NULL;
    if (!wv)
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(b = rd_const_input(r, 2, 0)))
        return -1;
    int64_t pads[4] = {0, 0, 0, 0};
    size_t np = rd_attr_ints(r, "pads", pads, 4);
    char ap[32];
    const char *autopad = rd_attr_s(r, "auto_pad", ap, sizeof ap);
    if (rd_attr_i(r, "group", 1) != 1 || np > 4 || pads[0] || pads[1] || pads[2] || pads[3] ||
        (autopad && strcmp(autopad, "NOTSET") != 0 && strcmp(autopad, "VALID") != 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "on a (N, C, 1, 1) vector only a 1x1 Conv with group 1 and no padding is "
                  "supported");
    if (wv->rank != 4 || wv->dims[1] != x->c || wv->dims[0] < 1 || wv->dims[0] > (1 << 20) ||
        wv->dims[2] != 1 || wv->dims[3] != 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight is not (O, %d, 1, 1) on a (N, %d, 1, 1) vector", x->c,
                  x->c);
    int co = (int)wv->dims[0], ci = x->c;
    if (b && (b->rank != 1 || b->dims[0] != co))
        NODE_FAIL(r, CD_ERR_SHAPE, "bias does not have %d values", co);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_DENSE, name, x->layer);
    l.units = co;
    l.use_bias = b != NULL;
    int kd[2] = {ci, co};
    if (!(l.params[0] = tensor_new(2, kd, r->err)))
        return -1;
    l.n_params = 1;
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            l.params[0]->data[(size_t)i * co + o] = wv->f[(size_t)o * ci + i];
    if (b) {
        int bd[1] = {co};
        if (!(l.params[1] = tensor_new(1, bd, r->err))) {
            tensor_free(l.params[0]);
            return -1;
        }
        memcpy(l.params[1]->data, b->f, (size_t)co * sizeof(float));
        l.n_params = 2;
    }
    val *y = rd_emit(r, &l, V_VEC, co, 1, 1);
    if (!y)
        return -1;
    y->rank4 = 1;
    return 0;
}

/* Conv: groups (depthwise when group = C), dilations, any pads (explicit
 * ones become a ZeroPadding2D layer before a VALID convolution). */
int rd_conv(reader *r)
{
    val *x = rd_input(r, 0), *wv, *b = NULL;
    /* A 1x1 Conv on a pooled (N, C, 1, 1) vector (the excitation branch of
     * squeeze-and-excitation) is a Dense layer: same numbers, and the engine
     * keeps such vectors as (N, C). */
    if (x && x->kind == V_VEC && x->rank4)
        return conv_on_vector(r, x);
    if (!x || rd_want_map(r, x) != 0 || !(wv = rd_const_input(r, 1, 0)))
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(b = rd_const_input(r, 2, 0)))
        return -1;
    int64_t g = rd_attr_i(r, "group", 1);
    if (g < 1 || g > x->c || x->c % g)
        NODE_FAIL(r, CD_ERR_FORMAT, "group %lld does not divide the %d input channels",
                  (long long)g, x->c);
    int ci = x->c / (int)g;
    if (wv->rank != 4 || wv->dims[1] != ci || wv->dims[0] < 1 || wv->dims[0] % g ||
        wv->dims[2] < 1 || wv->dims[3] < 1 || wv->dims[2] > 4096 || wv->dims[3] > 4096)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight is not (O, %d, kh, kw) with O a multiple of group %lld",
                  ci, (long long)g);
    int co = (int)wv->dims[0], kh = (int)wv->dims[2], kw = (int)wv->dims[3];
    if (b && (b->rank != 1 || b->dims[0] != co))
        NODE_FAIL(r, CD_ERR_SHAPE, "bias does not have %d values", co);
    int64_t st[3] = {1, 1}, dil[3] = {1, 1};
    if (rd_attr_ints(r, "strides", st, 2) > 2 || st[0] < 1 || st[1] < 1 || st[0] > 64 || st[1] > 64)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "strides must be two values from 1 to 64");
    if (rd_attr_ints(r, "dilations", dil, 2) > 2 || dil[0] < 1 || dil[1] < 1 || dil[0] > 1024 ||
        dil[1] > 1024)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "dilations must be two values from 1 to 1024");
    int eh = (kh - 1) * (int)dil[0] + 1, ew = (kw - 1) * (int)dil[1] + 1;
    win_pad wp;
    if (window_padding(r, x, eh, ew, (int)st[0], (int)st[1], 0, &wp) != 0)
        return -1;
    val px;
    if (wp.explicit_) {
        if (zero_pad(r, x, &wp, &px) != 0)
            return -1;
        x = &px;
    }
    int oh = rd_window_out(x->h, eh, (int)st[0], wp.mode), ow = rd_window_out(x->w, ew, (int)st[1], wp.mode);
    if (oh < 1 || ow < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "input %dx%d is smaller than the kernel %dx%d", x->h, x->w, eh, ew);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_CONV2D, name, x->layer);
    l.filters = co;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    l.groups = (int)g;
    l.dilation[0] = (int)dil[0];
    l.dilation[1] = (int)dil[1];
    l.padding = wp.mode;
    l.use_bias = b != NULL;
    int kd[4] = {kh, kw, ci, co};
    l.params[0] = tensor_new(4, kd, r->err);
    if (!l.params[0])
        return -1;
    l.n_params = 1;
    /* OIHW -> HWIO, once; with groups, I is the channel within the group in
     * both layouts, so the same transpose holds. */
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            for (int a = 0; a < kh; a++)
                for (int c = 0; c < kw; c++)
                    l.params[0]->data[(((size_t)a * kw + c) * ci + i) * co + o] =
                        wv->f[(((size_t)o * ci + i) * kh + a) * kw + c];
    if (b) {
        int bd[1] = {co};
        if (!(l.params[1] = tensor_new(1, bd, r->err))) {
            tensor_free(l.params[0]);
            return -1;
        }
        memcpy(l.params[1]->data, b->f, (size_t)co * sizeof(float));
        l.n_params = 2;
    }
    return rd_emit(r, &l, V_MAP, co, oh, ow) ? 0 : -1;
}

/* Whether layer i's outputs are never negative, so that zero padding before
 * a max pool changes nothing: after a ReLU or a sigmoid, and through the
 * layers that keep that (max pooling, padding, a non-negative scale and
 * offset, sums and concatenations of such values).  `depth` bounds the walk. */
static int layer_non_negative(const model *m, int i, int depth)
{
    const layer *p = &m->layers[i];
    if (p->act == ACT_RELU || p->act == ACT_SIGMOID)
        return 1;
    if (depth <= 0 || p->act != ACT_LINEAR || p->n_inputs < 1)
        return 0;
    /* (no switch with a default over kinds: a new kind is not non-negative
     * preserving until listed here) */
    layer_kind k = p->kind;
    if (k == LAYER_RESCALING) {
        for (int c = 0; c < p->out_c; c++)
            if (layer_rescale(p, 0, c) < 0 || layer_rescale(p, 1, c) < 0)
                return 0;
    } else if (k == LAYER_BATCHNORM) {
        /* the reader's per-channel scale: gamma, beta, mean 0, variance 1 */
        if (p->n_params != 4 || !p->scale || !p->center)
            return 0;
        for (size_t c = 0; c < p->params[0]->size; c++)
            if (p->params[0]->data[c] < 0 || p->params[1]->data[c] < 0 ||
                p->params[2]->data[c] != 0)
                return 0;
    } else if (k != LAYER_MAXPOOL2D && k != LAYER_AVGPOOL2D && k != LAYER_ZEROPAD2D &&
               k != LAYER_DROPOUT && k != LAYER_ADD && k != LAYER_CONCAT && k != LAYER_MAXIMUM &&
               k != LAYER_AVERAGE) {
        return 0;
    }
    for (int j = 0; j < p->n_inputs; j++)
        if (!layer_non_negative(m, p->inputs[j], depth - 1))
            return 0;
    return 1;
}

static int non_negative(reader *r, const val *x)
{
    return layer_non_negative(r->m, x->layer, 8);
}

int rd_pool(reader *r, layer_kind kind)
{
    val *x = rd_input(r, 0);
    if (!x || rd_want_map(r, x) != 0 || rd_no_dilation(r) != 0)
        return -1;
    int64_t ks[3] = {0}, st[3] = {1, 1};
    if (rd_attr_ints(r, "kernel_shape", ks, 2) != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > x->h ||
        ks[1] > x->w)
        NODE_FAIL(r, CD_ERR_SHAPE, "kernel_shape must be two values within the %dx%d input", x->h, x->w);
    if (rd_attr_ints(r, "strides", st, 2) > 2 || st[0] < 1 || st[1] < 1 || st[0] > 64 || st[1] > 64)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "strides must be two values from 1 to 64");
    if (rd_attr_i(r, "storage_order", 0) != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "storage_order 1 is not supported");
    win_pad wp;
    if (window_padding(r, x, (int)ks[0], (int)ks[1], (int)st[0], (int)st[1],
                       rd_attr_i(r, "ceil_mode", 0) != 0, &wp) != 0)
        return -1;
    int include_pad = kind == LAYER_AVGPOOL2D && rd_attr_i(r, "count_include_pad", 0);
    if (include_pad && wp.mode == PAD_SAME) {
        /* averaging the zeros too: that is zero padding, not the engine's SAME */
        int64_t pads[5] = {0};
        rd_attr_ints(r, "pads", pads, 5);
        char ap[32] = "NOTSET";
        if (rd_attr_s(r, "auto_pad", ap, sizeof ap) && strcmp(ap, "NOTSET") != 0)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "count_include_pad 1 with auto_pad is not supported");
        wp.mode = PAD_VALID;
        wp.explicit_ = 1;
        for (int j = 0; j < 4; j++)
            wp.pads[j] = (int)pads[j];
    }
    if (wp.explicit_) {
        /* Zero padding is exact for a max pool over non-negative values and
         * for an average that counts the padding; not otherwise. */
        if (kind == LAYER_MAXPOOL2D && !non_negative(r, x))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "pads (%d, %d, %d, %d) are not TensorFlow's SAME and the input may be "
                      "negative (zero padding would change the maximum)",
                      wp.pads[0], wp.pads[1], wp.pads[2], wp.pads[3]);
        if (kind == LAYER_AVGPOOL2D && !include_pad)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "pads (%d, %d, %d, %d) are not TensorFlow's SAME, and count_include_pad 0 "
                      "leaves them out of the average",
                      wp.pads[0], wp.pads[1], wp.pads[2], wp.pads[3]);
    }
    val px;
    if (wp.explicit_) {
        if (zero_pad(r, x, &wp, &px) != 0)
            return -1;
        x = &px;
    }
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(kind, name, x->layer);
    l.pool[0] = (int)ks[0];
    l.pool[1] = (int)ks[1];
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    l.padding = wp.mode;
    int oh = rd_window_out(x->h, l.pool[0], l.strides[0], l.padding);
    int ow = rd_window_out(x->w, l.pool[1], l.strides[1], l.padding);
    if (oh < 1 || ow < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "input %dx%d is smaller than the window %dx%d", x->h, x->w,
                  l.pool[0], l.pool[1]);
    return rd_emit(r, &l, V_MAP, x->c, oh, ow) ? 0 : -1;
}

int rd_global_pool(reader *r, layer_kind kind)
{
    val *x = rd_input(r, 0);
    if (!x || rd_want_map(r, x) != 0)
        return -1;
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(kind, name, x->layer);
    val *y = rd_emit(r, &l, V_VEC, x->c, 1, 1);
    if (!y)
        return -1;
    y->rank4 = 1;
    return 0;
}

/* BatchNormalization (inference) folded into the Conv or Gemm/MatMul before
 * it, once: y = (x - mean) * scale / sqrt(var + eps) + b.  Only when that
 * layer is its only reader and has no activation yet (Conv -> BN -> ReLU). */
int rd_batchnorm(reader *r)
{
    val *x = rd_input(r, 0), *sc, *bb, *mean, *var;
    if (!x || !(sc = rd_const_input(r, 1, 0)) || !(bb = rd_const_input(r, 2, 0)) ||
        !(mean = rd_const_input(r, 3, 0)) || !(var = rd_const_input(r, 4, 0)))
        return -1;
    if (rd_attr_i(r, "training_mode", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "training_mode 1 is not supported");
    layer *p = x->kind == V_MAP || x->kind == V_VEC ? &r->m->layers[x->layer] : NULL;
    if (!p || (p->kind != LAYER_CONV2D && p->kind != LAYER_DENSE) || p->act != ACT_LINEAR ||
        x->uses != 1 || (x->kind == V_VEC && x->rank4))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op BatchNormalization (opset %d) is supported only right after a Conv or Gemm "
                  "it can be folded into",
                  r->opset);
    int C = p->kind == LAYER_CONV2D ? p->filters : p->units;
    if (sc->n != (size_t)C || bb->n != (size_t)C || mean->n != (size_t)C || var->n != (size_t)C)
        NODE_FAIL(r, CD_ERR_SHAPE, "statistics do not have %d values", C);
    double eps = rd_attr_f(r, "epsilon", 1e-5f);
    if (!p->use_bias) {
        int bd[1] = {C};
        if (!(p->params[1] = tensor_new(1, bd, r->err)))
            return -1;
        p->n_params = 2;
        p->use_bias = 1;
    }
    tensor *k = p->params[0], *b = p->params[1];
    for (int o = 0; o < C; o++) {
        double v = var->f[o] + eps;
        if (!(v > 0))
            NODE_FAIL(r, CD_ERR_FORMAT, "variance + epsilon of channel %d is not positive", o);
        double s = sc->f[o] / sqrt(v);
        b->data[o] = (float)((b->data[o] - mean->f[o]) * s + bb->f[o]);
    }
    /* HWIO conv kernels and [in, out] dense kernels both end in the output channel. */
    for (size_t i = 0; i < k->size; i++) {
        int o = (int)(i % (size_t)C);
        k->data[i] = (float)(k->data[i] * (sc->f[o] / sqrt((double)var->f[o] + eps)));
    }
    return rd_alias(r, x) ? 0 : -1;
}

