/*
 * test_image_reduced_scale.c - a large JPEG decoded at a reduced DCT scale and
 * resized for a model input gives exactly the pixels Pillow gives.
 *
 * The golden is computed independently, at test time: tests/oracle/large_photo.py
 * upscales a real photo from ../shared to 3000x2000, saves it as JPEG, and
 * decodes it with Pillow's Image.draft() (libjpeg's scale_num/scale_denom, the
 * shortcut catdog takes through IMAGE_DECODE_HINT) before Image.resize(BILINEAR).
 * For inputs of 150 and 224 both sides decode at 1/4 (750x500).  The same
 * photo decoded at full scale and resized must differ from the golden, which
 * shows the golden can tell the two paths apart.  Skips without ../shared.
 */
#include "test_util.h"

#include <unistd.h>

#include "image/image.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/catdog-img-rs-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Largest per-byte difference and how many bytes differ. */
static int compare(const image *got, const unsigned char *want, size_t n, size_t *n_diff)
{
    int worst = 0;
    *n_diff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got->rgb[i] - (int)want[i]);
        if (d)
            (*n_diff)++;
        if (d > worst)
            worst = d;
    }
    return worst;
}

static void test_large_jpeg_reduced_scale_matches_pillow_draft(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    static const int sizes[2] = {150, 224};
    char big[128], g[2][128], cmd[2048];
    snprintf(big, sizeof big, "%s/big.jpg", tmpdir);
    for (int k = 0; k < 2; k++)
        snprintf(g[k], sizeof g[k], "%s/golden%d.rgb", tmpdir, sizes[k]);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/tests/oracle/large_photo.py' '%s/data/dogs-vs-cats/train/cat.0.jpg' "
             "'%s' 3000 2000 %d:'%s' %d:'%s' >&2",
             CATDOG_SOURCE_DIR, shared, big, sizes[0], g[0], sizes[1], g[1]);
    /* python3-pil comes with the install step: its absence is a failure. */
    assert_int_equal(system(cmd), 0);

    for (int k = 0; k < 2; k++) {
        const int s = sizes[k];
        const size_t n = (size_t)s * s * 3;
        size_t len = 0;
        unsigned char *want = test_read_file(g[k], &len);
        assert_non_null(want);
        assert_int_equal(len, n);

        cd_err err;
        image dec, sized;
        int ow = 0, oh = 0;
        image_decode_opts o = {.hint_width = IMAGE_DECODE_HINT(s), .hint_height = IMAGE_DECODE_HINT(s)};
        if (image_decode_file(big, &o, &dec, &ow, &oh, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(ow, 3000);
        assert_int_equal(oh, 2000);
        assert_int_equal(dec.width, 750); /* 1/4 scale, like Pillow's draft */
        assert_int_equal(dec.height, 500);
        if (image_resize(&dec, s, s, IMAGE_FILTER_BILINEAR, &sized, &err) != 0)
            fail_msg("%s", err.msg);
        size_t n_diff;
        int worst = compare(&sized, want, n, &n_diff);
        fprintf(stderr, "%dx%d from 1/4 scale: max diff %d, %zu of %zu bytes differ\n", s, s, worst,
                n_diff, n);
        /* Measured: 0 and 0 (same libjpeg, same IDCT and upsampling, Pillow's
         * resize arithmetic): any difference is a drift from Pillow. */
        assert_int_equal(worst, 0);
        image_free(&dec);
        image_free(&sized);

        /* Full scale then resize: a different image, which the golden sees. */
        if (image_decode_file(big, NULL, &dec, NULL, NULL, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(dec.width, 3000);
        if (image_resize(&dec, s, s, IMAGE_FILTER_BILINEAR, &sized, &err) != 0)
            fail_msg("%s", err.msg);
        worst = compare(&sized, want, n, &n_diff);
        fprintf(stderr, "%dx%d from full scale: max diff %d, %zu of %zu bytes differ\n", s, s, worst,
                n_diff, n);
        assert_true(n_diff > 0);
        image_free(&dec);
        image_free(&sized);
        free(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_jpeg_reduced_scale_matches_pillow_draft),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
