/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prompt retention of the hosted gateway as governance (docs/hosted.md,
 * "Retention"): by default nothing a caller sends or gets is stored; a
 * publisher may keep prompts and completions for N days for abuse review.
 * Setting or clearing it is one transaction with its transparency-log
 * entry (the days and the setter's pseudonym: policy only, never text);
 * the leader's ticker deletes what is due.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <string.h>

#include "db/repo_hosted.h"
#include "common/banned.h"

enum sl_err sl_reg_retention_set(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t model_id, const char *model, int64_t days, bool *had,
                                 int64_t *log_idx, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char by[SL_PSEUDONYM_LEN + 1];
    bool was = false;
    enum sl_err rc;

    if (log_idx)
        *log_idx = -1;
    if (!db)
        return err->code;
    if (days < 0 || days > SL_HOSTED_RETAIN_DAYS_MAX)
        return sl_error_set(err, SL_EINPUT, "days must be a whole number from 1 to %d, got %lld",
                            SL_HOSTED_RETAIN_DAYS_MAX, (long long)days);
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_retention_set(db, model_id, days, sl__now(), &was, err);
    /* clearing what is not set changes nothing and logs nothing */
    if (!rc && (days > 0 || was)) {
        json_t *e =
            days > 0 ? json_pack("{s:s, s:s, s:I}", "type", "hosted.retention_set", "model", model,
                                 "days", (json_int_t)days)
                     : json_pack("{s:s, s:s}", "type", "hosted.retention_cleared", "model", model);
        sl__pseudonym(r, model, p->user_id, by);
        json_object_set_new(e, "by", json_string(by));
        rc = sl__log_append(r, db, e, log_idx, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    if (!rc && had)
        *had = was;
    return rc;
}

enum sl_err sl_reg_retention_get(struct sl_registry *r, int64_t model_id, int64_t *days,
                                 int64_t *updated, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *days = 0;
    if (!db)
        return err->code;
    return sl_repo_retention_get(db, model_id, days, updated, err);
}

enum sl_err sl_reg_retained_list(struct sl_registry *r, int64_t model_id, int64_t since,
                                 int64_t after, struct sl_hosted_retained **out, size_t *n,
                                 bool *more, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *out = NULL;
    *n = 0;
    *more = false;
    if (!db)
        return err->code;
    return sl_repo_retained_list(db, model_id, since, after, SL_HOSTED_RETAINED_LIST_MAX,
                                 SL_HOSTED_RETAINED_LIST_BYTES, out, n, more, err);
}

enum sl_err sl_reg_retained_expire(struct sl_registry *r, int64_t *deleted, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *deleted = 0;
    if (!db)
        return err->code;
    return sl_repo_retained_expire(db, sl__now(), deleted, err);
}
