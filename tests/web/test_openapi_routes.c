/*
 * test_openapi_routes.c - the OpenAPI document the server serves (docs/openapi.json,
 * linked into the program) and the route table (routes.c) agree: every route
 * the server has is documented with its method, and every documented path and
 * method is a route the server has.  A prefix route ("/photos/") is covered
 * by any documented path below it ("/photos/{file}").
 */
#include "test_util.h"

#include <ctype.h>
#include <jansson.h>

#include "web/server.h"

extern const char catdog_openapi_start[], catdog_openapi_end[];

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_loadb(catdog_openapi_start, (size_t)(catdog_openapi_end - catdog_openapi_start), 0, &e);
    if (!doc)
        fail_msg("docs/openapi.json is not JSON: line %d: %s", e.line, e.text);
    return doc;
}

static void lower(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* Does the route cover the documented path? */
static int covers(const route_info *rt, const char *path)
{
    size_t n = strlen(rt->path);
    if (rt->prefix)
        return strncmp(path, rt->path, n) == 0 && path[n] != '\0';
    return strcmp(path, rt->path) == 0;
}

static void test_every_route_is_documented(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    int n_routes = 0;
    for (const route_info *rt; (rt = routes_list(n_routes)) != NULL; n_routes++) {
        char method[16];
        lower(rt->method, method, sizeof method);
        int found = 0;
        const char *path;
        json_t *item;
        json_object_foreach(paths, path, item) {
            if (covers(rt, path) && json_object_get(item, method))
                found = 1;
        }
        if (!found)
            fail_msg("route %s %s%s is not in docs/openapi.json", rt->method, rt->path, rt->prefix ? "..." : "");
    }
    assert_true(n_routes >= 19);
    json_decref(doc);
}

static void test_every_documented_path_is_a_route(void **state)
{
    (void)state;
    static const char *const methods[] = {"get", "post", "put", "delete", "patch", "head", "options"};
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    int n_ops = 0;
    json_object_foreach(paths, path, item) {
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            if (!json_object_get(item, methods[m]))
                continue;
            n_ops++;
            int found = 0;
            const route_info *rt;
            for (int i = 0; (rt = routes_list(i)) != NULL; i++) {
                char method[16];
                lower(rt->method, method, sizeof method);
                if (strcmp(method, methods[m]) == 0 && covers(rt, path))
                    found = 1;
            }
            if (!found)
                fail_msg("docs/openapi.json documents %s %s, which the server does not have", methods[m], path);
        }
    }
    assert_true(n_ops >= 20);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_documented_path_is_a_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
