/*
 * pool.h - the inference worker pool: a fixed set of threads, each with its own
 * predictor_session per served model, fed by one bounded queue.
 *
 * Request threads call pool_classify, which queues the photo and waits for the
 * verdict.  When the queue is full the call returns POOL_BUSY at once, and the
 * server answers 503 with Retry-After instead of piling up work it cannot do.
 * Sizing the pool to the cores (and the sessions to one thread each) keeps
 * every core busy with one photo at a time and no oversubscription.
 *
 * pool_free stops taking work, lets the workers finish what is queued, and joins
 * them; callers must not call pool_classify after (or during) pool_free.
 */
#ifndef CATDOG_WEB_POOL_H
#define CATDOG_WEB_POOL_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"
#include "web/registry.h"

typedef enum pool_status {
    POOL_OK = 0,
    POOL_FAILED = -1,  /* the photo could not be classified (err says why) */
    POOL_BUSY = 1      /* the queue is full: try again later */
} pool_status;

typedef struct pool pool;

/* n_workers threads (>= 1), queue_capacity waiting photos (>= 1).  reg is
 * borrowed and must outlive the pool. */
pool *pool_new(const registry *reg, int n_workers, int queue_capacity, cd_err *err);
void pool_free(pool *p);

/* Classifies bytes (borrowed until the call returns) with model `model_index`. */
pool_status pool_classify(pool *p, int model_index, const unsigned char *bytes, size_t len, prediction *out,
                          cd_err *err);

int pool_depth(pool *p);     /* photos waiting now */
int pool_running(pool *p);   /* photos being classified now */
int pool_capacity(const pool *p);
int pool_workers(const pool *p);

#endif
