/*
 * registry.c - loading the served models once (see registry.h).
 *
 * Files go through transfer_load, which composes a shipped transfer model
 * (head only) with its backbone weights and reads any other Keras file as is.
 */
#include "web/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modelfile/keras.h"
#include "transfer/transfer_model.h"

predictor *registry_load_one(const char *dir, const char *file, const predictor_opts *opts,
                             registry_embedded_fn embedded, const char *weights, char *source, size_t source_size,
                             cd_err *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(source, source_size, "%s", path);
    struct stat st;
    model *m;
    if (stat(path, &st) == 0 || errno != ENOENT) {
        /* Present (or unreadable: the loader says why).  transfer_load composes a
         * shipped transfer model with its backbone and loads anything else as a
         * plain Keras file. */
        transfer_load_opts topts = {weights};
        m = transfer_load(path, &topts, err);
    } else {
        size_t len = 0;
        const void *bytes = embedded ? embedded(file, &len) : NULL;
        if (!bytes) {
            cd_err_set(err, CD_ERR_NOTFOUND, "%s not found%s", path,
                       embedded ? " and this program has no built-in copy of it" : "");
            return NULL;
        }
        snprintf(source, source_size, "built-in models/%s", file);
        m = keras_load_memory(bytes, len, source, err);
    }
    if (!m)
        return NULL;
    predictor *p = predictor_new(m, opts, err);
    if (!p) {
        cd_err_wrap(err, "%s", source);
        model_free(m);
    }
    return p;
}

/* Fills the descriptive fields of rm from its predictor. */
static void describe(registry_model *rm)
{
    const model *m = predictor_model(rm->pred);
    snprintf(rm->arch, sizeof rm->arch, "%s", m->arch);
    int c;
    model_input_shape(m, &rm->input_h, &rm->input_w, &c);
    rm->preprocess = cd_preprocess_name(predictor_preprocess(rm->pred));
    size_t trainable, frozen;
    model_param_counts(m, &rm->params, &trainable, &frozen);
    rm->test_accuracy = m->test_accuracy;
}

registry *registry_load(const char *dir, const predictor_opts *opts, registry_embedded_fn embedded,
                        const char *weights, cd_err *err)
{
    registry *r = calloc(1, sizeof *r);
    if (!r) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory loading models");
        return NULL;
    }
    registry_model *b = &r->models[0];
    snprintf(b->name, sizeof b->name, "binary");
    b->pred = registry_load_one(dir, "binary.h5", opts, embedded, NULL, b->source, sizeof b->source, err);
    if (!b->pred) {
        free(r);
        return NULL;
    }
    describe(b);
    r->n = 1;

    registry_model *t = &r->models[1];
    cd_err terr;
    cd_err_clear(&terr);
    snprintf(t->name, sizeof t->name, "transfer");
    t->pred = registry_load_one(dir, "transfer.h5", opts, NULL, weights, t->source, sizeof t->source, &terr);
    if (t->pred) {
        describe(t);
        r->n = 2;
    } else {
        snprintf(r->transfer_off, sizeof r->transfer_off, "transfer model off: %s", terr.msg);
        memset(t, 0, sizeof *t);
    }

    r->best = 0;
    for (int i = 1; i < r->n; i++)
        if (r->models[i].test_accuracy > r->models[r->best].test_accuracy)
            r->best = i;
    return r;
}

void registry_free(registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        predictor_free(r->models[i].pred);
    free(r);
}

int registry_find(const registry *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->models[i].name, name) == 0)
            return i;
    return -1;
}
