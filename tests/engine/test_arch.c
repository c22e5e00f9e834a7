/* tests/engine/test_arch.c - the built-in architectures have Keras' parameter
 * counts (the published ones: VGG16 14,714,688, MobileNetV2 2,257,984,
 * ResNet50 23,587,712, EfficientNetB0 4,049,571 without top), layer names and output shapes, and refuse
 * input sizes they cannot take with a message naming the layer. */
#include "test_util.h"

#include <math.h>

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

/* Keras' MobileNetV2(alpha=1.0, include_top=False): 2,257,984 parameters of
 * which 34,112 are BatchNormalization moving statistics (Keras' summary), 154
 * layers (the TensorFlow transfer-learning tutorial's "Number of layers in the
 * base model: 154"), Keras' names. */
static void test_mobilenetv2_notop_has_2257984_params_and_keras_names(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_mobilenetv2(224, &err);
    if (!m)
        fail_msg("%s", err.msg);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 2257984);
    assert_int_equal(trainable, 2223872);
    assert_int_equal(frozen, 34112);
    assert_int_equal(m->n_layers, 154);
    assert_string_equal(m->name, "mobilenetv2_1.00_224");
    assert_int_equal(m->preprocess, CD_PRE_TF);
    static const char *const first[] = {
        "input_1", "Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv_depthwise",
        "expanded_conv_depthwise_BN", "expanded_conv_depthwise_relu", "expanded_conv_project",
        "expanded_conv_project_BN", "block_1_expand", "block_1_expand_BN", "block_1_expand_relu",
        "block_1_pad", "block_1_depthwise", "block_1_depthwise_BN", "block_1_depthwise_relu",
        "block_1_project", "block_1_project_BN", "block_2_expand"};
    for (int i = 0; i < (int)(sizeof first / sizeof first[0]); i++)
        assert_string_equal(m->layers[i].name, first[i]);
    /* Residual adds where Keras has them: stride 1 and as many channels in as out. */
    static const int adds[] = {2, 4, 5, 7, 8, 9, 11, 12, 14, 15};
    int n_add = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_add += m->layers[i].kind == LAYER_ADD;
    assert_int_equal(n_add, 10);
    for (int k = 0; k < 10; k++) {
        char name[32];
        snprintf(name, sizeof name, "block_%d_add", adds[k]);
        int a = model_find(m, name);
        assert_true(a > 0);
        snprintf(name, sizeof name, "block_%d_project_BN", adds[k]);
        assert_int_equal(m->layers[a].inputs[1], model_find(m, name));
    }
    /* Keras' weights: Conv1 (3, 3, 3, 32) without bias, depthwise (3, 3, C, 1). */
    const layer *c1 = &m->layers[model_find(m, "Conv1")];
    assert_int_equal(c1->n_params, 1);
    assert_int_equal(c1->params[0]->dims[3], 32);
    const layer *dw = &m->layers[model_find(m, "block_16_depthwise")];
    assert_int_equal(dw->kind, LAYER_DEPTHWISE_CONV2D);
    assert_int_equal(dw->n_params, 1);
    assert_int_equal(dw->params[0]->dims[2], 960);
    assert_int_equal(dw->params[0]->dims[3], 1);
    const layer *bn = &m->layers[model_find(m, "Conv_1_bn")];
    assert_int_equal(bn->n_params, 4);
    assert_true(fabsf(bn->epsilon - 1e-3f) < 1e-9f);
    const layer *relu = &m->layers[model_find(m, "block_16_depthwise_relu")];
    assert_int_equal(relu->act, ACT_RELU6);
    /* correct_pad: one at the end of an even size, one on each side of an odd one. */
    const layer *pad = &m->layers[model_find(m, "block_1_pad")];
    assert_int_equal(pad->pad4[0], 0);
    assert_int_equal(pad->pad4[1], 1);
    assert_int_equal(pad->out_h, 113);
    pad = &m->layers[model_find(m, "block_13_pad")];
    assert_int_equal(pad->pad4[0], 0);
    assert_int_equal(pad->out_h, 15);
    const layer *out = &m->layers[model_output_index(m)];
    assert_string_equal(out->name, "out_relu");
    assert_int_equal(out->out_h, 7);
    assert_int_equal(out->out_c, 1280);
    model_free(m);

    /* Odd sizes on the way (97 -> 49 -> 25 -> 13 -> 7 -> 4): symmetric pads;
     * the parameters do not depend on the size. */
    m = arch_mobilenetv2(97, &err);
    assert_non_null(m);
    model_param_counts(m, &total, NULL, NULL);
    assert_int_equal(total, 2257984);
    pad = &m->layers[model_find(m, "block_1_pad")];
    assert_int_equal(pad->pad4[0], 1);
    assert_int_equal(pad->pad4[1], 1);
    assert_int_equal(m->layers[model_find(m, "block_1_depthwise")].out_h, 25);
    assert_int_equal(m->layers[model_output_index(m)].out_h, 4);
    model_free(m);
    assert_null(arch_mobilenetv2(31, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "mobilenetv2"));
}

/* Keras' EfficientNetB0(include_top=False): 4,049,571 parameters, 4,007,548
 * trainable (Keras' summary); the rest are BN moving statistics and the
 * normalization's mean, variance and count.  238 layers by Keras' block
 * definition (8 before block1a, 10 per block + 3 expand + 1 pad on stride 2 +
 * drop and add on residual blocks, 3 at the top). */
static void test_efficientnetb0_notop_has_4049571_params_and_keras_names(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_efficientnetb0(224, &err);
    if (!m)
        fail_msg("%s", err.msg);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 4049571);
    assert_int_equal(trainable, 4007548);
    assert_int_equal(m->n_layers, 238);
    assert_string_equal(m->name, "efficientnetb0");
    assert_int_equal(m->preprocess, CD_PRE_NONE);
    static const char *const first[] = {
        "input_1", "rescaling", "normalization", "rescaling_1", "stem_conv_pad", "stem_conv",
        "stem_bn", "stem_activation", "block1a_dwconv", "block1a_bn", "block1a_activation",
        "block1a_se_squeeze", "block1a_se_reshape", "block1a_se_reduce", "block1a_se_expand",
        "block1a_se_excite", "block1a_project_conv", "block1a_project_bn",
        "block2a_expand_conv", "block2a_expand_bn", "block2a_expand_activation",
        "block2a_dwconv_pad", "block2a_dwconv"};
    for (int i = 0; i < (int)(sizeof first / sizeof first[0]); i++)
        assert_string_equal(m->layers[i].name, first[i]);
    /* Residual blocks: the second and later of each stage; add(x, input). */
    static const char *const adds[] = {"block2b", "block3b", "block4b", "block4c", "block5b",
                                       "block5c", "block6b", "block6c", "block6d"};
    int n_add = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_add += m->layers[i].kind == LAYER_ADD;
    assert_int_equal(n_add, 9);
    for (int k = 0; k < 9; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s_add", adds[k]);
        int a = model_find(m, name);
        assert_true(a > 0);
        snprintf(name, sizeof name, "%s_drop", adds[k]);
        assert_int_equal(m->layers[a].inputs[0], model_find(m, name));
    }
    /* block6d is the 15th of the 16 blocks (index 14): drop-connect 0.2 * 14 / 16. */
    assert_true(fabsf(m->layers[model_find(m, "block6d_drop")].rate - 0.175f) < 1e-6f);
    /* Weights: the SE convolutions have biases (in / 4 squeeze channels), the
     * others none; depthwise (k, k, C, 1). */
    const layer *l = &m->layers[model_find(m, "block2a_se_reduce")];
    assert_int_equal(l->n_params, 2);
    assert_int_equal(l->params[0]->dims[2], 96);
    assert_int_equal(l->params[0]->dims[3], 4);
    assert_int_equal(l->act, ACT_SWISH);
    l = &m->layers[model_find(m, "block2a_se_expand")];
    assert_int_equal(l->params[0]->dims[3], 96);
    assert_int_equal(l->act, ACT_SIGMOID);
    l = &m->layers[model_find(m, "block6a_dwconv")];
    assert_int_equal(l->n_params, 1);
    assert_int_equal(l->params[0]->dims[0], 5);
    assert_int_equal(l->params[0]->dims[2], 672);
    assert_int_equal(l->params[0]->dims[3], 1);
    l = &m->layers[model_find(m, "normalization")];
    assert_int_equal(l->n_params, 3);
    assert_true(fabsf(m->layers[model_find(m, "top_bn")].epsilon - 1e-3f) < 1e-9f);
    /* correct_pad(x, 5) on 56 (even): 1 before, 2 after; on 3x3 at 112: 0, 1. */
    l = &m->layers[model_find(m, "block3a_dwconv_pad")];
    assert_int_equal(l->pad4[0], 1);
    assert_int_equal(l->pad4[1], 2);
    assert_int_equal(m->layers[model_find(m, "block3a_dwconv")].out_h, 28);
    l = &m->layers[model_find(m, "block2a_dwconv_pad")];
    assert_int_equal(l->pad4[0], 0);
    assert_int_equal(l->pad4[1], 1);
    const layer *out = &m->layers[model_output_index(m)];
    assert_string_equal(out->name, "top_activation");
    assert_int_equal(out->out_h, 7);
    assert_int_equal(out->out_c, 1280);
    model_free(m);
    /* Odd sizes: symmetric pads, the same parameters. */
    m = arch_efficientnetb0(33, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model_param_counts(m, &total, NULL, NULL);
    assert_int_equal(total, 4049571);
    l = &m->layers[model_find(m, "stem_conv_pad")];
    assert_int_equal(l->pad4[0], 1);
    assert_int_equal(l->pad4[1], 1);
    assert_int_equal(m->layers[model_output_index(m)].out_h, 2);
    model_free(m);
    assert_null(arch_efficientnetb0(31, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "efficientnetb0"));
}

/* Keras' ResNet50(include_top=False): 23,587,712 parameters of which 53,120
 * are BatchNormalization moving statistics, 175 layers, Keras' names and the
 * stride on the first 1x1 convolution of a stage. */
static void test_resnet50_notop_has_23587712_params_and_keras_names(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_resnet50(224, &err);
    if (!m)
        fail_msg("%s", err.msg);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 23587712);
    assert_int_equal(trainable, 23534592);
    assert_int_equal(frozen, 53120);
    assert_int_equal(m->n_layers, 175);
    assert_string_equal(m->name, "resnet50");
    assert_int_equal(m->preprocess, CD_PRE_CAFFE);
    static const char *const first[] = {
        "input_1", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad",
        "pool1_pool", "conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_1_relu",
        "conv2_block1_2_conv", "conv2_block1_2_bn", "conv2_block1_2_relu", "conv2_block1_0_conv",
        "conv2_block1_3_conv", "conv2_block1_0_bn", "conv2_block1_3_bn", "conv2_block1_add",
        "conv2_block1_out", "conv2_block2_1_conv"};
    for (int i = 0; i < (int)(sizeof first / sizeof first[0]); i++)
        assert_string_equal(m->layers[i].name, first[i]);
    const layer *c1 = &m->layers[model_find(m, "conv1_conv")];
    assert_int_equal(c1->kernel[0], 7);
    assert_int_equal(c1->n_params, 2);
    assert_int_equal(c1->out_h, 112);
    assert_int_equal(m->layers[model_find(m, "pool1_pool")].out_h, 56);
    const layer *s = &m->layers[model_find(m, "conv3_block1_1_conv")];
    assert_int_equal(s->strides[0], 2);
    assert_int_equal(s->out_h, 28);
    assert_int_equal(m->layers[model_find(m, "conv3_block1_2_conv")].strides[0], 1);
    assert_int_equal(m->layers[model_find(m, "conv3_block1_0_conv")].strides[0], 2);
    assert_int_equal(model_find(m, "conv3_block2_0_conv"), -1);
    const layer *add = &m->layers[model_find(m, "conv4_block1_add")];
    assert_int_equal(add->inputs[0], model_find(m, "conv4_block1_0_bn"));
    assert_int_equal(add->inputs[1], model_find(m, "conv4_block1_3_bn"));
    add = &m->layers[model_find(m, "conv4_block2_add")];
    assert_int_equal(add->inputs[0], model_find(m, "conv4_block1_out"));
    const layer *bn = &m->layers[model_find(m, "conv5_block3_3_bn")];
    assert_true(fabsf(bn->epsilon - 1.001e-5f) < 1e-10f);
    const layer *out = &m->layers[model_output_index(m)];
    assert_string_equal(out->name, "conv5_block3_out");
    assert_int_equal(out->act, ACT_RELU);
    assert_int_equal(out->out_h, 7);
    assert_int_equal(out->out_c, 2048);
    model_free(m);
    m = arch_resnet50(64, &err);
    assert_non_null(m);
    model_param_counts(m, &total, NULL, NULL);
    assert_int_equal(total, 23587712);
    assert_int_equal(m->layers[model_output_index(m)].out_h, 2);
    model_free(m);
    assert_null(arch_resnet50(5000, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
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
    assert_null(arch_build("resnet152", 224, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "resnet152"));
    /* The message lists every built-in, and each of them builds at its default size. */
    assert_non_null(
        strstr(err.msg, "binary, vgg16, squeezenet, mobilenetv2, resnet50, efficientnetb0"));
    static const char *const names[] = {"binary",      "vgg16",    "squeezenet",
                                        "mobilenetv2", "resnet50", "efficientnetb0"};
    for (int i = 0; i < 6; i++) {
        const arch_info *a = arch_find(names[i]);
        assert_non_null(a);
        assert_string_equal(a->name, names[i]);
        m = a->build(a->default_size, &err);
        if (!m)
            fail_msg("%s: %s", names[i], err.msg);
        assert_string_equal(m->arch, names[i]);
        model_free(m);
    }
    assert_null(arch_find("transfer"));
    assert_null(arch_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_at_150_has_1212513_params),
        cmocka_unit_test(test_vgg16_notop_has_14714688_params_and_keras_names),
        cmocka_unit_test(test_squeezenet_matches_the_keras_weights_layout),
        cmocka_unit_test(test_mobilenetv2_notop_has_2257984_params_and_keras_names),
        cmocka_unit_test(test_resnet50_notop_has_23587712_params_and_keras_names),
        cmocka_unit_test(test_efficientnetb0_notop_has_4049571_params_and_keras_names),
        cmocka_unit_test(test_too_small_inputs_are_refused_with_the_layer_named),
        cmocka_unit_test(test_arch_build_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
