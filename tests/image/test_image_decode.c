/*
 * test_image_decode.c - decoding JPEG, PNG and WebP that the test makes itself:
 * colour spaces (grayscale, CMYK, YCCK), alpha over white, 16-bit and palette
 * PNG, interlaced PNG, progressive JPEG, reduced-scale JPEG, and every way the
 * bytes can be wrong (truncated, garbage, a declared 100000x100000 image).
 */
#include "test_util.h"

#include <unistd.h>

#include "image/encoders.h"
#include "image/image.h"

/* A smooth gradient (JPEG keeps it well): R along x, G along y, B constant. */
static unsigned char *gradient(int w, int h)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *q = p + ((size_t)y * w + x) * 3;
            q[0] = (unsigned char)(x * 255 / (w - 1));
            q[1] = (unsigned char)(y * 255 / (h - 1));
            q[2] = 100;
        }
    return p;
}

static int decode_code(const unsigned char *b, size_t n, const image_decode_opts *o)
{
    image im;
    cd_err err;
    cd_err_clear(&err);
    int rc = image_decode(b, n, o, &im, NULL, NULL, &err);
    if (rc == 0) {
        image_free(&im);
        return CD_OK;
    }
    assert_null(im.rgb);
    assert_true(err.msg[0] != '\0');
    return err.code;
}

static void test_sniff_uses_magic_bytes(void **state)
{
    (void)state;
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0};
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
    const unsigned char wav[] = "RIFF\x10\0\0\0WAVEfmt ";
    assert_int_equal(image_sniff(jpg, sizeof jpg), IMAGE_FORMAT_JPEG);
    assert_int_equal(image_sniff(png, sizeof png), IMAGE_FORMAT_PNG);
    assert_int_equal(image_sniff(webp, 12), IMAGE_FORMAT_WEBP);
    assert_int_equal(image_sniff(wav, 12), IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(image_sniff(jpg, 2), IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(image_sniff(png, 7), IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(image_sniff(webp, 11), IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(image_sniff((const unsigned char *)"GIF89a", 6), IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(image_sniff(NULL, 0), IMAGE_FORMAT_UNKNOWN);
    assert_string_equal(image_format_name(IMAGE_FORMAT_JPEG), "jpeg");
    assert_string_equal(image_format_name(IMAGE_FORMAT_PNG), "png");
    assert_string_equal(image_format_name(IMAGE_FORMAT_WEBP), "webp");
    assert_string_equal(image_format_name(IMAGE_FORMAT_UNKNOWN), "unknown");
    assert_string_equal(image_format_ext(IMAGE_FORMAT_JPEG), "jpg");
    assert_string_equal(image_format_ext(IMAGE_FORMAT_PNG), "png");
    assert_string_equal(image_format_ext(IMAGE_FORMAT_WEBP), "webp");
}

static void test_jpeg_rgb_decodes_close_to_source(void **state)
{
    (void)state;
    const int w = 64, h = 48;
    unsigned char *px = gradient(w, h);
    size_t n;
    unsigned char *jpg = enc_jpeg_rgb(px, w, h, &n);
    image im, src = {w, h, px};
    int ow = 0, oh = 0;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, NULL, &im, &ow, &oh, &err), 0);
    assert_int_equal(im.width, w);
    assert_int_equal(im.height, h);
    assert_int_equal(ow, w);
    assert_int_equal(oh, h);
    assert_true(img_mean_abs_diff(&im, &src) < 2.0);
    image_free(&im);
    assert_null(im.rgb);
    free(jpg);
    free(px);
}

static void test_jpeg_grayscale_becomes_gray_rgb(void **state)
{
    (void)state;
    const int w = 32, h = 16;
    unsigned char g[32 * 16];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            g[y * w + x] = (unsigned char)(x * 8);
    enc_jpeg_opts o = {JCS_GRAYSCALE, 0, 95, 0, NULL, 0};
    size_t n;
    unsigned char *jpg = enc_jpeg(g, w, h, &o, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, NULL, &im, NULL, NULL, &err), 0);
    assert_int_equal(im.width, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const unsigned char *p = img_px(&im, x, y);
            assert_int_equal(p[0], p[1]);
            assert_int_equal(p[1], p[2]);
            assert_true(abs(p[0] - x * 8) <= 6);
        }
    image_free(&im);
    free(jpg);
}

/* Four 16x16 blocks of Adobe (inverted) CMYK: each stores 255 - ink. */
static void check_cmyk(J_COLOR_SPACE jpeg_space)
{
    const int w = 32, h = 32;
    /* ink (C, M, Y, K) per block and the RGB it must become */
    const int ink[4][4] = {{255, 0, 0, 0}, {0, 255, 255, 0}, {0, 0, 0, 128}, {255, 255, 0, 0}};
    const int rgb[4][3] = {{0, 255, 255}, {255, 0, 0}, {127, 127, 127}, {0, 0, 255}};
    unsigned char *px = malloc((size_t)w * h * 4);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int blk = (y / 16) * 2 + x / 16;
            for (int c = 0; c < 4; c++)
                px[((size_t)y * w + x) * 4 + c] = (unsigned char)(255 - ink[blk][c]);
        }
    enc_jpeg_opts o = {JCS_CMYK, jpeg_space, 95, 0, NULL, 0};
    size_t n;
    unsigned char *jpg = enc_jpeg(px, w, h, &o, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, NULL, &im, NULL, NULL, &err), 0);
    for (int blk = 0; blk < 4; blk++) {
        int cx = (blk % 2) * 16 + 8, cy = (blk / 2) * 16 + 8;
        assert_px_near(&im, cx, cy, rgb[blk][0], rgb[blk][1], rgb[blk][2], 8);
    }
    image_free(&im);
    free(jpg);
    free(px);
}

static void test_jpeg_cmyk_becomes_rgb(void **state)
{
    (void)state;
    check_cmyk(0); /* stored as CMYK */
}

static void test_jpeg_ycck_becomes_rgb(void **state)
{
    (void)state;
    check_cmyk(JCS_YCCK);
}

static int has_marker(const unsigned char *b, size_t n, unsigned char m)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (b[i] == 0xFF && b[i + 1] == m)
            return 1;
    return 0;
}

static void test_jpeg_progressive_matches_baseline(void **state)
{
    (void)state;
    const int w = 64, h = 40;
    unsigned char *px = gradient(w, h);
    enc_jpeg_opts base = {JCS_RGB, 0, 90, 0, NULL, 0}, prog = {JCS_RGB, 0, 90, 1, NULL, 0};
    size_t nb, np;
    unsigned char *jb = enc_jpeg(px, w, h, &base, &nb);
    unsigned char *jp = enc_jpeg(px, w, h, &prog, &np);
    assert_true(has_marker(jp, np, 0xC2));  /* SOF2: really progressive */
    assert_false(has_marker(jb, nb, 0xC2));
    image a, b;
    cd_err err;
    assert_int_equal(image_decode(jb, nb, NULL, &a, NULL, NULL, &err), 0);
    assert_int_equal(image_decode(jp, np, NULL, &b, NULL, NULL, &err), 0);
    /* Same quantised coefficients, sent in another order: the same picture. */
    assert_true(img_mean_abs_diff(&a, &b) < 0.5);
    image src = {w, h, px};
    assert_true(img_mean_abs_diff(&b, &src) < 2.0);
    image_free(&a);
    image_free(&b);
    free(jb);
    free(jp);
    free(px);
}

static void expect_scaled(const unsigned char *jpg, size_t n, int hw, int hh, int ew, int eh)
{
    image_decode_opts o = {0, hw, hh, 0};
    image im;
    int ow, oh;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, &o, &im, &ow, &oh, &err), 0);
    if (im.width != ew || im.height != eh)
        fail_msg("hint %dx%d: decoded %dx%d, expected %dx%d", hw, hh, im.width, im.height, ew,
                 eh);
    assert_int_equal(ow, 800);
    assert_int_equal(oh, 600);
    image_free(&im);
}

static void test_jpeg_reduced_scale_covers_hint(void **state)
{
    (void)state;
    const int w = 800, h = 600;
    unsigned char *px = gradient(w, h);
    size_t n;
    unsigned char *jpg = enc_jpeg_rgb(px, w, h, &n);
    expect_scaled(jpg, n, 0, 0, 800, 600);       /* no hint: full size */
    expect_scaled(jpg, n, 100, 75, 100, 75);     /* 1/8 */
    expect_scaled(jpg, n, 101, 75, 200, 150);    /* 1/8 is one pixel short: 2/8 */
    expect_scaled(jpg, n, 200, 150, 200, 150);   /* 2/8 exactly */
    expect_scaled(jpg, n, 224, 224, 300, 225);   /* 3/8: 225 >= 224 */
    expect_scaled(jpg, n, 150, 0, 200, 150);     /* only a width */
    expect_scaled(jpg, n, 700, 500, 700, 525);   /* 7/8 */
    expect_scaled(jpg, n, 701, 500, 800, 600);   /* 7/8 is one pixel short */
    expect_scaled(jpg, n, 2000, 2000, 800, 600); /* never upscales */
    /* The reduced decode still looks like the photo. */
    image_decode_opts o = {0, 200, 150, 0};
    image small, full, down;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, &o, &small, NULL, NULL, &err), 0);
    assert_int_equal(image_decode(jpg, n, NULL, &full, NULL, NULL, &err), 0);
    assert_int_equal(image_resize(&full, 200, 150, IMAGE_FILTER_BILINEAR, &down, &err), 0);
    assert_true(img_mean_abs_diff(&small, &down) < 2.0);
    image_free(&small);
    image_free(&full);
    image_free(&down);
    free(jpg);
    free(px);
}

/* Pseudo-random pixels: plenty of entropy-coded data to cut into. */
static unsigned char *noise(int w, int h, unsigned seed)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

/* Offset just past the first start-of-scan marker's header, or 0. */
static size_t scan_start(const unsigned char *b, size_t n)
{
    for (size_t i = 2; i + 3 < n; i++)
        if (b[i] == 0xFF && b[i + 1] == 0xDA)
            return i + 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
    return 0;
}

static void test_jpeg_truncated_is_format_error(void **state)
{
    (void)state;
    const int w = 64, h = 64;
    unsigned char *px = noise(w, h, 99);
    enc_jpeg_opts base = {JCS_RGB, 0, 90, 0, NULL, 0}, prog = {JCS_RGB, 0, 90, 1, NULL, 0};
    size_t nb, np;
    unsigned char *jb = enc_jpeg(px, w, h, &base, &nb);
    unsigned char *jp = enc_jpeg(px, w, h, &prog, &np);
    size_t sb = scan_start(jb, nb), sp = scan_start(jp, np);
    assert_true(sb > 0 && sb < nb / 4); /* the cuts below land inside scan data */
    assert_true(sp > 0 && sp < np / 4);
    assert_int_equal(decode_code(jb, nb, NULL), CD_OK);
    assert_int_equal(decode_code(jb, nb / 2, NULL), CD_ERR_FORMAT);     /* mid-scan */
    assert_int_equal(decode_code(jb, nb - 100, NULL), CD_ERR_FORMAT);   /* last rows missing */
    assert_int_equal(decode_code(jb, 40, NULL), CD_ERR_FORMAT);         /* mid-header */
    assert_int_equal(decode_code(jb, 3, NULL), CD_ERR_FORMAT);          /* magic only */
    assert_int_equal(decode_code(jp, np, NULL), CD_OK);
    assert_int_equal(decode_code(jp, np * 2 / 3, NULL), CD_ERR_FORMAT); /* mid-scans */
    assert_int_equal(decode_code(jp, np - 100, NULL), CD_ERR_FORMAT);
    /* The message says what happened. */
    image im;
    cd_err err;
    assert_int_equal(image_decode(jb, nb / 2, NULL, &im, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "JPEG"));
    free(jb);
    free(jp);
    free(px);
}

static void test_garbage_is_an_error(void **state)
{
    (void)state;
    unsigned char junk[512];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1103515245u + 12345u;
        junk[i] = (unsigned char)(s >> 16);
    }
    junk[0] = 'x';
    assert_int_equal(decode_code(junk, sizeof junk, NULL), CD_ERR_FORMAT);
    assert_int_equal(decode_code(junk, 0, NULL), CD_ERR_FORMAT);
    /* The right magic, then garbage. */
    unsigned char b[512];
    memcpy(b, junk, sizeof b);
    b[0] = 0xFF; b[1] = 0xD8; b[2] = 0xFF;
    assert_int_equal(decode_code(b, sizeof b, NULL), CD_ERR_FORMAT);
    memcpy(b, junk, sizeof b);
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(decode_code(b, sizeof b, NULL), CD_ERR_FORMAT);
    memcpy(b, junk, sizeof b);
    memcpy(b, "RIFF\xf8\x01\0\0WEBPVP8 ", 16);
    assert_int_equal(decode_code(b, sizeof b, NULL), CD_ERR_FORMAT);
    image im;
    cd_err err;
    assert_int_equal(image_decode(junk, sizeof junk, NULL, &im, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not a JPEG, PNG or WebP"));
}

/* ---- PNG ---------------------------------------------------------------- */

static void test_png_rgb_is_exact(void **state)
{
    (void)state;
    const int w = 13, h = 7;
    unsigned char *px = gradient(w, h);
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    size_t n;
    unsigned char *png = enc_png(px, (size_t)w * 3, w, h, &o, &n);
    image im, src = {w, h, px};
    int ow, oh;
    cd_err err;
    assert_int_equal(image_decode(png, n, NULL, &im, &ow, &oh, &err), 0);
    assert_int_equal(ow, w);
    assert_int_equal(oh, h);
    assert_true(img_mean_abs_diff(&im, &src) == 0.0);
    image_free(&im);
    free(png);
    free(px);
}

static void test_png_alpha_over_white(void **state)
{
    (void)state;
    /* RGBA: opaque red, transparent red, half-transparent blue. */
    const unsigned char rgba[12] = {255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 128};
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB_ALPHA, .bit_depth = 8};
    size_t n;
    unsigned char *png = enc_png(rgba, 12, 3, 1, &o, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 255, 0, 0, 0);
    assert_px_near(&im, 1, 0, 255, 255, 255, 0);
    /* 255 * (1 - 128/255) = 127 for R and G; B stays 255. */
    assert_px_near(&im, 2, 0, 127, 127, 255, 0);
    image_free(&im);
    free(png);

    /* Gray + alpha: black at alpha 64 -> 255 * 191/255 = 191. */
    const unsigned char ga[4] = {0, 64, 200, 255};
    enc_png_opts og = {.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .bit_depth = 8};
    png = enc_png(ga, 4, 2, 1, &og, &n);
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 191, 191, 191, 0);
    assert_px_near(&im, 1, 0, 200, 200, 200, 0);
    image_free(&im);
    free(png);
}

static void test_png_16bit_scales_to_8bit(void **state)
{
    (void)state;
    /* RGB16, big-endian: v*257 must come back as v; others round to nearest
     * (32996/257 = 128.4, 255/257 = 0.99), not truncate to the high byte. */
    const unsigned short v[6] = {0, 257 * 77, 65535, 32996, 257 * 200, 0x00FF};
    unsigned char row[12];
    for (int i = 0; i < 6; i++) {
        row[2 * i] = (unsigned char)(v[i] >> 8);
        row[2 * i + 1] = (unsigned char)v[i];
    }
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 16};
    size_t n;
    unsigned char *png = enc_png(row, 12, 2, 1, &o, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 0, 77, 255, 0);
    assert_px_near(&im, 1, 0, 128, 200, 1, 0);
    image_free(&im);
    free(png);

    /* 16-bit gray with alpha: white at full alpha, black at zero alpha. */
    const unsigned char ga[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00};
    enc_png_opts og = {.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .bit_depth = 16};
    png = enc_png(ga, 8, 2, 1, &og, &n);
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 255, 255, 255, 0);
    assert_px_near(&im, 1, 0, 255, 255, 255, 0);
    image_free(&im);
    free(png);
}

static void test_png_palette_trns_and_low_depth_gray(void **state)
{
    (void)state;
    /* 2-bit palette: entries red, green, blue, (black, fully transparent). */
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {0, 0, 0}};
    const unsigned char trns[4] = {255, 255, 255, 0};
    const unsigned char row[1] = {0x1B}; /* indices 0,1,2,3 packed 2 bits each */
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 2, .palette = pal,
                      .palette_len = 4, .trns = trns, .trns_len = 4};
    size_t n;
    unsigned char *png = enc_png(row, 1, 4, 1, &o, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 255, 0, 0, 0);
    assert_px_near(&im, 1, 0, 0, 255, 0, 0);
    assert_px_near(&im, 2, 0, 0, 0, 255, 0);
    assert_px_near(&im, 3, 0, 255, 255, 255, 0); /* transparent black over white */
    image_free(&im);
    free(png);

    /* 1-bit gray: 0 -> black, 1 -> white. */
    const unsigned char bits[1] = {0x5A}; /* 0101 1010 */
    enc_png_opts og = {.color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 1};
    png = enc_png(bits, 1, 8, 1, &og, &n);
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    const int want[8] = {0, 255, 0, 255, 255, 0, 255, 0};
    for (int x = 0; x < 8; x++)
        assert_px_near(&im, x, 0, want[x], want[x], want[x], 0);
    image_free(&im);
    free(png);

    /* 8-bit RGB with a tRNS colour key: that colour becomes white. */
    png_color_16 key = {0, 10, 20, 30, 0};
    const unsigned char rgb[6] = {10, 20, 30, 11, 20, 30};
    enc_png_opts ok = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .trns_color = &key};
    png = enc_png(rgb, 6, 2, 1, &ok, &n);
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 255, 255, 255, 0);
    assert_px_near(&im, 1, 0, 11, 20, 30, 0);
    image_free(&im);
    free(png);
}

static void test_png_interlaced_matches_plain(void **state)
{
    (void)state;
    const int w = 21, h = 17;
    unsigned char *px = gradient(w, h);
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .interlace = 1};
    size_t n;
    unsigned char *png = enc_png(px, (size_t)w * 3, w, h, &o, &n);
    image im, src = {w, h, px};
    cd_err err;
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), 0);
    assert_true(img_mean_abs_diff(&im, &src) == 0.0);
    image_free(&im);
    free(png);
    free(px);
}

static void test_png_truncated_is_format_error(void **state)
{
    (void)state;
    const int w = 40, h = 40;
    unsigned char *px = noise(w, h, 5);
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    size_t n;
    unsigned char *png = enc_png(px, (size_t)w * 3, w, h, &o, &n);
    assert_true(n > 4000); /* mostly IDAT: n / 2 is inside the pixel data */
    assert_int_equal(decode_code(png, n, NULL), CD_OK);
    assert_int_equal(decode_code(png, n / 2, NULL), CD_ERR_FORMAT);
    assert_int_equal(decode_code(png, n - 12, NULL), CD_ERR_FORMAT); /* no IEND */
    assert_int_equal(decode_code(png, 20, NULL), CD_ERR_FORMAT);     /* inside IHDR */
    png[n / 2] ^= 0x55; /* corrupt compressed data: CRC or zlib error */
    assert_int_equal(decode_code(png, n, NULL), CD_ERR_FORMAT);
    free(png);
    free(px);
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_chunk(enc_buf *b, const char *type, const unsigned char *data, uint32_t len)
{
    enc_put_be32(b, len);
    size_t start = b->len;
    enc_put(b, type, 4);
    if (len)
        enc_put(b, data, len);
    enc_put_be32(b, crc32_of(b->p + start, len + 4));
}

/* A valid PNG header declaring w x h RGB pixels, with a token IDAT and IEND. */
static unsigned char *png_declaring(uint32_t w, uint32_t h, size_t *n)
{
    enc_buf b = {0};
    enc_put(&b, "\x89PNG\r\n\x1a\n", 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8), (unsigned char)w,
                              (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8), (unsigned char)h,
                              8, 2, 0, 0, 0};
    put_chunk(&b, "IHDR", ihdr, 13);
    const unsigned char idat[8] = {0x78, 0x9c, 0x63, 0, 0, 0, 0, 1}; /* not enough data */
    put_chunk(&b, "IDAT", idat, 8);
    put_chunk(&b, "IEND", NULL, 0);
    *n = b.len;
    return b.p;
}

static void test_png_huge_declared_size_is_limit_error(void **state)
{
    (void)state;
    size_t n;
    unsigned char *png = png_declaring(100000, 100000, &n);
    image im;
    cd_err err;
    /* 10^10 pixels would need 30 GB: the header alone must refuse it. */
    assert_int_equal(image_decode(png, n, NULL, &im, NULL, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "100000x100000"));
    assert_null(im.rgb);
    /* Even when the file ends right after IHDR. */
    assert_int_equal(decode_code(png, 33, NULL), CD_ERR_LIMIT);
    free(png);
    /* A small declared size with the same token body is just corrupt. */
    png = png_declaring(4, 4, &n);
    assert_int_equal(decode_code(png, n, NULL), CD_ERR_FORMAT);
    free(png);
}

static void test_max_pixels_option_applies_to_every_format(void **state)
{
    (void)state;
    const int w = 64, h = 48; /* 3072 pixels */
    unsigned char *px = gradient(w, h);
    size_t nj, np, nw;
    unsigned char *jpg = enc_jpeg_rgb(px, w, h, &nj);
    enc_png_opts o = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8};
    unsigned char *png = enc_png(px, (size_t)w * 3, w, h, &o, &np);
    unsigned char *webp = enc_webp(px, w, h, 3, 0, &nw);
    image_decode_opts lim = {3071, 0, 0, 0}, ok = {3072, 0, 0, 0};
    assert_int_equal(decode_code(jpg, nj, &lim), CD_ERR_LIMIT);
    assert_int_equal(decode_code(png, np, &lim), CD_ERR_LIMIT);
    assert_int_equal(decode_code(webp, nw, &lim), CD_ERR_LIMIT);
    assert_int_equal(decode_code(jpg, nj, &ok), CD_OK);
    assert_int_equal(decode_code(png, np, &ok), CD_OK);
    assert_int_equal(decode_code(webp, nw, &ok), CD_OK);

    /* A JPEG whose frame header declares 60000x60000 (3.6 Gpx): refused from
     * the header with the default 64 Mpx limit. */
    for (size_t i = 0; i + 9 < nj; i++) {
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) { /* SOF0: len(2) prec(1) h(2) w(2) */
            jpg[i + 5] = 0xEA; jpg[i + 6] = 0x60;
            jpg[i + 7] = 0xEA; jpg[i + 8] = 0x60;
            break;
        }
    }
    assert_int_equal(decode_code(jpg, nj, NULL), CD_ERR_LIMIT);
    free(jpg);
    free(png);
    free(webp);
    free(px);
}

/* ---- WebP --------------------------------------------------------------- */

static void test_webp_lossy_and_lossless(void **state)
{
    (void)state;
    const int w = 48, h = 32;
    unsigned char *px = gradient(w, h);
    image src = {w, h, px}, im;
    int ow, oh;
    cd_err err;
    size_t n;
    unsigned char *webp = enc_webp(px, w, h, 3, 1, &n);
    assert_int_equal(image_sniff(webp, n), IMAGE_FORMAT_WEBP);
    assert_int_equal(image_decode(webp, n, NULL, &im, &ow, &oh, &err), 0);
    assert_int_equal(ow, w);
    assert_int_equal(oh, h);
    assert_true(img_mean_abs_diff(&im, &src) == 0.0);
    image_free(&im);
    free(webp);
    webp = enc_webp(px, w, h, 3, 0, &n);
    assert_int_equal(image_decode(webp, n, NULL, &im, NULL, NULL, &err), 0);
    assert_true(img_mean_abs_diff(&im, &src) < 4.0);
    image_free(&im);
    free(webp);
    free(px);
}

static void test_webp_alpha_over_white(void **state)
{
    (void)state;
    const unsigned char rgba[16] = {0, 0, 255, 255, 0, 0, 255, 0,
                                    0, 0, 0, 128, 10, 200, 30, 255};
    size_t n;
    unsigned char *webp = enc_webp(rgba, 2, 2, 4, 1, &n);
    image im;
    cd_err err;
    assert_int_equal(image_decode(webp, n, NULL, &im, NULL, NULL, &err), 0);
    assert_px_near(&im, 0, 0, 0, 0, 255, 0);
    assert_px_near(&im, 1, 0, 255, 255, 255, 0);
    assert_px_near(&im, 0, 1, 127, 127, 127, 0);
    assert_px_near(&im, 1, 1, 10, 200, 30, 0);
    image_free(&im);
    free(webp);
}

static void test_webp_truncated_is_format_error(void **state)
{
    (void)state;
    const int w = 64, h = 64;
    unsigned char *px = noise(w, h, 11);
    size_t n;
    unsigned char *lossy = enc_webp(px, w, h, 3, 0, &n);
    assert_true(n > 2000);
    assert_int_equal(decode_code(lossy, n, NULL), CD_OK);
    assert_int_equal(decode_code(lossy, n / 2, NULL), CD_ERR_FORMAT);
    assert_int_equal(decode_code(lossy, n - 1, NULL), CD_ERR_FORMAT);
    assert_int_equal(decode_code(lossy, 20, NULL), CD_ERR_FORMAT);
    free(lossy);
    unsigned char *lossless = enc_webp(px, w, h, 3, 1, &n);
    assert_int_equal(decode_code(lossless, n, NULL), CD_OK);
    assert_int_equal(decode_code(lossless, n / 2, NULL), CD_ERR_FORMAT);
    free(lossless);
    free(px);
}

/* ---- files and encoders ------------------------------------------------- */

static void test_decode_file_reads_and_names_path(void **state)
{
    (void)state;
    const int w = 20, h = 10;
    unsigned char *px = gradient(w, h);
    image src = {w, h, px}, im;
    unsigned char *png;
    size_t n;
    cd_err err;
    assert_int_equal(image_encode_png(&src, &png, &n, &err), 0);
    char path[] = "/tmp/catdog_image_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, png, n), (ssize_t)n);
    close(fd);
    assert_int_equal(image_decode_file(path, NULL, &im, NULL, NULL, &err), 0);
    assert_true(img_mean_abs_diff(&im, &src) == 0.0);
    image_free(&im);
    /* A truncated file: the message names the path. */
    assert_int_equal(truncate(path, (off_t)(n / 2)), 0);
    assert_int_equal(image_decode_file(path, NULL, &im, NULL, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_int_equal(image_decode_file(path, NULL, &im, NULL, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, path));
    free(png);
    free(px);
}

static void test_encoders_round_trip(void **state)
{
    (void)state;
    const int w = 33, h = 19;
    unsigned char *px = gradient(w, h);
    image src = {w, h, px}, im;
    unsigned char *buf;
    size_t n;
    cd_err err;
    assert_int_equal(image_encode_png(&src, &buf, &n, &err), 0);
    assert_int_equal(image_sniff(buf, n), IMAGE_FORMAT_PNG);
    assert_int_equal(image_decode(buf, n, NULL, &im, NULL, NULL, &err), 0);
    assert_true(img_mean_abs_diff(&im, &src) == 0.0);
    image_free(&im);
    free(buf);
    assert_int_equal(image_encode_jpeg(&src, 95, &buf, &n, &err), 0);
    assert_int_equal(image_sniff(buf, n), IMAGE_FORMAT_JPEG);
    assert_int_equal(image_decode(buf, n, NULL, &im, NULL, NULL, &err), 0);
    assert_true(img_mean_abs_diff(&im, &src) < 2.0);
    image_free(&im);
    free(buf);
    /* Lower quality, smaller file. */
    size_t n95 = n;
    assert_int_equal(image_encode_jpeg(&src, 30, &buf, &n, &err), 0);
    assert_true(n < n95);
    free(buf);
    assert_int_equal(image_encode_jpeg(&src, 0, &buf, &n, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    image empty = {0, 0, NULL};
    assert_int_equal(image_encode_png(&empty, &buf, &n, &err), -1);
    free(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_uses_magic_bytes),
        cmocka_unit_test(test_jpeg_rgb_decodes_close_to_source),
        cmocka_unit_test(test_jpeg_grayscale_becomes_gray_rgb),
        cmocka_unit_test(test_jpeg_cmyk_becomes_rgb),
        cmocka_unit_test(test_jpeg_ycck_becomes_rgb),
        cmocka_unit_test(test_jpeg_progressive_matches_baseline),
        cmocka_unit_test(test_jpeg_reduced_scale_covers_hint),
        cmocka_unit_test(test_jpeg_truncated_is_format_error),
        cmocka_unit_test(test_garbage_is_an_error),
        cmocka_unit_test(test_png_rgb_is_exact),
        cmocka_unit_test(test_png_alpha_over_white),
        cmocka_unit_test(test_png_16bit_scales_to_8bit),
        cmocka_unit_test(test_png_palette_trns_and_low_depth_gray),
        cmocka_unit_test(test_png_interlaced_matches_plain),
        cmocka_unit_test(test_png_truncated_is_format_error),
        cmocka_unit_test(test_png_huge_declared_size_is_limit_error),
        cmocka_unit_test(test_max_pixels_option_applies_to_every_format),
        cmocka_unit_test(test_webp_lossy_and_lossless),
        cmocka_unit_test(test_webp_alpha_over_white),
        cmocka_unit_test(test_webp_truncated_is_format_error),
        cmocka_unit_test(test_decode_file_reads_and_names_path),
        cmocka_unit_test(test_encoders_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
