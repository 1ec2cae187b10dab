/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/policy/: compiled packs and conditions.
 */
#ifndef SL_POLICY_POLICY_INT_H
#define SL_POLICY_POLICY_INT_H

#include "policy/policy.h"

struct sl__embedded_pack {
    const char *file;
    const char *text;
    size_t len;
};

extern const struct sl__embedded_pack sl__embedded_packs[];

enum cond_kind { COND_ALL, COND_ANY, COND_NOT, COND_CMP, COND_KNOWN, COND_UNKNOWN };
enum cond_op { OP_GT, OP_GE, OP_LT, OP_LE, OP_EQ, OP_NE, OP_IN };
enum thr_kind { THR_PLAIN, THR_SCHEDULE, THR_INDEXED };

struct thr_step {
    int32_t from;
    double value;
};

struct cond {
    enum cond_kind kind;
    enum cond_op op;
    char *fact;
    json_t *value; /* plain value for COND_CMP (number, string, bool or array) */
    enum thr_kind thr;
    struct thr_step *steps; /* THR_SCHEDULE, sorted by date */
    size_t nsteps;
    double base; /* THR_INDEXED */
    int32_t base_date;
    double doubling_years;
    struct cond **kids;
    size_t nkids;
};

struct obligation {
    char *id, *title, *cite, *deadline;
    bool blocking;
    int hold_tier;                /* tier held at while unmet (blocking only); withheld default */
    json_t *requires_evaluations; /* array or NULL */
    char *unverified;             /* what is not verified, or NULL */
};

struct rule {
    char *id, *title, *cite;
    int32_t effective, rescinded;
    struct cond *when;
    int min_tier;   /* -1 when the rule sets none */
    int below_tier; /* applies only while the decision's minimum tier is below it; -1: always */
    json_t *labels, *obligations, *waives; /* arrays of strings */
    json_t *defers;                        /* obligations made non-blocking until defer_until */
    int32_t defer_until;                   /* INT32_MAX when the rule defers nothing */
    char *unverified;                      /* what is not verified against the law, or NULL */
    char *ambiguity;                       /* why the rule's reading is contested, or NULL */
};

struct pack {
    char *id, *version, *title, *jurisdiction, *status, *source;
    char sha256[65]; /* hex SHA-256 of the pack's compact JSON (as logged) */
    bool default_active;
    int32_t effective, rescinded;
    struct rule *rules;
    size_t nrules;
    struct obligation *obligations;
    size_t nobligations;
    json_t *doc;
};

struct sl_packset {
    struct pack *packs; /* the current version of each pack id */
    size_t n;
    struct pack *hist; /* earlier versions, chosen only as ID@VERSION */
    size_t nhist;
};

/* Finds a pack by "ID" (current version) or "ID@VERSION" (current or kept). */
const struct pack *sl__pack_find(const struct sl_packset *ps, const char *ref);

/* Tri-state truth for conditions over incomplete facts. */
enum tri { T_FALSE = 0, T_TRUE = 1, T_UNKNOWN = 2 };

/* Evaluates `c` against the fact environment `env` on `date`. `why` gets a
 * readable account of what made it true; `missing` collects the names of
 * facts that were not known (an array, may be NULL). */
enum tri sl__cond_eval(const struct cond *c, json_t *env, int32_t date, json_t *why_parts,
                       json_t *missing);

/* Looks a dotted fact name up in `env`; NULL (or JSON null) means unknown. */
json_t *sl__fact_lookup(json_t *env, const char *dotted);

/* Resolves a threshold to a number on `date`; false when none applies yet. */
bool sl__threshold(const struct cond *c, int32_t date, double *v);

const struct obligation *sl__find_obligation(const struct sl_packset *ps, const char *id,
                                             const struct pack **owner);

#endif
