/*
 * retention.c - the periodic clean-up of old photos and rows (see retention.h).
 */
#include "web/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

struct retention {
    history *h;
    store *st;
    int days;
    retention_log_fn log;
    void *log_ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
};

typedef struct sweep_ctx {
    store *st;
    int files;
} sweep_ctx;

/* Removes one expired photo and its thumbnail (thumbs/<file>.jpg). */
static void remove_file(const char *file, void *ctx)
{
    sweep_ctx *c = ctx;
    cd_err err;
    if (!store_name_valid(file))
        return; /* not a name this server wrote: never follow it */
    if (store_remove_named(c->st, NULL, file, &err) == 0)
        c->files++;
    char thumb[STORE_NAME_MAX + 8];
    snprintf(thumb, sizeof thumb, "%s.jpg", file);
    if (store_name_valid(thumb))
        store_remove_named(c->st, "thumbs", thumb, &err);
}

int retention_sweep(history *h, store *st, int days, long long *rows, int *files, cd_err *err)
{
    sweep_ctx c = {st, 0};
    double before = cd_wall_s() - (double)days * 86400.0;
    int rc = history_expire(h, before, remove_file, &c, rows, err);
    *files = c.files;
    return rc;
}

static void *run(void *arg)
{
    retention *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += RETENTION_PERIOD_S;
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
            ;
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->lock);
        long long rows = 0;
        int files = 0;
        cd_err err;
        cd_err_clear(&err);
        char line[CD_ERR_MSG_MAX + 80];
        if (retention_sweep(r->h, r->st, r->days, &rows, &files, &err) != 0)
            snprintf(line, sizeof line, "retention: %s", err.msg);
        else
            snprintf(line, sizeof line, "retention: removed %lld row(s) and %d photo(s) older than %d day(s)", rows,
                     files, r->days);
        if (r->log && (rows > 0 || err.msg[0]))
            r->log(r->log_ctx, line);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

retention *retention_start(history *h, store *st, int days, retention_log_fn log, void *log_ctx, cd_err *err)
{
    retention *r = calloc(1, sizeof *r);
    if (!r) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory starting the retention thread");
        return NULL;
    }
    r->h = h;
    r->st = st;
    r->days = days;
    r->log = log;
    r->log_ctx = log_ctx;
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    /* The monotonic clock: a wall-clock jump must not start or delay a sweep. */
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    if (!ok || pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        cd_err_set(err, CD_ERR_NOMEM, "cannot create the retention thread's lock");
        return NULL;
    }
    if (pthread_cond_init(&r->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&r->lock);
        free(r);
        cd_err_set(err, CD_ERR_NOMEM, "cannot create the retention thread's condition");
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&r->thread, NULL, run, r);
    if (e != 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        cd_err_set(err, CD_ERR_IO, "cannot start the retention thread: %s", strerror(e));
        return NULL;
    }
    return r;
}

void retention_stop(retention *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
