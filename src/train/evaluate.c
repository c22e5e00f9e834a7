/*
 * evaluate.c - evaluation passes, the per-batch loss, and the step benchmark
 * (see train.h).
 */
#include "train/train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "train/loss.h"
#include "train/metrics.h"

double train_batch_loss(const float *logits, const float *y, int n, int k, float *grad, float *onehot,
                        size_t *correct)
{
    if (k == 1) {
        *correct += metrics_binary_correct(logits, y, (size_t)n, 0.0f);
        return loss_bce_logits(logits, y, n, grad);
    }
    memset(onehot, 0, (size_t)n * (size_t)k * sizeof *onehot);
    for (int i = 0; i < n; i++) {
        int c = (int)y[i];
        if (c >= 0 && c < k)
            onehot[(size_t)i * k + c] = 1.0f;
        const float *z = logits + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best])
                best = j;
        *correct += best == c;
    }
    return loss_cce_logits(logits, onehot, n, k, grad);
}

int train_eval_pass(runner *r, dataset_iter *it, int epoch, int batch, int k, int want_auc,
                    const volatile sig_atomic_t *stop, train_eval *out, cd_err *err)
{
    memset(out, 0, sizeof *out);
    out->auc = NAN;
    size_t cap = dataset_iter_batches(it) * (size_t)batch;
    float *logits = malloc((size_t)batch * (size_t)k * sizeof *logits);
    float *onehot = malloc((size_t)batch * (size_t)k * sizeof *onehot);
    float *scores = want_auc && k == 1 ? malloc((cap ? cap : 1) * sizeof *scores) : NULL;
    float *labels = want_auc && k == 1 ? malloc((cap ? cap : 1) * sizeof *labels) : NULL;
    int rc = -1;
    if (!logits || !onehot || (want_auc && k == 1 && (!scores || !labels))) {
        cd_err_set(err, CD_ERR_NOMEM, "evaluation: out of memory");
        goto out;
    }
    if (dataset_iter_begin_epoch(it, epoch, err) < 0)
        goto out;
    double loss_sum = 0.0;
    size_t correct = 0;
    const float *x, *y;
    int n, got;
    while ((got = dataset_iter_next(it, &x, &y, &n, err)) == 1) {
        if (runner_forward(r, x, n, logits, err) < 0)
            goto out;
        loss_sum += train_batch_loss(logits, y, n, k, NULL, onehot, &correct) * n;
        if (scores && out->n + (size_t)n <= cap) {
            memcpy(scores + out->n, logits, (size_t)n * sizeof *scores);
            memcpy(labels + out->n, y, (size_t)n * sizeof *labels);
        }
        out->n += (size_t)n;
        if (stop && *stop) {
            rc = 1;
            goto out;
        }
    }
    if (got < 0)
        goto out;
    if (out->n > 0) {
        out->loss = loss_sum / (double)out->n;
        out->accuracy = (double)correct / (double)out->n;
    }
    if (scores && out->n > 0 && out->n <= cap) {
        double auc;
        if (metrics_roc_auc(scores, labels, out->n, &auc, NULL) == 0)
            out->auc = auc;
    }
    rc = 0;
out:
    free(logits);
    free(onehot);
    free(scores);
    free(labels);
    return rc;
}

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
    rc = train_eval_pass(r, it, 0, batch, k, 1, NULL, out, err) < 0 ? -1 : 0;
out:
    runner_free(r);
    dataset_iter_free(it);
    dataset_free(d);
    return rc;
}

const tensor *train_runner_grad(const void *ctx, int layer, int param)
{
    return runner_param_grad((const runner *)ctx, layer, param);
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
    float *onehot = malloc((size_t)batch * k * sizeof *onehot);
    runner *r = NULL;
    optim *o = NULL;
    int rc = -1;
    if (!x || !y || !logits || !grad || !onehot) {
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
        size_t correct = 0;
        if (runner_forward(r, x, batch, logits, err) < 0)
            goto out;
        train_batch_loss(logits, y, batch, k, grad, onehot, &correct);
        if (runner_backward(r, grad, err) < 0 || optim_step(o, m, train_runner_grad, r, err) < 0)
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
    free(onehot);
    return rc;
}
