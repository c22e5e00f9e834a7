/*
 * fuzz_keras_h5.c - libFuzzer harness for catdog's reading of Keras HDF5
 * model files: keras_load_memory on files that libhdf5 itself writes, whose
 * Keras content the fuzzer rearranges.
 *
 * Raw bytes (fuzz_keras_h5_raw.c) mostly exercise libhdf5's parser.  Here the
 * container is always valid and the input is a recipe:
 *   byte 0          which small model (models.c) keras_save writes first;
 *   then ops        each an opcode byte and its arguments, applied with
 *                   libhdf5 to that file opened in memory:
 *     0 delete an attribute         4 delete a dataset
 *     1 set a string attribute      5 replace a dataset (type, rank, dims, values)
 *     2 set a string-array attr.    6 delete any link (group or dataset)
 *     3 set a numeric attribute     7 add a group
 * Attribute names come from the object's own or from the names Keras and
 * catdog use (model_config, layer_names, weight_names, catdog_*...), strings
 * and values from the input.  So every way a model file can be wrong inside a
 * valid container reaches catdog's loader: missing or extra weights, wrong
 * shapes, ranks and types, NaN weights, names that point nowhere, attributes
 * of the wrong kind.  Checks: an accepted file gives a usable model
 * (check_model.c); accepted or not, no HDF5 object is left open.
 */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"

/* Reads the recipe; past the end every read gives 0. */
typedef struct recipe {
    const uint8_t *p;
    size_t n, at;
} recipe;

static unsigned rd_u8(recipe *r)
{
    return r->at < r->n ? r->p[r->at++] : 0;
}

/* Up to max bytes, length first. */
static size_t rd_bytes(recipe *r, char *out, size_t max)
{
    size_t len = rd_u8(r) % (max + 1);
    size_t i = 0;
    for (; i < len && r->at < r->n; i++)
        out[i] = (char)r->p[r->at++];
    return i;
}

static const char *const KNOWN_ATTRS[] = {
    "model_config", "layer_names", "weight_names", "keras_version", "backend",
    "catdog_preprocess", "catdog_arch", "catdog_test_accuracy", "training_config",
};
#define N_KNOWN (sizeof KNOWN_ATTRS / sizeof KNOWN_ATTRS[0])
#define MAX_OBJS 64
#define NAME_MAX_LEN 256

/* Every group and dataset of the file, by path ("/" first). */
typedef struct objects {
    char path[MAX_OBJS][NAME_MAX_LEN];
    int is_dataset[MAX_OBJS];
    int n;
} objects;

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    objects *o = data;
    if (info->type != H5L_TYPE_HARD || o->n >= MAX_OBJS || strlen(name) + 2 > NAME_MAX_LEN)
        return 0;
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj < 0)
        return 0;
    H5I_type_t t = H5Iget_type(obj);
    H5Oclose(obj);
    if (t != H5I_GROUP && t != H5I_DATASET)
        return 0;
    snprintf(o->path[o->n], NAME_MAX_LEN, "/%s", name);
    o->is_dataset[o->n++] = t == H5I_DATASET;
    return 0;
}

static void list_objects(hid_t file, objects *o)
{
    o->n = 1;
    strcpy(o->path[0], "/");
    o->is_dataset[0] = 0;
    (void)H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, o);
}

/* The attribute an op names: one of the object's own, or a Keras/catdog name. */
static void pick_attr(recipe *r, hid_t obj, char *name, size_t size)
{
    unsigned k = rd_u8(r);
    H5O_info_t info;
    int n_own = H5Oget_info(obj, &info) >= 0 ? (int)info.num_attrs : 0;
    if ((k & 1) && n_own > 0 &&
        H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)((k >> 1) % n_own), name,
                           size, H5P_DEFAULT) > 0)
        return;
    snprintf(name, size, "%s", KNOWN_ATTRS[(k >> 1) % N_KNOWN]);
}

/* Replaces attribute `name` of obj with one of type t and space s. */
static void put_attr(hid_t obj, const char *name, hid_t t, hid_t s, const void *buf)
{
    if (H5Aexists(obj, name) > 0)
        H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, buf);
        H5Aclose(a);
    }
}

/* A string type: variable length, or fixed at `fixed` bytes. */
static hid_t str_type(int vlen, size_t fixed)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, vlen ? H5T_VARIABLE : (fixed ? fixed : 1));
    return t;
}

static void op_str_attr(recipe *r, hid_t obj)
{
    char name[NAME_MAX_LEN], s[256];
    pick_attr(r, obj, name, sizeof name);
    unsigned how = rd_u8(r);
    size_t len = rd_bytes(r, s, sizeof s - 1);
    s[len] = '\0';
    int vlen = how & 1;
    hsize_t one = 1;
    hid_t space = (how & 2) ? H5Screate_simple(1, &one, NULL) : H5Screate(H5S_SCALAR);
    hid_t t = str_type(vlen, len);
    const char *p = s;
    put_attr(obj, name, t, space, vlen ? (const void *)&p : (const void *)s);
    H5Tclose(t);
    H5Sclose(space);
}

static void op_strs_attr(recipe *r, hid_t obj)
{
    char name[NAME_MAX_LEN];
    pick_attr(r, obj, name, sizeof name);
    unsigned how = rd_u8(r);
    hsize_t n = rd_u8(r) % 6;
    char s[6][64];
    const char *ptr[6];
    size_t fixed = 1;
    for (hsize_t i = 0; i < n; i++) {
        size_t len = rd_bytes(r, s[i], sizeof s[i] - 1);
        s[i][len] = '\0';
        ptr[i] = s[i];
        if (len > fixed)
            fixed = len;
    }
    int vlen = how & 1;
    char flat[6 * 64];
    memset(flat, 0, sizeof flat);
    for (hsize_t i = 0; i < n; i++)
        memcpy(flat + i * fixed, s[i], strlen(s[i]) < fixed ? strlen(s[i]) : fixed);
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t t = str_type(vlen, fixed);
    put_attr(obj, name, t, space, vlen ? (const void *)ptr : (const void *)flat);
    H5Tclose(t);
    H5Sclose(space);
}

static hid_t num_type(unsigned k)
{
    static const hid_t *const types[] = {&H5T_NATIVE_DOUBLE_g, &H5T_NATIVE_FLOAT_g, &H5T_NATIVE_INT_g,
                                         &H5T_NATIVE_LLONG_g, &H5T_NATIVE_UCHAR_g};
    return *types[k % 5];
}

/* Element values straight from the recipe: any bit pattern, NaN and Inf included. */
static void fill(recipe *r, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)rd_u8(r);
}

static void op_num_attr(recipe *r, hid_t obj)
{
    char name[NAME_MAX_LEN];
    pick_attr(r, obj, name, sizeof name);
    unsigned how = rd_u8(r);
    hid_t t = num_type(how);
    hsize_t n = (how >> 3) % 4;
    hid_t space = (how & 0x80) ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    unsigned char buf[4 * 8];
    fill(r, buf, (n ? n : 1) * H5Tget_size(t));
    put_attr(obj, name, t, space, buf);
    H5Sclose(space);
}

static void op_new_dataset(recipe *r, hid_t file, const char *path)
{
    unsigned how = rd_u8(r);
    hid_t t = num_type(how);
    int rank = (int)((how >> 3) % 5);
    hsize_t dims[4];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = rd_u8(r) % 9;
        count *= dims[i];
    }
    unsigned char *buf = calloc(count ? count : 1, H5Tget_size(t));
    if (!buf)
        return;
    /* Values from the recipe while it lasts; zeros after. */
    fill(r, buf, count * H5Tget_size(t) < 64 ? count * H5Tget_size(t) : 64);
    if (H5Lexists(file, path, H5P_DEFAULT) > 0)
        H5Ldelete(file, path, H5P_DEFAULT);
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(file, path, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        H5Dclose(d);
    }
    H5Sclose(space);
    free(buf);
}

static void apply(recipe *r, hid_t file)
{
    objects o;
    for (int ops = 0; r->at < r->n && ops < 32; ops++) {
        list_objects(file, &o);
        unsigned op = rd_u8(r) % 8;
        int target = (int)(rd_u8(r) % (unsigned)o.n);
        const char *path = o.path[target];
        if (op == 4 || op == 5) {
            /* Dataset ops pick among datasets (falling back to any object). */
            for (int k = 0; k < o.n; k++)
                if (o.is_dataset[(target + k) % o.n]) {
                    path = o.path[(target + k) % o.n];
                    break;
                }
        }
        hid_t obj = H5Oopen(file, path, H5P_DEFAULT);
        if (obj < 0)
            continue;
        switch (op) {
        case 0: {
            char name[NAME_MAX_LEN];
            pick_attr(r, obj, name, sizeof name);
            if (H5Aexists(obj, name) > 0)
                H5Adelete(obj, name);
            break;
        }
        case 1: op_str_attr(r, obj); break;
        case 2: op_strs_attr(r, obj); break;
        case 3: op_num_attr(r, obj); break;
        case 4:
        case 6:
            if (strcmp(path, "/") != 0)
                H5Ldelete(file, path, H5P_DEFAULT);
            break;
        case 5: op_new_dataset(r, file, strcmp(path, "/") ? path : "/extra"); break;
        case 7: {
            char name[40];
            size_t len = rd_bytes(r, name, 32);
            name[len] = '\0';
            /* Under the target when it is a group; names with '/' or '.' may fail: fine. */
            if (len && H5Iget_type(obj) == H5I_GROUP && H5Lexists(obj, name, H5P_DEFAULT) == 0) {
                hid_t g = H5Gcreate2(obj, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g >= 0)
                    H5Gclose(g);
            }
            break;
        }
        }
        H5Oclose(obj);
        (void)H5Eclear2(H5E_DEFAULT);
    }
}

unsigned char *fuzz_keras_h5_build(const uint8_t *data, size_t size, size_t *len)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the recipe's own failures are expected */
    recipe rr = {data, size, 0}, *r = &rr;
    size_t base_len;
    unsigned char *base = fuzz_model_h5((int)(rd_u8(r) % FUZZ_N_MODEL_CONFIGS), &base_len);
    FUZZ_CHECK(base != NULL);
    unsigned char *out = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    FUZZ_CHECK(fapl >= 0 && H5Pset_fapl_core(fapl, 4096, 0) >= 0 &&
               H5Pset_file_image(fapl, base, base_len) >= 0);
    hid_t file = H5Fopen("/dev/null/fuzz-keras-h5", H5F_ACC_RDWR, fapl);
    FUZZ_CHECK(file >= 0);
    H5Pclose(fapl);
    free(base);
    apply(r, file);
    FUZZ_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0);
    ssize_t n = H5Fget_file_image(file, NULL, 0);
    FUZZ_CHECK(n > 0);
    out = malloc((size_t)n);
    FUZZ_CHECK(out != NULL && H5Fget_file_image(file, out, (size_t)n) == n);
    FUZZ_CHECK(H5Fclose(file) >= 0);
    *len = (size_t)n;
    return out;
}

int fuzz_keras_h5_one(const uint8_t *data, size_t size)
{
    size_t len;
    unsigned char *file = fuzz_keras_h5_build(data, size, &len);
    FUZZ_CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    /* The rewritten file goes through the same load-and-check as raw bytes. */
    fuzz_keras_h5_raw_one(file, len);
    free(file);
    return 0;
}
