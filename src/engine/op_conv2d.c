/*
 * op_conv2d.c - Conv2D: shape, parameters (HWIO kernel, bias), the reference
 * forward/backward (kernels in ref_conv.c) and the oneDNN forward/backward.
 *
 * Shape (TF): padding 'valid': out = floor((in - k) / s) + 1 (in >= k);
 * 'same': out = ceil(in / s), the odd padding pixel on the end.  With dilation
 * d the kernel covers k' = (k - 1) * d + 1 pixels and k' replaces k above.
 *
 * Groups (Keras' Conv2D `groups`, ONNX's `group`; depthwise = in_c groups):
 * the kernel is (kh, kw, in_c / groups, filters) and output channel o sees
 * only the input channels of its group o / (filters / groups).  That HWIO
 * buffer is oneDNN's (g, O/g, I/g, kh, kw) weights in the `hwigo` order, so
 * both backends read the same memory.
 *
 * oneDNN inference: a BatchNormalization reading only this layer is folded
 * into the kernel and bias, and an Activation layer after it becomes the
 * primitive's post-op, as `activation=` is (dnnl_plan.c, fold_into_convs).
 */
#include "engine/dnnl_plan.h"
#include "engine/op.h"

/* The pixels a dilated kernel spans along dimension d. */
static int span(const layer *l, int d)
{
    return (l->kernel[d] - 1) * layer_dilation(l, d) + 1;
}

static int conv2d_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    int g = layer_groups(l);
    if (l->filters <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': filters must be positive", l->name);
    if (l->groups < 0 || l->dilation[0] < 0 || l->dilation[1] < 0 || l->dilation[0] > 1024 ||
        l->dilation[1] > 1024 || l->kernel[0] < 1 || l->kernel[1] < 1 || l->kernel[0] > 4096 ||
        l->kernel[1] > 4096)
        return cd_err_set(err, CD_ERR_INVALID,
                          "layer '%s': bad kernel %dx%d, groups %d or dilation %dx%d", l->name,
                          l->kernel[0], l->kernel[1], l->groups, l->dilation[0], l->dilation[1]);
    if (in->out_c % g || l->filters % g)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': %d groups do not divide the %d input channels and %d "
                          "filters",
                          l->name, g, in->out_c, l->filters);
    if (op_infer_window(m, l, span(l, 0), span(l, 1), l->filters, "kernel", err) != 0)
        return -1;
    int k[4] = {l->kernel[0], l->kernel[1], in->out_c / g, l->filters};
    return op_params_ensure(l, 4, k, l->filters, params_left, err);
}

/* DepthwiseConv2D: a Conv2D with groups = C and C * multiplier filters, whose
 * kernel keeps Keras' (kh, kw, C, multiplier) shape (the same memory). */
static int depthwise_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    const layer *in = op_in(m, l, 0);
    int mult = l->depth_multiplier > 1 ? l->depth_multiplier : 1;
    if (in->out_rank != 4 || in->out_c < 1 || mult > 4096)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': DepthwiseConv2D needs a 4-D input and a depth_multiplier "
                          "up to 4096",
                          l->name);
    l->groups = in->out_c;
    l->filters = in->out_c * mult;
    if (l->dilation[0] < 0 || l->dilation[1] < 0 || l->dilation[0] > 1024 ||
        l->dilation[1] > 1024 || l->kernel[0] < 1 || l->kernel[1] < 1 || l->kernel[0] > 4096 ||
        l->kernel[1] > 4096)
        return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad kernel %dx%d or dilation %dx%d",
                          l->name, l->kernel[0], l->kernel[1], l->dilation[0], l->dilation[1]);
    if (op_infer_window(m, l, span(l, 0), span(l, 1), l->filters, "kernel", err) != 0)
        return -1;
    int k[4] = {l->kernel[0], l->kernel[1], in->out_c, mult};
    return op_params_ensure(l, 4, k, l->filters, params_left, err);
}

static const char *depthwise_param_name(const layer *l, int k)
{
    (void)l;
    return k == 0 ? "depthwise_kernel" : "bias";
}

static void depthwise_defaults(layer *l)
{
    l->depth_multiplier = 1;
}

/* The reference window with this layer's groups and dilation. */
static ref_win conv_window(const op_ref_io *io)
{
    const layer *l = io->l;
    ref_win w = op_ref_window(io, l->kernel[0], l->kernel[1]);
    w.g = layer_groups(l);
    w.dh = layer_dilation(l, 0);
    w.dw = layer_dilation(l, 1);
    ref_win_pads(&w, l->padding);
    return w;
}

static void conv2d_ref_forward(const op_ref_io *io)
{
    const layer *l = io->l;
    const float *bias = l->use_bias && l->n_params > 1 ? l->params[1]->data : NULL;
    ref_win w = conv_window(io);
    ref_conv2d_forward(&w, io->x[0], l->params[0]->data, bias, io->y);
}

static void conv2d_ref_backward(const op_ref_io *io)
{
    const layer *l = io->l;
    tensor *dk = io->dparam[0], *db = io->dparam[1];
    ref_win w = conv_window(io);
    if (dk)
        ref_conv2d_backward_weights(&w, io->x[0], io->dy, dk->data, db ? db->data : NULL);
    if (io->dx[0])
        ref_conv2d_backward_data(&w, io->dy, l->params[0]->data, io->dx[0]);
}

/* oneDNN's weight descriptors for l over ic input channels: `any` (w) and the
 * user's HWIO buffer (user), 4-D or, with groups, 5-D (g, O/g, I/g, kh, kw). */
static int weight_mds(const layer *l, dnnl_dim_t ic, dnnl_memory_desc_t *w,
                      dnnl_memory_desc_t *user, cd_err *err)
{
    dnnl_dim_t g = layer_groups(l), oc = l->filters, kh = l->kernel[0], kw = l->kernel[1];
    if (g == 1) {
        dnnl_dims_t wd = {oc, ic, kh, kw};
        return dn_md(w, 4, wd, dnnl_format_tag_any, l->name, err) ||
               dn_md(user, 4, wd, dnnl_hwio, l->name, err);
    }
    dnnl_dims_t wd = {g, oc / g, ic / g, kh, kw};
    return dn_md(w, 5, wd, dnnl_format_tag_any, l->name, err) ||
           dn_md(user, 5, wd, dnnl_hwigo, l->name, err);
}

/* oneDNN counts dilation from 0 (0 = adjacent taps). */
static void dilates(const layer *l, dnnl_dims_t out)
{
    out[0] = layer_dilation(l, 0) - 1;
    out[1] = layer_dilation(l, 1) - 1;
}

static int conv2d_dn_forward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    const dn_node *in = &p->nodes[l->inputs[0]];
    dnnl_convolution_desc_t d;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md, user_md;
    dn_quant q;
    int rc = -1;

    if (dn_check_params(l, err))
        return -1;
    if (in->md.ndims != 4 || p->m->layers[l->inputs[0]].out_rank != 4)
        return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': Conv2D needs a 4-D input", l->name);
    dnnl_dim_t n = p->n, ic = in->md.dims[1], ih = in->md.dims[2], iw = in->md.dims[3];
    dnnl_dim_t oc = l->filters, kh = l->kernel[0], kw = l->kernel[1];
    dnnl_dims_t dil;
    dilates(l, dil);
    /* a ZeroPadding2D folded into this convolution: in is its (unpadded)
     * input; its pads join the convolution's own */
    int fold[4] = {0, 0, 0, 0};
    dn_zeropad_folded(p, l->inputs[0], fold);
    int oh = dn_tf_padding((int)ih + fold[0] + fold[1], span(l, 0), l->strides[0], l->padding,
                           &nd->pad_l[0], &nd->pad_r[0]);
    int ow = dn_tf_padding((int)iw + fold[2] + fold[3], span(l, 1), l->strides[1], l->padding,
                           &nd->pad_l[1], &nd->pad_r[1]);
    if (oh <= 0 || ow <= 0 || oh != l->out_h || ow != l->out_w || oc != l->out_c)
        return cd_err_set(err, CD_ERR_SHAPE,
                          "layer '%s': output %dx%dx%d does not follow from input %ldx%ldx%ld",
                          l->name, l->out_h, l->out_w, l->out_c, (long)ih, (long)iw, (long)ic);
    nd->pad_l[0] += fold[0];
    nd->pad_r[0] += fold[1];
    nd->pad_l[1] += fold[2];
    nd->pad_r[1] += fold[3];
    nd->strides[0] = l->strides[0];
    nd->strides[1] = l->strides[1];
    nd->kernel[0] = kh;
    nd->kernel[1] = kw;
    dnnl_dims_t sd = {n, ic, ih, iw}, dd = {n, oc, oh, ow};
    if (dn_md(&src_md, 4, sd, dnnl_format_tag_any, l->name, err) ||
        weight_mds(l, ic, &w_md, &user_md, err) ||
        dn_md(&b_md, 1, &oc, dnnl_a, l->name, err) ||
        dn_md(&dst_md, 4, dd, dnnl_format_tag_any, l->name, err) ||
        dn_quant_for(p, l, oc, &q, err))
        return -1;
    src_md.data_type = q.src_dt;
    w_md.data_type = q.w_dt;
    if (q.int8 && nd->qs > 0.0f)
        dst_md.data_type = dnnl_u8; /* an int8 chain (dnnl_plan.c, mark_int8_chains) */
    else
        nd->qs = 0.0f;
    attr = dn_weighted_attr(p, nd, l, &q, err);
    if (!attr)
        goto fail;
    /* Winograd F(4x4, 3x3) does a 3x3 stride-1 convolution with far fewer
     * multiplications and oneDNN has it for forward and both backward passes;
     * it pays once there are enough input channels (not for the 3-channel first
     * layer) and more than one image (measured on the binary CNN at 150x150, one
     * core: batch 32 inference 2.0 ms/image against 2.8 direct, training 6.6
     * against 8.0-10.8; at batch 1 the direct brgemm kernel wins, 2.2 ms against
     * 2.5).  Where oneDNN has no Winograd kernel for the shape, direct
     * (always for grouped or dilated convolutions, which it has none for).  bf16
     * and int8 stay direct: their Winograd kernels (where oneDNN has them)
     * lose the precision these modes are calibrated for. */
    nd->conv_alg = dnnl_convolution_direct;
    if (q.src_dt == dnnl_f32 && kh == 3 && kw == 3 && nd->strides[0] == 1 && nd->strides[1] == 1 && ic >= 16 &&
        layer_groups(l) == 1 && dil[0] == 0 && dil[1] == 0 && (p->cfg.training || p->n > 1))
        nd->conv_alg = dnnl_convolution_winograd;
    for (;;) {
        DN_CHECK(dnnl_dilated_convolution_forward_desc_init(
                     &d, p->cfg.training ? dnnl_forward_training : dnnl_forward_inference,
                     nd->conv_alg, &src_md, &w_md, l->use_bias || nd->fold_bn ? &b_md : NULL, &dst_md,
                     nd->strides, dil, nd->pad_l, nd->pad_r),
                 err, "convolution descriptor", l->name);
        dnnl_status_t st = dnnl_primitive_desc_create(&nd->fwd_pd, &d, attr, p->cfg.eng, NULL);
        if (st == dnnl_success)
            break;
        if (nd->conv_alg == dnnl_convolution_direct) {
            dn_fail(err, st, "convolution", l->name);
            goto fail;
        }
        nd->conv_alg = dnnl_convolution_direct;
    }

    src_md = dn_pd_md(nd->fwd_pd, dnnl_query_src_md, 0);
    w_md = dn_pd_md(nd->fwd_pd, dnnl_query_weights_md, 0);
    dst_md = dn_pd_md(nd->fwd_pd, dnnl_query_dst_md, 0);
    nd->src = dn_src_as(p, in->mem, &src_md, &q, l->name, err);
    if (!nd->src)
        goto fail;
    if (dn_add_weighted_step(p, nd, l, &user_md, &w_md, &dst_md, oc, &q, err))
        goto fail;
    rc = 0;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int conv2d_dn_backward(dn_plan *p, int i, cd_err *err)
{
    const layer *l = &p->m->layers[i];
    dn_node *nd = &p->nodes[i];
    dnnl_convolution_desc_t d;
    dnnl_primitive_desc_t pd_w = NULL, pd_d = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md, user_md;
    int rc = -1;
    int r = p->nodes[l->inputs[0]].root;

    dnnl_memory_t dpre = dn_pre_activation_grad(p, i, err);
    if (!dpre)
        return -1;
    dnnl_memory_desc_t s_have = dn_mem_md(nd->src), d_have = dn_mem_md(dpre);
    dnnl_dim_t oc = l->filters;
    dnnl_dims_t dil;
    dilates(l, dil);
    if (dn_md(&src_md, 4, s_have.dims, dnnl_format_tag_any, l->name, err) ||
        dn_md(&dst_md, 4, d_have.dims, dnnl_format_tag_any, l->name, err) ||
        weight_mds(l, s_have.dims[1], &w_md, &user_md, err) ||
        dn_md(&b_md, 1, &oc, dnnl_a, l->name, err))
        return -1;
    attr = dn_attr((dnnl_alg_kind_t)0, l->name, err);
    if (!attr)
        goto fail;
    /* the forward's algorithm (Winograd or direct); direct where oneDNN has no
     * Winograd kernel for this backward pass */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 ? !dn_needs_weight_grad(p, i) : !p->nodes[r].wants)
            continue;
        dnnl_primitive_desc_t *pd = pass == 0 ? &pd_w : &pd_d;
        dnnl_alg_kind_t alg = nd->conv_alg;
        for (;;) {
            if (pass == 0)
                DN_CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
                             &d, alg, &src_md, &w_md, l->use_bias ? &b_md : NULL, &dst_md,
                             nd->strides, dil, nd->pad_l, nd->pad_r),
                         err, "convolution backward weights descriptor", l->name);
            else
                DN_CHECK(dnnl_dilated_convolution_backward_data_desc_init(
                             &d, alg, &src_md, &w_md, &dst_md, nd->strides, dil, nd->pad_l,
                             nd->pad_r),
                         err, "convolution backward data descriptor", l->name);
            dnnl_status_t st = dnnl_primitive_desc_create(pd, &d, attr, p->cfg.eng, nd->fwd_pd);
            if (st == dnnl_success)
                break;
            if (alg == dnnl_convolution_direct) {
                dn_fail(err, st, pass == 0 ? "convolution backward weights"
                                           : "convolution backward data", l->name);
                goto fail;
            }
            alg = dnnl_convolution_direct;
        }
    }
    rc = dn_weighted_bwd(p, i, dpre, pd_w, pd_d, &user_md, err);
fail:
    if (pd_w)
        dnnl_primitive_desc_destroy(pd_w);
    if (pd_d)
        dnnl_primitive_desc_destroy(pd_d);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

const layer_op op_conv2d = {
    .keras_class = "Conv2D",
    .flags = OP_FUSED_ACT | OP_GLOROT,
    .infer = conv2d_infer,
    .ref_forward = conv2d_ref_forward,
    .ref_backward = conv2d_ref_backward,
    .dn_forward = conv2d_dn_forward,
    .dn_backward = conv2d_dn_backward,
};

const layer_op op_depthwise_conv2d = {
    .keras_class = "DepthwiseConv2D",
    .flags = OP_FUSED_ACT | OP_GLOROT,
    .infer = depthwise_infer,
    .ref_forward = conv2d_ref_forward,
    .ref_backward = conv2d_ref_backward,
    .dn_forward = conv2d_dn_forward,
    .dn_backward = conv2d_dn_backward,
    .param_name = depthwise_param_name,
    .defaults = depthwise_defaults,
};
