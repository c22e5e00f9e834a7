/*
 * handlers_files.c - files the pages link to: /static/... (our web/static and
 * MaterializeCSS from node_modules), /photos/<file> (stored uploads) and
 * /thumbs/<file> (small JPEG copies for the history, made on first request and
 * kept in the upload folder's thumbs/ subfolder).  /photos and /thumbs are
 * admin routes (routes.c); a visitor sees a photo through /result/<id>/photo.
 *
 * Paths from URLs are validated segment by segment (store_name_valid rules), so
 * nothing outside those folders can be named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "web/server.h"

#define STATIC_MAX (8u * 1024 * 1024)
#define THUMB_SIZE 160

static const char *content_type_for(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},              {".png", "image/png"},
        {".jpg", "image/jpeg"},                 {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},                {".woff2", "font/woff2"},
        {".woff", "font/woff"},                 {".ttf", "font/ttf"},
        {".ico", "image/x-icon"},               {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* 1 when every '/'-separated segment of path is a valid plain name. */
static int safe_relative_path(const char *path)
{
    char seg[STORE_NAME_MAX + 1];
    int depth = 0;
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : strlen(path);
        if (n == 0 || n > STORE_NAME_MAX || ++depth > 6)
            return 0;
        memcpy(seg, path, n);
        seg[n] = '\0';
        if (!store_name_valid(seg))
            return 0;
        path += n + (slash ? 1 : 0);
        if (slash && !*path)
            return 0;
    }
    return depth > 0;
}

static unsigned char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n >= 0 && (size_t)n <= max && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(fp);
    return buf;
}

enum MHD_Result handle_static(http_req *r)
{
    http_server *s = r->srv;
    if (!safe_relative_path(r->tail))
        return http_api_error(r, 404, "not_found", "no such file");
    char path[2048];
    if (strncmp(r->tail, "materialize/", 12) == 0)
        snprintf(path, sizeof path, "%s/node_modules/materialize-css/dist/%s", s->cfg.assets_dir, r->tail + 12);
    else
        snprintf(path, sizeof path, "%s/web/static/%s", s->cfg.assets_dir, r->tail);
    size_t len = 0;
    unsigned char *buf = read_file(path, STATIC_MAX, &len);
    if (!buf)
        return http_api_error(r, 404, "not_found", "no such file");
    r->cache_control = "public, max-age=3600";
    enum MHD_Result res = http_respond(r, 200, content_type_for(r->tail), buf, len);
    free(buf);
    return res;
}

enum MHD_Result handle_favicon(http_req *r)
{
    return http_redirect(r, 301, "/static/favicon.svg");
}

static const char *image_type(const unsigned char *bytes, size_t len)
{
    switch (image_sniff(bytes, len)) {
    case IMAGE_FORMAT_JPEG: return "image/jpeg";
    case IMAGE_FORMAT_PNG: return "image/png";
    case IMAGE_FORMAT_WEBP: return "image/webp";
    default: return NULL;
    }
}

enum MHD_Result http_respond_photo(http_req *r, const char *file)
{
    http_server *s = r->srv;
    size_t len = 0;
    cd_err err;
    unsigned char *buf = store_name_valid(file) ? store_read(s->store, file, s->cfg.max_upload, &len, &err) : NULL;
    const char *type = buf ? image_type(buf, len) : NULL;
    if (!type) {
        free(buf);
        return http_api_error(r, 404, "not_found", "no such photo");
    }
    /* Stored names are content hashes: the bytes behind a name never change.
     * private: a shared cache must never hand one visitor's photo to another. */
    r->cache_control = "private, max-age=86400";
    enum MHD_Result res = http_respond(r, 200, type, buf, len);
    free(buf);
    return res;
}

enum MHD_Result handle_photo(http_req *r)
{
    return http_respond_photo(r, r->tail);
}

/* Decodes the photo, scales it to fit THUMB_SIZE and encodes a JPEG. */
static unsigned char *make_thumb(http_server *s, const unsigned char *photo, size_t len, size_t *out_len, cd_err *err)
{
    image_decode_opts o;
    memset(&o, 0, sizeof o);
    o.max_pixels = s->cfg.max_pixels;
    o.hint_width = THUMB_SIZE;
    o.hint_height = THUMB_SIZE;
    image full, small;
    int w0, h0;
    if (image_decode(photo, len, &o, &full, &w0, &h0, err) != 0)
        return NULL;
    int w = full.width, h = full.height;
    if (w >= h) {
        h = (int)((long)h * THUMB_SIZE / (w > 0 ? w : 1));
        w = THUMB_SIZE;
    } else {
        w = (int)((long)w * THUMB_SIZE / h);
        h = THUMB_SIZE;
    }
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    unsigned char *out = NULL;
    int rc = image_resize(&full, w, h, IMAGE_FILTER_BILINEAR, &small, err);
    image_free(&full);
    if (rc != 0)
        return NULL;
    rc = image_encode_jpeg(&small, 80, &out, out_len, err);
    image_free(&small);
    return rc == 0 ? out : NULL;
}

enum MHD_Result handle_thumb(http_req *r)
{
    http_server *s = r->srv;
    if (!store_name_valid(r->tail) || strlen(r->tail) + 4 > STORE_NAME_MAX)
        return http_api_error(r, 404, "not_found", "no such photo");
    char thumb_name[STORE_NAME_MAX + 1];
    snprintf(thumb_name, sizeof thumb_name, "%s.jpg", r->tail);
    r->cache_control = "private, max-age=86400";
    size_t len = 0;
    cd_err err;
    unsigned char *buf = store_read_sub(s->store, "thumbs", thumb_name, s->cfg.max_upload, &len, &err);
    if (buf) {
        enum MHD_Result res = http_respond(r, 200, "image/jpeg", buf, len);
        free(buf);
        return res;
    }
    unsigned char *photo = store_read(s->store, r->tail, s->cfg.max_upload, &len, &err);
    if (!photo || !image_type(photo, len)) {
        free(photo);
        return http_api_error(r, 404, "not_found", "no such photo");
    }
    size_t tlen = 0;
    buf = make_thumb(s, photo, len, &tlen, &err);
    if (!buf) {
        /* Cannot make one (odd file): the browser scales the original. */
        http_log(s, "thumbnail of %s: %s", r->tail, err.msg);
        enum MHD_Result res = http_respond(r, 200, image_type(photo, len), photo, len);
        free(photo);
        return res;
    }
    free(photo);
    if (store_put_named(s->store, "thumbs", thumb_name, buf, tlen, &err) != 0)
        http_log(s, "thumbnail of %s not kept: %s", r->tail, err.msg);
    enum MHD_Result res = http_respond(r, 200, "image/jpeg", buf, tlen);
    free(buf);
    return res;
}
