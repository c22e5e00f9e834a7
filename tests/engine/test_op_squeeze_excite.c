/* tests/engine/test_op_squeeze_excite.c - what squeeze-and-excitation needs
 * from the engine: Reshape, and Multiply broadcasting a per-sample channel
 * vector ((N, C) or (N, 1, 1, C)) over a (N, H, W, C) map.
 *   - hand-computed values in both backends, the vector in either input;
 *   - oneDNN against the reference on SE blocks (Keras' EfficientNet form:
 *     GlobalAveragePooling2D -> Reshape((1, 1, C)) -> 1x1 Conv2D x2 ->
 *     Multiply; keepdims pooling; Dense excitation on the (N, C) vector) behind
 *     convolutions in blocked layouts, at batch 1 and 4;
 *   - the reference's gradients through an SE block against central
 *     differences, and oneDNN's gradients through SE blocks and Reshape
 *     against the reference;
 *   - shape errors: a Reshape that changes the element count, a Multiply of a
 *     map by a vector of other channels. */
#include "test_dnnl_common.h"

static int td_reshape(model *m, int input, int h, int w, int c, int rank)
{
    layer l = layer_template(LAYER_RESHAPE, "r", -1);
    l.target[0] = h;
    l.target[1] = w;
    l.target[2] = c;
    l.target_rank = rank;
    return td_add(m, l, input);
}

static int td_gap(model *m, int input, int keepdims)
{
    layer l = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", -1);
    l.keepdims = keepdims;
    return td_add(m, l, input);
}

/* x (1 x 2 x 2 x 2) times its own per-channel mean, the mean as (N, C),
 * (N, 1, 1, C) by keepdims, or by Reshape, first or second input. */
static void test_broadcast_multiply_hand_computed(void **state)
{
    (void)state;
    const float x[8] = {1, 10, 2, 20, 3, 30, 6, 40}; /* (h, w, c): channel 0 mean 3, 1 mean 25 */
    float want[8];
    for (int i = 0; i < 8; i++)
        want[i] = x[i] * (i % 2 ? 25.0f : 3.0f);
    for (int form = 0; form < 3; form++)
        for (int first = 0; first < 2; first++) {
            model *m = td_model(2, 2, 2);
            int v = td_gap(m, 0, form == 1);
            if (form == 2)
                v = td_reshape(m, v, 1, 1, -1, 3);
            int y = first ? td_merge2(m, LAYER_MULTIPLY, v, 0) : td_merge2(m, LAYER_MULTIPLY, 0, v);
            td_finish(m, 1);
            assert_int_equal(m->layers[y].out_rank, 4);
            assert_int_equal(m->layers[y].out_h, 2);
            assert_int_equal(m->layers[y].out_c, 2);
            runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
            for (int e = 0; e < 2; e++) {
                float out[8];
                runner *rn = td_runner(m, backs[e], 1, 0, 1, 0);
                td_forward(rn, x, 1, out);
                td_assert_close(e ? "oneDNN" : "reference", out, want, 8, 1e-6f);
                runner_free(rn);
            }
            model_free(m);
        }
}

/* conv (blocked layout) -> SE -> conv -> flatten -> dense; `form` picks the
 * excitation: 0 Reshape + 1x1 convs, 1 keepdims + 1x1 convs, 2 Dense on the
 * (N, C) vector.  *c0 = the first convolution. */
static model *se_net(int form, int *c0)
{
    model *m = td_model(7, 6, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    int s = td_gap(m, x, form == 1);
    if (form == 0)
        s = td_reshape(m, s, 1, 1, 16, 3);
    if (form == 2) {
        s = td_dense(m, s, 4, ACT_SWISH, 1);
        s = td_dense(m, s, 16, ACT_SIGMOID, 1);
    } else {
        s = td_conv(m, s, 4, 1, 1, 1, 1, PAD_VALID, ACT_SWISH, 1);
        s = td_conv(m, s, 16, 1, 1, 1, 1, PAD_VALID, ACT_SIGMOID, 1);
    }
    int y = td_merge2(m, LAYER_MULTIPLY, x, s);
    y = td_conv(m, y, 4, 3, 3, 2, 2, PAD_VALID, ACT_LINEAR, 1);
    y = td_reshape(m, y, 1, 1, -1, 1); /* a Flatten spelled as Keras' Reshape((-1,)) */
    td_dense(m, y, 2, ACT_LINEAR, 1);
    td_finish(m, 31 + (uint64_t)form);
    *c0 = x;
    return m;
}

static void test_se_blocks_match_reference(void **state)
{
    (void)state;
    for (int form = 0; form < 3; form++) {
        int c0;
        model *m = se_net(form, &c0);
        td_compare_forward(m, 4, 1, 1, 0, 70 + (uint64_t)form);
        td_compare_forward(m, 4, 4, 2, 0, 80 + (uint64_t)form);
        model_free(m);
    }
}

/* The reference's gradient of the first convolution's bias, which reaches the
 * loss through both inputs of the broadcasting Multiply (the map and the
 * pooled vector), against central differences. */
static void test_se_reference_gradients(void **state)
{
    (void)state;
    for (int form = 0; form < 3; form++) {
        int c0;
        model *m = se_net(form, &c0);
        const int n = 2;
        float in[2 * 126], w[4], y[4];
        td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 8);
        td_fill(w, 4, -1.0f, 1.0f, 9);
        runner *r = td_runner(m, RUNNER_REF, n, 1, 1, 0);
        cd_err err;
        td_forward(r, in, n, y);
        if (runner_backward(r, w, &err) != 0)
            fail_msg("%s", err.msg);
        tensor *k = m->layers[c0].params[1];
        const tensor *g = runner_param_grad(r, c0, 1);
        assert_non_null(g);
        for (size_t i = 0; i < k->size; i++) {
            float keep = k->data[i];
            const float h = 1e-3f;
            k->data[i] = keep + h;
            double up = td_ref_loss(m, in, w, n);
            k->data[i] = keep - h;
            double down = td_ref_loss(m, in, w, n);
            k->data[i] = keep;
            double num = (up - down) / (2.0 * h);
            if (fabs(num - g->data[i]) > 5e-3 * (1.0 + fabs(num)))
                fail_msg("SE form %d, bias %zu: analytic %.6g, numeric %.6g", form, i,
                         (double)g->data[i], num);
        }
        runner_free(r);
        model_free(m);
    }
}

/* oneDNN training through SE blocks (the broadcasting Multiply's backward:
 * the map's gradient and the vector's, summed over H and W): the first
 * convolution's gradients, which collect both, equal the reference's. */
static void test_se_gradients_match_reference(void **state)
{
    (void)state;
    for (int form = 0; form < 3; form++) {
        int c0;
        model *m = se_net(form, &c0);
        const int n = 3;
        float in[3 * 126], dy[6], y1[6], y2[6];
        td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 16);
        td_fill(dy, 6, -1.0f, 1.0f, 17);
        runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0);
        runner *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
        cd_err err;
        td_forward(rr, in, n, y1);
        td_forward(rd, in, n, y2);
        td_assert_close("output", y2, y1, 6, TD_TOL);
        if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
            fail_msg("%s", err.msg);
        for (int i = 1; i < m->n_layers; i++)
            for (int p = 0; p < m->layers[i].n_params; p++) {
                const tensor *g1 = runner_param_grad(rd, i, p), *g2 = runner_param_grad(rr, i, p);
                assert_non_null(g1);
                assert_non_null(g2);
                char what[96];
                snprintf(what, sizeof what, "SE form %d, layer %d param %d gradient", form, i, p);
                td_assert_close(what, g1->data, g2->data, g1->size, TD_TOL);
            }
        runner_free(rr);
        runner_free(rd);
        model_free(m);
    }
}

/* oneDNN training through Reshape (a blocked map flattened, and a vector
 * made a 1x1 map for a convolution): first-conv gradients equal the reference's. */
static void test_reshape_gradients_match_reference(void **state)
{
    (void)state;
    model *m = td_model(6, 6, 3);
    int c0 = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    int x = td_reshape(m, c0, 1, 1, -1, 1);
    x = td_dense(m, x, 8, ACT_TANH, 1);
    x = td_reshape(m, x, 1, 1, 8, 3);
    x = td_conv(m, x, 4, 1, 1, 1, 1, PAD_VALID, ACT_TANH, 1);
    x = td_reshape(m, x, 2, 2, 1, 3);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 5);
    const int n = 2;
    float in[2 * 108], dy[4], y1[4], y2[4];
    td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 6);
    td_fill(dy, 4, -1.0f, 1.0f, 7);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0);
    runner *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, in, n, y1);
    td_forward(rd, in, n, y2);
    td_assert_close("output", y2, y1, 4, TD_TOL);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("%s", err.msg);
    for (int p = 0; p < 2; p++) {
        const tensor *g1 = runner_param_grad(rd, c0, p), *g2 = runner_param_grad(rr, c0, p);
        assert_non_null(g1);
        assert_non_null(g2);
        td_assert_close("first conv gradient", g1->data, g2->data, g1->size, TD_TOL);
    }
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

static void test_shape_errors_name_the_layer(void **state)
{
    (void)state;
    cd_err err;
    model *m = td_model(4, 4, 3);
    layer r = layer_template(LAYER_RESHAPE, "bad_reshape", 0);
    r.target[0] = 5;
    r.target[1] = 5;
    r.target[2] = 1;
    r.target_rank = 3;
    assert_true(model_add(m, &r, &err) >= 0);
    assert_int_not_equal(model_infer_shapes(m, &err), 0);
    assert_non_null(strstr(err.msg, "bad_reshape"));
    model_free(m);

    m = td_model(4, 4, 3);
    int g = td_gap(m, 0, 0);
    int d = td_dense(m, g, 5, ACT_SIGMOID, 1);
    layer mul = layer_template(LAYER_MULTIPLY, "bad_scale", -1);
    mul.inputs[0] = 0;
    mul.inputs[1] = d;
    mul.n_inputs = 2;
    assert_true(model_add(m, &mul, &err) >= 0);
    assert_int_not_equal(model_infer_shapes(m, &err), 0);
    assert_non_null(strstr(err.msg, "bad_scale"));
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_multiply_hand_computed),
        cmocka_unit_test(test_se_blocks_match_reference),
        cmocka_unit_test(test_se_reference_gradients),
        cmocka_unit_test(test_se_gradients_match_reference),
        cmocka_unit_test(test_reshape_gradients_match_reference),
        cmocka_unit_test(test_shape_errors_name_the_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
