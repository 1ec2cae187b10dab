/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hosted/filter: the publisher's filter policy. Errors that name the JSON
 * path (and a bad pattern's rule id and offset), limits, the canonical
 * form, the checks of a request (parameters, input rules, max_tokens cap)
 * and of an answer fed in pieces.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosted/filter.h"

static const char GOOD[] =
    "{\"rules\": ["
    " {\"id\": \"no-secret\", \"where\": \"input\", \"kind\": \"literal\","
    "  \"pattern\": \"Project Nightingale\", \"action\": \"refuse\", \"case_insensitive\": true},"
    " {\"id\": \"card\", \"where\": \"output\", \"kind\": \"regex\","
    "  \"pattern\": \"\\\\d{4}-\\\\d{4}-\\\\d{4}-\\\\d{4}\", \"action\": \"refuse\"},"
    " {\"id\": \"weather\", \"where\": \"input\", \"kind\": \"regex\","
    "  \"pattern\": \"(rain|snow)\", \"action\": \"flag\"},"
    " {\"id\": \"sigh\", \"where\": \"output\", \"kind\": \"literal\","
    "  \"pattern\": \"sigh\", \"action\": \"flag\"}],"
    " \"max_tokens\": 100, \"allowed_parameters\": [\"temperature\"]}";

static struct sl_filter *parse(const char *s)
{
    struct sl_filter *f = NULL;
    struct sl_error err;

    cr_assert_eq(sl_filter_parse(s, strlen(s), &f, &err), SL_OK, "%s", err.msg);
    return f;
}

static void bad(const char *s, enum sl_err code, const char *want)
{
    struct sl_filter *f = NULL;
    struct sl_error err;
    enum sl_err rc = sl_filter_parse(s, strlen(s), &f, &err);

    cr_expect_eq(rc, code, "%s: %d %s", s, rc, rc ? err.msg : "");
    cr_expect_null(f);
    sl_filter_free(f);
    if (rc)
        cr_expect(strstr(err.msg, want), "%s: wanted \"%s\" in \"%s\"", s, want, err.msg);
}

#define RULE(extra)                                                                                \
    "{\"rules\": [{\"id\": \"r1\", \"where\": \"input\", \"kind\": \"regex\", \"pattern\": "       \
    "\"x\", \"action\": \"refuse\"}, {\"id\": \"r2\", \"where\": \"input\", \"kind\": "            \
    "\"regex\", \"action\": \"flag\", " extra "}]}"

Test(filter, errors_name_the_json_path)
{
    bad("[]", SL_EINPUT, "must be a JSON object");
    bad("{\"rules\": [}", SL_EINPUT, "line 1 column");
    bad("{\"rule\": []}", SL_EINPUT, "rule: unknown key");
    bad("{\"rules\": {}}", SL_EINPUT, "rules: must be an array");
    bad("{\"rules\": [1]}", SL_EINPUT, "rules[0]: must be an object");
    bad(RULE("\"pattern\": \"(a\""), SL_EINPUT,
        "rules[1].pattern: rule \"r2\": missing ')' for the '(' at offset 0");
    bad(RULE("\"pattern\": \"ab)\""), SL_EINPUT, "rule \"r2\": unbalanced ')' at offset 2");
    bad(RULE("\"pattern\": \"a{1000}\""), SL_ELIMIT, "rules[1].pattern: rule \"r2\"");
    bad(RULE("\"pattern\": \"\""), SL_EINPUT, "rules[1].pattern: must be a non-empty string");
    bad(RULE("\"pattern\": 7"), SL_EINPUT, "rules[1].pattern: must be a non-empty string");
    bad(RULE("\"pattern\": \"a\", \"colour\": 1"), SL_EINPUT, "rules[1].colour: unknown key");
    bad(RULE("\"pattern\": \"a\", \"case_insensitive\": \"yes\""), SL_EINPUT,
        "rules[1].case_insensitive");
    bad("{\"rules\": [{\"id\": \"a b\", \"where\": \"input\", \"kind\": \"regex\", "
        "\"pattern\": \"x\", \"action\": \"refuse\"}]}",
        SL_EINPUT, "rules[0].id");
    bad("{\"rules\": [{\"id\": \"a\", \"where\": \"inside\", \"kind\": \"regex\", "
        "\"pattern\": \"x\", \"action\": \"refuse\"}]}",
        SL_EINPUT, "rules[0].where");
    bad("{\"rules\": [{\"id\": \"a\", \"where\": \"input\", \"kind\": \"glob\", "
        "\"pattern\": \"x\", \"action\": \"refuse\"}]}",
        SL_EINPUT, "rules[0].kind");
    bad("{\"rules\": [{\"id\": \"a\", \"where\": \"input\", \"kind\": \"regex\", "
        "\"pattern\": \"x\", \"action\": \"block\"}]}",
        SL_EINPUT, "rules[0].action");
    bad("{\"rules\": [{\"id\": \"a\", \"where\": \"input\", \"kind\": \"regex\", "
        "\"pattern\": \"x\", \"action\": \"flag\"}, {\"id\": \"a\", \"where\": \"input\", "
        "\"kind\": \"regex\", \"pattern\": \"x\", \"action\": \"flag\"}]}",
        SL_EINPUT, "rules[1].id: \"a\" is also rules[0]'s id");
    bad("{\"max_tokens\": 0}", SL_EINPUT, "max_tokens: must be an integer");
    bad("{\"max_tokens\": 1.5}", SL_EINPUT, "max_tokens");
    bad("{\"allowed_parameters\": [\"Temperature\"]}", SL_EINPUT, "allowed_parameters[0]");
    bad("{\"allowed_parameters\": [\"top_p\", \"top_p\"]}", SL_EINPUT, "allowed_parameters[1]");
    bad("{\"max_tokens\": 1, \"max_tokens\": 2}", SL_EINPUT, "duplicate");
}

Test(filter, limits)
{
    size_t cap = SL_FILTER_TEXT_MAX + 64, n = 0;
    char *s = malloc(cap);
    struct sl_filter *f = NULL;
    struct sl_error err;

    /* 65 rules */
    n += (size_t)snprintf(s + n, cap - n, "{\"rules\": [");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(s + n, cap - n,
                              "%s{\"id\": \"r%d\", \"where\": \"input\", \"kind\": \"literal\", "
                              "\"pattern\": \"x\", \"action\": \"flag\"}",
                              i ? "," : "", i);
    snprintf(s + n, cap - n, "]}");
    bad(s, SL_ELIMIT, "rules: more than 64 rules");

    /* Rules each within the program cap, together over the filter's. */
    n = (size_t)snprintf(s, cap, "{\"rules\": [");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(s + n, cap - n,
                              "%s{\"id\": \"r%d\", \"where\": \"input\", \"kind\": \"regex\", "
                              "\"pattern\": \"(ab{90}){20}\", \"action\": \"flag\"}",
                              i ? "," : "", i);
    snprintf(s + n, cap - n, "]}");
    bad(s, SL_ELIMIT, "rules[10].pattern: rule \"r10\": the rules together are over 20000");

    /* A file over 64 KiB, whatever it holds. */
    memset(s, ' ', cap);
    s[0] = '{';
    s[cap - 2] = '}';
    s[cap - 1] = '\0';
    cr_expect_eq(sl_filter_parse(s, cap - 1, &f, &err), SL_ELIMIT);
    cr_expect(strstr(err.msg, "over 65536"), "%s", err.msg);
    free(s);
}

Test(filter, canonical_form_round_trips)
{
    struct sl_filter *f = parse(GOOD), *g;
    char *a = sl_filter_json(f), *b;

    g = parse(a);
    b = sl_filter_json(g);
    cr_expect_str_eq(a, b);
    cr_expect(strstr(a, "\"allowed_parameters\":[\"temperature\"]"), "%s", a);
    cr_expect(strstr(a, "\"case_insensitive\":false"), "defaults are written out: %s", a);
    free(a);
    free(b);
    sl_filter_free(f);
    sl_filter_free(g);

    f = parse("{}");
    a = sl_filter_json(f);
    cr_expect_str_eq(a, "{\"allowed_parameters\":null,\"max_tokens\":null,\"rules\":[]}");
    free(a);
    sl_filter_free(f);
}

static json_t *body(const char *s)
{
    json_error_t e;
    json_t *b = json_loads(s, 0, &e);

    cr_assert_not_null(b, "%s", e.text);
    return b;
}

Test(filter, requests)
{
    struct sl_filter *f = parse(GOOD);
    struct sl_filter_verdict v;
    const char *param;
    json_t *b;

    b = body("{\"model\": \"a/b\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
             " \"temperature\": 0.5, \"max_tokens\": 5000}");
    cr_assert_eq(sl_filter_request(f, b, &param, &v), SL_OK);
    cr_expect_null(param);
    cr_expect_null(v.refused);
    cr_expect_eq(v.nflagged, 0);
    cr_expect_eq(json_integer_value(json_object_get(b, "max_tokens")), 100, "capped");
    json_decref(b);

    b = body("{\"model\": \"a/b\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_eq(json_integer_value(json_object_get(b, "max_tokens")), 100, "added");
    json_decref(b);

    b = body("{\"model\": \"a/b\", \"messages\": [], \"max_completion_tokens\": 7}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_eq(json_integer_value(json_object_get(b, "max_completion_tokens")), 7);
    cr_expect_null(json_object_get(b, "max_tokens"), "not added beside max_completion_tokens");
    json_decref(b);

    b = body("{\"model\": \"a/b\", \"messages\": [], \"logit_bias\": {}}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_str_eq(param, "logit_bias");
    json_decref(b);

    b = body("{\"model\": \"a/b\", \"messages\": [{\"role\": \"system\", \"content\": \"ok\"},"
             " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"it may "
             "snow\"}, {\"type\": \"text\", \"text\": \"about PROJECT nightingale\"}]}]}");
    sl_filter_request(f, b, &param, &v);
    cr_assert_not_null(v.refused);
    cr_expect_str_eq(v.refused->id, "no-secret");
    cr_expect_eq(v.nflagged, 1);
    cr_expect_str_eq(v.flagged[0]->id, "weather");
    json_decref(b);

    b = body("{\"model\": \"a/b\", \"prompt\": [\"fine\", \"Project  Nightingale\"]}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_null(v.refused, "two spaces are not the literal");
    json_decref(b);
    b = body("{\"model\": \"a/b\", \"prompt\": \"x project nightingale\"}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_not_null(v.refused);
    json_decref(b);
    sl_filter_free(f);

    f = parse("{}");
    b = body("{\"model\": \"a/b\", \"prompt\": \"x\", \"logit_bias\": {}, \"max_tokens\": 9}");
    sl_filter_request(f, b, &param, &v);
    cr_expect_null(param, "no list: every parameter passes");
    cr_expect_eq(json_integer_value(json_object_get(b, "max_tokens")), 9);
    json_decref(b);
    sl_filter_free(f);
}

Test(filter, output_in_pieces)
{
    struct sl_filter *f = parse(GOOD);
    const char *text = "your card is 1234-5678-9012-3456, sigh";
    size_t n = strlen(text);

    cr_expect(sl_filter_has_output(f));
    for (size_t cut = 1; cut < n; cut++) {
        struct sl_filter_out *o = sl_filter_out_new(f);
        struct sl_filter_verdict v;
        const struct sl_filter_rule *r;
        memset(&v, 0, sizeof(v));
        r = sl_filter_out_feed(o, text, cut, &v);
        if (cut < 32)
            cr_expect_null(r, "cut %zu", cut);
        if (!r)
            r = sl_filter_out_feed(o, text + cut, n - cut, &v);
        cr_assert_not_null(r, "cut %zu", cut);
        cr_expect_str_eq(r->id, "card");
        sl_filter_out_free(o);
    }
    {
        struct sl_filter_out *o = sl_filter_out_new(f);
        struct sl_filter_verdict v;
        memset(&v, 0, sizeof(v));
        for (size_t i = 0; i < 10; i++)
            cr_expect_null(sl_filter_out_feed(o, "s i g h ", 8, &v));
        cr_expect_null(sl_filter_out_feed(o, "si", 2, &v));
        cr_expect_null(sl_filter_out_feed(o, "gh", 2, &v));
        cr_expect_null(sl_filter_out_end(o, &v));
        cr_expect_eq(v.nflagged, 1, "a flag is counted once");
        sl_filter_out_free(o);
    }
    sl_filter_free(f);
}

Test(filter, shared_between_calls_by_reference)
{
    struct sl_filter *f = parse(GOOD);
    struct sl_filter_out *o;
    struct sl_filter_verdict v;

    cr_expect_eq(sl_filter_ref(f), f);
    sl_filter_free(f); /* one reference left: still usable */
    memset(&v, 0, sizeof(v));
    o = sl_filter_out_new(f);
    cr_expect_not_null(sl_filter_out_feed(o, "9999-8888-7777-6666", 19, &v));
    sl_filter_out_free(o);
    sl_filter_free(f);
}
