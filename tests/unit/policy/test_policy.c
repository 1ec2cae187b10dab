/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy engine: pack validation, three-valued conditions, dated and indexed
 * thresholds, dates in and out of force, waivers, and facts validation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/date.h"
#include "policy/policy.h"

static int32_t day(const char *s)
{
    int32_t d;
    cr_assert(sl_date_parse(s, &d), "%s", s);
    return d;
}

#define PACK_HEAD                                                                                  \
    "{\"id\":\"t\",\"version\":\"1\",\"title\":\"T\",\"jurisdiction\":\"global\","                 \
    "\"status\":\"in_force\",\"effective\":\"2025-01-01\",\"rescinded\":\"2030-01-01\","           \
    "\"sources\":[{\"title\":\"s\",\"url\":\"https://example.org\"}],"

static json_t *classify(const char *pack, const char *facts, const char *as_of,
                        struct sl_error *err, enum sl_err *rc_out)
{
    struct sl_packset *ps = sl_packset_new();
    json_t *f = NULL, *d = NULL;
    struct sl_classify_in in;
    const char *ids[1] = {"t"};
    enum sl_err rc;

    rc = sl_packset_add(ps, "t.json", pack, strlen(pack), err);
    if (!rc)
        rc = sl_packset_check(ps, err);
    if (!rc)
        rc = sl_facts_parse("facts", facts, strlen(facts), &f, err);
    if (!rc) {
        memset(&in, 0, sizeof(in));
        in.facts = f;
        in.packs = ids;
        in.npacks = 1;
        in.as_of = day(as_of);
        rc = sl_classify(ps, &in, &d, err);
    }
    json_decref(f);
    sl_packset_free(ps);
    if (rc_out)
        *rc_out = rc;
    return d;
}

static bool has_str(json_t *arr, const char *s)
{
    size_t i;
    json_t *e;

    json_array_foreach(arr, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
            return true;
        if (json_is_object(e) && (json_is_string(json_object_get(e, "rule")) &&
                                  !strcmp(json_string_value(json_object_get(e, "rule")), s)))
            return true;
        if (json_is_object(e) && (json_is_string(json_object_get(e, "id")) &&
                                  !strcmp(json_string_value(json_object_get(e, "id")), s)))
            return true;
    }
    return false;
}

Test(pack, builtin_packs_load_and_reference_defined_obligations)
{
    struct sl_packset *ps;
    struct sl_error err;

    cr_assert_eq(sl_packset_builtin(&ps, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_packset_count(ps), 9);
    /* kept versions are selectable by ID@VERSION but never counted, listed
     * or logged as active (the log iterates sl_packset_info) */
    cr_expect_gt(sl_packset_history_count(ps), 0);
    for (size_t i = 0; i < sl_packset_count(ps); i++) {
        struct sl_pack_info info;
        sl_packset_info(ps, i, &info);
        if (strcmp(info.id, "eu-ai-act") == 0)
            cr_expect_str_eq(info.version, "1.1.0");
    }
    cr_expect_not_null(sl_packset_doc(ps, "eu-ai-act@1.0.0"));
    cr_expect_null(sl_packset_doc(ps, "eu-ai-act@0.9.0"));
    cr_expect_not_null(sl_packset_doc(ps, "eu-ai-act"));
    cr_expect_not_null(sl_packset_doc(ps, "us-ca-sb1047"));
    sl_packset_free(ps);
}

Test(pack, schema_errors_name_the_path)
{
    static const struct {
        const char *tail, *needle;
    } bad[] = {
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"fact\":\"paramz\","
         "\"op\":\">\",\"value\":1},\"then\":{}}]}",
         "rules[0].when: unknown fact \"paramz\""},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"all\":[{\"fact\":"
         "\"params\",\"op\":\"=>\",\"value\":1}]},\"then\":{}}]}",
         "rules[0].when.all[0]: unknown op"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"known\":\"params\"},"
         "\"then\":{\"min_tier\":\"secret\"}}]}",
         "min_tier"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"known\":\"params\"},"
         "\"then\":{\"obligations\":[\"nope\"]}}]}",
         "names obligation \"nope\""},
        {"\"rules\":[],\"extra\":1}", "unknown key \"extra\""},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"fact\":\"params\","
         "\"op\":\">\",\"value\":{\"schedule\":[{\"from\":\"2026-01-01\",\"value\":1},{\"from\":"
         "\"2025-01-01\",\"value\":2}]}},\"then\":{}}]}",
         "dates must increase"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"verified\":false,"
         "\"when\":{\"known\":\"params\"},\"then\":{}}]}",
         "rules[0]: \"verified\": false and \"unverified\""},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"ambiguous\":true,"
         "\"when\":{\"known\":\"params\"},\"then\":{}}]}",
         "\"ambiguity\" (the reason)"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"fact\":"
         "\"placed_on_market\",\"op\":\"<\",\"value\":\"soon\"},\"then\":{}}]}",
         "needs a number or a date"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"known\":"
         "\"params\"},\"then\":{\"defer_until\":\"2027-01-01\"}}]}",
         "\"defers\" and \"defer_until\" go together"},
        {"\"notes\":[{\"text\":\"n\",\"from\":\"later\"}],\"rules\":[]}",
         "notes[0]: \"from\" must be a date"},
        {"\"checked\":\"yesterday\",\"rules\":[]}", "\"checked\" must be a date"},
        {"\"rules\":[{\"id\":\"r\",\"title\":\"x\",\"cite\":\"c\",\"when\":{\"known\":"
         "\"params\"},\"then\":{\"only_below_tier\":\"open\"}}]}",
         "\"only_below_tier\" must be click"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char pack[4096];
        struct sl_error err;
        enum sl_err rc;
        snprintf(pack, sizeof(pack), "%s%s", PACK_HEAD, bad[i].tail);
        classify(pack, "{}", "2026-01-01", &err, &rc);
        cr_expect_eq(rc, SL_EINPUT, "case %zu", i);
        cr_expect(strstr(err.msg, bad[i].needle) != NULL, "case %zu: %s", i, err.msg);
    }
}

static const char tri_pack[] = PACK_HEAD
    "\"obligations\":[{\"id\":\"o.need\",\"title\":\"t\",\"cite\":\"c\",\"blocking\":true},"
    "{\"id\":\"o.waived\",\"title\":\"t\",\"cite\":\"c\",\"blocking\":false}],"
    "\"rules\":["
    "{\"id\":\"big\",\"title\":\"x\",\"cite\":\"Art. 1\",\"when\":{\"fact\":\"compute.cumulative\","
    "\"op\":\">\",\"value\":1e25},\"then\":{\"min_tier\":\"gated\",\"labels\":[\"big\"],"
    "\"obligations\":[\"o.need\",\"o.waived\"]}},"
    "{\"id\":\"either\",\"title\":\"x\",\"cite\":\"Art. 2\",\"when\":{\"any\":[{\"fact\":"
    "\"compute.cumulative\",\"op\":\">\",\"value\":1e25},{\"fact\":\"markets\",\"op\":\"in\","
    "\"value\":[\"EU\"]}]},\"then\":{\"labels\":[\"either\"],\"waives\":[\"o.waived\"]}},"
    "{\"id\":\"late\",\"title\":\"x\",\"cite\":\"Art. 3\",\"effective\":\"2027-01-01\",\"when\":"
    "{\"known\":\"params\"},\"then\":{\"labels\":[\"late\"]}},"
    "{\"id\":\"sched\",\"title\":\"x\",\"cite\":\"Art. 4\",\"when\":{\"fact\":\"params\",\"op\":"
    "\">\",\"value\":{\"schedule\":[{\"from\":\"2026-01-01\",\"value\":100},{\"from\":"
    "\"2028-01-01\",\"value\":1000}]}},\"then\":{\"labels\":[\"sched\"]}},"
    "{\"id\":\"idx\",\"title\":\"x\",\"cite\":\"Art. 5\",\"when\":{\"fact\":\"params\",\"op\":"
    "\">\",\"value\":{\"indexed\":{\"base\":100,\"base_date\":\"2026-01-01\",\"doubling_years\":"
    "1}}},\"then\":{\"labels\":[\"idx\"]}}"
    "]}";

Test(eval, unknown_facts_leave_rules_undecided)
{
    struct sl_error err;
    enum sl_err rc;
    json_t *d = classify(tri_pack, "{\"params\": 500}", "2026-06-01", &err, &rc);

    cr_assert_eq(rc, SL_OK, "%s", err.msg);
    cr_expect(has_str(json_object_get(d, "rules_undecided"), "big"));
    cr_expect(has_str(json_object_get(d, "rules_undecided"), "either"),
              "unknown or unknown is unknown");
    cr_expect_str_eq(json_string_value(json_object_get(d, "min_tier")), "open");
    cr_expect(!has_str(json_object_get(d, "labels"), "late"), "not yet effective");
    cr_expect(has_str(json_object_get(d, "labels"), "sched"), "500 > 100 in 2026");
    json_decref(d);
}

Test(eval, true_any_with_unknown_part_fires_and_waives)
{
    struct sl_error err;
    enum sl_err rc;
    json_t *d = classify(tri_pack,
                         "{\"params\": 7e9, \"training\": {\"tokens\": 1e15}, "
                         "\"markets\": [\"EU\"]}",
                         "2027-06-01", &err, &rc);

    cr_assert_eq(rc, SL_OK, "%s", err.msg);
    cr_expect(has_str(json_object_get(d, "labels"), "big"));
    cr_expect(has_str(json_object_get(d, "labels"), "either"));
    cr_expect(has_str(json_object_get(d, "labels"), "late"));
    cr_expect_str_eq(json_string_value(json_object_get(d, "min_tier")), "gated");
    cr_expect(has_str(json_object_get(d, "obligations"), "o.need"));
    cr_expect(!has_str(json_object_get(d, "obligations"), "o.waived"));
    cr_expect(has_str(json_object_get(d, "waived"), "o.waived"));
    {
        json_t *r = json_array_get(json_object_get(d, "rules_fired"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(r, "cite")), "Art. 1");
        cr_expect(strstr(json_string_value(json_object_get(r, "why")), "compute.cumulative") !=
                  NULL);
    }
    json_decref(d);
}

Test(eval, schedules_and_indexed_thresholds_move_with_the_date)
{
    struct sl_error err;
    enum sl_err rc;
    json_t *d;

    d = classify(tri_pack, "{\"params\": 500}", "2025-06-01", &err, &rc);
    cr_expect(!has_str(json_object_get(d, "labels"), "sched"), "before the first step");
    json_decref(d);
    d = classify(tri_pack, "{\"params\": 500}", "2028-06-01", &err, &rc);
    cr_expect(!has_str(json_object_get(d, "labels"), "sched"), "threshold 1000 from 2028");
    /* indexed: 100 * 2^(years since 2026) -> 2028.4 is about 530 */
    cr_expect(!has_str(json_object_get(d, "labels"), "idx"));
    json_decref(d);
    d = classify(tri_pack, "{\"params\": 500}", "2028-01-01", &err, &rc);
    cr_expect(has_str(json_object_get(d, "labels"), "idx"), "about 400 at 2028-01-01");
    json_decref(d);
    d = classify(tri_pack, "{\"params\": 500}", "2030-02-01", &err, &rc);
    cr_expect_eq(json_array_size(json_object_get(d, "rules_fired")), 0, "pack rescinded");
    cr_expect_eq(json_array_size(json_object_get(d, "packs_not_applied")), 1);
    json_decref(d);
}

Test(eval, jurisdiction_follows_markets)
{
    struct sl_error err;
    enum sl_err rc;
    char pack[sizeof(tri_pack)];
    const char *at = strstr(tri_pack, "\"global\"");
    json_t *d;

    /* the same pack, for jurisdiction "US" */
    snprintf(pack, sizeof(pack), "%.*s\"US\"%s", (int)(at - tri_pack), tri_pack, at + 8);
    d = classify(pack, "{\"params\": 500, \"markets\": [\"EU\"]}", "2026-06-01", &err, &rc);
    cr_assert_eq(rc, SL_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(json_object_get(d, "packs")), 0);
    json_decref(d);
    d = classify(pack, "{\"params\": 500, \"markets\": [\"US-NY\"]}", "2026-06-01", &err, &rc);
    cr_expect_eq(json_array_size(json_object_get(d, "packs")), 1, "US covers US-NY");
    json_decref(d);
}

Test(facts, validation_errors_name_the_key)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"training\": {\"tokenz\": 1}}", "training.tokenz: unknown key"},
        {"{\"params\": -1}", "params: must not be negative"},
        {"{\"params\": 1.5}", "whole number"},
        {"{\"params\": 1e300}", "over the limit"},
        {"{\"training\": {\"hardware\": [{\"chip\": \"x\", \"utilization\": 40}]}}",
         "training.hardware[0].utilization"},
        {"{\"evaluations\": [{\"domain\": \"cbrn\", \"level\": \"severe\"}]}",
         "evaluations[0].level"},
        {"{\"markets\": [\"europe\"]}", "markets"},
        {"{\"training\": {\"date\": \"2024-02-30\"}}", "training.date"},
        {"{\"modality\": \"text\"}", "modality: must be an array"},
        {"[1]", "must be a JSON object"},
        {"{\"params\": NaN}", "line 1"},
        {"{\"a\": 1, \"a\": 2}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *f = NULL;
        struct sl_error err;
        cr_expect_eq(sl_facts_parse("f.json", bad[i].text, strlen(bad[i].text), &f, &err),
                     SL_EINPUT, "case %zu", i);
        cr_expect(strstr(err.msg, bad[i].needle) != NULL, "case %zu: %s", i, err.msg);
        cr_expect(strncmp(err.msg, "f.json", 6) == 0);
        json_decref(f);
    }
}

Test(facts, the_issue_example_is_valid)
{
    static const char text[] =
        "{\"params\": 405000000000, \"active_params\": 405000000000,"
        " \"training\": {\"tokens\": 1.56e13, \"epochs\": 1, \"fine_tune_tokens\": 0,"
        " \"declared_flop\": null, \"hardware\": [{\"chip\": \"nvidia-h100-sxm\", \"count\": 16384,"
        " \"hours\": 2000, \"utilization\": 0.4, \"precision\": \"bf16\"}], \"date\": "
        "\"2024-07-01\"},"
        " \"base_model\": {\"name\": \"org/name\", \"training_flop\": 3.8e25},"
        " \"modality\": [\"text\"], \"biological_sequence_data\": false,"
        " \"license\": {\"spdx\": \"Apache-2.0\", \"noncommercial\": false, \"user_cap\": false,"
        " \"no_redistribution\": false, \"paid_only\": false},"
        " \"developer\": {\"annual_revenue_usd\": 1e9}, \"markets\": [\"EU\", \"US-CA\", "
        "\"US-NY\"],"
        " \"evaluations\": [{\"domain\": \"cbrn\", \"level\": \"low\"}]}";
    json_t *f = NULL;
    struct sl_error err;

    cr_expect_eq(sl_facts_parse("f.json", text, strlen(text), &f, &err), SL_OK, "%s", err.msg);
    json_decref(f);
}

/* Issue 16: every built-in rule and obligation has a citation, every pack a
 * source list and the date its sources were checked; a rule that is not
 * verified or is contested says why. */
Test(pack, every_builtin_rule_is_cited_and_every_pack_sourced)
{
    struct sl_packset *ps;
    struct sl_error err;

    cr_assert_eq(sl_packset_builtin(&ps, &err), SL_OK, "%s", err.msg);
    for (size_t i = 0; i < sl_packset_count(ps); i++) {
        struct sl_pack_info info;
        json_t *doc, *e;
        size_t k;
        sl_packset_info(ps, i, &info);
        doc = sl_packset_doc(ps, info.id);
        cr_expect_gt(json_array_size(json_object_get(doc, "sources")), 0, "%s", info.id);
        json_array_foreach(json_object_get(doc, "rules"), k, e)
        {
            const char *cite = json_string_value(json_object_get(e, "cite"));
            cr_expect(cite && strlen(cite) > 5, "%s rule %zu", info.id, k);
            cr_expect(!strstr(cite, "to verify"), "%s rule %zu: cite says 'to verify'", info.id, k);
        }
        json_array_foreach(json_object_get(doc, "obligations"), k, e)
        {
            const char *cite = json_string_value(json_object_get(e, "cite"));
            cr_expect(cite && strlen(cite) > 5, "%s obligation %zu", info.id, k);
        }
    }
    sl_packset_free(ps);
}

static const char date_pack[] = PACK_HEAD
    "\"notes\":[{\"text\":\"before\",\"until\":\"2026-08-02\"},{\"text\":\"since\","
    "\"from\":\"2026-08-02\"}],"
    "\"obligations\":[{\"id\":\"o.b\",\"title\":\"t\",\"cite\":\"c\",\"blocking\":true}],"
    "\"rules\":["
    "{\"id\":\"duty\",\"title\":\"x\",\"cite\":\"Art. 1\",\"when\":{\"known\":\"params\"},"
    "\"then\":{\"obligations\":[\"o.b\"]}},"
    "{\"id\":\"old\",\"title\":\"x\",\"cite\":\"Art. 2\",\"ambiguous\":true,\"ambiguity\":"
    "\"contested\",\"when\":{\"fact\":\"placed_on_market\",\"op\":\"<\",\"value\":"
    "\"2025-08-02\"},\"then\":{\"defers\":[\"o.b\"],\"defer_until\":\"2027-08-02\"}},"
    "{\"id\":\"gp\",\"title\":\"x\",\"cite\":\"Art. 3\",\"when\":{\"all\":[{\"fact\":"
    "\"params\",\"op\":\">\",\"value\":1e12},{\"fact\":\"general_purpose\",\"op\":\"==\","
    "\"value\":true}]},\"then\":{}}"
    "]}";

Test(eval, dates_compare_defer_and_notes_follow_the_day)
{
    struct sl_error err;
    enum sl_err rc;
    json_t *d, *o, *fr;

    d = classify(date_pack, "{\"params\": 5, \"placed_on_market\": \"2025-08-01\"}", "2026-08-01",
                 &err, &rc);
    cr_assert_eq(rc, SL_OK, "%s", err.msg);
    o = json_array_get(json_object_get(d, "obligations"), 0);
    cr_expect(json_is_false(json_object_get(o, "blocking")), "deferred: not blocking");
    cr_expect(strstr(json_string_value(json_object_get(o, "deadline")), "2027-08-02"));
    fr = json_array_get(json_object_get(d, "rules_fired"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(fr, "ambiguity")), "contested");
    cr_expect(has_str(json_object_get(d, "notes"), "t: before"));
    cr_expect(!has_str(json_object_get(d, "notes"), "t: since"));
    /* a false `all` needs none of its unknown facts */
    cr_expect(!has_str(json_object_get(d, "rules_undecided"), "gp"));
    json_decref(d);

    d = classify(date_pack, "{\"params\": 5, \"placed_on_market\": \"2025-08-02\"}", "2026-08-02",
                 &err, &rc);
    cr_assert_eq(rc, SL_OK, "%s", err.msg);
    o = json_array_get(json_object_get(d, "obligations"), 0);
    cr_expect(json_is_true(json_object_get(o, "blocking")), "on the day itself: not before");
    cr_expect(has_str(json_object_get(d, "notes"), "t: since"));
    json_decref(d);

    d = classify(date_pack, "{\"params\": 5, \"placed_on_market\": \"2020-01-01\"}", "2027-08-02",
                 &err, &rc);
    o = json_array_get(json_object_get(d, "obligations"), 0);
    cr_expect(json_is_true(json_object_get(o, "blocking")), "grace period over");
    json_decref(d);
}
