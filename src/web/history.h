/*
 * history.h - every prediction the service made, in SQLite (the default) or
 * PostgreSQL (replicas sharing one history).
 *
 * One row per prediction: when, which photo (sha256 and stored file name),
 * the client's original name (sanitised), size in bytes and pixels, which model,
 * P(dog), the verdict, how long it took, and the user's feedback ("actually a
 * cat / dog") when given.  The `meta` table remembers the upload folder, so
 * `catdog export-feedback` finds the photos without being told where they are.
 *
 * This header is the whole contract whichever backend is behind it; the
 * target string given to history_open picks one (history_target_is_pg):
 *
 * SQLite (a file name): WAL keeps readers (the history page) from blocking
 * the writer, and synchronous=FULL makes a row durable (through a power loss,
 * not only a killed process) before history_add returns, so the service
 * acknowledges only what it has kept.  The file carries its schema version in
 * PRAGMA user_version; history_open migrates an older file (0 = the
 * unversioned layout of catdog before versioning) to HISTORY_SCHEMA_VERSION,
 * keeping its rows, and refuses a file from a newer catdog (naming both
 * versions) without writing to it.  One connection guarded by a mutex, with
 * group commit: the rows of concurrent history_add calls go in one
 * transaction and share its WAL sync (history_sqlite.c), each call still
 * returning only once its own row is durable, with its own id and outcome.
 *
 * PostgreSQL (a libpq connection string: postgresql://..., postgres://... or
 * "host=... dbname=..."): the same tables and schema versions (kept in table
 * catdog_schema), migrated at open under pg_advisory_lock so replicas starting
 * together do not race.  A pool of connections (history_options.connections),
 * each used by one thread at a time, with every statement prepared once per
 * connection.  A connection found dead (the server restarted) is opened again
 * on next use, at most once per backoff period (0.25 s doubling to 5 s), so a
 * database that is down costs a request one failed connect, not a hang.
 *
 * Why a spool: the service answers a verdict only after history_add returns 0
 * and promises the row is kept.  With SQLite that is the local fsync; with
 * PostgreSQL down there is nowhere to keep it, and failing the add would
 * lose the row of a verdict the visitor still gets.  So when a row cannot be
 * written and history_options.spool_dir is set, history_add appends it to a
 * journal in that folder and fsyncs it before returning 0 (rec->id = 0: the
 * database has not numbered it yet).  The journal is replayed in order, before
 * anything else, by the next call that reaches the database, and emptied once
 * all of it is in.  A replay is idempotent: PostgreSQL keeps (result, model)
 * unique and a replayed row that is already there is skipped, so a crash
 * between inserting and emptying the journal does not duplicate rows.  Rows
 * are never reordered: while the journal holds rows, new ones join its end.
 *
 * Thread-safe.  Every call also accepts a NULL history (a database that could
 * not be opened) and fails with CD_ERR_IO, so a server running without its
 * database degrades to "not recorded" instead of crashing.
 */
#ifndef CATDOG_WEB_HISTORY_H
#define CATDOG_WEB_HISTORY_H

#include "core/error.h"

#define HISTORY_NO_FEEDBACK (-1)
#define HISTORY_SCHEMA_VERSION 2 /* PRAGMA user_version (SQLite) / catdog_schema (PostgreSQL) this catdog writes */

typedef struct history history;

typedef struct history_rec {
    long long id;          /* set by history_add */
    double time;           /* Unix time, seconds */
    char sha256[65];
    char file[129];        /* stored file name in the upload folder */
    char name[256];        /* the client's file name, sanitised */
    long long size;        /* bytes */
    int width, height;
    char model[32];        /* "binary", "transfer" */
    double p_dog;          /* the model's sigmoid output */
    int label;             /* 0 cat, 1 dog */
    double latency_ms;
    int feedback;          /* HISTORY_NO_FEEDBACK, 0 cat, 1 dog */
    double feedback_time;  /* 0 when none */
    char result[33];       /* the visitor's result id (result_id.h); "" for rows made before ids */
} history_rec;

typedef enum history_state {
    HISTORY_OFF,          /* no database (a NULL history) */
    HISTORY_OK,           /* the last attempt to reach the database worked */
    HISTORY_RECONNECTING  /* PostgreSQL unreachable: rows go to the spool (or fail) until it is back */
} history_state;

typedef struct history_options {
    int connections;       /* PostgreSQL: connections in the pool; 0 = 4.  Ignored by SQLite */
    const char *spool_dir; /* PostgreSQL: folder for the spool journal; NULL = none (adds fail while
                              the database is down).  Ignored by SQLite */
} history_options;

/* 1 when target is a PostgreSQL connection string (postgresql://, postgres://,
 * or libpq's "keyword=value ..." form starting with a libpq keyword), 0 when
 * it names an SQLite file. */
int history_target_is_pg(const char *target);

/* Opens (creating) the history at target and creates or migrates the schema.
 * SQLite: sets WAL + synchronous=FULL; NULL with err when the file cannot be
 * opened, is not a catdog history, or has a newer schema version than
 * HISTORY_SCHEMA_VERSION (CD_ERR_UNSUPPORTED; the file is left untouched).
 * PostgreSQL: NULL with err when the server holds a newer schema version
 * (the database is left untouched), or cannot be reached at open and there
 * is no spool_dir; with one, an unreachable server opens in state
 * HISTORY_RECONNECTING (rows are spooled; the first connection that gets
 * through migrates the schema).
 * opt may be NULL (defaults).  history_open(t, err) = history_open_with(t, NULL, err). */
history *history_open_with(const char *target, const history_options *opt, cd_err *err);
history *history_open(const char *target, cd_err *err);
void history_close(history *h);

/* "sqlite" or "postgresql" (NULL history: "off"). */
const char *history_backend(const history *h);

/* Whether rows reach the database (/healthz, catdog_history_up).  SQLite:
 * always HISTORY_OK.  PostgreSQL: the state every call learns as it reaches
 * (or fails to reach) the database, answered without a round trip while it is
 * at most 1 s old; older, one caller checks it with a "SELECT 1" (which also
 * reconnects and replays the spool when no upload comes) while the callers
 * arriving meanwhile get the last known state.  So polling costs the database
 * about one round trip per second at most, however often it comes. */
history_state history_get_state(history *h);

/* How well group commit groups (SQLite): the transactions that committed
 * rows and the rows they held, since history_open; rows / commits is the
 * average group.  PostgreSQL (a transaction per row) and a NULL history: both 0. */
typedef struct history_commit_stats {
    unsigned long long commits;
    unsigned long long rows;
} history_commit_stats;
history_commit_stats history_get_commit_stats(history *h);

/* Records where the photos live (meta key "upload_dir"), and reads it back
 * into out (out_size bytes; "" when never set). */
int history_set_meta(history *h, const char *key, const char *value, cd_err *err);
int history_get_meta(history *h, const char *key, char *out, size_t out_size, cd_err *err);

/* Appends a row; rec->id receives its id (0 when it went to the spool). */
int history_add(history *h, history_rec *rec, cd_err *err);

/* Number of rows. */
int history_count(history *h, long long *n, cd_err *err);

/* Newest first: up to `limit` rows starting `offset` rows from the newest. */
int history_list(history *h, long long offset, int limit, history_rec *out, int *n, cd_err *err);

/* One row by id (CD_ERR_NOTFOUND when absent). */
int history_get(history *h, long long id, history_rec *out, cd_err *err);

/* Sets the feedback of row id (0 cat, 1 dog, HISTORY_NO_FEEDBACK clears).
 * CD_ERR_NOTFOUND when there is no such row. */
int history_set_feedback(history *h, long long id, int label, cd_err *err);

/* Calls fn for every photo with feedback, newest feedback per sha256 only
 * (a later answer replaces an earlier one).  fn returns 0 to go on, non-zero to stop. */
typedef int (*history_each_fn)(const history_rec *r, void *ctx);
int history_each_feedback(history *h, history_each_fn fn, void *ctx, cd_err *err);

/* The rows of one visitor's result (one per model), oldest first: up to max
 * into out, *n of them (0 when the id is unknown). */
int history_by_result(history *h, const char *result, history_rec *out, int max, int *n, cd_err *err);

/* Retention: deletes every row older than `before` (Unix time) and calls fn
 * first with each stored file name that no newer row names (the caller removes
 * the photo and its thumbnail; fn's failures do not stop the deletion).
 * *removed receives the number of rows deleted. */
typedef void (*history_file_fn)(const char *file, void *ctx);
int history_expire(history *h, double before, history_file_fn fn, void *ctx, long long *removed, cd_err *err);

#endif
