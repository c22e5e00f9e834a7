/*
 * dnnl_util.h - small helpers the oneDNN backend (runner_dnnl.c, dnnl_plan.c) shares.
 *
 * Concepts:
 *   - dn_steps: a flat list of things to execute in order -- oneDNN primitives
 *     with their bound arguments, plus a few custom steps (zero a buffer, draw a
 *     dropout mask).  A plan's forward pass, backward pass and weight refresh are
 *     each one dn_steps, built once and replayed on every call.
 *   - dn_pool: everything a plan creates (primitives, memories, aligned buffers)
 *     is registered in one pool and released together by dn_pool_clear.
 *   - dn_threads: libdnnl on Debian is built with OpenMP (GNU libgomp, see
 *     `ldd libdnnl.so`), so the number of threads a primitive uses is the calling
 *     thread's OpenMP "nthreads" setting, both when the primitive is created (jit
 *     kernels partition their work then) and when it runs.  OpenMP keeps that
 *     setting per calling thread, so a runner sets it on entry to each call and
 *     restores the caller's value on exit: runners with different thread counts can
 *     live in different threads of one process.  omp_* are looked up through the
 *     dynamic linker (libgomp is already loaded as libdnnl's dependency), so the
 *     build needs no OpenMP flags; with a non-OpenMP libdnnl the lookup fails and
 *     thread counts other than "all cores" are reported as unsupported.
 *
 * Error convention: functions return 0 / -1 (or NULL) and fill a cd_err.
 */
#ifndef CATDOG_ENGINE_DNNL_UTIL_H
#define CATDOG_ENGINE_DNNL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <dnnl.h>

#include "core/error.h"

/* Fills err with "oneDNN <what>: <status>" and returns -1. */
int dn_fail(cd_err *err, dnnl_status_t st, const char *what, const char *layer_name);

/* Evaluates a dnnl call; on failure fills err (naming `what` and the layer) and
 * jumps to the enclosing function's `fail` label. */
#define DN_CHECK(call, err, what, lname)                         \
    do {                                                         \
        dnnl_status_t dn_st_ = (call);                           \
        if (dn_st_ != dnnl_success) {                            \
            dn_fail((err), dn_st_, (what), (lname));             \
            goto fail;                                           \
        }                                                        \
    } while (0)

/* ---- threads ------------------------------------------------------------ */

typedef struct dn_threads {
    int (*get_max)(void);       /* omp_get_max_threads, NULL when unavailable */
    void (*set_num)(int);       /* omp_set_num_threads */
    int (*num_procs)(void);     /* omp_get_num_procs */
    int want;                   /* resolved thread count (>= 1) */
    int saved;                  /* caller's setting while inside enter/leave */
} dn_threads;

/* Resolves the OpenMP entry points and the thread count (0 = all cores the
 * process may run on).  -1 when `requested` > 0 cannot be honoured. */
int dn_threads_init(dn_threads *t, int requested, cd_err *err);
/* Applies the runner's thread count to the calling thread ... */
void dn_threads_enter(dn_threads *t);
/* ... and restores the caller's own setting. */
void dn_threads_leave(dn_threads *t);

/* The calling thread's OpenMP team for catdog's own loops (the max pooling
 * kernels, op_pool.c): libgomp's GOMP_parallel -- what `#pragma omp parallel`
 * compiles to -- looked up like dn_threads' functions, so such a loop runs on
 * the threads oneDNN's primitives use, as many as the runner set
 * (dn_threads_enter), and the build still needs no OpenMP flags.  Members are
 * NULL where libgomp is not loaded: the loop then runs in the calling thread. */
typedef struct dn_omp {
    void (*parallel)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
    int (*thread_num)(void);
    int (*num_threads)(void);
    int (*max_threads)(void);
} dn_omp;

void dn_omp_resolve(dn_omp *o);
/* Calls fn(ctx, lo, hi) on contiguous ranges that together cover [0, count)
 * once, one range per thread of the calling thread's OpenMP setting (all of
 * it in this thread when that is 1 or count < 2), and returns when all are
 * done. */
void dn_parallel_for(const dn_omp *o, size_t count, void (*fn)(void *ctx, size_t lo, size_t hi),
                     void *ctx);

/* ---- ownership pool ------------------------------------------------------ */

typedef struct dn_pool {
    dnnl_primitive_t *prims;
    int n_prims, cap_prims;
    dnnl_memory_t *mems;
    int n_mems, cap_mems;
    struct dn_buf { void *p; size_t size; } *bufs;   /* 64-byte aligned, from buf_recycle */
    int n_bufs, cap_bufs;
} dn_pool;

/* Registers objects for release by dn_pool_clear (on failure to register, the
 * object is released at once and -1 returned). */
int dn_pool_prim(dn_pool *p, dnnl_primitive_t prim, cd_err *err);
int dn_pool_mem(dn_pool *p, dnnl_memory_t mem, cd_err *err);
/* A zeroed, 64-byte aligned buffer of `bytes` owned by the pool; NULL on OOM. */
void *dn_pool_buf(dn_pool *p, size_t bytes, cd_err *err);
void dn_pool_clear(dn_pool *p);

/* A memory object of descriptor md: with its own pool buffer (handle == NULL) or
 * over a borrowed handle.  NULL on error. */
dnnl_memory_t dn_mem(dn_pool *p, dnnl_engine_t eng, const dnnl_memory_desc_t *md,
                     void *handle, cd_err *err);

/* ---- step lists ---------------------------------------------------------- */

#define DN_STEP_MAX_ARGS 12

typedef enum dn_step_kind {
    DN_STEP_PRIM = 0,   /* execute prim with args */
    DN_STEP_ZERO,       /* memset mem's buffer to zero */
    DN_STEP_MASK,       /* fill `buf` with an inverted-dropout mask (see dn_step) */
    DN_STEP_CALL        /* call(ctx): a loop of catdog's own (op_pool.c's max pooling) */
} dn_step_kind;

typedef struct dn_step {
    dn_step_kind kind;
    dnnl_primitive_t prim;          /* borrowed from the pool */
    int nargs;
    dnnl_exec_arg_t args[DN_STEP_MAX_ARGS];
    dnnl_memory_desc_t scratch_md;  /* the primitive's scratchpad (size 0 = none) */
    dnnl_memory_t mem;              /* DN_STEP_ZERO */
    /* DN_STEP_MASK: the mask of one dropout layer for samples [offset, offset + n)
     * of a forward over `total` samples.  The runner's generator (splitmix64, one
     * draw per element, the reference backend's sequence) is at *rng when the
     * forward starts and draws, layer after layer in model order, `total` x
     * per_sample values per layer; this step skips to its own slice, so a batch
     * split across threads gets exactly the masks of the whole batch. */
    float *buf;
    float rate;
    const uint64_t *rng;            /* generator state at the start of the forward (borrowed) */
    const size_t *slice;            /* {total, offset, n} of the current forward (borrowed) */
    size_t per_sample;              /* mask elements per sample of this layer */
    size_t prefix;                  /* per-sample draws of the dropout layers before it */
    void (*call)(void *ctx);        /* DN_STEP_CALL; ctx is owned by the plan's pool */
    void *ctx;
} dn_step;

typedef struct dn_steps {
    dn_step *v;
    int n, cap;
} dn_steps;

/* Appends a step and returns it (zeroed, kind set); NULL on OOM. */
dn_step *dn_steps_push(dn_steps *s, dn_step_kind kind, cd_err *err);
void dn_steps_free(dn_steps *s);
/* Adds (arg, mem) to a primitive step; -1 when the step is full. */
int dn_step_arg(dn_step *st, int arg, dnnl_memory_t mem, cd_err *err);
/* Advances a splitmix64 state by `draws` draws. */
void dn_rng_skip(uint64_t *state, uint64_t draws);

/* Runs the steps in order on the stream (does not wait). */
int dn_steps_run(const dn_steps *s, dnnl_stream_t stream, cd_err *err);
/* Runs steps [lo, hi) only. */
int dn_steps_run_range(const dn_steps *s, int lo, int hi, dnnl_stream_t stream, cd_err *err);

/* Creates the primitive of pd (registered in the pool) and appends a primitive
 * step for it with nargs (arg, mem) pairs given as varargs; the step records
 * the primitive's scratchpad descriptor.  pd stays the caller's. */
dn_step *dn_steps_prim(dn_steps *s, dn_pool *p, const_dnnl_primitive_desc_t pd,
                       const char *lname, cd_err *err, int nargs, ...);

/* The largest scratchpad any primitive step needs, in bytes. */
size_t dn_steps_scratch_size(const dn_steps *s);
/* Binds every primitive step that needs a scratchpad to the shared buffer `buf`
 * (at least dn_steps_scratch_size bytes).  Steps run one at a time, so one
 * buffer serves them all. */
int dn_steps_bind_scratch(dn_steps *s, dn_pool *p, dnnl_engine_t eng, void *buf, cd_err *err);

/* Appends a reorder src -> dst (both memories' descriptors describe the same
 * logical tensor); with accumulate, dst += src instead of dst = src. */
int dn_steps_reorder(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                     dnnl_memory_t dst, int accumulate, const char *lname, cd_err *err);

/* dn_steps_reorder (no accumulate) with scales: dst = round(src * scale), one
 * scale (count 1, mask 0) or one per index of the dimensions set in mask.
 * `scales` is copied. */
int dn_steps_reorder_scaled(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                            dnnl_memory_t dst, dnnl_dim_t count, int mask, const float *scales,
                            const char *lname, cd_err *err);

/* Appends one binary primitive dst = a <alg> b (dnnl_binary_add, _mul, _gt, ...)
 * with dn_pd's attributes; each operand is described by its memory's own
 * descriptor, so b may be broadcast (dimensions of 1 against a's) and dst may
 * be a (in place). */
int dn_steps_binary(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_alg_kind_t alg,
                    dnnl_memory_t a, dnnl_memory_t b, dnnl_memory_t dst, const char *lname,
                    cd_err *err);

/* Zeroes dst, then copies src into the window of dst that `window` describes
 * (a sub-memory descriptor of dst's, as dn_md_window gives): two steps on s. */
int dn_steps_into_window(dn_steps *s, dn_pool *p, dnnl_engine_t eng, dnnl_memory_t src,
                         dnnl_memory_t dst, const dnnl_memory_desc_t *window, const char *lname,
                         cd_err *err);

/* ---- descriptors --------------------------------------------------------- */

/* md of the given dims with a format tag (dnnl_format_tag_any allowed). */
int dn_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims, dnnl_format_tag_t tag,
          const char *lname, cd_err *err);

/* A Dense layer's weight descriptors for an input described by in_md: `any`
 * (for oneDNN to choose) and `user` (Keras' [in, units] kernel as it sits in
 * memory).  A 4-D input (a flattened or globally pooled map) is read in its
 * own layout; the weights are then {units, C, H, W} and Keras' [H*W*C, units]
 * kernel is exactly their HWIO order. */
int dn_dense_weight_mds(const dnnl_memory_desc_t *in_md, dnnl_dim_t units, dnnl_memory_desc_t *any,
                        dnnl_memory_desc_t *user, const char *lname, cd_err *err);

/* A plain row-major view of the logical tensor md describes, as runner.h exposes
 * activations: a 4-D {N,C,H,W} tensor as NHWC, a 2-D {N,C} as NC, with rows
 * `ld` floats apart (ld = 0: packed) and starting `offset` floats in. */
int dn_md_plain_view(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, dnnl_dim_t ld,
                     dnnl_dim_t offset, const char *lname, cd_err *err);

/* The h x w window of the 4-D map md (all samples and channels) whose top-left
 * pixel is (top, left), as a sub-memory descriptor of md. */
int dn_md_window(dnnl_memory_desc_t *window, const dnnl_memory_desc_t *md, dnnl_dim_t h,
                 dnnl_dim_t w, dnnl_dim_t top, dnnl_dim_t left, const char *lname, cd_err *err);

/* 1 when both descriptors are the same layout. */
int dn_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);

/* The descriptor pd reports for `what` (dnnl_query_src_md, ...), copied. */
dnnl_memory_desc_t dn_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index);

/* Elements of the logical tensor md describes (product of dims). */
size_t dn_md_elems(const dnnl_memory_desc_t *md);

/* The memory's descriptor, copied. */
dnnl_memory_desc_t dn_mem_md(const_dnnl_memory_t mem);

/* The memory's data pointer (NULL on error). */
void *dn_mem_ptr(const_dnnl_memory_t mem);

/* A primitive attribute with user-managed scratchpad and optionally one fused
 * eltwise post-op (alg 0 = none).  NULL on error. */
dnnl_primitive_attr_t dn_attr(dnnl_alg_kind_t post_eltwise, const char *lname, cd_err *err);

/* The largest |int8 weight| the kernels oneDNN picks on this CPU can take
 * without error: 127 with VNNI (AVX-512 VNNI, AVX-VNNI and later), 63 without.
 * Without VNNI oneDNN multiplies u8 inputs by s8 weights with vpmaddubsw, which
 * adds two products into a saturating 16-bit sum: 2 x 255 x 127 overflows it,
 * 2 x 255 x 63 = 32130 does not (oneDNN's guide, "Int8 computation aspects",
 * recommends these 7-bit weights).  Measured on an AVX2-only EPYC: 8-bit
 * weights moved P(dog) by up to 0.21 from float32 and flipped 2 verdicts of 60.
 * Follows DNNL_MAX_CPU_ISA. */
float dn_int8_weight_max(void);

/* A primitive descriptor for op_desc with dn_attr's defaults (user scratchpad,
 * no post-op), the attributes freed before returning; hint = the forward's
 * descriptor when op_desc is a backward one, else NULL.  NULL with err naming
 * `what` and the layer.  The caller owns (destroys, or hands to a plan) it. */
dnnl_primitive_desc_t dn_pd(dnnl_engine_t eng, const_dnnl_op_desc_t op_desc, const_dnnl_primitive_desc_t hint,
                            const char *what, const char *lname, cd_err *err);

#endif
