/*
 * auth.c - the admin token and what is derived from it (see auth.h).
 */
#include "web/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

struct auth {
    int enabled;
    unsigned char token_digest[SHA256_DIGEST_LENGTH]; /* what given tokens are compared with */
    unsigned char session_digest[SHA256_DIGEST_LENGTH];
    unsigned char csrf_digest[SHA256_DIGEST_LENGTH];
    char session[AUTH_HEX];
    char csrf[AUTH_HEX];
};

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* HMAC-SHA256(token, label) as hex: values an attacker cannot make without the
 * token, and which do not reveal it. */
static int derive(const char *token, size_t len, const char *label, char out[AUTH_HEX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), token, (int)len, (const unsigned char *)label, strlen(label), mac, &mac_len) ||
        mac_len != SHA256_DIGEST_LENGTH)
        return -1;
    to_hex(mac, mac_len, out);
    return 0;
}

static int digest(const char *s, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    return SHA256((const unsigned char *)s, len, out) ? 0 : -1;
}

/* Comparing digests keeps the comparison's time independent of where the
 * strings differ and of their lengths. */
static int same(const unsigned char want[SHA256_DIGEST_LENGTH], const char *given)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    if (!given || digest(given, strlen(given), d) != 0)
        return 0;
    return CRYPTO_memcmp(want, d, sizeof d) == 0;
}

/* The first line of path, trailing blanks and line ends removed. */
static int read_token_file(const char *path, char *out, size_t size, cd_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot read the admin token file %s: %s", path, strerror(errno));
    int rc = 0;
    if (!fgets(out, (int)size, f)) {
        out[0] = '\0';
        if (ferror(f))
            rc = cd_err_set(err, CD_ERR_IO, "cannot read the admin token file %s: %s", path, strerror(errno));
    }
    fclose(f);
    return rc;
}

static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

auth *auth_new(const char *token_file, const char *token, cd_err *err)
{
    auth *a = calloc(1, sizeof *a);
    if (!a) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory reading the admin token");
        return NULL;
    }
    char buf[AUTH_MAX_TOKEN + 2];
    const char *where = token_file ? token_file : "CATDOG_ADMIN_TOKEN";
    if (token_file) {
        if (read_token_file(token_file, buf, sizeof buf, err) != 0) {
            free(a);
            return NULL;
        }
    } else if (token) {
        snprintf(buf, sizeof buf, "%s", token);
    } else {
        return a; /* no admin */
    }
    trim_end(buf);
    size_t len = strlen(buf);
    if (len < AUTH_MIN_TOKEN || len > AUTH_MAX_TOKEN) {
        cd_err_set(err, CD_ERR_INVALID,
                   "the admin token from %s is %zu bytes; it must be %d to %d (make one with "
                   "`head -c 24 /dev/urandom | base64`)",
                   where, len, AUTH_MIN_TOKEN, AUTH_MAX_TOKEN);
        OPENSSL_cleanse(buf, sizeof buf);
        free(a);
        return NULL;
    }
    int rc = digest(buf, len, a->token_digest) | derive(buf, len, "catdog admin session", a->session) |
             derive(buf, len, "catdog csrf", a->csrf);
    OPENSSL_cleanse(buf, sizeof buf); /* only the digests are kept */
    if (rc != 0 || digest(a->session, strlen(a->session), a->session_digest) != 0 ||
        digest(a->csrf, strlen(a->csrf), a->csrf_digest) != 0) {
        cd_err_set(err, CD_ERR_BACKEND, "libcrypto could not derive the admin session values");
        free(a);
        return NULL;
    }
    a->enabled = 1;
    return a;
}

void auth_free(auth *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

int auth_enabled(const auth *a)
{
    return a && a->enabled;
}

auth_how auth_check(const auth *a, const char *authorization, const char *cookie)
{
    if (!auth_enabled(a))
        return AUTH_NO;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        if (same(a->token_digest, t))
            return AUTH_BEARER;
    }
    if (cookie && same(a->session_digest, cookie))
        return AUTH_COOKIE_OK;
    return AUTH_NO;
}

int auth_token_ok(const auth *a, const char *given)
{
    return auth_enabled(a) && same(a->token_digest, given);
}

int auth_csrf_ok(const auth *a, const char *given)
{
    return auth_enabled(a) && same(a->csrf_digest, given);
}

const char *auth_session(const auth *a)
{
    return auth_enabled(a) ? a->session : "";
}

const char *auth_csrf(const auth *a)
{
    return auth_enabled(a) ? a->csrf : "";
}
