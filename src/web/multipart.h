/*
 * multipart.h - parsing a buffered multipart/form-data request body (RFC 7578).
 *
 * The upload routes read the whole body (bounded by --max-upload) and hand it
 * here.  Parsing works on the complete buffer, so it is a pure function of the
 * bytes: easy to test and to fuzz.  Parts point into the caller's buffer (no
 * copies of file data); the small header fields are copied into the part.
 *
 * What it accepts: an optional preamble, parts separated by "--boundary" lines,
 * each with CRLF-terminated headers (Content-Disposition: form-data; name=...;
 * filename=... or filename*=UTF-8''..., Content-Type), a blank line, the data, and
 * the closing "--boundary--".  Anything else (no closing delimiter, headers that
 * never end or are longer than MULTIPART_MAX_HEADERS bytes, a part without
 * Content-Disposition) is CD_ERR_FORMAT; more than max_parts parts is CD_ERR_LIMIT.
 */
#ifndef CATDOG_WEB_MULTIPART_H
#define CATDOG_WEB_MULTIPART_H

#include <stddef.h>

#include "core/error.h"

#define MULTIPART_MAX_HEADERS 8192   /* bytes of header lines per part */
#define MULTIPART_BOUNDARY_MAX 70    /* RFC 2046 */

typedef struct multipart_part {
    char name[128];              /* the form field's name */
    char filename[512];          /* the client's file name as sent (never a path here) */
    int has_filename;            /* 1 when the part declared a filename (even empty) */
    char content_type[128];      /* the part's Content-Type, "" when absent */
    const unsigned char *data;   /* borrowed: points into the body */
    size_t len;
} multipart_part;

/* Extracts the boundary from a Content-Type header value such as
 * `multipart/form-data; boundary="abc"`.  out must hold MULTIPART_BOUNDARY_MAX+1
 * bytes.  Returns 0, or -1 (CD_ERR_FORMAT) when the type is not
 * multipart/form-data or has no valid boundary. */
int multipart_boundary(const char *content_type, char *out, size_t out_size, cd_err *err);

/* Parses body into at most max_parts parts; *n_parts receives the count.
 * Returns 0 or -1 with err filled. */
int multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                    multipart_part *parts, int max_parts, int *n_parts, cd_err *err);

#endif
