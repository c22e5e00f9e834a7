/*
 * ref_act.c - reference activations (forward in place, backward from the
 * output or the input) and dropout helpers.
 *
 * Keras 2.2.4's activations are differentiated from their output y, so the
 * runner keeps nothing more for them: relu' = [y > 0], sigmoid' = y (1 - y),
 * tanh' = 1 - y^2, relu6' = [0 < y < 6], softmax: dz = y * (dy - sum(dy * y))
 * per row.  Every later one (swish, gelu, elu, ...) is differentiated from its
 * input x, which the runner keeps for them (layer_act_needs_input): several are
 * not invertible from y, and one rule for all of them is simpler to trust.
 * Each formula follows Keras' own definition literally (e.g. hard_sigmoid is
 * 0.2 x + 0.5 clipped in Keras 2, relu6(x + 3) / 6 in Keras 3), so float
 * results match Keras', not only the mathematics.
 */
#include "engine/ref_ops.h"

#include <math.h>

#define SELU_ALPHA 1.6732632423543772f
#define SELU_SCALE 1.0507009873554805f
#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

static float sigmoidf(float z)
{
    /* Stable for large |z|: never exponentiates a positive number. */
    if (z >= 0.0f)
        return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Keras' ReLU(negative_slope, max_value, threshold), in Keras' order of steps. */
static float relu_x(float x, const layer_act_params *p)
{
    float a;
    if (p->threshold != 0.0f)
        a = x > p->threshold ? x : 0.0f;
    else
        a = x > 0.0f ? x : 0.0f;
    if (p->max_value >= 0.0f)
        a = clampf(a, 0.0f, p->max_value);
    if (p->alpha != 0.0f) {
        float neg = p->threshold - x;
        a -= p->alpha * (neg > 0.0f ? neg : 0.0f);
    }
    return a;
}

static float relu_x_grad(float x, const layer_act_params *p)
{
    int pass = p->threshold != 0.0f ? x > p->threshold : x > 0.0f;
    if (p->max_value >= 0.0f)
        pass = pass && x > 0.0f && x < p->max_value;
    return (pass ? 1.0f : 0.0f) + (x < p->threshold ? p->alpha : 0.0f);
}

/* f(x) of the element-wise activations that come after Keras 2.2.4's. */
static float act_value(layer_act act, const layer_act_params *p, float x)
{
    switch (act) {
    case ACT_LINEAR: case ACT_SOFTMAX: case ACT_COUNT:
        return x;
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_SIGMOID: return sigmoidf(x);
    case ACT_TANH: return tanhf(x);
    case ACT_RELU6: return clampf(x, 0.0f, 6.0f);
    case ACT_LEAKY_RELU: return x > 0.0f ? x : p->alpha * x;
    case ACT_ELU: return x > 0.0f ? x : p->alpha * expm1f(x);
    case ACT_SELU: return SELU_SCALE * (x > 0.0f ? x : SELU_ALPHA * expm1f(x));
    case ACT_SOFTPLUS: /* log(1 + e^x) without overflow */
        return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
    case ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case ACT_HARD_SIGMOID: return clampf(x * 0.2f + 0.5f, 0.0f, 1.0f);
    case ACT_HARD_SIGMOID6: return clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case ACT_SWISH: return x * sigmoidf(x);
    case ACT_HARD_SWISH: return x * (clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f);
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
    case ACT_EXPONENTIAL: return expf(x);
    case ACT_RELU_X: return relu_x(x, p);
    }
    return x;
}

/* f'(x) of the activations differentiated from their input. */
static float act_grad(layer_act act, const layer_act_params *p, float x)
{
    switch (act) {
    case ACT_LINEAR: case ACT_SOFTMAX: case ACT_COUNT:
        return 1.0f;
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case ACT_SIGMOID: {
        float s = sigmoidf(x);
        return s * (1.0f - s);
    }
    case ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case ACT_RELU6: return x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
    case ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : p->alpha;
    case ACT_ELU: return x > 0.0f ? 1.0f : p->alpha * expf(x);
    case ACT_SELU: return SELU_SCALE * (x > 0.0f ? 1.0f : SELU_ALPHA * expf(x));
    case ACT_SOFTPLUS: return sigmoidf(x);
    case ACT_SOFTSIGN: {
        float d = 1.0f + fabsf(x);
        return 1.0f / (d * d);
    }
    case ACT_HARD_SIGMOID: return x > -2.5f && x < 2.5f ? 0.2f : 0.0f;
    case ACT_HARD_SIGMOID6: return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
    case ACT_SWISH: {
        float s = sigmoidf(x);
        return s + x * s * (1.0f - s);
    }
    case ACT_HARD_SWISH:
        return x <= -3.0f ? 0.0f : (x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f);
    case ACT_GELU:
        return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
               x * expf(-0.5f * x * x) * 0.39894228040143268f;
    case ACT_GELU_TANH: {
        float t = tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
        return 0.5f * (1.0f + t) +
               0.5f * x * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
    }
    case ACT_EXPONENTIAL: return expf(x);
    case ACT_RELU_X: return relu_x_grad(x, p);
    }
    return 1.0f;
}

void ref_act_forward(layer_act act, const layer_act_params *ap, size_t rows, int c, float *y)
{
    size_t size = rows * (size_t)c;
    layer_act_params def = layer_act_defaults(act);
    const layer_act_params *p = ap ? ap : &def;
    switch (act) {
    case ACT_LINEAR:
        return;
    case ACT_RELU:
        for (size_t i = 0; i < size; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        return;
    case ACT_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            float *yr = y + r * (size_t)c;
            float mx = yr[0], sum = 0.0f;
            for (int j = 1; j < c; j++)
                mx = yr[j] > mx ? yr[j] : mx;
            for (int j = 0; j < c; j++) {
                yr[j] = expf(yr[j] - mx);
                sum += yr[j];
            }
            for (int j = 0; j < c; j++)
                yr[j] /= sum;
        }
        return;
    default:
        /* element-wise; the switch inside is on a loop-invariant value */
        for (size_t i = 0; i < size; i++)
            y[i] = act_value(act, p, y[i]);
        return;
    }
}

void ref_act_backward(layer_act act, const layer_act_params *ap, size_t rows, int c,
                      const float *x, const float *y, const float *dy, float *dz)
{
    size_t size = rows * (size_t)c;
    layer_act_params def = layer_act_defaults(act);
    const layer_act_params *p = ap ? ap : &def;
    if (layer_act_needs_input(act)) {
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i] * act_grad(act, p, x[i]);
        return;
    }
    switch (act) {
    case ACT_RELU:
        for (size_t i = 0; i < size; i++)
            dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        return;
    case ACT_SIGMOID:
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
    case ACT_TANH:
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
    case ACT_RELU6:
        for (size_t i = 0; i < size; i++)
            dz[i] = y[i] > 0.0f && y[i] < 6.0f ? dy[i] : 0.0f;
        return;
    case ACT_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            const float *yr = y + r * (size_t)c, *dyr = dy + r * (size_t)c;
            float *dzr = dz + r * (size_t)c;
            float dot = 0.0f;
            for (int j = 0; j < c; j++)
                dot += dyr[j] * yr[j];
            for (int j = 0; j < c; j++)
                dzr[j] = yr[j] * (dyr[j] - dot);
        }
        return;
    default: /* ACT_LINEAR */
        for (size_t i = 0; i < size; i++)
            dz[i] = dy[i];
        return;
    }
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void ref_dropout_mask(size_t size, float rate, uint64_t *state, float *mask)
{
    const float keep = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < size; i++) {
        float u = (float)(splitmix64(state) >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
        mask[i] = u < rate ? 0.0f : keep;
    }
}

void ref_mul(size_t size, const float *x, const float *m, float *y)
{
    for (size_t i = 0; i < size; i++)
        y[i] = x[i] * m[i];
}

void ref_mul_acc(size_t size, const float *dy, const float *m, float *dx)
{
    for (size_t i = 0; i < size; i++)
        dx[i] += dy[i] * m[i];
}

void ref_acc(size_t size, const float *dy, float *dx)
{
    for (size_t i = 0; i < size; i++)
        dx[i] += dy[i];
}
