/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice classify [PATH...] [--facts FILE] [--tokens N] [--as-of DATE]
 * [--pack ID]... [--policy-dir DIR] [--json]`: which rules apply to a model,
 * the minimum release tier and the obligations, with the reasons.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/date.h"
#include "common/io.h"
#include "common/util.h"
#include "compute/compute.h"
#include "formats/formats.h"
#include "policy/policy.h"
#include "common/banned.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_human(json_t *d)
{
    json_t *c = json_object_get(d, "compute"), *facts = json_object_get(d, "facts");
    json_t *v, *e;
    size_t i;
    char a[40], b[40], x[40];

    /* The headline: the tier, then whatever makes it less than settled (a
     * conflict between compute figures, facts that had to be assumed). */
    printf("Decision as of %s: minimum tier %s%s\n", str(d, "as_of"), str(d, "min_tier"),
           json_is_true(json_object_get(d, "min_tier_provisional"))
               ? " (provisional: training compute unknown)"
               : "");
    v = json_object_get(c, "conflict");
    if (json_is_object(v)) {
        json_t *lo = json_object_get(v, "low"), *hi = json_object_get(v, "high");
        printf("CONFLICT     compute figures disagree: %s %s FLOP vs %s %s FLOP; thresholds "
               "tested against the highest (blocking: facts.compute-conflict)\n",
               str(hi, "method"),
               sl_fmt_sig(json_number_value(json_object_get(hi, "flop")), 3, a, sizeof(a)),
               str(lo, "method"),
               sl_fmt_sig(json_number_value(json_object_get(lo, "flop")), 3, b, sizeof(b)));
    }
    json_array_foreach(json_object_get(d, "assumptions"), i, e)
        printf("Assumed      %s\n", str(e, "assumed"));
    printf("\n");
    v = json_object_get(facts, "params");
    if (json_is_integer(v)) {
        json_t *act = json_object_get(facts, "active_params");
        printf("Parameters   %s (from %s)",
               sl_fmt_count((uint64_t)json_integer_value(v), a, sizeof(a)),
               str(json_object_get(facts, "sources"), "params"));
        if (json_is_integer(act))
            printf(", %s active per token",
                   sl_fmt_count((uint64_t)json_integer_value(act), b, sizeof(b)));
        printf("\n");
    }
    if (json_is_true(json_object_get(c, "known"))) {
        printf("Compute      %s FLOP cumulative (range %s to %s, +/-30%%)\n",
               sl_fmt_sig(json_number_value(json_object_get(c, "flop_central")), 3, a, sizeof(a)),
               sl_fmt_sig(json_number_value(json_object_get(c, "flop_low")), 3, b, sizeof(b)),
               sl_fmt_sig(json_number_value(json_object_get(c, "flop_high")), 3, x, sizeof(x)));
        if (json_number_value(json_object_get(c, "own_flop")) !=
            json_number_value(json_object_get(c, "flop_central")))
            printf("             own training %s FLOP, parameter updates %s FLOP\n",
                   sl_fmt_sig(json_number_value(json_object_get(c, "own_flop")), 3, a, sizeof(a)),
                   sl_fmt_sig(json_number_value(json_object_get(c, "param_update_flop")), 3, b,
                              sizeof(b)));
        json_array_foreach(json_object_get(c, "methods"), i, e)
        {
            printf("  %-19s %s  %s\n", str(e, "method"),
                   sl_fmt_sig(json_number_value(json_object_get(e, "flop")), 3, a, sizeof(a)),
                   str(e, "detail"));
        }
        if (json_array_size(json_object_get(c, "near_threshold"))) {
            printf("  near a threshold (inside the +/-30%% range):");
            json_array_foreach(json_object_get(c, "near_threshold"), i, e)
                printf(" %s", json_string_value(e));
            printf("\n");
        }
        v = json_object_get(d, "cost_usd");
        if (json_is_number(v))
            printf("Cost         about $%s (%s)\n",
                   json_number_value(v) < 1e15
                       ? sl_fmt_count((uint64_t)json_number_value(v), a, sizeof(a))
                       : sl_fmt_sig(json_number_value(v), 3, a, sizeof(a)),
                   str(d, "cost_basis"));
    } else {
        printf("Compute      unknown: %s\n", str(c, "note"));
    }

    printf("\nRules that fired\n");
    if (json_array_size(json_object_get(d, "rules_fired")) == 0)
        printf("  none\n");
    json_array_foreach(json_object_get(d, "rules_fired"), i, e)
    {
        printf("  %s (%s)\n    %s\n    because %s\n", str(e, "rule"), str(e, "pack"),
               str(e, "cite"), str(e, "why"));
        if (str(e, "unverified")[0])
            printf("    UNVERIFIED: %s\n", str(e, "unverified"));
        if (str(e, "ambiguity")[0])
            printf("    CONTESTED: %s\n", str(e, "ambiguity"));
    }
    printf("\nObligations\n");
    if (json_array_size(json_object_get(d, "obligations")) == 0)
        printf("  none\n");
    json_array_foreach(json_object_get(d, "obligations"), i, e)
    {
        printf("  %s %s: %s\n    %s%s%s\n",
               json_is_true(json_object_get(e, "blocking")) ? "[blocking]" : "[duty]    ",
               str(e, "id"), str(e, "title"), str(e, "cite"),
               json_object_get(e, "deadline") ? "; " : "", str(e, "deadline"));
        if (str(e, "unverified")[0])
            printf("    UNVERIFIED: %s\n", str(e, "unverified"));
    }
    if (json_array_size(json_object_get(d, "waived"))) {
        printf("  waived:");
        json_array_foreach(json_object_get(d, "waived"), i, e) printf(" %s", json_string_value(e));
        printf("\n");
    }
    if (json_array_size(json_object_get(d, "rules_undecided"))) {
        printf("\nUndecided (facts missing)\n");
        json_array_foreach(json_object_get(d, "rules_undecided"), i, e)
        {
            size_t k;
            json_t *f;
            printf("  %s (%s) needs", str(e, "rule"), str(e, "pack"));
            json_array_foreach(json_object_get(e, "missing"), k, f)
                printf("%s %s", k ? "," : "", json_string_value(f));
            printf("\n");
        }
    }
    printf("\nPacks applied:");
    json_array_foreach(json_object_get(d, "packs"), i, e) printf(" %s", json_string_value(e));
    printf("\n");
    json_array_foreach(json_object_get(d, "packs_not_applied"), i, e)
        printf("Not applied:  %s: %s\n", str(e, "pack"), str(e, "reason"));
    json_array_foreach(json_object_get(d, "notes"), i, e)
        printf("Note:         %s\n", json_string_value(e));
}

static bool parse_tokens(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v) || v < 0 || v > 1e18)
        return false;
    *out = v;
    return true;
}

int sl_cmd_classify(int argc, char **argv)
{
    struct sl_opt o;
    const char **paths = sl_xcalloc((size_t)argc, sizeof(char *));
    const char **packs = sl_xcalloc((size_t)argc, sizeof(char *));
    size_t npaths = 0, npacks = 0;
    const char *facts_file = NULL, *policy_dir = NULL, *a;
    bool json = false, is_opt, have_tokens = false;
    double tokens = 0;
    int32_t as_of = sl_date_today();
    struct sl_model *m = NULL;
    struct sl_param_count pc;
    struct sl_packset *ps = NULL;
    json_t *facts = NULL, *decision = NULL;
    struct sl_classify_in in;
    struct sl_error err;
    enum sl_err rc;
    int code = 0;

    sl_error_clear(&err);
    sl_opt_init(&o, "classify", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        const char *v;
        if (!is_opt) {
            paths[npaths++] = a;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--facts") == 0) {
            if (!(facts_file = sl_opt_value(&o, a)))
                goto usage;
        } else if (strcmp(a, "--policy-dir") == 0) {
            if (!(policy_dir = sl_opt_value(&o, a)))
                goto usage;
        } else if (strcmp(a, "--pack") == 0) {
            if (!(v = sl_opt_value(&o, a)))
                goto usage;
            packs[npacks++] = v;
        } else if (strcmp(a, "--tokens") == 0) {
            if (!(v = sl_opt_value(&o, a)))
                goto usage;
            if (!parse_tokens(v, &tokens)) {
                code = sl_cli_usage("classify", "--tokens wants a number of tokens, got \"%s\"", v);
                goto out;
            }
            have_tokens = true;
        } else if (strcmp(a, "--as-of") == 0) {
            if (!(v = sl_opt_value(&o, a)))
                goto usage;
            if (!sl_date_parse(v, &as_of)) {
                code = sl_cli_usage("classify", "--as-of wants a date YYYY-MM-DD, got \"%s\"", v);
                goto out;
            }
        } else {
            code = sl_cli_usage("classify", "unknown option %s", a);
            goto out;
        }
    }
    if (npaths == 0 && !facts_file) {
        code = sl_cli_usage("classify", "give weight files or folders, or --facts FILE");
        goto out;
    }
    rc = sl_cli_load_packs(policy_dir, &ps, &err);
    if (rc)
        goto fail;
    if (facts_file) {
        char *text;
        size_t len;
        rc = sl_read_file(facts_file, 1u << 20, &text, &len, &err);
        if (rc)
            goto fail;
        rc = sl_facts_parse(facts_file, text, len, &facts, &err);
        free(text);
        if (rc)
            goto fail;
    }
    if (have_tokens) {
        json_t *tr;
        if (!facts)
            facts = json_object();
        tr = json_object_get(facts, "training");
        if (!json_is_object(tr)) {
            tr = json_object();
            json_object_set_new(facts, "training", tr);
        }
        json_object_set_new(tr, "tokens", json_real(tokens));
    }
    if (npaths > 0) {
        rc = sl_model_open(paths, npaths, &m, &err);
        if (rc)
            goto fail;
        sl_count_params(m, &pc);
    }
    if (npaths == 0 && !json_is_number(json_object_get(facts, "params")) &&
        !json_is_number(json_object_get(facts, "active_params")))
        fprintf(stderr, "sluice classify: note: no weight files and no \"params\" in the facts; "
                        "compute can only come from hardware or declared figures\n");
    memset(&in, 0, sizeof(in));
    in.facts = facts;
    in.files = m ? &pc : NULL;
    in.packs = npacks ? packs : NULL;
    in.npacks = npacks;
    in.as_of = as_of;
    rc = sl_classify(ps, &in, &decision, &err);
    if (rc)
        goto fail;
    if (json)
        sl_cli_print_json(decision);
    else
        print_human(decision);
    goto out;
usage:
    code = 2;
    goto out;
fail:
    code = sl_cli_fail(&err);
out:
    sl_opt_release(&o);
    json_decref(decision);
    json_decref(facts);
    sl_packset_free(ps);
    sl_model_free(m);
    free(paths);
    free(packs);
    return code;
}
