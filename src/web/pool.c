/*
 * pool.c - per-model queues, batching worker threads and admission by
 * expected wait (see pool.h).
 *
 * A job lives on the waiting request thread's stack; the queues link them.
 * Each job has its own condition variable so finishing one wakes only its owner.
 * One lock guards the queues, the running batches and the time estimates; the
 * decoding and the forward pass run outside it.
 */
#include "web/pool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

/* Batch sizes 1, 2, 4, ... POOL_MAX_BATCH_LIMIT: log2 + 1 of them. */
#define N_SIZES 7
/* Weight of the newest batch in the moving average of time per photo. */
#define EWMA_ALPHA 0.2

typedef struct job {
    int model;
    const unsigned char *bytes;
    size_t len;
    prediction *out;
    cd_err *err;
    double t_enqueue, t_start;
    int rc;
    int done;
    int batch;
    struct job *next;
    pthread_cond_t cv;
} job;

typedef struct fifo {
    job *head, *tail;
    int count;
} fifo;

typedef struct worker {
    pool *p;
    pthread_t thread;
    int started;
    predictor_session *sessions[REGISTRY_MAX];
    /* scratch for one batch, max_batch long */
    job **batch;
    const unsigned char **bytes;
    size_t *lens;
    prediction *outs;
    int *rcs;
    cd_err *errs;
    double busy_until; /* estimated end of the running batch (monotonic s); 0 = idle; under lock */
} worker;

struct pool {
    const registry *reg;
    pool_opts o;
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* on CLOCK_MONOTONIC: the batch timeout is a timed wait */
    fifo q[REGISTRY_MAX];
    int count;                /* photos waiting, all models */
    int running;
    int stopping;
    double est[REGISTRY_MAX][N_SIZES]; /* seconds per photo at batch size 2^k; 0 = not measured */
    worker *workers;
    int n_workers;
};

static int size_index(int n)
{
    int k = 0;
    while ((2 << k) <= n && k < N_SIZES - 1)
        k++;
    return k;
}

/* The largest allowed batch size not above n (n >= 1). */
static int floor_size(const pool *p, int n)
{
    if (n > p->o.max_batch)
        n = p->o.max_batch;
    return 1 << size_index(n);
}

/* Time per photo of `model` at batch size n: the measured one, else the
 * nearest measured size (smaller first: it overestimates, which is safe). */
static double per_photo(const pool *p, int model, int n)
{
    int k = size_index(floor_size(p, n));
    for (int d = 0; d < N_SIZES; d++) {
        if (k - d >= 0 && p->est[model][k - d] > 0)
            return p->est[model][k - d];
        if (k + d < N_SIZES && p->est[model][k + d] > 0)
            return p->est[model][k + d];
    }
    return 0;
}

/* Under the lock: the wait a new photo for `model` would see. */
static double expected_wait_locked(const pool *p, int model, double now)
{
    double work = 0;
    for (int m = 0; m < p->reg->n; m++) {
        int waiting = p->q[m].count;
        if (waiting == 0)
            continue;
        int next = waiting + (m == model);
        work += waiting * per_photo(p, m, next < p->o.max_batch ? next : p->o.max_batch);
    }
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i].busy_until > now)
            work += p->workers[i].busy_until - now;
    return work / p->n_workers;
}

static void observe(pool *p, int model, int n, double per_photo_s)
{
    double *e = &p->est[model][size_index(n)];
    *e = *e > 0 ? (1 - EWMA_ALPHA) * *e + EWMA_ALPHA * per_photo_s : per_photo_s;
}

/* Runs every batch size on blank pictures: the first run compiles the engine's
 * plan for that size (so no photo pays for it), the fastest of the next three
 * seeds the time estimate for it -- the fastest, because on a shared machine a
 * single run can be descheduled and one such sample would make admission
 * refuse photos until batches of that size had run. */
static void warm_up(worker *w)
{
    pool *p = w->p;
    unsigned char px[16 * 16 * 3];
    memset(px, 128, sizeof px);
    image imgs[POOL_MAX_BATCH_LIMIT];
    for (int i = 0; i < p->o.max_batch; i++)
        imgs[i] = (image){16, 16, px};
    for (int m = 0; m < p->reg->n; m++)
        for (int n = 1; n <= p->o.max_batch; n *= 2) {
            if (predictor_classify_images(w->sessions[m], imgs, n, w->outs, NULL) != 0)
                continue;
            double dt = -1;
            for (int r = 0; r < 3; r++) {
                double t0 = cd_monotonic_s();
                if (predictor_classify_images(w->sessions[m], imgs, n, w->outs, NULL) != 0)
                    break;
                double t = cd_monotonic_s() - t0;
                dt = dt < 0 || t < dt ? t : dt;
            }
            if (dt < 0)
                continue;
            pthread_mutex_lock(&p->lock);
            observe(p, m, n, dt / n);
            pthread_mutex_unlock(&p->lock);
        }
}

/* The model whose first waiting photo is the oldest; -1 when none waits. */
static int oldest_model(const pool *p)
{
    int best = -1;
    for (int m = 0; m < p->reg->n; m++)
        if (p->q[m].head && (best < 0 || p->q[m].head->t_enqueue < p->q[best].head->t_enqueue))
            best = m;
    return best;
}

static void timed_wait(pool *p, double until)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    double dt = until - now;
    if (dt <= 0)
        return;
    long long ns = (long long)ts.tv_nsec + (long long)(dt * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(&p->not_empty, &p->lock, &ts);
}

/* Under the lock: waits for work and takes the next batch into w->batch.
 * Returns its size, 0 when stopping with nothing left. */
static int take_batch(worker *w, int *model)
{
    pool *p = w->p;
    for (;;) {
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->not_empty, &p->lock);
        int m = oldest_model(p);
        if (m < 0)
            return 0; /* stopping and drained */
        fifo *q = &p->q[m];
        if (q->count < p->o.max_batch && p->o.batch_timeout_s > 0 && !p->stopping) {
            /* Let the batch fill until the oldest photo has waited the timeout.
             * cd_monotonic_s and CLOCK_MONOTONIC are the same clock. */
            double until = q->head->t_enqueue + p->o.batch_timeout_s;
            if (cd_monotonic_s() < until) {
                timed_wait(p, until);
                continue; /* look again: another worker may have taken them */
            }
        }
        int n = floor_size(p, q->count);
        double now = cd_monotonic_s();
        for (int i = 0; i < n; i++) {
            job *j = q->head;
            q->head = j->next;
            j->next = NULL;
            j->t_start = now;
            j->batch = n;
            w->batch[i] = j;
        }
        if (!q->head)
            q->tail = NULL;
        q->count -= n;
        p->count -= n;
        p->running += n;
        w->busy_until = now + n * per_photo(p, m, n);
        *model = m;
        return n;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    /* Named for top, perf and bench/web_profile.sh, which tell the inference
     * workers' CPU from the HTTP threads' by it; a name that cannot be set
     * changes nothing else, so the result is not checked. */
    (void)pthread_setname_np(pthread_self(), "catdog-infer");
    warm_up(w);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int m = 0;
        int n = take_batch(w, &m);
        if (n == 0)
            break;
        pthread_mutex_unlock(&p->lock);

        const char *name = p->reg->models[m].name;
        for (int i = 0; i < n; i++) {
            w->bytes[i] = w->batch[i]->bytes;
            w->lens[i] = w->batch[i]->len;
            cd_err_clear(&w->errs[i]);
            if (p->o.metrics)
                metrics_queue_wait(p->o.metrics, name, w->batch[i]->t_start - w->batch[i]->t_enqueue);
        }
        if (p->o.metrics)
            metrics_batch(p->o.metrics, name, n);
        double t0 = cd_monotonic_s();
        int all_ok = predictor_classify_batch(w->sessions[m], w->bytes, w->lens, n, w->outs, w->rcs, w->errs) == 0;
        double dt = cd_monotonic_s() - t0;

        pthread_mutex_lock(&p->lock);
        /* A batch with a photo that failed to decode is not a fair sample. */
        if (all_ok)
            observe(p, m, n, dt / n);
        w->busy_until = 0;
        p->running -= n;
        for (int i = 0; i < n; i++) {
            job *j = w->batch[i];
            j->rc = w->rcs[i];
            if (j->rc == 0)
                *j->out = w->outs[i];
            else
                *j->err = w->errs[i];
            j->done = 1;
            pthread_cond_signal(&j->cv);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int worker_alloc(worker *w, int max_batch)
{
    size_t n = (size_t)max_batch;
    w->batch = calloc(n, sizeof *w->batch);
    w->bytes = calloc(n, sizeof *w->bytes);
    w->lens = calloc(n, sizeof *w->lens);
    w->outs = calloc(n, sizeof *w->outs);
    w->rcs = calloc(n, sizeof *w->rcs);
    w->errs = calloc(n, sizeof *w->errs);
    return w->batch && w->bytes && w->lens && w->outs && w->rcs && w->errs ? 0 : -1;
}

static void worker_release(worker *w)
{
    for (int m = 0; m < REGISTRY_MAX; m++)
        if (w->sessions[m])
            predictor_session_free(w->sessions[m]);
    free(w->batch);
    free(w->bytes);
    free(w->lens);
    free(w->outs);
    free(w->rcs);
    free(w->errs);
}

pool *pool_new_opts(const registry *reg, const pool_opts *o, cd_err *err)
{
    pool_opts opts = *o;
    if (opts.max_batch == 0)
        opts.max_batch = POOL_DEFAULT_MAX_BATCH;
    if (opts.batch_timeout_s < 0)
        opts.batch_timeout_s = POOL_DEFAULT_BATCH_TIMEOUT_S;
    if (opts.max_wait_s <= 0)
        opts.max_wait_s = POOL_DEFAULT_MAX_WAIT_S;
    if (opts.workers < 1 || opts.max_queue < 1) {
        cd_err_set(err, CD_ERR_INVALID, "worker pool needs at least one worker and one queue slot");
        return NULL;
    }
    if (opts.max_batch < 1 || opts.max_batch > POOL_MAX_BATCH_LIMIT || (opts.max_batch & (opts.max_batch - 1))) {
        cd_err_set(err, CD_ERR_INVALID, "the largest batch must be a power of two from 1 to %d, not %d",
                   POOL_MAX_BATCH_LIMIT, opts.max_batch);
        return NULL;
    }
    pool *p = calloc(1, sizeof *p);
    if (!p) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the worker pool");
        return NULL;
    }
    p->reg = reg;
    p->o = opts;
    p->workers = calloc((size_t)opts.workers, sizeof *p->workers);
    pthread_condattr_t ca;
    int cv_ok = 0;
    if (pthread_condattr_init(&ca) == 0) {
        cv_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&p->not_empty, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!p->workers || !cv_ok || pthread_mutex_init(&p->lock, NULL) != 0) {
        if (cv_ok)
            pthread_cond_destroy(&p->not_empty);
        free(p->workers);
        free(p);
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the worker pool");
        return NULL;
    }
    for (int i = 0; i < opts.workers; i++) {
        worker *w = &p->workers[i];
        w->p = p;
        p->n_workers = i + 1;
        if (worker_alloc(w, opts.max_batch) != 0) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory for inference worker %d", i);
            pool_free(p);
            return NULL;
        }
        for (int m = 0; m < reg->n; m++) {
            w->sessions[m] = predictor_session_new(reg->models[m].pred, opts.max_batch, err);
            if (!w->sessions[m]) {
                cd_err_wrap(err, "worker %d, model %s", i, reg->models[m].name);
                pool_free(p);
                return NULL;
            }
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            cd_err_set(err, CD_ERR_NOMEM, "cannot start inference worker %d", i);
            pool_free(p);
            return NULL;
        }
        w->started = 1;
    }
    return p;
}

pool *pool_new(const registry *reg, int n_workers, int queue_capacity, cd_err *err)
{
    pool_opts o = {.workers = n_workers, .max_queue = queue_capacity, .batch_timeout_s = -1};
    return pool_new_opts(reg, &o, err);
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->not_empty);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_workers; i++) {
        worker *w = &p->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        worker_release(w);
    }
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}

pool_status pool_submit(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                        pool_ticket *t, cd_err *err)
{
    pool_ticket scratch;
    if (!t)
        t = &scratch;
    memset(t, 0, sizeof *t);
    if (model_index < 0 || model_index >= p->reg->n) {
        cd_err_set(err, CD_ERR_INVALID, "no model %d", model_index);
        return POOL_FAILED;
    }
    job j;
    memset(&j, 0, sizeof j);
    j.model = model_index;
    j.bytes = bytes;
    j.len = len;
    j.out = out;
    j.err = err;
    if (pthread_cond_init(&j.cv, NULL) != 0) {
        cd_err_set(err, CD_ERR_NOMEM, "cannot make a condition variable for the photo's job");
        return POOL_FAILED;
    }

    pthread_mutex_lock(&p->lock);
    double now = cd_monotonic_s();
    double wait = expected_wait_locked(p, model_index, now);
    t->expected_wait_s = wait;
    if (p->stopping || p->count >= p->o.max_queue || wait > p->o.max_wait_s) {
        int stopping = p->stopping, waiting = p->count;
        pthread_mutex_unlock(&p->lock);
        pthread_cond_destroy(&j.cv);
        /* By then the queue ahead should have drained below the limit. */
        double retry = ceil(wait - p->o.max_wait_s);
        t->retry_after_s = retry < 1 ? 1 : retry > 3600 ? 3600 : (int)retry;
        if (stopping)
            cd_err_set(err, CD_ERR_LIMIT, "the server is stopping");
        else if (waiting >= p->o.max_queue)
            cd_err_set(err, CD_ERR_LIMIT, "%d photos are already waiting for the %d inference workers (the limit)",
                       waiting, p->n_workers);
        else
            cd_err_set(err, CD_ERR_LIMIT,
                       "the expected wait (%.1f s for %d waiting photos on %d workers) is over the %.1f s limit",
                       wait, waiting, p->n_workers, p->o.max_wait_s);
        return POOL_BUSY;
    }
    j.t_enqueue = now;
    fifo *q = &p->q[model_index];
    if (q->tail)
        q->tail->next = &j;
    else
        q->head = &j;
    q->tail = &j;
    q->count++;
    p->count++;
    /* Every worker looks: one may be waiting for this batch to fill. */
    pthread_cond_broadcast(&p->not_empty);
    while (!j.done)
        pthread_cond_wait(&j.cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&j.cv);
    t->queue_wait_s = j.t_start - j.t_enqueue;
    t->batch = j.batch;
    return j.rc == 0 ? POOL_OK : POOL_FAILED;
}

pool_status pool_classify(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                          cd_err *err)
{
    return pool_submit(p, model_index, bytes, len, out, NULL, err);
}

int pool_depth(pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_running(pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->running;
    pthread_mutex_unlock(&p->lock);
    return n;
}

double pool_expected_wait(pool *p, int model_index)
{
    if (model_index < 0 || model_index >= p->reg->n)
        return 0;
    pthread_mutex_lock(&p->lock);
    double w = expected_wait_locked(p, model_index, cd_monotonic_s());
    pthread_mutex_unlock(&p->lock);
    return w;
}

int pool_capacity(const pool *p) { return p->o.max_queue; }

int pool_workers(const pool *p) { return p->n_workers; }

int pool_max_batch(const pool *p) { return p->o.max_batch; }

double pool_max_wait(const pool *p) { return p->o.max_wait_s; }
