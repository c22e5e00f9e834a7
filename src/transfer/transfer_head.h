/*
 * transfer_head.h - the classifier head put on a frozen backbone, and the
 * models built around it.
 *
 * A head is: a pooling of the backbone's feature map, optional dropout, hidden
 * Dense ReLU layers each followed by dropout, and Dense(1, sigmoid).  Spelled as
 * a comma-separated spec (the --head option):
 *     gap | gmp | gapgmp | flatten     how the map becomes a vector:
 *                                      GlobalAveragePooling2D, GlobalMaxPooling2D,
 *                                      both concatenated (average first), Flatten
 *     dense=N                          a hidden Dense(N, relu); repeatable (max 4)
 *     dropout=R                        Dropout(R) after each hidden Dense
 *     input-dropout=R                  Dropout(R) on the pooled vector
 * e.g. "gap,dense=256,dropout=0.5" or the seed's "flatten,dense=256,dropout=0.5".
 *
 * Layer names are fixed so weights move between models by name:
 *     head_gap, head_gmp, head_concat | head_flatten, head_dropout_in,
 *     head_dense_1.., head_dropout_1.., head_output
 *
 * Two models carry a head:
 *   - the training model, whose input is the cached pooled feature vector
 *     (Input (1, 1, F) "head_input", Flatten "head_features", then the Dense
 *     and Dropout layers): feature extraction already did the pooling;
 *   - the composed model, backbone then the full head (pooling included).
 */
#ifndef CATDOG_TRANSFER_TRANSFER_HEAD_H
#define CATDOG_TRANSFER_TRANSFER_HEAD_H

#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"

#define TRANSFER_HEAD_MAX_DENSE 4
#define TRANSFER_HEAD_SPEC_MAX 128

typedef enum transfer_pool {
    TRANSFER_POOL_GAP = 0,
    TRANSFER_POOL_GMP,
    TRANSFER_POOL_GAPGMP,
    TRANSFER_POOL_FLATTEN
} transfer_pool;

typedef struct transfer_head_spec {
    transfer_pool pool;
    int n_dense;
    int units[TRANSFER_HEAD_MAX_DENSE];
    float dropout;        /* after each hidden Dense; 0 = none */
    float input_dropout;  /* on the pooled vector; 0 = none */
} transfer_head_spec;

/* The default head: "gap,dense=256,dropout=0.5". */
void transfer_head_default(transfer_head_spec *h);

/* Parses a spec as above.  0, or -1 (CD_ERR_INVALID naming the bad item). */
int transfer_head_parse(const char *spec, transfer_head_spec *out, cd_err *err);

/* Writes the canonical spec string of h into buf. */
void transfer_head_format(const transfer_head_spec *h, char *buf, size_t n);

/* Floats per sample the head's pooling makes from an h x w x c map. */
size_t transfer_head_feature_size(const transfer_head_spec *h, int map_h, int map_w, int map_c);

/* Appends the whole head (pooling included) to m after layer `from` (whose
 * output is a 4-D map).  Returns the index of head_output, or -1. */
int transfer_head_append(model *m, int from, const transfer_head_spec *h, cd_err *err);

/* The training model: Input (1, 1, feature_size), Flatten, then h's dropout and
 * Dense layers; shapes inferred, Glorot weights from seed.  Caller frees. */
model *transfer_head_training_model(const transfer_head_spec *h, size_t feature_size,
                                    unsigned long long seed, cd_err *err);

/* Copies every parameter of `src`'s layers into the same-named layers of dst
 * (shapes must agree); layers of src that dst lacks are an error unless they
 * have no parameters.  0 or -1. */
int transfer_copy_params(model *dst, const model *src, cd_err *err);

#endif
