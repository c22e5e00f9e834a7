/*
 * page_layout.c - the frame every page shares (see pages.h).
 */
#include <stdio.h>

#include "web/pages.h"

void page_format_bytes(char *out, size_t size, unsigned long long n)
{
    if (n >= 1024ull * 1024 && n % (1024ull * 1024) == 0)
        snprintf(out, size, "%llu MiB", n / (1024ull * 1024));
    else if (n >= 1024ull * 1024)
        snprintf(out, size, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    else if (n >= 1024)
        snprintf(out, size, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(out, size, "%llu bytes", n);
}

void page_begin(strbuf *b, const page_frame *f, const char *title)
{
    i18n_lang L = f->lang;
    strbuf_printf(b,
                  "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
                  i18n_code(L));
    strbuf_html(b, title);
    strbuf_puts(b, "</title>\n<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n");
    if (f->have_materialize)
        strbuf_puts(b, "<link rel=\"stylesheet\" href=\"/static/materialize/css/materialize.min.css\">\n");
    strbuf_puts(b, "<link rel=\"stylesheet\" href=\"/static/catdog.css\">\n</head>\n<body>\n"
                   "<nav class=\"teal\"><div class=\"nav-wrapper container\">"
                   "<a href=\"/template\" class=\"brand-logo\">catdog</a>"
                   "<ul class=\"right\">");
    strbuf_printf(b, "<li><a href=\"/template\">%s</a></li><li><a href=\"/history\">%s</a></li>",
                  i18n(L, I18N_NAV_UPLOAD), i18n(L, I18N_NAV_HISTORY));
    strbuf_puts(b, "<li><a id=\"lang-switch\" href=\"");
    strbuf_html(b, f->switch_path ? f->switch_path : "/template");
    strbuf_printf(b, "?lang=%s\" hreflang=\"%s\">%s</a></li></ul></div></nav>\n<main class=\"container\">\n",
                  L == LANG_EN ? "ru" : "en", L == LANG_EN ? "ru" : "en", i18n(L, I18N_OTHER_LANG));
}

void page_end(strbuf *b, const page_frame *f)
{
    (void)f;
    /* Only MaterializeCSS's stylesheet is used: its script injects inline
     * styles, which the CSP refuses, and the pages need none of it. */
    strbuf_puts(b, "</main>\n<script src=\"/static/catdog.js\"></script>\n</body>\n</html>\n");
}

void page_not_found(strbuf *b, const page_frame *f)
{
    page_begin(b, f, i18n(f->lang, I18N_NOT_FOUND));
    strbuf_printf(b, "<h4>%s</h4>\n<p><a class=\"btn\" href=\"/template\">%s</a></p>\n",
                  i18n(f->lang, I18N_NOT_FOUND), i18n(f->lang, I18N_BACK));
    page_end(b, f);
}
