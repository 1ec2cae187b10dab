/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy packs and the classifier (DESIGN §4). Pure: the caller reads files
 * and hands text in; evaluation takes facts, packs and a date and returns a
 * decision as a JSON tree (serialise it with sl_json_canonical()).
 */
#ifndef SL_POLICY_POLICY_H
#define SL_POLICY_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "compute/compute.h"

/* Tiers, least to most restricted. */
enum sl_tier { SL_TIER_OPEN, SL_TIER_CLICK, SL_TIER_GATED, SL_TIER_HOSTED, SL_TIER_WITHHELD };

const char *sl_tier_name(enum sl_tier t);
bool sl_tier_parse(const char *s, enum sl_tier *t);

struct sl_packset;

/* Summary of one loaded pack, for `sluice policy list`. Strings belong to the
 * pack set. */
struct sl_pack_info {
    const char *id;
    const char *version;
    const char *title;
    const char *jurisdiction;
    const char *status;
    const char *source; /* "built-in" or the file it came from */
    bool default_active;
    int32_t effective; /* INT32_MIN when none */
    int32_t rescinded; /* INT32_MAX when none */
    size_t nrules;
    size_t nobligations;
};

/* Loads the packs compiled into the program. The caller frees the set with
 * sl_packset_free(). */
enum sl_err sl_packset_builtin(struct sl_packset **out, struct sl_error *err);

/* Returns a new, empty pack set. */
struct sl_packset *sl_packset_new(void);

/* Adds (or, for an id already present, replaces) a pack from JSON text;
 * `source` names it in messages and listings. Obligation references are
 * checked by sl_packset_check() once all packs are in. */
enum sl_err sl_packset_add(struct sl_packset *ps, const char *source, const char *text, size_t len,
                           struct sl_error *err);

/* Adds an earlier version of a pack, kept so that old decisions can be
 * re-run (`--pack ID@VERSION`); it is never evaluated by default, listed or
 * logged as active. Fails when that id and version are already loaded. */
enum sl_err sl_packset_add_version(struct sl_packset *ps, const char *source, const char *text,
                                   size_t len, struct sl_error *err);

/* Number of kept earlier versions, and "ID@VERSION" of the i-th (borrowed). */
size_t sl_packset_history_count(const struct sl_packset *ps);
const char *sl_packset_history_ref(const struct sl_packset *ps, size_t i, char *buf, size_t len);

/* Hex SHA-256 of a pack's compact JSON, "ID" or "ID@VERSION" (borrowed), or
 * NULL for an unknown pack. The log's policy.activated entries use the same
 * digest. */
const char *sl_packset_sha256(const struct sl_packset *ps, const char *ref);

/* Checks that every obligation a rule names is defined exactly once. */
enum sl_err sl_packset_check(const struct sl_packset *ps, struct sl_error *err);

size_t sl_packset_count(const struct sl_packset *ps);
void sl_packset_info(const struct sl_packset *ps, size_t i, struct sl_pack_info *info);

/* Returns the pack's JSON document (borrowed), or NULL for an unknown id.
 * `id` is "ID" (the current version) or "ID@VERSION" (any kept version). */
json_t *sl_packset_doc(const struct sl_packset *ps, const char *id);

void sl_packset_free(struct sl_packset *ps);

/* Validates a facts document (docs/facts.md): known keys only, right types,
 * sane ranges. On success `*facts` holds a new reference. */
enum sl_err sl_facts_parse(const char *name, const char *text, size_t len, json_t **facts,
                           struct sl_error *err);

/* Validates an already-built facts tree in place (used after --tokens). */
enum sl_err sl_facts_validate(const char *name, json_t *facts, struct sl_error *err);

struct sl_classify_in {
    json_t *facts;                      /* validated facts, or NULL */
    const struct sl_param_count *files; /* counts from weight files, or NULL */
    const char *const *packs;           /* explicit selection, or NULL for the defaults */
    size_t npacks;
    int32_t as_of; /* day number */
};

/* Classifies: resolves facts, estimates compute, evaluates the packs and
 * returns the decision tree (new reference) with the keys documented in
 * docs/cli.md. Fails with SL_EUSAGE for an unknown pack id and SL_EINPUT when
 * the facts cannot be used. */
enum sl_err sl_classify(const struct sl_packset *ps, const struct sl_classify_in *in,
                        json_t **decision, struct sl_error *err);

#endif
