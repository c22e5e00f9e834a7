/*
 * keras_weights.c - Keras' weight layout: reading it onto a model, writing it.
 *
 * The layout (same for whole-model files under /model_weights and for
 * save_weights files at the root):
 *   attr layer_names            every top-level layer, in order
 *   <layer>/ attr weight_names  that layer's weights in Keras' order, each the
 *                               path of a dataset below the layer's group
 * For a plain layer the weights are [kernel, bias] in that order, whatever
 * their names (the shared SqueezeNet file has Keras-1 names "uniform1",
 * "conv1_b").  For a nested model the group lists all its layers' weights,
 * each named "<inner layer>/kernel:0", trainable layers first (Keras'
 * Network.weights order); we match those by the layer named in each weight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras_h5.h"
#include "modelfile/keras_internal.h"

/* "kernel, bias" or "gamma, beta, moving_mean, moving_variance": what a
 * layer's weights are, for messages. */
static const char *param_list(const layer *l, int from, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int k = from; k < l->n_params; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s%s", k > from ? ", " : "", layer_param_name(l, k));
    }
    return buf;
}

/* Reads dataset `dname` of group g into parameter `k` of layer l, checking
 * the shape.  0 or -1.  (Also the Keras 3 archive reader's.) */
int keras_weights_read_param(hid_t g, const char *dname, layer *l, int k, const char *what, cd_err *err)
{
    tensor *t = l->params[k];
    if (!t)
        return cd_err_set(err, CD_ERR_INVALID, "%s: layer '%s': %s not allocated (shapes not inferred)",
                          what, l->name, layer_param_name(l, k));
    hid_t ds = H5Dopen2(g, dname, H5P_DEFAULT);
    if (ds < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        return cd_err_set(err, CD_ERR_FORMAT, "%s: layer '%s': cannot open weight '%s' (%s)", what,
                          l->name, dname, msg);
    }
    int rc = 0;
    hid_t space = H5Dget_space(ds);
    hid_t type = H5Dget_type(ds);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t hd[8] = {0};
    if (rank < 0 || rank > 8 || H5Sget_simple_extent_dims(space, hd, NULL) < 0) {
        rc = cd_err_set(err, CD_ERR_FORMAT, "%s: layer '%s': weight '%s' has a bad shape", what,
                        l->name, dname);
        goto done;
    }
    /* integers too: Normalization's count is an int64 scalar (HDF5 converts) */
    if (type < 0 || (H5Tget_class(type) != H5T_FLOAT && H5Tget_class(type) != H5T_INTEGER)) {
        rc = cd_err_set(err, CD_ERR_FORMAT, "%s: layer '%s': weight '%s' is not a number",
                        what, l->name, dname);
        goto done;
    }
    int same = rank == t->rank;
    for (int i = 0; same && i < rank; i++)
        same = hd[i] == (hsize_t)t->dims[i];
    if (!same) {
        char found[96] = "(", expected[96];
        size_t off = 1;
        for (int i = 0; i < rank && off < sizeof found; i++)
            off += (size_t)snprintf(found + off, sizeof found - off, "%s%llu", i ? ", " : "",
                                    (unsigned long long)hd[i]);
        if (off < sizeof found)
            snprintf(found + off, sizeof found - off, "%s)", rank == 1 ? "," : "");
        tensor_shape_str(t->rank, t->dims, expected, sizeof expected);
        rc = cd_err_set(err, CD_ERR_SHAPE, "%s: layer '%s': %s has shape %s in the file, expected %s",
                        what, l->name, layer_param_name(l, k), found, expected);
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        rc = cd_err_set(err, CD_ERR_FORMAT, "%s: layer '%s': cannot read %s (%s)", what, l->name,
                        layer_param_name(l, k), msg);
    }
done:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

/* The layer of scope `scope` (NULL: any layer) a nested weight name
 * ("block1_conv1/kernel:0", possibly with an outer prefix) belongs to; -1
 * when none. */
static int nested_layer(const model *m, const char *scope, const char *wname)
{
    const char *slash = strrchr(wname, '/');
    if (!slash)
        return -1;
    size_t plen = (size_t)(slash - wname);
    int best = -1;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if ((scope && strcmp(l->scope, scope) != 0) || l->n_params == 0)
            continue;
        size_t n = strlen(l->name);
        if (n == plen && strncmp(wname, l->name, n) == 0)
            return i;
        if (n < plen && wname[plen - n - 1] == '/' && strncmp(wname + plen - n, l->name, n) == 0)
            best = i;
    }
    return best;
}

static int model_has_scope(const model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].scope, name) == 0)
            return 1;
    return 0;
}

/* Loads the weights one layer group lists.  loaded[i] counts parameters of
 * layer i filled so far. */
static int read_group(model *m, hid_t g, const char *gname, int *loaded, const char *what,
                      cd_err *err)
{
    char **wn;
    int n_w;
    int rc = keras_h5_read_strs_attr(g, "weight_names", &wn, &n_w, what, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || n_w == 0)
        return 0;
    rc = 0;
    int idx = model_find(m, gname);
    char plist[96];
    if (idx >= 0 && m->layers[idx].n_params > 0 && !model_has_scope(m, gname)) {
        layer *l = &m->layers[idx];
        if (n_w != l->n_params) {
            rc = cd_err_set(err, CD_ERR_SHAPE, "%s: layer '%s': the file has %d weight%s, expected %d (%s)",
                            what, l->name, n_w, n_w == 1 ? "" : "s", l->n_params,
                            param_list(l, 0, plist, sizeof plist));
        }
        for (int k = 0; rc == 0 && k < n_w; k++) {
            rc = keras_weights_read_param(g, wn[k], l, k, what, err);
            if (rc == 0)
                loaded[idx]++;
        }
    } else if (model_has_scope(m, gname)) {
        for (int k = 0; rc == 0 && k < n_w; k++) {
            int li = nested_layer(m, gname, wn[k]);
            if (li < 0) {
                rc = cd_err_set(err, CD_ERR_FORMAT,
                                "%s: nested model '%s': weight '%s' names no layer of the model",
                                what, gname, wn[k]);
                break;
            }
            layer *l = &m->layers[li];
            if (loaded[li] >= l->n_params) {
                rc = cd_err_set(err, CD_ERR_SHAPE, "%s: layer '%s': the file has more than %d weights",
                                what, l->name, l->n_params);
                break;
            }
            rc = keras_weights_read_param(g, wn[k], l, loaded[li], what, err);
            if (rc == 0)
                loaded[li]++;
        }
    } else {
        /* A group naming no layer of ours: a nested model the model holds
         * flattened (the seed's vgg16 group onto arch_vgg16).  Weights whose
         * layer we have and have not filled yet are taken; the rest is
         * ignored, as Keras' load_weights(by_name=True) ignores unknown layers. */
        for (int k = 0; rc == 0 && k < n_w; k++) {
            int li = nested_layer(m, NULL, wn[k]);
            if (li < 0 || loaded[li] >= m->layers[li].n_params)
                continue;
            rc = keras_weights_read_param(g, wn[k], &m->layers[li], loaded[li], what, err);
            if (rc == 0)
                loaded[li]++;
        }
    }
    keras_h5_free_strs(wn, n_w);
    return rc;
}

int keras_weights_read(model *m, hid_t group, const char *what, cd_err *err)
{
    char **names;
    int n;
    int rc = keras_h5_read_strs_attr(group, "layer_names", &names, &n, what, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return cd_err_set(err, CD_ERR_FORMAT, "%s: no 'layer_names' attribute (not Keras weights)",
                          what);
    int *loaded = calloc(m->n_layers > 0 ? (size_t)m->n_layers : 1, sizeof *loaded);
    if (!loaded) {
        keras_h5_free_strs(names, n);
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", what);
    }
    rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        htri_t exists = H5Lexists(group, names[i], H5P_DEFAULT);
        hid_t g = exists > 0 ? H5Gopen2(group, names[i], H5P_DEFAULT) : -1;
        if (g < 0) {
            char msg[256];
            keras_h5_errmsg(msg, sizeof msg);
            rc = cd_err_set(err, CD_ERR_FORMAT, "%s: layer '%s' is listed but its group is missing (%s)",
                            what, names[i], exists == 0 ? "no such group" : msg);
            break;
        }
        rc = read_group(m, g, names[i], loaded, what, err);
        H5Gclose(g);
    }
    char plist[96];
    for (int i = 0; rc == 0 && i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (loaded[i] < l->n_params)
            rc = cd_err_set(err, CD_ERR_NOTFOUND, "%s: missing weights for layer '%s' (%s%s)", what,
                            l->name, param_list(l, loaded[i], plist, sizeof plist),
                            l->scope[0] ? ", in nested model" : "");
    }
    free(loaded);
    keras_h5_free_strs(names, n);
    return rc;
}

/* Writes the weights of layers [first, last] of m into layer group g; nested
 * (scoped) groups list the trainable weights first, then the others, each in
 * layer order, as Keras' Network.weights does (a trainable
 * BatchNormalization's moving statistics are among the others). */
static int write_group(const model *m, hid_t g, int first, int last, int scoped, cd_err *err)
{
    int cap = 0;
    for (int i = first; i <= last; i++)
        cap += m->layers[i].n_params;
    char **names = calloc(cap > 0 ? (size_t)cap : 1, sizeof *names);
    if (!names)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    int n = 0, rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (int i = first; i <= last && rc == 0; i++) {
            const layer *l = &m->layers[i];
            /* pass 0: the trainable weights of trainable layers; pass 1: the
             * rest (plain layers: everything in one pass) */
            int tp = l->trainable ? layer_trainable_params(l) : 0;
            int from = !scoped ? 0 : pass == 0 ? 0 : tp;
            int to = !scoped ? l->n_params : pass == 0 ? tp : l->n_params;
            if (!scoped && pass == 1)
                continue;
            for (int k = from; k < to && rc == 0; k++) {
                char wname[LAYER_NAME_MAX + 16];
                snprintf(wname, sizeof wname, "%s/%s:0", l->name, layer_param_name(l, k));
                if (!(names[n] = strdup(wname))) {
                    rc = cd_err_set(err, CD_ERR_NOMEM, "out of memory");
                    break;
                }
                n++;
                const tensor *t = l->params[k];
                if (!t)
                    rc = cd_err_set(err, CD_ERR_INVALID, "layer '%s': %s not allocated", l->name,
                                    layer_param_name(l, k));
                else
                    rc = keras_h5_write_floats(g, wname, t->rank, t->dims, t->data, err);
            }
        }
    }
    if (rc == 0)
        rc = keras_h5_write_strs_attr(g, "weight_names", (const char *const *)names, n, err);
    keras_h5_free_strs(names, n);
    return rc;
}

int keras_weights_write(const model *m, hid_t group, cd_err *err)
{
    keras_item *items;
    int n;
    if (keras_items(m, &items, &n, err) != 0)
        return -1;
    /* Keras' Sequential does not list its InputLayer; functional models do. */
    int start = (keras_items_sequential(m, items, n) && !items[0].scoped) ? 1 : 0;
    const char **names = calloc((size_t)n, sizeof *names);
    int rc = 0, n_names = 0;
    if (!names) {
        free(items);
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    }
    for (int k = start; k < n && rc == 0; k++) {
        const keras_item *it = &items[k];
        const char *name = it->scoped ? m->layers[it->first].scope : m->layers[it->first].name;
        names[n_names++] = name;
        hid_t g = keras_h5_create_group(group, name, err);
        if (g < 0) {
            rc = -1;
            break;
        }
        rc = write_group(m, g, it->first, it->last, it->scoped, err);
        H5Gclose(g);
    }
    if (rc == 0)
        rc = keras_h5_write_strs_attr(group, "layer_names", names, n_names, err);
    if (rc == 0)
        rc = keras_h5_write_str_attr(group, "backend", "tensorflow", err);
    if (rc == 0)
        rc = keras_h5_write_str_attr(group, "keras_version", "2.2.4", err);
    free(names);
    free(items);
    return rc;
}
