/*
 * test_split.c - `catdog split`'s library half (data/split.h): counts, stratification,
 * determinism for a seed, links vs copies, refusal of a non-empty DEST, --force,
 * class-foldered sources, and the errors a user can hit.  The sources are small
 * fake folders the test writes itself (split never decodes, so the bytes need not
 * be JPEG).
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/split.h"

typedef struct fixture {
    char root[PATH_MAX];
} fixture;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/catdog_test_split_XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rm_rf(f->root);
    free(f);
    return 0;
}

/* ROOT/<name>/ with n_cat cat.N.jpg and n_dog dog.N.jpg (content "cat N"), plus
 * files that must be ignored. */
static void make_flat(const char *root, const char *name, int n_cat, int n_dog, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", root, name);
    assert_int_equal(mkdir(out, 0755), 0);
    char p[PATH_MAX], text[64];
    for (int i = 0; i < n_cat; i++) {
        snprintf(p, sizeof p, "%s/cat.%d.jpg", out, i);
        snprintf(text, sizeof text, "cat %d", i);
        write_text(p, text);
    }
    for (int i = 0; i < n_dog; i++) {
        snprintf(p, sizeof p, "%s/dog.%d.JPG", out, i);
        snprintf(text, sizeof text, "dog %d", i);
        write_text(p, text);
    }
    snprintf(p, sizeof p, "%s/readme.txt", out);
    write_text(p, "not an image");
    snprintf(p, sizeof p, "%s/cat.jpg", out); /* no label: "cat" is only the stem */
    write_text(p, "x");
    snprintf(p, sizeof p, "%s/.hidden.1.jpg", out);
    write_text(p, "x");
}

/* Sorted names in dir joined by ',' into out; returns the count. */
static int list_dir(const char *dir, char *out, size_t out_size)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < 4096);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strncat(out, names[i], out_size - strlen(out) - 1);
        strncat(out, ",", out_size - strlen(out) - 1);
        free(names[i]);
    }
    return n;
}

static void test_split_flat_counts_stratified_links(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], dst[PATH_MAX];
    make_flat(f->root, "src", 20, 20, src, sizeof src);
    snprintf(dst, sizeof dst, "%s/dst", f->root);
    split_opts o;
    split_opts_default(&o);
    split_report r;
    cd_err err;
    assert_int_equal(split_run(src, dst, &o, &r, &err), 0);
    assert_int_equal(r.layout, SPLIT_LAYOUT_FLAT);
    assert_int_equal(r.n_classes, 2);
    assert_string_equal(r.class_names[0], "cats");
    assert_string_equal(r.class_names[1], "dogs");
    /* 20 per class: test round(3.0)=3, validation 3, train 14 - in each class. */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(r.counts[SPLIT_TRAIN][k], 14);
        assert_int_equal(r.counts[SPLIT_VALIDATION][k], 3);
        assert_int_equal(r.counts[SPLIT_TEST][k], 3);
    }
    assert_int_equal(r.ignored, 2); /* readme.txt and cat.jpg; hidden files are not counted */

    /* On disk: every source image exactly once, as an absolute link into src. */
    char srcabs[PATH_MAX];
    assert_non_null(realpath(src, srcabs));
    int seen[2][20] = {{0}};
    for (int p = 0; p < SPLIT_PARTS; p++)
        for (int k = 0; k < 2; k++) {
            char dir[PATH_MAX], names[65536];
            snprintf(dir, sizeof dir, "%s/%s/%s", dst, split_part_name(p), r.class_names[k]);
            int n = list_dir(dir, names, sizeof names);
            assert_int_equal((size_t)n, r.counts[p][k]);
            for (char *save = NULL, *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                char path[PATH_MAX * 2], target[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", dir, name);
                struct stat st;
                assert_int_equal(lstat(path, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
                ssize_t len = readlink(path, target, sizeof target - 1);
                assert_true(len > 0);
                target[len] = 0;
                assert_int_equal(target[0], '/');
                char expect[PATH_MAX * 2];
                snprintf(expect, sizeof expect, "%s/%s", srcabs, name);
                assert_string_equal(target, expect);
                int idx = -1;
                char label[8];
                assert_int_equal(sscanf(name, "%3[a-z].%d.", label, &idx), 2);
                assert_string_equal(label, k == 0 ? "cat" : "dog");
                assert_true(idx >= 0 && idx < 20);
                seen[k][idx]++;
            }
        }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 20; i++)
            assert_int_equal(seen[k][i], 1);
}

/* Sorted listing of dst/part/class. */
static void part_listing(const char *dst, const char *part, const char *cls, char *out, size_t n)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s/%s", dst, part, cls);
    list_dir(dir, out, n);
}

static void test_split_same_seed_same_split_other_seed_differs(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
    make_flat(f->root, "src", 40, 40, src, sizeof src);
    snprintf(a, sizeof a, "%s/a", f->root);
    snprintf(b, sizeof b, "%s/b", f->root);
    snprintf(c, sizeof c, "%s/c", f->root);
    split_opts o;
    split_opts_default(&o);
    o.seed = 7;
    cd_err err;
    assert_int_equal(split_run(src, a, &o, NULL, &err), 0);
    assert_int_equal(split_run(src, b, &o, NULL, &err), 0);
    o.seed = 8;
    assert_int_equal(split_run(src, c, &o, NULL, &err), 0);
    int differs = 0;
    for (int p = 0; p < SPLIT_PARTS; p++)
        for (int k = 0; k < 2; k++) {
            const char *cls = k ? "dogs" : "cats";
            char la[8192], lb[8192], lc[8192];
            part_listing(a, split_part_name(p), cls, la, sizeof la);
            part_listing(b, split_part_name(p), cls, lb, sizeof lb);
            part_listing(c, split_part_name(p), cls, lc, sizeof lc);
            assert_string_equal(la, lb);
            differs |= strcmp(la, lc) != 0;
        }
    assert_true(differs);
}

static void test_split_changing_val_keeps_test_set(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    make_flat(f->root, "src", 30, 30, src, sizeof src);
    snprintf(a, sizeof a, "%s/a", f->root);
    snprintf(b, sizeof b, "%s/b", f->root);
    split_opts o;
    split_opts_default(&o);
    split_report ra, rb;
    cd_err err;
    o.val = 0.1;
    assert_int_equal(split_run(src, a, &o, &ra, &err), 0);
    o.val = 0.3;
    assert_int_equal(split_run(src, b, &o, &rb, &err), 0);
    assert_int_equal(ra.counts[SPLIT_VALIDATION][0], 3);
    assert_int_equal(rb.counts[SPLIT_VALIDATION][0], 9);
    char la[8192], lb[8192];
    part_listing(a, "test", "cats", la, sizeof la);
    part_listing(b, "test", "cats", lb, sizeof lb);
    assert_string_equal(la, lb);
}

static void test_split_refuses_nonempty_dest_and_force_replaces(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    make_flat(f->root, "src", 10, 10, src, sizeof src);
    snprintf(dst, sizeof dst, "%s/dst", f->root);
    snprintf(p, sizeof p, "%s/train/cats", dst);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/train/cats/stale.jpg", dst);
    write_text(p, "old");
    char keep[PATH_MAX];
    snprintf(keep, sizeof keep, "%s/notes.txt", dst);
    write_text(keep, "mine");

    split_opts o;
    split_opts_default(&o);
    cd_err err;
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not empty"));
    assert_int_equal(access(p, F_OK), 0); /* nothing touched */

    o.force = 1;
    split_report r;
    assert_int_equal(split_run(src, dst, &o, &r, &err), 0);
    assert_int_equal(access(p, F_OK), -1);   /* the old train/ is gone */
    assert_int_equal(access(keep, F_OK), 0); /* other files stay */
    char names[8192];
    part_listing(dst, "train", "cats", names, sizeof names);
    assert_null(strstr(names, "stale"));
    assert_int_equal(r.counts[SPLIT_TRAIN][0], 10 - 2 - 2); /* round(1.5) = 2 */
}

static void test_split_copy_makes_regular_files_with_same_bytes(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], dst[PATH_MAX];
    make_flat(f->root, "src", 10, 10, src, sizeof src);
    snprintf(dst, sizeof dst, "%s/dst", f->root);
    split_opts o;
    split_opts_default(&o);
    o.mode = SPLIT_COPY;
    split_report r;
    cd_err err;
    assert_int_equal(split_run(src, dst, &o, &r, &err), 0);
    int files = 0;
    for (int p = 0; p < SPLIT_PARTS; p++)
        for (int k = 0; k < 2; k++) {
            char dir[PATH_MAX], names[8192];
            snprintf(dir, sizeof dir, "%s/%s/%s", dst, split_part_name(p), r.class_names[k]);
            list_dir(dir, names, sizeof names);
            for (char *save = NULL, *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                char a[PATH_MAX * 2], b[PATH_MAX * 2];
                snprintf(a, sizeof a, "%s/%s", dir, name);
                snprintf(b, sizeof b, "%s/%s", src, name);
                struct stat st;
                assert_int_equal(lstat(a, &st), 0);
                assert_true(S_ISREG(st.st_mode));
                size_t la, lb;
                unsigned char *ca = test_read_file(a, &la), *cb = test_read_file(b, &lb);
                assert_non_null(ca);
                assert_non_null(cb);
                assert_int_equal(la, lb);
                assert_memory_equal(ca, cb, la);
                free(ca);
                free(cb);
                files++;
            }
        }
    assert_int_equal(files, 20);
}

static void test_split_class_folders_keep_names(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    snprintf(src, sizeof src, "%s/src", f->root);
    const char *classes[] = {"beta", "Alpha", "gamma"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", src, classes[k]);
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
        assert_int_equal(system(cmd), 0);
        for (int i = 0; i < 10 + k; i++) {
            char fp[PATH_MAX * 2];
            snprintf(fp, sizeof fp, "%s/img%02d.png", p, i);
            write_text(fp, classes[k]);
        }
    }
    snprintf(dst, sizeof dst, "%s/dst", f->root);
    split_opts o;
    split_opts_default(&o);
    o.val = 0.2;
    o.test = 0.1;
    split_report r;
    cd_err err;
    assert_int_equal(split_run(src, dst, &o, &r, &err), 0);
    assert_int_equal(r.layout, SPLIT_LAYOUT_FOLDERS);
    assert_int_equal(r.n_classes, 3);
    assert_string_equal(r.class_names[0], "Alpha"); /* byte order: uppercase first */
    assert_string_equal(r.class_names[1], "beta");
    assert_string_equal(r.class_names[2], "gamma");
    /* Alpha has 11: test round(1.1)=1, val round(2.2)=2, train 8. */
    assert_int_equal(r.counts[SPLIT_TEST][0], 1);
    assert_int_equal(r.counts[SPLIT_VALIDATION][0], 2);
    assert_int_equal(r.counts[SPLIT_TRAIN][0], 8);
    /* gamma has 12: test 1, val round(2.4)=2, train 9. */
    assert_int_equal(r.counts[SPLIT_TRAIN][2], 9);
    snprintf(p, sizeof p, "%s/validation/gamma", dst);
    char names[4096];
    assert_int_equal(list_dir(p, names, sizeof names), 2);
}

static void test_split_errors(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    split_opts o;
    split_opts_default(&o);
    cd_err err;
    snprintf(dst, sizeof dst, "%s/dst", f->root);

    snprintf(src, sizeof src, "%s/missing", f->root);
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));

    /* A class folder without images is named. */
    snprintf(src, sizeof src, "%s/folders", f->root);
    snprintf(p, sizeof p, "mkdir -p '%s/cats' '%s/dogs'", src, src);
    assert_int_equal(system(p), 0);
    snprintf(p, sizeof p, "%s/cats/a.jpg", src);
    write_text(p, "x");
    snprintf(p, sizeof p, "%s/dogs/notes.txt", src);
    write_text(p, "x");
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "dogs"));
    assert_non_null(strstr(err.msg, "no images"));

    /* An empty source. */
    snprintf(src, sizeof src, "%s/empty", f->root);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no labelled images"));

    /* Too few images to keep one for training. */
    make_flat(f->root, "tiny", 2, 2, src, sizeof src);
    o.val = o.test = 0.3; /* 2 * 0.3 rounds to 1 each: nothing left */
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "too few"));

    /* Bad fractions. */
    o.val = 0.6;
    o.test = 0.5;
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
    o.val = -0.1;
    o.test = 0.1;
    assert_int_equal(split_run(src, dst, &o, NULL, &err), -1);

    /* DEST inside SOURCE, and SOURCE inside DEST (which --force would delete). */
    split_opts_default(&o);
    o.force = 1;
    snprintf(p, sizeof p, "%s/out", src);
    assert_int_equal(split_run(src, p, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    assert_int_equal(split_run(src, f->root, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    assert_int_equal(access(src, F_OK), 0);
    assert_int_equal(access(dst, F_OK), -1); /* no failed call created DEST */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_split_flat_counts_stratified_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_same_seed_same_split_other_seed_differs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_changing_val_keeps_test_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_refuses_nonempty_dest_and_force_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_copy_makes_regular_files_with_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_class_folders_keep_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
