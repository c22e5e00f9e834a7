/*
 * models.c - the small Keras models the model harnesses and their seeds
 * start from.
 *
 * The configs cover what keras_json_read.c accepts: Sequential with an
 * InputLayer, Keras 2.2's bare layer list with batch_input_shape, a functional
 * graph with Concatenate, and a Sequential whose first layer is a nested
 * functional model (the seed project's transfer model), frozen.  They are
 * tiny (tens of parameters) so a fuzzer can afford thousands per second.
 * fuzz_model_h5 turns one into a whole-model .h5 with keras_save itself, so
 * the files are exactly what catdog writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"

const char *const FUZZ_MODEL_CONFIGS[FUZZ_N_MODEL_CONFIGS][2] = {
    {"sequential",
     "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"seq\",\"layers\":["
     "{\"class_name\":\"InputLayer\",\"config\":{\"name\":\"in\",\"batch_input_shape\":[null,8,8,3]}},"
     "{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"c1\",\"filters\":2,\"kernel_size\":[3,3],"
     "\"strides\":[1,1],\"padding\":\"valid\",\"activation\":\"relu\",\"use_bias\":true}},"
     "{\"class_name\":\"MaxPooling2D\",\"config\":{\"name\":\"p1\",\"pool_size\":[2,2],\"padding\":\"valid\"}},"
     "{\"class_name\":\"Flatten\",\"config\":{\"name\":\"f\"}},"
     "{\"class_name\":\"Dropout\",\"config\":{\"name\":\"d\",\"rate\":0.5}},"
     "{\"class_name\":\"Dense\",\"config\":{\"name\":\"out\",\"units\":1,\"activation\":\"sigmoid\"}}]}}"},
    {"keras22-list",
     "{\"class_name\":\"Sequential\",\"config\":["
     "{\"class_name\":\"Conv2D\",\"config\":{\"name\":\"c1\",\"batch_input_shape\":[null,6,6,1],"
     "\"filters\":3,\"kernel_size\":3,\"strides\":1,\"padding\":\"same\",\"activation\":\"linear\"}},"
     "{\"class_name\":\"Activation\",\"config\":{\"name\":\"a\",\"activation\":\"relu\"}},"
     "{\"class_name\":\"AveragePooling2D\",\"config\":{\"name\":\"p\",\"pool_size\":2,\"strides\":1}},"
     "{\"class_name\":\"GlobalAveragePooling2D\",\"config\":{\"name\":\"g\"}},"
     "{\"class_name\":\"Dense\",\"config\":{\"name\":\"out\",\"units\":2,\"activation\":\"softmax\","
     "\"use_bias\":false}}]}"},
    {"functional-concat",
     "{\"class_name\":\"Model\",\"config\":{\"name\":\"fn\",\"layers\":["
     "{\"class_name\":\"InputLayer\",\"name\":\"x\",\"config\":{\"name\":\"x\",\"batch_input_shape\":[null,5,5,2]},"
     "\"inbound_nodes\":[]},"
     "{\"class_name\":\"Conv2D\",\"name\":\"a\",\"config\":{\"name\":\"a\",\"filters\":2,\"kernel_size\":[1,1],"
     "\"activation\":\"relu\"},\"inbound_nodes\":[[[\"x\",0,0,{}]]]},"
     "{\"class_name\":\"Conv2D\",\"name\":\"b\",\"config\":{\"name\":\"b\",\"filters\":1,\"kernel_size\":[3,3],"
     "\"padding\":\"same\",\"activation\":\"relu\"},\"inbound_nodes\":[[[\"x\",0,0,{}]]]},"
     "{\"class_name\":\"Concatenate\",\"name\":\"cat\",\"config\":{\"name\":\"cat\",\"axis\":-1},"
     "\"inbound_nodes\":[[[\"a\",0,0,{}],[\"b\",0,0,{}]]]},"
     "{\"class_name\":\"GlobalMaxPooling2D\",\"name\":\"gmp\",\"config\":{\"name\":\"gmp\"},"
     "\"inbound_nodes\":[[[\"cat\",0,0,{}]]]},"
     "{\"class_name\":\"Dense\",\"name\":\"out\",\"config\":{\"name\":\"out\",\"units\":1,"
     "\"activation\":\"sigmoid\"},\"inbound_nodes\":[[[\"gmp\",0,0,{}]]]}],"
     "\"input_layers\":[[\"x\",0,0]],\"output_layers\":[[\"out\",0,0]]}}"},
    {"nested-transfer",
     "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"transfer\",\"layers\":["
     "{\"class_name\":\"Model\",\"config\":{\"name\":\"backbone\",\"trainable\":false,\"layers\":["
     "{\"class_name\":\"InputLayer\",\"name\":\"img\",\"config\":{\"name\":\"img\","
     "\"batch_input_shape\":[null,8,8,3]},\"inbound_nodes\":[]},"
     "{\"class_name\":\"Conv2D\",\"name\":\"bc\",\"config\":{\"name\":\"bc\",\"filters\":2,"
     "\"kernel_size\":[3,3],\"activation\":\"relu\"},\"inbound_nodes\":[[[\"img\",0,0,{}]]]},"
     "{\"class_name\":\"MaxPooling2D\",\"name\":\"bp\",\"config\":{\"name\":\"bp\",\"pool_size\":[2,2]},"
     "\"inbound_nodes\":[[[\"bc\",0,0,{}]]]}],"
     "\"input_layers\":[[\"img\",0,0]],\"output_layers\":[[\"bp\",0,0]]}},"
     "{\"class_name\":\"Flatten\",\"config\":{\"name\":\"flat\"}},"
     "{\"class_name\":\"Dense\",\"config\":{\"name\":\"hid\",\"units\":3,\"activation\":\"relu\"}},"
     "{\"class_name\":\"Dense\",\"config\":{\"name\":\"out\",\"units\":1,\"activation\":\"sigmoid\"}}]}}"},
};

unsigned char *fuzz_model_h5(int i, size_t *len)
{
    cd_err err;
    model *m = keras_from_json(FUZZ_MODEL_CONFIGS[i][1], FUZZ_MODEL_CONFIGS[i][0], &err);
    if (!m) {
        fprintf(stderr, "fuzz_model_h5: config %s: %s\n", FUZZ_MODEL_CONFIGS[i][0], err.msg);
        return NULL;
    }
    model_init_params(m, 42 + (unsigned long long)i);
    m->preprocess = (cd_preprocess)(i % 3);
    m->test_accuracy = i ? 0.5 + 0.1 * i : -1;

    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/catdog-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    unsigned char *bytes = NULL;
    if (!mkdtemp(dir)) {
        perror("fuzz_model_h5: mkdtemp");
        model_free(m);
        return NULL;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.h5", dir);
    if (keras_save(m, path, &err) != 0) {
        fprintf(stderr, "fuzz_model_h5: %s\n", err.msg);
    } else {
        FILE *f = fopen(path, "rb");
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (bytes = malloc((size_t)n)) && fread(bytes, 1, (size_t)n, f) == (size_t)n) {
            *len = (size_t)n;
        } else {
            free(bytes);
            bytes = NULL;
            fprintf(stderr, "fuzz_model_h5: cannot read back %s\n", path);
        }
        if (f)
            fclose(f);
        unlink(path);
    }
    rmdir(dir);
    model_free(m);
    return bytes;
}
