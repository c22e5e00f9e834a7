/*
 * cmd_split.c - `catdog split`: makes DEST/{train,validation,test}/<class>/ from
 * Kaggle's flat train/ folder or a class-foldered one (library: data/split.h),
 * and prints the counts per part and class.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/split.h"

static void usage(FILE *out)
{
    fputs("Usage: catdog split --source DIR --dest DIR [options]\n"
          "Splits labelled photos into DEST/train, DEST/validation and DEST/test, each with\n"
          "one folder per class, stratified and deterministic for a seed.\n"
          "\n"
          "SOURCE is either Kaggle's flat train/ folder (cat.0.jpg, dog.0.jpg, ...: the class\n"
          "is the name before the first '.', and the folders become cats/ and dogs/), or a\n"
          "folder with one subfolder per class (names kept).\n"
          "\n"
          "Options:\n"
          "  -s, --source DIR   the photos to split (required)\n"
          "  -d, --dest DIR     where to write the split (required; must be empty or new)\n"
          "      --val F        fraction of each class for validation/ (default 0.15)\n"
          "      --test F       fraction of each class for test/ (default 0.15)\n"
          "      --seed N       shuffling seed (default 42); the same seed gives the same split\n"
          "      --link         symbolic links with absolute targets (default; no space used)\n"
          "      --copy         copy the files instead\n"
          "  -f, --force        replace DEST's train/, validation/ and test/ if DEST is not empty\n"
          "  -h, --help         show this help\n",
          out);
}

static int parse_fraction(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int cmd_split(int argc, char **argv)
{
    enum { OPT_VAL = 256, OPT_TEST, OPT_SEED, OPT_LINK, OPT_COPY };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, 's'}, {"dest", required_argument, NULL, 'd'},
        {"val", required_argument, NULL, OPT_VAL}, {"test", required_argument, NULL, OPT_TEST},
        {"seed", required_argument, NULL, OPT_SEED}, {"link", no_argument, NULL, OPT_LINK},
        {"copy", no_argument, NULL, OPT_COPY},     {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *source = NULL, *dest = NULL;
    split_opts o;
    split_opts_default(&o);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:d:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': source = optarg; break;
        case 'd': dest = optarg; break;
        case 'f': o.force = 1; break;
        case OPT_LINK: o.mode = SPLIT_LINK; break;
        case OPT_COPY: o.mode = SPLIT_COPY; break;
        case OPT_VAL:
            if (parse_fraction(optarg, &o.val) < 0)
                return cli_usage_error("split", "--val needs a number, not '%s'", optarg);
            break;
        case OPT_TEST:
            if (parse_fraction(optarg, &o.test) < 0)
                return cli_usage_error("split", "--test needs a number, not '%s'", optarg);
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return cli_usage_error("split", "--seed needs a non-negative integer, not '%s'", optarg);
            o.seed = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case ':':
            return cli_usage_error("split", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("split", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("split", "unexpected argument '%s'", argv[optind]);
    if (!source)
        return cli_usage_error("split", "--source DIR is required");
    if (!dest)
        return cli_usage_error("split", "--dest DIR is required");

    split_report *r = malloc(sizeof *r);
    if (!r)
        return cli_fail("out of memory");
    cd_err err;
    cd_err_clear(&err);
    if (split_run(source, dest, &o, r, &err) < 0) {
        free(r);
        return cli_fail("split: %s", err.msg);
    }
    printf("Split %s (%s layout) into %s (%s, seed %llu)\n", r->source_abs,
           r->layout == SPLIT_LAYOUT_FLAT ? "flat Kaggle" : "class folder", dest,
           o.mode == SPLIT_COPY ? "copies" : "symbolic links", o.seed);
    printf("%-12s", "");
    for (int k = 0; k < r->n_classes; k++)
        printf(" %10s", r->class_names[k]);
    printf(" %10s\n", "total");
    size_t grand = 0;
    for (int p = 0; p < SPLIT_PARTS; p++) {
        size_t total = 0;
        printf("%-12s", split_part_name(p));
        for (int k = 0; k < r->n_classes; k++) {
            printf(" %10zu", r->counts[p][k]);
            total += r->counts[p][k];
        }
        printf(" %10zu\n", total);
        grand += total;
    }
    printf("%zu images placed", grand);
    if (r->ignored)
        printf("; %zu other files ignored", r->ignored);
    printf("\n");
    free(r);
    return 0;
}
