/*
 * op_flatten.c - Flatten: a map becomes a (N, H*W*C) vector in NHWC order, as
 * Keras' channels_last.  It moves no data: the reference copies, and oneDNN
 * shares the input's memory (Dense reads the 4-D map with its weights
 * described in that order, see dnnl_plan.h).
 */
#include "engine/op.h"

static int flatten_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    op_set_out(l, 1, 1, (int)layer_out_size(op_in(m, l, 0)), 2);
    return op_no_params(l, err);
}

static int flatten_alias(const layer *l, int training, layer_act act)
{
    (void)l;
    (void)training;
    (void)act;
    return 1;
}

const layer_op op_flatten = {
    .keras_class = "Flatten",
    .infer = flatten_infer,
    .ref_forward = op_ref_copy_forward,
    .ref_backward = op_ref_copy_backward,
    .dn_alias = flatten_alias,
};
