/*
 * keras_arch.c - recognising an architecture in a loaded graph, so a Keras file
 * without catdog's attributes still gets the right preprocessing.
 *
 * The signs are Keras' own layer names for the backbones (block1_conv1 ...
 * block5_conv3 for VGG16, fire2/squeeze1x1 ... fire9/expand3x3 for SqueezeNet)
 * and, for the seed's binary CNN, its exact layer sequence.  A backbone whose
 * output is followed by more layers is a "transfer" model.
 */
#include <stdio.h>
#include <string.h>

#include "modelfile/keras_internal.h"

static int has_all(const model *m, const char *const *names)
{
    for (; *names; names++)
        if (model_find(m, *names) < 0)
            return 0;
    return 1;
}

/* The seed's CNN: 3 x [Conv2D 3x3 relu + MaxPooling2D], Flatten, Dense 64 relu,
 * Dropout, Dense 1 sigmoid (filters 32, 32, 64). */
static int is_binary(const model *m)
{
    static const layer_kind seq[] = {LAYER_INPUT,     LAYER_CONV2D,    LAYER_MAXPOOL2D,
                                     LAYER_CONV2D,    LAYER_MAXPOOL2D, LAYER_CONV2D,
                                     LAYER_MAXPOOL2D, LAYER_FLATTEN,   LAYER_DENSE,
                                     LAYER_DROPOUT,   LAYER_DENSE};
    static const int filters[] = {32, 32, 64};
    int n = (int)(sizeof seq / sizeof seq[0]);
    if (m->n_layers != n || model_output_index(m) != n - 1)
        return 0;
    for (int i = 0, conv = 0; i < n; i++) {
        const layer *l = &m->layers[i];
        if (l->kind != seq[i])
            return 0;
        if (l->kind == LAYER_CONV2D && (l->filters != filters[conv++] || l->act != ACT_RELU))
            return 0;
    }
    return m->layers[8].units == 64 && m->layers[10].units == 1 && m->layers[10].act == ACT_SIGMOID;
}

void keras_guess_arch(model *m)
{
    static const char *const vgg[] = {"block1_conv1", "block2_conv2", "block3_conv3",
                                      "block4_conv3", "block5_conv3", NULL};
    static const char *const squeeze[] = {"conv1", "fire2/squeeze1x1", "fire5/expand3x3",
                                          "fire9/expand1x1", "fire9/expand3x3", NULL};
    const char *out = m->layers[model_output_index(m)].name;
    const char *arch = "custom";
    if (has_all(m, vgg))
        arch = strcmp(out, "block5_pool") == 0 ? "vgg16" : "transfer";
    else if (has_all(m, squeeze))
        arch = (strcmp(out, "fire9/concat") == 0 || strcmp(out, "drop9") == 0) ? "squeezenet"
                                                                               : "transfer";
    else if (is_binary(m))
        arch = "binary";
    snprintf(m->arch, sizeof m->arch, "%s", arch);
}

cd_preprocess keras_default_preprocess(const char *arch)
{
    if (strcmp(arch, "vgg16") == 0 || strcmp(arch, "squeezenet") == 0 ||
        strcmp(arch, "transfer") == 0)
        return CD_PRE_CAFFE;
    return CD_PRE_RESCALE;
}
