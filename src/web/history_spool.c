/*
 * history_spool.c - the journal of rows the PostgreSQL history acknowledged
 * while the database was unreachable (history.h says why it exists,
 * history_internal.h what each call does).
 *
 * One JSON object per line, appended and fdatasync'ed before the row is
 * acknowledged.  A line without its newline is the tail of an append that a
 * crash cut short: it was never acknowledged and is dropped.  The file is
 * held with flock for as long as it is open, so two processes never write or
 * replay the same file; a file left by a crashed process is free again and
 * the next catdog that opens the folder replays it.  Not thread-safe: the
 * PostgreSQL backend serializes every call under its spool lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "web/history_internal.h"

#define SPOOL_SLOTS 16

struct history_spool {
    int fd;
    long long pending; /* complete lines in the file */
    char path[PATH_MAX];
};

/* The whole file into a new NUL-terminated buffer (*len bytes). */
static char *read_all(history_spool *sp, size_t *len, cd_err *err)
{
    struct stat st;
    if (fstat(sp->fd, &st) != 0) {
        cd_err_set(err, CD_ERR_IO, "spool %s: %s", sp->path, strerror(errno));
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory reading the spool %s", sp->path);
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = pread(sp->fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

static long long count_lines(const char *buf, size_t len)
{
    long long n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    return n;
}

history_spool *history_spool_open(const char *dir, cd_err *err)
{
    history_spool *sp = calloc(1, sizeof *sp);
    if (!sp) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory opening the history spool");
        return NULL;
    }
    sp->fd = -1;
    for (int i = 0; i < SPOOL_SLOTS; i++) {
        snprintf(sp->path, sizeof sp->path, "%s/.history-spool-%d", dir, i);
        int fd = open(sp->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            cd_err_set(err, CD_ERR_IO, "cannot open the history spool %s: %s", sp->path, strerror(errno));
            free(sp);
            return NULL;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            sp->fd = fd;
            break;
        }
        close(fd); /* another live catdog holds this one */
    }
    if (sp->fd < 0) {
        cd_err_set(err, CD_ERR_LIMIT, "all %d history spool files in %s are held by running catdog processes",
                   SPOOL_SLOTS, dir);
        free(sp);
        return NULL;
    }
    size_t len = 0;
    char *buf = read_all(sp, &len, err);
    if (!buf) {
        history_spool_close(sp);
        return NULL;
    }
    sp->pending = count_lines(buf, len);
    /* A torn last line (a crash inside an append) was never acknowledged:
     * cut it off now, or the next append would be glued to it and lost. */
    size_t whole = len;
    while (whole > 0 && buf[whole - 1] != '\n')
        whole--;
    free(buf);
    if (whole < len && (ftruncate(sp->fd, (off_t)whole) != 0 || fsync(sp->fd) != 0)) {
        cd_err_set(err, CD_ERR_IO, "cannot cut the torn last line of the history spool %s: %s", sp->path,
                   strerror(errno));
        history_spool_close(sp);
        return NULL;
    }
    return sp;
}

void history_spool_close(history_spool *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd); /* releases the flock */
    free(sp);
}

const char *history_spool_path(const history_spool *sp)
{
    return sp->path;
}

long long history_spool_pending(history_spool *sp)
{
    return sp->pending;
}

static json_t *rec_json(const history_rec *r)
{
    return json_pack("{s:f,s:s,s:s,s:s,s:I,s:i,s:i,s:s,s:f,s:i,s:f,s:s}", "time", r->time, "sha256", r->sha256,
                     "file", r->file, "name", r->name, "size", (json_int_t)r->size, "width", r->width, "height",
                     r->height, "model", r->model, "p_dog", r->p_dog, "label", r->label, "latency_ms",
                     r->latency_ms, "result", r->result);
}

static int json_rec(json_t *j, history_rec *r)
{
    memset(r, 0, sizeof *r);
    const char *sha = NULL, *file = NULL, *name = NULL, *model = NULL, *result = NULL;
    json_int_t size = 0;
    if (json_unpack(j, "{s:F,s:s,s:s,s:s,s:I,s:i,s:i,s:s,s:F,s:i,s:F,s:s}", "time", &r->time, "sha256", &sha, "file",
                    &file, "name", &name, "size", &size, "width", &r->width, "height", &r->height, "model", &model,
                    "p_dog", &r->p_dog, "label", &r->label, "latency_ms", &r->latency_ms, "result", &result) != 0)
        return -1;
    snprintf(r->sha256, sizeof r->sha256, "%s", sha);
    snprintf(r->file, sizeof r->file, "%s", file);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->result, sizeof r->result, "%s", result);
    r->size = size;
    r->feedback = HISTORY_NO_FEEDBACK;
    return 0;
}

int history_spool_append(history_spool *sp, const history_rec *rec, cd_err *err)
{
    if (!rec->result[0])
        return cd_err_set(err, CD_ERR_INVALID, "a row without a result id cannot be spooled (a replay could not "
                                               "tell whether it is already in the database)");
    json_t *j = rec_json(rec);
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    if (!line)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory spooling a row");
    size_t n = strlen(line);
    struct stat st;
    int rc = -1;
    if (fstat(sp->fd, &st) != 0) {
        cd_err_set(err, CD_ERR_IO, "spool %s: %s", sp->path, strerror(errno));
        goto out;
    }
    line[n] = '\n'; /* json_dumps' NUL becomes the line's end: one write */
    size_t done = 0;
    while (done < n + 1) {
        ssize_t w = write(sp->fd, line + done, n + 1 - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cd_err_set(err, CD_ERR_IO, "cannot append to the history spool %s: %s", sp->path,
                       w < 0 ? strerror(errno) : "nothing written");
            if (ftruncate(sp->fd, st.st_size) != 0) { /* no half line left behind */
            }
            goto out;
        }
        done += (size_t)w;
    }
    if (fdatasync(sp->fd) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot sync the history spool %s: %s", sp->path, strerror(errno));
        goto out;
    }
    sp->pending++;
    rc = 0;
out:
    free(line);
    return rc;
}

int history_spool_replay(history_spool *sp, history_spool_put_fn put, void *ctx, long long *replayed, cd_err *err)
{
    *replayed = 0;
    size_t len = 0;
    char *buf = read_all(sp, &len, err);
    if (!buf)
        return -1;
    int rc = 0;
    char *p = buf;
    for (char *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        *nl = '\0';
        json_t *j = json_loads(p, 0, NULL);
        history_rec r;
        int bad = !j || json_rec(j, &r) != 0;
        json_decref(j);
        if (bad)
            continue; /* cannot be: every line was written whole by spool_append */
        if (put(&r, ctx, err) != 0) {
            rc = -1; /* the rest, and those already in, stay for the next replay (idempotent) */
            break;
        }
        (*replayed)++;
    }
    free(buf);
    if (rc == 0) {
        if (ftruncate(sp->fd, 0) != 0 || fsync(sp->fd) != 0)
            return cd_err_set(err, CD_ERR_IO, "cannot empty the history spool %s: %s (its rows are in the "
                                              "database; a later replay skips them)",
                              sp->path, strerror(errno));
        sp->pending = 0;
    }
    return rc;
}
