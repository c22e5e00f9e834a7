/*
 * op_rescaling.c - Rescaling: y = x * scale[c] + offset[c] (Keras'
 * preprocessing layer, typically 1/255 so that raw 0-255 pixels go in; Keras
 * takes a number or a per-channel list for each, a number or a one-element
 * list standing for every channel).  oneDNN: one eltwise "linear" primitive
 * each way when scale and offset are the same on every channel; otherwise a
 * binary multiply by the (1, C, 1, 1) scales then a binary add of the
 * offsets forward, and a binary multiply of the gradient by the scales
 * backward.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static void rescaling_defaults(layer *l)
{
    l->rescale[0][0] = 1.0f;
}

/* Scale and offset lists must have one value or one per channel. */
static int rescaling_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    if (op_infer_same(m, l, params_left, err) != 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        int n = l->rescale_n[k];
        if (n < 0 || n > LAYER_RESCALE_MAX || (n > 1 && n != l->out_c))
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': Rescaling's %s has %d values for %d channels (give "
                              "one number, or one value per channel)",
                              l->name, k ? "offset" : "scale", n, l->out_c);
    }
    return 0;
}

static void rescaling_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t rows = op_ref_rows(io);
    int C = l->out_c;
    float s[LAYER_RESCALE_MAX], o[LAYER_RESCALE_MAX];
    if (layer_rescale_uniform(l)) {
        float s0 = layer_rescale(l, 0, 0), o0 = layer_rescale(l, 1, 0);
        for (size_t i = 0; i < rows * (size_t)C; i++)
            io->y[i] = io->x[0][i] * s0 + o0;
        return;
    }
    for (int c = 0; c < C; c++) {  /* infer bounds C by LAYER_RESCALE_MAX here */
        s[c] = layer_rescale(l, 0, c);
        o[c] = layer_rescale(l, 1, c);
    }
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t i = r * (size_t)C + (size_t)c;
            io->y[i] = io->x[0][i] * s[c] + o[c];
        }
}

static void rescaling_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t rows = op_ref_rows(io);
    int C = l->out_c;
    if (!io->dx[0])
        return;
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t i = r * (size_t)C + (size_t)c;
            io->dx[0][i] += io->dy[i] * layer_rescale(l, 0, c);
        }
}

/* The per-channel scales (k = 0) or offsets (k = 1) as a (1, C, 1, 1) nhwc
 * (or (1, C) for vectors) memory that broadcasts over md. */
static dnnl_memory_t channel_consts(dn_plan *p, const layer *l, const dnnl_memory_desc_t *md,
                                    int k, cd_err *err)
{
    dnnl_dims_t d = {1, l->out_c, 1, 1};
    dnnl_memory_desc_t cmd;
    int C = l->out_c;
    if (md->ndims != 4 && md->ndims != 2) {
        cd_err_set(err, CD_ERR_SHAPE, "layer '%s': a per-channel Rescaling wants a map or a vector",
                   l->name);
        return NULL;
    }
    float *buf = dn_pool_buf(&p->pool, (size_t)C * sizeof *buf, err);
    if (!buf || dn_md(&cmd, md->ndims, d, md->ndims == 4 ? dnnl_nhwc : dnnl_ab, l->name, err))
        return NULL;
    for (int c = 0; c < C; c++)
        buf[c] = layer_rescale(l, k, c);
    return dn_mem(&p->pool, p->cfg.eng, &cmd, buf, err);
}

static int rescaling_channels_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    dnnl_memory_t sc = nd->mem ? channel_consts(p, l, &in->md, 0, err) : NULL;
    if (!sc || dn_steps_binary(&p->fwd, &p->pool, p->cfg.eng, dnnl_binary_mul, in->mem, sc, nd->mem,
                                l->name, err))
        return -1;
    nd->src = sc; /* the scales, as the backward reads them */
    int offsets = 0;
    for (int c = 0; c < l->out_c; c++)
        offsets |= layer_rescale(l, 1, c) != 0.0f;
    if (!offsets)
        return 0;
    dnnl_memory_t of = channel_consts(p, l, &in->md, 1, err);
    return !of || dn_steps_binary(&p->fwd, &p->pool, p->cfg.eng, dnnl_binary_add, nd->mem, of,
                                 nd->mem, l->name, err)
               ? -1
               : 0;
}

static int rescaling_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    if (!layer_rescale_uniform(l))
        return rescaling_channels_forward(p, i, err);
    dnnl_eltwise_desc_t d;
    DN_CHECK(dnnl_eltwise_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_eltwise_linear, &in->md, layer_rescale(l, 0, 0), layer_rescale(l, 1, 0)),
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
    int r = in->root, direct;
    if (!p->nodes[r].wants)
        return 0;
    if (!layer_rescale_uniform(l)) {
        dnnl_memory_t g = dn_grad_target(p, r, &in->md, &direct, err);
        if (!g || dn_steps_binary(&p->bwd, &p->pool, p->cfg.eng, dnnl_binary_mul, nd->diff,
                                 nd->src, g, l->name, err))
            return -1;
        return dn_grad_done(p, r, g, direct, l->name, err);
    }
    dnnl_eltwise_desc_t d;
    DN_CHECK(dnnl_eltwise_backward_desc_init(&d, dnnl_eltwise_linear, &in->md, &in->md,
                                             layer_rescale(l, 0, 0), layer_rescale(l, 1, 0)),
             err, "eltwise backward descriptor", l->name);
    return dn_bwd_data_step(p, r, &d, nd->fwd_pd, "eltwise backward", nd->diff, l->name, err, 1,
                            DNNL_ARG_SRC, in->mem);
fail:
    return -1;
}

const layer_op op_rescaling = {
    .keras_class = "Rescaling",
    .infer = rescaling_infer,
    .ref_forward = rescaling_ref_forward,
    .ref_backward = rescaling_ref_backward,
    .dn_forward = rescaling_dn_forward,
    .dn_backward = rescaling_dn_backward,
    .defaults = rescaling_defaults,
};
