/*
 * runner_dnnl.c - the oneDNN backend of runner.h (RUNNER_DNNL).
 *
 * Each runner owns a oneDNN CPU engine, its thread setting (see dnnl_util.h:
 * OpenMP, applied per call, so runners in different threads may use different
 * counts), the gradient tensors in Keras layouts (training), and compiled plans
 * (dnnl_plan.h).
 *
 * Batch sizes: oneDNN convolutions are compiled for a fixed batch, so a plan is
 * built per batch size and cached (at most RUNNER_DNNL_PLANS per cache, least
 * recently used evicted first).  A smaller n -- the last partial batch of an
 * epoch, a single image in a server sized for more -- gets its own plan on
 * first use rather than running max_batch samples of padding.  Each plan holds
 * its own copy of the weights in its primitives' formats; runner_params_changed
 * bumps a version and each plan refreshes its copy before its next forward.
 *
 * Threads: with T threads and a batch of at least T samples, the batch is split
 * into T slices run side by side, each by one single-threaded plan (T - 1
 * worker threads the runner starts on first use, plus the caller's thread), and
 * the slices' weight gradients are summed.  Compared with T OpenMP threads
 * inside every primitive this has no barrier per primitive: on a machine shared
 * with other work a descheduled thread stalls only its own slice, not every one
 * of the ~30 primitives of a training step (measured on 2 loaded cores: two
 * OpenMP threads were slower than one).  Smaller batches (batch-1 latency) use
 * one plan with T OpenMP threads.  Dropout masks are drawn per slice from the
 * position the whole batch would have reached in the generator, so results do
 * not depend on the split.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/dnnl_util.h"
#include "engine/runner_impl.h"

#define RUNNER_DNNL_PLANS 4

typedef struct dn_cache {
    dn_plan *plans[RUNNER_DNNL_PLANS];
    unsigned long clock;
} dn_cache;

typedef struct dnnl_impl dnnl_impl;

/* One slice of a split batch: its plans, stream, gradients and current job. */
typedef struct dn_part {
    dnnl_impl *im;
    int index;
    dn_cache cache;
    dnnl_stream_t stream;
    dn_threads thr;             /* one OpenMP thread */
    tensor **grads;             /* part 0: the runner's; others: their own */
    dn_plan *last;
    /* job */
    int n, off;
    int rc;
    cd_err err;
    pthread_t th;
    int has_thread;
    unsigned long seen;         /* last job sequence number this part's thread took */
} dn_part;

struct dnnl_impl {
    runner *r;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dn_threads thr;
    tensor **grads;             /* [LAYER_MAX_PARAMS * n_layers], NULL where no gradient */
    dn_cache cache;             /* unsplit plans, T OpenMP threads */
    dn_plan *last;              /* plan of the last unsplit forward */
    int last_split;             /* the last forward was split across parts */
    int last_n;
    unsigned long wver;         /* bumped by params_changed */
    uint64_t rng;               /* dropout masks */

    dn_part *parts;             /* n_parts slices (NULL when threads < 2) */
    int n_parts;
    float **gathered;           /* runner_activation of a split forward, per layer */

    /* job hand-off to the worker threads */
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    int sync_ok;
    unsigned long job_seq;
    int job_kind;               /* JOB_FORWARD, JOB_BACKWARD, JOB_QUIT */
    int pending;
    const float *job_in;
    float *job_out;
    const float *job_dout;
    int job_total;
};

enum { JOB_FORWARD = 1, JOB_BACKWARD, JOB_QUIT };

/* ---- plan caches ---------------------------------------------------------- */

static void cache_clear(dn_cache *c)
{
    for (int k = 0; k < RUNNER_DNNL_PLANS; k++) {
        dn_plan_free(c->plans[k]);
        c->plans[k] = NULL;
    }
}

/* The cached plan for batch n, built when missing; *evicted is set to the plan
 * freed to make room (a dangling pointer the caller must forget), if any. */
static dn_plan *cache_get(dn_cache *c, const runner *r, const dn_plan_cfg *cfg, int n,
                          const dn_plan **evicted, cd_err *err)
{
    int free_slot = -1, lru = -1;
    *evicted = NULL;
    for (int k = 0; k < RUNNER_DNNL_PLANS; k++) {
        dn_plan *p = c->plans[k];
        if (p && p->n == n) {
            p->last_use = ++c->clock;
            return p;
        }
        if (!p && free_slot < 0)
            free_slot = k;
        if (p && (lru < 0 || p->last_use < c->plans[lru]->last_use))
            lru = k;
    }
    dn_plan *p = dn_plan_new(r->model, n, cfg, err);
    if (!p) {
        /* oneDNN has int8 kernels for every x86-64 ISA, but bf16 ones only
         * from AVX-512 on: say what to do rather than "unimplemented" */
        if (cfg->precision != DN_PREC_F32)
            cd_err_wrap(err, "precision %s (this CPU or oneDNN build may lack its kernels; "
                             "--precision f32 runs float32)",
                        cfg->precision == DN_PREC_BF16 ? "bf16" : "int8");
        return NULL;
    }
    int slot = free_slot >= 0 ? free_slot : lru;
    if (c->plans[slot]) {
        *evicted = c->plans[slot];
        dn_plan_free(c->plans[slot]);
    }
    c->plans[slot] = p;
    p->last_use = ++c->clock;
    return p;
}

static dn_plan_cfg plan_cfg(dnnl_impl *im, tensor **grads)
{
    dn_plan_cfg cfg = {
        .eng = im->eng,
        .training = im->r->opts.training,
        .output_logits = im->r->opts.output_logits,
        .no_fold = im->r->opts.keep_activations,
        .rng = &im->rng,
        .grads = grads,
        .precision = im->r->opts.precision == RUNNER_PREC_BF16   ? DN_PREC_BF16
                     : im->r->opts.precision == RUNNER_PREC_INT8 ? DN_PREC_INT8
                                                                 : DN_PREC_F32,
    };
    return cfg;
}

/* ---- gradients ------------------------------------------------------------ */

static void grads_free(const model *m, tensor **g)
{
    if (!g)
        return;
    for (int i = 0; i < LAYER_MAX_PARAMS * m->n_layers; i++)
        tensor_free(g[i]);
    free(g);
}

static tensor **grads_new(const model *m, cd_err *err)
{
    tensor **g = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *g);
    if (!g) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!l->trainable)
            continue;
        for (int k = 0; k < l->n_params && k < LAYER_MAX_PARAMS; k++) {
            if (!l->params[k])
                continue;
            g[LAYER_MAX_PARAMS * i + k] = tensor_new(l->params[k]->rank, l->params[k]->dims, err);
            if (!g[LAYER_MAX_PARAMS * i + k]) {
                grads_free(m, g);
                return NULL;
            }
        }
    }
    return g;
}

/* ---- split batches -------------------------------------------------------- */

static void part_slice(const dnnl_impl *im, int total, int j, int *n, int *off)
{
    int base = total / im->n_parts, extra = total % im->n_parts;
    *n = base + (j < extra);
    *off = j * base + (j < extra ? j : extra);
}

static size_t in_size(const model *m)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    return (size_t)h * (size_t)w * (size_t)c;
}

/* Runs the current job's slice for part pt (in whichever thread calls it). */
static void part_run(dn_part *pt)
{
    dnnl_impl *im = pt->im;
    const model *m = im->r->model;
    pt->rc = 0;
    if (im->job_kind == JOB_FORWARD) {
        part_slice(im, im->job_total, pt->index, &pt->n, &pt->off);
        dn_plan_cfg cfg = plan_cfg(im, pt->grads);
        const dn_plan *gone;
        dn_plan *p = cache_get(&pt->cache, im->r, &cfg, pt->n, &gone, &pt->err);
        if (gone && gone == pt->last)
            pt->last = NULL;
        if (!p) {
            pt->rc = -1;
            return;
        }
        pt->last = NULL;
        if (p->wver != im->wver) {
            if (dn_plan_refresh(p, pt->stream, &pt->err)) {
                pt->rc = -1;
                return;
            }
            p->wver = im->wver;
        }
        size_t isz = in_size(m), osz = model_output_size(m);
        /* The masks of samples offset.. of the whole batch (runner_set_slice). */
        int sliced = im->r->slice_total > 0;
        if (dn_plan_forward(p, pt->stream, im->job_in + (size_t)pt->off * isz,
                            im->job_out + (size_t)pt->off * osz, sliced ? im->r->slice_total : im->job_total,
                            (sliced ? im->r->slice_offset : 0) + pt->off, &pt->err)) {
            pt->rc = -1;
            return;
        }
        pt->last = p;
    } else if (im->job_kind == JOB_BACKWARD) {
        if (!pt->last) {
            pt->rc = cd_err_set(&pt->err, CD_ERR_INVALID, "backward needs a successful forward");
            return;
        }
        pt->rc = dn_plan_backward(pt->last, pt->stream,
                                  im->job_dout + (size_t)pt->off * model_output_size(m), NULL, NULL, &pt->err);
    }
}

static void *part_thread(void *arg)
{
    dn_part *pt = arg;
    dnnl_impl *im = pt->im;
    dn_threads_enter(&pt->thr); /* this thread only ever runs single-threaded plans */
    pthread_mutex_lock(&im->mu);
    for (;;) {
        while (im->job_seq == pt->seen)
            pthread_cond_wait(&im->cv_job, &im->mu);
        pt->seen = im->job_seq;
        if (im->job_kind == JOB_QUIT)
            break;
        pthread_mutex_unlock(&im->mu);
        part_run(pt);
        pthread_mutex_lock(&im->mu);
        if (--im->pending == 0)
            pthread_cond_signal(&im->cv_done);
    }
    pthread_mutex_unlock(&im->mu);
    return NULL;
}

static int parts_start_threads(dnnl_impl *im, cd_err *err)
{
    for (int j = 1; j < im->n_parts; j++) {
        dn_part *pt = &im->parts[j];
        if (pt->has_thread)
            continue;
        pt->seen = im->job_seq; /* jobs from the next one on are this thread's */
        if (pthread_create(&pt->th, NULL, part_thread, pt) != 0)
            return cd_err_set(err, CD_ERR_BACKEND, "cannot start an engine worker thread");
        pt->has_thread = 1;
    }
    return 0;
}

/* Runs job `kind` on every part: parts 1.. in their threads, part 0 here. */
static int parts_dispatch(dnnl_impl *im, int kind, cd_err *err)
{
    if (parts_start_threads(im, err))
        return -1;
    pthread_mutex_lock(&im->mu);
    im->job_kind = kind;
    im->pending = im->n_parts - 1;
    im->job_seq++;
    pthread_cond_broadcast(&im->cv_job);
    pthread_mutex_unlock(&im->mu);

    dn_threads_enter(&im->parts[0].thr);
    part_run(&im->parts[0]);
    dn_threads_leave(&im->parts[0].thr);

    pthread_mutex_lock(&im->mu);
    while (im->pending > 0)
        pthread_cond_wait(&im->cv_done, &im->mu);
    pthread_mutex_unlock(&im->mu);
    for (int j = 0; j < im->n_parts; j++)
        if (im->parts[j].rc) {
            if (err)
                *err = im->parts[j].err;
            return -1;
        }
    return 0;
}

static void parts_free(dnnl_impl *im)
{
    if (!im->parts)
        return;
    int any = 0;
    for (int j = 1; j < im->n_parts; j++)
        any |= im->parts[j].has_thread;
    if (any) {
        pthread_mutex_lock(&im->mu);
        im->job_kind = JOB_QUIT;
        im->job_seq++;
        pthread_cond_broadcast(&im->cv_job);
        pthread_mutex_unlock(&im->mu);
        for (int j = 1; j < im->n_parts; j++)
            if (im->parts[j].has_thread)
                pthread_join(im->parts[j].th, NULL);
    }
    for (int j = 0; j < im->n_parts; j++) {
        dn_part *pt = &im->parts[j];
        cache_clear(&pt->cache);
        if (j > 0)
            grads_free(im->r->model, pt->grads);
        if (pt->stream)
            dnnl_stream_destroy(pt->stream);
    }
    free(im->parts);
    im->parts = NULL;
}

static int parts_new(dnnl_impl *im, int n_parts, cd_err *err)
{
    im->parts = calloc((size_t)n_parts, sizeof *im->parts);
    if (!im->parts)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    im->n_parts = n_parts;
    for (int j = 0; j < n_parts; j++) {
        dn_part *pt = &im->parts[j];
        pt->im = im;
        pt->index = j;
        if (dn_threads_init(&pt->thr, 1, err))
            return -1;
        DN_CHECK(dnnl_stream_create(&pt->stream, im->eng, dnnl_stream_default_flags), err,
                 "stream", NULL);
        if (j == 0)
            pt->grads = im->grads;
        else if (im->r->opts.training && !(pt->grads = grads_new(im->r->model, err)))
            return -1;
    }
    return 0;
fail:
    return -1;
}

/* The runner's gradients: part 0 wrote them; add the other slices'. */
static void parts_sum_grads(dnnl_impl *im)
{
    const model *m = im->r->model;
    for (int i = 0; i < LAYER_MAX_PARAMS * m->n_layers; i++) {
        tensor *g = im->grads[i];
        if (!g)
            continue;
        for (int j = 1; j < im->n_parts; j++) {
            const tensor *h = im->parts[j].grads[i];
            for (size_t k = 0; k < g->size; k++)
                g->data[k] += h->data[k];
        }
    }
}

/* ---- the backend ---------------------------------------------------------- */

static void impl_free(dnnl_impl *im)
{
    if (!im)
        return;
    const model *m = im->r->model;
    parts_free(im);
    cache_clear(&im->cache);
    grads_free(m, im->grads);
    if (im->gathered) {
        for (int i = 0; i < m->n_layers; i++)
            free(im->gathered[i]);
        free(im->gathered);
    }
    if (im->sync_ok) {
        pthread_mutex_destroy(&im->mu);
        pthread_cond_destroy(&im->cv_job);
        pthread_cond_destroy(&im->cv_done);
    }
    if (im->stream)
        dnnl_stream_destroy(im->stream);
    if (im->eng)
        dnnl_engine_destroy(im->eng);
    free(im);
}

/* Whether a batch of n is split across parts. */
static int use_parts(const dnnl_impl *im, int n)
{
    return im->n_parts >= 2 && n >= im->n_parts;
}

static dn_plan *unsplit_plan(dnnl_impl *im, int n, cd_err *err)
{
    dn_plan_cfg cfg = plan_cfg(im, im->grads);
    const dn_plan *gone;
    dn_plan *p = cache_get(&im->cache, im->r, &cfg, n, &gone, err);
    if (gone && gone == im->last)
        im->last = NULL;
    return p;
}

static int rd_init(runner *r, cd_err *err)
{
    dnnl_impl *im = calloc(1, sizeof *im);
    if (!im)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    im->r = r;
    if (dn_threads_init(&im->thr, r->opts.threads, err)) {
        free(im);
        return -1;
    }
    im->rng = r->opts.seed; /* the same stream as the reference backend */
    dn_threads_enter(&im->thr);
    int rc = -1;
    if (pthread_mutex_init(&im->mu, NULL) != 0)
        goto sync_fail;
    if (pthread_cond_init(&im->cv_job, NULL) != 0) {
        pthread_mutex_destroy(&im->mu);
        goto sync_fail;
    }
    if (pthread_cond_init(&im->cv_done, NULL) != 0) {
        pthread_cond_destroy(&im->cv_job);
        pthread_mutex_destroy(&im->mu);
        goto sync_fail;
    }
    im->sync_ok = 1;
    DN_CHECK(dnnl_engine_create(&im->eng, dnnl_cpu, 0), err, "CPU engine", NULL);
    DN_CHECK(dnnl_stream_create(&im->stream, im->eng, dnnl_stream_default_flags), err, "stream",
             NULL);
    if (r->opts.training && !(im->grads = grads_new(r->model, err)))
        goto fail;
    if (im->thr.want >= 2 && parts_new(im, im->thr.want, err))
        goto fail;
    /* Build the plan the full batch will use now, so a model oneDNN cannot run
     * fails here and not at the first forward. */
    if (use_parts(im, r->max_batch)) {
        int n, off;
        part_slice(im, r->max_batch, 0, &n, &off);
        dn_plan_cfg cfg = plan_cfg(im, im->parts[0].grads);
        const dn_plan *gone;
        dn_threads_enter(&im->parts[0].thr);
        dn_plan *p = cache_get(&im->parts[0].cache, r, &cfg, n, &gone, err);
        dn_threads_leave(&im->parts[0].thr);
        if (!p)
            goto fail;
    } else if (!unsplit_plan(im, r->max_batch, err)) {
        goto fail;
    }
    r->impl = im;
    rc = 0;
fail:
    dn_threads_leave(&im->thr);
    if (rc)
        impl_free(im);
    return rc;
sync_fail:
    dn_threads_leave(&im->thr);
    free(im);
    return cd_err_set(err, CD_ERR_BACKEND, "cannot create thread synchronisation objects");
}

static void rd_destroy(runner *r)
{
    impl_free(r->impl);
    r->impl = NULL;
}

static int rd_forward(runner *r, const float *input, int n, float *output, cd_err *err)
{
    dnnl_impl *im = r->impl;
    if (n < 1 || n > r->max_batch)
        return cd_err_set(err, CD_ERR_INVALID, "batch of %d samples; this runner takes 1..%d", n,
                          r->max_batch);
    int rc = -1;
    im->last_n = 0;
    dn_plan *mask_src = NULL;
    if (use_parts(im, n)) {
        im->job_in = input;
        im->job_out = output;
        im->job_total = n;
        rc = parts_dispatch(im, JOB_FORWARD, err);
        mask_src = im->parts[0].last;
        im->last_split = 1;
    } else {
        dn_threads_enter(&im->thr);
        dn_plan *p = unsplit_plan(im, n, err);
        im->last = NULL;
        if (p && p->wver != im->wver) {
            if (dn_plan_refresh(p, im->stream, err))
                p = NULL;
            else
                p->wver = im->wver;
        }
        int sliced = r->slice_total > 0;
        if (p && dn_plan_forward(p, im->stream, input, output, sliced ? r->slice_total : n,
                                 sliced ? r->slice_offset : 0, err) == 0) {
            im->last = mask_src = p;
            rc = 0;
        }
        dn_threads_leave(&im->thr);
        im->last_split = 0;
    }
    if (rc)
        return -1;
    if (r->opts.training && mask_src)
        dn_rng_skip(&im->rng, (uint64_t)(r->slice_total > 0 ? r->slice_total : n) * mask_src->mask_per_sample);
    im->last_n = n;
    return 0;
}

static int rd_backward(runner *r, const float *d_output, cd_err *err)
{
    dnnl_impl *im = r->impl;
    if (!r->opts.training)
        return cd_err_set(err, CD_ERR_INVALID, "backward needs a runner made with training = 1");
    if (!im->last_n || (!im->last_split && !im->last))
        return cd_err_set(err, CD_ERR_INVALID, "backward needs a successful forward first");
    if (im->last_split) {
        im->job_dout = d_output;
        if (parts_dispatch(im, JOB_BACKWARD, err))
            return -1;
        parts_sum_grads(im);
        /* the slices' gradients are complete only now: every layer at once */
        for (int i = r->model->n_layers - 1; r->grad_ready && i >= 0; i--)
            if (im->grads[LAYER_MAX_PARAMS * i] && r->grad_ready(r->grad_ready_ctx, i, err))
                return -1;
        return 0;
    }
    dn_threads_enter(&im->thr);
    int rc = dn_plan_backward(im->last, im->stream, d_output, r->grad_ready, r->grad_ready_ctx, err);
    dn_threads_leave(&im->thr);
    return rc;
}

static const tensor *rd_param_grad(const runner *r, int layer_index, int param)
{
    const dnnl_impl *im = r->impl;
    if (!im->grads || layer_index < 0 || layer_index >= r->model->n_layers || param < 0 ||
        param >= LAYER_MAX_PARAMS)
        return NULL;
    return im->grads[LAYER_MAX_PARAMS * layer_index + param];
}

static void rd_params_changed(runner *r)
{
    dnnl_impl *im = r->impl;
    im->wver++;
}

/* A split forward's activation, gathered from the slices into one buffer. */
static const float *gathered_activation(dnnl_impl *im, int i)
{
    const model *m = im->r->model;
    size_t per = layer_out_size(&m->layers[i]);
    if (!im->gathered && !(im->gathered = calloc((size_t)m->n_layers, sizeof *im->gathered)))
        return NULL;
    if (!im->gathered[i] &&
        !(im->gathered[i] = malloc((size_t)im->r->max_batch * per * sizeof(float))))
        return NULL;
    for (int j = 0; j < im->n_parts; j++) {
        dn_part *pt = &im->parts[j];
        if (!pt->last)
            return NULL;
        dn_threads_enter(&pt->thr);
        const float *a = dn_plan_activation(pt->last, pt->stream, i);
        dn_threads_leave(&pt->thr);
        if (!a)
            return NULL;
        memcpy(im->gathered[i] + (size_t)pt->off * per, a, (size_t)pt->n * per * sizeof(float));
    }
    return im->gathered[i];
}

static const float *rd_activation(const runner *r, int layer_index)
{
    dnnl_impl *im = r->impl;
    if (!im->last_n)
        return NULL;
    if (im->last_split)
        return gathered_activation(im, layer_index);
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

/* ---- can this CPU run a precision? ---------------------------------------- */

/* oneDNN's name for the ISA it dispatches to (ONEDNN_MAX_CPU_ISA caps it). */
static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2 VNNI";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AMX";
    default: return "this CPU's";
    }
}

/* Asks oneDNN for a small convolution of the precision (a primitive
 * descriptor only: nothing runs): whether it has kernels is a property of
 * the library build and the ISA, which a lookup table here would get wrong
 * for the next oneDNN version. */
int runner_precision_available(runner_precision p, char *why, size_t why_size)
{
    if (why_size)
        why[0] = '\0';
    if (p != RUNNER_PREC_BF16 && p != RUNNER_PREC_INT8)
        return 1;
    dnnl_data_type_t in = p == RUNNER_PREC_BF16 ? dnnl_bf16 : dnnl_u8;
    dnnl_data_type_t wt = p == RUNNER_PREC_BF16 ? dnnl_bf16 : dnnl_s8;
    dnnl_dims_t src_d = {1, 16, 8, 8}, wei_d = {16, 16, 3, 3}, dst_d = {1, 16, 8, 8};
    dnnl_dims_t strides = {1, 1}, pad = {1, 1};
    dnnl_memory_desc_t src, wei, dst;
    dnnl_convolution_desc_t cd;
    dnnl_engine_t eng = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_engine_create(&eng, dnnl_cpu, 0);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&src, 4, src_d, in, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&wei, 4, wei_d, wt, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&dst, 4, dst_d, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei,
                                                NULL, &dst, strides, pad, pad);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (eng)
        dnnl_engine_destroy(eng);
    if (st == dnnl_success)
        return 1;
    if (why_size)
        snprintf(why, why_size, "oneDNN has no %s convolution for %s instructions%s",
                 runner_precision_name(p), isa_name(dnnl_get_effective_cpu_isa()),
                 st == dnnl_unimplemented ? "" : " (the probe failed)");
    return 0;
}
