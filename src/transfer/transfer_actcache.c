/*
 * transfer_actcache.c - building, opening and replaying the activation cache
 * of fine-tuning (see transfer_actcache.h).
 */
#include "transfer/transfer_actcache.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char ACT_MAGIC[8] = {'C', 'D', 'T', 'A', 'C', 'T', '1', '\n'};

/* Header: magic, key, then these u64s; the values start at DATA_OFFSET. */
enum { H_N, H_VARIANTS, H_H, H_W, H_C, H_DTYPE, H_FAILED, H_COUNT };
#define HEADER_BYTES (8 + TRANSFER_ACTCACHE_KEY_MAX + 8 * H_COUNT)
#define DATA_OFFSET ((HEADER_BYTES + 63) / 64 * 64)

/* The largest finite half. */
#define F16_MAX 65504.0f

struct transfer_actcache {
    unsigned char *map;      /* the whole file, read-only */
    size_t map_len;
    size_t n, dim;
    int variants;
    transfer_actcache_precision precision;
    size_t failed;
    const unsigned char *data, *ok;
};

/* ---- half precision ---- */

unsigned short transfer_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff)
        return (unsigned short)(sign | 0x7c00u | (m ? 0x200u : 0)); /* inf, NaN */
    int he = (int)e - 127 + 15;
    if (he >= 0x1f)
        return (unsigned short)(sign | 0x7c00u); /* beyond +-65504 after rounding: inf */
    if (he <= 0) {
        /* Subnormal half: the value is hm * 2^-24. */
        if (he < -10)
            return (unsigned short)sign;
        m |= 0x800000u;
        int shift = 14 - he;
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (hm & 1)))
            hm++; /* may carry into the smallest normal: still right */
        return (unsigned short)(sign | hm);
    }
    uint32_t h = sign | ((uint32_t)he << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++; /* a carry into the exponent is the right rounding (up to inf) */
    return (unsigned short)h;
}

float transfer_f16_to_f32(unsigned short h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        float f = (float)m * 0x1p-24f; /* zero or subnormal: exact */
        memcpy(&x, &f, sizeof x);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

const char *transfer_actcache_precision_name(transfer_actcache_precision p)
{
    return p == TRANSFER_ACTCACHE_F32 ? "f32" : "f16";
}

int transfer_actcache_precision_parse(const char *name, transfer_actcache_precision *out, cd_err *err)
{
    if (name && strcmp(name, "f16") == 0)
        *out = TRANSFER_ACTCACHE_F16;
    else if (name && strcmp(name, "f32") == 0)
        *out = TRANSFER_ACTCACHE_F32;
    else
        return cd_err_set(err, CD_ERR_INVALID, "cache precision must be f16 or f32, not '%s'",
                          name ? name : "(none)");
    return 0;
}

/* ---- the key ---- */

int transfer_actcache_key(const model *front, const dataset *d, const transfer_actcache_opts *o,
                          char key[TRANSFER_ACTCACHE_KEY_MAX], cd_err *err)
{
    char list[65];
    if (transfer_list_sha256((const char *const *)d->paths, d->labels, d->n, list, err) != 0)
        return -1;
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    const layer *out = &front->layers[model_output_index(front)];
    /* "decode=hint2x resize=bilinear": photos read as dataset_iter reads them
     * (IMAGE_DECODE_HINT, Pillow's bilinear); "graph": the built-in
     * backbones' arithmetic (transfer_features.h). */
    int len = snprintf(key, TRANSFER_ACTCACHE_KEY_MAX,
                       "act=1 decode=hint2x resize=bilinear graph=%d backbone=%s weights=%.64s cut=%s "
                       "size=%dx%d pre=%s map=%dx%dx%d variants=%d dtype=%s n=%zu list=%s",
                       TRANSFER_GRAPH_VERSION, o->backbone, o->weights_sha256, o->cut, s, w,
                       cd_preprocess_name(front->preprocess), out->out_h, out->out_w, out->out_c,
                       o->variants, transfer_actcache_precision_name(o->precision), d->n, list);
    if (len < 0 || len >= TRANSFER_ACTCACHE_KEY_MAX)
        return cd_err_set(err, CD_ERR_LIMIT, "activation cache key too long (backbone '%s', cut '%s')",
                          o->backbone, o->cut);
    return 0;
}

/* ---- opening ---- */

void transfer_actcache_free(transfer_actcache *c)
{
    if (!c)
        return;
    if (c->map)
        munmap(c->map, c->map_len);
    free(c);
}

/* The file at path when it is complete and its key is key: 1 with *out set,
 * 0 when absent, stale or truncated, -1 on an error worth reporting. */
static int try_open(const char *path, const char *key, transfer_actcache **out, cd_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : cd_err_set(err, CD_ERR_IO, "activation cache %s: %s", path, strerror(errno));
    struct stat st;
    unsigned char hdr[HEADER_BYTES];
    char want[TRANSFER_ACTCACHE_KEY_MAX] = {0};
    snprintf(want, sizeof want, "%s", key);
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < DATA_OFFSET ||
        pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || memcmp(hdr, ACT_MAGIC, 8) != 0 ||
        memcmp(hdr + 8, want, sizeof want) != 0) {
        close(fd);
        return 0;
    }
    uint64_t h[H_COUNT];
    memcpy(h, hdr + 8 + TRANSFER_ACTCACHE_KEY_MAX, sizeof h);
    size_t esize = h[H_DTYPE] == TRANSFER_ACTCACHE_F32 ? 4 : 2;
    /* The key fixed n, the shape and the variants; the size must follow. */
    if (h[H_VARIANTS] < 1 || h[H_VARIANTS] > 2 || h[H_DTYPE] > 1 || h[H_N] > ((uint64_t)1 << 32) ||
        h[H_H] * h[H_W] * h[H_C] == 0 || h[H_H] * h[H_W] * h[H_C] > ((uint64_t)1 << 30) ||
        (uint64_t)st.st_size != DATA_OFFSET + h[H_N] * h[H_VARIANTS] * h[H_H] * h[H_W] * h[H_C] * esize + h[H_N]) {
        close(fd);
        return 0;
    }
    transfer_actcache *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    }
    c->map_len = (size_t)st.st_size;
    void *m = mmap(NULL, c->map_len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int e = errno;
        size_t mb = c->map_len >> 20;
        free(c);
        return cd_err_set(err, CD_ERR_IO, "cannot map activation cache %s (%zu MB): %s", path, mb, strerror(e));
    }
    c->map = m;
    c->n = h[H_N];
    c->variants = (int)h[H_VARIANTS];
    c->dim = h[H_H] * h[H_W] * h[H_C];
    c->precision = (transfer_actcache_precision)h[H_DTYPE];
    c->failed = h[H_FAILED];
    c->data = c->map + DATA_OFFSET;
    c->ok = c->data + c->n * (size_t)c->variants * c->dim * esize;
    *out = c;
    return 1;
}

/* ---- building ---- */

/* Writes n floats in the cache's precision.  0, or -1 when a value does not
 * fit a half (err names the cut). */
static int write_values(FILE *fp, const float *x, size_t n, transfer_actcache_precision p, unsigned short *tmp,
                        const char *cut, cd_err *err)
{
    if (p == TRANSFER_ACTCACHE_F32)
        return fwrite(x, sizeof(float), n, fp) == n ? 0 : cd_err_set(err, CD_ERR_IO, "write: %s", strerror(errno));
    for (size_t i = 0; i < n; i++) {
        if (!(fabsf(x[i]) <= F16_MAX))
            return cd_err_set(err, CD_ERR_LIMIT,
                              "the output of %s reaches %g, beyond float16's range; build the cache in "
                              "float32 (--fine-tune-cache-precision f32)",
                              cut, (double)x[i]);
        tmp[i] = transfer_f32_to_f16(x[i]);
    }
    return fwrite(tmp, sizeof *tmp, n, fp) == n ? 0 : cd_err_set(err, CD_ERR_IO, "write: %s", strerror(errno));
}

typedef struct builder {
    const model *front;
    const dataset *d;
    const transfer_actcache_opts *o;
    FILE *fp;
    size_t dim, next;        /* values per variant; the next photo to write */
    unsigned char *ok;       /* n flags */
    size_t failed;
    float *zeros;
    unsigned short *tmp;
} builder;

/* Marks the photos that dataset_iter reported unreadable since the last call
 * (their paths are d's own pointers, and the order is the identity, so each
 * lies at or after b->next). */
static void mark_failed(builder *b, dataset_iter *it, size_t *seen)
{
    const char *const *paths;
    size_t nf = dataset_iter_failed(it, &paths);
    for (; *seen < nf; (*seen)++)
        for (size_t j = b->next; j < b->d->n; j++)
            if (b->d->paths[j] == paths[*seen]) {
                b->ok[j] = 0;
                break;
            }
}

/* Writes photos up to the next readable one, which gets the k-th rows of act
 * (and of flipped).  0 or -1. */
static int write_photo(builder *b, const float *act, const float *flipped, int k, cd_err *err)
{
    const transfer_actcache_opts *o = b->o;
    for (; b->next < b->d->n && !b->ok[b->next]; b->next++) {
        b->failed++;
        for (int v = 0; v < o->variants; v++)
            if (write_values(b->fp, b->zeros, b->dim, o->precision, b->tmp, o->cut, err) != 0)
                return -1;
    }
    if (b->next >= b->d->n)
        return cd_err_set(err, CD_ERR_INVALID, "activation cache: more photos than the list holds");
    if (write_values(b->fp, act + (size_t)k * b->dim, b->dim, o->precision, b->tmp, o->cut, err) != 0 ||
        (o->variants == 2 &&
         write_values(b->fp, flipped + (size_t)k * b->dim, b->dim, o->precision, b->tmp, o->cut, err) != 0))
        return -1;
    b->next++;
    return 0;
}

/* Runs the front over every photo of d in order into fp (positioned at
 * DATA_OFFSET), then writes the flags.  0 or -1. */
static int build_values(builder *b, cd_err *err)
{
    const transfer_actcache_opts *o = b->o;
    int s, w, c;
    model_input_shape(b->front, &s, &w, &c);
    int batch = o->batch > 0 ? o->batch : 32;
    dataset_iter_opts io = {0};
    io.batch = batch;
    io.img_size = s;
    io.preprocess = b->front->preprocess;
    io.workers = o->workers;
    runner_opts ro = {0};
    ro.backend = o->backend;
    ro.threads = o->threads;
    size_t per_in = (size_t)s * (size_t)s * 3;
    float *act = malloc((size_t)batch * b->dim * sizeof(float));
    float *flipped = malloc((size_t)batch * b->dim * sizeof(float));
    float *in = malloc((size_t)batch * per_in * sizeof(float));
    dataset_iter *it = NULL;
    runner *r = NULL;
    int rc = -1;
    if (!act || !flipped || !in) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory for the activation cache's batches");
        goto out;
    }
    if (!(it = dataset_iter_new(b->d, &io, err)) || !(r = runner_new(b->front, batch, &ro, err)) ||
        dataset_iter_begin_epoch(it, 0, err) != 0)
        goto out;
    size_t seen = 0;
    const float *x, *y;
    int n, got;
    while ((got = dataset_iter_next(it, &x, &y, &n, err)) == 1) {
        mark_failed(b, it, &seen);
        if (runner_forward(r, x, n, act, err) != 0)
            goto out;
        if (o->variants == 2) {
            /* Preprocessing is per pixel, so mirroring the floats is mirroring the photo. */
            memcpy(in, x, (size_t)n * per_in * sizeof(float));
            transfer_flip_batch(in, n, s);
            if (runner_forward(r, in, n, flipped, err) != 0)
                goto out;
        }
        for (int k = 0; k < n; k++)
            if (write_photo(b, act, flipped, k, err) != 0)
                goto out;
        if (o->progress)
            o->progress(b->next, b->d->n, o->progress_ctx);
        if (o->stop && *o->stop) {
            cd_err_set(err, CD_ERR_INTERRUPTED, "activation cache stopped after %zu of %zu photos", b->next,
                       b->d->n);
            goto out;
        }
    }
    if (got < 0)
        goto out;
    mark_failed(b, it, &seen);
    for (; b->next < b->d->n; b->next++) { /* unreadable photos at the end */
        b->failed++;
        for (int v = 0; v < o->variants; v++)
            if (write_values(b->fp, b->zeros, b->dim, o->precision, b->tmp, o->cut, err) != 0)
                goto out;
    }
    if (b->failed == b->d->n) {
        cd_err_set(err, CD_ERR_FORMAT, "activation cache: none of the %zu photos could be read", b->d->n);
        goto out;
    }
    if (fwrite(b->ok, 1, b->d->n, b->fp) != b->d->n) {
        cd_err_set(err, CD_ERR_IO, "write: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    runner_free(r);
    dataset_iter_free(it);
    free(act);
    free(flipped);
    free(in);
    return rc;
}

/* Builds the cache file at path (temporary file, fsync, rename).  0 or -1. */
static int build(const char *path, const char *key, const model *front, const dataset *d,
                 const transfer_actcache_opts *o, cd_err *err)
{
    const layer *ol = &front->layers[model_output_index(front)];
    builder b = {front, d, o, NULL, (size_t)ol->out_h * ol->out_w * ol->out_c, 0, NULL, 0, NULL, NULL};
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    b.ok = malloc(d->n ? d->n : 1);
    b.zeros = calloc(b.dim, sizeof(float));
    b.tmp = malloc(b.dim * sizeof *b.tmp);
    if (!b.ok || !b.zeros || !b.tmp) {
        free(b.ok);
        free(b.zeros);
        free(b.tmp);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    }
    memset(b.ok, 1, d->n);
    int rc = -1;
    if (!(b.fp = fopen(tmp, "wb"))) {
        cd_err_set(err, CD_ERR_IO, "cannot write activation cache %s: %s", tmp, strerror(errno));
        goto out;
    }
    static const unsigned char pad[DATA_OFFSET] = {0};
    if (fwrite(pad, 1, DATA_OFFSET, b.fp) != DATA_OFFSET) {
        cd_err_set(err, CD_ERR_IO, "cannot write activation cache %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (build_values(&b, err) != 0) {
        if (err && err->code != CD_ERR_INTERRUPTED)
            cd_err_wrap(err, "activation cache %s", path);
        goto out;
    }
    /* The header last, so a file cut short never carries a valid key. */
    unsigned char hdr[HEADER_BYTES] = {0};
    memcpy(hdr, ACT_MAGIC, 8);
    snprintf((char *)hdr + 8, TRANSFER_ACTCACHE_KEY_MAX, "%s", key);
    uint64_t h[H_COUNT] = {d->n, (uint64_t)o->variants, (uint64_t)ol->out_h, (uint64_t)ol->out_w,
                           (uint64_t)ol->out_c, (uint64_t)o->precision, b.failed};
    memcpy(hdr + 8 + TRANSFER_ACTCACHE_KEY_MAX, h, sizeof h);
    if (fflush(b.fp) != 0 || fseek(b.fp, 0, SEEK_SET) != 0 || fwrite(hdr, 1, sizeof hdr, b.fp) != sizeof hdr ||
        fflush(b.fp) != 0 || fsync(fileno(b.fp)) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot write activation cache %s: %s", tmp, strerror(errno));
        goto out;
    }
    int e = fclose(b.fp);
    b.fp = NULL;
    if (e != 0 || rename(tmp, path) != 0) {
        cd_err_set(err, CD_ERR_IO, "cannot write activation cache %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (b.fp)
        fclose(b.fp);
    if (rc != 0)
        remove(tmp);
    free(b.ok);
    free(b.zeros);
    free(b.tmp);
    return rc;
}

transfer_actcache *transfer_actcache_open(const char *path, const model *front, const dataset *d,
                                          const transfer_actcache_opts *o, int *built, cd_err *err)
{
    *built = 0;
    if (o->variants < 1 || o->variants > 2 || !d || d->n == 0) {
        cd_err_set(err, CD_ERR_INVALID, "activation cache: variants must be 1 or 2 and the photo list non-empty");
        return NULL;
    }
    int s, w, c;
    model_input_shape(front, &s, &w, &c);
    if (s != w || c != 3) {
        cd_err_set(err, CD_ERR_INVALID, "activation cache: the front's input must be S x S x 3, not %d x %d x %d", s,
                   w, c);
        return NULL;
    }
    char key[TRANSFER_ACTCACHE_KEY_MAX];
    if (transfer_actcache_key(front, d, o, key, err) != 0)
        return NULL;
    transfer_actcache *ac;
    int got = try_open(path, key, &ac, err);
    if (got < 0)
        return NULL;
    if (got == 1)
        return ac;
    if (build(path, key, front, d, o, err) != 0)
        return NULL;
    *built = 1;
    got = try_open(path, key, &ac, err);
    if (got == 0)
        cd_err_set(err, CD_ERR_IO, "activation cache %s: written but not readable back", path);
    return got == 1 ? ac : NULL;
}

size_t transfer_actcache_n(const transfer_actcache *c)
{
    return c->n;
}

size_t transfer_actcache_dim(const transfer_actcache *c)
{
    return c->dim;
}

int transfer_actcache_variants(const transfer_actcache *c)
{
    return c->variants;
}

size_t transfer_actcache_failed(const transfer_actcache *c)
{
    return c->failed;
}

int transfer_actcache_ok(const transfer_actcache *c, size_t idx)
{
    return idx < c->n && c->ok[idx] != 0;
}

void transfer_actcache_read(const transfer_actcache *c, size_t idx, int variant, float *dst)
{
    size_t at = (idx * (size_t)c->variants + (size_t)variant) * c->dim;
    if (c->precision == TRANSFER_ACTCACHE_F32) {
        memcpy(dst, c->data + at * 4, c->dim * sizeof(float));
        return;
    }
    const unsigned char *p = c->data + at * 2;
    for (size_t i = 0; i < c->dim; i++) {
        unsigned short h;
        memcpy(&h, p + 2 * i, sizeof h);
        dst[i] = transfer_f16_to_f32(h);
    }
}

/* ---- the source ---- */

static size_t src_batches(void *ctx)
{
    const transfer_actcache_src *s = ctx;
    return (s->c->n + (size_t)s->batch - 1) / (size_t)s->batch;
}

static int src_begin(void *ctx, int epoch, cd_err *err)
{
    (void)err;
    transfer_actcache_src *s = ctx;
    dataset_epoch_order(s->seed, s->shuffle, epoch, s->order, s->c->n);
    s->epoch = epoch;
    s->pos = 0;
    return 0;
}

/* As dataset_iter_next: batch b is order[b*N, (b+1)*N) minus unreadable
 * photos; a batch with none readable is skipped. */
static int src_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    (void)err;
    transfer_actcache_src *s = ctx;
    augment_opts flip = {0};
    flip.horizontal_flip = 1;
    while (s->pos < s->c->n) {
        size_t end = s->pos + (size_t)s->batch;
        if (end > s->c->n)
            end = s->c->n;
        int k = 0;
        for (size_t p = s->pos; p < end; p++) {
            size_t idx = s->order[p];
            if (!transfer_actcache_ok(s->c, idx))
                continue;
            int v = s->flip == TRANSFER_ACTCACHE_MIRRORED;
            if (s->flip == TRANSFER_ACTCACHE_FLIP_RANDOM) {
                augment_params ap;
                augment_draw(&flip, dataset_sample_seed(s->seed, s->epoch, idx), s->img_size, s->img_size, &ap);
                v = ap.flip;
            }
            transfer_actcache_read(s->c, idx, v, s->x + (size_t)k * s->c->dim);
            s->y[k] = (float)s->d->labels[idx];
            k++;
        }
        s->pos = end;
        if (k > 0) {
            *x = s->x;
            *y = s->y;
            *n = k;
            return 1;
        }
    }
    return 0;
}

void transfer_actcache_source_free(transfer_actcache_src *s)
{
    if (!s)
        return;
    free(s->order);
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

int transfer_actcache_source(transfer_actcache_src *s, const transfer_actcache *c, const dataset *d, int batch,
                             unsigned long long seed, int shuffle, int flip, int img_size, engine_source *out,
                             cd_err *err)
{
    memset(s, 0, sizeof *s);
    if (d->n != c->n || batch < 1 || flip < TRANSFER_ACTCACHE_AS_IS || flip > TRANSFER_ACTCACHE_MIRRORED ||
        (flip && c->variants != 2))
        return cd_err_set(err, CD_ERR_INVALID,
                          "activation cache source: %zu photos for a cache of %zu, batch %d, flip %d with %d "
                          "variant(s)",
                          d->n, c->n, batch, flip, c->variants);
    s->c = c;
    s->d = d;
    s->batch = batch;
    s->shuffle = shuffle;
    s->flip = flip;
    s->img_size = img_size;
    s->seed = seed;
    s->order = malloc(c->n * sizeof *s->order);
    s->x = malloc((size_t)batch * c->dim * sizeof(float));
    s->y = malloc((size_t)batch * sizeof(float));
    if (!s->order || !s->x || !s->y) {
        transfer_actcache_source_free(s);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for the cached batches");
    }
    out->ctx = s;
    out->batches = src_batches;
    out->begin_epoch = src_begin;
    out->next = src_next;
    return 0;
}
