/*
 * fuzz_keras_json.c - libFuzzer harness for Keras model configs:
 * keras_from_json on any text, as `catdog` reads model.to_json() files and
 * the model_config attribute of every .h5 (the JSON half of model loading).
 * An accepted config must give a usable model that survives catdog's own
 * JSON round trip (check_model.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"

int fuzz_keras_json_one(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_from_json(text, "fuzz.json", &err);
    if (m) {
        fuzz_check_model(m);
        model_free(m);
    } else {
        FUZZ_CHECK(err.code != CD_OK && err.msg[0] != '\0');
    }
    free(text);
    return 0;
}
