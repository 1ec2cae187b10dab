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
#include "db/repo_access.h"
#include "db/repo_hosted.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

#define DEFAULT_LICENSE                                                                            \
    "No license text was given; by accepting you agree to use the weights only as the "            \
    "publisher's model card describes.\n"
#define FIELDS_MAX      16
#define FIELD_VALUE_MAX 500
#define RULE_LIST_MAX   32
#define REASON_MAX      2000

_Static_assert(SL_REPO_REASON_MAX == REASON_MAX, "the repository keeps whole reasons");
_Static_assert(SL_REPO_PURPOSE_MAX == SL_GOV_PURPOSE_MAX, "the repository keeps whole purposes");

/* ---- small helpers ---- */

static json_t *time_json(int64_t t)
{
    char buf[21];

    return t > 0 ? json_string(sl_gov_time(t, buf)) : json_null();
}

static enum sl_err rollback(struct sl_db *db, enum sl_err rc)
{
    sl_db_rollback(db);
    return rc;
}

/* The license text of a version (the default when none was given), with
 * the model's prompt retention said in a last sentence when it keeps
 * prompts (docs/hosted.md, "Retention"): the retention is part of the
 * terms, so turning it on or changing it is a new text to accept.
 * `*days` (may be NULL) gets the retention. NULL on a database error. */
static char *version_license(struct sl_db *db, int64_t version_id, int64_t model_id, int64_t *days,
                             struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    char *given, *text = NULL;
    int64_t keep = 0;

    if (sl_repo_version_license(db, version_id, &a, &given, err) == SL_OK &&
        sl_repo_retention_get(db, model_id, &keep, NULL, err) == SL_OK) {
        const char *base = given ? given : DEFAULT_LICENSE;
        size_t len = strlen(base);
        if (keep > 0)
            text = sl_xasprintf("%s%sPrompts and completions sent to this model through the hosted "
                                "gateway are kept for %lld day%s for abuse review, then deleted.\n",
                                base, len && base[len - 1] != '\n' ? "\n\n" : "\n", (long long)keep,
                                keep == 1 ? "" : "s");
        else
            text = sl_xstrdup(base);
    }
    if (days)
        *days = keep;
    sl_arena_release(&a);
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
    bool ok;

    /* a failed lookup is no acceptance */
    return sl_repo_acceptance_exists(db, user_id, model_id, sha, &ok, &err) == SL_OK && ok;
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
    struct sl_grant_row row;
    bool found;
    enum sl_err rc;

    memset(g, 0, sizeof(*g));
    rc = sl_repo_grant_get(db, model_id, user_id, &row, &found, err);
    if (rc || !found)
        return rc;
    g->found = true;
    g->id = row.id;
    snprintf(g->status, sizeof(g->status), "%s", row.status);
    g->expires = row.expires;
    snprintf(g->reason, sizeof(g->reason), "%s", row.reason);
    g->grant_seq = row.grant_seq;
    snprintf(g->purpose, sizeof(g->purpose), "%s", row.purpose);
    g->denials = row.denials;
    g->appealed = row.appealed;
    g->no_auto = row.no_auto;
    /* an approval past its expiry is expired from that second on */
    if (strcmp(g->status, "approved") == 0 && g->expires && g->expires <= sl__now())
        snprintf(g->status, sizeof(g->status), "expired");
    return SL_OK;
}

static bool grant_live(const struct grant *g)
{
    return g->found && strcmp(g->status, "approved") == 0;
}

bool sl_reg_is_evaluator(struct sl_registry *r, const struct sl_principal *p)
{
    struct sl_error err;
    struct sl_db *db;
    bool ok;

    if (p->user_id == 0)
        return false;
    db = sl_reg_db(r, &err);
    if (!db)
        return false;
    /* a failed lookup is no evaluator */
    return sl_repo_eval_key_live(db, p->user_id, &ok, &err) == SL_OK && ok;
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
        char *text = version_license(db, v->version_id, v->model_id, NULL, err), sha[65];
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

static json_t *load_rules(struct sl_db *db, int64_t model_id, struct sl_error *err);

enum sl_err sl_reg_terms(struct sl_registry *r, const struct sl_principal *p,
                         const struct sl_version_ref *v, struct sl_arena *arena,
                         struct sl_reg_terms *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char *given, *text;
    json_t *rules, *req, *f;
    size_t i;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    rc = sl_repo_version_license(db, v->version_id, arena, &given, err);
    if (rc)
        return rc;
    text = version_license(db, v->version_id, v->model_id, &out->retention_days, err);
    if (!text)
        return err->code;
    out->given = given != NULL;
    out->license = sl_arena_strdup(arena, text);
    free(text);
    text_sha(out->license, out->license_sha256);
    out->accepted = p->user_id && accepted(db, p->user_id, v->model_id, out->license_sha256);
    /* what a request must fill in, so a form can ask for it up front */
    rules = load_rules(db, v->model_id, err);
    if (!rules)
        return err->code;
    req = json_object_get(rules, "fields");
    out->fields = sl_arena_alloc(arena, (json_array_size(req) + 1) * sizeof(char *));
    json_array_foreach(req, i, f) if (json_is_string(f)) out->fields[out->nfields++] =
        sl_arena_strdup(arena, json_string_value(f));
    json_decref(rules);
    return SL_OK;
}

enum sl_err sl_reg_accept(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, const char *want_sha,
                          struct sl_reg_acceptance *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char *text, sha[65], who[SL_PSEUDONYM_LEN + 1];
    bool fresh;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    text = version_license(db, v->version_id, v->model_id, NULL, err);
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
    rc = sl_repo_acceptance_insert(db, p->user_id, v->model_id, sha, sl__now(), &fresh, err);
    if (rc)
        return rollback(db, rc);
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
    memcpy(out->license_sha256, sha, sizeof(sha));
    out->fresh = fresh;
    return SL_OK;
}

/* ---- access requests ---- */

/* Request `id` as its answer shows it, into `out` (text in `arena`). */
static enum sl_err request_by_id(struct sl_db *db, int64_t id, struct sl_arena *arena,
                                 struct sl_reg_request *out, struct sl_error *err)
{
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    rc = sl_repo_request_get(db, id, arena, &out->row, err);
    if (rc)
        return rc;
    snprintf(out->status, sizeof(out->status), "%s", out->row.status);
    /* an approval past its expiry is expired from that second on */
    if (strcmp(out->status, "approved") == 0 && out->row.expires && out->row.expires <= sl__now())
        snprintf(out->status, sizeof(out->status), "expired");
    out->final = strcmp(out->status, "denied") == 0 && out->row.denials >= 2;
    return SL_OK;
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

/* The model's rules, or the empty default; NULL (with `err`) when they
 * cannot be read. */
static json_t *load_rules(struct sl_db *db, int64_t model_id, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    json_t *rules = NULL;
    char *text;

    if (sl_repo_access_rules_get(db, model_id, &a, &text, err) != SL_OK) {
        sl_arena_release(&a);
        return NULL;
    }
    if (text)
        rules = json_loads(text, 0, NULL);
    sl_arena_release(&a);
    if (!rules)
        rules =
            json_pack("{s:b, s:[], s:[], s:[]}", "everyone", 0, "email_domains", "orgs", "fields");
    return rules;
}

/* The auto-approval rule `user_id` matches, written into `why`, or false
 * (also when the database cannot tell: no rule approves then). */
static bool auto_rule(struct sl_db *db, json_t *rules, int64_t user_id, char *why, size_t n)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_error err;
    char *email;
    bool found;
    size_t i;
    json_t *e;

    if (json_is_true(json_object_get(rules, "everyone"))) {
        snprintf(why, n, "everyone");
        return true;
    }
    if (sl_repo_user_email(db, user_id, &a, &email, &found, &err) == SL_OK && email) {
        const char *at = strrchr(email, '@');
        json_array_foreach(json_object_get(rules, "email_domains"), i, e)
        {
            if (at && strcasecmp(at + 1, json_string_value(e)) == 0) {
                snprintf(why, n, "email_domain:%s", json_string_value(e));
                sl_arena_release(&a);
                return true;
            }
        }
    }
    sl_arena_release(&a);
    json_array_foreach(json_object_get(rules, "orgs"), i, e)
    {
        bool member;
        if (sl_repo_member_of_org_named(db, json_string_value(e), user_id, &member, &err) != SL_OK)
            return false;
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
    struct sl_repo_main m;
    enum sl_err rc = sl_repo_main_version(db, model_id, &m, err);

    memset(v, 0, sizeof(*v));
    if (rc)
        return rc;
    v->version_id = m.version_id;
    v->seq = m.seq;
    snprintf(v->commit, sizeof(v->commit), "%s", m.commit);
    snprintf(v->tier, sizeof(v->tier), "%s", m.tier);
    v->model_id = model_id;
    return SL_OK;
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
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_license_req lr;
    struct sl_license lic;
    unsigned char rnd[8];
    char *text, *kept;
    size_t len;
    enum sl_err rc;

    *note = NULL;
    rc = sl_repo_license_current(db, req_id, v->version_id, &a, &kept, log_idx_out, err);
    if (!rc && kept)
        *note = sl_xstrdup(kept);
    sl_arena_release(&a);
    if (rc || *note)
        return rc;
    memset(&lic, 0, sizeof(lic));
    rc = sl_repo_license_request(db, req_id, &lr, err);
    if (rc)
        return rc;
    snprintf(lic.purpose, sizeof(lic.purpose), "%s", lr.purpose);
    lic.expires = lr.expires;
    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), lic.id);
    snprintf(lic.model, sizeof(lic.model), "%s", model);
    snprintf(lic.commit, sizeof(lic.commit), "%s", v->commit);
    snprintf(lic.tier, sizeof(lic.tier), "%s", v->tier);
    sl__pseudonym(r, model, lr.user_id, lic.licensee);
    lic.issued = sl__now();
    if (strcmp(v->tier, "gated") == 0) {
        /* gated downloads are fingerprinted: the license says for whom */
        int64_t fp_id = 0;
        char commitment[65];
        rc = sl__fp_recipient(r, db, v->model_id, lr.user_id, &fp_id, commitment, err);
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
    rc = sl_repo_license_insert(db, lic.id, req_id, lr.grant_seq, v->version_id, lic.issued, *note,
                                err);
    if (!rc) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "type", "license.issued",
                              "model", model, "commit", v->commit, "tier", v->tier, "license",
                              lic.id, "account", lic.licensee, "expires", time_json(lic.expires));
        int64_t log_idx = -1;
        rc = sl__log_append(r, db, e, &log_idx, err);
        *log_idx_out = log_idx;
        json_decref(e);
        if (!rc)
            rc = sl_repo_license_set_log_idx(db, lic.id, log_idx, err);
    }
    if (rc) {
        free(*note);
        *note = NULL;
    }
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
    rc = sl_repo_request_approve(db, req_id, sl__now(), decided_by, expires, rule, err);
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
    struct sl_arena a = SL_ARENA_INIT;
    json_t *h = NULL;
    int64_t decided = 0;
    char *text;
    bool found;
    enum sl_err rc;

    *out = NULL;
    rc = sl_repo_request_history(db, g->id, &a, &text, &decided, &found, err);
    if (!rc && text)
        h = json_loads(text, 0, NULL);
    sl_arena_release(&a);
    if (rc)
        return rc;
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
                                  const char *purpose, json_t *fields, struct sl_arena *arena,
                                  struct sl_reg_request *out, bool *created, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    json_t *rules = NULL;
    char *fields_text = NULL, *note = NULL, *history = NULL, why[160];
    int64_t req_id = 0;
    bool autoapp, final, manual_only = false;
    enum sl_err rc;

    (void)org_id;
    memset(out, 0, sizeof(*out));
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
            rc = request_by_id(db, g.id, arena, out, err);
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
        rc = sl_repo_request_renew(db, g.id, purpose, fields_text, sl__now(), history,
                                   g.no_auto || history, err);
        req_id = g.id;
        manual_only = g.no_auto || history;
    } else {
        rc = sl_repo_request_insert(db, model_id, p->user_id, purpose, fields_text, sl__now(),
                                    &req_id, err);
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
    rc = request_by_id(db, req_id, arena, out, err);
    if (!rc && note)
        out->license = sl_arena_strdup(arena, note);
    goto out;
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
                             const char *model, struct sl_arena *arena, struct sl_reg_request *out,
                             struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
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
    return request_by_id(db, g.id, arena, out, err);
}

enum sl_err sl_reg_access_appeal(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t model_id, const char *model, const char *text,
                                 struct sl_arena *arena, struct sl_reg_request *out,
                                 struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
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
    rc = sl_repo_request_appeal(db, g.id, text, sl__now(), err);
    if (!rc)
        rc =
            log_access(r, db, "access.appealed", model, p->user_id, NULL, text, 0, NULL, NULL, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    return request_by_id(db, g.id, arena, out, err);
}

enum sl_err sl_reg_access_list(struct sl_registry *r, int64_t model_id, const char *status,
                               struct sl_arena *arena, struct sl_reg_request **out, size_t *n,
                               struct sl_error *err)
{
    static const char *const statuses[] = {"pending", "approved", "denied",
                                           "revoked", "expired",  NULL};
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_request_row *rows;
    struct sl_reg_request *v;
    size_t nrows, k = 0;
    int64_t now = sl__now();
    enum sl_err rc;

    *out = NULL;
    *n = 0;
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
    rc = sl_repo_request_list(db, model_id, arena, &rows, &nrows, err);
    if (rc || nrows == 0)
        return rc;
    v = sl_arena_alloc(arena, nrows * sizeof(*v));
    for (size_t i = 0; i < nrows; i++) {
        struct sl_reg_request *e = &v[k];
        memset(e, 0, sizeof(*e));
        e->row = rows[i];
        snprintf(e->status, sizeof(e->status), "%s", e->row.status);
        if (strcmp(e->status, "approved") == 0 && e->row.expires && e->row.expires <= now)
            snprintf(e->status, sizeof(e->status), "expired");
        e->final = strcmp(e->status, "denied") == 0 && e->row.denials >= 2;
        if (!status || strcmp(e->status, status) == 0)
            k++;
    }
    *out = k ? v : NULL;
    *n = k;
    return SL_OK;
}

enum sl_err sl_reg_access_decide(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t org_id, int64_t model_id, const char *model,
                                 const char *user, enum sl_access_action action, const char *reason,
                                 int64_t expires, struct sl_arena *arena,
                                 struct sl_reg_request *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct grant g;
    int64_t user_id = 0;
    char *note = NULL;
    enum sl_err rc;

    (void)org_id;
    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    if (action != SL_ACCESS_APPROVE && (!reason || !sl_gov_text_ok(reason, REASON_MAX)))
        return sl_error_set(err, SL_EINPUT,
                            "a reason is required: 1 to %d bytes of text on one line (the "
                            "requester sees it)",
                            REASON_MAX);
    if (action == SL_ACCESS_APPROVE && expires && expires <= sl__now())
        return sl_error_set(err, SL_EINPUT, "the expiry must be in the future");
    rc = sl_repo_user_find(db, user, &user_id, err);
    if (rc == SL_ENOTFOUND)
        return sl_error_set(err, SL_ENOTFOUND, "no user %s", user);
    if (rc)
        return rc;
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
        break;
    case SL_ACCESS_REVOKE:
        if (strcmp(g.status, "approved") != 0)
            return rollback(db, sl_error_set(err, SL_ECONFLICT,
                                             "only an approved grant can be revoked; %s's "
                                             "request is %s",
                                             user, g.status));
        break;
    }
    if (action == SL_ACCESS_APPROVE) {
        char by[SL_PSEUDONYM_LEN + 1];
        sl__pseudonym(r, model, p->user_id, by);
        rc = approve_tx(r, db, g.id, model_id, user_id, model, p->user_id, NULL, by, expires, &note,
                        err);
    } else {
        char by[SL_PSEUDONYM_LEN + 1];
        sl__pseudonym(r, model, p->user_id, by);
        if (action == SL_ACCESS_DENY)
            rc = sl_repo_request_deny(db, g.id, sl__now(), p->user_id, reason, err);
        else
            rc = sl_repo_request_revoke(db, g.id, sl__now(), p->user_id, reason, err);
        if (!rc && action == SL_ACCESS_REVOKE)
            rc = sl_repo_license_revoke_request(db, g.id, sl__now(), err);
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
    rc = request_by_id(db, g.id, arena, out, err);
    if (!rc && note)
        out->license = sl_arena_strdup(arena, note);
    free(note);
    return rc;
}

enum sl_err sl__access_revoke_user(struct sl_registry *r, struct sl_db *db, int64_t user_id,
                                   const char *reason, int *count, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_grant_ref *v;
    size_t n;
    enum sl_err rc;

    *count = 0;
    rc = sl_repo_grants_of_user(db, user_id, &a, &v, &n, err);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = sl_repo_request_revoke_unattributed(db, v[i].id, sl__now(), reason, err);
        if (!rc)
            rc = sl_repo_license_revoke_request(db, v[i].id, sl__now(), err);
        if (!rc)
            rc = log_access(r, db, "access.revoked", v[i].model, user_id, "admin", reason, 0, NULL,
                            NULL, err);
    }
    if (!rc)
        *count = (int)n;
    sl_arena_release(&a);
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
        rc = sl_repo_access_rules_put(db, model_id, text, err);
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

struct revocations {
    struct sl_revocation *list;
    size_t n, cap;
};

static int revocation_add(void *ctx, const struct sl_license_revoked *row)
{
    struct revocations *rv = ctx;

    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? 2 * rv->cap : 64;
        rv->list = sl_xrealloc(rv->list, rv->cap * sizeof(*rv->list));
    }
    snprintf(rv->list[rv->n].id, sizeof(rv->list[rv->n].id), "%s", row->id);
    rv->list[rv->n].revoked = row->revoked;
    rv->n++;
    return 0;
}

enum sl_err sl_reg_revocations(struct sl_registry *r, char **note, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct revocations rv = {NULL, 0, 0};
    size_t len;
    char *text;
    enum sl_err rc;

    *note = NULL;
    if (!db)
        return err->code;
    rc = sl_repo_licenses_revoked(db, revocation_add, &rv, err);
    if (rc) {
        free(rv.list);
        return rc;
    }
    text = sl_revocations_text(r->origin, sl__now(), rv.list, rv.n, err);
    free(rv.list);
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
    struct sl_grant_ref due[64];
    int64_t now = sl__now();
    size_t n = 0;
    bool any;
    enum sl_err rc;

    *count = 0;
    if (!db)
        return err->code;
    /* the common case, nothing due, without taking the write lock */
    rc = sl_repo_grants_due_exist(db, now, &any, err);
    if (rc || !any)
        return rc;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_grants_due(db, now, due, sizeof(due) / sizeof(due[0]), &n, err);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = sl_repo_request_expire(db, due[i].id, err);
        if (!rc)
            rc = log_access(r, db, "access.expired", due[i].model, due[i].user_id, NULL, NULL, 0,
                            NULL, NULL, err);
    }
    *count = (int)n;
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        return rollback(db, rc);
    return SL_OK;
}

enum sl_err sl_reg_grant_counts(struct sl_registry *r, struct sl_grant_counts *out,
                                struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    return sl_repo_grant_counts(db, sl__now(), out, err);
}
