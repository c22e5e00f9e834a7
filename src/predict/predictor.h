/*
 * predictor.h - the one-way pipeline every front end uses:
 *     bytes -> image -> resized tensor (model's preprocessing) -> model -> P(dog)
 *
 * A predictor is a loaded model plus what is needed to feed it: its input size
 * and preprocessing.  It is read-only after loading and shared by all threads.
 * A predictor_session is one thread's scratch (a runner and its buffers);
 * make one per worker thread.  The command line (predict, evaluate) and the web
 * service both go through here, so a photo gets the same verdict everywhere.
 *
 * Classes follow Keras' flow_from_directory order: cats = 0, dogs = 1 (unless
 * classes_swapped); the output row becomes P(dog) by the model's output rule
 * (core/output.h: a probability as is, logits through sigmoid/softmax, a hinge
 * score by its sign).  A 1-channel model gets the photo's luminance.
 */
#ifndef CATDOG_PREDICT_PREDICTOR_H
#define CATDOG_PREDICT_PREDICTOR_H

#include <stddef.h>

#include "core/error.h"
#include "core/preprocess.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "image/image.h"

typedef struct predictor_opts {
    int threads;                /* per session; 0 = all cores */
    runner_backend backend;     /* RUNNER_DNNL by default */
    runner_precision precision; /* RUNNER_PREC_AUTO by default: int8 for a quantized model */
    int override_preprocess;    /* 1 = use `preprocess` instead of the model's record */
    cd_preprocess preprocess;
    image_filter filter;        /* resize filter; bilinear by default */
    long max_pixels;            /* 0 = IMAGE_DEFAULT_MAX_PIXELS */
    int tta_flip;               /* 1 = average with the horizontally flipped image */
    int classes_swapped;        /* 1 = the model's class 0 is dog (--classes dog,cat) */
    int img_size;               /* H = W for an ONNX graph whose H/W are dynamic (--img-size);
                                 * 0 = such a graph is refused.  Other models ignore it. */
    int keep_activations;       /* 1 = sessions' runners keep every layer's output
                                 * (runner_opts.keep_activations; quantize calibration) */
} predictor_opts;

typedef struct predictor predictor;
typedef struct predictor_session predictor_session;

typedef struct prediction {
    float p_dog;          /* the model's sigmoid output */
    int label;            /* 0 = cat, 1 = dog (p_dog >= 0.5) */
    image_format format;  /* what the bytes were */
    int width, height;    /* the photo's size (after EXIF orientation) */
    double elapsed_ms;    /* decode + resize + forward */
} prediction;

/* Takes ownership of m (freed by predictor_free).  opts may be NULL. */
predictor *predictor_new(model *m, const predictor_opts *opts, cd_err *err);

/* predictor_new for a model just loaded from `source` (a path or a name for
 * messages), taken over in every case: NULL m (the loader failed, err already
 * set) gives NULL; when predictor_new fails, m is freed and err is prefixed
 * with source.  Lets a caller write predictor_adopt(load(...), ...). */
predictor *predictor_adopt(model *m, const predictor_opts *opts, const char *source, cd_err *err);

/* Loads a Keras .h5 file (see modelfile/keras.h; a shipped transfer model is
 * composed with its backbone weights, see transfer/transfer_model.h) and wraps it. */
predictor *predictor_load(const char *path, const predictor_opts *opts, cd_err *err);

void predictor_free(predictor *p);

/* Borrowed view of the model, for summaries and /api/v1/models. */
const model *predictor_model(const predictor *p);

/* The model for editing (catdog quantize), only while no session of p exists. */
model *predictor_model_edit(predictor *p);

/* The preprocessing actually applied (the model's, or the override). */
cd_preprocess predictor_preprocess(const predictor *p);

/* 1 when P(dog) averages the photo and its horizontal mirror (opts.tta_flip). */
int predictor_tta(const predictor *p);

/* "cat" / "dog". */
const char *predictor_label_name(int label);

/* A session able to run up to max_batch images at once. */
predictor_session *predictor_session_new(predictor *p, int max_batch, cd_err *err);
void predictor_session_free(predictor_session *s);

/* Classifies one encoded photo (JPEG/PNG/WebP bytes). */
int predictor_classify(predictor_session *s, const unsigned char *bytes, size_t len,
                       prediction *out, cd_err *err);

/* Classifies n (1..max_batch) encoded photos with one forward pass (a server
 * batching what arrives together).  Each photo is decoded and resized alone,
 * so its P(dog) does not depend on its batch-mates beyond the last bits of the
 * forward pass.  A photo that cannot be decoded gets rc[i] = -1 and errs[i]
 * (the others still run); out[i].elapsed_ms is its own decode plus its share
 * (1/batch) of the batch's resize + forward.  Returns 0 when every photo was
 * classified, -1 otherwise (the forward pass itself failing sets every rc[i]). */
int predictor_classify_batch(predictor_session *s, const unsigned char *const *bytes, const size_t *lens, int n,
                             prediction *out, int *rc, cd_err *errs);

/* The session's runner (borrowed): runner_activation after a classify. */
const runner *predictor_session_runner(const predictor_session *s);

/* A session's largest batch. */
int predictor_session_max_batch(const predictor_session *s);

/* Classifies up to max_batch already decoded images in one forward pass. */
int predictor_classify_images(predictor_session *s, const image *imgs, int n,
                              prediction *out, cd_err *err);

#endif
