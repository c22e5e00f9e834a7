/* tests/transfer/test_transfer_model.c - backbone weights lookup and checks,
 * head specs, the feature cache, and transfer model files: a shipped
 * head-only file composed with its backbone gives the same probabilities as
 * the model it was saved from and as its exported single file; a missing,
 * wrong-size or corrupted backbone file each gives its own clear error; a
 * random-weight VGG16 transfer model survives export and load with identical
 * outputs.  Tests needing the SqueezeNet weights skip without ../shared. */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/arch.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "transfer/transfer_features.h"
#include "transfer/transfer_finetune.h"
#include "transfer/transfer_head.h"
#include "transfer/transfer_model.h"
#include "transfer/transfer_weights.h"

#define SQ_FILE "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"

/* A fresh scratch folder under the build folder (tests run there). */
static void scratch(char *buf, size_t n, const char *name)
{
    char cwd[2048];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(buf, n, "%s/transfer_tmp_%s_%d", cwd, name, (int)getpid());
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    assert_int_equal(system(cmd), 0);
}

static void write_bytes(const char *path, size_t n, unsigned char fill)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc(fill, f);
    fclose(f);
}

/* Points the search at `dir` only: $CATDOG_WEIGHTS_DIR, a HOME without
 * ~/.keras, and a working folder without weights/ or ../shared/weights. */
static void isolate_search(const char *weights_dir, const char *root, char *old_cwd, size_t n)
{
    assert_non_null(getcwd(old_cwd, n));
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/home/work", root);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    assert_int_equal(system(cmd), 0);
    setenv("CATDOG_WEIGHTS_DIR", weights_dir, 1);
    snprintf(cmd, sizeof cmd, "%s/home", root);
    setenv("HOME", cmd, 1);
    assert_int_equal(chdir(sub), 0);
}

static void test_missing_weights_name_the_file_and_the_places(void **state)
{
    (void)state;
    char root[2200], old[2048], empty[2300], path[4096];
    scratch(root, sizeof root, "missing");
    snprintf(empty, sizeof empty, "%s/empty", root);
    assert_int_equal(mkdir(empty, 0777), 0);
    isolate_search(empty, root, old, sizeof old);
    const transfer_backbone_info *b = transfer_backbone_find("squeezenet", NULL);
    assert_non_null(b);
    cd_err err;
    assert_int_equal(transfer_weights_locate(b, NULL, path, sizeof path, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, SQ_FILE));
    assert_non_null(strstr(err.msg, empty));
    assert_non_null(strstr(err.msg, "$CATDOG_WEIGHTS_DIR"));
    assert_non_null(strstr(err.msg, "/.keras/models"));
    assert_non_null(strstr(err.msg, "./weights"));
    assert_non_null(strstr(err.msg, "../shared/weights"));
    assert_non_null(strstr(err.msg, "keras-squeezenet")); /* where it comes from */
    assert_non_null(strstr(err.msg, "--weights"));

    /* The same through the whole loader, and an explicit path that is missing. */
    assert_null(transfer_backbone_load(b, 64, NULL, NULL, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_null(transfer_backbone_load(b, 64, "/nonexistent/w.h5", NULL, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/w.h5"));
    assert_non_null(strstr(err.msg, "--weights"));

    /* vgg16 names Keras as the source. */
    const transfer_backbone_info *v = transfer_backbone_find("vgg16", NULL);
    assert_non_null(v);
    assert_int_equal(transfer_weights_locate(v, NULL, path, sizeof path, &err), -1);
    assert_non_null(strstr(err.msg, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"));
    assert_non_null(strstr(err.msg, "VGG16(weights='imagenet'"));
    assert_null(transfer_backbone_find("resnet", &err));
    assert_non_null(strstr(err.msg, "resnet"));
    assert_int_equal(chdir(old), 0);
}

static void test_search_order_and_wrong_size_and_corrupted_files(void **state)
{
    (void)state;
    char root[2200], old[2048], wdir[2300], path[4096], f[4400];
    scratch(root, sizeof root, "bad");
    snprintf(wdir, sizeof wdir, "%s/w", root);
    assert_int_equal(mkdir(wdir, 0777), 0);
    isolate_search(wdir, root, old, sizeof old);
    const transfer_backbone_info *b = transfer_backbone_find("squeezenet", NULL);
    cd_err err;

    /* ./weights/ is found when $CATDOG_WEIGHTS_DIR has nothing. */
    assert_int_equal(mkdir("weights", 0777), 0);
    write_bytes("weights/" SQ_FILE, 100, 0);
    assert_int_equal(transfer_weights_locate(b, NULL, path, sizeof path, &err), 0);
    assert_string_equal(path, "./weights/" SQ_FILE);

    /* $CATDOG_WEIGHTS_DIR wins over ./weights/. */
    snprintf(f, sizeof f, "%s/%s", wdir, SQ_FILE);
    write_bytes(f, 1000, 0);
    assert_int_equal(transfer_weights_locate(b, NULL, path, sizeof path, &err), 0);
    assert_string_equal(path, f);

    /* Wrong size: an incomplete download. */
    assert_null(transfer_backbone_load(b, 64, NULL, NULL, &err));
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "has 1000 bytes, expected 3002560"));
    assert_non_null(strstr(err.msg, f));

    /* Right size, wrong bytes: corrupted. */
    write_bytes(f, 3002560, 0x5a);
    assert_null(transfer_backbone_load(b, 64, NULL, NULL, &err));
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "corrupted"));
    assert_non_null(strstr(err.msg, "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da"));

    /* The same checks apply to a file given with --weights. */
    assert_null(transfer_backbone_load(b, 64, "weights/" SQ_FILE, NULL, &err));
    assert_non_null(strstr(err.msg, "has 100 bytes"));
    assert_int_equal(chdir(old), 0);
}

static void test_sha256_of_a_known_string(void **state)
{
    (void)state;
    char root[2200], f[2400], hex[TRANSFER_SHA256_HEX];
    scratch(root, sizeof root, "sha");
    snprintf(f, sizeof f, "%s/abc", root);
    FILE *fp = fopen(f, "wb");
    assert_non_null(fp);
    fputs("abc", fp);
    fclose(fp);
    cd_err err;
    assert_int_equal(transfer_sha256_file(f, hex, &err), 0);
    /* FIPS 180-2's example. */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_head_specs(void **state)
{
    (void)state;
    transfer_head_spec h;
    cd_err err;
    char buf[TRANSFER_HEAD_SPEC_MAX];
    assert_int_equal(transfer_head_parse("gapgmp,input-dropout=0.2,dense=128,dense=64,dropout=0.3", &h, &err), 0);
    assert_int_equal(h.pool, TRANSFER_POOL_GAPGMP);
    assert_int_equal(h.n_dense, 2);
    assert_int_equal(h.units[1], 64);
    transfer_head_format(&h, buf, sizeof buf);
    assert_string_equal(buf, "gapgmp,input-dropout=0.2,dense=128,dense=64,dropout=0.3");
    transfer_head_default(&h);
    transfer_head_format(&h, buf, sizeof buf);
    assert_string_equal(buf, "gap,dense=256,dropout=0.5");
    assert_int_equal(transfer_head_parse("dense=4", &h, &err), -1);
    assert_non_null(strstr(err.msg, "no pooling"));
    assert_int_equal(transfer_head_parse("gap,dropout=1.5", &h, &err), -1);
    assert_non_null(strstr(err.msg, "dropout"));
    assert_int_equal(transfer_head_parse("gap,gmp", &h, &err), -1);
    assert_int_equal(transfer_head_parse("avg", &h, &err), -1);
    assert_non_null(strstr(err.msg, "avg"));
    assert_int_equal(transfer_head_feature_size(&(transfer_head_spec){.pool = TRANSFER_POOL_FLATTEN}, 4, 4, 512), 8192);
}

static void test_feature_cache_round_trip_and_stale_key(void **state)
{
    (void)state;
    char root[2200], f[2400];
    scratch(root, sizeof root, "cache");
    snprintf(f, sizeof f, "%s/x.feat", root);
    transfer_features a = {0};
    a.n = 3;
    a.variants = 2;
    a.dim = 5;
    a.n_failed = 1;
    a.x = malloc(30 * sizeof(float));
    a.y = malloc(3 * sizeof(float));
    for (int i = 0; i < 30; i++)
        a.x[i] = (float)i * 0.5f - 3.0f;
    a.y[0] = 0;
    a.y[1] = 1;
    a.y[2] = 1;
    const char *paths[3] = {"a.jpg", "b.jpg", "c.jpg"};
    int labels[3] = {0, 1, 1};
    char key[TRANSFER_KEY_MAX], key2[TRANSFER_KEY_MAX];
    cd_err err;
    assert_int_equal(transfer_features_key("ab", 224, TRANSFER_POOL_GAPGMP, 2, paths, labels, 3, key, &err), 0);
    labels[2] = 0;
    assert_int_equal(transfer_features_key("ab", 224, TRANSFER_POOL_GAPGMP, 2, paths, labels, 3, key2, &err), 0);
    assert_string_not_equal(key, key2); /* a relabelled list is another cache */
    assert_int_equal(transfer_features_save(&a, key, f, &err), 0);
    transfer_features b = {0};
    assert_int_equal(transfer_features_load(&b, key2, f, &err), 0);
    assert_null(b.x);
    assert_int_equal(transfer_features_load(&b, key, f, &err), 1);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.variants, 2);
    assert_int_equal(b.dim, 5);
    assert_int_equal(b.n_failed, 1);
    assert_memory_equal(b.x, a.x, 30 * sizeof(float));
    assert_memory_equal(b.y, a.y, 3 * sizeof(float));
    /* A truncated file is an error, not silently short features. */
    assert_int_equal(truncate(f, 8 + TRANSFER_KEY_MAX + 32 + 12 + 20), 0);
    transfer_features c = {0};
    assert_int_equal(transfer_features_load(&c, key, f, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));
    transfer_features_free(&a);
    transfer_features_free(&b);
}

/* Deterministic pseudo-random inputs. */
static float *random_input(int n, int s, unsigned seed, float scale)
{
    size_t k = (size_t)n * s * s * 3;
    float *x = malloc(k * sizeof(float));
    unsigned v = seed * 2654435761u + 1;
    for (size_t i = 0; i < k; i++) {
        v = v * 1664525u + 1013904223u;
        x[i] = scale * ((float)(v >> 8) / (float)(1 << 24) - 0.5f);
    }
    return x;
}

static float *forward(const model *m, runner_backend be, const float *x, int n)
{
    cd_err err;
    runner_opts o = {.backend = be, .threads = 2};
    runner *r = runner_new(m, n, &o, &err);
    if (!r)
        fail_msg("runner: %s", err.msg);
    float *out = malloc(model_output_size(m) * (size_t)n * sizeof(float));
    if (runner_forward(r, x, n, out, &err) != 0)
        fail_msg("forward: %s", err.msg);
    runner_free(r);
    return out;
}

/* A composed SqueezeNet transfer model with a random head. */
static model *random_squeezenet_transfer(const char *weights, int size, const char *head_spec,
                                         transfer_weights_found *wf)
{
    cd_err err;
    const transfer_backbone_info *b = transfer_backbone_find("squeezenet", &err);
    model *bb = transfer_backbone_load(b, size, weights, wf, &err);
    if (!bb)
        fail_msg("%s", err.msg);
    transfer_head_spec h;
    assert_int_equal(transfer_head_parse(head_spec, &h, &err), 0);
    int c = model_find(bb, "fire9/concat");
    model *tail = model_new("t", &err);
    layer in = layer_template(LAYER_INPUT, "backbone_features", -1);
    in.in_h = bb->layers[c].out_h;
    in.in_w = bb->layers[c].out_w;
    in.in_c = bb->layers[c].out_c;
    assert_int_equal(model_add(tail, &in, &err), 0);
    assert_true(transfer_head_append(tail, 0, &h, &err) > 0);
    assert_int_equal(model_infer_shapes(tail, &err), 0);
    model_init_params(tail, 7);
    /* Scale the output layer down so probabilities are not all saturated. */
    layer *o = &tail->layers[model_find(tail, "head_output")];
    for (size_t i = 0; i < o->params[0]->size; i++)
        o->params[0]->data[i] *= 0.05f;
    tail->test_accuracy = 0.5;
    model *m = transfer_compose(bb, "fire9/concat", tail, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model_free(tail);
    model_free(bb);
    return m;
}

static void test_shipped_file_composes_and_exports_to_the_same_probabilities(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char weights[4200], root[2200], shipped[2400], exported[2400];
    snprintf(weights, sizeof weights, "%s/weights/%s", shared, SQ_FILE);
    scratch(root, sizeof root, "ship");
    snprintf(shipped, sizeof shipped, "%s/transfer.h5", root);
    snprintf(exported, sizeof exported, "%s/transfer_full.h5", root);
    transfer_weights_found wf;
    model *m = random_squeezenet_transfer(weights, 96, "gapgmp,dense=16,dropout=0.5", &wf);
    assert_string_equal(wf.sha256, "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da");
    assert_string_equal(m->arch, "transfer");
    assert_int_equal(m->preprocess, CD_PRE_CAFFE);

    transfer_meta meta = {0};
    snprintf(meta.backbone, sizeof meta.backbone, "squeezenet");
    snprintf(meta.backbone_file, sizeof meta.backbone_file, SQ_FILE);
    memcpy(meta.backbone_sha256, wf.sha256, sizeof meta.backbone_sha256);
    snprintf(meta.cut, sizeof meta.cut, "fire9/concat");
    meta.img_size = 96;
    snprintf(meta.head, sizeof meta.head, "gapgmp,dense=16,dropout=0.5");
    cd_err err;
    if (transfer_save(m, &meta, shipped, &err) != 0)
        fail_msg("%s", err.msg);

    /* The shipped file is small: the head only, no backbone weights. */
    struct stat st;
    assert_int_equal(stat(shipped, &st), 0);
    assert_true(st.st_size < 200000);
    transfer_meta got;
    assert_int_equal(transfer_file_probe(shipped, &got, &err), 1);
    assert_string_equal(got.backbone_sha256, wf.sha256);
    assert_string_equal(got.cut, "fire9/concat");
    assert_int_equal(got.img_size, 96);
    /* Loaded without composing, it is an ordinary Keras model of the head. */
    model *head_only = keras_load(shipped, &err);
    assert_non_null(head_only);
    assert_string_equal(head_only->layers[0].name, "backbone_features");
    model_free(head_only);

    transfer_load_opts lo = {.weights_path = weights};
    model *loaded = transfer_load(shipped, &lo, &err);
    if (!loaded)
        fail_msg("%s", err.msg);
    assert_int_equal(loaded->n_layers, m->n_layers);
    assert_string_equal(loaded->arch, "transfer");
    assert_int_equal(loaded->preprocess, CD_PRE_CAFFE);
    assert_true(fabs(loaded->test_accuracy - 0.5) < 1e-9);
    size_t t1, tr1, f1, t2, tr2, f2;
    model_param_counts(m, &t1, &tr1, &f1);
    model_param_counts(loaded, &t2, &tr2, &f2);
    assert_int_equal(t1, t2);
    assert_int_equal(tr1, tr2);
    assert_int_equal(f1, 722496); /* SqueezeNet 1.1 without top, frozen */

    if (transfer_export(shipped, &lo, exported, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(transfer_file_probe(exported, NULL, &err), 0);
    model *full = keras_load(exported, &err); /* no backbone lookup needed */
    if (!full)
        fail_msg("%s", err.msg);
    /* transfer_load of an ordinary file is keras_load. */
    model *full2 = transfer_load(exported, NULL, &err);
    assert_non_null(full2);
    assert_int_equal(full2->n_layers, full->n_layers);
    model_free(full2);

    float *x = random_input(3, 96, 11, 200.0f);
    for (int be = 0; be < 2; be++) {
        float *p0 = forward(m, (runner_backend)be, x, 3);
        float *p1 = forward(loaded, (runner_backend)be, x, 3);
        float *p2 = forward(full, (runner_backend)be, x, 3);
        for (int i = 0; i < 3; i++) {
            assert_true(p0[i] > 0.0f && p0[i] < 1.0f);
            assert_float_equal(p1[i], p0[i], 0.0f);
            assert_float_equal(p2[i], p0[i], 0.0f);
        }
        assert_true(fabsf(p0[0] - p0[1]) > 1e-6f); /* the inputs really differ */
        free(p0);
        free(p1);
        free(p2);
    }
    free(x);

    /* The composed summary shows the backbone as one nested model. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    model_summary(loaded, mem);
    fclose(mem);
    assert_non_null(strstr(buf, "squeezenet (Model)"));
    assert_non_null(strstr(buf, "head_output"));
    free(buf);
    model_free(full);
    model_free(loaded);
    model_free(m);
}

static void test_shipped_file_refuses_other_backbone_weights(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char weights[4200], root[2200], shipped[2400];
    snprintf(weights, sizeof weights, "%s/weights/%s", shared, SQ_FILE);
    scratch(root, sizeof root, "othersha");
    snprintf(shipped, sizeof shipped, "%s/transfer.h5", root);
    transfer_weights_found wf;
    model *m = random_squeezenet_transfer(weights, 64, "gap", &wf);
    transfer_meta meta = {0};
    snprintf(meta.backbone, sizeof meta.backbone, "squeezenet");
    snprintf(meta.backbone_file, sizeof meta.backbone_file, SQ_FILE);
    memset(meta.backbone_sha256, 'e', 64);
    snprintf(meta.cut, sizeof meta.cut, "fire9/concat");
    meta.img_size = 64;
    snprintf(meta.head, sizeof meta.head, "gap");
    cd_err err;
    assert_int_equal(transfer_save(m, &meta, shipped, &err), 0);
    transfer_load_opts lo = {.weights_path = weights};
    assert_null(transfer_load(shipped, &lo, &err));
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "eeeeeeee"));
    assert_non_null(strstr(err.msg, wf.sha256));

    /* Missing backbone: the error says which model needed what. */
    char old[2048], empty[2300];
    snprintf(empty, sizeof empty, "%s/none", root);
    assert_int_equal(mkdir(empty, 0777), 0);
    isolate_search(empty, root, old, sizeof old);
    assert_null(transfer_load(shipped, NULL, &err));
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "transfer.h5 needs the squeezenet backbone"));
    assert_non_null(strstr(err.msg, SQ_FILE));
    assert_int_equal(chdir(old), 0);
    model_free(m);
}

/* VGG16 with random weights (the real ones are not on these machines): the
 * composed seed-style model exports and loads back with identical outputs. */
static void test_random_vgg16_transfer_round_trip(void **state)
{
    (void)state;
    char root[2200], wfile[2400], out[2400];
    scratch(root, sizeof root, "vgg");
    snprintf(wfile, sizeof wfile, "%s/vgg16_random.h5", root);
    snprintf(out, sizeof out, "%s/vgg16_transfer.h5", root);
    cd_err err;
    model *v = arch_vgg16(64, &err);
    assert_non_null(v);
    model_init_params(v, 3);
    assert_int_equal(keras_save(v, wfile, &err), 0);
    /* Load it as a backbone (size unknown for this file: bypass the size check). */
    transfer_backbone_info b = *transfer_backbone_find("vgg16", &err);
    b.size = 0;
    transfer_weights_found wf;
    model *bb = transfer_backbone_load(&b, 64, wfile, &wf, &err);
    if (!bb)
        fail_msg("%s", err.msg);
    assert_int_equal(strlen(wf.sha256), 64);
    size_t total, trainable, frozen;
    model_param_counts(bb, &total, &trainable, &frozen);
    assert_int_equal(frozen, 14714688);
    transfer_head_spec h;
    assert_int_equal(transfer_head_parse("flatten,dense=256,dropout=0.5", &h, &err), 0);
    int c = model_find(bb, "block5_pool");
    model *tail = model_new("t", &err);
    layer in = layer_template(LAYER_INPUT, "backbone_features", -1);
    in.in_h = bb->layers[c].out_h;
    in.in_w = bb->layers[c].out_w;
    in.in_c = bb->layers[c].out_c;
    assert_int_equal(model_add(tail, &in, &err), 0);
    assert_true(transfer_head_append(tail, 0, &h, &err) > 0);
    assert_int_equal(model_infer_shapes(tail, &err), 0);
    model_init_params(tail, 5);
    model *m = transfer_compose(bb, "block5_pool", tail, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model_param_counts(m, &total, &trainable, &frozen);
    assert_int_equal(trainable, 2 * 2 * 512 * 256 + 256 + 257);
    assert_int_equal(keras_save(m, out, &err), 0);
    model *l = keras_load(out, &err);
    if (!l)
        fail_msg("%s", err.msg);
    float *x = random_input(2, 64, 5, 100.0f);
    float *p0 = forward(m, RUNNER_DNNL, x, 2), *p1 = forward(l, RUNNER_DNNL, x, 2);
    assert_memory_equal(p0, p1, 2 * sizeof(float));
    assert_true(isfinite(p0[0]) && isfinite(p0[1]));
    free(x);
    free(p0);
    free(p1);
    model_free(l);
    model_free(m);
    model_free(tail);
    model_free(bb);
    model_free(v);
}

static void test_fine_tune_cuts(void **state)
{
    (void)state;
    cd_err err;
    char cut[LAYER_NAME_MAX];
    model *sq = arch_squeezenet(64, &err);
    model *vgg = arch_vgg16(64, &err);
    assert_non_null(sq);
    assert_non_null(vgg);
    assert_int_equal(transfer_finetune_cut(sq, "squeezenet", 1, cut, sizeof cut, &err), 0);
    assert_string_equal(cut, "fire8/concat");
    assert_int_equal(transfer_finetune_cut(sq, "squeezenet", 4, cut, sizeof cut, &err), 0);
    assert_string_equal(cut, "pool5");
    assert_int_equal(transfer_finetune_cut(sq, "squeezenet", 8, cut, sizeof cut, &err), 0);
    assert_string_equal(cut, "pool1");
    assert_int_equal(transfer_finetune_cut(sq, "squeezenet", 9, cut, sizeof cut, &err), -1);
    assert_non_null(strstr(err.msg, "8 Fire modules"));
    assert_int_equal(transfer_finetune_cut(vgg, "vgg16", 1, cut, sizeof cut, &err), 0);
    assert_string_equal(cut, "block4_pool");
    assert_int_equal(transfer_finetune_cut(vgg, "vgg16", 5, cut, sizeof cut, &err), -1);
    model_free(sq);
    model_free(vgg);
}

/* Removes this run's scratch folders. */
static int cleanup(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf transfer_tmp_*_%d", (int)getpid());
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_weights_name_the_file_and_the_places),
        cmocka_unit_test(test_search_order_and_wrong_size_and_corrupted_files),
        cmocka_unit_test(test_sha256_of_a_known_string),
        cmocka_unit_test(test_head_specs),
        cmocka_unit_test(test_feature_cache_round_trip_and_stale_key),
        cmocka_unit_test(test_shipped_file_composes_and_exports_to_the_same_probabilities),
        cmocka_unit_test(test_shipped_file_refuses_other_backbone_weights),
        cmocka_unit_test(test_random_vgg16_transfer_round_trip),
        cmocka_unit_test(test_fine_tune_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
