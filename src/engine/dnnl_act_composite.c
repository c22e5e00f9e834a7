/*
 * dnnl_act_composite.c - the activations oneDNN has no eltwise chain for
 * (dn_act_chain < 0), built from eltwise and binary primitives so that the
 * oneDNN backend runs them too, forward and backward:
 *
 *   softsign  y = x / (1 + |x|)          = div(x, linear_{1,1}(abs(x)))
 *             y' = (1 + |x|)^-2          = pow_{1,-2}(linear_{1,1}(abs(x)))
 *   Keras' ReLU with a threshold t (slope a, clip m; ref_act.c's relu_x,
 *   computed as Keras 2's backend.relu does):
 *             y = clip(x [x > t], 0, m) - a relu(t - x)
 *               = mul(gt(x, t), x) -> clip_v2(0, m) when m >= 0
 *                 -> sub(., linear_{a,0}(relu(linear_{-1,t}(x)))) when a != 0
 *             y' = [x > t] ([x > 0] [x < m] when m >= 0) + a [x < t]
 *
 * Comparisons are oneDNN's binary gt / lt against a scalar (a one-element
 * memory broadcast over the map), which write 1 or 0.  The source x is the
 * activation's input (nd->act_src[0]), kept by the forward: these layers run
 * their activation separately (act_sep, set in mark_nodes).
 */
#include "engine/dnnl_plan.h"

/* Appends an eltwise (forward inference) step src -> dst on layout md. */
static int elt(dn_plan *p, dn_steps *s, const layer *l, dnnl_alg_kind_t alg, float alpha,
               float beta, const dnnl_memory_desc_t *md, dnnl_memory_t src, dnnl_memory_t dst,
               cd_err *err)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    DN_CHECK(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, md, alpha, beta),
             err, "eltwise descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, NULL, "eltwise", l->name, err)))
        goto fail;
    if (dn_steps_prim(s, &p->pool, pd, l->name, err, 2, DNNL_ARG_SRC, src, DNNL_ARG_DST, dst))
        rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Appends a binary step dst = a op b on s; b may be a broadcast scalar. */
static int bin(dn_plan *p, dn_steps *s, const layer *l, dnnl_alg_kind_t alg, dnnl_memory_t a,
               dnnl_memory_t b, dnnl_memory_t dst, cd_err *err)
{
    return dn_steps_binary(s, &p->pool, p->cfg.eng, alg, a, b, dst, l->name, err);
}

/* A one-element memory holding v, broadcast against maps of md's rank. */
static dnnl_memory_t scalar(dn_plan *p, const layer *l, const dnnl_memory_desc_t *md, float v,
                            cd_err *err)
{
    dnnl_dims_t ones = {1, 1, 1, 1, 1, 1};
    dnnl_memory_desc_t smd;
    float *buf = dn_pool_buf(&p->pool, sizeof *buf, err);
    if (!buf || dn_md(&smd, md->ndims, ones,
                      md->ndims == 4 ? dnnl_abcd : md->ndims == 2 ? dnnl_ab : dnnl_a, l->name,
                      err))
        return NULL;
    *buf = v;
    return dn_mem(&p->pool, p->cfg.eng, &smd, buf, err);
}

static dnnl_memory_t scratch(dn_plan *p, const dnnl_memory_desc_t *md, cd_err *err)
{
    return dn_mem(&p->pool, p->cfg.eng, md, NULL, err);
}

int dn_act_composite(dn_plan *p, dn_node *nd, const layer *l, layer_act act, dnnl_memory_t src,
                     const dnnl_memory_desc_t *md, cd_err *err)
{
    const layer_act_params *q = &l->act_p;
    dnnl_memory_t y = scratch(p, md, err);
    if (!y)
        return -1;
    nd->n_act = 0;
    nd->act_src[0] = src;
    nd->md = *md;
    nd->mem = y;
    if (act == ACT_SOFTSIGN) {
        dnnl_memory_t t = scratch(p, md, err);
        return !t || elt(p, &p->fwd, l, dnnl_eltwise_abs, 0, 0, md, src, t, err) ||
                       elt(p, &p->fwd, l, dnnl_eltwise_linear, 1, 1, md, t, t, err) ||
                       bin(p, &p->fwd, l, dnnl_binary_div, src, t, y, err)
                   ? -1
                   : 0;
    }
    if (act != ACT_RELU_X)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "layer '%s': activation %s has no oneDNN form",
                          l->name, layer_act_name(act));
    dnnl_memory_t t = scalar(p, l, md, q->threshold, err);
    if (!t || bin(p, &p->fwd, l, dnnl_binary_gt, src, t, y, err) ||
        bin(p, &p->fwd, l, dnnl_binary_mul, y, src, y, err))
        return -1;
    if (q->max_value >= 0.0f &&
        elt(p, &p->fwd, l, dnnl_eltwise_clip_v2, 0.0f, q->max_value, md, y, y, err))
        return -1;
    if (q->alpha != 0.0f) {
        dnnl_memory_t u = scratch(p, md, err);
        if (!u || elt(p, &p->fwd, l, dnnl_eltwise_linear, -1.0f, q->threshold, md, src, u, err) ||
            elt(p, &p->fwd, l, dnnl_eltwise_relu, 0, 0, md, u, u, err) ||
            elt(p, &p->fwd, l, dnnl_eltwise_linear, q->alpha, 0, md, u, u, err) ||
            bin(p, &p->fwd, l, dnnl_binary_sub, y, u, y, err))
            return -1;
    }
    return 0;
}

int dn_act_composite_bwd(dn_plan *p, const dn_node *nd, const layer *l, layer_act act,
                         const dnnl_memory_desc_t *md, dnnl_memory_t diff_dst,
                         dnnl_memory_t diff_src, cd_err *err)
{
    const layer_act_params *q = &l->act_p;
    dnnl_memory_t x = nd->act_src[0];
    dnnl_memory_t g = scratch(p, md, err);
    if (!g || !x)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': activation %s was not built for "
                          "training", l->name, layer_act_name(act));
    if (act == ACT_SOFTSIGN) {
        if (elt(p, &p->bwd, l, dnnl_eltwise_abs, 0, 0, md, x, g, err) ||
            elt(p, &p->bwd, l, dnnl_eltwise_linear, 1, 1, md, g, g, err) ||
            elt(p, &p->bwd, l, dnnl_eltwise_pow, 1, -2, md, g, g, err))
            return -1;
    } else {
        dnnl_memory_t t = scalar(p, l, md, q->threshold, err);
        if (!t || bin(p, &p->bwd, l, dnnl_binary_gt, x, t, g, err))
            return -1;
        if (q->max_value >= 0.0f || q->alpha != 0.0f) {
            dnnl_memory_t h = scratch(p, md, err);
            dnnl_memory_t z = h ? scalar(p, l, md, 0.0f, err) : NULL;
            dnnl_memory_t mx = z ? scalar(p, l, md, q->max_value, err) : NULL;
            if (!mx)
                return -1;
            if (q->max_value >= 0.0f &&
                (bin(p, &p->bwd, l, dnnl_binary_gt, x, z, h, err) ||
                 bin(p, &p->bwd, l, dnnl_binary_mul, g, h, g, err) ||
                 bin(p, &p->bwd, l, dnnl_binary_lt, x, mx, h, err) ||
                 bin(p, &p->bwd, l, dnnl_binary_mul, g, h, g, err)))
                return -1;
            if (q->alpha != 0.0f &&
                (bin(p, &p->bwd, l, dnnl_binary_lt, x, t, h, err) ||
                 elt(p, &p->bwd, l, dnnl_eltwise_linear, q->alpha, 0, md, h, h, err) ||
                 bin(p, &p->bwd, l, dnnl_binary_add, g, h, g, err)))
                return -1;
        }
    }
    return bin(p, &p->bwd, l, dnnl_binary_mul, diff_dst, g, diff_src, err);
}
