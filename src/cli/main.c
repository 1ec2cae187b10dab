/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice: entry point. Looks the subcommand up in the declarative command
 * table (cmd_table.c) and runs it. Only main() may exit.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/banned.h"

#define SLUICE_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice COMMAND [ARGS]\n\n"
               "sluice is a registry for AI model weights that releases each model in the tier\n"
               "its policy allows. Commands available in this build:\n\n");
    for (const struct sl_cli_cmd *c = sl_cli_commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\n`sluice COMMAND --help` explains a command. Exit codes: 0 done, 1 refused or "
               "failed,\n2 bad usage or bad input, 3 server unreachable or local I/O failure.\n");
}

int main(int argc, char **argv)
{
    const char *name;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2) {
            for (const struct sl_cli_cmd *c = sl_cli_commands; c->name; c++) {
                if (strcmp(c->name, argv[2]) == 0) {
                    fputs(c->help, stdout);
                    return 0;
                }
            }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    for (const struct sl_cli_cmd *c = sl_cli_commands; c->name; c++) {
        if (strcmp(c->name, name) != 0)
            continue;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0)
                break;
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                fputs(c->help, stdout);
                return 0;
            }
        }
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "sluice: unknown command \"%s\" (see `sluice --help`)\n", name);
    return 2;
}
