/*
 * upload.c - extract, check, classify, store and record one photo (see upload.h).
 */
#include "web/upload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "image/image.h"
#include "web/multipart.h"

#define MAX_PARTS 16

static int fail(upload_failure *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(upload_failure *f, int status, const char *code, const char *fmt, ...)
{
    f->status = status;
    f->code = code;
    f->retry_after[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

void upload_sanitize_name(const char *in, char *out, size_t out_size)
{
    const char *base = in ? in : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const unsigned char *s = (const unsigned char *)base;
    size_t n = strlen(base), o = 0;
    for (size_t i = 0; i < n && out_size > 0;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 0) {
            if (o + 1 >= out_size)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (l == 1 && (s[i] < 0x20 || s[i] == 0x7f)) {
            i++;
            continue;
        }
        if (o + l >= out_size)
            break;
        memcpy(out + o, s + i, l);
        o += l;
        i += l;
    }
    /* Trim blanks at both ends. */
    size_t start = 0;
    while (start < o && out[start] == ' ')
        start++;
    while (o > start && out[o - 1] == ' ')
        o--;
    memmove(out, out + start, o - start);
    o -= start;
    if (out_size == 0)
        return;
    out[o] = '\0'; /* terminate before comparing: the caller's buffer need not be zeroed */
    if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, out_size, "upload");
}

/* Copies a short form value, trimmed. */
static void copy_value(char *out, size_t size, const unsigned char *v, size_t n)
{
    while (n && (v[0] == ' ' || v[0] == '\r' || v[0] == '\n')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

/* A raw body is a photo when it says it is an image of any kind, or just bytes:
 * the content decides what it is (upload_process sniffs it). */
static int is_raw_photo_type(const char *ct)
{
    static const char *const types[] = {"image/", "application/octet-stream"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i]);
        if (strncasecmp(ct, types[i], n) != 0)
            continue;
        if (types[i][n - 1] == '/')
            return ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ';
        return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
    }
    return 0;
}

/* The photos of a multipart body: every file in the field inputfile, in order,
 * at most max_files of them. */
static int extract_multipart(http_req *r, const char *ct, int max_files, upload_photo *photos, int *n_photos,
                             upload_failure *f)
{
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    cd_err err;
    if (multipart_boundary(ct, boundary, sizeof boundary, &err) != 0)
        return fail(f, 400, "bad_request", "%s", err.msg);
    /* Room for every photo plus a few plain fields (model, ...); one more part
     * than that is a form nobody's page sends. */
    int max_parts = max_files + MAX_PARTS;
    multipart_part *parts = calloc((size_t)max_parts, sizeof *parts);
    if (!parts)
        return fail(f, 500, "internal", "out of memory");
    int n = 0;
    if (multipart_parse(r->body ? r->body : (const unsigned char *)"", r->body_len, boundary, parts, max_parts, &n,
                        &err) != 0) {
        free(parts);
        return fail(f, 400, err.code == CD_ERR_LIMIT ? "too_many_files" : "bad_request", "%s", err.msg);
    }
    /* The photos are the field inputfile; a file in any other field is one
     * file too many. */
    int n_files = 0, n_inputs = 0;
    const char *stray = NULL;
    for (int i = 0; i < n; i++) {
        const multipart_part *p = &parts[i];
        if (strcmp(p->name, "model") == 0 && !p->has_filename) {
            copy_value(photos[0].model, sizeof photos[0].model, p->data, p->len);
            continue;
        }
        int is_input = strcmp(p->name, "inputfile") == 0;
        if (!p->has_filename && !is_input)
            continue; /* other plain fields are ignored */
        /* A file input left empty arrives as filename="" with no bytes. */
        if (p->has_filename && p->filename[0] == '\0' && p->len == 0)
            continue;
        n_files++;
        if (!is_input) {
            stray = p->name;
            continue;
        }
        if (n_inputs < max_files) {
            upload_photo *ph = &photos[n_inputs];
            ph->bytes = p->data;
            ph->len = p->len;
            upload_sanitize_name(p->filename, ph->name, sizeof ph->name);
        }
        n_inputs++;
    }
    int rc = 0;
    if (n_inputs == 0)
        rc = fail(f, 400, "no_file", "the form has no file in the field inputfile");
    else if (stray && max_files == 1)
        rc = fail(f, 400, "too_many_files", "%d files were sent; send one photo in the field inputfile", n_files);
    else if (stray)
        rc = fail(f, 400, "too_many_files", "a file was sent in the field '%.60s'; send photos in the field inputfile",
                  stray);
    else if (n_inputs > max_files && max_files == 1)
        rc = fail(f, 400, "too_many_files", "%d files were sent; send one photo in the field inputfile", n_files);
    else if (n_inputs > max_files)
        rc = fail(f, 400, "too_many_files", "%d photos were sent; at most %d per request (--max-batch-photos)",
                  n_inputs, max_files);
    for (int i = 0; rc == 0 && i < n_inputs; i++)
        if (photos[i].len > r->srv->cfg.max_upload)
            rc = fail(f, 413, "too_large", "the photo is %zu bytes, over the %zu-byte limit", photos[i].len,
                      r->srv->cfg.max_upload);
    free(parts);
    if (rc == 0) {
        *n_photos = n_inputs;
        for (int i = 1; i < n_inputs; i++)
            memcpy(photos[i].model, photos[0].model, sizeof photos[i].model);
    }
    return rc;
}

int upload_extract_many(http_req *r, int allow_raw, int max_photos, upload_photo *photos, int *n_photos,
                        upload_failure *f)
{
    *n_photos = 0;
    memset(photos, 0, (size_t)max_photos * sizeof *photos);
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *qmodel = http_query(r, "model");
    if (qmodel)
        snprintf(photos[0].model, sizeof photos[0].model, "%s", qmodel);

    if (ct && strncasecmp(ct, "multipart/", 10) == 0)
        return extract_multipart(r, ct, max_photos, photos, n_photos, f);
    if (allow_raw && ct && is_raw_photo_type(ct)) {
        photos[0].bytes = r->body ? r->body : (const unsigned char *)"";
        photos[0].len = r->body_len;
        upload_sanitize_name(http_query(r, "filename"), photos[0].name, sizeof photos[0].name);
        *n_photos = 1;
        return 0;
    }
    if (r->body_len == 0)
        return fail(f, 400, "no_file",
                    allow_raw ? "no photo: send multipart/form-data with the field inputfile, or a raw image body"
                              : "no photo: the form has no file in the field inputfile");
    if (allow_raw)
        return fail(f, 415, "unsupported_media_type",
                    "Content-Type %s is not multipart/form-data, image/* or application/octet-stream",
                    ct ? ct : "(none)");
    return fail(f, 400, "no_file", "the upload is not a multipart/form-data form with the field inputfile");
}

int upload_extract(http_req *r, int allow_raw, upload_photo *photo, upload_failure *f)
{
    int n = 0;
    return upload_extract_many(r, allow_raw, 1, photo, &n, f);
}

int upload_pick_models(const registry *reg, const char *choice, int allow_both, int *idx, int *n,
                       upload_failure *f)
{
    *n = 0;
    if (!choice || !*choice) {
        idx[(*n)++] = reg->best;
        return 0;
    }
    if (allow_both && strcmp(choice, "both") == 0) {
        for (int i = 0; i < reg->n; i++)
            idx[(*n)++] = i;
        return 0;
    }
    int i = registry_find(reg, choice);
    if (i >= 0) {
        idx[(*n)++] = i;
        return 0;
    }
    const char *off = registry_off_reason(reg, choice);
    if (off)
        return fail(f, 404, "model_not_loaded", "%s", off);
    return fail(f, 400, "unknown_model", "no model called '%.40s' (use binary%s)", choice,
                allow_both ? ", transfer or both" : " or transfer");
}

int upload_process(http_req *r, const upload_photo *photo, const int *models, int n_models,
                   const char *already_stored, upload_result *res, upload_failure *f)
{
    http_server *s = r->srv;
    const registry *reg = r->gen->reg;
    memset(res, 0, sizeof *res);
    if (photo->len == 0)
        return fail(f, 400, "empty_file", "the file is empty");
    image_format fmt = image_sniff(photo->bytes, photo->len);
    if (fmt == IMAGE_FORMAT_UNKNOWN)
        return fail(f, 415, "not_an_image", "the file is not a JPEG, PNG or WebP image");

    for (int i = 0; i < n_models; i++) {
        upload_verdict *v = &res->v[res->n];
        cd_err err;
        cd_err_clear(&err);
        v->model = models[i];
        v->history_id = -1;
        pool_ticket t;
        pool_status st = pool_submit(r->gen->pool, models[i], photo->bytes, photo->len, &v->pred, &t, &err);
        if (st == POOL_BUSY) {
            fail(f, 503, "busy", "%s", err.msg);
            snprintf(f->retry_after, sizeof f->retry_after, "%d", t.retry_after_s);
            return -1;
        }
        if (st != POOL_OK) {
            switch (err.code) {
            case CD_ERR_FORMAT:
            case CD_ERR_UNSUPPORTED:
                return fail(f, 422, "corrupt_image", "%s", err.msg);
            case CD_ERR_LIMIT:
                return fail(f, 413, "too_many_pixels", "%s", err.msg);
            default:
                http_log(s, "error: classifying with %s: %s", reg->models[models[i]].name, err.msg);
                return fail(f, 500, "internal", "%s", err.msg);
            }
        }
        metrics_prediction(s->metrics, reg->models[models[i]].name, v->pred.label, v->pred.elapsed_ms / 1000.0);
        res->n++;
    }

    cd_err err;
    if (store_sha256_hex(photo->bytes, photo->len, res->sha256, &err) != 0)
        return fail(f, 500, "internal", "%s", err.msg);
    char rid[RESULT_ID_SIZE];
    if (result_id_new(rid, &err) != 0) {
        http_log(s, "error: no random result id: %s", err.msg);
        return fail(f, 500, "internal", "the server could not make a result id");
    }
    if (s->cfg.no_store) {
        /* --no-store: no photo is written, but the verdict is still recorded
         * (issue 12); the rows name no file (file = ""), which the history
         * pages, the result page and export-feedback read as "no photo kept". */
        metrics_event(s->metrics, "not_stored");
    } else if (already_stored) {
        snprintf(res->file, sizeof res->file, "%s", already_stored);
        res->existed = 1;
    } else {
        int sys_errno = 0;
        if (store_put(s->store, photo->bytes, photo->len, res->sha256, image_format_ext(fmt), res->file,
                      &res->existed, &sys_errno, &err) != 0) {
            metrics_event(s->metrics, "store_error");
            http_log(s, "error: storing an upload: %s", err.msg);
            if (sys_errno == ENOSPC || sys_errno == EDQUOT)
                return fail(f, 507, "storage_full", "no space left to store the photo");
            /* Any other system error (a read-only or unwritable folder, EIO) is
             * still the storage failing: 507 Insufficient Storage, as issue 6 asks. */
            return fail(f, sys_errno ? 507 : 500, "storage_error", "the photo could not be stored");
        }
        metrics_event(s->metrics, res->existed ? "deduplicated" : "stored");
    }
    res->kept = !s->cfg.no_store;

    double now = cd_wall_s();
    for (int i = 0; i < res->n; i++) {
        upload_verdict *v = &res->v[i];
        history_rec rec;
        memset(&rec, 0, sizeof rec);
        rec.time = now;
        snprintf(rec.sha256, sizeof rec.sha256, "%s", res->sha256);
        snprintf(rec.file, sizeof rec.file, "%s", res->file);
        snprintf(rec.name, sizeof rec.name, "%s", photo->name);
        snprintf(rec.result, sizeof rec.result, "%s", rid);
        rec.size = (long long)photo->len;
        rec.width = v->pred.width;
        rec.height = v->pred.height;
        snprintf(rec.model, sizeof rec.model, "%s", reg->models[v->model].name);
        rec.p_dog = v->pred.p_dog;
        rec.label = v->pred.label;
        rec.latency_ms = v->pred.elapsed_ms;
        if (history_add(s->hist, &rec, &err) != 0) {
            /* The verdict still goes out; the failure is logged and counted. */
            metrics_event(s->metrics, "db_error");
            http_log(s, "error: recording a prediction: %s", s->hist ? err.msg : s->hist_off);
            res->db_failed = 1;
        } else {
            v->history_id = rec.id;
            if (rec.id == 0) /* PostgreSQL unreachable: the row waits in the spool (history.h) */
                metrics_event(s->metrics, "history_spooled");
        }
    }
    /* The id addresses the rows; without them there is no result page to give. */
    if (!res->db_failed)
        snprintf(res->result_id, sizeof res->result_id, "%s", rid);
    return 0;
}
