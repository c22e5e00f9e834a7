/* tests/train/synth_source.h - a synthetic engine_source for the engine's
 * tests: DIM floats per sample, the label a noisy sign of the first, batches of
 * BATCH, shuffled per epoch from the seed.  Header-only, test use. */
#ifndef CATDOG_TESTS_SYNTH_SOURCE_H
#define CATDOG_TESTS_SYNTH_SOURCE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/engine.h"

#define DIM 8
#define BATCH 16

typedef struct synth {
    size_t n;
    float *x, *y;
    size_t pos;
    uint64_t seed;
    int shuffle;
    size_t *perm;
    float bx[BATCH * DIM], by[BATCH];
} synth;

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static float unif(uint64_t *s)
{
    *s = mix(*s);
    return (float)((double)(*s >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static void synth_init(synth *d, size_t n, uint64_t seed, int shuffle)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->seed = seed;
    d->shuffle = shuffle;
    d->x = malloc(n * DIM * sizeof(float));
    d->y = malloc(n * sizeof(float));
    d->perm = malloc(n * sizeof(size_t));
    assert_non_null(d->x);
    assert_non_null(d->y);
    assert_non_null(d->perm);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < DIM; j++)
            d->x[i * DIM + j] = unif(&s);
        /* Learnable but noisy, so the validation figures move from epoch to epoch. */
        d->y[i] = d->x[i * DIM] + 0.6f * unif(&s) > 0 ? 1.0f : 0.0f;
    }
}

static void synth_free(synth *d)
{
    free(d->x);
    free(d->y);
    free(d->perm);
}

static size_t synth_batches(void *ctx)
{
    const synth *d = ctx;
    return (d->n + BATCH - 1) / BATCH;
}

static int synth_begin(void *ctx, int epoch, cd_err *err)
{
    (void)err;
    synth *d = ctx;
    d->pos = 0;
    for (size_t i = 0; i < d->n; i++)
        d->perm[i] = i;
    uint64_t s = mix(d->seed ^ (uint64_t)epoch);
    for (size_t i = d->n; d->shuffle && i > 1; i--) {
        s = mix(s);
        size_t j = (size_t)(s % i), t = d->perm[i - 1];
        d->perm[i - 1] = d->perm[j];
        d->perm[j] = t;
    }
    return 0;
}

static int synth_next(void *ctx, const float **x, const float **y, int *n, cd_err *err)
{
    (void)err;
    synth *d = ctx;
    if (d->pos >= d->n)
        return 0;
    int k = (int)(d->n - d->pos < BATCH ? d->n - d->pos : BATCH);
    for (int i = 0; i < k; i++) {
        size_t idx = d->perm[d->pos + (size_t)i];
        memcpy(d->bx + (size_t)i * DIM, d->x + idx * DIM, DIM * sizeof(float));
        d->by[i] = d->y[idx];
    }
    d->pos += (size_t)k;
    *x = d->bx;
    *y = d->by;
    *n = k;
    return 1;
}

static engine_source synth_source(synth *d)
{
    engine_source s = {d, synth_batches, synth_begin, synth_next, 1}; /* its own batch copy */
    return s;
}

#endif
