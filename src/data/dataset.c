/*
 * dataset.c - dataset folders (dataset_open) and the batch iterator that feeds
 * training (dataset_iter_*), see dataset.h.
 *
 * The iterator's shape: at dataset_iter_begin_epoch the consumer fixes the
 * epoch's order (a permutation drawn from (seed, epoch)); worker threads then
 * claim whole batches in order - batch b goes to ring slot b % n_slots - and
 * prepare them (decode, resize, augment, convert to floats) while the consumer
 * trains on earlier ones.  A worker may run at most n_slots batches ahead of the
 * batch the consumer holds.  What a batch contains depends only on (seed, epoch,
 * batch index), never on which worker made it or when, so any number of workers
 * gives the same batches.
 *
 * Unreadable images are dropped from their batch (the batch shrinks; a batch
 * with nothing readable is skipped), so dataset_iter_batches() is an upper
 * bound when files fail.  Failures are recorded per batch by the worker and
 * merged into the iterator's list when the consumer takes that batch, so the
 * list is only ever touched by the consumer's thread.
 *
 * The optional cache keeps each image as decoded and resized (uint8, S x S x 3)
 * in one block allocated up front; augmentation is applied on top of it each
 * epoch, so a cached run gives exactly the batches an uncached one does.  A file
 * that failed is remembered as failed and not decoded again.  Within an epoch
 * each file belongs to one batch, hence one worker; begin_epoch waits for all
 * workers to go idle before the next epoch, so cache entries are never written
 * and read concurrently.
 */
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dirlist.h"
#include "data/rng.h"
#include "image/image.h"

#define DATASET_MAX_WORKERS 64

/* --- dataset_open ------------------------------------------------------------- */

int dataset_append(dataset *d, const dataset *other, cd_err *err)
{
    if (other->n_classes != d->n_classes)
        return cd_err_set(err, CD_ERR_INVALID, "cannot join datasets of %d and %d classes", d->n_classes,
                          other->n_classes);
    for (int k = 0; k < d->n_classes; k++)
        if (strcmp(d->class_names[k], other->class_names[k]) != 0)
            return cd_err_set(err, CD_ERR_INVALID, "cannot join datasets: class folders %s and %s differ",
                              d->class_names[k], other->class_names[k]);
    size_t n = d->n + other->n;
    char **paths = malloc(n * sizeof *paths);
    int *labels = malloc(n * sizeof *labels);
    if (!paths || !labels) {
        free(paths);
        free(labels);
        return cd_err_set(err, CD_ERR_NOMEM, "joining datasets: out of memory");
    }
    for (size_t i = 0; i < other->n; i++)
        if (!(paths[d->n + i] = strdup(other->paths[i]))) {
            while (i-- > 0)
                free(paths[d->n + i]);
            free(paths);
            free(labels);
            return cd_err_set(err, CD_ERR_NOMEM, "joining datasets: out of memory");
        }
    memcpy(paths, d->paths, d->n * sizeof *paths);
    memcpy(labels, d->labels, d->n * sizeof *labels);
    memcpy(labels + d->n, other->labels, other->n * sizeof *labels);
    free(d->paths);
    free(d->labels);
    d->paths = paths;
    d->labels = labels;
    d->n = n;
    return 0;
}

void dataset_free(dataset *d)
{
    if (!d)
        return;
    for (int k = 0; k < d->n_classes; k++)
        free(d->class_names[k]);
    if (d->paths)
        for (size_t i = 0; i < d->n; i++)
            free(d->paths[i]);
    free(d->paths);
    free(d->labels);
    free(d);
}

dataset *dataset_open(const char *dir, cd_err *err)
{
    if (!dir) {
        cd_err_set(err, CD_ERR_INVALID, "dataset: no folder given");
        return NULL;
    }
    struct stat st;
    if (stat(dir, &st) < 0) {
        int e = errno;
        cd_err_set(err, e == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "dataset folder %s: %s", dir, strerror(e));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        cd_err_set(err, CD_ERR_INVALID, "dataset %s is not a folder", dir);
        return NULL;
    }
    dataset *d = calloc(1, sizeof *d);
    dirlist classes = {0};
    dirlist files[DATASET_MAX_CLASSES];
    memset(files, 0, sizeof files);
    if (!d) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (dirlist_read(dir, NULL, &classes, NULL, err) < 0)
        goto fail;
    if (classes.n == 0) {
        cd_err_set(err, CD_ERR_INVALID, "dataset %s has no class folders (expected e.g. %s/cats and %s/dogs)",
                   dir, dir, dir);
        goto fail;
    }
    if (classes.n > DATASET_MAX_CLASSES) {
        cd_err_set(err, CD_ERR_LIMIT, "dataset %s has %zu class folders; at most %d are supported", dir,
                   classes.n, DATASET_MAX_CLASSES);
        goto fail;
    }
    size_t total = 0;
    for (size_t k = 0; k < classes.n; k++) {
        char cdir[PATH_MAX];
        if ((size_t)snprintf(cdir, sizeof cdir, "%s/%s", dir, classes.names[k]) >= sizeof cdir) {
            cd_err_set(err, CD_ERR_LIMIT, "path too long: %s/%s", dir, classes.names[k]);
            goto fail;
        }
        if (dirlist_read(cdir, &files[k], NULL, NULL, err) < 0)
            goto fail;
        if (files[k].n == 0) {
            cd_err_set(err, CD_ERR_INVALID, "class folder %s has no images (.jpg, .jpeg, .png, .webp)", cdir);
            goto fail;
        }
        total += files[k].n;
    }
    d->paths = calloc(total, sizeof *d->paths);
    d->labels = malloc(total * sizeof *d->labels);
    if (!d->paths || !d->labels) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory listing %zu images", total);
        goto fail;
    }
    for (size_t k = 0; k < classes.n; k++) {
        d->class_names[k] = strdup(classes.names[k]);
        if (!d->class_names[k]) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory");
            goto fail;
        }
        d->n_classes++;
        for (size_t i = 0; i < files[k].n; i++) {
            size_t len = strlen(dir) + strlen(classes.names[k]) + strlen(files[k].names[i]) + 3;
            char *p = malloc(len);
            if (!p) {
                cd_err_set(err, CD_ERR_NOMEM, "out of memory");
                goto fail;
            }
            snprintf(p, len, "%s/%s/%s", dir, classes.names[k], files[k].names[i]);
            d->paths[d->n] = p;
            d->labels[d->n] = (int)k;
            d->n++;
        }
    }
    for (size_t k = 0; k < classes.n; k++)
        dirlist_free(&files[k]);
    dirlist_free(&classes);
    return d;
fail:
    for (size_t k = 0; k < DATASET_MAX_CLASSES; k++)
        dirlist_free(&files[k]);
    dirlist_free(&classes);
    dataset_free(d);
    return NULL;
}

/* --- the iterator ------------------------------------------------------------- */

typedef struct batch_slot {
    float *x;          /* batch * S * S * 3 */
    float *y;          /* batch */
    int n;             /* samples that made it */
    size_t *failed;    /* dataset indices unreadable in this batch */
    int n_failed;
    int status;        /* 0, or -1 with err (allocation failures, not bad images) */
    cd_err err;
    int ready;         /* 1 when batch `batch` is prepared */
    size_t batch;
} batch_slot;

enum { CACHE_EMPTY = 0, CACHE_OK, CACHE_FAILED };

struct dataset_iter {
    const dataset *d;  /* borrowed */
    dataset_iter_opts o;
    augment_opts aug;
    int augment;       /* 1 when aug is not the identity */
    size_t sample_len; /* S * S * 3 */
    size_t n_batches;  /* per epoch (a rank's run under shard_whole_batches) */
    size_t first_batch;/* that run's first among the epoch's batches (else 0) */
    size_t *order;     /* this epoch's permutation; written only while workers are idle */
    int epoch;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers wait for claimable batches */
    pthread_cond_t done_cv;  /* the consumer waits for ready batches / idle workers */
    pthread_t *threads;
    int n_threads;
    int quit;
    int active;              /* an epoch is running: workers may claim */
    size_t next_claim;       /* next batch a worker will prepare */
    size_t next_take;        /* next batch the consumer will take */
    size_t free_below;       /* batches < free_below have given their slot back */
    int holding;             /* the consumer holds batch next_take - 1 */
    int in_flight;           /* batches being prepared right now */
    int n_slots;
    batch_slot *slots;

    unsigned char *cache;        /* n * sample_len, or NULL */
    unsigned char *cache_state;  /* n entries: CACHE_* */

    /* Consumer-side record of unreadable files (unique). */
    unsigned char *failed_seen;  /* n flags */
    const char **failed_paths;   /* borrowed from d */
    size_t n_failed, cap_failed;
};

/* Decodes and resizes image idx into out (S x S uint8, caller-owned). */
static int load_image(const dataset_iter *it, size_t idx, unsigned char *out, cd_err *err)
{
    int s = it->o.img_size;
    image_decode_opts dopts;
    memset(&dopts, 0, sizeof dopts);
    /* Twice the target (image.h): big photos still decode at a reduced DCT
     * scale, while the 200x200 dataset photos decode at full scale and are
     * resized exactly as Pillow and the predictor do. */
    dopts.hint_width = IMAGE_DECODE_HINT(s);
    dopts.hint_height = IMAGE_DECODE_HINT(s);
    image raw = {0, 0, NULL};
    if (image_decode_file(it->d->paths[idx], &dopts, &raw, NULL, NULL, err) < 0)
        return -1;
    if (raw.width == s && raw.height == s) {
        memcpy(out, raw.rgb, it->sample_len);
        image_free(&raw);
        return 0;
    }
    image small = {0, 0, NULL};
    int rc = image_resize(&raw, s, s, IMAGE_FILTER_BILINEAR, &small, err);
    image_free(&raw);
    if (rc < 0)
        return -1;
    memcpy(out, small.rgb, it->sample_len);
    image_free(&small);
    return 0;
}

/* Per-sample augmentation seed: a pure function of (seed, epoch, file index). */
unsigned long long dataset_sample_seed(unsigned long long seed, int epoch, size_t idx)
{
    return rng_derive(rng_derive(rng_derive(seed, 0xA0C0ULL), (uint64_t)epoch), (uint64_t)idx);
}

void dataset_epoch_order(unsigned long long seed, int shuffle, int epoch, size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (shuffle) {
        rng r;
        rng_init(&r, rng_derive(rng_derive(seed, 0x5EEDULL), (uint64_t)epoch));
        rng_shuffle(&r, order, n);
    }
}

/* 1 when each batch is cut into the ranks' slices (dataset.h). */
static int sliced(const dataset_iter *it)
{
    return it->o.shard_count > 1 && !it->o.shard_whole_batches;
}

/* Prepares batch b into slot (no lock held; reads order[], owns the slot). */
static void fill_batch(dataset_iter *it, size_t b, batch_slot *slot, unsigned char *scratch,
                       unsigned char *scratch_aug)
{
    size_t start = (it->first_batch + b) * (size_t)it->o.batch;
    size_t end = start + (size_t)it->o.batch;
    if (end > it->d->n)
        end = it->d->n;
    if (sliced(it)) {
        /* This rank's slice of the nominal batch (dataset.h). */
        size_t m = end - start, r = (size_t)it->o.shard_rank, c = (size_t)it->o.shard_count;
        end = start + m * (r + 1) / c;
        start += m * r / c;
    }
    int k = 0;
    slot->n_failed = 0;
    slot->status = 0;
    for (size_t p = start; p < end; p++) {
        size_t idx = it->order[p];
        const unsigned char *pix;
        if (it->cache && it->cache_state[idx] == CACHE_OK) {
            pix = it->cache + idx * it->sample_len;
        } else if (it->cache && it->cache_state[idx] == CACHE_FAILED) {
            slot->failed[slot->n_failed++] = idx;
            continue;
        } else {
            unsigned char *dst = it->cache ? it->cache + idx * it->sample_len : scratch;
            cd_err e;
            if (load_image(it, idx, dst, &e) < 0) {
                if (e.code == CD_ERR_NOMEM) {
                    slot->status = -1;
                    slot->err = e;
                    break;
                }
                if (it->cache)
                    it->cache_state[idx] = CACHE_FAILED;
                slot->failed[slot->n_failed++] = idx;
                continue;
            }
            if (it->cache)
                it->cache_state[idx] = CACHE_OK;
            pix = dst;
        }
        image img = {it->o.img_size, it->o.img_size, (unsigned char *)pix};
        if (it->augment) {
            image out = {it->o.img_size, it->o.img_size, scratch_aug};
            augment_apply(&it->aug, dataset_sample_seed(it->o.seed, it->epoch, idx), &img, &out);
            img = out;
        }
        image_to_input(&img, it->o.preprocess, slot->x + (size_t)k * it->sample_len);
        slot->y[k] = (float)it->d->labels[idx];
        k++;
    }
    slot->n = k;
}

static int claimable(const dataset_iter *it)
{
    return it->active && it->next_claim < it->n_batches && it->next_claim < it->free_below + (size_t)it->n_slots;
}

static void *worker_main(void *arg)
{
    dataset_iter *it = arg;
    unsigned char *scratch = malloc(it->sample_len);
    unsigned char *scratch_aug = malloc(it->sample_len);
    pthread_mutex_lock(&it->mu);
    for (;;) {
        while (!it->quit && !claimable(it))
            pthread_cond_wait(&it->work_cv, &it->mu);
        if (it->quit)
            break;
        size_t b = it->next_claim++;
        batch_slot *slot = &it->slots[b % (size_t)it->n_slots];
        it->in_flight++;
        pthread_mutex_unlock(&it->mu);
        if (!scratch || !scratch_aug) {
            slot->n = 0;
            slot->n_failed = 0;
            slot->status = cd_err_set(&slot->err, CD_ERR_NOMEM, "out of memory in a data worker");
        } else {
            fill_batch(it, b, slot, scratch, scratch_aug);
        }
        pthread_mutex_lock(&it->mu);
        slot->batch = b;
        slot->ready = 1;
        it->in_flight--;
        pthread_cond_broadcast(&it->done_cv);
    }
    pthread_mutex_unlock(&it->mu);
    free(scratch);
    free(scratch_aug);
    return NULL;
}

static void stop_threads(dataset_iter *it)
{
    pthread_mutex_lock(&it->mu);
    it->quit = 1;
    pthread_cond_broadcast(&it->work_cv);
    pthread_mutex_unlock(&it->mu);
    for (int i = 0; i < it->n_threads; i++)
        pthread_join(it->threads[i], NULL);
    it->n_threads = 0;
}

void dataset_iter_free(dataset_iter *it)
{
    if (!it)
        return;
    if (it->threads) {
        stop_threads(it);
        pthread_cond_destroy(&it->work_cv);
        pthread_cond_destroy(&it->done_cv);
        pthread_mutex_destroy(&it->mu);
    }
    free(it->threads);
    if (it->slots)
        for (int i = 0; i < it->n_slots; i++) {
            free(it->slots[i].x);
            free(it->slots[i].y);
            free(it->slots[i].failed);
        }
    free(it->slots);
    free(it->order);
    free(it->cache);
    free(it->cache_state);
    free(it->failed_seen);
    free(it->failed_paths);
    free(it);
}

dataset_iter *dataset_iter_new(const dataset *d, const dataset_iter_opts *opts, cd_err *err)
{
    if (!d || !opts || d->n == 0) {
        cd_err_set(err, CD_ERR_INVALID, "dataset iterator: no dataset or options");
        return NULL;
    }
    if (opts->batch < 1 || opts->img_size < 1 || opts->img_size > 4096 || opts->workers < 0 ||
        opts->shard_count < 0 || (opts->shard_count > 1 && (opts->shard_rank < 0 || opts->shard_rank >= opts->shard_count))) {
        cd_err_set(err, CD_ERR_INVALID, "dataset iterator: bad options (batch %d, image size %d, workers %d)",
                   opts->batch, opts->img_size, opts->workers);
        return NULL;
    }
    dataset_iter *it = calloc(1, sizeof *it);
    if (!it) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    it->d = d;
    it->o = *opts;
    it->o.augment = NULL; /* the copy below is what workers use */
    it->augment = opts->augment && !augment_is_identity(opts->augment);
    if (it->augment)
        it->aug = *opts->augment;
    it->sample_len = (size_t)opts->img_size * opts->img_size * 3;
    it->n_batches = (d->n + (size_t)opts->batch - 1) / (size_t)opts->batch;
    if (opts->shard_count > 1 && opts->shard_whole_batches) {
        /* This rank's run of whole batches (dataset.h). */
        size_t nb = it->n_batches, r = (size_t)opts->shard_rank, c = (size_t)opts->shard_count;
        it->first_batch = nb * r / c;
        it->n_batches = nb * (r + 1) / c - it->first_batch;
    }
    it->epoch = -1;

    int workers = opts->workers;
    if (workers == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        workers = c > 0 ? (int)c : 1;
    }
    if (workers > DATASET_MAX_WORKERS)
        workers = DATASET_MAX_WORKERS;
    /* Enough slots that every worker can be busy while the consumer holds one. */
    it->n_slots = workers + 2;
    it->order = malloc(d->n * sizeof *it->order);
    it->slots = calloc((size_t)it->n_slots, sizeof *it->slots);
    it->failed_seen = calloc(d->n, 1);
    it->threads = calloc((size_t)workers, sizeof *it->threads);
    if (!it->order || !it->slots || !it->failed_seen || !it->threads) {
        free(it->threads);
        it->threads = NULL;
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        dataset_iter_free(it);
        return NULL;
    }
    for (int i = 0; i < it->n_slots; i++) {
        batch_slot *s = &it->slots[i];
        s->x = malloc((size_t)opts->batch * it->sample_len * sizeof *s->x);
        s->y = malloc((size_t)opts->batch * sizeof *s->y);
        s->failed = malloc((size_t)opts->batch * sizeof *s->failed);
        if (!s->x || !s->y || !s->failed) {
            free(it->threads);
            it->threads = NULL;
            cd_err_set(err, CD_ERR_NOMEM, "out of memory for %d batches of %d images at %dx%d", it->n_slots,
                       opts->batch, opts->img_size, opts->img_size);
            dataset_iter_free(it);
            return NULL;
        }
    }
    if (opts->cache) {
        /* Untouched pages cost nothing until an image lands in them. */
        it->cache = malloc(d->n * it->sample_len);
        it->cache_state = calloc(d->n, 1);
        if (!it->cache || !it->cache_state) {
            free(it->threads);
            it->threads = NULL;
            cd_err_set(err, CD_ERR_NOMEM, "cannot allocate the image cache (%zu images at %dx%d: %.0f MB)", d->n,
                       opts->img_size, opts->img_size, (double)d->n * (double)it->sample_len / 1e6);
            dataset_iter_free(it);
            return NULL;
        }
    }
    if (pthread_mutex_init(&it->mu, NULL) != 0) {
        free(it->threads);
        it->threads = NULL;
        cd_err_set(err, CD_ERR_NOMEM, "cannot create a mutex");
        dataset_iter_free(it);
        return NULL;
    }
    pthread_cond_init(&it->work_cv, NULL);
    pthread_cond_init(&it->done_cv, NULL);
    for (int i = 0; i < workers; i++) {
        int e = pthread_create(&it->threads[i], NULL, worker_main, it);
        if (e != 0) {
            cd_err_set(err, CD_ERR_NOMEM, "cannot start data worker thread %d: %s", i + 1, strerror(e));
            dataset_iter_free(it);
            return NULL;
        }
        it->n_threads++;
    }
    return it;
}

size_t dataset_iter_batches(const dataset_iter *it)
{
    return it ? it->n_batches : 0;
}

int dataset_iter_begin_epoch(dataset_iter *it, int epoch, cd_err *err)
{
    if (!it || epoch < 0)
        return cd_err_set(err, CD_ERR_INVALID, "dataset iterator: bad epoch %d", epoch);
    pthread_mutex_lock(&it->mu);
    it->active = 0;
    while (it->in_flight > 0)
        pthread_cond_wait(&it->done_cv, &it->mu);
    /* Workers are idle: order[], slots and the cache are the consumer's now. */
    dataset_epoch_order(it->o.seed, it->o.shuffle, epoch, it->order, it->d->n);
    for (int i = 0; i < it->n_slots; i++)
        it->slots[i].ready = 0;
    it->epoch = epoch;
    it->next_claim = it->next_take = it->free_below = 0;
    it->holding = 0;
    it->active = 1;
    pthread_cond_broadcast(&it->work_cv);
    pthread_mutex_unlock(&it->mu);
    return 0;
}

/* Adds a batch's unreadable files to the consumer's list (consumer thread only). */
static int record_failures(dataset_iter *it, const batch_slot *s, cd_err *err)
{
    for (int i = 0; i < s->n_failed; i++) {
        size_t idx = s->failed[i];
        if (it->failed_seen[idx])
            continue;
        if (it->n_failed == it->cap_failed) {
            size_t cap = it->cap_failed ? it->cap_failed * 2 : 16;
            const char **p = realloc(it->failed_paths, cap * sizeof *p);
            if (!p)
                return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
            it->failed_paths = p;
            it->cap_failed = cap;
        }
        it->failed_seen[idx] = 1;
        it->failed_paths[it->n_failed++] = it->d->paths[idx];
    }
    return 0;
}

int dataset_iter_next(dataset_iter *it, const float **x, const float **y, int *n, cd_err *err)
{
    if (!it)
        return cd_err_set(err, CD_ERR_INVALID, "dataset iterator: NULL");
    pthread_mutex_lock(&it->mu);
    if (!it->active) {
        pthread_mutex_unlock(&it->mu);
        return cd_err_set(err, CD_ERR_INVALID, "dataset iterator: call dataset_iter_begin_epoch first");
    }
    for (;;) {
        if (it->holding) {
            /* The caller is done with the previous batch: its slot is free again. */
            it->free_below = it->next_take;
            it->holding = 0;
            pthread_cond_broadcast(&it->work_cv);
        }
        if (it->next_take >= it->n_batches) {
            pthread_mutex_unlock(&it->mu);
            return 0;
        }
        size_t b = it->next_take;
        batch_slot *s = &it->slots[b % (size_t)it->n_slots];
        while (!(s->ready && s->batch == b))
            pthread_cond_wait(&it->done_cv, &it->mu);
        it->next_take = b + 1;
        it->holding = 1;
        pthread_mutex_unlock(&it->mu);

        if (record_failures(it, s, err) < 0)
            return -1;
        if (s->status < 0) {
            if (err)
                *err = s->err;
            return -1;
        }
        if (s->n > 0 || sliced(it)) {
            *x = s->x;
            *y = s->y;
            *n = s->n;
            return 1;
        }
        pthread_mutex_lock(&it->mu); /* nothing readable in this batch: take the next */
    }
}

int dataset_iter_sharded(const dataset_iter *it)
{
    return it && sliced(it);
}

size_t dataset_iter_failed(const dataset_iter *it, const char *const **paths)
{
    if (paths)
        *paths = it ? it->failed_paths : NULL;
    return it ? it->n_failed : 0;
}
