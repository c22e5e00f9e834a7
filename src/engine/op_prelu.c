/*
 * op_prelu.c - PReLU: y = x > 0 ? x : alpha * x with a learned alpha.
 *
 * Keras' alpha has the input's shape without the batch, with size 1 along
 * each of `shared_axes` (l->shared_axes, bit k-1 for Keras axis k): usually
 * (1, 1, C) for shared_axes [1, 2] after a convolution, (C) after a Dense.
 * Stored in Keras' layout, (ah, aw, ac) or (ac), and broadcast over the rest.
 * Keras initialises alpha to zeros.  oneDNN has a PReLU primitive reading the
 * same memory as weights {1, ac, ah, aw} (nhwc order), forward and backward.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

/* alpha's dims: [0..2] = ah, aw, ac (ah = aw = 1 for a vector input). */
static void alpha_dims(const model *m, const layer *l, int d[3])
{
    const layer *in = op_in(m, l, 0);
    if (in->out_rank == 4) {
        d[0] = (l->shared_axes & 1) ? 1 : in->out_h;
        d[1] = (l->shared_axes & 2) ? 1 : in->out_w;
        d[2] = (l->shared_axes & 4) ? 1 : in->out_c;
    } else {
        d[0] = d[1] = 1;
        d[2] = (l->shared_axes & 1) ? 1 : in->out_c;
    }
}

static int prelu_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    if (in->out_rank == 2 && (l->shared_axes & ~1))
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': PReLU shares axes a vector input does not have", l->name);
    op_set_out(l, in->out_h, in->out_w, in->out_c, in->out_rank);
    int d[3];
    alpha_dims(m, l, d);
    size_t count = (size_t)d[0] * (size_t)d[1] * (size_t)d[2];
    if (count > *params_left)
        return cd_err_set(err, CD_ERR_LIMIT, "layer '%s': alpha takes the model over the limit",
                          l->name);
    *params_left -= count;
    if (op_param_ensure(l, 0, "alpha", in->out_rank == 4 ? 3 : 1,
                        in->out_rank == 4 ? d : &d[2], err) != 0)
        return -1;
    l->n_params = 1;
    return 0;
}

static const char *prelu_param_name(const layer *l, int k)
{
    (void)l;
    (void)k;
    return "alpha";
}

static void prelu_init_params(layer *l)
{
    /* Keras' default alpha_initializer is zeros: the layer starts as a ReLU */
    for (size_t k = 0; k < l->params[0]->size; k++)
        l->params[0]->data[k] = 0.0f;
}

/* Walks every value: calls the body with the value index v and alpha index a. */
#define PRELU_EACH(io, BODY)                                                                   \
    do {                                                                                       \
        const layer *l_ = (io)->l;                                                             \
        int d_[3];                                                                             \
        alpha_dims((io)->m, l_, d_);                                                           \
        size_t v = 0;                                                                          \
        for (int n_ = 0; n_ < (io)->n; n_++)                                                   \
            for (int h_ = 0; h_ < l_->out_h; h_++)                                             \
                for (int w_ = 0; w_ < l_->out_w; w_++)                                         \
                    for (int c_ = 0; c_ < l_->out_c; c_++, v++) {                              \
                        size_t a = ((size_t)(d_[0] > 1 ? h_ : 0) * (size_t)d_[1] +             \
                                    (size_t)(d_[1] > 1 ? w_ : 0)) * (size_t)d_[2] +            \
                                   (size_t)(d_[2] > 1 ? c_ : 0);                               \
                        BODY;                                                                  \
                    }                                                                          \
    } while (0)

static void prelu_ref_forward(const op_ref_io *io)
{
    const float *x = io->x[0], *al = io->l->params[0]->data;
    float *y = io->y;
    PRELU_EACH(io, y[v] = x[v] > 0.0f ? x[v] : al[a] * x[v]);
}

static void prelu_ref_backward(const op_ref_io *io)
{
    const float *x = io->x[0], *dy = io->dy, *al = io->l->params[0]->data;
    float *dx = io->dx[0];
    float *da = io->dparam[0] ? io->dparam[0]->data : NULL;
    PRELU_EACH(io, {
        if (dx)
            dx[v] += x[v] > 0.0f ? dy[v] : al[a] * dy[v];
        if (da && x[v] <= 0.0f)
            da[a] += dy[v] * x[v];
    });
}

/* alpha's memory descriptor as oneDNN weights over the data md's dims. */
static int alpha_md(const dn_plan *p, const layer *l, const dnnl_memory_desc_t *data,
                    dnnl_memory_desc_t *md, cd_err *err)
{
    int d[3];
    alpha_dims(p->m, l, d);
    if (data->ndims == 4) {
        dnnl_dims_t wd = {1, d[2], d[0], d[1]};
        return dn_md(md, 4, wd, dnnl_nhwc, l->name, err);
    }
    dnnl_dims_t wd = {1, d[2]};
    return dn_md(md, 2, wd, dnnl_nc, l->name, err);
}

static int prelu_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_prelu_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t wmd;
    int rc = -1;
    if (alpha_md(p, l, &in->md, &wmd, err))
        return -1;
    DN_CHECK(dnnl_prelu_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference, &in->md,
                 &wmd),
             err, "prelu descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, NULL, "prelu", l->name, err)))
        goto fail;
    nd->md = dn_pd_md(pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    nd->pmem[0] = nd->mem ? dn_mem(&p->pool, p->cfg.eng, &wmd, l->params[0]->data, err) : NULL;
    if (!nd->pmem[0] || !dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 3, DNNL_ARG_SRC,
                                       in->mem, DNNL_ARG_WEIGHTS, nd->pmem[0], DNNL_ARG_DST,
                                       nd->mem))
        goto fail;
    nd->fwd_pd = pd; /* the backward's hint; the plan destroys it */
    pd = NULL;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

static int prelu_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root;
    int want_alpha = dn_needs_weight_grad(p, i);
    if (!p->nodes[r].wants && !want_alpha)
        return 0;
    dnnl_prelu_desc_t d;
    dnnl_memory_desc_t wmd;
    if (alpha_md(p, l, &in->md, &wmd, err))
        return -1;
    DN_CHECK(dnnl_prelu_backward_desc_init(&d, &in->md, &wmd, &in->md, &wmd), err,
             "prelu backward descriptor", l->name);
    /* the gradient of alpha overwrites the runner's tensor; a scratch one when
     * frozen (and dx goes to a scratch one when nothing upstream learns) */
    tensor *g = p->cfg.grads[LAYER_MAX_PARAMS * i];
    dnnl_memory_t dw = dn_mem(&p->pool, p->cfg.eng, &wmd, want_alpha && g ? g->data : NULL, err);
    if (!dw)
        return -1;
    return dn_bwd_data_step(p, r, &d, nd->fwd_pd, "prelu backward", nd->diff, l->name, err, 3,
                            DNNL_ARG_SRC, in->mem, DNNL_ARG_WEIGHTS, nd->pmem[0],
                            DNNL_ARG_DIFF_WEIGHTS, dw);
fail:
    return -1;
}

const layer_op op_prelu = {
    .keras_class = "PReLU",
    .infer = prelu_infer,
    .ref_forward = prelu_ref_forward,
    .ref_backward = prelu_ref_backward,
    .dn_forward = prelu_dn_forward,
    .dn_backward = prelu_dn_backward,
    .param_name = prelu_param_name,
    .init_params = prelu_init_params,
};
