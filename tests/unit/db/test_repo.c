/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of db/repo_versions.h and db/repo_govern.h, the
 * same checks on both drivers: absent rows are `found = false` or
 * SL_ENOTFOUND as each header says, uniqueness is SL_ECONFLICT, inserts that
 * keep a row stored first say so, lists come in their order and stop when
 * the callback asks, and a failed step is an error, never a short list. The
 * PostgreSQL half (suite pg) runs as CTest unit_pg.db.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_govern.h"
#include "db/repo_read.h"
#include "db/repo_versions.h"
#include "../helpers.h"
#include "dbfix.h"

static struct sl_db *open_seeded(const char *url)
{
    struct sl_db *db = NULL;
    struct sl_error err;

    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "open %s: %s", url, err.msg);
    /* org 1 owns chunk 1; chunk 2 is stored for org 2 only */
    cr_assert_eq(sl_db_exec(db,
                            "INSERT INTO orgs (name, created) VALUES ('acme', 1);"
                            "INSERT INTO orgs (name, created) VALUES ('other', 1);"
                            "INSERT INTO users (name, created) VALUES ('ann', 1);"
                            "INSERT INTO packs (name, size, created) VALUES ('p1', 300, 1);",
                            &err),
                 SL_OK, "%s", err.msg);
    return db;
}

static void add_chunk(struct sl_db *db, unsigned char tag, int64_t off, int64_t len, int64_t org_id)
{
    struct sl_error err;
    unsigned char h[32];
    struct sl_stmt *st = sl_db_stmt(
        db,
        "INSERT INTO chunks (hash, pack_id, pack_offset, length, created) VALUES (?, 1, ?, ?, 1)",
        &err);
    int64_t id;

    memset(h, tag, sizeof(h));
    cr_assert(st, "%s", err.msg);
    sl_stmt_blob(st, 1, h, 32);
    sl_stmt_int(st, 2, off);
    sl_stmt_int(st, 3, len);
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    id = sl_db_last_id(db);
    st = sl_db_stmt(db, "INSERT INTO chunk_owners (chunk_id, org_id) VALUES (?, ?)", &err);
    cr_assert(st, "%s", err.msg);
    sl_stmt_int(st, 1, id);
    sl_stmt_int(st, 2, org_id);
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
}

struct ids {
    int64_t v[8];
    int n, stop_after;
};

static int id_cb(void *ctx, int64_t id)
{
    struct ids *l = ctx;

    l->v[l->n++] = id;
    return l->n == l->stop_after;
}

struct files {
    char path[4][32];
    int n;
};

static int file_cb(void *ctx, const struct sl_version_file_row *row)
{
    struct files *l = ctx;

    snprintf(l->path[l->n++], sizeof(l->path[0]), "%s", row->path);
    return 0;
}

static int loc_cb(void *ctx, const struct sl_chunk_loc_row *row)
{
    struct ids *l = ctx;

    l->v[l->n++] = (int64_t)row->pack_offset;
    return 0;
}

static int key_cb(void *ctx, const struct sl_eval_key_row *row)
{
    struct ids *l = ctx;

    l->v[l->n++] = row->revoked ? row->revoked_at : -1;
    return 0;
}

static int sched_cb(void *ctx, const struct sl_schedule_row *row)
{
    struct ids *l = ctx;

    cr_expect_str_eq(row->status, "done");
    cr_expect(row->has_done);
    cr_expect_null(row->reason);
    l->v[l->n++] = row->version;
    return 0;
}

static void versions_and_files(const char *url)
{
    struct sl_db *db = open_seeded(url);
    struct sl_error err;
    struct sl_chunk_owned_row co;
    struct sl_chunk_loc_row loc;
    struct sl_blob_row b;
    struct sl_version_new nv;
    struct sl_version_state_row vs;
    struct sl_arena a = SL_ARENA_INIT;
    struct ids ids;
    struct files fl;
    unsigned char h[32], sha[32];
    const int64_t chunk_ids[2] = {1, 2};
    const uint32_t chunk_len[2] = {100, 50};
    int64_t model = 0, id = 0, blob = 0, blob2 = 0, vid = 0, seq = 0, foreign, total;
    char tier[SL_REPO_TIER_MAX + 1], *text;
    bool found, any;

    add_chunk(db, 0xa1, 0, 100, 1);
    add_chunk(db, 0xa2, 100, 50, 2);

    /* models: absent, made, found, and a second of the same name refused */
    cr_assert_eq(sl_repo_model_find(db, 1, "m", &found, &id, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_repo_model_insert(db, 1, "m", 5, &model, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_model_find(db, 1, "m", &found, &id, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(id, model);
    cr_expect_eq(sl_repo_model_insert(db, 1, "m", 5, &id, &err), SL_ECONFLICT, "%s", err.msg);

    /* chunks: owned by this org, stored for another only, absent */
    memset(h, 0xa1, 32);
    cr_assert_eq(sl_repo_chunk_owned(db, 1, h, &found, &co, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(co.id, 1);
    cr_expect_eq(co.length, 100);
    memset(h, 0xa2, 32);
    cr_assert_eq(sl_repo_chunk_owned(db, 1, h, &found, &co, &err), SL_OK, "%s", err.msg);
    cr_expect(!found, "another org's chunk is not this org's");
    memset(h, 0xa3, 32);
    cr_assert_eq(sl_repo_chunk_owned(db, 1, h, &found, &co, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_repo_chunk_locate(db, 2, &found, &loc, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_str_eq(loc.pack, "p1");
    cr_expect_eq(loc.pack_offset, 100);
    cr_expect_eq(loc.length, 50);
    cr_assert_eq(sl_repo_chunk_locate(db, 999, &found, &loc, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);

    /* blobs: stored once; stored again is the same row */
    memset(sha, 0x5a, 32);
    cr_assert_eq(sl_repo_blob_find(db, sha, &found, &b, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_blob_insert(db, sha, 150, chunk_ids, chunk_len, 2, 5, &blob, &err), SL_OK,
                 "%s", err.msg);
    cr_assert_eq(sl_repo_blob_insert(db, sha, 150, chunk_ids, chunk_len, 2, 5, &blob2, &err), SL_OK,
                 "%s", err.msg);
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(blob2, blob, "a file stored first is taken as it is");
    cr_assert_eq(sl_repo_blob_find(db, sha, &found, &b, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(b.id, blob);
    cr_expect_eq(b.size, 150);
    memset(&ids, 0, sizeof(ids));
    cr_assert_eq(sl_repo_blob_chunk_ids(db, blob, id_cb, &ids, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(ids.n, 2);
    cr_expect_eq(ids.v[0], 1);
    cr_expect_eq(ids.v[1], 2);
    memset(&ids, 0, sizeof(ids));
    ids.stop_after = 1;
    cr_assert_eq(sl_repo_blob_chunk_ids(db, blob, id_cb, &ids, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(ids.n, 1, "a non-zero return stops the list");
    memset(&ids, 0, sizeof(ids));
    cr_assert_eq(sl_repo_blob_chunk_locs(db, blob, loc_cb, &ids, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(ids.n, 2);
    cr_expect_eq(ids.v[0], 0);
    cr_expect_eq(ids.v[1], 100);
    cr_assert_eq(sl_repo_blob_foreign_chunks(db, blob, 1, &found, &foreign, &total, &err), SL_OK,
                 "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(foreign, 1);
    cr_expect_eq(total, 2);
    cr_assert_eq(sl_repo_blob_foreign_chunks(db, -1, 1, &found, &foreign, &total, &err), SL_OK,
                 "%s", err.msg);
    cr_expect_eq(foreign + total, 0);

    /* versions */
    cr_assert_eq(sl_repo_version_by_commit(db, model, "c1", &found, &vid, &seq, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_repo_version_next_seq(db, model, &seq, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(seq, 1);
    memset(&nv, 0, sizeof(nv));
    nv.model_id = model;
    nv.seq = seq;
    nv.commit = "c1";
    nv.manifest = "{}";
    nv.tier = "open";
    nv.min_tier = "open";
    nv.floor_tier = "open";
    nv.decision = "{\"min_tier\":\"open\"}";
    nv.bytes_total = 150;
    nv.created = 7;
    nv.created_by = 1;
    cr_assert_eq(sl_repo_version_insert(db, &nv, &vid, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_version_insert(db, &nv, &id, &err), SL_ECONFLICT,
                 "the same commit twice: %s", err.msg);
    cr_assert_eq(sl_repo_version_file_insert(db, vid, "b.bin", blob, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_version_file_insert(db, vid, "a.bin", blob, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_version_file_insert(db, vid, "a.bin", blob, &err), SL_ECONFLICT, "%s",
                 err.msg);
    memset(&fl, 0, sizeof(fl));
    cr_assert_eq(sl_repo_version_files(db, vid, file_cb, &fl, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(fl.n, 2);
    cr_expect_str_eq(fl.path[0], "a.bin", "path order");
    cr_expect_str_eq(fl.path[1], "b.bin");
    cr_assert_eq(sl_repo_version_by_commit(db, model, "c1", &found, &id, &seq, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(found);
    cr_expect_eq(id, vid);
    cr_expect_eq(seq, 1);
    cr_assert_eq(sl_repo_version_next_seq(db, model, &seq, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(seq, 2);
    cr_assert_eq(sl_repo_version_state(db, vid, &vs, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(vs.tier, "open");
    cr_expect_str_eq(vs.commit, "c1");
    cr_expect_eq(vs.model_id, model);
    cr_expect_eq(sl_repo_version_state(db, 9999, &vs, &err), SL_ENOTFOUND);
    cr_expect_str_eq(err.msg, "no such version");

    /* the main ref */
    cr_assert_eq(sl_repo_ref_main_get(db, model, &found, &seq, tier, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_expect_eq(seq, 0);
    cr_expect_str_eq(tier, "");
    cr_assert_eq(sl_repo_ref_main_set(db, model, vid, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_ref_main_set(db, model, vid, &err), SL_OK, "setting it again updates");
    cr_assert_eq(sl_repo_ref_main_get(db, model, &found, &seq, tier, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(seq, 1);
    cr_expect_str_eq(tier, "open");

    /* tiers, decisions, provenance's view */
    cr_assert_eq(sl_repo_versions_any_strict(db, &any, &err), SL_OK, "%s", err.msg);
    cr_expect(!any);
    cr_assert_eq(sl_repo_version_tier_set(db, vid, "gated", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_versions_any_strict(db, &any, &err), SL_OK, "%s", err.msg);
    cr_expect(any);
    cr_assert_eq(
        sl_repo_version_decision_set(db, vid, "{\"min_tier\":\"click\"}", "click", "click", &err),
        SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_version_decision_get(db, vid, &a, &found, &text, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(found);
    cr_expect_str_eq(text, "{\"min_tier\":\"click\"}");
    cr_assert_eq(sl_repo_version_decision_get(db, 9999, &a, &found, &text, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(!found);
    cr_expect_null(text);
    cr_assert_eq(sl_repo_version_log_idx_set(db, vid, 3, &err), SL_OK, "%s", err.msg);

    /* a failed step is an error, whichever row it falls on */
    for (long k = 1; k <= 3; k++) {
        enum sl_err rc;
        memset(&fl, 0, sizeof(fl));
        sl__db_fail_step = k;
        rc = sl_repo_version_files(db, vid, file_cb, &fl, &err);
        sl__db_fail_step = 0;
        cr_expect_eq(rc, SL_EIO, "step %ld of 3 failed, yet the list of %d rows came back", k,
                     fl.n);
    }
    sl_arena_release(&a);
    sl_db_close(db);
}

static void governance(const char *url)
{
    struct sl_db *db = open_seeded(url);
    struct sl_error err;
    struct sl_eval_key_new k;
    struct sl_evidence_row ev;
    struct sl_schedule_due_row due;
    struct sl_version_new nv;
    struct sl_arena a = SL_ARENA_INIT;
    struct ids ids;
    unsigned char pub[32];
    char names[16][SL_REPO_NAME_MAX + 1];
    int64_t model, vid, uid = 0, n = 0, step = 0;
    int nn;
    bool found, inserted, pending;

    cr_assert_eq(sl_repo_model_insert(db, 1, "m", 5, &model, &err), SL_OK, "%s", err.msg);
    memset(&nv, 0, sizeof(nv));
    nv.model_id = model;
    nv.seq = 1;
    nv.commit = "c1";
    nv.manifest = "{}";
    nv.tier = "withheld";
    nv.min_tier = "open";
    nv.decision = "{}";
    nv.created_by = 1;
    cr_assert_eq(sl_repo_version_insert(db, &nv, &vid, &err), SL_OK, "%s", err.msg);

    /* evaluator keys */
    cr_assert_eq(sl_repo_evaluator_user_id(db, "nobody", &found, &uid, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_repo_evaluator_user_id(db, "ann", &found, &uid, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    memset(pub, 7, sizeof(pub));
    k.name = "ann";
    k.user_id = uid;
    k.key_id = 42;
    k.pub = pub;
    k.vkey = "ann+0000002a+AAAA";
    k.added = 10;
    cr_assert_eq(sl_repo_eval_key_insert(db, &k, &inserted, &err), SL_OK, "%s", err.msg);
    cr_expect(inserted);
    cr_assert_eq(sl_repo_eval_key_insert(db, &k, &inserted, &err), SL_OK, "%s", err.msg);
    cr_expect(!inserted, "a second key of the same name is not stored");
    cr_assert_eq(sl_repo_eval_key_count(db, &n, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(n, 1);
    cr_assert_eq(sl_repo_eval_keys_live_names(db, NULL, uid, names, 16, &nn, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_eq(nn, 1);
    cr_expect_str_eq(names[0], "ann");
    cr_assert_eq(sl_repo_eval_key_revoke(db, "ann", 20, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_eval_keys_live_names(db, "ann", 0, names, 16, &nn, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_eq(nn, 0, "a revoked key is not live");
    memset(&ids, 0, sizeof(ids));
    cr_assert_eq(sl_repo_eval_keys(db, key_cb, &ids, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(ids.n, 1);
    cr_expect_eq(ids.v[0], 20, "the listing says when it was revoked");

    /* evidence: the first stands */
    cr_assert_eq(sl_repo_evidence_get(db, vid, "o1", &a, &found, &ev, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);
    cr_assert_eq(sl_repo_evidence_insert(db, vid, "o1", "first", uid, 30, &inserted, &err), SL_OK,
                 "%s", err.msg);
    cr_expect(inserted);
    cr_assert_eq(sl_repo_evidence_insert(db, vid, "o1", "second", uid, 31, &inserted, &err), SL_OK,
                 "%s", err.msg);
    cr_expect(!inserted);
    cr_assert_eq(sl_repo_evidence_get(db, vid, "o1", &a, &found, &ev, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_str_eq(ev.text, "first");
    cr_expect_str_eq(ev.by, "ann");
    cr_expect_eq(ev.created, 30);
    sl__db_fail_step = 1;
    cr_expect_eq(sl_repo_evidence_get(db, vid, "o1", &a, &found, &ev, &err), SL_EIO,
                 "a failed read is an error, not absent evidence");
    sl__db_fail_step = 0;

    /* the schedule */
    cr_assert_eq(sl_repo_schedule_insert(db, vid, "open", 100, 40, uid, &step, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_repo_schedule_pending_count(db, model, &n, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(n, 1);
    cr_assert_eq(sl_repo_schedule_next_due(db, 99, &found, &due, &err), SL_OK, "%s", err.msg);
    cr_expect(!found, "not due before its time");
    cr_assert_eq(sl_repo_schedule_next_due(db, 100, &found, &due, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(due.id, step);
    cr_expect_eq(due.version_id, vid);
    cr_expect_str_eq(due.tier, "open");
    cr_expect_str_eq(due.model, "acme/m");
    cr_assert_eq(sl_repo_schedule_step_pending(db, step, &pending, &err), SL_OK, "%s", err.msg);
    cr_expect(pending);
    cr_assert_eq(sl_repo_schedule_step_finish(db, step, "done", NULL, 101, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_repo_schedule_step_pending(db, step, &pending, &err), SL_OK, "%s", err.msg);
    cr_expect(!pending);
    cr_expect_eq(sl_repo_schedule_step_finish(db, step, "later", NULL, 101, &err), SL_ECONFLICT,
                 "a status outside the schema's list breaks its check: %s", err.msg);
    memset(&ids, 0, sizeof(ids));
    cr_assert_eq(sl_repo_schedule(db, model, sched_cb, &ids, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(ids.n, 1);
    cr_expect_eq(ids.v[0], 1);
    sl_arena_release(&a);
    sl_db_close(db);
}

Test(sqlite, repo_versions_and_files)
{
    char *url = dbfix_sqlite_url();

    versions_and_files(url);
    free(url);
}

Test(pg, repo_versions_and_files)
{
    char *url = dbfix_pg_url("sl_test_repo_versions");

    versions_and_files(url);
    free(url);
}

Test(sqlite, repo_governance)
{
    char *url = dbfix_sqlite_url();

    governance(url);
    free(url);
}

Test(pg, repo_governance)
{
    char *url = dbfix_pg_url("sl_test_repo_govern");

    governance(url);
    free(url);
}
