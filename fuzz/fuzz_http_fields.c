/*
 * fuzz_http_fields.c - libFuzzer harness for the small parsers the server
 * runs on request fields other than the body's photo: the route table on the
 * method and path (routes_match), the stored-name check on the path's tail
 * (store_name_valid, which guards every file the server opens by URL), the
 * language from Accept-Language and ?lang= (i18n), the urlencoded forms of
 * the feedback buttons and the language switch (urlform_get), and the client's
 * file name (upload_sanitize_name).  The JSON API reads no JSON (it takes
 * multipart or a raw image and only writes JSON), so these are its inputs.
 *
 * Input: up to three '\n'-terminated fields (path, Accept-Language, a file
 * name), then a form body; the first byte picks the method.
 * Checks: a route's tail is "" or the rest of the path; a name store_name_valid
 * accepts has no '/', does not start with '.', and is at most STORE_NAME_MAX
 * bytes; the language is one of the two; urlform_get's value is terminated
 * within its buffer and "" when the key is absent; the sanitized name keeps
 * upload_sanitize_name's promises (fuzz_multipart.c).
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "web/i18n.h"
#include "web/result_id.h"
#include "web/server.h"
#include "web/store.h"
#include "web/upload.h"
#include "web/urlform.h"

/* The next '\n'-terminated field as a C string (at most cap-1 bytes kept). */
static void next_field(const uint8_t **p, size_t *left, char *out, size_t cap)
{
    const uint8_t *nl = memchr(*p, '\n', *left);
    size_t n = nl ? (size_t)(nl - *p) : *left;
    size_t keep = n < cap - 1 ? n : cap - 1;
    memcpy(out, *p, keep);
    out[keep] = '\0';
    *p += nl ? n + 1 : n;
    *left -= nl ? n + 1 : n;
}

int fuzz_http_fields_one(const uint8_t *data, size_t size)
{
    static const char *const METHODS[] = {"GET", "POST", "HEAD", "PUT"};
    if (size == 0)
        return 0;
    const char *method = METHODS[data[0] % 4];
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    char path[1024], lang[512], name[1024];
    next_field(&p, &left, path, sizeof path);
    next_field(&p, &left, lang, sizeof lang);
    next_field(&p, &left, name, sizeof name);

    route_id id;
    const char *tail, *allow;
    body_kind body;
    int method_ok, admin;
    (void)routes_match(method, path, &id, &tail, &body, &method_ok, &allow, &admin);
    FUZZ_CHECK(admin == 0 || admin == 1);
    if (result_id_valid(tail)) /* a result id: exactly 32 hex digits, nothing a path could use */
        FUZZ_CHECK(strlen(tail) == RESULT_ID_HEX && strspn(tail, "0123456789abcdef") == RESULT_ID_HEX);
    FUZZ_CHECK(id >= 0 && id < ROUTE_COUNT);
    FUZZ_CHECK(tail != NULL);
    if (tail[0]) /* a prefix route's rest: inside the path, its end */
        FUZZ_CHECK(tail > path && tail < path + strlen(path) && strchr(tail, '\0') == path + strlen(path));
    FUZZ_CHECK(method_ok == 0 || method_ok == 1);
    FUZZ_CHECK(method_ok || allow != NULL);
    const char *cands[2] = {tail, name};
    for (int k = 0; k < 2; k++)
        if (store_name_valid(cands[k])) {
            size_t n = strlen(cands[k]);
            FUZZ_CHECK(n >= 1 && n <= STORE_NAME_MAX && cands[k][0] != '.');
            FUZZ_CHECK(strchr(cands[k], '/') == NULL && strchr(cands[k], '\\') == NULL);
        }

    i18n_lang l = i18n_from_accept(lang);
    FUZZ_CHECK(l == LANG_RU || l == LANG_EN);
    int parsed = i18n_parse(lang);
    FUZZ_CHECK(parsed == -1 || parsed == LANG_RU || parsed == LANG_EN);

    static const char *const KEYS[] = {"label", "lang", "id", "model", ""};
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        char v[64];
        memset(v, 'X', sizeof v);
        int found = urlform_get((const char *)p, left, KEYS[k], v, sizeof v);
        FUZZ_CHECK(found == 0 || found == 1);
        FUZZ_CHECK(memchr(v, 0, sizeof v) != NULL);
        if (!found)
            FUZZ_CHECK(v[0] == '\0');
        char tiny[1] = {'X'};
        FUZZ_CHECK(urlform_get((const char *)p, left, KEYS[k], tiny, 1) == found && tiny[0] == '\0');
    }

    char clean[256];
    memset(clean, 'X', sizeof clean);
    upload_sanitize_name(name, clean, sizeof clean);
    fuzz_check_sanitized(clean, sizeof clean);
    char small[8];
    memset(small, 'X', sizeof small);
    upload_sanitize_name(name, small, sizeof small);
    fuzz_check_sanitized(small, sizeof small);
    return 0;
}
