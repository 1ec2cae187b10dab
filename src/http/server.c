/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libmicrohttpd daemon: a thread pool on epoll, the request lifecycle
 * (match the route on the first call; stream or buffer the body; answer on
 * the last call, which keeps connections alive), the JSON answers, one JSON
 * log line per request on stderr, and a clean stop on SIGTERM that lets
 * requests in flight finish.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/jsonout.h"
#include "common/util.h"
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
    case SL_EUNREACHABLE: /* the blob store (or another back end) is down: retry */
        return 503;
    default:
        return 500;
    }
}

void sl_reply(struct sl_req *q, unsigned status, struct MHD_Response *resp, uint64_t size)
{
    q->status = status;
    q->bytes = size;
    q->answered = true;
    sl_mhd->queue_response(q->conn, status, resp);
    sl_mhd->destroy_response(resp);
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
    json_decref(v);
    resp = sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    if (status >= 400 && q->x_error)
        sl_mhd->add_response_header(resp, "X-Error-Code", q->x_error);
    if (status == 503)
        sl_mhd->add_response_header(resp, "Retry-After", "5");
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
    sl_reply_json(q, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void sl_reply_error(struct sl_req *q, const struct sl_error *e)
{
    unsigned status = status_of(e->code);

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
#define SL_MHD_FLAGS    (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC)

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
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(num, sizeof(num), "{\"bytes\":%llu,\"method\":", (unsigned long long)q->bytes);
    sl_buf_adds(&b, num);
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

static void req_free(struct sl_req *q)
{
    for (size_t i = 0; i < MAX_PARAMS; i++)
        free(q->params[i]);
    free(q->raw_path);
    sl_buf_release(&q->body);
    sl_ingest_abort(q->ingest);
    sl_upload_free(q->upload);
    free(q);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct sl_server *s = cls;
    struct sl_req *q = *con_cls;

    (void)conn;
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
        if (!q->has_length) {
            body_fail(q, SL_EINPUT, "chunk uploads need a Content-Length");
            return;
        }
        if (sl_ingest_begin(q->srv->r, q->org_id, q->content_length, &q->ingest, &err) != SL_OK)
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
            struct MHD_Response *resp;
            static const char msg[] =
                "{\"error\":\"unavailable\",\"message\":\"the server is stopping\"}";
            resp = sl_mhd->create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                                       MHD_RESPMEM_PERSISTENT);
            sl_mhd->add_response_header(resp, "Content-Type", "application/json");
            sl_mhd->add_response_header(resp, "Connection", "close");
            sl_mhd->add_response_header(resp, "Retry-After", "5");
            sl_reply(q, 503, resp, sizeof(msg) - 1);
            return MHD_YES;
        }
        q->route = sl_route_match(q, &status, &why);
        if (!q->route) {
            sl_reply_status(q, status, code_name(status), "%s %s: %s", method, q->raw_path, why);
            return MHD_YES;
        }
        if (q->route->body != BODY_NONE) {
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

/* The governance clock, about twice a second: runs due staged-release
 * steps, expires grants, voids the lookup cache when a tier changed, and
 * signs a checkpoint when the log grew. */
static void *ticker(void *arg)
{
    struct sl_server *s = arg;

    while (!atomic_load(&s->stop_ticker)) {
        struct sl_error err;
        bool changed = false;
        struct timespec ts = {0, 500 * 1000 * 1000};
        sl_error_clear(&err);
        if (sl_reg_tick(s->r, &changed, &err) != SL_OK)
            fprintf(stderr, "{\"event\":\"tick_failed\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
        if (changed)
            sl_cache_bump();
        if (sl_reg_log_policy(s->r, &changed, &err) != SL_OK)
            fprintf(stderr, "{\"event\":\"policy_log_failed\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
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

enum sl_err sl_serve(struct sl_registry *r, const struct sl_server_opts *o, struct sl_error *err)
{
    pthread_t tick_thread;
    struct sl_server s;
    struct sockaddr_storage ss;
    socklen_t sslen;
    sigset_t set;
    unsigned threads = o->threads;
    enum sl_err rc = sl_mhd_load(err);
    int sig = 0;

    if (rc)
        return rc;
    memset(&s, 0, sizeof(s));
    s.r = r;
    memset(&ss, 0, sizeof(ss));
    if (strchr(o->host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(o->port);
        if (inet_pton(AF_INET6, o->host, &a->sin6_addr) != 1)
            return sl_error_set(err, SL_EUSAGE, "--listen: \"%s\" is not an IPv6 address", o->host);
        sslen = sizeof(*a);
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
    }
    (void)sslen;
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
    s.d = sl_mhd->start_daemon(SL_MHD_FLAGS | (strchr(o->host, ':') ? MHD_USE_IPv6 : 0), o->port,
                               NULL, NULL, access_handler, &s, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
                               MHD_OPTION_CONNECTION_LIMIT, 4096, MHD_OPTION_CONNECTION_TIMEOUT, 60,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(SL_MHD_POOL_KIB * 1024),
                               MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
                               MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
    if (!s.d)
        return sl_error_set(err, SL_EIO, "cannot listen on %s:%u (is the port in use?)", o->host,
                            o->port);
    {
        const union MHD_DaemonInfo *di = sl_mhd->get_daemon_info(s.d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr, "{\"event\":\"listening\",\"address\":\"%s\",\"port\":%u,\"threads\":%u}\n",
                o->host, di ? di->port : o->port, threads);
    }
    if (pthread_create(&tick_thread, NULL, ticker, &s) != 0) {
        sl_mhd->stop_daemon(s.d);
        return sl_error_set(err, SL_EINTERNAL, "cannot start the scheduler thread");
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
    sl_mhd->stop_daemon(s.d);
    atomic_store(&s.stop_ticker, true);
    pthread_join(tick_thread, NULL);
    fprintf(stderr, "{\"event\":\"stopped\",\"requests\":%llu}\n",
            (unsigned long long)atomic_load(&s.requests));
    return SL_OK;
}
