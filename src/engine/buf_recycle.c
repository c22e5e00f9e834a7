/*
 * buf_recycle.c - the cache of large aligned buffers described in buf_recycle.h.
 *
 * A small array searched linearly: a process keeps at most MAX_KEPT large
 * buffers (one per activation, gradient or scratchpad of the plans it recently
 * freed: with 128, tests/transfer/test_transfer_train took 17.7 s, with 1024
 * 14.8 s), so a best-fit scan under one mutex costs nothing next to the pages it
 * saves from the kernel.
 */
#include "engine/buf_recycle.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KEPT_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KEPT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KEPT_POISON(p, n) ((void)(p), (void)(n))
#define KEPT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MAX_KEPT 1024
#define ROUND ((size_t)64 * 1024)      /* sizes kept are multiples of this */
#define CAP_MAX ((size_t)1 << 30)

typedef struct kept {
    void *buf;
    size_t size;
    unsigned long age;                 /* put order: the smallest goes first */
} kept;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static kept cache[MAX_KEPT];           /* guarded by mu, as are the three below */
static int n_kept;
static size_t bytes_kept, cap;
static unsigned long clock_;

static size_t cap_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    size_t c = CAP_MAX;
    if (pages > 0 && psz > 0 && (size_t)pages / 4 < CAP_MAX / (size_t)psz)
        c = (size_t)pages / 4 * (size_t)psz;
    return c;
}

static void drop(int i)   /* with mu held: forget entry i (the caller frees it) */
{
    bytes_kept -= cache[i].size;
    cache[i] = cache[--n_kept];
}

void *buf_recycle_get(size_t bytes, size_t *got)
{
    size_t want = bytes ? (bytes + 63) / 64 * 64 : 64;
    if (want >= BUF_RECYCLE_MIN) {
        want = (want + ROUND - 1) / ROUND * ROUND;
        void *b = NULL;
        size_t sz = 0;
        pthread_mutex_lock(&mu);
        int best = -1;
        for (int i = 0; i < n_kept; i++)   /* best fit, wasting at most a quarter */
            if (cache[i].size >= want && cache[i].size - want <= want / 4 &&
                (best < 0 || cache[i].size < cache[best].size))
                best = i;
        if (best >= 0) {
            b = cache[best].buf;
            sz = cache[best].size;
            drop(best);
        }
        pthread_mutex_unlock(&mu);
        if (b) {
            KEPT_UNPOISON(b, sz);
            memset(b, 0, sz);
            *got = sz;
            return b;
        }
    }
    void *b = NULL;
    if (posix_memalign(&b, 64, want) != 0)
        return NULL;
    memset(b, 0, want);
    *got = want;
    return b;
}

void buf_recycle_put(void *buf, size_t size)
{
    if (!buf)
        return;
    if (size < BUF_RECYCLE_MIN) {
        free(buf);
        return;
    }
    void *evict[MAX_KEPT];
    int n_evict = 0;
    pthread_mutex_lock(&mu);
    if (!cap)
        cap = cap_bytes();
    if (size > cap) {
        evict[n_evict++] = buf;
    } else {
        /* make room: the oldest go first */
        while (n_kept > 0 && (n_kept == MAX_KEPT || bytes_kept + size > cap)) {
            int old = 0;
            for (int i = 1; i < n_kept; i++)
                if (cache[i].age < cache[old].age)
                    old = i;
            KEPT_UNPOISON(cache[old].buf, cache[old].size);
            evict[n_evict++] = cache[old].buf;
            drop(old);
        }
        KEPT_POISON(buf, size);
        cache[n_kept++] = (kept){.buf = buf, .size = size, .age = ++clock_};
        bytes_kept += size;
    }
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n_evict; i++)
        free(evict[i]);
}

void buf_recycle_drain(void)
{
    pthread_mutex_lock(&mu);
    kept all[MAX_KEPT];
    int n = n_kept;
    memcpy(all, cache, (size_t)n * sizeof *all);
    n_kept = 0;
    bytes_kept = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) {
        KEPT_UNPOISON(all[i].buf, all[i].size);
        free(all[i].buf);
    }
}

size_t buf_recycle_kept(void)
{
    pthread_mutex_lock(&mu);
    size_t b = bytes_kept;
    pthread_mutex_unlock(&mu);
    return b;
}
