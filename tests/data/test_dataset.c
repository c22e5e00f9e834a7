/*
 * test_dataset.c - dataset folders and the batch iterator (data/dataset.h):
 * class order and labels, errors, batch order and sizes with the last partial
 * batch kept, per-epoch reshuffling, identical batches for any worker count and
 * with or without the cache, shards (MPI ranks) that put together give each
 * batch, unreadable images skipped/counted/listed, and a
 * check over a split of ../shared's photos (skipped when absent).
 *
 * The test writes its own tiny photos with image_encode_jpeg: each a solid colour
 * whose red channel encodes the file's number, so a sample in a batch can be
 * traced back to its file (JPEG keeps a flat colour within +-2).
 */
#include "test_util.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/split.h"
#include "image/image.h"

#define S 8          /* iterator image size */
#define N_CAT 13
#define N_DOG 10
#define N (N_CAT + N_DOG)

typedef struct fixture {
    char root[PATH_MAX];
    char data[PATH_MAX];
} fixture;

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A w x h JPEG of one colour, red = 10 * id. */
static void write_photo(const char *path, int id, int w, int h)
{
    image im = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(im.rgb);
    for (int i = 0; i < w * h; i++) {
        im.rgb[i * 3 + 0] = (unsigned char)(10 * id);
        im.rgb[i * 3 + 1] = (unsigned char)(250 - 10 * id);
        im.rgb[i * 3 + 2] = 100;
    }
    unsigned char *jpg = NULL;
    size_t len = 0;
    cd_err err;
    assert_int_equal(image_encode_jpeg(&im, 95, &jpg, &len, &err), 0);
    write_bytes(path, jpg, len);
    free(jpg);
    free(im.rgb);
}

/* DATA/dogs/ (written first, so order on disk is not alphabetical) and DATA/cats/;
 * ids: cats 0..12 (cat00..cat12), dogs 13..22; sizes vary so resizing is exercised. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/catdog_test_dataset_XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->root);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s", f->data);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dogs", f->data);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/cats", f->data);
    mkdir(p, 0755);
    for (int i = 0; i < N_DOG; i++) {
        snprintf(p, sizeof p, "%s/dogs/dog%02d.jpg", f->data, i);
        write_photo(p, N_CAT + i, 16 + i, 12);
    }
    for (int i = 0; i < N_CAT; i++) {
        snprintf(p, sizeof p, "%s/cats/cat%02d.jpg", f->data, i);
        write_photo(p, i, i % 2 ? S : 20, i % 2 ? S : 9);
    }
    snprintf(p, sizeof p, "%s/cats/notes.txt", f->data);
    write_bytes(p, "x", 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The file id a sample came from, read back from its red channel. */
static int sample_id(const float *x)
{
    float red = x[0] * 255.0f; /* rescale preprocessing: x / 255 */
    int id = (int)(red / 10.0f + 0.5f);
    assert_true(red > id * 10 - 3 && red < id * 10 + 3);
    for (int i = 1; i < S * S; i++) /* the whole sample is that colour */
        assert_true(x[i * 3] * 255.0f > id * 10 - 3 && x[i * 3] * 255.0f < id * 10 + 3);
    return id;
}

static dataset_iter_opts base_opts(void)
{
    dataset_iter_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 5;
    o.img_size = S;
    o.preprocess = CD_PRE_RESCALE;
    o.shuffle = 1;
    o.seed = 99;
    o.workers = 2;
    return o;
}

/* Runs one epoch, appending every sample's x and y to the given buffers. */
static size_t run_epoch(dataset_iter *it, int epoch, float *xs, float *ys, int *sizes, size_t *n_batches)
{
    cd_err err;
    assert_int_equal(dataset_iter_begin_epoch(it, epoch, &err), 0);
    const float *x, *y;
    int n, rc;
    size_t total = 0, nb = 0;
    while ((rc = dataset_iter_next(it, &x, &y, &n, &err)) == 1) {
        assert_true(n > 0);
        if (xs)
            memcpy(xs + total * S * S * 3, x, (size_t)n * S * S * 3 * sizeof *x);
        if (ys)
            memcpy(ys + total, y, (size_t)n * sizeof *y);
        if (sizes)
            sizes[nb] = n;
        total += (size_t)n;
        nb++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(dataset_iter_next(it, &x, &y, &n, &err), 0); /* stays at the end */
    if (n_batches)
        *n_batches = nb;
    return total;
}

static void test_dataset_open_classes_alphabetical_with_labels(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    assert_non_null(d);
    assert_int_equal(d->n_classes, 2);
    assert_string_equal(d->class_names[0], "cats");
    assert_string_equal(d->class_names[1], "dogs");
    assert_int_equal(d->n, N); /* notes.txt is not an image */
    for (size_t i = 0; i < d->n; i++) {
        char want[PATH_MAX + 64];
        if (i < N_CAT)
            snprintf(want, sizeof want, "%s/cats/cat%02zu.jpg", f->data, i);
        else
            snprintf(want, sizeof want, "%s/dogs/dog%02zu.jpg", f->data, i - N_CAT);
        assert_string_equal(d->paths[i], want);
        assert_int_equal(d->labels[i], i < N_CAT ? 0 : 1);
    }
    dataset_free(d);
}

static void test_dataset_open_errors_name_the_problem(void **state)
{
    fixture *f = *state;
    cd_err err;
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/nowhere", f->root);
    assert_null(dataset_open(p, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "nowhere"));

    snprintf(p, sizeof p, "%s/flat", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_null(dataset_open(p, &err));
    assert_non_null(strstr(err.msg, "no class folders"));

    snprintf(p, sizeof p, "%s/birds", f->data);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_null(dataset_open(f->data, &err));
    assert_non_null(strstr(err.msg, "birds"));
    assert_non_null(strstr(err.msg, "no images"));
}

static void test_iter_unshuffled_order_labels_and_partial_batch(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    assert_non_null(d);
    dataset_iter_opts o = base_opts();
    o.shuffle = 0;
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    assert_non_null(it);
    assert_int_equal(dataset_iter_batches(it), 5); /* 23 = 4 * 5 + 3 */
    const float *x, *y;
    int n;
    assert_int_equal(dataset_iter_next(it, &x, &y, &n, &err), -1); /* no epoch begun */
    float *xs = malloc(sizeof(float) * N * S * S * 3), ys[N];
    int sizes[8];
    size_t nb;
    assert_int_equal(run_epoch(it, 0, xs, ys, sizes, &nb), N);
    assert_int_equal(nb, 5);
    for (int b = 0; b < 4; b++)
        assert_int_equal(sizes[b], 5);
    assert_int_equal(sizes[4], 3);
    for (int i = 0; i < N; i++) {
        assert_int_equal(sample_id(xs + (size_t)i * S * S * 3), i);
        assert_float_equal(ys[i], i < N_CAT ? 0.0f : 1.0f, 0);
        /* green and blue came through too: rescale keeps RGB order */
        assert_float_equal(xs[(size_t)i * S * S * 3 + 2], 100 / 255.0f, 3 / 255.0f);
    }
    assert_int_equal(dataset_iter_failed(it, NULL), 0);
    free(xs);
    dataset_iter_free(it);
    dataset_free(d);
}

static void test_iter_shuffles_each_epoch_as_a_permutation(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    dataset_iter_opts o = base_opts();
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    assert_non_null(it);
    float *xs = malloc(sizeof(float) * N * S * S * 3), ys[N];
    int order[3][N];
    for (int e = 0; e < 3; e++) {
        assert_int_equal(run_epoch(it, e, xs, ys, NULL, NULL), N);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            int id = sample_id(xs + (size_t)i * S * S * 3);
            assert_true(id >= 0 && id < N);
            seen[id]++;
            assert_float_equal(ys[i], id < N_CAT ? 0.0f : 1.0f, 0); /* labels follow their images */
            order[e][i] = id;
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(seen[i], 1);
    }
    assert_true(memcmp(order[0], order[1], sizeof order[0]) != 0);
    assert_true(memcmp(order[1], order[2], sizeof order[0]) != 0);
    int identity = 1;
    for (int i = 0; i < N; i++)
        identity &= order[0][i] == i;
    assert_false(identity);

    /* Epoch 1 again, on a fresh iterator with the same seed, after an abandoned epoch. */
    dataset_iter *again = dataset_iter_new(d, &o, &err);
    const float *x, *y;
    int n;
    assert_int_equal(dataset_iter_begin_epoch(again, 0, &err), 0);
    assert_int_equal(dataset_iter_next(again, &x, &y, &n, &err), 1); /* then abandon epoch 0 */
    assert_int_equal(run_epoch(again, 1, xs, ys, NULL, NULL), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(sample_id(xs + (size_t)i * S * S * 3), order[1][i]);
    dataset_iter_free(again);
    free(xs);
    dataset_iter_free(it);
    dataset_free(d);
}

/* Two epochs with augmentation, as bytes. */
/* One epoch (0) of a sharded iterator, whose batches may be empty: the
 * samples and the batches delivered. */
static size_t run_epoch_any(dataset_iter *it, size_t *n_batches)
{
    cd_err err;
    assert_int_equal(dataset_iter_begin_epoch(it, 0, &err), 0);
    const float *x, *y;
    int n, rc;
    size_t total = 0;
    *n_batches = 0;
    while ((rc = dataset_iter_next(it, &x, &y, &n, &err)) == 1) {
        total += (size_t)n;
        ++*n_batches;
    }
    assert_int_equal(rc, 0);
    return total;
}

static void collect(const dataset *d, dataset_iter_opts o, float *xs, float *ys)
{
    cd_err err;
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    assert_non_null(it);
    for (int e = 0; e < 2; e++)
        assert_int_equal(run_epoch(it, e, xs + (size_t)e * N * S * S * 3, ys + e * N, NULL, NULL), N);
    dataset_iter_free(it);
}

static void test_iter_same_batches_for_any_workers_and_with_cache(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    augment_opts aug;
    assert_int_equal(augment_parse("default,brightness=0.3", &aug, &err), 0);
    dataset_iter_opts o = base_opts();
    o.augment = &aug;
    size_t len = (size_t)2 * N * S * S * 3;
    float *ref = malloc(len * sizeof *ref), *got = malloc(len * sizeof *got), yref[2 * N], ygot[2 * N];
    o.workers = 1;
    collect(d, o, ref, yref);
    int configs[][2] = {{2, 0}, {4, 0}, {3, 1}, {1, 1}, {0, 1}}; /* workers, cache */
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        o.workers = configs[c][0];
        o.cache = configs[c][1];
        collect(d, o, got, ygot);
        assert_memory_equal(got, ref, len * sizeof *ref);
        assert_memory_equal(ygot, yref, sizeof yref);
    }
    /* Without augmentation: the same order (shuffling does not depend on it), other pixels. */
    float *noaug = malloc(len * sizeof *noaug), ynoaug[2 * N];
    o.augment = NULL;
    o.workers = 2;
    o.cache = 0;
    collect(d, o, noaug, ynoaug);
    assert_memory_equal(ynoaug, yref, sizeof yref);
    assert_true(memcmp(noaug, ref, len * sizeof *ref) != 0);
    /* Another seed, another order. */
    o.seed = 100;
    collect(d, o, got, ygot);
    int same = 1;
    for (int i = 0; i < N; i++)
        same &= sample_id(got + (size_t)i * S * S * 3) == sample_id(noaug + (size_t)i * S * S * 3);
    assert_false(same);
    free(noaug);
    free(ref);
    free(got);
    dataset_free(d);
}

/* shard_count > 1 (data parallelism): every rank gets the same number of
 * batches, and batch b of ranks 0..c-1 put together is batch b of the whole
 * iterator (pixels, augmentation and labels), an empty slice delivered with
 * n = 0; a rank reads only its slices (an unreadable file is met by its owner
 * alone). */
static void test_iter_shards_partition_each_batch(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    assert_non_null(d);
    augment_opts aug;
    assert_int_equal(augment_parse("default", &aug, &err), 0);
    dataset_iter_opts o = base_opts(); /* batch 5 over 23: 5, 5, 5, 5, 3 */
    o.augment = &aug;
    const size_t len = (size_t)S * S * 3;
    float *whole = malloc((size_t)N * len * sizeof *whole), ywhole[N];
    int sizes[8];
    size_t nb = 0;
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    assert_non_null(it);
    assert_false(dataset_iter_sharded(it));
    assert_int_equal(run_epoch(it, 1, whole, ywhole, sizes, &nb), N);
    dataset_iter_free(it);
    assert_int_equal(nb, 5);
    enum { C = 4 };
    size_t pos[5] = {0}; /* where each batch starts in `whole` */
    for (size_t b = 1; b < nb; b++)
        pos[b] = pos[b - 1] + (size_t)sizes[b - 1];
    size_t filled[5] = {0}, empty = 0;
    for (int r = 0; r < C; r++) {
        o.shard_rank = r;
        o.shard_count = C;
        assert_non_null(it = dataset_iter_new(d, &o, &err));
        assert_true(dataset_iter_sharded(it));
        assert_int_equal(dataset_iter_begin_epoch(it, 1, &err), 0);
        const float *x, *y;
        int n, got;
        size_t b = 0;
        while ((got = dataset_iter_next(it, &x, &y, &n, &err)) == 1) {
            assert_true(b < nb);
            int m = sizes[b], lo = m * r / C, hi = m * (r + 1) / C;
            assert_int_equal(n, hi - lo);
            empty += n == 0;
            assert_int_equal(filled[b], (size_t)lo); /* rank order = batch order */
            if (n > 0) {
                assert_memory_equal(x, whole + (pos[b] + (size_t)lo) * len, (size_t)n * len * sizeof *x);
                assert_memory_equal(y, ywhole + pos[b] + (size_t)lo, (size_t)n * sizeof *y);
            }
            filled[b] += (size_t)n;
            b++;
        }
        assert_int_equal(got, 0);
        assert_int_equal(b, nb); /* the same number of batches on every rank */
        dataset_iter_free(it);
    }
    for (size_t b = 0; b < nb; b++)
        assert_int_equal(filled[b], (size_t)sizes[b]);
    assert_int_equal(empty, 1); /* rank 0's slice of the last batch of 3 */

    /* Unshuffled, 2 ranks: batch 0 is files 0..4, rank 0 gets 0..1, rank 1
     * 2..4; file 3 (cats/cat03.jpg) unreadable is rank 1's failure only. */
    char bad[PATH_MAX + 64];
    snprintf(bad, sizeof bad, "%s/cats/cat03.jpg", f->data);
    write_bytes(bad, "not a jpeg", 10);
    o.shuffle = 0;
    o.augment = NULL;
    o.shard_count = 2;
    for (int r = 0; r < 2; r++) {
        o.shard_rank = r;
        assert_non_null(it = dataset_iter_new(d, &o, &err));
        size_t total = run_epoch_any(it, &nb);
        const char *const *failed;
        assert_int_equal(dataset_iter_failed(it, &failed), (size_t)r);
        if (r == 1)
            assert_string_equal(failed[0], bad);
        assert_int_equal(nb, 5);
        assert_int_equal(total, r == 0 ? 2 + 2 + 2 + 2 + 1 : 3 + 3 + 3 + 3 + 2 - 1);
        dataset_iter_free(it);
    }
    free(whole);
    dataset_free(d);
}

/* shard_whole_batches (distributed evaluation): rank r of c gets the whole
 * batches [nb*r/c, nb*(r+1)/c), each as the unsharded iterator makes it, so
 * the ranks' runs in rank order are the unsharded epoch (pixels, labels,
 * batch sizes); with more ranks than batches some get none. */
static void test_iter_shards_of_whole_batches_concatenate_to_the_epoch(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    assert_non_null(d);
    augment_opts aug;
    assert_int_equal(augment_parse("default", &aug, &err), 0);
    dataset_iter_opts o = base_opts(); /* batch 5 over 23: 5, 5, 5, 5, 3 */
    o.augment = &aug;
    const size_t len = (size_t)S * S * 3;
    float *whole = malloc((size_t)N * len * sizeof *whole), *part = malloc((size_t)N * len * sizeof *part);
    float ywhole[N], ypart[N];
    int sizes[8], psizes[8];
    size_t nb = 0, pnb = 0;
    assert_non_null(whole);
    assert_non_null(part);
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    assert_non_null(it);
    assert_int_equal(run_epoch(it, 1, whole, ywhole, sizes, &nb), N);
    dataset_iter_free(it);
    assert_int_equal(nb, 5);
    int counts[] = {2, 3, 7};
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        int c = counts[ci];
        size_t at = 0, b = 0;
        for (int r = 0; r < c; r++) {
            o.shard_rank = r;
            o.shard_count = c;
            o.shard_whole_batches = 1;
            o.cache = r % 2; /* with or without the cache: the same batches */
            assert_non_null(it = dataset_iter_new(d, &o, &err));
            assert_false(dataset_iter_sharded(it)); /* not sliced: the engine takes batches whole */
            assert_int_equal(dataset_iter_batches(it), nb * (size_t)(r + 1) / (size_t)c - nb * (size_t)r / (size_t)c);
            size_t got = run_epoch(it, 1, part, ypart, psizes, &pnb);
            assert_int_equal(pnb, dataset_iter_batches(it));
            for (size_t k = 0; k < pnb; k++)
                assert_int_equal(psizes[k], sizes[b + k]);
            assert_true(at + got <= N);
            assert_memory_equal(part, whole + at * len, got * len * sizeof *part);
            assert_memory_equal(ypart, ywhole + at, got * sizeof *ypart);
            at += got;
            b += pnb;
            dataset_iter_free(it);
        }
        assert_int_equal(at, N);
        assert_int_equal(b, nb);
    }
    free(whole);
    free(part);
    dataset_free(d);
}

static void test_iter_unreadable_images_skipped_counted_listed(void **state)
{
    fixture *f = *state;
    char bad1[PATH_MAX + 64], bad2[PATH_MAX + 64], good[PATH_MAX + 64];
    snprintf(bad1, sizeof bad1, "%s/cats/cat99_garbage.jpg", f->data);
    write_bytes(bad1, "this is not a jpeg at all", 25);
    /* A truncated JPEG: the first half of a real one. */
    snprintf(good, sizeof good, "%s/dogs/dog00.jpg", f->data);
    size_t len = 0;
    unsigned char *bytes = test_read_file(good, &len);
    assert_non_null(bytes);
    snprintf(bad2, sizeof bad2, "%s/dogs/dog99_truncated.jpg", f->data);
    write_bytes(bad2, bytes, len / 2);
    free(bytes);

    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    assert_non_null(d);
    assert_int_equal(d->n, N + 2);
    for (int cache = 0; cache <= 1; cache++) {
        dataset_iter_opts o = base_opts();
        o.cache = cache;
        dataset_iter *it = dataset_iter_new(d, &o, &err);
        assert_non_null(it);
        float ys[N + 2];
        for (int e = 0; e < 2; e++) {
            size_t total = run_epoch(it, e, NULL, ys, NULL, NULL);
            assert_int_equal(total, N); /* the two bad files are dropped from their batches */
            int dogs = 0;
            for (size_t i = 0; i < total; i++)
                dogs += ys[i] == 1.0f;
            assert_int_equal(dogs, N_DOG);
            const char *const *paths;
            assert_int_equal(dataset_iter_failed(it, &paths), 2); /* counted once, not per epoch */
            int found1 = 0, found2 = 0;
            for (int i = 0; i < 2; i++) {
                found1 |= strcmp(paths[i], bad1) == 0;
                found2 |= strcmp(paths[i], bad2) == 0;
            }
            assert_true(found1 && found2);
        }
        dataset_iter_free(it);
    }
    dataset_free(d);
}

static void test_iter_bad_options(void **state)
{
    fixture *f = *state;
    cd_err err;
    dataset *d = dataset_open(f->data, &err);
    dataset_iter_opts o = base_opts();
    o.batch = 0;
    assert_null(dataset_iter_new(d, &o, &err));
    assert_int_equal(err.code, CD_ERR_INVALID);
    o = base_opts();
    o.img_size = 0;
    assert_null(dataset_iter_new(d, &o, &err));
    dataset_free(d);
}

/* ../shared: a linked split of the 16,000 photos holds 8,000 per class, and its
 * photos decode through the iterator at 150x150. */
static void test_shared_split_has_8000_per_class(void **state)
{
    fixture *f = *state;
    TEST_REQUIRE_SHARED(shared);
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/data/dogs-vs-cats/train", shared);
    if (access(src, R_OK) != 0)
        TEST_SKIP("%s not found", src);
    snprintf(dst, sizeof dst, "%s/split", f->root);
    split_opts so;
    split_opts_default(&so);
    cd_err err;
    assert_int_equal(split_run(src, dst, &so, NULL, &err), 0);
    size_t per_class[2] = {0, 0};
    const char *parts[] = {"train", "validation", "test"};
    for (int p = 0; p < 3; p++) {
        char dir[PATH_MAX + 96];
        snprintf(dir, sizeof dir, "%s/%s", dst, parts[p]);
        dataset *d = dataset_open(dir, &err);
        assert_non_null(d);
        assert_int_equal(d->n_classes, 2);
        assert_string_equal(d->class_names[0], "cats");
        assert_string_equal(d->class_names[1], "dogs");
        for (size_t i = 0; i < d->n; i++)
            per_class[d->labels[i]]++;
        if (p == 1) {
            dataset_iter_opts o = base_opts();
            o.batch = 32;
            o.img_size = 150;
            dataset_iter *it = dataset_iter_new(d, &o, &err);
            assert_non_null(it);
            assert_int_equal(dataset_iter_begin_epoch(it, 0, &err), 0);
            const float *x, *y;
            int n;
            for (int b = 0; b < 2; b++) {
                assert_int_equal(dataset_iter_next(it, &x, &y, &n, &err), 1);
                assert_int_equal(n, 32);
                double sum = 0;
                for (size_t i = 0; i < (size_t)n * 150 * 150 * 3; i++) {
                    assert_true(x[i] >= 0 && x[i] <= 1);
                    sum += x[i];
                }
                assert_true(sum / ((double)n * 150 * 150 * 3) > 0.1); /* real photos, not black */
            }
            assert_int_equal(dataset_iter_failed(it, NULL), 0);
            dataset_iter_free(it);
        }
        dataset_free(d);
    }
    assert_int_equal(per_class[0], 8000);
    assert_int_equal(per_class[1], 8000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dataset_open_classes_alphabetical_with_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_open_errors_name_the_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_unshuffled_order_labels_and_partial_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_shuffles_each_epoch_as_a_permutation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_same_batches_for_any_workers_and_with_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_shards_partition_each_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_shards_of_whole_batches_concatenate_to_the_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_unreadable_images_skipped_counted_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iter_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_split_has_8000_per_class, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
