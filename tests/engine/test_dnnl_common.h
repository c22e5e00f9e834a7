/*
 * test_dnnl_common.h - helpers for the oneDNN backend tests: build small models
 * layer by layer, fill them with random parameters, and run the same batch
 * through RUNNER_DNNL and RUNNER_REF (the oracle), comparing outputs, every
 * layer's activation and -- in training mode -- every parameter gradient.
 *
 * Tolerance: float32 results differ by summation order (oneDNN blocks and
 * vectorises reductions), so each tensor is compared with an absolute error of
 * TOL times its largest magnitude (plus a tiny floor); a wrong index, padding or
 * layout shows up as errors of the order of the values themselves.
 */
#ifndef CATDOG_TEST_DNNL_COMMON_H
#define CATDOG_TEST_DNNL_COMMON_H

#include "test_util.h"

#include <math.h>
#include <string.h>

#include "engine/dnnl_plan.h"
#include "engine/model.h"
#include "engine/runner.h"

#define TD_TOL 2e-5f
/* bf16 keeps 8 bits of mantissa: a few convolutions deep, 2^-8 relative per
 * rounding, against the largest output (the measured worst is printed). */
#define TD_BF16_TOL 3e-2f

/* ---- building models ---- */

static inline model *td_model(int h, int w, int c)
{
    cd_err err;
    model *m = model_new("t", &err);
    if (!m)
        fail_msg("%s", err.msg);
    layer in = layer_template(LAYER_INPUT, "input_1", -1);
    in.in_h = h;
    in.in_w = w;
    in.in_c = c;
    if (model_add(m, &in, &err) != 0)
        fail_msg("%s", err.msg);
    return m;
}

/* Appends l reading from `input`; returns its index. */
static inline int td_add(model *m, layer l, int input)
{
    cd_err err;
    char name[LAYER_NAME_MAX];
    snprintf(name, sizeof name, "%s_%d", layer_kind_name(l.kind), m->n_layers);
    snprintf(l.name, sizeof l.name, "%s", name);
    if (input >= 0) {
        l.inputs[0] = input;
        l.n_inputs = 1;
    }
    int idx = model_add(m, &l, &err);
    if (idx < 0)
        fail_msg("%s", err.msg);
    return idx;
}

static inline int td_conv(model *m, int input, int filters, int kh, int kw, int sh, int sw,
                          layer_pad pad, layer_act act, int bias)
{
    layer l = layer_template(LAYER_CONV2D, "c", -1);
    l.filters = filters;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.strides[0] = sh;
    l.strides[1] = sw;
    l.padding = pad;
    layer_set_act(&l, act);
    l.use_bias = bias;
    return td_add(m, l, input);
}

static inline int td_pool(model *m, int input, layer_kind kind, int ph, int pw, int sh, int sw,
                          layer_pad pad)
{
    layer l = layer_template(kind, "p", -1);
    l.pool[0] = ph;
    l.pool[1] = pw;
    l.strides[0] = sh;
    l.strides[1] = sw;
    l.padding = pad;
    return td_add(m, l, input);
}

static inline int td_simple(model *m, int input, layer_kind kind)
{
    return td_add(m, layer_template(kind, "s", -1), input);
}

static inline int td_dense(model *m, int input, int units, layer_act act, int bias)
{
    layer l = layer_template(LAYER_DENSE, "d", -1);
    l.units = units;
    layer_set_act(&l, act);
    l.use_bias = bias;
    return td_add(m, l, input);
}

static inline int td_act(model *m, int input, layer_act act)
{
    layer l = layer_template(LAYER_ACTIVATION, "a", -1);
    layer_set_act(&l, act);
    return td_add(m, l, input);
}

static inline int td_dropout(model *m, int input, float rate)
{
    layer l = layer_template(LAYER_DROPOUT, "dr", -1);
    l.rate = rate;
    return td_add(m, l, input);
}

/* A two-input merge layer (Add, Multiply, ...) of a and b; returns its index. */
static inline int td_merge2(model *m, layer_kind kind, int a, int b)
{
    layer l = layer_template(kind, "m", -1);
    l.inputs[0] = a;
    l.inputs[1] = b;
    l.n_inputs = 2;
    return td_add(m, l, -1);
}

static inline int td_bn(model *m, int input, int center, int scale, float eps)
{
    layer l = layer_template(LAYER_BATCHNORM, "bn", -1);
    l.center = center;
    l.scale = scale;
    l.epsilon = eps;
    l.axis = -1;
    l.rate = 0.99f;
    return td_add(m, l, input);
}

static inline int td_concat(model *m, int n, const int *inputs)
{
    layer l = layer_template(LAYER_CONCAT, "cat", -1);
    for (int k = 0; k < n; k++)
        l.inputs[k] = inputs[k];
    l.n_inputs = n;
    return td_add(m, l, -1);
}

static inline uint64_t td_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline void td_fill(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)(td_next(&seed) >> 40) * (1.0f / 16777216.0f);
}

/* Infers shapes, draws glorot kernels and random (non-zero) biases. */
static inline void td_finish(model *m, uint64_t seed)
{
    cd_err err;
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, seed);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].n_params > 1 && m->layers[i].params[1])
            td_fill(m->layers[i].params[1]->data, m->layers[i].params[1]->size, -0.2f, 0.2f,
                    seed + 1000u + (uint64_t)i);
}

/* Where td_bn_fill draws a BatchNormalization's parameters from: [lo, hi)
 * for gamma, beta and the moving variance; the moving mean is in [-1, 1). */
typedef struct td_bn_ranges {
    float gamma[2], beta[2], var[2];
} td_bn_ranges;

/* Fills the BN layer's parameters (those it has: by Keras' names) from r. */
static inline void td_bn_fill(layer *l, td_bn_ranges r, uint64_t seed)
{
    for (int k = 0; k < l->n_params; k++) {
        const char *nm = layer_param_name(l, k);
        const float *range = NULL;
        if (strcmp(nm, "gamma") == 0)
            range = r.gamma;
        else if (strcmp(nm, "beta") == 0)
            range = r.beta;
        else if (strcmp(nm, "moving_variance") == 0)
            range = r.var;
        td_fill(l->params[k]->data, l->params[k]->size, range ? range[0] : -1.0f,
                range ? range[1] : 1.0f, seed + (uint64_t)k);
    }
}

static inline size_t td_in_size(const model *m)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    return (size_t)h * (size_t)w * (size_t)c;
}

/* ---- comparing ---- */

static inline float td_maxabs(const float *x, size_t n)
{
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    return mx;
}

static inline void td_assert_close(const char *what, const float *got, const float *want, size_t n,
                                   float tol)
{
    float scale = td_maxabs(want, n);
    float lim = tol * scale + 1e-6f;
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= lim))
            fail_msg("%s: element %zu of %zu: oneDNN %.7g, reference %.7g (limit %.3g)", what, i,
                     n, (double)got[i], (double)want[i], (double)lim);
}

/* The sole reader of layer i (one input slot of one layer), or -1. */
static inline int td_sole_reader(const model *m, int i)
{
    int reader = -1, reads = 0;
    for (int j = i + 1; j < m->n_layers; j++)
        for (int k = 0; k < m->layers[j].n_inputs; k++)
            if (m->layers[j].inputs[k] == i) {
                reader = j;
                reads++;
            }
    return reads == 1 ? reader : -1;
}

/* 1 when a two-input Add reads layer i. */
static inline int td_read_by_add(const model *m, int i)
{
    for (int j = i + 1; j < m->n_layers; j++)
        for (int k = 0; k < m->layers[j].n_inputs; k++)
            if (m->layers[j].inputs[k] == i && m->layers[j].kind == LAYER_ADD &&
                m->layers[j].n_inputs == 2)
                return 1;
    return 0;
}

/* 1 when oneDNN's inference plan may keep no activation of layer i: a
 * Conv2D / DepthwiseConv2D with no activation whose only reader is a
 * BatchNormalization or an Activation layer (folded into it), or such a BN
 * whose only reader is an Activation layer (dnnl_plan.c, fold_into_convs);
 * any input of a two-input Add (its convolution computes the sum, or adds
 * to it in place: fold_adds), an Add read only by an Activation, and a
 * layer read only by a Dropout / Activation that an Add reads.  The folded
 * layers' own activations are compared. */
static inline int td_may_fold(const model *m, int i)
{
    const layer *l = &m->layers[i];
    if (td_read_by_add(m, i))
        return 1;
    int j = td_sole_reader(m, i);
    if (j < 0)
        return 0;
    layer_kind rk = m->layers[j].kind;
    if ((rk == LAYER_DROPOUT || rk == LAYER_ACTIVATION) && td_read_by_add(m, j))
        return 1;
    if (l->kind == LAYER_ADD)
        return rk == LAYER_ACTIVATION;
    if (l->kind == LAYER_BATCHNORM)
        return rk == LAYER_ACTIVATION && l->n_inputs == 1 &&
               (m->layers[l->inputs[0]].kind == LAYER_CONV2D ||
                m->layers[l->inputs[0]].kind == LAYER_DEPTHWISE_CONV2D);
    return (l->kind == LAYER_CONV2D || l->kind == LAYER_DEPTHWISE_CONV2D) &&
           l->act == ACT_LINEAR && (rk == LAYER_BATCHNORM || rk == LAYER_ACTIVATION);
}

static inline runner *td_runner(const model *m, runner_backend b, int max_batch, int training,
                                int threads, int logits)
{
    cd_err err;
    runner_opts o = {.backend = b, .threads = threads, .training = training, .seed = 42,
                     .output_logits = logits};
    runner *r = runner_new(m, max_batch, &o, &err);
    if (!r)
        fail_msg("runner_new (%s): %s", b == RUNNER_DNNL ? "dnnl" : "ref", err.msg);
    return r;
}

static inline void td_forward(runner *r, const float *x, int n, float *y)
{
    cd_err err;
    if (runner_forward(r, x, n, y, &err) != 0)
        fail_msg("runner_forward: %s", err.msg);
}

/* Forward n samples through both backends (runners made for max_batch) and
 * compare the outputs and every layer's activation the reference keeps. */
static inline void td_compare_forward(const model *m, int max_batch, int n, int threads, int logits,
                                      uint64_t seed)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x);
    float *y1 = malloc(out_sz * sizeof *y1), *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    td_fill(x, in_sz, -1.0f, 1.0f, seed);
    runner *rd = td_runner(m, RUNNER_DNNL, max_batch, 0, threads, logits);
    runner *rr = td_runner(m, RUNNER_REF, max_batch, 0, 1, logits);
    td_forward(rd, x, n, y1);
    td_forward(rr, x, n, y2);
    td_assert_close("output", y1, y2, out_sz, TD_TOL);
    for (int i = 0; i <= model_output_index(m); i++) {
        const float *a = runner_activation(rd, i), *b = runner_activation(rr, i);
        if (!b || (!a && td_may_fold(m, i)))
            continue;
        if (!a)
            fail_msg("no oneDNN activation for layer '%s'", m->layers[i].name);
        char what[160];
        snprintf(what, sizeof what, "activation of '%s'", m->layers[i].name);
        td_assert_close(what, a, b, layer_out_size(&m->layers[i]) * (size_t)n, TD_TOL);
    }
    runner_free(rd);
    runner_free(rr);
    free(x);
    free(y1);
    free(y2);
}

/* The loss sum(w * y) of runner r's outputs y (m is r's model) for the n
 * samples x: the function central differences differentiate (w is the output
 * gradient a backward pass is given). */
static inline double td_loss(runner *r, const model *m, const float *x, const float *w, int n)
{
    size_t out_sz = model_output_size(m) * (size_t)n;
    float *y = malloc(out_sz * sizeof *y);
    assert_non_null(y);
    td_forward(r, x, n, y);
    double s = 0;
    for (size_t i = 0; i < out_sz; i++)
        s += (double)w[i] * y[i];
    free(y);
    return s;
}

/* td_loss through a reference runner made for this call. */
static inline double td_ref_loss(const model *m, const float *x, const float *w, int n)
{
    runner *r = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    double s = td_loss(r, m, x, w, n);
    runner_free(r);
    return s;
}

/* One hand-computed case: the output for input x (one sample) is `want`
 * (n values, within tol) in the reference and in oneDNN alike. */
static inline void td_expect_both(const model *m, const float *x, const float *want, size_t n, float tol,
                                  const char *what)
{
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    runner_backend backs[2] = {RUNNER_REF, RUNNER_DNNL};
    for (int k = 0; k < 2; k++) {
        char label[160];
        snprintf(label, sizeof label, "%s (%s)", what, k ? "dnnl" : "ref");
        runner *r = td_runner(m, backs[k], 1, 0, 1, 0);
        td_forward(r, x, 1, y);
        td_assert_close(label, y, want, n, tol);
        runner_free(r);
    }
    free(y);
}

/* Training through both backends: n random samples forward, a random output
 * gradient back, and every parameter gradient of layers [from, to) from oneDNN
 * equals the reference's (to < 0: up to the last layer). */
static inline void td_compare_param_grads(const model *m, int n, int from, int to, uint64_t seed)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *dy = malloc(out_sz * sizeof *dy), *y = malloc(out_sz * sizeof *y);
    assert_non_null(x);
    assert_non_null(dy);
    assert_non_null(y);
    td_fill(x, in_sz, -1.0f, 1.0f, seed);
    td_fill(dy, out_sz, -1.0f, 1.0f, seed + 1u);
    runner *rr = td_runner(m, RUNNER_REF, n, 1, 1, 0), *rd = td_runner(m, RUNNER_DNNL, n, 1, 1, 0);
    cd_err err;
    td_forward(rr, x, n, y);
    td_forward(rd, x, n, y);
    if (runner_backward(rr, dy, &err) != 0 || runner_backward(rd, dy, &err) != 0)
        fail_msg("runner_backward: %s", err.msg);
    for (int i = from; i < (to < 0 ? m->n_layers : to); i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *a = runner_param_grad(rd, i, p), *b = runner_param_grad(rr, i, p);
            assert_non_null(a);
            assert_non_null(b);
            char what[160];
            snprintf(what, sizeof what, "gradient of '%s' parameter %d", m->layers[i].name, p);
            td_assert_close(what, a->data, b->data, a->size, TD_TOL);
        }
    runner_free(rr);
    runner_free(rd);
    free(x);
    free(dy);
    free(y);
}

/* ---- the inference plan's folds (dnnl_plan.c) ---- */

/* The forward steps of m's oneDNN plan for batch n under cfg's switches
 * (training, no_fold, no_fold_add, precision; the engine, the gradient table
 * and the generator are filled in here), after failing the test unless each
 * of the n_want layers in want is folded (expect_folded = 1) or not (0); a
 * folded one must be an alias of a Conv2D or DepthwiseConv2D. */
/* A oneDNN plan of m for batch n built for a test, with the engine and the
 * gradient table it needs (owned here, freed by td_plan_free). */
typedef struct td_plan {
    dnnl_engine_t eng;
    tensor **grads;
    uint64_t rng;
    dn_plan *p;
} td_plan;

/* Builds t->p from m, n and cfg (cfg's engine, gradients and rng are t's);
 * fails the test with dn_plan_new's message if it cannot. */
static inline void td_plan_new(td_plan *t, const model *m, int n, dn_plan_cfg cfg)
{
    cd_err err;
    assert_int_equal(dnnl_engine_create(&t->eng, dnnl_cpu, 0), dnnl_success);
    t->grads = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *t->grads);
    assert_non_null(t->grads);
    t->rng = 1;
    cfg.eng = t->eng;
    cfg.grads = t->grads;
    cfg.rng = &t->rng;
    t->p = dn_plan_new(m, n, &cfg, &err);
    if (!t->p)
        fail_msg("dn_plan_new: %s", err.msg);
}

static inline void td_plan_free(td_plan *t)
{
    dn_plan_free(t->p);
    free(t->grads);
    dnnl_engine_destroy(t->eng);
}

static inline int td_plan_steps(const model *m, int n, dn_plan_cfg cfg, const int *want,
                                int n_want, int expect_folded)
{
    td_plan t;
    td_plan_new(&t, m, n, cfg);
    for (int k = 0; k < n_want; k++) {
        const dn_node *nd = &t.p->nodes[want[k]];
        if (nd->folded != expect_folded)
            fail_msg("layer '%s': folded %d, expected %d", m->layers[want[k]].name, nd->folded,
                     expect_folded);
        if (expect_folded && (nd->root == want[k] ||
                              (m->layers[nd->root].kind != LAYER_CONV2D &&
                               m->layers[nd->root].kind != LAYER_DEPTHWISE_CONV2D)))
            fail_msg("layer '%s' is not an alias of a convolution", m->layers[want[k]].name);
    }
    int steps = t.p->fwd.n;
    td_plan_free(&t);
    return steps;
}

/* The worst |oneDNN - reference| / max |reference| a test file has seen, per
 * precision: the state td_worst_setup gives its tests, printed with the
 * limits by td_worst_teardown. */
typedef struct td_worst {
    float f32, bf16;
    int bf16_runs;   /* bf16 comparisons made (none: bf16 is not printed) */
} td_worst;

/* Raises w's worst ratio for precision prec by the outputs got (oneDNN)
 * against want (the reference), which must not be all zero. */
static inline void td_worst_note(td_worst *w, runner_precision prec, const float *got,
                                 const float *want, size_t n)
{
    float scale = td_maxabs(want, n);
    float *worst = prec == RUNNER_PREC_BF16 ? &w->bf16 : &w->f32;
    assert_true(scale > 0.0f);
    w->bf16_runs += prec == RUNNER_PREC_BF16;
    for (size_t i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) / scale > *worst)
            *worst = fabsf(got[i] - want[i]) / scale;
}

static inline int td_worst_setup(void **state)
{
    td_worst *w = calloc(1, sizeof *w);
    *state = w;
    return w ? 0 : -1;
}

static inline int td_worst_teardown(void **state)
{
    td_worst *w = *state;
    printf("oneDNN plans vs reference: worst |difference| / max |output| = %.3g f32 (limit %.3g)",
           (double)w->f32, (double)TD_TOL);
    if (w->bf16_runs > 0)
        printf(", %.3g bf16 (limit %.3g)", (double)w->bf16, (double)TD_BF16_TOL);
    printf("\n");
    free(w);
    return 0;
}

/* n random samples (seed) through oneDNN at precision prec (one thread) and
 * through the reference: the outputs agree within TD_TOL (f32) or
 * TD_BF16_TOL (bf16) of their largest magnitude, the worst ratio noted in w,
 * and again on a second oneDNN forward (a plan that sums in place must not
 * accumulate across runs).  With ref != NULL the reference runner, holding
 * its activations of these samples, is handed back: the caller frees it. */
static inline void td_compare_outputs(const model *m, int n, runner_precision prec, td_worst *w,
                                      uint64_t seed, runner **ref)
{
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float tol = prec == RUNNER_PREC_BF16 ? TD_BF16_TOL : TD_TOL;
    float *x = malloc(in_sz * sizeof *x), *y1 = malloc(out_sz * sizeof *y1),
          *y2 = malloc(out_sz * sizeof *y2);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    td_fill(x, in_sz, -1.0f, 1.0f, seed);
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 1, .seed = 42, .precision = prec};
    runner *rd = runner_new(m, n, &o, &err);
    if (!rd)
        fail_msg("runner_new: %s", err.msg);
    runner *rr = td_runner(m, RUNNER_REF, n, 0, 1, 0);
    td_forward(rd, x, n, y1);
    td_forward(rr, x, n, y2);
    td_worst_note(w, prec, y1, y2, out_sz);
    td_assert_close("output", y1, y2, out_sz, tol);
    td_forward(rd, x, n, y1);
    td_assert_close("output of a second forward", y1, y2, out_sz, tol);
    runner_free(rd);
    if (ref)
        *ref = rr;
    else
        runner_free(rr);
    free(x);
    free(y1);
    free(y2);
}

#endif
