/*
 * op_separable_conv2d.c - SeparableConv2D: a depthwise convolution (each of
 * the C input channels its own depth_multiplier filters, with the layer's
 * kernel, strides, padding and dilation) into M = C * multiplier channels,
 * then a pointwise 1x1 convolution of those into `filters` channels, the bias
 * and the fused activation (Keras' definition).
 *
 * Parameters in Keras' order: depthwise_kernel (kh, kw, C, multiplier) -- the
 * memory of a grouped (kh, kw, 1, M) kernel, as DepthwiseConv2D's --,
 * pointwise_kernel (1, 1, M, filters), bias (filters) when use_bias.
 *
 * Reference: the depthwise output is kept in io->work (ref_work) for the
 * backward, which also uses the second half of it for its gradient.
 * oneDNN: two convolution primitives (float32 under every precision: bf16 and
 * int8 apply to Conv2D and Dense), the depthwise one's source, weights and
 * output kept in aux[1], aux[0] (pmem[0]: the Keras-layout kernel) and
 * aux[2]; the pointwise one (w_user wraps params[1]: w_param = 1) is an ordinary weighted step (activation,
 * softmax, backward through dn_pre_activation_grad).
 */
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int mult_of(const layer *l) { return l->depth_multiplier > 1 ? l->depth_multiplier : 1; }

static int span(const layer *l, int d)
{
    return (l->kernel[d] - 1) * layer_dilation(l, d) + 1;
}

static void sep_defaults(layer *l)
{
    l->depth_multiplier = 1;
}

static const char *sep_param_name(const layer *l, int k)
{
    (void)l;
    return k == 0 ? "depthwise_kernel" : k == 1 ? "pointwise_kernel" : "bias";
}

static int sep_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    int mult = mult_of(l);
    if (in->out_rank != 4 || in->out_c < 1 || mult > 4096 || l->filters <= 0)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': SeparableConv2D needs a 4-D input, positive filters and a "
                          "depth_multiplier up to 4096",
                          l->name);
    if (l->dilation[0] < 0 || l->dilation[1] < 0 || l->dilation[0] > 1024 ||
        l->dilation[1] > 1024 || l->kernel[0] < 1 || l->kernel[1] < 1 || l->kernel[0] > 4096 ||
        l->kernel[1] > 4096)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad kernel %dx%d or dilation %dx%d",
                          l->name, l->kernel[0], l->kernel[1], l->dilation[0], l->dilation[1]);
    l->groups = 0; /* the engine's groups are Conv2D's; this kind knows its own */
    if (op_infer_window(m, l, span(l, 0), span(l, 1), l->filters, "kernel", err) != 0)
        return -1;
    int c = in->out_c, mid = c * mult;
    int dk[4] = {l->kernel[0], l->kernel[1], c, mult}, pk[4] = {1, 1, mid, l->filters};
    size_t count = (size_t)l->kernel[0] * (size_t)l->kernel[1] * (size_t)mid +
                   (size_t)mid * (size_t)l->filters + (l->use_bias ? (size_t)l->filters : 0);
    if (!l->use_bias && l->params[2])
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': has a bias but use_bias is off",
                          l->name);
    if (count > *params_left)
        return cd_err_set(err, CD_ERR_LIMIT, "layer '%s': takes the model over the limit of %zu "
                          "parameters", l->name, MODEL_MAX_PARAMS);
    *params_left -= count;
    if (op_param_ensure(l, 0, "depthwise_kernel", 4, dk, err) ||
        op_param_ensure(l, 1, "pointwise_kernel", 4, pk, err) ||
        (l->use_bias && op_param_ensure(l, 2, "bias", 1, &l->filters, err)))
        return -1;
    l->n_params = l->use_bias ? 3 : 2;
    return 0;
}

/* Floats per sample of the depthwise output M x out_h x out_w (and as many
 * for its gradient in training). */
static size_t sep_mid(const model *m, const layer *l)
{
    return (size_t)l->out_h * (size_t)l->out_w * (size_t)op_in(m, l, 0)->out_c *
           (size_t)mult_of(l);
}

static size_t sep_ref_work(const model *m, const layer *l)
{
    return 2 * sep_mid(m, l);
}

/* The depthwise convolution's window: groups = C, M outputs. */
static ref_win dw_window(const op_ref_io *io)
{
    const layer *l = io->l;
    ref_win w = op_ref_window(io, l->kernel[0], l->kernel[1]);
    w.oc = w.ic * mult_of(l);
    w.g = w.ic;
    w.dh = layer_dilation(l, 0);
    w.dw = layer_dilation(l, 1);
    ref_win_pads(&w, l->padding);
    return w;
}

static void sep_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    ref_win w = dw_window(io);
    int rows = (int)op_ref_rows(io);
    ref_conv2d_forward(&w, io->x[0], l->params[0]->data, NULL, io->work);
    ref_dense_forward(rows, w.oc, l->filters, io->work, l->params[1]->data,
                      l->use_bias ? l->params[2]->data : NULL, io->y);
}

static void sep_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    ref_win w = dw_window(io);
    int rows = (int)op_ref_rows(io);
    float *t = io->work, *dt = io->work + (size_t)io->n * sep_mid(io->m, l);
    tensor *ddk = io->dparam[0], *dpk = io->dparam[1], *db = io->dparam[2];
    if (dpk)
        ref_dense_backward_weights(rows, w.oc, l->filters, t, io->dy, dpk->data,
                                   db ? db->data : NULL);
    if (!ddk && !io->dx[0])
        return;
    memset(dt, 0, (size_t)rows * (size_t)w.oc * sizeof *dt);
    ref_dense_backward_data(rows, w.oc, l->filters, io->dy, l->params[1]->data, dt);
    if (ddk)
        ref_conv2d_backward_weights(&w, io->x[0], dt, ddk->data, NULL);
    if (io->dx[0])
        ref_conv2d_backward_data(&w, dt, l->params[0]->data, io->dx[0]);
}

/* ---- oneDNN ---------------------------------------------------------- */

/* The depthwise convolution's descriptors: source (n, C, ih, iw), weights
 * `any` and the user's Keras layout (C groups of multiplier x 1 x kh x kw in
 * hwigo order), output `any` (n, M, oh, ow). */
typedef struct dw_mds {
    dnnl_memory_desc_t src, w, user, dst;
    dnnl_dims_t strides, dil, pad_l, pad_r;
} dw_mds;

static int dw_descs(dn_plan *p, const layer *l, const dnnl_memory_desc_t *in_md, dw_mds *d,
                    cd_err *err)
{
    dnnl_dim_t c = in_md->dims[1], ih = in_md->dims[2], iw = in_md->dims[3], mult = mult_of(l);
    int oh = dn_tf_padding((int)ih, span(l, 0), l->strides[0], l->padding, &d->pad_l[0],
                           &d->pad_r[0]);
    int ow = dn_tf_padding((int)iw, span(l, 1), l->strides[1], l->padding, &d->pad_l[1],
                           &d->pad_r[1]);
    if (oh != l->out_h || ow != l->out_w)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': output %dx%d does not follow from input %ldx%ld", l->name,
                          l->out_h, l->out_w, (long)ih, (long)iw);
    d->strides[0] = l->strides[0];
    d->strides[1] = l->strides[1];
    d->dil[0] = layer_dilation(l, 0) - 1;
    d->dil[1] = layer_dilation(l, 1) - 1;
    dnnl_dims_t sd = {p->n, c, ih, iw}, dd = {p->n, c * mult, oh, ow};
    dnnl_dims_t wd = {c, mult, 1, l->kernel[0], l->kernel[1]};
    return dn_md(&d->src, 4, sd, dnnl_format_tag_any, l->name, err) ||
           dn_md(&d->w, 5, wd, dnnl_format_tag_any, l->name, err) ||
           dn_md(&d->user, 5, wd, dnnl_hwigo, l->name, err) ||
           dn_md(&d->dst, 4, dd, dnnl_format_tag_any, l->name, err);
}

/* The depthwise forward primitive descriptor (also the backward's hint). */
static int dw_forward_pd(dn_plan *p, const layer *l, const dw_mds *d, dnnl_primitive_desc_t *pd,
                         cd_err *err)
{
    dnnl_convolution_desc_t cd;
    DN_CHECK(dnnl_dilated_convolution_forward_desc_init(
                 &cd, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_convolution_direct, &d->src, &d->w, NULL, &d->dst, d->strides, d->dil,
                 d->pad_l, d->pad_r),
             err, "depthwise convolution descriptor", l->name);
    *pd = dn_pd(p->cfg.eng, &cd, NULL, "depthwise convolution", l->name, err);
    return *pd ? 0 : -1;
fail:
    return -1;
}

/* A memory of layout want holding the user's weights: the user memory itself,
 * or a copy the refresh steps keep current. */
static dnnl_memory_t refreshed(dn_plan *p, dnnl_memory_t user, const dnnl_memory_desc_t *want,
                               const char *lname, cd_err *err)
{
    dnnl_memory_desc_t have = dn_mem_md(user);
    if (dn_md_equal(&have, want))
        return user;
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m || dn_steps_reorder(&p->refresh, &p->pool, p->cfg.eng, user, m, 0, lname, err))
        return NULL;
    return m;
}

static int sep_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_primitive_desc_t dpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_convolution_desc_t cd;
    dw_mds d;
    int rc = -1;
    for (int k = 0; k < l->n_params; k++)
        if (!l->params[k])
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': parameters missing (run shape inference)", l->name);
    if (in->md.ndims != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': SeparableConv2D needs a 4-D input",
                          l->name);
    if (dw_descs(p, l, &in->md, &d, err) || dw_forward_pd(p, l, &d, &dpd, err))
        return -1;
    dnnl_memory_desc_t smd = dn_pd_md(dpd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t wmd = dn_pd_md(dpd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t tmd = dn_pd_md(dpd, dnnl_query_dst_md, 0);
    nd->aux[1] = dn_as_layout(p, in->mem, &smd, l->name, err);
    nd->pmem[0] = nd->aux[1] ? dn_mem(&p->pool, p->cfg.eng, &d.user, l->params[0]->data, err)
                              : NULL;
    nd->aux[0] = nd->pmem[0] ? refreshed(p, nd->pmem[0], &wmd, l->name, err) : NULL;
    nd->aux[2] = nd->aux[0] ? dn_mem(&p->pool, p->cfg.eng, &tmd, NULL, err) : NULL;
    if (!nd->aux[2] ||
        !dn_steps_prim(&p->fwd, &p->pool, dpd, l->name, err, 3, DNNL_ARG_SRC, nd->aux[1],
                       DNNL_ARG_WEIGHTS, nd->aux[0], DNNL_ARG_DST, nd->aux[2]))
        goto fail;

    /* pointwise: a 1x1 convolution over the depthwise output */
    dnnl_dim_t mid = tmd.dims[1], oc = l->filters;
    dnnl_dims_t pw_dims = {oc, mid, 1, 1}, dd = {p->n, oc, l->out_h, l->out_w};
    dnnl_dims_t one = {1, 1}, zero = {0, 0};
    dnnl_memory_desc_t psrc, pw, puser, pb, pdst;
    if (dn_md(&psrc, 4, tmd.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&pw, 4, pw_dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&puser, 4, pw_dims, dnnl_hwio, l->name, err) ||
        dn_md(&pb, 1, &oc, dnnl_a, l->name, err) ||
        dn_md(&pdst, 4, dd, dnnl_format_tag_any, l->name, err))
        goto fail;
    attr = dn_attr_act(p, nd, l, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_dilated_convolution_forward_desc_init(
                 &cd, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_convolution_direct, &psrc, &pw, l->use_bias ? &pb : NULL, &pdst, one, zero,
                 zero, zero),
             err, "pointwise convolution descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&nd->fwd_pd, &cd, attr, p->cfg.eng, NULL), err,
             "pointwise convolution", l->name);
    nd->conv_alg = dnnl_convolution_direct;
    for (int k = 0; k < 2; k++) {
        nd->strides[k] = 1;
        nd->kernel[k] = 1;
        nd->pad_l[k] = nd->pad_r[k] = 0;
    }
    psrc = dn_pd_md(nd->fwd_pd, dnnl_query_src_md, 0);
    pw = dn_pd_md(nd->fwd_pd, dnnl_query_weights_md, 0);
    pdst = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->src = dn_as_layout(p, nd->aux[2], &psrc, l->name, err);
    /* the pointwise kernel is params[1]: set before dn_add_weighted_step reads w_user */
    nd->w_param = 1;
    nd->w_user = nd->src ? dn_mem(&p->pool, p->cfg.eng, &puser, l->params[1]->data, err) : NULL;
    dn_quant q = {.src_dt = dnnl_f32, .w_dt = dnnl_f32, .units = oc};
    if (!nd->w_user || dn_add_weighted_step(p, nd, l, &puser, &pw, &pdst, oc, &q, err))
        goto fail;
    rc = 0;
fail:
    if (dpd)
        dnnl_primitive_desc_destroy(dpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Weight gradient of pd_w into the runner's tensor g (Keras layout user_md),
 * with the bias gradient into gb when not NULL. */
static int weights_grad(dn_plan *p, const layer *l, const_dnnl_primitive_desc_t pd_w,
                        dnnl_memory_t src, dnnl_memory_t diff_dst, tensor *g,
                        const dnnl_memory_desc_t *user_md, tensor *gb, cd_err *err)
{
    dnnl_memory_desc_t smd = dn_pd_md(pd_w, dnnl_query_src_md, 0);
    dnnl_memory_desc_t dmd = dn_pd_md(pd_w, dnnl_query_diff_dst_md, 0);
    dnnl_memory_desc_t wmd = dn_pd_md(pd_w, dnnl_query_diff_weights_md, 0);
    dnnl_memory_t s = dn_bwd_layout(p, src, &smd, l->name, err);
    dnnl_memory_t dd = s ? dn_bwd_layout(p, diff_dst, &dmd, l->name, err) : NULL;
    dnnl_memory_t user = dd ? dn_mem(&p->pool, p->cfg.eng, user_md, g->data, err) : NULL;
    dnnl_memory_t gw = !user ? NULL
                       : dn_md_equal(user_md, &wmd) ? user
                                                     : dn_mem(&p->pool, p->cfg.eng, &wmd, NULL, err);
    if (!gw)
        return -1;
    dn_step *st = dn_steps_prim(&p->bwd, &p->pool, pd_w, l->name, err, 3, DNNL_ARG_SRC, s,
                                DNNL_ARG_DIFF_DST, dd, DNNL_ARG_DIFF_WEIGHTS, gw);
    if (!st)
        return -1;
    if (gb) {
        dnnl_memory_desc_t bmd;
        dnnl_dim_t units = (dnnl_dim_t)gb->size;
        dnnl_memory_t m = dn_md(&bmd, 1, &units, dnnl_a, l->name, err)
                              ? NULL
                              : dn_mem(&p->pool, p->cfg.eng, &bmd, gb->data, err);
        if (!m || dn_step_arg(st, DNNL_ARG_DIFF_BIAS, m, err))
            return -1;
    }
    if (gw != user && dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, gw, user, 0, l->name, err))
        return -1;
    return 0;
}

static int sep_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    int r = p->nodes[l->inputs[0]].root, rc = -1;
    int want_w = dn_needs_weight_grad(p, i), want_x = p->nodes[r].wants;
    tensor *const *g = &p->cfg.grads[LAYER_MAX_PARAMS * i];
    dnnl_primitive_desc_t pw_w = NULL, pw_d = NULL, dfwd = NULL, dw_w = NULL, dw_d = NULL;
    dnnl_convolution_desc_t cd;
    dw_mds d;
    if (!want_w && !want_x)
        return 0;
    dnnl_memory_t dpre = dn_pre_activation_grad(p, i, err);
    if (!dpre)
        return -1;
    dnnl_memory_desc_t t_have = dn_mem_md(nd->aux[2]), d_have = dn_mem_md(dpre);
    dnnl_memory_desc_t psrc, pw, puser, pb, pdst;
    dnnl_dim_t oc = l->filters;
    dnnl_dims_t pw_dims = {oc, t_have.dims[1], 1, 1}, one = {1, 1}, zero = {0, 0};
    if (dn_md(&psrc, 4, t_have.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&pw, 4, pw_dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&puser, 4, pw_dims, dnnl_hwio, l->name, err) ||
        dn_md(&pb, 1, &oc, dnnl_a, l->name, err) ||
        dn_md(&pdst, 4, d_have.dims, dnnl_format_tag_any, l->name, err))
        goto fail;

    /* pointwise: weights (+ bias) gradients, then the depthwise output's gradient */
    if (want_w) {
        DN_CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
                     &cd, dnnl_convolution_direct, &psrc, &pw, l->use_bias ? &pb : NULL, &pdst,
                     one, zero, zero, zero),
                 err, "pointwise backward weights descriptor", l->name);
        if (!(pw_w = dn_pd(p->cfg.eng, &cd, nd->fwd_pd, "pointwise backward weights", l->name, err)))
            goto fail;
        if (weights_grad(p, l, pw_w, nd->src, dpre, g[1], &puser, l->use_bias ? g[2] : NULL,
                         err))
            goto fail;
    }
    DN_CHECK(dnnl_dilated_convolution_backward_data_desc_init(
                 &cd, dnnl_convolution_direct, &psrc, &pw, &pdst, one, zero, zero, zero),
             err, "pointwise backward data descriptor", l->name);
    if (!(pw_d = dn_pd(p->cfg.eng, &cd, nd->fwd_pd, "pointwise backward data", l->name, err)))
        goto fail;
    dnnl_memory_desc_t wmd = dn_pd_md(pw_d, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dmd = dn_pd_md(pw_d, dnnl_query_diff_dst_md, 0);
    dnnl_memory_desc_t tmd = dn_pd_md(pw_d, dnnl_query_diff_src_md, 0);
    dnnl_memory_t wb = refreshed(p, nd->w_user, &wmd, l->name, err);
    dnnl_memory_t dd = wb ? dn_bwd_layout(p, dpre, &dmd, l->name, err) : NULL;
    dnnl_memory_t dt = dd ? dn_mem(&p->pool, p->cfg.eng, &tmd, NULL, err) : NULL;
    if (!dt || !dn_steps_prim(&p->bwd, &p->pool, pw_d, l->name, err, 3, DNNL_ARG_DIFF_DST, dd,
                              DNNL_ARG_WEIGHTS, wb, DNNL_ARG_DIFF_SRC, dt))
        goto fail;

    /* depthwise: its forward again as the hint, then kernel and input gradients */
    dnnl_memory_desc_t in_md = dn_mem_md(nd->aux[1]);
    if (dw_descs(p, l, &in_md, &d, err) || dw_forward_pd(p, l, &d, &dfwd, err))
        goto fail;
    if (want_w) {
        DN_CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
                     &cd, dnnl_convolution_direct, &d.src, &d.w, NULL, &d.dst, d.strides, d.dil,
                     d.pad_l, d.pad_r),
                 err, "depthwise backward weights descriptor", l->name);
        if (!(dw_w = dn_pd(p->cfg.eng, &cd, dfwd, "depthwise backward weights", l->name, err)))
            goto fail;
        if (weights_grad(p, l, dw_w, nd->aux[1], dt, g[0], &d.user, NULL, err))
            goto fail;
    }
    if (want_x) {
        DN_CHECK(dnnl_dilated_convolution_backward_data_desc_init(
                     &cd, dnnl_convolution_direct, &d.src, &d.w, &d.dst, d.strides, d.dil,
                     d.pad_l, d.pad_r),
                 err, "depthwise backward data descriptor", l->name);
        if (!(dw_d = dn_pd(p->cfg.eng, &cd, dfwd, "depthwise backward data", l->name, err)))
            goto fail;
        dnnl_memory_desc_t w2 = dn_pd_md(dw_d, dnnl_query_weights_md, 0);
        dnnl_memory_t wk = refreshed(p, nd->pmem[0], &w2, l->name, err);
        if (!wk || dn_bwd_data_step_pd(p, r, dw_d, dt, l->name, err, 1, DNNL_ARG_WEIGHTS, wk))
            goto fail;
    }
    rc = 0;
fail:;
    /* (the ';' makes the label a statement: C11 allows no declaration right after one) */
    dnnl_primitive_desc_t pds[5] = {pw_w, pw_d, dfwd, dw_w, dw_d};
    for (int k = 0; k < 5; k++)
        if (pds[k])
            dnnl_primitive_desc_destroy(pds[k]);
    return rc;
}

const layer_op op_separable_conv2d = {
    .keras_class = "SeparableConv2D",
    .flags = OP_FUSED_ACT | OP_GLOROT,
    .infer = sep_infer,
    .ref_forward = sep_ref_forward,
    .ref_backward = sep_ref_backward,
    .dn_forward = sep_dn_forward,
    .dn_backward = sep_dn_backward,
    .param_name = sep_param_name,
    .defaults = sep_defaults,
    .ref_work = sep_ref_work,
};
