/*
 * history.h - every prediction the service made, in SQLite (WAL mode).
 *
 * One row per prediction: when, which photo (sha256 and stored file name),
 * the client's original name (sanitised), size in bytes and pixels, which model,
 * P(dog), the verdict, how long it took, and the user's feedback ("actually a
 * cat / dog") when given.  The database survives restarts; WAL keeps readers
 * (the history page) from blocking the writer, and synchronous=FULL makes a
 * row durable (through a power loss, not only a killed process) before
 * history_add returns, so the service acknowledges only what it has kept.
 *
 * The file carries its schema version in PRAGMA user_version.  history_open
 * migrates an older file (0 = the unversioned layout of catdog before
 * versioning) to HISTORY_SCHEMA_VERSION, keeping its rows, and refuses a file
 * from a newer catdog (naming both versions) without writing to it.
 *
 * The `meta` table remembers the upload folder, so `catdog export-feedback`
 * finds the photos without being told where they are.
 *
 * Thread-safe: one connection guarded by a mutex (SQLite's writes serialize
 * anyway).  history_close finalizes everything and closes the connection.
 * Every call also accepts a NULL history (a database that could not be
 * opened) and fails with CD_ERR_IO, so a server running without its
 * database degrades to "not recorded" instead of crashing.
 */
#ifndef CATDOG_WEB_HISTORY_H
#define CATDOG_WEB_HISTORY_H

#include "core/error.h"

#define HISTORY_NO_FEEDBACK (-1)
#define HISTORY_SCHEMA_VERSION 2 /* PRAGMA user_version this catdog writes */

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

/* Opens (creating) the database at path, sets WAL + synchronous=FULL, and
 * creates or migrates the schema.  NULL with err when the file cannot be
 * opened, is not a catdog history, or has a newer schema version than
 * HISTORY_SCHEMA_VERSION (CD_ERR_UNSUPPORTED; the file is left untouched). */
history *history_open(const char *path, cd_err *err);
void history_close(history *h);

/* Records where the photos live (meta key "upload_dir"), and reads it back
 * into out (out_size bytes; "" when never set). */
int history_set_meta(history *h, const char *key, const char *value, cd_err *err);
int history_get_meta(history *h, const char *key, char *out, size_t out_size, cd_err *err);

/* Appends a row; rec->id receives its id. */
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
