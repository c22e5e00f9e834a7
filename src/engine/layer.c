/*
 * layer.c - names and sizes of layer kinds and activations (see layer.h).
 */
#include "engine/layer.h"

#include <string.h>

const char *layer_kind_name(layer_kind kind)
{
    switch (kind) {
    case LAYER_INPUT: return "InputLayer";
    case LAYER_CONV2D: return "Conv2D";
    case LAYER_MAXPOOL2D: return "MaxPooling2D";
    case LAYER_AVGPOOL2D: return "AveragePooling2D";
    case LAYER_GLOBAL_AVGPOOL2D: return "GlobalAveragePooling2D";
    case LAYER_GLOBAL_MAXPOOL2D: return "GlobalMaxPooling2D";
    case LAYER_FLATTEN: return "Flatten";
    case LAYER_DENSE: return "Dense";
    case LAYER_ACTIVATION: return "Activation";
    case LAYER_DROPOUT: return "Dropout";
    case LAYER_CONCAT: return "Concatenate";
    case LAYER_KIND_COUNT: break;
    }
    return "Unknown";
}

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
