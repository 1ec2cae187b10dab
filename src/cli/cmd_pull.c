/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice pull ORG/NAME[@REV] [--dest DIR] [--include GLOB] [--exclude GLOB]
 * [--seed DIR] [--cache DIR | --no-cache] [--limit-rate RATE]
 * [--retry-for DURATION] [--json]`: downloads a model version into DIR
 * (default ./NAME), skipping files already there with the right SHA-256,
 * reusing chunks local files hold and resuming interrupted downloads. For a
 * gated version it also saves the caller's license as DIR/LICENSE.sluice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/util.h"
#include "common/banned.h"

#define LICENSE_NAME "LICENSE.sluice"

/* After a pull of a gated version: fetches the caller's license of exactly
 * that commit, checks it against the server's pinned key and saves it
 * beside the files. Returns the path saved (caller frees) or NULL; a
 * license the server does not give (a member of the publishing org holds
 * no grant) is a note on stderr, not a failure. A key that changed since it
 * was pinned is a failure (`*code` 1): the user must look into it. */
static char *save_license(struct sl_client *cl, const char *org, const char *name, json_t *result,
                          const char *dest, int *code)
{
    const char *commit = json_string_value(json_object_get(result, "commit"));
    struct sl_license_check c;
    struct sl_error err;
    char *text = NULL, *path = NULL;
    size_t len = 0;
    bool pinned_now = false;
    enum sl_err rc;

    sl_error_clear(&err);
    rc = sl_client_license_fetch(cl, org, name, commit, &text, &len, &c, &pinned_now, &err);
    if (rc == SL_EFORBIDDEN || rc == SL_ENOTFOUND) {
        fprintf(stderr, "sluice: note: no license saved: ");
        sl_cli_put_safe(stderr, err.msg);
        fputc('\n', stderr);
        return NULL;
    }
    if (rc) {
        *code = sl_cli_fail(&err);
        return NULL;
    }
    path = sl_path_join(dest, LICENSE_NAME);
    if (sl_client_write_file(path, text, len, 0644, &err)) {
        *code = sl_cli_fail(&err);
        free(path);
        path = NULL;
    } else if (pinned_now) {
        fprintf(stderr, "sluice: pinned the key of the server (first contact): %s\n", c.signer);
    }
    free(text);
    return path;
}

static const char *fmt_size(uint64_t n, char *buf, size_t len)
{
    if (n >= 1024ull * 1024 * 1024)
        snprintf(buf, len, "%.2f GiB", (double)n / (1024.0 * 1024 * 1024));
    else if (n >= 1024ull * 1024)
        snprintf(buf, len, "%.2f MiB", (double)n / (1024.0 * 1024));
    else if (n >= 1024)
        snprintf(buf, len, "%.2f KiB", (double)n / 1024.0);
    else
        snprintf(buf, len, "%llu bytes", (unsigned long long)n);
    return buf;
}

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
    printf("  files        %zu: %zu fetched, %zu already present\n", n, got, n - got);
    printf("  downloaded   %s\n", size);
    {
        char rb[40], tb[40];
        json_int_t reused = json_integer_value(json_object_get(r, "bytes_reused"));
        json_int_t total = json_integer_value(json_object_get(r, "bytes_total"));
        printf("  reused       %s of %s from local files\n",
               fmt_size((uint64_t)reused, rb, sizeof(rb)),
               fmt_size((uint64_t)total, tb, sizeof(tb)));
    }
}

int sl_cmd_pull(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *spec = NULL, *dest_arg = NULL, *tier;
    char *org = NULL, *name = NULL, *rev = NULL, *license = NULL;
    json_t *result = NULL;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_pull_opts po;
    struct sl_error err;
    bool json = false, is_opt, no_cache = false;
    const char **inc = NULL, **exc = NULL, **seeds = NULL, *cache = NULL;
    size_t ninc = 0, nexc = 0, nseeds = 0;
    uint64_t rate = 0;
    double retry_for = SL_CLIENT_RETRY_FOR_DEFAULT;
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
        } else if (strcmp(a, "--include") == 0 || strcmp(a, "--exclude") == 0 ||
                   strcmp(a, "--seed") == 0) {
            const char *v = sl_opt_value(&o, a);
            const char ***list = a[2] == 'i' ? &inc : a[2] == 'e' ? &exc : &seeds;
            size_t *n = a[2] == 'i' ? &ninc : a[2] == 'e' ? &nexc : &nseeds;
            if (!v) {
                code = 2;
                goto out;
            }
            if (!v[0]) {
                code = sl_cli_usage("pull", "%s needs a %s", a, a[2] == 's' ? "folder" : "pattern");
                goto out;
            }
            *list = sl_xrealloc((void *)*list, (*n + 1) * sizeof(**list));
            (*list)[(*n)++] = v;
        } else if (strcmp(a, "--cache") == 0) {
            if (!(cache = sl_opt_value(&o, a))) {
                code = 2;
                goto out;
            }
            if (!cache[0]) {
                code = sl_cli_usage("pull", "--cache needs a folder (or use --no-cache)");
                goto out;
            }
        } else if (strcmp(a, "--no-cache") == 0) {
            no_cache = true;
        } else if (strcmp(a, "--limit-rate") == 0) {
            const char *v = sl_opt_value(&o, a);
            if (!v) {
                code = 2;
                goto out;
            }
            if (sl_client_parse_rate(v, &rate, &err)) {
                code = sl_cli_usage("pull", "--limit-rate: %s", err.msg);
                goto out;
            }
        } else if (strcmp(a, "--retry-for") == 0) {
            const char *v = sl_opt_value(&o, a);
            if (!v) {
                code = 2;
                goto out;
            }
            if (sl_client_parse_duration(v, &retry_for, &err)) {
                code = sl_cli_usage("pull", "--retry-for: %s", err.msg);
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
    if (cache && no_cache) {
        code = sl_cli_usage("pull", "--cache and --no-cache cannot be combined");
        goto out;
    }
    sl_client_set_transfer(cl, rate, retry_for);
    memset(&po, 0, sizeof(po));
    po.org = org;
    po.name = name;
    po.rev = rev;
    po.dest = dest_arg ? dest_arg : name;
    po.progress = true;
    po.cache_dir = no_cache ? "" : cache;
    po.include = inc;
    po.ninclude = ninc;
    po.exclude = exc;
    po.nexclude = nexc;
    po.seeds = seeds;
    po.nseeds = nseeds;
    if (sl_client_pull(cl, &po, &result, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    /* A gated version comes with the caller's license; the files are in
     * place whatever happens to it. */
    tier = json_string_value(json_object_get(result, "tier"));
    if (tier && strcmp(tier, "gated") == 0)
        license = save_license(cl, org, name, result, po.dest, &code);
    if (json) {
        json_t *out = json_object();
        json_object_set(out, "commit", json_object_get(result, "commit"));
        json_object_set(out, "files", json_object_get(result, "files"));
        json_object_set(out, "bytes_downloaded", json_object_get(result, "bytes_downloaded"));
        json_object_set(out, "bytes_reused", json_object_get(result, "bytes_reused"));
        json_object_set(out, "bytes_total", json_object_get(result, "bytes_total"));
        json_object_set(out, "bad_local_chunks", json_object_get(result, "bad_local_chunks"));
        if (license)
            json_object_set_new(out, "license", json_string(license));
        if (json_is_integer(json_object_get(result, "fingerprint_recipient")))
            json_object_set(out, "fingerprint_recipient",
                            json_object_get(result, "fingerprint_recipient"));
        sl_cli_print_json(out);
        json_decref(out);
    } else {
        print_human(result, po.dest);
        if (license)
            printf("  license      %s (check it with `sluice license verify %s`)\n", license,
                   license);
        if (json_is_integer(json_object_get(result, "fingerprint_recipient")))
            printf("  fingerprint  this copy is fingerprinted: its weights carry marks that "
                   "identify you (recipient %lld); a leaked copy can be traced to you\n",
                   (long long)json_integer_value(json_object_get(result, "fingerprint_recipient")));
    }
out:
    free((void *)inc);
    free((void *)exc);
    free((void *)seeds);
    free(license);
    json_decref(result);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    sl_opt_release(&o);
    return code;
}
