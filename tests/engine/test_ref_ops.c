/* tests/engine/test_ref_ops.c - every reference operator's backward pass (input
 * gradients, and kernel/bias gradients of Conv2D and Dense) against central
 * finite differences of its forward pass, on random shapes: odd sizes, SAME and
 * VALID padding, strides 1-3, pools 2 and 3.
 *
 * L = sum_i r_i * y_i with fixed random r.  eps = 1e-2 on inputs in [-1, 1];
 * tolerance 2e-2 relative + 2e-3 absolute, which float32 meets comfortably.
 * Entries where the one-sided differences disagree (a relu/max kink or a tie
 * within eps) must match the side without the kink, or are skipped (few). */
#include "test_util.h"

#include <math.h>

#include "engine/ref_ops.h"

static unsigned rnd = 4242;
static float frand(void)
{
    rnd = rnd * 1103515245u + 12345u;
    return (float)((rnd >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}
static int irand(int lo, int hi)
{
    rnd = rnd * 1103515245u + 12345u;
    return lo + (int)((rnd >> 8) % (unsigned)(hi - lo + 1));
}

typedef enum which { CONV_X, CONV_K, CONV_B, MAXPOOL, AVGPOOL, GAP, GMP, DENSE_X, DENSE_K,
                     DENSE_B, ACT, CONCAT, DROPOUT } which;

typedef struct op {
    which kind;
    ref_win w;
    layer_act act;
    layer_act_params ap;
    int n, in, units, rows, c, c2; /* dense / act / concat sizes */
    float *x, *k, *b, *mask, *other; /* fixed operands (the one under test is varied) */
    size_t nv, ny;                  /* sizes of the varied operand and of y */
} op;

/* y = op(v) where v is the varied operand. */
static void forward(const op *o, const float *v, float *y)
{
    switch (o->kind) {
    case CONV_X: ref_conv2d_forward(&o->w, v, o->k, o->b, y); break;
    case CONV_K: ref_conv2d_forward(&o->w, o->x, v, o->b, y); break;
    case CONV_B: ref_conv2d_forward(&o->w, o->x, o->k, v, y); break;
    case MAXPOOL: ref_maxpool_forward(&o->w, v, y); break;
    case AVGPOOL: ref_avgpool_forward(&o->w, v, y); break;
    case GAP: ref_global_avgpool_forward(o->n, o->w.ih * o->w.iw, o->w.ic, v, y); break;
    case GMP: ref_global_maxpool_forward(o->n, o->w.ih * o->w.iw, o->w.ic, v, y); break;
    case DENSE_X: ref_dense_forward(o->n, o->in, o->units, v, o->k, o->b, y); break;
    case DENSE_K: ref_dense_forward(o->n, o->in, o->units, o->x, v, o->b, y); break;
    case DENSE_B: ref_dense_forward(o->n, o->in, o->units, o->x, o->k, v, y); break;
    case ACT:
        memcpy(y, v, o->ny * sizeof *y);
        ref_act_forward(o->act, &o->ap, (size_t)o->rows, o->c, y);
        break;
    case CONCAT: /* v is the second input, placed after `other` */
        ref_concat_forward((size_t)o->rows, o->c, o->c + o->c2, 0, o->other, y);
        ref_concat_forward((size_t)o->rows, o->c2, o->c + o->c2, o->c, v, y);
        break;
    case DROPOUT: ref_mul(o->ny, v, o->mask, y); break;
    }
}

/* dv += dL/dv given dy (dv starts at zero). */
static void backward(const op *o, const float *v, const float *y, const float *dy, float *dv)
{
    float *dz;
    switch (o->kind) {
    case CONV_X: ref_conv2d_backward_data(&o->w, dy, o->k, dv); break;
    case CONV_K: ref_conv2d_backward_weights(&o->w, o->x, dy, dv, NULL); break;
    case CONV_B: {
        float *dk = calloc((size_t)o->w.kh * o->w.kw * o->w.ic * o->w.oc, sizeof *dk);
        ref_conv2d_backward_weights(&o->w, o->x, dy, dk, dv);
        free(dk);
        break;
    }
    case MAXPOOL: ref_maxpool_backward(&o->w, v, dy, dv); break;
    case AVGPOOL: ref_avgpool_backward(&o->w, dy, dv); break;
    case GAP: ref_global_avgpool_backward(o->n, o->w.ih * o->w.iw, o->w.ic, dy, dv); break;
    case GMP: ref_global_maxpool_backward(o->n, o->w.ih * o->w.iw, o->w.ic, v, dy, dv); break;
    case DENSE_X: ref_dense_backward_data(o->n, o->in, o->units, dy, o->k, dv); break;
    case DENSE_K: ref_dense_backward_weights(o->n, o->in, o->units, o->x, dy, dv, NULL); break;
    case DENSE_B: {
        float *dk = calloc((size_t)o->in * o->units, sizeof *dk);
        ref_dense_backward_weights(o->n, o->in, o->units, o->x, dy, dk, dv);
        free(dk);
        break;
    }
    case ACT:
        dz = malloc(o->ny * sizeof *dz);
        ref_act_backward(o->act, &o->ap, (size_t)o->rows, o->c, v, y, dy, dz);
        ref_acc(o->ny, dz, dv);
        free(dz);
        break;
    case CONCAT: ref_concat_backward((size_t)o->rows, o->c2, o->c + o->c2, o->c, dy, dv); break;
    case DROPOUT: ref_mul_acc(o->ny, dy, o->mask, dv); break;
    }
}

static double loss(const op *o, const float *v, const float *r, float *y)
{
    forward(o, v, y);
    double l = 0.0;
    for (size_t i = 0; i < o->ny; i++)
        l += (double)r[i] * y[i];
    return l;
}

static int close(double a, double b)
{
    return fabs(a - b) <= 2e-2 * fmax(fabs(a), fabs(b)) + 2e-3;
}

/* Checks every entry of the varied operand; returns the number of skipped ones. */
static int check(const op *o, const char *what)
{
    const float eps = 1e-2f;
    float *v = malloc(o->nv * sizeof *v), *dv = calloc(o->nv, sizeof *dv);
    float *y = malloc(o->ny * sizeof *y), *r = malloc(o->ny * sizeof *r);
    assert_true(v && dv && y && r);
    for (size_t i = 0; i < o->nv; i++)
        v[i] = frand();
    for (size_t i = 0; i < o->ny; i++)
        r[i] = frand();
    forward(o, v, y);
    backward(o, v, y, r, dv);
    int skipped = 0;
    for (size_t j = 0; j < o->nv; j++) {
        float keep = v[j];
        double l0 = loss(o, v, r, y);
        v[j] = keep + eps;
        double lp = loss(o, v, r, y);
        v[j] = keep - eps;
        double lm = loss(o, v, r, y);
        v[j] = keep;
        double dp = (lp - l0) / eps, dm = (l0 - lm) / eps, num = (lp - lm) / (2.0 * eps);
        if (fabs(dp - dm) > 0.05 * fmax(fabs(dp), fabs(dm)) + 5e-3) {
            if (!close(dv[j], dp) && !close(dv[j], dm))
                skipped++;
            continue;
        }
        if (!close(dv[j], num))
            fail_msg("%s [%zu of %zu]: analytic %.6g, numeric %.6g", what, j, o->nv,
                     (double)dv[j], num);
    }
    if (skipped > (int)o->nv / 10 + 1)
        fail_msg("%s: %d of %zu entries on kinks", what, skipped, o->nv);
    free(v);
    free(dv);
    free(y);
    free(r);
    return skipped;
}

static float *rand_buf(size_t n)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* A random window geometry that TF's rules accept; a convolution's also has
 * random groups (1 to 3, sometimes depthwise) and dilation (1 or 2). */
static ref_win rand_win(int conv, layer_pad *pad_out)
{
    ref_win w = {0};
    for (;;) {
        w.n = irand(1, 2);
        w.ih = irand(1, 8);
        w.iw = irand(1, 8);
        w.kh = irand(1, 3);
        w.kw = irand(1, 3);
        w.sh = irand(1, 3);
        w.sw = irand(1, 3);
        w.g = conv ? irand(1, 3) : 0;
        w.ic = conv ? w.g * irand(1, 2) : irand(1, 3);
        w.dh = conv ? irand(1, 2) : 0;
        w.dw = conv ? irand(1, 2) : 0;
        int ekh = (w.kh - 1) * (w.dh ? w.dh : 1) + 1, ekw = (w.kw - 1) * (w.dw ? w.dw : 1) + 1;
        layer_pad pad = irand(0, 1) ? PAD_SAME : PAD_VALID;
        if (pad == PAD_VALID && (w.ih < ekh || w.iw < ekw))
            continue;
        w.oh = pad == PAD_SAME ? (w.ih + w.sh - 1) / w.sh : (w.ih - ekh) / w.sh + 1;
        w.ow = pad == PAD_SAME ? (w.iw + w.sw - 1) / w.sw : (w.iw - ekw) / w.sw + 1;
        w.oc = conv ? w.g * irand(1, 2) : w.ic;
        ref_win_pads(&w, pad);
        *pad_out = pad;
        return w;
    }
}

static size_t win_in(const ref_win *w) { return (size_t)w->n * w->ih * w->iw * w->ic; }
static size_t win_out(const ref_win *w) { return (size_t)w->n * w->oh * w->ow * w->oc; }

static void test_conv2d_gradients_random_shapes(void **state)
{
    (void)state;
    for (int t = 0; t < 30; t++) {
        layer_pad pad;
        op o = {0};
        o.w = rand_win(1, &pad);
        size_t nk = (size_t)o.w.kh * o.w.kw * (o.w.ic / o.w.g) * o.w.oc;
        o.x = rand_buf(win_in(&o.w));
        o.k = rand_buf(nk);
        o.b = rand_buf((size_t)o.w.oc);
        o.ny = win_out(&o.w);
        o.kind = CONV_X;
        o.nv = win_in(&o.w);
        check(&o, "conv2d dx");
        o.kind = CONV_K;
        o.nv = nk;
        check(&o, "conv2d dk");
        o.kind = CONV_B;
        o.nv = (size_t)o.w.oc;
        check(&o, "conv2d db");
        free(o.x);
        free(o.k);
        free(o.b);
    }
}

static void test_pool_gradients_random_shapes(void **state)
{
    (void)state;
    /* its own stream: the shapes do not depend on what the conv test drew
     * (a maxpool tie just under the kink threshold fails the 2e-3 tolerance) */
    rnd = 99;
    int skipped = 0;
    for (int t = 0; t < 40; t++) {
        layer_pad pad;
        op o = {0};
        o.w = rand_win(0, &pad);
        o.nv = win_in(&o.w);
        o.ny = win_out(&o.w);
        o.kind = MAXPOOL;
        skipped += check(&o, "maxpool dx");
        o.kind = AVGPOOL;
        check(&o, "avgpool dx");
    }
    /* the shapes that matter most: pool 3 stride 2 valid (SqueezeNet), 2/2 same */
    op o = {.kind = MAXPOOL, .w = {.n = 1, .ih = 7, .iw = 7, .ic = 2, .oh = 3, .ow = 3, .oc = 2,
                                   .kh = 3, .kw = 3, .sh = 2, .sw = 2}};
    o.nv = win_in(&o.w);
    o.ny = win_out(&o.w);
    check(&o, "maxpool 3/2");
    o.w = (ref_win){.n = 1, .ih = 5, .iw = 3, .ic = 2, .oh = 3, .ow = 2, .oc = 2, .kh = 2, .kw = 2,
                    .sh = 2, .sw = 2};
    ref_win_pads(&o.w, PAD_SAME);
    o.nv = win_in(&o.w);
    o.ny = win_out(&o.w);
    o.kind = AVGPOOL;
    check(&o, "avgpool 2/2 same");
    assert_true(skipped < 20);
}

static void test_global_pool_gradients(void **state)
{
    (void)state;
    for (int t = 0; t < 10; t++) {
        op o = {0};
        o.n = irand(1, 3);
        o.w.ih = irand(1, 5);
        o.w.iw = irand(1, 5);
        o.w.ic = irand(1, 4);
        o.nv = (size_t)o.n * o.w.ih * o.w.iw * o.w.ic;
        o.ny = (size_t)o.n * o.w.ic;
        o.kind = GAP;
        check(&o, "global avgpool dx");
        o.kind = GMP;
        check(&o, "global maxpool dx");
    }
}

static void test_dense_gradients(void **state)
{
    (void)state;
    for (int t = 0; t < 10; t++) {
        op o = {0};
        o.n = irand(1, 3);
        o.in = irand(1, 9);
        o.units = irand(1, 5);
        o.x = rand_buf((size_t)o.n * o.in);
        o.k = rand_buf((size_t)o.in * o.units);
        o.b = rand_buf((size_t)o.units);
        o.ny = (size_t)o.n * o.units;
        o.kind = DENSE_X;
        o.nv = (size_t)o.n * o.in;
        check(&o, "dense dx");
        o.kind = DENSE_K;
        o.nv = (size_t)o.in * o.units;
        check(&o, "dense dk");
        o.kind = DENSE_B;
        o.nv = (size_t)o.units;
        check(&o, "dense db");
        free(o.x);
        free(o.k);
        free(o.b);
    }
}

static void test_activation_gradients(void **state)
{
    (void)state;
    for (int a = 0; a < ACT_COUNT; a++) {
        op o = {.kind = ACT, .act = (layer_act)a, .rows = 6, .c = 5};
        o.ap = layer_act_defaults(o.act);
        o.nv = o.ny = 30;
        check(&o, layer_act_name(o.act));
    }
    /* the parametrised ones away from their defaults: each clause of Keras'
     * ReLU (slope, clip, threshold) inside the inputs' range [-1, 1] */
    const layer_act_params ps[] = {{0.1f, -1.0f, 0.0f}, {0.3f, 0.5f, 0.0f},
                                   {0.0f, 0.8f, 0.3f}, {0.2f, -1.0f, -0.4f},
                                   {0.25f, 0.7f, 0.2f}};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        op o = {.kind = ACT, .act = ACT_RELU_X, .ap = ps[k], .rows = 6, .c = 5};
        o.nv = o.ny = 30;
        check(&o, "relu_x");
    }
    op e = {.kind = ACT, .act = ACT_ELU, .ap = {.alpha = 0.4f, .max_value = -1.0f}, .rows = 4,
            .c = 5};
    e.nv = e.ny = 20;
    check(&e, "elu alpha 0.4");
}

static void test_concat_and_dropout_gradients(void **state)
{
    (void)state;
    op o = {.kind = CONCAT, .rows = 7, .c = 3, .c2 = 4};
    o.other = rand_buf(21);
    o.nv = 28;
    o.ny = 49;
    check(&o, "concat dx");
    free(o.other);

    uint64_t s = 5;
    op d = {.kind = DROPOUT};
    d.nv = d.ny = 200;
    d.mask = malloc(200 * sizeof *d.mask);
    ref_dropout_mask(200, 0.3f, &s, d.mask);
    int zeros = 0;
    for (int i = 0; i < 200; i++) {
        zeros += d.mask[i] == 0.0f;
        assert_true(d.mask[i] == 0.0f || fabsf(d.mask[i] - 1.0f / 0.7f) < 1e-6f);
    }
    assert_true(zeros > 35 && zeros < 85);
    check(&d, "dropout dx");
    free(d.mask);
}

/* Backward functions add into their outputs: a layer with two consumers sums. */
static void test_backward_accumulates(void **state)
{
    (void)state;
    ref_win w = {.n = 1, .ih = 3, .iw = 3, .ic = 1, .oh = 3, .ow = 3, .oc = 1, .kh = 3, .kw = 3,
                 .sh = 1, .sw = 1};
    ref_win_pads(&w, PAD_SAME);
    assert_int_equal(w.pt, 1);
    float k[9], dy[9], dx[9], once[9];
    for (int i = 0; i < 9; i++) {
        k[i] = frand();
        dy[i] = frand();
        once[i] = 0.0f;
    }
    ref_conv2d_backward_data(&w, dy, k, once);
    for (int i = 0; i < 9; i++)
        dx[i] = 1.0f;
    ref_conv2d_backward_data(&w, dy, k, dx);
    for (int i = 0; i < 9; i++)
        assert_true(fabsf(dx[i] - (1.0f + once[i])) < 1e-6f);
    /* 3x3 kernel, SAME, 3x3 input, dy = 1: dx[centre] = sum of the kernel */
    for (int i = 0; i < 9; i++) {
        dy[i] = 1.0f;
        dx[i] = 0.0f;
    }
    ref_conv2d_backward_data(&w, dy, k, dx);
    float sum = 0.0f;
    for (int i = 0; i < 9; i++)
        sum += k[i];
    assert_true(fabsf(dx[4] - sum) < 1e-5f);
    /* input (0,0) meets taps (0..1, 0..1): outputs (0,0), (0,1), (1,0), (1,1) */
    assert_true(fabsf(dx[0] - (k[0] + k[1] + k[3] + k[4])) < 1e-5f);
}

/* Depthwise (groups = channels), dilation 2, by hand: a 2x2 kernel dilated to
 * 3x3 over a 3x3 input meets its corners only, each channel its own kernel. */
static void test_depthwise_dilated_conv_by_hand(void **state)
{
    (void)state;
    ref_win w = {.n = 1, .ih = 3, .iw = 3, .ic = 2, .oh = 1, .ow = 1, .oc = 2, .kh = 2, .kw = 2,
                 .sh = 1, .sw = 1, .g = 2, .dh = 2, .dw = 2};
    ref_win_pads(&w, PAD_VALID);
    float x[18], k[8], b[2] = {0.5f, -1.0f}, y[2];
    for (int i = 0; i < 18; i++)
        x[i] = (float)(i + 1);       /* pixel p, channel c: 2p + c + 1 */
    for (int i = 0; i < 8; i++)
        k[i] = (float)(i % 3) - 0.5f; /* (ky, kx, 0, c) at (2 ky + kx) * 2 + c */
    ref_conv2d_forward(&w, x, k, b, y);
    static const int corner[4] = {0, 2, 6, 8};   /* pixels the taps (ky, kx) land on */
    for (int c = 0; c < 2; c++) {
        float want = b[c];
        for (int t = 0; t < 4; t++)
            want += x[corner[t] * 2 + c] * k[t * 2 + c];
        assert_true(fabsf(y[c] - want) < 1e-5f);
    }
    /* SAME with dilation: the padding is that of the 3x3 span (1 before). */
    ref_win s = w;
    s.oh = 3;
    s.ow = 3;
    ref_win_pads(&s, PAD_SAME);
    assert_int_equal(s.pt, 1);
    assert_int_equal(s.pl, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise_dilated_conv_by_hand),
        cmocka_unit_test(test_conv2d_gradients_random_shapes),
        cmocka_unit_test(test_pool_gradients_random_shapes),
        cmocka_unit_test(test_global_pool_gradients),
        cmocka_unit_test(test_dense_gradients),
        cmocka_unit_test(test_activation_gradients),
        cmocka_unit_test(test_concat_and_dropout_gradients),
        cmocka_unit_test(test_backward_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
