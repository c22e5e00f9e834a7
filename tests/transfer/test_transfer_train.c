/* tests/transfer/test_transfer_train.c - the transfer training run end to end
 * on a few hundred shared photos: it learns (validation and test accuracy far
 * above chance), its shipped file composes back into a model whose
 * probabilities on the test photos give the accuracy the run reported, a second
 * run reuses the feature cache and fine-tunes the last Fire module, and it beats the from-scratch binary CNN
 * trained on the same photos for as many epochs (a count, not a wall-clock
 * budget: the outcome must not depend on how busy the machine is).  Skips
 * without ../shared. */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "modelfile/keras.h"
#include "predict/predictor.h"
#include "train/train.h"
#include "transfer/transfer_model.h"
#include "transfer/transfer_train.h"

#define SIZE 150
/* Epochs of the transfer head, and of the from-scratch CNN it is compared with. */
#define EPOCHS 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* DIR/{train,validation,test}/{cats,dogs} as links to shared photos:
 * 120 + 50 + 60 of each class, from the end of the numbering. */
static void make_split(const char *shared, const char *dir)
{
    static const int counts[3] = {120, 50, 60};
    test_make_split(shared, dir, 7999, counts, 3);
}

/* Accuracy of m (taken over) through the predictor on the 120 test photos. */
static float predictor_accuracy(model *m, const char *shared)
{
    cd_err err;
    predictor *pr = predictor_new(m, NULL, &err);
    assert_non_null(pr);
    predictor_session *ps = predictor_session_new(pr, 1, &err);
    assert_non_null(ps);
    int correct = 0, n = 0;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 60; i++) {
            char path[4400];
            snprintf(path, sizeof path, "%s/data/dogs-vs-cats/train/%s.%d.jpg", shared,
                     c ? "dog" : "cat", 7999 - 170 - i);
            size_t len = 0;
            unsigned char *bytes = test_read_file(path, &len);
            assert_non_null(bytes);
            prediction pd;
            if (predictor_classify(ps, bytes, len, &pd, &err) != 0)
                fail_msg("%s", err.msg);
            correct += pd.label == c;
            n++;
            free(bytes);
        }
    assert_int_equal(n, 120);
    predictor_session_free(ps);
    predictor_free(pr);
    return (float)correct / (float)n;
}

static void test_transfer_learns_and_beats_scratch_training(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char cwd[2048], dir[2200], data[2300], out[2300], cache[2300], scratch[2300], ft_out[2300];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s/transfer_tmp_train_%d", cwd, (int)getpid());
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "%s/transfer.h5", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(scratch, sizeof scratch, "%s/binary.h5", dir);
    snprintf(ft_out, sizeof ft_out, "%s/transfer_ft.h5", dir);
    make_split(shared, data);
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
             shared);

    train_opts o;
    train_opts_defaults(&o);
    o.data_dir = data;
    o.out_path = out;
    o.img_size = SIZE;
    o.epochs = EPOCHS;
    o.batch = 32;
    o.threads = 2;
    o.seed = 3;
    augment_opts flip = {0};
    flip.horizontal_flip = 1;
    o.augment = &flip;
    transfer_opts t;
    transfer_opts_defaults(&t);
    t.weights_path = weights;
    t.cache_dir = cache;
    cd_err err;
    transfer_result r;
    double t0 = now_s();
    if (transfer_train(&o, &t, &r, &err) != 0)
        fail_msg("transfer_train: %s", err.msg);
    double transfer_seconds = now_s() - t0;
    assert_int_equal(r.extracted_images, 240 * 2 + 100 + 120 * 2);
    assert_int_equal(r.train.test_n, 120);
    assert_true(r.train.best_epoch >= 1);
    assert_true(r.train.best_val_accuracy > 0.8);
    assert_true(r.train.test_accuracy > 0.8);
    assert_true(r.train.test_auc > 0.85);
    assert_true(r.test_accuracy_tta > 0.8);
    struct stat st;
    assert_int_equal(stat(r.train.history_path, &st), 0);
    assert_int_equal(stat(r.train.svg_path, &st), 0);

    /* The shipped file composes into a model that, through the predictor
     * (decode, resize, caffe, forward), gets the reported test accuracy. */
    transfer_load_opts lo = {.weights_path = weights};
    model *m = transfer_load(out, &lo, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_true(fabs(m->test_accuracy - r.train.test_accuracy) < 1e-9);
    float acc0 = predictor_accuracy(m, shared);
    fprintf(stderr, "predictor %.4f, run %.4f\n", acc0, r.train.test_accuracy);
    /* (a photo right at 0.5 may fall either way between batch sizes) */
    assert_true(fabs(acc0 - r.train.test_accuracy) < 1.5 / 120);

    /* A second run takes every feature from the cache, then fine-tunes fire9
     * with the head from the photos; whichever it keeps, the shipped file
     * composes into a model that gets the reported test accuracy. */
    o.epochs = 2;
    o.out_path = ft_out;
    t.fine_tune = 1;
    t.fine_tune_epochs = 1;
    t.fine_tune_lr = 3e-4f;
    transfer_result r2;
    if (transfer_train(&o, &t, &r2, &err) != 0)
        fail_msg("transfer_train (cached, fine-tuned): %s", err.msg);
    assert_int_equal(r2.extracted_images, 0);
    assert_true(r2.finetune_seconds > 0);
    assert_int_equal(r2.train.epochs_done, 3);
    transfer_meta meta;
    assert_int_equal(transfer_file_probe(ft_out, &meta, &err), 1);
    assert_string_equal(meta.cut, r2.finetune_best_epoch > 0 ? "fire8/concat" : "fire9/concat");
    model *fm = transfer_load(ft_out, &lo, &err);
    if (!fm)
        fail_msg("%s", err.msg);
    assert_true(model_find(fm, "fire9/expand3x3") >= 0);
    assert_int_equal(fm->layers[model_find(fm, "fire9/expand3x3")].trainable, r2.finetune_best_epoch > 0);
    assert_string_equal(fm->layers[model_find(fm, "fire9/expand3x3")].scope, "squeezenet");
    float acc = predictor_accuracy(fm, shared);
    fprintf(stderr, "fine-tuning %s: predictor %.4f, run %.4f\n",
            r2.finetune_best_epoch > 0 ? "kept" : "discarded", acc, r2.train.test_accuracy);
    assert_true(fabs(acc - r2.train.test_accuracy) < 1.5 / 120);
    t.fine_tune = 0;

    /* The from-scratch CNN on the same photos, for as many epochs. */
    train_opts b;
    train_opts_defaults(&b);
    b.data_dir = data;
    b.out_path = scratch;
    b.arch = "binary";
    b.img_size = SIZE;
    b.epochs = EPOCHS;
    b.batch = 32;
    b.threads = 2;
    b.seed = 3;
    b.augment = &flip;
    double scratch_t0 = now_s();
    train_result br;
    if (train_run(&b, &br, &err) != 0)
        fail_msg("train_run: %s", err.msg);
    assert_int_equal(br.epochs_done, EPOCHS);
    assert_true(br.best_epoch >= 1);
    model *bm = keras_load(scratch, &err);
    assert_non_null(bm);
    char test_dir[2400];
    snprintf(test_dir, sizeof test_dir, "%s/test", data);
    train_eval be;
    if (train_evaluate(bm, test_dir, 32, RUNNER_DNNL, 2, 0, &be, &err) != 0)
        fail_msg("%s", err.msg);
    fprintf(stderr, "transfer: %.1f s, test accuracy %.3f; binary from scratch: %.1f s (%d epochs), "
            "test accuracy %.3f\n",
            transfer_seconds, r.train.test_accuracy, now_s() - scratch_t0, br.epochs_done, be.accuracy);
    assert_true(r.train.test_accuracy > be.accuracy);
    model_free(bm);

    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_refuses_what_a_feature_cache_cannot_do(void **state)
{
    (void)state;
    train_opts o;
    train_opts_defaults(&o);
    o.data_dir = "/nonexistent";
    o.out_path = "/tmp/x.h5";
    transfer_opts t;
    transfer_opts_defaults(&t);
    transfer_result r;
    cd_err err;
    augment_opts rot = {0};
    rot.rotation_range = 20;
    o.augment = &rot;
    assert_int_equal(transfer_train(&o, &t, &r, &err), -1);
    assert_non_null(strstr(err.msg, "flip"));
    o.augment = NULL;
    t.backbone = "resnet";
    assert_int_equal(transfer_train(&o, &t, &r, &err), -1);
    assert_non_null(strstr(err.msg, "resnet"));
    t.backbone = "squeezenet";
    assert_int_equal(transfer_train(&o, &t, &r, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_what_a_feature_cache_cannot_do),
        cmocka_unit_test(test_transfer_learns_and_beats_scratch_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
