/*
 * transfer_model.c - composing a backbone with a tail, cutting the tail out of
 * a composed model, the shipped head-only file and the export (see
 * transfer_model.h).
 *
 * The extra root attributes are written through keras_save_ex's hook and read
 * with the string/number readers of modelfile/keras_h5.h (the small HDF5 layer
 * the Keras loader uses; its internal header, used here as the trainer does).
 */
#include "transfer/transfer_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"
#include "onnx/onnx.h"

/* A copy of layer l for model_add: its own params (cloned).  0 or -1. */
static int clone_layer(const layer *l, layer *out, cd_err *err)
{
    *out = *l;
    for (int k = 0; k < LAYER_MAX_PARAMS; k++)
        out->params[k] = NULL;
    for (int k = 0; k < l->n_params; k++) {
        if (!l->params[k])
            continue;
        if (!(out->params[k] = tensor_clone(l->params[k], err))) {
            for (int j = 0; j < k; j++)
                tensor_free(out->params[j]);
            return -1;
        }
    }
    return 0;
}

model *transfer_compose(const model *backbone, const char *cut, const model *tail, cd_err *err)
{
    int c = model_find(backbone, cut);
    if (c < 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "backbone '%s' has no layer '%s'", backbone->name, cut);
        return NULL;
    }
    const layer *cl = &backbone->layers[c];
    const layer *ti = &tail->layers[0];
    if (ti->kind != LAYER_INPUT || ti->in_h != cl->out_h || ti->in_w != cl->out_w ||
        ti->in_c != cl->out_c) {
        cd_err_set(err, CD_ERR_SHAPE,
                   "the head takes (%d, %d, %d) but backbone layer '%s' gives (%d, %d, %d) "
                   "(a different input size or backbone?)",
                   ti->in_h, ti->in_w, ti->in_c, cut, cl->out_h, cl->out_w, cl->out_c);
        return NULL;
    }
    char name[MODEL_NAME_MAX];
    snprintf(name, sizeof name, "transfer_%s", backbone->name);
    model *m = model_new(name, err);
    if (!m)
        return NULL;
    snprintf(m->arch, sizeof m->arch, "transfer");
    m->preprocess = backbone->preprocess;
    m->test_accuracy = tail->test_accuracy;
    for (int i = 0; i <= c; i++) {
        layer l;
        if (clone_layer(&backbone->layers[i], &l, err) != 0)
            goto fail;
        snprintf(l.scope, sizeof l.scope, "%s", backbone->name);
        if (model_add(m, &l, err) < 0)
            goto fail;
    }
    for (int i = 1; i < tail->n_layers; i++) {
        layer l;
        if (clone_layer(&tail->layers[i], &l, err) != 0)
            goto fail;
        for (int j = 0; j < l.n_inputs; j++)
            l.inputs[j] = l.inputs[j] == 0 ? c : c + l.inputs[j];
        /* Fine-tuned backbone layers stay inside the backbone's nested model;
         * head layers (named head_*, transfer_head.h) are top level. */
        if (strncmp(l.name, "head_", 5) != 0)
            snprintf(l.scope, sizeof l.scope, "%s", backbone->name);
        else
            l.scope[0] = 0;
        if (model_add(m, &l, err) < 0)
            goto fail;
    }
    m->output = -1;
    if (model_infer_shapes(m, err) != 0)
        goto fail;
    return m;
fail:
    model_free(m);
    return NULL;
}

model *transfer_tail(const model *m, const char *cut, cd_err *err)
{
    int c = model_find(m, cut);
    if (c < 0) {
        cd_err_set(err, CD_ERR_NOTFOUND, "model '%s' has no layer '%s'", m->name, cut);
        return NULL;
    }
    int out = model_output_index(m);
    if (out <= c) {
        cd_err_set(err, CD_ERR_INVALID, "layer '%s' is not before the output of '%s'", cut, m->name);
        return NULL;
    }
    model *t = model_new("transfer_head", err);
    if (!t)
        return NULL;
    snprintf(t->arch, sizeof t->arch, "transfer");
    t->preprocess = m->preprocess;
    t->test_accuracy = m->test_accuracy;
    const layer *cl = &m->layers[c];
    layer in = layer_template(LAYER_INPUT, "backbone_features", -1);
    in.in_h = cl->out_h;
    in.in_w = cl->out_w;
    in.in_c = cl->out_c;
    if (model_add(t, &in, err) < 0)
        goto fail;
    for (int i = c + 1; i < m->n_layers; i++) {
        layer l;
        for (int j = 0; j < m->layers[i].n_inputs; j++)
            if (m->layers[i].inputs[j] < c) {
                cd_err_set(err, CD_ERR_INVALID,
                           "layer '%s' reads '%s', before the cut '%s': the model cannot be cut there",
                           m->layers[i].name, m->layers[m->layers[i].inputs[j]].name, cut);
                goto fail;
            }
        if (clone_layer(&m->layers[i], &l, err) != 0)
            goto fail;
        l.scope[0] = 0;
        for (int j = 0; j < l.n_inputs; j++)
            l.inputs[j] -= c;
        if (model_add(t, &l, err) < 0)
            goto fail;
    }
    t->output = out - c;
    if (model_infer_shapes(t, err) != 0)
        goto fail;
    return t;
fail:
    model_free(t);
    return NULL;
}

/* What write_meta adds to the tail's file: the meta, and the composed
 * model's int8 calibration when it has one. */
typedef struct save_extra {
    const transfer_meta *meta;
    const model *composed;
} save_extra;

static int write_meta(hid_t file, void *user, cd_err *err)
{
    const save_extra *x = user;
    const transfer_meta *meta = x->meta;
    if (x->composed->quant.int8) {
        /* The calibration names backbone layers too, which the tail lacks: it
         * goes under its own name, read by transfer_load once composed
         * (keras_load of the tail alone, as Keras, ignores it). */
        char *q = keras_quant_json(x->composed, err);
        int rc = q ? keras_h5_write_str_attr(file, "catdog_transfer_int8", q, err) : -1;
        free(q);
        if (rc != 0)
            return -1;
    }
    if (keras_h5_write_str_attr(file, "catdog_backbone", meta->backbone, err) != 0 ||
        keras_h5_write_str_attr(file, "catdog_backbone_file", meta->backbone_file, err) != 0 ||
        keras_h5_write_str_attr(file, "catdog_backbone_sha256", meta->backbone_sha256, err) != 0 ||
        keras_h5_write_str_attr(file, "catdog_backbone_cut", meta->cut, err) != 0 ||
        keras_h5_write_double_attr(file, "catdog_img_size", meta->img_size, err) != 0 ||
        keras_h5_write_str_attr(file, "catdog_head", meta->head, err) != 0)
        return -1;
    return 0;
}

int transfer_save(const model *m, const transfer_meta *meta, const char *path, cd_err *err)
{
    model *t = transfer_tail(m, meta->cut, err);
    if (!t)
        return cd_err_wrap(err, "saving %s", path);
    save_extra x = {meta, m};
    int rc = keras_save_ex(t, path, write_meta, &x, err);
    model_free(t);
    return rc;
}

/* The composed model's int8 calibration from path's catdog_transfer_int8
 * (transfer_save), onto m: 0 (none there, or read), -1 (err filled). */
static int read_transfer_quant(const char *path, model *m, cd_err *err)
{
    keras_h5_quiet();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open it again to read its int8 calibration", path);
    }
    char *s = NULL;
    int rc = keras_h5_read_str_attr(file, "catdog_transfer_int8", &s, path, err);
    H5Fclose(file);
    if (rc == 1)
        rc = keras_quant_read(m, s, path, err);
    free(s);
    return rc < 0 ? -1 : 0;
}

/* Reads string attribute name into buf (n bytes); 1 read, 0 absent, -1 error. */
static int read_str(hid_t file, const char *name, char *buf, size_t n, const char *what,
                    cd_err *err)
{
    char *s = NULL;
    int rc = keras_h5_read_str_attr(file, name, &s, what, err);
    if (rc == 1) {
        if (strlen(s) >= n) {
            free(s);
            return cd_err_set(err, CD_ERR_FORMAT, "%s: attribute %s too long", what, name);
        }
        snprintf(buf, n, "%s", s);
        free(s);
    }
    return rc;
}

int transfer_file_probe(const char *path, transfer_meta *meta, cd_err *err)
{
    keras_h5_quiet();
    if (H5Fis_hdf5(path) <= 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    transfer_meta mt;
    memset(&mt, 0, sizeof mt);
    int rc = read_str(file, "catdog_backbone", mt.backbone, sizeof mt.backbone, path, err);
    if (rc == 1) {
        const char *missing = NULL;
        double size = 0;
        int r;
        if ((r = read_str(file, "catdog_backbone_file", mt.backbone_file, sizeof mt.backbone_file,
                          path, err)) != 1)
            missing = "catdog_backbone_file";
        else if ((r = read_str(file, "catdog_backbone_sha256", mt.backbone_sha256,
                               sizeof mt.backbone_sha256, path, err)) != 1)
            missing = "catdog_backbone_sha256";
        else if ((r = read_str(file, "catdog_backbone_cut", mt.cut, sizeof mt.cut, path, err)) != 1)
            missing = "catdog_backbone_cut";
        else if ((r = keras_h5_read_double_attr(file, "catdog_img_size", &size, path, err)) != 1)
            missing = "catdog_img_size";
        else if ((r = read_str(file, "catdog_head", mt.head, sizeof mt.head, path, err)) < 0)
            missing = "catdog_head";
        if (missing) {
            if (r == 0)
                cd_err_set(err, CD_ERR_FORMAT, "%s: transfer model without attribute %s", path,
                           missing);
            rc = -1;
        } else if (size < 1 || size > 4096) {
            rc = cd_err_set(err, CD_ERR_FORMAT, "%s: catdog_img_size %g out of range", path, size);
        } else {
            mt.img_size = (int)size;
        }
    }
    H5Fclose(file);
    if (rc == 1 && meta)
        *meta = mt;
    return rc;
}

model *transfer_load(const char *path, const transfer_load_opts *opts, cd_err *err)
{
    transfer_meta meta;
    int rc = transfer_file_probe(path, &meta, err);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        /* Not HDF5 at all: an .onnx file goes to the ONNX reader. */
        if (onnx_is_onnx_file(path)) {
            onnx_load_opts oo = {opts ? opts->img_size : 0};
            return onnx_load(path, &oo, err);
        }
        return keras_load(path, err);
    }

    const transfer_backbone_info *b = transfer_backbone_find(meta.backbone, err);
    if (!b) {
        cd_err_wrap(err, "%s", path);
        return NULL;
    }
    model *tail = keras_load(path, err);
    if (!tail)
        return NULL;
    transfer_weights_found found;
    model *bb = transfer_backbone_load(b, meta.img_size, opts ? opts->weights_path : NULL, &found,
                                       err);
    model *m = NULL;
    if (!bb) {
        cd_err_wrap(err, "%s needs the %s backbone", path, b->name);
        goto done;
    }
    if (strcmp(found.sha256, meta.backbone_sha256) != 0) {
        cd_err_set(err, CD_ERR_FORMAT,
                   "%s was trained on %s weights with SHA-256 %s, but %s has SHA-256 %s; "
                   "use the file it was trained with (%s)",
                   path, b->name, meta.backbone_sha256, found.path, found.sha256, meta.backbone_file);
        goto done;
    }
    if (!(m = transfer_compose(bb, meta.cut, tail, err))) {
        cd_err_wrap(err, "%s", path);
    } else if (read_transfer_quant(path, m, err) != 0) {
        model_free(m);
        m = NULL;
    }
done:
    model_free(bb);
    model_free(tail);
    return m;
}

int transfer_export(const char *model_path, const transfer_load_opts *opts, const char *out_path,
                    cd_err *err)
{
    model *m = transfer_load(model_path, opts, err);
    if (!m)
        return -1;
    int rc = keras_save(m, out_path, err);
    model_free(m);
    return rc;
}
