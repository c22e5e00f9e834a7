/*
 * bench/bench_engine.c - times catdog's oneDNN engine on one configuration and
 * prints one result line; bench/run.sh builds it against the library, runs it
 * next to bench/bench_torch.py for the same configurations and tabulates both.
 *
 *   bench_engine MODE ARCH SIZE BATCH THREADS SECONDS [PRECISION]
 *     MODE     infer  (forward only)  |  train  (forward, BCE-from-logits
 *              gradient, backward, Adam step with Keras' formulas, weights
 *              refreshed -- one optimizer step per batch)
 *     ARCH     a built-in architecture (binary, squeezenet, vgg16), or a model
 *              file (a path with a '/': loaded as `catdog predict` loads it,
 *              so a file made by catdog quantize brings its int8 calibration;
 *              SIZE is then ignored)
 *     SECONDS  measuring time (after 3 warm-up runs; at least 5 runs)
 *     PRECISION  f32 (default), bf16 or int8 (inference; int8 needs a
 *              quantized model file)
 *
 * Output: "catdog MODE ARCH SIZE BATCH THREADS median_ms best_ms runs cpu_ms":
 * cpu_ms is the median CPU time (user + system, all of the process' threads)
 * per call, which other processes on the cores inflate less than the wall
 * time (with spinning OpenMP threads it counts their spinning too).
 * Random weights (glorot, seeded; built-ins) and random inputs: speed does
 * not depend on the values.  Not a test: nothing here asserts a time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/arch.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "transfer/transfer_model.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Adam as Keras 2 applies it (lr 1e-3, beta 0.9/0.999, epsilon 1e-7), with the
 * bias correction folded into the step size. */
typedef struct adam {
    float *m, *v;
    long long t;
} adam;

static void adam_step(adam *a, model *md, const runner *r)
{
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
    a->t++;
    float lr_t = lr * sqrtf(1.0f - powf(b2, (float)a->t)) / (1.0f - powf(b1, (float)a->t));
    size_t off = 0;
    for (int i = 0; i < md->n_layers; i++)
        for (int k = 0; k < md->layers[i].n_params; k++) {
            tensor *p = md->layers[i].params[k];
            const tensor *g = runner_param_grad(r, i, k);
            if (g)
                for (size_t j = 0; j < p->size; j++) {
                    float gj = g->data[j];
                    float *mj = &a->m[off + j], *vj = &a->v[off + j];
                    *mj = b1 * *mj + (1.0f - b1) * gj;
                    *vj = b2 * *vj + (1.0f - b2) * gj * gj;
                    p->data[j] -= lr_t * *mj / (sqrtf(*vj) + eps);
                }
            off += p->size;
        }
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s infer|train ARCH SIZE BATCH THREADS SECONDS [PRECISION]\n",
                argv[0]);
        return 2;
    }
    runner_precision prec = RUNNER_PREC_F32;
    if (argc == 8 && runner_precision_parse(argv[7], &prec) != 0) {
        fprintf(stderr, "bench_engine: precision f32, bf16 or int8, not '%s'\n", argv[7]);
        return 2;
    }
    const char *mode = argv[1], *arch = argv[2];
    int size = atoi(argv[3]), batch = atoi(argv[4]), threads = atoi(argv[5]);
    double seconds = atof(argv[6]);
    int train = strcmp(mode, "train") == 0;
    cd_err err;

    int from_file = strchr(arch, '/') != NULL;
    transfer_load_opts lo = {0};
    model *m = from_file ? transfer_load(arch, &lo, &err) : arch_build(arch, size, &err);
    if (!m) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        return 1;
    }
    if (!from_file)
        model_init_params(m, 1);
    runner_opts o = {.backend = RUNNER_DNNL, .threads = threads, .training = train,
                     .seed = 1, .output_logits = train, .precision = prec};
    runner *r = runner_new(m, batch, &o, &err);
    if (!r) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        return 1;
    }
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    size_t in_sz = (size_t)batch * (size_t)h * (size_t)w * (size_t)c;
    size_t out_sz = (size_t)batch * model_output_size(m);
    size_t n_params = 0, tr, ntr;
    model_param_counts(m, &n_params, &tr, &ntr);
    float *x = malloc(in_sz * sizeof *x), *y = malloc(out_sz * sizeof *y);
    float *dy = malloc(out_sz * sizeof *dy);
    adam a = {calloc(n_params, sizeof(float)), calloc(n_params, sizeof(float)), 0};
    double *times = malloc(100000 * sizeof *times), *cpu = malloc(100000 * sizeof *cpu);
    if (!x || !y || !dy || !a.m || !a.v || !times || !cpu) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 1;
    }
    uint64_t s = 12345;
    for (size_t i = 0; i < in_sz; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) / 16777216.0f;
    }

    int runs = 0;
    double start = now_s();
    for (int it = 0;; it++) {
        double t0 = now_s(), c0 = cpu_s();
        if (runner_forward(r, x, batch, y, &err) != 0) {
            fprintf(stderr, "bench_engine: %s\n", err.msg);
            return 1;
        }
        if (train) {
            /* binary cross-entropy from logits, labels alternating 0/1, batch mean */
            for (size_t i = 0; i < out_sz; i++) {
                float p = 1.0f / (1.0f + expf(-y[i]));
                dy[i] = (p - (float)(i % 2)) / (float)batch;
            }
            if (runner_backward(r, dy, &err) != 0) {
                fprintf(stderr, "bench_engine: %s\n", err.msg);
                return 1;
            }
            adam_step(&a, m, r);
            runner_params_changed(r);
        }
        double t = now_s() - t0, c = cpu_s() - c0;
        if (it < 3) {
            start = now_s();
            continue;
        }
        cpu[runs] = c;
        times[runs++] = t;
        if ((runs >= 5 && now_s() - start >= seconds) || runs >= 100000)
            break;
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    printf("catdog %s %s %d %d %d %.3f %.3f %d %.3f\n", mode, arch, size, batch, threads,
           times[runs / 2] * 1e3, times[0] * 1e3, runs, cpu[runs / 2] * 1e3);
    runner_free(r);
    model_free(m);
    free(x);
    free(y);
    free(dy);
    free(a.m);
    free(a.v);
    free(times);
    free(cpu);
    return 0;
}
