/*
 * op_concat.c - Concatenate along the channel (last) axis of inputs with equal
 * H and W (maps) or of vectors: shape, the reference forward/backward (kernels
 * in ref_concat.c), and oneDNN's concat primitive (maps) or per-input reorders
 * into column ranges (vectors).
 */
#include <limits.h>

#include "engine/dnnl_plan.h"
#include "engine/op.h"

static int concat_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    const layer *a = op_in(m, l, 0);
    long long c = 0;
    for (int i = 0; i < l->n_inputs; i++) {
        const layer *b = op_in(m, l, i);
        if (b->out_rank != a->out_rank || b->out_h != a->out_h || b->out_w != a->out_w)
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': inputs '%s' (%dx%d) and '%s' (%dx%d) differ in size",
                              l->name, a->name, a->out_h, a->out_w, b->name, b->out_h,
                              b->out_w);
        c += b->out_c;
    }
    if (c > INT_MAX)
        return cd_err_set(err, CD_ERR_LIMIT, "layer '%s': %lld channels is too many", l->name, c);
    op_set_out(l, a->out_h, a->out_w, (int)c, a->out_rank);
    return op_no_params(l, err);
}

static void concat_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    int offset = 0;
    for (int j = 0; j < l->n_inputs; j++) {
        int c = op_in(io->m, l, j)->out_c;
        ref_concat_forward(op_ref_rows(io), c, l->out_c, offset, io->x[j], io->y);
        offset += c;
    }
}

static void concat_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    int offset = 0;
    for (int j = 0; j < l->n_inputs; j++) {
        int c = op_in(io->m, l, j)->out_c;
        if (io->dx[j])
            ref_concat_backward(op_ref_rows(io), c, l->out_c, offset, io->dy, io->dx[j]);
        offset += c;
    }
}

/* 1 when every input's channel range of a concatenation output in layout md can
 * be described as a sub-memory (blocked layouts need block-aligned offsets). */
static int concat_splittable(const dn_plan *p, const layer *l, const dnnl_memory_desc_t *md)
{
    dnnl_dim_t off = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const dnnl_memory_desc_t *im = &p->nodes[l->inputs[k]].md;
        dnnl_memory_desc_t sub;
        dnnl_dims_t offs = {0, off, 0, 0};
        if (dnnl_memory_desc_init_submemory(&sub, md, im->dims, offs) != dnnl_success)
            return 0;
        off += im->dims[1];
    }
    return 1;
}

static int concat_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t srcs[LAYER_MAX_INPUTS];
    int rc = -1, k;
    dnnl_dim_t total = 0;

    if (l->out_rank == 4) {
        /* maps: channel concatenation with oneDNN's concat primitive */
        for (k = 0; k < l->n_inputs; k++) {
            const dn_node *in = &p->nodes[l->inputs[k]];
            if (in->md.ndims != 4 || p->m->layers[l->inputs[k]].out_rank != 4)
                return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': input %d is not a 4-D map",
                                  l->name, k);
            srcs[k] = in->md;
            total += in->md.dims[1];
        }
        if (total != l->out_c)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': channels do not add up", l->name);
        attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
        if (!attr)
            goto fail;
        DN_CHECK(dnnl_concat_primitive_desc_create(&pd, NULL, l->n_inputs, 1, srcs, attr,
                                                   p->cfg.eng),
                 err, "concat", l->name);
        nd->md = dn_pd_md(pd, dnnl_query_dst_md, 0);
        /* an int8 chain (dnnl_plan.c): u8 inputs of one scale, u8 output */
        if (nd->md.data_type == dnnl_u8)
            nd->qs = p->nodes[l->inputs[0]].qs;
        if (p->cfg.training && !concat_splittable(p, l, &nd->md)) {
            /* backward splits the gradient by channel ranges: use NHWC */
            dnnl_memory_desc_t dmd;
            dnnl_dims_t dd = {p->n, total, srcs[0].dims[2], srcs[0].dims[3]};
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
            if (dn_md(&dmd, 4, dd, dnnl_nhwc, l->name, err))
                goto fail;
            DN_CHECK(dnnl_concat_primitive_desc_create(&pd, &dmd, l->n_inputs, 1, srcs, attr,
                                                       p->cfg.eng),
                     err, "concat", l->name);
            nd->md = dmd;
        }
        nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
        if (!nd->mem)
            goto fail;
        dn_step *st = dn_steps_prim(&p->fwd, &p->pool, pd, l->name, err, 1, DNNL_ARG_DST, nd->mem);
        if (!st)
            goto fail;
        for (k = 0; k < l->n_inputs; k++)
            if (dn_step_arg(st, DNNL_ARG_MULTIPLE_SRC + k, p->nodes[l->inputs[k]].mem, err))
                goto fail;
        rc = 0;
        goto fail;
    }
    /* vectors (flattened maps, pooled or dense features): each input is reordered
     * into its column range of one NC buffer, in NHWC order */
    for (k = 0; k < l->n_inputs; k++)
        total += (dnnl_dim_t)(dn_md_elems(&p->nodes[l->inputs[k]].md) / (size_t)p->n);
    if (total != l->out_c)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': features do not add up", l->name);
    dnnl_dims_t dd = {p->n, total};
    if (dn_md(&nd->md, 2, dd, dnnl_nc, l->name, err))
        return -1;
    nd->mem = dn_mem(&p->pool, p->cfg.eng, &nd->md, NULL, err);
    if (!nd->mem)
        return -1;
    dnnl_dim_t off = 0;
    for (k = 0; k < l->n_inputs; k++) {
        const dn_node *in = &p->nodes[l->inputs[k]];
        dnnl_memory_desc_t view;
        if (dn_md_plain_view(&view, &in->md, total, off, l->name, err))
            return -1;
        dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, dn_mem_ptr(nd->mem), err);
        if (!vm || dn_steps_reorder(&p->fwd, &p->pool, p->cfg.eng, in->mem, vm, 0, l->name, err))
            return -1;
        off += (dnnl_dim_t)(dn_md_elems(&in->md) / (size_t)p->n);
    }
    return 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int concat_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    void *base = dn_mem_ptr(nd->diff);
    dnnl_dim_t off = 0;
    dnnl_dim_t total = nd->md.ndims == 2 ? nd->md.dims[1] : 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const dn_node *in = &p->nodes[l->inputs[k]];
        dnnl_memory_desc_t view;
        dnnl_dim_t width = l->out_rank == 4 ? in->md.dims[1]
                                            : (dnnl_dim_t)(dn_md_elems(&in->md) / (size_t)p->n);
        if (p->nodes[in->root].wants) {
            if (l->out_rank == 4) {
                dnnl_dims_t offs = {0, off, 0, 0};
                DN_CHECK(dnnl_memory_desc_init_submemory(&view, &nd->md, in->md.dims, offs), err,
                         "sub-memory", l->name);
            } else if (dn_md_plain_view(&view, &in->md, total, off, l->name, err)) {
                return -1;
            }
            dnnl_memory_t vm = dn_mem(&p->pool, p->cfg.eng, &view, base, err);
            if (!vm || dn_grad_add(p, in->root, vm, l->name, err))
                return -1;
        }
        off += width;
    }
    return 0;
fail:
    return -1;
}

const layer_op op_concat = {
    .keras_class = "Concatenate",
    .flags = OP_MULTI_INPUT,
    .infer = concat_infer,
    .ref_forward = concat_ref_forward,
    .ref_backward = concat_ref_backward,
    .dn_forward = concat_dn_forward,
    .dn_backward = concat_dn_backward,
};
