/*
 * handlers_upload.c - the page routes that classify: POST /template/upload
 * (the form) and GET /upload/<file> (a photo already in the upload folder).
 * Both answer with the result page, or the help page saying why not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/pages.h"
#include "web/server.h"
#include "web/upload.h"

static enum MHD_Result refused(http_req *r, const upload_failure *f)
{
    metrics_reject(r->srv->metrics, f->code);
    if (f->status == 503)
        r->retry_after = f->retry_after[0] ? f->retry_after : "1";
    return http_refuse_page(r, f->status, f->code, f->message);
}

static enum MHD_Result result_page(http_req *r, const upload_photo *photo, const upload_result *res)
{
    const registry *reg = r->srv->reg;
    page_verdict v[REGISTRY_MAX];
    for (int i = 0; i < res->n; i++) {
        v[i].model = reg->models[res->v[i].model].name;
        v[i].p_dog = res->v[i].pred.p_dog;
        v[i].label = res->v[i].pred.label;
        v[i].elapsed_ms = res->v[i].pred.elapsed_ms;
    }
    page_photo ph = {res->file, photo->name, (long long)photo->len, res->v[0].pred.width, res->v[0].pred.height};
    snprintf(r->note, sizeof r->note, "%s %s p_dog=%.4f%s", res->file, predictor_label_name(res->v[0].pred.label),
             res->v[0].pred.p_dog, res->db_failed ? " (not recorded: database error)" : "");
    strbuf b;
    strbuf_init(&b);
    page_frame f = {r->lang, r->srv->have_materialize, "/template"};
    page_result(&b, &f, &ph, v, res->n);
    return http_respond_strbuf(r, 200, "text/html; charset=utf-8", &b);
}

enum MHD_Result handle_template_upload(http_req *r)
{
    upload_photo photo;
    upload_failure f;
    int models[REGISTRY_MAX], n = 0;
    upload_result res;
    if (upload_extract(r, 0, &photo, &f) != 0 ||
        upload_pick_models(r->srv->reg, photo.model, 1, models, &n, &f) != 0 ||
        upload_process(r->srv, &photo, models, n, NULL, &res, &f) != 0)
        return refused(r, &f);
    return result_page(r, &photo, &res);
}

enum MHD_Result handle_upload_file(http_req *r)
{
    http_server *s = r->srv;
    upload_failure f;
    if (!store_name_valid(r->tail)) {
        f.status = 404;
        f.code = "not_found";
        snprintf(f.message, sizeof f.message, "not a file name this server would keep");
        return refused(r, &f);
    }
    upload_photo photo;
    memset(&photo, 0, sizeof photo);
    snprintf(photo.name, sizeof photo.name, "%s", r->tail);
    const char *qmodel = http_query(r, "model");
    snprintf(photo.model, sizeof photo.model, "%s", qmodel ? qmodel : "");
    cd_err err;
    size_t len = 0;
    unsigned char *bytes = store_read(s->store, r->tail, s->cfg.max_upload, &len, &err);
    if (!bytes) {
        f.status = err.code == CD_ERR_NOTFOUND ? 404 : err.code == CD_ERR_LIMIT ? 413 : 500;
        f.code = err.code == CD_ERR_NOTFOUND ? "not_found" : err.code == CD_ERR_LIMIT ? "too_large" : "internal";
        snprintf(f.message, sizeof f.message, "%s", err.code == CD_ERR_NOTFOUND ? "no such file in the upload folder"
                                                                                  : err.msg);
        return refused(r, &f);
    }
    photo.bytes = bytes;
    photo.len = len;
    int models[REGISTRY_MAX], n = 0;
    upload_result res;
    enum MHD_Result out;
    if (upload_pick_models(s->reg, photo.model, 1, models, &n, &f) != 0 ||
        upload_process(s, &photo, models, n, r->tail, &res, &f) != 0)
        out = refused(r, &f);
    else
        out = result_page(r, &photo, &res);
    free(bytes);
    return out;
}
