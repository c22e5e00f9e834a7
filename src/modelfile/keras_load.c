/*
 * keras_load.c - opening Keras HDF5 files (on disk or in memory) and turning
 * them into models: whole-model files (keras_load*) and weights-only files
 * onto an existing model (keras_load_weights).
 *
 * Each failure becomes one line naming the file and the problem, from the
 * cheapest test up: unreadable, not HDF5 (signature), HDF5 that libhdf5 cannot
 * open (truncated: HDF5 itself notices the end of file is short), not a Keras
 * model (no model_config), then config and weight problems.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5_hl.h>

#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"
#include "modelfile/keras_internal.h"

/* The HDF5 signature, found at offset 0 or, after a user block, at 512, 1024,
 * 2048, ... bytes. */
static const unsigned char HDF5_SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static int has_hdf5_signature(const unsigned char *buf, size_t len)
{
    for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
        if (memcmp(buf + off, HDF5_SIG, 8) == 0)
            return 1;
    return 0;
}

/* After a failed open: one message from HDF5's text, telling a truncated
 * file apart. */
static hid_t open_failed_msg(const char *what, const char *msg, cd_err *err)
{
    if (strstr(msg, "truncated"))
        cd_err_set(err, CD_ERR_FORMAT, "%s: truncated HDF5 file (%s)", what, msg);
    else
        cd_err_set(err, CD_ERR_FORMAT, "%s: HDF5 file cannot be opened (%s)", what, msg);
    return -1;
}

/* Right after a failed H5Fopen (any other HDF5 call would clear the stack). */
static hid_t open_failed(const char *what, cd_err *err)
{
    char msg[256];
    keras_h5_errmsg(msg, sizeof msg);
    return open_failed_msg(what, msg, err);
}

/* Says what a file that is not HDF5 is, when it is a model format people
 * confuse with Keras': a zip (Keras 3 archives are read before this), a
 * PyTorch pickle, a TensorFlow.js model.json. */
static void not_hdf5(const char *path, const unsigned char *head, size_t got, cd_err *err)
{
    if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5)
        cd_err_set(err, CD_ERR_UNSUPPORTED,
                   "%s: a PyTorch checkpoint (Python pickle), not a Keras model; %s", path,
                   KERAS_ACCEPTS);
    else if (got >= 4 && memcmp(head, "PK\3\4", 4) == 0)
        cd_err_set(err, CD_ERR_FORMAT, "%s: a zip archive but not a Keras archive; %s", path,
                   KERAS_ACCEPTS);
    else if (got >= 1 && head[0] == '{' && strstr(path, ".json"))
        cd_err_set(err, CD_ERR_UNSUPPORTED,
                   "%s: a JSON file (a TensorFlow.js model.json, or a bare Keras config), not "
                   "a model file; %s",
                   path, KERAS_ACCEPTS);
    else
        cd_err_set(err, CD_ERR_FORMAT, "%s: not an HDF5 file%s; %s", path,
                   got == 0 ? " (empty)" : "", KERAS_ACCEPTS);
}

/* A folder given as a model: a TensorFlow SavedModel when it holds
 * saved_model.pb. */
static hid_t not_a_file(const char *path, cd_err *err)
{
    char pb[4096];
    snprintf(pb, sizeof pb, "%s/saved_model.pb", path);
    FILE *f = fopen(pb, "rb");
    if (f) {
        fclose(f);
        cd_err_set(err, CD_ERR_UNSUPPORTED,
                   "%s: a TensorFlow SavedModel folder, not a Keras file (in TensorFlow: "
                   "tf.keras.models.load_model(path).save('model.keras')); %s",
                   path, KERAS_ACCEPTS);
    } else {
        cd_err_set(err, CD_ERR_IO, "%s: %s (a folder, not a model file); %s", path,
                   strerror(EISDIR), KERAS_ACCEPTS);
    }
    return -1;
}

int keras_is_zip(const char *path)
{
    unsigned char h[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    return got == 4 && h[0] == 'P' && h[1] == 'K' &&
           ((h[2] == 3 && h[3] == 4) || (h[2] == 5 && h[3] == 6));
}

static hid_t open_path(const char *path, cd_err *err)
{
    keras_h5_quiet();
    FILE *f = fopen(path, "rb");
    if (!f) {
        cd_err_set(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_IO, "%s: %s", path,
                   strerror(errno));
        return -1;
    }
    unsigned char head[8];
    size_t got = fread(head, 1, sizeof head, f);
    int read_errno = ferror(f) ? errno : 0; /* EISDIR: fopen takes a folder on Linux */
    fclose(f);
    if (read_errno == EISDIR)
        return not_a_file(path, err);
    if (read_errno) {
        cd_err_set(err, CD_ERR_IO, "%s: %s", path, strerror(read_errno));
        return -1;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        not_hdf5(path, head, got, err);
        return -1;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return file < 0 ? open_failed(path, err) : file;
}

hid_t keras_open_memory(const void *buf, size_t len, const char *what, cd_err *err)
{
    keras_h5_quiet();
    if (!buf || !has_hdf5_signature(buf, len)) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: not an HDF5 file%s", what, len == 0 ? " (empty)" : "");
        return -1;
    }
    /* Flags 0: libhdf5 takes its own copy of the image and frees it at close.
     * The zero-copy flags (DONT_COPY | DONT_RELEASE) would avoid that one
     * transient memcpy, but libhdf5_hl 1.10.8 then never frees its callback
     * data (72 bytes per open; LeakSanitizer reports it). */
    hid_t file = H5LTopen_file_image((void *)buf, len, 0);
    if (file >= 0)
        return file;
    /* H5LTopen_file_image leaves no error record behind; open a copy of the
     * image through the core driver only to learn why (failure path only).
     * The message must be taken before the next HDF5 call clears it. */
    char msg[256] = "unknown HDF5 error";
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)buf, len) >= 0) {
        hid_t again = H5Fopen(what, H5F_ACC_RDONLY, fapl);
        if (again < 0)
            keras_h5_errmsg(msg, sizeof msg);
        else
            H5Fclose(again);
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    return open_failed_msg(what, msg, err);
}

/* Applies catdog's own root attributes, or defaults by architecture. */
static int read_catdog_attrs(model *m, hid_t file, const char *what, cd_err *err)
{
    char *s = NULL;
    int rc = keras_h5_read_str_attr(file, "catdog_arch", &s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && s[0])
        snprintf(m->arch, sizeof m->arch, "%s", s);
    else
        keras_guess_arch(m);
    free(s);
    s = NULL;
    rc = keras_h5_read_str_attr(file, "catdog_preprocess", &s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (cd_preprocess_parse(s, &m->preprocess) != 0) {
            cd_err_set(err, CD_ERR_FORMAT, "%s: unknown catdog_preprocess '%s'", what, s);
            free(s);
            return -1;
        }
        free(s);
        snprintf(m->preprocess_why, sizeof m->preprocess_why,
                 "recorded in the file (catdog_preprocess)");
    } else {
        keras_decide_preprocess(m);
    }
    s = NULL;
    rc = keras_h5_read_str_attr(file, "training_config", &s, what, err);
    if (rc < 0)
        return -1;
    keras_decide_output(m, rc == 1 ? s : NULL);
    free(s);
    double acc;
    rc = keras_h5_read_double_attr(file, "catdog_test_accuracy", &acc, what, err);
    if (rc < 0)
        return -1;
    m->test_accuracy = rc == 1 ? acc : -1.0;
    s = NULL;
    rc = keras_h5_read_str_attr(file, "catdog_int8", &s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        rc = keras_quant_read(m, s, what, err);
        free(s);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static model *load_open(hid_t file, const char *what, int img_size, cd_err *err)
{
    char *config = NULL;
    model *m = NULL;
    int rc = keras_h5_read_str_attr(file, "model_config", &config, what, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        if (H5Aexists(file, "layer_names") > 0)
            cd_err_set(err, CD_ERR_FORMAT,
                       "%s: a weights-only Keras file (no model_config); load it onto an "
                       "architecture instead (--config model.json, or a built-in)",
                       what);
        else if (H5Lexists(file, "layers", H5P_DEFAULT) > 0)
            cd_err_set(err, CD_ERR_FORMAT,
                       "%s: a Keras 3 weights-only file (.weights.h5); load it onto an "
                       "architecture instead (--config model.json, or a built-in)",
                       what);
        else
            cd_err_set(err, CD_ERR_FORMAT,
                       "%s: HDF5 file but not a Keras model (no model_config attribute)", what);
        goto fail;
    }
    if (!(m = keras_json_build(config, what, img_size, err)))
        goto fail;
    htri_t has_weights = H5Lexists(file, "model_weights", H5P_DEFAULT);
    if (has_weights <= 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        cd_err_set(err, CD_ERR_NOTFOUND, "%s: missing weights (no model_weights group)", what);
        goto fail;
    }
    hid_t g = H5Gopen2(file, "model_weights", H5P_DEFAULT);
    if (g < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot open model_weights (%s)", what, msg);
        goto fail;
    }
    rc = keras_weights_read(m, g, what, err);
    H5Gclose(g);
    if (rc != 0 || read_catdog_attrs(m, file, what, err) != 0)
        goto fail;
    keras_guess_frozen(m, file);
    free(config);
    return m;
fail:
    free(config);
    model_free(m);
    return NULL;
}

model *keras_load_sized(const char *path, int img_size, cd_err *err)
{
    if (img_size < 0) {
        cd_err_set(err, CD_ERR_INVALID, "%s: bad input size %d", path, img_size);
        return NULL;
    }
    if (keras_is_zip(path))
        return keras_zip_load(path, img_size, err);
    hid_t file = open_path(path, err);
    if (file < 0)
        return NULL;
    model *m = load_open(file, path, img_size, err);
    if (H5Fclose(file) < 0 && m) {
        model_free(m);
        cd_err_set(err, CD_ERR_BACKEND, "%s: closing the file failed", path);
        return NULL;
    }
    return m;
}

model *keras_load(const char *path, cd_err *err)
{
    return keras_load_sized(path, 0, err);
}

model *keras_load_memory(const void *buf, size_t len, const char *name, cd_err *err)
{
    const char *what = name ? name : "embedded model";
    hid_t file = keras_open_memory(buf, len, what, err);
    if (file < 0)
        return NULL;
    model *m = load_open(file, what, 0, err);
    if (H5Fclose(file) < 0 && m) {
        model_free(m);
        cd_err_set(err, CD_ERR_BACKEND, "%s: closing the file image failed", what);
        return NULL;
    }
    return m;
}

int keras_load_weights(model *m, const char *path, cd_err *err)
{
    return keras_load_weights_json(m, NULL, path, err);
}

int keras_load_weights_json(model *m, const char *config_json, const char *path, cd_err *err)
{
    if (keras_is_zip(path))
        return cd_err_set(err, CD_ERR_INVALID,
                          "%s: a zip archive (a whole .keras model?), not a weights file; load it "
                          "as the model instead",
                          path);
    hid_t file = open_path(path, err);
    if (file < 0)
        return -1;
    int rc;
    /* A whole-model file also carries weights: take them from model_weights. */
    if (H5Aexists(file, "layer_names") <= 0 && H5Lexists(file, "model_weights", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(file, "model_weights", H5P_DEFAULT);
        rc = g < 0 ? cd_err_set(err, CD_ERR_FORMAT, "%s: cannot open model_weights", path)
                   : keras_weights_read(m, g, path, err);
        if (g >= 0)
            H5Gclose(g);
    } else if (H5Aexists(file, "layer_names") > 0) {
        rc = keras_weights_read(m, file, path, err);
    } else if (H5Lexists(file, "layers", H5P_DEFAULT) > 0) {
        rc = keras3_weights_read(m, file, config_json, path, err); /* Keras 3 .weights.h5 */
    } else {
        (void)H5Eclear2(H5E_DEFAULT);
        rc = cd_err_set(err, CD_ERR_FORMAT,
                        "%s: HDF5 file but not Keras weights (no layer_names attribute)", path);
    }
    H5Fclose(file);
    return rc;
}
