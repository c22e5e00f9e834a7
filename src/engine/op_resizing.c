/*
 * op_resizing.c - Keras' Resizing layer: every map resized to size[0] x
 * size[1] as TensorFlow's tf.image.resize does it (what Keras' Resizing
 * calls; antialias off, half-pixel centres, no aspect-ratio cropping):
 *
 *   scale = in / out (float);
 *   bilinear: s = (i + 0.5) * scale - 0.5, rows floor(s) and ceil(s) clamped
 *             to [0, in - 1], weight s - floor(s) (the same as PyTorch's
 *             interpolate(align_corners=False));
 *   nearest:  row min(floor((i + 0.5) * scale), in - 1) (PyTorch's
 *             "nearest-exact", not its "nearest").
 *
 * Backward spreads each output gradient over the input pixels it was made of
 * (the same weights).  oneDNN: its resampling primitive (linear / nearest),
 * which uses the same half-pixel convention, forward and backward.
 */
#include <math.h>
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

static void resizing_defaults(layer *l)
{
    l->interp = INTERP_BILINEAR;
}

static int resizing_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Resizing needs a 4-D input", l->name);
    if (l->size[0] < 1 || l->size[1] < 1 || l->size[0] > 1 << 15 || l->size[1] > 1 << 15)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad size %dx%d", l->name, l->size[0],
                          l->size[1]);
    if (l->interp != INTERP_BILINEAR && l->interp != INTERP_NEAREST)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': unknown interpolation %d", l->name,
                          l->interp);
    op_set_out(l, l->size[0], l->size[1], in->out_c, 4);
    return op_no_params(l, err);
}

/* Where output row/column i reads from along an axis of `in` pixels: two taps
 * lo, hi and the weight of hi (nearest: lo == hi). */
typedef struct tap {
    int lo, hi;
    float w;
} tap;

static tap tap_of(const layer *l, int in, int out, int i)
{
    float scale = (float)in / (float)out;
    tap t;
    if (l->interp == INTERP_NEAREST) {
        int k = (int)floorf(((float)i + 0.5f) * scale);
        t.lo = t.hi = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
        t.w = 0.0f;
        return t;
    }
    float s = ((float)i + 0.5f) * scale - 0.5f, f = floorf(s);
    int c = (int)ceilf(s);
    t.lo = f < 0.0f ? 0 : (int)f;
    t.hi = c > in - 1 ? in - 1 : c;
    t.w = s - f;
    return t;
}

static void resizing_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t c = (size_t)l->out_c, iw = (size_t)in->out_w;
    float *y = io->y;
    for (int b = 0; b < io->n; b++) {
        const float *x = io->x[0] + (size_t)b * (size_t)in->out_h * iw * c;
        for (int oy = 0; oy < l->out_h; oy++) {
            tap ty = tap_of(l, in->out_h, l->out_h, oy);
            const float *top = x + (size_t)ty.lo * iw * c, *bot = x + (size_t)ty.hi * iw * c;
            for (int ox = 0; ox < l->out_w; ox++) {
                tap tx = tap_of(l, in->out_w, l->out_w, ox);
                size_t lo = (size_t)tx.lo * c, hi = (size_t)tx.hi * c;
                for (size_t j = 0; j < c; j++, y++) {
                    /* TensorFlow's order of operations */
                    float t = top[lo + j] + (top[hi + j] - top[lo + j]) * tx.w;
                    float u = bot[lo + j] + (bot[hi + j] - bot[lo + j]) * tx.w;
                    *y = t + (u - t) * ty.w;
                }
            }
        }
    }
}

static void resizing_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t c = (size_t)l->out_c, iw = (size_t)in->out_w;
    const float *dy = io->dy;
    if (!io->dx[0])
        return;
    for (int b = 0; b < io->n; b++) {
        float *dx = io->dx[0] + (size_t)b * (size_t)in->out_h * iw * c;
        for (int oy = 0; oy < l->out_h; oy++) {
            tap ty = tap_of(l, in->out_h, l->out_h, oy);
            float *top = dx + (size_t)ty.lo * iw * c, *bot = dx + (size_t)ty.hi * iw * c;
            for (int ox = 0; ox < l->out_w; ox++) {
                tap tx = tap_of(l, in->out_w, l->out_w, ox);
                size_t lo = (size_t)tx.lo * c, hi = (size_t)tx.hi * c;
                for (size_t j = 0; j < c; j++, dy++) {
                    float g = *dy;
                    top[lo + j] += g * (1.0f - ty.w) * (1.0f - tx.w);
                    top[hi + j] += g * (1.0f - ty.w) * tx.w;
                    bot[lo + j] += g * ty.w * (1.0f - tx.w);
                    bot[hi + j] += g * ty.w * tx.w;
                }
            }
        }
    }
}

static dnnl_alg_kind_t resampling_alg(const layer *l)
{
    return l->interp == INTERP_NEAREST ? dnnl_resampling_nearest : dnnl_resampling_linear;
}

static int resizing_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_resampling_desc_t d;
    dnnl_memory_desc_t dst_md;
    dnnl_dims_t dd = {p->n, l->out_c, l->out_h, l->out_w};
    int rc = -1;
    if (in->md.ndims != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Resizing needs a 4-D input", l->name);
    if (dn_md(&dst_md, 4, dd, dnnl_format_tag_any, l->name, err))
        return -1;
    DN_CHECK(dnnl_resampling_forward_desc_init(
                 &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                 resampling_alg(l), NULL, &in->md, &dst_md),
             err, "resampling descriptor", l->name);
    if (!(nd->fwd_pd = dn_pd(p->cfg.eng, &d, NULL, "resampling", l->name, err)))
        goto fail;
    nd->md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || !dn_steps_prim(&p->fwd, &p->pool, nd->fwd_pd, l->name, err, 2, DNNL_ARG_SRC,
                                   in->mem, DNNL_ARG_DST, nd->mem))
        goto fail;
    rc = 0;
fail:
    return rc;
}

static int resizing_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_resampling_desc_t d;
    DN_CHECK(dnnl_resampling_backward_desc_init(&d, resampling_alg(l), NULL, &in->md, &nd->md),
             err, "resampling backward descriptor", l->name);
    return dn_bwd_data_step(p, r, &d, nd->fwd_pd, "resampling backward", nd->diff, l->name, err,
                            0);
fail:
    return -1;
}

const layer_op op_resizing = {
    .keras_class = "Resizing",
    .infer = resizing_infer,
    .ref_forward = resizing_ref_forward,
    .ref_backward = resizing_ref_backward,
    .dn_forward = resizing_dn_forward,
    .dn_backward = resizing_dn_backward,
    .defaults = resizing_defaults,
};
