/* tests/train/test_engine_ema.c - `--ema`, the engine's moving average of
 * the weights: after every optimizer step the average is what Keras 3's
 * formula gives from the trained weights of each step (recorded here after
 * each step), the epoch's kept model and the checkpoint's model weights are
 * the average with the trained weights beside them; and a run stopped after
 * epoch 2 and resumed from its checkpoint ends with the same average and
 * trained weights, bit for bit, as the uninterrupted run.  A tiny dense head
 * on synthetic vectors: no photos, no ../shared. */
#include "test_util.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "modelfile/keras.h"
#include "train/engine.h"
#include "transfer/transfer_head.h"

#include "train/synth_source.h"

#define EMA_DECAY 0.9f
#define MAX_STEPS 64

/* Every parameter of m, flattened, into out (cap floats); returns the count. */
static size_t flatten(const model *m, float *out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *t = m->layers[i].params[p];
            if (!t)
                continue;
            assert_true(n + t->size <= cap);
            memcpy(out + n, t->data, t->size * sizeof(float));
            n += t->size;
        }
    return n;
}

#define CAP 4096

/* What the callbacks see: the trained weights after each step, the weights
 * on_best was handed at epoch 1, a stop flag set at the end of epoch stop_at. */
typedef struct watch {
    const model *m;
    float steps[MAX_STEPS][CAP];
    int n_steps;
    float at_best1[CAP];
    int best1;
    size_t n_params;
    int stop_at;
    volatile sig_atomic_t stop;
} watch;

static void on_progress(const train_progress *p, void *ctx)
{
    watch *w = ctx;
    if (p->event == TRAIN_EV_STEP) {
        assert_true(w->n_steps < MAX_STEPS);
        w->n_params = flatten(w->m, w->steps[w->n_steps++], CAP);
    } else if (p->event == TRAIN_EV_EPOCH_END && p->epoch == w->stop_at) {
        w->stop = 1;
    }
}

static int on_best(void *ctx, const model *tail, const train_state *st, cd_err *err)
{
    (void)err;
    watch *w = ctx;
    if (st->best_epoch == 1) {
        flatten(tail, w->at_best1, CAP);
        w->best1 = 1;
    }
    return 0;
}

static model *tiny_head(void)
{
    transfer_head_spec hs;
    cd_err err;
    assert_int_equal(transfer_head_parse("gap,dense=16,dropout=0.2", &hs, &err), 0);
    model *m = transfer_head_training_model(&hs, DIM, 5, &err);
    assert_non_null(m);
    return m;
}

/* Trains m to `epochs` from state st (fresh, or a resumed checkpoint's with
 * its optimizer and average), writing the checkpoint to last. */
static void train(model *m, optim *opt, optim_opts *oo, train_state *st, engine_best *ema, int epochs,
                  const char *last, watch *w)
{
    cd_err err;
    synth tr, va;
    synth_init(&tr, 96, 11, 1);
    synth_init(&va, 40, 12, 0);
    engine_source s_tr = synth_source(&tr), s_va = synth_source(&va);
    engine_config c;
    engine_config_defaults(&c);
    c.epochs = epochs;
    c.batch = BATCH;
    c.threads = 1;
    c.oo = oo;
    c.last_path = last;
    c.ema_decay = EMA_DECAY;
    c.ema = ema;
    c.progress = on_progress;
    c.progress_ctx = w;
    c.on_best = on_best;
    c.on_best_ctx = w;
    c.stop = &w->stop;
    w->m = m;
    engine_best best;
    assert_int_equal(engine_best_init(&best, m, &err), 0);
    engine_step sp = {NULL, m, 1};
    engine_result er;
    if (engine_run(&c, &sp, opt, st, &s_tr, &s_va, &best, &er, &err) != 0)
        fail_msg("engine_run: %s", err.msg);
    engine_best_free(&best);
    synth_free(&tr);
    synth_free(&va);
}

/* The checkpoint's model weights (the average) and its trained weights. */
static size_t read_checkpoint(const char *path, float *avg, float *trained)
{
    cd_err err;
    model *f = keras_load(path, &err);
    if (!f)
        fail_msg("%s", err.msg);
    model *m = tiny_head();
    assert_int_equal(transfer_copy_params(m, f, &err), 0);
    size_t n = flatten(m, avg, CAP);
    assert_int_equal(checkpoint_read_params(path, CHECKPOINT_TRAINED_GROUP, m, &err), 1);
    flatten(m, trained, CAP);
    model_free(m);
    model_free(f);
    return n;
}

static void test_ema_follows_keras_formula(void **state)
{
    (void)state;
    char last[64];
    snprintf(last, sizeof last, "ema_formula_%d.last.h5", (int)getpid());
    static watch w;
    memset(&w, 0, sizeof w);
    cd_err err;
    model *m = tiny_head();
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    oo.lr = 0.02f;
    optim *opt = optim_new(m, &oo, &err);
    assert_non_null(opt);
    train_state st;
    train_state_init(&st, oo.lr, 7);
    train(m, opt, &oo, &st, NULL, 2, last, &w);
    int per_epoch = (96 + BATCH - 1) / BATCH;
    assert_int_equal(w.n_steps, 2 * per_epoch);
    /* Keras 3: the first step sets the average to the weights, then
     * avg = d * avg + (1 - d) * w (float32). */
    static float avg[CAP], file_avg[CAP], file_trained[CAP];
    size_t n = w.n_params;
    memcpy(avg, w.steps[0], n * sizeof(float));
    double moved = 0;
    for (int s = 1; s < w.n_steps; s++) {
        for (size_t j = 0; j < n; j++)
            avg[j] = EMA_DECAY * avg[j] + (1.0f - EMA_DECAY) * w.steps[s][j];
        if (s == per_epoch - 1) {
            /* Epoch 1 is always an improvement: on_best got the average. */
            assert_true(w.best1);
            for (size_t j = 0; j < n; j++)
                assert_float_equal(w.at_best1[j], avg[j], 1e-6 * (1 + fabsf(avg[j])));
        }
    }
    assert_int_equal(read_checkpoint(last, file_avg, file_trained), n);
    for (size_t j = 0; j < n; j++) {
        assert_float_equal(file_avg[j], avg[j], 1e-6 * (1 + fabsf(avg[j])));
        /* Beside it, the weights training continues from: the last step's. */
        assert_true(file_trained[j] == w.steps[w.n_steps - 1][j]);
        /* And the tail was handed back with them. */
        moved += fabs((double)file_avg[j] - file_trained[j]);
    }
    float back[CAP];
    flatten(m, back, CAP);
    assert_memory_equal(back, file_trained, n * sizeof(float));
    /* The average is not the last weights (the check above bites). */
    assert_true(moved > 1e-3);
    optim_free(opt);
    model_free(m);
    unlink(last);
}

/* One uninterrupted run of 4 epochs vs a run stopped after epoch 2 and
 * resumed from its checkpoint as `catdog train --resume` does. */
static void test_ema_resume_equals_uninterrupted(void **state)
{
    (void)state;
    char la[64], lb[64];
    snprintf(la, sizeof la, "ema_a_%d.last.h5", (int)getpid());
    snprintf(lb, sizeof lb, "ema_b_%d.last.h5", (int)getpid());
    static watch w;
    cd_err err;
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    oo.lr = 0.02f;
    train_state st;

    memset(&w, 0, sizeof w);
    model *a = tiny_head();
    optim *opt = optim_new(a, &oo, &err);
    train_state_init(&st, oo.lr, 7);
    train(a, opt, &oo, &st, NULL, 4, la, &w);
    assert_int_equal(st.epochs_done, 4);
    optim_free(opt);
    model_free(a);

    memset(&w, 0, sizeof w);
    w.stop_at = 2;
    model *b = tiny_head();
    opt = optim_new(b, &oo, &err);
    train_state_init(&st, oo.lr, 7);
    train(b, opt, &oo, &st, NULL, 4, lb, &w);
    assert_int_equal(st.epochs_done, 2);
    optim_free(opt);
    model_free(b);

    /* Resume: the file's weights are the average, the trained ones beside. */
    memset(&w, 0, sizeof w);
    model *f = keras_load(lb, &err);
    assert_non_null(f);
    model *r = tiny_head();
    assert_int_equal(transfer_copy_params(r, f, &err), 0);
    model_free(f);
    engine_best ema;
    assert_int_equal(engine_best_init(&ema, r, &err), 0);
    assert_int_equal(engine_resume_weights(lb, r, &ema, &err), 1);
    optim_opts oo2;
    assert_int_equal(checkpoint_read_config(lb, &oo2, &st, &err), 0);
    opt = optim_new(r, &oo2, &err);
    assert_non_null(opt);
    assert_int_equal(checkpoint_read_optimizer(lb, opt, &err), 1);
    optim_set_lr(opt, st.lr);
    train(r, opt, &oo2, &st, &ema, 4, lb, &w);
    assert_int_equal(st.epochs_done, 4);
    /* Without --ema such a checkpoint is refused, not silently trained on. */
    assert_int_equal(engine_resume_weights(lb, r, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "--ema"));

    static float aa[CAP], at[CAP], ba[CAP], bt[CAP];
    size_t n = read_checkpoint(la, aa, at);
    assert_int_equal(read_checkpoint(lb, ba, bt), n);
    assert_memory_equal(aa, ba, n * sizeof(float));
    assert_memory_equal(at, bt, n * sizeof(float));
    engine_best_free(&ema);
    optim_free(opt);
    model_free(r);
    unlink(la);
    unlink(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ema_follows_keras_formula),
        cmocka_unit_test(test_ema_resume_equals_uninterrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
