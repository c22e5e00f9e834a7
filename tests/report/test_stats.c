/* tests/report/test_stats.c - the report's numbers (report/stats.h) against
 * values computed by hand and, on 500 scored photos with many ties, against an
 * independent NumPy computation (/usr/bin/python3) that shares no method with
 * the C code: AUC as the mean over all (dog, cat) pairs of [dog above] + 1/2
 * [tie] (scikit-learn's roc_auc_score), AP as the mean over dogs of the
 * precision at that dog's score (average_precision_score), ECE from
 * np.floor-binned means. */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "report/stats.h"

/* scikit-learn's own documentation example: roc_auc_score = 0.75,
 * average_precision_score = 0.8333.  By hand: pairs (dog, cat) with the dog
 * above: 0.35>0.1, 0.8>0.1, 0.8>0.4 = 3 of 4.  Ranked 0.8 (dog), 0.4 (cat),
 * 0.35 (dog), 0.1 (cat): recall steps 1/2 at precision 1, 1/2 at 2/3. */
static void test_auc_and_ap_of_the_scikit_learn_example(void **state)
{
    (void)state;
    float p[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    int y[4] = {0, 0, 1, 1};
    stats_curve roc, pr;
    cd_err err;
    assert_int_equal(stats_roc(p, y, 4, &roc, &err), 0);
    assert_int_equal(stats_pr(p, y, 4, &pr, &err), 0);
    assert_float_equal(roc.area, 0.75, 1e-12);
    assert_float_equal(pr.area, 0.5 * 1 + 0.5 * 2.0 / 3.0, 1e-12);
    /* ROC points: (0,0), (0,.5), (.5,.5), (.5,1), (1,1). */
    double rx[5] = {0, 0, 0.5, 0.5, 1}, ry[5] = {0, 0.5, 0.5, 1, 1};
    assert_int_equal(roc.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_float_equal(roc.x[i], rx[i], 1e-12);
        assert_float_equal(roc.y[i], ry[i], 1e-12);
    }
    stats_curve_free(&roc);
    stats_curve_free(&pr);
}

/* Tied scores cross the threshold together.  Dogs 0.9, 0.6; cats 0.6, 0.2:
 * pairs 1 + 1 + 1/2 (the tie) + 1 = 3.5 of 4.  PR: at 0.9 recall 1/2
 * precision 1; at 0.6 recall 1 precision 2/3 (the tied cat counts): AP =
 * 1/2 + 1/3.  All four tied: AUC 1/2, one PR point (1, 1/2), AP 1/2. */
static void test_ties_count_one_half(void **state)
{
    (void)state;
    float p[4] = {0.9f, 0.6f, 0.6f, 0.2f};
    int y[4] = {1, 1, 0, 0};
    stats_curve roc, pr;
    cd_err err;
    assert_int_equal(stats_roc(p, y, 4, &roc, &err), 0);
    assert_int_equal(stats_pr(p, y, 4, &pr, &err), 0);
    assert_float_equal(roc.area, 0.875, 1e-12);
    assert_float_equal(pr.area, 0.5 + 1.0 / 3.0, 1e-12);
    assert_int_equal(roc.n, 4); /* (0,0), (0,.5), (.5,1), (1,1): the tie is one diagonal step */
    assert_float_equal(roc.x[2], 0.5, 1e-12);
    assert_float_equal(roc.y[2], 1.0, 1e-12);
    stats_curve_free(&roc);
    stats_curve_free(&pr);

    float q[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    int z[4] = {0, 1, 0, 1};
    assert_int_equal(stats_roc(q, z, 4, &roc, &err), 0);
    assert_int_equal(stats_pr(q, z, 4, &pr, &err), 0);
    assert_float_equal(roc.area, 0.5, 1e-12);
    assert_int_equal(pr.n, 1);
    assert_float_equal(pr.x[0], 1.0, 1e-12);
    assert_float_equal(pr.y[0], 0.5, 1e-12);
    assert_float_equal(pr.area, 0.5, 1e-12);
    stats_curve_free(&roc);
    stats_curve_free(&pr);
}

static void test_one_class_is_refused(void **state)
{
    (void)state;
    float p[3] = {0.2f, 0.7f, 0.9f};
    int dogs[3] = {1, 1, 1}, cats[3] = {0, 0, 0};
    stats_curve c;
    cd_err err;
    assert_int_equal(stats_roc(p, dogs, 3, &c, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "both classes"));
    assert_int_equal(stats_pr(p, cats, 3, &c, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    /* Dogs only: PR is defined (precision 1 everywhere). */
    assert_int_equal(stats_pr(p, dogs, 3, &c, &err), 0);
    assert_float_equal(c.area, 1.0, 1e-12);
    stats_curve_free(&c);
}

/* Five photos in five bins: |frac - mean| = .05 (0.05, cat), .85 (0.15, dog),
 * .45 (0.55, dog), .85 (0.85, cat), .05 (0.95, dog): ECE = 2.25 / 5.  P(dog)
 * = 1 belongs to the last bin. */
static void test_ece_and_bins_by_hand(void **state)
{
    (void)state;
    float p[6] = {0.05f, 0.15f, 0.55f, 0.85f, 0.95f, 1.0f};
    int y[6] = {0, 1, 1, 0, 1, 1};
    stats_calibration c;
    stats_calibrate(p, y, 5, &c);
    assert_float_equal(c.ece, 0.45, 1e-6);
    assert_int_equal(c.count[0], 1);
    assert_int_equal(c.count[2], 0);
    assert_true(isnan(c.mean_p[2]) && isnan(c.frac_dog[2]));
    assert_float_equal(c.frac_dog[1], 1.0, 0);
    assert_float_equal(c.mean_p[8], 0.85, 1e-6);
    stats_calibrate(p + 5, y + 5, 1, &c);
    assert_int_equal(c.count[STATS_CAL_BINS - 1], 1);
    assert_float_equal(c.ece, 0.0, 1e-12);
    stats_calibrate(p, y, 0, &c);
    assert_true(isnan(c.ece));
}

static void test_size_and_orientation_groups(void **state)
{
    (void)state;
    assert_int_equal(stats_size_group(500, 149), STATS_SIZE_UNDER_150);
    assert_int_equal(stats_size_group(150, 150), STATS_SIZE_150_249);
    assert_int_equal(stats_size_group(200, 200), STATS_SIZE_150_249);
    assert_int_equal(stats_size_group(500, 375), STATS_SIZE_350_449);
    assert_int_equal(stats_size_group(499, 450), STATS_SIZE_450_UP);
    assert_int_equal(stats_orientation(100, 105), STATS_SQUARE);
    assert_int_equal(stats_orientation(105, 100), STATS_SQUARE);
    assert_int_equal(stats_orientation(100, 106), STATS_PORTRAIT);
    assert_int_equal(stats_orientation(500, 375), STATS_LANDSCAPE);
    assert_string_equal(stats_orientation_name(STATS_PORTRAIT), "portrait");
    assert_string_equal(stats_size_group_name(STATS_SIZE_UNDER_150), "under 150 px");
}

/* 500 photos, scores on a grid of 1/32 (exact in float, many ties), labels
 * leaning with the score; NumPy computes the expectations from the same file. */
static void test_matches_numpy_on_500_tied_scores(void **state)
{
    (void)state;
    enum { N = 500 };
    float p[N];
    int y[N];
    unsigned long long s = 2026;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((s >> 33) % 33); /* 0..32 */
        p[i] = (float)k / 32.0f;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        y[i] = (double)((s >> 33) % 1000) / 1000.0 < 0.2 + 0.6 * p[i];
    }
    char path[] = "/tmp/catdog-test-stats-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int i = 0; i < N; i++)
        fprintf(f, "%.9g %d\n", (double)p[i], y[i]);
    assert_int_equal(fclose(f), 0);
    static const char py[] =
        "import sys, numpy as np\n"
        "d = np.loadtxt(sys.argv[1]); p, y = d[:, 0], d[:, 1].astype(int)\n"
        "pos, neg = p[y == 1], p[y == 0]\n"
        "auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))\n"
        "ap = np.mean([((p >= t) & (y == 1)).sum() / (p >= t).sum() for t in pos])\n"
        "b = np.minimum(np.floor(p * 10).astype(int), 9)\n"
        "ece = sum((b == k).sum() / len(p) * abs(y[b == k].mean() - p[b == k].mean()) for k in range(10) if (b == k).any())\n"
        "print('%.12f %.12f %.12f' % (auc, ap, ece))\n";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"$(cat <<'PY'\n%sPY\n)\" %s", py, path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    double auc, ap, ece;
    int got = fscanf(pp, "%lf %lf %lf", &auc, &ap, &ece);
    int rc = pclose(pp);
    unlink(path);
    if (got != 3 || rc != 0)
        fail_msg("/usr/bin/python3 with NumPy gave no expectations (exit %d); scripts/install-deps.sh installs "
                 "python3-numpy", rc);
    stats_curve roc, pr;
    stats_calibration cal;
    cd_err err;
    assert_int_equal(stats_roc(p, y, N, &roc, &err), 0);
    assert_int_equal(stats_pr(p, y, N, &pr, &err), 0);
    stats_calibrate(p, y, N, &cal);
    printf("   numpy: AUC %.6f AP %.6f ECE %.6f; catdog: %.6f %.6f %.6f\n", auc, ap, ece, roc.area, pr.area, cal.ece);
    assert_float_equal(roc.area, auc, 1e-9);
    assert_float_equal(pr.area, ap, 1e-9);
    assert_float_equal(cal.ece, ece, 1e-9);
    assert_int_equal(roc.n, 33 + 1); /* one point per distinct score, plus (0, 0) */
    assert_true(auc > 0.6 && auc < 0.95); /* the example is neither trivial nor random */
    stats_curve_free(&roc);
    stats_curve_free(&pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_and_ap_of_the_scikit_learn_example),
        cmocka_unit_test(test_ties_count_one_half),
        cmocka_unit_test(test_one_class_is_refused),
        cmocka_unit_test(test_ece_and_bins_by_hand),
        cmocka_unit_test(test_size_and_orientation_groups),
        cmocka_unit_test(test_matches_numpy_on_500_tied_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
