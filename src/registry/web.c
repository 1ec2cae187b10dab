/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web UI's accounts (docs/web.md, "Sessions"): browser sessions opened
 * with an API token, self-service sign-up (open or by invitation) and the
 * admin page's lists. A session id and an invitation code are 32 random
 * bytes shown once; only their SHA-256 is stored. None of this is logged:
 * the transparency log is public and sign-ups are personal data.
 */
#include "registry/registry_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "db/repo_accounts.h"
#include "db/repo_web.h"
#include "common/banned.h"

static void random_hex(char out[SL_SESSION_HEX + 1])
{
    unsigned char rnd[32];

    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), out);
    sl_wipe(rnd, sizeof(rnd));
}

static unsigned scopes_of(const char *text)
{
    return (strstr(text, "read") ? SL_SCOPE_READ : 0) |
           (strstr(text, "write") ? SL_SCOPE_WRITE : 0) |
           (strstr(text, "admin") ? SL_SCOPE_ADMIN : 0);
}

/* The SHA-256 of a cookie value; false when it is not 64 hex digits (such a
 * value was never issued and needs no query). */
static bool session_hash(const char *id, unsigned char h[32])
{
    unsigned char raw[32];

    if (strlen(id) != SL_SESSION_HEX || !sl_unhex(id, SL_SESSION_HEX, raw, sizeof(raw)))
        return false;
    sl_sha256(id, SL_SESSION_HEX, h);
    sl_wipe(raw, sizeof(raw));
    return true;
}

enum sl_err sl_reg_session_open(struct sl_registry *r, const char *token, unsigned hours,
                                struct sl_session *s, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    unsigned char th[32], sh[32];
    char scopes[SL_REPO_SCOPES_TXT + 1];
    int64_t token_id, now = sl__now();
    bool found;
    enum sl_err rc;

    memset(s, 0, sizeof(*s));
    if (!db)
        return err->code;
    rc = sl_reg_auth(r, token, &s->who, err);
    if (rc)
        return rc;
    /* the token as sl_reg_auth read it: an "hf_" alias is the same secret */
    {
        char canon[SL_TOKEN_LEN + 1];
        snprintf(canon, sizeof(canon), "sl_%s", token + 3);
        sl__token_hash(canon, th);
        sl_wipe(canon, sizeof(canon));
    }
    rc = sl_repo_token_id(db, th, &token_id, &found, err);
    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_EAUTH, "unknown token");
    snprintf(scopes, sizeof(scopes), "%s%s%s", s->who.scopes & SL_SCOPE_READ ? "read " : "",
             s->who.scopes & SL_SCOPE_WRITE ? "write " : "",
             s->who.scopes & SL_SCOPE_ADMIN ? "admin" : "");
    random_hex(s->id);
    random_hex(s->csrf);
    session_hash(s->id, sh);
    s->expires = now + (int64_t)(hours ? hours : SL_REG_SESSION_HOURS) * 3600;
    rc = sl_repo_session_insert(db, sh, s->who.user_id, token_id, scopes, s->csrf, now, s->expires,
                                err);
    /* a user has at most SL_REG_SESSIONS_MAX: signing in once more ends the
     * oldest (a leaked or forgotten browser's) */
    if (!rc)
        rc = sl_repo_session_trim(db, s->who.user_id, sh, SL_REG_SESSIONS_MAX, err);
    if (rc)
        sl_wipe(s->id, sizeof(s->id));
    return rc;
}

enum sl_err sl_reg_session_get(struct sl_registry *r, const char *id, struct sl_session *s,
                               bool *alive, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_session_row row;
    unsigned char h[32];
    int64_t now = sl__now();
    bool found, deleted;
    enum sl_err rc;

    memset(s, 0, sizeof(*s));
    *alive = false;
    if (!db)
        return err->code;
    if (!session_hash(id, h))
        return SL_OK;
    rc = sl_repo_session_get(db, h, &row, &found, err);
    if (rc || !found)
        return rc;
    if (row.expires <= now || row.token_revoked || row.removed ||
        (row.token_expires && row.token_expires <= now))
        return sl_repo_session_delete(db, h, &deleted, err);
    *alive = true;
    s->expires = row.expires;
    snprintf(s->csrf, sizeof(s->csrf), "%s", row.csrf);
    s->who.user_id = row.user_id;
    snprintf(s->who.name, sizeof(s->who.name), "%s", row.name);
    s->who.scopes = scopes_of(row.scopes);
    s->who.admin = row.is_admin && (s->who.scopes & SL_SCOPE_ADMIN);
    return SL_OK;
}

enum sl_err sl_reg_session_close(struct sl_registry *r, const char *id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    unsigned char h[32];
    bool deleted;

    if (!db)
        return err->code;
    if (!session_hash(id, h))
        return SL_OK;
    return sl_repo_session_delete(db, h, &deleted, err);
}

enum sl_err sl_reg_session_reap(struct sl_registry *r, int *count, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *count = 0;
    if (!db)
        return err->code;
    return sl_repo_session_reap(db, sl__now(), count, err);
}

/* ---- the sign-up limit ---- */

enum sl_err sl_reg_signup_take(struct sl_registry *r, const char *addr, bool *allowed,
                               struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    unsigned char h[32];
    char msg[96];
    int n;
    enum sl_err rc;

    *allowed = false;
    if (!db)
        return err->code;
    /* keyed, so nobody holding the database alone can tell which address
     * signed up by hashing the few billion IPv4 addresses */
    n = snprintf(msg, sizeof(msg), "signup\n%s", addr);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return sl_error_set(err, SL_EINPUT, "client address is over %zu bytes", sizeof(msg) - 8);
    sl_hmac_sha256(r->log_secret, sizeof(r->log_secret), msg, (size_t)n, h);
    rc = sl_repo_signup_take(db, h, sl__now(), SL_SIGNUP_WINDOW, SL_SIGNUPS_PER_HOUR, allowed, err);
    sl_wipe(h, sizeof(h));
    return rc;
}

enum sl_err sl_reg_signup_prune(struct sl_registry *r, int *count, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *count = 0;
    if (!db)
        return err->code;
    return sl_repo_signup_prune(db, sl__now() - SL_SIGNUP_WINDOW, count, err);
}

/* ---- sign-up ---- */

/* A free-text field: at most `max` bytes, no control characters. */
static enum sl_err text_ok(const char *field, const char *v, size_t max, bool required,
                           struct sl_error *err)
{
    if (!v || !*v) {
        if (required)
            return sl_error_set(err, SL_EUSAGE, "%s is required", field);
        return SL_OK;
    }
    if (strlen(v) > max)
        return sl_error_set(err, SL_EUSAGE, "%s is over %zu bytes", field, max);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return sl_error_set(err, SL_EUSAGE, "%s has a control character", field);
    return SL_OK;
}

/* LOCAL@DOMAIN with a dot in the domain, no spaces, one '@'. */
static bool email_shape_ok(const char *e)
{
    const char *at = strchr(e, '@'), *dot;

    if (!at || at == e || strchr(at + 1, '@'))
        return false;
    for (const char *p = e; *p; p++)
        if (isspace((unsigned char)*p) || *p == '<' || *p == '>' || *p == ',')
            return false;
    dot = strrchr(at + 1, '.');
    return dot && dot > at + 1 && dot[1] != '\0';
}

enum sl_err sl_reg_signup_check(const struct sl_signup_form *f, bool need_invite,
                                struct sl_error *err)
{
    enum sl_err rc;

    if (!f->user || !*f->user)
        return sl_error_set(err, SL_EUSAGE, "user is required");
    if (!sl_name_ok(f->user))
        return sl_error_set(err, SL_EUSAGE,
                            "user \"%.100s\" must be 1-96 letters, digits, '.', '_' or '-'",
                            f->user);
    rc = text_ok("name", f->name, SL_SIGNUP_FIELD_MAX, true, err);
    if (!rc)
        rc = text_ok("email", f->email, SL_SIGNUP_FIELD_MAX, true, err);
    if (!rc && !email_shape_ok(f->email))
        rc = sl_error_set(err, SL_EUSAGE,
                          "email \"%.100s\" is not an address like name@example.org", f->email);
    if (!rc)
        rc = text_ok("affiliation", f->affiliation, SL_SIGNUP_FIELD_MAX, false, err);
    if (!rc)
        rc = text_ok("country", f->country, SL_SIGNUP_COUNTRY_MAX, false, err);
    if (!rc && need_invite && (!f->invite || !*f->invite))
        rc = sl_error_set(err, SL_EFORBIDDEN,
                          "sign-up on this server needs an invitation code (invite)");
    if (!rc && f->invite && strlen(f->invite) > SL_INVITE_CODE_LEN)
        rc = sl_error_set(err, SL_EFORBIDDEN, "unknown invitation code");
    return rc;
}

static void invite_hash(const char *code, unsigned char h[32])
{
    sl_sha256(code, strlen(code), h);
}

enum sl_err sl_reg_signup(struct sl_registry *r, const struct sl_signup_form *f, bool need_invite,
                          char *token, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_invite_row inv = {0};
    int64_t user_id, now = sl__now();
    const char *country = f->country && *f->country ? f->country : NULL;
    bool found = false, taken;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_reg_signup_check(f, need_invite, err);
    if (rc)
        return rc;
    if (need_invite) {
        unsigned char h[32];
        invite_hash(f->invite, h);
        rc = sl_repo_invite_get(db, h, &a, &inv, &found, err);
        if (rc)
            goto out;
        if (!found)
            rc = sl_error_set(err, SL_EFORBIDDEN, "unknown invitation code");
        else if (inv.used_by)
            rc = sl_error_set(err, SL_EFORBIDDEN, "this invitation was already used");
        else if (inv.expires <= now)
            rc = sl_error_set(err, SL_EFORBIDDEN, "this invitation expired");
        /* removing an account ends what it handed out: tokens, sessions and
         * the invitations of a removed admin */
        else if (inv.creator_removed)
            rc = sl_error_set(err, SL_EFORBIDDEN,
                              "this invitation's admin was removed, so it no longer admits "
                              "anyone: ask another admin");
        else if (inv.email && strcasecmp(inv.email, f->email) != 0)
            rc = sl_error_set(err, SL_EFORBIDDEN, "this invitation is for another email address");
        if (rc)
            goto out;
    }
    {
        /* after the invitation, so that only an invited caller learns which
         * names exist. "Ann" next to "ann" would pass for it in every list a publisher
         * reads; sign-up takes no name another account has in another case */
        char *existing;
        rc = sl_repo_user_name_nocase(db, f->user, &a, &existing, err);
        if (rc)
            goto out;
        if (existing && strcmp(existing, f->user) == 0) {
            rc = sl_error_set(err, SL_ECONFLICT, "user \"%s\" already exists", f->user);
            goto out;
        }
        if (existing) {
            rc = sl_error_set(err, SL_ECONFLICT,
                              "user name \"%s\" is taken (by \"%.100s\": names that differ only "
                              "in case are one name)",
                              f->user, existing);
            goto out;
        }
    }
    rc = sl_db_begin(db, err);
    if (rc)
        goto out;
    /* the users row keeps a country only in the two-letter form the CLI
     * takes; the profile keeps what was typed */
    if (country && !(strlen(country) == 2 && isupper((unsigned char)country[0]) &&
                     isupper((unsigned char)country[1])))
        country = NULL;
    rc = sl_repo_user_insert(db, f->user, f->email,
                             f->affiliation && *f->affiliation ? f->affiliation : NULL, country,
                             false, now, &user_id, err);
    if (!rc)
        rc = sl__token_insert(db, user_id, SL_SCOPE_READ | SL_SCOPE_WRITE, 0, token, err);
    if (!rc)
        rc = sl_repo_profile_insert(db, user_id, f->name, f->email,
                                    f->affiliation && *f->affiliation ? f->affiliation : NULL,
                                    f->country && *f->country ? f->country : NULL, now, err);
    if (!rc && need_invite) {
        rc = sl_repo_invite_use(db, inv.id, user_id, now, &taken, err);
        if (!rc && !taken)
            rc = sl_error_set(err, SL_EFORBIDDEN, "this invitation was already used");
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        sl_db_rollback(db);
        sl_wipe(token, SL_TOKEN_LEN + 1);
    }
out:
    sl_arena_release(&a);
    return rc;
}

/* ---- invitations ---- */

enum sl_err sl_reg_invite_new(struct sl_registry *r, const struct sl_principal *p,
                              const char *email, int days, char code[SL_INVITE_CODE_LEN + 1],
                              int64_t *id, int64_t *expires, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    unsigned char h[32];
    int64_t now = sl__now();
    enum sl_err rc;

    if (!db)
        return err->code;
    if (days < 1 || days > SL_INVITE_DAYS_MAX)
        return sl_error_set(err, SL_EUSAGE, "days must be 1-%d", SL_INVITE_DAYS_MAX);
    if (email && *email) {
        rc = text_ok("email", email, SL_SIGNUP_FIELD_MAX, true, err);
        if (rc)
            return rc;
        if (!email_shape_ok(email))
            return sl_error_set(err, SL_EUSAGE,
                                "email \"%.100s\" is not an address like name@example.org", email);
    } else {
        email = NULL;
    }
    memcpy(code, "inv_", 4);
    random_hex(code + 4);
    invite_hash(code, h);
    *expires = now + (int64_t)days * 86400;
    rc = sl_repo_invite_insert(db, h, email, p->user_id, now, *expires, id, err);
    if (rc)
        sl_wipe(code, SL_INVITE_CODE_LEN + 1);
    return rc;
}

enum sl_err sl_reg_invites(struct sl_registry *r, struct sl_arena *a, struct sl_invite_row **rows,
                           size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *rows = NULL;
    *n = 0;
    if (!db)
        return err->code;
    return sl_repo_invite_list(db, a, rows, n, err);
}

enum sl_err sl_reg_invite_delete(struct sl_registry *r, int64_t id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    bool deleted;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_repo_invite_delete(db, id, &deleted, err);
    if (!rc && !deleted)
        rc = sl_error_set(err, SL_ENOTFOUND, "no invitation %lld", (long long)id);
    return rc;
}

/* ---- the admin page's lists ---- */

enum sl_err sl_reg_users(struct sl_registry *r, struct sl_arena *a, struct sl_user_row **rows,
                         size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *rows = NULL;
    *n = 0;
    if (!db)
        return err->code;
    return sl_repo_user_list(db, a, rows, n, err);
}

enum sl_err sl_reg_orgs(struct sl_registry *r, const struct sl_principal *p, struct sl_arena *a,
                        struct sl_org_summary **rows, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_reg_model_summary *models = NULL;
    char **names = NULL;
    size_t nnames = 0, nmodels = 0;
    enum sl_err rc;

    *rows = NULL;
    *n = 0;
    if (!db)
        return err->code;
    rc = sl_repo_org_list(db, a, &names, &nnames, err);
    if (!rc)
        rc = sl_reg_models(r, p, a, &models, &nmodels, err);
    if (rc)
        return rc;
    if (nnames == 0)
        return SL_OK;
    *rows = sl_arena_alloc(a, nnames * sizeof(**rows));
    for (size_t i = 0; i < nnames; i++) {
        (*rows)[i].org = names[i];
        (*rows)[i].models = 0;
        /* as GET /api/v1/models lists them for the caller */
        for (size_t j = 0; j < nmodels; j++)
            if (strcmp(models[j].org, names[i]) == 0)
                (*rows)[i].models++;
    }
    *n = nnames;
    return SL_OK;
}
