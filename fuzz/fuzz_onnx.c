/*
 * fuzz_onnx.c - libFuzzer harness for catdog's ONNX reader (onnx/onnx.h):
 * onnx_load_memory on raw bytes.  The seeds (tests/fuzz/test_fuzz_seeds.c)
 * are small models catdog exports, so mutations reach the graph mapping, not
 * only protobuf-c's decoder.  Checks: a refusal is one line with a code; an
 * accepted file gives a usable model (check_model.c) that exports to ONNX
 * again and reads back into as many layers.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "onnx/onnx.h"

int fuzz_onnx_one(const uint8_t *data, size_t size)
{
    cd_err err;
    cd_err_clear(&err);
    onnx_load_opts opts = {.img_size = 32};
    model *m = onnx_load_memory(data, size, "fuzz.onnx", &opts, &err);
    if (!m) {
        FUZZ_CHECK(err.code != CD_OK && err.msg[0] != '\0' && !strchr(err.msg, '\n'));
        return 0;
    }
    fuzz_check_model(m);
    size_t len = 0;
    unsigned char *again = onnx_save_memory(m, NULL, &len, &err);
    if (again) {
        model *back = onnx_load_memory(again, len, "fuzz-again.onnx", NULL, &err);
        FUZZ_CHECK(back != NULL);
        size_t a, b, x;
        model_param_counts(m, &a, &x, &x);
        model_param_counts(back, &b, &x, &x);
        FUZZ_CHECK(a == b);
        model_free(back);
        free(again);
    } else {
        /* Only heads the export cannot write as P(dog) are refused. */
        FUZZ_CHECK(err.code == CD_ERR_UNSUPPORTED);
    }
    model_free(m);
    return 0;
}
