/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON answers of the governance routes (docs/api.md): evaluator keys,
 * attestations and the staged-release schedule, rendered from the structs
 * src/registry/govern.c returns. Private to src/http/.
 */
#ifndef SL_HTTP_RENDER_GOVERN_H
#define SL_HTTP_RENDER_GOVERN_H

#include <jansson.h>
#include <stddef.h>

#include "registry/registry.h"

/* [{name, vkey, added, revoked?}] (new reference). */
json_t *sl_render_eval_keys(const struct sl_eval_key_info *keys, size_t n);

/* {name, vkey}: a key just registered. */
json_t *sl_render_eval_key_added(const char *name, const char *vkey);

/* {name, revoked: true}: a key just revoked. */
json_t *sl_render_eval_key_removed(const char *name);

/* [{evaluator, domain, level, method, date, note}]. */
json_t *sl_render_attestations(const struct sl_attestation_info *list, size_t n);

/* [{id, version, commit, tier, at, status, reason, done}]: null reason and
 * done when there are none. */
json_t *sl_render_schedule(const struct sl_schedule_step *steps, size_t n);

/* {id, version, commit, tier, at, status, reason}: a step just added. */
json_t *sl_render_schedule_added(const struct sl_schedule_step *step);

/* {tier, min_tier, floor_tier, held_by, moved, old_tier} merged into
 * `into` (an answer that applied a decision). */
void sl_render_gov_state(json_t *into, const struct sl_gov_state *s);

/* {attestation: {evaluator, domain, level, method, commit}, decision} and
 * the state. */
json_t *sl_render_attested(const struct sl_attest_result *res);

/* {model, version, commit, tier, min_tier, floor_tier, held_by: [id],
 * obligations}. */
json_t *sl_render_obligations(const char *model, const struct sl_obligations *o);

/* {model, version, obligation, status: "satisfied"} and the state. */
json_t *sl_render_obligation_satisfied(const char *model, int64_t version, const char *id,
                                       const struct sl_gov_state *s);

/* After success {model, version, commit, tier, floor_tier, min_tier,
 * old_tier}; after a refusal {decision, floor_tier, held_by}; else NULL. */
json_t *sl_render_tier_set(const char *model, const struct sl_tier_result *res);

#endif
