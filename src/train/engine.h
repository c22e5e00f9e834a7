/*
 * engine.h - the one training engine: every training run in catdog (`train
 * --arch binary`, a transfer head on cached features, fine-tuning the last
 * backbone blocks) is a configuration of engine_run, and every evaluation pass
 * (validation, test, `catdog evaluate`'s metrics, benches) goes through
 * engine_evaluate.
 *
 * Concepts:
 *   source  where batches come from (engine_source): a dataset iterator over
 *           photos (engine_source_dataset) or anything with the same three
 *           calls (transfer/ feeds cached feature vectors).  An epoch is
 *           begin_epoch(e) then next() until it returns 0.
 *   step    what one batch does (engine_step): an optional frozen `front`
 *           model run in inference mode, then the trained `tail` model
 *           (forward with logits, cross-entropy, backward, one optimizer step
 *           on the tail's parameters).  From scratch: no front; head on
 *           features: no front; fine-tuning: front = backbone up to the cut.
 *   state   train_state (checkpoint.h): epochs done, step within an
 *           interrupted epoch, rate, best monitored value, schedule counters.
 *           The engine continues from whatever state it is given, so a resumed
 *           run is the same call with the checkpoint's state.
 *
 * Per epoch the engine: sets the scheduled rate, runs the steps (STEP events),
 * validates (VALIDATING), appends a history row, judges improvement on the
 * monitored metric, keeps a copy of the best tail parameters (engine_best)
 * and calls on_best, updates plateau/cosine schedules, writes the checkpoint,
 * the history CSV/SVG and one JSON line (log_json), emits EPOCH_END, and stops
 * early after `early_stopping` epochs without improvement.  When the stop flag
 * is set after a step, the checkpoint is written at that step and the engine
 * returns with interrupted = 1.
 *
 * Nothing here prints, exits or keeps global state.
 */
#ifndef CATDOG_TRAIN_ENGINE_H
#define CATDOG_TRAIN_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/mix.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "train/checkpoint.h"
#include "train/history.h"
#include "train/optim.h"
#include "train/train.h"

/* ---- batch sources ---- */

typedef struct engine_source {
    void *ctx;                                                   /* borrowed */
    size_t (*batches)(void *ctx);                                /* batches per epoch */
    int (*begin_epoch)(void *ctx, int epoch, cd_err *err);       /* 0 or -1 */
    /* The next batch: x (n samples), y (n labels: 0/1, or class indices);
     * pointers valid until the next call.  1, 0 at the end of the epoch, -1. */
    int (*next)(void *ctx, const float **x, const float **y, int *n, cd_err *err);
    /* 1: the values of a batch's x are the engine's to change in place until
     * the next call (a dataset iterator's batch slot), which training with
     * mixup / cutmix (engine_config.mix) needs; 0: read-only (a cache). */
    int writable;
} engine_source;

/* A source over a dataset iterator (borrowed; must outlive the source);
 * writable. */
engine_source engine_source_dataset(dataset_iter *it);

/* ---- the evaluator ---- */

typedef struct engine_eval {
    size_t n;
    double loss, accuracy;
    double auc;              /* NaN unless asked for and defined (k == 1, both classes) */
} engine_eval;

/* Accumulates a pass's logits (n x k) and labels; the one place that turns
 * logits into loss, accuracy and AUC.  `keep` = 1 keeps every score and label
 * (needed for AUC, k == 1). */
typedef struct engine_tally {
    int k, keep;
    double loss_sum;
    size_t correct, n;
    float *scores, *labels;  /* owned, n kept, cap allocated */
    size_t cap;
    float *onehot;           /* scratch for k > 1 */
    size_t onehot_cap;
} engine_tally;

void engine_tally_init(engine_tally *t, int k, int keep);
void engine_tally_free(engine_tally *t);
/* Adds n samples.  grad (n x k) may be NULL; otherwise gets d(mean loss)/d(logits).
 * Returns the batch's mean loss, or NaN with err set (out of memory). */
double engine_tally_add(engine_tally *t, const float *logits, const float *y, int n, float *grad,
                        size_t *correct, cd_err *err);
/* Adds n probabilities of the positive class (k == 1; what a predictor
 * returns) with labels y: log loss with p clamped to [1e-7, 1 - 1e-7],
 * correct when (p > 0.5) == (y > 0.5).  0, or -1 (out of memory). */
int engine_tally_add_probs(engine_tally *t, const float *p, const float *y, int n, cd_err *err);

/* Means and (keep, k == 1, both classes present) AUC. */
void engine_tally_result(const engine_tally *t, engine_eval *out);

/* One inference pass of sp's front (runner rf, NULL when sp->front is) then
 * tail (runner rt, logits) over epoch `epoch` of src, in batches of at most
 * `batch`.  When logits_out / labels_out are not NULL they get every
 * sample's logit (k == 1) / label, in source order, up to cap.  Stops when *stop is set (returns 1).
 * 0, 1, or -1. */
struct engine_step;
int engine_evaluate(runner *rf, runner *rt, const struct engine_step *sp, int batch, const engine_source *src,
                    int epoch, int want_auc, const volatile sig_atomic_t *stop, float *logits_out, float *labels_out, size_t cap,
                    engine_eval *out, cd_err *err);

/* Data parallelism (engine_comm below): every rank calls this with a source
 * that delivers its contiguous run of whole batches of one process's pass,
 * the runs in rank order making up that pass (dataset_iter_opts.
 * shard_whole_batches; a rank may have none).  Each rank classifies its own
 * batches; every batch's size, labels and logits are then gathered on every
 * rank (engine_gather_floats) and tallied there batch by batch, so every rank
 * gets exactly what engine_evaluate gives one process over the whole pass
 * (loss, accuracy and the exact AUC; logits_out / labels_out as there).
 * comm NULL or size 1: engine_evaluate.  No stop flag: the ranks stop
 * together at step boundaries.  0 or -1. */
int engine_evaluate_ranks(runner *rf, runner *rt, const struct engine_step *sp, int batch, const engine_source *src,
                          int epoch, int want_auc, const struct engine_comm *comm, float *logits_out,
                          float *labels_out, size_t cap, engine_eval *out, cd_err *err);

/* The same with runners made here (inference, the given backend/threads). */
int engine_evaluate_model(const struct engine_step *sp, int batch, runner_backend backend, int threads,
                          const engine_source *src, int want_auc, const volatile sig_atomic_t *stop,
                          float *logits_out, float *labels_out, size_t cap, engine_eval *out, cd_err *err);

/* ---- best parameters ---- */

typedef struct engine_best {
    tensor **t;              /* per layer x LAYER_MAX_PARAMS; owned */
    int n_layers;
    int have;
} engine_best;

int engine_best_init(engine_best *b, const model *m, cd_err *err);
void engine_best_free(engine_best *b);
/* Copies m's parameters in (m has the layout given to init). */
int engine_best_keep(engine_best *b, const model *m, cd_err *err);
/* Copies them back into m; nothing when none was kept. */
void engine_best_restore(const engine_best *b, model *m);

/* ---- weight averaging (--ema) ---- */

/* One step of the moving average of m's weights after the optimizer step
 * that made `iterations` steps in all (Keras 3, optimizer.apply with use_ema):
 * at the first step (iterations <= 1) or when nothing is averaged yet
 * (ema->have == 0) avg = w; after that avg = decay * avg + (1 - decay) * w
 * for every parameter the optimizer steps, in float32.  Parameters that get
 * no gradient (BatchNormalization's moving statistics, which catdog's
 * training never updates; layers not trainable) are copied.  0 or -1 (out
 * of memory on the first call). */
int engine_ema_update(engine_best *ema, const model *m, float decay, long long iterations, cd_err *err);

/* Resuming from checkpoint `path` whose model weights were loaded into m:
 * when the file holds the trained weights beside an average (--ema), the
 * loaded weights become the average in ema (have = 1) and m gets the trained
 * ones; 1.  A file without them: ema->have = 0 (the average restarts at the
 * next step), m untouched; 0.  ema NULL (the run has no --ema) and a file
 * with an average: -1, asking for --ema. */
int engine_resume_weights(const char *path, model *m, engine_best *ema, cd_err *err);

/* ---- schedules and monitors ---- */

/* The rate of epoch e (0-based) of `epochs` under the cosine schedule with
 * `warmup` linear warm-up epochs: e < warmup: lr0 * (e + 1) / warmup; after:
 * min_lr + (lr0 - min_lr) * (1 + cos(pi * (e - warmup) / (epochs - warmup))) / 2.
 * lr0 < min_lr gives lr0.  Pure; tested by hand. */
float engine_cosine_lr(float lr0, float min_lr, int e, int epochs, int warmup);

/* ---- data parallelism ---- */

/* The ranks a run is split over (MPI: engine_mpi.h).  With size > 1 every
 * rank steps on its slice of each global batch (samples [n*rank/size,
 * n*(rank+1)/size)), taken by the engine from the whole batch or given
 * directly by a sharded source (which reads nothing else); the tail's gradients,
 * each scaled by the slice's share of the batch, are summed over the ranks in
 * one fused buffer before the optimizer step, so the optimizer state stays
 * identical everywhere and the step equals one process's on the whole batch
 * (dropout included: each rank's runner draws its slice's masks as one
 * process does, runner_set_slice).
 * Only rank 0 reports progress and writes files (checkpoint, history, JSON
 * lines, on_best). */
typedef struct engine_comm {
    int rank, size;
    void *ctx;
    /* Sums n values over all ranks, in place.  0 or -1 (err filled). */
    int (*sum_floats)(void *ctx, float *buf, size_t n, cd_err *err);
    int (*sum_doubles)(void *ctx, double *buf, size_t n, cd_err *err);
    /* Non-blocking sums, which let the engine sum the gradients of the last
     * layers while the backward pass computes the earlier ones (NULL: not
     * offered; the engine then sums after the pass, with sum_floats).
     * start_sum begins summing n values in place (buf is not to be touched
     * until wait_sums returns; every rank starts the same sums in the same
     * order); poll_sums lets the started sums progress; wait_sums completes
     * them all.  Each 0 or -1 (err filled). */
    int (*start_sum)(void *ctx, float *buf, size_t n, cd_err *err);
    int (*poll_sums)(void *ctx, cd_err *err);
    int (*wait_sums)(void *ctx, cd_err *err);
} engine_comm;

/* Every rank's n values (mine), concatenated in rank order, into *all
 * (malloc'd; *n_all of them) on every rank.  c NULL or size 1: a copy.
 * 0 or -1. */
int engine_gather_floats(const engine_comm *c, const float *mine, size_t n, float **all, size_t *n_all,
                         cd_err *err);

/* ---- the run ---- */
typedef struct engine_step {
    const model *front;      /* frozen, inference mode; NULL when none (borrowed) */
    model *tail;             /* trained (borrowed) */
    int k;                   /* outputs per sample (1: sigmoid head) */
} engine_step;
typedef struct engine_config {
    int epochs;              /* run until state.epochs_done == epochs */
    int batch;
    runner_backend backend;
    int threads;
    train_schedule schedule;
    float plateau_factor;
    int plateau_patience;
    float min_lr;
    int warmup_epochs;       /* cosine: linear warm-up epochs (0 = none) */
    int schedule_start;      /* cosine: the epoch it counts from, warm-up included (a later
                                phase's first epoch; 0 = the run's first) */
    train_monitor monitor;
    int early_stopping;      /* patience in epochs; 0 = off */
    /* Keras' label smoothing of the training targets (loss.h,
     * loss_smooth_targets); 0 = none.  Only the training loss and its
     * gradient see it: validation, test and the kept-epoch choice use the
     * true labels.  The training accuracy is against the true labels. */
    float label_smoothing;
    /* --ema: an exponential moving average of the tail's weights kept beside
     * the trained ones, as Keras 3's optimizer `use_ema` (engine_ema_update).
     * Validation, the kept best epoch (engine_best, on_best), the checkpoint's
     * model weights and so the test evaluation use the average; the
     * checkpoint keeps the trained weights in its CHECKPOINT_TRAINED_GROUP.
     * 0 = off; else the decay (Keras' ema_momentum), in (0, 1). */
    float ema_decay;
    /* --mixup / --cutmix (data/mix.h): each training batch is mixed in pairs
     * in place (the source must be writable) with the draw of (run seed,
     * epoch, step), before any rank takes its slice, so the mix does not
     * depend on the ranks; the loss is against the mixed soft targets (then
     * smoothed by label_smoothing) and the training accuracy against each
     * sample's dominant label.  Under MPI the training source must give the
     * whole batch (sharded_source = 0).  Validation and test are untouched.
     * Zeros = off. */
    mix_opts mix;
    /* The average (borrowed, initialised for the tail): a resumed run passes
     * what engine_resume_weights read.  NULL = the engine keeps its own,
     * starting at the first step. */
    engine_best *ema;
    /* The dropout stream of epoch e (0-based, counting earlier phases) from
     * the run's seed; NULL = engine_epoch_seed.  Each configuration keeps the
     * stream it had before the engine, so results stay bit-identical. */
    unsigned long long (*dropout_seed)(unsigned long long seed, int epoch);
    const volatile sig_atomic_t *stop;   /* borrowed; may be NULL */
    train_progress_fn progress;          /* may be NULL */
    void *progress_ctx;
    const optim_opts *oo;    /* written to checkpoints */
    const char *last_path;   /* checkpoint file written each epoch / on stop; NULL = none */
    history *hist;           /* rows appended (borrowed) */
    const char *history_path, *svg_path, *title;   /* NULL = not written */
    FILE *log_json;          /* one JSON object per epoch; NULL = none (borrowed) */
    const char *phase;       /* "train", "head", "fine_tune": in the JSON lines */
    /* Called when an epoch improves on the best (after engine_best_keep);
     * may be NULL.  0 or -1. */
    int (*on_best)(void *ctx, const model *tail, const train_state *st, cd_err *err);
    void *on_best_ctx;
    const engine_comm *comm; /* NULL or size 1: one process (borrowed) */
    /* With comm: 0 = every rank's training source gives the whole global
     * batch and the engine takes the rank's slice; 1 = it gives this rank's
     * slice only (a sharded dataset iterator, dataset.h: nothing else is
     * read), possibly empty, with the same number of batches on every rank. */
    int sharded_source;
    /* With comm: 1 = every rank's validation source gives its contiguous run
     * of whole validation batches (engine_evaluate_ranks): each rank
     * classifies only its share and all get one process's figures; 0 = every
     * rank validates on the whole set. */
    int sharded_val;
    /* With comm: 1 = sum the gradients after the backward pass in one
     * blocking call, even when the comm offers non-blocking sums (for
     * measuring; the sums are the same, bit for bit, with 2 ranks).  0 = as
     * the backward pass finishes each layer, start summing its gradients,
     * in buckets of consecutive layers of about allreduce_bucket_bytes
     * (0 = ENGINE_BUCKET_BYTES), and wait for all before the optimizer step. */
    int blocking_allreduce;
    size_t allreduce_bucket_bytes;
} engine_config;

/* The default bucket of gradients summed at once while the backward pass
 * goes on (PyTorch DDP's is 25 MiB for networks 100 times larger). */
#define ENGINE_BUCKET_BYTES ((size_t)1 << 20)

/* Sensible values: batch 32, constant schedule, plateau 0.5/2, min_lr 1e-6,
 * monitor val_loss, oneDNN. */
void engine_config_defaults(engine_config *c);

/* The defaults, then what train_opts says of the loop: epochs, batch,
 * backend, threads, schedule and its parameters, monitor, early stopping,
 * stop flag, progress.  The caller adds files, salt, phase, callbacks. */
void engine_config_from_opts(engine_config *c, const train_opts *o);
typedef struct engine_result {
    int interrupted;
    int stopped_early;
    long long steps;             /* optimizer steps this call ran */
    double allreduce_seconds;    /* of those, spent summing gradients over the ranks: the
                                    blocking sum, or (overlapped) the time the step spends
                                    copying, starting and waiting for the sums (exposed) */
    double val_seconds;          /* spent validating (all epochs this call ran) */
} engine_result;

/* Trains step.tail with opt from state st until st->epochs_done == c->epochs,
 * validating on val each epoch (as described at the top).  best must be
 * initialised for step.tail; it holds the best epoch's parameters on return
 * (the tail keeps the last epoch's).  val NULL: no validation (`train
 * --final`): every epoch counts as an improvement, so the kept parameters
 * and on_best are the last epoch's, val_loss / val_accuracy are NaN in the
 * history (null in the JSON lines) and nothing stops early.  0 (also when
 * interrupted or stopped early) or -1 with err filled. */
int engine_run(const engine_config *c, const engine_step *step, optim *opt, train_state *st,
               engine_source *train, engine_source *val, engine_best *best, engine_result *res,
               cd_err *err);
/* optim_grad_fn over a runner: ctx is the (const runner *). */
const tensor *engine_runner_grad(const void *ctx, int layer, int param);

/* Writes m and the checkpoint (optimizer state when o != NULL, loop state)
 * to path through a temporary file renamed into place. */
int engine_save(const model *m, const char *path, const optim_opts *oo, const optim *o,
                const train_state *st, cd_err *err);

/* The dropout stream of epoch e: a fixed function of the seed, so a resumed
 * run draws the same masks as an uninterrupted one. */
unsigned long long engine_epoch_seed(unsigned long long seed, int epoch);

#endif
