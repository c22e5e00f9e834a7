/*
 * checkpoint.c - training_config, optimizer_weights and catdog_train_state in a
 * Keras .h5 file (see checkpoint.h), with HDF5 and jansson.
 *
 * Strings are stored as fixed-length attributes, as h5py writes Python bytes,
 * so Keras and h5py read them back as it expects; the attribute and dataset
 * plumbing is modelfile/keras_h5.h's, shared with the model saver.
 */
#include "train/checkpoint.h"

#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras_h5.h"

#define OPT_GROUP "optimizer_weights"

void train_state_init(train_state *st, float lr, unsigned long long seed)
{
    memset(st, 0, sizeof *st);
    st->lr = lr;
    st->base_lr = lr;
    st->best_val_loss = HUGE_VAL;
    st->best_score = HUGE_VAL;
    st->seed = seed;
    snprintf(st->loss, sizeof st->loss, "binary_crossentropy");
}

/* ---- JSON ---- */

static char *training_config_json(const optim_opts *oo, const train_state *st)
{
    json_t *cfg = json_object();
    json_object_set_new(cfg, "lr", json_real(st->lr));
    switch (oo->kind) {
    case OPTIM_SGD:
        json_object_set_new(cfg, "momentum", json_real(oo->momentum));
        json_object_set_new(cfg, "decay", json_real(0.0));
        json_object_set_new(cfg, "nesterov", json_boolean(oo->nesterov));
        break;
    case OPTIM_RMSPROP:
        json_object_set_new(cfg, "rho", json_real(oo->rho));
        json_object_set_new(cfg, "decay", json_real(0.0));
        json_object_set_new(cfg, "epsilon", json_real(oo->epsilon));
        break;
    case OPTIM_ADAM:
        json_object_set_new(cfg, "beta_1", json_real(oo->beta1));
        json_object_set_new(cfg, "beta_2", json_real(oo->beta2));
        json_object_set_new(cfg, "decay", json_real(0.0));
        json_object_set_new(cfg, "epsilon", json_real(oo->epsilon));
        json_object_set_new(cfg, "amsgrad", json_false());
        break;
    }
    json_t *root = json_pack("{s:{s:s,s:o},s:s,s:[s],s:n,s:n}", "optimizer_config", "class_name",
                             optim_keras_class(oo->kind), "config", cfg, "loss", st->loss, "metrics",
                             "accuracy", "sample_weight_mode", "loss_weights");
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(root);
    return s;
}

static char *state_json(const optim_opts *oo, const train_state *st, long long iterations)
{
    json_t *root = json_pack("{s:i,s:I,s:f,s:f,s:i,s:i,s:i,s:s,s:s,s:f,s:I,s:s}", "epochs_done",
                             st->epochs_done, "step_in_epoch", (json_int_t)st->step_in_epoch, "lr",
                             (double)st->lr, "best_val_loss",
                             isfinite(st->best_val_loss) ? st->best_val_loss : 1e308, "best_epoch",
                             st->best_epoch, "since_best", st->since_best, "plateau_wait",
                             st->plateau_wait, "optimizer", optim_kind_name(oo->kind), "loss", st->loss,
                             "weight_decay", (double)oo->weight_decay, "iterations",
                             (json_int_t)iterations, "seed", "");
    if (root)
        json_object_set_new(root, "base_lr", json_real(st->base_lr));
    if (root)
        json_object_set_new(root, "best_val_accuracy", json_real(st->best_val_accuracy));
    if (root && st->world_size > 1)
        json_object_set_new(root, "world_size", json_integer(st->world_size));
    if (root)
        json_object_set_new(root, "best_score", json_real(isfinite(st->best_score) ? st->best_score : 1e308));
    if (!root)
        return NULL;
    /* The seed is 64-bit unsigned: JSON integers are signed, so keep it as a string. */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", st->seed);
    json_object_set_new(root, "seed", json_string(seed));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

/* ---- write ---- */

/* A scalar int root attribute, replaced when present.  0 or -1. */
static int write_int_attr(hid_t f, const char *name, int value)
{
    if (H5Aexists(f, name) > 0 && H5Adelete(f, name) < 0)
        return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    if (sp < 0)
        return -1;
    hid_t a = H5Acreate2(f, name, H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &value) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static int checkpoint_write_impl(const char *path, const optim_opts *oo, const optim *o, const train_state *st,
                     cd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open the saved model to add the training state", path);
    int rc = -1;
    char *tc = training_config_json(oo, st);
    char *sj = state_json(oo, st, o ? optim_iterations(o) : 0);
    char **names = NULL;
    size_t n_names = 0;
    hid_t g = -1;
    if (!tc || !sj) {
        cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory writing the training state", path);
        goto out;
    }
    if (keras_h5_write_str_attr(f, "training_config", tc, err) < 0 ||
        keras_h5_write_str_attr(f, "catdog_train_state", sj, err) < 0) {
        cd_err_wrap(err, "%s", path);
        goto out;
    }
    if (st->world_size > 1 && write_int_attr(f, "catdog_world_size", st->world_size) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write catdog_world_size", path);
        goto out;
    }
    htri_t ex = H5Lexists(f, OPT_GROUP, H5P_DEFAULT);
    if (ex > 0 && H5Ldelete(f, OPT_GROUP, H5P_DEFAULT) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot replace %s", path, OPT_GROUP);
        goto out;
    }
    if (!o) {
        rc = 0;
        goto out;
    }
    if ((g = H5Gcreate2(f, OPT_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot create group %s", path, OPT_GROUP);
        goto out;
    }
    const char *cls = optim_keras_class(oo->kind);
    size_t n_slots = optim_n_slots(o);
    /* Keras 2.2's Adam also keeps one unused (1,) "vhat" per parameter when amsgrad is off. */
    size_t n_vhats = oo->kind == OPTIM_ADAM ? n_slots / 2 : 0;
    n_names = 1 + n_slots + n_vhats;
    names = calloc(n_names, sizeof *names);
    if (!names) {
        cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n_names; i++) {
        names[i] = malloc(96);
        if (!names[i]) {
            cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        if (i == 0)
            snprintf(names[i], 96, "%s/iterations:0", cls);
        else if (i == 1)
            snprintf(names[i], 96, "training/%s/Variable:0", cls);
        else
            snprintf(names[i], 96, "training/%s/Variable_%zu:0", cls, i - 1);
    }
    if (keras_h5_write_int64(g, names[0], optim_iterations(o), err) < 0)
        goto fail_path;
    for (size_t i = 0; i < n_slots; i++) {
        optim_slot_info s;
        optim_slot(o, i, &s);
        if (keras_h5_write_floats(g, names[1 + i], s.shape_of->rank, s.shape_of->dims, s.data, err) < 0)
            goto fail_path;
    }
    for (size_t i = 0; i < n_vhats; i++) {
        int one = 1;
        float zero = 0.0f;
        if (keras_h5_write_floats(g, names[1 + n_slots + i], 1, &one, &zero, err) < 0)
            goto fail_path;
    }
    if (keras_h5_write_strs_attr(g, "weight_names", (const char *const *)names, (int)n_names, err) < 0)
        goto fail_path;
    rc = 0;
    goto out;
fail_path:
    cd_err_wrap(err, "%s: %s", path, OPT_GROUP);
out:
    keras_h5_free_strs(names, (int)n_names);
    if (g >= 0)
        H5Gclose(g);
    free(tc);
    free(sj);
    if (H5Fclose(f) < 0 && rc == 0)
        rc = cd_err_set(err, CD_ERR_IO, "%s: cannot finish writing the training state", path);
    return rc;
}

/* ---- read ---- */

static double jnum(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static int checkpoint_read_config_impl(const char *path, optim_opts *oo, train_state *st, cd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open as HDF5", path);
    int rc = -1;
    char *sj = NULL, *tc = NULL;
    json_t *js = NULL, *jt = NULL;
    int got = keras_h5_read_str_attr(f, "catdog_train_state", &sj, path, err);
    if (got <= 0) {
        if (got == 0)
            cd_err_set(err, CD_ERR_NOTFOUND, "%s: no catdog_train_state attribute (not a catdog training checkpoint)",
                       path);
        goto out;
    }
    json_error_t je;
    js = json_loads(sj, 0, &je);
    if (!json_is_object(js)) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: catdog_train_state is not valid JSON: %s", path, je.text);
        goto out;
    }
    optim_kind kind;
    json_t *jo = json_object_get(js, "optimizer");
    if (!json_is_string(jo) || optim_kind_parse(json_string_value(jo), &kind) < 0) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: catdog_train_state names no known optimizer", path);
        goto out;
    }
    optim_defaults(kind, oo);
    memset(st, 0, sizeof *st);
    st->epochs_done = (int)jnum(js, "epochs_done", 0);
    st->step_in_epoch = (long long)jnum(js, "step_in_epoch", 0);
    st->lr = (float)jnum(js, "lr", oo->lr);
    st->base_lr = (float)jnum(js, "base_lr", st->lr);
    st->best_val_loss = jnum(js, "best_val_loss", HUGE_VAL);
    if (st->best_val_loss >= 1e307)
        st->best_val_loss = HUGE_VAL;
    st->best_epoch = (int)jnum(js, "best_epoch", 0);
    st->best_val_accuracy = jnum(js, "best_val_accuracy", 0.0);
    /* Files from before --monitor: the score was the validation loss. */
    st->best_score = jnum(js, "best_score", st->best_val_loss);
    if (st->best_score >= 1e307)
        st->best_score = HUGE_VAL;
    st->since_best = (int)jnum(js, "since_best", 0);
    st->plateau_wait = (int)jnum(js, "plateau_wait", 0);
    st->world_size = (int)jnum(js, "world_size", 1);
    json_t *jl = json_object_get(js, "loss");
    snprintf(st->loss, sizeof st->loss, "%s", json_is_string(jl) ? json_string_value(jl) : "binary_crossentropy");
    json_t *jsd = json_object_get(js, "seed");
    st->seed = json_is_string(jsd) ? strtoull(json_string_value(jsd), NULL, 10) : 0;
    oo->weight_decay = (float)jnum(js, "weight_decay", 0.0);

    /* training_config adds the optimizer's hyper-parameters; without it (or
     * unreadable) the optimizer's defaults stand, as in Keras. */
    cd_err terr;
    if (keras_h5_read_str_attr(f, "training_config", &tc, path, &terr) > 0 && (jt = json_loads(tc, 0, &je)) != NULL) {
        json_t *cfg = json_object_get(json_object_get(jt, "optimizer_config"), "config");
        if (json_is_object(cfg)) {
            oo->lr = (float)jnum(cfg, "lr", oo->lr);
            oo->momentum = (float)jnum(cfg, "momentum", oo->momentum);
            oo->nesterov = json_is_true(json_object_get(cfg, "nesterov"));
            oo->rho = (float)jnum(cfg, "rho", oo->rho);
            oo->beta1 = (float)jnum(cfg, "beta_1", oo->beta1);
            oo->beta2 = (float)jnum(cfg, "beta_2", oo->beta2);
            oo->epsilon = (float)jnum(cfg, "epsilon", oo->epsilon);
        }
    }
    /* The current (scheduled) rate is the state's; training_config's lr is the same number. */
    oo->lr = st->lr;
    rc = 0;
out:
    json_decref(js);
    json_decref(jt);
    free(sj);
    free(tc);
    H5Fclose(f);
    return rc;
}

static int checkpoint_read_optimizer_impl(const char *path, optim *o, cd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open as HDF5", path);
    int rc = -1;
    hid_t g = -1;
    int n_names = 0;
    char **names = NULL;
    htri_t ex = H5Lexists(f, OPT_GROUP, H5P_DEFAULT);
    if (ex <= 0) {
        rc = 0;
        goto out;
    }
    if ((g = H5Gopen2(f, OPT_GROUP, H5P_DEFAULT)) < 0) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot open %s", path, OPT_GROUP);
        goto out;
    }
    int got = keras_h5_read_strs_attr(g, "weight_names", &names, &n_names, path, err);
    if (got <= 0) {
        if (got == 0)
            cd_err_set(err, CD_ERR_FORMAT, "%s: %s has no weight_names", path, OPT_GROUP);
        goto out;
    }
    size_t n_slots = optim_n_slots(o), k = 0;
    for (int i = 0; i < n_names; i++) {
        hid_t ds = H5Dopen2(g, names[i], H5P_DEFAULT);
        if (ds < 0) {
            cd_err_set(err, CD_ERR_FORMAT, "%s: optimizer weight '%s' is listed but missing", path, names[i]);
            goto out;
        }
        hid_t sp = H5Dget_space(ds);
        hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        int ok = 1;
        size_t len = strlen(names[i]);
        if (len >= 12 && strcmp(names[i] + len - 12, "iterations:0") == 0) {
            long long it = 0;
            ok = cnt == 1 && H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &it) >= 0;
            if (ok)
                optim_set_iterations(o, it);
        } else if (k < n_slots) {
            optim_slot_info s;
            optim_slot(o, k, &s);
            if (cnt != (hssize_t)s.size) {
                cd_err_set(err, CD_ERR_SHAPE,
                           "%s: optimizer weight '%s' has %lld values, the model's parameter needs %zu "
                           "(was the checkpoint made for another model or optimizer?)",
                           path, names[i], (long long)cnt, s.size);
                ok = -1;
            } else {
                ok = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data) >= 0;
            }
            k++;
        }
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(ds);
        if (ok == -1)
            goto out;
        if (!ok) {
            cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read optimizer weight '%s'", path, names[i]);
            goto out;
        }
    }
    if (k < n_slots) {
        cd_err_set(err, CD_ERR_SHAPE, "%s: %zu optimizer state arrays, the optimizer needs %zu", path, k, n_slots);
        goto out;
    }
    rc = 1;
out:
    keras_h5_free_strs(names, n_names);
    if (g >= 0)
        H5Gclose(g);
    H5Fclose(f);
    return rc;
}

/* Library code must not print: libhdf5's error stack printing is turned off
 * at every entry point (keras_h5.h says why that is safe). */
int checkpoint_write(const char *path, const optim_opts *oo, const optim *o, const train_state *st,
                     cd_err *err)
{
    keras_h5_quiet();
    return checkpoint_write_impl(path, oo, o, st, err);
}

int checkpoint_read_config(const char *path, optim_opts *oo, train_state *st, cd_err *err)
{
    keras_h5_quiet();
    return checkpoint_read_config_impl(path, oo, st, err);
}

int checkpoint_read_optimizer(const char *path, optim *o, cd_err *err)
{
    keras_h5_quiet();
    return checkpoint_read_optimizer_impl(path, o, err);
}

int checkpoint_write_world_size(const char *path, int world_size, cd_err *err)
{
    if (world_size < 2)
        return 0;
    keras_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open the saved model to record its MPI ranks", path);
    int rc = write_int_attr(f, "catdog_world_size", world_size);
    H5Fclose(f);
    return rc < 0 ? cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write catdog_world_size", path) : 0;
}

int checkpoint_read_world_size(const char *path)
{
    keras_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    int v = 0;
    if (H5Aexists(f, "catdog_world_size") > 0) {
        hid_t a = H5Aopen(f, "catdog_world_size", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT, &v) < 0)
            v = 0;
        if (a >= 0)
            H5Aclose(a);
    }
    H5Fclose(f);
    return v;
}

/* ---- parameter groups (the trained weights beside an averaged model) ---- */

static int write_params_impl(const char *path, const char *group, const model *m, cd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open the saved model to add %s", path, group);
    int rc = -1;
    hid_t g = -1;
    if (H5Lexists(f, group, H5P_DEFAULT) > 0 && H5Ldelete(f, group, H5P_DEFAULT) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot replace %s", path, group);
        goto out;
    }
    if ((g = keras_h5_create_group(f, group, err)) < 0)
        goto out;
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            const tensor *t = m->layers[i].params[p];
            if (!t)
                continue;
            char name[48];
            snprintf(name, sizeof name, "%d/%d", i, p);
            int n = (int)t->size;
            if (keras_h5_write_floats(g, name, 1, &n, t->data, err) < 0) {
                cd_err_wrap(err, "%s: %s", path, group);
                goto out;
            }
        }
    rc = 0;
out:
    if (g >= 0)
        H5Gclose(g);
    if (H5Fclose(f) < 0 && rc == 0)
        rc = cd_err_set(err, CD_ERR_IO, "%s: cannot finish writing %s", path, group);
    return rc;
}

static int read_params_impl(const char *path, const char *group, model *m, cd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return cd_err_set(err, CD_ERR_IO, "%s: cannot open as HDF5", path);
    int rc = -1;
    hid_t g = -1;
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0) {
        rc = 0;
        goto out;
    }
    if ((g = H5Gopen2(f, group, H5P_DEFAULT)) < 0) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot open %s", path, group);
        goto out;
    }
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i].n_params; p++) {
            tensor *t = m->layers[i].params[p];
            if (!t)
                continue;
            char name[48];
            snprintf(name, sizeof name, "%d/%d", i, p);
            hid_t ds = H5Lexists(g, name, H5P_DEFAULT) > 0 ? H5Dopen2(g, name, H5P_DEFAULT) : -1;
            if (ds < 0) {
                cd_err_set(err, CD_ERR_FORMAT, "%s: %s lacks %s (layer %s)", path, group, name, m->layers[i].name);
                goto out;
            }
            hid_t sp = H5Dget_space(ds);
            hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
            int ok = cnt == (hssize_t)t->size &&
                     H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) >= 0;
            if (sp >= 0)
                H5Sclose(sp);
            H5Dclose(ds);
            if (!ok) {
                cd_err_set(err, CD_ERR_SHAPE, "%s: %s/%s has %lld values, layer %s's parameter %d needs %zu", path,
                           group, name, (long long)cnt, m->layers[i].name, p, t->size);
                goto out;
            }
        }
    rc = 1;
out:
    if (g >= 0)
        H5Gclose(g);
    H5Fclose(f);
    return rc;
}

int checkpoint_write_params(const char *path, const char *group, const model *m, cd_err *err)
{
    keras_h5_quiet();
    return write_params_impl(path, group, m, err);
}

int checkpoint_read_params(const char *path, const char *group, model *m, cd_err *err)
{
    keras_h5_quiet();
    return read_params_impl(path, group, m, err);
}
