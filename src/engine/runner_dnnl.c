/*
 * runner_dnnl.c - the oneDNN backend of runner.h (RUNNER_DNNL).
 *
 * Each runner owns a oneDNN CPU engine and stream, its thread setting (see
 * dnnl_util.h: OpenMP, applied per call, so runners in different threads may
 * use different counts), the gradient tensors in Keras layouts (training), and
 * compiled plans (dnnl_plan.h).
 *
 * Batch sizes: oneDNN convolutions are compiled for a fixed batch, so a plan is
 * built per batch size n and cached.  The plan for max_batch is built by
 * runner_new (so a model oneDNN cannot run fails there); a smaller n -- the
 * last partial batch of an epoch, a single image in a server sized for more --
 * gets its own plan on first use rather than running max_batch samples of
 * padding.  At most RUNNER_DNNL_PLANS plans are kept, least recently used
 * evicted first.  Each plan holds its own copy of the weights in its
 * primitives' formats; runner_params_changed bumps a version and each plan
 * refreshes its copy before its next forward.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/dnnl_util.h"
#include "engine/runner_impl.h"

#define RUNNER_DNNL_PLANS 4

typedef struct dnnl_impl {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dn_threads thr;
    tensor **grads;                     /* [2 * n_layers], NULL where no gradient */
    dn_plan *plans[RUNNER_DNNL_PLANS];
    dn_plan *last;                      /* plan of the last forward (backward uses it) */
    unsigned long wver;                 /* bumped by params_changed */
    unsigned long clock;                /* LRU clock */
    uint64_t rng;                       /* dropout masks */
} dnnl_impl;

static void impl_free(const model *m, dnnl_impl *im)
{
    if (!im)
        return;
    for (int k = 0; k < RUNNER_DNNL_PLANS; k++)
        dn_plan_free(im->plans[k]);
    if (im->grads) {
        for (int i = 0; i < 2 * m->n_layers; i++)
            tensor_free(im->grads[i]);
        free(im->grads);
    }
    if (im->stream)
        dnnl_stream_destroy(im->stream);
    if (im->eng)
        dnnl_engine_destroy(im->eng);
    free(im);
}

static dn_plan *plan_for(runner *r, dnnl_impl *im, int n, cd_err *err)
{
    int free_slot = -1, lru = 0;
    for (int k = 0; k < RUNNER_DNNL_PLANS; k++) {
        dn_plan *p = im->plans[k];
        if (p && p->n == n) {
            p->last_use = ++im->clock;
            return p;
        }
        if (!p && free_slot < 0)
            free_slot = k;
        if (p && im->plans[lru] && p->last_use < im->plans[lru]->last_use)
            lru = k;
    }
    dn_plan_cfg cfg = {
        .eng = im->eng,
        .training = r->opts.training,
        .output_logits = r->opts.output_logits,
        .rng = &im->rng,
        .grads = im->grads,
    };
    dn_plan *p = dn_plan_new(r->model, n, &cfg, err);
    if (!p)
        return NULL;
    int slot = free_slot >= 0 ? free_slot : lru;
    if (im->plans[slot]) {
        if (im->last == im->plans[slot])
            im->last = NULL;
        dn_plan_free(im->plans[slot]);
    }
    im->plans[slot] = p;
    p->last_use = ++im->clock;
    return p;
}

static int rd_init(runner *r, cd_err *err)
{
    const model *m = r->model;
    dnnl_impl *im = calloc(1, sizeof *im);
    if (!im)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    if (dn_threads_init(&im->thr, r->opts.threads, err)) {
        free(im);
        return -1;
    }
    im->rng = r->opts.seed; /* the same stream as the reference backend */
    dn_threads_enter(&im->thr);
    int rc = -1;
    DN_CHECK(dnnl_engine_create(&im->eng, dnnl_cpu, 0), err, "CPU engine", NULL);
    DN_CHECK(dnnl_stream_create(&im->stream, im->eng, dnnl_stream_default_flags), err, "stream",
             NULL);
    if (r->opts.training) {
        im->grads = calloc((size_t)m->n_layers * 2, sizeof *im->grads);
        if (!im->grads) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < m->n_layers; i++) {
            const layer *l = &m->layers[i];
            if (!l->trainable)
                continue;
            for (int k = 0; k < l->n_params && k < 2; k++) {
                if (!l->params[k])
                    continue;
                im->grads[2 * i + k] = tensor_new(l->params[k]->rank, l->params[k]->dims, err);
                if (!im->grads[2 * i + k])
                    goto fail;
            }
        }
    }
    r->impl = im;
    if (!plan_for(r, im, r->max_batch, err)) {
        r->impl = NULL;
        goto fail;
    }
    rc = 0;
fail:
    dn_threads_leave(&im->thr);
    if (rc)
        impl_free(m, im);
    return rc;
}

static void rd_destroy(runner *r)
{
    impl_free(r->model, r->impl);
    r->impl = NULL;
}

static int rd_forward(runner *r, const float *input, int n, float *output, cd_err *err)
{
    dnnl_impl *im = r->impl;
    if (n < 1 || n > r->max_batch)
        return cd_err_set(err, CD_ERR_INVALID, "batch of %d samples; this runner takes 1..%d", n,
                          r->max_batch);
    dn_threads_enter(&im->thr);
    int rc = -1;
    dn_plan *p = plan_for(r, im, n, err);
    if (!p)
        goto out;
    if (p->wver != im->wver) {
        if (dn_plan_refresh(p, im->stream, err))
            goto out;
        p->wver = im->wver;
    }
    im->last = NULL;
    if (dn_plan_forward(p, im->stream, input, output, err))
        goto out;
    im->last = p;
    rc = 0;
out:
    dn_threads_leave(&im->thr);
    return rc;
}

static int rd_backward(runner *r, const float *d_output, cd_err *err)
{
    dnnl_impl *im = r->impl;
    if (!r->opts.training)
        return cd_err_set(err, CD_ERR_INVALID, "backward needs a runner made with training = 1");
    if (!im->last)
        return cd_err_set(err, CD_ERR_INVALID, "backward needs a successful forward first");
    dn_threads_enter(&im->thr);
    int rc = dn_plan_backward(im->last, im->stream, d_output, err);
    dn_threads_leave(&im->thr);
    return rc;
}

static const tensor *rd_param_grad(const runner *r, int layer_index, int param)
{
    const dnnl_impl *im = r->impl;
    if (!im->grads || layer_index < 0 || layer_index >= r->model->n_layers || param < 0 ||
        param > 1)
        return NULL;
    return im->grads[2 * layer_index + param];
}

static void rd_params_changed(runner *r)
{
    dnnl_impl *im = r->impl;
    im->wver++;
}

static const float *rd_activation(const runner *r, int layer_index)
{
    dnnl_impl *im = r->impl;
    if (!im->last)
        return NULL;
    dn_threads_enter(&im->thr);
    const float *a = dn_plan_activation(im->last, im->stream, layer_index);
    dn_threads_leave(&im->thr);
    return a;
}

const runner_backend_ops runner_dnnl_ops = {
    .init = rd_init,
    .destroy = rd_destroy,
    .forward = rd_forward,
    .backward = rd_backward,
    .param_grad = rd_param_grad,
    .params_changed = rd_params_changed,
    .activation = rd_activation,
};
