/*
 * evaluate.c - train_evaluate (a folder through the engine's evaluator) and
 * the step benchmark (see train.h).
 */
#include "train/engine.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "train/loss.h"
#include "train/metrics.h"

int train_evaluate(const model *m, const char *dir, int batch, runner_backend backend, int threads,
                   int workers, train_eval *out, cd_err *err)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    if (h != w || c != 3)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "evaluation needs a square RGB input; the model takes %dx%dx%d",
                          h, w, c);
    int k = (int)model_output_size(m);
    dataset *d = dataset_open(dir, err);
    if (!d)
        return -1;
    int rc = -1;
    dataset_iter *it = NULL;
    runner *r = NULL;
    if (k > 1 && d->n_classes != k) {
        cd_err_set(err, CD_ERR_SHAPE, "%s has %d classes but the model has %d outputs", dir, d->n_classes, k);
        goto out;
    }
    if (k == 1 && d->n_classes != 2) {
        cd_err_set(err, CD_ERR_SHAPE, "%s has %d classes; the model's sigmoid head needs 2", dir, d->n_classes);
        goto out;
    }
    dataset_iter_opts io = {0};
    io.batch = batch;
    io.img_size = h;
    io.preprocess = m->preprocess;
    io.workers = workers;
    if (!(it = dataset_iter_new(d, &io, err)))
        goto out;
    runner_opts ro = {0};
    ro.backend = backend;
    ro.threads = threads;
    ro.output_logits = 1;
    if (!(r = runner_new(m, batch, &ro, err)))
        goto out;
    engine_step sp = {NULL, (model *)m, k}; /* inference only: the tail is not changed */
    engine_source src = engine_source_dataset(it);
    engine_eval ev;
    rc = engine_evaluate(NULL, r, &sp, batch, &src, 0, 1, NULL, NULL, NULL, 0, &ev, err) < 0 ? -1 : 0;
    out->n = ev.n;
    out->loss = ev.loss;
    out->accuracy = ev.accuracy;
    out->auc = ev.auc;
out:
    runner_free(r);
    dataset_iter_free(it);
    dataset_free(d);
    return rc;
}

int train_benchmark(model *m, int batch, int steps, const optim_opts *oo, runner_backend backend,
                    int threads, double *images_per_s, double *s_per_step, cd_err *err)
{
    if (batch <= 0 || steps <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "benchmark: batch and steps must be positive");
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    int k = (int)model_output_size(m);
    size_t in = (size_t)h * w * c * batch;
    float *x = malloc(in * sizeof *x);
    float *y = malloc((size_t)batch * sizeof *y);
    float *logits = malloc((size_t)batch * k * sizeof *logits);
    float *grad = malloc((size_t)batch * k * sizeof *grad);
    engine_tally tally;
    engine_tally_init(&tally, k, 0);
    runner *r = NULL;
    optim *o = NULL;
    int rc = -1;
    if (!x || !y || !logits || !grad) {
        cd_err_set(err, CD_ERR_NOMEM, "benchmark: out of memory");
        goto out;
    }
    unsigned long long s = 12345;
    for (size_t i = 0; i < in; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    for (int i = 0; i < batch; i++)
        y[i] = (float)(i % (k == 1 ? 2 : k));
    runner_opts ro = {0};
    ro.backend = backend;
    ro.threads = threads;
    ro.training = 1;
    ro.output_logits = 1;
    ro.seed = 1;
    if (!(r = runner_new(m, batch, &ro, err)) || !(o = optim_new(m, oo, err)))
        goto out;
    double t0 = 0.0;
    for (int i = 0; i < steps + 2; i++) {
        if (i == 2)
            t0 = cd_monotonic_s();
        if (runner_forward(r, x, batch, logits, err) < 0)
            goto out;
        if (isnan(engine_tally_add(&tally, logits, y, batch, grad, NULL, err)) && err && err->code == CD_ERR_NOMEM)
            goto out;
        if (runner_backward(r, grad, err) < 0 || optim_step(o, m, engine_runner_grad, r, err) < 0)
            goto out;
        runner_params_changed(r);
    }
    double dt = cd_monotonic_s() - t0;
    *s_per_step = dt / steps;
    *images_per_s = (double)batch * steps / dt;
    rc = 0;
out:
    optim_free(o);
    runner_free(r);
    free(x);
    free(y);
    free(logits);
    free(grad);
    engine_tally_free(&tally);
    return rc;
}
