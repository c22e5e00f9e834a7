/*
 * multipart.c - multipart/form-data parser over a complete body (see multipart.h).
 *
 * Every search is bounded by the body length (memmem, explicit lengths), and
 * header values are copied with truncation into fixed fields, so no input can
 * make it read or write out of bounds.
 */
#include "web/multipart.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Copies at most out_size-1 bytes of [s, s+n) and terminates. */
static void copy_field(char *out, size_t out_size, const char *s, size_t n)
{
    if (n >= out_size)
        n = out_size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a parameter value at *p (a token, or a quoted-string with \-escapes)
 * ending before `end`; writes it to out and advances *p past it. */
static void read_param_value(const char **p, const char *end, char *out, size_t out_size)
{
    const char *s = *p;
    size_t o = 0;
    if (s < end && *s == '"') {
        s++;
        while (s < end && *s != '"') {
            if (*s == '\\' && s + 1 < end)
                s++;
            if (o + 1 < out_size)
                out[o++] = *s;
            s++;
        }
        if (s < end)
            s++; /* closing quote */
    } else {
        while (s < end && *s != ';' && *s != ' ' && *s != '\t') {
            if (o + 1 < out_size)
                out[o++] = *s;
            s++;
        }
    }
    out[o] = '\0';
    *p = s;
}

/* RFC 5987 ext-value: charset'lang'percent-encoded.  Decodes in place. */
static void decode_ext_value(char *v)
{
    char *q = strchr(v, '\'');
    char *src = v;
    if (q) {
        char *q2 = strchr(q + 1, '\'');
        if (q2)
            src = q2 + 1;
    }
    char *o = v;
    while (*src) {
        int h, l;
        if (*src == '%' && (h = hexval((unsigned char)src[1])) >= 0 &&
            (l = hexval((unsigned char)src[2])) >= 0) {
            *o++ = (char)(h * 16 + l);
            src += 3;
        } else {
            *o++ = *src++;
        }
    }
    *o = '\0';
}

/* Parses `form-data; name="x"; filename="y"` into part. Returns 0, or -1 when
 * the disposition is not form-data. */
static int parse_disposition(const char *s, const char *end, multipart_part *part)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    static const char fd[] = "form-data";
    if ((size_t)(end - s) < sizeof fd - 1 || strncasecmp(s, fd, sizeof fd - 1) != 0)
        return -1;
    s += sizeof fd - 1;
    int have_ext = 0;
    while (s < end) {
        while (s < end && (*s == ';' || *s == ' ' || *s == '\t'))
            s++;
        const char *key = s;
        while (s < end && *s != '=' && *s != ';')
            s++;
        size_t klen = (size_t)(s - key);
        while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t'))
            klen--;
        if (s >= end || *s != '=')
            continue; /* a parameter without value: ignore */
        s++;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        char value[512];
        read_param_value(&s, end, value, sizeof value);
        if (klen == 4 && strncasecmp(key, "name", 4) == 0) {
            copy_field(part->name, sizeof part->name, value, strlen(value));
        } else if (klen == 8 && strncasecmp(key, "filename", 8) == 0) {
            part->has_filename = 1;
            if (!have_ext)
                copy_field(part->filename, sizeof part->filename, value, strlen(value));
        } else if (klen == 9 && strncasecmp(key, "filename*", 9) == 0) {
            decode_ext_value(value);
            part->has_filename = 1;
            have_ext = 1;
            copy_field(part->filename, sizeof part->filename, value, strlen(value));
        }
    }
    return 0;
}

/* Parses the header block [s, end) (lines separated by CRLF) into part. */
static int parse_headers(const char *s, const char *end, multipart_part *part, cd_err *err)
{
    int have_disposition = 0;
    while (s < end) {
        const char *eol = memmem(s, (size_t)(end - s), "\r\n", 2);
        if (!eol)
            eol = end;
        const char *colon = memchr(s, ':', (size_t)(eol - s));
        if (colon) {
            size_t nlen = (size_t)(colon - s);
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *vend = eol;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            if (nlen == 19 && strncasecmp(s, "Content-Disposition", 19) == 0) {
                if (parse_disposition(v, vend, part) != 0)
                    return cd_err_set(err, CD_ERR_FORMAT,
                                      "multipart part has a Content-Disposition other than form-data");
                have_disposition = 1;
            } else if (nlen == 12 && strncasecmp(s, "Content-Type", 12) == 0) {
                copy_field(part->content_type, sizeof part->content_type, v, (size_t)(vend - v));
            }
        }
        s = eol + 2;
    }
    if (!have_disposition)
        return cd_err_set(err, CD_ERR_FORMAT, "multipart part without Content-Disposition");
    return 0;
}

int multipart_boundary(const char *content_type, char *out, size_t out_size, cd_err *err)
{
    if (!content_type)
        return cd_err_set(err, CD_ERR_FORMAT, "no Content-Type");
    const char *s = content_type;
    while (*s == ' ' || *s == '\t')
        s++;
    static const char mt[] = "multipart/form-data";
    if (strncasecmp(s, mt, sizeof mt - 1) != 0)
        return cd_err_set(err, CD_ERR_FORMAT, "Content-Type is not multipart/form-data");
    s += sizeof mt - 1;
    const char *end = s + strlen(s);
    while (s < end) {
        while (s < end && (*s == ';' || *s == ' ' || *s == '\t'))
            s++;
        const char *key = s;
        while (s < end && *s != '=' && *s != ';')
            s++;
        size_t klen = (size_t)(s - key);
        if (s >= end || *s != '=')
            continue;
        s++;
        char value[MULTIPART_BOUNDARY_MAX + 2];
        read_param_value(&s, end, value, sizeof value);
        if (klen == 8 && strncasecmp(key, "boundary", 8) == 0) {
            size_t n = strlen(value);
            if (n == 0 || n > MULTIPART_BOUNDARY_MAX || n + 1 > out_size)
                return cd_err_set(err, CD_ERR_FORMAT, "multipart boundary is empty or longer than %d bytes",
                                  MULTIPART_BOUNDARY_MAX);
            memcpy(out, value, n + 1);
            return 0;
        }
    }
    return cd_err_set(err, CD_ERR_FORMAT, "multipart/form-data without a boundary");
}

/* Finds the next real delimiter "\r\n--boundary" at or after `from`: one followed
 * by "--" or by optional blanks and CRLF.  Returns its offset or -1. */
static long find_delimiter(const unsigned char *body, size_t len, size_t from, const char *delim,
                           size_t dlen)
{
    while (from < len) {
        const unsigned char *hit = memmem(body + from, len - from, delim, dlen);
        if (!hit)
            return -1;
        size_t at = (size_t)(hit - body);
        size_t after = at + dlen;
        if (after + 2 <= len && body[after] == '-' && body[after + 1] == '-')
            return (long)at;
        while (after < len && (body[after] == ' ' || body[after] == '\t'))
            after++;
        if (after + 2 <= len && body[after] == '\r' && body[after + 1] == '\n')
            return (long)at;
        from = at + 1;
    }
    return -1;
}

int multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                    multipart_part *parts, int max_parts, int *n_parts, cd_err *err)
{
    *n_parts = 0;
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > MULTIPART_BOUNDARY_MAX)
        return cd_err_set(err, CD_ERR_FORMAT, "bad multipart boundary");
    /* delim = CRLF "--" boundary; the first delimiter may sit at offset 0 without CRLF. */
    char delim[MULTIPART_BOUNDARY_MAX + 5];
    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = '-';
    delim[3] = '-';
    memcpy(delim + 4, boundary, blen);
    size_t dlen = blen + 4;

    size_t pos;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        long at = find_delimiter(body, len, 0, delim, dlen);
        if (at < 0)
            return cd_err_set(err, CD_ERR_FORMAT, "multipart body has no boundary line");
        pos = (size_t)at + dlen;
    }

    for (;;) {
        /* Here pos is just after a delimiter. */
        if (pos + 2 <= len && body[pos] == '-' && body[pos + 1] == '-')
            return 0; /* closing delimiter; the epilogue is ignored */
        while (pos < len && (body[pos] == ' ' || body[pos] == '\t'))
            pos++;
        if (pos + 2 > len || body[pos] != '\r' || body[pos + 1] != '\n')
            return cd_err_set(err, CD_ERR_FORMAT, "multipart body is truncated or malformed after a boundary");
        pos += 2;

        /* Headers end at the first empty line. */
        size_t hdr_start = pos, hdr_end, data_start;
        if (pos + 2 <= len && body[pos] == '\r' && body[pos + 1] == '\n') {
            hdr_end = pos;
            data_start = pos + 2;
        } else {
            size_t window = len - pos;
            if (window > MULTIPART_MAX_HEADERS + 4)
                window = MULTIPART_MAX_HEADERS + 4;
            const unsigned char *e = memmem(body + pos, window, "\r\n\r\n", 4);
            if (!e)
                return cd_err_set(err, CD_ERR_FORMAT,
                                  window > MULTIPART_MAX_HEADERS
                                      ? "multipart part headers longer than %d bytes"
                                      : "multipart part headers never end (truncated body?)",
                                  MULTIPART_MAX_HEADERS);
            hdr_end = (size_t)(e - body);
            data_start = hdr_end + 4;
        }

        long at = find_delimiter(body, len, data_start, delim, dlen);
        if (at < 0)
            return cd_err_set(err, CD_ERR_FORMAT, "multipart body is truncated (no closing boundary)");

        if (*n_parts >= max_parts)
            return cd_err_set(err, CD_ERR_LIMIT, "more than %d parts in the form", max_parts);
        multipart_part *part = &parts[*n_parts];
        memset(part, 0, sizeof *part);
        if (parse_headers((const char *)body + hdr_start, (const char *)body + hdr_end, part, err) != 0)
            return -1;
        part->data = body + data_start;
        part->len = (size_t)at - data_start;
        (*n_parts)++;
        pos = (size_t)at + dlen;
    }
}
