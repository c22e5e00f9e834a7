/*
 * runner.c - the public runner API (runner.h): argument checks, then dispatch
 * to a backend through its runner_backend_ops (runner_impl.h).
 *
 * Backends own all execution state in r->impl; this file only validates calls
 * so that every backend can assume sane arguments.
 */
#include "engine/runner.h"

#include <stdlib.h>
#include <string.h>

#include "engine/runner_impl.h"

/* The vtable of a backend, or NULL with err filled when it is not available. */
static const runner_backend_ops *backend_ops(runner_backend backend, cd_err *err)
{
    switch (backend) {
    case RUNNER_REF:
        return &runner_ref_ops;
    case RUNNER_DNNL:
        return &runner_dnnl_ops;
    }
    cd_err_set(err, CD_ERR_INVALID, "unknown runner backend %d", (int)backend);
    return NULL;
}

const char *runner_precision_name(runner_precision p)
{
    switch (p) {
    case RUNNER_PREC_F32: return "f32";
    case RUNNER_PREC_BF16: return "bf16";
    case RUNNER_PREC_INT8: return "int8";
    case RUNNER_PREC_AUTO: break;
    }
    return "auto";
}

int runner_precision_parse(const char *name, runner_precision *out)
{
    static const struct { const char *name; runner_precision p; } names[] = {
        {"auto", RUNNER_PREC_AUTO}, {"f32", RUNNER_PREC_F32}, {"float32", RUNNER_PREC_F32},
        {"bf16", RUNNER_PREC_BF16}, {"bfloat16", RUNNER_PREC_BF16}, {"int8", RUNNER_PREC_INT8},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].p;
            return 0;
        }
    return -1;
}

runner_precision runner_precision_resolve(const model *m, runner_precision requested)
{
    if (requested != RUNNER_PREC_AUTO)
        return requested;
    return m && m->quant.int8 ? RUNNER_PREC_INT8 : RUNNER_PREC_F32;
}

/* Reduced precision is an inference-time choice of the oneDNN backend; say so
 * instead of silently running float32. */
static int check_precision(const model *m, runner_opts *o, cd_err *err)
{
    /* a quantized model still trains and runs on the reference in float32 */
    if (o->precision == RUNNER_PREC_AUTO && (o->training || o->backend != RUNNER_DNNL))
        o->precision = RUNNER_PREC_F32;
    o->precision = runner_precision_resolve(m, o->precision);
    if (o->precision == RUNNER_PREC_F32)
        return 0;
    const char *name = runner_precision_name(o->precision);
    if (o->backend != RUNNER_DNNL)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "precision %s needs the oneDNN backend (the reference is float32 only)",
                          name);
    if (o->training)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "precision %s is for inference; training runs in float32", name);
    if (o->precision == RUNNER_PREC_INT8 && !m->quant.int8)
        return cd_err_set(err, CD_ERR_INVALID,
                          "model '%s' has no int8 calibration: make one with `catdog quantize "
                          "--model IN --calibrate DIR --out OUT`, or use --precision f32 or bf16",
                          m->name);
    return 0;
}

runner *runner_new(const model *m, int max_batch, const runner_opts *opts, cd_err *err)
{
    if (!m || m->n_layers == 0) {
        cd_err_set(err, CD_ERR_INVALID, "runner_new: empty model");
        return NULL;
    }
    if (max_batch < 1) {
        cd_err_set(err, CD_ERR_INVALID, "runner_new: batch size %d must be at least 1", max_batch);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].out_rank == 0) {
            cd_err_set(err, CD_ERR_INVALID,
                       "model '%s': shapes not inferred (layer '%s'); call model_infer_shapes",
                       m->name, m->layers[i].name);
            return NULL;
        }
    }
    runner_opts o = {0};
    if (opts)
        o = *opts;
    if (check_precision(m, &o, err))
        return NULL;
    const runner_backend_ops *ops = backend_ops(o.backend, err);
    if (!ops)
        return NULL;
    runner *r = calloc(1, sizeof *r);
    if (!r) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a runner");
        return NULL;
    }
    r->model = m;
    r->max_batch = max_batch;
    r->opts = o;
    r->ops = ops;
    if (ops->init(r, err) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void runner_free(runner *r)
{
    if (!r)
        return;
    r->ops->destroy(r);
    free(r);
}

int runner_forward(runner *r, const float *input, int n, float *output, cd_err *err)
{
    if (!r || !input || !output)
        return cd_err_set(err, CD_ERR_INVALID, "runner_forward: NULL argument");
    if (n < 1 || n > r->max_batch)
        return cd_err_set(err, CD_ERR_INVALID, "runner_forward: batch %d not in 1..%d", n,
                          r->max_batch);
    return r->ops->forward(r, input, n, output, err);
}

int runner_backward(runner *r, const float *d_output, cd_err *err)
{
    if (!r || !d_output)
        return cd_err_set(err, CD_ERR_INVALID, "runner_backward: NULL argument");
    if (!r->opts.training)
        return cd_err_set(err, CD_ERR_INVALID,
                          "runner_backward: the runner was not created for training");
    return r->ops->backward(r, d_output, err);
}

const tensor *runner_param_grad(const runner *r, int layer_index, int param)
{
    if (!r || layer_index < 0 || layer_index >= r->model->n_layers || param < 0 ||
        param >= LAYER_MAX_PARAMS)
        return NULL;
    return r->ops->param_grad(r, layer_index, param);
}

void runner_set_slice(runner *r, int offset, int total)
{
    if (!r)
        return;
    r->slice_offset = total > 0 ? offset : 0;
    r->slice_total = total > 0 ? total : 0;
}

void runner_set_grad_ready(runner *r, runner_grad_ready_fn fn, void *ctx)
{
    if (!r)
        return;
    r->grad_ready = fn;
    r->grad_ready_ctx = fn ? ctx : NULL;
}

void runner_params_changed(runner *r)
{
    if (r)
        r->ops->params_changed(r);
}

const float *runner_activation(const runner *r, int layer_index)
{
    if (!r || layer_index < 0 || layer_index >= r->model->n_layers)
        return NULL;
    return r->ops->activation(r, layer_index);
}
