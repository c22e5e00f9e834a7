/* tests/engine/test_op_activation.c - the activations after Keras 2.2.4's
 * (relu6, leaky_relu, elu, selu, softplus, softsign, both hard_sigmoids, swish,
 * hard_swish, gelu and its tanh form, exponential, Keras' ReLU layer):
 *   - hand values: each function written again here in double precision,
 *     differently from ref_act.c where it can be (e.g. softplus as log1p(e^x),
 *     Keras 3's hard_sigmoid as clip(x/6 + 1/2)), on points either side of
 *     every kink, through both backends;
 *   - oneDNN equals the reference as an Activation layer and fused into a
 *     Conv2D and a Dense, at inference and in training (parameter gradients
 *     through the activation, which for most of them need its input);
 *   - the two oneDNN has no eltwise function for (softsign, Keras' ReLU with a
 *     threshold: built from eltwise and binary primitives) likewise, with
 *     thresholds below, at and above zero, slopes and clips.
 * Finite-difference checks of every activation's gradient are in
 * test_ref_ops.c; the comparison with PyTorch in test_activations_torch.sh. */
#include "test_dnnl_common.h"

static double hand(layer_act a, const layer_act_params *p, double x)
{
    double s = 1.0 / (1.0 + exp(-x));
    switch (a) {
    case ACT_LINEAR: case ACT_SOFTMAX: case ACT_COUNT: return x;
    case ACT_RELU: return x < 0 ? 0 : x;
    case ACT_SIGMOID: return s;
    case ACT_TANH: return tanh(x);
    case ACT_RELU6: return fmin(fmax(x, 0), 6);
    case ACT_LEAKY_RELU: return x >= 0 ? x : p->alpha * x;
    case ACT_ELU: return x >= 0 ? x : p->alpha * (exp(x) - 1);
    case ACT_SELU: return 1.0507009873554804934193349852946 *
                          (x >= 0 ? x : 1.6732632423543772848170429916717 * (exp(x) - 1));
    case ACT_SOFTPLUS: return log1p(exp(x));
    case ACT_SOFTSIGN: return x / (1 + fabs(x));
    case ACT_HARD_SIGMOID: return fmin(fmax(0.2 * x + 0.5, 0), 1);
    case ACT_HARD_SIGMOID6: return fmin(fmax(x / 6 + 0.5, 0), 1);
    case ACT_SWISH: return x * s;
    case ACT_HARD_SWISH: return x * fmin(fmax(x / 6 + 0.5, 0), 1);
    case ACT_GELU: return x * 0.5 * erfc(-x / sqrt(2.0));
    case ACT_GELU_TANH:
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_EXPONENTIAL: return exp(x);
    case ACT_RELU_X: {
        /* piecewise, as Keras' documentation states it */
        double y;
        if (p->max_value >= 0 && x >= p->max_value)
            y = p->max_value;
        else if (x >= p->threshold && p->threshold == 0)
            y = x;
        else if (x > p->threshold)
            y = p->max_value >= 0 ? fmin(fmax(x, 0), p->max_value) : x;
        else
            y = p->alpha * (x - p->threshold);
        return y;
    }
    }
    return x;
}

static const float pts[] = {-7.0f, -4.0f, -2.75f, -2.25f, -1.0f, -0.3f, -0.05f, 0.0f,
                            0.05f, 0.3f, 1.0f,   2.25f,  2.75f, 4.0f, 5.5f,  7.0f};
#define NPTS ((int)(sizeof pts / sizeof pts[0]))

static void check_hand(layer_act a, layer_act_params ap)
{
    model *m = td_model(1, NPTS, 1);
    layer l = layer_template(LAYER_ACTIVATION, "act", 0);
    l.act = a;
    l.act_p = ap;
    td_add(m, l, 0);
    td_finish(m, 1);
    float y[NPTS], want[NPTS];
    for (int i = 0; i < NPTS; i++)
        want[i] = (float)hand(a, &ap, pts[i]);
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int k = 0; k < 2; k++) {
        runner *r = td_runner(m, backs[k], 1, 0, 1, 0);
        td_forward(r, pts, 1, y);
        for (int i = 0; i < NPTS; i++) {
            /* 2 ulp-ish of the value; exp at 7 is 1096 */
            float lim = 3e-7f * fmaxf(1.0f, fabsf(want[i])) + (k ? 2e-6f : 0.0f);
            if (!(fabsf(y[i] - want[i]) <= lim))
                fail_msg("%s (%s) at x = %g: %.9g, by hand %.9g", layer_act_name(a),
                         k ? "dnnl" : "ref", (double)pts[i], (double)y[i], (double)want[i]);
        }
        runner_free(r);
    }
    model_free(m);
}

static const layer_act_params relu_x_cases[] = {
    {0.1f, -1.0f, 0.0f}, {0.0f, 6.0f, 0.0f}, {0.3f, 2.5f, 0.0f}, {0.0f, -1.0f, 1.0f},
    {0.2f, 4.0f, -1.0f}, {0.5f, -1.0f, 2.25f},
};

static void test_hand_values(void **state)
{
    (void)state;
    for (int a = ACT_RELU6; a < ACT_COUNT; a++)
        check_hand((layer_act)a, layer_act_defaults((layer_act)a));
    check_hand(ACT_LEAKY_RELU, (layer_act_params){0.3f, -1.0f, 0.0f});
    check_hand(ACT_ELU, (layer_act_params){0.5f, -1.0f, 0.0f});
    for (size_t k = 0; k < sizeof relu_x_cases / sizeof relu_x_cases[0]; k++)
        check_hand(ACT_RELU_X, relu_x_cases[k]);
}

/* conv(act) -> Activation(act) -> flatten -> dense(act) -> dense(2): both
 * backends, inference then training gradients of every parameter. */
static void check_backends(layer_act a, layer_act_params ap)
{
    /* exponential three times over overflows: it is tried once, after a tanh */
    layer_act fused = a == ACT_EXPONENTIAL ? ACT_TANH : a;
    print_message("activation %s\n", layer_act_name(a));
    model *m = td_model(6, 5, 3);
    int x = td_conv(m, 0, 8, 3, 3, 1, 1, PAD_SAME, fused, 1);
    if (fused == a)
        m->layers[x].act_p = ap;
    layer l = layer_template(LAYER_ACTIVATION, "act", -1);
    l.act = a;
    l.act_p = ap;
    x = td_add(m, l, x);
    x = td_simple(m, x, LAYER_FLATTEN);
    x = td_dense(m, x, 7, fused, 1);
    if (fused == a)
        m->layers[x].act_p = ap;
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 3);
    /* inputs spread to [-3, 3] so the kinks (hard_sigmoid's at 2.5) are crossed */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_CONV2D)
            for (size_t k = 0; k < m->layers[i].params[0]->size; k++)
                m->layers[i].params[0]->data[k] *= 3.0f;
    td_compare_forward(m, 4, 4, 1, 0, 11);

    const int n = 3;
    float in[3 * 90], dy[6], y1[6], y2[6];
    td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 4);
    td_fill(dy, 6, -1.0f, 1.0f, 5);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0), *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, in, n, y1);
    td_forward(rd, in, n, y2);
    td_assert_close("training output", y2, y1, 6, TD_TOL);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("%s: %s", layer_act_name(a), err.msg);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *g1 = runner_param_grad(rd, i, p), *g0 = runner_param_grad(rr, i, p);
            assert_non_null(g1);
            assert_non_null(g0);
            char what[96];
            snprintf(what, sizeof what, "%s: gradient %d of layer %d", layer_act_name(a), p, i);
            td_assert_close(what, g1->data, g0->data, g0->size, 1e-4f);
        }
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

static void test_dnnl_matches_reference(void **state)
{
    (void)state;
    for (int a = ACT_LINEAR; a < ACT_COUNT; a++) {
        layer_act_params ap = layer_act_defaults((layer_act)a);
        if (a != ACT_SOFTMAX)
            check_backends((layer_act)a, ap);
    }
    check_backends(ACT_LEAKY_RELU, (layer_act_params){0.3f, -1.0f, 0.0f});
    check_backends(ACT_ELU, (layer_act_params){0.5f, -1.0f, 0.0f});
    check_backends(ACT_RELU_X, (layer_act_params){0.1f, 1.5f, 0.0f});
    check_backends(ACT_RELU_X, (layer_act_params){0.0f, 6.0f, 0.0f});
}

/* The thresholded ReLUs of relu_x_cases (threshold 1, -1 with a slope and a
 * clip, 2.25 with a slope) fused and standalone, through oneDNN's composite. */
static void test_dnnl_thresholded_relu_matches_reference(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof relu_x_cases / sizeof relu_x_cases[0]; k++)
        if (relu_x_cases[k].threshold != 0.0f)
            check_backends(ACT_RELU_X, relu_x_cases[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_dnnl_matches_reference),
        cmocka_unit_test(test_dnnl_thresholded_relu_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
