/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline parts of the log client (src/client/log.c): checkpoints
 * opened with the server key (bad signature, extra signature, wrong
 * origin), the growth judgement against an in-memory tree (consistent
 * growth, rollback, fork, an inconsistent proof), the state file round
 * trip, rebuilding a tree from entry bundles and hash tiles (changed,
 * dropped and swapped entries found by index), starting a rebuild from a
 * verified tree's peaks, and offline tlog-proofs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "common/buf.h"
#include "common/io.h"
#include "crypto/crypto.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "tlog/tiles.h"
#include "../helpers.h"

#define URL "http://127.0.0.1:8080"

static char *tmp;

static void setup(void)
{
    tmp = th_tmpdir();
    setenv("XDG_STATE_HOME", tmp, 1);
    umask(022);
}

static void teardown(void)
{
    th_rmtree(tmp);
}

static void key_named(const char *name, unsigned char fill, struct sl_note_key *k)
{
    unsigned char seed[32];
    struct sl_error err;

    memset(seed, fill, sizeof(seed));
    cr_assert_eq(sl_note_key_from_seed(name, seed, k, &err), SL_OK, "%s", err.msg);
}

/* Entry i of the test logs: about 300 bytes of canonical-looking JSON. */
static char *entry_text(unsigned i, unsigned variant, size_t *len)
{
    char *s = malloc(512);
    int n = snprintf(s, 512,
                     "{\"account\":\"acct:%016x\",\"by\":\"acct:%016x\",\"log\":\"sluice\","
                     "\"model\":\"acme/model-%u\",\"text_sha256\":\"sha256:%064u\",\"time\":%u,"
                     "\"type\":\"access.%s\"}",
                     i * 7919u, i * 104729u, i % 17, i, 1795888800u + i,
                     variant ? "revoked" : "approved");

    cr_assert(n > 0 && n < 512);
    *len = (size_t)n;
    return s;
}

/* A log of n entries in memory (the tree), entries by entry_text(i, 0). */
static struct sl_merkle_mem *tree_of(uint64_t n, uint64_t changed, unsigned variant)
{
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    struct sl_error err;

    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        char *e = entry_text((unsigned)i, i == changed ? variant : 0, &len);
        unsigned char leaf[32];
        sl_merkle_leaf(e, len, leaf);
        cr_assert_eq(sl_merkle_mem_append(m, leaf, &err), SL_OK);
        free(e);
    }
    return m;
}

/* The signed checkpoint of (origin, size, root) with `keys`. */
static char *checkpoint_note(const char *origin, uint64_t size, const unsigned char root[32],
                             const struct sl_note_key *keys, size_t nkeys)
{
    struct sl_checkpoint c;
    struct sl_error err;
    char *text = NULL, *note = NULL;
    size_t len;

    memset(&c, 0, sizeof(c));
    snprintf(c.origin, sizeof(c.origin), "%s", origin);
    c.size = size;
    memcpy(c.root, root, 32);
    cr_assert_eq(sl_checkpoint_format(&c, &text, &len, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_note_sign(text, len, keys, nkeys, &note, &len, &err), SL_OK, "%s", err.msg);
    free(text);
    return note;
}

static char *mem_checkpoint(struct sl_merkle_mem *m, const struct sl_note_key *k)
{
    unsigned char root[32];

    sl_merkle_mem_root(m, root);
    return checkpoint_note(k->name, sl_merkle_mem_size(m), root, k, 1);
}

/* ---- checkpoints ---- */

Test(log_checkpoint, good_bad_extra_wrong_origin)
{
    struct sl_note_key k, other;
    struct sl_checkpoint c;
    struct sl_error err;
    struct sl_note_key both[2];
    unsigned char root[32];
    char *note;

    key_named("sluice", 1, &k);
    key_named("witness", 2, &other);
    memset(root, 0xab, sizeof(root));

    note = checkpoint_note("sluice", 42, root, &k, 1);
    cr_assert_eq(sl_client_checkpoint_verify(note, strlen(note), &k, &c, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_eq(c.size, 42);
    cr_expect_str_eq(c.origin, "sluice");
    cr_expect_eq(memcmp(c.root, root, 32), 0);
    sl_checkpoint_free(&c);

    /* one signature byte changed */
    {
        char *bad = strdup(note), *sig = strstr(bad, "\xe2\x80\x94 sluice ") + 12;
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
        cr_expect_eq(sl_client_checkpoint_verify(bad, strlen(bad), &k, &c, &err), SL_EREFUSED);
        cr_expect_str_eq(err.kind, SL_NOTE_K_BADSIG);
        free(bad);
    }
    /* the size changed under the signature */
    {
        char *bad = strdup(note);
        bad[strlen("sluice\n")] = '5';
        cr_expect_eq(sl_client_checkpoint_verify(bad, strlen(bad), &k, &c, &err), SL_EREFUSED);
        free(bad);
    }
    /* signed by another key only */
    free(note);
    note = checkpoint_note("sluice", 42, root, &other, 1);
    cr_expect_eq(sl_client_checkpoint_verify(note, strlen(note), &k, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_NOTE_K_UNVERIFIED);
    /* the server's signature plus another one riding along */
    free(note);
    both[0] = k;
    both[1] = other;
    note = checkpoint_note("sluice", 42, root, both, 2);
    cr_expect_eq(sl_client_checkpoint_verify(note, strlen(note), &k, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_EXTRA_SIG);
    cr_expect(strstr(err.msg, "witness") != NULL, "%s", err.msg);
    /* a checkpoint of another log under the server's key */
    free(note);
    note = checkpoint_note("other-log", 42, root, &k, 1);
    cr_expect_eq(sl_client_checkpoint_verify(note, strlen(note), &k, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_WRONG_ORIGIN);
    cr_expect(strstr(err.msg, "other-log") != NULL, "%s", err.msg);
    free(note);
    /* garbage */
    cr_expect_eq(sl_client_checkpoint_verify("sluice\n", 7, &k, &c, &err), SL_EINPUT);
    sl_note_key_clear(&k);
    sl_note_key_clear(&other);
}

Test(log_checkpoint, malformed_body_under_good_signature)
{
    struct sl_note_key k;
    struct sl_checkpoint c;
    struct sl_error err;
    static const char *const bodies[] = {
        "sluice\n042\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n",
        "sluice\n-1\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n",
        "sluice\n18446744073709551616\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n",
        "sluice\n42\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeA==\n",
        "sluice\n42\n",
    };

    key_named("sluice", 1, &k);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char *note = NULL;
        size_t len;
        cr_assert_eq(sl_note_sign(bodies[i], strlen(bodies[i]), &k, 1, &note, &len, &err), SL_OK);
        cr_expect_eq(sl_client_checkpoint_verify(note, len, &k, &c, &err), SL_EINPUT, "case %zu",
                     i);
        free(note);
    }
}

/* ---- growth ---- */

Test(log_growth, consistent_rollback_fork_inconsistent)
{
    struct sl_merkle_mem *m = tree_of(1000, UINT64_MAX, 0);
    struct sl_merkle_mem *f = tree_of(1000, 123, 1); /* entry 123 rewritten */
    unsigned char old[32], big[32], forked[32], proof[SL_MERKLE_MAX_HASHES][32];
    unsigned char fproof[SL_MERKLE_MAX_HASHES][32];
    size_t len = 0, flen = 0;
    struct sl_error err;

    cr_assert_eq(sl_merkle_root(300, sl_merkle_mem_read, m, old, &err), SL_OK);
    sl_merkle_mem_root(m, big);
    sl_merkle_mem_root(f, forked);
    cr_assert_eq(sl_merkle_consistency(300, 1000, sl_merkle_mem_read, m, proof, &len, &err), SL_OK);
    cr_assert_eq(sl_merkle_consistency(300, 1000, sl_merkle_mem_read, f, fproof, &flen, &err),
                 SL_OK);

    /* consistent growth, the same tree again, growth from nothing */
    cr_expect_eq(sl_client_log_check_growth(300, old, 1000, big, (const unsigned char(*)[32])proof,
                                            len, &err),
                 SL_OK, "%s", err.msg);
    cr_expect_eq(sl_client_log_check_growth(1000, big, 1000, big, NULL, 0, &err), SL_OK);
    {
        unsigned char empty[32];
        sl_sha256("", 0, empty);
        cr_expect_eq(sl_client_log_check_growth(0, empty, 1000, big, NULL, 0, &err), SL_OK);
    }

    /* rollback: the server shows the old, smaller tree */
    sl_error_clear(&err);
    cr_expect_eq(sl_client_log_check_growth(1000, big, 300, old, NULL, 0, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_ROLLBACK);
    cr_expect(strstr(err.msg, "300") && strstr(err.msg, "1000"), "%s", err.msg);

    /* fork: same size, another root */
    cr_expect_eq(sl_client_log_check_growth(1000, big, 1000, forked, NULL, 0, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_FORK);

    /* inconsistent: the forked tree's honest proof from 300 does not lead from
     * the client's 300 (entry 123 is inside the first 300) */
    cr_expect_eq(sl_client_log_check_growth(300, old, 1000, forked,
                                            (const unsigned char(*)[32])fproof, flen, &err),
                 SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_INCONSISTENT);
    cr_expect(strstr(err.msg, "300") && strstr(err.msg, "1000"), "%s", err.msg);
    /* nor does the right proof for the wrong new root, or a truncated proof */
    cr_expect_eq(sl_client_log_check_growth(300, old, 1000, forked,
                                            (const unsigned char(*)[32])proof, len, &err),
                 SL_EREFUSED);
    cr_expect_eq(sl_client_log_check_growth(300, old, 1000, big, (const unsigned char(*)[32])proof,
                                            len - 1, &err),
                 SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_INCONSISTENT);
    proof[0][0] ^= 1;
    cr_expect_eq(sl_client_log_check_growth(300, old, 1000, big, (const unsigned char(*)[32])proof,
                                            len, &err),
                 SL_EREFUSED);
    sl_merkle_mem_free(m);
    sl_merkle_mem_free(f);
}

/* ---- state ---- */

Test(log_state, round_trip_mode_and_no_going_back, .init = setup, .fini = teardown)
{
    struct sl_merkle_mem *m = tree_of(10, UINT64_MAX, 0);
    struct sl_note_key k;
    struct sl_log_state s, got;
    struct sl_error err;
    struct stat sb;
    char *note, *path = sl_client_log_state_path(URL);
    bool found = true;

    key_named("sluice", 1, &k);
    note = mem_checkpoint(m, &k);
    cr_assert_not_null(path);
    cr_expect(strncmp(path, tmp, strlen(tmp)) == 0, "%s", path);
    cr_expect(strstr(path, "/sluice/log/") != NULL, "%s", path);

    cr_assert_eq(sl_client_log_state_load(URL, &k, &got, &found, &err), SL_OK, "%s", err.msg);
    cr_expect(!found);

    memset(&s, 0, sizeof(s));
    s.size = 10;
    sl_merkle_mem_root(m, s.root);
    s.note = note;
    s.verified = 1795888800;
    cr_assert_eq(sl_client_log_state_save(URL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(sl_client_log_state_load(URL, &k, &got, &found, &err), SL_OK, "%s", err.msg);
    cr_expect(found);
    cr_expect_eq(got.size, 10);
    cr_expect_eq(memcmp(got.root, s.root, 32), 0);
    cr_expect_str_eq(got.note, note);
    cr_expect_eq(got.verified, 1795888800);
    sl_client_log_state_release(&got);

    /* another URL has its own state */
    cr_assert_eq(sl_client_log_state_load("http://127.0.0.1:8081", &k, &got, &found, &err), SL_OK);
    cr_expect(!found);

    /* a smaller tree never replaces a larger one */
    {
        struct sl_merkle_mem *small = tree_of(4, UINT64_MAX, 0);
        char *n4 = mem_checkpoint(small, &k);
        struct sl_log_state s4 = {4, {0}, n4, 0};
        sl_merkle_mem_root(small, s4.root);
        cr_assert_eq(sl_client_log_state_save(URL, &s4, &err), SL_OK);
        cr_assert_eq(sl_client_log_state_load(URL, &k, &got, &found, &err), SL_OK);
        cr_expect_eq(got.size, 10);
        sl_client_log_state_release(&got);
        free(n4);
        sl_merkle_mem_free(small);
    }

    /* a stored checkpoint the pinned key did not sign is refused */
    {
        struct sl_note_key other;
        key_named("sluice", 9, &other);
        cr_expect_eq(sl_client_log_state_load(URL, &other, &got, &found, &err), SL_EINPUT);
        cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
        cr_expect(!found);
    }
    free(note);
    free(path);
    sl_merkle_mem_free(m);
}

Test(log_state, edited_or_garbled_file_refused, .init = setup, .fini = teardown)
{
    struct sl_merkle_mem *m = tree_of(10, UINT64_MAX, 0);
    struct sl_note_key k;
    struct sl_log_state s, got;
    struct sl_error err;
    char *note, *path = sl_client_log_state_path(URL), *text = NULL, *edited;
    size_t len = 0;
    bool found;

    key_named("sluice", 1, &k);
    note = mem_checkpoint(m, &k);
    memset(&s, 0, sizeof(s));
    s.size = 10;
    sl_merkle_mem_root(m, s.root);
    s.note = note;
    cr_assert_eq(sl_client_log_state_save(URL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_read_file(path, 1 << 20, &text, &len, &err), SL_OK);

    /* the size edited (to skip a rollback check) */
    edited = strdup(text);
    {
        char *p = strstr(edited, "\"size\": 10");
        cr_assert_not_null(p);
        p[9] = '9';
    }
    {
        FILE *f = fopen(path, "w");
        fputs(edited, f);
        fclose(f);
    }
    cr_expect_eq(sl_client_log_state_load(URL, &k, &got, &found, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "edited") != NULL, "%s", err.msg);
    free(edited);

    /* not JSON */
    {
        FILE *f = fopen(path, "w");
        fputs("{nope", f);
        fclose(f);
    }
    cr_expect_eq(sl_client_log_state_load(URL, &k, &got, &found, &err), SL_EINPUT);
    free(text);
    free(note);
    free(path);
    sl_merkle_mem_free(m);
}

/* ---- rebuilding from bundles and tiles ---- */

struct fake_log {
    char **entries; /* what the server serves */
    size_t *lens;
    uint64_t n;
    struct sl_merkle_mem *hashes; /* what the server stored when appending */
};

static void fake_init(struct fake_log *f, uint64_t n)
{
    f->entries = calloc(n, sizeof(char *));
    f->lens = calloc(n, sizeof(size_t));
    f->n = n;
    for (uint64_t i = 0; i < n; i++)
        f->entries[i] = entry_text((unsigned)i, 0, &f->lens[i]);
    f->hashes = tree_of(n, UINT64_MAX, 0);
}

static void fake_free(struct fake_log *f)
{
    for (uint64_t i = 0; i < f->n; i++)
        free(f->entries[i]);
    free(f->entries);
    free(f->lens);
    sl_merkle_mem_free(f->hashes);
}

/* Feeds every bundle of [from, f->n) where entry `skip` (if < n) is left out
 * of its bundle, as a deleted database row would be. */
static enum sl_err feed_all(struct sl_log_rebuild *rb, struct fake_log *f, uint64_t skip,
                            struct sl_error *err)
{
    enum sl_err rc = SL_OK;

    while (!rc && sl_client_log_rebuild_size(rb) < f->n) {
        struct sl_tile t;
        struct sl_buf b = SL_BUF_INIT(1 << 24);
        unsigned char tile[SL_TILE_MAX_BYTES];
        size_t tlen = 0;
        uint64_t first;
        rc = sl_tile_for(SL_TILE_ENTRIES, sl_client_log_rebuild_size(rb), f->n, &t, err);
        cr_assert_eq(rc, SL_OK);
        first = t.index * SL_TILE_WIDTH;
        for (uint64_t i = first; i < first + t.width; i++)
            if (i != skip)
                cr_assert_eq(sl_bundle_add(&b, f->entries[i], f->lens[i], err), SL_OK);
        t.level = 0;
        cr_assert_eq(sl_tile_read(&t, f->n, sl_merkle_mem_read, f->hashes, tile, &tlen, err),
                     SL_OK);
        rc = sl_client_log_rebuild_feed(rb, first, t.width, (unsigned char *)b.data, b.len, tile,
                                        tlen, NULL, NULL, err);
        sl_buf_release(&b);
    }
    return rc;
}

static void root_of(struct fake_log *f, unsigned char root[32])
{
    sl_merkle_mem_root(f->hashes, root);
}

Test(log_rebuild, honest_log_rebuilds_to_its_root)
{
    struct fake_log f;
    struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
    struct sl_error err;
    unsigned char root[32], got[32];
    uint64_t bad, count;

    fake_init(&f, 1000);
    root_of(&f, root);
    cr_assert_eq(feed_all(rb, &f, UINT64_MAX, &err), SL_OK, "%s", err.msg);
    sl_client_log_rebuild_root(rb, got);
    cr_expect_eq(memcmp(got, root, 32), 0);
    cr_expect(!sl_client_log_rebuild_first_bad(rb, &bad, &count));
    cr_expect_eq(sl_client_log_rebuild_finish(rb, 1000, root, &err), SL_OK, "%s", err.msg);
    /* another root is reported as such */
    root[0] ^= 1;
    cr_expect_eq(sl_client_log_rebuild_finish(rb, 1000, root, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_ROOT);
    sl_client_log_rebuild_free(rb);
    fake_free(&f);
}

Test(log_rebuild, changed_dropped_swapped_named_by_first_bad_index)
{
    struct fake_log f;
    struct sl_error err;
    unsigned char root[32];
    uint64_t bad, count;

    fake_init(&f, 700);
    root_of(&f, root);

    /* one entry's text changed */
    {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        char *saved = f.entries[300];
        f.entries[300] = strdup(saved);
        f.entries[300][5] ^= 1;
        cr_assert_eq(feed_all(rb, &f, UINT64_MAX, &err), SL_OK);
        cr_expect(sl_client_log_rebuild_first_bad(rb, &bad, &count));
        cr_expect_eq(bad, 300);
        cr_expect_eq(count, 1);
        cr_expect_eq(sl_client_log_rebuild_finish(rb, 700, root, &err), SL_EREFUSED);
        cr_expect_str_eq(err.kind, SL_LOG_K_BAD_ENTRY);
        cr_expect(strstr(err.msg, "the first bad index is 300") != NULL, "%s", err.msg);
        free(f.entries[300]);
        f.entries[300] = saved;
        sl_client_log_rebuild_free(rb);
    }
    /* one entry dropped from the middle of a bundle: everything after it in
     * the bundle moves up one place */
    {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        cr_assert_eq(feed_all(rb, &f, 517, &err), SL_OK, "%s", err.msg);
        cr_expect(sl_client_log_rebuild_first_bad(rb, &bad, &count));
        cr_expect_eq(bad, 517);
        cr_expect_eq(sl_client_log_rebuild_finish(rb, 700, root, &err), SL_EREFUSED);
        cr_expect(strstr(err.msg, "the first bad index is 517") != NULL, "%s", err.msg);
        sl_client_log_rebuild_free(rb);
    }
    /* the last entry of a full bundle dropped */
    {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        cr_assert_eq(feed_all(rb, &f, 255, &err), SL_OK, "%s", err.msg);
        cr_expect(sl_client_log_rebuild_first_bad(rb, &bad, &count));
        cr_expect_eq(bad, 255);
        cr_expect_eq(count, 1);
        sl_client_log_rebuild_free(rb);
    }
    /* two entries swapped */
    {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        char *t = f.entries[42];
        size_t tl = f.lens[42];
        f.entries[42] = f.entries[600];
        f.lens[42] = f.lens[600];
        f.entries[600] = t;
        f.lens[600] = tl;
        cr_assert_eq(feed_all(rb, &f, UINT64_MAX, &err), SL_OK);
        cr_expect(sl_client_log_rebuild_first_bad(rb, &bad, &count));
        cr_expect_eq(bad, 42);
        cr_expect_eq(count, 2);
        cr_expect_eq(sl_client_log_rebuild_finish(rb, 700, root, &err), SL_EREFUSED);
        cr_expect(strstr(err.msg, "the first bad index is 42") != NULL, "%s", err.msg);
        f.entries[600] = f.entries[42];
        f.lens[600] = f.lens[42];
        f.entries[42] = t;
        f.lens[42] = tl;
        sl_client_log_rebuild_free(rb);
    }
    fake_free(&f);
}

Test(log_rebuild, recomputed_hashes_caught_by_the_root)
{
    /* A tamperer who rewrites entry 9 and recomputes the stored hashes makes
     * entries and tiles agree: only the signed root tells. */
    struct fake_log f;
    struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
    struct sl_error err;
    unsigned char root[32];
    uint64_t bad, count;

    fake_init(&f, 300);
    root_of(&f, root);
    free(f.entries[9]);
    f.entries[9] = entry_text(9, 1, &f.lens[9]);
    sl_merkle_mem_free(f.hashes);
    f.hashes = tree_of(300, 9, 1);
    cr_assert_eq(feed_all(rb, &f, UINT64_MAX, &err), SL_OK);
    cr_expect(!sl_client_log_rebuild_first_bad(rb, &bad, &count));
    cr_expect_eq(sl_client_log_rebuild_finish(rb, 300, root, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_ROOT);
    sl_client_log_rebuild_free(rb);
    fake_free(&f);
}

Test(log_rebuild, malformed_bundle_or_tile_is_input_error)
{
    struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
    struct sl_error err;
    unsigned char tile[64] = {0}, bundle[8] = {0, 9, 'x'};

    /* an entry running past the end */
    cr_expect_eq(sl_client_log_rebuild_feed(rb, 0, 2, bundle, 3, tile, 64, NULL, NULL, &err),
                 SL_EINPUT);
    /* a tile of the wrong length */
    bundle[1] = 1;
    cr_expect_eq(sl_client_log_rebuild_feed(rb, 0, 2, bundle, 3, tile, 32, NULL, NULL, &err),
                 SL_EINPUT);
    cr_expect_eq(sl_client_log_rebuild_size(rb), 0);
    sl_client_log_rebuild_free(rb);
}

struct seen {
    uint64_t first, count;
};

static void count_entry(void *ctx, uint64_t index, const unsigned char *e, size_t len)
{
    struct seen *s = ctx;

    (void)e;
    (void)len;
    if (s->count == 0)
        s->first = index;
    s->count++;
}

Test(log_rebuild, start_from_verified_peaks_then_grow)
{
    /* the monitor's path: a verified tree of 300, then entries to 777 */
    struct fake_log f;
    struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
    struct sl_error err;
    unsigned char old_root[32], root[32];
    struct seen seen = {0, 0};

    fake_init(&f, 777);
    cr_assert_eq(sl_merkle_root(300, sl_merkle_mem_read, f.hashes, old_root, &err), SL_OK);
    root_of(&f, root);
    cr_assert_eq(sl_client_log_rebuild_start(rb, 300, sl_merkle_mem_read, f.hashes, old_root, &err),
                 SL_OK, "%s", err.msg);
    cr_expect_eq(sl_client_log_rebuild_size(rb), 300);
    while (sl_client_log_rebuild_size(rb) < f.n) {
        struct sl_tile t;
        struct sl_buf b = SL_BUF_INIT(1 << 24);
        unsigned char tile[SL_TILE_MAX_BYTES];
        size_t tlen = 0;
        uint64_t first;
        cr_assert_eq(sl_tile_for(SL_TILE_ENTRIES, sl_client_log_rebuild_size(rb), f.n, &t, &err),
                     SL_OK);
        first = t.index * SL_TILE_WIDTH;
        for (uint64_t i = first; i < first + t.width; i++)
            sl_bundle_add(&b, f.entries[i], f.lens[i], &err);
        t.level = 0;
        cr_assert_eq(sl_tile_read(&t, f.n, sl_merkle_mem_read, f.hashes, tile, &tlen, &err), SL_OK);
        cr_assert_eq(sl_client_log_rebuild_feed(rb, first, t.width, (unsigned char *)b.data, b.len,
                                                tile, tlen, count_entry, &seen, &err),
                     SL_OK, "%s", err.msg);
        sl_buf_release(&b);
    }
    cr_expect_eq(seen.first, 300);
    cr_expect_eq(seen.count, 477);
    cr_expect_eq(sl_client_log_rebuild_finish(rb, 777, root, &err), SL_OK, "%s", err.msg);

    /* peaks that do not make the verified root are refused */
    old_root[3] ^= 1;
    cr_expect_eq(sl_client_log_rebuild_start(rb, 300, sl_merkle_mem_read, f.hashes, old_root, &err),
                 SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_ROOT);
    sl_client_log_rebuild_free(rb);
    fake_free(&f);
}

/* The same log fed as a batch on several threads gives the same verdicts. */
static enum sl_err feed_all_many(struct sl_log_rebuild *rb, struct fake_log *f, uint64_t skip,
                                 int threads, struct sl_error *err)
{
    size_t nb = (size_t)((f->n + SL_TILE_WIDTH - 1) / SL_TILE_WIDTH);
    struct sl_log_bundle *bs = calloc(nb, sizeof(*bs));
    struct sl_buf *bufs = calloc(nb, sizeof(*bufs));
    unsigned char *tiles = calloc(nb, SL_TILE_MAX_BYTES);
    enum sl_err rc;

    for (size_t k = 0; k < nb; k++) {
        struct sl_tile t;
        size_t tlen = 0;
        uint64_t first = (uint64_t)k * SL_TILE_WIDTH;
        cr_assert_eq(sl_tile_for(SL_TILE_ENTRIES, first, f->n, &t, err), SL_OK);
        sl_buf_init(&bufs[k], 1 << 24);
        for (uint64_t i = first; i < first + t.width; i++)
            if (i != skip)
                cr_assert_eq(sl_bundle_add(&bufs[k], f->entries[i], f->lens[i], err), SL_OK);
        t.level = 0;
        cr_assert_eq(sl_tile_read(&t, f->n, sl_merkle_mem_read, f->hashes,
                                  tiles + k * SL_TILE_MAX_BYTES, &tlen, err),
                     SL_OK);
        bs[k].first = first;
        bs[k].width = t.width;
        bs[k].bundle = (unsigned char *)bufs[k].data;
        bs[k].blen = bufs[k].len;
        bs[k].tile = tiles + k * SL_TILE_MAX_BYTES;
        bs[k].tlen = tlen;
    }
    rc = sl_client_log_rebuild_feed_many(rb, bs, nb, threads, err);
    for (size_t k = 0; k < nb; k++)
        sl_buf_release(&bufs[k]);
    free(bufs);
    free(tiles);
    free(bs);
    return rc;
}

Test(log_rebuild, parallel_feed_agrees_with_serial)
{
    struct fake_log f;
    struct sl_error err;
    unsigned char root[32], got[32];
    uint64_t bad, count;

    fake_init(&f, 1300); /* five full bundles and a partial one */
    root_of(&f, root);
    for (int threads = 1; threads <= 4; threads++) {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        cr_assert_eq(feed_all_many(rb, &f, UINT64_MAX, threads, &err), SL_OK, "%s", err.msg);
        cr_expect_eq(sl_client_log_rebuild_size(rb), 1300);
        sl_client_log_rebuild_root(rb, got);
        cr_expect_eq(memcmp(got, root, 32), 0, "%d threads", threads);
        cr_expect_eq(sl_client_log_rebuild_finish(rb, 1300, root, &err), SL_OK, "%s", err.msg);
        sl_client_log_rebuild_free(rb);
    }
    /* a dropped entry and a changed one, found by index on 3 threads */
    {
        struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
        char *saved = f.entries[1100];
        f.entries[1100] = strdup(saved);
        f.entries[1100][2] ^= 1;
        cr_assert_eq(feed_all_many(rb, &f, 700, 3, &err), SL_OK, "%s", err.msg);
        cr_expect(sl_client_log_rebuild_first_bad(rb, &bad, &count));
        cr_expect_eq(bad, 700);
        cr_expect_eq(count, 256 - (700 - 512) + 1, "%llu", (unsigned long long)count);
        cr_expect_eq(sl_client_log_rebuild_finish(rb, 1300, root, &err), SL_EREFUSED);
        cr_expect(strstr(err.msg, "the first bad index is 700") != NULL, "%s", err.msg);
        free(f.entries[1100]);
        f.entries[1100] = saved;
        sl_client_log_rebuild_free(rb);
    }
    fake_free(&f);
}

Test(log_rebuild, two_part_sha256_is_sha256_of_the_concatenation)
{
    unsigned char msg[700], a[32], b[32];

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 31 + 7);
    for (size_t n = 0; n <= sizeof(msg); n += 37)
        for (size_t cut = 0; cut <= n; cut += 13) {
            sl_sha256(msg, n, a);
            sl_sha256_2(msg, cut, msg + cut, n - cut, b);
            cr_expect_eq(memcmp(a, b, 32), 0, "n %zu cut %zu", n, cut);
        }
}

/* ---- offline tlog-proofs ---- */

Test(log_proof, verifies_offline_and_catches_changes)
{
    struct sl_merkle_mem *m = tree_of(77, UINT64_MAX, 0);
    struct sl_note_key k, other;
    struct sl_log_proof_check pc;
    struct sl_error err;
    unsigned char proof[SL_MERKLE_MAX_HASHES][32];
    char *note, *text = NULL, *entry;
    size_t plen = 0, len = 0, elen;

    key_named("sluice", 1, &k);
    key_named("sluice", 2, &other);
    note = mem_checkpoint(m, &k);
    cr_assert_eq(sl_merkle_inclusion(33, 77, sl_merkle_mem_read, m, proof, &plen, &err), SL_OK);
    cr_assert_eq(sl_client_log_proof_format(33, (const unsigned char(*)[32])proof, plen, note,
                                            &text, &len, &err),
                 SL_OK, "%s", err.msg);
    entry = entry_text(33, 0, &elen);
    cr_assert_eq(sl_client_log_proof_verify(text, len, entry, elen, &k, &pc, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_eq(pc.index, 33);
    cr_expect_eq(pc.cp.size, 77);
    sl_checkpoint_free(&pc.cp);

    /* another entry */
    entry[3] ^= 1;
    cr_expect_eq(sl_client_log_proof_verify(text, len, entry, elen, &k, &pc, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, SL_LOG_K_NOT_INCLUDED);
    entry[3] ^= 1;
    /* another key */
    cr_expect_eq(sl_client_log_proof_verify(text, len, entry, elen, &other, &pc, &err),
                 SL_EREFUSED);
    /* a hash of the path changed */
    {
        char *bad = strdup(text), *line = strstr(bad, "index 33\n") + 9;
        line[0] = line[0] == 'A' ? 'B' : 'A';
        cr_expect_neq(sl_client_log_proof_verify(bad, len, entry, elen, &k, &pc, &err), SL_OK);
        free(bad);
    }
    /* the index changed */
    {
        char *bad = strdup(text);
        strstr(bad, "index 33")[7] = '4';
        cr_expect_eq(sl_client_log_proof_verify(bad, len, entry, elen, &k, &pc, &err), SL_EREFUSED);
        free(bad);
    }
    /* malformed */
    cr_expect_eq(sl_client_log_proof_verify("c2sp.org/tlog-proof@v1\nindex 01\n", 32, entry, elen,
                                            &k, &pc, &err),
                 SL_EINPUT);
    free(entry);
    free(text);
    free(note);
    sl_merkle_mem_free(m);
}
