/*
 * arch.c - choosing a built-in architecture by name (see arch.h).  Each
 * architecture lives in its own file: arch_binary.c, arch_vgg16.c,
 * arch_squeezenet.c.
 */
#include "engine/arch.h"

#include <string.h>

model *arch_build(const char *name, int img_size, cd_err *err)
{
    if (!name) {
        cd_err_set(err, CD_ERR_INVALID, "no architecture name");
        return NULL;
    }
    if (strcmp(name, "binary") == 0)
        return arch_binary(img_size, err);
    if (strcmp(name, "vgg16") == 0)
        return arch_vgg16(img_size, err);
    if (strcmp(name, "squeezenet") == 0)
        return arch_squeezenet(img_size, err);
    cd_err_set(err, CD_ERR_NOTFOUND,
               "unknown architecture '%s' (built-in: binary, vgg16, squeezenet)", name);
    return NULL;
}
