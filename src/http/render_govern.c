/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renders the governance routes' answers (render_govern.h). Times are
 * shown as the log shows them (sl_gov_time: YYYY-MM-DDTHH:MM:SSZ).
 */
#include "http/render_govern.h"

#include "tlog/govdoc.h"
#include "common/banned.h"

json_t *sl_render_eval_keys(const struct sl_eval_key_info *keys, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        char t[21], t2[21];
        json_t *k = json_pack("{s:s, s:s, s:s}", "name", keys[i].name, "vkey", keys[i].vkey,
                              "added", sl_gov_time(keys[i].added, t));
        if (keys[i].revoked)
            json_object_set_new(k, "revoked", json_string(sl_gov_time(keys[i].revoked_at, t2)));
        json_array_append_new(arr, k);
    }
    return arr;
}

json_t *sl_render_eval_key_added(const char *name, const char *vkey)
{
    return json_pack("{s:s, s:s}", "name", name, "vkey", vkey);
}

json_t *sl_render_eval_key_removed(const char *name)
{
    return json_pack("{s:s, s:b}", "name", name, "revoked", 1);
}

json_t *sl_render_attestations(const struct sl_attestation_info *list, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        char t[21];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "evaluator",
                                             list[i].evaluator, "domain", list[i].domain, "level",
                                             list[i].level, "method", list[i].method, "date",
                                             sl_gov_time(list[i].date, t), "note", list[i].note));
    }
    return arr;
}

json_t *sl_render_schedule(const struct sl_schedule_step *steps, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        const struct sl_schedule_step *s = &steps[i];
        char t1[21], t2[21];
        json_array_append_new(
            arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s?, s:s?}", "id", (json_int_t)s->id,
                           "version", (json_int_t)s->version, "commit", s->commit, "tier", s->tier,
                           "at", sl_gov_time(s->at, t1), "status", s->status, "reason", s->reason,
                           "done", s->has_done ? sl_gov_time(s->done, t2) : NULL));
    }
    return arr;
}

json_t *sl_render_schedule_added(const struct sl_schedule_step *s)
{
    char when[21];

    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:n}", "id", (json_int_t)s->id, "version",
                     (json_int_t)s->version, "commit", s->commit, "tier", s->tier, "at",
                     sl_gov_time(s->at, when), "status", s->status, "reason");
}
