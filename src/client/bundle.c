/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offline bundles (docs/bundle.md): `sluice export` pulls a version as the
 * exporter may have it and writes one tar holding a manifest first, the
 * server's key, a signed checkpoint, the version's log entry with its
 * inclusion proof, for a gated copy the signed manifest of that copy and the
 * exporter's license, then the files. `verify-bundle` and `import` check all
 * of it with no network, in one streaming pass, against a key given or
 * pinned at an earlier contact. The tar layout is in client_int.h.
 */
#include "client/client_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "common/banned.h"

#define BLOCK       512u
#define META_MAX    (16u << 20) /* largest metadata entry read into memory */
#define MANIFEST    "sluice-bundle.json"
#define FORMAT      "sluice-bundle/1"
#define E_KEY       "server.vkey"
#define E_CKPT      "checkpoint"
#define E_ENTRY     "log/version.json"
#define E_PROOF     "log/version.proof"
#define E_COPY      "copy-manifest.note"
#define E_LICENSE   "LICENSE.sluice"
#define FILES_DIR   "files/"
#define COPY_BUF    (1u << 20)
#define MAX_ENTRIES (SL_SCAN_MAX_FILES + 16)

/* ---- tar writing ---- */

static void octal(char *dst, size_t n, uint64_t v)
{
    /* n - 1 digits and a NUL */
    dst[n - 1] = '\0';
    for (size_t i = n - 1; i-- > 0;) {
        dst[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

static void header_sum(unsigned char *h)
{
    unsigned sum = 0;

    memset(h + 148, ' ', 8);
    for (unsigned i = 0; i < BLOCK; i++)
        sum += h[i];
    octal((char *)h + 148, 7, sum);
    h[155] = ' ';
}

static enum sl_err put(int fd, const void *p, size_t n, const char *out, struct sl_error *err)
{
    const unsigned char *b = p;

    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: write failed: %s",
                                out, strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

/* One ustar header, preceded by a pax header with `path=` and `size=` when
 * the name or the size does not fit (only those records: reproducible). */
static enum sl_err tar_header(int fd, const char *name, uint64_t size, const char *out,
                              struct sl_error *err)
{
    unsigned char h[BLOCK];
    size_t nlen = strlen(name);
    enum sl_err rc;

    if (nlen >= 100 || size >= (1ull << 33)) {
        struct sl_buf pax = SL_BUF_INIT(1u << 20);
        char rec[64];
        size_t body, pad;
        /* "LEN path=NAME\n": LEN counts itself */
        for (size_t digits = 1; digits < 8; digits++) {
            size_t total = digits + 1 + 5 + nlen + 1;
            size_t d = 0;
            for (size_t t = total; t; t /= 10)
                d++;
            if (d == digits) {
                sl_buf_addf(&pax, "%zu path=", total);
                sl_buf_add(&pax, name, nlen);
                sl_buf_addc(&pax, '\n');
                break;
            }
        }
        snprintf(rec, sizeof(rec), "%llu", (unsigned long long)size);
        for (size_t digits = 1; digits < 8; digits++) {
            size_t total = digits + 1 + 5 + strlen(rec) + 1;
            size_t d = 0;
            for (size_t t = total; t; t /= 10)
                d++;
            if (d == digits) {
                sl_buf_addf(&pax, "%zu size=%s\n", total, rec);
                break;
            }
        }
        body = pax.len;
        memset(h, 0, sizeof(h));
        snprintf((char *)h, 100, "pax");
        octal((char *)h + 100, 8, 0644);
        octal((char *)h + 108, 8, 0);
        octal((char *)h + 116, 8, 0);
        octal((char *)h + 124, 12, body);
        octal((char *)h + 136, 12, 0);
        h[156] = 'x';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        header_sum(h);
        rc = put(fd, h, BLOCK, out, err);
        if (!rc)
            rc = put(fd, pax.data, body, out, err);
        pad = (BLOCK - body % BLOCK) % BLOCK;
        memset(h, 0, sizeof(h));
        if (!rc && pad)
            rc = put(fd, h, pad, out, err);
        sl_buf_release(&pax);
        if (rc)
            return rc;
    }
    memset(h, 0, sizeof(h));
    memcpy(h, name, nlen < 100 ? nlen : 99);
    octal((char *)h + 100, 8, 0644);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, size < (1ull << 33) ? size : 0);
    octal((char *)h + 136, 12, 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    header_sum(h);
    return put(fd, h, BLOCK, out, err);
}

static enum sl_err tar_pad(int fd, uint64_t size, const char *out, struct sl_error *err)
{
    static const unsigned char zero[BLOCK];
    size_t pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);

    return pad ? put(fd, zero, pad, out, err) : SL_OK;
}

static enum sl_err tar_mem(int fd, const char *name, const void *data, size_t n, const char *out,
                           struct sl_error *err)
{
    enum sl_err rc = tar_header(fd, name, n, out, err);

    if (!rc)
        rc = put(fd, data, n, out, err);
    if (!rc)
        rc = tar_pad(fd, n, out, err);
    return rc;
}

static enum sl_err tar_file(int fd, const char *name, const char *src, uint64_t size,
                            const char *out, struct sl_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    unsigned char *buf;
    uint64_t done = 0;
    enum sl_err rc;

    if (in < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", src, strerror(errno));
    buf = sl_xmalloc(COPY_BUF);
    rc = tar_header(fd, name, size, out, err);
    while (!rc && done < size) {
        size_t n = size - done < COPY_BUF ? (size_t)(size - done) : COPY_BUF;
        rc = sl_pread_full(in, buf, n, done, src, err);
        if (!rc)
            rc = put(fd, buf, n, out, err);
        done += n;
    }
    if (!rc)
        rc = tar_pad(fd, size, out, err);
    free(buf);
    close(in);
    return rc;
}

/* ---- export ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static void add_entry(json_t *list, const char *name, const void *data, size_t n)
{
    unsigned char h[32];
    char hex[65];

    sl_sha256(data, n, h);
    sl_hex(h, 32, hex);
    json_array_append_new(
        list, json_pack("{s:s, s:I, s:s}", "name", name, "size", (json_int_t)n, "sha256", hex));
}

/* Finds the index of the version.published entry of `commit` in the
 * model's report. */
static enum sl_err find_entry(struct sl_client *cl, const char *org, const char *name,
                              const char *commit, uint64_t *index, struct sl_error *err)
{
    struct sl_buf path = SL_BUF_INIT(4096);
    json_t *rep = NULL, *ev;
    size_t i;
    enum sl_err rc;

    sl_buf_addf(&path, "/api/v1/models/%s/%s/report", org, name);
    rc = sl__cl_http_json(cl, "GET", sl_buf_cstr(&path), NULL, 0, 120, NULL, &rep, err);
    sl_buf_release(&path);
    if (rc)
        return rc;
    rc = sl_error_set(err, SL_EINTERNAL,
                      "%s/%s: the server's report has no version.published entry for %s", org, name,
                      commit);
    json_array_foreach(json_object_get(rep, "events"), i, ev)
    {
        json_t *e = json_object_get(ev, "entry");
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *c = json_string_value(json_object_get(e, "commit"));
        json_int_t ix = json_integer_value(json_object_get(ev, "index"));
        if (t && c && strcmp(t, "version.published") == 0 && strcmp(c, commit) == 0 && ix >= 0) {
            *index = (uint64_t)ix;
            sl_error_clear(err);
            rc = SL_OK;
            break;
        }
    }
    json_decref(rep);
    return rc;
}

enum sl_err sl_client_export(struct sl_client *cl, const struct sl_export_opts *o, json_t **result,
                             struct sl_error *err)
{
    struct sl_pull_opts po;
    json_t *pulled = NULL, *man = NULL, *entries = json_array(), *files;
    struct sl_note_key key;
    struct sl_checkpoint ck;
    char *stage = NULL, *tmp = NULL, *vkey = NULL, *note = NULL, *entry = NULL, *copy = NULL;
    char *license = NULL, *proof_text = NULL, *man_text = NULL;
    size_t note_len = 0, entry_len = 0, copy_len = 0, license_len = 0;
    unsigned char proof[SL_MERKLE_MAX_HASHES][32], leaf[32];
    size_t nproof = 0, i;
    uint64_t index = 0;
    const char *commit, *tier;
    bool gated, have_ck = false;
    int fd = -1;
    json_t *f;
    enum sl_err rc;

    memset(&ck, 0, sizeof(ck));
    stage = sl_xasprintf("%s.sluice-export", o->out);
    memset(&po, 0, sizeof(po));
    po.org = o->org;
    po.name = o->name;
    po.rev = o->rev;
    po.dest = stage;
    po.progress = o->progress;
    po.seeds = o->seeds;
    po.nseeds = o->nseeds;
    /* 1. the files, as this account may have them (verified by the pull) */
    rc = sl_client_pull(cl, &po, &pulled, err);
    if (rc)
        goto out;
    commit = json_string_value(json_object_get(pulled, "commit"));
    tier = json_string_value(json_object_get(pulled, "tier"));
    gated = tier && strcmp(tier, "gated") == 0;
    /* 2. the key, pinned or checked against the pin */
    rc = sl_client_server_key(cl, &key, NULL, err);
    if (!rc)
        rc = sl_client_log_key(cl, &vkey, err);
    /* 3. a checkpoint signed with it, the version's entry and its proof */
    if (!rc)
        rc = sl_client_log_checkpoint_get(cl, &note, &note_len, err);
    if (!rc)
        rc = sl_client_checkpoint_verify(note, note_len, &key, &ck, err);
    if (rc)
        goto out;
    have_ck = true;
    rc = find_entry(cl, o->org, o->name, commit, &index, err);
    if (!rc)
        rc = sl_client_log_entry_text(cl, index, &entry, &entry_len, err);
    if (!rc)
        rc = sl_client_log_inclusion(cl, index, ck.size, proof, &nproof, err);
    if (rc)
        goto out;
    sl_merkle_leaf(entry, entry_len, leaf);
    rc = sl_merkle_verify_inclusion(index, ck.size, leaf, (const unsigned char(*)[32])proof, nproof,
                                    ck.root, err);
    if (rc) {
        sl_error_prefix(err, "the log entry of %s", commit);
        goto out;
    }
    {
        json_t *p = json_pack("{s:I, s:I, s:[]}", "index", (json_int_t)index, "size",
                              (json_int_t)ck.size, "proof");
        for (i = 0; i < nproof; i++) {
            char b64[64];
            sl_base64(proof[i], 32, b64);
            json_array_append_new(json_object_get(p, "proof"), json_string(b64));
        }
        proof_text = sl_json_dump(p, 0, NULL);
        json_decref(p);
    }
    /* 4. a gated copy: the signed manifest of the copy and the license */
    if (gated) {
        struct sl_buf path = SL_BUF_INIT(4096);
        sl_buf_addf(&path, "/api/v1/models/%s/%s/versions/%s/manifest", o->org, o->name, commit);
        rc = sl__cl_http_text(cl, "GET", sl_buf_cstr(&path), NULL, NULL, 0, 1u << 20, NULL, &copy,
                              &copy_len, err);
        sl_buf_release(&path);
        if (!rc)
            rc = sl_client_license_get(cl, o->org, o->name, commit, &license, &license_len, err);
        if (rc)
            goto out;
    }
    /* 5. the manifest, then everything in its order */
    {
        char vk[600];
        snprintf(vk, sizeof(vk), "%s\n", vkey);
        add_entry(entries, E_KEY, vk, strlen(vk));
    }
    add_entry(entries, E_CKPT, note, note_len);
    add_entry(entries, E_ENTRY, entry, entry_len);
    add_entry(entries, E_PROOF, proof_text, strlen(proof_text));
    if (gated) {
        add_entry(entries, E_COPY, copy, copy_len);
        add_entry(entries, E_LICENSE, license, license_len);
    }
    files = json_object_get(pulled, "files");
    json_array_foreach(files, i, f)
    {
        char *n = sl_xasprintf(FILES_DIR "%s", json_string_value(json_object_get(f, "path")));
        json_array_append_new(entries, json_pack("{s:s, s:O, s:O}", "name", n, "size",
                                                 json_object_get(f, "size"), "sha256",
                                                 json_object_get(f, "sha256")));
        free(n);
    }
    man = json_pack("{s:s, s:s, s:O, s:s, s:O, s:s, s:I, s:O}", "format", FORMAT, "model",
                    json_string_value(json_object_get(pulled, "model")), "version",
                    json_object_get(pulled, "version"), "commit", commit, "tier",
                    json_object_get(pulled, "tier"), "server", cl->url, "log_index",
                    (json_int_t)index, "entries", entries);
    man_text = sl_json_dump(man, 0, NULL);
    tmp = sl_xasprintf("%s.tmp", o->out);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    rc = tar_mem(fd, MANIFEST, man_text, strlen(man_text), o->out, err);
    if (!rc) {
        char vk[600];
        snprintf(vk, sizeof(vk), "%s\n", vkey);
        rc = tar_mem(fd, E_KEY, vk, strlen(vk), o->out, err);
    }
    if (!rc)
        rc = tar_mem(fd, E_CKPT, note, note_len, o->out, err);
    if (!rc)
        rc = tar_mem(fd, E_ENTRY, entry, entry_len, o->out, err);
    if (!rc)
        rc = tar_mem(fd, E_PROOF, proof_text, strlen(proof_text), o->out, err);
    if (!rc && gated)
        rc = tar_mem(fd, E_COPY, copy, copy_len, o->out, err);
    if (!rc && gated)
        rc = tar_mem(fd, E_LICENSE, license, license_len, o->out, err);
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        char *n, *src;
        if (rc)
            break;
        n = sl_xasprintf(FILES_DIR "%s", p);
        src = sl_path_join(stage, p);
        rc = tar_file(fd, n, src, (uint64_t)json_integer_value(json_object_get(f, "size")), o->out,
                      err);
        free(n);
        free(src);
    }
    if (!rc) {
        static const unsigned char zero[2 * BLOCK];
        rc = put(fd, zero, sizeof(zero), o->out, err);
    }
    if (!rc && fsync(fd) != 0)
        rc = sl_error_set(err, SL_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
    close(fd);
    fd = -1;
    if (!rc && rename(tmp, o->out) != 0)
        rc = sl_error_set(err, SL_EIO, "%s: cannot rename into place: %s", o->out, strerror(errno));
    if (!rc) {
        *result = json_pack(
            "{s:O, s:O, s:s, s:O, s:I, s:I, s:i}", "model", json_object_get(pulled, "model"),
            "version", json_object_get(pulled, "version"), "commit", commit, "tier",
            json_object_get(pulled, "tier"), "log_index", (json_int_t)index, "checkpoint_size",
            (json_int_t)ck.size, "files", (int)json_array_size(files));
        json_object_set_new(*result, "out", json_string(o->out));
        json_object_set(*result, "bytes_downloaded", json_object_get(pulled, "bytes_downloaded"));
        json_object_set(*result, "bytes_reused", json_object_get(pulled, "bytes_reused"));
    }
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        if (rc)
            (void)unlink(tmp);
        free(tmp);
    }
    /* the staging copy was only a source for the tar (kept on failure, so
     * a second export resumes the pull) */
    if (!rc)
        (void)nftw(stage, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (have_ck)
        sl_checkpoint_free(&ck);
    json_decref(man);
    json_decref(pulled);
    json_decref(entries);
    free(man_text);
    free(proof_text);
    free(license);
    free(copy);
    free(entry);
    free(note);
    free(vkey);
    free(stage);
    return rc;
}

/* ---- reading and verifying ---- */

struct tin {
    int fd;
    const char *file;
    unsigned n;      /* entries read */
    size_t last_got; /* bytes a short read_full got */
};

static enum sl_err read_full(struct tin *t, void *buf, size_t n, const char *what, bool *short_read,
                             struct sl_error *err)
{
    unsigned char *b = buf;
    size_t got = 0;

    *short_read = false;
    t->last_got = 0;
    while (got < n) {
        ssize_t r = read(t->fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sl_error_set(err, SL_EIO, "%s: read failed: %s", t->file, strerror(errno));
        if (r == 0) {
            *short_read = true;
            t->last_got = got;
            return sl_error_setk(err, SL_EINPUT, "Truncated", "%s: truncated in %s", t->file, what);
        }
        got += (size_t)r;
    }
    return SL_OK;
}

static bool parse_octal(const unsigned char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    while (i < n && p[i] == ' ')
        i++;
    if (i == n || p[i] < '0' || p[i] > '7')
        return false;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60)
            return false;
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\0')
            return false;
    *out = v;
    return true;
}

static bool header_ok(const unsigned char *h)
{
    uint64_t want;
    unsigned sum = 0;

    if (!parse_octal(h + 148, 8, &want))
        return false;
    for (unsigned i = 0; i < BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == want && memcmp(h + 257, "ustar", 5) == 0;
}

static bool all_zero(const unsigned char *h)
{
    for (unsigned i = 0; i < BLOCK; i++)
        if (h[i])
            return false;
    return true;
}

/* The next entry: its name (a pax path wins) and size; `*eof` at the end
 * marker or at the end of the file between entries. */
static enum sl_err next_entry(struct tin *t, char *name, size_t cap, uint64_t *size, bool *eof,
                              struct sl_error *err)
{
    unsigned char h[BLOCK];
    char pax_path[SL_PATH_MAX_LEN + 64] = "";
    uint64_t pax_size = 0;
    bool has_pax_size = false, short_read;
    enum sl_err rc;

    *eof = false;
    for (int round = 0; round < 2; round++) {
        rc = read_full(t, h, BLOCK, "a header", &short_read, err);
        if (rc && short_read && round == 0 && t->last_got == 0) {
            /* no end marker: the end of the file between entries */
            *eof = true;
            return SL_OK;
        }
        if (rc)
            return rc;
        if (round == 0 && all_zero(h)) {
            *eof = true;
            return SL_OK;
        }
        if (!header_ok(h))
            return sl_error_setk(err, SL_EINPUT, "BadHeader",
                                 "%s: entry %u: not a valid tar header (checksum or magic)",
                                 t->file, t->n + 1);
        if (!parse_octal(h + 124, 12, size))
            return sl_error_setk(err, SL_EINPUT, "BadHeader", "%s: entry %u: malformed size",
                                 t->file, t->n + 1);
        if (h[156] == 'x' && round == 0) {
            char *body, *p, *end;
            if (*size > 65536)
                return sl_error_setk(err, SL_EINPUT, "BadHeader",
                                     "%s: entry %u: extended header over 64 KiB", t->file,
                                     t->n + 1);
            body = sl_xmalloc((size_t)*size + BLOCK + 1);
            rc = read_full(t, body, (size_t)((*size + BLOCK - 1) / BLOCK * BLOCK), "a header",
                           &short_read, err);
            if (rc) {
                free(body);
                return rc;
            }
            body[*size] = '\0';
            p = body;
            end = body + *size;
            while (p < end) {
                char *sp = memchr(p, ' ', (size_t)(end - p)), *nl;
                unsigned long len = strtoul(p, NULL, 10);
                if (!sp || len == 0 || len > (unsigned long)(end - p) || p[len - 1] != '\n') {
                    free(body);
                    return sl_error_setk(err, SL_EINPUT, "BadHeader",
                                         "%s: entry %u: malformed extended header", t->file,
                                         t->n + 1);
                }
                nl = p + len - 1;
                *nl = '\0';
                if (strncmp(sp + 1, "path=", 5) == 0)
                    snprintf(pax_path, sizeof(pax_path), "%s", sp + 6);
                else if (strncmp(sp + 1, "size=", 5) == 0) {
                    char *e;
                    errno = 0;
                    pax_size = strtoull(sp + 6, &e, 10);
                    has_pax_size = !errno && *e == '\0' && sp[6] >= '0' && sp[6] <= '9';
                }
                p += len;
            }
            free(body);
            continue;
        }
        break;
    }
    if (h[156] != '0' && h[156] != '\0')
        return sl_error_setk(err, SL_EINPUT, "NotAFile",
                             "%s: entry %u: type '%c' is not a regular file (links, folders and "
                             "devices are refused)",
                             t->file, t->n + 1, h[156] >= 0x20 && h[156] < 0x7f ? h[156] : '?');
    if (pax_path[0]) {
        snprintf(name, cap, "%s", pax_path);
    } else {
        char nm[101], pre[156];
        memcpy(nm, h, 100);
        nm[100] = '\0';
        memcpy(pre, h + 345, 155);
        pre[155] = '\0';
        if (pre[0])
            snprintf(name, cap, "%s/%s", pre, nm);
        else
            snprintf(name, cap, "%s", nm);
    }
    if (has_pax_size)
        *size = pax_size;
    t->n++;
    return SL_OK;
}

struct want {
    char *name; /* entry name */
    uint64_t size;
    char sha[65];
};

struct expect {
    char *path;
    uint64_t size;
    char sha[65];
    bool seen;
};

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static bool name_ok(const char *n)
{
    if (strcmp(n, MANIFEST) == 0 || strcmp(n, E_KEY) == 0 || strcmp(n, E_CKPT) == 0 ||
        strcmp(n, E_ENTRY) == 0 || strcmp(n, E_PROOF) == 0 || strcmp(n, E_COPY) == 0 ||
        strcmp(n, E_LICENSE) == 0)
        return true;
    return strncmp(n, FILES_DIR, strlen(FILES_DIR)) == 0 && sl__cl_path_ok(n + strlen(FILES_DIR));
}

/* Everything read from the metadata entries, then checked as a chain. */
struct vb {
    const struct sl_bundle_opts *o;
    const char *file;
    json_t *man;
    const char *model, *commit, *tier, *server;
    struct want *w;
    size_t nw;
    char *meta[7]; /* bodies of E_KEY .. E_LICENSE, by slot */
    size_t meta_len[7];
    struct expect *ex;
    size_t nex;
    struct sl_checkpoint ck;
    bool have_ck;
    uint64_t index;
    /* import */
    char *stage;
    int stagefd;
};

static int meta_slot(const char *n)
{
    static const char *const names[] = {E_KEY, E_CKPT, E_ENTRY, E_PROOF, E_COPY, E_LICENSE};
    for (int i = 0; i < 6; i++)
        if (strcmp(n, names[i]) == 0)
            return i;
    return -1;
}

static enum sl_err read_manifest(struct vb *v, const char *text, size_t len, struct sl_error *err)
{
    json_error_t je;
    json_t *list, *e;
    size_t i;
    bool gated;

    v->man = json_loadb(text, len, 0, &je);
    if (!v->man)
        return sl_error_setk(err, SL_EINPUT, "BadManifest", "%s: " MANIFEST " is not JSON: %s",
                             v->file, je.text);
    v->model = json_string_value(json_object_get(v->man, "model"));
    v->commit = json_string_value(json_object_get(v->man, "commit"));
    v->tier = json_string_value(json_object_get(v->man, "tier"));
    v->server = json_string_value(json_object_get(v->man, "server"));
    list = json_object_get(v->man, "entries");
    if (!json_is_string(json_object_get(v->man, "format")) ||
        strcmp(json_string_value(json_object_get(v->man, "format")), FORMAT) != 0)
        return sl_error_setk(err, SL_EINPUT, "BadManifest",
                             "%s: not a sluice bundle of format " FORMAT, v->file);
    if (!v->model || !hex64(v->commit) || !v->tier || !v->server || !json_is_array(list) ||
        json_array_size(list) > MAX_ENTRIES)
        return sl_error_setk(err, SL_EINPUT, "BadManifest",
                             "%s: " MANIFEST " lacks model, commit, tier, server or entries",
                             v->file);
    /* The version number is a label (the log binds the commit, not the
     * number), but a bundle without a whole positive one is not ours. */
    if (!json_is_integer(json_object_get(v->man, "version")) ||
        json_integer_value(json_object_get(v->man, "version")) < 1)
        return sl_error_setk(err, SL_EINPUT, "BadManifest",
                             "%s: " MANIFEST ": \"version\" is not a positive whole number",
                             v->file);
    gated = strcmp(v->tier, "gated") == 0;
    v->nw = json_array_size(list);
    v->w = sl_xcalloc(v->nw ? v->nw : 1, sizeof(*v->w));
    json_array_foreach(list, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        json_t *sz = json_object_get(e, "size");
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        static const char *const order[] = {E_KEY, E_CKPT, E_ENTRY, E_PROOF, E_COPY, E_LICENSE};
        size_t nmeta = gated ? 6 : 4;
        if (!n || !name_ok(n))
            return sl_error_setk(err, SL_EINPUT, "UnsafeName",
                                 "%s: the manifest lists an entry named \"%s\", which could "
                                 "leave the destination or is not part of a bundle",
                                 v->file, n ? n : "(none)");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0 || !hex64(sha))
            return sl_error_setk(err, SL_EINPUT, "BadManifest",
                                 "%s: %s: bad size or sha256 in the manifest", v->file, n);
        if (i < nmeta ? strcmp(n, order[i]) != 0 : strncmp(n, FILES_DIR, strlen(FILES_DIR)) != 0)
            return sl_error_setk(err, SL_EINPUT, "OutOfOrder",
                                 "%s: %s: listed out of place (the manifest must list %s first, "
                                 "then the files)",
                                 v->file, n,
                                 gated ? "key, checkpoint, entry, proof, copy manifest, license"
                                       : "key, checkpoint, entry, proof");
        for (size_t k = 0; k < i; k++)
            if (strcmp(v->w[k].name, n) == 0)
                return sl_error_setk(err, SL_EINPUT, "Duplicate",
                                     "%s: %s: listed twice in the manifest", v->file, n);
        if (i >= nmeta || meta_slot(n) < 0) {
            /* files: any size */
        } else if (json_integer_value(sz) > META_MAX) {
            return sl_error_setk(err, SL_EINPUT, "BadManifest", "%s: %s: over %u MiB", v->file, n,
                                 META_MAX >> 20);
        }
        v->w[i].name = sl_xstrdup(n);
        v->w[i].size = (uint64_t)json_integer_value(sz);
        snprintf(v->w[i].sha, sizeof(v->w[i].sha), "%s", sha);
    }
    if (v->nw < (gated ? 6u : 4u))
        return sl_error_setk(err, SL_EINPUT, "BadManifest", "%s: the manifest lists no %s", v->file,
                             v->nw < 4 ? "proof of publication" : "license");
    return SL_OK;
}

/* The largest checkpoint this machine verified under `key` (at any URL):
 * each state file names its URL and is loaded (its note checked with the
 * key) through the log client; files of other servers fail that check and
 * are skipped. */
static void newest_state(const struct sl_note_key *key, struct sl_log_state *best, bool *found)
{
    char *dir = sl__cl_state_dir(), *logdir;
    DIR *d;
    struct dirent *e;

    *found = false;
    if (!dir)
        return;
    logdir = sl_xasprintf("%s/log", dir);
    free(dir);
    d = opendir(logdir);
    while (d && (e = readdir(d)) != NULL) {
        char *path, *text = NULL;
        size_t len = 0;
        json_t *j;
        const char *url;
        struct sl_log_state st;
        struct sl_error ignored;
        bool ok = false;
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        path = sl_xasprintf("%s/%s", logdir, e->d_name);
        if (sl_read_file(path, 1u << 20, &text, &len, &ignored) != SL_OK) {
            free(path);
            continue;
        }
        j = json_loadb(text, len, 0, NULL);
        url = json_string_value(json_object_get(j, "url"));
        memset(&st, 0, sizeof(st));
        if (url && sl_client_log_state_load(url, key, &st, &ok, &ignored) == SL_OK && ok &&
            (!*found || st.size > best->size)) {
            sl_client_log_state_release(best);
            *best = st;
            *found = true;
        } else if (ok) {
            sl_client_log_state_release(&st);
        }
        json_decref(j);
        free(text);
        free(path);
    }
    if (d)
        closedir(d);
    free(logdir);
}

static bool str_is(json_t *j, const char *want)
{
    const char *s = json_string_value(j);
    return s && strcmp(s, want) == 0;
}

/* The chain: trusted key, signed checkpoint, no rollback, the entry
 * included, the entry is this version's, and what each file must hash to. */
static enum sl_err check_chain(struct vb *v, struct sl_error *err)
{
    struct sl_note_key key;
    char *trusted = NULL, *bkey;
    json_t *pj = NULL, *ej = NULL, *files, *f;
    unsigned char leaf[32], proof[SL_MERKLE_MAX_HASHES][32];
    size_t np = 0, i;
    enum sl_err rc = SL_OK;
    struct sl_log_state st;
    bool found = false;

    memset(&st, 0, sizeof(st));
    bkey = sl_xstrndup(v->meta[0], v->meta_len[0]);
    while (bkey[0] && (bkey[strlen(bkey) - 1] == '\n' || bkey[strlen(bkey) - 1] == '\r'))
        bkey[strlen(bkey) - 1] = '\0';
    if (v->o->key) {
        trusted = sl_xstrdup(v->o->key);
    } else {
        rc = sl_client_pin_get(v->server, &trusted, err);
        if (rc)
            goto out;
        if (!trusted) {
            rc = sl_error_setk(err, SL_EUSAGE, "NoKey",
                               "%s: no key is pinned for %s on this machine: give the server's "
                               "key with --key (from `sluice log key` or its operator)",
                               v->file, v->server);
            goto out;
        }
    }
    while (trusted[0] &&
           (trusted[strlen(trusted) - 1] == '\n' || trusted[strlen(trusted) - 1] == ' '))
        trusted[strlen(trusted) - 1] = '\0';
    rc = sl_note_vkey_parse(trusted, strlen(trusted), &key, err);
    if (rc) {
        sl_error_prefix(err, "the trusted key");
        goto out;
    }
    if (strcmp(bkey, trusted) != 0) {
        rc = sl_error_setk(err, SL_EREFUSED, "WrongKey",
                           "%s: the bundle was signed under the key %s, not the trusted %s",
                           v->file, bkey, trusted);
        goto out;
    }
    rc = sl_client_checkpoint_verify(v->meta[1], v->meta_len[1], &key, &v->ck, err);
    if (rc) {
        sl_error_prefix(err, "%s: " E_CKPT, v->file);
        goto out;
    }
    v->have_ck = true;
    /* The manifest's server URL is not signed: look at every log this
     * machine verified under the trusted key, whatever URL it was seen at. */
    newest_state(&key, &st, &found);
    if (found && st.size > v->ck.size) {
        rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_ROLLBACK,
                           "%s: the bundle's checkpoint (tree size %llu) is older than the one "
                           "this machine verified for %s (size %llu): it could hide later "
                           "changes such as a revocation; export it again",
                           v->file, (unsigned long long)v->ck.size, v->server,
                           (unsigned long long)st.size);
        goto out;
    }
    if (found && st.size == v->ck.size && memcmp(st.root, v->ck.root, 32) != 0) {
        rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_FORK,
                           "%s: the bundle's checkpoint has the size of the one this machine "
                           "verified (%llu) but another root",
                           v->file, (unsigned long long)st.size);
        goto out;
    }
    pj = json_loadb(v->meta[3], v->meta_len[3], 0, NULL);
    {
        json_t *arr = json_object_get(pj, "proof"), *h;
        json_int_t ix = json_integer_value(json_object_get(pj, "index"));
        json_int_t sz = json_integer_value(json_object_get(pj, "size"));
        if (!json_is_array(arr) || json_array_size(arr) > SL_MERKLE_MAX_HASHES || ix < 0 ||
            (uint64_t)sz != v->ck.size) {
            rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_NOT_INCLUDED,
                               "%s: " E_PROOF " is not an inclusion proof for the bundle's "
                               "checkpoint (size %llu)",
                               v->file, (unsigned long long)v->ck.size);
            goto out;
        }
        v->index = (uint64_t)ix;
        json_array_foreach(arr, i, h)
        {
            const char *b = json_string_value(h);
            size_t got = 0;
            if (!b || !sl_unbase64(b, strlen(b), proof[np], 32, &got) || got != 32) {
                rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_NOT_INCLUDED,
                                   "%s: " E_PROOF ": hash %zu is not base64 of 32 bytes", v->file,
                                   i);
                goto out;
            }
            np++;
        }
    }
    sl_merkle_leaf(v->meta[2], v->meta_len[2], leaf);
    rc = sl_merkle_verify_inclusion(v->index, v->ck.size, leaf, (const unsigned char(*)[32])proof,
                                    np, v->ck.root, err);
    if (rc) {
        rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_NOT_INCLUDED,
                           "%s: the version's log entry is not in the signed log (%s)", v->file,
                           err->msg);
        goto out;
    }
    ej = json_loadb(v->meta[2], v->meta_len[2], 0, NULL);
    files = json_object_get(ej, "files");
    if (!ej || !str_is(json_object_get(ej, "type"), "version.published") ||
        !str_is(json_object_get(ej, "model"), v->model) ||
        !str_is(json_object_get(ej, "commit"), v->commit)) {
        rc = sl_error_setk(err, SL_EREFUSED, "WrongEntry",
                           "%s: the logged entry is not the publication of %s at %s", v->file,
                           v->model, v->commit);
        goto out;
    }
    if (!json_is_array(files)) {
        rc = sl_error_set(err, SL_EUNSUPPORTED,
                          "%s: the version has more files than its log entry lists (100); "
                          "bundles of it are not supported yet",
                          v->file);
        goto out;
    }
    v->nex = json_array_size(files);
    v->ex = sl_xcalloc(v->nex ? v->nex : 1, sizeof(*v->ex));
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        const char *h = json_string_value(json_object_get(f, "sha256"));
        v->ex[i].path = sl_xstrdup(p ? p : "");
        v->ex[i].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
        snprintf(v->ex[i].sha, sizeof(v->ex[i].sha), "%s", h ? h : "");
    }
    if (strcmp(v->tier, "gated") == 0) {
        /* the copy is fingerprinted: its digests are in the server's signed
         * manifest of the copy, whose paths and sizes must be the logged ones */
        struct sl_note note;
        struct sl_license_check lc;
        char head[512];
        const char *s, *end;
        size_t matched = 0;
        memset(&note, 0, sizeof(note));
        rc = sl_note_open(v->meta[4], v->meta_len[4], &key, 1, &note, err);
        if (rc) {
            sl_error_prefix(err, "%s: " E_COPY, v->file);
            goto out;
        }
        snprintf(head, sizeof(head), "sluice manifest v1\nmodel %s\ncommit %s\n", v->model,
                 v->commit);
        if (note.text_len < strlen(head) || memcmp(note.text, head, strlen(head)) != 0) {
            sl_note_free(&note);
            rc = sl_error_setk(err, SL_EREFUSED, "WrongEntry",
                               "%s: " E_COPY " is for another model or commit", v->file);
            goto out;
        }
        s = note.text + strlen(head);
        end = note.text + note.text_len;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            char line[1200], hex[65], fp[1100];
            unsigned long long size;
            if (!nl)
                break;
            if ((size_t)(nl - s) < sizeof(line)) {
                memcpy(line, s, (size_t)(nl - s));
                line[nl - s] = '\0';
                if (sscanf(line, "file %64s %llu %1099[^\n]", hex, &size, fp) == 3) {
                    for (size_t k = 0; k < v->nex; k++) {
                        if (strcmp(v->ex[k].path, fp) != 0 || v->ex[k].size != size)
                            continue;
                        snprintf(v->ex[k].sha, sizeof(v->ex[k].sha), "%s", hex);
                        matched++;
                    }
                }
            }
            s = nl + 1;
        }
        sl_note_free(&note);
        if (matched != v->nex) {
            rc = sl_error_setk(err, SL_EREFUSED, "WrongEntry",
                               "%s: " E_COPY " covers %zu of the version's %zu files", v->file,
                               matched, v->nex);
            goto out;
        }
        rc = sl_client_license_verify(v->meta[5], v->meta_len[5], &key, 0, NULL, 0, &lc, err);
        if (!rc && (strcmp(lc.lic.model, v->model) != 0 || strcmp(lc.lic.commit, v->commit) != 0))
            rc = sl_error_setk(err, SL_EREFUSED, "WrongEntry",
                               "%s: the license is for %s at %s, not this version", v->file,
                               lc.lic.model, lc.lic.commit);
        if (rc) {
            sl_error_prefix(err, "%s: " E_LICENSE, v->file);
            goto out;
        }
    }
    /* every logged file is in the bundle, and nothing else */
    for (i = 4; i < v->nw; i++) {
        const char *p = v->w[i].name + strlen(FILES_DIR);
        bool hit = false;
        if (meta_slot(v->w[i].name) >= 0)
            continue;
        for (size_t k = 0; k < v->nex && !hit; k++) {
            if (strcmp(v->ex[k].path, p) == 0) {
                hit = true;
                v->ex[k].seen = true;
                if (v->ex[k].size != v->w[i].size) {
                    rc = sl_error_setk(err, SL_EINPUT, "SizeMismatch",
                                       "%s: %s: the manifest says %llu bytes, the log says %llu",
                                       v->file, v->w[i].name, (unsigned long long)v->w[i].size,
                                       (unsigned long long)v->ex[k].size);
                    goto out;
                }
            }
        }
        if (!hit) {
            rc = sl_error_setk(err, SL_EREFUSED, "WrongFile", "%s: %s is not a file of the version",
                               v->file, v->w[i].name);
            goto out;
        }
    }
    for (size_t k = 0; k < v->nex; k++)
        if (!v->ex[k].seen) {
            rc = sl_error_setk(err, SL_EREFUSED, "WrongFile",
                               "%s: the version's file %s is missing from the bundle", v->file,
                               v->ex[k].path);
            goto out;
        }
out:
    sl_client_log_state_release(&st);
    json_decref(pj);
    json_decref(ej);
    free(trusted);
    free(bkey);
    return rc;
}

static const struct expect *expected(const struct vb *v, const char *entry)
{
    const char *p = entry + strlen(FILES_DIR);

    for (size_t k = 0; k < v->nex; k++)
        if (strcmp(v->ex[k].path, p) == 0)
            return &v->ex[k];
    return NULL;
}

/* Reads one entry's body of `size` bytes (and its padding): hashed, kept
 * in memory (`mem`), or written under the import folder (`rel`). */
static enum sl_err read_body(struct vb *v, struct tin *t, const char *name, uint64_t size,
                             char **mem, const char *rel, unsigned char sha[32],
                             struct sl_error *err)
{
    struct sl_sha256_ctx *ctx = sl_sha256_new();
    unsigned char *buf = sl_xmalloc(COPY_BUF);
    uint64_t done = 0, padded = (size + BLOCK - 1) / BLOCK * BLOCK;
    int out = -1, dirfd = -1;
    const char *base;
    bool short_read;
    enum sl_err rc = SL_OK;

    if (mem)
        *mem = sl_xmalloc((size_t)size + 1);
    if (rel) {
        rc = sl__cl_open_parent(v->stagefd, rel, &base, &dirfd, err);
        if (!rc) {
            out = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (out < 0)
                rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", rel, strerror(errno));
        }
    }
    while (!rc && done < padded) {
        size_t n = padded - done < COPY_BUF ? (size_t)(padded - done) : COPY_BUF;
        size_t data = done >= size ? 0 : (size - done < n ? (size_t)(size - done) : n);
        rc = read_full(t, buf, n, name, &short_read, err);
        if (rc)
            break;
        sl_sha256_update(ctx, buf, data);
        if (mem)
            memcpy(*mem + done, buf, data);
        if (out >= 0 && data)
            rc = put(out, buf, data, rel, err);
        done += n;
    }
    sl_sha256_final(ctx, sha);
    if (mem && !rc)
        (*mem)[size] = '\0';
    if (out >= 0) {
        if (!rc && fsync(out) != 0)
            rc = sl_error_set(err, SL_EIO, "%s: fsync failed: %s", rel, strerror(errno));
        close(out);
    }
    if (dirfd >= 0)
        close(dirfd);
    free(buf);
    return rc;
}

static int rm_stage(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return rm_one(path, st, flag, ftw);
}

/* Moves every imported file from the staging folder into `dest`. */
static enum sl_err move_in(struct vb *v, int destfd, struct sl_error *err)
{
    for (size_t i = 4; i < v->nw; i++) {
        const char *rel = meta_slot(v->w[i].name) >= 0 ? NULL : v->w[i].name + strlen(FILES_DIR);
        const char *base, *sbase;
        int dfd = -1, sfd = -1;
        enum sl_err rc;
        if (!rel)
            continue;
        rc = sl__cl_open_parent(destfd, rel, &base, &dfd, err);
        if (!rc)
            rc = sl__cl_open_parent(v->stagefd, rel, &sbase, &sfd, err);
        if (!rc && renameat(sfd, sbase, dfd, base) != 0)
            rc = sl_error_set(err, SL_EIO, "%s: cannot move into place: %s", rel, strerror(errno));
        if (!rc && fsync(dfd) != 0)
            rc = sl_error_set(err, SL_EIO, "%s: fsync of the folder failed: %s", rel,
                              strerror(errno));
        if (dfd >= 0)
            close(dfd);
        if (sfd >= 0)
            close(sfd);
        if (rc)
            return rc;
    }
    return SL_OK;
}

enum sl_err sl_bundle_verify(const struct sl_bundle_opts *o, json_t **result, struct sl_error *err)
{
    struct vb v;
    struct tin t;
    char name[SL_PATH_MAX_LEN + 64];
    uint64_t size;
    unsigned char sha[32];
    char hex[65];
    bool eof;
    int destfd = -1;
    enum sl_err rc;

    memset(&v, 0, sizeof(v));
    v.o = o;
    v.file = o->file;
    v.stagefd = -1;
    memset(&t, 0, sizeof(t));
    t.file = o->file;
    t.fd = open(o->file, O_RDONLY | O_CLOEXEC);
    if (t.fd < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", o->file, strerror(errno));
    if (o->dest) {
        unsigned char rnd[6];
        char r[13];
        rc = sl__cl_mkdirs(o->dest, 0755, err);
        if (rc)
            goto out;
        destfd = open(o->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (destfd < 0) {
            rc = sl_error_set(err, SL_EIO, "%s: cannot open: %s", o->dest, strerror(errno));
            goto out;
        }
        sl_random(rnd, sizeof(rnd));
        sl_hex(rnd, sizeof(rnd), r);
        v.stage = sl_xasprintf("%s/.sluice-import-%s", o->dest, r);
        if (mkdir(v.stage, 0700) != 0 ||
            (v.stagefd = open(v.stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", v.stage, strerror(errno));
            goto out;
        }
    }
    /* the manifest comes first */
    rc = next_entry(&t, name, sizeof(name), &size, &eof, err);
    if (rc)
        goto out;
    if (eof || strcmp(name, MANIFEST) != 0) {
        rc = sl_error_setk(err, SL_EINPUT, "OutOfOrder",
                           "%s: the first entry must be " MANIFEST ", found %s", o->file,
                           eof ? "nothing" : name);
        goto out;
    }
    if (size > META_MAX) {
        rc = sl_error_set(err, SL_EINPUT, "%s: " MANIFEST " is over %u MiB", o->file,
                          META_MAX >> 20);
        goto out;
    }
    {
        char *text = NULL;
        rc = read_body(&v, &t, MANIFEST, size, &text, NULL, sha, err);
        if (!rc)
            rc = read_manifest(&v, text, (size_t)size, err);
        free(text);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < v.nw; i++) {
        const struct want *w = &v.w[i];
        int slot = meta_slot(w->name);
        rc = next_entry(&t, name, sizeof(name), &size, &eof, err);
        if (rc)
            goto out;
        if (eof) {
            rc = sl_error_setk(err, SL_EINPUT, "Truncated",
                               "%s: truncated: %s and %zu more entries of the manifest are "
                               "missing",
                               o->file, w->name, v.nw - i - 1);
            goto out;
        }
        if (!name_ok(name)) {
            rc = sl_error_setk(err, SL_EINPUT, "UnsafeName",
                               "%s: entry %u is named \"%.200s\", which could leave the "
                               "destination; refused",
                               o->file, t.n, name);
            goto out;
        }
        if (strcmp(name, w->name) != 0) {
            bool earlier = strcmp(name, MANIFEST) == 0, later = false;
            for (size_t k = 0; k < i; k++)
                earlier = earlier || strcmp(v.w[k].name, name) == 0;
            for (size_t k = i + 1; k < v.nw; k++)
                later = later || strcmp(v.w[k].name, name) == 0;
            rc = sl_error_setk(err, SL_EINPUT, earlier ? "Duplicate" : "OutOfOrder",
                               "%s: entry %u is %s, %s (expected %s)", o->file, t.n, name,
                               earlier ? "a second copy of an earlier entry"
                               : later ? "out of the manifest's order"
                                       : "not in the manifest",
                               w->name);
            goto out;
        }
        if (size != w->size) {
            rc = sl_error_setk(err, SL_EINPUT, "SizeMismatch",
                               "%s: %s holds %llu bytes, the manifest says %llu", o->file, name,
                               (unsigned long long)size, (unsigned long long)w->size);
            goto out;
        }
        if (slot >= 0) {
            rc = read_body(&v, &t, name, size, &v.meta[slot], NULL, sha, err);
            v.meta_len[slot] = (size_t)size;
        } else {
            const struct expect *ex;
            /* the first file: the metadata is read, check the chain first */
            if (!v.ex) {
                rc = check_chain(&v, err);
                if (rc)
                    goto out;
            }
            ex = expected(&v, name);
            rc = read_body(&v, &t, name, size, NULL, o->dest ? name + strlen(FILES_DIR) : NULL, sha,
                           err);
            if (!rc) {
                sl_hex(sha, 32, hex);
                if (!ex || strcmp(hex, ex->sha) != 0)
                    rc = sl_error_setk(err, SL_EREFUSED, "WrongFile",
                                       "%s: %s hashes to %s, not the %s %s", o->file, name, hex,
                                       strcmp(v.tier, "gated") == 0 ? "signed copy's" : "logged",
                                       ex ? ex->sha : "(none)");
            }
            if (rc)
                goto out;
            continue;
        }
        if (rc)
            goto out;
        sl_hex(sha, 32, hex);
        if (strcmp(hex, w->sha) != 0) {
            rc = sl_error_setk(err, SL_EREFUSED, "Changed",
                               "%s: %s hashes to %s, the manifest says %s", o->file, name, hex,
                               w->sha);
            goto out;
        }
    }
    if (!v.ex) {
        rc = check_chain(&v, err);
        if (rc)
            goto out;
    }
    rc = next_entry(&t, name, sizeof(name), &size, &eof, err);
    if (rc)
        goto out;
    if (!eof) {
        rc = sl_error_setk(err, SL_EINPUT, "Extra", "%s: entry %u (%.200s) is not in the manifest",
                           o->file, t.n, name);
        goto out;
    }
    if (o->dest) {
        rc = move_in(&v, destfd, err);
        if (!rc && strcmp(v.tier, "gated") == 0) {
            char *lic = sl_path_join(o->dest, E_LICENSE);
            rc = sl__cl_write_atomic(lic, v.meta[5], v.meta_len[5], 0644, true, err);
            free(lic);
        }
        if (rc)
            goto out;
    }
    {
        json_t *fl = json_array();
        for (size_t k = 0; k < v.nex; k++)
            json_array_append_new(fl, json_pack("{s:s, s:I, s:s}", "path", v.ex[k].path, "size",
                                                (json_int_t)v.ex[k].size, "sha256", v.ex[k].sha));
        *result = json_pack("{s:s, s:O, s:s, s:s, s:s, s:I, s:I, s:o, s:b}", "model", v.model,
                            "version", json_object_get(v.man, "version"), "commit", v.commit,
                            "tier", v.tier, "server", v.server, "log_index", (json_int_t)v.index,
                            "checkpoint_size", (json_int_t)v.ck.size, "files", fl, "verified", 1);
        if (!*result) {
            rc = sl_error_set(err, SL_EINPUT, "%s: the verified bundle cannot be reported", v.file);
            goto out;
        }
        if (o->dest)
            json_object_set_new(*result, "dest", json_string(o->dest));
    }
out:
    if (v.stage) {
        if (v.stagefd >= 0)
            close(v.stagefd);
        (void)nftw(v.stage, rm_stage, 16, FTW_DEPTH | FTW_PHYS);
        free(v.stage);
    }
    if (destfd >= 0)
        close(destfd);
    close(t.fd);
    for (size_t i = 0; i < v.nw; i++)
        free(v.w[i].name);
    free(v.w);
    for (size_t i = 0; i < v.nex; i++)
        free(v.ex[i].path);
    free(v.ex);
    for (int i = 0; i < 7; i++)
        free(v.meta[i]);
    if (v.have_ck)
        sl_checkpoint_free(&v.ck);
    json_decref(v.man);
    return rc;
}
