/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON answers of the access and account endpoints, rendered from the
 * registry's typed results (docs/api.md, docs/access.md): license terms
 * and acceptances, access requests, org members, and the Hugging Face
 * model listing and whoami-v2 document. Each returns a new reference; the registry decides,
 * this file only writes the wire format.
 */
#ifndef SL_HTTP_RENDER_ACCESS_H
#define SL_HTTP_RENDER_ACCESS_H

#include <jansson.h>

#include "registry/registry.h"

/* {model, version, commit, tier, license_sha256, license, license_given,
 * accepted} */
json_t *sl_render_terms(const char *model, const struct sl_version_ref *v,
                        const struct sl_reg_terms *t);

/* {model, version, license_sha256, accepted, new} */
json_t *sl_render_acceptance(const char *model, const struct sl_version_ref *v,
                             const struct sl_reg_acceptance *a);

/* {model, user, status, purpose, fields, created, decided, reason, appeal,
 * appealed, expires, auto_rule, final, history} and "license" when one was
 * issued with the answer. */
json_t *sl_render_request(const char *model, const struct sl_reg_request *q);

/* [request, ...] */
json_t *sl_render_requests(const char *model, const struct sl_reg_request *q, size_t n);

/* [{user, role}, ...] */
json_t *sl_render_org_members(const struct sl_member_row *rows, size_t n);

/* The items of a GET /api/models page (the Hub's shape). */
json_t *sl_render_hf_models(const struct sl_repo_model_item *items, size_t n);

/* The GET /api/whoami-v2 document of `p` (the Hub's shape). */
json_t *sl_render_whoami(const struct sl_principal *p, const struct sl_reg_whoami *w);

#endif
