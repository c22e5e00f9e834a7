/*
 * transfer_train.c - feature extraction into the cache, then the head's
 * training loop on cached features (see transfer_train.h).
 *
 * The head is tiny next to the backbone (a few hundred thousand weights on a
 * vector of 512-1024 floats), so an epoch over 11,200 cached images takes
 * well under a second: the run is dominated by extraction, which happens once.
 * The loop mirrors train/train.c's (same optimizer, losses, metrics, history
 * files and progress events) but feeds cached vectors instead of images.
 */
#include "transfer/transfer_train.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "data/dataset.h"
#include "train/history.h"
#include "train/loss.h"
#include "train/metrics.h"
#include "transfer/transfer_finetune.h"
#include "transfer/transfer_model.h"
#include "transfer/transfer_weights.h"

void transfer_opts_defaults(transfer_opts *t)
{
    memset(t, 0, sizeof *t);
    t->backbone = "squeezenet";
    transfer_head_default(&t->head);
    t->extract_batch = 32;
    t->fine_tune_epochs = 3;
    t->fine_tune_lr = 1e-4f;
}

/* splitmix64: shuffles and variant picks as a pure function of the seed. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* One part of the split (train/validation/test): its files and features. */
typedef struct part {
    const char *name;
    dataset *d;
    transfer_features f;
} part;

typedef struct run {
    const train_opts *o;
    const transfer_opts *t;
    transfer_result *res;
    const transfer_backbone_info *b;
    transfer_weights_found wf;
    model *backbone;       /* with the extractor's pooling appended after the cut */
    char cut[LAYER_NAME_MAX];
    int img_size;
    part parts[3];         /* train, validation, test (d NULL when absent) */
    model *head;           /* the training model on cached vectors */
    size_t off, len;       /* the head's slice of a cached vector */
    history hist;
} run;

static void emit(const run *r, train_progress *p)
{
    if (r->o->progress)
        r->o->progress(p, r->o->progress_ctx);
}

/* Fails early when out_path's folder is missing or not writable. */
static int check_writable(const char *out_path, cd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.probe.tmp", out_path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", out_path, strerror(errno));
    fclose(f);
    remove(tmp);
    return 0;
}

typedef struct progress_ctx {
    const run *r;
    const char *part;
} progress_ctx;

static void on_extract(size_t done, size_t total, void *ctx)
{
    const progress_ctx *pc = ctx;
    if (pc->r->t->extract_progress)
        pc->r->t->extract_progress(pc->part, done, total, 0, pc->r->t->extract_ctx);
}

/* Features of one part: from the cache file when its key matches, else
 * extracted (and saved when there is a cache folder). */
static int part_features(run *r, part *p, int variants, cd_err *err)
{
    const dataset *d = p->d;
    char key[TRANSFER_KEY_MAX];
    transfer_pool pool = r->t->head.pool == TRANSFER_POOL_FLATTEN ? TRANSFER_POOL_FLATTEN
                                                                  : TRANSFER_POOL_GAPGMP;
    if (transfer_features_key(r->wf.sha256, r->img_size, pool, variants,
                              (const char *const *)d->paths, d->labels, d->n, key, err) != 0)
        return -1;
    char path[4400] = "";
    if (r->t->cache_dir) {
        snprintf(path, sizeof path, "%s/%s_%d_%s_v%d_%s.feat", r->t->cache_dir, r->b->name,
                 r->img_size, pool == TRANSFER_POOL_FLATTEN ? "flatten" : "gapgmp", variants,
                 p->name);
        int got = transfer_features_load(&p->f, key, path, err);
        if (got < 0)
            return -1;
        if (got == 1) {
            if (r->t->extract_progress)
                r->t->extract_progress(p->name, d->n, d->n, 1, r->t->extract_ctx);
            return 0;
        }
    }
    progress_ctx pc = {r, p->name};
    transfer_extract_opts eo = {0};
    eo.variants = variants;
    eo.batch = r->t->extract_batch;
    eo.backend = r->o->backend;
    eo.threads = r->o->threads;
    eo.stop = r->o->stop;
    eo.progress = on_extract;
    eo.progress_ctx = &pc;
    double t0 = cd_monotonic_s();
    if (transfer_extract(r->backbone, (const char *const *)d->paths, d->labels, d->n, &eo, &p->f,
                         err) != 0)
        return cd_err_wrap(err, "%s features", p->name);
    r->res->extract_seconds += cd_monotonic_s() - t0;
    r->res->extracted_images += p->f.n * (size_t)variants;
    if (p->f.n == 0)
        return cd_err_set(err, CD_ERR_FORMAT, "%s: no readable image", p->name);
    if (path[0] && transfer_features_save(&p->f, key, path, err) != 0)
        return -1;
    return 0;
}

/* Copies the head's slice of sample idx (variant v) of f into dst. */
static void gather(const run *r, const transfer_features *f, size_t idx, int v, float *dst)
{
    memcpy(dst, f->x + (idx * (size_t)f->variants + (size_t)v) * f->dim + r->off,
           r->len * sizeof(float));
}

/* Logits of every sample of f for variant v (out: f->n floats). */
static int head_logits(const run *r, const transfer_features *f, int v, float *out, cd_err *err)
{
    int batch = r->o->batch > 0 ? r->o->batch : 32;
    runner_opts ro = {0};
    ro.backend = r->o->backend;
    ro.threads = r->o->threads;
    ro.output_logits = 1;
    runner *rn = runner_new(r->head, batch, &ro, err);
    if (!rn)
        return -1;
    float *x = malloc((size_t)batch * r->len * sizeof(float));
    int rc = x ? 0 : cd_err_set(err, CD_ERR_NOMEM, "out of memory evaluating the head");
    for (size_t i = 0; rc == 0 && i < f->n; i += (size_t)batch) {
        int n = (int)((f->n - i) < (size_t)batch ? (f->n - i) : (size_t)batch);
        for (int k = 0; k < n; k++)
            gather(r, f, i + (size_t)k, v, x + (size_t)k * r->len);
        rc = runner_forward(rn, x, n, out + i, err);
    }
    free(x);
    runner_free(rn);
    return rc;
}

typedef struct eval {
    double loss, accuracy, auc;
    double accuracy_tta, auc_tta;
} eval;

/* Loss, accuracy and AUC of the head on f (and with the flipped variant
 * averaged in when f has it; probabilities averaged as the predictor does). */
static int evaluate(const run *r, const transfer_features *f, int want_auc, eval *ev, cd_err *err)
{
    float *z = malloc(f->n * sizeof(float));
    float *z2 = f->variants == 2 ? malloc(f->n * sizeof(float)) : NULL;
    int rc = z && (f->variants == 1 || z2) ? 0 : cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = head_logits(r, f, 0, z, err);
    if (rc == 0) {
        ev->loss = loss_bce_logits(z, f->y, (int)f->n, NULL);
        ev->accuracy = metrics_binary_accuracy(z, f->y, f->n, 0.0f);
        ev->auc = NAN;
        if (want_auc && metrics_roc_auc(z, f->y, f->n, &ev->auc, err) != 0)
            rc = -1;
    }
    ev->accuracy_tta = ev->auc_tta = NAN;
    if (rc == 0 && z2 && (rc = head_logits(r, f, 1, z2, err)) == 0) {
        for (size_t i = 0; i < f->n; i++)
            z2[i] = 0.5f * (loss_sigmoid(z[i]) + loss_sigmoid(z2[i]));
        ev->accuracy_tta = metrics_binary_accuracy(z2, f->y, f->n, 0.5f);
        if (want_auc && metrics_roc_auc(z2, f->y, f->n, &ev->auc_tta, err) != 0)
            rc = -1;
    }
    free(z);
    free(z2);
    return rc;
}

typedef struct grad_ctx {
    const runner *rn;
} grad_ctx;

static const tensor *runner_grad(const void *ctx, int layer, int param)
{
    return runner_param_grad(((const grad_ctx *)ctx)->rn, layer, param);
}

/* One epoch over the cached training features.  0, 1 when stopped, -1. */
static int train_epoch(run *r, optim *opt, int e, double t0, double *loss_out, double *acc_out,
                       cd_err *err)
{
    const train_opts *o = r->o;
    const transfer_features *f = &r->parts[0].f;
    int batch = o->batch;
    runner_opts ro = {0};
    ro.backend = o->backend;
    ro.threads = o->threads;
    ro.training = 1;
    ro.output_logits = 1;
    ro.seed = mix64(o->seed ^ mix64((uint64_t)e + 1000));
    runner *rn = runner_new(r->head, batch, &ro, err);
    size_t *perm = malloc(f->n * sizeof *perm);
    float *x = malloc((size_t)batch * r->len * sizeof(float));
    float *y = malloc((size_t)batch * sizeof(float));
    float *z = malloc((size_t)batch * sizeof(float));
    float *g = malloc((size_t)batch * sizeof(float));
    int rc = -1;
    if (!rn)
        goto out;
    if (!perm || !x || !y || !z || !g) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory training the head");
        goto out;
    }
    /* Fisher-Yates from (seed, epoch). */
    uint64_t s = mix64(o->seed ^ mix64((uint64_t)e));
    for (size_t i = 0; i < f->n; i++)
        perm[i] = i;
    for (size_t i = f->n; i > 1; i--) {
        s = mix64(s);
        size_t j = (size_t)(s % i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    grad_ctx gc = {rn};
    train_progress p = {0};
    p.event = TRAIN_EV_STEP;
    p.epoch = e + 1;
    p.epochs = o->epochs;
    p.steps = (f->n + (size_t)batch - 1) / (size_t)batch;
    p.lr = optim_lr(opt);
    metrics_tally tally = {0};
    size_t step = 0;
    for (size_t i = 0; i < f->n; i += (size_t)batch) {
        int n = (int)((f->n - i) < (size_t)batch ? (f->n - i) : (size_t)batch);
        for (int k = 0; k < n; k++) {
            size_t idx = perm[i + (size_t)k];
            int v = 0;
            if (f->variants == 2) {
                s = mix64(s);
                v = (int)(s >> 63);
            }
            gather(r, f, idx, v, x + (size_t)k * r->len);
            y[k] = f->y[idx];
        }
        if (runner_forward(rn, x, n, z, err) != 0)
            goto out;
        double l = loss_bce_logits(z, y, n, g);
        if (!isfinite(l)) {
            cd_err_set(err, CD_ERR_INVALID, "epoch %d: the loss became %g (try a smaller --lr)",
                       e + 1, l);
            goto out;
        }
        if (runner_backward(rn, g, err) != 0 || optim_step(opt, r->head, runner_grad, &gc, err) != 0)
            goto out;
        runner_params_changed(rn);
        metrics_tally_add(&tally, l, n, metrics_binary_correct(z, y, (size_t)n, 0.0f));
        p.step = ++step;
        train_progress_means(&p, &tally, cd_monotonic_s() - t0);
        emit(r, &p);
        if (o->stop && *o->stop) {
            rc = 1;
            goto out;
        }
    }
    *loss_out = metrics_tally_loss(&tally);
    *acc_out = metrics_tally_accuracy(&tally);
    rc = 0;
out:
    runner_free(rn);
    free(perm);
    free(x);
    free(y);
    free(z);
    free(g);
    return rc;
}

/* Snapshot / restore of the head's parameters (the best epoch's). */
static int snapshot(const model *m, tensor **saved, cd_err *err)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++) {
            tensor **s = &saved[i * LAYER_MAX_PARAMS + k];
            const tensor *t = m->layers[i].params[k];
            if (!*s && !(*s = tensor_clone(t, err)))
                return -1;
            memcpy((*s)->data, t->data, t->size * sizeof(float));
        }
    return 0;
}

static void restore(model *m, tensor *const *saved)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++)
            if (saved[i * LAYER_MAX_PARAMS + k])
                memcpy(m->layers[i].params[k]->data, saved[i * LAYER_MAX_PARAMS + k]->data,
                       m->layers[i].params[k]->size * sizeof(float));
}

static int write_history(run *r, cd_err *err)
{
    char title[256], head[TRANSFER_HEAD_SPEC_MAX];
    transfer_head_format(&r->t->head, head, sizeof head);
    snprintf(title, sizeof title, "transfer: %s %dx%d, head %s, %s lr %g, batch %d", r->b->name,
             r->img_size, r->img_size, head, optim_keras_class(r->o->optim.kind),
             (double)r->o->optim.lr, r->o->batch);
    if (history_write_csv(&r->hist, r->res->train.history_path, err) != 0 ||
        history_write_svg(&r->hist, r->res->train.svg_path, title, err) != 0)
        return -1;
    return 0;
}

/* The head loop: epochs, validation, best weights, schedules. */
static int train_head(run *r, cd_err *err)
{
    const train_opts *o = r->o;
    train_result *tr = &r->res->train;
    optim *opt = optim_new(r->head, &o->optim, err);
    tensor **best = calloc((size_t)r->head->n_layers * LAYER_MAX_PARAMS, sizeof *best);
    int rc = -1;
    if (!opt)
        goto out;
    if (!best) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto out;
    }
    double best_loss = HUGE_VAL;
    int since_best = 0, plateau_wait = 0;
    float lr0 = o->optim.lr;
    double t_start = cd_monotonic_s();
    for (int e = 0; e < o->epochs; e++) {
        if (o->schedule == TRAIN_SCHEDULE_COSINE) {
            double lo = o->min_lr, hi = lr0;
            optim_set_lr(opt, hi < lo ? (float)hi
                                      : (float)(lo + 0.5 * (hi - lo) * (1.0 + cos(M_PI * e / (double)o->epochs))));
        }
        train_progress p = {0};
        p.event = TRAIN_EV_EPOCH_BEGIN;
        p.epoch = e + 1;
        p.epochs = o->epochs;
        p.steps = (r->parts[0].f.n + (size_t)o->batch - 1) / (size_t)o->batch;
        p.step = p.steps;
        p.lr = optim_lr(opt);
        emit(r, &p);
        double t0 = cd_monotonic_s(), loss = 0, acc = 0;
        int st = train_epoch(r, opt, e, t0, &loss, &acc, err);
        if (st < 0)
            goto out;
        if (st == 1) {
            tr->interrupted = 1;
            break;
        }
        p.event = TRAIN_EV_VALIDATING;
        emit(r, &p);
        eval ev;
        if (evaluate(r, &r->parts[1].f, 0, &ev, err) != 0)
            goto out;
        float used_lr = optim_lr(opt);
        history_row row = {e + 1, loss, acc, ev.loss, ev.accuracy, used_lr, cd_monotonic_s() - t0};
        if (history_append(&r->hist, &row, err) != 0)
            goto out;
        int improved = ev.loss < best_loss;
        if (improved) {
            best_loss = ev.loss;
            tr->best_epoch = e + 1;
            tr->best_val_loss = ev.loss;
            tr->best_val_accuracy = ev.accuracy;
            since_best = plateau_wait = 0;
            if (snapshot(r->head, best, err) != 0)
                goto out;
        } else {
            since_best++;
            plateau_wait++;
        }
        if (o->schedule == TRAIN_SCHEDULE_PLATEAU && plateau_wait >= o->plateau_patience) {
            float nl = optim_lr(opt) * o->plateau_factor;
            optim_set_lr(opt, nl < o->min_lr ? o->min_lr : nl);
            plateau_wait = 0;
        }
        tr->epochs_done = e + 1;
        int stop_early = o->early_stopping > 0 && since_best >= o->early_stopping;
        p.event = TRAIN_EV_EPOCH_END;
        p.loss = loss;
        p.accuracy = acc;
        p.val_loss = ev.loss;
        p.val_accuracy = ev.accuracy;
        p.seconds = cd_monotonic_s() - t0;
        p.lr = used_lr;
        p.next_lr = optim_lr(opt);
        p.improved = improved;
        p.stopping_early = stop_early;
        emit(r, &p);
        if (write_history(r, err) != 0)
            goto out;
        if (stop_early) {
            tr->stopped_early = 1;
            break;
        }
    }
    if (tr->best_epoch > 0)
        restore(r->head, best);
    r->res->head_seconds = cd_monotonic_s() - t_start;
    rc = 0;
out:
    if (best)
        for (int i = 0; i < r->head->n_layers * LAYER_MAX_PARAMS; i++)
            tensor_free(best[i]);
    free(best);
    optim_free(opt);
    return rc;
}

/* The composed model: the backbone up to its feature map, then the trained head. */
static model *build_composed(run *r, cd_err *err)
{
    int c = model_find(r->backbone, r->cut);
    const layer *cl = &r->backbone->layers[c];
    model *tail = model_new("transfer_head", err);
    model *m = NULL;
    if (!tail)
        return NULL;
    layer in = layer_template(LAYER_INPUT, "backbone_features", -1);
    in.in_h = cl->out_h;
    in.in_w = cl->out_w;
    in.in_c = cl->out_c;
    if (model_add(tail, &in, err) >= 0 && transfer_head_append(tail, 0, &r->t->head, err) >= 0 &&
        model_infer_shapes(tail, err) == 0 && transfer_copy_params(tail, r->head, err) == 0)
        m = transfer_compose(r->backbone, r->cut, tail, err);
    model_free(tail);
    return m;
}

/* Saves composed model m in its shipped form, cut at `cut`. */
static int save_model(run *r, model *m, const char *cut, double test_accuracy, cd_err *err)
{
    m->test_accuracy = test_accuracy;
    transfer_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.backbone, sizeof meta.backbone, "%s", r->b->name);
    snprintf(meta.backbone_file, sizeof meta.backbone_file, "%s", r->b->file);
    memcpy(meta.backbone_sha256, r->wf.sha256, sizeof meta.backbone_sha256);
    snprintf(meta.cut, sizeof meta.cut, "%s", cut);
    meta.img_size = r->img_size;
    transfer_head_format(&r->t->head, meta.head, sizeof meta.head);
    return transfer_save(m, &meta, r->o->out_path, err);
}

/* Test metrics of composed model m on the test photos (fine-tuned models:
 * their backbone changed, so the cached features no longer apply). */
static int evaluate_images(run *r, const model *m, eval *ev, size_t *n, cd_err *err)
{
    size_t cap = r->parts[2].d->n;
    float *z = malloc(cap * sizeof(float)), *zf = malloc(cap * sizeof(float));
    float *y = malloc(cap * sizeof(float));
    int rc = z && zf && y ? 0 : cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = transfer_model_logits(m, r->parts[2].d, r->o, z, zf, y, n, err);
    if (rc == 0) {
        ev->loss = loss_bce_logits(z, y, (int)*n, NULL);
        ev->accuracy = metrics_binary_accuracy(z, y, *n, 0.0f);
        for (size_t i = 0; i < *n; i++)
            zf[i] = 0.5f * (loss_sigmoid(z[i]) + loss_sigmoid(zf[i]));
        ev->accuracy_tta = metrics_binary_accuracy(zf, y, *n, 0.5f);
        if (metrics_roc_auc(z, y, *n, &ev->auc, err) != 0 ||
            metrics_roc_auc(zf, y, *n, &ev->auc_tta, err) != 0)
            rc = -1;
    }
    free(z);
    free(zf);
    free(y);
    return rc;
}

int transfer_train(const train_opts *o, const transfer_opts *t, transfer_result *res, cd_err *err)
{
    run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    res->test_accuracy_tta = res->test_auc_tta = NAN;
    r.o = o;
    r.t = t;
    r.res = res;
    history_init(&r.hist);
    double t_all = cd_monotonic_s();
    int rc = -1;
    model *composed = NULL;

    if (!o->data_dir || !o->out_path)
        return cd_err_set(err, CD_ERR_INVALID, "transfer: --data and --out are required");
    if (o->epochs < 1 || o->batch < 1)
        return cd_err_set(err, CD_ERR_INVALID, "transfer: epochs and batch must be positive");
    if (o->resume_path)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "transfer: --resume is not supported (a head trains in seconds from the "
                          "feature cache; run again with --feature-cache)");
    int flip = 0;
    if (o->augment) {
        augment_opts a = *o->augment;
        flip = a.horizontal_flip;
        a.horizontal_flip = 0;
        if (!augment_is_identity(&a))
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "transfer: only the flip augmentation can be used with cached "
                              "features (--augment flip)");
    }
    if (!(r.b = transfer_backbone_find(t->backbone ? t->backbone : "squeezenet", err)))
        return -1;
    r.img_size = o->img_size > 0 ? o->img_size : r.b->default_size;
    snprintf(r.cut, sizeof r.cut, "%s", r.b->out_layer);
    train_sibling_path(o->out_path, ".history.csv", res->train.history_path,
                       sizeof res->train.history_path);
    train_sibling_path(o->out_path, ".svg", res->train.svg_path, sizeof res->train.svg_path);

    /* 1. Everything that can fail cheaply, before any long computation. */
    static const char *names[3] = {"train", "validation", "test"};
    for (int i = 0; i < 3; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", o->data_dir, names[i]);
        r.parts[i].name = names[i];
        struct stat st;
        if (i == 2 && stat(dir, &st) != 0)
            continue; /* test/ is optional */
        if (!(r.parts[i].d = dataset_open(dir, err)))
            goto out;
        if (r.parts[i].d->n_classes != 2) {
            cd_err_set(err, CD_ERR_INVALID, "%s: %d class folders; a transfer model needs two (cats, dogs)",
                       dir, r.parts[i].d->n_classes);
            goto out;
        }
    }
    if (check_writable(o->out_path, err) != 0)
        goto out;
    if (t->cache_dir) {
        struct stat st;
        if (stat(t->cache_dir, &st) != 0 && mkdir(t->cache_dir, 0777) != 0) {
            cd_err_set(err, CD_ERR_IO, "cannot create feature cache folder %s: %s", t->cache_dir,
                       strerror(errno));
            goto out;
        }
    }
    if (!(r.backbone = transfer_backbone_load(r.b, r.img_size, t->weights_path, &r.wf, err)))
        goto out;
    if (transfer_extractor_append(r.backbone, t->head.pool, err) != 0)
        goto out;

    /* 2. Features: train (with flips when augmenting), validation, test (with flips for TTA). */
    for (int i = 0; i < 3; i++) {
        if (!r.parts[i].d)
            continue;
        int variants = (i == 0 && flip) || i == 2 ? 2 : 1;
        if (part_features(&r, &r.parts[i], variants, err) != 0) {
            if (err && err->code == CD_ERR_INTERRUPTED) {
                res->train.interrupted = 1;
                rc = 0;
            }
            goto out;
        }
        res->train.failed_images += r.parts[i].f.n_failed;
    }

    /* 3. The head on the cached vectors. */
    transfer_features_slice(t->head.pool, r.parts[0].f.dim, &r.off, &r.len);
    res->feature_size = r.len;
    if (!(r.head = transfer_head_training_model(&t->head, r.len, o->seed, err)))
        goto out;
    {
        train_progress p = {0};
        p.event = TRAIN_EV_START;
        p.model = r.head;
        p.epochs = o->epochs;
        p.n_train = r.parts[0].f.n;
        p.n_val = r.parts[1].f.n;
        p.n_test = r.parts[2].f.n;
        p.steps = (r.parts[0].f.n + (size_t)o->batch - 1) / (size_t)o->batch;
        emit(&r, &p);
    }
    if (train_head(&r, err) != 0)
        goto out;
    if (res->train.best_epoch == 0) {
        rc = 0; /* interrupted before the first epoch ended: nothing to save */
        goto out;
    }

    /* 4. Optionally fine-tune the last blocks with the head. */
    if (!(composed = build_composed(&r, err)))
        goto out;
    char cut[LAYER_NAME_MAX];
    snprintf(cut, sizeof cut, "%s", r.cut);
    int fine_tuned = 0;
    if (t->fine_tune > 0 && !res->train.interrupted) {
        transfer_finetune_opts fo = {0};
        fo.o = o;
        fo.blocks = t->fine_tune;
        fo.epochs = t->fine_tune_epochs;
        fo.lr = t->fine_tune_lr;
        fo.flip = flip;
        fo.epoch_offset = res->train.epochs_done;
        fo.total_epochs = res->train.epochs_done + t->fine_tune_epochs;
        fo.start_val_loss = res->train.best_val_loss;
        transfer_finetune_result fr;
        double t0 = cd_monotonic_s();
        if (transfer_finetune(&composed, r.b->name, r.parts[0].d, r.parts[1].d, &fo, &r.hist, &fr,
                              err) != 0)
            goto out;
        res->finetune_seconds = cd_monotonic_s() - t0;
        res->finetune_best_epoch = fr.best_epoch;
        res->train.epochs_done += fr.epochs_done;
        res->train.interrupted = fr.interrupted;
        if (fr.best_epoch > 0) {
            fine_tuned = 1;
            res->train.best_epoch = fr.best_epoch;
            res->train.best_val_loss = fr.best_val_loss;
            res->train.best_val_accuracy = fr.best_val_accuracy;
            if (transfer_finetune_cut(composed, r.b->name, t->fine_tune, cut, sizeof cut, err) != 0)
                goto out;
        }
        if (write_history(&r, err) != 0)
            goto out;
    }

    /* 5. Test, then the shipped file with its test accuracy. */
    double test_acc = -1.0;
    if (r.parts[2].d && !res->train.interrupted) {
        eval ev;
        size_t tn = r.parts[2].f.n;
        if ((fine_tuned ? evaluate_images(&r, composed, &ev, &tn, err)
                        : evaluate(&r, &r.parts[2].f, 1, &ev, err)) != 0)
            goto out;
        train_result *tr = &res->train;
        tr->has_test = 1;
        tr->test_n = tn;
        tr->test_loss = ev.loss;
        tr->test_accuracy = ev.accuracy;
        tr->test_auc = ev.auc;
        res->test_accuracy_tta = ev.accuracy_tta;
        res->test_auc_tta = ev.auc_tta;
        test_acc = ev.accuracy;
        train_progress p = {0};
        p.event = TRAIN_EV_TEST_DONE;
        p.n_test = tr->test_n;
        p.test_loss = ev.loss;
        p.test_accuracy = ev.accuracy;
        p.test_auc = ev.auc;
        emit(&r, &p);
    }
    if (save_model(&r, composed, cut, test_acc, err) != 0)
        goto out;
    {
        train_progress p = {0};
        p.event = TRAIN_EV_END;
        p.n_failed = res->train.failed_images;
        emit(&r, &p);
    }
    rc = 0;
out:
    res->train.seconds = cd_monotonic_s() - t_all;
    model_free(composed);
    history_free(&r.hist);
    model_free(r.head);
    model_free(r.backbone);
    for (int i = 0; i < 3; i++) {
        transfer_features_free(&r.parts[i].f);
        dataset_free(r.parts[i].d);
    }
    return rc;
}
