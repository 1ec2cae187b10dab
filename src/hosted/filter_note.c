/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Refusals and flags of the hosted filters, counted and logged (filter.h,
 * sl_hosted_filter_note): a count per model, UTC day, reason and rule id in
 * the database, for the publisher and the daily usage entry, and one JSON
 * line on the server's log naming the caller only by their per-model
 * pseudonym. Neither keeps the caller's text.
 */
#include "hosted/filter.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/jsonout.h"
#include "registry/registry.h"
#include "common/banned.h"

void sl_hosted_filter_note(struct sl_registry *r, int64_t model_id, const char *model,
                           int64_t user_id, const char *reason, const char *rule)
{
    struct sl_buf b = SL_BUF_INIT(1024);
    struct sl_error err;
    char who[22];

    if (!r)
        return;
    sl_error_clear(&err);
    if (sl_reg_refusal_count(r, model_id, reason, rule, &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"hosted_filter_count_lost\",\"message\":\"%s\"}\n",
                sl_strerror(err.code));
    if (user_id)
        sl_reg_pseudonym(r, model, user_id, who);
    sl_buf_adds(&b, "{\"caller\":");
    if (user_id)
        sl_json_put_string(&b, who, strlen(who));
    else
        sl_buf_adds(&b, "null");
    sl_buf_adds(&b, ",\"event\":\"hosted_filter\",\"model\":");
    sl_json_put_string(&b, model, strlen(model));
    sl_buf_adds(&b, ",\"reason\":");
    sl_json_put_string(&b, reason, strlen(reason));
    sl_buf_adds(&b, ",\"rule\":");
    sl_json_put_string(&b, rule, strlen(rule));
    sl_buf_adds(&b, "}\n");
    fwrite(b.data, 1, b.len, stderr);
    sl_buf_release(&b);
}
