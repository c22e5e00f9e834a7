/*
 * embedded.c - access to the model CMake links into the program (see embedded.h).
 *
 * CMake assembles build/embedded_model.S, which `.incbin`s models/binary.h5
 * between the symbols below, and defines CATDOG_EMBEDDED_MODEL; without a
 * model at build time there is nothing to link and embedded_model says so.
 */
#include "predict/embedded.h"

#include <unistd.h>

#include "modelfile/keras.h"

#ifdef CATDOG_EMBEDDED_MODEL
extern const unsigned char catdog_embedded_model_start[];
extern const unsigned char catdog_embedded_model_end[];
#endif

int embedded_model(const void **buf, size_t *len)
{
#ifdef CATDOG_EMBEDDED_MODEL
    *buf = catdog_embedded_model_start;
    *len = (size_t)(catdog_embedded_model_end - catdog_embedded_model_start);
    return 1;
#else
    (void)buf;
    (void)len;
    return 0;
#endif
}

predictor *predictor_load_default(const char *path, const predictor_opts *opts,
                                  const char **source, cd_err *err)
{
    static const char local[] = "models/binary.h5";
    if (!path && access(local, R_OK) == 0)
        path = local;
    if (path) {
        if (source)
            *source = path == local ? local : "the given file";
        return predictor_load(path, opts, err);
    }
    const void *buf;
    size_t len;
    if (!embedded_model(&buf, &len)) {
        cd_err_set(err, CD_ERR_NOTFOUND,
                   "no model given, no models/binary.h5 here, and this program was built "
                   "without an embedded model; pass --model FILE");
        return NULL;
    }
    if (source)
        *source = "the model built into the program";
    return predictor_adopt(keras_load_memory(buf, len, "embedded binary.h5", err), opts, "embedded binary.h5",
                           err);
}
