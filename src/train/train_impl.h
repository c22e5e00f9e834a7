/*
 * train_impl.h - internal: pieces train.c and evaluate.c share.  Not a contract;
 * only src/train/ includes it.
 */
#ifndef CATDOG_TRAIN_TRAIN_IMPL_H
#define CATDOG_TRAIN_TRAIN_IMPL_H

#include <signal.h>

#include "data/dataset.h"
#include "engine/runner.h"
#include "train/train.h"

/* Cross-entropy of one batch from logits (n x k; k == 1: sigmoid head, y are
 * 0/1; k > 1: softmax head, y are class indices, onehot is n x k scratch).
 * grad (n x k) may be NULL.  Adds the number of correct predictions to *correct. */
double train_batch_loss(const float *logits, const float *y, int n, int k, float *grad, float *onehot,
                        size_t *correct);

/* One pass of r (inference mode, logits) over epoch `epoch` of it: mean loss,
 * accuracy and (want_auc, k == 1) ROC AUC.  Stops early when *stop is set
 * (returns 1 then).  Returns 0, 1, or -1. */
int train_eval_pass(runner *r, dataset_iter *it, int epoch, int batch, int k, int want_auc,
                    const volatile sig_atomic_t *stop, train_eval *out, cd_err *err);

/* optim_grad_fn over a runner: ctx is the (const runner *); gradients as
 * runner_param_grad gives them. */
const tensor *train_runner_grad(const void *ctx, int layer, int param);

#endif
