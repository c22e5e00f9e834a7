/*
 * pool.c - bounded queue + worker threads for inference (see pool.h).
 *
 * A job lives on the waiting request thread's stack; the queue holds pointers.
 * Each job has its own condition variable so finishing one wakes only its owner.
 */
#include "web/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    int model;
    const unsigned char *bytes;
    size_t len;
    prediction *out;
    cd_err *err;
    int rc;
    int done;
    pthread_cond_t cv;
} job;

typedef struct worker {
    pool *p;
    pthread_t thread;
    int started;
    predictor_session *sessions[REGISTRY_MAX];
} worker;

struct pool {
    const registry *reg;
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    job **ring;
    int cap, head, count;
    int running;
    int stopping;
    worker *workers;
    int n_workers;
};

/* One forward pass per session on a blank picture, so the first real photo
 * does not pay for setting up the compute (primitive creation, buffers). */
static void warm_up(worker *w)
{
    unsigned char px[16 * 16 * 3];
    memset(px, 128, sizeof px);
    image img = {16, 16, px};
    for (int m = 0; m < w->p->reg->n; m++) {
        prediction out;
        predictor_classify_images(w->sessions[m], &img, 1, &out, NULL);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    warm_up(w);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->not_empty, &p->lock);
        if (p->count == 0) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        job *j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        pthread_mutex_unlock(&p->lock);

        int rc = predictor_classify(w->sessions[j->model], j->bytes, j->len, j->out, j->err);

        pthread_mutex_lock(&p->lock);
        p->running--;
        j->rc = rc;
        j->done = 1;
        pthread_cond_signal(&j->cv);
        pthread_mutex_unlock(&p->lock);
    }
}

pool *pool_new(const registry *reg, int n_workers, int queue_capacity, cd_err *err)
{
    if (n_workers < 1 || queue_capacity < 1) {
        cd_err_set(err, CD_ERR_INVALID, "worker pool needs at least one worker and one queue slot");
        return NULL;
    }
    pool *p = calloc(1, sizeof *p);
    if (!p) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the worker pool");
        return NULL;
    }
    p->reg = reg;
    p->cap = queue_capacity;
    p->ring = calloc((size_t)queue_capacity, sizeof *p->ring);
    p->workers = calloc((size_t)n_workers, sizeof *p->workers);
    if (!p->ring || !p->workers) {
        free(p->ring);
        free(p->workers);
        free(p);
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the worker pool");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    for (int i = 0; i < n_workers; i++) {
        worker *w = &p->workers[i];
        w->p = p;
        p->n_workers = i + 1;
        for (int m = 0; m < reg->n; m++) {
            w->sessions[m] = predictor_session_new(reg->models[m].pred, 1, err);
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
        for (int m = 0; m < REGISTRY_MAX; m++)
            if (w->sessions[m])
                predictor_session_free(w->sessions[m]);
    }
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p->ring);
    free(p);
}

pool_status pool_classify(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                          cd_err *err)
{
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
    pthread_cond_init(&j.cv, NULL);

    pthread_mutex_lock(&p->lock);
    if (p->count >= p->cap || p->stopping) {
        int waiting = p->count; /* read under the lock (TSan: workers change it) */
        pthread_mutex_unlock(&p->lock);
        pthread_cond_destroy(&j.cv);
        cd_err_set(err, CD_ERR_LIMIT, "all %d inference workers are busy and %d photos are waiting", p->n_workers,
                   waiting);
        return POOL_BUSY;
    }
    p->ring[(p->head + p->count) % p->cap] = &j;
    p->count++;
    pthread_cond_signal(&p->not_empty);
    while (!j.done)
        pthread_cond_wait(&j.cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&j.cv);
    return j.rc == 0 ? POOL_OK : POOL_FAILED;
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

int pool_capacity(const pool *p)
{
    return p->cap;
}

int pool_workers(const pool *p)
{
    return p->n_workers;
}
