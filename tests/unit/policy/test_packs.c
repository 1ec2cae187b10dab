/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shipped packs at the statutes' own boundaries (issue 16): "more than"
 * 10^23, 10^25 and 10^26 (the line itself is below), Korea's "or more",
 * $500 M revenue, the one-third modification rule, the Art. 111(3) dates,
 * and the +/-30% band of the compute-conflict rule.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/date.h"
#include "policy/policy.h"

static struct sl_packset *ps;

static void setup(void)
{
    struct sl_error err;
    cr_assert_eq(sl_packset_builtin(&ps, &err), SL_OK, "%s", err.msg);
}

static void teardown(void)
{
    sl_packset_free(ps);
}

static json_t *decide(const char *facts, const char *as_of)
{
    struct sl_error err;
    struct sl_classify_in in;
    json_t *f = NULL, *d = NULL;
    int32_t day;

    cr_assert_eq(sl_facts_parse("facts", facts, strlen(facts), &f, &err), SL_OK, "%s", err.msg);
    cr_assert(sl_date_parse(as_of, &day));
    memset(&in, 0, sizeof(in));
    in.facts = f;
    in.as_of = day;
    cr_assert_eq(sl_classify(ps, &in, &d, &err), SL_OK, "%s", err.msg);
    json_decref(f);
    return d;
}

static bool fired(json_t *d, const char *rule)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(d, "rules_fired"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "rule")), rule) == 0)
            return true;
    }
    return false;
}

static json_t *obligation(json_t *d, const char *id)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(d, "obligations"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            return e;
    }
    return NULL;
}

/* Facts with a declared compute figure and extra keys. */
static json_t *at(double flop, const char *extra, const char *as_of)
{
    char facts[1024];

    snprintf(facts, sizeof(facts),
             "{\"params\": 1000000000, \"training\": {\"declared_flop\": %.17g}%s%s}", flop,
             extra[0] ? ", " : "", extra);
    return decide(facts, as_of);
}

TestSuite(packs, .init = setup, .fini = teardown);

Test(packs, eu_more_than_1e25_and_1e23)
{
    const char *eu = "\"modality\": [\"text\"], \"markets\": [\"EU\"]";
    json_t *d;

    d = at(1e25, eu, "2026-12-07");
    cr_expect(!fired(d, "eu.gpai-systemic-risk"), "10^25 itself is not more than 10^25");
    cr_expect(fired(d, "eu.gpai"));
    json_decref(d);
    d = at(1.0000001e25, eu, "2026-12-07");
    cr_expect(fired(d, "eu.gpai-systemic-risk"));
    cr_expect_not_null(obligation(d, "eu.art52.notification"));
    json_decref(d);
    d = at(1e23, eu, "2026-12-07");
    cr_expect(!fired(d, "eu.gpai"), "10^23 itself is not more than 10^23");
    json_decref(d);
    d = at(1.0000001e23, eu, "2026-12-07");
    cr_expect(fired(d, "eu.gpai"));
    json_decref(d);
}

Test(packs, eu_general_purpose_fact_decides_either_way)
{
    json_t *d;

    d = at(2e25, "\"modality\": [\"text\"], \"general_purpose\": false, \"markets\": [\"EU\"]",
           "2026-12-07");
    cr_expect(!fired(d, "eu.gpai-systemic-risk"));
    cr_expect(!fired(d, "eu.gpai"));
    json_decref(d);
    d = at(2e25, "\"modality\": [\"embedding\"], \"markets\": [\"EU\"]", "2026-12-07");
    cr_expect(!fired(d, "eu.gpai-systemic-risk"), "not a generative modality");
    json_decref(d);
    d = at(2e25, "\"modality\": [\"embedding\"], \"general_purpose\": true, \"markets\": [\"EU\"]",
           "2026-12-07");
    cr_expect(fired(d, "eu.gpai-systemic-risk"));
    json_decref(d);
}

Test(packs, eu_one_third_with_unknown_original_compute)
{
    static const char base[] = "\"modality\": [\"text\"], \"markets\": [\"EU\"], \"base_model\": "
                               "{\"name\": \"b\", \"systemic_risk\": false}";
    json_t *d;

    /* unknown original compute, not systemic: one third of 10^23 */
    d = at(3.3e22, base, "2026-12-07");
    cr_expect(fired(d, "eu.downstream-not-provider"));
    json_decref(d);
    d = at(3.4e22, base, "2026-12-07");
    cr_expect(fired(d, "eu.downstream-provider"));
    cr_expect_not_null(obligation(d, "eu.art54.authorised-representative"));
    cr_expect_null(obligation(d, "eu.art52.notification"));
    json_decref(d);
}

Test(packs, eu_art111_dates)
{
    const char *legacy = "\"modality\": [\"text\"], \"markets\": [\"EU\"], \"placed_on_market\": "
                         "\"2025-08-01\"";
    json_t *d = at(2e25, legacy, "2027-08-01");

    cr_expect(json_is_false(json_object_get(obligation(d, "eu.art52.notification"), "blocking")));
    json_decref(d);
    d = at(2e25, legacy, "2027-08-02");
    cr_expect(json_is_true(json_object_get(obligation(d, "eu.art52.notification"), "blocking")));
    json_decref(d);
}

Test(packs, us_more_than_1e26_and_500m_korea_or_more)
{
    const char *us = "\"markets\": [\"US\", \"KR\"], \"developer\": {\"annual_revenue_usd\": "
                     "500000000}";
    json_t *d = at(1e26, us, "2027-01-01");

    cr_expect(!fired(d, "us-ca.frontier-model"));
    cr_expect(!fired(d, "us-ny.frontier-model"));
    cr_expect(fired(d, "kr.high-performance-ai"), "Korea: 10^26 or more");
    json_decref(d);
    d = at(1.0000001e26, us, "2027-01-01");
    cr_expect(fired(d, "us-ca.frontier-model"));
    cr_expect(fired(d, "us-ny.frontier-model"));
    cr_expect(!fired(d, "us-ca.large-frontier-developer"), "$500 M is not more than $500 M");
    cr_expect(!fired(d, "us-ny.large-frontier-developer"));
    cr_expect_null(obligation(d, "us-ny.raise.disclosure-statement"));
    cr_expect_not_null(obligation(d, "us-ny.raise.incident-report"), "every frontier developer");
    json_decref(d);
    d = at(1.0000001e26,
           "\"markets\": [\"US\"], \"developer\": {\"annual_revenue_usd\": 500000001}",
           "2027-01-01");
    cr_expect(fired(d, "us-ny.large-frontier-developer"));
    cr_expect(json_is_true(
        json_object_get(obligation(d, "us-ny.raise.disclosure-statement"), "blocking")));
    json_decref(d);
    d = at(1.0000001e26, us, "2026-12-31");
    cr_expect(!fired(d, "us-ny.frontier-model"), "RAISE applies from 2027-01-01");
    json_decref(d);
}

Test(packs, conflict_band_edges)
{
    json_t *d;

    /* counting: 6 x 1e9 x 1e12 = 6e21; declared within 1.3x: no conflict */
    d = decide("{\"params\": 1000000000, \"training\": {\"tokens\": 1e12, \"declared_flop\": "
               "7.7e21}}",
               "2026-12-07");
    cr_expect_null(obligation(d, "facts.compute-conflict"));
    json_decref(d);
    d = decide("{\"params\": 1000000000, \"training\": {\"tokens\": 1e12, \"declared_flop\": "
               "7.9e21}}",
               "2026-12-07");
    cr_expect_not_null(obligation(d, "facts.compute-conflict"));
    json_decref(d);
    d = decide("{\"params\": 1000000000, \"training\": {\"tokens\": 1e12, \"declared_flop\": "
               "4.6e21}}",
               "2026-12-07");
    cr_expect_not_null(obligation(d, "facts.compute-conflict"), "a low declared figure too");
    cr_expect_eq(json_number_value(json_object_get(json_object_get(d, "compute"), "own_flop")),
                 6e21);
    json_decref(d);
}
