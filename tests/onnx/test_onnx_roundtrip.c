/*
 * test_onnx_roundtrip.c - catdog -> ONNX -> catdog keeps the model:
 *   - the shipped binary CNN (and the transfer model composed with its
 *     SqueezeNet backbone, when ../shared has the weights) exported and read
 *     back gives the same P(dog) on real photos within 1e-5;
 *   - the same on synthetic inputs with the plain-C reference (no ../shared);
 *   - layer structure, preprocessing and opsets 11 to 20 survive;
 *   - the export refuses what it cannot write (bad opset).
 */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "engine/runner.h"
#include "image/image.h"
#include "modelfile/keras.h"
#include "onnx/onnx.h"
#include "predict/predictor.h"
#include "transfer/transfer_model.h"

static model *load_binary(void)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_load(CATDOG_SOURCE_DIR "/models/binary.h5", &err);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

static model *roundtrip(const model *m, int opset)
{
    cd_err err;
    cd_err_clear(&err);
    onnx_save_opts so = {.opset = opset};
    size_t len = 0;
    unsigned char *buf = onnx_save_memory(m, &so, &len, &err);
    if (!buf)
        fail_msg("%s", err.msg);
    model *back = onnx_load_memory(buf, len, "roundtrip.onnx", NULL, &err);
    free(buf);
    if (!back)
        fail_msg("%s", err.msg);
    return back;
}

/* Max |a - b| of the two models' outputs on n seeded inputs (reference backend). */
static double max_diff_synthetic(const model *a, const model *b, int n)
{
    int h, w, c;
    model_input_shape(a, &h, &w, &c);
    size_t per = (size_t)h * w * c;
    float *x = malloc((size_t)n * per * sizeof *x), ya[16], yb[16];
    assert_non_null(x);
    assert_true(n <= 16 && model_output_size(a) == 1);
    unsigned s = 12345;
    for (size_t i = 0; i < (size_t)n * per; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 8) & 0xffff) / 65535.0f;
    }
    cd_err err;
    cd_err_clear(&err);
    runner_opts ro = {.backend = RUNNER_REF, .threads = 1};
    runner *ra = runner_new(a, n, &ro, &err), *rb = runner_new(b, n, &ro, &err);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_int_equal(runner_forward(ra, x, n, ya, &err), 0);
    assert_int_equal(runner_forward(rb, x, n, yb, &err), 0);
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)ya[i] - yb[i]));
    runner_free(ra);
    runner_free(rb);
    free(x);
    return worst;
}

static void test_binary_roundtrip_same_layers_and_outputs(void **state)
{
    (void)state;
    model *m = load_binary();
    model *back = roundtrip(m, 0);
    assert_int_equal(back->preprocess, CD_PRE_RESCALE);
    size_t ta, tb, x;
    model_param_counts(m, &ta, &x, &x);
    model_param_counts(back, &tb, &x, &x);
    assert_int_equal(ta, tb);
    /* Dropout is an identity in ONNX and leaves; the rest maps layer to layer. */
    int kinds_a[LAYER_KIND_COUNT] = {0}, kinds_b[LAYER_KIND_COUNT] = {0};
    for (int i = 0; i < m->n_layers; i++)
        kinds_a[m->layers[i].kind]++;
    for (int i = 0; i < back->n_layers; i++)
        kinds_b[back->layers[i].kind]++;
    kinds_a[LAYER_DROPOUT] = 0;
    assert_memory_equal(kinds_a, kinds_b, sizeof kinds_a);
    double d = max_diff_synthetic(m, back, 4);
    printf("binary: max |h5 - onnx| on 4 synthetic inputs (ref backend) = %.3g\n", d);
    assert_true(d <= 1e-5);
    model_free(back);
    model_free(m);
}

static void test_every_opset_roundtrips(void **state)
{
    (void)state;
    model *m = load_binary();
    for (int opset = ONNX_OPSET_MIN; opset <= ONNX_OPSET_MAX; opset++) {
        model *back = roundtrip(m, opset);
        assert_true(max_diff_synthetic(m, back, 1) <= 1e-5);
        model_free(back);
    }
    cd_err err;
    cd_err_clear(&err);
    onnx_save_opts so = {.opset = ONNX_OPSET_MAX + 1};
    size_t len = 0;
    assert_null(onnx_save_memory(m, &so, &len, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "opset"));
    model_free(m);
}

/* A 2-unit softmax head goes out as its dog column (Slice) and comes back
 * as the same 2-unit model; SAME padding, AveragePool and a standalone
 * activation travel too. */
static void test_softmax_head_roundtrips(void **state)
{
    (void)state;
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("softmax_net", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 17, in.in_w = 15, in.in_c = 3;
    assert_int_equal(model_add(m, &in, &err), 0);
    layer c = layer_template(LAYER_CONV2D, "conv", 0);
    c.filters = 4, c.kernel[0] = c.kernel[1] = 3, c.strides[0] = c.strides[1] = 2;
    c.padding = PAD_SAME;
    c.act = ACT_RELU;
    assert_int_equal(model_add(m, &c, &err), 1);
    layer p = layer_template(LAYER_AVGPOOL2D, "pool", 1);
    p.pool[0] = p.pool[1] = 2, p.strides[0] = p.strides[1] = 1, p.padding = PAD_SAME;
    assert_int_equal(model_add(m, &p, &err), 2);
    layer t = layer_template(LAYER_ACTIVATION, "tanh", 2);
    t.act = ACT_TANH;
    assert_int_equal(model_add(m, &t, &err), 3);
    layer f = layer_template(LAYER_FLATTEN, "flat", 3);
    assert_int_equal(model_add(m, &f, &err), 4);
    layer d = layer_template(LAYER_DENSE, "head", 4);
    d.units = 2, d.act = ACT_SOFTMAX;
    assert_int_equal(model_add(m, &d, &err), 5);
    assert_int_equal(model_infer_shapes(m, &err), 0);
    model_init_params(m, 99);
    for (int i = 0; i < 2; i++)   /* biases that matter */
        m->layers[5].params[1]->data[i] = 0.3f * (float)(i + 1);
    model *back = roundtrip(m, 0);
    assert_int_equal(model_output_size(back), 2);
    float x[17 * 15 * 3], ya[2], yb[2];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    runner_opts ro = {.backend = RUNNER_REF, .threads = 1};
    runner *ra = runner_new(m, 1, &ro, &err), *rb = runner_new(back, 1, &ro, &err);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_int_equal(runner_forward(ra, x, 1, ya, &err), 0);
    assert_int_equal(runner_forward(rb, x, 1, yb, &err), 0);
    for (int i = 0; i < 2; i++)
        assert_true(fabs((double)ya[i] - yb[i]) <= 1e-6);
    assert_true(fabs((double)ya[1] - 0.5) > 1e-3);
    runner_free(ra);
    runner_free(rb);
    model_free(back);
    model_free(m);
}

#define N_PHOTOS 8

/* P(dog) of the photos through model file-or-model; compares the two. */
static void compare_on_photos(const char *shared, model *a, model *b, const char *what)
{
    static const char *names[N_PHOTOS] = {"cat.0.jpg", "cat.1.jpg", "cat.2.jpg", "cat.3.jpg",
                                          "dog.0.jpg", "dog.1.jpg", "dog.2.jpg", "dog.3.jpg"};
    cd_err err;
    cd_err_clear(&err);
    predictor *pa = predictor_new(a, NULL, &err), *pb = predictor_new(b, NULL, &err);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_int_equal(predictor_preprocess(pa), predictor_preprocess(pb));
    predictor_session *sa = predictor_session_new(pa, 1, &err), *sb = predictor_session_new(pb, 1, &err);
    assert_non_null(sa);
    assert_non_null(sb);
    double worst = 0;
    for (int i = 0; i < N_PHOTOS; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/data/dogs-vs-cats/train/%s", shared, names[i]);
        size_t len = 0;
        unsigned char *bytes = test_read_file(path, &len);
        assert_non_null(bytes);
        prediction ra, rb;
        assert_int_equal(predictor_classify(sa, bytes, len, &ra, &err), 0);
        assert_int_equal(predictor_classify(sb, bytes, len, &rb, &err), 0);
        free(bytes);
        double d = fabs((double)ra.p_dog - rb.p_dog);
        worst = fmax(worst, d);
        if (d > 1e-5)
            fail_msg("%s, %s: P(dog) %.8f from the original, %.8f after the ONNX round trip", what,
                     names[i], ra.p_dog, rb.p_dog);
    }
    printf("%s: max |original - onnx round trip| P(dog) over %d photos = %.3g\n", what, N_PHOTOS,
           worst);
    predictor_session_free(sa);
    predictor_session_free(sb);
    predictor_free(pa);
    predictor_free(pb);
}

static void test_binary_roundtrip_same_p_dog_on_photos(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    model *m = load_binary();
    compare_on_photos(shared, m, roundtrip(m, 0), "binary");
}

static void test_transfer_roundtrip_same_p_dog_on_photos(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char weights[4400];
    snprintf(weights, sizeof weights,
             "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5", shared);
    FILE *f = fopen(weights, "rb");
    if (!f) {
        TEST_SKIP("%s not found", weights);
    }
    fclose(f);
    cd_err err;
    cd_err_clear(&err);
    transfer_load_opts lo = {.weights_path = weights};
    model *m = transfer_load(CATDOG_SOURCE_DIR "/models/transfer.h5", &lo, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model *back = roundtrip(m, 0);
    assert_int_equal(back->preprocess, CD_PRE_CAFFE);
    compare_on_photos(shared, m, back, "transfer");
}

static void test_export_file_and_load_by_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/catdog_onnx_rt_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/m.ONNX", dir);
    model *m = load_binary();
    cd_err err;
    cd_err_clear(&err);
    assert_int_equal(onnx_save(m, path, NULL, &err), 0);
    assert_true(onnx_is_onnx_file(path));
    assert_false(onnx_is_onnx_file(CATDOG_SOURCE_DIR "/models/binary.h5"));
    /* transfer_load is where every command loads models: it must dispatch. */
    model *back = transfer_load(path, NULL, &err);
    if (!back)
        fail_msg("%s", err.msg);
    assert_string_equal(back->arch, "onnx");
    assert_true(max_diff_synthetic(m, back, 2) <= 1e-5);
    model_free(back);
    model_free(m);
    assert_int_equal(remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_roundtrip_same_layers_and_outputs),
        cmocka_unit_test(test_every_opset_roundtrips),
        cmocka_unit_test(test_softmax_head_roundtrips),
        cmocka_unit_test(test_binary_roundtrip_same_p_dog_on_photos),
        cmocka_unit_test(test_transfer_roundtrip_same_p_dog_on_photos),
        cmocka_unit_test(test_export_file_and_load_by_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
