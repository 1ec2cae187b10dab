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

void sl_render_gov_state(json_t *into, const struct sl_gov_state *s)
{
    json_t *st =
        json_pack("{s:s, s:s, s:s, s:O, s:b, s:s}", "tier", s->tier, "min_tier", s->min_tier,
                  "floor_tier", s->floor_tier, "held_by", s->held_by ? s->held_by : json_null(),
                  "moved", s->moved, "old_tier", s->old_tier);

    json_object_update(into, st);
    json_decref(st);
}

json_t *sl_render_attested(const struct sl_attest_result *res)
{
    json_t *out = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}, s:O}", "attestation", "evaluator",
                            res->evaluator, "domain", res->domain, "level", res->level, "method",
                            res->method, "commit", res->commit, "decision", res->decision);

    sl_render_gov_state(out, &res->state);
    return out;
}

json_t *sl_render_obligations(const char *model, const struct sl_obligations *o)
{
    json_t *ids = json_array(), *e;
    size_t i;

    json_array_foreach(o->held_by, i, e) json_array_append(ids, json_object_get(e, "id"));
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:O}", "model", model, "version",
                     (json_int_t)o->version, "commit", o->commit, "tier", o->tier, "min_tier",
                     o->min_tier, "floor_tier", o->floor_tier, "held_by", ids, "obligations",
                     o->obligations);
}

json_t *sl_render_obligation_satisfied(const char *model, int64_t version, const char *id,
                                       const struct sl_gov_state *s)
{
    json_t *out = json_pack("{s:s, s:I, s:s, s:s}", "model", model, "version", (json_int_t)version,
                            "obligation", id, "status", "satisfied");

    sl_render_gov_state(out, s);
    return out;
}

json_t *sl_render_tier_set(const char *model, const struct sl_tier_result *res)
{
    if (res->refused)
        return json_pack("{s:O, s:s, s:O}", "decision", res->decision, "floor_tier",
                         res->floor_tier, "held_by", res->held_by);
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "model", model, "version",
                     (json_int_t)res->version, "commit", res->commit, "tier", res->tier,
                     "floor_tier", res->floor_tier, "min_tier", res->min_tier, "old_tier",
                     res->old_tier);
}
