/*
 * http_server.h - `catdog serve`: the web page, the JSON API and the history,
 * on libmicrohttpd.
 *
 * Start-up loads the models once (registry.h: whatever loads is served; it
 * fails only when no model loads), opens the upload folder
 * (store.h) and the history database (history.h), starts the inference pool
 * (pool.h) and then listens.  Connections get a thread each (bounded by
 * max_connections; idle ones dropped after timeout_s; one that has not sent a
 * request's headers within timeout_s cut off (conn_watch.h); a request still
 * sending its body after request_timeout_s cut off); photos go through the
 * inference pool, which batches what arrives together and admits a photo
 * while its expected wait is under max_wait_s, so overload answers 503 +
 * Retry-After (pool.h).  A history
 * database that cannot be opened does not stop the start-up: verdicts are
 * served unrecorded, /healthz (readiness) answers 503 "no_database" with
 * "history": "off" (/livez, liveness, still 200), /metrics has
 * catdog_history_up 0, and the history routes answer 503 db_unavailable.
 * A PostgreSQL history (db_path postgresql://...) that is unreachable, at
 * start-up or later, keeps the verdicts' rows in a spool in upload_dir until
 * it answers; meanwhile /healthz says "reconnecting" (history.h).
 *
 * Routes (see routes.c):  GET / -> /template, GET /template, POST /template/upload,
 * GET /upload/<file>, GET /error, GET /history, POST /history/<id>/feedback,
 * GET /photos/<file>, GET /thumbs/<file>, GET /static/..., POST /api/v1/predict,
 * GET /api/v1/models, GET /api/v1/history, GET /api/v1/openapi.json, GET /healthz, GET /livez,
 * GET /metrics, and TF Serving's REST API: GET /v1/models/{name}[/metadata],
 * POST /v1/models/{name}:predict, GET /result/{id}[/photo], GET+POST /login,
 * POST /logout.  docs/API.md documents them all.
 *
 * Access: visitors classify photos and see their own result at /result/{id}
 * (a random 128-bit id, result_id.h).  Everything about other visitors (the
 * history, stored photos and thumbnails, feedback, classifying a stored file)
 * and /metrics need the admin token (auth.h); without one configured those
 * routes are off (403).  With metrics_listen, /metrics, /healthz and /livez are also
 * served on that internal address without a token, and /metrics leaves the
 * public port.
 *
 * The server writes one line per request (and errors with their cause) to
 * cfg->log; it never prints anywhere else.  Start-up remarks a user should see
 * (a model that is off or replaced by its built-in copy and why, the history
 * being off, missing front-end assets) are returned by
 * http_server_notes for the caller to print.
 */
#ifndef CATDOG_WEB_HTTP_SERVER_H
#define CATDOG_WEB_HTTP_SERVER_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"
#include "engine/runner.h"
#include "web/registry.h"

#define HTTP_DEFAULT_MAX_UPLOAD (16u * 1024 * 1024)
#define HTTP_DEFAULT_MAX_BATCH_PHOTOS 16

typedef struct http_config {
    const char *host;          /* address to bind; "127.0.0.1" when NULL */
    int port;                  /* 0 = any free port (see http_server_port) */
    const char *models_dir;    /* NULL: ./models, else <prefix>/share/catdog/models beside an installed program */
    const char *weights;       /* transfer model's backbone weights file; NULL = searched for */
    const char *upload_dir;    /* "saveimages" when NULL */
    const char *db_path;       /* SQLite file or PostgreSQL connection string (history.h); "catdog.db" when NULL */
    const char *assets_dir;    /* folder holding web/static and node_modules; NULL = look for it (., the
                                  installed <prefix>/share/catdog, the source tree) */
    size_t max_upload;         /* largest photo (and request body) in bytes; 0 = 16 MiB */
    int max_batch_photos;      /* photos in one API request (multipart or TF :predict); 0 = 16 */
    long max_pixels;           /* largest photo in pixels; 0 = the image decoder's default */
    int threads;               /* inference workers; 0 = one per core */
    runner_backend backend;    /* RUNNER_DNNL (default) or RUNNER_REF */
    runner_precision precision; /* RUNNER_PREC_AUTO (default): int8 models/<name>.int8.h5 when present */
    int img_size;               /* H = W of ONNX models whose H/W are dynamic; 0 = refuse them */
    int queue;                 /* photos allowed to wait at once; 0 = max_connections (no limit of its own) */
    int max_batch;             /* largest batch per forward pass, a power of two; 0 = 2 (pool.h) */
    double batch_timeout_s;    /* how long a batch may wait to fill; 0 = 1 ms, < 0 = never wait */
    double max_wait_s;         /* expected wait beyond which uploads get 503; 0 = 2 s */
    int max_connections;       /* 0 = 256 */
    int timeout_s;             /* idle timeout, and time allowed for a request's headers; 0 = 30 s */
    int request_timeout_s;     /* longest a request may take to arrive; 0 = 120 s */
    const char *trusted_proxies; /* addresses/blocks whose X-Forwarded-For names the client in the
                                    log ("10.0.0.0/8,::1"); NULL = trust none (client_addr.h) */
    FILE *log;                 /* request log; NULL = none */
    const char *admin_token_file; /* file holding the admin token (auth.h); wins over admin_token */
    const char *admin_token;   /* the admin token itself (CATDOG_ADMIN_TOKEN); NULL + no file = admin pages off */
    const char *metrics_listen; /* "ADDR:PORT" serving /metrics and /healthz only; NULL = /metrics on the
                                  public port, for the admin */
    int no_store;              /* 1 = keep no photo (nor thumbnail); the history rows are still recorded */
    int tta;                   /* 1 = every model averages P(dog) of the photo and its mirror (--tta) */
    int retention_days;        /* > 0: delete photos and rows older than this, at start and hourly */
    registry_embedded_fn embedded; /* built-in copy of models/binary.h5, or NULL */
} http_config;

typedef struct http_server http_server;

/* Loads, opens and listens.  NULL with err (naming the file or address at fault). */
http_server *http_server_start(const http_config *cfg, cd_err *err);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);

/* SIGHUP: loads the model folder and the admin token file again and swaps
 * them in.  Requests in flight finish with what they started with (nothing
 * is dropped); the old models are freed after the last of them.  When the
 * new folder loses a model that is served now (a broken or missing file), or
 * the token file is unreadable or too short, nothing changes.  report
 * (size bytes) receives one line saying what happened, also logged.
 * Returns 0 when swapped, -1 when refused. */
int http_server_reload(http_server *s, char *report, size_t size);

/* The --metrics-listen port actually bound; 0 when off. */
int http_server_metrics_port(const http_server *s);

/* Start-up remarks, one line each (NULL after the last). Borrowed. */
const char *http_server_note(const http_server *s, int i);

/* The loaded models at start-up (borrowed; a reload replaces them). */
const registry *http_server_models(const http_server *s);

/* Starts draining (SIGTERM with --drain): everything keeps being served, but
 * /healthz answers 503 "draining" so a balancer polling it sends no more.
 * http_server_stop follows. */
void http_server_drain(http_server *s);

/* Graceful stop: stop accepting, let requests in flight finish (waiting at most
 * grace_s seconds), stop the workers, close the database, free everything. */
void http_server_stop(http_server *s, int grace_s);

#endif
