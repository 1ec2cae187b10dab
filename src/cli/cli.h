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

/* The database URL: `given` (--db), else $SLUICE_DB, else NULL for the
 * default sqlite:DATA/sluice.db. */
const char *sl_cli_db_url(const char *given);

/* ---- the configuration file of serve and admin (config.c) ---- */

#define SL_CLI_CONF_MAX (64u * 1024)

/* One `key = value` line: `key` is the option's name without "--" (a static
 * string), `value` is owned, `line` counts from 1; `admin` when `sluice
 * admin` takes the key too. */
struct sl_cli_conf_entry {
    const char *key;
    char *value;
    unsigned line;
    bool admin;
};

/* Parses the text of the configuration file `path` (used in messages only):
 * `key = value` lines, `#` comment lines, blank lines. Unknown, duplicate or
 * malformed keys and bad values fail with SL_EUSAGE and a message starting
 * "PATH:LINE:" that names the key (a database URL quoted without its
 * password). `*password` tells whether a value holds a password. The caller
 * frees the entries with sl_cli_conf_entries_free. */
enum sl_err sl_cli_conf_parse(const char *path, const char *text, size_t len,
                              struct sl_cli_conf_entry **out, size_t *n, bool *password,
                              struct sl_error *err);
void sl_cli_conf_entries_free(struct sl_cli_conf_entry *e, size_t n);

/* An argv with the configuration file's options in front. */
struct sl_cli_conf {
    int argc;
    char **argv;
    char **owned; /* the "--key=value" strings made from the file */
    size_t nowned;
};

/* Looks for `--config FILE` (or `--config=FILE`) in argv[1..], before "--".
 * Without it `c->argv` is `argv`. With it, reads and checks FILE and sets
 * `c->argv` to argv[0], the file's options as "--key=value", then the other
 * arguments, so options on the command line win (the last value wins).
 * `serve` false keeps only the keys `sluice admin` takes. Warns on stderr
 * when the file holds a password and group or others may read it. Returns
 * 0, or the exit code after printing the error (2 for a bad file, 3 when it
 * cannot be read). Release with sl_cli_conf_release in either case. */
int sl_cli_conf_expand(struct sl_cli_conf *c, const char *cmd, bool serve, int argc, char **argv);
void sl_cli_conf_release(struct sl_cli_conf *c);

/* ---- shared by the access, eval and governance commands (cmd_access.c) ---- */

/* A table-driven parser for commands with many options. Each option is a
 * flag, takes one value (the last one given wins), or takes a value and may
 * be repeated. Values point into argv. */
enum sl_cli_optkind { SL_OPT_FLAG, SL_OPT_VALUE, SL_OPT_LIST };

struct sl_cli_optdef {
    const char *name; /* "--json"; NULL ends the table */
    enum sl_cli_optkind kind;
};

#define SL_CLI_MAX_POS  8
#define SL_CLI_MAX_OPTS 24
#define SL_CLI_MAX_LIST 64

struct sl_cli_args {
    const struct sl_cli_optdef *defs;
    const char *pos[SL_CLI_MAX_POS];
    size_t npos;
    bool seen[SL_CLI_MAX_OPTS];
    const char *value[SL_CLI_MAX_OPTS];
    const char *list[SL_CLI_MAX_OPTS][SL_CLI_MAX_LIST];
    size_t nlist[SL_CLI_MAX_OPTS];
};

/* Parses argv[1..] (argv[0] is the command or subcommand) against `defs`.
 * Returns 0, or 2 after printing a usage error naming `cmd`. */
int sl_cli_args_parse(struct sl_cli_args *a, const char *cmd, const struct sl_cli_optdef *defs,
                      int argc, char **argv);

/* Whether the option was given; its (last) value or NULL; its values. */
bool sl_cli_has(const struct sl_cli_args *a, const char *name);
const char *sl_cli_val(const struct sl_cli_args *a, const char *name);
const char *const *sl_cli_vals(const struct sl_cli_args *a, const char *name, size_t *n);

struct sl_client_config;
struct sl_client;

/* Loads the client config and opens a client for its server. Returns 0, or
 * the exit code after printing the error (no server configured is exit 2).
 * On success the caller releases `cfg` and frees `*cl`. */
int sl_cli_connect(struct sl_client_config *cfg, struct sl_client **cl);

/* `sluice hosted filter set|show|clear` (cmd_hosted_filter.c), given the
 * arguments `sluice hosted` parsed. Returns the exit code. */
int sl__cmd_hosted_filter(const struct sl_cli_args *a);

/* `sluice hosted retain set|clear|show`, `retained`, and `quota set|show`
 * and `usage` over HTTP (cmd_hosted_remote.c), given the arguments
 * `sluice hosted` parsed. Returns the exit code. */
int sl__cmd_hosted_remote(const struct sl_cli_args *a);

/* Prints a multi-line text from a server or a file: newlines and tabs are
 * kept, other control characters shown as \xNN. */
void sl_cli_put_text(FILE *f, const char *s);

/* Checks a DATE option (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) that must lie
 * in the future. Returns 0 or 2 after a usage error. */
int sl_cli_future_date(const char *cmd, const char *opt, const char *value);

int sl_cmd_serve(int argc, char **argv);
int sl_cmd_admin(int argc, char **argv);
int sl_cmd_inspect(int argc, char **argv);
int sl_cmd_classify(int argc, char **argv);
int sl_cmd_policy(int argc, char **argv);
int sl_cmd_login(int argc, char **argv);
int sl_cmd_push(int argc, char **argv);
int sl_cmd_pull(int argc, char **argv);
int sl_cmd_export(int argc, char **argv);
int sl_cmd_verify_bundle(int argc, char **argv);
int sl_cmd_import(int argc, char **argv);
int sl_cmd_accept(int argc, char **argv);
int sl_cmd_access(int argc, char **argv);
int sl_cmd_license(int argc, char **argv);
int sl_cmd_eval(int argc, char **argv);
int sl_cmd_obligations(int argc, char **argv);
int sl_cmd_tier(int argc, char **argv);
int sl_cmd_org(int argc, char **argv);
int sl_cmd_log(int argc, char **argv);
int sl_cmd_report(int argc, char **argv);
int sl_cmd_draft(int argc, char **argv);
int sl_cmd_trace(int argc, char **argv);
int sl_cmd_models(int argc, char **argv);
int sl_cmd_show(int argc, char **argv);
int sl_cmd_whoami(int argc, char **argv);
int sl_cmd_logout(int argc, char **argv);
int sl_cmd_completion(int argc, char **argv);
int sl_cmd_man(int argc, char **argv);
int sl_cmd_hosted(int argc, char **argv);

#endif
