/*
 * op_batchnorm.c - BatchNormalization at inference: per channel (last axis),
 * y = (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta,
 * which is the per-channel affine y = x * s + (beta - mean * s) with
 * s = gamma / sqrt(var + epsilon), computed that way as TensorFlow does.
 *
 * Parameters in Keras' order: [gamma (scale), beta (center), moving_mean,
 * moving_variance]; a layer without scale or center has no gamma / beta.
 * The moving statistics are never trainable (Keras counts them as
 * non-trainable).  Training uses the moving statistics too (the layer in
 * inference mode, as a frozen base model runs it in Keras): the reference
 * and oneDNN backwards give dx and gamma/beta gradients.
 * oneDNN at inference: a BN that is the only reader of a Conv2D /
 * DepthwiseConv2D is folded into that convolution's kernel and bias
 * (dnnl_plan.c, fold_into_convs; this file gives the affine, dn_bn_affine)
 * and runs no step of its own.
 */
#include <math.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

/* Indices of the parameters in l->params, -1 when absent. */
static int bn_gamma(const layer *l) { return l->scale ? 0 : -1; }
static int bn_beta(const layer *l) { return l->center ? (l->scale ? 1 : 0) : -1; }
static int bn_mean(const layer *l) { return (l->scale != 0) + (l->center != 0); }
static int bn_var(const layer *l) { return bn_mean(l) + 1; }

static const char *bn_param_name(const layer *l, int k)
{
    if (k == bn_gamma(l))
        return "gamma";
    if (k == bn_beta(l))
        return "beta";
    return k == bn_mean(l) ? "moving_mean" : "moving_variance";
}

static int bn_trainable_params(const layer *l)
{
    return bn_mean(l);
}

static void bn_init_params(layer *l)
{
    /* Keras' initializers: gamma and moving_variance ones, the rest zeros. */
    int ones[2] = {bn_gamma(l), bn_var(l)};
    for (int j = 0; j < 2; j++) {
        tensor *t = ones[j] >= 0 && ones[j] < l->n_params ? l->params[ones[j]] : NULL;
        for (size_t i = 0; t && i < t->size; i++)
            t->data[i] = 1.0f;
    }
}

static void bn_defaults(layer *l)
{
    l->axis = -1;
    l->rate = 0.99f;
    l->epsilon = 1e-3f;
    l->center = l->scale = 1;
}

static int bn_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    static const char *const what[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    const layer *in = op_in(m, l, 0);
    int c = in->out_c;
    int n = bn_var(l) + 1;
    if (!(l->epsilon > 0.0f))
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': epsilon %g must be positive", l->name,
                          (double)l->epsilon);
    if (l->axis != -1 && l->axis != in->out_rank - 1)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': normalizing axis %d is not supported (only the channel "
                          "axis, -1)",
                          l->name, l->axis);
    if ((size_t)n * (size_t)c > *params_left)
        return cd_err_set(err, CD_ERR_LIMIT,
                          "layer '%s': %d channels take the model over the limit of %zu parameters",
                          l->name, c, MODEL_MAX_PARAMS);
    for (int k = n; k < LAYER_MAX_PARAMS; k++)
        if (l->params[k])
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': has %d weights, expected %d",
                              l->name, k + 1, n);
    *params_left -= (size_t)n * (size_t)c;
    for (int k = 0; k < n; k++) {
        int w = k == bn_gamma(l) ? 0 : k == bn_beta(l) ? 1 : k == bn_mean(l) ? 2 : 3;
        if (op_param_ensure(l, k, what[w], 1, &c, err) != 0)
            return -1;
    }
    l->n_params = n;
    op_set_out(l, in->out_h, in->out_w, c, in->out_rank);
    return 0;
}

/* Channel j's affine: *s = gamma / sqrt(var + eps), *t = beta - mean * s. */
static void bn_affine(const layer *l, int j, float *s, float *t)
{
    float inv = 1.0f / sqrtf(l->params[bn_var(l)]->data[j] + l->epsilon);
    *s = bn_gamma(l) >= 0 ? inv * l->params[bn_gamma(l)]->data[j] : inv;
    *t = (bn_beta(l) >= 0 ? l->params[bn_beta(l)]->data[j] : 0.0f) -
         l->params[bn_mean(l)]->data[j] * *s;
}

int dn_bn_foldable(const layer *l, int c)
{
    if (l->kind != LAYER_BATCHNORM || l->n_params != bn_var(l) + 1 || c < 1 ||
        !(l->epsilon > 0.0f))
        return 0;
    for (int k = 0; k < l->n_params; k++)
        if (!l->params[k] || l->params[k]->size != (size_t)c)
            return 0;
    return 1;
}

void dn_bn_affine(const layer *l, int j, float *s, float *t)
{
    bn_affine(l, j, s, t);
}

/* Channel-outer loops: the reference favours plainness (and no per-channel
 * buffer) over speed. */
static void bn_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t c = (size_t)l->out_c, rows = op_ref_rows(io);
    for (size_t j = 0; j < c; j++) {
        float s, t;
        bn_affine(l, (int)j, &s, &t);
        for (size_t r = 0; r < rows; r++)
            io->y[r * c + j] = io->x[0][r * c + j] * s + t;
    }
}

static void bn_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t c = (size_t)l->out_c, rows = op_ref_rows(io);
    tensor *dg = bn_gamma(l) >= 0 ? io->dparam[bn_gamma(l)] : NULL;
    tensor *db = bn_beta(l) >= 0 ? io->dparam[bn_beta(l)] : NULL;
    for (size_t j = 0; j < c; j++) {
        float s, t;
        bn_affine(l, (int)j, &s, &t);
        float mean = l->params[bn_mean(l)]->data[j];
        float inv = 1.0f / sqrtf(l->params[bn_var(l)]->data[j] + l->epsilon);
        for (size_t r = 0; r < rows; r++) {
            float dy = io->dy[r * c + j];
            if (io->dx[0])
                io->dx[0][r * c + j] += dy * s;
            if (dg)
                dg->data[j] += dy * (io->x[0][r * c + j] - mean) * inv;
            if (db)
                db->data[j] += dy;
        }
    }
}

/* The moving statistics always (use_global_stats, in training too: catdog's
 * BatchNormalization trains gamma and beta only), gamma and beta when present. */
static unsigned bn_dn_flags(const layer *l)
{
    return dnnl_use_global_stats | (bn_gamma(l) >= 0 ? dnnl_use_scale : 0u) | (bn_beta(l) >= 0 ? dnnl_use_shift : 0u);
}

/* oneDNN's batch normalization with the moving statistics (use_global_stats),
 * gamma as its scale and beta as its shift, all read in place. */
static int bn_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_batch_normalization_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t vmd;
    dnnl_dim_t c = l->out_c;
    int rc = -1;
    unsigned flags = bn_dn_flags(l);
    for (int k = 0; k < l->n_params; k++)
        if (!l->params[k])
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': parameters missing (run shape inference)", l->name);
    if (dn_md(&vmd, 1, &c, dnnl_a, l->name, err))
        return -1;
    /* training: forward_training so that the backward can take it as its hint
     * (the moving statistics are still used: use_global_stats) */
    DN_CHECK(dnnl_batch_normalization_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference, &in->md,
                 l->epsilon, flags),
             err, "batch normalization descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, NULL, "batch normalization", l->name, err)))
        goto fail;
    nd->md = dn_pd_md(pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        goto fail;
    for (int k = 0; k < l->n_params; k++)
        if (!(nd->pmem[k] = dn_mem(&p->pool, p->cfg.eng, &vmd, l->params[k]->data, err)))
            goto fail;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 4, DNNL_ARG_SRC, in->mem,
                                DNNL_ARG_DST, nd->mem, DNNL_ARG_MEAN, nd->pmem[bn_mean(l)],
                                DNNL_ARG_VARIANCE, nd->pmem[bn_var(l)]);
    if (!st || (bn_gamma(l) >= 0 && dn_step_arg(st, DNNL_ARG_SCALE, nd->pmem[bn_gamma(l)], err)) ||
        (bn_beta(l) >= 0 && dn_step_arg(st, DNNL_ARG_SHIFT, nd->pmem[bn_beta(l)], err)))
        goto fail;
    nd->fwd_pd = pd; /* kept for the backward's hint; the plan destroys it */
    pd = NULL;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Backward with the moving statistics held constant, as the reference: the
 * input's gradient, and gamma's and beta's (diff_scale / diff_shift) written
 * straight into the runner's gradient tensors (1-D, the same layout). */
static int bn_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct, rc = -1;
    tensor *const *g = &p->cfg.grads[LAYER_MAX_PARAMS * i];
    int want_params = dn_needs_weight_grad(p, i);
    if (!p->nodes[r].wants && !want_params)
        return 0;
    dnnl_batch_normalization_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t vmd;
    dnnl_dim_t c = l->out_c;
    unsigned flags = bn_dn_flags(l);
    if (dn_md(&vmd, 1, &c, dnnl_a, l->name, err))
        return -1;
    /* dnnl_backward also gives diff_scale / diff_shift; backward_data only dx */
    DN_CHECK(dnnl_batch_normalization_backward_desc_init(
                 &d, want_params ? dnnl_backward : dnnl_backward_data, &nd->md, &in->md,
                 l->epsilon, flags),
             err, "batch normalization backward descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, nd->fwd_pd, "batch normalization backward", l->name, err)))
        goto fail;
    dnnl_memory_desc_t smd = dn_pd_md(pd, dnnl_query_diff_src_md, 0);
    dnnl_memory_t ds = dn_grad_target(p, r, &smd, &direct, err); /* scratch when nothing upstream learns */
    if (!ds)
        goto fail;
    dn_step *st = dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 5, DNNL_ARG_SRC, in->mem,
                                DNNL_ARG_MEAN, nd->pmem[bn_mean(l)], DNNL_ARG_VARIANCE,
                                nd->pmem[bn_var(l)], DNNL_ARG_DIFF_DST, nd->diff,
                                DNNL_ARG_DIFF_SRC, ds);
    if (!st)
        goto fail;
    if (bn_gamma(l) >= 0 && dn_step_arg(st, DNNL_ARG_SCALE, nd->pmem[bn_gamma(l)], err))
        goto fail;
    if (bn_beta(l) >= 0 && dn_step_arg(st, DNNL_ARG_SHIFT, nd->pmem[bn_beta(l)], err))
        goto fail;
    for (int k = 0; want_params && k < 2; k++) {
        int idx = k == 0 ? bn_gamma(l) : bn_beta(l);
        if (idx < 0 || !g[idx])
            continue;
        dnnl_memory_t gm = dn_mem(&p->pool, p->cfg.eng, &vmd, g[idx]->data, err);
        if (!gm || dn_step_arg(st, k == 0 ? DNNL_ARG_DIFF_SCALE : DNNL_ARG_DIFF_SHIFT, gm, err))
            goto fail;
    }
    rc = dn_grad_done(p, r, ds, direct, l->name, err);
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

const layer_op op_batchnorm = {
    .keras_class = "BatchNormalization",
    .infer = bn_infer,
    .ref_forward = bn_ref_forward,
    .ref_backward = bn_ref_backward,
    .dn_forward = bn_dn_forward,
    .dn_backward = bn_dn_backward,
    .param_name = bn_param_name,
    .trainable_params = bn_trainable_params,
    .init_params = bn_init_params,
    .defaults = bn_defaults,
};
