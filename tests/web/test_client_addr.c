/*
 * test_client_addr.c - the trusted-proxy set and the X-Forwarded-For rule
 * (web/client_addr.h): only trusted hops' reports are believed, walking from
 * the right; blocks in both families; bad entries refused with their text.
 */
#include "test_util.h"

#include "web/client_addr.h"

static trusted_proxies *set(const char *list)
{
    cd_err err;
    trusted_proxies *t = trusted_proxies_parse(list, &err);
    assert_non_null(t);
    return t;
}

static void expect_client(const trusted_proxies *t, const char *peer, const char *xff, const char *want)
{
    char out[CLIENT_ADDR_MAX];
    client_addr_resolve(t, peer, xff, out);
    if (strcmp(out, want) != 0)
        fail_msg("peer %s, X-Forwarded-For '%s': got %s, want %s", peer, xff ? xff : "(none)", out, want);
}

static void test_blocks_in_both_families(void **state)
{
    (void)state;
    trusted_proxies *t = set(" 127.0.0.1, 10.0.0.0/8 ,fd00::/8,::1,192.168.1.128/25");
    assert_int_equal(trusted_proxies_count(t), 5);
    assert_true(trusted_proxies_contains(t, "127.0.0.1"));
    assert_false(trusted_proxies_contains(t, "127.0.0.2"));
    assert_true(trusted_proxies_contains(t, "10.255.0.7"));
    assert_false(trusted_proxies_contains(t, "11.0.0.1"));
    assert_true(trusted_proxies_contains(t, "192.168.1.200"));
    assert_false(trusted_proxies_contains(t, "192.168.1.127"));
    assert_true(trusted_proxies_contains(t, "fd12:3456::1"));
    assert_false(trusted_proxies_contains(t, "fe80::1"));
    assert_true(trusted_proxies_contains(t, "::1"));
    /* An IPv4 client seen on an IPv6 socket. */
    assert_true(trusted_proxies_contains(t, "::ffff:10.1.2.3"));
    assert_false(trusted_proxies_contains(t, "not-an-address"));
    trusted_proxies_free(t);

    t = set("0.0.0.0/0");
    assert_true(trusted_proxies_contains(t, "203.0.113.9"));
    assert_false(trusted_proxies_contains(t, "2001:db8::1"));
    trusted_proxies_free(t);

    t = set(NULL);
    assert_int_equal(trusted_proxies_count(t), 0);
    assert_false(trusted_proxies_contains(t, "127.0.0.1"));
    trusted_proxies_free(t);
}

static void test_bad_entries_are_named(void **state)
{
    (void)state;
    const char *bad[] = {"10.0.0.0/33", "10.0.0.1/", "localhost", "10.0.0.0/8,300.1.1.1", "::1/129", "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cd_err err;
        trusted_proxies *t = trusted_proxies_parse(bad[i], &err);
        if (t)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err.msg, "--trusted-proxy"));
    }
    cd_err err;
    assert_null(trusted_proxies_parse("300.1.1.1", &err));
    assert_non_null(strstr(err.msg, "'300.1.1.1'"));
}

static void test_forwarded_for_believed_only_from_trusted_hops(void **state)
{
    (void)state;
    trusted_proxies *none = set("");
    /* Nobody trusted: the peer, whatever it claims. */
    expect_client(none, "127.0.0.1", "203.0.113.9", "127.0.0.1");
    trusted_proxies_free(none);

    trusted_proxies *t = set("127.0.0.1,10.0.0.0/8");
    /* No header: the peer. */
    expect_client(t, "127.0.0.1", NULL, "127.0.0.1");
    /* nginx on loopback appended the client. */
    expect_client(t, "127.0.0.1", "203.0.113.9", "203.0.113.9");
    /* A client's own forged entries stay left of what the proxy appended. */
    expect_client(t, "127.0.0.1", "1.1.1.1, 203.0.113.9", "203.0.113.9");
    /* Two trusted hops: walk past them. */
    expect_client(t, "127.0.0.1", "198.51.100.4, 10.0.0.5", "198.51.100.4");
    expect_client(t, "127.0.0.1", " 198.51.100.4 ,10.0.0.5,10.0.0.6 ", "198.51.100.4");
    /* An untrusted peer is the client even with a header. */
    expect_client(t, "203.0.113.50", "10.0.0.5", "203.0.113.50");
    /* All hops trusted: the leftmost. */
    expect_client(t, "127.0.0.1", "10.0.0.9, 10.0.0.5", "10.0.0.9");
    /* Garbage stops the walk at the last trusted hop, never logged itself. */
    expect_client(t, "127.0.0.1", "203.0.113.9, <script>", "127.0.0.1");
    expect_client(t, "127.0.0.1", "<script>, 10.0.0.5", "10.0.0.5");
    expect_client(t, "127.0.0.1", "", "127.0.0.1");
    expect_client(t, "127.0.0.1", "2001:db8::7", "2001:db8::7");
    trusted_proxies_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_in_both_families),
        cmocka_unit_test(test_bad_entries_are_named),
        cmocka_unit_test(test_forwarded_for_believed_only_from_trusted_hops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
