/*
 * op_activation.c - Activation (and Keras' plain ReLU / Softmax layers, read
 * as Activation): the activation itself is applied by the runners from
 * l->act, as they do for the one fused into Conv2D/Dense, so the reference
 * forward is a copy; oneDNN builds the eltwise steps of dn_act_chain or a
 * softmax primitive, or shares the input's memory when the activation is
 * linear.  The parameters (LeakyReLU's slope, ...) are in l->act_p.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int activation_alias(const model *m, int i, int training, layer_act act)
{
    (void)m;
    (void)i;
    (void)training;
    return act == ACT_LINEAR;
}

static int activation_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    if (nd->act == ACT_SOFTMAX)
        return dn_build_softmax(p, nd, l, in->mem, p->m->layers[l->inputs[0]].out_rank == 2, err);
    /* training: relu/sigmoid/tanh use the use_dst variants so backward needs
     * only the output; the others keep their input (dn_build_act) */
    return dn_build_act(p, nd, l, nd->act, in->mem, &in->md, err);
}

static int activation_dn_backward(dn_plan *p, int i, cd_err *err)
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
        if (!g2 || dn_softmax_bwd(p, l, nd, &nd->md, g2, err) ||
            dn_md_plain_view(&v4, &in->md, 0, 0, l->name, err))
            return -1;
        dnnl_memory_t g4 = dn_mem(&p->pool, p->cfg.eng, &v4, dn_mem_ptr(g2), err);
        return g4 ? dn_grad_add(p, r, g4, l->name, err) : -1;
    }
    dnnl_memory_t ds = dn_grad_target(p, r, &in->md, &direct, err);
    if (!ds)
        return -1;
    if (nd->act == ACT_SOFTMAX) {
        if (dn_softmax_bwd(p, l, nd, &in->md, ds, err))
            return -1;
    } else if (dn_act_bwd(p, nd, l, nd->act, &in->md, nd->diff, ds, err)) {
        return -1;
    }
    return dn_grad_done(p, r, ds, direct, l->name, err);
}

const layer_op op_activation = {
    .keras_class = "Activation",
    .flags = OP_FUSED_ACT,
    .infer = op_infer_same,
    .ref_forward = op_ref_copy_forward,
    .ref_backward = op_ref_copy_backward,
    .dn_alias = activation_alias,
    .dn_forward = activation_dn_forward,
    .dn_backward = activation_dn_backward,
};
