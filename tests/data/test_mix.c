/*
 * test_mix.c - mixup and cutmix (data/mix.h): for a drawn lambda the mixed
 * batch is l x_i + (1 - l) x_{n-1-i} element by element and so are its
 * targets (k = 1 and one-hot rows); cutmix's box lies in the image, holds the
 * partner's pixels (everything outside it the sample's own) and its area sets
 * lambda; the middle sample of an odd batch stays; the dominant label flips
 * to the partner's below 1/2; the same (seed, epoch, step) gives the same
 * draw and batch, another step another; Beta(a, a) has its mean 1/2 and
 * variance 1 / (4 (2a + 1)) over many steps (a < 1 and a > 1), and with both
 * options about half the batches are cutmix.
 */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/mix.h"

#define N 5
#define H 6
#define W 7
#define C 3
#define IMG (H * W * C)

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)(seed >> 16) / 65536.0f;
    }
}

static void test_mixup_is_the_formula(void **state)
{
    (void)state;
    mix_opts o = {0.4f, 0.0f};
    mix_draw d;
    mix_draw_batch(&o, 7, 2, 11, H, W, &d);
    assert_int_equal(d.kind, MIX_MIXUP);
    assert_true(d.lam >= 0.0f && d.lam <= 1.0f);
    float x[N * IMG], x0[N * IMG];
    fill(x, N * IMG, 1);
    memcpy(x0, x, sizeof x);
    mix_images(x, N, H, W, C, &d);
    for (int i = 0; i < N; i++) {
        int j = N - 1 - i;
        for (int e = 0; e < IMG; e++) {
            float want = d.lam * x0[i * IMG + e] + (1.0f - d.lam) * x0[j * IMG + e];
            assert_float_equal(x[i * IMG + e], want, 1e-6);
        }
    }
    /* the middle of an odd batch is its own partner */
    assert_memory_equal(x + 2 * IMG, x0 + 2 * IMG, IMG * sizeof(float));

    /* targets: P(dog) for k = 1 ... */
    float y[N] = {1, 0, 1, 1, 0}, t[N];
    memcpy(t, y, sizeof t);
    mix_targets(t, N, 1, &d);
    for (int i = 0; i < N; i++)
        assert_float_equal(t[i], d.lam * y[i] + (1.0f - d.lam) * y[N - 1 - i], 1e-6);
    /* ... and one-hot rows for k = 3 */
    float oh[N * 3] = {0};
    int cls[N] = {0, 2, 1, 1, 2};
    for (int i = 0; i < N; i++)
        oh[i * 3 + cls[i]] = 1.0f;
    mix_targets(oh, N, 3, &d);
    for (int i = 0; i < N; i++) {
        float sum = 0.0f;
        for (int k = 0; k < 3; k++) {
            float want = d.lam * (cls[i] == k) + (1.0f - d.lam) * (cls[N - 1 - i] == k);
            assert_float_equal(oh[i * 3 + k], want, 1e-6);
            sum += oh[i * 3 + k];
        }
        assert_float_equal(sum, 1.0, 1e-6);
    }
}

static void test_cutmix_box_sets_the_weight(void **state)
{
    (void)state;
    mix_opts o = {0.0f, 1.0f};
    int boxes = 0;
    for (long long step = 1; step <= 40; step++) {
        mix_draw d;
        mix_draw_batch(&o, 3, 0, step, H, W, &d);
        assert_int_equal(d.kind, MIX_CUTMIX);
        assert_true(0 <= d.y0 && d.y0 <= d.y1 && d.y1 <= H);
        assert_true(0 <= d.x0 && d.x0 <= d.x1 && d.x1 <= W);
        double area = (double)(d.y1 - d.y0) * (d.x1 - d.x0);
        assert_float_equal(d.lam, 1.0 - area / (H * W), 1e-6);
        boxes += area > 0;
        float x[N * IMG], x0[N * IMG];
        fill(x, N * IMG, (unsigned)step);
        memcpy(x0, x, sizeof x);
        mix_images(x, N, H, W, C, &d);
        for (int i = 0; i < N; i++)
            for (int r = 0; r < H; r++)
                for (int q = 0; q < W; q++)
                    for (int ch = 0; ch < C; ch++) {
                        int in = r >= d.y0 && r < d.y1 && q >= d.x0 && q < d.x1;
                        int from = in ? N - 1 - i : i;
                        size_t e = ((size_t)r * W + q) * C + ch;
                        assert_true(x[i * IMG + e] == x0[from * IMG + e]);
                    }
    }
    assert_true(boxes >= 30); /* Beta(1, 1): an empty box only when lam is near 1 */
}

static void test_dominant_label(void **state)
{
    (void)state;
    float y[4] = {0, 1, 1, 1}, out[4];
    mix_draw d = {MIX_MIXUP, 0.3f, 0, 0, 0, 0};
    mix_dominant_labels(y, 4, &d, out);
    float partner[4] = {1, 1, 1, 0};
    assert_memory_equal(out, partner, sizeof out);
    d.lam = 0.5f;
    mix_dominant_labels(y, 4, &d, out);
    assert_memory_equal(out, y, sizeof out);
}

static void test_same_seed_same_batch(void **state)
{
    (void)state;
    mix_opts o = {0.2f, 1.0f};
    mix_draw a, b, c;
    mix_draw_batch(&o, 42, 3, 17, H, W, &a);
    mix_draw_batch(&o, 42, 3, 17, H, W, &b);
    assert_memory_equal(&a, &b, sizeof a);
    float x1[N * IMG], x2[N * IMG];
    fill(x1, N * IMG, 9);
    memcpy(x2, x1, sizeof x1);
    mix_images(x1, N, H, W, C, &a);
    mix_images(x2, N, H, W, C, &b);
    assert_memory_equal(x1, x2, sizeof x1);
    /* another step, epoch or seed draws anew */
    mix_draw_batch(&o, 42, 3, 18, H, W, &c);
    assert_true(c.lam != a.lam || c.kind != a.kind);
    mix_draw_batch(&o, 42, 4, 17, H, W, &c);
    assert_true(c.lam != a.lam || c.kind != a.kind);
    mix_draw_batch(&o, 43, 3, 17, H, W, &c);
    assert_true(c.lam != a.lam || c.kind != a.kind);
    /* off: nothing */
    mix_opts off = {0, 0};
    assert_false(mix_enabled(&off));
    mix_draw_batch(&off, 42, 3, 17, H, W, &c);
    assert_int_equal(c.kind, MIX_NONE);
    assert_float_equal(c.lam, 1.0, 0);
}

/* Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)), over 20,000 steps. */
static void check_beta(float a)
{
    mix_opts o = {a, 0.0f};
    const int n = 20000;
    double s = 0, s2 = 0;
    for (int i = 1; i <= n; i++) {
        mix_draw d;
        mix_draw_batch(&o, 5, 0, i, H, W, &d);
        assert_true(d.lam >= 0.0f && d.lam <= 1.0f);
        s += d.lam;
        s2 += (double)d.lam * d.lam;
    }
    double mean = s / n, var = s2 / n - mean * mean, want = 1.0 / (4.0 * (2.0 * a + 1.0));
    /* standard errors: mean sqrt(var / n) < 0.004; variance well under 3 % */
    assert_float_equal(mean, 0.5, 0.012);
    assert_float_equal(var / want, 1.0, 0.04);
}

static void test_beta_moments(void **state)
{
    (void)state;
    check_beta(0.2f);
    check_beta(1.0f);
    check_beta(3.0f);
    /* a tiny alpha: weights pile up at 0 and 1, still finite */
    mix_opts o = {0.01f, 0.0f};
    for (int i = 1; i <= 200; i++) {
        mix_draw d;
        mix_draw_batch(&o, 1, 0, i, H, W, &d);
        assert_true(d.lam >= 0.0f && d.lam <= 1.0f);
    }
}

static void test_both_pick_half_and_half(void **state)
{
    (void)state;
    mix_opts o = {0.2f, 1.0f};
    int cut = 0;
    for (int i = 1; i <= 2000; i++) {
        mix_draw d;
        mix_draw_batch(&o, 8, 1, i, H, W, &d);
        assert_true(d.kind == MIX_MIXUP || d.kind == MIX_CUTMIX);
        cut += d.kind == MIX_CUTMIX;
    }
    assert_in_range(cut, 900, 1100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixup_is_the_formula),
        cmocka_unit_test(test_cutmix_box_sets_the_weight),
        cmocka_unit_test(test_dominant_label),
        cmocka_unit_test(test_same_seed_same_batch),
        cmocka_unit_test(test_beta_moments),
        cmocka_unit_test(test_both_pick_half_and_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
