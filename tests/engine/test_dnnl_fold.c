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

#include <string.h>

#include "engine/dnnl_plan.h"

/* Largest |oneDNN - reference| / max |reference| seen by fold_compare, for
 * the tolerance this file reports (printed at the end). */
typedef struct fold_stats {
    float worst;
} fold_stats;

/* gamma in [-1.5, 1.5), beta in [-4, 8) (so that some ReLU6 outputs clip at
 * 6 and some ReLU outputs are 0), mean in [-1, 1), variance in [0.05, 2). */
static void bn_fill(layer *l, uint64_t seed)
{
    for (int k = 0; k < l->n_params; k++) {
        const char *nm = layer_param_name(l, k);
        float lo = -1.0f, hi = 1.0f;
        if (strcmp(nm, "gamma") == 0)
            lo = -1.5f, hi = 1.5f;
        else if (strcmp(nm, "beta") == 0)
            lo = -4.0f, hi = 8.0f;
        else if (strcmp(nm, "moving_variance") == 0)
            lo = 0.05f, hi = 2.0f;
        td_fill(l->params[k]->data, l->params[k]->size, lo, hi, seed + (uint64_t)k);
    }
}

static int td_bn(model *m, int input, int center, int scale)
{
    layer l = layer_template(LAYER_BATCHNORM, "bn", -1);
    l.center = center;
    l.scale = scale;
    l.epsilon = 0.001f;
    l.axis = -1;
    l.rate = 0.99f;
    return td_add(m, l, input);
}

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
            bn_fill(&m->layers[i], seed + 10u * (uint64_t)i);
}

/* Keras' block: Conv2D (no bias) -> BN -> ReLU(max_value=6); then a Conv2D
 * with a bias -> BN without gamma -> Activation('relu') -> a pooled head. */
static model *conv_bn_relu6_model(int *folded)
{
    model *m = td_model(9, 8, 3);
    int x = td_conv(m, 0, 16, 3, 3, 2, 2, PAD_SAME, ACT_LINEAR, 0);
    folded[0] = x = td_bn(m, x, 1, 1);
    folded[1] = x = td_act(m, x, ACT_RELU6);
    x = td_conv(m, x, 24, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    folded[2] = x = td_bn(m, x, 1, 0);
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
    folded[0] = x = td_bn(m, x, 1, 1);
    folded[1] = x = td_act(m, x, ACT_RELU);
    x = td_dw(m, x, 3, 1, PAD_SAME, 1);
    folded[2] = x = td_bn(m, x, 1, 1);
    folded[3] = x = td_act(m, x, ACT_RELU6);
    x = td_conv(m, x, 16, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 0);
    folded[4] = td_bn(m, x, 1, 1);
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
    int b = td_bn(m, c, 1, 1);
    layer add = layer_template(LAYER_ADD, "add", -1);
    add.inputs[0] = c;
    add.inputs[1] = b;
    add.n_inputs = 2;
    int x = td_add(m, add, -1);
    x = td_conv(m, x, 8, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 0);
    b = *bn2 = td_bn(m, x, 1, 1);
    int r = td_act(m, b, ACT_RELU6);
    int both2[2] = {r, b};
    td_concat(m, 2, both2);
    td_finish(m, 23);
    fill_bns(m, 700);
    return m;
}

/* Forward n random samples through the oneDNN and reference runners: the
 * outputs agree within TD_TOL of their largest magnitude (the worst ratio
 * recorded), and so do the activations oneDNN keeps (td_compare_forward). */
static void fold_compare(const model *m, int n, uint64_t seed, fold_stats *st, int *clipped)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *y1 = malloc(out_sz * sizeof *y1),
          *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    td_fill(x, in_sz, -1.0f, 1.0f, seed);
    runner *rd = td_runner(m, RUNNER_DNNL, n, 0, 1, 0), *rr = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    td_forward(rd, x, n, y1);
    td_forward(rr, x, n, y2);
    float scale = td_maxabs(y2, out_sz);
    assert_true(scale > 0.0f);
    for (size_t i = 0; i < out_sz; i++) {
        float e = fabsf(y1[i] - y2[i]) / scale;
        if (e > st->worst)
            st->worst = e;
    }
    td_assert_close("output", y1, y2, out_sz, TD_TOL);
    /* the ReLU / ReLU6 outputs the reference keeps: some clip (0 and 6) */
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
    runner_free(rd);
    runner_free(rr);
    free(x);
    free(y1);
    free(y2);
    td_compare_forward(m, n, n, 1, 0, seed + 1u);
}

/* The forward steps of m's plan for batch n, folded or not, and the plan's
 * view of which layers were folded (folded[k] != 0 for layers in want). */
static int plan_steps(const model *m, int n, int training, int no_fold, const int *want,
                      int n_want, int expect_folded)
{
    dnnl_engine_t eng;
    cd_err err;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    tensor **grads = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *grads);
    assert_non_null(grads);
    dn_plan_cfg cfg = {.eng = eng, .training = training, .grads = grads, .no_fold = no_fold};
    uint64_t rng = 1;
    cfg.rng = &rng;
    dn_plan *p = dn_plan_new(m, n, &cfg, &err);
    if (!p)
        fail_msg("dn_plan_new: %s", err.msg);
    for (int k = 0; k < n_want; k++) {
        const dn_node *nd = &p->nodes[want[k]];
        if (nd->folded != expect_folded)
            fail_msg("layer '%s': folded %d, expected %d", m->layers[want[k]].name, nd->folded,
                     expect_folded);
        if (expect_folded && (nd->root == want[k] ||
                              (m->layers[nd->root].kind != LAYER_CONV2D &&
                               m->layers[nd->root].kind != LAYER_DEPTHWISE_CONV2D)))
            fail_msg("layer '%s' is not an alias of a convolution", m->layers[want[k]].name);
    }
    int steps = p->fwd.n;
    dn_plan_free(p);
    free(grads);
    dnnl_engine_destroy(eng);
    return steps;
}

static void test_fold_conv_bn_relu6(void **state)
{
    fold_stats *st = *state;
    int folded[4], clipped[2] = {0, 0};
    model *m = conv_bn_relu6_model(folded);
    int with = plan_steps(m, 2, 0, 0, folded, 4, 1);
    int without = plan_steps(m, 2, 0, 1, folded, 4, 0);
    /* two BNs and two eltwise steps fewer */
    assert_int_equal(with, without - 4);
    fold_compare(m, 1, 900, st, clipped);
    fold_compare(m, 3, 910, st, clipped);
    assert_true(clipped[0] && clipped[1]);
    model_free(m);
}

static void test_fold_depthwise_bn_relu(void **state)
{
    fold_stats *st = *state;
    int folded[5], clipped[2] = {0, 0};
    model *m = dw_bn_relu_model(folded);
    int with = plan_steps(m, 1, 0, 0, folded, 5, 1);
    int without = plan_steps(m, 1, 0, 1, folded, 5, 0);
    assert_int_equal(with, without - 5);
    fold_compare(m, 1, 920, st, clipped);
    fold_compare(m, 4, 930, st, clipped);
    assert_true(clipped[0] && clipped[1]);
    model_free(m);
}

static void test_fold_not_with_second_reader(void **state)
{
    fold_stats *st = *state;
    int conv, bn2;
    model *m = second_reader_model(&conv, &bn2);
    int first_bn = conv + 1, relu = bn2 + 1;
    int no[2] = {first_bn, relu};
    int with = plan_steps(m, 2, 0, 0, no, 2, 0);
    int without = plan_steps(m, 2, 0, 1, no, 2, 0);
    assert_int_equal(with, without - 1); /* only the second BN folds */
    plan_steps(m, 2, 0, 0, &bn2, 1, 1);
    fold_compare(m, 2, 940, st, NULL);
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
    fold_stats *st = *state;
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
    bn_fill(&m->layers[folded[0]], 960);
    bn_fill(&m->layers[folded[2]], 970);
    td_fill(k->data, k->size, -0.5f, 0.5f, 980);
    memcpy(k0, k->data, k->size * sizeof *k0);
    runner_params_changed(rd);
    runner_params_changed(rr);
    td_forward(rd, x, 1, y1);
    td_forward(rr, x, 1, y2);
    td_assert_close("output after new parameters", y1, y2, out_sz, TD_TOL);
    float scale = td_maxabs(y2, out_sz);
    for (size_t i = 0; i < out_sz; i++)
        if (fabsf(y1[i] - y2[i]) / scale > st->worst)
            st->worst = fabsf(y1[i] - y2[i]) / scale;
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
    plan_steps(m, 2, 1, 0, folded, 4, 0);
    td_compare_param_grads(m, 2, 1, -1, 990);
    model_free(m);
}

static int setup(void **state)
{
    fold_stats *st = calloc(1, sizeof *st);
    *state = st;
    return st ? 0 : -1;
}

static int teardown(void **state)
{
    fold_stats *st = *state;
    printf("folded plans vs reference: worst |difference| / max |output| = %.3g (limit %.3g)\n",
           (double)st->worst, (double)TD_TOL);
    free(st);
    return 0;
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
    return cmocka_run_group_tests(tests, setup, teardown);
}
