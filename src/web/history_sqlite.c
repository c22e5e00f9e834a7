/*
 * history_sqlite.c - the SQLite backend of the prediction history (history.h
 * says what it keeps and promises; history.c dispatches here for a --db that
 * names a file).
 *
 * Group commit: with synchronous=FULL every commit syncs the WAL (a few
 * milliseconds on a virtual disk), and one connection serializes them, so a
 * transaction per row capped the recorded uploads at one per sync whatever the
 * cores could classify.  history_add therefore queues its row and waits; the
 * first caller that finds no commit running becomes the committer: it takes
 * every row queued so far, inserts them in one transaction, commits (one WAL
 * sync for all) and wakes their callers.  Rows that arrive meanwhile queue up
 * for the next committer, one of their own callers.  Each caller still returns
 * only once its row is durable, alone it waits for nobody (no timer), and under
 * load the sync is shared by everyone who arrived during the previous one.  A
 * batch that cannot be committed whole (one row failing, say) is rolled back
 * and its rows are inserted one transaction each, so a row's failure is only
 * its own caller's.
 */
#include "web/history_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/clock.h"

/* How long a statement waits for another connection's lock before failing. */
#define BUSY_TIMEOUT_MS 5000

/* A row waiting for the group commit; lives on its history_add caller's stack. */
typedef struct sq_waiter {
    history_rec *rec;
    cd_err *err;
    int rc;
    int done; /* set, under commit_lock, once rc (and rec->id) are final */
    struct sq_waiter *next;
} sq_waiter;

typedef struct sqlite_history {
    sqlite3 *db;
    pthread_mutex_t lock;    /* the connection (db and insert) */
    sqlite3_stmt *insert;    /* the row insert, prepared once; under lock */
    pthread_mutex_t commit_lock; /* guards the queue and committing; never held while taking lock */
    pthread_cond_t committed;    /* broadcast when a committer finishes */
    sq_waiter *head, *tail;  /* rows queued for the next commit */
    int committing;          /* 1 while a committer runs */
    history_commit_stats stats; /* under commit_lock */
    int locks_made;          /* how many of lock, commit_lock, committed exist (for sq_close) */
    char path[256];
} sqlite_history;

/* The schema's history, one migration per version: MIGRATIONS[v] takes a
 * database at user_version v to v + 1, and HISTORY_SCHEMA_VERSION is where
 * they end.  Never edit a migration that has shipped; add the next one.
 *
 * 0 -> 1: catdog before versioning created these tables without stamping a
 * version, so a version-0 file is either new (empty) or that unversioned
 * layout, and the same IF NOT EXISTS statements serve both; the columns are
 * then checked by check_layout, so a version-0 file of some other program's
 * making is refused instead of failing every insert later. */
static const char *const MIGRATIONS[HISTORY_SCHEMA_VERSION] = {
    "CREATE TABLE IF NOT EXISTS predictions("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time REAL NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " file TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " width INTEGER NOT NULL,"
    " height INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " p_dog REAL NOT NULL,"
    " label TEXT NOT NULL CHECK (label IN ('cat','dog')),"
    " latency_ms REAL NOT NULL,"
    " feedback TEXT CHECK (feedback IN ('cat','dog')),"
    " feedback_time REAL);"
    "CREATE INDEX IF NOT EXISTS predictions_sha256 ON predictions(sha256);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 1 -> 2: the random result id a visitor's page is addressed by (NULL
     * for rows made before it, which only the admin pages show). */
    "ALTER TABLE predictions ADD COLUMN result TEXT;"
    "CREATE INDEX IF NOT EXISTS predictions_result ON predictions(result);"
    "CREATE INDEX IF NOT EXISTS predictions_time ON predictions(time);",
};

static const char COLUMNS[] = "id, time, sha256, file, name, size, width, height, model, p_dog, label,"
                              " latency_ms, feedback, feedback_time, result";

static int db_fail(sqlite_history *h, cd_err *err, const char *what)
{
    return cd_err_set(err, CD_ERR_BACKEND, "database %s: %s: %s", h->path, what, sqlite3_errmsg(h->db));
}

/* Switching a new file to WAL takes an exclusive lock, and SQLite answers
 * SQLITE_BUSY at once there, without waiting in the busy handler, when another
 * connection opening the same file holds a shared lock at that moment (waiting
 * could deadlock).  Several processes starting together on one new file hit it
 * (test_history_backends' concurrent opens failed "database is locked" on a
 * busy machine), so the statement is retried, for as long as the busy timeout. */
static int exec_while_busy(sqlite3 *db, const char *sql, char **msg)
{
    double until = cd_monotonic_s() + BUSY_TIMEOUT_MS / 1000.0;
    for (;;) {
        int rc = sqlite3_exec(db, sql, NULL, NULL, msg);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || cd_monotonic_s() >= until)
            return rc;
        sqlite3_free(*msg);
        *msg = NULL;
        usleep(5 * 1000);
    }
}

/* *version receives the file's PRAGMA user_version (0 for a new file). */
static int read_version(sqlite_history *h, int *version, cd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        db_fail(h, err, "reading the schema version");
    }
    sqlite3_finalize(st);
    return rc;
}

static int refuse_newer(sqlite_history *h, int version, cd_err *err)
{
    return cd_err_set(err, CD_ERR_UNSUPPORTED,
                      "database %s has schema version %d, but this catdog knows versions up to %d: it was "
                      "written by a newer catdog; run that newer catdog, or give this one another --db file "
                      "(the file was left untouched)",
                      h->path, version, HISTORY_SCHEMA_VERSION);
}

/* Brings the file from `version` to HISTORY_SCHEMA_VERSION in one IMMEDIATE
 * transaction (the write lock first, so two processes opening the same old
 * file cannot both migrate it; the version is read again under the lock).  A
 * crash or an error part-way leaves the file at its old version, whole. */
static int migrate(sqlite_history *h, cd_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        cd_err_set(err, CD_ERR_BACKEND, "database %s: starting the schema migration: %s", h->path,
                   msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        return -1;
    }
    int version = 0;
    if (read_version(h, &version, err) != 0)
        goto rollback;
    if (version > HISTORY_SCHEMA_VERSION) {
        refuse_newer(h, version, err);
        goto rollback;
    }
    for (int v = version; v < HISTORY_SCHEMA_VERSION; v++)
        if (sqlite3_exec(h->db, MIGRATIONS[v], NULL, NULL, &msg) != SQLITE_OK) {
            cd_err_set(err, CD_ERR_BACKEND,
                       "database %s: migrating the schema from version %d to %d failed: %s (a file that is not a "
                       "catdog history cannot be migrated; give another --db file)",
                       h->path, v, v + 1, msg ? msg : sqlite3_errmsg(h->db));
            sqlite3_free(msg);
            goto rollback;
        }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", HISTORY_SCHEMA_VERSION);
    if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        cd_err_set(err, CD_ERR_BACKEND, "database %s: finishing the schema migration: %s", h->path,
                   msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        goto rollback;
    }
    return 0;
rollback:
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Every column and table this file reads, present: preparing a query that
 * names them all fails on the first one missing. */
static int check_layout(sqlite_history *h, cd_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM predictions LIMIT 0", COLUMNS);
    const char *const queries[] = {sql, "SELECT key, value FROM meta LIMIT 0"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(h->db, queries[i], -1, &st, NULL);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
            return cd_err_set(err, CD_ERR_FORMAT,
                              "database %s is not a catdog history of schema version %d (%s); give another "
                              "--db file",
                              h->path, HISTORY_SCHEMA_VERSION, sqlite3_errmsg(h->db));
    }
    return 0;
}

static void sq_close(void *b);

void *history_sqlite_open(const char *path, cd_err *err)
{
    sqlite_history *h = calloc(1, sizeof *h);
    if (!h) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory opening %s", path);
        return NULL;
    }
    snprintf(h->path, sizeof h->path, "%s", path);
    if (pthread_mutex_init(&h->lock, NULL) == 0) {
        h->locks_made = 1;
        if (pthread_mutex_init(&h->commit_lock, NULL) == 0) {
            h->locks_made = 2;
            if (pthread_cond_init(&h->committed, NULL) == 0)
                h->locks_made = 3;
        }
    }
    if (h->locks_made < 3) {
        cd_err_set(err, CD_ERR_NOMEM, "cannot create a mutex for %s", path);
        sq_close(h);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        cd_err_set(err, CD_ERR_BACKEND, "cannot open database %s: %s", path,
                   h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
        sq_close(h);
        return NULL;
    }
    sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
    /* A file from a newer catdog is refused before anything is written to it
     * (not even the journal mode), so that catdog still finds it as it left it. */
    int version = 0;
    if (read_version(h, &version, err) != 0 ||
        (version > HISTORY_SCHEMA_VERSION && refuse_newer(h, version, err) != 0)) {
        sq_close(h);
        return NULL;
    }
    char *msg = NULL;
    /* journal_mode returns a row; exec ignores it.  A database that cannot switch
     * to WAL (read-only, unsupported filesystem) still works in its current mode.
     *
     * synchronous=FULL: a prediction is acknowledged to the client only after
     * history_add returns, so its row must then survive a power loss, not just
     * a killed process.  In WAL mode NORMAL syncs the WAL only at checkpoints,
     * so a power cut can roll back up to a checkpoint's worth (1000 pages) of
     * acknowledged rows; FULL syncs the WAL at every commit (one fsync per
     * insert, measured in docs/SECURITY.md "Durable acknowledgements").
     * Checkpoints stay automatic: they copy rows that are already durable. */
    if (exec_while_busy(h->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", &msg) != SQLITE_OK) {
        cd_err_set(err, CD_ERR_BACKEND, "database %s: %s", path, msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        sq_close(h);
        return NULL;
    }
    if ((version < HISTORY_SCHEMA_VERSION && migrate(h, err) != 0) || check_layout(h, err) != 0) {
        sq_close(h);
        return NULL;
    }
    if (sqlite3_prepare_v3(h->db,
                           "INSERT INTO predictions(time, sha256, file, name, size, width, height, model, p_dog,"
                           " label, latency_ms, result) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &h->insert, NULL) != SQLITE_OK) {
        db_fail(h, err, "preparing insert");
        sq_close(h);
        return NULL;
    }
    return h;
}

static void sq_close(void *b)
{
    sqlite_history *h = b;
    if (!h)
        return;
    assert(!h->head && !h->committing); /* the caller let every history_add return first */
    sqlite3_finalize(h->insert);
    if (h->db)
        sqlite3_close_v2(h->db);
    if (h->locks_made >= 1)
        pthread_mutex_destroy(&h->lock);
    if (h->locks_made >= 2)
        pthread_mutex_destroy(&h->commit_lock);
    if (h->locks_made >= 3)
        pthread_cond_destroy(&h->committed);
    free(h);
}

static int sq_set_meta(void *b, const char *key, const char *value, cd_err *err)
{
    sqlite_history *h = b;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        db_fail(h, err, "writing meta");
    else
        rc = 0;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static int sq_get_meta(void *b, const char *key, char *out, size_t out_size, cd_err *err)
{
    sqlite_history *h = b;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    out[0] = '\0';
    if (sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_fail(h, err, "reading meta");
    } else {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            const unsigned char *v = sqlite3_column_text(st, 0);
            snprintf(out, out_size, "%s", v ? (const char *)v : "");
            rc = 0;
        } else if (s == SQLITE_DONE) {
            rc = 0;
        } else {
            db_fail(h, err, "reading meta");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Under h->lock: inserts rec with the prepared statement (in whatever
 * transaction is open, or its own); rec->id receives its id. */
static int insert_row(sqlite_history *h, history_rec *rec, cd_err *err)
{
    sqlite3_stmt *st = h->insert;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int rc = -1;
    if (sqlite3_bind_double(st, 1, rec->time) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, rec->sha256, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, rec->file, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, rec->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, rec->size) != SQLITE_OK || sqlite3_bind_int(st, 6, rec->width) != SQLITE_OK ||
        sqlite3_bind_int(st, 7, rec->height) != SQLITE_OK ||
        sqlite3_bind_text(st, 8, rec->model, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_double(st, 9, rec->p_dog) != SQLITE_OK ||
        sqlite3_bind_text(st, 10, rec->label ? "dog" : "cat", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_double(st, 11, rec->latency_ms) != SQLITE_OK ||
        (rec->result[0] ? sqlite3_bind_text(st, 12, rec->result, -1, SQLITE_STATIC)
                        : sqlite3_bind_null(st, 12)) != SQLITE_OK) {
        db_fail(h, err, "binding insert");
    } else if (sqlite3_step(st) != SQLITE_DONE) {
        db_fail(h, err, "inserting a prediction");
    } else {
        rec->id = sqlite3_last_insert_rowid(h->db);
        rc = 0;
    }
    /* Unbind: the bound texts are the caller's, who may return before the next row. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Under h->lock: rows first..(end of list) in one transaction, one WAL sync
 * for all.  Returns 0 when all are durable; -1 when the transaction did not
 * commit (it is rolled back, and none of the rows is in). */
static int insert_together(sqlite_history *h, sq_waiter *first)
{
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    for (sq_waiter *w = first; w; w = w->next)
        if (insert_row(h, w->rec, w->err) != 0)
            goto rollback;
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
rollback:
    if (!sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* The committer's work: the rows of `first` (a list taken off the queue) made
 * durable together, or, when that fails, each in its own transaction so that
 * every row gets its own outcome (rc, err, rec->id).  *done counts the
 * transactions that committed rows and those rows. */
static void commit_rows(sqlite_history *h, sq_waiter *first, history_commit_stats *done)
{
    pthread_mutex_lock(&h->lock);
    if (first->next && insert_together(h, first) == 0) {
        done->commits++;
        for (sq_waiter *w = first; w; w = w->next) {
            w->rc = 0;
            done->rows++;
        }
    } else {
        for (sq_waiter *w = first; w; w = w->next) {
            w->rec->id = 0;
            w->rc = insert_row(h, w->rec, w->err);
            if (w->rc == 0) {
                done->commits++;
                done->rows++;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
}

static int sq_add(void *b, history_rec *rec, cd_err *err)
{
    sqlite_history *h = b;
    sq_waiter me = {.rec = rec, .err = err, .rc = -1};
    pthread_mutex_lock(&h->commit_lock);
    if (h->tail)
        h->tail->next = &me;
    else
        h->head = &me;
    h->tail = &me;
    while (!me.done && h->committing)
        pthread_cond_wait(&h->committed, &h->commit_lock);
    if (!me.done) {
        /* No commit running and this row still queued: commit the queue. */
        sq_waiter *first = h->head;
        h->head = h->tail = NULL;
        h->committing = 1;
        pthread_mutex_unlock(&h->commit_lock);
        history_commit_stats done = {0, 0};
        commit_rows(h, first, &done);
        pthread_mutex_lock(&h->commit_lock);
        h->stats.commits += done.commits;
        h->stats.rows += done.rows;
        /* The waiters read done (and then rc, err, rec->id) under commit_lock,
         * so their frames stay valid until it is released. */
        for (sq_waiter *w = first; w; w = w->next)
            w->done = 1;
        h->committing = 0;
        pthread_cond_broadcast(&h->committed);
    }
    pthread_mutex_unlock(&h->commit_lock);
    return me.rc;
}

static int sq_count(void *b, long long *n, cd_err *err)
{
    sqlite_history *h = b;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, "SELECT COUNT(*) FROM predictions", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        db_fail(h, err, "counting predictions");
    } else {
        *n = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static void copy_text(char *out, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", v ? (const char *)v : "");
}

static void read_row(sqlite3_stmt *st, history_rec *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->time = sqlite3_column_double(st, 1);
    copy_text(r->sha256, sizeof r->sha256, st, 2);
    copy_text(r->file, sizeof r->file, st, 3);
    copy_text(r->name, sizeof r->name, st, 4);
    r->size = sqlite3_column_int64(st, 5);
    r->width = sqlite3_column_int(st, 6);
    r->height = sqlite3_column_int(st, 7);
    copy_text(r->model, sizeof r->model, st, 8);
    r->p_dog = sqlite3_column_double(st, 9);
    const unsigned char *label = sqlite3_column_text(st, 10);
    r->label = label && strcmp((const char *)label, "dog") == 0;
    r->latency_ms = sqlite3_column_double(st, 11);
    const unsigned char *fb = sqlite3_column_text(st, 12);
    r->feedback = !fb ? HISTORY_NO_FEEDBACK : strcmp((const char *)fb, "dog") == 0 ? 1 : 0;
    r->feedback_time = sqlite3_column_double(st, 13);
    copy_text(r->result, sizeof r->result, st, 14);
}
/* The shared loop of list and by_result: runs sql (already bound by bind)
 * and reads up to max rows into out, *n of them. */
static int query_rows(sqlite_history *h, const char *sql, int (*bind)(sqlite3_stmt *, const void *),
                      const void *args, history_rec *out, int max, int *n, const char *what, cd_err *err)
{
    *n = 0;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK || bind(st, args) != 0) {
        db_fail(h, err, what);
        goto out;
    }
    int s = SQLITE_DONE;
    while (*n < max && (s = sqlite3_step(st)) == SQLITE_ROW)
        read_row(st, &out[(*n)++]);
    if (*n < max && s != SQLITE_DONE) {
        db_fail(h, err, what);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

typedef struct page_args {
    long long offset;
    int limit;
} page_args;

static int bind_page(sqlite3_stmt *st, const void *args)
{
    const page_args *a = args;
    return sqlite3_bind_int(st, 1, a->limit) == SQLITE_OK && sqlite3_bind_int64(st, 2, a->offset) == SQLITE_OK ? 0 : -1;
}

static int sq_list(void *b, long long offset, int limit, history_rec *out, int *n, cd_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM predictions ORDER BY id DESC LIMIT ? OFFSET ?", COLUMNS);
    page_args a = {offset, limit};
    return query_rows(b, sql, bind_page, &a, out, limit, n, "listing predictions", err);
}

typedef struct result_args {
    const char *result;
    int max;
} result_args;

static int bind_result(sqlite3_stmt *st, const void *args)
{
    const result_args *a = args;
    return sqlite3_bind_text(st, 1, a->result, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
                   sqlite3_bind_int(st, 2, a->max) == SQLITE_OK
               ? 0
               : -1;
}

static int sq_get(void *b, long long id, history_rec *out, cd_err *err)
{
    sqlite_history *h = b;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM predictions WHERE id = ?", COLUMNS);
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
        db_fail(h, err, "reading a prediction");
    } else {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            read_row(st, out);
            rc = 0;
        } else if (s == SQLITE_DONE) {
            cd_err_set(err, CD_ERR_NOTFOUND, "no prediction %lld", id);
        } else {
            db_fail(h, err, "reading a prediction");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static int sq_set_feedback(void *b, long long id, int label, cd_err *err)
{
    sqlite_history *h = b;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    int ok = sqlite3_prepare_v2(h->db,
                                "UPDATE predictions SET feedback = ?, feedback_time = "
                                "CASE WHEN ? IS NULL THEN NULL ELSE (julianday('now') - 2440587.5) * 86400.0 END "
                                "WHERE id = ?",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        if (label == HISTORY_NO_FEEDBACK)
            ok = sqlite3_bind_null(st, 1) == SQLITE_OK && sqlite3_bind_null(st, 2) == SQLITE_OK;
        else
            ok = sqlite3_bind_text(st, 1, label ? "dog" : "cat", -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_int(st, 2, 1) == SQLITE_OK;
        ok = ok && sqlite3_bind_int64(st, 3, id) == SQLITE_OK;
    }
    if (!ok || sqlite3_step(st) != SQLITE_DONE) {
        db_fail(h, err, "storing feedback");
    } else if (sqlite3_changes(h->db) == 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "no prediction %lld", id);
    } else {
        rc = 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static int sq_each_feedback(void *b, history_each_fn fn, void *ctx, cd_err *err)
{
    sqlite_history *h = b;
    char sql[640];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM predictions p WHERE feedback IS NOT NULL AND id = ("
             " SELECT q.id FROM predictions q WHERE q.sha256 = p.sha256 AND q.feedback IS NOT NULL"
             " ORDER BY q.feedback_time DESC, q.id DESC LIMIT 1) ORDER BY id",
             COLUMNS);
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(h, err, "listing feedback");
        goto out;
    }
    int s = SQLITE_DONE;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        history_rec r;
        read_row(st, &r);
        if (fn(&r, ctx) != 0) {
            s = SQLITE_DONE;
            break;
        }
    }
    if (s != SQLITE_DONE) {
        db_fail(h, err, "listing feedback");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static int sq_by_result(void *b, const char *result, history_rec *out, int max, int *n, cd_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM predictions WHERE result = ? ORDER BY id LIMIT ?", COLUMNS);
    result_args a = {result, max};
    return query_rows(b, sql, bind_result, &a, out, max, n, "reading a result", err);
}

/* Rows older than `before` go in one transaction; the files only they named
 * are listed first (a photo sent again later is still named by a newer row
 * and stays). */
static int sq_expire(void *b, double before, history_file_fn fn, void *ctx, long long *removed, cd_err *err)
{
    sqlite_history *h = b;
    *removed = 0;
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(h, err, "starting the retention clean-up");
        goto out;
    }
    if (sqlite3_prepare_v2(h->db,
                           "SELECT DISTINCT file FROM predictions WHERE time < ?1 AND file <> '' AND file NOT IN"
                           " (SELECT file FROM predictions WHERE time >= ?1)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_double(st, 1, before) != SQLITE_OK) {
        db_fail(h, err, "listing expired photos");
        goto rollback;
    }
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *file = sqlite3_column_text(st, 0);
        if (file)
            fn((const char *)file, ctx);
    }
    if (s != SQLITE_DONE) {
        db_fail(h, err, "listing expired photos");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(h->db, "DELETE FROM predictions WHERE time < ?", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_double(st, 1, before) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        db_fail(h, err, "deleting expired rows");
        goto rollback;
    }
    *removed = sqlite3_changes(h->db);
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(h, err, "finishing the retention clean-up");
        goto rollback;
    }
    rc = 0;
    goto out;
rollback:
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static void sq_commit_stats(void *b, history_commit_stats *out)
{
    sqlite_history *h = b;
    pthread_mutex_lock(&h->commit_lock);
    *out = h->stats;
    pthread_mutex_unlock(&h->commit_lock);
}

static history_state sq_state(void *b)
{
    (void)b;
    return HISTORY_OK;
}

const history_ops history_sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .state = sq_state,
    .commit_stats = sq_commit_stats,
    .set_meta = sq_set_meta,
    .get_meta = sq_get_meta,
    .add = sq_add,
    .count = sq_count,
    .list = sq_list,
    .get = sq_get,
    .set_feedback = sq_set_feedback,
    .each_feedback = sq_each_feedback,
    .by_result = sq_by_result,
    .expire = sq_expire,
};
