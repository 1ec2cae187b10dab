/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice obligations ...` and `sluice tier ...`: a version's obligations
 * and their status, and the publisher's tier changes, now or on a date
 * (staged release). The server judges every change against the version's
 * floor (docs/access.md); these commands send the request and show the
 * answer, with the rule or obligation named when it refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/io.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define EVIDENCE_TEXT_MAX 10000
#define EVIDENCE_FILE_MAX (64u << 20)

/* The evidence for a finished document (a filled `sluice draft`): the file
 * itself when it is short text the server takes as it is, so the log's
 * evidence_sha256 is the file's own SHA-256; else one line naming the
 * file's SHA-256 and size, whose digest the log records. `*text` is new. */
static enum sl_err evidence_from_file(const char *path, char **text, char file_hex[65],
                                      struct sl_error *err)
{
    unsigned char h[SL_SHA256_LEN];
    char *data;
    size_t len;
    bool plain = true;
    enum sl_err rc = sl_read_file(path, EVIDENCE_FILE_MAX, &data, &len, err);

    if (rc)
        return rc;
    if (len == 0) {
        free(data);
        return sl_error_set(err, SL_EINPUT, "%s: the evidence file is empty", path);
    }
    sl_sha256(data, len, h);
    sl_hex(h, SL_SHA256_LEN, file_hex);
    for (size_t i = 0; i < len && plain; i++) {
        unsigned char c = (unsigned char)data[i];
        plain = !((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f);
    }
    if (plain && len <= EVIDENCE_TEXT_MAX) {
        *text = data;
        return SL_OK;
    }
    free(data);
    *text = sl_xasprintf("document sha256:%s size %zu bytes", file_hex, len);
    return SL_OK;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Prints a JSON array of strings joined by ", ". */
static void put_list(json_t *arr)
{
    json_t *e;
    size_t i;

    json_array_foreach(arr, i, e)
    {
        if (i)
            fputs(", ", stdout);
        if (json_is_string(e))
            sl_cli_put_safe(stdout, json_string_value(e));
        else if (json_is_object(e))
            sl_cli_put_safe(stdout, str(e, "id")[0] ? str(e, "id") : str(e, "domain"));
    }
}

/* `satisfied_by`: the attestations that cover an obligation, one entry per
 * domain with its evaluators. */
static void print_satisfied_by(json_t *sb)
{
    json_t *e, *who;
    size_t i, k;

    if (json_array_size(sb) == 0)
        return;
    printf("      attested: ");
    json_array_foreach(sb, i, e)
    {
        if (i)
            fputs("; ", stdout);
        if (json_is_string(e)) {
            sl_cli_put_safe(stdout, json_string_value(e));
            continue;
        }
        sl_cli_put_safe(stdout, str(e, "domain"));
        who = json_object_get(e, "evaluators");
        if (json_array_size(who))
            fputs(" by ", stdout);
        json_array_foreach(who, k, e)
        {
            if (k)
                fputs(", ", stdout);
            sl_cli_put_safe(stdout, json_string_value(e) ? json_string_value(e) : "?");
        }
    }
    fputc('\n', stdout);
}

static void print_obligations(json_t *r)
{
    json_t *list = json_object_get(r, "obligations"), *e;
    size_t i;

    printf("%s version %lld (commit %.12s): tier %s, min tier %s, floor %s\n", str(r, "model"),
           (long long)json_integer_value(json_object_get(r, "version")), str(r, "commit"),
           str(r, "tier"), str(r, "min_tier")[0] ? str(r, "min_tier") : "?",
           str(r, "floor_tier")[0] ? str(r, "floor_tier") : "?");
    if (json_array_size(json_object_get(r, "held_by"))) {
        printf("  held at the floor by: ");
        put_list(json_object_get(r, "held_by"));
        fputc('\n', stdout);
    }
    if (json_array_size(list) == 0) {
        printf("  no obligations\n");
        return;
    }
    json_array_foreach(list, i, e)
    {
        printf("  %-9s %s", str(e, "status"), str(e, "id"));
        if (str(e, "hold_tier")[0] && strcmp(str(e, "status"), "open") == 0)
            printf(" [blocking: holds at %s]", str(e, "hold_tier"));
        else if (json_is_true(json_object_get(e, "blocking")))
            printf(" [blocking]");
        printf(": ");
        sl_cli_put_safe(stdout, str(e, "title"));
        fputc('\n', stdout);
        if (str(e, "cite")[0]) {
            printf("      ");
            sl_cli_put_safe(stdout, str(e, "cite"));
            fputc('\n', stdout);
        }
        if (json_array_size(json_object_get(e, "requires_evaluations"))) {
            printf("      needs attested evaluations: ");
            put_list(json_object_get(e, "requires_evaluations"));
            if (json_array_size(json_object_get(e, "missing_evaluations"))) {
                printf(" (missing: ");
                put_list(json_object_get(e, "missing_evaluations"));
                printf(")");
            }
            fputc('\n', stdout);
        }
        if (json_is_object(json_object_get(e, "evidence"))) {
            json_t *ev = json_object_get(e, "evidence");
            printf("      evidence by ");
            sl_cli_put_safe(stdout, str(ev, "by"));
            printf(" at %s: ", str(ev, "at"));
            sl_cli_put_safe(stdout, str(ev, "text"));
            fputc('\n', stdout);
        } else if (str(e, "evidence")[0]) {
            printf("      evidence: ");
            sl_cli_put_safe(stdout, str(e, "evidence"));
            fputc('\n', stdout);
        }
        print_satisfied_by(json_object_get(e, "satisfied_by"));
    }
}

int sl_cmd_obligations(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--json", SL_OPT_FLAG},
                                                {"--evidence", SL_OPT_VALUE},
                                                {"--evidence-file", SL_OPT_VALUE},
                                                {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *evidence = NULL, file_hex[65] = "";
    json_t *res = NULL;
    bool satisfy;
    const char *spec;
    int code = sl_cli_args_parse(&a, "obligations", defs, argc, argv);

    sl_error_clear(&err);
    if (code)
        return code;
    satisfy = a.npos > 0 && strcmp(a.pos[0], "satisfy") == 0;
    if (satisfy && a.npos != 3)
        return sl_cli_usage("obligations satisfy", "expected ORG/NAME@REV ID --evidence TEXT");
    if (!satisfy && a.npos != 1)
        return sl_cli_usage("obligations", "expected ORG/NAME[@REV]");
    if (!satisfy && (sl_cli_has(&a, "--evidence") || sl_cli_has(&a, "--evidence-file")))
        return sl_cli_usage("obligations", "--evidence belongs to `obligations satisfy`");
    if (sl_cli_has(&a, "--evidence") && sl_cli_has(&a, "--evidence-file"))
        return sl_cli_usage("obligations satisfy", "give --evidence TEXT or --evidence-file FILE, "
                                                   "not both");
    spec = satisfy ? a.pos[1] : a.pos[0];
    if (satisfy && !strchr(spec, '@'))
        return sl_cli_usage("obligations satisfy",
                            "\"%s\": name the version, ORG/NAME@REV (evidence is per version)",
                            spec);
    if (sl_client_parse_model(spec, &org, &name, &rev, &err)) {
        code = sl_cli_usage(satisfy ? "obligations satisfy" : "obligations", "%s", err.msg);
        goto out;
    }
    if (satisfy && sl_cli_has(&a, "--evidence-file")) {
        if (evidence_from_file(sl_cli_val(&a, "--evidence-file"), &evidence, file_hex, &err)) {
            code = sl_cli_fail(&err);
            goto out;
        }
    } else if (satisfy) {
        const char *ev = sl_cli_val(&a, "--evidence");
        if (!ev || !ev[0] || strlen(ev) > EVIDENCE_TEXT_MAX) {
            code = sl_cli_usage("obligations satisfy",
                                "--evidence TEXT (1 to 10,000 bytes) or --evidence-file FILE is "
                                "required");
            goto out;
        }
        evidence = sl_xstrdup(ev);
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (satisfy)
        code = sl_client_obligation_satisfy(cl, org, name, rev, a.pos[2], evidence, &res, &err);
    else
        code = sl_client_obligations(cl, org, name, rev, &res, &err);
    if (code) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (satisfy && res) {
        /* What the log's obligation.satisfied entry records, so the filer
         * can match a document to the log. */
        unsigned char h[SL_SHA256_LEN];
        char hex[65];
        sl_sha256(evidence, strlen(evidence), h);
        sl_hex(h, SL_SHA256_LEN, hex);
        json_object_set_new(res, "evidence_sha256", json_sprintf("sha256:%s", hex));
        if (file_hex[0])
            json_object_set_new(res, "document_sha256", json_sprintf("sha256:%s", file_hex));
    }
    if (sl_cli_has(&a, "--json")) {
        sl_cli_print_json(res);
    } else if (satisfy) {
        /* The answer is the obligation, or the whole list with it. */
        json_t *ob = res, *e;
        size_t i;
        json_array_foreach(json_object_get(res, "obligations"), i, e)
        {
            if (strcmp(str(e, "id"), a.pos[2]) == 0)
                ob = e;
        }
        printf("Obligation %s of %s/%s@%s: %s\n", a.pos[2], org, name, rev,
               str(ob, "status")[0] ? str(ob, "status") : "evidence recorded");
        if (str(res, "floor_tier")[0])
            printf("  floor tier   %s; tier %s\n", str(res, "floor_tier"), str(res, "tier"));
        printf("  logged       evidence_sha256 %s", str(res, "evidence_sha256"));
        if (file_hex[0])
            printf(" (%s sha256:%s)",
                   strcmp(str(res, "evidence_sha256") + 7, file_hex) == 0
                       ? "the document's own"
                       : "of a line naming the document's",
                   file_hex);
        printf("\n");
    } else {
        print_obligations(res);
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    free(evidence);
    return code;
}

static void print_steps(json_t *list, const char *model)
{
    json_t *e;
    size_t i;

    if (json_array_size(list) == 0) {
        printf("%s: no scheduled tier changes\n", model);
        return;
    }
    printf("%-6s %-8s %-9s %-21s %-8s %s\n", "ID", "VERSION", "TIER", "AT", "STATUS", "REASON");
    json_array_foreach(list, i, e)
    {
        json_t *id = json_object_get(e, "id"), *ver = json_object_get(e, "version");
        char idb[32], verb[32];
        if (json_is_integer(id))
            snprintf(idb, sizeof(idb), "%lld", (long long)json_integer_value(id));
        else
            snprintf(idb, sizeof(idb), "%s", json_string_value(id) ? json_string_value(id) : "-");
        if (json_is_integer(ver))
            snprintf(verb, sizeof(verb), "%lld", (long long)json_integer_value(ver));
        else
            snprintf(verb, sizeof(verb), "%.12s", str(e, "commit"));
        printf("%-6s %-8s %-9s %-21s %-8s ", idb, verb, str(e, "tier"), str(e, "at"),
               str(e, "status"));
        sl_cli_put_safe(stdout, str(e, "reason")[0] ? str(e, "reason") : "-");
        fputc('\n', stdout);
    }
}

int sl_cmd_tier(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG}, {"--at", SL_OPT_VALUE}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *model = NULL;
    json_t *res = NULL;
    const char *sub, *tier, *at;
    bool set, list;
    int code = sl_cli_args_parse(&a, "tier", defs, argc, argv);

    sl_error_clear(&err);
    if (code)
        return code;
    sub = a.npos ? a.pos[0] : "";
    set = strcmp(sub, "set") == 0;
    if (!set && strcmp(sub, "schedule") != 0)
        return sl_cli_usage("tier", "expected set or schedule");
    if (set && (a.npos != 3 || sl_cli_has(&a, "--at")))
        return sl_cli_usage("tier set", "expected ORG/NAME[@REV] TIER (now; --at is for "
                                        "`tier schedule`)");
    list = !set && a.npos == 2;
    if (!set && !list && a.npos != 3)
        return sl_cli_usage("tier schedule", "expected ORG/NAME[@REV] TIER --at DATE, or "
                                             "ORG/NAME to list the steps");
    if (list && sl_cli_has(&a, "--at"))
        return sl_cli_usage("tier schedule", "--at needs a TIER");
    if (sl_client_parse_model(a.pos[1], &org, &name, list ? NULL : &rev, &err)) {
        code = sl_cli_usage(set ? "tier set" : "tier schedule", "%s", err.msg);
        goto out;
    }
    if (rev && !strchr(a.pos[1], '@')) {
        free(rev);
        rev = NULL;
    }
    model = sl_xasprintf("%s/%s", org, name);
    tier = a.npos == 3 ? a.pos[2] : NULL;
    if (tier && !sl_client_tier_ok(tier)) {
        code = sl_cli_usage(set ? "tier set" : "tier schedule",
                            "\"%s\": the tier is open, click, gated, hosted or withheld", tier);
        goto out;
    }
    at = sl_cli_val(&a, "--at");
    if (!set && !list) {
        if (!at) {
            code = sl_cli_usage("tier schedule", "--at DATE is required (`tier set` acts now)");
            goto out;
        }
        code = sl_cli_future_date("tier schedule", "--at", at);
        if (code)
            goto out;
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (set)
        code = sl_client_tier_set(cl, org, name, rev, tier, &res, &err);
    else if (list)
        code = sl_client_schedule_list(cl, org, name, &res, &err);
    else
        code = sl_client_schedule_add(cl, org, name, rev, tier, at, &res, &err);
    if (code) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        sl_cli_print_json(res);
    } else if (set) {
        json_t *ver = json_object_get(res, "version");
        printf("%s", model);
        if (json_is_integer(ver))
            printf(" version %lld", (long long)json_integer_value(ver));
        printf(": tier %s", str(res, "tier")[0] ? str(res, "tier") : tier);
        if (str(res, "floor_tier")[0])
            printf(" (floor %s)", str(res, "floor_tier"));
        printf("\n");
    } else if (list) {
        print_steps(res, model);
    } else {
        json_t *id = json_object_get(res, "id");
        printf("Scheduled %s%s%s -> %s at %s", model, rev ? "@" : "", rev ? rev : "", tier,
               str(res, "at")[0] ? str(res, "at") : at);
        if (json_is_integer(id))
            printf(" (step %lld)", (long long)json_integer_value(id));
        printf(".\nThe server re-runs the decision then; `sluice tier schedule %s` shows the "
               "outcome.\n",
               model);
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(model);
    free(org);
    free(name);
    free(rev);
    return code;
}
