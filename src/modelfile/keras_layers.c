/*
 * keras_layers.c - how Keras spells each layer kind in a model config (see
 * keras_layers.h): one reader per Keras class, one writer per kind.
 *
 * Read: Keras 2.x and tf.keras spellings.  Classes: InputLayer (read by
 * keras_json_read.c, it carries the model input), Conv2D (Convolution2D),
 * MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D
 * (keepdims too), Flatten, Dense, Activation, Dropout, Concatenate,
 * BatchNormalization, Rescaling, ZeroPadding2D, Cropping2D, the merges Add,
 * Subtract, Multiply, Average, Maximum, and the activation layers ReLU
 * (max_value, negative_slope, threshold), LeakyReLU, ELU, ThresholdedReLU and
 * Softmax (as Activation with the function's parameters), DepthwiseConv2D,
 * Reshape (targets (C) and (H, W, C)), SeparableConv2D, and the preprocessing
 * layers Normalization, Resizing and CenterCrop.  Activation strings:
 * see layer_act_parse; "hard_sigmoid" means Keras 3's relu6(x + 3) / 6 in a
 * Keras 3 config (keras_config_is_keras3), 0.2 x + 0.5 clipped otherwise.
 * Lambda is refused with its own message (it is Python code).  Layers that are the identity at inference (augmentation,
 * noise, spatial dropout: keras_inference_identity) are read as no layer at
 * all.  A configuration catdog does not compute (another data_format or
 * axis...) is refused with an error naming the layer, never
 * ignored.
 *
 * Write: the fields Keras 2.2.4's from_config expects for each class; an
 * Activation whose function is a layer in Keras (LeakyReLU, ELU with another
 * alpha, relu6 and Keras' general ReLU) is written as that layer
 * (keras_layer_class); functions with no Keras 2 name are refused
 * (keras_layer_unwritable).
 *
 * Adding a kind: a reader row (and its function) and a writer row here; the
 * writer table is indexed by kind and a _Static_assert keeps it as long as
 * the kind list (engine/layer.h), so a kind without a Keras row does not build.
 */
#include "modelfile/keras_layers.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- small JSON readers ----------------------------------------------- */

const char *keras_jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int keras_jint(json_t *v)
{
    json_int_t x = json_integer_value(v);
    return x >= INT_MIN && x <= INT_MAX ? (int)x : -1;
}

int keras_jbool(json_t *obj, const char *key, int def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

int keras_rd_bad(const keras_rd *rd, cd_code code, const char *layer_name, const char *fmt,
                 const char *arg)
{
    char what[256];
    snprintf(what, sizeof what, fmt, arg);
    if (layer_name)
        return cd_err_set(rd->err, code, "%s: layer '%s': %s", rd->src, layer_name, what);
    return cd_err_set(rd->err, code, "%s: %s", rd->src, what);
}

/* An int or a list of two ints ("kernel_size": 3 or [3, 3]).  Absent or null
 * gives `def` for both.  0 or -1 (not that form). */
static int jpair(json_t *cfg, const char *key, int out[2], int def)
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        out[0] = out[1] = def;
        return 0;
    }
    if (json_is_integer(v)) {
        out[0] = out[1] = keras_jint(v);
        return out[0] > 0 ? 0 : -1;
    }
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
        json_is_integer(json_array_get(v, 1))) {
        out[0] = keras_jint(json_array_get(v, 0));
        out[1] = keras_jint(json_array_get(v, 1));
        return out[0] > 0 && out[1] > 0 ? 0 : -1;
    }
    return -1;
}

static int check_channels_last(const keras_rd *rd, json_t *cfg, const char *name)
{
    const char *df = keras_jstr(cfg, "data_format");
    if (df && strcmp(df, "channels_last") != 0)
        return keras_rd_bad(
            rd, CD_ERR_UNSUPPORTED, name,
            "data_format '%s' is not supported (catdog computes channels_last, NHWC)", df);
    return 0;
}

static int parse_padding(const keras_rd *rd, json_t *cfg, const char *name, layer_pad *out)
{
    const char *p = keras_jstr(cfg, "padding");
    if (!p || strcmp(p, "valid") == 0)
        *out = PAD_VALID;
    else if (strcmp(p, "same") == 0)
        *out = PAD_SAME;
    else
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "padding '%s' is not supported", p);
    return 0;
}

static int parse_act(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *v = json_object_get(cfg, "activation");
    layer_act act;
    if (!v || json_is_null(v)) {
        layer_set_act(l, ACT_LINEAR);
        return 0;
    }
    /* Keras 3 may serialise a built-in function as {"class_name": "function",
     * "config": "gelu", ...} */
    if (json_is_object(v) && json_is_string(json_object_get(v, "config")) &&
        keras_jstr(v, "class_name") && strcmp(keras_jstr(v, "class_name"), "function") == 0)
        v = json_object_get(v, "config");
    if (!json_is_string(v))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s activation is not supported",
                            "a custom");
    if (layer_act_parse(json_string_value(v), &act) != 0)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "activation '%s' is not supported",
                            json_string_value(v));
    if (act == ACT_HARD_SIGMOID && rd->keras3)
        act = ACT_HARD_SIGMOID6; /* Keras 3 redefined it */
    layer_set_act(l, act);
    return 0;
}

/* A number member, def when absent or null; -1 when present but not a number. */
static int jnum(json_t *cfg, const char *key, double def, double *out)
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

int keras_config_is_keras3(json_t *root)
{
    const char *ver = keras_jstr(root, "keras_version");
    if (ver)
        return ver[0] == '3';
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        if (json_object_get(root, "batch_shape"))
            return 1;
        json_t *dt = json_object_get(root, "dtype");
        if (json_is_object(dt))
            return 1;
        json_object_foreach(root, k, v)
            if ((json_is_object(v) || json_is_array(v)) && keras_config_is_keras3(v))
                return 1;
    } else if (json_is_array(root)) {
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v)
            if ((json_is_object(v) || json_is_array(v)) && keras_config_is_keras3(v))
                return 1;
    }
    return 0;
}

/* ---- readers, one per Keras class ------------------------------------- */

/* What Conv2D and DepthwiseConv2D share: kernel, strides, dilation, padding,
 * activation, bias. */
static int read_conv_window(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    int dil[2];
    if (jpair(cfg, "kernel_size", l->kernel, -1) != 0 || l->kernel[0] < 1)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "convolution without a valid 'kernel_size'");
    if (jpair(cfg, "strides", l->strides, 1) != 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'strides'");
    if (jpair(cfg, "dilation_rate", dil, 1) != 0 || dil[0] > 1024 || dil[1] > 1024)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'dilation_rate'");
    /* Keras refuses strides > 1 with dilation > 1; the engine computes both. */
    l->dilation[0] = dil[0];
    l->dilation[1] = dil[1];
    if (check_channels_last(rd, cfg, name) || parse_padding(rd, cfg, name, &l->padding) ||
        parse_act(rd, cfg, name, l))
        return -1;
    l->use_bias = keras_jbool(cfg, "use_bias", 1);
    return 0;
}

static int read_conv2d(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *f = json_object_get(cfg, "filters");
    if (!json_is_integer(f) || keras_jint(f) <= 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "Conv2D without a valid 'filters'");
    l->filters = keras_jint(f);
    if (read_conv_window(rd, cfg, name, l) != 0)
        return -1;
    json_t *g = json_object_get(cfg, "groups");
    if (g && !json_is_null(g) &&
        (!json_is_integer(g) || json_integer_value(g) < 1 || json_integer_value(g) > 65536))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'groups'");
    l->groups = json_is_integer(g) ? (int)json_integer_value(g) : 1;
    return 0;
}

/* DepthwiseConv2D: each input channel its own depth_multiplier filters. */
static int read_depthwise(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *dm = json_object_get(cfg, "depth_multiplier");
    if (dm && !json_is_null(dm) && (!json_is_integer(dm) || keras_jint(dm) < 1 || keras_jint(dm) > 4096))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'depth_multiplier'");
    l->depth_multiplier = json_is_integer(dm) ? keras_jint(dm) : 1;
    return read_conv_window(rd, cfg, name, l);
}

static int read_pool(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    if (jpair(cfg, "pool_size", l->pool, 2) != 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'pool_size'");
    if (jpair(cfg, "strides", l->strides, -1) != 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'strides'");
    if (l->strides[0] == -1) { /* Keras: strides None means the pool size */
        l->strides[0] = l->pool[0];
        l->strides[1] = l->pool[1];
    }
    if (check_channels_last(rd, cfg, name) || parse_padding(rd, cfg, name, &l->padding))
        return -1;
    return 0;
}

static int read_global_pool(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    l->keepdims = keras_jbool(cfg, "keepdims", 0);
    return check_channels_last(rd, cfg, name);
}

static int read_flatten(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    (void)l;
    return check_channels_last(rd, cfg, name);
}

static int read_dense(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *u = json_object_get(cfg, "units");
    if (!json_is_integer(u) || keras_jint(u) <= 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "Dense without valid 'units'");
    l->units = keras_jint(u);
    if (parse_act(rd, cfg, name, l))
        return -1;
    l->use_bias = keras_jbool(cfg, "use_bias", 1);
    return 0;
}

static int read_activation(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    return parse_act(rd, cfg, name, l);
}

/* Keras' ReLU(max_value, negative_slope, threshold): the plain cases as the
 * activation they are, the rest as Keras computes them (ACT_RELU_X). */
static int read_relu(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    double mv, ns, th;
    if (jnum(cfg, "max_value", -1.0, &mv) || jnum(cfg, "negative_slope", 0.0, &ns) ||
        jnum(cfg, "threshold", 0.0, &th))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s",
                            "ReLU's max_value, negative_slope and threshold must be numbers");
    json_t *mvj = json_object_get(cfg, "max_value");
    if (mvj && !json_is_null(mvj) && mv < 0.0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "ReLU with a negative max_value");
    if (mv < 0.0 && ns == 0.0 && th == 0.0)
        layer_set_act(l, ACT_RELU);
    else if (mv == 6.0 && ns == 0.0 && th == 0.0)
        layer_set_act(l, ACT_RELU6);
    else if (mv < 0.0 && th == 0.0) {
        layer_set_act(l, ACT_LEAKY_RELU);
        l->act_p.alpha = (float)ns;
    } else {
        layer_set_act(l, ACT_RELU_X);
        l->act_p.alpha = (float)ns;
        l->act_p.max_value = (float)mv;
        l->act_p.threshold = (float)th;
    }
    return 0;
}

/* LeakyReLU: Keras 2 calls the slope alpha, Keras 3 negative_slope; 0.3 by default. */
static int read_leaky_relu(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    double a;
    const char *key = json_object_get(cfg, "negative_slope") ? "negative_slope" : "alpha";
    if (jnum(cfg, key, 0.3, &a))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "LeakyReLU's %s is not a number", key);
    layer_set_act(l, ACT_LEAKY_RELU);
    l->act_p.alpha = (float)a;
    return 0;
}

static int read_elu(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    double a;
    if (jnum(cfg, "alpha", 1.0, &a))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "ELU's alpha is not a number");
    layer_set_act(l, ACT_ELU);
    l->act_p.alpha = (float)a;
    return 0;
}

/* Keras 2's ThresholdedReLU: x > theta ? x : 0, which is ReLU(threshold=theta). */
static int read_thresholded_relu(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    double t;
    if (jnum(cfg, "theta", 1.0, &t))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "theta is not a number");
    layer_set_act(l, ACT_RELU_X);
    l->act_p.threshold = (float)t;
    return 0;
}

static int read_softmax(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *ax = json_object_get(cfg, "axis");
    if (ax && json_integer_value(ax) != -1)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "softmax over an axis other than -1");
    layer_set_act(l, ACT_SOFTMAX);
    return 0;
}

static int read_dropout(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *r = json_object_get(cfg, "rate");
    l->rate = json_is_number(r) ? (float)json_number_value(r) : 0.5f;
    if (l->rate < 0.0f || l->rate >= 1.0f)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "Dropout rate outside [0, 1)");
    return 0;
}

static int read_concat(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *ax = json_object_get(cfg, "axis");
    long long axis = json_is_integer(ax) ? json_integer_value(ax) : -1;
    if (axis != -1 && axis != 3)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Concatenate along an axis other than channels (-1)");
    if (l->n_inputs < 2)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s",
                            "Concatenate with fewer than two inputs");
    return 0;
}

/* Keras: axis -1 (or the last axis, also as a one-element list), momentum,
 * epsilon 1e-3, center and scale on by default. */
static int read_batchnorm(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *ax = json_object_get(cfg, "axis");
    if (json_is_array(ax) && json_array_size(ax) == 1)
        ax = json_array_get(ax, 0);
    if (ax && !json_is_integer(ax))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "BatchNormalization over several axes is not supported");
    l->axis = ax ? keras_jint(ax) : -1;
    json_t *mo = json_object_get(cfg, "momentum");
    json_t *ep = json_object_get(cfg, "epsilon");
    l->rate = json_is_number(mo) ? (float)json_number_value(mo) : 0.99f;
    l->epsilon = json_is_number(ep) ? (float)json_number_value(ep) : 1e-3f;
    if (!(l->epsilon > 0.0f))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "epsilon must be positive");
    l->center = keras_jbool(cfg, "center", 1);
    l->scale = keras_jbool(cfg, "scale", 1);
    /* Keras 3: synchronized is a training option; renorm changes training only too */
    if (keras_jbool(cfg, "renorm", 0))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "BatchNormalization with renorm is not supported");
    return 0;
}

/* Keras' Rescaling scale or offset: a number, or a list of numbers (one, or
 * one per channel: the count is checked once the shapes are known); k = 0
 * scale, 1 offset.  A missing or null offset is 0. */
static int read_rescale_value(const keras_rd *rd, json_t *v, const char *key, const char *name,
                              layer *l, int k)
{
    if (k == 1 && (!v || json_is_null(v))) {
        l->rescale[1][0] = 0.0f;
        return 0;
    }
    if (json_is_number(v)) {
        l->rescale[k][0] = (float)json_number_value(v);
        l->rescale_n[k] = 0;
        return 0;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    int ok = n >= 1 && n <= LAYER_RESCALE_MAX;
    for (size_t c = 0; ok && c < n; c++) {
        json_t *e = json_array_get(v, c);
        ok = json_is_number(e);
        if (ok)
            l->rescale[k][c] = (float)json_number_value(e);
    }
    if (!ok)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name,
                            "Rescaling's '%s' must be a number or a list of numbers (one, or one "
                            "per channel, at most 64 channels)",
                            key);
    l->rescale_n[k] = (int)n;
    return 0;
}

_Static_assert(LAYER_RESCALE_MAX == 64, "read_rescale_value's message says 64");

/* Keras: scale and offset are numbers or per-channel lists. */
static int read_rescaling(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    if (read_rescale_value(rd, json_object_get(cfg, "scale"), "scale", name, l, 0) != 0)
        return -1;
    return read_rescale_value(rd, json_object_get(cfg, "offset"), "offset", name, l, 1);
}

/* Keras: padding (cropping) is n, [h, w] (both sides) or [[top, bottom],
 * [left, right]]. */
static int read_pad4(const keras_rd *rd, json_t *cfg, const char *name, const char *key,
                     layer *l)
{
    json_t *p = json_object_get(cfg, key);
    int ok = 0;
    if (json_is_integer(p)) {
        l->pad4[0] = l->pad4[1] = l->pad4[2] = l->pad4[3] = keras_jint(p);
        ok = 1;
    } else if (json_is_array(p) && json_array_size(p) == 2) {
        ok = 1;
        for (int a = 0; a < 2; a++) {
            json_t *v = json_array_get(p, (size_t)a);
            if (json_is_integer(v)) {
                l->pad4[2 * a] = l->pad4[2 * a + 1] = keras_jint(v);
            } else if (json_is_array(v) && json_array_size(v) == 2 &&
                       json_is_integer(json_array_get(v, 0)) &&
                       json_is_integer(json_array_get(v, 1))) {
                l->pad4[2 * a] = keras_jint(json_array_get(v, 0));
                l->pad4[2 * a + 1] = keras_jint(json_array_get(v, 1));
            } else {
                ok = 0;
            }
        }
    }
    for (int k = 0; ok && k < 4; k++)
        ok = l->pad4[k] >= 0;
    if (!ok)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "bad '%s'", key);
    return check_channels_last(rd, cfg, name);
}

static int read_zeropad(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    return read_pad4(rd, cfg, name, "padding", l);
}

static int read_cropping(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    return read_pad4(rd, cfg, name, "cropping", l);
}

/* Reshape's target_shape: a list of 1 or 3 ints (without the batch), one of
 * them possibly -1; rank 2 targets have no engine layout and are refused. */
static int read_reshape(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *t = json_object_get(cfg, "target_shape");
    size_t n = json_is_array(t) ? json_array_size(t) : 0;
    if (n != 1 && n != 3)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Reshape target_shape must be (C) or (H, W, C)");
    l->target_rank = (int)n;
    l->target[0] = l->target[1] = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(t, i);
        int d = json_is_integer(v) ? keras_jint(v) : 0;
        if (d == 0 || d < -1)
            return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad Reshape target_shape");
        l->target[3 - n + i] = d;
    }
    return 0;
}

/* PReLU's shared_axes: null, or Keras axes 1 to 3 (channels_last). */
static int read_prelu(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *ax = json_object_get(cfg, "shared_axes"), *v;
    size_t i;
    l->shared_axes = 0;
    if (!ax || json_is_null(ax))
        return 0;
    if (json_is_integer(ax)) {
        json_int_t k = json_integer_value(ax);
        if (k < 1 || k > 3)
            return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "PReLU shared axis outside 1..3");
        l->shared_axes = 1 << (k - 1);
        return 0;
    }
    if (!json_is_array(ax))
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad PReLU shared_axes");
    json_array_foreach(ax, i, v) {
        json_int_t k = json_is_integer(v) ? json_integer_value(v) : 0;
        if (k < 1 || k > 3)
            return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "PReLU shared axis outside 1..3");
        l->shared_axes |= 1 << (k - 1);
    }
    return 0;
}

/* SeparableConv2D: DepthwiseConv2D's window and multiplier, Conv2D's filters. */
static int read_separable(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *f = json_object_get(cfg, "filters");
    if (!json_is_integer(f) || keras_jint(f) <= 0)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s",
                            "SeparableConv2D without a valid 'filters'");
    l->filters = keras_jint(f);
    return read_depthwise(rd, cfg, name, l);
}

/* Normalization: axis -1 (or the last, also as a one-element list), its
 * statistics in the weights (mean, variance, count); statistics given in the
 * config and `invert` are refused. */
static int read_normalization(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *ax = json_object_get(cfg, "axis");
    if (json_is_array(ax) && json_array_size(ax) == 1)
        ax = json_array_get(ax, 0);
    if (!json_is_integer(ax) && ax)
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Normalization over several axes or none (axis null) is not "
                            "supported, only the channel axis");
    l->axis = ax ? keras_jint(ax) : -1;
    l->epsilon = 1e-7f; /* Keras' backend.epsilon(), not in the config */
    json_t *mean = json_object_get(cfg, "mean"), *var = json_object_get(cfg, "variance");
    if ((mean && !json_is_null(mean)) || (var && !json_is_null(var)))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Normalization with mean and variance in its config is not supported "
                            "(only adapted statistics, stored as weights)");
    if (keras_jbool(cfg, "invert", 0))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Normalization with invert=True is not supported");
    return 0;
}

/* Resizing and CenterCrop: height and width. */
static int read_size(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    json_t *h = json_object_get(cfg, "height"), *w = json_object_get(cfg, "width");
    if (!json_is_integer(h) || !json_is_integer(w) || keras_jint(h) < 1 || keras_jint(w) < 1 ||
        keras_jint(h) > 1 << 15 || keras_jint(w) > 1 << 15)
        return keras_rd_bad(rd, CD_ERR_FORMAT, name, "%s", "bad 'height' or 'width'");
    l->size[0] = keras_jint(h);
    l->size[1] = keras_jint(w);
    return check_channels_last(rd, cfg, name);
}

/* Resizing: bilinear or nearest, without aspect-ratio cropping or padding. */
static int read_resizing(const keras_rd *rd, json_t *cfg, const char *name, layer *l)
{
    const char *in = keras_jstr(cfg, "interpolation");
    if (!in || strcmp(in, "bilinear") == 0)
        l->interp = INTERP_BILINEAR;
    else if (strcmp(in, "nearest") == 0)
        l->interp = INTERP_NEAREST;
    else
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name,
                            "Resizing with interpolation '%s' is not supported (bilinear, "
                            "nearest)",
                            in);
    if (keras_jbool(cfg, "crop_to_aspect_ratio", 0) || keras_jbool(cfg, "pad_to_aspect_ratio", 0))
        return keras_rd_bad(rd, CD_ERR_UNSUPPORTED, name, "%s",
                            "Resizing with crop_to_aspect_ratio or pad_to_aspect_ratio is not "
                            "supported");
    return read_size(rd, cfg, name, l);
}

static const keras_reader readers[] = {
    {"PReLU", LAYER_PRELU, 0, read_prelu},
    {"Reshape", LAYER_RESHAPE, 0, read_reshape},
    {"BatchNormalization", LAYER_BATCHNORM, 0, read_batchnorm},
    {"Rescaling", LAYER_RESCALING, 0, read_rescaling},
    {"ZeroPadding2D", LAYER_ZEROPAD2D, 0, read_zeropad},
    {"Cropping2D", LAYER_CROPPING2D, 0, read_cropping},
    {"Add", LAYER_ADD, 1, NULL},
    {"Subtract", LAYER_SUBTRACT, 1, NULL},
    {"Multiply", LAYER_MULTIPLY, 1, NULL},
    {"Average", LAYER_AVERAGE, 1, NULL},
    {"Maximum", LAYER_MAXIMUM, 1, NULL},
    {"Conv2D", LAYER_CONV2D, 0, read_conv2d},
    {"Convolution2D", LAYER_CONV2D, 0, read_conv2d},
    {"DepthwiseConv2D", LAYER_DEPTHWISE_CONV2D, 0, read_depthwise},
    {"MaxPooling2D", LAYER_MAXPOOL2D, 0, read_pool},
    {"AveragePooling2D", LAYER_AVGPOOL2D, 0, read_pool},
    {"GlobalAveragePooling2D", LAYER_GLOBAL_AVGPOOL2D, 0, read_global_pool},
    {"GlobalMaxPooling2D", LAYER_GLOBAL_MAXPOOL2D, 0, read_global_pool},
    {"Flatten", LAYER_FLATTEN, 0, read_flatten},
    {"Dense", LAYER_DENSE, 0, read_dense},
    {"Activation", LAYER_ACTIVATION, 0, read_activation},
    {"ReLU", LAYER_ACTIVATION, 0, read_relu},
    {"LeakyReLU", LAYER_ACTIVATION, 0, read_leaky_relu},
    {"ELU", LAYER_ACTIVATION, 0, read_elu},
    {"ThresholdedReLU", LAYER_ACTIVATION, 0, read_thresholded_relu},
    {"Softmax", LAYER_ACTIVATION, 0, read_softmax},
    {"Dropout", LAYER_DROPOUT, 0, read_dropout},
    {"Concatenate", LAYER_CONCAT, 1, read_concat},
    {"Normalization", LAYER_NORMALIZATION, 0, read_normalization},
    {"Resizing", LAYER_RESIZING, 0, read_resizing},
    {"CenterCrop", LAYER_CENTER_CROP, 0, read_size},
    {"SeparableConv2D", LAYER_SEPARABLE_CONV2D, 0, read_separable},
    {"SeparableConvolution2D", LAYER_SEPARABLE_CONV2D, 0, read_separable},
};

const keras_reader *keras_reader_find(const char *cls)
{
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
        if (strcmp(readers[i].class_name, cls) == 0)
            return &readers[i];
    return NULL;
}

/* Active only in training; at inference each passes its input through
 * unchanged (RandomCrop is not here: at inference it crops to its size). */
static const char *const identity_classes[] = {
    "RandomFlip",    "RandomRotation", "RandomZoom",     "RandomTranslation",
    "RandomContrast", "RandomBrightness", "SpatialDropout2D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout",
};

int keras_inference_identity(const char *cls)
{
    for (size_t i = 0; i < sizeof identity_classes / sizeof identity_classes[0]; i++)
        if (strcmp(identity_classes[i], cls) == 0)
            return 1;
    return 0;
}

/* ---- writers, one per kind -------------------------------------------- */

static void set(json_t *obj, const char *key, json_t *val, int *oom)
{
    if (!obj || !val || json_object_set_new(obj, key, val) != 0)
        *oom = 1;
}

static json_t *pair(int a, int b)
{
    return json_pack("[ii]", a, b);
}

static json_t *padding_name(layer_pad p)
{
    return json_string(p == PAD_SAME ? "same" : "valid");
}

/* The initializer, regularizer and constraint keys of a layer with a kernel. */
static void write_weights_config(json_t *c, int *oom)
{
    set(c, "kernel_initializer",
        json_pack("{s:s, s:{s:f, s:s, s:s, s:n}}", "class_name", "VarianceScaling", "config",
                  "scale", 1.0, "mode", "fan_avg", "distribution", "uniform", "seed"),
        oom);
    set(c, "bias_initializer", json_pack("{s:s, s:{}}", "class_name", "Zeros", "config"), oom);
    set(c, "kernel_regularizer", json_null(), oom);
    set(c, "bias_regularizer", json_null(), oom);
    set(c, "activity_regularizer", json_null(), oom);
    set(c, "kernel_constraint", json_null(), oom);
    set(c, "bias_constraint", json_null(), oom);
}

static void write_nothing(json_t *c, const layer *l, int *oom)
{
    (void)c;
    (void)l;
    (void)oom;
}

/* The activation string of a Conv2D/Dense/Activation; ReLU6 is spelt as a
 * ReLU layer by keras_layer_class when it stands alone (Keras 2 has no
 * "relu6" string) but kept as a string when fused, where it was read. */
static json_t *act_string(const layer *l)
{
    return json_string(layer_act_name(l->act));
}

static void write_conv2d(json_t *c, const layer *l, int *oom)
{
    set(c, "filters", json_integer(l->filters), oom);
    set(c, "kernel_size", pair(l->kernel[0], l->kernel[1]), oom);
    set(c, "strides", pair(l->strides[0], l->strides[1]), oom);
    set(c, "padding", padding_name(l->padding), oom);
    set(c, "data_format", json_string("channels_last"), oom);
    set(c, "dilation_rate", pair(layer_dilation(l, 0), layer_dilation(l, 1)), oom);
    /* Keras before 2.3 has no `groups` and refuses unknown keys: only when used */
    if (layer_groups(l) > 1)
        set(c, "groups", json_integer(layer_groups(l)), oom);
    set(c, "activation", act_string(l), oom);
    set(c, "use_bias", json_boolean(l->use_bias), oom);
    write_weights_config(c, oom);
}

static void write_depthwise(json_t *c, const layer *l, int *oom)
{
    set(c, "kernel_size", pair(l->kernel[0], l->kernel[1]), oom);
    set(c, "strides", pair(l->strides[0], l->strides[1]), oom);
    set(c, "padding", padding_name(l->padding), oom);
    set(c, "depth_multiplier", json_integer(l->depth_multiplier > 1 ? l->depth_multiplier : 1), oom);
    set(c, "data_format", json_string("channels_last"), oom);
    set(c, "dilation_rate", pair(layer_dilation(l, 0), layer_dilation(l, 1)), oom);
    set(c, "activation", act_string(l), oom);
    set(c, "use_bias", json_boolean(l->use_bias), oom);
    set(c, "depthwise_initializer",
        json_pack("{s:s, s:{s:n}}", "class_name", "GlorotUniform", "config", "seed"), oom);
    set(c, "bias_initializer", json_pack("{s:s, s:{}}", "class_name", "Zeros", "config"), oom);
    set(c, "depthwise_regularizer", json_null(), oom);
    set(c, "bias_regularizer", json_null(), oom);
    set(c, "activity_regularizer", json_null(), oom);
    set(c, "depthwise_constraint", json_null(), oom);
    set(c, "bias_constraint", json_null(), oom);
}

static void write_dense(json_t *c, const layer *l, int *oom)
{
    set(c, "units", json_integer(l->units), oom);
    set(c, "activation", act_string(l), oom);
    set(c, "use_bias", json_boolean(l->use_bias), oom);
    write_weights_config(c, oom);
}

static void write_pool(json_t *c, const layer *l, int *oom)
{
    set(c, "pool_size", pair(l->pool[0], l->pool[1]), oom);
    set(c, "padding", padding_name(l->padding), oom);
    set(c, "strides", pair(l->strides[0], l->strides[1]), oom);
    set(c, "data_format", json_string("channels_last"), oom);
}

static void write_channels_last(json_t *c, const layer *l, int *oom)
{
    (void)l;
    set(c, "data_format", json_string("channels_last"), oom);
}

static void write_global_pool(json_t *c, const layer *l, int *oom)
{
    set(c, "data_format", json_string("channels_last"), oom);
    if (l->keepdims) /* Keras 2.2.4 has no keepdims: written only when it matters */
        set(c, "keepdims", json_true(), oom);
}

static void write_activation(json_t *c, const layer *l, int *oom)
{
    switch (l->act) {
    case ACT_LEAKY_RELU:
        set(c, "alpha", json_real(l->act_p.alpha), oom); /* Keras 3 reads it too */
        return;
    case ACT_ELU:
        if (l->act_p.alpha != 1.0f) {
            set(c, "alpha", json_real(l->act_p.alpha), oom);
            return;
        }
        break;
    case ACT_RELU6:
    case ACT_RELU_X:
        set(c, "max_value", l->act == ACT_RELU6 ? json_real(6.0)
                            : l->act_p.max_value < 0.0f ? json_null()
                                                        : json_real(l->act_p.max_value),
            oom);
        set(c, "negative_slope", json_real(l->act == ACT_RELU6 ? 0.0 : l->act_p.alpha), oom);
        set(c, "threshold", json_real(l->act == ACT_RELU6 ? 0.0 : l->act_p.threshold), oom);
        return;
    default:
        break;
    }
    set(c, "activation", act_string(l), oom);
}

const char *keras_layer_class(const layer *l)
{
    if (l->kind == LAYER_ACTIVATION) {
        if (l->act == ACT_LEAKY_RELU)
            return "LeakyReLU";
        if (l->act == ACT_ELU && l->act_p.alpha != 1.0f)
            return "ELU";
        if (l->act == ACT_RELU6 || l->act == ACT_RELU_X)
            return "ReLU";
    }
    return layer_kind_name(l->kind);
}

const char *keras_layer_unwritable(const layer *l)
{
    if (!(l->kind == LAYER_ACTIVATION || l->kind == LAYER_CONV2D || l->kind == LAYER_DENSE ||
          l->kind == LAYER_DEPTHWISE_CONV2D || l->kind == LAYER_SEPARABLE_CONV2D))
        return NULL;
    if (l->act == ACT_HARD_SIGMOID6)
        return "Keras 3's hard_sigmoid (relu6(x + 3) / 6)";
    if (l->act == ACT_GELU_TANH)
        return "gelu's tanh approximation";
    if (l->kind == LAYER_ACTIVATION)
        return NULL;
    /* fused: only the string's own parameters can be written */
    layer_act_params d = layer_act_defaults(l->act);
    if (l->act == ACT_RELU_X)
        return "a ReLU with max_value, negative_slope or threshold fused into the layer";
    if ((l->act == ACT_LEAKY_RELU || l->act == ACT_ELU) && l->act_p.alpha != d.alpha)
        return "a slope other than the activation string's default";
    return NULL;
}

static void write_dropout(json_t *c, const layer *l, int *oom)
{
    set(c, "rate", json_real(l->rate), oom);
    set(c, "noise_shape", json_null(), oom);
    set(c, "seed", json_null(), oom);
}

static void write_concat(json_t *c, const layer *l, int *oom)
{
    (void)l;
    set(c, "axis", json_integer(-1), oom);
}

static void write_batchnorm(json_t *c, const layer *l, int *oom)
{
    set(c, "axis", json_integer(-1), oom);
    set(c, "momentum", json_real(l->rate), oom);
    set(c, "epsilon", json_real(l->epsilon), oom);
    set(c, "center", json_boolean(l->center), oom);
    set(c, "scale", json_boolean(l->scale), oom);
    set(c, "beta_initializer", json_pack("{s:s, s:{}}", "class_name", "Zeros", "config"), oom);
    set(c, "gamma_initializer", json_pack("{s:s, s:{}}", "class_name", "Ones", "config"), oom);
    set(c, "moving_mean_initializer", json_pack("{s:s, s:{}}", "class_name", "Zeros", "config"),
        oom);
    set(c, "moving_variance_initializer",
        json_pack("{s:s, s:{}}", "class_name", "Ones", "config"), oom);
    set(c, "beta_regularizer", json_null(), oom);
    set(c, "gamma_regularizer", json_null(), oom);
    set(c, "beta_constraint", json_null(), oom);
    set(c, "gamma_constraint", json_null(), oom);
}

/* A Rescaling value in the form it was read in: a number, or a list. */
static json_t *rescale_json(const layer *l, int k)
{
    if (l->rescale_n[k] < 1)
        return json_real(l->rescale[k][0]);
    json_t *a = json_array();
    for (int c = 0; a && c < l->rescale_n[k]; c++)
        if (json_array_append_new(a, json_real(l->rescale[k][c])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static void write_rescaling(json_t *c, const layer *l, int *oom)
{
    set(c, "scale", rescale_json(l, 0), oom);
    set(c, "offset", rescale_json(l, 1), oom);
}

static void write_pad4(json_t *c, const layer *l, const char *key, int *oom)
{
    set(c, key, json_pack("[[ii][ii]]", l->pad4[0], l->pad4[1], l->pad4[2], l->pad4[3]), oom);
    set(c, "data_format", json_string("channels_last"), oom);
}

static void write_zeropad(json_t *c, const layer *l, int *oom)
{
    write_pad4(c, l, "padding", oom);
}

static void write_cropping(json_t *c, const layer *l, int *oom)
{
    write_pad4(c, l, "cropping", oom);
}

static void write_prelu(json_t *c, const layer *l, int *oom)
{
    set(c, "alpha_initializer", json_pack("{s:s, s:{}}", "class_name", "Zeros", "config"), oom);
    set(c, "alpha_regularizer", json_null(), oom);
    set(c, "alpha_constraint", json_null(), oom);
    if (!l->shared_axes) {
        set(c, "shared_axes", json_null(), oom);
        return;
    }
    json_t *ax = json_array();
    for (int k = 0; k < 3; k++)
        if ((l->shared_axes & (1 << k)) && (!ax || json_array_append_new(ax, json_integer(k + 1))))
            *oom = 1;
    set(c, "shared_axes", ax, oom);
}

static void write_reshape(json_t *c, const layer *l, int *oom)
{
    json_t *t = l->target_rank == 1 ? json_pack("[i]", l->target[2])
                                    : json_pack("[i,i,i]", l->target[0], l->target[1], l->target[2]);
    set(c, "target_shape", t, oom);
}

static void write_normalization(json_t *c, const layer *l, int *oom)
{
    (void)l;
    set(c, "axis", json_integer(-1), oom);
    set(c, "mean", json_null(), oom);
    set(c, "variance", json_null(), oom);
}

static void write_size(json_t *c, const layer *l, int *oom)
{
    set(c, "height", json_integer(l->size[0]), oom);
    set(c, "width", json_integer(l->size[1]), oom);
}

static void write_resizing(json_t *c, const layer *l, int *oom)
{
    write_size(c, l, oom);
    set(c, "interpolation", json_string(l->interp == INTERP_NEAREST ? "nearest" : "bilinear"),
        oom);
    set(c, "crop_to_aspect_ratio", json_false(), oom);
}

static void write_separable(json_t *c, const layer *l, int *oom)
{
    set(c, "filters", json_integer(l->filters), oom);
    write_depthwise(c, l, oom);
    set(c, "pointwise_initializer",
        json_pack("{s:s, s:{s:n}}", "class_name", "GlorotUniform", "config", "seed"), oom);
    set(c, "pointwise_regularizer", json_null(), oom);
    set(c, "pointwise_constraint", json_null(), oom);
}

typedef void (*keras_writer)(json_t *c, const layer *l, int *oom);

static const keras_writer writers[] = {
    [LAYER_INPUT] = write_nothing, /* keras_json_write.c writes the input's shape */
    [LAYER_CONV2D] = write_conv2d,
    [LAYER_MAXPOOL2D] = write_pool,
    [LAYER_AVGPOOL2D] = write_pool,
    [LAYER_GLOBAL_AVGPOOL2D] = write_global_pool,
    [LAYER_GLOBAL_MAXPOOL2D] = write_global_pool,
    [LAYER_FLATTEN] = write_channels_last,
    [LAYER_DENSE] = write_dense,
    [LAYER_ACTIVATION] = write_activation,
    [LAYER_DROPOUT] = write_dropout,
    [LAYER_CONCAT] = write_concat,
    [LAYER_BATCHNORM] = write_batchnorm,
    [LAYER_RESCALING] = write_rescaling,
    [LAYER_ZEROPAD2D] = write_zeropad,
    [LAYER_ADD] = write_nothing,
    [LAYER_SUBTRACT] = write_nothing,
    [LAYER_MULTIPLY] = write_nothing,
    [LAYER_AVERAGE] = write_nothing,
    [LAYER_MAXIMUM] = write_nothing,
    [LAYER_CROPPING2D] = write_cropping,
    [LAYER_DEPTHWISE_CONV2D] = write_depthwise,
    [LAYER_PRELU] = write_prelu,
    [LAYER_RESHAPE] = write_reshape,
    [LAYER_NORMALIZATION] = write_normalization,
    [LAYER_RESIZING] = write_resizing,
    [LAYER_CENTER_CROP] = write_size,
    [LAYER_SEPARABLE_CONV2D] = write_separable,
};
_Static_assert(sizeof writers / sizeof writers[0] == LAYER_KIND_COUNT,
               "every layer kind needs a Keras writer row");

void keras_layer_write(json_t *c, const layer *l, int *oom)
{
    if ((int)l->kind < 0 || l->kind >= LAYER_KIND_COUNT || !writers[l->kind])
        return;
    writers[l->kind](c, l, oom);
}
