/*
 * history.c - the prediction history's front door (history.h): picks the
 * backend from the target string and forwards every call through its
 * operation table (history_internal.h), so web/, the CLI, metrics and
 * retention never know whether SQLite or PostgreSQL is behind it.
 */
#include "web/history.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "web/history_internal.h"

struct history {
    const history_ops *ops;
    void *b; /* the backend's state, owned */
};

/* The calls on a NULL history (a database the caller could not open). */
static int not_open(cd_err *err)
{
    return cd_err_set(err, CD_ERR_IO, "the history database is not open");
}

/* libpq's keywords that may open a "keyword=value" connection string.  A file
 * name starting with one of them followed by '=' ("host=x.db") would be read
 * as PostgreSQL; give such a file as ./host=x.db. */
static const char *const PG_KEYWORDS[] = {"host",     "hostaddr", "port",    "dbname",          "user",
                                          "password", "service",  "sslmode", "connect_timeout", "options",
                                          "application_name"};

int history_target_is_pg(const char *t)
{
    if (!t)
        return 0;
    if (strncmp(t, "postgresql://", 13) == 0 || strncmp(t, "postgres://", 11) == 0)
        return 1;
    while (isspace((unsigned char)*t))
        t++;
    for (size_t i = 0; i < sizeof PG_KEYWORDS / sizeof PG_KEYWORDS[0]; i++) {
        size_t n = strlen(PG_KEYWORDS[i]);
        if (strncmp(t, PG_KEYWORDS[i], n) != 0)
            continue;
        const char *p = t + n;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '=')
            return 1;
    }
    return 0;
}

history *history_open_with(const char *target, const history_options *opt, cd_err *err)
{
    history *h = calloc(1, sizeof *h);
    if (!h) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory opening the history");
        return NULL;
    }
    history_options defaults = {0};
    if (history_target_is_pg(target)) {
        h->ops = &history_pg_ops;
        h->b = history_pg_open(target, opt ? opt : &defaults, err);
    } else {
        h->ops = &history_sqlite_ops;
        h->b = history_sqlite_open(target, err);
    }
    if (!h->b) {
        free(h);
        return NULL;
    }
    return h;
}

history *history_open(const char *target, cd_err *err)
{
    return history_open_with(target, NULL, err);
}

void history_close(history *h)
{
    if (!h)
        return;
    h->ops->close(h->b);
    free(h);
}

const char *history_backend(const history *h)
{
    return h ? h->ops->name : "off";
}

history_state history_get_state(history *h)
{
    return h ? h->ops->state(h->b) : HISTORY_OFF;
}

history_commit_stats history_get_commit_stats(history *h)
{
    history_commit_stats st = {0, 0};
    if (h && h->ops->commit_stats)
        h->ops->commit_stats(h->b, &st);
    return st;
}

int history_set_meta(history *h, const char *key, const char *value, cd_err *err)
{
    return h ? h->ops->set_meta(h->b, key, value, err) : not_open(err);
}

int history_get_meta(history *h, const char *key, char *out, size_t out_size, cd_err *err)
{
    if (out_size)
        out[0] = '\0';
    return h ? h->ops->get_meta(h->b, key, out, out_size, err) : not_open(err);
}

int history_add(history *h, history_rec *rec, cd_err *err)
{
    return h ? h->ops->add(h->b, rec, err) : not_open(err);
}

int history_count(history *h, long long *n, cd_err *err)
{
    return h ? h->ops->count(h->b, n, err) : not_open(err);
}

int history_list(history *h, long long offset, int limit, history_rec *out, int *n, cd_err *err)
{
    *n = 0;
    return h ? h->ops->list(h->b, offset, limit, out, n, err) : not_open(err);
}

int history_get(history *h, long long id, history_rec *out, cd_err *err)
{
    return h ? h->ops->get(h->b, id, out, err) : not_open(err);
}

int history_set_feedback(history *h, long long id, int label, cd_err *err)
{
    return h ? h->ops->set_feedback(h->b, id, label, err) : not_open(err);
}

int history_each_feedback(history *h, history_each_fn fn, void *ctx, cd_err *err)
{
    return h ? h->ops->each_feedback(h->b, fn, ctx, err) : not_open(err);
}

int history_by_result(history *h, const char *result, history_rec *out, int max, int *n, cd_err *err)
{
    *n = 0;
    return h ? h->ops->by_result(h->b, result, out, max, n, err) : not_open(err);
}

int history_expire(history *h, double before, history_file_fn fn, void *ctx, long long *removed, cd_err *err)
{
    *removed = 0;
    return h ? h->ops->expire(h->b, before, fn, ctx, removed, err) : not_open(err);
}
