/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every numeric threshold of the shipped packs at its exact value, a hair
 * below and a hair above, through the built-in packs and sl_classify() (issue
 * 11, item 12: a `>` turned into `>=` made a model at exactly 10^25 FLOP
 * systemic-risk and no test noticed). The table below is checked against the
 * packs themselves: a threshold added to the policy folder without a row here
 * fails `every_threshold_of_the_packs_has_a_row`.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/date.h"
#include "policy/policy.h"

/* One comparison of one rule. `facts` holds "@" where the varied number
 * goes; the number is `value`, `value` x (1 - 1e-12) and x (1 + 1e-12). The
 * compared fact equals the number itself (declared compute with no base
 * model, or the revenue), except for the ratio rows, where the number is the
 * own compute over a base model of 3 FLOP. */
struct row {
    const char *pack, *fact, *op;
    double value;
    const char *as_of;
    const char *facts;
    const char *label;
    bool below, exact, above; /* whether `label` is given */
};

#define TEXT     "\"modality\":[\"text\"]"
#define DECL     "\"training\":{\"declared_flop\":@}"
#define OPEN_LIC "\"license\":{\"spdx\":\"Apache-2.0\"},\"base_model\":{\"systemic_risk\":false}"
#define BASE3    "\"base_model\":{\"name\":\"o/base\",\"training_flop\":3"
#define BASE_ANY "\"base_model\":{\"name\":\"o/base\""

static const struct row rows[] = {
    /* EU AI Act */
    {"eu-ai-act", "compute.param_update", ">", 1e23, "2026-06-01", "{" DECL "," TEXT "}", "eu.gpai",
     false, false, true},
    {"eu-ai-act", "compute.cumulative", ">", 1e25, "2026-06-01", "{" DECL "," TEXT "}",
     "eu.gpai-systemic-risk", false, false, true},
    /* the open-source exemption: above 10^23 and NOT above 10^25 */
    {"eu-ai-act", "compute.param_update", ">", 1e23, "2026-06-01",
     "{" DECL "," TEXT "," OPEN_LIC "}", "eu.open-source-exempt", false, false, true},
    {"eu-ai-act", "compute.cumulative", ">", 1e25, "2026-06-01", "{" DECL "," TEXT "," OPEN_LIC "}",
     "eu.open-source-exempt", true, true, false},
    /* downstream modifiers: one third of the base model's compute */
    {"eu-ai-act", "compute.modification_ratio", ">", 1.0 / 3.0, "2026-06-01",
     "{" DECL "," TEXT "," BASE3 "}}", "eu.downstream-provider", false, false, true},
    {"eu-ai-act", "compute.modification_ratio", ">", 1.0 / 3.0, "2026-06-01",
     "{" DECL "," TEXT "," BASE3 ",\"systemic_risk\":true}}", "eu.downstream-systemic-risk", false,
     false, true},
    /* base compute unknown: a third of 10^25 (systemic base), of 10^23 (other) */
    {"eu-ai-act", "compute.own", ">", 3.333333333333334e+24, "2026-06-01",
     "{" DECL "," TEXT "," BASE_ANY ",\"systemic_risk\":true}}", "eu.downstream-provider", false,
     false, true},
    {"eu-ai-act", "compute.own", ">", 3.333333333333334e+24, "2026-06-01",
     "{" DECL "," TEXT "," BASE_ANY ",\"systemic_risk\":true}}", "eu.downstream-systemic-risk",
     false, false, true},
    {"eu-ai-act", "compute.own", ">", 3.333333333333333e+22, "2026-06-01",
     "{" DECL "," TEXT "," BASE_ANY "}}", "eu.downstream-provider", false, false, true},
    /* at or below one third, the modifier is not a provider (EU pack 1.1.0) */
    {"eu-ai-act", "compute.modification_ratio", "<=", 1.0 / 3.0, "2026-06-01",
     "{" DECL "," TEXT "," BASE3 "}}", "eu.downstream-not-provider", true, true, false},
    {"eu-ai-act", "compute.own", "<=", 3.333333333333334e+24, "2026-06-01",
     "{" DECL "," TEXT "," BASE_ANY ",\"systemic_risk\":true}}", "eu.downstream-not-provider", true,
     true, false},
    {"eu-ai-act", "compute.own", "<=", 3.333333333333333e+22, "2026-06-01",
     "{" DECL "," TEXT "," BASE_ANY "}}", "eu.downstream-not-provider", true, true, false},
    /* Korea: cumulative compute of at least 10^26 (unverified, docs/policy.md) */
    {"kr-ai-basic-act", "compute.cumulative", ">=", 1e26, "2026-06-01", "{" DECL "}",
     "kr.high-performance-ai", false, true, true},
    /* the tiered-release framework */
    {"tiered-release", "compute.cumulative", ">", 1e26, "2026-06-01", "{" DECL "}",
     "tiered.frontier-gated", false, false, true},
    {"tiered-release", "compute.cumulative", ">", 1e25, "2026-06-01", "{" DECL "}",
     "tiered.systemic-click", false, false, true},
    {"tiered-release", "compute.cumulative", "<", 1e23, "2026-06-01", "{" DECL "}",
     "baseline.small-model", true, false, false},
    {"tiered-release", "compute.cumulative", ">", 1e23, "2026-06-01",
     "{" DECL ",\"biological_sequence_data\":true}", "tiered.bio-model", false, false, true},
    /* indexed thresholds on their base date are the base */
    {"tiered-release-indexed", "compute.cumulative", ">", 1e26, "2026-01-01", "{" DECL "}",
     "tiered.indexed-frontier-gated", false, false, true},
    {"tiered-release-indexed", "compute.cumulative", ">", 1e25, "2026-01-01", "{" DECL "}",
     "tiered.indexed-systemic-click", false, false, true},
    /* US */
    {"us-bis-ai-diffusion", "compute.param_update", ">=", 1e26, "2025-03-01", "{" DECL "}",
     "us.bis.eccn-4e091", false, true, true},
    {"us-eo14110", "compute.param_update", ">", 1e26, "2024-06-01", "{" DECL "}",
     "us.eo14110.dual-use-reporting", false, false, true},
    {"us-eo14110", "compute.param_update", ">", 1e23, "2024-06-01",
     "{" DECL ",\"biological_sequence_data\":true}", "us.eo14110.dual-use-reporting", false, false,
     true},
    {"us-ca-sb1047", "compute.param_update", ">", 1e26, "2026-06-01", "{" DECL "}",
     "us-ca.sb1047.covered-model", false, false, true},
    {"us-ca-sb1047", "compute.own", ">=", 3e25, "2026-06-01", "{" DECL "," BASE_ANY "}}",
     "us-ca.sb1047.covered-fine-tune", false, true, true},
    {"us-ca-sb53", "compute.param_update", ">", 1e26, "2026-06-01", "{" DECL "}",
     "us-ca.frontier-model", false, false, true},
    {"us-ca-sb53", "compute.param_update", ">", 1e26, "2026-06-01",
     "{" DECL ",\"developer\":{\"annual_revenue_usd\":1e9}}", "us-ca.large-frontier-developer",
     false, false, true},
    {"us-ca-sb53", "developer.annual_revenue_usd", ">", 5e8, "2026-06-01",
     "{\"training\":{\"declared_flop\":2e26},\"developer\":{\"annual_revenue_usd\":@}}",
     "us-ca.large-frontier-developer", false, false, true},
    /* SB 53 and RAISE 1.1.0 test the developer's own compute; a base model's
     * compute that carries the total over the line is contested */
    {"us-ca-sb53", "compute.own", ">", 1e26, "2026-06-01", "{" DECL "}", "us-ca.frontier-model",
     false, false, true},
    {"us-ca-sb53", "compute.own", ">", 1e26, "2026-06-01",
     "{" DECL ",\"developer\":{\"annual_revenue_usd\":1e9}}", "us-ca.large-frontier-developer",
     false, false, true},
    {"us-ca-sb53", "compute.own", ">", 1e26, "2026-06-01",
     "{" DECL "," BASE_ANY ",\"training_flop\":1e26}}", "us-ca.frontier-status-contested", true,
     true, false},
    {"us-ny-raise", "compute.own", ">", 1e26, "2027-06-01", "{" DECL "}", "us-ny.frontier-model",
     false, false, true},
    {"us-ny-raise", "compute.own", ">", 1e26, "2027-06-01",
     "{" DECL ",\"developer\":{\"annual_revenue_usd\":1e9}}", "us-ny.large-frontier-developer",
     false, false, true},
    {"us-ny-raise", "compute.own", ">", 1e26, "2027-06-01",
     "{" DECL "," BASE_ANY ",\"training_flop\":1e26}}", "us-ny.frontier-status-contested", true,
     true, false},
    {"us-ny-raise", "compute.param_update", ">", 1e26, "2027-06-01", "{" DECL "}",
     "us-ny.frontier-model", false, false, true},
    {"us-ny-raise", "compute.param_update", ">", 1e26, "2027-06-01",
     "{" DECL ",\"developer\":{\"annual_revenue_usd\":1e9}}", "us-ny.large-frontier-developer",
     false, false, true},
    {"us-ny-raise", "developer.annual_revenue_usd", ">", 5e8, "2027-06-01",
     "{\"training\":{\"declared_flop\":2e26},\"developer\":{\"annual_revenue_usd\":@}}",
     "us-ny.large-frontier-developer", false, false, true},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Thresholds with no row, and why: a derived dollar figure cannot be set to
 * an exact value through the facts (the comparator itself is tested at
 * exact values below). */
static const struct {
    const char *fact;
    const char *why;
} unrowed[] = {
    {"cost_usd", "derived from compute and the price table"},
};

static bool has_label(json_t *d, const char *label)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(d, "labels"), i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), label) == 0)
            return true;
    }
    return false;
}

static void subst(const char *tmpl, double v, char *out, size_t n)
{
    const char *at = strchr(tmpl, '@');
    char num[40];

    cr_assert_not_null(at, "no @ in %s", tmpl);
    snprintf(num, sizeof(num), "%.17g", v);
    snprintf(out, n, "%.*s%s%s", (int)(at - tmpl), tmpl, num, at + 1);
}

static bool fires(const struct sl_packset *ps, const struct row *r, double v, char *facts, size_t n)
{
    struct sl_classify_in in;
    struct sl_error err;
    json_t *f = NULL, *d = NULL;
    const char *ids[1];
    int32_t day;
    bool yes;

    subst(r->facts, v, facts, n);
    cr_assert(sl_date_parse(r->as_of, &day));
    cr_assert_eq(sl_facts_parse("facts", facts, strlen(facts), &f, &err), SL_OK, "%s: %s", facts,
                 err.msg);
    memset(&in, 0, sizeof(in));
    ids[0] = r->pack;
    in.facts = f;
    in.packs = ids;
    in.npacks = 1;
    in.as_of = day;
    cr_assert_eq(sl_classify(ps, &in, &d, &err), SL_OK, "%s: %s", facts, err.msg);
    yes = has_label(d, r->label);
    json_decref(d);
    json_decref(f);
    return yes;
}

Test(thresholds, every_row_at_below_exact_and_above)
{
    struct sl_packset *ps;
    struct sl_error err;
    size_t ran = 0;

    cr_assert_eq(sl_packset_builtin(&ps, &err), SL_OK, "%s", err.msg);
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        const double at[3] = {r->value * (1 - 1e-12), r->value, r->value * (1 + 1e-12)};
        const bool want[3] = {r->below, r->exact, r->above};
        static const char *const where[3] = {"just below", "exactly at", "just above"};
        double v;
        for (int k = 0; k < 3; k++) {
            char facts[512];
            /* the ratio rows vary the own compute over a base of 3 */
            v = strcmp(r->fact, "compute.modification_ratio") == 0 ? at[k] * 3 : at[k];
            cr_expect_eq(fires(ps, r, v, facts, sizeof(facts)), want[k],
                         "%s %s %s %.17g: %s is %s given %s %s", r->pack, r->fact, r->op, r->value,
                         r->label, want[k] ? "missing" : "given", where[k], facts);
            ran++;
        }
    }
    cr_expect_eq(ran, 3 * NROWS);
    cr_expect_eq(NROWS, 36, "rows were added or lost: update the count");
    sl_packset_free(ps);
}

/* Every (pack, fact, op, value) comparison in the shipped packs. */
static void collect(const char *pack, json_t *c, size_t *n, size_t *missing)
{
    const char *k;
    json_t *v, *e;
    size_t i;

    if (json_is_array(c)) {
        json_array_foreach(c, i, e) collect(pack, e, n, missing);
        return;
    }
    if (!json_is_object(c))
        return;
    if (json_is_string(json_object_get(c, "fact")) && json_is_string(json_object_get(c, "op"))) {
        const char *fact = json_string_value(json_object_get(c, "fact"));
        const char *op = json_string_value(json_object_get(c, "op"));
        json_t *val = json_object_get(c, "value");
        double th;
        bool found = false;
        if (json_is_object(val) && json_is_object(json_object_get(val, "indexed")))
            val = json_object_get(json_object_get(val, "indexed"), "base");
        if (!json_is_number(val))
            return; /* in, ==: not thresholds */
        th = json_number_value(val);
        (*n)++;
        for (size_t j = 0; j < NROWS && !found; j++)
            found = !strcmp(rows[j].pack, pack) && !strcmp(rows[j].fact, fact) &&
                    !strcmp(rows[j].op, op) && rows[j].value == th;
        for (size_t j = 0; j < sizeof(unrowed) / sizeof(unrowed[0]) && !found; j++)
            found = !strcmp(unrowed[j].fact, fact);
        cr_expect(found, "%s: %s %s %.17g has no row in test_thresholds.c", pack, fact, op, th);
        if (!found)
            (*missing)++;
        return;
    }
    json_object_foreach(c, k, v) collect(pack, v, n, missing);
}

Test(thresholds, every_threshold_of_the_packs_has_a_row)
{
    struct sl_packset *ps;
    struct sl_error err;
    size_t n = 0, missing = 0;

    cr_assert_eq(sl_packset_builtin(&ps, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_packset_count(ps), 9);
    for (size_t i = 0; i < sl_packset_count(ps); i++) {
        struct sl_pack_info info;
        json_t *doc;
        sl_packset_info(ps, i, &info);
        doc = sl_packset_doc(ps, info.id);
        cr_assert_not_null(doc, "%s", info.id);
        collect(info.id, json_object_get(doc, "rules"), &n, &missing);
    }
    /* 39 comparisons of numbers in the nine packs today (the policy folder). */
    cr_expect_eq(n, 39, "the packs hold %zu numeric comparisons", n);
    cr_expect_eq(missing, 0);
    sl_packset_free(ps);
}

/* The comparator alone, on a whole-number fact that can be set exactly. */
Test(thresholds, each_operator_at_the_exact_value)
{
    static const struct {
        const char *op;
        bool below, exact, above;
    } ops[] = {
        {">", false, false, true},
        {">=", false, true, true},
        {"<", true, false, false},
        {"<=", true, true, false},
    };
    size_t ran = 0;

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char pack[1024];
        struct sl_packset *ps = sl_packset_new();
        struct sl_error err;
        const long long at[3] = {999999, 1000000, 1000001};
        const bool want[3] = {ops[i].below, ops[i].exact, ops[i].above};

        snprintf(pack, sizeof(pack),
                 "{\"id\":\"t\",\"version\":\"1\",\"title\":\"T\",\"jurisdiction\":\"global\","
                 "\"status\":\"in_force\",\"effective\":\"2025-01-01\",\"rescinded\":null,"
                 "\"sources\":[{\"title\":\"s\",\"url\":\"https://example.org\"}],"
                 "\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"fact\":"
                 "\"params\",\"op\":\"%s\",\"value\":1000000},\"then\":{\"labels\":[\"hit\"]}}]}",
                 ops[i].op);
        cr_assert_eq(sl_packset_add(ps, "t.json", pack, strlen(pack), &err), SL_OK, "%s", err.msg);
        cr_assert_eq(sl_packset_check(ps, &err), SL_OK, "%s", err.msg);
        for (int k = 0; k < 3; k++) {
            char facts[64];
            json_t *f = NULL, *d = NULL;
            struct sl_classify_in in;
            const char *ids[1] = {"t"};
            snprintf(facts, sizeof(facts), "{\"params\": %lld}", at[k]);
            cr_assert_eq(sl_facts_parse("facts", facts, strlen(facts), &f, &err), SL_OK);
            memset(&in, 0, sizeof(in));
            in.facts = f;
            in.packs = ids;
            in.npacks = 1;
            cr_assert(sl_date_parse("2026-01-01", &in.as_of));
            cr_assert_eq(sl_classify(ps, &in, &d, &err), SL_OK, "%s", err.msg);
            cr_expect_eq(has_label(d, "hit"), want[k], "params %lld %s 1000000", at[k], ops[i].op);
            json_decref(d);
            json_decref(f);
            ran++;
        }
        sl_packset_free(ps);
    }
    cr_expect_eq(ran, 12);
}
