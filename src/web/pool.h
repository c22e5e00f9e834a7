/*
 * pool.h - the inference worker pool: a fixed set of threads, each with its own
 * predictor_session per served model, fed by one queue per model, with
 * dynamic batching and admission by expected waiting time.
 *
 * Batching (as TF Serving's batcher does): a worker takes the model of the
 * oldest waiting photo and, while fewer than max_batch photos of that model
 * wait, lets the batch fill until the oldest has waited batch_timeout_s; then
 * it takes them (up to max_batch) and runs them as one batch: each photo is
 * decoded alone, all go through one forward pass.  Batch sizes are powers of
 * two (a batch of 7 runs as 4, then 2, then 1 -- or on other workers): the
 * engine compiles a plan per batch size and keeps four per session, so with
 * max_batch up to 8 every size stays compiled (the workers compile them while
 * warming up) and no batch pays for a compilation or runs padding.
 *
 * The default max_batch is 2: measured in the server (README), SqueezeNet at
 * 224 costs more per photo in batches of 4 or 8 than alone on these CPUs
 * (its activations leave the cache), while the binary CNN gains a little.
 *
 * Admission: a photo is queued unless the wait it would see is expected to
 * exceed max_wait_s.  The expected wait is the work ahead of it -- each model's
 * waiting photos times that model's measured time per photo at the batch size
 * they will run in, plus what is left of the batches running -- divided by the
 * workers.  The time per photo is a moving average per model and batch size,
 * measured on every batch (decode + resize + forward) and seeded by the
 * warm-up.  Refused photos get POOL_BUSY at once with a Retry-After estimate,
 * and the server answers 503 instead of piling up work it cannot do in time.
 * max_queue is a plain count limit on top (the memory guard).
 *
 * Sizing the pool to the cores (and the sessions to one thread each) keeps
 * every core busy with one batch at a time and no oversubscription.
 *
 * pool_free stops taking work, lets the workers finish what is queued, and joins
 * them; callers must not call pool_classify after (or during) pool_free.
 */
#ifndef CATDOG_WEB_POOL_H
#define CATDOG_WEB_POOL_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"
#include "web/metrics.h"
#include "web/registry.h"

#define POOL_DEFAULT_MAX_BATCH 2
#define POOL_DEFAULT_BATCH_TIMEOUT_S 0.001
#define POOL_DEFAULT_MAX_WAIT_S 2.0
#define POOL_MAX_BATCH_LIMIT 64

typedef enum pool_status {
    POOL_OK = 0,
    POOL_FAILED = -1,  /* the photo could not be classified (err says why) */
    POOL_BUSY = 1      /* the expected wait is too long (or the queue full): try again later */
} pool_status;

typedef struct pool_opts {
    int workers;            /* threads (>= 1) */
    int max_queue;          /* photos allowed to wait at once (>= 1) */
    int max_batch;          /* largest batch, a power of two 1..POOL_MAX_BATCH_LIMIT; 0 = default */
    double batch_timeout_s; /* how long a batch may wait to fill; < 0 = default, 0 = never wait */
    double max_wait_s;      /* expected wait beyond which photos are refused; <= 0 = default */
    metrics *metrics;       /* borrowed; batch sizes and queue waits are counted there; may be NULL */
} pool_opts;

/* What pool_submit saw, for the caller's answer. */
typedef struct pool_ticket {
    double expected_wait_s; /* the estimate admission used */
    double queue_wait_s;    /* time spent waiting for a worker (admitted photos) */
    int retry_after_s;      /* POOL_BUSY: seconds after which the wait should be acceptable (>= 1) */
    int batch;              /* size of the batch the photo ran in */
} pool_ticket;

typedef struct pool pool;

/* reg and o->metrics are borrowed and must outlive the pool. */
pool *pool_new_opts(const registry *reg, const pool_opts *o, cd_err *err);
/* n_workers threads (>= 1), queue_capacity waiting photos (>= 1), the default
 * batching and admission. */
pool *pool_new(const registry *reg, int n_workers, int queue_capacity, cd_err *err);
void pool_free(pool *p);

/* Classifies bytes (borrowed until the call returns) with model `model_index`;
 * blocks until its batch ran.  t (may be NULL) gets the admission figures. */
pool_status pool_submit(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                        pool_ticket *t, cd_err *err);
pool_status pool_classify(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                          cd_err *err);

int pool_depth(pool *p);     /* photos waiting now */
int pool_running(pool *p);   /* photos being classified now */
int pool_capacity(const pool *p);
int pool_workers(const pool *p);
int pool_max_batch(const pool *p);
double pool_max_wait(const pool *p);
/* The wait a photo for model_index would be expected to see now (seconds). */
double pool_expected_wait(pool *p, int model_index);

#endif
