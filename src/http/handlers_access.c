/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The governance endpoints (docs/access.md): license terms and acceptance,
 * access requests and decisions, auto-approval rules, licenses and the
 * revocation list, evaluator keys and attestations, obligations, tier
 * changes and staged release. The router checked who may call each one.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/util.h"
#include "http/render_access.h"
#include "http/render_govern.h"
#include "tlog/govdoc.h"
#include "tlog/note.h"
#include "common/banned.h"

static const char *query(struct sl_req *q, const char *key)
{
    return sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* The JSON object body, or an empty object when `optional` and there is no
 * body; NULL after answering 400. */
static json_t *object_body(struct sl_req *q, bool optional)
{
    json_error_t je;
    json_t *v;

    if (q->body.len == 0) {
        if (optional)
            return json_object();
        sl_reply_status(q, 400, "bad_request", "this request needs a JSON body");
        return NULL;
    }
    v = json_loadb(q->body.data, q->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        sl_reply_status(q, 400, "bad_request", "malformed JSON at byte %d: %s", je.position,
                        je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        sl_reply_status(q, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Refuses keys other than `keys` and non-string values for `strings`. */
static bool keys_ok(struct sl_req *q, json_t *body, const char *const *keys)
{
    const char *k;
    json_t *v;

    json_object_foreach(body, k, v)
    {
        bool known = false;
        for (const char *const *p = keys; *p; p++)
            known |= strcmp(*p, k) == 0;
        if (!known) {
            sl_reply_status(q, 400, "bad_request", "unknown key \"%.40s\" in the body", k);
            return false;
        }
    }
    return true;
}

/* A string member (or NULL when absent); false after answering 400 when it
 * is there but not a string. */
static bool str_member(struct sl_req *q, json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        sl_reply_status(q, 400, "bad_request", "\"%s\" must be a string without NUL", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static void model_name(struct sl_req *q, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", q->org, q->name);
}

/* Resolves `rev` (default main) into q->v; false after answering. */
static bool resolve(struct sl_req *q, const char *rev)
{
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_reg_resolve(q->srv->r, q->org, q->name, rev ? rev : "main", &q->v, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return false;
    }
    return true;
}

/* Answers `result` with `status`, or the error (with `result` attached as
 * the body's extra members when there is one). */
static void finish(struct sl_req *q, enum sl_err rc, unsigned status, json_t *result,
                   const struct sl_error *err)
{
    if (rc == SL_OK) {
        sl_reply_json(q, status, result);
        return;
    }
    if (result) {
        unsigned st = rc == SL_EREFUSED ? 422 : 400;
        json_object_set_new(result, "error",
                            json_string(st == 422 ? "unprocessable" : "bad_request"));
        json_object_set_new(result, "message", json_string(err->msg));
        if (rc == SL_EREFUSED) {
            sl_reply_json(q, 422, result);
            return;
        }
        json_decref(result);
    }
    sl_reply_error(q, err);
}

void sl_h_terms(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_terms t;
    struct sl_error err;
    char model[2 * SL_NAME_MAX + 2];

    if (!resolve(q, query(q, "rev")))
        return;
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    if (sl_reg_terms(q->srv->r, &q->who, &q->v, &a, &t, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_terms(model, &q->v, &t));
    sl_arena_release(&a);
}

/* Answers a request's typed result (rendered) or the error. */
static void finish_request(struct sl_req *q, enum sl_err rc, unsigned status, const char *model,
                           const struct sl_reg_request *r, const struct sl_error *err)
{
    finish(q, rc, status, rc == SL_OK ? sl_render_request(model, r) : NULL, err);
}

void sl_h_accept(struct sl_req *q)
{
    static const char *const keys[] = {"rev", "license_sha256", NULL};
    json_t *body = object_body(q, true);
    struct sl_reg_acceptance acc;
    const char *rev, *sha;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "rev", &rev) ||
        !str_member(q, body, "license_sha256", &sha) || !resolve(q, rev)) {
        json_decref(body);
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_accept(q->srv->r, &q->who, &q->v, model, sha, &acc, &err);
    json_decref(body);
    finish(q, rc, 200, rc == SL_OK ? sl_render_acceptance(model, &q->v, &acc) : NULL, &err);
}

void sl_h_access_request(struct sl_req *q)
{
    static const char *const keys[] = {"purpose", "fields", NULL};
    json_t *body = object_body(q, false);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request r;
    const char *purpose;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    bool created = false;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "purpose", &purpose)) {
        json_decref(body);
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_request(q->srv->r, &q->who, q->org_id, q->model_id, model, purpose,
                               json_object_get(body, "fields"), &a, &r, &created, &err);
    json_decref(body);
    finish_request(q, rc, created ? 201 : 200, model, &r, &err);
    sl_arena_release(&a);
}

void sl_h_access_me(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request r;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_me(q->srv->r, &q->who, q->model_id, model, &a, &r, &err);
    finish_request(q, rc, 200, model, &r, &err);
    sl_arena_release(&a);
}

void sl_h_access_appeal(struct sl_req *q)
{
    static const char *const keys[] = {"text", NULL};
    json_t *body = object_body(q, false);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request r;
    const char *text;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "text", &text)) {
        json_decref(body);
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_appeal(q->srv->r, &q->who, q->model_id, model, text, &a, &r, &err);
    json_decref(body);
    finish_request(q, rc, 200, model, &r, &err);
    sl_arena_release(&a);
}

void sl_h_access_list(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request *rows;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    size_t n;
    enum sl_err rc;

    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_list(q->srv->r, q->model_id, query(q, "status"), &a, &rows, &n, &err);
    finish(q, rc, 200, rc == SL_OK ? sl_render_requests(model, rows, n) : NULL, &err);
    sl_arena_release(&a);
}

static void decide(struct sl_req *q, enum sl_access_action action)
{
    static const char *const approve_keys[] = {"expires", NULL};
    static const char *const reason_keys[] = {"reason", NULL};
    json_t *body = object_body(q, action == SL_ACCESS_APPROVE);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request r;
    const char *reason = NULL, *expires = NULL;
    char model[2 * SL_NAME_MAX + 2];
    int64_t exp = 0;
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, action == SL_ACCESS_APPROVE ? approve_keys : reason_keys) ||
        !str_member(q, body, "reason", &reason) || !str_member(q, body, "expires", &expires)) {
        json_decref(body);
        return;
    }
    if (expires && !sl_gov_parse_time(expires, &exp)) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request",
                        "\"expires\" must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_decide(q->srv->r, &q->who, q->org_id, q->model_id, model, q->sub, action,
                              reason, exp, &a, &r, &err);
    json_decref(body);
    finish_request(q, rc, 200, model, &r, &err);
    sl_arena_release(&a);
}

void sl_h_access_approve(struct sl_req *q)
{
    decide(q, SL_ACCESS_APPROVE);
}

void sl_h_access_deny(struct sl_req *q)
{
    decide(q, SL_ACCESS_DENY);
}

void sl_h_access_revoke(struct sl_req *q)
{
    decide(q, SL_ACCESS_REVOKE);
}

void sl_h_access_rules(struct sl_req *q)
{
    json_t *result = NULL;
    struct sl_error err;
    enum sl_err rc;

    sl_error_clear(&err);
    rc = sl_reg_access_rules(q->srv->r, q->model_id, &result, &err);
    finish(q, rc, 200, result, &err);
}

void sl_h_access_rules_set(struct sl_req *q)
{
    json_t *body = object_body(q, false), *result = NULL;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_access_rules_set(q->srv->r, &q->who, q->model_id, model, body, &result, &err);
    json_decref(body);
    finish(q, rc, 200, result, &err);
}

/* True when the client asked for JSON (Accept: application/json). */
static bool wants_json(struct sl_req *q)
{
    const char *a = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept");
    return a && strstr(a, "application/json") != NULL;
}

void sl_h_license(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], *note = NULL, *proof = NULL;
    struct sl_error err;
    int64_t idx = -1;

    if (!resolve(q, query(q, "rev")))
        return;
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    if (sl_reg_license(q->srv->r, &q->who, &q->v, model, &note, &idx, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    if (!wants_json(q)) {
        sl_reply_text(q, 200, note);
        return;
    }
    /* with the offline proof that its issuance is in the log */
    if (sl_reg_log_proof(q->srv->r, idx, &proof, &err) != SL_OK) {
        free(note);
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:I, s:s}", "license", note, "log_index", (json_int_t)idx,
                            "log_proof", proof));
    free(note);
    free(proof);
}

void sl_h_revocations(struct sl_req *q)
{
    char *note = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_reg_revocations(q->srv->r, &note, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_text(q, 200, note);
}

void sl_h_log_key(struct sl_req *q)
{
    char vkey[SL_NOTE_VKEY_MAX + 2];
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_reg_vkey(q->srv->r, vkey, sizeof(vkey) - 1, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_text(q, 200, sl_xasprintf("%s\n", vkey));
}

void sl_h_eval_keys(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_eval_key_info *keys;
    struct sl_error err;
    size_t n;

    sl_error_clear(&err);
    if (sl_reg_eval_keys(q->srv->r, &a, &keys, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_eval_keys(keys, n));
    sl_arena_release(&a);
}

void sl_h_eval_key_add(struct sl_req *q)
{
    static const char *const keys[] = {"name", "vkey", NULL};
    json_t *body = object_body(q, false);
    struct sl_arena a = SL_ARENA_INIT;
    const char *name, *vkey, *canon = NULL;
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "name", &name) ||
        !str_member(q, body, "vkey", &vkey)) {
        json_decref(body);
        return;
    }
    if (!name || !vkey) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request", "the body needs \"name\" and \"vkey\"");
        return;
    }
    sl_error_clear(&err);
    rc = sl_reg_eval_key_add(q->srv->r, &q->who, name, vkey, &a, &canon, &err);
    finish(q, rc, 201, rc ? NULL : sl_render_eval_key_added(name, canon), &err);
    json_decref(body);
    sl_arena_release(&a);
}

void sl_h_eval_key_remove(struct sl_req *q)
{
    struct sl_error err;
    enum sl_err rc;

    sl_error_clear(&err);
    rc = sl_reg_eval_key_remove(q->srv->r, &q->who, q->sub, &err);
    finish(q, rc, 200, rc ? NULL : sl_render_eval_key_removed(q->sub), &err);
}

void sl_h_org_members(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_member_row *rows;
    struct sl_error err;
    size_t n;

    sl_error_clear(&err);
    if (sl_reg_org_members(q->srv->r, q->org_id, &a, &rows, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_org_members(rows, n));
    sl_arena_release(&a);
}

void sl_h_org_member_set(struct sl_req *q)
{
    static const char *const keys[] = {"role", NULL};
    json_t *body = object_body(q, false);
    const char *role = NULL;
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "role", &role)) {
        json_decref(body);
        return;
    }
    sl_error_clear(&err);
    rc = sl_reg_member_add(q->srv->r, q->org, q->sub, role ? role : "member", &err);
    finish(q, rc, 200,
           rc ? NULL
              : json_pack("{s:s, s:s, s:s}", "org", q->org, "user", q->sub, "role",
                          role ? role : "member"),
           &err);
    json_decref(body);
}

void sl_h_org_member_remove(struct sl_req *q)
{
    struct sl_error err;
    enum sl_err rc;

    sl_error_clear(&err);
    rc = sl_reg_member_remove(q->srv->r, q->org, q->sub, &err);
    finish(q, rc, 200, rc ? NULL : json_pack("{s:s, s:s}", "org", q->org, "removed", q->sub), &err);
}

void sl_h_attest(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_attest_result res;
    struct sl_error err;
    bool created = false;
    enum sl_err rc;

    if (q->body.len == 0) {
        sl_reply_status(q, 400, "bad_request", "the body must be the signed attestation");
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_attest(q->srv->r, &q->who, &q->v, model, q->body.data, q->body.len, &res, &created,
                       &err);
    if (rc == SL_OK)
        sl_hub_changed(q->srv);
    finish(q, rc, created ? 201 : 200, rc ? NULL : sl_render_attested(&res), &err);
    if (rc == SL_OK)
        sl_attest_result_release(&res);
}

void sl_h_attestations(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_attestation_info *list;
    struct sl_error err;
    size_t n;

    sl_error_clear(&err);
    if (sl_reg_attestations(q->srv->r, &q->v, &a, &list, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_attestations(list, n));
    sl_arena_release(&a);
}

void sl_h_obligations(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_obligations o;
    struct sl_error err;

    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    if (sl_reg_obligations(q->srv->r, &q->v, &o, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, sl_render_obligations(model, &o));
    sl_obligations_release(&o);
}

void sl_h_satisfy(struct sl_req *q)
{
    static const char *const keys[] = {"evidence", NULL};
    json_t *body = object_body(q, false);
    struct sl_gov_state state;
    const char *evidence;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "evidence", &evidence)) {
        json_decref(body);
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc =
        sl_reg_obligation_satisfy(q->srv->r, &q->who, &q->v, model, q->sub, evidence, &state, &err);
    json_decref(body);
    if (rc == SL_OK)
        sl_hub_changed(q->srv);
    finish(q, rc, 200, rc ? NULL : sl_render_obligation_satisfied(model, q->v.seq, q->sub, &state),
           &err);
    if (rc == SL_OK)
        sl_gov_state_release(&state);
}

void sl_h_tier_set(struct sl_req *q)
{
    static const char *const keys[] = {"tier", "rev", NULL};
    json_t *body = object_body(q, false);
    struct sl_tier_result res;
    const char *tier, *rev;
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "tier", &tier) ||
        !str_member(q, body, "rev", &rev) || !resolve(q, rev)) {
        json_decref(body);
        return;
    }
    if (!tier) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request", "the body needs \"tier\"");
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_tier_set(q->srv->r, &q->who, &q->v, model, tier, &res, &err);
    json_decref(body);
    sl_hub_changed(q->srv);
    finish(q, rc, 200, rc == SL_OK || res.refused ? sl_render_tier_set(model, &res) : NULL, &err);
    sl_tier_result_release(&res);
}

void sl_h_schedule(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_schedule_step *steps;
    struct sl_error err;
    size_t n;

    sl_error_clear(&err);
    if (sl_reg_schedule(q->srv->r, q->model_id, &a, &steps, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_schedule(steps, n));
    sl_arena_release(&a);
}

void sl_h_schedule_add(struct sl_req *q)
{
    static const char *const keys[] = {"tier", "at", "rev", NULL};
    json_t *body = object_body(q, false);
    struct sl_schedule_step step;
    const char *tier, *at, *rev;
    char model[2 * SL_NAME_MAX + 2];
    int64_t when = 0;
    struct sl_error err;
    enum sl_err rc;

    if (!body)
        return;
    if (!keys_ok(q, body, keys) || !str_member(q, body, "tier", &tier) ||
        !str_member(q, body, "at", &at) || !str_member(q, body, "rev", &rev) || !resolve(q, rev)) {
        json_decref(body);
        return;
    }
    if (!tier || !at || !sl_gov_parse_time(at, &when)) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request",
                        "the body needs \"tier\" and \"at\" (YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM:SSZ)");
        return;
    }
    model_name(q, model, sizeof(model));
    sl_error_clear(&err);
    rc = sl_reg_schedule_add(q->srv->r, &q->who, &q->v, model, tier, when, &step, &err);
    json_decref(body);
    finish(q, rc, 201, rc ? NULL : sl_render_schedule_added(&step), &err);
}
