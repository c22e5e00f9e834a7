/* tests/engine/test_dnnl_addsum.c - the oneDNN inference plan's residual
 * fold (dnnl_plan.c, fold_adds): a two-input Add that is the only reader of
 * a convolution (or of its folded BatchNormalization) becomes that
 * convolution's sum post-op, and an Activation read only by the Add an
 * eltwise post-op after it.  Cases: the convolution on either input slot,
 * Conv -> BN -> Add -> ReLU (ResNet), an Add of two convolutions, and an
 * other input still read after the Add (the convolution then adds to a copy:
 * that input's activation survives).  The folded plans run fewer steps
 * (in-place) or as many (copy) and give the reference's outputs, f32 within
 * TD_TOL of the largest output (the worst ratio printed) and bf16 within
 * TD_BF16_TOL; training plans fold no Add.  The bf16 parts run where oneDNN
 * has bf16 convolutions (AVX-512 on): elsewhere main says why they are skipped. */
#include "test_dnnl_common.h"

/* Set once by main: 1 when oneDNN has bf16 convolutions on this CPU. */
static int have_bf16;

/* gamma in [-1.5, 1.5), beta and mean in [-1, 1), variance in [0.05, 2). */
static const td_bn_ranges bn_ranges = {{-1.5f, 1.5f}, {-1.0f, 1.0f}, {0.05f, 2.0f}};

static void finish(model *m, uint64_t seed)
{
    td_finish(m, seed);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_BATCHNORM)
            td_bn_fill(&m->layers[i], bn_ranges, seed * 10u + (uint64_t)i);
}

/* An identity block's two branches on the input: a = conv3x3 + ReLU (the
 * shortcut, returned in *a) and c = conv1x1(conv3x3 + ReLU(a)) with no
 * activation (returned), every convolution with `filters` and a bias. */
static int residual_branches(model *m, int filters, int *a)
{
    *a = td_conv(m, 0, filters, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int c = td_conv(m, *a, filters, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    return td_conv(m, c, filters, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
}

/* Identity block, the convolution on the Add's second slot:
 * a = conv(x); add(a, conv(conv(a))) -> conv -> output map.  a is read by
 * the first convolution before the folded one runs: added to in place. */
static model *slot1_model(int *add)
{
    model *m = td_model(8, 7, 5);
    int a, c = residual_branches(m, 16, &a);
    *add = td_merge2(m, LAYER_ADD, a, c);
    td_conv(m, *add, 8, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
    finish(m, 31);
    return m;
}

/* ResNet's: a = conv(x); Conv (no bias) -> BN on the first slot, a on the
 * second, then Activation('relu') -> pooled head.  folded[]: the BN, the
 * Add and the ReLU. */
static model *bn_relu_model(int *folded)
{
    model *m = td_model(9, 8, 3);
    int a = td_conv(m, 0, 24, 3, 3, 2, 2, PAD_SAME, ACT_RELU, 1);
    int c = td_conv(m, a, 24, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    c = td_conv(m, c, 24, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 0);
    folded[0] = c = td_bn(m, c, 1, 1, 0.001f);
    folded[1] = c = td_merge2(m, LAYER_ADD, c, a);
    folded[2] = c = td_act(m, c, ACT_RELU);
    c = td_simple(m, c, LAYER_GLOBAL_AVGPOOL2D);
    td_dense(m, c, 3, ACT_LINEAR, 1);
    finish(m, 32);
    return m;
}

/* The other input a is read again after the Add (a concatenation of the
 * Add and a): the convolution adds to a copy of a. */
static model *reread_model(int *add, int *other)
{
    model *m = td_model(6, 6, 4);
    int c = residual_branches(m, 8, other);
    *add = td_merge2(m, LAYER_ADD, c, *other);
    int both[2] = {*add, *other};
    td_concat(m, 2, both);
    finish(m, 33);
    return m;
}

/* An Add of two convolutions of one map (a projection shortcut next to a
 * 3x3), the second one with a BN: the later one adds to the earlier's
 * output in place. */
static model *two_convs_model(int *add)
{
    model *m = td_model(8, 8, 6);
    int a = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int s = td_conv(m, a, 32, 1, 1, 2, 2, PAD_VALID, ACT_LINEAR, 1);
    int c = td_conv(m, a, 32, 3, 3, 2, 2, PAD_SAME, ACT_LINEAR, 0);
    c = td_bn(m, c, 1, 1, 0.001f);
    *add = td_merge2(m, LAYER_ADD, s, c);
    td_conv(m, *add, 4, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    finish(m, 34);
    return m;
}

/* The outputs in f32 (batches 1 and 3) and bf16 (batch 2) against the
 * reference, then every activation oneDNN keeps (td_compare_forward). */
static void check_both(const model *m, td_worst *w, uint64_t seed)
{
    td_compare_outputs(m, 1, RUNNER_PREC_F32, w, seed, NULL);
    td_compare_outputs(m, 3, RUNNER_PREC_F32, w, seed + 1u, NULL);
    if (have_bf16)
        td_compare_outputs(m, 2, RUNNER_PREC_BF16, w, seed + 2u, NULL);
    td_compare_forward(m, 2, 2, 1, 0, seed + 3u);
}

/* Forward steps of m's plans for batch n at precision prec, the Add folds
 * on (the layers in want folded) and off (the layers in want_off not). */
static void fold_steps(const model *m, int n, dn_precision prec, const int *want, int n_want,
                       const int *want_off, int n_want_off, int *with, int *without)
{
    *with = td_plan_steps(m, n, (dn_plan_cfg){.precision = prec}, want, n_want, 1);
    *without = td_plan_steps(m, n, (dn_plan_cfg){.no_fold_add = 1, .precision = prec}, want_off,
                             n_want_off, 0);
}

static void test_addsum_slot1_in_place(void **state)
{
    int add;
    model *m = slot1_model(&add);
    int with, without;
    fold_steps(m, 1, DN_PREC_F32, &add, 1, &add, 1, &with, &without);
    assert_int_equal(with, without - 1); /* the sum primitive */
    if (have_bf16) {
        fold_steps(m, 2, DN_PREC_BF16, &add, 1, &add, 1, &with, &without);
        assert_int_equal(with, without - 1);
    }
    check_both(m, *state, 100);
    model_free(m);
}

static void test_addsum_bn_relu(void **state)
{
    int folded[3];
    model *m = bn_relu_model(folded);
    int with, without;
    fold_steps(m, 1, DN_PREC_F32, folded, 3, folded + 1, 2, &with, &without);
    assert_int_equal(with, without - 2); /* the sum and the ReLU */
    check_both(m, *state, 200);
    model_free(m);
}

static void test_addsum_other_read_later(void **state)
{
    int add, other;
    model *m = reread_model(&add, &other);
    int with, without;
    fold_steps(m, 2, DN_PREC_F32, &add, 1, &add, 1, &with, &without);
    assert_int_equal(with, without); /* a copy of a instead of the sum */
    check_both(m, *state, 300);
    /* a keeps its own output */
    runner *rd = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0);
    float *x = calloc(td_in_size(m), sizeof *x), *y = malloc(model_output_size(m) * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    td_forward(rd, x, 1, y);
    assert_non_null(runner_activation(rd, other));
    runner_free(rd);
    free(x);
    free(y);
    model_free(m);
}

static void test_addsum_two_convs(void **state)
{
    int add;
    model *m = two_convs_model(&add);
    int with, without;
    fold_steps(m, 1, DN_PREC_F32, &add, 1, &add, 1, &with, &without);
    assert_int_equal(with, without - 1);
    check_both(m, *state, 400);
    model_free(m);
}

/* runner_opts.keep_activations (int8 calibration, predict/quantize.c): the
 * folds overwrite some layers' outputs (runner_activation has none for them);
 * with the flag every layer's output is kept and equals the reference's. */
static void test_keep_activations(void **state)
{
    (void)state;
    int folded[3];
    model *m = bn_relu_model(folded);
    float *x = malloc(td_in_size(m) * sizeof *x), *y = malloc(model_output_size(m) * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    td_fill(x, td_in_size(m), -1.0f, 1.0f, 500);
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 1, .seed = 42};
    runner *folding = runner_new(m, 1, &o, &err);
    if (!folding)
        fail_msg("runner_new: %s", err.msg);
    o.keep_activations = 1;
    runner *keeping = runner_new(m, 1, &o, &err);
    if (!keeping)
        fail_msg("runner_new: %s", err.msg);
    runner *rr = td_runner(m, RUNNER_REF, 1, 0, 1, 0);
    td_forward(folding, x, 1, y);
    td_forward(keeping, x, 1, y);
    td_forward(rr, x, 1, y);
    int missing = 0;
    for (int i = 1; i < m->n_layers; i++) {
        missing += runner_activation(folding, i) == NULL;
        const float *a = runner_activation(keeping, i), *b = runner_activation(rr, i);
        if (!a)
            fail_msg("keep_activations: no activation for layer '%s'", m->layers[i].name);
        assert_non_null(b);
        char what[160];
        snprintf(what, sizeof what, "kept activation of '%s'", m->layers[i].name);
        td_assert_close(what, a, b, layer_out_size(&m->layers[i]), TD_TOL);
    }
    assert_true(missing > 0); /* without the flag, the folds overwrote some */
    runner_free(folding);
    runner_free(keeping);
    runner_free(rr);
    free(x);
    free(y);
    model_free(m);
}

/* Training plans keep the Add (and the ReLU after it) a step: the gradients
 * still match the reference. */
static void test_addsum_none_in_training(void **state)
{
    (void)state;
    int folded[3];
    model *m = bn_relu_model(folded);
    td_plan_steps(m, 2, (dn_plan_cfg){.training = 1}, folded, 3, 0);
    td_compare_param_grads(m, 2, 1, -1, 500);
    model_free(m);
}

int main(void)
{
    char why[200];
    have_bf16 = runner_precision_available(RUNNER_PREC_BF16, why, sizeof why);
    if (!have_bf16)
        printf("bf16 comparisons skipped: %s (float32 checked in full)\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addsum_slot1_in_place),
        cmocka_unit_test(test_addsum_bn_relu),
        cmocka_unit_test(test_addsum_other_read_later),
        cmocka_unit_test(test_addsum_two_convs),
        cmocka_unit_test(test_addsum_none_in_training),
        cmocka_unit_test(test_keep_activations),
    };
    return cmocka_run_group_tests(tests, td_worst_setup, td_worst_teardown);
}
