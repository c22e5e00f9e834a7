/*
 * cmd_quantize.c - `catdog quantize`: calibrates a model for int8 inference on
 * photos of a folder and writes it as a Keras .h5 file that carries the
 * calibration (the float weights stay; see modelfile/keras_quant.c).
 *
 * Library: predict/quantize.h, transfer/transfer_model.h, modelfile/keras.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "modelfile/keras.h"
#include "predict/quantize.h"
#include "transfer/transfer_model.h"

static void usage(FILE *out)
{
    fputs("Usage: catdog quantize --model IN --calibrate DIR --out OUT.h5 [options]\n"
          "\n"
          "Post-training int8 quantization: runs the float model over photos of DIR (and of\n"
          "its subfolders one level down), records the range of every Conv2D and Dense\n"
          "layer's input, and writes OUT: the same model with that calibration.  Weights\n"
          "are quantized per output channel (symmetric) when OUT is loaded.  predict,\n"
          "evaluate and serve run OUT in int8 unless --precision says otherwise; Keras\n"
          "reads OUT as the float model.  A shipped transfer file gives a transfer file:\n"
          "its tail and head, no backbone weights, with the whole model's calibration\n"
          "(catdog export makes a self-contained one).\n"
          "\n"
          "Options:\n"
          "  -m, --model FILE      the float model (.h5, .keras, .onnx, shipped transfer file)\n"
          "  -c, --calibrate DIR   photos to calibrate on (e.g. a training folder)\n"
          "  -o, --out FILE        the .h5 file to write (replaced if present)\n"
          "  -n, --photos N        photos to use, evenly spaced over the sorted file list\n"
          "                        (default 300)\n"
          "      --float LAYERS    comma-separated Conv2D/Dense layers to keep float32\n"
          "  -w, --weights FILE    the backbone weights of a shipped transfer model\n"
          "      --threads N       compute threads (default: all cores)\n"
          "  -h, --help            show this help\n",
          out);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_quantize(int argc, char **argv)
{
    enum { O_FLOAT = 1000, O_THREADS };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},   {"calibrate", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},     {"photos", required_argument, NULL, 'n'},
        {"weights", required_argument, NULL, 'w'}, {"float", required_argument, NULL, O_FLOAT},
        {"threads", required_argument, NULL, O_THREADS},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *out_path = NULL;
    quantize_opts qo = {0};
    transfer_load_opts lo = {0};
    predictor_opts po = {0};
    po.precision = RUNNER_PREC_F32;
    po.keep_activations = 1; /* calibration reads every Conv/Dense input */
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:c:o:n:w:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'c': qo.calib_dir = optarg; break;
        case 'o': out_path = optarg; break;
        case 'w': lo.weights_path = optarg; break;
        case O_FLOAT: qo.float_layers = optarg; break;
        case 'n':
        case O_THREADS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > (c == 'n' ? 1000000 : 1024))
                return cli_usage_error("quantize", "%s wants a positive number, not '%s'",
                                       c == 'n' ? "--photos" : "--threads", optarg);
            if (c == 'n')
                qo.photos = (int)v;
            else
                po.threads = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case ':': return cli_usage_error("quantize", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("quantize", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("quantize", "unexpected argument '%s'", argv[optind]);
    if (!model_path || !out_path || !qo.calib_dir)
        return cli_usage_error("quantize", "--model, --calibrate and --out are required");
    if (!ends_with(out_path, ".h5"))
        return cli_usage_error("quantize", "--out must end in .h5 (the calibration is an HDF5 "
                                           "attribute), not '%s'", out_path);
    if (strcmp(model_path, out_path) == 0)
        return cli_usage_error("quantize", "--out must differ from --model");
    cd_err err;
    cd_err_clear(&err);
    /* A shipped transfer file stays one (the backbone is found at load time,
     * its weights never copied into OUT). */
    transfer_meta meta;
    int is_transfer = transfer_file_probe(model_path, &meta, &err);
    if (is_transfer < 0)
        return cli_fail("%s", err.msg);
    predictor *p = predictor_adopt(transfer_load(model_path, &lo, &err), &po, model_path, &err);
    if (!p)
        return cli_fail("%s", err.msg);
    quantize_report rep;
    int rc = quantize_calibrate(p, &qo, &rep, &err);
    if (rc == 0)
        rc = is_transfer ? transfer_save(predictor_model(p), &meta, out_path, &err)
                         : keras_save(predictor_model(p), out_path, &err);
    predictor_free(p);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("wrote %s: int8 calibration on %d photos of %s (%d unreadable skipped); %d layers "
           "int8, %d float32\n",
           out_path, rep.photos, qo.calib_dir, rep.skipped, rep.int8_layers, rep.float_layers);
    return 0;
}
