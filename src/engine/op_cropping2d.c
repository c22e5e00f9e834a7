/*
 * op_cropping2d.c - Cropping2D: drops rows at the top and bottom and columns
 * at the left and right of every map (pad4 = top, bottom, left, right).
 * oneDNN: the input's interior (a sub-memory of its layout; spatial offsets
 * need no block alignment) reordered into a plain NHWC output; backward
 * zeroes a gradient of the input's size and reorders into its interior.
 *
 * CenterCrop (Keras' preprocessing layer) is the same crop with the window
 * given by its size: size[0] x size[1] from row (in_h - size[0]) / 2 and
 * column (in_w - size[1]) / 2 (integer halves, Keras' offsets); shape
 * inference fills pad4 from the input.  Keras resizes an input smaller than
 * the size instead of cropping; catdog refuses that.
 */
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int crop_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Cropping2D needs a 4-D input", l->name);
    int oh = in->out_h - l->pad4[0] - l->pad4[1], ow = in->out_w - l->pad4[2] - l->pad4[3];
    if (l->pad4[0] < 0 || l->pad4[1] < 0 || l->pad4[2] < 0 || l->pad4[3] < 0 || oh <= 0 ||
        ow <= 0)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': cropping %d,%d,%d,%d leaves nothing of a %dx%d input",
                          l->name, l->pad4[0], l->pad4[1], l->pad4[2], l->pad4[3], in->out_h,
                          in->out_w);
    op_set_out(l, oh, ow, in->out_c, 4);
    return op_no_params(l, err);
}

static int center_crop_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': CenterCrop needs a 4-D input", l->name);
    if (l->size[0] < 1 || l->size[1] < 1 || l->size[0] > in->out_h || l->size[1] > in->out_w)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': CenterCrop to %dx%d of a %dx%d input (Keras resizes an "
                          "input smaller than the crop; catdog only crops)",
                          l->name, l->size[0], l->size[1], in->out_h, in->out_w);
    l->pad4[0] = (in->out_h - l->size[0]) / 2;
    l->pad4[1] = in->out_h - l->size[0] - l->pad4[0];
    l->pad4[2] = (in->out_w - l->size[1]) / 2;
    l->pad4[3] = in->out_w - l->size[1] - l->pad4[2];
    return crop_infer(m, l, params_left, err);
}

/* Offset of output row (b, y)'s first value inside the input. */
static size_t source(const layer *l, const layer *in, int b, int y)
{
    return (((size_t)b * (size_t)in->out_h + (size_t)(y + l->pad4[0])) * (size_t)in->out_w +
            (size_t)l->pad4[2]) *
           (size_t)in->out_c;
}

static void crop_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t row = (size_t)l->out_w * (size_t)l->out_c;
    for (int b = 0; b < io->n; b++)
        for (int y = 0; y < l->out_h; y++)
            memcpy(io->y + ((size_t)b * (size_t)l->out_h + (size_t)y) * row,
                   io->x[0] + source(l, in, b, y), row * sizeof *io->y);
}

static void crop_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t row = (size_t)l->out_w * (size_t)l->out_c;
    if (!io->dx[0])
        return;
    for (int b = 0; b < io->n; b++)
        for (int y = 0; y < l->out_h; y++)
            ref_acc(row, io->dy + ((size_t)b * (size_t)l->out_h + (size_t)y) * row,
                    io->dx[0] + source(l, in, b, y));
}

/* The kept window of a map md of the input's size. */
static int window_md(const layer *l, const dnnl_memory_desc_t *md, dnnl_memory_desc_t *view,
                     cd_err *err)
{
    return dn_md_window(view, md, l->out_h, l->out_w, l->pad4[0], l->pad4[2], l->name, err);
}

static int crop_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t view;
    dnnl_dims_t dd = {p->n, l->out_c, l->out_h, l->out_w};
    if (in->md.ndims != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Cropping2D needs a 4-D input", l->name);
    if (dn_md(&nd->md, 4, dd, dnnl_nhwc, l->name, err) || window_md(l, &in->md, &view, err))
        return -1;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    dnnl_memory_t vm = nd->mem ? dn_mem(&p->pool, p->cfg.eng, &view, dn_mem_ptr(in->mem), err)
                               : NULL;
    if (!vm || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, vm, nd->mem, 0, l->name, err))
        return -1;
    return 0;
}

static int crop_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t full, view;
    if (!p->nodes[in->root].wants)
        return 0;
    dnnl_dims_t dd = {p->n, in->md.dims[1], in->md.dims[2], in->md.dims[3]};
    if (dn_md(&full, 4, dd, dnnl_nhwc, l->name, err) || window_md(l, &full, &view, err))
        return -1;
    dnnl_memory_t g = dn_mem(&p->pool, p->cfg.eng, &full, NULL, err);
    if (!g || dn_steps_into_window(&p->bwd, &p->pool, p->cfg.eng, nd->diff, g, &view, l->name, err))
        return -1;
    return dn_grad_add(p, in->root, g, l->name, err);
}

const layer_op op_cropping2d = {
    .keras_class = "Cropping2D",
    .infer = crop_infer,
    .ref_forward = crop_ref_forward,
    .ref_backward = crop_ref_backward,
    .dn_forward = crop_dn_forward,
    .dn_backward = crop_dn_backward,
};

const layer_op op_center_crop = {
    .keras_class = "CenterCrop",
    .infer = center_crop_infer,
    .ref_forward = crop_ref_forward,
    .ref_backward = crop_ref_backward,
    .dn_forward = crop_dn_forward,
    .dn_backward = crop_dn_backward,
};
