/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The S3 blob store (store.h): packs as objects PREFIX/XX/NAME.pack in one
 * bucket of any S3-compatible server (AWS S3, Ceph RGW, MinIO, Garage),
 * signed by libcurl's own AWS Signature V4 (CURLOPT_AWS_SIGV4). Uploads
 * stream from the staged file (one PUT, or a multipart upload above the part
 * size); reads are ranged GETs straight into the caller's buffer; every
 * request is retried with jittered exponential backoff on 5xx, throttling and
 * transport errors. Memory stays bounded: no pack is ever held whole.
 *
 * Debian 12 ships curl 7.88, whose SigV4 code signs the query string as given
 * and does not add x-amz-content-sha256 itself, so this file emits canonical
 * queries (sorted keys, RFC 3986 escapes, "key=" for valueless keys) and sets
 * the payload hash header on every request (docs/storage.md).
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/curl.h"
#include "common/util.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define DEFAULT_PART     (16ull << 20)
#define MIN_PART         (5ull << 20) /* S3's smallest part but the last */
#define DEFAULT_ATTEMPTS 4
#define BACKOFF_BASE_MS  100
#define BACKOFF_CAP_MS   2000
#define RESP_MAX         (8u << 20) /* largest XML answer read (a list page) */
#define EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_store {
    struct sl_store base;
    const struct sl_curl_api *c;
    char *bucket;
    char *prefix;   /* "" or "a/b" (no leading or trailing '/') */
    char *base_url; /* requests go to base_url + "/" + key */
    char *sigv4;    /* "aws:amz:REGION:s3" */
    char *ak, *sk, *token_header;
    uint64_t part_size;
    int attempts;
    int list_page;
    long timeout_ms;
    pthread_key_t handle_key;
};

static const struct sl_curl_api *curl_api; /* for the thread-exit destructor */

/* Each thread keeps one libcurl handle (its connection is reused) and a
 * read-ahead window: reads of a pack are mostly sequential (downloads, the
 * commit's re-hash, fsck), so one ranged GET fetches READAHEAD bytes and the
 * next reads are served from them. Packs are write-once under random names,
 * so a window can never hold stale bytes. */
#define READAHEAD (4u << 20)

struct per_thread {
    CURL *h;
    char pack[SL_PACK_NAME_LEN + 1]; /* the window's pack, or "" */
    uint64_t off;                    /* where the window starts */
    size_t len;                      /* bytes in it (fewer at the end of a pack) */
    unsigned char *buf;              /* READAHEAD bytes, allocated on first use */
};

static void thread_free(void *arg)
{
    struct per_thread *t = arg;

    if (!t)
        return;
    if (t->h && curl_api)
        curl_api->easy_cleanup(t->h);
    free(t->buf);
    free(t);
}

/* ---- one request ---- */

struct req {
    const char *method; /* GET PUT POST DELETE HEAD */
    const char *key;    /* for messages */
    char *url;
    char range[64];
    /* request body: a file range, or bytes in memory */
    int fd;
    uint64_t body_off, body_len, sent;
    const char *mem;
    size_t mem_len;
    /* response: a caller's buffer for 2xx GETs, else `resp` */
    unsigned char *dst;
    size_t dst_len, got;
    bool overflow;
    struct sl_buf resp;
    char etag[160];
    long status;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct req *q = arg;
    size_t n = size * nmemb;

    if (q->dst && q->status >= 200 && q->status < 300) {
        if (n > q->dst_len - q->got) {
            q->overflow = true;
            return 0;
        }
        memcpy(q->dst + q->got, p, n);
        q->got += n;
        return n;
    }
    /* an error document or an XML answer: kept up to the cap */
    if (sl_buf_add(&q->resp, p, n) != SL_OK)
        return 0;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct req *q = arg;
    size_t n = size * nmemb;

    if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue): take its status */
        const char *sp = memchr(p, ' ', n);
        q->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        q->etag[0] = '\0';
    } else if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5, j = n;
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        if (j - i < sizeof(q->etag))
            snprintf(q->etag, sizeof(q->etag), "%.*s", (int)(j - i), p + i);
    }
    return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
    struct req *q = arg;
    size_t want = size * nmemb;
    ssize_t r;

    if (q->mem) {
        size_t left = q->mem_len - (size_t)q->sent;
        if (want > left)
            want = left;
        memcpy(p, q->mem + q->sent, want);
        q->sent += want;
        return want;
    }
    if (want > q->body_len - q->sent)
        want = (size_t)(q->body_len - q->sent);
    if (want == 0)
        return 0;
    do
        r = pread(q->fd, p, want, (off_t)(q->body_off + q->sent));
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return CURL_READFUNC_ABORT;
    q->sent += (uint64_t)r;
    return (size_t)r;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
    struct req *q = arg;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > (q->mem ? q->mem_len : q->body_len))
        return CURL_SEEKFUNC_CANTSEEK;
    q->sent = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static bool retryable_curl(CURLcode e)
{
    return e == CURLE_COULDNT_CONNECT || e == CURLE_SEND_ERROR || e == CURLE_RECV_ERROR ||
           e == CURLE_OPERATION_TIMEDOUT || e == CURLE_PARTIAL_FILE || e == CURLE_GOT_NOTHING ||
           e == CURLE_COULDNT_RESOLVE_HOST;
}

/* Finds <tag>...</tag> in [s, end); sets the value's bounds. */
static bool xml_find(const char *s, const char *end, const char *tag, const char **vs,
                     const char **ve)
{
    char open[64], close[64];
    size_t ol, cl;
    const char *a, *b;

    ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
    cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
    a = memmem(s, (size_t)(end - s), open, ol);
    if (!a)
        return false;
    a += ol;
    b = memmem(a, (size_t)(end - a), close, cl);
    if (!b)
        return false;
    *vs = a;
    *ve = b;
    return true;
}

/* The S3 error code of the answer (<Code>...</Code>), or "". */
static void error_code(struct req *q, char *out, size_t n)
{
    const char *a, *b;

    out[0] = '\0';
    if (q->resp.len && xml_find(q->resp.data, q->resp.data + q->resp.len, "Code", &a, &b) &&
        (size_t)(b - a) < n) {
        for (const char *p = a; p < b; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                return; /* only a plain word goes into a message */
        snprintf(out, n, "%.*s", (int)(b - a), a);
    }
}

static bool retryable_status(struct req *q)
{
    char code[64];

    if (q->status == 500 || q->status == 502 || q->status == 503 || q->status == 504 ||
        q->status == 429)
        return true;
    error_code(q, code, sizeof(code));
    return q->status == 400 && strcmp(code, "RequestTimeout") == 0;
}

static void backoff(int attempt)
{
    /* full jitter: uniform in [0, min(cap, base * 2^attempt)] */
    unsigned r;
    long ceiling = BACKOFF_BASE_MS << (attempt < 5 ? attempt : 5);
    struct timespec ts;

    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    sl_random(&r, sizeof(r));
    ceiling = ceiling / 2 + (long)(r % (unsigned)(ceiling / 2 + 1));
    ts.tv_sec = ceiling / 1000;
    ts.tv_nsec = (ceiling % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static struct per_thread *thread_state(struct s3_store *s)
{
    struct per_thread *t = pthread_getspecific(s->handle_key);

    if (!t) {
        t = sl_xcalloc(1, sizeof(*t));
        pthread_setspecific(s->handle_key, t);
    }
    return t;
}

static CURL *handle(struct s3_store *s)
{
    struct per_thread *t = thread_state(s);

    if (!t->h)
        t->h = s->c->easy_init();
    return t->h;
}

/* Runs `q` with retries. Returns SL_OK when an answer arrived (any status,
 * in q->status); SL_EUNREACHABLE with a message when none did. 5xx and
 * throttling answers are retried and, on the last attempt, returned. */
static enum sl_err perform(struct s3_store *s, struct req *q, const char *content_type,
                           const char *payload_hash, struct sl_error *err)
{
    const struct sl_curl_api *c = s->c;
    CURL *h = handle(s);
    CURLcode e = CURLE_OK;
    char ebuf[CURL_ERROR_SIZE];

    if (!h)
        return sl_error_set(err, SL_ENOMEM, "cannot make a libcurl handle");
    for (int attempt = 0; attempt < s->attempts; attempt++) {
        struct curl_slist *hd = NULL;
        char line[200];
        if (attempt > 0)
            backoff(attempt - 1);
        c->easy_reset(h);
        q->status = 0;
        q->sent = 0;
        q->got = 0;
        q->overflow = false;
        q->etag[0] = '\0';
        sl_buf_reset(&q->resp);
        ebuf[0] = '\0';
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payload_hash);
        hd = c->slist_append(hd, line);
        if (s->token_header)
            hd = c->slist_append(hd, s->token_header);
        if (q->range[0]) {
            snprintf(line, sizeof(line), "Range: %s", q->range);
            hd = c->slist_append(hd, line);
        }
        if (content_type) {
            snprintf(line, sizeof(line), "Content-Type: %s", content_type);
            hd = c->slist_append(hd, line);
        }
        c->easy_setopt(h, CURLOPT_URL, q->url);
        c->easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
        c->easy_setopt(h, CURLOPT_USERNAME, s->ak);
        c->easy_setopt(h, CURLOPT_PASSWORD, s->sk);
        c->easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        c->easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        if (strcmp(q->method, "PUT") == 0) {
            /* a part may take long on a slow link: give up only when it stalls */
            c->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
            c->easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)(s->timeout_ms / 1000));
        } else {
            c->easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
        }
        c->easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
        c->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        c->easy_setopt(h, CURLOPT_WRITEDATA, q);
        c->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        c->easy_setopt(h, CURLOPT_HEADERDATA, q);
        if (attempt > 0)
            c->easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        if (strcmp(q->method, "HEAD") == 0) {
            c->easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(q->method, "PUT") == 0) {
            c->easy_setopt(h, CURLOPT_UPLOAD, 1L);
            c->easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            c->easy_setopt(h, CURLOPT_READDATA, q);
            c->easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
            c->easy_setopt(h, CURLOPT_SEEKDATA, q);
            c->easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                           (curl_off_t)(q->mem ? q->mem_len : q->body_len));
        } else if (strcmp(q->method, "POST") == 0) {
            c->easy_setopt(h, CURLOPT_POST, 1L);
            c->easy_setopt(h, CURLOPT_POSTFIELDS, q->mem ? q->mem : "");
            c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->mem_len);
        } else if (strcmp(q->method, "DELETE") == 0) {
            c->easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        e = c->easy_perform(h);
        c->easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        c->slist_free_all(hd);
        if (e == CURLE_OK) {
            c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
            if (!retryable_status(q))
                return SL_OK;
            continue;
        }
        if (q->overflow)
            return sl_error_set(err, SL_EIO,
                                "store %s: %s %s: the server sent more bytes than "
                                "asked for",
                                s->base.url, q->method, q->key);
        if (!retryable_curl(e))
            break;
    }
    if (e == CURLE_OK)
        return SL_OK; /* the last retryable answer: the caller reports it */
    return sl_error_set(err, SL_EUNREACHABLE, "store %s unreachable: %s %s: %s", s->base.url,
                        q->method, q->key, ebuf[0] ? ebuf : c->easy_strerror(e));
}

/* A failed answer as an error: 404 SL_ENOTFOUND, 403 SL_EFORBIDDEN,
 * 5xx SL_EUNREACHABLE, others SL_EIO. */
static enum sl_err status_error(struct s3_store *s, struct req *q, struct sl_error *err)
{
    char code[64];
    enum sl_err kind = SL_EIO;

    error_code(q, code, sizeof(code));
    if (q->status == 404)
        kind = SL_ENOTFOUND;
    else if (q->status == 403)
        kind = SL_EFORBIDDEN;
    else if (q->status >= 500 || q->status == 429)
        kind = SL_EUNREACHABLE;
    return sl_error_set(err, kind, "store %s: %s %s: HTTP %ld%s%s%s", s->base.url, q->method,
                        q->key, q->status, code[0] ? " " : "", code,
                        kind == SL_EUNREACHABLE ? " (gave up after retries)" : "");
}

/* Appends `v` percent-encoded as RFC 3986 wants for SigV4 (unreserved kept). */
static void add_escaped(struct sl_buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sl_buf_addc(b, (char)*p);
        } else {
            sl_buf_addc(b, '%');
            sl_buf_addc(b, hex[*p >> 4]);
            sl_buf_addc(b, hex[*p & 15]);
        }
    }
}

static void req_init(struct req *q, const char *method, const char *key)
{
    memset(q, 0, sizeof(*q));
    q->method = method;
    q->key = key;
    q->fd = -1;
    sl_buf_init(&q->resp, RESP_MAX);
}

static void req_release(struct req *q)
{
    free(q->url);
    sl_buf_release(&q->resp);
}

/* The full key of pack `name`, "PREFIX/XX/NAME.pack". */
static char *pack_key(const struct s3_store *s, const char *name)
{
    return sl_xasprintf("%s%s%.2s/%s.pack", s->prefix, s->prefix[0] ? "/" : "", name, name);
}

/* URL of `key` with an already canonical query (or NULL). */
static char *object_url(const struct s3_store *s, const char *key, const char *query)
{
    return sl_xasprintf("%s/%s%s%s", s->base_url, key, query ? "?" : "", query ? query : "");
}

/* ---- operations ---- */

static enum sl_err put_single(struct s3_store *s, const char *key, int fd, uint64_t size,
                              struct sl_error *err)
{
    struct req q;
    enum sl_err rc;

    req_init(&q, "PUT", key);
    q.url = object_url(s, key, NULL);
    q.fd = fd;
    q.body_len = size;
    rc = perform(s, &q, "application/octet-stream", "UNSIGNED-PAYLOAD", err);
    if (!rc && (q.status < 200 || q.status >= 300))
        rc = status_error(s, &q, err);
    req_release(&q);
    return rc;
}

static void abort_multipart(struct s3_store *s, const char *key, const char *upload)
{
    struct sl_buf qs = SL_BUF_INIT(4096);
    struct req q;
    struct sl_error ignored;

    sl_buf_adds(&qs, "uploadId=");
    add_escaped(&qs, upload);
    req_init(&q, "DELETE", key);
    q.url = object_url(s, key, sl_buf_cstr(&qs));
    perform(s, &q, NULL, EMPTY_SHA256, &ignored);
    req_release(&q);
    sl_buf_release(&qs);
}

static enum sl_err put_multipart(struct s3_store *s, const char *key, int fd, uint64_t size,
                                 struct sl_error *err)
{
    struct req q;
    struct sl_buf upload = SL_BUF_INIT(1024), done = SL_BUF_INIT(1u << 20);
    struct sl_buf qs = SL_BUF_INIT(4096);
    const char *a, *b;
    unsigned char h[SL_SHA256_LEN];
    char hex[2 * SL_SHA256_LEN + 1];
    uint64_t nparts = (size + s->part_size - 1) / s->part_size;
    enum sl_err rc;

    if (nparts > 10000)
        return sl_error_set(err, SL_ELIMIT, "store %s: %s needs %llu parts, S3 allows 10000",
                            s->base.url, key, (unsigned long long)nparts);
    /* 1. initiate */
    req_init(&q, "POST", key);
    q.url = object_url(s, key, "uploads=");
    rc = perform(s, &q, "application/octet-stream", EMPTY_SHA256, err);
    if (!rc && q.status != 200)
        rc = status_error(s, &q, err);
    if (!rc && !(q.resp.len &&
                 xml_find(q.resp.data, q.resp.data + q.resp.len, "UploadId", &a, &b) && b > a))
        rc = sl_error_set(err, SL_EIO,
                          "store %s: starting an upload of %s: no UploadId in the "
                          "answer",
                          s->base.url, key);
    if (!rc)
        sl_buf_add(&upload, a, (size_t)(b - a));
    req_release(&q);
    if (rc)
        goto out;
    /* 2. parts, streamed from the file */
    sl_buf_adds(&done,
                "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (uint64_t i = 0; i < nparts && !rc; i++) {
        uint64_t off = i * s->part_size;
        sl_buf_reset(&qs);
        sl_buf_addf(&qs, "partNumber=%llu&uploadId=", (unsigned long long)(i + 1));
        add_escaped(&qs, sl_buf_cstr(&upload));
        req_init(&q, "PUT", key);
        q.url = object_url(s, key, sl_buf_cstr(&qs));
        q.fd = fd;
        q.body_off = off;
        q.body_len = size - off < s->part_size ? size - off : s->part_size;
        rc = perform(s, &q, NULL, "UNSIGNED-PAYLOAD", err);
        if (!rc && q.status != 200)
            rc = status_error(s, &q, err);
        if (!rc && !q.etag[0])
            rc = sl_error_set(err, SL_EIO, "store %s: part %llu of %s: no ETag in the answer",
                              s->base.url, (unsigned long long)(i + 1), key);
        if (!rc) {
            /* the ETag is quoted already; escape nothing else is in it */
            sl_buf_addf(&done, "<Part><PartNumber>%llu</PartNumber><ETag>",
                        (unsigned long long)(i + 1));
            for (const char *p = q.etag; *p; p++) {
                if (*p == '"')
                    sl_buf_adds(&done, "&quot;");
                else if (*p == '&')
                    sl_buf_adds(&done, "&amp;");
                else if (*p == '<')
                    sl_buf_adds(&done, "&lt;");
                else
                    sl_buf_addc(&done, *p);
            }
            sl_buf_adds(&done, "</ETag></Part>");
        }
        req_release(&q);
    }
    if (rc)
        goto abort;
    sl_buf_adds(&done, "</CompleteMultipartUpload>");
    /* 3. complete; S3 may answer 200 with an <Error> document */
    sl_buf_reset(&qs);
    sl_buf_adds(&qs, "uploadId=");
    add_escaped(&qs, sl_buf_cstr(&upload));
    sl_sha256(done.data, done.len, h);
    sl_hex(h, sizeof(h), hex);
    req_init(&q, "POST", key);
    q.url = object_url(s, key, sl_buf_cstr(&qs));
    q.mem = done.data;
    q.mem_len = done.len;
    rc = perform(s, &q, "application/xml", hex, err);
    if (!rc && (q.status != 200 || (q.resp.len && memmem(q.resp.data, q.resp.len, "<Error>", 7))))
        rc = status_error(s, &q, err);
    req_release(&q);
    if (!rc)
        goto out;
abort:
    abort_multipart(s, key, sl_buf_cstr(&upload));
out:
    sl_buf_release(&upload);
    sl_buf_release(&done);
    sl_buf_release(&qs);
    return rc;
}

static enum sl_err s3_put(struct sl_store *st, const char *name, const char *path, uint64_t size,
                          struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    char *key = pack_key(s, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    enum sl_err rc;

    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (size > s->part_size)
        rc = put_multipart(s, key, fd, size, err);
    else
        rc = put_single(s, key, fd, size, err);
    close(fd);
    if (!rc)
        unlink(path); /* uploaded: the staged copy is not needed */
out:
    free(key);
    return rc;
}

/* GETs [off, off + want) of pack `name` into `dst`; `*got` says how many
 * bytes came (fewer when the pack ends first). */
static enum sl_err range_get(struct s3_store *s, const char *name, unsigned char *dst, size_t want,
                             uint64_t off, size_t *got, struct sl_error *err)
{
    char *key = pack_key(s, name);
    struct req q;
    enum sl_err rc;

    req_init(&q, "GET", key);
    q.url = object_url(s, key, NULL);
    snprintf(q.range, sizeof(q.range), "bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + want - 1));
    q.dst = dst;
    q.dst_len = want;
    rc = perform(s, &q, NULL, EMPTY_SHA256, err);
    if (!rc && q.status == 416) {
        q.got = 0; /* starts past the end */
    } else if (!rc && q.status == 200 && off != 0) {
        rc = sl_error_set(err, SL_EIO, "store %s: GET %s ignored the Range header", s->base.url,
                          key);
    } else if (!rc && (q.status < 200 || q.status >= 300)) {
        rc = status_error(s, &q, err);
        if (rc == SL_ENOTFOUND)
            rc = sl_error_set(err, SL_EIO, "pack %s: object missing in %s", name, s->base.url);
    }
    *got = q.got;
    req_release(&q);
    free(key);
    return rc;
}

static enum sl_err s3_read(struct sl_store *st, int64_t id, const char *name, void *buf, size_t n,
                           uint64_t off, struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    struct per_thread *t;
    size_t got = 0;
    enum sl_err rc;

    (void)id;
    if (n == 0)
        return SL_OK;
    if (n >= READAHEAD) {
        rc = range_get(s, name, buf, n, off, &got, err);
        goto check;
    }
    t = thread_state(s);
    if (strcmp(t->pack, name) == 0 && off >= t->off && off - t->off <= t->len &&
        n <= t->len - (off - t->off)) {
        memcpy(buf, t->buf + (off - t->off), n);
        return SL_OK;
    }
    if (!t->buf)
        t->buf = sl_xmalloc(READAHEAD);
    t->pack[0] = '\0';
    rc = range_get(s, name, t->buf, READAHEAD, off, &got, err);
    if (!rc) {
        snprintf(t->pack, sizeof(t->pack), "%s", name);
        t->off = off;
        t->len = got;
        if (got >= n)
            memcpy(buf, t->buf, n);
    }
check:
    if (!rc && got < n)
        rc = sl_error_set(err, SL_EIO,
                          "pack %s: read of %zu bytes at %llu failed: object is shorter than "
                          "recorded",
                          name, n, (unsigned long long)off);
    return rc;
}

static enum sl_err s3_remove(struct sl_store *st, const char *name, struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    char *key = pack_key(s, name);
    struct req q;
    enum sl_err rc;

    req_init(&q, "DELETE", key);
    q.url = object_url(s, key, NULL);
    rc = perform(s, &q, NULL, EMPTY_SHA256, err);
    if (!rc && !(q.status == 204 || q.status == 200 || q.status == 404))
        rc = status_error(s, &q, err);
    req_release(&q);
    free(key);
    return rc;
}

static enum sl_err s3_stat(struct sl_store *st, const char *name, uint64_t *size,
                           struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    char *key = pack_key(s, name);
    struct req q;
    curl_off_t len = -1;
    enum sl_err rc;

    req_init(&q, "HEAD", key);
    q.url = object_url(s, key, NULL);
    rc = perform(s, &q, NULL, EMPTY_SHA256, err);
    if (!rc && q.status == 200) {
        s->c->easy_getinfo(handle(s), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        if (len < 0)
            rc =
                sl_error_set(err, SL_EIO, "store %s: HEAD %s: no Content-Length", s->base.url, key);
        else
            *size = (uint64_t)len;
    } else if (!rc && q.status == 404) {
        rc = sl_error_set(err, SL_ENOTFOUND, "pack %s: object missing in %s", name, s->base.url);
    } else if (!rc) {
        rc = status_error(s, &q, err);
    }
    req_release(&q);
    free(key);
    return rc;
}

static int64_t parse_time(const char *a, const char *b)
{
    struct tm tm;
    char t[40];

    memset(&tm, 0, sizeof(tm));
    snprintf(t, sizeof(t), "%.*s", (int)(b - a < 39 ? b - a : 39), a);
    if (!strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* Decodes the five XML entities and numeric references of [a, b) into out. */
static void xml_text(const char *a, const char *b, struct sl_buf *out)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

    sl_buf_reset(out);
    while (a < b) {
        bool done = false;
        if (*a == '&') {
            for (size_t i = 0; i < SL_ARRAY_LEN(ents) && !done; i++) {
                size_t l = strlen(ents[i].ent);
                if ((size_t)(b - a) >= l && memcmp(a, ents[i].ent, l) == 0) {
                    sl_buf_addc(out, ents[i].c);
                    a += l;
                    done = true;
                }
            }
            if (!done && b - a > 3 && a[1] == '#') {
                char *end;
                long v = a[2] == 'x' ? strtol(a + 3, &end, 16) : strtol(a + 2, &end, 10);
                if (end < b && *end == ';' && v > 0 && v < 128) {
                    sl_buf_addc(out, (char)v);
                    a = end + 1;
                    done = true;
                }
            }
        }
        if (!done)
            sl_buf_addc(out, *a++);
    }
    sl_buf_cstr(out);
}

/* One page of ListObjectsV2; `token` in/out ("" for the first page, "" after
 * the last). `max_keys` 1 probes the bucket. */
static enum sl_err list_page(struct s3_store *s, struct sl_buf *token, int max_keys,
                             sl_store_list_fn fn, void *arg, int *stop, struct sl_error *err)
{
    struct sl_buf qs = SL_BUF_INIT(8192), kb = SL_BUF_INIT(4096);
    struct req q;
    const char *p, *end, *a, *b;
    enum sl_err rc;
    bool truncated = false;
    size_t plen = strlen(s->prefix);

    /* sorted: continuation-token, list-type, max-keys, prefix */
    if (token->len) {
        sl_buf_adds(&qs, "continuation-token=");
        add_escaped(&qs, sl_buf_cstr(token));
        sl_buf_addc(&qs, '&');
    }
    sl_buf_addf(&qs, "list-type=2&max-keys=%d", max_keys);
    if (plen) {
        char *pre = sl_xasprintf("%s/", s->prefix);
        sl_buf_adds(&qs, "&prefix=");
        add_escaped(&qs, pre);
        free(pre);
    }
    req_init(&q, "GET", "(bucket list)");
    q.url = sl_xasprintf("%s/?%s", s->base_url, sl_buf_cstr(&qs));
    rc = perform(s, &q, NULL, EMPTY_SHA256, err);
    if (!rc && q.status != 200)
        rc = status_error(s, &q, err);
    if (rc)
        goto out;
    p = q.resp.data ? q.resp.data : "";
    end = p + q.resp.len;
    if (xml_find(p, end, "IsTruncated", &a, &b))
        truncated = b - a == 4 && memcmp(a, "true", 4) == 0;
    sl_buf_reset(token);
    if (truncated && xml_find(p, end, "NextContinuationToken", &a, &b)) {
        xml_text(a, b, &kb);
        sl_buf_adds(token, sl_buf_cstr(&kb));
    }
    if (truncated && !token->len) {
        rc = sl_error_set(err, SL_EIO, "store %s: a truncated list without a continuation token",
                          s->base.url);
        goto out;
    }
    while (!*stop && fn && xml_find(p, end, "Contents", &a, &b)) {
        const char *ks, *ke, *v1, *v2;
        const char *rest = b;
        if (xml_find(a, b, "Key", &ks, &ke)) {
            struct sl_store_obj o;
            char name[SL_PACK_NAME_LEN + 1];
            const char *key;
            xml_text(ks, ke, &kb);
            key = sl_buf_cstr(&kb);
            if (plen && strncmp(key, s->prefix, plen) == 0 && key[plen] == '/')
                key += plen + 1;
            memset(&o, 0, sizeof(o));
            o.key = key;
            o.pack = sl_store_pack_key(key, name) ? name : NULL;
            if (xml_find(a, b, "Size", &v1, &v2))
                o.size = strtoull(v1, NULL, 10);
            if (xml_find(a, b, "LastModified", &v1, &v2))
                o.mtime = parse_time(v1, v2);
            *stop = fn(arg, &o);
        }
        p = rest;
    }
out:
    req_release(&q);
    sl_buf_release(&qs);
    sl_buf_release(&kb);
    return rc;
}

static enum sl_err s3_list(struct sl_store *st, sl_store_list_fn fn, void *arg,
                           struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    struct sl_buf token = SL_BUF_INIT(4096);
    enum sl_err rc;
    int stop = 0;

    do
        rc = list_page(s, &token, s->list_page, fn, arg, &stop, err);
    while (!rc && !stop && token.len);
    sl_buf_release(&token);
    return rc;
}

/* One page of ListMultipartUploads under the prefix; aborts pack uploads
 * initiated before `before`. `km`/`um` are the key and upload-id markers, in
 * and out ("" for the first page, both "" after the last). */
static enum sl_err uploads_page(struct s3_store *s, struct sl_buf *km, struct sl_buf *um,
                                int64_t before, int *aborted, struct sl_error *err)
{
    struct sl_buf qs = SL_BUF_INIT(8192), key = SL_BUF_INIT(4096), id = SL_BUF_INIT(4096);
    struct req q;
    const char *p, *end, *a, *b;
    size_t plen = strlen(s->prefix);
    bool truncated = false;
    enum sl_err rc;

    /* sorted: key-marker, prefix, upload-id-marker, uploads */
    if (km->len) {
        sl_buf_adds(&qs, "key-marker=");
        add_escaped(&qs, sl_buf_cstr(km));
        sl_buf_addc(&qs, '&');
    }
    if (plen) {
        char *pre = sl_xasprintf("%s/", s->prefix);
        sl_buf_adds(&qs, "prefix=");
        add_escaped(&qs, pre);
        sl_buf_addc(&qs, '&');
        free(pre);
    }
    if (um->len) {
        sl_buf_adds(&qs, "upload-id-marker=");
        add_escaped(&qs, sl_buf_cstr(um));
        sl_buf_addc(&qs, '&');
    }
    sl_buf_adds(&qs, "uploads=");
    req_init(&q, "GET", "(upload list)");
    q.url = sl_xasprintf("%s/?%s", s->base_url, sl_buf_cstr(&qs));
    rc = perform(s, &q, NULL, EMPTY_SHA256, err);
    if (!rc && q.status != 200)
        rc = status_error(s, &q, err);
    if (rc)
        goto out;
    p = q.resp.data ? q.resp.data : "";
    end = p + q.resp.len;
    if (xml_find(p, end, "IsTruncated", &a, &b))
        truncated = b - a == 4 && memcmp(a, "true", 4) == 0;
    sl_buf_reset(km);
    sl_buf_reset(um);
    if (truncated) {
        if (xml_find(p, end, "NextKeyMarker", &a, &b)) {
            xml_text(a, b, &key);
            sl_buf_adds(km, sl_buf_cstr(&key));
        }
        if (xml_find(p, end, "NextUploadIdMarker", &a, &b)) {
            xml_text(a, b, &key);
            sl_buf_adds(um, sl_buf_cstr(&key));
        }
        if (!km->len) {
            rc = sl_error_set(err, SL_EIO, "store %s: a truncated upload list without a marker",
                              s->base.url);
            goto out;
        }
    }
    while (xml_find(p, end, "Upload", &a, &b)) {
        const char *ks, *ke, *is, *ie, *ts, *te;
        const char *rel;
        p = b;
        if (!xml_find(a, b, "Key", &ks, &ke) || !xml_find(a, b, "UploadId", &is, &ie) ||
            !xml_find(a, b, "Initiated", &ts, &te))
            continue;
        xml_text(ks, ke, &key);
        rel = sl_buf_cstr(&key);
        if (plen) {
            if (strncmp(rel, s->prefix, plen) != 0 || rel[plen] != '/')
                continue;
            rel += plen + 1;
        }
        if (!sl_store_pack_key(rel, NULL) || parse_time(ts, te) >= before)
            continue;
        xml_text(is, ie, &id);
        abort_multipart(s, sl_buf_cstr(&key), sl_buf_cstr(&id));
        (*aborted)++;
    }
out:
    req_release(&q);
    sl_buf_release(&qs);
    sl_buf_release(&key);
    sl_buf_release(&id);
    return rc;
}

static enum sl_err s3_sweep_uploads(struct sl_store *st, int64_t before, int *aborted,
                                    struct sl_error *err)
{
    struct s3_store *s = (struct s3_store *)st;
    struct sl_buf km = SL_BUF_INIT(4096), um = SL_BUF_INIT(4096);
    enum sl_err rc;

    *aborted = 0;
    do
        rc = uploads_page(s, &km, &um, before, aborted, err);
    while (!rc && km.len);
    sl_buf_release(&km);
    sl_buf_release(&um);
    return rc;
}

static void s3_drop(struct sl_store *st, int64_t id)
{
    (void)st;
    (void)id; /* nothing is cached per pack */
}

static void s3_free(struct sl_store *st)
{
    struct s3_store *s = (struct s3_store *)st;
    thread_free(pthread_getspecific(s->handle_key));
    pthread_setspecific(s->handle_key, NULL);
    pthread_key_delete(s->handle_key);
    free(s->bucket);
    free(s->prefix);
    free(s->base_url);
    free(s->sigv4);
    free(s->ak);
    if (s->sk)
        sl_wipe(s->sk, strlen(s->sk));
    free(s->sk);
    if (s->token_header)
        sl_wipe(s->token_header, strlen(s->token_header));
    free(s->token_header);
    free(s->base.url);
    free(s->base.staging);
    free(s);
}

static const struct sl_store_ops s3_ops = {
    .kind = "s3",
    .put = s3_put,
    .read = s3_read,
    .list = s3_list,
    .remove = s3_remove,
    .stat = s3_stat,
    .sweep_uploads = s3_sweep_uploads,
    .drop = s3_drop,
    .free = s3_free,
};

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

static bool bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
              b[i] == '.'))
            return false;
    return true;
}

static bool prefix_ok(const char *p)
{
    /* curl 7.88 signs the path as given: keep keys to characters that need
     * no escaping, and no empty or dot segments. */
    for (const char *c = p; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.' || *c == '/'))
            return false;
    return !strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../") && strcmp(p, ".") != 0 &&
           strcmp(p, "..") != 0 && strncmp(p, "./", 2) != 0 && strncmp(p, "../", 3) != 0;
}

/* The AWS CLI's shared credentials file, for when the variables are not
 * set: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), the
 * profile AWS_PROFILE (default "default"), its aws_access_key_id,
 * aws_secret_access_key and aws_session_token. Lines are at most 1 KiB;
 * the file is at most 64 KiB. Fills what it finds (empty strings stay). */
static void shared_credentials(char ak[256], char sk[256], char token[2048])
{
    const char *path = env("AWS_SHARED_CREDENTIALS_FILE"), *profile = env("AWS_PROFILE");
    char buf[1024], *home_path = NULL;
    bool in = false;
    size_t total = 0;
    FILE *f;

    if (!profile)
        profile = "default";
    if (!path) {
        const char *home = env("HOME");
        if (!home)
            return;
        home_path = sl_xasprintf("%s/.aws/credentials", home);
        path = home_path;
    }
    f = fopen(path, "r");
    free(home_path);
    if (!f)
        return;
    while (fgets(buf, sizeof(buf), f) && (total += strlen(buf)) <= 65536) {
        char *k = buf, *eq, *v, *end;
        while (*k == ' ' || *k == '\t')
            k++;
        end = k + strlen(k);
        while (end > k && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
            *--end = '\0';
        if (*k == '[') {
            size_t n = strlen(k);
            in = n >= 2 && k[n - 1] == ']' && n - 2 == strlen(profile) &&
                 strncmp(k + 1, profile, n - 2) == 0;
            continue;
        }
        if (!in || *k == '#' || *k == ';' || !(eq = strchr(k, '=')))
            continue;
        v = eq + 1;
        while (eq > k && (eq[-1] == ' ' || eq[-1] == '\t'))
            eq--;
        *eq = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcmp(k, "aws_access_key_id") == 0)
            snprintf(ak, 256, "%s", v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            snprintf(sk, 256, "%s", v);
        else if (strcmp(k, "aws_session_token") == 0)
            snprintf(token, 2048, "%s", v);
    }
    fclose(f);
}

/* Re-labels the error in `err` as "store URL unreachable: ..." (exit 3). */
static enum sl_err unreachable(struct sl_error *err, const char *url)
{
    char why[sizeof(err->msg)];

    snprintf(why, sizeof(why), "%s", err->msg);
    if (url)
        return sl_error_set(err, SL_EUNREACHABLE, "store %s unreachable: %s", url, why);
    return sl_error_set(err, SL_EUNREACHABLE, "%s", why);
}

enum sl_err sl__store_s3_open(const char *url, const char *rest, const char *data,
                              const struct sl_store_opts *opts, struct sl_store **out,
                              struct sl_error *err)
{
    struct s3_store *s;
    const char *slash = strchr(rest, '/');
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *endpoint = env("AWS_ENDPOINT_URL_S3");
    const char *region = env("AWS_REGION");
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    const char *token = env("AWS_SESSION_TOKEN");
    char file_ak[256] = "", file_sk[256] = "", file_token[2048] = "";
    struct sl_buf tok = SL_BUF_INIT(4096);
    enum sl_err rc;
    int stop = 0;

    if (!bucket_ok(rest, blen))
        return sl_error_set(err, SL_EUSAGE,
                            "store \"%.200s\": the bucket name must be 3 to 63 characters of "
                            "a-z, 0-9, '.' and '-'",
                            url);
    if (!endpoint)
        endpoint = env("AWS_ENDPOINT_URL");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    if (!ak || !sk) {
        /* as the AWS CLI: the variables first, then the shared file */
        shared_credentials(file_ak, file_sk, file_token);
        if (file_ak[0] && file_sk[0]) {
            ak = file_ak;
            sk = file_sk;
            token = file_token[0] ? file_token : NULL;
        }
    }
    if (!ak || !sk)
        return sl_error_set(err, SL_EUSAGE,
                            "store %.200s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                            "(and AWS_SESSION_TOKEN for temporary credentials), or give them "
                            "in AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials)",
                            url);
    if (endpoint && strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
        return sl_error_set(err, SL_EUSAGE,
                            "endpoint \"%.200s\" (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) must "
                            "start with http:// or https://",
                            endpoint);
    for (const char *c = region; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return sl_error_set(err, SL_EUSAGE, "region \"%.64s\" is not a region name", region);
    s = sl_xcalloc(1, sizeof(*s));
    s->base.ops = &s3_ops;
    s->bucket = sl_xasprintf("%.*s", (int)blen, rest);
    s->prefix = sl_xstrdup(slash ? slash + 1 : "");
    while (s->prefix[0] && s->prefix[strlen(s->prefix) - 1] == '/')
        s->prefix[strlen(s->prefix) - 1] = '\0';
    s->base.url = s->prefix[0] ? sl_xasprintf("s3://%s/%s", s->bucket, s->prefix)
                               : sl_xasprintf("s3://%s", s->bucket);
    s->base.staging = sl_xasprintf("%s/packs/tmp", data);
    pthread_key_create(&s->handle_key, thread_free);
    if (!prefix_ok(s->prefix)) {
        rc = sl_error_set(err, SL_EUSAGE,
                          "store %.200s: the prefix may hold only A-Z a-z 0-9 '-' '_' '.' and "
                          "single '/' between names",
                          url);
        goto fail;
    }
    if (endpoint) {
        /* path style: what MinIO, Garage, Ceph RGW and moto all accept */
        size_t el = strlen(endpoint);
        while (el > 0 && endpoint[el - 1] == '/')
            el--;
        s->base_url = sl_xasprintf("%.*s/%s", (int)el, endpoint, s->bucket);
    } else {
        s->base_url = sl_xasprintf("https://%s.s3.%s.amazonaws.com", s->bucket, region);
    }
    s->sigv4 = sl_xasprintf("aws:amz:%s:s3", region);
    s->ak = sl_xstrdup(ak);
    s->sk = sl_xstrdup(sk);
    if (token)
        s->token_header = sl_xasprintf("x-amz-security-token: %s", token);
    s->part_size = opts && opts->part_size ? opts->part_size : DEFAULT_PART;
    if (s->part_size < MIN_PART)
        s->part_size = MIN_PART;
    s->attempts = opts && opts->attempts > 0 ? opts->attempts : DEFAULT_ATTEMPTS;
    s->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    s->list_page = opts && opts->list_page > 0 && opts->list_page < 1000 ? opts->list_page : 1000;
    rc = sl_curl_load(&s->c, err);
    if (rc) {
        rc = unreachable(err, s->base.url);
        goto fail;
    }
    curl_api = s->c;
    if (!sl_curl_at_least(0x074b00)) {
        rc = sl_error_set(err, SL_EUNREACHABLE,
                          "store %s: the S3 store needs libcurl 7.75 or newer (AWS SigV4)",
                          s->base.url);
        goto fail;
    }
    rc = sl_vfs_mkdirs(s->base.staging, 0700, err);
    if (rc)
        goto fail;
    /* Is it there? One list of one key names the cause when it is not. */
    rc = list_page(s, &tok, 1, NULL, NULL, &stop, err);
    if (rc) {
        if (rc != SL_EUNREACHABLE)
            rc = unreachable(err, NULL);
        goto fail;
    }
    sl_buf_release(&tok);
    *out = &s->base;
    return SL_OK;
fail:
    sl_buf_release(&tok);
    s3_free(&s->base);
    return rc;
}
