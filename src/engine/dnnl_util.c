/*
 * dnnl_util.c - oneDNN helpers shared by the oneDNN backend: errors, OpenMP
 * thread control, an ownership pool, step lists and memory descriptors.
 * See dnnl_util.h for the concepts.
 */
#include "engine/dnnl_util.h"

#include "engine/buf_recycle.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl_debug.h>

int dn_fail(cd_err *err, dnnl_status_t st, const char *what, const char *layer_name)
{
    if (layer_name && *layer_name)
        return cd_err_set(err, CD_ERR_BACKEND, "layer '%s': oneDNN %s failed: %s", layer_name,
                          what, dnnl_status2str(st));
    return cd_err_set(err, CD_ERR_BACKEND, "oneDNN %s failed: %s", what, dnnl_status2str(st));
}

/* ---- threads ------------------------------------------------------------ */

int dn_threads_init(dn_threads *t, int requested, cd_err *err)
{
    memset(t, 0, sizeof *t);
    if (requested < 0)
        return cd_err_set(err, CD_ERR_INVALID, "threads must be >= 0 (0 = all cores), got %d",
                          requested);
    /* POSIX's sanctioned way to turn dlsym's void * into a function pointer. */
    *(void **)(&t->get_max) = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    *(void **)(&t->set_num) = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    *(void **)(&t->num_procs) = dlsym(RTLD_DEFAULT, "omp_get_num_procs");
    if (!t->get_max || !t->set_num || !t->num_procs) {
        t->get_max = NULL;
        t->set_num = NULL;
        t->num_procs = NULL;
        if (requested > 0)
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "this libdnnl is not built with OpenMP: cannot choose %d threads",
                              requested);
        return 0; /* the library's own default: all cores */
    }
    t->want = requested > 0 ? requested : t->num_procs();
    if (t->want < 1)
        t->want = 1;
    return 0;
}

void dn_threads_enter(dn_threads *t)
{
    if (!t->set_num)
        return;
    t->saved = t->get_max();
    if (t->saved != t->want)
        t->set_num(t->want);
}

void dn_threads_leave(dn_threads *t)
{
    if (!t->set_num)
        return;
    if (t->saved != t->want && t->saved > 0)
        t->set_num(t->saved);
}

void dn_omp_resolve(dn_omp *o)
{
    *(void **)(&o->parallel) = dlsym(RTLD_DEFAULT, "GOMP_parallel");
    *(void **)(&o->thread_num) = dlsym(RTLD_DEFAULT, "omp_get_thread_num");
    *(void **)(&o->num_threads) = dlsym(RTLD_DEFAULT, "omp_get_num_threads");
    *(void **)(&o->max_threads) = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (!o->parallel || !o->thread_num || !o->num_threads || !o->max_threads)
        memset(o, 0, sizeof *o);
}

typedef struct dn_par_job {
    const dn_omp *o;
    size_t count;
    void (*fn)(void *ctx, size_t lo, size_t hi);
    void *ctx;
    int go, done;   /* release / acquire pairs, below */
} dn_par_job;

/* One thread's share of a dn_parallel_for (the team's size may be smaller
 * than asked for: the split follows the team there is).  libgomp's own
 * barriers order the team's work before and after, but they are invisible to
 * ThreadSanitizer (libgomp is not instrumented), which would report the
 * kernels' writes on a worker against the caller's next use of the buffer;
 * the acquire on `go` and the release on `done` (the caller does the
 * opposite) state that order in atomics it sees, at the cost of two per
 * thread and call. */
static void par_body(void *data)
{
    dn_par_job *j = data;
    (void)__atomic_load_n(&j->go, __ATOMIC_ACQUIRE);
    size_t t = (size_t)j->o->thread_num(), nt = (size_t)j->o->num_threads();
    size_t lo = j->count * t / nt, hi = j->count * (t + 1) / nt;
    if (lo < hi)
        j->fn(j->ctx, lo, hi);
    __atomic_fetch_add(&j->done, 1, __ATOMIC_RELEASE);
}

void dn_parallel_for(const dn_omp *o, size_t count, void (*fn)(void *ctx, size_t lo, size_t hi),
                     void *ctx)
{
    int nt = o->parallel ? o->max_threads() : 1;
    if (nt < 2 || count < 2) {
        fn(ctx, 0, count);
        return;
    }
    dn_par_job j = {.o = o, .count = count, .fn = fn, .ctx = ctx};
    __atomic_store_n(&j.go, 1, __ATOMIC_RELEASE);
    /* the calling thread's nthreads setting (never more threads than ranges);
     * flags 0: no proc_bind */
    o->parallel(par_body, &j, (unsigned)((size_t)nt < count ? (size_t)nt : count), 0);
    (void)__atomic_load_n(&j.done, __ATOMIC_ACQUIRE);
}

/* ---- ownership pool ------------------------------------------------------ */

static int grow(void **v, int *cap, int need, size_t elem, cd_err *err)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 32;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(*v, (size_t)ncap * elem);
    if (!nv)
        return cd_err_set(err, CD_ERR_NOMEM, "out of memory growing a oneDNN plan");
    *v = nv;
    *cap = ncap;
    return 0;
}

int dn_pool_prim(dn_pool *p, dnnl_primitive_t prim, cd_err *err)
{
    if (grow((void **)&p->prims, &p->cap_prims, p->n_prims + 1, sizeof *p->prims, err)) {
        dnnl_primitive_destroy(prim);
        return -1;
    }
    p->prims[p->n_prims++] = prim;
    return 0;
}

int dn_pool_mem(dn_pool *p, dnnl_memory_t mem, cd_err *err)
{
    if (grow((void **)&p->mems, &p->cap_mems, p->n_mems + 1, sizeof *p->mems, err)) {
        dnnl_memory_destroy(mem);
        return -1;
    }
    p->mems[p->n_mems++] = mem;
    return 0;
}

void *dn_pool_buf(dn_pool *p, size_t bytes, cd_err *err)
{
    if (grow((void **)&p->bufs, &p->cap_bufs, p->n_bufs + 1, sizeof *p->bufs, err))
        return NULL;
    size_t got = 0;
    void *b = buf_recycle_get(bytes, &got);
    if (!b) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory allocating %zu bytes for oneDNN", bytes);
        return NULL;
    }
    p->bufs[p->n_bufs++] = (struct dn_buf){.p = b, .size = got};
    return b;
}

void dn_pool_clear(dn_pool *p)
{
    for (int i = 0; i < p->n_prims; i++)
        dnnl_primitive_destroy(p->prims[i]);
    for (int i = 0; i < p->n_mems; i++)
        dnnl_memory_destroy(p->mems[i]);
    for (int i = 0; i < p->n_bufs; i++)
        buf_recycle_put(p->bufs[i].p, p->bufs[i].size);
    free(p->prims);
    free(p->mems);
    free(p->bufs);
    memset(p, 0, sizeof *p);
}

dnnl_memory_t dn_mem(dn_pool *p, dnnl_engine_t eng, const dnnl_memory_desc_t *md, void *handle,
                     cd_err *err)
{
    if (!handle) {
        handle = dn_pool_buf(p, dnnl_memory_desc_get_size(md), err);
        if (!handle)
            return NULL;
    }
    dnnl_memory_t m = NULL;
    dnnl_status_t st = dnnl_memory_create(&m, md, eng, handle);
    if (st != dnnl_success) {
        dn_fail(err, st, "memory creation", NULL);
        return NULL;
    }
    if (dn_pool_mem(p, m, err))
        return NULL;
    return m;
}

/* ---- step lists ---------------------------------------------------------- */

dn_step *dn_steps_push(dn_steps *s, dn_step_kind kind, cd_err *err)
{
    if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v, err))
        return NULL;
    dn_step *st = &s->v[s->n++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

void dn_steps_free(dn_steps *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

int dn_step_arg(dn_step *st, int arg, dnnl_memory_t mem, cd_err *err)
{
    if (st->nargs >= DN_STEP_MAX_ARGS)
        return cd_err_set(err, CD_ERR_BACKEND, "too many arguments for one oneDNN primitive");
    st->args[st->nargs].arg = arg;
    st->args[st->nargs].memory = mem;
    st->nargs++;
    return 0;
}

#define DN_GAMMA 0x9E3779B97F4A7C15ull

/* splitmix64: small, fast, and good enough for dropout masks; its state moves
 * by a constant per draw, so skipping ahead is one multiplication. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += DN_GAMMA);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_mask(const dn_step *st)
{
    /* Keep with probability 1 - rate and scale by 1 / (1 - rate) (inverted
     * dropout, as Keras).  One 24-bit uniform per element, in NHWC order, drawn
     * exactly as the reference backend draws them, so both backends apply the
     * same mask for the same seed. */
    const float keep = 1.0f / (1.0f - st->rate);
    const size_t total = st->slice[0], offset = st->slice[1], n = st->slice[2];
    uint64_t state = *st->rng;
    dn_rng_skip(&state, (uint64_t)(total * st->prefix + offset * st->per_sample));
    const size_t count = n * st->per_sample;
    for (size_t i = 0; i < count; i++) {
        float u = (float)(rng_next(&state) >> 40) * (1.0f / 16777216.0f);
        st->buf[i] = u < st->rate ? 0.0f : keep;
    }
}

void dn_rng_skip(uint64_t *state, uint64_t draws)
{
    *state += draws * DN_GAMMA; /* modulo 2^64, as the draws themselves */
}

int dn_steps_run(const dn_steps *s, dnnl_stream_t stream, cd_err *err)
{
    return dn_steps_run_range(s, 0, s->n, stream, err);
}

int dn_steps_run_range(const dn_steps *s, int lo, int hi, dnnl_stream_t stream, cd_err *err)
{
    for (int i = lo; i < hi; i++) {
        const dn_step *st = &s->v[i];
        switch (st->kind) {
        case DN_STEP_PRIM: {
            dnnl_status_t rc = dnnl_primitive_execute(st->prim, stream, st->nargs, st->args);
            if (rc != dnnl_success)
                return dn_fail(err, rc, "primitive execution", NULL);
            break;
        }
        case DN_STEP_ZERO: {
            dnnl_memory_desc_t md = dn_mem_md(st->mem);
            void *p = dn_mem_ptr(st->mem);
            if (!p)
                return cd_err_set(err, CD_ERR_BACKEND, "oneDNN memory without a buffer");
            memset(p, 0, dnnl_memory_desc_get_size(&md));
            break;
        }
        case DN_STEP_MASK:
            fill_mask(st);
            break;
        case DN_STEP_CALL:
            st->call(st->ctx);
            break;
        }
    }
    return 0;
}

dn_step *dn_steps_prim(dn_steps *s, dn_pool *p, const_dnnl_primitive_desc_t pd,
                       const char *lname, cd_err *err, int nargs, ...)
{
    dnnl_primitive_t prim = NULL;
    DN_CHECK(dnnl_primitive_create(&prim, pd), err, "primitive creation", lname);
    if (dn_pool_prim(p, prim, err))
        return NULL;
    dn_step *st = dn_steps_push(s, DN_STEP_PRIM, err);
    if (!st)
        return NULL;
    st->prim = prim;
    st->scratch_md = dn_pd_md(pd, dnnl_query_scratchpad_md, 0);
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) {
        int arg = va_arg(ap, int);
        dnnl_memory_t m = va_arg(ap, dnnl_memory_t);
        if (dn_step_arg(st, arg, m, err)) {
            va_end(ap);
            return NULL;
        }
    }
    va_end(ap);
    return st;
fail:
    return NULL;
}

size_t dn_steps_scratch_size(const dn_steps *s)
{
    size_t mx = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->v[i].kind != DN_STEP_PRIM)
            continue;
        size_t sz = dnnl_memory_desc_get_size(&s->v[i].scratch_md);
        if (sz > mx)
            mx = sz;
    }
    return mx;
}

int dn_steps_bind_scratch(dn_steps *s, dn_pool *p, dnnl_engine_t eng, void *buf, cd_err *err)
{
    for (int i = 0; i < s->n; i++) {
        dn_step *st = &s->v[i];
        if (st->kind != DN_STEP_PRIM || dnnl_memory_desc_get_size(&st->scratch_md) == 0)
            continue;
        dnnl_memory_t m = dn_mem(p, eng, &st->scratch_md, buf, err);
        if (!m || dn_step_arg(st, DNNL_ARG_SCRATCHPAD, m, err))
            return -1;
    }
    return 0;
}

static int reorder_impl(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                        dnnl_memory_t dst, int accumulate, dnnl_dim_t count, int mask,
                        const float *scales, const char *lname, cd_err *err)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    dnnl_memory_desc_t smd = dn_mem_md(src), dmd = dn_mem_md(dst);

    attr = dn_attr((dnnl_alg_kind_t)0, lname, err);
    if (!attr)
        goto fail;
    if (accumulate) {
        DN_CHECK(dnnl_post_ops_create(&po), err, "post-ops", lname);
        DN_CHECK(dnnl_post_ops_append_sum(po, 1.0f), err, "sum post-op", lname);
        DN_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), err, "attributes", lname);
    }
    if (scales)
        DN_CHECK(dnnl_primitive_attr_set_output_scales(attr, count, mask, scales), err,
                 "reorder scales", lname);
    DN_CHECK(dnnl_reorder_primitive_desc_create(&pd, &smd, eng, &dmd, eng, attr), err,
             "reorder", lname);
    if (!dn_steps_prim(s, p, pd, lname, err, 2, DNNL_ARG_FROM, src, DNNL_ARG_TO, dst))
        goto fail;
    rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

int dn_steps_reorder(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                     dnnl_memory_t dst, int accumulate, const char *lname, cd_err *err)
{
    return reorder_impl(s, p, eng, src, dst, accumulate, 0, 0, NULL, lname, err);
}

int dn_steps_reorder_scaled(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                            dnnl_memory_t dst, dnnl_dim_t count, int mask, const float *scales,
                            const char *lname, cd_err *err)
{
    return reorder_impl(s, p, eng, src, dst, 0, count, mask, scales, lname, err);
}

int dn_steps_binary(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_alg_kind_t alg,
                    dnnl_memory_t a, dnnl_memory_t b, dnnl_memory_t dst, const char *lname,
                    cd_err *err)
{
    dnnl_memory_desc_t am = dn_mem_md(a), bm = dn_mem_md(b), dm = dn_mem_md(dst);
    dnnl_binary_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    DN_CHECK(dnnl_binary_desc_init(&d, alg, &am, &bm, &dm), err, "binary descriptor", lname);
    if (!(pd = dn_pd(eng, &d, NULL, "binary", lname, err)))
        goto fail;
    if (dn_steps_prim(s, p, pd, lname, err, 3, DNNL_ARG_SRC_0, a, DNNL_ARG_SRC_1, b, DNNL_ARG_DST,
                      dst))
        rc = 0;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

int dn_steps_into_window(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                         dnnl_memory_t dst, const dnnl_memory_desc_t *window, const char *lname,
                         cd_err *err)
{
    dn_step *st = dn_steps_push(s, DN_STEP_ZERO, err);
    if (!st)
        return -1;
    st->mem = dst;
    dnnl_memory_t wm = dn_mem(p, eng, window, dn_mem_ptr(dst), err);
    return wm ? dn_steps_reorder(s, p, eng, src, wm, 0, lname, err) : -1;
}

/* ---- descriptors --------------------------------------------------------- */

int dn_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims, dnnl_format_tag_t tag,
          const char *lname, cd_err *err)
{
    DN_CHECK(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag), err,
             "memory descriptor", lname);
    return 0;
fail:
    return -1;
}

int dn_dense_weight_mds(const dnnl_memory_desc_t *in_md, dnnl_dim_t units, dnnl_memory_desc_t *any,
                        dnnl_memory_desc_t *user, const char *lname, cd_err *err)
{
    if (in_md->ndims == 4) {
        dnnl_dims_t wd = {units, in_md->dims[1], in_md->dims[2], in_md->dims[3]};
        return dn_md(any, 4, wd, dnnl_format_tag_any, lname, err) || dn_md(user, 4, wd, dnnl_hwio, lname, err)
                   ? -1
                   : 0;
    }
    dnnl_dims_t wd = {units, in_md->dims[1]};
    return dn_md(any, 2, wd, dnnl_format_tag_any, lname, err) || dn_md(user, 2, wd, dnnl_io, lname, err) ? -1 : 0;
}

int dn_md_plain_view(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, dnnl_dim_t ld,
                     dnnl_dim_t offset, const char *lname, cd_err *err)
{
    dnnl_dims_t strides;
    if (md->ndims == 4) {
        /* dims {N, C, H, W}, physical order N, H, W, C */
        dnnl_dim_t c = md->dims[1], h = md->dims[2], w = md->dims[3];
        strides[0] = ld ? ld : h * w * c;
        strides[1] = 1;
        strides[2] = w * c;
        strides[3] = c;
    } else if (md->ndims == 2) {
        strides[0] = ld ? ld : md->dims[1];
        strides[1] = 1;
    } else {
        return cd_err_set(err, CD_ERR_BACKEND, "layer '%s': unexpected %d-D activation", lname,
                          md->ndims);
    }
    DN_CHECK(dnnl_memory_desc_init_by_strides(out, md->ndims, md->dims, dnnl_f32, strides), err,
             "memory descriptor", lname);
    out->offset0 = offset;
    return 0;
fail:
    return -1;
}

int dn_md_window(dnnl_memory_desc_t *window, const dnnl_memory_desc_t *md, dnnl_dim_t h,
                 dnnl_dim_t w, dnnl_dim_t top, dnnl_dim_t left, const char *lname, cd_err *err)
{
    dnnl_dims_t dims = {md->dims[0], md->dims[1], h, w};
    dnnl_dims_t offs = {0, 0, top, left};
    DN_CHECK(dnnl_memory_desc_init_submemory(window, md, dims, offs), err, "sub-memory", lname);
    return 0;
fail:
    return -1;
}

int dn_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    return dnnl_memory_desc_equal(a, b) != 0;
}

dnnl_memory_desc_t dn_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index)
{
    dnnl_memory_desc_t md;
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, what, index);
    if (q)
        md = *q;
    else
        memset(&md, 0, sizeof md); /* zero md: size 0, ndims 0 */
    return md;
}

size_t dn_md_elems(const dnnl_memory_desc_t *md)
{
    size_t n = 1;
    for (int i = 0; i < md->ndims; i++)
        n *= (size_t)md->dims[i];
    return md->ndims ? n : 0;
}

dnnl_memory_desc_t dn_mem_md(const_dnnl_memory_t mem)
{
    const dnnl_memory_desc_t *q = NULL;
    dnnl_memory_desc_t md;
    if (dnnl_memory_get_memory_desc(mem, &q) == dnnl_success && q)
        md = *q;
    else
        memset(&md, 0, sizeof md);
    return md;
}

void *dn_mem_ptr(const_dnnl_memory_t mem)
{
    void *h = NULL;
    if (dnnl_memory_get_data_handle(mem, &h) != dnnl_success)
        return NULL;
    return h;
}

dnnl_primitive_attr_t dn_attr(dnnl_alg_kind_t post_eltwise, const char *lname, cd_err *err)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    DN_CHECK(dnnl_primitive_attr_create(&attr), err, "attributes", lname);
    DN_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), err,
             "scratchpad mode", lname);
    if (post_eltwise) {
        DN_CHECK(dnnl_post_ops_create(&po), err, "post-ops", lname);
        DN_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, post_eltwise, 0.0f, 0.0f), err,
                 "eltwise post-op", lname);
        DN_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), err, "attributes", lname);
        dnnl_post_ops_destroy(po);
    }
    return attr;
fail:
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return NULL;
}

float dn_int8_weight_max(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_vnni:
    case dnnl_cpu_isa_avx512_core_bf16:
    case dnnl_cpu_isa_avx512_core_amx:
    case dnnl_cpu_isa_avx2_vnni: return 127.0f;
    case dnnl_cpu_isa_all:
    case dnnl_cpu_isa_sse41:
    case dnnl_cpu_isa_avx:
    case dnnl_cpu_isa_avx2:
    case dnnl_cpu_isa_avx512_mic:
    case dnnl_cpu_isa_avx512_mic_4ops:
    case dnnl_cpu_isa_avx512_core: return 63.0f;
    }
    return 63.0f; /* an ISA newer than this list: the safe range */
}

dnnl_primitive_desc_t dn_pd(dnnl_engine_t eng, const_dnnl_op_desc_t op_desc, const_dnnl_primitive_desc_t hint,
                            const char *what, const char *lname, cd_err *err)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = dn_attr((dnnl_alg_kind_t)0, lname, err);
    if (!attr)
        return NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, op_desc, attr, eng, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        dn_fail(err, st, what, lname);
        return NULL;
    }
    return pd;
}
