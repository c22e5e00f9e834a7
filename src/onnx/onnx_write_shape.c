/*
 * onnx_write_shape.c - the layers whose ONNX form is about shapes and
 * broadcasting (see onnx_write.h): Keras' Reshape, which is row-major over
 * NHWC while ONNX's values are NCHW; the squeeze-and-excitation Multiply of a
 * map by a channel vector; Normalization's per-channel constants; Resizing.
 */
#include "onnx/onnx_write.h"

#include <math.h>
#include <string.h>

static const int64_t TO_NHWC[4] = {0, 2, 3, 1}, TO_NCHW[4] = {0, 3, 1, 2};

/* An int64 initializer named ow_value(prefix, suffix) holding v[0..k)
 * (copied into the arena); its name, or NULL on error. */
static const char *ints(onnx_writer *w, const char *prefix, const char *suffix, const int64_t *v,
                        int64_t k)
{
    const char *name = ow_value(w, prefix, suffix);
    int64_t *data = onnx_arena_alloc(&w->arena, (size_t)(k ? k : 1) * sizeof *data);
    if (!name || !data) {
        ow_oom(w);
        return NULL;
    }
    if (k)
        memcpy(data, v, (size_t)k * sizeof *data);
    return ow_init_tensor(w, name, 0, data, (size_t)k, &k, 1) == 0 ? name : NULL;
}

/* A float initializer named ow_value(prefix, suffix) of k values from v with
 * the given dims. */
static const char *floats(onnx_writer *w, const char *prefix, const char *suffix, const float *v,
                          size_t k, const int64_t *dims, size_t rank)
{
    const char *name = ow_value(w, prefix, suffix);
    float *data = onnx_arena_alloc(&w->arena, (k ? k : 1) * sizeof *data);
    if (!name || !data) {
        ow_oom(w);
        return NULL;
    }
    if (k)
        memcpy(data, v, k * sizeof *data);
    return ow_init_tensor(w, name, 1, data, k, dims, rank) == 0 ? name : NULL;
}

const char *ow_transpose(onnx_writer *w, const char *name, const char *x, const int64_t perm[4])
{
    if (!name) {
        ow_oom(w);
        return NULL;
    }
    const char *ins[] = {x, NULL};
    Onnx__NodeProto *n = ow_node(w, "Transpose", name, ins, name);
    return n && ow_attr_ints(w, n, "perm", perm, 4) == 0 ? name : NULL;
}

/* A Reshape `name` of x to `shape` (0 keeps the batch dimension). */
static int reshape_node(onnx_writer *w, const char *name, const char *x,
                        const int64_t *shape, int64_t rank, const char *out)
{
    const char *s = ints(w, name, "/shape", shape, rank);
    const char *ins[] = {x, s, NULL};
    return s && ow_node(w, "Reshape", name, ins, out) ? 0 : -1;
}

/* Keras' Reshape reads and writes values in NHWC order.  A vector or a 1x1
 * map holds them in the same order as NCHW, so that side needs no Transpose;
 * a map with more than one pixel is brought to NHWC before the Reshape, and a
 * map target is reshaped as (N, H, W, C) and brought back to NCHW. */
int ow_reshape(onnx_writer *w, const layer *l, const layer *in, const char *x, const char *y)
{
    int in_spatial = in->out_rank == 4 && (in->out_h > 1 || in->out_w > 1);
    int out_spatial = l->out_rank == 4 && (l->out_h > 1 || l->out_w > 1);
    const char *src = x;
    if (in_spatial && !(src = ow_transpose(w, ow_value(w, l->name, "/nhwc"), x, TO_NHWC)))
        return -1;
    if (l->out_rank == 2) {
        int64_t shape[2] = {0, l->out_c};
        return reshape_node(w, l->name, src, shape, 2, y);
    }
    if (!out_spatial) {
        int64_t shape[4] = {0, l->out_c, 1, 1};
        return reshape_node(w, l->name, src, shape, 4, y);
    }
    int64_t shape[4] = {0, l->out_h, l->out_w, l->out_c};
    const char *mid = ow_value(w, l->name, "/reshape_nhwc");
    if (!mid)
        return ow_oom(w);
    if (reshape_node(w, mid, src, shape, 4, mid) != 0)
        return -1;
    const char *ins[] = {mid, NULL};
    Onnx__NodeProto *n = ow_node(w, "Transpose", l->name, ins, y);
    return n ? ow_attr_ints(w, n, "perm", TO_NCHW, 4) : -1;
}

/* The same test as engine/op_merge.c's bcast_vec. */
int ow_bcast_vec(const model *m, const layer *l)
{
    if (l->kind != LAYER_MULTIPLY || l->n_inputs != 2)
        return -1;
    for (int j = 0; j < 2; j++) {
        const layer *v = &m->layers[l->inputs[j]], *x = &m->layers[l->inputs[1 - j]];
        if (v->out_h == 1 && v->out_w == 1 && v->out_c == x->out_c && x->out_rank == 4 &&
            (x->out_h > 1 || x->out_w > 1 || v->out_rank < 4))
            return j;
    }
    return -1;
}

/* ONNX broadcasts from the right: an (N, C) vector against (N, C, H, W)
 * would line up with (H, W), so it is reshaped to (N, C, 1, 1) first; an
 * (N, 1, 1, C) vector already is that in NCHW. */
int ow_multiply_bcast(onnx_writer *w, const layer *l, int v, const char *y)
{
    const layer *vec = &w->m->layers[l->inputs[v]];
    const char *ins[3] = {w->value[l->inputs[0]], w->value[l->inputs[1]], NULL};
    if (vec->out_rank == 2) {
        const char *name = ow_value(w, l->name, "/vector");
        int64_t shape[4] = {0, vec->out_c, 1, 1};
        if (!name)
            return ow_oom(w);
        if (reshape_node(w, name, ins[v], shape, 4, name) != 0)
            return -1;
        ins[v] = name;
    }
    return ow_node(w, "Mul", l->name, ins, y) ? 0 : -1;
}

/* (x - mean) / max(sqrt(variance), epsilon) in the engine's order, the
 * denominator computed here as op_normalization.c computes it; constants
 * (C, 1, 1) over a map, (C) over a vector. */
int ow_normalization(onnx_writer *w, const layer *l, const char *x, const char *y)
{
    size_t c = (size_t)l->out_c;
    float *den = onnx_arena_alloc(&w->arena, c * sizeof *den);
    const char *sub = ow_value(w, l->name, "/centered");
    if (!den || !sub)
        return ow_oom(w);
    for (size_t j = 0; j < c; j++)
        den[j] = fmaxf(sqrtf(l->params[1]->data[j]), l->epsilon);
    int64_t dims[3] = {(int64_t)c, 1, 1};
    size_t rank = l->out_rank == 4 ? 3 : 1;
    const char *mean = floats(w, l->name, "/mean", l->params[0]->data, c, dims, rank);
    const char *std = mean ? floats(w, l->name, "/std", den, c, dims, rank) : NULL;
    if (!std)
        return -1;
    const char *ins[] = {x, mean, NULL}, *ins2[] = {sub, std, NULL};
    if (!ow_node(w, "Sub", sub, ins, sub))
        return -1;
    return ow_node(w, "Div", l->name, ins2, y) ? 0 : -1;
}

/* tf.image.resize's half-pixel rule is ONNX's coordinate_transformation_mode
 * "half_pixel": bilinear is mode "linear" (no antialias, the default).
 * Nearest takes row floor((i + 0.5) * in / out), which is
 * round_prefer_ceil((i + 0.5) * in / out - 0.5): "half_pixel" with that
 * nearest_mode, spelled the same at every opset from 11 (rather than
 * tf_half_pixel_for_nn + floor, which opset 13 deprecates).
 * The output size: from opset 18 `sizes` names only H and W (`axes`);
 * before, sizes is 4-D and the batch is dynamic, so it is Shape(x)[0:2]
 * followed by (H, W).  Opsets 11 and 12 want roi and scales as inputs:
 * empty tensors. */
int ow_resizing(onnx_writer *w, const layer *l, const char *x, const char *y)
{
    const int64_t hw[2] = {l->size[0], l->size[1]}, two[2] = {2, 3}, slice[3] = {0, 2, 0};
    const char *sizes;
    if (w->opset >= 18) {
        sizes = ints(w, l->name, "/sizes", hw, 2);
    } else {
        const char *shape = ow_value(w, l->name, "/shape"), *nc = ow_value(w, l->name, "/nc");
        const char *st = ints(w, l->name, "/nc_starts", slice, 1);
        const char *en = st ? ints(w, l->name, "/nc_ends", slice + 1, 1) : NULL;
        const char *ax = en ? ints(w, l->name, "/nc_axes", slice + 2, 1) : NULL;
        const char *tail = ax ? ints(w, l->name, "/hw", hw, 2) : NULL;
        sizes = ow_value(w, l->name, "/sizes");
        if (!shape || !nc || !sizes)
            return ow_oom(w);
        if (!tail)
            return -1;
        const char *s_in[] = {x, NULL}, *sl_in[] = {shape, st, en, ax, NULL}, *c_in[] = {nc, tail, NULL};
        Onnx__NodeProto *cat;
        if (!ow_node(w, "Shape", shape, s_in, shape) || !ow_node(w, "Slice", nc, sl_in, nc) ||
            !(cat = ow_node(w, "Concat", sizes, c_in, sizes)) || ow_attr_int(w, cat, "axis", 0) != 0)
            return -1;
    }
    if (!sizes)
        return -1;
    const char *roi = "", *scales = "";
    if (w->opset < 13) {
        const int64_t none[1] = {0};
        roi = floats(w, l->name, "/roi", NULL, 0, none, 1);
        scales = roi ? floats(w, l->name, "/scales", NULL, 0, none, 1) : NULL;
        if (!scales)
            return -1;
    }
    const char *ins[] = {x, roi, scales, sizes, NULL};
    Onnx__NodeProto *n = ow_node(w, "Resize", l->name, ins, y);
    int nearest = l->interp == INTERP_NEAREST;
    if (!n || ow_attr_string(w, n, "mode", nearest ? "nearest" : "linear") != 0 ||
        ow_attr_string(w, n, "coordinate_transformation_mode", "half_pixel") != 0 ||
        (nearest && ow_attr_string(w, n, "nearest_mode", "round_prefer_ceil") != 0) ||
        (w->opset >= 18 && ow_attr_ints(w, n, "axes", two, 2) != 0))
        return -1;
    return 0;
}
