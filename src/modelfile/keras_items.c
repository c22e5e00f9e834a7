/*
 * keras_items.c - regrouping the flat graph into Keras' top-level layers.
 *
 * The loader flattens nested models into one graph, marking their layers with
 * layer.scope.  Saving goes the other way: consecutive layers of one scope
 * become one nested-model "item", every other layer is an item of its own.
 * Both the config writer and the weights writer walk these items, so the
 * model_config and model_weights of a saved file always agree.
 */
#include <stdlib.h>
#include <string.h>

#include "modelfile/keras_internal.h"

/* Index of the item holding layer i (items are sorted ranges). */
static int item_of(const keras_item *items, int n, int i)
{
    for (int k = 0; k < n; k++)
        if (i >= items[k].first && i <= items[k].last)
            return k;
    return -1;
}

/* Finds a scoped item's output and feeder (see keras_item). */
static int finish_scoped(const model *m, const keras_item *items, int n, keras_item *it,
                         cd_err *err)
{
    const char *scope = m->layers[it->first].scope;
    int out_idx = model_output_index(m);
    int output = -1, feeder = -1, has_input = 0;
    for (int i = it->first; i <= it->last; i++) {
        const layer *l = &m->layers[i];
        if (l->kind == LAYER_INPUT)
            has_input = 1;
        for (int j = 0; j < l->n_inputs; j++) {
            int src = l->inputs[j];
            if (src >= it->first)
                continue;
            if (feeder >= 0 && feeder != src)
                return cd_err_set(err, CD_ERR_UNSUPPORTED,
                                  "nested model '%s' has several inputs; saving supports one",
                                  scope);
            feeder = src;
        }
    }
    for (int i = it->first; i <= it->last; i++) {
        int used_outside = (i == out_idx);
        for (int k = it->last + 1; k < m->n_layers && !used_outside; k++)
            for (int j = 0; j < m->layers[k].n_inputs; j++)
                if (m->layers[k].inputs[j] == i)
                    used_outside = 1;
        if (!used_outside)
            continue;
        if (output >= 0)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "nested model '%s' has several outputs; saving supports one", scope);
        output = i;
    }
    if (has_input && feeder >= 0)
        return cd_err_set(err, CD_ERR_UNSUPPORTED,
                          "nested model '%s' holds the model input and reads another layer",
                          scope);
    (void)items;
    (void)n;
    it->output = output >= 0 ? output : it->last;
    it->feeder = feeder;
    return 0;
}

int keras_items(const model *m, keras_item **items_out, int *n_out, cd_err *err)
{
    keras_item *items = calloc(m->n_layers > 0 ? (size_t)m->n_layers : 1, sizeof *items);
    int n = 0;
    if (!items)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_layers; i++) {
        const char *scope = m->layers[i].scope;
        if (scope[0] && n > 0 && items[n - 1].scoped &&
            strcmp(m->layers[items[n - 1].first].scope, scope) == 0) {
            items[n - 1].last = i;
            continue;
        }
        if (scope[0]) {
            for (int k = 0; k < n; k++) {
                if (items[k].scoped && strcmp(m->layers[items[k].first].scope, scope) == 0) {
                    free(items);
                    return cd_err_set(err, CD_ERR_UNSUPPORTED,
                                      "nested model '%s' is interleaved with other layers", scope);
                }
            }
        }
        items[n] = (keras_item){i, i, scope[0] != 0, i, -1};
        n++;
    }
    for (int k = 0; k < n; k++) {
        if (items[k].scoped && finish_scoped(m, items, n, &items[k], err) != 0) {
            free(items);
            return -1;
        }
    }
    *items_out = items;
    *n_out = n;
    return 0;
}

int keras_items_sequential(const model *m, const keras_item *items, int n)
{
    if (n < 2)
        return 0;
    if (items[0].scoped ? items[0].feeder != -1 : m->layers[items[0].first].kind != LAYER_INPUT)
        return 0;
    for (int k = 1; k < n; k++) {
        int prev = items[k - 1].output;
        if (items[k].scoped) {
            if (items[k].feeder != prev)
                return 0;
        } else {
            const layer *l = &m->layers[items[k].first];
            if (l->n_inputs != 1 || l->inputs[0] != prev)
                return 0;
        }
    }
    /* Every item reads only the one before it, so the chain ends at the output
     * exactly when the model's output is the last item's. */
    return model_output_index(m) == items[n - 1].output &&
           item_of(items, n, model_output_index(m)) == n - 1;
}
