/*
 * response.c - building and queueing responses, with the headers every
 * response carries (see server.h).
 *
 * Security headers: a Content-Security-Policy that lets pages load nothing
 * from outside (scripts, styles, images and form targets are 'self' only;
 * blob: images for the drag-and-drop preview), no MIME sniffing, no referrer
 * to other sites (same-origin, so our own form posts carry a real Origin for
 * the feedback check), no framing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/server.h"

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                          "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                          "frame-ancestors 'none'";

void http_log(http_server *s, const char *fmt, ...)
{
    FILE *f = s->cfg.log;
    if (!f)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    fprintf(f, "%s.%03ldZ %s\n", when, ts.tv_nsec / 1000000, line);
    fflush(f);
}

const char *http_query(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

/* Adds the headers every response carries, plus the request's extras. */
static int add_headers(http_req *r, struct MHD_Response *resp)
{
    int ok = MHD_add_response_header(resp, "Content-Security-Policy", CSP) == MHD_YES &&
             MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
             MHD_add_response_header(resp, "Referrer-Policy", "same-origin") == MHD_YES &&
             MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                     r->cache_control ? r->cache_control : "no-store") == MHD_YES;
    if (ok && r->retry_after)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after) == MHD_YES;
    if (ok && r->allow)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) == MHD_YES;
    if (ok && r->set_lang_cookie) {
        char cookie[64];
        snprintf(cookie, sizeof cookie, "lang=%s; Path=/; Max-Age=31536000; SameSite=Lax", i18n_code(r->lang));
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie) == MHD_YES;
    }
    if (ok && r->set_cookie)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie) == MHD_YES;
    /* While shutting down, ask keep-alive clients to go away after this answer. */
    if (ok && atomic_load(&r->srv->stopping))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    return ok;
}

static enum MHD_Result queue(http_req *r, int status, struct MHD_Response *resp, size_t len)
{
    enum MHD_Result res = add_headers(r, resp) ? MHD_queue_response(r->conn, (unsigned)status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    if (res == MHD_YES) {
        r->responded = 1;
        r->status = status;
        r->bytes_out = strcmp(r->method, "HEAD") == 0 ? 0 : len; /* no body goes out for HEAD */
    }
    return res;
}

enum MHD_Result http_respond(http_req *r, int status, const char *content_type, const void *data, size_t len)
{
    if (r->responded)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    return queue(r, status, resp, len);
}

enum MHD_Result http_respond_strbuf(http_req *r, int status, const char *content_type, strbuf *b)
{
    enum MHD_Result res;
    if (b->failed) {
        strbuf_free(b);
        snprintf(r->note, sizeof r->note, "out of memory building the answer");
        return http_respond(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
    }
    res = http_respond(r, status, content_type, b->data ? b->data : "", b->len);
    strbuf_free(b);
    return res;
}

enum MHD_Result http_respond_json(http_req *r, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the answer\"}}\n";
        return http_respond(r, 500, "application/json", oom, sizeof oom - 1);
    }
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (withnl) {
        text = withnl;
        text[n++] = '\n';
        text[n] = '\0';
    }
    enum MHD_Result res = http_respond(r, status, "application/json", text, n);
    free(text);
    return res;
}

enum MHD_Result http_api_error(http_req *r, int status, const char *code, const char *message)
{
    snprintf(r->note, sizeof r->note, "%s: %s", code, message);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    return http_respond_json(r, status, j);
}

enum MHD_Result http_redirect(http_req *r, int status, const char *location)
{
    if (r->responded)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    return queue(r, status, resp, 0);
}
