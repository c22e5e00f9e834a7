/*
 * engine.c - the training engine and the evaluator (see engine.h).
 *
 * Every training configuration (train.c, transfer/) builds its model, state
 * and sources, then calls engine_run; the epoch loop, schedules, early
 * stopping, best keeping, checkpoints, history and JSON lines live only here.
 */
#include "train/engine.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "modelfile/keras.h"
#include "train/loss.h"
#include "train/metrics.h"

/* ---- sources ---- */

static size_t ds_batches(void *ctx)
{
    return dataset_iter_batches(ctx);
}

static int ds_begin(void *ctx, int epoch, cd_err *err)
{
    return dataset_iter_begin_epoch(ctx, epoch, err) < 0 ? -1 : 0;
}

static int ds_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    return dataset_iter_next(ctx, x, y, n, err);
}

engine_source engine_source_dataset(dataset_iter *it)
{
    /* The batch slot is the caller's until the next call (dataset.h). */
    engine_source s = {it, ds_batches, ds_begin, ds_next, 1};
    return s;
}

/* ---- the step's forward ---- */

/* Runs the frozen front (when there is one) into act, then the tail:
 * logits of the n samples x.  0 or -1. */
static int step_forward(runner *rf, runner *rt, const float *x, int n, float *act, float *logits, cd_err *err)
{
    if (rf) {
        if (runner_forward(rf, x, n, act, err) < 0)
            return -1;
        x = act;
    }
    return runner_forward(rt, x, n, logits, err) < 0 ? -1 : 0;
}

/* The front's runner (inference; NULL when no front) and the tail's (logits;
 * training mode with `seed` when training).  0 or -1 (none left allocated). */
static int step_runners(const engine_step *sp, int batch, runner_backend backend, int threads, int training,
                        unsigned long long seed, runner **rf, runner **rt, cd_err *err)
{
    runner_opts ro = {0};
    ro.backend = backend;
    ro.threads = threads;
    runner_opts rot = ro;
    rot.output_logits = 1;
    rot.training = training;
    rot.seed = seed;
    *rt = NULL;
    *rf = sp->front ? runner_new(sp->front, batch, &ro, err) : NULL;
    if (sp->front && !*rf)
        return -1;
    if (!(*rt = runner_new(sp->tail, batch, &rot, err))) {
        runner_free(*rf);
        *rf = NULL;
        return -1;
    }
    return 0;
}

/* ---- the evaluator ---- */

void engine_tally_init(engine_tally *t, int k, int keep)
{
    memset(t, 0, sizeof *t);
    t->k = k;
    t->keep = keep && k == 1;
}

void engine_tally_free(engine_tally *t)
{
    free(t->scores);
    free(t->labels);
    free(t->onehot);
    memset(t, 0, sizeof *t);
}

/* Makes room for n more kept scores and labels. */
static int tally_reserve(engine_tally *t, size_t n, cd_err *err)
{
    if (t->n + n <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 1024;
    while (cap < t->n + n)
        cap *= 2;
    float *s = realloc(t->scores, cap * sizeof *s);
    if (s)
        t->scores = s;
    float *lb = s ? realloc(t->labels, cap * sizeof *lb) : NULL;
    if (!s || !lb)
        return cd_err_set(err, CD_ERR_NOMEM, "evaluation: out of memory");
    t->labels = lb;
    t->cap = cap;
    return 0;
}

int engine_tally_add_probs(engine_tally *t, const float *p, const float *y, int n, cd_err *err)
{
    if (t->keep) {
        if (tally_reserve(t, (size_t)n, err) < 0)
            return -1;
        memcpy(t->scores + t->n, p, (size_t)n * sizeof(float));
        memcpy(t->labels + t->n, y, (size_t)n * sizeof(float));
    }
    for (int i = 0; i < n; i++) {
        double pc = p[i] < 1e-7f ? 1e-7 : (p[i] > 1 - 1e-7f ? 1 - 1e-7 : (double)p[i]);
        int pos = y[i] > 0.5f;
        t->loss_sum -= pos ? log(pc) : log(1 - pc);
        t->correct += (p[i] > 0.5f) == pos;
    }
    t->n += (size_t)n;
    return 0;
}

double engine_tally_add(engine_tally *t, const float *logits, const float *y, int n, float *grad,
                        size_t *correct, cd_err *err)
{
    int k = t->k;
    size_t right = 0;
    double l;
    if (k == 1) {
        right = metrics_binary_correct(logits, y, (size_t)n, 0.0f);
        l = loss_bce_logits(logits, y, n, grad);
    } else {
        size_t need = (size_t)n * (size_t)k;
        if (need > t->onehot_cap) {
            float *o = realloc(t->onehot, need * sizeof *o);
            if (!o) {
                cd_err_set(err, CD_ERR_NOMEM, "evaluation: out of memory");
                return NAN;
            }
            t->onehot = o;
            t->onehot_cap = need;
        }
        memset(t->onehot, 0, need * sizeof *t->onehot);
        for (int i = 0; i < n; i++) {
            int c = (int)y[i];
            if (c >= 0 && c < k)
                t->onehot[(size_t)i * k + c] = 1.0f;
            const float *z = logits + (size_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (z[j] > z[best])
                    best = j;
            right += best == c;
        }
        l = loss_cce_logits(logits, t->onehot, n, k, grad);
    }
    if (t->keep) {
        if (tally_reserve(t, (size_t)n, err) < 0)
            return NAN;
        memcpy(t->scores + t->n, logits, (size_t)n * sizeof(float));
        memcpy(t->labels + t->n, y, (size_t)n * sizeof(float));
    }
    t->loss_sum += l * n;
    t->correct += right;
    t->n += (size_t)n;
    if (correct)
        *correct = right;
    return l;
}

void engine_tally_result(const engine_tally *t, engine_eval *out)
{
    memset(out, 0, sizeof *out);
    out->n = t->n;
    out->auc = NAN;
    if (t->n > 0) {
        out->loss = t->loss_sum / (double)t->n;
        out->accuracy = (double)t->correct / (double)t->n;
    }
    double auc;
    if (t->keep && t->n > 0 && metrics_roc_auc(t->scores, t->labels, t->n, &auc, NULL) == 0)
        out->auc = auc;
}

/* One batch's logits z (n x k) and labels y into t, copied to logits_out /
 * labels_out (cap values) in order.  0, or -1 when the tally ran out of memory. */
static int tally_batch(engine_tally *t, const float *z, const float *y, int n, int k, float *logits_out,
                       float *labels_out, size_t cap, cd_err *err)
{
    if (logits_out && k == 1 && t->n + (size_t)n <= cap)
        memcpy(logits_out + t->n, z, (size_t)n * sizeof(float));
    if (labels_out && t->n + (size_t)n <= cap)
        memcpy(labels_out + t->n, y, (size_t)n * sizeof(float));
    if (isnan(engine_tally_add(t, z, y, n, NULL, NULL, err)) && err && err->code == CD_ERR_NOMEM)
        return -1;
    return 0;
}

/* Appends n floats to a growing array.  0 or -1. */
static int floats_append(float **a, size_t *n, size_t *cap, const float *v, size_t k, cd_err *err)
{
    if (*n + k > *cap) {
        size_t c = *cap ? *cap * 2 : 4096;
        while (c < *n + k)
            c *= 2;
        float *p = realloc(*a, c * sizeof *p);
        if (!p)
            return cd_err_set(err, CD_ERR_NOMEM, "evaluation: out of memory for %zu values", c);
        *a = p;
        *cap = c;
    }
    memcpy(*a + *n, v, k * sizeof *v);
    *n += k;
    return 0;
}

/* engine_evaluate and engine_evaluate_ranks.  With comm (size > 1) each batch
 * is kept as a record (n, then n labels, then n x k logits) instead of being
 * tallied; after the loop every rank's records, gathered in rank order, are
 * one process's batches in order and are tallied here the same way. */
static int evaluate(runner *rf, runner *rt, const engine_step *sp, int batch, const engine_source *src, int epoch,
                    int want_auc, const volatile sig_atomic_t *stop, const engine_comm *comm, float *logits_out,
                    float *labels_out, size_t cap, engine_eval *out, cd_err *err)
{
    memset(out, 0, sizeof *out);
    out->auc = NAN;
    int k = sp->k;
    size_t in_tail = rf ? model_output_size(sp->front) : 0;
    float *act = rf ? malloc((size_t)batch * in_tail * sizeof(float)) : NULL;
    float *logits = malloc((size_t)batch * (size_t)k * sizeof(float));
    float *rec = NULL, *all = NULL;
    size_t n_rec = 0, cap_rec = 0, n_all = 0;
    engine_tally t;
    engine_tally_init(&t, k, want_auc);
    int rc = -1;
    if (!logits || (rf && !act)) {
        cd_err_set(err, CD_ERR_NOMEM, "evaluation: out of memory");
        goto out;
    }
    if (src->begin_epoch(src->ctx, epoch, err) < 0)
        goto out;
    const float *x, *y;
    int n, got;
    while ((got = src->next(src->ctx, &x, &y, &n, err)) == 1) {
        if (comm && n == 0)
            continue;
        if (step_forward(rf, rt, x, n, act, logits, err) < 0)
            goto out;
        if (comm) {
            float fn = (float)n;
            if (floats_append(&rec, &n_rec, &cap_rec, &fn, 1, err) < 0 ||
                floats_append(&rec, &n_rec, &cap_rec, y, (size_t)n, err) < 0 ||
                floats_append(&rec, &n_rec, &cap_rec, logits, (size_t)n * (size_t)k, err) < 0)
                goto out;
        } else if (tally_batch(&t, logits, y, n, k, logits_out, labels_out, cap, err) < 0) {
            goto out;
        }
        if (stop && *stop) {
            rc = 1;
            goto out;
        }
    }
    if (got < 0)
        goto out;
    if (comm) {
        if (engine_gather_floats(comm, rec, n_rec, &all, &n_all, err) < 0)
            goto out;
        for (size_t pos = 0; pos < n_all;) {
            int bn = (int)all[pos];
            const float *by = all + pos + 1, *bz = by + bn;
            assert(bn > 0 && pos + 1 + (size_t)bn * (size_t)(k + 1) <= n_all);
            if (tally_batch(&t, bz, by, bn, k, logits_out, labels_out, cap, err) < 0)
                goto out;
            pos += 1 + (size_t)bn * (size_t)(k + 1);
        }
    }
    engine_tally_result(&t, out);
    rc = 0;
out:
    engine_tally_free(&t);
    free(rec);
    free(all);
    free(act);
    free(logits);
    return rc;
}

int engine_evaluate(runner *rf, runner *rt, const engine_step *sp, int batch, const engine_source *src,
                    int epoch, int want_auc, const volatile sig_atomic_t *stop, float *logits_out, float *labels_out, size_t cap,
                    engine_eval *out, cd_err *err)
{
    return evaluate(rf, rt, sp, batch, src, epoch, want_auc, stop, NULL, logits_out, labels_out, cap, out, err);
}

int engine_evaluate_ranks(runner *rf, runner *rt, const engine_step *sp, int batch, const engine_source *src,
                          int epoch, int want_auc, const engine_comm *comm, float *logits_out, float *labels_out,
                          size_t cap, engine_eval *out, cd_err *err)
{
    return evaluate(rf, rt, sp, batch, src, epoch, want_auc, NULL, comm && comm->size > 1 ? comm : NULL, logits_out,
                    labels_out, cap, out, err);
}

int engine_evaluate_model(const engine_step *sp, int batch, runner_backend backend, int threads,
                          const engine_source *src, int want_auc, const volatile sig_atomic_t *stop,
                          float *logits_out, float *labels_out, size_t cap, engine_eval *out, cd_err *err)
{
    runner *rf, *rt;
    if (step_runners(sp, batch, backend, threads, 0, 0, &rf, &rt, err) < 0)
        return -1;
    int rc = engine_evaluate(rf, rt, sp, batch, src, 0, want_auc, stop, logits_out, labels_out, cap, out, err);
    runner_free(rt);
    runner_free(rf);
    return rc;
}

/* ---- across ranks ---- */

int engine_gather_floats(const engine_comm *c, const float *mine, size_t n, float **all, size_t *n_all, cd_err *err)
{
    *all = NULL;
    *n_all = 0;
    int size = c ? c->size : 1, rank = c ? c->rank : 0;
    double *counts = calloc((size_t)size, sizeof *counts);
    if (!counts)
        return cd_err_set(err, CD_ERR_NOMEM, "gathering over the ranks: out of memory");
    counts[rank] = (double)n;
    if (size > 1 && c->sum_doubles(c->ctx, counts, (size_t)size, err) < 0) {
        free(counts);
        return -1;
    }
    size_t total = 0, off = 0;
    for (int i = 0; i < size; i++) {
        if (i < rank)
            off += (size_t)counts[i];
        total += (size_t)counts[i];
    }
    free(counts);
    /* Each rank's values at its offset, zeros elsewhere: the sum is the
     * concatenation, exactly (x + 0 == x). */
    float *buf = calloc(total ? total : 1, sizeof *buf);
    if (!buf)
        return cd_err_set(err, CD_ERR_NOMEM, "gathering %zu values over the ranks: out of memory", total);
    if (n)
        memcpy(buf + off, mine, n * sizeof *buf);
    if (size > 1 && total > 0 && c->sum_floats(c->ctx, buf, total, err) < 0) {
        free(buf);
        return -1;
    }
    *all = buf;
    *n_all = total;
    return 0;
}

/* ---- best parameters ---- */

int engine_best_init(engine_best *b, const model *m, cd_err *err)
{
    memset(b, 0, sizeof *b);
    b->n_layers = m->n_layers;
    b->t = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *b->t);
    if (!b->t)
        return cd_err_set(err, CD_ERR_NOMEM, "training: out of memory");
    return 0;
}

void engine_best_free(engine_best *b)
{
    if (b->t)
        for (int i = 0; i < b->n_layers * LAYER_MAX_PARAMS; i++)
            tensor_free(b->t[i]);
    free(b->t);
    memset(b, 0, sizeof *b);
}

int engine_best_keep(engine_best *b, const model *m, cd_err *err)
{
    assert(m->n_layers == b->n_layers);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *t = m->layers[i].params[p];
            tensor **s = &b->t[i * LAYER_MAX_PARAMS + p];
            if (!t)
                continue;
            if (!*s && !(*s = tensor_clone(t, err)))
                return -1;
            memcpy((*s)->data, t->data, t->size * sizeof(float));
        }
    b->have = 1;
    return 0;
}

void engine_best_restore(const engine_best *b, model *m)
{
    if (!b->have)
        return;
    for (int i = 0; i < m->n_layers && i < b->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            tensor *t = m->layers[i].params[p];
            const tensor *s = b->t[i * LAYER_MAX_PARAMS + p];
            if (t && s)
                memcpy(t->data, s->data, t->size * sizeof(float));
        }
}

/* ---- weight averaging ---- */

int engine_ema_update(engine_best *ema, const model *m, float decay, long long iterations, cd_err *err)
{
    if (!ema->have || iterations <= 1)
        return engine_best_keep(ema, m, err);
    assert(m->n_layers == ema->n_layers);
    const float keep = decay, take = 1.0f - decay;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = &m->layers[i];
        int stepped = L->trainable ? layer_trainable_params(L) : 0;
        for (int p = 0; p < L->n_params; p++) {
            const tensor *t = L->params[p];
            tensor *a = ema->t[i * LAYER_MAX_PARAMS + p];
            if (!t || !a)
                continue;
            if (p >= stepped) {
                memcpy(a->data, t->data, t->size * sizeof(float));
                continue;
            }
            float *restrict ad = a->data;
            const float *restrict w = t->data;
            for (size_t j = 0; j < t->size; j++)
                ad[j] = keep * ad[j] + take * w[j];
        }
    }
    return 0;
}

int engine_resume_weights(const char *path, model *m, engine_best *ema, cd_err *err)
{
    if (ema && engine_best_keep(ema, m, err) < 0)
        return -1;
    int got = checkpoint_read_params(path, CHECKPOINT_TRAINED_GROUP, m, err);
    if (got < 0)
        return -1;
    if (got == 0) {
        if (ema)
            ema->have = 0;
        return 0;
    }
    if (!ema)
        return cd_err_set(err, CD_ERR_INVALID,
                          "%s was trained with --ema (its weights are the moving average, the trained ones are "
                          "beside them): resume it with --ema",
                          path);
    return 1;
}

/* ---- schedules, monitors ---- */

const tensor *engine_runner_grad(const void *ctx, int layer, int param)
{
    return runner_param_grad((const runner *)ctx, layer, param);
}

int train_monitor_parse(const char *name, train_monitor *out)
{
    static const char *names[] = {"val_loss", "val_accuracy", "val_auc"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (train_monitor)i;
            return 0;
        }
    return -1;
}

const char *train_monitor_name(train_monitor m)
{
    switch (m) {
    case TRAIN_MONITOR_VAL_LOSS: return "val_loss";
    case TRAIN_MONITOR_VAL_ACCURACY: return "val_accuracy";
    case TRAIN_MONITOR_VAL_AUC: return "val_auc";
    }
    return "?";
}

float engine_cosine_lr(float lr0, float min_lr, int e, int epochs, int warmup)
{
    if (warmup > 0 && e < warmup)
        return (float)((double)lr0 * (e + 1) / warmup);
    double lo = min_lr, hi = lr0;
    if (hi < lo)
        return lr0;
    int span = epochs - warmup;
    if (span < 1)
        span = 1;
    return (float)(lo + 0.5 * (hi - lo) * (1.0 + cos(M_PI * (e - warmup) / (double)span)));
}

void engine_config_from_opts(engine_config *c, const train_opts *o)
{
    engine_config_defaults(c);
    c->epochs = o->epochs;
    c->batch = o->batch;
    c->backend = o->backend;
    c->threads = o->threads;
    c->schedule = o->schedule;
    c->plateau_factor = o->plateau_factor;
    c->plateau_patience = o->plateau_patience;
    c->min_lr = o->min_lr;
    c->warmup_epochs = o->warmup_epochs;
    c->monitor = o->monitor;
    c->early_stopping = o->early_stopping;
    c->label_smoothing = o->label_smoothing;
    c->ema_decay = o->ema_decay;
    c->mix.mixup_alpha = o->mixup_alpha;
    c->mix.cutmix_alpha = o->cutmix_alpha;
    c->stop = o->stop;
    c->progress = o->progress;
    c->progress_ctx = o->progress_ctx;
    c->comm = o->comm;
    c->blocking_allreduce = o->blocking_allreduce;
}

void engine_config_defaults(engine_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->schedule = TRAIN_SCHEDULE_CONSTANT;
    c->plateau_factor = 0.5f;
    c->plateau_patience = 2;
    c->min_lr = 1e-6f;
    c->monitor = TRAIN_MONITOR_VAL_LOSS;
    c->backend = RUNNER_DNNL;
    c->phase = "train";
}

unsigned long long engine_epoch_seed(unsigned long long seed, int epoch)
{
    unsigned long long z = seed + 0x9E3779B97F4A7C15ULL * (unsigned long long)(epoch + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---- files ---- */

/* engine_save; with `trained` (the trained weights when m holds their
 * average), those go into CHECKPOINT_TRAINED_GROUP: written from m after m
 * gets them back for the moment (m's weights are the average again on
 * return). */
static int save_file(model *m, const char *path, const optim_opts *oo, const optim *o, const train_state *st,
                     const engine_best *trained, cd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int bad = keras_save(m, tmp, err) < 0 || checkpoint_write(tmp, oo, o, st, err) < 0;
    if (!bad && trained) {
        /* m holds the average; swap the trained weights in just to write them. */
        engine_best avg = {0};
        bad = engine_best_init(&avg, m, err) < 0 || engine_best_keep(&avg, m, err) < 0;
        if (!bad) {
            engine_best_restore(trained, m);
            bad = checkpoint_write_params(tmp, CHECKPOINT_TRAINED_GROUP, m, err) < 0;
            engine_best_restore(&avg, m);
        }
        engine_best_free(&avg);
    }
    if (bad) {
        unlink(tmp);
        return cd_err_wrap(err, "saving %s", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

int engine_save(const model *m, const char *path, const optim_opts *oo, const optim *o,
                const train_state *st, cd_err *err)
{
    /* Without `trained` save_file never changes m. */
    return save_file((model *)m, path, oo, o, st, NULL, err);
}

/* Rank 0 (or the only process) reports and writes. */
static int is_root(const engine_config *c)
{
    return !c->comm || c->comm->rank == 0;
}

static int parallel(const engine_config *c)
{
    return c->comm && c->comm->size > 1;
}

static void emit(const engine_config *c, train_progress *p)
{
    if (c->progress && is_root(c))
        c->progress(p, c->progress_ctx);
}

/* A progress event of epoch e (0-based) with the figures every event has. */
static train_progress progress_at(const engine_config *c, train_event ev, int e, const engine_source *src,
                                  const optim *opt)
{
    train_progress p = {0};
    p.event = ev;
    p.epoch = e + 1;
    p.epochs = c->epochs;
    p.steps = src->batches(src->ctx);
    p.lr = optim_lr(opt);
    return p;
}

static int write_history(const engine_config *c, cd_err *err)
{
    if (!is_root(c))
        return 0;
    if (c->history_path && history_write_csv(c->hist, c->history_path, err) < 0)
        return -1;
    if (c->svg_path && history_write_svg(c->hist, c->svg_path, c->title ? c->title : "", err) < 0)
        return -1;
    return 0;
}

/* One JSON object per line, flushed, so a reader following the file sees each
 * epoch as it ends. */
static int log_json(const engine_config *c, const history_row *row, const engine_eval *ev, int improved,
                    float next_lr, double val_seconds, cd_err *err)
{
    if (!c->log_json || !is_root(c))
        return 0;
    /* No validation (train --final): val_loss and val_accuracy are null. */
    int has_val = isfinite(row->val_loss);
    json_t *o = json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:b,s:s}", "phase", c->phase ? c->phase : "train",
                          "epoch", row->epoch, "loss", row->loss, "accuracy", row->accuracy, "val_loss",
                          has_val ? row->val_loss : 0.0, "val_accuracy", has_val ? row->val_accuracy : 0.0,
                          "lr", row->lr, "next_lr",
                          (double)next_lr, "seconds", row->seconds, "improved", improved, "monitor",
                          train_monitor_name(c->monitor));
    if (!o)
        return cd_err_set(err, CD_ERR_NOMEM, "--log-json: out of memory");
    if (!has_val) {
        json_object_set_new(o, "val_loss", json_null());
        json_object_set_new(o, "val_accuracy", json_null());
    }
    if (isfinite(ev->auc))
        json_object_set_new(o, "val_auc", json_real(ev->auc));
    else
        json_object_set_new(o, "val_auc", json_null());
    json_object_set_new(o, "val_seconds", json_real(val_seconds));
    /* What the training loss was computed against (0: the true labels). */
    json_object_set_new(o, "label_smoothing", json_real(c->label_smoothing));
    /* and what the training batches were mixed with (0: not). */
    json_object_set_new(o, "mixup", json_real(c->mix.mixup_alpha));
    json_object_set_new(o, "cutmix", json_real(c->mix.cutmix_alpha));
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!s)
        return cd_err_set(err, CD_ERR_NOMEM, "--log-json: out of memory");
    int bad = fprintf(c->log_json, "%s\n", s) < 0 || fflush(c->log_json) != 0;
    free(s);
    if (bad)
        return cd_err_set(err, CD_ERR_IO, "--log-json: cannot write: %s", strerror(errno));
    return 0;
}

/* ---- the epoch ---- */

/* The tail's gradients of one step, summed over the ranks in one buffer:
 * views[layer * LAYER_MAX_PARAMS + param] point into buf, layer after layer.
 *
 * Overlapped (engine_config.blocking_allreduce = 0 and a comm with
 * start_sum): the buffer is cut into buckets of consecutive layers, from the
 * last layer back, each about `bucket_bytes`; the runner tells (grad_ready)
 * when a layer's gradients are final, they are copied in, and a bucket whose
 * layers are all in is started (buckets in order, so every rank starts the
 * same sums in the same order whatever its backward's timing).  What the pass
 * did not report (a rank with an empty slice runs no backward) is copied at
 * the end; then the engine waits for every sum.  Each element is summed by one
 * allreduce either way, so with 2 ranks (a + b == b + a) the result is the
 * blocking one bit for bit. */
typedef struct fused_bucket {
    size_t lo, hi;           /* elements of buf */
    int layers, pending;     /* its layers; of those, not yet in this step */
} fused_bucket;

typedef struct fused {
    float *buf;
    size_t n;
    tensor *views;
    int n_views;
    const model *m;
    /* overlapped sums */
    fused_bucket *b;
    int n_b, next_b;         /* buckets; the next to start */
    int *bucket_of;          /* per layer: its bucket, -1 for none */
    unsigned char *in;       /* per layer: copied in this step */
    const runner *rt;        /* this step's gradients (NULL: zeros) */
    const engine_comm *comm;
    double seconds;          /* spent in the hooks this step */
} fused;

static void fused_free(fused *f)
{
    free(f->buf);
    free(f->views);
    free(f->b);
    free(f->bucket_of);
    free(f->in);
    memset(f, 0, sizeof *f);
}

static const tensor *fused_grad(const void *ctx, int layer, int param)
{
    const fused *f = ctx;
    const tensor *t = &f->views[layer * LAYER_MAX_PARAMS + param];
    return t->data ? t : NULL;
}

/* The buffer and its views for m's trainable parameters, and (bucket_bytes
 * > 0) the buckets.  0 or -1. */
static int fused_init(fused *f, const model *m, size_t bucket_bytes, cd_err *err)
{
    f->m = m;
    f->n_views = m->n_layers * LAYER_MAX_PARAMS;
    f->views = calloc((size_t)f->n_views, sizeof *f->views);
    if (!f->views)
        return cd_err_set(err, CD_ERR_NOMEM, "training: out of memory");
    /* Only what the optimizer steps: not a BatchNormalization's moving
     * statistics, which get no gradient (layer_trainable_params). */
    size_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < layer_trainable_params(&m->layers[i]); p++)
            if (m->layers[i].trainable && m->layers[i].params[p])
                n += m->layers[i].params[p]->size;
    f->n = n;
    if (!(f->buf = calloc(n ? n : 1, sizeof(float))))
        return cd_err_set(err, CD_ERR_NOMEM, "training: out of memory for %zu gradients", n);
    size_t off = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < layer_trainable_params(&m->layers[i]); p++) {
            const tensor *t = m->layers[i].params[p];
            if (!m->layers[i].trainable || !t)
                continue;
            tensor *v = &f->views[i * LAYER_MAX_PARAMS + p];
            *v = *t;
            v->data = f->buf + off;
            off += t->size;
        }
    if (!bucket_bytes)
        return 0;
    f->bucket_of = malloc((size_t)m->n_layers * sizeof *f->bucket_of);
    f->in = calloc((size_t)m->n_layers, 1);
    f->b = calloc((size_t)m->n_layers, sizeof *f->b);
    if (!f->bucket_of || !f->in || !f->b)
        return cd_err_set(err, CD_ERR_NOMEM, "training: out of memory");
    /* From the last layer back, the order the backward pass finishes them. */
    fused_bucket *cur = NULL;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        f->bucket_of[i] = -1;
        size_t lo = SIZE_MAX, hi = 0;
        for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
            const tensor *v = &f->views[i * LAYER_MAX_PARAMS + p];
            if (!v->data)
                continue;
            size_t a = (size_t)(v->data - f->buf);
            lo = a < lo ? a : lo;
            hi = a + v->size > hi ? a + v->size : hi;
        }
        if (lo == SIZE_MAX)
            continue; /* nothing trained */
        if (!cur) {
            cur = &f->b[f->n_b++];
            cur->hi = hi;
        }
        assert(cur->layers == 0 || hi == cur->lo); /* layers lie in order in buf */
        cur->lo = lo;
        cur->layers++;
        f->bucket_of[i] = (int)(cur - f->b);
        if ((cur->hi - cur->lo) * sizeof(float) >= bucket_bytes)
            cur = NULL;
    }
    return 0;
}

/* Copies layer i's gradients from f->rt (zeros without one) into the buffer. */
static void fused_copy_layer(fused *f, int i)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
        tensor *v = &f->views[i * LAYER_MAX_PARAMS + p];
        if (!v->data)
            continue;
        const tensor *g = f->rt ? runner_param_grad(f->rt, i, p) : NULL;
        if (g)
            memcpy(v->data, g->data, v->size * sizeof(float));
        else
            memset(v->data, 0, v->size * sizeof(float));
    }
}

/* Starts, in order, every bucket whose layers are all in. */
static int fused_start_ready(fused *f, cd_err *err)
{
    while (f->next_b < f->n_b && f->b[f->next_b].pending == 0) {
        const fused_bucket *b = &f->b[f->next_b++];
        if (f->comm->start_sum(f->comm->ctx, f->buf + b->lo, b->hi - b->lo, err) < 0)
            return -1;
    }
    return 0;
}

/* Layer i's gradients are in (each layer once a step). */
static int fused_layer_in(fused *f, int i, cd_err *err)
{
    if (i < 0 || i >= f->m->n_layers || f->bucket_of[i] < 0 || f->in[i])
        return 0;
    fused_copy_layer(f, i);
    f->in[i] = 1;
    f->b[f->bucket_of[i]].pending--;
    return fused_start_ready(f, err);
}

/* runner_grad_ready_fn: the backward pass finished layer i. */
static int fused_on_ready(void *ctx, int i, cd_err *err)
{
    fused *f = ctx;
    double t = cd_monotonic_s();
    int rc = fused_layer_in(f, i, err) < 0 || f->comm->poll_sums(f->comm->ctx, err) < 0 ? -1 : 0;
    f->seconds += cd_monotonic_s() - t;
    return rc;
}

/* Before an overlapped step's backward: no layer in, no bucket started. */
static void fused_begin(fused *f, const runner *rt, const engine_comm *comm)
{
    f->rt = rt;
    f->comm = comm;
    f->next_b = 0;
    f->seconds = 0.0;
    memset(f->in, 0, (size_t)f->m->n_layers);
    for (int k = 0; k < f->n_b; k++)
        f->b[k].pending = f->b[k].layers;
}

/* After it: the layers the pass did not report, the buckets not started,
 * then every sum completed.  0 or -1. */
static int fused_finish(fused *f, cd_err *err)
{
    double t = cd_monotonic_s();
    int rc = 0;
    for (int i = f->m->n_layers - 1; rc == 0 && i >= 0; i--)
        rc = fused_layer_in(f, i, err);
    if (rc == 0)
        rc = f->comm->wait_sums(f->comm->ctx, err);
    f->seconds += cd_monotonic_s() - t;
    return rc;
}

/* Copies rt's gradients of m (NULL when this rank had no samples: zeros) into
 * the buffer, sums it over the ranks in one call, and leaves the views
 * pointing at the sums. */
static int fused_allreduce(fused *f, const runner *rt, const engine_comm *comm, cd_err *err)
{
    f->rt = rt;
    for (int i = 0; i < f->m->n_layers; i++)
        fused_copy_layer(f, i);
    return comm->sum_floats(comm->ctx, f->buf, f->n, err);
}

/* Samples of n whose logits (n x k) pick their label y (k == 1: 0/1;
 * k > 1: class index). */
static size_t count_correct(const float *logits, const float *y, int n, int k)
{
    if (k == 1)
        return metrics_binary_correct(logits, y, (size_t)n, 0.0f);
    size_t right = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best])
                best = j;
        right += best == (int)y[i];
    }
    return right;
}

/* A training batch's soft targets (n x k) in tgt: the labels y as
 * probabilities (one-hot rows when k > 1), mixed by d (NULL: not mixed),
 * smoothed by c->label_smoothing. */
static void soft_targets(const engine_config *c, const float *y, int n, int k, const mix_draw *d, float *tgt)
{
    if (k == 1)
        memcpy(tgt, y, (size_t)n * sizeof *tgt);
    else
        loss_onehot(y, n, k, tgt);
    if (d)
        mix_targets(tgt, n, k, d);
    loss_smooth_targets(tgt, n, k, c->label_smoothing);
}

/* Runs the steps of epoch e (0-based).  Returns 0, 1 when stopped, -1. */
static int run_steps(const engine_config *c, const engine_step *sp, optim *opt, train_state *st,
                     engine_source *src, int e, double t0, double *loss_out, double *acc_out, engine_best *ema,
                     engine_result *res, cd_err *err)
{
    runner *rf = NULL, *rt = NULL;
    step_runners(sp, c->batch, c->backend, c->threads, 1,
                 c->dropout_seed ? c->dropout_seed(st->seed, e) : engine_epoch_seed(st->seed, e), &rf, &rt, err);
    size_t nb = (size_t)c->batch * (size_t)sp->k;
    float *act = sp->front ? malloc((size_t)c->batch * model_output_size(sp->front) * sizeof(float)) : NULL;
    float *logits = malloc(nb * sizeof(float)), *grad = malloc(nb * sizeof(float));
    /* Soft targets (label smoothing, mixing): for the whole batch, made
     * before a rank takes its slice; with mixing, the dominant labels too. */
    int mixing = mix_enabled(&c->mix);
    int soft = c->label_smoothing > 0 || mixing;
    float *tgt = soft ? malloc(nb * sizeof(float)) : NULL;
    float *ydom = mixing ? malloc((size_t)c->batch * sizeof(float)) : NULL;
    engine_tally tally;
    engine_tally_init(&tally, sp->k, 0);
    fused fg = {0};
    double *counts = NULL; /* sharded source: every rank's slice size */
    int stop_all = 0;
    int ih, iw, ic;
    model_input_shape(sp->front ? sp->front : sp->tail, &ih, &iw, &ic);
    size_t in_size = (size_t)ih * (size_t)iw * (size_t)ic;
    int rc = -1;
    /* Under MPI the gradients are summed in one fused buffer, overlapped with
     * the backward pass when the comm can (engine_config.blocking_allreduce). */
    int overlap = parallel(c) && !c->blocking_allreduce && c->comm->start_sum;
    if (!rt)
        goto out;
    if (!logits || !grad || (sp->front && !act) || (soft && !tgt) || (mixing && !ydom)) {
        cd_err_set(err, CD_ERR_NOMEM, "training: out of memory");
        goto out;
    }
    if (parallel(c) &&
        fused_init(&fg, sp->tail, overlap ? (c->allreduce_bucket_bytes ? c->allreduce_bucket_bytes : ENGINE_BUCKET_BYTES) : 0,
                   err) < 0)
        goto out;
    train_progress p = progress_at(c, TRAIN_EV_STEP, e, src, opt);
    if (src->begin_epoch(src->ctx, e, err) < 0)
        goto out;
    metrics_tally mt = {0};
    long long skip = st->step_in_epoch;
    size_t step = 0;
    const float *x, *y;
    int n, got;
    while ((got = src->next(src->ctx, &x, &y, &n, err)) == 1) {
        step++;
        if ((long long)step <= skip)
            continue; /* done before the interruption this run resumes */
        int total = n;
        const float *t = tgt, *ylab = y; /* this rank's targets and accuracy labels */
        if (soft && n > 0) {
            mix_draw md;
            if (mixing) {
                /* The whole batch, before any slicing: the same mix on every rank. */
                mix_draw_batch(&c->mix, st->seed, e, (long long)step, ih, iw, &md);
                mix_images((float *)x, n, ih, iw, ic, &md); /* the source is writable (engine_run) */
                mix_dominant_labels(y, n, &md, ydom);
                ylab = ydom;
            }
            soft_targets(c, y, n, sp->k, mixing ? &md : NULL, tgt);
        }
        if (parallel(c) && !c->sharded_source) {
            /* This rank's slice of the global batch. */
            int lo = (int)((long long)n * c->comm->rank / c->comm->size);
            int hi = (int)((long long)n * (c->comm->rank + 1) / c->comm->size);
            x += (size_t)lo * in_size;
            y += lo;
            ylab += lo;
            t += (size_t)lo * (size_t)sp->k;
            n = hi - lo;
            runner_set_slice(rt, lo, total);
        } else if (parallel(c)) {
            /* Where this rank's slice lies in the global batch: the slices'
             * sizes (unreadable photos shrink them), summed in rank order. */
            if (!counts && !(counts = malloc((size_t)c->comm->size * sizeof *counts))) {
                cd_err_set(err, CD_ERR_NOMEM, "training: out of memory");
                goto out;
            }
            memset(counts, 0, (size_t)c->comm->size * sizeof *counts);
            counts[c->comm->rank] = n;
            if (c->comm->sum_doubles(c->comm->ctx, counts, (size_t)c->comm->size, err) < 0)
                goto out;
            int lo = 0, all = 0;
            for (int i = 0; i < c->comm->size; i++) {
                lo += i < c->comm->rank ? (int)counts[i] : 0;
                all += (int)counts[i];
            }
            runner_set_slice(rt, lo, all);
        }
        size_t correct = 0;
        double l = 0.0;
        if (n > 0) {
            if (step_forward(rf, rt, x, n, act, logits, err) < 0)
                goto out;
            if (soft) {
                correct = count_correct(logits, ylab, n, sp->k);
                l = sp->k == 1 ? loss_bce_logits(logits, t, n, grad) : loss_cce_logits(logits, t, n, sp->k, grad);
            } else {
                l = engine_tally_add(&tally, logits, y, n, grad, &correct, err);
                if (isnan(l) && err && err->code == CD_ERR_NOMEM)
                    goto out;
            }
        }
        if (parallel(c)) {
            double agg[4] = {l * n, (double)correct, (double)n, c->stop && *c->stop ? 1.0 : 0.0};
            if (c->comm->sum_doubles(c->comm->ctx, agg, 4, err) < 0)
                goto out;
            total = (int)agg[2]; /* the global batch (a sharded source gives only the slice) */
            l = total > 0 ? agg[0] / agg[2] : 0.0;
            correct = (size_t)agg[1];
            stop_all = agg[3] > 0;
            /* The slice's gradient is of its own mean; weighted by its share it
             * sums to the gradient of the global batch's mean. */
            float share = total > 0 ? (float)n / (float)total : 0.0f;
            for (size_t i = 0; i < (size_t)n * (size_t)sp->k; i++)
                grad[i] *= share;
            if (total == 0)
                continue; /* nothing readable anywhere: no step, as one process skips such a batch */
        }
        if (!isfinite(l)) {
            cd_err_set(err, CD_ERR_INVALID, "epoch %d step %zu: the loss became %g (try a smaller --lr)", e + 1, step,
                       l);
            goto out;
        }
        if (overlap) {
            /* The sums start as the backward pass finishes each bucket. */
            fused_begin(&fg, n > 0 ? rt : NULL, c->comm);
            runner_set_grad_ready(rt, fused_on_ready, &fg);
        }
        if (n > 0 && runner_backward(rt, grad, err) < 0)
            goto out;
        if (overlap) {
            runner_set_grad_ready(rt, NULL, NULL);
            if (fused_finish(&fg, err) < 0)
                goto out;
            res->allreduce_seconds += fg.seconds;
        } else if (parallel(c)) {
            double ta = cd_monotonic_s();
            if (fused_allreduce(&fg, n > 0 ? rt : NULL, c->comm, err) < 0)
                goto out;
            res->allreduce_seconds += cd_monotonic_s() - ta;
        }
        if (optim_step(opt, sp->tail, parallel(c) ? fused_grad : engine_runner_grad,
                       parallel(c) ? (const void *)&fg : (const void *)rt, err) < 0)
            goto out;
        runner_params_changed(rt);
        if (ema && engine_ema_update(ema, sp->tail, c->ema_decay, optim_iterations(opt), err) < 0)
            goto out;
        res->steps++;
        metrics_tally_add(&mt, l, total, correct);
        st->step_in_epoch = (long long)step;
        p.step = step;
        train_progress_means(&p, &mt, cd_monotonic_s() - t0);
        emit(c, &p);
        if (parallel(c) ? stop_all : c->stop && *c->stop) {
            rc = 1;
            goto out;
        }
    }
    if (got < 0)
        goto out;
    *loss_out = metrics_tally_loss(&mt);
    *acc_out = metrics_tally_accuracy(&mt);
    rc = 0;
out:
    free(counts);
    fused_free(&fg);
    engine_tally_free(&tally);
    free(act);
    free(logits);
    free(grad);
    free(tgt);
    free(ydom);
    runner_free(rt);
    runner_free(rf);
    return rc;
}

static double score_of(train_monitor m, const engine_eval *ev)
{
    switch (m) {
    case TRAIN_MONITOR_VAL_LOSS: return ev->loss;
    case TRAIN_MONITOR_VAL_ACCURACY: return -ev->accuracy;
    case TRAIN_MONITOR_VAL_AUC: return isfinite(ev->auc) ? -ev->auc : HUGE_VAL;
    }
    return ev->loss;
}

/* The resume checkpoint.  With an average (ema->have): the model's weights
 * are the average and the trained weights (what sp->tail holds; raw is
 * scratch for them) go beside it, CHECKPOINT_TRAINED_GROUP. */
static int save_last(const engine_config *c, const engine_step *sp, const optim *opt, const train_state *st,
                     engine_best *ema, engine_best *raw, cd_err *err)
{
    if (!c->last_path || !is_root(c))
        return 0;
    if (!ema || !ema->have)
        return engine_save(sp->tail, c->last_path, c->oo, opt, st, err);
    if (engine_best_keep(raw, sp->tail, err) < 0)
        return -1;
    engine_best_restore(ema, sp->tail);
    int rc = save_file(sp->tail, c->last_path, c->oo, opt, st, raw, err);
    engine_best_restore(raw, sp->tail);
    return rc;
}

int engine_run(const engine_config *c, const engine_step *sp, optim *opt, train_state *st,
               engine_source *train, engine_source *val, engine_best *best, engine_result *res,
               cd_err *err)
{
    memset(res, 0, sizeof *res);
    if (mix_enabled(&c->mix) && !train->writable)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "--mixup/--cutmix mix photos in place; this training source's batches are read-only "
                          "(cached features)");
    if (mix_enabled(&c->mix) && parallel(c) && c->sharded_source)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "--mixup/--cutmix under MPI need every rank to read the whole batch (pairs cross the "
                          "ranks' slices); this training source is sharded");
    runner *rf, *rv;
    if (step_runners(sp, c->batch, c->backend, c->threads, 0, 0, &rf, &rv, err) < 0)
        return -1;
    int rc = -1;
    /* --ema: the average (the caller's, or kept here from the first step)
     * and scratch for the trained weights while the tail holds the average. */
    engine_best own = {0}, raw = {0};
    engine_best *ema = c->ema_decay > 0 ? (c->ema ? c->ema : &own) : NULL;
    int swapped = 0; /* the tail holds the average, raw the trained weights */
    if (ema && ((!c->ema && engine_best_init(&own, sp->tail, err) < 0) || engine_best_init(&raw, sp->tail, err) < 0))
        goto out;
    for (int e = st->epochs_done; e < c->epochs; e++) {
        if (c->schedule == TRAIN_SCHEDULE_COSINE && st->step_in_epoch == 0)
            st->lr = engine_cosine_lr(st->base_lr, c->min_lr, e - c->schedule_start, c->epochs - c->schedule_start,
                                     c->warmup_epochs);
        optim_set_lr(opt, st->lr);
        double t0 = cd_monotonic_s();
        train_progress p = progress_at(c, TRAIN_EV_EPOCH_BEGIN, e, train, opt);
        emit(c, &p);
        double loss = NAN, acc = NAN;
        int got = run_steps(c, sp, opt, st, train, e, t0, &loss, &acc, ema, res, err);
        if (got < 0)
            goto out;
        if (got == 1) {
            res->interrupted = 1;
            rc = save_last(c, sp, opt, st, ema, &raw, err);
            goto out;
        }
        p.event = TRAIN_EV_VALIDATING;
        emit(c, &p);
        if (ema && ema->have) {
            /* Validate, judge and keep the average. */
            if (engine_best_keep(&raw, sp->tail, err) < 0)
                goto out;
            engine_best_restore(ema, sp->tail);
            swapped = 1;
        }
        runner_params_changed(rv);
        engine_eval ev = {0, NAN, NAN, NAN};
        /* Under MPI the ranks stop together, at step boundaries only. */
        double tv = cd_monotonic_s(), val_s;
        if (!val)
            got = 0; /* no validation (train --final): every epoch is the kept one */
        else if (parallel(c) && c->sharded_val)
            got = engine_evaluate_ranks(rf, rv, sp, c->batch, val, 0, c->monitor == TRAIN_MONITOR_VAL_AUC, c->comm,
                                        NULL, NULL, 0, &ev, err);
        else
            got = engine_evaluate(rf, rv, sp, c->batch, val, 0, c->monitor == TRAIN_MONITOR_VAL_AUC,
                                  parallel(c) ? NULL : c->stop, NULL, NULL, 0, &ev, err);
        val_s = cd_monotonic_s() - tv;
        res->val_seconds += val_s;
        if (got < 0)
            goto out;
        if (got == 1) {
            res->interrupted = 1; /* all steps done: a resume goes straight to validation */
            if (swapped) {
                engine_best_restore(&raw, sp->tail);
                swapped = 0;
            }
            rc = save_last(c, sp, opt, st, ema, &raw, err);
            goto out;
        }
        /* The epoch is complete: update the loop state, then save. */
        float used_lr = optim_lr(opt);
        history_row row = {e + 1, loss, acc, ev.loss, ev.accuracy, used_lr, cd_monotonic_s() - t0};
        if (c->hist && history_append(c->hist, &row, err) < 0)
            goto out;
        st->epochs_done = e + 1;
        st->step_in_epoch = 0;
        /* Without validation each epoch "improves": the last is the one kept. */
        double score = val ? score_of(c->monitor, &ev) : -(double)(e + 1);
        int improved = score < st->best_score;
        if (improved) {
            st->best_score = score;
            st->best_val_loss = ev.loss;
            st->best_epoch = e + 1;
            st->since_best = 0;
            st->best_val_accuracy = ev.accuracy;
        } else {
            st->since_best++;
        }
        /* reduce-on-plateau as Keras: a real improvement resets the wait */
        if (c->schedule == TRAIN_SCHEDULE_PLATEAU) {
            if (improved)
                st->plateau_wait = 0;
            else if (++st->plateau_wait >= c->plateau_patience) {
                float nl = st->lr * c->plateau_factor;
                st->lr = nl < c->min_lr ? c->min_lr : nl;
                st->plateau_wait = 0;
            }
        } else if (c->schedule == TRAIN_SCHEDULE_COSINE) {
            st->lr = engine_cosine_lr(st->base_lr, c->min_lr, e + 1 - c->schedule_start, c->epochs - c->schedule_start,
                                     c->warmup_epochs);
        }
        optim_set_lr(opt, st->lr);
        if (improved) {
            if (engine_best_keep(best, sp->tail, err) < 0)
                goto out;
            if (c->on_best && is_root(c) && c->on_best(c->on_best_ctx, sp->tail, st, err) < 0)
                goto out;
        }
        if (swapped) {
            engine_best_restore(&raw, sp->tail);
            swapped = 0;
        }
        if (save_last(c, sp, opt, st, ema, &raw, err) < 0 || write_history(c, err) < 0 ||
            log_json(c, &row, &ev, improved, st->lr, val_s, err) < 0)
            goto out;
        int stop_early = c->early_stopping > 0 && st->since_best >= c->early_stopping;
        p.event = TRAIN_EV_EPOCH_END;
        p.loss = loss;
        p.accuracy = acc;
        p.val_loss = ev.loss;
        p.val_accuracy = ev.accuracy;
        p.seconds = cd_monotonic_s() - t0;
        p.lr = used_lr;
        p.next_lr = st->lr;
        p.improved = improved;
        p.stopping_early = stop_early;
        emit(c, &p);
        if (stop_early) {
            res->stopped_early = 1;
            break;
        }
        double stop = c->stop && *c->stop ? 1.0 : 0.0;
        if (parallel(c) && c->comm->sum_doubles(c->comm->ctx, &stop, 1, err) < 0)
            goto out;
        if (stop > 0) {
            res->interrupted = 1;
            break;
        }
    }
    rc = 0;
out:
    if (swapped)
        engine_best_restore(&raw, sp->tail); /* the tail keeps the trained weights */
    engine_best_free(&raw);
    engine_best_free(&own);
    runner_free(rv);
    runner_free(rf);
    return rc;
}
