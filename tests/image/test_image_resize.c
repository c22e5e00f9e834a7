/*
 * test_image_resize.c - bilinear (PIL-style, antialiased when shrinking) and
 * nearest (Keras load_img's default) resizing, and image_to_input.
 *
 * Bilinear is checked three ways: values computed by hand from PIL's
 * definition (triangle filter stretched by the downscale factor, pixel
 * centres at i + 0.5), an independent double-precision implementation of
 * that definition on random images, and properties (constant stays
 * constant, a fine checkerboard shrinks to gray where nearest aliases).
 */
#include "test_util.h"

#include <math.h>

#include "image/encoders.h"
#include "image/image.h"

static image make(int w, int h)
{
    image im = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(im.rgb);
    return im;
}

static void test_constant_image_stays_constant(void **state)
{
    (void)state;
    image src = make(37, 23);
    for (size_t i = 0; i < (size_t)37 * 23; i++) {
        src.rgb[3 * i] = 17; src.rgb[3 * i + 1] = 128; src.rgb[3 * i + 2] = 250;
    }
    const int sizes[][2] = {{37, 23}, {10, 5}, {1, 1}, {100, 80}, {50, 7}, {224, 224}, {3, 60}};
    cd_err err;
    for (int f = 0; f < 2; f++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            image dst;
            assert_int_equal(image_resize(&src, sizes[s][0], sizes[s][1], (image_filter)f, &dst,
                                          &err), 0);
            assert_int_equal(dst.width, sizes[s][0]);
            assert_int_equal(dst.height, sizes[s][1]);
            for (size_t i = 0; i < (size_t)dst.width * dst.height; i++)
                if (dst.rgb[3 * i] != 17 || dst.rgb[3 * i + 1] != 128 || dst.rgb[3 * i + 2] != 250)
                    fail_msg("filter %d to %dx%d: pixel %zu changed", f, dst.width, dst.height, i);
            image_free(&dst);
        }
    image_free(&src);
}

static void test_nearest_picks_exact_source_pixels(void **state)
{
    (void)state;
    /* Every source pixel distinct: (x, y, x ^ y). */
    const int sw = 200, sh = 120;
    image src = make(sw, sh);
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            unsigned char *p = src.rgb + ((size_t)y * sw + x) * 3;
            p[0] = (unsigned char)x; p[1] = (unsigned char)y; p[2] = (unsigned char)(x ^ y);
        }
    const int sizes[][2] = {{150, 150}, {64, 7}, {333, 250}, {200, 120}, {1, 1}};
    cd_err err;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int w = sizes[s][0], h = sizes[s][1];
        image dst;
        assert_int_equal(image_resize(&src, w, h, IMAGE_FILTER_NEAREST, &dst, &err), 0);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                /* The source pixel under the output pixel's centre; where the
                 * centre falls exactly on a pixel boundary PIL's accumulated
                 * position may land on either side. */
                double cx = (x + 0.5) * sw / w, cy = (y + 0.5) * sh / h;
                const unsigned char *p = img_px(&dst, x, y);
                int okx = p[0] == (int)floor(cx) || p[0] == (int)floor(cx - 1e-9);
                int oky = p[1] == (int)floor(cy) || p[1] == (int)floor(cy - 1e-9);
                if (!okx || !oky || p[2] != (p[0] ^ p[1]))
                    fail_msg("%dx%d: (%d,%d) is source (%d,%d), centre (%.3f,%.3f)", w, h, x,
                             y, p[0], p[1], cx, cy);
            }
        image_free(&dst);
    }
    image_free(&src);
}

/* One row, red channel only, through bilinear. */
static void resize_row(const unsigned char *v, int n, int out_n, unsigned char *res)
{
    image src = make(n, 1), dst;
    for (int i = 0; i < n; i++)
        src.rgb[3 * i] = src.rgb[3 * i + 1] = src.rgb[3 * i + 2] = v[i];
    cd_err err;
    assert_int_equal(image_resize(&src, out_n, 1, IMAGE_FILTER_BILINEAR, &dst, &err), 0);
    for (int i = 0; i < out_n; i++)
        res[i] = dst.rgb[3 * i];
    image_free(&dst);
    image_free(&src);
}

static void test_bilinear_matches_hand_computed_pil_values(void **state)
{
    (void)state;
    unsigned char r[4];
    /* Halving [0,100,200,255]: support 2 around centres 1 and 3; weights
     * (.75,.75,.25)/1.75 and (.25,.75,.75)/1.75:
     * (300+200)/7 = 71.4 -> 71, (100+600+765)/7 = 209.3 -> 209. */
    const unsigned char a[4] = {0, 100, 200, 255};
    resize_row(a, 4, 2, r);
    assert_int_equal(r[0], 71);
    assert_int_equal(r[1], 209);
    /* Doubling [0,100]: plain interpolation between pixel centres, clamped
     * at the edges: 0, 25, 75, 100. */
    const unsigned char b[2] = {0, 100};
    resize_row(b, 2, 4, r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 25);
    assert_int_equal(r[2], 75);
    assert_int_equal(r[3], 100);
    /* Thirding [30,60,90]: one output at centre 1.5, support 3, weights
     * tri((x-1)/3) = 2/3, 1, 2/3 -> (20+60+60)/(7/3) = 60. */
    const unsigned char c[3] = {30, 60, 90};
    resize_row(c, 3, 1, r);
    assert_int_equal(r[0], 60);
}

/* An independent, direct double-precision version of the same definition:
 * for each output pixel, every input pixel weighted by the stretched
 * triangle at its centre distance, normalised; 2-D, rounded once. */
static void reference_bilinear(const image *src, int w, int h, double *out)
{
    const double sx = (double)src->width / w, sy = (double)src->height / h;
    const double fx = sx > 1 ? sx : 1, fy = sy > 1 ? sy : 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double cx = (x + 0.5) * sx, cy = (y + 0.5) * sy, acc[3] = {0, 0, 0}, wsum = 0;
            for (int j = 0; j < src->height; j++) {
                double wy = 1 - fabs(j + 0.5 - cy) / fy;
                if (wy <= 0)
                    continue;
                for (int i = 0; i < src->width; i++) {
                    double wx = 1 - fabs(i + 0.5 - cx) / fx;
                    if (wx <= 0)
                        continue;
                    const unsigned char *p = img_px(src, i, j);
                    for (int c = 0; c < 3; c++)
                        acc[c] += wx * wy * p[c];
                    wsum += wx * wy;
                }
            }
            for (int c = 0; c < 3; c++)
                out[((size_t)y * w + x) * 3 + c] = acc[c] / wsum;
        }
}

/* Pillow's fixed-point arithmetic written the plain way (its Resample.c:
 * 22-bit weights, a loop along each row over its taps into an 8-bit image,
 * then along each column), for the byte-for-byte check below. */
static void pil_axis(int in, int out, int *first, int *count, int32_t *w, int ksize)
{
    const double scale = (double)in / out, fs = scale < 1 ? 1 : scale, support = fs;
    for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale, t[64], sum = 0;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        int n = hi - lo < ksize ? hi - lo : ksize;
        for (int x = 0; x < n; x++) {
            double d = fabs((x + lo - centre + 0.5) / fs);
            sum += t[x] = d < 1 ? 1 - d : 0;
        }
        for (int x = 0; x < n; x++) {
            double v = sum != 0 ? t[x] / sum : t[x];
            w[i * ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << 22) : 0.5 + v * (1 << 22));
        }
        first[i] = lo;
        count[i] = n;
    }
}

static unsigned char pil_clip(int32_t v)
{
    return v >= (1 << 30) ? 255 : v <= 0 ? 0 : (unsigned char)(v >> 22);
}

static void pil_bilinear(const image *src, int w, int h, unsigned char *out)
{
    const int W = src->width, H = src->height;
    const int kx = (int)ceil(W > w ? (double)W / w : 1) * 2 + 1, ky = (int)ceil(H > h ? (double)H / h : 1) * 2 + 1;
    int *fx = malloc(sizeof(int) * w), *cx = malloc(sizeof(int) * w), *fy = malloc(sizeof(int) * h),
        *cy = malloc(sizeof(int) * h);
    int32_t *wx = calloc((size_t)w * kx, sizeof *wx), *wy = calloc((size_t)h * ky, sizeof *wy);
    unsigned char *mid = malloc((size_t)w * H * 3);
    assert_true(fx && cx && fy && cy && wx && wy && mid);
    pil_axis(W, w, fx, cx, wx, kx);
    pil_axis(H, h, fy, cy, wy, ky);
    const int same_w = W == w, same_h = H == h;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                if (same_w) {
                    mid[((size_t)y * w + x) * 3 + c] = src->rgb[((size_t)y * W + x) * 3 + c];
                    continue;
                }
                int32_t acc = 1 << 21;
                for (int k = 0; k < cx[x]; k++)
                    acc += src->rgb[((size_t)y * W + fx[x] + k) * 3 + c] * wx[x * kx + k];
                mid[((size_t)y * w + x) * 3 + c] = pil_clip(acc);
            }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++) {
            if (same_h) {
                out[(size_t)y * w * 3 + x] = mid[(size_t)y * w * 3 + x];
                continue;
            }
            int32_t acc = 1 << 21;
            for (int k = 0; k < cy[y]; k++)
                acc += mid[(size_t)(fy[y] + k) * w * 3 + x] * wy[y * ky + k];
            out[(size_t)y * w * 3 + x] = pil_clip(acc);
        }
    free(fx), free(cx), free(fy), free(cy), free(wx), free(wy), free(mid);
}

/* image_resize runs the passes differently (the horizontal one on transposed
 * rows, vectorised, an AVX2 copy where the CPU has it): the bytes must still
 * be Pillow's, on shrinking, enlarging and mixed sizes, one axis or both. */
static void test_bilinear_is_pils_fixed_point_byte_for_byte(void **state)
{
    (void)state;
    unsigned s = 11;
    for (int t = 0; t < 120; t++) {
        s = s * 1103515245u + 12345u;
        int W = 1 + (int)(s >> 16) % 97, H = 1 + (int)(s >> 8) % 89;
        s = s * 1103515245u + 12345u;
        int w = t % 4 == 0 ? W : 1 + (int)(s >> 16) % 131, h = t % 5 == 0 ? H : 1 + (int)(s >> 8) % 113;
        if (t == 0)
            W = 200, H = 200, w = 150, h = 150; /* the binary model's input from a 200x200 photo */
        image src = make(W, H);
        for (size_t i = 0; i < (size_t)W * H * 3; i++) {
            s = s * 1103515245u + 12345u;
            src.rgb[i] = t % 7 == 0 ? (i % 2 ? 255 : 0) : (unsigned char)(s >> 16);
        }
        image got = {0};
        cd_err err;
        assert_int_equal(image_resize(&src, w, h, IMAGE_FILTER_BILINEAR, &got, &err), 0);
        unsigned char *want = malloc((size_t)w * h * 3);
        assert_non_null(want);
        pil_bilinear(&src, w, h, want);
        if (memcmp(got.rgb, want, (size_t)w * h * 3) != 0)
            fail_msg("%dx%d -> %dx%d differs from Pillow's fixed-point result", W, H, w, h);
        free(want);
        image_free(&got);
        image_free(&src);
    }
}

static void test_bilinear_matches_reference_on_random_images(void **state)
{
    (void)state;
    image src = make(41, 29);
    unsigned s = 7;
    for (size_t i = 0; i < (size_t)41 * 29 * 3; i++) {
        s = s * 1103515245u + 12345u;
        src.rgb[i] = (unsigned char)(s >> 16);
    }
    const int sizes[][2] = {{20, 14}, {13, 29}, {41, 60}, {100, 9}, {7, 3}, {82, 58}, {30, 30}};
    cd_err err;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int w = sizes[k][0], h = sizes[k][1];
        image dst;
        assert_int_equal(image_resize(&src, w, h, IMAGE_FILTER_BILINEAR, &dst, &err), 0);
        double *ref = malloc(sizeof *ref * (size_t)w * h * 3);
        assert_non_null(ref);
        reference_bilinear(&src, w, h, ref);
        double maxd = 0, sum = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) {
            double d = fabs(dst.rgb[i] - ref[i]);
            maxd = d > maxd ? d : maxd;
            sum += d;
        }
        /* Two 8-bit passes with 22-bit weights: within a level of exact. */
        if (maxd > 1.0 || sum / ((double)w * h * 3) > 0.35)
            fail_msg("%dx%d: max %.3f mean %.3f from the exact filter", w, h, maxd,
                     sum / ((double)w * h * 3));
        free(ref);
        image_free(&dst);
    }
    image_free(&src);
}

static void test_downscale_antialias_averages_checkerboard(void **state)
{
    (void)state;
    const int n = 64;
    image src = make(n, n);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            memset(src.rgb + ((size_t)y * n + x) * 3, ((x + y) & 1) ? 255 : 0, 3);
    image bil, nea;
    cd_err err;
    assert_int_equal(image_resize(&src, 8, 8, IMAGE_FILTER_BILINEAR, &bil, &err), 0);
    assert_int_equal(image_resize(&src, 8, 8, IMAGE_FILTER_NEAREST, &nea, &err), 0);
    for (size_t i = 0; i < 64 * 3; i++) {
        /* Antialiased: mid-gray everywhere.  Nearest: still pure black or white. */
        if (abs(bil.rgb[i] - 128) > 6)
            fail_msg("bilinear sample %zu is %d, not gray", i, bil.rgb[i]);
        assert_true(nea.rgb[i] == 0 || nea.rgb[i] == 255);
    }
    image_free(&bil);
    image_free(&nea);
    image_free(&src);
}

static void test_resize_rejects_bad_arguments(void **state)
{
    (void)state;
    image src = make(4, 4), dst;
    memset(src.rgb, 0, 48);
    cd_err err;
    assert_int_equal(image_resize(&src, 0, 4, IMAGE_FILTER_BILINEAR, &dst, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_null(dst.rgb);
    assert_int_equal(image_resize(&src, 4, -1, IMAGE_FILTER_NEAREST, &dst, &err), -1);
    image empty = {0, 0, NULL};
    assert_int_equal(image_resize(&empty, 4, 4, IMAGE_FILTER_BILINEAR, &dst, &err), -1);
    assert_int_equal(image_resize(&src, 4, 4, (image_filter)7, &dst, &err), -1);
    image_free(&src);
}

static void test_to_input_preprocessing(void **state)
{
    (void)state;
    unsigned char px[6] = {255, 0, 51, 10, 20, 30};
    image im = {2, 1, px};
    float f[6];
    image_to_input(&im, CD_PRE_RESCALE, f);
    assert_float_equal(f[0], 1.0f, 1e-7);
    assert_float_equal(f[1], 0.0f, 1e-7);
    assert_float_equal(f[2], 0.2f, 1e-7);
    assert_float_equal(f[5], 30.0f / 255.0f, 1e-7);
    image_to_input(&im, CD_PRE_CAFFE, f);
    /* BGR order, minus the ImageNet means in B, G, R order. */
    assert_float_equal(f[0], 51 - 103.939f, 1e-4);
    assert_float_equal(f[1], 0 - 116.779f, 1e-4);
    assert_float_equal(f[2], 255 - 123.68f, 1e-4);
    assert_float_equal(f[3], 30 - 103.939f, 1e-4);
    assert_float_equal(f[4], 20 - 116.779f, 1e-4);
    assert_float_equal(f[5], 10 - 123.68f, 1e-4);
    image_to_input(&im, CD_PRE_NONE, f);
    for (int i = 0; i < 6; i++)
        assert_float_equal(f[i], (float)px[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_image_stays_constant),
        cmocka_unit_test(test_nearest_picks_exact_source_pixels),
        cmocka_unit_test(test_bilinear_matches_hand_computed_pil_values),
        cmocka_unit_test(test_bilinear_matches_reference_on_random_images),
        cmocka_unit_test(test_bilinear_is_pils_fixed_point_byte_for_byte),
        cmocka_unit_test(test_downscale_antialias_averages_checkerboard),
        cmocka_unit_test(test_resize_rejects_bad_arguments),
        cmocka_unit_test(test_to_input_preprocessing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
