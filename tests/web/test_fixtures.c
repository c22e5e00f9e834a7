/*
 * test_fixtures.c - what the scripted web tests (test_http_*.sh) need made:
 * a random-weights model to serve, and photos of chosen sizes.
 *
 * Run by ctest (no arguments) it checks that a random binary CNN saved with
 * keras_save loads through the predictor and gives a probability for a photo
 * it makes itself.  With arguments it only writes files:
 *   web_test_fixtures model OUT.h5              random binary CNN (150x150)
 *   web_test_fixtures jpeg|png W H SEED OUT     a W x H photo; SEED varies the pixels
 * The HTTP tests assert the shape of verdicts, not their correctness, so a
 * random model is enough (the browser test uses the trained model when present).
 */
#include "test_util.h"

#include <unistd.h>

#include "engine/arch.h"
#include "image/image.h"
#include "modelfile/keras.h"
#include "predict/predictor.h"

static int write_model(const char *path, cd_err *err)
{
    model *m = arch_binary(150, err);
    if (!m)
        return -1;
    model_init_params(m, 42);
    int rc = keras_save(m, path, err);
    model_free(m);
    return rc;
}

static void test_random_model_saves_loads_and_classifies(void **state)
{
    (void)state;
    char path[] = "/tmp/catdog-web-fixture-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cd_err err;
    cd_err_clear(&err);
    assert_int_equal(write_model(path, &err), 0);
    predictor *p = predictor_load(path, NULL, &err);
    if (!p)
        fail_msg("%s", err.msg);
    predictor_session *s = predictor_session_new(p, 1, &err);
    if (!s)
        fail_msg("%s", err.msg);

    /* A 64x48 gradient photo, encoded as the tests' uploads are. */
    image img = {64, 48, malloc(64 * 48 * 3)};
    assert_non_null(img.rgb);
    for (int i = 0; i < 64 * 48 * 3; i++)
        img.rgb[i] = (unsigned char)(i * 7);
    unsigned char *jpeg = NULL;
    size_t len = 0;
    assert_int_equal(image_encode_jpeg(&img, 90, &jpeg, &len, &err), 0);
    prediction pr;
    assert_int_equal(predictor_classify(s, jpeg, len, &pr, &err), 0);
    assert_true(pr.p_dog >= 0.0f && pr.p_dog <= 1.0f);
    assert_int_equal(pr.label, pr.p_dog >= 0.5f);
    assert_int_equal(pr.width, 64);
    assert_int_equal(pr.height, 48);
    assert_int_equal(pr.format, IMAGE_FORMAT_JPEG);

    free(jpeg);
    image_free(&img);
    predictor_session_free(s);
    predictor_free(p);
    unlink(path);
}

/* A W x H picture: smooth gradients plus a seeded pattern, so every seed gives
 * different bytes (different SHA-256) and the JPEG stays small. */
static int write_photo(const char *kind, int w, int h, unsigned seed, const char *path, cd_err *err)
{
    image img = {w, h, malloc((size_t)w * h * 3)};
    if (!img.rgb)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = img.rgb + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (unsigned char)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = (unsigned char)(((x / 8 + y / 8 + seed) % 4) * 60 + seed * 37);
        }
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = strcmp(kind, "png") == 0 ? image_encode_png(&img, &bytes, &len, err)
                                      : image_encode_jpeg(&img, 90, &bytes, &len, err);
    image_free(&img);
    if (rc != 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        free(bytes);
        return cd_err_set(err, CD_ERR_IO, "cannot write %s", path);
    }
    free(bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        cd_err err;
        cd_err_clear(&err);
        int rc;
        if (argc == 3 && strcmp(argv[1], "model") == 0)
            rc = write_model(argv[2], &err);
        else if (argc == 6 && (strcmp(argv[1], "jpeg") == 0 || strcmp(argv[1], "png") == 0))
            rc = write_photo(argv[1], atoi(argv[2]), atoi(argv[3]), (unsigned)atoi(argv[4]), argv[5], &err);
        else
            rc = cd_err_set(&err, CD_ERR_INVALID, "usage: web_test_fixtures model OUT.h5 | jpeg|png W H SEED OUT");
        if (rc != 0) {
            fprintf(stderr, "web_test_fixtures: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_model_saves_loads_and_classifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
