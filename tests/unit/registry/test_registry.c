/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry in-process: accounts and tokens, chunk ingest (hash checks,
 * dedup, proof of possession), commits (missing chunks, wrong sizes and
 * hashes, idempotence), reads, storage faults injected through the vfs table
 * (nothing half-written becomes visible), garbage collection and fsck.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "registry/registry.h"
#include "../helpers.h"

struct fixture {
    char *dir;
    struct sl_registry *r;
    struct sl_principal pub;
    int64_t org;
};

static void setup(struct fixture *f)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1], first[SL_TOKEN_LEN + 1];

    memset(&o, 0, sizeof(o));
    o.create = true;
    f->dir = th_tmpdir();
    cr_assert_eq(sl_registry_open(f->dir, &o, &f->r, first, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(strlen(first), SL_TOKEN_LEN, "first admin token printed once");
    cr_assert_eq(sl_reg_user_add(f->r, "alice", "a@example.org", "lab", "KE", false, tok, &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_add(f->r, "acme", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_member_add(f->r, "acme", "alice", "publisher", &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f->r, tok, &f->pub, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_id(f->r, "acme", &f->org, &err), SL_OK);
}

static void teardown(struct fixture *f)
{
    sl_vfs_set(NULL);
    sl_registry_close(f->r);
    th_rmtree(f->dir);
}

/* Builds upload frames for `data` cut in `chunk` byte pieces; fills the
 * manifest entry. */
static void frames(const unsigned char *data, size_t n, size_t chunk, struct sl_buf *out,
                   json_t *manifest_chunks)
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
        if (manifest_chunks)
            json_array_append_new(manifest_chunks, json_string(hex));
    }
}

static enum sl_err ingest(struct fixture *f, struct sl_buf *b, json_t **res, struct sl_error *err)
{
    struct sl_ingest *in;
    enum sl_err rc = sl_ingest_begin(f->r, f->org, b->len, NULL, 0, &in, err);

    if (rc)
        return rc;
    /* feed in odd pieces: frames must reassemble across calls */
    for (size_t off = 0; off < b->len; off += 777) {
        size_t take = b->len - off < 777 ? b->len - off : 777;
        rc = sl_ingest_feed(in, b->data + off, take, err);
        if (rc) {
            sl_ingest_abort(in);
            return rc;
        }
    }
    return sl_ingest_finish(in, res, err);
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

static json_t *small_facts(void)
{
    return json_pack("{s:I, s:{s:f}}", "params", (json_int_t)1000000, "training", "tokens", 1e9);
}

Test(registry, push_commit_read_fsck)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 26);
    unsigned char *data = malloc(300000);
    json_t *chunks = json_array(), *res = NULL, *body;
    bool created;
    struct sl_version_ref v;
    struct sl_file_ref fr;
    struct sl_run *runs;
    size_t nruns;
    unsigned char *back = malloc(300000);
    bool ok;

    setup(&f);
    sl_random(data, 300000);
    frames(data, 300000, 65536, &b, chunks);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(json_integer_value(json_object_get(res, "stored")), 5);
    json_decref(res);
    body = json_pack("{s:[o], s:o, s:n, s:n}", "files", file_entry("w.bin", data, 300000, chunks),
                     "facts", small_facts(), "tier", "license");
    cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(created);
    cr_expect_str_eq(json_string_value(json_object_get(res, "tier")), "open");
    json_decref(res);
    /* the same commit again is idempotent */
    cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_OK);
    cr_expect(!created);
    json_decref(res);
    json_decref(body);
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", "main", &v, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(v.seq, 1);
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", "v1", &v, &err), SL_OK);
    {
        char prefix[13];
        memcpy(prefix, v.commit, 12);
        prefix[12] = '\0';
        cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", prefix, &v, &err), SL_OK);
    }
    cr_expect_eq(sl_reg_resolve(f.r, "acme", "m", "v2", &v, &err), SL_ENOTFOUND);
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", "main", &v, &err), SL_OK);
    cr_assert_eq(sl_reg_file(f.r, v.version_id, "w.bin", &fr, &err), SL_OK);
    cr_assert_eq(sl_reg_runs(f.r, fr.blob_id, 1000, 200000, &runs, &nruns, &err), SL_OK);
    cr_expect_eq(nruns, 1, "chunks uploaded together form one run");
    cr_assert_eq(sl_reg_read_run(f.r, &runs[0], 0, back, (size_t)runs[0].length, &err), SL_OK);
    cr_expect(memcmp(back, data, (size_t)runs[0].length) == 0);
    free(runs);
    {
        json_t *rep;
        cr_assert_eq(sl_reg_fsck(f.r, &rep, &ok, &err), SL_OK);
        cr_expect(ok, "fsck clean");
        json_decref(rep);
    }
    sl_buf_release(&b);
    free(data);
    free(back);
    teardown(&f);
}

Test(registry, ingest_rejects_bad_frames_and_stores_nothing)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    unsigned char data[70000];
    json_t *res = NULL;
    bool missing[1];
    unsigned char id[1][32];

    setup(&f);
    memset(data, 7, sizeof(data));
    frames(data, sizeof(data), 70000, &b, NULL);
    memcpy(id[0], b.data, 32);
    b.data[100] ^= 1; /* corrupt the payload */
    cr_expect_eq(ingest(&f, &b, &res, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "hash to") != NULL, "%s", err.msg);
    cr_assert_eq(
        sl_reg_chunks_missing(f.r, f.org, (const unsigned char(*)[32])id, 1, missing, &err), SL_OK);
    cr_expect(missing[0], "nothing stored");
    /* truncated body */
    sl_buf_reset(&b);
    frames(data, sizeof(data), 70000, &b, NULL);
    {
        struct sl_ingest *in;
        cr_assert_eq(sl_ingest_begin(f.r, f.org, b.len, NULL, 0, &in, &err), SL_OK);
        cr_assert_eq(sl_ingest_feed(in, b.data, b.len - 10, &err), SL_OK);
        cr_expect_eq(sl_ingest_finish(in, &res, &err), SL_EINPUT);
        cr_expect(strstr(err.msg, "ended inside a frame") != NULL, "%s", err.msg);
    }
    /* a length over the chunk limit */
    {
        unsigned char hdr[36] = {0};
        struct sl_ingest *in;
        hdr[32] = 0xff;
        hdr[33] = 0xff;
        hdr[34] = 0x10;
        cr_assert_eq(sl_ingest_begin(f.r, f.org, 36, NULL, 0, &in, &err), SL_OK);
        cr_expect_eq(sl_ingest_feed(in, hdr, 36, &err), SL_EINPUT);
        cr_expect(strstr(err.msg, "not between 1 and") != NULL, "%s", err.msg);
        sl_ingest_abort(in);
    }
    sl_buf_release(&b);
    teardown(&f);
}

Test(registry, commit_checks_chunks_sizes_hashes_and_paths)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    unsigned char data[100000];
    json_t *chunks = json_array(), *res = NULL, *body;
    bool created;
    static const char *const bad_paths[] = {"../x", "/abs", "a//b", "a/./b", "a\\b", "a\x01"};

    setup(&f);
    memset(data, 3, sizeof(data));
    frames(data, sizeof(data), 50000, &b, chunks);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    /* wrong size */
    body = json_pack("{s:[{s:s, s:i, s:s, s:O}]}", "files", "path", "x", "size", 99999, "sha256",
                     "00", "chunks", chunks);
    cr_expect_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_EINPUT);
    json_decref(body);
    /* wrong hash */
    body = json_pack("{s:[{s:s, s:i, s:s, s:O}]}", "files", "path", "x", "size", 100000, "sha256",
                     "0000000000000000000000000000000000000000000000000000000000000000", "chunks",
                     chunks);
    cr_expect_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "hash to") != NULL, "%s", err.msg);
    json_decref(body);
    /* a chunk never uploaded */
    body = json_pack("{s:[{s:s, s:i, s:s, s:[s]}]}", "files", "path", "x", "size", 1, "sha256",
                     "0000000000000000000000000000000000000000000000000000000000000000", "chunks",
                     "1111111111111111111111111111111111111111111111111111111111111111");
    cr_expect_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "never uploaded") != NULL, "%s", err.msg);
    json_decref(body);
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        body = json_pack(
            "{s:[{s:s, s:i, s:s, s:[]}]}", "files", "path", bad_paths[i], "size", 0, "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "chunks");
        cr_expect_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_EINPUT,
                     "path %zu", i);
        json_decref(body);
    }
    /* no version became visible */
    {
        struct sl_version_ref v;
        cr_expect_eq(sl_reg_resolve(f.r, "acme", "m", "main", &v, &err), SL_ENOTFOUND);
    }
    json_decref(chunks);
    sl_buf_release(&b);
    teardown(&f);
}

Test(registry, dedup_needs_proof_of_possession)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    unsigned char data[40000], id[1][32];
    json_t *res = NULL;
    bool missing[1];
    int64_t other;

    setup(&f);
    sl_random(data, sizeof(data));
    frames(data, sizeof(data), 40000, &b, NULL);
    memcpy(id[0], b.data, 32);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK);
    json_decref(res);
    cr_assert_eq(sl_reg_org_add(f.r, "other", &err), SL_OK);
    cr_assert_eq(sl_reg_org_id(f.r, "other", &other, &err), SL_OK);
    cr_assert_eq(
        sl_reg_chunks_missing(f.r, other, (const unsigned char(*)[32])id, 1, missing, &err), SL_OK);
    cr_expect(missing[0], "another org cannot learn the chunk exists");
    f.org = other;
    /* the answer is the one a new chunk gets: nothing says another org has it */
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK);
    cr_expect_eq(json_integer_value(json_object_get(res, "bytes")), 40000);
    cr_expect_eq(json_integer_value(json_object_get(res, "deduplicated")), 0);
    json_decref(res);
    /* this org's own second upload is deduplicated */
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK);
    cr_expect_eq(json_integer_value(json_object_get(res, "bytes")), 0, "bytes not stored twice");
    cr_expect_eq(json_integer_value(json_object_get(res, "deduplicated")), 40000);
    json_decref(res);
    sl_buf_release(&b);
    teardown(&f);
}

/* Fault injection: fail the n-th call of one operation. */
static int fail_on, calls;
static int fail_errno;

static ssize_t bad_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (++calls == fail_on) {
        errno = fail_errno;
        return -1;
    }
    return sl_vfs_posix.pwrite(fd, buf, n, off);
}

static ssize_t short_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    /* always short: the writer must loop */
    return sl_vfs_posix.pwrite(fd, buf, n > 1000 ? 1000 : n, off);
}

static int bad_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static int bad_rename(const char *a, const char *b)
{
    (void)a;
    (void)b;
    errno = EXDEV;
    return -1;
}

Test(registry, storage_faults_leave_nothing_visible)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 24);
    unsigned char *data = malloc(12 << 20), id[1][32];
    json_t *res = NULL;
    bool missing[1];
    struct sl_vfs ops;

    setup(&f);
    /* 12 MiB: more than the pack writer buffers (4 MiB), so it writes twice */
    sl_random(data, 12 << 20);
    frames(data, 12 << 20, 131072, &b, NULL);
    memcpy(id[0], b.data, 32);

    ops = sl_vfs_posix;
    ops.pwrite = bad_pwrite;
    fail_on = 2;
    calls = 0;
    fail_errno = ENOSPC;
    sl_vfs_set(&ops);
    cr_expect_eq(ingest(&f, &b, &res, &err), SL_ENOSPACE, "%s", err.msg);
    cr_expect(strstr(err.msg, "no space") != NULL, "%s", err.msg);
    fail_errno = EIO;
    calls = 0;
    cr_expect_eq(ingest(&f, &b, &res, &err), SL_EIO, "%s", err.msg);

    ops = sl_vfs_posix;
    ops.fsync = bad_fsync;
    sl_vfs_set(&ops);
    cr_expect_eq(ingest(&f, &b, &res, &err), SL_EIO, "%s", err.msg);
    cr_expect(strstr(err.msg, "fsync") != NULL, "%s", err.msg);

    ops = sl_vfs_posix;
    ops.rename = bad_rename;
    sl_vfs_set(&ops);
    cr_expect_eq(ingest(&f, &b, &res, &err), SL_EIO, "%s", err.msg);

    sl_vfs_set(NULL);
    cr_assert_eq(
        sl_reg_chunks_missing(f.r, f.org, (const unsigned char(*)[32])id, 1, missing, &err), SL_OK);
    cr_expect(missing[0], "no failed upload left a chunk visible");
    {
        char *tmp = th_path(f.dir, "packs/tmp");
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", tmp);
        cr_expect_eq(system(cmd), 0, "no temporary pack left behind");
        free(tmp);
    }
    /* short writes are completed, and the fault cleared, the next upload works */
    ops = sl_vfs_posix;
    ops.pwrite = short_pwrite;
    sl_vfs_set(&ops);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    sl_vfs_set(NULL);
    {
        bool ok;
        json_t *rep;
        cr_assert_eq(sl_reg_fsck(f.r, &rep, &ok, &err), SL_OK);
        cr_expect(ok);
        json_decref(rep);
    }
    free(data);
    sl_buf_release(&b);
    teardown(&f);
}

Test(registry, gc_reclaims_and_fsck_finds_corruption)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 22);
    unsigned char *keep = malloc(200000), *drop = malloc(200000);
    json_t *chunks = json_array(), *res = NULL, *body, *rep;
    bool created, ok;
    struct sl_gc_opts go = {0, 0.5, 0};

    setup(&f);
    sl_random(keep, 200000);
    sl_random(drop, 200000);
    /* one pack holds both; only `keep` is committed */
    frames(keep, 200000, 100000, &b, chunks);
    frames(drop, 200000, 100000, &b, NULL);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK);
    json_decref(res);
    body = json_pack("{s:[o], s:o}", "files", file_entry("k.bin", keep, 200000, chunks), "facts",
                     small_facts());
    cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_OK, "%s",
                 err.msg);
    json_decref(res);
    json_decref(body);
    cr_assert_eq(sl_reg_gc(f.r, &go, &rep, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(json_integer_value(json_object_get(rep, "chunks_dropped")), 2);
    cr_expect_eq(json_integer_value(json_object_get(rep, "packs_compacted")), 1,
                 "half-dead pack rewritten");
    json_decref(rep);
    cr_assert_eq(sl_reg_fsck(f.r, &rep, &ok, &err), SL_OK);
    cr_expect(ok, "clean after gc");
    json_decref(rep);
    /* the committed file still reads back */
    {
        struct sl_version_ref v;
        struct sl_file_ref fr;
        struct sl_run *runs;
        size_t n;
        unsigned char *back = malloc(200000);
        uint64_t at = 0;
        cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", "main", &v, &err), SL_OK);
        cr_assert_eq(sl_reg_file(f.r, v.version_id, "k.bin", &fr, &err), SL_OK);
        cr_assert_eq(sl_reg_runs(f.r, fr.blob_id, 0, fr.size, &runs, &n, &err), SL_OK);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(sl_reg_read_run(f.r, &runs[i], 0, back + at, (size_t)runs[i].length, &err),
                         SL_OK, "%s", err.msg);
            at += runs[i].length;
        }
        cr_expect(at == 200000 && memcmp(back, keep, 200000) == 0);
        free(runs);
        free(back);
    }
    /* flip a byte inside a pack: fsck must say so */
    {
        char cmd[700];
        snprintf(cmd, sizeof(cmd),
                 "f=$(find '%s/packs' -name '*.pack' | head -1); printf 'X' | dd of=\"$f\" bs=1 "
                 "seek=5000 conv=notrunc 2>/dev/null",
                 f.dir);
        cr_assert_eq(system(cmd), 0);
    }
    cr_assert_eq(sl_reg_fsck(f.r, &rep, &ok, &err), SL_OK);
    cr_expect(!ok);
    cr_expect_geq(json_array_size(json_object_get(rep, "problems")), 1);
    json_decref(rep);
    /* `chunks` went to the commit body (stolen by file_entry) */
    free(keep);
    free(drop);
    sl_buf_release(&b);
    teardown(&f);
}

Test(registry, tokens_revoke_and_expire)
{
    struct fixture f;
    struct sl_error err;
    struct sl_principal p;
    char tok[SL_TOKEN_LEN + 1], tok2[SL_TOKEN_LEN + 1];
    int n;

    setup(&f);
    cr_assert_eq(sl_reg_token_new(f.r, "alice", SL_SCOPE_READ, 0, tok, &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f.r, tok, &p, &err), SL_OK);
    cr_expect_eq(p.scopes, SL_SCOPE_READ);
    /* the role decides here; the router refuses a read token's writes (scope) */
    cr_expect(!(p.scopes & SL_SCOPE_WRITE));
    cr_assert_eq(sl_reg_token_revoke(f.r, NULL, tok, &n, &err), SL_OK);
    cr_expect_eq(n, 1);
    cr_expect_eq(sl_reg_auth(f.r, tok, &p, &err), SL_EAUTH);
    cr_expect(strstr(err.msg, "revoked") != NULL);
    /* an expiry in the past is refused when the token is issued */
    cr_expect_eq(sl_reg_token_new(f.r, "alice", SL_SCOPE_READ, 1000, tok2, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "past") != NULL, "%s", err.msg);
    cr_assert_eq(sl_reg_token_new(f.r, "alice", SL_SCOPE_READ, time(NULL) + 1, tok2, &err), SL_OK);
    cr_expect_eq(sl_reg_auth(f.r, tok2, &p, &err), SL_OK);
    sleep(2);
    cr_expect_eq(sl_reg_auth(f.r, tok2, &p, &err), SL_EAUTH);
    cr_expect(strstr(err.msg, "expired") != NULL);
    cr_expect_eq(sl_reg_auth(f.r, "sl_nothex", &p, &err), SL_EAUTH);
    cr_expect_eq(sl_reg_user_add(f.r, "alice", NULL, NULL, NULL, false, tok, &err), SL_ECONFLICT);
    cr_expect_eq(sl_reg_user_add(f.r, "../x", NULL, NULL, NULL, false, tok, &err), SL_EUSAGE);
    teardown(&f);
}

/* Issue 11: a failing step is an error, never the rows read so far. Each
 * step of each list is made to fail in turn (the db test seam). */
Test(registry, failing_steps_never_give_partial_lists)
{
    struct fixture f;
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    unsigned char data[20000];
    json_t *chunks = json_array(), *res = NULL, *body;
    bool created;
    static const char *const names[] = {"m1", "m2", "m3"};
    int failures = 0;

    setup(&f);
    sl_random(data, sizeof(data));
    frames(data, sizeof(data), sizeof(data), &b, chunks);
    cr_assert_eq(ingest(&f, &b, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    for (size_t i = 0; i < 3; i++) {
        body = json_pack("{s:[o], s:o, s:n, s:n}", "files",
                         file_entry("w.bin", data, sizeof(data), json_deep_copy(chunks)), "facts",
                         small_facts(), "tier", "license");
        cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", names[i], body, &res, &created, &err),
                     SL_OK, "%s", err.msg);
        json_decref(res);
        json_decref(body);
    }
    {
        struct sl_arena a = SL_ARENA_INIT;
        struct sl_reg_model_summary *models = NULL;
        size_t n = 0;
        cr_assert_eq(sl_reg_models(f.r, &f.pub, &a, &models, &n, &err), SL_OK, "%s", err.msg);
        cr_assert_eq(n, 3);
        for (long k = 1; k <= 4; k++) {
            enum sl_err rc;
            sl_error_clear(&err);
            sl__db_fail_step = k;
            rc = sl_reg_models(f.r, &f.pub, &a, &models, &n, &err);
            sl__db_fail_step = 0;
            /* steps 1-3 give rows, step 4 says "done": each failure is an error */
            cr_expect_eq(rc, SL_EIO, "step %ld failed, yet a list of %zu came back", k, n);
            cr_expect_eq(n, 0, "step %ld: no partial list", k);
            cr_expect_eq(err.code, SL_EIO, "step %ld: %s", k, err.msg);
            failures++;
        }
        sl_arena_release(&a);
    }
    cr_expect_eq(failures, 4);
    {
        struct sl_arena a = SL_ARENA_INIT;
        struct sl_eval_key_info *keys;
        size_t nkeys;
        cr_expect_eq(sl_reg_eval_keys(f.r, &a, &keys, &nkeys, &err), SL_OK,
                     "the seam is off again");
        sl_arena_release(&a);
    }
    json_decref(chunks);
    sl_buf_release(&b);
    teardown(&f);
}
