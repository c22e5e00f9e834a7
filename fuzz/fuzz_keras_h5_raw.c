/*
 * fuzz_keras_h5_raw.c - libFuzzer harness for Keras HDF5 model files as raw
 * bytes: keras_load_memory on anything, the file-image path that reads a
 * model from memory (HDF5 signature check, libhdf5's own parsing of the
 * container, then catdog's reading of what libhdf5 returns).
 *
 * Most of what this finds is in libhdf5 (Debian's 1.10, not instrumented:
 * ASan sees its crashes and its calls into libc, not its own silent
 * out-of-bounds reads), which is why model files are trusted input
 * (docs/SECURITY.md) and why tests/fuzz/fuzz_run.sh triages this harness's
 * crashes, failing only on those whose faulting frame is catdog's.
 * fuzz_keras_h5.c covers catdog's side with files libhdf5 itself writes.
 * Checks as there: an accepted file gives a usable model, and no HDF5 object
 * is left open either way.
 */
#include <hdf5.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"

int fuzz_keras_h5_raw_one(const uint8_t *data, size_t size)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_load_memory(data, size, "fuzz.h5", &err);
    if (m) {
        fuzz_check_model(m);
        model_free(m);
    } else {
        FUZZ_CHECK(err.code != CD_OK && err.msg[0] != '\0');
    }
    FUZZ_CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    return 0;
}
