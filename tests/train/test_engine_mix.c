/* tests/train/test_engine_mix.c - `--mixup` in the engine: every training
 * batch the engine trains on is the source's batch mixed in place with the
 * draw of (run seed, epoch, step) (checked on the source's own buffer after
 * each step); the first step's loss is the cross-entropy of the mixed batch's
 * logits against the mixed targets, smoothed on top by --label-smoothing, and
 * its accuracy is counted against the dominant labels; and a run stopped in
 * the middle of an epoch and resumed from its checkpoint ends with the same
 * weights, bit for bit, as the uninterrupted one (the draws are a function of
 * the step, not of a stream).  A tiny dense head on synthetic vectors: no
 * photos, no ../shared. */
#include "test_util.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "data/mix.h"
#include "modelfile/keras.h"
#include "train/engine.h"
#include "train/loss.h"
#include "transfer/transfer_head.h"

#include "train/synth_source.h"

#define ALPHA 0.4f
#define SMOOTH 0.1f
#define CAP 4096

/* The run's seed: the first from 7 whose first mix gives each sample less
 * than half of itself, so the dominant labels are the partners' (first_seed). */
static unsigned long long g_seed = 7;

static void first_seed(void)
{
    mix_opts o = {ALPHA, 0};
    mix_draw d;
    for (g_seed = 7;; g_seed++) {
        mix_draw_batch(&o, g_seed, 0, 1, 1, 1, &d);
        if (d.lam < 0.4f)
            return;
    }
}

/* A source that hands out synth's batches and, on the next call, checks that
 * the engine left the previous one mixed as the draw of its step says. */
typedef struct rec {
    synth s;
    engine_source inner;
    int epoch;
    long long step;
    int n;
    float x0[BATCH * DIM], y0[BATCH];
    int checked;
    int skip_epoch;          /* a resumed run skips, unmixed, the first */
    long long skip;          /* `skip` steps of epoch skip_epoch */
} rec;

static void rec_check_last(rec *r)
{
    if (r->step == 0 || (r->epoch == r->skip_epoch && r->step <= r->skip))
        return;
    mix_opts o = {ALPHA, 0};
    mix_draw d;
    mix_draw_batch(&o, g_seed, r->epoch, r->step, 1, 1, &d);
    float want[BATCH * DIM];
    memcpy(want, r->x0, sizeof want);
    mix_images(want, r->n, 1, 1, DIM, &d);
    assert_memory_equal(r->s.bx, want, (size_t)r->n * DIM * sizeof(float));
    /* the mix changed something (lam is never exactly 1 here) */
    assert_true(r->n < 2 || memcmp(r->s.bx, r->x0, (size_t)r->n * DIM * sizeof(float)) != 0);
    r->checked++;
}

static size_t rec_batches(void *ctx)
{
    rec *r = ctx;
    return r->inner.batches(r->inner.ctx);
}

static int rec_begin(void *ctx, int epoch, cd_err *err)
{
    rec *r = ctx;
    r->epoch = epoch;
    r->step = 0;
    return r->inner.begin_epoch(r->inner.ctx, epoch, err);
}

static int rec_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    rec *r = ctx;
    rec_check_last(r);
    int got = r->inner.next(r->inner.ctx, x, y, n, err);
    if (got == 1) {
        r->step++;
        r->n = *n;
        memcpy(r->x0, *x, (size_t)*n * DIM * sizeof(float));
        memcpy(r->y0, *y, (size_t)*n * sizeof(float));
    } else {
        r->step = 0;
    }
    return got;
}

typedef struct watch {
    double first_loss, first_acc;
    int steps;
    int stop_epoch, stop_step;
    volatile sig_atomic_t stop;
} watch;

static void on_progress(const train_progress *p, void *ctx)
{
    watch *w = ctx;
    if (p->event != TRAIN_EV_STEP)
        return;
    if (w->steps++ == 0) {
        w->first_loss = p->loss;
        w->first_acc = p->accuracy;
    }
    if (p->epoch == w->stop_epoch && (int)p->step == w->stop_step)
        w->stop = 1;
}

static model *tiny_head(void)
{
    transfer_head_spec hs;
    cd_err err;
    assert_int_equal(transfer_head_parse("gap,dense=16", &hs, &err), 0); /* no dropout: inference = training */
    model *m = transfer_head_training_model(&hs, DIM, 5, &err);
    assert_non_null(m);
    return m;
}

static size_t flatten(const model *m, float *out)
{
    size_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *t = m->layers[i].params[p];
            if (!t)
                continue;
            assert_true(n + t->size <= CAP);
            memcpy(out + n, t->data, t->size * sizeof(float));
            n += t->size;
        }
    return n;
}

static void train(model *m, optim *opt, optim_opts *oo, train_state *st, int epochs, const char *last, watch *w,
                  int *checked)
{
    cd_err err;
    static rec r;
    memset(&r, 0, sizeof r);
    synth va;
    synth_init(&r.s, 96, 11, 1);
    synth_init(&va, 40, 12, 0);
    r.inner = synth_source(&r.s);
    r.skip_epoch = st->epochs_done;
    r.skip = st->step_in_epoch;
    engine_source s_tr = {&r, rec_batches, rec_begin, rec_next, 1}, s_va = synth_source(&va);
    engine_config c;
    engine_config_defaults(&c);
    c.epochs = epochs;
    c.batch = BATCH;
    c.threads = 1;
    c.oo = oo;
    c.last_path = last;
    c.mix.mixup_alpha = ALPHA;
    c.label_smoothing = SMOOTH;
    c.progress = on_progress;
    c.progress_ctx = w;
    c.stop = &w->stop;
    engine_best best;
    assert_int_equal(engine_best_init(&best, m, &err), 0);
    engine_step sp = {NULL, m, 1};
    engine_result er;
    if (engine_run(&c, &sp, opt, st, &s_tr, &s_va, &best, &er, &err) != 0)
        fail_msg("engine_run: %s", err.msg);
    *checked = r.checked;
    engine_best_free(&best);
    synth_free(&r.s);
    synth_free(&va);
}

static void test_engine_trains_on_the_mixed_batch(void **state)
{
    (void)state;
    cd_err err;
    first_seed();
    model *m = tiny_head();
    /* The first batch, mixed as the engine must, and its figures under the
     * initial weights (no dropout: an inference pass gives the training logits). */
    synth s;
    synth_init(&s, 96, 11, 1);
    engine_source src = synth_source(&s);
    const float *x, *y;
    int n;
    assert_int_equal(src.begin_epoch(src.ctx, 0, &err), 0);
    assert_int_equal(src.next(src.ctx, &x, &y, &n, &err), 1);
    assert_int_equal(n, BATCH);
    float xm[BATCH * DIM], t[BATCH], dom[BATCH], logits[BATCH];
    memcpy(xm, x, sizeof xm);
    mix_opts o = {ALPHA, 0};
    mix_draw d;
    mix_draw_batch(&o, g_seed, 0, 1, 1, 1, &d);
    assert_true(d.lam > 0.0f && d.lam < 0.4f);
    mix_images(xm, n, 1, 1, DIM, &d);
    for (int i = 0; i < n; i++)
        t[i] = (d.lam * y[i] + (1 - d.lam) * y[n - 1 - i]) * (1 - SMOOTH) + 0.5f * SMOOTH;
    mix_dominant_labels(y, n, &d, dom);
    runner_opts ro = {0};
    ro.backend = RUNNER_DNNL;
    ro.threads = 1;
    ro.output_logits = 1;
    runner *rt = runner_new(m, BATCH, &ro, &err);
    assert_non_null(rt);
    assert_int_equal(runner_forward(rt, xm, n, logits, &err), 0);
    runner_free(rt);
    double want_loss = loss_bce_logits(logits, t, n, NULL);
    int right = 0, right_true = 0;
    for (int i = 0; i < n; i++) {
        right += (logits[i] > 0) == (dom[i] > 0.5f);
        right_true += (logits[i] > 0) == (y[i] > 0.5f);
    }
    synth_free(&s);

    char last[64];
    snprintf(last, sizeof last, "mix_%d.last.h5", (int)getpid());
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    oo.lr = 0.02f;
    optim *opt = optim_new(m, &oo, &err);
    assert_non_null(opt);
    train_state st;
    train_state_init(&st, oo.lr, g_seed);
    static watch w;
    memset(&w, 0, sizeof w);
    int checked;
    train(m, opt, &oo, &st, 2, last, &w, &checked);
    int per_epoch = (96 + BATCH - 1) / BATCH;
    assert_int_equal(w.steps, 2 * per_epoch);
    assert_int_equal(checked, 2 * per_epoch); /* every batch of both epochs was the mixed one */
    assert_float_equal(w.first_loss, want_loss, 1e-5 * (1 + want_loss));
    assert_float_equal(w.first_acc, (double)right / n, 1e-12);
    /* the comparison bites: against the true labels the step's accuracy differs */
    assert_int_not_equal(right, right_true);
    optim_free(opt);
    model_free(m);
    unlink(last);
}

static void test_mixup_resume_mid_epoch_equals_uninterrupted(void **state)
{
    (void)state;
    cd_err err;
    char la[64], lb[64];
    snprintf(la, sizeof la, "mix_a_%d.last.h5", (int)getpid());
    snprintf(lb, sizeof lb, "mix_b_%d.last.h5", (int)getpid());
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    oo.lr = 0.02f;
    train_state st;
    static watch w;
    int checked;
    first_seed();

    memset(&w, 0, sizeof w);
    model *a = tiny_head();
    optim *opt = optim_new(a, &oo, &err);
    train_state_init(&st, oo.lr, g_seed);
    train(a, opt, &oo, &st, 3, la, &w, &checked);
    assert_int_equal(st.epochs_done, 3);
    optim_free(opt);

    /* Stopped after step 2 of epoch 2, then resumed from the checkpoint. */
    memset(&w, 0, sizeof w);
    w.stop_epoch = 2;
    w.stop_step = 2;
    model *b = tiny_head();
    opt = optim_new(b, &oo, &err);
    train_state_init(&st, oo.lr, g_seed);
    train(b, opt, &oo, &st, 3, lb, &w, &checked);
    assert_int_equal(st.epochs_done, 1);
    assert_int_equal(st.step_in_epoch, 2);
    optim_free(opt);
    model_free(b);

    memset(&w, 0, sizeof w);
    model *f = keras_load(lb, &err);
    assert_non_null(f);
    model *r = tiny_head();
    assert_int_equal(transfer_copy_params(r, f, &err), 0);
    model_free(f);
    optim_opts oo2;
    assert_int_equal(checkpoint_read_config(lb, &oo2, &st, &err), 0);
    opt = optim_new(r, &oo2, &err);
    assert_non_null(opt);
    assert_int_equal(checkpoint_read_optimizer(lb, opt, &err), 1);
    optim_set_lr(opt, st.lr);
    train(r, opt, &oo2, &st, 3, lb, &w, &checked);
    assert_int_equal(st.epochs_done, 3);

    static float wa[CAP], wb[CAP];
    size_t n = flatten(a, wa);
    assert_int_equal(flatten(r, wb), n);
    assert_memory_equal(wa, wb, n * sizeof(float));
    optim_free(opt);
    model_free(a);
    model_free(r);
    unlink(la);
    unlink(lb);
}

/* A read-only source is refused, naming the options. */
static void test_mix_needs_a_writable_source(void **state)
{
    (void)state;
    cd_err err;
    model *m = tiny_head();
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    optim *opt = optim_new(m, &oo, &err);
    train_state st;
    train_state_init(&st, oo.lr, g_seed);
    synth tr;
    synth_init(&tr, 32, 11, 1);
    engine_source s_tr = synth_source(&tr);
    s_tr.writable = 0;
    engine_config c;
    engine_config_defaults(&c);
    c.epochs = 1;
    c.batch = BATCH;
    c.threads = 1;
    c.mix.cutmix_alpha = 1.0f;
    engine_best best;
    assert_int_equal(engine_best_init(&best, m, &err), 0);
    engine_step sp = {NULL, m, 1};
    engine_result er;
    assert_int_equal(engine_run(&c, &sp, opt, &st, &s_tr, NULL, &best, &er, &err), -1);
    assert_non_null(strstr(err.msg, "--mixup/--cutmix"));
    assert_int_equal(st.epochs_done, 0);
    engine_best_free(&best);
    synth_free(&tr);
    optim_free(opt);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_trains_on_the_mixed_batch),
        cmocka_unit_test(test_mixup_resume_mid_epoch_equals_uninterrupted),
        cmocka_unit_test(test_mix_needs_a_writable_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
