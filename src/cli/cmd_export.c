/*
 * cmd_export.c - `catdog export --model M --out FILE`: writes one
 * self-contained file: a Keras 3 .keras archive, a whole-model Keras .h5 or an
 * ONNX graph (.onnx), by the extension of FILE.  A shipped transfer model
 * (head only, backbone named by file and SHA-256) is composed with its
 * backbone weights first, so FILE loads anywhere without them.
 * Library: transfer/transfer_model.h, modelfile/keras.h, onnx/onnx.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/commands.h"
#include "modelfile/keras.h"
#include "onnx/onnx.h"
#include "transfer/transfer_model.h"

/* 1 when path ends in ext (any case). */
static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), k = strlen(ext);
    return n > k && strcasecmp(path + n - k, ext) == 0;
}

static void usage(FILE *out)
{
    fputs("Usage: catdog export --model FILE --out FILE [--weights FILE] [--opset N] [--img-size N]\n"
          "Writes MODEL as one self-contained file; the extension of --out decides the format:\n"
          "  .keras  Keras 3 archive (config.json, metadata.json, model.weights.h5)\n"
          "  .h5     Keras whole-model HDF5 file (Keras 2 layout, readable by Keras and h5py)\n"
          "  .onnx   ONNX graph: input [N, 3, H, W] float32 already preprocessed (the mode is in\n"
          "          metadata_props catdog_preprocess), dynamic batch, output [N, 1] = P(dog)\n"
          "A transfer model from `catdog train --arch transfer`\n"
          "keeps only its head and names its backbone; export composes it with the\n"
          "backbone's pretrained weights (found as --weights, $CATDOG_WEIGHTS_DIR,\n"
          "~/.keras/models/, ./weights/, ../shared/weights/; checked by SHA-256) so the\n"
          "exported file needs nothing else.  Other models are rewritten as they are.\n"
          "\n"
          "Options:\n"
          "  -m, --model FILE     the model to export (required)\n"
          "  -o, --out FILE       the file to write (required; replaced if present)\n"
          "  -w, --weights FILE   the backbone weights file, instead of searching for it\n"
          "      --opset N        ONNX opset, 11 to 20 (default 13)\n"
          "      --img-size N     input size for an ONNX model whose height and width are dynamic\n"
          "  -h, --help           show this help\n",
          out);
}

int cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},
        {"weights", required_argument, NULL, 'w'},
        {"opset", required_argument, NULL, 'O'},
        {"img-size", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *out_path = NULL;
    transfer_load_opts lo = {0};
    onnx_save_opts so = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:w:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'w': lo.weights_path = optarg; break;
        case 'O': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < ONNX_OPSET_MIN || v > ONNX_OPSET_MAX)
                return cli_usage_error("export", "--opset wants %d to %d, not '%s'", ONNX_OPSET_MIN,
                                       ONNX_OPSET_MAX, optarg);
            so.opset = (int)v;
            break;
        }
        case 'S': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 8 || v > 4096)
                return cli_usage_error("export", "--img-size wants 8 to 4096, not '%s'", optarg);
            lo.img_size = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case ':': return cli_usage_error("export", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("export", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (!model_path || !out_path)
        return cli_usage_error("export", "--model and --out are required");
    if (strcmp(model_path, out_path) == 0)
        return cli_usage_error("export", "--out must differ from --model");
    /* The extension decides the format; never silently HDF5 under another name. */
    char out_ext = has_ext(out_path, ".keras") ? 'k' : has_ext(out_path, ".h5") ? 'h' : has_ext(out_path, ".onnx") ? 'o' : 0;
    if (!out_ext)
        return cli_usage_error("export", "--out must end in .keras (Keras 3 archive), .h5 (Keras HDF5) or .onnx "
                                         "(ONNX), not '%s'",
                               out_path);
    if (so.opset && out_ext != 'o')
        return cli_usage_error("export", "--opset goes with an .onnx output");
    cd_err err;
    cd_err_clear(&err);
    model *m = transfer_load(model_path, &lo, &err);
    if (!m)
        return cli_fail("%s", err.msg);
    int rc = out_ext == 'k'   ? keras_save_keras(m, out_path, &err)
             : out_ext == 'o' ? onnx_save(m, out_path, &so, &err)
                              : keras_save(m, out_path, &err);
    size_t total, trainable, frozen;
    model_param_counts(m, &total, &trainable, &frozen);
    model_free(m);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("wrote %s (%zu parameters: %zu trainable, %zu non-trainable)\n", out_path, total,
           trainable, frozen);
    return 0;
}
