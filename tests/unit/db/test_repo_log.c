/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of the transparency log (src/db/repo_log.c) on
 * both drivers: an empty log, entries appended and listed in order (and a
 * list stopped early), hashes found and not found, a second entry or hash at
 * the same place a conflict, the newest checkpoint (one of the same size
 * kept), the policy state, and a failed step failing the whole list; the
 * append path (sl_repo_log_tail + sl_repo_log_append) building the same
 * tree as the in-memory reference across the edge it reads with the size
 * (sizes 255, 256, 511, 512), a missing edge row reported, never invented,
 * an append at a taken index storing nothing, and on PostgreSQL two
 * connections appending at once without a gap or a fork. The PostgreSQL half
 * runs as `ctest -R unit_pg.db`.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "db/repo_log.h"
#include "tlog/merkle.h"
#include "../helpers.h"
#include "dbfix.h"

struct seen {
    int64_t idx[8];
    int n, stop_at;
};

static int note_entry(void *ctx, const struct sl_log_entry_row *row)
{
    struct seen *s = ctx;

    cr_expect_eq(row->len, strlen(row->text));
    if (s->n < 8)
        s->idx[s->n] = row->idx;
    s->n++;
    return s->n == s->stop_at;
}

static void log_ops(const char *url)
{
    struct sl_db *db = NULL;
    struct sl_error err;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_log_checkpoint_row cp;
    struct seen s;
    unsigned char h[32], got[32];
    uint64_t size = 99;
    char *value = NULL;
    bool found = true;

    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_size(db, &size, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(size, 0, "an empty log has no entries");
    cr_expect_eq(sl_repo_log_checkpoint_latest(db, &a, &cp, &found, &err), SL_OK);
    cr_expect(!found);
    cr_expect_eq(cp.size, -1);
    found = true;
    cr_expect_eq(sl_repo_log_policy_get(db, &a, &value, &found, &err), SL_OK);
    cr_expect(!found);

    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    for (uint64_t i = 0; i < 3; i++) {
        char text[40];
        snprintf(text, sizeof(text), "{\"n\":%llu}", (unsigned long long)i);
        cr_assert_eq(
            sl_repo_log_entry_insert(db, i, text, strlen(text), 1000, i ? "acme/m" : NULL, &err),
            SL_OK, "%s", err.msg);
    }
    memset(h, 0xab, sizeof(h));
    cr_assert_eq(sl_repo_log_hash_insert(db, 0, 2, h, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);

    /* the same index twice is a conflict, never a second entry */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(sl_repo_log_entry_insert(db, 1, "{}", 2, 1, NULL, &err), SL_ECONFLICT, "%s",
                 err.msg);
    sl_db_rollback(db);
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(sl_repo_log_hash_insert(db, 0, 2, h, &err), SL_ECONFLICT, "%s", err.msg);
    sl_db_rollback(db);

    cr_expect_eq(sl_repo_log_size(db, &size, &err), SL_OK);
    cr_expect_eq(size, 3);
    memset(&s, 0, sizeof(s));
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 3);
    cr_expect(s.idx[0] == 0 && s.idx[1] == 1 && s.idx[2] == 2, "in order");
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 1, "stopped when asked");
    memset(&s, 0, sizeof(s));
    cr_expect_eq(sl_repo_log_entries_of_model(db, "acme/m", 2, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 1, "only the model's entries before the size");
    cr_expect_eq(s.idx[0], 1);
    memset(&s, 0, sizeof(s));
    sl__db_fail_step = 3;
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_EIO);
    sl__db_fail_step = 0;
    cr_expect_eq(s.n, 2, "two rows came, then the failed step made the list an error");

    cr_expect_eq(sl_repo_log_hash_get(db, 0, 2, got, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_arr_eq(got, h, 32);
    cr_expect_eq(sl_repo_log_hash_get(db, 0, 3, got, &found, &err), SL_OK);
    cr_expect(!found);

    memset(h, 1, sizeof(h));
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 2, h, "two\n", 5, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 3, h, "three\n", 6, &err), SL_OK);
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 3, h, "other\n", 7, &err), SL_OK,
                 "a checkpoint of the same size already stored is kept: %s", err.msg);
    cr_expect_eq(sl_repo_log_checkpoint_latest(db, &a, &cp, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_eq(cp.size, 3);
    cr_expect_str_eq(cp.note, "three\n");
    cr_expect_arr_eq(cp.root, h, 32);

    cr_expect_eq(sl_repo_log_policy_set(db, "[1]", &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_policy_set(db, "[2]", &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_policy_get(db, &a, &value, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_str_eq(value, "[2]");
    sl_arena_release(&a);
    sl_db_close(db);
}

Test(sqlite, repo_log_operations)
{
    char *url = dbfix_sqlite_url();

    log_ops(url);
    free(url);
}

Test(pg, repo_log_operations)
{
    char *url = dbfix_pg_url("t_repo_log");

    log_ops(url);
    free(url);
}

/* The edge read with the size, then the database (as registry/log.c). */
struct edge {
    struct sl_db *db;
    uint64_t n;
    unsigned char h[SL_REPO_LOG_EDGE][32];
    bool have[SL_REPO_LOG_EDGE];
    int from_db; /* reads the edge did not hold */
};

static enum sl_err edge_read(void *ctx, int level, uint64_t index, unsigned char out[32],
                             struct sl_error *err)
{
    struct edge *e = ctx;
    bool found = false;
    enum sl_err rc;

    if (level < SL_REPO_LOG_EDGE && e->have[level] && index == (e->n >> level) - 1) {
        memcpy(out, e->h[level], 32);
        return SL_OK;
    }
    e->from_db++;
    rc = sl_repo_log_hash_get(e->db, level, index, out, &found, err);
    if (!rc && !found)
        rc =
            sl_error_set(err, SL_EINTERNAL, "no hash at %d/%llu", level, (unsigned long long)index);
    return rc;
}

/* One append as the registry makes it, in a transaction of its own;
 * returns the index it got. */
static uint64_t append_one(struct sl_db *db, const char *text, int *from_db)
{
    unsigned char leaf[32], hashes[SL_MERKLE_MAX_HASHES][32];
    struct sl_error err;
    struct edge e;
    int count = 0;

    memset(&e, 0, sizeof(e));
    e.db = db;
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_log_tail(db, &e.n, e.h, e.have, &err), SL_OK, "%s", err.msg);
    for (int l = 0; l < SL_REPO_LOG_EDGE; l++) {
        uint64_t mask = (2ull << l) - 1;
        cr_assert_eq(e.have[l], (e.n & mask) == mask,
                     "size %llu: the edge at level %d is read exactly when the append needs it",
                     (unsigned long long)e.n, l);
    }
    sl_merkle_leaf(text, strlen(text), leaf);
    cr_assert_eq(sl_merkle_append(e.n, leaf, edge_read, &e, hashes, &count, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_repo_log_append(db, e.n, text, strlen(text), 7, "acme/m",
                                    (const unsigned char(*)[32])hashes, count, &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);
    if (from_db)
        *from_db += e.from_db;
    return e.n;
}

static void append_path(const char *url)
{
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    unsigned char leaf[32], want[32], got[32], edge[SL_REPO_LOG_EDGE][32];
    unsigned char hashes[SL_MERKLE_MAX_HASHES][32];
    bool have[SL_REPO_LOG_EDGE], found;
    struct sl_db *db = NULL;
    struct sl_error err;
    struct seen s;
    uint64_t size = 0;
    int from_db = 0;

    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "%s", err.msg);
    for (uint64_t i = 0; i < 515; i++) {
        char text[40];
        snprintf(text, sizeof(text), "{\"n\":%llu}", (unsigned long long)i);
        cr_assert_eq(append_one(db, text, &from_db), i, "indexes follow one another");
        sl_merkle_leaf(text, strlen(text), leaf);
        cr_assert_eq(sl_merkle_mem_append(m, leaf, &err), SL_OK);
    }
    /* only the appends at 511 (nine trailing ones) read past the edge */
    cr_expect_eq(from_db, 1, "hashes read outside the edge: %d", from_db);
    /* every stored hash is the reference's, and nothing more is stored */
    for (int level = 0; level < 10; level++) {
        for (uint64_t idx = 0; idx < (515u >> level); idx++) {
            cr_assert_eq(sl_repo_log_hash_get(db, level, idx, got, &found, &err), SL_OK);
            cr_assert(found, "hash %d/%llu stored", level, (unsigned long long)idx);
            cr_assert_eq(sl_merkle_mem_read(m, level, idx, want, &err), SL_OK);
            cr_assert_arr_eq(got, want, 32, "hash %d/%llu", level, (unsigned long long)idx);
        }
        cr_assert_eq(sl_repo_log_hash_get(db, level, 515u >> level, got, &found, &err), SL_OK);
        cr_assert(!found, "no hash past the tree at level %d", level);
    }
    memset(&s, 0, sizeof(s));
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 1000, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 515);

    /* a missing edge row is reported missing, never read as something else */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_assert_eq(sl_db_exec(db, "DELETE FROM log_hashes WHERE level = 1 AND idx = 256", &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_log_tail(db, &size, edge, have, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(size, 515);
    cr_expect(have[0], "515 is odd: its left sibling 0/514 is read");
    cr_expect(!have[1], "1/256 was deleted");
    cr_expect(!have[2], "515 & 7 is not 7");
    sl_db_rollback(db);

    /* an append at a taken index is a conflict and stores none of its rows */
    memset(hashes, 0x5a, sizeof(hashes));
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(
        sl_repo_log_append(db, 515, "{}", 2, 1, NULL, (const unsigned char(*)[32])hashes, 2, &err),
        SL_OK, "%s", err.msg);
    sl_db_rollback(db);
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(
        sl_repo_log_append(db, 514, "{}", 2, 1, NULL, (const unsigned char(*)[32])hashes, 1, &err),
        SL_ECONFLICT, "%s", err.msg);
    sl_db_rollback(db);
    /* a new entry whose hash row is taken: the append fails as a whole */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_assert_eq(sl_repo_log_hash_insert(db, 1, 300, hashes[0], &err), SL_OK, "%s", err.msg);
    cr_expect_eq(
        sl_repo_log_append(db, 601, "{}", 2, 1, NULL, (const unsigned char(*)[32])hashes, 2, &err),
        SL_ECONFLICT, "%s", err.msg);
    sl_db_rollback(db);
    cr_expect_eq(
        sl_repo_log_append(db, 515, "{}", 2, 1, NULL, (const unsigned char(*)[32])hashes, 0, &err),
        SL_EINTERNAL, "an append completes at least its leaf");
    cr_expect_eq(sl_repo_log_append(db, 515, "{}", 2, 1, NULL, (const unsigned char(*)[32])hashes,
                                    SL_REPO_LOG_MAX_HASHES + 1, &err),
                 SL_EINTERNAL);
    cr_expect_eq(sl_repo_log_size(db, &size, &err), SL_OK);
    cr_expect_eq(size, 515, "nothing of the refused appends was kept");
    sl_merkle_mem_free(m);
    sl_db_close(db);
}

Test(sqlite, repo_log_append_path)
{
    char *url = dbfix_sqlite_url();

    append_path(url);
    free(url);
}

Test(pg, repo_log_append_path)
{
    char *url = dbfix_pg_url("t_repo_log_append");

    append_path(url);
    free(url);
}

#define RACE_APPENDS 150

struct racer {
    const char *url;
    int who;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct sl_db *db = NULL;
    struct sl_error err;

    cr_assert_eq(sl_db_open(r->url, &db, &err), SL_OK, "%s", err.msg);
    for (int i = 0; i < RACE_APPENDS; i++) {
        char text[40];
        snprintf(text, sizeof(text), "{\"who\":%d,\"n\":%d}", r->who, i);
        append_one(db, text, NULL);
    }
    sl_db_close(db);
    return NULL;
}

struct rebuild {
    struct sl_merkle_mem *m;
    int n;
};

static int rebuild_entry(void *ctx, const struct sl_log_entry_row *row)
{
    struct rebuild *b = ctx;
    unsigned char leaf[32];
    struct sl_error err;

    cr_assert_eq(row->idx, b->n, "no gap at %d", b->n);
    sl_merkle_leaf(row->text, row->len, leaf);
    cr_assert_eq(sl_merkle_mem_append(b->m, leaf, &err), SL_OK);
    b->n++;
    return 0;
}

/* Two servers' connections appending at once: every append kept, indexes
 * without a gap, and the stored tree is the one the entries make (no fork:
 * no hash was computed from a stale edge). */
Test(pg, two_connections_append_at_once)
{
    char *url = dbfix_pg_url("t_repo_log_race");
    struct racer a = {url, 1}, b = {url, 2};
    struct rebuild rb = {sl_merkle_mem_new(), 0};
    struct sl_db *db = NULL;
    struct sl_error err;
    unsigned char want[32], got[32];
    pthread_t ta, tb;
    uint64_t size = 0;
    bool found;

    cr_assert_eq(pthread_create(&ta, NULL, race, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_log_size(db, &size, &err), SL_OK);
    cr_assert_eq(size, 2 * RACE_APPENDS, "every append kept");
    cr_assert_eq(sl_repo_log_entries_range(db, 0, size, rebuild_entry, &rb, &err), SL_OK);
    cr_assert_eq(rb.n, 2 * RACE_APPENDS);
    for (int level = 0; level < 9; level++) {
        for (uint64_t idx = 0; idx < (size >> level); idx++) {
            cr_assert_eq(sl_repo_log_hash_get(db, level, idx, got, &found, &err), SL_OK);
            cr_assert(found);
            cr_assert_eq(sl_merkle_mem_read(rb.m, level, idx, want, &err), SL_OK);
            cr_assert_arr_eq(got, want, 32, "hash %d/%llu is the entries' own", level,
                             (unsigned long long)idx);
        }
    }
    sl_merkle_mem_free(rb.m);
    sl_db_close(db);
    free(url);
}
