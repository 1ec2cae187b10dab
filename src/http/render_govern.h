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

#endif
