/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's filter policies (filter.h): parsing with limits and
 * errors that name the JSON path, canonical output, and the checks of a
 * request and of an answer as it flows.
 */
#include "hosted/filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonout.h"
#include "common/util.h"
#include "common/banned.h"

static const char *const CORE_PARAMS[] = {"model",
                                          "messages",
                                          "prompt",
                                          "stream",
                                          "stream_options",
                                          "max_tokens",
                                          "max_completion_tokens",
                                          "n",
                                          NULL};

struct sl_filter *sl_filter_ref(struct sl_filter *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void sl_filter_free(struct sl_filter *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    for (size_t i = 0; i < f->nrules; i++) {
        free(f->rules[i].pattern);
        sl_re_free(f->rules[i].re);
    }
    free(f->rules);
    for (size_t i = 0; i < f->nparams; i++)
        free(f->params[i]);
    free(f->params);
    free(f);
}

static bool name_ok(const char *s, size_t max, bool id)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (id)
            ok = ok || (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

/* One of `choices` (NULL-terminated); its index, or -1. */
static int choice(json_t *v, const char *const *choices)
{
    const char *s = json_string_value(v);

    for (int i = 0; s && choices[i]; i++)
        if (strcmp(s, choices[i]) == 0)
            return i;
    return -1;
}

static enum sl_err parse_rule(json_t *r, size_t i, struct sl_filter *f, size_t *prog,
                              struct sl_error *err)
{
    static const char *const WHERE[] = {"input", "output", NULL};
    static const char *const KIND[] = {"literal", "regex", NULL};
    static const char *const ACTION[] = {"refuse", "flag", NULL};
    struct sl_filter_rule *rule = &f->rules[i];
    const char *key, *pat;
    json_t *v, *ci;
    size_t pos = 0;
    struct sl_error rerr;
    int w, k, a;

    if (!json_is_object(r))
        return sl_error_set(err, SL_EINPUT, "rules[%zu]: must be an object", i);
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "id") && strcmp(key, "where") && strcmp(key, "kind") &&
            strcmp(key, "pattern") && strcmp(key, "action") && strcmp(key, "case_insensitive"))
            return sl_error_set(err, SL_EINPUT,
                                "rules[%zu].%.64s: unknown key (a rule has id, where, kind, "
                                "pattern, action, case_insensitive)",
                                i, key);
    }
    v = json_object_get(r, "id");
    if (!json_is_string(v) || !name_ok(json_string_value(v), SL_FILTER_ID_MAX, true))
        return sl_error_set(err, SL_EINPUT,
                            "rules[%zu].id: must be 1 to %d letters, digits, '.', '_' or '-'", i,
                            SL_FILTER_ID_MAX);
    snprintf(rule->id, sizeof(rule->id), "%s", json_string_value(v));
    for (size_t j = 0; j < i; j++)
        if (strcmp(f->rules[j].id, rule->id) == 0)
            return sl_error_set(err, SL_EINPUT, "rules[%zu].id: \"%s\" is also rules[%zu]'s id", i,
                                rule->id, j);
    w = choice(json_object_get(r, "where"), WHERE);
    if (w < 0)
        return sl_error_set(err, SL_EINPUT, "rules[%zu].where: must be \"input\" or \"output\"", i);
    k = choice(json_object_get(r, "kind"), KIND);
    if (k < 0)
        return sl_error_set(err, SL_EINPUT, "rules[%zu].kind: must be \"literal\" or \"regex\"", i);
    a = choice(json_object_get(r, "action"), ACTION);
    if (a < 0)
        return sl_error_set(err, SL_EINPUT, "rules[%zu].action: must be \"refuse\" or \"flag\"", i);
    ci = json_object_get(r, "case_insensitive");
    if (ci && !json_is_boolean(ci))
        return sl_error_set(err, SL_EINPUT, "rules[%zu].case_insensitive: must be true or false",
                            i);
    v = json_object_get(r, "pattern");
    pat = json_string_value(v);
    if (!pat || json_string_length(v) == 0)
        return sl_error_set(err, SL_EINPUT, "rules[%zu].pattern: must be a non-empty string", i);
    if (json_string_length(v) > SL_RE_PATTERN_MAX)
        return sl_error_set(err, SL_ELIMIT, "rules[%zu].pattern: rule \"%s\": over %d bytes", i,
                            rule->id, SL_RE_PATTERN_MAX);
    rule->where = w == 0 ? SL_FILTER_INPUT : SL_FILTER_OUTPUT;
    rule->regex = k == 1;
    rule->refuse = a == 0;
    rule->icase = json_is_true(ci);
    rule->pattern = sl_xstrdup(pat);
    if (sl_re_compile(pat, json_string_length(v),
                      (rule->regex ? 0u : SL_RE_LITERAL) | (rule->icase ? SL_RE_ICASE : 0u),
                      &rule->re, &pos, &rerr) != SL_OK)
        return sl_error_set(err, rerr.code, "rules[%zu].pattern: rule \"%s\": %s", i, rule->id,
                            rerr.msg);
    *prog += sl_re_size(rule->re);
    if (*prog > SL_FILTER_PROG_MAX)
        return sl_error_set(err, SL_ELIMIT,
                            "rules[%zu].pattern: rule \"%s\": the rules together are over %d "
                            "instructions; use fewer or simpler patterns",
                            i, rule->id, SL_FILTER_PROG_MAX);
    return SL_OK;
}

static enum sl_err parse_params(json_t *v, struct sl_filter *f, struct sl_error *err)
{
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return sl_error_set(err, SL_EINPUT, "allowed_parameters: must be an array of names");
    if (n > SL_FILTER_PARAMS_MAX)
        return sl_error_set(err, SL_ELIMIT, "allowed_parameters: more than %d names",
                            SL_FILTER_PARAMS_MAX);
    f->params_limited = true;
    f->params = sl_xcalloc(n ? n : 1, sizeof(*f->params));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s || !name_ok(s, SL_FILTER_PARAM_MAX, false))
            return sl_error_set(err, SL_EINPUT,
                                "allowed_parameters[%zu]: must be a name of 1 to %d lower-case "
                                "letters, digits or '_'",
                                i, SL_FILTER_PARAM_MAX);
        for (size_t j = 0; j < f->nparams; j++)
            if (strcmp(f->params[j], s) == 0)
                return sl_error_set(err, SL_EINPUT, "allowed_parameters[%zu]: \"%s\" twice", i, s);
        f->params[f->nparams++] = sl_xstrdup(s);
    }
    return SL_OK;
}

enum sl_err sl_filter_parse(const char *text, size_t n, struct sl_filter **out,
                            struct sl_error *err)
{
    struct sl_filter *f = NULL;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;
    size_t prog = 0;
    enum sl_err rc = SL_OK;

    *out = NULL;
    if (n > SL_FILTER_TEXT_MAX)
        return sl_error_set(err, SL_ELIMIT, "the filter is %zu bytes, over %u", n,
                            SL_FILTER_TEXT_MAX);
    root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sl_error_set(err, SL_EINPUT, "the filter is not JSON: line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rc = sl_error_set(err, SL_EINPUT, "the filter must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "rules") && strcmp(key, "max_tokens") &&
            strcmp(key, "allowed_parameters")) {
            rc = sl_error_set(err, SL_EINPUT,
                              "%.64s: unknown key (a filter has rules, max_tokens, "
                              "allowed_parameters)",
                              key);
            goto out;
        }
    }
    f = sl_xcalloc(1, sizeof(*f));
    atomic_init(&f->refs, 1);
    v = json_object_get(root, "rules");
    if (v && !json_is_array(v)) {
        rc = sl_error_set(err, SL_EINPUT, "rules: must be an array");
        goto out;
    }
    if (json_array_size(v) > SL_FILTER_RULES_MAX) {
        rc = sl_error_set(err, SL_ELIMIT, "rules: more than %d rules", SL_FILTER_RULES_MAX);
        goto out;
    }
    f->rules = sl_xcalloc(json_array_size(v) + 1, sizeof(*f->rules));
    for (size_t i = 0; i < json_array_size(v); i++) {
        f->nrules = i + 1; /* so that sl_filter_free frees a half-parsed rule */
        rc = parse_rule(json_array_get(v, i), i, f, &prog, err);
        if (rc)
            goto out;
    }
    v = json_object_get(root, "max_tokens");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
            rc = sl_error_set(err, SL_EINPUT, "max_tokens: must be an integer from 1 to 1000000");
            goto out;
        }
        f->max_tokens = json_integer_value(v);
    }
    v = json_object_get(root, "allowed_parameters");
    if (v && !json_is_null(v)) {
        rc = parse_params(v, f, err);
        if (rc)
            goto out;
    }
    *out = f;
    f = NULL;
out:
    sl_filter_free(f);
    json_decref(root);
    return rc;
}

char *sl_filter_json(const struct sl_filter *f)
{
    json_t *root = json_object(), *rules = json_array();
    char *s;

    for (size_t i = 0; i < f->nrules; i++) {
        const struct sl_filter_rule *r = &f->rules[i];
        json_array_append_new(
            rules, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", r->id, "where",
                             r->where == SL_FILTER_INPUT ? "input" : "output", "kind",
                             r->regex ? "regex" : "literal", "pattern", r->pattern, "action",
                             r->refuse ? "refuse" : "flag", "case_insensitive", r->icase));
    }
    json_object_set_new(root, "rules", rules);
    json_object_set_new(root, "max_tokens",
                        f->max_tokens ? json_integer(f->max_tokens) : json_null());
    if (f->params_limited) {
        json_t *p = json_array();
        for (size_t i = 0; i < f->nparams; i++)
            json_array_append_new(p, json_string(f->params[i]));
        json_object_set_new(root, "allowed_parameters", p);
    } else {
        json_object_set_new(root, "allowed_parameters", json_null());
    }
    s = sl_json_dump(root, 0, NULL);
    json_decref(root);
    return s;
}

bool sl_filter_param_allowed(const struct sl_filter *f, const char *name)
{
    for (size_t i = 0; CORE_PARAMS[i]; i++)
        if (strcmp(CORE_PARAMS[i], name) == 0)
            return true;
    if (!f->params_limited)
        return true;
    for (size_t i = 0; i < f->nparams; i++)
        if (strcmp(f->params[i], name) == 0)
            return true;
    return false;
}

static void note(struct sl_filter_verdict *v, const struct sl_filter_rule *r)
{
    if (r->refuse) {
        if (!v->refused)
            v->refused = r;
        return;
    }
    for (size_t i = 0; i < v->nflagged; i++)
        if (v->flagged[i] == r)
            return;
    if (v->nflagged < SL_FILTER_RULES_MAX)
        v->flagged[v->nflagged++] = r;
}

/* The input rules over one text. */
static void check_text(const struct sl_filter *f, const char *s, size_t n,
                       struct sl_filter_verdict *v)
{
    for (size_t i = 0; i < f->nrules && !v->refused; i++) {
        const struct sl_filter_rule *r = &f->rules[i];
        if (r->where == SL_FILTER_INPUT && sl_re_search(r->re, s, n))
            note(v, r);
    }
}

static void check_value(const struct sl_filter *f, json_t *c, struct sl_filter_verdict *v)
{
    size_t i;
    json_t *part;

    if (json_is_string(c)) {
        check_text(f, json_string_value(c), json_string_length(c), v);
    } else if (json_is_array(c)) {
        json_array_foreach(c, i, part)
        {
            if (json_is_string(part))
                check_value(f, part, v);
            else if (json_is_object(part))
                check_value(f, json_object_get(part, "text"), v);
        }
    }
}

static void cap(json_t *body, const char *key, int64_t max, bool add)
{
    json_t *x = json_object_get(body, key);

    if (json_is_integer(x) ? json_integer_value(x) > max : add)
        json_object_set_new(body, key, json_integer(max));
}

enum sl_err sl_filter_request(const struct sl_filter *f, json_t *body, const char **param,
                              struct sl_filter_verdict *v)
{
    const char *key;
    json_t *x;
    size_t i;

    memset(v, 0, sizeof(*v));
    *param = NULL;
    json_object_foreach(body, key, x)
    {
        if (!sl_filter_param_allowed(f, key)) {
            *param = key;
            return SL_OK;
        }
    }
    json_array_foreach(json_object_get(body, "messages"), i, x)
    {
        check_value(f, json_object_get(x, "content"), v);
    }
    check_value(f, json_object_get(body, "prompt"), v);
    if (f->max_tokens) {
        bool mct = json_object_get(body, "max_completion_tokens") != NULL;
        cap(body, "max_tokens", f->max_tokens, !mct);
        cap(body, "max_completion_tokens", f->max_tokens, false);
    }
    return SL_OK;
}

struct sl_filter_out {
    const struct sl_filter *f;
    struct sl_re_run **runs; /* per rule, NULL for input rules */
    bool *done;
};

bool sl_filter_has_output(const struct sl_filter *f)
{
    for (size_t i = 0; f && i < f->nrules; i++)
        if (f->rules[i].where == SL_FILTER_OUTPUT)
            return true;
    return false;
}

struct sl_filter_out *sl_filter_out_new(const struct sl_filter *f)
{
    struct sl_filter_out *o = sl_xcalloc(1, sizeof(*o));

    o->f = f;
    o->runs = sl_xcalloc(f->nrules + 1, sizeof(*o->runs));
    o->done = sl_xcalloc(f->nrules + 1, sizeof(*o->done));
    for (size_t i = 0; i < f->nrules; i++) {
        if (f->rules[i].where != SL_FILTER_OUTPUT)
            continue;
        o->runs[i] = sl_re_run_new(f->rules[i].re);
        if (!o->runs[i]) {
            sl_filter_out_free(o);
            return NULL;
        }
    }
    return o;
}

static const struct sl_filter_rule *out_step(struct sl_filter_out *o, const char *text, size_t n,
                                             bool end, struct sl_filter_verdict *v)
{
    for (size_t i = 0; i < o->f->nrules; i++) {
        bool hit;
        if (!o->runs[i] || o->done[i])
            continue;
        hit = end ? sl_re_run_end(o->runs[i]) : sl_re_run_feed(o->runs[i], text, n);
        if (hit) {
            o->done[i] = true;
            note(v, &o->f->rules[i]);
        }
    }
    return v->refused;
}

const struct sl_filter_rule *sl_filter_out_feed(struct sl_filter_out *o, const char *text, size_t n,
                                                struct sl_filter_verdict *v)
{
    return out_step(o, text, n, false, v);
}

const struct sl_filter_rule *sl_filter_out_end(struct sl_filter_out *o, struct sl_filter_verdict *v)
{
    return out_step(o, NULL, 0, true, v);
}

void sl_filter_out_free(struct sl_filter_out *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->f->nrules; i++)
        sl_re_run_free(o->runs[i]);
    free(o->runs);
    free(o->done);
    free(o);
}
