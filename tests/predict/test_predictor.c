/* tests/predict/test_predictor.c - the photo -> P(dog) pipeline gives what its
 * parts give when run by hand, on every backend, and refuses what it must. */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "engine/arch.h"
#include "engine/runner.h"
#include "image/image.h"
#include "modelfile/keras.h"
#include "predict/embedded.h"
#include "predict/predictor.h"

#define IMG 48

/* A photo-like test image: smooth gradients plus a bright square off-centre,
 * so a horizontal flip changes the input. */
static image make_photo(int w, int h)
{
    image img = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(img.rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *px = img.rgb + ((size_t)y * w + x) * 3;
            px[0] = (unsigned char)(x * 255 / w);
            px[1] = (unsigned char)(y * 255 / h);
            px[2] = (unsigned char)((x < w / 4 && y < h / 3) ? 250 : 40);
        }
    return img;
}

/* A small random-weight binary CNN saved to a temporary .h5; returns its path. */
static char *save_random_model(void)
{
    cd_err err;
    model *m = arch_binary(IMG, &err);
    assert_non_null(m);
    model_init_params(m, 7);
    char *path = strdup("/tmp/catdog_predictor_XXXXXX.h5");
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(keras_save(m, path, &err), 0);
    model_free(m);
    return path;
}

/* What the pipeline should give, computed by hand with the reference backend. */
static float by_hand(const char *model_path, const image *photo, int flip)
{
    cd_err err;
    model *m = keras_load(model_path, &err);
    assert_non_null(m);
    image small = {0};
    assert_int_equal(image_resize(photo, IMG, IMG, IMAGE_FILTER_BILINEAR, &small, &err), 0);
    if (flip)
        for (int y = 0; y < IMG; y++)
            for (int a = 0, b = IMG - 1; a < b; a++, b--)
                for (int k = 0; k < 3; k++) {
                    unsigned char *row = small.rgb + (size_t)y * IMG * 3;
                    unsigned char t = row[a * 3 + k];
                    row[a * 3 + k] = row[b * 3 + k];
                    row[b * 3 + k] = t;
                }
    float *x = malloc(sizeof(float) * IMG * IMG * 3);
    assert_non_null(x);
    image_to_input(&small, m->preprocess, x);
    runner_opts ro = {.backend = RUNNER_REF};
    runner *r = runner_new(m, 1, &ro, &err);
    assert_non_null(r);
    float out = -1;
    assert_int_equal(runner_forward(r, x, 1, &out, &err), 0);
    runner_free(r);
    free(x);
    image_free(&small);
    model_free(m);
    return out;
}

static void test_classify_images_matches_hand_pipeline_on_both_backends(void **state)
{
    (void)state;
    char *path = save_random_model();
    image photo = make_photo(120, 90);
    float expect = by_hand(path, &photo, 0);
    runner_backend backends[] = {RUNNER_REF, RUNNER_DNNL};
    for (int b = 0; b < 2; b++) {
        cd_err err;
        predictor_opts o = {.backend = backends[b], .threads = 1};
        predictor *p = predictor_load(path, &o, &err);
        assert_non_null(p);
        assert_int_equal(predictor_preprocess(p), CD_PRE_RESCALE);
        predictor_session *s = predictor_session_new(p, 4, &err);
        assert_non_null(s);
        image batch[3] = {photo, photo, photo};
        prediction pr[3];
        assert_int_equal(predictor_classify_images(s, batch, 3, pr, &err), 0);
        for (int i = 0; i < 3; i++) {
            assert_true(fabsf(pr[i].p_dog - expect) < 1e-4f);
            assert_int_equal(pr[i].label, expect >= 0.5f);
            assert_int_equal(pr[i].width, 120);
        }
        /* More images than the session was made for is an error, not an overflow. */
        image five[5] = {photo, photo, photo, photo, photo};
        prediction p5[5];
        assert_int_equal(predictor_classify_images(s, five, 5, p5, &err), -1);
        assert_int_equal(err.code, CD_ERR_INVALID);
        predictor_session_free(s);
        predictor_free(p);
    }
    image_free(&photo);
    unlink(path);
    free(path);
}

static void test_classify_bytes_decodes_and_reports_format_and_size(void **state)
{
    (void)state;
    char *path = save_random_model();
    image photo = make_photo(96, 64);
    cd_err err;
    unsigned char *png = NULL;
    size_t png_len = 0;
    assert_int_equal(image_encode_png(&photo, &png, &png_len, &err), 0);
    float expect = by_hand(path, &photo, 0); /* PNG is lossless: same pixels */
    predictor *p = predictor_load(path, NULL, &err);
    assert_non_null(p);
    predictor_session *s = predictor_session_new(p, 1, &err);
    assert_non_null(s);
    prediction pr;
    assert_int_equal(predictor_classify(s, png, png_len, &pr, &err), 0);
    assert_int_equal(pr.format, IMAGE_FORMAT_PNG);
    assert_int_equal(pr.width, 96);
    assert_int_equal(pr.height, 64);
    assert_true(fabsf(pr.p_dog - expect) < 1e-4f);
    assert_true(pr.elapsed_ms >= 0);

    /* Not an image: a format error, and the session stays usable. */
    const unsigned char junk[] = "this is not a photo at all";
    assert_int_equal(predictor_classify(s, junk, sizeof junk, &pr, &err), -1);
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_int_equal(predictor_classify(s, png, png_len, &pr, &err), 0);

    free(png);
    predictor_session_free(s);
    predictor_free(p);
    image_free(&photo);
    unlink(path);
    free(path);
}

/* Batching must not change a photo's verdict: each photo of a batch (decoded
 * and resized alone, one forward pass for all) gets what it gets alone within
 * 1e-5, on the oneDNN engine whose plans differ per batch size; a photo that
 * cannot be decoded fails alone and its batch-mates are still classified. */
static void test_batch_gives_each_photo_what_it_gets_alone(void **state)
{
    (void)state;
    char *path = save_random_model();
    cd_err err;
    predictor *p = predictor_load(path, NULL, &err);
    assert_non_null(p);
    predictor_session *one = predictor_session_new(p, 1, &err);
    predictor_session *many = predictor_session_new(p, 8, &err);
    assert_non_null(one);
    assert_non_null(many);
    assert_int_equal(predictor_session_max_batch(many), 8);
    enum { N = 8 };
    unsigned char *bytes[N];
    size_t lens[N];
    float alone[N];
    for (int i = 0; i < N; i++) {
        image photo = make_photo(60 + 13 * i, 40 + 7 * i);
        for (size_t k = 0; k < (size_t)photo.width * photo.height * 3; k++)
            photo.rgb[k] = (unsigned char)(photo.rgb[k] + 31 * i); /* different content per photo */
        bytes[i] = NULL;
        assert_int_equal(image_encode_png(&photo, &bytes[i], &lens[i], &err), 0);
        image_free(&photo);
        prediction pr;
        assert_int_equal(predictor_classify(one, bytes[i], lens[i], &pr, &err), 0);
        alone[i] = pr.p_dog;
    }
    for (int n = 1; n <= N; n *= 2) {
        prediction out[N];
        int rc[N];
        cd_err errs[N];
        assert_int_equal(predictor_classify_batch(many, (const unsigned char *const *)bytes, lens, n, out, rc, errs),
                         0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(rc[i], 0);
            assert_true(fabsf(out[i].p_dog - alone[i]) <= 1e-5f);
            assert_int_equal(out[i].label, out[i].p_dog >= 0.5f);
            assert_int_equal(out[i].format, IMAGE_FORMAT_PNG);
            assert_int_equal(out[i].width, 60 + 13 * i);
            assert_int_equal(out[i].height, 40 + 7 * i);
        }
    }
    /* The batch-mates' verdicts differ (else the comparison above shows little). */
    assert_true(fabsf(alone[0] - alone[N - 1]) > 1e-4f);

    const unsigned char junk[] = "this is not a photo at all";
    const unsigned char *mixed[N];
    size_t mixed_lens[N];
    for (int i = 0; i < N; i++) {
        mixed[i] = i == 3 ? junk : bytes[i];
        mixed_lens[i] = i == 3 ? sizeof junk : lens[i];
    }
    prediction out[N];
    int rc[N];
    cd_err errs[N];
    assert_int_equal(predictor_classify_batch(many, mixed, mixed_lens, N, out, rc, errs), -1);
    for (int i = 0; i < N; i++) {
        if (i == 3) {
            assert_int_equal(rc[i], -1);
            assert_int_equal(errs[i].code, CD_ERR_FORMAT);
        } else {
            assert_int_equal(rc[i], 0);
            assert_true(fabsf(out[i].p_dog - alone[i]) <= 1e-5f);
        }
    }
    /* More than the session takes: refused, every photo told why. */
    assert_int_equal(predictor_classify_batch(one, (const unsigned char *const *)bytes, lens, 2, out, rc, errs), -1);
    assert_int_equal(rc[0], -1);
    assert_int_equal(errs[1].code, CD_ERR_INVALID);

    for (int i = 0; i < N; i++)
        free(bytes[i]);
    predictor_session_free(one);
    predictor_session_free(many);
    predictor_free(p);
    unlink(path);
    free(path);
}

static void test_tta_averages_photo_and_its_mirror(void **state)
{
    (void)state;
    char *path = save_random_model();
    image photo = make_photo(IMG, IMG);
    float plain = by_hand(path, &photo, 0), mirrored = by_hand(path, &photo, 1);
    assert_true(fabsf(plain - mirrored) > 1e-6f); /* the flip must matter for this test to mean anything */
    cd_err err;
    predictor_opts o = {.tta_flip = 1};
    predictor *p = predictor_load(path, &o, &err);
    assert_non_null(p);
    predictor_session *s = predictor_session_new(p, 2, &err);
    assert_non_null(s);
    image two[2] = {photo, photo};
    prediction pr[2];
    assert_int_equal(predictor_classify_images(s, two, 2, pr, &err), 0);
    assert_true(fabsf(pr[0].p_dog - 0.5f * (plain + mirrored)) < 1e-4f);
    assert_true(fabsf(pr[1].p_dog - pr[0].p_dog) < 1e-6f);
    predictor_session_free(s);
    predictor_free(p);
    image_free(&photo);
    unlink(path);
    free(path);
}

static void test_preprocess_override_changes_the_input(void **state)
{
    (void)state;
    char *path = save_random_model();
    image photo = make_photo(IMG, IMG);
    cd_err err;
    predictor_opts o = {.override_preprocess = 1, .preprocess = CD_PRE_CAFFE};
    predictor *p = predictor_load(path, &o, &err);
    assert_non_null(p);
    assert_int_equal(predictor_preprocess(p), CD_PRE_CAFFE);
    predictor_free(p);
    image_free(&photo);
    unlink(path);
    free(path);
}

static void test_model_with_three_outputs_is_refused(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("three", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "input_1", -1);
    in.in_h = 8, in.in_w = 8, in.in_c = 3;
    assert_int_equal(model_add(m, &in, &err), 0);
    layer f = layer_template(LAYER_FLATTEN, "flatten_1", 0);
    assert_int_equal(model_add(m, &f, &err), 1);
    layer d = layer_template(LAYER_DENSE, "dense_1", 1);
    d.units = 3;
    d.act = ACT_SOFTMAX;
    assert_int_equal(model_add(m, &d, &err), 2);
    assert_int_equal(model_infer_shapes(m, &err), 0);
    assert_null(predictor_new(m, NULL, &err));
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "3 outputs"));
    model_free(m);
}

static void test_default_model_loads_from_file_or_embedded_copy(void **state)
{
    (void)state;
    const void *buf;
    size_t len;
    if (!embedded_model(&buf, &len))
        TEST_SKIP("built without models/binary.h5, nothing embedded");
    cd_err err;
    const char *source = NULL;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/"), 0); /* no models/ here: must fall back to the embedded copy */
    predictor *p = predictor_load_default(NULL, NULL, &source, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(p);
    assert_non_null(strstr(source, "built into"));
    int h, w, c;
    model_input_shape(predictor_model(p), &h, &w, &c);
    assert_int_equal(c, 3);
    assert_int_equal(predictor_preprocess(p), CD_PRE_RESCALE);
    predictor_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_images_matches_hand_pipeline_on_both_backends),
        cmocka_unit_test(test_classify_bytes_decodes_and_reports_format_and_size),
        cmocka_unit_test(test_batch_gives_each_photo_what_it_gets_alone),
        cmocka_unit_test(test_tta_averages_photo_and_its_mirror),
        cmocka_unit_test(test_preprocess_override_changes_the_input),
        cmocka_unit_test(test_model_with_three_outputs_is_refused),
        cmocka_unit_test(test_default_model_loads_from_file_or_embedded_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
