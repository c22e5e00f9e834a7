/* tests/engine/test_op_flatten.c - Flatten on oneDNN: an alias of the map when
 * only Dense layers read it (directly or through Dropout / a linear
 * Activation), a real NHWC copy when another layer reads it.  A per-feature
 * layer after Flatten (BatchNormalization, PReLU, Normalization) once took the
 * map's channels for the vector's on oneDNN (P(dog) 1.0 on the reference,
 * 8e-6 on oneDNN for a Conv -> Flatten -> BatchNormalization -> Dense model);
 * here both backends agree, forward and in training. */
#include "test_dnnl_common.h"

static int td_layer(model *m, int input, layer_kind kind)
{
    layer l = layer_template(kind, "after_flatten", -1);
    if (kind == LAYER_BATCHNORM) {
        l.center = l.scale = 1;
        l.epsilon = 1e-3f;
        l.axis = -1;
        l.rate = 0.99f;
    }
    return td_add(m, l, input);
}

/* Every parameter of every layer, values away from the defaults (moving
 * statistics and PReLU's alphas included), so a per-channel mix-up shows. */
static void scramble(model *m, uint64_t seed)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_params; k++) {
            tensor *t = m->layers[i].params[k];
            if (!t)
                continue;
            int positive = (m->layers[i].kind == LAYER_BATCHNORM && k == 3) ||
                           (m->layers[i].kind == LAYER_NORMALIZATION && k >= 1);
            td_fill(t->data, t->size, positive ? 0.3f : -0.8f, positive ? 2.0f : 0.8f,
                    seed + 31u * (uint64_t)i + (uint64_t)k);
        }
}

static model *flatten_then(layer_kind kind, int via_dropout)
{
    model *m = td_model(6, 5, 3);
    int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_TANH, 1);
    x = td_simple(m, x, LAYER_FLATTEN);
    if (via_dropout)
        x = td_dropout(m, x, 0.0f);
    x = td_layer(m, x, kind);
    td_dense(m, x, 2, ACT_LINEAR, 1);
    td_finish(m, 5);
    scramble(m, 90 + (uint64_t)kind);
    return m;
}

static void test_per_feature_layer_after_flatten_matches_reference(void **state)
{
    (void)state;
    layer_kind kinds[3] = {LAYER_BATCHNORM, LAYER_PRELU, LAYER_NORMALIZATION};
    for (int k = 0; k < 3; k++)
        for (int via = 0; via < 2; via++) {
            model *m = flatten_then(kinds[k], via);
            td_compare_forward(m, 4, 4, 2, 1, 300 + (uint64_t)k);
            td_compare_forward(m, 1, 1, 1, 1, 310 + (uint64_t)k);
            model_free(m);
        }
}

/* Training: the first convolution's gradient comes back through the copy. */
static void test_gradients_through_a_flatten_copy(void **state)
{
    (void)state;
    layer_kind kinds[2] = {LAYER_BATCHNORM, LAYER_PRELU};
    for (int k = 0; k < 2; k++) {
        model *m = flatten_then(kinds[k], 0);
        td_compare_param_grads(m, 3, 0, -1, 400 + (uint64_t)k);
        model_free(m);
    }
}

/* Flatten -> Dense (the seed's CNN) and Flatten -> Dropout -> Dense still agree. */
static void test_dense_readers_still_agree(void **state)
{
    (void)state;
    for (int via = 0; via < 2; via++) {
        model *m = td_model(6, 5, 3);
        int x = td_conv(m, 0, 16, 3, 3, 1, 1, PAD_SAME, ACT_RELU, 1);
        x = td_simple(m, x, LAYER_FLATTEN);
        if (via)
            x = td_dropout(m, x, 0.25f);
        td_dense(m, x, 2, ACT_LINEAR, 1);
        td_finish(m, 7);
        td_compare_forward(m, 3, 3, 1, 1, 500);
        td_compare_param_grads(m, 3, 0, -1, 510);
        model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_feature_layer_after_flatten_matches_reference),
        cmocka_unit_test(test_gradients_through_a_flatten_copy),
        cmocka_unit_test(test_dense_readers_still_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
