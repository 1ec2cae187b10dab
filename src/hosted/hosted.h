/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted tier's gateway engine (docs/hosted.md): who may call a model
 * version, and one call proxied to an OpenAI-compatible inference backend
 * with libcurl on a thread of its own: round robin over the version's
 * backends, failover on connect errors, timeouts and 5xx before the first
 * byte, the backend's server-sent events re-framed and rewritten (the
 * caller's model name written back) as they arrive, the caller's access
 * re-checked against the database about four times a second. No HTTP server
 * code here: src/http/handlers_hosted.c drives a call and streams what it
 * produces.
 */
#ifndef SL_HOSTED_HOSTED_H
#define SL_HOSTED_HOSTED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "db/repo_hosted.h"
#include "registry/registry.h"

/* Limits (docs/hosted.md). */
#define SL_HOSTED_BODY_MAX       (1u << 20)  /* a request body */
#define SL_HOSTED_ANSWER_MAX     (16u << 20) /* a non-streamed backend answer */
#define SL_HOSTED_EVENT_MAX      (1u << 20)  /* one server-sent event */
#define SL_HOSTED_BACKLOG_MAX    (1u << 20)  /* bytes waiting for a slow client */
#define SL_HOSTED_MAX_TOKENS_MAX 1000000
#define SL_HOSTED_CONNECT_MS     5000
#define SL_HOSTED_FIRST_BYTE_MS  120000
#define SL_HOSTED_IDLE_MS        60000
#define SL_HOSTED_CHECK_MS       250   /* access re-check and heartbeat */
#define SL_HOSTED_KEEPALIVE_MS   15000 /* an SSE comment after this much silence */

/* Whether `p` may call version `v` now (docs/hosted.md, "Who may call"):
 * open versions anyone; click and gated as for downloads; hosted the org's
 * members and holders of a live grant; withheld nobody. The version's tier
 * and the grant are read from the database now. SL_OK, else SL_EAUTH or
 * SL_EFORBIDDEN with the reason, or a database error. */
enum sl_err sl_hosted_may_call(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, struct sl_error *err);

/* Whether backend `b` serves version `version_id`. */
bool sl_hosted_serves(const struct sl_hosted_backend *b, int64_t version_id);

struct sl_hosted_call;

struct sl_hosted_call_opts {
    const char *path;  /* after the backend's /v1: "/chat/completions", "/completions" */
    json_t *body;      /* the validated request (borrowed: the call keeps a copy) */
    const char *model; /* the caller's model name, written back into answers */
    bool stream;
    const struct sl_hosted_backend *backends; /* borrowed: the call copies them */
    size_t nbackends;
    unsigned connect_ms, first_byte_ms, idle_ms; /* 0: the defaults above */
    unsigned keepalive_ms;                       /* 0: SL_HOSTED_KEEPALIVE_MS */
    /* Called on the call's thread every SL_HOSTED_CHECK_MS: false ends the
     * call (a refusal before the answer began, an error event in a stream);
     * `why` (size 200) says why. May be NULL. */
    bool (*allowed)(void *ctx, char *why, size_t n);
    /* Called on the call's thread whenever there is something new to read
     * (the answer's head, bytes, the end) and at least every
     * SL_HOSTED_CHECK_MS. */
    void (*wake)(void *ctx);
    void *ctx;
    /* Usage is recorded against these when the answer was a 200 (the
     * backend's `usage`, else completion chunks counted); `r` NULL records
     * nothing. The call asks a streaming backend for usage itself and, when
     * the caller did not (`usage_asked` false), drops it from the stream. */
    struct sl_registry *r;
    int64_t model_id, version_id, user_id;
    bool usage_asked;
    /* The model's filter (hosted/filter.h) or NULL: its output rules apply
     * to the answer as it flows (docs/hosted.md, "Filters"). Owned by the
     * call once sl_hosted_call_start returned SL_OK (the caller frees it on
     * an error); refusals and flags are counted against `r`. */
    struct sl_filter *filter;
    /* The model's prompt retention in days, read at the start of the call
     * (docs/hosted.md, "Retention"): 0 keeps nothing; otherwise a call
     * answered 200 (a started stream too) stores its prompt and its
     * completion, each at most SL_HOSTED_RETAIN_TEXT_MAX bytes (marked
     * truncated past it), against `r`, deleted after that many days. */
    int64_t retain_days;
};

/* Starts a call on a thread of its own. The call copies what it needs of
 * `o`. Free it with sl_hosted_call_free(). */
enum sl_err sl_hosted_call_start(const struct sl_hosted_call_opts *o, struct sl_hosted_call **out,
                                 struct sl_error *err);

/* Whether the answer's head is decided. Once it is: `*status` (200, or the
 * error status), `*sse` (true: an event stream follows, read it with
 * sl_hosted_call_read; false: the whole body, JSON, is read the same way and
 * is complete), `*retry_after` (seconds, 0 for none) and `*code` (the
 * X-Error-Code of an error, else NULL; static). */
bool sl_hosted_call_head(struct sl_hosted_call *c, unsigned *status, bool *sse,
                         unsigned *retry_after, const char **code);

/* Moves up to `max` bytes of the answer into `buf`; never blocks. `*eof`
 * is set once everything has been read. */
size_t sl_hosted_call_read(struct sl_hosted_call *c, char *buf, size_t max, bool *eof);

/* Why the call's answer ended badly, for the request log ("" when it did
 * not). */
void sl_hosted_call_reason(struct sl_hosted_call *c, char *out, size_t n);

/* Stops the call (closing the backend connection), waits for its thread and
 * frees it. NULL is a no-op. */
void sl_hosted_call_free(struct sl_hosted_call *c);

/* The server is stopping: every call ends within 100 ms, a stream with an
 * error event (`code` "unavailable"), an answer not yet begun with 503 and
 * Retry-After. */
void sl_hosted_shutdown(void);

/* An OpenAI error object {"error":{"message","type","param","code"}} as a
 * compact JSON string the caller frees. `param` may be NULL. */
char *sl_hosted_error_json(const char *message, const char *type, const char *param,
                           const char *code);

#endif
