/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The publisher's `sluice hosted` commands that talk to the server with the
 * logged-in token (docs/hosted.md): `retain set|clear|show`, `retained`,
 * and `quota set|show` and `usage` when no data folder is named (with
 * `--data` or `--db` those two work on the database itself, as the
 * operator's commands do; cmd_hosted.c). The server lets only the model's
 * publishers and org admins through, and only write tokens change things.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/date.h"
#include "db/repo_hosted.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

/* A whole number option from `lo` to `hi`: -1 when absent, -2 after a
 * usage error. */
static long long num_opt(const struct sl_cli_args *a, const char *name, long long lo, long long hi)
{
    const char *s = sl_cli_val(a, name);
    char *end;
    long long v;

    if (!s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s || s[0] == '-' || s[0] == '+' || v < lo || v > hi) {
        sl_cli_usage("hosted", "%s wants a whole number from %lld to %lld, got \"%s\"", name, lo,
                     hi, s);
        return -2;
    }
    return v;
}

/* Splits ORG/NAME (no @REV) into malloc'd parts; false after a usage
 * error. */
static bool model_arg(const char *s, char **org, char **name)
{
    char *rev = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_client_parse_model(s, org, name, &rev, &err) != SL_OK || strchr(s, '@')) {
        free(*org);
        free(*name);
        free(rev);
        *org = *name = NULL;
        sl_cli_usage("hosted", "the model must be ORG/NAME, got \"%s\"", s);
        return false;
    }
    free(rev);
    return true;
}

static void print_time(int64_t t)
{
    char buf[32];

    fputs(sl_gov_time(t, buf), stdout);
}

static void print_retention(json_t *res)
{
    json_t *d = json_object_get(res, "retention_days");

    if (json_is_integer(d))
        printf("%s: prompts and completions are kept %lld day%s for abuse review\n",
               json_string_value(json_object_get(res, "model")), (long long)json_integer_value(d),
               json_integer_value(d) == 1 ? "" : "s");
    else
        printf("%s: prompts and completions are not kept\n",
               json_string_value(json_object_get(res, "model")));
}

static void print_retained(json_t *res)
{
    json_t *items = json_object_get(res, "items"), *e;
    size_t i;

    if (json_array_size(items) == 0) {
        printf("%s: nothing kept\n", json_string_value(json_object_get(res, "model")));
        return;
    }
    json_array_foreach(items, i, e)
    {
        const char *who = json_string_value(json_object_get(e, "user"));
        printf("#%lld ", (long long)json_integer_value(json_object_get(e, "id")));
        print_time(json_integer_value(json_object_get(e, "time")));
        printf(" v%lld %s /v1/%s (deleted after ",
               (long long)json_integer_value(json_object_get(e, "version")),
               who ? who : "(anonymous)", json_string_value(json_object_get(e, "endpoint")));
        print_time(json_integer_value(json_object_get(e, "expires")));
        printf(")\n  prompt%s: ",
               json_is_true(json_object_get(e, "prompt_truncated")) ? " (truncated)" : "");
        sl_cli_put_safe(stdout, json_string_value(json_object_get(e, "prompt")));
        printf("\n  completion%s: ",
               json_is_true(json_object_get(e, "completion_truncated")) ? " (truncated)" : "");
        sl_cli_put_safe(stdout, json_string_value(json_object_get(e, "completion")));
        printf("\n");
    }
    if (json_is_true(json_object_get(res, "more")))
        printf("(more: list again with a later --since, or ask GET .../hosted/retention/items "
               "with ?after= the last id)\n");
}

static void print_quota(json_t *res)
{
    json_t *def = json_object_get(res, "default"), *users = json_object_get(res, "users"), *e;
    size_t i;

    if (!def) { /* one caller's, as it applies */
        const char *u = json_string_value(json_object_get(res, "user"));
        printf("quota for %s: %lld requests per minute, %lld tokens per day, %lld calls at once "
               "(0: no limit)\n",
               u ? u : "every caller", (long long)json_integer_value(json_object_get(res, "rpm")),
               (long long)json_integer_value(json_object_get(res, "tokens_per_day")),
               (long long)json_integer_value(json_object_get(res, "concurrency")));
        return;
    }
    printf("%-20s %10s %15s %12s\n", "caller", "rpm", "tokens/day", "at once");
    printf("%-20s", "(default)");
    printf(" %10lld %15lld %12lld\n", (long long)json_integer_value(json_object_get(def, "rpm")),
           (long long)json_integer_value(json_object_get(def, "tokens_per_day")),
           (long long)json_integer_value(json_object_get(def, "concurrency")));
    json_array_foreach(users, i, e)
    {
        printf("%-20s", json_string_value(json_object_get(e, "user")));
        const char *k[] = {"rpm", "tokens_per_day", "concurrency"};
        int w[] = {10, 15, 12};
        for (int j = 0; j < 3; j++) {
            json_t *v = json_object_get(e, k[j]);
            if (json_is_integer(v))
                printf(" %*lld", w[j], (long long)json_integer_value(v));
            else
                printf(" %*s", w[j], "default");
        }
        printf("\n");
    }
    printf("(0: no limit)\n");
}

static void print_usage(json_t *res, const char *since)
{
    json_t *usage = json_object_get(res, "usage"), *ref = json_object_get(res, "refusals"), *e;
    size_t i;

    if (json_array_size(usage) == 0) {
        printf("no calls%s%s\n", since ? " since " : "", since ? since : "");
    } else {
        printf("%-10s %-7s %-20s %8s %12s %12s\n", "day", "version", "user", "calls", "prompt",
               "completion");
        json_array_foreach(usage, i, e)
        {
            const char *who = json_string_value(json_object_get(e, "user"));
            printf("%-10s v%-6lld %-20s %8lld %12lld %12lld\n",
                   json_string_value(json_object_get(e, "day")),
                   (long long)json_integer_value(json_object_get(e, "version")),
                   who ? who : "(anonymous)",
                   (long long)json_integer_value(json_object_get(e, "calls")),
                   (long long)json_integer_value(json_object_get(e, "prompt_tokens")),
                   (long long)json_integer_value(json_object_get(e, "completion_tokens")));
        }
    }
    json_array_foreach(ref, i, e)
    {
        const char *rule = json_string_value(json_object_get(e, "rule"));
        printf("%-10s refused or flagged: %s%s%s x%lld\n",
               json_string_value(json_object_get(e, "day")),
               json_string_value(json_object_get(e, "reason")), rule && *rule ? " rule " : "",
               rule ? rule : "", (long long)json_integer_value(json_object_get(e, "n")));
    }
}

int sl__cmd_hosted_remote(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    const char *cmd = a->pos[0], *verb = a->npos >= 2 ? a->pos[1] : "", *method = "GET";
    const char *what, *qkey = NULL, *qval = NULL, *since = sl_cli_val(a, "--since");
    char *org = NULL, *name = NULL;
    json_t *body = NULL, *res = NULL;
    bool json = sl_cli_has(a, "--json");
    size_t at;
    int32_t day;
    int code = 0;

    sl_error_clear(&err);
    if (strcmp(cmd, "retain") == 0) {
        what = "retention";
        at = 2;
        if (strcmp(verb, "set") == 0) {
            long long days = num_opt(a, "--days", 1, SL_HOSTED_RETAIN_DAYS_MAX);
            if (days == -2)
                return 2;
            if (days == -1 || a->npos != 3)
                return sl_cli_usage("hosted", "usage: sluice hosted retain set ORG/NAME --days N "
                                              "(N from 1 to 365)");
            method = "PUT";
            body = json_pack("{s:I}", "days", (json_int_t)days);
        } else if (strcmp(verb, "clear") == 0 || strcmp(verb, "show") == 0) {
            if (a->npos != 3)
                return sl_cli_usage("hosted", "usage: sluice hosted retain %s ORG/NAME", verb);
            method = verb[0] == 'c' ? "DELETE" : "GET";
        } else {
            return sl_cli_usage("hosted", "usage: sluice hosted retain set|clear|show ORG/NAME "
                                          "[--days N]");
        }
    } else if (strcmp(cmd, "retained") == 0) {
        what = "retention/items";
        at = 1;
        if (a->npos != 2)
            return sl_cli_usage("hosted", "usage: sluice hosted retained ORG/NAME [--since DATE]");
        if (since && !sl_date_parse(since, &day))
            return sl_cli_usage("hosted", "--since wants a date YYYY-MM-DD, got \"%s\"", since);
        qkey = "since";
        qval = since;
    } else if (strcmp(cmd, "usage") == 0) {
        what = "usage";
        at = 1;
        if (a->npos != 2)
            return sl_cli_usage("hosted", "usage: sluice hosted usage ORG/NAME [--since DATE]");
        if (since && !sl_date_parse(since, &day))
            return sl_cli_usage("hosted", "--since wants a date YYYY-MM-DD");
        qkey = "since";
        qval = since;
    } else { /* quota set|show */
        const char *user = sl_cli_val(a, "--user");
        what = "quota";
        at = 2;
        if (a->npos != 3 || (strcmp(verb, "set") != 0 && strcmp(verb, "show") != 0))
            return sl_cli_usage("hosted", "usage: sluice hosted quota set|show ORG/NAME [--user U] "
                                          "[--rpm N] [--tokens-per-day N] [--concurrency N]");
        if (strcmp(verb, "set") == 0) {
            static const char *const opts[] = {"--rpm", "--tokens-per-day", "--concurrency"};
            static const char *const keys[] = {"rpm", "tokens_per_day", "concurrency"};
            method = "PUT";
            body = json_object();
            if (user)
                json_object_set_new(body, "user", json_string(user));
            for (int i = 0; i < 3; i++) {
                long long v = num_opt(a, opts[i], 0, 1000000000000LL);
                if (v == -2) {
                    json_decref(body);
                    return 2;
                }
                if (v >= 0)
                    json_object_set_new(body, keys[i], json_integer(v));
            }
            if (json_object_size(body) == (user ? 1u : 0u)) {
                json_decref(body);
                return sl_cli_usage(
                    "hosted", "quota set wants --rpm N, --tokens-per-day N or --concurrency N");
            }
        } else {
            qkey = "user";
            qval = user;
        }
    }
    if (!model_arg(a->pos[at], &org, &name)) {
        code = 2;
        goto out;
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_hosted(cl, method, org, name, what, qkey, qval, body, &res, &err) != SL_OK) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json && strcmp(what, "usage") == 0)
        sl_cli_print_json(json_object_get(res, "usage")); /* as the --data form prints */
    else if (json)
        sl_cli_print_json(res);
    else if (strcmp(what, "retention") == 0 && method[0] == 'D')
        printf("%s: %s\n", json_string_value(json_object_get(res, "model")),
               json_is_true(json_object_get(res, "cleared"))
                   ? "retention cleared; calls from now on are not kept (those kept stay until "
                     "their time is up)"
                   : "kept nothing already");
    else if (strcmp(what, "retention") == 0)
        print_retention(res);
    else if (strcmp(what, "retention/items") == 0)
        print_retained(res);
    else if (strcmp(what, "quota") == 0)
        print_quota(res);
    else
        print_usage(res, since);
out:
    json_decref(res);
    json_decref(body);
    free(org);
    free(name);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}
