/*
 * predictor.c - bytes -> image -> preprocessed tensor -> model -> P(dog).
 *
 * The predictor owns the model and is read-only after predictor_new, so any
 * number of sessions (one per thread) can share it.  Each session owns a
 * runner for the model and the float input buffer it feeds it; decoding and
 * resizing allocate per call (images differ in size) and free before returning.
 */
#include "predict/predictor.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transfer/transfer_model.h"

struct predictor {
    model *model;            /* owned */
    predictor_opts opts;
    cd_preprocess preprocess; /* resolved: the model's record or the override */
    int in_h, in_w, in_c;
    size_t out_size;          /* 1 (sigmoid P(dog)) or 2 (softmax cat, dog) */
};

struct predictor_session {
    predictor *p;      /* borrowed */
    runner *runner;    /* owned */
    int max_batch;     /* images per forward; doubled internally for TTA */
    float *input;      /* owned: runner batch x in_h x in_w x in_c */
    float *output;     /* owned: runner batch x out_size */
    image *imgs;       /* owned: max_batch decoded photos (predictor_classify_batch) */
    int *which;        /* owned: max_batch indices of the photos that decoded */
    prediction *preds; /* owned: max_batch verdicts of those */
    prediction *info;  /* owned: max_batch photos' size and decode time */
};

predictor *predictor_new(model *m, const predictor_opts *opts, cd_err *err)
{
    if (!m) {
        cd_err_set(err, CD_ERR_INVALID, "predictor_new: no model");
        return NULL;
    }
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    if (c != 3 && c != 1) {
        cd_err_set(err, CD_ERR_SHAPE,
                   "model '%s' takes %d input channels; catdog feeds 3 (RGB) or 1 (grayscale)",
                   m->name, c);
        return NULL;
    }
    if (h <= 0 || w <= 0) {
        cd_err_set(err, CD_ERR_SHAPE,
                   "model '%s' has no fixed input size (%dx%d); give one when building it",
                   m->name, w, h);
        return NULL;
    }
    size_t out = model_output_size(m);
    if (out != 1 && out != 2) {
        cd_err_set(err, CD_ERR_SHAPE,
                   "model '%s' has %zu outputs; a cat/dog classifier has 1 (sigmoid) or 2 (softmax)",
                   m->name, out);
        return NULL;
    }
    predictor *p = calloc(1, sizeof *p);
    if (!p) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a predictor");
        return NULL;
    }
    if (opts)
        p->opts = *opts;
    p->model = m;
    p->preprocess = p->opts.override_preprocess ? p->opts.preprocess : m->preprocess;
    p->in_h = h;
    p->in_w = w;
    p->in_c = c;
    p->out_size = out;
    return p;
}

predictor *predictor_load(const char *path, const predictor_opts *opts, cd_err *err)
{
    /* transfer_load composes a shipped transfer model (head only) with its
     * backbone weights, and loads any other Keras file as keras_load does. */
    transfer_load_opts lo = {.img_size = opts ? opts->img_size : 0};
    return predictor_adopt(transfer_load(path, &lo, err), opts, path, err);
}

predictor *predictor_adopt(model *m, const predictor_opts *opts, const char *source, cd_err *err)
{
    if (!m)
        return NULL;
    predictor *p = predictor_new(m, opts, err);
    if (!p) {
        cd_err_wrap(err, "%s", source);
        model_free(m);
    }
    return p;
}

void predictor_free(predictor *p)
{
    if (!p)
        return;
    model_free(p->model);
    free(p);
}

const model *predictor_model(const predictor *p) { return p->model; }

model *predictor_model_edit(predictor *p) { return p->model; }

const runner *predictor_session_runner(const predictor_session *s) { return s->runner; }

cd_preprocess predictor_preprocess(const predictor *p) { return p->preprocess; }

int predictor_tta(const predictor *p) { return p->opts.tta_flip; }

const char *predictor_label_name(int label) { return label ? "dog" : "cat"; }

predictor_session *predictor_session_new(predictor *p, int max_batch, cd_err *err)
{
    if (max_batch < 1)
        max_batch = 1;
    predictor_session *s = calloc(1, sizeof *s);
    if (!s) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory creating a predictor session");
        return NULL;
    }
    s->p = p;
    s->max_batch = max_batch;
    /* With test-time augmentation every image also runs flipped, in the same batch. */
    int run_batch = p->opts.tta_flip ? 2 * max_batch : max_batch;
    size_t in_floats = (size_t)run_batch * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    s->input = malloc(in_floats * sizeof *s->input);
    s->output = malloc((size_t)run_batch * p->out_size * sizeof *s->output);
    s->imgs = calloc((size_t)max_batch, sizeof *s->imgs);
    s->which = calloc((size_t)max_batch, sizeof *s->which);
    s->preds = calloc((size_t)max_batch, sizeof *s->preds);
    s->info = calloc((size_t)max_batch, sizeof *s->info);
    if (!s->input || !s->output || !s->imgs || !s->which || !s->preds || !s->info) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for a batch of %d images at %dx%d", run_batch,
                   p->in_w, p->in_h);
        predictor_session_free(s);
        return NULL;
    }
    runner_opts ro = {.backend = p->opts.backend, .threads = p->opts.threads,
                      .precision = p->opts.precision, .keep_activations = p->opts.keep_activations};
    s->runner = runner_new(p->model, run_batch, &ro, err);
    if (!s->runner) {
        predictor_session_free(s);
        return NULL;
    }
    return s;
}

void predictor_session_free(predictor_session *s)
{
    if (!s)
        return;
    runner_free(s->runner);
    free(s->input);
    free(s->output);
    free(s->imgs);
    free(s->which);
    free(s->preds);
    free(s->info);
    free(s);
}

int predictor_session_max_batch(const predictor_session *s) { return s->max_batch; }

/* Mirrors one HWC float image left-right in place. */
static void flip_input(float *x, int h, int w, int c)
{
    for (int y = 0; y < h; y++) {
        float *row = x + (size_t)y * (size_t)w * (size_t)c;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int k = 0; k < c; k++) {
                float t = row[(size_t)a * c + k];
                row[(size_t)a * c + k] = row[(size_t)b * c + k];
                row[(size_t)b * c + k] = t;
            }
    }
}

/* P(dog) from one sample's output row, by the model's output rule; with
 * --classes dog,cat class 1 is cat. */
static float dog_probability(const predictor *p, const float *row)
{
    double p1 = cd_output_p1(p->model->output_rule, row, (int)p->out_size);
    return (float)(p->opts.classes_swapped ? 1.0 - p1 : p1);
}

/* One photo into the model's input: resized when its size differs, then for a
 * 1-channel model turned into luminance, then preprocessed.  Resizing the RGB
 * photo before convert('L') is the order that reproduces the reference
 * outputs of the real grayscale model in ../shared/testdata/keras/real to
 * 1e-6; converting first differed by up to 0.02. */
static int prepare_input(const predictor *p, const image *img, float *dst, cd_err *err)
{
    image gray = {0}, resized = {0};
    const image *src = img;
    if (src->width != p->in_w || src->height != p->in_h) {
        if (image_resize(src, p->in_w, p->in_h, p->opts.filter, &resized, err) != 0)
            return -1;
        src = &resized;
    }
    if (p->in_c == 1) {
        if (image_luminance(src, &gray, err) != 0) {
            image_free(&resized);
            return -1;
        }
        src = &gray;
    }
    if (p->in_c == 1)
        image_to_input_gray(src, p->preprocess, dst);
    else
        image_to_input(src, p->preprocess, dst);
    image_free(&resized);
    image_free(&gray);
    return 0;
}

int predictor_classify_images(predictor_session *s, const image *imgs, int n, prediction *out,
                              cd_err *err)
{
    const predictor *p = s->p;
    if (n < 1 || n > s->max_batch)
        return cd_err_set(err, CD_ERR_INVALID, "batch of %d images; this session takes 1..%d", n,
                          s->max_batch);
    double t0 = cd_monotonic_s();
    size_t per = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (int i = 0; i < n; i++) {
        if (prepare_input(p, &imgs[i], s->input + (size_t)i * per, err) != 0)
            return -1;
    }
    int run_n = n;
    if (p->opts.tta_flip) {
        memcpy(s->input + (size_t)n * per, s->input, (size_t)n * per * sizeof *s->input);
        for (int i = 0; i < n; i++)
            flip_input(s->input + (size_t)(n + i) * per, p->in_h, p->in_w, p->in_c);
        run_n = 2 * n;
    }
    if (runner_forward(s->runner, s->input, run_n, s->output, err) != 0)
        return -1;
    double per_image_ms = (cd_monotonic_s() - t0) * 1e3 / n;
    for (int i = 0; i < n; i++) {
        float pd = dog_probability(p, s->output + (size_t)i * p->out_size);
        if (p->opts.tta_flip)
            pd = 0.5f * (pd + dog_probability(p, s->output + (size_t)(n + i) * p->out_size));
        out[i].p_dog = pd;
        out[i].label = pd >= 0.5f;
        out[i].width = imgs[i].width;
        out[i].height = imgs[i].height;
        out[i].format = IMAGE_FORMAT_UNKNOWN;
        out[i].elapsed_ms = per_image_ms;
    }
    return 0;
}

/* Decodes one photo as every front end does: the pixel limit, and a reduced
 * JPEG scale only when the photo is much larger than the model's input. */
static int decode(const predictor *p, const unsigned char *bytes, size_t len, image *img, int *w, int *h,
                  cd_err *err)
{
    image_decode_opts dopts = {
        .max_pixels = p->opts.max_pixels,
        .hint_width = IMAGE_DECODE_HINT(p->in_w),
        .hint_height = IMAGE_DECODE_HINT(p->in_h),
    };
    return image_decode(bytes, len, &dopts, img, w, h, err);
}

int predictor_classify_batch(predictor_session *s, const unsigned char *const *bytes, const size_t *lens, int n,
                             prediction *out, int *rc, cd_err *errs)
{
    const predictor *p = s->p;
    if (n < 1 || n > s->max_batch) {
        for (int i = 0; i < n; i++) {
            rc[i] = -1;
            cd_err_set(&errs[i], CD_ERR_INVALID, "batch of %d photos; this session takes 1..%d", n, s->max_batch);
        }
        return -1;
    }
    int k = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        double t0 = cd_monotonic_s();
        memset(&s->imgs[k], 0, sizeof s->imgs[k]);
        rc[i] = decode(p, bytes[i], lens[i], &s->imgs[k], &s->info[i].width, &s->info[i].height, &errs[i]);
        s->info[i].elapsed_ms = (cd_monotonic_s() - t0) * 1e3;
        if (rc[i] == 0)
            s->which[k++] = i;
        else
            failed = 1;
    }
    if (k == 0)
        return -1;
    double t0 = cd_monotonic_s();
    cd_err batch_err;
    cd_err_clear(&batch_err);
    int frc = predictor_classify_images(s, s->imgs, k, s->preds, &batch_err);
    double share_ms = (cd_monotonic_s() - t0) * 1e3 / k;
    for (int j = 0; j < k; j++) {
        int i = s->which[j];
        image_free(&s->imgs[j]);
        if (frc != 0) {
            rc[i] = -1;
            errs[i] = batch_err;
            continue;
        }
        out[i] = s->preds[j];
        out[i].format = image_sniff(bytes[i], lens[i]);
        out[i].width = s->info[i].width;
        out[i].height = s->info[i].height;
        out[i].elapsed_ms = s->info[i].elapsed_ms + share_ms;
    }
    return failed || frc != 0 ? -1 : 0;
}

int predictor_classify(predictor_session *s, const unsigned char *bytes, size_t len,
                       prediction *out, cd_err *err)
{
    const predictor *p = s->p;
    double t0 = cd_monotonic_s();
    image img = {0};
    int w, h;
    if (decode(p, bytes, len, &img, &w, &h, err) != 0)
        return -1;
    int rc = predictor_classify_images(s, &img, 1, out, err);
    image_free(&img);
    if (rc != 0)
        return -1;
    out->format = image_sniff(bytes, len);
    out->width = w;
    out->height = h;
    out->elapsed_ms = (cd_monotonic_s() - t0) * 1e3;
    return 0;
}
