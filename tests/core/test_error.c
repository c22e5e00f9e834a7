/* tests/core/test_error.c - the error record keeps and wraps messages. */
#include "test_util.h"

#include "core/error.h"
#include "core/preprocess.h"

static void test_set_returns_minus_one_and_formats(void **state)
{
    (void)state;
    cd_err err;
    cd_err_clear(&err);
    assert_int_equal(cd_err_set(&err, CD_ERR_IO, "cannot open %s", "x.h5"), -1);
    assert_int_equal(err.code, CD_ERR_IO);
    assert_string_equal(err.msg, "cannot open x.h5");
}

static void test_wrap_prefixes_context(void **state)
{
    (void)state;
    cd_err err;
    cd_err_set(&err, CD_ERR_SHAPE, "bad kernel");
    assert_int_equal(cd_err_wrap(&err, "loading %s", "m.h5"), -1);
    assert_string_equal(err.msg, "loading m.h5: bad kernel");
    assert_int_equal(err.code, CD_ERR_SHAPE);
}

static void test_null_err_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(cd_err_set(NULL, CD_ERR_IO, "x"), -1);
    cd_err_clear(NULL);
}

static void test_preprocess_names_round_trip(void **state)
{
    (void)state;
    cd_preprocess p;
    assert_int_equal(cd_preprocess_parse("caffe", &p), 0);
    assert_int_equal(p, CD_PRE_CAFFE);
    assert_string_equal(cd_preprocess_name(CD_PRE_RESCALE), "rescale");
    assert_int_equal(cd_preprocess_parse("imagenet", &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_minus_one_and_formats),
        cmocka_unit_test(test_wrap_prefixes_context),
        cmocka_unit_test(test_null_err_is_allowed),
        cmocka_unit_test(test_preprocess_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
