/*
 * dnnl_plan.c - compiles a model into oneDNN forward primitives for one batch
 * size and runs them (see dnnl_plan.h for what a plan holds and why).  The
 * backward half of a training plan is built in dnnl_plan_bwd.c.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* TensorFlow's output size and padding for one spatial dimension: VALID takes
 * only full windows; SAME gives ceil(in / s) outputs and pads the total needed,
 * the odd pixel at the end (so pad_l and pad_r may differ). */
int dn_tf_padding(int in, int k, int s, layer_pad pad, dnnl_dim_t *pl, dnnl_dim_t *pr)
{
    int out;
    if (pad == PAD_SAME) {
        out = (in + s - 1) / s;
        int total = (out - 1) * s + k - in;
        if (total < 0)
            total = 0;
        *pl = total / 2;
        *pr = total - total / 2;
    } else {
        out = in >= k ? (in - k) / s + 1 : 0;
        *pl = 0;
        *pr = 0;
    }
    return out;
}

int dn_act_uses_dst(layer_act a)
{
    return a == ACT_RELU || a == ACT_SIGMOID || a == ACT_TANH;
}

int dn_act_chain(layer_act a, const layer_act_params *ap, int use_dst, dn_elt *out)
{
    layer_act_params def = layer_act_defaults(a);
    const layer_act_params *q = ap ? ap : &def;
    const float lowest = -3.402823466e38f;
    switch (a) {
    case ACT_LINEAR: case ACT_SOFTMAX: case ACT_COUNT:
        return 0;
    case ACT_RELU:
        out[0] = (dn_elt){use_dst ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_relu, 0, 0};
        return 1;
    case ACT_SIGMOID:
        out[0] = (dn_elt){use_dst ? dnnl_eltwise_logistic_use_dst_for_bwd : dnnl_eltwise_logistic,
                          0, 0};
        return 1;
    case ACT_TANH:
        out[0] = (dn_elt){use_dst ? dnnl_eltwise_tanh_use_dst_for_bwd : dnnl_eltwise_tanh, 0, 0};
        return 1;
    /* clip_v2, not clip: its gradient is 0 at both bounds, as the reference's */
    case ACT_RELU6: out[0] = (dn_elt){dnnl_eltwise_clip_v2, 0.0f, 6.0f}; return 1;
    case ACT_LEAKY_RELU: out[0] = (dn_elt){dnnl_eltwise_relu, q->alpha, 0}; return 1;
    case ACT_ELU: out[0] = (dn_elt){dnnl_eltwise_elu, q->alpha, 0}; return 1;
    case ACT_SELU:
        out[0] = (dn_elt){dnnl_eltwise_elu, 1.6732632423543772f, 0};
        out[1] = (dn_elt){dnnl_eltwise_linear, 1.0507009873554805f, 0};
        return 2;
    case ACT_SOFTPLUS: out[0] = (dn_elt){dnnl_eltwise_soft_relu, 1.0f, 0}; return 1;
    case ACT_SOFTSIGN: return -1;
    case ACT_HARD_SIGMOID:
        out[0] = (dn_elt){dnnl_eltwise_linear, 0.2f, 0.5f};
        out[1] = (dn_elt){dnnl_eltwise_clip_v2, 0.0f, 1.0f};
        return 2;
    case ACT_HARD_SIGMOID6:
        out[0] = (dn_elt){dnnl_eltwise_linear, 1.0f / 6.0f, 0.5f};
        out[1] = (dn_elt){dnnl_eltwise_clip_v2, 0.0f, 1.0f};
        return 2;
    case ACT_SWISH: out[0] = (dn_elt){dnnl_eltwise_swish, 1.0f, 0}; return 1;
    /* oneDNN 2.6 ignores alpha/beta here; later versions read x * clip(alpha x + beta) */
    case ACT_HARD_SWISH: out[0] = (dn_elt){dnnl_eltwise_hardswish, 1.0f / 6.0f, 0.5f}; return 1;
    case ACT_GELU: out[0] = (dn_elt){dnnl_eltwise_gelu_erf, 0, 0}; return 1;
    case ACT_GELU_TANH: out[0] = (dn_elt){dnnl_eltwise_gelu_tanh, 0, 0}; return 1;
    case ACT_EXPONENTIAL: out[0] = (dn_elt){dnnl_eltwise_exp, 0, 0}; return 1;
    case ACT_RELU_X:
        if (q->threshold != 0.0f)
            return -1;
        /* leaky relu, then the clip from above only (the negative side stays) */
        out[0] = (dn_elt){dnnl_eltwise_relu, q->alpha, 0};
        if (q->max_value < 0.0f)
            return 1;
        out[1] = (dn_elt){dnnl_eltwise_clip_v2, lowest, q->max_value};
        return 2;
    }
    return -1;
}

static int act_unsupported(const layer *l, layer_act act, cd_err *err)
{
    return cd_err_set(err, CD_ERR_UNSUPPORTED,
                      "layer '%s': activation %s%s is not available in the oneDNN backend "
                      "(run with --backend ref)",
                      l->name, layer_act_name(act),
                      act == ACT_RELU_X ? " with a threshold" : "");
}

dnnl_primitive_attr_t dn_attr_act(dn_plan *p, const dn_node *nd, const layer *l, cd_err *err)
{
    (void)p;
    dn_elt e[DN_ACT_MAX];
    dnnl_post_ops_t po = NULL;
    int n = nd->act_sep ? 0 : dn_act_chain(nd->act, nd->act_p ? nd->act_p : &l->act_p, 0, e);
    if (n < 0) {
        act_unsupported(l, nd->act, err);
        return NULL;
    }
    /* a folded residual Add (fold_adds): act(conv) + dst, then its activation */
    dn_elt se[DN_ACT_MAX];
    int sn = nd->sum_add ? dn_act_chain(nd->sum_act, nd->sum_act_p, 0, se) : 0;
    if (sn < 0) {
        act_unsupported(l, nd->sum_act, err);
        return NULL;
    }
    dnnl_primitive_attr_t attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr || (n == 0 && !nd->sum_add))
        return attr;
    DN_CHECK(dnnl_post_ops_create(&po), err, "post-ops", l->name);
    for (int k = 0; k < n; k++)
        DN_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, e[k].alg, e[k].alpha, e[k].beta), err,
                 "eltwise post-op", l->name);
    if (nd->sum_add) {
        DN_CHECK(dnnl_post_ops_append_sum(po, 1.0f), err, "sum post-op", l->name);
        for (int k = 0; k < sn; k++)
            DN_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, se[k].alg, se[k].alpha, se[k].beta),
                     err, "eltwise post-op", l->name);
    }
    DN_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), err, "attributes", l->name);
    dnnl_post_ops_destroy(po);
    return attr;
fail:
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return NULL;
}

int dn_build_act(dn_plan *p, dn_node *nd, const layer *l, layer_act act, dnnl_memory_t src,
                 const dnnl_memory_desc_t *md, cd_err *err)
{
    dn_elt e[DN_ACT_MAX];
    int use_dst = p->cfg.training && dn_act_uses_dst(act);
    int n = dn_act_chain(act, &l->act_p, use_dst, e);
    if (n < 0)
        return dn_act_composite(p, nd, l, act, src, md, err);
    nd->n_act = n;
    nd->md = *md;
    if (n == 0) {
        nd->mem = src;
        return 0;
    }
    dnnl_primitive_attr_t attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    if (!attr)
        return -1;
    for (int k = 0; k < n; k++) {
        dnnl_eltwise_desc_t d;
        DN_CHECK(dnnl_eltwise_forward_desc_init(
                     &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                     e[k].alg, md, e[k].alpha, e[k].beta),
                 err, "eltwise descriptor", l->name);
        DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL), err, "eltwise",
                 l->name);
        /* inference: later steps in place; training keeps every step's source */
        dnnl_memory_t dst = (k > 0 && !p->cfg.training) ? src
                                                        : dn_mem(&p->pool, p->cfg.eng, md, NULL, err);
        if (!dst || !dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 2, DNNL_ARG_SRC, src,
                                   DNNL_ARG_DST, dst))
            goto fail;
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        nd->act_src[k] = src;
        src = dst;
    }
    nd->mem = src;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

static dnnl_memory_t mem_none(dn_plan *p, const dnnl_memory_desc_t *md, cd_err *err)
{
    dnnl_memory_t m = NULL;
    DN_CHECK(dnnl_memory_create(&m, md, p->cfg.eng, DNNL_MEMORY_NONE), err, "memory creation",
             NULL);
    if (dn_pool_mem(&p->pool, m, err))
        return NULL;
    return m;
fail:
    return NULL;
}

/* Makes `src` available in layout `want`: the memory itself when it already is,
 * else a new buffer filled by a reorder step appended to the forward list. */
dnnl_memory_t dn_as_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                           const char *lname, cd_err *err)
{
    dnnl_memory_desc_t have = dn_mem_md(src);
    if (dn_md_equal(&have, want))
        return src;
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, src, m, 0, lname, err))
        return NULL;
    return m;
}

/* The kernel in Keras layout, wrapped in place, and its copy in layout `want`
 * (refreshed by the refresh steps; int8: quantized per output channel, the
 * channel being dimension 0 of both descriptors); sets nd->w_user (params[0],
 * unless the builder set it: SeparableConv2D's pointwise kernel) and returns
 * the copy. */
static dnnl_memory_t weights_for(dn_plan *p, dn_node *nd, const layer *l,
                                 const dnnl_memory_desc_t *user_md,
                                 const dnnl_memory_desc_t *want, const dn_quant *q, cd_err *err)
{
    if (!nd->w_user) {
        /* a folded BatchNormalization: the plan's kernel with the BN applied */
        nd->w_user = dn_mem(&p->pool, p->cfg.eng, user_md,
                            nd->fold_bn ? nd->fold_w : l->params[0]->data, err);
        if (!nd->w_user)
            return NULL;
    }
    if (dn_md_equal(user_md, want))
        return nd->w_user;
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m)
        return NULL;
    if (q->int8 ? dn_steps_reorder_scaled(&p->refresh, &p->pool, p->cfg.eng, nd->w_user, m,
                                          q->units, 1 << 0, q->w_scale, l->name, err)
                : dn_steps_reorder(&p->refresh, &p->pool, p->cfg.eng, nd->w_user, m, 0, l->name,
                                   err))
        return NULL;
    return m;
}

/* The bias, read in place; for int8 also its copy in accumulator units
 * (oneDNN 2.x adds the bias to the int32 sum before the output scale). */
static int bias_for(dn_plan *p, dn_node *nd, const layer *l, dnnl_dim_t units, const dn_quant *q,
                    cd_err *err)
{
    if (!l->use_bias && !nd->fold_bn)
        return 0;
    dnnl_memory_desc_t md;
    if (dn_md(&md, 1, &units, dnnl_a, l->name, err))
        return -1;
    /* the last parameter: Conv2D's and Dense's second, SeparableConv2D's third;
     * with a folded BatchNormalization the plan's folded bias (even where the
     * layer has none) */
    nd->b = dn_mem(&p->pool, p->cfg.eng, &md,
                   nd->fold_bn ? nd->fold_b : l->params[l->n_params - 1]->data, err);
    if (!nd->b)
        return -1;
    if (!q->int8)
        return 0;
    nd->bq = dn_mem(&p->pool, p->cfg.eng, &md, NULL, err);
    if (!nd->bq || dn_steps_reorder_scaled(&p->refresh, &p->pool, p->cfg.eng, nd->b, nd->bq, units,
                                           1 << 0, q->b_scale, l->name, err))
        return -1;
    return 0;
}

int dn_quant_for(dn_plan *p, const layer *l, dnnl_dim_t units, dn_quant *q, cd_err *err)
{
    memset(q, 0, sizeof *q);
    q->src_dt = q->w_dt = dnnl_f32;
    q->units = units;
    if (p->cfg.precision == DN_PREC_BF16) {
        q->src_dt = q->w_dt = dnnl_bf16;
        return 0;
    }
    if (p->cfg.precision != DN_PREC_INT8 || l->q_in_max == 0.0f)
        return 0;
    if (!(l->q_in_max > 0.0f) || !isfinite(l->q_in_max))
        return cd_err_set(err, CD_ERR_FORMAT,
                          "layer '%s': int8 input scale %g is not a positive number (the "
                          "calibration is damaged; run catdog quantize again)",
                          l->name, (double)l->q_in_max);
    const tensor *k = l->params[0];
    if (!k || units < 1 || k->size % (size_t)units != 0)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': kernel does not have %ld columns",
                          l->name, (long)units);
    float *buf = dn_pool_buf(&p->pool, 3 * (size_t)units * sizeof(float), err);
    if (!buf)
        return -1;
    float *ws = buf, *os = buf + units, *bs = buf + 2 * units;
    /* Keras kernels (HWIO, [in, units]) have the output channel last */
    for (size_t j = 0; j < k->size; j++) {
        float a = fabsf(k->data[j]);
        if (a > ws[j % (size_t)units])
            ws[j % (size_t)units] = a;
    }
    q->int8 = 1;
    q->src_dt = l->q_in_signed ? dnnl_s8 : dnnl_u8;
    q->w_dt = dnnl_s8;
    q->src_scale = (l->q_in_signed ? 127.0f : 255.0f) / l->q_in_max;
    const float wmax = dn_int8_weight_max(); /* 127, or 63 where oneDNN's kernels would saturate */
    for (dnnl_dim_t c = 0; c < units; c++) {
        /* symmetric: the channel's largest |w| becomes wmax; a zero channel any scale */
        ws[c] = ws[c] > 0.0f ? wmax / ws[c] : 1.0f;
        bs[c] = q->src_scale * ws[c];
        os[c] = 1.0f / bs[c];
    }
    q->w_scale = ws;
    q->out_scale = os;
    q->b_scale = bs;
    return 0;
}

dnnl_primitive_attr_t dn_weighted_attr(dn_plan *p, const dn_node *nd, const layer *l, const dn_quant *q,
                                       cd_err *err)
{
    /* the activation's post-ops (dn_attr_act), then int8's output scales */
    const char *lname = l->name;
    dnnl_primitive_attr_t attr = dn_attr_act(p, nd, l, err);
    if (!attr || !q->int8)
        return attr;
    float *os = (float *)q->out_scale;
    if (nd->qs > 0.0f) {
        /* u8 output: ReLU commutes with the positive scale, so one multiply
         * per channel brings the sum straight into the reader's units */
        os = malloc((size_t)q->units * sizeof *os);
        if (!os) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory");
            dnnl_primitive_attr_destroy(attr);
            return NULL;
        }
        for (dnnl_dim_t c = 0; c < q->units; c++)
            os[c] = q->out_scale[c] * nd->qs;
    }
    dnnl_status_t st = dnnl_primitive_attr_set_output_scales(attr, q->units, 1 << 1, os);
    if (os != q->out_scale)
        free(os);
    if (st != dnnl_success) {
        dn_fail(err, st, "output scales", lname);
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

dnnl_memory_t dn_src_as(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                        const dn_quant *q, const char *lname, cd_err *err)
{
    dnnl_memory_desc_t have = dn_mem_md(src);
    if (!q->int8 || have.data_type == dnnl_u8)
        return dn_as_layout(p, src, want, lname, err);
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m || dn_steps_reorder_scaled(&p->fwd, &p->pool, p->cfg.eng, src, m, 1, 0, &q->src_scale,
                                      lname, err))
        return NULL;
    return m;
}

int dn_check_params(const layer *l, cd_err *err)
{
    int need = l->use_bias ? 2 : 1;
    if (l->n_params < need || !l->params[0] || (l->use_bias && !l->params[1]))
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': parameters missing (run shape inference)",
                          l->name);
    return 0;
}

/* Softmax over axis 1 of `src` (channels of a map, features of a vector) into a
 * new output memory; a flattened map (4-D layout, 2-D meaning) is first copied
 * to NHWC and treated as the 2-D tensor it stands for. */
int dn_build_softmax(dn_plan *p, dn_node *nd, const layer *l, dnnl_memory_t src, int flat,
                     cd_err *err)
{
    dnnl_softmax_v2_desc_t d;
    dnnl_memory_desc_t smd = dn_mem_md(src);
    int rc = -1;

    if (flat && smd.ndims == 4 && smd.dims[2] * smd.dims[3] > 1) {
        dnnl_memory_desc_t v4, v2;
        dnnl_dims_t d2 = {smd.dims[0], smd.dims[1] * smd.dims[2] * smd.dims[3]};
        if (dn_md_plain_view(&v4, &smd, 0, 0, l->name, err) || dn_md(&v2, 2, d2, dnnl_nc, l->name, err))
            return -1;
        dnnl_memory_t m4 = dn_mem(&p->pool, p->cfg.eng, &v4, NULL, err);
        if (!m4 || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, src, m4, 0, l->name, err))
            return -1;
        nd->plain = dn_mem(&p->pool, p->cfg.eng, &v2, dn_mem_ptr(m4), err);
        if (!nd->plain)
            return -1;
        src = nd->plain;
        smd = v2;
    }
    DN_CHECK(dnnl_softmax_v2_forward_desc_init(&d, p->cfg.training ? dnnl_forward_training
                                                                   : dnnl_forward_inference,
                                               dnnl_softmax_accurate, &smd, &smd, 1),
             err, "softmax descriptor", l->name);
    if (!(nd->sm_pd = dn_pd(p->cfg.eng, &d, NULL, "softmax", l->name, err)))
        goto fail;
    nd->md = smd;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &smd, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, nd->sm_pd, l->name, err, 2, DNNL_ARG_SRC,
                                   src, DNNL_ARG_DST, nd->mem))
        goto fail;
    rc = 0;
fail:
    return rc;
}

/* Writes the main primitive's output: straight into the layer's output, or --
 * with a separate softmax -- into nd->pre followed by the softmax. */
/* A folded residual Add (fold_adds): 1 when convolution i may write into
 * the buffer of its Add's other input -- no layer from i on but the Add reads
 * a layer computed before i whose memory is that buffer (aliases, views) --
 * and that buffer has the convolution's layout. */
static int sum_in_place(const dn_plan *p, int i, const dnnl_memory_desc_t *dst_md)
{
    const dn_node *nd = &p->nodes[i], *o = &p->nodes[nd->sum_other];
    dnnl_memory_desc_t have = dn_mem_md(o->mem);
    void *buf = dn_mem_ptr(o->mem);
    if (!buf || buf == dn_mem_ptr(p->in) || !dn_md_equal(&have, dst_md))
        return 0;
    for (int k = i; k <= p->out_index; k++) {
        const layer *l = &p->m->layers[k];
        if (!p->nodes[k].needed || k == nd->sum_add)
            continue;
        for (int t = 0; t < l->n_inputs; t++) {
            int x = l->inputs[t];
            if (x >= 0 && x < i && p->nodes[x].mem && dn_mem_ptr(p->nodes[x].mem) == buf)
                return 0;
        }
    }
    return 1;
}

static dnnl_memory_t main_dst(dn_plan *p, dn_node *nd, const dnnl_memory_desc_t *dst_md,
                              cd_err *err)
{
    dnnl_memory_t m;
    int i = (int)(nd - p->nodes);
    if (nd->sum_add && sum_in_place(p, i, dst_md)) {
        /* the sum post-op adds to the other input in place: what the layers
         * sharing its buffer held is gone (runner_activation has none) */
        m = p->nodes[nd->sum_other].mem;
        void *buf = dn_mem_ptr(m);
        for (int x = 0; x < i; x++)
            if (p->nodes[x].mem && dn_mem_ptr(p->nodes[x].mem) == buf)
                p->nodes[x].overwritten = 1;
    } else {
        m = dn_mem(&p->pool, p->cfg.eng, dst_md, NULL, err);
        if (!m)
            return NULL;
        /* the sum post-op adds to a copy of the other input */
        if (nd->sum_add && dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng,
                                            p->nodes[nd->sum_other].mem, m, 0,
                                            p->m->layers[nd->sum_add].name, err))
            return NULL;
    }
    if (nd->act == ACT_SOFTMAX || nd->act_sep)
        nd->pre = m;
    else {
        nd->md = *dst_md;
        nd->mem = m;
    }
    return m;
}

/* The step shared by Conv2D and Dense once nd->fwd_pd and nd->src are set:
 * the weights (user layout user_md, wanted layout w_md) and bias memories,
 * the output (dst_md), the primitive with its arguments, and the separate
 * softmax when the layer has one.  `units` is the bias length. */
int dn_add_weighted_step(dn_plan *p, dn_node *nd, const layer *l, const dnnl_memory_desc_t *user_md,
                         const dnnl_memory_desc_t *w_md, const dnnl_memory_desc_t *dst_md, dnnl_dim_t units,
                         const dn_quant *q, cd_err *err)
{
    if (nd->fold_bn) {
        /* the kernel and bias with the BN applied, filled by refold (never int8:
         * fold_into_convs; the refresh reorder takes them as they are) */
        size_t ksize = l->params[0]->size, u = (size_t)units;
        if (q->int8)
            return cd_err_set(err, CD_ERR_INVALID,
                              "layer '%s': a BatchNormalization folded into an int8 convolution "
                              "(internal error; run with --precision f32)",
                              l->name);
        float *buf = dn_pool_buf(&p->pool, (ksize + 2 * u) * sizeof(float), err);
        if (!buf)
            return -1;
        nd->fold_w = buf;
        nd->fold_b = buf + ksize;
        nd->fold_s = buf + ksize + u;
    }
    nd->w = weights_for(p, nd, l, user_md, w_md, q, err);
    if (!nd->w || bias_for(p, nd, l, units, q, err))
        return -1;
    dnnl_memory_t dst = main_dst(p, nd, dst_md, err);
    if (!dst)
        return -1;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 3, DNNL_ARG_SRC, nd->src,
                                DNNL_ARG_WEIGHTS, nd->w, DNNL_ARG_DST, dst);
    if (!st || (nd->b && dn_step_arg(st, DNNL_ARG_BIAS, nd->bq ? nd->bq : nd->b, err)))
        return -1;
    if (nd->act == ACT_SOFTMAX && dn_build_softmax(p, nd, l, dst, 0, err))
        return -1;
    if (nd->act_sep && dn_build_act(p, nd, l, nd->act, dst, dst_md, err))
        return -1;
    return 0;
}

static int build_layer(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    nd->root = i;
    if (l->kind == LAYER_INPUT && l->n_inputs == 0) {
        if (i != 0)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "layer '%s': models with several inputs are not supported", l->name);
        dnnl_dims_t d = {p->n, l->in_c, l->in_h, l->in_w};
        if (l->in_h <= 0 || l->in_w <= 0 || l->in_c <= 0)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': input shape not set", l->name);
        if (dn_md(&nd->md, 4, d, dnnl_nhwc, l->name, err))
            return -1;
        nd->mem = p->in = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
        return nd->mem ? 0 : -1;
    }
    for (int k = 0; k < l->n_inputs; k++)
        if (l->inputs[k] < 0 || l->inputs[k] >= i || !p->nodes[l->inputs[k]].mem)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': input %d is not computed before it",
                              l->name, k);
    if (l->n_inputs < 1)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s' has no input", l->name);
    const layer_op *op = layer_op_of(l->kind);
    if (nd->folded || (op->dn_alias && op->dn_alias(p->m, i, p->cfg.training, nd->act))) {
        const dn_node *in = &p->nodes[l->inputs[nd->alias_in]];
        nd->root = in->root;
        nd->md = in->md;
        nd->mem = in->mem;
        nd->qs = in->qs;
        return 0;
    }
    if (!op->dn_forward)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': kind %s is not supported by oneDNN",
                          l->name, op->keras_class);
    return op->dn_forward(p, i, err);
}

/* Training: a convolution with ReLU read only by a max pooling becomes
 * convolution -> max pooling -> ReLU on the pooled map.  The result is the same
 * (max commutes with a non-decreasing function; gradients reach the same
 * window maximum), but ReLU's backward then runs on a map a quarter the size
 * (for 2x2 pools), not on the largest activation of the network -- measured on
 * the binary CNN at 150x150, that backward pass alone took 0.6 ms per image.
 * runner_activation still shows the convolution's output after ReLU. */
static void swap_relu_maxpool(dn_plan *p)
{
    const model *m = p->m;
    for (int i = 1; i < p->out_index; i++) {
        const layer *l = &m->layers[i];
        if (!p->nodes[i].needed || l->kind != LAYER_CONV2D || p->nodes[i].act != ACT_RELU)
            continue;
        int consumer = -1, uses = 0;
        for (int j = i + 1; j <= p->out_index; j++) {
            if (!p->nodes[j].needed)
                continue;
            for (int k = 0; k < m->layers[j].n_inputs; k++)
                if (m->layers[j].inputs[k] == i) {
                    consumer = j;
                    uses++;
                }
        }
        if (uses != 1 || (m->layers[consumer].kind != LAYER_MAXPOOL2D &&
                          m->layers[consumer].kind != LAYER_GLOBAL_MAXPOOL2D))
            continue;
        p->nodes[i].act = ACT_LINEAR;
        p->nodes[i].relu_deferred = 1;
        p->nodes[consumer].post_relu = 1;
    }
}

/* 1 for a layer that passes an int8 chain's u8 map on unchanged in scale:
 * one computing nothing at inference (Flatten, Dropout), a max pooling, a
 * channel concatenation. */
static int int8_passthrough(const dn_plan *p, int k)
{
    const layer *l = &p->m->layers[k];
    const layer_op *op = layer_op_of(l->kind);
    if (op->dn_alias && l->n_inputs == 1 && op->dn_alias(p->m, k, 0, p->nodes[k].act))
        return 1;
    return (l->kind == LAYER_MAXPOOL2D && l->n_inputs == 1) ||
           (l->kind == LAYER_CONCAT && l->out_rank == 4);
}

/* The input range of every layer that reads layer j's output (through
 * passthrough layers), when all of them are int8 layers of one unsigned
 * range; 0 when any is not, or when the output reaches the model's. */
static float int8_readers_range(const dn_plan *p, int j, int depth)
{
    const model *m = p->m;
    float range = 0.0f;
    int readers = 0;
    if (j == p->out_index || depth > 16)
        return 0.0f;
    for (int k = j + 1; k <= p->out_index; k++) {
        const layer *l = &m->layers[k];
        if (!p->nodes[k].needed)
            continue;
        int reads = 0;
        for (int t = 0; t < l->n_inputs; t++)
            reads |= l->inputs[t] == j;
        if (!reads)
            continue;
        float r;
        if (int8_passthrough(p, k))
            r = int8_readers_range(p, k, depth + 1);
        else if ((l->kind == LAYER_CONV2D || l->kind == LAYER_DENSE) && l->q_in_max > 0.0f &&
                 !l->q_in_signed && l->inputs[0] == j)
            r = l->q_in_max;
        else
            r = 0.0f;
        if (r == 0.0f || (readers && r != range))
            return 0.0f;
        range = r;
        readers++;
    }
    return readers ? range : 0.0f;
}

/* The scale layer j's output will have: a chained convolution's, or what a
 * passthrough layer inherits (a concatenation only when all its inputs agree);
 * 0 for float32. */
static float int8_chain_scale(const dn_plan *p, int j, int depth)
{
    const layer *l = &p->m->layers[j];
    if (depth > 16 || l->n_inputs < 1)
        return 0.0f;
    if (l->kind == LAYER_CONV2D)
        return p->nodes[j].qs;
    if (!int8_passthrough(p, j))
        return 0.0f;
    float s = int8_chain_scale(p, l->inputs[0], depth + 1);
    for (int t = 1; t < l->n_inputs && s > 0.0f; t++)
        if (int8_chain_scale(p, l->inputs[t], depth + 1) != s)
            s = 0.0f;
    return s;
}

/* Drops the chain of every convolution that reaches concatenation j. */
static void int8_unchain_inputs(dn_plan *p, int j, int depth)
{
    const layer *l = &p->m->layers[j];
    if (depth > 16)
        return;
    for (int t = 0; t < l->n_inputs; t++) {
        int k = l->inputs[t];
        if (p->m->layers[k].kind == LAYER_CONV2D)
            p->nodes[k].qs = 0.0f;
        else if (int8_passthrough(p, k))
            int8_unchain_inputs(p, k, depth + 1);
    }
}

/* int8 chains: an int8 Conv2D with ReLU whose readers (through max poolings,
 * concatenations and layers that compute nothing) are all int8 layers of one
 * range writes u8 in their units; the poolings and concatenations pass u8 on
 * and the readers take it as it is -- instead of a float32 map written,
 * pooled, concatenated and quantized again (4x the memory traffic).  The
 * range survives the passthrough layers: the maximum of windows is the
 * maximum, and a concatenation's readers saw its inputs' values.  A
 * concatenation whose inputs would not all be u8 of one scale unchains them
 * all (repeated until nothing changes). */
static void mark_int8_chains(dn_plan *p)
{
    const model *m = p->m;
    if (p->cfg.precision != DN_PREC_INT8 || p->cfg.training)
        return;
    for (int i = 1; i < p->out_index; i++) {
        const layer *l = &m->layers[i];
        if (!p->nodes[i].needed || l->kind != LAYER_CONV2D || !(l->q_in_max > 0.0f) ||
            p->nodes[i].act != ACT_RELU)
            continue;
        float range = int8_readers_range(p, i, 0);
        if (range > 0.0f)
            p->nodes[i].qs = 255.0f / range;
    }
    for (int changed = 1, rounds = 0; changed && rounds < m->n_layers; rounds++) {
        changed = 0;
        for (int j = 1; j <= p->out_index; j++) {
            const layer *l = &m->layers[j];
            if (!p->nodes[j].needed || l->kind != LAYER_CONCAT || l->out_rank != 4)
                continue;
            int any = 0;
            for (int t = 0; t < l->n_inputs; t++)
                any |= int8_chain_scale(p, l->inputs[t], 0) > 0.0f;
            if (any && int8_chain_scale(p, j, 0) == 0.0f) {
                int8_unchain_inputs(p, j, 0);
                changed = 1;
            }
        }
    }
}

/* The only layer of the plan that reads layer i's output (one input slot of
 * one needed layer), or -1: none, several, or i is the model's output. */
static int sole_reader(const dn_plan *p, int i)
{
    int reader = -1, reads = 0;
    if (i == p->out_index)
        return -1;
    for (int j = i + 1; j <= p->out_index; j++) {
        if (!p->nodes[j].needed)
            continue;
        for (int k = 0; k < p->m->layers[j].n_inputs; k++)
            if (p->m->layers[j].inputs[k] == i) {
                reader = j;
                reads++;
            }
    }
    return reads == 1 ? reader : -1;
}

/* An activation a convolution can apply as post-ops (an eltwise chain). */
static int fusable_act(layer_act act, const layer_act_params *ap)
{
    dn_elt e[DN_ACT_MAX];
    return act != ACT_LINEAR && act != ACT_SOFTMAX && dn_act_chain(act, ap, 0, e) > 0;
}

/* Inference folds (Keras' Conv2D -> BatchNormalization -> ReLU, MobileNet's
 * blocks): a Conv2D / DepthwiseConv2D with no activation of its own whose only
 * reader is a BatchNormalization takes the BN into its kernel and bias,
 * w' = w * s, b' = b * s + t per output channel (s = gamma / sqrt(var + eps),
 * t = beta - mean * s, dn_bn_affine; recomputed from the model's parameters by
 * every dn_plan_refresh, which leaves the model's own unchanged); then an
 * Activation layer that is the only reader of the convolution (or of its
 * folded BN) becomes the convolution's post-op activation, as a Conv2D's own
 * `activation=` is.  The folded layers are aliases of the convolution's output
 * and run no step (Keras' MobileNetV2, batch 1, one thread: 8.6 -> 5.6 ms;
 * docs/ARCHITECTURE.md).
 * Not in training (the BN's backward and its parameters' gradients need it
 * separate) nor for int8 (per-channel scales come from the unfolded kernel);
 * the layers whose output the convolution's memory no longer holds are
 * `overwritten`: runner_activation has none for them. */
static void fold_into_convs(dn_plan *p)
{
    const model *m = p->m;
    if (p->cfg.training || p->cfg.no_fold || p->cfg.precision == DN_PREC_INT8)
        return;
    for (int i = 1; i < p->out_index; i++) {
        const layer *l = &m->layers[i];
        dn_node *nd = &p->nodes[i];
        if (!nd->needed || (l->kind != LAYER_CONV2D && l->kind != LAYER_DEPTHWISE_CONV2D) ||
            l->n_inputs != 1 || nd->act != ACT_LINEAR || nd->act_sep || l->n_params < 1 ||
            !l->params[0] || (l->use_bias && (l->n_params < 2 || !l->params[1])))
            continue;
        int tail = i, j = sole_reader(p, i);
        if (j > 0 && m->layers[j].n_inputs == 1 && dn_bn_foldable(&m->layers[j], l->filters) &&
            l->filters == l->out_c) {
            nd->fold_bn = j;
            nd->overwritten = 1;
            p->nodes[j].folded = 1;
            tail = j;
            j = sole_reader(p, j);
        }
        if (j > 0 && m->layers[j].kind == LAYER_ACTIVATION && m->layers[j].n_inputs == 1 &&
            fusable_act(p->nodes[j].act, &m->layers[j].act_p)) {
            nd->act = p->nodes[j].act;
            nd->act_p = &m->layers[j].act_p;
            p->nodes[tail].overwritten = 1;
            p->nodes[j].folded = 1;
        }
    }
}

/* Inference residual folds (ResNet's and MobileNetV2's Add after a
 * convolution, often a 1x1 projection with its BN folded): a two-input Add
 * that is the only reader of a Conv2D / DepthwiseConv2D's output (after
 * fold_into_convs: of its folded BN or Activation) and whose other input is
 * computed before that convolution becomes the convolution's sum post-op,
 * dst = act(conv(x)) + dst, with dst the other input's buffer when nothing
 * reads that buffer's old content afterwards, else a copy (main_dst).  The Add
 * is an alias of the convolution's output; so is an Activation that is the
 * Add's only reader (an eltwise post-op after the sum: ResNet's ReLU).  Not in
 * training (the Add's backward), nor for int8, nor with no_fold(_add). */
static void fold_adds(dn_plan *p)
{
    const model *m = p->m;
    if (p->cfg.training || p->cfg.no_fold || p->cfg.no_fold_add ||
        p->cfg.precision == DN_PREC_INT8)
        return;
    for (int i = 1; i < p->out_index; i++) {
        const layer *l = &m->layers[i];
        dn_node *nd = &p->nodes[i];
        if (!nd->needed || (l->kind != LAYER_CONV2D && l->kind != LAYER_DEPTHWISE_CONV2D) ||
            l->n_inputs != 1 || nd->act_sep || nd->act == ACT_SOFTMAX || nd->folded ||
            l->out_rank != 4)
            continue;
        int tail = nd->fold_bn ? nd->fold_bn : i, j = sole_reader(p, tail);
        if (j > 0 && p->nodes[j].folded && m->layers[j].kind == LAYER_ACTIVATION) {
            tail = j;
            j = sole_reader(p, tail);
        }
        if (j <= 0 || m->layers[j].kind != LAYER_ADD || m->layers[j].n_inputs != 2 ||
            p->nodes[j].folded)
            continue;
        int s = m->layers[j].inputs[0] == tail ? 0 : 1, o = m->layers[j].inputs[1 - s];
        if (m->layers[j].inputs[s] != tail || o < 0 || o >= i || !p->nodes[o].needed ||
            m->layers[o].out_rank != 4)
            continue;
        nd->sum_add = j;
        nd->sum_other = o;
        nd->sum_act = ACT_LINEAR;
        nd->overwritten = 1;
        p->nodes[tail].overwritten = 1;
        p->nodes[j].folded = 1;
        p->nodes[j].alias_in = s;
        int a = sole_reader(p, j);
        if (a > 0 && m->layers[a].kind == LAYER_ACTIVATION && m->layers[a].n_inputs == 1 &&
            !p->nodes[a].folded && fusable_act(p->nodes[a].act, &m->layers[a].act_p)) {
            nd->sum_act = p->nodes[a].act;
            nd->sum_act_p = &m->layers[a].act_p;
            p->nodes[j].overwritten = 1;
            p->nodes[a].folded = 1;
        }
    }
}

/* Recomputes the folded kernels and biases (fold_into_convs) from the model's
 * current parameters. */
static void refold(dn_plan *p)
{
    for (int i = 0; i <= p->out_index; i++) {
        const dn_node *nd = &p->nodes[i];
        if (!nd->fold_bn || !nd->fold_w)
            continue;
        const layer *l = &p->m->layers[i], *bn = &p->m->layers[nd->fold_bn];
        const tensor *k = l->params[0];
        const float *b = l->use_bias ? l->params[l->n_params - 1]->data : NULL;
        size_t units = (size_t)l->filters;
        for (size_t c = 0; c < units; c++) {
            float t;
            dn_bn_affine(bn, (int)c, &nd->fold_s[c], &t);
            nd->fold_b[c] = (b ? b[c] : 0.0f) * nd->fold_s[c] + t;
        }
        /* Keras kernels (HWIO, depthwise (kh, kw, C, multiplier)) have the
         * output channel last */
        for (size_t j = 0; j < k->size; j++)
            nd->fold_w[j] = k->data[j] * nd->fold_s[j % units];
    }
}

/* Which layers the output needs, which outputs need a gradient, and each
 * layer's effective activation. */
static void mark_nodes(dn_plan *p)
{
    const model *m = p->m;
    p->nodes[p->out_index].needed = 1;
    for (int i = p->out_index; i >= 0; i--)
        if (p->nodes[i].needed)
            for (int k = 0; k < m->layers[i].n_inputs; k++)
                if (m->layers[i].inputs[k] >= 0 && m->layers[i].inputs[k] < i)
                    p->nodes[m->layers[i].inputs[k]].needed = 1;
    for (int i = 0; i <= p->out_index; i++) {
        const layer *l = &m->layers[i];
        dn_node *nd = &p->nodes[i];
        nd->act = (layer_op_of(l->kind)->flags & OP_FUSED_ACT) ? l->act : ACT_LINEAR;
        if (i == p->out_index && p->cfg.output_logits &&
            (nd->act == ACT_SIGMOID || nd->act == ACT_SOFTMAX))
            nd->act = ACT_LINEAR;
        /* Conv2D/Dense: an activation differentiated from its input runs after the
         * primitive, which keeps its input (the pre-activation) for backward */
        /* ... and so does one with no eltwise chain (softsign, a thresholded
         * ReLU: dn_act_composite), also at inference */
        dn_elt chain[DN_ACT_MAX];
        nd->act_sep = l->kind != LAYER_ACTIVATION && nd->act != ACT_LINEAR &&
                      nd->act != ACT_SOFTMAX &&
                      ((p->cfg.training && !dn_act_uses_dst(nd->act)) ||
                       dn_act_chain(nd->act, &l->act_p, 0, chain) < 0);
        if (!p->cfg.training || !nd->needed || (l->kind == LAYER_INPUT && l->n_inputs == 0))
            continue;
        nd->wants = l->trainable && l->n_params > 0 && p->cfg.grads[LAYER_MAX_PARAMS * i] != NULL;
        for (int k = 0; k < l->n_inputs; k++)
            if (l->inputs[k] >= 0 && l->inputs[k] < i && p->nodes[l->inputs[k]].wants)
                nd->wants = 1;
    }
    if (p->cfg.training)
        swap_relu_maxpool(p);
    fold_into_convs(p);
    fold_adds(p);
    mark_int8_chains(p);
}

static int finish_scratch(dn_plan *p, cd_err *err)
{
    size_t sz = dn_steps_scratch_size(&p->fwd);
    size_t b = dn_steps_scratch_size(&p->bwd), r = dn_steps_scratch_size(&p->refresh);
    if (b > sz)
        sz = b;
    if (r > sz)
        sz = r;
    if (sz == 0)
        return 0;
    void *buf = dn_pool_buf(&p->pool, sz, err);
    if (!buf || dn_steps_bind_scratch(&p->fwd, &p->pool, p->cfg.eng, buf, err) ||
        dn_steps_bind_scratch(&p->bwd, &p->pool, p->cfg.eng, buf, err) ||
        dn_steps_bind_scratch(&p->refresh, &p->pool, p->cfg.eng, buf, err))
        return -1;
    return 0;
}

static void drop_pds(dn_plan *p)
{
    for (int i = 0; i < p->m->n_layers; i++) {
        if (p->nodes[i].fwd_pd)
            dnnl_primitive_desc_destroy(p->nodes[i].fwd_pd);
        if (p->nodes[i].sm_pd)
            dnnl_primitive_desc_destroy(p->nodes[i].sm_pd);
        p->nodes[i].fwd_pd = p->nodes[i].sm_pd = NULL;
    }
}

dn_plan *dn_plan_new(const model *m, int n, const dn_plan_cfg *cfg, cd_err *err)
{
    if (!m || m->n_layers < 1 || n < 1)
        return cd_err_set(err, CD_ERR_INVALID, "oneDNN plan: empty model or batch < 1"), NULL;
    dn_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory"), NULL;
    p->m = m;
    p->n = n;
    p->cfg = *cfg;
    p->out_index = model_output_index(m);
    p->nodes = calloc((size_t)m->n_layers, sizeof *p->nodes);
    if (!p->nodes) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (p->out_index < 0 || p->out_index >= m->n_layers) {
        cd_err_set(err, CD_ERR_INVALID, "model output index %d out of range", p->out_index);
        goto fail;
    }
    mark_nodes(p);
    for (int i = 0; i <= p->out_index; i++)
        if (p->nodes[i].needed && build_layer(p, i, err))
            goto fail;

    /* the model's output edge: to NHWC / NC in the caller's buffer */
    const dn_node *out = &p->nodes[p->out_index];
    dnnl_memory_desc_t view;
    if (dn_md_plain_view(&view, &out->md, 0, 0, m->layers[p->out_index].name, err))
        goto fail;
    p->out_user = mem_none(p, &view, err);
    if (!p->out_user ||
        dn_steps_reorder(&p->fwd, &p->pool, cfg->eng, out->mem, p->out_user, 0, "output", err))
        goto fail;
    if (cfg->training) {
        p->dout_user = mem_none(p, &view, err);
        if (!p->dout_user || dn_plan_build_backward(p, err))
            goto fail;
    }
    if (finish_scratch(p, err))
        goto fail;
    drop_pds(p);
    p->wver = (unsigned long)-1;
    return p;
fail:
    dn_plan_free(p);
    return NULL;
}

void dn_plan_free(dn_plan *p)
{
    if (!p)
        return;
    if (p->nodes) {
        drop_pds(p);
        for (int i = 0; i < p->m->n_layers; i++)
            dn_steps_free(&p->nodes[i].host_steps);
    }
    dn_steps_free(&p->fwd);
    dn_steps_free(&p->bwd);
    dn_steps_free(&p->refresh);
    dn_pool_clear(&p->pool);
    free(p->ready);
    free(p->nodes);
    free(p);
}

int dn_plan_refresh(dn_plan *p, dnnl_stream_t s, cd_err *err)
{
    /* the model's tensors are wrapped in place; re-point in case they moved */
    for (int i = 0; i <= p->out_index; i++) {
        const layer *l = &p->m->layers[i];
        dn_node *nd = &p->nodes[i];
        /* (a folded BatchNormalization's convolution wraps the plan's copies: refold) */
        if (nd->w_user && !nd->fold_bn)
            DN_CHECK(dnnl_memory_set_data_handle(nd->w_user, l->params[nd->w_param]->data), err,
                     "set handle", l->name);
        if (nd->b && !nd->fold_bn)
            DN_CHECK(dnnl_memory_set_data_handle(nd->b, l->params[l->n_params - 1]->data), err,
                     "set handle", l->name);
        for (int k = 0; k < LAYER_MAX_PARAMS; k++)
            if (nd->pmem[k])
                DN_CHECK(dnnl_memory_set_data_handle(nd->pmem[k], l->params[k]->data), err,
                         "set handle", l->name);
    }
    refold(p);
    if (dn_steps_run(&p->refresh, s, err))
        return -1;
    DN_CHECK(dnnl_stream_wait(s), err, "stream wait", NULL);
    return 0;
fail:
    return -1;
}

int dn_plan_forward(dn_plan *p, dnnl_stream_t s, const float *input, float *output, int total,
                    int offset, cd_err *err)
{
    p->slice[0] = (size_t)total;
    p->slice[1] = (size_t)offset;
    p->slice[2] = (size_t)p->n;
    const layer *l0 = &p->m->layers[0];
    size_t in_size = (size_t)p->n * (size_t)l0->in_h * (size_t)l0->in_w * (size_t)l0->in_c;
    memcpy(dn_mem_ptr(p->in), input, in_size * sizeof(float));
    DN_CHECK(dnnl_memory_set_data_handle(p->out_user, output), err, "set handle", NULL);
    if (dn_steps_run(&p->fwd, s, err))
        return -1;
    DN_CHECK(dnnl_stream_wait(s), err, "stream wait", NULL);
    return 0;
fail:
    return -1;
}

int dn_plan_backward(dn_plan *p, dnnl_stream_t s, const float *d_output,
                     int (*ready)(void *ctx, int layer, cd_err *err), void *ctx, cd_err *err)
{
    DN_CHECK(dnnl_memory_set_data_handle(p->dout_user, (void *)d_output), err, "set handle", NULL);
    int done = 0;
    for (int k = 0; ready && k < p->n_ready; k++) {
        /* up to the steps that complete this layer's gradients, then tell */
        if (dn_steps_run_range(&p->bwd, done, p->ready[k][0], s, err))
            return -1;
        done = p->ready[k][0];
        DN_CHECK(dnnl_stream_wait(s), err, "stream wait", NULL);
        if (ready(ctx, p->ready[k][1], err))
            return -1;
    }
    if (dn_steps_run_range(&p->bwd, done, p->bwd.n, s, err))
        return -1;
    DN_CHECK(dnnl_stream_wait(s), err, "stream wait", NULL);
    return 0;
fail:
    return -1;
}

/* The host copy of a ZeroPadding2D folded into its convolution (an alias of
 * its unpadded input, dn_zeropad_folded): the padded NHWC map, zeroed and the
 * input reordered (times `back`) into its interior by nd->host_steps. */
static dnnl_memory_t padded_host(dn_plan *p, int i, const int pad4[4], const float *back,
                                 cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_memory_desc_t md, view;
    dnnl_dims_t dd = {p->n, l->out_c, l->out_h, l->out_w}, offs = {0, 0, pad4[0], pad4[2]};
    if (dn_md(&md, 4, dd, dnnl_nhwc, l->name, err))
        return NULL;
    DN_CHECK(dnnl_memory_desc_init_submemory(&view, &md, nd->md.dims, offs), err, "sub-memory",
             l->name);
    dnnl_memory_t h = dn_mem(&p->pool, p->cfg.eng, &md, NULL, err);
    dn_step *st = h ? dn_steps_push(&nd->host_steps, DN_STEP_ZERO, err) : NULL;
    if (!st)
        return NULL;
    st->mem = h;
    dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, dn_mem_ptr(h), err);
    if (!vm || dn_steps_reorder_scaled(&nd->host_steps, &p->pool, p->cfg.eng, nd->mem, vm, 1, 0,
                                       back, l->name, err))
        return NULL;
    return h;
fail:
    return NULL;
}

const float *dn_plan_activation(dn_plan *p, dnnl_stream_t s, int i)
{
    if (i < 0 || i > p->out_index || !p->nodes[i].needed || !p->nodes[i].mem ||
        p->nodes[i].overwritten)
        return NULL;
    dn_node *nd = &p->nodes[i];
    cd_err err;
    if (!nd->host) {
        dnnl_memory_desc_t view;
        dnnl_memory_t h;
        int pad4[4];
        float back = nd->qs > 0.0f ? 1.0f / nd->qs : 1.0f; /* an int8 chain's u8 to floats */
        if (dn_zeropad_folded(p, i, pad4)) {
            h = padded_host(p, i, pad4, &back, &err);
            if (!h)
                return NULL;
        } else {
            if (dn_md_plain_view(&view, &nd->md, 0, 0, p->m->layers[i].name, &err))
                return NULL;
            h = dn_mem(&p->pool, p->cfg.eng, &view, NULL, &err);
            if (!h || dn_steps_reorder_scaled(&nd->host_steps, &p->pool, p->cfg.eng, nd->mem, h, 1,
                                              0, &back, p->m->layers[i].name, &err))
                return NULL;
        }
        /* the reorder's scratchpad (if any) gets its own buffer: it may run
         * while nothing else does, but keep it independent of the plan's */
        size_t sz = dn_steps_scratch_size(&nd->host_steps);
        if (sz) {
            void *buf = dn_pool_buf(&p->pool, sz, &err);
            if (!buf || dn_steps_bind_scratch(&nd->host_steps, &p->pool, p->cfg.eng, buf, &err))
                return NULL;
        }
        nd->host = h;
    }
    if (dn_steps_run(&nd->host_steps, s, &err) || dnnl_stream_wait(s) != dnnl_success)
        return NULL;
    float *h = dn_mem_ptr(nd->host);
    if (nd->relu_deferred) {
        /* this convolution's ReLU runs after the pooling (swap_relu_maxpool) */
        size_t cnt = dn_md_elems(&nd->md);
        for (size_t k = 0; k < cnt; k++)
            if (!(h[k] > 0.0f))
                h[k] = 0.0f;
    }
    return h;
}
