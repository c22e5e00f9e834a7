/*
 * dirlist.h - sorted listings of a folder's images and subfolders (private to
 * src/data: shared by split.c and dataset.c so both read folders the same way).
 *
 * Hidden entries (names starting with '.') are skipped.  Entries are classified
 * by stat(), which follows symbolic links, so a split made of links reads like
 * one made of copies; a dangling link with an image name is still listed as an
 * image (decoding it fails later, where failures are counted).  Images are
 * recognised by extension: .jpg .jpeg .png .webp in any case.  Names are sorted
 * by strcmp (byte order), matching Python's sorted() on UTF-8 names as Keras uses.
 */
#ifndef CATDOG_DATA_DIRLIST_H
#define CATDOG_DATA_DIRLIST_H

#include <stddef.h>

#include "core/error.h"

typedef struct dirlist {
    size_t n, cap;
    char **names;   /* owned, sorted */
} dirlist;

/* 1 when name ends in an image extension. */
int dirlist_is_image_name(const char *name);

/* Lists dir: image files into *images, subfolders into *subdirs (either may be
 * NULL to skip that kind); *ignored (may be NULL) receives the number of other
 * non-hidden entries.  The lists must be zeroed or freed before.  Returns 0 or
 * -1 (CD_ERR_NOTFOUND when dir does not exist, CD_ERR_IO otherwise). */
int dirlist_read(const char *dir, dirlist *images, dirlist *subdirs, size_t *ignored, cd_err *err);

/* Appends a copy of name (unsorted); returns 0 or -1 on allocation failure. */
int dirlist_push(dirlist *l, const char *name, cd_err *err);

/* Sorts by strcmp. */
void dirlist_sort(dirlist *l);

void dirlist_free(dirlist *l);

#endif
