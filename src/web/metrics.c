/*
 * metrics.c - counters and histograms for /metrics (see metrics.h).
 *
 * Small named tables (models, reasons, events) are fixed-size arrays searched
 * linearly: the vocabularies are a handful of server-chosen words.
 */
#include "web/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATUS 600
#define N_BUCKETS 14
#define MAX_NAMED 32
#define NAME_LEN 32

static const double BUCKETS[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10,   30};
/* Batch sizes run are powers of two (pool.h). */
#define N_BATCH_BUCKETS 7
static const double BATCH_BUCKETS[N_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64};

typedef struct histogram {
    unsigned long long counts[N_BUCKETS + 1]; /* last: +Inf */
    double sum;
    unsigned long long n;
} histogram;

typedef struct named_counter {
    char name[NAME_LEN];
    unsigned long long n;
} named_counter;

typedef struct model_stats {
    char name[NAME_LEN];
    unsigned long long by_label[2];
    histogram latency;
    histogram batch_size;  /* BATCH_BUCKETS */
    histogram queue_wait;  /* seconds from queued to taken by a worker */
} model_stats;

struct metrics {
    pthread_mutex_t lock;
    const char *const *routes;
    int n_routes;
    unsigned long long *requests; /* n_routes x MAX_STATUS */
    histogram *durations;         /* n_routes */
    unsigned long long bytes_in, bytes_out;
    model_stats models[8];
    int n_models;
    named_counter rejects[MAX_NAMED];
    int n_rejects;
    named_counter events[MAX_NAMED];
    int n_events;
};

metrics *metrics_new(const char *const *route_names, int n_routes, cd_err *err)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for metrics");
        return NULL;
    }
    m->requests = calloc((size_t)n_routes * MAX_STATUS, sizeof *m->requests);
    m->durations = calloc((size_t)n_routes, sizeof *m->durations);
    if (!m->requests || !m->durations || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m->requests);
        free(m->durations);
        free(m);
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for metrics");
        return NULL;
    }
    m->routes = route_names;
    m->n_routes = n_routes;
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->requests);
    free(m->durations);
    free(m);
}

static void observe_in(histogram *h, const double *bounds, int n_bounds, double v)
{
    int i = 0;
    while (i < n_bounds && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

static void observe(histogram *h, double v)
{
    int i = 0;
    while (i < N_BUCKETS && v > BUCKETS[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

void metrics_request(metrics *m, int route, int status, double seconds, size_t bytes_in, size_t bytes_out)
{
    if (route < 0 || route >= m->n_routes)
        return;
    if (status < 0 || status >= MAX_STATUS)
        status = 0;
    pthread_mutex_lock(&m->lock);
    m->requests[(size_t)route * MAX_STATUS + (size_t)status]++;
    observe(&m->durations[route], seconds);
    m->bytes_in += bytes_in;
    m->bytes_out += bytes_out;
    pthread_mutex_unlock(&m->lock);
}

/* Finds or adds `name` in a named table; NULL when the table is full. */
static named_counter *named(named_counter *t, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    if (*n >= MAX_NAMED)
        return NULL;
    snprintf(t[*n].name, NAME_LEN, "%s", name);
    t[*n].n = 0;
    return &t[(*n)++];
}

/* Under the lock: the model's record, added when new; NULL when the table is full. */
static model_stats *model_named(metrics *m, const char *model)
{
    for (int i = 0; i < m->n_models; i++)
        if (strcmp(m->models[i].name, model) == 0)
            return &m->models[i];
    if (m->n_models >= (int)(sizeof m->models / sizeof m->models[0]))
        return NULL;
    model_stats *s = &m->models[m->n_models++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, NAME_LEN, "%s", model);
    return s;
}

void metrics_prediction(metrics *m, const char *model, int label, double seconds)
{
    pthread_mutex_lock(&m->lock);
    model_stats *s = model_named(m, model);
    if (s) {
        s->by_label[label ? 1 : 0]++;
        observe(&s->latency, seconds);
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_batch(metrics *m, const char *model, int size)
{
    pthread_mutex_lock(&m->lock);
    model_stats *s = model_named(m, model);
    if (s)
        observe_in(&s->batch_size, BATCH_BUCKETS, N_BATCH_BUCKETS, size);
    pthread_mutex_unlock(&m->lock);
}

void metrics_queue_wait(metrics *m, const char *model, double seconds)
{
    pthread_mutex_lock(&m->lock);
    model_stats *s = model_named(m, model);
    if (s)
        observe(&s->queue_wait, seconds);
    pthread_mutex_unlock(&m->lock);
}

void metrics_reject(metrics *m, const char *reason)
{
    pthread_mutex_lock(&m->lock);
    named_counter *c = named(m->rejects, &m->n_rejects, reason);
    if (c)
        c->n++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_event(metrics *m, const char *event)
{
    pthread_mutex_lock(&m->lock);
    named_counter *c = named(m->events, &m->n_events, event);
    if (c)
        c->n++;
    pthread_mutex_unlock(&m->lock);
}

unsigned long long metrics_event_count(metrics *m, const char *event)
{
    unsigned long long n = 0;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n_events; i++)
        if (strcmp(m->events[i].name, event) == 0)
            n = m->events[i].n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void render_histogram_in(strbuf *out, const char *name, const char *label, const char *value,
                                const histogram *h, const double *bounds, int n_bounds)
{
    unsigned long long cum = 0;
    for (int i = 0; i <= n_bounds; i++) {
        cum += h->counts[i];
        if (i < n_bounds)
            strbuf_printf(out, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, value, bounds[i], cum);
        else
            strbuf_printf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, value, cum);
    }
    strbuf_printf(out, "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %llu\n", name, label, value, h->sum, name,
                  label, value, h->n);
}

static void render_histogram(strbuf *out, const char *name, const char *label, const char *value,
                             const histogram *h)
{
    render_histogram_in(out, name, label, value, h, BUCKETS, N_BUCKETS);
}

void metrics_render(metrics *m, const metrics_gauges *g, strbuf *out)
{
    pthread_mutex_lock(&m->lock);
    strbuf_puts(out, "# HELP catdog_http_requests_total HTTP requests by route and status.\n"
                     "# TYPE catdog_http_requests_total counter\n");
    for (int r = 0; r < m->n_routes; r++)
        for (int s = 0; s < MAX_STATUS; s++) {
            unsigned long long n = m->requests[(size_t)r * MAX_STATUS + (size_t)s];
            if (n)
                strbuf_printf(out, "catdog_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->routes[r], s,
                              n);
        }
    strbuf_puts(out, "# HELP catdog_http_request_duration_seconds Time from request start to response queued.\n"
                     "# TYPE catdog_http_request_duration_seconds histogram\n");
    for (int r = 0; r < m->n_routes; r++)
        if (m->durations[r].n)
            render_histogram(out, "catdog_http_request_duration_seconds", "route", m->routes[r], &m->durations[r]);
    strbuf_printf(out,
                  "# HELP catdog_http_received_bytes_total Request body bytes received.\n"
                  "# TYPE catdog_http_received_bytes_total counter\n"
                  "catdog_http_received_bytes_total %llu\n"
                  "# HELP catdog_http_sent_bytes_total Response body bytes queued.\n"
                  "# TYPE catdog_http_sent_bytes_total counter\n"
                  "catdog_http_sent_bytes_total %llu\n",
                  m->bytes_in, m->bytes_out);
    strbuf_puts(out, "# HELP catdog_predictions_total Predictions by model and verdict.\n"
                     "# TYPE catdog_predictions_total counter\n");
    for (int i = 0; i < m->n_models; i++)
        for (int l = 0; l < 2; l++)
            strbuf_printf(out, "catdog_predictions_total{model=\"%s\",label=\"%s\"} %llu\n", m->models[i].name,
                          l ? "dog" : "cat", m->models[i].by_label[l]);
    strbuf_puts(out, "# HELP catdog_prediction_duration_seconds Decode, resize and forward pass of one photo.\n"
                     "# TYPE catdog_prediction_duration_seconds histogram\n");
    for (int i = 0; i < m->n_models; i++)
        render_histogram(out, "catdog_prediction_duration_seconds", "model", m->models[i].name,
                         &m->models[i].latency);
    strbuf_puts(out, "# HELP catdog_batch_size Photos per forward pass (dynamic batching), by model.\n"
                     "# TYPE catdog_batch_size histogram\n");
    for (int i = 0; i < m->n_models; i++)
        if (m->models[i].batch_size.n)
            render_histogram_in(out, "catdog_batch_size", "model", m->models[i].name, &m->models[i].batch_size,
                                BATCH_BUCKETS, N_BATCH_BUCKETS);
    strbuf_puts(out, "# HELP catdog_queue_wait_seconds Time a photo waited for a worker, by model.\n"
                     "# TYPE catdog_queue_wait_seconds histogram\n");
    for (int i = 0; i < m->n_models; i++)
        if (m->models[i].queue_wait.n)
            render_histogram(out, "catdog_queue_wait_seconds", "model", m->models[i].name,
                             &m->models[i].queue_wait);
    strbuf_puts(out, "# HELP catdog_uploads_rejected_total Uploads refused, by reason.\n"
                     "# TYPE catdog_uploads_rejected_total counter\n");
    for (int i = 0; i < m->n_rejects; i++)
        strbuf_printf(out, "catdog_uploads_rejected_total{reason=\"%s\"} %llu\n", m->rejects[i].name,
                      m->rejects[i].n);
    strbuf_puts(out, "# HELP catdog_events_total Notable events (stored, deduplicated, feedback, db_error, store_error).\n"
                     "# TYPE catdog_events_total counter\n");
    for (int i = 0; i < m->n_events; i++)
        strbuf_printf(out, "catdog_events_total{event=\"%s\"} %llu\n", m->events[i].name, m->events[i].n);
    pthread_mutex_unlock(&m->lock);
    strbuf_printf(out,
                  "# HELP catdog_queue_depth Photos waiting for a worker.\n# TYPE catdog_queue_depth gauge\n"
                  "catdog_queue_depth %d\n"
                  "# HELP catdog_expected_wait_seconds Wait a photo for the default model would be expected to "
                  "see now.\n# TYPE catdog_expected_wait_seconds gauge\ncatdog_expected_wait_seconds %.6f\n"
                  "# HELP catdog_max_wait_seconds Expected wait beyond which uploads get 503 (--max-wait).\n"
                  "# TYPE catdog_max_wait_seconds gauge\ncatdog_max_wait_seconds %g\n"
                  "# HELP catdog_max_batch Largest batch per forward pass (--max-batch).\n"
                  "# TYPE catdog_max_batch gauge\ncatdog_max_batch %d\n"
                  "# HELP catdog_queue_capacity Photos allowed to wait at once, beyond which uploads get 503.\n"
                  "# TYPE catdog_queue_capacity gauge\ncatdog_queue_capacity %d\n"
                  "# HELP catdog_workers_busy Photos being classified now (in the workers' running batches).\n"
                  "# TYPE catdog_workers_busy gauge\ncatdog_workers_busy %d\n"
                  "# HELP catdog_workers Inference workers.\n# TYPE catdog_workers gauge\ncatdog_workers %d\n"
                  "# HELP catdog_requests_in_flight Requests being handled.\n"
                  "# TYPE catdog_requests_in_flight gauge\ncatdog_requests_in_flight %d\n"
                  "# HELP catdog_models_loaded Models serving predictions.\n"
                  "# TYPE catdog_models_loaded gauge\ncatdog_models_loaded %d\n"
                  "# HELP catdog_history_up 1 when predictions are recorded in the history database, 0 when it is "
                  "not open or PostgreSQL is unreachable (rows wait in the spool).\n"
                  "# TYPE catdog_history_up gauge\ncatdog_history_up %d\n"
                  "# HELP catdog_history_commits_total Transactions that committed history rows (SQLite; each "
                  "commit syncs the WAL once, for every row in it).\n"
                  "# TYPE catdog_history_commits_total counter\ncatdog_history_commits_total %llu\n"
                  "# HELP catdog_history_rows_committed_total History rows those transactions held (rows / commits: "
                  "the uploads that shared a sync).\n"
                  "# TYPE catdog_history_rows_committed_total counter\ncatdog_history_rows_committed_total %llu\n",
                  g->queue_depth, g->expected_wait_s, g->max_wait_s, g->max_batch, g->queue_capacity, g->workers_busy, g->workers, g->in_flight, g->models_loaded,
                  g->history_up, g->history_commits, g->history_rows);
}
