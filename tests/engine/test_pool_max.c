/* tests/engine/test_pool_max.c - the max pooling kernels (pool_max.c) and
 * their use by the oneDNN plans (op_pool.c).
 *
 * Kernels against oneDNN's own pooling primitive on the same buffers: nChw8c,
 * nChw16c and NHWC maps with several channel blocks (and channels that do not
 * fill the last block or an 8-lane chunk), batches > 1, odd heights and widths
 * whose last row / column no window covers, 2x2, 3x3 and 2x3 windows.  The
 * forward values, the input gradient (which shows the argmax: every window's
 * gradient lands on one cell) and the ReLU moved behind the pooling must be
 * equal bit for bit -- also on maps full of ties, where the first maximum
 * wins; u8 and s8 forward as the int8 plans run them.  The rows split over
 * threads (dn_parallel_for) cover every row once.  Overlapping windows
 * (SqueezeNet's 3x3 of stride 2) forward only.  Plans: the kernels are used
 * where they apply (in training not for overlapping windows that pass a
 * gradient back: oneDNN's), and a training plan with them gives oneDNN's
 * outputs and parameter gradients, on one thread and on two OpenMP threads;
 * an inference plan, all three poolings by the kernels, oneDNN's outputs. */
#include "test_dnnl_common.h"

#include <stdint.h>

#include "engine/dnnl_util.h"
#include "engine/pool_max.h"

typedef struct pm_case {
    int n, c, h, w, kh, kw;
    dnnl_format_tag_t tag;
    int sh, sw;   /* stride; 0: the window's */
} pm_case;

static const pm_case cases[] = {
    {2, 16, 9, 7, 2, 2, dnnl_aBcd8b, 0, 0},   /* two blocks, odd sizes: last row, column dropped */
    {3, 20, 11, 10, 2, 2, dnnl_aBcd8b, 0, 0}, /* a part-filled third block */
    {1, 32, 12, 12, 3, 3, dnnl_aBcd8b, 0, 0},
    {2, 32, 8, 9, 2, 3, dnnl_aBcd16b, 0, 0},  /* 2x3 windows */
    {2, 24, 7, 7, 2, 2, dnnl_aBcd16b, 0, 0},  /* a part-filled second block of 16 */
    {2, 20, 9, 11, 2, 2, dnnl_acdb, 0, 0},    /* NHWC: 8 + 8 + 4 lanes */
    {3, 3, 5, 6, 2, 2, dnnl_acdb, 0, 0},      /* NHWC with 3 channels: no full chunk */
    {1, 40, 10, 10, 5, 5, dnnl_acdb, 0, 0},
    {2, 12, 7, 9, 2, 2, dnnl_aBcd4b, 0, 0},   /* SSE4.1's blocks of 4 */
    /* overlapping windows (forward only): SqueezeNet's 3x3 of stride 2 */
    {2, 24, 13, 11, 3, 3, dnnl_aBcd8b, 2, 2},
    {2, 20, 9, 12, 3, 3, dnnl_acdb, 2, 2},
    {2, 72, 9, 9, 3, 3, dnnl_acdb, 2, 2},     /* 32 + 32 + 8 lanes */
    {1, 16, 8, 9, 3, 2, dnnl_aBcd16b, 1, 2},
};

static int pm_sh(const pm_case *c)
{
    return c->sh ? c->sh : c->kh;
}

static int pm_sw(const pm_case *c)
{
    return c->sw ? c->sw : c->kw;
}

static int pm_overlaps(const pm_case *c)
{
    return pm_sh(c) != c->kh || pm_sw(c) != c->kw;
}

/* got and want hold the same floats, bit for bit (a maximum is exact). */
static void pm_assert_equal(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof *got) != 0)
            fail_msg("%s: element %zu of %zu: kernel %.9g, oneDNN %.9g", what, i, n,
                     (double)got[i], (double)want[i]);
}

/* The kernels' view of md (as op_pool.c derives it). */
static pool_max_shape pm_shape(const dnnl_memory_desc_t *x, const dnnl_memory_desc_t *y,
                               const pm_case *c)
{
    pool_max_shape s;
    memset(&s, 0, sizeof s);
    const dnnl_blocking_desc_t *bx = &x->format_desc.blocking, *by = &y->format_desc.blocking;
    s.n = (int)x->dims[0];
    s.lanes = bx->inner_nblks ? (int)bx->inner_blks[0] : (int)x->dims[1];
    s.blocks = (int)(x->padded_dims[1] / s.lanes);
    s.ih = (int)x->dims[2];
    s.iw = (int)x->dims[3];
    s.oh = (int)y->dims[2];
    s.ow = (int)y->dims[3];
    s.kh = c->kh;
    s.kw = c->kw;
    s.sh = pm_sh(c);
    s.sw = pm_sw(c);
    s.x_n = bx->strides[0], s.x_b = bx->strides[1], s.x_h = bx->strides[2], s.x_w = bx->strides[3];
    s.y_n = by->strides[0], s.y_b = by->strides[1], s.y_h = by->strides[2], s.y_w = by->strides[3];
    assert_true(pool_max_shape_ok(&s));
    return s;
}

static dnnl_memory_t pm_mem(dnnl_engine_t eng, const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    assert_int_equal(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE), dnnl_success);
    memset(dn_mem_ptr(m), 0, dnnl_memory_desc_get_size(md));
    return m;
}

/* Zeroes the padded channels of a blocked map of `esz`-byte elements at p
 * (oneDNN keeps them 0 and its pooling writes 0 there). */
static void pm_zero_padding(void *p, const dnnl_memory_desc_t *md, size_t esz)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    size_t n = dnnl_memory_desc_get_size(md) / esz;
    if (b->inner_nblks != 1 || md->padded_dims[1] == md->dims[1])
        return;
    size_t lanes = (size_t)b->inner_blks[0], blocks = (size_t)(md->padded_dims[1]) / lanes;
    for (size_t i = 0; i < n; i++) {
        size_t blk = (i / (size_t)b->strides[1]) % blocks;
        if (blk * lanes + i % lanes >= (size_t)md->dims[1])
            memset((char *)p + i * esz, 0, esz);
    }
}

/* Fills the logical elements of md's float buffer (the padded channels stay
 * 0, as oneDNN keeps them): random values in [-1, 1), or with `levels` > 0
 * only that many distinct values (ties in most windows). */
static void pm_fill(dnnl_memory_t m, int levels, uint64_t seed)
{
    dnnl_memory_desc_t md = dn_mem_md(m);
    float *p = dn_mem_ptr(m);
    size_t n = dnnl_memory_desc_get_size(&md) / sizeof(float);
    td_fill(p, n, -1.0f, 1.0f, seed);
    for (size_t i = 0; i < n; i++)
        if (levels > 0)
            p[i] = floorf((p[i] + 1.0f) * 0.5f * (float)levels) - 1.0f;
    pm_zero_padding(p, &md, sizeof *p);
}

/* oneDNN's max pooling of c (forward training, then backward of dy) and the
 * kernels' on the same maps; relu: the ReLU behind the pooling, applied to
 * oneDNN's output and its gradient by hand. */
static void pm_compare_f32(const pm_case *c, int relu, int levels, uint64_t seed)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    assert_int_equal(dnnl_stream_create(&st, eng, dnnl_stream_default_flags), dnnl_success);
    dnnl_dims_t xd = {c->n, c->c, c->h, c->w};
    dnnl_dims_t yd = {c->n, c->c, (c->h - c->kh) / pm_sh(c) + 1, (c->w - c->kw) / pm_sw(c) + 1};
    dnnl_dims_t k = {c->kh, c->kw}, str = {pm_sh(c), pm_sw(c)}, zero = {0, 0};
    dnnl_memory_desc_t xmd, ymd, wmd;
    assert_int_equal(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, c->tag), dnnl_success);
    assert_int_equal(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, c->tag), dnnl_success);
    assert_int_equal(dnnl_memory_desc_init_by_tag(&wmd, 4, yd, dnnl_u8, c->tag), dnnl_success);
    dnnl_pooling_v2_desc_t fd, bd;
    dnnl_primitive_desc_t fpd, bpd;
    assert_int_equal(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training,
                                                       dnnl_pooling_max, &xmd, &ymd, str, k, zero,
                                                       zero, zero),
                     dnnl_success);
    assert_int_equal(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL), dnnl_success);
    assert_int_equal(dnnl_pooling_v2_backward_desc_init(&bd, dnnl_pooling_max, &xmd, &ymd, str, k,
                                                        zero, zero, zero),
                     dnnl_success);
    assert_int_equal(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd), dnnl_success);
    const dnnl_memory_desc_t *dws = dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
    dnnl_memory_t x = pm_mem(eng, &xmd), y = pm_mem(eng, &ymd), ws = pm_mem(eng, dws),
                  dy = pm_mem(eng, &ymd), dx = pm_mem(eng, &xmd), y2 = pm_mem(eng, &ymd),
                  am = pm_mem(eng, &wmd), dx2 = pm_mem(eng, &xmd), y3 = pm_mem(eng, &ymd);
    pm_fill(x, levels, seed);
    pm_fill(dy, 0, seed + 1);
    /* garbage where the kernels must write: every input-gradient cell */
    memset(dn_mem_ptr(dx2), 0x7f, dnnl_memory_desc_get_size(&xmd));

    dnnl_primitive_t fp, bp;
    assert_int_equal(dnnl_primitive_create(&fp, fpd), dnnl_success);
    assert_int_equal(dnnl_primitive_create(&bp, bpd), dnnl_success);
    dnnl_exec_arg_t fa[3] = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, ws}};
    assert_int_equal(dnnl_primitive_execute(fp, st, 3, fa), dnnl_success);
    float *yp = dn_mem_ptr(y), *dyp = dn_mem_ptr(dy);
    size_t ny = dnnl_memory_desc_get_size(&ymd) / sizeof(float);
    float *dy_masked = malloc(ny * sizeof *dy_masked);
    assert_non_null(dy_masked);
    memcpy(dy_masked, dyp, ny * sizeof *dyp);
    if (relu)
        for (size_t i = 0; i < ny; i++) {
            yp[i] = yp[i] > 0.0f ? yp[i] : 0.0f;
            dy_masked[i] = yp[i] > 0.0f ? dy_masked[i] : 0.0f;
        }
    dnnl_memory_t dym = pm_mem(eng, &ymd);
    memcpy(dn_mem_ptr(dym), dy_masked, ny * sizeof *dy_masked);
    dnnl_exec_arg_t ba[3] = {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_SRC, dx},
                             {DNNL_ARG_WORKSPACE, ws}};
    assert_int_equal(dnnl_primitive_execute(bp, st, 3, ba), dnnl_success);
    assert_int_equal(dnnl_stream_wait(st), dnnl_success);

    pool_max_shape s = pm_shape(&xmd, &ymd, c);
    size_t rows = pool_max_rows(&s);
    /* in two ranges, as two threads would */
    pool_max_f32(&s, dn_mem_ptr(x), dn_mem_ptr(y2), dn_mem_ptr(am), relu, 0, rows / 2);
    pool_max_f32(&s, dn_mem_ptr(x), dn_mem_ptr(y2), dn_mem_ptr(am), relu, rows / 2, rows);
    pool_max_f32(&s, dn_mem_ptr(x), dn_mem_ptr(y3), NULL, relu, 0, rows); /* inference */
    if (!pm_overlaps(c)) {
        pool_max_f32_backward(&s, dn_mem_ptr(am), dyp, relu ? dn_mem_ptr(y2) : NULL,
                              dn_mem_ptr(dx2), 0, rows / 3);
        pool_max_f32_backward(&s, dn_mem_ptr(am), dyp, relu ? dn_mem_ptr(y2) : NULL,
                              dn_mem_ptr(dx2), rows / 3, rows);
    }
    char what[160];
    snprintf(what, sizeof what, "%dx%dx%dx%d pool %dx%d/%dx%d tag %d relu %d levels %d: output",
             c->n, c->c, c->h, c->w, c->kh, c->kw, pm_sh(c), pm_sw(c), (int)c->tag, relu, levels);
    pm_assert_equal(what, dn_mem_ptr(y2), yp, ny);
    pm_assert_equal(what, dn_mem_ptr(y3), yp, ny);
    if (pm_overlaps(c))
        goto done; /* no backward for overlapping windows */
    snprintf(what, sizeof what, "%dx%dx%dx%d pool %dx%d tag %d relu %d levels %d: input gradient",
             c->n, c->c, c->h, c->w, c->kh, c->kw, (int)c->tag, relu, levels);
    pm_assert_equal(what, dn_mem_ptr(dx2), dn_mem_ptr(dx),
                    dnnl_memory_desc_get_size(&xmd) / sizeof(float));
    /* the gradient reaches each window once: as many nonzero cells as windows
     * with a nonzero gradient (random dy: all; relu: those with y > 0) */
    size_t want = 0, got = 0;
    const float *g = dn_mem_ptr(dx2);
    for (size_t i = 0; i < ny; i++)
        want += dy_masked[i] != 0.0f;
    for (size_t i = 0; i < dnnl_memory_desc_get_size(&xmd) / sizeof(float); i++)
        got += g[i] != 0.0f;
    assert_int_equal(got, want);
done:
    free(dy_masked);
    dnnl_memory_t all[] = {x, y, ws, dy, dx, y2, am, dx2, dym, y3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        dnnl_memory_destroy(all[i]);
    dnnl_primitive_destroy(fp);
    dnnl_primitive_destroy(bp);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(bpd);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
}

static void test_pool_max_f32_matches_onednn(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int relu = 0; relu < 2; relu++)
            pm_compare_f32(&cases[i], relu, 0, 100 + i);
}

/* Four distinct values: most windows hold their maximum twice or more. */
static void test_pool_max_ties_take_the_first(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        pm_compare_f32(&cases[i], 0, 4, 200 + i);
}

/* u8 / s8 forward inference against oneDNN's. */
static void pm_compare_int(const pm_case *c, dnnl_data_type_t dt, uint64_t seed)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    assert_int_equal(dnnl_stream_create(&st, eng, dnnl_stream_default_flags), dnnl_success);
    dnnl_dims_t xd = {c->n, c->c, c->h, c->w};
    dnnl_dims_t yd = {c->n, c->c, (c->h - c->kh) / pm_sh(c) + 1, (c->w - c->kw) / pm_sw(c) + 1};
    dnnl_dims_t k = {c->kh, c->kw}, str = {pm_sh(c), pm_sw(c)}, zero = {0, 0};
    dnnl_memory_desc_t xmd, ymd;
    assert_int_equal(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dt, c->tag), dnnl_success);
    assert_int_equal(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dt, c->tag), dnnl_success);
    dnnl_pooling_v2_desc_t fd;
    dnnl_primitive_desc_t fpd;
    assert_int_equal(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_inference,
                                                       dnnl_pooling_max, &xmd, &ymd, str, k, zero,
                                                       zero, zero),
                     dnnl_success);
    assert_int_equal(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL), dnnl_success);
    dnnl_memory_t x = pm_mem(eng, &xmd), y = pm_mem(eng, &ymd), y2 = pm_mem(eng, &ymd);
    uint8_t *xp = dn_mem_ptr(x);
    size_t nx = dnnl_memory_desc_get_size(&xmd), ny = dnnl_memory_desc_get_size(&ymd);
    uint64_t r = seed;
    for (size_t i = 0; i < nx; i++)
        xp[i] = (uint8_t)(td_next(&r) >> 56);
    pm_zero_padding(xp, &xmd, 1);
    dnnl_primitive_t fp;
    assert_int_equal(dnnl_primitive_create(&fp, fpd), dnnl_success);
    dnnl_exec_arg_t fa[2] = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}};
    assert_int_equal(dnnl_primitive_execute(fp, st, 2, fa), dnnl_success);
    assert_int_equal(dnnl_stream_wait(st), dnnl_success);
    pool_max_shape s = pm_shape(&xmd, &ymd, c);
    size_t rows = pool_max_rows(&s);
    if (dt == dnnl_u8)
        pool_max_u8(&s, xp, dn_mem_ptr(y2), 0, rows);
    else
        pool_max_s8(&s, dn_mem_ptr(x), dn_mem_ptr(y2), 0, rows);
    const uint8_t *a = dn_mem_ptr(y2), *b = dn_mem_ptr(y);
    for (size_t i = 0; i < ny; i++)
        if (a[i] != b[i])
            fail_msg("%s case %dx%dx%dx%d tag %d: byte %zu is %d, oneDNN's %d",
                     dt == dnnl_u8 ? "u8" : "s8", c->n, c->c, c->h, c->w, (int)c->tag, i, a[i],
                     b[i]);
    dnnl_memory_destroy(x);
    dnnl_memory_destroy(y);
    dnnl_memory_destroy(y2);
    dnnl_primitive_destroy(fp);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
}

static void test_pool_max_int8_matches_onednn(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pm_compare_int(&cases[i], dnnl_u8, 300 + i);
        pm_compare_int(&cases[i], dnnl_s8, 400 + i);
    }
}

/* ---- dn_parallel_for ---- */

typedef struct pf_seen {
    int hits[97];
    int calls;
} pf_seen;

static void pf_mark(void *ctx, size_t lo, size_t hi)
{
    pf_seen *s = ctx;
    __atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
    for (size_t i = lo; i < hi; i++)
        s->hits[i]++;
}

static void test_parallel_for_covers_each_row_once(void **state)
{
    (void)state;
    dn_threads t;
    dn_omp o;
    cd_err err;
    assert_int_equal(dn_threads_init(&t, 2, &err), 0);
    dn_omp_resolve(&o);
    assert_non_null(o.parallel); /* libdnnl is built with OpenMP (libgomp) */
    for (int threads = 1; threads <= 2; threads++) {
        t.want = threads;
        dn_threads_enter(&t);
        pf_seen s;
        memset(&s, 0, sizeof s);
        dn_parallel_for(&o, 97, pf_mark, &s);
        dn_threads_leave(&t);
        for (int i = 0; i < 97; i++)
            assert_int_equal(s.hits[i], 1);
        assert_int_equal(s.calls, threads);
    }
}

/* ---- plans ---- */

/* The binary CNN's pattern at a small size: conv 3x3 ReLU -> max pool 2
 * (odd input: the last row and column are dropped), twice with 16 channels
 * (two blocks of 8 on AVX2), then SqueezeNet's overlapping 3x3/2 pool, a
 * Dense head.  *pools: the three pooling layers. */
static model *pm_model(int pools[3])
{
    model *m = td_model(23, 21, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_VALID, ACT_RELU, 1);
    x = pools[0] = td_pool(m, x, LAYER_MAXPOOL2D, 2, 2, 2, 2, PAD_VALID);
    x = td_conv(m, x, 24, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
    x = pools[1] = td_pool(m, x, LAYER_MAXPOOL2D, 2, 2, 0, 0, PAD_VALID);
    x = pools[2] = td_pool(m, x, LAYER_MAXPOOL2D, 3, 3, 2, 2, PAD_VALID);
    x = td_simple(m, x, LAYER_FLATTEN);
    td_dense(m, x, 3, ACT_SOFTMAX, 1);
    td_finish(m, 77);
    return m;
}

typedef struct pm_plan {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    tensor **grads;
    uint64_t rng;
    dn_plan *p;
} pm_plan;

static void pm_plan_new(pm_plan *pp, const model *m, int n, int training, int onednn_pool)
{
    cd_err err;
    assert_int_equal(dnnl_engine_create(&pp->eng, dnnl_cpu, 0), dnnl_success);
    assert_int_equal(dnnl_stream_create(&pp->st, pp->eng, dnnl_stream_default_flags),
                     dnnl_success);
    pp->grads = calloc((size_t)m->n_layers * LAYER_MAX_PARAMS, sizeof *pp->grads);
    assert_non_null(pp->grads);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++) {
            const tensor *t = m->layers[i].params[k];
            tensor **g = &pp->grads[LAYER_MAX_PARAMS * i + k];
            *g = tensor_new(t->rank, t->dims, &err);
            assert_non_null(*g);
        }
    pp->rng = 1;
    dn_plan_cfg cfg = {.eng = pp->eng, .training = training, .grads = pp->grads, .rng = &pp->rng,
                       .onednn_pool = onednn_pool};
    pp->p = dn_plan_new(m, n, &cfg, &err);
    if (!pp->p)
        fail_msg("dn_plan_new: %s", err.msg);
    if (dn_plan_refresh(pp->p, pp->st, &err))
        fail_msg("refresh: %s", err.msg);
}

static void pm_plan_free(pm_plan *pp, const model *m)
{
    dn_plan_free(pp->p);
    for (int i = 0; i < m->n_layers * LAYER_MAX_PARAMS; i++)
        tensor_free(pp->grads[i]);
    free(pp->grads);
    dnnl_stream_destroy(pp->st);
    dnnl_engine_destroy(pp->eng);
}

static int no_ready(void *ctx, int layer, cd_err *err)
{
    (void)ctx;
    (void)layer;
    (void)err;
    return 0;
}

/* A training step of both plans on one batch: outputs and every parameter
 * gradient agree (the pooling's are exact; the convolutions sum in oneDNN's
 * order either way), on `threads` OpenMP threads. */
static void pm_compare_plans(int n, int threads)
{
    int pools[3];
    model *m = pm_model(pools);
    pm_plan own, ref;
    dn_threads t;
    cd_err err;
    assert_int_equal(dn_threads_init(&t, threads, &err), 0);
    dn_threads_enter(&t);
    pm_plan_new(&own, m, n, 1, 0);
    pm_plan_new(&ref, m, n, 1, 1);
    assert_non_null(own.p->nodes[pools[0]].pool_job);
    assert_non_null(own.p->nodes[pools[1]].pool_job);
    assert_int_equal(own.p->nodes[pools[0]].post_relu, 1); /* the ReLU is fused into it */
    assert_null(own.p->nodes[pools[2]].pool_job);          /* overlapping: oneDNN */
    assert_null(ref.p->nodes[pools[0]].pool_job);
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *dy = malloc(out_sz * sizeof *dy),
          *y1 = malloc(out_sz * sizeof *y1), *y2 = malloc(out_sz * sizeof *y2);
    assert_true(x && dy && y1 && y2);
    td_fill(x, in_sz, -1.0f, 1.0f, 5);
    td_fill(dy, out_sz, -1.0f, 1.0f, 6);
    if (dn_plan_forward(own.p, own.st, x, y1, n, 0, &err) ||
        dn_plan_forward(ref.p, ref.st, x, y2, n, 0, &err) ||
        dn_plan_backward(own.p, own.st, dy, no_ready, NULL, &err) ||
        dn_plan_backward(ref.p, ref.st, dy, no_ready, NULL, &err))
        fail_msg("plan: %s", err.msg);
    td_assert_close("output", y1, y2, out_sz, TD_TOL);
    for (int i = 0; i < m->n_layers * LAYER_MAX_PARAMS; i++)
        if (own.grads[i]) {
            char what[96];
            snprintf(what, sizeof what, "gradient of '%s' parameter %d",
                     m->layers[i / LAYER_MAX_PARAMS].name, i % LAYER_MAX_PARAMS);
            td_assert_close(what, own.grads[i]->data, ref.grads[i]->data, own.grads[i]->size,
                            TD_TOL);
        }
    dn_threads_leave(&t);
    pm_plan_free(&own, m);
    pm_plan_free(&ref, m);
    free(x);
    free(dy);
    free(y1);
    free(y2);
    model_free(m);
}

/* Inference: all three poolings by the kernels (the overlapping one too),
 * the outputs oneDNN's. */
static void test_plan_inference_pools_match_onednn(void **state)
{
    (void)state;
    int pools[3], n = 3;
    model *m = pm_model(pools);
    pm_plan own, ref;
    cd_err err;
    pm_plan_new(&own, m, n, 0, 0);
    pm_plan_new(&ref, m, n, 0, 1);
    for (int k = 0; k < 3; k++) {
        assert_non_null(own.p->nodes[pools[k]].pool_job);
        assert_null(own.p->nodes[pools[k]].ws);
        assert_null(ref.p->nodes[pools[k]].pool_job);
    }
    size_t in_sz = td_in_size(m) * (size_t)n, out_sz = model_output_size(m) * (size_t)n;
    float *x = malloc(in_sz * sizeof *x), *y1 = malloc(out_sz * sizeof *y1),
          *y2 = malloc(out_sz * sizeof *y2);
    assert_true(x && y1 && y2);
    td_fill(x, in_sz, -1.0f, 1.0f, 8);
    if (dn_plan_forward(own.p, own.st, x, y1, n, 0, &err) ||
        dn_plan_forward(ref.p, ref.st, x, y2, n, 0, &err))
        fail_msg("plan: %s", err.msg);
    td_assert_close("output", y1, y2, out_sz, TD_TOL);
    pm_plan_free(&own, m);
    pm_plan_free(&ref, m);
    free(x);
    free(y1);
    free(y2);
    model_free(m);
}

static void test_plan_pools_match_onednn(void **state)
{
    (void)state;
    pm_compare_plans(3, 1);
}

static void test_plan_pools_match_onednn_two_threads(void **state)
{
    (void)state;
    pm_compare_plans(2, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_max_f32_matches_onednn),
        cmocka_unit_test(test_pool_max_ties_take_the_first),
        cmocka_unit_test(test_pool_max_int8_matches_onednn),
        cmocka_unit_test(test_parallel_for_covers_each_row_once),
        cmocka_unit_test(test_plan_pools_match_onednn),
        cmocka_unit_test(test_plan_inference_pools_match_onednn),
        cmocka_unit_test(test_plan_pools_match_onednn_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
