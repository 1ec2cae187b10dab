/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governing a version after it is published (docs/access.md): evaluator
 * keys and signed attestations, re-running the decision with attested
 * results, obligations and their evidence, the floor a version may not go
 * below, tier changes and staged release. A new decision applies at once:
 * when the floor rises above a version's tier, the tier moves up with it.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/date.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "compute/compute.h"
#include "db/repo_govern.h"
#include "db/repo_versions.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

#define EVIDENCE_MAX  10000
#define EVAL_KEYS_MAX 1000

static enum sl_err rollback(struct sl_db *db, enum sl_err rc)
{
    sl_db_rollback(db);
    return rc;
}

static void text_sha_hex(const char *s, size_t n, char hex[65])
{
    unsigned char h[32];

    sl_sha256(s, n, h);
    sl_hex(h, 32, hex);
}

static enum sl_tier tier_of(const char *s)
{
    enum sl_tier t = SL_TIER_WITHHELD;

    if (s)
        sl_tier_parse(s, &t);
    return t;
}

/* ---- floors and refusals ---- */

/* Domains attested for a version, as a JSON object domain -> [evaluator]. */
static int domain_add(void *ctx, const struct sl_attestation_row *a)
{
    json_t *out = ctx, *arr = json_object_get(out, a->domain);

    if (!arr) {
        arr = json_array();
        json_object_set_new(out, a->domain, arr);
    }
    json_array_append_new(arr, json_string(a->evaluator));
    return 0;
}

static json_t *attested_domains(struct sl_db *db, int64_t version_id, struct sl_error *err)
{
    json_t *out = json_object();

    if (version_id == 0)
        return out;
    if (sl_repo_attestation_domains(db, version_id, domain_add, out, err) != SL_OK) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *sl__obligations_status(struct sl_db *db, int64_t version_id, json_t *decision,
                               enum sl_tier *floor, json_t **held_by, struct sl_error *err)
{
    json_t *out = json_array(), *domains = attested_domains(db, version_id, err), *o;
    struct sl_arena a = SL_ARENA_INIT;
    size_t i;
    int f = (int)tier_of(json_string_value(json_object_get(decision, "min_tier")));

    *held_by = json_array();
    if (!domains) {
        json_decref(out);
        json_decref(*held_by);
        *held_by = NULL;
        return NULL;
    }
    json_array_foreach(json_object_get(decision, "obligations"), i, o)
    {
        json_t *s = json_deep_copy(o), *req = json_object_get(o, "requires_evaluations");
        bool satisfied = false;
        if (json_is_array(req)) {
            json_t *missing = json_array(), *by = json_array(), *d;
            size_t k;
            json_array_foreach(req, k, d)
            {
                json_t *who = json_object_get(domains, json_string_value(d));
                if (who)
                    json_array_append_new(by,
                                          json_pack("{s:O, s:O}", "domain", d, "evaluators", who));
                else
                    json_array_append(missing, d);
            }
            satisfied = json_array_size(missing) == 0;
            json_object_set_new(s, "missing_evaluations", missing);
            json_object_set_new(s, "satisfied_by", by);
        } else if (version_id) {
            struct sl_evidence_row ev;
            bool found;
            /* a failed read is an error, never an open obligation */
            if (sl_repo_evidence_get(db, version_id, json_string_value(json_object_get(o, "id")),
                                     &a, &found, &ev, err) != SL_OK) {
                json_decref(s);
                json_decref(out);
                json_decref(domains);
                json_decref(*held_by);
                *held_by = NULL;
                sl_arena_release(&a);
                return NULL;
            }
            if (found) {
                char t[21];
                satisfied = true;
                json_object_set_new(s, "evidence",
                                    json_pack("{s:s, s:s, s:s}", "text", ev.text, "by", ev.by, "at",
                                              sl_gov_time(ev.created, t)));
            }
        }
        json_object_set_new(s, "status", json_string(satisfied ? "satisfied" : "open"));
        if (!satisfied && json_is_true(json_object_get(o, "blocking"))) {
            enum sl_tier hold = SL_TIER_WITHHELD;
            const char *ht = json_string_value(json_object_get(o, "hold_tier"));
            if (ht)
                sl_tier_parse(ht, &hold);
            json_object_set_new(s, "hold_tier", json_string(sl_tier_name(hold)));
            if ((int)hold > f)
                f = (int)hold;
            json_array_append(*held_by, s);
        }
        json_array_append_new(out, s);
    }
    json_decref(domains);
    sl_arena_release(&a);
    *floor = (enum sl_tier)f;
    return out;
}

enum sl_err sl__refusal(json_t *decision, json_t *held_by, const char *want, struct sl_error *err)
{
    json_t *fired = json_object_get(decision, "rules_fired"), *e;
    const char *min = json_string_value(json_object_get(decision, "min_tier"));
    enum sl_tier w = tier_of(want);
    size_t i;

    if (w < tier_of(min)) {
        json_array_foreach(fired, i, e)
        {
            json_t *mt = json_object_get(e, "min_tier");
            if (json_is_string(mt) && strcmp(json_string_value(mt), min) == 0)
                return sl_error_set(err, SL_EREFUSED,
                                    "tier %s is below the minimum tier %s set by rule %s (%s: %s)",
                                    want, min, json_string_value(json_object_get(e, "rule")),
                                    json_string_value(json_object_get(e, "pack")),
                                    json_string_value(json_object_get(e, "cite")));
        }
        return sl_error_set(err, SL_EREFUSED, "tier %s is below the minimum tier %s", want, min);
    }
    json_array_foreach(held_by, i, e)
    {
        if (w < tier_of(json_string_value(json_object_get(e, "hold_tier")))) {
            json_t *by = json_object_get(e, "required_by");
            return sl_error_set(
                err, SL_EREFUSED,
                "tier %s is refused: blocking obligation %s is not satisfied: %s (%s; required "
                "by rule %s); until it is, the version is held at %s (see sluice obligations)",
                want, json_string_value(json_object_get(e, "id")),
                json_string_value(json_object_get(e, "title")),
                json_string_value(json_object_get(e, "cite")),
                json_is_array(by) && json_array_size(by) ? json_string_value(json_array_get(by, 0))
                                                         : "?",
                json_string_value(json_object_get(e, "hold_tier")));
        }
    }
    return sl_error_set(err, SL_EREFUSED, "tier %s is below the version's floor", want);
}

/* ---- deciding again ---- */

/* An attested evaluation, as the policy reads it. */
static int eval_add(void *ctx, const struct sl_attestation_row *a)
{
    char day[11];

    json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "domain", a->domain,
                                         "level", a->level, "method", a->method, "date",
                                         sl_date_format((int32_t)(a->date / 86400), day),
                                         "evaluator", a->evaluator, "attested", 1));
    return 0;
}

/* The decision for a stored version as of day `as_of`: the facts of its
 * manifest plus the attested evaluations, and the counts of its files. */
static enum sl_err decide(struct sl_registry *r, struct sl_db *db, int64_t version_id,
                          int32_t as_of, json_t **decision, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_version_policy_row row;
    json_t *manifest = NULL, *inspect = NULL, *facts, *evals;
    char tier[16] = "";
    struct sl_param_count pc;
    struct sl_classify_in in;
    bool found;
    enum sl_err rc;

    *decision = NULL;
    rc = sl_repo_version_policy_inputs(db, version_id, &a, &found, &row, err);
    if (!rc && found) {
        manifest = row.manifest ? json_loads(row.manifest, 0, NULL) : NULL;
        if (row.inspect)
            inspect = json_loads(row.inspect, 0, NULL);
        snprintf(tier, sizeof(tier), "%s", row.tier);
    }
    sl_arena_release(&a);
    if (rc || !found || !manifest) {
        json_decref(inspect);
        json_decref(manifest);
        return rc ? rc
                  : sl_error_set(err, SL_EINTERNAL, "version %lld unreadable",
                                 (long long)version_id);
    }
    facts = json_object_get(manifest, "facts");
    facts = json_is_object(facts) ? json_deep_copy(facts) : json_object();
    /* the tier the version is served at is its release tier, unless the
     * publisher declared one (the EU open-source exemption reads it) */
    if (!json_object_get(facts, "release_tier") && tier[0])
        json_object_set_new(facts, "release_tier", json_string(tier));
    evals = json_object_get(facts, "evaluations");
    if (!json_is_array(evals)) {
        evals = json_array();
        json_object_set_new(facts, "evaluations", evals);
    }
    rc = sl_repo_attestation_evals(db, version_id, eval_add, evals, err);
    if (rc)
        goto out;
    if (json_array_size(evals) == 0)
        json_object_del(facts, "evaluations");
    memset(&pc, 0, sizeof(pc));
    memset(&in, 0, sizeof(in));
    in.facts = facts;
    if (json_is_object(inspect) && json_is_integer(json_object_get(inspect, "params_total"))) {
        json_t *act = json_object_get(inspect, "params_active");
        const char *note = json_string_value(json_object_get(inspect, "note"));
        pc.total = (uint64_t)json_integer_value(json_object_get(inspect, "params_total"));
        pc.active_known = json_is_integer(act);
        pc.active = pc.active_known ? (uint64_t)json_integer_value(act) : pc.total;
        snprintf(pc.note, sizeof(pc.note), "%s", note ? note : "");
        in.files = &pc;
    }
    in.as_of = as_of;
    rc = sl_classify(r->policy, &in, decision, err);
out:
    json_decref(facts);
    json_decref(inspect);
    json_decref(manifest);
    return rc;
}

static enum sl_err set_tier(struct sl_registry *r, struct sl_db *db, int64_t version_id,
                            const char *model, const struct sl_version_state_row *s,
                            const char *tier, const char *why, int64_t by_user,
                            struct sl_error *err)
{
    json_t *e;
    enum sl_err rc = sl_repo_version_tier_set(db, version_id, tier, err);

    if (rc)
        return rc;
    e = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "type", "tier.changed", "model", model,
                  "commit", s->commit, "version", (json_int_t)s->seq, "old", s->tier, "new", tier,
                  "why", why);
    if (by_user) {
        char who[SL_PSEUDONYM_LEN + 1];
        sl__pseudonym(r, model, by_user, who);
        json_object_set_new(e, "by", json_string(who));
    }
    rc = sl__log_append(r, db, e, NULL, err);
    json_decref(e);
    return rc;
}

void sl_gov_state_release(struct sl_gov_state *s)
{
    json_decref(s->held_by);
    memset(s, 0, sizeof(*s));
}

/* Stores `decision` for the version, its floor and the obligations that
 * hold it, and moves the tier up to the floor when it is below. Inside the
 * caller's transaction. `*state` gets where that left the version (release
 * it with sl_gov_state_release() after success). */
static enum sl_err apply(struct sl_registry *r, struct sl_db *db, int64_t version_id,
                         const char *model, json_t *decision, const char *why,
                         struct sl_gov_state *state, struct sl_error *err)
{
    struct sl_version_state_row s;
    enum sl_tier floor;
    json_t *held = NULL, *obl;
    char *text;
    bool moved = false;
    const char *min = json_string_value(json_object_get(decision, "min_tier"));
    enum sl_err rc = sl_repo_version_state(db, version_id, &s, err);

    memset(state, 0, sizeof(*state));
    if (rc)
        return rc;
    obl = sl__obligations_status(db, version_id, decision, &floor, &held, err);
    if (!obl)
        return err->code;
    json_decref(obl);
    text = sl_json_dump(decision, 0, NULL);
    rc = sl_repo_version_decision_set(db, version_id, text, min, sl_tier_name(floor), err);
    free(text);
    if (!rc && tier_of(s.tier) < floor) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s; the floor rose to %s", why, sl_tier_name(floor));
        rc = set_tier(r, db, version_id, model, &s, sl_tier_name(floor), msg, 0, err);
        moved = true;
    }
    if (rc) {
        json_decref(held);
        return rc;
    }
    snprintf(state->tier, sizeof(state->tier), "%s", moved ? sl_tier_name(floor) : s.tier);
    snprintf(state->min_tier, sizeof(state->min_tier), "%s", min ? min : "");
    snprintf(state->floor_tier, sizeof(state->floor_tier), "%s", sl_tier_name(floor));
    snprintf(state->old_tier, sizeof(state->old_tier), "%s", s.tier);
    state->moved = moved;
    state->held_by = held;
    return SL_OK;
}

/* ---- evaluator keys ---- */

enum sl_err sl_reg_eval_key_add(struct sl_registry *r, const struct sl_principal *p,
                                const char *name, const char *vkey, struct sl_arena *a,
                                const char **canon_out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_note_key k;
    struct sl_eval_key_new nk;
    int64_t user_id = 0, n = 0;
    bool found, inserted;
    char canon[SL_NOTE_VKEY_MAX + 1];
    enum sl_err rc;

    *canon_out = NULL;
    if (!db)
        return err->code;
    if (!p->admin)
        return sl_error_set(err, SL_EFORBIDDEN, "only an admin registers evaluator keys");
    rc = sl_note_vkey_parse(vkey, strlen(vkey), &k, err);
    if (rc)
        return rc;
    if (strcmp(k.name, name) != 0)
        return sl_error_set(err, SL_EINPUT,
                            "the verifier key is named \"%s\", not \"%s\": an evaluator's key "
                            "name is its account name",
                            k.name, name);
    rc = sl_note_vkey(&k, canon, sizeof(canon), err);
    if (rc)
        return rc;
    rc = sl_repo_evaluator_user_id(db, name, &found, &user_id, err);
    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_ENOTFOUND,
                            "no account %s: an evaluator key belongs to an account (sluice admin "
                            "user add %s)",
                            name, name);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_eval_key_count(db, &n, err);
    if (!rc && n >= EVAL_KEYS_MAX)
        rc = sl_error_set(err, SL_ELIMIT, "at most %d evaluator keys", EVAL_KEYS_MAX);
    if (rc)
        return rollback(db, rc);
    nk.name = name;
    nk.user_id = user_id;
    nk.key_id = k.id;
    nk.pub = k.pub;
    nk.vkey = canon;
    nk.added = sl__now();
    rc = sl_repo_eval_key_insert(db, &nk, &inserted, err);
    if (rc)
        return rollback(db, rc);
    if (!inserted)
        return rollback(db, sl_error_set(err, SL_ECONFLICT,
                                         "evaluator %s already has a key; keys are not replaced "
                                         "silently",
                                         name));
    {
        json_t *e = json_pack("{s:s, s:s, s:s}", "type", "evaluator.key_added", "evaluator", name,
                              "vkey", canon);
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    *canon_out = sl_arena_strdup(a, canon);
    return SL_OK;
}

enum sl_err sl__eval_keys_revoke(struct sl_registry *r, struct sl_db *db, const char *name,
                                 int64_t user_id, const char *why, int *count, struct sl_error *err)
{
    char names[16][SL_REPO_NAME_MAX + 1];
    int n = 0;
    enum sl_err rc;

    *count = 0;
    rc = sl_repo_eval_keys_live_names(db, name, user_id, names, 16, &n, err);
    if (rc)
        return rc;
    for (int i = 0; i < n && !rc; i++) {
        json_t *e;
        rc = sl_repo_eval_key_revoke(db, names[i], sl__now(), err);
        if (rc)
            break;
        /* what the key attested before stays as it was: its entries stand,
         * and this entry says from when its signature no longer counts */
        e = json_pack("{s:s, s:s, s:s}", "type", "evaluator.key_revoked", "evaluator", names[i],
                      "why", why);
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        *count = n;
    return rc;
}

enum sl_err sl_reg_eval_key_remove(struct sl_registry *r, const struct sl_principal *p,
                                   const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int count = 0;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (!p->admin)
        return sl_error_set(err, SL_EFORBIDDEN, "only an admin removes evaluator keys");
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl__eval_keys_revoke(r, db, name, 0, "removed by an admin", &count, err);
    if (!rc && count == 0)
        rc = sl_error_set(err, SL_ENOTFOUND, "evaluator %s has no live key", name);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    return SL_OK;
}

/* A list growing in the caller's arena (each growth copies; the old
 * array stays in the arena until it is released). */
struct arena_list {
    struct sl_arena *a;
    void *v;
    size_t n, cap, size;
};

static void *arena_list_add(struct arena_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        void *v = sl_arena_alloc(l->a, cap * l->size);
        if (l->n)
            memcpy(v, l->v, l->n * l->size);
        l->v = v;
        l->cap = cap;
    }
    return (char *)l->v + l->size * l->n++;
}

static const char *adup(struct sl_arena *a, const char *s)
{
    return s ? sl_arena_strdup(a, s) : NULL;
}

static int eval_key_add(void *ctx, const struct sl_eval_key_row *row)
{
    struct arena_list *l = ctx;
    struct sl_eval_key_info *k = arena_list_add(l);

    k->name = adup(l->a, row->name);
    k->vkey = adup(l->a, row->vkey);
    k->added = row->added;
    k->revoked = row->revoked;
    k->revoked_at = row->revoked_at;
    return 0;
}

enum sl_err sl_reg_eval_keys(struct sl_registry *r, struct sl_arena *a,
                             struct sl_eval_key_info **keys, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct arena_list l = {a, NULL, 0, 0, sizeof(struct sl_eval_key_info)};
    enum sl_err rc;

    *keys = NULL;
    *n = 0;
    if (!db)
        return err->code;
    rc = sl_repo_eval_keys(db, eval_key_add, &l, err);
    if (rc)
        return rc;
    *keys = l.v;
    *n = l.n;
    return SL_OK;
}

/* ---- attestations ---- */

struct key_list {
    struct sl_note_key *keys;
    int64_t *ids;
    size_t n, cap;
};

static int key_add(void *ctx, const struct sl_eval_key_row *row)
{
    struct key_list *l = ctx;
    struct sl_note_key *k;

    if (row->pub_len != 32)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->keys = sl_xrealloc(l->keys, l->cap * sizeof(*l->keys));
        l->ids = sl_xrealloc(l->ids, l->cap * sizeof(*l->ids));
    }
    k = &l->keys[l->n];
    memset(k, 0, sizeof(*k));
    snprintf(k->name, sizeof(k->name), "%s", row->name);
    memcpy(k->pub, row->pub, 32);
    k->id = sl_note_key_id(k->name, SL_NOTE_TYPE_ED25519, k->pub);
    l->ids[l->n] = row->id;
    l->n++;
    return 0;
}

static enum sl_err load_eval_keys(struct sl_db *db, struct sl_note_key **keys, int64_t **ids,
                                  size_t *n, struct sl_error *err)
{
    struct key_list l = {NULL, NULL, 0, 0};
    enum sl_err rc = sl_repo_eval_keys_live(db, key_add, &l, err);

    if (rc) {
        free(l.keys);
        free(l.ids);
        l.keys = NULL;
        l.ids = NULL;
        l.n = 0;
    }
    *keys = l.keys;
    *ids = l.ids;
    *n = l.n;
    return rc;
}

_Static_assert(sizeof(((struct sl_attest_result *)0)->method) > SL_GOV_METHOD_MAX,
               "an attestation's method fits the result");
_Static_assert(sizeof(((struct sl_attest_result *)0)->domain) >=
                   sizeof(((struct sl_attestation *)0)->domain),
               "an attestation's domain fits the result");

void sl_tier_result_release(struct sl_tier_result *res)
{
    json_decref(res->decision);
    json_decref(res->held_by);
    memset(res, 0, sizeof(*res));
}

void sl_attest_result_release(struct sl_attest_result *res)
{
    json_decref(res->decision);
    sl_gov_state_release(&res->state);
    memset(res, 0, sizeof(*res));
}

enum sl_err sl_reg_attest(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, const char *note,
                          size_t len, struct sl_attest_result *res, bool *created,
                          struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_note_key *keys = NULL;
    int64_t *ids = NULL, key_row = 0, existing, log_idx = -1;
    size_t nkeys = 0;
    struct sl_note opened;
    struct sl_attestation a;
    struct sl_gov_state state;
    json_t *decision = NULL;
    char sha[65], who[SL_PSEUDONYM_LEN + 1], digest[SL_TEXT_DIGEST_LEN + 1];
    const char *signer = NULL;
    bool found;
    enum sl_err rc;

    memset(res, 0, sizeof(*res));
    memset(&state, 0, sizeof(state));
    *created = false;
    memset(&opened, 0, sizeof(opened));
    if (!db)
        return err->code;
    rc = load_eval_keys(db, &keys, &ids, &nkeys, err);
    if (rc)
        return rc;
    if (nkeys == 0) {
        rc = sl_error_set(err, SL_EREFUSED,
                          "no evaluator keys are registered on this server (an admin adds them: "
                          "sluice eval key add NAME VKEY)");
        goto out;
    }
    rc = sl_note_open(note, len, keys, nkeys, &opened, err);
    if (rc) {
        sl_error_prefix(err, "attestation");
        if (err->code == SL_EREFUSED && err->kind && strcmp(err->kind, SL_NOTE_K_UNVERIFIED) == 0)
            sl_error_set(err, SL_EREFUSED,
                         "the attestation is not signed by a registered evaluator key");
        goto out;
    }
    for (size_t i = 0; i < opened.nsigs && !signer; i++) {
        if (!opened.sigs[i].verified)
            continue;
        for (size_t k = 0; k < nkeys; k++) {
            if (keys[k].id == opened.sigs[i].id && strcmp(keys[k].name, opened.sigs[i].name) == 0) {
                signer = keys[k].name;
                key_row = ids[k];
                break;
            }
        }
    }
    rc = sl_attestation_parse(opened.text, opened.text_len, &a, err);
    if (rc)
        goto out;
    if (strcmp(a.model, model) != 0) {
        rc = sl_error_set(err, SL_EREFUSED, "the attestation is for model %s, not %s", a.model,
                          model);
        goto out;
    }
    if (strcmp(a.commit, v->commit) != 0) {
        rc = sl_error_set(err, SL_EREFUSED,
                          "the attestation is for commit %.12s..., not this version's %.12s... "
                          "(version %lld)",
                          a.commit, v->commit, (long long)v->seq);
        goto out;
    }
    text_sha_hex(note, len, sha);
    rc = sl_repo_attestation_find(db, sha, &found, &existing, err);
    if (rc)
        goto out;
    rc = sl_db_begin(db, err);
    if (rc)
        goto out;
    if (!found) {
        struct sl_attestation_new na;
        na.version_id = v->version_id;
        na.key_id = key_row;
        na.domain = a.domain;
        na.level = a.level;
        na.method = a.method;
        na.date = a.date;
        na.note = note;
        na.note_len = len;
        na.note_sha256 = sha;
        na.created = sl__now();
        rc = sl_repo_attestation_insert(db, &na, err);
        if (rc)
            goto fail;
        sl__pseudonym(r, model, p->user_id, who);
        sl__text_digest(r, a.method, digest);
        {
            json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type",
                                  "attestation.attached", "model", model, "commit", v->commit,
                                  "evaluator", signer, "domain", a.domain, "level", a.level,
                                  "method_hmac", digest, "note_sha256", sha, "by", who);
            rc = sl__log_append(r, db, e, &log_idx, err);
            json_decref(e);
        }
        if (rc)
            goto fail;
    }
    rc = decide(r, db, v->version_id, sl_date_today(), &decision, err);
    if (!rc) {
        char why[200];
        snprintf(why, sizeof(why), "attestation by %s: %s %s", signer, a.domain, a.level);
        rc = apply(r, db, v->version_id, model, decision, why, &state, err);
    }
    if (!rc && log_idx >= 0) {
        /* the decision now rests on this entry */
        rc = sl_repo_version_log_idx_set(db, v->version_id, log_idx, err);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        goto fail;
    *created = !found;
    snprintf(res->domain, sizeof(res->domain), "%s", a.domain);
    snprintf(res->level, sizeof(res->level), "%s", a.level);
    snprintf(res->method, sizeof(res->method), "%s", a.method);
    snprintf(res->commit, sizeof(res->commit), "%s", a.commit);
    snprintf(res->evaluator, sizeof(res->evaluator), "%s", signer ? signer : "");
    res->decision = decision;
    res->state = state;
    decision = NULL;
    memset(&state, 0, sizeof(state));
    goto out;
fail:
    sl_db_rollback(db);
out:
    sl_gov_state_release(&state);
    json_decref(decision);
    sl_note_free(&opened);
    free(keys);
    free(ids);
    return rc;
}

static int attestation_add(void *ctx, const struct sl_attestation_row *row)
{
    struct arena_list *l = ctx;
    struct sl_attestation_info *x = arena_list_add(l);

    x->evaluator = adup(l->a, row->evaluator);
    x->domain = adup(l->a, row->domain);
    x->level = adup(l->a, row->level);
    x->method = adup(l->a, row->method);
    x->date = row->date;
    x->note = adup(l->a, row->note);
    return 0;
}

enum sl_err sl_reg_attestations(struct sl_registry *r, const struct sl_version_ref *v,
                                struct sl_arena *a, struct sl_attestation_info **list, size_t *n,
                                struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct arena_list l = {a, NULL, 0, 0, sizeof(struct sl_attestation_info)};
    enum sl_err rc;

    *list = NULL;
    *n = 0;
    if (!db)
        return err->code;
    rc = sl_repo_attestations(db, v->version_id, attestation_add, &l, err);
    if (rc)
        return rc;
    *list = l.v;
    *n = l.n;
    return SL_OK;
}

/* ---- obligations ---- */

static json_t *stored_decision(struct sl_db *db, int64_t version_id, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    char *text;
    bool found;
    json_t *d = NULL;

    if (sl_repo_version_decision_get(db, version_id, &a, &found, &text, err) != SL_OK) {
        sl_arena_release(&a);
        return NULL;
    }
    if (found && text)
        d = json_loads(text, 0, NULL);
    sl_arena_release(&a);
    if (!d)
        sl_error_set(err, SL_EINTERNAL, "the version's decision is unreadable");
    return d;
}

void sl_obligations_release(struct sl_obligations *o)
{
    json_decref(o->held_by);
    json_decref(o->obligations);
    memset(o, 0, sizeof(*o));
}

enum sl_err sl_reg_obligations(struct sl_registry *r, const struct sl_version_ref *v,
                               struct sl_obligations *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *d, *obl, *held = NULL;
    enum sl_tier floor;
    struct sl_version_state_row s;
    const char *min;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    rc = sl_db_begin_read(db, err);
    if (rc)
        return rc;
    d = stored_decision(db, v->version_id, err);
    if (!d || sl_repo_version_state(db, v->version_id, &s, err)) {
        json_decref(d);
        sl_db_rollback(db);
        return err->code;
    }
    obl = sl__obligations_status(db, v->version_id, d, &floor, &held, err);
    sl_db_rollback(db);
    if (!obl) {
        json_decref(d);
        return err->code;
    }
    min = json_string_value(json_object_get(d, "min_tier"));
    out->version = s.seq;
    snprintf(out->commit, sizeof(out->commit), "%s", s.commit);
    snprintf(out->tier, sizeof(out->tier), "%s", s.tier);
    snprintf(out->min_tier, sizeof(out->min_tier), "%s", min ? min : "");
    snprintf(out->floor_tier, sizeof(out->floor_tier), "%s", sl_tier_name(floor));
    out->held_by = held;
    out->obligations = obl;
    json_decref(d);
    return SL_OK;
}

static bool evidence_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > EVIDENCE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

enum sl_err sl_reg_obligation_satisfy(struct sl_registry *r, const struct sl_principal *p,
                                      const struct sl_version_ref *v, const char *model,
                                      const char *id, const char *evidence,
                                      struct sl_gov_state *state, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *d = NULL, *o = NULL, *e;
    bool inserted;
    size_t i;
    char who[SL_PSEUDONYM_LEN + 1], digest[SL_TEXT_DIGEST_LEN + 1];
    enum sl_err rc;

    memset(state, 0, sizeof(*state));
    if (!db)
        return err->code;
    if (!evidence || !evidence_ok(evidence))
        return sl_error_set(err, SL_EINPUT,
                            "the evidence must be 1 to %d bytes of text (newlines and tabs "
                            "allowed, no other control characters)",
                            EVIDENCE_MAX);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    d = stored_decision(db, v->version_id, err);
    if (!d)
        return rollback(db, err->code);
    json_array_foreach(json_object_get(d, "obligations"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            o = e;
    }
    if (!o) {
        rc = sl_error_set(err, SL_ENOTFOUND,
                          "%s version %lld has no obligation %s (sluice obligations %s@%lld)",
                          model, (long long)v->seq, id, model, (long long)v->seq);
        goto fail;
    }
    if (json_is_array(json_object_get(o, "requires_evaluations"))) {
        rc = sl_error_set(err, SL_ECONFLICT,
                          "obligation %s is satisfied by signed attestations only, not by "
                          "evidence text: attach them with sluice eval attach %s@%s FILE",
                          id, model, v->commit);
        goto fail;
    }
    rc = sl_repo_evidence_insert(db, v->version_id, id, evidence, p->user_id, sl__now(), &inserted,
                                 err);
    if (rc)
        goto fail;
    if (!inserted) {
        rc =
            sl_error_set(err, SL_ECONFLICT, "obligation %s of %s version %lld is satisfied already",
                         id, model, (long long)v->seq);
        goto fail;
    }
    sl__pseudonym(r, model, p->user_id, who);
    /* evidence is a document meant to be checked by whoever holds it: its
     * plain SHA-256 is public (docs/log.md) */
    sl__public_digest(evidence, digest);
    e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "obligation.satisfied", "model", model,
                  "commit", v->commit, "obligation", id, "evidence_sha256", digest, "by", who);
    rc = sl__log_append(r, db, e, NULL, err);
    json_decref(e);
    if (!rc)
        rc = apply(r, db, v->version_id, model, d, "obligation satisfied", state, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        goto fail;
    json_decref(d);
    return SL_OK;
fail:
    sl_gov_state_release(state);
    json_decref(d);
    return rollback(db, rc);
}

/* ---- tiers and staged release ---- */

enum sl_err sl_reg_tier_set(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *model, const char *tier,
                            struct sl_tier_result *res, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *decision = NULL, *obl = NULL, *held = NULL;
    struct sl_gov_state state;
    enum sl_tier want, floor;
    struct sl_version_state_row s;
    enum sl_err rc;

    memset(res, 0, sizeof(*res));
    memset(&state, 0, sizeof(state));
    if (!db)
        return err->code;
    if (!sl_tier_parse(tier, &want))
        return sl_error_set(err, SL_EINPUT,
                            "tier \"%.20s\" is not open, click, gated, hosted or withheld", tier);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = decide(r, db, v->version_id, sl_date_today(), &decision, err);
    if (!rc)
        rc = sl_repo_version_state(db, v->version_id, &s, err);
    if (!rc) {
        obl = sl__obligations_status(db, v->version_id, decision, &floor, &held, err);
        if (!obl)
            rc = err->code;
    }
    if (!rc && want < floor) {
        rc = sl__refusal(decision, held, tier, err);
        res->refused = true;
        res->decision = json_incref(decision);
        res->held_by = json_incref(held);
        snprintf(res->floor_tier, sizeof(res->floor_tier), "%s", sl_tier_name(floor));
    }
    if (!rc)
        rc = apply(r, db, v->version_id, model, decision, "tier set", &state, err);
    if (!rc && strcmp(state.tier, tier) != 0) {
        rc = sl_repo_version_state(db, v->version_id, &s, err);
        if (!rc)
            rc = set_tier(r, db, v->version_id, model, &s, tier, "set by a publisher", p->user_id,
                          err);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        sl_db_rollback(db);
    } else {
        const char *min = json_string_value(json_object_get(decision, "min_tier"));
        res->version = s.seq;
        snprintf(res->commit, sizeof(res->commit), "%s", s.commit);
        snprintf(res->tier, sizeof(res->tier), "%s", tier);
        snprintf(res->floor_tier, sizeof(res->floor_tier), "%s", sl_tier_name(floor));
        snprintf(res->min_tier, sizeof(res->min_tier), "%s", min ? min : "");
        snprintf(res->old_tier, sizeof(res->old_tier), "%s", state.old_tier);
    }
    json_decref(obl);
    json_decref(held);
    sl_gov_state_release(&state);
    json_decref(decision);
    return rc;
}

enum sl_err sl_reg_schedule_add(struct sl_registry *r, const struct sl_principal *p,
                                const struct sl_version_ref *v, const char *model, const char *tier,
                                int64_t at, struct sl_schedule_step *step, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    enum sl_tier t;
    int64_t pending = 0, id = 0;
    char when[21];
    enum sl_err rc;

    memset(step, 0, sizeof(*step));
    if (!db)
        return err->code;
    if (!sl_tier_parse(tier, &t))
        return sl_error_set(err, SL_EINPUT,
                            "tier \"%.20s\" is not open, click, gated, hosted or withheld", tier);
    if (at <= sl__now())
        return sl_error_set(err, SL_EINPUT, "the step's time must be in the future");
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_schedule_pending_count(db, v->model_id, &pending, err);
    if (!rc && pending >= 100)
        rc = sl_error_set(err, SL_ELIMIT, "at most 100 pending steps per model");
    if (rc)
        return rollback(db, rc);
    rc = sl_repo_schedule_insert(db, v->version_id, tier, at, sl__now(), p->user_id, &id, err);
    if (!rc) {
        char who[SL_PSEUDONYM_LEN + 1];
        json_t *e;
        sl__pseudonym(r, model, p->user_id, who);
        e = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "type", "schedule.added", "step",
                      (json_int_t)id, "model", model, "commit", v->commit, "tier", tier, "at",
                      sl_gov_time(at, when), "by", who);
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    step->id = id;
    step->version = v->seq;
    snprintf(step->commit, sizeof(step->commit), "%s", v->commit);
    snprintf(step->tier, sizeof(step->tier), "%s", tier);
    step->at = at;
    snprintf(step->status, sizeof(step->status), "pending");
    return SL_OK;
}

static int step_add(void *ctx, const struct sl_schedule_row *row)
{
    struct arena_list *l = ctx;
    struct sl_schedule_step *x = arena_list_add(l);

    x->id = row->id;
    x->version = row->version;
    snprintf(x->commit, sizeof(x->commit), "%s", row->commit ? row->commit : "");
    snprintf(x->tier, sizeof(x->tier), "%s", row->tier ? row->tier : "");
    x->at = row->at;
    snprintf(x->status, sizeof(x->status), "%s", row->status ? row->status : "");
    x->reason = adup(l->a, row->reason);
    x->has_done = row->has_done;
    x->done = row->done;
    return 0;
}

enum sl_err sl_reg_schedule(struct sl_registry *r, int64_t model_id, struct sl_arena *a,
                            struct sl_schedule_step **steps, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct arena_list l = {a, NULL, 0, 0, sizeof(struct sl_schedule_step)};
    enum sl_err rc;

    *steps = NULL;
    *n = 0;
    if (!db)
        return err->code;
    rc = sl_repo_schedule(db, model_id, step_add, &l, err);
    if (rc)
        return rc;
    *steps = l.v;
    *n = l.n;
    return SL_OK;
}

/* Runs one due step inside its own transaction. */
static enum sl_err run_step(struct sl_registry *r, struct sl_db *db, int64_t id, int64_t version_id,
                            const char *tier, int64_t at, const char *model, bool *changed,
                            struct sl_error *err)
{
    json_t *decision = NULL, *obl = NULL, *held = NULL;
    struct sl_gov_state state;
    enum sl_tier want = SL_TIER_WITHHELD, floor = SL_TIER_WITHHELD;
    struct sl_error why;
    struct sl_version_state_row s;
    const char *status = "done";
    char reason[600] = "", when[21];
    enum sl_err rc = sl_db_begin(db, err);
    bool pending = false;

    memset(&state, 0, sizeof(state));
    if (rc)
        return rc;
    /* Still pending? Another server sharing the database may have run the
     * step since it was read (outside this transaction). */
    rc = sl_repo_schedule_step_pending(db, id, &pending, err);
    if (rc || !pending) {
        sl_db_rollback(db);
        return rc;
    }
    sl_tier_parse(tier, &want);
    /* the policy in force on the step's day */
    rc = decide(r, db, version_id, (int32_t)(at / 86400), &decision, err);
    if (!rc) {
        obl = sl__obligations_status(db, version_id, decision, &floor, &held, err);
        if (!obl)
            rc = err->code;
    }
    if (!rc)
        rc = apply(r, db, version_id, model, decision, "scheduled step re-decided", &state, err);
    if (!rc && want < floor) {
        sl_error_clear(&why);
        sl__refusal(decision, held, tier, &why);
        status = "refused";
        snprintf(reason, sizeof(reason), "%s", why.msg);
    } else if (!rc && strcmp(state.tier, tier) != 0) {
        char msg[80];
        snprintf(msg, sizeof(msg), "scheduled step %lld", (long long)id);
        rc = sl_repo_version_state(db, version_id, &s, err);
        if (!rc)
            rc = set_tier(r, db, version_id, model, &s, tier, msg, 0, err);
    }
    if (!rc && state.moved)
        *changed = true;
    if (!rc && strcmp(status, "done") == 0)
        *changed = true;
    if (!rc)
        rc =
            sl_repo_schedule_step_finish(db, id, status, reason[0] ? reason : NULL, sl__now(), err);
    if (!rc) {
        json_t *e = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "type", "schedule.step", "step",
                              (json_int_t)id, "model", model, "tier", tier, "at",
                              sl_gov_time(at, when), "status", status);
        if (reason[0])
            json_object_set_new(e, "reason", json_string(reason));
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    json_decref(obl);
    json_decref(held);
    sl_gov_state_release(&state);
    json_decref(decision);
    return rc;
}

enum sl_err sl_reg_tick(struct sl_registry *r, bool *changed, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int expired = 0;
    enum sl_err rc;

    *changed = false;
    if (!db)
        return err->code;
    for (int round = 0; round < 100; round++) {
        struct sl_schedule_due_row d;
        bool found;
        rc = sl_repo_schedule_next_due(db, sl__now(), &found, &d, err);
        if (rc)
            return rc;
        if (!found)
            break;
        rc = run_step(r, db, d.id, d.version_id, d.tier, d.at, d.model, changed, err);
        if (rc)
            return rc;
    }
    rc = sl_reg_expire_grants(r, &expired, err);
    return rc;
}
