/*
 * server.h - what the server's own files share (not for outside use; the
 * public face is http_server.h): the server object, the per-request record,
 * the route table, and the response helpers every handler uses.
 *
 * Request life: server.c creates an http_req on the first callback, matches the
 * route, reads the body (bounded: the route decides the limit), calls the
 * route's handler once the body is complete, and on completion logs one line,
 * counts it in the metrics and frees the record.  A handler answers by calling
 * exactly one http_respond* function and returning its result.
 */
#ifndef CATDOG_WEB_SERVER_H
#define CATDOG_WEB_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "predict/predictor.h"
#include "web/auth.h"
#include "web/conn_watch.h"
#include "web/history.h"
#include "web/http_server.h"
#include "web/i18n.h"
#include "web/metrics.h"
#include "web/pool.h"
#include "web/registry.h"
#include "web/result_id.h"
#include "web/retention.h"
#include "web/store.h"
#include "web/strbuf.h"

#define SERVER_MAX_NOTES 12
#define SMALL_FORM_MAX (16 * 1024)       /* urlencoded forms: feedback, language */
#define MULTIPART_OVERHEAD (64 * 1024)   /* room for part headers and other fields */

typedef enum route_id {
    ROUTE_ROOT,
    ROUTE_TEMPLATE,
    ROUTE_TEMPLATE_UPLOAD,
    ROUTE_UPLOAD_FILE,
    ROUTE_ERROR,
    ROUTE_HISTORY,
    ROUTE_FEEDBACK,
    ROUTE_PHOTO,
    ROUTE_THUMB,
    ROUTE_STATIC,
    ROUTE_FAVICON,
    ROUTE_API_PREDICT,
    ROUTE_API_MODELS,
    ROUTE_API_HISTORY,
    ROUTE_HEALTHZ,      /* readiness: 200 only when this replica should get traffic */
    ROUTE_LIVEZ,        /* liveness: 200 while the process answers at all */
    ROUTE_METRICS,
    ROUTE_API_OPENAPI,
    ROUTE_TF_MODEL,     /* GET /v1/models/{name}[/metadata] (TF Serving's REST API) */
    ROUTE_TF_PREDICT,   /* POST /v1/models/{name}:predict */
    ROUTE_RESULT,       /* GET /result/{id}[/photo]: one visitor's result, by its random id */
    ROUTE_LOGIN,        /* GET /login: the admin login form */
    ROUTE_LOGIN_POST,   /* POST /login: sets the admin cookie */
    ROUTE_LOGOUT,       /* POST /logout: clears it */
    ROUTE_OTHER,   /* no such page (404) */
    ROUTE_COUNT
} route_id;

typedef enum body_kind {
    BODY_NONE,     /* GET-like: a body is not expected (a small one is read and ignored) */
    BODY_FORM,     /* small urlencoded form, up to SMALL_FORM_MAX */
    BODY_UPLOAD,   /* a photo: multipart or raw, up to max_upload (+ multipart overhead) */
    BODY_JSON      /* JSON holding base64 photos: up to max_upload once encoded (4/3) (+ overhead) */
} body_kind;

/* One listening daemon's identity, passed to libmicrohttpd's callbacks: the
 * public one, or the internal one of --metrics-listen (only /metrics and
 * /healthz, without a token). */
typedef struct http_listener {
    struct http_server *srv;
    int internal;
} http_listener;

/* What SIGHUP replaces (http_server_reload): the models, the pool that runs
 * them, and the admin token.  A request holds the generation it began with
 * until it completes, so a reload never takes a model from under a photo in
 * flight; the old generation is freed when its last request ends. */
typedef struct http_gen {
    registry *reg;
    pool *pool;
    auth *auth;          /* admin routes are off when it holds no token */
    atomic_int refs;     /* requests holding it, + 1 while it is the current one */
} http_gen;

struct http_server {
    http_config cfg;           /* strings point into the *_buf copies below */
    char host_buf[256], models_buf[1024], upload_buf[1024], db_buf[1024], assets_buf[1024], metrics_buf[300];
    struct MHD_Daemon *daemon;
    int port;
    struct MHD_Daemon *metrics_daemon; /* --metrics-listen; NULL when off */
    int metrics_port;
    http_listener pub, internal;
    retention *retention;      /* --retention-days sweeps; NULL when off */
    http_gen *gen;             /* the current generation (gen_lock) */
    pthread_mutex_t gen_lock;
    pool_opts pool_opts;       /* how each generation's pool is made */
    predictor_opts pred_opts;  /* how each generation's models are loaded */
    char weights_buf[1024], token_file_buf[1024];
    store *store;
    history *hist;             /* NULL when the database could not be opened: verdicts go out unrecorded */
    char hist_off[600];        /* why hist is NULL; "" when it is open */
    metrics *metrics;
    conn_watch *watch;         /* cuts off connections slow to send headers */
    struct trusted_proxies *trusted; /* whose X-Forwarded-For the log believes (client_addr.h) */
    int have_materialize;      /* node_modules/materialize-css found */
    size_t body_budget;        /* bytes of request bodies held at once, at most */
    atomic_size_t body_held;
    atomic_int in_flight;
    atomic_int stopping;
    atomic_int draining;       /* http_server_drain: /healthz says not ready, all else goes on */
    char notes[SERVER_MAX_NOTES][720]; /* the last one is scratch for libmicrohttpd's start-up error */
    int n_notes;
    /* The thread inside MHD_start_daemon, and whether it still is: only that
     * thread writes the start-up error note (MHD's own threads, already
     * running before MHD_start_daemon returns, must not; TSan found them
     * reading `daemon` while it was being assigned). */
    pthread_t starter;
    int starting;
};

typedef struct http_req http_req;
typedef enum MHD_Result (*http_handler)(http_req *r);

struct http_req {
    http_server *srv;
    http_gen *gen;             /* the models and token this request uses (held until it completes) */
    struct MHD_Connection *conn;
    const char *method;        /* borrowed from MHD */
    const char *url;           /* borrowed from MHD (path, already unescaped) */
    route_id route;
    const char *tail;          /* the part of the path after a prefix route ("/upload/<tail>") */
    int internal;              /* arrived on the --metrics-listen address */
    int admin_route;           /* the route needs the admin token */
    auth_how authed;           /* how the request proved the token (AUTH_NO: it did not) */
    http_handler handler;
    body_kind body_kind;
    double t_start;
    /* body */
    unsigned char *body;
    size_t body_len, body_cap, body_limit, body_reserved;
    size_t bytes_in;
    int has_body;              /* it declared a body (Content-Length > 0, or chunked) */
    int body_done;             /* the final callback came: the whole body was read */
    int body_too_large;        /* refused (or being drained) as over the limit */
    /* A refusal decided while the body was arriving: libmicrohttpd cannot answer
     * mid-body, so the rest is read and thrown away and this goes out at its end. */
    int later_status;          /* 0 = none */
    const char *later_code;
    char later_msg[160];
    /* response */
    int status;
    size_t bytes_out;
    int responded;
    i18n_lang lang;
    int set_lang_cookie;       /* 1 = send Set-Cookie: lang=... */
    const char *retry_after;   /* seconds, for 503 */
    const char *allow;         /* for 405 */
    const char *cache_control; /* NULL = no-store */
    const char *set_cookie;    /* a Set-Cookie header to send (the admin login), or NULL */
    char note[160];            /* appended to the log line (verdict, refusal reason) */
};

/* --- routes.c --- */
/* One row of the route table, as routes_list shows it (the OpenAPI test and
 * docs check every route is documented). */
typedef struct route_info {
    const char *method;
    const char *path;
    int prefix;
    int admin;    /* 1: needs the admin token */
} route_info;
/* The i-th route, or NULL past the last. */
const route_info *routes_list(int i);
/* Finds the route for method + path; *tail gets the rest of a prefix route.
 * Returns the handler (NULL for ROUTE_OTHER), sets *id, *body and *method_ok
 * (0 when the path exists but not for this method: answer 405 with *allow),
 * and *admin (1 when the route needs the admin token). */
http_handler routes_match(const char *method, const char *url, route_id *id, const char **tail, body_kind *body,
                          int *method_ok, const char **allow, int *admin);
const char *const *routes_metric_names(void);

/* --- response.c --- */
enum MHD_Result http_respond(http_req *r, int status, const char *content_type, const void *data, size_t len);
/* Sends b's bytes (a 500 when b failed) and frees b. */
enum MHD_Result http_respond_strbuf(http_req *r, int status, const char *content_type, strbuf *b);
/* Sends j as JSON and releases it (a 500 when it cannot be encoded). */
enum MHD_Result http_respond_json(http_req *r, int status, json_t *j);
/* {"error":{"code":..,"message":..}} with status. */
enum MHD_Result http_api_error(http_req *r, int status, const char *code, const char *message);
enum MHD_Result http_redirect(http_req *r, int status, const char *location);
const char *http_query(http_req *r, const char *key);
const char *http_header(http_req *r, const char *key);
/* Writes one line to the server log (thread-safe, no trailing newline needed). */
void http_log(http_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- handler files --- */
enum MHD_Result handle_root(http_req *r);
enum MHD_Result handle_template(http_req *r);
enum MHD_Result handle_template_upload(http_req *r);
enum MHD_Result handle_upload_file(http_req *r);
enum MHD_Result handle_error_page(http_req *r);
enum MHD_Result handle_history(http_req *r);
enum MHD_Result handle_feedback(http_req *r);
enum MHD_Result handle_photo(http_req *r);
enum MHD_Result handle_thumb(http_req *r);
enum MHD_Result handle_static(http_req *r);
enum MHD_Result handle_favicon(http_req *r);
enum MHD_Result handle_api_predict(http_req *r);
enum MHD_Result handle_api_models(http_req *r);
enum MHD_Result handle_api_history(http_req *r);
enum MHD_Result handle_healthz(http_req *r);
enum MHD_Result handle_livez(http_req *r);
enum MHD_Result handle_metrics(http_req *r);
enum MHD_Result handle_api_openapi(http_req *r);
enum MHD_Result handle_tf_model(http_req *r);
enum MHD_Result handle_tf_predict(http_req *r);
enum MHD_Result handle_not_found(http_req *r);
enum MHD_Result handle_result(http_req *r);
enum MHD_Result handle_login_page(http_req *r);
enum MHD_Result handle_login(http_req *r);
enum MHD_Result handle_logout(http_req *r);

/* --- handlers_files.c --- */
/* Answers with the stored photo `file` (404 when it is not there). */
enum MHD_Result http_respond_photo(http_req *r, const char *file);

/* --- handlers_admin.c --- */
/* 1 when a form posted to an admin route may act: authorised by Bearer, or by
 * the cookie with the right `csrf` field in the urlencoded body. */
int http_admin_form_ok(http_req *r);

/* A refused request of a page route: the help page with the reason and status.
 * For API routes use http_api_error. */
enum MHD_Result http_refuse_page(http_req *r, int status, const char *code, const char *detail);

#endif
