/*
 * json_out.h - the JSON lines the command line prints (jansson).
 */
#ifndef CATDOG_CLI_JSON_OUT_H
#define CATDOG_CLI_JSON_OUT_H

#include <stdio.h>

#include "core/error.h"
#include "engine/model.h"
#include "predict/predictor.h"

/* {"file":..,"label":"dog","p_dog":0.97,"confidence":0.97,"probabilities":{"cat":..,"dog":..},
 *  "width":..,"height":..,"format":"jpeg","model":"binary","elapsed_ms":..} + newline */
void json_out_prediction_line(FILE *out, const char *file, const prediction *p, const model *m);

/* {"file":..,"error":{"code":..,"message":..}} + newline */
void json_out_error_line(FILE *out, const char *file, const cd_err *err);

#endif
