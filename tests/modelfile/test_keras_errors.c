/* tests/modelfile/test_keras_errors.c - every way a model file can be wrong
 * gives one clear line naming the file and the problem, never a crash.  The
 * bad files are made here: garbage bytes, an empty file, truncated copies of a
 * saved model, HDF5 without model_config, a weights-only file, configs with an
 * unsupported class / channels_first / bad JSON, a weight of the wrong shape,
 * missing weights, and input sizes the architecture cannot take. */
#include "test_util.h"

#include <hdf5.h>
#include <unistd.h>

#include "engine/arch.h"
#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"

static char tmpdir[64];
static char good[128]; /* a valid binary CNN at 64x64 saved by setup */

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/catdog-mf-err-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    tmp_path(good, sizeof good, "good.h5");
    model *m = arch_binary(64, NULL);
    if (!m)
        return -1;
    model_init_params(m, 11);
    int rc = keras_save(m, good, NULL);
    model_free(m);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* keras_load must fail with `code` and a one-line message containing the
 * path and every given fragment. */
static void expect_load_error(const char *path, cd_code code, const char *frag1,
                              const char *frag2)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_load(path, &err);
    if (m)
        fail_msg("%s loaded but should not", path);
    fprintf(stderr, "  (%s)\n", err.msg);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, path));
    assert_null(strchr(err.msg, '\n'));
    if (frag1 && !strstr(err.msg, frag1))
        fail_msg("'%s' not in: %s", frag1, err.msg);
    if (frag2 && !strstr(err.msg, frag2))
        fail_msg("'%s' not in: %s", frag2, err.msg);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "nope.h5");
    expect_load_error(path, CD_ERR_NOTFOUND, "No such file", NULL);
}

static void test_garbage_and_empty_files_are_not_hdf5(void **state)
{
    (void)state;
    char path[128];
    unsigned char junk[4096];
    unsigned s = 5;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1103515245u + 12345u;
        junk[i] = (unsigned char)(s >> 16);
    }
    tmp_path(path, sizeof path, "garbage.h5");
    write_bytes(path, junk, sizeof junk);
    expect_load_error(path, CD_ERR_FORMAT, "not an HDF5 file", NULL);
    tmp_path(path, sizeof path, "empty.h5");
    write_bytes(path, NULL, 0);
    expect_load_error(path, CD_ERR_FORMAT, "not an HDF5 file", NULL);
    /* The same through the memory loader. */
    cd_err err;
    assert_null(keras_load_memory(junk, sizeof junk, "junk image", &err));
    assert_non_null(strstr(err.msg, "junk image: not an HDF5 file"));
    assert_null(keras_load_memory(junk, 0, "empty image", &err));
    assert_non_null(strstr(err.msg, "empty image"));
}

static void test_truncated_copies_are_reported_as_truncated(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *buf = test_read_file(good, &len);
    assert_non_null(buf);
    assert_true(len > 100000);
    static const double cuts[] = {0.999, 0.5, 0.05};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/truncated_%zu.h5", tmpdir, i);
        size_t n = (size_t)((double)len * cuts[i]);
        write_bytes(path, buf, n);
        expect_load_error(path, CD_ERR_FORMAT, "truncated", NULL);
        cd_err err;
        assert_null(keras_load_memory(buf, n, "cut image", &err));
        fprintf(stderr, "  (%s)\n", err.msg);
        assert_non_null(strstr(err.msg, "cut image: truncated"));
    }
    /* Cut inside the signature: no longer recognisable as HDF5 at all. */
    char path[128];
    tmp_path(path, sizeof path, "truncated_sig.h5");
    write_bytes(path, buf, 5);
    expect_load_error(path, CD_ERR_FORMAT, "not an HDF5 file", NULL);
    free(buf);
}

static void test_hdf5_without_model_config_is_not_a_keras_model(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "plain.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    float x[3] = {1, 2, 3};
    int dims[1] = {3};
    assert_int_equal(keras_h5_write_floats(f, "data/x", 1, dims, x, NULL), 0);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_FORMAT, "not a Keras model", "model_config");
    cd_err err;
    model *m = arch_binary(64, NULL);
    assert_int_equal(keras_load_weights(m, path, &err), -1);
    assert_non_null(strstr(err.msg, "not Keras weights"));
    model_free(m);
}

static void test_weights_only_file_is_named_as_such(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char path[4300];
    snprintf(path, sizeof path, "%s/testdata/keras/lenet/weights.h5", shared);
    expect_load_error(path, CD_ERR_FORMAT, "weights-only", NULL);
}

/* A file with a valid HDF5 body and the given model_config text. */
static void write_config_file(const char *path, const char *config)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(keras_h5_write_str_attr(f, "model_config", config, NULL), 0);
    H5Fclose(f);
}

#define SEQ_HEAD "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"s\",\"layers\":["
#define CONV1                                                                              \
    "{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"conv2d_1\",\"batch_input_shape\":"  \
    "[null,32,32,3],\"filters\":4,\"kernel_size\":[3,3],\"activation\":\"relu\"}}"

static void test_unsupported_layer_class_is_named(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "lstm.h5");
    write_config_file(path, SEQ_HEAD CONV1
                      ",{\"class_name\":\"LSTM\",\"config\":{\"name\":\"lstm_1\"}}]}}");
    expect_load_error(path, CD_ERR_UNSUPPORTED, "'LSTM' is not supported", "layer 'lstm_1'");
}

static void test_config_errors_from_json(void **state)
{
    (void)state;
    cd_err err;
    static const struct {
        const char *json, *frag;
        cd_code code;
    } cases[] = {
        {"{not json", "not valid JSON", CD_ERR_FORMAT},
        {"{\"class_name\":\"Sequential\"}", "no class_name/config", CD_ERR_FORMAT},
        {SEQ_HEAD "{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"c\",\"batch_input_shape\":"
                  "[null,3,32,32],\"filters\":4,\"kernel_size\":3,\"data_format\":"
                  "\"channels_first\"}}]}}",
         "channels_first", CD_ERR_UNSUPPORTED},
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Activation\",\"config\":{\"name\":\"a\","
                        "\"activation\":\"mish\"}}]}}",
         "activation 'mish'", CD_ERR_UNSUPPORTED},
        {SEQ_HEAD "{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"c\",\"batch_input_shape\":"
                  "[null,null,null,3],\"filters\":4,\"kernel_size\":3}}]}}",
         "open (None)", CD_ERR_INVALID},
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"d\",\"filters\":4,"
                        "\"kernel_size\":3,\"dilation_rate\":0}}]}}",
         "bad 'dilation_rate'", CD_ERR_FORMAT},
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"d\",\"filters\":4,"
                        "\"kernel_size\":3,\"groups\":3}}]}}",
         "groups do not divide", CD_ERR_SHAPE},
        {"{\"class_name\":\"Model\",\"config\":{\"name\":\"m\",\"layers\":["
         "{\"name\":\"in\",\"class_name\":\"InputLayer\",\"config\":{\"name\":\"in\","
         "\"batch_input_shape\":[null,8,8,3]},\"inbound_nodes\":[]},"
         "{\"name\":\"f\",\"class_name\":\"Flatten\",\"config\":{\"name\":\"f\"},"
         "\"inbound_nodes\":[[[\"ghost\",0,0,{}]]]}],"
         "\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"f\",0,0]]}}",
         "layer 'f'", CD_ERR_FORMAT},
        {"{\"class_name\":\"Model\",\"config\":{\"name\":\"m\",\"layers\":["
         "{\"name\":\"in\",\"class_name\":\"InputLayer\",\"config\":{\"name\":\"in\","
         "\"batch_input_shape\":[null,8,8,3]},\"inbound_nodes\":[]},"
         "{\"name\":\"f\",\"class_name\":\"Flatten\",\"config\":{\"name\":\"f\"},"
         "\"inbound_nodes\":[[[\"in\",0,0,{}]]]},"
         "{\"name\":\"g\",\"class_name\":\"Flatten\",\"config\":{\"name\":\"g\"},"
         "\"inbound_nodes\":[[[\"in\",0,0,{}]]]}],"
         "\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"f\",0,0],[\"g\",0,0]]}}",
         "several outputs", CD_ERR_UNSUPPORTED},
        /* A few bytes of JSON asking for 3.6 G parameters: refused, not allocated. */
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Flatten\",\"config\":{\"name\":\"f\"}},"
                        "{\"class_name\":\"Dense\",\"config\":{\"name\":\"dense_big\","
                        "\"units\":1000000}}]}}",
         "over the limit", CD_ERR_LIMIT},
        /* Dense straight after a convolution: the engine names the layer. */
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Dense\",\"config\":{\"name\":\"dense_9\","
                        "\"units\":2}}]}}",
         "dense_9", CD_ERR_SHAPE},
        /* Reshape: a rank-2 target has no engine layout; a target of another
         * element count is named with both counts. */
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Reshape\",\"config\":{\"name\":\"r2\","
                        "\"target_shape\":[30,4]}}]}}",
         "must be (C) or (H, W, C)", CD_ERR_UNSUPPORTED},
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Reshape\",\"config\":{\"name\":\"r3\","
                        "\"target_shape\":[7,7,7]}}]}}",
         "layer 'r3': Reshape of", CD_ERR_SHAPE},
        /* dimensions whose product overflows 64 bits are refused before multiplying */
        {SEQ_HEAD CONV1 ",{\"class_name\":\"Reshape\",\"config\":{\"name\":\"r4\","
                        "\"target_shape\":[2000000000,2000000000,-1]}}]}}",
         "layer 'r4': Reshape target holds more", CD_ERR_SHAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cd_err_clear(&err);
        model *m = keras_from_json(cases[i].json, "case.json", &err);
        if (m)
            fail_msg("case %zu loaded but should not", i);
        fprintf(stderr, "  (%s)\n", err.msg);
        assert_non_null(strstr(err.msg, "case.json"));
        if (!strstr(err.msg, cases[i].frag))
            fail_msg("case %zu: '%s' not in: %s", i, cases[i].frag, err.msg);
        assert_int_equal(err.code, cases[i].code);
    }
}

/* Copies the good file and opens the copy for editing. */
static hid_t edit_copy(const char *name, char *path, size_t size)
{
    size_t len = 0;
    unsigned char *buf = test_read_file(good, &len);
    assert_non_null(buf);
    tmp_path(path, size, name);
    write_bytes(path, buf, len);
    free(buf);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void test_wrong_shape_weight_names_layer_and_both_shapes(void **state)
{
    (void)state;
    char path[128];
    hid_t f = edit_copy("wrong_shape.h5", path, sizeof path);
    const char *ds = "model_weights/dense_1/dense_1/kernel:0";
    assert_true(H5Ldelete(f, ds, H5P_DEFAULT) >= 0);
    static float k[100 * 64];
    int dims[2] = {100, 64};
    assert_int_equal(keras_h5_write_floats(f, ds, 2, dims, k, NULL), 0);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_SHAPE, "layer 'dense_1': kernel has shape (100, 64) in the file",
                      "expected (2304, 64)");
}

static void test_missing_weights_are_reported(void **state)
{
    (void)state;
    char path[128];
    /* dense_2 dropped from layer_names. */
    hid_t f = edit_copy("missing_layer.h5", path, sizeof path);
    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    const char *names[] = {"conv2d_1", "max_pooling2d_1", "conv2d_2", "max_pooling2d_2",
                           "conv2d_3", "max_pooling2d_3", "flatten_1", "dense_1", "dropout_1"};
    assert_int_equal(keras_h5_write_strs_attr(g, "layer_names", names, 9, NULL), 0);
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_NOTFOUND, "missing weights for layer 'dense_2'", NULL);

    /* conv2d_2 lists only its kernel. */
    f = edit_copy("missing_bias.h5", path, sizeof path);
    g = H5Gopen2(f, "model_weights/conv2d_2", H5P_DEFAULT);
    const char *one[] = {"conv2d_2/kernel:0"};
    assert_int_equal(keras_h5_write_strs_attr(g, "weight_names", one, 1, NULL), 0);
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_SHAPE, "layer 'conv2d_2': the file has 1 weight, expected 2",
                      NULL);

    /* A listed dataset that is not there. */
    f = edit_copy("missing_dataset.h5", path, sizeof path);
    assert_true(H5Ldelete(f, "model_weights/dense_2/dense_2/bias:0", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_FORMAT, "layer 'dense_2'", "bias:0");

    /* No model_weights group at all. */
    f = edit_copy("no_weights.h5", path, sizeof path);
    assert_true(H5Ldelete(f, "model_weights", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_load_error(path, CD_ERR_NOTFOUND, "missing weights", "model_weights");
}

static void test_input_size_the_architecture_cannot_take(void **state)
{
    (void)state;
    cd_err err;
    model *m = keras_load_sized(good, 16, &err);
    assert_null(m);
    fprintf(stderr, "  (%s)\n", err.msg);
    assert_non_null(strstr(err.msg, good));
    assert_non_null(strstr(err.msg, "too small"));
    /* A size that fits the convolutions but not the saved Dense kernel. */
    m = keras_load_sized(good, 80, &err);
    assert_null(m);
    fprintf(stderr, "  (%s)\n", err.msg);
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "dense_1"));
    /* The size the file was saved at works. */
    m = keras_load_sized(good, 64, &err);
    assert_non_null(m);
    model_free(m);
}

static void test_weights_for_another_architecture(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char path[4300];
    snprintf(path, sizeof path, "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
             shared);
    cd_err err;
    model *m = arch_vgg16(64, NULL);
    assert_int_equal(keras_load_weights(m, path, &err), -1);
    fprintf(stderr, "  (%s)\n", err.msg);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "missing weights for layer 'block1_conv1'"));
    model_free(m);
    /* And the right weights onto the right architecture load. */
    m = arch_squeezenet(64, NULL);
    assert_int_equal(keras_load_weights(m, path, &err), 0);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_garbage_and_empty_files_are_not_hdf5),
        cmocka_unit_test(test_truncated_copies_are_reported_as_truncated),
        cmocka_unit_test(test_hdf5_without_model_config_is_not_a_keras_model),
        cmocka_unit_test(test_weights_only_file_is_named_as_such),
        cmocka_unit_test(test_unsupported_layer_class_is_named),
        cmocka_unit_test(test_config_errors_from_json),
        cmocka_unit_test(test_wrong_shape_weight_names_layer_and_both_shapes),
        cmocka_unit_test(test_missing_weights_are_reported),
        cmocka_unit_test(test_input_size_the_architecture_cannot_take),
        cmocka_unit_test(test_weights_for_another_architecture),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
