/* tests/transfer/test_transfer_actcache.c - fine-tuning's activation cache:
 * float16 conversion (golden values, every half round-trips); the cache's
 * source replays dataset_iter's shuffled, flip-augmented epochs exactly (a
 * frozen front run on the iterator's batches gives what the cache gives,
 * unreadable photo included); the key rebuilds the file whenever what decides
 * it changes, a stopped or refused build (float16 overflow) leaves no file;
 * and a fine-tuning run from the cache ends with the same weights
 * and losses as one running the front every step (float32: within 1e-6,
 * exactly here; float16: losses within 1e-2, weights 1e-3), under phase 2's
 * cosine schedule.  Photos from ../shared (skips without). */
#include "test_util.h"

#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "engine/arch.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "train/history.h"
#include "train/optim.h"
#include "train/train.h"
#include "transfer/transfer_actcache.h"
#include "transfer/transfer_finetune.h"
#include "transfer/transfer_model.h"
#include "transfer/transfer_train.h"

/* float16 storage rounds each cached value to 11 significant bits.  Measured
 * on this test's split after 12 SGD steps: losses 1e-4 and 5e-4 apart
 * (relative), validation losses 8e-5 and 3.5e-3, weights 6.3e-5 of the
 * largest.  (With Adam, which moves every weight by about lr whatever its
 * gradient's size, the runs drift further apart, as with any other rounding
 * change; README, "Fine-tuning from cached activations".)  float32 gives
 * the photos' run exactly (48 train photos in batches of 8: the front runs on
 * the same batch sizes building the cache or not); 1e-6 is allowed. */
#define F16_LOSS_TOLERANCE 1e-2
#define F16_WEIGHT_TOLERANCE 1e-3
#define FAKE_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_f16_conversion(void **state)
{
    (void)state;
    assert_int_equal(transfer_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(transfer_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(transfer_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(transfer_f32_to_f16(65519.0f), 0x7bff);   /* below the midpoint to 2^16 */
    assert_int_equal(transfer_f32_to_f16(65520.0f), 0x7c00);   /* the midpoint rounds to inf */
    assert_int_equal(transfer_f32_to_f16(1.0f / 3.0f), 0x3555);
    assert_int_equal(transfer_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);        /* tie: to even */
    assert_int_equal(transfer_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);    /* tie: to even */
    assert_int_equal(transfer_f32_to_f16(0x1p-24f), 0x0001);               /* smallest subnormal */
    assert_int_equal(transfer_f32_to_f16(0x1p-25f), 0x0000);               /* tie: to even (0) */
    assert_int_equal(transfer_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(transfer_f32_to_f16(0x1.ff8p-15f), 0x03ff);           /* the largest subnormal */
    assert_int_equal(transfer_f32_to_f16(0x1.ffep-15f), 0x0400);           /* carries into a normal */
    assert_true(transfer_f16_to_f32(0x7c00) == INFINITY);
    assert_true(isnan(transfer_f16_to_f32(transfer_f32_to_f16(NAN))));
    /* Every finite half and infinity survives the round trip. */
    for (unsigned h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN */
        float f = transfer_f16_to_f32((unsigned short)h);
        if (transfer_f32_to_f16(f) != h)
            fail_msg("half 0x%04x -> %g -> 0x%04x", h, (double)f, transfer_f32_to_f16(f));
    }
    /* The error bound the cache's float16 claims: half an ulp, 2^-11 relative. */
    for (int i = 1; i < 100000; i++) {
        float x = (float)i * 0.37f;
        float y = transfer_f16_to_f32(transfer_f32_to_f16(x));
        assert_true(fabsf(y - x) <= x * 0x1p-11f);
    }
}

/* DIR/{cats,dogs}: 7 shared photos each (first), plus an unreadable one in
 * cats/ when broken. */
static void make_folder(const char *shared, const char *dir, int first, int broken)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s/cats' '%s/dogs' && for i in $(seq %d %d); do "
             "ln -s '%s/data/dogs-vs-cats/train/cat.'$i.jpg '%s/cats/' && "
             "ln -s '%s/data/dogs-vs-cats/train/dog.'$i.jpg '%s/dogs/'; done",
             dir, dir, dir, first, first + 6, shared, dir, shared, dir);
    assert_int_equal(system(cmd), 0);
    if (broken) {
        snprintf(cmd, sizeof cmd, "printf 'not a photo' > '%s/cats/cat.broken.jpg'", dir);
        assert_int_equal(system(cmd), 0);
    }
}

static model *small_front(void)
{
    cd_err err;
    model *m = arch_squeezenet(64, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model_init_params(m, 5);
    return m;
}

static void cache_opts(transfer_actcache_opts *o, transfer_actcache_precision p)
{
    memset(o, 0, sizeof *o);
    o->backbone = "squeezenet";
    o->weights_sha256 = FAKE_SHA;
    o->cut = "fire9/concat";
    o->variants = 2;
    o->precision = p;
    o->batch = 4;
    o->threads = 1;
    o->workers = 2;
}

/* For two shuffled, flipped epochs: the front on dataset_iter's batches
 * against the cache's source; the largest difference relative to the
 * largest value. */
static double replay_difference(const model *front, const dataset *d, const transfer_actcache *c)
{
    cd_err err;
    augment_opts flip = {0};
    flip.horizontal_flip = 1;
    dataset_iter_opts io = {0};
    io.batch = 5;
    io.img_size = 64;
    io.preprocess = front->preprocess;
    io.shuffle = 1;
    io.seed = 11;
    io.workers = 2;
    io.augment = &flip;
    dataset_iter *it = dataset_iter_new(d, &io, &err);
    assert_non_null(it);
    runner_opts ro = {0};
    ro.threads = 1;
    runner *r = runner_new(front, 5, &ro, &err);
    assert_non_null(r);
    size_t dim = transfer_actcache_dim(c);
    assert_int_equal(dim, model_output_size(front));
    float *act = malloc(5 * dim * sizeof(float));
    assert_non_null(act);
    transfer_actcache_src s;
    engine_source src;
    if (transfer_actcache_source(&s, c, d, 5, 11, 1, TRANSFER_ACTCACHE_FLIP_RANDOM, 64, &src, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(src.batches(src.ctx), dataset_iter_batches(it));
    double worst = 0.0, top = 0.0;
    int flipped_seen = 0;
    for (int e = 0; e < 2; e++) {
        assert_int_equal(dataset_iter_begin_epoch(it, e, &err), 0);
        assert_int_equal(src.begin_epoch(src.ctx, e, &err), 0);
        const float *x, *y, *cx, *cy;
        int n, cn, batches = 0;
        while (dataset_iter_next(it, &x, &y, &n, &err) == 1) {
            assert_int_equal(src.next(src.ctx, &cx, &cy, &cn, &err), 1);
            assert_int_equal(cn, n);
            assert_int_equal(runner_forward(r, x, n, act, &err), 0);
            for (int k = 0; k < n; k++)
                assert_true(cy[k] == y[k]);
            for (size_t i = 0; i < (size_t)n * dim; i++) {
                double dv = fabs((double)act[i] - cx[i]);
                worst = dv > worst ? dv : worst;
                top = fabs(act[i]) > top ? fabs(act[i]) : top;
            }
            batches++;
        }
        assert_int_equal(src.next(src.ctx, &cx, &cy, &cn, &err), 0);
        /* 15 files, one unreadable, batches of 5: 3 batches, 14 photos. */
        assert_int_equal(batches, 3);
        /* Some sample of the epoch was mirrored (half of them are, on average). */
        for (size_t i = 0; i < d->n; i++) {
            augment_params ap;
            augment_draw(&flip, dataset_sample_seed(11, e, i), 64, 64, &ap);
            flipped_seen += ap.flip;
        }
    }
    assert_true(flipped_seen > 0 && flipped_seen < 30);
    assert_int_equal(dataset_iter_failed(it, NULL), 1);
    transfer_actcache_source_free(&s);
    free(act);
    runner_free(r);
    dataset_iter_free(it);
    assert_true(top > 0.0);
    return worst / top;
}

static void test_source_replays_dataset_iter(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "actcache_tmp_replay_%d", (int)getpid());
    make_folder(shared, dir, 100, 1);
    cd_err err;
    dataset *d = dataset_open(dir, &err);
    assert_non_null(d);
    assert_int_equal(d->n, 15);
    model *front = small_front();
    transfer_actcache_opts ao;
    int built;

    cache_opts(&ao, TRANSFER_ACTCACHE_F32);
    snprintf(path, sizeof path, "%s/f32.act", dir);
    transfer_actcache *c = transfer_actcache_open(path, front, d, &ao, &built, &err);
    if (!c)
        fail_msg("%s", err.msg);
    assert_int_equal(built, 1);
    assert_int_equal(transfer_actcache_failed(c), 1);
    double rel32 = replay_difference(front, d, c);
    print_message("float32 cache vs the front on the iterator's batches: %.3g of the largest value\n", rel32);
    assert_true(rel32 <= 1e-6);
    /* The file is photo-major with its header: its size says so. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true((size_t)st.st_size > 15 * 2 * transfer_actcache_dim(c) * 4);
    assert_true((size_t)st.st_size < 15 * 2 * transfer_actcache_dim(c) * 4 + 1024);
    transfer_actcache_free(c);

    cache_opts(&ao, TRANSFER_ACTCACHE_F16);
    snprintf(path, sizeof path, "%s/f16.act", dir);
    if (!(c = transfer_actcache_open(path, front, d, &ao, &built, &err)))
        fail_msg("%s", err.msg);
    double rel16 = replay_difference(front, d, c);
    print_message("float16 cache: %.3g of the largest value\n", rel16);
    assert_true(rel16 <= 0x1p-11 + 1e-6);
    assert_true(rel16 > rel32);
    transfer_actcache_free(c);

    model_free(front);
    dataset_free(d);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Opens path for (front, d, ao) and says whether it had to build it. */
static int opens_built(const char *path, const model *front, const dataset *d, const transfer_actcache_opts *ao)
{
    cd_err err;
    int built = -1;
    transfer_actcache *c = transfer_actcache_open(path, front, d, ao, &built, &err);
    if (!c)
        fail_msg("%s", err.msg);
    transfer_actcache_free(c);
    return built;
}

static void test_key_rebuilds_on_any_change(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char dir[512], dir2[600], path[600];
    snprintf(dir, sizeof dir, "actcache_tmp_key_%d", (int)getpid());
    snprintf(dir2, sizeof dir2, "%s_other", dir);
    make_folder(shared, dir, 200, 0);
    make_folder(shared, dir2, 201, 0);
    snprintf(path, sizeof path, "%s/c.act", dir);
    cd_err err;
    dataset *d = dataset_open(dir, &err), *d2 = dataset_open(dir2, &err);
    assert_non_null(d);
    assert_non_null(d2);
    model *front = small_front();
    transfer_actcache_opts ao;
    cache_opts(&ao, TRANSFER_ACTCACHE_F16);
    ao.variants = 1;
    assert_int_equal(opens_built(path, front, d, &ao), 1);
    assert_int_equal(opens_built(path, front, d, &ao), 0);            /* reused */
    ao.weights_sha256 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"; /* other weights */
    assert_int_equal(opens_built(path, front, d, &ao), 1);
    ao.cut = "fire8/concat";                                               /* other split point */
    assert_int_equal(opens_built(path, front, d, &ao), 1);
    ao.precision = TRANSFER_ACTCACHE_F32;
    assert_int_equal(opens_built(path, front, d, &ao), 1);
    ao.variants = 2;
    assert_int_equal(opens_built(path, front, d, &ao), 1);
    assert_int_equal(opens_built(path, front, d2, &ao), 1);           /* other photos */
    front->preprocess = CD_PRE_TF;                                         /* other preprocessing */
    assert_int_equal(opens_built(path, front, d2, &ao), 1);
    assert_int_equal(opens_built(path, front, d2, &ao), 0);
    model *big = arch_squeezenet(80, &err);                                /* other input size */
    assert_non_null(big);
    big->preprocess = CD_PRE_TF;
    assert_int_equal(opens_built(path, big, d2, &ao), 1);
    /* A file cut short is built again, never read. */
    assert_int_equal(truncate(path, 2000), 0);
    assert_int_equal(opens_built(path, big, d2, &ao), 1);
    assert_int_equal(opens_built(path, big, d2, &ao), 0);
    model_free(big);

    /* Stopped while building: CD_ERR_INTERRUPTED, no file, no temporary. */
    char stopped[700], cmd0[1500];
    snprintf(stopped, sizeof stopped, "%s/stopped.act", dir);
    volatile sig_atomic_t stop = 1;
    ao.stop = &stop;
    int built = -1;
    assert_null(transfer_actcache_open(stopped, front, d, &ao, &built, &err));
    assert_int_equal(err.code, CD_ERR_INTERRUPTED);
    ao.stop = NULL;
    snprintf(cmd0, sizeof cmd0, "test -z \"$(ls '%s' | grep -v -e '^cats$' -e '^dogs$' -e '^c.act$')\"", dir);
    assert_int_equal(system(cmd0), 0);

    /* float16 refuses values beyond its range, naming the cut. */
    ao.precision = TRANSFER_ACTCACHE_F16;
    tensor *k = front->layers[model_find(front, "conv1")].params[0];
    for (size_t i = 0; i < k->size; i++)
        k->data[i] *= 1e9f; /* outputs up to about 1e6 */
    assert_null(transfer_actcache_open(stopped, front, d, &ao, &built, &err));
    assert_int_equal(err.code, CD_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "fire8/concat"));
    assert_non_null(strstr(err.msg, "f32"));
    assert_int_equal(system(cmd0), 0);
    model_free(front);
    dataset_free(d);
    dataset_free(d2);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
    assert_int_equal(system(cmd), 0);
}

/* DIR/{train,validation}/{cats,dogs}: 24 + 10 shared photos of each class. */
static void make_split(const char *shared, const char *dir)
{
    static const int counts[2] = {24, 10};
    test_make_split(shared, dir, 6000, counts, 2);
}

/* The head alone on the split (no fine-tuning): the shipped file at out. */
static void train_head(const char *data, const char *out, const char *cache, const char *weights)
{
    train_opts o;
    transfer_opts t;
    train_opts_defaults(&o);
    o.data_dir = data;
    o.out_path = out;
    o.img_size = 96;
    o.epochs = 3;
    o.batch = 8;
    o.threads = 1;
    o.seed = 4;
    transfer_opts_defaults(&t);
    t.weights_path = weights;
    t.cache_dir = cache;
    cd_err err;
    transfer_result r;
    if (transfer_train(&o, &t, &r, &err) != 0)
        fail_msg("%s: %s", out, err.msg);
}

typedef struct ft_run {
    model *m;
    history h;
    transfer_finetune_result r;
} ft_run;

/* Fine-tuning options: the last 2 Fire modules, 2 epochs, flip-augmented,
 * cosine decay, from the cache (cache != NULL, in precision p) or running
 * the front every step. */
static void ft_opts(train_opts *o, transfer_finetune_opts *fo, const char *cache, transfer_actcache_precision p)
{
    train_opts_defaults(o);
    o->batch = 8;
    o->threads = 1;
    o->seed = 4;
    /* SGD: a comparison of arithmetic (Adam would turn a rounding-level
     * gradient's sign into a step of lr). */
    optim_defaults(OPTIM_SGD, &o->optim);
    memset(fo, 0, sizeof *fo);
    fo->o = o;
    fo->blocks = 2;
    fo->epochs = 2;
    fo->lr = 3e-3f;
    fo->flip = 1;
    fo->total_epochs = 2;
    fo->start_score = HUGE_VAL; /* keep the best epoch whatever it is */
    fo->schedule = TRAIN_SCHEDULE_COSINE;
    fo->cache_dir = cache;
    fo->cache_precision = p;
    fo->weights_sha256 = FAKE_SHA;
}

/* Fine-tunes the shipped head file with ft_opts. */
static void run_ft(const char *head, const char *weights, const dataset *train, const dataset *val,
                   const char *cache, transfer_actcache_precision p, ft_run *fr)
{
    cd_err err;
    transfer_load_opts lo = {weights, 0};
    if (!(fr->m = transfer_load(head, &lo, &err)))
        fail_msg("%s", err.msg);
    train_opts o;
    transfer_finetune_opts fo;
    ft_opts(&o, &fo, cache, p);
    history_init(&fr->h);
    if (transfer_finetune(&fr->m, "squeezenet", train, val, &fo, &fr->h, &fr->r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(fr->r.epochs_done, 2);
    assert_true(fr->r.best_epoch > 0);
    assert_int_equal(fr->h.n, 2);
    assert_int_equal(fr->r.cached, cache != NULL);
}

/* The fine-tuned model's logits on d (as is and mirrored) from the f32 cache
 * equal those of the whole model on the photos. */
static void check_cached_logits(const model *m, const dataset *d, const char *cache)
{
    cd_err err;
    train_opts o;
    transfer_finetune_opts fo;
    ft_opts(&o, &fo, cache, TRANSFER_ACTCACHE_F32);
    size_t cap = d->n, na = 0, nb = 0;
    float *z = calloc(6 * cap, sizeof(float));
    assert_non_null(z);
    if (transfer_model_logits(m, d, &o, z, z + cap, z + 2 * cap, &na, &err) != 0 ||
        transfer_finetune_logits(m, "squeezenet", d, "test", &fo, z + 3 * cap, z + 4 * cap, z + 5 * cap, &nb,
                                 &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(na, d->n);
    assert_int_equal(nb, d->n);
    double worst = 0.0;
    for (size_t i = 0; i < 3 * cap; i++) {
        double dv = fabs((double)z[i] - z[3 * cap + i]);
        worst = dv > worst ? dv : worst;
        assert_true(dv <= 1e-5 * (1.0 + fabs(z[i])));
    }
    print_message("test logits from the cache vs the whole model: largest difference %.3g\n", worst);
    free(z);
}

/* The largest difference between the parameters of two models, relative
 * to the largest parameter. */
static double weights_difference(const model *ma, const model *mb)
{
    assert_int_equal(ma->n_layers, mb->n_layers);
    double worst = 0.0, top = 0.0;
    for (int i = 0; i < ma->n_layers; i++) {
        assert_int_equal(ma->layers[i].n_params, mb->layers[i].n_params);
        for (int k = 0; k < ma->layers[i].n_params; k++) {
            const tensor *x = ma->layers[i].params[k], *y = mb->layers[i].params[k];
            assert_int_equal(x->size, y->size);
            for (size_t j = 0; j < x->size; j++) {
                double dv = fabs((double)x->data[j] - y->data[j]);
                worst = dv > worst ? dv : worst;
                top = fabs(x->data[j]) > top ? fabs(x->data[j]) : top;
            }
        }
    }
    return worst / top;
}

static void test_finetune_from_cache_matches_photos(void **state)
{
    (void)state;
    TEST_REQUIRE_SHARED(shared);
    char cwd[2048], dir[2200], data[2300], cache[2300], head[2300], part[2400];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s/actcache_tmp_ft_%d", cwd, (int)getpid());
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(head, sizeof head, "%s/head.h5", dir);
    make_split(shared, data);
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
             shared);
    train_head(data, head, cache, weights);
    cd_err err;
    snprintf(part, sizeof part, "%s/train", data);
    dataset *train = dataset_open(part, &err);
    snprintf(part, sizeof part, "%s/validation", data);
    dataset *val = dataset_open(part, &err);
    assert_non_null(train);
    assert_non_null(val);
    ft_run a, b, b2, c;
    run_ft(head, weights, train, val, NULL, TRANSFER_ACTCACHE_F16, &a);
    run_ft(head, weights, train, val, cache, TRANSFER_ACTCACHE_F32, &b);
    run_ft(head, weights, train, val, cache, TRANSFER_ACTCACHE_F32, &b2);
    run_ft(head, weights, train, val, cache, TRANSFER_ACTCACHE_F16, &c);
    /* 48 train photos and mirrors, 20 validation photos: built once per precision. */
    assert_int_equal(a.r.cache_built, 0);
    assert_int_equal(b.r.cache_built, 48 * 2 + 20);
    assert_int_equal(b2.r.cache_built, 0);
    assert_int_equal(c.r.cache_built, 48 * 2 + 20);
    /* Phase 2's cosine runs over its own 2 epochs: lr0, then halfway to min_lr. */
    assert_float_equal(a.h.rows[0].lr, 3e-3, 1e-9);
    assert_float_equal(a.h.rows[1].lr, (3e-3 + 1e-6) / 2, 1e-9);
    for (int e = 0; e < 2; e++) {
        const history_row *ra = &a.h.rows[e], *rb = &b.h.rows[e], *rc = &c.h.rows[e];
        print_message("epoch %d loss: photos %.9g, f32 cache %.9g, f16 cache %.9g; val_loss %.9g %.9g %.9g\n",
                      e + 1, ra->loss, rb->loss, rc->loss, ra->val_loss, rb->val_loss, rc->val_loss);
        assert_float_equal(rb->loss, ra->loss, 1e-6 * ra->loss);
        assert_float_equal(rb->val_loss, ra->val_loss, 1e-6 * ra->val_loss);
        assert_float_equal(rc->loss, ra->loss, F16_LOSS_TOLERANCE * ra->loss);
        assert_float_equal(rc->val_loss, ra->val_loss, F16_LOSS_TOLERANCE * ra->val_loss);
        assert_true(rb->lr == ra->lr && rc->lr == ra->lr);
    }
    check_cached_logits(b.m, val, cache);
    double d32 = weights_difference(a.m, b.m), d32r = weights_difference(b.m, b2.m);
    double d16 = weights_difference(a.m, c.m);
    print_message("weights vs the photos run: f32 cache %.3g (reused: %.3g), f16 cache %.3g of the largest\n", d32,
                  d32r, d16);
    assert_true(d32 <= 1e-6);
    assert_true(d32r == 0.0);
    assert_true(d16 <= F16_WEIGHT_TOLERANCE);
    ft_run *runs[4] = {&a, &b, &b2, &c};
    for (int i = 0; i < 4; i++) {
        model_free(runs[i]->m);
        history_free(&runs[i]->h);
    }
    dataset_free(train);
    dataset_free(val);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_conversion),
        cmocka_unit_test(test_source_replays_dataset_iter),
        cmocka_unit_test(test_key_rebuilds_on_any_change),
        cmocka_unit_test(test_finetune_from_cache_matches_photos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
