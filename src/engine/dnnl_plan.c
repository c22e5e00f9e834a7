/*
 * dnnl_plan.c - compiles a model into oneDNN forward primitives for one batch
 * size and runs them (see dnnl_plan.h for what a plan holds and why).  The
 * backward half of a training plan is built in dnnl_plan_bwd.c.
 */
#include "engine/dnnl_plan.h"

#include <stdlib.h>
#include <string.h>

/* TensorFlow's output size and padding for one spatial dimension: VALID takes
 * only full windows; SAME gives ceil(in / s) outputs and pads the total needed,
 * the odd pixel at the end (so pad_l and pad_r may differ). */
static int tf_padding(int in, int k, int s, layer_pad pad, dnnl_dim_t *pl, dnnl_dim_t *pr)
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

static dnnl_alg_kind_t act_alg(layer_act a, int use_dst)
{
    switch (a) {
    case ACT_RELU: return use_dst ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_relu;
    case ACT_SIGMOID: return use_dst ? dnnl_eltwise_logistic_use_dst_for_bwd : dnnl_eltwise_logistic;
    case ACT_TANH: return use_dst ? dnnl_eltwise_tanh_use_dst_for_bwd : dnnl_eltwise_tanh;
    default: return (dnnl_alg_kind_t)0;
    }
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
static dnnl_memory_t as_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
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
 * (refreshed by the refresh steps); sets nd->w_user and returns the copy. */
static dnnl_memory_t weights_for(dn_plan *p, dn_node *nd, const layer *l,
                                 const dnnl_memory_desc_t *user_md,
                                 const dnnl_memory_desc_t *want, cd_err *err)
{
    if (!nd->w_user) {
        nd->w_user = dn_mem(&p->pool, p->cfg.eng, user_md, l->params[0]->data, err);
        if (!nd->w_user)
            return NULL;
    }
    if (dn_md_equal(user_md, want))
        return nd->w_user;
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m || dn_steps_reorder(&p->refresh, &p->pool, p->cfg.eng, nd->w_user, m, 0, l->name, err))
        return NULL;
    return m;
}

static int bias_for(dn_plan *p, dn_node *nd, const layer *l, dnnl_dim_t units, cd_err *err)
{
    if (!l->use_bias)
        return 0;
    dnnl_memory_desc_t md;
    if (dn_md(&md, 1, &units, dnnl_a, l->name, err))
        return -1;
    nd->b = dn_mem(&p->pool, p->cfg.eng, &md, l->params[1]->data, err);
    return nd->b ? 0 : -1;
}

static int check_params(const layer *l, cd_err *err)
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
static int build_softmax(dn_plan *p, dn_node *nd, const layer *l, dnnl_memory_t src, int flat,
                         cd_err *err)
{
    dnnl_softmax_v2_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
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
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_softmax_v2_forward_desc_init(&d, p->cfg.training ? dnnl_forward_training
                                                                   : dnnl_forward_inference,
                                               dnnl_softmax_accurate, &smd, &smd, 1),
             err, "softmax descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&nd->sm_pd, &d, attr, p->cfg.eng, NULL), err, "softmax",
             l->name);
    nd->md = smd;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &smd, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, nd->sm_pd, l->name, err, 2, DNNL_ARG_SRC,
                                   src, DNNL_ARG_DST, nd->mem))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Writes the main primitive's output: straight into the layer's output, or --
 * with a separate softmax -- into nd->pre followed by the softmax. */
static dnnl_memory_t main_dst(dn_plan *p, dn_node *nd, const dnnl_memory_desc_t *dst_md,
                              cd_err *err)
{
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, dst_md, NULL, err);
    if (!m)
        return NULL;
    if (nd->act == ACT_SOFTMAX)
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
static int add_weighted_step(dn_plan *p, dn_node *nd, const layer *l, const dnnl_memory_desc_t *user_md,
                             const dnnl_memory_desc_t *w_md, const dnnl_memory_desc_t *dst_md, dnnl_dim_t units,
                             cd_err *err)
{
    nd->w = weights_for(p, nd, l, user_md, w_md, err);
    if (!nd->w || bias_for(p, nd, l, units, err))
        return -1;
    dnnl_memory_t dst = main_dst(p, nd, dst_md, err);
    if (!dst)
        return -1;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 3, DNNL_ARG_SRC, nd->src,
                                DNNL_ARG_WEIGHTS, nd->w, DNNL_ARG_DST, dst);
    if (!st || (nd->b && dn_step_arg(st, DNNL_ARG_BIAS, nd->b, err)))
        return -1;
    if (nd->act == ACT_SOFTMAX && build_softmax(p, nd, l, dst, 0, err))
        return -1;
    return 0;
}

static int build_conv(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_convolution_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md, user_md;
    int rc = -1;

    if (check_params(l, err))
        return -1;
    if (in->md.ndims != 4 || p->m->layers[l->inputs[0]].out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Conv2D needs a 4-D input", l->name);
    dnnl_dim_t n = p->n, ic = in->md.dims[1], ih = in->md.dims[2], iw = in->md.dims[3];
    dnnl_dim_t oc = l->filters, kh = l->kernel[0], kw = l->kernel[1];
    int oh = tf_padding((int)ih, (int)kh, l->strides[0], l->padding, &nd->pad_l[0], &nd->pad_r[0]);
    int ow = tf_padding((int)iw, (int)kw, l->strides[1], l->padding, &nd->pad_l[1], &nd->pad_r[1]);
    if (oh <= 0 || ow <= 0 || oh != l->out_h || ow != l->out_w || oc != l->out_c)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': output %dx%dx%d does not follow from input %ldx%ldx%ld",
                          l->name, l->out_h, l->out_w, l->out_c, (long)ih, (long)iw, (long)ic);
    nd->strides[0] = l->strides[0];
    nd->strides[1] = l->strides[1];
    nd->kernel[0] = kh;
    nd->kernel[1] = kw;
    dnnl_dims_t sd = {n, ic, ih, iw}, wd = {oc, ic, kh, kw}, dd = {n, oc, oh, ow};
    if (dn_md(&src_md, 4, sd, dnnl_format_tag_any, l->name, err) ||
        dn_md(&w_md, 4, wd, dnnl_format_tag_any, l->name, err) ||
        dn_md(&user_md, 4, wd, dnnl_hwio, l->name, err) ||
        dn_md(&b_md, 1, &oc, dnnl_a, l->name, err) ||
        dn_md(&dst_md, 4, dd, dnnl_format_tag_any, l->name, err))
        return -1;
    attr = dn_attr(act_alg(nd->act, 0), l->name, err);
    if (!attr)
        goto fail;
    /* Winograd F(4x4, 3x3) does a 3x3 stride-1 convolution with far fewer
     * multiplications and oneDNN has it for forward and both backward passes;
     * it pays once there are enough input channels (not for the 3-channel first
     * layer) and more than one image (measured on the binary CNN at 150x150, one
     * core: batch 32 inference 2.0 ms/image against 2.8 direct, training 6.6
     * against 8.0-10.8; at batch 1 the direct brgemm kernel wins, 2.2 ms against
     * 2.5).  Where oneDNN has no Winograd kernel for the shape, direct. */
    nd->conv_alg = dnnl_convolution_direct;
    if (kh == 3 && kw == 3 && nd->strides[0] == 1 && nd->strides[1] == 1 && ic >= 16 &&
        (p->cfg.training || p->n > 1))
        nd->conv_alg = dnnl_convolution_winograd;
    for (;;) {
        DN_CHECK(dnnl_convolution_forward_desc_init(
                     &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                     nd->conv_alg, &src_md, &w_md, l->use_bias ? &b_md : NULL, &dst_md,
                     nd->strides, nd->pad_l, nd->pad_r),
                 err, "convolution descriptor", l->name);
        dnnl_status_t st = dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL);
        if (st == dnnl_success)
            break;
        if (nd->conv_alg == dnnl_convolution_direct) {
            dn_fail(err, st, "convolution", l->name);
            goto fail;
        }
        nd->conv_alg = dnnl_convolution_direct;
    }

    src_md = dn_pd_md(nd->fwd_pd, dnnl_query_src_md, 0);
    w_md = dn_pd_md(nd->fwd_pd, dnnl_query_weights_md, 0);
    dst_md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->src = as_layout(p, in->mem, &src_md, l->name, err);
    if (!nd->src)
        goto fail;
    if (add_weighted_step(p, nd, l, &user_md, &w_md, &dst_md, oc, err))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int build_dense(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_inner_product_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t w_md, user_md, b_md, dst_md;
    int rc = -1;

    if (check_params(l, err))
        return -1;
    if (p->m->layers[l->inputs[0]].out_rank != 2)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': Dense on a 4-D input is not supported (add Flatten)",
                          l->name);
    dnnl_dim_t n = p->n, units = l->units;
    size_t in_features = dn_md_elems(&in->md) / (size_t)n;
    if ((size_t)l->params[0]->dims[0] != in_features || l->params[0]->dims[1] != units)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': kernel does not match %zu inputs",
                          l->name, in_features);
    if (dn_dense_weight_mds(&in->md, units, &w_md, &user_md, l->name, err))
        return -1;
    dnnl_dims_t dd = {n, units};
    if (dn_md(&b_md, 1, &units, dnnl_a, l->name, err) ||
        dn_md(&dst_md, 2, dd, dnnl_format_tag_any, l->name, err))
        return -1;
    DN_CHECK(dnnl_inner_product_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference, &in->md,
                 &w_md, l->use_bias ? &b_md : NULL, &dst_md),
             err, "inner product descriptor", l->name);
    attr = dn_attr(act_alg(nd->act, 0), l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL), err,
             "inner product", l->name);
    w_md = dn_pd_md(nd->fwd_pd, dnnl_query_weights_md, 0);
    dst_md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->src = in->mem;
    if (add_weighted_step(p, nd, l, &user_md, &w_md, &dst_md, units, err))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int build_pool(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_pooling_v2_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dst_md;
    int rc = -1;
    int global = l->kind == LAYER_GLOBAL_AVGPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;
    int is_max = l->kind == LAYER_MAXPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;

    if (in->md.ndims != 4 || p->m->layers[l->inputs[0]].out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': pooling needs a 4-D input", l->name);
    dnnl_dim_t n = p->n, c = in->md.dims[1], ih = in->md.dims[2], iw = in->md.dims[3];
    int oh, ow;
    if (global) {
        nd->kernel[0] = ih;
        nd->kernel[1] = iw;
        nd->strides[0] = nd->strides[1] = 1;
        nd->pad_l[0] = nd->pad_l[1] = nd->pad_r[0] = nd->pad_r[1] = 0;
        oh = ow = 1;
    } else {
        nd->kernel[0] = l->pool[0];
        nd->kernel[1] = l->pool[1];
        nd->strides[0] = l->strides[0];
        nd->strides[1] = l->strides[1];
        oh = tf_padding((int)ih, l->pool[0], l->strides[0], l->padding, &nd->pad_l[0], &nd->pad_r[0]);
        ow = tf_padding((int)iw, l->pool[1], l->strides[1], l->padding, &nd->pad_l[1], &nd->pad_r[1]);
        if (oh <= 0 || ow <= 0 || oh != l->out_h || ow != l->out_w)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': output %dx%d does not follow from input %ldx%ld",
                              l->name, l->out_h, l->out_w, (long)ih, (long)iw);
    }
    dnnl_dims_t dd = {n, c, oh, ow}, dil = {0, 0};
    if (dn_md(&dst_md, 4, dd, dnnl_format_tag_any, l->name, err))
        return -1;
    DN_CHECK(dnnl_pooling_v2_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &in->md, &dst_md,
                 nd->strides, nd->kernel, dil, nd->pad_l, nd->pad_r),
             err, "pooling descriptor", l->name);
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL), err, "pooling",
             l->name);
    nd->md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        goto fail;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 2, DNNL_ARG_SRC,
                                in->mem, DNNL_ARG_DST, nd->mem);
    if (!st)
        goto fail;
    dnnl_memory_desc_t ws_md = dn_pd_md(nd->fwd_pd, dnnl_query_workspace_md, 0);
    if (dnnl_memory_desc_get_size(&ws_md) > 0) {
        nd->ws = dn_mem(&p->pool, p->cfg.eng, &ws_md, NULL, err);
        /* st may have moved: dn_mem does not touch the step list */
        if (!nd->ws || dn_step_arg(st, DNNL_ARG_WORKSPACE, nd->ws, err))
            goto fail;
    }
    if (nd->post_relu) {
        /* the ReLU moved here from the convolution before (swap_relu_maxpool) */
        dnnl_eltwise_desc_t ed;
        dnnl_primitive_desc_t epd = NULL;
        DN_CHECK(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                                dnnl_eltwise_relu_use_dst_for_bwd, &nd->md, 0.0f,
                                                0.0f),
                 err, "eltwise descriptor", l->name);
        DN_CHECK(dnnl_primitive_desc_create(&epd, &ed, attr, p->cfg.eng, NULL), err, "eltwise",
                 l->name);
        st = dn_steps_prim(&p->fwd, &p->pool, epd, l->name, err, 2, DNNL_ARG_SRC, nd->mem,
                           DNNL_ARG_DST, nd->mem);
        dnnl_primitive_desc_destroy(epd);
        if (!st)
            goto fail;
    }
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int build_activation(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    if (nd->act == ACT_SOFTMAX)
        return build_softmax(p, nd, l, in->mem, p->m->layers[l->inputs[0]].out_rank == 2, err);

    dnnl_eltwise_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    int rc = -1;
    /* training uses the use_dst variants so backward needs only the output */
    DN_CHECK(dnnl_eltwise_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 act_alg(nd->act, p->cfg.training), &in->md, 0.0f, 0.0f),
             err, "eltwise descriptor", l->name);
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL), err, "eltwise",
             l->name);
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 2, DNNL_ARG_SRC,
                                   in->mem, DNNL_ARG_DST, nd->mem))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Training-mode dropout: out = in * mask, the mask drawn in NHWC order (so it
 * does not depend on oneDNN's layout choice) and reordered to the input's layout. */
static int build_dropout(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_binary_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t plain;
    int rc = -1;

    if (!(l->rate < 1.0f))
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': dropout rate %g must be below 1",
                          l->name, (double)l->rate);
    if (dn_md_plain_view(&plain, &in->md, 0, 0, l->name, err))
        return -1;
    dnnl_memory_t user = dn_mem(&p->pool, p->cfg.eng, &plain, NULL, err);
    if (!user)
        return -1;
    dn_step *ms = dn_steps_push(&p->fwd, DN_STEP_MASK, err);
    if (!ms)
        return -1;
    ms->buf = dn_mem_ptr(user);
    ms->per_sample = dn_md_elems(&plain) / (size_t)p->n;
    ms->prefix = p->mask_per_sample;
    ms->rate = l->rate;
    ms->rng = p->cfg.rng;
    ms->slice = p->slice;
    p->mask_per_sample += ms->per_sample;
    nd->mask = as_layout(p, user, &in->md, l->name, err);
    if (!nd->mask)
        return -1;
    DN_CHECK(dnnl_binary_desc_init(&d, dnnl_binary_mul, &in->md, &in->md, &in->md), err,
             "binary descriptor", l->name);
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL), err, "binary", l->name);
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_SRC_0, in->mem,
                                   DNNL_ARG_SRC_1, nd->mask, DNNL_ARG_DST, nd->mem))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* 1 when every input's channel range of a concatenation output in layout md can
 * be described as a sub-memory (blocked layouts need block-aligned offsets). */
static int concat_splittable(const dn_plan *p, const layer *l, const dnnl_memory_desc_t *md)
{
    dnnl_dim_t off = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const dnnl_memory_desc_t *im = &p->nodes[l->inputs[k]].md;
        dnnl_memory_desc_t sub;
        dnnl_dims_t offs = {0, off, 0, 0};
        if (dnnl_memory_desc_init_submemory(&sub, md, im->dims, offs) != dnnl_success)
            return 0;
        off += im->dims[1];
    }
    return 1;
}

static int build_concat(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t srcs[LAYER_MAX_INPUTS];
    int rc = -1, k;
    dnnl_dim_t total = 0;

    if (l->out_rank == 4) {
        /* maps: channel concatenation with oneDNN's concat primitive */
        for (k = 0; k < l->n_inputs; k++) {
            const dn_node *in = &p->nodes[l->inputs[k]];
            if (in->md.ndims != 4 || p->m->layers[l->inputs[k]].out_rank != 4)
                return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': input %d is not a 4-D map",
                                  l->name, k);
            srcs[k] = in->md;
            total += in->md.dims[1];
        }
        if (total != l->out_c)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': channels do not add up", l->name);
        attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
        if (!attr)
            goto fail;
        DN_CHECK(dnnl_concat_primitive_desc_create(&pd, NULL, l->n_inputs, 1, srcs, attr,
                                                   p->cfg.eng),
                 err, "concat", l->name);
        nd->md = dn_pd_md(pd, dnnl_query_dst_md, 0);
        if (p->cfg.training && !concat_splittable(p, l, &nd->md)) {
            /* backward splits the gradient by channel ranges: use NHWC */
            dnnl_memory_desc_t dmd;
            dnnl_dims_t dd = {p->n, total, srcs[0].dims[2], srcs[0].dims[3]};
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
            if (dn_md(&dmd, 4, dd, dnnl_nhwc, l->name, err))
                goto fail;
            DN_CHECK(dnnl_concat_primitive_desc_create(&pd, &dmd, l->n_inputs, 1, srcs, attr,
                                                       p->cfg.eng),
                     err, "concat", l->name);
            nd->md = dmd;
        }
        nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
        if (!nd->mem)
            goto fail;
        dn_step *st = dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 1, DNNL_ARG_DST, nd->mem);
        if (!st)
            goto fail;
        for (k = 0; k < l->n_inputs; k++)
            if (dn_step_arg(st, DNNL_ARG_MULTIPLE_SRC + k, p->nodes[l->inputs[k]].mem, err))
                goto fail;
        rc = 0;
        goto fail;
    }
    /* vectors (flattened maps, pooled or dense features): each input is reordered
     * into its column range of one NC buffer, in NHWC order */
    for (k = 0; k < l->n_inputs; k++)
        total += (dnnl_dim_t)(dn_md_elems(&p->nodes[l->inputs[k]].md) / (size_t)p->n);
    if (total != l->out_c)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': features do not add up", l->name);
    dnnl_dims_t dd = {p->n, total};
    if (dn_md(&nd->md, 2, dd, dnnl_nc, l->name, err))
        return -1;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        return -1;
    dnnl_dim_t off = 0;
    for (k = 0; k < l->n_inputs; k++) {
        const dn_node *in = &p->nodes[l->inputs[k]];
        dnnl_memory_desc_t view;
        if (dn_md_plain_view(&view, &in->md, total, off, l->name, err))
            return -1;
        dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, dn_mem_ptr(nd->mem), err);
        if (!vm || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, in->mem, vm, 0, l->name, err))
            return -1;
        off += (dnnl_dim_t)(dn_md_elems(&in->md) / (size_t)p->n);
    }
    return 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int is_alias(const dn_plan *p, const layer *l, layer_act act)
{
    switch (l->kind) {
    case LAYER_FLATTEN:
        return 1;
    case LAYER_INPUT:
        return l->n_inputs == 1;
    case LAYER_DROPOUT:
        return !p->cfg.training || l->rate == 0.0f;
    case LAYER_ACTIVATION:
        return act == ACT_LINEAR;
    default:
        return 0;
    }
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
    if (is_alias(p, l, nd->act)) {
        const dn_node *in = &p->nodes[l->inputs[0]];
        nd->root = in->root;
        nd->md = in->md;
        nd->mem = in->mem;
        return 0;
    }
    switch (l->kind) {
    case LAYER_CONV2D: return build_conv(p, i, err);
    case LAYER_DENSE: return build_dense(p, i, err);
    case LAYER_MAXPOOL2D:
    case LAYER_AVGPOOL2D:
    case LAYER_GLOBAL_AVGPOOL2D:
    case LAYER_GLOBAL_MAXPOOL2D: return build_pool(p, i, err);
    case LAYER_ACTIVATION: return build_activation(p, i, err);
    case LAYER_DROPOUT: return build_dropout(p, i, err);
    case LAYER_CONCAT: return build_concat(p, i, err);
    default:
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': kind %s is not supported by oneDNN",
                          l->name, layer_kind_name(l->kind));
    }
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
        nd->act = (l->kind == LAYER_CONV2D || l->kind == LAYER_DENSE || l->kind == LAYER_ACTIVATION)
                      ? l->act
                      : ACT_LINEAR;
        if (i == p->out_index && p->cfg.output_logits &&
            (nd->act == ACT_SIGMOID || nd->act == ACT_SOFTMAX))
            nd->act = ACT_LINEAR;
        if (!p->cfg.training || !nd->needed || (l->kind == LAYER_INPUT && l->n_inputs == 0))
            continue;
        nd->wants = l->trainable && l->n_params > 0 && p->cfg.grads[2 * i] != NULL;
        for (int k = 0; k < l->n_inputs; k++)
            if (l->inputs[k] >= 0 && l->inputs[k] < i && p->nodes[l->inputs[k]].wants)
                nd->wants = 1;
    }
    if (p->cfg.training)
        swap_relu_maxpool(p);
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
    free(p->nodes);
    free(p);
}

int dn_plan_refresh(dn_plan *p, dnnl_stream_t s, cd_err *err)
{
    /* the model's tensors are wrapped in place; re-point in case they moved */
    for (int i = 0; i <= p->out_index; i++) {
        const layer *l = &p->m->layers[i];
        dn_node *nd = &p->nodes[i];
        if (nd->w_user)
            DN_CHECK(dnnl_memory_set_data_handle(nd->w_user, l->params[0]->data), err,
                     "set handle", l->name);
        if (nd->b)
            DN_CHECK(dnnl_memory_set_data_handle(nd->b, l->params[1]->data), err, "set handle",
                     l->name);
    }
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

int dn_plan_backward(dn_plan *p, dnnl_stream_t s, const float *d_output, cd_err *err)
{
    DN_CHECK(dnnl_memory_set_data_handle(p->dout_user, (void *)d_output), err, "set handle", NULL);
    if (dn_steps_run(&p->bwd, s, err))
        return -1;
    DN_CHECK(dnnl_stream_wait(s), err, "stream wait", NULL);
    return 0;
fail:
    return -1;
}

const float *dn_plan_activation(dn_plan *p, dnnl_stream_t s, int i)
{
    if (i < 0 || i > p->out_index || !p->nodes[i].needed || !p->nodes[i].mem)
        return NULL;
    dn_node *nd = &p->nodes[i];
    cd_err err;
    if (!nd->host) {
        dnnl_memory_desc_t view;
        if (dn_md_plain_view(&view, &nd->md, 0, 0, p->m->layers[i].name, &err))
            return NULL;
        dnnl_memory_t h = dn_mem(&p->pool, p->cfg.eng, &view, NULL, &err);
        if (!h || dn_steps_reorder(&nd->host_steps, &p->pool, p->cfg.eng, nd->mem, h, 0,
                                   p->m->layers[i].name, &err))
            return NULL;
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
