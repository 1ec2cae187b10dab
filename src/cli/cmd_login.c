/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice login URL [--token T]`: checks that URL answers as a sluice
 * server and records the server and its token in the client config file
 * (mode 0600), where push and pull find them. Without --token the token
 * comes from standard input (a no-echo prompt at a terminal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

/* Reads the token from the first line of stdin (`--token -`, or no
 * --token), so it stays out of the shell history and the process list. At
 * a terminal it prompts on stderr and turns echo off while the token is
 * typed. */
static char *token_from_stdin(const char *url)
{
    char line[1024];
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *got;
    size_t n;

    if (tty) {
        fprintf(stderr, "Token for %s: ", url);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    got = fgets(line, sizeof(line), stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got)
        return NULL;
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    got = sl_xstrdup(line);
    sl_wipe(line, sizeof(line));
    return got;
}

int sl_cmd_login(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *url_arg = NULL, *token_arg = NULL;
    char *url = NULL, *token = NULL, *path = NULL;
    struct sl_client *cl = NULL;
    struct sl_error err;
    bool is_opt;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, "login", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (url_arg) {
                code = sl_cli_usage("login", "one server URL, please");
                goto out;
            }
            url_arg = a;
        } else if (strcmp(a, "--token") == 0) {
            if (!(token_arg = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else {
            code = sl_cli_usage("login", "unknown option %s", a);
            goto out;
        }
    }
    if (!url_arg) {
        code = sl_cli_usage("login", "usage: sluice login URL [--token TOKEN]");
        goto out;
    }
    url = sl_client_url_normalize(url_arg, &err);
    if (!url) {
        code = sl_cli_fail(&err);
        goto out;
    }
    token =
        !token_arg || strcmp(token_arg, "-") == 0 ? token_from_stdin(url) : sl_xstrdup(token_arg);
    if (!token) {
        code = sl_cli_usage("login", "no token: give --token TOKEN or type it (standard input "
                                     "ended before a line came)");
        goto out;
    }
    if (!sl_client_token_ok(token)) {
        code = sl_cli_usage("login", "the token is empty or holds spaces or control characters");
        goto out;
    }
    if (sl_client_new(url, token, &cl, &err) || sl_client_health(cl, &err) ||
        sl_client_config_save(url, token, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    path = sl_client_config_path();
    printf("Logged in to %s; the token is saved in %s (readable only by you).\n", url,
           path ? path : "the config file");
out:
    sl_client_free(cl);
    if (token) {
        sl_wipe(token, strlen(token));
        free(token);
    }
    free(url);
    free(path);
    sl_opt_release(&o);
    return code;
}
