/*
 * op_input.c - InputLayer: the model's input, or a nested model's input inside
 * the flat graph (then it reads the layer feeding the nested model and is an
 * identity).  The model's own input is filled by the runners, not by this op.
 */
#include "engine/op.h"

static int input_infer(const model *m, layer *l, size_t *params_left, cd_err *err)
{
    (void)params_left;
    if (l->n_inputs == 0) {
        if (l != &m->layers[0])
            return cd_err_set(err, CD_ERR_UNSUPPORTED,
                              "layer '%s': a second model input is not supported", l->name);
        if (l->in_h <= 0 || l->in_w <= 0 || l->in_c <= 0)
            return cd_err_set(err, CD_ERR_SHAPE, "layer '%s': bad input shape %dx%dx%d",
                              l->name, l->in_h, l->in_w, l->in_c);
        op_set_out(l, l->in_h, l->in_w, l->in_c, 4);
    } else {
        const layer *in = op_in(m, l, 0);
        if (l->n_inputs != 1)
            return cd_err_set(err, CD_ERR_INVALID, "layer '%s': bad inputs", l->name);
        if (l->in_h > 0 &&
            (l->in_h != in->out_h || l->in_w != in->out_w || l->in_c != in->out_c))
            return cd_err_set(err, CD_ERR_SHAPE,
                              "layer '%s': expects input %dx%dx%d, gets %dx%dx%d", l->name,
                              l->in_h, l->in_w, l->in_c, in->out_h, in->out_w, in->out_c);
        op_set_out(l, in->out_h, in->out_w, in->out_c, in->out_rank);
    }
    return op_no_params(l, err);
}

static int input_alias(const model *m, int i, int training, layer_act act)
{
    (void)training;
    (void)act;
    return m->layers[i].n_inputs == 1;
}

const layer_op op_input = {
    .keras_class = "InputLayer",
    .infer = input_infer,
    .ref_forward = op_ref_copy_forward,
    .ref_backward = op_ref_copy_backward,
    .dn_alias = input_alias,
};
