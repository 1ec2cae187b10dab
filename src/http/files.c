/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File downloads (`resolve` and the native files route): ETag, Range,
 * If-None-Match and the Hugging Face headers. Small files are read whole and
 * sent from memory; large ones stream from the pack runs in 1 MiB reads
 * straight into the server's send buffer (measured faster than sendfile over
 * loopback here, docs/PERFORMANCE.md).
 */
#include "http/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define SMALL_FILE (256u * 1024u)
#define BLOCK      (1u << 20)
#define DIGIT(c)   ((c) >= '0' && (c) <= '9')

struct dl {
    struct sl_registry *r;
    struct sl_run *runs;
    size_t nruns;
    size_t run;          /* current run */
    uint64_t start, end; /* the byte range sent, [start, end) */
    struct sl_req *q;
    struct sl_reg_mark *mark; /* the recipient's fingerprint, or NULL */
    unsigned char *scratch;   /* a marked read with its few extra bytes */
    size_t scratch_len;
    enum sl_err read_rc; /* why the last store read failed */
};

/* Parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range against
 * `size`. Returns 0 ok, -1 when malformed or unsatisfiable (416). Not
 * static so that fuzz/fuzz_range.c can reach it (http_int.h). */
int sl__parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end, const char **why)
{
    const char *p;
    char *e;
    unsigned long long a, b;

    if (strncmp(h, "bytes=", 6) != 0) {
        *why = "only byte ranges are supported";
        return -1;
    }
    p = h + 6;
    if (strchr(p, ',')) {
        *why = "several ranges in one request are not supported";
        return -1;
    }
    /* strtoull alone would also take spaces and signs ("bytes=- 5", "0--1") */
    if (*p == '-') {
        errno = 0;
        b = strtoull(p + 1, &e, 10);
        if (errno || *e || !DIGIT(p[1]) || b == 0) {
            *why = "malformed suffix range";
            return -1;
        }
        *start = b >= size ? 0 : size - b;
        *end = size;
        if (size == 0) {
            *why = "the file is empty";
            return -1;
        }
        return 0;
    }
    errno = 0;
    a = strtoull(p, &e, 10);
    if (errno || !DIGIT(*p) || *e != '-') {
        *why = "malformed range";
        return -1;
    }
    if (e[1] == '\0') {
        b = size ? size - 1 : 0;
    } else {
        char *e2;
        b = strtoull(e + 1, &e2, 10);
        if (errno || *e2 || !DIGIT(e[1]) || b < a) {
            *why = "malformed range";
            return -1;
        }
        if (b >= size)
            b = size ? size - 1 : 0;
    }
    if (a >= size) {
        *why = "the range starts beyond the end of the file";
        return -1;
    }
    *start = a;
    *end = b + 1;
    return 0;
}

/* Copies file bytes [off, off + n) from the runs into `dst`; false on a
 * read error (logged) or when the runs do not cover the range. */
static bool read_into(struct dl *d, uint64_t off, unsigned char *dst, size_t n)
{
    size_t done = 0;

    /* the runs are sorted and adjacent: move the cursor to the run holding
     * `off` (back when a marked read reaches a few bytes behind) */
    while (d->run > 0 && d->runs[d->run].file_offset > off)
        d->run--;
    while (done < n) {
        const struct sl_run *r;
        uint64_t in_run, take;
        struct sl_error err;
        while (d->run < d->nruns && d->runs[d->run].file_offset + d->runs[d->run].length <= off)
            d->run++;
        if (d->run >= d->nruns || d->runs[d->run].file_offset > off)
            return false;
        r = &d->runs[d->run];
        in_run = off - r->file_offset;
        take = r->length - in_run;
        if (take > n - done)
            take = n - done;
        if (sl_reg_read_run(d->r, r, in_run, dst + done, (size_t)take, &err) != SL_OK) {
            fprintf(stderr, "{\"event\":\"read_error\",\"message\":\"%s\"}\n", err.msg);
            d->read_rc = err.code;
            return false;
        }
        done += take;
        off += take;
    }
    return true;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct dl *d = cls;
    uint64_t at = d->start + pos; /* file offset */
    size_t n;

    if (at >= d->end)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = d->end - at < max ? (size_t)(d->end - at) : max;
    if (d->mark) {
        /* marks need whole elements: read the few bytes around the part
         * sent, mark that, send the part (the same bytes as any other split) */
        uint64_t s, e;
        sl_reg_mark_span(d->mark, at, n, &s, &e);
        if (e - s > d->scratch_len) {
            free(d->scratch);
            d->scratch_len = (size_t)(e - s);
            d->scratch = sl_xmalloc(d->scratch_len);
        }
        if (!read_into(d, s, d->scratch, (size_t)(e - s)))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        sl_reg_mark_apply(d->mark, s, d->scratch, (size_t)(e - s));
        memcpy(buf, d->scratch + (at - s), n);
    } else if (!read_into(d, at, (unsigned char *)buf, n)) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    d->q->bytes += n;
    sl_progress(d->q->srv);
    return (ssize_t)n;
}

static void free_dl(void *cls)
{
    struct dl *d = cls;

    sl_reg_mark_free(d->mark);
    free(d->scratch);
    free(d->runs);
    free(d);
}

/* RFC 5987 attr-char: what filename*= carries unescaped. */
static bool attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$&+-.^_`|~", c) != NULL;
}

char *sl_content_disposition(const char *path)
{
    const char *slash = strrchr(path, '/');
    const unsigned char *base = (const unsigned char *)(slash ? slash + 1 : path);
    size_t n = strlen((const char *)base), o = 0;
    bool plain = n > 0;
    char *out;

    for (size_t i = 0; i < n; i++) {
        if (base[i] < 0x20 || base[i] >= 0x7f || base[i] == '"' || base[i] == '\\' ||
            base[i] == '%')
            plain = false;
    }
    /* 'attachment; filename="' (22) + the fallback (n, or 1 when empty) +
     * '"' + "; filename*=UTF-8''" (19) + up to 3 bytes per byte + NUL */
    out = sl_xmalloc(48 + 4 * n);
    o += (size_t)snprintf(out, 48, "attachment; filename=\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = base[i];
        /* the quoted fallback holds printable ASCII without quote,
         * backslash or percent; the exact name goes in filename* */
        out[o++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%') ? '_' : (char)c;
    }
    if (n == 0)
        out[o++] = '_';
    out[o++] = '"';
    if (!plain && n > 0) {
        static const char hex[] = "0123456789ABCDEF";
        memcpy(out + o, "; filename*=UTF-8''", 19);
        o += 19;
        for (size_t i = 0; i < n; i++) {
            if (attr_char(base[i])) {
                out[o++] = (char)base[i];
            } else {
                out[o++] = '%';
                out[o++] = hex[base[i] >> 4];
                out[o++] = hex[base[i] & 15];
            }
        }
    }
    out[o] = '\0';
    return out;
}

void sl_add_download_headers(struct MHD_Response *resp, const char *path)
{
    char *cd = sl_content_disposition(path);

    sl_mhd->add_response_header(resp, "X-Content-Type-Options", "nosniff");
    sl_mhd->add_response_header(resp, "Content-Disposition", cd);
    sl_mhd->add_response_header(resp, "Content-Security-Policy", "sandbox");
    free(cd);
}

/* The identity headers of a file answer. `copy` is the SHA-256 of the bytes
 * this caller receives: the canonical digest, or for a fingerprinted copy
 * (`recipient` not 0) that copy's own, so a cache keyed by the ETag
 * (huggingface_hub's blobs/<etag>) holds each licensee's bytes apart. */
static void headers(struct sl_req *q, struct MHD_Response *resp, const struct sl_file_ref *f,
                    const char *copy, uint32_t recipient)
{
    char etag[96], size[32];

    snprintf(etag, sizeof(etag), "\"%s\"", copy);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)f->size);
    sl_mhd->add_response_header(resp, "ETag", etag);
    sl_mhd->add_response_header(resp, "X-Linked-Etag", etag);
    sl_mhd->add_response_header(resp, "X-Linked-Size", size);
    {
        /* a licensee's marked copy is known by its own commit id, as in
         * model info, so Hugging Face caches keep it apart (`recipient`
         * says whether this file is marked) */
        char commit[65];
        bool marked = false;
        struct sl_error ignore;
        /* every file of the copy, marked or not, names it */
        if (strcmp(q->v.tier, "gated") != 0 || q->who.user_id == 0 ||
            sl_reg_copy_commit(q->srv->r, &q->who, &q->v, commit, &marked, &ignore) != SL_OK)
            snprintf(commit, sizeof(commit), "%s", q->v.commit);
        sl_mhd->add_response_header(resp, "X-Repo-Commit", commit);
    }
    sl_mhd->add_response_header(resp, "Accept-Ranges", "bytes");
    sl_add_download_headers(resp, q->path);
    if (recipient) {
        /* tell the licensee, and keep shared caches from handing this copy
         * to anyone else */
        char fp[16];
        snprintf(fp, sizeof(fp), "%u", recipient);
        sl_mhd->add_response_header(resp, "X-Sluice-Fingerprint", fp);
        sl_mhd->add_response_header(resp, "X-Sluice-Fingerprinted", "1");
        sl_mhd->add_response_header(resp, "Cache-Control", "private, no-store");
    } else if (q->by_session && strcmp(q->v.tier, "open") != 0) {
        /* a shared cache stores no answer to a request with Authorization,
         * but a cookie does not stop it: a click or gated file fetched by a
         * browser session is for that browser only */
        sl_mhd->add_response_header(resp, "Cache-Control", "private");
    }
}

/* Adds the headers and queues a file answer. */
static void finish(struct sl_req *q, struct MHD_Response *resp, const struct sl_file_ref *f,
                   const char *copy, unsigned status, uint64_t start, uint64_t end, uint64_t sent,
                   uint32_t recipient)
{
    headers(q, resp, f, copy, recipient);
    sl_mhd->add_response_header(resp, "Content-Type", "application/octet-stream");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)(end - 1), (unsigned long long)f->size);
        sl_mhd->add_response_header(resp, "Content-Range", cr);
    }
    sl_reply(q, status, resp, sent);
}

static bool etag_matches(const char *inm, const char *sha)
{
    char quoted[70];

    if (strcmp(inm, "*") == 0)
        return true;
    snprintf(quoted, sizeof(quoted), "\"%s\"", sha);
    /* a list of tags, possibly weak */
    return strstr(inm, quoted) != NULL || strcmp(inm, sha) == 0;
}

/* If-Range (RFC 9110 section 13.1.5): the range applies only when the
 * client's validator is this representation's strong ETag. A weak tag or
 * a date (sluice sends no Last-Modified) never matches. */
static bool if_range_matches(const char *ir, const char *sha)
{
    char quoted[70];

    snprintf(quoted, sizeof(quoted), "\"%s\"", sha);
    return strcmp(ir, quoted) == 0;
}

void sl_h_file(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    struct sl_file_ref f;
    struct sl_error err;
    const char *range = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Range");
    const char *inm = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-None-Match");
    uint64_t start = 0, end, len;
    unsigned status = 200;
    struct MHD_Response *resp;
    struct dl *d;
    struct sl_reg_mark *mark = NULL;
    uint32_t recipient = 0;
    char copy[65];

    if (q->cached) {
        f = q->file;
    } else if (sl_reg_file(r, q->v.version_id, q->path, &f, &err) != SL_OK) {
        /* the commit on the 404: huggingface_hub records the file as absent
         * at that commit (.no_exist) instead of asking again */
        struct sl_error e2;
        json_t *doc;
        const char *msg = err.msg[0] ? err.msg : sl_strerror(err.code);
        if (err.code != SL_ENOTFOUND) {
            sl_reply_error(q, &err);
            return;
        }
        doc = json_pack("{s:s, s:s}", "error", "not_found", "message", msg);
        if (!doc) {
            sl_error_set(&e2, SL_EINTERNAL, "could not build the answer");
            sl_reply_error(q, &e2);
            return;
        }
        {
            char *text = json_dumps(doc, JSON_COMPACT);
            size_t n = strlen(text);
            resp = sl_mhd->create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
            sl_mhd->add_response_header(resp, "Content-Type", "application/json");
            sl_mhd->add_response_header(resp, "X-Error-Code", "EntryNotFound");
            sl_add_error_message(resp, msg);
            sl_mhd->add_response_header(resp, "X-Repo-Commit", q->v.commit);
            json_decref(doc);
            sl_reply(q, 404, resp, q->head ? 0 : n);
        }
        return;
    }
    if (sl_reg_is_query_file(q->path) && (!range || strncmp(range, "bytes=0-", 8) == 0)) {
        /* downloads count as on the Hub: each GET or HEAD of a query file
         * (a ranged read only from its first byte); a failed count never
         * fails the download */
        struct sl_error ce;
        sl_error_clear(&ce);
        if (sl_reg_count_download(r, q->v.version_id, &ce) != SL_OK)
            fprintf(stderr, "{\"event\":\"download_count_failed\",\"message\":\"%s\"}\n", ce.msg);
    }
    end = f.size;
    if (!q->cached && f.size > SL_CACHE_BYTES_MAX)
        sl_cache_put(q, &q->v, &f, NULL);
    if (sl_reg_mark_for(r, &q->who, &q->v, q->path, &f, &mark, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    snprintf(copy, sizeof(copy), "%s", f.sha256);
    if (mark) {
        recipient = sl_reg_mark_recipient(mark);
        q->cached_bytes = NULL; /* cached bytes are the unmarked original */
        /* every answer about this copy (whole, range, HEAD, 304) names the
         * digest of the recipient's bytes, hashed once and then kept */
        if (sl_reg_mark_sha256(mark, &f, copy, &err) != SL_OK) {
            sl_reg_mark_free(mark);
            sl_reply_error(q, &err);
            return;
        }
    }
    if (inm && etag_matches(inm, copy)) {
        resp = sl_mhd->create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        headers(q, resp, &f, copy, recipient);
        sl_reg_mark_free(mark);
        sl_reply(q, 304, resp, 0);
        return;
    }
    if (range) {
        const char *ir = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-Range");
        /* the client holds part of another copy (main moved, or another
         * recipient's bytes): it gets the whole current file */
        if (ir && !if_range_matches(ir, copy))
            range = NULL;
    }
    if (range) {
        const char *why;
        if (sl__parse_range(range, f.size, &start, &end, &why) != 0) {
            char cr[64], msg[256];
            json_t *e;
            char *text;
            size_t n;
            /* the header is the client's bytes: scrubbed to UTF-8 before it
             * goes into JSON (json_sprintf would give NULL, and no answer) */
            snprintf(msg, sizeof(msg), "Range \"%.100s\": %s (file size %llu)", range, why,
                     (unsigned long long)f.size);
            sl_utf8_scrub(msg);
            e = json_pack("{s:s, s:s}", "error", "range_not_satisfiable", "message", msg);
            text = json_dumps(e, JSON_COMPACT);
            n = strlen(text);
            snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)f.size);
            resp = sl_mhd->create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
            sl_mhd->add_response_header(resp, "Content-Type", "application/json");
            sl_add_error_message(resp, json_string_value(json_object_get(e, "message")));
            json_decref(e);
            sl_mhd->add_response_header(resp, "Content-Range", cr);
            sl_add_download_headers(resp, q->path);
            sl_reg_mark_free(mark);
            sl_reply(q, 416, resp, n);
            return;
        }
        status = 206;
    }
    len = end - start;
    if (q->cached && q->cached_bytes) {
        /* a small file straight from the cache: no database, no pack read */
        char *buf = sl_xmalloc(len ? (size_t)len : 1);
        memcpy(buf, q->cached_bytes + start, (size_t)len);
        resp = sl_mhd->create_response_from_buffer((size_t)len, buf, MHD_RESPMEM_MUST_FREE);
        finish(q, resp, &f, copy, status, start, end, q->head ? 0 : len, 0);
        return;
    }
    d = sl_xcalloc(1, sizeof(*d));
    d->r = r;
    d->start = start;
    d->end = end;
    d->q = q;
    d->mark = mark;
    {
        /* a marked download reads up to 3 bytes either side of the range */
        uint64_t lo = start, hi = end;
        if (mark && len > 0)
            sl_reg_mark_span(mark, start, len, &lo, &hi);
        if (len > 0 && !q->head &&
            sl_reg_runs(r, f.blob_id, lo, hi, &d->runs, &d->nruns, &err) != SL_OK) {
            free_dl(d);
            sl_reply_error(q, &err);
            return;
        }
    }
    if (len <= SMALL_FILE && !q->head) {
        /* small: read it whole and answer from memory */
        char *buf = sl_xmalloc(len ? len : 1);
        ssize_t got = len ? reader(d, 0, buf, (size_t)len) : 0;
        enum sl_err why = d->read_rc;
        q->bytes = 0;
        free_dl(d);
        if (got < 0 || (uint64_t)got != len) {
            free(buf);
            /* a store that is down is worth retrying (503), a broken one not */
            sl_error_set(&err, why == SL_EUNREACHABLE ? SL_EUNREACHABLE : SL_EIO,
                         "could not read the file from the store");
            sl_reply_error(q, &err);
            return;
        }
        if (start == 0 && len == f.size && !q->cached && !recipient)
            sl_cache_put(q, &q->v, &f, buf);
        resp = sl_mhd->create_response_from_buffer((size_t)len, buf, MHD_RESPMEM_MUST_FREE);
    } else {
        /* libmicrohttpd allocates (and zeroes) the block with the response:
         * a HEAD answer sends no body, so it gets a token one */
        size_t block = q->head ? 64 : len < BLOCK ? (size_t)len : BLOCK;
        unsigned char first;
        if (!q->head && !read_into(d, start, &first, 1)) {
            /* the store fails before the status is sent: say so (503 when
             * it is down) rather than cut a 200 short */
            enum sl_err why = d->read_rc;
            free_dl(d);
            sl_error_set(&err, why == SL_EUNREACHABLE ? SL_EUNREACHABLE : SL_EIO,
                         "could not read the file from the store");
            sl_reply_error(q, &err);
            return;
        }
        resp = sl_mhd->create_response_from_callback(len, block, reader, d, free_dl);
    }
    finish(q, resp, &f, copy, status, start, end, q->head ? 0 : len, recipient);
    if (!q->head && len > SMALL_FILE)
        q->bytes = 0; /* counted as the reader sends */
}

/* GET .../versions/{rev}/chunks/{path*}: the file's chunks in order, so a
 * client holding some of them (an earlier version, another file) fetches
 * only the byte ranges it lacks with ranged GETs on the files route, which
 * apply every check of a download. The router has already applied the
 * download rule (P_DOWNLOAD). Only open and click versions have one: a
 * gated copy carries its recipient's marks, so its bytes differ from the
 * stored chunks, and publishing the stored chunks' digests would be a
 * content oracle for a model whose bytes are not public. */
void sl_h_file_chunks(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    struct sl_file_ref f;
    struct sl_chunk_ref *c = NULL;
    struct sl_error err;
    size_t n = 0;
    json_t *out, *list;
    char hex[65];

    sl_error_clear(&err);
    if (strcmp(q->v.tier, "open") != 0 && strcmp(q->v.tier, "click") != 0) {
        q->x_error = "NoChunkList";
        sl_reply_status(q, 409, "conflict",
                        "%s/%s: a %s version has no chunk list (its copies may be "
                        "fingerprinted); download the files whole",
                        q->org, q->name, q->v.tier);
        return;
    }
    if (sl_reg_file(r, q->v.version_id, q->path, &f, &err) != SL_OK) {
        q->x_error = "EntryNotFound";
        sl_reply_error(q, &err);
        return;
    }
    if (sl_reg_chunk_list(r, f.blob_id, &c, &n, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        sl_hex(c[i].id, sizeof(c[i].id), hex);
        json_array_append_new(list, json_pack("[I, I, s]", (json_int_t)c[i].file_offset,
                                              (json_int_t)c[i].length, hex));
    }
    free(c);
    out = json_pack("{s:s, s:s, s:I, s:s, s:o}", "commit", q->v.commit, "path", q->path, "size",
                    (json_int_t)f.size, "sha256", f.sha256, "chunks", list);
    sl_reply_json(q, 200, out);
}
