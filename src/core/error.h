/*
 * error.h - the error record every catdog library call fills.
 *
 * Library code never prints and never exits: a function that can fail returns
 * a status (0 on success, -1 on failure, or NULL for constructors) and, on
 * failure, fills the caller's cd_err with a code and a one-line message that
 * names the thing at fault (file, layer, shape) so `main` or a request handler
 * can show it to a user as is.  Passing err == NULL is allowed: the message is
 * then dropped.
 */
#ifndef CATDOG_CORE_ERROR_H
#define CATDOG_CORE_ERROR_H

#include <stddef.h>

typedef enum cd_code {
    CD_OK = 0,
    CD_ERR_IO,          /* a file or socket operation failed */
    CD_ERR_NOMEM,       /* an allocation failed */
    CD_ERR_FORMAT,      /* input bytes are not what they claim to be */
    CD_ERR_UNSUPPORTED, /* valid input we do not handle (layer class, codec feature) */
    CD_ERR_SHAPE,       /* tensor/weight shapes do not agree */
    CD_ERR_INVALID,     /* a bad argument or option value */
    CD_ERR_LIMIT,       /* input over a configured limit (pixels, bytes) */
    CD_ERR_BACKEND,     /* oneDNN / HDF5 / SQLite reported a failure */
    CD_ERR_NOTFOUND,    /* a named thing (file, layer, weight) does not exist */
    CD_ERR_INTERRUPTED  /* stopped on request (Ctrl-C) */
} cd_code;

#define CD_ERR_MSG_MAX 512

typedef struct cd_err {
    cd_code code;
    char msg[CD_ERR_MSG_MAX];
} cd_err;

/* Clears err (code CD_OK, empty message).  err may be NULL. */
void cd_err_clear(cd_err *err);

/* Fills err with code and a printf-style message; returns -1 so callers can
 * write `return cd_err_set(err, CD_ERR_IO, "cannot open %s: %s", p, strerror(errno));`.
 * err may be NULL. */
int cd_err_set(cd_err *err, cd_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("loading model.h5: ...").
 * Returns -1.  err may be NULL. */
int cd_err_wrap(cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short stable name for a code ("io", "format", ...), for JSON errors and logs. */
const char *cd_code_name(cd_code code);

#endif
