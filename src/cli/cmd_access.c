/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice accept`, `sluice access ...` and `sluice license ...`: the
 * requester's and the publisher's side of click-through licenses and gated
 * access (docs/access.md), and the offline checks of a license note. Also
 * the helpers the eval and governance commands share (option table,
 * connecting, dates).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/io.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define LICENSE_FILE_MAX (SL_NOTE_MAX + 1)

/* ---- shared helpers ---- */

static int find_def(const struct sl_cli_optdef *defs, const char *name)
{
    for (int i = 0; defs[i].name && i < SL_CLI_MAX_OPTS; i++)
        if (strcmp(defs[i].name, name) == 0)
            return i;
    return -1;
}

int sl_cli_args_parse(struct sl_cli_args *a, const char *cmd, const struct sl_cli_optdef *defs,
                      int argc, char **argv)
{
    struct sl_opt o;
    const char *arg;
    bool is_opt;
    int code = 0;

    memset(a, 0, sizeof(*a));
    a->defs = defs;
    sl_opt_init(&o, cmd, argc, argv);
    while ((arg = sl_opt_next(&o, &is_opt)) != NULL) {
        int i;
        const char *v;
        if (!is_opt) {
            if (a->npos == SL_CLI_MAX_POS) {
                code = sl_cli_usage(cmd, "too many arguments");
                break;
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        i = find_def(defs, arg);
        if (i < 0) {
            code = sl_cli_usage(cmd, "unknown option %s", arg);
            break;
        }
        a->seen[i] = true;
        if (defs[i].kind == SL_OPT_FLAG) {
            if (o.value) {
                code = sl_cli_usage(cmd, "%s takes no value", arg);
                break;
            }
            continue;
        }
        if (!(v = sl_opt_value(&o, arg))) {
            code = 2;
            break;
        }
        a->value[i] = v;
        if (defs[i].kind == SL_OPT_LIST) {
            if (a->nlist[i] == SL_CLI_MAX_LIST) {
                code = sl_cli_usage(cmd, "%s given more than %d times", arg, SL_CLI_MAX_LIST);
                break;
            }
            a->list[i][a->nlist[i]++] = v;
        }
    }
    sl_opt_release(&o);
    return code;
}

bool sl_cli_has(const struct sl_cli_args *a, const char *name)
{
    int i = find_def(a->defs, name);
    return i >= 0 && a->seen[i];
}

const char *sl_cli_val(const struct sl_cli_args *a, const char *name)
{
    int i = find_def(a->defs, name);
    return i >= 0 ? a->value[i] : NULL;
}

const char *const *sl_cli_vals(const struct sl_cli_args *a, const char *name, size_t *n)
{
    int i = find_def(a->defs, name);

    *n = i >= 0 ? a->nlist[i] : 0;
    return i >= 0 ? a->list[i] : NULL;
}

int sl_cli_connect(struct sl_client_config *cfg, struct sl_client **cl)
{
    struct sl_error err;

    sl_error_clear(&err);
    *cl = NULL;
    if (sl_client_config_load(cfg, &err))
        return sl_cli_fail(&err);
    if (!cfg->url) {
        sl_error_set(&err, SL_EUSAGE,
                     "no server configured: run `sluice login URL --token TOKEN` or set "
                     "SLUICE_URL");
        sl_client_config_release(cfg);
        return sl_cli_fail(&err);
    }
    if (sl_client_new(cfg->url, cfg->token, cl, &err)) {
        sl_client_config_release(cfg);
        return sl_cli_fail(&err);
    }
    return 0;
}

void sl_cli_put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

int sl_cli_future_date(const char *cmd, const char *opt, const char *value)
{
    int64_t t;

    if (!sl_gov_parse_time(value, &t))
        return sl_cli_usage(cmd, "%s \"%s\": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", opt,
                            value);
    if (t <= (int64_t)time(NULL))
        return sl_cli_usage(cmd, "%s %s is not in the future", opt, value);
    return 0;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void put_line(const char *label, const char *value)
{
    printf("  %-13s ", label);
    sl_cli_put_safe(stdout, value);
    fputc('\n', stdout);
}

/* Model spec with or without "@REV": `rev` NULL means the server's default. */
static int model_arg(const char *cmd, const char *spec, bool allow_rev, char **org, char **name,
                     char **rev)
{
    struct sl_error err;
    char *r = NULL;

    sl_error_clear(&err);
    if (rev)
        *rev = NULL;
    if (!spec)
        return sl_cli_usage(cmd, "give ORG/NAME%s", allow_rev ? "[@REV]" : "");
    if (sl_client_parse_model(spec, org, name, allow_rev ? &r : NULL, &err))
        return sl_cli_usage(cmd, "%s", err.msg);
    /* Without "@REV" the server's default (main) applies. */
    if (rev && strchr(spec, '@'))
        *rev = r;
    else
        free(r);
    return 0;
}

/* ---- sluice accept ---- */

int sl_cmd_accept(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG}, {"--show", SL_OPT_FLAG}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL;
    json_t *terms = NULL, *res = NULL;
    const char *sha;
    int code;

    sl_error_clear(&err);
    code = sl_cli_args_parse(&a, "accept", defs, argc, argv);
    if (code)
        return code;
    if (a.npos > 1)
        return sl_cli_usage("accept", "unexpected argument \"%s\"", a.pos[1]);
    code = model_arg("accept", a.npos ? a.pos[0] : NULL, true, &org, &name, &rev);
    if (code)
        goto out;
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    /* Read the terms first and accept exactly that text: if the publisher
     * changes it in between, the server refuses instead of recording an
     * acceptance of a text nobody was shown. */
    if (sl_client_terms(cl, org, name, rev, &terms, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--show")) {
        if (sl_cli_has(&a, "--json")) {
            sl_cli_print_json(terms);
        } else {
            const char *text = json_string_value(json_object_get(terms, "license"));
            fprintf(stderr, "%s version %lld (commit %.12s), tier %s; license sha256 %s%s\n",
                    str(terms, "model"),
                    (long long)json_integer_value(json_object_get(terms, "version")),
                    str(terms, "commit"), str(terms, "tier"), str(terms, "license_sha256"),
                    json_is_true(json_object_get(terms, "accepted")) ? " (accepted)" : "");
            if (text) {
                sl_cli_put_text(stdout, text);
                if (text[0] && text[strlen(text) - 1] != '\n')
                    fputc('\n', stdout);
            } else {
                printf("(no license text)\n");
            }
            if (json_is_false(json_object_get(terms, "license_given")))
                fprintf(stderr, "(the publisher gave no license text: this is the default)\n");
        }
        goto out;
    }
    sha = json_string_value(json_object_get(terms, "license_sha256"));
    if (sl_client_accept(cl, org, name, rev, sha, &res, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        sl_cli_print_json(res);
    } else {
        printf("Accepted the license of %s version %lld (sha256 %s).\n", str(terms, "model"),
               (long long)json_integer_value(json_object_get(terms, "version")),
               json_string_value(json_object_get(res, "license_sha256"))
                   ? str(res, "license_sha256")
                   : str(terms, "license_sha256"));
        printf("It covers every version with the same text; `sluice accept %s/%s --show` prints "
               "it.\n",
               org, name);
    }
out:
    json_decref(terms);
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    return code;
}

/* ---- sluice access ---- */

static void print_request(json_t *r, const char *model)
{
    const char *status = str(r, "status");
    json_t *fields = json_object_get(r, "fields");
    const char *k;
    json_t *v;

    printf("%s: ", model);
    sl_cli_put_safe(stdout, status[0] ? status : "unknown");
    if (json_string_value(json_object_get(r, "user"))) {
        printf(" (");
        sl_cli_put_safe(stdout, str(r, "user"));
        printf(")");
    }
    printf("\n");
    if (str(r, "purpose")[0])
        put_line("purpose", str(r, "purpose"));
    json_object_foreach(fields, k, v)
    {
        char label[64];
        snprintf(label, sizeof(label), "field %s", k);
        put_line(label, json_string_value(v) ? json_string_value(v) : "");
    }
    if (str(r, "created")[0])
        put_line("requested", str(r, "created"));
    if (str(r, "decided")[0])
        put_line("decided", str(r, "decided"));
    if (str(r, "auto_rule")[0])
        put_line("approved by", str(r, "auto_rule"));
    if (strcmp(status, "approved") == 0 || str(r, "expires")[0])
        put_line("expires", str(r, "expires")[0] ? str(r, "expires") : "never");
    if (str(r, "reason")[0])
        put_line("reason", str(r, "reason"));
    if (str(r, "appeal")[0])
        put_line("appeal", str(r, "appeal"));
    {
        json_t *h = json_object_get(r, "history"), *e;
        size_t i;
        json_array_foreach(h, i, e)
        {
            char line[700];
            snprintf(line, sizeof(line), "%s %s: %s", str(e, "status"), str(e, "at"),
                     str(e, "reason"));
            put_line("earlier", line);
        }
        if (json_array_size(h) > 0 && strcmp(status, "pending") == 0)
            put_line("note", "revoked or denied before: no rule approves this request, only a "
                             "publisher");
    }
}

static void request_hint(json_t *r, const char *org, const char *name)
{
    const char *status = str(r, "status");

    if (strcmp(status, "pending") == 0)
        printf("The publisher decides; `sluice access status %s/%s` shows the decision.\n", org,
               name);
    else if (strcmp(status, "approved") == 0)
        printf("You may download: `sluice pull %s/%s` (saves your license as LICENSE.sluice).\n",
               org, name);
    else if (strcmp(status, "denied") == 0 &&
             (json_is_true(json_object_get(r, "final")) || str(r, "appeal")[0]))
        printf("This denial is final.\n");
    else if (strcmp(status, "denied") == 0)
        printf("You may appeal once: `sluice access appeal %s/%s --text TEXT`.\n", org, name);
    else if (strcmp(status, "revoked") == 0 || strcmp(status, "expired") == 0)
        printf("A new request starts over: `sluice access request %s/%s --purpose TEXT`.\n", org,
               name);
}

static void print_list(json_t *list)
{
    json_t *e;
    size_t i;

    if (json_array_size(list) == 0) {
        printf("no requests\n");
        return;
    }
    printf("%-20s %-9s %-20s %-20s %s\n", "USER", "STATUS", "REQUESTED", "EXPIRES", "PURPOSE");
    json_array_foreach(list, i, e)
    {
        char purpose[64];
        const char *p = str(e, "purpose");
        if (strlen(p) > 60)
            snprintf(purpose, sizeof(purpose), "%.57s...", p);
        else
            snprintf(purpose, sizeof(purpose), "%s", p);
        printf("%-20s %-9s %-20s %-20s ", str(e, "user"), str(e, "status"), str(e, "created"),
               str(e, "expires")[0] ? str(e, "expires") : "-");
        sl_cli_put_safe(stdout, purpose);
        fputc('\n', stdout);
        {
            /* earlier revocations and final denials, beside the request */
            json_t *h = json_object_get(e, "history"), *x;
            size_t j;
            json_array_foreach(h, j, x)
            {
                printf("%-20s   earlier %s %s: ", "", str(x, "status"), str(x, "at"));
                sl_cli_put_safe(stdout, str(x, "reason"));
                fputc('\n', stdout);
            }
        }
    }
}

static void print_rules(json_t *r, const char *model)
{
    static const char *const keys[] = {"email_domains", "orgs", "fields"};
    static const char *const labels[] = {"email domains", "orgs", "fields"};

    printf("%s: access rules\n", model);
    put_line("everyone",
             json_is_true(json_object_get(r, "everyone")) ? "yes (auto-approve)" : "no");
    for (size_t k = 0; k < 3; k++) {
        json_t *arr = json_object_get(r, keys[k]), *e;
        size_t i;
        printf("  %-13s ", labels[k]);
        if (json_array_size(arr) == 0)
            printf("none");
        json_array_foreach(arr, i, e)
        {
            if (i)
                printf(", ");
            sl_cli_put_safe(stdout, json_string_value(e) ? json_string_value(e) : "?");
        }
        fputc('\n', stdout);
    }
}

/* Adds `v` to the string array `arr` unless it is there. */
static void add_unique(json_t *arr, const char *v)
{
    json_t *e;
    size_t i;

    json_array_foreach(arr, i, e)
    {
        if (json_string_value(e) && strcmp(json_string_value(e), v) == 0)
            return;
    }
    json_array_append_new(arr, json_string(v));
}

static bool field_key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Applies the change options of `access rules` to `r`; 2 on bad usage. */
static int edit_rules(const struct sl_cli_args *a, json_t *r)
{
    static const char *const opts[] = {"--email-domain", "--org", "--require-field"};
    static const char *const keys[] = {"email_domains", "orgs", "fields"};

    if (sl_cli_has(a, "--everyone") && sl_cli_has(a, "--no-everyone"))
        return sl_cli_usage("access rules", "--everyone and --no-everyone exclude each other");
    if (sl_cli_has(a, "--clear")) {
        json_object_set_new(r, "everyone", json_false());
        for (size_t k = 0; k < 3; k++)
            json_object_set_new(r, keys[k], json_array());
    }
    if (sl_cli_has(a, "--everyone"))
        json_object_set_new(r, "everyone", json_true());
    if (sl_cli_has(a, "--no-everyone"))
        json_object_set_new(r, "everyone", json_false());
    for (size_t k = 0; k < 3; k++) {
        size_t n;
        const char *const *v = sl_cli_vals(a, opts[k], &n);
        json_t *arr = json_object_get(r, keys[k]);
        if (!json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(r, keys[k], arr);
        }
        for (size_t i = 0; i < n; i++) {
            if (k == 2 && !field_key_ok(v[i], strlen(v[i])))
                return sl_cli_usage("access rules",
                                    "--require-field \"%s\": keys are 1-32 of a-z "
                                    "0-9 _ -",
                                    v[i]);
            if (k != 2 && (!v[i][0] || strchr(v[i], ' ')))
                return sl_cli_usage("access rules", "%s \"%s\": expected a name", opts[k], v[i]);
            add_unique(arr, v[i]);
        }
    }
    return 0;
}

static int access_request_fields(const struct sl_cli_args *a, json_t **fields)
{
    size_t n;
    const char *const *v = sl_cli_vals(a, "--field", &n);

    *fields = NULL;
    if (n == 0)
        return 0;
    if (n > 16)
        return sl_cli_usage("access request", "at most 16 --field options");
    *fields = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(v[i], '=');
        char key[33];
        if (!eq || !field_key_ok(v[i], (size_t)(eq - v[i])))
            return sl_cli_usage("access request",
                                "--field \"%s\": expected KEY=VALUE, KEY 1-32 of a-z 0-9 _ -",
                                v[i]);
        if (strlen(eq + 1) > 500 ||
            !sl_utf8_valid((const unsigned char *)eq + 1, strlen(eq + 1), NULL))
            return sl_cli_usage("access request",
                                "--field %.*s: the value must be UTF-8, at most 500 bytes",
                                (int)(eq - v[i]), v[i]);
        memcpy(key, v[i], (size_t)(eq - v[i]));
        key[eq - v[i]] = '\0';
        json_object_set_new(*fields, key, json_string(eq + 1));
    }
    return 0;
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return sl_utf8_valid((const unsigned char *)s, n, NULL);
}

int sl_cmd_access(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG},        {"--purpose", SL_OPT_VALUE},
        {"--field", SL_OPT_LIST},       {"--status", SL_OPT_VALUE},
        {"--expires", SL_OPT_VALUE},    {"--reason", SL_OPT_VALUE},
        {"--text", SL_OPT_VALUE},       {"--everyone", SL_OPT_FLAG},
        {"--no-everyone", SL_OPT_FLAG}, {"--email-domain", SL_OPT_LIST},
        {"--org", SL_OPT_LIST},         {"--require-field", SL_OPT_LIST},
        {"--clear", SL_OPT_FLAG},       {NULL, SL_OPT_FLAG}};
    /* Which options each subcommand takes (besides --json) and its
     * positional arguments after ORG/NAME. */
    static const struct {
        const char *name, *opts;
        size_t extra;
    } subs[] = {
        {"request", "--purpose --field", 0},
        {"status", "", 0},
        {"list", "--status", 0},
        {"approve", "--expires", 1},
        {"deny", "--reason", 1},
        {"revoke", "--reason", 1},
        {"appeal", "--text", 0},
        {"rules", "--everyone --no-everyone --email-domain --org --require-field --clear", 0},
    };
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *model = NULL, cmd[32];
    json_t *res = NULL, *fields = NULL, *rules = NULL;
    const char *sub = argc > 1 ? argv[1] : NULL;
    size_t si;
    bool json;
    int code;

    sl_error_clear(&err);
    for (si = 0; sub && si < SL_ARRAY_LEN(subs); si++)
        if (strcmp(sub, subs[si].name) == 0)
            break;
    if (!sub || si == SL_ARRAY_LEN(subs))
        return sl_cli_usage("access",
                            "expected request, status, list, approve, deny, revoke, "
                            "appeal or rules%s%s%s",
                            sub ? " (not \"" : "", sub ? sub : "", sub ? "\")" : "");
    snprintf(cmd, sizeof(cmd), "access %s", sub);
    code = sl_cli_args_parse(&a, cmd, defs, argc - 1, argv + 1);
    if (code)
        return code;
    for (size_t i = 0; defs[i].name; i++) {
        size_t len = strlen(defs[i].name);
        const char *p = subs[si].opts;
        bool ok = strcmp(defs[i].name, "--json") == 0;
        if (!a.seen[i] || ok)
            continue;
        while ((p = strstr(p, defs[i].name)) != NULL) {
            if (p[len] == ' ' || p[len] == '\0') {
                ok = true;
                break;
            }
            p += len;
        }
        if (!ok)
            return sl_cli_usage(cmd, "%s does not apply here", defs[i].name);
    }
    if (a.npos != 1 + subs[si].extra)
        return sl_cli_usage(cmd, "expected ORG/NAME%s", subs[si].extra ? " USER" : "");
    json = sl_cli_has(&a, "--json");
    code = model_arg(cmd, a.pos[0], false, &org, &name, NULL);
    if (code)
        goto out;
    model = sl_xasprintf("%s/%s", org, name);
    /* Local checks first: nothing is sent for a request the server must refuse. */
    for (size_t i = 0; defs[i].name; i++) {
        const char *v = a.value[i];
        if (v && !sl_utf8_valid((const unsigned char *)v, strlen(v), NULL)) {
            code = sl_cli_usage(cmd, "%s: the text is not UTF-8", defs[i].name);
            goto out;
        }
    }
    if (si == 0) {
        const char *purpose = sl_cli_val(&a, "--purpose");
        if (!purpose) {
            code = sl_cli_usage(cmd, "--purpose TEXT is required (say what the weights are for)");
            goto out;
        }
        if (!text_ok(purpose, 2000)) {
            code = sl_cli_usage(cmd, "--purpose: 1 to 2,000 bytes of UTF-8 text on one line");
            goto out;
        }
        code = access_request_fields(&a, &fields);
        if (code)
            goto out;
    } else if (si == 3 && sl_cli_val(&a, "--expires")) {
        code = sl_cli_future_date(cmd, "--expires", sl_cli_val(&a, "--expires"));
        if (code)
            goto out;
    } else if ((si == 4 || si == 5) &&
               (!sl_cli_val(&a, "--reason") || !sl_cli_val(&a, "--reason")[0])) {
        code = sl_cli_usage(cmd, "--reason TEXT is required: the requester is shown it");
        goto out;
    } else if (si == 6 && (!sl_cli_val(&a, "--text") || !sl_cli_val(&a, "--text")[0])) {
        code = sl_cli_usage(cmd, "--text TEXT is required");
        goto out;
    } else if (si == 2 && sl_cli_val(&a, "--status")) {
        static const char *const states[] = {"pending", "approved", "denied", "revoked", "expired"};
        bool ok = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(states); i++)
            ok = ok || strcmp(sl_cli_val(&a, "--status"), states[i]) == 0;
        if (!ok) {
            code = sl_cli_usage(cmd, "--status is pending, approved, denied, revoked or expired");
            goto out;
        }
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    switch (si) {
    case 0:
        code = sl_client_access_request(cl, org, name, sl_cli_val(&a, "--purpose"), fields, &res,
                                        &err);
        break;
    case 1:
        code = sl_client_access_me(cl, org, name, &res, &err);
        if (code == SL_ENOTFOUND && !json_object_get(sl_client_last_error(cl), "tier")) {
            /* Distinguish "no request" from "no model": the terms say. */
            json_t *t = NULL;
            struct sl_error e2;
            if (sl_client_terms(cl, org, name, NULL, &t, &e2) == SL_OK)
                sl_error_set(&err, SL_ENOTFOUND,
                             "%s: you have not asked for access (`sluice access request %s "
                             "--purpose TEXT`)",
                             model, model);
            json_decref(t);
        }
        break;
    case 2:
        code = sl_client_access_list(cl, org, name, sl_cli_val(&a, "--status"), &res, &err);
        break;
    case 3:
        code = sl_client_access_decide(cl, org, name, a.pos[1], "approve",
                                       sl_cli_val(&a, "--expires"), &res, &err);
        break;
    case 4:
    case 5:
        code = sl_client_access_decide(cl, org, name, a.pos[1], sub, sl_cli_val(&a, "--reason"),
                                       &res, &err);
        break;
    case 6:
        code = sl_client_access_appeal(cl, org, name, sl_cli_val(&a, "--text"), &res, &err);
        break;
    default: {
        bool change = false;
        static const char *const change_opts[] = {
            "--everyone", "--no-everyone", "--clear", "--email-domain", "--org", "--require-field"};
        for (size_t i = 0; i < SL_ARRAY_LEN(change_opts); i++)
            change = change || sl_cli_has(&a, change_opts[i]);
        code = sl_client_access_rules_get(cl, org, name, &rules, &err);
        if (code || !change) {
            res = rules;
            rules = NULL;
            break;
        }
        code = edit_rules(&a, rules);
        if (code)
            goto out;
        code = sl_client_access_rules_put(cl, org, name, rules, &res, &err);
        /* Show what the server now holds; an answer without the rules
         * (an acknowledgement) falls back to what was sent. */
        if (!code && !json_object_get(res, "everyone")) {
            json_decref(res);
            res = json_incref(rules);
        }
        break;
    }
    }
    if (code) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json) {
        sl_cli_print_json(res);
        goto out;
    }
    switch (si) {
    case 0:
        print_request(res, model);
        request_hint(res, org, name);
        break;
    case 1:
        print_request(res, model);
        request_hint(res, org, name);
        break;
    case 2:
        print_list(res);
        break;
    case 3: {
        const char *lic = json_string_value(json_object_get(res, "license"));
        struct sl_license_check lc;
        printf("Approved %s for %s", a.pos[1], model);
        printf(" (expires %s).\n", str(res, "expires")[0] ? str(res, "expires") : "never");
        if (lic && sl_client_license_read(lic, strlen(lic), &lc, NULL) == SL_OK)
            printf("License %s issued for version commit %.12s.\n", lc.lic.id, lc.lic.commit);
        break;
    }
    case 4:
    case 5:
        printf("%s %s for %s; the reason is shown to them.\n",
               si == 4 ? "Denied" : "Revoked the access of", a.pos[1], model);
        if (si == 5)
            printf("Downloads in progress stop at their next request; the license is on the "
                   "revocation list.\n");
        break;
    case 6:
        print_request(res, model);
        printf("The appeal is sent; the publisher decides again.\n");
        break;
    default:
        print_rules(res, model);
        break;
    }
out:
    json_decref(res);
    json_decref(rules);
    json_decref(fields);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(model);
    free(org);
    free(name);
    return code;
}

/* ---- sluice license ---- */

static const char *time_text(int64_t t, char *buf)
{
    return t ? sl_gov_time(t, buf) : "never";
}

static json_t *license_json(const struct sl_license_check *c)
{
    char t[24];
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(c->lic.id));
    json_object_set_new(o, "model", json_string(c->lic.model));
    json_object_set_new(o, "commit", json_string(c->lic.commit));
    json_object_set_new(o, "tier", json_string(c->lic.tier));
    json_object_set_new(o, "licensee", json_string(c->lic.licensee));
    json_object_set_new(o, "purpose", json_string(c->lic.purpose));
    json_object_set_new(o, "issued", json_string(sl_gov_time(c->lic.issued, t)));
    json_object_set_new(o, "expires",
                        c->lic.expires ? json_string(sl_gov_time(c->lic.expires, t)) : json_null());
    json_object_set_new(o, "fingerprint_recipient",
                        c->lic.fingerprint ? json_integer(c->lic.fingerprint) : json_null());
    json_object_set_new(o, "signer", json_string(c->signer));
    {
        char id[9];
        snprintf(id, sizeof(id), "%08x", (unsigned)c->signer_id);
        json_object_set_new(o, "key_id", json_string(id));
    }
    return o;
}

static void print_license(const struct sl_license_check *c)
{
    char t[24];

    printf("sluice license %s\n", c->lic.id);
    put_line("model", c->lic.model);
    put_line("commit", c->lic.commit);
    put_line("tier", c->lic.tier);
    put_line("licensee", c->lic.licensee);
    put_line("purpose", c->lic.purpose);
    put_line("issued", sl_gov_time(c->lic.issued, t));
    put_line("expires", time_text(c->lic.expires, t));
    if (c->lic.fingerprint) {
        char fp[96];
        snprintf(fp, sizeof(fp), "yes: downloads carry marks that identify recipient %u",
                 (unsigned)c->lic.fingerprint);
        put_line("fingerprinted", fp);
    }
    printf("  %-13s ", "signed by");
    sl_cli_put_safe(stdout, c->signer);
    printf(" (key ID %08x)\n", (unsigned)c->signer_id);
}

static int read_note_file(const char *path, char **text, size_t *len)
{
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_read_file(path, LICENSE_FILE_MAX, text, len, &err)) {
        if (err.code == SL_ELIMIT)
            sl_error_set(&err, SL_EINPUT, "%s: larger than a signed note may be (%u bytes)", path,
                         (unsigned)SL_NOTE_MAX);
        return sl_cli_fail(&err);
    }
    return 0;
}

static int license_show(const struct sl_cli_args *a)
{
    struct sl_license_check c;
    struct sl_error err;
    char *text = NULL;
    size_t len = 0;
    int code;

    sl_error_clear(&err);
    if (a->npos != 2)
        return sl_cli_usage("license show", "expected FILE");
    code = read_note_file(a->pos[1], &text, &len);
    if (code)
        return code;
    if (sl_client_license_read(text, len, &c, &err)) {
        sl_error_prefix(&err, "%s", a->pos[1]);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json")) {
        json_t *o = license_json(&c);
        sl_cli_print_json(o);
        json_decref(o);
    } else {
        print_license(&c);
        printf("The signature is not checked here: `sluice license verify %s` does.\n", a->pos[1]);
    }
out:
    free(text);
    return code;
}

/* The key to verify with: --key, else the key pinned for the configured
 * server (fetched and pinned at first contact when `online`). `cl` is set
 * when `online`. */
static int verify_key(const struct sl_cli_args *a, bool online, struct sl_client_config *cfg,
                      struct sl_client **cl, struct sl_note_key *k, char *key_desc, size_t cap)
{
    const char *given = sl_cli_val(a, "--key");
    struct sl_error err;
    bool pinned_now = false;
    int code;

    sl_error_clear(&err);
    if (given) {
        if (sl_note_vkey_parse(given, strlen(given), k, &err))
            return sl_cli_usage("license verify", "--key: %s", err.msg);
        snprintf(key_desc, cap, "the key given with --key");
        if (!online)
            return 0;
        return sl_cli_connect(cfg, cl);
    }
    if (online) {
        code = sl_cli_connect(cfg, cl);
        if (code)
            return code;
        if (sl_client_server_key(*cl, k, &pinned_now, &err))
            return sl_cli_fail(&err);
        snprintf(key_desc, cap, "the key of %s, %s", cfg->url,
                 pinned_now ? "pinned now (first contact)" : "as pinned");
        return 0;
    }
    if (sl_client_config_load(cfg, &err))
        return sl_cli_fail(&err);
    if (!cfg->url) {
        sl_error_set(&err, SL_EUSAGE,
                     "no key to verify with: give --key VKEY, or log in to the server that "
                     "issued the license (`sluice login`) and run with --online once to pin "
                     "its key");
        return sl_cli_fail(&err);
    }
    if (sl_client_pinned_key(cfg->url, k, &err)) {
        if (err.code == SL_ENOTFOUND)
            sl_error_set(&err, SL_EUSAGE,
                         "no key of %s is pinned yet: run `sluice license verify FILE --online` "
                         "(pins it at first contact) or give --key VKEY",
                         cfg->url);
        return sl_cli_fail(&err);
    }
    snprintf(key_desc, cap, "the key pinned for %s", cfg->url);
    return 0;
}

static int license_verify(const struct sl_cli_args *a)
{
    struct sl_license_check c;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_note_key k;
    struct sl_error err;
    char *text = NULL, *revs = NULL, desc[600], t1[24], t2[24];
    size_t len = 0, rlen = 0;
    bool online = sl_cli_has(a, "--online"), json = sl_cli_has(a, "--json");
    enum sl_err rc;
    int code;

    sl_error_clear(&err);
    memset(&k, 0, sizeof(k));
    if (a->npos != 2)
        return sl_cli_usage("license verify", "expected FILE");
    code = read_note_file(a->pos[1], &text, &len);
    if (code)
        return code;
    /* A file that is no license at all is reported before any key is needed. */
    if (sl_client_license_read(text, len, &c, &err)) {
        sl_error_prefix(&err, "%s", a->pos[1]);
        code = sl_cli_fail(&err);
        goto out;
    }
    code = verify_key(a, online, &cfg, &cl, &k, desc, sizeof(desc));
    if (code)
        goto out;
    if (online && sl_client_revocations(cl, &revs, &rlen, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    rc = sl_client_license_verify(text, len, &k, (int64_t)time(NULL), revs, rlen, &c, &err);
    if (rc == SL_EINPUT || rc == SL_ELIMIT) {
        sl_error_prefix(&err, "%s", a->pos[1]);
        code = sl_cli_fail(&err);
        goto out;
    }
    code = rc ? 1 : 0;
    if (json) {
        json_t *o = license_json(&c);
        char vk[SL_NOTE_VKEY_MAX];
        json_object_set_new(o, "valid", json_boolean(rc == SL_OK));
        json_object_set_new(o, "reason", rc ? json_string(err.msg) : json_null());
        json_object_set_new(o, "problem", rc && err.kind ? json_string(err.kind) : json_null());
        json_object_set_new(o, "signature_ok", json_boolean(c.signature_ok));
        json_object_set_new(o, "expired", json_boolean(c.expired));
        if (sl_note_vkey(&k, vk, sizeof(vk), NULL) == SL_OK)
            json_object_set_new(o, "key", json_string(vk));
        json_object_set_new(o, "revocations_checked", json_boolean(c.revocations_checked));
        json_object_set_new(o, "revoked", json_boolean(c.revoked));
        if (c.revoked)
            json_object_set_new(o, "revoked_at", json_string(sl_gov_time(c.revoked_at, t1)));
        if (c.revocations_checked)
            json_object_set_new(o, "revocations_updated",
                                json_string(sl_gov_time(c.revocations_updated, t1)));
        sl_cli_print_json(o);
        json_decref(o);
        goto out;
    }
    if (rc) {
        printf("INVALID: %s: ", a->pos[1]);
        sl_cli_put_safe(stdout, err.msg);
        printf("\n");
    } else {
        printf("VALID: license %s for %s (commit %.12s), tier %s, expires %s\n", c.lic.id,
               c.lic.model, c.lic.commit, c.lic.tier, time_text(c.lic.expires, t1));
        if (c.lic.fingerprint)
            printf("  fingerprinted downloads carry marks that identify recipient %u\n",
                   (unsigned)c.lic.fingerprint);
    }
    if (c.signature_ok) {
        printf("  signature     good, by \"");
        sl_cli_put_safe(stdout, k.name);
        printf("\" (key ID %08x), %s\n", (unsigned)k.id, desc);
        printf("  expiry        %s (local clock)\n", c.expired       ? "expired"
                                                     : c.lic.expires ? "not yet"
                                                                     : "never expires");
        if (c.revocations_checked)
            printf("  revocation    %s; list updated %s\n", c.revoked ? "REVOKED" : "not revoked",
                   sl_gov_time(c.revocations_updated, t2));
        else if (!online)
            printf("  revocation    not checked (offline; --online asks the server)\n");
    }
out:
    sl_note_key_clear(&k);
    free(revs);
    free(text);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

static int license_get(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_license_check c;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *text = NULL, t[24];
    const char *out_path = sl_cli_val(a, "--out");
    size_t len = 0;
    bool pinned_now = false;
    int code;

    sl_error_clear(&err);
    if (a->npos != 2)
        return sl_cli_usage("license get", "expected ORG/NAME[@REV]");
    if (out_path && !out_path[0])
        return sl_cli_usage("license get", "--out needs a file name");
    code = model_arg("license get", a->pos[1], true, &org, &name, &rev);
    if (code)
        return code;
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_license_fetch(cl, org, name, rev, &text, &len, &c, &pinned_now, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (out_path) {
        if (sl_client_write_file(out_path, text, len, 0644, &err)) {
            code = sl_cli_fail(&err);
            goto out;
        }
        fprintf(stderr, "Saved license %s of %s (commit %.12s, expires %s) to %s.\n", c.lic.id,
                c.lic.model, c.lic.commit, time_text(c.lic.expires, t), out_path);
    } else {
        fwrite(text, 1, len, stdout);
    }
    if (pinned_now)
        fprintf(stderr, "Pinned the key of %s (first contact): %s.\n", cfg.url, c.signer);
out:
    free(text);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    return code;
}

int sl_cmd_license(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--json", SL_OPT_FLAG},
                                                {"--out", SL_OPT_VALUE},
                                                {"--online", SL_OPT_FLAG},
                                                {"--key", SL_OPT_VALUE},
                                                {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    const char *sub;
    int code = sl_cli_args_parse(&a, "license", defs, argc, argv);

    if (code)
        return code;
    sub = a.npos ? a.pos[0] : "";
    if (strcmp(sub, "get") == 0) {
        if (sl_cli_has(&a, "--online") || sl_cli_has(&a, "--key") || sl_cli_has(&a, "--json"))
            return sl_cli_usage("license get", "takes only --out");
        return license_get(&a);
    }
    if (strcmp(sub, "show") == 0) {
        if (sl_cli_has(&a, "--online") || sl_cli_has(&a, "--key") || sl_cli_has(&a, "--out"))
            return sl_cli_usage("license show", "takes only --json");
        return license_show(&a);
    }
    if (strcmp(sub, "verify") == 0) {
        if (sl_cli_has(&a, "--out"))
            return sl_cli_usage("license verify", "--out does not apply");
        return license_verify(&a);
    }
    return sl_cli_usage("license", "expected get, show or verify");
}
