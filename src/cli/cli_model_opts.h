/*
 * cli_model_opts.h - the options every inference command shares
 * (--model, --threads, --backend, --preprocess, --resize, --tta, --classes, --config) and how they
 * become predictor_opts.  Used by predict and evaluate so both parse alike.
 */
#ifndef CATDOG_CLI_MODEL_OPTS_H
#define CATDOG_CLI_MODEL_OPTS_H

#include <getopt.h>

#include "predict/predictor.h"

/* getopt_long codes for the shared options (outside the char range). */
enum {
    CLI_OPT_MODEL = 1000,
    CLI_OPT_THREADS,
    CLI_OPT_BACKEND,
    CLI_OPT_PREPROCESS,
    CLI_OPT_RESIZE,
    CLI_OPT_TTA,
    CLI_OPT_CLASSES,
    CLI_OPT_CONFIG,
    CLI_OPT_PRECISION,
    CLI_OPT_IMG_SIZE,
};

#define CLI_MODEL_LONG_OPTIONS                                        \
    {"model", required_argument, NULL, CLI_OPT_MODEL},                \
    {"threads", required_argument, NULL, CLI_OPT_THREADS},            \
    {"backend", required_argument, NULL, CLI_OPT_BACKEND},            \
    {"preprocess", required_argument, NULL, CLI_OPT_PREPROCESS},      \
    {"resize", required_argument, NULL, CLI_OPT_RESIZE},              \
    {"tta", no_argument, NULL, CLI_OPT_TTA},                          \
    {"classes", required_argument, NULL, CLI_OPT_CLASSES},            \
    {"config", required_argument, NULL, CLI_OPT_CONFIG},              \
    {"precision", required_argument, NULL, CLI_OPT_PRECISION},        \
    {"img-size", required_argument, NULL, CLI_OPT_IMG_SIZE}

#define CLI_MODEL_HELP                                                                      \
    "  --model FILE         Keras .h5 or ONNX .onnx model (default: models/binary.h5, else built-in)\n" \
    "  --threads N          compute threads (default: all cores)\n"                          \
    "  --backend B          dnnl (default) or ref (plain C reference)\n"                     \
    "  --precision P        f32, bf16 or int8 (int8 needs a model made by catdog quantize;\n" \
    "                       default: int8 for such a model, else f32)\n"                  \
    "  --preprocess P       override the model's preprocessing: rescale, caffe, tf, torch, none\n"\
    "  --resize F           bilinear (default, antialiased) or nearest (Keras load_img)\n"   \
    "  --tta                average with the horizontally flipped photo\n"                \
    "  --classes C          the model's class order: cat,dog (default) or dog,cat\n"        \
    "  --config A           --model is a weights-only file (Keras 3 .weights.h5 or Keras 2\n" \
    "                       save_weights) for architecture A: a Keras JSON config file\n"   \
    "                       (model.to_json(), a .keras config.json) or a built-in: binary,\n" \
    "                       vgg16, squeezenet, mobilenetv2, resnet50, efficientnetb0\n"     \
    "  --img-size N         input size (N x N) for an ONNX model whose height and width are\n" \
    "                       dynamic (exported with dynamic_axes); ignored otherwise\n"

typedef struct cli_model_opts {
    const char *model_path;   /* NULL = default model */
    const char *config_path;  /* --config: model_path holds weights only for this architecture */
    predictor_opts popts;
} cli_model_opts;

/* Handles one shared option; returns 1 if `opt` was one of them (0 if not),
 * or -1 after printing a usage error for a bad value. */
int cli_model_opt(const char *cmd, int opt, const char *arg, cli_model_opts *o);

/* Loads the predictor the options describe; prints the error and returns NULL
 * on failure. */
predictor *cli_model_load(const cli_model_opts *o);

#endif
