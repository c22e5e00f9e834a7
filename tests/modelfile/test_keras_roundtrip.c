/* tests/modelfile/test_keras_roundtrip.c - keras_save then keras_load gives
 * the same model: same layers, scopes, trainable flags, metadata and
 * bit-identical outputs (random weights from model_init_params).  Covers the
 * three forms the saver writes: Sequential (binary CNN), functional with
 * Concatenate (SqueezeNet), Sequential whose first layer is a nested model
 * (the seed's VGG16 transfer model, Keras' counts checked), and a functional
 * model with a nested model in the middle.  The independent reader
 * (tests/oracle/keras_reader.py, h5py + PyTorch) runs every saved file on
 * the same inputs and must give catdog's outputs. */
#include "test_util.h"

#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <unistd.h>

#include "engine/arch.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "modelfile/keras_h5.h"

/* The reader's (float64) outputs against catdog's float32 ones, relative to
 * the largest output.  Measured (oneDNN, random weights and inputs): SqueezeNet
 * at 64 max 1.5e-9 on outputs up to 1.6e-3 (9.6e-7 relative), the others
 * 0 to 6e-8 on outputs up to 0.8 (7.4e-8); 1e-5 is 10x the worst.  Each check
 * prints its numbers on stderr. */
#define READER_TOL 1e-5

static char tmpdir[64];
/* Set by a test whose layers Keras initialises to an identity (Normalization):
 * called by roundtrip after model_init_params to give them real values. */
static void (*after_init)(model *m);

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/catdog-mf-rt-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Deterministic pseudo-random input in [-1, 1). */
static float *random_input(const model *m, int n, unsigned seed)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    size_t len = (size_t)n * h * w * c;
    float *x = malloc(len * sizeof *x);
    assert_non_null(x);
    unsigned s = seed;
    for (size_t i = 0; i < len; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    return x;
}

/* oneDNN, catdog's backend (VGG16 takes seconds per image in the reference
 * runner); one that cannot be set up is a failure, not a fallback. */
static float *forward(const model *m, const float *in, int n)
{
    cd_err err;
    runner_opts o = {.backend = RUNNER_DNNL, .threads = 2};
    runner *r = runner_new(m, n, &o, &err);
    if (!r)
        fail_msg("%s", err.msg);
    float *out = malloc(sizeof(float) * model_output_size(m) * (size_t)n);
    assert_non_null(out);
    if (runner_forward(r, in, n, out, &err) != 0)
        fail_msg("%s", err.msg);
    runner_free(r);
    return out;
}

/* Writes n floats to path. */
static void write_floats(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v, sizeof *v, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The independent reader (tests/oracle/keras_reader.py: h5py + PyTorch in
 * float64, no catdog code) builds the saved file's network from its
 * model_config and the weights its groups list, in Keras' order, runs the same
 * n inputs and must give catdog's outputs `want`.  A parameter count and sum
 * could not see a kernel saved transposed or a weight under the wrong layer;
 * this does (tests/oracle/test_oracle_binary.sh shows it on a mutated file).
 * A missing python3-h5py fails the test: scripts/install-deps.sh installs it. */
static void check_with_h5py(const char *path, const model *m, const float *in, int n,
                            const float *want)
{
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
        fail_msg("/usr/bin/python3 with h5py not found: run scripts/install-deps.sh (python3-h5py)");
    }
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    const size_t n_out = model_output_size(m) * (size_t)n;
    char in_path[160], out_path[160], cmd[1024];
    snprintf(in_path, sizeof in_path, "%s.in.f32", path);
    snprintf(out_path, sizeof out_path, "%s.out.f32", path);
    write_floats(in_path, in, (size_t)n * h * w * c);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/oracle/keras_reader.py' forward '%s' '%s' %d '%s'",
             CATDOG_SOURCE_DIR, path, in_path, n, out_path);
    assert_int_equal(system(cmd), 0);
    size_t len = 0;
    float *got = (float *)test_read_file(out_path, &len);
    assert_non_null(got);
    assert_int_equal(len, n_out * sizeof(float));
    double worst = 0, scale = 0;
    for (size_t k = 0; k < n_out; k++)
        scale = fmax(scale, fabs((double)got[k]));
    if (scale == 0)
        scale = 1;
    for (size_t k = 0; k < n_out; k++)
        worst = fmax(worst, fabs((double)got[k] - (double)want[k]));
    fprintf(stderr, "reader vs catdog on %s: max |diff| %.3g (outputs up to %.3g)\n", path, worst,
            scale);
    assert_true(worst <= READER_TOL * scale);
    free(got);
}

/* Saves m (given random weights), loads it back and compares everything;
 * outputs on `samples` random inputs must be bit-identical (0: parameters
 * only, for the VGG16 models the reference runner takes seconds per image on). */
static model *roundtrip(model *m, const char *file, unsigned long long seed, int samples)
{
    char path[128];
    tmp_path(path, sizeof path, file);
    model_init_params(m, seed);
    if (after_init)
        after_init(m);
    m->test_accuracy = 0.875;
    cd_err err;
    if (keras_save(m, path, &err) != 0)
        fail_msg("%s", err.msg);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed into place */
    model *l = keras_load(path, &err);
    if (!l)
        fail_msg("%s", err.msg);
    assert_int_equal(l->n_layers, m->n_layers);
    assert_int_equal(model_output_index(l), model_output_index(m));
    for (int i = 0; i < m->n_layers; i++) {
        const layer *a = &m->layers[i], *b = &l->layers[i];
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->scope, b->scope);
        assert_int_equal(a->kind, b->kind);
        if (a->n_params > 0)
            assert_int_equal(a->trainable, b->trainable);
        assert_int_equal(a->n_inputs, b->n_inputs);
        for (int j = 0; j < a->n_inputs; j++)
            assert_int_equal(a->inputs[j], b->inputs[j]);
        assert_int_equal(a->n_params, b->n_params);
        for (int k = 0; k < a->n_params; k++) {
            assert_true(tensor_same_shape(a->params[k], b->params[k]));
            assert_memory_equal(a->params[k]->data, b->params[k]->data,
                                a->params[k]->size * sizeof(float));
        }
    }
    assert_int_equal(l->preprocess, m->preprocess);
    assert_string_equal(l->arch, m->arch);
    assert_true(fabs(l->test_accuracy - 0.875) < 1e-12);
    /* The reader runs at least one input, also for the VGG16 models. */
    int n = samples > 0 ? samples : 1;
    float *in = random_input(m, n, (unsigned)seed);
    float *o1 = forward(m, in, n);
    if (samples > 0) {
        float *o2 = forward(l, in, samples);
        assert_memory_equal(o1, o2, model_output_size(m) * (size_t)samples * sizeof(float));
        free(o2);
    }
    for (size_t k = 0; k < model_output_size(m) * (size_t)n; k++)
        assert_true(isfinite(o1[k]));
    check_with_h5py(path, m, in, n, o1);
    free(in);
    free(o1);
    return l;
}

/* The config class the saver chose for a file. */
static char *saved_config(const char *file)
{
    char path[128];
    tmp_path(path, sizeof path, file);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    char *cfg;
    cd_err err;
    assert_int_equal(keras_h5_read_str_attr(f, "model_config", &cfg, path, &err), 1);
    H5Fclose(f);
    return cfg;
}

static void test_binary_cnn_round_trips_as_sequential(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_binary(64, &err);
    assert_non_null(m);
    model *l = roundtrip(m, "binary.h5", 1, 2);
    char *cfg = saved_config("binary.h5");
    assert_non_null(strstr(cfg, "\"class_name\":\"Sequential\""));
    assert_non_null(strstr(cfg, "\"batch_input_shape\":[null,64,64,3]"));
    assert_null(strstr(cfg, "InputLayer")); /* Keras 2.2.4 Sequential style */
    free(cfg);
    assert_int_equal(l->preprocess, CD_PRE_RESCALE);
    model_free(l);
    model_free(m);
}

/* Grouped, depthwise and dilated Conv2D layers: written with `groups` and
 * `dilation_rate`, read back, and computed the same by the independent reader
 * (PyTorch's grouped, dilated conv2d). */
static void test_grouped_dilated_conv_round_trips(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("grouped", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 20, in.in_w = 18, in.in_c = 6;
    assert_true(model_add(m, &in, &err) >= 0);
    static const struct { int f, g, d; layer_pad pad; } convs[] = {
        {12, 3, 1, PAD_SAME}, {12, 12, 2, PAD_SAME}, {8, 4, 2, PAD_VALID}, {8, 1, 3, PAD_SAME}};
    int prev = 0;
    for (int k = 0; k < 4; k++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d", k);
        layer c = layer_template(LAYER_CONV2D, name, prev);
        c.filters = convs[k].f;
        c.kernel[0] = c.kernel[1] = 3;
        c.groups = convs[k].g;
        c.dilation[0] = c.dilation[1] = convs[k].d;
        c.padding = convs[k].pad;
        c.use_bias = 1;
        c.act = ACT_RELU;
        prev = model_add(m, &c, &err);
        assert_true(prev >= 0);
    }
    /* DepthwiseConv2D, multiplier 2, dilated and strided; then one without bias */
    layer dw = layer_template(LAYER_DEPTHWISE_CONV2D, "dw", prev);
    dw.kernel[0] = 3;
    dw.kernel[1] = 2;
    dw.depth_multiplier = 2;
    dw.dilation[0] = 2;
    dw.strides[1] = 2;
    dw.padding = PAD_SAME;
    dw.act = ACT_TANH;
    prev = model_add(m, &dw, &err);
    layer dw2 = layer_template(LAYER_DEPTHWISE_CONV2D, "dw2", prev);
    dw2.kernel[0] = dw2.kernel[1] = 3;
    dw2.use_bias = 0;
    prev = model_add(m, &dw2, &err);
    assert_true(prev >= 0);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", prev);
    prev = model_add(m, &g, &err);
    layer d = layer_template(LAYER_DENSE, "out", prev);
    d.units = 1;
    d.use_bias = 1;
    d.act = ACT_SIGMOID;
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m->layers[5].filters, 16);
    assert_int_equal(m->layers[5].params[0]->dims[2], 8);
    assert_int_equal(m->layers[5].params[0]->dims[3], 2);
    model *l = roundtrip(m, "grouped.h5", 3, 2);
    char *cfg = saved_config("grouped.h5");
    assert_non_null(strstr(cfg, "\"groups\":12"));
    assert_non_null(strstr(cfg, "\"dilation_rate\":[3,3]"));
    assert_non_null(strstr(cfg, "\"class_name\":\"DepthwiseConv2D\""));
    assert_non_null(strstr(cfg, "\"depth_multiplier\":2"));
    free(cfg);
    assert_int_equal(l->layers[2].groups, 12);
    assert_int_equal(l->layers[2].dilation[1], 2);
    model_free(l);
    model_free(m);
}

/* Squeeze-and-excitation in the three forms Keras models spell it: EfficientNet's
 * GlobalAveragePooling2D -> Reshape((1, 1, C)) -> 1x1 Conv2D x2 -> Multiply,
 * keepdims pooling with the gate as the first input, and Dense layers on the
 * (N, C) vector (Keras 2's Multiply inserts the missing axes); then a Reshape
 * that moves values between rows ((12, 12, 16) -> (6, 24, 16)) and a
 * Reshape((-1,)) as the flatten.  Written, read back, and computed the same by
 * the independent reader (Keras' documented Reshape and Multiply). */
static void test_squeeze_excite_round_trips(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("se", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 24, in.in_w = 24, in.in_c = 3;
    assert_true(model_add(m, &in, &err) >= 0);
    layer c0 = layer_template(LAYER_CONV2D, "stem", 0);
    c0.filters = 16;
    c0.kernel[0] = c0.kernel[1] = 3;
    c0.strides[0] = c0.strides[1] = 2;
    c0.padding = PAD_SAME;
    c0.use_bias = 1;
    layer_set_act(&c0, ACT_SWISH);
    int map = model_add(m, &c0, &err);
    assert_true(map >= 0);
    for (int form = 0; form < 3; form++) {
        char name[32];
        snprintf(name, sizeof name, "se%d/squeeze", form);
        layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, name, map);
        g.keepdims = form == 1;
        int v = model_add(m, &g, &err);
        if (form == 0) {
            snprintf(name, sizeof name, "se%d/reshape", form);
            layer r = layer_template(LAYER_RESHAPE, name, v);
            r.target[0] = r.target[1] = 1;
            r.target[2] = 16;
            r.target_rank = 3;
            v = model_add(m, &r, &err);
        }
        static const layer_act gate[3] = {ACT_SIGMOID, ACT_HARD_SIGMOID, ACT_SIGMOID};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "se%d/%s", form, k ? "expand" : "reduce");
            layer e = layer_template(form == 2 ? LAYER_DENSE : LAYER_CONV2D, name, v);
            if (form == 2) {
                e.units = k ? 16 : 4;
            } else {
                e.filters = k ? 16 : 4;
                e.kernel[0] = e.kernel[1] = 1;
            }
            e.use_bias = 1;
            layer_set_act(&e, k ? gate[form] : form == 1 ? ACT_RELU : ACT_SWISH);
            v = model_add(m, &e, &err);
            assert_true(v >= 0);
        }
        snprintf(name, sizeof name, "se%d/excite", form);
        layer mul = layer_template(LAYER_MULTIPLY, name, -1);
        mul.inputs[0] = form == 1 ? v : map;
        mul.inputs[1] = form == 1 ? map : v;
        mul.n_inputs = 2;
        map = model_add(m, &mul, &err);
        assert_true(map >= 0);
    }
    layer r = layer_template(LAYER_RESHAPE, "rows", map);
    r.target[0] = 6, r.target[1] = 24, r.target[2] = 16;
    r.target_rank = 3;
    int x = model_add(m, &r, &err);
    layer c1 = layer_template(LAYER_CONV2D, "conv", x);
    c1.filters = 4;
    c1.kernel[0] = c1.kernel[1] = 3;
    c1.strides[0] = c1.strides[1] = 2;
    c1.use_bias = 1;
    layer_set_act(&c1, ACT_TANH);
    x = model_add(m, &c1, &err);
    layer fl = layer_template(LAYER_RESHAPE, "flat", x);
    fl.target[0] = fl.target[1] = 1;
    fl.target[2] = -1;
    fl.target_rank = 1;
    x = model_add(m, &fl, &err);
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    d.use_bias = 1;
    d.act = ACT_SIGMOID;
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model *l = roundtrip(m, "se.h5", 5, 3);
    char *cfg = saved_config("se.h5");
    assert_non_null(strstr(cfg, "\"target_shape\":[1,1,16]"));
    assert_non_null(strstr(cfg, "\"target_shape\":[-1]"));
    assert_non_null(strstr(cfg, "\"class_name\":\"Multiply\""));
    assert_non_null(strstr(cfg, "\"keepdims\":true"));
    free(cfg);
    const layer *flat = &l->layers[l->n_layers - 2];
    assert_int_equal(flat->kind, LAYER_RESHAPE);
    assert_int_equal(flat->out_rank, 2);
    assert_int_equal(flat->out_c, 2 * 11 * 4); /* (6, 24) -> 3x3 VALID stride 2 -> (2, 11), 4 filters */
    model_free(l);
    model_free(m);
}

/* Normalization's statistics: means in [-1, 1], variances in [0.1, 4]. */
static void fill_normalization(model *m)
{
    unsigned s = 7;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (l->kind != LAYER_NORMALIZATION)
            continue;
        for (size_t k = 0; k < l->params[0]->size; k++) {
            s = s * 1103515245u + 12345u;
            l->params[0]->data[k] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
            s = s * 1103515245u + 12345u;
            l->params[1]->data[k] = 0.1f + (float)((s >> 8) % 3901) / 1000.0f;
        }
        l->params[2]->data[0] = 1234.0f;
    }
}

static int add_to(model *m, layer *l)
{
    cd_err err;
    int i = model_add(m, l, &err);
    if (i < 0)
        fail_msg("%s", err.msg);
    return i;
}

/* Normalization, Resizing (bilinear up, nearest down), CenterCrop and
 * SeparableConv2D (multiplier 2, strided SAME with bias and ReLU; dilated VALID
 * without bias): written, read back with the same outputs, and computed the
 * same by the independent reader (PyTorch: conv2d with groups then a 1x1
 * conv2d, interpolate bilinear / nearest-exact, slicing). */
static void test_preprocessing_and_separable_layers_round_trip(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("prep", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 13, in.in_w = 11, in.in_c = 3;
    int prev = add_to(m, &in);
    layer nm = layer_template(LAYER_NORMALIZATION, "norm", prev);
    prev = add_to(m, &nm);
    layer rs = layer_template(LAYER_RESIZING, "up", prev);
    rs.size[0] = 17, rs.size[1] = 9;
    prev = add_to(m, &rs);
    layer s1 = layer_template(LAYER_SEPARABLE_CONV2D, "sep1", prev);
    s1.filters = 5, s1.kernel[0] = 3, s1.kernel[1] = 2, s1.depth_multiplier = 2;
    s1.strides[0] = 2, s1.padding = PAD_SAME, s1.use_bias = 1, s1.act = ACT_RELU;
    prev = add_to(m, &s1);
    layer rn = layer_template(LAYER_RESIZING, "down", prev);
    rn.size[0] = 10, rn.size[1] = 7, rn.interp = INTERP_NEAREST;
    prev = add_to(m, &rn);
    layer cc = layer_template(LAYER_CENTER_CROP, "crop", prev);
    cc.size[0] = 6, cc.size[1] = 5;
    prev = add_to(m, &cc);
    layer s2 = layer_template(LAYER_SEPARABLE_CONV2D, "sep2", prev);
    s2.filters = 4, s2.kernel[0] = s2.kernel[1] = 2, s2.use_bias = 0;
    s2.dilation[0] = s2.dilation[1] = 2;
    prev = add_to(m, &s2);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", prev);
    prev = add_to(m, &g);
    layer d = layer_template(LAYER_DENSE, "out", prev);
    d.units = 1, d.use_bias = 1, d.act = ACT_SIGMOID;
    add_to(m, &d);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m->layers[3].out_h, 9);
    assert_int_equal(m->layers[5].out_h, 6);
    assert_int_equal(m->layers[5].out_w, 5);
    assert_int_equal(m->layers[6].out_h, 4);
    assert_int_equal(m->layers[6].out_w, 3);
    assert_int_equal(m->layers[1].params[2]->rank, 0);
    after_init = fill_normalization;
    model *l = roundtrip(m, "prep.h5", 5, 2);
    after_init = NULL;
    char *cfg = saved_config("prep.h5");
    assert_non_null(strstr(cfg, "\"class_name\":\"SeparableConv2D\""));
    assert_non_null(strstr(cfg, "\"class_name\":\"Normalization\""));
    assert_non_null(strstr(cfg, "\"interpolation\":\"nearest\""));
    assert_non_null(strstr(cfg, "\"class_name\":\"CenterCrop\""));
    free(cfg);
    assert_int_equal(l->layers[3].depth_multiplier, 2);
    assert_int_equal(l->layers[4].interp, INTERP_NEAREST);
    assert_int_equal(l->layers[5].size[1], 5);
    /* and through a Keras 3 .keras archive: same parameters, same outputs */
    char kpath[128];
    tmp_path(kpath, sizeof kpath, "prep.keras");
    if (keras_save_keras(l, kpath, &err) != 0)
        fail_msg("%s", err.msg);
    model *k = keras_load(kpath, &err);
    if (!k)
        fail_msg("%s", err.msg);
    assert_int_equal(k->n_layers, l->n_layers);
    for (int i = 0; i < l->n_layers; i++) {
        assert_int_equal(k->layers[i].kind, l->layers[i].kind);
        assert_int_equal(k->layers[i].n_params, l->layers[i].n_params);
        for (int p = 0; p < l->layers[i].n_params; p++)
            assert_memory_equal(k->layers[i].params[p]->data, l->layers[i].params[p]->data,
                                l->layers[i].params[p]->size * sizeof(float));
    }
    float *kin = random_input(l, 2, 9), *o1 = forward(l, kin, 2), *o2 = forward(k, kin, 2);
    assert_memory_equal(o1, o2, model_output_size(l) * 2 * sizeof(float));
    free(kin);
    free(o1);
    free(o2);
    model_free(k);
    model_free(l);
    model_free(m);
}

static void test_squeezenet_round_trips_as_functional(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_squeezenet(64, &err);
    assert_non_null(m);
    model *l = roundtrip(m, "squeezenet.h5", 2, 2);
    char *cfg = saved_config("squeezenet.h5");
    assert_non_null(strstr(cfg, "\"class_name\":\"Model\""));
    assert_non_null(strstr(cfg, "\"inbound_nodes\":[[[\"fire9/expand1x1\",0,0,{}],[\"fire9/expand3x3\",0,0,{}]]]"));
    free(cfg);
    assert_int_equal(l->preprocess, CD_PRE_CAFFE);
    model_free(l);
    model_free(m);
}

/* Copies src's layers (without parameters) into dst under `scope`. */
static void add_scoped(model *dst, const model *src, const char *scope, int trainable)
{
    int base = dst->n_layers;
    for (int i = 0; i < src->n_layers; i++) {
        layer t = src->layers[i];
        t.params[0] = t.params[1] = NULL;
        t.n_params = 0;
        t.trainable = trainable;
        snprintf(t.scope, sizeof t.scope, "%s", scope);
        for (int j = 0; j < t.n_inputs; j++)
            t.inputs[j] += base;
        assert_true(model_add(dst, &t, NULL) >= 0);
    }
}

static int add_head(model *m, int prev)
{
    layer f = layer_template(LAYER_FLATTEN, "flatten_1", prev);
    prev = model_add(m, &f, NULL);
    layer d = layer_template(LAYER_DENSE, "dense_1", prev);
    d.units = 256;
    d.act = ACT_RELU;
    prev = model_add(m, &d, NULL);
    layer r = layer_template(LAYER_DROPOUT, "dropout_1", prev);
    r.rate = 0.5f;
    prev = model_add(m, &r, NULL);
    layer o = layer_template(LAYER_DENSE, "dense_2", prev);
    o.units = 1;
    o.act = ACT_SIGMOID;
    return model_add(m, &o, NULL);
}

static void check_seed_counts(const model *m)
{
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(total, 16812353);
    assert_int_equal(trainable, 2097665);
    assert_int_equal(frozen, 14714688);
}

static void test_seed_transfer_model_round_trips_with_keras_counts(void **state)
{
    (void)state;
    cd_err err;
    model *vgg = arch_vgg16(150, &err);
    assert_non_null(vgg);
    model *m = model_new("sequential_1", &err);
    add_scoped(m, vgg, "vgg16", 0);
    add_head(m, m->n_layers - 1);
    model_free(vgg);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(m->arch, sizeof m->arch, "transfer");
    m->preprocess = CD_PRE_CAFFE;
    check_seed_counts(m);
    model *l = roundtrip(m, "transferlearning.h5", 3, 0);
    check_seed_counts(l);
    /* Written like the seed's file: a Sequential whose first layer is the
     * VGG16 functional model. */
    char *cfg = saved_config("transferlearning.h5");
    assert_non_null(strstr(cfg, "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"sequential_1\","
                                "\"layers\":[{\"class_name\":\"Model\",\"config\":{\"name\":\"vgg16\""));
    free(cfg);
    /* The summary shows the nested model as one line, as Keras does. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    model_summary(l, mem);
    fclose(mem);
    assert_non_null(strstr(buf, "vgg16 (Model)                (None, 4, 4, 512)         14714688"));
    assert_non_null(strstr(buf, "Total params: 16,812,353"));
    assert_non_null(strstr(buf, "Trainable params: 2,097,665"));
    assert_non_null(strstr(buf, "Non-trainable params: 14,714,688"));
    free(buf);
    /* The nested vgg16 group's weights load onto the plain built-in VGG16. */
    char path[128];
    tmp_path(path, sizeof path, "transferlearning.h5");
    model *plain = arch_vgg16(150, &err);
    assert_non_null(plain);
    if (keras_load_weights(plain, path, &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < plain->n_layers; i++) {
        const layer *a = &plain->layers[i], *b = &l->layers[model_find(l, a->name)];
        for (int k = 0; k < a->n_params; k++)
            assert_memory_equal(a->params[k]->data, b->params[k]->data,
                                a->params[k]->size * sizeof(float));
    }
    model_free(plain);
    /* It predicts (one image: VGG16 at 150 is 7 GFLOP). */
    float *in = random_input(l, 1, 7);
    float *p = forward(l, in, 1);
    assert_true(p[0] > 0.0f && p[0] < 1.0f);
    free(in);
    free(p);
    model_free(l);
    model_free(m);
}

/* input -> conv "stem" -> nested "tower" (two convs + concat) -> GAP, joined
 * with a max-pooled skip from the stem -> dense: a functional model with a
 * nested model in the middle, which gets an InputLayer of its own when saved. */
static void test_functional_model_with_nested_model_inside_round_trips(void **state)
{
    (void)state;
    cd_err err;
    model *m = model_new("outer", &err);
    layer in = layer_template(LAYER_INPUT, "image", -1);
    in.in_h = in.in_w = 20;
    in.in_c = 3;
    int prev = model_add(m, &in, &err);
    layer c = layer_template(LAYER_CONV2D, "stem", prev);
    c.filters = 8;
    c.kernel[0] = c.kernel[1] = 3;
    c.strides[0] = c.strides[1] = 2;
    c.act = ACT_RELU;
    int stem = model_add(m, &c, &err);
    layer a = layer_template(LAYER_CONV2D, "tower_a", stem);
    a.filters = 4;
    a.kernel[0] = a.kernel[1] = 1;
    snprintf(a.scope, sizeof a.scope, "tower");
    int ia = model_add(m, &a, &err);
    layer b = layer_template(LAYER_CONV2D, "tower_b", stem);
    b.filters = 6;
    b.kernel[0] = b.kernel[1] = 3;
    b.padding = PAD_SAME;
    b.act = ACT_TANH;
    b.use_bias = 0;
    b.trainable = 0;
    snprintf(b.scope, sizeof b.scope, "tower");
    int ib = model_add(m, &b, &err);
    layer cat = layer_template(LAYER_CONCAT, "tower_cat", ia);
    cat.inputs[1] = ib;
    cat.n_inputs = 2;
    snprintf(cat.scope, sizeof cat.scope, "tower");
    prev = model_add(m, &cat, &err);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", prev);
    int gap = model_add(m, &g, &err);
    layer g2 = layer_template(LAYER_GLOBAL_MAXPOOL2D, "skip", stem);
    int skip = model_add(m, &g2, &err);
    layer j = layer_template(LAYER_CONCAT, "join", gap);
    j.inputs[1] = skip;
    j.n_inputs = 2;
    prev = model_add(m, &j, &err);
    layer d = layer_template(LAYER_DENSE, "out", prev);
    d.units = 3;
    d.act = ACT_SOFTMAX;
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    m->preprocess = CD_PRE_NONE;
    model *l = roundtrip(m, "nested_inside.h5", 4, 2);
    char *cfg = saved_config("nested_inside.h5");
    assert_non_null(strstr(cfg, "\"name\":\"tower_input\""));
    assert_non_null(strstr(cfg, "\"class_name\":\"Model\""));
    assert_non_null(strstr(cfg, "[\"tower\",1,0,{}]")); /* Keras' node index for a nested model */
    free(cfg);
    model_free(l);
    model_free(m);
}

/* keras_save_ex: the trainer's hook adds to the file before it is moved in. */
static int add_training_config(hid_t file, void *user, cd_err *err)
{
    (void)user;
    if (keras_h5_write_str_attr(file, "training_config", "{\"optimizer_config\":{}}", err) != 0)
        return -1;
    hid_t g = keras_h5_create_group(file, "optimizer_weights", err);
    if (g < 0)
        return -1;
    H5Gclose(g);
    return 0;
}

static int failing_hook(hid_t file, void *user, cd_err *err)
{
    (void)file;
    (void)user;
    return cd_err_set(err, CD_ERR_INTERRUPTED, "stopped by the hook");
}

static void test_save_hook_adds_to_the_file_and_failures_leave_nothing(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_binary(32, &err);
    assert_non_null(m);
    char path[128];
    tmp_path(path, sizeof path, "hooked.h5");
    assert_int_equal(keras_save_ex(m, path, add_training_config, NULL, &err), 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    char *tc;
    assert_int_equal(keras_h5_read_str_attr(f, "training_config", &tc, path, &err), 1);
    assert_string_equal(tc, "{\"optimizer_config\":{}}");
    free(tc);
    assert_true(H5Lexists(f, "optimizer_weights", H5P_DEFAULT) > 0);
    H5Fclose(f);
    model *l = keras_load(path, &err);
    assert_non_null(l);
    model_free(l);

    /* A failing hook: error names the file, the old file stays, no temp file. */
    assert_int_equal(keras_save_ex(m, path, failing_hook, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "hooked.h5"));
    assert_non_null(strstr(err.msg, "stopped by the hook"));
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    l = keras_load(path, &err);
    assert_non_null(l);
    model_free(l);

    /* An unwritable place. */
    assert_int_equal(keras_save(m, "/nonexistent-dir/x.h5", &err), -1);
    assert_int_equal(err.code, CD_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.h5"));
    model_free(m);
}

/* The real Keras VGG16 config, cut to no-top at 150x150 and frozen, inside a
 * Sequential with the seed's head: the seed's transferlearning.h5 config. */
static void test_seed_config_from_real_keras_vgg16_json(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char path[4300];
    snprintf(path, sizeof path, "%s/testdata/keras/vgg16/model_config.json", shared);
    json_error_t jerr;
    json_t *vgg = json_load_file(path, 0, &jerr);
    assert_non_null(vgg);
    json_t *cfg = json_object_get(vgg, "config");
    json_t *layers = json_object_get(cfg, "layers");
    while (json_array_size(layers) > 0) {
        json_t *last = json_array_get(layers, json_array_size(layers) - 1);
        if (strcmp(json_string_value(json_object_get(last, "name")), "block5_pool") == 0)
            break;
        json_array_remove(layers, json_array_size(layers) - 1);
    }
    size_t i;
    json_t *entry;
    json_array_foreach(layers, i, entry) {
        json_t *lc = json_object_get(entry, "config");
        if (i == 0)
            json_object_set_new(lc, "batch_input_shape", json_pack("[n,i,i,i]", 150, 150, 3));
        else
            json_object_set_new(lc, "trainable", json_false());
    }
    json_object_set_new(cfg, "output_layers", json_pack("[[s,i,i]]", "block5_pool", 0, 0));
    json_t *seq = json_pack(
        "{s:s, s:{s:s, s:[O, {s:s, s:{s:s}}, {s:s, s:{s:s, s:i, s:s}}, {s:s, s:{s:s, s:f}},"
        " {s:s, s:{s:s, s:i, s:s}}]}}",
        "class_name", "Sequential", "config", "name", "sequential_1", "layers", vgg,
        "class_name", "Flatten", "config", "name", "flatten_1",
        "class_name", "Dense", "config", "name", "dense_1", "units", 256, "activation", "relu",
        "class_name", "Dropout", "config", "name", "dropout_1", "rate", 0.5,
        "class_name", "Dense", "config", "name", "dense_2", "units", 1, "activation", "sigmoid");
    assert_non_null(seq);
    char *text = json_dumps(seq, 0);
    json_decref(seq);
    json_decref(vgg);
    cd_err err;
    model *m = keras_from_json(text, "seed config", &err);
    free(text);
    if (!m)
        fail_msg("%s", err.msg);
    check_seed_counts(m);
    assert_string_equal(m->arch, "transfer");
    assert_int_equal(m->preprocess, CD_PRE_CAFFE);
    assert_string_equal(m->layers[0].name, "input_1");
    assert_string_equal(m->layers[0].scope, "vgg16");
    assert_int_equal(model_output_size(m), 1);
    model *l = roundtrip(m, "seed_from_json.h5", 5, 0);
    check_seed_counts(l);
    model_free(l);
    model_free(m);
}

/* Keras splits long attribute lists into name0, name1, ...: read as one. */
static void test_chunked_layer_names_are_joined(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_binary(32, &err);
    assert_non_null(m);
    model_init_params(m, 8);
    char path[128];
    tmp_path(path, sizeof path, "chunked.h5");
    assert_int_equal(keras_save(m, path, &err), 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    char **names;
    int n;
    assert_int_equal(keras_h5_read_strs_attr(g, "layer_names", &names, &n, path, &err), 1);
    assert_int_equal(n, 10);
    assert_true(H5Adelete(g, "layer_names") >= 0);
    assert_int_equal(keras_h5_write_strs_attr(g, "layer_names0", (const char *const *)names, 4,
                                              &err), 0);
    assert_int_equal(keras_h5_write_strs_attr(g, "layer_names1",
                                              (const char *const *)names + 4, 6, &err), 0);
    keras_h5_free_strs(names, n);
    H5Gclose(g);
    H5Fclose(f);
    model *l = keras_load(path, &err);
    if (!l)
        fail_msg("%s", err.msg);
    int d = model_find(l, "dense_2");
    assert_memory_equal(l->layers[d].params[0]->data, m->layers[d].params[0]->data,
                        m->layers[d].params[0]->size * sizeof(float));
    model_free(l);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_cnn_round_trips_as_sequential),
        cmocka_unit_test(test_grouped_dilated_conv_round_trips),
        cmocka_unit_test(test_squeeze_excite_round_trips),
        cmocka_unit_test(test_squeezenet_round_trips_as_functional),
        cmocka_unit_test(test_preprocessing_and_separable_layers_round_trip),
        cmocka_unit_test(test_seed_transfer_model_round_trips_with_keras_counts),
        cmocka_unit_test(test_functional_model_with_nested_model_inside_round_trips),
        cmocka_unit_test(test_save_hook_adds_to_the_file_and_failures_leave_nothing),
        cmocka_unit_test(test_seed_config_from_real_keras_vgg16_json),
        cmocka_unit_test(test_chunked_layer_names_are_joined),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
