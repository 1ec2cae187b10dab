/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice policy list [--json]`, `sluice policy show ID[@VERSION] [--json]`
 * and `sluice policy diff ID@A ID@B [--json]`: the policy packs this build
 * knows, one pack's rules with their citations, and what changed between two
 * versions of a pack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/date.h"
#include "common/util.h"
#include "policy/policy.h"
#include "common/banned.h"

static void render_value(struct sl_buf *b, json_t *v)
{
    char num[40];

    if (json_is_number(v)) {
        sl_buf_adds(b, sl_fmt_double(json_number_value(v), num, sizeof(num)));
    } else if (json_is_string(v)) {
        sl_buf_adds(b, json_string_value(v));
    } else if (json_is_boolean(v)) {
        sl_buf_adds(b, json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        sl_buf_addc(b, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                sl_buf_adds(b, ", ");
            render_value(b, e);
        }
        sl_buf_addc(b, ']');
    } else if (json_object_get(v, "schedule")) {
        size_t i;
        json_t *e;
        sl_buf_adds(b, "schedule(");
        json_array_foreach(json_object_get(v, "schedule"), i, e)
        {
            if (i)
                sl_buf_adds(b, "; ");
            sl_buf_addf(b, "from %s: ", json_string_value(json_object_get(e, "from")));
            render_value(b, json_object_get(e, "value"));
        }
        sl_buf_addc(b, ')');
    } else if (json_object_get(v, "indexed")) {
        json_t *x = json_object_get(v, "indexed");
        sl_buf_adds(b, "indexed(");
        render_value(b, json_object_get(x, "base"));
        sl_buf_addf(b, " at %s, doubling every ",
                    json_string_value(json_object_get(x, "base_date")));
        render_value(b, json_object_get(x, "doubling_years"));
        sl_buf_adds(b, " years)");
    }
}

/* Renders a condition as text: "compute.cumulative > 1e+25 and (...)". */
static void render_cond(struct sl_buf *b, json_t *c)
{
    json_t *v;

    if ((v = json_object_get(c, "all")) || (v = json_object_get(c, "any"))) {
        const char *joiner = json_object_get(c, "all") ? " and " : " or ";
        size_t i;
        json_t *e;
        if (json_array_size(v) > 1)
            sl_buf_addc(b, '(');
        json_array_foreach(v, i, e)
        {
            if (i)
                sl_buf_adds(b, joiner);
            render_cond(b, e);
        }
        if (json_array_size(v) > 1)
            sl_buf_addc(b, ')');
    } else if ((v = json_object_get(c, "not"))) {
        sl_buf_adds(b, "not ");
        render_cond(b, v);
    } else if ((v = json_object_get(c, "known"))) {
        sl_buf_addf(b, "%s is known", json_string_value(v));
    } else if ((v = json_object_get(c, "unknown"))) {
        sl_buf_addf(b, "%s is not known", json_string_value(v));
    } else {
        sl_buf_addf(b, "%s %s ", json_string_value(json_object_get(c, "fact")),
                    json_string_value(json_object_get(c, "op")));
        render_value(b, json_object_get(c, "value"));
    }
}

static const char *date_or(int32_t d, int32_t none, char *buf, const char *dflt)
{
    return d == none ? dflt : sl_date_format(d, buf);
}

static int list(struct sl_packset *ps, bool json)
{
    char e[11], r[11];

    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < sl_packset_count(ps); i++) {
            struct sl_pack_info in;
            sl_packset_info(ps, i, &in);
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I, s:s}", "id", in.id,
                          "version", in.version, "title", in.title, "jurisdiction", in.jurisdiction,
                          "status", in.status, "default_active", in.default_active, "effective",
                          in.effective == INT32_MIN ? json_null()
                                                    : json_string(sl_date_format(in.effective, e)),
                          "rescinded",
                          in.rescinded == INT32_MAX ? json_null()
                                                    : json_string(sl_date_format(in.rescinded, r)),
                          "rules", (json_int_t)in.nrules, "obligations",
                          (json_int_t)in.nobligations, "source", in.source));
        }
        sl_cli_print_json(arr);
        json_decref(arr);
        return 0;
    }
    printf("%-24s %-8s %-10s %-7s %-10s %-10s %-7s %s\n", "ID", "VERSION", "STATUS", "WHERE",
           "EFFECTIVE", "ENDS", "DEFAULT", "TITLE");
    for (size_t i = 0; i < sl_packset_count(ps); i++) {
        struct sl_pack_info in;
        sl_packset_info(ps, i, &in);
        printf("%-24s %-8s %-10s %-7s %-10s %-10s %-7s %s\n", in.id, in.version, in.status,
               in.jurisdiction, date_or(in.effective, INT32_MIN, e, "-"),
               date_or(in.rescinded, INT32_MAX, r, "-"), in.default_active ? "yes" : "no",
               in.title);
    }
    if (sl_packset_history_count(ps)) {
        char ref[200];
        printf("\nEarlier versions (for `--pack ID@VERSION` and `sluice policy diff`):");
        for (size_t i = 0; i < sl_packset_history_count(ps); i++)
            printf(" %s", sl_packset_history_ref(ps, i, ref, sizeof(ref)));
        printf("\n");
    }
    printf("\nDEFAULT yes: evaluated by `sluice classify` unless --pack names packs. Rescinded "
           "and vetoed\npacks are kept for what-if use: `sluice classify --pack ID --as-of "
           "DATE`.\n");
    return 0;
}

static int show(struct sl_packset *ps, const char *id, bool json)
{
    json_t *doc = sl_packset_doc(ps, id), *v, *e;
    size_t i;
    struct sl_buf b = SL_BUF_INIT(1 << 20);

    if (!doc) {
        fprintf(stderr, "sluice: error: unknown policy pack \"%s\" (see `sluice policy list`)\n",
                id);
        return 1;
    }
    if (json) {
        sl_cli_print_json(doc);
        return 0;
    }
    printf("%s %s: %s\n", json_string_value(json_object_get(doc, "id")),
           json_string_value(json_object_get(doc, "version")),
           json_string_value(json_object_get(doc, "title")));
    printf("status %s, jurisdiction %s, effective %s, ends %s\n",
           json_string_value(json_object_get(doc, "status")),
           json_string_value(json_object_get(doc, "jurisdiction")),
           json_is_string(json_object_get(doc, "effective"))
               ? json_string_value(json_object_get(doc, "effective"))
               : "-",
           json_is_string(json_object_get(doc, "rescinded"))
               ? json_string_value(json_object_get(doc, "rescinded"))
               : "-");
    if ((v = json_object_get(doc, "summary")))
        printf("\n%s\n", json_string_value(v));
    printf("\nRules\n");
    json_array_foreach(json_object_get(doc, "rules"), i, e)
    {
        json_t *then = json_object_get(e, "then"), *x;
        size_t k;
        sl_buf_reset(&b);
        render_cond(&b, json_object_get(e, "when"));
        printf("  %s: %s\n    %s\n    when %s\n", json_string_value(json_object_get(e, "id")),
               json_string_value(json_object_get(e, "title")),
               json_string_value(json_object_get(e, "cite")), sl_buf_cstr(&b));
        if ((x = json_object_get(e, "unverified")))
            printf("    UNVERIFIED: %s\n", json_string_value(x));
        if ((x = json_object_get(e, "ambiguity")))
            printf("    CONTESTED: %s\n", json_string_value(x));
        if ((x = json_object_get(then, "min_tier")))
            printf("    then minimum tier %s\n", json_string_value(x));
        if (json_array_size(json_object_get(then, "obligations"))) {
            printf("    obligations:");
            json_array_foreach(json_object_get(then, "obligations"), k, x)
                printf(" %s", json_string_value(x));
            printf("\n");
        }
        if (json_array_size(json_object_get(then, "waives"))) {
            printf("    waives:");
            json_array_foreach(json_object_get(then, "waives"), k, x)
                printf(" %s", json_string_value(x));
            printf("\n");
        }
    }
    printf("\nObligations\n");
    json_array_foreach(json_object_get(doc, "obligations"), i, e)
    {
        printf("  %s%s: %s\n    %s\n", json_string_value(json_object_get(e, "id")),
               json_is_true(json_object_get(e, "blocking")) ? " [blocking]" : "",
               json_string_value(json_object_get(e, "title")),
               json_string_value(json_object_get(e, "cite")));
        if (json_is_string(json_object_get(e, "unverified")))
            printf("    UNVERIFIED: %s\n", json_string_value(json_object_get(e, "unverified")));
    }
    if (json_array_size(json_object_get(doc, "notes"))) {
        printf("\nNotes (added to decisions on the dates shown)\n");
        json_array_foreach(json_object_get(doc, "notes"), i, e)
        {
            printf("  %s", json_string_value(json_object_get(e, "text")));
            if (json_is_string(json_object_get(e, "from")))
                printf(" [from %s]", json_string_value(json_object_get(e, "from")));
            if (json_is_string(json_object_get(e, "until")))
                printf(" [until %s]", json_string_value(json_object_get(e, "until")));
            printf("\n");
        }
    }
    printf("\nSources");
    if (json_is_string(json_object_get(doc, "checked")))
        printf(" (checked %s)", json_string_value(json_object_get(doc, "checked")));
    printf("\n");
    json_array_foreach(json_object_get(doc, "sources"), i, e)
        printf("  %s\n    %s\n", json_string_value(json_object_get(e, "title")),
               json_string_value(json_object_get(e, "url")));
    sl_buf_release(&b);
    return 0;
}

/* Compares two arrays of objects keyed by "id": added, removed, and changed
 * (with the keys whose values differ). */
static json_t *diff_items(json_t *a, json_t *b)
{
    json_t *out = json_pack("{s:[], s:[], s:[]}", "added", "removed", "changed");
    json_t *ia = json_object(), *ib = json_object(), *e;
    const char *id, *key;
    json_t *x, *v;
    size_t i;

    json_array_foreach(a, i, e) json_object_set(ia, json_string_value(json_object_get(e, "id")), e);
    json_array_foreach(b, i, e) json_object_set(ib, json_string_value(json_object_get(e, "id")), e);
    json_array_foreach(b, i, e)
    {
        id = json_string_value(json_object_get(e, "id"));
        x = json_object_get(ia, id);
        if (!x) {
            json_array_append_new(json_object_get(out, "added"), json_string(id));
        } else if (!json_equal(x, e)) {
            json_t *keys = json_array();
            json_object_foreach(e, key, v)
            {
                if (!json_equal(v, json_object_get(x, key)))
                    json_array_append_new(keys, json_string(key));
            }
            json_object_foreach(x, key, v)
            {
                if (!json_object_get(e, key))
                    json_array_append_new(keys, json_string(key));
            }
            json_array_append_new(json_object_get(out, "changed"),
                                  json_pack("{s:s, s:o}", "id", id, "fields", keys));
        }
    }
    json_array_foreach(a, i, e)
    {
        id = json_string_value(json_object_get(e, "id"));
        if (!json_object_get(ib, id))
            json_array_append_new(json_object_get(out, "removed"), json_string(id));
    }
    json_decref(ia);
    json_decref(ib);
    return out;
}

static void print_items(const char *what, json_t *d)
{
    size_t i, k;
    json_t *e, *f;

    json_array_foreach(json_object_get(d, "added"), i, e)
        printf("  + %s %s\n", what, json_string_value(e));
    json_array_foreach(json_object_get(d, "removed"), i, e)
        printf("  - %s %s\n", what, json_string_value(e));
    json_array_foreach(json_object_get(d, "changed"), i, e)
    {
        printf("  ~ %s %s:", what, json_string_value(json_object_get(e, "id")));
        json_array_foreach(json_object_get(e, "fields"), k, f) printf(" %s", json_string_value(f));
        printf("\n");
    }
}

static int diff(struct sl_packset *ps, const char *ra, const char *rb, bool json)
{
    json_t *a = sl_packset_doc(ps, ra), *b = sl_packset_doc(ps, rb);
    json_t *out, *fields = json_array(), *v;
    const char *key;

    if (!a || !b) {
        fprintf(stderr, "sluice: error: unknown policy pack \"%s\" (see `sluice policy list`)\n",
                a ? rb : ra);
        json_decref(fields);
        return 1;
    }
    json_object_foreach(b, key, v)
    {
        if (strcmp(key, "rules") != 0 && strcmp(key, "obligations") != 0 &&
            !json_equal(v, json_object_get(a, key)))
            json_array_append_new(fields, json_string(key));
    }
    json_object_foreach(a, key, v)
    {
        if (!json_object_get(b, key))
            json_array_append_new(fields, json_string(key));
    }
    out = json_pack(
        "{s:{s:O, s:O, s:s}, s:{s:O, s:O, s:s}, s:o, s:o, s:o}", "from", "id",
        json_object_get(a, "id"), "version", json_object_get(a, "version"), "sha256",
        sl_packset_sha256(ps, ra), "to", "id", json_object_get(b, "id"), "version",
        json_object_get(b, "version"), "sha256", sl_packset_sha256(ps, rb), "fields", fields,
        "rules", diff_items(json_object_get(a, "rules"), json_object_get(b, "rules")),
        "obligations",
        diff_items(json_object_get(a, "obligations"), json_object_get(b, "obligations")));
    if (json) {
        sl_cli_print_json(out);
    } else {
        size_t i;
        json_t *e;
        printf("%s@%s -> %s@%s\n", json_string_value(json_object_get(a, "id")),
               json_string_value(json_object_get(a, "version")),
               json_string_value(json_object_get(b, "id")),
               json_string_value(json_object_get(b, "version")));
        printf("  sha256 %s -> %s\n", sl_packset_sha256(ps, ra), sl_packset_sha256(ps, rb));
        json_array_foreach(fields, i, e) printf("  ~ %s\n", json_string_value(e));
        print_items("rule", json_object_get(out, "rules"));
        print_items("obligation", json_object_get(out, "obligations"));
    }
    json_decref(out);
    return 0;
}

int sl_cmd_policy(int argc, char **argv)
{
    struct sl_opt o;
    const char *a, *sub = NULL, *id = NULL, *id2 = NULL, *dir = NULL;
    bool json = false, is_opt;
    struct sl_packset *ps = NULL;
    struct sl_error err;
    int code;

    sl_opt_init(&o, "policy", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt) {
            if (!sub)
                sub = a;
            else if (!id)
                id = a;
            else if (!id2 && strcmp(sub, "diff") == 0)
                id2 = a;
            else {
                sl_opt_release(&o);
                return sl_cli_usage("policy", "unexpected argument \"%s\"", a);
            }
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--policy-dir") == 0) {
            if (!(dir = sl_opt_value(&o, a))) {
                sl_opt_release(&o);
                return 2;
            }
        } else {
            sl_opt_release(&o);
            return sl_cli_usage("policy", "unknown option %s", a);
        }
    }
    sl_opt_release(&o);
    if (!sub || (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "diff") != 0))
        return sl_cli_usage("policy", "use `sluice policy list`, `sluice policy show ID` or "
                                      "`sluice policy diff ID@A ID@B`");
    if (strcmp(sub, "show") == 0 && !id)
        return sl_cli_usage("policy", "show needs a pack id");
    if (strcmp(sub, "diff") == 0 && !id2)
        return sl_cli_usage("policy", "diff needs two packs, e.g. eu-ai-act@1.0.0 eu-ai-act@1.1.0");
    sl_error_clear(&err);
    if (sl_cli_load_packs(dir, &ps, &err))
        return sl_cli_fail(&err);
    if (strcmp(sub, "diff") == 0)
        code = diff(ps, id, id2, json);
    else
        code = strcmp(sub, "list") == 0 ? list(ps, json) : show(ps, id, json);
    sl_packset_free(ps);
    return code;
}
