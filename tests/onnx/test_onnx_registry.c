/*
 * test_onnx_registry.c - `catdog serve` serves an ONNX classifier: with no
 * models/binary.h5 but a models/binary.onnx, the registry (web/registry.h)
 * loads the .onnx file, and a present .h5 still wins.
 */
#include "test_util.h"

#include <unistd.h>

#include "modelfile/keras.h"
#include "onnx/onnx.h"
#include "web/registry.h"

static void test_registry_serves_onnx_when_h5_absent(void **state)
{
    (void)state;
    char dir[] = "/tmp/catdog_onnx_reg_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    cd_err err;
    cd_err_clear(&err);
    model *m = keras_load(CATDOG_SOURCE_DIR "/models/binary.h5", &err);
    assert_non_null(m);
    snprintf(path, sizeof path, "%s/binary.onnx", dir);
    assert_int_equal(onnx_save(m, path, NULL, &err), 0);
    model_free(m);

    registry *r = registry_load(dir, NULL, NULL, NULL, &err);
    if (!r)
        fail_msg("%s", err.msg);
    int i = registry_find(r, "binary");
    assert_true(i >= 0);
    assert_string_equal(r->models[i].arch, "onnx");
    assert_non_null(strstr(r->models[i].source, "binary.onnx"));
    assert_string_equal(r->models[i].preprocess, "rescale");
    registry_free(r);

    /* With binary.h5 present too, the Keras file is served as before. */
    char h5[128], cmd[400];
    snprintf(h5, sizeof h5, "%s/binary.h5", dir);
    snprintf(cmd, sizeof cmd, "cp '%s/models/binary.h5' '%s'", CATDOG_SOURCE_DIR, h5);
    assert_int_equal(system(cmd), 0);
    r = registry_load(dir, NULL, NULL, NULL, &err);
    assert_non_null(r);
    i = registry_find(r, "binary");
    assert_true(i >= 0);
    assert_string_equal(r->models[i].arch, "binary");
    registry_free(r);
    assert_int_equal(remove(h5), 0);
    assert_int_equal(remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_serves_onnx_when_h5_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
