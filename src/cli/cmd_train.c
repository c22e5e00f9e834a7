/*
 * cmd_train.c - `catdog train`: parses options, installs the Ctrl-C handler,
 * runs the training loop (library: train/train.h) and shows its progress: a
 * Keras-like progress bar on a terminal, plain lines otherwise.  Also
 * `--benchmark STEPS`, which times training steps on random inputs (bench/).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "engine/arch.h"
#include "train/engine_mpi.h"
#include "train/train.h"
#include "transfer/transfer_train.h"

/* Exit status when a second Ctrl-C stops training at once (130: the first one's
 * graceful stop, checkpoint saved). */
#define EXIT_STOPPED_NOW 3

/* What the SIGINT handler reaches.  A signal handler can only reach file-scope
 * variables: these are the only globals in this room.  stop is the flag the
 * library polls through train_opts.stop; the paths are filled before the
 * handler is installed and only read by it. */
static volatile sig_atomic_t g_stop = 0;
static struct {
    int out_is_new;          /* --out did not exist: an empty one is the writability probe's */
    char out[4096];          /* --out */
    char tmp[2][4100];       /* where saves write before their rename: --out's and the checkpoint's */
} g_files;

/* The first Ctrl-C asks the library to stop after the current step and save
 * the resume checkpoint; a second one (say the step is long) stops at once with
 * EXIT_STOPPED_NOW.  Nothing half-written is left in place: model files are
 * written to "<path>.tmp" and renamed (modelfile/keras_save.c), so the files on
 * disk are those of the last completed save; the handler removes a save's
 * temporary file, and the empty --out the library's writability probe made
 * (which the library removes itself when it returns).  Only async-signal-safe
 * calls (write, stat, unlink, _exit). */
static void on_sigint(int sig)
{
    (void)sig;
    if (g_stop) {
        for (int i = 0; i < 2; i++)
            if (g_files.tmp[i][0])
                unlink(g_files.tmp[i]);
        struct stat st;
        if (g_files.out_is_new && stat(g_files.out, &st) == 0 && st.st_size == 0)
            unlink(g_files.out);
        static const char now[] = "\ncatdog train: second Ctrl-C: stopped at once without saving (the files "
                                  "on disk are those of the last completed save)\n";
        if (write(STDERR_FILENO, now, sizeof now - 1) < 0) {
            /* nothing more can be done about a failed message */
        }
        _exit(EXIT_STOPPED_NOW);
    }
    g_stop = 1;
    static const char first[] = "\ncatdog train: Ctrl-C: stopping after the current step and saving the "
                                "checkpoint (Ctrl-C again to stop at once)\n";
    if (write(STDERR_FILENO, first, sizeof first - 1) < 0) {
        /* the stop goes ahead without the message */
    }
}

/* Fills g_files for the handler; before it is installed. */
static void note_files(const char *out_path)
{
    struct stat st;
    g_files.out_is_new = stat(out_path, &st) != 0;
    snprintf(g_files.out, sizeof g_files.out, "%s", out_path);
    snprintf(g_files.tmp[0], sizeof g_files.tmp[0], "%s.tmp", out_path);
    char last[4096];
    train_sibling_path(out_path, ".last.h5", last, sizeof last);
    snprintf(g_files.tmp[1], sizeof g_files.tmp[1], "%s.tmp", last);
}

static void usage(FILE *out)
{
    fputs("Usage: catdog train --data DIR --out FILE [options]\n"
          "Trains a network on DIR/train, validates on DIR/validation each epoch, keeps the\n"
          "model with the best validation loss at FILE, and evaluates it on DIR/test when\n"
          "present (make DIR with `catdog split`).  Also writes, next to FILE:\n"
          "  FILE.last.h5 (resume checkpoint with optimizer state; '.h5' replaced),\n"
          "  FILE.history.csv and FILE.svg (loss and accuracy per epoch).\n"
          "Ctrl-C stops after the current step and saves the resume checkpoint (exit status\n"
          "130); a second Ctrl-C stops at once without saving (exit status 3).\n"
          "Under `mpirun -np N` (any --arch) each rank trains on its share of every batch and\n"
          "the gradients are summed, each layer's as soon as the backward pass has it; rank 0\n"
          "prints and writes (docs/DATA_PARALLEL.md).\n"
          "\n"
          "Options:\n"
          "  -a, --arch NAME          built-in architecture: binary (default), vgg16, squeezenet;\n"
          "                           or transfer: a pretrained backbone and a head (see below)\n"
          "  -d, --data DIR           dataset folder with train/ and validation/ (required)\n"
          "  -o, --out FILE           best model, Keras .h5 (required)\n"
          "  -e, --epochs N           total epochs (default 30)\n"
          "  -b, --batch N            batch size (default 32)\n"
          "      --img-size N         square input size (default 150)\n"
          "      --optimizer NAME     adam (default), sgd, rmsprop; Keras 2 defaults\n"
          "      --lr X               learning rate (default 0.001; sgd 0.01)\n"
          "      --momentum X         sgd momentum (default 0)\n"
          "      --nesterov           sgd with Nesterov momentum\n"
          "      --weight-decay X     L2 weight decay on kernels (default 0)\n"
          "      --augment SPEC       e.g. flip,rotate=20,shift=0.1,zoom=0.2,shear=10,brightness=0.2\n"
          "                           or 'default'; none by default.  Also crop=A (random resized\n"
          "                           crop: A..100 % of the area, aspect 3/4..4/3, stretched back),\n"
          "                           contrast=F, saturation=F (factors 1-F..1+F, as PIL's\n"
          "                           ImageEnhance) and hue=F (a turn of up to F, at most 0.5)\n"
          "      --seed N             seed for weights, order, augmentation, dropout (default 1)\n"
          "      --threads N          compute threads (default: all cores)\n"
          "      --workers N          image decoding threads (default: the dataset's choice)\n"
          "      --cache / --no-cache keep decoded images in memory (default on)\n"
          "      --early-stopping N   stop after N epochs without a better monitored metric\n"
          "      --monitor NAME       val_loss (default), val_accuracy or val_auc: picks the best\n"
          "                           epoch (saved model), early stopping and plateau cuts\n"
          "      --schedule NAME      constant (default), plateau, cosine\n"
          "      --warmup N           cosine: N epochs of linear warm-up first (default 0)\n"
          "      --label-smoothing X  train against targets y*(1-X)+0.5*X (Keras' meaning; one-hot\n"
          "                           rows: y*(1-X)+X/classes), X in [0, 1); default 0.  The training\n"
          "                           loss printed is then against those targets; validation, test\n"
          "                           and all accuracies use the true labels\n"
          "      --final              train on train/ + validation/ for exactly --epochs (no\n"
          "                           validation, selection or early stopping: the last epoch is\n"
          "                           the model), then evaluate test/ once; use the epoch count an\n"
          "                           earlier run chose on validation\n"
          "      --ema DECAY          keep an exponential moving average of the weights (Keras 3\n"
          "                           use_ema; e.g. 0.999): validation, the kept model, the\n"
          "                           checkpoint and the test use the average; --resume restores it\n"
          "      --mixup ALPHA        mix each training batch in pairs (photo i with photo n-1-i):\n"
          "                           x = l*x_i + (1-l)*x_j, targets alike, l ~ Beta(ALPHA, ALPHA)\n"
          "                           drawn from the seed, epoch and step (e.g. 0.2)\n"
          "      --cutmix ALPHA       or paste a box of photo j into photo i, l ~ Beta(ALPHA, ALPHA)\n"
          "                           sizing the box and then the box's area setting the weight\n"
          "                           (e.g. 1.0); with both, each batch picks one with probability\n"
          "                           1/2 (timm).  The training loss is against the mixed targets,\n"
          "                           the training accuracy against each photo's dominant label.\n"
          "                           Under mpirun every rank then reads the whole batch\n"
          "      --log-json FILE      one JSON object per epoch (loss, accuracy, val_*, lr, ...)\n"
          "      --plateau-factor X   plateau: multiply lr by X (default 0.5)\n"
          "      --plateau-patience N plateau: after N epochs without improvement (default 2)\n"
          "      --min-lr X           floor of the schedules (default 1e-6)\n"
          "      --resume FILE        continue the run saved in FILE (FILE.last.h5 of a run)\n"
          "      --backend NAME       dnnl (default, fast) or ref (plain C)\n"
          "      --benchmark STEPS    time STEPS training steps on random images, print images/s\n"
          "      --no-overlap         under mpirun: sum the gradients after the backward pass in\n"
          "                           one call instead of overlapped with it (for measuring)\n"
          "  -q, --quiet              only the epoch lines\n"
          "  -h, --help               show this help\n"
          "Transfer learning (--arch transfer; FILE then holds the head and names the backbone):\n"
          "      --backbone NAME      squeezenet (default), vgg16, mobilenetv2, resnet50 or\n"
          "                           efficientnetb0,\n"
          "                           with their Keras ImageNet (or your own) weights file\n"
          "      --weights FILE       the backbone's weights file (default: searched in\n"
          "                           $CATDOG_WEIGHTS_DIR, ~/.keras/models, ./weights, ../shared/weights)\n"
          "      --head SPEC          gap|gmp|gapgmp|flatten, then dense=N, dropout=R, input-dropout=R\n"
          "                           (default gap,dense=256,dropout=0.5)\n"
          "      --feature-cache DIR  keep the backbone's features in DIR for later runs; with\n"
          "                           --fine-tune also the frozen part's output for each photo and\n"
          "                           its mirror, so fine-tuning epochs run the trained part only\n"
          "      --fine-tune N        then train the last N backbone blocks (Fire modules, VGG\n"
          "                           or MobileNetV2 blocks, ResNet50 bottlenecks) with the head\n"
          "                           (default 0: none)\n"
          "      --fine-tune-epochs N epochs of that (default 3)\n"
          "      --fine-tune-lr X     its learning rate (default 0.0001)\n"
          "      --fine-tune-schedule NAME  constant (default) or cosine over those epochs\n"
          "      --fine-tune-warmup N cosine: N of them of linear warm-up first (default 0)\n"
          "      --fine-tune-cache-precision P  that cache in f32 (default: the same training\n"
          "                           as without it) or f16 (half the disk, losses about 1 % apart)\n"
          "      --no-fine-tune-cache run the frozen part every step even with --feature-cache\n"
          "  --img-size defaults to the backbone's (vgg16 150, the others 224); of the\n"
          "  augmentations only flip applies (each photo's features are cached as is and flipped).\n",
          out);
}

typedef struct view {
    int tty;
    int quiet;
    float label_smoothing;   /* said once at the start: what the training loss is against */
    float mixup_alpha, cutmix_alpha;
    size_t last_plain;   /* last step printed as a plain line */
    int bar_drawn;
} view;

static void fmt_time(double s, char *buf, size_t n)
{
    if (s < 0 || !isfinite(s))
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

static void draw_bar(size_t step, size_t steps, char *buf, size_t n)
{
    const int width = 30;
    int filled = steps ? (int)((double)step / (double)steps * width) : width;
    if (filled > width)
        filled = width;
    size_t k = 0;
    buf[k++] = '[';
    for (int i = 0; i < width && k + 2 < n; i++)
        buf[k++] = i < filled - 1 || (i == filled - 1 && step >= steps) ? '=' : i == filled - 1 ? '>' : '.';
    buf[k++] = ']';
    buf[k] = 0;
}

static void on_progress(const train_progress *p, void *ctx)
{
    view *v = ctx;
    char bar[40], t1[32];
    switch (p->event) {
    case TRAIN_EV_START:
        if (!v->quiet && p->model)
            model_summary(p->model, stdout);
        printf("Found %zu training, %zu validation and %zu test images; %zu steps per epoch.\n", p->n_train,
               p->n_val, p->n_test, p->steps);
        if (v->label_smoothing > 0)
            printf("Training loss: cross-entropy against label-smoothed targets (%g); val_loss and the test loss "
                   "against the true labels.\n",
                   (double)v->label_smoothing);
        if (v->mixup_alpha > 0 || v->cutmix_alpha > 0)
            printf("Training batches mixed in pairs (%s%s%s): the training loss is against the mixed targets, the "
                   "training accuracy against each photo's dominant label; validation and test photos unmixed.\n",
                   v->mixup_alpha > 0 ? "mixup" : "", v->mixup_alpha > 0 && v->cutmix_alpha > 0 ? " or " : "",
                   v->cutmix_alpha > 0 ? "cutmix" : "");
        if (p->resumed && p->resumed_step > 0)
            printf("Resuming epoch %d at step %zu (lr %g).\n", p->resumed_from + 1, p->resumed_step + 1,
                   (double)p->lr);
        else if (p->resumed)
            printf("Resuming after epoch %d (lr %g).\n", p->resumed_from, (double)p->lr);
        fflush(stdout);
        break;
    case TRAIN_EV_EPOCH_BEGIN:
        printf("Epoch %d/%d (lr %g)\n", p->epoch, p->epochs, (double)p->lr);
        v->last_plain = 0;
        v->bar_drawn = 0;
        fflush(stdout);
        break;
    case TRAIN_EV_STEP:
        if (v->quiet)
            break;
        if (v->tty) {
            double eta = p->step ? p->seconds / (double)p->step * (double)(p->steps - p->step) : 0;
            fmt_time(eta, t1, sizeof t1);
            draw_bar(p->step, p->steps, bar, sizeof bar);
            printf("\r%5zu/%zu %s - ETA: %s - loss: %.4f - acc: %.4f\033[K", p->step, p->steps, bar, t1, p->loss,
                   p->accuracy);
            v->bar_drawn = 1;
            fflush(stdout);
        } else {
            size_t every = p->steps / 10 ? p->steps / 10 : 1;
            if (p->step - v->last_plain >= every || p->step == p->steps) {
                printf("  step %zu/%zu - %.0fs - loss: %.4f - acc: %.4f\n", p->step, p->steps, p->seconds, p->loss,
                       p->accuracy);
                v->last_plain = p->step;
                fflush(stdout);
            }
        }
        break;
    case TRAIN_EV_VALIDATING:
        if (v->tty && !v->quiet) {
            printf(" - validating...\033[K");
            fflush(stdout);
        }
        break;
    case TRAIN_EV_EPOCH_END: {
        if (v->tty && v->bar_drawn)
            printf("\r");
        draw_bar(p->steps, p->steps, bar, sizeof bar);
        fmt_time(p->seconds, t1, sizeof t1);
        if (isnan(p->val_loss)) /* --final: no validation, every epoch saved */
            printf("%5zu/%zu %s - %s - loss: %.4f - acc: %.4f (saved)%s\n", p->steps, p->steps, bar, t1, p->loss,
                   p->accuracy, v->tty ? "\033[K" : "");
        else
            printf("%5zu/%zu %s - %s - loss: %.4f - acc: %.4f - val_loss: %.4f - val_acc: %.4f%s%s\n", p->steps,
                   p->steps, bar, t1, p->loss, p->accuracy, p->val_loss, p->val_accuracy,
                   p->improved ? " (best, saved)" : "", v->tty ? "\033[K" : "");
        if (p->next_lr != p->lr)
            printf("Learning rate %g -> %g\n", (double)p->lr, (double)p->next_lr);
        if (p->stopping_early)
            printf("Early stopping: no better validation loss for a while.\n");
        fflush(stdout);
        break;
    }
    case TRAIN_EV_TEST_DONE:
        printf("Test: %zu images - loss: %.4f - accuracy: %.4f - AUC: %.4f\n", p->n_test, p->test_loss,
               p->test_accuracy, p->test_auc);
        fflush(stdout);
        break;
    case TRAIN_EV_END:
        if (p->n_failed) {
            fprintf(stderr, "catdog train: %zu unreadable image%s skipped:\n", p->n_failed,
                    p->n_failed == 1 ? "" : "s");
            for (size_t i = 0; i < p->n_failed && i < 20; i++)
                fprintf(stderr, "  %s\n", p->failed[i]);
            if (p->n_failed > 20)
                fprintf(stderr, "  ... and %zu more\n", p->n_failed - 20);
        }
        break;
    }
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = (float)v;
    return 0;
}

static int run_benchmark(const train_opts *o, int steps)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = arch_build(o->arch, o->img_size, &err);
    if (!m)
        return cli_fail("train: %s", err.msg);
    model_init_params(m, o->seed);
    double ips = 0, sps = 0;
    int rc = train_benchmark(m, o->batch, steps, &o->optim, o->backend, o->threads, &ips, &sps, &err);
    model_free(m);
    if (rc < 0)
        return cli_fail("train: benchmark: %s", err.msg);
    printf("train benchmark: arch %s %dx%d, batch %d, %s, backend %s, threads %d: %d steps, %.1f ms/step, "
           "%.1f images/s\n",
           o->arch, o->img_size, o->img_size, o->batch, optim_keras_class(o->optim.kind),
           o->backend == RUNNER_REF ? "ref" : "dnnl", o->threads, steps, sps * 1e3, ips);
    return 0;
}

static void on_features(const char *part, size_t done, size_t total, int from_cache, void *ctx)
{
    (void)ctx;
    size_t every = total / 10 ? total / 10 : 1;
    if (from_cache)
        printf("Features of %s: %zu images from the cache.\n", part, total);
    else if (done == total || done % every < 32)
        printf("Features of %s: %zu/%zu images.\n", part, done, total);
    fflush(stdout);
}

/* A rank that failed on its own: its peers wait in the next collective, so
 * say which rank and why, then end the whole job (never returns while MPI
 * runs). */
static void mpi_fail(const engine_comm *comm, const cd_err *err)
{
    fprintf(stderr, "catdog train: rank %d of %d: %s; stopping every rank\n", comm->rank, comm->size, err->msg);
    fflush(stderr);
    engine_mpi_abort(1);
}

/* --arch transfer: the backbone's features once, then the head (transfer/).
 * Under MPI (o->comm) every rank runs it; rank 0 alone prints. */
static int run_transfer(train_opts *o, transfer_opts *t)
{
    cd_err err;
    cd_err_clear(&err);
    t->extract_progress = on_features;
    transfer_result r;
    int rc = transfer_train(o, t, &r, &err);
    signal(SIGINT, SIG_DFL);
    if (rc < 0 && o->comm && o->comm->size > 1)
        mpi_fail(o->comm, &err);
    if (o->comm && o->comm->rank != 0)
        return rc < 0 ? 1 : r.train.interrupted ? 130 : 0;
    if (rc < 0)
        return cli_fail("train: %s", err.msg);
    if (r.train.interrupted) {
        printf("Interrupted.%s\n", t->cache_dir ? " The feature cache keeps the splits finished so far." : "");
        if (access(r.train.last_path, F_OK) == 0)
            printf("Resume with the same options plus --resume %s\n", r.train.last_path);
        return 130;
    }
    char ts[32];
    fmt_time(r.train.seconds, ts, sizeof ts);
    printf("Backbone features: %zu forward passes in %.1f s; head training %.1f s; total %s.\n",
           r.extracted_images, r.extract_seconds, r.head_seconds, ts);
    if (t->fine_tune > 0) {
        printf("Fine-tuning (%.1f s, %.1f s per epoch): %s.\n", r.finetune_seconds, r.finetune_epoch_seconds,
               r.finetune_best_epoch > 0 ? "kept, it improved the validation loss"
                                          : "discarded, the validation loss did not improve");
        if (r.finetune_cache_built > 0)
            printf("Fine-tuning's activation cache: %zu front passes, %.1f s.\n", r.finetune_cache_built,
                   r.finetune_cache_seconds);
        else if (r.finetune_cache_seconds > 0)
            printf("Fine-tuning's activation cache: reused.\n");
    }
    if (r.train.best_epoch > 0)
        printf("Best epoch %d: val_loss %.4f, val_acc %.4f; saved %s (history %s, %s).\n",
               r.train.best_epoch, r.train.best_val_loss, r.train.best_val_accuracy, o->out_path,
               r.train.history_path, r.train.svg_path);
    if (r.train.has_test)
        printf("Test accuracy %.4f, AUC %.4f on %zu images; with flip averaging %.4f, AUC %.4f.\n",
               r.train.test_accuracy, r.train.test_auc, r.train.test_n, r.test_accuracy_tta,
               r.test_auc_tta);
    return 0;
}

int cmd_train(int argc, char **argv)
{
    enum {
        OPT_IMG = 256, OPT_OPT, OPT_LR, OPT_MOM, OPT_NEST, OPT_WD, OPT_AUG, OPT_SEED, OPT_THREADS,
        OPT_WORKERS, OPT_CACHE, OPT_NOCACHE, OPT_ES, OPT_SCHED, OPT_PF, OPT_PP, OPT_MINLR, OPT_RESUME,
        OPT_BACKEND, OPT_BENCH, OPT_BACKBONE, OPT_WEIGHTS, OPT_HEAD, OPT_FCACHE, OPT_FT, OPT_FTE, OPT_FTLR,
        OPT_FTSCHED, OPT_FTWARM, OPT_FTPREC, OPT_FTNOCACHE,
        OPT_MONITOR, OPT_WARMUP, OPT_LOGJSON, OPT_NOOVERLAP, OPT_LSMOOTH, OPT_EMA, OPT_FINAL,
        OPT_MIXUP, OPT_CUTMIX
    };
    static const struct option longopts[] = {
        {"arch", required_argument, NULL, 'a'},       {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},        {"epochs", required_argument, NULL, 'e'},
        {"batch", required_argument, NULL, 'b'},      {"img-size", required_argument, NULL, OPT_IMG},
        {"optimizer", required_argument, NULL, OPT_OPT}, {"lr", required_argument, NULL, OPT_LR},
        {"momentum", required_argument, NULL, OPT_MOM}, {"nesterov", no_argument, NULL, OPT_NEST},
        {"weight-decay", required_argument, NULL, OPT_WD}, {"augment", required_argument, NULL, OPT_AUG},
        {"seed", required_argument, NULL, OPT_SEED},  {"threads", required_argument, NULL, OPT_THREADS},
        {"workers", required_argument, NULL, OPT_WORKERS}, {"cache", no_argument, NULL, OPT_CACHE},
        {"no-cache", no_argument, NULL, OPT_NOCACHE}, {"early-stopping", required_argument, NULL, OPT_ES},
        {"schedule", required_argument, NULL, OPT_SCHED}, {"plateau-factor", required_argument, NULL, OPT_PF},
        {"plateau-patience", required_argument, NULL, OPT_PP}, {"min-lr", required_argument, NULL, OPT_MINLR},
        {"resume", required_argument, NULL, OPT_RESUME}, {"backend", required_argument, NULL, OPT_BACKEND},
        {"benchmark", required_argument, NULL, OPT_BENCH}, {"quiet", no_argument, NULL, 'q'},
        {"backbone", required_argument, NULL, OPT_BACKBONE}, {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"head", required_argument, NULL, OPT_HEAD}, {"feature-cache", required_argument, NULL, OPT_FCACHE},
        {"fine-tune", required_argument, NULL, OPT_FT}, {"fine-tune-epochs", required_argument, NULL, OPT_FTE},
        {"fine-tune-lr", required_argument, NULL, OPT_FTLR},
        {"fine-tune-schedule", required_argument, NULL, OPT_FTSCHED},
        {"fine-tune-warmup", required_argument, NULL, OPT_FTWARM},
        {"fine-tune-cache-precision", required_argument, NULL, OPT_FTPREC},
        {"no-fine-tune-cache", no_argument, NULL, OPT_FTNOCACHE},
        {"monitor", required_argument, NULL, OPT_MONITOR}, {"warmup", required_argument, NULL, OPT_WARMUP},
        {"log-json", required_argument, NULL, OPT_LOGJSON}, {"no-overlap", no_argument, NULL, OPT_NOOVERLAP},
        {"label-smoothing", required_argument, NULL, OPT_LSMOOTH}, {"ema", required_argument, NULL, OPT_EMA},
        {"final", no_argument, NULL, OPT_FINAL},
        {"mixup", required_argument, NULL, OPT_MIXUP}, {"cutmix", required_argument, NULL, OPT_CUTMIX},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    train_opts o;
    train_opts_defaults(&o);
    augment_opts aug;
    memset(&aug, 0, sizeof aug);
    float lr = -1, momentum = 0, wd = 0;
    int nesterov = 0, bench_steps = 0;
    optim_kind kind = OPTIM_ADAM;
    view v = {isatty(STDOUT_FILENO), 0, 0, 0, 0, 0, 0};
    transfer_opts topts;
    transfer_opts_defaults(&topts);
    int img_given = 0;
    cd_err err;
    cd_err_clear(&err);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":a:d:o:e:b:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o.arch = optarg; break;
        case 'd': o.data_dir = optarg; break;
        case 'o': o.out_path = optarg; break;
        case 'e':
            if (parse_int(optarg, 1, 100000, &o.epochs) < 0)
                return cli_usage_error("train", "--epochs needs a positive integer, not '%s'", optarg);
            break;
        case 'b':
            if (parse_int(optarg, 1, 4096, &o.batch) < 0)
                return cli_usage_error("train", "--batch needs an integer 1..4096, not '%s'", optarg);
            break;
        case OPT_IMG:
            if (parse_int(optarg, 8, 1024, &o.img_size) < 0)
                return cli_usage_error("train", "--img-size needs an integer 8..1024, not '%s'", optarg);
            img_given = 1;
            break;
        case OPT_OPT:
            if (optim_kind_parse(optarg, &kind) < 0)
                return cli_usage_error("train", "--optimizer must be adam, sgd or rmsprop, not '%s'", optarg);
            break;
        case OPT_LR:
            if (parse_float(optarg, &lr) < 0 || !(lr > 0))
                return cli_usage_error("train", "--lr needs a positive number, not '%s'", optarg);
            break;
        case OPT_MOM:
            if (parse_float(optarg, &momentum) < 0 || momentum < 0 || momentum >= 1)
                return cli_usage_error("train", "--momentum needs a number in [0, 1), not '%s'", optarg);
            break;
        case OPT_NEST: nesterov = 1; break;
        case OPT_WD:
            if (parse_float(optarg, &wd) < 0 || wd < 0)
                return cli_usage_error("train", "--weight-decay needs a number >= 0, not '%s'", optarg);
            break;
        case OPT_AUG:
            if (augment_parse(optarg, &aug, &err) < 0)
                return cli_usage_error("train", "--augment: %s", err.msg);
            o.augment = &aug;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return cli_usage_error("train", "--seed needs a non-negative integer, not '%s'", optarg);
            o.seed = s;
            break;
        }
        case OPT_THREADS:
            if (parse_int(optarg, 0, 1024, &o.threads) < 0)
                return cli_usage_error("train", "--threads needs an integer >= 0, not '%s'", optarg);
            break;
        case OPT_WORKERS:
            if (parse_int(optarg, 0, 1024, &o.workers) < 0)
                return cli_usage_error("train", "--workers needs an integer >= 0, not '%s'", optarg);
            break;
        case OPT_CACHE: o.cache = 1; break;
        case OPT_NOCACHE: o.cache = 0; break;
        case OPT_NOOVERLAP: o.blocking_allreduce = 1; break;
        case OPT_ES:
            if (parse_int(optarg, 0, 100000, &o.early_stopping) < 0)
                return cli_usage_error("train", "--early-stopping needs an integer >= 0, not '%s'", optarg);
            break;
        case OPT_SCHED:
            if (train_schedule_parse(optarg, &o.schedule) < 0)
                return cli_usage_error("train", "--schedule must be constant, plateau or cosine, not '%s'", optarg);
            break;
        case OPT_PF:
            if (parse_float(optarg, &o.plateau_factor) < 0 || !(o.plateau_factor > 0 && o.plateau_factor < 1))
                return cli_usage_error("train", "--plateau-factor needs a number in (0, 1), not '%s'", optarg);
            break;
        case OPT_PP:
            if (parse_int(optarg, 1, 100000, &o.plateau_patience) < 0)
                return cli_usage_error("train", "--plateau-patience needs a positive integer, not '%s'", optarg);
            break;
        case OPT_MINLR:
            if (parse_float(optarg, &o.min_lr) < 0 || o.min_lr < 0)
                return cli_usage_error("train", "--min-lr needs a number >= 0, not '%s'", optarg);
            break;
        case OPT_RESUME: o.resume_path = optarg; break;
        case OPT_MONITOR:
            if (train_monitor_parse(optarg, &o.monitor) < 0)
                return cli_usage_error("train", "--monitor must be val_loss, val_accuracy or val_auc, not '%s'",
                                       optarg);
            break;
        case OPT_WARMUP:
            if (parse_int(optarg, 0, 100000, &o.warmup_epochs) < 0)
                return cli_usage_error("train", "--warmup needs an integer >= 0, not '%s'", optarg);
            break;
        case OPT_LOGJSON: o.log_json_path = optarg; break;
        case OPT_LSMOOTH:
            if (parse_float(optarg, &o.label_smoothing) < 0 || !(o.label_smoothing >= 0 && o.label_smoothing < 1))
                return cli_usage_error("train", "--label-smoothing needs a number in [0, 1), not '%s'", optarg);
            v.label_smoothing = o.label_smoothing;
            break;
        case OPT_FINAL: o.final_fit = 1; break;
        case OPT_MIXUP:
            if (parse_float(optarg, &o.mixup_alpha) < 0 || !(o.mixup_alpha > 0 && o.mixup_alpha <= 100))
                return cli_usage_error("train", "--mixup needs an alpha in (0, 100] such as 0.2, not '%s'", optarg);
            v.mixup_alpha = o.mixup_alpha;
            break;
        case OPT_CUTMIX:
            if (parse_float(optarg, &o.cutmix_alpha) < 0 || !(o.cutmix_alpha > 0 && o.cutmix_alpha <= 100))
                return cli_usage_error("train", "--cutmix needs an alpha in (0, 100] such as 1.0, not '%s'", optarg);
            v.cutmix_alpha = o.cutmix_alpha;
            break;
        case OPT_EMA:
            if (parse_float(optarg, &o.ema_decay) < 0 || !(o.ema_decay > 0 && o.ema_decay < 1))
                return cli_usage_error("train", "--ema needs a decay in (0, 1) such as 0.999, not '%s'", optarg);
            break;
        case OPT_BACKEND:
            if (strcmp(optarg, "dnnl") == 0 || strcmp(optarg, "onednn") == 0)
                o.backend = RUNNER_DNNL;
            else if (strcmp(optarg, "ref") == 0)
                o.backend = RUNNER_REF;
            else
                return cli_usage_error("train", "--backend must be dnnl or ref, not '%s'", optarg);
            break;
        case OPT_BENCH:
            if (parse_int(optarg, 1, 1000000, &bench_steps) < 0)
                return cli_usage_error("train", "--benchmark needs a positive number of steps, not '%s'", optarg);
            break;
        case OPT_BACKBONE: topts.backbone = optarg; break;
        case OPT_WEIGHTS: topts.weights_path = optarg; break;
        case OPT_HEAD:
            if (transfer_head_parse(optarg, &topts.head, &err) < 0)
                return cli_usage_error("train", "--head: %s", err.msg);
            break;
        case OPT_FCACHE: topts.cache_dir = optarg; break;
        case OPT_FT:
            if (parse_int(optarg, 0, 100, &topts.fine_tune) < 0)
                return cli_usage_error("train", "--fine-tune needs an integer 0..100, not '%s'", optarg);
            break;
        case OPT_FTE:
            if (parse_int(optarg, 1, 100000, &topts.fine_tune_epochs) < 0)
                return cli_usage_error("train", "--fine-tune-epochs needs a positive integer, not '%s'", optarg);
            break;
        case OPT_FTLR:
            if (parse_float(optarg, &topts.fine_tune_lr) < 0 || !(topts.fine_tune_lr > 0))
                return cli_usage_error("train", "--fine-tune-lr needs a positive number, not '%s'", optarg);
            break;
        case OPT_FTSCHED:
            if (train_schedule_parse(optarg, &topts.fine_tune_schedule) < 0 ||
                topts.fine_tune_schedule == TRAIN_SCHEDULE_PLATEAU)
                return cli_usage_error("train", "--fine-tune-schedule must be constant or cosine, not '%s'", optarg);
            break;
        case OPT_FTWARM:
            if (parse_int(optarg, 0, 100000, &topts.fine_tune_warmup) < 0)
                return cli_usage_error("train", "--fine-tune-warmup needs an integer >= 0, not '%s'", optarg);
            break;
        case OPT_FTPREC:
            if (transfer_actcache_precision_parse(optarg, &topts.fine_tune_cache_precision, &err) < 0)
                return cli_usage_error("train", "--fine-tune-cache-precision: %s", err.msg);
            break;
        case OPT_FTNOCACHE: topts.fine_tune_cache = 0; break;
        case 'q': v.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': return cli_usage_error("train", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("train", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    optim_defaults(kind, &o.optim);
    if (lr > 0) {
        o.optim.lr = lr;
        o.lr_override = 1;
    }
    o.optim.momentum = momentum;
    o.optim.nesterov = nesterov;
    o.optim.weight_decay = wd;
    if (nesterov && kind != OPTIM_SGD)
        return cli_usage_error("train", "--nesterov applies to --optimizer sgd only");
    if (bench_steps > 0)
        return run_benchmark(&o, bench_steps);
    if (!o.data_dir)
        return cli_usage_error("train", "--data DIR is required");
    if (!o.out_path)
        return cli_usage_error("train", "--out FILE is required");

    o.stop = &g_stop;
    o.progress = on_progress;
    o.progress_ctx = &v;
    note_files(o.out_path);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    /* mpirun -np N catdog train ...: one rank per process, the engine splits
     * each batch over them; rank 0 prints and writes. */
    engine_comm comm = {0};
    if (engine_mpi_launched()) {
        if (engine_mpi_init(&comm, &err) < 0)
            return cli_fail("train: %s", err.msg);
        o.comm = &comm;
    }
    if (strcmp(o.arch, "transfer") == 0) {
        if (!img_given)
            o.img_size = 0; /* the backbone's own size */
        int trc = run_transfer(&o, &topts);
        engine_mpi_finalize(&comm);
        return trc;
    }
    train_result res;
    int rc = train_run(&o, &res, &err);
    signal(SIGINT, SIG_DFL);
    if (rc < 0 && o.comm && comm.size > 1)
        mpi_fail(&comm, &err);
    if (o.comm) {
        engine_mpi_finalize(&comm);
        if (comm.rank != 0)
            return res.interrupted ? 130 : 0;
    }
    if (rc < 0)
        return cli_fail("train: %s", err.msg);
    if (res.interrupted) {
        printf("Interrupted after %d complete epoch%s; checkpoint saved.\n"
               "Resume with the same options plus --resume %s\n"
               "(or --epochs %d --resume %s to only evaluate the best model on the test split).\n",
               res.epochs_done, res.epochs_done == 1 ? "" : "s", res.last_path, res.epochs_done, res.last_path);
        return 130;
    }
    char t[32];
    fmt_time(res.seconds, t, sizeof t);
    if (o.final_fit && res.best_epoch > 0)
        printf("Final model: epoch %d of train/ + validation/; saved %s (history %s, %s) in %s.\n", res.best_epoch,
               o.out_path, res.history_path, res.svg_path, t);
    else if (res.best_epoch > 0)
        printf("Best epoch %d: val_loss %.4f, val_acc %.4f; saved %s (history %s, %s) in %s.\n", res.best_epoch,
               res.best_val_loss, res.best_val_accuracy, o.out_path, res.history_path, res.svg_path, t);
    if (res.has_test)
        printf("Test accuracy %.4f, AUC %.4f on %zu images (recorded in %s).\n", res.test_accuracy, res.test_auc,
               res.test_n, o.out_path);
    if (o.comm && o.comm->size > 1 && res.steps > 0)
        printf("%d ranks: %lld steps, gradient allreduce %.2f ms per step (%s); validation %.2f s.\n",
               o.comm->size, res.steps, res.allreduce_seconds * 1e3 / (double)res.steps,
               o.blocking_allreduce ? "after the backward pass" : "exposed, overlapped with the backward pass",
               res.val_seconds);
    return 0;
}
