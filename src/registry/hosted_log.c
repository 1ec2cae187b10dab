/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daily usage entry of a hosted model in the transparency log
 * (docs/hosted.md, "Usage"; docs/log.md): once a UTC day has ended, one
 * "hosted.usage" event per model that was called or refused that day, with
 * counts only (calls, tokens, distinct callers, refusals by reason): no
 * user, no pseudonym, no text. Run by the leader's ticker.
 */
#include "registry/registry_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/date.h"
#include "db/repo_hosted.h"
#include "common/banned.h"

/* The last day this process found nothing left to log before (a check a
 * day, not two a second). */
static atomic_int_least32_t usage_checked_day = -1;

#define DAYS_PER_ROUND 64 /* entries appended per round, at most */

static enum sl_err log_day(struct sl_registry *r, struct sl_db *db, const struct sl_hosted_day *d,
                           struct sl_error *err)
{
    char model[2 * 97 + 2], day[16];
    json_t *refusals = json_object(), *e;
    enum sl_err rc;

    snprintf(model, sizeof(model), "%s/%s", d->org, d->name);
    for (size_t i = 0; i < d->nreasons; i++)
        json_object_set_new(refusals, d->refusals[i].reason, json_integer(d->refusals[i].n));
    rc = sl_db_begin(db, err);
    if (rc) {
        json_decref(refusals);
        return rc;
    }
    /* the mark first: a second server logging the same day conflicts here
     * and rolls back before appending anything */
    rc = sl_repo_usage_day_logged(db, d->model_id, d->day, err);
    if (!rc) {
        e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "type", "hosted.usage", "model",
                      model, "day", sl_date_format((int32_t)d->day, day), "calls",
                      (json_int_t)d->calls, "prompt_tokens", (json_int_t)d->prompt_tokens,
                      "completion_tokens", (json_int_t)d->completion_tokens, "users",
                      (json_int_t)d->users, "refusals", refusals);
        refusals = NULL;
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    json_decref(refusals);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    return rc;
}

enum sl_err sl_reg_log_hosted_usage(struct sl_registry *r, size_t *logged, struct sl_error *err)
{
    struct sl_db *db;
    struct sl_hosted_day *days = NULL;
    int32_t today = sl_date_today();
    enum sl_err rc;
    size_t n = 0;

    *logged = 0;
    if (atomic_load(&usage_checked_day) == today)
        return SL_OK;
    db = sl_reg_db(r, err);
    if (!db)
        return err->code;
    rc = sl_repo_usage_days_unlogged(db, today, DAYS_PER_ROUND, &days, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = log_day(r, db, &days[i], err);
        if (rc == SL_ECONFLICT) {
            rc = SL_OK; /* logged by another server meanwhile */
            continue;
        }
        if (!rc)
            (*logged)++;
    }
    free(days);
    if (!rc && n < DAYS_PER_ROUND)
        atomic_store(&usage_checked_day, today);
    return rc;
}
