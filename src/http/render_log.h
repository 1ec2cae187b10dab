/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON answers of the transparency log's API (docs/log.md), rendered
 * from the registry's typed results. Each returns a new reference.
 */
#ifndef SL_HTTP_RENDER_LOG_H
#define SL_HTTP_RENDER_LOG_H

#include <jansson.h>
#include <stddef.h>

#include "registry/registry.h"

/* [{index, entry, text}]: `entry` is the stored text parsed (null if it
 * does not parse), `text` the text itself. */
json_t *sl_render_log_entries(const struct sl_reg_log_entry *v, size_t n);

/* {model, checkpoint, checkpoint_size, versions, evaluations, grants,
 * events}: the events with their inclusion proofs in base64. */
json_t *sl_render_report(const struct sl_reg_report *rep);

#endif
