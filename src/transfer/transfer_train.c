/*
 * transfer_train.c - feature extraction into the cache, then the head's
 * training loop on cached features (see transfer_train.h).
 *
 * The head is tiny next to the backbone (a few hundred thousand weights on a
 * vector of 512-1024 floats), so an epoch over 11,200 cached images takes
 * well under a second: the run is dominated by extraction, which happens once.
 * Both phases are configurations of the training engine (train/engine.h):
 * phase 1 feeds cached vectors to the head, phase 2 (transfer_finetune.c)
 * photos through a frozen front to the unfrozen tail.
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
#include "modelfile/keras.h"
#include "train/checkpoint.h"
#include "train/engine.h"
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
    t->fine_tune_schedule = TRAIN_SCHEDULE_CONSTANT;
    t->fine_tune_cache = 1;
    t->fine_tune_cache_precision = TRANSFER_ACTCACHE_F32; /* exact; f16 halves the files */
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
    char title[256];       /* of the history chart */
    FILE *log_json;        /* --log-json (owned) */
    double best_score;     /* phase 1's best monitored score (phase 2 must beat it) */
} run;

/* Under MPI (o->comm) every rank trains; only rank 0 reports and writes
 * files (the model, checkpoint, history, JSON lines, feature cache). */
static int is_root(const run *r)
{
    return !r->o->comm || r->o->comm->rank == 0;
}

static int parallel(const run *r)
{
    return r->o->comm && r->o->comm->size > 1;
}

static void emit(const run *r, train_progress *p)
{
    if (r->o->progress && is_root(r))
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
    if (pc->r->t->extract_progress && is_root(pc->r))
        pc->r->t->extract_progress(pc->part, done, total, 0, pc->r->t->extract_ctx);
}

/* Replaces this rank's features f (of its shard) by those of every rank's
 * shard, in rank order: the same arrays a single process extracts. */
static int gather_features(const run *r, transfer_features *f, cd_err *err)
{
    const engine_comm *c = r->o->comm;
    float *x = NULL, *y = NULL;
    size_t nx, ny;
    double failed = (double)f->n_failed;
    if (engine_gather_floats(c, f->x, f->n * (size_t)f->variants * f->dim, &x, &nx, err) != 0 ||
        engine_gather_floats(c, f->y, f->n, &y, &ny, err) != 0 || c->sum_doubles(c->ctx, &failed, 1, err) != 0) {
        free(x);
        free(y);
        return -1;
    }
    free(f->x);
    free(f->y);
    f->x = x;
    f->y = y;
    f->n = ny;
    f->n_failed = (size_t)failed;
    return 0;
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
        if (parallel(r)) {
            /* The ranks agree: all use the cache, or all extract their shard. */
            double hits = got == 1;
            if (r->o->comm->sum_doubles(r->o->comm->ctx, &hits, 1, err) < 0)
                return -1;
            if (got == 1 && hits < r->o->comm->size) {
                transfer_features_free(&p->f);
                got = 0;
            }
        }
        if (got == 1) {
            if (r->t->extract_progress && is_root(r))
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
    /* Under MPI each rank runs the backbone on its shard of the photos only;
     * the shards' features are then gathered on every rank (in order). */
    size_t lo = 0, hi = d->n;
    if (parallel(r)) {
        lo = d->n * (size_t)r->o->comm->rank / (size_t)r->o->comm->size;
        hi = d->n * (size_t)(r->o->comm->rank + 1) / (size_t)r->o->comm->size;
    }
    if (transfer_extract(r->backbone, (const char *const *)d->paths + lo, d->labels + lo, hi - lo, &eo, &p->f,
                         err) != 0)
        return cd_err_wrap(err, "%s features", p->name);
    if (parallel(r) && gather_features(r, &p->f, err) != 0)
        return cd_err_wrap(err, "%s features", p->name);
    r->res->extract_seconds += cd_monotonic_s() - t0;
    r->res->extracted_images += p->f.n * (size_t)variants;
    if (p->f.n == 0)
        return cd_err_set(err, CD_ERR_FORMAT, "%s: no readable image", p->name);
    if (path[0] && is_root(r) && transfer_features_save(&p->f, key, path, err) != 0)
        return -1;
    return 0;
}

/* ---- cached features as an engine source ---- */

/* Batches of the head's slice of f: shuffled per epoch from (seed, epoch)
 * with one variant picked at random per sample (train), or in order with a
 * fixed variant (evaluation). */
typedef struct feat_src {
    const run *r;
    const transfer_features *f;
    int shuffle;
    int variant;            /* evaluation: the variant to read */
    size_t *perm;
    float *x, *y;
    size_t pos;
    size_t lo, hi;          /* the samples delivered: all, or a rank's run of whole batches */
    uint64_t s;
} feat_src;

static size_t feat_batches(void *ctx)
{
    const feat_src *fs = ctx;
    size_t b = (size_t)fs->r->o->batch;
    return (fs->hi - fs->lo + b - 1) / b;
}

static int feat_begin(void *ctx, int epoch, cd_err *err)
{
    (void)err;
    feat_src *fs = ctx;
    size_t n = fs->f->n;
    fs->pos = fs->lo;
    for (size_t i = 0; i < n; i++)
        fs->perm[i] = i;
    if (!fs->shuffle)
        return 0;
    /* Fisher-Yates from (seed, epoch). */
    fs->s = mix64(fs->r->o->seed ^ mix64((uint64_t)epoch));
    for (size_t i = n; i > 1; i--) {
        fs->s = mix64(fs->s);
        size_t j = (size_t)(fs->s % i);
        size_t t = fs->perm[i - 1];
        fs->perm[i - 1] = fs->perm[j];
        fs->perm[j] = t;
    }
    return 0;
}

static int feat_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    (void)err;
    feat_src *fs = ctx;
    const transfer_features *f = fs->f;
    const run *r = fs->r;
    size_t batch = (size_t)r->o->batch;
    if (fs->pos >= fs->hi)
        return 0;
    int k = (int)((fs->hi - fs->pos) < batch ? (fs->hi - fs->pos) : batch);
    for (int i = 0; i < k; i++) {
        size_t idx = fs->perm[fs->pos + (size_t)i];
        int v = fs->variant;
        if (fs->shuffle && f->variants == 2) {
            fs->s = mix64(fs->s);
            v = (int)(fs->s >> 63);
        }
        memcpy(fs->x + (size_t)i * r->len, f->x + (idx * (size_t)f->variants + (size_t)v) * f->dim + r->off,
               r->len * sizeof(float));
        fs->y[i] = f->y[idx];
    }
    fs->pos += (size_t)k;
    *x = fs->x;
    *y = fs->y;
    *n = k;
    return 1;
}

static void feat_src_free(feat_src *fs)
{
    free(fs->perm);
    free(fs->x);
    free(fs->y);
}

static int feat_src_init(feat_src *fs, const run *r, const transfer_features *f, int shuffle, int variant,
                         engine_source *src, cd_err *err)
{
    memset(fs, 0, sizeof *fs);
    fs->r = r;
    fs->f = f;
    fs->shuffle = shuffle;
    fs->variant = variant;
    fs->lo = 0;
    fs->hi = f->n;
    fs->perm = malloc((f->n ? f->n : 1) * sizeof *fs->perm);
    fs->x = malloc((size_t)r->o->batch * r->len * sizeof(float));
    fs->y = malloc((size_t)r->o->batch * sizeof(float));
    if (!fs->perm || !fs->x || !fs->y) {
        feat_src_free(fs);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for the feature batches");
    }
    src->ctx = fs;
    src->batches = feat_batches;
    src->begin_epoch = feat_begin;
    src->next = feat_next;
    src->writable = 1; /* each batch is copied into fs->x */
    return 0;
}

/* Under MPI, an evaluation source delivers only this rank's contiguous run
 * of whole batches (engine_evaluate_ranks; as dataset_iter_opts.
 * shard_whole_batches). */
static void feat_src_share(feat_src *fs, const engine_comm *c)
{
    size_t b = (size_t)fs->r->o->batch, nb = (fs->f->n + b - 1) / b;
    size_t r = (size_t)c->rank, k = (size_t)c->size;
    fs->lo = nb * r / k * b;
    fs->hi = nb * (r + 1) / k * b;
    if (fs->hi > fs->f->n)
        fs->hi = fs->f->n;
    if (fs->lo > fs->hi)
        fs->lo = fs->hi;
}

typedef struct eval {
    double loss, accuracy, auc;
    double accuracy_tta, auc_tta;
} eval;

/* Loss, accuracy and AUC of the head on f (and with the flipped variant
 * averaged in when f has it; probabilities averaged as the predictor does). */
static int evaluate(const run *r, const transfer_features *f, int want_auc, eval *ev, cd_err *err)
{
    float *z = malloc((f->n ? f->n : 1) * sizeof(float));
    float *z2 = f->variants == 2 ? malloc((f->n ? f->n : 1) * sizeof(float)) : NULL;
    int rc = z && (f->variants == 1 || z2) ? 0 : cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    engine_step sp = {NULL, r->head, 1};
    for (int v = 0; rc == 0 && v < f->variants; v++) {
        feat_src fs;
        engine_source src;
        engine_eval e;
        if (feat_src_init(&fs, r, f, 0, v, &src, err) != 0)
            rc = -1;
        else {
            rc = engine_evaluate_model(&sp, r->o->batch, r->o->backend, r->o->threads, &src, want_auc, NULL,
                                       v ? z2 : z, NULL, f->n, &e, err);
            feat_src_free(&fs);
        }
        if (rc == 0 && v == 0) {
            ev->loss = e.loss;
            ev->accuracy = e.accuracy;
            ev->auc = e.auc;
        }
    }
    ev->accuracy_tta = ev->auc_tta = NAN;
    if (rc == 0 && z2) {
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

static int write_history(run *r, cd_err *err)
{
    if (!is_root(r))
        return 0;
    if (history_write_csv(&r->hist, r->res->train.history_path, err) != 0 ||
        history_write_svg(&r->hist, r->res->train.svg_path, r->title, err) != 0)
        return -1;
    return 0;
}

static model *build_composed(run *r, cd_err *err);
static int save_model(run *r, model *m, const char *cut, double test_accuracy, cd_err *err);

/* engine on_best: the shipped file at out_path holds the best head so far (as
 * binary training does), which is also where a resumed run finds it. */
static int head_on_best(void *ctx, const model *tail, const train_state *st, cd_err *err)
{
    (void)tail;
    (void)st;
    run *r = ctx;
    model *m = build_composed(r, err);
    if (!m)
        return -1;
    int rc = save_model(r, m, r->cut, -1.0, err);
    model_free(m);
    return rc;
}

/* Resuming: the head, optimizer and loop state from <out>.last.h5, the best
 * head so far from out_path. */
static int resume_head(run *r, optim **opt, optim_opts *oo, train_state *st, engine_best *best, engine_best *ema,
                       cd_err *err)
{
    const char *path = r->o->resume_path;
    model *last = keras_load(path, err);
    if (!last)
        return cd_err_wrap(err, "resuming from %s", path);
    int rc = transfer_copy_params(r->head, last, err);
    model_free(last);
    /* --ema: the file's head is the average, the trained head beside it. */
    if (rc == 0 && engine_resume_weights(path, r->head, ema, err) < 0)
        rc = -1;
    if (rc != 0 || checkpoint_read_config(path, oo, st, err) != 0)
        return cd_err_wrap(err, "resuming from %s", path);
    if (r->o->lr_override)
        oo->lr = st->lr = r->o->optim.lr;
    if (st->epochs_done > r->o->epochs)
        return cd_err_set(err, CD_ERR_INVALID,
                          "%s already has %d epochs done; ask for at least that many with --epochs (now %d)", path,
                          st->epochs_done, r->o->epochs);
    if (!(*opt = optim_new(r->head, oo, err)) || checkpoint_read_optimizer(path, *opt, err) < 0)
        return cd_err_wrap(err, "resuming from %s", path);
    if (st->best_epoch > 0) {
        model *shipped = keras_load(r->o->out_path, err);
        model *bh = shipped ? transfer_head_training_model(&r->t->head, r->len, r->o->seed, err) : NULL;
        rc = bh && transfer_copy_params(bh, shipped, err) == 0 ? engine_best_keep(best, bh, err) : -1;
        model_free(bh);
        model_free(shipped);
        if (rc != 0)
            return cd_err_wrap(err, "resuming: the best head so far, %s", r->o->out_path);
    }
    /* Keep the history the resumed run wrote, up to where it stopped. */
    cd_err herr;
    if (history_read_csv(&r->hist, r->res->train.history_path, &herr) == 0)
        history_truncate(&r->hist, st->epochs_done);
    else
        history_free(&r->hist);
    return 0;
}

/* The head's dropout stream of epoch e (as before the engine). */
static unsigned long long head_dropout_seed(unsigned long long seed, int epoch)
{
    return mix64(seed ^ mix64((uint64_t)epoch + 1000));
}

/* Phase 1: the head on the cached vectors, a configuration of the engine (no
 * front, feature batches, checkpoints to <out>.last.h5). */
static int train_head(run *r, cd_err *err)
{
    const train_opts *o = r->o;
    train_result *tr = &r->res->train;
    optim *opt = NULL;
    optim_opts oo = o->optim;
    train_state st;
    train_state_init(&st, o->optim.lr, o->seed);
    engine_best best = {0}, ema = {0};
    feat_src fst = {0}, fsv = {0};
    engine_source strain, sval;
    int rc = -1;
    double t_start = cd_monotonic_s();
    if (engine_best_init(&best, r->head, err) != 0 || (o->ema_decay > 0 && engine_best_init(&ema, r->head, err) != 0))
        goto out;
    if (o->resume_path ? resume_head(r, &opt, &oo, &st, &best, o->ema_decay > 0 ? &ema : NULL, err) != 0
                       : !(opt = optim_new(r->head, &oo, err)))
        goto out;
    optim_set_lr(opt, st.lr);
    if (parallel(r))
        st.world_size = o->comm->size; /* in the checkpoint (catdog_world_size) */
    {
        train_progress p = {0};
        p.event = TRAIN_EV_START;
        p.model = r->head;
        p.epochs = o->epochs;
        p.n_train = r->parts[0].f.n;
        p.n_val = r->parts[1].f.n;
        p.n_test = r->parts[2].f.n;
        p.steps = (r->parts[0].f.n + (size_t)o->batch - 1) / (size_t)o->batch;
        p.resumed = o->resume_path != NULL;
        p.resumed_from = o->resume_path ? st.epochs_done : 0;
        p.resumed_step = o->resume_path ? (size_t)st.step_in_epoch : 0;
        p.lr = st.lr;
        emit(r, &p);
    }
    if (feat_src_init(&fst, r, &r->parts[0].f, 1, 0, &strain, err) != 0 ||
        feat_src_init(&fsv, r, &r->parts[1].f, 0, 0, &sval, err) != 0)
        goto out;
    engine_config c;
    engine_config_from_opts(&c, o);
    if (parallel(r)) {
        feat_src_share(&fsv, o->comm); /* each rank validates its run of batches */
        c.sharded_val = 1;
    }
    c.dropout_seed = head_dropout_seed;
    c.oo = &oo;
    c.last_path = tr->last_path;
    c.hist = &r->hist;
    c.history_path = tr->history_path;
    c.svg_path = tr->svg_path;
    c.title = r->title;
    c.log_json = r->log_json;
    c.phase = "head";
    c.on_best = head_on_best;
    c.on_best_ctx = r;
    c.ema = o->ema_decay > 0 ? &ema : NULL;
    engine_step sp = {NULL, r->head, 1};
    engine_result er;
    if (engine_run(&c, &sp, opt, &st, &strain, &sval, &best, &er, err) != 0)
        goto out;
    /* A resume that trained nothing still leaves the chart. */
    if (r->hist.n > 0 && write_history(r, err) != 0)
        goto out;
    tr->interrupted = er.interrupted;
    tr->stopped_early = er.stopped_early;
    tr->epochs_done = st.epochs_done;
    tr->best_epoch = st.best_epoch;
    tr->best_val_loss = st.best_val_loss;
    tr->best_val_accuracy = st.best_val_accuracy;
    r->best_score = st.best_score;
    engine_best_restore(&best, r->head);
    r->res->head_seconds = cd_monotonic_s() - t_start;
    rc = 0;
out:
    feat_src_free(&fst);
    feat_src_free(&fsv);
    engine_best_free(&best);
    engine_best_free(&ema);
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
    if (!is_root(r))
        return 0;
    if (transfer_save(m, &meta, r->o->out_path, err) != 0)
        return -1;
    return parallel(r) ? checkpoint_write_world_size(r->o->out_path, r->o->comm->size, err) : 0;
}

/* Test metrics of composed model m on the test photos (fine-tuned models:
 * their backbone changed, so the cached features no longer apply): from the
 * activation cache at the fine-tuning cut when fo uses one, else running
 * the whole model. */
static int evaluate_images(run *r, const model *m, const transfer_finetune_opts *fo, eval *ev, size_t *n,
                           cd_err *err)
{
    size_t cap = r->parts[2].d->n;
    float *z = malloc(cap * sizeof(float)), *zf = malloc(cap * sizeof(float));
    float *y = malloc(cap * sizeof(float));
    int rc = z && zf && y ? 0 : cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = fo->cache_dir ? transfer_finetune_logits(m, r->b->name, r->parts[2].d, "test", fo, z, zf, y, n, err)
                           : transfer_model_logits(m, r->parts[2].d, r->o, z, zf, y, n, err);
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
    if (o->final_fit)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "--final is not available with --arch transfer yet (the feature cache is per "
                          "split); train the final head with the chosen epochs on train/ alone");
    if (o->mixup_alpha > 0 || o->cutmix_alpha > 0)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "--mixup/--cutmix are not available with --arch transfer yet (the head trains on "
                          "cached feature vectors, not photos); use them with a built-in --arch");
    if (o->epochs < 1 || o->batch < 1)
        return cd_err_set(err, CD_ERR_INVALID, "transfer: epochs and batch must be positive");
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
    if (t->fine_tune_schedule != TRAIN_SCHEDULE_CONSTANT && t->fine_tune_schedule != TRAIN_SCHEDULE_COSINE)
        return cd_err_set(err, CD_ERR_INVALID, "transfer: the fine-tuning schedule is constant or cosine, not %s",
                          train_schedule_name(t->fine_tune_schedule));
    if (t->fine_tune_warmup < 0 || (t->fine_tune_warmup > 0 && t->fine_tune_schedule != TRAIN_SCHEDULE_COSINE))
        return cd_err_set(err, CD_ERR_INVALID, "transfer: fine-tuning warm-up epochs go with its cosine schedule "
                          "(got %d)", t->fine_tune_warmup);
    if (!(r.b = transfer_backbone_find(t->backbone ? t->backbone : "squeezenet", err)))
        return -1;
    r.img_size = o->img_size > 0 ? o->img_size : r.b->default_size;
    snprintf(r.cut, sizeof r.cut, "%s", r.b->out_layer);
    train_sibling_path(o->out_path, ".history.csv", res->train.history_path,
                       sizeof res->train.history_path);
    train_sibling_path(o->out_path, ".svg", res->train.svg_path, sizeof res->train.svg_path);
    train_sibling_path(o->out_path, ".last.h5", res->train.last_path, sizeof res->train.last_path);
    {
        char head[TRANSFER_HEAD_SPEC_MAX];
        transfer_head_format(&t->head, head, sizeof head);
        snprintf(r.title, sizeof r.title, "transfer: %s %dx%d, head %s, %s lr %g, batch %d", r.b->name, r.img_size,
                 r.img_size, head, optim_keras_class(o->optim.kind), (double)o->optim.lr, o->batch);
    }

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
    if (is_root(&r) && check_writable(o->out_path, err) != 0)
        goto out;
    if (o->log_json_path && is_root(&r) && !(r.log_json = fopen(o->log_json_path, o->resume_path ? "a" : "w"))) {
        cd_err_set(err, CD_ERR_IO, "--log-json: cannot write %s: %s", o->log_json_path, strerror(errno));
        goto out;
    }
    if (t->cache_dir && is_root(&r)) {
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
    transfer_finetune_opts fo = {0};
    if (t->fine_tune > 0 && !res->train.interrupted) {
        fo.o = o;
        fo.blocks = t->fine_tune;
        fo.epochs = t->fine_tune_epochs;
        fo.lr = t->fine_tune_lr;
        fo.flip = flip;
        fo.epoch_offset = res->train.epochs_done;
        fo.total_epochs = res->train.epochs_done + t->fine_tune_epochs;
        fo.start_score = r.best_score;
        fo.log_json = r.log_json;
        fo.schedule = t->fine_tune_schedule;
        fo.warmup_epochs = t->fine_tune_warmup;
        fo.cache_dir = t->fine_tune_cache ? t->cache_dir : NULL;
        fo.cache_precision = t->fine_tune_cache_precision;
        fo.weights_sha256 = r.wf.sha256;
        fo.cache_progress = is_root(&r) ? t->extract_progress : NULL;
        fo.cache_progress_ctx = t->extract_ctx;
        transfer_finetune_result fr;
        double t0 = cd_monotonic_s();
        if (transfer_finetune(&composed, r.b->name, r.parts[0].d, r.parts[1].d, &fo, &r.hist, &fr,
                              err) != 0)
            goto out;
        res->finetune_seconds = cd_monotonic_s() - t0;
        res->finetune_best_epoch = fr.best_epoch;
        res->finetune_cache_seconds = fr.cache_seconds;
        res->finetune_cache_built = fr.cache_built;
        res->finetune_epoch_seconds = fr.epoch_seconds;
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
        if ((fine_tuned ? evaluate_images(&r, composed, &fo, &ev, &tn, err)
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
    if (r.log_json)
        fclose(r.log_json);
    model_free(r.head);
    model_free(r.backbone);
    for (int i = 0; i < 3; i++) {
        transfer_features_free(&r.parts[i].f);
        dataset_free(r.parts[i].d);
    }
    return rc;
}
