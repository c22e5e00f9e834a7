/*
 * preprocess.c - names of the preprocessing modes (see preprocess.h).
 */
#include "core/preprocess.h"

#include <string.h>

const char *cd_preprocess_name(cd_preprocess p)
{
    switch (p) {
    case CD_PRE_NONE: return "none";
    case CD_PRE_RESCALE: return "rescale";
    case CD_PRE_CAFFE: return "caffe";
    case CD_PRE_TF: return "tf";
    case CD_PRE_TORCH: return "torch";
    }
    return "none";
}

int cd_preprocess_parse(const char *name, cd_preprocess *out)
{
    static const cd_preprocess all[] = {CD_PRE_NONE, CD_PRE_RESCALE, CD_PRE_CAFFE, CD_PRE_TF, CD_PRE_TORCH};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, cd_preprocess_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}
