/* tests/engine/test_arch.c - the built-in architectures have Keras' parameter
 * counts, layer names and output shapes, and refuse input sizes they cannot
 * take with a message naming the layer. */
#include "test_util.h"

#include "engine/arch.h"

static size_t total_params(const model *m)
{
    size_t t;
    model_param_counts(m, &t, NULL, NULL);
    return t;
}

static void test_binary_at_150_has_1212513_params(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_binary(150, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(total_params(m), 1212513);
    assert_string_equal(m->arch, "binary");
    assert_int_equal(m->preprocess, CD_PRE_RESCALE);
    assert_int_equal(model_output_size(m), 1);
    const layer *out = &m->layers[model_output_index(m)];
    assert_string_equal(out->name, "dense_2");
    assert_int_equal(out->act, ACT_SIGMOID);
    int flat = model_find(m, "flatten_1");
    assert_true(flat > 0);
    assert_int_equal(m->layers[flat].out_c, 17 * 17 * 64);
    model_free(m);

    /* Another size changes only the Dense kernel: 64 -> (6*6*64) * 64. */
    m = arch_binary(64, &err);
    assert_non_null(m);
    assert_int_equal(total_params(m), 896 + 9248 + 18496 + (6 * 6 * 64 * 64 + 64) + 65);
    model_free(m);
}

static void test_vgg16_notop_has_14714688_params_and_keras_names(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_vgg16(224, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(total_params(m), 14714688);
    assert_int_equal(m->preprocess, CD_PRE_CAFFE);
    static const char *const names[] = {
        "input_1",      "block1_conv1", "block1_conv2", "block1_pool",  "block2_conv1",
        "block2_conv2", "block2_pool",  "block3_conv1", "block3_conv2", "block3_conv3",
        "block3_pool",  "block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",
        "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"};
    assert_int_equal(m->n_layers, 19);
    for (int i = 0; i < 19; i++)
        assert_string_equal(m->layers[i].name, names[i]);
    const layer *out = &m->layers[model_output_index(m)];
    assert_int_equal(out->out_h, 7);
    assert_int_equal(out->out_c, 512);
    model_free(m);
    /* Same parameters at 150 (convolutions only); 4x4x512 out. */
    m = arch_vgg16(150, &err);
    assert_non_null(m);
    assert_int_equal(total_params(m), 14714688);
    assert_int_equal(m->layers[model_output_index(m)].out_h, 4);
    model_free(m);
}

static void test_squeezenet_matches_the_keras_weights_layout(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_squeezenet(224, &err);
    if (!m)
        fail_msg("%s", err.msg);
    /* 1792 (conv1) + the eight Fire modules of SqueezeNet 1.1. */
    assert_int_equal(total_params(m), 722496);
    assert_int_equal(m->preprocess, CD_PRE_CAFFE);
    int c1 = model_find(m, "conv1");
    assert_int_equal(m->layers[c1].strides[0], 2);
    assert_int_equal(m->layers[c1].padding, PAD_VALID);
    assert_int_equal(m->layers[c1].out_h, 111);
    int p1 = model_find(m, "pool1");
    assert_int_equal(m->layers[p1].pool[0], 3);
    assert_int_equal(m->layers[p1].out_h, 55);
    assert_true(model_find(m, "pool3") > 0);
    assert_true(model_find(m, "pool5") > 0);
    static const int squeeze[8] = {16, 16, 32, 32, 48, 48, 64, 64};
    static const int expand[8] = {64, 64, 128, 128, 192, 192, 256, 256};
    for (int f = 2; f <= 9; f++) {
        char name[32];
        snprintf(name, sizeof name, "fire%d/squeeze1x1", f);
        int s = model_find(m, name);
        assert_true(s > 0);
        assert_int_equal(m->layers[s].filters, squeeze[f - 2]);
        snprintf(name, sizeof name, "fire%d/expand1x1", f);
        int e1 = model_find(m, name);
        snprintf(name, sizeof name, "fire%d/expand3x3", f);
        int e3 = model_find(m, name);
        assert_int_equal(m->layers[e1].filters, expand[f - 2]);
        assert_int_equal(m->layers[e3].kernel[0], 3);
        assert_int_equal(m->layers[e3].padding, PAD_SAME);
        snprintf(name, sizeof name, "fire%d/concat", f);
        int cat = model_find(m, name);
        assert_int_equal(m->layers[cat].n_inputs, 2);
        assert_int_equal(m->layers[cat].inputs[0], e1); /* expand1x1 channels first */
        assert_int_equal(m->layers[cat].inputs[1], e3);
        assert_int_equal(m->layers[cat].out_c, 2 * expand[f - 2]);
    }
    const layer *out = &m->layers[model_output_index(m)];
    assert_string_equal(out->name, "fire9/concat");
    assert_int_equal(out->out_h, 13);
    assert_int_equal(out->out_c, 512);
    model_free(m);
    m = arch_squeezenet(150, &err);
    assert_non_null(m);
    assert_int_equal(m->layers[model_output_index(m)].out_h, 8);
    model_free(m);
}

static void test_too_small_inputs_are_refused_with_the_layer_named(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_binary(16, &err);
    assert_null(m);
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "binary at 16x16"));
    assert_non_null(strstr(err.msg, "too small"));
    assert_null(arch_vgg16(16, &err));
    assert_non_null(strstr(err.msg, "block"));
    assert_null(arch_squeezenet(20, &err));
    assert_non_null(strstr(err.msg, "too small"));
    assert_null(arch_binary(0, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_null(arch_squeezenet(100000, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
}

static void test_arch_build_by_name(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_build("squeezenet", 150, &err);
    assert_non_null(m);
    assert_string_equal(m->arch, "squeezenet");
    model_free(m);
    assert_null(arch_build("resnet50", 224, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "resnet50"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_at_150_has_1212513_params),
        cmocka_unit_test(test_vgg16_notop_has_14714688_params_and_keras_names),
        cmocka_unit_test(test_squeezenet_matches_the_keras_weights_layout),
        cmocka_unit_test(test_too_small_inputs_are_refused_with_the_layer_named),
        cmocka_unit_test(test_arch_build_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
