/*
 * runner_impl.h - internal: how runner.c dispatches to a backend.
 *
 * runner.c owns `struct runner` and forwards each call to the backend's
 * vtable; runner_ref.c (plain C) and runner_dnnl.c (oneDNN) each provide one.
 * Not part of the public contract: only engine/ includes it.
 */
#ifndef CATDOG_ENGINE_RUNNER_IMPL_H
#define CATDOG_ENGINE_RUNNER_IMPL_H

#include "engine/runner.h"

typedef struct runner_backend_ops {
    /* Creates the backend state for r (r->model, r->max_batch, r->opts are set). */
    int (*init)(runner *r, cd_err *err);
    void (*destroy)(runner *r);
    int (*forward)(runner *r, const float *input, int n, float *output, cd_err *err);
    int (*backward)(runner *r, const float *d_output, cd_err *err);
    const tensor *(*param_grad)(const runner *r, int layer_index, int param);
    void (*params_changed)(runner *r);
    const float *(*activation)(const runner *r, int layer_index);
} runner_backend_ops;

struct runner {
    const model *model;               /* borrowed; outlives the runner */
    int max_batch;
    runner_opts opts;
    const runner_backend_ops *ops;
    void *impl;                       /* owned by the backend (freed in destroy) */
    /* runner_set_slice: the next forwards draw dropout masks as samples
     * [slice_offset, slice_offset + n) of a batch of slice_total (0: none). */
    int slice_offset, slice_total;
    /* runner_set_grad_ready: told during backward which layers' gradients are final */
    runner_grad_ready_fn grad_ready;
    void *grad_ready_ctx;
};

extern const runner_backend_ops runner_ref_ops;   /* runner_ref.c */
extern const runner_backend_ops runner_dnnl_ops;  /* runner_dnnl.c */

#endif
