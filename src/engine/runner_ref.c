/*
 * runner_ref.c - the plain-C reference backend (runner_ref_ops).
 *
 * Runs the model's flat layer list front to back with the operators of
 * ref_ops.h, keeping every layer's activation (max_batch x out size floats),
 * and back to front for gradients.  It is the oracle for the oneDNN backend, so
 * it favours plainness over speed.
 *
 * Semantics worth knowing:
 *   - output_logits: the output layer (Conv2D, Dense or Activation) skips a final
 *     sigmoid/softmax, and backward then takes dL/d(logits).
 *   - Dropout: identity unless training; in training an inverted-dropout mask is
 *     drawn from a splitmix64 stream seeded with opts.seed and advanced by every
 *     forward, kept for backward.
 *   - Backward: gradients of a layer read by several consumers are summed;
 *     parameter gradients are summed over the batch; frozen layers get none but
 *     pass gradients on to earlier trainable layers.  Nothing is computed for
 *     layers with no trainable parameter upstream (e.g. the input).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"
#include "engine/runner_impl.h"

typedef struct ref_state {
    int n;               /* batch of the last forward; 0 before the first */
    float **act;         /* per layer: the activation, max_batch x out size */
    float **grad;        /* training: per layer dL/d(activation), or NULL */
    float **mask;        /* training: per Dropout layer, its mask */
    float **work;        /* per layer whose op has ref_work: its scratch, else NULL */
    float **pre;         /* training: the input of an activation differentiated from its
                            input (swish, gelu, ...), else NULL: relu/sigmoid/tanh/softmax
                            need only the output, so their layers keep nothing more */
    tensor **pgrad;      /* training: n_layers x LAYER_MAX_PARAMS, NULL when frozen */
    char *needs_grad;    /* training: 1 when the layer or one upstream has trainable params */
    float *scratch;      /* training: dL/dz before a fused activation */
    uint64_t rng;        /* dropout stream */
} ref_state;

static float *alloc_floats(size_t n, cd_err *err)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        cd_err_set(err, CD_ERR_NOMEM, "out of memory allocating %zu floats for the runner", n);
    return p;
}

static void ref_destroy(runner *r)
{
    ref_state *s = r->impl;
    if (!s)
        return;
    int nl = r->model->n_layers;
    for (int i = 0; i < nl; i++) {
        if (s->act) free(s->act[i]);
        if (s->grad) free(s->grad[i]);
        if (s->mask) free(s->mask[i]);
        if (s->pre) free(s->pre[i]);
        if (s->work) free(s->work[i]);
    }
    if (s->pgrad)
        for (int i = 0; i < nl * LAYER_MAX_PARAMS; i++)
            tensor_free(s->pgrad[i]);
    free(s->act);
    free(s->grad);
    free(s->mask);
    free(s->pre);
    free(s->work);
    free(s->pgrad);
    free(s->needs_grad);
    free(s->scratch);
    free(s);
    r->impl = NULL;
}

/* The activation a layer applies, after the output_logits rule. */
static layer_act layer_effective_act(const runner *r, int idx)
{
    const layer *l = &r->model->layers[idx];
    if (!(layer_op_of(l->kind)->flags & OP_FUSED_ACT))
        return ACT_LINEAR;
    if (r->opts.output_logits && idx == model_output_index(r->model) &&
        (l->act == ACT_SIGMOID || l->act == ACT_SOFTMAX))
        return ACT_LINEAR;
    return l->act;
}

static int init_training(runner *r, ref_state *s, cd_err *err)
{
    const model *m = r->model;
    int nl = m->n_layers;
    size_t biggest = 1;
    s->grad = calloc((size_t)nl, sizeof *s->grad);
    s->mask = calloc((size_t)nl, sizeof *s->mask);
    s->pre = calloc((size_t)nl, sizeof *s->pre);
    s->pgrad = calloc((size_t)nl * LAYER_MAX_PARAMS, sizeof *s->pgrad);
    s->needs_grad = calloc((size_t)nl, 1);
    if (!s->grad || !s->mask || !s->pre || !s->pgrad || !s->needs_grad)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a training runner");
    for (int i = 0; i < nl; i++) {
        const layer *l = &m->layers[i];
        size_t size = (size_t)r->max_batch * layer_out_size(l);
        int own = l->trainable && l->n_params > 0;
        s->needs_grad[i] = (char)own;
        for (int j = 0; j < l->n_inputs; j++)
            if (s->needs_grad[l->inputs[j]])
                s->needs_grad[i] = 1;
        if (own)
            for (int p = 0; p < l->n_params; p++)
                if (l->params[p] &&
                    !(s->pgrad[i * LAYER_MAX_PARAMS + p] =
                          tensor_new(l->params[p]->rank, l->params[p]->dims, err)))
                    return -1;
        if (s->needs_grad[i] && !(s->grad[i] = alloc_floats(size, err)))
            return -1;
        if ((layer_op_of(l->kind)->flags & OP_REF_MASK) && !(s->mask[i] = alloc_floats(size, err)))
            return -1;
        if (s->needs_grad[i] && layer_act_needs_input(layer_effective_act(r, i)) &&
            !(s->pre[i] = alloc_floats(size, err)))
            return -1;
        biggest = size > biggest ? size : biggest;
    }
    s->scratch = alloc_floats(biggest, err);
    return s->scratch ? 0 : -1;
}

static int ref_init(runner *r, cd_err *err)
{
    const model *m = r->model;
    ref_state *s = calloc(1, sizeof *s);
    if (!s)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a runner");
    r->impl = s;
    s->rng = r->opts.seed;
    s->act = calloc((size_t)m->n_layers, sizeof *s->act);
    s->work = calloc((size_t)m->n_layers, sizeof *s->work);
    if (!s->act || !s->work) {
        ref_destroy(r);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a runner");
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        for (int p = 0; p < l->n_params; p++)
            if (!l->params[p]) {
                ref_destroy(r);
                return cd_err_set(err, CD_ERR_INVALID, "layer '%s': parameter %d missing",
                                  l->name, p);
            }
        if (!(s->act[i] = alloc_floats((size_t)r->max_batch * layer_out_size(l), err))) {
            ref_destroy(r);
            return -1;
        }
        const layer_op *op = layer_op_of(l->kind);
        if (op->ref_work &&
            !(s->work[i] = alloc_floats((size_t)r->max_batch * op->ref_work(m, l), err))) {
            ref_destroy(r);
            return -1;
        }
    }
    if (r->opts.training && init_training(r, s, err) != 0) {
        ref_destroy(r);
        return -1;
    }
    return 0;
}

/* The gradient buffer of input j of layer l, or NULL when nothing upstream learns. */
static float *input_grad(ref_state *s, const layer *l, int j)
{
    int src = l->inputs[j];
    return s->needs_grad[src] ? s->grad[src] : NULL;
}

/* What layer idx's op reads and writes (see op_ref_io); backward fields only
 * when `backward`. */
static op_ref_io io_of(runner *r, ref_state *s, int idx, int n, int backward)
{
    const layer *l = &r->model->layers[idx];
    op_ref_io io = {.m = r->model, .l = l, .n = n, .y = s->act[idx],
                    .training = r->opts.training, .rng = &s->rng,
                    .mask = s->mask ? s->mask[idx] : NULL, .work = s->work[idx]};
    for (int j = 0; j < l->n_inputs; j++) {
        io.x[j] = s->act[l->inputs[j]];
        if (backward)
            io.dx[j] = input_grad(s, l, j);
    }
    if (backward)
        for (int p = 0; p < LAYER_MAX_PARAMS; p++)
            io.dparam[p] = s->pgrad[idx * LAYER_MAX_PARAMS + p];
    return io;
}

static void forward_layer(runner *r, ref_state *s, int idx, int n)
{
    const layer *l = &r->model->layers[idx];
    op_ref_io io = io_of(r, s, idx, n, 0);
    layer_op_of(l->kind)->ref_forward(&io);
    size_t rows = op_ref_rows(&io);
    if (s->pre && s->pre[idx])
        memcpy(s->pre[idx], io.y, rows * (size_t)l->out_c * sizeof *io.y);
    ref_act_forward(layer_effective_act(r, idx), &l->act_p, rows, l->out_c, io.y);
}

static int ref_forward(runner *r, const float *input, int n, float *output, cd_err *err)
{
    (void)err;
    ref_state *s = r->impl;
    const model *m = r->model;
    memcpy(s->act[0], input, (size_t)n * layer_out_size(&m->layers[0]) * sizeof(float));
    int out = model_output_index(m);
    /* A slice of a larger batch (runner_set_slice): each dropout layer's
     * masks for the whole batch lie consecutively in the stream; draw ours
     * from our offset, then move past the rest. */
    int sliced = r->slice_total > 0 && r->opts.training;
    for (int i = 1; i <= out; i++) {
        const layer *l = &m->layers[i];
        size_t per = sliced && l->kind == LAYER_DROPOUT && l->rate > 0.0f ? layer_out_size(l) : 0;
        s->rng += per * (size_t)r->slice_offset * 0x9E3779B97F4A7C15ULL; /* splitmix64 skips (ref_act.c) */
        forward_layer(r, s, i, n);
        s->rng += per * (size_t)(r->slice_total - r->slice_offset - n) * 0x9E3779B97F4A7C15ULL;
    }
    memcpy(output, s->act[out], (size_t)n * layer_out_size(&m->layers[out]) * sizeof(float));
    s->n = n;
    return 0;
}

static void backward_layer(runner *r, ref_state *s, int idx)
{
    const layer *l = &r->model->layers[idx];
    op_ref_io io = io_of(r, s, idx, s->n, 1);
    /* Through the fused (or standalone) activation first. */
    io.dy = s->grad[idx];
    layer_act act = layer_effective_act(r, idx);
    if (act != ACT_LINEAR) {
        ref_act_backward(act, &l->act_p, op_ref_rows(&io), l->out_c, s->pre[idx], s->act[idx],
                         io.dy, s->scratch);
        io.dy = s->scratch;
    }
    layer_op_of(l->kind)->ref_backward(&io);
}

static int ref_backward(runner *r, const float *d_output, cd_err *err)
{
    ref_state *s = r->impl;
    const model *m = r->model;
    if (s->n == 0)
        return cd_err_set(err, CD_ERR_INVALID, "runner_backward: no forward pass to go back from");
    int n = s->n;
    for (int i = 0; i < m->n_layers; i++)
        if (s->grad[i])
            memset(s->grad[i], 0, (size_t)n * layer_out_size(&m->layers[i]) * sizeof(float));
    for (int i = 0; i < m->n_layers * LAYER_MAX_PARAMS; i++)
        if (s->pgrad[i])
            memset(s->pgrad[i]->data, 0, s->pgrad[i]->size * sizeof(float));
    int out = model_output_index(m);
    /* runner_set_grad_ready: a layer's parameter gradients are final after its
     * own backward; those of layers the pass does not reach (zeros) at the end */
    unsigned char *told = r->grad_ready ? calloc((size_t)m->n_layers, 1) : NULL;
    if (r->grad_ready && !told)
        return cd_err_set(err, CD_ERR_NOMEM, "runner_backward: out of memory");
    int rc = 0;
    if (s->needs_grad[out]) {
        memcpy(s->grad[out], d_output, (size_t)n * layer_out_size(&m->layers[out]) * sizeof(float));
        for (int i = out; rc == 0 && i >= 1; i--) {
            if (!s->needs_grad[i])
                continue;
            backward_layer(r, s, i);
            if (told && s->pgrad[i * LAYER_MAX_PARAMS]) {
                told[i] = 1;
                rc = r->grad_ready(r->grad_ready_ctx, i, err);
            }
        }
    }
    for (int i = m->n_layers - 1; told && rc == 0 && i >= 0; i--)
        if (!told[i] && s->pgrad[i * LAYER_MAX_PARAMS])
            rc = r->grad_ready(r->grad_ready_ctx, i, err);
    free(told);
    return rc;
}

static const tensor *ref_param_grad(const runner *r, int layer_index, int param)
{
    const ref_state *s = r->impl;
    if (!s->pgrad)
        return NULL;
    return s->pgrad[layer_index * LAYER_MAX_PARAMS + param];
}

static void ref_params_changed(runner *r)
{
    (void)r; /* reads the model's parameters directly: nothing to refresh */
}

static const float *ref_activation(const runner *r, int layer_index)
{
    const ref_state *s = r->impl;
    return s->act[layer_index];
}

const runner_backend_ops runner_ref_ops = {
    .init = ref_init,
    .destroy = ref_destroy,
    .forward = ref_forward,
    .backward = ref_backward,
    .param_grad = ref_param_grad,
    .params_changed = ref_params_changed,
    .activation = ref_activation,
};
