/*
 * op_pool.c - the four poolings: MaxPooling2D, AveragePooling2D (Keras leaves
 * padded cells out of the average), GlobalAveragePooling2D, GlobalMaxPooling2D.
 * They share one oneDNN builder each way; the reference kernels are in
 * ref_pool.c.  Pooling strides default to the pool size (Keras), which
 * layer_template marks with 0 and shape inference resolves.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"
#include "engine/pool_max.h"

#include <string.h>

/* Strides 0 mean "the pool size" (Keras' default), resolved by pool_infer, so
 * a caller that only sets pool gets Keras' behaviour. */
static void pool_defaults(layer *l)
{
    l->strides[0] = l->strides[1] = 0;
}

static int pool_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    if (l->strides[0] == 0 && l->strides[1] == 0) {
        l->strides[0] = l->pool[0];
        l->strides[1] = l->pool[1];
    }
    if (op_infer_window(m, l, l->pool[0], l->pool[1], -1, "pool", err) != 0)
        return -1;
    return op_no_params(l, err);
}

static int global_pool_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s needs a 4-D input", l->name,
                          layer_kind_name(l->kind));
    op_set_out(l, 1, 1, in->out_c, l->keepdims ? 4 : 2);
    return op_no_params(l, err);
}

static void maxpool_ref_forward(const op_ref_io *io)
{
    ref_win w = op_ref_window(io, io->l->pool[0], io->l->pool[1]);
    ref_maxpool_forward(&w, io->x[0], io->y);
}

static void maxpool_ref_backward(const op_ref_io *io)
{
    if (io->dx[0]) {
        ref_win w = op_ref_window(io, io->l->pool[0], io->l->pool[1]);
        ref_maxpool_backward(&w, io->x[0], io->dy, io->dx[0]);
    }
}

static void avgpool_ref_forward(const op_ref_io *io)
{
    ref_win w = op_ref_window(io, io->l->pool[0], io->l->pool[1]);
    ref_avgpool_forward(&w, io->x[0], io->y);
}

static void avgpool_ref_backward(const op_ref_io *io)
{
    if (io->dx[0]) {
        ref_win w = op_ref_window(io, io->l->pool[0], io->l->pool[1]);
        ref_avgpool_backward(&w, io->dy, io->dx[0]);
    }
}

static void global_avgpool_ref_forward(const op_ref_io *io)
{
    const layer *in = op_in(io->m, io->l, 0);
    ref_global_avgpool_forward(io->n, in->out_h * in->out_w, in->out_c, io->x[0], io->y);
}

static void global_avgpool_ref_backward(const op_ref_io *io)
{
    const layer *in = op_in(io->m, io->l, 0);
    if (io->dx[0])
        ref_global_avgpool_backward(io->n, in->out_h * in->out_w, in->out_c, io->dy, io->dx[0]);
}

static void global_maxpool_ref_forward(const op_ref_io *io)
{
    const layer *in = op_in(io->m, io->l, 0);
    ref_global_maxpool_forward(io->n, in->out_h * in->out_w, in->out_c, io->x[0], io->y);
}

static void global_maxpool_ref_backward(const op_ref_io *io)
{
    const layer *in = op_in(io->m, io->l, 0);
    if (io->dx[0])
        ref_global_maxpool_backward(io->n, in->out_h * in->out_w, in->out_c, io->x[0], io->dy,
                                    io->dx[0]);
}

/* ---- max pooling by pool_max.c's kernels --------------------------------
 * Where nothing is padded (and, for a backward pass, the window is the
 * stride), the plan runs pool_max.c's loops (a DN_STEP_CALL step) instead of
 * oneDNN's pooling, on the map's own layout: measured on the binary CNN's
 * first pooling (16 x 32 x 148 x 148, nChw8c, one AVX2 core, pages warm)
 * oneDNN 2.6 took ~33 ms forward and ~30 ms backward, these ~6 and ~5 ms. */

/* One pooling step: the kernels' geometry and the memories it reads and
 * writes (the plan's; their buffers are looked up at each run). */
typedef struct dn_pool_job {
    pool_max_shape s;
    dn_omp omp;
    dnnl_data_type_t dt;        /* f32, u8 or s8 */
    int relu;                   /* the ReLU moved behind this pooling (post_relu) */
    dnnl_memory_t x, y, ws;     /* forward: source, destination, argmax (training) */
    dnnl_memory_t dy, dx;       /* backward: output gradient, input gradient */
} dn_pool_job;

/* The kernels' view of a 4-D map's layout: channel blocks of `lanes`
 * contiguous channels (nChw4c / 8c / 16c), or NHWC as one block; its format
 * tag in *tag.  0 when md is anything else. */
static int own_layout(const dnnl_memory_desc_t *md, int *lanes, int *blocks, ptrdiff_t st[4],
                      dnnl_format_tag_t *tag)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (md->ndims != 4 || md->format_kind != dnnl_blocked || md->offset0 != 0 ||
        md->extra.flags != 0)
        return 0;
    for (int k = 0; k < 4; k++)
        if (md->padded_offsets[k] != 0)
            return 0;
    if (b->inner_nblks == 1 && b->inner_idxs[0] == 1 &&
        (b->inner_blks[0] == 4 || b->inner_blks[0] == 8 || b->inner_blks[0] == 16)) {
        *lanes = (int)b->inner_blks[0];
        *blocks = (int)(md->padded_dims[1] / b->inner_blks[0]);
        *tag = *lanes == 4 ? dnnl_aBcd4b : *lanes == 8 ? dnnl_aBcd8b : dnnl_aBcd16b;
    } else if (b->inner_nblks == 0 && b->strides[1] == 1) {
        *lanes = (int)md->dims[1];
        *blocks = 1;
        *tag = dnnl_acdb;
    } else {
        return 0;
    }
    for (int k = 0; k < 4; k++)
        st[k] = (ptrdiff_t)b->strides[k];
    return 1;
}

static void own_forward_rows(void *ctx, size_t lo, size_t hi)
{
    const dn_pool_job *j = ctx;
    void *x = dn_mem_ptr(j->x), *y = dn_mem_ptr(j->y);
    if (j->dt == dnnl_u8)
        pool_max_u8(&j->s, x, y, lo, hi);
    else if (j->dt == dnnl_s8)
        pool_max_s8(&j->s, x, y, lo, hi);
    else
        pool_max_f32(&j->s, x, y, j->ws ? dn_mem_ptr(j->ws) : NULL, j->relu, lo, hi);
}

static void own_backward_rows(void *ctx, size_t lo, size_t hi)
{
    const dn_pool_job *j = ctx;
    pool_max_f32_backward(&j->s, dn_mem_ptr(j->ws), dn_mem_ptr(j->dy),
                          j->relu ? dn_mem_ptr(j->y) : NULL, dn_mem_ptr(j->dx), lo, hi);
}

static void own_forward(void *ctx)
{
    dn_pool_job *j = ctx;
    dn_parallel_for(&j->omp, pool_max_rows(&j->s), own_forward_rows, j);
}

static void own_backward(void *ctx)
{
    dn_pool_job *j = ctx;
    dn_parallel_for(&j->omp, pool_max_rows(&j->s), own_backward_rows, j);
}

/* Builds layer i's max pooling on pool_max.c's kernels when they apply (the
 * node's window, strides and pads set; output oh x ow): its output, argmax
 * (when a gradient flows back through it) and step.  Unpadded windows; ones
 * that overlap (SqueezeNet's 3x3 of stride 2) only where no gradient flows
 * back (inference, a frozen backbone): the kernels' backward needs windows
 * that do not.  1 when built, 0 when oneDNN's pooling is to be used, -1 on
 * error. */
static int own_pool_forward(dn_plan *p, int i, int oh, int ow, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    pool_max_shape s;
    ptrdiff_t xs[4], ys[4];
    dnnl_format_tag_t tag;
    dnnl_memory_desc_t y_md, ws_md;
    dnnl_data_type_t dt = in->md.data_type;
    memset(&s, 0, sizeof s);
    int backward = p->cfg.training && p->nodes[in->root].wants;
    if (p->cfg.onednn_pool || l->kind != LAYER_MAXPOOL2D ||
        (backward && (nd->kernel[0] != nd->strides[0] || nd->kernel[1] != nd->strides[1])) ||
        nd->pad_l[0] || nd->pad_l[1] || nd->pad_r[0] || nd->pad_r[1] ||
        !(dt == dnnl_f32 || (!p->cfg.training && (dt == dnnl_u8 || dt == dnnl_s8))) ||
        !own_layout(&in->md, &s.lanes, &s.blocks, xs, &tag))
        return 0;
    s.n = (int)in->md.dims[0];
    s.ih = (int)in->md.dims[2];
    s.iw = (int)in->md.dims[3];
    s.oh = oh;
    s.ow = ow;
    s.kh = (int)nd->kernel[0];
    s.kw = (int)nd->kernel[1];
    s.sh = (int)nd->strides[0];
    s.sw = (int)nd->strides[1];
    dnnl_dims_t dd = {in->md.dims[0], in->md.dims[1], oh, ow};
    DN_CHECK(dnnl_memory_desc_init_by_tag(&y_md, 4, dd, dt, tag), err, "memory descriptor",
             l->name);
    int lanes, blocks;
    dnnl_format_tag_t ytag;
    if (!own_layout(&y_md, &lanes, &blocks, ys, &ytag) || lanes != s.lanes || blocks != s.blocks)
        return 0;
    /* oneDNN's strides: dimension 1's is per channel block (per channel in NHWC,
     * where there is one block) */
    s.x_n = xs[0], s.x_b = xs[1], s.x_h = xs[2], s.x_w = xs[3];
    s.y_n = ys[0], s.y_b = ys[1], s.y_h = ys[2], s.y_w = ys[3];
    if (!pool_max_shape_ok(&s))
        return 0;
    dn_pool_job *j = dn_pool_buf(&p->pool, sizeof *j, err);
    if (!j)
        return -1;
    j->s = s;
    dn_omp_resolve(&j->omp);
    j->dt = dt;
    j->relu = nd->post_relu;
    j->x = in->mem;
    nd->md = y_md;
    j->y = nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        return -1;
    if (backward) {
        DN_CHECK(dnnl_memory_desc_init_by_tag(&ws_md, 4, dd, dnnl_u8, tag), err,
                 "memory descriptor", l->name);
        j->ws = nd->ws = dn_mem(&p->pool, p->cfg.eng, &ws_md, NULL, err);
        if (!nd->ws)
            return -1;
    }
    if (dt != dnnl_f32)
        nd->qs = in->qs;
    dn_step *st = dn_steps_push(&p->fwd, DN_STEP_CALL, err);
    if (!st)
        return -1;
    st->call = own_forward;
    st->ctx = j;
    nd->pool_job = j;
    return 1;
fail:
    return -1;
}

/* Its backward: the gradient scattered to each window's argmax (through the
 * fused ReLU), written into the input's gradient. */
static int own_pool_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root, direct;
    dn_pool_job *j = dn_pool_buf(&p->pool, sizeof *j, err);
    if (!j)
        return -1;
    *j = *nd->pool_job;
    if (!j->ws)
        return cd_err_set(err, CD_ERR_INVALID,
                          "layer '%s': max pooling built without its argmax (internal error)",
                          l->name);
    j->dy = nd->diff;
    j->dx = dn_grad_target(p, r, &in->md, &direct, err);
    if (!j->dx)
        return -1;
    dn_step *st = dn_steps_push(&p->bwd, DN_STEP_CALL, err);
    if (!st)
        return -1;
    st->call = own_backward;
    st->ctx = j;
    return dn_grad_done(p, r, j->dx, direct, l->name, err);
}

static int pool_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_pooling_v2_desc_t d;
    dnnl_memory_desc_t dst_md;
    int rc = -1;
    int global = l->kind == LAYER_GLOBAL_AVGPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;
    int is_max = l->kind == LAYER_MAXPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;

    if (in->md.ndims != 4 || p->m->layers[l->inputs[0]].out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': pooling needs a 4-D input", l->name);
    dnnl_dim_t n = p->n, c = in->md.dims[1], ih = in->md.dims[2], iw = in->md.dims[3];
    int oh, ow;
    if (global) {
        nd->kernel[0] = ih;
        nd->kernel[1] = iw;
        nd->strides[0] = nd->strides[1] = 1;
        nd->pad_l[0] = nd->pad_l[1] = nd->pad_r[0] = nd->pad_r[1] = 0;
        oh = ow = 1;
    } else {
        nd->kernel[0] = l->pool[0];
        nd->kernel[1] = l->pool[1];
        nd->strides[0] = l->strides[0];
        nd->strides[1] = l->strides[1];
        /* a ZeroPadding2D folded into this max pooling (inference, a
         * non-negative map): in is its unpadded input; its pads become the
         * pooling's, which the maximum leaves out */
        int fold[4] = {0, 0, 0, 0};
        dn_zeropad_folded(p, l->inputs[0], fold);
        oh = dn_tf_padding((int)ih + fold[0] + fold[1], l->pool[0], l->strides[0], l->padding,
                           &nd->pad_l[0], &nd->pad_r[0]);
        ow = dn_tf_padding((int)iw + fold[2] + fold[3], l->pool[1], l->strides[1], l->padding,
                           &nd->pad_l[1], &nd->pad_r[1]);
        if (oh <= 0 || ow <= 0 || oh != l->out_h || ow != l->out_w)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': output %dx%d does not follow from input %ldx%ld",
                              l->name, l->out_h, l->out_w, (long)ih, (long)iw);
        nd->pad_l[0] += fold[0];
        nd->pad_r[0] += fold[1];
        nd->pad_l[1] += fold[2];
        nd->pad_r[1] += fold[3];
    }
    if (!global) {
        int own = own_pool_forward(p, i, oh, ow, err);
        if (own != 0)
            return own < 0 ? -1 : 0;
    }
    dnnl_dims_t dd = {n, c, oh, ow}, dil = {0, 0};
    if (dn_md(&dst_md, 4, dd, dnnl_format_tag_any, l->name, err))
        return -1;
    /* an int8 chain's u8 map (dnnl_plan.c) pools as u8, keeping its scale */
    if (is_max && in->qs > 0.0f) {
        dst_md.data_type = in->md.data_type;
        nd->qs = in->qs;
    }
    DN_CHECK(dnnl_pooling_v2_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &in->md, &dst_md,
                 nd->strides, nd->kernel, dil, nd->pad_l, nd->pad_r),
             err, "pooling descriptor", l->name);
    if (!(nd->fwd_pd = dn_pd(p->cfg.eng, &d, NULL, "pooling", l->name, err)))
        goto fail;
    nd->md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        goto fail;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 2, DNNL_ARG_SRC,
                                in->mem, DNNL_ARG_DST, nd->mem);
    if (!st)
        goto fail;
    dnnl_memory_desc_t ws_md = dn_pd_md(nd->fwd_pd, dnnl_query_workspace_md, 0);
    if (dnnl_memory_desc_get_size(&ws_md) > 0) {
        nd->ws = dn_mem(&p->pool, p->cfg.eng, &ws_md, NULL, err);
        /* st may have moved: dn_mem does not touch the step list */
        if (!nd->ws || dn_step_arg(st, DNNL_ARG_WORKSPACE, nd->ws, err))
            goto fail;
    }
    if (nd->post_relu) {
        /* the ReLU moved here from the convolution before (swap_relu_maxpool) */
        dnnl_eltwise_desc_t ed;
        dnnl_primitive_desc_t epd = NULL;
        DN_CHECK(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                                dnnl_eltwise_relu_use_dst_for_bwd, &nd->md, 0.0f,
                                                0.0f),
                 err, "eltwise descriptor", l->name);
        if (!(epd = dn_pd(p->cfg.eng, &ed, NULL, "eltwise", l->name, err)))
            goto fail;
        st = dn_steps_prim(&p->fwd, &p->pool, epd, l->name, err, 2, DNNL_ARG_SRC, nd->mem,
                           DNNL_ARG_DST, nd->mem);
        dnnl_primitive_desc_destroy(epd);
        if (!st)
            goto fail;
    }
    rc = 0;
fail:
    return rc;
}

static int pool_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root;
    if (!p->nodes[r].wants)
        return 0;
    if (nd->pool_job)
        return own_pool_backward(p, i, err);
    int is_max = l->kind == LAYER_MAXPOOL2D || l->kind == LAYER_GLOBAL_MAXPOOL2D;
    dnnl_pooling_v2_desc_t d;
    dnnl_dims_t dil = {0, 0};
    DN_CHECK(dnnl_pooling_v2_backward_desc_init(
                 &d, is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &in->md,
                 &nd->md, nd->strides, nd->kernel, dil, nd->pad_l, nd->pad_r),
             err, "pooling backward descriptor", l->name);
    /* the ReLU moved behind this pooling (swap_relu_maxpool), in place */
    if (nd->post_relu &&
        dn_eltwise_bwd(p, l, ACT_RELU, &nd->md, NULL, nd->diff, nd->mem, nd->diff, err))
        return -1;
    /* max pooling's workspace (none for average pooling) */
    return dn_bwd_data_step(p, r, &d, nd->fwd_pd, "pooling backward", nd->diff, l->name, err, 1,
                            DNNL_ARG_WORKSPACE, nd->ws);
fail:
    return -1;
}

const layer_op op_maxpool2d = {
    .keras_class = "MaxPooling2D",
    .defaults = pool_defaults,
    .infer = pool_infer,
    .ref_forward = maxpool_ref_forward,
    .ref_backward = maxpool_ref_backward,
    .dn_forward = pool_dn_forward,
    .dn_backward = pool_dn_backward,
};

const layer_op op_avgpool2d = {
    .keras_class = "AveragePooling2D",
    .defaults = pool_defaults,
    .infer = pool_infer,
    .ref_forward = avgpool_ref_forward,
    .ref_backward = avgpool_ref_backward,
    .dn_forward = pool_dn_forward,
    .dn_backward = pool_dn_backward,
};

const layer_op op_global_avgpool2d = {
    .keras_class = "GlobalAveragePooling2D",
    .infer = global_pool_infer,
    .ref_forward = global_avgpool_ref_forward,
    .ref_backward = global_avgpool_ref_backward,
    .dn_forward = pool_dn_forward,
    .dn_backward = pool_dn_backward,
};

const layer_op op_global_maxpool2d = {
    .keras_class = "GlobalMaxPooling2D",
    .infer = global_pool_infer,
    .ref_forward = global_maxpool_ref_forward,
    .ref_backward = global_maxpool_ref_backward,
    .dn_forward = pool_dn_forward,
    .dn_backward = pool_dn_backward,
};
