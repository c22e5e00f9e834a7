/* tests/train/test_checkpoint.c - optimizer state and loop state survive a round
 * trip through the .h5 (Keras' training_config / optimizer_weights layout), and
 * the history CSV/SVG are written and read back. */
#include "test_util.h"

#include <hdf5.h>
#include <math.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/history.h"

typedef struct fake {
    float k[6], b[3];
    tensor tk, tb;
    layer layers[2];
    model m;
} fake;

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    f->tk = (tensor){2, {2, 3}, 6, f->k};
    f->tb = (tensor){1, {3}, 3, f->b};
    f->layers[0].kind = LAYER_INPUT;
    f->layers[1].kind = LAYER_DENSE;
    f->layers[1].trainable = 1;
    f->layers[1].n_params = 2;
    f->layers[1].params[0] = &f->tk;
    f->layers[1].params[1] = &f->tb;
    f->m.layers = f->layers;
    f->m.n_layers = 2;
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/catdog_test_ckpt_%d_%s", (int)getpid(), name);
}

static void make_empty_h5(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f);
}

static void test_adam_state_round_trips(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "adam.h5");
    make_empty_h5(path);
    fake f;
    fake_init(&f);
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    oo.beta1 = 0.85f;
    oo.weight_decay = 1e-4f;
    cd_err err;
    optim *o = optim_new(&f.m, &oo, &err);
    assert_non_null(o);
    for (size_t i = 0; i < optim_n_slots(o); i++) {
        optim_slot_info s;
        optim_slot(o, i, &s);
        for (size_t j = 0; j < s.size; j++)
            s.data[j] = (float)(i * 100 + j) + 0.25f;
    }
    optim_set_iterations(o, 1234);
    train_state st;
    train_state_init(&st, 0.0005f, 18446744073709551557ULL);
    st.epochs_done = 7;
    st.step_in_epoch = 3;
    st.best_val_loss = 0.3125;
    st.best_epoch = 5;
    st.since_best = 2;
    st.plateau_wait = 1;
    st.base_lr = 0.001f;
    assert_int_equal(checkpoint_write(path, &oo, o, &st, &err), 0);
    /* writing twice replaces, not duplicates */
    assert_int_equal(checkpoint_write(path, &oo, o, &st, &err), 0);

    optim_opts ro;
    train_state rs;
    if (checkpoint_read_config(path, &ro, &rs, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(ro.kind, OPTIM_ADAM);
    assert_float_equal(ro.beta1, 0.85f, 1e-7);
    assert_float_equal(ro.weight_decay, 1e-4f, 1e-10);
    assert_float_equal(ro.lr, 0.0005f, 1e-10);
    assert_int_equal(rs.epochs_done, 7);
    assert_int_equal(rs.step_in_epoch, 3);
    assert_float_equal(rs.best_val_loss, 0.3125, 1e-12);
    assert_int_equal(rs.best_epoch, 5);
    assert_int_equal(rs.since_best, 2);
    assert_int_equal(rs.plateau_wait, 1);
    assert_float_equal(rs.base_lr, 0.001f, 1e-10);
    assert_true(rs.seed == 18446744073709551557ULL);
    assert_string_equal(rs.loss, "binary_crossentropy");

    optim *o2 = optim_new(&f.m, &ro, &err);
    assert_non_null(o2);
    assert_int_equal(checkpoint_read_optimizer(path, o2, &err), 1);
    assert_int_equal(optim_iterations(o2), 1234);
    for (size_t i = 0; i < optim_n_slots(o2); i++) {
        optim_slot_info a, b;
        optim_slot(o, i, &a);
        optim_slot(o2, i, &b);
        assert_memory_equal(a.data, b.data, a.size * sizeof(float));
    }

    /* Keras' layout: the names and shapes h5py/Keras expect */
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(h >= 0);
    assert_true(H5Aexists(h, "training_config") > 0);
    hid_t ds = H5Dopen2(h, "optimizer_weights/training/Adam/Variable:0", H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[4];
    assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
    assert_int_equal((int)dims[0], 2);
    assert_int_equal((int)dims[1], 3);
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(h, "optimizer_weights/Adam/iterations:0", H5P_DEFAULT);
    assert_true(ds >= 0);
    /* a scalar 64-bit integer, as Keras' K.variable(0, dtype='int64') saves */
    hid_t ty = H5Dget_type(ds);
    assert_int_equal(H5Tget_class(ty), H5T_INTEGER);
    assert_int_equal((int)H5Tget_size(ty), 8);
    H5Tclose(ty);
    sp = H5Dget_space(ds);
    assert_int_equal(H5Sget_simple_extent_ndims(sp), 0);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(h);

    /* without an optimizer: state only, no optimizer_weights */
    assert_int_equal(checkpoint_write(path, &oo, NULL, &st, &err), 0);
    assert_int_equal(checkpoint_read_optimizer(path, o2, &err), 0);
    optim_free(o);
    optim_free(o2);
    unlink(path);
}

static void test_wrong_model_is_refused(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "sgd.h5");
    make_empty_h5(path);
    fake f;
    fake_init(&f);
    optim_opts oo;
    optim_defaults(OPTIM_SGD, &oo);
    cd_err err;
    optim *o = optim_new(&f.m, &oo, &err);
    train_state st;
    train_state_init(&st, 0.01f, 1);
    assert_int_equal(checkpoint_write(path, &oo, o, &st, &err), 0);
    /* a model whose kernel is 3x3 */
    fake g;
    fake_init(&g);
    float k9[9];
    g.tk = (tensor){2, {3, 3}, 9, k9};
    g.layers[1].params[0] = &g.tk;
    optim *o2 = optim_new(&g.m, &oo, &err);
    assert_int_equal(checkpoint_read_optimizer(path, o2, &err), -1);
    assert_int_equal(err.code, CD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "Variable"));
    optim_free(o);
    optim_free(o2);
    unlink(path);
}

static void test_no_state_is_notfound(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "none.h5");
    make_empty_h5(path);
    optim_opts oo;
    train_state st;
    cd_err err;
    assert_int_equal(checkpoint_read_config(path, &oo, &st, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    unlink(path);
    assert_int_equal(checkpoint_read_config("/nonexistent/x.h5", &oo, &st, &err), -1);
    assert_int_equal(err.code, CD_ERR_IO);
}

static void test_history_csv_and_svg(void **state)
{
    (void)state;
    char csv[256], svg[256];
    tmp_path(csv, sizeof csv, "h.csv");
    tmp_path(svg, sizeof svg, "h.svg");
    history h;
    history_init(&h);
    cd_err err;
    for (int e = 1; e <= 5; e++) {
        history_row r = {e, 0.7 / e, 0.5 + 0.08 * e, 0.75 / e, 0.48 + 0.07 * e, 0.001, 12.5 * e};
        assert_int_equal(history_append(&h, &r, &err), 0);
    }
    assert_int_equal(history_write_csv(&h, csv, &err), 0);
    history back;
    history_init(&back);
    assert_int_equal(history_read_csv(&back, csv, &err), 0);
    assert_int_equal(back.n, 5);
    assert_int_equal(back.rows[4].epoch, 5);
    assert_float_equal(back.rows[2].val_loss, 0.25, 1e-6);
    assert_float_equal(back.rows[3].accuracy, 0.82, 1e-6);
    history_truncate(&back, 3);
    assert_int_equal(back.n, 3);

    assert_int_equal(history_write_svg(&h, svg, "binary <test> & co", &err), 0);
    size_t len;
    char *txt = (char *)test_read_file(svg, &len);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "<svg"));
    assert_non_null(strstr(txt, "</svg>"));
    assert_non_null(strstr(txt, "binary &lt;test&gt; &amp; co"));
    /* four curves: training and validation, in two panels */
    int lines = 0;
    for (const char *p = txt; (p = strstr(p, "<polyline")); p++)
        lines++;
    assert_int_equal(lines, 4);
    free(txt);

    assert_int_equal(history_read_csv(&back, "/nonexistent/h.csv", &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    history_free(&h);
    history_free(&back);
    unlink(csv);
    unlink(svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_state_round_trips),
        cmocka_unit_test(test_wrong_model_is_refused),
        cmocka_unit_test(test_no_state_is_notfound),
        cmocka_unit_test(test_history_csv_and_svg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
