/*
 * test_auth.c - the admin token (web/auth.h) and result ids (web/result_id.h):
 * a token too short or unreadable is refused; Bearer with the token and the
 * derived cookie are accepted, anything else (a prefix, one byte more, the
 * token as the cookie) is not; the cookie and the CSRF token do not contain
 * the token; with no token nothing is accepted; result ids are 32 hex digits
 * and differ.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "web/auth.h"
#include "web/result_id.h"

#define TOKEN "correct-horse-battery-staple-42"

static void test_a_short_or_unreadable_token_is_refused(void **state)
{
    (void)state;
    cd_err err;
    assert_null(auth_new(NULL, "0123456789abcde", &err)); /* 15 bytes */
    assert_non_null(strstr(err.msg, "must be 16"));
    assert_null(auth_new("/nonexistent/admin.token", NULL, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/admin.token"));
}

static void test_bearer_and_cookie_accept_only_the_token(void **state)
{
    (void)state;
    cd_err err;
    auth *a = auth_new(NULL, TOKEN, &err);
    assert_non_null(a);
    assert_true(auth_enabled(a));
    assert_int_equal(auth_check(a, "Bearer " TOKEN, NULL), AUTH_BEARER);
    assert_int_equal(auth_check(a, "bearer " TOKEN, NULL), AUTH_BEARER);
    assert_int_equal(auth_check(a, "Bearer " TOKEN "x", NULL), AUTH_NO);
    assert_int_equal(auth_check(a, "Bearer correct-horse", NULL), AUTH_NO);
    assert_int_equal(auth_check(a, "Basic " TOKEN, NULL), AUTH_NO);
    assert_int_equal(auth_check(a, NULL, NULL), AUTH_NO);
    /* the cookie is derived, not the token */
    const char *session = auth_session(a);
    assert_int_equal(strlen(session), 64);
    assert_null(strstr(session, TOKEN));
    assert_int_equal(auth_check(a, NULL, session), AUTH_COOKIE_OK);
    assert_int_equal(auth_check(a, NULL, TOKEN), AUTH_NO);
    char forged[AUTH_HEX];
    snprintf(forged, sizeof forged, "%s", session);
    forged[0] = forged[0] == '0' ? '1' : '0';
    assert_int_equal(auth_check(a, NULL, forged), AUTH_NO);
    /* the login form and the CSRF token */
    assert_true(auth_token_ok(a, TOKEN));
    assert_false(auth_token_ok(a, TOKEN " "));
    assert_int_equal(strlen(auth_csrf(a)), 64);
    assert_string_not_equal(auth_csrf(a), session);
    assert_true(auth_csrf_ok(a, auth_csrf(a)));
    assert_false(auth_csrf_ok(a, session));
    assert_false(auth_csrf_ok(a, ""));
    auth_free(a);
}

static void test_the_token_file_is_its_first_line(void **state)
{
    (void)state;
    char path[] = "/tmp/catdog-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(TOKEN "  \nsecond line\n", f);
    fclose(f);
    cd_err err;
    auth *a = auth_new(path, "ignored-when-a-file-is-given", &err);
    unlink(path);
    assert_non_null(a);
    assert_int_equal(auth_check(a, "Bearer " TOKEN, NULL), AUTH_BEARER);
    assert_int_equal(auth_check(a, "Bearer ignored-when-a-file-is-given", NULL), AUTH_NO);
    auth_free(a);
}

static void test_no_token_lets_nobody_in(void **state)
{
    (void)state;
    cd_err err;
    auth *a = auth_new(NULL, NULL, &err);
    assert_non_null(a);
    assert_false(auth_enabled(a));
    assert_int_equal(auth_check(a, "Bearer ", ""), AUTH_NO);
    assert_false(auth_token_ok(a, ""));
    assert_false(auth_csrf_ok(a, ""));
    assert_string_equal(auth_session(a), "");
    auth_free(a);
    assert_false(auth_enabled(NULL));
}

static void test_result_ids_are_32_hex_digits_and_differ(void **state)
{
    (void)state;
    char a[RESULT_ID_SIZE], b[RESULT_ID_SIZE];
    cd_err err;
    assert_int_equal(result_id_new(a, &err), 0);
    assert_int_equal(result_id_new(b, &err), 0);
    assert_true(result_id_valid(a));
    assert_true(result_id_valid(b));
    assert_string_not_equal(a, b);
    assert_false(result_id_valid("0123456789abcdef0123456789abcdeF"));
    assert_false(result_id_valid("0123456789abcdef0123456789abcde"));
    assert_false(result_id_valid("0123456789abcdef0123456789abcdef0"));
    assert_false(result_id_valid("../3456789abcdef0123456789abcdef0"));
    assert_false(result_id_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_short_or_unreadable_token_is_refused),
        cmocka_unit_test(test_bearer_and_cookie_accept_only_the_token),
        cmocka_unit_test(test_the_token_file_is_its_first_line),
        cmocka_unit_test(test_no_token_lets_nobody_in),
        cmocka_unit_test(test_result_ids_are_32_hex_digits_and_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
