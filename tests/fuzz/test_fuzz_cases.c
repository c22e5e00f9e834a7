/* tests/fuzz/test_fuzz_cases.c - every input a fuzzer once broke catdog with,
 * replayed in the normal and ASan builds.
 *
 * tests/fuzz/cases/<harness>/<what-it-broke> holds the inputs; each goes
 * through its harness (fuzz/fuzz_<harness>.c), whose checks failed on it
 * before the fix.  Each bug also has a named test here that states the right
 * answer directly, without the harness. */
#include "test_util.h"

#include <dirent.h>

#include "engine/model.h"
#include "fuzz/fuzz.h"
#include "modelfile/keras.h"
#include "modelfile/keras_internal.h"
#include "web/upload.h"

typedef int (*harness_fn)(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    harness_fn fn;
} HARNESSES[] = {
    {"image", fuzz_image_one},           {"keras_json", fuzz_keras_json_one},
    {"keras_h5", fuzz_keras_h5_one},     {"keras_h5_raw", fuzz_keras_h5_raw_one},
    {"multipart", fuzz_multipart_one},   {"http_fields", fuzz_http_fields_one},
    {"onnx", fuzz_onnx_one},
};

static void test_saved_cases_pass_their_harness(void **state)
{
    (void)state;
    int n = 0;
    for (size_t h = 0; h < sizeof HARNESSES / sizeof HARNESSES[0]; h++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/cases/%s", CATDOG_SOURCE_DIR, HARNESSES[h].name);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4600];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t len = 0;
            unsigned char *bytes = test_read_file(path, &len);
            assert_non_null(bytes);
            fprintf(stderr, "replaying %s/%s (%zu bytes)\n", HARNESSES[h].name, e->d_name, len);
            assert_int_equal(HARNESSES[h].fn(bytes, len), 0);
            free(bytes);
            n++;
        }
        closedir(d);
    }
    /* The folder is in the tree: an empty replay means it was not found. */
    assert_true(n >= 1);
}

/* http_fields, cases/http_fields/sanitize-dot-unzeroed-buffer: the name "."
 * survived sanitizing when the output buffer held garbage (compared before
 * terminating). */
static void test_sanitize_name_refuses_dots_whatever_the_buffer_held(void **state)
{
    (void)state;
    static const char *const in[] = {".", "..", " . ", "dir/..", "C:\\photos\\.", ""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char out[16];
        memset(out, 'X', sizeof out);
        upload_sanitize_name(in[i], out, sizeof out);
        assert_string_equal(out, "upload");
    }
    char out[16];
    memset(out, 'X', sizeof out);
    upload_sanitize_name("...", out, sizeof out);
    assert_string_equal(out, "...");
}

/* keras_json, cases/keras_json/dense-units-over-int-max: sizes beyond an int
 * were cast to int and wrapped around, so "units": 22147483647 built a Dense
 * of 672,647,167 units (an 8 GB kernel; libFuzzer's out-of-memory report) and
 * 4294967297 one of a single unit.  They are refused now, naming the field. */
static void test_keras_sizes_beyond_int_are_refused_not_wrapped(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"\"units\":4294967297", "units"},
        {"\"units\":22147483647", "units"},
        {"\"units\":-4294967295", "units"},
    };
    char json[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"class_name\":\"Sequential\",\"config\":[{\"class_name\":\"Flatten\",\"config\":"
                 "{\"name\":\"f\",\"batch_input_shape\":[null,2,2,3]}},{\"class_name\":\"Dense\","
                 "\"config\":{\"name\":\"d\",%s}}]}",
                 cases[i][0]);
        cd_err err;
        model *m = keras_from_json(json, "wrap.json", &err);
        if (m)
            fail_msg("%s accepted (Dense of %d units)", cases[i][0], m->layers[m->n_layers - 1].units);
        assert_int_equal(err.code, CD_ERR_FORMAT);
        assert_non_null(strstr(err.msg, cases[i][1]));
    }
    static const char *const conv[] = {"\"kernel_size\":4294967299", "\"kernel_size\":[3,4294967299]",
                                       "\"filters\":4294967298", "\"strides\":[1,4294967297]"};
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"class_name\":\"Sequential\",\"config\":[{\"class_name\":\"Conv2D\",\"config\":"
                 "{\"name\":\"c\",\"batch_input_shape\":[null,8,8,3],\"filters\":2,\"kernel_size\":3,%s}}]}",
                 conv[i]);
        cd_err err;
        model *m = keras_from_json(json, "wrap.json", &err);
        if (m)
            fail_msg("%s accepted (kernel %dx%d, %d filters)", conv[i], m->layers[1].kernel[0],
                     m->layers[1].kernel[1], m->layers[1].filters);
        assert_int_equal(err.code, CD_ERR_FORMAT);
    }
    /* The input's size, too. */
    cd_err err;
    assert_null(keras_from_json("{\"class_name\":\"Sequential\",\"config\":[{\"class_name\":\"Flatten\","
                                "\"config\":{\"name\":\"f\",\"batch_input_shape\":[null,4294967298,2,3]}}]}",
                                "wrap.json", &err));
}

/* keras_json, cases/keras_json/nested-model-long-name-input-collision: a
 * Sequential whose only layer is a nested model with a 95-character name and
 * a layer past its output, which catdog writes back as a functional model.
 * The writer gives that outer model an InputLayer named "<scope>_input",
 * which snprintf cut back to exactly the nested model's name; read back, the
 * output reference resolved to that InputLayer (192 outputs instead of 18).
 * The synthesized name now keeps room for its suffix and avoids scope names. */
static void test_long_nested_model_name_round_trips(void **state)
{
    (void)state;
    char name[96];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char json[2048];
    snprintf(json, sizeof json,
             "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"outer\",\"layers\":[{\"class_name\":"
             "\"Model\",\"config\":{\"name\":\"%s\",\"layers\":[{\"class_name\":\"InputLayer\",\"name\":"
             "\"img\",\"config\":{\"name\":\"img\",\"batch_input_shape\":[null,8,8,3]},\"inbound_nodes\":[]},"
             "{\"class_name\":\"Conv2D\",\"name\":\"c\",\"config\":{\"name\":\"c\",\"filters\":2,"
             "\"kernel_size\":3},\"inbound_nodes\":[[[\"img\",0,0,{}]]]},{\"class_name\":\"MaxPooling2D\","
             "\"name\":\"p\",\"config\":{\"name\":\"p\",\"pool_size\":[2,2]},\"inbound_nodes\":"
             "[[[\"c\",0,0,{}]]]},{\"class_name\":\"MaxPooling2D\",\"name\":\"q\",\"config\":{\"name\":"
             "\"q\",\"pool_size\":[3,3]},\"inbound_nodes\":[[[\"c\",0,0,{}]]]}],\"input_layers\":"
             "[[\"img\",0,0]],\"output_layers\":[[\"p\",0,0]]}}]}}",
             name);
    cd_err err;
    model *m = keras_from_json(json, "long.json", &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(model_output_size(m), 3 * 3 * 2);
    /* The summary shows the nested model's output, not its last layer (q). */
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    assert_non_null(mem);
    model_summary(m, mem);
    assert_int_equal(fclose(mem), 0);
    if (!strstr(text, "(None, 3, 3, 2)"))
        fail_msg("summary lacks the nested output shape:\n%s", text);
    free(text);
    char *out = keras_json_config(m, &err);
    if (!out)
        fail_msg("%s", err.msg);
    model *back = keras_from_json(out, "round trip", &err);
    if (!back)
        fail_msg("%s\n%s", err.msg, out);
    assert_int_equal(back->n_layers, m->n_layers);
    assert_int_equal(model_output_size(back), 3 * 3 * 2);
    assert_int_equal(model_output_index(back), model_output_index(m));
    model_free(back);
    free(out);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saved_cases_pass_their_harness),
        cmocka_unit_test(test_sanitize_name_refuses_dots_whatever_the_buffer_held),
        cmocka_unit_test(test_keras_sizes_beyond_int_are_refused_not_wrapped),
        cmocka_unit_test(test_long_nested_model_name_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
