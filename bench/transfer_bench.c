/*
 * bench/transfer_bench.c - the catdog side of bench/transfer_bench.sh: feature
 * extraction as `catdog train --arch transfer` runs it (transfer_extract: decode,
 * resize, Caffe preprocessing, SqueezeNet 1.1 on oneDNN, global average and max
 * pooling), timed end to end after one warm-up batch.
 *
 * usage: transfer_bench LIST SIZE BATCH THREADS WEIGHTS.h5 OUT.f32
 * prints: catdog N SECONDS IMAGES_PER_S
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transfer/transfer_features.h"
#include "transfer/transfer_weights.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: transfer_bench LIST SIZE BATCH THREADS WEIGHTS.h5 OUT.f32\n");
        return 2;
    }
    FILE *lf = fopen(argv[1], "r");
    if (!lf) {
        perror(argv[1]);
        return 1;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = realloc(paths, cap * sizeof *paths);
            if (!grown)
                return 1;
            paths = grown;
        }
        if (!(paths[n++] = strdup(line)))
            return 1;
    }
    fclose(lf);
    int *labels = calloc(n ? n : 1, sizeof *labels);
    cd_err err;
    const transfer_backbone_info *b = transfer_backbone_find("squeezenet", &err);
    model *m = transfer_backbone_load(b, atoi(argv[2]), argv[5], NULL, &err);
    if (!m || transfer_extractor_append(m, TRANSFER_POOL_GAPGMP, &err) != 0) {
        fprintf(stderr, "transfer_bench: %s\n", err.msg);
        return 1;
    }
    transfer_extract_opts o = {0};
    o.variants = 1;
    o.batch = atoi(argv[3]);
    o.threads = atoi(argv[4]);
    o.backend = RUNNER_DNNL;
    transfer_features warm = {0}, f = {0};
    size_t nw = n < (size_t)o.batch ? n : (size_t)o.batch;
    if (transfer_extract(m, (const char *const *)paths, labels, nw, &o, &warm, &err) != 0) {
        fprintf(stderr, "transfer_bench: %s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    if (transfer_extract(m, (const char *const *)paths, labels, n, &o, &f, &err) != 0) {
        fprintf(stderr, "transfer_bench: %s\n", err.msg);
        return 1;
    }
    double dt = now_s() - t0;
    FILE *of = fopen(argv[6], "wb");
    if (!of || fwrite(f.x, sizeof(float), f.n * f.dim, of) != f.n * f.dim || fclose(of) != 0) {
        perror(argv[6]);
        return 1;
    }
    printf("catdog %zu %.3f %.1f\n", f.n, dt, (double)f.n / dt);
    transfer_features_free(&warm);
    transfer_features_free(&f);
    model_free(m);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(labels);
    return 0;
}
