/*
 * auth.h - who may see the admin pages: one secret token, set by the operator.
 *
 * The admin pages (the history of every visitor, their photos and thumbnails,
 * feedback, classifying a stored file, /metrics on the public port) are open
 * to a request that proves it knows the token, in one of two ways:
 *
 *   Authorization: Bearer <token>   scripts and curl; not sent by browsers on
 *                                   their own, so it needs no CSRF token;
 *   the cookie catdog_admin         set by the login form (POST /login) to a
 *                                   value derived from the token (HMAC-SHA256),
 *                                   so the cookie never holds the token itself.
 *                                   A browser sends it by itself, so admin
 *                                   forms also carry the CSRF token (auth_csrf),
 *                                   derived the same way under another label.
 *
 * Every comparison is constant-time (CRYPTO_memcmp over SHA-256 digests, so
 * not even the length leaks).  Without a token the admin pages are off, not
 * open: auth_enabled is 0 and the server refuses them all.
 *
 * The token comes from a file (--admin-token-file; its first line, trailing
 * blanks removed) or from the environment (CATDOG_ADMIN_TOKEN); it must be at
 * least AUTH_MIN_TOKEN bytes, so a placeholder like "admin" is refused.
 *
 * An auth is read-only after auth_new, so threads share it freely.
 */
#ifndef CATDOG_WEB_AUTH_H
#define CATDOG_WEB_AUTH_H

#include "core/error.h"

#define AUTH_MIN_TOKEN 16
#define AUTH_MAX_TOKEN 512
#define AUTH_HEX 65              /* a derived value: 64 hex digits + NUL */
#define AUTH_COOKIE "catdog_admin"

typedef struct auth auth;

typedef enum auth_how {
    AUTH_NO,       /* no valid proof */
    AUTH_BEARER,   /* Authorization: Bearer with the token */
    AUTH_COOKIE_OK /* the login cookie (forms must also carry the CSRF token) */
} auth_how;

/* The token from token_file when given, else from `token` (may be NULL: no
 * admin).  NULL with err when the file cannot be read, or the token is
 * shorter than AUTH_MIN_TOKEN or longer than AUTH_MAX_TOKEN. */
auth *auth_new(const char *token_file, const char *token, cd_err *err);
void auth_free(auth *a);

/* 1 when a token is configured (a NULL auth has none). */
int auth_enabled(const auth *a);

/* How the request proves it knows the token: `authorization` is the
 * Authorization header, `cookie` the catdog_admin cookie (either NULL). */
auth_how auth_check(const auth *a, const char *authorization, const char *cookie);

/* 1 when `given` is the token (the login form). */
int auth_token_ok(const auth *a, const char *given);

/* 1 when `given` is the CSRF token. */
int auth_csrf_ok(const auth *a, const char *given);

/* The login cookie's value and the CSRF token (borrowed; "" without a token). */
const char *auth_session(const auth *a);
const char *auth_csrf(const auth *a);

#endif
