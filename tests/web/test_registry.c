/*
 * test_registry.c - which models the service serves when files are broken
 * (web/registry.h): a broken binary.h5 is replaced by the built-in copy with a
 * note naming the file and the reason; without a built-in copy binary is off
 * and transfer is served alone; with nothing loadable, loading fails naming
 * every file.  The "built-in copy" here is a model file the test reads into
 * memory and hands out through the embedded hook, as the program does with
 * the copy linked into it.
 */
#include "test_util.h"

#include <unistd.h>

#include "core/fileio.h"
#include "engine/arch.h"
#include "modelfile/keras.h"
#include "web/registry.h"

typedef struct fixture {
    char dir[64];
    char good[128];        /* a valid binary model file, outside the models folder */
} fixture;

/* The hook's bytes: the fixture's good model, read once per test (the hook
 * takes no context, so the test owns them here, set in setup, freed in teardown). */
static unsigned char *g_builtin;
static size_t g_builtin_len;

static const void *builtin(const char *file, size_t *len)
{
    if (strcmp(file, "binary.h5") != 0)
        return NULL;
    *len = g_builtin_len;
    return g_builtin;
}

/* A hook whose built-in copy is itself broken. */
static const void *builtin_broken(const char *file, size_t *len)
{
    static const char junk[] = "not a model either";
    (void)file;
    *len = sizeof junk;
    return junk;
}

static void path_in(const fixture *f, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", f->dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void copy_good(const fixture *f, const char *name)
{
    char path[160];
    path_in(f, name, path, sizeof path);
    write_bytes(path, g_builtin, g_builtin_len);
}

static void write_garbage(const fixture *f, const char *name)
{
    char path[160];
    path_in(f, name, path, sizeof path);
    write_bytes(path, "this is not an HDF5 file at all\n", 32);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/catdog-registry-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->good, sizeof f->good, "%s.good.h5", f->dir);
    cd_err err;
    model *m = arch_binary(64, &err);
    assert_non_null(m);
    model_init_params(m, 3);
    assert_int_equal(keras_save(m, f->good, &err), 0);
    model_free(m);
    g_builtin = cd_read_file(f->good, (size_t)1 << 30, &g_builtin_len, &err);
    if (!g_builtin)
        fail_msg("%s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *names[] = {"binary.h5", "transfer.h5"};
    char path[160];
    for (int i = 0; i < 2; i++) {
        path_in(f, names[i], path, sizeof path);
        unlink(path);
    }
    rmdir(f->dir);
    unlink(f->good);
    free(g_builtin);
    g_builtin = NULL;
    free(f);
    return 0;
}

static registry *load(const fixture *f, registry_embedded_fn embedded, cd_err *err)
{
    predictor_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    cd_err_clear(err);
    return registry_load(f->dir, &o, embedded, NULL, err);
}

/* Garbage binary.h5, a built-in copy: the copy is served and the note says
 * which file failed and why. */
static void test_broken_binary_uses_builtin(void **state)
{
    fixture *f = *state;
    write_garbage(f, "binary.h5");
    cd_err err;
    registry *r = load(f, builtin, &err);
    if (!r)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->models[0].name, "binary");
    assert_string_equal(r->models[0].source, "built-in models/binary.h5");
    assert_int_equal(r->models[0].input_h, 64);
    assert_int_equal(r->n_notes, 1);
    char path[160];
    path_in(f, "binary.h5", path, sizeof path);
    assert_non_null(strstr(r->notes[0], path));
    assert_non_null(strstr(r->notes[0], "not an HDF5 file"));
    assert_non_null(strstr(r->notes[0], "built-in copy"));
    assert_null(registry_off_reason(r, "binary"));
    assert_non_null(registry_off_reason(r, "transfer"));
    registry_free(r);
}

/* Broken on disk and a broken built-in copy: binary is off, the reason names
 * both, and no note claims the built-in copy is served. */
static void test_broken_binary_and_broken_builtin(void **state)
{
    fixture *f = *state;
    write_garbage(f, "binary.h5");
    copy_good(f, "transfer.h5");
    cd_err err;
    registry *r = load(f, builtin_broken, &err);
    if (!r)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->models[0].name, "transfer");
    assert_int_equal(r->n_notes, 0);
    const char *why = registry_off_reason(r, "binary");
    assert_non_null(why);
    char path[160];
    path_in(f, "binary.h5", path, sizeof path);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "built-in"));
    registry_free(r);
}

/* A missing binary.h5 with a built-in copy: served, no note (nothing broke). */
static void test_missing_binary_uses_builtin_quietly(void **state)
{
    fixture *f = *state;
    cd_err err;
    registry *r = load(f, builtin, &err);
    if (!r)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->models[0].source, "built-in models/binary.h5");
    assert_int_equal(r->n_notes, 0);
    registry_free(r);
}

/* Garbage binary.h5, no built-in copy, a good transfer.h5: transfer alone,
 * the default, and binary is off with the file named. */
static void test_broken_binary_serves_transfer(void **state)
{
    fixture *f = *state;
    write_garbage(f, "binary.h5");
    copy_good(f, "transfer.h5");
    cd_err err;
    registry *r = load(f, NULL, &err);
    if (!r)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->models[0].name, "transfer");
    assert_int_equal(r->best, 0);
    assert_int_equal(registry_find(r, "binary"), -1);
    const char *why = registry_off_reason(r, "binary");
    assert_non_null(why);
    char path[160];
    path_in(f, "binary.h5", path, sizeof path);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "binary model off"));
    assert_null(registry_off_reason(r, "transfer"));
    registry_free(r);
}

/* Nothing loadable: NULL, and the error names both files. */
static void test_nothing_loadable_fails(void **state)
{
    fixture *f = *state;
    write_garbage(f, "binary.h5");
    write_garbage(f, "transfer.h5");
    cd_err err;
    registry *r = load(f, NULL, &err);
    assert_null(r);
    assert_non_null(strstr(err.msg, "no model can be served"));
    assert_non_null(strstr(err.msg, "binary.h5"));
    assert_non_null(strstr(err.msg, "transfer.h5"));
}

/* Both files fine: both served, nothing off, no notes. */
static void test_both_fine(void **state)
{
    fixture *f = *state;
    copy_good(f, "binary.h5");
    copy_good(f, "transfer.h5");
    cd_err err;
    registry *r = load(f, builtin, &err);
    if (!r)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->n_off, 0);
    assert_int_equal(r->n_notes, 0);
    char path[160];
    path_in(f, "binary.h5", path, sizeof path);
    assert_string_equal(r->models[0].source, path);
    registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_broken_binary_uses_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_binary_and_broken_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_binary_uses_builtin_quietly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_binary_serves_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_loadable_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_fine, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
