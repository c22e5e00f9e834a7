/*
 * transfer_features.c - the extractor model, the extraction loop and the
 * on-disk feature cache (see transfer_features.h).
 */
#include "transfer/transfer_features.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "image/image.h"

static const char CACHE_MAGIC[8] = {'C', 'D', 'T', 'F', 'E', 'A', 'T', '1'};

void transfer_features_free(transfer_features *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->y);
    memset(f, 0, sizeof *f);
}

int transfer_extractor_append(model *m, transfer_pool pool, cd_err *err)
{
    int last = m->n_layers - 1;
    int out;
    if (pool == TRANSFER_POOL_FLATTEN) {
        layer f = layer_template(LAYER_FLATTEN, "extract_flatten", last);
        out = model_add(m, &f, err);
    } else {
        layer a = layer_template(LAYER_GLOBAL_AVGPOOL2D, "extract_gap", last);
        layer b = layer_template(LAYER_GLOBAL_MAXPOOL2D, "extract_gmp", last);
        int ia = model_add(m, &a, err);
        int ib = ia < 0 ? -1 : model_add(m, &b, err);
        if (ib < 0)
            return -1;
        layer c = layer_template(LAYER_CONCAT, "extract_concat", ia);
        c.inputs[1] = ib;
        c.n_inputs = 2;
        out = model_add(m, &c, err);
    }
    if (out < 0)
        return -1;
    m->output = out;
    return model_infer_shapes(m, err);
}

void transfer_features_slice(transfer_pool pool, size_t dim, size_t *offset, size_t *len)
{
    switch (pool) {
    case TRANSFER_POOL_GAP:
        *offset = 0;
        *len = dim / 2;
        return;
    case TRANSFER_POOL_GMP:
        *offset = dim / 2;
        *len = dim / 2;
        return;
    case TRANSFER_POOL_GAPGMP:
    case TRANSFER_POOL_FLATTEN:
        break;
    }
    *offset = 0;
    *len = dim;
}

/* Mirrors an h x w x c input left-right in place (what the predictor's
 * test-time augmentation does). */
static void flip_input(float *x, int h, int w, int c)
{
    for (int y = 0; y < h; y++) {
        float *row = x + (size_t)y * w * c;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int k = 0; k < c; k++) {
                float t = row[(size_t)a * c + k];
                row[(size_t)a * c + k] = row[(size_t)b * c + k];
                row[(size_t)b * c + k] = t;
            }
    }
}

void transfer_flip_batch(float *x, int n, int s)
{
    for (int i = 0; i < n; i++)
        flip_input(x + (size_t)i * s * s * 3, s, s, 3);
}

/* Decodes, resizes and preprocesses one file into dst (S*S*3 floats). */
static int load_input(const char *path, int s, cd_preprocess pre, float *dst, cd_err *err)
{
    image_decode_opts dopts = {0};
    dopts.hint_width = IMAGE_DECODE_HINT(s); /* as the predictor and the dataset iterator */
    dopts.hint_height = IMAGE_DECODE_HINT(s);
    image img = {0}, rs = {0};
    if (image_decode_file(path, &dopts, &img, NULL, NULL, err) != 0)
        return -1;
    int rc = image_resize(&img, s, s, IMAGE_FILTER_BILINEAR, &rs, err);
    image_free(&img);
    if (rc != 0)
        return -1;
    image_to_input(&rs, pre, dst);
    image_free(&rs);
    return 0;
}

int transfer_extract(const model *extractor, const char *const *paths, const int *labels, size_t n,
                     const transfer_extract_opts *o, transfer_features *out, cd_err *err)
{
    int h, w, c;
    model_input_shape(extractor, &h, &w, &c);
    if (h != w || c != 3)
        return cd_err_set(err, CD_ERR_INVALID, "extractor input must be S x S x 3, not %d x %d x %d",
                          h, w, c);
    int variants = o->variants == 2 ? 2 : 1;
    int batch = o->batch > 0 ? o->batch : 32;
    size_t dim = model_output_size(extractor);
    size_t per_in = (size_t)h * w * 3;
    memset(out, 0, sizeof *out);
    out->variants = variants;
    out->dim = dim;
    out->x = malloc((n ? n : 1) * variants * dim * sizeof(float));
    out->y = malloc((n ? n : 1) * sizeof(float));
    float *in = malloc((size_t)batch * variants * per_in * sizeof(float));
    float *res = malloc((size_t)batch * variants * dim * sizeof(float));
    if (!out->x || !out->y || !in || !res) {
        free(in);
        free(res);
        transfer_features_free(out);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory for the features of %zu images (%zu MB)",
                          n, n * variants * dim * sizeof(float) >> 20);
    }
    runner_opts ro = {0};
    ro.backend = o->backend;
    ro.threads = o->threads;
    runner *r = runner_new(extractor, batch * variants, &ro, err);
    int rc = r ? 0 : -1;
    size_t i = 0;
    while (rc == 0 && i < n) {
        /* Fill a batch with readable images: originals first, then their flips. */
        int got = 0;
        size_t start_n = out->n;
        while (got < batch && i < n) {
            cd_err e2;
            float *dst = in + (size_t)got * per_in;
            if (load_input(paths[i], h, extractor->preprocess, dst, &e2) != 0) {
                out->n_failed++;
                i++;
                continue;
            }
            out->y[start_n + got] = (float)labels[i];
            got++;
            i++;
        }
        if (got == 0)
            break;
        if (variants == 2)
            for (int k = 0; k < got; k++) {
                float *dst = in + (size_t)(got + k) * per_in;
                memcpy(dst, in + (size_t)k * per_in, per_in * sizeof(float));
                flip_input(dst, h, w, 3);
            }
        if (runner_forward(r, in, got * variants, res, err) != 0) {
            rc = -1;
            break;
        }
        for (int k = 0; k < got; k++)
            for (int v = 0; v < variants; v++)
                memcpy(out->x + ((start_n + k) * variants + v) * dim,
                       res + ((size_t)v * got + k) * dim, dim * sizeof(float));
        out->n += got;
        if (o->progress)
            o->progress(i, n, o->progress_ctx);
        if (o->stop && *o->stop) {
            rc = cd_err_set(err, CD_ERR_INTERRUPTED, "feature extraction stopped after %zu of %zu images",
                            i, n);
            break;
        }
    }
    runner_free(r);
    free(in);
    free(res);
    if (rc != 0)
        transfer_features_free(out);
    return rc;
}

int transfer_list_sha256(const char *const *paths, const int *labels, size_t n, char hex[65], cd_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory hashing the image list");
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        char lab[16];
        snprintf(lab, sizeof lab, "|%d\n", labels[i]);
        ok = EVP_DigestUpdate(ctx, paths[i], strlen(paths[i])) == 1 &&
             EVP_DigestUpdate(ctx, lab, strlen(lab)) == 1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return cd_err_set(err, CD_ERR_BACKEND, "OpenSSL: SHA-256 of the image list failed");
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int transfer_features_key(const char *weights_sha256, int img_size, transfer_pool pool,
                          int variants, const char *const *paths, const int *labels, size_t n,
                          char key[TRANSFER_KEY_MAX], cd_err *err)
{
    char hex[65];
    if (transfer_list_sha256(paths, labels, n, hex, err) != 0)
        return -1;
    /* "decode=hint2x": images decoded as IMAGE_DECODE_HINT says (a cache made
     * with another decoding is not reused); "graph": TRANSFER_GRAPH_VERSION. */
    snprintf(key, TRANSFER_KEY_MAX,
             "decode=hint2x graph=%d weights=%.64s size=%d pool=%s variants=%d n=%zu list=%s",
             TRANSFER_GRAPH_VERSION, weights_sha256, img_size, pool == TRANSFER_POOL_FLATTEN ? "flatten" : "gapgmp",
             variants, n, hex);
    return 0;
}

int transfer_features_save(const transfer_features *f, const char *key, const char *path,
                           cd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return cd_err_set(err, CD_ERR_IO, "cannot write feature cache %s: %s", tmp, strerror(errno));
    char k[TRANSFER_KEY_MAX] = {0};
    snprintf(k, sizeof k, "%s", key);
    uint64_t hdr[4] = {f->n, (uint64_t)f->variants, f->dim, f->n_failed};
    size_t nx = f->n * (size_t)f->variants * f->dim;
    int ok = fwrite(CACHE_MAGIC, 1, 8, fp) == 8 && fwrite(k, 1, sizeof k, fp) == sizeof k &&
             fwrite(hdr, sizeof hdr[0], 4, fp) == 4 && fwrite(f->y, sizeof(float), f->n, fp) == f->n &&
             fwrite(f->x, sizeof(float), nx, fp) == nx;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return cd_err_set(err, CD_ERR_IO, "cannot write feature cache %s: %s", path, strerror(e));
    }
    return 0;
}

int transfer_features_load(transfer_features *f, const char *key, const char *path, cd_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    char magic[8], k[TRANSFER_KEY_MAX], want[TRANSFER_KEY_MAX] = {0};
    uint64_t hdr[4];
    snprintf(want, sizeof want, "%s", key);
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0 ||
        fread(k, 1, sizeof k, fp) != sizeof k || memcmp(k, want, sizeof k) != 0 ||
        fread(hdr, sizeof hdr[0], 4, fp) != 4 || hdr[1] < 1 || hdr[1] > 2 || hdr[2] == 0 ||
        hdr[0] > ((uint64_t)1 << 32) || hdr[2] > ((uint64_t)1 << 30)) {
        fclose(fp);
        return 0;
    }
    transfer_features t = {0};
    t.n = hdr[0];
    t.variants = (int)hdr[1];
    t.dim = hdr[2];
    t.n_failed = hdr[3];
    size_t nx = t.n * (size_t)t.variants * t.dim;
    t.y = malloc((t.n ? t.n : 1) * sizeof(float));
    t.x = malloc((nx ? nx : 1) * sizeof(float));
    if (!t.x || !t.y) {
        fclose(fp);
        transfer_features_free(&t);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory loading feature cache %s", path);
    }
    int ok = fread(t.y, sizeof(float), t.n, fp) == t.n && fread(t.x, sizeof(float), nx, fp) == nx;
    fclose(fp);
    if (!ok) {
        transfer_features_free(&t);
        return cd_err_set(err, CD_ERR_FORMAT, "feature cache %s is truncated; delete it", path);
    }
    *f = t;
    return 1;
}
