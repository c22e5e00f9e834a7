/*
 * buf_recycle.h - large 64-byte-aligned buffers, recycled between the oneDNN
 * plans a process builds and frees.
 *
 * Why: a plan (dnnl_plan.c) owns one buffer per activation, gradient and
 * scratchpad, and training builds and frees plans all the time -- one per batch
 * size, per runner, per engine call (146 plans in one run of
 * tests/transfer/test_transfer_train).  Freed large blocks go back to the kernel
 * (glibc mmaps blocks above its threshold and gives each thread's arena back
 * when it shrinks; ASan's allocator mmaps every large block), so every new plan
 * faulted all its pages in afresh: half of that test's time was the kernel
 * zeroing pages.  Buffers freed here are kept, up to a cap, and handed to the
 * next request of about the same size.
 *
 * Contract:
 *   - buf_recycle_get returns a zeroed buffer of at least `bytes` (64-byte
 *     aligned) and its real size in *got, or NULL when memory is exhausted.
 *   - buf_recycle_put takes it back (the size *got said); the caller must not
 *     touch it afterwards.  Under ASan a kept buffer is poisoned, so a use after
 *     put is still reported.
 *   - Small requests (< BUF_RECYCLE_MIN bytes) bypass the cache.  The cache
 *     keeps at most a quarter of physical memory and at most 1 GiB; the oldest
 *     buffers go first.  buf_recycle_drain frees everything kept.
 *   - Thread-safe (one mutex); the cache is this module's own state.
 */
#ifndef CATDOG_ENGINE_BUF_RECYCLE_H
#define CATDOG_ENGINE_BUF_RECYCLE_H

#include <stddef.h>

#define BUF_RECYCLE_MIN ((size_t)256 * 1024)

void *buf_recycle_get(size_t bytes, size_t *got);
void buf_recycle_put(void *buf, size_t size);
void buf_recycle_drain(void);
/* Bytes kept now (tests). */
size_t buf_recycle_kept(void);

#endif
