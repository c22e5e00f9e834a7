/*
 * registry.c - loading the served models once (see registry.h).
 *
 * Files go through transfer_load, which composes a shipped transfer model
 * (head only) with its backbone weights, reads ONNX files (onnx/onnx.h) and
 * any other Keras file as is (Keras 2/3 .h5, Keras 3 .keras).
 */
#include "web/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "modelfile/keras.h"
#include "transfer/transfer_model.h"

/* Loads one model: `dir`/`file` when the file exists, else (or when it exists
 * but cannot be loaded) the embedded copy of `file` when there is one.
 * *source receives where it came from; when a broken file was replaced by the
 * built-in copy, note (note_size bytes) says which file failed and why, else
 * note[0] is '\0'. */
static predictor *load_one(const char *dir, const char *file, const predictor_opts *opts,
                           registry_embedded_fn embedded, const char *weights, char *source, size_t source_size,
                           char *note, size_t note_size, cd_err *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(source, source_size, "%s", path);
    note[0] = '\0';
    size_t len = 0;
    const void *bytes = embedded ? embedded(file, &len) : NULL;
    char disk_err[CD_ERR_MSG_MAX] = "";
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT) {
        /* Present (or unreadable: the loader says why).  transfer_load composes
         * a shipped transfer model with its backbone weights and reads anything
         * else as a plain Keras file. */
        transfer_load_opts topts = {.weights_path = weights, .img_size = opts ? opts->img_size : 0};
        predictor *p = predictor_adopt(transfer_load(path, &topts, err), opts, path, err);
        if (p || !bytes)
            return p;
        /* Broken on disk: the copy built into the program is the model the
         * operator shipped, so serve it rather than nothing, and say so. */
        snprintf(disk_err, sizeof disk_err, "%s", err->msg);
        cd_err_clear(err);
    } else if (!bytes) {
        cd_err_set(err, CD_ERR_NOTFOUND, "%s not found%s", path,
                   embedded ? " and this program has no built-in copy of it" : "");
        return NULL;
    }
    snprintf(source, source_size, "built-in models/%s", file);
    predictor *p = predictor_adopt(keras_load_memory(bytes, len, source, err), opts, source, err);
    if (disk_err[0]) {
        if (p)
            snprintf(note, note_size, "model %.20s: %s; serving the built-in copy instead", file, disk_err);
        else
            cd_err_wrap(err, "%s; and the built-in copy", disk_err);
    }
    return p;
}

/* Fills the descriptive fields of rm from its predictor. */
static void describe(registry_model *rm)
{
    const model *m = predictor_model(rm->pred);
    snprintf(rm->arch, sizeof rm->arch, "%s", m->arch);
    int c;
    model_input_shape(m, &rm->input_h, &rm->input_w, &c);
    rm->preprocess = cd_preprocess_name(predictor_preprocess(rm->pred));
    size_t trainable, frozen;
    model_param_counts(m, &rm->params, &trainable, &frozen);
    rm->test_accuracy = m->test_accuracy;
}

/* Loads models/<name>.h5 into the next free slot of r, or records why it is off. */
static void load_model(registry *r, const char *dir, const char *name, const predictor_opts *opts,
                       registry_embedded_fn embedded, const char *weights)
{
    char file[32], probe[1100];
    snprintf(file, sizeof file, "%s.h5", name);
    /* No <name>.h5 but a <name>.onnx (a PyTorch export, say): serve that. */
    snprintf(probe, sizeof probe, "%s/%s.onnx", dir, name);
    struct stat st_h5, st_onnx;
    char h5_path[1100];
    snprintf(h5_path, sizeof h5_path, "%s/%s", dir, file);
    if (stat(h5_path, &st_h5) != 0 && errno == ENOENT && stat(probe, &st_onnx) == 0)
        snprintf(file, sizeof file, "%s.onnx", name);
    /* The int8 copy catdog quantize made (models/<name>.int8.h5) is the one
     * served unless --precision asks for float32 or bf16. */
    snprintf(probe, sizeof probe, "%s/%s.int8.h5", dir, name);
    if ((!opts || opts->precision == RUNNER_PREC_AUTO || opts->precision == RUNNER_PREC_INT8) &&
        stat(probe, &st_onnx) == 0)
        snprintf(file, sizeof file, "%s.int8.h5", name);
    registry_model *m = &r->models[r->n];
    cd_err err;
    cd_err_clear(&err);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->pred = load_one(dir, file, opts, embedded, weights, m->source, sizeof m->source, r->notes[r->n_notes],
                       sizeof r->notes[0], &err);
    if (r->notes[r->n_notes][0])
        r->n_notes++;
    if (m->pred) {
        describe(m);
        r->n++;
        return;
    }
    registry_off *off = &r->off[r->n_off++];
    snprintf(off->name, sizeof off->name, "%s", name);
    snprintf(off->reason, sizeof off->reason, "%s model off: %s", name, err.msg);
    memset(m, 0, sizeof *m);
}

/* 1 for a file the folder scan serves: a Keras model other than the two
 * named ones (and their int8 copies), not a weights-only file or a training
 * checkpoint. */
static int extra_model_file(const char *f)
{
    size_t n = strlen(f);
    int keras = n > 6 && strcmp(f + n - 6, ".keras") == 0;
    int h5 = n > 3 && strcmp(f + n - 3, ".h5") == 0;
    if (f[0] == '.' || (!keras && !h5) || strcmp(f, "binary.h5") == 0 ||
        strcmp(f, "transfer.h5") == 0 || strcmp(f, "binary.int8.h5") == 0 ||
        strcmp(f, "transfer.int8.h5") == 0)
        return 0;
    return !(n > 11 && strcmp(f + n - 11, ".weights.h5") == 0) &&
           !(n > 8 && strcmp(f + n - 8, ".last.h5") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Serves the folder's other model files (registry.h), each under its name. */
static void load_extras(registry *r, const char *dir, const predictor_opts *opts, const char *weights)
{
    DIR *d = opendir(dir);
    if (!d)
        return; /* no folder: binary's built-in copy is all there is */
    char *files[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (extra_model_file(e->d_name) && strlen(e->d_name) < 200 && (files[n] = strdup(e->d_name)))
            n++;
    closedir(d);
    qsort(files, (size_t)n, sizeof files[0], cmp_str); /* a stable order for the page and API */
    for (int i = 0; i < n; i++) {
        char name[48];
        size_t stem = strlen(files[i]) - (strrchr(files[i], '.') ? strlen(strrchr(files[i], '.')) : 0);
        snprintf(name, sizeof name, "%.*s", (int)(stem < sizeof name ? stem : sizeof name - 1), files[i]);
        if (r->n + r->n_off >= REGISTRY_MAX || registry_find(r, name) >= 0 ||
            registry_off_reason(r, name)) {
            free(files[i]);
            continue; /* full, or x.h5 beside x.keras: the first in name order is served */
        }
        registry_model *m = &r->models[r->n];
        cd_err err;
        cd_err_clear(&err);
        snprintf(m->name, sizeof m->name, "%s", name);
        m->pred = load_one(dir, files[i], opts, NULL, weights, m->source, sizeof m->source,
                           r->notes[r->n_notes], sizeof r->notes[0], &err);
        if (m->pred) {
            describe(m);
            r->n++;
        } else {
            registry_off *off = &r->off[r->n_off++];
            snprintf(off->name, sizeof off->name, "%s", name);
            snprintf(off->reason, sizeof off->reason, "%s model off: %s", name, err.msg);
            memset(m, 0, sizeof *m);
        }
        free(files[i]);
    }
}

registry *registry_load(const char *dir, const predictor_opts *opts, registry_embedded_fn embedded,
                        const char *weights, cd_err *err)
{
    registry *r = calloc(1, sizeof *r);
    if (!r) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory loading models");
        return NULL;
    }
    /* Only binary has a built-in copy; transfer needs its backbone weights. */
    load_model(r, dir, "binary", opts, embedded, NULL);
    load_model(r, dir, "transfer", opts, NULL, weights);
    load_extras(r, dir, opts, weights);
    if (r->n == 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "no model can be served: %s; %s", r->off[0].reason, r->off[1].reason);
        free(r);
        return NULL;
    }
    r->best = 0;
    for (int i = 1; i < r->n; i++)
        if (r->models[i].test_accuracy > r->models[r->best].test_accuracy)
            r->best = i;
    return r;
}

void registry_free(registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        predictor_free(r->models[i].pred);
    free(r);
}

int registry_find(const registry *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->models[i].name, name) == 0)
            return i;
    return -1;
}

const char *registry_off_reason(const registry *r, const char *name)
{
    for (int i = 0; i < r->n_off; i++)
        if (strcmp(r->off[i].name, name) == 0)
            return r->off[i].reason;
    return NULL;
}
