/*
 * transfer_finetune.c - fine-tuning the last backbone blocks with the head:
 * a frozen front run in inference mode feeding a trained tail (see
 * transfer_finetune.h).
 */
#include "transfer/transfer_finetune.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "train/engine.h"
#include "train/optim.h"
#include "transfer/transfer_features.h"
#include "transfer/transfer_model.h"

int transfer_finetune_cut(const model *m, const char *backbone, int blocks, char *cut, size_t n,
                          cd_err *err)
{
    char first[LAYER_NAME_MAX];
    if (strcmp(backbone, "squeezenet") == 0) {
        if (blocks < 1 || blocks > 8)
            return cd_err_set(err, CD_ERR_INVALID, "--fine-tune: SqueezeNet has 8 Fire modules, not %d",
                              blocks);
        snprintf(first, sizeof first, "fire%d/squeeze1x1", 10 - blocks);
    } else if (strcmp(backbone, "vgg16") == 0) {
        if (blocks < 1 || blocks > 4)
            return cd_err_set(err, CD_ERR_INVALID, "--fine-tune: VGG16 blocks 1..4 can be unfrozen, not %d",
                              blocks);
        snprintf(first, sizeof first, "block%d_conv1", 6 - blocks);
    } else if (strcmp(backbone, "mobilenetv2") == 0) {
        /* block_1 .. block_16 (block_16 then Conv_1 with it). */
        if (blocks < 1 || blocks > 16)
            return cd_err_set(err, CD_ERR_INVALID,
                              "--fine-tune: MobileNetV2 blocks 1..16 can be unfrozen, not %d", blocks);
        snprintf(first, sizeof first, "block_%d_expand", 17 - blocks);
    } else if (strcmp(backbone, "resnet50") == 0) {
        /* The 16 blocks conv2_block1 .. conv5_block3, last first. */
        static const int per_stage[4] = {3, 4, 6, 3};
        if (blocks < 1 || blocks > 16)
            return cd_err_set(err, CD_ERR_INVALID,
                              "--fine-tune: ResNet50 has 16 blocks, not %d", blocks);
        int stage = 3, b = per_stage[3] + 1 - blocks;
        while (b < 1)
            b += per_stage[--stage];
        snprintf(first, sizeof first, "conv%d_block%d_1_conv", stage + 2, b);
    } else if (strcmp(backbone, "efficientnetb0") == 0) {
        /* The 16 blocks block1a .. block7a, last first; top_conv goes with
         * block7a.  A block starts at its expand_conv (block1a: its dwconv). */
        static const int per_stage[7] = {1, 2, 2, 3, 3, 4, 1};
        if (blocks < 1 || blocks > 16)
            return cd_err_set(err, CD_ERR_INVALID,
                              "--fine-tune: EfficientNetB0 has 16 blocks, not %d", blocks);
        int stage = 6, b = per_stage[6] - blocks; /* 0-based within the stage */
        while (b < 0)
            b += per_stage[--stage];
        snprintf(first, sizeof first, "block%d%c_%s", stage + 1, 'a' + b,
                 stage == 0 ? "dwconv" : "expand_conv");
    } else {
        return cd_err_set(err, CD_ERR_INVALID, "--fine-tune: unknown backbone '%s'", backbone);
    }
    int i = model_find(m, first);
    if (i < 0 || m->layers[i].n_inputs != 1)
        return cd_err_set(err, CD_ERR_NOTFOUND, "model '%s' has no layer '%s'", m->name, first);
    snprintf(cut, n, "%s", m->layers[m->layers[i].inputs[0]].name);
    return 0;
}

/* front: m's layers up to the cut (named after the backbone, so composing
 * with it again gives the backbone layers their scope); tail: the rest, all
 * trainable. */
static int split_model(const model *m, const char *backbone, const char *cut, model **front,
                       model **tail, cd_err *err)
{
    *front = *tail = NULL;
    int c = model_find(m, cut);
    model *in_only = model_new(backbone, err);
    if (!in_only)
        return -1;
    layer in = layer_template(LAYER_INPUT, "cut", -1);
    in.in_h = m->layers[c].out_h;
    in.in_w = m->layers[c].out_w;
    in.in_c = m->layers[c].out_c;
    int rc = -1;
    if (model_add(in_only, &in, err) < 0 || model_infer_shapes(in_only, err) != 0)
        goto out;
    /* transfer_compose takes its scope from the backbone's name. */
    if (!(*front = transfer_compose(m, cut, in_only, err)))
        goto out;
    snprintf((*front)->name, sizeof (*front)->name, "%s", backbone);
    if (!(*tail = transfer_tail(m, cut, err)))
        goto out;
    for (int i = 0; i < (*tail)->n_layers; i++)
        (*tail)->layers[i].trainable = 1;
    rc = 0;
out:
    model_free(in_only);
    if (rc != 0) {
        model_free(*front);
        model_free(*tail);
        *front = *tail = NULL;
    }
    return rc;
}

/* A source over a dataset iterator that mirrors every batch (test-time
 * augmentation), so the evaluator sees the flipped photos as one more pass. */
typedef struct flip_src {
    dataset_iter *it;
    float *buf;
    int size;
} flip_src;

static size_t flip_batches(void *ctx)
{
    return dataset_iter_batches(((flip_src *)ctx)->it);
}

static int flip_begin(void *ctx, int epoch, cd_err *err)
{
    return dataset_iter_begin_epoch(((flip_src *)ctx)->it, epoch, err) < 0 ? -1 : 0;
}

static int flip_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    flip_src *f = ctx;
    int got = dataset_iter_next(f->it, x, y, n, err);
    if (got == 1) {
        memcpy(f->buf, *x, (size_t)*n * (size_t)f->size * (size_t)f->size * 3 * sizeof(float));
        transfer_flip_batch(f->buf, *n, f->size);
        *x = f->buf;
    }
    return got;
}

/* Logits of front + tail over d (as is, and mirrored when flipped != NULL)
 * and labels, in dataset order, through the engine's evaluator. */
static int split_logits(const model *front, model *tail, const dataset *d, const train_opts *o,
                        float *logits, float *flipped, float *labels, size_t *n, cd_err *err)
{
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    dataset_iter_opts io = {0};
    io.batch = o->batch;
    io.img_size = s;
    io.preprocess = front->preprocess;
    io.seed = o->seed;
    dataset_iter *it = dataset_iter_new(d, &io, err);
    if (!it)
        return -1;
    engine_step sp = {front, tail, 1};
    engine_source src = engine_source_dataset(it);
    engine_eval ev;
    size_t cap = d->n;
    int rc = engine_evaluate_model(&sp, o->batch, o->backend, o->threads, &src, 0, NULL, logits, labels, cap, &ev,
                                   err);
    *n = ev.n;
    if (rc == 0 && flipped) {
        flip_src fs = {it, malloc((size_t)o->batch * (size_t)s * (size_t)s * 3 * sizeof(float)), s};
        engine_source fsrc = {&fs, flip_batches, flip_begin, flip_next, 0};
        rc = fs.buf ? engine_evaluate_model(&sp, o->batch, o->backend, o->threads, &fsrc, 0, NULL, flipped, NULL, cap,
                                            &ev, err)
                    : cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        free(fs.buf);
    }
    dataset_iter_free(it);
    return rc;
}

int transfer_model_logits(const model *m, const dataset *d, const train_opts *o, float *logits,
                          float *flipped, float *labels, size_t *n, cd_err *err)
{
    /* The whole model as "front" with an empty tail is not possible; split at
     * the head's input instead (any cut gives the same numbers). */
    int h = model_find(m, "head_gap");
    if (h < 0)
        h = model_find(m, "head_gmp");
    if (h < 0)
        h = model_find(m, "head_flatten");
    if (h < 0 || m->layers[h].n_inputs != 1)
        return cd_err_set(err, CD_ERR_INVALID, "model '%s' has no transfer head", m->name);
    model *front, *tail;
    if (split_model(m, "backbone", m->layers[m->layers[h].inputs[0]].name, &front, &tail, err) != 0)
        return -1;
    int rc = split_logits(front, tail, d, o, logits, flipped, labels, n, err);
    model_free(front);
    model_free(tail);
    return rc;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Phase 2's dropout stream, apart from the head's (as before the engine). */
static unsigned long long finetune_dropout_seed(unsigned long long seed, int epoch)
{
    return mix64(seed ^ mix64((uint64_t)epoch + 7000));
}

/* Cache progress under the part's label. */
typedef struct stage_ctx {
    const transfer_finetune_opts *fo;
    const char *label;
} stage_ctx;

static void on_cache_progress(size_t done, size_t total, void *ctx)
{
    const stage_ctx *sc = ctx;
    sc->fo->cache_progress(sc->label, done, total, 0, sc->fo->cache_progress_ctx);
}

/* The cache of front's output over d (variants 1 or 2) in fo->cache_dir,
 * named after the backbone, size, cut, precision, variants and part. */
static transfer_actcache *open_cache(const transfer_finetune_opts *fo, const model *front, const char *backbone,
                                     const char *cut, const dataset *d, int variants, const char *part,
                                     transfer_finetune_result *res, cd_err *err)
{
    const train_opts *o = fo->o;
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    char cutname[LAYER_NAME_MAX], path[4400], label[LAYER_NAME_MAX + 32];
    snprintf(cutname, sizeof cutname, "%s", cut);
    for (char *p = cutname; *p; p++)
        if (*p == '/')
            *p = '-';
    snprintf(path, sizeof path, "%s/%s_%d_%s_%s_v%d_%s.act", fo->cache_dir, backbone, s, cutname,
             transfer_actcache_precision_name(fo->cache_precision), variants, part);
    snprintf(label, sizeof label, "%s at %s", part, cut);
    stage_ctx sc = {fo, label};
    transfer_actcache_opts ao = {0};
    ao.backbone = backbone;
    ao.weights_sha256 = fo->weights_sha256;
    ao.cut = cut;
    ao.variants = variants;
    ao.precision = fo->cache_precision;
    ao.batch = o->batch;
    ao.backend = o->backend;
    ao.threads = o->threads;
    ao.workers = o->workers;
    ao.stop = o->stop;
    ao.progress = fo->cache_progress ? on_cache_progress : NULL;
    ao.progress_ctx = &sc;
    int built;
    transfer_actcache *ac = transfer_actcache_open(path, front, d, &ao, &built, err);
    if (!ac)
        return NULL;
    if (built)
        res->cache_built += (transfer_actcache_n(ac) - transfer_actcache_failed(ac)) * (size_t)variants;
    else if (fo->cache_progress)
        fo->cache_progress(label, d->n, d->n, 1, fo->cache_progress_ctx);
    return ac;
}

/* One part's cache, as every rank gets it.  Under MPI rank 0 builds it
 * while the others wait, then they open it (a rank that does not see rank
 * 0's file, on another machine, builds its own); the ranks agree on stopping
 * when rank 0 failed or was interrupted.  NULL with err filled
 * (CD_ERR_INTERRUPTED when stopped). */
static transfer_actcache *open_shared(const transfer_finetune_opts *fo, const model *front, const char *backbone,
                                      const char *cut, const dataset *d, int variants, const char *part,
                                      transfer_finetune_result *res, cd_err *err)
{
    const engine_comm *comm = fo->o->comm;
    if (!comm || comm->size < 2)
        return open_cache(fo, front, backbone, cut, d, variants, part, res, err);
    transfer_actcache *c = NULL;
    if (comm->rank == 0)
        c = open_cache(fo, front, backbone, cut, d, variants, part, res, err);
    /* 1: rank 0 failed, 2: it was interrupted. */
    double status = comm->rank != 0 || c ? 0.0 : err && err->code == CD_ERR_INTERRUPTED ? 2.0 : 1.0;
    cd_err e2; /* a failed rank 0 keeps its own message */
    if (comm->sum_doubles(comm->ctx, &status, 1, c || comm->rank != 0 ? err : &e2) != 0) {
        transfer_actcache_free(c);
        return NULL;
    }
    if (comm->rank == 0)
        return c;
    if (status == 2.0) {
        cd_err_set(err, CD_ERR_INTERRUPTED, "stopped while rank 0 built the %s cache", part);
        return NULL;
    }
    if (status != 0.0) {
        cd_err_set(err, CD_ERR_IO, "rank 0 could not build the %s cache", part);
        return NULL;
    }
    return open_cache(fo, front, backbone, cut, d, variants, part, res, err);
}

/* Both parts' caches for training.  0 or -1. */
static int open_caches(const transfer_finetune_opts *fo, const model *front, const char *backbone,
                       const char *cut, const dataset *train, const dataset *val, transfer_actcache **ct,
                       transfer_actcache **cv, transfer_finetune_result *res, cd_err *err)
{
    if (!(*ct = open_shared(fo, front, backbone, cut, train, fo->flip ? 2 : 1, "train", res, err)))
        return -1;
    return (*cv = open_shared(fo, front, backbone, cut, val, 1, "validation", res, err)) ? 0 : -1;
}

int transfer_finetune_logits(const model *m, const char *backbone, const dataset *d, const char *part,
                             const transfer_finetune_opts *fo, float *logits, float *flipped, float *labels,
                             size_t *n, cd_err *err)
{
    const train_opts *o = fo->o;
    char cut[LAYER_NAME_MAX];
    if (transfer_finetune_cut(m, backbone, fo->blocks, cut, sizeof cut, err) != 0)
        return -1;
    model *front, *tail;
    if (split_model(m, backbone, cut, &front, &tail, err) != 0)
        return -1;
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    transfer_finetune_result res = {0};
    transfer_actcache *ac = open_shared(fo, front, backbone, cut, d, 2, part, &res, err);
    int rc = ac ? 0 : -1;
    engine_step sp = {NULL, tail, 1};
    for (int v = 0; rc == 0 && v < 2; v++) {
        transfer_actcache_src cs;
        engine_source src;
        engine_eval ev;
        rc = transfer_actcache_source(&cs, ac, d, o->batch, o->seed, 0,
                                      v ? TRANSFER_ACTCACHE_MIRRORED : TRANSFER_ACTCACHE_AS_IS, s, &src, err);
        if (rc == 0)
            rc = engine_evaluate_model(&sp, o->batch, o->backend, o->threads, &src, 0, NULL, v ? flipped : logits,
                                       v ? NULL : labels, d->n, &ev, err);
        transfer_actcache_source_free(&cs);
        if (rc == 0)
            *n = ev.n;
    }
    transfer_actcache_free(ac);
    model_free(front);
    model_free(tail);
    return rc;
}

int transfer_finetune(model **m, const char *backbone, const dataset *train, const dataset *val,
                      const transfer_finetune_opts *fo, history *hist, transfer_finetune_result *res,
                      cd_err *err)
{
    const train_opts *o = fo->o;
    memset(res, 0, sizeof *res);
    char cut[LAYER_NAME_MAX];
    if (transfer_finetune_cut(*m, backbone, fo->blocks, cut, sizeof cut, err) != 0)
        return -1;
    model *front = NULL, *tail = NULL, *composed = NULL;
    optim *opt = NULL;
    dataset_iter *it = NULL, *iv = NULL;
    transfer_actcache *ct = NULL, *cv = NULL;
    transfer_actcache_src cst = {0}, csv = {0};
    engine_best best = {0};
    int rc = -1;
    if (split_model(*m, backbone, cut, &front, &tail, err) != 0)
        return -1;
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    int parallel = o->comm && o->comm->size > 1;
    res->cached = fo->cache_dir != NULL;
    engine_step sp = {front, tail, 1};
    engine_source tr, va;
    optim_opts oo = o->optim;
    oo.lr = fo->lr;
    if (!(opt = optim_new(tail, &oo, err)))
        goto out;
    if (res->cached) {
        /* The front once per photo (and mirror), then the tail alone. */
        double t0 = cd_monotonic_s();
        if (open_caches(fo, front, backbone, cut, train, val, &ct, &cv, res, err) != 0) {
            if (err && err->code == CD_ERR_INTERRUPTED) {
                res->interrupted = 1; /* *m stays as it came */
                rc = 0;
            }
            goto out;
        }
        res->cache_seconds = cd_monotonic_s() - t0;
        if (transfer_actcache_source(&cst, ct, train, o->batch, o->seed, 1,
                                     fo->flip ? TRANSFER_ACTCACHE_FLIP_RANDOM : TRANSFER_ACTCACHE_AS_IS, s, &tr,
                                     err) != 0 ||
            transfer_actcache_source(&csv, cv, val, o->batch, o->seed, 0, TRANSFER_ACTCACHE_AS_IS, s, &va, err) != 0)
            goto out;
        sp.front = NULL;
    } else {
        augment_opts flip = {0};
        flip.horizontal_flip = 1;
        dataset_iter_opts io = {0};
        io.batch = o->batch;
        io.img_size = s;
        io.preprocess = front->preprocess;
        io.shuffle = 1;
        io.seed = o->seed;
        io.workers = o->workers;
        io.augment = fo->flip ? &flip : NULL;
        if (parallel) {
            /* MPI: each rank reads only its slice of every batch (engine.h). */
            io.shard_rank = o->comm->rank;
            io.shard_count = o->comm->size;
        }
        if (!(it = dataset_iter_new(train, &io, err)))
            goto out;
        io.shuffle = 0;
        io.augment = NULL;
        io.shard_whole_batches = 1; /* MPI: each rank validates its run of whole batches */
        if (!(iv = dataset_iter_new(val, &io, err)))
            goto out;
        tr = engine_source_dataset(it);
        va = engine_source_dataset(iv);
    }
    if (engine_best_init(&best, tail, err) != 0)
        goto out;
    /* Phase 2 continues phase 1's numbering and has to beat its best. */
    train_state st;
    train_state_init(&st, fo->lr, o->seed);
    st.epochs_done = fo->epoch_offset;
    st.best_score = fo->start_score;
    engine_config ec;
    engine_config_from_opts(&ec, o);
    /* Its own schedule (constant or cosine from its first epoch) and no
     * early stop. */
    ec.schedule = fo->schedule == TRAIN_SCHEDULE_COSINE ? TRAIN_SCHEDULE_COSINE : TRAIN_SCHEDULE_CONSTANT;
    ec.warmup_epochs = ec.schedule == TRAIN_SCHEDULE_COSINE ? fo->warmup_epochs : 0;
    ec.schedule_start = fo->epoch_offset;
    ec.early_stopping = 0;
    ec.epochs = fo->total_epochs;
    ec.dropout_seed = finetune_dropout_seed;
    ec.oo = &oo;
    ec.hist = hist;
    ec.log_json = fo->log_json;
    ec.phase = "fine_tune";
    ec.sharded_source = it ? dataset_iter_sharded(it) : 0;
    ec.sharded_val = it != NULL;
    engine_result er;
    int rows_before = hist ? hist->n : 0;
    if (engine_run(&ec, &sp, opt, &st, &tr, &va, &best, &er, err) != 0)
        goto out;
    res->epochs_done = st.epochs_done - fo->epoch_offset;
    res->interrupted = er.interrupted;
    if (hist && hist->n > rows_before) {
        double sum = 0.0;
        for (int i = rows_before; i < hist->n; i++)
            sum += hist->rows[i].seconds;
        res->epoch_seconds = sum / (double)(hist->n - rows_before);
    }
    if (best.have) {
        res->best_epoch = st.best_epoch;
        res->best_val_loss = st.best_val_loss;
        res->best_val_accuracy = st.best_val_accuracy;
        engine_best_restore(&best, tail);
        if (!(composed = transfer_compose(front, cut, tail, err)))
            goto out;
        composed->test_accuracy = (*m)->test_accuracy;
        snprintf(composed->name, sizeof composed->name, "%s", (*m)->name);
        model_free(*m);
        *m = composed;
    }
    rc = 0;
out:
    engine_best_free(&best);
    optim_free(opt);
    dataset_iter_free(it);
    dataset_iter_free(iv);
    transfer_actcache_source_free(&cst);
    transfer_actcache_source_free(&csv);
    transfer_actcache_free(ct);
    transfer_actcache_free(cv);
    model_free(front);
    model_free(tail);
    return rc;
}
