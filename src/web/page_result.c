/*
 * page_result.c - the verdict page (see pages.h): the photo on one side, one
 * card per model on the other, each with the verdict in the seed's words, the
 * probability as a number and a bar, the model and the time taken.
 */
#include <math.h>
#include <stdio.h>

#include "web/pages.h"

void page_result(strbuf *b, const page_frame *f, const page_photo *photo, const page_verdict *v, int n)
{
    i18n_lang L = f->lang;
    page_begin(b, f, i18n(L, I18N_RESULT_TITLE));
    char size[32];
    page_format_bytes(size, sizeof size, (unsigned long long)photo->size);
    strbuf_puts(b, "<div class=\"row result\">\n<div class=\"col s12 m5\"><div class=\"card\">");
    if (photo->photo_url) {
        strbuf_puts(b, "<div class=\"card-image\"><img class=\"photo\" src=\"");
        strbuf_html(b, photo->photo_url);
        strbuf_puts(b, "\" alt=\"");
        strbuf_html(b, photo->name);
        strbuf_puts(b, "\"></div>");
    }
    strbuf_puts(b, "<div class=\"card-content\"><p class=\"truncate photo-name\">");
    strbuf_html(b, photo->name);
    strbuf_printf(b, "</p><p class=\"grey-text\">%d &times; %d &middot; %s</p>", photo->width, photo->height, size);
    if (photo->result_url) {
        strbuf_printf(b, "<p class=\"result-link\">%s: <a id=\"result-link\" href=\"", i18n(L, I18N_RESULT_LINK));
        strbuf_html(b, photo->result_url);
        strbuf_puts(b, "\">");
        strbuf_html(b, photo->result_url);
        strbuf_puts(b, "</a></p>");
    }
    if (!photo->photo_url)
        strbuf_printf(b, "<p class=\"not-kept\">%s</p>", i18n(L, I18N_NOT_KEPT));
    strbuf_puts(b, "</div></div></div>\n");

    strbuf_printf(b, "<div class=\"col s12 m7\"><div class=\"row verdicts\">\n");
    for (int i = 0; i < n; i++) {
        double p = v[i].label ? v[i].p_dog : 1.0 - v[i].p_dog;
        int pct = (int)lround(p * 100.0);
        if (pct < 0)
            pct = 0;
        if (pct > 100)
            pct = 100;
        strbuf_printf(b,
                      "<div class=\"col s12%s\"><div class=\"card verdict verdict-%s\" data-model=\"%s\">"
                      "<div class=\"card-content\">\n"
                      "<span class=\"card-title verdict-text\">%s</span>\n"
                      "<p>%s: <strong class=\"probability\">%.1f%%</strong></p>\n"
                      "<div class=\"bar\" role=\"img\" aria-label=\"%.1f%%\"><div class=\"bar-fill pw-%d\"></div></div>\n"
                      "<p class=\"meta\">%s: <span class=\"model-name\">%s</span> &middot; %s: "
                      "<span class=\"elapsed\">%.1f</span> %s</p>\n"
                      "</div></div></div>\n",
                      n > 1 ? " l6" : "", v[i].label ? "dog" : "cat", v[i].model,
                      i18n(L, v[i].label ? I18N_VERDICT_DOG : I18N_VERDICT_CAT), i18n(L, I18N_PROBABILITY),
                      p * 100.0, p * 100.0, pct, i18n(L, I18N_MODEL), v[i].model, i18n(L, I18N_TIME),
                      v[i].elapsed_ms, i18n(L, I18N_MS));
    }
    strbuf_printf(b, "</div>\n<p><a class=\"btn-large\" id=\"back\" href=\"/template\">%s</a></p>\n</div>\n</div>\n",
                  i18n(L, I18N_BACK));
    page_end(b, f);
}
