/*
 * keras_zip.c - Keras 3 `.keras` archives: a zip (libzip) holding
 *   config.json       the model config, as Keras 2's model_config plus
 *                     "module"/"registered_name"/"build_config" keys, and
 *                     "compile_config" (the loss, for the output rule)
 *   metadata.json     {"keras_version": ..., "date_saved": ...}; catdog adds
 *                     catdog_preprocess / catdog_arch there, Keras ignores them
 *   model.weights.h5  HDF5, weights grouped by the object tree, not by name:
 *                       layers/<class>[_<n>]/vars/0..k-1
 *                     <class> is the layer's class in snake case (Conv2D ->
 *                     conv2d, BatchNormalization -> batch_normalization) and
 *                     <n> counts the earlier layers of that class in the same
 *                     model (none for the first).  A nested model is a group of
 *                     the same shape (layers/functional/layers/conv2d/vars/0).
 *                     A Sequential does not list its InputLayer; a functional
 *                     model does.  vars/i is the layer's i-th weight in Keras'
 *                     order (kernel, bias; gamma, beta, mean, variance).
 * The group names differ from the layer names in config.json in most real
 * files (conv2d_9 is stored as layers/conv2d), so weights are matched by
 * walking the config in order, as Keras' saving_lib does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <zip.h>

#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"
#include "modelfile/keras_internal.h"
#include "modelfile/keras_layers.h"

/* An archive entry larger than this is refused before it is read: Keras
 * models catdog can run are far smaller, and a zip can claim any size. */
#define ZIP_ENTRY_MAX ((zip_uint64_t)2 << 30)
#define MAX_NEST 16

/* Reads entry `name` into a NUL-terminated malloc'd buffer.  1 when read, 0
 * when the archive has no such entry, -1 on error. */
static int read_entry(zip_t *z, const char *name, char **buf, size_t *len, const char *what,
                      cd_err *err)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(z, name, 0, &st) != 0)
        return 0;
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > ZIP_ENTRY_MAX)
        return cd_err_set(err, CD_ERR_LIMIT, "%s: archive entry %s is too large (over 2 GiB)",
                          what, name);
    char *b = malloc((size_t)st.size + 1);
    if (!b)
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory reading %s", what, name);
    zip_file_t *f = zip_fopen(z, name, 0);
    zip_int64_t got = f ? zip_fread(f, b, st.size) : -1;
    if (!f || got < 0 || (zip_uint64_t)got != st.size) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: cannot read %s from the archive (%s)", what, name,
                   f ? zip_file_strerror(f) : zip_strerror(z));
        if (f)
            zip_fclose(f);
        free(b);
        return -1;
    }
    zip_fclose(f);
    b[st.size] = '\0';
    *buf = b;
    *len = (size_t)st.size;
    return 1;
}

/* Keras' naming.to_snake_case: drop non-word characters, "_" before an
 * uppercase letter that starts a lowercase run (not at the start), then
 * between a lowercase letter and an uppercase one, then lowercase. */
void keras_snake_case(const char *cls, char *out, size_t size)
{
    char a[160], b[320];
    size_t n = 0;
    for (const char *p = cls; *p && n + 1 < sizeof a; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_')
            a[n++] = *p;
    a[n] = '\0';
#define UP(c) ((c) >= 'A' && (c) <= 'Z')
#define LO(c) ((c) >= 'a' && (c) <= 'z')
    /* (.)([A-Z][a-z]+) -> \1_\2, matches not overlapping, left to right */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 2 < n + 0 && UP(a[i + 1]) && LO(a[i + 2])) {
            size_t j = i + 2;
            while (j < n && LO(a[j]))
                j++;
            b[o++] = a[i];
            b[o++] = '_';
            for (size_t k = i + 1; k < j; k++)
                b[o++] = a[k];
            i = j;
        } else {
            b[o++] = a[i++];
        }
    }
    b[o] = '\0';
    /* ([a-z])([A-Z]) -> \1_\2, then lowercase */
    size_t w = 0;
    for (size_t i = 0; i < o && w + 3 < size;) {
        if (i + 1 < o && LO(b[i]) && UP(b[i + 1])) {
            out[w++] = b[i];
            out[w++] = '_';
            out[w++] = (char)(b[i + 1] - 'A' + 'a');
            i += 2;
        } else {
            out[w++] = UP(b[i]) ? (char)(b[i] - 'A' + 'a') : b[i];
            i++;
        }
    }
    out[w] = '\0';
#undef UP
#undef LO
}

/* Per-model counters of class names, for the <class>_<n> group names. */
typedef struct name_counter {
    char names[64][96];
    int counts[64];
    int n;
} name_counter;

/* The group name of the next layer of class `cls` ("conv2d", "conv2d_1", ...). */
static void next_group_name(name_counter *c, const char *cls, char *out, size_t size)
{
    char snake[96];
    /* Keras 3 builds a "Model" config (Keras 2's name) as a Functional, and
     * names the group after the object's class. */
    keras_snake_case(strcmp(cls, "Model") == 0 ? "Functional" : cls, snake, sizeof snake);
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->names[i], snake) == 0) {
            snprintf(out, size, "%s_%d", snake, ++c->counts[i]);
            return;
        }
    }
    if (c->n < 64) {
        snprintf(c->names[c->n], sizeof c->names[0], "%s", snake);
        c->counts[c->n++] = 0;
    }
    snprintf(out, size, "%s", snake);
}

static int is_net(const char *cls)
{
    return strcmp(cls, "Sequential") == 0 || strcmp(cls, "Functional") == 0 ||
           strcmp(cls, "Model") == 0;
}

/* The layer list of a model entry, whether Keras 3 (dict) or a bare list. */
static json_t *net_layers(json_t *entry)
{
    json_t *cfg = json_object_get(entry, "config");
    return json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
}

static const char *entry_name(json_t *entry)
{
    const char *name = keras_jstr(entry, "name");
    json_t *cfg = json_object_get(entry, "config");
    return name ? name : json_is_object(cfg) ? keras_jstr(cfg, "name") : NULL;
}

/* Reads the weights of one layer from <group>/vars/0..n-1. */
static int read_vars(model *m, hid_t group, const char *gpath, const char *lname, int *loaded,
                     const char *what, cd_err *err)
{
    int li = model_find(m, lname);
    if (li < 0 || m->layers[li].n_params == 0)
        return 0; /* no weights (InputLayer, Dropout, pooling...) */
    layer *l = &m->layers[li];
    char path[512];
    for (int k = 0; k < l->n_params; k++) {
        /* H5Lexists wants every group on the way to exist: test them in turn. */
        char vars[512];
        snprintf(vars, sizeof vars, "%s/vars", gpath);
        snprintf(path, sizeof path, "%s/vars/%d", gpath, k);
        if (H5Lexists(group, gpath, H5P_DEFAULT) <= 0 || H5Lexists(group, vars, H5P_DEFAULT) <= 0 ||
            H5Lexists(group, path, H5P_DEFAULT) <= 0) {
            (void)H5Eclear2(H5E_DEFAULT);
            return cd_err_set(err, CD_ERR_NOTFOUND,
                              "%s: model.weights.h5 has no %s for layer '%s' (%d weights expected)",
                              what, path, l->name, l->n_params);
        }
        if (keras_weights_read_param(group, path, l, k, what, err) != 0)
            return -1;
    }
    snprintf(path, sizeof path, "%s/vars/%d", gpath, l->n_params);
    if (H5Lexists(group, path, H5P_DEFAULT) > 0)
        return cd_err_set(err, CD_ERR_SHAPE, "%s: layer '%s': model.weights.h5 has more than %d weights",
                          what, l->name, l->n_params);
    (void)H5Eclear2(H5E_DEFAULT);
    loaded[li] = 1;
    return 0;
}

/* Walks a model entry of the config and its group (prefix "" for the root). */
static int read_net(model *m, json_t *entry, hid_t file, const char *prefix, int depth, int *loaded,
                    const char *what, cd_err *err)
{
    if (depth > MAX_NEST)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "%s: models nested too deeply", what);
    const char *ncls = keras_jstr(entry, "class_name");
    int seq = ncls && strcmp(ncls, "Sequential") == 0;
    json_t *layers = net_layers(entry);
    if (!json_is_array(layers))
        return cd_err_set(err, CD_ERR_FORMAT, "%s: config.json: a model without layers", what);
    name_counter *c = calloc(1, sizeof *c);
    if (!c)
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", what);
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach(layers, i, e) {
        const char *cls = keras_jstr(e, "class_name");
        const char *name = entry_name(e);
        if (!cls || !name) {
            rc = cd_err_set(err, CD_ERR_FORMAT, "%s: config.json: a layer without class_name/name",
                            what);
            break;
        }
        if (seq && strcmp(cls, "InputLayer") == 0)
            continue; /* Sequential.layers leaves its InputLayer out */
        char g[96], path[512];
        next_group_name(c, cls, g, sizeof g);
        snprintf(path, sizeof path, "%s%slayers/%s", prefix, prefix[0] ? "/" : "", g);
        rc = is_net(cls) ? read_net(m, e, file, path, depth + 1, loaded, what, err)
                         : read_vars(m, file, path, name, loaded, what, err);
        if (rc != 0)
            break;
    }
    free(c);
    return rc;
}

/* Reads Keras 3 weights (an open model.weights.h5 or .weights.h5) onto m,
 * walking the model config `root`. */
static int read_weights_file(model *m, json_t *root, hid_t file, const char *what, cd_err *err)
{
    int *loaded = calloc(m->n_layers > 0 ? (size_t)m->n_layers : 1, sizeof *loaded);
    int rc = loaded ? read_net(m, root, file, "", 0, loaded, what, err)
                    : cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; rc == 0 && i < m->n_layers; i++)
        if (m->layers[i].n_params > 0 && !loaded[i])
            rc = cd_err_set(err, CD_ERR_NOTFOUND,
                            "%s: no weights for layer '%s' (its config entry was not found)", what,
                            m->layers[i].name);
    free(loaded);
    return rc;
}

/* Reads model.weights.h5 (an in-memory image) onto m, walking `root`. */
static int read_weights(model *m, json_t *root, const char *buf, size_t len, const char *what,
                        cd_err *err)
{
    char hwhat[600];
    snprintf(hwhat, sizeof hwhat, "%s (model.weights.h5)", what);
    hid_t file = keras_open_memory(buf, len, hwhat, err);
    if (file < 0)
        return -1;
    int rc = read_weights_file(m, root, file, what, err);
    H5Fclose(file);
    return rc;
}

int keras3_weights_read(model *m, hid_t file, const char *config_json, const char *what,
                        cd_err *err)
{
    /* The groups follow the model's structure as the owner's config states it;
     * without it, catdog's own config of m (the same classes and order, but a
     * nested Sequential becomes a functional model there). */
    char *config = config_json ? NULL : keras_json_config(m, err);
    if (!config_json && !config)
        return -1;
    json_t *root = json_loads(config_json ? config_json : config, 0, NULL);
    free(config);
    if (!root)
        return cd_err_set(err, CD_ERR_NOMEM, "%s: out of memory", what);
    int rc = read_weights_file(m, root, file, what, err);
    json_decref(root);
    return rc;
}

/* catdog's own records in metadata.json (absent in files Keras wrote). */
static int read_metadata(model *m, const char *meta, const char *what, cd_err *err)
{
    json_t *j = meta ? json_loads(meta, 0, NULL) : NULL;
    const char *pre = j ? keras_jstr(j, "catdog_preprocess") : NULL;
    const char *arch = j ? keras_jstr(j, "catdog_arch") : NULL;
    int rc = 0;
    if (arch && arch[0])
        snprintf(m->arch, sizeof m->arch, "%s", arch);
    if (pre) {
        if (cd_preprocess_parse(pre, &m->preprocess) != 0)
            rc = cd_err_set(err, CD_ERR_FORMAT, "%s: metadata.json: unknown catdog_preprocess '%s'",
                            what, pre);
        else
            snprintf(m->preprocess_why, sizeof m->preprocess_why,
                     "recorded in the file (metadata.json catdog_preprocess)");
    } else {
        keras_decide_preprocess(m);
    }
    json_t *acc = j ? json_object_get(j, "catdog_test_accuracy") : NULL;
    m->test_accuracy = json_is_number(acc) ? json_number_value(acc) : -1.0;
    json_decref(j);
    return rc;
}

/* Names what a zip without config.json is. */
static int not_keras_zip(zip_t *z, const char *what, cd_err *err)
{
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(z, (zip_uint64_t)i, 0);
        size_t l = nm ? strlen(nm) : 0;
        if (l >= 8 && strcmp(nm + l - 8, "data.pkl") == 0)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "%s: a PyTorch checkpoint (zip with %s), not a Keras model; %s", what,
                              nm, KERAS_ACCEPTS);
    }
    return cd_err_set(err, CD_ERR_FORMAT,
                      "%s: a zip archive but not a Keras archive (no config.json); %s", what,
                      KERAS_ACCEPTS);
}

model *keras_zip_load(const char *path, int img_size, cd_err *err)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        cd_err_set(err, CD_ERR_FORMAT, "%s: not a readable zip archive (%s)", path,
                   zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    char *config = NULL, *meta = NULL, *weights = NULL;
    size_t config_len, meta_len, weights_len;
    model *m = NULL;
    json_t *root = NULL;
    int rc = read_entry(z, "config.json", &config, &config_len, path, err);
    if (rc == 0)
        not_keras_zip(z, path, err);
    if (rc <= 0)
        goto out;
    if (read_entry(z, "metadata.json", &meta, &meta_len, path, err) < 0)
        goto out;
    rc = read_entry(z, "model.weights.h5", &weights, &weights_len, path, err);
    if (rc == 0)
        cd_err_set(err, CD_ERR_NOTFOUND, "%s: Keras archive without model.weights.h5", path);
    if (rc <= 0)
        goto out;
    if (!(m = keras_json_build(config, path, img_size, err)))
        goto out;
    if (!(root = json_loads(config, 0, NULL))) {
        cd_err_set(err, CD_ERR_FORMAT, "%s: config.json is not valid JSON", path);
        goto fail;
    }
    if (read_weights(m, root, weights, weights_len, path, err) != 0 ||
        read_metadata(m, meta, path, err) != 0)
        goto fail;
    json_t *compile = json_object_get(root, "compile_config");
    char *cc = json_is_object(compile) ? json_dumps(compile, 0) : NULL;
    keras_decide_output(m, cc);
    free(cc);
    goto out;
fail:
    model_free(m);
    m = NULL;
out:
    json_decref(root);
    free(config);
    free(meta);
    free(weights);
    zip_discard(z);
    return m;
}

/* Writes one layer's weights as <gpath>/vars/0..n-1 (an empty vars group for
 * a layer without weights, as Keras writes). */
static int write_vars(const model *m, hid_t file, const char *gpath, const char *lname,
                      cd_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/vars", gpath);
    hid_t g = keras_h5_create_group(file, path, err);
    if (g < 0)
        return -1;
    int rc = 0;
    int li = model_find(m, lname);
    const layer *l = li >= 0 ? &m->layers[li] : NULL;
    for (int k = 0; l && k < l->n_params && rc == 0; k++) {
        char d[16];
        snprintf(d, sizeof d, "%d", k);
        const tensor *t = l->params[k];
        rc = t ? keras_h5_write_floats(g, d, t->rank, t->dims, t->data, err)
               : cd_err_set(err, CD_ERR_INVALID, "layer '%s': weight %d not allocated", l->name, k);
    }
    H5Gclose(g);
    return rc;
}

static int write_net(const model *m, json_t *entry, hid_t file, const char *prefix, int depth,
                     cd_err *err)
{
    if (depth > MAX_NEST)
        return cd_err_set(err, CD_ERR_UNSUPPORTED, "models nested too deeply");
    const char *ncls = keras_jstr(entry, "class_name");
    int seq = ncls && strcmp(ncls, "Sequential") == 0;
    json_t *layers = net_layers(entry);
    char vars[512];
    snprintf(vars, sizeof vars, "%s%svars", prefix, prefix[0] ? "/" : "");
    hid_t vg = keras_h5_create_group(file, vars, err); /* the model's own (empty) variables */
    if (vg < 0)
        return -1;
    H5Gclose(vg);
    name_counter *c = calloc(1, sizeof *c);
    if (!c)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach(layers, i, e) {
        const char *cls = keras_jstr(e, "class_name");
        const char *name = entry_name(e);
        if (!cls || !name || (seq && strcmp(cls, "InputLayer") == 0))
            continue;
        char g[96], path[512];
        next_group_name(c, cls, g, sizeof g);
        snprintf(path, sizeof path, "%s%slayers/%s", prefix, prefix[0] ? "/" : "", g);
        rc = is_net(cls) ? write_net(m, e, file, path, depth + 1, err)
                         : write_vars(m, file, path, name, err);
        if (rc != 0)
            break;
    }
    free(c);
    return rc;
}

/* model.weights.h5 built in memory (HDF5's core driver, no backing file). */
static void *weights_image(const model *m, json_t *root, size_t *len, cd_err *err)
{
    keras_h5_quiet();
    void *buf = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        cd_err_set(err, CD_ERR_BACKEND, "cannot set up an in-memory HDF5 file");
        return NULL;
    }
    hid_t file = H5Fcreate("model.weights.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (file < 0) {
        char msg[256];
        keras_h5_errmsg(msg, sizeof msg);
        cd_err_set(err, CD_ERR_BACKEND, "cannot create model.weights.h5 in memory (%s)", msg);
        return NULL;
    }
    if (write_net(m, root, file, "", 0, err) == 0 && H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0) {
        ssize_t n = H5Fget_file_image(file, NULL, 0);
        if (n > 0 && (buf = malloc((size_t)n)) && H5Fget_file_image(file, buf, (size_t)n) == n) {
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
            cd_err_set(err, n > 0 ? CD_ERR_NOMEM : CD_ERR_BACKEND,
                       "cannot take the image of model.weights.h5");
        }
    } else if (err->code == CD_OK) {
        cd_err_set(err, CD_ERR_BACKEND, "writing model.weights.h5 failed");
    }
    H5Fclose(file);
    return buf;
}

/* Adds a buffer as an archive entry (libzip frees it when freep). */
static int add_entry(zip_t *z, const char *name, const void *data, size_t len, const char *path,
                     cd_err *err)
{
    zip_source_t *s = zip_source_buffer(z, data, len, 0);
    if (!s || zip_file_add(z, name, s, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
        if (s)
            zip_source_free(s);
        return cd_err_set(err, CD_ERR_IO, "%s: cannot add %s to the archive (%s)", path, name,
                          zip_strerror(z));
    }
    return 0;
}

int keras_save_keras(const model *m, const char *path, cd_err *err)
{
    char *config = keras_json_config(m, err);
    if (!config)
        return -1;
    int rc = -1;
    json_t *root = json_loads(config, 0, NULL);
    json_t *meta = json_object();
    char *meta_s = NULL;
    void *weights = NULL;
    size_t weights_len = 0;
    char tmp[4096];
    zip_t *z = NULL;
    if (!root || !meta) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto out;
    }
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm))
        snprintf(date, sizeof date, "unknown");
    /* Keras 3 reads config.json and the weights; metadata says who wrote it. */
    if (json_object_set_new(meta, "keras_version", json_string("3.5.0")) ||
        json_object_set_new(meta, "date_saved", json_string(date)) ||
        json_object_set_new(meta, "catdog_preprocess", json_string(cd_preprocess_name(m->preprocess))) ||
        json_object_set_new(meta, "catdog_arch", json_string(m->arch)) ||
        (m->test_accuracy >= 0 &&
         json_object_set_new(meta, "catdog_test_accuracy", json_real(m->test_accuracy))) ||
        !(meta_s = json_dumps(meta, JSON_COMPACT))) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* A linear output keeps its meaning: the loss that says how to read it. */
    if (m->output_rule != CD_OUT_PROB) {
        int one = model_output_size(m) == 1;
        json_t *loss =
            m->output_rule == CD_OUT_HINGE
                ? json_string(one ? "hinge" : "categorical_hinge")
                : json_pack("{s:s, s:s, s:{s:b}}", "module", "keras.losses", "class_name",
                            one ? "BinaryCrossentropy" : "SparseCategoricalCrossentropy", "config",
                            "from_logits", 1);
        if (!loss || json_object_set_new(root, "compile_config", json_pack("{s:o}", "loss", loss))) {
            cd_err_set(err, CD_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (!(weights = weights_image(m, root, &weights_len, err))) {
        cd_err_wrap(err, "%s", path);
        goto out;
    }
    /* Written beside the target and renamed over it, so a failed export never
     * leaves half an archive under the requested name. */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        cd_err_set(err, CD_ERR_INVALID, "%s: path too long", path);
        goto out;
    }
    int zerr = 0;
    if (!(z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr))) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        cd_err_set(err, CD_ERR_IO, "%s: cannot create (%s)", tmp, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto out;
    }
    free(config);
    if (!(config = json_dumps(root, JSON_COMPACT))) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory");
        zip_discard(z);
        z = NULL;
        remove(tmp);
        goto out;
    }
    if (add_entry(z, "metadata.json", meta_s, strlen(meta_s), path, err) != 0 ||
        add_entry(z, "config.json", config, strlen(config), path, err) != 0 ||
        add_entry(z, "model.weights.h5", weights, weights_len, path, err) != 0) {
        zip_discard(z);
        z = NULL;
        remove(tmp);
        goto out;
    }
    if (zip_close(z) != 0) {
        cd_err_set(err, CD_ERR_IO, "%s: writing the archive failed (%s)", tmp, zip_strerror(z));
        zip_discard(z);
        z = NULL;
        remove(tmp);
        goto out;
    }
    z = NULL;
    if (rename(tmp, path) != 0) {
        cd_err_set(err, CD_ERR_IO, "%s: cannot rename %s over it", path, tmp);
        remove(tmp);
        goto out;
    }
    rc = 0;
out:
    free(weights);
    free(meta_s);
    json_decref(meta);
    json_decref(root);
    free(config);
    return rc;
}
