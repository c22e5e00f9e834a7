/*
 * server.c - the libmicrohttpd daemon: start-up, the request life cycle
 * (route, bounded body, handler, log line, metrics) and graceful stop.
 * See http_server.h for the public contract and server.h for the pieces.
 *
 * Threading: MHD runs one thread per connection (bounded by the connection
 * limit).  A handler may block while its photo waits in the inference queue;
 * that only holds its own connection.  Request bodies are held in memory up to
 * the route's limit, and all bodies together up to body_budget, beyond which
 * new uploads get 503.  An answer given before the body is read is followed by
 * a lingering close (linger.h), so the client always gets to read it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "web/client_addr.h"
#include "web/linger.h"
#include "web/server.h"

/* Copies src (or dflt when src is NULL) into buf and returns buf. */
static const char *keep(char *buf, size_t size, const char *src, const char *dflt)
{
    snprintf(buf, size, "%s", src ? src : dflt);
    return buf;
}

static void add_note(http_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(http_server *s, const char *fmt, ...)
{
    if (s->n_notes >= SERVER_MAX_NOTES - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->notes[s->n_notes++], sizeof s->notes[0], fmt, ap);
    va_end(ap);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* <prefix>/share/catdog for a program installed as <prefix>/bin/catdog (make
 * install puts the web assets and the models there), found from the program's
 * own path so an installed copy works from any folder.  0 when it exists. */
static int installed_share(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    char joined[PATH_MAX + 32];
    snprintf(joined, sizeof joined, "%s/../share/catdog", exe);
    char *real = realpath(joined, NULL); /* names it without "bin/..", as the notes show it */
    if (!real)
        return -1;
    int w = snprintf(out, size, "%s", real);
    free(real);
    return w > 0 && (size_t)w < size && is_dir(out) ? 0 : -1;
}

/* The folder holding web/static and node_modules: the configured one, the
 * working directory when it has them, the installed share folder next to the
 * program, else the source tree the program was built from. */
static void find_assets(http_server *s, const char *configured)
{
    char probe[1200], share[1024];
    if (configured) {
        keep(s->assets_buf, sizeof s->assets_buf, configured, ".");
    } else if (is_dir("web/static")) {
        keep(s->assets_buf, sizeof s->assets_buf, ".", ".");
    } else if (installed_share(share, sizeof share) == 0 &&
               snprintf(probe, sizeof probe, "%s/web/static", share) > 0 && is_dir(probe)) {
        keep(s->assets_buf, sizeof s->assets_buf, share, ".");
    } else {
        keep(s->assets_buf, sizeof s->assets_buf, CATDOG_SOURCE_DIR, ".");
    }
    s->cfg.assets_dir = s->assets_buf;
    snprintf(probe, sizeof probe, "%s/node_modules/materialize-css/dist/css", s->assets_buf);
    s->have_materialize = is_dir(probe);
    if (!s->have_materialize)
        add_note(s, "MaterializeCSS not found in %s/node_modules (run `npm install`); pages use plain styles",
                 s->assets_buf);
    snprintf(probe, sizeof probe, "%s/web/static", s->assets_buf);
    if (!is_dir(probe))
        add_note(s, "%s not found; pages are served without their own styles and scripts", probe);
}

/* ---- generations: what a reload swaps ---- */

static void gen_free(http_gen *g)
{
    if (!g)
        return;
    pool_free(g->pool); /* first: its workers use the registry's models */
    registry_free(g->reg);
    auth_free(g->auth);
    free(g);
}

/* The current generation, held (one more reference) until gen_release. */
static http_gen *gen_acquire(http_server *s)
{
    pthread_mutex_lock(&s->gen_lock);
    http_gen *g = s->gen;
    if (g)
        atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&s->gen_lock);
    return g;
}

/* Drops a reference; the last one frees the generation (a replaced one, once
 * its last request is answered). */
static void gen_release(http_gen *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        gen_free(g);
}

/* ---- the request life cycle ---- */

static void pick_language(http_req *r)
{
    int q = i18n_parse(http_query(r, "lang"));
    if (q >= 0) {
        r->lang = (i18n_lang)q;
        r->set_lang_cookie = 1;
        return;
    }
    int c = i18n_parse(MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "lang"));
    r->lang = c >= 0 ? (i18n_lang)c : i18n_from_accept(http_header(r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
}

static int is_api(const http_req *r)
{
    return r->internal || r->route == ROUTE_API_PREDICT || r->route == ROUTE_API_MODELS || r->route == ROUTE_API_HISTORY ||
           r->route == ROUTE_HEALTHZ || r->route == ROUTE_LIVEZ || r->route == ROUTE_METRICS || r->route == ROUTE_API_OPENAPI ||
           r->route == ROUTE_TF_MODEL || r->route == ROUTE_TF_PREDICT;
}

/* Refuses in the route's own language: JSON for the API, the help page otherwise. */
static enum MHD_Result refuse(http_req *r, int status, const char *code, const char *message)
{
    if (is_api(r) || r->route == ROUTE_OTHER)
        return http_api_error(r, status, code, message);
    return http_refuse_page(r, status, code, message);
}

/* How many bytes past the limit a chunked body is read (and discarded) so
 * that its sender gets a 413 instead of a closed connection. */
#define DRAIN_MAX ((size_t)16 << 20)

static size_t body_limit(const http_req *r)
{
    const http_server *s = r->srv;
    if (r->body_kind == BODY_JSON) /* base64 makes 3 bytes 4 */
        return s->cfg.max_upload / 3 * 4 + 4 + MULTIPART_OVERHEAD;
    if (r->body_kind != BODY_UPLOAD)
        return SMALL_FORM_MAX;
    /* A raw photo may be max_upload bytes; a form adds part headers around it. */
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && strncasecmp(ct, "multipart/", 10) == 0)
        return s->cfg.max_upload + MULTIPART_OVERHEAD;
    return s->cfg.max_upload;
}

/* Bodies that may be photos count against the server's body budget. */
static int holds_photos(const http_req *r)
{
    return r->body_kind == BODY_UPLOAD || r->body_kind == BODY_JSON;
}

/* Takes `n` more bytes from the body budget; 0 when they fit. */
static int reserve_body(http_req *r, size_t n)
{
    size_t held = atomic_fetch_add(&r->srv->body_held, n);
    if (held + n > r->srv->body_budget) {
        atomic_fetch_sub(&r->srv->body_held, n);
        return -1;
    }
    r->body_reserved += n;
    return 0;
}

static enum MHD_Result refuse_too_large(http_req *r)
{
    char msg[160];
    snprintf(msg, sizeof msg, "the upload is larger than the %zu-byte limit", r->srv->cfg.max_upload);
    r->body_too_large = 1;
    return refuse(r, 413, "too_large", msg);
}

static enum MHD_Result refuse_busy(http_req *r, const char *why)
{
    r->retry_after = "1";
    metrics_reject(r->srv->metrics, "busy");
    return refuse(r, 503, "busy", why);
}

/* The body is arriving and the request must be refused.  libmicrohttpd 0.9
 * cannot queue an answer in the middle of a body (the call fails and the only
 * way out is to drop the connection, which the client sees as no answer at
 * all), so what is held is freed, the rest of the body is read and thrown
 * away (bounded in receive) and the refusal goes out at its end (dispatch). */
static void refuse_later(http_req *r, int status, const char *code, const char *why)
{
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    r->later_status = status;
    r->later_code = code;
    snprintf(r->later_msg, sizeof r->later_msg, "%s", why);
    snprintf(r->note, sizeof r->note, "%s (decided while the body arrived)", code);
}

/* First callback: headers are in.  Route, language, and early refusals
 * (declared body over the limit: 413 before reading a byte of it). */
static enum MHD_Result begin(const http_listener *l, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    http_server *s = l->srv;
    http_req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->srv = s;
    r->conn = conn;
    r->url = url;
    r->method = method;
    r->t_start = cd_monotonic_s();
    r->gen = gen_acquire(s);
    *con_cls = r;
    atomic_fetch_add(&s->in_flight, 1);
    const union MHD_ConnectionInfo *sc = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (sc)
        conn_watch_request_started(s->watch, sc->socket_context);

    int method_ok; /* 0 = 405, answered in dispatch (r->allow is set) */
    r->handler = routes_match(method, url, &r->route, &r->tail, &r->body_kind, &method_ok, &r->allow,
                              &r->admin_route);
    r->internal = l->internal;
    if (r->internal && r->route != ROUTE_METRICS && r->route != ROUTE_HEALTHZ && r->route != ROUTE_LIVEZ) {
        /* The internal address serves the probes and nothing else. */
        r->handler = NULL;
        r->allow = NULL;
        r->route = ROUTE_OTHER;
    } else if (r->internal) {
        r->admin_route = 0; /* reaching this address is the permission */
    } else if (r->route == ROUTE_METRICS && s->cfg.metrics_listen) {
        /* Served on the internal address only.  (The configuration, not
         * metrics_daemon: that is assigned after the public daemon already
         * runs requests; TSan saw the race.) */
        r->handler = NULL;
        r->allow = NULL;
        r->route = ROUTE_OTHER;
    }
    r->authed = auth_check(r->gen->auth, http_header(r, MHD_HTTP_HEADER_AUTHORIZATION),
                           MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, AUTH_COOKIE));
    pick_language(r);
    r->body_limit = body_limit(r);

    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    /* Whether a body follows the headers: an answer given now, before it is
     * read, needs a lingering close (on_completed). */
    r->has_body = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
                  (cl && cl[strspn(cl, "0")] != '\0');
    /* While stopping (http_server_stop) the listening socket is closed, so a
     * request here came on a connection already open: a balancer's kept-alive
     * one, which sent it before it could know.  It is served like any other
     * (its answer says Connection: close, response.c), not refused: a 503 to
     * an upload that nginx has already sent is an error the visitor sees,
     * since nginx does not resend a POST. */
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > 0) {
            if (n > r->body_limit)
                return refuse_too_large(r);
            if (holds_photos(r) && reserve_body(r, (size_t)n) != 0)
                return refuse_busy(r, "too many uploads are being received at once");
        }
    }
    return MHD_YES;
}

/* A chunk of body arrived. */
static enum MHD_Result receive(http_req *r, const char *data, size_t n)
{
    http_server *s = r->srv;
    r->bytes_in += n;
    if (r->responded)
        return MHD_YES; /* already answered (refused): discard */
    if (s->cfg.request_timeout_s > 0 && cd_monotonic_s() - r->t_start > s->cfg.request_timeout_s) {
        snprintf(r->note, sizeof r->note, "body still arriving after %d s: connection closed",
                 s->cfg.request_timeout_s);
        return MHD_NO;
    }
    if (r->body_too_large || r->later_status) {
        /* Draining a body already refused (below, and refuse_later). */
        return r->bytes_in <= r->body_limit + DRAIN_MAX ? MHD_YES : MHD_NO;
    }
    if (r->body_len + n > r->body_limit) {
        /* No Content-Length (chunked): libmicrohttpd cannot answer in the middle
         * of a body, so the rest is read and thrown away (up to DRAIN_MAX more
         * bytes, keeping nothing) and 413 goes out when it ends; a client still
         * sending after that has its connection closed. */
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        r->body_too_large = 1;
        snprintf(r->note, sizeof r->note, "too_large (chunked body over the limit)");
        return r->bytes_in <= r->body_limit + DRAIN_MAX ? MHD_YES : MHD_NO;
    }
    if (r->body_kind == BODY_NONE)
        return MHD_YES; /* not used: count it, keep nothing */
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 64 * 1024;
        while (cap < r->body_len + n)
            cap *= 2;
        if (cap > r->body_limit)
            cap = r->body_limit;
        if (holds_photos(r) && cap > r->body_reserved && reserve_body(r, cap - r->body_reserved) != 0) {
            r->retry_after = "1";
            metrics_reject(s->metrics, "busy");
            refuse_later(r, 503, "busy", "too many uploads are being received at once");
            return MHD_YES;
        }
        unsigned char *p = realloc(r->body, cap);
        if (!p) {
            snprintf(r->note, sizeof r->note, "out of memory receiving %zu bytes", cap);
            return MHD_NO;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return MHD_YES;
}

/* An admin route without the token: 401 with how to authenticate (the
 * pages link to the login form). */
static enum MHD_Result refuse_unauthorized(http_req *r)
{
    metrics_reject(r->srv->metrics, "unauthorized");
    return refuse(r, 401, "unauthorized",
                  "this page needs the admin token: send Authorization: Bearer <token>, or log in at /login");
}

/* The body is complete: run the handler. */
static enum MHD_Result dispatch(http_req *r)
{
    r->body_done = 1;
    if (r->responded)
        return MHD_YES;
    enum MHD_Result res;
    if (r->body_too_large)
        res = refuse_too_large(r);
    else if (r->later_status)
        res = refuse(r, r->later_status, r->later_code, r->later_msg);
    else if (!r->handler && r->allow)
        res = refuse(r, 405, "method_not_allowed", "this address does not take that method");
    else if (!r->handler)
        res = handle_not_found(r);
    else if (r->admin_route && !auth_enabled(r->gen->auth))
        res = refuse(r, 403, "admin_off",
                     "the admin pages are off: start catdog serve with --admin-token-file FILE (or "
                     "CATDOG_ADMIN_TOKEN) to use them");
    else if (r->admin_route && r->authed == AUTH_NO)
        res = refuse_unauthorized(r);
    else
        res = r->handler(r);
    if (!r->responded) {
        http_log(r->srv, "internal error: %s %s produced no answer", r->method, r->url);
        res = http_api_error(r, 500, "internal", "the request could not be answered");
    }
    return res;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    const http_listener *l = cls;
    if (!*con_cls)
        return begin(l, conn, url, method, con_cls);
    http_req *r = *con_cls;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return receive(r, upload_data, n);
    }
    return dispatch(r);
}

/* Printable copy of a path for the log (client bytes never reach it raw). */
static void log_safe(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (; in && *in && o + 1 < size; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    out[o] = '\0';
}

/* The answer went out before the request's body was read (an early 413 or
 * 503): libmicrohttpd closes such a connection as soon as the answer is sent,
 * and a close with unread data resets it, which can destroy the answer in the
 * client's buffer.  So drain first (linger.h).  This relies on libmicrohttpd,
 * with a thread per connection, calling the completion callback from the
 * connection's own thread after the answer is written and before the socket
 * is closed (0.9.75: the socket is shut down and closed only after this
 * callback returns); the connection's thread is the one that waits. */
static void linger(http_server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || ci->connect_fd == MHD_INVALID_SOCKET)
        return;
    linger_result lr;
    linger_end end = linger_drain(ci->connect_fd, LINGER_IDLE_S, LINGER_TOTAL_S, &s->stopping, &lr);
    metrics_event(s->metrics, "early_answer_linger");
    if (end == LINGER_EOF)
        return;
    /* The client kept its side open (or reset it): say so, it may not have
     * seen its answer. */
    metrics_event(s->metrics, "early_answer_linger_cut");
    http_log(s, "lingering close after an early answer ended by %s after %.1f s (%zu bytes thrown away)",
             linger_end_name(end), lr.seconds, lr.drained);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = ((const http_listener *)cls)->srv;
    http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    double secs = cd_monotonic_s() - r->t_start;
    char peer[INET6_ADDRSTRLEN] = "-", ip[CLIENT_ADDR_MAX];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, peer, sizeof peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, peer, sizeof peer);
    }
    /* Behind a trusted proxy the log names the client it reports (client_addr.h). */
    client_addr_resolve(s->trusted, peer, http_header(r, "X-Forwarded-For"), ip);
    static const char *const ends[] = {"", " (connection error)", " (timed out)", " (server shutdown)",
                                       " (read error)", " (client went away)"};
    const char *end = (unsigned)toe < sizeof ends / sizeof ends[0] ? ends[toe] : " (aborted)";
    char path[256];
    log_safe(path, sizeof path, r->url);
    http_log(s, "%s %s %s %d %zu %zu %.1fms%s%s%s", ip, r->method, path, r->responded ? r->status : 0, r->bytes_in,
             r->bytes_out, secs * 1000.0, r->note[0] ? " " : "", r->note, end);
    metrics_request(s->metrics, (int)r->route, r->responded ? r->status : 0, secs, r->bytes_in, r->bytes_out);
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->responded && r->has_body && !r->body_done)
        linger(s, conn);
    const union MHD_ConnectionInfo *sc = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (sc)
        conn_watch_request_done(s->watch, sc->socket_context);
    if (r->body_reserved)
        atomic_fetch_sub(&s->body_held, r->body_reserved);
    free(r->body);
    gen_release(r->gen);
    free(r);
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Connections open and close: registered with the header watchdog. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = ((const http_listener *)cls)->srv;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? conn_watch_add(s->watch, ci->connect_fd) : NULL;
    } else {
        conn_watch_remove(s->watch, *socket_context);
        *socket_context = NULL;
    }
}

static void on_cut(void *ctx, double waited_s)
{
    http_server *s = ctx;
    metrics_event(s->metrics, "slow_headers_cut");
    http_log(s, "closed a connection that sent no complete request headers in %.0f s", waited_s);
}

/* MHD's own messages (bind failures, ...) go to the log; during start-up the
 * last one is kept for the error message. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* pthread_equal first: s->starting is the start-up thread's own. */
    if (pthread_equal(pthread_self(), s->starter) && s->starting)
        snprintf(s->notes[SERVER_MAX_NOTES - 1], sizeof s->notes[0], "%s", msg);
    http_log(s, "libmicrohttpd: %s", msg);
}

/* ---- start and stop ---- */

/* Opens the history database.  A database that is corrupt, locked or
 * unopenable does not stop the service: verdicts are still given (unrecorded),
 * the reason is logged once here and on every request that would have
 * written, and counted as db_error in /metrics. */
static void open_history(http_server *s)
{
    cd_err err;
    cd_err_clear(&err);
    /* PostgreSQL: one connection per inference worker (they finish uploads at
     * about that rate), and the spool beside the photos (history.h). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    history_options ho = {.connections = s->cfg.threads > 0 ? s->cfg.threads : cores > 0 ? (int)cores : 0,
                          .spool_dir = s->cfg.upload_dir};
    if (ho.connections > 0 && ho.connections < 2)
        ho.connections = 2; /* a history page read never waits behind a single writer */
    s->hist = history_open_with(s->cfg.db_path, &ho, &err);
    char abs_upload[PATH_MAX];
    int reachable = history_get_state(s->hist) != HISTORY_RECONNECTING;
    if (s->hist && !reachable)
        add_note(s, "history: %s; verdicts are served and their rows kept in the spool in %s until the "
                    "database answers", err.msg, s->cfg.upload_dir);
    if (s->hist && reachable && realpath(s->cfg.upload_dir, abs_upload) &&
        history_set_meta(s->hist, "upload_dir", abs_upload, &err) != 0) {
        history_close(s->hist);
        s->hist = NULL;
    }
    if (s->hist)
        return;
    snprintf(s->hist_off, sizeof s->hist_off, "history off: %s", err.msg);
    metrics_event(s->metrics, "db_error");
    add_note(s, "%s; verdicts are served but not recorded", s->hist_off);
}

static void free_parts(http_server *s)
{
    retention_stop(s->retention);
    conn_watch_free(s->watch);
    gen_release(s->gen); /* the last reference: every request has completed */
    history_close(s->hist);
    store_free(s->store);
    metrics_free(s->metrics);
    trusted_proxies_free(s->trusted);
    pthread_mutex_destroy(&s->gen_lock);
    free(s);
}

static void log_line(void *ctx, const char *line)
{
    http_log(ctx, "%s", line);
}

/* "ADDR:PORT", "[v6]:PORT" -> host and port. */
static int split_addr(const char *spec, char *host, size_t size, int *port, cd_err *err)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec;
    size_t hl = colon ? (size_t)(colon - spec) : 0;
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || hl == 0 || hl >= size || colon[1] == '\0' || *end || p < 0 || p > 65535)
        return cd_err_set(err, CD_ERR_INVALID, "--metrics-listen must be ADDR:PORT (e.g. 127.0.0.1:9090), not '%s'",
                          spec);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* Starts one libmicrohttpd daemon on host:port for listener l; *bound gets
 * the port actually bound. */
static int start_daemon(http_server *s, http_listener *l, const char *host, int port, struct MHD_Daemon **out,
                        int *bound, cd_err *err)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai)
        return cd_err_set(err, CD_ERR_INVALID, "cannot resolve %s %s: %s", l->internal ? "--metrics-listen" : "--host",
                          host, gai_strerror(gai));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->notes[SERVER_MAX_NOTES - 1][0] = '\0';
    s->starter = pthread_self(); /* before MHD creates a thread that may read it */
    s->starting = 1;
    *out = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, l, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->cfg.timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, l,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(2 * 1024 * 1024), MHD_OPTION_END);
    s->starting = 0;
    freeaddrinfo(ai);
    if (!*out)
        return cd_err_set(err, CD_ERR_IO, "cannot listen on %s:%d%s: %s", host, port,
                          l->internal ? " (--metrics-listen)" : "",
                          s->notes[SERVER_MAX_NOTES - 1][0] ? s->notes[SERVER_MAX_NOTES - 1] : "libmicrohttpd refused");
    s->notes[SERVER_MAX_NOTES - 1][0] = '\0';
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(*out, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    return 0;
}

http_server *http_server_start(const http_config *cfg, cd_err *err)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory starting the server");
        return NULL;
    }
    if (pthread_mutex_init(&s->gen_lock, NULL) != 0) {
        free(s);
        cd_err_set(err, CD_ERR_NOMEM, "cannot create the server's lock");
        return NULL;
    }
    s->cfg = *cfg;
    s->cfg.host = keep(s->host_buf, sizeof s->host_buf, cfg->host, "127.0.0.1");
    /* Default models: ./models, else the installed ones beside the program. */
    char share[1024], installed_models[1100];
    const char *models = "models";
    if (!cfg->models_dir && !is_dir("models") && installed_share(share, sizeof share) == 0 &&
        snprintf(installed_models, sizeof installed_models, "%s/models", share) > 0 && is_dir(installed_models))
        models = installed_models;
    s->cfg.models_dir = keep(s->models_buf, sizeof s->models_buf, cfg->models_dir, models);
    s->cfg.upload_dir = keep(s->upload_buf, sizeof s->upload_buf, cfg->upload_dir, "saveimages");
    s->cfg.db_path = keep(s->db_buf, sizeof s->db_buf, cfg->db_path, "catdog.db");
    s->cfg.weights = cfg->weights ? keep(s->weights_buf, sizeof s->weights_buf, cfg->weights, "") : NULL;
    if (cfg->admin_token_file)
        s->cfg.admin_token_file = keep(s->token_file_buf, sizeof s->token_file_buf, cfg->admin_token_file, "");
    if (!s->cfg.max_upload)
        s->cfg.max_upload = HTTP_DEFAULT_MAX_UPLOAD;
    if (s->cfg.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cfg.threads = n > 0 ? (int)n : 1;
    }
    if (s->cfg.max_connections <= 0)
        s->cfg.max_connections = 256;
    /* Admission is by expected wait (pool.h); the count limit is only the
     * memory guard, and a connection can hold one photo at a time. */
    if (s->cfg.queue <= 0)
        s->cfg.queue = s->cfg.max_connections;
    if (s->cfg.timeout_s <= 0)
        s->cfg.timeout_s = 30;
    if (s->cfg.request_timeout_s <= 0)
        s->cfg.request_timeout_s = 120;
    if (s->cfg.max_batch_photos <= 0)
        s->cfg.max_batch_photos = HTTP_DEFAULT_MAX_BATCH_PHOTOS;
    s->body_budget = 32 * (s->cfg.max_upload + MULTIPART_OVERHEAD);
    atomic_init(&s->body_held, 0);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->stopping, 0);
    atomic_init(&s->draining, 0);
    find_assets(s, cfg->assets_dir);
    /* Parsed before the models load, so a typo fails the start-up at once. */
    s->trusted = trusted_proxies_parse(cfg->trusted_proxies, err);
    if (!s->trusted)
        goto fail;
    s->cfg.trusted_proxies = NULL; /* parsed into s->trusted; the string is the caller's */

    s->gen = calloc(1, sizeof *s->gen);
    if (!s->gen) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory starting the server");
        goto fail;
    }
    atomic_init(&s->gen->refs, 1);
    s->gen->auth = auth_new(s->cfg.admin_token_file, s->cfg.admin_token, err);
    if (!s->gen->auth)
        goto fail;
    if (!auth_enabled(s->gen->auth))
        add_note(s, "no admin token (--admin-token-file or CATDOG_ADMIN_TOKEN): the history, photos and "
                    "feedback pages are off%s", s->cfg.metrics_listen ? "" : ", and so is /metrics");
    if (s->cfg.metrics_listen)
        s->cfg.metrics_listen = keep(s->metrics_buf, sizeof s->metrics_buf, cfg->metrics_listen, "");

    /* One inference thread per session: the pool supplies the parallelism. */
    memset(&s->pred_opts, 0, sizeof s->pred_opts);
    s->pred_opts.threads = 1;
    s->pred_opts.backend = s->cfg.backend;
    s->pred_opts.precision = s->cfg.precision;
    s->pred_opts.img_size = s->cfg.img_size;
    s->pred_opts.max_pixels = s->cfg.max_pixels;
    s->pred_opts.tta_flip = s->cfg.tta;
    registry *reg = registry_load(s->cfg.models_dir, &s->pred_opts, s->cfg.embedded, s->cfg.weights, err);
    s->gen->reg = reg;
    if (!reg)
        goto fail;
    for (int i = 0; i < reg->n_notes; i++)
        add_note(s, "%s", reg->notes[i]);
    for (int i = 0; i < reg->n_off; i++)
        add_note(s, "%s", reg->off[i].reason);
    s->store = store_new(s->cfg.upload_dir, err);
    if (!s->store)
        goto fail;
    int stale = store_remove_stale(s->store);
    if (stale > 0)
        add_note(s, "removed %d unfinished upload(s) left in %s by an earlier crash", stale, s->cfg.upload_dir);
    s->metrics = metrics_new(routes_metric_names(), ROUTE_COUNT, err);
    if (!s->metrics)
        goto fail;
    open_history(s);
    s->pool_opts = (pool_opts){.workers = s->cfg.threads, .max_queue = s->cfg.queue, .max_batch = s->cfg.max_batch,
                    .batch_timeout_s = s->cfg.batch_timeout_s == 0 ? -1 /* default */
                                       : s->cfg.batch_timeout_s < 0 ? 0 /* never wait */
                                                                    : s->cfg.batch_timeout_s,
                    .max_wait_s = s->cfg.max_wait_s,
                    .metrics = s->metrics};
    s->gen->pool = pool_new_opts(reg, &s->pool_opts, err);
    if (!s->gen->pool)
        goto fail;
    s->watch = conn_watch_new(s->cfg.timeout_s, on_cut, s, err);
    if (!s->watch)
        goto fail;

    if (s->cfg.retention_days > 0 && s->hist) {
        long long rows = 0;
        int files = 0;
        cd_err rerr;
        cd_err_clear(&rerr);
        if (retention_sweep(s->hist, s->store, s->cfg.retention_days, &rows, &files, &rerr) != 0)
            add_note(s, "retention: %s", rerr.msg);
        else if (rows > 0)
            add_note(s, "retention: removed %lld row(s) and %d photo(s) older than %d day(s)", rows, files,
                     s->cfg.retention_days);
        s->retention = retention_start(s->hist, s->store, s->cfg.retention_days, log_line, s, err);
        if (!s->retention)
            goto fail;
    }
    s->pub.srv = s;
    s->internal.srv = s;
    s->internal.internal = 1;
    if (start_daemon(s, &s->pub, s->cfg.host, s->cfg.port, &s->daemon, &s->port, err) != 0)
        goto fail;
    if (s->cfg.metrics_listen) {
        char host[256];
        int port = 0;
        if (split_addr(s->cfg.metrics_listen, host, sizeof host, &port, err) != 0 ||
            start_daemon(s, &s->internal, host, port, &s->metrics_daemon, &s->metrics_port, err) != 0) {
            MHD_stop_daemon(s->daemon);
            s->daemon = NULL;
            goto fail;
        }
    }
    return s;

fail:
    free_parts(s);
    return NULL;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

int http_server_metrics_port(const http_server *s)
{
    return s->metrics_daemon ? s->metrics_port : 0;
}

const char *http_server_note(const http_server *s, int i)
{
    return i >= 0 && i < s->n_notes ? s->notes[i] : NULL;
}

const registry *http_server_models(const http_server *s)
{
    return s->gen->reg;
}

void http_server_drain(http_server *s)
{
    if (s) {
        atomic_store(&s->draining, 1);
        http_log(s, "draining: /healthz answers 503 from now on; requests are still served");
    }
}

void http_server_stop(http_server *s, int grace_s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon);
    /* The probes stop at once: a stopping server answers 503 to /healthz until then. */
    if (s->metrics_daemon)
        MHD_stop_daemon(s->metrics_daemon);
    /* Requests already started (an upload being received or classified) finish. */
    double until = cd_monotonic_s() + (grace_s > 0 ? grace_s : 0);
    while (atomic_load(&s->in_flight) > 0 && cd_monotonic_s() < until)
        usleep(10 * 1000);
    int left = atomic_load(&s->in_flight);
    if (left > 0)
        http_log(s, "shutdown: %d request(s) still running after %d s; closing them", left, grace_s);
    MHD_stop_daemon(s->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    free_parts(s);
}

/* A reload must not lose what is served: every model of the old generation
 * is in the new one, and one read from a file is still read from a file (not
 * the built-in copy standing in for a broken new file). */
static int reload_keeps(const registry *old, const registry *neu, char *why, size_t size)
{
    for (int i = 0; i < old->n; i++) {
        const registry_model *m = &old->models[i];
        int j = registry_find(neu, m->name);
        if (j < 0) {
            const char *off = registry_off_reason(neu, m->name);
            snprintf(why, size, "%s", off ? off : "a model served now is missing from the new folder");
            return 0;
        }
        if (strncmp(m->source, "built-in", 8) != 0 && strncmp(neu->models[j].source, "built-in", 8) == 0) {
            snprintf(why, size, "%s", neu->n_notes ? neu->notes[0] : "the model file could not be loaded");
            return 0;
        }
    }
    return 1;
}

int http_server_reload(http_server *s, char *report, size_t size)
{
    cd_err err;
    cd_err_clear(&err);
    http_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(report, size, "reload refused: out of memory; still serving the old models and token");
        http_log(s, "%s", report);
        return -1;
    }
    atomic_init(&g->refs, 1);
    char why[700] = "";
    g->auth = auth_new(s->cfg.admin_token_file, s->cfg.admin_token, &err);
    if (!g->auth)
        snprintf(why, sizeof why, "%s", err.msg);
    if (g->auth) {
        g->reg = registry_load(s->cfg.models_dir, &s->pred_opts, s->cfg.embedded, s->cfg.weights, &err);
        if (!g->reg)
            snprintf(why, sizeof why, "%s", err.msg);
    }
    http_gen *cur = gen_acquire(s);
    if (g->reg && !reload_keeps(cur->reg, g->reg, why, sizeof why)) {
        registry_free(g->reg);
        g->reg = NULL;
    }
    gen_release(cur);
    if (g->reg) {
        g->pool = pool_new_opts(g->reg, &s->pool_opts, &err);
        if (!g->pool)
            snprintf(why, sizeof why, "%s", err.msg);
    }
    if (!g->pool) {
        gen_free(g);
        snprintf(report, size, "reload refused, still serving the old models and token: %s", why);
        http_log(s, "%s", report);
        return -1;
    }
    pthread_mutex_lock(&s->gen_lock);
    http_gen *old = s->gen;
    s->gen = g;
    pthread_mutex_unlock(&s->gen_lock);
    gen_release(old); /* freed now, or by the last request still using it */
    int w = snprintf(report, size, "reloaded %s: %d model(s)", s->cfg.models_dir, g->reg->n);
    for (int i = 0; i < g->reg->n && w > 0 && (size_t)w < size; i++)
        w += snprintf(report + w, size - (size_t)w, "%s %s", i ? "," : "", g->reg->models[i].name);
    if (w > 0 && (size_t)w < size)
        snprintf(report + w, size - (size_t)w, "; admin token %s", auth_enabled(g->auth) ? "reloaded" : "none");
    http_log(s, "%s", report);
    return 0;
}
