/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON answers of the native read API (docs/api.md): the model list, a
 * model, a version, rendered from the registry's typed results. Each
 * returns a new reference.
 */
#ifndef SL_HTTP_RENDER_READ_H
#define SL_HTTP_RENDER_READ_H

#include <jansson.h>
#include <stddef.h>

#include "registry/registry.h"

/* [{model, tier, latest: {version, commit}}] */
json_t *sl_render_models(const struct sl_reg_model_summary *v, size_t n);

/* {model, tier, refs, versions, downloads, downloads_all_time} */
json_t *sl_render_model(const char *org, const char *name, const struct sl_reg_model_doc *d);

/* {model, version, commit, tier, min_tier, created, bytes_total[, files,
 * inspect], decision, license, floor_tier}: the stored documents parsed
 * (null when absent or unreadable). */
json_t *sl_render_version(const char *org, const char *name, const struct sl_version_ref *v,
                          const struct sl_reg_version_doc *d);

#endif
