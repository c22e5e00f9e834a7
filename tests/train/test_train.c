/* tests/train/test_train.c - the training loop end to end on 100 photos from
 * ../shared at 64x64: the training loss falls and the network learns the photos
 * it is shown (far above chance on them; a hundred photos and a few seconds are
 * too little for this CNN to generalise, which the shipped model's run shows
 * instead); resuming
 * at an epoch boundary gives the same weights as an uninterrupted run; a stop
 * request saves a resumable checkpoint; bad inputs fail before training with
 * clear messages.  Skips when ../shared is absent. */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/arch.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "train/history.h"
#include "train/train.h"

#define N_TRAIN 30 /* per class */
#define N_VAL 20   /* per class */

static char g_root[256];
static runner_backend g_backend = RUNNER_DNNL;

/* oneDNN, the backend catdog trains with (CATDOG_TRAIN_BACKEND=ref|dnnl forces
 * one).  A oneDNN training path that cannot be set up is a failure of this
 * test, not a reason to quietly test the reference instead: returns -1 then,
 * with the reason on stderr. */
static int pick_backend(runner_backend *out)
{
    const char *env = getenv("CATDOG_TRAIN_BACKEND");
    if (env && strcmp(env, "ref") == 0) {
        *out = RUNNER_REF;
        return 0;
    }
    cd_err err;
    model *m = arch_binary(64, &err);
    if (!m) {
        fprintf(stderr, "FAIL: arch_binary: %s\n", err.msg);
        return -1;
    }
    runner_opts ro = {0};
    ro.backend = RUNNER_DNNL;
    ro.training = 1;
    ro.output_logits = 1;
    runner *r = runner_new(m, 2, &ro, &err);
    const int ok = r != NULL;
    if (!ok)
        fprintf(stderr, "FAIL: oneDNN training runner: %s\n", err.msg);
    runner_free(r);
    model_free(m);
    *out = RUNNER_DNNL;
    return ok ? 0 : -1;
}

static void mkdirs(const char *p)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", p);
    for (char *s = buf + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(buf, 0755);
            *s = '/';
        }
    mkdir(buf, 0755);
}

/* DIR/{train,validation}/{cats,dogs} linking to the shared photos. */
static int make_dataset(const char *shared)
{
    snprintf(g_root, sizeof g_root, "/tmp/catdog_test_train_%d", (int)getpid());
    const char *cls[2] = {"cat", "dog"};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < N_TRAIN + N_VAL; i++) {
            char dir[512], src[512], dst[600];
            snprintf(dir, sizeof dir, "%s/data/%s/%ss", g_root, i < N_TRAIN ? "train" : "validation", cls[c]);
            mkdirs(dir);
            snprintf(src, sizeof src, "%s/data/dogs-vs-cats/train/%s.%d.jpg", shared, cls[c], i);
            snprintf(dst, sizeof dst, "%s/%s.%d.jpg", dir, cls[c], i);
            if (symlink(src, dst) != 0)
                return -1;
        }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *shared = test_shared_dir();
    if (!shared)
        return 0;
    if (pick_backend(&g_backend) != 0)
        return -1;
    fprintf(stderr, "training backend: %s\n", g_backend == RUNNER_DNNL ? "oneDNN" : "reference");
    return make_dataset(shared);
}

static int teardown(void **state)
{
    (void)state;
    if (g_root[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static void small_opts(train_opts *o, const char *out)
{
    static char data[300];
    snprintf(data, sizeof data, "%s/data", g_root);
    train_opts_defaults(o);
    o->data_dir = data;
    o->out_path = out;
    o->img_size = 64;
    o->batch = 20;
    o->epochs = 2;
    o->seed = 7;
    o->threads = 1;  /* one thread: bit-for-bit repeatable reductions */
    o->workers = 2;
    o->backend = g_backend;
}

static void test_training_learns(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    (void)shared;
    char out[300], train_dir[300];
    snprintf(out, sizeof out, "%s/learn.h5", g_root);
    snprintf(train_dir, sizeof train_dir, "%s/data/train", g_root);
    train_opts o;
    small_opts(&o, out);
    o.epochs = 20;
    o.batch = 10;
    train_result r;
    cd_err err;
    if (train_run(&o, &r, &err) != 0)
        fail_msg("train_run: %s", err.msg);
    assert_int_equal(r.epochs_done, 20);
    assert_false(r.interrupted);
    assert_true(r.best_epoch >= 1);
    history h;
    history_init(&h);
    assert_int_equal(history_read_csv(&h, r.history_path, &err), 0);
    assert_int_equal(h.n, 20);
    double first = 0, last = 0;
    for (int i = 0; i < 3; i++) {
        first += h.rows[i].loss / 3;
        last += h.rows[h.n - 1 - i].loss / 3;
    }
    fprintf(stderr, "training loss: first 3 epochs %.4f, last 3 epochs %.4f\n", first, last);
    assert_true(last < first - 0.05);
    history_free(&h);
    /* the last checkpoint loads, has the binary architecture, and tells the photos it
     * was trained on apart far better than chance */
    model *m = keras_load(r.last_path, &err);
    if (!m)
        fail_msg("keras_load: %s", err.msg);
    int hh, ww, cc;
    model_input_shape(m, &hh, &ww, &cc);
    assert_int_equal(hh, 64);
    assert_int_equal((int)model_output_size(m), 1);
    train_eval ev;
    if (train_evaluate(m, train_dir, 20, g_backend, 1, 2, &ev, &err) != 0)
        fail_msg("train_evaluate: %s", err.msg);
    fprintf(stderr, "on the training photos: accuracy %.4f, AUC %.4f, loss %.4f\n", ev.accuracy, ev.auc, ev.loss);
    assert_int_equal((int)ev.n, 2 * N_TRAIN);
    assert_true(ev.accuracy > 0.7);
    assert_true(ev.auc > 0.75);
    model_free(m);
    struct stat st;
    assert_int_equal(stat(r.svg_path, &st), 0);
    assert_int_equal(stat(out, &st), 0);
}

static int same_weights(const char *a, const char *b)
{
    cd_err err;
    model *ma = keras_load(a, &err), *mb = keras_load(b, &err);
    int same = ma && mb && ma->n_layers == mb->n_layers;
    for (int i = 0; same && i < ma->n_layers; i++)
        for (int p = 0; same && p < ma->layers[i].n_params; p++) {
            const tensor *x = ma->layers[i].params[p], *y = mb->layers[i].params[p];
            same = x && y && x->size == y->size && memcmp(x->data, y->data, x->size * sizeof(float)) == 0;
            if (!same)
                fprintf(stderr, "layer %s param %d differs\n", ma->layers[i].name, p);
        }
    model_free(ma);
    model_free(mb);
    return same;
}

static void test_resume_equals_uninterrupted(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    (void)shared;
    char full[300], part[300];
    snprintf(full, sizeof full, "%s/full.h5", g_root);
    snprintf(part, sizeof part, "%s/part.h5", g_root);
    train_opts o;
    train_result r, rf;
    cd_err err;
    small_opts(&o, full);
    if (train_run(&o, &rf, &err) != 0)
        fail_msg("full run: %s", err.msg);
    small_opts(&o, part);
    o.epochs = 1;
    if (train_run(&o, &r, &err) != 0)
        fail_msg("first half: %s", err.msg);
    char last[300];
    snprintf(last, sizeof last, "%s", r.last_path);
    small_opts(&o, part);
    o.resume_path = last;
    if (train_run(&o, &r, &err) != 0)
        fail_msg("resumed half: %s", err.msg);
    assert_int_equal(r.epochs_done, 2);
    assert_true(same_weights(rf.last_path, r.last_path));
    /* the resumed run's history has both epochs */
    history h;
    history_init(&h);
    assert_int_equal(history_read_csv(&h, r.history_path, &err), 0);
    assert_int_equal(h.n, 2);
    history_free(&h);
}

typedef struct stopper {
    volatile sig_atomic_t flag;
    int steps;
} stopper;

static void stop_after_3_steps(const train_progress *p, void *ctx)
{
    stopper *s = ctx;
    if (p->event == TRAIN_EV_STEP && ++s->steps == 3)
        s->flag = 1;
}

static void test_stop_flag_saves_and_resumes(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    (void)shared;
    char out[300];
    snprintf(out, sizeof out, "%s/stop.h5", g_root);
    train_opts o;
    small_opts(&o, out);
    stopper s = {0, 0};
    o.stop = &s.flag;
    o.progress = stop_after_3_steps;
    o.progress_ctx = &s;
    train_result r;
    cd_err err;
    if (train_run(&o, &r, &err) != 0)
        fail_msg("train_run: %s", err.msg);
    assert_true(r.interrupted);
    assert_int_equal(s.steps, 3);
    assert_int_equal(r.epochs_done, 0);
    struct stat st;
    assert_int_equal(stat(r.last_path, &st), 0);
    /* no epoch finished, so no best model and no empty file left behind */
    assert_int_equal(stat(out, &st), -1);
    char last[300];
    snprintf(last, sizeof last, "%s", r.last_path);
    small_opts(&o, out);
    o.epochs = 1;
    o.resume_path = last;
    if (train_run(&o, &r, &err) != 0)
        fail_msg("resume: %s", err.msg);
    assert_false(r.interrupted);
    assert_int_equal(r.epochs_done, 1);
    assert_int_equal(stat(out, &st), 0);
}

static void test_bad_inputs_fail_before_training(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    (void)shared;
    train_opts o;
    train_result r;
    cd_err err;
    char out[300], path[400];
    snprintf(out, sizeof out, "%s/bad.h5", g_root);

    /* an output folder that does not exist */
    small_opts(&o, "/nonexistent-dir/model.h5");
    assert_int_equal(train_run(&o, &r, &err), -1);
    assert_int_equal(err.code, CD_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/model.h5"));

    /* an image size the architecture cannot take (three 2x2 pools after 3x3 convs) */
    small_opts(&o, out);
    o.img_size = 16;
    assert_int_equal(train_run(&o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "16"));

    /* a data folder without validation/ */
    small_opts(&o, out);
    o.data_dir = g_root;
    assert_int_equal(train_run(&o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "validation"));

    /* an empty class folder is named */
    snprintf(path, sizeof path, "%s/empty/train/cats", g_root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/empty/train/dogs", g_root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/empty/validation/cats", g_root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/empty/validation/dogs", g_root);
    mkdirs(path);
    char img[600], src[600];
    snprintf(src, sizeof src, "%s/data/dogs-vs-cats/train/dog.0.jpg", test_shared_dir());
    snprintf(img, sizeof img, "%s/empty/train/dogs/dog.0.jpg", g_root);
    assert_int_equal(symlink(src, img), 0);
    char data[400];
    snprintf(data, sizeof data, "%s/empty", g_root);
    small_opts(&o, out);
    o.data_dir = data;
    assert_int_equal(train_run(&o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "cats"));
    struct stat st;
    assert_int_equal(stat(out, &st), -1); /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_learns),
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_stop_flag_saves_and_resumes),
        cmocka_unit_test(test_bad_inputs_fail_before_training),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
