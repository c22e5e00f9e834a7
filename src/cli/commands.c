/*
 * commands.c - the command table and the shared error printers (see commands.h).
 */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>

/* One line per command; each is defined in cli/cmd_<name>.c. */
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_export_feedback(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

const cli_command cli_commands[] = {
    {"evaluate", "accuracy, AUC, log loss and speed over a folder of labelled photos", cmd_evaluate},
    {"predict", "tell whether photos show a cat or a dog", cmd_predict},
    {"version", "print the version and the libraries in use", cmd_version},
    {"split", "split labelled photos into train/validation/test folders", cmd_split},
    {"info", "summarise a model file or built-in architecture", cmd_info},
    {"export", "write a model (a transfer model with its backbone) as one Keras .h5 file", cmd_export},
    {"quantize", "calibrate a model for int8 inference on photos of a folder", cmd_quantize},
    {"train", "train a network on a split dataset, keep the best model", cmd_train},
    {"serve", "serve the upload page, the JSON API and the history over HTTP", cmd_serve},
    {"export-feedback", "copy photos corrected on the history page into cats/ and dogs/", cmd_export_feedback},
    {NULL, NULL, NULL},
};

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("catdog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "catdog %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'catdog %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}
