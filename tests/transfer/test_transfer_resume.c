/* tests/transfer/test_transfer_resume.c - a transfer run (head on cached
 * features, then fine-tuning the last Fire module) stopped with the stop flag
 * after its second head epoch and resumed from <out>.last.h5 ends with the
 * same weights, bit for bit, as the same run left alone (same seed, threads
 * and backend), and the same history.  A tiny split (30 + 15 photos a class,
 * 96 px) so the whole test takes seconds.  Skips without ../shared. */
#include "test_util.h"

#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modelfile/keras.h"
#include "train/history.h"
#include "train/train.h"
#include "transfer/transfer_train.h"

/* DIR/{train,validation}/{cats,dogs}: 30 + 15 shared photos of each class. */
static void make_split(const char *shared, const char *dir)
{
    static const int counts[2] = {30, 15};
    test_make_split(shared, dir, 7000, counts, 2);
}

/* Sets the stop flag when the epoch `at` ends (as Ctrl-C would then). */
typedef struct stopper {
    volatile sig_atomic_t flag;
    int at;
} stopper;

static void on_progress(const train_progress *p, void *ctx)
{
    stopper *s = ctx;
    if (p->event == TRAIN_EV_EPOCH_END && p->epoch == s->at)
        s->flag = 1;
}

static void setup(train_opts *o, transfer_opts *t, const char *data, const char *out, const char *cache,
                  const char *weights)
{
    train_opts_defaults(o);
    o->data_dir = data;
    o->out_path = out;
    o->img_size = 96;
    o->epochs = 4;
    o->batch = 16;
    o->threads = 2;
    o->seed = 9;
    o->schedule = TRAIN_SCHEDULE_COSINE;
    o->warmup_epochs = 1;
    transfer_opts_defaults(t);
    t->weights_path = weights;
    t->cache_dir = cache;
    t->fine_tune = 1;
    t->fine_tune_epochs = 1;
}

/* Every parameter of the files a and b equal, bit for bit. */
static void assert_same_weights(const char *a, const char *b)
{
    cd_err err;
    model *ma = keras_load(a, &err), *mb = keras_load(b, &err);
    if (!ma || !mb)
        fail_msg("loading: %s", err.msg);
    assert_int_equal(ma->n_layers, mb->n_layers);
    size_t n = 0;
    for (int i = 0; i < ma->n_layers; i++) {
        assert_int_equal(ma->layers[i].n_params, mb->layers[i].n_params);
        for (int k = 0; k < ma->layers[i].n_params; k++) {
            const tensor *x = ma->layers[i].params[k], *y = mb->layers[i].params[k];
            assert_int_equal(x->size, y->size);
            if (memcmp(x->data, y->data, x->size * sizeof(float)) != 0)
                fail_msg("layer %s param %d differs after resuming", ma->layers[i].name, k);
            n += x->size;
        }
    }
    assert_true(n > 0);
    model_free(ma);
    model_free(mb);
}

static void test_resumed_transfer_run_equals_uninterrupted(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char cwd[2048], dir[2200], data[2300], cache[2300], out_a[2300], out_b[2300], last_b[2300];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s/transfer_tmp_resume_%d", cwd, (int)getpid());
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(out_a, sizeof out_a, "%s/a.h5", dir);
    snprintf(out_b, sizeof out_b, "%s/b.h5", dir);
    make_split(shared, data);
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
             shared);
    cd_err err;

    /* A: left alone. */
    train_opts o;
    transfer_opts t;
    setup(&o, &t, data, out_a, cache, weights);
    transfer_result ra;
    if (transfer_train(&o, &t, &ra, &err) != 0)
        fail_msg("run A: %s", err.msg);
    assert_int_equal(ra.train.interrupted, 0);
    assert_int_equal(ra.train.epochs_done, 5);

    /* B: stopped after head epoch 2 (no fine-tuning yet), then resumed. */
    stopper sb = {0, 2};
    setup(&o, &t, data, out_b, cache, weights);
    o.stop = &sb.flag;
    o.progress = on_progress;
    o.progress_ctx = &sb;
    transfer_result rb;
    if (transfer_train(&o, &t, &rb, &err) != 0)
        fail_msg("run B: %s", err.msg);
    assert_int_equal(rb.train.interrupted, 1);
    assert_int_equal(rb.train.epochs_done, 2);
    assert_int_equal(rb.finetune_best_epoch, 0);
    snprintf(last_b, sizeof last_b, "%s", rb.train.last_path);
    struct stat st;
    assert_int_equal(stat(last_b, &st), 0);

    setup(&o, &t, data, out_b, cache, weights);
    o.resume_path = last_b;
    if (transfer_train(&o, &t, &rb, &err) != 0)
        fail_msg("run B resumed: %s", err.msg);
    assert_int_equal(rb.train.interrupted, 0);
    assert_int_equal(rb.train.epochs_done, 5);
    assert_int_equal(rb.extracted_images, 0); /* the features came from A's cache */
    assert_int_equal(rb.train.best_epoch, ra.train.best_epoch);
    assert_int_equal(rb.finetune_best_epoch, ra.finetune_best_epoch);
    assert_same_weights(out_a, out_b);

    /* The history of B (two runs) is A's, row for row (times aside). */
    history ha, hb;
    history_init(&ha);
    history_init(&hb);
    if (history_read_csv(&ha, ra.train.history_path, &err) != 0 || history_read_csv(&hb, rb.train.history_path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ha.n, 5);
    assert_int_equal(hb.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ha.rows[i].epoch, hb.rows[i].epoch);
        assert_true(ha.rows[i].val_loss == hb.rows[i].val_loss);
        assert_true(ha.rows[i].loss == hb.rows[i].loss);
        assert_true(ha.rows[i].lr == hb.rows[i].lr);
    }
    history_free(&ha);
    history_free(&hb);
    print_message("best epoch %d (fine-tune best %d), val_loss %.4f; resumed run equal\n", ra.train.best_epoch,
                  ra.finetune_best_epoch, ra.train.best_val_loss);

    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resumed_transfer_run_equals_uninterrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
