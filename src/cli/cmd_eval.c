/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice eval ...`: evaluator keys and attestations (docs/access.md). An
 * evaluator makes a key pair and signs attestations offline (keygen, sign);
 * an admin registers the verifier key (key add); a publisher attaches a
 * signed attestation to a version (attach), which re-runs its decision.
 */
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

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static bool is_commit(const char *s)
{
    size_t n = strlen(s);

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int eval_keygen(const struct sl_cli_args *a)
{
    const char *name = sl_cli_val(a, "--name"), *out = sl_cli_val(a, "--out");
    struct sl_note_key k;
    struct sl_error err;
    char vkey[SL_NOTE_VKEY_MAX];
    int code = 0;

    sl_error_clear(&err);
    if (a->npos != 1)
        return sl_cli_usage("eval keygen", "unexpected argument \"%s\"", a->pos[1]);
    if (!name || !out || !out[0])
        return sl_cli_usage("eval keygen", "give --name NAME and --out FILE");
    if (!sl_note_name_ok(name))
        return sl_cli_usage("eval keygen",
                            "--name \"%s\": use your account name (no spaces, control characters "
                            "or '+')",
                            name);
    if (sl_client_keygen(name, out, &k, &err))
        return sl_cli_fail(&err);
    if (sl_note_vkey(&k, vkey, sizeof(vkey), &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    printf("%s\n", vkey);
    fprintf(stderr,
            "Wrote the private key to %s (mode 0600; keep it secret). The line above is the "
            "verifier key: an admin registers it with `sluice eval key add %s VKEY`.\n",
            out, name);
out:
    sl_note_key_clear(&k);
    return code;
}

static int eval_sign(const struct sl_cli_args *a)
{
    const char *keyfile = sl_cli_val(a, "--key"), *spec = sl_cli_val(a, "--model");
    const char *domain = sl_cli_val(a, "--domain"), *level = sl_cli_val(a, "--level");
    const char *method = sl_cli_val(a, "--method"), *out = sl_cli_val(a, "--out");
    struct sl_attestation at;
    struct sl_note_key k;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *note = NULL;
    size_t len = 0;
    int code = 0;

    sl_error_clear(&err);
    memset(&k, 0, sizeof(k));
    memset(&at, 0, sizeof(at));
    if (a->npos != 1)
        return sl_cli_usage("eval sign", "unexpected argument \"%s\"", a->pos[1]);
    if (!keyfile || !spec || !domain || !level || !method)
        return sl_cli_usage("eval sign", "give --key, --model, --domain, --level and --method");
    if (!strchr(spec, '@') || sl_client_parse_model(spec, &org, &name, &rev, &err) ||
        !is_commit(rev)) {
        code = sl_cli_usage("eval sign",
                            "--model \"%s\": expected ORG/NAME@COMMIT with the full 64-hex commit "
                            "(`sluice pull --json` prints it)",
                            spec);
        goto out;
    }
    if (!sl_gov_domain_ok(domain)) {
        code = sl_cli_usage("eval sign", "--domain is cbrn, cyber, autonomy or persuasion");
        goto out;
    }
    if (!sl_gov_level_ok(level)) {
        code = sl_cli_usage("eval sign", "--level is none, low, medium, high or critical");
        goto out;
    }
    if (!sl_gov_text_ok(method, SL_GOV_METHOD_MAX)) {
        code = sl_cli_usage("eval sign",
                            "--method: 1 to %d bytes of UTF-8 on one line, no leading or trailing "
                            "space",
                            SL_GOV_METHOD_MAX);
        goto out;
    }
    snprintf(at.model, sizeof(at.model), "%s/%s", org, name);
    snprintf(at.commit, sizeof(at.commit), "%s", rev);
    snprintf(at.domain, sizeof(at.domain), "%s", domain);
    snprintf(at.level, sizeof(at.level), "%s", level);
    snprintf(at.method, sizeof(at.method), "%s", method);
    at.date = (int64_t)time(NULL);
    if (sl_client_key_load(keyfile, &k, &err) ||
        sl_client_attestation_sign(&k, &at, &note, &len, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (out) {
        if (sl_client_write_file(out, note, len, 0644, &err)) {
            code = sl_cli_fail(&err);
            goto out;
        }
        fprintf(stderr,
                "Signed the attestation as \"%s\" into %s; a publisher attaches it with "
                "`sluice eval attach %s FILE`.\n",
                k.name, out, spec);
    } else {
        fwrite(note, 1, len, stdout);
    }
out:
    sl_note_key_clear(&k);
    free(note);
    free(org);
    free(name);
    free(rev);
    return code;
}

static void print_moved(json_t *res)
{
    json_t *moved = json_object_get(res, "moved");
    const char *tier = str(res, "tier");

    if (json_is_true(moved) && str(res, "old_tier")[0])
        printf("  tier         %s (moved up from %s: downloads the new tier does not allow stop "
               "now)\n",
               tier, str(res, "old_tier"));
    else if (json_is_true(moved))
        printf("  tier         %s (moved up: downloads the tier does not allow stop now)\n", tier);
    else if (json_is_string(moved))
        printf("  tier         %s (moved from %s)\n", tier, json_string_value(moved));
    else if (json_is_object(moved))
        printf("  tier         %s (moved from %s)\n", tier, str(moved, "from"));
    else
        printf("  tier         %s (unchanged)\n", tier);
}

static int eval_attach(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *note = NULL;
    size_t len = 0;
    json_t *res = NULL, *att, *dec;
    int code = 0;

    sl_error_clear(&err);
    if (a->npos != 3)
        return sl_cli_usage("eval attach", "expected ORG/NAME@REV FILE");
    if (!strchr(a->pos[1], '@') || sl_client_parse_model(a->pos[1], &org, &name, &rev, &err)) {
        code = sl_cli_usage("eval attach", "\"%s\": expected ORG/NAME@REV", a->pos[1]);
        goto out;
    }
    if (sl_read_file(a->pos[2], SL_NOTE_MAX, &note, &len, &err)) {
        if (err.code == SL_ELIMIT)
            err.code = SL_EINPUT;
        code = sl_cli_fail(&err);
        goto out;
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_attest_attach(cl, org, name, rev, note, len, &res, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json")) {
        sl_cli_print_json(res);
        goto out;
    }
    att = json_object_get(res, "attestation");
    dec = json_object_get(res, "decision");
    printf("Attached to %s/%s@%s: %s %s by ", org, name, rev, str(att, "domain"),
           str(att, "level"));
    sl_cli_put_safe(stdout, str(att, "evaluator")[0] ? str(att, "evaluator") : "?");
    printf("\n");
    printf("  min tier     %s (the decision with the attested results)\n",
           str(dec, "min_tier")[0] ? str(dec, "min_tier") : str(res, "min_tier"));
    if (str(res, "floor_tier")[0])
        printf("  floor tier   %s\n", str(res, "floor_tier"));
    print_moved(res);
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(note);
    free(org);
    free(name);
    free(rev);
    return code;
}

static int eval_key(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_note_key k;
    struct sl_error err;
    json_t *res = NULL, *e;
    const char *sub = a->npos > 1 ? a->pos[1] : "";
    bool add = strcmp(sub, "add") == 0, rm = strcmp(sub, "remove") == 0;
    size_t i;
    int code;

    sl_error_clear(&err);
    if (!add && !rm && strcmp(sub, "list") != 0)
        return sl_cli_usage("eval key", "expected add NAME VKEY, remove NAME or list");
    if (add && a->npos != 4)
        return sl_cli_usage("eval key add", "expected NAME VKEY");
    if (rm && a->npos != 3)
        return sl_cli_usage("eval key remove", "expected NAME");
    if (!add && !rm && a->npos != 2)
        return sl_cli_usage("eval key list", "takes no arguments");
    if (add) {
        if (sl_note_vkey_parse(a->pos[3], strlen(a->pos[3]), &k, &err))
            return sl_cli_usage("eval key add", "VKEY: %s", err.msg);
        if (strcmp(k.name, a->pos[2]) != 0)
            return sl_cli_usage("eval key add",
                                "the key is named \"%s\", not \"%s\": an evaluator's key carries "
                                "the account name",
                                k.name, a->pos[2]);
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    if (add)
        code = sl_client_eval_key_add(cl, a->pos[2], a->pos[3], &res, &err);
    else if (rm)
        code = sl_client_eval_key_remove(cl, a->pos[2], &res, &err);
    else
        code = sl_client_eval_keys(cl, &res, &err);
    if (code) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json")) {
        sl_cli_print_json(res);
    } else if (add) {
        printf("Registered the evaluator key of %s (key ID %08x); %s may now see withheld "
               "versions, and attestations signed with it can be attached.\n",
               a->pos[2], (unsigned)k.id, a->pos[2]);
    } else if (rm) {
        printf("Revoked the evaluator key of %s: attestations it signs are refused from now on; "
               "what it attested before keeps its history.\n",
               a->pos[2]);
    } else if (json_array_size(res) == 0) {
        printf("no evaluator keys\n");
    } else {
        printf("%-24s %-22s %s\n", "NAME", "ADDED", "VKEY");
        json_array_foreach(res, i, e)
        {
            printf("%-24s %-22s ", str(e, "name"),
                   json_object_get(e, "revoked") ? "revoked" : str(e, "added"));
            sl_cli_put_safe(stdout, str(e, "vkey"));
            fputc('\n', stdout);
        }
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

static int eval_list(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL;
    json_t *res = NULL, *e;
    size_t i;
    int code = 0;

    sl_error_clear(&err);
    if (a->npos != 2)
        return sl_cli_usage("eval list", "expected ORG/NAME[@REV]");
    if (sl_client_parse_model(a->pos[1], &org, &name, &rev, &err)) {
        code = sl_cli_usage("eval list", "%s", err.msg);
        goto out;
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_attestations(cl, org, name, rev, &res, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json")) {
        sl_cli_print_json(res);
    } else if (json_array_size(res) == 0) {
        printf("no attestations attached to %s/%s@%s\n", org, name, rev);
    } else {
        printf("%-20s %-11s %-9s %-21s %s\n", "EVALUATOR", "DOMAIN", "LEVEL", "DATE", "METHOD");
        json_array_foreach(res, i, e)
        {
            printf("%-20s %-11s %-9s %-21s ", str(e, "evaluator"), str(e, "domain"),
                   str(e, "level"), str(e, "date"));
            sl_cli_put_safe(stdout, str(e, "method"));
            fputc('\n', stdout);
        }
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    free(rev);
    return code;
}

int sl_cmd_eval(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG},   {"--name", SL_OPT_VALUE},   {"--out", SL_OPT_VALUE},
        {"--key", SL_OPT_VALUE},   {"--model", SL_OPT_VALUE},  {"--domain", SL_OPT_VALUE},
        {"--level", SL_OPT_VALUE}, {"--method", SL_OPT_VALUE}, {NULL, SL_OPT_FLAG}};
    static const struct {
        const char *name, *opts;
    } subs[] = {
        {"keygen", "--name --out"}, {"sign", "--key --model --domain --level --method --out"},
        {"attach", "--json"},       {"key", "--json"},
        {"list", "--json"},
    };
    struct sl_cli_args a;
    const char *sub;
    size_t si;
    char cmd[32];
    int code = sl_cli_args_parse(&a, "eval", defs, argc, argv);

    if (code)
        return code;
    sub = a.npos ? a.pos[0] : "";
    for (si = 0; si < SL_ARRAY_LEN(subs); si++)
        if (strcmp(sub, subs[si].name) == 0)
            break;
    if (si == SL_ARRAY_LEN(subs))
        return sl_cli_usage("eval", "expected keygen, sign, attach, key or list");
    snprintf(cmd, sizeof(cmd), "eval %s", sub);
    for (size_t i = 0; defs[i].name; i++) {
        const char *p = strstr(subs[si].opts, defs[i].name);
        size_t n = strlen(defs[i].name);
        if (a.seen[i] && !(p && (p[n] == ' ' || p[n] == '\0')))
            return sl_cli_usage(cmd, "%s does not apply here", defs[i].name);
    }
    switch (si) {
    case 0:
        return eval_keygen(&a);
    case 1:
        return eval_sign(&a);
    case 2:
        return eval_attach(&a);
    case 3:
        return eval_key(&a);
    default:
        return eval_list(&a);
    }
}
