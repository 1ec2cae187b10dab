/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renders the log's typed results (registry.h) as the JSON documents of
 * GET /api/v1/log/entries and the model report. The entries themselves are
 * stored canonical JSON: parsed, never re-encoded from fields.
 */
#include "http/render_log.h"

#include "crypto/crypto.h"
#include "common/banned.h"

json_t *sl_render_log_entries(const struct sl_reg_log_entry *v, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *e = json_loads(v[i].text, 0, NULL);
        json_array_append_new(arr, json_pack("{s:I, s:o, s:s}", "index", (json_int_t)v[i].index,
                                             "entry", e ? e : json_null(), "text", v[i].text));
    }
    return arr;
}

json_t *sl_render_report(const struct sl_reg_report *rep)
{
    json_t *events = json_array(), *grants = json_object(), *versions = json_array();
    json_t *evals = json_array();

    for (size_t i = 0; i < rep->nevents; i++) {
        const struct sl_reg_report_event *ev = &rep->events[i];
        json_t *e = json_loads(ev->text, 0, NULL), *proof = json_array();
        for (size_t k = 0; k < ev->nproof; k++) {
            char b64[45];
            sl_base64(ev->proof[k], 32, b64);
            json_array_append_new(proof, json_string(b64));
        }
        json_array_append_new(events,
                              json_pack("{s:I, s:o, s:o}", "index", (json_int_t)ev->index, "entry",
                                        e ? e : json_null(), "inclusion_proof", proof));
    }
    for (size_t i = 0; i < rep->ngrants; i++)
        json_object_set_new(grants, rep->grants[i].status, json_integer(rep->grants[i].count));
    for (size_t i = 0; i < rep->nversions; i++) {
        const struct sl_reg_report_version *v = &rep->versions[i];
        json_array_append_new(
            versions, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "version", (json_int_t)v->seq,
                                "commit", v->commit, "tier", v->tier, "min_tier", v->min_tier,
                                "floor_tier", v->floor_tier, "created", (json_int_t)v->created));
    }
    for (size_t i = 0; i < rep->nevals; i++) {
        const struct sl_reg_report_eval *e = &rep->evals[i];
        json_array_append_new(evals,
                              json_pack("{s:I, s:s, s:s, s:s, s:I}", "version", (json_int_t)e->seq,
                                        "evaluator", e->evaluator, "domain", e->domain, "level",
                                        e->level, "date", (json_int_t)e->date));
    }
    return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "model", rep->model, "checkpoint",
                     rep->checkpoint, "checkpoint_size", (json_int_t)rep->checkpoint_size,
                     "versions", versions, "evaluations", evals, "grants", grants, "events",
                     events);
}
