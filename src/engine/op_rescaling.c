/*
 * op_rescaling.c - Rescaling: y = x * scale + offset on every value (Keras'
 * preprocessing layer, typically 1/255 so that raw 0-255 pixels go in).
 * oneDNN: one eltwise "linear" primitive each way.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static void rescaling_defaults(layer *l)
{
    l->rescale[0] = 1.0f;
}

static void rescaling_ref_forward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    float s = io->l->rescale[0], o = io->l->rescale[1];
    for (size_t i = 0; i < size; i++)
        io->y[i] = io->x[0][i] * s + o;
}

static void rescaling_ref_backward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    float s = io->l->rescale[0];
    if (io->dx[0])
        for (size_t i = 0; i < size; i++)
            io->dx[0][i] += io->dy[i] * s;
}

static int rescaling_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_eltwise_desc_t d;
    DN_CHECK(dnnl_eltwise_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_eltwise_linear, &in->md, l->rescale[0], l->rescale[1]),
             err, "eltwise descriptor", l->name);
    /* kept in the node: the backward's hint; the plan destroys it */
    if (!(nd->fwd_pd = dn_pd(p->cfg.eng, &d, NULL, "eltwise", l->name, err)))
        return -1;
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 2, DNNL_ARG_SRC,
                                   in->mem, DNNL_ARG_DST, nd->mem))
        return -1;
    return 0;
fail:
    return -1;
}

static int rescaling_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct, rc = -1;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    DN_CHECK(dnnl_eltwise_backward_desc_init(&d, dnnl_eltwise_linear, &in->md, &in->md,
                                             l->rescale[0], l->rescale[1]),
             err, "eltwise backward descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, nd->fwd_pd, "eltwise backward", l->name, err)))
        goto fail;
    dnnl_memory_t ds = dn_grad_target(p, r, &in->md, &direct, err);
    if (!ds || !dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_DIFF_DST, nd->diff,
                              DNNL_ARG_SRC, in->mem, DNNL_ARG_DIFF_SRC, ds))
        goto fail;
    rc = dn_grad_done(p, r, ds, direct, l->name, err);
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

const layer_op op_rescaling = {
    .keras_class = "Rescaling",
    .infer = op_infer_same,
    .ref_forward = rescaling_ref_forward,
    .ref_backward = rescaling_ref_backward,
    .dn_forward = rescaling_dn_forward,
    .dn_backward = rescaling_dn_backward,
    .defaults = rescaling_defaults,
};
