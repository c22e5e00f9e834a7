/*
 * op_flatten.c - Flatten: a map becomes a (N, H*W*C) vector in NHWC order, as
 * Keras' channels_last.
 *
 * The reference copies.  oneDNN shares the input's memory (an alias: the 4-D
 * map, in whatever blocked layout the convolution before chose) when every
 * layer that reads the vector is a Dense layer, directly or through other
 * aliases (Dropout at inference, a linear Activation): Dense reads the 4-D map
 * with its weights described in that order (dnnl_plan.h), so nothing moves.
 * Any other reader (BatchNormalization, PReLU, Normalization, a merge...)
 * would take the 4-D layout's channels for the vector's, so then Flatten
 * writes a real (N, H*W*C) copy in NHWC order, and its backward reorders the
 * gradient back into the map's layout.
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int flatten_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    op_set_out(l, 1, 1, (int)layer_out_size(op_in(m, l, 0)), 2);
    return op_no_params(l, err);
}

/* 1 when every reader of layer i, looking through aliases, is a Dense layer. */
static int read_by_dense_only(const model *m, int i, int training, int depth)
{
    if (depth > 16)
        return 0;
    for (int j = i + 1; j < m->n_layers; j++) {
        const layer *r = &m->layers[j];
        for (int k = 0; k < r->n_inputs; k++) {
            if (r->inputs[k] != i)
                continue;
            if (r->kind == LAYER_DENSE && r->n_inputs == 1)
                continue;
            const layer_op *op = layer_op_of(r->kind);
            if (r->kind == LAYER_FLATTEN || !op->dn_alias || !op->dn_alias(m, j, training, r->act) ||
                !read_by_dense_only(m, j, training, depth + 1))
                return 0;
        }
    }
    return 1;
}

static int flatten_alias(const model *m, int i, int training, layer_act act)
{
    (void)act;
    return read_by_dense_only(m, i, training, 0);
}

/* The map copied to NHWC and viewed as the (N, H*W*C) rows it stands for (the
 * data type, and an int8 chain's scale, carry over). */
static int flatten_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_memory_desc_t v4, v2;
    dnnl_dims_t d2 = {p->n, (dnnl_dim_t)l->out_c};
    if (dn_md_plain_view(&v4, &in->md, 0, 0, l->name, err) || dn_md(&v2, 2, d2, dnnl_nc, l->name, err))
        return -1;
    v2.data_type = v4.data_type;
    dnnl_memory_t m4 = dn_mem(&p->pool, p->cfg.eng, &v4, NULL, err);
    if (!m4 || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, in->mem, m4, 0, l->name, err))
        return -1;
    nd->md = v2;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &v2, dn_mem_ptr(m4), err);
    nd->qs = in->qs;
    return nd->mem ? 0 : -1;
}

/* The vector's gradient, viewed as the NHWC map, reordered into the input's. */
static int flatten_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    int r = in->root;
    if (!p->nodes[r].wants)
        return 0;
    dnnl_memory_desc_t v4;
    if (dn_md_plain_view(&v4, &in->md, 0, 0, l->name, err))
        return -1;
    v4.data_type = dnnl_f32;
    dnnl_memory_t g4 = dn_mem(&p->pool, p->cfg.eng, &v4, dn_mem_ptr(nd->diff), err);
    return g4 ? dn_grad_add(p, r, g4, l->name, err) : -1;
}

const layer_op op_flatten = {
    .keras_class = "Flatten",
    .infer = flatten_infer,
    .ref_forward = op_ref_copy_forward,
    .ref_backward = op_ref_copy_backward,
    .dn_alias = flatten_alias,
    .dn_forward = flatten_dn_forward,
    .dn_backward = flatten_dn_backward,
};
