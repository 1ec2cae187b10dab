/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage seam of the log, reads, gc/fsck and fingerprints (issue 13):
 * every step of every read these make is failed in turn (the db test seam),
 * and each failure must be an error, never a report, tile, document or
 * verdict built from the rows read so far; once the seam is off the same
 * call succeeds. Also the repository operations' own contracts: not found,
 * conflict, and lists that stop when asked.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "db/repo_fp.h"
#include "db/repo_log.h"
#include "db/repo_read.h"
#include "registry/registry.h"
#include "../helpers.h"

struct fixture {
    char *dir;
    struct sl_registry *r;
    struct sl_principal pub;
    int64_t org, model;
    struct sl_version_ref v;
    size_t bundle_len; /* the whole entry bundle of the log, once read */
};

/* Pushes a new version of acme/`name` holding one file of random bytes. */
static void push(struct fixture *f, const char *name)
{
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    struct sl_ingest *in;
    json_t *chunks = json_array(), *res = NULL, *body;
    unsigned char data[5000], h[32], l[4] = {0x88, 0x13, 0, 0}; /* 5000 */
    char hex[65];
    bool created;

    sl_random(data, sizeof(data));
    sl_sha256(data, sizeof(data), h);
    sl_hex(h, 32, hex);
    sl_buf_add(&b, h, 32);
    sl_buf_add(&b, l, 4);
    sl_buf_add(&b, data, sizeof(data));
    json_array_append_new(chunks, json_string(hex));
    cr_assert_eq(sl_ingest_begin(f->r, f->org, b.len, NULL, 0, &in, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_feed(in, b.data, b.len, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_finish(in, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    body = json_pack("{s:[{s:s, s:I, s:s, s:o}], s:{s:I, s:{s:f}}, s:n, s:n}", "files", "path",
                     "w.bin", "size", (json_int_t)sizeof(data), "sha256", hex, "chunks", chunks,
                     "facts", "params", (json_int_t)1000000, "training", "tokens", 1e9, "tier",
                     "license");
    cr_assert_eq(sl_reg_commit(f->r, &f->pub, "acme", name, body, &res, &created, &err), SL_OK,
                 "%s", err.msg);
    json_decref(res);
    json_decref(body);
    sl_buf_release(&b);
}

/* A registry with org acme, two versions of acme/m1 and one of acme/m2, so
 * each list has several rows. */
static void setup(struct fixture *f)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1], first[SL_TOKEN_LEN + 1];

    memset(f, 0, sizeof(*f));
    memset(&o, 0, sizeof(o));
    o.create = true;
    f->dir = th_tmpdir();
    cr_assert_eq(sl_registry_open(f->dir, &o, &f->r, first, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_user_add(f->r, "alice", "a@example.org", "lab", "KE", false, tok, &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_add(f->r, "acme", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_member_add(f->r, "acme", "alice", "publisher", &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f->r, tok, &f->pub, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_id(f->r, "acme", &f->org, &err), SL_OK);
    push(f, "m1");
    push(f, "m1");
    push(f, "m2");
    cr_assert_eq(sl_reg_resolve(f->r, "acme", "m1", "main", &f->v, &err), SL_OK, "%s", err.msg);
    f->model = f->v.model_id;
}

static void teardown(struct fixture *f)
{
    sl_registry_close(f->r);
    th_rmtree(f->dir);
}

typedef enum sl_err (*op_fn)(struct fixture *f, struct sl_error *err);

/* Fails step 1, 2, ... of `op` until a run makes fewer steps than the one
 * failed; each failed run must be an error. Returns the steps of a clean
 * run. */
static long every_step_fails(struct fixture *f, const char *what, op_fn op)
{
    for (long k = 1; k < 100000; k++) {
        struct sl_error err;
        enum sl_err rc;
        bool fired;
        sl_error_clear(&err);
        sl__db_fail_step = k;
        rc = op(f, &err);
        fired = sl__db_fail_step == 0;
        sl__db_fail_step = 0;
        if (!fired) {
            cr_expect_eq(rc, SL_OK, "%s: the clean run failed: %s", what, err.msg);
            return k - 1;
        }
        cr_expect_neq(rc, SL_OK, "%s: step %ld failed, yet it succeeded", what, k);
        if (rc != SL_OK)
            cr_expect(err.msg[0] != '\0', "%s: step %ld: an error without a message", what, k);
    }
    cr_assert_fail("%s never ran out of steps", what);
    return 0;
}

static enum sl_err op_fsck(struct fixture *f, struct sl_error *err)
{
    json_t *report = NULL;
    bool ok = false;
    enum sl_err rc = sl_reg_fsck(f->r, &report, &ok, err);

    if (!rc)
        cr_expect(ok, "a clean store is clean");
    json_decref(report);
    return rc;
}

static enum sl_err op_report(struct fixture *f, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_report rep;
    enum sl_err rc = sl_reg_report(f->r, f->model, "acme/m1", &a, &rep, err);

    if (!rc) {
        cr_expect_eq(rep.nversions, 2);
        cr_expect_gt(rep.nevents, 0);
        for (size_t i = 0; i < rep.nevents; i++)
            cr_expect_lt(rep.events[i].index, rep.checkpoint_size);
    }
    sl_arena_release(&a);
    return rc;
}

static enum sl_err op_tile(struct fixture *f, struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    uint64_t size = 0;
    char path[64];
    bool full;
    enum sl_err rc = sl_reg_log_size(f->r, &size, err);

    if (rc)
        return rc;
    snprintf(path, sizeof(path), "tile/entries/000.p/%llu", (unsigned long long)size);
    rc = sl_reg_log_tile(f->r, path, &b, &full, err);
    if (!rc && f->bundle_len)
        cr_expect_eq(b.len, f->bundle_len, "a bundle of %zu bytes, not the %zu of every entry",
                     b.len, f->bundle_len);
    if (!rc && !f->bundle_len)
        f->bundle_len = b.len;
    sl_buf_release(&b);
    return rc;
}

static enum sl_err op_version_json(struct fixture *f, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_version_doc d;
    enum sl_err rc = sl_reg_version_doc(f->r, &f->v, true, &a, &d, err);

    if (!rc) {
        cr_expect(d.stored && d.decision != NULL, "the document has its decision");
        cr_expect_eq(d.nfiles, 1);
    }
    sl_arena_release(&a);
    return rc;
}

static enum sl_err op_model_json(struct fixture *f, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_model_doc d;
    enum sl_err rc = sl_reg_model_doc(f->r, f->model, &a, &d, err);

    if (!rc) {
        cr_expect_eq(d.nrefs, 1, "main");
        cr_expect_eq(d.nversions, 2);
        cr_expect(d.tier != NULL);
    }
    sl_arena_release(&a);
    return rc;
}

static enum sl_err op_gc(struct fixture *f, struct sl_error *err)
{
    /* a grace period longer than the test: the sweep of stray pack files,
     * which by design keeps a file when its lookup fails, never runs, so
     * every step here is one whose failure must fail gc */
    struct sl_gc_opts o = {3600, 0.5, 3600};
    json_t *report = NULL;
    enum sl_err rc = sl_reg_gc(f->r, &o, &report, err);

    json_decref(report);
    return rc;
}

Test(seam, fsck_never_reports_a_partial_scan)
{
    struct fixture f;

    setup(&f);
    cr_expect_gt(every_step_fails(&f, "fsck", op_fsck), 5);
    teardown(&f);
}

Test(seam, report_never_gives_partial_rows)
{
    struct fixture f;
    struct sl_error err;
    char *note = NULL;
    uint64_t size;

    setup(&f);
    /* a checkpoint that covers the log already: the report signs nothing */
    cr_assert_eq(sl_reg_log_checkpoint(f.r, &note, &size, &err), SL_OK, "%s", err.msg);
    free(note);
    cr_expect_gt(every_step_fails(&f, "report", op_report), 5);
    teardown(&f);
}

Test(seam, tile_never_gives_a_short_bundle_on_a_failed_step)
{
    struct fixture f;
    struct sl_error err;

    setup(&f);
    cr_assert_eq(op_tile(&f, &err), SL_OK, "%s", err.msg);
    cr_assert_gt(f.bundle_len, 0);
    cr_expect_gt(every_step_fails(&f, "entry bundle", op_tile), 2);
    teardown(&f);
}

Test(seam, documents_never_miss_fields_on_a_failed_step)
{
    struct fixture f;

    setup(&f);
    cr_expect_gt(every_step_fails(&f, "version document", op_version_json), 1);
    cr_expect_gt(every_step_fails(&f, "model document", op_model_json), 1);
    teardown(&f);
}

Test(seam, gc_fails_whole_on_a_failed_step)
{
    struct fixture f;

    setup(&f);
    cr_expect_gt(every_step_fails(&f, "gc", op_gc), 3);
    cr_expect_gt(every_step_fails(&f, "fsck after gc", op_fsck), 5);
    teardown(&f);
}

/* A database failure while the checkpoint reads its consistency proof is an
 * error to retry: never the old checkpoint served as if the log had forked. */
Test(seam, checkpoint_db_failure_is_not_an_inconsistent_log)
{
    struct fixture f;
    struct sl_error err;
    char *note = NULL;
    uint64_t size, grown;

    setup(&f);
    cr_assert_eq(sl_reg_log_checkpoint(f.r, &note, &size, &err), SL_OK, "%s", err.msg);
    free(note);
    for (long k = 1;; k++) {
        enum sl_err rc;
        bool fired;
        /* grow the log each round so a new checkpoint is due */
        push(&f, "m1");
        cr_assert_eq(sl_reg_log_size(f.r, &grown, &err), SL_OK);
        sl__db_fail_step = k;
        note = NULL;
        rc = sl_reg_log_checkpoint(f.r, &note, &size, &err);
        fired = sl__db_fail_step == 0;
        sl__db_fail_step = 0;
        if (!fired) {
            cr_expect_eq(rc, SL_OK, "%s", err.msg);
            cr_expect_eq(size, grown, "the clean run signs the whole log");
            free(note);
            break;
        }
        cr_expect_neq(rc, SL_OK, "step %ld failed, yet a checkpoint of %llu of %llu came back", k,
                      (unsigned long long)size, (unsigned long long)grown);
        free(note);
    }
    teardown(&f);
}

/* ---- the repository operations themselves ---- */

Test(seam, repo_lookups_say_what_is_missing)
{
    struct fixture f;
    struct sl_error err;
    struct sl_db *db;
    struct sl_file_ref fr;
    struct sl_version_ref v;
    int64_t org = 0, model = 0, id = 0;
    char hex[65];
    unsigned char h[32];
    bool found = true;

    setup(&f);
    db = sl_reg_db(f.r, &err);
    cr_assert(db);
    cr_expect_eq(sl_repo_model_ids(db, "acme", "nope", &org, &model, &err), SL_ENOTFOUND);
    cr_expect(strstr(err.msg, "acme/nope") != NULL, "%s", err.msg);
    cr_expect_eq(sl_repo_model_ids(db, "nobody", "m1", &org, &model, &err), SL_ENOTFOUND);
    cr_expect(strstr(err.msg, "nobody/m1") != NULL, "%s", err.msg);
    cr_expect_eq(sl_repo_file_get(db, f.v.version_id, "missing.bin", &fr, &err), SL_ENOTFOUND);
    cr_expect(strstr(err.msg, "\"missing.bin\"") != NULL, "%s", err.msg);
    cr_expect_eq(sl_repo_file_get(db, f.v.version_id, "w.bin", &fr, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(fr.size, 5000);
    cr_expect_eq(strlen(fr.sha256), 64);
    cr_expect_eq(sl_repo_version_by_ref(db, f.model, "no-such-branch", &v, &found, &err), SL_OK);
    cr_expect(!found);
    cr_expect_eq(sl_repo_version_by_seq(db, f.model, 2, &v, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_eq(v.seq, 2);
    found = true;
    cr_expect_eq(sl_repo_log_hash_get(db, 60, 0, h, &found, &err), SL_OK);
    cr_expect(!found, "no subtree at level 60");
    found = true;
    cr_expect_eq(sl_repo_fp_copy_get(db, 12345, 1, hex, &found, &err), SL_OK);
    cr_expect(!found);
    cr_expect_eq(sl_repo_fp_recipient_id(db, f.model, f.pub.user_id, &id, &found, &err), SL_OK);
    cr_expect(!found);
    teardown(&f);
}

Test(seam, repo_recipient_twice_is_a_conflict)
{
    struct fixture f;
    struct sl_error err;
    struct sl_db *db;
    int64_t id = 0, id2 = 0;

    setup(&f);
    db = sl_reg_db(f.r, &err);
    cr_assert(db);
    cr_assert_eq(sl_repo_fp_recipient_insert(db, f.model, f.pub.user_id, 1, &id, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_gt(id, 0);
    cr_expect_eq(sl_repo_fp_recipient_insert(db, f.model, f.pub.user_id, 1, &id2, &err),
                 SL_ECONFLICT, "%s", err.msg);
    teardown(&f);
}

static int stop_after_two(void *ctx, const struct sl_log_entry_row *row)
{
    int *n = ctx;

    cr_expect_eq(row->len, strlen(row->text));
    cr_expect_eq(row->text[0], '{', "an entry is its canonical JSON text");
    return ++*n == 2;
}

Test(seam, repo_lists_stop_when_asked_and_fail_whole)
{
    struct fixture f;
    struct sl_error err;
    struct sl_db *db;
    uint64_t size = 0;
    int n = 0;

    setup(&f);
    db = sl_reg_db(f.r, &err);
    cr_assert(db);
    cr_assert_eq(sl_repo_log_size(db, &size, &err), SL_OK);
    cr_assert_gt(size, 2, "the fixture logs several events");
    cr_expect_eq(sl_repo_log_entries_range(db, 0, size, stop_after_two, &n, &err), SL_OK);
    cr_expect_eq(n, 2, "the list stopped when the callback asked");
    n = 0;
    sl__db_fail_step = 2;
    cr_expect_eq(sl_repo_log_entries_range(db, 0, size, stop_after_two, &n, &err), SL_EIO);
    sl__db_fail_step = 0;
    cr_expect_eq(n, 1, "one row came before the failed step, and the list is an error");
    teardown(&f);
}
