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
#include <stdarg.h>

#include "engine/dnnl_plan.h"

#include <stdlib.h>

#include "engine/op.h"

/* A memory in layout md for a primitive to write a gradient contribution to root
 * R into: R's own gradient buffer when possible (*direct = 1).  When R learns
 * nothing (a primitive that must write dx anyway, because it also gives a
 * weight's gradient): a scratch buffer, *direct = -1, which dn_grad_done drops. */
dnnl_memory_t dn_grad_target(dn_plan *p, int r, const dnnl_memory_desc_t *md, int *direct,
                             cd_err *err)
{
    dn_node *rn = &p->nodes[r];
    if (!rn->wants) {
        *direct = -1;
        return dn_mem(&p->pool, p->cfg.eng, md, NULL, err);
    }
    if (rn->contrib == 0 && dn_md_equal(md, &rn->md)) {
        *direct = 1;
        return rn->diff;
    }
    *direct = 0;
    return dn_mem(&p->pool, p->cfg.eng, md, NULL, err);
}

/* Completes a contribution made through grad_target (nothing for a scratch one). */
int dn_grad_done(dn_plan *p, int r, dnnl_memory_t m, int direct, const char *lname, cd_err *err)
{
    dn_node *rn = &p->nodes[r];
    if (direct < 0)
        return 0;
    if (!direct && dn_steps_reorder(&p->bwd, &p->pool, p->cfg.eng, m, rn->diff, rn->contrib > 0,
                                    lname, err))
        return -1;
    rn->contrib++;
    return 0;
}

/* Adds the gradient held by view `m` (same logical tensor as root r) to r. */
int dn_grad_add(dn_plan *p, int r, dnnl_memory_t m, const char *lname, cd_err *err)
{
    return dn_grad_done(p, r, m, 0, lname, err);
}

/* `src` in layout want, reordered by a backward step when needed. */
dnnl_memory_t dn_bwd_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
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

/* dn_bwd_data_step_pd with the extra pairs in ap. */
static int bwd_data_step(dn_plan *p, int r, const_dnnl_primitive_desc_t pd, dnnl_memory_t diff,
                         const char *lname, cd_err *err, int n_extra, va_list ap)
{
    int direct;
    dnnl_memory_desc_t smd = dn_pd_md(pd, dnnl_query_diff_src_md, 0);
    dnnl_memory_desc_t dmd = dn_pd_md(pd, dnnl_query_diff_dst_md, 0);
    dnnl_memory_t dd = dn_bwd_layout(p, diff, &dmd, lname, err);
    dnnl_memory_t ds = dd ? dn_grad_target(p, r, &smd, &direct, err) : NULL;
    dn_step *st = ds ? dn_steps_prim(&p->bwd, &p->pool, pd, lname, err, 2, DNNL_ARG_DIFF_DST, dd,
                                     DNNL_ARG_DIFF_SRC, ds)
                     : NULL;
    if (!st)
        return -1;
    for (int k = 0; k < n_extra; k++) {
        int arg = va_arg(ap, int);
        dnnl_memory_t mem = va_arg(ap, dnnl_memory_t);
        if (mem && dn_step_arg(st, arg, mem, err))
            return -1;
    }
    return dn_grad_done(p, r, ds, direct, lname, err);
}

int dn_bwd_data_step_pd(dn_plan *p, int r, const_dnnl_primitive_desc_t pd, dnnl_memory_t diff,
                        const char *lname, cd_err *err, int n_extra, ...)
{
    va_list ap;
    va_start(ap, n_extra);
    int rc = bwd_data_step(p, r, pd, diff, lname, err, n_extra, ap);
    va_end(ap);
    return rc;
}

int dn_bwd_data_step(dn_plan *p, int r, const_dnnl_op_desc_t op_desc,
                     const_dnnl_primitive_desc_t hint, const char *what, dnnl_memory_t diff,
                     const char *lname, cd_err *err, int n_extra, ...)
{
    dnnl_primitive_desc_t pd = dn_pd(p->cfg.eng, op_desc, hint, what, lname, err);
    if (!pd)
        return -1;
    va_list ap;
    va_start(ap, n_extra);
    int rc = bwd_data_step(p, r, pd, diff, lname, err, n_extra, ap);
    va_end(ap);
    dnnl_primitive_desc_destroy(pd);
    return rc;
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

/* One eltwise backward step of algorithm e reading `data` as its source (or
 * its destination for the use_dst_for_bwd algorithms).  hint = the forward
 * eltwise's descriptor; NULL for one fused as a post-op, which has none of its
 * own: one is described here. */
static int elt_bwd(dn_plan *p, const layer *l, const dn_elt *e, const dnnl_memory_desc_t *md,
                   const_dnnl_primitive_desc_t hint, dnnl_memory_t diff_dst, dnnl_memory_t data,
                   dnnl_memory_t diff_src, cd_err *err)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t hint_own = NULL, pd = NULL;
    int rc = -1;
    if (!hint) {
        DN_CHECK(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, e->alg, md, e->alpha,
                                                e->beta),
                 err, "eltwise descriptor", l->name);
        if (!(hint = hint_own = dn_pd(p->cfg.eng, &d, NULL, "eltwise", l->name, err)))
            goto fail;
    }
    DN_CHECK(dnnl_eltwise_backward_desc_init(&d, e->alg, md, md, e->alpha, e->beta), err,
             "eltwise backward descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, hint, "eltwise backward", l->name, err)))
        goto fail;
    int use_dst = e->alg == dnnl_eltwise_relu_use_dst_for_bwd ||
                  e->alg == dnnl_eltwise_logistic_use_dst_for_bwd ||
                  e->alg == dnnl_eltwise_tanh_use_dst_for_bwd;
    if (!dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_DIFF_DST, diff_dst,
                       use_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, data, DNNL_ARG_DIFF_SRC, diff_src))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (hint_own)
        dnnl_primitive_desc_destroy(hint_own);
    return rc;
}

/* Eltwise backward from the output: diff_src = f'(dst) * diff_dst, on layout md. */
int dn_eltwise_bwd(dn_plan *p, const layer *l, layer_act act, const dnnl_memory_desc_t *md,
                   const_dnnl_primitive_desc_t hint, dnnl_memory_t diff_dst, dnnl_memory_t dst,
                   dnnl_memory_t diff_src, cd_err *err)
{
    dn_elt e = {.alg = use_dst_alg(act), .alpha = 0.0f, .beta = 0.0f};
    return elt_bwd(p, l, &e, md, hint, diff_dst, dst, diff_src, err);
}

int dn_softmax_bwd(dn_plan *p, const layer *l, const dn_node *nd,
                   const dnnl_memory_desc_t *diff_src_md, dnnl_memory_t diff_src, cd_err *err)
{
    dnnl_softmax_v2_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    DN_CHECK(dnnl_softmax_v2_backward_desc_init(&d, dnnl_softmax_accurate, diff_src_md, &nd->md,
                                                &nd->md, 1),
             err, "softmax backward descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, nd->sm_pd, "softmax backward", l->name, err)))
        goto fail;
    if (!dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_DIFF_DST, nd->diff,
                       DNNL_ARG_DST, nd->mem, DNNL_ARG_DIFF_SRC, diff_src))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

int dn_act_bwd(dn_plan *p, const dn_node *nd, const layer *l, layer_act act,
               const dnnl_memory_desc_t *md, dnnl_memory_t diff_dst, dnnl_memory_t diff_src,
               cd_err *err)
{
    dn_elt e[DN_ACT_MAX];
    int use_dst = dn_act_uses_dst(act);
    int n = dn_act_chain(act, &l->act_p, use_dst, e);
    if (n < 0)
        return dn_act_composite_bwd(p, nd, l, act, md, diff_dst, diff_src, err);
    if (n != nd->n_act)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': activation %s was not built for "
                          "training", l->name, layer_act_name(act));
    /* the steps in reverse, the later ones in place on diff_dst (read by nothing else) */
    for (int k = n - 1; k >= 0; k--) {
        dnnl_memory_t out = k == 0 ? diff_src : diff_dst;
        if (elt_bwd(p, l, &e[k], md, NULL, diff_dst, use_dst ? nd->mem : nd->act_src[k], out, err))
            return -1;
    }
    if (n == 0 && diff_src != diff_dst)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': linear activation not aliased",
                          l->name);
    return 0;
}

/* The gradient before the conv/dense layer's own activation. */
dnnl_memory_t dn_pre_activation_grad(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    if (nd->act == ACT_SOFTMAX) {
        dnnl_memory_desc_t md = dn_mem_md(nd->pre);
        dnnl_memory_t m = dn_mem(&p->pool, p->cfg.eng, &md, NULL, err);
        if (!m || dn_softmax_bwd(p, l, nd, &md, m, err))
            return NULL;
        return m;
    }
    if (nd->act_sep) {
        /* in place, as below */
        return dn_act_bwd(p, nd, l, nd->act, &nd->md, nd->diff, nd->diff, err) ? NULL : nd->diff;
    }
    if (use_dst_alg(nd->act)) {
        /* in place: nothing else reads this gradient afterwards */
        if (dn_eltwise_bwd(p, l, nd->act, &nd->md, NULL, nd->diff, nd->mem, nd->diff, err))
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
    tensor *g = p->cfg.grads[LAYER_MAX_PARAMS * (l - p->m->layers)];
    *user_out = dn_mem(&p->pool, p->cfg.eng, user_md, g->data, err);
    if (!*user_out)
        return NULL;
    if (dn_md_equal(user_md, want))
        return *user_out;
    return dn_mem(&p->pool, p->cfg.eng, want, NULL, err);
}

static dnnl_memory_t grad_bias_mem(dn_plan *p, const layer *l, cd_err *err)
{
    tensor *g = p->cfg.grads[LAYER_MAX_PARAMS * (l - p->m->layers) + 1];
    dnnl_memory_desc_t md;
    dnnl_dim_t units = (dnnl_dim_t)g->size;
    if (dn_md(&md, 1, &units, dnnl_a, l->name, err))
        return NULL;
    return dn_mem(&p->pool, p->cfg.eng, &md, g->data, err);
}

/* Shared tail of convolution and inner product backward: weights (+bias)
 * gradients from pd_w, then the data gradient from pd_d (either may be NULL). */
int dn_weighted_bwd(dn_plan *p, int i, dnnl_memory_t dpre, const_dnnl_primitive_desc_t pd_w,
                    const_dnnl_primitive_desc_t pd_d, const dnnl_memory_desc_t *user_md,
                    cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    if (pd_w) {
        dnnl_memory_desc_t smd = dn_pd_md(pd_w, dnnl_query_src_md, 0);
        dnnl_memory_desc_t dmd = dn_pd_md(pd_w, dnnl_query_diff_dst_md, 0);
        dnnl_memory_desc_t wmd = dn_pd_md(pd_w, dnnl_query_diff_weights_md, 0);
        dnnl_memory_t src = dn_bwd_layout(p, nd->src, &smd, l->name, err);
        dnnl_memory_t dd = src ? dn_bwd_layout(p, dpre, &dmd, l->name, err) : NULL;
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
        int r = p->nodes[l->inputs[0]].root;
        dnnl_memory_desc_t wmd = dn_pd_md(pd_d, dnnl_query_weights_md, 0);
        dnnl_memory_desc_t fwd_w = dn_mem_md(nd->w);
        if (dn_md_equal(&wmd, &fwd_w)) {
            nd->wb = nd->w;
        } else {
            nd->wb = dn_mem(&p->pool, p->cfg.eng, &wmd, NULL, err);
            if (!nd->wb || dn_steps_reorder(&p->refresh, &p->pool, p->cfg.eng, nd->w_user, nd->wb,
                                            0, l->name, err))
                return -1;
        }
        if (dn_bwd_data_step_pd(p, r, pd_d, dpre, l->name, err, 1, DNNL_ARG_WEIGHTS, nd->wb))
            return -1;
    }
    return 0;
}

int dn_needs_weight_grad(const dn_plan *p, int i)
{
    const layer *l = &p->m->layers[i];
    return l->trainable && l->n_params > 0 && p->cfg.grads[LAYER_MAX_PARAMS * i] != NULL;
}

/* Notes that layer i's parameter gradients are final after the backward
 * steps built so far (dn_plan.ready). */
static int note_ready(dn_plan *p, int i, cd_err *err)
{
    if (!p->ready && !(p->ready = calloc((size_t)p->m->n_layers, sizeof *p->ready)))
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory building the backward pass");
    for (int k = 0; k < p->n_ready; k++)
        if (p->ready[k][1] == i)
            return 0;
    p->ready[p->n_ready][0] = p->bwd.n;
    p->ready[p->n_ready][1] = i;
    p->n_ready++;
    return 0;
}

/* Every layer with a weight gradient not noted yet: final at the end. */
static int note_rest_ready(dn_plan *p, cd_err *err)
{
    for (int i = p->m->n_layers - 1; i >= 0; i--)
        if (dn_needs_weight_grad(p, i) && note_ready(p, i, err))
            return -1;
    return 0;
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
        return note_rest_ready(p, err); /* nothing trainable upstream: backward is a no-op */
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
        const layer_op *op = layer_op_of(l->kind);
        int rc = op->dn_backward
                     ? op->dn_backward(p, i, err)
                     : cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': no backward for %s",
                                  l->name, op->keras_class);
        if (rc)
            return -1;
        /* a layer's own backward writes its parameters' gradients */
        if (dn_needs_weight_grad(p, i) && note_ready(p, i, err))
            return -1;
    }
    return note_rest_ready(p, err);
}
