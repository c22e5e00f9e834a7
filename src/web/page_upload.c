/*
 * page_upload.c - GET /template, the upload form (see pages.h).
 *
 * A plain multipart form (field `inputfile`, radio `model`) that works without
 * JavaScript; catdog.js adds drag and drop onto the drop zone and a preview.
 */
#include <stdio.h>
#include <string.h>

#include "web/pages.h"

static void model_choice(strbuf *b, i18n_lang L, const char *value, i18n_key label, int enabled, int checked)
{
    strbuf_printf(b, "<p><label><input class=\"with-gap\" name=\"model\" type=\"radio\" value=\"%s\"%s%s>"
                     "<span>%s%s%s%s</span></label></p>\n",
                  value, checked ? " checked" : "", enabled ? "" : " disabled", i18n(L, label),
                  enabled ? "" : " (", enabled ? "" : i18n(L, I18N_MODEL_OFF), enabled ? "" : ")");
}

void page_upload(strbuf *b, const page_frame *f, const registry *reg, size_t max_upload)
{
    i18n_lang L = f->lang;
    char limit[32];
    page_format_bytes(limit, sizeof limit, max_upload);
    page_begin(b, f, i18n(L, I18N_TITLE_UPLOAD));
    strbuf_printf(b,
                  "<div class=\"row\"><div class=\"col s12 m10 offset-m1 l8 offset-l2\">\n"
                  "<h1 class=\"page-title\">%s</h1>\n"
                  "<div class=\"card\"><div class=\"card-content\">\n"
                  "<span class=\"card-title\">%s</span>\n"
                  "<form id=\"upload-form\" action=\"/template/upload\" method=\"post\" "
                  "enctype=\"multipart/form-data\">\n"
                  "<div id=\"dropzone\" class=\"dropzone\">\n"
                  "<img id=\"preview\" class=\"preview hidden\" alt=\"\">\n"
                  "<div class=\"file-field input-field\">\n"
                  "<div class=\"btn\"><span>%s</span>"
                  "<input type=\"file\" name=\"inputfile\" id=\"inputfile\" "
                  "accept=\"image/jpeg,image/png,image/webp,.jpg,.jpeg,.png,.webp\"></div>\n"
                  "<div class=\"file-path-wrapper\"><input class=\"file-path\" type=\"text\" "
                  "tabindex=\"-1\" aria-hidden=\"true\"></div>\n"
                  "</div>\n<p class=\"hint\">%s &middot; %s %s</p>\n</div>\n",
                  i18n(L, I18N_TITLE_UPLOAD), i18n(L, I18N_HEADING_UPLOAD), i18n(L, I18N_CHOOSE_FILE),
                  i18n(L, I18N_DROP_HERE), i18n(L, I18N_UPLOAD_HINT), limit);

    int have_binary = registry_find(reg, "binary") >= 0;
    int have_transfer = registry_find(reg, "transfer") >= 0;
    const char *best = reg->models[reg->best].name;
    strbuf_printf(b, "<fieldset class=\"models\"><legend>%s</legend>\n", i18n(L, I18N_MODEL));
    model_choice(b, L, "binary", I18N_MODEL_binary, have_binary, strcmp(best, "binary") == 0);
    model_choice(b, L, "transfer", I18N_MODEL_transfer, have_transfer, strcmp(best, "transfer") == 0);
    model_choice(b, L, "both", I18N_MODEL_both, have_binary && have_transfer, 0);
    strbuf_printf(b,
                  "</fieldset>\n"
                  "<button class=\"btn-large waves-effect waves-light\" type=\"submit\" id=\"submit\">%s</button>\n"
                  "</form>\n</div></div>\n</div></div>\n",
                  i18n(L, I18N_SUBMIT));
    page_end(b, f);
}
