/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offline bundles (docs/bundle.md): `sluice export ORG/NAME[@REV] --out FILE`
 * writes one verifiable file; `sluice verify-bundle FILE [--key VKEY]` and
 * `sluice import FILE --dest DIR [--key VKEY]` check it with no network,
 * the latter unpacking only when everything holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/io.h"
#include "common/util.h"
#include "common/banned.h"

#define KEY_FILE_MAX 4096

int sl_cmd_export(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *spec = NULL, *out = NULL, **seeds = NULL;
    size_t nseeds = 0;
    char *org = NULL, *name = NULL, *rev = NULL;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_export_opts eo;
    struct sl_error err;
    json_t *res = NULL;
    bool json = false, is_opt;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, "export", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (spec) {
                code = sl_cli_usage("export", "unexpected argument \"%s\"", a);
                goto out;
            }
            spec = a;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--out") == 0) {
            if (!(out = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else if (strcmp(a, "--seed") == 0) {
            const char *v = sl_opt_value(&o, a);
            if (!v) {
                code = 2;
                goto out;
            }
            seeds = sl_xrealloc((void *)seeds, (nseeds + 1) * sizeof(*seeds));
            seeds[nseeds++] = v;
        } else {
            code = sl_cli_usage("export", "unknown option %s", a);
            goto out;
        }
    }
    if (!spec || !out || !out[0]) {
        code = sl_cli_usage("export", "give ORG/NAME[@REV] and --out FILE");
        goto out;
    }
    if (sl_client_parse_model(spec, &org, &name, &rev, &err)) {
        code = sl_cli_usage("export", "%s", err.msg);
        goto out;
    }
    if (sl_client_config_load(&cfg, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (!cfg.url) {
        sl_error_set(&err, SL_EUSAGE,
                     "no server configured: run `sluice login URL --token TOKEN` or set "
                     "SLUICE_URL");
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_client_new(cfg.url, cfg.token, &cl, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    memset(&eo, 0, sizeof(eo));
    eo.org = org;
    eo.name = name;
    eo.rev = rev;
    eo.out = out;
    eo.seeds = seeds;
    eo.nseeds = nseeds;
    eo.progress = true;
    if (sl_client_export(cl, &eo, &res, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json) {
        sl_cli_print_json(res);
    } else {
        printf("Exported %s version %lld (commit %s, tier %s) to %s\n",
               json_string_value(json_object_get(res, "model")),
               (long long)json_integer_value(json_object_get(res, "version")),
               json_string_value(json_object_get(res, "commit")),
               json_string_value(json_object_get(res, "tier")), out);
        printf("  files        %lld, log entry %lld in a tree of %lld\n",
               (long long)json_integer_value(json_object_get(res, "files")),
               (long long)json_integer_value(json_object_get(res, "log_index")),
               (long long)json_integer_value(json_object_get(res, "checkpoint_size")));
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free((void *)seeds);
    free(org);
    free(name);
    free(rev);
    sl_opt_release(&o);
    return code;
}

/* verify-bundle and import share everything but --dest. */
static int verify_or_import(const char *cmd, int argc, char **argv, bool import)
{
    struct sl_opt o;
    const char *a, *file = NULL, *key_arg = NULL, *dest = NULL;
    char *key = NULL;
    struct sl_bundle_opts bo;
    struct sl_error err;
    json_t *res = NULL;
    bool json = false, is_opt;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, cmd, argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (file) {
                code = sl_cli_usage(cmd, "unexpected argument \"%s\"", a);
                goto out;
            }
            file = a;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--key") == 0) {
            if (!(key_arg = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else if (import && strcmp(a, "--dest") == 0) {
            if (!(dest = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else {
            code = sl_cli_usage(cmd, "unknown option %s", a);
            goto out;
        }
    }
    if (!file || (import && (!dest || !dest[0]))) {
        code = sl_cli_usage(cmd, import ? "give FILE and --dest DIR" : "give FILE");
        goto out;
    }
    if (key_arg) {
        /* a file holding a vkey, or the vkey itself */
        struct stat st;
        if (stat(key_arg, &st) != 0) {
            key = sl_xstrdup(key_arg);
        } else {
            size_t len;
            if (sl_read_file(key_arg, KEY_FILE_MAX, &key, &len, &err)) {
                code = sl_cli_fail(&err);
                goto out;
            }
        }
    }
    memset(&bo, 0, sizeof(bo));
    bo.file = file;
    bo.key = key;
    bo.dest = dest;
    if (sl_bundle_verify(&bo, &res, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json) {
        sl_cli_print_json(res);
    } else {
        printf("%s %s version %lld (commit %s, tier %s)%s%s\n", import ? "Imported" : "Verified",
               json_string_value(json_object_get(res, "model")),
               (long long)json_integer_value(json_object_get(res, "version")),
               json_string_value(json_object_get(res, "commit")),
               json_string_value(json_object_get(res, "tier")), import ? " into " : "",
               import ? dest : "");
        printf("  files        %zu, each matching the logged digest\n",
               json_array_size(json_object_get(res, "files")));
        printf("  log          entry %lld included in the signed tree of %lld (%s)\n",
               (long long)json_integer_value(json_object_get(res, "log_index")),
               (long long)json_integer_value(json_object_get(res, "checkpoint_size")),
               json_string_value(json_object_get(res, "server")));
    }
out:
    json_decref(res);
    free(key);
    sl_opt_release(&o);
    return code;
}

int sl_cmd_verify_bundle(int argc, char **argv)
{
    return verify_or_import("verify-bundle", argc, argv, false);
}

int sl_cmd_import(int argc, char **argv)
{
    return verify_or_import("import", argc, argv, true);
}
