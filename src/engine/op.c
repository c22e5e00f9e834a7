/*
 * op.c - the table of layer kinds and the helpers their ops share (see op.h).
 *
 * The table is generated from LAYER_KINDS (layer.h), indexed by kind; the
 * static assertion keeps it and the enum the same length, so a kind added to
 * one and not the other does not build.
 */
#include "engine/op.h"

#include <string.h>

#define LAYER_OP_ROW(KIND, op) [KIND] = &op,
static const layer_op *const layer_ops[] = {LAYER_KINDS(LAYER_OP_ROW)};
#undef LAYER_OP_ROW
_Static_assert(sizeof layer_ops / sizeof layer_ops[0] == LAYER_KIND_COUNT,
               "every layer kind needs its op in the table");

const layer_op *layer_op_of(layer_kind kind)
{
    return layer_ops[kind];
}

const char *layer_kind_name(layer_kind kind)
{
    if ((int)kind < 0 || kind >= LAYER_KIND_COUNT)
        return "Unknown";
    return layer_ops[kind]->keras_class;
}

const char *layer_param_name(const layer *l, int k)
{
    if ((int)l->kind >= 0 && l->kind < LAYER_KIND_COUNT && layer_ops[l->kind]->param_name)
        return layer_ops[l->kind]->param_name(l, k);
    return k == 0 ? "kernel" : "bias";
}

int layer_trainable_params(const layer *l)
{
    if ((int)l->kind >= 0 && l->kind < LAYER_KIND_COUNT && layer_ops[l->kind]->trainable_params)
        return layer_ops[l->kind]->trainable_params(l);
    return l->n_params;
}

/* ---- shape inference ---------------------------------------------------- */

int op_window_out(int in, int k, int s, layer_pad pad)
{
    /* 64-bit: a config may give any int */
    if (pad == PAD_SAME)
        return (int)(((long long)in + s - 1) / s);
    if (in < k)
        return -1;
    return (in - k) / s + 1;
}

int op_param_ensure(layer *l, int p, const char *what, int rank, const int *dims, cd_err *err)
{
    if (!l->params[p]) {
        l->params[p] = tensor_new(rank, dims, err);
        if (!l->params[p])
            return cd_err_wrap(err, "layer '%s': %s", l->name, what);
        return 0;
    }
    tensor want = {.rank = rank};
    for (int i = 0; i < rank; i++)
        want.dims[i] = dims[i];
    if (!tensor_same_shape(l->params[p], &want)) {
        char found[64], expected[64];
        tensor_shape_str(l->params[p]->rank, l->params[p]->dims, found, sizeof found);
        tensor_shape_str(rank, dims, expected, sizeof expected);
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s has shape %s, expected %s", l->name,
                          what, found, expected);
    }
    return 0;
}

int op_params_ensure(layer *l, int rank, const int *kdims, int units, size_t *left, cd_err *err)
{
    int want = l->use_bias ? 2 : 1;
    if (!l->use_bias && l->params[1]) {
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': has a bias but use_bias is off",
                          l->name);
    }
    size_t count = l->use_bias ? (size_t)units : 0, kernel = 1;
    for (int i = 0; i < rank; i++) {
        if (kdims[i] > 0 && kernel > MODEL_MAX_PARAMS / (size_t)kdims[i]) {
            kernel = MODEL_MAX_PARAMS + 1;
            break;
        }
        kernel *= kdims[i] > 0 ? (size_t)kdims[i] : 1;
    }
    count += kernel;
    if (count > *left) {
        char shape[64];
        tensor_shape_str(rank, kdims, shape, sizeof shape);
        return cd_err_set(err, CD_ERR_LIMIT,
                          "layer '%s': a kernel of shape %s takes the model over the limit of %zu "
                          "parameters",
                          l->name, shape, MODEL_MAX_PARAMS);
    }
    *left -= count;
    if (op_param_ensure(l, 0, "kernel", rank, kdims, err) != 0)
        return -1;
    if (l->use_bias && op_param_ensure(l, 1, "bias", 1, &units, err) != 0)
        return -1;
    l->n_params = want;
    return 0;
}

int op_no_params(layer *l, cd_err *err)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++)
        if (l->params[p])
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': a %s layer has no weights", l->name,
                              layer_kind_name(l->kind));
    l->n_params = 0;
    return 0;
}

void op_set_out(layer *l, int h, int w, int c, int rank)
{
    l->out_h = h;
    l->out_w = w;
    l->out_c = c;
    l->out_rank = rank;
}

int op_infer_window(const model *m, layer *l, int kh, int kw, int c, const char *what,
                    cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    if (in->out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': %s needs a 4-D (N, H, W, C) input",
                          l->name, layer_kind_name(l->kind));
    if (kh <= 0 || kw <= 0 || l->strides[0] <= 0 || l->strides[1] <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad %s %dx%d or strides %dx%d",
                          l->name, what, kh, kw, l->strides[0], l->strides[1]);
    int oh = op_window_out(in->out_h, kh, l->strides[0], l->padding);
    int ow = op_window_out(in->out_w, kw, l->strides[1], l->padding);
    if (oh <= 0 || ow <= 0) {
        const layer *first = &m->layers[0];
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': input %dx%d is smaller than the %s %dx%d "
                          "(input size %dx%d too small for this architecture)",
                          l->name, in->out_h, in->out_w, what, kh, kw, first->in_h, first->in_w);
    }
    op_set_out(l, oh, ow, c < 0 ? in->out_c : c, 4);
    return 0;
}

int op_infer_same(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *in = op_in(m, l, 0);
    op_set_out(l, in->out_h, in->out_w, in->out_c, in->out_rank);
    return op_no_params(l, err);
}

/* ---- reference backend -------------------------------------------------- */

ref_win op_ref_window(const op_ref_io *io, int kh, int kw)
{
    const layer *l = io->l;
    const layer *in = op_in(io->m, l, 0);
    ref_win w = {
        .n = io->n, .ih = in->out_h, .iw = in->out_w, .ic = in->out_c,
        .oh = l->out_h, .ow = l->out_w, .oc = l->out_c,
        .kh = kh, .kw = kw,
        .sh = l->strides[0], .sw = l->strides[1],
    };
    ref_win_pads(&w, l->padding);
    return w;
}

size_t op_ref_rows(const op_ref_io *io)
{
    return (size_t)io->n * (size_t)io->l->out_h * (size_t)io->l->out_w;
}

void op_ref_copy_forward(const op_ref_io *io)
{
    if (io->x[0])
        memcpy(io->y, io->x[0], op_ref_rows(io) * (size_t)io->l->out_c * sizeof *io->y);
}

void op_ref_copy_backward(const op_ref_io *io)
{
    if (io->dx[0])
        ref_acc(op_ref_rows(io) * (size_t)io->l->out_c, io->dy, io->dx[0]);
}
