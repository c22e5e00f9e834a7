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

/* Skips. cmocka's skip() only marks a test SKIPPED: the binary still exits 0
 * and ctest would say "Passed" for a binary that checked nothing.  So every
 * skip goes through TEST_SKIP, which records it, and cmocka_run_group_tests
 * (redefined below for every test that includes this header) makes the binary
 * exit 77, ctest's SKIP_RETURN_CODE for the C tests, when some test skipped
 * and none failed, with the reason on one line.  A failure still wins. */
#define TEST_SKIP_EXIT 77

typedef struct {
    int count;         /* tests skipped so far */
    char first[256];   /* the first one's reason */
} test_skips;

/* The binary's skip record: one per test program (each is one translation unit). */
static inline test_skips *test_skip_record(void)
{
    static test_skips record;
    return &record;
}

/* Records a skip with a printf-style reason and leaves the current test. */
#define TEST_SKIP(...)                                                                       \
    do {                                                                                     \
        test_skips *ts_ = test_skip_record();                                                \
        char why_[256];                                                                      \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                            \
        fprintf(stderr, "SKIP: %s\n", why_);                                                 \
        if (ts_->count++ == 0)                                                               \
            snprintf(ts_->first, sizeof ts_->first, "%s", why_);                             \
        skip();                                                                              \
    } while (0)

/* cmocka's group runner, then 77 when tests skipped and none failed. */
static inline int test_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                                 CMFixtureFunction setup, CMFixtureFunction teardown)
{
    int failed = _cmocka_run_group_tests(name, tests, n, setup, teardown);
    const test_skips *s = test_skip_record();
    if (failed != 0 || s->count == 0)
        return failed;
    printf("SKIP: %d of %zu tests skipped: %s\n", s->count, n, s->first);
    fflush(stdout);
    return TEST_SKIP_EXIT;
}
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                     \
    test_run_group(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]), \
                   group_setup, group_teardown)

/* Skips the current test with a clear message when ../shared is absent. */
#define TEST_REQUIRE_SHARED(var)                                                             \
    const char *var = test_shared_dir();                                                     \
    if (!var)                                                                                \
        TEST_SKIP("../shared not found (set CATDOG_SHARED to the shared folder)")

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

/* DIR/{train,validation,test}/{cats,dogs} (the first n_parts of those) as
 * symbolic links to ../shared's Kaggle photos: counts[p] of each class in part
 * p, numbered down from `first`, each part taking the next run.  DIR is
 * emptied first.  For tests that train on a small split of real photos. */
static inline void test_make_split(const char *shared, const char *dir, int first,
                                   const int *counts, int n_parts)
{
    static const char *parts[3] = {"train", "validation", "test"};
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    for (int p = 0; p < n_parts && p < 3; p++) {
        for (int c = 0; c < 2; c++) {
            const char *cls = c ? "dog" : "cat";
            snprintf(cmd, sizeof cmd,
                     "mkdir -p '%s/%s/%ss' && for i in $(seq %d -1 %d); do "
                     "ln -s '%s/data/dogs-vs-cats/train/%s.'$i.jpg '%s/%s/%ss/'; done",
                     dir, parts[p], cls, first, first - counts[p] + 1, shared, cls, dir, parts[p],
                     cls);
            assert_int_equal(system(cmd), 0);
        }
        first -= counts[p];
    }
}

#endif
