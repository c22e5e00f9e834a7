/*
 * op_normalization.c - Keras' Normalization preprocessing layer (axis -1):
 * y = (x - mean) / max(sqrt(variance), epsilon) per channel, computed in that
 * order as Keras 2 and 3 do (epsilon = Keras' backend epsilon, 1e-7, kept in
 * l->epsilon).  A model holding one takes raw pixels (modelfile decides).
 *
 * Parameters in Keras' order: mean (C), variance (C), count (a scalar, rank 0,
 * only kept for Keras: adapt() used it).  None is trainable.  Backward passes
 * dx = dy / max(sqrt(variance), epsilon) on.
 *
 * oneDNN: a binary subtract of the mean (broadcast over N, H, W) with a binary
 * divide post-op by the denominator, which the refresh steps compute from the
 * variance (eltwise sqrt, then clip from below at epsilon); backward is a
 * binary divide of the gradient by the same denominator.
 */
#include <float.h>
#include <math.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

enum { NORM_MEAN = 0, NORM_VAR = 1, NORM_COUNT = 2 };

static void norm_defaults(layer *l)
{
    l->axis = -1;
    l->epsilon = 1e-7f;
}

static const char *norm_param_name(const layer *l, int k)
{
    (void)l;
    return k == NORM_MEAN ? "mean" : k == NORM_VAR ? "variance" : "count";
}

static int norm_trainable_params(const layer *l)
{
    (void)l;
    return 0;
}

static void norm_init_params(layer *l)
{
    /* Keras' initializers: mean zeros, variance ones, count zero */
    for (size_t i = 0; i < l->params[NORM_VAR]->size; i++)
        l->params[NORM_VAR]->data[i] = 1.0f;
}

static int norm_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    int c = in->out_c;
    if (l->axis != -1 && l->axis != in->out_rank - 1)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': Normalization over axis %d is not supported (only the "
                          "channel axis, -1)",
                          l->name, l->axis);
    if (!(l->epsilon > 0.0f))
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': epsilon %g must be positive", l->name,
                          (double)l->epsilon);
    if (2 * (size_t)c + 1 > *params_left)
        return cd_err_set(err, CD_ERR_LIMIT, "layer '%s': takes the model over the limit of %zu "
                          "parameters", l->name, MODEL_MAX_PARAMS);
    if (l->params[3])
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': has 4 weights, expected 3", l->name);
    *params_left -= 2 * (size_t)c + 1;
    if (op_param_ensure(l, NORM_MEAN, "mean", 1, &c, err) ||
        op_param_ensure(l, NORM_VAR, "variance", 1, &c, err) ||
        op_param_ensure(l, NORM_COUNT, "count", 0, NULL, err))
        return -1;
    l->n_params = 3;
    op_set_out(l, in->out_h, in->out_w, c, in->out_rank);
    return 0;
}

static float norm_denominator(const layer *l, size_t j)
{
    return fmaxf(sqrtf(l->params[NORM_VAR]->data[j]), l->epsilon);
}

static void norm_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t c = (size_t)l->out_c, rows = op_ref_rows(io);
    const float *mean = l->params[NORM_MEAN]->data;
    for (size_t j = 0; j < c; j++) {
        float d = norm_denominator(l, j);
        for (size_t r = 0; r < rows; r++)
            io->y[r * c + j] = (io->x[0][r * c + j] - mean[j]) / d;
    }
}

static void norm_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t c = (size_t)l->out_c, rows = op_ref_rows(io);
    if (!io->dx[0])
        return;
    for (size_t j = 0; j < c; j++) {
        float d = norm_denominator(l, j);
        for (size_t r = 0; r < rows; r++)
            io->dx[0][r * c + j] += io->dy[r * c + j] / d;
    }
}

/* A per-channel vector as a tensor broadcast over data md's other dims. */
static int chan_md(const layer *l, const dnnl_memory_desc_t *data, dnnl_memory_desc_t *md,
                   cd_err *err)
{
    dnnl_dims_t d = {1, l->out_c, 1, 1};
    return dn_md(md, data->ndims, d, data->ndims == 4 ? dnnl_nchw : dnnl_nc, l->name, err);
}

/* The denominator's memory (aux[0]) from the variance (pmem[NORM_VAR]) by refresh steps. */
static int denominator(dn_plan *p, dn_node *nd, const layer *l, const dnnl_memory_desc_t *vmd,
                       cd_err *err)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    int rc = -1;
    nd->pmem[NORM_VAR] = dn_mem(&p->pool, p->cfg.eng, vmd, l->params[NORM_VAR]->data, err);
    nd->aux[0] = nd->pmem[NORM_VAR] ? dn_mem(&p->pool, p->cfg.eng, vmd, NULL, err) : NULL;
    if (!nd->aux[0])
        return -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        return -1;
    DN_CHECK(dnnl_post_ops_create(&po), err, "post-ops", l->name);
    DN_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, l->epsilon, FLT_MAX),
             err, "eltwise post-op", l->name);
    DN_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), err, "attributes", l->name);
    DN_CHECK(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, dnnl_eltwise_sqrt, vmd,
                                            0.0f, 0.0f),
             err, "eltwise descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL), err, "eltwise",
             l->name);
    if (!dn_steps_prim(&p->refresh, &p->pool, pd, l->name, err, 2, DNNL_ARG_SRC,
                       nd->pmem[NORM_VAR], DNNL_ARG_DST, nd->aux[0]))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int norm_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t vmd;
    dnnl_binary_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    int rc = -1;
    if (!l->params[NORM_MEAN] || !l->params[NORM_VAR])
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': parameters missing (run shape inference)", l->name);
    if (chan_md(l, &in->md, &vmd, err) || denominator(p, nd, l, &vmd, err))
        return -1;
    nd->pmem[NORM_MEAN] = dn_mem(&p->pool, p->cfg.eng, &vmd, l->params[NORM_MEAN]->data, err);
    if (!nd->pmem[NORM_MEAN])
        return -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        return -1;
    DN_CHECK(dnnl_post_ops_create(&po), err, "post-ops", l->name);
    DN_CHECK(dnnl_post_ops_append_binary(po, dnnl_binary_div, &vmd), err, "binary post-op",
             l->name);
    DN_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), err, "attributes", l->name);
    DN_CHECK(dnnl_binary_desc_init(&d, dnnl_binary_sub, &in->md, &vmd, &in->md), err,
             "binary descriptor", l->name);
    DN_CHECK(dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL), err, "binary",
             l->name);
    nd->md = in->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem ||
        !dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 4, DNNL_ARG_SRC_0, in->mem,
                       DNNL_ARG_SRC_1, nd->pmem[NORM_MEAN], DNNL_ARG_DST, nd->mem,
                       DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, nd->aux[0]))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int norm_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct;
    if (!p->nodes[r].wants)
        return 0;
    /* dx = dy / sqrt(max(var, epsilon)), the denominator the forward keeps in aux[0] */
    dnnl_memory_t ds = dn_grad_target(p, r, &nd->md, &direct, err);
    if (!ds || dn_steps_binary(&p->bwd, &p->pool, p->cfg.eng, dnnl_binary_div, nd->diff,
                               nd->aux[0], ds, l->name, err))
        return -1;
    return dn_grad_done(p, r, ds, direct, l->name, err);
}

const layer_op op_normalization = {
    .keras_class = "Normalization",
    .infer = norm_infer,
    .ref_forward = norm_ref_forward,
    .ref_backward = norm_ref_backward,
    .dn_forward = norm_dn_forward,
    .dn_backward = norm_dn_backward,
    .param_name = norm_param_name,
    .trainable_params = norm_trainable_params,
    .init_params = norm_init_params,
    .defaults = norm_defaults,
};
