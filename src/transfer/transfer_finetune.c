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
#include "train/loss.h"
#include "train/metrics.h"
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

/* Runs front then tail (inference) over d; logits (and those of the mirrored
 * photos when flipped != NULL) and labels in dataset order; *n = photos read. */
static int split_logits(const model *front, const model *tail, const dataset *d, const train_opts *o,
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
    runner_opts ro = {0};
    ro.backend = o->backend;
    ro.threads = o->threads;
    ro.output_logits = 1;
    runner *rf = it ? runner_new(front, o->batch, &(runner_opts){.backend = o->backend, .threads = o->threads}, err) : NULL;
    runner *rt = rf ? runner_new(tail, o->batch, &ro, err) : NULL;
    size_t per = (size_t)s * s * 3, cut = model_output_size(front);
    float *act = malloc((size_t)o->batch * cut * sizeof(float));
    float *xf = flipped ? malloc((size_t)o->batch * per * sizeof(float)) : NULL;
    int rc = -1;
    *n = 0;
    if (!rt)
        goto out;
    if (!act || (flipped && !xf)) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dataset_iter_begin_epoch(it, 0, err) < 0)
        goto out;
    const float *x, *y;
    int got, k;
    while ((got = dataset_iter_next(it, &x, &y, &k, err)) == 1) {
        if (runner_forward(rf, x, k, act, err) != 0 || runner_forward(rt, act, k, logits + *n, err) != 0)
            goto out;
        if (flipped) {
            memcpy(xf, x, (size_t)k * per * sizeof(float));
            transfer_flip_batch(xf, k, s);
            if (runner_forward(rf, xf, k, act, err) != 0 ||
                runner_forward(rt, act, k, flipped + *n, err) != 0)
                goto out;
        }
        memcpy(labels + *n, y, (size_t)k * sizeof(float));
        *n += (size_t)k;
    }
    rc = got < 0 ? -1 : 0;
out:
    free(act);
    free(xf);
    runner_free(rt);
    runner_free(rf);
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

typedef struct grad_ctx {
    const runner *r;
} grad_ctx;

static const tensor *runner_grad(const void *ctx, int layer, int param)
{
    return runner_param_grad(((const grad_ctx *)ctx)->r, layer, param);
}

static void emit(const train_opts *o, train_progress *p)
{
    if (o->progress)
        o->progress(p, o->progress_ctx);
}

/* One epoch of tail steps; 0, 1 when stopped, -1. */
static int ft_epoch(const transfer_finetune_opts *fo, const model *front, model *tail, optim *opt,
                    dataset_iter *it, int e, double *loss_out, double *acc_out, cd_err *err)
{
    const train_opts *o = fo->o;
    runner_opts ro = {0};
    ro.backend = o->backend;
    ro.threads = o->threads;
    ro.training = 1;
    ro.output_logits = 1;
    ro.seed = mix64(o->seed ^ mix64((uint64_t)(fo->epoch_offset + e) + 7000));
    runner *rf = runner_new(front, o->batch, &(runner_opts){.backend = o->backend, .threads = o->threads}, err);
    runner *rt = rf ? runner_new(tail, o->batch, &ro, err) : NULL;
    size_t cut = model_output_size(front);
    float *act = malloc((size_t)o->batch * cut * sizeof(float));
    float *z = malloc((size_t)o->batch * sizeof(float));
    float *g = malloc((size_t)o->batch * sizeof(float));
    int rc = -1;
    if (!rt)
        goto out;
    if (!act || !z || !g) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory fine-tuning");
        goto out;
    }
    if (dataset_iter_begin_epoch(it, fo->epoch_offset + e, err) < 0)
        goto out;
    grad_ctx gc = {rt};
    train_progress p = {0};
    p.event = TRAIN_EV_STEP;
    p.epoch = fo->epoch_offset + e + 1;
    p.epochs = fo->total_epochs;
    p.steps = dataset_iter_batches(it);
    p.lr = optim_lr(opt);
    double t0 = cd_monotonic_s();
    metrics_tally tally = {0};
    const float *x, *y;
    int n, got;
    while ((got = dataset_iter_next(it, &x, &y, &n, err)) == 1) {
        if (runner_forward(rf, x, n, act, err) != 0 || runner_forward(rt, act, n, z, err) != 0)
            goto out;
        double l = loss_bce_logits(z, y, n, g);
        if (!isfinite(l)) {
            cd_err_set(err, CD_ERR_INVALID, "fine-tuning: the loss became %g (try a smaller rate)", l);
            goto out;
        }
        if (runner_backward(rt, g, err) != 0 || optim_step(opt, tail, runner_grad, &gc, err) != 0)
            goto out;
        runner_params_changed(rt);
        metrics_tally_add(&tally, l, n, metrics_binary_correct(z, y, (size_t)n, 0.0f));
        p.step++;
        train_progress_means(&p, &tally, cd_monotonic_s() - t0);
        emit(o, &p);
        if (o->stop && *o->stop) {
            rc = 1;
            goto out;
        }
    }
    if (got < 0)
        goto out;
    *loss_out = metrics_tally_loss(&tally);
    *acc_out = metrics_tally_accuracy(&tally);
    rc = 0;
out:
    free(act);
    free(z);
    free(g);
    runner_free(rt);
    runner_free(rf);
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
    model *front = NULL, *tail = NULL, *best = NULL, *composed = NULL;
    optim *opt = NULL;
    dataset_iter *it = NULL;
    float *z = NULL, *lab = NULL;
    int rc = -1;
    if (split_model(*m, backbone, cut, &front, &tail, err) != 0)
        return -1;
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
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
    optim_opts oo = o->optim;
    oo.lr = fo->lr;
    if (!(it = dataset_iter_new(train, &io, err)) || !(opt = optim_new(tail, &oo, err)))
        goto out;
    z = malloc((val->n ? val->n : 1) * sizeof(float));
    lab = malloc((val->n ? val->n : 1) * sizeof(float));
    if (!z || !lab) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto out;
    }
    double best_loss = fo->start_val_loss;
    for (int e = 0; e < fo->epochs; e++) {
        train_progress p = {0};
        p.event = TRAIN_EV_EPOCH_BEGIN;
        p.epoch = fo->epoch_offset + e + 1;
        p.epochs = fo->total_epochs;
        p.steps = dataset_iter_batches(it);
        p.lr = fo->lr;
        emit(o, &p);
        double t0 = cd_monotonic_s(), loss = 0, acc = 0;
        int st = ft_epoch(fo, front, tail, opt, it, e, &loss, &acc, err);
        if (st < 0)
            goto out;
        if (st == 1) {
            res->interrupted = 1;
            break;
        }
        p.event = TRAIN_EV_VALIDATING;
        emit(o, &p);
        size_t n = 0;
        if (split_logits(front, tail, val, o, z, NULL, lab, &n, err) != 0)
            goto out;
        double vl = loss_bce_logits(z, lab, (int)n, NULL);
        double va = metrics_binary_accuracy(z, lab, n, 0.0f);
        history_row row = {fo->epoch_offset + e + 1, loss, acc, vl, va, fo->lr, cd_monotonic_s() - t0};
        if (history_append(hist, &row, err) != 0)
            goto out;
        int improved = vl < best_loss;
        if (improved) {
            best_loss = vl;
            res->best_epoch = fo->epoch_offset + e + 1;
            res->best_val_loss = vl;
            res->best_val_accuracy = va;
            model_free(best);
            if (!(best = transfer_tail(tail, tail->layers[0].name, err)))
                goto out;
        }
        res->epochs_done = e + 1;
        p.event = TRAIN_EV_EPOCH_END;
        p.loss = loss;
        p.accuracy = acc;
        p.val_loss = vl;
        p.val_accuracy = va;
        p.seconds = cd_monotonic_s() - t0;
        p.next_lr = fo->lr;
        p.improved = improved;
        emit(o, &p);
    }
    if (best) {
        /* best is the tail re-cut at its own input: same layers, so copy back. */
        for (int i = 1; i < best->n_layers; i++)
            for (int k = 0; k < best->layers[i].n_params; k++)
                memcpy(tail->layers[i].params[k]->data, best->layers[i].params[k]->data,
                       best->layers[i].params[k]->size * sizeof(float));
        if (!(composed = transfer_compose(front, cut, tail, err)))
            goto out;
        composed->test_accuracy = (*m)->test_accuracy;
        snprintf(composed->name, sizeof composed->name, "%s", (*m)->name);
        model_free(*m);
        *m = composed;
    }
    rc = 0;
out:
    free(z);
    free(lab);
    optim_free(opt);
    dataset_iter_free(it);
    model_free(best);
    model_free(front);
    model_free(tail);
    return rc;
}
