/*
 * test_image_exif.c - EXIF orientation: each of the eight values moves two
 * marked corners of a non-square photo where a viewer would show them, for
 * JPEG (APP1 written by libexif and by hand, both byte orders), PNG (eXIf)
 * and WebP (EXIF chunk); sizes swap for 5..8; no_exif keeps the stored
 * pixels; nonsense values are ignored.
 */
#include "test_util.h"

#include "image/encoders.h"
#include "image/image.h"

enum { W = 48, H = 32, B = 16 }; /* stored size; marker blocks B x B */
enum { TL, TR, BL, BR };

/* Where the stored top-left (red) and top-right (green) blocks must appear
 * for orientations 1..8 (index 0 unused). */
static const int red_at[9] = {0, TL, TR, BR, BL, TL, TR, BR, BL};
static const int green_at[9] = {0, TR, TL, BL, BR, BL, BR, TR, TL};

/* Stored image: gray, red block at top-left, green block at top-right. */
static unsigned char *marked(void)
{
    unsigned char *p = malloc((size_t)W * H * 3);
    assert_non_null(p);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *q = p + ((size_t)y * W + x) * 3;
            q[0] = q[1] = q[2] = 128;
            if (y < B && x < B) {
                q[0] = 255; q[1] = 0; q[2] = 0;
            } else if (y < B && x >= W - B) {
                q[0] = 0; q[1] = 255; q[2] = 0;
            }
        }
    return p;
}

static void corner_center(const image *im, int corner, int *x, int *y)
{
    *x = (corner == TL || corner == BL) ? B / 2 : im->width - 1 - B / 2;
    *y = (corner == TL || corner == TR) ? B / 2 : im->height - 1 - B / 2;
}

static void check_oriented(const unsigned char *bytes, size_t n, int orientation, int tol)
{
    image im;
    int ow = 0, oh = 0;
    cd_err err;
    if (image_decode(bytes, n, NULL, &im, &ow, &oh, &err) != 0)
        fail_msg("orientation %d: %s", orientation, err.msg);
    int swap = orientation >= 5;
    assert_int_equal(im.width, swap ? H : W);
    assert_int_equal(im.height, swap ? W : H);
    assert_int_equal(ow, im.width);
    assert_int_equal(oh, im.height);
    int x, y;
    corner_center(&im, red_at[orientation], &x, &y);
    assert_px_near(&im, x, y, 255, 0, 0, tol);
    corner_center(&im, green_at[orientation], &x, &y);
    assert_px_near(&im, x, y, 0, 255, 0, tol);
    /* The other two corners are gray. */
    for (int c = TL; c <= BR; c++) {
        if (c == red_at[orientation] || c == green_at[orientation])
            continue;
        corner_center(&im, c, &x, &y);
        assert_px_near(&im, x, y, 128, 128, 128, tol);
    }
    image_free(&im);
}

static void test_jpeg_all_orientations_libexif_intel(void **state)
{
    (void)state;
    unsigned char *px = marked();
    for (int o = 1; o <= 8; o++) {
        size_t en, n;
        unsigned char *exif = enc_exif_libexif(o, &en);
        enc_jpeg_opts jo = {JCS_RGB, 0, 95, 0, exif, en};
        unsigned char *jpg = enc_jpeg(px, W, H, &jo, &n);
        check_oriented(jpg, n, o, 12);
        free(jpg);
        free(exif);
    }
    free(px);
}

static void test_jpeg_all_orientations_by_hand_motorola(void **state)
{
    (void)state;
    unsigned char *px = marked();
    for (int o = 1; o <= 8; o++) {
        size_t en, n;
        unsigned char *exif = enc_exif_by_hand(o, 1, &en);
        enc_jpeg_opts jo = {JCS_RGB, 0, 95, 1 /* progressive too */, exif, en};
        unsigned char *jpg = enc_jpeg(px, W, H, &jo, &n);
        check_oriented(jpg, n, o, 12);
        free(jpg);
        free(exif);
    }
    free(px);
}

static void test_png_exif_chunk_orientations(void **state)
{
    (void)state;
    unsigned char *px = marked();
    for (int o = 1; o <= 8; o++) {
        size_t en, n;
        unsigned char *exif = enc_exif_by_hand(o, 0, &en);
        enc_png_opts po = {.color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .exif = exif,
                           .exif_len = en};
        unsigned char *png = enc_png(px, (size_t)W * 3, W, H, &po, &n);
        check_oriented(png, n, o, 0);
        free(png);
        free(exif);
    }
    free(px);
}

static void test_webp_exif_chunk_orientations(void **state)
{
    (void)state;
    unsigned char *px = marked();
    size_t wn;
    unsigned char *plain = enc_webp(px, W, H, 3, 1, &wn);
    for (int o = 1; o <= 8; o++) {
        size_t en, n;
        unsigned char *exif = enc_exif_by_hand(o, 0, &en);
        unsigned char *webp = enc_webp_add_exif(plain, wn, W, H, exif, en, &n);
        check_oriented(webp, n, o, 0);
        free(webp);
        free(exif);
    }
    free(plain);
    free(px);
}

static void test_no_exif_option_keeps_stored_pixels(void **state)
{
    (void)state;
    unsigned char *px = marked();
    size_t en, n;
    unsigned char *exif = enc_exif_by_hand(6, 1, &en);
    enc_jpeg_opts jo = {JCS_RGB, 0, 95, 0, exif, en};
    unsigned char *jpg = enc_jpeg(px, W, H, &jo, &n);
    image_decode_opts opts = {0, 0, 0, 1};
    image im;
    int ow, oh;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, &opts, &im, &ow, &oh, &err), 0);
    assert_int_equal(im.width, W);
    assert_int_equal(im.height, H);
    assert_int_equal(ow, W);
    assert_px_near(&im, B / 2, B / 2, 255, 0, 0, 12);
    image_free(&im);
    free(jpg);
    free(exif);
    free(px);
}

static void test_invalid_orientation_values_are_ignored(void **state)
{
    (void)state;
    unsigned char *px = marked();
    const int bad[3] = {0, 9, 200};
    for (int i = 0; i < 3; i++) {
        size_t en, n;
        unsigned char *exif = enc_exif_by_hand(bad[i], 1, &en);
        enc_jpeg_opts jo = {JCS_RGB, 0, 95, 0, exif, en};
        unsigned char *jpg = enc_jpeg(px, W, H, &jo, &n);
        check_oriented(jpg, n, 1, 12);
        free(jpg);
        free(exif);
    }
    /* A damaged EXIF block does not stop the photo from decoding. */
    size_t n;
    const unsigned char broken[] = "Exif\0\0MM\0\x2a\0\0\xff\xf0";
    enc_jpeg_opts jo = {JCS_RGB, 0, 95, 0, broken, sizeof broken - 1};
    unsigned char *jpg = enc_jpeg(px, W, H, &jo, &n);
    check_oriented(jpg, n, 1, 12);
    free(jpg);
    free(px);
}

static void test_reduced_scale_hint_follows_display_orientation(void **state)
{
    (void)state;
    /* Stored 800x400, orientation 6: shown as 400x800.  A 100x200 hint (display)
     * is 200x100 in stored pixels: 2/8 scale, shown as 100x200. */
    const int w = 800, h = 400;
    unsigned char *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    memset(px, 90, (size_t)w * h * 3);
    size_t en, n;
    unsigned char *exif = enc_exif_by_hand(6, 1, &en);
    enc_jpeg_opts jo = {JCS_RGB, 0, 90, 0, exif, en};
    unsigned char *jpg = enc_jpeg(px, w, h, &jo, &n);
    image_decode_opts opts = {0, 100, 200, 0};
    image im;
    int ow, oh;
    cd_err err;
    assert_int_equal(image_decode(jpg, n, &opts, &im, &ow, &oh, &err), 0);
    assert_int_equal(im.width, 100);
    assert_int_equal(im.height, 200);
    assert_int_equal(ow, 400);
    assert_int_equal(oh, 800);
    image_free(&im);
    free(jpg);
    free(exif);
    free(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_all_orientations_libexif_intel),
        cmocka_unit_test(test_jpeg_all_orientations_by_hand_motorola),
        cmocka_unit_test(test_png_exif_chunk_orientations),
        cmocka_unit_test(test_webp_exif_chunk_orientations),
        cmocka_unit_test(test_no_exif_option_keeps_stored_pixels),
        cmocka_unit_test(test_invalid_orientation_values_are_ignored),
        cmocka_unit_test(test_reduced_scale_hint_follows_display_orientation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
