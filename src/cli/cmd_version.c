/*
 * cmd_version.c - `catdog version`: the program's and its libraries' versions.
 */
#include <stdio.h>
#include <string.h>

#include <dnnl.h>
#include <hdf5.h>
#include <jansson.h>

#include "cli/commands.h"

#define CATDOG_VERSION "0.1.0"

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("Usage: catdog version\nPrints catdog's version and the versions of oneDNN, HDF5 and jansson.");
        return 0;
    }
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    const dnnl_version_t *dv = dnnl_version();
    unsigned maj, min, rel;
    if (H5get_libversion(&maj, &min, &rel) < 0)
        maj = min = rel = 0;
    printf("catdog %s\noneDNN %d.%d.%d\nHDF5 %u.%u.%u\njansson %s\n", CATDOG_VERSION, dv->major,
           dv->minor, dv->patch, maj, min, rel, JANSSON_VERSION);
    return 0;
}
