/*
 * layer.c - activation names and layer sizes (see layer.h); the kinds' names
 * are in their ops (op.c).
 */
#include "engine/layer.h"

#include <string.h>

/* Keras' names, indexed by layer_act.  gelu_tanh and relu_x have no Keras
 * activation string (the Keras writer spells them otherwise or refuses). */
static const char *const act_names[] = {
    "linear", "relu", "sigmoid", "softmax", "tanh", "relu6", "leaky_relu", "elu", "selu",
    "softplus", "softsign", "hard_sigmoid", "hard_sigmoid", "swish", "hard_silu", "gelu",
    "gelu_tanh", "exponential", "relu_x",
};
_Static_assert(sizeof act_names / sizeof act_names[0] == ACT_COUNT,
               "every activation needs its name");

/* Other spellings Keras accepts for the same function. */
static const struct {
    const char *name;
    layer_act act;
} act_aliases[] = {{"silu", ACT_SWISH}, {"hard_swish", ACT_HARD_SWISH}};

const char *layer_act_name(layer_act act)
{
    if ((int)act < 0 || act >= ACT_COUNT)
        return "unknown";
    return act_names[act];
}

int layer_act_parse(const char *name, layer_act *out)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++) {
        /* the second hard_sigmoid (Keras 3's) and the internal names are not parsed */
        if (i == ACT_HARD_SIGMOID6 || i == ACT_GELU_TANH || i == ACT_RELU_X)
            continue;
        if (strcmp(name, act_names[i]) == 0) {
            if (out)
                *out = (layer_act)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof act_aliases / sizeof act_aliases[0]; i++) {
        if (strcmp(name, act_aliases[i].name) == 0) {
            if (out)
                *out = act_aliases[i].act;
            return 0;
        }
    }
    return -1;
}

layer_act_params layer_act_defaults(layer_act act)
{
    layer_act_params p = {.alpha = 0.0f, .max_value = -1.0f, .threshold = 0.0f};
    if (act == ACT_LEAKY_RELU)
        p.alpha = 0.2f; /* keras.activations.leaky_relu and tf.nn.leaky_relu */
    else if (act == ACT_ELU)
        p.alpha = 1.0f;
    return p;
}

void layer_set_act(layer *l, layer_act act)
{
    l->act = act;
    l->act_p = layer_act_defaults(act);
}

int layer_act_needs_input(layer_act act)
{
    return act > ACT_RELU6 && act < ACT_COUNT;
}

int layer_act_non_negative(layer_act act, const layer_act_params *p)
{
    /* (no switch with a default: an activation is not non-negative until
     * listed here) */
    if (act == ACT_RELU_X)
        return p && p->alpha == 0.0f && (p->threshold >= 0.0f || p->max_value >= 0.0f);
    return act == ACT_RELU || act == ACT_RELU6 || act == ACT_SIGMOID || act == ACT_SOFTMAX ||
           act == ACT_SOFTPLUS || act == ACT_HARD_SIGMOID || act == ACT_HARD_SIGMOID6 ||
           act == ACT_EXPONENTIAL;
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

int layer_rescale_uniform(const layer *l)
{
    for (int k = 0; k < 2; k++)
        for (int c = 1; c < l->rescale_n[k]; c++)
            if (l->rescale[k][c] != l->rescale[k][0])
                return 0;
    return 1;
}
