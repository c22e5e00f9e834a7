/*
 * cmd_info.c - `catdog info MODEL`: a Keras-style summary of a model file or a
 * built-in architecture, plus the preprocessing and architecture it records.
 * Library: modelfile/keras.h (files), engine/arch.h (built-ins),
 * engine/model.h (model_summary).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "engine/arch.h"
#include "engine/model.h"
#include "engine/runner.h"
#include "modelfile/keras.h"
#include "onnx/onnx.h"
#include "train/checkpoint.h"
#include "transfer/transfer_model.h"

static void usage(FILE *out)
{
    fputs("Usage: catdog info [options] MODEL\n"
          "Prints a Keras-style summary of MODEL (each layer's name, class, output shape and\n"
          "parameter count, then total, trainable and non-trainable parameters), followed by\n"
          "the input size, the preprocessing the model expects and its architecture.\n"
          "\n"
          "MODEL is a Keras .h5 whole-model file, an ONNX .onnx file, or a built-in architecture:\n"
          "  binary       the seed's CNN (default input 150)\n"
          "  vgg16        Keras VGG16 without top (default input 224)\n"
          "  squeezenet   SqueezeNet 1.1 without top (default input 224)\n"
          "  mobilenetv2  Keras MobileNetV2 (alpha 1.0) without top (default input 224)\n"
          "  resnet50     Keras ResNet50 without top (default input 224)\n"
          "  efficientnetb0  Keras EfficientNetB0 without top (default input 224)\n"
          "\n"
          "Options:\n"
          "  -s, --img-size N   input height and width: for a built-in, or for a file whose\n"
          "                     input size is open (None) or that should run at another size\n"
          "  -w, --weights FILE load a Keras weights file onto the built-in (layers matched\n"
          "                     by name), checking that every weight is there with its shape\n"
          "  -p, --precision P  the precision to report: f32, bf16 or int8 (default: int8 for a\n"
          "                     model made by catdog quantize, else f32); int8 on a model\n"
          "                     without a calibration is an error, as in predict\n"
          "  -h, --help         show this help\n",
          out);
}

/* Anything on disk goes to the loader, folders too: it names what a folder
 * given as a model is (a TensorFlow SavedModel). */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The precision predict/evaluate/serve would run m in, and the calibration. */
static int print_precision(const model *m, runner_precision requested)
{
    runner_precision p = runner_precision_resolve(m, requested);
    if (p == RUNNER_PREC_INT8 && !m->quant.int8)
        return cli_fail("model '%s' has no int8 calibration: make one with `catdog quantize "
                        "--model IN --calibrate DIR --out OUT`",
                        m->name);
    int q = 0, total = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_CONV2D || m->layers[i].kind == LAYER_DENSE) {
            total++;
            q += m->layers[i].q_in_max > 0.0f;
        }
    printf("Precision: %s%s", runner_precision_name(p),
           requested == RUNNER_PREC_AUTO ? " (default)" : " (--precision)");
    if (p == RUNNER_PREC_INT8)
        printf(": %d of %d Conv2D/Dense layers int8, the rest float32", q, total);
    else if (p == RUNNER_PREC_BF16)
        printf(": Conv2D/Dense layers bf16, float32 accumulation and output");
    printf("\n");
    if (m->quant.int8)
        printf("Calibration: %d photos of %s, %s\n", m->quant.photos,
               m->quant.source[0] ? m->quant.source : "(folder not recorded)",
               m->quant.date[0] ? m->quant.date : "(date not recorded)");
    else
        printf("Calibration: none (float model; catdog quantize makes an int8 one)\n");
    return 0;
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"img-size", required_argument, NULL, 's'},
        {"weights", required_argument, NULL, 'w'},
        {"precision", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int img_size = 0;
    const char *weights = NULL;
    runner_precision prec = RUNNER_PREC_AUTO;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:w:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 4096)
                return cli_usage_error("info", "--img-size needs a size from 1 to 4096, not '%s'",
                                       optarg);
            img_size = (int)v;
            break;
        }
        case 'w':
            weights = optarg;
            break;
        case 'p':
            if (runner_precision_parse(optarg, &prec) != 0)
                return cli_usage_error("info", "--precision wants f32, bf16 or int8, not '%s'",
                                       optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return cli_usage_error("info", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("info", "no MODEL given");
    if (optind + 1 < argc)
        return cli_usage_error("info", "one MODEL only (got '%s' too)", argv[optind + 1]);
    const char *name = argv[optind];

    cd_err err;
    cd_err_clear(&err);
    model *m;
    if (is_file(name)) {
        if (weights)
            return cli_usage_error("info", "--weights goes with a built-in architecture, not a file");
        transfer_meta meta;
        int probe = transfer_file_probe(name, &meta, &err);
        if (probe < 0)
            return cli_fail("%s", err.msg);
        /* A shipped transfer file holds only the head: show it composed with its
         * backbone.  An .onnx file is read by transfer_load's ONNX branch. */
        transfer_load_opts lo = {.img_size = img_size};
        m = probe || onnx_is_onnx_file(name) ? transfer_load(name, &lo, &err)
                                             : keras_load_sized(name, img_size, &err);
    } else if (arch_find(name)) {
        m = arch_build(name, img_size ? img_size : arch_find(name)->default_size, &err);
    } else {
        return cli_fail("%s: no such file, and not a built-in architecture (%s)", name,
                        arch_names());
    }
    if (!m)
        return cli_fail("%s", err.msg);
    if (weights && keras_load_weights(m, weights, &err) != 0) {
        model_free(m);
        return cli_fail("%s", err.msg);
    }

    int h, w, ch;
    model_summary(m, stdout);
    model_input_shape(m, &h, &w, &ch);
    printf("Input: %dx%dx%d\n", h, w, ch);
    printf("Preprocessing: %s%s%s%s\n", cd_preprocess_name(m->preprocess),
           m->preprocess_why[0] ? " (" : "", m->preprocess_why, m->preprocess_why[0] ? ")" : "");
    printf("Output: %s%s%s%s\n", cd_output_name(m->output_rule), m->output_why[0] ? " (" : "",
           m->output_why, m->output_why[0] ? ")" : "");
    printf("Architecture: %s\n", m->arch);
    if (m->test_accuracy >= 0)
        printf("Test accuracy: %.4f\n", m->test_accuracy);
    /* A model trained under mpirun records its ranks (catdog_world_size, a
     * root attribute of binary and transfer files alike). */
    int ranks = is_file(name) ? checkpoint_read_world_size(name) : 0;
    if (ranks > 1)
        printf("Trained on: %d MPI ranks (catdog_world_size)\n", ranks);
    int rc = print_precision(m, prec);
    model_free(m);
    return rc;
}
