/*
 * json_out.c - JSON lines for predict (see json_out.h).
 */
#include "cli/json_out.h"

#include <jansson.h>

static void emit(FILE *out, json_t *obj)
{
    if (!obj)
        return; /* jansson could not allocate: nothing sensible to print */
    json_dumpf(obj, out, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', out);
    json_decref(obj);
}

void json_out_prediction_line(FILE *out, const char *file, const prediction *p, const model *m)
{
    /* The names mean what they mean in the API and the history (docs/API.md):
     * p_dog = P(dog), confidence = the probability of the label. */
    double p_dog = (double)p->p_dog;
    emit(out, json_pack("{s:s, s:s, s:f, s:f, s:{s:f, s:f}, s:i, s:i, s:s, s:s, s:f}", "file", file,
                        "label", predictor_label_name(p->label), "p_dog", p_dog, "confidence",
                        p->label ? p_dog : 1.0 - p_dog, "probabilities", "cat", 1.0 - (double)p->p_dog, "dog", (double)p->p_dog,
                        "width", p->width, "height", p->height, "format",
                        image_format_name(p->format), "model", m->arch, "elapsed_ms",
                        p->elapsed_ms));
}

void json_out_error_line(FILE *out, const char *file, const cd_err *err)
{
    emit(out, json_pack("{s:s, s:{s:s, s:s}}", "file", file, "error", "code",
                        cd_code_name(err->code), "message", err->msg));
}
