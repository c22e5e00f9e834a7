/*
 * store.h - the upload folder: photos kept under their content's name.
 *
 * A photo is stored as <sha256>.<ext> (ext from its sniffed format), so the
 * client's file name never becomes a path and the same photo sent twice is
 * stored once.  Writing goes to a temporary file in the same folder, which is
 * fsync'd, renamed into place and followed by an fsync of the folder: after a
 * crash the folder holds whole photos or nothing (stale temporaries from a
 * crash are removed when the store is opened).  store_put returns only once
 * the photo and its directory entry are on disk, even when it found the photo
 * already there, so an upload is acknowledged only with a durable photo.
 *
 * Names accepted from URLs (GET /upload/<name>, /photos/<name>) go through
 * store_name_valid, and files are opened relative to the folder with
 * O_NOFOLLOW, so no name can reach outside it.
 *
 * Thread-safe: concurrent store_put of the same content is harmless (both
 * renames install identical bytes).  The folder fsync that store_put needs is
 * shared by the concurrent callers (one fsync that starts after a caller's
 * rename covers it; store.c), so uploads arriving together pay for one disk
 * flush, not one each; each call still returns only once its photo is durable.
 */
#ifndef CATDOG_WEB_STORE_H
#define CATDOG_WEB_STORE_H

#include <stddef.h>

#include "core/error.h"

#define STORE_NAME_MAX 128   /* longest file name store_name_valid accepts */
#define STORE_SHA_HEX 65     /* 64 hex digits + NUL */

typedef struct store store;

/* Opens (creating when missing, one level) the folder `dir` and checks it is a
 * writable directory.  NULL with err on failure. */
store *store_new(const char *dir, cd_err *err);
void store_free(store *s);

/* Removes temporaries a crash left behind, safely when several servers share
 * the folder (replicas on one filesystem, deploy/README.md): a temporary's name
 * carries its writer's host (a hash of gethostname) and process id, and is
 * removed when that writer is on this host and no longer alive, or when it is
 * older than STORE_STALE_AGE_S whoever wrote it (no write takes that long; this
 * also covers writers on other hosts).  A live writer's file is never taken
 * from under it.  Call at start-up, before this process writes.  Returns how
 * many were removed. */
#define STORE_STALE_AGE_S 3600
int store_remove_stale(store *s);

/* The same, with the clock and the "is this pid alive" check given (tests). */
int store_remove_stale_at(store *s, long long now_s, int (*alive)(int pid));

/* This host's tag in temporaries' names: ".tmp-<pid>-<tag as %08x>-<random>-<name>". */
unsigned store_host_tag(void);

/* The folder as given (borrowed). */
const char *store_dir(const store *s);

/* SHA-256 of bytes as 64 lowercase hex digits (OpenSSL libcrypto).  Returns 0 or -1. */
int store_sha256_hex(const unsigned char *bytes, size_t len, char out[STORE_SHA_HEX], cd_err *err);

/* Stores bytes as <sha_hex>.<ext>; name_out (STORE_NAME_MAX+1 bytes) receives the
 * file name, *existed = 1 when an identical file was already there.  On failure
 * returns -1 with err filled, no partial file left behind, and *sys_errno set to
 * the failing call's errno (ENOSPC/EDQUOT mean "disk full"; 0 when not a system
 * error).  sys_errno and existed may be NULL. */
int store_put(store *s, const unsigned char *bytes, size_t len, const char *sha_hex, const char *ext,
              char *name_out, int *existed, int *sys_errno, cd_err *err);

/* 1 when `name` may name a file in the folder: 1..STORE_NAME_MAX bytes of
 * A-Z a-z 0-9 . _ -, not starting with '.', so no "/", "..", or hidden files. */
int store_name_valid(const char *name);

/* Reads the whole regular file `name` (validated as above) into a malloc'd
 * buffer (caller frees), refusing files over max_bytes (CD_ERR_LIMIT).
 * A missing file is CD_ERR_NOTFOUND. */
unsigned char *store_read(const store *s, const char *name, size_t max_bytes, size_t *len, cd_err *err);

/* Writes bytes as file `name` in subfolder `sub` (created on demand) the same
 * crash-safe way (used for thumbnails).  Returns 0 or -1. */
int store_put_named(store *s, const char *sub, const char *name, const unsigned char *bytes, size_t len,
                    cd_err *err);

/* Removes `sub`/`name` if present (0 when removed or absent, -1 on error). */
int store_remove_named(store *s, const char *sub, const char *name, cd_err *err);

/* Reads `sub`/`name` like store_read (thumbnails). */
unsigned char *store_read_sub(const store *s, const char *sub, const char *name, size_t max_bytes, size_t *len,
                              cd_err *err);

#endif
