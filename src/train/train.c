/*
 * train.c - the training loop (see train.h for what it does and writes).
 *
 * Structure: train_run prepares a `session` (datasets, model, optimizer,
 * iterators, buffers, paths), then runs epochs; every resource lives in the
 * session and session_free releases it, so each error path is one `goto out`.
 */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "engine/arch.h"
#include "modelfile/keras.h"
#include "train/checkpoint.h"
#include "train/engine.h"
#include "train/history.h"
#include "train/metrics.h"

#define PATH_MAX_LEN 4096

int train_schedule_parse(const char *name, train_schedule *out)
{
    static const char *names[] = {"constant", "plateau", "cosine"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (train_schedule)i;
            return 0;
        }
    return -1;
}

const char *train_schedule_name(train_schedule s)
{
    switch (s) {
    case TRAIN_SCHEDULE_CONSTANT: return "constant";
    case TRAIN_SCHEDULE_PLATEAU: return "plateau";
    case TRAIN_SCHEDULE_COSINE: return "cosine";
    }
    return "?";
}

void train_opts_defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->arch = "binary";
    o->img_size = 150;
    o->epochs = 30;
    o->batch = 32;
    optim_defaults(OPTIM_ADAM, &o->optim);
    o->seed = 1;
    o->cache = 1;
    o->schedule = TRAIN_SCHEDULE_CONSTANT;
    o->plateau_factor = 0.5f;
    o->plateau_patience = 2;
    o->min_lr = 1e-6f;
    o->backend = RUNNER_DNNL;
}

void train_sibling_path(const char *out_path, const char *suffix, char *buf, size_t n)
{
    static const char *exts[] = {".h5", ".hdf5", ".keras"};
    size_t len = strlen(out_path);
    for (int i = 0; i < 3; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strcmp(out_path + len - el, exts[i]) == 0) {
            len -= el;
            break;
        }
    }
    snprintf(buf, n, "%.*s%s", (int)len, out_path, suffix);
}

/* ---- output files ---- */

/* Checks that path can be written by opening it for appending (which creates
 * it without truncating an existing file).  *created tells whether it is new. */
static int probe_writable(const char *path, int *created, cd_err *err)
{
    struct stat st;
    *created = stat(path, &st) != 0;
    if (!*created && S_ISDIR(st.st_mode))
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: it is a directory", path);
    FILE *f = fopen(path, "ab");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* ---- the session ---- */

typedef struct session {
    const train_opts *o;
    train_result *res;
    char train_dir[PATH_MAX_LEN], val_dir[PATH_MAX_LEN], test_dir[PATH_MAX_LEN];
    int has_test;
    dataset *dtrain, *dval, *dtest;
    model *m;
    int k;                        /* outputs per sample */
    int img;
    optim_opts oo;
    optim *opt;
    train_state st;
    dataset_iter *itrain, *ival;
    engine_best best;             /* the best epoch's parameters */
    engine_best ema;              /* --ema: the weights' moving average */
    history hist;
    FILE *log_json;
    int out_created, out_written;
} session;

static void session_free(session *s)
{
    engine_best_free(&s->best);
    engine_best_free(&s->ema);
    if (s->log_json)
        fclose(s->log_json);
    dataset_iter_free(s->itrain);
    dataset_iter_free(s->ival);
    optim_free(s->opt);
    model_free(s->m);
    dataset_free(s->dtrain);
    dataset_free(s->dval);
    dataset_free(s->dtest);
    history_free(&s->hist);
}

/* Under MPI (o->comm) only rank 0 reports and writes files. */
static int is_root(const train_opts *o)
{
    return !o->comm || o->comm->rank == 0;
}

static void emit(const session *s, train_progress *p)
{
    if (s->o->progress && is_root(s->o))
        s->o->progress(p, s->o->progress_ctx);
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int open_data(session *s, cd_err *err)
{
    const train_opts *o = s->o;
    snprintf(s->train_dir, sizeof s->train_dir, "%s/train", o->data_dir);
    snprintf(s->val_dir, sizeof s->val_dir, "%s/validation", o->data_dir);
    snprintf(s->test_dir, sizeof s->test_dir, "%s/test", o->data_dir);
    if (!dir_exists(o->data_dir))
        return cd_err_set(err, CD_ERR_NOTFOUND, "data folder %s does not exist", o->data_dir);
    if (!dir_exists(s->train_dir) || !dir_exists(s->val_dir))
        return cd_err_set(err, CD_ERR_NOTFOUND,
                          "%s must hold train/ and validation/ (make them with `catdog split`)", o->data_dir);
    if (!(s->dtrain = dataset_open(s->train_dir, err)) || !(s->dval = dataset_open(s->val_dir, err)))
        return -1;
    s->has_test = dir_exists(s->test_dir);
    if (s->has_test && !(s->dtest = dataset_open(s->test_dir, err)))
        return -1;
    if (o->final_fit && dataset_append(s->dtrain, s->dval, err) < 0)
        return cd_err_wrap(err, "--final: %s + %s", s->train_dir, s->val_dir);
    if (s->dval->n_classes != s->dtrain->n_classes)
        return cd_err_set(err, CD_ERR_INVALID, "%s has %d classes but %s has %d", s->val_dir, s->dval->n_classes,
                          s->train_dir, s->dtrain->n_classes);
    for (int i = 0; i < s->dtrain->n_classes; i++)
        if (strcmp(s->dtrain->class_names[i], s->dval->class_names[i]) != 0)
            return cd_err_set(err, CD_ERR_INVALID, "class folders differ: %s/%s vs %s/%s", s->train_dir,
                              s->dtrain->class_names[i], s->val_dir, s->dval->class_names[i]);
    return 0;
}

static int build_model(session *s, cd_err *err)
{
    const train_opts *o = s->o;
    if (o->resume_path) {
        if (!(s->m = keras_load(o->resume_path, err)))
            return cd_err_wrap(err, "resuming from %s", o->resume_path);
        /* With --ema the file's weights are the average; the trained ones are beside them. */
        if (o->ema_decay > 0 && engine_best_init(&s->ema, s->m, err) < 0)
            return -1;
        if (engine_resume_weights(o->resume_path, s->m, o->ema_decay > 0 ? &s->ema : NULL, err) < 0)
            return cd_err_wrap(err, "resuming");
        if (checkpoint_read_config(o->resume_path, &s->oo, &s->st, err) < 0)
            return cd_err_wrap(err, "resuming");
        if (o->lr_override) {
            s->oo.lr = o->optim.lr;
            s->st.lr = o->optim.lr;
        }
        /* epochs == epochs done is allowed: no training, only the test evaluation of the
         * best model (for a run stopped with Ctrl-C). */
        if (s->st.epochs_done > o->epochs)
            return cd_err_set(err, CD_ERR_INVALID,
                              "%s already has %d epochs done; ask for at least that many with --epochs (now %d)",
                              o->resume_path, s->st.epochs_done, o->epochs);
    } else {
        if (!(s->m = arch_build(o->arch, o->img_size, err)))
            return cd_err_wrap(err, "architecture '%s' at %dx%d", o->arch, o->img_size, o->img_size);
        model_init_params(s->m, o->seed);
        if (o->ema_decay > 0 && engine_best_init(&s->ema, s->m, err) < 0)
            return -1;
        s->oo = o->optim;
        train_state_init(&s->st, o->optim.lr, o->seed);
    }
    int h, w, c;
    model_input_shape(s->m, &h, &w, &c);
    if (h != w || c != 3)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "training needs a square RGB input; the model takes %dx%dx%d",
                          h, w, c);
    s->img = h;
    s->k = (int)model_output_size(s->m);
    int nc = s->dtrain->n_classes;
    if ((s->k == 1 && nc != 2) || (s->k > 1 && s->k != nc))
        return cd_err_set(err, CD_ERR_SHAPE, "%s has %d class folders but the model has %d output%s%s",
                          s->train_dir, nc, s->k, s->k == 1 ? "" : "s",
                          s->k == 1 ? " (a sigmoid head needs exactly 2 classes)" : "");
    snprintf(s->st.loss, sizeof s->st.loss, "%s", s->k == 1 ? "binary_crossentropy" : "categorical_crossentropy");
    if (!(s->opt = optim_new(s->m, &s->oo, err)))
        return -1;
    if (o->resume_path) {
        int got = checkpoint_read_optimizer(o->resume_path, s->opt, err);
        if (got < 0)
            return cd_err_wrap(err, "resuming");
    }
    optim_set_lr(s->opt, s->st.lr);
    return 0;
}

static int probe_outputs(session *s, cd_err *err)
{
    train_result *r = s->res;
    train_sibling_path(s->o->out_path, ".last.h5", r->last_path, sizeof r->last_path);
    train_sibling_path(s->o->out_path, ".history.csv", r->history_path, sizeof r->history_path);
    train_sibling_path(s->o->out_path, ".svg", r->svg_path, sizeof r->svg_path);
    if (strcmp(r->last_path, s->o->out_path) == 0)
        return cd_err_set(err, CD_ERR_INVALID, "output %s: give a file name ending in .h5", s->o->out_path);
    int created;
    if (probe_writable(s->o->out_path, &s->out_created, err) < 0)
        return -1;
    const char *others[3] = {r->last_path, r->history_path, r->svg_path};
    for (int i = 0; i < 3; i++) {
        if (probe_writable(others[i], &created, err) < 0)
            return -1;
        if (created)
            unlink(others[i]); /* written for real later; do not leave empty files behind */
    }
    return 0;
}

static int make_iters(session *s, cd_err *err)
{
    const train_opts *o = s->o;
    dataset_iter_opts io = {0};
    io.batch = o->batch;
    io.img_size = s->img;
    io.preprocess = s->m->preprocess;
    io.shuffle = 1;
    io.seed = s->st.seed;
    io.workers = o->workers;
    io.cache = o->cache;
    io.augment = o->augment && !augment_is_identity(o->augment) ? o->augment : NULL;
    if (o->comm && o->comm->size > 1) {
        /* Each rank reads only its slice of every batch (the engine sums the
         * slices' gradients), and validates on its run of whole validation
         * batches (engine_evaluate_ranks). */
        io.shard_rank = o->comm->rank;
        io.shard_count = o->comm->size;
    }
    /* Mixing pairs samples across the ranks' slices: every rank reads the
     * whole batch, mixes it as one process does, then takes its slice. */
    mix_opts mo = {o->mixup_alpha, o->cutmix_alpha};
    int shard_count = io.shard_count;
    if (mix_enabled(&mo))
        io.shard_count = 0;
    if (!(s->itrain = dataset_iter_new(s->dtrain, &io, err)))
        return -1;
    io.shard_count = shard_count;
    io.shuffle = 0;
    io.augment = NULL;
    io.shard_whole_batches = 1;
    if (!o->final_fit && !(s->ival = dataset_iter_new(s->dval, &io, err)))
        return -1;
    if (engine_best_init(&s->best, s->m, err) < 0)
        return -1;
    if (o->log_json_path && is_root(o) && !(s->log_json = fopen(o->log_json_path, o->resume_path ? "a" : "w")))
        return cd_err_set(err, CD_ERR_IO, "--log-json: cannot write %s: %s", o->log_json_path, strerror(errno));
    return 0;
}

static int save_history(session *s, cd_err *err)
{
    if (!is_root(s->o))
        return 0;
    char title[256];
    snprintf(title, sizeof title, "%s %s, %dx%d, %s lr %g, batch %d", s->m->arch, s->m->name, s->img, s->img,
             optim_keras_class(s->oo.kind), (double)s->st.base_lr, s->o->batch);
    if (history_write_csv(&s->hist, s->res->history_path, err) < 0 ||
        history_write_svg(&s->hist, s->res->svg_path, title, err) < 0)
        return -1;
    return 0;
}

/* engine on_best: the shipped file holds the best epoch's weights at all times. */
static int on_best(void *ctx, const model *tail, const train_state *st, cd_err *err)
{
    session *s = ctx;
    if (engine_save(tail, s->o->out_path, &s->oo, NULL, st, err) < 0)
        return -1;
    s->out_written = 1;
    return 0;
}

/* The epochs: this configuration of the engine is "no front, the whole model
 * trained, photos through data/". */
static int run_epochs(session *s, cd_err *err)
{
    const train_opts *o = s->o;
    train_result *res = s->res;
    char title[256];
    snprintf(title, sizeof title, "%s %s, %dx%d, %s lr %g, batch %d", s->m->arch, s->m->name, s->img, s->img,
             optim_keras_class(s->oo.kind), (double)s->st.base_lr, o->batch);
    engine_config c;
    engine_config_from_opts(&c, o);
    c.oo = &s->oo;
    c.last_path = res->last_path;
    c.hist = &s->hist;
    c.history_path = res->history_path;
    c.svg_path = res->svg_path;
    c.title = title;
    c.log_json = s->log_json;
    c.phase = "train";
    c.sharded_source = dataset_iter_sharded(s->itrain);
    c.sharded_val = 1; /* ival holds this rank's run of batches (make_iters) */
    c.on_best = on_best;
    c.on_best_ctx = s;
    c.ema = o->ema_decay > 0 ? &s->ema : NULL;
    if (o->comm && o->comm->size > 1)
        s->st.world_size = o->comm->size; /* recorded in the files (catdog_world_size) */
    engine_step sp = {NULL, s->m, s->k};
    engine_source tr = engine_source_dataset(s->itrain), va = engine_source_dataset(s->ival);
    engine_result er;
    if (engine_run(&c, &sp, s->opt, &s->st, &tr, o->final_fit ? NULL : &va, &s->best, &er, err) < 0)
        return -1;
    res->interrupted = er.interrupted;
    res->stopped_early = er.stopped_early;
    res->steps = er.steps;
    res->allreduce_seconds = er.allreduce_seconds;
    res->val_seconds = er.val_seconds;
    res->epochs_done = s->st.epochs_done;
    res->best_epoch = s->st.best_epoch;
    res->best_val_loss = s->st.best_val_loss;
    res->best_val_accuracy = s->st.best_val_accuracy;
    return 0;
}

static int run_test(session *s, cd_err *err)
{
    const train_opts *o = s->o;
    if (!s->has_test || !s->best.have)
        return 0;
    engine_best_restore(&s->best, s->m);
    dataset_iter_opts io = {0};
    io.batch = o->batch;
    io.img_size = s->img;
    io.preprocess = s->m->preprocess;
    io.workers = o->workers;
    dataset_iter *it = dataset_iter_new(s->dtest, &io, err);
    if (!it)
        return -1;
    engine_eval ev;
    engine_step sp = {NULL, s->m, s->k};
    engine_source src = engine_source_dataset(it);
    int rc = engine_evaluate_model(&sp, o->batch, o->backend, o->threads, &src, 1, o->stop, NULL, NULL, 0, &ev, err);
    dataset_iter_free(it);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        s->res->interrupted = 1;
        return 0;
    }
    s->res->has_test = 1;
    s->res->test_n = ev.n;
    s->res->test_loss = ev.loss;
    s->res->test_accuracy = ev.accuracy;
    s->res->test_auc = ev.auc;
    s->m->test_accuracy = ev.accuracy;
    /* Record the test accuracy in the shipped file (same best weights). */
    if (is_root(o) && engine_save(s->m, o->out_path, &s->oo, NULL, &s->st, err) < 0)
        return -1;
    train_progress p = {0};
    p.event = TRAIN_EV_TEST_DONE;
    p.n_test = ev.n;
    p.test_loss = ev.loss;
    p.test_accuracy = ev.accuracy;
    p.test_auc = ev.auc;
    emit(s, &p);
    return 0;
}

static int check_opts(const train_opts *o, cd_err *err)
{
    if (!o->data_dir || !*o->data_dir)
        return cd_err_set(err, CD_ERR_INVALID, "no data folder given");
    if (!o->out_path || !*o->out_path)
        return cd_err_set(err, CD_ERR_INVALID, "no output file given");
    if (o->epochs <= 0)
        return cd_err_set(err, CD_ERR_INVALID, "epochs must be positive (got %d)", o->epochs);
    if (o->batch <= 0 || o->batch > 4096)
        return cd_err_set(err, CD_ERR_INVALID, "batch must be 1..4096 (got %d)", o->batch);
    if (!o->resume_path && (o->img_size < 8 || o->img_size > 1024))
        return cd_err_set(err, CD_ERR_INVALID, "image size must be 8..1024 (got %d)", o->img_size);
    if (o->schedule == TRAIN_SCHEDULE_PLATEAU && (!(o->plateau_factor > 0 && o->plateau_factor < 1) ||
                                                  o->plateau_patience < 1))
        return cd_err_set(err, CD_ERR_INVALID, "plateau factor must be in (0, 1) and patience >= 1");
    if (o->warmup_epochs < 0 || (o->warmup_epochs > 0 && o->schedule != TRAIN_SCHEDULE_COSINE))
        return cd_err_set(err, CD_ERR_INVALID, "warm-up epochs go with the cosine schedule (got %d)", o->warmup_epochs);
    if (o->early_stopping < 0)
        return cd_err_set(err, CD_ERR_INVALID, "early-stopping patience must be >= 0");
    if (o->final_fit && (o->schedule == TRAIN_SCHEDULE_PLATEAU || o->early_stopping > 0 ||
                         o->monitor != TRAIN_MONITOR_VAL_LOSS))
        return cd_err_set(err, CD_ERR_INVALID,
                          "--final trains without validation: it takes no plateau schedule, early stopping or "
                          "--monitor (choose the epochs on validation in an earlier run)");
    if (!(o->ema_decay >= 0 && o->ema_decay < 1))
        return cd_err_set(err, CD_ERR_INVALID, "the EMA decay must be in (0, 1) (got %g)", (double)o->ema_decay);
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 1))
        return cd_err_set(err, CD_ERR_INVALID, "label smoothing must be in [0, 1) (got %g)", (double)o->label_smoothing);
    if (!(o->mixup_alpha >= 0 && isfinite(o->mixup_alpha)) || !(o->cutmix_alpha >= 0 && isfinite(o->cutmix_alpha)))
        return cd_err_set(err, CD_ERR_INVALID, "the mixup and cutmix alphas must be positive numbers (got %g, %g)",
                          (double)o->mixup_alpha, (double)o->cutmix_alpha);
    return 0;
}

int train_run(const train_opts *o, train_result *res, cd_err *err)
{
    double t_start = cd_monotonic_s();
    memset(res, 0, sizeof *res);
    res->best_val_loss = HUGE_VAL;
    if (check_opts(o, err) < 0)
        return -1;
    session s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.res = res;
    history_init(&s.hist);
    int rc = -1;
    if (open_data(&s, err) < 0 || build_model(&s, err) < 0 || probe_outputs(&s, err) < 0 ||
        make_iters(&s, err) < 0)
        goto out;
    if (o->resume_path) {
        /* Keep the history the resumed run wrote, up to where it stopped. */
        cd_err herr;
        if (history_read_csv(&s.hist, res->history_path, &herr) == 0)
            history_truncate(&s.hist, s.st.epochs_done);
        else
            history_free(&s.hist);
        res->epochs_done = s.st.epochs_done;
        res->best_epoch = s.st.best_epoch;
        res->best_val_loss = s.st.best_val_loss;
        res->best_val_accuracy = s.st.best_val_accuracy;
        /* The best weights so far are those at out_path, if it holds the resumed run's. */
        model *b = s.st.best_epoch > 0 ? keras_load(o->out_path, NULL) : NULL;
        if (b && b->n_layers == s.m->n_layers && engine_best_keep(&s.best, b, err) < 0) {
            model_free(b);
            goto out;
        }
        model_free(b);
    }
    train_progress p = {0};
    p.event = TRAIN_EV_START;
    p.model = s.m;
    p.epochs = o->epochs;
    p.steps = dataset_iter_batches(s.itrain);
    p.n_train = s.dtrain->n;
    p.n_val = o->final_fit ? 0 : s.dval->n; /* --final: validation/ is in n_train */
    p.n_test = s.dtest ? s.dtest->n : 0;
    p.resumed = o->resume_path != NULL;
    p.resumed_from = o->resume_path ? s.st.epochs_done : 0;
    p.resumed_step = o->resume_path ? (size_t)s.st.step_in_epoch : 0;
    p.lr = s.st.lr;
    emit(&s, &p);
    if (run_epochs(&s, err) < 0)
        goto out;
    /* (Re)written here too so that a resume that trained nothing (test evaluation
     * only) still leaves the chart. */
    if (s.hist.n > 0 && save_history(&s, err) < 0)
        goto out;
    if (!res->interrupted && run_test(&s, err) < 0)
        goto out;
    rc = 0;
out:
    if (s.itrain) {
        const char *const *failed = NULL;
        size_t nf = dataset_iter_failed(s.itrain, &failed);
        res->failed_images = nf;
        train_progress pe = {0};
        pe.event = TRAIN_EV_END;
        pe.n_failed = nf;
        pe.failed = failed;
        emit(&s, &pe);
    }
    /* Do not leave the empty file the writability probe created. */
    if (s.out_created && !s.out_written && !s.best.have)
        unlink(o->out_path);
    session_free(&s);
    res->seconds = cd_monotonic_s() - t_start;
    return rc;
}

void train_progress_means(train_progress *p, const metrics_tally *t, double seconds)
{
    p->loss = metrics_tally_loss(t);
    p->accuracy = metrics_tally_accuracy(t);
    p->seconds = seconds;
}
