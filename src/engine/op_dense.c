/*
 * op_dense.c - Dense: y = x K + b over a (N, in) vector, K in Keras' [in, units]
 * layout: shape, parameters, the reference forward/backward (kernels in
 * ref_dense.c) and the oneDNN inner product forward/backward.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int dense_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    if (l->units <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': units must be positive", l->name);
    if (in->out_rank != 2)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': Dense needs a 2-D input, '%s' gives (None, %d, %d, %d)"
                          " (add a Flatten)",
                          l->name, in->name, in->out_h, in->out_w, in->out_c);
    op_set_out(l, 1, 1, l->units, 2);
    int k[2] = {in->out_c, l->units};
    return op_params_ensure(l, 2, k, l->units, params_left, err);
}

static void dense_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    const float *bias = l->use_bias && l->n_params > 1 ? l->params[1]->data : NULL;
    ref_dense_forward(io->n, op_in(io->m, l, 0)->out_c, l->units, io->x[0], l->params[0]->data,
                      bias, io->y);
}

static void dense_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    int in_c = op_in(io->m, l, 0)->out_c;
    tensor *dk = io->dparam[0], *db = io->dparam[1];
    if (dk)
        ref_dense_backward_weights(io->n, in_c, l->units, io->x[0], io->dy, dk->data,
                                   db ? db->data : NULL);
    if (io->dx[0])
        ref_dense_backward_data(io->n, in_c, l->units, io->dy, l->params[0]->data, io->dx[0]);
}

static int dense_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_inner_product_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t w_md, user_md, b_md, dst_md, src_md = in->md;
    dn_quant q;
    int rc = -1;

    if (dn_check_params(l, err))
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
        dn_md(&dst_md, 2, dd, dnnl_format_tag_any, l->name, err) ||
        dn_quant_for(p, l, units, &q, err))
        return -1;
    /* float32 reads the input where it is; another type lets the primitive
     * choose the layout the conversion writes */
    if (q.src_dt != dnnl_f32 &&
        dn_md(&src_md, in->md.ndims, in->md.dims, dnnl_format_tag_any, l->name, err))
        return -1;
    src_md.data_type = q.src_dt;
    w_md.data_type = q.w_dt;
    DN_CHECK(dnnl_inner_product_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference, &src_md,
                 &w_md, l->use_bias ? &b_md : NULL, &dst_md),
             err, "inner product descriptor", l->name);
    attr = dn_weighted_attr(p, nd, l, &q, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL), err,
             "inner product", l->name);
    w_md = dn_pd_md(nd->fwd_pd, dnnl_query_weights_md, 0);
    dst_md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    src_md = dn_pd_md(nd->fwd_pd, dnnl_query_src_md, 0);
    nd->src = dn_src_as(p, in->mem, &src_md, &q, l->name, err);
    if (!nd->src || dn_add_weighted_step(p, nd, l, &user_md, &w_md, &dst_md, units, &q, err))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int dense_dn_backward(dn_plan *p, int i, cd_err *err)
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

    dnnl_memory_t dpre = dn_pre_activation_grad(p, i, err);
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
    if (dn_needs_weight_grad(p, i)) {
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
    rc = dn_weighted_bwd(p, i, dpre, pd_w, pd_d, &user_md, err);
fail:
    if (pd_w)
        dnnl_primitive_desc_destroy(pd_w);
    if (pd_d)
        dnnl_primitive_desc_destroy(pd_d);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

const layer_op op_dense = {
    .keras_class = "Dense",
    .flags = OP_FUSED_ACT | OP_GLOROT,
    .infer = dense_infer,
    .ref_forward = dense_ref_forward,
    .ref_backward = dense_ref_backward,
    .dn_forward = dense_dn_forward,
    .dn_backward = dense_dn_backward,
};
