/*
 * output.c - output rules (see output.h).
 */
#include "core/output.h"

#include <math.h>

const char *cd_output_name(cd_output o)
{
    switch (o) {
    case CD_OUT_PROB: return "probability";
    case CD_OUT_LOGITS: return "logits";
    case CD_OUT_HINGE: return "hinge";
    }
    return "probability";
}

static double sign_p(double score)
{
    return score > 0 ? 1.0 : score < 0 ? 0.0 : 0.5;
}

double cd_output_p1(cd_output o, const float *row, int n)
{
    switch (o) {
    case CD_OUT_PROB:
        return n == 1 ? row[0] : row[1];
    case CD_OUT_LOGITS:
        /* Both forms stay finite for any logit: exp of a non-positive number. */
        if (n == 1)
            return row[0] >= 0 ? 1.0 / (1.0 + exp(-(double)row[0]))
                               : exp((double)row[0]) / (1.0 + exp((double)row[0]));
        return 1.0 / (1.0 + exp((double)row[0] - (double)row[1]));
    case CD_OUT_HINGE:
        return n == 1 ? sign_p(row[0]) : sign_p((double)row[1] - (double)row[0]);
    }
    return row[n == 1 ? 0 : 1];
}
