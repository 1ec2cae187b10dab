/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's filters as governance (docs/hosted.md, "Filters"):
 * setting or clearing a model's filter is one transaction with its
 * transparency-log entry, and refusals are counted per model, day, reason
 * and rule. The policy is validated and made canonical by src/hosted/
 * before it comes here; the log entry carries the rule ids, their places
 * and actions, the cap and the allowed parameters, but the patterns only as
 * a keyed digest of the whole policy: a pattern may name what a publisher
 * keeps secret (a code name, a key's prefix), and nobody without the log
 * secret can confirm a guess of it.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <string.h>

#include "db/repo_hosted.h"
#include "common/banned.h"

void sl_reg_pseudonym(const struct sl_registry *r, const char *model, int64_t user_id, char out[22])
{
    sl__pseudonym(r, model, user_id, out);
}

enum sl_err sl_reg_filter_set(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                              const char *model, const char *policy, json_t *summary,
                              int64_t *log_idx, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char by[SL_PSEUDONYM_LEN + 1], digest[SL_TEXT_DIGEST_LEN + 1];
    json_t *e;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_filter_put(db, model_id, policy, sl__now(), err);
    if (!rc) {
        e = json_deep_copy(summary);
        json_object_set_new(e, "type", json_string("hosted.filter_set"));
        json_object_set_new(e, "model", json_string(model));
        sl__text_digest(r, policy, digest);
        json_object_set_new(e, "filter", json_string(digest));
        sl__pseudonym(r, model, p->user_id, by);
        json_object_set_new(e, "by", json_string(by));
        rc = sl__log_append(r, db, e, log_idx, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    return rc;
}

enum sl_err sl_reg_filter_clear(struct sl_registry *r, const struct sl_principal *p,
                                int64_t model_id, const char *model, bool *had,
                                struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char by[SL_PSEUDONYM_LEN + 1];
    enum sl_err rc;

    *had = false;
    if (!db)
        return err->code;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_filter_clear(db, model_id, had, err);
    if (!rc && *had) {
        json_t *e = json_pack("{s:s, s:s}", "type", "hosted.filter_cleared", "model", model);
        sl__pseudonym(r, model, p->user_id, by);
        json_object_set_new(e, "by", json_string(by));
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    return rc;
}

enum sl_err sl_reg_filter_get(struct sl_registry *r, int64_t model_id, char **policy,
                              int64_t *updated, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *policy = NULL;
    if (!db)
        return err->code;
    return sl_repo_filter_get(db, model_id, policy, updated, err);
}

enum sl_err sl_reg_refusal_count(struct sl_registry *r, int64_t model_id, const char *reason,
                                 const char *rule, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return sl_repo_refusal_add(db, model_id, sl__now() / 86400, reason, rule, err);
}

enum sl_err sl_reg_refusal_list(struct sl_registry *r, int64_t model_id, int64_t since_day,
                                struct sl_hosted_refusal **out, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *out = NULL;
    *n = 0;
    if (!db)
        return err->code;
    return sl_repo_refusal_list(db, model_id, since_day, out, n, err);
}
