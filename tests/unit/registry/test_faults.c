/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage faults at every call site, in turn (SQLite's I/O-error tests, on
 * the vfs seam of src/common/vfs.h). For each operation (a chunk upload, a
 * commit, a garbage collection) a clean run counts the calls it makes to each
 * storage operation; then, on a fresh data folder each time, call k of that
 * operation fails (ENOSPC, EIO, a torn write, a failed fsync, a failed
 * rename, ...) for k = 1..N. Each time: the operation fails with a message
 * that says what failed, or, for the faults a careful writer absorbs (a short
 * write, a failed unlink of a file already dropped from the index), succeeds;
 * nothing half-done is visible; fsck is clean; and once the fault clears the
 * same operation succeeds and fsck is still clean.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "registry/registry.h"
#include "../helpers.h"

/* ---- the faulty operations table ---- */

enum op {
    OP_OPEN,
    OP_PWRITE,
    OP_PREAD,
    OP_FSYNC,
    OP_FTRUNCATE,
    OP_RENAME,
    OP_UNLINK,
    OP_MKDIR,
    OP_CLOSE,
    OP_N
};

static const char *const op_names[OP_N] = {"open",   "pwrite", "pread", "fsync", "ftruncate",
                                           "rename", "unlink", "mkdir", "close"};

enum mode {
    M_ERRNO, /* the call fails with `fault.err` and does nothing */
    M_SHORT, /* pwrite writes less than asked and reports it (no error) */
    M_TORN,  /* pwrite writes part, reports it, and the next pwrite fails ENOSPC */
};

static struct {
    int calls[OP_N];
    int op;  /* the operation to fail, or -1 */
    int at;  /* fail its call number `at` (1-based) */
    int err; /* errno to give */
    enum mode mode;
    bool torn_next; /* M_TORN: the next pwrite fails */
    bool fired;
} fault;

static void fault_clear(void)
{
    memset(fault.calls, 0, sizeof(fault.calls));
    fault.op = -1;
    fault.at = 0;
    fault.torn_next = false;
    fault.fired = false;
}

/* True when this call is the one to fail. */
static bool hit(enum op o)
{
    int n = ++fault.calls[o];

    if ((int)o != fault.op || n != fault.at)
        return false;
    fault.fired = true;
    return true;
}

static int f_open(const char *path, int flags, mode_t mode)
{
    if (hit(OP_OPEN)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.open(path, flags, mode);
}

static ssize_t f_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fault.torn_next) {
        fault.torn_next = false;
        ++fault.calls[OP_PWRITE];
        errno = ENOSPC;
        return -1;
    }
    if (hit(OP_PWRITE)) {
        if (fault.mode == M_ERRNO) {
            errno = fault.err;
            return -1;
        }
        if (n > 1) {
            /* really write a prefix: the file holds torn bytes */
            ssize_t w = sl_vfs_posix.pwrite(fd, buf, n / 2, off);
            if (fault.mode == M_TORN)
                fault.torn_next = true;
            return w;
        }
    }
    return sl_vfs_posix.pwrite(fd, buf, n, off);
}

static ssize_t f_pread(int fd, void *buf, size_t n, off_t off)
{
    if (hit(OP_PREAD)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.pread(fd, buf, n, off);
}

static int f_fsync(int fd)
{
    if (hit(OP_FSYNC)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.fsync(fd);
}

static int f_ftruncate(int fd, off_t len)
{
    if (hit(OP_FTRUNCATE)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.ftruncate(fd, len);
}

static int f_rename(const char *a, const char *b)
{
    if (hit(OP_RENAME)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.rename(a, b);
}

static int f_unlink(const char *path)
{
    if (hit(OP_UNLINK)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.unlink(path);
}

static int f_mkdir(const char *path, mode_t mode)
{
    if (hit(OP_MKDIR)) {
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.mkdir(path, mode);
}

static int f_close(int fd)
{
    if (hit(OP_CLOSE)) {
        /* POSIX leaves the descriptor state unspecified; Linux closes it */
        sl_vfs_posix.close(fd);
        errno = fault.err;
        return -1;
    }
    return sl_vfs_posix.close(fd);
}

static const struct sl_vfs faulty = {
    f_open, f_pwrite, f_pread, f_fsync, f_ftruncate, f_rename, f_unlink, f_mkdir, f_close,
};

/* One kind of fault: which operation, how, and what the message must say. */
struct kind {
    enum op op;
    enum mode mode;
    int err;
    const char *says; /* a substring of the error message when the operation fails */
    bool absorbable;  /* the operation may succeed despite the fault */
};

static const struct kind kinds[] = {
    {OP_OPEN, M_ERRNO, ENOSPC, "no space", false},
    {OP_OPEN, M_ERRNO, EIO, "", false},
    {OP_PWRITE, M_ERRNO, ENOSPC, "no space", false},
    {OP_PWRITE, M_ERRNO, EIO, "write failed", false},
    {OP_PWRITE, M_SHORT, 0, "", true},
    {OP_PWRITE, M_TORN, 0, "no space", false},
    {OP_FSYNC, M_ERRNO, EIO, "fsync failed", false},
    {OP_FSYNC, M_ERRNO, ENOSPC, "no space", false},
    {OP_RENAME, M_ERRNO, EIO, "rename failed", false},
    {OP_RENAME, M_ERRNO, ENOSPC, "rename failed", false},
    {OP_MKDIR, M_ERRNO, ENOSPC, "no space", false},
    {OP_MKDIR, M_ERRNO, EIO, "cannot create folder", false},
    /* a pack that cannot be removed after its row is gone is a stray file
     * the next gc sweeps: gc may report success */
    {OP_UNLINK, M_ERRNO, EIO, "", true},
    /* close after fsync loses nothing: the writers may ignore it */
    {OP_CLOSE, M_ERRNO, EIO, "", true},
};

/* ---- the data folder ---- */

struct fixture {
    char *dir;
    struct sl_registry *r;
    struct sl_principal pub;
    int64_t org;
    /* what the operations under test use */
    struct sl_buf upload; /* frames of `data` */
    unsigned char *data;  /* the committed file's bytes */
    size_t data_len;
    json_t *commit_body; /* commits `data` as w.safetensors, plus config.json */
    unsigned char first[32];
};

#define DATA_LEN (1u << 20) /* 1 MiB of weights */
#define CHUNK    65536
#define DEAD_LEN (640u << 10)

static void frames(const unsigned char *data, size_t n, size_t chunk, struct sl_buf *out,
                   json_t *ids)
{
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        unsigned char h[32],
            l[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16), 0};
        char hex[65];
        sl_sha256(data + off, len, h);
        sl_hex(h, 32, hex);
        sl_buf_add(out, h, 32);
        sl_buf_add(out, l, 4);
        sl_buf_add(out, data + off, len);
        if (ids)
            json_array_append_new(ids, json_string(hex));
    }
}

static json_t *file_entry(const char *path, const unsigned char *d, size_t n, json_t *chunks)
{
    unsigned char h[32];
    char hex[65];

    sl_sha256(d, n, h);
    sl_hex(h, 32, hex);
    return json_pack("{s:s, s:I, s:s, s:o}", "path", path, "size", (json_int_t)n, "sha256", hex,
                     "chunks", chunks);
}

/* A safetensors file of DATA_LEN bytes: one F32 tensor, random values. */
static unsigned char *weights(size_t *len)
{
    static const char hdr[] = "{\"model.w\":{\"dtype\":\"F32\",\"shape\":[256,1020],"
                              "\"data_offsets\":[0,1044480]}}";
    size_t hl = sizeof(hdr) - 1, pad = (8 - hl % 8) % 8, body = 1044480;
    size_t n = 8 + hl + pad + body;
    unsigned char *b = malloc(n);

    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)(hl + pad) >> (8 * i));
    memcpy(b + 8, hdr, hl);
    memset(b + 8 + hl, ' ', pad);
    sl_random(b + 8 + hl + pad, body);
    *len = n;
    return b;
}

static void setup(struct fixture *f)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1];
    json_t *ids = json_array();
    static const char cfg[] = "{\"model_type\":\"llama\",\"hidden_size\":256}";
    struct sl_buf cb = SL_BUF_INIT(1 << 16);
    json_t *cids = json_array();

    memset(f, 0, sizeof(*f));
    sl_vfs_set(NULL);
    memset(&o, 0, sizeof(o));
    o.create = true;
    f->dir = th_tmpdir();
    cr_assert_eq(sl_registry_open(f->dir, &o, &f->r, NULL, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_user_add(f->r, "alice", "a@example.org", "lab", "KE", false, tok, &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_add(f->r, "acme", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_member_add(f->r, "acme", "alice", "publisher", &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f->r, tok, &f->pub, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_id(f->r, "acme", &f->org, &err), SL_OK);
    f->data = weights(&f->data_len);
    sl_buf_init(&f->upload, 1 << 22);
    frames(f->data, f->data_len, CHUNK, &f->upload, ids);
    /* config.json travels in the same upload */
    frames((const unsigned char *)cfg, sizeof(cfg) - 1, CHUNK, &cb, cids);
    sl_buf_add(&f->upload, cb.data, cb.len);
    sl_buf_release(&cb);
    memcpy(f->first, f->upload.data, 32);
    f->commit_body = json_pack(
        "{s:[o, o], s:{s:I, s:{s:f}}, s:n, s:n}", "files",
        file_entry("w.safetensors", f->data, f->data_len, ids),
        file_entry("config.json", (const unsigned char *)cfg, sizeof(cfg) - 1, cids), "facts",
        "params", (json_int_t)261120, "training", "tokens", 1e9, "tier", "license");
}

static void teardown(struct fixture *f)
{
    sl_vfs_set(NULL);
    sl_registry_close(f->r);
    th_rmtree(f->dir);
    sl_buf_release(&f->upload);
    json_decref(f->commit_body);
    free(f->data);
}

static enum sl_err ingest(struct fixture *f, const struct sl_buf *b, struct sl_error *err)
{
    struct sl_ingest *in;
    json_t *res = NULL;
    enum sl_err rc = sl_ingest_begin(f->r, f->org, b->len, NULL, 0, &in, err);

    if (rc)
        return rc;
    /* the body arrives in pieces, as from a socket */
    for (size_t off = 0; off < b->len; off += 100000) {
        size_t take = b->len - off < 100000 ? b->len - off : 100000;
        rc = sl_ingest_feed(in, b->data + off, take, err);
        if (rc) {
            sl_ingest_abort(in);
            return rc;
        }
    }
    rc = sl_ingest_finish(in, &res, err);
    json_decref(res);
    return rc;
}

static enum sl_err commit(struct fixture *f, bool *created, struct sl_error *err)
{
    json_t *res = NULL;
    enum sl_err rc = sl_reg_commit(f->r, &f->pub, "acme", "m", f->commit_body, &res, created, err);

    json_decref(res);
    return rc;
}

/* A dead pack (an upload nobody committed) and a half-dead one, so gc
 * retires, compacts and deletes. */
static void gc_state(struct fixture *f)
{
    struct sl_error err;
    struct sl_buf dead = SL_BUF_INIT(1 << 21);
    unsigned char *d = malloc(DEAD_LEN);
    bool created;

    sl_random(d, DEAD_LEN);
    frames(d, DEAD_LEN, CHUNK, &dead, NULL);
    cr_assert_eq(ingest(f, &dead, &err), SL_OK, "%s", err.msg);
    /* the committed bytes and more dead ones share the next pack */
    sl_random(d, DEAD_LEN);
    frames(d, DEAD_LEN, CHUNK, &f->upload, NULL);
    cr_assert_eq(ingest(f, &f->upload, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(commit(f, &created, &err), SL_OK, "%s", err.msg);
    sl_buf_release(&dead);
    free(d);
}

static enum sl_err gc(struct fixture *f, json_t **rep, struct sl_error *err)
{
    /* a negative retire time: packs retired during this very run are deleted
     * by it too, whether or not the clock ticked over meanwhile */
    struct sl_gc_opts go = {0, 0.9, -60};

    return sl_reg_gc(f->r, &go, rep, err);
}

static void expect_fsck_clean(struct fixture *f, const char *where)
{
    struct sl_error err;
    json_t *rep = NULL;
    bool ok = false;

    cr_assert_eq(sl_reg_fsck(f->r, &rep, &ok, &err), SL_OK, "%s: fsck: %s", where, err.msg);
    if (!ok) {
        char *s = json_dumps(rep, JSON_COMPACT);
        cr_assert(ok, "%s: fsck found problems: %s", where, s);
        free(s);
    }
    json_decref(rep);
}

static bool chunk_visible(struct fixture *f)
{
    struct sl_error err;
    bool missing[1];

    cr_assert_eq(
        sl_reg_chunks_missing(f->r, f->org, (const unsigned char(*)[32])f->first, 1, missing, &err),
        SL_OK);
    return !missing[0];
}

/* The committed file reads back whole and right. */
static void expect_readable(struct fixture *f, const char *where)
{
    struct sl_error err;
    struct sl_version_ref v;
    struct sl_file_ref fr;
    struct sl_run *runs;
    size_t n;
    unsigned char *back = malloc(f->data_len);
    uint64_t at = 0;

    cr_assert_eq(sl_reg_resolve(f->r, "acme", "m", "main", &v, &err), SL_OK, "%s: %s", where,
                 err.msg);
    cr_assert_eq(sl_reg_file(f->r, v.version_id, "w.safetensors", &fr, &err), SL_OK);
    cr_assert_eq(sl_reg_runs(f->r, fr.blob_id, 0, fr.size, &runs, &n, &err), SL_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(sl_reg_read_run(f->r, &runs[i], 0, back + at, (size_t)runs[i].length, &err),
                     SL_OK, "%s: %s", where, err.msg);
        at += runs[i].length;
    }
    cr_assert(at == f->data_len && memcmp(back, f->data, f->data_len) == 0,
              "%s: the committed file reads back different bytes", where);
    free(runs);
    free(back);
}

/* No temporary pack or inspect folder left in packs/tmp. */
static void expect_tmp_empty(struct fixture *f, const char *where)
{
    char cmd[700];

    snprintf(cmd, sizeof(cmd), "test ! -d '%s/packs/tmp' || test -z \"$(ls -A '%s/packs/tmp')\"",
             f->dir, f->dir);
    cr_assert_eq(system(cmd), 0, "%s: something was left in packs/tmp", where);
}

/* ---- the three operations ---- */

enum target { T_INGEST, T_COMMIT, T_GC };
static const char *const target_names[] = {"upload", "commit", "gc"};

/* Brings a fresh folder to the state before the operation. */
static void prepare(struct fixture *f, enum target t)
{
    struct sl_error err;

    setup(f);
    if (t == T_COMMIT)
        cr_assert_eq(ingest(f, &f->upload, &err), SL_OK, "%s", err.msg);
    if (t == T_GC)
        gc_state(f);
}

static enum sl_err run_op(struct fixture *f, enum target t, struct sl_error *err)
{
    bool created = false;
    json_t *rep = NULL;
    enum sl_err rc;

    switch (t) {
    case T_INGEST:
        return ingest(f, &f->upload, err);
    case T_COMMIT:
        rc = commit(f, &created, err);
        if (rc == SL_OK)
            cr_assert(created, "the commit made no new version");
        return rc;
    default:
        rc = gc(f, &rep, err);
        json_decref(rep);
        return rc;
    }
}

/* What must hold after the operation, whether or not it failed. */
static void check_after(struct fixture *f, enum target t, bool succeeded, const char *where)
{
    struct sl_error err;
    struct sl_version_ref v;

    switch (t) {
    case T_INGEST:
        cr_assert_eq(chunk_visible(f), succeeded, "%s: chunks %s", where,
                     succeeded ? "missing after a successful upload" : "visible after a failure");
        if (!succeeded)
            expect_tmp_empty(f, where);
        break;
    case T_COMMIT:
        cr_assert_eq(sl_reg_resolve(f->r, "acme", "m", "main", &v, &err) == SL_OK, succeeded,
                     "%s: version %s", where, succeeded ? "missing" : "visible after a failure");
        if (!succeeded)
            expect_tmp_empty(f, where);
        break;
    default:
        expect_readable(f, where);
        break;
    }
    expect_fsck_clean(f, where);
}

static int clean_counts(enum target t, int counts[OP_N])
{
    struct fixture f;
    struct sl_error err;
    int total = 0;

    prepare(&f, t);
    fault_clear();
    sl_vfs_set(&faulty);
    cr_assert_eq(run_op(&f, t, &err), SL_OK, "clean %s: %s", target_names[t], err.msg);
    sl_vfs_set(NULL);
    memcpy(counts, fault.calls, sizeof(fault.calls));
    check_after(&f, t, true, "clean run");
    teardown(&f);
    for (int i = 0; i < OP_N; i++)
        total += counts[i];
    return total;
}

/* Fails, in turn, every call the operation makes to the operations of `ops`
 * (OP_N ends the list). Returns how many faults were injected. */
static int sweep(enum target t, const enum op *ops)
{
    int counts[OP_N], injected = 0, absorbed = 0;

    cr_assert_gt(clean_counts(t, counts), 0, "%s makes no storage calls", target_names[t]);
    for (const enum op *o = ops; *o != OP_N; o++) {
        for (size_t ki = 0; ki < sizeof(kinds) / sizeof(kinds[0]); ki++) {
            const struct kind *k = &kinds[ki];
            if (k->op != *o)
                continue;
            for (int at = 1; at <= counts[*o]; at++) {
                struct fixture f;
                struct sl_error err;
                enum sl_err rc;
                char where[200];

                snprintf(where, sizeof(where), "%s, %s call %d of %d, %s %s", target_names[t],
                         op_names[*o], at, counts[*o],
                         k->mode == M_SHORT  ? "short write"
                         : k->mode == M_TORN ? "torn write then ENOSPC"
                                             : "errno",
                         k->mode == M_ERRNO ? strerror(k->err) : "");
                prepare(&f, t);
                fault_clear();
                fault.op = (int)*o;
                fault.at = at;
                fault.err = k->err;
                fault.mode = k->mode;
                sl_error_clear(&err);
                sl_vfs_set(&faulty);
                rc = run_op(&f, t, &err);
                sl_vfs_set(NULL);
                cr_assert(fault.fired, "%s: the call was never made (the clean run made it)",
                          where);
                injected++;
                if (rc != SL_OK) {
                    cr_assert(err.msg[0] != '\0', "%s: failed without a message", where);
                    cr_assert(strcasestr(err.msg, k->says) != NULL,
                              "%s: the message does not say \"%s\": %s", where, k->says, err.msg);
                    cr_assert(rc == SL_ENOSPACE || rc == SL_EIO,
                              "%s: error %d (%s) is not a storage error: %s", where, rc,
                              sl_strerror(rc), err.msg);
                    if (k->err == ENOSPC && k->op != OP_RENAME)
                        cr_assert_eq(rc, SL_ENOSPACE, "%s: ENOSPC reported as %s: %s", where,
                                     sl_strerror(rc), err.msg);
                } else {
                    cr_assert(k->absorbable,
                              "%s: succeeded although the fault was not "
                              "absorbable",
                              where);
                    absorbed++;
                }
                check_after(&f, t, rc == SL_OK, where);
                /* the fault cleared: the same operation succeeds */
                if (rc != SL_OK) {
                    cr_assert_eq(run_op(&f, t, &err), SL_OK, "%s: the retry failed: %s", where,
                                 err.msg);
                    check_after(&f, t, true, where);
                }
                teardown(&f);
            }
        }
    }
    {
        char line[400];
        size_t at = 0;
        for (int i = 0; i < OP_N; i++)
            if (counts[i])
                at += (size_t)snprintf(line + at, sizeof(line) - at, " %s %d", op_names[i],
                                       counts[i]);
        cr_log_info("%s: calls in a clean run:%s; %d faults injected, %d absorbed (the "
                    "operation succeeded), the rest refused with a storage error",
                    target_names[t], line, injected, absorbed);
    }
    return injected;
}

static const enum op write_ops[] = {OP_OPEN, OP_PWRITE, OP_FSYNC, OP_N};
static const enum op name_ops[] = {OP_RENAME, OP_MKDIR, OP_UNLINK, OP_CLOSE, OP_N};

Test(faults, upload_write_calls, .timeout = 240)
{
    cr_expect_gt(sweep(T_INGEST, write_ops), 10);
}

Test(faults, upload_name_calls, .timeout = 240)
{
    cr_expect_gt(sweep(T_INGEST, name_ops), 3);
}

Test(faults, commit_all_calls, .timeout = 240)
{
    static const enum op all[] = {OP_OPEN,  OP_PWRITE, OP_FSYNC, OP_RENAME,
                                  OP_MKDIR, OP_UNLINK, OP_CLOSE, OP_N};
    cr_expect_gt(sweep(T_COMMIT, all), 0);
}

Test(faults, gc_write_calls, .timeout = 240)
{
    cr_expect_gt(sweep(T_GC, write_ops), 5);
}

Test(faults, gc_name_calls, .timeout = 240)
{
    cr_expect_gt(sweep(T_GC, name_ops), 3);
}

/* The clean runs do what the sweeps rely on: the gc run rewrites a pack and
 * deletes one, so its calls cover compaction and deletion. */
Test(faults, gc_clean_run_compacts_and_deletes)
{
    struct fixture f;
    struct sl_error err;
    json_t *rep = NULL;

    prepare(&f, T_GC);
    cr_assert_eq(gc(&f, &rep, &err), SL_OK, "%s", err.msg);
    cr_expect_geq(json_integer_value(json_object_get(rep, "packs_compacted")), 1);
    cr_expect_geq(json_integer_value(json_object_get(rep, "packs_deleted")), 1);
    json_decref(rep);
    expect_readable(&f, "after gc");
    teardown(&f);
}
