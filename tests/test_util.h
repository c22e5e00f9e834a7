/*
 * test_util.h - helpers shared by the cmocka tests.
 *
 * cmocka must be included after <stdarg.h>, <stddef.h>, <setjmp.h>; include
 * this header first and it brings them all.
 */
#ifndef CATDOG_TEST_UTIL_H
#define CATDOG_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The ../shared folder (data, weights, golden test data) or NULL when absent.
 * $CATDOG_SHARED overrides; otherwise <source dir>/../shared. */
static inline const char *test_shared_dir(void)
{
    static char buf[4096];
    const char *env = getenv("CATDOG_SHARED");
    if (env && *env)
        snprintf(buf, sizeof buf, "%s", env);
    else
        snprintf(buf, sizeof buf, "%s/../shared", CATDOG_SOURCE_DIR);
    FILE *f;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/README.md", buf);
    f = fopen(probe, "r");
    if (!f)
        return NULL;
    fclose(f);
    return buf;
}

/* Skips the current test with a clear message when ../shared is absent. */
#define TEST_REQUIRE_SHARED(var)                                                             \
    const char *var = test_shared_dir();                                                     \
    if (!var) {                                                                              \
        fprintf(stderr, "SKIP: ../shared not found (set CATDOG_SHARED to the shared folder)\n"); \
        skip();                                                                              \
    }

/* Reads a whole file into a malloc'd buffer (caller frees); NULL if unreadable. */
static inline unsigned char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}

#endif
