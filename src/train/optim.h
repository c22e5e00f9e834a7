/*
 * optim.h - optimizers with Keras 2's defaults and update formulas.
 *
 * With g the gradient of the mean loss, p a parameter, t the 1-based step:
 *
 *   SGD      (lr 0.01, momentum 0)     v = momentum*v - lr*g
 *                                       p += v                    (plain / momentum)
 *                                       p += momentum*v - lr*g    (nesterov)
 *   RMSprop  (lr 0.001, rho 0.9, eps 1e-7)
 *                                       a = rho*a + (1-rho)*g^2
 *                                       p -= lr*g / (sqrt(a) + eps)
 *   Adam     (lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7; Keras 2.2 form)
 *                                       lr_t = lr*sqrt(1-beta2^t) / (1-beta1^t)
 *                                       m = beta1*m + (1-beta1)*g
 *                                       v = beta2*v + (1-beta2)*g^2
 *                                       p -= lr_t*m / (sqrt(v) + eps)
 *
 * Optional L2 weight decay adds weight_decay*p to the gradient of kernels (not
 * biases) before the update, as a Keras l2(weight_decay/2) kernel_regularizer.
 *
 * State: one or two arrays ("slots") per trainable parameter, in Keras' order
 * (all first-moment slots, then all second-moment slots), plus the iteration
 * count.  Frozen layers (trainable = 0) take no state and are never updated.
 * The slots are exposed (optim_slot) so checkpoint.c can save and restore them
 * as the Keras file's optimizer_weights.
 */
#ifndef CATDOG_TRAIN_OPTIM_H
#define CATDOG_TRAIN_OPTIM_H

#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"

typedef enum optim_kind {
    OPTIM_SGD = 0,
    OPTIM_RMSPROP,
    OPTIM_ADAM
} optim_kind;

typedef struct optim_opts {
    optim_kind kind;
    float lr;
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    float rho;           /* RMSprop */
    float beta1, beta2;  /* Adam */
    float epsilon;       /* RMSprop, Adam */
    float weight_decay;  /* L2 on kernels; 0 = off */
} optim_opts;

/* Fills o with Keras' defaults for kind (weight_decay 0). */
void optim_defaults(optim_kind kind, optim_opts *o);

/* "sgd", "rmsprop", "adam" (case-insensitive) -> kind; 0 or -1. */
int optim_kind_parse(const char *name, optim_kind *out);

/* "sgd", "rmsprop", "adam". */
const char *optim_kind_name(optim_kind kind);

/* Keras' class name: "SGD", "RMSprop", "Adam". */
const char *optim_keras_class(optim_kind kind);

/* Number of state arrays per parameter (SGD 1 (momentum; none needed when
 * momentum == 0 but kept for a uniform file), RMSprop 1, Adam 2). */
int optim_slots_per_param(optim_kind kind);

/* The update formula on one array of n values at step t (1-based) with
 * learning rate lr: p and the slots s1 (momentum / accumulator / m) and s2
 * (Adam's v; NULL otherwise) are updated in place.  decay: apply
 * o->weight_decay to this array.  The building block of optim_step, public so
 * tests can check it against hand-computed numbers. */
void optim_update(const optim_opts *o, long long t, float lr, float *p, const float *g, float *s1,
                  float *s2, size_t n, int decay);

typedef struct optim optim;

/* Creates zeroed state for every parameter of every trainable layer of m (m is
 * only read here; optim_step must get a model with the same layers). */
optim *optim_new(const model *m, const optim_opts *o, cd_err *err);
void optim_free(optim *o);

/* Where optim_step gets gradients: the gradient of layer `layer`'s parameter
 * `param`, same shape as the parameter (runner_param_grad fits via a wrapper). */
typedef const tensor *(*optim_grad_fn)(const void *ctx, int layer, int param);

/* One step: increments the iteration count and updates every trainable
 * parameter of m.  Fails when a gradient is missing or of the wrong size. */
int optim_step(optim *o, model *m, optim_grad_fn grad, const void *ctx, cd_err *err);

/* The options the optimizer was made with (lr as currently set). */
const optim_opts *optim_get_opts(const optim *o);

/* The learning rate used by the next step (schedules change it per epoch). */
float optim_lr(const optim *o);
void optim_set_lr(optim *o, float lr);

/* Steps taken so far (Keras' `iterations`). */
long long optim_iterations(const optim *o);
void optim_set_iterations(optim *o, long long t);

/* The i-th state array (0 .. optim_n_slots-1) in Keras' order, and which
 * parameter it belongs to.  data is borrowed and writable (for loading). */
typedef struct optim_slot_info {
    int layer;      /* model layer index */
    int param;      /* 0 kernel, 1 bias */
    int moment;     /* 0 first slot (v / a / m), 1 second (Adam's v) */
    size_t size;    /* floats */
    const tensor *shape_of; /* the parameter tensor (borrowed from the model), for its shape */
    float *data;
} optim_slot_info;

size_t optim_n_slots(const optim *o);
int optim_slot(const optim *o, size_t i, optim_slot_info *out);

#endif
