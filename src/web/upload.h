/*
 * upload.h - what happens to a photo between the request and the answer,
 * shared by the page (POST /template/upload, GET /upload/<file>) and the API
 * (POST /api/v1/predict):
 *
 *   extract   the photos of the request: the multipart field `inputfile`
 *             (exactly one file for the page; up to --max-batch-photos, in
 *             order, for the API), or a raw body with Content-Type image/(any) or
 *             application/octet-stream (API only); plus the `model` choice.
 *   classify  checks it by content (JPEG/PNG/WebP magic), runs each chosen
 *             model through the worker pool (corrupt/truncated -> 422, too many
 *             pixels -> 413, queue full -> 503),
 *   store     keeps it as <sha256>.<ext> (disk full or folder not writable -> 507,
 *             nothing partial),
 *   record    adds one history row per model, all under one new random result
 *             id (result_id.h), the visitor's address for /result/<id>.  A
 *             database failure does not cost the user the verdict: it is
 *             logged and counted, and the answer goes out.
 * With --no-store the store step is skipped: no photo (and so no thumbnail) is
 * written, but the rows are still recorded, naming no file (file = "").
 *
 * Refusals come back as an upload_failure: the HTTP status, the API error code
 * (also the key of the page's translated reason) and a message.
 */
#ifndef CATDOG_WEB_UPLOAD_H
#define CATDOG_WEB_UPLOAD_H

#include <stddef.h>

#include "core/error.h"
#include "predict/predictor.h"
#include "web/registry.h"
#include "web/result_id.h"
#include "web/server.h"

typedef struct upload_failure {
    int status;            /* 400, 413, 415, 422, 500, 503, 507 */
    const char *code;      /* "no_file", "empty_file", "not_an_image", ... (static) */
    char message[CD_ERR_MSG_MAX];
    char retry_after[12];  /* 503: the Retry-After seconds (the inference pool's estimate) */
} upload_failure;

typedef struct upload_photo {
    const unsigned char *bytes;   /* borrowed: the request body or a file buffer */
    size_t len;
    char name[256];               /* the client's name, sanitised (upload_sanitize_name) */
    char model[32];               /* the `model` form field or ?model=, "" = default */
} upload_photo;

typedef struct upload_verdict {
    int model;                    /* index in the registry */
    prediction pred;
    long long history_id;         /* -1 when the database did not take the row */
} upload_verdict;

typedef struct upload_result {
    char result_id[RESULT_ID_SIZE];  /* "" when nothing was recorded (database error) */
    int kept;                        /* 1 = photo stored (0 with --no-store) */
    char sha256[65];
    char file[STORE_NAME_MAX + 1];   /* stored file name; "" with --no-store */
    int existed;                     /* 1 = the same photo was stored before */
    int n;
    upload_verdict v[REGISTRY_MAX];
    int db_failed;                   /* 1 = verdicts given but not recorded */
} upload_result;

/* Finds the one photo in r's body.  allow_raw: accept a raw image body (API).
 * Returns 0 or -1 with f filled. */
int upload_extract(http_req *r, int allow_raw, upload_photo *photo, upload_failure *f);

/* Finds up to max_photos photos (photos[] holds max_photos) in r's body: every
 * file of the multipart field inputfile in order, or one raw body.  More than
 * max_photos is 400 too_many_files.  All share the request's model choice.
 * Returns 0 with *n_photos >= 1, or -1 with f filled. */
int upload_extract_many(http_req *r, int allow_raw, int max_photos, upload_photo *photos, int *n_photos,
                        upload_failure *f);

/* Turns a model choice ("", "binary", "transfer", "both") into registry
 * indices.  allow_both: the page may ask for both.  Returns 0 or -1 (400
 * unknown_model, 404 model_not_loaded). */
int upload_pick_models(const registry *reg, const char *choice, int allow_both, int *idx, int *n,
                       upload_failure *f);

/* Classifies with r's models (r->gen), stores (unless already_stored names
 * the file) and records.
 * Returns 0 or -1 with f filled. */
int upload_process(http_req *r, const upload_photo *photo, const int *models, int n_models,
                   const char *already_stored, upload_result *res, upload_failure *f);

/* The client's file name made safe to keep and show: the last path component,
 * no control characters, valid UTF-8 (bad bytes become '?'), at most out_size-1
 * bytes cut at a character boundary; "upload" when nothing is left. */
void upload_sanitize_name(const char *in, char *out, size_t out_size);

#endif
