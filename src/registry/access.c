/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who gets the weights (docs/access.md): the download rule, click-through
 * acceptances, gated access requests and their decisions, auto-approval
 * rules, licenses as signed notes and the signed revocation list. Every
 * change runs in one transaction together with its log entry.
 */
#include "registry/registry_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonout.h"
#include "common/util.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

#define DEFAULT_LICENSE                                                                            \
    "No license text was given; by accepting you agree to use the weights only as the "            \
    "publisher's model card describes.\n"
#define FIELDS_MAX      16
#define FIELD_VALUE_MAX 500
#define RULE_LIST_MAX   32
#define REASON_MAX      2000

/* ---- small helpers ---- */

static json_t *time_json(int64_t t)
{
    char buf[21];

    return t > 0 ? json_string(sl_gov_time(t, buf)) : json_null();
}

static json_t *col_text_json(struct sl_stmt *st, int col)
{
    const char *s = sl_stmt_col_text(st, col);
    return s ? json_string(s) : json_null();
}

static enum sl_err rollback(struct sl_db *db, enum sl_err rc)
{
    sl_db_rollback(db);
    return rc;
}

/* The license text of a version (the default when none was given). */
static char *version_license(struct sl_db *db, int64_t version_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT license FROM versions WHERE id = ?", err);
    char *text = NULL;

    if (!st)
        return NULL;
    sl_stmt_int(st, 1, version_id);
    if (sl_stmt_step(st, err) == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        text = sl_xstrdup(s ? s : DEFAULT_LICENSE);
    }
    sl_stmt_done(st);
    if (!text)
        sl_error_set(err, SL_ENOTFOUND, "no such version");
    return text;
}

static void text_sha(const char *s, char hex[65])
{
    unsigned char h[32];

    sl_sha256(s, strlen(s), h);
    sl_hex(h, 32, hex);
}

static bool accepted(struct sl_db *db, int64_t user_id, int64_t model_id, const char *sha)
{
    struct sl_error err;
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT 1 FROM acceptances WHERE user_id = ? AND model_id = ? "
                                    "AND license_sha256 = ?",
                                    &err);
    bool ok;

    if (!st)
        return false;
    sl_stmt_int(st, 1, user_id);
    sl_stmt_int(st, 2, model_id);
    sl_stmt_text(st, 3, sha);
    ok = sl_stmt_step(st, &err) == 1;
    sl_stmt_done(st);
    return ok;
}

/* The state of `user`'s request for a model. */
struct grant {
    bool found;
    int64_t id, grant_seq, expires, denials;
    char status[16];
    char reason[REASON_MAX + 1];
    char purpose[SL_GOV_PURPOSE_MAX + 1];
    bool appealed;
    bool no_auto; /* revoked or finally denied once: manual review from then on */
};

static enum sl_err grant_get(struct sl_db *db, int64_t model_id, int64_t user_id, struct grant *g,
                             struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT id, status, expires, reason, grant_seq, purpose, "
                   "denials, appeal IS NOT NULL, no_auto FROM access_requests WHERE "
                   "model_id = ? AND user_id = ?",
                   err);
    int row;

    memset(g, 0, sizeof(*g));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        g->found = true;
        g->id = sl_stmt_col_int(st, 0);
        snprintf(g->status, sizeof(g->status), "%s", sl_stmt_col_text(st, 1));
        g->expires = sl_stmt_col_null(st, 2) ? 0 : sl_stmt_col_int(st, 2);
        snprintf(g->reason, sizeof(g->reason), "%s",
                 sl_stmt_col_text(st, 3) ? sl_stmt_col_text(st, 3) : "");
        g->grant_seq = sl_stmt_col_int(st, 4);
        snprintf(g->purpose, sizeof(g->purpose), "%s", sl_stmt_col_text(st, 5));
        g->denials = sl_stmt_col_int(st, 6);
        g->appealed = sl_stmt_col_int(st, 7) != 0;
        g->no_auto = sl_stmt_col_int(st, 8) != 0;
        /* an approval past its expiry is expired from that second on */
        if (strcmp(g->status, "approved") == 0 && g->expires && g->expires <= sl__now())
            snprintf(g->status, sizeof(g->status), "expired");
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

static bool grant_live(const struct grant *g)
{
    return g->found && strcmp(g->status, "approved") == 0;
}

bool sl_reg_is_evaluator(struct sl_registry *r, const struct sl_principal *p)
{
    struct sl_error err;
    struct sl_db *db;
    struct sl_stmt *st;
    bool ok;

    if (p->user_id == 0)
        return false;
    db = sl_reg_db(r, &err);
    if (!db)
        return false;
    st = sl_db_stmt(db, "SELECT 1 FROM eval_keys WHERE user_id = ? AND revoked IS NULL", &err);
    if (!st)
        return false;
    sl_stmt_int(st, 1, p->user_id);
    ok = sl_stmt_step(st, &err) == 1;
    sl_stmt_done(st);
    return ok;
}

bool sl_reg_may_list(struct sl_registry *r, const struct sl_principal *p,
                     const struct sl_version_ref *v)
{
    if (strcmp(v->tier, "withheld") != 0)
        return true;
    return p->user_id != 0 && (sl_reg_is_insider(r, p, v->org_id) || sl_reg_is_evaluator(r, p));
}

/* ---- the download rule ---- */

/* Explains a refused gated download from the caller's request state. */
static enum sl_err gated_refusal(const struct grant *g, const struct sl_version_ref *v,
                                 const char *model, char *hint, size_t hintlen,
                                 struct sl_error *err)
{
    char when[21];

    if (!g->found) {
        snprintf(hint, hintlen,
                 "request access: sluice access request %s --purpose TEXT; download once approved",
                 model);
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier gated: its files are for accounts with an "
                            "approved grant, and you have not requested one",
                            model, (long long)v->seq);
    }
    snprintf(hint, hintlen, "see your request: sluice access status %s", model);
    if (strcmp(g->status, "pending") == 0)
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier gated: your access request is pending",
                            model, (long long)v->seq);
    if (strcmp(g->status, "denied") == 0) {
        if (!g->appealed)
            snprintf(hint, hintlen, "you may appeal once: sluice access appeal %s --text TEXT",
                     model);
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier gated: your access request was denied: %s",
                            model, (long long)v->seq, g->reason);
    }
    if (strcmp(g->status, "revoked") == 0)
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier gated: your grant was revoked: %s", model,
                            (long long)v->seq, g->reason);
    snprintf(hint, hintlen, "request access again: sluice access request %s --purpose TEXT", model);
    return sl_error_set(err, SL_EFORBIDDEN,
                        "%s version %lld is in tier gated: your grant expired on %s", model,
                        (long long)v->seq, g->expires ? sl_gov_time(g->expires, when) : "?");
}

enum sl_err sl_reg_may_download(struct sl_registry *r, const struct sl_principal *p,
                                const struct sl_version_ref *v, const char *model, char *hint,
                                size_t hintlen, struct sl_error *err)
{
    struct sl_db *db;
    struct grant g;
    enum sl_err rc;

    hint[0] = '\0';
    if (strcmp(v->tier, "open") == 0)
        return SL_OK;
    if (p->user_id == 0) {
        snprintf(hint, hintlen, "sign in first: sluice login URL --token TOKEN");
        return sl_error_set(err, SL_EAUTH,
                            "%s version %lld is in tier %s: sign in to see what access you have",
                            model, (long long)v->seq, v->tier);
    }
    /* hosted and withheld weights: the org's admins and publishers only;
     * a plain member reaches the tiers below */
    if (strcmp(v->tier, "hosted") == 0 || strcmp(v->tier, "withheld") == 0
            ? sl_reg_is_insider(r, p, v->org_id)
            : sl_reg_is_member(r, p, v->org_id))
        return SL_OK;
    if (strcmp(v->tier, "withheld") == 0) {
        if (sl_reg_is_evaluator(r, p))
            return SL_OK;
        snprintf(hint, hintlen,
                 "the weights are not released; the decision says why: GET "
                 "/api/v1/models/%s/versions/%lld/decision",
                 model, (long long)v->seq);
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier withheld: its weights are not released "
                            "outside the publishing org and registered evaluators",
                            model, (long long)v->seq);
    }
    if (strcmp(v->tier, "hosted") == 0) {
        snprintf(hint, hintlen,
                 "the weights are not downloadable; ask the publisher about inference access");
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier hosted: its weights are offered for "
                            "inference only, to nobody for download, grant holders included",
                            model, (long long)v->seq);
    }
    db = sl_reg_db(r, err);
    if (!db)
        return err->code;
    rc = grant_get(db, v->model_id, p->user_id, &g, err);
    if (rc)
        return rc;
    if (grant_live(&g))
        return SL_OK;
    if (strcmp(v->tier, "click") == 0) {
        char *text = version_license(db, v->version_id, err), sha[65];
        bool ok;
        if (!text)
            return err->code;
        text_sha(text, sha);
        free(text);
        ok = accepted(db, p->user_id, v->model_id, sha);
        if (ok)
            return SL_OK;
        snprintf(hint, hintlen, "accept the license: sluice accept %s", model);
        return sl_error_set(err, SL_EFORBIDDEN,
                            "%s version %lld is in tier click: accept its license first (license "
                            "sha256 %.12s...)",
                            model, (long long)v->seq, sha);
    }
    return gated_refusal(&g, v, model, hint, hintlen, err);
}

/* ---- click-through ---- */

json_t *sl_reg_terms_json(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    char sha[65];
    const char *given = NULL;
    json_t *out = NULL;

    if (!db)
        return NULL;
    st = sl_db_stmt(db, "SELECT license FROM versions WHERE id = ?", err);
    if (!st)
        return NULL;
    sl_stmt_int(st, 1, v->version_id);
    if (sl_stmt_step(st, err) == 1) {
        given = sl_stmt_col_text(st, 0);
        text_sha(given ? given : DEFAULT_LICENSE, sha);
        out = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b, s:b}", "model", model, "version",
                        (json_int_t)v->seq, "commit", v->commit, "tier", v->tier, "license_sha256",
                        sha, "license", given ? given : DEFAULT_LICENSE, "license_given",
                        given != NULL, "accepted",
                        p->user_id && accepted(db, p->user_id, v->model_id, sha));
    }
    sl_stmt_done(st);
    if (!out && err->code == SL_OK)
        sl_error_set(err, SL_ENOTFOUND, "no such version");
    return out;
}

enum sl_err sl_reg_accept(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, const char *want_sha,
                          json_t **result, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    char *text, sha[65], who[SL_PSEUDONYM_LEN + 1];
    bool fresh;
    enum sl_err rc;

    *result = NULL;
    if (!db)
        return err->code;
    text = version_license(db, v->version_id, err);
    if (!text)
        return err->code;
    text_sha(text, sha);
    free(text);
    if (want_sha && strcmp(want_sha, sha) != 0)
        return sl_error_set(err, SL_ECONFLICT,
                            "the license of %s version %lld is sha256 %s, not %s: read it again "
                            "(sluice accept %s --show)",
                            model, (long long)v->seq, sha, want_sha, model);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db,
                    "INSERT INTO acceptances (user_id, model_id, license_sha256, accepted) VALUES "
                    "(?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    err);
    if (!st)
        return rollback(db, err->code);
    sl_stmt_int(st, 1, p->user_id);
    sl_stmt_int(st, 2, v->model_id);
    sl_stmt_text(st, 3, sha);
    sl_stmt_int(st, 4, sl__now());
    rc = sl_stmt_run(st, err);
    if (rc)
        return rollback(db, rc);
    fresh = sl_db_changes(db) == 1;
    if (fresh) {
        sl__pseudonym(r, model, p->user_id, who);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "license.accepted", "model",
                              model, "commit", v->commit, "account", who, "license_sha256", sha);
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
        if (rc)
            return rollback(db, rc);
    }
    rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    *result = json_pack("{s:s, s:I, s:s, s:b, s:b}", "model", model, "version", (json_int_t)v->seq,
                        "license_sha256", sha, "accepted", 1, "new", fresh);
    return SL_OK;
}

/* ---- access requests ---- */

static json_t *request_json(struct sl_stmt *st, const char *model)
{
    const char *status = sl_stmt_col_text(st, 2);
    int64_t expires = sl_stmt_col_null(st, 10) ? 0 : sl_stmt_col_int(st, 10);
    json_t *fields = json_loads(sl_stmt_col_text(st, 4), 0, NULL);
    bool denied_final;

    if (strcmp(status, "approved") == 0 && expires && expires <= sl__now())
        status = "expired";
    json_t *history =
        sl_stmt_col_null(st, 13) ? NULL : json_loads(sl_stmt_col_text(st, 13), 0, NULL);
    json_t *out;

    denied_final = strcmp(status, "denied") == 0 && sl_stmt_col_int(st, 12) >= 2;
    out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "model",
                    model, "user", sl_stmt_col_text(st, 1), "status", status, "purpose",
                    sl_stmt_col_text(st, 3), "fields", fields ? fields : json_object(), "created",
                    time_json(sl_stmt_col_int(st, 5)), "decided",
                    time_json(sl_stmt_col_null(st, 6) ? 0 : sl_stmt_col_int(st, 6)), "reason",
                    col_text_json(st, 7), "appeal", col_text_json(st, 8), "appealed",
                    time_json(sl_stmt_col_null(st, 9) ? 0 : sl_stmt_col_int(st, 9)), "expires",
                    time_json(expires), "auto_rule", col_text_json(st, 11), "final", denied_final);
    /* earlier revocations and final denials, oldest first: the publisher sees
     * them beside a new request, which no rule approves */
    json_object_set_new(out, "history", json_is_array(history) ? history : json_array());
    if (!json_is_array(history))
        json_decref(history);
    return out;
}

static json_t *request_by_id(struct sl_db *db, int64_t id, const char *model, struct sl_error *err)
{
    static const char sql[] =
        "SELECT r.id, u.name, r.status, r.purpose, r.fields, r.created, r.decided, r.reason, "
        "r.appeal, r.appealed, r.expires, r.auto_rule, r.denials, r.history FROM access_requests r "
        "JOIN "
        "users u ON u.id = r.user_id WHERE r.id = ?";
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    json_t *out = NULL;

    if (!st)
        return NULL;
    sl_stmt_int(st, 1, id);
    if (sl_stmt_step(st, err) == 1)
        out = request_json(st, model);
    sl_stmt_done(st);
    return out;
}

static bool field_key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > 32)
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
            return false;
    return true;
}

/* The model's rules, or the empty default. */
static json_t *load_rules(struct sl_db *db, int64_t model_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT rules FROM access_rules WHERE model_id = ?", err);
    json_t *rules = NULL;

    if (!st)
        return NULL;
    sl_stmt_int(st, 1, model_id);
    if (sl_stmt_step(st, err) == 1)
        rules = json_loads(sl_stmt_col_text(st, 0), 0, NULL);
    sl_stmt_done(st);
    if (!rules)
        rules =
            json_pack("{s:b, s:[], s:[], s:[]}", "everyone", 0, "email_domains", "orgs", "fields");
    return rules;
}

/* The auto-approval rule `user_id` matches, written into `why`, or false. */
static bool auto_rule(struct sl_db *db, json_t *rules, int64_t user_id, char *why, size_t n)
{
    struct sl_error err;
    struct sl_stmt *st;
    size_t i;
    json_t *e;

    if (json_is_true(json_object_get(rules, "everyone"))) {
        snprintf(why, n, "everyone");
        return true;
    }
    st = sl_db_stmt(db, "SELECT email FROM users WHERE id = ?", &err);
    if (st) {
        sl_stmt_int(st, 1, user_id);
        if (sl_stmt_step(st, &err) == 1 && sl_stmt_col_text(st, 0)) {
            const char *at = strrchr(sl_stmt_col_text(st, 0), '@');
            json_array_foreach(json_object_get(rules, "email_domains"), i, e)
            {
                if (at && strcasecmp(at + 1, json_string_value(e)) == 0) {
                    snprintf(why, n, "email_domain:%s", json_string_value(e));
                    sl_stmt_done(st);
                    return true;
                }
            }
        }
        sl_stmt_done(st);
    }
    json_array_foreach(json_object_get(rules, "orgs"), i, e)
    {
        bool member;
        st = sl_db_stmt(db,
                        "SELECT 1 FROM members m JOIN orgs o ON o.id = m.org_id WHERE o.name = ? "
                        "AND m.user_id = ?",
                        &err);
        if (!st)
            return false;
        sl_stmt_text(st, 1, json_string_value(e));
        sl_stmt_int(st, 2, user_id);
        member = sl_stmt_step(st, &err) == 1;
        sl_stmt_done(st);
        if (member) {
            snprintf(why, n, "org:%s", json_string_value(e));
            return true;
        }
    }
    return false;
}

static enum sl_err check_fields(json_t *fields, json_t *rules, struct sl_error *err)
{
    const char *k;
    json_t *v;
    size_t i;

    if (fields && !json_is_object(fields))
        return sl_error_set(err, SL_EINPUT, "\"fields\" must be an object of strings");
    if (json_object_size(fields) > FIELDS_MAX)
        return sl_error_set(err, SL_EINPUT, "at most %d fields", FIELDS_MAX);
    json_object_foreach(fields, k, v)
    {
        if (!field_key_ok(k))
            return sl_error_set(err, SL_EINPUT,
                                "field name \"%.40s\" must be 1 to 32 of a-z, 0-9, '_' and '-'", k);
        if (!json_is_string(v) || !sl_gov_text_ok(json_string_value(v), FIELD_VALUE_MAX))
            return sl_error_set(err, SL_EINPUT,
                                "field %s: the value must be 1 to %d bytes of text on one line", k,
                                FIELD_VALUE_MAX);
    }
    json_array_foreach(json_object_get(rules, "fields"), i, v)
    {
        if (!json_object_get(fields, json_string_value(v)))
            return sl_error_set(err, SL_EINPUT,
                                "the publisher requires the field \"%s\": add --field %s=VALUE",
                                json_string_value(v), json_string_value(v));
    }
    return SL_OK;
}

/* The version `main` points at. */
static enum sl_err main_version(struct sl_db *db, int64_t model_id, struct sl_version_ref *v,
                                struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.id, v.seq, v.commit_hash, v.tier FROM refs f JOIN "
                                    "versions v ON v.id = f.version_id WHERE f.model_id = ? AND "
                                    "f.name = 'main'",
                                    err);
    int row;

    memset(v, 0, sizeof(*v));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        v->version_id = sl_stmt_col_int(st, 0);
        v->seq = sl_stmt_col_int(st, 1);
        snprintf(v->commit, sizeof(v->commit), "%s", sl_stmt_col_text(st, 2));
        snprintf(v->tier, sizeof(v->tier), "%s", sl_stmt_col_text(st, 3));
        v->model_id = model_id;
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    return row == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "the model has no main version");
}

/* True when `main` of the model is withheld: no rule approves anything then. */
static bool main_withheld(struct sl_db *db, int64_t model_id)
{
    struct sl_version_ref mv;
    struct sl_error err;

    return main_version(db, model_id, &mv, &err) == SL_OK && strcmp(mv.tier, "withheld") == 0;
}

/* Issues (once per grant and version) the license of version `v` for
 * request `req_id`, inside the caller's transaction. */
static enum sl_err issue_license(struct sl_registry *r, struct sl_db *db, int64_t req_id,
                                 const struct sl_version_ref *v, const char *model, char **note,
                                 int64_t *log_idx_out, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT l.note, l.log_idx FROM licenses l JOIN access_requests r ON r.id = "
                   "l.request_id AND r.grant_seq = l.grant_seq WHERE "
                   "l.request_id = ? AND l.version_id = ?",
                   err);
    struct sl_license lic;
    int64_t user_id = 0, grant_seq = 0;
    unsigned char rnd[8];
    char *text;
    size_t len;
    int row;
    enum sl_err rc;

    *note = NULL;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, req_id);
    sl_stmt_int(st, 2, v->version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *note = sl_xstrdup(sl_stmt_col_text(st, 0));
        *log_idx_out = sl_stmt_col_null(st, 1) ? -1 : sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (*note)
        return SL_OK;
    memset(&lic, 0, sizeof(lic));
    st = sl_db_stmt(
        db, "SELECT user_id, purpose, expires, grant_seq FROM access_requests WHERE id = ?", err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, req_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        user_id = sl_stmt_col_int(st, 0);
        snprintf(lic.purpose, sizeof(lic.purpose), "%s", sl_stmt_col_text(st, 1));
        lic.expires = sl_stmt_col_null(st, 2) ? 0 : sl_stmt_col_int(st, 2);
        grant_seq = sl_stmt_col_int(st, 3);
    }
    sl_stmt_done(st);
    if (row != 1)
        return row < 0 ? err->code : sl_error_set(err, SL_ENOTFOUND, "no such request");
    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), lic.id);
    snprintf(lic.model, sizeof(lic.model), "%s", model);
    snprintf(lic.commit, sizeof(lic.commit), "%s", v->commit);
    snprintf(lic.tier, sizeof(lic.tier), "%s", v->tier);
    sl__pseudonym(r, model, user_id, lic.licensee);
    lic.issued = sl__now();
    if (strcmp(v->tier, "gated") == 0) {
        /* gated downloads are fingerprinted: the license says for whom */
        int64_t fp_id = 0;
        char commitment[65];
        rc = sl__fp_recipient(r, db, v->model_id, user_id, &fp_id, commitment, err);
        if (rc)
            return rc;
        lic.fingerprint = (uint32_t)fp_id;
    }
    text = sl_license_text(&lic, err);
    if (!text)
        return err->code;
    rc = sl_note_sign(text, strlen(text), &r->note_key, 1, note, &len, err);
    free(text);
    if (rc)
        return rc;
    st = sl_db_stmt(db,
                    "INSERT INTO licenses (id, request_id, grant_seq, version_id, issued, note) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    err);
    if (!st)
        goto fail_code;
    sl_stmt_text(st, 1, lic.id);
    sl_stmt_int(st, 2, req_id);
    sl_stmt_int(st, 3, grant_seq);
    sl_stmt_int(st, 4, v->version_id);
    sl_stmt_int(st, 5, lic.issued);
    sl_stmt_text(st, 6, *note);
    rc = sl_stmt_run(st, err);
    if (!rc) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "type", "license.issued",
                              "model", model, "commit", v->commit, "tier", v->tier, "license",
                              lic.id, "account", lic.licensee, "expires", time_json(lic.expires));
        int64_t log_idx = -1;
        rc = sl__log_append(r, db, e, &log_idx, err);
        *log_idx_out = log_idx;
        json_decref(e);
        st = rc ? NULL : sl_db_stmt(db, "UPDATE licenses SET log_idx = ? WHERE id = ?", err);
        if (!rc && !st)
            rc = err->code;
        if (!rc) {
            sl_stmt_int(st, 1, log_idx);
            sl_stmt_text(st, 2, lic.id);
            rc = sl_stmt_run(st, err);
        }
    }
    if (rc)
        goto fail;
    return SL_OK;
fail_code:
    rc = err->code;
fail:
    free(*note);
    *note = NULL;
    return rc;
}

/* Logs an access event for request `req_id`. */
static enum sl_err log_access(struct sl_registry *r, struct sl_db *db, const char *type,
                              const char *model, int64_t user_id, const char *by, const char *text,
                              int64_t expires, const char *fp_commitment, const char *rule,
                              struct sl_error *err)
{
    char who[SL_PSEUDONYM_LEN + 1], digest[SL_TEXT_DIGEST_LEN + 1];
    json_t *e;
    enum sl_err rc;

    sl__pseudonym(r, model, user_id, who);
    e = json_pack("{s:s, s:s, s:s}", "type", type, "model", model, "account", who);
    if (by)
        json_object_set_new(e, "by", json_string(by));
    if (rule) {
        /* the kind only ("email_domain", "org", "everyone"): which domain or
         * org matched would say who the person is */
        size_t kind = strcspn(rule, ":");
        json_object_set_new(e, "rule", json_stringn(rule, kind));
    }
    if (text) {
        sl__text_digest(r, text, digest);
        json_object_set_new(e, "text_hmac", json_string(digest));
    }
    if (expires)
        json_object_set_new(e, "expires", time_json(expires));
    if (fp_commitment)
        json_object_set_new(e, "fingerprint_key_sha256", json_string(fp_commitment));
    rc = sl__log_append(r, db, e, NULL, err);
    json_decref(e);
    return rc;
}

/* Approves request `req_id` inside the caller's transaction and issues the
 * license of `main`; `by` names who or which rule approved. */
static enum sl_err approve_tx(struct sl_registry *r, struct sl_db *db, int64_t req_id,
                              int64_t model_id, int64_t user_id, const char *model,
                              int64_t decided_by, const char *rule, const char *by, int64_t expires,
                              char **note, struct sl_error *err)
{
    struct sl_stmt *st;
    struct sl_version_ref mv;
    int64_t log_idx = -1, recipient = 0;
    char commitment[65];
    enum sl_err rc;

    *note = NULL;
    rc = main_version(db, model_id, &mv, err);
    if (rc)
        return rc;
    if (strcmp(mv.tier, "withheld") == 0)
        return sl_error_set(err, SL_ECONFLICT,
                            "withheld: no access can be granted (%s version %lld is withheld; "
                            "only its org's publishers and registered evaluators reach it)",
                            model, (long long)mv.seq);
    st = sl_db_stmt(db,
                    "UPDATE access_requests SET status = 'approved', decided = ?, "
                    "decided_by = ?, reason = NULL, expires = ?, auto_rule = ?, "
                    "grant_seq = grant_seq + 1 WHERE id = ?",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, sl__now());
    if (decided_by)
        sl_stmt_int(st, 2, decided_by);
    else
        sl_stmt_null(st, 2);
    if (expires)
        sl_stmt_int(st, 3, expires);
    else
        sl_stmt_null(st, 3);
    sl_stmt_text(st, 4, rule);
    sl_stmt_int(st, 5, req_id);
    rc = sl_stmt_run(st, err);
    if (!rc)
        rc = sl__fp_recipient(r, db, model_id, user_id, &recipient, commitment, err);
    if (!rc)
        rc = log_access(r, db, "access.approved", model, user_id, by, NULL, expires, commitment,
                        rule, err);
    if (!rc)
        rc = issue_license(r, db, req_id, &mv, model, note, &log_idx, err);
    return rc;
}

/* The request's history with `g`'s outcome (revoked, or denied for good)
 * appended, as JSON text in `*out` (malloc'd). */
static enum sl_err history_add(struct sl_db *db, const struct grant *g, char **out,
                               struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT history, decided FROM access_requests WHERE id = ?", err);
    json_t *h = NULL;
    int64_t decided = 0;
    int row;

    *out = NULL;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, g->id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        if (!sl_stmt_col_null(st, 0))
            h = json_loads(sl_stmt_col_text(st, 0), 0, NULL);
        decided = sl_stmt_col_null(st, 1) ? 0 : sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (!json_is_array(h)) {
        json_decref(h);
        h = json_array();
    }
    json_array_append_new(h, json_pack("{s:s, s:s, s:o, s:s}", "status",
                                       strcmp(g->status, "revoked") == 0 ? "revoked" : "denied",
                                       "reason", g->reason, "at", time_json(decided), "purpose",
                                       g->purpose));
    /* bounded: the last 20 outcomes are kept */
    while (json_array_size(h) > 20)
        json_array_remove(h, 0);
    *out = sl_json_dump(h, 0, NULL);
    json_decref(h);
    return SL_OK;
}

enum sl_err sl_reg_access_request(struct sl_registry *r, const struct sl_principal *p,
                                  int64_t org_id, int64_t model_id, const char *model,
                                  const char *purpose, json_t *fields, json_t **result,
                                  bool *created, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct grant g;
    json_t *rules = NULL;
    char *fields_text = NULL, *note = NULL, *history = NULL, why[160];
    int64_t req_id = 0;
    bool autoapp, final, manual_only = false;
    enum sl_err rc;

    (void)org_id;
    *result = NULL;
    *created = false;
    if (!db)
        return err->code;
    if (!purpose || !sl_gov_text_ok(purpose, SL_GOV_PURPOSE_MAX))
        return sl_error_set(err, SL_EINPUT,
                            "the purpose must be 1 to %d bytes of text on one line, without "
                            "control characters or leading and trailing spaces",
                            SL_GOV_PURPOSE_MAX);
    rules = load_rules(db, model_id, err);
    if (!rules)
        return err->code;
    rc = check_fields(fields, rules, err);
    if (rc)
        goto out;
    if (fields) {
        fields_text = sl_json_dump(fields, 0, NULL);
    } else {
        json_t *empty = json_object();
        fields_text = sl_json_dump(empty, 0, NULL);
        json_decref(empty);
    }
    rc = sl_db_begin(db, err);
    if (rc)
        goto out;
    rc = grant_get(db, model_id, p->user_id, &g, err);
    if (rc)
        goto fail;
    if (g.found) {
        if (strcmp(g.status, "pending") == 0) {
            sl_db_rollback(db);
            *result = request_by_id(db, g.id, model, err);
            rc = *result ? SL_OK : err->code;
            goto out;
        }
        if (strcmp(g.status, "approved") == 0) {
            rc = sl_error_set(err, SL_ECONFLICT,
                              "you already hold a grant for %s (sluice access status %s)", model,
                              model);
            goto fail;
        }
        final = strcmp(g.status, "denied") == 0 && (g.denials >= 2 || g.appealed);
        if (strcmp(g.status, "denied") == 0 && !final) {
            rc = sl_error_set(err, SL_ECONFLICT,
                              "your request for %s was denied: %s; you may appeal once: "
                              "sluice access appeal %s --text TEXT",
                              model, g.reason, model);
            goto fail;
        }
        /* revoked, finally denied or expired: start over. A revocation or a
         * final denial is kept beside the new request and rules no longer
         * approve it: only a publisher can (docs/access.md). */
        if (final || strcmp(g.status, "revoked") == 0) {
            rc = history_add(db, &g, &history, err);
            if (rc)
                goto fail;
        }
        st = sl_db_stmt(db,
                        "UPDATE access_requests SET status = 'pending', purpose = ?, fields = ?, "
                        "created = ?, decided = NULL, decided_by = NULL, reason = NULL, appeal = "
                        "NULL, appealed = NULL, denials = 0, expires = NULL, auto_rule = NULL, "
                        "history = COALESCE(?, history), no_auto = ? WHERE id = ?",
                        err);
        if (!st)
            goto fail_code;
        sl_stmt_text(st, 1, purpose);
        sl_stmt_text(st, 2, fields_text);
        sl_stmt_int(st, 3, sl__now());
        if (history)
            sl_stmt_text(st, 4, history);
        else
            sl_stmt_null(st, 4);
        sl_stmt_int(st, 5, g.no_auto || history);
        sl_stmt_int(st, 6, g.id);
        rc = sl_stmt_run(st, err);
        req_id = g.id;
        manual_only = g.no_auto || history;
    } else {
        st = sl_db_stmt(db,
                        "INSERT INTO access_requests (model_id, user_id, status, purpose, fields, "
                        "created) VALUES (?, ?, 'pending', ?, ?, ?)",
                        err);
        if (!st)
            goto fail_code;
        sl_stmt_int(st, 1, model_id);
        sl_stmt_int(st, 2, p->user_id);
        sl_stmt_text(st, 3, purpose);
        sl_stmt_text(st, 4, fields_text);
        sl_stmt_int(st, 5, sl__now());
        rc = sl_stmt_run(st, err);
        req_id = sl_db_last_id(db);
    }
    if (rc)
        goto fail;
    rc =
        log_access(r, db, "access.requested", model, p->user_id, NULL, purpose, 0, NULL, NULL, err);
    if (rc)
        goto fail;
    autoapp = !manual_only && !main_withheld(db, model_id) &&
              auto_rule(db, rules, p->user_id, why, sizeof(why));
    if (autoapp) {
        rc = approve_tx(r, db, req_id, model_id, p->user_id, model, 0, why, "rule", 0, &note, err);
        if (rc)
            goto fail;
    }
    rc = sl_db_commit(db, err);
    if (rc)
        goto fail;
    *created = true;
    *result = request_by_id(db, req_id, model, err);
    if (!*result) {
        rc = err->code;
        goto out;
    }
    if (note)
        json_object_set_new(*result, "license", json_string(note));
    goto out;
fail_code:
    rc = err->code;
fail:
    sl_db_rollback(db);
out:
    free(note);
    free(history);
    free(fields_text);
    json_decref(rules);
    return rc;
}

enum sl_err sl_reg_access_me(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                             const char *model, json_t **result, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    enum sl_err rc;

    *result = NULL;
    if (!db)
        return err->code;
    rc = grant_get(db, model_id, p->user_id, &g, err);
    if (rc)
        return rc;
    if (!g.found)
        return sl_error_set(err, SL_ENOTFOUND,
                            "you have not requested access to %s (sluice access request %s "
                            "--purpose TEXT)",
                            model, model);
    *result = request_by_id(db, g.id, model, err);
    return *result ? SL_OK : err->code;
}

enum sl_err sl_reg_access_appeal(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t model_id, const char *model, const char *text,
                                 json_t **result, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct grant g;
    enum sl_err rc;

    *result = NULL;
    if (!db)
        return err->code;
    if (!text || !sl_gov_text_ok(text, REASON_MAX))
        return sl_error_set(err, SL_EINPUT,
                            "the appeal text must be 1 to %d bytes of text on one line",
                            REASON_MAX);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = grant_get(db, model_id, p->user_id, &g, err);
    if (rc)
        return rollback(db, rc);
    if (!g.found || strcmp(g.status, "denied") != 0)
        return rollback(db, sl_error_set(err, SL_ECONFLICT,
                                         "only a denied request can be appealed; yours is %s",
                                         g.found ? g.status : "not there"));
    if (g.appealed || g.denials >= 2)
        return rollback(db,
                        sl_error_set(err, SL_ECONFLICT,
                                     "you appealed already; the denial is final: %s", g.reason));
    st = sl_db_stmt(db,
                    "UPDATE access_requests SET status = 'pending', appeal = ?, appealed = ? "
                    "WHERE id = ?",
                    err);
    if (!st)
        return rollback(db, err->code);
    sl_stmt_text(st, 1, text);
    sl_stmt_int(st, 2, sl__now());
    sl_stmt_int(st, 3, g.id);
    rc = sl_stmt_run(st, err);
    if (!rc)
        rc =
            log_access(r, db, "access.appealed", model, p->user_id, NULL, text, 0, NULL, NULL, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    *result = request_by_id(db, g.id, model, err);
    return *result ? SL_OK : err->code;
}

enum sl_err sl_reg_access_list(struct sl_registry *r, int64_t model_id, const char *model,
                               const char *status, json_t **result, struct sl_error *err)
{
    static const char sql[] =
        "SELECT r.id, u.name, r.status, r.purpose, r.fields, r.created, r.decided, r.reason, "
        "r.appeal, r.appealed, r.expires, r.auto_rule, r.denials, r.history FROM access_requests r "
        "JOIN "
        "users u ON u.id = r.user_id WHERE r.model_id = ? ORDER BY r.created, r.id";
    static const char *const statuses[] = {"pending", "approved", "denied",
                                           "revoked", "expired",  NULL};
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *arr;
    int row;

    *result = NULL;
    if (!db)
        return err->code;
    if (status) {
        bool ok = false;
        for (const char *const *s = statuses; *s; s++)
            ok |= strcmp(*s, status) == 0;
        if (!ok)
            return sl_error_set(err, SL_EINPUT,
                                "status \"%.40s\" is not pending, approved, denied, revoked or "
                                "expired",
                                status);
    }
    st = sl_db_stmt(db, sql, err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    arr = json_array();
    while ((row = sl_stmt_step(st, err)) == 1) {
        json_t *e = request_json(st, model);
        if (status && strcmp(json_string_value(json_object_get(e, "status")), status) != 0)
            json_decref(e);
        else
            json_array_append_new(arr, e);
    }
    sl_stmt_done(st);
    if (row < 0) {
        json_decref(arr);
        return err->code;
    }
    *result = arr;
    return SL_OK;
}

enum sl_err sl_reg_access_decide(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t org_id, int64_t model_id, const char *model,
                                 const char *user, enum sl_access_action action, const char *reason,
                                 int64_t expires, json_t **result, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct grant g;
    int64_t user_id = 0;
    bool found;
    char *note = NULL;
    enum sl_err rc;

    (void)org_id;
    *result = NULL;
    if (!db)
        return err->code;
    if (action != SL_ACCESS_APPROVE && (!reason || !sl_gov_text_ok(reason, REASON_MAX)))
        return sl_error_set(err, SL_EINPUT,
                            "a reason is required: 1 to %d bytes of text on one line (the "
                            "requester sees it)",
                            REASON_MAX);
    if (action == SL_ACCESS_APPROVE && expires && expires <= sl__now())
        return sl_error_set(err, SL_EINPUT, "the expiry must be in the future");
    st = sl_db_stmt(db, "SELECT id FROM users WHERE name = ?", err);
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, user);
    rc = sl__db_int(db, st, &user_id, &found, err);
    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_ENOTFOUND, "no user %s", user);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = grant_get(db, model_id, user_id, &g, err);
    if (rc)
        return rollback(db, rc);
    if (!g.found)
        return rollback(
            db, sl_error_set(err, SL_ENOTFOUND, "%s has not requested access to %s", user, model));
    switch (action) {
    case SL_ACCESS_APPROVE:
        if (strcmp(g.status, "denied") == 0 && (g.denials >= 2 || g.appealed))
            break; /* a publisher may still change their mind after an appeal */
        break;
    case SL_ACCESS_DENY:
        if (strcmp(g.status, "pending") != 0)
            return rollback(
                db,
                sl_error_set(err, SL_ECONFLICT,
                             "only a pending request can be denied; %s's is %s%s", user, g.status,
                             strcmp(g.status, "approved") == 0 ? " (revoke a grant instead)" : ""));
        st = sl_db_stmt(db,
                        "UPDATE access_requests SET status = 'denied', decided = ?, decided_by = "
                        "?, reason = ?, denials = denials + 1 WHERE id = ?",
                        err);
        break;
    case SL_ACCESS_REVOKE:
        if (strcmp(g.status, "approved") != 0)
            return rollback(db, sl_error_set(err, SL_ECONFLICT,
                                             "only an approved grant can be revoked; %s's "
                                             "request is %s",
                                             user, g.status));
        st = sl_db_stmt(db,
                        "UPDATE access_requests SET status = 'revoked', decided = ?, decided_by = "
                        "?, reason = ? WHERE id = ?",
                        err);
        break;
    }
    if (action == SL_ACCESS_APPROVE) {
        char by[SL_PSEUDONYM_LEN + 1];
        sl__pseudonym(r, model, p->user_id, by);
        rc = approve_tx(r, db, g.id, model_id, user_id, model, p->user_id, NULL, by, expires, &note,
                        err);
    } else if (!st) {
        rc = err->code;
    } else {
        char by[SL_PSEUDONYM_LEN + 1];
        sl__pseudonym(r, model, p->user_id, by);
        sl_stmt_int(st, 1, sl__now());
        sl_stmt_int(st, 2, p->user_id);
        sl_stmt_text(st, 3, reason);
        sl_stmt_int(st, 4, g.id);
        rc = sl_stmt_run(st, err);
        if (!rc && action == SL_ACCESS_REVOKE) {
            st = sl_db_stmt(db,
                            "UPDATE licenses SET revoked = ? WHERE request_id = ? AND revoked IS "
                            "NULL",
                            err);
            if (!st) {
                rc = err->code;
            } else {
                sl_stmt_int(st, 1, sl__now());
                sl_stmt_int(st, 2, g.id);
                rc = sl_stmt_run(st, err);
            }
        }
        if (!rc)
            rc = log_access(r, db, action == SL_ACCESS_DENY ? "access.denied" : "access.revoked",
                            model, user_id, by, reason, 0, NULL, NULL, err);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        free(note);
        return rollback(db, rc);
    }
    *result = request_by_id(db, g.id, model, err);
    if (*result && note)
        json_object_set_new(*result, "license", json_string(note));
    free(note);
    return *result ? SL_OK : err->code;
}

enum sl_err sl__access_revoke_user(struct sl_registry *r, struct sl_db *db, int64_t user_id,
                                   const char *reason, int *count, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT r.id, o.name, m.name FROM access_requests r JOIN "
                                    "models m ON m.id = r.model_id JOIN orgs o ON o.id = m.org_id "
                                    "WHERE r.user_id = ? AND r.status = 'approved' ORDER BY r.id",
                                    err);
    struct item {
        int64_t id;
        char model[2 * SL_NAME_MAX + 2];
    } *v = NULL;
    size_t n = 0;
    int row;
    enum sl_err rc = SL_OK;

    *count = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, user_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        v = sl_xrealloc(v, (n + 1) * sizeof(*v));
        v[n].id = sl_stmt_col_int(st, 0);
        snprintf(v[n].model, sizeof(v[n].model), "%s/%s", sl_stmt_col_text(st, 1),
                 sl_stmt_col_text(st, 2));
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        st = sl_db_stmt(db,
                        "UPDATE access_requests SET status = 'revoked', decided = ?, decided_by = "
                        "NULL, reason = ? WHERE id = ?",
                        err);
        if (!st) {
            rc = err->code;
            break;
        }
        sl_stmt_int(st, 1, sl__now());
        sl_stmt_text(st, 2, reason);
        sl_stmt_int(st, 3, v[i].id);
        rc = sl_stmt_run(st, err);
        if (rc)
            break;
        st = sl_db_stmt(
            db, "UPDATE licenses SET revoked = ? WHERE request_id = ? AND revoked IS NULL", err);
        if (!st) {
            rc = err->code;
            break;
        }
        sl_stmt_int(st, 1, sl__now());
        sl_stmt_int(st, 2, v[i].id);
        rc = sl_stmt_run(st, err);
        if (!rc)
            rc = log_access(r, db, "access.revoked", v[i].model, user_id, "admin", reason, 0, NULL,
                            NULL, err);
    }
    if (!rc)
        *count = (int)n;
    free(v);
    return rc;
}

/* ---- rules ---- */

enum sl_err sl_reg_access_rules(struct sl_registry *r, int64_t model_id, json_t **result,
                                struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *result = db ? load_rules(db, model_id, err) : NULL;
    return *result ? SL_OK : err->code;
}

static enum sl_err string_list(json_t *rules, const char *key, bool (*ok)(const char *),
                               const char *what, struct sl_error *err)
{
    json_t *arr = json_object_get(rules, key), *e;
    size_t i;

    if (!arr) {
        json_object_set_new(rules, key, json_array());
        return SL_OK;
    }
    if (!json_is_array(arr) || json_array_size(arr) > RULE_LIST_MAX)
        return sl_error_set(err, SL_EINPUT, "\"%s\" must be an array of at most %d strings", key,
                            RULE_LIST_MAX);
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(e) || !ok(json_string_value(e)))
            return sl_error_set(err, SL_EINPUT, "%s[%zu] is not a valid %s", key, i, what);
    }
    return SL_OK;
}

static bool domain_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || !strchr(s, '.'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '-'))
            return false;
    return true;
}

enum sl_err sl_reg_access_rules_set(struct sl_registry *r, const struct sl_principal *p,
                                    int64_t model_id, const char *model, json_t *rules,
                                    json_t **result, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *copy, *ev;
    const char *key;
    char *text, by[SL_PSEUDONYM_LEN + 1];
    enum sl_err rc;

    *result = NULL;
    if (!db)
        return err->code;
    if (!json_is_object(rules))
        return sl_error_set(err, SL_EINPUT, "the rules must be a JSON object");
    json_object_foreach(rules, key, ev)
    {
        if (strcmp(key, "everyone") && strcmp(key, "email_domains") && strcmp(key, "orgs") &&
            strcmp(key, "fields"))
            return sl_error_set(err, SL_EINPUT,
                                "unknown key \"%.40s\" (everyone, email_domains, orgs, fields)",
                                key);
    }
    copy = json_deep_copy(rules);
    ev = json_object_get(copy, "everyone");
    if (ev && !json_is_boolean(ev)) {
        json_decref(copy);
        return sl_error_set(err, SL_EINPUT, "\"everyone\" must be true or false");
    }
    if (!ev)
        json_object_set_new(copy, "everyone", json_false());
    rc = string_list(copy, "email_domains", domain_ok, "domain", err);
    if (!rc)
        rc = string_list(copy, "orgs", sl_name_ok, "org name", err);
    if (!rc)
        rc = string_list(copy, "fields", field_key_ok, "field name (a-z, 0-9, '_', '-')", err);
    if (!rc && json_array_size(json_object_get(copy, "fields")) > FIELDS_MAX)
        rc = sl_error_set(err, SL_EINPUT, "at most %d required fields", FIELDS_MAX);
    if (rc) {
        json_decref(copy);
        return rc;
    }
    text = sl_json_dump(copy, 0, NULL);
    rc = sl_db_begin(db, err);
    if (!rc) {
        st = sl_db_stmt(db,
                        "INSERT INTO access_rules (model_id, rules) VALUES (?, ?) ON CONFLICT "
                        "(model_id) DO UPDATE SET rules = excluded.rules",
                        err);
        if (!st) {
            rc = err->code;
        } else {
            sl_stmt_int(st, 1, model_id);
            sl_stmt_text(st, 2, text);
            rc = sl_stmt_run(st, err);
        }
        if (!rc) {
            json_t *e = json_pack("{s:s, s:s, s:O}", "type", "access.rules_set", "model", model,
                                  "rules", copy);
            sl__pseudonym(r, model, p->user_id, by);
            json_object_set_new(e, "by", json_string(by));
            rc = sl__log_append(r, db, e, NULL, err);
            json_decref(e);
        }
        if (!rc)
            rc = sl_db_commit(db, err);
        if (rc)
            sl_db_rollback(db);
    }
    free(text);
    if (rc) {
        json_decref(copy);
        return rc;
    }
    *result = copy;
    return SL_OK;
}

/* ---- licenses and revocations ---- */

enum sl_err sl_reg_license(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_version_ref *v, const char *model, char **note,
                           int64_t *log_idx, struct sl_error *err)
{
    int64_t idx = -1;
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    enum sl_err rc;

    *note = NULL;
    if (!db)
        return err->code;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = grant_get(db, v->model_id, p->user_id, &g, err);
    if (!rc && !grant_live(&g)) {
        if (!g.found)
            rc = sl_error_set(err, SL_EFORBIDDEN,
                              "you hold no grant for %s, so there is no license to give (sluice "
                              "access request %s --purpose TEXT)",
                              model, model);
        else
            rc = sl_error_set(err, SL_EFORBIDDEN,
                              "your access to %s is %s%s%s, so there is no license to give", model,
                              g.status, g.reason[0] ? ": " : "", g.reason);
    }
    if (!rc)
        rc = issue_license(r, db, g.id, v, model, note, &idx, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (log_idx)
        *log_idx = idx;
    if (rc) {
        free(*note);
        *note = NULL;
        return rollback(db, rc);
    }
    return SL_OK;
}

enum sl_err sl_reg_revocations(struct sl_registry *r, char **note, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct sl_revocation *list = NULL;
    size_t n = 0, cap = 0, len;
    char *text;
    int row;
    enum sl_err rc;

    *note = NULL;
    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT id, revoked FROM licenses WHERE revoked IS NOT NULL ORDER BY revoked, "
                    "id",
                    err);
    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            list = sl_xrealloc(list, cap * sizeof(*list));
        }
        snprintf(list[n].id, sizeof(list[n].id), "%s", sl_stmt_col_text(st, 0));
        list[n].revoked = sl_stmt_col_int(st, 1);
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(list);
        return err->code;
    }
    text = sl_revocations_text(r->origin, sl__now(), list, n, err);
    free(list);
    if (!text)
        return err->code;
    rc = sl_note_sign(text, strlen(text), &r->note_key, 1, note, &len, err);
    free(text);
    return rc;
}

enum sl_err sl_reg_vkey(struct sl_registry *r, char *out, size_t cap, struct sl_error *err)
{
    return sl_note_vkey(&r->note_key, out, cap, err);
}

enum sl_err sl_reg_expire_grants(struct sl_registry *r, int *count, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int64_t now = sl__now();
    enum sl_err rc;
    int row;

    *count = 0;
    if (!db)
        return err->code;
    /* the common case, nothing due, without taking the write lock */
    st = sl_db_stmt(db,
                    "SELECT 1 FROM access_requests WHERE status = 'approved' AND expires IS NOT "
                    "NULL AND expires <= ? LIMIT 1",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    row = sl_stmt_step(st, err);
    sl_stmt_done(st);
    if (row <= 0)
        return row < 0 ? err->code : SL_OK;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db,
                    "SELECT r.id, r.user_id, o.name || '/' || m.name FROM access_requests r JOIN "
                    "models m ON m.id = r.model_id JOIN orgs o ON o.id = m.org_id WHERE r.status "
                    "= 'approved' AND r.expires IS NOT NULL AND r.expires <= ?",
                    err);
    if (!st)
        return rollback(db, err->code);
    sl_stmt_int(st, 1, now);
    {
        int64_t ids[64], users[64];
        char models[64][SL_GOV_MODEL_MAX + 1];
        int n = 0;
        while (n < 64 && (row = sl_stmt_step(st, err)) == 1) {
            ids[n] = sl_stmt_col_int(st, 0);
            users[n] = sl_stmt_col_int(st, 1);
            snprintf(models[n], sizeof(models[n]), "%s", sl_stmt_col_text(st, 2));
            n++;
        }
        sl_stmt_done(st);
        for (int i = 0; i < n && !rc; i++) {
            st = sl_db_stmt(db, "UPDATE access_requests SET status = 'expired' WHERE id = ?", err);
            if (!st) {
                rc = err->code;
                break;
            }
            sl_stmt_int(st, 1, ids[i]);
            rc = sl_stmt_run(st, err);
            if (!rc)
                rc = log_access(r, db, "access.expired", models[i], users[i], NULL, NULL, 0, NULL,
                                NULL, err);
        }
        *count = n;
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    return SL_OK;
}

enum sl_err sl_reg_grant_counts(struct sl_registry *r, json_t **out, struct sl_error *err)
{
    static const char *const states[] = {"pending", "approved", "denied", "revoked", "expired"};
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *o;
    int row;

    *out = NULL;
    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT CASE WHEN status = 'approved' AND expires IS NOT NULL AND expires <= ? "
                    "THEN 'expired' ELSE status END AS s, count(*) FROM access_requests GROUP BY s",
                    err);
    if (!st)
        return err->code;
    o = json_object();
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        json_object_set_new(o, states[i], json_integer(0));
    sl_stmt_int(st, 1, sl__now());
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        json_t *prev = json_object_get(o, s);
        if (prev)
            json_object_set_new(o, s,
                                json_integer(json_integer_value(prev) + sl_stmt_col_int(st, 1)));
    }
    sl_stmt_done(st);
    if (row < 0) {
        json_decref(o);
        return err->code;
    }
    *out = o;
    return SL_OK;
}
