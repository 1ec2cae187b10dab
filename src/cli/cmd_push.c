/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice push ORG/NAME PATH [--facts FILE] [--tier TIER] [--license FILE]
 * [--force] [--json]`: uploads a model version (only the chunks the server
 * lacks) and prints the server's decision. Without --facts the server
 * inherits the newest version's facts; without --force `main` never moves to
 * a stricter tier. Local input is checked before anything is
 * sent: a bad facts file fails with exit 2 and no upload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/io.h"
#include "common/util.h"
#include "policy/policy.h"
#include "common/banned.h"

#define FACTS_MAX   (4u << 20)
#define LICENSE_MAX (1u << 20)

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const char *size_text(json_int_t n, char *buf, size_t len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld bytes", (long long)n);
    else
        snprintf(buf, len, "%.2f %s", v, units[u]);
    return buf;
}

static void print_decision(json_t *d)
{
    json_t *e;
    size_t i;

    printf("\nRules that fired\n");
    if (json_array_size(json_object_get(d, "rules_fired")) == 0)
        printf("  none\n");
    json_array_foreach(json_object_get(d, "rules_fired"), i, e)
    {
        printf("  %s (%s)\n    %s\n", str(e, "rule"), str(e, "pack"), str(e, "cite"));
    }
    printf("\nObligations\n");
    if (json_array_size(json_object_get(d, "obligations")) == 0)
        printf("  none\n");
    json_array_foreach(json_object_get(d, "obligations"), i, e)
    {
        printf("  %s %s: %s\n    %s\n",
               json_is_true(json_object_get(e, "blocking")) ? "[blocking]" : "[duty]    ",
               str(e, "id"), str(e, "title"), str(e, "cite"));
    }
}

static void print_human(json_t *r)
{
    json_int_t total = json_integer_value(json_object_get(r, "bytes_total"));
    json_int_t up = json_integer_value(json_object_get(r, "bytes_uploaded"));
    char a[40], b[40];

    if (!total)
        total = json_integer_value(json_object_get(r, "bytes_local"));
    printf("Pushed %s version %lld\n", str(r, "model"),
           (long long)json_integer_value(json_object_get(r, "version")));
    printf("  commit       %s\n", str(r, "commit"));
    printf("  files        %lld, %s\n", (long long)json_integer_value(json_object_get(r, "files")),
           size_text(total, a, sizeof(a)));
    printf("  uploaded     %s (%.1f%% already on the server)\n", size_text(up, b, sizeof(b)),
           total > 0 ? 100.0 * (double)(total - up) / (double)total : 100.0);
    printf("  tier         %s (minimum %s)\n", str(r, "tier"), str(r, "min_tier"));
    if (json_string_value(json_object_get(r, "facts_note"))) {
        fputs("  facts        ", stdout);
        sl_cli_put_safe(stdout, str(r, "facts_note"));
        fputc('\n', stdout);
    }
    if (json_is_false(json_object_get(r, "on_main"))) {
        fputs("  NOT on main  ", stdout);
        sl_cli_put_safe(stdout, str(r, "main_note"));
        fputc('\n', stdout);
    }
    if (json_array_size(json_object_get(r, "held_by"))) {
        json_t *e;
        size_t i;
        printf("  held at      %s until these blocking obligations are satisfied:",
               str(r, "floor_tier"));
        json_array_foreach(json_object_get(r, "held_by"), i, e)
        {
            fputc(' ', stdout);
            sl_cli_put_safe(stdout, json_string_value(e) ? json_string_value(e) : "?");
        }
        printf("\n  see          sluice obligations %s@%s\n", str(r, "model"), str(r, "commit"));
    }
    print_decision(json_object_get(r, "decision"));
}

/* A refused version: the server's whole message (the error line may cut
 * it) and the decision that led to it. */
static void print_refusal(json_t *e)
{
    json_t *d = json_object_get(e, "decision");

    if (!json_is_object(d))
        return;
    fputs("Refused: ", stdout);
    sl_cli_put_safe(stdout, str(e, "message"));
    printf("\n  minimum tier %s\n", str(d, "min_tier"));
    print_decision(d);
    fflush(stdout);
}

static void print_json(json_t *r)
{
    /* the contract keys of docs/cli.md, each present (null when the
     * server did not send it) */
    static const char *const keys[] = {
        "model",       "version",      "commit",      "tier",           "min_tier",
        "floor_tier",  "held_by",      "bytes_total", "bytes_uploaded", "files",
        "bytes_local", "bytes_reread", "on_main",     "main_version",   "main_note",
        "facts_note",  "log_index",    "log_proof",   "decision",       "seconds"};
    json_t *out = json_object();

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(r, keys[i]);
        json_object_set(out, keys[i], v ? v : json_null());
    }
    sl_cli_print_json(out);
    json_decref(out);
}

int sl_cmd_push(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *spec = NULL, *path = NULL, *facts_file = NULL, *license_file = NULL;
    const char *tier = NULL;
    char *org = NULL, *name = NULL, *text = NULL, *license = NULL;
    json_t *facts = NULL, *result = NULL;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_push_opts po;
    struct sl_error err;
    size_t len;
    bool json = false, force = false, is_opt;
    uint64_t rate = 0;
    double retry_for = SL_CLIENT_RETRY_FOR_DEFAULT;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, "push", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (!spec) {
                spec = a;
            } else if (!path) {
                path = a;
            } else {
                code = sl_cli_usage("push", "unexpected argument \"%s\"", a);
                goto out;
            }
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (strcmp(a, "--facts") == 0) {
            if (!(facts_file = sl_opt_value(&o, a)))
                goto usage;
        } else if (strcmp(a, "--tier") == 0) {
            if (!(tier = sl_opt_value(&o, a)))
                goto usage;
        } else if (strcmp(a, "--license") == 0) {
            if (!(license_file = sl_opt_value(&o, a)))
                goto usage;
        } else if (strcmp(a, "--limit-rate") == 0) {
            const char *v = sl_opt_value(&o, a);
            if (!v)
                goto usage;
            if (sl_client_parse_rate(v, &rate, &err)) {
                code = sl_cli_usage("push", "--limit-rate: %s", err.msg);
                goto out;
            }
        } else if (strcmp(a, "--retry-for") == 0) {
            const char *v = sl_opt_value(&o, a);
            if (!v)
                goto usage;
            if (sl_client_parse_duration(v, &retry_for, &err)) {
                code = sl_cli_usage("push", "--retry-for: %s", err.msg);
                goto out;
            }
        } else {
            code = sl_cli_usage("push", "unknown option %s", a);
            goto out;
        }
    }
    if (!spec || !path) {
        code = sl_cli_usage("push", "give ORG/NAME and a folder or file");
        goto out;
    }
    if (sl_client_parse_model(spec, &org, &name, NULL, &err)) {
        code = sl_cli_usage("push", "%s", err.msg);
        goto out;
    }
    if (tier && strcmp(tier, "open") != 0 && strcmp(tier, "click") != 0 &&
        strcmp(tier, "gated") != 0 && strcmp(tier, "hosted") != 0 &&
        strcmp(tier, "withheld") != 0) {
        code = sl_cli_usage("push", "--tier is one of open, click, gated, hosted, withheld");
        goto out;
    }
    /* Local input first: nothing is uploaded when it is wrong. */
    if (facts_file) {
        if (sl_read_file(facts_file, FACTS_MAX, &text, &len, &err) ||
            sl_facts_parse(facts_file, text, len, &facts, &err)) {
            code = sl_cli_fail(&err);
            goto out;
        }
    }
    if (license_file) {
        if (sl_read_file(license_file, LICENSE_MAX, &license, &len, &err)) {
            code = sl_cli_fail(&err);
            goto out;
        }
        if (strlen(license) != len || !sl_utf8_valid((unsigned char *)license, len, NULL)) {
            sl_error_set(&err, SL_EINPUT, "%s: the license text must be UTF-8 without NUL bytes",
                         license_file);
            code = sl_cli_fail(&err);
            goto out;
        }
    }
    if (sl_client_config_load(&cfg, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (!cfg.url || !cfg.token) {
        sl_error_set(&err, SL_EUSAGE,
                     "push needs a server and a token: run `sluice login URL --token TOKEN` or "
                     "set SLUICE_URL and SLUICE_TOKEN");
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_client_new(cfg.url, cfg.token, &cl, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    sl_client_set_transfer(cl, rate, retry_for);
    memset(&po, 0, sizeof(po));
    po.org = org;
    po.name = name;
    po.path = path;
    po.facts = facts;
    po.tier = tier;
    po.license = license;
    po.force = force;
    po.progress = true;
    if (sl_client_push(cl, &po, &result, &err)) {
        if (!json && sl_client_last_error(cl))
            print_refusal(sl_client_last_error(cl));
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json)
        print_json(result);
    else
        print_human(result);
    goto out;
usage:
    code = 2;
out:
    json_decref(result);
    json_decref(facts);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(text);
    free(license);
    free(org);
    free(name);
    sl_opt_release(&o);
    return code;
}
