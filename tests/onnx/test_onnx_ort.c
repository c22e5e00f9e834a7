/*
 * test_onnx_ort.c - ONNX Runtime (npm onnxruntime-node) as the independent
 * oracle for catdog's ONNX files, on real photos from ../shared:
 *   - catdog's own models exported to ONNX give in ONNX Runtime the P(dog)
 *     catdog gives with the original .h5 (within 1e-5);
 *   - small CNNs exported by PyTorch (torch.onnx.export, opsets 13 and 17)
 *     give in catdog the P(dog) ONNX Runtime gives (within 1e-4);
 *   - so do torchvision's resnet18 and squeezenet1_1 at 224, mobilenet_v2
 *     at 128 (depthwise convs, Clip as ReLU6, inverted residuals) and a
 *     depthwise-separable net (groups, dilation, residual Adds, pads that are
 *     not TensorFlow's SAME, per-channel Sub/Mul), opsets 13 and 17;
 *   - a catdog model with grouped, depthwise (also DepthwiseConv2D) and dilated convolutions exported
 *     (Conv's group and dilations) passes onnx.checker and gives in ONNX
 *     Runtime, and read back by catdog, the P(dog) of the .h5 (within 1e-5).
 * Both sides get the same preprocessed input: the photo decoded and resized
 * once, turned into floats by catdog's image_to_input, and written NCHW to a
 * file that tests/onnx/ort_run.js feeds to ONNX Runtime.
 * Skips (exit 77, the reason on stderr) when ../shared is missing; node,
 * onnxruntime-node, python3-torch or python3-torchvision missing is a failure
 * (they are requirements: scripts/install-deps.sh).
 */
#include "test_util.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image.h"
#include "modelfile/keras.h"
#include "onnx/onnx.h"
#include "predict/predictor.h"
#include "transfer/transfer_model.h"

#define N_PHOTOS 6
static const char *photo_names[N_PHOTOS] = {"cat.0.jpg", "cat.1.jpg", "cat.7.jpg",
                                            "dog.0.jpg", "dog.1.jpg", "dog.7.jpg"};

typedef struct fixture {
    char dir[256];      /* scratch folder */
    const char *shared;
    image photos[N_PHOTOS];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/catdog_onnx_ort_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->shared = test_shared_dir();
    for (int i = 0; f->shared && i < N_PHOTOS; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/data/dogs-vs-cats/train/%s", f->shared, photo_names[i]);
        cd_err err;
        cd_err_clear(&err);
        assert_int_equal(image_decode_file(path, NULL, &f->photos[i], NULL, NULL, &err), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < N_PHOTOS; i++)
        image_free(&f->photos[i]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* P(dog) from one row of a model's raw outputs: a probability, or logits
 * (sigmoid of one, softmax of two: class 1 = dog). */
static double p_dog_of(const double *v, int k, int logits)
{
    if (!logits)
        return v[0];
    if (k == 1)
        return 1.0 / (1.0 + exp(-v[0]));
    double m = v[0] > v[1] ? v[0] : v[1];
    double a = exp(v[0] - m), b = exp(v[1] - m);
    return b / (a + b);
}

/* Runs ONNX Runtime on `onnx_path` with the photos prepared for predictor p;
 * fills ort[] with its P(dog).  Returns 0, or 77 when ONNX Runtime is absent. */
static int run_ort(fixture *f, const predictor *p, const char *onnx_path, int logits, double *ort)
{
    const model *m = predictor_model(p);
    int h, w, c;
    model_input_shape(m, &h, &w, &c);
    size_t per = (size_t)h * w * c;
    float *hwc = malloc(per * sizeof *hwc), *chw = malloc(N_PHOTOS * per * sizeof *chw);
    assert_non_null(hwc);
    assert_non_null(chw);
    for (int i = 0; i < N_PHOTOS; i++) {
        image rs = {0};
        cd_err err;
        cd_err_clear(&err);
        assert_int_equal(image_resize(&f->photos[i], w, h, IMAGE_FILTER_BILINEAR, &rs, &err), 0);
        image_to_input(&rs, predictor_preprocess(p), hwc);
        image_free(&rs);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    chw[i * per + ((size_t)k * h + y) * w + x] = hwc[((size_t)y * w + x) * c + k];
    }
    char in_path[400], out_path[400], cmd[2000];
    snprintf(in_path, sizeof in_path, "%s/input.f32", f->dir);
    snprintf(out_path, sizeof out_path, "%s/ort.txt", f->dir);
    FILE *fp = fopen(in_path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(chw, sizeof *chw, N_PHOTOS * per, fp), N_PHOTOS * per);
    assert_int_equal(fclose(fp), 0);
    free(hwc);
    free(chw);
    snprintf(cmd, sizeof cmd,
             "CATDOG_SOURCE_DIR='%s' node '%s/tests/onnx/ort_run.js' '%s' '%s' %d %d %d %d > '%s'",
             CATDOG_SOURCE_DIR, CATDOG_SOURCE_DIR, onnx_path, in_path, N_PHOTOS, c, h, w, out_path);
    int rc = system(cmd);
    /* The oracle is a requirement (scripts/install-deps.sh), so its absence
     * fails: a comparison that did not run must not pass. */
    if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
        fail_msg("onnxruntime-node is not installed (run scripts/install-deps.sh: npm install --ignore-scripts)");
    if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
        fail_msg("node not found (run scripts/install-deps.sh)");
    assert_int_equal(rc, 0);
    fp = fopen(out_path, "r");
    assert_non_null(fp);
    char line[1024];
    for (int i = 0; i < N_PHOTOS; i++) {
        assert_non_null(fgets(line, sizeof line, fp));
        double v[4];
        int k = 0;
        char *s = line, *end;
        while (k < 4) {
            v[k] = strtod(s, &end);
            if (end == s)
                break;
            k++;
            s = end;
        }
        assert_true(k == 1 || k == 2);
        ort[i] = p_dog_of(v, k, logits);
    }
    fclose(fp);
    return 0;
}

/* catdog's P(dog) for the photos through predictor p. */
static void run_catdog(fixture *f, predictor *p, double *out)
{
    cd_err err;
    cd_err_clear(&err);
    predictor_session *s = predictor_session_new(p, N_PHOTOS, &err);
    assert_non_null(s);
    prediction pr[N_PHOTOS];
    if (predictor_classify_images(s, f->photos, N_PHOTOS, pr, &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < N_PHOTOS; i++)
        out[i] = pr[i].p_dog;
    predictor_session_free(s);
}

static predictor *load(const char *path, const char *weights, runner_backend backend)
{
    cd_err err;
    cd_err_clear(&err);
    transfer_load_opts lo = {.weights_path = weights};
    predictor_opts po = {.backend = backend};
    predictor *p = predictor_adopt(transfer_load(path, &lo, &err), &po, path, &err);
    if (!p)
        fail_msg("%s", err.msg);
    return p;
}

/* catdog with `catdog_path` (on `backend`) against ONNX Runtime with `onnx_path`. */
static void compare_on(fixture *f, const char *catdog_path, const char *weights,
                       const char *onnx_path, int logits, double tol, runner_backend backend)
{
    predictor *p = load(catdog_path, weights, backend);
    double ours[N_PHOTOS], ort[N_PHOTOS];
    run_catdog(f, p, ours);
    int rc = run_ort(f, p, onnx_path, logits, ort);
    predictor_free(p);
    assert_int_equal(rc, 0);
    double worst = 0, lo = 1, hi = 0;
    int dogs = 0;
    for (int i = 0; i < N_PHOTOS; i++) {
        double d = fabs(ours[i] - ort[i]);
        worst = d > worst ? d : worst;
        dogs += ours[i] >= 0.5;
        lo = ours[i] < lo ? ours[i] : lo;
        hi = ours[i] > hi ? ours[i] : hi;
        if (d > tol)
            fail_msg("%s, %s: catdog P(dog) %.8f, ONNX Runtime %.8f (diff %.2g > %.0e)", onnx_path,
                     photo_names[i], ours[i], ort[i], d, tol);
    }
    printf("%s%s: max |catdog - ONNX Runtime| = %.3g over %d photos (%d called dog, P(dog) "
           "%.4f to %.4f)\n",
           onnx_path, backend == RUNNER_REF ? " (--backend ref)" : "", worst, N_PHOTOS, dogs, lo,
           hi);
    /* Outputs that do not vary with the photo would hide a wrong layout. */
    assert_true(hi - lo > 1e-3);
}

static void compare(fixture *f, const char *catdog_path, const char *weights, const char *onnx_path,
                    int logits, double tol)
{
    compare_on(f, catdog_path, weights, onnx_path, logits, tol, RUNNER_DNNL);
}

static void export_onnx(const char *model_path, const char *weights, const char *out, int opset)
{
    cd_err err;
    cd_err_clear(&err);
    transfer_load_opts lo = {.weights_path = weights};
    model *m = transfer_load(model_path, &lo, &err);
    if (!m)
        fail_msg("%s", err.msg);
    onnx_save_opts so = {.opset = opset};
    if (onnx_save(m, out, &so, &err) != 0)
        fail_msg("%s", err.msg);
    model_free(m);
}

static void test_binary_export_runs_in_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    int opsets[] = {13, 17};
    for (int k = 0; k < 2; k++) {
        char out[400];
        snprintf(out, sizeof out, "%s/binary_%d.onnx", f->dir, opsets[k]);
        export_onnx(CATDOG_SOURCE_DIR "/models/binary.h5", NULL, out, opsets[k]);
        compare(f, CATDOG_SOURCE_DIR "/models/binary.h5", NULL, out, 0, 1e-5);
    }
}

static void test_transfer_export_runs_in_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    char weights[4400], out[400];
    snprintf(weights, sizeof weights,
             "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5", f->shared);
    if (access(weights, R_OK) != 0) {
        TEST_SKIP("%s not found", weights);
    }
    snprintf(out, sizeof out, "%s/transfer.onnx", f->dir);
    export_onnx(CATDOG_SOURCE_DIR "/models/transfer.h5", weights, out, 0);
    compare(f, CATDOG_SOURCE_DIR "/models/transfer.h5", weights, out, 0, 1e-5);
}

static void test_grouped_dilated_export_runs_in_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    cd_err err;
    cd_err_clear(&err);
    model *m = model_new("grouped", &err);
    assert_non_null(m);
    m->preprocess = CD_PRE_RESCALE;
    layer in = layer_template(LAYER_INPUT, "in", -1);
    in.in_h = 64, in.in_w = 64, in.in_c = 3;
    assert_true(model_add(m, &in, &err) >= 0);
    static const struct { int f, k, s, g, d; layer_pad pad; } convs[] = {
        {12, 3, 2, 3, 1, PAD_SAME},    /* grouped, strided */
        {12, 3, 1, 12, 2, PAD_SAME},   /* depthwise, dilated */
        {16, 1, 1, 1, 1, PAD_VALID},   /* pointwise */
        {16, 5, 2, 16, 1, PAD_SAME},   /* depthwise 5x5 / 2 */
        {8, 3, 1, 4, 3, PAD_VALID}};   /* grouped and dilated */
    int prev = 0;
    for (int k = 0; k < 5; k++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d", k);
        layer c = layer_template(LAYER_CONV2D, name, prev);
        c.filters = convs[k].f;
        c.kernel[0] = c.kernel[1] = convs[k].k;
        c.strides[0] = c.strides[1] = convs[k].s;
        c.groups = convs[k].g;
        c.dilation[0] = c.dilation[1] = convs[k].d;
        c.padding = convs[k].pad;
        c.act = ACT_RELU;
        prev = model_add(m, &c, &err);
        assert_true(prev >= 0);
    }
    layer dw = layer_template(LAYER_DEPTHWISE_CONV2D, "dw", prev);   /* Keras' DepthwiseConv2D */
    dw.kernel[0] = dw.kernel[1] = 3;
    dw.depth_multiplier = 2;
    dw.padding = PAD_SAME;
    dw.act = ACT_RELU;
    prev = model_add(m, &dw, &err);
    assert_true(prev >= 0);
    layer g = layer_template(LAYER_GLOBAL_AVGPOOL2D, "gap", prev);
    prev = model_add(m, &g, &err);
    layer d = layer_template(LAYER_DENSE, "out", prev);
    d.units = 1;
    d.act = ACT_SIGMOID;
    assert_true(model_add(m, &d, &err) >= 0);
    if (model_infer_shapes(m, &err) != 0)
        fail_msg("%s", err.msg);
    model_init_params(m, 77);
    /* a head that spreads P(dog) over the photos */
    tensor *k = m->layers[m->n_layers - 1].params[0];
    for (size_t i = 0; i < k->size; i++)
        k->data[i] *= 200.0f;
    char h5[400], out[400], cmd[1400];
    snprintf(h5, sizeof h5, "%s/grouped.h5", f->dir);
    snprintf(out, sizeof out, "%s/grouped.onnx", f->dir);
    if (keras_save(m, h5, &err) != 0)
        fail_msg("%s", err.msg);
    model_free(m);
    export_onnx(h5, NULL, out, 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys, onnx; m = onnx.load(sys.argv[1]); "
             "onnx.checker.check_model(m, full_check=True); "
             "c = [n for n in m.graph.node if n.op_type == \"Conv\"]; "
             "a = [{x.name: onnx.helper.get_attribute_value(x) for x in n.attribute} for n in c]; "
             "assert [x.get(\"group\", 1) for x in a] == [3, 12, 1, 16, 4, 8], a; "
             "assert [list(x.get(\"dilations\", [1, 1])) for x in a][1] == [2, 2], a' '%s'",
             out);
    if (system(cmd) != 0)
        fail_msg("onnx.checker refuses %s or its Conv attributes are wrong", out);
    compare(f, h5, NULL, out, 0, 1e-5);
    compare(f, out, NULL, out, 0, 1e-5);   /* and catdog reads its own export back */
}

static void test_pytorch_exports_match_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    int opsets[] = {13, 17};
    for (int k = 0; k < 2; k++) {
        char cmd[1200], sub[300];
        snprintf(sub, sizeof sub, "%s/torch%d", f->dir, opsets[k]);
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && /usr/bin/python3 '%s/tests/onnx/make_torch_models.py' '%s' %d "
                 ">/dev/null 2>&1",
                 sub, CATDOG_SOURCE_DIR, sub, opsets[k]);
        int rc = system(cmd);
        if (rc != 0) {
            fail_msg("the PyTorch export failed (rc %d; needs Debian's python3-torch: scripts/install-deps.sh)", rc);
        }
        char sig[400], lg[400];
        snprintf(sig, sizeof sig, "%s/torch_sigmoid.onnx", sub);
        snprintf(lg, sizeof lg, "%s/torch_logits.onnx", sub);
        compare(f, sig, NULL, sig, 0, 1e-4);
        compare(f, lg, NULL, lg, 1, 1e-4);
    }
}

static void test_torchvision_exports_match_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    int opsets[] = {13, 17};
    for (int k = 0; k < 2; k++) {
        char cmd[1200], sub[300];
        snprintf(sub, sizeof sub, "%s/tv%d", f->dir, opsets[k]);
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && /usr/bin/python3 '%s/tests/onnx/make_torchvision_models.py' "
                 "'%s' %d >/dev/null 2>&1",
                 sub, CATDOG_SOURCE_DIR, sub, opsets[k]);
        int rc = system(cmd);
        if (rc != 0) {
            fail_msg("the torchvision export failed (rc %d; needs Debian's python3-torch and "
                     "python3-torchvision: scripts/install-deps.sh)", rc);
        }
        static const struct { const char *name; int logits; } nets[] = {
            {"resnet18", 1}, {"squeezenet", 1}, {"sepnet", 0}, {"mobilenet_v2", 1}};
        for (size_t n = 0; n < sizeof nets / sizeof nets[0]; n++) {
            char path[400];
            snprintf(path, sizeof path, "%s/%s.onnx", sub, nets[n].name);
            compare(f, path, NULL, path, nets[n].logits, 1e-4);
        }
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*.onnx", sub);   /* 48 MB each round */
        assert_int_equal(system(cmd), 0);
    }
}

/* Squeeze-and-excitation: torchvision's efficientnet_b0 and mobilenet_v3
 * (small, large) at 96x96 and a Linear-layer SE block, opsets 13 and 17
 * (Hardswish is HardSigmoid * x at 13, HardSwish at 17), through both of
 * catdog's backends. */
static void test_se_exports_match_onnx_runtime(void **state)
{
    fixture *f = *state;
    if (!f->shared) {
        TEST_SKIP("../shared not found (set CATDOG_SHARED)");
    }
    int opsets[] = {13, 17};
    for (int k = 0; k < 2; k++) {
        char cmd[1200], sub[300];
        snprintf(sub, sizeof sub, "%s/se%d", f->dir, opsets[k]);
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && /usr/bin/python3 '%s/tests/onnx/make_torchvision_se.py' "
                 "'%s' %d '%s/data/dogs-vs-cats/train' >/dev/null 2>&1",
                 sub, CATDOG_SOURCE_DIR, sub, opsets[k], f->shared);
        int rc = system(cmd);
        if (rc != 0) {
            fail_msg("the torchvision export failed (rc %d; needs Debian's python3-torch and "
                     "python3-torchvision: scripts/install-deps.sh)", rc);
        }
        static const struct { const char *name; int logits; } nets[] = {
            {"efficientnet_b0", 1}, {"mobilenet_v3_small", 1}, {"mobilenet_v3_large", 1},
            {"se_linear", 0}};
        for (size_t n = 0; n < sizeof nets / sizeof nets[0]; n++) {
            char path[400];
            snprintf(path, sizeof path, "%s/%s.onnx", sub, nets[n].name);
            compare(f, path, NULL, path, nets[n].logits, 1e-4);
            compare_on(f, path, NULL, path, nets[n].logits, 1e-4, RUNNER_REF);
        }
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*.onnx", sub);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_export_runs_in_onnx_runtime),
        cmocka_unit_test(test_transfer_export_runs_in_onnx_runtime),
        cmocka_unit_test(test_pytorch_exports_match_onnx_runtime),
        cmocka_unit_test(test_torchvision_exports_match_onnx_runtime),
        cmocka_unit_test(test_grouped_dilated_export_runs_in_onnx_runtime),
        cmocka_unit_test(test_se_exports_match_onnx_runtime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
