/*
 * transfer_weights.c - the backbone table, the weights search path, size and
 * SHA-256 checks (OpenSSL libcrypto EVP), and loading a backbone (see
 * transfer_weights.h).
 */
#include "transfer/transfer_weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "engine/arch.h"
#include "modelfile/keras.h"

static const transfer_backbone_info BACKBONES[] = {
    {"squeezenet", "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da", 3002560,
     "github.com/rcmalli/keras-squeezenet (release v1.0; SqueezeNet 1.1, BSD-2-Clause) or "
     "catdog's shared/weights/",
     "fire9/concat", 224},
    /* Keras downloads this file as 58,889,256 bytes; its SHA-256 is not known
     * here, so size and weight shapes are what is checked. */
    {"vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", NULL, 58889256,
     "Keras: VGG16(weights='imagenet', include_top=False) downloads it to ~/.keras/models/ "
     "from github.com/fchollet/deep-learning-models/releases/download/v0.1/",
     "block5_pool", 150},
    /* keras.applications' own files for the two below are read by layer
     * name; neither's size nor SHA-256 is known here (the files are not on
     * these machines), so every weight's shape is what is checked. */
    {"mobilenetv2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", NULL, 0,
     "Keras (MobileNetV2(weights='imagenet', include_top=False) saves it in ~/.keras/models); "
     "any Keras save_weights file of that model loads",
     "out_relu", 224},
    {"resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", NULL, 0,
     "Keras (ResNet50(weights='imagenet', include_top=False) saves it in ~/.keras/models); "
     "any Keras save_weights file of that model loads",
     "conv5_block3_out", 224},
    /* Raw pixels in: the model rescales and normalizes (its normalization's
     * mean and variance come with the file). */
    {"efficientnetb0", "efficientnetb0_notop.h5", NULL, 0,
     "Keras (EfficientNetB0(weights='imagenet', include_top=False) saves it in ~/.keras/models); "
     "any Keras save_weights file of that model loads",
     "top_activation", 224},
};
#define N_BACKBONES (sizeof BACKBONES / sizeof BACKBONES[0])

const transfer_backbone_info *transfer_backbone_find(const char *name, cd_err *err)
{
    for (size_t i = 0; name && i < N_BACKBONES; i++)
        if (strcmp(BACKBONES[i].name, name) == 0)
            return &BACKBONES[i];
    char known[128] = "";
    for (size_t i = 0, off = 0; i < N_BACKBONES && off < sizeof known; i++)
        off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                BACKBONES[i].name);
    cd_err_set(err, CD_ERR_INVALID, "unknown backbone '%s' (known: %s)", name ? name : "(none)",
               known);
    return NULL;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int transfer_weights_locate(const transfer_backbone_info *b, const char *explicit_path, char *out,
                            size_t n, cd_err *err)
{
    if (!b || !out || n == 0)
        return cd_err_set(err, CD_ERR_INVALID, "transfer_weights_locate: NULL argument");
    if (explicit_path && *explicit_path) {
        if (!is_regular_file(explicit_path))
            return cd_err_set(err, CD_ERR_NOTFOUND,
                              "%s weights file %s (given with --weights) does not exist or is "
                              "not a file; it comes from %s",
                              b->name, explicit_path, b->origin);
        snprintf(out, n, "%s", explicit_path);
        return 0;
    }
    /* The search path, in order; an unset variable skips its place. */
    const char *env_dir = getenv("CATDOG_WEIGHTS_DIR");
    const char *home = getenv("HOME");
    char places[4][TRANSFER_PATH_MAX];
    const char *labels[4];
    int np = 0;
    if (env_dir && *env_dir) {
        snprintf(places[np], sizeof places[np], "%s", env_dir);
        labels[np++] = "$CATDOG_WEIGHTS_DIR";
    }
    if (home && *home) {
        snprintf(places[np], sizeof places[np], "%s/.keras/models", home);
        labels[np++] = "~/.keras/models";
    }
    snprintf(places[np], sizeof places[np], "./weights");
    labels[np++] = NULL;
    snprintf(places[np], sizeof places[np], "../shared/weights");
    labels[np++] = NULL;

    char searched[1024] = "";
    size_t off = 0;
    for (int i = 0; i < np; i++) {
        char path[TRANSFER_PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", places[i], b->file);
        if (is_regular_file(path)) {
            snprintf(out, n, "%s", path);
            return 0;
        }
        if (off < sizeof searched)
            off += (size_t)snprintf(searched + off, sizeof searched - off, "%s%s%s%s%s",
                                    i ? ", " : "", places[i], labels[i] ? " (" : "",
                                    labels[i] ? labels[i] : "", labels[i] ? ")" : "");
    }
    return cd_err_set(err, CD_ERR_NOTFOUND,
                      "%s weights file %s not found; searched %s%s; get it from %s, then put it "
                      "in one of those folders or pass --weights FILE",
                      b->name, b->file, searched, env_dir && *env_dir ? "" : " ($CATDOG_WEIGHTS_DIR unset)",
                      b->origin);
}

int transfer_sha256_file(const char *path, char hex[TRANSFER_SHA256_HEX], cd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cd_err_set(err, CD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    unsigned char *buf = malloc(1 << 16);
    if (!ctx || !buf) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory hashing %s", path);
        goto done;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        cd_err_set(err, CD_ERR_BACKEND, "OpenSSL: cannot start SHA-256 for %s", path);
        goto done;
    }
    size_t got;
    while ((got = fread(buf, 1, 1 << 16, f)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, got) != 1) {
            cd_err_set(err, CD_ERR_BACKEND, "OpenSSL: SHA-256 update failed for %s", path);
            goto done;
        }
    }
    if (ferror(f)) {
        cd_err_set(err, CD_ERR_IO, "reading %s: %s", path, strerror(errno));
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        cd_err_set(err, CD_ERR_BACKEND, "OpenSSL: SHA-256 final failed for %s", path);
        goto done;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rc = 0;
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

int transfer_weights_verify(const transfer_backbone_info *b, const char *path,
                            char hex[TRANSFER_SHA256_HEX], cd_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cd_err_set(err, CD_ERR_NOTFOUND, "%s: %s", path, strerror(errno));
    if (b->size > 0 && (long long)st.st_size != b->size)
        return cd_err_set(err, CD_ERR_FORMAT,
                          "%s weights file %s has %lld bytes, expected %lld (an incomplete "
                          "download or a different file); get it again from %s",
                          b->name, path, (long long)st.st_size, b->size, b->origin);
    char h[TRANSFER_SHA256_HEX];
    if (transfer_sha256_file(path, h, err) != 0)
        return -1;
    if (b->sha256 && strcmp(h, b->sha256) != 0)
        return cd_err_set(err, CD_ERR_FORMAT,
                          "%s weights file %s is corrupted or not the expected file: SHA-256 %s, "
                          "expected %s; get it again from %s",
                          b->name, path, h, b->sha256, b->origin);
    if (hex)
        memcpy(hex, h, TRANSFER_SHA256_HEX);
    return 0;
}

model *transfer_backbone_load(const transfer_backbone_info *b, int img_size,
                              const char *explicit_path, transfer_weights_found *found,
                              cd_err *err)
{
    transfer_weights_found f;
    memset(&f, 0, sizeof f);
    if (transfer_weights_locate(b, explicit_path, f.path, sizeof f.path, err) != 0 ||
        transfer_weights_verify(b, f.path, f.sha256, err) != 0)
        return NULL;
    model *m = arch_build(b->name, img_size, err);
    if (!m)
        return NULL;
    if (keras_load_weights(m, f.path, err) != 0) {
        cd_err_wrap(err, "%s backbone", b->name);
        model_free(m);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].trainable = 0;
    if (found)
        *found = f;
    return m;
}
