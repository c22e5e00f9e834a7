/*
 * conn_watch.c - the header-deadline watchdog (see conn_watch.h).
 */
#include "web/conn_watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"

struct conn_watch_entry {
    int fd;
    double since;           /* when it started waiting for headers */
    int waiting;            /* 1 = no request headers yet */
    int cut;                /* 1 = already shut down */
    conn_watch_entry *prev, *next;
};

struct conn_watch {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    int deadline_s;
    conn_watch_entry *head;
    void (*on_cut)(void *ctx, double waited_s);
    void *ctx;
};

static void *watch_main(void *arg)
{
    conn_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 500 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        double now = cd_monotonic_s();
        for (conn_watch_entry *e = w->head; e; e = e->next)
            if (e->waiting && !e->cut && now - e->since > w->deadline_s) {
                shutdown(e->fd, SHUT_RDWR);
                e->cut = 1;
                if (w->on_cut)
                    w->on_cut(w->ctx, now - e->since);
            }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

conn_watch *conn_watch_new(int deadline_s, void (*on_cut)(void *ctx, double waited_s), void *ctx, cd_err *err)
{
    conn_watch *w = calloc(1, sizeof *w);
    if (!w) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the connection watchdog");
        return NULL;
    }
    w->deadline_s = deadline_s;
    w->on_cut = on_cut;
    w->ctx = ctx;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        cd_err_set(err, CD_ERR_NOMEM, "cannot start the connection watchdog");
        return NULL;
    }
    return w;
}

void conn_watch_free(conn_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->head) {
        conn_watch_entry *e = w->head;
        w->head = e->next;
        free(e);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

conn_watch_entry *conn_watch_add(conn_watch *w, int fd)
{
    conn_watch_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fd = fd;
    e->since = cd_monotonic_s();
    e->waiting = 1;
    pthread_mutex_lock(&w->lock);
    e->next = w->head;
    if (w->head)
        w->head->prev = e;
    w->head = e;
    pthread_mutex_unlock(&w->lock);
    return e;
}

void conn_watch_request_started(conn_watch *w, conn_watch_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&w->lock);
    e->waiting = 0;
    pthread_mutex_unlock(&w->lock);
}

void conn_watch_request_done(conn_watch *w, conn_watch_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&w->lock);
    e->waiting = 1;
    e->since = cd_monotonic_s();
    pthread_mutex_unlock(&w->lock);
}

void conn_watch_remove(conn_watch *w, conn_watch_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&w->lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        w->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&w->lock);
    free(e);
}
