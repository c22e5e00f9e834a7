/*
 * fileio.h - whole-file reads and crash-safe whole-file writes.
 */
#ifndef CATDOG_CORE_FILEIO_H
#define CATDOG_CORE_FILEIO_H

#include <stddef.h>

#include "core/error.h"

/* Reads the file at path into a new buffer (caller frees; one extra NUL byte
 * follows the data so text can be used as a string).  max_bytes > 0 refuses
 * larger files with CD_ERR_LIMIT before reading.  NULL with err filled. */
unsigned char *cd_read_file(const char *path, size_t max_bytes, size_t *len, cd_err *err);

/* Writes len bytes to path atomically: a temporary file in the same folder,
 * fsync, rename, fsync of the folder.  A crash leaves the old file or the new
 * one, never half a file.  Returns 0 or -1. */
int cd_write_file_atomic(const char *path, const void *data, size_t len, cd_err *err);

#endif
