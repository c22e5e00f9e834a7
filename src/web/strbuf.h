/*
 * strbuf.h - a growable byte buffer for building pages, JSON-free text
 * responses and Prometheus output.
 *
 * Appends never fail loudly: an allocation failure sets the sticky `failed`
 * flag and later appends do nothing, so a page builder writes straight-line
 * code and checks `failed` once at the end (the request then gets a 500).
 * The content is always NUL-terminated when data != NULL.
 *
 * Ownership: strbuf_init leaves an empty buffer; strbuf_free releases it;
 * strbuf_take hands the malloc'd bytes to the caller and leaves the buffer empty.
 */
#ifndef CATDOG_WEB_STRBUF_H
#define CATDOG_WEB_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    int failed;   /* 1 after any allocation failure */
} strbuf;

void strbuf_init(strbuf *b);
void strbuf_free(strbuf *b);

void strbuf_append(strbuf *b, const void *bytes, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s with &, <, >, " and ' escaped for HTML text and attribute values. */
void strbuf_html(strbuf *b, const char *s);

/* Appends s percent-encoded for a URL path segment or query value
 * (everything but A-Z a-z 0-9 - . _ ~ is encoded). */
void strbuf_url(strbuf *b, const char *s);

/* Detaches the bytes (NUL-terminated, length in *len when len != NULL).
 * Returns NULL when the buffer failed or is empty-and-unallocated. */
char *strbuf_take(strbuf *b, size_t *len);

#endif
