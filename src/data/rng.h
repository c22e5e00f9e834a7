/*
 * rng.h - the small deterministic random generator the data room shares
 * (private to src/data: split, dataset shuffling, augmentation).
 *
 * Everything random in the data pipeline must be a pure function of the user's
 * seed, so the generator is a value (no global state) and seeds are derived by
 * hashing (seed, epoch, index, ...) with splitmix64's finaliser.  A shuffle or
 * an augmentation therefore never depends on which thread ran it or when.
 * splitmix64 (Steele, Lea & Flood 2014) passes BigCrush and is enough here.
 */
#ifndef CATDOG_DATA_RNG_H
#define CATDOG_DATA_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t state;
} rng;

/* splitmix64's finaliser: a bijective mix of 64 bits. */
static inline uint64_t rng_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Combines a seed with one more value (an epoch, an index, a domain tag). */
static inline uint64_t rng_derive(uint64_t seed, uint64_t v)
{
    return rng_mix(seed ^ rng_mix(v + 0x632BE59BD9B4E019ULL));
}

/* FNV-1a of a string, to derive seeds from names (class folders). */
static inline uint64_t rng_hash_str(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return h;
}

static inline void rng_init(rng *r, uint64_t seed)
{
    r->state = seed;
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi). */
static inline double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the bias for
 * n < 2^32 is below 2^-32, irrelevant for shuffling file lists). */
static inline size_t rng_below(rng *r, size_t n)
{
    return (size_t)(((unsigned __int128)rng_next(r) * (unsigned __int128)n) >> 64);
}

/* Fisher-Yates shuffle of n size_t values. */
static inline void rng_shuffle(rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

#endif
