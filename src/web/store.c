/*
 * store.c - the content-addressed upload folder (see store.h).
 *
 * All file operations are relative to a directory descriptor opened once, so a
 * name can never climb out of the folder, and a rename within it is atomic.
 *
 * Group sync of the folder: every upload needs the folder synced after it
 * renamed its photo in, or after it found the photo already there (another
 * request may not have synced its rename yet).  On ext4 an fsync of a folder
 * costs a disk cache flush even when nothing changed (3 ms on the development
 * machine's virtual disk), so one per upload both delays every answer and
 * queues the flushes of concurrent uploads one behind the other.  So a caller
 * takes a ticket; a folder fsync that *starts* after the ticket was taken
 * covers it (the caller's rename, or the rename it saw, came before).  The first
 * caller that finds no fsync running runs one for every ticket taken so far; the
 * callers arriving meanwhile wait for the next one, which one of them runs.
 */
#include "web/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <pthread.h>

#define TMP_PREFIX ".tmp-"

struct store {
    char *dir;
    int dirfd;
    /* The group sync of dirfd (store_sync_folder), all under sync_lock: */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_done_cv;
    unsigned long long tickets;     /* taken so far */
    unsigned long long synced;      /* every ticket up to this is covered by an fsync that worked */
    unsigned long long failed;      /* ... up to this by one that failed (with failed_errno) */
    int failed_errno;
    int syncing;                    /* 1 while a caller runs the fsync */
};

/* A temporary is named TMP_PREFIX "<pid>-<host tag>-<random>-<final name>"
 * (store_remove_stale's rule needs the writer); the tag, a hash of the host
 * name, keeps odd host names out of file names. */
unsigned store_host_tag(void)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = host; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static int pid_alive(int pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int store_remove_stale_at(store *s, long long now_s, int (*alive)(int pid))
{
    int dup_fd = dup(s->dirfd);
    if (dup_fd < 0)
        return 0;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return 0;
    }
    unsigned mine = store_host_tag();
    int self = (int)getpid(), n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0)
            continue;
        int pid = 0;
        unsigned tag = 0;
        int tagged = sscanf(e->d_name + sizeof TMP_PREFIX - 1, "%d-%8x-", &pid, &tag) == 2 && pid > 0;
        /* Our own pid cannot have a write in progress yet (we are called
         * first), so a file with it is from a dead process whose pid came back. */
        int dead_here = tagged && tag == mine && (pid == self || !alive(pid));
        struct stat st;
        int old = fstatat(s->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  now_s - (long long)st.st_mtime > STORE_STALE_AGE_S;
        if ((dead_here || old) && unlinkat(s->dirfd, e->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

int store_remove_stale(store *s)
{
    return store_remove_stale_at(s, (long long)time(NULL), pid_alive);
}

store *store_new(const char *dir, cd_err *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cd_err_set(err, CD_ERR_IO, "cannot create upload folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        cd_err_set(err, CD_ERR_IO, "cannot open upload folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        cd_err_set(err, CD_ERR_IO, "upload folder %s is not writable: %s", dir, strerror(errno));
        close(fd);
        return NULL;
    }
    store *s = calloc(1, sizeof *s);
    char *copy = strdup(dir);
    int locks = 0;
    if (s && pthread_mutex_init(&s->sync_lock, NULL) == 0) {
        locks = 1;
        if (pthread_cond_init(&s->sync_done_cv, NULL) == 0)
            locks = 2;
    }
    if (!s || !copy || locks < 2) {
        if (locks >= 1)
            pthread_mutex_destroy(&s->sync_lock);
        free(s);
        free(copy);
        close(fd);
        cd_err_set(err, CD_ERR_NOMEM, "out of memory opening upload folder %s", dir);
        return NULL;
    }
    s->dir = copy;
    s->dirfd = fd;
    return s;
}

void store_free(store *s)
{
    if (!s)
        return;
    close(s->dirfd);
    pthread_cond_destroy(&s->sync_done_cv);
    pthread_mutex_destroy(&s->sync_lock);
    free(s->dir);
    free(s);
}

/* Makes every change to the folder made before the call durable (see the
 * top of the file): 0, or -1 with errno from the fsync that covered it. */
static int store_sync_folder(store *s)
{
    pthread_mutex_lock(&s->sync_lock);
    unsigned long long ticket = ++s->tickets;
    int rc = 0, e = 0;
    for (;;) {
        /* A failure covering the ticket wins over a later success: the write
         * back that failed may be what this caller depends on. */
        if (s->failed >= ticket) {
            rc = -1;
            e = s->failed_errno;
            break;
        }
        if (s->synced >= ticket)
            break;
        if (s->syncing) {
            pthread_cond_wait(&s->sync_done_cv, &s->sync_lock);
            continue;
        }
        unsigned long long upto = s->tickets; /* all taken before this fsync starts */
        s->syncing = 1;
        pthread_mutex_unlock(&s->sync_lock);
        int r = fsync(s->dirfd);
        int fe = errno;
        pthread_mutex_lock(&s->sync_lock);
        s->syncing = 0;
        if (r == 0) {
            s->synced = upto;
        } else {
            s->failed = upto;
            s->failed_errno = fe;
        }
        pthread_cond_broadcast(&s->sync_done_cv);
    }
    pthread_mutex_unlock(&s->sync_lock);
    errno = e;
    return rc;
}

const char *store_dir(const store *s)
{
    return s->dir;
}

int store_sha256_hex(const unsigned char *bytes, size_t len, char out[STORE_SHA_HEX], cd_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(bytes, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return cd_err_set(err, CD_ERR_BACKEND, "SHA-256 failed (OpenSSL EVP_Digest)");
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int store_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STORE_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Writes all of bytes to fd, retrying short writes and EINTR. */
static int write_all(int fd, const unsigned char *bytes, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, bytes, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        bytes += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Opens (creating) subfolder `sub` of the store, or dups the store's fd when sub is NULL. */
static int open_sub(const store *s, const char *sub, int create)
{
    if (!sub)
        return dup(s->dirfd);
    if (create && mkdirat(s->dirfd, sub, 0755) != 0 && errno != EEXIST)
        return -1;
    return openat(s->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* tmp + write + fsync + rename + fsync(dir) of `name` in directory fd; the
 * folder sync is the group one when dfd is the store's own (group not NULL). */
static int write_atomically(int dfd, store *group, const char *shown_dir, const char *name,
                            const unsigned char *bytes, size_t len, int *sys_errno, cd_err *err)
{
    unsigned long long rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (unsigned long long)getpid() ^ (unsigned long long)(size_t)bytes;
    char tmp[STORE_NAME_MAX + 96];
    snprintf(tmp, sizeof tmp, TMP_PREFIX "%d-%08x-%016llx-%.128s", (int)getpid(), store_host_tag(), rnd, name);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    const char *what = "create";
    if (fd < 0)
        goto fail;
    what = "write";
    if (write_all(fd, bytes, len) != 0)
        goto fail_close;
    what = "sync";
    if (fsync(fd) != 0)
        goto fail_close;
    what = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail_unlink;
    }
    fd = -1;
    what = "rename";
    if (renameat(dfd, tmp, dfd, name) != 0)
        goto fail_unlink;
    /* The rename is durable only once the directory itself is synced. */
    if ((group ? store_sync_folder(group) : fsync(dfd)) != 0) {
        what = "sync folder";
        goto fail;
    }
    return 0;

fail_close : {
    int e = errno;
    close(fd);
    errno = e;
}
fail_unlink : {
    int e = errno;
    unlinkat(dfd, tmp, 0);
    errno = e;
}
fail:
    if (sys_errno)
        *sys_errno = errno;
    return cd_err_set(err, CD_ERR_IO, "cannot %s %s/%s: %s", what, shown_dir, name, strerror(errno));
}

int store_put(store *s, const unsigned char *bytes, size_t len, const char *sha_hex, const char *ext,
              char *name_out, int *existed, int *sys_errno, cd_err *err)
{
    if (existed)
        *existed = 0;
    if (sys_errno)
        *sys_errno = 0;
    snprintf(name_out, STORE_NAME_MAX + 1, "%.64s.%.8s", sha_hex, ext);
    if (!store_name_valid(name_out))
        return cd_err_set(err, CD_ERR_INVALID, "bad stored name '%s'", name_out);
    struct stat st;
    if (fstatat(s->dirfd, name_out, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size == len) {
        /* Another request may have renamed this file into place and not yet
         * synced the folder: sync it here too, so this upload is never
         * acknowledged with a photo a power cut could still take away (a
         * group sync: concurrent uploads share one fsync). */
        if (store_sync_folder(s) != 0) {
            if (sys_errno)
                *sys_errno = errno;
            return cd_err_set(err, CD_ERR_IO, "cannot sync folder %s: %s", s->dir, strerror(errno));
        }
        if (existed)
            *existed = 1;
        return 0;
    }
    return write_atomically(s->dirfd, s, s->dir, name_out, bytes, len, sys_errno, err);
}

int store_put_named(store *s, const char *sub, const char *name, const unsigned char *bytes, size_t len,
                    cd_err *err)
{
    if (!store_name_valid(name) || (sub && !store_name_valid(sub)))
        return cd_err_set(err, CD_ERR_INVALID, "bad file name '%s'", name);
    int dfd = open_sub(s, sub, 1);
    if (dfd < 0)
        return cd_err_set(err, CD_ERR_IO, "cannot open %s/%s: %s", s->dir, sub ? sub : ".", strerror(errno));
    int rc = write_atomically(dfd, sub ? NULL : s, s->dir, name, bytes, len, NULL, err);
    close(dfd);
    return rc;
}

int store_remove_named(store *s, const char *sub, const char *name, cd_err *err)
{
    if (!store_name_valid(name) || (sub && !store_name_valid(sub)))
        return cd_err_set(err, CD_ERR_INVALID, "bad file name '%s'", name);
    int dfd = open_sub(s, sub, 0);
    if (dfd < 0)
        return errno == ENOENT ? 0 : cd_err_set(err, CD_ERR_IO, "cannot open %s/%s: %s", s->dir, sub, strerror(errno));
    int rc = 0;
    if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
        rc = cd_err_set(err, CD_ERR_IO, "cannot remove %s/%s/%s: %s", s->dir, sub ? sub : ".", name, strerror(errno));
    close(dfd);
    return rc;
}

static unsigned char *read_at(int dfd, const char *shown, const char *name, size_t max_bytes, size_t *len,
                              cd_err *err)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        cd_err_set(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "cannot open %s/%s: %s", shown, name,
                   strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cd_err_set(err, CD_ERR_NOTFOUND, "%s/%s is not a regular file", shown, name);
        close(fd);
        return NULL;
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        cd_err_set(err, CD_ERR_LIMIT, "%s/%s is larger than %zu bytes", shown, name, max_bytes);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory reading %s/%s", shown, name);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cd_err_set(err, CD_ERR_IO, "cannot read %s/%s: %s", shown, name, r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

unsigned char *store_read(const store *s, const char *name, size_t max_bytes, size_t *len, cd_err *err)
{
    if (!store_name_valid(name)) {
        cd_err_set(err, CD_ERR_INVALID, "bad file name");
        return NULL;
    }
    return read_at(s->dirfd, s->dir, name, max_bytes, len, err);
}

unsigned char *store_read_sub(const store *s, const char *sub, const char *name, size_t max_bytes, size_t *len,
                              cd_err *err)
{
    if (!store_name_valid(name) || !store_name_valid(sub)) {
        cd_err_set(err, CD_ERR_INVALID, "bad file name");
        return NULL;
    }
    int dfd = open_sub(s, sub, 0);
    if (dfd < 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "no %s/%s", s->dir, sub);
        return NULL;
    }
    unsigned char *buf = read_at(dfd, s->dir, name, max_bytes, len, err);
    close(dfd);
    return buf;
}
