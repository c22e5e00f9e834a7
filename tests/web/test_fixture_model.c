/*
 * test_fixture_model.c - the random-weights model the web tests serve, and a
 * check that it is one.
 *
 * Run by ctest (no arguments) it checks that a random binary CNN saved with
 * keras_save loads through the predictor and gives a probability for a photo
 * it makes itself.  Run as `web_test_fixture_model OUT.h5` it only writes that
 * model file: the scripted HTTP tests (test_http_*.sh) call it to get a model
 * when the trained models/binary.h5 is not there, since they assert the shape
 * of verdicts, not their correctness.
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

int main(int argc, char **argv)
{
    if (argc == 2) {
        cd_err err;
        cd_err_clear(&err);
        if (write_model(argv[1], &err) != 0) {
            fprintf(stderr, "web_test_fixture_model: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_model_saves_loads_and_classifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
