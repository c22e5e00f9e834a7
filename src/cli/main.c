/*
 * main.c - `catdog <command> [options]`: finds the command and runs it.
 * Everything else is in the library; this file only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static void print_help(FILE *out)
{
    fputs("Usage: catdog <command> [options]\n"
          "Tells whether a photo shows a cat or a dog; trains, imports and exports\n"
          "Keras .h5 models; serves a web page and an HTTP API.\n\nCommands:\n", out);
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %-16s %s\n", c->name, c->summary);
    fputs("\nRun 'catdog <command> --help' for a command's options.\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        argv[1] = "version";
    for (const cli_command *c = cli_commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "catdog: unknown command '%s'\nTry 'catdog --help'.\n", argv[1]);
    return 2;
}
