/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may call a model version through the gateway (docs/hosted.md). The
 * version's tier and the caller's grant are read from the database on every
 * check, so a revocation or a tier change bites at the next check.
 */
#include "hosted/hosted.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

bool sl_hosted_serves(const struct sl_hosted_backend *b, int64_t version_id)
{
    return b->version_id == 0 || b->version_id == version_id;
}

enum sl_err sl_hosted_may_call(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, struct sl_error *err)
{
    struct sl_hosted_access a;
    struct sl_version_ref now = *v;
    struct sl_db *db = sl_reg_db(r, err);
    char hint[300];

    if (!db)
        return err->code;
    if (sl_repo_hosted_access(db, v->version_id, p->user_id, (int64_t)time(NULL), &a, err) != SL_OK)
        return err->code == SL_ENOTFOUND
                   ? sl_error_set(err, SL_EFORBIDDEN, "the version is no longer published")
                   : err->code;
    if (strcmp(a.tier, "withheld") == 0)
        return sl_error_set(err, SL_EFORBIDDEN, "the version is withheld: nobody may call it");
    if (strcmp(a.tier, "open") == 0)
        return SL_OK;
    if (p->user_id == 0)
        return sl_error_set(err, SL_EAUTH,
                            "the version is in tier %s: use a sluice token as the "
                            "API key",
                            a.tier);
    if (strcmp(a.tier, "hosted") == 0) {
        if (a.grant_live || p->admin || sl_reg_is_member(r, p, v->org_id))
            return SL_OK;
        return sl_error_set(err, SL_EFORBIDDEN,
                            "the version is in tier hosted: it needs an approved grant or "
                            "membership of the org");
    }
    /* click and gated: the download rule, on the tier as it is now */
    snprintf(now.tier, sizeof(now.tier), "%s", a.tier);
    return sl_reg_may_download(r, p, &now, "the model", hint, sizeof(hint), err);
}
