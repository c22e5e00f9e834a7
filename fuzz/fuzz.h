/*
 * fuzz.h - what the libFuzzer harnesses in fuzz/ share.
 *
 * Each fuzz_<name>.c holds one harness as a plain function,
 * fuzz_<name>_one(data, size), that feeds the bytes to the parser it covers
 * and checks what the parser promises (sizes in range, pointers inside the
 * input, a result that survives a round trip).  fuzz/CMakeLists.txt builds
 * every .c file of fuzz/ into the catdog_fuzz_targets library:
 *   - in build-fuzz (clang, -DCATDOG_FUZZ=ON) with ASan + UBSan + coverage, and
 *     one binary per harness, build-fuzz/fuzz/fuzz_<name>, whose generated
 *     LLVMFuzzerTestOneInput calls fuzz_<name>_one;
 *   - in the normal builds too, so the regression tests in tests/fuzz feed saved
 *     crash inputs and the seed corpora through exactly the code the fuzzer ran.
 * A broken promise is reported with FUZZ_CHECK, which prints and aborts: to
 * libFuzzer that is a crash, to a test a failure.
 */
#ifndef CATDOG_FUZZ_FUZZ_H
#define CATDOG_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Every harness returns 0 (libFuzzer's convention: the input was processed). */
int fuzz_image_one(const uint8_t *data, size_t size);
int fuzz_keras_h5_one(const uint8_t *data, size_t size);
int fuzz_keras_h5_raw_one(const uint8_t *data, size_t size);
int fuzz_keras_json_one(const uint8_t *data, size_t size);
int fuzz_multipart_one(const uint8_t *data, size_t size);
int fuzz_http_fields_one(const uint8_t *data, size_t size);
int fuzz_onnx_one(const uint8_t *data, size_t size);

/* Fails unless s (in a buffer of `size` bytes) keeps upload_sanitize_name's
 * promises (fuzz_multipart.c). */
void fuzz_check_sanitized(const char *s, size_t size);

/* The pixel limit the image harness decodes under: the server's default
 * (IMAGE_DEFAULT_MAX_PIXELS) would let one input cost seconds, and the limit
 * check itself is the same code whatever the number. */
#define FUZZ_IMAGE_MAX_PIXELS (4L * 1000 * 1000)

/* Checks a model a loader returned: it has an input and an output, its
 * parameter counts add up, and its Keras config, written back and read again,
 * gives a model with the same layers and parameter count. */
struct model;
void fuzz_check_model(const struct model *m);

/* The small Keras configs the model harnesses start from (models.c):
 * {name, JSON}.  fuzz_model_h5 writes model i with keras_save and returns the
 * file's bytes (malloc'd, *len set), or NULL after printing why. */
#define FUZZ_N_MODEL_CONFIGS 4
extern const char *const FUZZ_MODEL_CONFIGS[FUZZ_N_MODEL_CONFIGS][2];
unsigned char *fuzz_model_h5(int i, size_t *len);

/* The .h5 file a fuzz_keras_h5 recipe describes (malloc'd, *len set). */
unsigned char *fuzz_keras_h5_build(const uint8_t *recipe, size_t size, size_t *len);

#endif
