/*
 * keras_quant.c - the int8 calibration of a model (engine/model.h:
 * model.quant and each Conv2D/Dense layer's q_in_max / q_in_signed) as one
 * JSON string attribute of a Keras HDF5 file, "catdog_int8":
 *
 *   {"precision": "int8", "source": "<calibration folder>", "photos": 300,
 *    "date": "2026-12-02T04:10:00Z",
 *    "layers": {"conv2d_1": {"in_max": 1.0, "signed": false}, ...}}
 *
 * Keras (and every other reader) ignores attributes it does not know, so a
 * quantized file still loads there as the float model it also is: the
 * weights stay float32 and the int8 weights are made from them at load time
 * with per-channel scales that follow from the weights themselves.  Only the
 * activation ranges, which need photos, are stored.  A layer missing from
 * "layers" stays float32 under int8 (the quantizer's choice); a listed layer
 * whose range is missing, not a number, or not positive makes the file
 * unreadable, naming the layer: an int8 model must not run on made-up scales.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"

/* Grouped and dilated convolutions stay float32: the int8 weights' per-channel
 * scales assume the plain HWIO layout (dn_quant_for). */
static int quantizable(const layer *l)
{
    return (l->kind == LAYER_CONV2D && layer_groups(l) == 1 && layer_dilation(l, 0) == 1 &&
            layer_dilation(l, 1) == 1) ||
           l->kind == LAYER_DENSE;
}

char *keras_quant_json(const model *m, cd_err *err)
{
    json_t *root = json_object(), *layers = json_object();
    char *out = NULL;
    if (!root || !layers)
        goto oom;
    if (json_object_set_new(root, "precision", json_string("int8")) ||
        json_object_set_new(root, "source", json_string(m->quant.source)) ||
        json_object_set_new(root, "photos", json_integer(m->quant.photos)) ||
        json_object_set_new(root, "date", json_string(m->quant.date)))
        goto oom;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!quantizable(l) || l->q_in_max == 0.0f)
            continue;
        json_t *e = json_pack("{s:f, s:b}", "in_max", (double)l->q_in_max, "signed",
                              l->q_in_signed);
        if (!e || json_object_set_new(layers, l->name, e))
            goto oom;
    }
    if (json_object_set(root, "layers", layers))
        goto oom;
    out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!out)
        goto oom;
    json_decref(root);
    json_decref(layers);
    return out;
oom:
    json_decref(root);
    json_decref(layers);
    cd_err_set(err, CD_ERR_NOMEM, "out of memory writing the int8 calibration");
    return NULL;
}

int keras_quant_read(model *m, const char *text, const char *what, cd_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    int rc = -1;
    if (!root || !json_is_object(root)) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: catdog_int8 is not a JSON object (%s)", what,
                   root ? "another JSON value" : je.text);
        goto done;
    }
    json_t *prec = json_object_get(root, "precision"), *layers = json_object_get(root, "layers");
    json_t *src = json_object_get(root, "source"), *photos = json_object_get(root, "photos");
    json_t *date = json_object_get(root, "date");
    if (!json_is_string(prec) || strcmp(json_string_value(prec), "int8") != 0 ||
        !json_is_object(layers)) {
        cd_err_set(err, CD_ERR_FORMAT,
                   "%s: catdog_int8 needs \"precision\": \"int8\" and a \"layers\" object", what);
        goto done;
    }
    const char *name;
    json_t *e;
    json_object_foreach(layers, name, e) {
        int i = model_find(m, name);
        if (i < 0 || !quantizable(&m->layers[i])) {
            cd_err_set(err, CD_ERR_FORMAT,
                       "%s: catdog_int8 has a scale for '%s', which is no Conv2D or Dense layer "
                       "of the model",
                       what, name);
            goto done;
        }
        json_t *mx = json_object_get(e, "in_max"), *sg = json_object_get(e, "signed");
        double v = json_is_number(mx) ? json_number_value(mx) : NAN;
        if (!(v > 0.0) || !isfinite(v) || v > 3.0e38 || !json_is_boolean(sg)) {
            cd_err_set(err, CD_ERR_FORMAT,
                       "%s: layer '%s': int8 input scale missing or invalid (in_max must be a "
                       "positive number, signed true or false); quantize the float model again",
                       what, name);
            goto done;
        }
        m->layers[i].q_in_max = (float)v;
        m->layers[i].q_in_signed = json_is_true(sg);
    }
    m->quant.int8 = 1;
    snprintf(m->quant.source, sizeof m->quant.source, "%s",
             json_is_string(src) ? json_string_value(src) : "");
    m->quant.photos = json_is_integer(photos) ? (int)json_integer_value(photos) : 0;
    snprintf(m->quant.date, sizeof m->quant.date, "%s",
             json_is_string(date) ? json_string_value(date) : "");
    rc = 0;
done:
    if (rc != 0) {
        for (int i = 0; i < m->n_layers; i++)
            m->layers[i].q_in_max = 0.0f;
        memset(&m->quant, 0, sizeof m->quant);
    }
    json_decref(root);
    return rc;
}
