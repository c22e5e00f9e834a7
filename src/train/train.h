/*
 * train.h - the training loop behind `catdog train`, and evaluation.
 *
 * train_run does, for a dataset folder DIR with train/ and validation/ (and
 * optionally test/), each holding one folder per class:
 *   1. checks everything that can fail before the first step: the class
 *      folders (an empty one is named), the architecture against the image
 *      size, and that the output files can be written (they are created now);
 *   2. builds the model (built-in architecture, Glorot weights from the seed)
 *      or, with resume_path, reloads a checkpoint with its optimizer state;
 *   3. per epoch: shuffled batches (decoded, augmented and cached by worker
 *      threads, data/dataset.h), forward with logits, cross-entropy, backward,
 *      one optimizer step; then validation loss and accuracy;
 *   4. after each epoch: history CSV and SVG next to the output, the model at
 *      out_path when validation loss is the best so far (5 MB, no optimizer
 *      state), and the resume checkpoint <out>.last.h5 (weights + optimizer
 *      state + loop state, see checkpoint.h);
 *   5. early stopping, reduce-on-plateau or cosine learning-rate schedules;
 *   6. at the end, the best weights are evaluated on test/ (accuracy, loss,
 *      ROC AUC) and the test accuracy recorded in the model file.
 *
 * Outputs for out_path "models/binary.h5": models/binary.h5 (best),
 * models/binary.last.h5 (resume), models/binary.history.csv, models/binary.svg.
 *
 * Reproducibility: the same seed gives the same initial weights, batch order,
 * augmentation and dropout masks (the dropout stream is re-seeded per epoch),
 * so resuming at an epoch boundary gives the same weights as an uninterrupted
 * run (on the same backend and thread count).
 *
 * Resuming with epochs equal to the epochs already done trains nothing and only
 * evaluates the best model (out_path) on test/: the way to finish a run that was
 * stopped with Ctrl-C.
 *
 * Stopping: opts.stop points to a flag the caller sets (from a SIGINT handler);
 * the loop checks it after each step, saves <out>.last.h5 and returns 0 with
 * result.interrupted = 1.  No global state: all goes through the options.
 * Nothing is printed: progress goes to the opts.progress callback.
 */
#ifndef CATDOG_TRAIN_TRAIN_H
#define CATDOG_TRAIN_TRAIN_H

#include <signal.h>
#include <stddef.h>

#include "core/error.h"
#include "data/augment.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "train/metrics.h"
#include "train/optim.h"

typedef enum train_schedule {
    TRAIN_SCHEDULE_CONSTANT = 0,
    TRAIN_SCHEDULE_PLATEAU,   /* lr *= plateau_factor after plateau_patience epochs without a better val loss */
    TRAIN_SCHEDULE_COSINE     /* per epoch, after warmup_epochs linear warm-up epochs:
                               * lr = min_lr + (lr0 - min_lr) * (1 + cos(pi * t / T)) / 2 (engine.h) */
} train_schedule;

/* What decides the best epoch, early stopping and the plateau schedule. */
typedef enum train_monitor {
    TRAIN_MONITOR_VAL_LOSS = 0,   /* lower is better */
    TRAIN_MONITOR_VAL_ACCURACY,   /* higher is better */
    TRAIN_MONITOR_VAL_AUC         /* higher is better (sigmoid heads) */
} train_monitor;

/* "val_loss", "val_accuracy", "val_auc" -> 0, or -1. */
int train_monitor_parse(const char *name, train_monitor *out);
const char *train_monitor_name(train_monitor m);

/* "constant", "plateau", "cosine" -> 0, or -1. */
int train_schedule_parse(const char *name, train_schedule *out);
const char *train_schedule_name(train_schedule s);

typedef enum train_event {
    TRAIN_EV_START,        /* model built, data scanned: counts and model set */
    TRAIN_EV_EPOCH_BEGIN,
    TRAIN_EV_STEP,         /* after each optimizer step: running loss/accuracy */
    TRAIN_EV_VALIDATING,   /* the epoch's steps are done, validation starts */
    TRAIN_EV_EPOCH_END,    /* validation done; val_*, improved, lr/next_lr set */
    TRAIN_EV_TEST_DONE,    /* test_* set */
    TRAIN_EV_END           /* failed images listed (paths borrowed, valid during the call) */
} train_event;

typedef struct train_progress {
    train_event event;
    const model *model;          /* borrowed (START): for a summary */
    int epoch, epochs;           /* 1-based epoch; total planned */
    size_t step, steps;          /* 1-based step within the epoch; steps per epoch */
    size_t n_train, n_val, n_test;
    int resumed;                 /* START: 1 when continuing a checkpoint */
    int resumed_from;            /* START: complete epochs the resumed run had done */
    size_t resumed_step;         /* START: steps it had done of the next epoch (Ctrl-C mid-epoch) */
    double loss, accuracy;       /* running means over the epoch so far */
    double val_loss, val_accuracy;
    double seconds;              /* since the epoch began (STEP, EPOCH_END) */
    float lr;                    /* rate used during this epoch */
    float next_lr;               /* EPOCH_END: rate for the next epoch (schedule) */
    int improved;                /* EPOCH_END: best validation loss so far, model saved */
    int stopping_early;          /* EPOCH_END: early stopping ends the run here */
    double test_loss, test_accuracy, test_auc;
    size_t n_failed;             /* END: unreadable images skipped */
    const char *const *failed;   /* END: their paths (borrowed) */
} train_progress;

typedef void (*train_progress_fn)(const train_progress *p, void *ctx);

/* A STEP event's figures: the epoch's running means from t, and `seconds`
 * since the epoch began.  Every training loop (train/, transfer/) reports
 * through it. */
void train_progress_means(train_progress *p, const metrics_tally *t, double seconds);

typedef struct train_opts {
    const char *data_dir;        /* DIR with train/ and validation/ (and test/) */
    const char *out_path;        /* best model file (.h5) */
    const char *arch;            /* built-in architecture (arch.h); unused when resuming */
    int img_size;                /* square input size; unused when resuming (the file's) */
    int epochs;                  /* total epochs, counting those a resumed run did */
    int batch;
    optim_opts optim;            /* unused when resuming (the checkpoint's), except lr if lr_override */
    int lr_override;             /* resuming: 1 = use optim.lr instead of the checkpoint's */
    const augment_opts *augment; /* NULL = no augmentation (borrowed) */
    unsigned long long seed;
    int threads;                 /* compute threads (0 = all cores) */
    int workers;                 /* image-decoding threads (0 = let the dataset choose) */
    int cache;                   /* keep decoded images in memory */
    int early_stopping;          /* patience in epochs (on `monitor`); 0 = off */
    train_monitor monitor;       /* best epoch / early stopping / plateau metric; default val_loss */
    int warmup_epochs;           /* cosine: linear warm-up epochs; default 0 */
    float label_smoothing;       /* Keras' label smoothing of the training targets, [0, 1); 0 = none */
    int final_fit;               /* --final: train on train/ + validation/ for exactly `epochs`
                                    epochs, no validation, no selection, no early stopping; the
                                    last epoch is the model, evaluated once on test/ */
    float ema_decay;             /* --ema: decay of the weights' moving average (engine.h), (0, 1); 0 = off */
    float mixup_alpha;           /* --mixup: Beta(a, a) of mixup (data/mix.h); 0 = off */
    float cutmix_alpha;          /* --cutmix: Beta(a, a) of cutmix; 0 = off.  With both, each batch
                                    picks one with probability 1/2.  Under MPI every rank then reads
                                    the whole batch (the mix pairs samples across the ranks' slices) */
    const char *log_json_path;   /* one JSON object per epoch appended here; NULL = none */
    const struct engine_comm *comm;  /* data-parallel ranks (train/engine.h); NULL = one process */
    int blocking_allreduce;          /* with comm: sum gradients after the backward pass, not
                                        overlapped with it (engine_config; for measuring) */
    train_schedule schedule;
    float plateau_factor;        /* default 0.5 */
    int plateau_patience;        /* default 2 */
    float min_lr;                /* floor for plateau and cosine; default 1e-6 */
    const char *resume_path;     /* <out>.last.h5 of an earlier run, or NULL */
    runner_backend backend;
    const volatile sig_atomic_t *stop;   /* borrowed; may be NULL */
    train_progress_fn progress;  /* may be NULL */
    void *progress_ctx;
} train_opts;

/* Defaults: arch "binary", 150 px, 30 epochs, batch 32, Adam (Keras defaults),
 * seed 1, cache on, no augmentation, constant lr, plateau 0.5/2, min_lr 1e-6,
 * backend oneDNN. */
void train_opts_defaults(train_opts *o);

typedef struct train_result {
    int epochs_done;
    int best_epoch;               /* 0 when no epoch finished */
    double best_val_loss, best_val_accuracy;
    int interrupted;              /* stopped by the stop flag; resume from last_path */
    int stopped_early;
    int has_test;                 /* DIR had test/ and the run finished */
    size_t test_n;
    double test_loss, test_accuracy, test_auc;
    size_t failed_images;
    double seconds;               /* wall time of this call */
    long long steps;              /* optimizer steps run by this call */
    double allreduce_seconds;     /* MPI: of those steps' time, summing gradients */
    double val_seconds;           /* validating, all epochs of this run */
    char last_path[4096];         /* the resume checkpoint */
    char history_path[4096];      /* CSV */
    char svg_path[4096];
} train_result;

/* Runs training as described above.  Returns 0 (also when interrupted or
 * stopped early: see result) or -1 with err filled. */
int train_run(const train_opts *o, train_result *res, cd_err *err);

/* out_path with its extension (.h5, .hdf5, .keras) replaced by suffix:
 * ("models/binary.h5", ".svg") -> "models/binary.svg".  Truncates to n. */
void train_sibling_path(const char *out_path, const char *suffix, char *buf, size_t n);

/* Evaluation of a model on a class-foldered directory (for `catdog evaluate`
 * and the test split): mean cross-entropy, accuracy at 0.5, ROC AUC (NaN when
 * the folder has one class only).  Images are preprocessed as m->preprocess
 * says, at the model's input size. */
typedef struct train_eval {
    size_t n;
    double loss, accuracy, auc;
} train_eval;

int train_evaluate(const model *m, const char *dir, int batch, runner_backend backend, int threads,
                   int workers, train_eval *out, cd_err *err);

/* Times `steps` training steps (forward, loss, backward, optimizer) on random
 * inputs after two warm-up steps; m's weights change.  Sets images per second
 * and seconds per step.  For bench/ and `catdog train --benchmark`. */
int train_benchmark(model *m, int batch, int steps, const optim_opts *oo, runner_backend backend,
                    int threads, double *images_per_s, double *s_per_step, cd_err *err);

#endif
