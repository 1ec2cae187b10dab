/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice pull ORG/NAME[@REV] [--dest DIR] [--json]`: downloads a model
 * version into DIR (default ./NAME), skipping files already there with the
 * right SHA-256 and resuming interrupted downloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/util.h"
#include "common/banned.h"

static void print_human(json_t *r, const char *dest)
{
    json_t *e;
    size_t i, n = 0, got = 0;
    json_int_t bytes = json_integer_value(json_object_get(r, "bytes_downloaded"));
    char size[40];
    double v = (double)bytes;
    const char *unit = "bytes";

    json_array_foreach(json_object_get(r, "files"), i, e)
    {
        n++;
        if (json_is_true(json_object_get(e, "downloaded")))
            got++;
    }
    if (v >= 1024.0 * 1024 * 1024) {
        v /= 1024.0 * 1024 * 1024;
        unit = "GiB";
    } else if (v >= 1024.0 * 1024) {
        v /= 1024.0 * 1024;
        unit = "MiB";
    } else if (v >= 1024.0) {
        v /= 1024.0;
        unit = "KiB";
    }
    if (unit[0] == 'b')
        snprintf(size, sizeof(size), "%lld bytes", (long long)bytes);
    else
        snprintf(size, sizeof(size), "%.2f %s", v, unit);
    const char *model = json_string_value(json_object_get(r, "model"));

    printf("Pulled %s version %lld (commit %s) into %s\n", model ? model : "",
           (long long)json_integer_value(json_object_get(r, "version")),
           json_string_value(json_object_get(r, "commit")), dest);
    printf("  files        %zu: %zu downloaded, %zu already present\n", n, got, n - got);
    printf("  downloaded   %s\n", size);
}

int sl_cmd_pull(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *spec = NULL, *dest_arg = NULL;
    char *org = NULL, *name = NULL, *rev = NULL;
    json_t *result = NULL;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_pull_opts po;
    struct sl_error err;
    bool json = false, is_opt;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, "pull", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (spec) {
                code = sl_cli_usage("pull", "unexpected argument \"%s\"", a);
                goto out;
            }
            spec = a;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--dest") == 0) {
            if (!(dest_arg = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
        } else {
            code = sl_cli_usage("pull", "unknown option %s", a);
            goto out;
        }
    }
    if (!spec) {
        code = sl_cli_usage("pull", "give ORG/NAME[@REV]");
        goto out;
    }
    if (sl_client_parse_model(spec, &org, &name, &rev, &err)) {
        code = sl_cli_usage("pull", "%s", err.msg);
        goto out;
    }
    if (dest_arg && !dest_arg[0]) {
        code = sl_cli_usage("pull", "--dest needs a folder");
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
    memset(&po, 0, sizeof(po));
    po.org = org;
    po.name = name;
    po.rev = rev;
    po.dest = dest_arg ? dest_arg : name;
    po.progress = true;
    if (sl_client_pull(cl, &po, &result, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json) {
        json_t *out = json_object();
        json_object_set(out, "commit", json_object_get(result, "commit"));
        json_object_set(out, "files", json_object_get(result, "files"));
        json_object_set(out, "bytes_downloaded", json_object_get(result, "bytes_downloaded"));
        sl_cli_print_json(out);
        json_decref(out);
    } else {
        print_human(result, po.dest);
    }
out:
    json_decref(result);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    sl_opt_release(&o);
    return code;
}
