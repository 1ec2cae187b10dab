/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice admin ...`: accounts, orgs, tokens, garbage collection and fsck,
 * run directly on a data folder (the server may be running: SQLite's WAL
 * lets both work at once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/date.h"
#include "common/util.h"
#include "registry/registry.h"
#include "common/banned.h"

struct args {
    const char *pos[6];
    size_t npos;
    const char *data, *db, *keys, *from_db, *to_db, *from_store, *to_store, *email, *affiliation,
        *country, *role, *token, *user, *scopes, *expires;
    const char *grace, *store;
    bool json, admin;
};

static int parse(int argc, char **argv, struct args *g)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG},         {"--admin", SL_OPT_FLAG},
        {"--data", SL_OPT_VALUE},        {"--email", SL_OPT_VALUE},
        {"--affiliation", SL_OPT_VALUE}, {"--country", SL_OPT_VALUE},
        {"--role", SL_OPT_VALUE},        {"--token", SL_OPT_VALUE},
        {"--user", SL_OPT_VALUE},        {"--scopes", SL_OPT_VALUE},
        {"--expires", SL_OPT_VALUE},     {"--grace", SL_OPT_VALUE},
        {"--db", SL_OPT_VALUE},          {"--keys", SL_OPT_VALUE},
        {"--from-db", SL_OPT_VALUE},     {"--to-db", SL_OPT_VALUE},
        {"--from-store", SL_OPT_VALUE},  {"--to-store", SL_OPT_VALUE},
        {"--store", SL_OPT_VALUE},       {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    int code = sl_cli_args_parse(&a, "admin", defs, argc, argv);

    memset(g, 0, sizeof(*g));
    if (code)
        return code;
    if (a.npos > SL_ARRAY_LEN(g->pos))
        return sl_cli_usage("admin", "too many arguments");
    memcpy(g->pos, a.pos, a.npos * sizeof(a.pos[0]));
    g->npos = a.npos;
    g->json = sl_cli_has(&a, "--json");
    g->admin = sl_cli_has(&a, "--admin");
    g->data = sl_cli_val(&a, "--data");
    g->db = sl_cli_val(&a, "--db");
    g->keys = sl_cli_val(&a, "--keys");
    g->from_db = sl_cli_val(&a, "--from-db");
    g->to_db = sl_cli_val(&a, "--to-db");
    g->from_store = sl_cli_val(&a, "--from-store");
    g->to_store = sl_cli_val(&a, "--to-store");
    g->email = sl_cli_val(&a, "--email");
    g->affiliation = sl_cli_val(&a, "--affiliation");
    g->country = sl_cli_val(&a, "--country");
    g->role = sl_cli_val(&a, "--role");
    g->token = sl_cli_val(&a, "--token");
    g->user = sl_cli_val(&a, "--user");
    g->scopes = sl_cli_val(&a, "--scopes");
    g->expires = sl_cli_val(&a, "--expires");
    g->grace = sl_cli_val(&a, "--grace");
    g->store = sl_cli_val(&a, "--store");
    return 0;
}

static bool is(const struct args *g, size_t i, const char *s)
{
    return g->npos > i && strcmp(g->pos[i], s) == 0;
}

static unsigned parse_scopes(const char *s, bool *ok)
{
    unsigned v = 0;

    *ok = true;
    if (!s)
        return SL_SCOPE_READ | SL_SCOPE_WRITE;
    if (strstr(s, "read"))
        v |= SL_SCOPE_READ;
    if (strstr(s, "write"))
        v |= SL_SCOPE_WRITE;
    if (strstr(s, "admin"))
        v |= SL_SCOPE_ADMIN;
    *ok = v != 0;
    return v;
}

static void print_report(json_t *rep, bool json)
{
    if (json) {
        sl_cli_print_json(rep);
        return;
    }
    {
        const char *k;
        json_t *v;
        json_object_foreach(rep, k, v)
        {
            if (json_is_array(v)) {
                size_t i;
                json_t *e;
                printf("%-22s %zu\n", k, json_array_size(v));
                json_array_foreach(v, i, e)
                {
                    printf("  - ");
                    sl_cli_put_safe(stdout, json_string_value(e));
                    printf("\n");
                }
            } else if (json_is_integer(v)) {
                printf("%-22s %lld\n", k, (long long)json_integer_value(v));
            } else if (json_is_boolean(v)) {
                printf("%-22s %s\n", k, json_is_true(v) ? "yes" : "no");
            }
        }
    }
}

struct migrate_out {
    bool json;
    json_t *tables;
    json_t *packs;
};

static void migrate_note(void *ctx, const char *table, int64_t rows, bool copied)
{
    struct migrate_out *m = ctx;

    json_array_append_new(m->tables, json_pack("{s:s, s:I, s:b}", "table", table, "rows",
                                               (json_int_t)rows, "copied", copied));
    if (!m->json) {
        printf("%-24s %10lld rows  %s\n", table, (long long)rows,
               copied ? "copied, verified" : "already there, verified");
        fflush(stdout);
    }
}

static void pack_note(void *ctx, const char *pack, uint64_t size, const char *sha256, bool copied)
{
    struct migrate_out *m = ctx;

    json_array_append_new(m->packs,
                          json_pack("{s:s, s:I, s:s, s:b}", "pack", pack, "bytes", (json_int_t)size,
                                    "sha256", sha256, "copied", copied));
    if (!m->json) {
        printf("pack %s %10llu bytes  %s\n", pack, (unsigned long long)size,
               copied ? "copied, read back, sha256 verified" : "already there, sha256 verified");
        fflush(stdout);
    }
}

/* `sluice admin migrate [--from-db sqlite:... --to-db postgresql://...]
 * [--from-store URL --to-store URL]` (docs/database.md, "Moving up"): the
 * packs first, so that every pack the copied database names is already in
 * the new store. */
static int migrate(const struct args *g)
{
    struct migrate_out m = {g->json, json_array(), json_array()};
    struct sl_error err;
    char *note = NULL;
    const char *data = sl_cli_data_dir(g->data);
    bool dbs = g->from_db || g->to_db, stores = g->from_store || g->to_store;
    int code = 0;

    sl_error_clear(&err);
    if (g->npos != 1 || (!dbs && !stores) || (dbs && (!g->from_db || !g->to_db))) {
        code = sl_cli_usage("admin", "migrate wants --from-db sqlite:PATH --to-db "
                                     "postgresql://..., --from-store URL --to-store URL, or both");
        goto out;
    }
    if (stores && (!g->from_store || !g->to_store)) {
        code = sl_cli_usage("admin", "migrate wants both --from-store and --to-store (for "
                                     "example file:DATA/packs and s3://BUCKET/PREFIX)");
        goto out;
    }
    if (stores &&
        sl_registry_migrate_store(data, g->keys, dbs ? g->from_db : sl_cli_db_url(g->db),
                                  g->from_store, g->to_store, pack_note, &m, &err) != SL_OK) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (dbs && sl_registry_migrate(data, g->keys, g->from_db, g->to_db, migrate_note, &m, &note,
                                   &err) != SL_OK) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (g->json) {
        json_t *j = json_object();
        if (dbs) {
            json_object_set(j, "tables", m.tables);
            json_object_set_new(j, "checkpoint", json_string(note));
        }
        if (stores)
            json_object_set(j, "packs", m.packs);
        sl_cli_print_json(j);
        json_decref(j);
    } else if (dbs) {
        printf("the log verifies after the move; its checkpoint:\n%s", note);
    } else {
        printf("%zu packs in %s, each verified by sha256\n", json_array_size(m.packs), g->to_store);
    }
out:
    json_decref(m.tables);
    json_decref(m.packs);
    free(note);
    return code;
}

static int admin(int argc, char **argv);

/* The configuration file's options go in front of the command line's
 * (config.c); the values parse() keeps point into them. */
int sl_cmd_admin(int argc, char **argv)
{
    struct sl_cli_conf conf;
    int code = sl_cli_conf_expand(&conf, "admin", false, argc, argv);

    if (!code)
        code = admin(conf.argc, conf.argv);
    sl_cli_conf_release(&conf);
    return code;
}

static int admin(int argc, char **argv)
{
    struct args g;
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    struct sl_error err;
    char token[SL_TOKEN_LEN + 1];
    int code = parse(argc, argv, &g);
    enum sl_err rc = SL_OK;

    if (code)
        return code;
    if (g.npos == 0)
        return sl_cli_usage("admin", "name a subcommand: user, org, token, gc, fsck, migrate");
    if (is(&g, 0, "migrate"))
        return migrate(&g);
    sl_error_clear(&err);
    memset(&ro, 0, sizeof(ro));
    ro.db = sl_cli_db_url(g.db);
    ro.store = g.store;
    ro.keys = g.keys;
    if (sl_registry_open(sl_cli_data_dir(g.data), &ro, &r, NULL, &err) != SL_OK)
        return sl_cli_fail(&err);
    if (is(&g, 0, "user") && is(&g, 1, "add") && g.npos == 3) {
        rc = sl_reg_user_add(r, g.pos[2], g.email, g.affiliation, g.country, g.admin, token, &err);
        if (!rc) {
            if (g.json) {
                json_t *j = json_pack("{s:s, s:s}", "user", g.pos[2], "token", token);
                sl_cli_print_json(j);
                json_decref(j);
            } else {
                printf("user %s created; token (shown once): %s\n", g.pos[2], token);
            }
        }
    } else if (is(&g, 0, "user") && is(&g, 1, "remove") && g.npos == 3) {
        rc = sl_reg_user_remove(r, g.pos[2], &err);
        if (!rc && g.json)
            printf("{\"removed\": \"%s\"}\n", g.pos[2]); /* a stored name: checked */
        else if (!rc)
            printf("user %s removed; its tokens no longer work\n", g.pos[2]);
    } else if (is(&g, 0, "org") && is(&g, 1, "add") && g.npos == 3) {
        rc = sl_reg_org_add(r, g.pos[2], &err);
        if (!rc && g.json)
            printf("{\"org\": \"%s\"}\n", g.pos[2]); /* a checked name: no escaping */
        else if (!rc)
            printf("org %s created\n", g.pos[2]);
    } else if (is(&g, 0, "org") && is(&g, 1, "member") && is(&g, 2, "add") && g.npos == 5) {
        rc = sl_reg_member_add(r, g.pos[3], g.pos[4], g.role ? g.role : "member", &err);
        if (!rc && g.json)
            printf("{\"org\": \"%s\", \"user\": \"%s\", \"role\": \"%s\"}\n", g.pos[3], g.pos[4],
                   g.role ? g.role : "member");
        else if (!rc)
            printf("%s is now a %s of %s\n", g.pos[4], g.role ? g.role : "member", g.pos[3]);
    } else if (is(&g, 0, "org") && is(&g, 1, "member") && is(&g, 2, "remove") && g.npos == 5) {
        rc = sl_reg_member_remove(r, g.pos[3], g.pos[4], &err);
        if (!rc && g.json)
            printf("{\"org\": \"%s\", \"removed\": \"%s\"}\n", g.pos[3], g.pos[4]);
        else if (!rc)
            printf("%s is no longer a member of %s\n", g.pos[4], g.pos[3]);
    } else if (is(&g, 0, "token") && is(&g, 1, "new") && g.npos == 3) {
        bool ok;
        unsigned scopes = parse_scopes(g.scopes, &ok);
        int32_t day = 0;
        if (!ok) {
            code = sl_cli_usage("admin", "--scopes takes read, write and admin");
            goto out;
        }
        if (g.expires && !sl_date_parse(g.expires, &day)) {
            code = sl_cli_usage("admin", "--expires wants a date YYYY-MM-DD");
            goto out;
        }
        rc = sl_reg_token_new(r, g.pos[2], scopes, g.expires ? (int64_t)day * 86400 : 0, token,
                              &err);
        if (!rc) {
            if (g.json) {
                json_t *j = json_pack("{s:s, s:s}", "user", g.pos[2], "token", token);
                sl_cli_print_json(j);
                json_decref(j);
            } else {
                printf("token for %s (shown once): %s\n", g.pos[2], token);
            }
        }
    } else if (is(&g, 0, "token") && is(&g, 1, "revoke") && g.npos == 2 && (g.token || g.user)) {
        int n;
        rc = sl_reg_token_revoke(r, g.user, g.token, &n, &err);
        if (!rc && g.json)
            printf("{\"revoked\": %d}\n", n);
        else if (!rc)
            printf("revoked %d token%s\n", n, n == 1 ? "" : "s");
    } else if (is(&g, 0, "gc") && g.npos == 1) {
        struct sl_gc_opts go = {86400, 0.5, 3600};
        json_t *rep = NULL;
        if (g.grace) {
            char *end;
            long long v;
            errno = 0;
            v = strtoll(g.grace, &end, 10);
            if (errno || *end || v < 0) {
                code = sl_cli_usage("admin", "--grace wants seconds");
                goto out;
            }
            go.grace_seconds = v;
            go.retire_seconds = v < go.retire_seconds ? v : go.retire_seconds;
        }
        rc = sl_reg_gc(r, &go, &rep, &err);
        if (!rc)
            print_report(rep, g.json);
        json_decref(rep);
    } else if (is(&g, 0, "fsck") && g.npos == 1) {
        json_t *rep = NULL;
        bool ok = false;
        rc = sl_reg_fsck(r, &rep, &ok, &err);
        if (!rc) {
            print_report(rep, g.json);
            if (!ok)
                code = 1;
        }
        json_decref(rep);
    } else {
        code = sl_cli_usage("admin", "unknown admin command");
        goto out;
    }
    if (rc)
        code = sl_cli_fail(&err);
out:
    sl_registry_close(r);
    return code;
}
