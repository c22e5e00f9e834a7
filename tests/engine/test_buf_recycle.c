/* tests/engine/test_buf_recycle.c - the recycled-buffer cache under the oneDNN
 * plans (src/engine/buf_recycle.h): buffers come zeroed and 64-byte aligned,
 * a freed buffer is handed to the next request of about its size (and only of
 * about its size), small ones bypass the cache, the oldest go first when the
 * count limit is reached, and drain gives everything back. */
#include "test_util.h"

#include "engine/buf_recycle.h"

#define MB ((size_t)1 << 20)

static void check_zeroed(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i += 4093)
        assert_int_equal(b[i], 0);
    assert_int_equal(b[n - 1], 0);
}

static void test_zeroed_aligned_and_reused(void **state)
{
    (void)state;
    buf_recycle_drain();
    size_t got = 0;
    unsigned char *a = buf_recycle_get(3 * MB + 5, &got);
    assert_non_null(a);
    assert_true(got >= 3 * MB + 5);
    assert_int_equal((uintptr_t)a % 64, 0);
    check_zeroed(a, got);
    memset(a, 0xab, got);
    buf_recycle_put(a, got);
    assert_int_equal(buf_recycle_kept(), got);

    /* about the same size: the same memory, zeroed again */
    size_t got2 = 0;
    unsigned char *b = buf_recycle_get(3 * MB, &got2);
    assert_ptr_equal(b, a);
    assert_int_equal(got2, got);
    check_zeroed(b, got2);
    assert_int_equal(buf_recycle_kept(), 0);

    /* much smaller: not that buffer (it would waste most of it) */
    buf_recycle_put(b, got2);
    size_t got3 = 0;
    unsigned char *c = buf_recycle_get(1 * MB, &got3);
    assert_non_null(c);
    assert_ptr_not_equal(c, b);
    assert_int_equal(buf_recycle_kept(), got2);
    buf_recycle_put(c, got3);
    buf_recycle_drain();
    assert_int_equal(buf_recycle_kept(), 0);
}

static void test_small_buffers_bypass(void **state)
{
    (void)state;
    buf_recycle_drain();
    size_t got = 0;
    unsigned char *a = buf_recycle_get(1000, &got);
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal(got, 1024);
    check_zeroed(a, got);
    buf_recycle_put(a, got);
    assert_int_equal(buf_recycle_kept(), 0);
    unsigned char *z = buf_recycle_get(0, &got);   /* 0 bytes: still a valid buffer */
    assert_non_null(z);
    buf_recycle_put(z, got);
}

static void test_oldest_go_first(void **state)
{
    (void)state;
    buf_recycle_drain();
    enum { N = 1100 };   /* more than the cache keeps */
    static void *bufs[N];
    static size_t sizes[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = buf_recycle_get(BUF_RECYCLE_MIN, &sizes[i]);
        assert_non_null(bufs[i]);
    }
    for (int i = 0; i < N; i++)
        buf_recycle_put(bufs[i], sizes[i]);
    size_t kept = buf_recycle_kept();
    assert_true(kept > 0);
    assert_true(kept < (size_t)N * sizes[0]);
    /* the newest is still there, the first one put is not */
    size_t got = 0;
    int found_last = 0, found_first = 0;
    void *again[N];
    int n_again = 0;
    while (buf_recycle_kept() > 0) {
        void *b = buf_recycle_get(BUF_RECYCLE_MIN, &got);
        found_last |= b == bufs[N - 1];
        found_first |= b == bufs[0];
        again[n_again++] = b;
    }
    assert_true(found_last);
    assert_false(found_first);
    for (int i = 0; i < n_again; i++)
        buf_recycle_put(again[i], got);
    buf_recycle_drain();
    assert_int_equal(buf_recycle_kept(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeroed_aligned_and_reused),
        cmocka_unit_test(test_small_buffers_bypass),
        cmocka_unit_test(test_oldest_go_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
