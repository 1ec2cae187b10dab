/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regulator drafts (docs/drafts.md): for every form, every TODO is either a
 * fact key that the decision really lacks or a question no fact answers;
 * given the facts, their TODOs go; the log entry is always quoted; bad
 * input is refused with a reason.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "policy/draft.h"

/* Fact keys a draft may ask for (docs/facts.md). */
static const char *const fact_keys[] = {"training.date",
                                        "training.declared_flop",
                                        "training.tokens",
                                        "training.hardware",
                                        "placed_on_market",
                                        "modality",
                                        "license.spdx",
                                        "params",
                                        "base_model.name",
                                        "evaluations",
                                        "developer.annual_revenue_usd",
                                        NULL};

static json_t *lookup(json_t *o, const char *dotted)
{
    char part[128];

    while (o && *dotted) {
        const char *dot = strchr(dotted, '.');
        size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
        snprintf(part, sizeof(part), "%.*s", (int)n, dotted);
        o = json_object_get(o, part);
        dotted += n + (dot ? 1 : 0);
    }
    return o && !json_is_null(o) ? o : NULL;
}

static json_t *decision_with(json_t *facts, bool known, const char *const *labels,
                             const char *obligation)
{
    json_t *d = json_pack(
        "{s:s, s:s, s:O, s:i, s:s, s:[{s:s, s:s, s:s}], s:[]}", "as_of", "2026-12-07", "min_tier",
        "click", "facts", facts, "log_index", 7, "log_proof",
        "c2sp.org/tlog-proof@v1\nindex 7\nAAAA\n\nsluice\n8\nBBBB\n\n— sluice x\n", "pack_versions",
        "pack", "eu-ai-act", "version", "1.1.0", "sha256", "ab", "labels");
    json_t *c = known ? json_pack("{s:b, s:f, s:f, s:f, s:f, s:[{s:s, s:f, s:s}], s:n}", "known", 1,
                                  "flop_central", 2.3e25, "own_flop", 2.3e25, "flop_low", 1.61e25,
                                  "flop_high", 2.99e25, "methods", "method", "declared", "flop",
                                  2.3e25, "detail", "declared by the publisher", "conflict")
                      : json_pack("{s:b}", "known", 0);

    json_object_set_new(d, "compute", c);
    for (; labels && *labels; labels++)
        json_array_append_new(json_object_get(d, "labels"), json_string(*labels));
    if (obligation)
        json_object_set_new(d, "obligations",
                            json_pack("[{s:s, s:s}]", "id", obligation, "cite", "Art. 52(1)"));
    return d;
}

static json_t *version(void)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:i, s:[{s:s, s:i, s:s}], s:{s:s, s:{s:s, s:i}}}",
                     "version", 3, "commit", "c0ffee", "created", "2026-11-30T10:00:00.000Z",
                     "tier", "gated", "bytes_total", 1234, "files", "path", "model.safetensors",
                     "size", 1234, "sha256", "d00d", "inspect", "format", "safetensors",
                     "architecture", "type", "llama", "layers", 32);
}

/* Checks every TODO of the draft (JSON and Markdown agree). */
static void check_todos(json_t *draft, json_t *facts)
{
    char *md = sl_draft_markdown(draft);
    size_t i, in_md = 0;
    json_t *t;
    const char *p;

    json_array_foreach(json_object_get(draft, "todos"), i, t)
    {
        const char *s = json_string_value(t);
        bool is_fact = false;
        char needle[300];
        for (const char *const *k = fact_keys; *k; k++)
            is_fact |= strcmp(*k, s) == 0;
        if (is_fact)
            cr_expect_null(lookup(facts, s), "TODO(%s) but the facts give it", s);
        else
            cr_expect(strchr(s, ' ') != NULL, "TODO(%s) is neither a known fact nor a question", s);
        cr_expect(!strpbrk(s, "()\n"), "TODO(%s) must not hold parentheses or newlines", s);
        snprintf(needle, sizeof(needle), "TODO(%s)", s);
        cr_expect(strstr(md, needle) != NULL, "%s not in the Markdown", needle);
    }
    for (p = md; (p = strstr(p, "TODO(")) != NULL; p += 5)
        in_md++;
    /* each TODO appears in its field(s) and once more under "Open items" */
    cr_expect_geq(in_md, 2 * json_array_size(json_object_get(draft, "todos")));
    free(md);
}

Test(draft, every_form_with_few_facts_asks_only_for_missing_facts)
{
    json_t *facts = json_pack("{s:[s], s:{s:f}}", "modality", "text", "training", "tokens", 1.5e13);
    static const char *const labels[] = {"eu.gpai-systemic-risk", "us-ca.large-frontier-developer",
                                         "us-ny.large-frontier-developer", NULL};

    for (const char *const *f = sl_draft_forms(); *f; f++) {
        json_t *v = version(), *d = decision_with(facts, false, labels, NULL), *draft = NULL;
        struct sl_draft_in in = {*f, "acme/big", v, d, NULL, NULL, "checked in the test"};
        struct sl_error err;
        char *md;
        cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s: %s", *f, err.msg);
        check_todos(draft, facts);
        md = sl_draft_markdown(draft);
        cr_expect(strstr(md, "c2sp.org/tlog-proof@v1\nindex 7\n") != NULL, "%s: proof quoted", *f);
        cr_expect(strstr(md, "log entry 7") != NULL, "%s", *f);
        cr_expect(strstr(md, "not require this document") != NULL, "%s: no obligation", *f);
        cr_expect(!json_is_true(json_object_get(draft, "applies")));
        free(md);
        json_decref(draft);
        json_decref(v);
        json_decref(d);
    }
    json_decref(facts);
}

Test(draft, facts_given_leave_only_questions)
{
    json_t *facts = json_pack(
        "{s:[s,s], s:{s:f, s:s, s:[{s:s, s:i, s:i}]}, s:{s:s, s:b}, s:s, s:I, s:{s:s}, "
        "s:[{s:s, s:s}], s:{s:f}, s:{s:s}}",
        "modality", "text", "code", "training", "tokens", 1.5e13, "date", "2025-03-01", "hardware",
        "chip", "nvidia-h100-sxm", "count", 1024, "hours", 2000, "license", "spdx", "Apache-2.0",
        "noncommercial", 1, "placed_on_market", "2025-09-01", "params", (json_int_t)70000000000,
        "base_model", "name", "none", "evaluations", "domain", "cbrn", "level", "low", "developer",
        "annual_revenue_usd", 1e9, "sources", "params", "facts");
    static const char *const labels[] = {"eu.gpai-systemic-risk", "us-ca.large-frontier-developer",
                                         "us-ny.large-frontier-developer", NULL};

    for (const char *const *f = sl_draft_forms(); *f; f++) {
        json_t *v = version(), *d = decision_with(facts, true, labels, "eu.art52.notification");
        json_t *draft = NULL, *t;
        struct sl_draft_in in = {*f, "acme/big", v, d, NULL, NULL, NULL};
        struct sl_error err;
        size_t i;
        cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s: %s", *f, err.msg);
        json_array_foreach(json_object_get(draft, "todos"), i, t)
            cr_expect(strchr(json_string_value(t), ' ') != NULL,
                      "%s: TODO(%s) though the facts "
                      "give everything",
                      *f, json_string_value(t));
        check_todos(draft, facts);
        json_decref(draft);
        json_decref(v);
        json_decref(d);
    }
    json_decref(facts);
}

Test(draft, values_come_from_the_inputs)
{
    json_t *facts = json_pack("{s:{s:s, s:b}, s:s, s:[{s:s, s:s}, {s:s, s:s, s:b}]}", "license",
                              "spdx", "Apache-2.0", "noncommercial", 1, "placed_on_market",
                              "2025-07-01", "evaluations", "domain", "cyber", "level", "medium",
                              "domain", "cbrn", "level", "low", "attested", 1);
    static const char *const labels[] = {"eu.gpai-systemic-risk", NULL};
    json_t *v = version(),
           *d = decision_with(facts, true, labels, "eu.art53.technical-documentation");
    json_t *atts = json_pack("[{s:s, s:s, s:s, s:s}]", "domain", "cbrn", "level", "low",
                             "evaluator", "eval-lab", "method", "uplift study");
    json_t *draft = NULL;
    struct sl_draft_in in = {"eu-annex-xi", "acme/big", v, d, atts, NULL, NULL};
    struct sl_error err;
    char *md;

    cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s", err.msg);
    md = sl_draft_markdown(draft);
    cr_expect(strstr(md, "Apache-2.0; non-commercial use only") != NULL);
    cr_expect(strstr(md, "2025-07-01") != NULL, "placed_on_market");
    cr_expect(strstr(md, "2.3e+25 FLOP cumulative") != NULL, "two significant figures");
    cr_expect(strstr(md, "cbrn low (signed attestation by eval-lab, uplift study)") != NULL);
    cr_expect(strstr(md, "cyber medium (declared in the facts)") != NULL);
    cr_expect(strstr(md, "cbrn low (declared") == NULL, "attested results are listed once");
    cr_expect(strstr(md, "model.safetensors (sha256 d00d)") != NULL);
    cr_expect(strstr(md, "llama, 32 layers") != NULL);
    cr_expect(strstr(md, "Section 2: additional information") != NULL, "systemic: section 2");
    cr_expect(json_is_true(json_object_get(draft, "applies")));
    free(md);
    json_decref(draft);
    json_decref(d);
    /* without the systemic-risk label, no Section 2 */
    d = decision_with(facts, true, NULL, NULL);
    in.decision = d;
    cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s", err.msg);
    md = sl_draft_markdown(draft);
    cr_expect(strstr(md, "Section 2:") == NULL);
    free(md);
    json_decref(draft);
    json_decref(d);
    json_decref(atts);
    json_decref(v);
    json_decref(facts);
}

Test(draft, training_summary_gives_the_size_class)
{
    json_t *facts = json_pack("{s:{s:f}, s:{s:s}}", "training", "tokens", 1.5e13, "base_model",
                              "name", "org/base");
    json_t *v = version(), *d = decision_with(facts, true, NULL, "eu.art53.training-summary");
    json_t *draft = NULL;
    struct sl_draft_in in = {"eu-training-summary", "acme/big", v, d, NULL, NULL, NULL};
    struct sl_error err;
    char *md;

    cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s", err.msg);
    md = sl_draft_markdown(draft);
    cr_expect(strstr(md, "1.5e+13 tokens (more than 10 trillion)") != NULL, "%s", md);
    cr_expect(strstr(md, "org/base") != NULL);
    cr_expect(strstr(md, "Obligation eu.art53.training-summary: open") != NULL);
    free(md);
    json_decref(draft);
    json_decref(d);
    json_decref(v);
    json_decref(facts);
}

Test(draft, bad_input_is_refused_and_values_cannot_break_the_markdown)
{
    json_t *facts = json_pack("{s:s}", "placed_on_market", "2025-07-01\n## Injected");
    json_t *v = version(), *d = decision_with(facts, true, NULL, NULL), *draft = NULL;
    struct sl_draft_in in = {"eu-annex-xii", "acme/big", v, d, NULL, NULL, NULL};
    struct sl_error err;
    char *md;

    in.form = "eu-annex-xiii";
    cr_expect_eq(sl_draft_build(&in, &draft, &err), SL_EUSAGE);
    cr_expect(strstr(err.msg, "unknown form \"eu-annex-xiii\"") != NULL, "%s", err.msg);
    in.form = "eu-training-summary";
    json_object_del(d, "log_proof");
    cr_expect_eq(sl_draft_build(&in, &draft, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "no log entry") != NULL, "%s", err.msg);
    json_object_set_new(d, "log_proof", json_string("c2sp.org/tlog-proof@v1\n"));
    cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s", err.msg);
    md = sl_draft_markdown(draft);
    cr_expect(strstr(md, "\n## Injected") == NULL, "a value stays on its line");
    free(md);
    json_decref(draft);
    json_decref(d);
    json_decref(v);
    json_decref(facts);
}

Test(draft, nothing_known_still_drafts_with_questions)
{
    json_t *facts = json_object();
    json_t *v = json_pack("{s:i}", "version", 1), *d = decision_with(facts, false, NULL, NULL);

    for (const char *const *f = sl_draft_forms(); *f; f++) {
        json_t *draft = NULL;
        struct sl_draft_in in = {*f, "acme/x", v, d, NULL, NULL, NULL};
        struct sl_error err;
        cr_assert_eq(sl_draft_build(&in, &draft, &err), SL_OK, "%s: %s", *f, err.msg);
        check_todos(draft, facts);
        json_decref(draft);
    }
    json_decref(v);
    json_decref(d);
    json_decref(facts);
}
