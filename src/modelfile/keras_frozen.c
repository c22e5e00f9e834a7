/*
 * keras_frozen.c - recovering "this nested model was frozen" from a Keras 2.2
 * file whose config does not say so.
 *
 * The seed froze its backbone with `conv_base.trainable = False`.  Keras 2.2's
 * Network.get_config does not record a model's own trainable flag, and the
 * backbone's layers keep trainable: true in their configs, so the config alone
 * makes every parameter trainable (Keras' own load_model shows the same).  The
 * file still tells the truth elsewhere: the optimizer only keeps state (Adam's
 * moments, one tensor per trainable weight, same shape) for weights it trained.
 *
 * Rule: when a file has optimizer_weights, a nested model whose layers all say
 * trainable is marked frozen if none of its kernels' shapes appears among the
 * optimizer's tensors while some trainable top-level kernel's shape does.  Only
 * kernels are compared (biases of equal length are common across layers).
 * Best effort: anything unreadable leaves the flags as the config gave them.
 */
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras_h5.h"
#include "modelfile/keras_internal.h"

typedef struct shape_set {
    int (*dims)[4];
    int *rank;
    int n;
} shape_set;

static int shape_in(const shape_set *s, const tensor *t)
{
    for (int i = 0; i < s->n; i++) {
        if (s->rank[i] != t->rank)
            continue;
        int same = 1;
        for (int d = 0; d < t->rank; d++)
            same = same && s->dims[i][d] == t->dims[d];
        if (same)
            return 1;
    }
    return 0;
}

/* The shapes of the datasets optimizer_weights lists; 0 when none or on error. */
static int optimizer_shapes(hid_t file, shape_set *s)
{
    memset(s, 0, sizeof *s);
    if (H5Lexists(file, "optimizer_weights", H5P_DEFAULT) <= 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    hid_t g = H5Gopen2(file, "optimizer_weights", H5P_DEFAULT);
    if (g < 0)
        return 0;
    char **names = NULL;
    int n = 0;
    if (keras_h5_read_strs_attr(g, "weight_names", &names, &n, "optimizer_weights", NULL) <= 0 ||
        n == 0) {
        H5Gclose(g);
        return 0;
    }
    s->dims = calloc((size_t)n, sizeof *s->dims);
    s->rank = calloc((size_t)n, sizeof *s->rank);
    for (int i = 0; s->dims && s->rank && i < n; i++) {
        hid_t ds = H5Dopen2(g, names[i], H5P_DEFAULT);
        if (ds < 0)
            continue;
        hid_t sp = H5Dget_space(ds);
        int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        hsize_t hd[4];
        if (r >= 1 && r <= 4 && H5Sget_simple_extent_dims(sp, hd, NULL) >= 0) {
            for (int d = 0; d < r; d++)
                s->dims[s->n][d] = (int)hd[d];
            s->rank[s->n++] = r;
        }
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(ds);
    }
    (void)H5Eclear2(H5E_DEFAULT);
    keras_h5_free_strs(names, n);
    H5Gclose(g);
    return s->n;
}

void keras_guess_frozen(model *m, hid_t file)
{
    shape_set s;
    if (optimizer_shapes(file, &s) == 0) {
        free(s.dims);
        free(s.rank);
        return;
    }
    /* The optimizer must visibly hold state for the top level's kernels. */
    int head_seen = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!l->scope[0] && l->trainable && l->n_params > 0 && shape_in(&s, l->params[0]))
            head_seen = 1;
    }
    for (int i = 0; head_seen && i < m->n_layers; i++) {
        const char *scope = m->layers[i].scope;
        if (!scope[0] || (i > 0 && strcmp(m->layers[i - 1].scope, scope) == 0))
            continue; /* not the first layer of a nested model */
        int all_trainable = 1, any_state = 0, any_kernel = 0;
        for (int j = i; j < m->n_layers && strcmp(m->layers[j].scope, scope) == 0; j++) {
            const layer *l = &m->layers[j];
            if (l->n_params == 0)
                continue;
            any_kernel = 1;
            all_trainable = all_trainable && l->trainable;
            any_state = any_state || shape_in(&s, l->params[0]);
        }
        if (!any_kernel || !all_trainable || any_state)
            continue;
        for (int j = i; j < m->n_layers && strcmp(m->layers[j].scope, scope) == 0; j++)
            m->layers[j].trainable = 0;
    }
    free(s.dims);
    free(s.rank);
}
