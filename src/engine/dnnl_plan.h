/*
 * dnnl_plan.h - a model compiled into oneDNN primitives for one batch size.
 *
 * The oneDNN runner (runner_dnnl.c) keeps one plan per batch size it has seen
 * (see there for the cache).  A plan holds, for every layer the output depends on:
 *
 *   - its output memory in the format its primitive chose (format_tag_any):
 *     convolution and pooling chains stay in oneDNN's blocked layouts
 *     (nChw16c on AVX-512) and are converted only at the model's edges -- the
 *     NHWC input is reordered for the first convolution, the output is reordered
 *     to NHWC/NC into the caller's buffer -- or where a layer needs a plain layout;
 *   - layers that compute nothing (Flatten, Dropout at inference, linear
 *     Activation, a nested model's InputLayer) are aliases: they share the memory
 *     of the layer they read (their "root").  Dense after Flatten reads the 4-D
 *     blocked map directly: its weights are described as {units, C, H, W} in
 *     Keras' HWIO order, so Flatten's NHWC order holds without moving data;
 *     a ZeroPadding2D read only by a VALID Conv2D/DepthwiseConv2D (pads under
 *     the kernel span) is an alias too: the convolution adds its pads to its
 *     own padding_l / padding_r (forward and backward, op_zeropad2d.c), and
 *     at inference one read only by a VALID MaxPooling2D over a non-negative
 *     map (after a ReLU) likewise goes into that pooling's padding;
 *   - weights reordered from Keras' layouts (HWIO conv kernels, [in, out] dense
 *     kernels) into the primitives' formats by the `refresh` steps, run at the
 *     first forward and after every runner_params_changed; biases are read in
 *     place from the model;
 *   - in training mode: the forward primitives run with forward_training (max
 *     pooling keeps its workspace, dropout draws a mask), every layer that leads
 *     to a trainable parameter owns a gradient buffer in its output's format, and
 *     the `bwd` steps hold eltwise/softmax/convolution/inner-product/pooling
 *     backward primitives, binary multiplies for dropout and reorders that split
 *     concatenations and sum gradients where a layer feeds several others.
 *
 * At inference (float32 and bf16), a BatchNormalization that is the only reader
 * of a Conv2D / DepthwiseConv2D is folded into that convolution's kernel and
 * bias (plan-owned copies, recomputed by every refresh; the model's parameters
 * stay as they are), and an Activation layer that is the only reader of such
 * a convolution (or of its folded BN) becomes its post-op: Keras' Conv -> BN
 * -> ReLU is one primitive.  Both folded layers are aliases of the
 * convolution's output (fold_into_convs in dnnl_plan.c).  Then a two-input
 * Add that is the only reader of such a convolution (ResNet / MobileNetV2
 * residuals) becomes the convolution's sum post-op: the convolution writes
 * into the other input's buffer (or a copy where that is read later) and the
 * Add -- with an Activation read only by it, as ResNet's ReLU -- is an alias
 * (fold_adds).
 *
 * Activations are fused as eltwise post-ops into the convolution or inner
 * product before them (relu, sigmoid, tanh); their backward uses oneDNN's
 * "use_dst_for_bwd" algorithms, so no pre-activation copy is kept.  Softmax is
 * its own primitive.  Two choices made for speed (measured, see dnnl_plan.c):
 * 3x3 stride-1 convolutions with >= 16 input channels use oneDNN's Winograd
 * kernels except at batch 1 inference, and in training a convolution's ReLU
 * followed by a max pooling is applied after the pooling (same result, a
 * quarter of the backward work).
 *
 * Unpadded max pooling on a channel-blocked or NHWC map is not oneDNN's
 * primitive but pool_max.c's loops, run as a DN_STEP_CALL step on the plan's
 * OpenMP threads (op_pool.c): forward (f32; u8/s8 in int8 chains), and where
 * the window is the stride (the CNNs' MaxPooling2D(2)) its argmax as the
 * workspace and the backward scattering the gradient to it, the ReLU moved
 * behind it fused into both; oneDNN 2.6's AVX2 kernel was ~6x slower.
 * Overlapping windows that pass a gradient back stay with oneDNN.
 */
#ifndef CATDOG_ENGINE_DNNL_PLAN_H
#define CATDOG_ENGINE_DNNL_PLAN_H

#include <dnnl.h>

#include "core/error.h"
#include "engine/dnnl_util.h"
#include "engine/model.h"
#include "engine/tensor.h"

typedef struct dn_node {
    int needed;                 /* the model output depends on this layer */
    int root;                   /* layer whose memory this layer's output is (self if own) */
    int wants;                  /* training: gradient of this output is needed */
    int contrib;                /* build time: gradient contributions added so far */
    layer_act act;              /* effective activation (output_logits applied) */
    float qs;                   /* int8 chain: > 0 when mem holds u8 values round(x * qs)
                                   (an int8 Conv2D + ReLU feeding a max pooling whose
                                   readers are int8 layers of that input scale) */
    int relu_deferred;          /* training: this conv's ReLU runs after the max pooling */
    int post_relu;              /* training: this max pooling applies the ReLU before it */
    int act_sep;                /* training: Conv2D/Dense whose activation is differentiated
                                   from its input: the primitive writes `pre`, the
                                   activation's eltwise steps write `mem` */
    int n_act;                  /* eltwise steps of the activation built by dn_build_act */
    /* inference folds (fold_into_convs): a Conv2D/DepthwiseConv2D computes the
     * BatchNormalization and/or the activation layer that are its only reader */
    int fold_bn;                /* the BatchNormalization folded into this convolution's
                                   kernel and bias (0: none; layer 0 is the input) */
    int folded;                 /* this BN / Activation is computed by its input's
                                   convolution: an alias of that output */
    int overwritten;            /* mem holds a folded reader's output, not this layer's:
                                   dn_plan_activation has none */
    const layer_act_params *act_p; /* act's parameters when taken from a fused Activation
                                      layer (borrowed from the model); NULL: the layer's */
    /* inference residual fold (fold_adds): this convolution's output is added to
     * layer sum_other's by a sum post-op, computing the Add layer sum_add (an
     * alias of the convolution's output); the convolution writes into
     * sum_other's buffer where nothing reads that afterwards, else into a copy
     * of it.  sum_act (sum_act_p): an Activation read only by that Add, applied
     * after the sum as an eltwise post-op (ACT_LINEAR: none) */
    int sum_add, sum_other;
    layer_act sum_act;
    const layer_act_params *sum_act_p;
    int alias_in;               /* folded layer: the input slot whose memory it shares */
    float *fold_w, *fold_b, *fold_s; /* fold_bn: the kernel (Keras layout) and bias with the
                                        BN applied, and its per-channel scale (plan's pool;
                                        recomputed by dn_plan_refresh) */
    dnnl_memory_t act_src[3];   /* training: the source of each of those steps */
    dnnl_memory_desc_t md;      /* output layout */
    dnnl_memory_t mem;          /* output (the root's memory for aliases) */
    dnnl_memory_t diff;         /* training: d loss / d output, layout md (root's for aliases) */

    /* what backward needs from the forward pass */
    dnnl_primitive_desc_t fwd_pd;   /* conv / ip / pooling / eltwise forward (hint for backward) */
    dnnl_primitive_desc_t sm_pd;    /* softmax forward (hint) */
    dnnl_memory_t src;          /* conv / ip: the source as the primitive read it */
    dnnl_memory_t pre;          /* output before a separate softmax */
    dnnl_memory_t plain;        /* softmax on a flattened map: its NHWC copy (2-D) */
    dnnl_memory_t ws;           /* max pooling workspace (oneDNN's, or the argmax of
                                   pool_max.c's kernels) */
    struct dn_pool_job *pool_job; /* max pooling run by pool_max.c, not oneDNN (op_pool.c;
                                     in the plan's pool), else NULL */
    dnnl_memory_t mask;         /* dropout mask, layout of the input */
    dnnl_memory_t w_user, w, wb;/* kernel: Keras layout, forward layout, backward-data layout */
    dnnl_memory_t b;            /* bias, read in place from the model */
    dnnl_memory_t bq;           /* int8: the bias in accumulator units (refreshed), else NULL */
    dnnl_memory_t pmem[LAYER_MAX_PARAMS]; /* other parameters read in place: pmem[k] wraps
                                             params[k] (re-pointed by refresh) */
    int w_param;                /* the parameter w_user wraps: 0, or SeparableConv2D's
                                   pointwise kernel 1 (b always wraps the last) */
    dnnl_memory_t aux[4];       /* a kind's own memories that are no parameter (never re-pointed) */
    dnnl_dims_t strides, pad_l, pad_r, kernel;
    dnnl_alg_kind_t conv_alg;   /* convolution: direct or Winograd */

    /* runner_activation: an NHWC copy made on request */
    dnnl_memory_t host;
    dn_steps host_steps;
} dn_node;

/* Data types of convolutions and inner products (runner_precision resolved):
 * BF16 runs every one on bf16 source and weights; INT8 runs those whose layer
 * has a calibrated input scale (layer.q_in_max > 0) on u8/s8 source and s8
 * weights with per-output-channel symmetric scales.  Both write float32, so
 * every other primitive and the plan's edges are unchanged: the float source
 * is converted (quantized) by the reorder that already brings it into the
 * primitive's layout, and the weights by the refresh reorder. */
typedef enum dn_precision { DN_PREC_F32 = 0, DN_PREC_BF16, DN_PREC_INT8 } dn_precision;

/* A Conv2D/Dense layer's data types and int8 scales for one plan. */
typedef struct dn_quant {
    dnnl_data_type_t src_dt, w_dt;   /* f32, bf16, or u8/s8 + s8 */
    int int8;
    float src_scale;                 /* int8: float input x -> round(x * src_scale) */
    const float *w_scale;            /* int8: [units], kernel column k -> round(w * w_scale[k]) */
    const float *out_scale;          /* int8: [units], 1 / (src_scale * w_scale[k]) */
    const float *b_scale;            /* int8: [units], src_scale * w_scale[k] (bias into s32 units) */
    dnnl_dim_t units;
} dn_quant;

typedef struct dn_plan_cfg {
    dnnl_engine_t eng;          /* borrowed */
    int training;
    int output_logits;
    const uint64_t *rng;        /* dropout generator state (borrowed, training only; the
                                   runner advances it after each forward, see
                                   dn_plan.mask_per_sample) */
    tensor **grads;             /* [n_layers * LAYER_MAX_PARAMS]: gradient tensors, NULL where none (borrowed) */
    dn_precision precision;     /* inference only (the runner refuses it in training) */
    int no_fold;                /* keep every layer its own step (no BN / activation / Add
                                   folded into the convolution before it; tests compare both) */
    int no_fold_add;            /* fold BN and activations but no residual Add (tests) */
    int onednn_pool;            /* every pooling by oneDNN, none by pool_max.c (tests) */
} dn_plan_cfg;

typedef struct dn_plan {
    const model *m;             /* borrowed */
    int n;                      /* batch size */
    dn_plan_cfg cfg;
    int out_index;              /* model output layer */
    dn_pool pool;
    dn_node *nodes;             /* one per layer */
    dn_steps fwd, bwd, refresh;
    /* Training: {bwd step index, layer} pairs, steps ascending: the layer's
     * parameter gradients are final once the backward steps before that index
     * have run (runner_set_grad_ready).  Every layer with a weight gradient
     * appears once; owned. */
    int (*ready)[2];
    int n_ready;
    dnnl_memory_t in;           /* owned NHWC input */
    dnnl_memory_t out_user;     /* view of the caller's output buffer (handle set per call) */
    dnnl_memory_t dout_user;    /* view of the caller's d_output (training) */
    size_t mask_per_sample;     /* dropout draws per sample of one forward */
    size_t slice[3];            /* current forward: {total samples, this plan's offset, n} */
    unsigned long wver;         /* parameter version the refreshed weights belong to */
    unsigned long last_use;     /* for the runner's cache */
} dn_plan;

/* Compiles m for batch n.  NULL with err filled (naming the layer) on failure. */
dn_plan *dn_plan_new(const model *m, int n, const dn_plan_cfg *cfg, cd_err *err);
void dn_plan_free(dn_plan *p);

/* Reorders the model's current parameters into the primitives' formats. */
int dn_plan_refresh(dn_plan *p, dnnl_stream_t s, cd_err *err);

/* Runs the forward pass on n samples: input n x H x W x C, output n x out size.
 * The samples are [offset, offset + n) of a batch of `total` split across plans
 * (total = n, offset = 0 when not split): dropout masks are drawn as for the
 * whole batch.  Waits for completion. */
int dn_plan_forward(dn_plan *p, dnnl_stream_t s, const float *input, float *output, int total,
                    int offset, cd_err *err);

/* Training: back-propagates d_output (n x out size) into the runner's gradient
 * tensors.  Waits for completion.  ready (may be NULL) is called with each
 * layer whose parameter gradients are final as soon as they are (p->ready's
 * order: the last layer first), in this thread; its -1 stops the pass. */
int dn_plan_backward(dn_plan *p, dnnl_stream_t s, const float *d_output,
                     int (*ready)(void *ctx, int layer, cd_err *err), void *ctx, cd_err *err);

/* Layer `i`'s output of the last forward as NHWC floats (owned by the plan);
 * NULL when the layer was not computed or on error. */
const float *dn_plan_activation(dn_plan *p, dnnl_stream_t s, int i);

/* Internal to dnnl_plan*.c: builds the backward steps (dnnl_plan_bwd.c). */
int dn_plan_build_backward(dn_plan *p, cd_err *err);

/* ---- internal: the building blocks the kinds' builders (op_*.c) share ----
 * Forward (dnnl_plan.c).  A builder of layer i fills p->nodes[i].md and .mem
 * (its output), appends its primitives to p->fwd and keeps in the node what
 * its backward builder needs. */

/* TF's output size and padding for one spatial dimension (pl/pr may differ). */
int dn_tf_padding(int in, int k, int s, layer_pad pad, dnnl_dim_t *pl, dnnl_dim_t *pr);
/* An activation as oneDNN eltwise steps applied in order (selu is elu then a
 * scale, hard_sigmoid a line then a clip).  Returns the number of steps (0
 * for linear and softmax), or -1 when oneDNN has no such function (softsign,
 * Keras' ReLU with a threshold: dn_act_composite builds those).  use_dst picks the use_dst_for_bwd variant,
 * which only relu, sigmoid and tanh have here (dn_act_uses_dst). */
#define DN_ACT_MAX 3
typedef struct dn_elt {
    dnnl_alg_kind_t alg;
    float alpha, beta;
} dn_elt;
int dn_act_chain(layer_act a, const layer_act_params *ap, int use_dst, dn_elt *out);
/* 1 when act's backward runs from its output (relu, sigmoid, tanh). */
int dn_act_uses_dst(layer_act a);
/* Attributes for a Conv2D/Dense: the activation nd->act as post-ops unless it
 * runs separately (softmax, nd->act_sep). */
dnnl_primitive_attr_t dn_attr_act(dn_plan *p, const dn_node *nd, const layer *l, cd_err *err);
/* The activation act's eltwise steps from src (layout md) into a new nd->mem;
 * in training each step's source is kept in nd->act_src for backward. */
int dn_build_act(dn_plan *p, dn_node *nd, const layer *l, layer_act act, dnnl_memory_t src,
                 const dnnl_memory_desc_t *md, cd_err *err);
/* The activations with no eltwise chain (softsign, Keras' ReLU with a
 * threshold) from eltwise and binary primitives (dnnl_act_composite.c):
 * forward into a new nd->mem (the source kept in nd->act_src[0]), backward
 * diff_src = f'(x) * diff_dst.  dn_build_act and dn_act_bwd call them. */
int dn_act_composite(dn_plan *p, dn_node *nd, const layer *l, layer_act act, dnnl_memory_t src,
                     const dnnl_memory_desc_t *md, cd_err *err);
int dn_act_composite_bwd(dn_plan *p, const dn_node *nd, const layer *l, layer_act act,
                         const dnnl_memory_desc_t *md, dnnl_memory_t diff_dst,
                         dnnl_memory_t diff_src, cd_err *err);
/* 1 when layer j is a ZeroPadding2D folded into the convolution or (at
 * inference, over a non-negative map) the max pooling that reads it (an alias
 * of its input; op_zeropad2d.c): pad4 = its top, bottom, left, right, which
 * that reader adds to its padding.  0 otherwise. */
int dn_zeropad_folded(const dn_plan *p, int j, int pad4[4]);
/* BatchNormalization l (op_batchnorm.c): 1 when its parameters are all there
 * for c channels (it can be folded into the convolution before it), and
 * channel j's affine y = x * s + t of the inference formula. */
int dn_bn_foldable(const layer *l, int c);
void dn_bn_affine(const layer *l, int j, float *s, float *t);
/* `src` in layout want: itself, or a new buffer filled by a forward reorder. */
dnnl_memory_t dn_as_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                           const char *lname, cd_err *err);
/* Checks that a Conv2D/Dense layer has its kernel (and bias). */
int dn_check_params(const layer *l, cd_err *err);
/* Softmax over axis 1 of src into a new output (flat: src is a flattened map). */
int dn_build_softmax(dn_plan *p, dn_node *nd, const layer *l, dnnl_memory_t src, int flat,
                     cd_err *err);
/* Conv2D/Dense once nd->fwd_pd and nd->src are set: weights (Keras layout
 * user_md, wanted w_md; quantized by q), bias of `units`, output dst_md, the
 * primitive, and a separate softmax when the layer has one. */
int dn_add_weighted_step(dn_plan *p, dn_node *nd, const layer *l,
                         const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *w_md,
                         const dnnl_memory_desc_t *dst_md, dnnl_dim_t units, const dn_quant *q,
                         cd_err *err);
/* Layer l's data types under the plan's precision, and for int8 its scales
 * (per-channel weight scales from the current kernel; arrays in the plan's
 * pool).  `units` = output channels. */
int dn_quant_for(dn_plan *p, const layer *l, dnnl_dim_t units, dn_quant *q, cd_err *err);
/* The attribute of a Conv2D/Dense primitive: the fused activation, and for
 * int8 the per-channel output scales (dst mask: dimension 1), times nd->qs
 * when the output is u8 (an int8 chain). */
dnnl_primitive_attr_t dn_weighted_attr(dn_plan *p, const dn_node *nd, const layer *l, const dn_quant *q,
                                       cd_err *err);
/* dn_as_layout for a primitive's source: converts to want's data type too,
 * multiplying by q->src_scale when int8 -- unless src already holds u8 of an
 * int8 chain (same scale by construction), which only changes layout. */
dnnl_memory_t dn_src_as(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                        const dn_quant *q, const char *lname, cd_err *err);

/* Backward (dnnl_plan_bwd.c).  Layer i's gradient is p->nodes[i].diff; a
 * builder adds its input's gradient to root r = p->nodes[l->inputs[j]].root
 * through dn_grad_target + dn_grad_done (a scratch target, dropped, when
 * p->nodes[r].wants is 0), or dn_grad_add for a view. */
dnnl_memory_t dn_grad_target(dn_plan *p, int r, const dnnl_memory_desc_t *md, int *direct,
                             cd_err *err);
int dn_grad_done(dn_plan *p, int r, dnnl_memory_t m, int direct, const char *lname, cd_err *err);
int dn_grad_add(dn_plan *p, int r, dnnl_memory_t m, const char *lname, cd_err *err);
/* The backward-data step of a layer whose input's root is r: the primitive
 * of op_desc (hint = the forward's primitive descriptor; `what` names it in
 * errors) reads `diff`, brought to the layout it wants, as DIFF_DST and
 * writes DIFF_SRC into r's gradient (dn_grad_target .. dn_grad_done), with
 * n_extra more (arg, memory) pairs as varargs; a pair whose memory is NULL is
 * left out.  0 / -1. */
int dn_bwd_data_step(dn_plan *p, int r, const_dnnl_op_desc_t op_desc,
                     const_dnnl_primitive_desc_t hint, const char *what, dnnl_memory_t diff,
                     const char *lname, cd_err *err, int n_extra, ...);
/* The same with the primitive descriptor pd already made (it stays the caller's). */
int dn_bwd_data_step_pd(dn_plan *p, int r, const_dnnl_primitive_desc_t pd, dnnl_memory_t diff,
                        const char *lname, cd_err *err, int n_extra, ...);
/* `src` in layout want, reordered by a backward step when needed. */
dnnl_memory_t dn_bwd_layout(dn_plan *p, dnnl_memory_t src, const dnnl_memory_desc_t *want,
                            const char *lname, cd_err *err);
/* diff_src = f'(dst) * diff_dst on layout md (hint: the forward eltwise, or NULL). */
int dn_eltwise_bwd(dn_plan *p, const layer *l, layer_act act, const dnnl_memory_desc_t *md,
                   const_dnnl_primitive_desc_t hint, dnnl_memory_t diff_dst, dnnl_memory_t dst,
                   dnnl_memory_t diff_src, cd_err *err);
int dn_softmax_bwd(dn_plan *p, const layer *l, const dn_node *nd,
                   const dnnl_memory_desc_t *diff_src_md, dnnl_memory_t diff_src, cd_err *err);
/* Backward of what dn_build_act built: diff_src = d act(x) / dx * diff_dst,
 * layout md (diff_src may be diff_dst). */
int dn_act_bwd(dn_plan *p, const dn_node *nd, const layer *l, layer_act act,
               const dnnl_memory_desc_t *md, dnnl_memory_t diff_dst, dnnl_memory_t diff_src,
               cd_err *err);
/* The gradient before a Conv2D/Dense layer's own activation. */
dnnl_memory_t dn_pre_activation_grad(dn_plan *p, int i, cd_err *err);
/* Weights (+bias) gradients from pd_w, the data gradient from pd_d (either NULL). */
int dn_weighted_bwd(dn_plan *p, int i, dnnl_memory_t dpre, const_dnnl_primitive_desc_t pd_w,
                    const_dnnl_primitive_desc_t pd_d, const dnnl_memory_desc_t *user_md,
                    cd_err *err);
/* 1 when layer i's parameters get a gradient. */
int dn_needs_weight_grad(const dn_plan *p, int i);

#endif
