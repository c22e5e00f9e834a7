/*
 * pages.h - the HTML pages, written into a strbuf.
 *
 * Every page uses the same frame (page_begin/page_end): MaterializeCSS's
 * stylesheet and the program's own catdog.css/catdog.js, all from /static (nothing from outside;
 * the CSP forbids it anyway), a navigation bar with the language switch, and a
 * viewport meta so phones get a readable layout.  Pages work without
 * JavaScript: forms are plain posts, the probability bar is CSS.
 * All text from users (file names) is HTML-escaped.
 */
#ifndef CATDOG_WEB_PAGES_H
#define CATDOG_WEB_PAGES_H

#include <stddef.h>

#include "web/history.h"
#include "web/i18n.h"
#include "web/registry.h"
#include "web/strbuf.h"

typedef struct page_frame {
    i18n_lang lang;
    int have_materialize;    /* link MaterializeCSS (absent when npm assets are missing) */
    const char *switch_path; /* where the language switch points ("/template") */
} page_frame;

void page_begin(strbuf *b, const page_frame *f, const char *title);
void page_end(strbuf *b, const page_frame *f);

/* GET /template: the upload form.  max_upload for the hint. */
void page_upload(strbuf *b, const page_frame *f, const registry *reg, size_t max_upload);

typedef struct page_verdict {
    const char *model;       /* "binary" */
    double p_dog;
    int label;               /* 0 cat, 1 dog */
    double elapsed_ms;
} page_verdict;

typedef struct page_photo {
    const char *photo_url;   /* where the page shows the photo from (/result/<id>/photo); NULL = not kept */
    const char *result_url;  /* the result's own address (/result/<id>); NULL = none (not recorded) */
    const char *name;        /* the client's name (escaped here) */
    long long size;
    int width, height;
} page_photo;

/* The result of POST /template/upload, GET /upload/<file> and GET
 * /result/<id>: the photo and one verdict card per model, side by side, and
 * the result's address for the visitor to keep. */
void page_result(strbuf *b, const page_frame *f, const page_photo *photo, const page_verdict *v, int n);

/* GET /error and refused uploads: "File didn't load", why (code's text and
 * detail, both optional), what is accepted, and the link back to /template. */
void page_help(strbuf *b, const page_frame *f, const char *code, const char *detail, size_t max_upload,
               long max_pixels);

/* GET /history: rows newest first, page `page` (1-based) of `pages`; every
 * form carries the CSRF token `csrf`. */
void page_history(strbuf *b, const page_frame *f, const history_rec *rows, int n, long long page,
                  long long pages, long long total, const char *csrf);

/* GET /login: the admin login form; wrong = 1 after a wrong token. */
void page_login(strbuf *b, const page_frame *f, int wrong);

/* A small page for 404s. */
void page_not_found(strbuf *b, const page_frame *f);

/* "16 MiB", "512 KiB", "100 bytes". */
void page_format_bytes(char *out, size_t size, unsigned long long n);

#endif
