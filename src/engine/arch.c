/*
 * arch.c - the table of built-in architectures (see arch.h).  Each
 * architecture lives in its own file: arch_binary.c, arch_vgg16.c,
 * arch_squeezenet.c, arch_mobilenetv2.c, arch_resnet50.c,
 * arch_efficientnetb0.c; the layer helpers the last three share are in
 * arch_blocks.c.
 */
#include "engine/arch.h"

#include <string.h>

/* Every built-in once: X(name, default input size).  The table and the list
 * of names in messages are both made from it, so they cannot disagree. */
#define ARCH_LIST(X)                                                                           \
    X(binary, 150)                                                                             \
    X(vgg16, 224)                                                                              \
    X(squeezenet, 224)                                                                         \
    X(mobilenetv2, 224)                                                                        \
    X(resnet50, 224)                                                                           \
    X(efficientnetb0, 224)

#define ARCH_ROW(name, size) {#name, arch_##name, size},
static const arch_info ARCHS[] = {ARCH_LIST(ARCH_ROW)};
#undef ARCH_ROW

#define ARCH_NAME(name, size) ", " #name
static const char ARCH_NAMES[] = ARCH_LIST(ARCH_NAME);
#undef ARCH_NAME

const arch_info *arch_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(ARCHS[i].name, name) == 0)
            return &ARCHS[i];
    return NULL;
}

const char *arch_names(void)
{
    return ARCH_NAMES + 2; /* past the first ", " */
}

model *arch_build(const char *name, int img_size, cd_err *err)
{
    if (!name) {
        cd_err_set(err, CD_ERR_INVALID, "no architecture name");
        return NULL;
    }
    const arch_info *a = arch_find(name);
    if (a)
        return a->build(img_size, err);
    cd_err_set(err, CD_ERR_NOTFOUND, "unknown architecture '%s' (built-in: %s)", name,
               arch_names());
    return NULL;
}
