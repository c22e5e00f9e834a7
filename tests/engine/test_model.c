/* tests/engine/test_model.c - model graphs: shapes, parameter checks, counts,
 * initialisation and the Keras-style summary. */
#include "test_util.h"

#include <math.h>

#include "engine/model.h"

static int add_input(model *m, int h, int w, int c)
{
    layer l = layer_template(LAYER_INPUT, "input_1", -1);
    l.in_h = h;
    l.in_w = w;
    l.in_c = c;
    return model_add(m, &l, NULL);
}

static int add_conv(model *m, const char *name, int in, int filters, int k, int s, layer_pad pad,
                    layer_act act)
{
    layer l = layer_template(LAYER_CONV2D, name, in);
    l.filters = filters;
    l.kernel[0] = l.kernel[1] = k;
    l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    l.act = act;
    return model_add(m, &l, NULL);
}

static int add_pool(model *m, layer_kind kind, const char *name, int in, int p, int s,
                    layer_pad pad)
{
    layer l = layer_template(kind, name, in);
    l.pool[0] = l.pool[1] = p;
    if (s > 0)
        l.strides[0] = l.strides[1] = s;
    l.padding = pad;
    return model_add(m, &l, NULL);
}

static int add_simple(model *m, layer_kind kind, const char *name, int in)
{
    layer l = layer_template(kind, name, in);
    return model_add(m, &l, NULL);
}

static int add_dense(model *m, const char *name, int in, int units, layer_act act)
{
    layer l = layer_template(LAYER_DENSE, name, in);
    l.units = units;
    l.act = act;
    return model_add(m, &l, NULL);
}

/* The seed's binary CNN, built layer by layer (pool strides left to default). */
static model *binary_cnn(int size)
{
    model *m = model_new("sequential_1", NULL);
    int i = add_input(m, size, size, 3);
    i = add_conv(m, "conv2d_1", i, 32, 3, 1, PAD_VALID, ACT_RELU);
    i = add_pool(m, LAYER_MAXPOOL2D, "max_pooling2d_1", i, 2, 0, PAD_VALID);
    i = add_conv(m, "conv2d_2", i, 32, 3, 1, PAD_VALID, ACT_RELU);
    i = add_pool(m, LAYER_MAXPOOL2D, "max_pooling2d_2", i, 2, 0, PAD_VALID);
    i = add_conv(m, "conv2d_3", i, 64, 3, 1, PAD_VALID, ACT_RELU);
    i = add_pool(m, LAYER_MAXPOOL2D, "max_pooling2d_3", i, 2, 0, PAD_VALID);
    i = add_simple(m, LAYER_FLATTEN, "flatten_1", i);
    i = add_dense(m, "dense_1", i, 64, ACT_RELU);
    layer d = layer_template(LAYER_DROPOUT, "dropout_1", i);
    d.rate = 0.5f;
    i = model_add(m, &d, NULL);
    add_dense(m, "dense_2", i, 1, ACT_SIGMOID);
    return m;
}

static void assert_shape(const model *m, const char *name, int h, int w, int c, int rank)
{
    int i = model_find(m, name);
    assert_true(i >= 0);
    const layer *l = &m->layers[i];
    if (l->out_h != h || l->out_w != w || l->out_c != c || l->out_rank != rank)
        fail_msg("%s: got %dx%dx%d rank %d, want %dx%dx%d rank %d", name, l->out_h, l->out_w,
                 l->out_c, l->out_rank, h, w, c, rank);
}

static void test_binary_cnn_150_has_keras_shapes_and_1212513_params(void **state)
{
    (void)state;
    cd_err err;
    model *m = binary_cnn(150);
    assert_int_equal(m->n_layers, 11);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_shape(m, "conv2d_1", 148, 148, 32, 4);
    assert_shape(m, "max_pooling2d_1", 74, 74, 32, 4);
    assert_shape(m, "conv2d_2", 72, 72, 32, 4);
    assert_shape(m, "max_pooling2d_2", 36, 36, 32, 4);
    assert_shape(m, "conv2d_3", 34, 34, 64, 4);
    assert_shape(m, "max_pooling2d_3", 17, 17, 64, 4);
    assert_shape(m, "flatten_1", 1, 1, 18496, 2);
    assert_shape(m, "dense_1", 1, 1, 64, 2);
    assert_shape(m, "dropout_1", 1, 1, 64, 2);
    assert_shape(m, "dense_2", 1, 1, 1, 2);
    /* pooling strides defaulted to the pool size */
    assert_int_equal(m->layers[model_find(m, "max_pooling2d_1")].strides[0], 2);

    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 1212513);
    assert_int_equal(trainable, 1212513);
    assert_int_equal(frozen, 0);
    assert_int_equal(model_output_size(m), 1);
    assert_int_equal(model_output_index(m), 10);
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    assert_int_equal(h * 10000 + w * 10 + c, 150 * 10000 + 1500 + 3);

    const layer *k = &m->layers[model_find(m, "dense_1")];
    assert_int_equal(k->n_params, 2);
    assert_int_equal(k->params[0]->dims[0], 18496);
    assert_int_equal(k->params[0]->dims[1], 64);
    model_free(m);
}

static void test_frozen_layers_count_as_non_trainable(void **state)
{
    (void)state;
    model *m = binary_cnn(150);
    m->layers[model_find(m, "conv2d_1")].trainable = 0;
    m->layers[model_find(m, "dense_2")].trainable = 0;
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 1212513);
    assert_int_equal(frozen, 896 + 65);
    assert_int_equal(trainable, 1212513 - 896 - 65);
    model_free(m);
}

static void test_wrong_kernel_shape_names_layer_and_shapes(void **state)
{
    (void)state;
    cd_err err;
    model *m = binary_cnn(150);
    int dims[2] = {100, 64};
    m->layers[model_find(m, "dense_1")].params[0] = tensor_new(2, dims, NULL);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_string_equal(err.msg, "layer 'dense_1': kernel has shape (100, 64), expected (18496, 64)");
    model_free(m);

    m = binary_cnn(150);
    int bd[1] = {31};
    m->layers[model_find(m, "conv2d_1")].params[1] = tensor_new(1, bd, NULL);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_string_equal(err.msg, "layer 'conv2d_1': bias has shape (31,), expected (32,)");
    model_free(m);
}

static void test_present_params_are_kept(void **state)
{
    (void)state;
    model *m = binary_cnn(150);
    int dims[4] = {3, 3, 3, 32};
    tensor *k = tensor_new(4, dims, NULL);
    k->data[7] = 1.5f;
    m->layers[1].params[0] = k;
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    assert_ptr_equal(m->layers[1].params[0], k);
    assert_true(m->layers[1].params[0]->data[7] == 1.5f);
    /* inferring again is harmless */
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    model_free(m);
}

static void test_too_small_input_is_a_clear_error(void **state)
{
    (void)state;
    cd_err err;
    model *m = binary_cnn(16); /* 14 -> 7 -> 5 -> 2 -> 0: the last conv fails */
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_string_equal(err.msg,
                        "layer 'conv2d_3': input 2x2 is smaller than the kernel 3x3 "
                        "(input size 16x16 too small for this architecture)");
    model_free(m);

    m = binary_cnn(20); /* 18 -> 9 -> 7 -> 3 -> 1 -> pool 2 fails */
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_non_null(strstr(err.msg, "layer 'max_pooling2d_3': input 1x1 is smaller than the pool 2x2"));
    assert_non_null(strstr(err.msg, "20x20 too small"));
    model_free(m);
}

static void test_same_and_valid_padding_follow_tensorflow(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("pads", NULL);
    int in = add_input(m, 7, 9, 2);
    add_conv(m, "same_s2", in, 4, 3, 2, PAD_SAME, ACT_LINEAR);     /* ceil(7/2)=4, ceil(9/2)=5 */
    add_conv(m, "valid_s2", in, 4, 3, 2, PAD_VALID, ACT_LINEAR);   /* (7-3)/2+1=3, (9-3)/2+1=4 */
    add_conv(m, "same_k5", in, 1, 5, 1, PAD_SAME, ACT_LINEAR);     /* 7x9 */
    add_pool(m, LAYER_MAXPOOL2D, "pool3s2", in, 3, 2, PAD_VALID);  /* 3x4 */
    add_pool(m, LAYER_AVGPOOL2D, "avg_same", in, 2, 0, PAD_SAME);  /* 4x5 */
    add_pool(m, LAYER_MAXPOOL2D, "pool_s1", in, 2, 1, PAD_VALID);  /* 6x8 */
    int g = add_simple(m, LAYER_GLOBAL_AVGPOOL2D, "gap", in);
    add_simple(m, LAYER_GLOBAL_MAXPOOL2D, "gmp", in);
    add_simple(m, LAYER_ACTIVATION, "act", g);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_shape(m, "same_s2", 4, 5, 4, 4);
    assert_shape(m, "valid_s2", 3, 4, 4, 4);
    assert_shape(m, "same_k5", 7, 9, 1, 4);
    assert_shape(m, "pool3s2", 3, 4, 2, 4);
    assert_shape(m, "avg_same", 4, 5, 2, 4);
    assert_shape(m, "pool_s1", 6, 8, 2, 4);
    assert_shape(m, "gap", 1, 1, 2, 2);
    assert_shape(m, "gmp", 1, 1, 2, 2);
    assert_shape(m, "act", 1, 1, 2, 2);
    /* squeezenet's first stages: conv 3x3/2 valid then maxpool 3/2 */
    model *s = model_new("sq", NULL);
    int i = add_input(s, 224, 224, 3);
    i = add_conv(s, "conv1", i, 64, 3, 2, PAD_VALID, ACT_RELU);
    add_pool(s, LAYER_MAXPOOL2D, "pool1", i, 3, 2, PAD_VALID);
    assert_int_equal(model_infer_shapes(s, NULL), 0);
    assert_shape(s, "conv1", 111, 111, 64, 4);
    assert_shape(s, "pool1", 55, 55, 64, 4);
    model_free(s);
    model_free(m);
}

static void test_concat_sums_channels_and_checks_sizes(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("fire", NULL);
    int in = add_input(m, 13, 13, 8);
    int sq = add_conv(m, "squeeze", in, 4, 1, 1, PAD_VALID, ACT_RELU);
    int e1 = add_conv(m, "expand1x1", sq, 6, 1, 1, PAD_VALID, ACT_RELU);
    int e3 = add_conv(m, "expand3x3", sq, 10, 3, 1, PAD_SAME, ACT_RELU);
    layer c = layer_template(LAYER_CONCAT, "concat", e1);
    c.inputs[1] = e3;
    c.n_inputs = 2;
    assert_true(model_add(m, &c, NULL) > 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_shape(m, "concat", 13, 13, 16, 4);
    size_t total;
    model_param_counts(m, &total, NULL, NULL);
    assert_int_equal(total, (8 * 4 + 4) + (4 * 6 + 6) + (9 * 4 * 10 + 10));
    model_free(m);

    m = model_new("bad", NULL);
    in = add_input(m, 13, 13, 8);
    e1 = add_conv(m, "a", in, 6, 1, 1, PAD_VALID, ACT_LINEAR);
    e3 = add_conv(m, "b", in, 6, 3, 1, PAD_VALID, ACT_LINEAR);
    c = layer_template(LAYER_CONCAT, "concat", e1);
    c.inputs[1] = e3;
    c.n_inputs = 2;
    model_add(m, &c, NULL);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_non_null(strstr(err.msg, "layer 'concat'"));
    assert_non_null(strstr(err.msg, "13x13"));
    assert_non_null(strstr(err.msg, "11x11"));
    model_free(m);
}

/* A model may not ask for more than MODEL_MAX_PARAMS parameters or a layer
 * output over MODEL_MAX_LAYER_VALUES: refused before allocating, naming the
 * layer; sizes that would overflow an int (SAME padding over a huge stride, a
 * wide Dense, Flatten of a huge map) are refused the same way. */
static void test_size_limits_refuse_before_allocating(void **state)
{
    (void)state;
    cd_err err;
    /* A Dense of 2^28 inputs x 8 units = 2^31 parameters. */
    model *m = model_new("wide", NULL);
    int i = add_input(m, 1 << 14, 1 << 14, 1);
    i = add_simple(m, LAYER_FLATTEN, "flatten", i);
    add_dense(m, "dense_huge", i, 8, ACT_LINEAR);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "layer 'dense_huge'"));
    assert_non_null(strstr(err.msg, "(268435456, 8)"));
    assert_null(m->layers[2].params[0]);
    model_free(m);

    /* Many layers each under the limit, together over it. */
    m = model_new("deep", NULL);
    i = add_input(m, 1, 1, 16384);
    i = add_simple(m, LAYER_FLATTEN, "flatten", i);
    char name[16];
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, "dense_%d", k);
        i = add_dense(m, name, i, 16384, ACT_LINEAR); /* 2^28 + 2^14 parameters each */
    }
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "layer 'dense_3'"));
    assert_null(m->layers[5].params[0]);
    model_free(m);

    /* An input or a convolution output over the per-layer limit. */
    m = model_new("big_input", NULL);
    add_input(m, 100000, 100000, 3);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "layer 'input_1'"));
    assert_non_null(strstr(err.msg, "100000x100000x3"));
    model_free(m);
    m = model_new("big_conv", NULL);
    i = add_input(m, 4096, 4096, 3);
    add_conv(m, "conv_wide", i, 64, 3, 1, PAD_SAME, ACT_RELU);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "layer 'conv_wide'"));
    model_free(m);

    /* SAME padding with a stride near INT_MAX: no overflow, output 1x1. */
    m = model_new("stride", NULL);
    i = add_input(m, 64, 64, 3);
    add_pool(m, LAYER_MAXPOOL2D, "pool", i, 2, 2147483647, PAD_SAME);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_shape(m, "pool", 1, 1, 3, 4);
    model_free(m);

    /* INT_MAX filters: refused from the count, before any allocation. */
    m = model_new("overflow", NULL);
    i = add_input(m, 8, 8, 3);
    layer l = layer_template(LAYER_CONV2D, "conv_overflow", i);
    l.filters = 2147483647;
    l.kernel[0] = l.kernel[1] = 1;
    l.padding = PAD_SAME;
    model_add(m, &l, NULL);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "layer 'conv_overflow'"));
    model_free(m);
}

static void test_model_add_checks_names_and_inputs(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("m", &err);
    assert_int_equal(add_input(m, 4, 4, 1), 0);
    layer l = layer_template(LAYER_FLATTEN, "input_1", 0);
    assert_int_equal(model_add(m, &l, &err), -1);
    assert_non_null(strstr(err.msg, "'input_1' is not unique"));
    l = layer_template(LAYER_FLATTEN, "f", 3);
    assert_int_equal(model_add(m, &l, &err), -1);
    assert_non_null(strstr(err.msg, "not before it"));
    /* a failed add still takes the params over (no leak under ASan) */
    l = layer_template(LAYER_DENSE, "input_1", 0);
    int d[2] = {2, 2};
    l.params[0] = tensor_new(2, d, NULL);
    l.n_params = 1;
    assert_int_equal(model_add(m, &l, &err), -1);
    assert_int_equal(model_find(m, "input_1"), 0);
    assert_int_equal(model_find(m, "nope"), -1);
    /* Dense on a 4-D map asks for a Flatten */
    l = layer_template(LAYER_DENSE, "dense", 0);
    l.units = 3;
    assert_int_equal(model_add(m, &l, &err), 1);
    assert_int_equal(model_infer_shapes(m, &err), -1);
    assert_non_null(strstr(err.msg, "Flatten"));
    model_free(m);
}

static void test_glorot_init_is_seeded_and_bounded(void **state)
{
    (void)state;
    model *a = binary_cnn(32), *b = binary_cnn(32), *c = binary_cnn(32);
    assert_int_equal(model_infer_shapes(a, NULL), 0);
    assert_int_equal(model_infer_shapes(b, NULL), 0);
    assert_int_equal(model_infer_shapes(c, NULL), 0);
    model_init_params(a, 42);
    model_init_params(b, 42);
    model_init_params(c, 43);
    int differs = 0;
    for (int i = 0; i < a->n_layers; i++) {
        layer *la = &a->layers[i];
        for (int p = 0; p < la->n_params; p++) {
            tensor *ta = la->params[p], *tb = b->layers[i].params[p], *tc = c->layers[i].params[p];
            assert_memory_equal(ta->data, tb->data, ta->size * sizeof(float));
            differs |= memcmp(ta->data, tc->data, ta->size * sizeof(float)) != 0;
            if (p == 1) {
                for (size_t j = 0; j < ta->size; j++)
                    assert_true(ta->data[j] == 0.0f);
                continue;
            }
            double fan_in, fan_out;
            if (ta->rank == 4) {
                fan_in = 9.0 * ta->dims[2];
                fan_out = 9.0 * ta->dims[3];
            } else {
                fan_in = ta->dims[0];
                fan_out = ta->dims[1];
            }
            double limit = sqrt(6.0 / (fan_in + fan_out)), sum2 = 0.0;
            for (size_t j = 0; j < ta->size; j++) {
                assert_true(fabs(ta->data[j]) <= limit);
                sum2 += (double)ta->data[j] * ta->data[j];
            }
            /* uniform(-l, l) has variance l^2/3 */
            if (ta->size > 500) {
                double var = sum2 / (double)ta->size;
                assert_true(fabs(var / (limit * limit / 3.0) - 1.0) < 0.15);
            }
        }
    }
    assert_true(differs);
    model_free(a);
    model_free(b);
    model_free(c);
}

static char *summary_text(const model *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    model_summary(m, f);
    fclose(f);
    return buf;
}

static void test_summary_matches_keras_layout(void **state)
{
    (void)state;
    model *m = binary_cnn(150);
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    char *s = summary_text(m);
    const char *want_lines[] = {
        "Layer (type)                 Output Shape              Param #   \n"
        "=================================================================\n"
        "conv2d_1 (Conv2D)            (None, 148, 148, 32)      896       \n"
        "_________________________________________________________________\n"
        "max_pooling2d_1 (MaxPooling2 (None, 74, 74, 32)        0         \n",
        "flatten_1 (Flatten)          (None, 18496)             0         \n",
        "dense_1 (Dense)              (None, 64)                1183808   \n",
        "dense_2 (Dense)              (None, 1)                 65        \n"
        "=================================================================\n"
        "Total params: 1,212,513\n"
        "Trainable params: 1,212,513\n"
        "Non-trainable params: 0\n"
        "_________________________________________________________________\n",
    };
    for (size_t i = 0; i < sizeof want_lines / sizeof want_lines[0]; i++)
        if (!strstr(s, want_lines[i]))
            fail_msg("summary lacks:\n%s\ngot:\n%s", want_lines[i], s);
    assert_null(strstr(s, "InputLayer")); /* a Sequential chain hides its input, as Keras */
    free(s);
    model_free(m);
}

static void test_summary_shows_nested_model_as_one_line(void **state)
{
    (void)state;
    model *m = model_new("sequential_1", NULL);
    layer l = layer_template(LAYER_INPUT, "input_1", -1);
    l.in_h = l.in_w = 8;
    l.in_c = 3;
    snprintf(l.scope, sizeof l.scope, "tiny_vgg");
    int i = model_add(m, &l, NULL);
    l = layer_template(LAYER_CONV2D, "block1_conv1", i);
    l.filters = 4;
    l.kernel[0] = l.kernel[1] = 3;
    l.padding = PAD_SAME;
    l.trainable = 0;
    snprintf(l.scope, sizeof l.scope, "tiny_vgg");
    i = model_add(m, &l, NULL);
    l = layer_template(LAYER_MAXPOOL2D, "block1_pool", i);
    l.pool[0] = l.pool[1] = 2;
    l.trainable = 0;
    snprintf(l.scope, sizeof l.scope, "tiny_vgg");
    i = model_add(m, &l, NULL);
    i = add_simple(m, LAYER_FLATTEN, "flatten_1", i);
    add_dense(m, "dense_1", i, 1, ACT_SIGMOID);
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    char *s = summary_text(m);
    if (!strstr(s, "tiny_vgg (Model)             (None, 4, 4, 4)           112       \n"))
        fail_msg("got:\n%s", s);
    assert_null(strstr(s, "block1_conv1"));
    assert_non_null(strstr(s, "dense_1 (Dense)              (None, 1)                 65        \n"));
    assert_non_null(strstr(s, "Total params: 177\nTrainable params: 65\nNon-trainable params: 112\n"));
    free(s);
    model_free(m);
}

static void test_summary_of_a_dag_shows_its_input(void **state)
{
    (void)state;
    model *m = model_new("fire", NULL);
    int in = add_input(m, 13, 13, 8);
    int e1 = add_conv(m, "e1", in, 6, 1, 1, PAD_VALID, ACT_RELU);
    int e3 = add_conv(m, "e3", in, 10, 3, 1, PAD_SAME, ACT_RELU);
    layer c = layer_template(LAYER_CONCAT, "concat", e1);
    c.inputs[1] = e3;
    c.n_inputs = 2;
    model_add(m, &c, NULL);
    assert_int_equal(model_infer_shapes(m, NULL), 0);
    char *s = summary_text(m);
    assert_non_null(strstr(s, "input_1 (InputLayer)         (None, 13, 13, 8)         0         \n"));
    assert_non_null(strstr(s, "concat (Concatenate)         (None, 13, 13, 16)        0         \n"));
    assert_non_null(strstr(s, "Total params: 784\n"));
    free(s);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_cnn_150_has_keras_shapes_and_1212513_params),
        cmocka_unit_test(test_frozen_layers_count_as_non_trainable),
        cmocka_unit_test(test_wrong_kernel_shape_names_layer_and_shapes),
        cmocka_unit_test(test_present_params_are_kept),
        cmocka_unit_test(test_too_small_input_is_a_clear_error),
        cmocka_unit_test(test_same_and_valid_padding_follow_tensorflow),
        cmocka_unit_test(test_concat_sums_channels_and_checks_sizes),
        cmocka_unit_test(test_size_limits_refuse_before_allocating),
        cmocka_unit_test(test_model_add_checks_names_and_inputs),
        cmocka_unit_test(test_glorot_init_is_seeded_and_bounded),
        cmocka_unit_test(test_summary_matches_keras_layout),
        cmocka_unit_test(test_summary_shows_nested_model_as_one_line),
        cmocka_unit_test(test_summary_of_a_dag_shows_its_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
