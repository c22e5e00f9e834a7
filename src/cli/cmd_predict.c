/*
 * cmd_predict.c - `catdog predict [--model M] [--json] IMAGE...`: a verdict per photo.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_model_opts.h"
#include "cli/commands.h"
#include "cli/json_out.h"
#include "core/fileio.h"

static const char usage[] =
    "Usage: catdog predict [options] IMAGE...\n"
    "Tells for each photo (JPEG, PNG or WebP) whether it shows a cat or a dog.\n"
    "Prints the verdict, the probability of dog and the milliseconds taken.\n\n"
    "Options:\n" CLI_MODEL_HELP
    "  --json               one JSON object a line: file, label, p_dog,\n"
    "                       confidence (of the label), ...\n"
    "  -h, --help           this help\n\n"
    "Exit status: 0 when every photo was classified, 1 when some could not be read.\n";

int cmd_predict(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_MODEL_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    int json = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_model_opt("predict", opt, optarg, &mo);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (opt) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("predict", "unknown option");
        }
    }
    if (optind >= argc)
        return cli_usage_error("predict", "no image given");

    predictor *p = cli_model_load(&mo);
    if (!p)
        return 1;
    cd_err err;
    cd_err_clear(&err);
    predictor_session *s = predictor_session_new(p, 1, &err);
    if (!s) {
        predictor_free(p);
        return cli_fail("%s", err.msg);
    }
    int failures = 0;
    for (int i = optind; i < argc; i++) {
        prediction pr;
        cd_err_clear(&err);
        size_t len = 0;
        unsigned char *bytes = cd_read_file(argv[i], 0, &len, &err);
        if (!bytes || predictor_classify(s, bytes, len, &pr, &err) != 0) {
            failures++;
            if (json)
                json_out_error_line(stdout, argv[i], &err);
            fprintf(stderr, "catdog: %s: %s\n", argv[i], err.msg);
            free(bytes);
            continue;
        }
        free(bytes);
        const char *label = predictor_label_name(pr.label);
        if (json)
            json_out_prediction_line(stdout, argv[i], &pr, predictor_model(p));
        else
            printf("%s: %s (p_dog=%.4f, %.1f ms)\n", argv[i], label, pr.p_dog, pr.elapsed_ms);
        fflush(stdout);
    }
    predictor_session_free(s);
    predictor_free(p);
    return failures ? 1 : 0;
}
