/*
 * error.c - filling and describing cd_err records (see error.h).
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cd_err_clear(cd_err *err)
{
    if (!err)
        return;
    err->code = CD_OK;
    err->msg[0] = '\0';
}

int cd_err_set(cd_err *err, cd_code code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

int cd_err_wrap(cd_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[CD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[CD_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return -1;
}

const char *cd_code_name(cd_code code)
{
    switch (code) {
    case CD_OK: return "ok";
    case CD_ERR_IO: return "io";
    case CD_ERR_NOMEM: return "out_of_memory";
    case CD_ERR_FORMAT: return "bad_format";
    case CD_ERR_UNSUPPORTED: return "unsupported";
    case CD_ERR_SHAPE: return "bad_shape";
    case CD_ERR_INVALID: return "invalid_argument";
    case CD_ERR_LIMIT: return "over_limit";
    case CD_ERR_BACKEND: return "backend";
    case CD_ERR_NOTFOUND: return "not_found";
    case CD_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}
