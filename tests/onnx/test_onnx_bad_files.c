/*
 * test_onnx_bad_files.c - broken ONNX files give one-line errors, never a
 * crash or an allocation sized by what the file claims:
 * truncated, wrong magic (not protobuf / an HDF5 file), unknown operator
 * (the message names node, op type and opset), a cyclic graph, a tensor whose
 * data is shorter than its shape, a 2^40-element shape, missing external
 * data, an unsupported opset, a graph without output.
 * Each malformed file is the shipped binary model exported to ONNX, then
 * changed through the protobuf types generated from onnx.proto.
 */
#include "test_util.h"

#include <unistd.h>

#include "modelfile/keras.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"

/* The binary model as ONNX bytes. */
static unsigned char *good_bytes(size_t *len)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_load(CATDOG_SOURCE_DIR "/models/binary.h5", &err);
    if (!m)
        fail_msg("%s", err.msg);
    unsigned char *buf = onnx_save_memory(m, NULL, len, &err);
    model_free(m);
    if (!buf)
        fail_msg("%s", err.msg);
    return buf;
}

/* Loads bytes; expects failure with `code` and a one-line message holding `want`. */
static void expect_error(const void *bytes, size_t len, cd_code code, const char *want)
{
    cd_err err;
    cd_err_clear(&err);
    model *m = onnx_load_memory(bytes, len, "bad.onnx", NULL, &err);
    if (m) {
        model_free(m);
        fail_msg("loaded a broken file (expected: %s)", want);
    }
    printf("  -> %s\n", err.msg);
    assert_int_equal(err.code, code);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "bad.onnx"));
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

typedef void (*mutate_fn)(Onnx__ModelProto *mp);

/* The good model changed by fn, packed again. */
static unsigned char *mutated(mutate_fn fn, size_t *len)
{
    size_t n;
    unsigned char *good = good_bytes(&n);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, good);
    assert_non_null(mp);
    fn(mp);
    *len = onnx__model_proto__get_packed_size(mp);
    unsigned char *out = malloc(*len);
    assert_non_null(out);
    onnx__model_proto__pack(mp, out);
    /* fn only swaps or shortens what was unpacked, so freeing stays valid. */
    onnx__model_proto__free_unpacked(mp, NULL);
    free(good);
    return out;
}

static void test_good_file_loads(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    cd_err err;
    cd_err_clear(&err);
    model *m = onnx_load_memory(b, n, "good.onnx", NULL, &err);
    if (!m)
        fail_msg("%s", err.msg);
    model_free(m);
    free(b);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    size_t cuts[] = {n / 2, n - 1, 7, 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        expect_error(b, cuts[i], CD_ERR_FORMAT, "not an ONNX model");
    expect_error(b, 0, CD_ERR_FORMAT, "no graph");
    free(b);
}

static void test_wrong_magic(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *h5 = test_read_file(CATDOG_SOURCE_DIR "/models/binary.h5", &n);
    assert_non_null(h5);
    expect_error(h5, n, CD_ERR_FORMAT, "not an ONNX model");
    free(h5);
    const char *text = "this is not a model\n";
    expect_error(text, strlen(text), CD_ERR_FORMAT, "not an ONNX model");
}

static void unknown_op(Onnx__ModelProto *mp)
{
    /* Node 2 is max_pooling2d_1 (0 and 1 are conv2d_1's Conv and Relu). */
    free(mp->graph->node[2]->op_type);
    mp->graph->node[2]->op_type = strdup("FancyOp");
    assert_non_null(mp->graph->node[2]->op_type);
}

static void test_unknown_op_names_node_op_and_opset(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(unknown_op, &n);
    expect_error(b, n, CD_ERR_UNSUPPORTED, "FancyOp (opset 13) is not supported");
    expect_error(b, n, CD_ERR_UNSUPPORTED, "node 'max_pooling2d_1'");
    free(b);
}

/* Appends an int or ints attribute to node 0 (conv2d_1's Conv, 3 input
 * channels), malloc'd so that free_unpacked frees it. */
static void add_attr(Onnx__ModelProto *mp, const char *name, int64_t v, size_t n_ints)
{
    Onnx__NodeProto *nd = mp->graph->node[0];
    Onnx__AttributeProto *a = malloc(sizeof *a);
    assert_non_null(a);
    onnx__attribute_proto__init(a);
    a->name = strdup(name);
    assert_non_null(a->name);
    a->has_type = 1;
    if (n_ints) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->ints = malloc(n_ints * sizeof *a->ints);
        assert_non_null(a->ints);
        for (size_t k = 0; k < n_ints; k++)
            a->ints[k] = v;
        a->n_ints = n_ints;
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = v;
    }
    Onnx__AttributeProto **more = realloc(nd->attribute, (nd->n_attribute + 1) * sizeof *more);
    assert_non_null(more);
    more[nd->n_attribute++] = a;
    nd->attribute = more;
}

static void bad_group(Onnx__ModelProto *mp) { add_attr(mp, "group", 2, 0); }
static void huge_dilation(Onnx__ModelProto *mp) { add_attr(mp, "dilations", 5000, 2); }
static void dilation_too_wide(Onnx__ModelProto *mp) { add_attr(mp, "dilations", 1000, 2); }

static void test_bad_group_and_dilations(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(bad_group, &n);
    expect_error(b, n, CD_ERR_FORMAT, "group 2 does not divide the 3 input channels");
    free(b);
    b = mutated(huge_dilation, &n);
    expect_error(b, n, CD_ERR_UNSUPPORTED, "dilations must be two values from 1 to 1024");
    free(b);
    /* a 3x3 kernel dilated 1000 spans 2001 pixels: more than the 150x150 input */
    b = mutated(dilation_too_wide, &n);
    expect_error(b, n, CD_ERR_SHAPE, "smaller than the kernel 2001x2001");
    free(b);
}

static void cyclic(Onnx__ModelProto *mp)
{
    /* Node 0 reads node 1's output and node 1 reads node 0's: a cycle. */
    Onnx__NodeProto **nd = mp->graph->node;
    char *t = nd[0]->input[0];
    nd[0]->input[0] = nd[1]->output[0];
    nd[1]->output[0] = t;
}

static void test_cyclic_graph(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(cyclic, &n);
    expect_error(b, n, CD_ERR_FORMAT, "cyclic");
    free(b);
}

static void short_tensor(Onnx__ModelProto *mp) { mp->graph->initializer[0]->raw_data.len -= 4; }

static void test_tensor_data_shorter_than_shape(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(short_tensor, &n);
    expect_error(b, n, CD_ERR_FORMAT, "conv2d_1/kernel' has shape (32, 3, 3, 3)");
    free(b);
}

static void huge_shape(Onnx__ModelProto *mp)
{
    Onnx__TensorProto *t = mp->graph->initializer[0];
    t->dims[0] = (int64_t)1 << 20;
    t->dims[1] = (int64_t)1 << 20;
    t->dims[2] = 1;
    t->dims[3] = 1;
}

static void test_two_to_the_forty_elements(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(huge_shape, &n);
    expect_error(b, n, CD_ERR_LIMIT, "(1048576, 1048576, 1, 1)");
    free(b);
}

static Onnx__StringStringEntryProto loc_entry = {
    PROTOBUF_C_MESSAGE_INIT(&onnx__string_string_entry_proto__descriptor), "location", "nothere.bin"};
static Onnx__StringStringEntryProto *loc_list[1] = {&loc_entry};

static void external(Onnx__ModelProto *mp)
{
    Onnx__TensorProto *t = mp->graph->initializer[0];
    t->has_raw_data = 0;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = loc_list;
    t->n_external_data = 1;
}

static void restore_external(Onnx__ModelProto *mp)
{
    /* free_unpacked must not free the static entry. */
    mp->graph->initializer[0]->n_external_data = 0;
    mp->graph->initializer[0]->external_data = NULL;
    mp->graph->initializer[0]->has_raw_data = 1;
}

static void test_missing_external_data(void **state)
{
    (void)state;
    size_t n;
    unsigned char *good = good_bytes(&n);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, good);
    assert_non_null(mp);
    external(mp);
    size_t len = onnx__model_proto__get_packed_size(mp);
    unsigned char *b = malloc(len);
    assert_non_null(b);
    onnx__model_proto__pack(mp, b);
    restore_external(mp);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(good);
    /* From memory there is no folder to look in; from a file the data is missing. */
    expect_error(b, len, CD_ERR_UNSUPPORTED, "external file");
    char dir[] = "/tmp/catdog_onnx_bad_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ext.onnx", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    cd_err err;
    cd_err_clear(&err);
    assert_null(onnx_load(path, NULL, &err));
    printf("  -> %s\n", err.msg);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "nothere.bin"));
    assert_null(strchr(err.msg, '\n'));
    remove(path);
    rmdir(dir);
    free(b);
}

static void old_opset(Onnx__ModelProto *mp) { mp->opset_import[0]->version = 9; }
static void no_output(Onnx__ModelProto *mp) { mp->graph->n_output = 0; }
static void restore_output(Onnx__ModelProto *mp) { mp->graph->n_output = 1; }

static void test_opset_and_output_checked(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = mutated(old_opset, &n);
    expect_error(b, n, CD_ERR_UNSUPPORTED, "opset 9");
    free(b);
    /* no_output hides the output from packing; give it back before freeing. */
    size_t gn;
    unsigned char *good = good_bytes(&gn);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, gn, good);
    assert_non_null(mp);
    no_output(mp);
    n = onnx__model_proto__get_packed_size(mp);
    b = malloc(n);
    assert_non_null(b);
    onnx__model_proto__pack(mp, b);
    restore_output(mp);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(good);
    expect_error(b, n, CD_ERR_FORMAT, "no output");
    free(b);
}

/* 100,000 empty nodes: 2 bytes each on disk, a whole NodeProto each in
 * memory.  The reader's budget (a multiple of the file's size) refuses it. */
static void test_decoding_memory_bounded_by_file_size(void **state)
{
    (void)state;
    size_t nodes = 100000, glen = 2 * nodes, n = 0;
    unsigned char *b = malloc(glen + 16);
    assert_non_null(b);
    b[n++] = 0x3a; /* ModelProto.graph (field 7, length-delimited) */
    for (size_t v = glen; ; v >>= 7) {
        b[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (size_t i = 0; i < nodes; i++) {
        b[n++] = 0x0a; /* GraphProto.node (field 1), empty */
        b[n++] = 0x00;
    }
    expect_error(b, n, CD_ERR_LIMIT, "bytes of memory");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file_loads),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_unknown_op_names_node_op_and_opset),
        cmocka_unit_test(test_bad_group_and_dilations),
        cmocka_unit_test(test_cyclic_graph),
        cmocka_unit_test(test_tensor_data_shorter_than_shape),
        cmocka_unit_test(test_two_to_the_forty_elements),
        cmocka_unit_test(test_missing_external_data),
        cmocka_unit_test(test_opset_and_output_checked),
        cmocka_unit_test(test_decoding_memory_bounded_by_file_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
