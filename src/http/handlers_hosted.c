/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted tier over HTTP (docs/hosted.md): OpenAI-compatible
 * /v1/models, /v1/chat/completions and /v1/completions. A call is checked
 * here (the request, the model, who may call it, its backends) and then
 * run by the gateway engine (src/hosted/) on a thread of its own; the
 * connection is suspended while it waits for the answer's head and while a
 * stream waits for its next bytes, so no server thread blocks on a backend.
 * Errors are OpenAI error objects with sluice's X-Error-Code.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "hosted/filter.h"
#include "hosted/hosted.h"
#include "common/banned.h"

/* A request's side of a gateway call. Held by the request (until it
 * completes) and by its streamed answer (until libmicrohttpd drops it). */
struct sl_hreq {
    atomic_int refs;
    pthread_mutex_t m;
    struct MHD_Connection *conn; /* NULL once the request completed */
    bool suspended;
    struct sl_hosted_call *call;
    struct sl_registry *r;
    struct sl_principal who;
    struct sl_version_ref v;
    /* the caller's quota, for the x-ratelimit-* headers (limit 0: none) */
    int64_t rpm, rpm_left, rpm_reset;
    int64_t tpd, tpd_left, tpd_reset;
    /* the concurrency quota (limit 0: none): the call's slot in the
     * database (0: none held) and when it was last renewed */
    int64_t conc, conc_running;
    int64_t slot, slot_renewed;
};

/* Gateway requests not yet done with (sl_hosted_stop_all waits for them). */
static atomic_int live;

/* Frees the call's concurrency slot: the call ended, or its caller left. */
static void release_slot(struct sl_hreq *h)
{
    struct sl_error err;
    struct sl_db *db;

    if (!h->slot)
        return;
    sl_error_clear(&err);
    db = sl_reg_db(h->r, &err);
    /* on failure the slot's lease frees it within SL_HOSTED_SLOT_LEASE_S */
    if (!db || sl_repo_slot_release(db, h->slot, &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"hosted_slot_kept\",\"message\":\"%s\"}\n", err.msg);
    h->slot = 0;
}

/* Renews the call's concurrency slot every SL_HOSTED_SLOT_RENEW_S, on the
 * call's thread, so that it outlives its lease only while the call runs. */
static void renew_slot(struct sl_hreq *h)
{
    struct sl_error err;
    struct sl_db *db;
    int64_t now = (int64_t)time(NULL);

    if (!h->slot || now - h->slot_renewed < SL_HOSTED_SLOT_RENEW_S)
        return;
    sl_error_clear(&err);
    db = sl_reg_db(h->r, &err);
    if (db && sl_repo_slot_renew(db, h->slot, now, &err) == SL_OK)
        h->slot_renewed = now;
}

static void hreq_unref(void *cls)
{
    struct sl_hreq *h = cls;

    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    atomic_fetch_sub(&live, 1);
    sl_hosted_call_free(h->call);
    release_slot(h);
    pthread_mutex_destroy(&h->m);
    free(h);
}

void sl_hosted_req_free(struct sl_hreq *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->m);
    h->conn = NULL;
    pthread_mutex_unlock(&h->m);
    hreq_unref(h);
}

/* The call has news (or a heartbeat): resume the connection if it waits. */
static void on_wake(void *ctx)
{
    struct sl_hreq *h = ctx;

    pthread_mutex_lock(&h->m);
    /* Resumed again on every wake until the handler or the reader runs:
     * a resume that crosses the connection's suspension in libmicrohttpd
     * can be lost, and the next wake makes up for it. */
    if (h->suspended && h->conn)
        sl_mhd->resume_connection(h->conn);
    pthread_mutex_unlock(&h->m);
}

/* Re-checked on the call's thread: grants are never cached, so a revoked
 * grant or a tier change ends the call within SL_HOSTED_CHECK_MS. */
static bool on_check(void *ctx, char *why, size_t n)
{
    struct sl_hreq *h = ctx;
    struct sl_error err;

    sl_error_clear(&err);
    renew_slot(h);
    if (sl_hosted_may_call(h->r, &h->who, &h->v, &err) == SL_OK)
        return true;
    snprintf(why, n, "%s", err.msg);
    return false;
}

/* ---- answers ---- */

static void oai_error(struct sl_req *q, unsigned status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void oai_error(struct sl_req *q, unsigned status, const char *type, const char *param,
                      const char *code, const char *fmt, ...)
{
    char msg[400];
    char *body;
    va_list ap;
    struct MHD_Response *resp;
    size_t len;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    body = sl_hosted_error_json(msg, type, param, code);
    len = strlen(body);
    resp = sl_mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    sl_mhd->add_response_header(resp, "X-Error-Code", code);
    sl_add_error_message(resp, msg);
    if (status >= 500)
        snprintf(q->reason, sizeof(q->reason), "%s", msg);
    sl_reply(q, status, resp, len);
}

static void not_found(struct sl_req *q, const char *model)
{
    /* the same answer for a model that does not exist, one without a
     * backend, and one the caller may not call */
    oai_error(q, 404, "invalid_request_error", "model", "model_not_found",
              "The model `%.200s` does not exist or you do not have access to it.", model);
}

/* Adds OpenAI's x-ratelimit-* headers for the limits that apply. */
static void ratelimit_headers(struct MHD_Response *resp, const struct sl_hreq *h)
{
    char v[32];

    if (h->rpm) {
        snprintf(v, sizeof(v), "%lld", (long long)h->rpm);
        sl_mhd->add_response_header(resp, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof(v), "%lld", (long long)h->rpm_left);
        sl_mhd->add_response_header(resp, "x-ratelimit-remaining-requests", v);
        snprintf(v, sizeof(v), "%llds", (long long)h->rpm_reset);
        sl_mhd->add_response_header(resp, "x-ratelimit-reset-requests", v);
    }
    if (h->tpd) {
        snprintf(v, sizeof(v), "%lld", (long long)h->tpd);
        sl_mhd->add_response_header(resp, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof(v), "%lld", (long long)h->tpd_left);
        sl_mhd->add_response_header(resp, "x-ratelimit-remaining-tokens", v);
        snprintf(v, sizeof(v), "%llds", (long long)h->tpd_reset);
        sl_mhd->add_response_header(resp, "x-ratelimit-reset-tokens", v);
    }
    if (h->conc) {
        snprintf(v, sizeof(v), "%lld", (long long)h->conc);
        sl_mhd->add_response_header(resp, "x-ratelimit-limit-concurrency", v);
        snprintf(v, sizeof(v), "%lld",
                 (long long)(h->conc_running >= h->conc ? 0 : h->conc - h->conc_running));
        sl_mhd->add_response_header(resp, "x-ratelimit-remaining-concurrency", v);
    }
}

/* Counts a call refused by a quota for the model's daily log entry
 * (registry/hosted_log.c): the reason only, never who. */
static void count_refusal(struct sl_req *q, const struct sl_hreq *h, const char *reason)
{
    struct sl_error err;
    struct sl_db *db;

    sl_error_clear(&err);
    db = sl_reg_db(q->srv->r, &err);
    if (!db || sl_repo_refusal_add(db, h->v.model_id, (int64_t)time(NULL) / 86400, reason, "",
                                   &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"hosted_refusal_lost\",\"message\":\"%s\"}\n", err.msg);
}

/* Applies the caller's quota (state in the database, so every server of a
 * hub counts the same): counts the call in its minute and checks the day's
 * tokens. Answers 429 and returns false when over. */
static bool check_quota(struct sl_req *q, struct sl_hreq *h)
{
    struct sl_hosted_quota quota;
    struct sl_error err;
    struct sl_db *db;
    int64_t now = (int64_t)time(NULL), n = 0, used = 0;
    const char *what = NULL;
    int64_t retry = 0, limit = 0;
    char msg[300], num[24];
    char *body;
    struct MHD_Response *resp;
    size_t len;

    sl_error_clear(&err);
    db = sl_reg_db(q->srv->r, &err);
    if (!db || sl_repo_quota_get(db, h->v.model_id, q->who.user_id, &quota, &err) != SL_OK)
        goto unavailable;
    h->rpm = quota.rpm;
    h->tpd = quota.tokens_per_day;
    h->conc = quota.concurrency;
    if (h->rpm) {
        if (sl_repo_rate_hit(db, h->v.model_id, q->who.user_id, now / 60, &n, &err) != SL_OK)
            goto unavailable;
        h->rpm_left = n >= h->rpm ? 0 : h->rpm - n;
        h->rpm_reset = 60 - now % 60;
        if (n > h->rpm) {
            what = "requests per minute";
            retry = h->rpm_reset;
            limit = h->rpm;
        }
    }
    if (h->tpd) {
        if (sl_repo_usage_tokens(db, h->v.model_id, q->who.user_id, now / 86400, &used, &err) !=
            SL_OK)
            goto unavailable;
        h->tpd_left = used >= h->tpd ? 0 : h->tpd - used;
        h->tpd_reset = 86400 - now % 86400;
        if (!what && used >= h->tpd) {
            what = "tokens per day";
            retry = h->tpd_reset;
            limit = h->tpd;
        }
    }
    if (!what)
        return true;
    count_refusal(q, h,
                  strcmp(what, "tokens per day") == 0 ? "tokens_per_day" : "requests_per_minute");
    snprintf(msg, sizeof(msg), "over the quota of %lld %s on this model; retry in %lld s",
             (long long)limit, what, (long long)retry);
    body = sl_hosted_error_json(msg, "rate_limit_error", NULL, "rate_limit_exceeded");
    len = strlen(body);
    resp = sl_mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    sl_mhd->add_response_header(resp, "X-Error-Code", "rate_limit_exceeded");
    sl_add_error_message(resp, msg);
    snprintf(num, sizeof(num), "%lld", (long long)retry);
    sl_mhd->add_response_header(resp, "Retry-After", num);
    if (strcmp(what, "tokens per day") == 0)
        /* the day's tokens come back tomorrow: the SDKs' own retries
         * within seconds would only be refused again */
        sl_mhd->add_response_header(resp, "x-should-retry", "false");
    ratelimit_headers(resp, h);
    sl_reply(q, 429, resp, len);
    return false;
unavailable:
    oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
    return false;
}

/* Takes a slot of the caller's concurrency quota (h->conc calls at once),
 * held in the database so that it holds across the servers of a hub, and
 * released when the call ends or its caller leaves (hreq_unref). Answers
 * 429 and returns false when the caller's calls are all running. */
static bool take_slot(struct sl_req *q, struct sl_hreq *h)
{
    struct sl_error err;
    struct sl_db *db;
    int64_t now = (int64_t)time(NULL);
    char msg[300];
    char *body;
    struct MHD_Response *resp;
    size_t len;

    if (!h->conc)
        return true;
    sl_error_clear(&err);
    db = sl_reg_db(q->srv->r, &err);
    if (!db || sl_repo_slot_take(db, h->v.model_id, q->who.user_id, now, h->conc, &h->slot,
                                 &h->conc_running, &err) != SL_OK) {
        oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
        return false;
    }
    h->slot_renewed = now;
    if (h->slot)
        return true;
    count_refusal(q, h, "concurrency");
    snprintf(msg, sizeof(msg),
             "over the quota of %lld concurrent calls on this model; retry when one ends",
             (long long)h->conc);
    body = sl_hosted_error_json(msg, "rate_limit_error", NULL, "rate_limit_exceeded");
    len = strlen(body);
    resp = sl_mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    sl_mhd->add_response_header(resp, "X-Error-Code", "rate_limit_exceeded");
    sl_add_error_message(resp, msg);
    sl_mhd->add_response_header(resp, "Retry-After", "1");
    ratelimit_headers(resp, h);
    sl_reply(q, 429, resp, len);
    return false;
}

/* ---- the model a request names ---- */

/* Splits "ORG/NAME[@REV]" into its parts (in `buf`); false when malformed. */
static bool split_model(const char *s, char *buf, size_t n, const char **org, const char **name,
                        const char **rev)
{
    char *slash, *at;

    if (strlen(s) >= n)
        return false;
    memcpy(buf, s, strlen(s) + 1);
    slash = strchr(buf, '/');
    if (!slash)
        return false;
    *slash = '\0';
    at = strchr(slash + 1, '@');
    *rev = NULL;
    if (at) {
        *at = '\0';
        *rev = at + 1;
        if (!**rev || strlen(*rev) > 100)
            return false;
        for (const char *p = *rev; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return false;
    }
    *org = buf;
    *name = slash + 1;
    return sl_name_ok(*org) && sl_name_ok(*name);
}

/* Resolves the model and checks the caller may call it and that it has a
 * backend; answers 404 (or a database error) and returns false otherwise.
 * `*backends` (malloc'd) gets the backends serving the version. */
static bool find_model(struct sl_req *q, const char *model, struct sl_version_ref *v,
                       struct sl_hosted_backend **backends, size_t *nb)
{
    struct sl_registry *r = q->srv->r;
    struct sl_hosted_backend *all = NULL;
    struct sl_error err;
    struct sl_db *db;
    char buf[2 * SL_NAME_MAX + 110];
    const char *org, *name, *rev;
    size_t n = 0, k = 0;

    *backends = NULL;
    *nb = 0;
    sl_error_clear(&err);
    if (!split_model(model, buf, sizeof(buf), &org, &name, &rev)) {
        not_found(q, model);
        return false;
    }
    if (sl_reg_resolve(r, org, name, rev ? rev : "main", v, &err) != SL_OK) {
        if (err.code != SL_ENOTFOUND && err.code != SL_EINPUT) {
            oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
            return false;
        }
        not_found(q, model);
        return false;
    }
    if (sl_hosted_may_call(r, &q->who, v, &err) != SL_OK) {
        if (err.code != SL_EAUTH && err.code != SL_EFORBIDDEN) {
            oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
            return false;
        }
        not_found(q, model);
        return false;
    }
    db = sl_reg_db(r, &err);
    if (!db || sl_repo_backend_list(db, v->model_id, &all, &n, &err) != SL_OK) {
        oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (sl_hosted_serves(&all[i], v->version_id))
            all[k++] = all[i];
    if (k == 0) {
        free(all);
        not_found(q, model);
        return false;
    }
    *backends = all;
    *nb = k;
    return true;
}

/* ---- GET /v1/models ---- */

static json_t *model_obj(const char *id, const struct sl_version_ref *v, const char *org)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                     (json_int_t)v->created, "owned_by", org);
}

void sl_h_v1_models(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    struct sl_hosted_backend *all = NULL;
    struct sl_error err;
    struct sl_db *db;
    json_t *data = json_array();
    size_t n = 0;

    sl_error_clear(&err);
    db = sl_reg_db(r, &err);
    if (!db || sl_repo_backend_all(db, &all, &n, &err) != SL_OK) {
        json_decref(data);
        oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct sl_version_ref v;
        char id[2 * SL_NAME_MAX + 30], rev[24];
        bool dup = false;
        /* one entry per model (its main version) and per pinned version */
        for (size_t j = 0; j < i && !dup; j++)
            dup = all[j].model_id == all[i].model_id && all[j].version_seq == all[i].version_seq;
        if (dup)
            continue;
        snprintf(rev, sizeof(rev), "%lld", (long long)all[i].version_seq);
        if (sl_reg_resolve(r, all[i].org, all[i].name, all[i].version_seq ? rev : "main", &v,
                           &err) != SL_OK)
            continue;
        if (!sl_hosted_serves(&all[i], v.version_id) ||
            sl_hosted_may_call(r, &q->who, &v, &err) != SL_OK)
            continue;
        if (all[i].version_seq)
            snprintf(id, sizeof(id), "%s/%s@v%lld", all[i].org, all[i].name,
                     (long long)all[i].version_seq);
        else
            snprintf(id, sizeof(id), "%s/%s", all[i].org, all[i].name);
        json_array_append_new(data, model_obj(id, &v, all[i].org));
    }
    free(all);
    sl_reply_json(q, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void sl_h_v1_model(struct sl_req *q)
{
    struct sl_hosted_backend *b = NULL;
    struct sl_version_ref v;
    char id[2 * SL_NAME_MAX + 2];
    size_t nb;

    snprintf(id, sizeof(id), "%s/%s", q->org, q->name);
    if (!find_model(q, id, &v, &b, &nb))
        return;
    free(b);
    sl_reply_json(q, 200, model_obj(id, &v, q->org));
}

/* ---- POST /v1/chat/completions, /v1/completions ---- */

/* Checks an optional integer parameter against [lo, hi]; answers 400. */
static bool int_param(struct sl_req *q, json_t *body, const char *key, long long lo, long long hi)
{
    json_t *x = json_object_get(body, key);

    if (!x || json_is_null(x))
        return true;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) {
        oai_error(q, 400, "invalid_request_error", key, "invalid_value",
                  "%s must be an integer from %lld to %lld", key, lo, hi);
        return false;
    }
    return true;
}

/* Validates the request body; answers 400 and returns NULL when it is bad. */
static json_t *check_body(struct sl_req *q, bool chat)
{
    json_error_t je;
    json_t *body, *x;

    if (q->body.len > SL_HOSTED_BODY_MAX) {
        oai_error(q, 413, "invalid_request_error", NULL, "body_too_large",
                  "the request body of %zu bytes is over the limit of %u", q->body.len,
                  SL_HOSTED_BODY_MAX);
        return NULL;
    }
    body = json_loadb(q->body.data ? q->body.data : "", q->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        oai_error(q, 400, "invalid_request_error", NULL, "invalid_json",
                  "the body is not valid JSON: %s (line %d)", je.text, je.line);
        return NULL;
    }
    if (!json_is_object(body)) {
        oai_error(q, 400, "invalid_request_error", NULL, "invalid_json",
                  "the body must be a JSON object");
        goto bad;
    }
    if (!json_is_string(json_object_get(body, "model"))) {
        oai_error(q, 400, "invalid_request_error", "model", "missing_model",
                  "model is required: a string ORG/NAME or ORG/NAME@REV");
        goto bad;
    }
    if (chat) {
        size_t i;
        json_t *m;
        x = json_object_get(body, "messages");
        if (!json_is_array(x) || json_array_size(x) == 0) {
            oai_error(q, 400, "invalid_request_error", "messages", "invalid_value",
                      "messages is required: a non-empty array of {role, content}");
            goto bad;
        }
        json_array_foreach(x, i, m)
        {
            if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
                oai_error(q, 400, "invalid_request_error", "messages", "invalid_value",
                          "messages[%zu] must be an object with a string role", i);
                goto bad;
            }
        }
    } else {
        x = json_object_get(body, "prompt");
        if (!json_is_string(x) && !json_is_array(x)) {
            oai_error(q, 400, "invalid_request_error", "prompt", "invalid_value",
                      "prompt is required: a string or an array");
            goto bad;
        }
    }
    x = json_object_get(body, "stream");
    if (x && !json_is_boolean(x) && !json_is_null(x)) {
        oai_error(q, 400, "invalid_request_error", "stream", "invalid_value",
                  "stream must be true or false");
        goto bad;
    }
    x = json_object_get(body, "stream_options");
    if (x && !json_is_object(x) && !json_is_null(x)) {
        oai_error(q, 400, "invalid_request_error", "stream_options", "invalid_value",
                  "stream_options must be an object");
        goto bad;
    }
    x = json_object_get(body, "n");
    if (x && !json_is_null(x) && !(json_is_integer(x) && json_integer_value(x) == 1)) {
        oai_error(q, 400, "invalid_request_error", "n", "invalid_value",
                  "n must be 1: the model's backends give one choice per request");
        goto bad;
    }
    if (!int_param(q, body, "max_tokens", 1, SL_HOSTED_MAX_TOKENS_MAX) ||
        !int_param(q, body, "max_completion_tokens", 1, SL_HOSTED_MAX_TOKENS_MAX))
        goto bad;
    return body;
bad:
    json_decref(body);
    return NULL;
}

/* The streamed answer: whatever the call has, else suspend until it wakes
 * us. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sl_hreq *h = cls;
    size_t n;
    bool eof;

    (void)pos;
    pthread_mutex_lock(&h->m);
    h->suspended = false;
    n = sl_hosted_call_read(h->call, buf, max, &eof);
    /* the call is over: its concurrency slot is free before the caller
     * reads the last bytes, so a caller who waits for the end of one call
     * before making the next is never refused */
    if (eof)
        release_slot(h);
    if (n == 0 && eof) {
        pthread_mutex_unlock(&h->m);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n == 0 && h->conn) {
        h->suspended = true;
        sl_mhd->suspend_connection(h->conn);
    }
    pthread_mutex_unlock(&h->m);
    return (ssize_t)n;
}

static void answer(struct sl_req *q, struct sl_hreq *h, unsigned status, bool sse,
                   unsigned retry_after, const char *code)
{
    struct MHD_Response *resp;

    if (sse && status == 200) {
        atomic_fetch_add(&h->refs, 1);
        resp = sl_mhd->create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_stream, h,
                                                     hreq_unref);
        sl_mhd->add_response_header(resp, "Content-Type", "text/event-stream");
        sl_mhd->add_response_header(resp, "Cache-Control", "no-cache");
        sl_mhd->add_response_header(resp, "X-Accel-Buffering", "no");
        ratelimit_headers(resp, h);
        /* a stream may be silent for a while (keep-alive comments every
         * SL_HOSTED_KEEPALIVE_MS keep it under this) */
        sl_reply(q, 200, resp, 0);
    } else {
        struct sl_buf b = SL_BUF_INIT(SL_HOSTED_ANSWER_MAX + 8192);
        char chunk[16384], num[24];
        size_t n, len;
        bool eof = false;
        char *data;
        while ((n = sl_hosted_call_read(h->call, chunk, sizeof(chunk), &eof)) > 0)
            sl_buf_add(&b, chunk, n);
        if (eof)
            release_slot(h); /* before the answer goes out, as for a stream */
        data = sl_buf_detach(&b, &len);
        if (!data)
            data = sl_xstrdup("");
        resp = sl_mhd->create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        sl_mhd->add_response_header(resp, "Content-Type", "application/json");
        ratelimit_headers(resp, h);
        if (code)
            sl_mhd->add_response_header(resp, "X-Error-Code", code);
        if (retry_after) {
            snprintf(num, sizeof(num), "%u", retry_after);
            sl_mhd->add_response_header(resp, "Retry-After", num);
        }
        if (status >= 400) {
            char why[200];
            sl_hosted_call_reason(h->call, why, sizeof(why));
            sl_add_error_message(resp, why);
            if (status >= 500)
                snprintf(q->reason, sizeof(q->reason), "%s", why);
        }
        sl_reply(q, status, resp, len);
    }
}

static void v1_call(struct sl_req *q, const char *path, bool chat)
{
    struct sl_hreq *h = q->hosted;
    unsigned status = 0, retry_after = 0;
    const char *code = NULL;
    bool sse = false, head;

    if (!h) {
        struct sl_hosted_backend *b = NULL;
        struct sl_filter *filter = NULL;
        int64_t retain_days = 0;
        struct sl_hosted_call_opts o;
        struct sl_error err;
        json_t *body = check_body(q, chat);
        const char *model;
        size_t nb;
        if (!body)
            return;
        model = json_string_value(json_object_get(body, "model"));
        h = sl_xcalloc(1, sizeof(*h));
        if (!find_model(q, model, &h->v, &b, &nb)) {
            free(h);
            json_decref(body);
            return;
        }
        h->r = q->srv->r;
        /* the model's filter (handlers_filter.c), before any backend */
        if (!sl__hosted_filter_request(q, h->v.model_id, model, body, &filter)) {
            free(b);
            free(h);
            json_decref(body);
            return;
        }
        /* the model's prompt retention, read now like the filter: a change
         * applies to the next call on every server */
        sl_error_clear(&err);
        if (sl_reg_retention_get(q->srv->r, h->v.model_id, &retain_days, NULL, &err) != SL_OK) {
            sl_filter_free(filter);
            free(b);
            free(h);
            json_decref(body);
            oai_error(q, 503, "api_error", NULL, "unavailable",
                      "the model's retention cannot be read now; retry later");
            return;
        }
        if (!check_quota(q, h) || !take_slot(q, h)) {
            sl_filter_free(filter);
            free(b);
            free(h);
            json_decref(body);
            return;
        }
        atomic_init(&h->refs, 1);
        atomic_fetch_add(&live, 1);
        pthread_mutex_init(&h->m, NULL);
        h->conn = q->conn;
        h->r = q->srv->r;
        h->who = q->who;
        memset(&o, 0, sizeof(o));
        o.path = path;
        o.body = body;
        o.model = model;
        o.stream = json_is_true(json_object_get(body, "stream"));
        o.backends = b;
        o.nbackends = nb;
        o.allowed = on_check;
        o.wake = on_wake;
        o.ctx = h;
        o.r = q->srv->r;
        o.model_id = h->v.model_id;
        o.version_id = h->v.version_id;
        o.user_id = q->who.user_id;
        o.usage_asked =
            json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
        o.filter = filter;
        o.retain_days = retain_days;
        q->hosted = h;
        sl_error_clear(&err);
        /* the lock keeps a quick wake from resuming before we suspend */
        pthread_mutex_lock(&h->m);
        if (sl_hosted_call_start(&o, &h->call, &err) != SL_OK) {
            pthread_mutex_unlock(&h->m);
            sl_filter_free(filter);
            free(b);
            json_decref(body);
            oai_error(q, 503, "api_error", NULL, "unavailable", "%s", err.msg);
            return;
        }
        free(b);
        json_decref(body);
        pthread_mutex_unlock(&h->m);
    }
    pthread_mutex_lock(&h->m);
    h->suspended = false;
    head = sl_hosted_call_head(h->call, &status, &sse, &retry_after, &code);
    if (!head) {
        h->suspended = true;
        q->suspended = true;
        sl_mhd->suspend_connection(q->conn);
        pthread_mutex_unlock(&h->m);
        return;
    }
    pthread_mutex_unlock(&h->m);
    q->suspended = false;
    answer(q, h, status, sse, retry_after, code);
}

void sl_hosted_stop_all(void)
{
    sl_hosted_shutdown();
    for (int i = 0; i < 100 && atomic_load(&live) > 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void sl_h_v1_chat(struct sl_req *q)
{
    v1_call(q, "/chat/completions", true);
}

void sl_h_v1_completions(struct sl_req *q)
{
    v1_call(q, "/completions", false);
}
