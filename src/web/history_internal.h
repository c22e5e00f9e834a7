/*
 * history_internal.h - what history.c dispatches to: one table of operations
 * per storage backend (SQLite in history_sqlite.c, PostgreSQL in
 * history_pg.c).  Only the history files include this; the rest of catdog
 * sees history.h alone and never learns which backend it talks to.
 *
 * Every operation has the meaning of the history.h function of the same
 * name; `b` is the backend's own state (never NULL here: history.c answers
 * the calls on a NULL history itself).
 */
#ifndef CATDOG_WEB_HISTORY_INTERNAL_H
#define CATDOG_WEB_HISTORY_INTERNAL_H

#include "web/history.h"

typedef struct history_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(void *b);
    history_state (*state)(void *b);
    void (*commit_stats)(void *b, history_commit_stats *out); /* NULL: not counted (both 0) */
    int (*set_meta)(void *b, const char *key, const char *value, cd_err *err);
    int (*get_meta)(void *b, const char *key, char *out, size_t out_size, cd_err *err);
    int (*add)(void *b, history_rec *rec, cd_err *err);
    int (*count)(void *b, long long *n, cd_err *err);
    int (*list)(void *b, long long offset, int limit, history_rec *out, int *n, cd_err *err);
    int (*get)(void *b, long long id, history_rec *out, cd_err *err);
    int (*set_feedback)(void *b, long long id, int label, cd_err *err);
    int (*each_feedback)(void *b, history_each_fn fn, void *ctx, cd_err *err);
    int (*by_result)(void *b, const char *result, history_rec *out, int max, int *n, cd_err *err);
    int (*expire)(void *b, double before, history_file_fn fn, void *ctx, long long *removed, cd_err *err);
} history_ops;

/* Each backend: opens its state (NULL with err) and names its table. */
void *history_sqlite_open(const char *path, cd_err *err);
extern const history_ops history_sqlite_ops;

void *history_pg_open(const char *conninfo, const history_options *opt, cd_err *err);
extern const history_ops history_pg_ops;

/* The spool (history_spool.c): rows the PostgreSQL backend acknowledged while
 * the database was unreachable, one JSON line each, fsynced before
 * history_add returns.  Owned by one process at a time (flock), so replicas
 * sharing a folder each take their own file. */
typedef struct history_spool history_spool;

/* Takes the first free spool file <dir>/.history-spool-<i> (i = 0..15), which
 * may hold rows a crashed process left: they are replayed like any other. */
history_spool *history_spool_open(const char *dir, cd_err *err);
void history_spool_close(history_spool *sp);
const char *history_spool_path(const history_spool *sp); /* borrowed */
/* Rows waiting in the file (0 when empty). */
long long history_spool_pending(history_spool *sp);
/* Appends rec and fsyncs the file before returning 0. */
int history_spool_append(history_spool *sp, const history_rec *rec, cd_err *err);
/* Calls put on every row, oldest first, stopping at the first failure (-1,
 * the rows stay for the next try); when all went in the file is emptied. */
typedef int (*history_spool_put_fn)(const history_rec *rec, void *ctx, cd_err *err);
int history_spool_replay(history_spool *sp, history_spool_put_fn put, void *ctx, long long *replayed, cd_err *err);

#endif
