/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice hosted backend add|list|remove`: the inference backends behind a
 * model's OpenAI-compatible gateway (docs/hosted.md). Operator commands run
 * on the data folder and its database, like `sluice admin`: a backend's URL
 * and the name of the variable holding its key are infrastructure, never
 * shown to the gateway's callers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/date.h"
#include "db/repo_hosted.h"
#include "hosted/health.h"
#include "registry/registry.h"
#include "common/banned.h"

static bool url_ok(const char *u, const char **why)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        *why = "the backend URL must start with http:// or https://";
        return false;
    }
    if (strlen(u) > SL_HOSTED_URL_MAX) {
        *why = "the backend URL is over 1024 bytes";
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f) {
            *why = "the backend URL has a space, a control or a non-ASCII character";
            return false;
        }
    if (strchr(u, '?') || strchr(u, '#')) {
        *why = "the backend URL takes no query or fragment: give its base, such as "
               "http://127.0.0.1:8081/v1";
        return false;
    }
    return true;
}

static bool env_name_ok(const char *s)
{
    if (!*s || strlen(s) > SL_HOSTED_ENV_MAX || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool text_ok(const char *s, size_t max)
{
    if (!*s || strlen(s) > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Splits ORG/NAME[@REV] (in `buf`); false when malformed. */
static bool split(const char *s, char *buf, size_t n, const char **org, const char **name,
                  const char **rev)
{
    char *slash, *at;

    if (strlen(s) >= n)
        return false;
    memcpy(buf, s, strlen(s) + 1);
    slash = strchr(buf, '/');
    if (!slash)
        return false;
    *slash = '\0';
    at = strchr(slash + 1, '@');
    *rev = NULL;
    if (at) {
        *at = '\0';
        *rev = at + 1;
        if (!**rev)
            return false;
    }
    *org = buf;
    *name = slash + 1;
    return sl_name_ok(*org) && sl_name_ok(*name);
}

static json_t *backend_json(const struct sl_hosted_backend *b, int64_t seq)
{
    json_t *j = json_pack("{s:I, s:s, s:s?, s:s?}", "id", (json_int_t)b->id, "url", b->url,
                          "backend_model", b->backend_model[0] ? b->backend_model : NULL,
                          "api_key_env", b->key_env[0] ? b->key_env : NULL);

    if (seq)
        json_object_set_new(j, "version", json_integer(seq));
    else
        json_object_set_new(j, "version", json_string("every"));
    return j;
}

/* A non-negative count option; -1 when absent, -2 (after a usage error)
 * when malformed. */
static int64_t count_opt(const struct sl_cli_args *a, const char *name)
{
    const char *s = sl_cli_val(a, name);
    char *end;
    long long v;

    if (!s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > 1000000000000LL || s[0] == '-') {
        sl_cli_usage("hosted", "%s wants a whole number from 0 (no limit) up", name);
        return -2;
    }
    return v;
}

/* `quota set ORG/NAME [--user U] [--rpm N] [--tokens-per-day N] [--concurrency N]` and
 * `usage ORG/NAME [--since DATE]`, on the open registry. */
static int quota_or_usage(const struct sl_cli_args *a, struct sl_registry *r, struct sl_db *db,
                          int64_t model_id, bool json, struct sl_error *err)
{
    if (strcmp(a->pos[0], "quota") == 0) {
        struct sl_hosted_quota q = {count_opt(a, "--rpm"), count_opt(a, "--tokens-per-day"),
                                    count_opt(a, "--concurrency")};
        const char *user = sl_cli_val(a, "--user");
        int64_t uid = 0;
        if (user && sl_repo_user_id(db, user, &uid, err) != SL_OK)
            return sl_cli_fail(err);
        if (sl_repo_quota_set(db, model_id, uid, &q, err) != SL_OK ||
            sl_repo_quota_get(db, model_id, uid, &q, err) != SL_OK)
            return sl_cli_fail(err);
        if (json) {
            json_t *j = json_pack("{s:s?, s:I, s:I, s:I}", "user", user, "rpm", (json_int_t)q.rpm,
                                  "tokens_per_day", (json_int_t)q.tokens_per_day, "concurrency",
                                  (json_int_t)q.concurrency);
            sl_cli_print_json(j);
            json_decref(j);
        } else {
            printf("quota for %s: %lld requests per minute, %lld tokens per day, %lld calls at "
                   "once (0: no limit)\n",
                   user ? user : "every caller", (long long)q.rpm, (long long)q.tokens_per_day,
                   (long long)q.concurrency);
        }
        return 0;
    } else {
        struct sl_hosted_usage *u = NULL;
        const char *since = sl_cli_val(a, "--since");
        int32_t day = 0;
        size_t n = 0;
        json_t *arr;
        (void)r;
        if (since && !sl_date_parse(since, &day))
            return sl_cli_usage("hosted", "--since wants a date YYYY-MM-DD");
        if (sl_repo_usage_list(db, model_id, day, &u, &n, err) != SL_OK)
            return sl_cli_fail(err);
        arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char d[16];
            json_array_append_new(
                arr, json_pack("{s:s, s:I, s:s?, s:I, s:I, s:I}", "day",
                               sl_date_format((int32_t)u[i].day, d), "version",
                               (json_int_t)u[i].version_seq, "user",
                               u[i].user[0] ? u[i].user : NULL, "calls", (json_int_t)u[i].calls,
                               "prompt_tokens", (json_int_t)u[i].prompt_tokens, "completion_tokens",
                               (json_int_t)u[i].completion_tokens));
        }
        free(u);
        if (json) {
            sl_cli_print_json(arr);
        } else if (n == 0) {
            printf("no calls%s%s\n", since ? " since " : "", since ? since : "");
        } else {
            size_t i;
            json_t *e;
            printf("%-10s %-7s %-20s %8s %12s %12s\n", "day", "version", "user", "calls", "prompt",
                   "completion");
            json_array_foreach(arr, i, e)
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
        json_decref(arr);
        return 0;
    }
}

int sl_cmd_hosted(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG},         {"--data", SL_OPT_VALUE},
        {"--db", SL_OPT_VALUE},          {"--keys", SL_OPT_VALUE},
        {"--store", SL_OPT_VALUE},       {"--backend-model", SL_OPT_VALUE},
        {"--api-key-env", SL_OPT_VALUE}, {"--user", SL_OPT_VALUE},
        {"--rpm", SL_OPT_VALUE},         {"--tokens-per-day", SL_OPT_VALUE},
        {"--since", SL_OPT_VALUE},       {"--concurrency", SL_OPT_VALUE},
        {"--days", SL_OPT_VALUE},        {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    struct sl_error err;
    struct sl_db *db;
    char buf[2 * SL_NAME_MAX + 110];
    const char *org, *name, *rev, *verb, *why;
    bool json;
    int64_t org_id, model_id;
    int code = sl_cli_args_parse(&a, "hosted", defs, argc, argv);

    if (code)
        return code;
    json = sl_cli_has(&a, "--json");
    if (a.npos >= 1 && strcmp(a.pos[0], "filter") == 0) /* cmd_hosted_filter.c */
        return sl__cmd_hosted_filter(&a);
    if (a.npos >= 1 && (strcmp(a.pos[0], "retain") == 0 || strcmp(a.pos[0], "retained") == 0))
        return sl__cmd_hosted_remote(&a); /* cmd_hosted_remote.c */
    /* quota and usage: on the database with --data or --db (the operator),
     * else over HTTP with the logged-in token (the publisher) */
    if (a.npos >= 1 && (strcmp(a.pos[0], "quota") == 0 || strcmp(a.pos[0], "usage") == 0) &&
        !sl_cli_val(&a, "--data") && !sl_cli_val(&a, "--db"))
        return sl__cmd_hosted_remote(&a);
    if (a.npos >= 1 && (strcmp(a.pos[0], "quota") == 0 || strcmp(a.pos[0], "usage") == 0)) {
        bool quota = strcmp(a.pos[0], "quota") == 0;
        size_t at = quota ? 2 : 1;
        if (a.npos != at + 1 || (quota && strcmp(a.pos[1], "set") != 0))
            return sl_cli_usage("hosted", quota ? "usage: sluice hosted quota set ORG/NAME "
                                                  "[--user U] [--rpm N] [--tokens-per-day N] "
                                                  "[--concurrency N]"
                                                : "usage: sluice hosted usage ORG/NAME "
                                                  "[--since DATE]");
        if (!split(a.pos[at], buf, sizeof(buf), &org, &name, &rev) || rev)
            return sl_cli_usage("hosted", "the model must be ORG/NAME, got \"%s\"", a.pos[at]);
        if (quota && (count_opt(&a, "--rpm") == -2 || count_opt(&a, "--tokens-per-day") == -2 ||
                      count_opt(&a, "--concurrency") == -2))
            return 2;
        if (quota && !sl_cli_val(&a, "--rpm") && !sl_cli_val(&a, "--tokens-per-day") &&
            !sl_cli_val(&a, "--concurrency"))
            return sl_cli_usage("hosted",
                                "quota set wants --rpm N, --tokens-per-day N or --concurrency N");
        sl_error_clear(&err);
        memset(&ro, 0, sizeof(ro));
        ro.db = sl_cli_db_url(sl_cli_val(&a, "--db"));
        ro.store = sl_cli_val(&a, "--store");
        ro.keys = sl_cli_val(&a, "--keys");
        if (sl_registry_open(sl_cli_data_dir(sl_cli_val(&a, "--data")), &ro, &r, NULL, &err) !=
            SL_OK)
            return sl_cli_fail(&err);
        db = sl_reg_db(r, &err);
        if (!db || sl_reg_model_id(r, org, name, &org_id, &model_id, &err) != SL_OK)
            code = sl_cli_fail(&err);
        else
            code = quota_or_usage(&a, r, db, model_id, json, &err);
        sl_registry_close(r);
        return code;
    }
    if (a.npos < 3 || strcmp(a.pos[0], "backend") != 0)
        return sl_cli_usage("hosted", "usage: sluice hosted backend add|list|remove ORG/NAME ..., "
                                      "quota set|show ORG/NAME ..., usage ORG/NAME, filter ..., "
                                      "retain set|show|clear ORG/NAME, retained ORG/NAME");
    verb = a.pos[1];
    if (!split(a.pos[2], buf, sizeof(buf), &org, &name, &rev))
        return sl_cli_usage("hosted", "the model must be ORG/NAME or ORG/NAME@REV, got \"%s\"",
                            a.pos[2]);
    if (strcmp(verb, "add") == 0) {
        const char *bm = sl_cli_val(&a, "--backend-model"), *env = sl_cli_val(&a, "--api-key-env");
        if (a.npos != 4)
            return sl_cli_usage("hosted", "backend add wants ORG/NAME[@REV] URL");
        if (!url_ok(a.pos[3], &why))
            return sl_cli_usage("hosted", "%s", why);
        if (bm && !text_ok(bm, SL_HOSTED_NAME_MAX))
            return sl_cli_usage("hosted", "--backend-model wants 1 to 256 printable characters");
        if (env && !env_name_ok(env))
            return sl_cli_usage("hosted", "--api-key-env wants the name of an environment "
                                          "variable (letters, digits, '_'), not the key itself");
    } else if (strcmp(verb, "list") == 0) {
        if (a.npos != 3 || rev)
            return sl_cli_usage("hosted", "backend list wants ORG/NAME");
    } else if (strcmp(verb, "remove") == 0) {
        if (a.npos != 4 || rev)
            return sl_cli_usage("hosted", "backend remove wants ORG/NAME ID");
    } else {
        return sl_cli_usage("hosted", "backend takes add, list or remove, not \"%s\"", verb);
    }
    sl_error_clear(&err);
    memset(&ro, 0, sizeof(ro));
    ro.db = sl_cli_db_url(sl_cli_val(&a, "--db"));
    ro.store = sl_cli_val(&a, "--store");
    ro.keys = sl_cli_val(&a, "--keys");
    if (sl_registry_open(sl_cli_data_dir(sl_cli_val(&a, "--data")), &ro, &r, NULL, &err) != SL_OK)
        return sl_cli_fail(&err);
    db = sl_reg_db(r, &err);
    if (!db || sl_reg_model_id(r, org, name, &org_id, &model_id, &err) != SL_OK)
        goto fail;
    if (strcmp(verb, "add") == 0) {
        struct sl_hosted_backend b;
        struct sl_version_ref v;
        const char *bm = sl_cli_val(&a, "--backend-model"), *env = sl_cli_val(&a, "--api-key-env");
        memset(&b, 0, sizeof(b));
        memset(&v, 0, sizeof(v));
        if (rev && sl_reg_resolve(r, org, name, rev, &v, &err) != SL_OK)
            goto fail;
        b.model_id = model_id;
        b.version_id = rev ? v.version_id : 0;
        snprintf(b.url, sizeof(b.url), "%s", a.pos[3]);
        snprintf(b.backend_model, sizeof(b.backend_model), "%s", bm ? bm : "");
        snprintf(b.key_env, sizeof(b.key_env), "%s", env ? env : "");
        b.created = (int64_t)time(NULL);
        if (sl_repo_backend_add(db, &b, &b.id, &err) != SL_OK)
            goto fail;
        if (json) {
            json_t *j = backend_json(&b, rev ? v.seq : 0);
            sl_cli_print_json(j);
            json_decref(j);
        } else {
            printf("backend %lld added for %s/%s (%s)%s%s\n", (long long)b.id, org, name,
                   rev ? "one version" : "every version",
                   env ? "; the server reads its key from $" : "", env ? env : "");
        }
    } else if (strcmp(verb, "list") == 0) {
        struct sl_hosted_backend *all = NULL;
        size_t n = 0;
        json_t *arr = json_array();
        bool fresh;
        /* the state the server on this data folder last saw (health.h) */
        json_t *health = sl_hosted_health_load(sl_reg_root(r), &fresh);
        if (sl_repo_backend_list(db, model_id, &all, &n, &err) != SL_OK) {
            json_decref(health);
            json_decref(arr);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            /* the version's number, for pinned backends */
            int64_t seq = 0;
            if (all[i].version_id) {
                struct sl_hosted_backend *x = NULL;
                size_t nx = 0;
                if (sl_repo_backend_all(db, &x, &nx, &err) == SL_OK)
                    for (size_t k = 0; k < nx; k++)
                        if (x[k].id == all[i].id)
                            seq = x[k].version_seq;
                free(x);
            }
            {
                json_t *j = backend_json(&all[i], seq), *hs = sl_hosted_health_of(health, &all[i]);
                if (hs)
                    json_object_update(j, hs);
                else
                    json_object_set_new(j, "state", json_string("unknown"));
                json_decref(hs);
                json_array_append_new(arr, j);
            }
        }
        free(all);
        json_decref(health);
        if (json) {
            sl_cli_print_json(arr);
        } else if (json_array_size(arr) == 0) {
            printf("%s/%s has no backends\n", org, name);
        } else {
            if (!fresh)
                printf("state unknown: no running server has probed the backends lately\n");
            size_t i;
            json_t *e;
            json_array_foreach(arr, i, e)
            {
                json_t *ver = json_object_get(e, "version");
                printf("%-4lld %-8s ", (long long)json_integer_value(json_object_get(e, "id")),
                       json_is_string(ver) ? "every" : "");
                if (json_is_integer(ver))
                    printf("\rv%-7lld ", (long long)json_integer_value(ver));
                sl_cli_put_safe(stdout, json_string_value(json_object_get(e, "url")));
                if (json_object_get(e, "backend_model")) {
                    printf("  model=");
                    sl_cli_put_safe(stdout, json_string_value(json_object_get(e, "backend_model")));
                }
                if (json_object_get(e, "api_key_env"))
                    printf("  key=$%s", json_string_value(json_object_get(e, "api_key_env")));
                printf("  %s", json_string_value(json_object_get(e, "state")));
                if (json_is_string(json_object_get(e, "last_error"))) {
                    printf(" (last error: ");
                    sl_cli_put_safe(stdout, json_string_value(json_object_get(e, "last_error")));
                    printf(")");
                }
                printf("\n");
            }
        }
        json_decref(arr);
    } else {
        char *end;
        long long id;
        errno = 0;
        id = strtoll(a.pos[3], &end, 10);
        if (errno || *end || end == a.pos[3] || id <= 0) {
            sl_registry_close(r);
            return sl_cli_usage("hosted", "backend remove wants the backend's id, a number "
                                          "(see backend list)");
        }
        if (sl_repo_backend_remove(db, model_id, id, &err) != SL_OK)
            goto fail;
        if (json)
            printf("{\"removed\": %lld}\n", id);
        else
            printf("backend %lld of %s/%s removed\n", id, org, name);
    }
    sl_registry_close(r);
    return 0;
fail:
    code = sl_cli_fail(&err);
    sl_registry_close(r);
    return code;
}
