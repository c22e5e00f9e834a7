/*
 * op_zeropad2d.c - ZeroPadding2D: zero rows above and below, zero columns left
 * and right of every map (pad4 = top, bottom, left, right).
 * oneDNN: when the only reader is a VALID Conv2D/DepthwiseConv2D and every
 * side's padding is smaller than its kernel span (PyTorch's symmetric pads of
 * stride-2 convolutions, imported from ONNX; Keras' MobileNetV2), the layer is
 * folded into that convolution: an alias of its input, and the convolution
 * adds the pads to its own (asymmetric) oneDNN padding_l / padding_r, forward
 * and backward -- no copy of the map.  At inference the same holds for a VALID
 * MaxPooling2D reader whose input is never negative (the layer before has a
 * ReLU-like activation: ResNet's stem, Keras' pool1_pad, torchvision's
 * MaxPool pads as the ONNX reader imports them): oneDNN's max pooling leaves
 * its padding out of the maximum, and a zero never exceeds the maximum of a
 * window that holds a real value >= 0 (every window does: each pad is smaller
 * than the pool).  That saves the padded NHWC copy and lets the pooling run
 * on the convolution's blocked layout (resnet18.onnx at batch 32 on AVX2:
 * the copy, the plain-layout pooling and the reorder back cost 2-4 ms of
 * about 45 ms per image).  Training keeps the copy: its backward would send a
 * tie's gradient elsewhere.  Otherwise the output is a plain NHWC
 * buffer zeroed each forward, the input reordered into its interior (a
 * sub-memory); backward takes the interior of the gradient back the same way.
 */
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int zeropad_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': ZeroPadding2D needs a 4-D input",
                          l->name);
    for (int k = 0; k < 4; k++)
        if (l->pad4[k] < 0 || l->pad4[k] > 1 << 16)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad padding %d", l->name,
                              l->pad4[k]);
    op_set_out(l, in->out_h + l->pad4[0] + l->pad4[1], in->out_w + l->pad4[2] + l->pad4[3],
               in->out_c, 4);
    return op_no_params(l, err);
}

/* Offset of the first value of input row (b, y) inside the padded output. */
static size_t interior(const layer *l, int b, int y)
{
    return (((size_t)b * (size_t)l->out_h + (size_t)(y + l->pad4[0])) * (size_t)l->out_w +
            (size_t)l->pad4[2]) *
           (size_t)l->out_c;
}

static void zeropad_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t row = (size_t)in->out_w * (size_t)in->out_c;
    memset(io->y, 0, op_ref_rows(io) * (size_t)l->out_c * sizeof *io->y);
    for (int b = 0; b < io->n; b++)
        for (int y = 0; y < in->out_h; y++)
            memcpy(io->y + interior(l, b, y),
                   io->x[0] + ((size_t)b * (size_t)in->out_h + (size_t)y) * row,
                   row * sizeof *io->y);
}

static void zeropad_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l, *in = op_in(io->m, l, 0);
    size_t row = (size_t)in->out_w * (size_t)in->out_c;
    if (!io->dx[0])
        return;
    for (int b = 0; b < io->n; b++)
        for (int y = 0; y < in->out_h; y++)
            ref_acc(row, io->dy + interior(l, b, y),
                    io->dx[0] + ((size_t)b * (size_t)in->out_h + (size_t)y) * row);
}

/* 1 when ZeroPadding2D layer i goes into its reader's convolution or, at
 * inference (!training), max pooling padding (see the top of the file). */
static int zeropad_folds(const model *m, int i, int training)
{
    const layer *z = &m->layers[i];
    int reader = -1, reads = 0;
    if (z->kind != LAYER_ZEROPAD2D || i == model_output_index(m) || z->n_inputs != 1 ||
        z->out_rank != 4)
        return 0;
    for (int j = i + 1; j < m->n_layers; j++)
        for (int k = 0; k < m->layers[j].n_inputs; k++)
            if (m->layers[j].inputs[k] == i) {
                reader = j;
                reads++;
            }
    if (reads != 1)
        return 0;
    const layer *c = &m->layers[reader];
    if (c->n_inputs != 1 || c->padding != PAD_VALID)
        return 0;
    if (c->kind == LAYER_MAXPOOL2D) {
        const layer *in = &m->layers[z->inputs[0]];
        if (training || z->inputs[0] == model_output_index(m) || in->out_rank != 4 ||
            !layer_act_non_negative(in->act, &in->act_p))
            return 0;
        for (int k = 0; k < 4; k++)
            if (z->pad4[k] < 0 || z->pad4[k] >= c->pool[k / 2])
                return 0;
        return 1;
    }
    if (c->kind != LAYER_CONV2D && c->kind != LAYER_DEPTHWISE_CONV2D)
        return 0;
    for (int k = 0; k < 4; k++) {
        int span = (c->kernel[k / 2] - 1) * layer_dilation(c, k / 2) + 1;
        if (z->pad4[k] < 0 || z->pad4[k] >= span)
            return 0;
    }
    return 1;
}

static int zeropad_alias(const model *m, int i, int training, layer_act act)
{
    (void)act;
    return zeropad_folds(m, i, training);
}

int dn_zeropad_folded(const dn_plan *p, int j, int pad4[4])
{
    const layer *z = &p->m->layers[j];
    if (z->kind != LAYER_ZEROPAD2D || p->nodes[j].root == j ||
        !zeropad_folds(p->m, j, p->cfg.training))
        return 0;
    for (int k = 0; k < 4; k++)
        pad4[k] = z->pad4[k];
    return 1;
}

/* The interior of a padded NHWC map md, as a view of the same buffer. */
static int interior_md(const layer *l, const dnnl_memory_desc_t *md, const dnnl_memory_desc_t *in,
                       dnnl_memory_desc_t *view, cd_err *err)
{
    return dn_md_window(view, md, in->dims[2], in->dims[3], l->pad4[0], l->pad4[2], l->name, err);
}

static int zeropad_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t view;
    dnnl_dims_t dd = {p->n, l->out_c, l->out_h, l->out_w};
    if (in->md.ndims != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': ZeroPadding2D needs a 4-D input",
                          l->name);
    if (dn_md(&nd->md, 4, dd, dnnl_nhwc, l->name, err))
        return -1;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || interior_md(l, &nd->md, &in->md, &view, err) ||
        dn_steps_into_window(&p->fwd, &p->pool, p->cfg.eng, in->mem, nd->mem, &view, l->name, err))
        return -1;
    return 0;
}

static int zeropad_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t view;
    if (!p->nodes[in->root].wants)
        return 0;
    if (interior_md(l, &nd->md, &in->md, &view, err))
        return -1;
    dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, dn_mem_ptr(nd->diff), err);
    return vm ? dn_grad_add(p, in->root, vm, l->name, err) : -1;
}

const layer_op op_zeropad2d = {
    .keras_class = "ZeroPadding2D",
    .infer = zeropad_infer,
    .ref_forward = zeropad_ref_forward,
    .ref_backward = zeropad_ref_backward,
    .dn_alias = zeropad_alias,
    .dn_forward = zeropad_dn_forward,
    .dn_backward = zeropad_dn_backward,
};
