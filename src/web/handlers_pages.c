/*
 * handlers_pages.c - the page routes that do not classify: /, /template,
 * /error, /history and its feedback buttons, 404s, and the help page used to
 * refuse a form upload (see server.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/pages.h"
#include "web/server.h"
#include "web/urlform.h"

#define HISTORY_PAGE_SIZE 20

static page_frame frame(http_req *r, const char *switch_path)
{
    page_frame f = {r->lang, r->srv->have_materialize, switch_path};
    return f;
}

static const char HTML[] = "text/html; charset=utf-8";

enum MHD_Result handle_root(http_req *r)
{
    return http_redirect(r, 302, "/template");
}

enum MHD_Result handle_template(http_req *r)
{
    strbuf b;
    strbuf_init(&b);
    page_frame f = frame(r, "/template");
    page_upload(&b, &f, r->gen->reg, r->srv->cfg.max_upload);
    return http_respond_strbuf(r, 200, HTML, &b);
}

enum MHD_Result http_refuse_page(http_req *r, int status, const char *code, const char *detail)
{
    snprintf(r->note, sizeof r->note, "%s: %s", code, detail ? detail : "");
    strbuf b;
    strbuf_init(&b);
    page_frame f = frame(r, "/error");
    page_help(&b, &f, code, detail, r->srv->cfg.max_upload, r->srv->cfg.max_pixels);
    return http_respond_strbuf(r, status, HTML, &b);
}

enum MHD_Result handle_error_page(http_req *r)
{
    strbuf b;
    strbuf_init(&b);
    page_frame f = frame(r, "/error");
    page_help(&b, &f, NULL, NULL, r->srv->cfg.max_upload, r->srv->cfg.max_pixels);
    return http_respond_strbuf(r, 200, HTML, &b);
}

enum MHD_Result handle_not_found(http_req *r)
{
    /* Browsers asking for a page get a page; everything else gets JSON. */
    const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT);
    if (!accept || !strstr(accept, "text/html"))
        return http_api_error(r, 404, "not_found", "no such address");
    strbuf b;
    strbuf_init(&b);
    page_frame f = frame(r, "/template");
    page_not_found(&b, &f);
    snprintf(r->note, sizeof r->note, "not_found");
    return http_respond_strbuf(r, 404, HTML, &b);
}

/* Parses a positive decimal integer (the whole string); -1 when it is not one. */
static long long parse_id(const char *s, const char **end_out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || v <= 0)
        return -1;
    if (end_out)
        *end_out = end;
    return v;
}

enum MHD_Result handle_history(http_req *r)
{
    http_server *s = r->srv;
    long long page = 1;
    const char *q = http_query(r, "page");
    if (q) {
        const char *end;
        page = parse_id(q, &end);
        if (page < 1 || *end)
            page = 1;
    }
    if (!s->hist)
        return http_refuse_page(r, 503, "db_unavailable", s->hist_off);
    long long total = 0;
    cd_err err;
    if (history_count(s->hist, &total, &err) != 0) {
        metrics_event(s->metrics, "db_error");
        http_log(s, "error: history page: %s", err.msg);
        return http_refuse_page(r, 500, "internal", "the history database is not available");
    }
    long long pages = (total + HISTORY_PAGE_SIZE - 1) / HISTORY_PAGE_SIZE;
    if (pages > 0 && page > pages)
        page = pages;
    history_rec *rows = calloc(HISTORY_PAGE_SIZE, sizeof *rows);
    if (!rows)
        return http_api_error(r, 500, "internal", "out of memory");
    int n = 0;
    if (history_list(s->hist, (page - 1) * HISTORY_PAGE_SIZE, HISTORY_PAGE_SIZE, rows, &n, &err) != 0) {
        free(rows);
        metrics_event(s->metrics, "db_error");
        http_log(s, "error: history page: %s", err.msg);
        return http_refuse_page(r, 500, "internal", "the history database is not available");
    }
    strbuf b;
    strbuf_init(&b);
    page_frame f = frame(r, "/history");
    page_history(&b, &f, rows, n, page, pages, total, auth_csrf(r->gen->auth));
    free(rows);
    return http_respond_strbuf(r, 200, HTML, &b);
}

enum MHD_Result handle_feedback(http_req *r)
{
    http_server *s = r->srv;
    const char *end;
    long long id = parse_id(r->tail, &end);
    if (id < 0 || strcmp(end, "/feedback") != 0)
        return handle_not_found(r);
    if (!http_admin_form_ok(r))
        return http_refuse_page(r, 403, "csrf", "the form has no valid CSRF token or came from another site");
    char label[8], page[24];
    const char *body = r->body ? (const char *)r->body : "";
    urlform_get(body, r->body_len, "label", label, sizeof label);
    urlform_get(body, r->body_len, "page", page, sizeof page);
    int value;
    if (strcmp(label, "cat") == 0)
        value = 0;
    else if (strcmp(label, "dog") == 0)
        value = 1;
    else if (strcmp(label, "none") == 0)
        value = HISTORY_NO_FEEDBACK;
    else
        return http_refuse_page(r, 400, "bad_request", "label must be cat, dog or none");
    if (!s->hist)
        return http_refuse_page(r, 503, "db_unavailable", s->hist_off);
    cd_err err;
    if (history_set_feedback(s->hist, id, value, &err) != 0) {
        if (err.code == CD_ERR_NOTFOUND)
            return http_refuse_page(r, 404, "not_found", err.msg);
        metrics_event(s->metrics, "db_error");
        http_log(s, "error: feedback: %s", err.msg);
        return http_refuse_page(r, 500, "internal", "the feedback could not be stored");
    }
    metrics_event(s->metrics, "feedback");
    snprintf(r->note, sizeof r->note, "id=%lld feedback=%s", id, label);
    const char *pend;
    long long p = parse_id(page, &pend);
    char location[96];
    snprintf(location, sizeof location, "/history?page=%lld#r%lld", p > 0 && !*pend ? p : 1, id);
    return http_redirect(r, 303, location);
}
