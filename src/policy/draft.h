/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-filled drafts of the documents regulators ask for (`sluice draft`,
 * docs/drafts.md): an EU Art. 52 notification, Annex XI and XII
 * documentation, the EU training-content summary, the California SB 53
 * transparency report and framework outline, the New York RAISE
 * transparency report. Pure: the caller fetches the version, its decision
 * (with its log entry and proof), attestations and obligations; this builds
 * the draft as JSON and renders it as Markdown. Every field the facts cannot
 * fill reads TODO(<fact key>) or TODO(<question>).
 */
#ifndef SL_POLICY_DRAFT_H
#define SL_POLICY_DRAFT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

struct sl_draft_in {
    const char *form;  /* one of sl_draft_forms() */
    const char *model; /* "org/name" */
    json_t *version;   /* GET .../versions/{rev}: version, commit, created, tier, files, inspect */
    json_t *decision;  /* GET .../decision: the decision with log_index and log_proof */
    json_t *attestations;  /* GET .../attestations (array), or NULL */
    json_t *obligations;   /* GET .../obligations, or NULL */
    const char *log_check; /* how the log proof was checked ("verified with ..."), or NULL */
};

/* The form ids, NULL-terminated, and one line describing each. */
const char *const *sl_draft_forms(void);
const char *sl_draft_form_title(const char *form);

/* Builds the draft (new reference in `*out`): {form, title, cite, model,
 * version, commit, applies, sections: [{heading, fields: [{label, value} or
 * {label, todo}]}], todos, decision: {as_of, min_tier, packs, obligation},
 * log: {index, proof, check}}. SL_EUSAGE for an unknown form, SL_EINPUT when
 * the decision carries no log entry. */
enum sl_err sl_draft_build(const struct sl_draft_in *in, json_t **out, struct sl_error *err);

/* Renders a draft built by sl_draft_build() as Markdown (caller frees). */
char *sl_draft_markdown(json_t *draft);

#endif
