/* tests/train/test_loss.c - cross-entropy from logits: values, stability at large
 * logits, gradients by central finite differences (in double), and the metrics
 * (accuracy, rank-based ROC AUC with ties). */
#include "test_util.h"

#include <math.h>

#include "train/loss.h"
#include "train/metrics.h"

static void test_bce_matches_definition(void **state)
{
    (void)state;
    float z[3] = {0.0f, 2.0f, -1.5f}, y[3] = {1.0f, 0.0f, 1.0f};
    double want = 0.0;
    for (int i = 0; i < 3; i++) {
        double p = 1.0 / (1.0 + exp(-z[i]));
        want += -(y[i] * log(p) + (1 - y[i]) * log(1 - p));
    }
    assert_float_equal(loss_bce_logits(z, y, 3, NULL), want / 3, 1e-9);
}

static void test_bce_is_finite_for_huge_logits(void **state)
{
    (void)state;
    float z[2] = {200.0f, -200.0f}, y[2] = {0.0f, 1.0f}, g[2];
    double l = loss_bce_logits(z, y, 2, g);
    assert_true(isfinite(l));
    assert_float_equal(l, 200.0, 1e-6);
    assert_float_equal(g[0], 0.5f, 1e-7);
    assert_float_equal(g[1], -0.5f, 1e-7);
    assert_float_equal(loss_sigmoid(-200.0f), 0.0f, 1e-30);
    assert_float_equal(loss_sigmoid(200.0f), 1.0f, 0);
}

static void test_bce_gradient_by_finite_differences(void **state)
{
    (void)state;
    float z[4] = {0.3f, -2.0f, 4.0f, -0.1f}, y[4] = {1.0f, 0.0f, 0.0f, 1.0f}, g[4];
    loss_bce_logits(z, y, 4, g);
    for (int i = 0; i < 4; i++) {
        const float h = 1e-2f;
        float zp[4], zm[4];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += h;
        zm[i] -= h;
        double fd = (loss_bce_logits(zp, y, 4, NULL) - loss_bce_logits(zm, y, 4, NULL)) / (2.0 * h);
        assert_float_equal(g[i], fd, 1e-5);
    }
}

static void test_cce_value_and_gradient(void **state)
{
    (void)state;
    float z[6] = {1.0f, 2.0f, 0.5f, -3.0f, 0.0f, 3.0f};
    float y[6] = {0, 1, 0, 1, 0, 0};
    float g[6];
    double l = loss_cce_logits(z, y, 2, 3, g);
    double l0 = -(2.0 - log(exp(1.0) + exp(2.0) + exp(0.5)));
    double l1 = -(-3.0 - log(exp(-3.0) + exp(0.0) + exp(3.0)));
    assert_float_equal(l, (l0 + l1) / 2, 1e-6);
    for (int i = 0; i < 6; i++) {
        const float h = 1e-2f;
        float zp[6], zm[6];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += h;
        zm[i] -= h;
        double fd = (loss_cce_logits(zp, y, 2, 3, NULL) - loss_cce_logits(zm, y, 2, 3, NULL)) / (2.0 * h);
        assert_float_equal(g[i], fd, 1e-4);
    }
    /* gradients of each row sum to zero (softmax - one-hot) */
    assert_float_equal(g[0] + g[1] + g[2], 0.0f, 1e-6);
    /* stable with huge logits */
    float zb[3] = {1000.0f, -1000.0f, 0.0f}, yb[3] = {0, 1, 0};
    assert_true(isfinite(loss_cce_logits(zb, yb, 1, 3, NULL)));
}

static void test_accuracy_thresholds(void **state)
{
    (void)state;
    float p[4] = {0.9f, 0.2f, 0.6f, 0.4f}, y[4] = {1, 0, 0, 0};
    assert_float_equal(metrics_binary_accuracy(p, y, 4, 0.5f), 0.75, 1e-12);
    float z[4] = {2.0f, -1.0f, 0.1f, -0.3f};
    assert_int_equal(metrics_binary_correct(z, y, 4, 0.0f), 3);
    float s[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f};
    int lab[2] = {1, 2};
    assert_float_equal(metrics_categorical_accuracy(s, lab, 2, 3), 0.5, 1e-12);
}

static void test_auc_ranks_with_ties(void **state)
{
    (void)state;
    cd_err err;
    double auc;
    /* perfect separation */
    float s1[4] = {0.1f, 0.2f, 0.8f, 0.9f}, y1[4] = {0, 0, 1, 1};
    assert_int_equal(metrics_roc_auc(s1, y1, 4, &auc, &err), 0);
    assert_float_equal(auc, 1.0, 1e-12);
    /* reversed */
    float y2[4] = {1, 1, 0, 0};
    assert_int_equal(metrics_roc_auc(s1, y2, 4, &auc, &err), 0);
    assert_float_equal(auc, 0.0, 1e-12);
    /* by hand: pos {0.8, 0.5}, neg {0.5, 0.3, 0.9}: pairs won 0.8>0.5,0.8>0.3, 0.5=0.5 (half),
     * 0.5>0.3 -> (2 + 1.5) / 6 */
    float s3[5] = {0.8f, 0.5f, 0.5f, 0.3f, 0.9f}, y3[5] = {1, 1, 0, 0, 0};
    assert_int_equal(metrics_roc_auc(s3, y3, 5, &auc, &err), 0);
    assert_float_equal(auc, 3.5 / 6.0, 1e-12);
    /* all scores equal: 0.5 */
    float s4[4] = {1, 1, 1, 1};
    assert_int_equal(metrics_roc_auc(s4, y1, 4, &auc, &err), 0);
    assert_float_equal(auc, 0.5, 1e-12);
    /* one class only: an error, not a number */
    float y5[4] = {1, 1, 1, 1};
    assert_int_equal(metrics_roc_auc(s1, y5, 4, &auc, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
}

/* The epoch means weigh each batch by its size: a last partial batch counts
 * for what it holds, not as a full one. */
static void test_tally_weighs_batches_by_size(void **state)
{
    (void)state;
    metrics_tally t = {0};
    assert_true(isnan(metrics_tally_loss(&t)));
    assert_true(isnan(metrics_tally_accuracy(&t)));
    metrics_tally_add(&t, 0.5, 32, 24); /* a full batch */
    metrics_tally_add(&t, 2.0, 8, 2);   /* the last, partial one */
    assert_float_equal(metrics_tally_loss(&t), (0.5 * 32 + 2.0 * 8) / 40.0, 1e-12);
    assert_float_equal(metrics_tally_accuracy(&t), 26.0 / 40.0, 1e-12);
}

/* Keras: BinaryCrossentropy(label_smoothing=0.2) on labels 1, 0 trains
 * against 0.9 and 0.1; CategoricalCrossentropy(label_smoothing=0.3) with 3
 * classes against 0.8 and 0.1. */
static void test_label_smoothing_targets_by_hand(void **state)
{
    (void)state;
    float t[3] = {1.0f, 0.0f, 0.5f};
    loss_smooth_targets(t, 3, 1, 0.2f);
    assert_float_equal(t[0], 0.9f, 1e-7);
    assert_float_equal(t[1], 0.1f, 1e-7);
    assert_float_equal(t[2], 0.5f, 1e-7);
    float y[2] = {2.0f, 0.0f}, oh[6];
    loss_onehot(y, 2, 3, oh);
    loss_smooth_targets(oh, 2, 3, 0.3f);
    const float want[6] = {0.1f, 0.1f, 0.8f, 0.8f, 0.1f, 0.1f};
    for (int i = 0; i < 6; i++)
        assert_float_equal(oh[i], want[i], 1e-7);
    /* 0 leaves targets as they are. */
    float u[2] = {1.0f, 0.0f};
    loss_smooth_targets(u, 2, 1, 0.0f);
    assert_true(u[0] == 1.0f && u[1] == 0.0f);
}

/* With smoothed targets the loss is no longer minimal at z = +-inf: its
 * gradient, sigmoid(z) - t, matches central differences of the loss (in
 * double), and vanishes where sigmoid(z) = t. */
static void test_smoothed_bce_gradient_by_finite_differences(void **state)
{
    (void)state;
    float y[5] = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f}, z[5] = {0.3f, -2.0f, 4.0f, -0.1f, 0.0f}, g[5];
    loss_smooth_targets(y, 5, 1, 0.1f);
    /* sigmoid(z) = 0.95 at z = log(0.95 / 0.05): the smoothed target. */
    z[4] = (float)log(0.95 / 0.05);
    loss_bce_logits(z, y, 5, g);
    for (int i = 0; i < 5; i++) {
        const float h = 1e-2f;
        float zp[5], zm[5];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += h;
        zm[i] -= h;
        double fd = (loss_bce_logits(zp, y, 5, NULL) - loss_bce_logits(zm, y, 5, NULL)) / (2.0 * h);
        assert_float_equal(g[i], fd, 1e-5);
    }
    assert_float_equal(g[4], 0.0f, 1e-7);
    /* Smoothed CCE, 2 rows of 3. */
    float lab[2] = {1.0f, 2.0f}, t[6], zc[6] = {1.0f, 2.0f, 0.5f, -3.0f, 0.0f, 3.0f}, gc[6];
    loss_onehot(lab, 2, 3, t);
    loss_smooth_targets(t, 2, 3, 0.2f);
    loss_cce_logits(zc, t, 2, 3, gc);
    for (int i = 0; i < 6; i++) {
        const float h = 1e-2f;
        float zp[6], zm[6];
        memcpy(zp, zc, sizeof zc);
        memcpy(zm, zc, sizeof zc);
        zp[i] += h;
        zm[i] -= h;
        double fd = (loss_cce_logits(zp, t, 2, 3, NULL) - loss_cce_logits(zm, t, 2, 3, NULL)) / (2.0 * h);
        assert_float_equal(gc[i], fd, 1e-5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bce_matches_definition),
        cmocka_unit_test(test_bce_is_finite_for_huge_logits),
        cmocka_unit_test(test_bce_gradient_by_finite_differences),
        cmocka_unit_test(test_label_smoothing_targets_by_hand),
        cmocka_unit_test(test_smoothed_bce_gradient_by_finite_differences),
        cmocka_unit_test(test_cce_value_and_gradient),
        cmocka_unit_test(test_accuracy_thresholds),
        cmocka_unit_test(test_auc_ranks_with_ties),
        cmocka_unit_test(test_tally_weighs_batches_by_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
