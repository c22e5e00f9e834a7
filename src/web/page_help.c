/*
 * page_help.c - GET /error and every refused form upload (see pages.h): the
 * seed's "File didn't load" page, now saying why and what is accepted.
 */
#include <stdio.h>

#include "web/pages.h"

void page_help(strbuf *b, const page_frame *f, const char *code, const char *detail, size_t max_upload,
               long max_pixels)
{
    i18n_lang L = f->lang;
    char limit[32];
    page_format_bytes(limit, sizeof limit, max_upload);
    page_begin(b, f, i18n(L, I18N_HELP_TITLE));
    strbuf_printf(b, "<div class=\"row\"><div class=\"col s12 m10 offset-m1 l8 offset-l2\">\n"
                     "<div class=\"card help\"><div class=\"card-content\">\n"
                     "<span class=\"card-title\" id=\"help-title\">%s</span>\n",
                  i18n(L, I18N_HELP_TITLE));
    if (code) {
        strbuf_printf(b, "<p class=\"reason\" data-code=\"%s\"><strong>%s:</strong> %s", code, i18n(L, I18N_REASON),
                      i18n_reason(L, code));
        if (detail && *detail) {
            strbuf_puts(b, " <span class=\"grey-text detail\">(");
            strbuf_html(b, detail);
            strbuf_puts(b, ")</span>");
        }
        strbuf_puts(b, "</p>\n");
    }
    strbuf_printf(b, "<p>%s</p>\n<p>%s:</p><ul class=\"browser-default\"><li>%s %s</li>", i18n(L, I18N_HELP_TEXT),
                  i18n(L, I18N_HELP_LIMITS), i18n(L, I18N_HELP_MAX_BYTES), limit);
    if (max_pixels > 0)
        strbuf_printf(b, "<li>%s %.0f</li>", i18n(L, I18N_HELP_MAX_PIXELS), (double)max_pixels / 1e6);
    strbuf_printf(b,
                  "<li>%s</li></ul>\n</div>\n<div class=\"card-action\">"
                  "<a id=\"help-link\" href=\"/template\">%s</a></div>\n</div>\n</div></div>\n",
                  i18n(L, I18N_HELP_ONE_FILE), i18n(L, I18N_HELP_LINK));
    page_end(b, f);
}
