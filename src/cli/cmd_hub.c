/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The commands a hub user expects (gh and hf are the anchors): `sluice
 * models` lists what the server has, `sluice show` one model with its
 * versions, commits, tiers, decision and open obligations, `sluice whoami`
 * the account behind the saved token, `sluice logout` forgets that token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/util.h"
#include "registry/registry.h"
#include "common/banned.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Prints `s` (from the server) padded to `w` columns; control characters
 * are shown escaped, never sent to the terminal. */
static void cell(const char *s, int w)
{
    size_t n = strlen(s);

    sl_cli_put_safe(stdout, s);
    for (int i = (int)n; i < w; i++)
        fputc(' ', stdout);
    fputc(' ', stdout);
}

int sl_cmd_models(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--search", SL_OPT_VALUE},
                                                {"--org", SL_OPT_VALUE},
                                                {"--json", SL_OPT_FLAG},
                                                {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    const char *search, *org;
    json_t *list = NULL, *m;
    size_t i;
    int code;

    sl_error_clear(&err);
    code = sl_cli_args_parse(&a, "models", defs, argc, argv);
    if (code)
        return code;
    if (a.npos)
        return sl_cli_usage("models", "unexpected argument \"%s\"", a.pos[0]);
    search = sl_cli_val(&a, "--search");
    org = sl_cli_val(&a, "--org");
    if (search && strlen(search) > 200)
        return sl_cli_usage("models", "--search: at most 200 bytes");
    if (org && !sl_name_ok(org))
        return sl_cli_usage("models", "--org \"%.100s\" is not an org name", org);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    if (sl_client_models(cl, search, org, &list, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        sl_cli_print_json(list);
        goto out;
    }
    if (json_array_size(list) == 0) {
        printf("No models%s%s%s%s.\n", search ? " matching \"" : "", search ? search : "",
               search ? "\"" : "", org ? " in that org" : "");
        goto out;
    }
    cell("MODEL", 32);
    cell("TIER", 8);
    cell("VERSION", 7);
    cell("DOWNLOADS", 9);
    printf("UPDATED\n");
    json_array_foreach(list, i, m)
    {
        json_t *sl = json_object_get(m, "sluice");
        char v[32], d[32], day[11];
        snprintf(v, sizeof(v), "v%lld",
                 (long long)json_integer_value(json_object_get(sl, "version")));
        snprintf(d, sizeof(d), "%lld",
                 (long long)json_integer_value(json_object_get(m, "downloads")));
        snprintf(day, sizeof(day), "%s", str(m, "lastModified"));
        cell(str(m, "id"), 32);
        cell(str(sl, "tier"), 8);
        cell(v, 7);
        cell(d, 9);
        sl_cli_put_safe(stdout, day);
        fputc('\n', stdout);
    }
out:
    json_decref(list);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

static void print_rules(json_t *d)
{
    json_t *e;
    size_t i;

    printf("  rules fired   ");
    if (json_array_size(json_object_get(d, "rules_fired")) == 0)
        printf("none");
    json_array_foreach(json_object_get(d, "rules_fired"), i, e)
    {
        if (i)
            printf(", ");
        sl_cli_put_safe(stdout, str(e, "rule"));
        printf(" (");
        sl_cli_put_safe(stdout, str(e, "pack"));
        printf(" -> %s)", str(e, "min_tier"));
    }
    printf("\n");
}

int sl_cmd_show(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--json", SL_OPT_FLAG}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL;
    json_t *model = NULL, *ver = NULL, *dec = NULL, *obl = NULL, *e;
    const char *main_commit;
    size_t i, nv;
    int code;

    sl_error_clear(&err);
    code = sl_cli_args_parse(&a, "show", defs, argc, argv);
    if (code)
        return code;
    if (a.npos != 1)
        return sl_cli_usage("show", "give one ORG/NAME[@REV]");
    if (sl_client_parse_model(a.pos[0], &org, &name, &rev, &err)) {
        code = sl_cli_usage("show", "%s", err.msg);
        goto out;
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_model(cl, org, name, &model, &err) ||
        sl_client_version(cl, org, name, rev, NULL, &ver, &err) ||
        sl_client_version(cl, org, name, rev, "decision", &dec, &err) ||
        sl_client_obligations(cl, org, name, rev, &obl, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        json_t *out = json_pack("{s:O, s:O, s:O, s:O}", "model", model, "version", ver, "decision",
                                dec, "obligations", obl);
        /* the version document repeats the decision: keep one copy */
        json_object_del(json_object_get(out, "version"), "decision");
        sl_cli_print_json(out);
        json_decref(out);
        goto out;
    }
    main_commit = str(json_object_get(model, "refs"), "main");
    sl_cli_put_safe(stdout, str(model, "model"));
    printf("  (tier %s, downloads %lld in the last 30 days)\n", str(model, "tier"),
           (long long)json_integer_value(json_object_get(model, "downloads")));
    printf("\nVersions (newest first)\n");
    nv = json_array_size(json_object_get(model, "versions"));
    for (i = nv; i-- > 0;) {
        char sz[32];
        e = json_array_get(json_object_get(model, "versions"), i);
        snprintf(sz, sizeof(sz), "%lld",
                 (long long)json_integer_value(json_object_get(e, "bytes_total")));
        printf("  v%-4lld %.12s  %-8s %s  %s bytes  %lld downloads%s\n",
               (long long)json_integer_value(json_object_get(e, "version")), str(e, "commit"),
               str(e, "tier"), str(e, "created"), sz,
               (long long)json_integer_value(json_object_get(e, "downloads")),
               strcmp(str(e, "commit"), main_commit) == 0 ? "  <- main" : "");
    }
    printf("\nVersion v%lld (%s)\n", (long long)json_integer_value(json_object_get(ver, "version")),
           rev);
    printf("  commit        %s\n", str(ver, "commit"));
    printf("  tier          %s (minimum %s, floor %s)\n", str(ver, "tier"), str(dec, "min_tier"),
           str(obl, "floor_tier"));
    if (json_is_false(json_object_get(ver, "downloadable"))) {
        printf("  download      not for you: ");
        sl_cli_put_safe(stdout, str(json_object_get(ver, "download_refused"), "message"));
        printf("\n");
    } else {
        printf("  download      sluice pull %s/%s@%.12s\n", org, name, str(ver, "commit"));
    }
    print_rules(dec);
    if (json_object_get(dec, "facts_inherited_from")) {
        printf("  facts         ");
        sl_cli_put_safe(stdout, str(json_object_get(dec, "facts_inherited_from"), "note"));
        printf("\n");
    }
    {
        size_t open = 0;
        json_array_foreach(json_object_get(obl, "obligations"), i, e)
        {
            if (strcmp(str(e, "status"), "open") != 0)
                continue;
            printf("  %s", open++ ? "              " : "open duties   ");
            printf("%s ", json_is_true(json_object_get(e, "blocking")) ? "[blocking]" : "[duty]");
            sl_cli_put_safe(stdout, str(e, "id"));
            printf(": ");
            sl_cli_put_safe(stdout, str(e, "title"));
            printf("\n");
        }
        if (!open)
            printf("  open duties   none\n");
    }
out:
    json_decref(model);
    json_decref(ver);
    json_decref(dec);
    json_decref(obl);
    free(org);
    free(name);
    free(rev);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

int sl_cmd_whoami(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--json", SL_OPT_FLAG}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    json_t *me = NULL, *o;
    size_t i;
    int code;

    sl_error_clear(&err);
    code = sl_cli_args_parse(&a, "whoami", defs, argc, argv);
    if (code)
        return code;
    if (a.npos)
        return sl_cli_usage("whoami", "unexpected argument \"%s\"", a.pos[0]);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    if (!cfg.token) {
        sl_error_set(&err, SL_EAUTH,
                     "not logged in to %s: run `sluice login %s` (or set SLUICE_TOKEN)", cfg.url,
                     cfg.url);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_client_whoami(cl, &me, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        json_object_set_new(me, "server", json_string(cfg.url));
        sl_cli_print_json(me);
        goto out;
    }
    sl_cli_put_safe(stdout, str(me, "name"));
    printf(" on %s (token role %s%s)\n", cfg.url,
           str(json_object_get(json_object_get(me, "auth"), "accessToken"), "role"),
           json_is_true(json_object_get(me, "isAdmin")) ? ", server admin" : "");
    printf("orgs:");
    if (json_array_size(json_object_get(me, "orgs")) == 0)
        printf(" none");
    json_array_foreach(json_object_get(me, "orgs"), i, o)
    {
        printf("%s ", i ? "," : "");
        sl_cli_put_safe(stdout, str(o, "name"));
        printf(" (%s)", strcmp(str(o, "roleInOrg"), "write") == 0 ? "publisher" : "member");
    }
    printf("\n");
out:
    json_decref(me);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

int sl_cmd_logout(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_error err;
    char *url = NULL, *path = NULL;
    bool removed = false;
    int code;

    sl_error_clear(&err);
    code = sl_cli_args_parse(&a, "logout", defs, argc, argv);
    if (code)
        return code;
    if (a.npos > 1)
        return sl_cli_usage("logout", "at most one server URL");
    if (a.npos) {
        url = sl_client_url_normalize(a.pos[0], &err);
        if (!url)
            return sl_cli_usage("logout", "%s", err.msg);
    } else {
        if (sl_client_config_load(&cfg, &err))
            return sl_cli_fail(&err);
        if (!cfg.url) {
            sl_client_config_release(&cfg);
            return sl_cli_usage("logout", "not logged in anywhere (no server configured)");
        }
        url = sl_xstrdup(cfg.url);
        sl_client_config_release(&cfg);
    }
    if (sl_client_config_forget(url, &removed, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    path = sl_client_config_path();
    if (!removed) {
        sl_error_set(&err, SL_ENOTFOUND, "no token saved for %s in %s", url,
                     path ? path : "the config file");
        code = sl_cli_fail(&err);
        goto out;
    }
    printf("Logged out of %s: its token is removed from %s.\n", url,
           path ? path : "the config file");
    if (getenv("SLUICE_TOKEN") && getenv("SLUICE_TOKEN")[0])
        printf("SLUICE_TOKEN is still set in this environment and is still used.\n");
    printf("The token itself stays valid on the server until it expires or is revoked.\n");
out:
    free(url);
    free(path);
    return code;
}
