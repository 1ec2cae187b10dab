/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libmicrohttpd daemon: a thread pool on poll, the request lifecycle
 * (match the route on the first call; stream or buffer the body; answer on
 * the last call, which keeps connections alive), the JSON answers, one JSON
 * log line per request on stderr, the caps and timeouts that keep slow and
 * idle clients from starving the others (with conns.c), and a clean stop on
 * SIGTERM that lets requests in flight finish.
 */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/jsonout.h"
#include "common/util.h"
#include "hosted/health.h"
#include "hosted/pool.h"
#include "common/banned.h"

static const char *code_name(unsigned status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 411:
        return "length_required";
    case 413:
        return "too_large";
    case 416:
        return "range_not_satisfiable";
    case 422:
        return "unprocessable";
    case 503:
        return "unavailable";
    case 507:
        return "insufficient_storage";
    default:
        return status >= 500 ? "internal" : "bad_request";
    }
}

/* The one place an error becomes an HTTP status. */
static unsigned status_of(enum sl_err e)
{
    switch (e) {
    case SL_OK:
        return 200;
    case SL_EUSAGE:
    case SL_EINPUT:
    case SL_EUNSUPPORTED:
        return 400;
    case SL_EAUTH:
        return 401;
    case SL_EFORBIDDEN:
        return 403;
    case SL_ENOTFOUND:
        return 404;
    case SL_ECONFLICT:
        return 409;
    case SL_ELIMIT:
        return 413;
    case SL_EREFUSED:
        return 422;
    case SL_ENOSPACE:
        return 507;
    case SL_EUNAVAILABLE:
        return 503;       /* the database is unreachable or asked for a retry */
    case SL_EUNREACHABLE: /* the blob store (or another back end) is down: retry */
        return 503;
    default:
        return 500;
    }
}

void sl_reply(struct sl_req *q, unsigned status, struct MHD_Response *resp, uint64_t size)
{
    if (q->set_cookie[0]) /* a session opened or ended (handlers_web.c) */
        sl_mhd->add_response_header(resp, "Set-Cookie", q->set_cookie);
    q->status = status;
    q->bytes = size;
    q->answered = true;
    sl_mhd->queue_response(q->conn, status, resp);
    sl_mhd->destroy_response(resp);
}

void sl_add_error_message(struct MHD_Response *resp, const char *msg)
{
    char h[SL_ERROR_HEADER_MAX + 1];
    size_t n = 0;

    if (!msg || !*msg)
        return;
    /* A header value: printable ASCII only (a UTF-8 byte or a control
     * character becomes '?'), cut at the limit with "...". */
    for (const unsigned char *p = (const unsigned char *)msg; *p && n < SL_ERROR_HEADER_MAX; p++)
        h[n++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
    if (n == SL_ERROR_HEADER_MAX && msg[n])
        memcpy(h + n - 3, "...", 3);
    h[n] = '\0';
    sl_mhd->add_response_header(resp, "X-Error-Message", h);
}

void sl_reply_json(struct sl_req *q, unsigned status, json_t *v)
{
    size_t len;
    char *text;
    struct MHD_Response *resp;

    if (!v) {
        struct sl_error e;
        sl_error_set(&e, SL_EINTERNAL, "could not build the answer");
        sl_reply_error(q, &e);
        return;
    }
    text = sl_json_dump(v, 0, &len);
    resp = sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    /* A shared cache keeps no answer to a request with Authorization, but
     * a cookie gives no such protection: what a session reads (its CSRF
     * token, the user's data) and what opens or ends one is never stored. */
    if (q->by_session || q->set_cookie[0])
        sl_mhd->add_response_header(resp, "Cache-Control", "no-store");
    if (status >= 400) {
        /* huggingface_hub shows X-Error-Message to the user (the body's
         * "error" is a code word); X-Error-Code types the error */
        sl_add_error_message(resp, json_string_value(json_object_get(v, "message")));
        if (q->x_error)
            sl_mhd->add_response_header(resp, "X-Error-Code", q->x_error);
    }
    if (status == 503)
        sl_mhd->add_response_header(resp, "Retry-After", "1");
    json_decref(v);
    sl_reply(q, status, resp, len);
}

void sl_reply_text(struct sl_req *q, unsigned status, char *text)
{
    size_t len = strlen(text);
    struct MHD_Response *resp =
        sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);

    sl_mhd->add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    sl_reply(q, status, resp, len);
}

void sl_reply_status(struct sl_req *q, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* a message may quote the request (a path, a query value, a header),
     * possibly cut inside a character: JSON takes only UTF-8 */
    sl_utf8_scrub(msg);
    if (status >= 500)
        snprintf(q->reason, sizeof(q->reason), "%s", msg);
    sl_reply_json(q, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void sl_reply_error(struct sl_req *q, const struct sl_error *e)
{
    unsigned status = status_of(e->code);

    if (status >= 500)
        sl_metrics_error(e->code);
    sl_reply_status(q, status, code_name(status), "%s", e->msg[0] ? e->msg : sl_strerror(e->code));
}

/* poll(), not epoll: libmicrohttpd 0.9.75's edge-triggered epoll mode
 * sometimes misses a client that closes in the middle of a request body,
 * leaving the connection in CLOSE-WAIT until the timeout (measured: 4 to 7
 * of 10 abandoned uploads). poll() sees every close and serves about 3/4 of
 * epoll's small-request rate (docs/PERFORMANCE.md). */
/* Each connection's libmicrohttpd memory pool (request line, headers, the
 * read buffer of a body). libmicrohttpd 0.9.75 zeroes the whole pool between
 * two requests of a keep-alive connection, so its size is paid on every
 * request: 256 KiB spent half the server's CPU on memset for HEAD and small
 * files (0.37x nginx), 32 KiB doubled the 1 KiB request rate and changed
 * neither downloads nor pushes (docs/PERFORMANCE.md). */
#define SL_MHD_POOL_KIB 32
#define SL_MHD_FLAGS    (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME)

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sl_progress(struct sl_server *s)
{
    atomic_store(&s->progress_ms, now_ms());
}

/* ---- logging ---- */

/* One JSON line per request, written in one call so lines never mix. Built
 * by hand: it runs for every request and must stay cheap. */
static void log_request(struct sl_req *q)
{
    struct timespec t1;
    char ts[32], num[96];
    struct tm tm;
    time_t now = time(NULL);
    struct sl_buf b = SL_BUF_INIT(4096);
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - q->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - q->t0.tv_nsec) / 1e6;
    sl_metrics_observe(q, ms / 1e3);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(num, sizeof(num), "{\"bytes\":%llu", (unsigned long long)q->bytes);
    sl_buf_adds(&b, num);
    if (q->status >= 500 && q->status <= 599) {
        /* Every 5xx says why, so an operator never has to guess. */
        const char *why = q->reason[0] ? q->reason : "no reason was recorded";
        sl_buf_adds(&b, ",\"error\":");
        sl_json_put_string(&b, why, strnlen(why, sizeof(q->reason)));
    }
    sl_buf_adds(&b, ",\"method\":");
    sl_json_put_string(&b, q->method, strlen(q->method));
    snprintf(num, sizeof(num), ",\"ms\":%.3f,\"path\":", ms);
    sl_buf_adds(&b, num);
    sl_json_put_string(&b, q->raw_path ? q->raw_path : "",
                       q->raw_path ? strnlen(q->raw_path, 2048) : 0);
    snprintf(num, sizeof(num), ",\"status\":%u,\"ts\":\"%s\",\"user\":", q->status, ts);
    sl_buf_adds(&b, num);
    if (q->who.user_id)
        sl_json_put_string(&b, q->who.name, strlen(q->who.name));
    else
        sl_buf_adds(&b, "null");
    sl_buf_adds(&b, "}\n");
    fwrite(b.data, 1, b.len, stderr);
    sl_buf_release(&b);
}

/* ---- connections ---- */

/* Counts connections per client address as libmicrohttpd opens and closes
 * them; the count decides whether the connection's requests are served or
 * answered 503 (conns.c). */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct sl_server *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            sl_mhd->get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const union MHD_ConnectionInfo *fi =
            sl_mhd->get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context =
            sl_conns_open(s->conns, ci ? ci->client_addr : NULL, fi ? fi->connect_fd : -1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        sl_conns_close(s->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* 503 with Retry-After and Connection: close, for a request the server will
 * not serve now (stopping, or its connection is over a cap). */
static void reply_unavailable(struct sl_req *q, const char *retry_after, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_unavailable(struct sl_req *q, const char *retry_after, const char *fmt, ...)
{
    va_list ap;
    size_t len;
    char *text;
    json_t *v;
    struct MHD_Response *resp;

    va_start(ap, fmt);
    vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
    va_end(ap);
    v = json_pack("{s:s, s:s}", "error", "unavailable", "message", q->reason);
    text = v ? sl_json_dump(v, 0, &len) : NULL;
    json_decref(v);
    if (!text) {
        text = sl_xstrdup("{\"error\":\"unavailable\"}");
        len = strlen(text);
    }
    resp = sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    /* A shared cache keeps no answer to a request with Authorization, but
     * a cookie gives no such protection: what a session reads (its CSRF
     * token, the user's data) and what opens or ends one is never stored. */
    if (q->by_session || q->set_cookie[0])
        sl_mhd->add_response_header(resp, "Cache-Control", "no-store");
    sl_mhd->add_response_header(resp, "Connection", "close");
    sl_mhd->add_response_header(resp, "Retry-After", retry_after);
    sl_add_error_message(resp, q->reason);
    sl_reply(q, 503, resp, len);
}

static struct sl_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        sl_mhd->get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void client_name(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        sl_mhd->get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, n, "this address");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static void req_free(struct sl_req *q)
{
    for (size_t i = 0; i < MAX_PARAMS; i++)
        free(q->params[i]);
    free(q->raw_path);
    sl_buf_release(&q->body);
    sl_ingest_abort(q->ingest);
    sl_upload_free(q->upload);
    sl_hosted_req_free(q->hosted);
    free(q);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct sl_server *s = cls;
    struct sl_req *q = *con_cls;

    /* Between two requests of a kept-alive connection the next one's
     * headers get the header timeout again. */
    if (conn) {
        sl_mhd->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)SL_HEADER_TIMEOUT_S);
        sl_conns_wait_headers(s->conns, conn_of(conn), true);
    }
    if (!q)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && (!q->answered || q->status < 400))
        q->status = 499; /* the client went away, or the connection failed */
    log_request(q);
    req_free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- request lifecycle ---- */

static void body_fail(struct sl_req *q, enum sl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void body_fail(struct sl_req *q, enum sl_err code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    if (q->body_failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_error_set(&q->body_err, code, "%s", msg);
    q->body_failed = true;
}

static void begin_body(struct sl_req *q)
{
    const char *cl = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Length");
    char *end;
    unsigned long long n;

    if (cl) {
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno || *end || end == cl) {
            body_fail(q, SL_EINPUT, "Content-Length is not a number");
            return;
        }
        q->content_length = n;
        q->has_length = true;
    }
    if (q->route->body == BODY_STREAM) {
        struct sl_error err;
        const char *file = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "file");
        const char *from = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "from");
        unsigned char sid[16];
        unsigned long long k = 0;
        if (!q->has_length) {
            body_fail(q, SL_EINPUT, "chunk uploads need a Content-Length");
            return;
        }
        /* ?file=ID&from=K: the frames are one file's chunks from index K
         * (docs/formats/chunk-upload.md) */
        if (file && !sl_unhex(file, strlen(file), sid, sizeof(sid))) {
            body_fail(q, SL_EINPUT, "?file must be 32 hex digits (a session id)");
            return;
        }
        if (file) {
            errno = 0;
            k = from ? strtoull(from, &end, 10) : 0;
            if (!from || errno || *end || end == from || from[0] == '-' || k > (1ULL << 40)) {
                body_fail(q, SL_EINPUT, "?from must be the index of the first chunk (0 or more)");
                return;
            }
        }
        if (sl_ingest_begin(q->srv->r, q->org_id, q->content_length, file ? sid : NULL, k,
                            &q->ingest, &err) != SL_OK)
            body_fail(q, err.code, "%s", err.msg);
    } else if (q->route->body == BODY_FILES) {
        struct sl_error err;
        if (sl_upload_begin(sl_reg_root(q->srv->r), &q->upload, &err) != SL_OK)
            body_fail(q, err.code, "%s", err.msg);
    } else if (q->route->body == BODY_JSON || q->route->body == BODY_SMALL) {
        unsigned max = q->route->body == BODY_JSON ? SL_JSON_BODY_MAX : SL_SMALL_BODY_MAX;
        if (q->has_length && q->content_length > max)
            body_fail(q, SL_ELIMIT, "the body of %llu bytes is over the limit of %u",
                      (unsigned long long)q->content_length, max);
        sl_buf_init(&q->body, max);
    }
}

static void feed_body(struct sl_req *q, const char *data, size_t n)
{
    struct sl_error err;

    if (q->body_failed)
        return; /* keep reading and discarding; answer at the end */
    if (q->route->body == BODY_STREAM) {
        if (sl_ingest_feed(q->ingest, data, n, &err) != SL_OK)
            body_fail(q, err.code, "%s", err.msg);
    } else if (q->route->body == BODY_FILES) {
        if (sl_upload_feed(q->upload, data, n, &err) != SL_OK)
            body_fail(q, err.code, "%s", err.msg);
    } else if (q->route->body == BODY_JSON || q->route->body == BODY_SMALL) {
        if (sl_buf_add(&q->body, data, n) != SL_OK)
            body_fail(q, SL_ELIMIT, "the body is over the limit of %zu bytes", q->body.cap);
    } else {
        body_fail(q, SL_EINPUT, "this request takes no body");
    }
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct sl_server *s = cls;
    struct sl_req *q = *con_cls;

    (void)version;
    if (!q) {
        unsigned status;
        const char *why;
        q = sl_xcalloc(1, sizeof(*q));
        clock_gettime(CLOCK_MONOTONIC, &q->t0);
        q->srv = s;
        q->conn = conn;
        q->method = method;
        q->head = strcmp(method, "HEAD") == 0;
        q->raw_path = sl_xstrdup(url);
        *con_cls = q;
        atomic_fetch_add(&s->in_flight, 1);
        atomic_fetch_add(&s->requests, 1);
        if (atomic_load(&s->draining)) {
            /* Stopping: requests already in flight finish; new ones (also
             * on kept-alive connections) are turned away. */
            reply_unavailable(q, "5", "the server is stopping");
            return MHD_YES;
        }
        sl_conns_wait_headers(s->conns, conn_of(conn), false);
        switch (sl_conn_over(conn_of(conn))) {
        case SL_CONN_SERVED:
            break;
        case SL_CONN_OVER_PER_IP: {
            char who[INET6_ADDRSTRLEN + 1];
            client_name(conn, who, sizeof(who));
            reply_unavailable(q, "10",
                              "too many connections from %s: the cap is %u per address; close "
                              "some and retry",
                              who, s->max_per_ip);
            return MHD_YES;
        }
        case SL_CONN_OVER_GLOBAL:
            reply_unavailable(q, "10",
                              "too many connections: the server holds its maximum of %u; retry "
                              "later",
                              s->max_conns);
            return MHD_YES;
        }
        /* The headers are in: from here a stalled body or a client that
         * stops reading the answer gets the body idle timeout. */
        sl_mhd->set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)SL_BODY_IDLE_TIMEOUT_S);
        q->route = sl_route_match(q, &status, &why);
        if (!q->route) {
            sl_reply_status(q, status, code_name(status), "%s %s: %s", method, q->raw_path, why);
            return MHD_YES;
        }
        if (q->route->body != BODY_NONE && s->mirror) {
            /* A mirror passes small bodies on; it takes no uploads. */
            if (q->route->body != BODY_SMALL && q->route->body != BODY_JSON) {
                sl_reply_status(q, 403, "forbidden",
                                "this is a mirror of %s: send uploads to the upstream itself",
                                s->mirror_url);
                return MHD_YES;
            }
            q->checked = true;
            begin_body(q);
            if (q->body_failed)
                sl_reply_error(q, &q->body_err);
        } else if (q->route->body != BODY_NONE) {
            /* Refuse before the body arrives when the caller may not send it. */
            if (!sl_permitted(q))
                return MHD_YES;
            q->checked = true;
            begin_body(q);
            if (q->body_failed) {
                /* Refused up front (too large, no length): answer now rather
                 * than read a body we will not use; the connection closes. */
                sl_reply_error(q, &q->body_err);
            }
        }
        return MHD_YES;
    }
    if (q->answered) {
        *upload_data_size = 0; /* discard anything after an early answer */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        sl_progress(s);
        feed_body(q, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The whole request has arrived. */
    if (q->body_failed) {
        sl_reply_error(q, &q->body_err);
        return MHD_YES;
    }
    sl_dispatch(q);
    return MHD_YES;
}

/* Paths stay percent-encoded here: the router decodes each segment and
 * refuses NUL and control characters instead of cutting strings short. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

enum sl_err sl_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port,
                            struct sl_error *err)
{
    const char *colon;
    char *end;
    unsigned long p;
    size_t hl;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return sl_error_set(err, SL_EUSAGE, "--listen wants HOST:PORT, got \"%s\"", s);
        hl = (size_t)(close - s - 1);
        if (hl >= hostlen)
            return sl_error_set(err, SL_EUSAGE, "--listen host is too long");
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return sl_error_set(err, SL_EUSAGE, "--listen wants HOST:PORT, got \"%s\"", s);
        hl = (size_t)(colon - s);
        if (hl >= hostlen)
            return sl_error_set(err, SL_EUSAGE, "--listen host is too long");
        memcpy(host, s, hl);
        host[hl] = '\0';
    }
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p > 65535)
        return sl_error_set(err, SL_EUSAGE, "--listen port must be 0 to 65535, got \"%s\"",
                            colon + 1);
    *port = (uint16_t)p;
    return SL_OK;
}

void sl_hub_changed(struct sl_server *s)
{
    struct sl_error err;

    sl_cache_bump();
    sl_error_clear(&err);
    if (sl_reg_announce(s->r, &err) != SL_OK)
        fprintf(stderr, "{\"event\":\"announce_failed\",\"message\":\"%s\"}\n",
                sl_strerror(err.code));
}

/* The governance clock, about twice a second: runs due staged-release
 * steps, expires grants, voids the lookup caches when a tier changed, and
 * signs a checkpoint when the log grew. With many servers on one database
 * only the leader (sl_reg_leader) does this work; each server still reaps
 * its own connections. */
static void *ticker(void *arg)
{
    struct sl_server *s = arg;
    int was_leader = -1; /* unknown: the first round says which */
    unsigned long rounds = 0;
    bool check_failing = false;

    while (!atomic_load(&s->stop_ticker)) {
        struct sl_error err;
        bool changed = false, leader = false;
        struct timespec ts = {0, 500 * 1000 * 1000};
        sl_error_clear(&err);
        sl_conns_reap(s->conns, now_ms());
        /* every instance writes its own downloads (leader or not) */
        if (sl_reg_flush_downloads(s->r, &err) != SL_OK)
            fprintf(stderr, "{\"event\":\"download_count_failed\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
        sl_error_clear(&err);
        if (sl_reg_leader(s->r, &leader, &err) != SL_OK) {
            /* once per outage, not twice a second */
            if (!check_failing)
                fprintf(stderr, "{\"event\":\"leader_check_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            check_failing = true;
        } else {
            check_failing = false;
        }
        atomic_store(&s->leader, leader);
        if ((int)leader != was_leader) {
            fprintf(stderr, "{\"event\":\"leader\",\"leader\":%s}\n", leader ? "true" : "false");
            was_leader = (int)leader;
        }
        if (!leader) {
            nanosleep(&ts, NULL);
            continue;
        }
        sl_error_clear(&err);
        if (sl_reg_tick(s->r, &changed, &err) != SL_OK)
            fprintf(stderr, "{\"event\":\"tick_failed\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
        if (changed)
            sl_hub_changed(s);
        if (++rounds % 120 == 1) {
            /* dead web sessions, about once a minute (docs/web.md) */
            int reaped;
            sl_error_clear(&err);
            if (sl_reg_session_reap(s->r, &reaped, &err) != SL_OK)
                fprintf(stderr, "{\"event\":\"session_reap_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            /* sign-ups older than the limit's hour (docs/web.md) */
            sl_error_clear(&err);
            if (sl_reg_signup_prune(s->r, &reaped, &err) != SL_OK)
                fprintf(stderr, "{\"event\":\"signup_prune_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
        }
        if (sl_reg_log_policy(s->r, &changed, &err) != SL_OK)
            fprintf(stderr, "{\"event\":\"policy_log_failed\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
        {
            size_t usage_logged;
            sl_error_clear(&err);
            if (sl_reg_log_hosted_usage(s->r, &usage_logged, &err) != SL_OK)
                fprintf(stderr, "{\"event\":\"hosted_usage_log_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
        }
        {
            /* kept prompts and completions whose days are over (docs/hosted.md,
             * "Retention"): within a second of their time */
            int64_t expired = 0;
            sl_error_clear(&err);
            if (sl_reg_retained_expire(s->r, &expired, &err) != SL_OK)
                fprintf(stderr,
                        "{\"event\":\"hosted_retention_expire_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            else if (expired)
                fprintf(stderr, "{\"event\":\"hosted_retention_expired\",\"deleted\":%lld}\n",
                        (long long)expired);
        }
        {
            /* a checkpoint at least once a second while entries arrive */
            char *note = NULL;
            uint64_t size;
            if (sl_reg_log_checkpoint(s->r, &note, &size, &err) != SL_OK)
                fprintf(stderr, "{\"event\":\"checkpoint_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            free(note);
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Voids this server's lookup cache whenever any server sharing the database
 * announces a change of tiers or refs (sl_reg_watch: LISTEN/NOTIFY on
 * PostgreSQL). While it hears from its connection, cached downloads need no
 * query (sl_reg_hub_stamp); when the connection is lost they check the hub
 * stamp again until it is back. On SQLite it only sleeps: the one process
 * bumps its own. */
static void *listener(void *arg)
{
    struct sl_server *s = arg;
    bool failing = false;

    while (!atomic_load(&s->stop_ticker)) {
        struct sl_error err;
        bool changed = false;
        sl_error_clear(&err);
        if (sl_reg_watch(s->r, 200, &changed, &err) != SL_OK) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            if (!failing)
                fprintf(stderr, "{\"event\":\"listen_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            failing = true;
            /* announcements may be lost until we listen again: cache nothing
             * for longer than its own second */
            sl_cache_bump();
            nanosleep(&ts, NULL);
            continue;
        }
        failing = false;
        if (changed)
            sl_cache_bump();
    }
    return NULL;
}

/* File descriptors kept free of connections: the database, blob files being
 * read or written, uploads, the log. */
#define SL_FD_RESERVE 256

/* Raises the soft open-file limit to the hard one; returns the limit in
 * force and the one found in *was. */
static rlim_t raise_nofile(rlim_t *was)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        *was = 1024;
        return 1024;
    }
    *was = rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return up.rlim_cur;
    }
    return rl.rlim_cur;
}

/* A margin of connections above our cap that libmicrohttpd still accepts,
 * so that a client over our cap gets a 503 it can read rather than a reset. */
static unsigned margin_of(unsigned cap)
{
    return cap / 4 > 16 ? cap / 4 : 16;
}

/* Hashes recipients' fingerprinted copies ahead of their first request
 * (docs/fingerprint.md, "Per-recipient identity"), one file at a time, and
 * rests a second when there is nothing left to hash. */
static void *warmer(void *arg)
{
    struct sl_server *s = arg;

    while (!atomic_load(&s->stop_ticker)) {
        struct sl_error err;
        bool did = false;
        sl_error_clear(&err);
        if (sl_reg_fp_warm(s->r, &did, &err) != SL_OK) {
            if (!atomic_load(&s->stop_ticker))
                fprintf(stderr, "{\"event\":\"fp_warm_failed\",\"message\":\"%s\"}\n",
                        sl_strerror(err.code));
            did = false;
        }
        for (int i = 0; !did && i < 10 && !atomic_load(&s->stop_ticker); i++) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

enum sl_err sl_serve(struct sl_registry *r, const struct sl_server_opts *o, struct sl_error *err)
{
    pthread_t tick_thread, warm_thread, listen_thread;
    struct sl_server s;
    struct sockaddr_storage ss;
    socklen_t sslen;
    sigset_t set;
    unsigned threads = o->threads;
    enum sl_err rc = sl_mhd_load(err);
    int sig = 0;
    rlim_t nofile, nofile_was;
    unsigned long long usable;
    unsigned mhd_global, mhd_per_ip;

    if (rc)
        return rc;
    memset(&s, 0, sizeof(s));
    s.r = r;
    /* The global cap stays below the open-file limit, so that accept() never
     * fails with EMFILE and starves everyone (docs/RELIABILITY.md). */
    nofile = raise_nofile(&nofile_was);
    usable = nofile == RLIM_INFINITY || nofile > 1u << 20 ? 1u << 20 : (unsigned long long)nofile;
    usable = usable > SL_FD_RESERVE + 64 ? usable - SL_FD_RESERVE : 64;
    mhd_global = (unsigned)usable;
    s.max_conns = mhd_global - margin_of(mhd_global);
    s.max_per_ip = o->max_conns_per_ip ? o->max_conns_per_ip : SL_MAX_CONNS_PER_IP;
    if (s.max_per_ip > s.max_conns)
        s.max_per_ip = s.max_conns;
    mhd_per_ip = s.max_per_ip + margin_of(s.max_per_ip);
    memset(&ss, 0, sizeof(ss));
    if (strchr(o->host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(o->port);
        if (inet_pton(AF_INET6, o->host, &a->sin6_addr) != 1)
            return sl_error_set(err, SL_EUSAGE, "--listen: \"%s\" is not an IPv6 address", o->host);
        sslen = sizeof(*a);
        s.loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(o->port);
        if (inet_pton(AF_INET, o->host, &a->sin_addr) != 1)
            return sl_error_set(err, SL_EUSAGE,
                                "--listen: \"%s\" is not a numeric IPv4 address (use 127.0.0.1 "
                                "or 0.0.0.0)",
                                o->host);
        sslen = sizeof(*a);
        s.loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    (void)sslen;
    s.trust_proxy = o->trust_proxy;
    s.signup = o->signup;
    s.session_hours = o->session_hours ? o->session_hours : SL_SESSION_HOURS;
    if (o->mirror) {
        rc = sl_mirror_open(o->mirror, &s.mirror, err);
        if (rc)
            return rc;
        s.mirror_url = o->mirror->upstream;
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 2;
    }
    /* Signals are taken by this thread with sigwait; block them everywhere. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.conns = sl_conns_new(s.max_per_ip, s.max_conns);
    s.d = sl_mhd->start_daemon(
        SL_MHD_FLAGS | (strchr(o->host, ':') ? MHD_USE_IPv6 : 0), o->port, NULL, NULL,
        access_handler, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, mhd_global,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, mhd_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)SL_HEADER_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, &s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(SL_MHD_POOL_KIB * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
        NULL, MHD_OPTION_END);
    if (!s.d) {
        sl_conns_free(s.conns);
        sl_mirror_free(s.mirror);
        return sl_error_set(err, SL_EIO, "cannot listen on %s:%u (is the port in use?)", o->host,
                            o->port);
    }
    {
        const union MHD_DaemonInfo *di = sl_mhd->get_daemon_info(s.d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr,
                "{\"event\":\"listening\",\"address\":\"%s\",\"port\":%u,\"threads\":%u,"
                "\"open_files_limit\":%llu,\"open_files_limit_was\":%llu,"
                "\"open_files_limit_raised\":%s,\"max_conns\":%u,\"max_conns_per_ip\":%u,"
                "\"header_timeout_s\":%d,\"body_idle_timeout_s\":%d}\n",
                o->host, di ? di->port : o->port, threads, (unsigned long long)nofile,
                (unsigned long long)nofile_was, nofile != nofile_was ? "true" : "false",
                s.max_conns, s.max_per_ip, SL_HEADER_TIMEOUT_S, SL_BODY_IDLE_TIMEOUT_S);
    }
    if (pthread_create(&tick_thread, NULL, ticker, &s) != 0) {
        sl_mhd->stop_daemon(s.d);
        sl_conns_free(s.conns);
        sl_mirror_free(s.mirror);
        return sl_error_set(err, SL_EINTERNAL, "cannot start the scheduler thread");
    }
    if (pthread_create(&warm_thread, NULL, warmer, &s) != 0) {
        atomic_store(&s.stop_ticker, true);
        pthread_join(tick_thread, NULL);
        sl_mhd->stop_daemon(s.d);
        sl_conns_free(s.conns);
        sl_mirror_free(s.mirror);
        return sl_error_set(err, SL_EINTERNAL, "cannot start the fingerprint hashing thread");
    }
    if (pthread_create(&listen_thread, NULL, listener, &s) != 0) {
        atomic_store(&s.stop_ticker, true);
        sl_reg_fp_warm_stop(r);
        pthread_join(tick_thread, NULL);
        pthread_join(warm_thread, NULL);
        sl_mhd->stop_daemon(s.d);
        sl_conns_free(s.conns);
        return sl_error_set(err, SL_EINTERNAL, "cannot start the cache listener thread");
    }
    if (!s.mirror) {
        /* every server probes the hosted backends itself (docs/hosted.md,
         * "Health checks"); without the thread calls still judge them */
        struct sl_error perr;
        sl_error_clear(&perr);
        if (sl_hosted_prober_start(r, &perr) != SL_OK)
            fprintf(stderr, "{\"event\":\"hosted_probe_off\",\"message\":\"%s\"}\n",
                    sl_strerror(perr.code));
    }
    if (o->ready_fd >= 0) {
        ssize_t w = write(o->ready_fd, "ready\n", 6);
        (void)w;
    }
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "{\"event\":\"stopping\",\"signal\":%d,\"in_flight\":%d}\n", sig,
            atomic_load(&s.in_flight));
    /* Stop accepting, let requests in flight finish, then stop. */
    atomic_store(&s.draining, true);
    sl_mhd->quiesce_daemon(s.d);
    /* Wait while requests in flight still move bytes; a client that went
     * quiet (an abandoned upload) does not hold the stop for long. */
    sl_progress(&s);
    for (int i = 0; i < o->drain_seconds * 20 && atomic_load(&s.in_flight) > 0 &&
                    now_ms() - atomic_load(&s.progress_ms) < 2000;
         i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    sl_hosted_stop_all();
    sl_hosted_prober_stop();
    sl_hosted_conn_drain();
    sl_mhd->stop_daemon(s.d);
    atomic_store(&s.stop_ticker, true);
    sl_reg_fp_warm_stop(r);
    pthread_join(tick_thread, NULL);
    pthread_join(warm_thread, NULL);
    pthread_join(listen_thread, NULL);
    sl_conns_free(s.conns);
    sl_mirror_free(s.mirror);
    fprintf(stderr, "{\"event\":\"stopped\",\"requests\":%llu}\n",
            (unsigned long long)atomic_load(&s.requests));
    return SL_OK;
}
