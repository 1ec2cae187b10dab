/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy pack loader: parses a pack's JSON (docs/policy.md), checks every key
 * and type, and compiles the rule conditions. Errors name the pack source and
 * the JSON path of the problem ("rules[2].when.all[1].op").
 */
#include "policy/policy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/date.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define PACK_MAX_BYTES (4u << 20)
#define COND_MAX_DEPTH 32

static const char *const tier_names[] = {"open", "click", "gated", "hosted", "withheld"};

const char *sl_tier_name(enum sl_tier t)
{
    return (unsigned)t < SL_ARRAY_LEN(tier_names) ? tier_names[t] : "unknown";
}

bool sl_tier_parse(const char *s, enum sl_tier *t)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(tier_names); i++) {
        if (strcmp(s, tier_names[i]) == 0) {
            *t = (enum sl_tier)i;
            return true;
        }
    }
    return false;
}

/* Fact names a condition may use (docs/policy.md), plus eval.level.<domain>. */
static const char *const known_facts[] = {"params",
                                          "active_params",
                                          "training.tokens",
                                          "training.epochs",
                                          "training.fine_tune_tokens",
                                          "training.declared_flop",
                                          "training.synthetic_data_flop",
                                          "training.date",
                                          "compute.own",
                                          "compute.param_update",
                                          "compute.cumulative",
                                          "compute.modification_ratio",
                                          "cost_usd",
                                          "base_model.name",
                                          "base_model.training_flop",
                                          "base_model.systemic_risk",
                                          "modality",
                                          "biological_sequence_data",
                                          "license.spdx",
                                          "license.noncommercial",
                                          "license.user_cap",
                                          "license.no_redistribution",
                                          "license.paid_only",
                                          "developer.annual_revenue_usd",
                                          "markets",
                                          "eval.max_level",
                                          "eval.domains",
                                          "general_purpose",
                                          "placed_on_market",
                                          "code_of_practice_signatory",
                                          "release_tier",
                                          NULL};

struct ctx {
    const char *source;
    char path[256];
    struct sl_error *err;
};

static enum sl_err bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum sl_err bad(struct ctx *c, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_error_set(c->err, SL_EINPUT, "%s: %s%s%s", c->source, c->path, c->path[0] ? ": " : "",
                        what);
}

/* Appends a path element for messages; returns the previous length. */
static size_t push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t push(struct ctx *c, const char *fmt, ...)
{
    size_t n = strlen(c->path);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->path + n, sizeof(c->path) - n, fmt, ap);
    va_end(ap);
    return n;
}

static void pop(struct ctx *c, size_t n)
{
    c->path[n] = '\0';
}

static enum sl_err check_keys(struct ctx *c, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        bool ok = false;
        (void)v;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            return bad(c, "unknown key \"%s\"", key);
    }
    return SL_OK;
}

static enum sl_err get_str(struct ctx *c, json_t *o, const char *key, bool required, char **out)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return bad(c, "missing \"%s\"", key);
        return SL_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(c, "\"%s\" must be a non-empty string", key);
    *out = sl_xstrdup(json_string_value(v));
    return SL_OK;
}

static enum sl_err get_date(struct ctx *c, json_t *o, const char *key, int32_t none, int32_t *out)
{
    json_t *v = json_object_get(o, key);

    *out = none;
    if (!v || json_is_null(v))
        return SL_OK;
    if (!json_is_string(v) || !sl_date_parse(json_string_value(v), out))
        return bad(c, "\"%s\" must be a date YYYY-MM-DD or null", key);
    return SL_OK;
}

static enum sl_err get_str_array(struct ctx *c, json_t *o, const char *key, json_t **out)
{
    json_t *v = json_object_get(o, key);
    size_t i;
    json_t *e;

    *out = NULL;
    if (!v)
        return SL_OK;
    if (!json_is_array(v))
        return bad(c, "\"%s\" must be an array of strings", key);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return bad(c, "\"%s\"[%zu] must be a string", key, i);
    }
    *out = json_incref(v);
    return SL_OK;
}

static bool fact_known(const char *f)
{
    for (const char *const *k = known_facts; *k; k++)
        if (strcmp(*k, f) == 0)
            return true;
    if (sl_str_has_prefix(f, "eval.level.") && f[11] != '\0')
        return true;
    return false;
}

static void cond_free(struct cond *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nkids; i++)
        cond_free(k->kids[i]);
    free(k->kids);
    free(k->fact);
    free(k->steps);
    json_decref(k->value);
    free(k);
}

static enum sl_err compile_threshold(struct ctx *c, json_t *v, struct cond *k)
{
    json_t *sched = json_object_get(v, "schedule");
    json_t *idx = json_object_get(v, "indexed");

    if (sched && json_object_size(v) == 1) {
        size_t i;
        json_t *step;
        if (!json_is_array(sched) || json_array_size(sched) == 0)
            return bad(c, "\"schedule\" must be a non-empty array");
        k->thr = THR_SCHEDULE;
        k->steps = sl_xcalloc(json_array_size(sched), sizeof(*k->steps));
        json_array_foreach(sched, i, step)
        {
            json_t *from = json_object_get(step, "from");
            json_t *val = json_object_get(step, "value");
            if (!json_is_object(step) || json_object_size(step) != 2 || !json_is_string(from) ||
                !json_is_number(val) || !sl_date_parse(json_string_value(from), &k->steps[i].from))
                return bad(c, "schedule[%zu] must be {\"from\": DATE, \"value\": NUMBER}", i);
            k->steps[i].value = json_number_value(val);
            if (i > 0 && k->steps[i].from <= k->steps[i - 1].from)
                return bad(c, "schedule[%zu]: dates must increase", i);
            k->nsteps++;
        }
        return SL_OK;
    }
    if (idx && json_object_size(v) == 1) {
        json_t *b = json_object_get(idx, "base");
        json_t *bd = json_object_get(idx, "base_date");
        json_t *dy = json_object_get(idx, "doubling_years");
        if (!json_is_object(idx) || json_object_size(idx) != 3 || !json_is_number(b) ||
            !json_is_string(bd) || !json_is_number(dy) ||
            !sl_date_parse(json_string_value(bd), &k->base_date) || json_number_value(dy) <= 0 ||
            json_number_value(b) <= 0)
            return bad(c, "\"indexed\" must be {\"base\": N > 0, \"base_date\": DATE, "
                          "\"doubling_years\": N > 0}");
        k->thr = THR_INDEXED;
        k->base = json_number_value(b);
        k->doubling_years = json_number_value(dy);
        return SL_OK;
    }
    return bad(c, "a threshold object must be {\"schedule\": [...]} or {\"indexed\": {...}}");
}

static enum sl_err compile_cond(struct ctx *c, json_t *j, int depth, struct cond **out)
{
    static const struct {
        const char *name;
        enum cond_op op;
    } ops[] = {{">", OP_GT},  {">=", OP_GE}, {"<", OP_LT}, {"<=", OP_LE},
               {"==", OP_EQ}, {"!=", OP_NE}, {"in", OP_IN}};
    struct cond *k;
    json_t *v;
    enum sl_err rc = SL_OK;

    if (depth > COND_MAX_DEPTH)
        return bad(c, "condition nested deeper than %d levels", COND_MAX_DEPTH);
    if (!json_is_object(j))
        return bad(c, "a condition must be an object");
    k = sl_xcalloc(1, sizeof(*k));
    *out = k;
    if ((v = json_object_get(j, "all")) || (v = json_object_get(j, "any"))) {
        size_t i;
        json_t *e;
        k->kind = json_object_get(j, "all") ? COND_ALL : COND_ANY;
        if (json_object_size(j) != 1)
            return bad(c, "\"%s\" must be the only key", k->kind == COND_ALL ? "all" : "any");
        if (!json_is_array(v) || json_array_size(v) == 0)
            return bad(c, "\"%s\" must be a non-empty array", k->kind == COND_ALL ? "all" : "any");
        k->kids = sl_xcalloc(json_array_size(v), sizeof(*k->kids));
        json_array_foreach(v, i, e)
        {
            size_t n = push(c, ".%s[%zu]", k->kind == COND_ALL ? "all" : "any", i);
            rc = compile_cond(c, e, depth + 1, &k->kids[i]);
            k->nkids = i + 1;
            if (rc)
                return rc;
            pop(c, n);
        }
        return SL_OK;
    }
    if ((v = json_object_get(j, "not"))) {
        size_t n;
        if (json_object_size(j) != 1)
            return bad(c, "\"not\" must be the only key");
        k->kind = COND_NOT;
        k->kids = sl_xcalloc(1, sizeof(*k->kids));
        k->nkids = 1;
        n = push(c, ".not");
        rc = compile_cond(c, v, depth + 1, &k->kids[0]);
        if (!rc)
            pop(c, n);
        return rc;
    }
    if ((v = json_object_get(j, "known")) || (v = json_object_get(j, "unknown"))) {
        k->kind = json_object_get(j, "known") ? COND_KNOWN : COND_UNKNOWN;
        if (json_object_size(j) != 1 || !json_is_string(v))
            return bad(c, "\"known\"/\"unknown\" takes a fact name and nothing else");
        if (!fact_known(json_string_value(v)))
            return bad(c, "unknown fact \"%s\" (see docs/policy.md)", json_string_value(v));
        k->fact = sl_xstrdup(json_string_value(v));
        return SL_OK;
    }
    {
        static const char *const keys[] = {"fact", "op", "value", NULL};
        json_t *f = json_object_get(j, "fact"), *op = json_object_get(j, "op");
        bool found = false;

        k->kind = COND_CMP;
        rc = check_keys(c, j, keys);
        if (rc)
            return rc;
        if (!json_is_string(f) || !json_is_string(op) || !(v = json_object_get(j, "value")))
            return bad(c, "a comparison needs \"fact\", \"op\" and \"value\"");
        if (!fact_known(json_string_value(f)))
            return bad(c, "unknown fact \"%s\" (see docs/policy.md)", json_string_value(f));
        k->fact = sl_xstrdup(json_string_value(f));
        for (size_t i = 0; i < SL_ARRAY_LEN(ops) && !found; i++) {
            if (strcmp(ops[i].name, json_string_value(op)) == 0) {
                k->op = ops[i].op;
                found = true;
            }
        }
        if (!found)
            return bad(c, "unknown op \"%s\" (use > >= < <= == != in)", json_string_value(op));
        if (k->op == OP_IN) {
            size_t i;
            json_t *e;
            if (!json_is_array(v) || json_array_size(v) == 0)
                return bad(c, "\"in\" needs a non-empty array value");
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e) && !json_is_number(e) && !json_is_boolean(e))
                    return bad(c, "\"in\" values must be strings, numbers or booleans");
            }
        } else if (json_is_object(v)) {
            if (k->op == OP_EQ || k->op == OP_NE)
                return bad(c, "a moving threshold needs > >= < or <=");
            rc = compile_threshold(c, v, k);
            if (rc)
                return rc;
        } else if (json_is_number(v)) {
            k->thr = THR_PLAIN;
        } else if (json_is_string(v) && k->op != OP_EQ && k->op != OP_NE) {
            /* Ordering a string compares dates: "placed_on_market" < "2025-08-02". */
            int32_t day;
            if (!sl_date_parse(json_string_value(v), &day))
                return bad(c, "\"%s\" needs a number or a date YYYY-MM-DD", json_string_value(op));
        } else if (json_is_string(v) || json_is_boolean(v)) {
            if (k->op != OP_EQ && k->op != OP_NE)
                return bad(c, "\"%s\" needs a number", json_string_value(op));
        } else {
            return bad(c, "\"value\" must be a number, string, boolean, array or threshold");
        }
        k->value = json_incref(v);
    }
    return SL_OK;
}

static void rule_clear(struct rule *r)
{
    free(r->id);
    free(r->title);
    free(r->cite);
    cond_free(r->when);
    json_decref(r->labels);
    json_decref(r->obligations);
    json_decref(r->waives);
    json_decref(r->defers);
    free(r->unverified);
    free(r->ambiguity);
}

static void pack_clear(struct pack *p)
{
    free(p->id);
    free(p->version);
    free(p->title);
    free(p->jurisdiction);
    free(p->status);
    free(p->source);
    for (size_t i = 0; i < p->nrules; i++)
        rule_clear(&p->rules[i]);
    free(p->rules);
    for (size_t i = 0; i < p->nobligations; i++) {
        struct obligation *o = &p->obligations[i];
        free(o->id);
        free(o->title);
        free(o->cite);
        free(o->deadline);
        free(o->unverified);
        json_decref(o->requires_evaluations);
    }
    free(p->obligations);
    json_decref(p->doc);
    memset(p, 0, sizeof(*p));
}

/* `"verified": false` needs `"unverified"` saying what could not be checked
 * against a primary source; `"ambiguous": true` needs `"ambiguity"` with the
 * reason (issue 16: never guess, say so). */
static enum sl_err get_caveats(struct ctx *c, json_t *j, char **unverified, char **ambiguity)
{
    json_t *v = json_object_get(j, "verified"), *a = json_object_get(j, "ambiguous");
    enum sl_err rc;

    if (v && !json_is_boolean(v))
        return bad(c, "\"verified\" must be true or false");
    if (a && !json_is_boolean(a))
        return bad(c, "\"ambiguous\" must be true or false");
    rc = get_str(c, j, "unverified", false, unverified);
    if (!rc)
        rc = get_str(c, j, "ambiguity", false, ambiguity);
    if (rc)
        return rc;
    if (json_is_false(v) != (*unverified != NULL))
        return bad(c, "\"verified\": false and \"unverified\" (what is not verified) go "
                      "together");
    if (json_is_true(a) != (*ambiguity != NULL))
        return bad(c, "\"ambiguous\": true and \"ambiguity\" (the reason) go together");
    return SL_OK;
}

static enum sl_err compile_obligation(struct ctx *c, json_t *j, struct obligation *o)
{
    static const char *const keys[] = {
        "id",       "title",     "cite",     "blocking",   "requires_evaluations",
        "deadline", "hold_tier", "verified", "unverified", NULL};
    json_t *b, *h;
    enum sl_err rc;

    if (!json_is_object(j))
        return bad(c, "must be an object");
    rc = check_keys(c, j, keys);
    if (!rc)
        rc = get_str(c, j, "id", true, &o->id);
    if (!rc)
        rc = get_str(c, j, "title", true, &o->title);
    if (!rc)
        rc = get_str(c, j, "cite", true, &o->cite);
    if (!rc)
        rc = get_str(c, j, "deadline", false, &o->deadline);
    if (!rc)
        rc = get_str_array(c, j, "requires_evaluations", &o->requires_evaluations);
    if (!rc) {
        char *none = NULL;
        rc = get_caveats(c, j, &o->unverified, &none);
        free(none);
    }
    if (rc)
        return rc;
    b = json_object_get(j, "blocking");
    if (!json_is_boolean(b))
        return bad(c, "\"blocking\" must be true or false");
    o->blocking = json_is_true(b);
    o->hold_tier = SL_TIER_WITHHELD;
    h = json_object_get(j, "hold_tier");
    if (h) {
        enum sl_tier t;
        if (!json_is_string(h) || !sl_tier_parse(json_string_value(h), &t))
            return bad(c, "\"hold_tier\" must be a tier (open, click, gated, hosted, withheld)");
        if (!o->blocking)
            return bad(c, "\"hold_tier\" needs \"blocking\": true");
        o->hold_tier = (int)t;
    }
    return SL_OK;
}

static enum sl_err compile_rule(struct ctx *c, json_t *j, struct rule *r)
{
    static const char *const keys[] = {"id",         "title",     "cite",      "effective",
                                       "rescinded",  "when",      "then",      "verified",
                                       "unverified", "ambiguous", "ambiguity", NULL};
    static const char *const then_keys[] = {"min_tier", "labels",      "obligations",     "waives",
                                            "defers",   "defer_until", "only_below_tier", NULL};
    json_t *then;
    size_t n;
    enum sl_err rc;

    r->min_tier = -1;
    r->below_tier = -1;
    if (!json_is_object(j))
        return bad(c, "must be an object");
    rc = check_keys(c, j, keys);
    if (!rc)
        rc = get_str(c, j, "id", true, &r->id);
    if (!rc)
        rc = get_str(c, j, "title", true, &r->title);
    if (!rc)
        rc = get_str(c, j, "cite", true, &r->cite);
    if (!rc)
        rc = get_date(c, j, "effective", INT32_MIN, &r->effective);
    if (!rc)
        rc = get_date(c, j, "rescinded", INT32_MAX, &r->rescinded);
    if (!rc)
        rc = get_caveats(c, j, &r->unverified, &r->ambiguity);
    if (rc)
        return rc;
    if (!json_object_get(j, "when"))
        return bad(c, "missing \"when\"");
    n = push(c, ".when");
    rc = compile_cond(c, json_object_get(j, "when"), 0, &r->when);
    if (rc)
        return rc;
    pop(c, n);
    then = json_object_get(j, "then");
    if (!json_is_object(then))
        return bad(c, "\"then\" must be an object");
    n = push(c, ".then");
    rc = check_keys(c, then, then_keys);
    if (!rc)
        rc = get_str_array(c, then, "labels", &r->labels);
    if (!rc)
        rc = get_str_array(c, then, "obligations", &r->obligations);
    if (!rc)
        rc = get_str_array(c, then, "waives", &r->waives);
    if (!rc)
        rc = get_str_array(c, then, "defers", &r->defers);
    if (!rc)
        rc = get_date(c, then, "defer_until", INT32_MAX, &r->defer_until);
    if (rc)
        return rc;
    if ((r->defers != NULL) != (r->defer_until != INT32_MAX))
        return bad(c, "\"defers\" and \"defer_until\" go together");
    if (json_object_get(then, "only_below_tier")) {
        enum sl_tier t;
        json_t *bt = json_object_get(then, "only_below_tier");
        if (!json_is_string(bt) || !sl_tier_parse(json_string_value(bt), &t) || t == SL_TIER_OPEN)
            return bad(c, "\"only_below_tier\" must be click, gated, hosted or withheld");
        if (json_object_get(then, "min_tier"))
            return bad(c, "\"only_below_tier\" and \"min_tier\" do not go together");
        r->below_tier = (int)t;
    }
    if (json_object_get(then, "min_tier")) {
        enum sl_tier t;
        json_t *mt = json_object_get(then, "min_tier");
        if (!json_is_string(mt) || !sl_tier_parse(json_string_value(mt), &t))
            return bad(c, "\"min_tier\" must be open, click, gated, hosted or withheld");
        r->min_tier = (int)t;
    }
    pop(c, n);
    return SL_OK;
}

static enum sl_err compile_pack(struct ctx *c, json_t *doc, struct pack *p)
{
    static const char *const keys[] = {"id",        "version",        "title",     "jurisdiction",
                                       "status",    "default_active", "effective", "rescinded",
                                       "review_by", "summary",        "sources",   "obligations",
                                       "rules",     "notes",          "checked",   NULL};
    static const char *const statuses[] = {"in_force", "enacted",   "rescinded", "vetoed",
                                           "proposal", "framework", NULL};
    json_t *v;
    size_t i;
    json_t *e;
    int32_t review;
    enum sl_err rc;

    if (!json_is_object(doc))
        return bad(c, "a pack must be a JSON object");
    rc = check_keys(c, doc, keys);
    if (!rc)
        rc = get_str(c, doc, "id", true, &p->id);
    if (!rc)
        rc = get_str(c, doc, "version", true, &p->version);
    if (!rc)
        rc = get_str(c, doc, "title", true, &p->title);
    if (!rc)
        rc = get_str(c, doc, "jurisdiction", true, &p->jurisdiction);
    if (!rc)
        rc = get_str(c, doc, "status", true, &p->status);
    if (!rc)
        rc = get_date(c, doc, "effective", INT32_MIN, &p->effective);
    if (!rc)
        rc = get_date(c, doc, "rescinded", INT32_MAX, &p->rescinded);
    if (!rc)
        rc = get_date(c, doc, "review_by", INT32_MAX, &review);
    if (rc)
        return rc;
    for (const char *q = p->id; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-'))
            return bad(c, "\"id\" must use a-z, 0-9 and '-' only");
    {
        bool ok = false;
        for (const char *const *s = statuses; *s && !ok; s++)
            ok = strcmp(*s, p->status) == 0;
        if (!ok)
            return bad(c, "\"status\" must be in_force, enacted, rescinded, vetoed, proposal or "
                          "framework");
    }
    v = json_object_get(doc, "default_active");
    if (v && !json_is_boolean(v))
        return bad(c, "\"default_active\" must be true or false");
    p->default_active =
        v ? json_is_true(v)
          : (strcmp(p->status, "in_force") == 0 || strcmp(p->status, "enacted") == 0 ||
             strcmp(p->status, "proposal") == 0 || strcmp(p->status, "framework") == 0);
    v = json_object_get(doc, "sources");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, "\"sources\" must be a non-empty array of {title, url}");
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(json_object_get(e, "title")) ||
            !json_is_string(json_object_get(e, "url")))
            return bad(c, "sources[%zu] needs \"title\" and \"url\"", i);
    }
    v = json_object_get(doc, "notes");
    if (v && !json_is_array(v))
        return bad(c, "\"notes\" must be an array of {text, from?, until?}");
    json_array_foreach(v, i, e)
    {
        static const char *const note_keys[] = {"text", "from", "until", NULL};
        int32_t d;
        size_t n = push(c, "notes[%zu]", i);
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "text")))
            return bad(c, "must be {\"text\": STRING, \"from\"?: DATE, \"until\"?: DATE}");
        rc = check_keys(c, e, note_keys);
        if (!rc)
            rc = get_date(c, e, "from", INT32_MIN, &d);
        if (!rc)
            rc = get_date(c, e, "until", INT32_MAX, &d);
        if (rc)
            return rc;
        pop(c, n);
    }
    v = json_object_get(doc, "checked");
    if (v && (!json_is_string(v) || !sl_date_parse(json_string_value(v), &review)))
        return bad(c, "\"checked\" must be a date YYYY-MM-DD (when the sources were checked)");
    v = json_object_get(doc, "obligations");
    if (v && !json_is_array(v))
        return bad(c, "\"obligations\" must be an array");
    p->obligations = sl_xcalloc(json_array_size(v) + 1, sizeof(*p->obligations));
    json_array_foreach(v, i, e)
    {
        size_t n = push(c, "obligations[%zu]", i);
        p->nobligations = i + 1;
        rc = compile_obligation(c, e, &p->obligations[i]);
        if (rc)
            return rc;
        pop(c, n);
    }
    v = json_object_get(doc, "rules");
    if (!json_is_array(v))
        return bad(c, "\"rules\" must be an array");
    p->rules = sl_xcalloc(json_array_size(v) + 1, sizeof(*p->rules));
    json_array_foreach(v, i, e)
    {
        size_t n = push(c, "rules[%zu]", i);
        p->nrules = i + 1;
        rc = compile_rule(c, e, &p->rules[i]);
        if (rc)
            return rc;
        pop(c, n);
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->rules[k].id, p->rules[i].id) == 0)
                return bad(c, "rules[%zu]: duplicate rule id \"%s\"", i, p->rules[i].id);
    }
    p->doc = json_incref(doc);
    return SL_OK;
}

static void pack_digest(struct pack *p)
{
    unsigned char h[SL_SHA256_LEN];
    char *text = sl_json_dump(p->doc, 0, NULL);

    sl_sha256(text, strlen(text), h);
    sl_hex(h, SL_SHA256_LEN, p->sha256);
    free(text);
}

static enum sl_err load_pack(const char *source, const char *text, size_t len, struct pack *p,
                             struct sl_error *err)
{
    struct ctx c;
    json_error_t je;
    json_t *doc;
    enum sl_err rc;

    memset(&c, 0, sizeof(c));
    c.source = source;
    c.err = err;
    memset(p, 0, sizeof(*p));
    if (len > PACK_MAX_BYTES)
        return sl_error_set(err, SL_ELIMIT, "%s: pack is over %u bytes", source, PACK_MAX_BYTES);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return sl_error_set(err, SL_EINPUT, "%s: line %d, column %d: %s", source, je.line,
                            je.column, je.text);
    rc = compile_pack(&c, doc, p);
    json_decref(doc);
    if (rc) {
        pack_clear(p);
        return rc;
    }
    p->source = sl_xstrdup(source);
    pack_digest(p);
    return SL_OK;
}

enum sl_err sl_packset_add_version(struct sl_packset *ps, const char *source, const char *text,
                                   size_t len, struct sl_error *err)
{
    struct pack p;
    enum sl_err rc = load_pack(source, text, len, &p, err);

    if (rc)
        return rc;
    for (size_t i = 0; i < ps->nhist; i++) {
        if (strcmp(ps->hist[i].id, p.id) == 0 && strcmp(ps->hist[i].version, p.version) == 0) {
            rc = sl_error_set(err, SL_EINPUT, "%s: pack %s@%s is already loaded", source, p.id,
                              p.version);
            pack_clear(&p);
            return rc;
        }
    }
    ps->hist = sl_xrealloc(ps->hist, (ps->nhist + 1) * sizeof(*ps->hist));
    ps->hist[ps->nhist++] = p;
    return SL_OK;
}

size_t sl_packset_history_count(const struct sl_packset *ps)
{
    return ps->nhist;
}

const char *sl_packset_history_ref(const struct sl_packset *ps, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s@%s", ps->hist[i].id, ps->hist[i].version);
    return buf;
}

const struct pack *sl__pack_find(const struct sl_packset *ps, const char *ref)
{
    const char *at = strchr(ref, '@');
    size_t idlen = at ? (size_t)(at - ref) : strlen(ref);

    for (size_t i = 0; i < ps->n; i++) {
        const struct pack *p = &ps->packs[i];
        if (strlen(p->id) == idlen && strncmp(p->id, ref, idlen) == 0 &&
            (!at || strcmp(p->version, at + 1) == 0))
            return p;
    }
    for (size_t i = 0; at && i < ps->nhist; i++) {
        const struct pack *p = &ps->hist[i];
        if (strlen(p->id) == idlen && strncmp(p->id, ref, idlen) == 0 &&
            strcmp(p->version, at + 1) == 0)
            return p;
    }
    return NULL;
}

const char *sl_packset_sha256(const struct sl_packset *ps, const char *ref)
{
    const struct pack *p = sl__pack_find(ps, ref);

    return p ? p->sha256 : NULL;
}

enum sl_err sl_packset_add(struct sl_packset *ps, const char *source, const char *text, size_t len,
                           struct sl_error *err)
{
    struct pack p;
    enum sl_err rc = load_pack(source, text, len, &p, err);

    if (rc)
        return rc;
    for (size_t i = 0; i < ps->n; i++) {
        struct pack *old = &ps->packs[i];
        bool kept = false;
        if (strcmp(old->id, p.id) != 0)
            continue;
        /* A different version replacing this one: keep the old for re-runs. */
        for (size_t k = 0; k < ps->nhist; k++)
            kept |= strcmp(ps->hist[k].id, old->id) == 0 &&
                    strcmp(ps->hist[k].version, old->version) == 0;
        if (strcmp(old->version, p.version) != 0 && !kept) {
            ps->hist = sl_xrealloc(ps->hist, (ps->nhist + 1) * sizeof(*ps->hist));
            ps->hist[ps->nhist++] = *old;
        } else {
            pack_clear(old);
        }
        *old = p;
        return SL_OK;
    }
    ps->packs = sl_xrealloc(ps->packs, (ps->n + 1) * sizeof(*ps->packs));
    ps->packs[ps->n++] = p;
    return SL_OK;
}

const struct obligation *sl__find_obligation(const struct sl_packset *ps, const char *id,
                                             const struct pack **owner)
{
    for (size_t i = 0; i < ps->n; i++) {
        for (size_t k = 0; k < ps->packs[i].nobligations; k++) {
            if (strcmp(ps->packs[i].obligations[k].id, id) == 0) {
                if (owner)
                    *owner = &ps->packs[i];
                return &ps->packs[i].obligations[k];
            }
        }
    }
    return NULL;
}

enum sl_err sl_packset_check(const struct sl_packset *ps, struct sl_error *err)
{
    for (size_t i = 0; i < ps->nhist; i++) {
        const struct pack *p = &ps->hist[i];
        for (size_t r = 0; r < p->nrules; r++) {
            json_t *lists[3] = {p->rules[r].obligations, p->rules[r].waives, p->rules[r].defers};
            for (int l = 0; l < 3; l++) {
                size_t x;
                json_t *e;
                json_array_foreach(lists[l], x, e)
                {
                    bool own = false;
                    for (size_t k = 0; k < p->nobligations && !own; k++)
                        own = strcmp(p->obligations[k].id, json_string_value(e)) == 0;
                    if (!own && !sl__find_obligation(ps, json_string_value(e), NULL))
                        return sl_error_set(err, SL_EINPUT,
                                            "%s: rule %s names obligation \"%s\" that no pack "
                                            "defines",
                                            p->source, p->rules[r].id, json_string_value(e));
                }
            }
        }
    }
    for (size_t i = 0; i < ps->n; i++) {
        const struct pack *p = &ps->packs[i];
        for (size_t k = 0; k < p->nobligations; k++) {
            const struct pack *owner;
            const struct obligation *o = sl__find_obligation(ps, p->obligations[k].id, &owner);
            if (o != &p->obligations[k])
                return sl_error_set(err, SL_EINPUT,
                                    "%s: obligation \"%s\" is already defined by pack %s",
                                    p->source, p->obligations[k].id, owner->id);
        }
        for (size_t r = 0; r < p->nrules; r++) {
            json_t *lists[3] = {p->rules[r].obligations, p->rules[r].waives, p->rules[r].defers};
            for (int l = 0; l < 3; l++) {
                size_t x;
                json_t *e;
                json_array_foreach(lists[l], x, e)
                {
                    if (!sl__find_obligation(ps, json_string_value(e), NULL))
                        return sl_error_set(err, SL_EINPUT,
                                            "%s: rule %s names obligation \"%s\" that no pack "
                                            "defines",
                                            p->source, p->rules[r].id, json_string_value(e));
                }
            }
        }
    }
    return SL_OK;
}

struct sl_packset *sl_packset_new(void)
{
    return sl_xcalloc(1, sizeof(struct sl_packset));
}

enum sl_err sl_packset_builtin(struct sl_packset **out, struct sl_error *err)
{
    struct sl_packset *ps = sl_packset_new();
    enum sl_err rc = SL_OK;

    for (const struct sl__embedded_pack *e = sl__embedded_packs; e->file && !rc; e++) {
        char *src = sl_xasprintf("policy/%s", e->file);
        if (sl_str_has_prefix(e->file, "history/"))
            rc = sl_packset_add_version(ps, src, e->text, e->len, err);
        else
            rc = sl_packset_add(ps, src, e->text, e->len, err);
        free(src);
    }
    if (!rc)
        rc = sl_packset_check(ps, err);
    if (rc) {
        sl_packset_free(ps);
        return rc;
    }
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->packs[i].source);
        ps->packs[i].source = sl_xstrdup("built-in");
    }
    for (size_t i = 0; i < ps->nhist; i++) {
        free(ps->hist[i].source);
        ps->hist[i].source = sl_xstrdup("built-in");
    }
    *out = ps;
    return SL_OK;
}

size_t sl_packset_count(const struct sl_packset *ps)
{
    return ps->n;
}

void sl_packset_info(const struct sl_packset *ps, size_t i, struct sl_pack_info *info)
{
    const struct pack *p = &ps->packs[i];

    info->id = p->id;
    info->version = p->version;
    info->title = p->title;
    info->jurisdiction = p->jurisdiction;
    info->status = p->status;
    info->source = p->source;
    info->default_active = p->default_active;
    info->effective = p->effective;
    info->rescinded = p->rescinded;
    info->nrules = p->nrules;
    info->nobligations = p->nobligations;
}

json_t *sl_packset_doc(const struct sl_packset *ps, const char *id)
{
    const struct pack *p = sl__pack_find(ps, id);

    return p ? p->doc : NULL;
}

void sl_packset_free(struct sl_packset *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        pack_clear(&ps->packs[i]);
    for (size_t i = 0; i < ps->nhist; i++)
        pack_clear(&ps->hist[i]);
    free(ps->packs);
    free(ps->hist);
    free(ps);
}
