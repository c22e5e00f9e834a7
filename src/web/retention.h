/*
 * retention.h - `--retention-days N`: photos and history rows older than N
 * days are deleted, once at start-up and then every hour while serving.
 *
 * A row goes with its photo and the photo's thumbnail, unless a newer row
 * still names the same photo (the same bytes sent again later).  The sweep
 * runs on its own thread, so no request waits for it; retention_stop wakes
 * that thread at once (a condition variable, not a sleep).
 */
#ifndef CATDOG_WEB_RETENTION_H
#define CATDOG_WEB_RETENTION_H

#include "core/error.h"
#include "web/history.h"
#include "web/store.h"

#define RETENTION_PERIOD_S 3600

typedef struct retention retention;

/* What one sweep did, for the log. */
typedef void (*retention_log_fn)(void *ctx, const char *line);

/* One sweep now: deletes rows older than days and their photos.  *rows and
 * *files receive the counts.  Returns 0 or -1 with err. */
int retention_sweep(history *h, store *st, int days, long long *rows, int *files, cd_err *err);

/* Starts the hourly sweeps (the first one an hour from now: the caller runs
 * retention_sweep at start-up itself, to report it).  h and st are borrowed
 * and must outlive retention_stop.  NULL with err. */
retention *retention_start(history *h, store *st, int days, retention_log_fn log, void *log_ctx, cd_err *err);

/* Stops the thread (waking it) and frees everything; NULL is fine. */
void retention_stop(retention *r);

#endif
