/*
 * op_reshape.c - Reshape: the same values under another shape, as Keras'
 * Reshape(target_shape) (row-major over the sample's (H, W, C), which is the
 * NHWC memory order, so no value moves).  Targets of rank 1 give a (N, C)
 * vector, of rank 3 a (N, H, W, C) map; -1 stands for the one dimension the
 * element count decides.  The typical use is squeeze-and-excitation:
 * GlobalAveragePooling2D -> Reshape((1, 1, C)) -> 1x1 Conv2D.
 *
 * Reference: a copy each way.  oneDNN: the input brought to its plain (NHWC /
 * NC) layout when it is not already (a blocked map), then viewed with the new
 * dimensions over the same buffer; backward views the gradient back the same way.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int reshape_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    size_t total = layer_out_size(in), known = 1;
    int t[3], unknown = -1;
    if (l->target_rank != 1 && l->target_rank != 3)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': Reshape to rank %d; only (C) and (H, W, C) are supported",
                          l->name, l->target_rank);
    for (int d = 0; d < 3; d++) {
        t[d] = l->target[d];
        if (t[d] == -1 && unknown < 0)
            unknown = d;
        else if (t[d] < 1)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': Reshape target dimension %d",
                              l->name, t[d]);
        else if ((size_t)t[d] > total / known) /* also keeps the product from overflowing */
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': Reshape target holds more than the %zu input values",
                              l->name, total);
        else
            known *= (size_t)t[d];
    }
    if (unknown >= 0) {
        if (total % known != 0 || total / known > (size_t)1 << 30)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': Reshape cannot split %zu values into the target",
                              l->name, total);
        t[unknown] = (int)(total / known);
        known *= (size_t)t[unknown];
    }
    if (known != total)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': Reshape of %zu values (%dx%dx%d) to %dx%dx%d (%zu values)",
                          l->name, total, in->out_h, in->out_w, in->out_c, t[0], t[1], t[2],
                          known);
    op_set_out(l, t[0], t[1], t[2], l->target_rank == 1 ? 2 : 4);
    return op_no_params(l, err);
}

static void reshape_defaults(layer *l)
{
    l->target[0] = l->target[1] = 1;
    l->target[2] = -1;
    l->target_rank = 1;
}

/* The layer's output dimensions as oneDNN's plain layout (NHWC or NC). */
static int reshape_out_md(const dn_plan *p, const layer *l, dnnl_memory_desc_t *out, cd_err *err)
{
    if (l->out_rank == 4) {
        dnnl_dims_t d = {p->n, l->out_c, l->out_h, l->out_w};
        return dn_md(out, 4, d, dnnl_nhwc, l->name, err);
    }
    dnnl_dims_t d = {p->n, l->out_c};
    return dn_md(out, 2, d, dnnl_nc, l->name, err);
}

static int reshape_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t plain;
    if (dn_md_plain_view(&plain, &in->md, 0, 0, l->name, err) || reshape_out_md(p, l, &nd->md, err))
        return -1;
    dnnl_memory_t src = dn_as_layout(p, in->mem, &plain, l->name, err);
    if (!src)
        return -1;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, dn_mem_ptr(src), err);
    return nd->mem ? 0 : -1;
}

static int reshape_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    const dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_memory_desc_t plain;
    if (dn_md_plain_view(&plain, &in->md, 0, 0, l->name, err))
        return -1;
    dnnl_memory_t view = dn_mem(&p->pool, p->cfg.eng, &plain, dn_mem_ptr(nd->diff), err);
    return view ? dn_grad_add(p, r, view, l->name, err) : -1;
}

const layer_op op_reshape = {
    .keras_class = "Reshape",
    .infer = reshape_infer,
    .ref_forward = op_ref_copy_forward,
    .ref_backward = op_ref_copy_backward,
    .dn_forward = reshape_dn_forward,
    .dn_backward = reshape_dn_backward,
    .defaults = reshape_defaults,
};
