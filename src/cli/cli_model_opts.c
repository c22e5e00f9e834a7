/*
 * cli_model_opts.c - parsing the shared inference options (see cli_model_opts.h).
 */
#include "cli/cli_model_opts.h"

#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
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
    case CLI_OPT_PREPROCESS:
        if (cd_preprocess_parse(arg, &o->popts.preprocess) != 0) {
            cli_usage_error(cmd, "--preprocess wants rescale, caffe, torch or none, not '%s'", arg);
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
    }
    return 0;
}

predictor *cli_model_load(const cli_model_opts *o)
{
    cd_err err;
    cd_err_clear(&err);
    predictor *p = predictor_load_default(o->model_path, &o->popts, NULL, &err);
    if (!p)
        cli_fail("%s", err.msg);
    return p;
}
