/* tests/engine/test_dnnl_fold.c - the oneDNN inference plan's folds
 * (dnnl_plan.c, fold_into_convs): a BatchNormalization that is the only
 * reader of a Conv2D / DepthwiseConv2D goes into its kernel and bias, and an
 * Activation layer after it (ReLU6, ReLU) becomes the convolution's post-op.
 * The folded plan runs fewer steps and gives the reference's outputs (random
 * kernels, random BN statistics, gamma of both signs); a convolution read by
 * a second layer is not folded; the folds follow new BN parameters after
 * runner_params_changed and leave the model's parameters as they were;
 * training plans fold nothing. */
#include "test_dnnl_common.h"


/* gamma in [-1.5, 1.5), beta in [-4, 8) (so that some ReLU6 outputs clip at
 * 6 and some ReLU outputs are 0), mean in [-1, 1), variance in [0.05, 2). */
static const td_bn_ranges bn_ranges = {{-1.5f, 1.5f}, {-4.0f, 8.0f}, {0.05f, 2.0f}};

static int td_dw(model *m, int input, int k, int s, layer_pad pad, int bias)
{
    layer l = layer_template(LAYER_DEPTHWISE_CONV2D, "dw", -1);
    l.kernel[0] = l.kernel[1] = k;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    layer_set_act(&l, ACT_LINEAR);
    l.use_bias = bias;
    return td_add(m, l, input);
}

static void fill_bns(model *m, uint64_t seed)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_BATCHNORM)
            td_bn_fill(&m->layers[i], bn_ranges, seed + 10u * (uint64_t)i);
}

/* Keras' block: Conv2D (no bias) -> BN -> ReLU(max_value=6); then a Conv2D
 * with a bias -> BN without gamma -> Activation('relu') -> a pooled head. */
static model *conv_bn_relu6_model(int *folded)
{
    model *m = td_model(9, 8, 3);
    int x = td_conv(m, 0, 16, 3, 3, 2, 2, PAD_SAME, ACT_LINEAR, 0);
    folded[0] = x = td_bn(m, x, 1, 1, 0.001f);
    folded[1] = x = td_act(m, x, ACT_RELU6);
    x = td_conv(m, x, 24, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    folded[2] = x = td_bn(m, x, 1, 0, 0.001f);
    folded[3] = x = td_act(m, x, ACT_RELU);
    x = td_simple(m, x, LAYER_GLOBAL_AVGPOOL2D);
    td_dense(m, x, 3, ACT_LINEAR, 1);
    td_finish(m, 21);
    fill_bns(m, 500);
    return m;
}

/* MobileNetV2's: ZeroPadding2D -> DepthwiseConv2D (VALID, stride 2) -> BN ->
 * ReLU, a SAME depthwise with a bias -> BN -> ReLU6, and the linear
 * projection Conv2D -> BN as the model's output map. */
static model *dw_bn_relu_model(int *folded)
{
    model *m = td_model(11, 10, 8);
    layer z = layer_template(LAYER_ZEROPAD2D, "z", -1);
    z.pad4[1] = z.pad4[3] = 1;
    int x = td_add(m, z, 0);
    x = td_dw(m, x, 3, 2, PAD_VALID, 0);
    folded[0] = x = td_bn(m, x, 1, 1, 0.001f);
    folded[1] = x = td_act(m, x, ACT_RELU);
    x = td_dw(m, x, 3, 1, PAD_SAME, 1);
    folded[2] = x = td_bn(m, x, 1, 1, 0.001f);
    folded[3] = x = td_act(m, x, ACT_RELU6);
    x = td_conv(m, x, 16, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 0);
    folded[4] = td_bn(m, x, 1, 1, 0.001f);
    td_finish(m, 22);
    fill_bns(m, 600);
    return m;
}

/* The conv read twice (BN and an Add): no fold there.  The second conv's BN
 * is folded, but its ReLU stays a step: the BN is read by the ReLU and the
 * Add. */
static model *second_reader_model(int *conv, int *bn2)
{
    model *m = td_model(8, 8, 4);
    int c = *conv = td_conv(m, 0, 8, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
    int b = td_bn(m, c, 1, 1, 0.001f);
    int x = td_merge2(m, LAYER_ADD, c, b);
    x = td_conv(m, x, 8, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 0);
    b = *bn2 = td_bn(m, x, 1, 1, 0.001f);
    int r = td_act(m, b, ACT_RELU6);
    int both2[2] = {r, b};
    td_concat(m, 2, both2);
    td_finish(m, 23);
    fill_bns(m, 700);
    return m;
}

/* n random samples through the oneDNN and reference runners: the outputs
 * agree (td_compare_outputs), and so do the activations oneDNN keeps
 * (td_compare_forward); with clipped, the ReLU / ReLU6 outputs the
 * reference keeps are searched for 0 (clipped[0]) and 6 (clipped[1]). */
static void fold_compare(const model *m, int n, uint64_t seed, td_worst *w, int *clipped)
{
    runner *rr;
    td_compare_outputs(m, n, RUNNER_PREC_F32, w, seed, &rr);
    for (int i = 0; clipped && i < m->n_layers; i++) {
        if (m->layers[i].kind != LAYER_ACTIVATION)
            continue;
        const float *a = runner_activation(rr, i);
        assert_non_null(a);
        size_t cnt = layer_out_size(&m->layers[i]) * (size_t)n;
        for (size_t k = 0; k < cnt; k++) {
            clipped[0] |= a[k] == 0.0f;
            clipped[1] |= a[k] == 6.0f;
        }
    }
    runner_free(rr);
    td_compare_forward(m, n, n, 1, 0, seed + 1u);
}

/* The layers folded[0 .. n_folded) of m fold in a plan for `batch` (one
 * step each fewer than with no_fold); two batches of random samples (seeds
 * seed, seed + 10) give the reference's outputs, and the activations some
 * clip at 0 and some at 6. */
static void check_folds(model *m, const int *folded, int n_folded, int batch, int n1, int n2,
                        uint64_t seed, td_worst *w)
{
    int clipped[2] = {0, 0};
    int with = td_plan_steps(m, batch, (dn_plan_cfg){0}, folded, n_folded, 1);
    int without = td_plan_steps(m, batch, (dn_plan_cfg){.no_fold = 1}, folded, n_folded, 0);
    assert_int_equal(with, without - n_folded);
    fold_compare(m, n1, seed, w, clipped);
    fold_compare(m, n2, seed + 10u, w, clipped);
    assert_true(clipped[0] && clipped[1]);
}

/* two BNs and two eltwise steps fewer */
static void test_fold_conv_bn_relu6(void **state)
{
    int folded[4];
    model *m = conv_bn_relu6_model(folded);
    check_folds(m, folded, 4, 2, 1, 3, 900, *state);
    model_free(m);
}

/* three BNs and two eltwise steps fewer */
static void test_fold_depthwise_bn_relu(void **state)
{
    int folded[5];
    model *m = dw_bn_relu_model(folded);
    check_folds(m, folded, 5, 1, 1, 4, 920, *state);
    model_free(m);
}

static void test_fold_not_with_second_reader(void **state)
{
    int conv, bn2;
    model *m = second_reader_model(&conv, &bn2);
    int first_bn = conv + 1, relu = bn2 + 1;
    int no[2] = {first_bn, relu};
    int with = td_plan_steps(m, 2, (dn_plan_cfg){0}, no, 2, 0);
    int without = td_plan_steps(m, 2, (dn_plan_cfg){.no_fold = 1}, no, 2, 0);
    assert_int_equal(with, without - 1); /* only the second BN folds */
    td_plan_steps(m, 2, (dn_plan_cfg){0}, &bn2, 1, 1);
    fold_compare(m, 2, 940, *state, NULL);
    /* the unfolded convolution keeps its own output (td_compare_forward
     * compared it); the folded one has none */
    runner *rd = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0);
    size_t in_sz = td_in_size(m);
    float *x = calloc(in_sz, sizeof *x), *y = malloc(model_output_size(m) * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    td_forward(rd, x, 1, y);
    assert_non_null(runner_activation(rd, conv));
    assert_non_null(runner_activation(rd, bn2));
    assert_null(runner_activation(rd, bn2 - 1));
    runner_free(rd);
    free(x);
    free(y);
    model_free(m);
}

/* New BN statistics and kernel after a forward: runner_params_changed makes
 * the next forward fold them again; the model's own parameters are never
 * the folded ones. */
static void test_fold_follows_param_changes(void **state)
{
    int folded[4];
    model *m = conv_bn_relu6_model(folded);
    const tensor *k = m->layers[1].params[0];
    float *k0 = malloc(k->size * sizeof *k0);
    assert_non_null(k0);
    memcpy(k0, k->data, k->size * sizeof *k0);
    size_t in_sz = td_in_size(m), out_sz = model_output_size(m);
    float *x = malloc(in_sz * sizeof *x), *y1 = malloc(out_sz * sizeof *y1),
          *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    td_fill(x, in_sz, -1.0f, 1.0f, 950);
    runner *rd = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0), *rr = td_runner(m, RUNNER_REF, 1, 0, 1, 0);
    td_forward(rd, x, 1, y1);
    assert_memory_equal(k->data, k0, k->size * sizeof *k0);
    td_bn_fill(&m->layers[folded[0]], bn_ranges, 960);
    td_bn_fill(&m->layers[folded[2]], bn_ranges, 970);
    td_fill(k->data, k->size, -0.5f, 0.5f, 980);
    memcpy(k0, k->data, k->size * sizeof *k0);
    runner_params_changed(rd);
    runner_params_changed(rr);
    td_forward(rd, x, 1, y1);
    td_forward(rr, x, 1, y2);
    td_assert_close("output after new parameters", y1, y2, out_sz, TD_TOL);
    td_worst_note(*state, RUNNER_PREC_F32, y1, y2, out_sz);
    assert_memory_equal(k->data, k0, k->size * sizeof *k0);
    runner_free(rd);
    runner_free(rr);
    free(k0);
    free(x);
    free(y1);
    free(y2);
    model_free(m);
}

/* Training keeps every BN and activation its own step: the gradients of
 * gamma and beta still match the reference. */
static void test_fold_none_in_training(void **state)
{
    (void)state;
    int folded[4];
    model *m = conv_bn_relu6_model(folded);
    td_plan_steps(m, 2, (dn_plan_cfg){.training = 1}, folded, 4, 0);
    td_compare_param_grads(m, 2, 1, -1, 990);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_conv_bn_relu6),
        cmocka_unit_test(test_fold_depthwise_bn_relu),
        cmocka_unit_test(test_fold_not_with_second_reader),
        cmocka_unit_test(test_fold_follows_param_changes),
        cmocka_unit_test(test_fold_none_in_training),
    };
    return cmocka_run_group_tests(tests, td_worst_setup, td_worst_teardown);
}
