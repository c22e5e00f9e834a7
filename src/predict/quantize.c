/*
 * quantize.c - int8 calibration over a folder of photos (see quantize.h).
 *
 * The ranges are plain maxima of |x| over the photos, not percentiles: the
 * inputs of the first layer are bounded by the preprocessing (x/255 is exactly
 * [0, 1], so u8 represents it without loss), and the measured accuracy of the
 * shipped models held with maxima (README, "int8 and bf16").
 */
#include "predict/quantize.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fileio.h"

#define QUANTIZE_MAX_FILE ((size_t)64 << 20)

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list;

static void paths_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int paths_add(path_list *l, const char *dir, const char *name, cd_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return cd_err_set(err, CD_ERR_NOMEM, "out of memory listing %s", dir);
        l->v = v;
        l->cap = cap;
    }
    size_t len = strlen(dir) + strlen(name) + 2;
    char *s = malloc(len);
    if (!s)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory listing %s", dir);
    snprintf(s, len, "%s/%s", dir, name);
    l->v[l->n++] = s;
    return 0;
}

/* Regular files of dir, and of its subfolders when depth > 0 (hidden names skipped). */
static int list_dir(path_list *l, const char *dir, int depth, cd_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return cd_err_set(err, CD_ERR_NOTFOUND, "--calibrate %s: cannot open the folder", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *full = malloc(len);
        if (!full) {
            rc = cd_err_set(err, CD_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        snprintf(full, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(full, &st) == 0) {
            if (S_ISREG(st.st_mode))
                rc = paths_add(l, dir, e->d_name, err);
            else if (S_ISDIR(st.st_mode) && depth > 0)
                rc = list_dir(l, full, depth - 1, err);
        }
        free(full);
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Grouped and dilated convolutions stay float32: the int8 weights' per-channel
 * scales assume the plain HWIO layout (dn_quant_for). */
static int calibrated_kind(const layer *l)
{
    return (l->kind == LAYER_CONV2D && layer_groups(l) == 1 && layer_dilation(l, 0) == 1 &&
            layer_dilation(l, 1) == 1) ||
           l->kind == LAYER_DENSE;
}

/* 1 when `name` is one of the comma-separated names in list. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = list; s && *s;) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return 1;
        s = c ? c + 1 : NULL;
    }
    return 0;
}

static int check_float_layers(const model *m, const char *list, cd_err *err)
{
    char name[LAYER_NAME_MAX + 1];
    for (const char *s = list; s && *s;) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        snprintf(name, sizeof name, "%.*s", (int)(len < LAYER_NAME_MAX ? len : LAYER_NAME_MAX),
                 s);
        int i = model_find(m, name);
        if (i < 0 || !calibrated_kind(&m->layers[i]))
            return cd_err_set(err, CD_ERR_INVALID,
                              "--float %s: no Conv2D or Dense layer of that name in the model "
                              "(see catdog info)",
                              name);
        s = c ? c + 1 : NULL;
    }
    return 0;
}

/* Per-sample values of layer j's output. */
static size_t out_values(const layer *l)
{
    return l->out_rank == 4 ? (size_t)l->out_h * (size_t)l->out_w * (size_t)l->out_c
                            : (size_t)l->out_c;
}

int quantize_calibrate(predictor *p, const quantize_opts *o, quantize_report *rep, cd_err *err)
{
    model *m = predictor_model_edit(p);
    int want = o->photos > 0 ? o->photos : QUANTIZE_DEFAULT_PHOTOS;
    path_list files = {0};
    predictor_session *s = NULL;
    float *mx = NULL;
    int *neg = NULL;
    int rc = -1, used = 0, skipped = 0;
    quantize_report r = {0};

    if (!o->calib_dir)
        return cd_err_set(err, CD_ERR_INVALID, "quantize: no calibration folder");
    if (check_float_layers(m, o->float_layers, err))
        return -1;
    /* calibrate the float model: forget an earlier calibration first, so the
     * session runs float32 */
    memset(&m->quant, 0, sizeof m->quant);
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].q_in_max = 0.0f;
        m->layers[i].q_in_signed = 0;
    }
    if (list_dir(&files, o->calib_dir, 1, err))
        goto done;
    if (files.n == 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "--calibrate %s: no files in the folder", o->calib_dir);
        goto done;
    }
    qsort(files.v, files.n, sizeof *files.v, cmp_str);
    mx = calloc((size_t)m->n_layers, sizeof *mx);
    neg = calloc((size_t)m->n_layers, sizeof *neg);
    if (!mx || !neg) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto done;
    }
    s = predictor_session_new(p, 1, err);
    if (!s)
        goto done;
    const runner *run = predictor_session_runner(s);
    /* evenly spaced over the sorted list; when a file does not decode, the
     * next one in the list takes its place */
    size_t next = 0;
    for (int k = 0; k < want && next < files.n; k++) {
        size_t at = files.n > (size_t)want ? (size_t)k * files.n / (size_t)want : (size_t)k;
        if (at < next)
            at = next;
        int ok = 0;
        for (; at < files.n && !ok; at++) {
            size_t len;
            cd_err ferr;
            unsigned char *bytes = cd_read_file(files.v[at], QUANTIZE_MAX_FILE, &len, &ferr);
            prediction pr;
            ok = bytes && predictor_classify(s, bytes, len, &pr, &ferr) == 0;
            free(bytes);
            if (!ok)
                skipped++;
        }
        next = at;
        if (!ok)
            break;
        used++;
        for (int i = 1; i < m->n_layers; i++) {
            const layer *l = &m->layers[i];
            if (!calibrated_kind(l) || l->n_inputs < 1)
                continue;
            int j = l->inputs[0];
            const float *a = runner_activation(run, j);
            if (!a) {
                /* a plan-time fold overwrote it: the session must be made
                 * with predictor_opts.keep_activations (cmd_quantize.c) */
                cd_err_set(err, CD_ERR_INVALID,
                           "quantize: the input of layer '%s' was not kept by the runner "
                           "(internal error: calibrate with keep_activations)",
                           l->name);
                goto done;
            }
            size_t cnt = out_values(&m->layers[j]);
            float hi = mx[i];
            int ng = neg[i];
            for (size_t t = 0; t < cnt; t++) {
                float v = a[t];
                if (v < 0.0f) {
                    ng = 1;
                    v = -v;
                }
                if (v > hi)
                    hi = v;
            }
            mx[i] = hi;
            neg[i] = ng;
        }
    }
    if (used == 0) {
        cd_err_set(err, CD_ERR_FORMAT, "--calibrate %s: none of its %zu files is a photo catdog reads",
                   o->calib_dir, files.n);
        goto done;
    }
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (!calibrated_kind(l))
            continue;
        if (mx[i] > 0.0f && isfinite(mx[i]) && !in_list(o->float_layers, l->name)) {
            l->q_in_max = mx[i];
            l->q_in_signed = neg[i];
            r.int8_layers++;
        } else {
            r.float_layers++;
        }
    }
    m->quant.int8 = 1;
    snprintf(m->quant.source, sizeof m->quant.source, "%s", o->calib_dir);
    m->quant.photos = used;
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(m->quant.date, sizeof m->quant.date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    r.photos = used;
    r.skipped = skipped;
    if (rep)
        *rep = r;
    rc = 0;
done:
    predictor_session_free(s);
    free(mx);
    free(neg);
    paths_free(&files);
    return rc;
}
