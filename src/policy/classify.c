/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The classifier: resolves the facts (weight files override declared
 * parameter counts), estimates training compute, derives the facts rules
 * read (compute.*, eval.*), evaluates every selected pack in force on the
 * date, and assembles the decision (docs/cli.md lists its keys).
 */
#include "policy/policy_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/date.h"
#include "common/util.h"
#include "common/banned.h"

static const char *const level_order[] = {"none", "low", "medium", "high", "critical"};

static int level_rank(const char *s)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(level_order); i++)
        if (strcmp(s, level_order[i]) == 0)
            return (int)i;
    return -1;
}

static double num_or(json_t *o, const char *dotted, double dflt)
{
    json_t *v = sl__fact_lookup(o, dotted);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

static json_t *obj(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);

    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

/* Fills the compute inputs from the resolved environment. */
static void compute_inputs(json_t *env, int32_t as_of, struct sl_compute_in *in)
{
    json_t *hw = sl__fact_lookup(env, "training.hardware");
    json_t *date = sl__fact_lookup(env, "training.date");
    size_t i;
    json_t *h;

    memset(in, 0, sizeof(*in));
    in->active_params = num_or(env, "active_params", 0);
    in->tokens = num_or(env, "training.tokens", -1);
    in->epochs = num_or(env, "training.epochs", 1);
    in->fine_tune_tokens = num_or(env, "training.fine_tune_tokens", 0);
    in->declared_flop = num_or(env, "training.declared_flop", -1);
    in->synthetic_data_flop = num_or(env, "training.synthetic_data_flop", 0);
    in->base_flop = num_or(env, "base_model.training_flop", -1);
    in->date = as_of;
    if (json_is_string(date))
        sl_date_parse(json_string_value(date), &in->date);
    json_array_foreach(hw, i, h)
    {
        struct sl_hardware_use *u;
        json_t *s;
        if (in->nhw >= SL_MAX_HARDWARE)
            break;
        u = &in->hw[in->nhw++];
        s = json_object_get(h, "chip");
        snprintf(u->chip, sizeof(u->chip), "%s", json_is_string(s) ? json_string_value(s) : "");
        s = json_object_get(h, "precision");
        snprintf(u->precision, sizeof(u->precision), "%s",
                 json_is_string(s) ? json_string_value(s) : "");
        u->count = num_or(h, "count", 0);
        u->hours = num_or(h, "hours", 0);
        u->utilization = num_or(h, "utilization", 0);
        u->peak_flops = num_or(h, "peak_flops", 0);
    }
}

static void derive_evals(json_t *env)
{
    json_t *evals = json_object_get(env, "evaluations");
    json_t *e, *ev, *domains, *levels;
    size_t i;
    int max = -1;

    if (!json_is_array(evals) || json_array_size(evals) == 0)
        return;
    ev = obj(env, "eval");
    domains = json_array();
    levels = json_object();
    json_array_foreach(evals, i, e)
    {
        const char *d = json_string_value(json_object_get(e, "domain"));
        const char *l = json_string_value(json_object_get(e, "level"));
        json_t *prev;
        if (!d || !l)
            continue;
        prev = json_object_get(levels, d);
        if (!prev) {
            json_array_append_new(domains, json_string(d));
            json_object_set_new(levels, d, json_string(l));
        } else if (level_rank(l) > level_rank(json_string_value(prev))) {
            json_object_set_new(levels, d, json_string(l)); /* worst result per domain */
        }
        if (level_rank(l) > max)
            max = level_rank(l);
    }
    json_object_set_new(ev, "domains", domains);
    json_object_set_new(ev, "level", levels);
    if (max >= 0)
        json_object_set_new(ev, "max_level", json_string(level_order[max]));
}

static bool jurisdiction_applies(const char *j, json_t *markets, char *why, size_t whylen)
{
    size_t i;
    json_t *m;

    if (strcmp(j, "global") == 0 || !json_is_array(markets))
        return true;
    json_array_foreach(markets, i, m)
    {
        const char *s = json_string_value(m);
        size_t n = strlen(s), jn = strlen(j);
        /* equal, or one contains the other ("US" covers "US-CA") */
        if (strcmp(s, j) == 0 || (jn > n && strncmp(j, s, n) == 0 && j[n] == '-') ||
            (n > jn && strncmp(s, j, jn) == 0 && s[jn] == '-'))
            return true;
    }
    snprintf(why, whylen, "jurisdiction %s is not among the declared markets", j);
    return false;
}

/* Returns true when the pack applies on `date`; otherwise fills `why`. */
static bool pack_in_force(const struct pack *p, int32_t date, bool explicit_pick, bool *what_if,
                          char *why, size_t whylen)
{
    char d[11];

    *what_if = false;
    if (strcmp(p->status, "vetoed") == 0) {
        if (!explicit_pick) {
            snprintf(why, whylen, "vetoed; select it with --pack for a what-if evaluation");
            return false;
        }
        *what_if = true;
    }
    if (p->effective != INT32_MIN && date < p->effective) {
        snprintf(why, whylen, "not yet in force on the evaluation date (effective %s)",
                 sl_date_format(p->effective, d));
        return false;
    }
    if (date >= p->rescinded) {
        snprintf(why, whylen, "no longer in force (%s %s)",
                 strcmp(p->status, "rescinded") == 0 ? "rescinded or revoked on" : "ended",
                 sl_date_format(p->rescinded, d));
        return false;
    }
    return true;
}

/* Appends the pack's dated notes in force on `date` ("pack: text"). */
static void pack_notes(const struct pack *p, int32_t date, json_t *notes)
{
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(p->doc, "notes"), i, n)
    {
        int32_t from = INT32_MIN, until = INT32_MAX;
        json_t *f = json_object_get(n, "from"), *u = json_object_get(n, "until");
        if (json_is_string(f))
            sl_date_parse(json_string_value(f), &from);
        if (json_is_string(u))
            sl_date_parse(json_string_value(u), &until);
        if (date >= from && date < until)
            json_array_append_new(
                notes,
                json_sprintf("%s: %s", p->id, json_string_value(json_object_get(n, "text"))));
    }
}

/* Collects compute comparisons whose threshold lies inside the estimate's
 * range, labelled by the rule. */
static void near_thresholds(const struct cond *c, json_t *env, int32_t date, const char *label,
                            json_t *out)
{
    if (c->kind == COND_CMP && sl_str_has_prefix(c->fact, "compute.") &&
        strcmp(c->fact, "compute.modification_ratio") != 0 && c->op != OP_IN && c->op != OP_EQ &&
        c->op != OP_NE) {
        json_t *v = sl__fact_lookup(env, c->fact);
        double t;
        if (json_is_number(v) && sl__threshold(c, date, &t)) {
            double x = json_number_value(v);
            if (t >= x * (1 - SL_COMPUTE_RANGE) && t <= x * (1 + SL_COMPUTE_RANGE)) {
                size_t i;
                json_t *e;
                json_array_foreach(out, i, e)
                {
                    if (strcmp(json_string_value(e), label) == 0)
                        return;
                }
                json_array_append_new(out, json_string(label));
            }
        }
    }
    for (size_t i = 0; i < c->nkids; i++)
        near_thresholds(c->kids[i], env, date, label, out);
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void sort_strings(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = sl_xcalloc(n ? n : 1, sizeof(*v));

    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), cmp_json_str);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

static void add_unique(json_t *arr, const char *s)
{
    size_t i;
    json_t *e;

    json_array_foreach(arr, i, e)
    {
        if (strcmp(json_string_value(e), s) == 0)
            return;
    }
    json_array_append_new(arr, json_string(s));
}

static json_t *resolve_facts(const struct sl_classify_in *in, json_t *notes)
{
    json_t *env = in->facts ? json_deep_copy(in->facts) : json_object();
    json_t *src = json_object();
    json_t *lic;

    if (in->files) {
        json_object_set_new(env, "params", json_integer((json_int_t)in->files->total));
        json_object_set_new(src, "params", json_string("files"));
        if (in->files->active_known) {
            json_object_set_new(env, "active_params", json_integer((json_int_t)in->files->active));
            json_object_set_new(src, "active_params", json_string("files"));
        } else if (json_is_number(json_object_get(env, "active_params"))) {
            json_object_set_new(src, "active_params", json_string("facts"));
            json_array_append_new(notes, json_string("active parameters taken from the facts: "
                                                     "the files do not say how many experts "
                                                     "are active per token"));
        } else {
            json_object_del(env, "active_params");
            json_array_append_new(notes, json_string(in->files->note));
        }
        if (in->facts && json_is_number(json_object_get(in->facts, "params")) &&
            json_number_value(json_object_get(in->facts, "params")) != (double)in->files->total)
            json_array_append_new(notes, json_string("the facts' params differ from the files; "
                                                     "the files' count is used"));
    } else {
        if (json_is_number(json_object_get(env, "params")))
            json_object_set_new(src, "params", json_string("facts"));
        if (json_is_number(json_object_get(env, "active_params"))) {
            json_object_set_new(src, "active_params", json_string("facts"));
        } else if (json_is_number(json_object_get(env, "params"))) {
            json_object_set_new(env, "active_params",
                                json_deep_copy(json_object_get(env, "params")));
            json_object_set_new(src, "active_params", json_string("params (dense model assumed)"));
        }
    }
    json_object_set_new(env, "sources", src);
    /* Integers given as 4.05e11 become exact integers. */
    {
        static const char *const ints[] = {"params", "active_params"};
        for (size_t i = 0; i < 2; i++) {
            json_t *v = json_object_get(env, ints[i]);
            if (json_is_real(v))
                json_object_set_new(env, ints[i], json_integer((json_int_t)json_real_value(v)));
        }
    }
    if (!json_is_boolean(json_object_get(env, "biological_sequence_data")))
        json_object_set_new(env, "biological_sequence_data", json_false());
    lic = json_object_get(env, "license");
    if (json_is_object(lic) && json_is_string(json_object_get(lic, "spdx"))) {
        static const char *const flags[] = {"noncommercial", "user_cap", "no_redistribution",
                                            "paid_only"};
        for (size_t i = 0; i < SL_ARRAY_LEN(flags); i++)
            if (!json_is_boolean(json_object_get(lic, flags[i])))
                json_object_set_new(lic, flags[i], json_false());
    }
    derive_evals(env);
    return env;
}

#define CONFLICT_ID "facts.compute-conflict"

/* The blocking obligation raised when the compute figures disagree (it
 * belongs to no pack: it is about the facts, whichever packs apply). */
static json_t *conflict_obligation(const struct sl_compute_out *co)
{
    const struct sl_compute_method *lo = &co->methods[co->conflict_lo];
    const struct sl_compute_method *hi = &co->methods[co->conflict_hi];
    char a[32], b[32];

    return json_pack(
        "{s:s, s:o, s:s, s:b, s:s, s:s, s:[s]}", "id", CONFLICT_ID, "title",
        json_sprintf("Training compute estimates disagree: %s %s FLOP vs %s %s FLOP (more than the "
                     "+/-30%% band); every threshold was tested against the highest, %s FLOP. "
                     "Correct the facts or document why the figures differ",
                     hi->method, sl_fmt_sig(hi->flop, 3, a, sizeof(a)), lo->method,
                     sl_fmt_sig(lo->flop, 3, b, sizeof(b)), a),
        "cite",
        "Commission GPAI Guidelines C(2025) 5045 Annex A.2 (estimates accurate to +/-30 %); "
        "sluice docs/facts.md (conflicting estimates)",
        "blocking", 1, "hold_tier", sl_tier_name(SL_TIER_WITHHELD), "pack", "facts", "required_by",
        "compute.conflict");
}

static void assume(json_t *list, const char *fact, const char *text)
{
    json_array_append_new(list, json_pack("{s:s, s:s}", "fact", fact, "assumed", text));
}

/* What the decision had to assume because a fact was missing (issue 16):
 * the first lines of `classify` show these, so a result that rests on a
 * default is never read as settled. */
static json_t *assumptions(json_t *env, const struct sl_compute_out *co, json_t *fired,
                           json_t *undecided)
{
    json_t *list = json_array(), *e, *m;
    json_t *src = json_object_get(env, "sources");
    size_t i, k;
    bool gp_missing = false, gp_modality_test = false;
    json_t *by_pack = json_object();

    if (!json_is_array(json_object_get(env, "markets")))
        assume(list, "markets",
               "markets not given: the model is assumed to be placed on every market, so every "
               "jurisdiction's pack applies");
    if (!co->known)
        assume(list, "compute",
               "training compute unknown: rules with compute thresholds are undecided and the "
               "minimum tier is provisional");
    json_array_foreach(undecided, i, e)
    {
        json_array_foreach(json_object_get(e, "missing"), k, m)
        {
            const char *f = json_string_value(m);
            if (strcmp(f, "modality") == 0 || strcmp(f, "general_purpose") == 0) {
                const char *pack = json_string_value(json_object_get(e, "pack"));
                json_t *rules = json_object_get(by_pack, pack);
                if (!rules) {
                    rules = json_array();
                    json_object_set_new(by_pack, pack, rules);
                }
                add_unique(rules, json_string_value(json_object_get(e, "rule")));
                gp_missing = true;
            }
        }
    }
    if (gp_missing) {
        const char *pack;
        json_t *rules;
        json_object_foreach(by_pack, pack, rules)
        {
            struct sl_buf b = SL_BUF_INIT(4096);
            sl_buf_addf(&b,
                        "modality and general_purpose not given: whether the model is "
                        "general-purpose is unknown, so %s rules are undecided:",
                        pack);
            json_array_foreach(rules, k, m) sl_buf_addf(&b, " %s", json_string_value(m));
            assume(list, "general_purpose", sl_buf_cstr(&b));
            sl_buf_release(&b);
        }
    }
    json_array_foreach(fired, i, e)
    {
        const char *why = json_string_value(json_object_get(e, "why"));
        gp_modality_test |= why && strstr(why, "general_purpose is not known") != NULL;
    }
    if (gp_modality_test && !sl__fact_lookup(env, "modality"))
        assume(list, "general_purpose",
               "modality and general_purpose not given: the model is presumed general-purpose "
               "for the systemic-risk rules (leaving the facts out does not escape them); say "
               "general_purpose: false if it is not");
    else if (gp_modality_test)
        assume(list, "general_purpose",
               "general_purpose not given: the Commission Guidelines' indicative modality test "
               "(generates language, text-to-image or text-to-video; C(2025) 5045 para 17) "
               "decided whether the model is general-purpose");
    json_array_foreach(fired, i, e)
    {
        const char *why = json_string_value(json_object_get(e, "why"));
        if (why && strstr(why, "release_tier is not known")) {
            assume(list, "release_tier",
                   "release_tier not given: the open-source exemption assumes the weights are "
                   "published without gating (tier open or click); at gated, hosted or withheld "
                   "it does not apply");
            break;
        }
    }
    if (json_is_string(json_object_get(src, "active_params")) &&
        strstr(json_string_value(json_object_get(src, "active_params")), "dense"))
        assume(list, "active_params",
               "active_params not given: a dense model is assumed (every parameter active per "
               "token)");
    json_decref(by_pack);
    return list;
}

static json_t *compute_json(const struct sl_compute_out *co, json_t *near)
{
    json_t *c = json_object(), *methods = json_array();

    for (size_t i = 0; i < co->nmethods; i++)
        json_array_append_new(methods,
                              json_pack("{s:s, s:f, s:s}", "method", co->methods[i].method, "flop",
                                        co->methods[i].flop, "detail", co->methods[i].detail));
    json_object_set_new(c, "methods", methods);
    json_object_set_new(c, "near_threshold", json_incref(near));
    json_object_set_new(c, "known", json_boolean(co->known));
    if (co->conflict) {
        const struct sl_compute_method *lo = &co->methods[co->conflict_lo];
        const struct sl_compute_method *hi = &co->methods[co->conflict_hi];
        json_object_set_new(c, "conflict",
                            json_pack("{s:{s:s, s:f}, s:{s:s, s:f}, s:f}", "low", "method",
                                      lo->method, "flop", lo->flop, "high", "method", hi->method,
                                      "flop", hi->flop, "ratio", hi->flop / lo->flop));
    } else {
        json_object_set_new(c, "conflict", json_null());
    }
    if (!co->known) {
        json_object_set_new(c, "flop_central", json_null());
        json_object_set_new(c, "flop_low", json_null());
        json_object_set_new(c, "flop_high", json_null());
        json_object_set_new(c, "note", json_string(co->note));
        return c;
    }
    json_object_set_new(c, "flop_central", json_real(co->cumulative));
    json_object_set_new(c, "flop_low", json_real(co->cumulative * (1 - SL_COMPUTE_RANGE)));
    json_object_set_new(c, "flop_high", json_real(co->cumulative * (1 + SL_COMPUTE_RANGE)));
    json_object_set_new(c, "own_flop", json_real(co->own));
    json_object_set_new(c, "param_update_flop", json_real(co->param_update));
    json_object_set_new(c, "cumulative_flop", json_real(co->cumulative));
    if (co->modification_ratio >= 0)
        json_object_set_new(c, "modification_ratio", json_real(co->modification_ratio));
    return c;
}

/* What the fired rules add up to. */
struct acc {
    json_t *fired, *required_by, *deferred, *labels, *obl_ids, *waived;
    int min_tier;
};

struct held {
    const struct pack *p;
    const struct rule *r;
    json_t *why;
};

/* Records that rule `r` of pack `p` fired because of `why`. */
static void fire(struct acc *a, const struct pack *p, const struct rule *r, json_t *why,
                 int32_t as_of)
{
    size_t i;
    json_t *e;
    json_t *fr = json_pack("{s:s, s:s, s:s, s:O}", "pack", p->id, "rule", r->id, "cite", r->cite,
                           "why", why);

    if (r->min_tier >= 0)
        json_object_set_new(fr, "min_tier", json_string(sl_tier_name((enum sl_tier)r->min_tier)));
    if (r->unverified)
        json_object_set_new(fr, "unverified", json_string(r->unverified));
    if (r->ambiguity)
        json_object_set_new(fr, "ambiguity", json_string(r->ambiguity));
    json_array_foreach(r->defers, i, e)
    {
        char until[11];
        if (as_of < r->defer_until)
            json_object_set_new(a->deferred, json_string_value(e),
                                json_pack("{s:s, s:s}", "until",
                                          sl_date_format(r->defer_until, until), "rule", r->id));
    }
    json_array_append_new(a->fired, fr);
    json_array_foreach(r->obligations, i, e)
    {
        json_t *by = json_object_get(a->required_by, json_string_value(e));
        if (!by) {
            by = json_array();
            json_object_set_new(a->required_by, json_string_value(e), by);
        }
        add_unique(by, r->id);
    }
    if (r->min_tier > a->min_tier)
        a->min_tier = r->min_tier;
    json_array_foreach(r->labels, i, e) add_unique(a->labels, json_string_value(e));
    json_array_foreach(r->obligations, i, e) add_unique(a->obl_ids, json_string_value(e));
    json_array_foreach(r->waives, i, e) add_unique(a->waived, json_string_value(e));
}

enum sl_err sl_classify(const struct sl_packset *ps, const struct sl_classify_in *in,
                        json_t **decision, struct sl_error *err)
{
    struct sl_compute_in cin;
    struct sl_compute_out co;
    json_t *notes = json_array(), *env, *d = NULL;
    json_t *fired = json_array(), *undecided = json_array(), *labels = json_array();
    json_t *obl_ids = json_array(), *waived = json_array(), *near = json_array();
    json_t *packs_used = json_array(), *packs_skipped = json_array(), *obligations = json_array();
    json_t *required_by = json_object(), *deferred = json_object();
    json_t *pack_versions = json_array();
    const struct pack **sel = NULL, **used = NULL;
    size_t nsel = 0, nused = 0, nheld = 0;
    struct held *held = NULL;
    struct acc acc;
    int min_tier = SL_TIER_OPEN;
    char date[11];
    enum sl_err rc;

    /* Selected packs must exist, one version of each. */
    sel = sl_xcalloc(ps->n + ps->nhist + 1, sizeof(*sel));
    for (size_t i = 0; i < in->npacks; i++) {
        const struct pack *p = sl__pack_find(ps, in->packs[i]);
        if (!p) {
            rc = sl_error_set(err, SL_EUSAGE,
                              "unknown policy pack \"%s\" (see `sluice policy "
                              "list`)",
                              in->packs[i]);
            goto out_early;
        }
        for (size_t k = 0; k < i; k++) {
            const struct pack *q = sl__pack_find(ps, in->packs[k]);
            if (q != p && strcmp(q->id, p->id) == 0) {
                rc = sl_error_set(err, SL_EUSAGE,
                                  "--pack %s and --pack %s: select one version of pack %s",
                                  in->packs[k], in->packs[i], p->id);
                goto out_early;
            }
        }
    }
    /* Evaluation order: the pack set's order, current versions first. */
    for (size_t pi = 0; pi < ps->n + ps->nhist; pi++) {
        const struct pack *p = pi < ps->n ? &ps->packs[pi] : &ps->hist[pi - ps->n];
        bool pick = false;
        for (size_t i = 0; i < in->npacks; i++)
            pick |= sl__pack_find(ps, in->packs[i]) == p;
        if (in->npacks ? pick : (pi < ps->n && p->default_active))
            sel[nsel++] = p;
    }
    used = sl_xcalloc(nsel + 1, sizeof(*used));
    acc.fired = fired;
    acc.required_by = required_by;
    acc.deferred = deferred;
    acc.labels = labels;
    acc.obl_ids = obl_ids;
    acc.waived = waived;
    acc.min_tier = SL_TIER_OPEN;
    env = resolve_facts(in, notes);
    compute_inputs(env, in->as_of, &cin);
    rc = sl_compute_estimate(&cin, &co, err);
    if (rc) {
        json_decref(env);
        goto out_early;
    }
    if (co.known) {
        json_t *c = obj(env, "compute");
        json_object_set_new(c, "own", json_real(co.own));
        json_object_set_new(c, "param_update", json_real(co.param_update));
        json_object_set_new(c, "cumulative", json_real(co.cumulative));
        if (co.modification_ratio >= 0)
            json_object_set_new(c, "modification_ratio", json_real(co.modification_ratio));
        json_object_set_new(env, "cost_usd", json_real(co.cost_usd));
    } else {
        json_array_append_new(notes, json_string(co.note));
    }

    for (size_t pi = 0; pi < nsel; pi++) {
        const struct pack *p = sel[pi];
        bool explicit_pick = in->npacks > 0, what_if;
        char why[200];

        if (!jurisdiction_applies(p->jurisdiction, json_object_get(env, "markets"), why,
                                  sizeof(why)) ||
            !pack_in_force(p, in->as_of, explicit_pick, &what_if, why, sizeof(why))) {
            json_array_append_new(packs_skipped,
                                  json_pack("{s:s, s:s}", "pack", p->id, "reason", why));
            continue;
        }
        json_array_append_new(packs_used, json_sprintf("%s@%s", p->id, p->version));
        json_array_append_new(pack_versions, json_pack("{s:s, s:s, s:s}", "pack", p->id, "version",
                                                       p->version, "sha256", p->sha256));
        used[nused++] = p;
        pack_notes(p, in->as_of, notes);
        if (what_if)
            json_array_append_new(notes, json_sprintf("pack %s was vetoed; it is evaluated as if "
                                                      "enacted (what-if)",
                                                      p->id));
        for (size_t ri = 0; ri < p->nrules; ri++) {
            const struct rule *r = &p->rules[ri];
            json_t *whys = json_array(), *missing = json_array();
            const char *label = json_array_size(r->labels)
                                    ? json_string_value(json_array_get(r->labels, 0))
                                    : r->id;
            enum tri t;

            if (in->as_of < r->effective || in->as_of >= r->rescinded) {
                json_decref(whys);
                json_decref(missing);
                continue;
            }
            t = sl__cond_eval(r->when, env, in->as_of, whys, missing);
            near_thresholds(r->when, env, in->as_of, label, near);
            if (t == T_TRUE && r->below_tier >= 0) {
                /* Decided once the tier is known (below). */
                held = sl_xrealloc(held, (nheld + 1) * sizeof(*held));
                held[nheld].p = p;
                held[nheld].r = r;
                held[nheld].why = json_incref(json_array_get(whys, 0));
                nheld++;
            } else if (t == T_TRUE) {
                fire(&acc, p, r, json_array_get(whys, 0), in->as_of);
            } else if (t == T_UNKNOWN) {
                json_array_append_new(undecided,
                                      json_pack("{s:s, s:s, s:s, s:O}", "pack", p->id, "rule",
                                                r->id, "cite", r->cite, "missing", missing));
            }
            json_decref(whys);
            json_decref(missing);
        }
    }

    /* A rule that needs the weights public (the EU open-source exemption)
     * applies only when no other rule put the minimum tier at or above its
     * `below_tier`: a model held at gated or above is not published openly. */
    for (size_t h = 0; h < nheld; h++) {
        if (acc.min_tier < held[h].r->below_tier)
            fire(&acc, held[h].p, held[h].r, held[h].why, in->as_of);
        else
            json_array_append_new(
                notes, json_sprintf("%s (%s) does not apply: the minimum tier %s keeps the weights "
                                    "from being made public",
                                    held[h].r->id, held[h].p->id,
                                    sl_tier_name((enum sl_tier)acc.min_tier)));
        json_decref(held[h].why);
    }
    free(held);
    min_tier = acc.min_tier;
    {
        size_t i;
        json_t *e;
        if (co.conflict) {
            add_unique(obl_ids, CONFLICT_ID);
            add_unique(labels, CONFLICT_ID);
        }
        sort_strings(obl_ids);
        json_array_foreach(obl_ids, i, e)
        {
            const struct pack *owner = NULL;
            const struct obligation *o = NULL;
            /* The applied packs' own definitions first, so that an older
             * version's obligations are the ones it defined. */
            for (size_t u = 0; u < nused && !o; u++) {
                for (size_t x = 0; x < used[u]->nobligations && !o; x++) {
                    if (strcmp(used[u]->obligations[x].id, json_string_value(e)) == 0) {
                        o = &used[u]->obligations[x];
                        owner = used[u];
                    }
                }
            }
            if (!o)
                o = sl__find_obligation(ps, json_string_value(e), &owner);
            bool is_waived = false;
            size_t k;
            json_t *w, *oj;
            json_array_foreach(waived, k, w) is_waived |= json_equal(w, e);
            if (co.conflict && strcmp(json_string_value(e), CONFLICT_ID) == 0) {
                json_array_append_new(obligations, conflict_obligation(&co));
                continue;
            }
            if (!o || is_waived)
                continue;
            oj = json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", o->id, "title", o->title, "cite",
                           o->cite, "blocking", o->blocking, "pack", owner->id);
            if (o->deadline)
                json_object_set_new(oj, "deadline", json_string(o->deadline));
            if (o->blocking)
                json_object_set_new(oj, "hold_tier",
                                    json_string(sl_tier_name((enum sl_tier)o->hold_tier)));
            if (o->unverified)
                json_object_set_new(oj, "unverified", json_string(o->unverified));
            w = json_object_get(deferred, o->id);
            if (w) {
                /* Due later (e.g. EU Art. 111(3) for models already on the
                 * market): not blocking before that date. */
                json_object_set_new(oj, "blocking", json_false());
                json_object_del(oj, "hold_tier");
                json_object_set_new(oj, "deadline",
                                    json_sprintf("by %s (%s)",
                                                 json_string_value(json_object_get(w, "until")),
                                                 json_string_value(json_object_get(w, "rule"))));
                json_object_set(oj, "deferred", w);
            }
            if (o->requires_evaluations)
                json_object_set(oj, "requires_evaluations", o->requires_evaluations);
            json_object_set(oj, "required_by", json_object_get(required_by, o->id));
            json_array_append_new(obligations, oj);
        }
        if (json_array_size(waived)) {
            sort_strings(waived);
        }
    }
    sort_strings(labels);

    d = json_object();
    json_object_set_new(d, "as_of", json_string(sl_date_format(in->as_of, date)));
    {
        json_t *facts = json_deep_copy(env);
        json_object_del(facts, "compute");
        json_object_del(facts, "cost_usd");
        json_object_set_new(d, "facts", facts);
    }
    json_object_set_new(d, "compute", compute_json(&co, near));
    json_object_set_new(d, "cost_usd", co.known ? json_real(co.cost_usd) : json_null());
    if (co.known)
        json_object_set_new(d, "cost_basis", json_string(co.cost_basis));
    json_object_set_new(d, "min_tier", json_string(sl_tier_name((enum sl_tier)min_tier)));
    /* A tier computed without the compute figure rests on rules that could
     * not be decided: it may only go up once compute is known. */
    json_object_set_new(d, "min_tier_provisional", json_boolean(!co.known));
    json_object_set_new(d, "assumptions", assumptions(env, &co, fired, undecided));
    json_object_set_new(d, "labels", labels);
    json_object_set_new(d, "obligations", obligations);
    json_object_set_new(d, "waived", waived);
    json_object_set_new(d, "rules_fired", fired);
    json_object_set_new(d, "rules_undecided", undecided);
    json_object_set_new(d, "packs", packs_used);
    json_object_set_new(d, "pack_versions", pack_versions);
    json_object_set_new(d, "packs_not_applied", packs_skipped);
    json_object_set_new(d, "notes", notes);
    json_decref(obl_ids);
    json_decref(near);
    json_decref(env);
    json_decref(required_by);
    json_decref(deferred);
    free(sel);
    free(used);
    *decision = d;
    return SL_OK;

out_early:
    free(sel);
    free(used);
    json_decref(pack_versions);
    json_decref(required_by);
    json_decref(deferred);
    json_decref(notes);
    json_decref(fired);
    json_decref(undecided);
    json_decref(labels);
    json_decref(obl_ids);
    json_decref(waived);
    json_decref(near);
    json_decref(packs_used);
    json_decref(packs_skipped);
    json_decref(obligations);
    return rc;
}
