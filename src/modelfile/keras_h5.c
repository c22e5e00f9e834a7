/*
 * keras_h5.c - HDF5 attribute and dataset helpers for the Keras loader and
 * saver (see keras_h5.h for the string forms accepted and the error policy).
 */
#include "modelfile/keras_h5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void keras_h5_quiet(void)
{
    /* Only fails for an invalid stack id; H5E_DEFAULT is always valid. */
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct errmsg_ctx {
    char *buf;
    size_t size;
    int found;
} errmsg_ctx;

/* Walking upward, record 0 is the most specific error: the one to show. */
static herr_t errmsg_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    errmsg_ctx *ctx = data;
    if (n == 0 && e && e->desc && e->desc[0]) {
        snprintf(ctx->buf, ctx->size, "%s", e->desc);
        ctx->found = 1;
    }
    return 0;
}

void keras_h5_errmsg(char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    errmsg_ctx ctx = {buf, size, 0};
    if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, errmsg_walk, &ctx) < 0 || !ctx.found)
        snprintf(buf, size, "unknown HDF5 error");
    (void)H5Eclear2(H5E_DEFAULT);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void keras_h5_free_strs(char **strs, int n)
{
    if (!strs)
        return;
    for (int i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
}

/* Reads every element of a string attribute; *n elements into *out. */
static int read_strings(hid_t attr, const char *name, char ***out, int *n, const char *what,
                        cd_err *err)
{
    int rc = -1;
    hid_t ftype = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    hid_t mtype = -1;
    char **strs = NULL;
    int count = 0;
    if (ftype < 0 || space < 0) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read attribute '%s'", what, name);
        goto done;
    }
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    if (npoints < 0 || npoints > 1000000) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' has a bad size", what, name);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls != H5T_STRING) {
        if (npoints == 0) { /* h5py's form of an empty list */
            *out = NULL;
            *n = 0;
            rc = 1;
        } else {
            cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' is not text", what, name);
        }
        goto done;
    }
    count = (int)npoints;
    strs = calloc(count > 0 ? (size_t)count : 1, sizeof *strs);
    if (!strs) {
        cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
        goto done;
    }
    mtype = H5Tcopy(H5T_C_S1);
    if (mtype < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
        cd_err_set(err, CD_ERR_BACKEND, "%s: HDF5 type error reading '%s'", what, name);
        goto done;
    }
    if (count == 0) {
        rc = 1;
        goto done;
    }
    htri_t vlen = H5Tis_variable_str(ftype);
    if (vlen < 0) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' has a bad string type", what, name);
        goto done;
    }
    if (vlen) {
        char **raw = calloc((size_t)count, sizeof *raw);
        if (!raw) {
            cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
            goto done;
        }
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, raw) < 0) {
            char msg[256];
            keras_h5_errmsg(msg, sizeof msg);
            cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read attribute '%s' (%s)", what, name, msg);
            free(raw);
            goto done;
        }
        int ok = 1;
        for (int i = 0; i < count; i++) {
            const char *s = raw[i] ? raw[i] : "";
            strs[i] = dup_n(s, strlen(s));
            if (!strs[i])
                ok = 0;
        }
        (void)H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
        free(raw);
        if (!ok) {
            cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
            goto done;
        }
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || sz > (64u << 20) / (size_t)count) {
            cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' has a bad string size", what, name);
            goto done;
        }
        char *raw = malloc(sz * (size_t)count);
        if (!raw) {
            cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
            goto done;
        }
        /* Same size and NUL padding: no characters lost whatever the file's padding. */
        if (H5Tset_size(mtype, sz) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLPAD) < 0 ||
            H5Aread(attr, mtype, raw) < 0) {
            char msg[256];
            keras_h5_errmsg(msg, sizeof msg);
            cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read attribute '%s' (%s)", what, name, msg);
            free(raw);
            goto done;
        }
        int ok = 1;
        for (int i = 0; i < count; i++) {
            const char *s = raw + (size_t)i * sz;
            strs[i] = dup_n(s, strnlen(s, sz));
            if (!strs[i])
                ok = 0;
        }
        free(raw);
        if (!ok) {
            cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
            goto done;
        }
    }
    *out = strs;
    *n = count;
    strs = NULL;
    rc = 1;
done:
    if (strs)
        keras_h5_free_strs(strs, count);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    return rc;
}

/* Opens attribute `name` of obj: >= 0 id, or -2 when absent, -1 on error. */
static hid_t open_attr(hid_t obj, const char *name, const char *what, cd_err *err)
{
    htri_t exists = H5Aexists(obj, name);
    if (exists < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read attributes (%s)", what, msg);
        return -1;
    }
    if (!exists)
        return -2;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot open attribute '%s' (%s)", what, name, msg);
        return -1;
    }
    return attr;
}

/* One attribute, as read_strings: 1 / 0 (absent) / -1. */
static int read_strs_one(hid_t obj, const char *name, char ***out, int *n, const char *what,
                         cd_err *err)
{
    *out = NULL;
    *n = 0;
    hid_t attr = open_attr(obj, name, what, err);
    if (attr == -2)
        return 0;
    if (attr < 0)
        return -1;
    int rc = read_strings(attr, name, out, n, what, err);
    H5Aclose(attr);
    return rc;
}

int keras_h5_read_strs_attr(hid_t obj, const char *name, char ***out, int *n,
                            const char *what, cd_err *err)
{
    int rc = read_strs_one(obj, name, out, n, what, err);
    if (rc != 0)
        return rc;
    /* Keras splits a list too big for one HDF5 object header (64 KiB) into
     * name0, name1, ...: join the chunks. */
    char **all = NULL;
    int total = 0;
    for (int chunk = 0;; chunk++) {
        char cname[256];
        char **part;
        int np;
        snprintf(cname, sizeof cname, "%s%d", name, chunk);
        rc = read_strs_one(obj, cname, &part, &np, what, err);
        if (rc <= 0)
            break;
        char **grown = realloc(all, (size_t)(total + np + 1) * sizeof *grown);
        if (!grown) {
            keras_h5_free_strs(part, np);
            rc = cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading '%s'", what, name);
            break;
        }
        all = grown;
        for (int i = 0; i < np; i++)
            all[total++] = part[i];
        free(part);
    }
    if (rc < 0) {
        keras_h5_free_strs(all, total);
        return -1;
    }
    if (!all)
        return 0;
    *out = all;
    *n = total;
    return 1;
}

int keras_h5_read_str_attr(hid_t obj, const char *name, char **out, const char *what,
                           cd_err *err)
{
    *out = NULL;
    char **strs;
    int n;
    int rc = keras_h5_read_strs_attr(obj, name, &strs, &n, what, err);
    if (rc <= 0)
        return rc;
    if (n != 1) {
        keras_h5_free_strs(strs, n);
        return cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' holds %d strings, expected one",
                          what, name, n);
    }
    *out = strs[0];
    free(strs);
    return 1;
}

int keras_h5_read_double_attr(hid_t obj, const char *name, double *out, const char *what,
                              cd_err *err)
{
    hid_t attr = open_attr(obj, name, what, err);
    if (attr == -2)
        return 0;
    if (attr < 0)
        return -1;
    int rc = 1;
    hid_t type = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (space < 0 || H5Sget_simple_extent_npoints(space) != 1 ||
        (cls != H5T_FLOAT && cls != H5T_INTEGER)) {
        rc = cd_err_set(err, CD_ERR_FORMAT, "%s: attribute '%s' is not a number", what, name);
    } else if (H5Aread(attr, H5T_NATIVE_DOUBLE, out) < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        rc = cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read attribute '%s' (%s)", what, name, msg);
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    H5Aclose(attr);
    return rc;
}

/* Replaces attribute `name` on obj with one of the given type and space. */
static int write_attr(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf,
                      cd_err *err)
{
    htri_t exists = H5Aexists(obj, name);
    if (exists > 0 && H5Adelete(obj, name) < 0)
        exists = -1;
    hid_t attr = exists < 0 ? -1 : H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, type, buf) < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        if (attr >= 0)
            H5Aclose(attr);
        return cd_err_set(err, CD_ERR_BACKEND, "cannot write attribute '%s' (%s)", name, msg);
    }
    H5Aclose(attr);
    return 0;
}

int keras_h5_write_strs_attr(hid_t obj, const char *name, const char *const *values, int n,
                             cd_err *err)
{
    int rc = -1;
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    if (space < 0)
        return cd_err_set(err, CD_ERR_BACKEND, "cannot write attribute '%s'", name);
    if (n == 0) {
        double none = 0;
        rc = write_attr(obj, name, H5T_IEEE_F64LE, space, &none, err);
        H5Sclose(space);
        return rc;
    }
    size_t width = 1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        if (len > width)
            width = len;
    }
    char *buf = calloc((size_t)n, width);
    hid_t type = H5Tcopy(H5T_C_S1);
    if (!buf || type < 0 || H5Tset_size(type, width) < 0 ||
        H5Tset_strpad(type, H5T_STR_NULLPAD) < 0) {
        cd_err_set(err, CD_ERR_NOMEM, "cannot write attribute '%s'", name);
        goto done;
    }
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * width, values[i], strlen(values[i]));
    rc = write_attr(obj, name, type, space, buf, err);
done:
    free(buf);
    if (type >= 0)
        H5Tclose(type);
    H5Sclose(space);
    return rc;
}

/* A fixed-length string attribute lives in its object's header, which holds
 * at most 64 KiB: the model_config of a MobileNetV2 or ResNet50 is longer.
 * Those are written as a variable-length string (its bytes on the global
 * heap), as h5py 3 writes every Python str. */
#define KERAS_H5_FIXED_STR_MAX 32768

int keras_h5_write_str_attr(hid_t obj, const char *name, const char *value, cd_err *err)
{
    size_t len = strlen(value);
    int vlen = len > KERAS_H5_FIXED_STR_MAX;
    hid_t type = H5Tcopy(H5T_C_S1);
    hid_t space = H5Screate(H5S_SCALAR);
    int rc;
    if (type < 0 || space < 0 ||
        H5Tset_size(type, vlen ? H5T_VARIABLE : len > 0 ? len : 1) < 0 ||
        H5Tset_strpad(type, vlen ? H5T_STR_NULLTERM : H5T_STR_NULLPAD) < 0) {
        rc = cd_err_set(err, CD_ERR_BACKEND, "cannot write attribute '%s'", name);
    } else if (vlen) {
        rc = write_attr(obj, name, type, space, &value, err);
    } else {
        /* An empty string still needs one byte of storage; pass a padded buffer. */
        rc = write_attr(obj, name, type, space, len > 0 ? value : "\0", err);
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

int keras_h5_write_double_attr(hid_t obj, const char *name, double value, cd_err *err)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return cd_err_set(err, CD_ERR_BACKEND, "cannot write attribute '%s'", name);
    int rc = write_attr(obj, name, H5T_NATIVE_DOUBLE, space, &value, err);
    H5Sclose(space);
    return rc;
}

/* A link-creation property list that makes missing intermediate groups. */
static hid_t make_lcpl(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return -1;
    }
    return lcpl;
}

hid_t keras_h5_create_group(hid_t loc, const char *path, cd_err *err)
{
    hid_t lcpl = make_lcpl();
    hid_t g = lcpl < 0 ? -1 : H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (g < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_BACKEND, "cannot create group '%s' (%s)", path, msg);
    }
    return g;
}

/* Creates dataset `path` (file type ftype, the given space; groups on the way
 * created) and writes data (memory type mtype) into it. */
static int write_dataset(hid_t loc, const char *path, hid_t ftype, hid_t mtype, hid_t space, const void *data,
                         cd_err *err)
{
    hid_t lcpl = make_lcpl();
    hid_t ds = (space < 0 || lcpl < 0) ? -1 : H5Dcreate2(loc, path, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        rc = cd_err_set(err, CD_ERR_BACKEND, "cannot write dataset '%s' (%s)", path, msg);
    }
    if (ds >= 0)
        H5Dclose(ds);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    return rc;
}

int keras_h5_write_int64(hid_t loc, const char *path, long long value, cd_err *err)
{
    hid_t space = H5Screate(H5S_SCALAR);
    int rc = write_dataset(loc, path, H5T_STD_I64LE, H5T_NATIVE_LLONG, space, &value, err);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int keras_h5_write_floats(hid_t loc, const char *path, int rank, const int *dims,
                          const float *data, cd_err *err)
{
    hsize_t hd[4];
    if (rank < 0 || rank > 4)
        return cd_err_set(err, CD_ERR_INVALID, "dataset '%s': bad rank %d", path, rank);
    /* catdog's one scalar parameter is Normalization's count, an int64 variable in
     * tf.keras 2 (and an integer in Keras 3, which would not take a float) */
    if (rank == 0)
        return keras_h5_write_int64(loc, path, llroundf(data[0]), err);
    for (int i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, hd, NULL);
    int rc = write_dataset(loc, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, space, data, err);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}
