/*
 * page_history.c - GET /history (see pages.h): recent predictions with a
 * thumbnail, the verdict, the probability, the model and when; and two buttons
 * per row ("actually a cat / dog") that post the user's correction.
 */
#include <stdio.h>
#include <time.h>

#include "web/pages.h"

static void feedback_form(strbuf *b, i18n_lang L, const history_rec *r, long long page, int label, const char *csrf)
{
    int chosen = r->feedback == label;
    strbuf_printf(b,
                  "<form class=\"feedback-form\" method=\"post\" action=\"/history/%lld/feedback\">"
                  "<input type=\"hidden\" name=\"label\" value=\"%s\">"
                  "<input type=\"hidden\" name=\"page\" value=\"%lld\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                  "<button type=\"submit\" class=\"btn-small %s feedback-%s\">%s</button></form>",
                  r->id, label ? "dog" : "cat", page, csrf, chosen ? "" : "btn-flat", label ? "dog" : "cat",
                  i18n(L, label ? I18N_ACTUALLY_DOG : I18N_ACTUALLY_CAT));
}

void page_history(strbuf *b, const page_frame *f, const history_rec *rows, int n, long long page,
                  long long pages, long long total, const char *csrf)
{
    i18n_lang L = f->lang;
    page_begin(b, f, i18n(L, I18N_HISTORY_TITLE));
    /* csrf is hex made here (auth.c), safe to write unescaped. */
    strbuf_printf(b,
                  "<form class=\"logout-form right\" method=\"post\" action=\"/logout\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                  "<button type=\"submit\" class=\"btn-flat\" id=\"logout\">%s</button></form>\n",
                  csrf, i18n(L, I18N_LOGOUT));
    strbuf_printf(b, "<h4>%s <span class=\"grey-text\" id=\"history-total\">(%lld)</span></h4>\n",
                  i18n(L, I18N_HISTORY_TITLE), total);
    if (n == 0)
        strbuf_printf(b, "<p id=\"history-empty\">%s</p>\n", i18n(L, I18N_HISTORY_EMPTY));
    strbuf_puts(b, "<ul class=\"collection history\">\n");
    for (int i = 0; i < n; i++) {
        const history_rec *r = &rows[i];
        double p = r->label ? r->p_dog : 1.0 - r->p_dog;
        char when[32];
        time_t t = (time_t)r->time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        strbuf_printf(b, "<li class=\"collection-item avatar history-row\" id=\"r%lld\" data-id=\"%lld\">", r->id,
                      r->id);
        if (r->file[0]) {
            strbuf_puts(b, "<a href=\"/photos/");
            strbuf_url(b, r->file);
            strbuf_puts(b, "\"><img class=\"thumb\" loading=\"lazy\" src=\"/thumbs/");
            strbuf_url(b, r->file);
            strbuf_puts(b, "\" alt=\"\"></a>");
        } else {
            /* Recorded under --no-store: no photo to link, so a placeholder
             * of the thumbnail's size instead of a broken image. */
            strbuf_puts(b, "<span class=\"thumb no-photo\"></span>");
        }
        strbuf_puts(b, "<span class=\"title\">");
        strbuf_html(b, r->name);
        strbuf_printf(b,
                      "</span><p><strong class=\"verdict-%s\">%s</strong> &middot; %.1f%% &middot; %s &middot; "
                      "%.1f %s<br><span class=\"grey-text\">%s &middot; %d &times; %d</span>",
                      r->label ? "dog" : "cat", i18n(L, r->label ? I18N_VERDICT_DOG : I18N_VERDICT_CAT),
                      p * 100.0, r->model, r->latency_ms, i18n(L, I18N_MS), when, r->width, r->height);
        if (r->feedback != HISTORY_NO_FEEDBACK)
            strbuf_printf(b, "<br><span class=\"feedback-given\" data-feedback=\"%s\">%s: %s</span>",
                          r->feedback ? "dog" : "cat", i18n(L, I18N_FEEDBACK),
                          i18n(L, r->feedback ? I18N_FEEDBACK_DOG : I18N_FEEDBACK_CAT));
        strbuf_puts(b, "</p><div class=\"feedback\">");
        feedback_form(b, L, r, page, 0, csrf);
        feedback_form(b, L, r, page, 1, csrf);
        strbuf_puts(b, "</div></li>\n");
    }
    strbuf_puts(b, "</ul>\n<div class=\"pager\">");
    if (page > 1)
        strbuf_printf(b, "<a class=\"btn-flat\" id=\"newer\" href=\"/history?page=%lld\">&larr; %s</a> ", page - 1,
                      i18n(L, I18N_NEWER));
    strbuf_printf(b, "<span>%s %lld %s %lld</span>", i18n(L, I18N_PAGE), page, i18n(L, I18N_OF),
                  pages > 0 ? pages : 1);
    if (page < pages)
        strbuf_printf(b, " <a class=\"btn-flat\" id=\"older\" href=\"/history?page=%lld\">%s &rarr;</a>", page + 1,
                      i18n(L, I18N_OLDER));
    strbuf_puts(b, "</div>\n");
    page_end(b, f);
}

void page_login(strbuf *b, const page_frame *f, int wrong)
{
    i18n_lang L = f->lang;
    page_begin(b, f, i18n(L, I18N_LOGIN_TITLE));
    strbuf_printf(b, "<h4>%s</h4>\n", i18n(L, I18N_LOGIN_TITLE));
    if (wrong)
        strbuf_printf(b, "<p class=\"red-text\" id=\"login-wrong\">%s</p>\n", i18n(L, I18N_LOGIN_WRONG));
    strbuf_printf(b,
                  "<form method=\"post\" action=\"/login\" id=\"login-form\">"
                  "<div class=\"input-field\"><input type=\"password\" name=\"token\" id=\"token\" "
                  "autocomplete=\"current-password\" required><label for=\"token\">%s</label></div>"
                  "<button type=\"submit\" class=\"btn\" id=\"login\">%s</button></form>\n",
                  i18n(L, I18N_LOGIN_TOKEN), i18n(L, I18N_LOGIN_SUBMIT));
    page_end(b, f);
}
