/*
 * dnnl_plan_bwd.c - the backward half of a training plan (see dnnl_plan.h).
 *
 * Layers are visited from the output back to the input, so when a layer's turn
 * comes every consumer has already added its share to the layer's gradient.
 * Gradient buffers live in the layout of the output they belong to.  A
 * contribution is written straight into that buffer when it is the first one and
 * the producing primitive chose the same layout; otherwise it goes through a
 * scratch buffer and a reorder, which sums (post-op "sum") from the second
 * contribution on -- that is how a layer read by several others (SqueezeNet's
 * squeeze layers feed two expand convolutions) gets the sum of its gradients.
 *
 * Weight gradients come out of oneDNN in its own layouts and are reordered into
 * the runner's gradient tensors, which have Keras' layouts; bias gradients are
 * written in place.  The input layer and layers upstream of nothing trainable
 * get no gradient at all (no backward-data primitive is even created for the
 * first convolution).
 */
#include "engine/dnnl_plan.h"

/* A memory in layout md for a primitive to write a gradient contribution to root
 * R into: R's own gradient buffer when possible (*direct = 1). */
static dnnl_memory_t grad_target(dn_plan *p, int r, const dnnl_memory_desc_t *md, int *direct,
                                 cd_err *err)
{
    dn_node *rn = &p->nodes[r];
    if (rn->contrib == 0 && dn_md_equal(md, &rn->md)) {
        *direct = 1;
        return rn->diff;
    }
    *direct = 0;
    return dn_mem(&p->pool, p->cfg.eng, md, NULL, err);
}

/* Completes a contribution made through grad_target. */
static int grad_done(dn_plan *p, int r, dnnl_memory_t m, int direct, const char *lname, cd_err *err)
{
    dn_node *rn = &p->nodes[r];
    if (!direct && dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, m, rn->diff, rn->contrib > 0,
                                    lname, err))
        return -1;
    rn->contrib++;
    return 0;
}

/* Adds the gradient held by view `m` (same logical tensor as root r) to r. */
static int grad_add(dn_plan *p, int r, dnnl_memory_t m, const char *lname, cd_err *err)
{
    return grad_done(p, r, m, 0, lname, err);
}

/* `src` in layout want, reordered by a backward step when needed. */
static dnnl_memory_t bwd_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                                const char *lname, cd_err *err)
{
    dnnl_memory_desc_t have = dn_mem_md(src);
    if (dn_md_equal(&have, want))
        return src;
    dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
    if (!m || dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, src, m, 0, lname, err))
        return NULL;
    return m;
}

static dnnl_alg_kind_t use_dst_alg(layer_act a)
{
    switch (a) {
    case ACT_RELU: return dnnl_eltwise_relu_use_dst_for_bwd;
    case ACT_SIGMOID: return dnnl_eltwise_logistic_use_dst_for_bwd;
    case ACT_TANH: return dnnl_eltwise_tanh_use_dst_for_bwd;
    default: return (dnnl_alg_kind_t)0;
    }
}

/* Eltwise backward from the output: diff_src = f'(dst) * diff_dst, on layout md. */
static int eltwise_bwd(dn_plan *p, const layer *l, layer_act act, const dnnl_memory_desc_t *md,
                       const_dnnl_primitive_desc_t hint, dnnl_memory_t diff_dst, dnnl_memory_t dst,
                       dnnl_memory_t diff_src, cd_err *err)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t hint_own = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int rc = -1;
    dnnl_alg_kind_t alg = use_dst_alg(act);

    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    if (!hint) {
        /* a fused post-op has no forward eltwise of its own: describe one */
        DN_CHECK(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, md, 0.0f, 0.0f),
                 err, "eltwise descriptor", l->name);
        DN_CHECK(dnnl_primitive_desc_create(&hint_own, &d, attr, p->cfg.eng, NULL), err,
                 "eltwise", l->name);
        hint = hint_own;
    }
    DN_CHECK(dnnl_eltwise_backward_desc_init(&d, alg, md, md, 0.0f, 0.0f), err,
             "eltwise backward descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, hint), err, "eltwise backward",
             l->name);
    if (!dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_DIFF_DST, diff_dst,
                       DNNL_ARG_DST, dst, DNNL_ARG_DIFF_SRC, diff_src))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (hint_own)
        dnnl_primitive_desc_destroy(hint_own);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int softmax_bwd(dn_plan *p, const layer *l, const dn_node *nd,
                       const dnnl_memory_desc_t *diff_src_md, dnnl_memory_t diff_src, cd_err *err)
{
    dnnl_softmax_v2_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int rc = -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_softmax_v2_backward_desc_init(&d, dnnl_softmax_accurate, diff_src_md, &nd->md,
                                                &nd->md, 1),
             err, "softmax backward descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, nd->sm_pd), err,
             "softmax backward", l->name);
    if (!dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_DIFF_DST, nd->diff,
                       DNNL_ARG_DST, nd->mem, DNNL_ARG_DIFF_SRC, diff_src))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* The gradient before the conv/dense layer's own activation. */
static dnnl_memory_t pre_activation_grad(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    if (nd->act == ACT_SOFTMAX) {
        dnnl_memory_desc_t md = dn_mem_md(nd->pre);
        dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, &md, NULL, err);
        if (!m || softmax_bwd(p, l, nd, &md, m, err))
            return NULL;
        return m;
    }
    if (use_dst_alg(nd->act)) {
        /* in place: nothing else reads this gradient afterwards */
        if (eltwise_bwd(p, l, nd->act, &nd->md, NULL, nd->diff, nd->mem, nd->diff, err))
            return NULL;
    }
    return nd->diff;
}

/* Weight gradient layout: the runner's Keras-layout tensor, reordered into
 * after the primitive when oneDNN wants another layout. */
static dnnl_memory_t grad_weights_mem(dn_plan *p, const layer *l, const dnnl_memory_desc_t *user_md,
                                      const dnnl_memory_desc_t *want, dnnl_memory_t *user_out,
                                      cd_err *err)
{
    tensor *g = p->cfg.grads[2 * (l - p->m->layers)];
    *user_out = dn_mem(&p->pool, p->cfg.eng, user_md, g->data, err);
    if (!*user_out)
        return NULL;
    if (dn_md_equal(user_md, want))
        return *user_out;
    return dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
}

static dnnl_memory_t grad_bias_mem(dn_plan *p, const layer *l, cd_err *err)
{
    tensor *g = p->cfg.grads[2 * (l - p->m->layers) + 1];
    dnnl_memory_desc_t md;
    dnnl_dim_t units = (dnnl_dim_t)g->size;
    if (dn_md(&md, 1, &units, dnnl_a, l->name, err))
        return NULL;
    return dn_mem(&p->pool, p->cfg.eng, &md, g->data, err);
}

/* Shared tail of convolution and inner product backward: weights (+bias)
 * gradients from pd_w, then the data gradient from pd_d (either may be NULL). */
static int weighted_bwd(dn_plan *p, int i, dnnl_memory_t dpre, const_dnnl_primitive_desc_t pd_w,
                        const_dnnl_primitive_desc_t pd_d, const dnnl_memory_desc_t *user_md,
                        cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    if (pd_w) {
        dnnl_memory_desc_t smd = dn_pd_md(pd_w, dnnl_query_src_md, 0);
        dnnl_memory_desc_t dmd = dn_pd_md(pd_w, dnnl_query_diff_dst_md, 0);
        dnnl_memory_desc_t wmd = dn_pd_md(pd_w, dnnl_query_diff_weights_md, 0);
        dnnl_memory_t src = bwd_layout(p, nd->src, &smd, l->name, err);
        dnnl_memory_t dd = src ? bwd_layout(p, dpre, &dmd, l->name, err) : NULL;
        dnnl_memory_t gw_user = NULL;
        dnnl_memory_t gw = dd ? grad_weights_mem(p, l, user_md, &wmd, &gw_user, err) : NULL;
        if (!gw)
            return -1;
        dn_step *st = dn_steps_prim(&p->bwd, &p->pool, pd_w, l->name, err, 3, DNNL_ARG_SRC, src,
                                    DNNL_ARG_DIFF_DST, dd, DNNL_ARG_DIFF_WEIGHTS, gw);
        if (!st)
            return -1;
        if (l->use_bias) {
            dnnl_memory_t gb = grad_bias_mem(p, l, err);
            if (!gb || dn_step_arg(st, DNNL_ARG_DIFF_BIAS, gb, err))
                return -1;
        }
        if (gw != gw_user &&
            dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, gw, gw_user, 0, l->name, err))
            return -1;
    }
    if (pd_d) {
        int r = p->nodes[l->inputs[0]].root, direct;
        dnnl_memory_desc_t wmd = dn_pd_md(pd_d, dnnl_query_weights_md, 0);
        dnnl_memory_desc_t dmd = dn_pd_md(pd_d, dnnl_query_diff_dst_md, 0);
        dnnl_memory_desc_t smd = dn_pd_md(pd_d, dnnl_query_diff_src_md, 0);
        dnnl_memory_desc_t fwd_w = dn_mem_md(nd->w);
        if (dn_md_equal(&wmd, &fwd_w)) {
            nd->wb = nd->w;
        } else {
            nd->wb = dn_mem(&p->pool, p->cfg.eng, &wmd, NULL, err);
            if (!nd->wb || dn_steps_reorder(&p->refresh, &p->pool, p->cfg.eng, nd->w_user, nd->wb,
                                            0, l->name, err))
                return -1;
        }
        dnnl_memory_t dd = bwd_layout(p, dpre, &dmd, l->name, err);
        dnnl_memory_t ds = dd ? grad_target(p, r, &smd, &direct, err) : NULL;
        if (!ds || !dn_steps_prim(&p->bwd, &p->pool, pd_d, l->name, err, 3, DNNL_ARG_DIFF_DST, dd,
                                  DNNL_ARG_WEIGHTS, nd->wb, DNNL_ARG_DIFF_SRC, ds))
            return -1;
        if (grad_done(p, r, ds, direct, l->name, err))
            return -1;
    }
    return 0;
}

static int needs_weight_grad(const dn_plan *p, int i)
{
    const layer *l = &p->m->layers[i];
    return l->trainable && l->n_params > 0 && p->cfg.grads[2 * i] != NULL;
}

static int conv_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_convolution_desc_t d;
    dnnl_primitive_desc_t pd_w = NULL, pd_d = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md, user_md;
    int rc = -1;
    int r = p->nodes[l->inputs[0]].root;

    dnnl_memory_t dpre = pre_activation_grad(p, i, err);
    if (!dpre)
        return -1;
    dnnl_memory_desc_t s_have = dn_mem_md(nd->src), d_have = dn_mem_md(dpre);
    dnnl_dim_t oc = l->filters;
    dnnl_dims_t wd = {oc, s_have.dims[1], nd->kernel[0], nd->kernel[1]};
    if (dn_md(&src_md, 4, s_have.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&dst_md, 4, d_have.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&w_md, 4, wd, dnnl_format_tag_any, l->name, err) ||
        dn_md(&user_md, 4, wd, dnnl_hwio, l->name, err) ||
        dn_md(&b_md, 1, &oc, dnnl_a, l->name, err))
        return -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    /* the forward's algorithm (Winograd or direct); direct where oneDNN has no
     * Winograd kernel for this backward pass */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 ? !needs_weight_grad(p, i) : !p->nodes[r].wants)
            continue;
        dnnl_primitive_desc_t *pd = pass == 0 ? &pd_w : &pd_d;
        dnnl_alg_kind_t alg = nd->conv_alg;
        for (;;) {
            if (pass == 0)
                DN_CHECK(dnnl_convolution_backward_weights_desc_init(
                             &d, alg, &src_md, &w_md, l->use_bias ? &b_md : NULL, &dst_md,
                             nd->strides, nd->pad_l, nd->pad_r),
                         err, "convolution backward weights descriptor", l->name);
            else
                DN_CHECK(dnnl_convolution_backward_data_desc_init(&d, alg, &src_md, &w_md, &dst_md,
                                                                  nd->strides, nd->pad_l,
                                                                  nd->pad_r),
                         err, "convolution backward data descriptor", l->name);
            dnnl_status_t st = dnnl_primitive_desc_create(pd, &d, attr, p->cfg.eng, nd->fwd_pd);
            if (st == dnnl_success)
                break;
            if (alg == dnnl_convolution_direct) {
                dn_fail(err, st, pass == 0 ? "convolution backward weights"
                                           : "convolution backward data", l->name);
                goto fail;
            }
            alg = dnnl_convolution_direct;
        }
    }
    rc = weighted_bwd(p, i, dpre, pd_w, pd_d, &user_md, err);
fail:
    if (pd_w)
        dnnl_primitive_desc_destroy(pd_w);
    if (pd_d)
        dnnl_primitive_desc_destroy(pd_d);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int dense_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_inner_product_desc_t d;
    dnnl_primitive_desc_t pd_w = NULL, pd_d = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t w_md, b_md, dst_md, user_md;
    int rc = -1;
    int r = in->root;

    dnnl_memory_t dpre = pre_activation_grad(p, i, err);
    if (!dpre)
        return -1;
    dnnl_memory_desc_t d_have = dn_mem_md(dpre);
    dnnl_dim_t units = l->units;
    if (dn_dense_weight_mds(&in->md, units, &w_md, &user_md, l->name, err))
        return -1;
    if (dn_md(&dst_md, 2, d_have.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&b_md, 1, &units, dnnl_a, l->name, err))
        return -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    if (needs_weight_grad(p, i)) {
        DN_CHECK(dnnl_inner_product_backward_weights_desc_init(
                     &d, &in->md, &w_md, l->use_bias ? &b_md : NULL, &dst_md),
                 err, "inner product backward weights descriptor", l->name);
        DN_CHECK(dnnl_primitive_desc_create(&pd_w, &d, attr, p->cfg.eng, nd->fwd_pd), err,
                 "inner product backward weights", l->name);
    }
    if (p->nodes[r].wants) {
        /* Prefer the forward's weight layout: no second copy to refresh after
         * every optimizer step (4.7 MB for the binary CNN's first dense layer). */
        dnnl_memory_desc_t fw = dn_mem_md(nd->w);
        DN_CHECK(dnnl_inner_product_backward_data_desc_init(&d, &in->md, &fw, &dst_md), err,
                 "inner product backward data descriptor", l->name);
        if (dnnl_primitive_desc_create(&pd_d, &d, attr, p->cfg.eng, nd->fwd_pd) != dnnl_success) {
            pd_d = NULL;
            DN_CHECK(dnnl_inner_product_backward_data_desc_init(&d, &in->md, &w_md, &dst_md), err,
                     "inner product backward data descriptor", l->name);
            DN_CHECK(dnnl_primitive_desc_create(&pd_d, &d, attr, p->cfg.eng, nd->fwd_pd), err,
                     "inner product backward data", l->name);
        }
    }
    rc = weighted_bwd(p, i, dpre, pd_w, pd_d, &user_md, err);
fail:
    if (pd_w)
        dnnl_primitive_desc_destroy(pd_w);
    if (pd_d)
        dnnl_primitive_desc_destroy(pd_d);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int pool_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct;
    if (!p->nodes[r].wants)
        return 0;
    int is_max = l->kind == LAYER_MAXPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;
    dnnl_pooling_v2_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_dims_t dil = {0, 0};
    int rc = -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_pooling_v2_backward_desc_init(
                 &d, is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &in->md,
                 &nd->md, nd->strides, nd->kernel, dil, nd->pad_l, nd->pad_r),
             err, "pooling backward descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, nd->fwd_pd), err,
             "pooling backward", l->name);
    /* the ReLU moved behind this pooling (swap_relu_maxpool), in place */
    if (nd->post_relu &&
        eltwise_bwd(p, l, ACT_RELU, &nd->md, NULL, nd->diff, nd->mem, nd->diff, err))
        goto fail;
    dnnl_memory_desc_t smd = dn_pd_md(pd, dnnl_query_diff_src_md, 0);
    dnnl_memory_desc_t dmd = dn_pd_md(pd, dnnl_query_diff_dst_md, 0);
    dnnl_memory_t dd = bwd_layout(p, nd->diff, &dmd, l->name, err);
    dnnl_memory_t ds = dd ? grad_target(p, r, &smd, &direct, err) : NULL;
    if (!ds)
        goto fail;
    dn_step *st = dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 2, DNNL_ARG_DIFF_DST, dd,
                                DNNL_ARG_DIFF_SRC, ds);
    if (!st || (nd->ws && dn_step_arg(st, DNNL_ARG_WORKSPACE, nd->ws, err)))
        goto fail;
    rc = grad_done(p, r, ds, direct, l->name, err);
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int activation_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct;
    if (!p->nodes[r].wants)
        return 0;
    if (nd->act == ACT_SOFTMAX && nd->plain) {
        /* softmax ran on an NHWC copy seen as 2-D; bring the gradient back */
        dnnl_memory_t g2 = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
        dnnl_memory_desc_t v4;
        if (!g2 || softmax_bwd(p, l, nd, &nd->md, g2, err) ||
            dn_md_plain_view(&v4, &in->md, 0, 0, l->name, err))
            return -1;
        dnnl_memory_t g4 = dn_mem(&p->pool, p->cfg.eng, &v4, dn_mem_ptr(g2), err);
        return g4 ? grad_add(p, r, g4, l->name, err) : -1;
    }
    dnnl_memory_t ds = grad_target(p, r, &in->md, &direct, err);
    if (!ds)
        return -1;
    if (nd->act == ACT_SOFTMAX) {
        if (softmax_bwd(p, l, nd, &in->md, ds, err))
            return -1;
    } else if (eltwise_bwd(p, l, nd->act, &in->md, nd->fwd_pd, nd->diff, nd->mem, ds, err)) {
        return -1;
    }
    return grad_done(p, r, ds, direct, l->name, err);
}

static int dropout_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct, rc = -1;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_binary_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        return -1;
    DN_CHECK(dnnl_binary_desc_init(&d, dnnl_binary_mul, &in->md, &in->md, &in->md), err,
             "binary descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL), err, "binary", l->name);
    dnnl_memory_t ds = grad_target(p, r, &in->md, &direct, err);
    if (!ds || !dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_SRC_0, nd->diff,
                              DNNL_ARG_SRC_1, nd->mask, DNNL_ARG_DST, ds))
        goto fail;
    rc = grad_done(p, r, ds, direct, l->name, err);
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int concat_bwd(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    void *base = dn_mem_ptr(nd->diff);
    dnnl_dim_t off = 0;
    dnnl_dim_t total = nd->md.ndims == 2 ? nd->md.dims[1] : 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const dn_node *in = &p->nodes[l->inputs[k]];
        dnnl_memory_desc_t view;
        dnnl_dim_t width = l->out_rank == 4 ? in->md.dims[1]
                                            : (dnnl_dim_t)(dn_md_elems(&in->md) / (size_t)p->n);
        if (p->nodes[in->root].wants) {
            if (l->out_rank == 4) {
                dnnl_dims_t offs = {0, off, 0, 0};
                DN_CHECK(dnnl_memory_desc_init_submemory(&view, &nd->md, in->md.dims, offs), err,
                         "sub-memory", l->name);
            } else if (dn_md_plain_view(&view, &in->md, total, off, l->name, err)) {
                return -1;
            }
            dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, base, err);
            if (!vm || grad_add(p, in->root, vm, l->name, err))
                return -1;
        }
        off += width;
    }
    return 0;
fail:
    return -1;
}

int dn_plan_build_backward(dn_plan *p, cd_err *err)
{
    const model *m = p->m;
    /* gradient buffers: one per computing layer whose output needs one */
    for (int i = 0; i <= p->out_index; i++) {
        dn_node *nd = &p->nodes[i];
        if (!nd->needed || !nd->wants)
            continue;
        if (nd->root == i) {
            nd->diff = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
            if (!nd->diff)
                return -1;
        } else {
            nd->diff = p->nodes[nd->root].diff;
        }
    }
    int o = p->nodes[p->out_index].root;
    if (!p->nodes[o].wants)
        return 0; /* nothing trainable: backward is a no-op */
    if (dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, p->dout_user, p->nodes[o].diff, 0,
                         "output gradient", err))
        return -1;
    p->nodes[o].contrib = 1;

    for (int i = p->out_index; i > 0; i--) {
        dn_node *nd = &p->nodes[i];
        const layer *l = &m->layers[i];
        if (!nd->needed || !nd->wants || nd->root != i)
            continue;
        if (nd->contrib == 0) {
            /* nothing downstream uses this output: its gradient is zero */
            dn_step *st = dn_steps_push(&p->bwd, DN_STEP_ZERO, err);
            if (!st)
                return -1;
            st->mem = nd->diff;
        }
        int rc;
        switch (l->kind) {
        case LAYER_CONV2D: rc = conv_bwd(p, i, err); break;
        case LAYER_DENSE: rc = dense_bwd(p, i, err); break;
        case LAYER_MAXPOOL2D:
        case LAYER_AVGPOOL2D:
        case LAYER_GLOBAL_AVGPOOL2D:
        case LAYER_GLOBAL_MAXPOOL2D: rc = pool_bwd(p, i, err); break;
        case LAYER_ACTIVATION: rc = activation_bwd(p, i, err); break;
        case LAYER_DROPOUT: rc = dropout_bwd(p, i, err); break;
        case LAYER_CONCAT: rc = concat_bwd(p, i, err); break;
        default:
            rc = cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': no backward for %s", l->name,
                            layer_kind_name(l->kind));
        }
        if (rc)
            return -1;
    }
    return 0;
}
