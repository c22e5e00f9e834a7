/*
 * op_dropout.c - Dropout: identity at inference; in training, inverted dropout
 * (each value kept with probability 1 - rate and scaled by 1 / (1 - rate)).
 * The reference draws its mask from the runner's splitmix64 stream; oneDNN
 * draws it in NHWC order too, so both backends drop the same values.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int dropout_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    if (l->rate < 0.0f || l->rate >= 1.0f)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': dropout rate %g not in [0, 1)",
                          l->name, (double)l->rate);
    return op_infer_same(m, l, params_left, err);
}

static void dropout_ref_forward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    if (io->training && io->l->rate > 0.0f) {
        ref_dropout_mask(size, io->l->rate, io->rng, io->mask);
        ref_mul(size, io->x[0], io->mask, io->y);
    } else {
        op_ref_copy_forward(io);
    }
}

static void dropout_ref_backward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    if (!io->dx[0])
        return;
    if (io->l->rate > 0.0f)
        ref_mul_acc(size, io->dy, io->mask, io->dx[0]);
    else
        ref_acc(size, io->dy, io->dx[0]);
}

static int dropout_alias(const model *m, int i, int training, layer_act act)
{
    (void)act;
    return !training || m->layers[i].rate == 0.0f;
}

/* Training-mode dropout: out = in * mask, the mask drawn in NHWC order (so it
 * does not depend on oneDNN's layout choice) and reordered to the input's layout. */
static int dropout_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t plain;

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
    nd->mask = dn_as_layout(p, user, &in->md, l->name, err);
    if (!nd->mask)
        return -1;
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || dn_steps_binary(&p->fwd, &p->pool, p->cfg.eng, dnnl_binary_mul, in->mem,
                                    nd->mask, nd->mem, l->name, err))
        return -1;
    return 0;
}

static int dropout_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_memory_t ds = dn_grad_target(p, r, &in->md, &direct, err);
    if (!ds || dn_steps_binary(&p->bwd, &p->pool, p->cfg.eng, dnnl_binary_mul, nd->diff, nd->mask,
                               ds, l->name, err))
        return -1;
    return dn_grad_done(p, r, ds, direct, l->name, err);
}

const layer_op op_dropout = {
    .keras_class = "Dropout",
    .flags = OP_REF_MASK,
    .infer = dropout_infer,
    .ref_forward = dropout_ref_forward,
    .ref_backward = dropout_ref_backward,
    .dn_alias = dropout_alias,
    .dn_forward = dropout_dn_forward,
    .dn_backward = dropout_dn_backward,
};
