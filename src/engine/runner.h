/*
 * runner.h - executing a model: forward (inference and training) and backward.
 *
 * A runner binds a read-only model to a batch size and a backend, and owns
 * everything execution needs: oneDNN primitives (created once, here, never per
 * call), memory in the formats oneDNN prefers (conversion happens only at the
 * model's edges), activations, and -- in training mode -- workspaces, dropout
 * masks and gradients.  One runner per thread; many runners may share a model.
 *
 * Backends:
 *   RUNNER_DNNL  oneDNN primitives (convolution, pooling, inner product, eltwise,
 *                activations fused as post-ops).  The fast path.
 *   RUNNER_REF   plain C, short and obviously correct; the tests' oracle.
 *
 * Training: with opts.training = 1, runner_forward keeps what backward needs and
 * applies dropout; runner_backward takes dL/d(output) and fills the gradient of
 * every trainable parameter (runner_param_grad), summed over the batch.  Frozen
 * layers (trainable = 0) get no gradient.
 */
#ifndef CATDOG_ENGINE_RUNNER_H
#define CATDOG_ENGINE_RUNNER_H

#include "core/error.h"
#include "engine/model.h"

typedef enum runner_backend {
    RUNNER_DNNL = 0,
    RUNNER_REF
} runner_backend;

/* Numeric precision of the oneDNN backend's convolutions and dense layers
 * (chosen at load time; everything between them stays float32):
 *   RUNNER_PREC_AUTO  the model's own: int8 when it carries a calibration
 *                     (catdog quantize, model.quant), else float32
 *   RUNNER_PREC_F32   float32
 *   RUNNER_PREC_BF16  bfloat16 inputs and weights, float32 accumulation and output
 *   RUNNER_PREC_INT8  int8 inputs and weights (the model's calibrated scales;
 *                     layers without a scale stay float32), int32 accumulation,
 *                     float32 output -- an error for a model never quantized
 * Only inference: training and the reference backend want float32. */
typedef enum runner_precision {
    RUNNER_PREC_AUTO = 0,
    RUNNER_PREC_F32,
    RUNNER_PREC_BF16,
    RUNNER_PREC_INT8
} runner_precision;

/* "f32", "bf16", "int8" (AUTO: "auto"). */
const char *runner_precision_name(runner_precision p);
/* Parses f32/float32/bf16/int8/auto; -1 when the name is none of them. */
int runner_precision_parse(const char *name, runner_precision *out);
/* The precision a runner for m with `requested` would use (AUTO resolved). */
runner_precision runner_precision_resolve(const model *m, runner_precision requested);
/* 1 when the oneDNN backend has convolution kernels of precision p on this
 * CPU (oneDNN has int8 ones for every x86-64 ISA, bf16 ones from AVX-512 on;
 * ONEDNN_MAX_CPU_ISA lowers the ISA it uses).  0 with `why` filled ("oneDNN
 * has no bf16 convolution for AVX2 instructions") otherwise.  AUTO and F32:
 * always 1.  Costs a primitive descriptor, not a run: call it once, at start-up. */
int runner_precision_available(runner_precision p, char *why, size_t why_size);

typedef struct runner_opts {
    runner_backend backend;
    int threads;             /* 0 = all cores */
    int training;            /* 1 = keep activations for backward, apply dropout */
    unsigned long long seed; /* dropout masks (training only) */
    int output_logits;       /* 1 = the output layer skips its final sigmoid/softmax, so
                                losses can be computed from logits (numerically stable) */
    runner_precision precision; /* RUNNER_DNNL inference only; see above */
    int keep_activations;    /* 1 = runner_activation has every layer's output: the oneDNN
                                plan folds nothing (no BN, activation or residual Add into
                                a convolution, which overwrite the folded layers' outputs).
                                int8 calibration reads them all. */
} runner_opts;

typedef struct runner runner;

/* Creates a runner for at most max_batch samples.  The model must have had
 * model_infer_shapes called and must outlive the runner.  NULL on error. */
runner *runner_new(const model *m, int max_batch, const runner_opts *opts, cd_err *err);
void runner_free(runner *r);

/* Runs n (1..max_batch) samples.  `input` is n x H x W x C floats (NHWC, already
 * preprocessed); `output` receives n x model_output_size floats.  Returns 0 or -1. */
int runner_forward(runner *r, const float *input, int n, float *output, cd_err *err);

/* Training mode only: back-propagates d_output (n x output_size, for the n of the
 * last forward) and stores parameter gradients.  Returns 0 or -1. */
int runner_backward(runner *r, const float *d_output, cd_err *err);

/* Gradient of layer `layer_index`'s parameter `param` (0 kernel, 1 bias), same
 * shape as the parameter, valid after runner_backward; NULL for frozen layers or
 * layers without parameters.  Borrowed: owned by the runner. */
const tensor *runner_param_grad(const runner *r, int layer_index, int param);

/* Training: fn(ctx, layer_index, err) is called during each runner_backward
 * as soon as that layer's parameter gradients are final (runner_param_grad
 * may be read from then on, the buffer no longer written by this pass), once
 * per backward for every layer that has a gradient, from the thread that
 * called runner_backward.  The backward pass goes from the output to the
 * input, so the last layers come first (the oneDNN backend, when it splits a
 * batch over threads, and any layer the pass does not reach report after the
 * pass).  Data parallelism starts summing those gradients over the processes
 * while the pass goes on (train/engine.c).  fn returns 0, or -1 with err
 * filled, which stops the pass (runner_backward returns -1).  fn NULL: none. */
typedef int (*runner_grad_ready_fn)(void *ctx, int layer_index, cd_err *err);
void runner_set_grad_ready(runner *r, runner_grad_ready_fn fn, void *ctx);

/* Tells the runner the model's parameters changed (after an optimizer step), so
 * any copies it keeps in backend formats are refreshed before the next forward. */
void runner_params_changed(runner *r);

/* Data parallelism (train/engine.h): the next forwards' n samples are
 * samples [offset, offset + n) of a global batch of `total` split over
 * processes, so training-mode dropout draws for them the masks a runner
 * given the whole batch would draw for those samples, and the stream then
 * moves past the whole batch: N processes together draw one process's
 * masks.  total 0 (the default) = the forward's batch is the whole batch. */
void runner_set_slice(runner *r, int offset, int total);

/* The activation of layer `layer_index` from the last forward (n x out size,
 * NHWC), for feature extraction and tests.  Borrowed; NULL if not kept. */
const float *runner_activation(const runner *r, int layer_index);

#endif
