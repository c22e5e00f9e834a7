/*
 * cli_model_opts.c - parsing the shared inference options (see cli_model_opts.h).
 */
#include "cli/cli_model_opts.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/fileio.h"
#include "engine/arch.h"
#include "modelfile/keras.h"
#include "predict/embedded.h"

int cli_model_opt(const char *cmd, int opt, const char *arg, cli_model_opts *o)
{
    switch (opt) {
    case CLI_OPT_MODEL:
        o->model_path = arg;
        return 1;
    case CLI_OPT_THREADS: {
        char *end;
        long n = strtol(arg, &end, 10);
        if (*end || n < 1 || n > 1024) {
            cli_usage_error(cmd, "--threads wants a number from 1 to 1024, not '%s'", arg);
            return -1;
        }
        o->popts.threads = (int)n;
        return 1;
    }
    case CLI_OPT_BACKEND:
        if (strcmp(arg, "dnnl") == 0 || strcmp(arg, "onednn") == 0)
            o->popts.backend = RUNNER_DNNL;
        else if (strcmp(arg, "ref") == 0)
            o->popts.backend = RUNNER_REF;
        else {
            cli_usage_error(cmd, "--backend wants dnnl or ref, not '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_PRECISION:
        if (runner_precision_parse(arg, &o->popts.precision) != 0) {
            cli_usage_error(cmd, "--precision wants f32, bf16 or int8, not '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_PREPROCESS:
        if (cd_preprocess_parse(arg, &o->popts.preprocess) != 0) {
            cli_usage_error(cmd, "--preprocess wants rescale, caffe, tf, torch or none, not '%s'", arg);
            return -1;
        }
        o->popts.override_preprocess = 1;
        return 1;
    case CLI_OPT_RESIZE:
        if (strcmp(arg, "bilinear") == 0)
            o->popts.filter = IMAGE_FILTER_BILINEAR;
        else if (strcmp(arg, "nearest") == 0)
            o->popts.filter = IMAGE_FILTER_NEAREST;
        else {
            cli_usage_error(cmd, "--resize wants bilinear or nearest, not '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_TTA:
        o->popts.tta_flip = 1;
        return 1;
    case CLI_OPT_IMG_SIZE: {
        char *end;
        long n = strtol(arg, &end, 10);
        if (end == arg || *end || n < 8 || n > 4096) {
            cli_usage_error(cmd, "--img-size wants a number from 8 to 4096, not '%s'", arg);
            return -1;
        }
        o->popts.img_size = (int)n;
        return 1;
    }
    case CLI_OPT_CONFIG:
        o->config_path = arg;
        return 1;
    case CLI_OPT_CLASSES:
        if (strcmp(arg, "cat,dog") == 0 || strcmp(arg, "dog,cat") == 0) {
            o->popts.classes_swapped = arg[0] == 'd';
            return 1;
        }
        cli_usage_error(cmd, "--classes wants cat,dog or dog,cat (the model's class 0 first), not '%s'",
                        arg);
        return -1;
    }
    return 0;
}

/* The architecture --config names (a Keras JSON file or a built-in) with the
 * weights-only file --model onto it. */
static model *load_config_weights(const cli_model_opts *o, cd_err *err)
{
    model *m;
    char *json = NULL;
    struct stat st;
    if (stat(o->config_path, &st) == 0) {
        size_t len;
        json = (char *)cd_read_file(o->config_path, (size_t)64 << 20, &len, err);
        if (!json)
            return NULL;
        m = keras_from_json(json, o->config_path, err);
    } else if (arch_find(o->config_path)) {
        m = arch_build(o->config_path, arch_find(o->config_path)->default_size, err);
    } else {
        cd_err_set(err, CD_ERR_NOTFOUND,
                   "--config %s: no such file, and not a built-in architecture (%s)",
                   o->config_path, arch_names());
        return NULL;
    }
    if (m && keras_load_weights_json(m, json, o->model_path, err) != 0) {
        model_free(m);
        m = NULL;
    }
    free(json);
    return m;
}

predictor *cli_model_load(const cli_model_opts *o)
{
    cd_err err;
    cd_err_clear(&err);
    if (o->config_path) {
        if (!o->model_path) {
            cli_fail("--config %s needs --model WEIGHTS (the weights-only file to load onto it)",
                     o->config_path);
            return NULL;
        }
        predictor *p = predictor_adopt(load_config_weights(o, &err), &o->popts, o->model_path, &err);
        if (!p)
            cli_fail("%s", err.msg);
        return p;
    }
    predictor *p = predictor_load_default(o->model_path, &o->popts, NULL, &err);
    if (!p)
        cli_fail("%s", err.msg);
    return p;
}
