/* tests/engine/test_dnnl_forward.c - the oneDNN backend's inference forward
 * against the plain-C reference: every layer kind, valid/same padding with odd
 * sizes and strides (asymmetric SAME padding), batch 1 and > 1, batches smaller
 * than the runner's maximum, intermediate activations, output logits, thread
 * counts and runners used from several threads at once; plus a few
 * hand-computed values that do not depend on the reference. */
#include "test_dnnl_common.h"

#include <pthread.h>

/* A 3x3 input through a 2x2 kernel of ones, SAME, stride 2: TF pads one pixel
 * at the end only, so the four outputs are sums of the windows starting at
 * (0,0), (0,2), (2,0), (2,2). */
static void test_conv_same_stride2_hand_computed(void **state)
{
    (void)state;
    model *m = td_model(3, 3, 1);
    int c = td_conv(m, 0, 1, 2, 2, 2, 2, PAD_SAME, ACT_LINEAR, 1);
    td_finish(m, 1);
    for (int i = 0; i < 4; i++)
        m->layers[c].params[0]->data[i] = 1.0f;
    m->layers[c].params[1]->data[0] = 0.5f;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    runner *r = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0);
    td_forward(r, x, 1, y);
    const float want[4] = {1 + 2 + 4 + 5 + 0.5f, 3 + 6 + 0.5f, 7 + 8 + 0.5f, 9 + 0.5f};
    td_assert_close("conv", y, want, 4, 1e-6f);
    runner_free(r);
    model_free(m);
}

/* Average pooling 2x2 SAME on 3x3 excludes the padding (Keras): the corner
 * window holds one pixel and averages to it. */
static void test_avgpool_excludes_padding_hand_computed(void **state)
{
    (void)state;
    model *m = td_model(3, 3, 1);
    td_pool(m, 0, LAYER_AVGPOOL2D, 2, 2, 2, 2, PAD_SAME);
    td_finish(m, 1);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    runner *r = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0);
    td_forward(r, x, 1, y);
    const float want[4] = {3.0f, 4.5f, 7.5f, 9.0f};
    td_assert_close("avgpool", y, want, 4, 1e-6f);
    runner_free(r);
    model_free(m);
}

/* Dense after Flatten reads NHWC order: a kernel selecting input (h=1,w=0,c=1)
 * of a 2x2x2 map, i.e. Keras flat index (1*2+0)*2+1 = 5. */
static void test_flatten_dense_order_hand_computed(void **state)
{
    (void)state;
    model *m = td_model(2, 2, 2);
    int f = td_simple(m, 0, LAYER_FLATTEN);
    int d = td_dense(m, f, 1, ACT_LINEAR, 0);
    td_finish(m, 1);
    memset(m->layers[d].params[0]->data, 0, 8 * sizeof(float));
    m->layers[d].params[0]->data[5] = 1.0f;
    float x[8], y[1];
    for (int i = 0; i < 8; i++)
        x[i] = (float)(10 * i);
    runner *r = td_runner(m, RUNNER_DNNL, 1, 0, 1, 0);
    td_forward(r, x, 1, y);
    assert_true(y[0] == 50.0f);
    runner_free(r);
    model_free(m);
}

static void test_conv_shapes_match_reference(void **state)
{
    (void)state;
    static const struct {
        int h, w, c, f, kh, kw, sh, sw;
        layer_pad pad;
        layer_act act;
        int bias;
    } cases[] = {
        {7, 9, 3, 5, 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1},
        {7, 9, 3, 5, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1},
        {13, 11, 4, 16, 3, 3, 2, 2, PAD_SAME, ACT_RELU, 0},
        {13, 11, 4, 17, 5, 3, 2, 3, PAD_SAME, ACT_TANH, 1},
        {10, 10, 16, 32, 4, 4, 3, 3, PAD_SAME, ACT_SIGMOID, 1},
        {12, 8, 8, 24, 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1},
        {9, 9, 32, 16, 2, 2, 2, 2, PAD_VALID, ACT_LINEAR, 1},
        {15, 15, 3, 32, 3, 3, 2, 2, PAD_VALID, ACT_RELU, 1},
        {6, 5, 5, 7, 3, 3, 1, 1, PAD_SAME, ACT_SOFTMAX, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        td_conv(m, 0, cases[k].f, cases[k].kh, cases[k].kw, cases[k].sh, cases[k].sw, cases[k].pad,
                cases[k].act, cases[k].bias);
        td_finish(m, 10 + k);
        td_compare_forward(m, 1, 1, 1, 0, 100 + k);
        td_compare_forward(m, 3, 3, 2, 0, 200 + k);
        model_free(m);
    }
}

/* Grouped, depthwise and dilated convolutions: oneDNN's grouped weights read
 * the same HWIO buffer as the reference (groups, dilation h, w). */
static void test_grouped_dilated_conv_matches_reference(void **state)
{
    (void)state;
    static const struct {
        int h, w, c, f, kh, kw, sh, sw, g, dh, dw;
        layer_pad pad;
        layer_act act;
    } cases[] = {
        {9, 9, 8, 8, 3, 3, 1, 1, 8, 1, 1, PAD_SAME, ACT_RELU},    /* depthwise */
        {12, 10, 6, 12, 3, 3, 2, 2, 6, 1, 1, PAD_SAME, ACT_LINEAR}, /* depthwise x2 */
        {11, 9, 8, 12, 3, 3, 1, 1, 4, 1, 1, PAD_VALID, ACT_RELU}, /* 4 groups */
        {13, 13, 4, 6, 3, 3, 1, 1, 1, 2, 2, PAD_SAME, ACT_RELU},  /* dilated */
        {14, 12, 6, 6, 3, 2, 2, 1, 3, 2, 3, PAD_VALID, ACT_TANH}, /* both */
        {16, 16, 32, 32, 3, 3, 1, 1, 32, 2, 2, PAD_SAME, ACT_LINEAR},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        int c = td_conv(m, 0, cases[k].f, cases[k].kh, cases[k].kw, cases[k].sh, cases[k].sw,
                        cases[k].pad, cases[k].act, 1);
        m->layers[c].groups = cases[k].g;
        m->layers[c].dilation[0] = cases[k].dh;
        m->layers[c].dilation[1] = cases[k].dw;
        td_finish(m, 30 + k);
        assert_int_equal(m->layers[c].params[0]->dims[2], cases[k].c / cases[k].g);
        td_compare_forward(m, 1, 1, 1, 0, 300 + k);
        td_compare_forward(m, 3, 3, 2, 0, 400 + k);
        model_free(m);
    }
}

static void test_pooling_matches_reference(void **state)
{
    (void)state;
    static const struct {
        int h, w, c;
        layer_kind kind;
        int ph, pw, sh, sw;
        layer_pad pad;
    } cases[] = {
        {8, 8, 16, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID},
        {9, 7, 5, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID},
        {9, 7, 5, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_SAME},
        {13, 13, 32, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID},
        {11, 10, 3, LAYER_MAXPOOL2D, 3, 2, 1, 2, PAD_SAME},
        {9, 7, 5, LAYER_AVGPOOL2D, 2, 2, 2, 2, PAD_SAME},
        {11, 10, 16, LAYER_AVGPOOL2D, 3, 3, 2, 2, PAD_SAME},
        {11, 10, 16, LAYER_AVGPOOL2D, 3, 3, 3, 3, PAD_VALID},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = td_model(cases[k].h, cases[k].w, cases[k].c);
        /* a convolution first, so pooling also sees oneDNN's blocked layout */
        int c = td_conv(m, 0, cases[k].c, 1, 1, 1, 1, PAD_VALID, ACT_LINEAR, 1);
        td_pool(m, c, cases[k].kind, cases[k].ph, cases[k].pw, cases[k].sh, cases[k].sw,
                cases[k].pad);
        td_finish(m, 20 + k);
        td_compare_forward(m, 2, 2, 1, 0, 300 + k);
        model_free(m);

        m = td_model(cases[k].h, cases[k].w, cases[k].c); /* straight on the NHWC input */
        td_pool(m, 0, cases[k].kind, cases[k].ph, cases[k].pw, cases[k].sh, cases[k].sw,
                cases[k].pad);
        td_finish(m, 30 + k);
        td_compare_forward(m, 1, 1, 1, 0, 400 + k);
        model_free(m);
    }
}

static void test_global_pools_dense_softmax_match_reference(void **state)
{
    (void)state;
    layer_kind kinds[2] = {LAYER_GLOBAL_AVGPOOL2D, LAYER_GLOBAL_MAXPOOL2D};
    for (int k = 0; k < 2; k++) {
        model *m = td_model(9, 7, 3);
        int c = td_conv(m, 0, 20, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int g = td_simple(m, c, kinds[k]);
        int d = td_dense(m, g, 10, ACT_RELU, 1);
        d = td_dropout(m, d, 0.5f);
        td_dense(m, d, 4, ACT_SOFTMAX, 1);
        td_finish(m, 40 + k);
        td_compare_forward(m, 4, 4, 2, 0, 500 + k);
        td_compare_forward(m, 4, 4, 2, 1, 510 + k); /* logits */
        model_free(m);
    }
}

/* The seed's binary CNN shape (3 x conv3x3 relu + maxpool 2, Flatten, Dense 64
 * relu, Dropout, Dense 1 sigmoid) at a small input size. */
static model *binary_like(int size)
{
    model *m = td_model(size, size, 3);
    int x = 0, f[3] = {32, 32, 64};
    for (int k = 0; k < 3; k++) {
        x = td_conv(m, x, f[k], 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1);
        x = td_pool(m, x, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
    }
    x = td_simple(m, x, LAYER_FLATTEN);
    x = td_dense(m, x, 64, ACT_RELU, 1);
    x = td_dropout(m, x, 0.5f);
    td_dense(m, x, 1, ACT_SIGMOID, 1);
    td_finish(m, 50);
    return m;
}

static void test_binary_cnn_matches_reference(void **state)
{
    (void)state;
    model *m = binary_like(37);
    td_compare_forward(m, 1, 1, 0, 0, 600);
    td_compare_forward(m, 5, 5, 0, 0, 601);
    td_compare_forward(m, 5, 2, 0, 1, 602); /* n < max_batch, logits */
    model_free(m);
}

/* A Fire module (squeeze 1x1 feeding expand 1x1 and 3x3 SAME, concatenated),
 * channel counts both block-aligned and not. */
static void test_fire_concat_matches_reference(void **state)
{
    (void)state;
    int sq[2] = {16, 5}, ex[2] = {32, 7};
    for (int k = 0; k < 2; k++) {
        model *m = td_model(11, 11, 8);
        int s = td_conv(m, 0, sq[k], 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
        int a = td_conv(m, s, ex[k], 1, 1, 1, 1, PAD_VALID, ACT_RELU, 1);
        int b = td_conv(m, s, ex[k], 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        int in[2] = {a, b};
        int c = td_concat(m, 2, in);
        td_pool(m, c, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID);
        td_finish(m, 60 + k);
        td_compare_forward(m, 2, 2, 0, 0, 700 + k);
        td_compare_forward(m, 2, 1, 0, 0, 710 + k);
        model_free(m);
    }
}

/* Concatenating vectors: a global pool, a flattened map and a dense output. */
static void test_vector_concat_matches_reference(void **state)
{
    (void)state;
    model *m = td_model(6, 5, 3);
    int c = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    int g = td_simple(m, c, LAYER_GLOBAL_AVGPOOL2D);
    int p = td_pool(m, c, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
    int f = td_simple(m, p, LAYER_FLATTEN);
    int d = td_dense(m, f, 9, ACT_TANH, 1);
    int in[3] = {g, f, d};
    int cat = td_concat(m, 3, in);
    td_dense(m, cat, 3, ACT_LINEAR, 1);
    td_finish(m, 70);
    td_compare_forward(m, 3, 3, 0, 0, 800);
    model_free(m);
}

static void test_activation_layers_match_reference(void **state)
{
    (void)state;
    layer_act acts[5] = {ACT_LINEAR, ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTMAX};
    for (int k = 0; k < 5; k++) {
        /* on a blocked map, on a flattened map and on a vector */
        model *m = td_model(5, 4, 3);
        int c = td_conv(m, 0, 6, 3, 3, 1, 1, PAD_SAME, ACT_LINEAR, 1);
        int a = td_act(m, c, acts[k]);
        int f = td_simple(m, a, LAYER_FLATTEN);
        int b = td_act(m, f, acts[k]);
        int d = td_dense(m, b, 5, ACT_LINEAR, 1);
        td_act(m, d, acts[k]);
        td_finish(m, 80 + k);
        td_compare_forward(m, 2, 2, 0, 0, 900 + k);
        model_free(m);
    }
}

/* One runner used for batch sizes 1..max in turn (each gets its own plan; more
 * sizes than the plan cache holds) gives the reference's answers every time. */
static void test_varying_batch_sizes(void **state)
{
    (void)state;
    model *m = binary_like(24);
    const int max = 7;
    size_t in1 = td_in_size(m);
    float *x = malloc(in1 * max * sizeof *x);
    float y1[7], y2[7];
    assert_non_null(x);
    td_fill(x, in1 * max, 0.0f, 1.0f, 5);
    runner *rd = td_runner(m, RUNNER_DNNL, max, 0, 0, 0);
    runner *rr = td_runner(m, RUNNER_REF, max, 0, 1, 0);
    for (int round = 0; round < 2; round++)
        for (int n = 1; n <= max; n++) {
            td_forward(rd, x, n, y1);
            td_forward(rr, x, n, y2);
            td_assert_close("output", y1, y2, (size_t)n, TD_TOL);
        }
    cd_err err;
    assert_int_equal(runner_forward(rd, x, max + 1, y1, &err), -1);
    runner_free(rd);
    runner_free(rr);
    free(x);
    model_free(m);
}

/* After the parameters change and runner_params_changed, outputs follow. */
static void test_params_changed_refreshes_weights(void **state)
{
    (void)state;
    model *m = binary_like(24);
    size_t in1 = td_in_size(m);
    float *x = malloc(in1 * sizeof *x), y1, y2, y0;
    assert_non_null(x);
    td_fill(x, in1, 0.0f, 1.0f, 6);
    runner *rd = td_runner(m, RUNNER_DNNL, 1, 0, 1, 1);
    td_forward(rd, x, 1, &y0);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++)
            for (size_t j = 0; j < m->layers[i].params[k]->size; j++)
                m->layers[i].params[k]->data[j] *= 1.5f;
    runner_params_changed(rd);
    td_forward(rd, x, 1, &y1);
    runner *rr = td_runner(m, RUNNER_REF, 1, 0, 1, 1);
    td_forward(rr, x, 1, &y2);
    td_assert_close("output after change", &y1, &y2, 1, TD_TOL);
    assert_true(fabsf(y1 - y0) > 1e-4f);
    runner_free(rd);
    runner_free(rr);
    free(x);
    model_free(m);
}

static void test_threads_option(void **state)
{
    (void)state;
    model *m = binary_like(30);
    for (int t = 0; t <= 3; t++)
        td_compare_forward(m, 2, 2, t, 0, 1000 + t);
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = -1};
    assert_null(runner_new(m, 1, &o, &err));
    model_free(m);
}

typedef struct td_job {
    const model *m;
    const float *x;
    float y[4];
    int threads;
    int ok;
    char msg[CD_ERR_MSG_MAX];
} td_job;

static void *td_worker(void *arg)
{
    td_job *j = arg;
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = j->threads};
    runner *r = runner_new(j->m, 4, &o, &err);
    j->ok = 0;
    if (!r) {
        snprintf(j->msg, sizeof j->msg, "%s", err.msg);
        return NULL;
    }
    for (int it = 0; it < 5; it++)
        if (runner_forward(r, j->x, 4, j->y, &err) != 0) {
            snprintf(j->msg, sizeof j->msg, "%s", err.msg);
            runner_free(r);
            return NULL;
        }
    runner_free(r);
    j->ok = 1;
    return NULL;
}

/* Runners in several threads at once, each with its own thread count (the web
 * server's pattern), all give the reference's answers. */
static void test_runners_in_parallel_threads(void **state)
{
    (void)state;
    model *m = binary_like(26);
    size_t in1 = td_in_size(m);
    float *x = malloc(in1 * 4 * sizeof *x), want[4];
    assert_non_null(x);
    td_fill(x, in1 * 4, 0.0f, 1.0f, 8);
    runner *rr = td_runner(m, RUNNER_REF, 4, 0, 1, 0);
    td_forward(rr, x, 4, want);
    runner_free(rr);
    td_job jobs[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        memset(&jobs[k], 0, sizeof jobs[k]);
        jobs[k].m = m;
        jobs[k].x = x;
        jobs[k].threads = 1 + k % 2;
        assert_int_equal(pthread_create(&th[k], NULL, td_worker, &jobs[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0);
        if (!jobs[k].ok)
            fail_msg("worker %d: %s", k, jobs[k].msg);
        td_assert_close("parallel output", jobs[k].y, want, 4, TD_TOL);
    }
    free(x);
    model_free(m);
}

/* A model whose output is an intermediate layer: later layers are not run. */
static void test_intermediate_output(void **state)
{
    (void)state;
    model *m = binary_like(22);
    m->output = 4; /* the second max pooling */
    td_compare_forward(m, 2, 2, 1, 0, 1100);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_same_stride2_hand_computed),
        cmocka_unit_test(test_avgpool_excludes_padding_hand_computed),
        cmocka_unit_test(test_flatten_dense_order_hand_computed),
        cmocka_unit_test(test_conv_shapes_match_reference),
        cmocka_unit_test(test_grouped_dilated_conv_matches_reference),
        cmocka_unit_test(test_pooling_matches_reference),
        cmocka_unit_test(test_global_pools_dense_softmax_match_reference),
        cmocka_unit_test(test_binary_cnn_matches_reference),
        cmocka_unit_test(test_fire_concat_matches_reference),
        cmocka_unit_test(test_vector_concat_matches_reference),
        cmocka_unit_test(test_activation_layers_match_reference),
        cmocka_unit_test(test_varying_batch_sizes),
        cmocka_unit_test(test_params_changed_refreshes_weights),
        cmocka_unit_test(test_threads_option),
        cmocka_unit_test(test_runners_in_parallel_threads),
        cmocka_unit_test(test_intermediate_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
