/*
 * handlers_tf.c - TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest),
 * so a client written against TF Serving can use catdog unchanged:
 *
 *   GET  /v1/models/{name}            the model's status (one version, "1", AVAILABLE)
 *   GET  /v1/models/{name}/metadata   its signature: image_bytes (DT_STRING) -> p_dog (DT_FLOAT [-1,1])
 *   POST /v1/models/{name}:predict    {"instances": [{"b64": ...}, ...]}  -> {"predictions": [[p_dog], ...]}
 *                                     {"inputs": [{"b64": ...}, ...]}     -> {"outputs": [[p_dog], ...]}
 *
 * As in TF Serving, the row format ("instances") is answered with "predictions"
 * and the columnar one ("inputs") with "outputs"; an instance may also name its
 * input ({"image_bytes": {"b64": ...}}).  Errors are TF Serving's {"error": "..."}.
 * Each photo goes through the same path as POST /api/v1/predict (upload.h), so
 * p_dog is the same number, stored and recorded the same way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/server.h"
#include "web/upload.h"

static enum MHD_Result tf_error(http_req *r, int status, const char *message)
{
    json_t *j = json_pack("{s:s}", "error", message);
    snprintf(r->note, sizeof r->note, "%s", message);
    return http_respond_json(r, status, j);
}

/* The registry index of the model named by the first `len` bytes of name, or -1. */
static int find_model(const registry *reg, const char *name, size_t len)
{
    for (int i = 0; i < reg->n; i++)
        if (strlen(reg->models[i].name) == len && strncmp(reg->models[i].name, name, len) == 0)
            return i;
    return -1;
}

static enum MHD_Result not_found(http_req *r, const char *name, size_t len)
{
    char msg[160];
    snprintf(msg, sizeof msg, "Servable not found for request: Latest(%.*s)", (int)(len > 64 ? 64 : len), name);
    return tf_error(r, 404, msg);
}

enum MHD_Result handle_tf_model(http_req *r)
{
    const char *name = r->tail, *slash = strchr(name, '/');
    size_t len = slash ? (size_t)(slash - name) : strlen(name);
    int metadata = slash && strcmp(slash, "/metadata") == 0;
    if (slash && !metadata)
        return tf_error(r, 404, "no such resource: use /v1/models/{name} or /v1/models/{name}/metadata");
    if (memchr(name, ':', len)) {
        r->allow = "POST";
        return tf_error(r, 405, "a :predict call is a POST");
    }
    int m = find_model(r->gen->reg, name, len);
    if (m < 0)
        return not_found(r, name, len);
    const registry_model *rm = &r->gen->reg->models[m];
    json_t *j;
    if (!metadata) {
        j = json_pack("{s:[{s:s,s:s,s:{s:s,s:s}}]}", "model_version_status", "version", "1", "state", "AVAILABLE",
                      "status", "error_code", "OK", "error_message", "");
    } else {
        json_t *in = json_pack("{s:s,s:{s:[{s:s,s:s}],s:b},s:s}", "dtype", "DT_STRING", "tensor_shape", "dim", "size",
                               "-1", "name", "", "unknown_rank", 0, "name", "image_bytes");
        json_t *out = json_pack("{s:s,s:{s:[{s:s,s:s},{s:s,s:s}],s:b},s:s}", "dtype", "DT_FLOAT", "tensor_shape",
                                "dim", "size", "-1", "name", "", "size", "1", "name", "", "unknown_rank", 0, "name",
                                "p_dog");
        j = in && out ? json_pack("{s:{s:s,s:s,s:s},s:{s:{s:{s:{s:{s:o},s:{s:o},s:s}}}}}", "model_spec", "name",
                                  rm->name, "signature_name", "", "version", "1", "metadata", "signature_def",
                                  "signature_def", "serving_default", "inputs", "image_bytes", in, "outputs",
                                  "p_dog", out, "method_name", "tensorflow/serving/predict")
                      : NULL;
        if (!j) {
            json_decref(in);
            json_decref(out);
        }
    }
    if (!j)
        return tf_error(r, 500, "out of memory");
    return http_respond_json(r, 200, j);
}

/* Value of one base64 character (standard or URL-safe alphabet), -1 if none. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes base64 (padding optional) into a new buffer; NULL on a bad
 * character or length (*oom = 1 when memory ran out instead). */
static unsigned char *b64_decode(const char *in, size_t n, size_t *out_len, int *oom)
{
    *oom = 0;
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return out;
}

/* The base64 string of one instance: {"b64": "..."} or {"<input>": {"b64": "..."}}. */
static const char *instance_b64(json_t *inst, size_t *len)
{
    json_t *b = json_is_object(inst) ? json_object_get(inst, "b64") : NULL;
    if (!b && json_is_object(inst) && json_object_size(inst) == 1) {
        json_t *inner = json_object_iter_value(json_object_iter(inst));
        b = json_is_object(inner) ? json_object_get(inner, "b64") : NULL;
    }
    if (!json_is_string(b))
        return NULL;
    *len = json_string_length(b);
    return json_string_value(b);
}

enum MHD_Result handle_tf_predict(http_req *r)
{
    http_server *s = r->srv;
    const char *colon = strrchr(r->tail, ':');
    if (!colon || strcmp(colon, ":predict") != 0 || strchr(r->tail, '/'))
        return tf_error(r, 404, "no such method: use POST /v1/models/{name}:predict");
    size_t name_len = (size_t)(colon - r->tail);
    int m = find_model(r->gen->reg, r->tail, name_len);
    if (m < 0)
        return not_found(r, r->tail, name_len);

    json_error_t jerr;
    json_t *req = json_loadb(r->body ? (const char *)r->body : "", r->body_len, 0, &jerr);
    if (!json_is_object(req)) {
        json_decref(req);
        return tf_error(r, 400, "JSON Parse error: the body is not a JSON object");
    }
    json_t *rows = json_object_get(req, "instances");
    int columnar = 0;
    if (!rows) {
        rows = json_object_get(req, "inputs");
        columnar = 1;
        /* Columnar with a named input: {"inputs": {"image_bytes": [...]}} */
        if (json_is_object(rows) && !json_object_get(rows, "b64") && json_object_size(rows) == 1)
            rows = json_object_iter_value(json_object_iter(rows));
    }
    enum MHD_Result out;
    if (!rows) {
        out = tf_error(r, 400, "Missing 'inputs' or 'instances' key");
        json_decref(req);
        return out;
    }
    /* A single instance without the list is one photo. */
    size_t n = json_is_array(rows) ? json_array_size(rows) : 1;
    if (n == 0 || n > (size_t)s->cfg.max_batch_photos) {
        char msg[160];
        snprintf(msg, sizeof msg, "%zu instances were sent; send 1 to %d (--max-batch-photos)", n,
                 s->cfg.max_batch_photos);
        json_decref(req);
        return tf_error(r, 400, msg);
    }
    json_t *preds = json_array();
    int status = 200;
    char msg[CD_ERR_MSG_MAX + 64] = "";
    char retry_after[sizeof ((upload_failure *)0)->retry_after] = "1"; /* r->retry_after points here */
    for (size_t i = 0; preds && i < n && status == 200; i++) {
        json_t *inst = json_is_array(rows) ? json_array_get(rows, i) : rows;
        size_t b64_len = 0;
        const char *b64 = instance_b64(inst, &b64_len);
        if (!b64) {
            status = 400;
            snprintf(msg, sizeof msg, "instance %zu is not {\"b64\": \"...\"}: the model's input is image bytes", i);
            break;
        }
        int oom = 0;
        upload_photo photo;
        memset(&photo, 0, sizeof photo);
        unsigned char *bytes = b64_decode(b64, b64_len, &photo.len, &oom);
        if (!bytes) {
            status = oom ? 500 : 400;
            snprintf(msg, sizeof msg, oom ? "out of memory" : "instance %zu: the b64 value is not valid base64", i);
            break;
        }
        photo.bytes = bytes;
        snprintf(photo.name, sizeof photo.name, "instance-%zu", i);
        upload_result res;
        upload_failure f;
        if (photo.len > s->cfg.max_upload) {
            status = 413;
            snprintf(msg, sizeof msg, "instance %zu: the photo is %zu bytes, over the %zu-byte limit", i, photo.len,
                     s->cfg.max_upload);
        } else if (upload_process(r, &photo, &m, 1, NULL, &res, &f) != 0) {
            metrics_reject(s->metrics, f.code);
            status = f.status;
            if (status == 503) {
                if (f.retry_after[0])
                    snprintf(retry_after, sizeof retry_after, "%s", f.retry_after);
                r->retry_after = retry_after;
            }
            snprintf(msg, sizeof msg, "instance %zu: %s (%s)", i, f.message, f.code);
        } else {
            double p = res.v[0].pred.p_dog;
            /* Rounded like /api/v1/predict's p_dog, so both give the same number. */
            json_t *row = json_pack("[f]", round(p * 1e6) / 1e6);
            if (!row || json_array_append_new(preds, row) != 0) {
                json_decref(preds);
                preds = NULL;
            }
        }
        free(bytes);
    }
    json_decref(req);
    if (!preds)
        return tf_error(r, 500, "out of memory");
    if (status != 200) {
        json_decref(preds);
        return tf_error(r, status, msg);
    }
    json_t *j = json_pack("{s:o}", columnar ? "outputs" : "predictions", preds);
    if (!j)
        return tf_error(r, 500, "out of memory");
    snprintf(r->note, sizeof r->note, "%s: %zu instance%s", r->gen->reg->models[m].name, n, n == 1 ? "" : "s");
    return http_respond_json(r, 200, j);
}
