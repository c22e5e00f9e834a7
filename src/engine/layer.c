/*
 * layer.c - activation names and layer sizes (see layer.h); the kinds' names
 * are in their ops (op.c).
 */
#include "engine/layer.h"

#include <string.h>

static const char *const act_names[] = {"linear", "relu", "sigmoid", "softmax", "tanh"};

const char *layer_act_name(layer_act act)
{
    if ((int)act < 0 || (size_t)act >= sizeof act_names / sizeof act_names[0])
        return "unknown";
    return act_names[act];
}

int layer_act_parse(const char *name, layer_act *out)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++) {
        if (strcmp(name, act_names[i]) == 0) {
            if (out)
                *out = (layer_act)i;
            return 0;
        }
    }
    return -1;
}

size_t layer_param_count(const layer *l)
{
    size_t n = 0;
    for (int i = 0; i < l->n_params && i < LAYER_MAX_PARAMS; i++)
        if (l->params[i])
            n += l->params[i]->size;
    return n;
}

size_t layer_out_size(const layer *l)
{
    return (size_t)l->out_h * (size_t)l->out_w * (size_t)l->out_c;
}
