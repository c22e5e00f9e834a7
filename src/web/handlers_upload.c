/*
 * handlers_upload.c - the page routes that classify: POST /template/upload
 * (the form) and GET /upload/<file> (a photo already in the upload folder, an
 * admin route); both answer with the result page, or the help page saying
 * why not.  And GET /result/<id>[/photo]: a result shown again to whoever
 * holds its random id.
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
    const registry *reg = r->gen->reg;
    page_verdict v[REGISTRY_MAX];
    for (int i = 0; i < res->n; i++) {
        v[i].model = reg->models[res->v[i].model].name;
        v[i].p_dog = res->v[i].pred.p_dog;
        v[i].label = res->v[i].pred.label;
        v[i].elapsed_ms = res->v[i].pred.elapsed_ms;
    }
    /* The visitor sees the photo through the result's id; the admin's
     * /upload/<file> may show it by its stored name. */
    char photo_url[STORE_NAME_MAX + 64], result_url[64];
    snprintf(result_url, sizeof result_url, "/result/%s", res->result_id);
    if (res->result_id[0])
        snprintf(photo_url, sizeof photo_url, "/result/%s/photo", res->result_id);
    else
        snprintf(photo_url, sizeof photo_url, "/photos/%s", res->file);
    int show_photo = res->kept && (res->result_id[0] || r->route == ROUTE_UPLOAD_FILE);
    page_photo ph = {show_photo ? photo_url : NULL, res->result_id[0] ? result_url : NULL, photo->name,
                     (long long)photo->len, res->v[0].pred.width, res->v[0].pred.height};
    snprintf(r->note, sizeof r->note, "%s %s p_dog=%.4f%s", res->kept ? res->file : "(not kept)", predictor_label_name(res->v[0].pred.label),
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
        upload_pick_models(r->gen->reg, photo.model, 1, models, &n, &f) != 0 ||
        upload_process(r, &photo, models, n, NULL, &res, &f) != 0)
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
    if (upload_pick_models(r->gen->reg, photo.model, 1, models, &n, &f) != 0 ||
        upload_process(r, &photo, models, n, r->tail, &res, &f) != 0)
        out = refused(r, &f);
    else
        out = result_page(r, &photo, &res);
    free(bytes);
    return out;
}

/* GET /result/<id> (the page) and /result/<id>/photo (its photo). */
enum MHD_Result handle_result(http_req *r)
{
    http_server *s = r->srv;
    char id[RESULT_ID_SIZE];
    const char *slash = strchr(r->tail, '/');
    size_t n = slash ? (size_t)(slash - r->tail) : strlen(r->tail);
    int want_photo = slash && strcmp(slash, "/photo") == 0;
    upload_failure f = {404, "not_found", "no such result (results are kept only as long as the server's "
                                          "retention allows)", ""};
    if (n != RESULT_ID_HEX || (slash && !want_photo))
        return want_photo ? http_api_error(r, 404, "not_found", "no such photo") : refused(r, &f);
    memcpy(id, r->tail, n);
    id[n] = '\0';
    if (!result_id_valid(id))
        return want_photo ? http_api_error(r, 404, "not_found", "no such photo") : refused(r, &f);
    if (!s->hist)
        return http_refuse_page(r, 503, "db_unavailable", s->hist_off);
    history_rec rows[REGISTRY_MAX];
    int n_rows = 0;
    cd_err err;
    if (history_by_result(s->hist, id, rows, REGISTRY_MAX, &n_rows, &err) != 0) {
        metrics_event(s->metrics, "db_error");
        http_log(s, "error: result page: %s", err.msg);
        return http_refuse_page(r, 500, "internal", "the history database is not available");
    }
    if (n_rows == 0)
        return want_photo ? http_api_error(r, 404, "not_found", "no such photo") : refused(r, &f);
    if (want_photo) {
        /* A row recorded under --no-store names no file: say so rather than
         * a bare "no such photo", so nobody hunts for a lost file. */
        if (!rows[0].file[0])
            return http_api_error(r, 404, "not_found", "no photo was kept for this result (the server ran with --no-store)");
        return http_respond_photo(r, rows[0].file);
    }
    page_verdict v[REGISTRY_MAX];
    for (int i = 0; i < n_rows; i++) {
        v[i].model = rows[i].model;
        v[i].p_dog = rows[i].p_dog;
        v[i].label = rows[i].label;
        v[i].elapsed_ms = rows[i].latency_ms;
    }
    char photo_url[64], result_url[64];
    snprintf(result_url, sizeof result_url, "/result/%s", id);
    snprintf(photo_url, sizeof photo_url, "/result/%s/photo", id);
    page_photo ph = {rows[0].file[0] ? photo_url : NULL, result_url, rows[0].name, rows[0].size, rows[0].width, rows[0].height};
    strbuf b;
    strbuf_init(&b);
    page_frame fr = {r->lang, s->have_materialize, "/template"};
    page_result(&b, &fr, &ph, v, n_rows);
    return http_respond_strbuf(r, 200, "text/html; charset=utf-8", &b);
}
