/*
 * layer.h - one node of a model graph: its kind, configuration and parameters.
 *
 * A layer is a plain struct (ggml style): the Keras loader, the built-in
 * architectures and the trainer fill and read the fields directly.  The model
 * (model.h) owns its layers and their parameter tensors.
 *
 * Shapes: every activation is NHWC.  A layer's output shape is stored without
 * the batch dimension in out_h/out_w/out_c; layers whose Keras output is 2-D
 * (Flatten, Dense, global pooling) have out_h == out_w == 1 and out_rank == 2,
 * so the same buffers serve both and the summary prints Keras' shapes.
 *
 * Parameters follow Keras' order and layouts (see tensor.h): params[0] is the
 * kernel, params[1] the bias (when use_bias); BatchNormalization holds
 * [gamma (when scale), beta (when center), moving_mean, moving_variance];
 * PReLU holds alpha (see op_prelu.c); Normalization [mean, variance, count]
 * (count a scalar, rank 0); SeparableConv2D [depthwise_kernel,
 * pointwise_kernel, bias (when use_bias)].
 * Layers without weights have n_params == 0.
 */
#ifndef CATDOG_ENGINE_LAYER_H
#define CATDOG_ENGINE_LAYER_H

#include "engine/tensor.h"

#define LAYER_NAME_MAX 96
#define LAYER_MAX_INPUTS 8
#define LAYER_MAX_PARAMS 4
#define LAYER_RESCALE_MAX 64 /* Rescaling: most channels of a per-channel scale / offset */

/* Every layer kind, once: X(enum name, its op in engine/op_*.c).  The enum
 * below, the op table (op.c) and its externs (op.h) are generated from this
 * list, so adding a kind is one row here, its op file, and its Keras row
 * (modelfile/keras_layers.c) -- see docs/ARCHITECTURE.md.  New kinds go at the
 * end: files do not store kind numbers, but tests may. */
#define LAYER_KINDS(X)                                                                         \
    X(LAYER_INPUT, op_input)                   /* InputLayer: holds the input shape */         \
    X(LAYER_CONV2D, op_conv2d)                 /* Conv2D */                                    \
    X(LAYER_MAXPOOL2D, op_maxpool2d)           /* MaxPooling2D */                              \
    X(LAYER_AVGPOOL2D, op_avgpool2d)           /* AveragePooling2D (padding not averaged) */   \
    X(LAYER_GLOBAL_AVGPOOL2D, op_global_avgpool2d) /* GlobalAveragePooling2D */                \
    X(LAYER_GLOBAL_MAXPOOL2D, op_global_maxpool2d) /* GlobalMaxPooling2D */                    \
    X(LAYER_FLATTEN, op_flatten)               /* Flatten (NHWC order, as channels_last) */    \
    X(LAYER_DENSE, op_dense)                   /* Dense */                                     \
    X(LAYER_ACTIVATION, op_activation)         /* Activation */                                \
    X(LAYER_DROPOUT, op_dropout)               /* Dropout: identity at inference */            \
    X(LAYER_CONCAT, op_concat)                 /* Concatenate along the channel axis */         \
    X(LAYER_BATCHNORM, op_batchnorm)           /* BatchNormalization (moving statistics) */     \
    X(LAYER_RESCALING, op_rescaling)           /* Rescaling: x * scale + offset */              \
    X(LAYER_ZEROPAD2D, op_zeropad2d)           /* ZeroPadding2D */                              \
    X(LAYER_ADD, op_add)                       /* Add: inputs of one shape, summed */           \
    X(LAYER_SUBTRACT, op_subtract)             /* Subtract: first minus second */               \
    X(LAYER_MULTIPLY, op_multiply)             /* Multiply: element-wise product */             \
    X(LAYER_AVERAGE, op_average)               /* Average: element-wise mean */                 \
    X(LAYER_MAXIMUM, op_maximum)               /* Maximum: element-wise maximum */              \
    X(LAYER_CROPPING2D, op_cropping2d)         /* Cropping2D */                                 \
    X(LAYER_DEPTHWISE_CONV2D, op_depthwise_conv2d) /* DepthwiseConv2D (a Conv2D, groups = C) */ \
    X(LAYER_PRELU, op_prelu)                   /* PReLU: learned per-value negative slope */  \
    X(LAYER_RESHAPE, op_reshape)               /* Reshape: same values, another shape */       \
    X(LAYER_NORMALIZATION, op_normalization)   /* Normalization: (x - mean) / std, per channel */ \
    X(LAYER_RESIZING, op_resizing)             /* Resizing: bilinear / nearest to size */     \
    X(LAYER_CENTER_CROP, op_center_crop)       /* CenterCrop: the middle size[0] x size[1] */  \
    X(LAYER_SEPARABLE_CONV2D, op_separable_conv2d) /* SeparableConv2D: depthwise, pointwise */

#define LAYER_KIND_ENUM(KIND, op) KIND,
typedef enum layer_kind {
    LAYER_KINDS(LAYER_KIND_ENUM)
    LAYER_KIND_COUNT
} layer_kind;
#undef LAYER_KIND_ENUM

/* Activations.  The first five are Keras 2.2.4's and are differentiated from
 * their output; every later one is differentiated from its input (the
 * reference runner keeps the pre-activation for those when training, see
 * layer_act_needs_input).  New ones go at the end. */
typedef enum layer_act {
    ACT_LINEAR = 0,
    ACT_RELU,
    ACT_SIGMOID,
    ACT_SOFTMAX,   /* over the channel (last) axis */
    ACT_TANH,
    ACT_RELU6,          /* min(max(x, 0), 6) */
    ACT_LEAKY_RELU,     /* x > 0 ? x : alpha x   (act_p.alpha: Keras' negative_slope / alpha) */
    ACT_ELU,            /* x > 0 ? x : alpha (e^x - 1) */
    ACT_SELU,           /* 1.0507... * elu(x, 1.6732...), Keras' fixed constants */
    ACT_SOFTPLUS,       /* log(1 + e^x) */
    ACT_SOFTSIGN,       /* x / (1 + |x|) */
    ACT_HARD_SIGMOID,   /* Keras 2: clip(0.2 x + 0.5, 0, 1) */
    ACT_HARD_SIGMOID6,  /* Keras 3: relu6(x + 3) / 6 (same name, another function) */
    ACT_SWISH,          /* x sigmoid(x) (Keras swish / silu) */
    ACT_HARD_SWISH,     /* x relu6(x + 3) / 6 (Keras 3 hard_silu / hard_swish) */
    ACT_GELU,           /* exact: x (1 + erf(x / sqrt 2)) / 2 */
    ACT_GELU_TANH,      /* tanh approximation (Keras approximate=True, ONNX "tanh") */
    ACT_EXPONENTIAL,    /* e^x */
    ACT_RELU_X,         /* Keras' ReLU layer: act_p.alpha = negative_slope, act_p.max_value
                           (< 0: none), act_p.threshold, computed as Keras does */
    ACT_COUNT
} layer_act;

/* The parameters of the parametrised activations (others ignore them). */
typedef struct layer_act_params {
    float alpha;        /* LEAKY_RELU, ELU, RELU_X (negative slope) */
    float max_value;    /* RELU_X: the clip, < 0 for none */
    float threshold;    /* RELU_X */
} layer_act_params;

/* Resizing's interpolation, as TensorFlow's tf.image.resize (half-pixel
 * centres, no antialiasing). */
typedef enum layer_interp { INTERP_BILINEAR = 0, INTERP_NEAREST } layer_interp;

typedef enum layer_pad {
    PAD_VALID = 0,
    PAD_SAME       /* TensorFlow rule: total pad = max((ceil(in/s)-1)*s + k - in, 0), extra on the end */
} layer_pad;

typedef struct layer {
    char name[LAYER_NAME_MAX];   /* unique within the model */
    char scope[LAYER_NAME_MAX];  /* name of the nested model this layer came from, "" at top level */
    layer_kind kind;

    int inputs[LAYER_MAX_INPUTS]; /* indices of earlier layers in model.layers (topological order) */
    int n_inputs;                 /* 0 only for LAYER_INPUT */

    /* configuration (fields a kind does not use stay 0) */
    int filters;        /* Conv2D */
    int units;          /* Dense */
    int kernel[2];      /* Conv2D kernel size (h, w) */
    int groups;         /* Conv2D: channel groups (0 or 1: none; in_c for a depthwise
                         * convolution); the kernel is (kh, kw, in_c / groups, filters) */
    int dilation[2];    /* Conv2D dilation rate (h, w); 0 or 1: none */
    int depth_multiplier; /* DepthwiseConv2D: filters per input channel (0 or 1: one); its
                           * shape inference sets groups = C and filters = C * multiplier,
                           * its kernel is Keras' (kh, kw, C, multiplier), the same memory
                           * as Conv2D's grouped (kh, kw, 1, C * multiplier) */
    int pool[2];        /* pooling window (h, w) */
    int strides[2];     /* Conv2D and pooling strides (h, w); Keras: pooling strides default to pool */
    layer_pad padding;  /* Conv2D and pooling */
    int use_bias;       /* Conv2D, Dense */
    layer_act act;      /* Conv2D, Dense (fused), Activation */
    layer_act_params act_p; /* act's parameters; layer_set_act fills Keras' defaults */
    float rate;         /* Dropout; BatchNormalization: momentum (kept for Keras) */
    float epsilon;      /* BatchNormalization */
    int center, scale;  /* BatchNormalization: has beta / gamma */
    int axis;           /* BatchNormalization: the axis Keras gave (-1 or the last) */
    float rescale[2][LAYER_RESCALE_MAX]; /* Rescaling: scale [0][c], offset [1][c]; only
                         * [k][0] is used (for every channel) when rescale_n[k] <= 1 */
    int rescale_n[2];   /* Rescaling: how scale / offset were given: 0 a number, n >= 1 a
                         * list of n (1, or the channels), kept so Keras files round-trip */
    int pad4[4];        /* ZeroPadding2D, Cropping2D: top, bottom, left, right */
    int keepdims;       /* global pooling: output (N, 1, 1, C) instead of (N, C) */
    int target[3];      /* Reshape: Keras' target_shape as (h, w, c), -1 for the one
                         * dimension Keras infers; (1, 1, c) for a 1-D target */
    int target_rank;    /* Reshape: Keras' target rank, 1 (output (N, C)) or 3 ((N, H, W, C)) */
    int shared_axes;    /* PReLU: bit k-1 set when alpha is shared along Keras axis k */
    int size[2];        /* Resizing, CenterCrop: the output's height, width */
    int interp;         /* Resizing: 0 bilinear, 1 nearest (layer_interp) */
    int trainable;      /* 0 = frozen: no gradient, no optimizer state */

    /* int8 calibration (catdog quantize), Conv2D and Dense only: the largest
     * |value| of the layer's input seen on the calibration photos, and whether
     * it went negative (then the input is quantized to s8, else u8).  0 = this
     * layer stays float32 under int8. */
    float q_in_max;
    int q_in_signed;

    /* input shape, only for LAYER_INPUT (the model's input, without batch) */
    int in_h, in_w, in_c;

    /* output shape without batch; filled by model_infer_shapes */
    int out_h, out_w, out_c;
    int out_rank;       /* 4 for (N,H,W,C) maps, 2 for (N,C) vectors */

    /* parameters, owned by the layer (freed by model_free) */
    tensor *params[LAYER_MAX_PARAMS];
    int n_params;
} layer;

/* Rescaling's scale (k = 0) or offset (k = 1) of channel c. */
static inline float layer_rescale(const layer *l, int k, int c)
{
    return l->rescale[k][l->rescale_n[k] > 1 ? c : 0];
}

/* 1 when Rescaling's scale and offset are the same on every channel. */
int layer_rescale_uniform(const layer *l);

/* Conv2D's groups and dilation with 0 read as 1 (layers built before the
 * fields existed, or by code that leaves them zero). */
static inline int layer_groups(const layer *l) { return l->groups > 1 ? l->groups : 1; }
static inline int layer_dilation(const layer *l, int d)
{
    return l->dilation[d] > 1 ? l->dilation[d] : 1;
}

/* Keras' class name of a kind ("Conv2D", "MaxPooling2D", ...). */
const char *layer_kind_name(layer_kind kind);

/* Keras' activation name ("linear", "relu", "sigmoid", "softmax", "tanh"). */
const char *layer_act_name(layer_act act);

/* Parses a Keras activation name (with the aliases silu, hard_silu); returns 0
 * or -1 when unknown.  "hard_sigmoid" parses as Keras 2's; a Keras 3 reader
 * maps it to ACT_HARD_SIGMOID6. */
int layer_act_parse(const char *name, layer_act *out);

/* Keras' default parameters of act (leaky_relu 0.2, elu 1, no ReLU clip). */
layer_act_params layer_act_defaults(layer_act act);

/* Sets l->act and its default parameters. */
void layer_set_act(layer *l, layer_act act);

/* 1 when act's derivative is computed from its input (all but linear, relu,
 * sigmoid, softmax, tanh, relu6, which use the output). */
int layer_act_needs_input(layer_act act);

/* 1 when act (with its parameters p) never outputs a negative value (relu,
 * relu6, sigmoid, softmax, softplus, the hard sigmoids, exponential, a Keras
 * ReLU without negative slope whose threshold is not below 0 or that clips);
 * 0 otherwise. */
int layer_act_non_negative(layer_act act, const layer_act_params *p);

/* Keras' name of parameter k of l ("kernel", "bias", "gamma", "moving_mean"...). */
const char *layer_param_name(const layer *l, int k);

/* How many of l's parameters a Keras summary counts as trainable when the
 * layer is (BatchNormalization's moving statistics never are). */
int layer_trainable_params(const layer *l);

/* Number of parameters (floats) the layer holds; 0 when it has none. */
size_t layer_param_count(const layer *l);

/* The activation size of one sample (out_h * out_w * out_c). */
size_t layer_out_size(const layer *l);

#endif
