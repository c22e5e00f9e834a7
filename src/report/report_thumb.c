/*
 * report_thumb.c - a photo as a small JPEG data: URI for the report's
 * mistakes (see report.h).  Decoding asks for a reduced JPEG scale, so a large
 * photo costs little; Pillow-style bilinear shrinking keeps thumbnails sharp.
 */
#include "report/report.h"

#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* prefix followed by the base64 of bytes (RFC 4648, padded); NULL on OOM. */
static char *base64_with_prefix(const char *prefix, const unsigned char *bytes, size_t len)
{
    size_t pl = strlen(prefix), n = pl + 4 * ((len + 2) / 3) + 1;
    char *out = malloc(n), *o;
    if (!out)
        return NULL;
    memcpy(out, prefix, pl);
    o = out + pl;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16 | (unsigned)bytes[i + 1] << 8 | bytes[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)bytes[i] << 16 | (i + 1 < len ? (unsigned)bytes[i + 1] << 8 : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

int report_thumbnail_uri(const char *path, int size, int quality, char **out, cd_err *err)
{
    *out = NULL;
    if (size < 1 || quality < 1 || quality > 100)
        return cd_err_set(err, CD_ERR_INVALID, "thumbnail of %d px at quality %d: want a positive size and 1..100",
                          size, quality);
    image_decode_opts dopts = {.hint_width = IMAGE_DECODE_HINT(size), .hint_height = IMAGE_DECODE_HINT(size)};
    image img = {0}, small = {0};
    if (image_decode_file(path, &dopts, &img, NULL, NULL, err) != 0)
        return -1;
    const image *src = &img;
    int longer = img.width > img.height ? img.width : img.height;
    if (longer > size) {
        /* Round, and keep at least one pixel on the shorter side. */
        int w = (int)(((long)img.width * size + longer / 2) / longer);
        int h = (int)(((long)img.height * size + longer / 2) / longer);
        if (image_resize(&img, w > 0 ? w : 1, h > 0 ? h : 1, IMAGE_FILTER_BILINEAR, &small, err) != 0) {
            image_free(&img);
            return -1;
        }
        src = &small;
    }
    unsigned char *jpeg = NULL;
    size_t len = 0;
    int rc = image_encode_jpeg(src, quality, &jpeg, &len, err);
    image_free(&img);
    image_free(&small);
    if (rc != 0)
        return -1;
    *out = base64_with_prefix("data:image/jpeg;base64,", jpeg, len);
    free(jpeg);
    if (!*out)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory encoding the thumbnail of %s", path);
    return 0;
}
