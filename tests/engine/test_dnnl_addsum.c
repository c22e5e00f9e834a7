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
 * BF16_TOL; training plans fold no Add. */
#include "test_dnnl_common.h"

#include <string.h>

#include "engine/dnnl_plan.h"

/* bf16 keeps 8 bits of mantissa: a few convolutions deep, 2^-8 relative
 * per rounding, against the largest output (measured worst printed too). */
#define BF16_TOL 3e-2f

typedef struct sum_stats {
    float worst, worst_bf16;
} sum_stats;

static void bn_fill(layer *l, uint64_t seed)
{
    for (int k = 0; k < l->n_params; k++) {
        const char *nm = layer_param_name(l, k);
        float lo = -1.0f, hi = 1.0f;
        if (strcmp(nm, "gamma") == 0)
            lo = -1.5f, hi = 1.5f;
        else if (strcmp(nm, "moving_variance") == 0)
            lo = 0.05f, hi = 2.0f;
        td_fill(l->params[k]->data, l->params[k]->size, lo, hi, seed + (uint64_t)k);
    }
}

static int td_bn(model *m, int input)
{
    layer l = layer_template(LAYER_BATCHNORM, "bn", -1);
    l.center = 1;
    l.scale = 1;
    l.epsilon = 0.001f;
    l.axis = -1;
    l.rate = 0.99f;
    return td_add(m, l, input);
}

static int add2(model *m, int a, int b)
{
    layer l = layer_template(LAYER_ADD, "add", -1);
    l.inputs[0] = a;
    l.inputs[1] = b;
    l.n_inputs = 2;
    return td_add(m, l, -1);
}

static void finish(model *m, uint64_t seed)
{
    td_finish(m, seed);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_BATCHNORM)
            bn_fill(&m->layers[i], seed * 10u + (uint64_t)i);
}

/* Identity block, the convolution on the Add's second slot:
 * a = conv(x); add(a, conv(conv(a))) -> conv -> output map.  a is read by
 * the first convolution before the folded one runs: added to in place. */
static model *slot1_model(int *add)
{
    model *m = td_model(8, 7, 5);
    int a = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int c = td_conv(m, a, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    c = td_conv(m, c, 16, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    *add = add2(m, a, c);
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
    folded[0] = c = td_bn(m, c);
    folded[1] = c = add2(m, c, a);
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
    int a = *other = td_conv(m, 0, 8, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int c = td_conv(m, a, 8, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    c = td_conv(m, c, 8, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    *add = add2(m, c, a);
    int both[2] = {*add, a};
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
    c = td_bn(m, c);
    *add = add2(m, s, c);
    td_conv(m, *add, 4, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
    finish(m, 34);
    return m;
}

/* The forward steps of m's plan for batch n; the layers in want are (or are
 * not, expect_folded) folded aliases of a convolution. */
static int plan_steps(const model *m, int n, int training, int no_fold_add, dn_precision prec,
                      const int *want, int n_want, int expect_folded)
{
    dnnl_engine_t eng;
    cd_err err;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    tensor **grads = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *grads);
    assert_non_null(grads);
    dn_plan_cfg cfg = {.eng = eng, .training = training, .grads = grads,
                       .no_fold_add = no_fold_add, .precision = prec};
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
        if (expect_folded && (nd->root == want[k] || m->layers[nd->root].kind != LAYER_CONV2D))
            fail_msg("layer '%s' is not an alias of a convolution", m->layers[want[k]].name);
    }
    int steps = p->fwd.n;
    dn_plan_free(p);
    free(grads);
    dnnl_engine_destroy(eng);
    return steps;
}

/* n random samples through oneDNN (precision prec) and the reference: the
 * outputs agree within tol of their largest magnitude (worst ratio kept). */
static void sum_compare(const model *m, int n, runner_precision prec, float tol, float *worst,
                        uint64_t seed)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *y1 = malloc(out_sz * sizeof *y1),
          *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    td_fill(x, in_sz, -1.0f, 1.0f, seed);
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 1, .seed = 42, .precision = prec};
    runner *rd = runner_new(m, n, &o, &err);
    if (!rd)
        fail_msg("runner_new: %s", err.msg);
    runner *rr = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    td_forward(rd, x, n, y1);
    td_forward(rr, x, n, y2);
    float scale = td_maxabs(y2, out_sz);
    assert_true(scale > 0.0f);
    for (size_t i = 0; i < out_sz; i++)
        if (fabsf(y1[i] - y2[i]) / scale > *worst)
            *worst = fabsf(y1[i] - y2[i]) / scale;
    td_assert_close("output", y1, y2, out_sz, tol);
    /* a second forward: an in-place sum must not accumulate across runs */
    td_forward(rd, x, n, y1);
    td_assert_close("output of a second forward", y1, y2, out_sz, tol);
    runner_free(rd);
    runner_free(rr);
    free(x);
    free(y1);
    free(y2);
}

static void check_both(const model *m, sum_stats *st, uint64_t seed)
{
    sum_compare(m, 1, RUNNER_PREC_F32, TD_TOL, &st->worst, seed);
    sum_compare(m, 3, RUNNER_PREC_F32, TD_TOL, &st->worst, seed + 1u);
    sum_compare(m, 2, RUNNER_PREC_BF16, BF16_TOL, &st->worst_bf16, seed + 2u);
    td_compare_forward(m, 2, 2, 1, 0, seed + 3u);
}

static void test_addsum_slot1_in_place(void **state)
{
    int add;
    model *m = slot1_model(&add);
    int with = plan_steps(m, 1, 0, 0, DN_PREC_F32, &add, 1, 1);
    int without = plan_steps(m, 1, 0, 1, DN_PREC_F32, &add, 1, 0);
    assert_int_equal(with, without - 1); /* the sum primitive */
    assert_int_equal(plan_steps(m, 2, 0, 0, DN_PREC_BF16, &add, 1, 1),
                     plan_steps(m, 2, 0, 1, DN_PREC_BF16, &add, 1, 0) - 1);
    check_both(m, *state, 100);
    model_free(m);
}

static void test_addsum_bn_relu(void **state)
{
    int folded[3];
    model *m = bn_relu_model(folded);
    int with = plan_steps(m, 1, 0, 0, DN_PREC_F32, folded, 3, 1);
    int without = plan_steps(m, 1, 0, 1, DN_PREC_F32, folded + 1, 2, 0);
    assert_int_equal(with, without - 2); /* the sum and the ReLU */
    check_both(m, *state, 200);
    model_free(m);
}

static void test_addsum_other_read_later(void **state)
{
    int add, other;
    model *m = reread_model(&add, &other);
    int with = plan_steps(m, 2, 0, 0, DN_PREC_F32, &add, 1, 1);
    int without = plan_steps(m, 2, 0, 1, DN_PREC_F32, &add, 1, 0);
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
    int with = plan_steps(m, 1, 0, 0, DN_PREC_F32, &add, 1, 1);
    int without = plan_steps(m, 1, 0, 1, DN_PREC_F32, &add, 1, 0);
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
    plan_steps(m, 2, 1, 0, DN_PREC_F32, folded, 3, 0);
    td_compare_param_grads(m, 2, 1, -1, 500);
    model_free(m);
}

static int setup(void **state)
{
    sum_stats *st = calloc(1, sizeof *st);
    *state = st;
    return st ? 0 : -1;
}

static int teardown(void **state)
{
    sum_stats *st = *state;
    printf("residual-folded plans vs reference: worst |difference| / max |output| = %.3g f32 "
           "(limit %.3g), %.3g bf16 (limit %.3g)\n",
           (double)st->worst, (double)TD_TOL, (double)st->worst_bf16, (double)BF16_TOL);
    free(st);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addsum_slot1_in_place),
        cmocka_unit_test(test_addsum_bn_relu),
        cmocka_unit_test(test_addsum_other_read_later),
        cmocka_unit_test(test_addsum_two_convs),
        cmocka_unit_test(test_addsum_none_in_training),
        cmocka_unit_test(test_keep_activations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
