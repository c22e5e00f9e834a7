/*
 * metrics.h - the service's counters, rendered for GET /metrics in the
 * Prometheus text exposition format (version 0.0.4).
 *
 *   catdog_http_requests_total{route,status}          counter
 *   catdog_http_request_duration_seconds{route}       histogram
 *   catdog_http_received_bytes_total / _sent_bytes_total
 *   catdog_predictions_total{model,label}             counter
 *   catdog_prediction_duration_seconds{model}         histogram (decode + resize + forward)
 *   catdog_batch_size{model}                          histogram (photos per forward pass)
 *   catdog_queue_wait_seconds{model}                  histogram (queued -> taken by a worker)
 *   catdog_uploads_rejected_total{reason}             counter (the API error codes)
 *   catdog_events_total{event}                        counter (db_error, store_error, stored, deduplicated, ...)
 *   catdog_queue_depth, catdog_expected_wait_seconds, catdog_max_wait_seconds,
 *   catdog_max_batch, catdog_queue_capacity, catdog_workers_busy, catdog_workers,
 *   catdog_requests_in_flight, catdog_models_loaded,
 *   catdog_history_up                                   gauges (given at render time)
 *   catdog_history_commits_total,
 *   catdog_history_rows_committed_total                 counters (given at render time: group commit)
 *
 * Routes are the fixed table the server passes in (indices), so label values
 * are never taken from client input.  Model, reason and event names are small
 * fixed vocabularies chosen by the server.  Thread-safe (one mutex).
 */
#ifndef CATDOG_WEB_METRICS_H
#define CATDOG_WEB_METRICS_H

#include <stddef.h>

#include "core/error.h"
#include "web/strbuf.h"

typedef struct metrics metrics;

/* route_names: n_routes borrowed strings that must outlive the metrics. */
metrics *metrics_new(const char *const *route_names, int n_routes, cd_err *err);
void metrics_free(metrics *m);

void metrics_request(metrics *m, int route, int status, double seconds, size_t bytes_in, size_t bytes_out);
void metrics_prediction(metrics *m, const char *model, int label, double seconds);
void metrics_reject(metrics *m, const char *reason);
/* One batch of `size` photos run by a worker, and one photo's wait for it. */
void metrics_batch(metrics *m, const char *model, int size);
void metrics_queue_wait(metrics *m, const char *model, double seconds);
void metrics_event(metrics *m, const char *event);

/* A counter's current value (tests and the health page); 0 when never counted. */
unsigned long long metrics_event_count(metrics *m, const char *event);

typedef struct metrics_gauges {
    int queue_depth;
    double expected_wait_s;    /* for a photo for the default model, now */
    double max_wait_s;
    int max_batch;
    int queue_capacity;
    int workers_busy;
    int workers;
    int in_flight;
    int models_loaded;
    int history_up;            /* 1 = predictions are recorded, 0 = the database is not open or unreachable */
    unsigned long long history_commits; /* history_get_commit_stats: transactions that committed rows */
    unsigned long long history_rows;    /* ... and the rows they held */
} metrics_gauges;

void metrics_render(metrics *m, const metrics_gauges *g, strbuf *out);

#endif
