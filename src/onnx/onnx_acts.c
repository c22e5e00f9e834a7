/*
 * onnx_acts.c - ONNX's element-wise activation ops and catdog's activations,
 * both ways, in one table (see onnx_internal.h).  Kept apart from the graph
 * walk in onnx_read.c / onnx_write.c so that adding an activation touches
 * only this file.
 *
 * ONNX defaults (operator docs): LeakyRelu alpha 0.01, Elu alpha 1, Selu
 * alpha 1.67326319217681884765625 gamma 1.05070102214813232421875,
 * HardSigmoid alpha 0.2 beta 0.5, Gelu approximate "none" (opset 20).
 * HardSigmoid with alpha 1/6 is PyTorch's hardsigmoid, which is Keras 3's
 * hard_sigmoid; with 0.2 it is Keras 2's; others have no catdog activation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static const struct {
    const char *op;
    layer_act act;
    int min_opset;   /* for export */
} table[] = {
    {"Relu", ACT_RELU, 1},           {"Sigmoid", ACT_SIGMOID, 1},
    {"Tanh", ACT_TANH, 1},           {"Softmax", ACT_SOFTMAX, 1},
    {"LeakyRelu", ACT_LEAKY_RELU, 1}, {"Elu", ACT_ELU, 1},
    {"Selu", ACT_SELU, 1},           {"Softplus", ACT_SOFTPLUS, 1},
    {"Softsign", ACT_SOFTSIGN, 1},   {"HardSigmoid", ACT_HARD_SIGMOID, 1},
    {"HardSwish", ACT_HARD_SWISH, 14}, {"Gelu", ACT_GELU, 20},
    {"Exp", ACT_EXPONENTIAL, 1},
};

static int near(float a, double b)
{
    return fabs((double)a - b) <= 1e-6 * fmax(1.0, fabs(b));
}

int onnx_act_import(const char *op, const onnx_act_attrs *at, layer_act *act,
                    layer_act_params *ap, char *why, size_t n)
{
    size_t k = 0;
    for (; k < sizeof table / sizeof table[0]; k++)
        if (strcmp(table[k].op, op) == 0)
            break;
    if (k == sizeof table / sizeof table[0])
        return 0;
    *act = table[k].act;
    *ap = layer_act_defaults(*act);
    switch (*act) {
    case ACT_LEAKY_RELU:
        ap->alpha = at->has_alpha ? at->alpha : 0.01f;
        break;
    case ACT_ELU:
        ap->alpha = at->has_alpha ? at->alpha : 1.0f;
        break;
    case ACT_SELU:
        if ((at->has_alpha && !near(at->alpha, 1.67326319217681884765625)) ||
            (at->has_gamma && !near(at->gamma, 1.05070102214813232421875))) {
            snprintf(why, n, "Selu with alpha %g, gamma %g (only the standard constants)",
                     (double)at->alpha, (double)at->gamma);
            return -1;
        }
        break;
    case ACT_HARD_SIGMOID: {
        float a = at->has_alpha ? at->alpha : 0.2f, b = at->has_beta ? at->beta : 0.5f;
        if (near(a, 0.2) && near(b, 0.5))
            break;
        if (near(a, 1.0 / 6.0) && near(b, 0.5)) {
            *act = ACT_HARD_SIGMOID6;
            break;
        }
        snprintf(why, n, "HardSigmoid with alpha %g, beta %g (only 0.2/0.5 and 1/6/0.5)",
                 (double)a, (double)b);
        return -1;
    }
    case ACT_GELU:
        if (at->approximate && strcmp(at->approximate, "tanh") == 0)
            *act = ACT_GELU_TANH;
        else if (at->approximate && strcmp(at->approximate, "none") != 0) {
            snprintf(why, n, "Gelu with approximate '%.20s'", at->approximate);
            return -1;
        }
        break;
    default:
        break;
    }
    return 1;
}

int onnx_act_clip(int has_min, float lo, int has_max, float hi, layer_act *act,
                  layer_act_params *ap, char *why, size_t n)
{
    if (!has_min || lo != 0.0f) {
        snprintf(why, n, "Clip to [%g, %g]: only a lower bound of 0 (relu, relu6) is supported",
                 has_min ? (double)lo : -INFINITY, has_max ? (double)hi : INFINITY);
        return -1;
    }
    if (!has_max || isinf(hi)) {
        *act = ACT_RELU;
        *ap = layer_act_defaults(*act);
    } else if (hi == 6.0f) {
        *act = ACT_RELU6;
        *ap = layer_act_defaults(*act);
    } else if (hi > 0.0f) {
        *act = ACT_RELU_X; /* Keras' ReLU(max_value=hi) */
        *ap = layer_act_defaults(*act);
        ap->max_value = hi;
    } else {
        snprintf(why, n, "Clip to [0, %g]", (double)hi);
        return -1;
    }
    return 0;
}

int onnx_act_export(layer_act act, const layer_act_params *ap, int opset, onnx_act_form *f,
                    char *why, size_t n)
{
    memset(f, 0, sizeof *f);
    switch (act) {
    case ACT_SWISH:
        f->op = "Sigmoid";
        f->mul_input = 1; /* x * Sigmoid(x) */
        return 0;
    case ACT_RELU6:
        f->op = "Clip";
        f->clip_min = 0.0f;
        f->clip_max = 6.0f;
        return 0;
    case ACT_RELU_X:
        if (ap->threshold != 0.0f || ap->alpha != 0.0f || ap->max_value < 0.0f)
            break;
        f->op = "Clip";
        f->clip_min = 0.0f;
        f->clip_max = ap->max_value;
        return 0;
    case ACT_HARD_SIGMOID6:
        f->op = "HardSigmoid";
        f->attr[0] = "alpha";
        f->val[0] = 1.0f / 6.0f;
        f->attr[1] = "beta";
        f->val[1] = 0.5f;
        return 0;
    case ACT_GELU_TANH:
        if (opset < 20)
            break;
        f->op = "Gelu";
        f->approximate = "tanh";
        return 0;
    default:
        for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
            if (table[k].act != act)
                continue;
            if (opset < table[k].min_opset) {
                snprintf(why, n, "%s needs opset %d or later (got %d)", table[k].op,
                         table[k].min_opset, opset);
                return -1;
            }
            f->op = table[k].op;
            if (act == ACT_LEAKY_RELU || act == ACT_ELU) {
                f->attr[0] = "alpha";
                f->val[0] = ap->alpha;
            }
            return 0;
        }
        break;
    }
    snprintf(why, n, "activation %s%s has no ONNX form at opset %d", layer_act_name(act),
             act == ACT_RELU_X ? " with a slope or threshold" : "", opset);
    return -1;
}
