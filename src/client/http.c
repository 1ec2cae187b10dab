/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for the client over the libcurl table of curl.c: the client handle,
 * one-at-a-time JSON requests, turning failed exchanges into errors a person
 * can act on, and a small pool that runs many transfers in parallel over one
 * curl multi handle with retries (used by push and pull).
 */
#include "client/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

#define USER_AGENT "sluice/0.1"

double sl__cl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum sl_err sl_client_new(const char *url, const char *token, struct sl_client **out,
                          struct sl_error *err)
{
    const struct sl_curl_api *c;
    struct sl_client *cl;
    enum sl_err rc = sl_curl_load(&c, err);

    if (rc)
        return rc;
    cl = sl_xcalloc(1, sizeof(*cl));
    cl->c = c;
    cl->url = sl_xstrdup(url);
    cl->retry_for = SL_CLIENT_RETRY_FOR_DEFAULT;
    if (token && token[0])
        cl->auth_header = sl_xasprintf("Authorization: Bearer %s", token);
    cl->easy = c->easy_init();
    if (!cl->easy) {
        sl_client_free(cl);
        return sl_error_set(err, SL_ENOMEM, "libcurl could not create a handle");
    }
    *out = cl;
    return SL_OK;
}

void sl_client_free(struct sl_client *cl)
{
    if (!cl)
        return;
    if (cl->easy)
        cl->c->easy_cleanup(cl->easy);
    json_decref(cl->last_error);
    if (cl->auth_header) {
        sl_wipe(cl->auth_header, strlen(cl->auth_header));
        free(cl->auth_header);
    }
    free(cl->url);
    free(cl);
}

void sl_client_set_transfer(struct sl_client *cl, uint64_t rate, double retry_for)
{
    cl->rate = rate;
    cl->retry_for = retry_for < 0 ? 0 : retry_for;
    cl->tokens = 0;
    cl->refilled = sl__cl_now();
}

#define RATE_MAX (1ull << 40)

enum sl_err sl_client_parse_rate(const char *s, uint64_t *out, struct sl_error *err)
{
    uint64_t v = 0, mult = 1;
    const char *p = s;

    if (!s || !(*p >= '0' && *p <= '9'))
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > RATE_MAX)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p == 'k' || *p == 'K')
        mult = 1024;
    else if (*p == 'm' || *p == 'M')
        mult = 1024 * 1024;
    else if (*p == 'g' || *p == 'G')
        mult = 1024ull * 1024 * 1024;
    else if (*p)
        goto bad;
    if (*p && p[1])
        goto bad;
    if (v == 0)
        return sl_error_set(err, SL_EUSAGE,
                            "rate \"%s\": must be more than zero (leave the option out for no "
                            "limit)",
                            s);
    if (v > RATE_MAX / mult)
        goto bad;
    *out = v * mult;
    return SL_OK;
bad:
    return sl_error_set(err, SL_EUSAGE,
                        "rate \"%s\": expected bytes per second as a whole number with an "
                        "optional K, M or G (1024-based), such as 500K or 2M",
                        s ? s : "");
}

enum sl_err sl_client_parse_duration(const char *s, double *seconds, struct sl_error *err)
{
    uint64_t v = 0, mult = 1;
    const char *p = s;

    if (!s || !(*p >= '0' && *p <= '9'))
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > 7ull * 86400)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p == 's')
        mult = 1;
    else if (*p == 'm')
        mult = 60;
    else if (*p == 'h')
        mult = 3600;
    else if (*p)
        goto bad;
    if (*p && p[1])
        goto bad;
    if (v * mult > 7ull * 86400)
        goto bad;
    *seconds = (double)(v * mult);
    return SL_OK;
bad:
    return sl_error_set(err, SL_EUSAGE,
                        "duration \"%s\": expected a whole number with s, m or h (such as "
                        "30s, 10m or 1h), at most 7 days",
                        s ? s : "");
}

static void rate_refill(struct sl_client *cl)
{
    double now = sl__cl_now();
    /* A burst of a tenth of a second (at least 16 KiB) keeps the average
     * exact over any window longer than that. */
    double burst = (double)cl->rate / 10.0 < 16384.0 ? 16384.0 : (double)cl->rate / 10.0;

    cl->tokens += (now - cl->refilled) * (double)cl->rate;
    if (cl->tokens > burst)
        cl->tokens = burst;
    cl->refilled = now;
}

bool sl__cl_rate_take(struct sl_client *cl, struct sl_pool_slot *s, size_t n)
{
    if (!cl->rate)
        return true;
    rate_refill(cl);
    if (cl->tokens <= 0) {
        s->paused = true;
        return false;
    }
    /* The bucket may run into debt by one delivery: the next ones wait. */
    cl->tokens -= (double)n;
    return true;
}

enum sl_err sl__cl_url_escape(struct sl_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        enum sl_err rc;
        if (keep) {
            rc = sl_buf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = sl_buf_add(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return SL_OK;
}

static void http_setup(struct sl_client *cl, CURL *h, const char *url, struct curl_slist **headers,
                       const char *extra, long low_speed_secs, bool expect)
{
    const struct sl_curl_api *c = cl->c;
    struct curl_slist *l = NULL;

    if (cl->auth_header)
        l = c->slist_append(l, cl->auth_header);
    /* No "Expect: 100-continue" round trip before request bodies, unless
     * the caller asks (sl__cl_http_setup_expect). */
    l = c->slist_append(l, expect ? "Expect: 100-continue" : "Expect:");
    if (extra)
        l = c->slist_append(l, extra);
    *headers = l;
    c->easy_setopt(h, CURLOPT_URL, url);
    c->easy_setopt(h, CURLOPT_HTTPHEADER, l);
    c->easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    /* Redirects are not followed: the token must only go where it was sent. */
    c->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    c->easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Under a rate limit small deliveries keep the pace even. */
    c->easy_setopt(h, CURLOPT_BUFFERSIZE, cl->rate ? 16L * 1024L : 512L * 1024L);
    c->easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, cl->rate ? 16L * 1024L : 1024L * 1024L);
    if (low_speed_secs > 0) {
        c->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        c->easy_setopt(h, CURLOPT_LOW_SPEED_TIME, low_speed_secs);
    }
}

void sl__cl_http_setup(struct sl_client *cl, CURL *h, const char *url, struct curl_slist **headers,
                       const char *extra, long low_speed_secs)
{
    http_setup(cl, h, url, headers, extra, low_speed_secs, false);
}

void sl__cl_http_setup_expect(struct sl_client *cl, CURL *h, const char *url,
                              struct curl_slist **headers, const char *extra, long low_speed_secs)
{
    http_setup(cl, h, url, headers, extra, low_speed_secs, true);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    struct sl_buf *b = ud;

    if (sl_buf_add(b, p, size * n) != SL_OK)
        return 0; /* over the cap: stops the transfer */
    return size * n;
}

enum sl_err sl__cl_http_curl_error(struct sl_client *cl, CURLcode cc, const char *errbuf,
                                   struct sl_error *err)
{
    const char *why = errbuf && errbuf[0] ? errbuf : cl->c->easy_strerror(cc);

    return sl_error_set(err, SL_EUNREACHABLE, "cannot reach %s: %s", cl->url, why);
}

static const char *status_code_name(long status)
{
    switch (status) {
    case 400:
        return "bad request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not found";
    case 405:
        return "method not allowed";
    case 409:
        return "conflict";
    case 413:
        return "too large";
    case 416:
        return "range not satisfiable";
    case 422:
        return "unprocessable";
    case 429:
        return "too many requests";
    case 500:
        return "internal server error";
    case 502:
        return "bad gateway";
    case 503:
        return "service unavailable";
    case 504:
        return "gateway timeout";
    case 507:
        return "insufficient storage";
    default:
        return "error";
    }
}

enum sl_err sl__cl_http_status_error(long status, const char *body, size_t len, const char *what,
                                     struct sl_error *err)
{
    enum sl_err code;
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));
    const char *tier = json_string_value(json_object_get(j, "tier"));
    const char *hint = json_string_value(json_object_get(j, "hint"));
    char extra[512] = "";

    if (status == 404)
        code = SL_ENOTFOUND;
    else if (status == 401)
        code = SL_EAUTH;
    else if (status == 403)
        code = SL_EFORBIDDEN;
    else if (status == 409)
        code = SL_ECONFLICT;
    else if (status >= 400 && status < 500)
        code = SL_EREFUSED;
    else if (status == 502 || status == 503 || status == 504)
        code = SL_EUNREACHABLE;
    else
        code = SL_EINTERNAL;
    /* Some answers repeat the message in the hint: say it once. */
    if (hint && msg && strstr(msg, hint))
        hint = NULL;
    if (tier && msg && strstr(msg, tier))
        tier = NULL;
    if (tier && hint)
        snprintf(extra, sizeof(extra), " (tier %s: %s)", tier, hint);
    else if (hint)
        snprintf(extra, sizeof(extra), " (%s)", hint);
    else if (tier)
        snprintf(extra, sizeof(extra), " (tier %s)", tier);
    if (!what || !what[0])
        what = NULL;
    if (msg)
        sl_error_set(err, code, "%s%sthe server answered %ld %s: %s%s", what ? what : "",
                     what ? ": " : "", status, status_code_name(status), msg, extra);
    else if (status >= 200 && status < 300)
        sl_error_set(err, SL_EINTERNAL, "%s%sunexpected answer %ld from the server",
                     what ? what : "", what ? ": " : "", status);
    else
        sl_error_set(err, code, "%s%sthe server answered %ld %s", what ? what : "",
                     what ? ": " : "", status, status_code_name(status));
    json_decref(j);
    return err ? err->code : code;
}

enum sl_err sl__cl_http_json(struct sl_client *cl, const char *method, const char *path,
                             const char *body, size_t body_len, long low_speed_secs, long *status,
                             json_t **answer, struct sl_error *err)
{
    const struct sl_curl_api *c = cl->c;
    struct sl_buf resp = SL_BUF_INIT(SL_CLIENT_JSON_MAX);
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = sl_xasprintf("%s%s", cl->url, path);
    long st = 0;
    CURLcode cc;
    enum sl_err rc = SL_OK;

    json_decref(cl->last_error);
    cl->last_error = NULL;
    c->easy_reset(cl->easy);
    sl__cl_http_setup(cl, cl->easy, url, &headers, body ? "Content-Type: application/json" : NULL,
                      low_speed_secs);
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, errbuf);
    c->easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, collect);
    c->easy_setopt(cl->easy, CURLOPT_WRITEDATA, &resp);
    if (body) {
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDS, body);
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") == 0)
        c->easy_setopt(cl->easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0 || !body)
        c->easy_setopt(cl->easy, CURLOPT_CUSTOMREQUEST, method);
    cc = c->easy_perform(cl->easy);
    c->easy_getinfo(cl->easy, CURLINFO_RESPONSE_CODE, &st);
    if (status)
        *status = st;
    if (cc == CURLE_WRITE_ERROR && resp.len + CURL_MAX_WRITE_SIZE >= SL_CLIENT_JSON_MAX) {
        rc = sl_error_set(err, SL_ELIMIT, "%s %s: the answer is larger than %u MiB", method, path,
                          SL_CLIENT_JSON_MAX >> 20);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = sl__cl_http_curl_error(cl, cc, errbuf, err);
        goto out;
    }
    if (st < 200 || st >= 300) {
        rc = sl__cl_http_status_error(st, resp.data, resp.len, NULL, err);
        if (resp.len)
            cl->last_error = json_loadb(resp.data, resp.len, 0, NULL);
        goto out;
    }
    if (answer) {
        json_error_t je;
        *answer = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je);
        if (!*answer)
            rc = sl_error_set(err, SL_EINTERNAL,
                              "%s %s: the server's answer is not JSON (%s at byte %d)", method,
                              path, je.text, je.position);
    }
out:
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, NULL);
    c->slist_free_all(headers);
    sl_buf_release(&resp);
    free(url);
    return rc;
}

enum sl_err sl_client_health(struct sl_client *cl, struct sl_error *err)
{
    json_t *a = NULL;
    enum sl_err rc = sl__cl_http_json(cl, "GET", "/api/v1/health", NULL, 0, 30, NULL, &a, err);

    if (rc) {
        if (rc != SL_EUNREACHABLE)
            sl_error_prefix(err, "GET %s/api/v1/health", cl->url);
        goto out;
    }
    if (!json_is_true(json_object_get(a, "ok")))
        rc = sl_error_set(err, SL_EREFUSED,
                          "%s does not look like a sluice server (GET /api/v1/health did not "
                          "answer {\"ok\": true})",
                          cl->url);
out:
    json_decref(a);
    return rc;
}

json_t *sl_client_last_error(struct sl_client *cl)
{
    return cl->last_error;
}

enum sl_err sl_client_parse_model(const char *spec, char **org, char **name, char **rev,
                                  struct sl_error *err)
{
    const char *slash = strchr(spec, '/'), *at = strchr(spec, '@');
    char *o, *n;

    if (at && !rev)
        return sl_error_set(err, SL_EUSAGE, "\"%s\": expected ORG/NAME", spec);
    if (!slash || (at && at < slash))
        return sl_error_set(err, SL_EUSAGE, "\"%s\": expected ORG/NAME%s", spec,
                            rev ? "[@REV]" : "");
    o = sl_xstrndup(spec, (size_t)(slash - spec));
    n = at ? sl_xstrndup(slash + 1, (size_t)(at - slash - 1)) : sl_xstrdup(slash + 1);
    if (!sl__cl_name_ok(o) || !sl__cl_name_ok(n)) {
        free(o);
        free(n);
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": names are 1-96 of A-Z a-z 0-9 . _ - and start with a letter "
                            "or digit",
                            spec);
    }
    if (rev) {
        const char *r = at ? at + 1 : "main";
        bool ok = r[0] != '\0' && strlen(r) <= 255;
        for (const char *p = r; *p && ok; p++) {
            unsigned char ch = (unsigned char)*p;
            ok = ch > 0x20 && ch < 0x7f && ch != '\\';
        }
        if (!ok) {
            free(o);
            free(n);
            return sl_error_set(err, SL_EUSAGE, "\"%s\": bad revision after '@'", spec);
        }
        *rev = sl_xstrdup(r);
    }
    *org = o;
    *name = n;
    return SL_OK;
}

bool sl__cl_http_retryable(CURLcode cc, long status)
{
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

void sl__cl_pool_slot_body(struct sl_pool_slot *s, const char *p, size_t n)
{
    size_t room = 65536 - s->body_len;

    if (n > room)
        n = room;
    if (!n)
        return;
    s->body = sl_xrealloc(s->body, s->body_len + n + 1);
    memcpy(s->body + s->body_len, p, n);
    s->body_len += n;
    s->body[s->body_len] = '\0';
}

struct retry {
    size_t job;
    double not_before;
};

/* Per job: consecutive failures and when the first of them happened. */
struct jobfail {
    unsigned n;
    double since;
};

static double jitter(unsigned n)
{
    unsigned char r[4];
    double cap = SL_POOL_BACKOFF_BASE, u;

    for (unsigned i = 1; i < n && cap < SL_POOL_BACKOFF_CAP; i++)
        cap *= 2;
    if (cap > SL_POOL_BACKOFF_CAP)
        cap = SL_POOL_BACKOFF_CAP;
    sl_random(r, sizeof(r));
    u = (double)((uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 |
                 (uint32_t)r[3] << 24) /
        4294967296.0;
    return u * cap;
}

enum sl_err sl__cl_pool_run(struct sl_client *cl, size_t njobs, int streams,
                            const struct sl_pool_ops *ops, void *ctx, struct sl_error *err)
{
    const struct sl_curl_api *c = cl->c;
    struct sl_pool_slot *slots;
    struct jobfail *fails = sl_xcalloc(njobs ? njobs : 1, sizeof(*fails));
    struct retry *retries = sl_xcalloc(njobs ? njobs : 1, sizeof(*retries));
    size_t nretries = 0, next = 0, busy = 0;
    double last_tick = 0;
    CURLM *m = c->multi_init();
    enum sl_err rc = SL_OK;

    if (streams < 1)
        streams = 1;
    slots = sl_xcalloc((size_t)streams, sizeof(*slots));
    for (int i = 0; i < streams; i++)
        slots[i].index = i;
    if (!m) {
        rc = sl_error_set(err, SL_ENOMEM, "libcurl could not create a multi handle");
        goto out;
    }
    if (cl->rate) {
        cl->tokens = 0;
        cl->refilled = sl__cl_now();
    }
    for (;;) {
        double now = sl__cl_now();
        int running = 0, paused = 0;
        CURLMsg *msg;
        int left;
        CURLMcode mc;

        /* Fill idle slots: due retries first, then fresh jobs. */
        for (int i = 0; i < streams && !rc; i++) {
            struct sl_pool_slot *s = &slots[i];
            size_t job = (size_t)-1;
            if (s->busy)
                continue;
            for (size_t k = 0; k < nretries; k++) {
                if (retries[k].not_before <= now) {
                    job = retries[k].job;
                    retries[k] = retries[--nretries];
                    break;
                }
            }
            if (job == (size_t)-1 && next < njobs)
                job = next++;
            if (job == (size_t)-1)
                break;
            if (!s->easy && !(s->easy = c->easy_init())) {
                rc = sl_error_set(err, SL_ENOMEM, "libcurl could not create a handle");
                break;
            }
            c->easy_reset(s->easy);
            s->job = job;
            s->errbuf[0] = '\0';
            s->body_len = 0;
            s->paused = false;
            rc = ops->start(ctx, s, job, err);
            if (rc)
                break;
            c->easy_setopt(s->easy, CURLOPT_PRIVATE, (void *)s);
            c->easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
            mc = c->multi_add_handle(m, s->easy);
            if (mc != CURLM_OK) {
                rc = sl_error_set(err, SL_EINTERNAL, "libcurl: %s", c->multi_strerror(mc));
                break;
            }
            s->busy = true;
            busy++;
        }
        if (rc)
            break;
        if (busy == 0 && nretries == 0 && next >= njobs)
            break;
        /* Transfers the rate limit paused go on once the bucket refills. */
        if (cl->rate) {
            rate_refill(cl);
            for (int i = 0; i < streams; i++) {
                if (!slots[i].busy || !slots[i].paused)
                    continue;
                if (cl->tokens > 0) {
                    slots[i].paused = false;
                    c->easy_pause(slots[i].easy, CURLPAUSE_CONT);
                }
                if (slots[i].paused)
                    paused++;
            }
        }
        mc = c->multi_perform(m, &running);
        if (mc != CURLM_OK) {
            rc = sl_error_set(err, SL_EINTERNAL, "libcurl: %s", c->multi_strerror(mc));
            break;
        }
        while ((msg = c->multi_info_read(m, &left)) != NULL) {
            struct sl_pool_slot *s = NULL;
            char *priv = NULL;
            long status = 0;
            curl_off_t down = 0, up = 0, after = 0;
            enum sl_pool_verdict v;
            struct sl_error e;
            if (msg->msg != CURLMSG_DONE)
                continue;
            c->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            s = (struct sl_pool_slot *)(void *)priv;
            c->easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            c->easy_getinfo(msg->easy_handle, CURLINFO_SIZE_DOWNLOAD_T, &down);
            c->easy_getinfo(msg->easy_handle, CURLINFO_SIZE_UPLOAD_T, &up);
            c->easy_getinfo(msg->easy_handle, CURLINFO_RETRY_AFTER, &after);
            sl_error_clear(&e);
            v = ops->finish(ctx, s, msg->data.result, status, &e);
            c->multi_remove_handle(m, s->easy);
            c->slist_free_all(s->headers);
            s->headers = NULL;
            s->busy = false;
            s->paused = false;
            busy--;
            if (v == SL_POOL_RETRY) {
                struct jobfail *jf = &fails[s->job];
                double t = sl__cl_now(), wait;
                /* The budget runs from the first failure since the job
                 * last moved bytes (a resumed range continues where the
                 * failed one stopped). */
                if (jf->n == 0 || (msg->data.result != CURLE_OK && (down > 0 || up > 0))) {
                    jf->n = 0;
                    jf->since = t;
                }
                jf->n++;
                wait = jitter(jf->n);
                if (after > 0 && (double)after > wait)
                    wait = (double)after;
                /* the last try comes when the budget ends, not before */
                if (t + wait > jf->since + cl->retry_for)
                    wait = jf->since + cl->retry_for - t;
                if (t - jf->since >= cl->retry_for || wait < 0) {
                    v = SL_POOL_FAIL;
                    if (cl->retry_for > 0)
                        sl_error_prefix(&e, "gave up after retrying for %.0f s", cl->retry_for);
                } else {
                    retries[nretries].job = s->job;
                    retries[nretries].not_before = t + wait;
                    nretries++;
                }
            }
            if (v == SL_POOL_FAIL) {
                if (e.code == SL_OK)
                    sl_error_set(&e, SL_EINTERNAL, "transfer failed");
                if (err)
                    *err = e;
                rc = e.code;
                break;
            }
            if (v == SL_POOL_DONE)
                fails[s->job].n = 0;
        }
        if (rc)
            break;
        now = sl__cl_now();
        if (ops->tick && now - last_tick >= 0.1) {
            ops->tick(ctx);
            last_tick = now;
        }
        if (busy > 0) {
            /* With paused transfers, look again soon: they wait for the
             * bucket, not for the network. */
            mc = c->multi_poll(m, NULL, 0, paused ? 5 : 100, NULL);
            if (mc != CURLM_OK) {
                rc = sl_error_set(err, SL_EINTERNAL, "libcurl: %s", c->multi_strerror(mc));
                break;
            }
        } else if (nretries > 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (ops->tick)
        ops->tick(ctx);
out:
    for (int i = 0; i < streams; i++) {
        if (slots[i].busy)
            c->multi_remove_handle(m, slots[i].easy);
        if (slots[i].headers)
            c->slist_free_all(slots[i].headers);
        if (slots[i].easy)
            c->easy_cleanup(slots[i].easy);
        free(slots[i].body);
    }
    if (m)
        c->multi_cleanup(m);
    free(slots);
    free(retries);
    free(fails);
    return rc;
}

enum sl_err sl__cl_http_text(struct sl_client *cl, const char *method, const char *path,
                             const char *content_type, const char *body, size_t body_len,
                             size_t max, long *status, char **text, size_t *text_len,
                             struct sl_error *err)
{
    const struct sl_curl_api *c = cl->c;
    struct sl_buf resp = SL_BUF_INIT(max);
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = sl_xasprintf("%s%s", cl->url, path);
    char *ctype = body ? sl_xasprintf("Content-Type: %s", content_type) : NULL;
    long st = 0;
    CURLcode cc;
    enum sl_err rc = SL_OK;

    json_decref(cl->last_error);
    cl->last_error = NULL;
    c->easy_reset(cl->easy);
    sl__cl_http_setup(cl, cl->easy, url, &headers, ctype, 60);
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, errbuf);
    c->easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, collect);
    c->easy_setopt(cl->easy, CURLOPT_WRITEDATA, &resp);
    if (body) {
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDS, body);
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") == 0)
        c->easy_setopt(cl->easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0 || !body)
        c->easy_setopt(cl->easy, CURLOPT_CUSTOMREQUEST, method);
    cc = c->easy_perform(cl->easy);
    c->easy_getinfo(cl->easy, CURLINFO_RESPONSE_CODE, &st);
    if (status)
        *status = st;
    if (cc == CURLE_WRITE_ERROR && resp.len + CURL_MAX_WRITE_SIZE >= max) {
        rc = sl_error_set(err, SL_ELIMIT, "%s %s: the answer is larger than %zu bytes", method,
                          path, max);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = sl__cl_http_curl_error(cl, cc, errbuf, err);
        goto out;
    }
    if (st < 200 || st >= 300) {
        rc = sl__cl_http_status_error(st, resp.data, resp.len, NULL, err);
        if (resp.len)
            cl->last_error = json_loadb(resp.data, resp.len, 0, NULL);
        goto out;
    }
    if (text)
        *text = sl_buf_detach(&resp, text_len); /* NUL-terminated, never NULL */
out:
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, NULL);
    c->slist_free_all(headers);
    sl_buf_release(&resp);
    free(ctype);
    free(url);
    return rc;
}
