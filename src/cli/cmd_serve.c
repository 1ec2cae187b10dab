/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice serve [--config FILE] [--data DIR] [--db URL] [--store URL] [--keys DIR] [--listen
 * HOST:PORT]
 * [--origin NAME | --public-url URL] [--policy-dir DIR] [--threads N]
 * [--drain SECONDS] [--max-conns-per-ip N] [--mirror-of URL]`; with --mirror-of
 * the server is a pull-through mirror (docs/mirror.md) whose upstream calls
 * come from the client module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/buf.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "crypto/crypto.h"
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

const char *sl_cli_db_url(const char *given)
{
    const char *env = getenv("SLUICE_DB");

    if (given)
        return given;
    return env && env[0] ? env : NULL;
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
    const char *a, *data = NULL, *db = NULL, *keys = NULL, *listen = "127.0.0.1:8080",
                   *origin = NULL, *policy_dir = NULL, *public_url = NULL, *mirror_of = NULL;
    char *derived = NULL, *upstream = NULL, *mirror_dir = NULL;
    const char *store = NULL;
    struct sl_mirror_ops mo;
    bool is_opt;
    struct sl_server_opts so;
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    struct sl_packset *ps = NULL;
    struct sl_error err;
    char host[128], token[SL_TOKEN_LEN + 1];
    unsigned long v;
    unsigned mode_was;
    unsigned long long changed;
    struct sl_cli_conf conf;
    int code = sl_cli_conf_expand(&conf, "serve", true, argc, argv);

    if (code) {
        sl_cli_conf_release(&conf);
        return code;
    }
    memset(&so, 0, sizeof(so));
    so.drain_seconds = 10;
    so.ready_fd = -1;
    sl_error_clear(&err);
    sl_opt_init(&o, "serve", conf.argc, conf.argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        const char *val;
        if (!is_opt) {
            code = sl_cli_usage("serve", "unexpected argument \"%s\"", a);
            goto out;
        }
        if (strcmp(a, "--data") == 0 || strcmp(a, "--db") == 0 || strcmp(a, "--keys") == 0 ||
            strcmp(a, "--listen") == 0 || strcmp(a, "--origin") == 0 ||
            strcmp(a, "--policy-dir") == 0 || strcmp(a, "--threads") == 0 ||
            strcmp(a, "--drain") == 0 || strcmp(a, "--ready-fd") == 0 ||
            strcmp(a, "--max-conns-per-ip") == 0 || strcmp(a, "--public-url") == 0 ||
            strcmp(a, "--store") == 0 || strcmp(a, "--mirror-of") == 0 ||
            strcmp(a, "--trust-proxy") == 0 || strcmp(a, "--signup") == 0 ||
            strcmp(a, "--session-hours") == 0) {
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
        else if (strcmp(a, "--db") == 0)
            db = val;
        else if (strcmp(a, "--keys") == 0)
            keys = val;
        else if (strcmp(a, "--listen") == 0)
            listen = val;
        else if (strcmp(a, "--origin") == 0)
            origin = val;
        else if (strcmp(a, "--public-url") == 0)
            public_url = val;
        else if (strcmp(a, "--mirror-of") == 0)
            mirror_of = val;
        else if (strcmp(a, "--policy-dir") == 0)
            policy_dir = val;
        else if (strcmp(a, "--store") == 0)
            store = val;
        else if (strcmp(a, "--trust-proxy") == 0) {
            if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0) {
                code = sl_cli_usage("serve", "--trust-proxy wants yes or no, got \"%s\"", val);
                goto out;
            }
            so.trust_proxy = strcmp(val, "yes") == 0;
        } else if (strcmp(a, "--signup") == 0) {
            if (strcmp(val, "open") == 0)
                so.signup = SL_SIGNUP_OPEN;
            else if (strcmp(val, "invite") == 0)
                so.signup = SL_SIGNUP_INVITE;
            else if (strcmp(val, "closed") == 0)
                so.signup = SL_SIGNUP_CLOSED;
            else {
                code =
                    sl_cli_usage("serve", "--signup wants open, invite or closed, got \"%s\"", val);
                goto out;
            }
        } else if (strcmp(a, "--session-hours") == 0) {
            if (!parse_uint(val, 8760, &v) || v == 0) {
                code = sl_cli_usage(
                    "serve", "--session-hours wants a number from 1 to 8760, got \"%s\"", val);
                goto out;
            }
            so.session_hours = (unsigned)v;
        } else if (strcmp(a, "--max-conns-per-ip") == 0) {
            if (!parse_uint(val, 100000, &v) || v == 0) {
                code = sl_cli_usage("serve",
                                    "--max-conns-per-ip wants a number from 1 to 100000, "
                                    "got \"%s\"",
                                    val);
                goto out;
            }
            so.max_conns_per_ip = (unsigned)v;
        } else if (!parse_uint(val, 3600, &v)) {
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
    if (mirror_of) {
        struct sl_client *probe = NULL;
        upstream = sl_client_url_normalize(mirror_of, &err);
        if (!upstream) {
            code = sl_cli_usage("serve", "--mirror-of: %s", err.msg);
            goto out;
        }
        /* libcurl is loaded here, on the main thread, before any worker */
        if (sl_client_new(upstream, NULL, &probe, &err) != SL_OK)
            goto fail;
        sl_client_free(probe);
        mirror_dir = sl_path_join(data, "mirror");
        memset(&mo, 0, sizeof(mo));
        mo.upstream = upstream;
        mo.dir = mirror_dir;
        mo.request = sl_client_mirror_request;
        mo.fetch = sl_client_mirror_fetch;
        so.mirror = &mo;
        if (!origin && !public_url)
            origin = "mirror.invalid/log"; /* the mirror's own log stays empty */
    }
    if (sl_parse_listen(listen, host, sizeof(host), &so.port, &err) != SL_OK)
        goto fail;
    so.host = host;
    if (sl_cli_load_packs(policy_dir, &ps, &err) != SL_OK)
        goto fail;
    /* Private before anything in it is opened (docs/storage.md). */
    if (sl_registry_make_private(data, &mode_was, &changed, &err) != SL_OK)
        goto fail;
    if (changed) {
        struct sl_buf b = SL_BUF_INIT(256);
        sl_buf_adds(&b, "{\"event\":\"data_folder_made_private\",\"folder\":");
        sl_json_put_string(&b, data, strlen(data));
        fprintf(stderr, "%.*s,\"mode_was\":\"%04o\",\"mode\":\"0700\",\"changed\":%llu}\n",
                (int)b.len, b.data, mode_was, changed);
        sl_buf_release(&b);
    }
    if (!origin && public_url) {
        derived = sl_origin_from_url(public_url, &err);
        if (!derived) {
            code = sl_cli_usage("serve", "%s", err.msg);
            goto out;
        }
        origin = derived;
    }
    memset(&ro, 0, sizeof(ro));
    ro.origin = origin;
    ro.require_origin = true;
    ro.origin_derived = derived != NULL;
    ro.packs = ps;
    ro.create = true;
    ro.db = sl_cli_db_url(db);
    ro.store = store;
    ro.remember_store = true;
    ro.keys = keys;
    if (sl_registry_open(data, &ro, &r, token, &err) != SL_OK) {
        ps = ro.packs; /* not taken over */
        goto fail;
    }
    ps = NULL;
    if (token[0]) {
        /* Printed once, and only to a terminal: stdout sent to a file or a
         * journal would keep the token where others may read it. It is
         * always in DATA/admin.token (mode 0600). */
        printf("sluice: created the data folder %s\n", data);
        if (isatty(STDOUT_FILENO))
            printf("sluice: first admin token (also in %s/admin.token): %s\n", data, token);
        else
            printf("sluice: the first admin token is in %s/admin.token (mode 0600); it is not "
                   "printed because stdout is not a terminal\n",
                   data);
        fflush(stdout);
        sl_wipe(token, sizeof(token));
    }
    if (sl_serve(r, &so, &err) != SL_OK)
        goto fail;
    goto out;
fail:
    code = sl_cli_fail(&err);
out:
    free(derived);
    free(upstream);
    free(mirror_dir);
    sl_opt_release(&o);
    sl_registry_close(r);
    sl_packset_free(ps);
    sl_cli_conf_release(&conf);
    return code;
}
