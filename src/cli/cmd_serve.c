/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice serve [--data DIR] [--listen HOST:PORT] [--origin NAME]
 * [--policy-dir DIR] [--threads N] [--drain SECONDS] [--store URL]`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "http/http.h"
#include "policy/policy.h"
#include "registry/registry.h"
#include "common/banned.h"

const char *sl_cli_data_dir(const char *given)
{
    const char *env = getenv("SLUICE_DATA");

    if (given)
        return given;
    return env && env[0] ? env : "./sluice-data";
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max)
        return false;
    *out = v;
    return true;
}

int sl_cmd_serve(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *data = NULL, *listen = "127.0.0.1:8080", *origin = NULL, *policy_dir = NULL;
    const char *store = NULL;
    bool is_opt;
    struct sl_server_opts so;
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    struct sl_packset *ps = NULL;
    struct sl_error err;
    char host[128], token[SL_TOKEN_LEN + 1];
    unsigned long v;
    int code = 0;

    memset(&so, 0, sizeof(so));
    so.drain_seconds = 10;
    so.ready_fd = -1;
    sl_error_clear(&err);
    sl_opt_init(&o, "serve", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        const char *val;
        if (!is_opt) {
            code = sl_cli_usage("serve", "unexpected argument \"%s\"", a);
            goto out;
        }
        if (strcmp(a, "--data") == 0 || strcmp(a, "--listen") == 0 || strcmp(a, "--origin") == 0 ||
            strcmp(a, "--policy-dir") == 0 || strcmp(a, "--threads") == 0 ||
            strcmp(a, "--drain") == 0 || strcmp(a, "--ready-fd") == 0 ||
            strcmp(a, "--store") == 0) {
            if (!(val = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else {
            code = sl_cli_usage("serve", "unknown option %s", a);
            goto out;
        }
        if (strcmp(a, "--data") == 0)
            data = val;
        else if (strcmp(a, "--listen") == 0)
            listen = val;
        else if (strcmp(a, "--origin") == 0)
            origin = val;
        else if (strcmp(a, "--policy-dir") == 0)
            policy_dir = val;
        else if (strcmp(a, "--store") == 0)
            store = val;
        else if (!parse_uint(val, 3600, &v)) {
            code = sl_cli_usage("serve", "%s wants a small number, got \"%s\"", a, val);
            goto out;
        } else if (strcmp(a, "--threads") == 0)
            so.threads = (unsigned)v;
        else if (strcmp(a, "--drain") == 0)
            so.drain_seconds = (int)v;
        else
            so.ready_fd = (int)v;
    }
    data = sl_cli_data_dir(data);
    if (sl_parse_listen(listen, host, sizeof(host), &so.port, &err) != SL_OK)
        goto fail;
    so.host = host;
    if (sl_cli_load_packs(policy_dir, &ps, &err) != SL_OK)
        goto fail;
    memset(&ro, 0, sizeof(ro));
    ro.origin = origin;
    ro.packs = ps;
    ro.create = true;
    ro.store = store;
    ro.remember_store = true;
    if (sl_registry_open(data, &ro, &r, token, &err) != SL_OK) {
        ps = ro.packs; /* not taken over */
        goto fail;
    }
    ps = NULL;
    if (token[0]) {
        /* Printed once: it is also in DATA/admin.token (mode 0600). */
        printf("sluice: created the data folder %s\n", data);
        printf("sluice: first admin token (also in %s/admin.token): %s\n", data, token);
        fflush(stdout);
    }
    if (sl_serve(r, &so, &err) != SL_OK)
        goto fail;
    goto out;
fail:
    code = sl_cli_fail(&err);
out:
    sl_opt_release(&o);
    sl_registry_close(r);
    sl_packset_free(ps);
    return code;
}
