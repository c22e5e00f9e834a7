/*
 * checkpoint.c - training_config, optimizer_weights and catdog_train_state in a
 * Keras .h5 file (see checkpoint.h), with HDF5 and jansson.
 *
 * Strings are stored as fixed-length attributes, as h5py writes Python bytes,
 * so Keras and h5py read them back as it expects.
 */
#include "train/checkpoint.h"

#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT_GROUP "optimizer_weights"

/* HDF5 prints an error stack on every failed call unless told not to; library
 * code must not print, so each entry point silences it and restores it after. */
typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static h5_quiet h5_quiet_begin(void)
{
    h5_quiet q = {NULL, NULL};
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static void h5_quiet_end(h5_quiet q)
{
    H5Eset_auto2(H5E_DEFAULT, q.func, q.data);
}

void train_state_init(train_state *st, float lr, unsigned long long seed)
{
    memset(st, 0, sizeof *st);
    st->lr = lr;
    st->base_lr = lr;
    st->best_val_loss = HUGE_VAL;
    st->seed = seed;
    snprintf(st->loss, sizeof st->loss, "binary_crossentropy");
}

/* ---- HDF5 helpers ---- */

static int attr_delete_if_exists(hid_t obj, const char *name)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return -1;
    if (ex > 0 && H5Adelete(obj, name) < 0)
        return -1;
    return 0;
}

static int write_string_attr(hid_t obj, const char *name, const char *value)
{
    if (attr_delete_if_exists(obj, name) < 0)
        return -1;
    size_t len = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    int rc = -1;
    hid_t sp = -1, a = -1;
    if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)
        goto out;
    if ((sp = H5Screate(H5S_SCALAR)) < 0)
        goto out;
    if ((a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto out;
    if (H5Awrite(a, t, len ? value : "") < 0)
        goto out;
    rc = 0;
out:
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

/* Reads a scalar string attribute (fixed or variable length) into a malloc'd
 * string; NULL when absent or unreadable (*missing set when absent). */
static char *read_string_attr(hid_t obj, const char *name, int *missing)
{
    *missing = 0;
    htri_t ex = H5Aexists(obj, name);
    if (ex <= 0) {
        *missing = ex == 0;
        return NULL;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(ft);
            out = calloc(sz + 1, 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz);
            H5Tset_strpad(mt, H5T_STR_NULLPAD); /* NULLTERM would drop the last character */
            if (out && H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
    }
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return out;
}

/* A dataset at a slash-separated path under grp, intermediate groups created. */
static int write_dataset(hid_t grp, const char *name, hid_t type, int rank, const hsize_t *dims,
                         const void *data)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0)
        return -1;
    int rc = -1;
    hid_t sp = -1, ds = -1;
    if (H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto out;
    sp = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    if (sp < 0)
        goto out;
    ds = H5Dcreate2(grp, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0)
        goto out;
    if (H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        goto out;
    rc = 0;
out:
    if (ds >= 0)
        H5Dclose(ds);
    if (sp >= 0)
        H5Sclose(sp);
    H5Pclose(lcpl);
    return rc;
}

/* Writes `names` (n strings) as a fixed-length string array attribute. */
static int write_names_attr(hid_t obj, const char *attr, char **names, size_t n)
{
    size_t maxlen = 1;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) > maxlen)
            maxlen = strlen(names[i]);
    char *buf = calloc(n ? n : 1, maxlen);
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * maxlen, names[i], strlen(names[i]));
    int rc = -1;
    hid_t t = H5Tcopy(H5T_C_S1), sp = -1, a = -1;
    hsize_t d = n;
    if (t < 0 || H5Tset_size(t, maxlen) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)
        goto out;
    if ((sp = H5Screate_simple(1, &d, NULL)) < 0)
        goto out;
    if ((a = H5Acreate2(obj, attr, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto out;
    if (H5Awrite(a, t, buf) < 0)
        goto out;
    rc = 0;
out:
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return rc;
}

/* Reads a 1-D fixed- or variable-length string array attribute; *n set. */
static char **read_names_attr(hid_t obj, const char *attr, size_t *n)
{
    *n = 0;
    if (H5Aexists(obj, attr) <= 0)
        return NULL;
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    char **out = NULL;
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (ft < 0 || cnt < 0 || H5Tget_class(ft) != H5T_STRING)
        goto done;
    out = calloc((size_t)cnt + 1, sizeof *out);
    if (!out)
        goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char **v = calloc((size_t)cnt + 1, sizeof *v);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (v && H5Aread(a, mt, v) >= 0) {
            for (hssize_t i = 0; i < cnt; i++) {
                out[i] = strdup(v[i] ? v[i] : "");
                H5free_memory(v[i]);
            }
        }
        H5Tclose(mt);
        free(v);
    } else {
        size_t sz = H5Tget_size(ft);
        char *buf = calloc((size_t)cnt, sz);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (buf && H5Aread(a, mt, buf) >= 0)
            for (hssize_t i = 0; i < cnt; i++) {
                out[i] = calloc(sz + 1, 1);
                if (out[i])
                    memcpy(out[i], buf + (size_t)i * sz, sz);
            }
        H5Tclose(mt);
        free(buf);
    }
    for (hssize_t i = 0; i < cnt; i++)
        if (!out[i]) {
            for (hssize_t j = 0; j < cnt; j++)
                free(out[j]);
            free(out);
            out = NULL;
            goto done;
        }
    *n = (size_t)cnt;
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static void free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
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
    if (write_string_attr(f, "training_config", tc) < 0 || write_string_attr(f, "catdog_train_state", sj) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write the training_config attribute", path);
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
    long long it = optim_iterations(o);
    if (write_dataset(g, names[0], H5T_NATIVE_LLONG, 0, NULL, &it) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write %s", path, names[0]);
        goto out;
    }
    for (size_t i = 0; i < n_slots; i++) {
        optim_slot_info s;
        optim_slot(o, i, &s);
        hsize_t dims[TENSOR_MAX_RANK];
        for (int d = 0; d < s.shape_of->rank; d++)
            dims[d] = (hsize_t)s.shape_of->dims[d];
        if (write_dataset(g, names[1 + i], H5T_NATIVE_FLOAT, s.shape_of->rank, dims, s.data) < 0) {
            cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write %s", path, names[1 + i]);
            goto out;
        }
    }
    for (size_t i = 0; i < n_vhats; i++) {
        hsize_t one = 1;
        float zero = 0.0f;
        if (write_dataset(g, names[1 + n_slots + i], H5T_NATIVE_FLOAT, 1, &one, &zero) < 0) {
            cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write %s", path, names[1 + n_slots + i]);
            goto out;
        }
    }
    if (write_names_attr(g, "weight_names", names, n_names) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: cannot write %s/weight_names", path, OPT_GROUP);
        goto out;
    }
    rc = 0;
out:
    free_names(names, n_names);
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
    int missing = 0, rc = -1;
    char *sj = read_string_attr(f, "catdog_train_state", &missing);
    char *tc = NULL;
    json_t *js = NULL, *jt = NULL;
    if (!sj) {
        cd_err_set(err, missing ? CD_ERR_NOTFOUND : CD_ERR_FORMAT,
                   "%s: %s catdog_train_state attribute (not a catdog training checkpoint)", path,
                   missing ? "no" : "unreadable");
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
    st->since_best = (int)jnum(js, "since_best", 0);
    st->plateau_wait = (int)jnum(js, "plateau_wait", 0);
    json_t *jl = json_object_get(js, "loss");
    snprintf(st->loss, sizeof st->loss, "%s", json_is_string(jl) ? json_string_value(jl) : "binary_crossentropy");
    json_t *jsd = json_object_get(js, "seed");
    st->seed = json_is_string(jsd) ? strtoull(json_string_value(jsd), NULL, 10) : 0;
    oo->weight_decay = (float)jnum(js, "weight_decay", 0.0);

    tc = read_string_attr(f, "training_config", &missing);
    if (tc && (jt = json_loads(tc, 0, &je)) != NULL) {
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
    size_t n_names = 0;
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
    names = read_names_attr(g, "weight_names", &n_names);
    if (!names) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: %s has no weight_names", path, OPT_GROUP);
        goto out;
    }
    size_t n_slots = optim_n_slots(o), k = 0;
    for (size_t i = 0; i < n_names; i++) {
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
    free_names(names, n_names);
    if (g >= 0)
        H5Gclose(g);
    H5Fclose(f);
    return rc;
}

int checkpoint_write(const char *path, const optim_opts *oo, const optim *o, const train_state *st,
                     cd_err *err)
{
    h5_quiet q = h5_quiet_begin();
    int rc = checkpoint_write_impl(path, oo, o, st, err);
    h5_quiet_end(q);
    return rc;
}

int checkpoint_read_config(const char *path, optim_opts *oo, train_state *st, cd_err *err)
{
    h5_quiet q = h5_quiet_begin();
    int rc = checkpoint_read_config_impl(path, oo, st, err);
    h5_quiet_end(q);
    return rc;
}

int checkpoint_read_optimizer(const char *path, optim *o, cd_err *err)
{
    h5_quiet q = h5_quiet_begin();
    int rc = checkpoint_read_optimizer_impl(path, o, err);
    h5_quiet_end(q);
    return rc;
}
