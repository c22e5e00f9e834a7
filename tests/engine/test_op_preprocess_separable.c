/* tests/engine/test_op_preprocess_separable.c - Normalization, Resizing,
 * CenterCrop and SeparableConv2D in the engine:
 *   - hand values in both backends: TensorFlow's bilinear resize (half-pixel
 *     centres; the values PyTorch's interpolate(align_corners=False) gives),
 *     its nearest (floor((i + 0.5) * in / out)), the centre crop's offsets,
 *     Normalization's (x - mean) / max(sqrt(var), 1e-7) including var = 0;
 *   - oneDNN's forward equals the reference on random models (every layer's
 *     activation);
 *   - gradients: oneDNN's parameter gradients equal the reference's, and the
 *     reference's equal central finite differences of its forward for the
 *     separable kernels and bias and a convolution before the resize (so the
 *     backward of every new kind is on the path).
 * PyTorch computes the same models in tests/modelfile/test_keras_roundtrip.c
 * (through the independent reader). */
#include "test_dnnl_common.h"

static const runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};

static void run_both(const model *m, const float *x, int n, const float *want, size_t count,
                     const char *what)
{
    float y[64];
    assert_true(count <= 64);
    for (int k = 0; k < 2; k++) {
        runner *r = td_runner(m, backs[k], n, 0, 1, 0);
        td_forward(r, x, n, y);
        char w[96];
        snprintf(w, sizeof w, "%s (%s)", what, k ? "dnnl" : "ref");
        td_assert_close(w, y, want, count, 1e-6f);
        runner_free(r);
    }
}

static int td_resize(model *m, int input, int h, int w, layer_interp interp)
{
    layer l = layer_template(LAYER_RESIZING, "rs", -1);
    l.size[0] = h;
    l.size[1] = w;
    l.interp = interp;
    return td_add(m, l, input);
}

static int td_crop(model *m, int input, int h, int w)
{
    layer l = layer_template(LAYER_CENTER_CROP, "cc", -1);
    l.size[0] = h;
    l.size[1] = w;
    return td_add(m, l, input);
}

static int td_sep(model *m, int input, int filters, int k, int mult, int stride, int dil,
                  layer_pad pad, layer_act act, int bias)
{
    layer l = layer_template(LAYER_SEPARABLE_CONV2D, "sep", -1);
    l.filters = filters;
    l.kernel[0] = k;
    l.kernel[1] = k > 1 ? k - 1 : 1;
    l.depth_multiplier = mult;
    l.strides[0] = l.strides[1] = stride;
    l.dilation[0] = l.dilation[1] = dil;
    l.padding = pad;
    l.act = act;
    l.use_bias = bias;
    return td_add(m, l, input);
}

static void test_resize_and_crop_hand_values(void **state)
{
    (void)state;
    /* 2x2 -> 4x4 bilinear: PyTorch's interpolate(align_corners=False) values */
    model *m = td_model(2, 2, 1);
    td_resize(m, 0, 4, 4, INTERP_BILINEAR);
    td_finish(m, 1);
    const float x[4] = {1, 2, 3, 4};
    const float up[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                          2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
    run_both(m, x, 1, up, 16, "bilinear 2x2 to 4x4");
    model_free(m);

    /* 3x3 -> 2x2 nearest: rows and columns floor((i + 0.5) * 1.5) = 0, 2 */
    m = td_model(3, 3, 1);
    td_resize(m, 0, 2, 2, INTERP_NEAREST);
    td_finish(m, 1);
    const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, near[4] = {1, 3, 7, 9};
    run_both(m, x9, 1, near, 4, "nearest 3x3 to 2x2");
    model_free(m);

    /* nearest where (i + 0.5) * in / out is a whole number (30 -> 5: 3, 9, 15,
     * 21, 27; 7 -> 2: 1.75, 5.25): floor, not rounding */
    static const int sizes[][2] = {{30, 5}, {7, 2}, {5, 3}, {12, 9}, {9, 12}, {3, 10}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int in_n = sizes[s][0], out_n = sizes[s][1];
        m = td_model(in_n, 1, 1);
        td_resize(m, 0, out_n, 1, INTERP_NEAREST);
        td_finish(m, 1);
        float xs[30], want[30];
        for (int k = 0; k < in_n; k++)
            xs[k] = (float)k;
        for (int k = 0; k < out_n; k++) {
            int r = (int)floor((k + 0.5) * in_n / out_n);
            want[k] = (float)(r < in_n - 1 ? r : in_n - 1);
        }
        char what[64];
        snprintf(what, sizeof what, "nearest %d to %d", in_n, out_n);
        run_both(m, xs, 1, want, (size_t)out_n, what);
        model_free(m);
    }

    /* 3x3 -> 2x1 bilinear (down): s = (i + 0.5) * 1.5 - 0.5 = 0.25, 1.75 rows,
     * 1.0 column: rows 0.75 * r0 + 0.25 * r1 and 0.25 * r1 + 0.75 * r2 */
    m = td_model(3, 3, 1);
    td_resize(m, 0, 2, 1, INTERP_BILINEAR);
    td_finish(m, 1);
    const float down[2] = {0.75f * 2 + 0.25f * 5, 0.25f * 5 + 0.75f * 8};
    run_both(m, x9, 1, down, 2, "bilinear 3x3 to 2x1");
    model_free(m);

    /* CenterCrop 5x4 (2 channels) to 2x3: rows from (5 - 2) / 2 = 1, columns from 0 */
    m = td_model(5, 4, 2);
    int c = td_crop(m, 0, 2, 3);
    td_finish(m, 1);
    assert_int_equal(m->layers[c].out_h, 2);
    assert_int_equal(m->layers[c].out_w, 3);
    float x40[40], crop[12];
    for (int k = 0; k < 40; k++)
        x40[k] = (float)k;
    for (int yy = 0; yy < 2; yy++)
        for (int xx = 0; xx < 3; xx++)
            for (int ch = 0; ch < 2; ch++)
                crop[(yy * 3 + xx) * 2 + ch] = (float)(((yy + 1) * 4 + xx) * 2 + ch);
    run_both(m, x40, 1, crop, 12, "center crop");
    model_free(m);

    /* a crop larger than the input is refused, naming the layer */
    m = td_model(5, 4, 2);
    layer l = layer_template(LAYER_CENTER_CROP, "big", -1);
    l.size[0] = 6;
    l.size[1] = 2;
    l.inputs[0] = 0;
    l.n_inputs = 1;
    cd_err err;
    assert_true(model_add(m, &l, &err) >= 0);
    assert_int_not_equal(model_infer_shapes(m, &err), 0);
    assert_non_null(strstr(err.msg, "big"));
    model_free(m);
}

static void test_normalization_hand_values(void **state)
{
    (void)state;
    model *m = td_model(1, 2, 2);
    int k = td_add(m, layer_template(LAYER_NORMALIZATION, "n", -1), 0);
    td_finish(m, 1);
    layer *l = &m->layers[k];
    assert_int_equal(l->n_params, 3);
    assert_int_equal(l->params[2]->rank, 0);
    assert_int_equal(layer_trainable_params(l), 0);
    l->params[0]->data[0] = 1.0f, l->params[0]->data[1] = -2.0f;
    l->params[1]->data[0] = 4.0f, l->params[1]->data[1] = 0.0f; /* sqrt 0 < epsilon */
    const float x[4] = {3.0f, -2.0f, -1.0f, -1.5f};
    const float want[4] = {1.0f, 0.0f, -1.0f, 0.5f / 1e-7f};
    run_both(m, x, 1, want, 4, "normalization");
    model_free(m);
}

static void fill_normalization(model *m, int k, uint64_t seed)
{
    layer *l = &m->layers[k];
    td_fill(l->params[0]->data, l->params[0]->size, -0.5f, 0.5f, seed);
    td_fill(l->params[1]->data, l->params[1]->size, 0.2f, 3.0f, seed + 1);
}

static void test_dnnl_forward_equals_reference(void **state)
{
    (void)state;
    model *m = td_model(14, 11, 3);
    int nrm = td_add(m, layer_template(LAYER_NORMALIZATION, "n", -1), 0);
    int x = td_resize(m, nrm, 19, 8, INTERP_BILINEAR);
    x = td_sep(m, x, 6, 3, 2, 2, 1, PAD_SAME, ACT_RELU, 1);
    x = td_resize(m, x, 7, 11, INTERP_NEAREST);
    x = td_sep(m, x, 5, 3, 1, 1, 2, PAD_VALID, ACT_LINEAR, 0);
    x = td_crop(m, x, 2, 4);
    x = td_sep(m, x, 4, 1, 3, 1, 1, PAD_SAME, ACT_SIGMOID, 1);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 3, ACT_SOFTMAX, 1);
    td_finish(m, 3);
    fill_normalization(m, nrm, 8);
    td_compare_forward(m, 4, 3, 1, 0, 11);
    td_compare_forward(m, 4, 1, 2, 0, 12);
    model_free(m);
}

/* conv -> resize -> separable -> normalization -> centre crop -> separable ->
 * resize (nearest) -> flatten -> dense(2) */
static model *grad_model(int *first_sep)
{
    model *m = td_model(6, 5, 2);
    int x = td_conv(m, 0, 3, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
    x = td_resize(m, x, 9, 7, INTERP_BILINEAR);
    *first_sep = x = td_sep(m, x, 4, 3, 2, 2, 1, PAD_SAME, ACT_TANH, 1);
    int nrm = x = td_add(m, layer_template(LAYER_NORMALIZATION, "n", -1), x);
    x = td_crop(m, x, 3, 2);
    x = td_sep(m, x, 3, 2, 1, 1, 1, PAD_SAME, ACT_LINEAR, 0);
    x = td_resize(m, x, 4, 3, INTERP_NEAREST);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 9);
    fill_normalization(m, nrm, 30);
    return m;
}

static void test_gradients_finite_differences_and_dnnl(void **state)
{
    (void)state;
    int sep;
    model *m = grad_model(&sep);
    const int n = 2;
    float in[2 * 60], dy[4], y[4];
    td_fill(in, sizeof in / sizeof in[0], -1.0f, 1.0f, 4);
    td_fill(dy, 4, -1.0f, 1.0f, 5);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0), *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, in, n, y);
    td_forward(rd, in, n, y);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < layer_trainable_params(&m->layers[i]); p++) {
            const tensor *a = runner_param_grad(rd, i, p), *b = runner_param_grad(rr, i, p);
            if (!a || !b)
                fail_msg("layer %d parameter %d: no gradient (%s)", i, p, a ? "ref" : "dnnl");
            char what[64];
            snprintf(what, sizeof what, "gradient %d of layer %d", p, i);
            td_assert_close(what, a->data, b->data, b->size, 1e-4f);
        }
    /* finite differences of the reference: the first convolution's kernel
     * (through resize, separable, normalization, crop, separable, resize) and
     * every parameter of the first separable layer */
    runner *rf = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    const int checked[2] = {1, sep};
    for (int c = 0; c < 2; c++) {
        int i = checked[c];
        for (int p = 0; p < m->layers[i].n_params; p++) {
            tensor *a = m->layers[i].params[p];
            const tensor *g = runner_param_grad(rr, i, p);
            for (size_t k = 0; k < a->size; k++) {
                const float eps = 1e-2f, keep = a->data[k];
                a->data[k] = keep + eps;
                double lp = td_loss(rf, m, in, dy, n);
                a->data[k] = keep - eps;
                double lm = td_loss(rf, m, in, dy, n);
                a->data[k] = keep;
                double fd = (lp - lm) / (2.0 * eps);
                if (fabs(fd - g->data[k]) > 2e-3 + 2e-2 * fabs(fd))
                    fail_msg("param %d[%zu] of layer %d: gradient %.6g, finite differences %.6g",
                             p, k, i, (double)g->data[k], fd);
            }
        }
    }
    runner_free(rf);
    runner_free(rr);
    runner_free(rd);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_and_crop_hand_values),
        cmocka_unit_test(test_normalization_hand_values),
        cmocka_unit_test(test_dnnl_forward_equals_reference),
        cmocka_unit_test(test_gradients_finite_differences_and_dnnl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
