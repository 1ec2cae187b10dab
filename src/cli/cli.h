/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line front end: a declarative table of commands (main.c) and
 * one handler per command. Handlers return an exit code: 0 done, 1 refused
 * or failed, 2 bad usage or bad input, 3 server unreachable or local I/O
 * failure. They print errors as one line: "sluice: error: MESSAGE".
 */
#ifndef SL_CLI_CLI_H
#define SL_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

struct sl_cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *help; /* full usage text */
};

extern const struct sl_cli_cmd sl_cli_commands[];

/* Writes `s` with control characters shown as \xNN, so text taken from
 * files can never break a line or drive the terminal. */
void sl_cli_put_safe(FILE *f, const char *s);

/* Prints "sluice: error: MSG" (one line) and returns the exit code for `e`. */
int sl_cli_fail(const struct sl_error *e);

/* Prints a usage error and returns 2. */
int sl_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints `v` as JSON (two-space indent, sorted keys) followed by a newline. */
void sl_cli_print_json(json_t *v);

/* Minimal option parser: walks argv[1..]; options may take a value either as
 * the next argument or after '='. Values point into argv. */
struct sl_opt {
    int i;
    int argc;
    char **argv;
    const char *cmd;
    const char *value; /* the value of "--name=value", inside argv */
    bool positional_only;
};

void sl_opt_init(struct sl_opt *o, const char *cmd, int argc, char **argv);

/* Returns the next argument or NULL at the end. `*is_opt` tells whether it
 * starts with "--" ("--" itself ends option parsing). */
const char *sl_opt_next(struct sl_opt *o, bool *is_opt);

/* Takes the value of the option just returned; NULL (after printing a usage
 * error) when missing. */
const char *sl_opt_value(struct sl_opt *o, const char *name);

void sl_opt_release(struct sl_opt *o);

struct sl_packset;

/* Loads the built-in packs plus those in --policy-dir / SLUICE_POLICY_DIR. */
enum sl_err sl_cli_load_packs(const char *dir, struct sl_packset **out, struct sl_error *err);

/* The data folder: --data, else $SLUICE_DATA, else ./sluice-data. */
const char *sl_cli_data_dir(const char *given);

int sl_cmd_serve(int argc, char **argv);
int sl_cmd_admin(int argc, char **argv);
int sl_cmd_inspect(int argc, char **argv);
int sl_cmd_classify(int argc, char **argv);
int sl_cmd_policy(int argc, char **argv);
int sl_cmd_login(int argc, char **argv);
int sl_cmd_push(int argc, char **argv);
int sl_cmd_pull(int argc, char **argv);

#endif
