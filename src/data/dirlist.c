/*
 * dirlist.c - sorted folder listings for split and dataset (see dirlist.h).
 */
#include "data/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int dirlist_is_image_name(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strcasecmp(name + len - el, exts[i]) == 0)
            return 1;
    }
    return 0;
}

int dirlist_push(dirlist *l, const char *name, cd_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **names = realloc(l->names, cap * sizeof *names);
        if (!names)
            return cd_err_set(err, CD_ERR_NOMEM, "out of memory listing files");
        l->names = names;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory listing files");
    l->names[l->n++] = copy;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void dirlist_sort(dirlist *l)
{
    if (l->n > 1)
        qsort(l->names, l->n, sizeof *l->names, cmp_names);
}

void dirlist_free(dirlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}

int dirlist_read(const char *dir, dirlist *images, dirlist *subdirs, size_t *ignored, cd_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        return cd_err_set(err, e == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "cannot open folder %s: %s",
                          dir, strerror(e));
    }
    size_t n_ignored = 0;
    size_t dl = strlen(dir);
    char *path = NULL;
    size_t path_cap = 0;
    int rc = 0;
    struct dirent *ent;
    errno = 0;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (name[0] == '.')
            continue;
        size_t need = dl + strlen(name) + 2;
        if (need > path_cap) {
            char *p = realloc(path, need);
            if (!p) {
                rc = cd_err_set(err, CD_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            path = p;
            path_cap = need;
        }
        snprintf(path, path_cap, "%s/%s", dir, name);
        struct stat st;
        int is_dir = 0, is_file = 0;
        if (stat(path, &st) == 0) {
            is_dir = S_ISDIR(st.st_mode);
            is_file = S_ISREG(st.st_mode);
        } else {
            is_file = 1; /* dangling link or vanished entry: decoding reports it */
        }
        if (is_dir) {
            if (subdirs && dirlist_push(subdirs, name, err) < 0) {
                rc = -1;
                break;
            }
            if (!subdirs)
                n_ignored++;
        } else if (is_file && dirlist_is_image_name(name)) {
            if (images && dirlist_push(images, name, err) < 0) {
                rc = -1;
                break;
            }
            if (!images)
                n_ignored++;
        } else {
            n_ignored++;
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = cd_err_set(err, CD_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
    closedir(d);
    free(path);
    if (rc == 0) {
        if (images)
            dirlist_sort(images);
        if (subdirs)
            dirlist_sort(subdirs);
        if (ignored)
            *ignored = n_ignored;
    }
    return rc;
}
