/*
 * op_merge.c - Keras' element-wise merge layers over inputs of one shape:
 * Add, Subtract (exactly two: first minus second), Multiply, Average, Maximum.
 *
 * oneDNN: Add, Subtract and Average are one "sum" primitive with scales
 * (1, -1 or 1/n); Multiply and Maximum a chain of binary primitives, run in
 * place on the output.  Backward: the reference has all five; oneDNN has
 * Add, Subtract and Average (the gradient, scaled, goes to every input), and
 * a training plan through Multiply or Maximum is refused naming the layer.
 * At inference a two-input Add after a convolution is usually no step of its
 * own: the convolution's sum post-op computes it (dnnl_plan.c, fold_adds).
 *
 * Multiply also broadcasts, as squeeze-and-excitation needs: a (N, H, W, C)
 * map times a per-sample channel vector -- (N, C), or (N, 1, 1, C) as Keras'
 * GlobalAveragePooling2D(keepdims=True) or Reshape((1, 1, C)) make it -- in
 * either order, exactly two inputs.  Keras 2 expands a lower-rank input at
 * axis 1 and broadcasts, which is this.  Reference forward and backward
 * (the vector's gradient sums over H and W); oneDNN forward is one binary
 * multiply with the vector viewed as (N, C, 1, 1), backward two binary
 * multiplies and a sum reduction.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

/* For a broadcasting Multiply (see the top): the index (0 or 1) of the input
 * that is the channel vector; -1 when the inputs are to have one shape. */
static int bcast_vec(const model *m, const layer *l)
{
    if (l->kind != LAYER_MULTIPLY || l->n_inputs != 2)
        return -1;
    for (int j = 0; j < 2; j++) {
        const layer *v = op_in(m, l, j), *x = op_in(m, l, 1 - j);
        if (v->out_h == 1 && v->out_w == 1 && v->out_c == x->out_c && x->out_rank == 4 &&
            (x->out_h > 1 || x->out_w > 1 || v->out_rank < 4))
            return j;
    }
    return -1;
}

static int merge_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *a = op_in(m, l, 0);
    int v = bcast_vec(m, l);
    if (v >= 0) {
        const layer *x = op_in(m, l, 1 - v);
        op_set_out(l, x->out_h, x->out_w, x->out_c, 4);
        return op_no_params(l, err);
    }
    if (l->n_inputs < 2 || (l->kind == LAYER_SUBTRACT && l->n_inputs != 2))
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': %s takes %s inputs, not %d", l->name,
                          layer_kind_name(l->kind),
                          l->kind == LAYER_SUBTRACT ? "exactly two" : "two or more", l->n_inputs);
    for (int j = 1; j < l->n_inputs; j++) {
        const layer *b = op_in(m, l, j);
        if (b->out_rank != a->out_rank || b->out_h != a->out_h || b->out_w != a->out_w ||
            b->out_c != a->out_c)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "layer '%s': inputs '%s' (%dx%dx%d) and '%s' (%dx%dx%d) differ in "
                              "shape (broadcasting is not supported)",
                              l->name, a->name, a->out_h, a->out_w, a->out_c, b->name, b->out_h,
                              b->out_w, b->out_c);
    }
    op_set_out(l, a->out_h, a->out_w, a->out_c, a->out_rank);
    return op_no_params(l, err);
}

/* The scale of input j in a sum-like merge. */
static float merge_scale(const layer *l, int j)
{
    if (l->kind == LAYER_SUBTRACT)
        return j == 0 ? 1.0f : -1.0f;
    if (l->kind == LAYER_AVERAGE)
        return 1.0f / (float)l->n_inputs;
    return 1.0f;
}

static void sum_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t size = op_ref_rows(io) * (size_t)l->out_c;
    for (size_t i = 0; i < size; i++) {
        float s = 0.0f;
        for (int j = 0; j < l->n_inputs; j++)
            s += merge_scale(l, j) * io->x[j][i];
        io->y[i] = s;
    }
}

static void sum_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    size_t size = op_ref_rows(io) * (size_t)l->out_c;
    for (int j = 0; j < l->n_inputs; j++) {
        float s = merge_scale(l, j);
        for (size_t i = 0; io->dx[j] && i < size; i++)
            io->dx[j][i] += s * io->dy[i];
    }
}

/* y[n, p, c] = x[n, p, c] * v[n, c] over the p = H * W positions. */
static void multiply_bcast_forward(const op_ref_io *io, int v)
{
    const float *x = io->x[1 - v], *s = io->x[v];
    size_t hw = (size_t)io->l->out_h * (size_t)io->l->out_w, c = (size_t)io->l->out_c;
    for (size_t n = 0; n < (size_t)io->n; n++)
        for (size_t p = 0; p < hw; p++)
            for (size_t k = 0; k < c; k++) {
                size_t i = (n * hw + p) * c + k;
                io->y[i] = x[i] * s[n * c + k];
            }
}

static void multiply_bcast_backward(const op_ref_io *io, int v)
{
    const float *x = io->x[1 - v], *s = io->x[v];
    float *dx = io->dx[1 - v], *ds = io->dx[v];
    size_t hw = (size_t)io->l->out_h * (size_t)io->l->out_w, c = (size_t)io->l->out_c;
    for (size_t n = 0; n < (size_t)io->n; n++)
        for (size_t p = 0; p < hw; p++)
            for (size_t k = 0; k < c; k++) {
                size_t i = (n * hw + p) * c + k;
                if (dx)
                    dx[i] += io->dy[i] * s[n * c + k];
                if (ds)
                    ds[n * c + k] += io->dy[i] * x[i];
            }
}

static void multiply_ref_forward(const op_ref_io *io)
{
    int v = bcast_vec(io->m, io->l);
    if (v >= 0) {
        multiply_bcast_forward(io, v);
        return;
    }
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    for (size_t i = 0; i < size; i++) {
        float p = io->x[0][i];
        for (int j = 1; j < io->l->n_inputs; j++)
            p *= io->x[j][i];
        io->y[i] = p;
    }
}

static void multiply_ref_backward(const op_ref_io *io)
{
    int v = bcast_vec(io->m, io->l);
    if (v >= 0) {
        multiply_bcast_backward(io, v);
        return;
    }
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    for (int j = 0; j < io->l->n_inputs; j++) {
        for (size_t i = 0; io->dx[j] && i < size; i++) {
            float p = io->dy[i];
            for (int k = 0; k < io->l->n_inputs; k++)
                if (k != j)
                    p *= io->x[k][i];
            io->dx[j][i] += p;
        }
    }
}

static void maximum_ref_forward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    for (size_t i = 0; i < size; i++) {
        float mx = io->x[0][i];
        for (int j = 1; j < io->l->n_inputs; j++)
            if (io->x[j][i] > mx)
                mx = io->x[j][i];
        io->y[i] = mx;
    }
}

/* The gradient goes to the first input holding the maximum. */
static void maximum_ref_backward(const op_ref_io *io)
{
    size_t size = op_ref_rows(io) * (size_t)io->l->out_c;
    for (size_t i = 0; i < size; i++) {
        int arg = 0;
        for (int j = 1; j < io->l->n_inputs; j++)
            if (io->x[j][i] > io->x[arg][i])
                arg = j;
        if (io->dx[arg])
            io->dx[arg][i] += io->dy[i];
    }
}

/* The inputs' memory descriptors, which must all describe one tensor. */
static int merge_srcs(dn_plan *p, const layer *l, dnnl_memory_desc_t *srcs, cd_err *err)
{
    for (int j = 0; j < l->n_inputs; j++) {
        srcs[j] = p->nodes[l->inputs[j]].md;
        if (srcs[j].ndims != srcs[0].ndims)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "layer '%s': merging a flattened map with a vector is not "
                              "supported by oneDNN",
                              l->name);
    }
    return 0;
}

static int sum_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_memory_desc_t srcs[LAYER_MAX_INPUTS];
    float scales[LAYER_MAX_INPUTS];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int rc = -1;
    if (merge_srcs(p, l, srcs, err))
        return -1;
    for (int j = 0; j < l->n_inputs; j++)
        scales[j] = merge_scale(l, j);
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    DN_CHECK(dnnl_sum_primitive_desc_create(&pd, NULL, l->n_inputs, scales, srcs, attr,
                                            p->cfg.eng),
             err, "sum", l->name);
    nd->md = dn_pd_md(pd, dnnl_query_dst_md, 0);
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        goto fail;
    dn_step *st = dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 1, DNNL_ARG_DST, nd->mem);
    if (!st)
        goto fail;
    for (int j = 0; j < l->n_inputs; j++)
        if (dn_step_arg(st, DNNL_ARG_MULTIPLE_SRC + j, p->nodes[l->inputs[j]].mem, err))
            goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Map times channel vector: the vector, brought to its plain layout (NC, or
 * NHWC with H = W = 1: the same memory), is viewed as (N, C, 1, 1) nhwc and
 * broadcast by oneDNN's binary multiply over the map in the map's layout. */
static int bcast_dn_forward(dn_plan *p, int i, int v, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *xn = &p->nodes[l->inputs[1 - v]], *vn = &p->nodes[l->inputs[v]];
    dnnl_memory_desc_t plain, v4;
    dnnl_dims_t d4 = {p->n, l->out_c, 1, 1};
    if (xn->md.ndims != 4 || dn_md_elems(&vn->md) != (size_t)p->n * (size_t)l->out_c)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Multiply wants a map and a channel vector",
                          l->name);
    if (dn_md_plain_view(&plain, &vn->md, 0, 0, l->name, err) ||
        dn_md(&v4, 4, d4, dnnl_nhwc, l->name, err))
        return -1;
    dnnl_memory_t src = dn_as_layout(p, vn->mem, &plain, l->name, err);
    dnnl_memory_t s4 = src ? dn_mem(&p->pool, p->cfg.eng, &v4, dn_mem_ptr(src), err) : NULL;
    if (!s4)
        return -1;
    nd->md = xn->md;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem || dn_steps_binary(&p->fwd, &p->pool, p->cfg.eng, dnnl_binary_mul, xn->mem, s4,
                                    nd->mem, l->name, err))
        return -1;
    nd->src = s4; /* the vector as the backward reads it */
    return 0;
}

/* Backward of map x times vector v: dx = dy * v (broadcast, in the map's
 * layout); dv = the sum over H and W of dy * x, by a reduction into a
 * (N, C, 1, 1) nhwc buffer that is also v's plain layout. */
static int bcast_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    int v = bcast_vec(p->m, l);
    const dn_node *xn = &p->nodes[l->inputs[1 - v]], *vn = &p->nodes[l->inputs[v]];
    int rx = xn->root, rv = vn->root;
    if (p->nodes[rx].wants) {
        int direct;
        dnnl_memory_t g = dn_grad_target(p, rx, &nd->md, &direct, err);
        if (!g || dn_steps_binary(&p->bwd, &p->pool, p->cfg.eng, dnnl_binary_mul, nd->diff,
                                 nd->src, g, l->name, err) ||
            dn_grad_done(p, rx, g, direct, l->name, err))
            return -1;
    }
    if (!p->nodes[rv].wants)
        return 0;
    dnnl_memory_desc_t v4 = dn_mem_md(nd->src), plain;
    dnnl_reduction_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    dnnl_memory_t prod = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    dnnl_memory_t sum = prod ? dn_mem(&p->pool, p->cfg.eng, &v4, NULL, err) : NULL;
    if (!sum || dn_steps_binary(&p->bwd, &p->pool, p->cfg.eng, dnnl_binary_mul, nd->diff,
                                    xn->mem, prod, l->name, err) ||
        dn_md_plain_view(&plain, &vn->md, 0, 0, l->name, err))
        return -1;
    DN_CHECK(dnnl_reduction_desc_init(&d, dnnl_reduction_sum, &nd->md, &v4, 0.0f, 0.0f), err,
             "reduction descriptor", l->name);
    if (!(pd = dn_pd(p->cfg.eng, &d, NULL, "reduction", l->name, err)))
        goto fail;
    if (!dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 2, DNNL_ARG_SRC, prod, DNNL_ARG_DST,
                       sum))
        goto fail;
    dnnl_memory_t view = dn_mem(&p->pool, p->cfg.eng, &plain, dn_mem_ptr(sum), err);
    if (!view || dn_grad_add(p, rv, view, l->name, err))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Multiply's oneDNN backward: only the broadcasting form (a map times a
 * channel vector); equal-shape products are refused naming the layer. */
static int multiply_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    if (bcast_vec(p->m, l) < 0)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "layer '%s': training through Multiply of equal shapes is not supported "
                          "by oneDNN (use --backend ref)",
                          l->name);
    return bcast_dn_backward(p, i, err);
}

/* y = x0 op x1, then y = y op xj in place; every input in x0's layout. */
static int binary_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_memory_desc_t srcs[LAYER_MAX_INPUTS];
    dnnl_alg_kind_t alg = l->kind == LAYER_MULTIPLY ? dnnl_binary_mul : dnnl_binary_max;
    int v = bcast_vec(p->m, l);
    if (v >= 0)
        return bcast_dn_forward(p, i, v, err);
    if (merge_srcs(p, l, srcs, err))
        return -1;
    nd->md = srcs[0];
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        return -1;
    for (int j = 1; j < l->n_inputs; j++) {
        dnnl_memory_t b = dn_as_layout(p, p->nodes[l->inputs[j]].mem, &nd->md, l->name, err);
        if (!b || dn_steps_binary(&p->fwd, &p->pool, p->cfg.eng, alg,
                                  j == 1 ? p->nodes[l->inputs[0]].mem : nd->mem, b, nd->mem,
                                  l->name, err))
            return -1;
    }
    return 0;
}

/* Each input's root gets scale * dy (a scaled copy first when scale != 1). */
static int sum_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    for (int j = 0; j < l->n_inputs; j++) {
        int r = p->nodes[l->inputs[j]].root;
        if (!p->nodes[r].wants)
            continue;
        float s = merge_scale(l, j);
        dnnl_memory_t g = nd->diff;
        if (s != 1.0f) {
            dnnl_eltwise_desc_t d;
            dnnl_primitive_desc_t pd = NULL;
            dnnl_primitive_attr_t attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
            if (!attr)
                return -1;
            int ok = dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference,
                                                    dnnl_eltwise_linear, &nd->md, s, 0.0f) ==
                         dnnl_success &&
                     dnnl_primitive_desc_create(&pd, &d, attr, p->cfg.eng, NULL) == dnnl_success;
            dnnl_primitive_attr_destroy(attr);
            if (!ok)
                return cd_err_set(err, CD_ERR_BACKEND, "layer '%s': oneDNN eltwise failed",
                                  l->name);
            g = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
            dn_step *st = g ? dn_steps_prim(&p->bwd, &p->pool, pd, l->name, err, 2, DNNL_ARG_SRC,
                                            nd->diff, DNNL_ARG_DST, g)
                            : NULL;
            dnnl_primitive_desc_destroy(pd);
            if (!st)
                return -1;
        }
        if (dn_grad_add(p, r, g, l->name, err))
            return -1;
    }
    return 0;
}

#define SUM_MERGE(OP, CLASS)                                                                      \
    const layer_op OP = {                                                                         \
        .keras_class = CLASS,                                                                     \
        .flags = OP_MULTI_INPUT,                                                                  \
        .infer = merge_infer,                                                                     \
        .ref_forward = sum_ref_forward,                                                           \
        .ref_backward = sum_ref_backward,                                                         \
        .dn_forward = sum_dn_forward,                                                             \
        .dn_backward = sum_dn_backward,                                                           \
    };
SUM_MERGE(op_add, "Add")
SUM_MERGE(op_subtract, "Subtract")
SUM_MERGE(op_average, "Average")

const layer_op op_multiply = {
    .keras_class = "Multiply",
    .flags = OP_MULTI_INPUT,
    .infer = merge_infer,
    .ref_forward = multiply_ref_forward,
    .ref_backward = multiply_ref_backward,
    .dn_forward = binary_dn_forward,
    .dn_backward = multiply_dn_backward,
};

const layer_op op_maximum = {
    .keras_class = "Maximum",
    .flags = OP_MULTI_INPUT,
    .infer = merge_infer,
    .ref_forward = maximum_ref_forward,
    .ref_backward = maximum_ref_backward,
    .dn_forward = binary_dn_forward,
};
