/*
 * fuzz_multipart.c - libFuzzer harness for the upload request's
 * multipart/form-data: what upload_extract (web/upload.c) does with a
 * Content-Type header and a body before anything looks at the photo.
 *
 * Input: the Content-Type value up to the first '\n' (at most 256 bytes),
 * then the body.  multipart_boundary reads the header; multipart_parse splits
 * the body (with the server's 16 parts and with 1); every file name goes
 * through upload_sanitize_name.  Checks: a boundary is 1..70 bytes; parts
 * point inside the body and never contain a delimiter line (RFC 2046: CRLF
 * "--" boundary, then "--" or blanks and CRLF); their header fields
 * are terminated; parsing with room for one part agrees with parsing with
 * room for sixteen (same part, or CD_ERR_LIMIT when there were more); a
 * sanitized name is valid UTF-8, without '/', '\\' or control characters,
 * and never "", "." or "..".
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "web/multipart.h"
#include "web/upload.h"

#define MAX_PARTS 16 /* as web/upload.c */

/* The promises of upload_sanitize_name, checked on its output. */
void fuzz_check_sanitized(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    FUZZ_CHECK(n > 0 && n < size);
    FUZZ_CHECK(strcmp(s, ".") != 0 && strcmp(s, "..") != 0);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\');
        size_t l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        FUZZ_CHECK(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
        FUZZ_CHECK(i + l <= n);
        for (size_t k = 1; k < l; k++)
            FUZZ_CHECK((u[i + k] & 0xc0) == 0x80);
        i += l;
    }
}

/* 1 when body[at..] starts a delimiter line: CRLF "--" boundary, then "--",
 * or optional blanks and CRLF (what may end a part; RFC 2046 5.1.1). */
static int delimiter_at(const uint8_t *body, size_t len, size_t at, const char *delim, size_t dlen)
{
    if (at + dlen > len || memcmp(body + at, delim, dlen) != 0)
        return 0;
    size_t after = at + dlen;
    if (after + 2 <= len && body[after] == '-' && body[after + 1] == '-')
        return 1;
    while (after < len && (body[after] == ' ' || body[after] == '\t'))
        after++;
    return after + 2 <= len && body[after] == '\r' && body[after + 1] == '\n';
}

static void check_part(const multipart_part *p, const uint8_t *body, size_t len, const char *boundary)
{
    FUZZ_CHECK(memchr(p->name, 0, sizeof p->name) != NULL);
    FUZZ_CHECK(memchr(p->filename, 0, sizeof p->filename) != NULL);
    FUZZ_CHECK(memchr(p->content_type, 0, sizeof p->content_type) != NULL);
    FUZZ_CHECK(p->has_filename == 0 || p->has_filename == 1);
    FUZZ_CHECK(p->data >= body && p->len <= len && (size_t)(p->data - body) <= len - p->len);
    /* The part ends at the first delimiter line: it cannot hold one. */
    char delim[MULTIPART_BOUNDARY_MAX + 5] = "\r\n--";
    strcat(delim, boundary);
    size_t dlen = strlen(delim), start = (size_t)(p->data - body);
    for (size_t at = start; at + dlen <= start + p->len; at++)
        FUZZ_CHECK(!delimiter_at(body, len, at, delim, dlen));
    char name[256];
    memset(name, 'X', sizeof name); /* as a caller's stack would be: not zeroed */
    upload_sanitize_name(p->filename, name, sizeof name);
    fuzz_check_sanitized(name, sizeof name);
}

int fuzz_multipart_one(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 257 ? size : 257);
    if (!nl)
        return 0;
    char ct[258];
    size_t ct_len = (size_t)(nl - data);
    memcpy(ct, data, ct_len);
    ct[ct_len] = '\0';
    const uint8_t *body = nl + 1;
    size_t len = size - ct_len - 1;

    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    cd_err err;
    cd_err_clear(&err);
    if (multipart_boundary(ct, boundary, sizeof boundary, &err) != 0) {
        FUZZ_CHECK(err.code == CD_ERR_FORMAT && err.msg[0]);
        return 0;
    }
    size_t blen = strnlen(boundary, sizeof boundary);
    FUZZ_CHECK(blen >= 1 && blen <= MULTIPART_BOUNDARY_MAX);

    multipart_part parts[MAX_PARTS];
    int n = -1;
    int rc = multipart_parse(body, len, boundary, parts, MAX_PARTS, &n, &err);
    if (rc != 0) {
        FUZZ_CHECK(err.code == CD_ERR_FORMAT || err.code == CD_ERR_LIMIT);
        FUZZ_CHECK(err.msg[0] != '\0');
    } else {
        FUZZ_CHECK(n >= 0 && n <= MAX_PARTS);
        for (int i = 0; i < n; i++)
            check_part(&parts[i], body, len, boundary);
    }

    /* Room for one part: the same answer, or "too many" where there were more. */
    multipart_part one;
    int n1 = -1;
    cd_err err1;
    int rc1 = multipart_parse(body, len, boundary, &one, 1, &n1, &err1);
    if (rc == 0 && n <= 1) {
        FUZZ_CHECK(rc1 == 0 && n1 == n);
        if (n == 1)
            FUZZ_CHECK(one.data == parts[0].data && one.len == parts[0].len &&
                       strcmp(one.name, parts[0].name) == 0);
    } else if (rc == 0) {
        FUZZ_CHECK(rc1 != 0 && err1.code == CD_ERR_LIMIT);
    } else if (err.code == CD_ERR_FORMAT) {
        FUZZ_CHECK(rc1 != 0);
    }
    return 0;
}
