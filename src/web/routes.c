/*
 * routes.c - the route table: which method + path goes to which handler, and
 * how much body each may send (see server.h).
 *
 * Exact routes match the whole path; prefix routes ("/upload/") pass the rest
 * of the path to the handler as `tail`, which each handler validates itself.
 * The seed's addresses (/, /template, /template/upload, /upload/<file>, /error)
 * keep working.
 *
 * Access: a route marked ADMIN needs the admin token (auth.h); the server
 * checks it before the handler runs, so no admin handler can forget to.
 * Visitors reach their own result by its random id (/result/<id>), never by
 * a stored file's name.
 */
#include <string.h>

#include "web/server.h"

typedef struct route {
    route_id id;
    route_info info;     /* method ("GET" also answers HEAD), path, prefix (1: the rest goes to tail), admin */
    body_kind body;
    http_handler fn;
} route;

enum { PUBLIC = 0, ADMIN = 1 };

static const route ROUTES[] = {
    {ROUTE_ROOT, {"GET", "/", 0, PUBLIC}, BODY_NONE, handle_root},
    {ROUTE_TEMPLATE, {"GET", "/template", 0, PUBLIC}, BODY_NONE, handle_template},
    {ROUTE_TEMPLATE_UPLOAD, {"POST", "/template/upload", 0, PUBLIC}, BODY_UPLOAD, handle_template_upload},
    {ROUTE_UPLOAD_FILE, {"GET", "/upload/", 1, ADMIN}, BODY_NONE, handle_upload_file},
    {ROUTE_ERROR, {"GET", "/error", 0, PUBLIC}, BODY_NONE, handle_error_page},
    {ROUTE_HISTORY, {"GET", "/history", 0, ADMIN}, BODY_NONE, handle_history},
    {ROUTE_FEEDBACK, {"POST", "/history/", 1, ADMIN}, BODY_FORM, handle_feedback},
    {ROUTE_PHOTO, {"GET", "/photos/", 1, ADMIN}, BODY_NONE, handle_photo},
    {ROUTE_THUMB, {"GET", "/thumbs/", 1, ADMIN}, BODY_NONE, handle_thumb},
    {ROUTE_STATIC, {"GET", "/static/", 1, PUBLIC}, BODY_NONE, handle_static},
    {ROUTE_FAVICON, {"GET", "/favicon.ico", 0, PUBLIC}, BODY_NONE, handle_favicon},
    {ROUTE_API_PREDICT, {"POST", "/api/v1/predict", 0, PUBLIC}, BODY_UPLOAD, handle_api_predict},
    {ROUTE_API_MODELS, {"GET", "/api/v1/models", 0, PUBLIC}, BODY_NONE, handle_api_models},
    {ROUTE_API_HISTORY, {"GET", "/api/v1/history", 0, ADMIN}, BODY_NONE, handle_api_history},
    {ROUTE_HEALTHZ, {"GET", "/healthz", 0, PUBLIC}, BODY_NONE, handle_healthz},
    {ROUTE_LIVEZ, {"GET", "/livez", 0, PUBLIC}, BODY_NONE, handle_livez},
    {ROUTE_METRICS, {"GET", "/metrics", 0, ADMIN}, BODY_NONE, handle_metrics},
    {ROUTE_API_OPENAPI, {"GET", "/api/v1/openapi.json", 0, PUBLIC}, BODY_NONE, handle_api_openapi},
    {ROUTE_TF_MODEL, {"GET", "/v1/models/", 1, PUBLIC}, BODY_NONE, handle_tf_model},
    {ROUTE_TF_PREDICT, {"POST", "/v1/models/", 1, PUBLIC}, BODY_JSON, handle_tf_predict},
    {ROUTE_RESULT, {"GET", "/result/", 1, PUBLIC}, BODY_NONE, handle_result},
    {ROUTE_LOGIN, {"GET", "/login", 0, PUBLIC}, BODY_NONE, handle_login_page},
    {ROUTE_LOGIN_POST, {"POST", "/login", 0, PUBLIC}, BODY_FORM, handle_login},
    {ROUTE_LOGOUT, {"POST", "/logout", 0, PUBLIC}, BODY_FORM, handle_logout},
};

#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

static const char *const METRIC_NAMES[ROUTE_COUNT] = {
    [ROUTE_ROOT] = "/",
    [ROUTE_TEMPLATE] = "/template",
    [ROUTE_TEMPLATE_UPLOAD] = "/template/upload",
    [ROUTE_UPLOAD_FILE] = "/upload/{file}",
    [ROUTE_ERROR] = "/error",
    [ROUTE_HISTORY] = "/history",
    [ROUTE_FEEDBACK] = "/history/{id}/feedback",
    [ROUTE_PHOTO] = "/photos/{file}",
    [ROUTE_THUMB] = "/thumbs/{file}",
    [ROUTE_STATIC] = "/static/{path}",
    [ROUTE_FAVICON] = "/favicon.ico",
    [ROUTE_API_PREDICT] = "/api/v1/predict",
    [ROUTE_API_MODELS] = "/api/v1/models",
    [ROUTE_API_HISTORY] = "/api/v1/history",
    [ROUTE_HEALTHZ] = "/healthz",
    [ROUTE_LIVEZ] = "/livez",
    [ROUTE_METRICS] = "/metrics",
    [ROUTE_API_OPENAPI] = "/api/v1/openapi.json",
    [ROUTE_TF_MODEL] = "/v1/models/{name}",
    [ROUTE_TF_PREDICT] = "/v1/models/{name}:predict",
    [ROUTE_RESULT] = "/result/{id}",
    [ROUTE_LOGIN] = "/login",
    [ROUTE_LOGIN_POST] = "/login (POST)",
    [ROUTE_LOGOUT] = "/logout",
    [ROUTE_OTHER] = "other",
};

const route_info *routes_list(int i)
{
    return i >= 0 && (size_t)i < N_ROUTES ? &ROUTES[i].info : NULL;
}

const char *const *routes_metric_names(void)
{
    return METRIC_NAMES;
}

static int path_matches(const route *rt, const char *url, const char **tail)
{
    size_t n = strlen(rt->info.path);
    if (rt->info.prefix) {
        if (strncmp(url, rt->info.path, n) != 0 || url[n] == '\0')
            return 0;
        *tail = url + n;
        return 1;
    }
    *tail = "";
    return strcmp(url, rt->info.path) == 0;
}

static int method_matches(const route *rt, const char *method)
{
    if (strcmp(rt->info.method, method) == 0)
        return 1;
    return strcmp(rt->info.method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

http_handler routes_match(const char *method, const char *url, route_id *id, const char **tail, body_kind *body,
                          int *method_ok, const char **allow, int *admin)
{
    *method_ok = 1;
    *admin = 0;
    *allow = NULL;
    *body = BODY_NONE;
    *tail = "";
    const route *path_hit = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *t;
        if (!path_matches(&ROUTES[i], url, &t))
            continue;
        if (method_matches(&ROUTES[i], method)) {
            *id = ROUTES[i].id;
            *tail = t;
            *body = ROUTES[i].body;
            *admin = ROUTES[i].info.admin;
            return ROUTES[i].fn;
        }
        if (!path_hit)
            path_hit = &ROUTES[i];
    }
    if (path_hit) {
        *id = path_hit->id;
        *method_ok = 0;
        *admin = path_hit->info.admin;
        *allow = strcmp(path_hit->info.method, "GET") == 0 ? "GET, HEAD" : path_hit->info.method;
        return NULL;
    }
    *id = ROUTE_OTHER;
    return NULL;
}
