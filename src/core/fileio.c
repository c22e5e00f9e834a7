/*
 * fileio.c - whole-file reads and atomic writes (see fileio.h).
 */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

unsigned char *cd_read_file(const char *path, size_t max_bytes, size_t *len, cd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cd_err_set(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "cannot open %s: %s", path,
                   strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cd_err_set(err, CD_ERR_IO, "%s is not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    if (max_bytes > 0 && size > max_bytes) {
        cd_err_set(err, CD_ERR_LIMIT, "%s has %zu bytes, over the limit of %zu", path, size,
                   max_bytes);
        close(fd);
        return NULL;
    }
    unsigned char *buf = malloc(size + 1);
    if (!buf) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cd_err_set(err, CD_ERR_IO, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "file shrank while reading");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = 0;
    if (len)
        *len = size;
    return buf;
}

int cd_write_file_atomic(const char *path, const void *data, size_t len, cd_err *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dircopy = strdup(path);
    if (!tmp || !dircopy) {
        free(tmp);
        free(dircopy);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory writing %s", path);
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int rc = -1;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cd_err_set(err, CD_ERR_IO, "cannot create a temporary file for %s: %s", path, strerror(errno));
        goto out;
    }
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            cd_err_set(err, CD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || fchmod(fd, 0644) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot close %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot rename into %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    /* The rename is durable only once the folder's entry is on disk too. */
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(tmp);
    free(dircopy);
    return rc;
}
