/*
 * bench_dataset_iter.c - throughput of the batch iterator (data/dataset.h), a
 * measurement, not a test (ctest does not build it: only test_*.c are tests).
 *
 * Prints images/s for each epoch; with --cache the first epoch fills the cache
 * (cold: decode + resize) and later ones only augment and convert.  The consumer
 * does nothing but sum the batch, so this is what the pipeline can deliver.
 *
 * Build and run from the repository root after `make build`:
 *   cc -O2 -D_GNU_SOURCE -Isrc tests/data/bench_dataset_iter.c build/libcatdog_lib.a \
 *      $(pkg-config --libs libjpeg libpng libwebp libexif) -lpthread -lm -o build/bench_dataset_iter
 *   build/bench_dataset_iter DIR [img_size=150] [workers=2] [cache=1] [epochs=3] [augment=none] [batch=32]
 * where DIR is a split part, e.g. the train/ of `catdog split`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "data/dataset.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [img_size] [workers] [cache] [epochs] [augment] [batch]\n", argv[0]);
        return 2;
    }
    int size = argc > 2 ? atoi(argv[2]) : 150;
    int workers = argc > 3 ? atoi(argv[3]) : 2;
    int cache = argc > 4 ? atoi(argv[4]) : 1;
    int epochs = argc > 5 ? atoi(argv[5]) : 3;
    const char *spec = argc > 6 ? argv[6] : "none";
    int batch = argc > 7 ? atoi(argv[7]) : 32;
    cd_err err;
    augment_opts aug;
    if (augment_parse(spec, &aug, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    dataset *d = dataset_open(argv[1], &err);
    if (!d) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    dataset_iter_opts o = {0};
    o.batch = batch;
    o.img_size = size;
    o.preprocess = CD_PRE_RESCALE;
    o.shuffle = 1;
    o.seed = 1;
    o.workers = workers;
    o.cache = cache;
    o.augment = &aug;
    dataset_iter *it = dataset_iter_new(d, &o, &err);
    if (!it) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%zu images, %dx%d, batch %d, %d workers, cache %s, augment '%s'\n", d->n, size, size, batch, workers,
           cache ? "on" : "off", spec);
    double sink = 0;
    for (int e = 0; e < epochs; e++) {
        double t0 = now();
        if (dataset_iter_begin_epoch(it, e, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        const float *x, *y;
        int n, rc;
        size_t total = 0;
        while ((rc = dataset_iter_next(it, &x, &y, &n, &err)) == 1) {
            sink += x[0] + x[(size_t)n * size * size * 3 - 1] + y[0];
            total += (size_t)n;
        }
        if (rc < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        printf("epoch %d: %zu images in %.2f s = %.0f images/s\n", e, total, dt, total / dt);
    }
    printf("unreadable: %zu (checksum %.1f)\n", dataset_iter_failed(it, NULL), sink);
    dataset_iter_free(it);
    dataset_free(d);
    return 0;
}
