/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's filters (docs/hosted.md, "Filters"): a publisher's
 * JSON policy of input and output rules (literal or regular-expression
 * patterns, each with an id and an action, refuse or flag), a max_tokens
 * cap and the request parameters allowed beyond the core ones. Parsed with
 * bounded limits and errors naming the JSON path; patterns compiled once,
 * with the linear-time engine of common/regex.h. No I/O here: the database
 * keeps the policy's canonical text (db/repo_hosted.h) and the gateway
 * applies it.
 */
#ifndef SL_HOSTED_FILTER_H
#define SL_HOSTED_FILTER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/regex.h"

/* Limits (docs/hosted.md, "Filters"). */
#define SL_FILTER_TEXT_MAX   (64u << 10) /* bytes of a policy file */
#define SL_FILTER_RULES_MAX  64
#define SL_FILTER_ID_MAX     64
#define SL_FILTER_PARAMS_MAX 64
#define SL_FILTER_PARAM_MAX  64    /* bytes of a parameter's name */
#define SL_FILTER_PROG_MAX   20000 /* instructions of all rules together */

enum sl_filter_where { SL_FILTER_INPUT = 1, SL_FILTER_OUTPUT = 2 };

struct sl_filter_rule {
    char id[SL_FILTER_ID_MAX + 1];
    enum sl_filter_where where;
    bool regex;  /* false: a literal string */
    bool icase;  /* case_insensitive */
    bool refuse; /* false: flag (counted, passed) */
    char *pattern;
    struct sl_re *re;
};

struct sl_filter {
    _Atomic int refs; /* sl_filter_ref / sl_filter_free */
    struct sl_filter_rule *rules;
    size_t nrules;
    int64_t max_tokens;  /* 0: no cap */
    bool params_limited; /* "allowed_parameters" was given */
    char **params;
    size_t nparams;
};

/* Parses and compiles the policy in `text` (`n` bytes, at most
 * SL_FILTER_TEXT_MAX). On success `*out` is the filter, immutable and safe
 * to share between threads (sl_filter_free). On failure SL_EINPUT or
 * SL_ELIMIT with a message naming the JSON path ("rules[2].pattern: ...")
 * and, for a bad pattern, the rule id and the offset in the pattern. */
enum sl_err sl_filter_parse(const char *text, size_t n, struct sl_filter **out,
                            struct sl_error *err);

/* The filter as canonical JSON (sorted keys, compact, defaults written
 * out); the caller frees it. Parsing it again gives the same filter. */
char *sl_filter_json(const struct sl_filter *f);

/* Takes one more reference to `f` (shared between calls: a filter is
 * immutable once parsed) and returns it. */
struct sl_filter *sl_filter_ref(struct sl_filter *f);

/* Drops a reference; the last one frees the filter. NULL is a no-op. */
void sl_filter_free(struct sl_filter *f);

/* Whether `name` is a request parameter the filter allows: the core ones
 * (model, messages, prompt, stream, stream_options, max_tokens,
 * max_completion_tokens, n) always, others only when listed or when the
 * filter lists none. */
bool sl_filter_param_allowed(const struct sl_filter *f, const char *name);

/* What a check found: the first refusing rule that matched (NULL when
 * none) and the flagging rules that matched. */
struct sl_filter_verdict {
    const struct sl_filter_rule *refused;
    const struct sl_filter_rule *flagged[SL_FILTER_RULES_MAX];
    size_t nflagged;
};

/* Checks a request body (validated JSON of /v1/chat/completions or
 * /v1/completions) against the filter: parameters (`*param` gets the first
 * one not allowed, else NULL), then the input rules over each message's
 * text (a string content or the "text" of its parts) and each prompt
 * string. Each text is matched on its own: `^` and `$` are its start and
 * end. Caps max_tokens and max_completion_tokens in place (adding
 * max_tokens when neither is given). Returns SL_OK with the verdict, or
 * SL_ENOMEM. */
enum sl_err sl_filter_request(const struct sl_filter *f, json_t *body, const char **param,
                              struct sl_filter_verdict *v);

/* The output rules applied to an answer as it flows: feed the answer's text
 * (the completion's content, unescaped) in pieces of any size; a match cut
 * between two pieces is still found, since each rule's automaton keeps its
 * state between pieces (no window is needed). `f` must outlive it. */
struct sl_filter_out;
struct sl_filter_out *sl_filter_out_new(const struct sl_filter *f);
/* Feeds `n` bytes; returns the first refusing rule that has matched so far
 * (then stop: the answer is refused), else NULL. Flagging rules that
 * matched are added to `v` once each. */
const struct sl_filter_rule *sl_filter_out_feed(struct sl_filter_out *o, const char *text, size_t n,
                                                struct sl_filter_verdict *v);
/* The answer has ended (decides `$`); same result as a feed. */
const struct sl_filter_rule *sl_filter_out_end(struct sl_filter_out *o,
                                               struct sl_filter_verdict *v);
/* Whether the filter has output rules at all. */
bool sl_filter_has_output(const struct sl_filter *f);
void sl_filter_out_free(struct sl_filter_out *o);

struct sl_registry;

/* Counts a refusal or flag of a call to `model_id` today (reason "input",
 * "output", "parameter", "flag_input" or "flag_output"; `rule` the rule id,
 * "" for a parameter) and writes one JSON line to the server's log with the
 * caller's per-model pseudonym (null for anonymous callers), never the
 * caller's text. Failures to count are logged, not returned: a refusal
 * stands whether or not it could be counted. `r` NULL does nothing. */
void sl_hosted_filter_note(struct sl_registry *r, int64_t model_id, const char *model,
                           int64_t user_id, const char *reason, const char *rule);

#endif
