/*
 * split.c - `catdog split`'s library half: reads a flat (Kaggle) or foldered
 * source, splits each class deterministically and writes links or copies into
 * DEST/{train,validation,test}/<class>/ (see split.h for the rules).
 */
#include "data/split.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dirlist.h"
#include "data/rng.h"

#define COPY_BUF (1 << 20)

const char *split_part_name(int part)
{
    switch (part) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_VALIDATION: return "validation";
    case SPLIT_TEST: return "test";
    default: return "?";
    }
}

void split_opts_default(split_opts *o)
{
    memset(o, 0, sizeof *o);
    o->val = 0.15;
    o->test = 0.15;
    o->seed = 42;
    o->mode = SPLIT_LINK;
    o->force = 0;
}

/* One class of the source: its destination folder name, the folder its files
 * are in (absolute), and their names. */
typedef struct split_class {
    char name[SPLIT_NAME_MAX];
    char *dir;
    dirlist files;
} split_class;

typedef struct split_classes {
    int n;
    split_class c[SPLIT_MAX_CLASSES];
} split_classes;

static void classes_free(split_classes *cs)
{
    for (int i = 0; i < cs->n; i++) {
        free(cs->c[i].dir);
        dirlist_free(&cs->c[i].files);
    }
    cs->n = 0;
}

/* Finds or adds a class by folder name; returns its index or -1. */
static int classes_get(split_classes *cs, const char *name, const char *dir, cd_err *err)
{
    for (int i = 0; i < cs->n; i++)
        if (strcmp(cs->c[i].name, name) == 0)
            return i;
    if (cs->n == SPLIT_MAX_CLASSES)
        return cd_err_set(err, CD_ERR_LIMIT, "more than %d classes (at '%s')", SPLIT_MAX_CLASSES, name);
    if (strlen(name) >= SPLIT_NAME_MAX)
        return cd_err_set(err, CD_ERR_LIMIT, "class name too long: '%.60s...'", name);
    split_class *c = &cs->c[cs->n];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dir = strdup(dir);
    if (!c->dir)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    return cs->n++;
}

static int cmp_class(const void *a, const void *b)
{
    return strcmp(((const split_class *)a)->name, ((const split_class *)b)->name);
}

/* Kaggle layout: "<label>.<anything>.<ext>" -> class "<label>s". */
static int scan_flat(const char *src, const dirlist *images, split_classes *cs, size_t *ignored,
                     cd_err *err)
{
    for (size_t i = 0; i < images->n; i++) {
        const char *name = images->names[i];
        const char *dot = strchr(name, '.');
        if (!dot || dot == name || !strchr(dot + 1, '.')) {
            (*ignored)++;
            continue;
        }
        char label[SPLIT_NAME_MAX];
        size_t len = (size_t)(dot - name);
        if (len + 2 > sizeof label)
            return cd_err_set(err, CD_ERR_LIMIT, "label too long in file name %s", name);
        memcpy(label, name, len);
        label[len] = 0;
        if (label[len - 1] != 's') {
            label[len] = 's';
            label[len + 1] = 0;
        }
        int k = classes_get(cs, label, src, err);
        if (k < 0)
            return -1;
        if (dirlist_push(&cs->c[k].files, name, err) < 0)
            return -1;
    }
    return 0;
}

static int scan_folders(const char *src, const dirlist *subdirs, split_classes *cs, size_t *ignored,
                        cd_err *err)
{
    for (size_t i = 0; i < subdirs->n; i++) {
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", src, subdirs->names[i]) >= sizeof dir)
            return cd_err_set(err, CD_ERR_LIMIT, "path too long: %s/%s", src, subdirs->names[i]);
        int k = classes_get(cs, subdirs->names[i], dir, err);
        if (k < 0)
            return -1;
        size_t ign = 0;
        if (dirlist_read(dir, &cs->c[k].files, NULL, &ign, err) < 0)
            return -1;
        *ignored += ign;
        if (cs->c[k].files.n == 0)
            return cd_err_set(err, CD_ERR_INVALID,
                              "class folder %s has no images (.jpg, .jpeg, .png, .webp)", dir);
    }
    return 0;
}

/* Resolves a path that may not exist yet: realpath() of its deepest existing
 * ancestor plus the remaining components. */
static int resolve_path(const char *path, char *out, size_t out_size, cd_err *err)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return cd_err_set(err, CD_ERR_LIMIT, "path too long: %s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = 0;
    char tail[PATH_MAX] = "";
    for (;;) {
        char res[PATH_MAX];
        if (realpath(buf[0] ? buf : ".", res)) {
            if ((size_t)snprintf(out, out_size, "%s%s", strcmp(res, "/") == 0 && tail[0] ? "" : res,
                                 tail) >= out_size)
                return cd_err_set(err, CD_ERR_LIMIT, "path too long: %s", path);
            return 0;
        }
        if (errno != ENOENT)
            return cd_err_set(err, CD_ERR_IO, "cannot resolve %s: %s", path, strerror(errno));
        char *slash = strrchr(buf, '/');
        const char *comp = slash ? slash + 1 : buf;
        if (strcmp(comp, "..") == 0)
            return cd_err_set(err, CD_ERR_INVALID, "cannot resolve %s: '..' after a missing folder", path);
        char t2[PATH_MAX];
        if (strcmp(comp, ".") != 0) {
            if ((size_t)snprintf(t2, sizeof t2, "/%s%s", comp, tail) >= sizeof t2)
                return cd_err_set(err, CD_ERR_LIMIT, "path too long: %s", path);
            memcpy(tail, t2, strlen(t2) + 1);
        }
        if (!slash)
            buf[0] = 0;
        else if (slash == buf)
            buf[1] = 0;
        else
            *slash = 0;
    }
}

/* 1 when a equals b or lies under it (both resolved). */
static int path_within(const char *a, const char *b)
{
    size_t lb = strlen(b);
    if (strcmp(b, "/") == 0)
        return 1;
    return strncmp(a, b, lb) == 0 && (a[lb] == 0 || a[lb] == '/');
}

static int mkdir_p(const char *path, cd_err *err)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return cd_err_set(err, CD_ERR_LIMIT, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return cd_err_set(err, CD_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
                return cd_err_set(err, CD_ERR_IO, "%s exists and is not a folder", buf);
            *p = c;
            if (c == 0)
                break;
        }
    }
    return 0;
}

/* Removes path and, when it is a real folder (not a link), everything under it. */
static int remove_tree(const char *path, cd_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return cd_err_set(err, CD_ERR_IO, "cannot inspect %s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0)
            return cd_err_set(err, CD_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return cd_err_set(err, CD_ERR_IO, "cannot open folder %s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        if ((size_t)snprintf(child, sizeof child, "%s/%s", path, ent->d_name) >= sizeof child)
            rc = cd_err_set(err, CD_ERR_LIMIT, "path too long under %s", path);
        else
            rc = remove_tree(child, err);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) < 0)
        rc = cd_err_set(err, CD_ERR_IO, "cannot remove folder %s: %s", path, strerror(errno));
    return rc;
}

/* 1 when dir has any entry besides . and .., 0 when empty, -1 on error. */
static int dir_nonempty(const char *dir, cd_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return cd_err_set(err, CD_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *ent;
    int found = 0;
    while ((ent = readdir(d)) != NULL)
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) {
            found = 1;
            break;
        }
    closedir(d);
    return found;
}

static int copy_file(const char *from, const char *to, unsigned char *buf, cd_err *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cd_err_set(err, CD_ERR_IO, "cannot open %s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return cd_err_set(err, CD_ERR_IO, "cannot create %s: %s", to, strerror(e));
    }
    int rc = 0;
    for (;;) {
        ssize_t got = read(in, buf, COPY_BUF);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = cd_err_set(err, CD_ERR_IO, "cannot read %s: %s", from, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(out, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                rc = cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", to, strerror(errno));
                break;
            }
            off += put;
        }
        if (rc)
            break;
    }
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", to, strerror(errno));
    return rc;
}

static int check_opts(const split_opts *o, cd_err *err)
{
    if (!(o->val >= 0 && o->val < 1))
        return cd_err_set(err, CD_ERR_INVALID, "validation fraction %g is not in [0, 1)", o->val);
    if (!(o->test >= 0 && o->test < 1))
        return cd_err_set(err, CD_ERR_INVALID, "test fraction %g is not in [0, 1)", o->test);
    if (!(o->val + o->test < 1))
        return cd_err_set(err, CD_ERR_INVALID,
                          "validation + test fractions (%g + %g) leave nothing to train on", o->val,
                          o->test);
    return 0;
}

/* Writes one class: shuffles its sorted names and places links or copies. */
static int write_class(const split_class *c, const char *dest, const split_opts *o, unsigned char *buf,
                       size_t counts[SPLIT_PARTS], cd_err *err)
{
    size_t n = c->files.n;
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory splitting %s", c->name);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    rng r;
    rng_init(&r, rng_derive(o->seed, rng_hash_str(c->name)));
    rng_shuffle(&r, perm, n);
    size_t n_test = (size_t)llround((double)n * o->test);
    size_t n_val = (size_t)llround((double)n * o->val);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int part = i < n_test ? SPLIT_TEST : i < n_test + n_val ? SPLIT_VALIDATION : SPLIT_TRAIN;
        const char *name = c->files.names[perm[i]];
        char from[PATH_MAX], to[PATH_MAX];
        if ((size_t)snprintf(from, sizeof from, "%s/%s", c->dir, name) >= sizeof from ||
            (size_t)snprintf(to, sizeof to, "%s/%s/%s/%s", dest, split_part_name(part), c->name, name) >=
                sizeof to) {
            rc = cd_err_set(err, CD_ERR_LIMIT, "path too long for %s", name);
            break;
        }
        if (o->mode == SPLIT_COPY) {
            rc = copy_file(from, to, buf, err);
        } else if (symlink(from, to) < 0) {
            rc = cd_err_set(err, CD_ERR_IO, "cannot create link %s: %s", to, strerror(errno));
        }
        if (rc == 0)
            counts[part]++;
    }
    free(perm);
    return rc;
}

int split_run(const char *source, const char *dest, const split_opts *opts, split_report *report,
              cd_err *err)
{
    split_report local;
    split_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    if (!source || !dest || !opts)
        return cd_err_set(err, CD_ERR_INVALID, "split: source, destination and options are required");
    if (check_opts(opts, err) < 0)
        return -1;

    char src[PATH_MAX];
    if (!realpath(source, src)) {
        int e = errno;
        return cd_err_set(err, e == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "source folder %s: %s", source,
                          strerror(e));
    }
    struct stat st;
    if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
        return cd_err_set(err, CD_ERR_INVALID, "source %s is not a folder", source);
    snprintf(rep->source_abs, sizeof rep->source_abs, "%s", src);

    char dst[PATH_MAX];
    if (resolve_path(dest, dst, sizeof dst, err) < 0)
        return -1;
    if (path_within(dst, src) || path_within(src, dst))
        return cd_err_set(err, CD_ERR_INVALID,
                          "source %s and destination %s overlap (one contains the other)", source, dest);

    split_classes cs;
    memset(&cs, 0, sizeof cs);
    dirlist images = {0}, subdirs = {0};
    unsigned char *buf = NULL;
    size_t ignored = 0;
    int rc = dirlist_read(src, &images, &subdirs, &ignored, err);
    if (rc == 0) {
        if (images.n > 0) {
            rep->layout = SPLIT_LAYOUT_FLAT;
            ignored += subdirs.n;
            rc = scan_flat(src, &images, &cs, &ignored, err);
        } else {
            rep->layout = SPLIT_LAYOUT_FOLDERS;
            rc = scan_folders(src, &subdirs, &cs, &ignored, err);
        }
    }
    if (rc == 0 && cs.n == 0)
        rc = cd_err_set(err, CD_ERR_INVALID,
                        "no labelled images in %s (expected files like cat.0.jpg, or one subfolder per class)",
                        source);
    if (rc == 0) {
        qsort(cs.c, (size_t)cs.n, sizeof cs.c[0], cmp_class);
        for (int i = 0; i < cs.n && rc == 0; i++) {
            size_t n = cs.c[i].files.n;
            size_t held_out = (size_t)llround((double)n * opts->test) + (size_t)llround((double)n * opts->val);
            if (held_out >= n)
                rc = cd_err_set(err, CD_ERR_INVALID,
                                "class %s has only %zu images: too few to leave one for training", cs.c[i].name,
                                n);
        }
    }

    /* Only now touch DEST. */
    if (rc == 0 && stat(dst, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            rc = cd_err_set(err, CD_ERR_INVALID, "destination %s exists and is not a folder", dest);
        } else {
            int ne = dir_nonempty(dst, err);
            if (ne < 0)
                rc = -1;
            else if (ne && !opts->force)
                rc = cd_err_set(err, CD_ERR_INVALID,
                                "destination %s is not empty (use --force to replace its train/, validation/ and test/)",
                                dest);
            else if (ne)
                for (int p = 0; p < SPLIT_PARTS && rc == 0; p++) {
                    char part[PATH_MAX];
                    snprintf(part, sizeof part, "%s/%s", dst, split_part_name(p));
                    rc = remove_tree(part, err);
                }
        }
    }
    for (int p = 0; p < SPLIT_PARTS && rc == 0; p++)
        for (int i = 0; i < cs.n && rc == 0; i++) {
            char dir[PATH_MAX];
            if ((size_t)snprintf(dir, sizeof dir, "%s/%s/%s", dst, split_part_name(p), cs.c[i].name) >= sizeof dir)
                rc = cd_err_set(err, CD_ERR_LIMIT, "path too long under %s", dest);
            else
                rc = mkdir_p(dir, err);
        }
    if (rc == 0 && opts->mode == SPLIT_COPY && !(buf = malloc(COPY_BUF)))
        rc = cd_err_set(err, CD_ERR_NOMEM, "out of memory");

    rep->n_classes = cs.n;
    for (int i = 0; i < cs.n; i++)
        snprintf(rep->class_names[i], sizeof rep->class_names[i], "%s", cs.c[i].name);
    for (int i = 0; i < cs.n && rc == 0; i++) {
        size_t counts[SPLIT_PARTS] = {0};
        rc = write_class(&cs.c[i], dst, opts, buf, counts, err);
        for (int p = 0; p < SPLIT_PARTS; p++)
            rep->counts[p][i] = counts[p];
    }
    rep->ignored = ignored;

    free(buf);
    dirlist_free(&images);
    dirlist_free(&subdirs);
    classes_free(&cs);
    return rc;
}
