/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One gateway call (hosted.h): a thread drives a libcurl multi handle to the
 * chosen backend, polling every 100 ms so it can notice a cancelled call, a
 * revoked caller or a silent backend. Until the answer's head is decided a
 * failed attempt (no connection, a timeout, a 5xx) moves on to the next
 * backend; after it, failures become an in-band error event, since a
 * started 200 cannot change its status.
 */
#include "hosted/hosted.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/curl.h"
#include "common/util.h"
#include "hosted/filter.h"
#include "hosted/health.h"
#include "hosted/pool.h"
#include "common/banned.h"

static atomic_uint round_robin;
static atomic_bool stopping;

void sl_hosted_shutdown(void)
{
    atomic_store(&stopping, true);
}

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the call ---- */

struct sl_hosted_call {
    struct sl_hosted_call_opts o;
    struct sl_hosted_backend *backends;
    char *model;
    json_t *body;
    const struct sl_curl_api *curl;
    pthread_t thread;
    atomic_int refs; /* the owner and the thread */
    atomic_bool cancel;
    pthread_mutex_t wm; /* guards o.wake and o.allowed, cleared by the owner's free */

    pthread_mutex_t m; /* guards what follows */
    bool head;
    unsigned status, retry_after;
    bool sse;
    const char *code;
    struct sl_buf out;
    size_t out_off;
    bool eof;
    bool drained; /* the owner read the end */
    char reason[200];

    /* the attempt in progress (the call's thread only) */
    struct sl_buf in;   /* unparsed bytes from the backend */
    struct sl_buf data; /* the data lines of the event being read */
    CURL *h;
    int64_t prompt_tokens, completion_tokens, chunks;
    bool usage_seen;
    long backend_status;
    bool got_byte, in_error, done_seen, any_event, malformed, too_big;
    bool backend_done; /* the backend's own [DONE] arrived */
    bool draining;     /* the answer is complete: what still comes is dropped */
    long long last_byte, last_out;

    /* the completion kept for abuse review when the model retains prompts
     * (the call's thread only) */
    struct sl_buf kept;
    bool kept_truncated, kept_stored;

    /* the output rules of the model's filter (the call's thread only) */
    struct sl_filter_out *fout;
    struct sl_filter_verdict fv;
    size_t fv_noted; /* flags already counted */
};

char *sl_hosted_error_json(const char *message, const char *type, const char *param,
                           const char *code)
{
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type,
                          "param", param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    char *s = e ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(e);
    return s ? s : sl_xstrdup("{\"error\":{\"message\":\"out of memory\"}}");
}

static void wake(struct sl_hosted_call *c)
{
    pthread_mutex_lock(&c->wm);
    if (c->o.wake)
        c->o.wake(c->o.ctx);
    pthread_mutex_unlock(&c->wm);
}

static bool allowed(struct sl_hosted_call *c, char *why, size_t n)
{
    bool ok = true;

    pthread_mutex_lock(&c->wm);
    if (c->o.allowed)
        ok = c->o.allowed(c->o.ctx, why, n);
    pthread_mutex_unlock(&c->wm);
    return ok;
}

/* Decides the head as an error with an OpenAI error body (before any
 * answer began). */
static void fail_head(struct sl_hosted_call *c, unsigned status, const char *type, const char *code,
                      unsigned retry_after, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void fail_head(struct sl_hosted_call *c, unsigned status, const char *type, const char *code,
                      unsigned retry_after, const char *fmt, ...)
{
    char msg[300];
    char *body;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    body = sl_hosted_error_json(msg, type, NULL, code);
    pthread_mutex_lock(&c->m);
    c->head = true;
    c->status = status;
    c->sse = false;
    c->code = code;
    c->retry_after = retry_after;
    sl_buf_reset(&c->out);
    sl_buf_adds(&c->out, body);
    c->eof = true;
    snprintf(c->reason, sizeof(c->reason), "%s", msg);
    pthread_mutex_unlock(&c->m);
    free(body);
    wake(c);
}

/* Appends bytes to the answer (the head is decided); marks the call
 * too_big when even the backlog's margin is full. */
static void put(struct sl_hosted_call *c, const char *s, size_t n)
{
    pthread_mutex_lock(&c->m);
    if (c->out_off > 0 && c->out_off == c->out.len) {
        sl_buf_reset(&c->out);
        c->out_off = 0;
    }
    if (sl_buf_add(&c->out, s, n) != SL_OK)
        c->too_big = true;
    pthread_mutex_unlock(&c->m);
    c->last_out = now_ms();
}

static size_t backlog(struct sl_hosted_call *c)
{
    size_t n;

    pthread_mutex_lock(&c->m);
    n = c->out.len - c->out_off;
    pthread_mutex_unlock(&c->m);
    return n;
}

/* Ends a started stream with an in-band error event (the SDKs raise on a
 * data object with "error"). */
static void stream_error(struct sl_hosted_call *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void stream_error(struct sl_hosted_call *c, const char *code, const char *fmt, ...)
{
    char msg[300];
    char *body;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    body = sl_hosted_error_json(msg, code, NULL, code);
    put(c, "data: ", 6);
    put(c, body, strlen(body));
    put(c, "\n\n", 2);
    free(body);
    pthread_mutex_lock(&c->m);
    snprintf(c->reason, sizeof(c->reason), "%s", msg);
    c->eof = true;
    pthread_mutex_unlock(&c->m);
    wake(c);
}

static void start_stream(struct sl_hosted_call *c)
{
    pthread_mutex_lock(&c->m);
    c->head = true;
    c->status = 200;
    c->sse = true;
    pthread_mutex_unlock(&c->m);
}

/* Keeps the last usage the backend reported. */
static void note_usage(struct sl_hosted_call *c, json_t *v)
{
    json_t *u = json_object_get(v, "usage");

    if (!json_is_object(u))
        return;
    c->usage_seen = true;
    c->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
    c->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
}

/* ---- prompt retention (docs/hosted.md, "Retention") ---- */

/* The length of the longest prefix of `s` (of length `n`) that is at most
 * `max` bytes and does not cut a UTF-8 character. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* Adds the completion's text `t` to what is kept, up to the limit. */
static void keep_text(struct sl_hosted_call *c, const char *t)
{
    size_t n, room, take;

    if (c->o.retain_days <= 0 || !t || c->kept_truncated)
        return;
    n = strlen(t);
    room = SL_HOSTED_RETAIN_TEXT_MAX - c->kept.len;
    take = utf8_prefix(t, n, room);
    if (take)
        sl_buf_add(&c->kept, t, take);
    if (take < n)
        c->kept_truncated = true;
}

/* The prompt as kept: a chat's `messages` as compact JSON (roles and all),
 * a completion's `prompt` string as it is (other prompts as JSON). */
static char *kept_prompt(struct sl_hosted_call *c, bool *truncated)
{
    json_t *m = json_object_get(c->body, "messages");
    char *s;
    size_t n, take;

    if (!m)
        m = json_object_get(c->body, "prompt");
    if (json_is_string(m))
        s = sl_xstrdup(json_string_value(m));
    else
        s = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!s)
        s = sl_xstrdup("");
    n = strlen(s);
    take = utf8_prefix(s, n, SL_HOSTED_RETAIN_TEXT_MAX);
    s[take] = '\0';
    *truncated = take < n;
    return s;
}

/* Stores the call's prompt and completion once, when the model retains
 * them (after usage, at the same moments: the answer began). A failure is
 * logged and does not fail the call. */
static void record_retained(struct sl_hosted_call *c)
{
    struct sl_hosted_retained row;
    struct sl_error err;
    struct sl_db *db;
    int64_t now = (int64_t)time(NULL);

    if (!c->o.r || c->o.retain_days <= 0 || c->kept_stored)
        return;
    c->kept_stored = true;
    memset(&row, 0, sizeof(row));
    row.model_id = c->o.model_id;
    row.version_id = c->o.version_id;
    row.user_id = c->o.user_id;
    row.created = now;
    row.expires = now + c->o.retain_days * 86400;
    snprintf(row.endpoint, sizeof(row.endpoint), "%s",
             c->o.path[0] == '/' ? c->o.path + 1 : c->o.path);
    row.prompt = kept_prompt(c, &row.prompt_truncated);
    row.completion = (char *)sl_buf_cstr(&c->kept);
    row.completion_truncated = c->kept_truncated;
    sl_error_clear(&err);
    db = sl_reg_db(c->o.r, &err);
    if (!db || sl_repo_retained_add(db, &row, &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"hosted_retain_failed\",\"message\":\"%s\"}\n",
                sl_strerror(err.code));
    free(row.prompt);
}

/* Writes the caller's model name back and drops llama.cpp's timings. */
static void rewrite(struct sl_hosted_call *c, json_t *v)
{
    if (json_object_get(v, "model"))
        json_object_set_new(v, "model", json_string(c->model));
    json_object_del(v, "timings");
}

/* ---- the filter's output rules (docs/hosted.md, "Filters") ---- */

/* Counts the flags found since the last call. */
static void filter_flags(struct sl_hosted_call *c)
{
    for (; c->fv_noted < c->fv.nflagged; c->fv_noted++)
        sl_hosted_filter_note(c->o.r, c->o.model_id, c->model, c->o.user_id, "flag_output",
                              c->fv.flagged[c->fv_noted]->id);
}

/* Ends a stream with the refusal chunk (finish_reason "content_filter", the
 * rule in delta.refusal) and [DONE]; the backend is read no further. */
static void filter_refuse_stream(struct sl_hosted_call *c, const struct sl_filter_rule *rule)
{
    json_t *ch = json_object(), *v;
    char msg[160], *s;

    snprintf(msg, sizeof(msg), "The answer was stopped by the model's filter (rule `%s`).",
             rule->id);
    json_object_set_new(ch, "index", json_integer(0));
    json_object_set_new(ch, "finish_reason", json_string("content_filter"));
    if (strcmp(c->o.path, "/chat/completions") == 0)
        json_object_set_new(ch, "delta", json_pack("{s:s}", "refusal", msg));
    else
        json_object_set_new(ch, "text", json_string(""));
    v = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", "sluice-filter", "object",
                  strcmp(c->o.path, "/chat/completions") == 0 ? "chat.completion.chunk"
                                                              : "text_completion",
                  "created", (json_int_t)time(NULL), "model", c->model, "choices", ch);
    s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (!s)
        s = sl_xstrdup("{\"choices\":[{\"index\":0,\"finish_reason\":\"content_filter\","
                       "\"delta\":{}}]}");
    if (!c->head)
        start_stream(c);
    put(c, "data: ", 6);
    put(c, s, strlen(s));
    put(c, "\n\ndata: [DONE]\n\n", 16);
    free(s);
    c->done_seen = true;
    pthread_mutex_lock(&c->m);
    snprintf(c->reason, sizeof(c->reason), "refused by filter rule %s", rule->id);
    pthread_mutex_unlock(&c->m);
    sl_hosted_filter_note(c->o.r, c->o.model_id, c->model, c->o.user_id, "output", rule->id);
    filter_flags(c);
    wake(c);
}

/* Feeds a stream's text (`end`: the backend's [DONE] decides `$`); true
 * when a rule refused it and the stream was ended. */
static bool filter_stream(struct sl_hosted_call *c, const char *t, bool end)
{
    const struct sl_filter_rule *rule;

    if (!c->fout)
        return false;
    rule = end ? sl_filter_out_end(c->fout, &c->fv)
               : sl_filter_out_feed(c->fout, t, strlen(t), &c->fv);
    if (!rule) {
        filter_flags(c);
        return false;
    }
    filter_refuse_stream(c, rule);
    return true;
}

/* A whole answer's text through the output rules; true when refused (400
 * content_policy already set as the answer). */
static bool filter_plain(struct sl_hosted_call *c, json_t *v)
{
    json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
    const char *t = json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
    const struct sl_filter_rule *rule;

    if (!c->fout)
        return false;
    if (!t)
        t = json_string_value(json_object_get(c0, "text"));
    rule = sl_filter_out_feed(c->fout, t ? t : "", t ? strlen(t) : 0, &c->fv);
    if (!rule)
        rule = sl_filter_out_end(c->fout, &c->fv);
    filter_flags(c);
    if (!rule)
        return false;
    sl_hosted_filter_note(c->o.r, c->o.model_id, c->model, c->o.user_id, "output", rule->id);
    fail_head(c, 400, "invalid_request_error", "content_policy", 0,
              "The answer was refused by the model's filter (rule `%s`).", rule->id);
    return true;
}

/* One complete event from the backend. */
static void event(struct sl_hosted_call *c)
{
    const char *d = sl_buf_cstr(&c->data);
    json_error_t je;
    json_t *v;
    char *s;

    if (c->data.len == 0)
        return; /* a comment-only event: a ping */
    if (strncmp(d, "[DONE]", 6) == 0) {
        if (filter_stream(c, NULL, true)) {
            sl_buf_reset(&c->data);
            return;
        }
        if (!c->head)
            start_stream(c);
        c->done_seen = true;
        c->backend_done = true;
        put(c, "data: [DONE]\n\n", 14);
        sl_buf_reset(&c->data);
        return;
    }
    v = json_loadb(d, c->data.len, 0, &je);
    sl_buf_reset(&c->data);
    if (!json_is_object(v)) {
        json_decref(v);
        c->malformed = true;
        return;
    }
    if (json_object_get(v, "error")) {
        /* ended with our own error event: the backend's text may name
         * its internals */
        json_decref(v);
        c->in_error = true;
        return;
    }
    note_usage(c, v);
    {
        json_t *ch = json_object_get(v, "choices"), *c0 = json_array_get(ch, 0);
        const char *t = json_string_value(json_object_get(json_object_get(c0, "delta"), "content"));
        if (!t)
            t = json_string_value(json_object_get(c0, "text"));
        if (t && *t) {
            c->chunks++;
            keep_text(c, t); /* as the backend wrote it, before the output rules */
        }
        if (t && *t && filter_stream(c, t, false)) {
            json_decref(v); /* the chunk that completed a match is not sent */
            return;
        }
        if (!c->o.usage_asked) {
            /* we asked for usage, the caller did not: code that reads
             * choices[0] breaks on the usage-only chunk */
            if (json_is_array(ch) && json_array_size(ch) == 0) {
                json_decref(v);
                if (!c->head)
                    start_stream(c);
                return;
            }
            json_object_del(v, "usage");
        }
    }
    rewrite(c, v);
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!s) {
        c->malformed = true;
        return;
    }
    if (!c->head)
        start_stream(c);
    c->any_event = true;
    put(c, "data: ", 6);
    put(c, s, strlen(s));
    put(c, "\n\n", 2);
    free(s);
    wake(c); /* now, not at the next heartbeat: each token as it comes */
}

/* Splits c->in into lines (ending \n, \r\n or \r) and events (ending at a
 * blank line), as the SDKs' own parsers do. `final`: no more bytes come. */
static void parse_sse(struct sl_hosted_call *c, bool final)
{
    size_t i = 0, start = 0;
    char *p = c->in.data;

    while (i < c->in.len && !c->malformed && !c->in_error && !c->done_seen) {
        size_t end, next;
        if (p[i] != '\n' && p[i] != '\r') {
            i++;
            continue;
        }
        if (p[i] == '\r' && i + 1 == c->in.len && !final)
            break; /* a \n may follow in the next read */
        end = i;
        next = (p[i] == '\r' && i + 1 < c->in.len && p[i + 1] == '\n') ? i + 2 : i + 1;
        if (end == start) {
            event(c);
        } else if (p[start] == ':') {
            /* a comment (keep-alive ping): dropped, we send our own */
        } else if (end - start >= 5 && memcmp(p + start, "data:", 5) == 0) {
            size_t from = start + 5;
            if (from < end && p[from] == ' ')
                from++;
            if (c->data.len && sl_buf_addc(&c->data, '\n') != SL_OK)
                c->malformed = true;
            if (sl_buf_add(&c->data, p + from, end - from) != SL_OK)
                c->malformed = true;
        } else if (end - start >= 6 && memcmp(p + start, "event:", 6) == 0) {
            if (strstr(p + start, "error") && (size_t)(strstr(p + start, "error") - p) < end)
                c->in_error = true;
        }
        /* other fields (id:, retry:) carry nothing we forward */
        i = start = next;
    }
    if (start > 0) {
        memmove(c->in.data, c->in.data + start, c->in.len - start);
        c->in.len -= start;
    }
    if (c->in.len > SL_HOSTED_EVENT_MAX)
        c->malformed = true;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sl_hosted_call *c = ud;
    size_t n = size * nmemb;

    if (c->draining)
        return n;
    if (!c->got_byte) {
        c->got_byte = true;
        c->curl->easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->backend_status);
    }
    c->last_byte = now_ms();
    if (sl_buf_add(&c->in, ptr, n) != SL_OK) {
        /* a stream's event over SL_HOSTED_EVENT_MAX is malformed; a whole
         * answer over SL_HOSTED_ANSWER_MAX too big */
        if (c->o.stream && c->backend_status == 200)
            c->malformed = true;
        else
            c->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (c->o.stream && c->backend_status == 200)
        parse_sse(c, false);
    return n;
}

enum outcome { TRY_NEXT, FINISHED };

/* The message inside a backend's error answer, when it has one. */
static void backend_message(struct sl_hosted_call *c, char *out, size_t n)
{
    json_t *v = json_loadb(c->in.data ? c->in.data : "", c->in.len, 0, NULL);
    json_t *e = json_object_get(v, "error");
    const char *m = json_string_value(json_object_get(e, "message"));

    if (!m)
        m = json_string_value(e);
    snprintf(out, n, "%s", m ? m : "no message");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_decref(v);
}

/* Records the call's usage (before the caller sees the end, so its next
 * call's quota counts this one), even when the caller left: the backend did
 * the work. */
static void record_usage(struct sl_hosted_call *c)
{
    struct sl_error err;
    struct sl_db *db;
    int64_t day = (int64_t)time(NULL) / 86400;

    if (!c->o.r)
        return;
    sl_error_clear(&err);
    db = sl_reg_db(c->o.r, &err);
    if (!db || sl_repo_usage_add(db, c->o.model_id, c->o.version_id, c->o.user_id, day,
                                 c->usage_seen ? c->prompt_tokens : 0,
                                 c->usage_seen ? c->completion_tokens : c->chunks, &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"hosted_usage_lost\",\"message\":\"%s\"}\n",
                sl_strerror(err.code));
}

static void finish_plain(struct sl_hosted_call *c, const struct sl_hosted_backend *b)
{
    json_t *v = json_loadb(c->in.data ? c->in.data : "", c->in.len, 0, NULL);
    char *s;

    if (!json_is_object(v) || !json_object_get(v, "choices")) {
        json_decref(v);
        sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: the answer is not a completion");
        fail_head(c, 502, "api_error", "bad_gateway", 0,
                  "the model's backend sent an answer that is not a completion");
        return;
    }
    sl_hosted_health_note(b, SL_HOSTED_OK, NULL);
    note_usage(c, v);
    record_usage(c);
    {
        json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
        const char *t =
            json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
        keep_text(c, t ? t : json_string_value(json_object_get(c0, "text")));
        record_retained(c);
    }
    if (filter_plain(c, v)) {
        json_decref(v);
        return;
    }
    rewrite(c, v);
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    pthread_mutex_lock(&c->m);
    c->head = true;
    c->status = 200;
    c->sse = false;
    if (s)
        sl_buf_adds(&c->out, s);
    c->eof = true;
    pthread_mutex_unlock(&c->m);
    free(s);
    wake(c);
}

static enum outcome attempt(struct sl_hosted_call *c, const struct sl_hosted_backend *b, bool last)
{
    const struct sl_curl_api *cu = c->curl;
    /* a connection left open by the last call to this backend, if any */
    struct sl_hosted_conn *k = sl_hosted_conn_take(cu, b->id);
    CURL *h = k->h;
    CURLM *mh = k->mh;
    struct curl_slist *hdr = NULL;
    char *url = sl__hosted_endpoint(b, c->o.path), *body, why[200];
    json_t *req = json_deep_copy(c->body);
    long long t0 = now_ms(), last_check = t0;
    int running = 1;
    CURLcode result = CURLE_OK;
    enum outcome oc = FINISHED;
    bool revoked = false, timed_out = false, stop = false;

    sl_buf_reset(&c->in);
    sl_buf_reset(&c->data);
    c->h = h;
    c->usage_seen = false;
    c->prompt_tokens = c->completion_tokens = c->chunks = 0;
    c->backend_status = 0;
    c->got_byte = c->in_error = c->done_seen = c->any_event = c->malformed = c->too_big = false;
    sl_buf_reset(&c->kept);
    c->kept_truncated = false;
    c->draining = c->backend_done = false;
    c->last_byte = t0;
    json_object_set_new(req, "model",
                        json_string(b->backend_model[0] ? b->backend_model : c->model));
    if (c->o.stream) {
        /* usage is metered: ask for it whatever the caller asked */
        json_t *so = json_object_get(req, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(req, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    }
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    hdr = cu->slist_append(hdr, "Content-Type: application/json");
    hdr = cu->slist_append(hdr,
                           c->o.stream ? "Accept: text/event-stream" : "Accept: application/json");
    hdr = cu->slist_append(hdr, "Expect:");
    if (b->key_env[0]) {
        const char *key = getenv(b->key_env);
        if (key && *key) {
            char *line = sl_xasprintf("Authorization: Bearer %s", key);
            hdr = cu->slist_append(hdr, line);
            free(line);
        }
    }
    cu->easy_setopt(h, CURLOPT_URL, url);
    cu->easy_setopt(h, CURLOPT_POSTFIELDS, body);
    cu->easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    cu->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    cu->easy_setopt(h, CURLOPT_WRITEDATA, c);
    cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_ms);
    cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cu->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    cu->easy_setopt(h, CURLOPT_MAXAGE_CONN, (long)SL_HOSTED_CONN_MAXAGE_S);
    cu->multi_add_handle(mh, h);
    while (running) {
        long long t = now_ms();
        if (atomic_load(&c->cancel))
            break;
        if (atomic_load(&stopping)) {
            stop = true;
            break;
        }
        if (t - last_check >= SL_HOSTED_CHECK_MS) {
            last_check = t;
            if (!allowed(c, why, sizeof(why))) {
                revoked = true;
                break;
            }
            if (c->head && c->o.stream && t - c->last_out >= (long long)c->o.keepalive_ms)
                put(c, ": keep-alive\n\n", 14);
            wake(c); /* the heartbeat: lets the HTTP side notice a gone client */
        }
        if (!c->got_byte && t - t0 >= (long long)c->o.first_byte_ms) {
            timed_out = true;
            break;
        }
        if (c->got_byte && t - c->last_byte >= (long long)c->o.idle_ms) {
            timed_out = true;
            break;
        }
        if (backlog(c) >= SL_HOSTED_BACKLOG_MAX) {
            /* the client reads slower than the backend writes: stop reading
             * the backend until it drains (TCP pushes back on the backend) */
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        cu->multi_perform(mh, &running);
        if (c->backend_status == 0 && c->got_byte)
            cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->backend_status);
        if (c->o.stream && c->backend_status == 200 && (c->malformed || c->in_error))
            break;
        if (c->o.stream && c->done_seen)
            break;
        if (c->too_big)
            break;
        if (running)
            cu->multi_poll(mh, NULL, 0, 100, NULL);
    }
    if (running && c->o.stream && c->backend_done && c->backend_status == 200 &&
        !atomic_load(&c->cancel) && !stop) {
        /* The backend's end of the response (the last chunk) follows its
         * [DONE] at once: read it, so that the connection stays open for
         * the next call. Briefly: a backend still sending is cut off. */
        long long t1 = now_ms();
        c->draining = true;
        while (running && now_ms() - t1 < 20) {
            cu->multi_perform(mh, &running);
            if (running)
                cu->multi_poll(mh, NULL, 0, 5, NULL);
        }
    }
    {
        int left;
        CURLMsg *msg;
        while ((msg = cu->multi_info_read(mh, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                result = msg->data.result;
    }
    if (c->backend_status == 0)
        cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->backend_status);
    if (c->o.stream && c->backend_status == 200 && !running && !c->done_seen && !c->malformed &&
        !c->in_error)
        parse_sse(c, true);
    /* the connection goes back to the pool before the caller sees the end,
     * so the caller's next call finds it there (a transfer cut short has
     * its connection closed by libcurl) */
    cu->multi_remove_handle(mh, h);
    sl_hosted_conn_give(cu, k);
    c->h = NULL;

    if (c->head) {
        record_usage(c); /* a stream began: whatever its end, it was used */
        record_retained(c);
    }
    if (atomic_load(&c->cancel)) {
        oc = FINISHED;
    } else if (stop) {
        if (c->head)
            stream_error(c, "unavailable", "the server is stopping; retry the call");
        else
            fail_head(c, 503, "api_error", "unavailable", 5,
                      "the server is stopping; retry in a few seconds");
    } else if (revoked) {
        if (!c->head)
            fail_head(c, 404, "invalid_request_error", "model_not_found", 0,
                      "The model `%s` does not exist or you do not have access to it.", c->model);
        else
            stream_error(c, "access_revoked", "access to %s ended: %s", c->model, why);
    } else if (c->head) {
        /* a started stream */
        if (c->malformed) {
            sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: a malformed event");
            stream_error(c, "bad_gateway", "the model's backend sent a malformed event");
        } else if (c->in_error) {
            stream_error(c, "backend_error", "the model's backend reported an error");
        } else if (c->too_big) {
            stream_error(c, "bad_gateway", "the client is not reading the answer");
        } else if (timed_out) {
            stream_error(c, "timeout", "the model's backend sent nothing for %u ms", c->o.idle_ms);
        } else if (!c->done_seen) {
            sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: the stream was dropped");
            stream_error(c, "bad_gateway", "the model's backend dropped the stream (%s)",
                         result != CURLE_OK ? cu->easy_strerror(result) : "it closed early");
        } else {
            pthread_mutex_lock(&c->m);
            c->eof = true;
            pthread_mutex_unlock(&c->m);
            sl_hosted_health_note(b, SL_HOSTED_OK, NULL);
            wake(c);
        }
    } else if (timed_out || (result != CURLE_OK && !c->got_byte) ||
               (c->backend_status >= 500 && !c->too_big)) {
        char note[200];
        if (timed_out)
            snprintf(note, sizeof(note), "a call: no answer within %u ms", c->o.first_byte_ms);
        else if (result != CURLE_OK && !c->got_byte)
            snprintf(note, sizeof(note), "a call: %s", cu->easy_strerror(result));
        else
            snprintf(note, sizeof(note), "a call: answered HTTP %ld", c->backend_status);
        enum sl_hosted_outcome o = SL_HOSTED_UNREACHABLE;
        if (c->backend_status >= 500)
            o = SL_HOSTED_BROKEN;
        else if (timed_out || result == CURLE_OPERATION_TIMEDOUT)
            o = SL_HOSTED_SILENT;
        sl_hosted_health_note(b, o, note);
        if (!last) {
            oc = TRY_NEXT;
        } else if (timed_out) {
            fail_head(c, 504, "api_error", "backend_timeout", 0,
                      "the model's backend did not answer in time");
        } else if (result != CURLE_OK && !c->got_byte) {
            fail_head(c, 503, "api_error", "backend_unavailable", 5,
                      "no backend of the model is reachable now; retry later");
        } else {
            char m[200];
            backend_message(c, m, sizeof(m));
            fail_head(c, 502, "api_error", "bad_gateway", 0,
                      "the model's backend failed (HTTP %ld: %s)", c->backend_status, m);
        }
    } else if (c->too_big) {
        sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: an answer over the limit");
        fail_head(c, 502, "api_error", "bad_gateway", 0,
                  "the model's backend sent an answer over the limit of %u bytes",
                  SL_HOSTED_ANSWER_MAX);
    } else if (c->backend_status == 429) {
        fail_head(c, 429, "rate_limit_error", "rate_limited", 5,
                  "the model's backend is busy; retry later");
    } else if (c->backend_status == 400 || c->backend_status == 404 || c->backend_status == 413 ||
               c->backend_status == 422) {
        char m[200];
        backend_message(c, m, sizeof(m));
        fail_head(c, 400, "invalid_request_error", "backend_refused", 0,
                  "the model's backend refused the request: %s", m);
    } else if (c->backend_status != 200) {
        char note[80];
        snprintf(note, sizeof(note), "a call: answered HTTP %ld", c->backend_status);
        sl_hosted_health_note(b, SL_HOSTED_BROKEN, note);
        fail_head(c, 502, "api_error", "bad_gateway", 0, "the model's backend answered HTTP %ld",
                  c->backend_status);
    } else if (!c->o.stream) {
        if (result != CURLE_OK) {
            sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: the answer was dropped");
            fail_head(c, 502, "api_error", "bad_gateway", 0,
                      "the model's backend dropped the answer (%s)", cu->easy_strerror(result));
        } else {
            finish_plain(c, b);
        }
    } else {
        /* a 200 stream that never produced an event */
        sl_hosted_health_note(b, SL_HOSTED_BROKEN, "a call: a stream without an event");
        fail_head(c, 502, "api_error", "bad_gateway", 0,
                  c->malformed  ? "the model's backend sent a malformed event"
                  : c->in_error ? "the model's backend reported an error"
                                : "the model's backend ended the stream without an event");
    }
    cu->slist_free_all(hdr);
    free(body);
    free(url);
    return oc;
}

static void release(struct sl_hosted_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&c->m);
    pthread_mutex_destroy(&c->wm);
    sl_buf_release(&c->out);
    sl_buf_release(&c->in);
    sl_buf_release(&c->data);
    sl_buf_release(&c->kept);
    json_decref(c->body);
    free(c->backends);
    free(c->model);
    sl_filter_out_free(c->fout);
    sl_filter_free(c->o.filter);
    free(c);
}

static void *run(void *arg)
{
    struct sl_hosted_call *c = arg;
    size_t n = c->o.nbackends, start = n ? atomic_fetch_add(&round_robin, 1) % n : 0;
    size_t order[SL_HOSTED_BACKENDS_MAX], k = 0;

    /* the backends that are up, in round-robin order; when every one is
     * down, those that fail fast (health.h: one may be back already), never
     * one that does not answer (the caller would wait for nothing) */
    for (int pass = 0; pass < 2 && k == 0; pass++)
        for (size_t i = 0; i < n; i++) {
            size_t j = (start + i) % n;
            if (pass == 0 ? !sl_hosted_backend_down(&c->backends[j])
                          : !sl_hosted_backend_silent(&c->backends[j]))
                order[k++] = j;
        }
    for (size_t i = 0; i < k; i++)
        if (attempt(c, &c->backends[order[i]], i + 1 == k) == FINISHED)
            break;
    if (n == 0)
        fail_head(c, 503, "api_error", "no_backend", 0, "the model has no backend");
    else if (k == 0)
        fail_head(c, 503, "api_error", "backend_unavailable", 5,
                  "no backend of the model is answering now; retry later");
    pthread_mutex_lock(&c->m);
    if (!c->head) { /* cancelled */
        c->head = true;
        c->status = 499;
    }
    c->eof = true;
    pthread_mutex_unlock(&c->m);
    wake(c);
    /* keep waking the owner until it has read the end (a wake may be lost
     * on the HTTP side) or gives up */
    for (;;) {
        struct timespec ts = {0, 50 * 1000000};
        bool drained;
        pthread_mutex_lock(&c->m);
        drained = c->drained;
        pthread_mutex_unlock(&c->m);
        if (drained || atomic_load(&c->cancel))
            break;
        wake(c);
        nanosleep(&ts, NULL);
    }
    release(c);
    return NULL;
}

/* A timeout from the environment of `sluice serve` (docs/hosted.md), else
 * `def`: 1 ms to 1 hour. */
static unsigned env_ms(const char *name, unsigned def)
{
    const char *s = getenv(name);
    unsigned long v = 0;

    if (!s || !*s || strlen(s) > 7)
        return def;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return def;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    return v >= 1 && v <= 3600000 ? (unsigned)v : def;
}

enum sl_err sl_hosted_call_start(const struct sl_hosted_call_opts *o, struct sl_hosted_call **out,
                                 struct sl_error *err)
{
    struct sl_hosted_call *c;
    pthread_attr_t attr;
    const struct sl_curl_api *cu;
    int rc;

    *out = NULL;
    if (sl_curl_load(&cu, err) != SL_OK)
        return err->code;
    if (o->nbackends > SL_HOSTED_BACKENDS_MAX)
        return sl_error_set(err, SL_ELIMIT, "too many backends");
    c = sl_xcalloc(1, sizeof(*c));
    c->o = *o;
    c->curl = cu;
    c->model = sl_xstrdup(o->model);
    c->body = json_deep_copy(o->body);
    c->backends = sl_xmalloc((o->nbackends ? o->nbackends : 1) * sizeof(*c->backends));
    if (o->nbackends)
        memcpy(c->backends, o->backends, o->nbackends * sizeof(*c->backends));
    c->o.backends = c->backends;
    c->o.body = NULL;
    c->o.model = c->model;
    if (!c->o.connect_ms)
        c->o.connect_ms = env_ms("SLUICE_HOSTED_CONNECT_MS", SL_HOSTED_CONNECT_MS);
    if (!c->o.first_byte_ms)
        c->o.first_byte_ms = env_ms("SLUICE_HOSTED_FIRST_BYTE_MS", SL_HOSTED_FIRST_BYTE_MS);
    if (!c->o.idle_ms)
        c->o.idle_ms = env_ms("SLUICE_HOSTED_IDLE_MS", SL_HOSTED_IDLE_MS);
    if (!c->o.keepalive_ms)
        c->o.keepalive_ms = env_ms("SLUICE_HOSTED_KEEPALIVE_MS", SL_HOSTED_KEEPALIVE_MS);
    pthread_mutex_init(&c->m, NULL);
    pthread_mutex_init(&c->wm, NULL);
    atomic_init(&c->refs, 2);
    sl_buf_init(&c->out, o->stream ? SL_HOSTED_BACKLOG_MAX + SL_HOSTED_EVENT_MAX + 4096
                                   : SL_HOSTED_ANSWER_MAX + 4096);
    sl_buf_init(&c->in,
                o->stream ? SL_HOSTED_EVENT_MAX + CURL_MAX_WRITE_SIZE : SL_HOSTED_ANSWER_MAX);
    sl_buf_init(&c->data, SL_HOSTED_EVENT_MAX);
    sl_buf_init(&c->kept, SL_HOSTED_RETAIN_TEXT_MAX + 1);
    c->last_out = now_ms();
    if (sl_filter_has_output(c->o.filter))
        c->fout = sl_filter_out_new(c->o.filter);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256u << 10);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&c->thread, &attr, run, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_store(&c->refs, 1);
        c->o.filter = NULL; /* the caller frees it on an error */
        release(c);
        return sl_error_set(err, SL_EUNAVAILABLE, "cannot start a thread for the call");
    }
    *out = c;
    return SL_OK;
}

bool sl_hosted_call_head(struct sl_hosted_call *c, unsigned *status, bool *sse,
                         unsigned *retry_after, const char **code)
{
    bool head;

    pthread_mutex_lock(&c->m);
    head = c->head;
    if (head) {
        *status = c->status;
        *sse = c->sse;
        *retry_after = c->retry_after;
        *code = c->code;
    }
    pthread_mutex_unlock(&c->m);
    return head;
}

size_t sl_hosted_call_read(struct sl_hosted_call *c, char *buf, size_t max, bool *eof)
{
    size_t n;

    pthread_mutex_lock(&c->m);
    n = c->out.len - c->out_off;
    if (n > max)
        n = max;
    if (n)
        memcpy(buf, c->out.data + c->out_off, n);
    c->out_off += n;
    *eof = c->eof && c->out_off == c->out.len;
    if (*eof)
        c->drained = true;
    pthread_mutex_unlock(&c->m);
    return n;
}

void sl_hosted_call_reason(struct sl_hosted_call *c, char *out, size_t n)
{
    pthread_mutex_lock(&c->m);
    snprintf(out, n, "%s", c->reason);
    pthread_mutex_unlock(&c->m);
}

void sl_hosted_call_free(struct sl_hosted_call *c)
{
    if (!c)
        return;
    /* The thread notices within 100 ms and frees the call when it ends;
     * from now on it calls nothing of the owner's. */
    atomic_store(&c->cancel, true);
    pthread_mutex_lock(&c->wm);
    c->o.wake = NULL;
    c->o.allowed = NULL;
    pthread_mutex_unlock(&c->wm);
    release(c);
}
