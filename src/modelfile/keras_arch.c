/*
 * keras_arch.c - recognising an architecture in a loaded graph, so a Keras file
 * without catdog's attributes still gets the right preprocessing.
 *
 * The signs are Keras' own layer names for the backbones (block1_conv1 ...
 * block5_conv3 for VGG16, fire2/squeeze1x1 ... fire9/expand3x3 for SqueezeNet,
 * Conv1 ... block_16_project for MobileNetV2, conv1_conv ... conv5_block3_3_conv
 * for ResNet50) and, for the seed's binary CNN, its exact layer sequence.  A
 * backbone whose output is followed by more layers is a "transfer" model, and
 * gets its backbone's preprocessing (tf for MobileNetV2, caffe for the others).
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

/* The backbones recognised by Keras' layer names: the signature layers, the
 * layers a backbone alone ends with, and the preprocessing it was trained with. */
static const struct {
    const char *arch;
    const char *const signs[6];
    const char *const outs[3];
    cd_preprocess pre;
} BACKBONES[] = {
    {"vgg16",
     {"block1_conv1", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3", NULL},
     {"block5_pool", NULL},
     CD_PRE_CAFFE},
    {"squeezenet",
     {"conv1", "fire2/squeeze1x1", "fire5/expand3x3", "fire9/expand1x1", "fire9/expand3x3", NULL},
     {"fire9/concat", "drop9", NULL},
     CD_PRE_CAFFE},
    {"mobilenetv2",
     {"Conv1", "bn_Conv1", "expanded_conv_depthwise", "block_16_project", "Conv_1", NULL},
     {"out_relu", NULL},
     CD_PRE_TF},
    {"resnet50",
     {"conv1_conv", "conv2_block1_0_conv", "conv4_block6_3_conv", "conv5_block3_3_conv", NULL},
     {"conv5_block3_out", NULL},
     CD_PRE_CAFFE},
    {"efficientnetb0",
     {"stem_conv", "block1a_se_excite", "block4a_expand_conv", "block7a_project_conv", "top_conv",
      NULL},
     {"top_activation", NULL},
     CD_PRE_NONE},
};
#define N_BACKBONES (int)(sizeof BACKBONES / sizeof BACKBONES[0])

/* The backbone m is built on, or -1. */
static int backbone_of(const model *m)
{
    for (int b = 0; b < N_BACKBONES; b++)
        if (has_all(m, BACKBONES[b].signs))
            return b;
    return -1;
}

void keras_guess_arch(model *m)
{
    const char *out = m->layers[model_output_index(m)].name;
    const char *arch = "custom";
    int b = backbone_of(m);
    if (b >= 0) {
        arch = "transfer";
        for (int k = 0; BACKBONES[b].outs[k]; k++)
            if (strcmp(out, BACKBONES[b].outs[k]) == 0)
                arch = BACKBONES[b].arch;
    } else if (is_binary(m)) {
        arch = "binary";
    }
    snprintf(m->arch, sizeof m->arch, "%s", arch);
}

cd_preprocess keras_default_preprocess(const model *m)
{
    int transfer = strcmp(m->arch, "transfer") == 0;
    for (int b = 0; b < N_BACKBONES; b++)
        if (strcmp(m->arch, BACKBONES[b].arch) == 0)
            return BACKBONES[b].pre;
    if (!transfer)
        return CD_PRE_RESCALE;
    /* A transfer model: its backbone's; caffe when it cannot be told (a
     * shipped head-only file names its backbone in its own attributes). */
    int b = backbone_of(m);
    return b >= 0 ? BACKBONES[b].pre : CD_PRE_CAFFE;
}
