/*
 * handlers_admin.c - logging in and out of the admin pages (see auth.h):
 * GET /login (the form), POST /login (sets the HttpOnly, SameSite=Strict
 * cookie holding a value derived from the token), POST /logout (clears it),
 * and the CSRF check every admin form goes through.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "web/pages.h"
#include "web/server.h"
#include "web/urlform.h"

static const char HTML[] = "text/html; charset=utf-8";

/* A form post must come from our own pages: when the browser names the
 * page's origin, it must be this host. */
static int same_origin(http_req *r)
{
    const char *origin = http_header(r, "Origin");
    if (!origin || strcmp(origin, "null") == 0)
        return origin == NULL;
    const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
    if (!host)
        return 0;
    const char *p = strstr(origin, "://");
    return p && strcmp(p + 3, host) == 0;
}

int http_admin_form_ok(http_req *r)
{
    if (!same_origin(r))
        return 0;
    if (r->authed == AUTH_BEARER)
        return 1; /* a browser never adds this header by itself: not forgeable by another site */
    char csrf[AUTH_HEX + 1];
    const char *body = r->body ? (const char *)r->body : "";
    urlform_get(body, r->body_len, "csrf", csrf, sizeof csrf);
    return auth_csrf_ok(r->gen->auth, csrf);
}

static enum MHD_Result login_page(http_req *r, int status, int wrong)
{
    strbuf b;
    strbuf_init(&b);
    page_frame f = {r->lang, r->srv->have_materialize, "/login"};
    page_login(&b, &f, wrong);
    return http_respond_strbuf(r, status, HTML, &b);
}

enum MHD_Result handle_login_page(http_req *r)
{
    if (!auth_enabled(r->gen->auth))
        return http_refuse_page(r, 403, "admin_off",
                                "start catdog serve with --admin-token-file FILE (or CATDOG_ADMIN_TOKEN)");
    return login_page(r, 200, 0);
}

enum MHD_Result handle_login(http_req *r)
{
    http_server *s = r->srv;
    if (!auth_enabled(r->gen->auth))
        return http_refuse_page(r, 403, "admin_off",
                                "start catdog serve with --admin-token-file FILE (or CATDOG_ADMIN_TOKEN)");
    if (!same_origin(r))
        return http_refuse_page(r, 403, "csrf", "the form came from another site");
    char token[AUTH_MAX_TOKEN + 2];
    const char *body = r->body ? (const char *)r->body : "";
    urlform_get(body, r->body_len, "token", token, sizeof token);
    int ok = auth_token_ok(r->gen->auth, token);
    OPENSSL_cleanse(token, sizeof token);
    if (!ok) {
        /* The log line says a login failed, never what was typed. */
        metrics_reject(s->metrics, "unauthorized");
        snprintf(r->note, sizeof r->note, "admin login refused");
        return login_page(r, 401, 1);
    }
    /* HttpOnly: no script reads it; SameSite=Strict: no other site's page
     * makes the browser send it; Secure is left to a TLS proxy in front (the
     * server itself speaks plain HTTP, and a Secure cookie would never come back). */
    char cookie[160];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200", AUTH_COOKIE,
             auth_session(r->gen->auth));
    r->set_cookie = cookie;
    snprintf(r->note, sizeof r->note, "admin login");
    return http_redirect(r, 303, "/history");
}

enum MHD_Result handle_logout(http_req *r)
{
    if (auth_enabled(r->gen->auth) && r->authed != AUTH_NO && !http_admin_form_ok(r))
        return http_refuse_page(r, 403, "csrf", "the form has no valid CSRF token");
    r->set_cookie = AUTH_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
    return http_redirect(r, 303, "/template");
}
