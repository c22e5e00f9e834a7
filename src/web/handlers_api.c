/*
 * handlers_api.c - the JSON API: POST /api/v1/predict (one photo, or several in
 * one form), GET /api/v1/models,
 * GET /api/v1/history, GET /healthz, GET /livez and GET /metrics (Prometheus text).  Errors are
 * {"error":{"code","message"}} with the matching status.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "web/server.h"
#include "web/upload.h"

/* A number rounded to `decimals` places: with the 15 significant digits the
 * encoder writes (response.c), 0.548127 stays 0.548127, not 0.54812700000000003. */
static json_t *rounded(double v, int decimals)
{
    double scale = pow(10.0, decimals);
    return json_real(round(v * scale) / scale);
}

static json_t *prob(double p)
{
    return rounded(p, 6);
}

/* One photo's verdict as the API shows it (docs/API.md): label, p_dog = P(dog),
 * confidence = the probability of the label; NULL when out of memory. */
static json_t *verdict_json(const registry *reg, const upload_photo *photo, const upload_result *res)
{
    const upload_verdict *v = &res->v[0];
    double p_dog = v->pred.p_dog;
    json_t *j = json_object();
    int ok = j && json_object_set_new(j, "label", json_string(predictor_label_name(v->pred.label))) == 0 &&
             json_object_set_new(j, "p_dog", prob(p_dog)) == 0 &&
             json_object_set_new(j, "confidence", prob(v->pred.label ? p_dog : 1.0 - p_dog)) == 0 &&
             json_object_set_new(j, "probabilities", json_pack("{s:o,s:o}", "cat", prob(1.0 - p_dog), "dog",
                                                               prob(p_dog))) == 0 &&
             json_object_set_new(j, "model", json_string(reg->models[v->model].name)) == 0 &&
             json_object_set_new(j, "name", json_string(photo->name)) == 0 &&
             json_object_set_new(j, "sha256", json_string(res->sha256)) == 0 &&
             json_object_set_new(j, "elapsed_ms", rounded(v->pred.elapsed_ms, 3)) == 0 &&
             json_object_set_new(j, "width", json_integer(v->pred.width)) == 0 &&
             json_object_set_new(j, "height", json_integer(v->pred.height)) == 0 &&
             json_object_set_new(j, "format", json_string(image_format_name(v->pred.format))) == 0 &&
             json_object_set_new(j, "id", v->history_id > 0 ? json_integer(v->history_id) : json_null()) == 0 &&
             json_object_set_new(j, "result_id", res->result_id[0] ? json_string(res->result_id) : json_null()) == 0;
    if (!ok) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *error_json(const upload_failure *f)
{
    return json_pack("{s:i,s:{s:s,s:s}}", "status", f->status, "error", "code", f->code, "message", f->message);
}

/* Several photos in one form: each is judged on its own, and the answer lists
 * them in the order sent, a verdict or that photo's error each. */
static enum MHD_Result predict_batch(http_req *r, const upload_photo *photos, int n, const int *models)
{
    http_server *s = r->srv;
    json_t *list = json_array();
    int n_ok = 0;
    for (int i = 0; list && i < n; i++) {
        upload_result res;
        upload_failure f;
        json_t *item;
        if (upload_process(r, &photos[i], models, 1, NULL, &res, &f) != 0) {
            metrics_reject(s->metrics, f.code);
            item = error_json(&f);
            if (item && json_object_set_new(item, "name", json_string(photos[i].name)) != 0) {
                json_decref(item);
                item = NULL;
            }
        } else {
            n_ok++;
            item = verdict_json(r->gen->reg, &photos[i], &res);
        }
        if (!item || json_array_append_new(list, item) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *j = list ? json_pack("{s:o}", "results", list) : NULL;
    if (!j)
        return http_api_error(r, 500, "internal", "out of memory");
    snprintf(r->note, sizeof r->note, "batch of %d photos, %d classified", n, n_ok);
    return http_respond_json(r, 200, j);
}

enum MHD_Result handle_api_predict(http_req *r)
{
    http_server *s = r->srv;
    int max = s->cfg.max_batch_photos;
    upload_photo *photos = calloc((size_t)max, sizeof *photos);
    if (!photos)
        return http_api_error(r, 500, "internal", "out of memory");
    upload_failure f;
    int models[REGISTRY_MAX], n_models = 0, n = 0;
    upload_result res;
    enum MHD_Result out;
    if (upload_extract_many(r, 1, max, photos, &n, &f) != 0 ||
        upload_pick_models(r->gen->reg, photos[0].model, 0, models, &n_models, &f) != 0 ||
        (n == 1 && upload_process(r, &photos[0], models, n_models, NULL, &res, &f) != 0)) {
        metrics_reject(s->metrics, f.code);
        if (f.status == 503)
            r->retry_after = f.retry_after[0] ? f.retry_after : "1";
        out = http_api_error(r, f.status, f.code, f.message);
    } else if (n > 1) {
        out = predict_batch(r, photos, n, models);
    } else {
        json_t *j = verdict_json(r->gen->reg, &photos[0], &res);
        snprintf(r->note, sizeof r->note, "%s %s p_dog=%.4f%s", res.file, predictor_label_name(res.v[0].pred.label),
                 res.v[0].pred.p_dog, res.db_failed ? " (not recorded: database error)" : "");
        out = j ? http_respond_json(r, 200, j) : http_api_error(r, 500, "internal", "out of memory");
    }
    free(photos);
    return out;
}

enum MHD_Result handle_api_models(http_req *r)
{
    const registry *reg = r->gen->reg;
    json_t *list = json_array();
    for (int i = 0; list && i < reg->n; i++) {
        const registry_model *m = &reg->models[i];
        json_t *o = json_pack("{s:s,s:s,s:[i,i],s:s,s:I,s:o,s:s,s:b,s:b}", "name", m->name, "architecture", m->arch,
                              "input_size", m->input_h, m->input_w, "preprocessing", m->preprocess, "parameters",
                              (json_int_t)m->params, "test_accuracy",
                              m->test_accuracy >= 0 ? json_real(m->test_accuracy) : json_null(), "source", m->source,
                              "default", i == reg->best, "tta", predictor_tta(m->pred));
        if (!o || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *off = json_array();
    for (int i = 0; off && i < reg->n_off; i++)
        json_array_append_new(off, json_pack("{s:s,s:s}", "name", reg->off[i].name, "reason", reg->off[i].reason));
    json_t *j = list && off ? json_pack("{s:o,s:o}", "models", list, "unavailable", off) : NULL;
    if (!j) {
        json_decref(list);
        json_decref(off);
        return http_api_error(r, 500, "internal", "out of memory");
    }
    return http_respond_json(r, 200, j);
}

/* ?name=N within [lo, hi], else dflt. */
static long long query_int(http_req *r, const char *name, long long lo, long long hi, long long dflt)
{
    const char *q = http_query(r, name);
    if (!q || !*q)
        return dflt;
    char *end;
    long long v = strtoll(q, &end, 10);
    if (*end || v < lo)
        return dflt;
    return v > hi ? hi : v;
}

enum MHD_Result handle_api_history(http_req *r)
{
    http_server *s = r->srv;
    if (!s->hist)
        return http_api_error(r, 503, "db_unavailable", s->hist_off);
    int limit = (int)query_int(r, "limit", 1, 100, 20);
    long long offset = query_int(r, "offset", 0, (1LL << 62), 0);
    history_rec *rows = calloc((size_t)limit, sizeof *rows);
    if (!rows)
        return http_api_error(r, 500, "internal", "out of memory");
    long long total = 0;
    int n = 0;
    cd_err err;
    if (history_count(s->hist, &total, &err) != 0 || history_list(s->hist, offset, limit, rows, &n, &err) != 0) {
        free(rows);
        metrics_event(s->metrics, "db_error");
        http_log(s, "error: history: %s", err.msg);
        return http_api_error(r, 500, "db_error", "the history database is not available");
    }
    json_t *items = json_array();
    for (int i = 0; items && i < n; i++) {
        const history_rec *h = &rows[i];
        json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:s,s:I,s:i,s:i,s:s,s:o,s:o,s:s,s:o,s:o}", "id", (json_int_t)h->id,
                              "time", rounded(h->time, 3), "sha256", h->sha256, "file", h->file, "name", h->name, "size",
                              (json_int_t)h->size, "width", h->width, "height", h->height, "model", h->model, "p_dog",
                              prob(h->p_dog), "confidence", prob(h->label ? h->p_dog : 1.0 - h->p_dog), "label", predictor_label_name(h->label), "latency_ms",
                              rounded(h->latency_ms, 3),
                              "feedback",
                              h->feedback == HISTORY_NO_FEEDBACK ? json_null()
                                                                 : json_string(predictor_label_name(h->feedback)));
        if (!o || json_array_append_new(items, o) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    free(rows);
    json_t *j = items ? json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total, "offset", (json_int_t)offset, "items",
                                  items)
                      : NULL;
    if (!j)
        return http_api_error(r, 500, "internal", "out of memory");
    return http_respond_json(r, 200, j);
}

/* docs/openapi.json, linked into the program by CMakeLists.txt (.incbin). */
extern const char catdog_openapi_start[], catdog_openapi_end[];

enum MHD_Result handle_api_openapi(http_req *r)
{
    r->cache_control = "no-cache";
    return http_respond(r, 200, "application/json", catdog_openapi_start,
                        (size_t)(catdog_openapi_end - catdog_openapi_start));
}

/* Readiness, for a load balancer or an orchestrator: 200 "ok" only when this
 * replica should get traffic.  Not ready (503): "stopping" (SIGTERM, the
 * listening socket is about to close), "draining" (SIGTERM with --drain: still
 * serving, but asking to be taken out), "no_database" (the history is off, so
 * this replica's verdicts would go unrecorded while another's would not).
 * A PostgreSQL history that is reconnecting stays ready ("history":
 * "reconnecting"): its rows are spooled durably and written once the server is
 * back, and the database is shared, so failing readiness would take every
 * replica out of the balancer at once for an outage that loses nothing.
 * Liveness is /livez: a replica that is merely not ready must not be killed. */
enum MHD_Result handle_healthz(http_req *r)
{
    http_server *s = r->srv;
    history_state hs = history_get_state(s->hist);
    const char *status = atomic_load(&s->stopping)   ? "stopping"
                         : atomic_load(&s->draining) ? "draining"
                         : hs == HISTORY_OFF         ? "no_database"
                                                     : "ok";
    int ready = strcmp(status, "ok") == 0;
    json_t *j = json_pack("{s:s,s:b,s:i,s:s,s:i,s:i}", "status", status, "ready", ready, "models", r->gen->reg->n,
                          "history", hs == HISTORY_OK ? "ok" : hs == HISTORY_RECONNECTING ? "reconnecting" : "off",
                          "queue_depth", pool_depth(r->gen->pool), "workers",
                          pool_workers(r->gen->pool));
    return http_respond_json(r, ready ? 200 : 503, j);
}

/* Liveness: the process answers.  Never depends on the database or on draining. */
enum MHD_Result handle_livez(http_req *r)
{
    return http_respond_json(r, 200, json_pack("{s:s}", "status", "alive"));
}

enum MHD_Result handle_metrics(http_req *r)
{
    http_server *s = r->srv;
    metrics_gauges g = {.queue_depth = pool_depth(r->gen->pool),
                        .expected_wait_s = pool_expected_wait(r->gen->pool, r->gen->reg->best),
                        .max_wait_s = pool_max_wait(r->gen->pool),
                        .max_batch = pool_max_batch(r->gen->pool),
                        .queue_capacity = pool_capacity(r->gen->pool),
                        .workers_busy = pool_running(r->gen->pool),
                        .workers = pool_workers(r->gen->pool),
                        .in_flight = atomic_load(&s->in_flight),
                        .models_loaded = r->gen->reg->n,
                        .history_up = history_get_state(s->hist) == HISTORY_OK};
    history_commit_stats hs = history_get_commit_stats(s->hist);
    g.history_commits = hs.commits;
    g.history_rows = hs.rows;
    strbuf b;
    strbuf_init(&b);
    metrics_render(s->metrics, &g, &b);
    return http_respond_strbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
