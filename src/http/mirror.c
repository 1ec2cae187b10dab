/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice serve --mirror-of URL` (docs/mirror.md): a pull-through mirror.
 * Files of open and click versions are fetched on first request into the
 * mirror's own folder and served from there; anonymous reads (versions,
 * decisions, chunk lists, the log's checkpoint, tiles and proofs) are sent
 * on unchanged and their last answer kept, to be served while the upstream
 * is down; everything else goes to the upstream with the caller's own
 * token and nothing of it is kept. Gated, hosted and withheld files are
 * refused with the upstream's address. The upstream's log key is pinned at
 * first contact: a different key stops the mirror, which says so on
 * /api/v1/health.
 */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define MIRROR_ANSWER_MAX (64u << 20) /* largest answer passed through whole */
#define MIRROR_KEY_MAX    4096
#define MIRROR_CHECK_S    2.0   /* how often the upstream's key is looked at */
#define MIRROR_FRESH_S    5.0   /* a kept anonymous answer this young is not asked again */
#define MIRROR_DOWN_MS    10000 /* after no answer, kept copies serve without asking for this long */

struct sl_mirror {
    const struct sl_mirror_ops *ops;
    pthread_mutex_t fetch_lock; /* one fetch into the store at a time */
    pthread_mutex_t key_lock;
    char *pinned;      /* the upstream's vkey text as pinned */
    char *seen;        /* a different key the upstream served, or NULL */
    double last_check; /* monotonic seconds */
    atomic_bool changed;
    atomic_llong down_until_ms; /* an unanswered upstream is not asked again before this */
};

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes a file atomically: a temporary name, fsync, rename. */
static enum sl_err write_atomic(const char *path, const char *data, size_t n, struct sl_error *err)
{
    char *tmp = sl_xasprintf("%s.tmp.%ld", path, (long)pthread_self() % 1000000);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;
    enum sl_err rc = SL_OK;

    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "cannot create \"%s\": %s", tmp, strerror(errno));
        goto out;
    }
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = sl_error_set(err, SL_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || rename(tmp, path) != 0)
        rc = sl_error_set(err, SL_EIO, "cannot keep \"%s\": %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static void mkdir_quiet(const char *dir, const char *sub)
{
    char *p = sub ? sl_path_join(dir, sub) : sl_xstrdup(dir);

    (void)mkdir(p, 0700);
    free(p);
}

/* Fetches the upstream's /log/key: SL_OK with the text, or an error. */
static enum sl_err upstream_key(struct sl_mirror *m, char **key, struct sl_error *err)
{
    long status = 0;
    size_t len = 0;
    char ctype[128];
    enum sl_err rc = m->ops->request(m->ops->upstream, NULL, "GET", "/log/key", NULL, NULL, 0,
                                     MIRROR_KEY_MAX, &status, key, &len, ctype, sizeof(ctype), err);

    if (rc)
        return rc;
    if (status != 200) {
        free(*key);
        *key = NULL;
        return sl_error_set(err, SL_EUNREACHABLE, "%s/log/key answered %ld", m->ops->upstream,
                            status);
    }
    return SL_OK;
}

/* Compares the upstream's key with the pinned one; a different key turns
 * the mirror off until an operator looks (and logs it once). */
static void check_key(struct sl_mirror *m, bool force)
{
    struct sl_error err;
    char *key = NULL;
    double t = now_s();

    /* one thread looks at a time; the others go on (a slow upstream must
     * not hold every request) unless they are about to fetch */
    if (force)
        pthread_mutex_lock(&m->key_lock);
    else if (pthread_mutex_trylock(&m->key_lock) != 0)
        return;
    if (atomic_load(&m->changed) || (!force && t - m->last_check < MIRROR_CHECK_S)) {
        pthread_mutex_unlock(&m->key_lock);
        return;
    }
    m->last_check = t;
    sl_error_clear(&err);
    if (upstream_key(m, &key, &err) == SL_OK && strcmp(key, m->pinned) != 0) {
        struct sl_buf b = SL_BUF_INIT(16384);
        m->seen = key;
        key = NULL;
        atomic_store(&m->changed, true);
        sl_buf_adds(&b, "{\"event\":\"mirror_upstream_key_changed\",\"upstream\":");
        sl_json_put_string(&b, m->ops->upstream, strlen(m->ops->upstream));
        sl_buf_adds(&b, ",\"pinned\":");
        sl_json_put_string(&b, m->pinned, strcspn(m->pinned, "\n"));
        sl_buf_adds(&b, ",\"seen\":");
        sl_json_put_string(&b, m->seen, strcspn(m->seen, "\n"));
        fprintf(stderr, "%.*s}\n", (int)b.len, b.data);
        sl_buf_release(&b);
    }
    free(key);
    pthread_mutex_unlock(&m->key_lock);
}

enum sl_err sl_mirror_open(const struct sl_mirror_ops *ops, struct sl_mirror **out,
                           struct sl_error *err)
{
    struct sl_mirror *m = sl_xcalloc(1, sizeof(*m));
    char *pin = sl_path_join(ops->dir, "upstream.key");
    size_t len;
    enum sl_err rc;

    m->ops = ops;
    pthread_mutex_init(&m->fetch_lock, NULL);
    pthread_mutex_init(&m->key_lock, NULL);
    mkdir_quiet(ops->dir, NULL);
    mkdir_quiet(ops->dir, "answers");
    mkdir_quiet(ops->dir, "files");
    rc = sl_read_file(pin, MIRROR_KEY_MAX, &m->pinned, &len, err);
    if (rc == SL_OK) {
        check_key(m, true); /* an unreachable upstream is not fatal: the copies serve */
    } else {
        /* first contact: the upstream must answer, and its key is kept */
        sl_error_clear(err);
        rc = upstream_key(m, &m->pinned, err);
        if (rc) {
            sl_error_set(err, rc,
                         "--mirror-of %s: first contact failed, so there is no key to "
                         "pin: %s",
                         ops->upstream, err->msg);
            goto out;
        }
        rc = write_atomic(pin, m->pinned, strlen(m->pinned), err);
        if (rc)
            goto out;
        fprintf(stderr, "{\"event\":\"mirror_key_pinned\",\"upstream\":\"%s\"}\n", ops->upstream);
    }
    *out = m;
    m = NULL;
out:
    sl_mirror_free(m);
    free(pin);
    return rc;
}

void sl_mirror_free(struct sl_mirror *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->fetch_lock);
    pthread_mutex_destroy(&m->key_lock);
    free(m->pinned);
    free(m->seen);
    free(m);
}

/* ---- answers ---- */

static void reply_bytes(struct sl_req *q, unsigned status, const char *ctype, char *body,
                        size_t len, const char *how)
{
    struct MHD_Response *resp =
        sl_mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

    sl_mhd->add_response_header(resp, "Content-Type", ctype);
    sl_mhd->add_response_header(resp, "X-Sluice-Mirror", how);
    sl_reply(q, status, resp, q->head ? 0 : len);
}

static void reply_unreachable(struct sl_req *q, const struct sl_error *e)
{
    sl_reply_status(q, 502, "upstream_unreachable",
                    "this mirror holds no copy of %s and its upstream %s does not answer: %s",
                    q->raw_path, q->srv->mirror->ops->upstream, e->msg);
}

static void add_arg(struct sl_buf *b, const char *k, const char *v)
{
    sl_buf_adds(b, b->len ? "&" : "?");
    sl_buf_adds(b, k);
    if (v) {
        sl_buf_adds(b, "=");
        sl_buf_adds(b, v);
    }
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    add_arg(cls, k, v);
    return MHD_YES;
}

/* The path with its query, still percent-encoded as the caller sent it. */
static char *path_query(struct sl_req *q)
{
    struct sl_buf args = SL_BUF_INIT(16384);
    char *out;

    sl_mhd->get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    out = sl_xasprintf("%s%.*s", q->raw_path, (int)args.len, args.data ? args.data : "");
    sl_buf_release(&args);
    return out;
}

static char *answer_path(struct sl_mirror *m, const char *pq)
{
    unsigned char d[SL_SHA256_LEN];
    char hex[2 * SL_SHA256_LEN + 1];

    sl_sha256(pq, strlen(pq), d);
    sl_hex(d, sizeof(d), hex);
    return sl_xasprintf("%s/answers/%s", m->ops->dir, hex);
}

/* An anonymous request upstream, for the answer kept in `file`: skipped
 * (SL_EUNREACHABLE) while the upstream recently did not answer and a kept
 * answer exists, so that one is served at once. */
static enum sl_err ask_upstream(struct sl_mirror *m, const char *file, const char *method,
                                const char *pq, long *status, char **body, size_t *len, char *ctype,
                                size_t ctype_cap, struct sl_error *err)
{
    long long now = (long long)(now_s() * 1000.0);
    enum sl_err rc;

    if (now < atomic_load(&m->down_until_ms) && access(file, R_OK) == 0)
        return sl_error_set(err, SL_EUNREACHABLE, "it did not answer a moment ago");
    rc = m->ops->request(m->ops->upstream, NULL, method, pq, NULL, NULL, 0, MIRROR_ANSWER_MAX,
                         status, body, len, ctype, ctype_cap, err);
    if (rc == SL_EUNREACHABLE)
        atomic_store(&m->down_until_ms, now + MIRROR_DOWN_MS);
    else if (rc == SL_OK)
        atomic_store(&m->down_until_ms, 0);
    return rc;
}

/* Keeps a 200 answer as "Content-Type\n" and the body. */
static void keep_answer(const char *file, const char *ctype, const char *body, size_t len)
{
    struct sl_buf b = SL_BUF_INIT((size_t)MIRROR_ANSWER_MAX + 256);
    struct sl_error we;

    sl_buf_adds(&b, ctype);
    sl_buf_adds(&b, "\n");
    sl_buf_add(&b, body, len);
    if (write_atomic(file, b.data, b.len, &we) != SL_OK)
        fprintf(stderr, "{\"event\":\"mirror_keep_failed\",\"message\":\"%s\"}\n", we.msg);
    sl_buf_release(&b);
}

/* A kept answer (with `fresh`, only one kept less than MIRROR_FRESH_S ago):
 * true with its Content-Type and body (caller frees). */
static bool kept_answer(const char *file, bool fresh, char *ctype, size_t ctype_cap, char **body,
                        size_t *len)
{
    char *kept = NULL, *nl;
    size_t klen = 0;
    struct sl_error re;
    struct stat sb;

    if (fresh && (stat(file, &sb) != 0 || difftime(time(NULL), sb.st_mtime) >= MIRROR_FRESH_S))
        return false;
    if (sl_read_file(file, (size_t)MIRROR_ANSWER_MAX + 256, &kept, &klen, &re) != SL_OK)
        return false;
    nl = memchr(kept, '\n', klen);
    if (!nl) {
        free(kept);
        return false;
    }
    *nl = '\0';
    snprintf(ctype, ctype_cap, "%s", kept);
    *len = klen - (size_t)(nl + 1 - kept);
    *body = sl_xmalloc(*len + 1);
    memcpy(*body, nl + 1, *len);
    (*body)[*len] = '\0';
    free(kept);
    return true;
}

/* An anonymous read: the upstream's answer, kept when it is a 200 (stored
 * as "Content-Type\n" and the body); the kept one when the upstream does
 * not answer. */
static void anonymous_read(struct sl_req *q, const char *method)
{
    struct sl_mirror *m = q->srv->mirror;
    char *pq = path_query(q), *file = answer_path(m, pq), *body = NULL;
    char ctype[128];
    size_t len = 0;
    long status = 0;
    struct sl_error err;

    sl_error_clear(&err);
    if (!q->head && kept_answer(file, true, ctype, sizeof(ctype), &body, &len)) {
        reply_bytes(q, 200, ctype, body, len, "kept");
        goto out;
    }
    if (ask_upstream(m, file, method, pq, &status, &body, &len, ctype, sizeof(ctype), &err) ==
        SL_OK) {
        if (status == 200 && !q->head)
            keep_answer(file, ctype, body, len);
        reply_bytes(q, (unsigned)status, ctype, body, len, "upstream");
        goto out;
    }
    if (!kept_answer(file, false, ctype, sizeof(ctype), &body, &len)) {
        reply_unreachable(q, &err);
        goto out;
    }
    reply_bytes(q, 200, ctype, body, len, "kept");
out:
    free(file);
    free(pq);
}

/* Anything else: sent on with the caller's token, nothing kept. */
static void pass_through(struct sl_req *q, const char *token)
{
    struct sl_mirror *m = q->srv->mirror;
    const char *ct = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Type");
    char *pq = path_query(q), *body = NULL;
    char ctype[128];
    size_t len = 0;
    long status = 0;
    struct sl_error err;
    bool has_body = q->route->body == BODY_SMALL || q->route->body == BODY_JSON;

    sl_error_clear(&err);
    if (m->ops->request(m->ops->upstream, token, q->method, pq, ct,
                        has_body ? (q->body.data ? q->body.data : "") : NULL,
                        has_body ? q->body.len : 0, MIRROR_ANSWER_MAX, &status, &body, &len, ctype,
                        sizeof(ctype), &err) != SL_OK) {
        sl_reply_status(q, 502, "upstream_unreachable",
                        "this mirror sends %s %s to its upstream %s, which does not answer: %s",
                        q->method, q->raw_path, m->ops->upstream, err.msg);
    } else {
        reply_bytes(q, (unsigned)status, ctype, body, len, "passed");
    }
    free(pq);
}

/* ---- files ---- */

/* A kept file's bytes, read in blocks of MIRROR_BLOCK as the answer goes
 * out (measured faster here than sendfile, which libmicrohttpd's thread pool
 * sends in small steps; docs/PERFORMANCE.md). */
#define MIRROR_BLOCK (1u << 20)

struct mfile {
    int fd;
    uint64_t start, end;
    struct sl_req *q;
};

static ssize_t mfile_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mfile *f = cls;
    uint64_t at = f->start + pos;
    size_t n;
    ssize_t got;

    if (at >= f->end)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = f->end - at < max ? (size_t)(f->end - at) : max;
    got = pread(f->fd, buf, n, (off_t)at);
    if (got <= 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    f->q->bytes += (uint64_t)got;
    sl_progress(f->q->srv);
    return got;
}

static void mfile_free(void *cls)
{
    struct mfile *f = cls;

    close(f->fd);
    free(f);
}

/* `s` percent-encoded for a URL path ('/' kept). Caller frees. */
static char *escape_path(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct sl_buf b = SL_BUF_INIT(3 * 4096 + 1);

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/') {
            sl_buf_add(&b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sl_buf_add(&b, e, 3);
        }
    }
    return sl_buf_detach(&b, NULL);
}

static bool is_commit(const char *s)
{
    size_t n = strlen(s);

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The version as the upstream describes it to this caller: SL_OK with the
 * JSON, or the answer already given. */
static bool version_of(struct sl_req *q, const char *token, json_t **out)
{
    struct sl_mirror *m = q->srv->mirror;
    char *pq =
        sl_xasprintf("/api/v1/models/%s/%s/versions/%s", q->org, q->name, q->rev ? q->rev : "main");
    char *file = answer_path(m, pq), *body = NULL, ctype[128];
    size_t len = 0;
    long status = 0;
    struct sl_error err;
    bool ok = false;

    sl_error_clear(&err);
    if (!token && kept_answer(file, true, ctype, sizeof(ctype), &body, &len)) {
        *out = json_loadb(body, len, 0, NULL);
    } else if ((token ? m->ops->request(m->ops->upstream, token, "GET", pq, NULL, NULL, 0,
                                        MIRROR_ANSWER_MAX, &status, &body, &len, ctype,
                                        sizeof(ctype), &err)
                      : ask_upstream(m, file, "GET", pq, &status, &body, &len, ctype, sizeof(ctype),
                                     &err)) == SL_OK) {
        if (status != 200) {
            reply_bytes(q, (unsigned)status, ctype, body, len, "upstream");
            body = NULL;
            goto out;
        }
        if (!token)
            keep_answer(file, ctype, body, len);
        *out = json_loadb(body, len, 0, NULL);
    } else if (!token && kept_answer(file, false, ctype, sizeof(ctype), &body, &len)) {
        *out = json_loadb(body, len, 0, NULL);
    } else {
        reply_unreachable(q, &err);
        goto out;
    }
    if (!*out || !json_is_string(json_object_get(*out, "commit")) ||
        !json_is_string(json_object_get(*out, "tier"))) {
        json_decref(*out);
        *out = NULL;
        sl_reply_status(q, 502, "bad_upstream",
                        "the upstream %s sent a version of %s/%s that "
                        "is not JSON with a commit and a tier",
                        m->ops->upstream, q->org, q->name);
        goto out;
    }
    ok = true;
out:
    free(body);
    free(file);
    free(pq);
    return ok;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Drops every kept file of a version the upstream no longer has open or
 * click (a tier made stricter after the mirror fetched it). */
static void drop_version(struct sl_mirror *m, const char *org, const char *name, const char *commit)
{
    char *dir = sl_xasprintf("%s/files/%s/%s/%s", m->ops->dir, org, name, commit);

    pthread_mutex_lock(&m->fetch_lock);
    if (access(dir, F_OK) == 0) {
        if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "{\"event\":\"mirror_drop_failed\",\"path\":\"%s\"}\n", dir);
        else
            fprintf(stderr,
                    "{\"event\":\"mirror_dropped\",\"model\":\"%s/%s\",\"commit\":\"%s\"}\n", org,
                    name, commit);
    }
    pthread_mutex_unlock(&m->fetch_lock);
    free(dir);
}

/* A download: a file of an open version from the store (fetched on first
 * request); of a click version the same after the upstream has said this
 * caller accepted its license (it is asked each time); anything else
 * refused with the upstream's address. */
static void mirror_file(struct sl_req *q, const char *token)
{
    struct sl_mirror *m = q->srv->mirror;
    const char *range = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Range");
    json_t *ver = NULL, *fetched = NULL, *files;
    const char *commit, *tier, *sha = NULL;
    char *local = NULL, etag[80], size[32];
    uint64_t fsize = 0, start = 0, end, known = 0;
    unsigned status = 200;
    struct MHD_Response *resp;
    struct mfile *mf;
    struct sl_error err;
    int fd = -1;
    size_t i;
    json_t *f;

    sl_error_clear(&err);
    if (!version_of(q, token, &ver))
        return;
    commit = json_string_value(json_object_get(ver, "commit"));
    tier = json_string_value(json_object_get(ver, "tier"));
    if (strcmp(tier, "open") != 0 && strcmp(tier, "click") != 0) {
        if (is_commit(commit))
            drop_version(m, q->org, q->name, commit);
        char *msg = sl_xasprintf("%s/%s is %s: this mirror never keeps or hands out %s "
                                 "versions; download it from the upstream %s",
                                 q->org, q->name, tier, tier, m->ops->upstream);
        char *where = sl_xasprintf("%s/%s/%s", m->ops->upstream, q->org, q->name);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "error", "forbidden", "message", msg, "tier",
                              tier, "upstream_url", where);
        free(where);
        free(msg);
        q->x_error = "GatedRepo";
        sl_reply_json(q, 403, e);
        goto out;
    }
    if (!is_commit(commit)) {
        sl_reply_status(q, 502, "bad_upstream", "the upstream named a malformed commit");
        goto out;
    }
    if (strcmp(tier, "click") == 0) {
        /* the upstream decides who accepted: its chunk list for this caller */
        char *ep = escape_path(q->path);
        char *pq =
            sl_xasprintf("/api/v1/models/%s/%s/versions/%s/chunks/%s", q->org, q->name, commit, ep);
        free(ep);
        char *body = NULL, ctype[128];
        size_t len = 0;
        long st = 0;
        if (m->ops->request(m->ops->upstream, token, "GET", pq, NULL, NULL, 0, MIRROR_ANSWER_MAX,
                            &st, &body, &len, ctype, sizeof(ctype), &err) != SL_OK) {
            free(pq);
            sl_reply_status(q, 502, "upstream_unreachable",
                            "%s/%s is a click version: the upstream %s must say that you "
                            "accepted its license, and it does not answer: %s",
                            q->org, q->name, m->ops->upstream, err.msg);
            goto out;
        }
        free(pq);
        if (st != 200) {
            reply_bytes(q, (unsigned)st, ctype, body, len, "upstream");
            goto out;
        }
        free(body);
    }
    files = json_object_get(ver, "files");
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (p && strcmp(p, q->path) == 0) {
            sha = json_string_value(json_object_get(f, "sha256"));
            known = (uint64_t)json_integer_value(json_object_get(f, "size"));
        }
    }
    if (!sha) {
        q->x_error = "EntryNotFound";
        sl_reply_status(q, 404, "not_found", "%s/%s@%.12s has no file %s", q->org, q->name, commit,
                        q->path);
        goto out;
    }
    local = sl_xasprintf("%s/files/%s/%s/%s/%s", m->ops->dir, q->org, q->name, commit, q->path);
    for (int attempt = 0;; attempt++) {
        if (access(local, R_OK) != 0) {
            enum sl_err rc;
            pthread_mutex_lock(&m->fetch_lock);
            check_key(m, true);
            if (atomic_load(&m->changed))
                rc = sl_error_set(&err, SL_EUNAVAILABLE, "the upstream's log key changed");
            else if (access(local, R_OK) == 0)
                rc = SL_OK; /* another request fetched it meanwhile */
            else
                rc = m->ops->fetch(m->ops->upstream, strcmp(tier, "click") == 0 ? token : NULL,
                                   q->org, q->name, commit, q->path, m->ops->dir, &fetched, &err);
            pthread_mutex_unlock(&m->fetch_lock);
            if (rc) {
                if (rc == SL_EUNREACHABLE)
                    reply_unreachable(q, &err);
                else
                    sl_reply_error(q, &err);
                goto out;
            }
        }
        if (sl_file_open(local, &fd, &fsize, &err) != SL_OK) {
            sl_reply_error(q, &err);
            goto out;
        }
        if (fsize == known)
            break;
        /* a kept copy changed on disk: dropped and fetched again (once) */
        fprintf(stderr, "{\"event\":\"mirror_copy_damaged\",\"path\":\"%s\"}\n", local);
        close(fd);
        fd = -1;
        unlink(local);
        if (attempt > 0) {
            sl_reply_status(q, 502, "bad_upstream",
                            "the upstream's %s has %llu bytes, its version says %llu", q->path,
                            (unsigned long long)fsize, (unsigned long long)known);
            goto out;
        }
    }
    end = fsize;
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    if (range) {
        /* If-Range as the registry's files route applies it (files.c) */
        const char *ir = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-Range");
        if (ir && strcmp(ir, etag) != 0)
            range = NULL;
    }
    if (range) {
        const char *why;
        if (sl__parse_range(range, fsize, &start, &end, &why) != 0) {
            sl_reply_status(q, 416, "range_not_satisfiable", "Range: %s", why);
            goto out;
        }
        status = 206;
    }
    mf = sl_xcalloc(1, sizeof(*mf));
    mf->fd = fd;
    mf->start = start;
    mf->end = end;
    mf->q = q;
    fd = -1; /* the response closes it */
    q->bytes = 0;
    resp = sl_mhd->create_response_from_callback(end - start,
                                                 q->head ? 64
                                                 : end - start < MIRROR_BLOCK
                                                     ? (size_t)(end - start) + 1
                                                     : MIRROR_BLOCK,
                                                 mfile_read, mf, mfile_free);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)fsize);
    sl_mhd->add_response_header(resp, "ETag", etag);
    sl_mhd->add_response_header(resp, "X-Linked-Etag", etag);
    sl_mhd->add_response_header(resp, "X-Linked-Size", size);
    sl_mhd->add_response_header(resp, "X-Repo-Commit", commit);
    sl_mhd->add_response_header(resp, "Accept-Ranges", "bytes");
    sl_mhd->add_response_header(resp, "Content-Type", "application/octet-stream");
    sl_mhd->add_response_header(resp, "X-Sluice-Mirror", fetched ? "fetched" : "kept");
    sl_add_download_headers(resp, q->path);
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)(end - 1), (unsigned long long)fsize);
        sl_mhd->add_response_header(resp, "Content-Range", cr);
    }
    q->status = status;
    q->answered = true;
    sl_mhd->queue_response(q->conn, status, resp);
    sl_mhd->destroy_response(resp);
out:
    if (fd >= 0)
        close(fd);
    json_decref(fetched);
    json_decref(ver);
    free(local);
}

/* ---- the entry point ---- */

static void mirror_health(struct sl_req *q)
{
    struct sl_mirror *m = q->srv->mirror;
    bool changed;
    json_t *v;

    check_key(m, false);
    changed = atomic_load(&m->changed);
    v = json_pack("{s:b, s:s, s:{s:s, s:s, s:s%}}", "ok", !changed, "version", "0.1.0", "mirror",
                  "upstream", m->ops->upstream, "key", changed ? "changed" : "pinned", "pinned_key",
                  m->pinned, strcspn(m->pinned, "\n"));
    if (changed) {
        json_object_set_new(json_object_get(v, "mirror"), "seen_key",
                            json_stringn(m->seen, strcspn(m->seen, "\n")));
        json_object_set_new(v, "message",
                            json_sprintf("the upstream %s now signs with a different log key than "
                                         "the one pinned at first contact; this mirror serves "
                                         "nothing until an operator looks into it (docs/mirror.md)",
                                         m->ops->upstream));
    }
    sl_reply_json(q, changed ? 503 : 200, v);
}

void sl_mirror_dispatch(struct sl_req *q)
{
    struct sl_mirror *m = q->srv->mirror;
    const char *auth = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
    const char *token = NULL;

    if (q->route->handler == sl_h_health) {
        mirror_health(q);
        return;
    }
    if (q->route->handler == sl_h_page || q->route->handler == sl_h_ui) {
        /* the web UI is the mirror's own (its headers, its TLS rule); the
         * pages' API calls then go upstream through the mirror */
        q->route->handler(q);
        return;
    }
    if (auth) {
        if (strncmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
            sl_reply_status(q, 401, "unauthorized", "use Authorization: Bearer TOKEN");
            return;
        }
        token = auth + 7;
    }
    /* the router's checks of names and paths, as sl_permitted makes them:
     * they become parts of upstream URLs and of paths in the mirror's folder */
    if ((q->org && !sl_name_ok(q->org)) || (q->name && !sl_name_ok(q->name)) ||
        (q->rev && !sl_name_ok(q->rev))) {
        sl_reply_status(q, 400, "bad_request",
                        "org, model and revision names use letters, digits, '.', '_' and '-'");
        return;
    }
    if (q->path) {
        const char *why;
        if (!sl_path_ok(q->path, strlen(q->path), &why)) {
            sl_reply_status(q, 400, "bad_request", "file path %s", why);
            return;
        }
    }
    check_key(m, false);
    if (atomic_load(&m->changed)) {
        sl_reply_status(q, 503, "upstream_key_changed",
                        "the upstream %s signs with a different log key than the one this "
                        "mirror pinned; it serves nothing until an operator looks into it",
                        m->ops->upstream);
        return;
    }
    if (q->route->handler == sl_h_log_key) {
        /* the key pinned at first contact: clients check the upstream's
         * checkpoints, passed on unchanged, against it */
        reply_bytes(q, 200, "text/plain; charset=utf-8", sl_xstrdup(m->pinned), strlen(m->pinned),
                    "pinned");
        return;
    }
    if (q->route->handler == sl_h_file) {
        mirror_file(q, token);
        return;
    }
    if (!token && (strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0)) {
        anonymous_read(q, q->method);
        return;
    }
    pass_through(q, token);
}
