/*
 * checkpoint.h - what a training checkpoint adds to a Keras model file.
 *
 * keras_save (modelfile/) writes the model and its weights.  A checkpoint then
 * adds, as Keras 2 `model.save()` does after compile():
 *   root attr  training_config    JSON: optimizer class and config, loss, metrics
 *   group      optimizer_weights  attr weight_names; one dataset per name, in the
 *                                 optimizer's order: "<Class>/iterations:0" (int64
 *                                 scalar), then "training/<Class>/Variable_N:0" per
 *                                 state array (Adam: all m, then all v, then
 *                                 Keras 2.2's unused (1,) vhats)
 * and, for catdog only (Keras ignores unknown root attributes):
 *   root attr  catdog_train_state JSON: epochs done, step within an interrupted
 *                                 epoch, learning rate, schedule counters, best
 *                                 validation loss, seed, weight decay, world size
 *   root attr  catdog_world_size  int: MPI ranks that trained the model (only
 *                                 written when more than one)
 *   group      catdog_trained_weights  with `--ema`: the model's weights are the
 *                                 moving average, and this group holds the
 *                                 trained weights the optimizer continues from,
 *                                 one float dataset "<layer>/<param>" (indices)
 *                                 per parameter
 * The shipped best-model file gets the training_config and state but no
 * optimizer_weights (it stays ~5 MB); the resume file (<out>.last.h5) has all.
 */
#ifndef CATDOG_TRAIN_CHECKPOINT_H
#define CATDOG_TRAIN_CHECKPOINT_H

#include "core/error.h"
#include "train/optim.h"

/* The loop's own state, enough to continue a run where it stopped. */
typedef struct train_state {
    int epochs_done;          /* completed epochs */
    long long step_in_epoch;  /* batches already done of epoch epochs_done (interrupted run), else 0 */
    float lr;                 /* learning rate for the next step */
    float base_lr;            /* the run's initial rate (cosine schedule's start) */
    double best_val_loss;     /* lowest validation loss so far (huge when none) */
    double best_val_accuracy; /* validation accuracy at that epoch */
    double best_score;        /* the monitored metric at the best epoch, lower is better
                               * (val_loss, or minus val_accuracy / val_auc); huge when none */
    int best_epoch;           /* 1-based epoch of best_val_loss, 0 when none */
    int since_best;           /* epochs since the best (early stopping) */
    int plateau_wait;         /* epochs since the last improvement or lr cut (reduce-on-plateau) */
    unsigned long long seed;
    int world_size;           /* data-parallel ranks that trained it (0 or 1: one process) */
    char loss[32];            /* "binary_crossentropy" or "categorical_crossentropy" */
} train_state;

/* A fresh state: nothing done, best_val_loss = HUGE_VAL, lr and base_lr as given. */
void train_state_init(train_state *st, float lr, unsigned long long seed);

/* Adds training_config and catdog_train_state to the existing file at path
 * (written by keras_save), and optimizer_weights when o is not NULL.  Existing
 * attributes/groups of those names are replaced. */
int checkpoint_write(const char *path, const optim_opts *oo, const optim *o, const train_state *st,
                     cd_err *err);

/* Reads the optimizer options (kind and hyper-parameters from training_config,
 * weight decay from catdog_train_state) and the state.  Fails with
 * CD_ERR_NOTFOUND when the file holds no catdog_train_state. */
int checkpoint_read_config(const char *path, optim_opts *oo, train_state *st, cd_err *err);

/* Loads optimizer_weights into o (made for the same model): iterations and every
 * state array, sizes checked.  Returns 1 when loaded, 0 when the file has no
 * optimizer_weights (o untouched), -1 on error. */
int checkpoint_read_optimizer(const char *path, optim *o, cd_err *err);

/* The group of trained weights beside an averaged model (above). */
#define CHECKPOINT_TRAINED_GROUP "catdog_trained_weights"

/* Adds (replaces) group `group` of the file at path with every parameter of
 * m, dataset "<layer index>/<param index>" (flat float32).  0 or -1. */
int checkpoint_write_params(const char *path, const char *group, const model *m, cd_err *err);

/* Reads group `group` of the file at path into m's parameters (m made as the
 * writer's model: same layers, sizes checked).  1 when read, 0 when the file
 * has no such group (m untouched), -1 on error (m may be partly written). */
int checkpoint_read_params(const char *path, const char *group, model *m, cd_err *err);

/* Adds (replaces) the root attribute catdog_world_size = world_size to the
 * file at path, when world_size > 1: for files that are not checkpoints (a
 * shipped transfer head).  0 or -1. */
int checkpoint_write_world_size(const char *path, int world_size, cd_err *err);

/* The file's catdog_world_size, or 0 when absent or unreadable. */
int checkpoint_read_world_size(const char *path);

#endif
