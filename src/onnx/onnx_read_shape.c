/*
 * onnx_read_shape.c - ONNX operators that move a feature map's pixels, as
 * catdog writes them (onnx_write*.c) and PyTorch may: a zero Pad of H and W
 * (a ZeroPadding2D layer), a Slice of H and W (Cropping2D), a Slice of a
 * shape constant (folded), and Resize where its rule is TensorFlow's
 * half-pixel one (a Resizing layer).  Anything else is refused naming the node.
 */
#include <string.h>

#include "onnx/onnx_read.h"

/* Input k of the node when it is there and named ("" marks an absent optional input). */
static int has_input(const reader *r, size_t k)
{
    return r->node->n_input > k && r->node->input[k] && r->node->input[k][0];
}

/* Pad of a map with zeros, on H and W only: a ZeroPadding2D layer.  Pads
 * are all begins then all ends, over (N, C, H, W), or over the axes the
 * fourth input names (from opset 18, as catdog writes (2, 3)). */
static int pad_map(reader *r, val *x, const val *p)
{
    char mode[16];
    if (strcmp(rd_attr_s(r, "mode", mode, sizeof mode) ? mode : "constant", "constant") != 0)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) mode '%s'; only constant zeros are supported",
                  r->opset, mode);
    if (has_input(r, 2)) {
        val *v = rd_input(r, 2);
        if (!v || !(v = rd_as_const(r, v)))
            return -1;
        if (v->n != 1 || (v->is_int ? v->i[0] != 0 : v->f[0] != 0.0f))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) with a value other than 0 is not supported",
                      r->opset);
    }
    int64_t axes[4] = {0, 1, 2, 3};
    size_t na = 4;
    if (has_input(r, 3)) {
        val *a = rd_const_input(r, 3, 1);
        if (!a)
            return -1;
        if (a->n > 4)
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) of %zu axes", r->opset, a->n);
        na = a->n;
        for (size_t k = 0; k < na; k++)
            axes[k] = a->i[k] < 0 ? a->i[k] + 4 : a->i[k];
    }
    if (p->n != 2 * na)
        NODE_FAIL(r, CD_ERR_FORMAT, "has %zu pads for %zu axes", p->n, na);
    int64_t pad[4][2] = {{0}};
    for (size_t k = 0; k < na; k++) {
        if (axes[k] < 0 || axes[k] > 3)
            NODE_FAIL(r, CD_ERR_FORMAT, "pads axis %lld of a 4-D value", (long long)axes[k]);
        pad[axes[k]][0] = p->i[k];
        pad[axes[k]][1] = p->i[k + na];
    }
    for (int d = 0; d < 4; d++)
        if (pad[d][0] < 0 || pad[d][1] < 0 || pad[d][0] > 4096 || pad[d][1] > 4096 ||
            (d < 2 && (pad[d][0] || pad[d][1])))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                      "op Pad (opset %d) is supported only as zeros of 0 to 4096 around H and W",
                      r->opset);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_ZEROPAD2D, name, x->layer);
    l.pad4[0] = (int)pad[2][0], l.pad4[1] = (int)pad[2][1];   /* top, bottom, left, right */
    l.pad4[2] = (int)pad[3][0], l.pad4[3] = (int)pad[3][1];
    return rd_emit(r, &l, V_MAP, x->c, x->h + l.pad4[0] + l.pad4[1], x->w + l.pad4[2] + l.pad4[3])
               ? 0
               : -1;
}

int rd_pad(reader *r)
{
    val *x = rd_input(r, 0), *p = x ? rd_const_input(r, 1, 1) : NULL;
    if (!p)
        return -1;
    int zero = 1;
    for (size_t k = 0; k < p->n; k++)
        zero = zero && p->i[k] == 0;
    if (zero)
        return rd_identity(r);
    if (x->kind != V_MAP)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Pad (opset %d) of a value that is not a feature map",
                  r->opset);
    return pad_map(r, x, p);
}

/* [begin, end) of axis extent n after ONNX's clamping of start and end. */
static void slice_range(int64_t st, int64_t en, int64_t n, int64_t *b, int64_t *e)
{
    if (st < 0)
        st += n;
    if (en < 0)
        en += n;
    *b = st < 0 ? 0 : st > n ? n : st;
    *e = en < 0 ? 0 : en > n ? n : en;
}

/* Slice of a 1-D int64 shape constant (Shape(x)[0:2] and the like): folded. */
static int slice_const(reader *r, val *x, const val *st, const val *en, const val *ax)
{
    if (!(x = rd_as_const(r, x)))
        return -1;
    if (!x->is_int || x->rank != 1 || st->n != 1 || en->n != 1 || (ax && (ax->n != 1 || ax->i[0] != 0)))
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "only a slice of a 1-D int64 constant is folded");
    int64_t b, e;
    slice_range(st->i[0], en->i[0], (int64_t)x->n, &b, &e);
    val *y = rd_output(r, 0);
    if (!y)
        return -1;
    size_t n = e > b ? (size_t)(e - b) : 0;
    *y = (val){.name = y->name, .uses = y->uses, .defined = 1, .kind = V_CONST, .is_int = 1,
               .rank = 1, .dims = {(int64_t)n}, .n = n, .i = x->i + (n ? b : 0), .layer = -1};
    return 0;
}

/* Slice of a map's H and W (steps 1): a Cropping2D layer. */
static int slice_map(reader *r, val *x, const val *st, const val *en, const val *ax)
{
    int64_t ext[4] = {0, x->c, x->h, x->w}, b[4] = {0, 0, 0, 0}, e[4] = {0, x->c, x->h, x->w};
    for (size_t k = 0; k < st->n; k++) {
        int64_t a = ax ? ax->i[k] : (int64_t)k;
        if (a < 0)
            a += 4;
        if (a < 0 || a > 3)
            NODE_FAIL(r, CD_ERR_FORMAT, "slices axis %lld of a 4-D value", (long long)a);
        if (a == 0)   /* the batch: kept whole (a literal 0 : huge is the whole) */
            continue;
        slice_range(st->i[k], en->i[k], ext[a], &b[a], &e[a]);
    }
    if (b[1] != 0 || e[1] != x->c || e[2] <= b[2] || e[3] <= b[3])
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op Slice (opset %d) of a feature map is supported only as a crop of H and W",
                  r->opset);
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_CROPPING2D, name, x->layer);
    l.pad4[0] = (int)b[2], l.pad4[1] = (int)(x->h - e[2]);
    l.pad4[2] = (int)b[3], l.pad4[3] = (int)(x->w - e[3]);
    return rd_emit(r, &l, V_MAP, x->c, (int)(e[2] - b[2]), (int)(e[3] - b[3])) ? 0 : -1;
}

/* 1 when the node's Slice is of a map or a constant and was read (0 or -1
 * in *rc), 0 when rd_slice's dog column is left to decide. */
int rd_slice_shape(reader *r, val *x, val *st, val *en, val *ax, int *rc)
{
    if (x->kind != V_MAP && x->kind != V_CONST)
        return 0;
    if (st->n != en->n || (ax && ax->n != st->n) || st->n > 4)
        *rc = rd_fail(r, CD_ERR_FORMAT, "starts, ends and axes differ in length");
    else
        *rc = x->kind == V_MAP ? slice_map(r, x, st, en, ax) : slice_const(r, x, st, en, ax);
    return 1;
}

/* Resize: TensorFlow's half-pixel bilinear ("linear", half_pixel, no
 * antialias; pytorch_half_pixel is the same for outputs over 1 pixel) or
 * nearest floor((i + 0.5) * in / out) (half_pixel + round_prefer_ceil, or
 * tf_half_pixel_for_nn + floor).  The output size from `sizes` (4-D, or H
 * and W with axes (2, 3)) or from `scales` (1, 1, sh, sw). */
int rd_resize(reader *r)
{
    val *x = rd_input(r, 0);
    if (!x || rd_want_map(r, x) != 0)
        return -1;
    char mode[24], ctm[24], nm[24];
    const char *m = rd_attr_s(r, "mode", mode, sizeof mode) ? mode : "nearest";
    const char *c = rd_attr_s(r, "coordinate_transformation_mode", ctm, sizeof ctm) ? ctm : "half_pixel";
    const char *n = rd_attr_s(r, "nearest_mode", nm, sizeof nm) ? nm : "round_prefer_floor";
    int64_t out[2] = {0, 0};
    if (has_input(r, 3)) {
        val *s = rd_const_input(r, 3, 1);
        if (!s)
            return -1;
        int64_t axes[4] = {0};
        size_t na = rd_attr_ints(r, "axes", axes, 3);
        int hw_only = na == 2 && (axes[0] == 2 || axes[0] == -2) && (axes[1] == 3 || axes[1] == -1);
        if (hw_only && s->n == 2)
            out[0] = s->i[0], out[1] = s->i[1];
        else if (na == 0 && s->n == 4 && (s->i[1] == x->c) && (s->i[0] == BATCH_DIM || s->i[0] > 0))
            out[0] = s->i[2], out[1] = s->i[3];
        else
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Resize (opset %d) is supported only over H and W",
                      r->opset);
    } else if (has_input(r, 2)) {
        val *s = rd_const_input(r, 2, 0);
        if (!s)
            return -1;
        /* bounded before the conversion to an integer (a huge float would be undefined) */
        if (rd_attr(r, "axes") || s->n != 4 || s->f[0] != 1.0f || s->f[1] != 1.0f || !(s->f[2] > 0) ||
            !(s->f[3] > 0) || !(s->f[2] < 65536.0f) || !(s->f[3] < 65536.0f))
            NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Resize (opset %d) is supported only over H and W",
                      r->opset);
        out[0] = (int64_t)((float)x->h * s->f[2]);
        out[1] = (int64_t)((float)x->w * s->f[3]);
    } else {
        NODE_FAIL(r, CD_ERR_FORMAT, "has neither sizes nor scales");
    }
    if (out[0] < 1 || out[1] < 1 || out[0] > 1 << 15 || out[1] > 1 << 15)
        NODE_FAIL(r, CD_ERR_UNSUPPORTED, "op Resize (opset %d) to %lldx%lld", r->opset,
                  (long long)out[0], (long long)out[1]);
    int interp;
    if (strcmp(m, "linear") == 0 && rd_attr_i(r, "antialias", 0) == 0 &&
        (strcmp(c, "half_pixel") == 0 ||
         (strcmp(c, "pytorch_half_pixel") == 0 && out[0] > 1 && out[1] > 1)))
        interp = INTERP_BILINEAR;
    else if (strcmp(m, "nearest") == 0 &&
             ((strcmp(c, "half_pixel") == 0 && strcmp(n, "round_prefer_ceil") == 0) ||
              (strcmp(c, "tf_half_pixel_for_nn") == 0 && strcmp(n, "floor") == 0)))
        interp = INTERP_NEAREST;
    else
        NODE_FAIL(r, CD_ERR_UNSUPPORTED,
                  "op Resize (opset %d) mode '%s' with coordinate_transformation_mode '%s'%s%s; only "
                  "TensorFlow's half-pixel bilinear and nearest are supported",
                  r->opset, m, c, strcmp(m, "nearest") == 0 ? " and nearest_mode " : "",
                  strcmp(m, "nearest") == 0 ? n : "");
    char name[LAYER_NAME_MAX];
    rd_layer_name(r, "", name);
    layer l = layer_template(LAYER_RESIZING, name, x->layer);
    l.size[0] = (int)out[0], l.size[1] = (int)out[1], l.interp = interp;
    return rd_emit(r, &l, V_MAP, x->c, l.size[0], l.size[1]) ? 0 : -1;
}
