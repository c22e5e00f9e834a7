/*
 * test_augment.c - augmentation (data/augment.h): parsing the CLI spec, identity
 * when off, determinism per seed, flip correctness on a marked image, and the
 * affine geometry pinned to Keras' apply_affine_transform formulas worked out
 * by hand (rotation about (h/2+0.5, w/2+0.5), shift applied in the rotated
 * frame, zoom = input/output scale, 'nearest' edge fill) and brightness clipping.
 */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

#include "data/augment.h"

#define W 8
#define H 8

static image make_image(int w, int h, unsigned seed)
{
    image im = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(im.rgb);
    for (int i = 0; i < w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        im.rgb[i] = (unsigned char)(seed >> 16);
    }
    return im;
}

static const unsigned char *px(const image *im, int r, int c)
{
    if (r < 0) r = 0;
    if (r >= im->height) r = im->height - 1;
    if (c < 0) c = 0;
    if (c >= im->width) c = im->width - 1;
    return im->rgb + ((size_t)r * im->width + c) * 3;
}

static void test_augment_parse_spec(void **state)
{
    (void)state;
    augment_opts o;
    cd_err err;
    assert_int_equal(augment_parse("flip,rotate=20,shift=0.1,zoom=0.2,shear=10,brightness=0.2", &o, &err), 0);
    assert_int_equal(o.horizontal_flip, 1);
    assert_float_equal(o.rotation_range, 20, 1e-6);
    assert_float_equal(o.width_shift_range, 0.1, 1e-6);
    assert_float_equal(o.height_shift_range, 0.1, 1e-6);
    assert_float_equal(o.zoom_range, 0.2, 1e-6);
    assert_float_equal(o.shear_range, 10, 1e-6);
    assert_float_equal(o.brightness_range, 0.2, 1e-6);
    assert_false(augment_is_identity(&o));

    assert_int_equal(augment_parse("none", &o, &err), 0);
    assert_true(augment_is_identity(&o));
    assert_true(augment_is_identity(NULL));

    assert_int_equal(augment_parse(" default , brightness=0.3 ,wshift=0.05", &o, &err), 0);
    assert_int_equal(o.horizontal_flip, 1);
    assert_float_equal(o.rotation_range, 40, 1e-6);
    assert_float_equal(o.width_shift_range, 0.05, 1e-6);
    assert_float_equal(o.height_shift_range, 0.2, 1e-6);
    assert_float_equal(o.brightness_range, 0.3, 1e-6);

    assert_int_equal(augment_parse("default,flip=0", &o, &err), 0);
    assert_int_equal(o.horizontal_flip, 0);

    augment_opts before = o;
    const char *bad[] = {"", "rotate", "rotate=abc", "zoom=1.5", "shift=-0.1", "twirl=3", "flip=2", "rotate=200"};
    const char *named[] = {"empty", "rotate", "abc", "zoom", "shift", "twirl", "flip", "rotate"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(augment_parse(bad[i], &o, &err), -1);
        assert_int_equal(err.code, CD_ERR_INVALID);
        assert_non_null(strstr(err.msg, named[i]));
        assert_memory_equal(&o, &before, sizeof o); /* unchanged on error */
    }
}

static void test_augment_off_is_exact_copy(void **state)
{
    (void)state;
    augment_opts o;
    memset(&o, 0, sizeof o);
    image src = make_image(13, 7, 1), dst = {0, 0, malloc(13 * 7 * 3)};
    for (unsigned long long seed = 0; seed < 20; seed++) {
        memset(dst.rgb, 0, 13 * 7 * 3);
        augment_apply(&o, seed, &src, &dst);
        assert_int_equal(dst.width, 13);
        assert_int_equal(dst.height, 7);
        assert_memory_equal(dst.rgb, src.rgb, 13 * 7 * 3);
    }
    free(src.rgb);
    free(dst.rgb);
}

static void test_augment_same_seed_same_image(void **state)
{
    (void)state;
    augment_opts o;
    cd_err err;
    assert_int_equal(augment_parse("default,brightness=0.2", &o, &err), 0);
    image src = make_image(32, 24, 2);
    image a = {0, 0, malloc(32 * 24 * 3)}, b = {0, 0, malloc(32 * 24 * 3)}, c = {0, 0, malloc(32 * 24 * 3)};
    augment_apply(&o, 12345, &src, &a);
    augment_apply(&o, 12345, &src, &b);
    augment_apply(&o, 12346, &src, &c);
    assert_memory_equal(a.rgb, b.rgb, 32 * 24 * 3);
    assert_true(memcmp(a.rgb, c.rgb, 32 * 24 * 3) != 0);
    assert_true(memcmp(a.rgb, src.rgb, 32 * 24 * 3) != 0);
    free(src.rgb);
    free(a.rgb);
    free(b.rgb);
    free(c.rgb);
}

static void test_augment_draw_independent_of_other_switches(void **state)
{
    (void)state;
    augment_opts a, b;
    cd_err err;
    assert_int_equal(augment_parse("rotate=30,zoom=0.1", &a, &err), 0);
    assert_int_equal(augment_parse("rotate=30,zoom=0.1,brightness=0.5,flip", &b, &err), 0);
    for (unsigned long long seed = 0; seed < 10; seed++) {
        augment_params pa, pb;
        augment_draw(&a, seed, 150, 150, &pa);
        augment_draw(&b, seed, 150, 150, &pb);
        assert_true(pa.theta == pb.theta && pa.zx == pb.zx && pa.zy == pb.zy);
        assert_true(pa.theta >= -30 && pa.theta <= 30);
        assert_true(pa.zx >= 0.9 && pa.zx <= 1.1);
        assert_true(pa.tx == 0 && pa.ty == 0 && pa.shear == 0 && pa.flip == 0 && pa.brightness == 1);
        assert_true(pb.brightness >= 0.5 && pb.brightness <= 1.5);
    }
}

/* Only flipping on: every output is the input or its exact mirror, about half each. */
static void test_augment_flip_mirrors_marked_image(void **state)
{
    (void)state;
    augment_opts o;
    memset(&o, 0, sizeof o);
    o.horizontal_flip = 1;
    image src = {W, H, calloc(W * H * 3, 1)}, dst = {0, 0, malloc(W * H * 3)};
    /* A red mark at row 2, column 1 and a green one at row 5, column 7. */
    src.rgb[(2 * W + 1) * 3 + 0] = 255;
    src.rgb[(5 * W + 7) * 3 + 1] = 200;
    int flips = 0;
    for (unsigned long long seed = 0; seed < 200; seed++) {
        augment_apply(&o, seed, &src, &dst);
        if (memcmp(dst.rgb, src.rgb, W * H * 3) == 0)
            continue;
        flips++;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                assert_memory_equal(px(&dst, r, c), px(&src, r, W - 1 - c), 3);
        assert_int_equal(dst.rgb[(2 * W + 6) * 3 + 0], 255);
        assert_int_equal(dst.rgb[(5 * W + 0) * 3 + 1], 200);
    }
    assert_true(flips > 70 && flips < 130);
    free(src.rgb);
    free(dst.rgb);
}

static augment_params no_params(void)
{
    augment_params p = {0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0};
    return p;
}

/* Keras: input = o + R (p - o), o = (h/2+0.5, w/2+0.5) = (4.5, 4.5) for 8x8;
 * theta = 90 gives input (row, col) = (9 - c, r), clamped to the image. */
static void test_augment_rotation_90_matches_keras_formula(void **state)
{
    (void)state;
    image src = make_image(W, H, 3), dst = {0, 0, malloc(W * H * 3)};
    augment_params p = no_params();
    p.theta = 90;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            assert_memory_equal(px(&dst, r, c), px(&src, 9 - c, r), 3);
    free(src.rgb);
    free(dst.rgb);
}

/* Shift: input = p + (tx, ty); composed after the rotation, the shift acts in the
 * rotated frame: theta 90 and tx 2 give input (9 - c, r + 2). */
static void test_augment_shift_and_composition_order(void **state)
{
    (void)state;
    image src = make_image(W, H, 4), dst = {0, 0, malloc(W * H * 3)};
    augment_params p = no_params();
    p.tx = 3;
    p.ty = -2;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            assert_memory_equal(px(&dst, r, c), px(&src, r + 3, c - 2), 3);
    p = no_params();
    p.theta = 90;
    p.tx = 2;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            assert_memory_equal(px(&dst, r, c), px(&src, 9 - c, r + 2), 3);
    free(src.rgb);
    free(dst.rgb);
}

/* Zoom zx = 2 along rows: input row = 4.5 + 2 (r - 4.5) = 2r - 4.5, halfway between
 * two rows; on a vertical ramp (value 10 * row) bilinear gives 10 * that row
 * exactly, and rows outside the image repeat the edge. */
static void test_augment_zoom_bilinear_and_nearest_fill(void **state)
{
    (void)state;
    image src = {W, H, malloc(W * H * 3)}, dst = {0, 0, malloc(W * H * 3)};
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            for (int k = 0; k < 3; k++)
                src.rgb[(r * W + c) * 3 + k] = (unsigned char)(10 * r + k);
    augment_params p = no_params();
    p.zx = 2;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++) {
        double y = 2 * r - 4.5;
        if (y < 0) y = 0;
        if (y > H - 1) y = H - 1;
        for (int c = 0; c < W; c++)
            for (int k = 0; k < 3; k++)
                assert_int_equal(dst.rgb[(r * W + c) * 3 + k], (int)(10 * y) + k);
    }
    free(src.rgb);
    free(dst.rgb);
}

static void test_augment_brightness_multiplies_and_clips(void **state)
{
    (void)state;
    unsigned char v[6] = {0, 10, 100, 170, 200, 255};
    image src = {2, 1, v}, dst = {0, 0, malloc(6)};
    augment_params p = no_params();
    p.brightness = 1.5;
    augment_apply_params(&p, &src, &dst);
    const unsigned char want[6] = {0, 15, 150, 255, 255, 255};
    assert_memory_equal(dst.rgb, want, 6);
    p.brightness = 0.5;
    augment_apply_params(&p, &src, &dst);
    const unsigned char want2[6] = {0, 5, 50, 85, 100, 128}; /* 127.5 rounds to even: 128 */
    assert_memory_equal(dst.rgb, want2, 6);
    free(dst.rgb);
}

/* The random resized crop (rows 2..6, columns 1..5 of an 8x8 image) stretched
 * over the image: output pixel (r, c) samples source row 2 + (r + 0.5) / 2 -
 * 0.5 and column 1 + (c + 0.5) / 2 - 0.5; on a plane (10 row + 3 col)
 * bilinear sampling gives the plane's value there (to one level: the
 * weights are fixed point). */
static void test_augment_crop_samples_region_stretched(void **state)
{
    (void)state;
    image src = {W, H, malloc(W * H * 3)}, dst = {0, 0, malloc(W * H * 3)};
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            for (int k = 0; k < 3; k++)
                src.rgb[(r * W + c) * 3 + k] = (unsigned char)(10 * r + 3 * c + k);
    augment_params p = no_params();
    p.crop_y = 2;
    p.crop_x = 1;
    p.crop_h = 4;
    p.crop_w = 4;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            double y = 2 + (r + 0.5) / 2 - 0.5, x = 1 + (c + 0.5) / 2 - 0.5;
            for (int k = 0; k < 3; k++) {
                double want = 10 * y + 3 * x + k;
                int got = dst.rgb[(r * W + c) * 3 + k];
                if (fabs(got - want) > 1.0)
                    fail_msg("pixel (%d, %d, %d): %d, want %.2f", r, c, k, got, want);
            }
        }
    /* With a zoom, Keras' map works inside the crop: zx = 2 about the
     * centre, then the crop: row 2 + (4.5 + 2 (r - 4.5) + 0.5) / 2 - 0.5. */
    p.zx = 2;
    augment_apply_params(&p, &src, &dst);
    for (int r = 0; r < H; r++) {
        double y = 2 + (4.5 + 2 * (r - 4.5) + 0.5) / 2 - 0.5;
        y = y < 0 ? 0 : y > H - 1 ? H - 1 : y;
        double x = 1 + (0 + 0.5) / 2 - 0.5;
        assert_true(fabs(dst.rgb[(r * W) * 3] - (10 * y + 3 * x)) <= 1.0);
    }
    free(src.rgb);
    free(dst.rgb);
}

/* The drawn crop: area in [a, 1] of the image (when not clipped at a side),
 * aspect ratio in [3/4, 4/3], inside the image; the Keras draws unchanged. */
static void test_augment_crop_draw_ranges(void **state)
{
    (void)state;
    augment_opts a, b;
    cd_err err;
    assert_int_equal(augment_parse("rotate=30,zoom=0.1", &a, &err), 0);
    assert_int_equal(augment_parse("rotate=30,zoom=0.1,crop=0.6,contrast=0.3,saturation=0.4,hue=0.1", &b, &err), 0);
    assert_true(b.crop_area == 0.6f && b.contrast_range == 0.3f && b.saturation_range == 0.4f && b.hue_range == 0.1f);
    int clipped = 0;
    for (unsigned long long seed = 0; seed < 200; seed++) {
        augment_params pa, pb;
        augment_draw(&a, seed, 150, 120, &pa);
        augment_draw(&b, seed, 150, 120, &pb);
        assert_true(pa.theta == pb.theta && pa.zx == pb.zx && pa.zy == pb.zy && pa.flip == pb.flip);
        assert_true(pa.crop_h == 0 && pa.contrast == 1 && pa.saturation == 1 && pa.hue == 0);
        double area = pb.crop_w * pb.crop_h / (150.0 * 120.0), ratio = (pb.crop_w / 150) / (pb.crop_h / 120);
        int clip = pb.crop_w >= 150 - 1e-9 || pb.crop_h >= 120 - 1e-9;
        clipped += clip;
        assert_true(area >= 0.6 * (clip ? 0.75 : 1) - 1e-9 && area <= 1 + 1e-9);
        if (!clip)
            assert_true(ratio >= 0.75 - 1e-9 && ratio <= 4.0 / 3 + 1e-9);
        assert_true(pb.crop_x >= 0 && pb.crop_x + pb.crop_w <= 150 + 1e-9);
        assert_true(pb.crop_y >= 0 && pb.crop_y + pb.crop_h <= 120 + 1e-9);
        assert_true(pb.contrast >= 0.7 && pb.contrast <= 1.3 && pb.saturation >= 0.6 && pb.saturation <= 1.4);
        assert_true(pb.hue >= -0.1 && pb.hue <= 0.1);
    }
    assert_true(clipped < 200);
    assert_int_equal(augment_parse("crop=0", &a, &err), -1);
    assert_int_equal(augment_parse("hue=0.6", &a, &err), -1);
}

/* PIL's Contrast and Color by hand.  Greys 100 and 200: L = 100, 200, mean
 * 150; factor 0.5 gives 125, 175, factor 2 gives 50, 250.  (200, 100, 0):
 * L = (200*19595 + 100*38470 + 2^15) >> 16 = 118; saturation 2 gives
 * 118 + 2 (v - 118) clipped: 255, 82, 0; saturation 0 the grey 118. */
static void test_augment_contrast_and_saturation_by_hand(void **state)
{
    (void)state;
    unsigned char v[6] = {100, 100, 100, 200, 200, 200};
    image src = {2, 1, v}, dst = {0, 0, malloc(6)};
    augment_params p = no_params();
    p.contrast = 0.5;
    augment_apply_params(&p, &src, &dst);
    const unsigned char want[6] = {125, 125, 125, 175, 175, 175};
    assert_memory_equal(dst.rgb, want, 6);
    p.contrast = 2;
    augment_apply_params(&p, &src, &dst);
    const unsigned char want2[6] = {50, 50, 50, 250, 250, 250};
    assert_memory_equal(dst.rgb, want2, 6);
    unsigned char c[3] = {200, 100, 0};
    image one = {1, 1, c};
    p = no_params();
    p.saturation = 2;
    augment_apply_params(&p, &one, &dst);
    const unsigned char want3[3] = {255, 82, 0};
    assert_memory_equal(dst.rgb, want3, 3);
    p.saturation = 0;
    augment_apply_params(&p, &one, &dst);
    const unsigned char want4[3] = {118, 118, 118};
    assert_memory_equal(dst.rgb, want4, 3);
    free(dst.rgb);
}

/* Hue: greys stay grey, luminance is kept (to rounding), a turn and its
 * opposite come back (to rounding), a half turn changes the colour. */
static void test_augment_hue_keeps_greys_and_luma(void **state)
{
    (void)state;
    unsigned char v[9] = {90, 90, 90, 150, 110, 80, 60, 120, 140};
    image src = {3, 1, v}, dst = {0, 0, malloc(9)}, back = {0, 0, malloc(9)};
    augment_params p = no_params();
    p.hue = 0.2;
    augment_apply_params(&p, &src, &dst);
    for (int k = 0; k < 3; k++)
        assert_int_equal(dst.rgb[k], 90);
    for (int i = 1; i < 3; i++) {
        const unsigned char *a = v + i * 3, *b = dst.rgb + i * 3;
        double ya = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], yb = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2];
        assert_true(fabs(ya - yb) <= 1.0);
        assert_true(abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > 10);
    }
    p.hue = -0.2;
    augment_apply_params(&p, &dst, &back);
    for (int i = 0; i < 9; i++)
        assert_true(abs(back.rgb[i] - v[i]) <= 2);
    free(dst.rgb);
    free(back.rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_augment_parse_spec),
        cmocka_unit_test(test_augment_off_is_exact_copy),
        cmocka_unit_test(test_augment_same_seed_same_image),
        cmocka_unit_test(test_augment_draw_independent_of_other_switches),
        cmocka_unit_test(test_augment_flip_mirrors_marked_image),
        cmocka_unit_test(test_augment_rotation_90_matches_keras_formula),
        cmocka_unit_test(test_augment_shift_and_composition_order),
        cmocka_unit_test(test_augment_zoom_bilinear_and_nearest_fill),
        cmocka_unit_test(test_augment_brightness_multiplies_and_clips),
        cmocka_unit_test(test_augment_crop_samples_region_stretched),
        cmocka_unit_test(test_augment_crop_draw_ranges),
        cmocka_unit_test(test_augment_contrast_and_saturation_by_hand),
        cmocka_unit_test(test_augment_hue_keeps_greys_and_luma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
