/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Hugging Face Hub read API's wire format (docs/api.md): the model info
 * and file tree documents rendered from what the registry says of a version
 * (registry.h, struct sl_hf_info and struct sl_hf_file), shaped the way
 * huggingface_hub and @huggingface/hub parse them. Private to src/http/.
 */
#ifndef SL_HTTP_RENDER_HF_H
#define SL_HTTP_RENDER_HF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "registry/registry.h"

/* The model info of version `v` of `org/name` (new reference). */
json_t *sl_render_hf_info(const struct sl_version_ref *v, const char *org, const char *name,
                          const struct sl_hf_info *info);

/* The tree entries of `files` below folder `dir` ("" or NULL: the top),
 * subfolders listed once each, or entered too when `recursive`. NULL with
 * SL_ENOTFOUND naming `dir` when no file lies below it. */
json_t *sl_render_hf_tree(const struct sl_hf_file *files, size_t n, const char *dir, bool recursive,
                          struct sl_error *err);

#endif
