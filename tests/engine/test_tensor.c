/* tests/engine/test_tensor.c - tensors: allocation, copies, shapes and their text. */
#include "test_util.h"

#include "engine/tensor.h"

static void test_tensor_new_is_zeroed_with_size(void **state)
{
    (void)state;
    cd_err err;
    int dims[4] = {3, 3, 2, 5};
    tensor *t = tensor_new(4, dims, &err);
    assert_non_null(t);
    assert_int_equal(t->size, 90);
    assert_int_equal(t->rank, 4);
    for (size_t i = 0; i < t->size; i++)
        assert_true(t->data[i] == 0.0f);
    tensor_free(t);
}

static void test_tensor_new_rejects_bad_shapes(void **state)
{
    (void)state;
    cd_err err;
    int dims[4] = {3, 0, 2, 5};
    assert_null(tensor_new(4, dims, &err));
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "(3, 0, 2, 5)"));
    assert_null(tensor_new(5, dims, &err));
    assert_null(tensor_new(-1, dims, NULL));
    tensor *scalar = tensor_new(0, NULL, &err); /* Normalization's count */
    assert_non_null(scalar);
    assert_int_equal(scalar->size, 1);
    tensor_free(scalar);
}

static void test_tensor_clone_is_deep(void **state)
{
    (void)state;
    int dims[2] = {2, 3};
    tensor *a = tensor_new(2, dims, NULL);
    assert_non_null(a);
    for (size_t i = 0; i < a->size; i++)
        a->data[i] = (float)i;
    tensor *b = tensor_clone(a, NULL);
    assert_non_null(b);
    assert_true(tensor_same_shape(a, b));
    assert_ptr_not_equal(a->data, b->data);
    a->data[4] = 100.0f;
    assert_true(b->data[4] == 4.0f);
    tensor_free(a);
    tensor_free(b);
    tensor_free(NULL);
}

static void test_tensor_same_shape_compares_rank_and_dims(void **state)
{
    (void)state;
    int d1[2] = {2, 3}, d2[2] = {3, 2}, d3[3] = {2, 3, 1};
    tensor *a = tensor_new(2, d1, NULL), *b = tensor_new(2, d2, NULL), *c = tensor_new(3, d3, NULL);
    assert_false(tensor_same_shape(a, b));
    assert_false(tensor_same_shape(a, c));
    assert_true(tensor_same_shape(a, a));
    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
}

static void test_tensor_shape_str_reads_like_keras(void **state)
{
    (void)state;
    char buf[64];
    int d[4] = {3, 3, 32, 64};
    tensor_shape_str(4, d, buf, sizeof buf);
    assert_string_equal(buf, "(3, 3, 32, 64)");
    int b[1] = {64};
    tensor_shape_str(1, b, buf, sizeof buf);
    assert_string_equal(buf, "(64,)");
    tensor_shape_str(4, d, buf, 6); /* truncated, still terminated */
    assert_int_equal(strlen(buf), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_new_is_zeroed_with_size),
        cmocka_unit_test(test_tensor_new_rejects_bad_shapes),
        cmocka_unit_test(test_tensor_clone_is_deep),
        cmocka_unit_test(test_tensor_same_shape_compares_rank_and_dims),
        cmocka_unit_test(test_tensor_shape_str_reads_like_keras),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
