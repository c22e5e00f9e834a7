/*
 * handlers_api.c - the JSON API: POST /api/v1/predict, GET /api/v1/models,
 * GET /healthz and GET /metrics (Prometheus text).  Errors are
 * {"error":{"code","message"}} with the matching status.
 */
#include <stdio.h>
#include <string.h>

#include "image/image.h"
#include "web/server.h"
#include "web/upload.h"

/* A probability rounded to 6 decimals, so the JSON stays readable. */
static json_t *prob(double p)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.6f", p);
    double v = 0;
    sscanf(buf, "%lf", &v);
    return json_real(v);
}

enum MHD_Result handle_api_predict(http_req *r)
{
    http_server *s = r->srv;
    upload_photo photo;
    upload_failure f;
    int models[REGISTRY_MAX], n = 0;
    upload_result res;
    if (upload_extract(r, 1, &photo, &f) != 0 || upload_pick_models(s->reg, photo.model, 0, models, &n, &f) != 0 ||
        upload_process(s, &photo, models, n, NULL, &res, &f) != 0) {
        metrics_reject(s->metrics, f.code);
        if (f.status == 503)
            r->retry_after = "1";
        return http_api_error(r, f.status, f.code, f.message);
    }
    const upload_verdict *v = &res.v[0];
    double p_dog = v->pred.p_dog;
    const char *label = predictor_label_name(v->pred.label);
    json_t *j = json_object();
    int ok = j && json_object_set_new(j, "label", json_string(label)) == 0 &&
             json_object_set_new(j, "probability", prob(v->pred.label ? p_dog : 1.0 - p_dog)) == 0 &&
             json_object_set_new(j, "probabilities", json_pack("{s:o,s:o}", "cat", prob(1.0 - p_dog), "dog",
                                                               prob(p_dog))) == 0 &&
             json_object_set_new(j, "model", json_string(s->reg->models[v->model].name)) == 0 &&
             json_object_set_new(j, "sha256", json_string(res.sha256)) == 0 &&
             json_object_set_new(j, "elapsed_ms", json_real(v->pred.elapsed_ms)) == 0 &&
             json_object_set_new(j, "width", json_integer(v->pred.width)) == 0 &&
             json_object_set_new(j, "height", json_integer(v->pred.height)) == 0 &&
             json_object_set_new(j, "format", json_string(image_format_name(v->pred.format))) == 0 &&
             json_object_set_new(j, "id", v->history_id > 0 ? json_integer(v->history_id) : json_null()) == 0;
    if (!ok) {
        json_decref(j);
        return http_api_error(r, 500, "internal", "out of memory");
    }
    snprintf(r->note, sizeof r->note, "%s %s p_dog=%.4f%s", res.file, label, p_dog,
             res.db_failed ? " (not recorded: database error)" : "");
    return http_respond_json(r, 200, j);
}

enum MHD_Result handle_api_models(http_req *r)
{
    const registry *reg = r->srv->reg;
    json_t *list = json_array();
    for (int i = 0; list && i < reg->n; i++) {
        const registry_model *m = &reg->models[i];
        json_t *o = json_pack("{s:s,s:s,s:[i,i],s:s,s:I,s:o,s:s,s:b}", "name", m->name, "architecture", m->arch,
                              "input_size", m->input_h, m->input_w, "preprocessing", m->preprocess, "parameters",
                              (json_int_t)m->params, "test_accuracy",
                              m->test_accuracy >= 0 ? json_real(m->test_accuracy) : json_null(), "source", m->source,
                              "default", i == reg->best);
        if (!o || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *off = json_array();
    if (off && reg->transfer_off[0])
        json_array_append_new(off, json_pack("{s:s,s:s}", "name", "transfer", "reason", reg->transfer_off));
    json_t *j = list && off ? json_pack("{s:o,s:o}", "models", list, "unavailable", off) : NULL;
    if (!j) {
        json_decref(list);
        json_decref(off);
        return http_api_error(r, 500, "internal", "out of memory");
    }
    return http_respond_json(r, 200, j);
}

enum MHD_Result handle_healthz(http_req *r)
{
    http_server *s = r->srv;
    int stopping = atomic_load(&s->stopping);
    json_t *j = json_pack("{s:s,s:i,s:i,s:i}", "status", stopping ? "stopping" : "ok", "models", s->reg->n,
                          "queue_depth", pool_depth(s->pool), "workers", pool_workers(s->pool));
    return http_respond_json(r, stopping ? 503 : 200, j);
}

enum MHD_Result handle_metrics(http_req *r)
{
    http_server *s = r->srv;
    metrics_gauges g = {pool_depth(s->pool), pool_capacity(s->pool), atomic_load(&s->in_flight), s->reg->n};
    strbuf b;
    strbuf_init(&b);
    metrics_render(s->metrics, &g, &b);
    return http_respond_strbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
