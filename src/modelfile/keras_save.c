/*
 * keras_save.c - writing a model as a Keras 2 whole-model HDF5 file.
 *
 * Root attributes model_config (keras_json_write.c), keras_version "2.2.4",
 * backend "tensorflow", catdog_preprocess, catdog_arch and, when known,
 * catdog_test_accuracy; catdog_int8 for a quantized model (keras_quant.c); group model_weights (keras_weights.c).  The file is
 * written beside the target as "<path>.tmp" and renamed into place only once
 * complete, so readers never see half a model and a failed save leaves the old
 * file intact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"
#include "modelfile/keras_internal.h"

static int write_model(const model *m, hid_t file, cd_err *err)
{
    char *config = keras_json_config(m, err);
    if (!config)
        return -1;
    int rc = keras_h5_write_str_attr(file, "model_config", config, err);
    free(config);
    if (rc == 0)
        rc = keras_h5_write_str_attr(file, "keras_version", "2.2.4", err);
    if (rc == 0)
        rc = keras_h5_write_str_attr(file, "backend", "tensorflow", err);
    if (rc == 0)
        rc = keras_h5_write_str_attr(file, "catdog_preprocess", cd_preprocess_name(m->preprocess),
                                     err);
    if (rc == 0)
        rc = keras_h5_write_str_attr(file, "catdog_arch", m->arch[0] ? m->arch : "custom", err);
    if (rc == 0 && m->test_accuracy >= 0)
        rc = keras_h5_write_double_attr(file, "catdog_test_accuracy", m->test_accuracy, err);
    if (rc == 0 && m->quant.int8) {
        char *q = keras_quant_json(m, err);
        rc = q ? keras_h5_write_str_attr(file, "catdog_int8", q, err) : -1;
        free(q);
    }
    if (rc != 0)
        return -1;
    hid_t g = keras_h5_create_group(file, "model_weights", err);
    if (g < 0)
        return -1;
    rc = keras_weights_write(m, g, err);
    H5Gclose(g);
    return rc;
}

int keras_save_ex(const model *m, const char *path, keras_save_extra_fn extra, void *user,
                  cd_err *err)
{
    keras_h5_quiet();
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_IO, "%s: cannot create the file (%s)", path, msg);
        free(tmp);
        return -1;
    }
    int rc = write_model(m, file, err);
    if (rc == 0 && extra)
        rc = extra(file, user, err);
    if (rc != 0)
        cd_err_wrap(err, "%s", path);
    if (H5Fclose(file) < 0 && rc == 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        rc = cd_err_set(err, CD_ERR_IO, "%s: writing the file failed (%s)", path, msg);
    }
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cd_err_set(err, CD_ERR_IO, "%s: cannot move %s into place", path, tmp);
    if (rc != 0)
        remove(tmp);
    free(tmp);
    return rc;
}

int keras_save(const model *m, const char *path, cd_err *err)
{
    return keras_save_ex(m, path, NULL, NULL, err);
}
