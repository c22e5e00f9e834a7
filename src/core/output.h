/*
 * output.h - how a model's output row becomes P(dog).
 *
 * A Keras file's last layer does not always output a probability: owners
 * train with a linear last layer and `from_logits=True`, or with a hinge loss
 * whose score only means something by its sign.  The rule travels with the
 * model (set by the model-file reader from the last activation and the
 * training/compile config) and the predictor applies it, so a raw logit is
 * never reported as a probability.
 *   CD_OUT_PROB    sigmoid / softmax output, used as is
 *   CD_OUT_LOGITS  linear output: sigmoid (1 unit) or softmax (2 units) of it
 *   CD_OUT_HINGE   linear hinge score: positive = class 1 (1 unit), or the
 *                  larger of 2 scores; P is 1 or 0 (0.5 on a tie)
 */
#ifndef CATDOG_CORE_OUTPUT_H
#define CATDOG_CORE_OUTPUT_H

typedef enum cd_output {
    CD_OUT_PROB = 0,
    CD_OUT_LOGITS,
    CD_OUT_HINGE
} cd_output;

/* "probability", "logits", "hinge". */
const char *cd_output_name(cd_output o);

/* P(class 1) from one output row of n (1 or 2) values under rule o. */
double cd_output_p1(cd_output o, const float *row, int n);

#endif
