/*
 * cmd_evaluate.c - `catdog evaluate --model M --data DIR`: accuracy and friends
 * over a folder with one subfolder per class (cats = 0, dogs = 1, alphabetical
 * as Keras' flow_from_directory).
 *
 * Photos go through the same predictor as `predict` and the web service, in
 * batches; unreadable photos are counted and listed, never fatal.  Several
 * --model options evaluate each model in turn on the same folder; --report
 * hands every photo's P(dog) and size to report/report.h for the HTML page.
 *
 * Under mpirun (`mpirun -np N catdog evaluate ...`) each rank classifies a
 * contiguous run of whole batches, so every photo is classified in the same
 * batch as by one process; every rank's per-photo results are gathered, in
 * photo order, and the figures are computed from them exactly as one process
 * computes them (AUC over all photos, not a mean of per-rank AUCs).  Rank 0
 * alone prints and writes the report.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_model_opts.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "data/dataset.h"
#include "report/report.h"
#include "train/engine.h"
#include "train/engine_mpi.h"

static const char usage[] =
    "Usage: catdog evaluate --data DIR [options]\n"
    "Classifies every photo under DIR/<class>/ (cats = 0, dogs = 1) and prints accuracy,\n"
    "per-class precision/recall/F1, the confusion matrix, ROC AUC, log loss and images/s.\n"
    "--model may be given up to 4 times: each model is evaluated on the same photos.\n"
    "Under `mpirun -np N` the ranks share the photos; rank 0 prints the same figures.\n\n"
    "Options:\n"
    "  --data DIR           folder with cats/ and dogs/ (e.g. a split's test/)\n" CLI_MODEL_HELP
    "  --batch N            images per forward pass (default 32)\n"
    "  --json               one JSON object (a line per model) with accuracy, n, auc, log_loss,\n"
    "                       images_per_second, confusion, tta, ...\n"
    "  --report FILE        also write one self-contained HTML page: ROC and precision-recall\n"
    "                       curves, reliability diagram with ECE, confusion matrix, accuracy by\n"
    "                       photo size and orientation, the 24 most confident mistakes as\n"
    "                       thumbnails; several models side by side\n"
    "  -h, --help           this help\n";

static void progress(size_t done, size_t total, double t0)
{
    double el = cd_monotonic_s() - t0;
    double rate = el > 0 ? (double)done / el : 0;
    int width = 30, fill = total ? (int)((double)width * (double)done / (double)total) : width;
    fprintf(stderr, "\r%zu/%zu [", done, total);
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '=' : (i == fill ? '>' : '.'), stderr);
    fprintf(stderr, "] %.0f img/s, ETA %.0fs ", rate, rate > 0 ? (double)(total - done) / rate : 0.0);
    if (done == total)
        fputc('\n', stderr);
}

typedef struct eval_result {
    size_t n;                 /* photos classified */
    size_t confusion[2][2];   /* [true][predicted] */
    double log_loss, auc, seconds;
    int auc_ok;
} eval_result;

static void print_text(const eval_result *r, const dataset *d, size_t n_failed,
                       const char *const *failed, const char *model_name, int tta)
{
    double acc = r->n ? (double)(r->confusion[0][0] + r->confusion[1][1]) / (double)r->n : 0;
    printf("model:       %s%s\n", model_name, tta ? " (flip averaging, --tta)" : "");
    printf("photos:      %zu classified, %zu unreadable\n", r->n, n_failed);
    printf("accuracy:    %.4f\n", acc);
    printf("%-8s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < 2; c++) {
        size_t tp = r->confusion[c][c], fp = r->confusion[1 - c][c], fn = r->confusion[c][1 - c];
        double prec = tp + fp ? (double)tp / (double)(tp + fp) : 0;
        double rec = tp + fn ? (double)tp / (double)(tp + fn) : 0;
        double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        printf("%-8s %9.4f %9.4f %9.4f %8zu\n", d->class_names[c], prec, rec, f1, tp + fn);
    }
    printf("confusion (rows true, columns predicted):\n%-8s %8s %8s\n", "", d->class_names[0],
           d->class_names[1]);
    for (int t = 0; t < 2; t++)
        printf("%-8s %8zu %8zu\n", d->class_names[t], r->confusion[t][0], r->confusion[t][1]);
    if (r->auc_ok)
        printf("roc auc:     %.4f\n", r->auc);
    else
        printf("roc auc:     undefined (only one class present)\n");
    printf("log loss:    %.4f\n", r->log_loss);
    printf("speed:       %.1f images/s (%.2f s)\n", r->seconds > 0 ? (double)r->n / r->seconds : 0,
           r->seconds);
    for (size_t i = 0; i < n_failed; i++)
        printf("unreadable:  %s\n", failed[i]);
}

static int print_json(const eval_result *r, const dataset *d, size_t n_failed,
                      const char *const *failed, const char *model_name, int tta)
{
    double acc = r->n ? (double)(r->confusion[0][0] + r->confusion[1][1]) / (double)r->n : 0;
    json_t *o = json_object(), *classes = json_object(), *cm = json_array(), *bad = json_array();
    if (!o || !classes || !cm || !bad)
        goto oom;
    for (int c = 0; c < 2; c++) {
        size_t tp = r->confusion[c][c], fp = r->confusion[1 - c][c], fn = r->confusion[c][1 - c];
        double prec = tp + fp ? (double)tp / (double)(tp + fp) : 0;
        double rec = tp + fn ? (double)tp / (double)(tp + fn) : 0;
        double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        json_t *row = json_pack("[I,I]", (json_int_t)r->confusion[c][0], (json_int_t)r->confusion[c][1]);
        json_t *cls = json_pack("{s:f,s:f,s:f,s:I}", "precision", prec, "recall", rec, "f1", f1,
                                "support", (json_int_t)(tp + fn));
        if (!row || !cls || json_array_append_new(cm, row) || json_object_set_new(classes, d->class_names[c], cls))
            goto oom;
    }
    for (size_t i = 0; i < n_failed; i++)
        if (json_array_append_new(bad, json_string(failed[i])))
            goto oom;
    if (json_object_set_new(o, "accuracy", json_real(acc)) ||
        json_object_set_new(o, "n", json_integer((json_int_t)r->n)) ||
        json_object_set_new(o, "auc", r->auc_ok ? json_real(r->auc) : json_null()) ||
        json_object_set_new(o, "log_loss", json_real(r->log_loss)) ||
        json_object_set_new(o, "images_per_second",
                            json_real(r->seconds > 0 ? (double)r->n / r->seconds : 0)) ||
        json_object_set_new(o, "seconds", json_real(r->seconds)) ||
        json_object_set_new(o, "classes", classes) || json_object_set_new(o, "confusion", cm) ||
        json_object_set_new(o, "unreadable", bad) ||
        json_object_set_new(o, "model", json_string(model_name)) ||
        json_object_set_new(o, "tta", json_boolean(tta)))
        goto oom_owned;
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(o);
    return 0;
oom:
    json_decref(classes);
    json_decref(cm);
    json_decref(bad);
oom_owned:
    json_decref(o);
    return cli_fail("out of memory writing JSON");
}

/* What one photo's classification leaves, as floats so that the ranks'
 * records can be gathered with engine_gather_floats (integers below 2^24
 * are exact): dataset index, true label, predicted label, P(dog), width,
 * height.  An unreadable photo: its index, then -1s. */
enum { REC_IDX, REC_LABEL, REC_PRED, REC_P, REC_W, REC_H, REC_N };

/* The figures, the report's photos and the unreadable list from n records
 * in photo order: the one place they are computed, with or without MPI. */
static int summarize(const float *rec, size_t n, const dataset *d, eval_result *r, report_photo *photos,
                     size_t *n_photos, const char **failed, size_t *n_failed)
{
    cd_err err;
    engine_tally tally; /* the library's evaluator: log loss, AUC */
    engine_tally_init(&tally, 1, 1);
    for (size_t i = 0; i < n; i++) {
        const float *q = rec + i * REC_N;
        size_t idx = (size_t)q[REC_IDX];
        if (q[REC_LABEL] < 0) {
            failed[(*n_failed)++] = d->paths[idx];
            continue;
        }
        int label = (int)q[REC_LABEL], pred = (int)q[REC_PRED];
        r->confusion[label][pred]++;
        if (engine_tally_add_probs(&tally, &q[REC_P], &q[REC_LABEL], 1, &err) != 0) {
            engine_tally_free(&tally);
            cli_fail("%s", err.msg);
            return -1;
        }
        if (photos)
            photos[(*n_photos)++] = (report_photo){.path = d->paths[idx], .label = label, .p_dog = q[REC_P],
                                                   .width = (int)q[REC_W], .height = (int)q[REC_H]};
    }
    engine_eval ev;
    engine_tally_result(&tally, &ev);
    engine_tally_free(&tally);
    r->n = ev.n;
    r->log_loss = ev.loss;
    r->auc = ev.auc;
    r->auc_ok = isfinite(ev.auc);
    return 0;
}

/* One model's evaluation over d: the printed figures in *r, and with `photos`
 * (d->n entries) every classified photo for the report, *n_photos of them;
 * failed[] receives the unreadable paths (borrowed from d).  comm: the MPI
 * ranks sharing the work (NULL: one process).  Returns 0 or prints the error
 * and returns -1. */
static int evaluate_model(const cli_model_opts *mo, const dataset *d, int batch, int json, const engine_comm *comm,
                          eval_result *r, report_photo *photos, size_t *n_photos, const char **failed,
                          size_t *n_failed, char *settings, size_t settings_len)
{
    int status = -1;
    cd_err err;
    cd_err_clear(&err);
    predictor *p = cli_model_load(mo);
    predictor_session *s = NULL;
    image *imgs = calloc((size_t)batch, sizeof *imgs);
    prediction *preds = calloc((size_t)batch, sizeof *preds);
    size_t *idx = calloc((size_t)batch, sizeof *idx);
    int *ow = calloc((size_t)batch, sizeof *ow), *oh = calloc((size_t)batch, sizeof *oh);
    /* This rank's batches: a contiguous run, [b_lo, b_hi) of nb. */
    size_t nb = (d->n + (size_t)batch - 1) / (size_t)batch, b_lo = 0, b_hi = nb;
    if (comm && comm->size > 1) {
        b_lo = nb * (size_t)comm->rank / (size_t)comm->size;
        b_hi = nb * (size_t)(comm->rank + 1) / (size_t)comm->size;
    }
    size_t mine = (b_hi - b_lo) * (size_t)batch, n_rec = 0, n_all = 0;
    float *rec = malloc((mine ? mine : 1) * REC_N * sizeof *rec), *all = NULL;
    memset(r, 0, sizeof *r);
    *n_photos = *n_failed = 0;
    if (!p)
        goto out;
    if (!imgs || !preds || !idx || !ow || !oh || !rec) {
        cli_fail("out of memory for a batch of %d photos", batch);
        goto out;
    }
    if (!(s = predictor_session_new(p, batch, &err))) {
        cli_fail("%s", err.msg);
        goto out;
    }
    int h, w, c;
    const model *m = predictor_model(p);
    model_input_shape(m, &h, &w, &c);
    snprintf(settings, settings_len, "%s, %dx%dx%d, preprocessing %s, %s, %s", m->arch, w, h, c,
             cd_preprocess_name(predictor_preprocess(p)),
             runner_precision_name(runner_precision_resolve(
                 m, mo->popts.backend == RUNNER_DNNL ? mo->popts.precision : RUNNER_PREC_F32)),
             mo->popts.tta_flip ? "flip averaging (--tta)" : "no flip averaging");
    image_decode_opts dopts = {.max_pixels = mo->popts.max_pixels, .hint_width = IMAGE_DECODE_HINT(w), .hint_height = IMAGE_DECODE_HINT(h)};
    int tty = isatty(STDERR_FILENO) && !json && (!comm || comm->rank == 0);
    double t0 = cd_monotonic_s();
    for (size_t b = b_lo; b < b_hi; b++) {
        size_t start = b * (size_t)batch;
        size_t end = start + (size_t)batch < d->n ? start + (size_t)batch : d->n;
        int k = 0;
        for (size_t i = start; i < end; i++) {
            cd_err_clear(&err);
            if (image_decode_file(d->paths[i], &dopts, &imgs[k], &ow[k], &oh[k], &err) != 0) {
                float *q = rec + n_rec++ * REC_N;
                q[REC_IDX] = (float)i;
                for (int f = 1; f < REC_N; f++)
                    q[f] = -1.0f;
                if (!json)
                    fprintf(stderr, "%scatdog: skipping %s\n", tty ? "\n" : "", err.msg);
                continue;
            }
            idx[k++] = i;
        }
        if (k > 0 && predictor_classify_images(s, imgs, k, preds, &err) != 0) {
            for (int j = 0; j < k; j++)
                image_free(&imgs[j]);
            cli_fail("%s", err.msg);
            goto out;
        }
        /* Records in photo order: a failed photo's record was written when
         * it failed, so sort this batch's by index (insertion: k is small). */
        for (int j = 0; j < k; j++) {
            image_free(&imgs[j]);
            float q[REC_N] = {(float)idx[j], (float)d->labels[idx[j]], (float)preds[j].label, preds[j].p_dog,
                              (float)ow[j], (float)oh[j]};
            size_t at = n_rec++;
            while (at > 0 && rec[(at - 1) * REC_N + REC_IDX] > q[REC_IDX]) {
                memcpy(rec + at * REC_N, rec + (at - 1) * REC_N, REC_N * sizeof *rec);
                at--;
            }
            memcpy(rec + at * REC_N, q, sizeof q);
        }
        if (tty) /* this rank's share */
            progress(end - b_lo * (size_t)batch,
                     (b_hi * (size_t)batch < d->n ? b_hi * (size_t)batch : d->n) - b_lo * (size_t)batch, t0);
    }
    if (engine_gather_floats(comm, rec, n_rec * REC_N, &all, &n_all, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    r->seconds = cd_monotonic_s() - t0;
    double seconds = r->seconds;
    if (summarize(all, n_all / REC_N, d, r, photos, n_photos, failed, n_failed) != 0)
        goto out;
    r->seconds = seconds;
    status = 0;
out:
    free(imgs);
    free(preds);
    free(idx);
    free(ow);
    free(oh);
    free(rec);
    free(all);
    predictor_session_free(s);
    predictor_free(p);
    return status;
}

/* The photo's name under the data folder (what the report shows): the
 * dataset's paths are DIR/<class>/<file>, DIR as given. */
static const char *name_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0)
        return path;
    while (path[n] == '/')
        n++;
    return path + n;
}

int cmd_evaluate(int argc, char **argv)
{
    enum { O_REPORT = 'r' };
    static const struct option longopts[] = {
        CLI_MODEL_LONG_OPTIONS,
        {"data", required_argument, NULL, 'd'},
        {"batch", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'j'},
        {"report", required_argument, NULL, O_REPORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    const char *dir = NULL, *report_path = NULL;
    const char *models[REPORT_MAX_MODELS];
    int n_models = 0;
    int json = 0, batch = 32, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == CLI_OPT_MODEL) {
            if (n_models == REPORT_MAX_MODELS)
                return cli_usage_error("evaluate", "--model may be given at most %d times", REPORT_MAX_MODELS);
            models[n_models++] = optarg;
            continue;
        }
        int r = cli_model_opt("evaluate", opt, optarg, &mo);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'j': json = 1; break;
        case O_REPORT: report_path = optarg; break;
        case 'b': {
            char *end;
            long b = strtol(optarg, &end, 10);
            if (*end || b < 1 || b > 4096)
                return cli_usage_error("evaluate", "--batch wants a number from 1 to 4096, not '%s'", optarg);
            batch = (int)b;
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("evaluate", "unknown option");
        }
    }
    if (!dir)
        return cli_usage_error("evaluate", "--data DIR is required");
    if (optind < argc)
        return cli_usage_error("evaluate", "unexpected argument '%s'", argv[optind]);
    if (n_models > 1 && mo.config_path)
        return cli_usage_error("evaluate", "--config applies to one --model; give one model with it");
    if (n_models == 0)
        models[n_models++] = NULL; /* the default model */

    cd_err err;
    cd_err_clear(&err);
    /* mpirun -np N catdog evaluate ...: the ranks share the photos; rank 0 prints. */
    engine_comm comm_world, *comm = NULL;
    if (engine_mpi_launched()) {
        if (engine_mpi_init(&comm_world, &err) < 0)
            return cli_fail("evaluate: %s", err.msg);
        comm = &comm_world;
    }
    int root = !comm || comm->rank == 0;
    dataset *d = dataset_open(dir, &err);
    if (!d) {
        engine_mpi_finalize(comm);
        return cli_fail("%s", err.msg);
    }
    if (d->n_classes != 2) {
        int nc = d->n_classes;
        dataset_free(d);
        engine_mpi_finalize(comm);
        return cli_fail("%s has %d class folders; evaluate expects two (cats, dogs)", dir, nc);
    }
    int status = 1;
    report_photo *photos[REPORT_MAX_MODELS] = {0};
    report_model rm[REPORT_MAX_MODELS];
    char settings[REPORT_MAX_MODELS][256];
    const char **failed = calloc(d->n ? d->n : 1, sizeof *failed);
    if (!failed)
        goto oom;
    for (int i = 0; i < n_models; i++) {
        if (report_path && !(photos[i] = calloc(d->n ? d->n : 1, sizeof *photos[i])))
            goto oom;
        eval_result r;
        size_t n_failed;
        mo.model_path = models[i];
        const char *name = models[i] ? models[i] : "default model (models/binary.h5 or built-in)";
        if (evaluate_model(&mo, d, batch, json, comm, &r, photos[i], &rm[i].n, failed, &n_failed, settings[i],
                           sizeof settings[i]) != 0) {
            if (comm && comm->size > 1) {
                /* The other ranks wait for this one's results: end them all. */
                fprintf(stderr, "catdog evaluate: rank %d of %d failed; stopping every rank\n", comm->rank,
                        comm->size);
                fflush(stderr);
                engine_mpi_abort(1);
            }
            goto out;
        }
        if (!root)
            continue;
        for (size_t k = 0; k < rm[i].n; k++)
            photos[i][k].name = name_under(photos[i][k].path, dir);
        rm[i].name = name;
        rm[i].settings = settings[i];
        rm[i].photos = photos[i];
        rm[i].unreadable = n_failed;
        if (json) {
            if (print_json(&r, d, n_failed, failed, name, mo.popts.tta_flip) != 0)
                goto out;
        } else {
            if (i > 0)
                putchar('\n');
            print_text(&r, d, n_failed, failed, name, mo.popts.tta_flip);
        }
    }
    if (report_path && root) {
        report_opts ro = {.data_dir = dir};
        if (report_write_html(report_path, rm, n_models, &ro, &err) != 0) {
            cli_fail("report %s: %s", report_path, err.msg);
            goto out;
        }
        if (!json)
            printf("report:      %s\n", report_path);
    }
    status = 0;
    goto out;
oom:
    cli_fail("out of memory for %zu photos", d->n);
out:
    for (int i = 0; i < n_models; i++)
        free(photos[i]);
    free(failed);
    dataset_free(d);
    engine_mpi_finalize(comm);
    return status;
}
