/*
 * commands.h - the `catdog <command>` table.  Each command lives in its own
 * cli/cmd_<name>.c, parses its options with getopt_long, calls the library,
 * and returns the process exit status (0 ok, 1 failure, 2 usage error).
 * Only this folder prints to the user and decides exit codes.
 */
#ifndef CATDOG_CLI_COMMANDS_H
#define CATDOG_CLI_COMMANDS_H

typedef struct cli_command {
    const char *name;
    const char *summary;               /* one line for `catdog --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* The table, terminated by a {NULL} entry (commands.c). */
extern const cli_command cli_commands[];

/* Prints "catdog: <msg>" on stderr (one line) and returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "catdog <cmd>: <msg>\nTry 'catdog <cmd> --help'." and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
