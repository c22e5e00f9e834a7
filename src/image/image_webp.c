/*
 * image_webp.c - WebP decoding with libwebp.
 *
 * WebPGetFeatures reads only the header, so the size is checked against the
 * limit before any pixel buffer exists; then libwebp decodes straight into
 * our buffer (RGB, or RGBA composited over white when the file has alpha).
 * libwebp's one-shot decoder fails on truncated data instead of returning
 * a partial image.  EXIF orientation comes from the extended format's EXIF
 * chunk, found by walking the RIFF chunks (libwebp's demuxer is a separate
 * library we do not need for one chunk).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "image/image_internal.h"

static const char *webp_status_name(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data (truncated)";
    }
    return "unknown error";
}

static uint32_t webp_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* The orientation in the file's EXIF chunk, 1 when there is none. */
static int webp_orientation(const unsigned char *b, size_t len)
{
    size_t pos = 12; /* "RIFF" size "WEBP" */
    while (pos + 8 <= len) {
        uint32_t size = webp_le32(b + pos + 4);
        if (size > len - pos - 8)
            break;
        if (memcmp(b + pos, "EXIF", 4) == 0)
            return image_exif_orientation(b + pos + 8, size);
        pos += 8 + (size_t)size + (size & 1); /* chunks are padded to even sizes */
    }
    return 1;
}

int image_webp_decode(const unsigned char *bytes, size_t len, const image_limits *lim,
                      image *out, image_info *info, cd_err *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(bytes, len, &f);
    if (st != VP8_STATUS_OK)
        return cd_err_set(err, st == VP8_STATUS_UNSUPPORTED_FEATURE ? CD_ERR_UNSUPPORTED
                                                                    : CD_ERR_FORMAT,
                          "corrupt or truncated WebP: %s", webp_status_name(st));
    if (image_check_size(f.width, f.height, lim, "WebP", err) != 0)
        return -1;
    if (f.has_animation)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "animated WebP is not supported");

    const int w = f.width, h = f.height, ch = f.has_alpha ? 4 : 3;
    const size_t size = (size_t)w * h * ch;
    unsigned char *px = malloc(size);
    if (!px)
        return cd_err_set(err, CD_ERR_NOMEM, "WebP: out of memory for a %dx%d image", w, h);
    uint8_t *got = f.has_alpha ? WebPDecodeRGBAInto(bytes, len, px, size, w * 4)
                               : WebPDecodeRGBInto(bytes, len, px, size, w * 3);
    if (!got) {
        free(px);
        return cd_err_set(err, CD_ERR_FORMAT, "corrupt or truncated WebP: decoding failed");
    }
    if (f.has_alpha) {
        image_rgba_over_white(px, px, (size_t)w * h);
        unsigned char *shrunk = realloc(px, (size_t)w * h * 3);
        if (shrunk)
            px = shrunk;
    }
    out->width = w;
    out->height = h;
    out->rgb = px;
    info->full_width = w;
    info->full_height = h;
    info->orientation = lim->use_exif ? webp_orientation(bytes, len) : 1;
    return 0;
}
