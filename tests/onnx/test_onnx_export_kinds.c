/*
 * test_onnx_export_kinds.c - every layer kind and activation catdog runs
 * leaves as ONNX that ONNX Runtime (npm onnxruntime-node, the independent
 * oracle: tests/onnx/ort_run.js) accepts and computes alike:
 *   - small models holding, between them, every kind of engine/layer.h
 *     (BatchNormalization with and without gamma/beta, on maps and vectors;
 *     Rescaling, scalar and per channel on maps and vectors; ZeroPadding2D (folded into a Conv's pads, and alone) and
 *     Cropping2D with uneven sides; grouped,
 *     dilated and depthwise convolutions; PReLU on maps and vectors; every
 *     merge; Concatenate; both global pools, with keepdims; a feature map's
 *     softmax; every activation fused into a convolution; Normalization,
 *     SeparableConv2D, Resizing (bilinear and nearest), CenterCrop, Reshape
 *     between maps and vectors, squeeze-and-excitation Multiplies) are exported at
 *     opsets 11, 13, 17 and 20 (so both the single-op and the chained
 *     spellings of HardSwish, Gelu and the map softmax are run), pass
 *     onnx.checker (the opsets the installed onnx knows), and give in ONNX
 *     Runtime the P(dog) catdog gives on seeded inputs within 1e-5; the three
 *     models must hold every kind (a new kind fails until it is added);
 *   - a ZeroPadding2D right before a MaxPooling2D over negative values, at
 *     opsets 18 and 20 (the Pad with `axes`, which ONNX Runtime's PadFusion
 *     leaves alone);
 *   - the same through the command line: the model saved as .h5 and
 *     `catdog export --model M.h5 --out M.onnx`;
 *   - layers named like the values and nodes the writer makes ("p_dog",
 *     "r/mul", "f/nhwc", a Gelu chain's link, one name twice) export to a
 *     graph with one writer per value and one node per name, which ONNX
 *     Runtime runs to catdog's P(dog);
 *   - the exports read back by catdog's importer give the P(dog) catdog gave;
 *     a Resize, Pad or Slice changed to a spelling it does not read is
 *     refused in one line naming the node.
 * No ../shared needed (seeded inputs).  node, onnxruntime-node and Debian's
 * python3-onnx missing are failures (scripts/install-deps.sh).
 */
#include "test_util.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/runner.h"
#include "modelfile/keras.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"

#define N_IN 6

typedef struct fixture {
    char dir[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/catdog_onnx_kinds_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffff;
}

static float uniform(unsigned *s)
{
    return (float)next(s) / 65535.0f;
}

static int add(model *m, layer *l)
{
    cd_err err;
    cd_err_clear(&err);
    int i = model_add(m, l, &err);
    if (i < 0)
        fail_msg("%s", err.msg);
    return i;
}

static int conv(model *m, const char *name, int in, int filters, int k, layer_act act)
{
    layer c = layer_template(LAYER_CONV2D, name, in);
    c.filters = filters;
    c.kernel[0] = c.kernel[1] = k;
    c.padding = PAD_SAME;
    layer_set_act(&c, act);
    return add(m, &c);
}

/* Shapes inferred, Glorot kernels, then biases, BatchNormalization
 * statistics and PReLU slopes drawn too, so that each of them matters. */
static void finish(model *m, unsigned seed)
{
    cd_err err;
    cd_err_clear(&err);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, seed);
    unsigned s = seed;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            tensor *t = l->params[k];
            const char *what = layer_param_name(l, k);
            for (size_t j = 0; j < t->size; j++) {
                float u = uniform(&s);
                if (strcmp(what, "bias") == 0 || strcmp(what, "beta") == 0)
                    t->data[j] = 0.4f * (u - 0.5f);
                else if (strcmp(what, "gamma") == 0 || strcmp(what, "moving_variance") == 0)
                    t->data[j] = 0.5f + u;
                else if (strcmp(what, "moving_mean") == 0)
                    t->data[j] = 0.3f * (u - 0.5f);
                else if (strcmp(what, "alpha") == 0)
                    t->data[j] = 0.5f * u;
            }
        }
    }
}

/* Rescaling, ZeroPadding2D, Cropping2D, BatchNormalization (all four
 * gamma/beta combinations), grouped / dilated / depthwise convolutions,
 * PReLU on a map, both pools, GlobalMaxPooling2D, a sigmoid head. */
static model *build_maps(void)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("kinds_maps", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 21, in.in_w = 19, in.in_c = 3;
    int x = add(m, &in);
    /* per channel (Keras 3 lists): Mul and Add by (1, C, 1, 1) constants */
    layer r = layer_template(LAYER_RESCALING, "rescale", x);
    r.rescale_n[0] = r.rescale_n[1] = 3;
    r.rescale[0][0] = 1.0f / 127.5f, r.rescale[0][1] = -1.0f / 64.0f, r.rescale[0][2] = 0.02f;
    r.rescale[1][0] = -1.0f, r.rescale[1][1] = 0.5f, r.rescale[1][2] = -2.0f;
    x = add(m, &r);
    layer zp = layer_template(LAYER_ZEROPAD2D, "zpad", x);
    zp.pad4[0] = 1, zp.pad4[1] = 2, zp.pad4[2] = 0, zp.pad4[3] = 3;
    x = add(m, &zp);
    layer c = layer_template(LAYER_CONV2D, "conv_valid", x);
    c.filters = 8, c.kernel[0] = c.kernel[1] = 3, c.strides[0] = c.strides[1] = 1;
    c.use_bias = 0;
    x = add(m, &c);
    for (int k = 0; k < 4; k++) {
        char name[16];
        snprintf(name, sizeof name, "bn%d", k);
        layer bn = layer_template(LAYER_BATCHNORM, name, x);
        bn.scale = k & 1, bn.center = (k >> 1) & 1;
        bn.epsilon = k == 3 ? 1e-5f : 1e-3f;
        x = add(m, &bn);
    }
    layer cr = layer_template(LAYER_CROPPING2D, "crop", x);
    cr.pad4[0] = 2, cr.pad4[1] = 1, cr.pad4[2] = 0, cr.pad4[3] = 3;
    x = add(m, &cr);
    /* a Pad node (a SAME convolution follows: not folded).  Not before the
     * MaxPool: below opset 18, ONNX Runtime 1.30's PadFusion folds a zero Pad
     * into a MaxPool's pads, which MaxPool fills with -inf (README, ONNX; see
     * test_zeropad_before_maxpool_opset18). */
    layer zp2 = layer_template(LAYER_ZEROPAD2D, "zpad_alone", x);
    zp2.pad4[0] = 1, zp2.pad4[3] = 2;
    x = add(m, &zp2);
    layer g = layer_template(LAYER_CONV2D, "grouped_dilated", x);
    g.filters = 8, g.kernel[0] = g.kernel[1] = 3, g.groups = 4;
    g.dilation[0] = g.dilation[1] = 2, g.padding = PAD_SAME;
    x = add(m, &g);
    layer dw = layer_template(LAYER_DEPTHWISE_CONV2D, "depthwise", x);
    dw.kernel[0] = dw.kernel[1] = 3, dw.depth_multiplier = 2;
    dw.strides[0] = dw.strides[1] = 2, dw.padding = PAD_SAME;
    x = add(m, &dw);
    layer pr = layer_template(LAYER_PRELU, "prelu_map", x);
    x = add(m, &pr);
    layer mp = layer_template(LAYER_MAXPOOL2D, "maxpool", x);
    mp.pool[0] = mp.pool[1] = 2;
    x = add(m, &mp);
    layer ap = layer_template(LAYER_AVGPOOL2D, "avgpool", x);
    ap.pool[0] = ap.pool[1] = 3, ap.strides[0] = ap.strides[1] = 1, ap.padding = PAD_SAME;
    x = add(m, &ap);
    layer gm = layer_template(LAYER_GLOBAL_MAXPOOL2D, "gmp", x);
    x = add(m, &gm);
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    layer_set_act(&d, ACT_SIGMOID);
    add(m, &d);
    finish(m, 11);
    return m;
}

/* Every activation fused into a 1x1 convolution, in turn; every merge;
 * Concatenate; a feature map's softmax; GlobalAveragePooling2D with keepdims
 * and Flatten; BatchNormalization and PReLU on vectors; Dropout; a 2-unit
 * softmax head. */
static model *build_merges(void)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("kinds_merges", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 12, in.in_w = 10, in.in_c = 3;
    int x = add(m, &in);
    layer r = layer_template(LAYER_RESCALING, "rescale", x);
    r.rescale[0][0] = 1.0f / 255.0f;
    x = add(m, &r);
    x = conv(m, "stem", x, 6, 3, ACT_LINEAR);
    /* each activation on a branch of its own (a chain of them flattens out) */
    layer acts = layer_template(LAYER_CONCAT, "acts", -1);
    for (int a = ACT_LINEAR; a < ACT_COUNT; a++) {
        if (a == ACT_SOFTMAX)
            continue;   /* below, as a layer of its own */
        char name[32];
        snprintf(name, sizeof name, "act_%s_%d", layer_act_name((layer_act)a), a);
        layer c = layer_template(LAYER_CONV2D, name, x);
        c.filters = 2, c.kernel[0] = c.kernel[1] = 1;
        layer_set_act(&c, (layer_act)a);
        if (a == ACT_RELU_X) {   /* Keras' ReLU(negative_slope, max_value, threshold) */
            c.act_p.alpha = 0.3f, c.act_p.max_value = 1.5f, c.act_p.threshold = -0.2f;
        }
        if (a == ACT_LEAKY_RELU || a == ACT_ELU)
            c.act_p.alpha = 0.25f;
        int i = add(m, &c);
        if (acts.n_inputs == LAYER_MAX_INPUTS) {   /* a Concatenate takes 8: nest them */
            char cname[16];
            snprintf(cname, sizeof cname, "acts_%d", a);
            snprintf(acts.name, sizeof acts.name, "%s", cname);
            int j = add(m, &acts);
            acts = layer_template(LAYER_CONCAT, "acts", j);
        }
        acts.inputs[acts.n_inputs++] = i;
    }
    x = add(m, &acts);
    layer agap = layer_template(LAYER_GLOBAL_AVGPOOL2D, "acts_gap", x);   /* straight to the head */
    int acts_vec = add(m, &agap);
    int a = conv(m, "branch_a", x, 6, 3, ACT_RELU), b = conv(m, "branch_b", x, 6, 1, ACT_SIGMOID);
    static const layer_kind merges[] = {LAYER_ADD, LAYER_SUBTRACT, LAYER_MULTIPLY, LAYER_AVERAGE,
                                        LAYER_MAXIMUM, LAYER_CONCAT};
    int outs[6];
    for (int k = 0; k < 6; k++) {
        char name[16];
        snprintf(name, sizeof name, "merge%d", k);
        layer mg = layer_template(merges[k], name, a);
        mg.inputs[1] = b, mg.inputs[2] = k % 2 ? a : b;
        mg.n_inputs = k == LAYER_SUBTRACT - LAYER_ADD ? 2 : 3;
        outs[k] = add(m, &mg);
    }
    layer cat = layer_template(LAYER_CONCAT, "all_merges", outs[0]);
    for (int k = 1; k < 6; k++)
        cat.inputs[k] = outs[k];
    cat.n_inputs = 6;
    x = add(m, &cat);
    layer sm = layer_template(LAYER_ACTIVATION, "map_softmax", x);
    layer_set_act(&sm, ACT_SOFTMAX);
    x = add(m, &sm);
    layer mp = layer_template(LAYER_MAXPOOL2D, "pool", x);
    mp.pool[0] = mp.pool[1] = 2;
    x = add(m, &mp);
    layer fl = layer_template(LAYER_FLATTEN, "flatten_map", x);   /* NHWC order: a Transpose */
    int flat = add(m, &fl);
    layer gap = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", x);
    gap.keepdims = 1;
    x = add(m, &gap);
    layer fl1 = layer_template(LAYER_FLATTEN, "flatten_1x1", x);
    x = add(m, &fl1);
    layer vec = layer_template(LAYER_CONCAT, "vectors", flat);
    vec.inputs[1] = x, vec.inputs[2] = acts_vec, vec.n_inputs = 3;
    x = add(m, &vec);
    layer d = layer_template(LAYER_DENSE, "hidden", x);
    d.units = 8;
    x = add(m, &d);
    layer bn = layer_template(LAYER_BATCHNORM, "bn_vec", x);
    x = add(m, &bn);
    /* per channel on a vector: Mul and Add by (C) constants */
    layer rv = layer_template(LAYER_RESCALING, "rescale_vec", x);
    rv.rescale_n[0] = rv.rescale_n[1] = 8;
    for (int c = 0; c < 8; c++)
        rv.rescale[0][c] = 0.5f + 0.25f * (float)c, rv.rescale[1][c] = 0.1f * (float)(c - 4);
    x = add(m, &rv);
    layer pr = layer_template(LAYER_PRELU, "prelu_vec", x);
    x = add(m, &pr);
    layer dr = layer_template(LAYER_DROPOUT, "drop", x);
    dr.rate = 0.5f;
    x = add(m, &dr);
    layer o = layer_template(LAYER_DENSE, "out", x);
    o.units = 2;
    layer_set_act(&o, ACT_SOFTMAX);
    add(m, &o);
    finish(m, 12);
    /* Inputs over [-3, 3] reach every activation's curved part, and a
     * steeper head makes a slip in any one of them move P(dog) past 1e-5
     * (checked: Gelu's 0.044715 written as 0.05 fails the comparison). */
    static const char *const steeper[][2] = {{"stem", "3"}, {"hidden", "1"}, {"out", "1"}};
    for (size_t j = 0; j < sizeof steeper / sizeof steeper[0]; j++) {
        tensor *k = m->layers[model_find(m, steeper[j][0])].params[0];
        for (size_t i = 0; i < k->size; i++)
            k->data[i] *= (float)atof(steeper[j][1]);
    }
    return m;
}

/* The kinds whose ONNX form is about shapes: Normalization on a map and on a
 * vector; SeparableConv2D (multiplier 2, strided SAME); Resizing nearest
 * halving the height (every row on a tie, (i + 0.5) * 2 an integer: exact in
 * floats, and where round_prefer_floor would pick the wrong row), bilinear
 * (up in H, down in W) and nearest from odd sizes (no pixel on a tie: there
 * ONNX Runtime's (i + 0.5) / (out / in) and TensorFlow's (i + 0.5) * (in / out)
 * may round apart, README's ONNX section); CenterCrop; squeeze-and-excitation
 * Multiplies by a (N, 1, 1, C) and by a (N, C) vector (that one first);
 * Reshape map -> map, map -> vector, vector -> (1, 1, C) and vector -> map. */
static model *build_shapes(void)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("kinds_shapes", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 15, in.in_w = 13, in.in_c = 3;
    int x = add(m, &in);
    layer nm = layer_template(LAYER_NORMALIZATION, "norm_map", x);
    x = add(m, &nm);
    layer sp = layer_template(LAYER_SEPARABLE_CONV2D, "separable", x);
    sp.filters = 6, sp.kernel[0] = sp.kernel[1] = 3, sp.depth_multiplier = 2, sp.use_bias = 1;
    sp.strides[0] = sp.strides[1] = 2, sp.padding = PAD_SAME;
    layer_set_act(&sp, ACT_RELU);
    x = add(m, &sp);   /* 8x7 */
    layer rh = layer_template(LAYER_RESIZING, "resize_halve", x);
    rh.size[0] = 4, rh.size[1] = 7, rh.interp = INTERP_NEAREST;
    x = add(m, &rh);
    layer rb = layer_template(LAYER_RESIZING, "resize_bilinear", x);
    rb.size[0] = 11, rb.size[1] = 5, rb.interp = INTERP_BILINEAR;
    x = add(m, &rb);
    layer rn = layer_template(LAYER_RESIZING, "resize_nearest", x);
    rn.size[0] = 7, rn.size[1] = 9, rn.interp = INTERP_NEAREST;
    x = add(m, &rn);
    layer cc = layer_template(LAYER_CENTER_CROP, "center_crop", x);
    cc.size[0] = 5, cc.size[1] = 6;
    x = add(m, &cc);   /* 5x6x6 */
    layer gap = layer_template(LAYER_GLOBAL_AVGPOOL2D, "se_pool", x);
    int g = add(m, &gap);
    layer sd = layer_template(LAYER_DENSE, "se_dense", g);
    sd.units = 6;
    layer_set_act(&sd, ACT_SIGMOID);
    int s = add(m, &sd);
    layer r4 = layer_template(LAYER_RESHAPE, "se_reshape", s);
    r4.target[0] = r4.target[1] = 1, r4.target[2] = 6, r4.target_rank = 3;
    int s4 = add(m, &r4);
    layer m4 = layer_template(LAYER_MULTIPLY, "se_mul_map", x);
    m4.inputs[1] = s4, m4.n_inputs = 2;
    x = add(m, &m4);
    layer m2 = layer_template(LAYER_MULTIPLY, "se_mul_vec", s);   /* the vector first */
    m2.inputs[1] = x, m2.n_inputs = 2;
    x = add(m, &m2);
    layer rm = layer_template(LAYER_RESHAPE, "reshape_map", x);
    rm.target[0] = 10, rm.target[1] = 3, rm.target[2] = 6, rm.target_rank = 3;
    x = add(m, &rm);
    x = conv(m, "mix", x, 4, 1, ACT_LINEAR);   /* a wrong layout would mix other values */
    layer rf = layer_template(LAYER_RESHAPE, "reshape_flat", x);
    rf.target[0] = rf.target[1] = 1, rf.target[2] = -1, rf.target_rank = 1;
    x = add(m, &rf);
    layer h = layer_template(LAYER_DENSE, "hidden", x);
    h.units = 12;
    x = add(m, &h);
    layer rv = layer_template(LAYER_RESHAPE, "reshape_vec_map", x);
    rv.target[0] = 2, rv.target[1] = 3, rv.target[2] = -1, rv.target_rank = 3;
    x = add(m, &rv);
    x = conv(m, "mix2", x, 2, 1, ACT_LINEAR);
    layer rb2 = layer_template(LAYER_RESHAPE, "reshape_back", x);
    rb2.target[0] = rb2.target[1] = 1, rb2.target[2] = 12, rb2.target_rank = 1;
    x = add(m, &rb2);
    layer nv = layer_template(LAYER_NORMALIZATION, "norm_vec", x);
    x = add(m, &nv);
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    layer_set_act(&d, ACT_SIGMOID);
    add(m, &d);
    finish(m, 14);
    /* statistics that matter: pixels about 125 +- 60 at the input, the
     * vector's values about 0 +- 1 */
    unsigned seed = 77;
    const char *norms[2] = {"norm_map", "norm_vec"};
    for (int k = 0; k < 2; k++) {
        layer *l = &m->layers[model_find(m, norms[k])];
        for (int j = 0; j < l->out_c; j++) {
            l->params[0]->data[j] = k == 0 ? 100.0f + 50.0f * uniform(&seed) : 0.3f * (uniform(&seed) - 0.5f);
            l->params[1]->data[j] = k == 0 ? 2000.0f + 3000.0f * uniform(&seed) : 0.5f + uniform(&seed);
        }
    }
    return m;
}

/* The seeded inputs, NHWC for catdog and NCHW (in `path`) for ONNX Runtime. */
static float *make_inputs(const model *m, const char *path)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    size_t per = (size_t)h * w * c;
    float *x = malloc(N_IN * per * sizeof *x), *chw = malloc(N_IN * per * sizeof *chw);
    assert_non_null(x);
    assert_non_null(chw);
    unsigned s = 2024;
    for (size_t i = 0; i < N_IN * per; i++)
        x[i] = 255.0f * uniform(&s);
    for (int n = 0; n < N_IN; n++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
                for (int k = 0; k < c; k++)
                    chw[n * per + ((size_t)k * h + y) * w + xx] = x[n * per + ((size_t)y * w + xx) * c + k];
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(chw, sizeof *chw, N_IN * per, fp), N_IN * per);
    assert_int_equal(fclose(fp), 0);
    free(chw);
    return x;
}

/* catdog's P(dog) for the inputs. */
static void run_catdog(const model *m, runner_backend backend, const float *x, double *p)
{
    cd_err err;
    cd_err_clear(&err);
    runner_opts ro = {.backend = backend, .threads = 1};
    runner *r = runner_new(m, N_IN, &ro, &err);
    if (!r)
        fail_msg("%s", err.msg);
    size_t k = model_output_size(m);
    float y[N_IN * 2];
    assert_true(k == 1 || k == 2);
    if (runner_forward(r, x, N_IN, y, &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < N_IN; i++)
        p[i] = y[i * k + k - 1];
    runner_free(r);
}

static void run_ort(const fixture *f, const model *m, const char *onnx, const char *input, double *p)
{
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    char out[400], cmd[1600];
    snprintf(out, sizeof out, "%s/ort.txt", f->dir);
    snprintf(cmd, sizeof cmd,
             "CATDOG_SOURCE_DIR='%s' node '%s/tests/onnx/ort_run.js' '%s' '%s' %d %d %d %d > '%s'",
             CATDOG_SOURCE_DIR, CATDOG_SOURCE_DIR, onnx, input, N_IN, c, h, w, out);
    int rc = system(cmd);
    if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
        fail_msg("onnxruntime-node is not installed (run scripts/install-deps.sh: npm install --ignore-scripts)");
    if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
        fail_msg("node not found (run scripts/install-deps.sh)");
    if (rc != 0)
        fail_msg("ONNX Runtime refused or failed on %s (rc %d)", onnx, rc);
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    for (int i = 0; i < N_IN; i++)
        assert_int_equal(fscanf(fp, "%lf", &p[i]), 1);
    fclose(fp);
}

static void compare(const fixture *f, const model *m, runner_backend backend, const char *onnx)
{
    char input[400];
    snprintf(input, sizeof input, "%s/input.f32", f->dir);
    float *x = make_inputs(m, input);
    double ours[N_IN], ort[N_IN], worst = 0, lo = 1, hi = 0;
    run_catdog(m, backend, x, ours);
    free(x);
    run_ort(f, m, onnx, input, ort);
    for (int i = 0; i < N_IN; i++) {
        double d = fabs(ours[i] - ort[i]);
        worst = fmax(worst, d);
        lo = fmin(lo, ours[i]);
        hi = fmax(hi, ours[i]);
        if (!(d <= 1e-5))
            fail_msg("%s, input %d: catdog P(dog) %.8f, ONNX Runtime %.8f (diff %.2g > 1e-5)", onnx, i,
                     ours[i], ort[i], d);
    }
    printf("%s: max |catdog - ONNX Runtime| = %.3g (P(dog) %.4f to %.4f)\n", onnx, worst, lo, hi);
    /* an output that does not vary with the input would hide a wrong layout */
    assert_true(hi - lo > 1e-3);
}

/* onnx.checker (full_check: shape inference too) on the files; one of an
 * opset newer than the installed onnx knows (Debian's 1.12 stops at 17, and
 * checks newer nodes against its latest schema) is left to ONNX Runtime,
 * which validates every graph it loads. */
static void check_files(const char *files)
{
    char cmd[4000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys, onnx\n"
             "for p in sys.argv[1:]:\n"
             "    m = onnx.load(p)\n"
             "    if m.opset_import[0].version <= onnx.defs.onnx_opset_version(): onnx.checker.check_model(m, full_check=True)\n"
             "    else: print(p, \"opset\", m.opset_import[0].version, \"is newer than this onnx: ONNX Runtime checked it\")' %s",
             files);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("onnx.checker refused one of %s (rc %d; needs Debian's python3-onnx)", files, rc);
}

static void export_and_compare(fixture *f, model *m, runner_backend backend)
{
    static const int opsets[] = {11, 13, 17, 20};
    char files[2400] = "";
    for (size_t k = 0; k < sizeof opsets / sizeof opsets[0]; k++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s_%d.onnx", f->dir, m->name, opsets[k]);
        cd_err err;
        cd_err_clear(&err);
        onnx_save_opts so = {.opset = opsets[k]};
        if (onnx_save(m, path, &so, &err) != 0)
            fail_msg("opset %d: %s", opsets[k], err.msg);
        compare(f, m, backend, path);
        size_t used = strlen(files);
        snprintf(files + used, sizeof files - used, " '%s'", path);
    }
    check_files(files);
}

static void test_map_layers_export_matches_onnx_runtime(void **state)
{
    model *m = build_maps();
    export_and_compare(*state, m, RUNNER_DNNL);   /* as predict runs it */
    model_free(m);
}

static void test_shape_layers_export_matches_onnx_runtime(void **state)
{
    model *m = build_shapes();
    export_and_compare(*state, m, RUNNER_DNNL);
    model_free(m);
}

static void test_activations_and_merges_export_matches_onnx_runtime(void **state)
{
    model *m = build_merges();
    /* the plain-C reference: oneDNN lacks softsign (and catdog refuses it there) */
    export_and_compare(*state, m, RUNNER_REF);
    model_free(m);
}

/* ZeroPadding2D right before a MaxPooling2D over negative values: from
 * opset 18 the Pad names its axes, which keeps ONNX Runtime's PadFusion from
 * folding it into the MaxPool (whose pads count as -inf, not 0). */
static void test_zeropad_before_maxpool_opset18(void **state)
{
    fixture *f = *state;
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("pad_pool", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 9, in.in_w = 11, in.in_c = 3;
    int x = add(m, &in);
    layer r = layer_template(LAYER_RESCALING, "rescale", x);
    r.rescale[0][0] = 1.0f / 127.5f, r.rescale[1][0] = -1.0f;
    x = add(m, &r);
    x = conv(m, "conv", x, 4, 3, ACT_LINEAR);   /* negative values reach the pool */
    layer zp = layer_template(LAYER_ZEROPAD2D, "zpad", x);
    zp.pad4[0] = 2, zp.pad4[1] = 1, zp.pad4[2] = 1, zp.pad4[3] = 2;
    x = add(m, &zp);
    layer mp = layer_template(LAYER_MAXPOOL2D, "maxpool", x);
    mp.pool[0] = mp.pool[1] = 2;
    x = add(m, &mp);
    layer fl = layer_template(LAYER_FLATTEN, "flatten", x);
    x = add(m, &fl);
    layer d = layer_template(LAYER_DENSE, "out", x);
    d.units = 1;
    layer_set_act(&d, ACT_SIGMOID);
    add(m, &d);
    finish(m, 13);
    char files[1000] = "";
    for (int opset = 18; opset <= 20; opset += 2) {
        char path[400];
        snprintf(path, sizeof path, "%s/pad_pool_%d.onnx", f->dir, opset);
        onnx_save_opts so = {.opset = opset};
        if (onnx_save(m, path, &so, &err) != 0)
            fail_msg("%s", err.msg);
        compare(f, m, RUNNER_DNNL, path);
        size_t used = strlen(files);
        snprintf(files + used, sizeof files - used, " '%s'", path);
    }
    check_files(files);
    model_free(m);
}

/* catdog -> ONNX -> catdog: every model read back (Pad as ZeroPadding2D,
 * Slice as Cropping2D, Resize as Resizing, Sub / Div as a per-channel affine,
 * Reshape between Transposes as Reshape, the Shape / Slice / Concat of
 * Resize's sizes folded, the Erf / Tanh chains of Gelu and the Greater /
 * Where of Keras' ReLU threshold as those activations) gives catdog's P(dog)
 * within 1e-5 at every opset written. */
static void test_exports_read_back(void **state)
{
    fixture *f = *state;
    model *ms[3] = {build_maps(), build_shapes(), build_merges()};
    /* the merges model on the plain-C reference: oneDNN lacks softsign */
    const runner_backend be[3] = {RUNNER_DNNL, RUNNER_DNNL, RUNNER_REF};
    static const int opsets[] = {11, 13, 17, 20};
    char input[400];
    snprintf(input, sizeof input, "%s/input.f32", f->dir);
    for (int k = 0; k < 3; k++) {
        float *x = make_inputs(ms[k], input);
        double ours[N_IN];
        run_catdog(ms[k], be[k], x, ours);
        for (int o = 0; o < 4; o++) {
            cd_err err;
            cd_err_clear(&err);
            onnx_save_opts so = {.opset = opsets[o]};
            size_t len = 0;
            unsigned char *buf = onnx_save_memory(ms[k], &so, &len, &err);
            if (!buf)
                fail_msg("%s", err.msg);
            model *back = onnx_load_memory(buf, len, "rt.onnx", NULL, &err);
            free(buf);
            if (!back)
                fail_msg("%s at opset %d: %s", ms[k]->name, opsets[o], err.msg);
            /* the same activations (a Gelu read as its tanh form moves P(dog) by
             * only 1e-6 here) */
            int acts_a[ACT_COUNT] = {0}, acts_b[ACT_COUNT] = {0};
            for (int i = 0; i < ms[k]->n_layers; i++)
                acts_a[ms[k]->layers[i].act] = 1;
            for (int i = 0; i < back->n_layers; i++)
                acts_b[back->layers[i].act] = 1;
            assert_memory_equal(acts_a, acts_b, sizeof acts_a);
            double theirs[N_IN], worst = 0;
            run_catdog(back, be[k], x, theirs);
            for (int i = 0; i < N_IN; i++) {
                double d = fabs(ours[i] - theirs[i]);
                worst = fmax(worst, d);
                if (!(d <= 1e-5))
                    fail_msg("%s read back from opset %d, input %d: P(dog) %.8f, was %.8f", ms[k]->name,
                             opsets[o], i, theirs[i], ours[i]);
            }
            printf("%s read back from opset %d: max |diff| = %.3g\n", ms[k]->name, opsets[o], worst);
            model_free(back);
        }
        free(x);
        model_free(ms[k]);
    }
}

/* m exported at opset 13, changed by fn, packed again and read: refused in
 * one line naming the node, holding `want`. */
static void expect_refusal(model *m, void (*fn)(Onnx__ModelProto *), const char *want)
{
    cd_err err;
    cd_err_clear(&err);
    onnx_save_opts so = {.opset = 13};
    size_t len = 0;
    unsigned char *buf = onnx_save_memory(m, &so, &len, &err);
    assert_non_null(buf);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(mp);
    fn(mp);
    len = onnx__model_proto__get_packed_size(mp);
    buf = malloc(len);
    assert_non_null(buf);
    onnx__model_proto__pack(mp, buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    model *back = onnx_load_memory(buf, len, "bad.onnx", NULL, &err);
    free(buf);
    if (back)
        fail_msg("loaded a file that wants '%s'", want);
    printf("  -> %s\n", err.msg);
    assert_null(strchr(err.msg, '\n'));
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static Onnx__NodeProto *node_named(Onnx__ModelProto *mp, const char *name)
{
    for (size_t i = 0; i < mp->graph->n_node; i++)
        if (strcmp(mp->graph->node[i]->name, name) == 0)
            return mp->graph->node[i];
    fail_msg("no node '%s'", name);
    return NULL;
}

static Onnx__TensorProto *init_named(Onnx__ModelProto *mp, const char *name)
{
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (strcmp(mp->graph->initializer[i]->name, name) == 0)
            return mp->graph->initializer[i];
    fail_msg("no initializer '%s'", name);
    return NULL;
}

static void resize_align_corners(Onnx__ModelProto *mp)
{
    Onnx__NodeProto *n = node_named(mp, "resize_bilinear");
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, "coordinate_transformation_mode") == 0) {
            free(n->attribute[i]->s.data);
            n->attribute[i]->s.data = (uint8_t *)strdup("align_corners");
            assert_non_null(n->attribute[i]->s.data);
            n->attribute[i]->s.len = strlen("align_corners");
        }
}

static void pad_channels(Onnx__ModelProto *mp)
{
    int64_t one = 1;   /* pads (N, C, H, W begins, then ends): C's begin */
    memcpy(init_named(mp, "zpad_alone/pads")->raw_data.data + sizeof one, &one, sizeof one);
}

static void crop_channels(Onnx__ModelProto *mp)
{
    int64_t c = 1;   /* axes (2, 3) -> (1, 3): a slice of the channels */
    memcpy(init_named(mp, "crop/axes")->raw_data.data, &c, sizeof c);
}

/* What the importer reads of these kinds only as the writer spells them:
 * another spelling is one line naming the node. */
static void test_other_spellings_refused_naming_the_node(void **state)
{
    (void)state;
    model *shapes = build_shapes(), *maps = build_maps();
    expect_refusal(shapes, resize_align_corners, "node 'resize_bilinear' (Resize)");
    expect_refusal(maps, pad_channels, "node 'zpad_alone' (Pad)");
    expect_refusal(maps, crop_channels, "node 'crop' (Slice)");
    model_free(shapes);
    model_free(maps);
}

/* The three models hold every kind between them: a kind added to
 * engine/layer.h fails here until a model above exercises its export. */
static void test_models_cover_every_layer_kind(void **state)
{
    (void)state;
    int seen[LAYER_KIND_COUNT] = {0};
    model *ms[3] = {build_maps(), build_merges(), build_shapes()};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < ms[k]->n_layers; i++)
            seen[ms[k]->layers[i].kind] = 1;
        model_free(ms[k]);
    }
    for (int kind = 0; kind < LAYER_KIND_COUNT; kind++)
        if (!seen[kind])
            fail_msg("no test model holds a %s layer: add one to build_maps, build_merges or "
                     "build_shapes",
                     layer_kind_name((layer_kind)kind));
}

/* The command line on a Keras file: catdog export --model M.h5 --out M.onnx. */
static void test_cli_export_of_h5_runs_in_onnx_runtime(void **state)
{
    fixture *f = *state;
    const char *bin = getenv("CATDOG_BIN");
    if (!bin)
        fail_msg("CATDOG_BIN is not set (ctest sets it)");
    model *m = build_maps();
    char h5[400], onnx[400], cmd[1400];
    snprintf(h5, sizeof h5, "%s/maps.h5", f->dir);
    snprintf(onnx, sizeof onnx, "%s/maps_cli.onnx", f->dir);
    cd_err err;
    cd_err_clear(&err);
    if (keras_save(m, h5, &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(cmd, sizeof cmd, "'%s' export --model '%s' --out '%s'", bin, h5, onnx);
    assert_int_equal(system(cmd), 0);
    compare(f, m, RUNNER_DNNL, onnx);
    model_free(m);
}

/* Layers named like the values and nodes the writer makes for other layers:
 * "r/mul" (the Rescaling's Mul), "p_dog" and "p_dog/starts" (the 2-unit
 * head's Slice and its starts), "f/nhwc" (a Reshape's Transpose),
 * "g/gelu_scaled" (a link of Gelu's chain below opset 20), "k/conv" before
 * the layer "k" whose convolution it names, "input", and one name twice
 * (model_add refuses that: set by hand).  Each gives its
 * value and node another name, so the graph has one writer per value and
 * one node per name, and ONNX Runtime gives catdog's P(dog). */
static model *build_clashing_names(void)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("clashing_names", &err);
    assert_non_null(m);
    layer in = layer_template(LAYER_INPUT, "input", -1);
    in.in_h = 11, in.in_w = 9, in.in_c = 3;
    int x = add(m, &in);
    layer r = layer_template(LAYER_RESCALING, "r", x);
    r.rescale[0][0] = 1.0f / 127.5f, r.rescale[1][0] = -1.0f;
    x = add(m, &r);
    x = conv(m, "r/mul", x, 4, 3, ACT_RELU);
    x = conv(m, "k/conv", x, 4, 1, ACT_LINEAR);
    x = conv(m, "k", x, 4, 3, ACT_TANH);
    x = conv(m, "g", x, 4, 1, ACT_GELU);
    layer bn = layer_template(LAYER_BATCHNORM, "g/gelu_scaled", x);
    x = add(m, &bn);
    layer cr = layer_template(LAYER_CROPPING2D, "p_dog", x);
    cr.pad4[0] = 1, cr.pad4[1] = 0, cr.pad4[2] = 2, cr.pad4[3] = 1;
    x = add(m, &cr);   /* 10x6 */
    layer rs = layer_template(LAYER_RESHAPE, "f", x);
    rs.target[0] = 6, rs.target[1] = 10, rs.target[2] = 4, rs.target_rank = 3;
    x = add(m, &rs);
    layer rn = layer_template(LAYER_PRELU, "f/nhwc", x);
    x = add(m, &rn);
    layer gp = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", x);
    x = add(m, &gp);
    layer d = layer_template(LAYER_DENSE, "p_dog/starts", x);
    d.units = 6;
    layer_set_act(&d, ACT_RELU);
    x = add(m, &d);
    layer twice = layer_template(LAYER_DENSE, "twice", x);
    twice.units = 5;
    x = add(m, &twice);
    layer o = layer_template(LAYER_DENSE, "out", x);
    o.units = 2;
    layer_set_act(&o, ACT_SOFTMAX);
    add(m, &o);
    finish(m, 15);
    /* a name twice: the output layer takes the Dense before it's name */
    snprintf(m->layers[m->n_layers - 1].name, sizeof m->layers[0].name, "%s", "twice");
    return m;
}

/* Every value (node output, initializer, graph input) has one writer and
 * every node its own name in the file at `path`. */
static void assert_names_unique(const char *path)
{
    size_t len = 0;
    unsigned char *buf = test_read_file(path, &len);
    assert_non_null(buf);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(mp);
    const Onnx__GraphProto *g = mp->graph;
    size_t n = g->n_initializer + g->n_input + g->n_node, k = 0;
    const char **values = calloc(n, sizeof *values), **nodes = calloc(g->n_node + 1, sizeof *nodes);
    assert_non_null(values);
    assert_non_null(nodes);
    for (size_t i = 0; i < g->n_initializer; i++)
        values[k++] = g->initializer[i]->name;
    for (size_t i = 0; i < g->n_input; i++)
        values[k++] = g->input[i]->name;
    for (size_t i = 0; i < g->n_node; i++) {
        assert_int_equal(g->node[i]->n_output, 1);
        values[k++] = g->node[i]->output[0];
        nodes[i] = g->node[i]->name;
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(values[i], values[j]) == 0)
                fail_msg("%s: the value '%s' is written twice", path, values[i]);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(nodes[i], nodes[j]) == 0)
                fail_msg("%s: two nodes are named '%s'", path, nodes[i]);
    free(values);
    free(nodes);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static void test_layer_names_clashing_with_the_writers_names(void **state)
{
    fixture *f = *state;
    model *m = build_clashing_names();
    static const int opsets[] = {11, 13, 17, 20};
    for (size_t k = 0; k < sizeof opsets / sizeof opsets[0]; k++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s_%d.onnx", f->dir, m->name, opsets[k]);
        cd_err err;
        cd_err_clear(&err);
        onnx_save_opts so = {.opset = opsets[k]};
        if (onnx_save(m, path, &so, &err) != 0)
            fail_msg("opset %d: %s", opsets[k], err.msg);
        assert_names_unique(path);
    }
    export_and_compare(f, m, RUNNER_DNNL);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_cover_every_layer_kind),
        cmocka_unit_test(test_map_layers_export_matches_onnx_runtime),
        cmocka_unit_test(test_shape_layers_export_matches_onnx_runtime),
        cmocka_unit_test(test_activations_and_merges_export_matches_onnx_runtime),
        cmocka_unit_test(test_zeropad_before_maxpool_opset18),
        cmocka_unit_test(test_cli_export_of_h5_runs_in_onnx_runtime),
        cmocka_unit_test(test_exports_read_back),
        cmocka_unit_test(test_other_spellings_refused_naming_the_node),
        cmocka_unit_test(test_layer_names_clashing_with_the_writers_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
