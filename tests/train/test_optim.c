/* tests/train/test_optim.c - optimizer steps match Keras 2's formulas, computed by hand
 * (Python, double precision) for three steps on p = [1, -2] with gradients
 * [0.5, -1], [0.25, 2], [-0.75, 0.1]; frozen layers take no state. */
#include "test_util.h"

#include "train/optim.h"

static const float G[3][2] = {{0.5f, -1.0f}, {0.25f, 2.0f}, {-0.75f, 0.1f}};

static void run3(const optim_opts *o, float *p, float *s1, float *s2)
{
    for (int t = 1; t <= 3; t++)
        optim_update(o, t, o->lr, p, G[t - 1], s1, s2, 2, 1);
}

static void test_sgd_plain_momentum_nesterov_match_keras(void **state)
{
    (void)state;
    optim_opts o;
    optim_defaults(OPTIM_SGD, &o);
    assert_float_equal(o.lr, 0.01f, 1e-9);
    float p[2] = {1, -2}, v[2] = {0, 0};
    run3(&o, p, v, NULL);
    assert_float_equal(p[0], 1.0f, 1e-6);
    assert_float_equal(p[1], -2.011f, 1e-6);

    o.momentum = 0.9f;
    float pm[2] = {1, -2}, vm[2] = {0, 0};
    run3(&o, pm, vm, NULL);
    assert_float_equal(pm[0], 0.9892f, 1e-6);
    assert_float_equal(pm[1], -2.0119f, 1e-6);
    assert_float_equal(vm[0], 0.0012f, 1e-6);
    assert_float_equal(vm[1], -0.0109f, 1e-6);

    o.nesterov = 1;
    float pn[2] = {1, -2}, vn[2] = {0, 0};
    run3(&o, pn, vn, NULL);
    assert_float_equal(pn[0], 0.99028f, 1e-6);
    assert_float_equal(pn[1], -2.02171f, 1e-6);
}

static void test_rmsprop_matches_keras(void **state)
{
    (void)state;
    optim_opts o;
    optim_defaults(OPTIM_RMSPROP, &o);
    assert_float_equal(o.lr, 0.001f, 1e-9);
    assert_float_equal(o.rho, 0.9f, 1e-9);
    assert_float_equal(o.epsilon, 1e-7f, 1e-12);
    float p[2] = {1, -2}, a[2] = {0, 0};
    run3(&o, p, a, NULL);
    assert_float_equal(p[0], 0.9979804243f, 2e-6);
    assert_float_equal(p[1], -1.9998452800f, 2e-6);
    assert_float_equal(a[0], 0.082125f, 1e-6);
    assert_float_equal(a[1], 0.442f, 1e-6);
}

static void test_adam_matches_keras_2_2(void **state)
{
    (void)state;
    optim_opts o;
    optim_defaults(OPTIM_ADAM, &o);
    assert_float_equal(o.beta1, 0.9f, 1e-9);
    assert_float_equal(o.beta2, 0.999f, 1e-9);
    float p[2] = {1, -2}, m[2] = {0, 0}, v[2] = {0, 0};
    run3(&o, p, m, v);
    assert_float_equal(p[0], 0.9981498085f, 2e-6);
    assert_float_equal(p[1], -1.9996773791f, 2e-6);
    assert_float_equal(m[0], -0.012f, 1e-6);
    assert_float_equal(m[1], 0.109f, 1e-6);
    assert_float_equal(v[0], 0.00087443775f, 2e-7); /* float32 (1 - beta2) */
    assert_float_equal(v[1], 0.005004001f, 1e-6);
}

static void test_weight_decay_adds_l2_gradient_to_kernels_only(void **state)
{
    (void)state;
    optim_opts o;
    optim_defaults(OPTIM_SGD, &o);
    o.weight_decay = 0.1f;
    float p[2] = {1, -2}, v[2] = {0, 0};
    run3(&o, p, v, NULL);
    assert_float_equal(p[0], 0.997015494f, 1e-6);
    assert_float_equal(p[1], -2.005005988f, 1e-6);
    /* decay = 0 (a bias): plain SGD result */
    float b[2] = {1, -2}, vb[2] = {0, 0};
    for (int t = 1; t <= 3; t++)
        optim_update(&o, t, o.lr, b, G[t - 1], vb, NULL, 2, 0);
    assert_float_equal(b[1], -2.011f, 1e-6);
}

/* A two-layer model built by hand (no engine calls): a frozen Dense and a trainable one. */
typedef struct fake {
    float k0[4], b0[2], k1[2], b1[1];
    tensor tk0, tb0, tk1, tb1;
    tensor gk1, gb1;
    float gk1d[2], gb1d[1];
    layer layers[3];
    model m;
} fake;

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    float k0[4] = {1, 2, 3, 4}, k1[2] = {0.5f, -0.5f};
    memcpy(f->k0, k0, sizeof k0);
    memcpy(f->k1, k1, sizeof k1);
    f->tk0 = (tensor){2, {2, 2}, 4, f->k0};
    f->tb0 = (tensor){1, {2}, 2, f->b0};
    f->tk1 = (tensor){2, {2, 1}, 2, f->k1};
    f->tb1 = (tensor){1, {1}, 1, f->b1};
    f->gk1 = (tensor){2, {2, 1}, 2, f->gk1d};
    f->gb1 = (tensor){1, {1}, 1, f->gb1d};
    f->gk1d[0] = 1.0f;
    f->gk1d[1] = -1.0f;
    f->gb1d[0] = 0.5f;
    f->layers[0].kind = LAYER_INPUT;
    f->layers[1].kind = LAYER_DENSE;
    f->layers[1].trainable = 0;
    f->layers[1].n_params = 2;
    f->layers[1].params[0] = &f->tk0;
    f->layers[1].params[1] = &f->tb0;
    f->layers[2].kind = LAYER_DENSE;
    f->layers[2].trainable = 1;
    f->layers[2].n_params = 2;
    f->layers[2].params[0] = &f->tk1;
    f->layers[2].params[1] = &f->tb1;
    f->m.layers = f->layers;
    f->m.n_layers = 3;
}

static const tensor *fake_grad(const void *ctx, int layer, int param)
{
    const fake *f = ctx;
    if (layer != 2)
        return NULL; /* frozen layers have no gradient, as runner_param_grad */
    return param == 0 ? &f->gk1 : &f->gb1;
}

static void test_step_updates_trainable_layers_and_skips_frozen(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    optim_opts oo;
    optim_defaults(OPTIM_ADAM, &oo);
    cd_err err;
    optim *o = optim_new(&f.m, &oo, &err);
    assert_non_null(o);
    /* Adam: 2 moments x 2 trainable params; frozen layer 1 has no slot. */
    assert_int_equal(optim_n_slots(o), 4);
    for (size_t i = 0; i < optim_n_slots(o); i++) {
        optim_slot_info s;
        assert_int_equal(optim_slot(o, i, &s), 0);
        assert_int_equal(s.layer, 2);
        assert_int_equal(s.moment, (int)(i / 2));
    }
    assert_int_equal(optim_step(o, &f.m, fake_grad, &f, &err), 0);
    assert_int_equal(optim_iterations(o), 1);
    /* Adam's first step moves each parameter by about lr against the gradient's sign. */
    assert_float_equal(f.k1[0], 0.5f - 0.001f, 1e-6);
    assert_float_equal(f.k1[1], -0.5f + 0.001f, 1e-6);
    assert_float_equal(f.b1[0], -0.001f, 1e-6);
    assert_float_equal(f.k0[3], 4.0f, 0);
    optim_slot_info s;
    assert_int_equal(optim_slot(o, 0, &s), 0);
    assert_float_equal(s.data[0], 0.1f, 1e-7); /* m = (1 - beta1) * g */
    assert_int_equal(optim_slot(o, 4, &s), -1);
    optim_free(o);
}

static void test_missing_gradient_is_an_error(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.layers[1].trainable = 1; /* now layer 1 wants a gradient fake_grad does not give */
    optim_opts oo;
    optim_defaults(OPTIM_SGD, &oo);
    cd_err err;
    optim *o = optim_new(&f.m, &oo, &err);
    assert_non_null(o);
    assert_int_equal(optim_step(o, &f.m, fake_grad, &f, &err), -1);
    assert_int_equal(err.code, CD_ERR_NOTFOUND);
    optim_free(o);
}

static void test_parse_names(void **state)
{
    (void)state;
    optim_kind k;
    assert_int_equal(optim_kind_parse("Adam", &k), 0);
    assert_int_equal(k, OPTIM_ADAM);
    assert_int_equal(optim_kind_parse("rmsprop", &k), 0);
    assert_int_equal(k, OPTIM_RMSPROP);
    assert_int_equal(optim_kind_parse("adagrad", &k), -1);
    assert_string_equal(optim_keras_class(OPTIM_RMSPROP), "RMSprop");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain_momentum_nesterov_match_keras),
        cmocka_unit_test(test_rmsprop_matches_keras),
        cmocka_unit_test(test_adam_matches_keras_2_2),
        cmocka_unit_test(test_weight_decay_adds_l2_gradient_to_kernels_only),
        cmocka_unit_test(test_step_updates_trainable_layers_and_skips_frozen),
        cmocka_unit_test(test_missing_gradient_is_an_error),
        cmocka_unit_test(test_parse_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
