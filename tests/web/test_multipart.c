/*
 * test_multipart.c - the multipart/form-data parser and the urlencoded form
 * reader on hand-written bodies: what browsers and curl send, and the
 * malformed, truncated and oversized bodies the parser must refuse.
 */
#include "test_util.h"

#include "web/multipart.h"
#include "web/urlform.h"

#define CRLF "\r\n"

static int parse(const char *body, const char *boundary, multipart_part *parts, int max, int *n, cd_err *err)
{
    return multipart_parse((const unsigned char *)body, strlen(body), boundary, parts, max, n, err);
}

static void test_boundary_from_content_type(void **state)
{
    (void)state;
    char b[MULTIPART_BOUNDARY_MAX + 1];
    cd_err err;
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundaryAbC", b, sizeof b, &err), 0);
    assert_string_equal(b, "----WebKitFormBoundaryAbC");
    assert_int_equal(multipart_boundary("Multipart/Form-Data;charset=utf-8;  boundary=\"a b;c\"", b, sizeof b, &err), 0);
    assert_string_equal(b, "a b;c");
    assert_int_equal(multipart_boundary("multipart/form-data", b, sizeof b, &err), -1);
    assert_int_equal(err.code, CD_ERR_FORMAT);
    assert_int_equal(multipart_boundary("application/json; boundary=x", b, sizeof b, &err), -1);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=", b, sizeof b, &err), -1);
    char longb[200];
    snprintf(longb, sizeof longb, "multipart/form-data; boundary=%071d", 0);
    assert_int_equal(multipart_boundary(longb, b, sizeof b, &err), -1);
}

static void test_browser_form_with_file_and_fields(void **state)
{
    (void)state;
    const char body[] = "--XyZ" CRLF
                        "Content-Disposition: form-data; name=\"model\"" CRLF CRLF
                        "both" CRLF
                        "--XyZ" CRLF
                        "Content-Disposition: form-data; name=\"inputfile\"; filename=\"my \\\"cat\\\".jpg\"" CRLF
                        "Content-Type: image/jpeg" CRLF CRLF
                        "\xff\xd8\xff\r\n--XyZnot-a-delimiter\xff\xd9" CRLF
                        "--XyZ--" CRLF "epilogue";
    multipart_part parts[4];
    int n;
    cd_err err;
    /* strlen stops at no NUL here: the body has none. */
    assert_int_equal(parse(body, "XyZ", parts, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].name, "model");
    assert_int_equal(parts[0].has_filename, 0);
    assert_int_equal(parts[0].len, 4);
    assert_memory_equal(parts[0].data, "both", 4);
    assert_string_equal(parts[1].name, "inputfile");
    assert_int_equal(parts[1].has_filename, 1);
    assert_string_equal(parts[1].filename, "my \"cat\".jpg");
    assert_string_equal(parts[1].content_type, "image/jpeg");
    /* A line starting with the boundary but continuing is data, not a delimiter. */
    const char data[] = "\xff\xd8\xff\r\n--XyZnot-a-delimiter\xff\xd9";
    assert_int_equal(parts[1].len, sizeof data - 1);
    assert_memory_equal(parts[1].data, data, sizeof data - 1);
}

static void test_binary_data_with_nul_bytes_and_preamble(void **state)
{
    (void)state;
    unsigned char body[256];
    size_t len = 0;
    const char *pre = "preamble text" CRLF "--b" CRLF "content-disposition: form-data; name=inputfile; filename=x.png" CRLF CRLF;
    memcpy(body, pre, strlen(pre));
    len = strlen(pre);
    const unsigned char bin[] = {0x89, 'P', 'N', 'G', 0, 0, 0, 13, 0, '\r', '\n', '-', '-'};
    memcpy(body + len, bin, sizeof bin);
    len += sizeof bin;
    const char *tail = CRLF "--b--";
    memcpy(body + len, tail, strlen(tail));
    len += strlen(tail);
    multipart_part parts[2];
    int n;
    cd_err err;
    assert_int_equal(multipart_parse(body, len, "b", parts, 2, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0].name, "inputfile");
    assert_string_equal(parts[0].filename, "x.png");
    assert_int_equal(parts[0].len, sizeof bin);
    assert_memory_equal(parts[0].data, bin, sizeof bin);
}

static void test_empty_file_and_rfc5987_filename(void **state)
{
    (void)state;
    const char body[] = "--b" CRLF
                        "Content-Disposition: form-data; name=\"inputfile\"; filename=\"\"" CRLF
                        "Content-Type: application/octet-stream" CRLF CRLF CRLF
                        "--b" CRLF
                        "Content-Disposition: form-data; name=\"f\"; filename=\"fallback.jpg\"; "
                        "filename*=UTF-8''%D0%BA%D0%BE%D1%82.jpg" CRLF CRLF
                        "x" CRLF "--b--" CRLF;
    multipart_part parts[4];
    int n;
    cd_err err;
    assert_int_equal(parse(body, "b", parts, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].has_filename, 1);
    assert_string_equal(parts[0].filename, "");
    assert_int_equal(parts[0].len, 0);
    assert_string_equal(parts[1].filename, "кот.jpg");
}

static void expect_refusal(const char *body, const char *boundary, int max, cd_code code)
{
    multipart_part parts[4];
    int n;
    cd_err err;
    cd_err_clear(&err);
    assert_int_equal(parse(body, boundary, parts, max, &n, &err), -1);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.msg) > 0);
}

static void test_malformed_bodies_are_refused(void **state)
{
    (void)state;
    /* no boundary line at all */
    expect_refusal("just bytes", "b", 4, CD_ERR_FORMAT);
    /* truncated: no closing delimiter */
    expect_refusal("--b" CRLF "Content-Disposition: form-data; name=\"inputfile\"; filename=\"a\"" CRLF CRLF "abc",
                   "b", 4, CD_ERR_FORMAT);
    /* headers that never end */
    expect_refusal("--b" CRLF "Content-Disposition: form-data; name=\"x\"", "b", 4, CD_ERR_FORMAT);
    /* a part without Content-Disposition */
    expect_refusal("--b" CRLF "Content-Type: text/plain" CRLF CRLF "x" CRLF "--b--", "b", 4, CD_ERR_FORMAT);
    /* a disposition other than form-data */
    expect_refusal("--b" CRLF "Content-Disposition: attachment; name=x" CRLF CRLF "x" CRLF "--b--", "b", 4,
                   CD_ERR_FORMAT);
    /* garbage after a delimiter */
    expect_refusal("--bXX" CRLF "--b--", "b", 4, CD_ERR_FORMAT);
    /* more parts than allowed */
    expect_refusal("--b" CRLF "Content-Disposition: form-data; name=a" CRLF CRLF "1" CRLF
                   "--b" CRLF "Content-Disposition: form-data; name=b" CRLF CRLF "2" CRLF "--b--",
                   "b", 1, CD_ERR_LIMIT);
}

static void test_header_block_limit(void **state)
{
    (void)state;
    size_t big = MULTIPART_MAX_HEADERS + 100;
    char *body = malloc(big + 200);
    assert_non_null(body);
    int o = sprintf(body, "--b" CRLF "Content-Disposition: form-data; name=\"x\"" CRLF "X-Pad: ");
    memset(body + o, 'a', big);
    o += (int)big;
    sprintf(body + o, CRLF CRLF "data" CRLF "--b--");
    expect_refusal(body, "b", 4, CD_ERR_FORMAT);
    free(body);
}

static void test_urlform_fields(void **state)
{
    (void)state;
    const char body[] = "label=dog&page=3&name=a+b%20c%2B&empty=&flag&bad=%zz%4";
    char v[32];
    assert_int_equal(urlform_get(body, strlen(body), "label", v, sizeof v), 1);
    assert_string_equal(v, "dog");
    assert_int_equal(urlform_get(body, strlen(body), "page", v, sizeof v), 1);
    assert_string_equal(v, "3");
    assert_int_equal(urlform_get(body, strlen(body), "name", v, sizeof v), 1);
    assert_string_equal(v, "a b c+");
    assert_int_equal(urlform_get(body, strlen(body), "empty", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(urlform_get(body, strlen(body), "flag", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(urlform_get(body, strlen(body), "bad", v, sizeof v), 1);
    assert_string_equal(v, "%zz%4");
    assert_int_equal(urlform_get(body, strlen(body), "lab", v, sizeof v), 0);
    assert_int_equal(urlform_get(body, strlen(body), "missing", v, sizeof v), 0);
    /* the length bounds the search: "label=dog" cut before "page" */
    assert_int_equal(urlform_get(body, 9, "page", v, sizeof v), 0);
    /* values are truncated to the buffer */
    char small[3];
    assert_int_equal(urlform_get(body, strlen(body), "label", small, sizeof small), 1);
    assert_string_equal(small, "do");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary_from_content_type),
        cmocka_unit_test(test_browser_form_with_file_and_fields),
        cmocka_unit_test(test_binary_data_with_nul_bytes_and_preamble),
        cmocka_unit_test(test_empty_file_and_rfc5987_filename),
        cmocka_unit_test(test_malformed_bodies_are_refused),
        cmocka_unit_test(test_header_block_limit),
        cmocka_unit_test(test_urlform_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
