/*
 * onnx_read_conv.c - ONNX's window operators onto engine layers: Conv (OIHW
 * weights converted to HWIO once), MaxPool/AveragePool, the global poolings,
 * BatchNormalization folded into the Conv or Gemm before it, and the zero Pad
 * PyTorch writes before some poolings.
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_read.h"

/* Engine padding for ONNX pads/auto_pad on a window over an h x w map: VALID
 * (no pads) or TensorFlow's SAME (the engine's only padded mode). */
static int window_padding(reader *r, const val *x, int kh, int kw, int sh, int sw, layer_pad *out)
{
    char ap[32] = "NOTSET";
    rd_attr_s(r, "auto_pad", ap, sizeof ap);
    if (strcmp(ap, "VALID") == 0) {
        *out = PAD_VALID;
        return 0;
    }
    if (strcmp(ap, "SAME_UPPER") == 0) {
        *out = PAD_SAME;
        return 0;
    }
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "SAME_LOWER") != 0)
        NODE_FAIL(r, CD_ERR_FORMAT, "auto_pad '%s' is not an ONNX mode", ap);
    int64_t pads[5] = {0};
    size_t np = rd_attr_ints(r, "pads", pads, 5);
    if (np != 0 && np != 4)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "pads has %zu values; 2-D windows have 4", np);
    int k[2] = {kh, kw}, s[2] = {sh, sw}, in[2] = {x->h, x->w};
    int64_t same[4];
    for (int d = 0; d < 2; d++) {
        int o = (in[d] + s[d] - 1) / s[d];
        int total = (o - 1) * s[d] + k[d] - in[d];
        if (total < 0)
            total = 0;
        int lo = strcmp(ap, "SAME_LOWER") == 0 ? total - total / 2 : total / 2;
        same[d] = lo;
        same[d + 2] = total - lo;
    }
    if (strcmp(ap, "SAME_LOWER") == 0) {
        if (same[0] != same[2] || same[1] != same[3])
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "auto_pad SAME_LOWER pads the start here; the engine pads the end");
        *out = PAD_SAME;
        return 0;
    }
    if (!pads[0] && !pads[1] && !pads[2] && !pads[3]) {
        *out = PAD_VALID;
        return 0;
    }
    if (pads[0] == same[0] && pads[1] == same[1] && pads[2] == same[2] && pads[3] == same[3]) {
        *out = PAD_SAME;
        return 0;
    }
    NODE_FAIL(r, CD_ERR_UNSUPPORTED,
              "pads (%lld, %lld, %lld, %lld) on a %dx%d input are neither 0 nor TensorFlow's SAME "
              "(%lld, %lld, %lld, %lld), the engine's two padding modes",
              (long long)pads[0], (long long)pads[1], (long long)pads[2], (long long)pads[3], x->h,
              x->w, (long long)same[0], (long long)same[1], (long long)same[2], (long long)same[3]);
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

int rd_conv(reader *r)
{
    val *x = rd_input(r, 0), *wv, *b = NULL;
    if (!x || rd_want_map(r, x) != 0 || !(wv = rd_const_input(r, 1, 0)))
        return -1;
    if (r->node->n_input > 2 && r->node->input[2][0] && !(b = rd_const_input(r, 2, 0)))
        return -1;
    if (rd_attr_i(r, "group", 1) != 1)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "grouped convolution (group %lld) is not supported",
                  (long long)rd_attr_i(r, "group", 1));
    if (rd_no_dilation(r) != 0)
        return -1;
    if (wv->rank != 4 || wv->dims[1] != x->c || wv->dims[0] < 1 || wv->dims[2] < 1 || wv->dims[3] < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "weight is not (O, %d, kh, kw)", x->c);
    int co = (int)wv->dims[0], ci = x->c, kh = (int)wv->dims[2], kw = (int)wv->dims[3];
    if (b && (b->rank != 1 || b->dims[0] != co))
        NODE_FAIL(r, CD_ERR_SHAPE, "bias does not have %d values", co);
    int64_t st[3] = {1, 1};
    if (rd_attr_ints(r, "strides", st, 2) > 2 || st[0] < 1 || st[1] < 1 || st[0] > 64 || st[1] > 64)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "strides must be two values from 1 to 64");
    layer l;
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    l = layer_template(LAYER_CONV2D, name, x->layer);
    l.filters = co;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    if (window_padding(r, x, kh, kw, l.strides[0], l.strides[1], &l.padding) != 0)
        return -1;
    int oh = rd_window_out(x->h, kh, l.strides[0], l.padding), ow = rd_window_out(x->w, kw, l.strides[1], l.padding);
    if (oh < 1 || ow < 1)
        NODE_FAIL(r, CD_ERR_SHAPE, "input %dx%d is smaller than the kernel %dx%d", x->h, x->w, kh, kw);
    l.use_bias = b != NULL;
    int kd[4] = {kh, kw, ci, co};
    l.params[0] = tensor_new(4, kd, r->err);
    if (!l.params[0])
        return -1;
    l.n_params = 1;
    /* OIHW -> HWIO, once. */
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
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(kind, name, x->layer);
    l.pool[0] = (int)ks[0];
    l.pool[1] = (int)ks[1];
    l.strides[0] = (int)st[0];
    l.strides[1] = (int)st[1];
    if (window_padding(r, x, l.pool[0], l.pool[1], l.strides[0], l.strides[1], &l.padding) != 0)
        return -1;
    if (kind == LAYER_AVGPOOL2D && l.padding == PAD_SAME && rd_attr_i(r, "count_include_pad", 0))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "count_include_pad 1 with padding is not supported");
    int oh = rd_window_out(x->h, l.pool[0], l.strides[0], l.padding);
    int ow = rd_window_out(x->w, l.pool[1], l.strides[1], l.padding);
    if (rd_attr_i(r, "ceil_mode", 0) && l.padding == PAD_VALID &&
        ((x->h - l.pool[0]) % l.strides[0] || (x->w - l.pool[1]) % l.strides[1]))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "ceil_mode 1 changes the output size here; not supported");
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

/* Pad: PyTorch writes a zero Pad before some AveragePools; only that folds. */
int rd_pad(reader *r)
{
    val *p = rd_const_input(r, 1, 1);
    if (!p)
        return -1;
    for (size_t k = 0; k < p->n; k++)
        if (p->i[k] != 0)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) with non-zero pads is not supported",
                      r->opset);
    return rd_identity(r);
}

