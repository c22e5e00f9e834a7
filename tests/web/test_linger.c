/*
 * test_linger.c - the lingering close (web/linger.h) on a socket pair: what
 * the client still sends is read and thrown away until it closes; the client
 * sees the answer written before and then the end; a client that sends
 * nothing, or a server that stops, ends the wait within its bound.
 */
#include "test_util.h"

#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "web/linger.h"

static void test_drains_until_the_client_closes_and_the_answer_stays_readable(void **state)
{
    (void)state;
    int sv[2]; /* sv[0] = server, sv[1] = client */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static const char answer[] = "HTTP/1.1 413 Content Too Large\r\n\r\n";
    assert_int_equal(write(sv[0], answer, sizeof answer - 1), (ssize_t)(sizeof answer - 1));
    /* The rest of the client's body, already on its way, then its close. */
    static char body[50000];
    memset(body, 'x', sizeof body);
    assert_int_equal(write(sv[1], body, sizeof body), (ssize_t)sizeof body);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    linger_result r;
    assert_int_equal(linger_drain(sv[0], 5.0, 15.0, NULL, &r), LINGER_EOF);
    assert_int_equal(r.end, LINGER_EOF);
    assert_int_equal(r.drained, sizeof body);
    /* The client reads the whole answer, then the end (the server half-closed). */
    char got[sizeof answer];
    assert_int_equal(read(sv[1], got, sizeof got), (ssize_t)(sizeof answer - 1));
    assert_memory_equal(got, answer, sizeof answer - 1);
    assert_int_equal(read(sv[1], got, sizeof got), 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_a_silent_client_ends_the_wait_after_the_idle_bound(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    linger_result r;
    double t0 = cd_monotonic_s();
    assert_int_equal(linger_drain(sv[0], 0.3, 15.0, NULL, &r), LINGER_IDLE);
    double took = cd_monotonic_s() - t0;
    assert_true(took >= 0.3);
    assert_true(took < 10.0); /* the bound, with room for a loaded machine */
    assert_int_equal(r.drained, 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_the_total_bound_and_a_stopping_server_end_the_wait(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    linger_result r;
    assert_int_equal(linger_drain(sv[0], 5.0, 0.0, NULL, &r), LINGER_TIMEOUT);
    atomic_int stop;
    atomic_init(&stop, 1);
    assert_int_equal(linger_drain(sv[0], 5.0, 15.0, &stop, &r), LINGER_CANCELLED);
    assert_string_equal(linger_end_name(LINGER_CANCELLED), "cancelled");
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drains_until_the_client_closes_and_the_answer_stays_readable),
        cmocka_unit_test(test_a_silent_client_ends_the_wait_after_the_idle_bound),
        cmocka_unit_test(test_the_total_bound_and_a_stopping_server_end_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
