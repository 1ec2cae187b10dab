/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transparency log (docs/log.md). Every governance event is one
 * canonical JSON entry appended in the same transaction as the change it
 * records, so an event is logged if and only if it happened. The log is an
 * RFC 6962 tree: each append stores the leaf hash and the hashes of the
 * subtrees it completes (log_hashes), so roots, proofs and tiles are read,
 * never recomputed from the entries. Checkpoints are C2SP signed notes over
 * (origin, size, root); a new one is signed when the tree grew, under one
 * lock, each checked consistent with the one before, so the server never
 * signs two inconsistent trees. Accounts appear only as keyed pseudonyms
 * and free text only as digests.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/date.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "db/repo_log.h"
#include "tlog/merkle.h"
#include "tlog/tiles.h"
#include "common/banned.h"

void sl__pseudonym(const struct sl_registry *r, const char *model, int64_t user_id,
                   char out[SL_PSEUDONYM_LEN + 1])
{
    char msg[SL_NAME_MAX * 2 + 64];
    unsigned char mac[32];
    int n = snprintf(msg, sizeof(msg), "acct\n%s\n%lld", model, (long long)user_id);

    if (n < 0 || (size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    sl_hmac_sha256(r->log_secret, sizeof(r->log_secret), msg, (size_t)n, mac);
    memcpy(out, "acct:", 5);
    sl_hex(mac, 8, out + 5);
}

void sl__text_digest(const struct sl_registry *r, const char *s, char out[SL_TEXT_DIGEST_LEN + 1])
{
    unsigned char mac[32];
    size_t n = strlen(s);
    char *msg = sl_xmalloc(n + 6);

    memcpy(msg, "text\n", 5);
    memcpy(msg + 5, s, n + 1);
    sl_hmac_sha256(r->log_secret, sizeof(r->log_secret), msg, n + 5, mac);
    free(msg);
    memcpy(out, "hmac-sha256:", 12);
    sl_hex(mac, 32, out + 12);
}

void sl__public_digest(const char *s, char out[73])
{
    unsigned char h[32];

    sl_sha256(s, strlen(s), h);
    memcpy(out, "sha256:", 7);
    sl_hex(h, 32, out + 7);
}

/* The stored-hash callback over log_hashes. */
static enum sl_err read_hash(void *ctx, int level, uint64_t index, unsigned char out[32],
                             struct sl_error *err)
{
    bool found = false;
    enum sl_err rc = sl_repo_log_hash_get(ctx, level, index, out, &found, err);

    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_EINTERNAL, "the log has no hash at level %d index %llu", level,
                            (unsigned long long)index);
    return SL_OK;
}

static enum sl_err tree_size(struct sl_db *db, uint64_t *size, struct sl_error *err)
{
    return sl_repo_log_size(db, size, err);
}

/* The hashes sl_repo_log_tail() read with the size, then the database. */
struct edge_ctx {
    struct sl_db *db;
    uint64_t n;
    unsigned char edge[SL_REPO_LOG_EDGE][32];
    bool have[SL_REPO_LOG_EDGE];
};

static enum sl_err read_edge(void *ctx, int level, uint64_t index, unsigned char out[32],
                             struct sl_error *err)
{
    struct edge_ctx *e = ctx;

    if (level < SL_REPO_LOG_EDGE && e->have[level] && index == (e->n >> level) - 1) {
        memcpy(out, e->edge[level], 32);
        return SL_OK;
    }
    return read_hash(e->db, level, index, out, err);
}

_Static_assert(SL_REPO_LOG_MAX_HASHES == SL_MERKLE_MAX_HASHES,
               "db/repo_log.h and tlog/merkle.h agree on the hashes of one append");

enum sl_err sl__log_append(struct sl_registry *r, struct sl_db *db, json_t *entry, int64_t *idx,
                           struct sl_error *err)
{
    unsigned char leaf[32], hashes[SL_MERKLE_MAX_HASHES][32];
    struct edge_ctx e;
    char *text;
    size_t len;
    int count = 0;
    int64_t now = sl__now();
    enum sl_err rc;

    json_object_set_new(entry, "time", json_integer(now));
    json_object_set_new(entry, "log", json_string(r->origin));
    text = sl_json_dump(entry, 0, &len);
    if (len > SL_ENTRY_MAX) {
        free(text);
        return sl_error_set(err, SL_ELIMIT,
                            "the log entry for this %s event would be %zu bytes, over 65,535",
                            json_string_value(json_object_get(entry, "type")), len);
    }
    /* Three round trips on PostgreSQL while the lock is held: the lock
     * (max(idx) + 1 across servers), the size with the right edge of the
     * tree, and the entry with its hashes. */
    e.db = db;
    rc = sl_db_lock(db, SL_DB_LOCK_LOG, err);
    if (!rc)
        rc = sl_repo_log_tail(db, &e.n, e.edge, e.have, err);
    if (rc) {
        free(text);
        return rc;
    }
    sl_merkle_leaf(text, len, leaf);
    rc = sl_merkle_append(e.n, leaf, read_edge, &e, hashes, &count, err);
    if (!rc)
        rc = sl_repo_log_append(db, e.n, text, len, now,
                                json_string_value(json_object_get(entry, "model")),
                                (const unsigned char(*)[32])hashes, count, err);
    free(text);
    if (!rc && idx)
        *idx = (int64_t)e.n;
    return rc;
}

/* ---- checkpoints ---- */

/* The newest checkpoint: size, root and note (malloc'd), or size -1. */
static enum sl_err latest(struct sl_db *db, int64_t *size, unsigned char root[32], char **note,
                          struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_log_checkpoint_row row;
    bool found = false;
    enum sl_err rc = sl_repo_log_checkpoint_latest(db, &a, &row, &found, err);

    *size = -1;
    if (note)
        *note = NULL;
    if (!rc && found) {
        *size = row.size;
        memcpy(root, row.root, 32);
        if (note)
            *note = sl_xstrdup(row.note);
    }
    sl_arena_release(&a);
    return rc;
}

/* The newest signed checkpoint as it is. */
static enum sl_err latest_note(struct sl_db *db, char **note, uint64_t *size, struct sl_error *err)
{
    unsigned char root[32];
    int64_t n;
    enum sl_err rc = latest(db, &n, root, note, err);

    if (!rc && n < 0)
        rc = sl_error_set(err, SL_EINTERNAL, "the log has no signed checkpoint");
    *size = n < 0 ? 0 : (uint64_t)n;
    return rc;
}

/* Signs a checkpoint of the whole tree when it grew since the newest one
 * (or when there is none). Inside the log lock. */
static enum sl_err checkpoint_locked(struct sl_registry *r, struct sl_db *db, char **note,
                                     uint64_t *size_out, struct sl_error *err)
{
    unsigned char root[32], old_root[32], proof[SL_MERKLE_MAX_HASHES][32];
    struct sl_checkpoint c;
    int64_t old_size;
    uint64_t n = 0;
    size_t plen = 0, len;
    char *text = NULL;
    enum sl_err rc = sl_db_begin_read(db, err);

    *note = NULL;
    if (rc)
        return rc;
    rc = tree_size(db, &n, err);
    if (!rc)
        rc = latest(db, &old_size, old_root, note, err);
    if (!rc && old_size >= 0 && (uint64_t)old_size == n) {
        sl_db_rollback(db);
        *size_out = n;
        return SL_OK;
    }
    free(*note);
    *note = NULL;
    if (!rc)
        rc = sl_merkle_root(n, read_hash, db, root, err);
    /* the new tree must extend the last one signed */
    if (!rc && old_size > 0) {
        rc = sl_merkle_consistency((uint64_t)old_size, n, read_hash, db, proof, &plen, err);
        if (rc == SL_EUNAVAILABLE || rc == SL_EIO) {
            /* the database failed (unreachable, a disk error), not the log:
             * an error to retry, never a reason to call the log broken */
            sl_db_rollback(db);
            return rc;
        }
        if (!rc)
            rc = sl_merkle_verify_consistency((uint64_t)old_size, n, old_root, root,
                                              (const unsigned char(*)[32])proof, plen, err);
        if (rc) {
            /* the stored log no longer extends what was signed: never sign
             * it; keep serving the last good checkpoint so clients see the
             * break when they check the entries against it */
            fprintf(stderr,
                    "{\"event\":\"log_inconsistent\",\"size\":%llu,\"signed\":%lld,"
                    "\"message\":\"refusing to sign a checkpoint that is not consistent with "
                    "the last one\"}\n",
                    (unsigned long long)n, (long long)old_size);
            sl_db_rollback(db);
            return latest_note(db, note, size_out, err);
        }
    }
    sl_db_rollback(db);
    if (rc)
        return rc;
    memset(&c, 0, sizeof(c));
    snprintf(c.origin, sizeof(c.origin), "%s", r->origin);
    c.size = n;
    memcpy(c.root, root, 32);
    rc = sl_checkpoint_format(&c, &text, &len, err);
    if (!rc)
        rc = sl_note_sign(text, len, &r->note_key, 1, note, &len, err);
    free(text);
    if (rc)
        return rc;
    rc = sl_db_begin(db, err);
    if (!rc) {
        rc = sl_repo_log_checkpoint_insert(db, n, root, *note, sl__now(), err);
        if (!rc)
            rc = sl_db_commit(db, err);
        if (rc)
            sl_db_rollback(db);
    }
    if (rc) {
        free(*note);
        *note = NULL;
        return rc;
    }
    *size_out = n;
    return SL_OK;
}

enum sl_err sl_reg_log_checkpoint(struct sl_registry *r, char **note, uint64_t *size,
                                  struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    enum sl_err rc;

    *note = NULL;
    if (!db)
        return err->code;
    pthread_mutex_lock(&r->log_lock);
    rc = checkpoint_locked(r, db, note, size, err);
    pthread_mutex_unlock(&r->log_lock);
    return rc;
}

/* The newest checkpoint's size and root; when there is none yet, one is
 * made. Not inside a transaction of the caller's. */
static enum sl_err current(struct sl_registry *r, struct sl_db *db, int64_t *size,
                           unsigned char root[32], struct sl_error *err)
{
    enum sl_err rc = latest(db, size, root, NULL, err);
    char *note = NULL;
    uint64_t n = 0;

    if (rc || *size >= 0)
        return rc;
    rc = sl_reg_log_checkpoint(r, &note, &n, err);
    free(note);
    if (rc)
        return rc;
    return latest(db, size, root, NULL, err);
}

/* ---- proofs, tiles, entries ---- */

enum sl_err sl_reg_log_size(struct sl_registry *r, uint64_t *size, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return tree_size(db, size, err);
}

/* An inclusion proof of entry `a` (consistency false) or a consistency proof
 * from size `a` (true) for a tree of `size` entries, read in one snapshot. */
static enum sl_err proof_in_snapshot(struct sl_registry *r, bool consistency, uint64_t a,
                                     uint64_t size, unsigned char (*proof)[32], size_t *len,
                                     struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    uint64_t n = 0;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_db_begin_read(db, err);
    if (!rc)
        rc = tree_size(db, &n, err);
    if (!rc && size > n)
        rc = sl_error_set(err, SL_ENOTFOUND, "the log has %llu entries, not %llu",
                          (unsigned long long)n, (unsigned long long)size);
    if (!rc)
        rc = consistency ? sl_merkle_consistency(a, size, read_hash, db, proof, len, err)
                         : sl_merkle_inclusion(a, size, read_hash, db, proof, len, err);
    sl_db_rollback(db);
    return rc;
}

enum sl_err sl_reg_log_inclusion(struct sl_registry *r, uint64_t index, uint64_t size,
                                 unsigned char (*proof)[32], size_t *len, struct sl_error *err)
{
    return proof_in_snapshot(r, false, index, size, proof, len, err);
}

enum sl_err sl_reg_log_consistency(struct sl_registry *r, uint64_t m, uint64_t size,
                                   unsigned char (*proof)[32], size_t *len, struct sl_error *err)
{
    return proof_in_snapshot(r, true, m, size, proof, len, err);
}

enum sl_err sl_reg_log_proof(struct sl_registry *r, int64_t index, char **text,
                             struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_tlog_proof p;
    int64_t size;
    unsigned char root[32];
    char *note = NULL;
    size_t len;
    enum sl_err rc;

    *text = NULL;
    if (!db)
        return err->code;
    if (index < 0)
        return sl_error_set(err, SL_ENOTFOUND, "this record has no log entry");
    rc = latest(db, &size, root, &note, err);
    if (!rc && size <= index) {
        uint64_t n = 0;
        free(note);
        note = NULL;
        rc = sl_reg_log_checkpoint(r, &note, &n, err);
        size = (int64_t)n;
    }
    if (rc) {
        free(note);
        return rc;
    }
    memset(&p, 0, sizeof(p));
    p.index = (uint64_t)index;
    rc = sl_reg_log_inclusion(r, (uint64_t)index, (uint64_t)size, p.hashes, &p.nhashes, err);
    if (!rc) {
        p.checkpoint = note;
        p.checkpoint_len = strlen(note);
        rc = sl_tlog_proof_format(&p, text, &len, err);
    }
    free(note);
    return rc;
}

struct bundle_ctx {
    struct sl_buf *out;
    struct sl_error *err;
    enum sl_err rc;
};

static int bundle_entry(void *ctx, const struct sl_log_entry_row *row)
{
    struct bundle_ctx *b = ctx;

    b->rc = sl_bundle_add(b->out, row->text, row->len, b->err);
    return b->rc != SL_OK;
}

enum sl_err sl_reg_log_tile(struct sl_registry *r, const char *path, struct sl_buf *out, bool *full,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_tile t;
    int64_t size;
    unsigned char root[32];
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_tile_parse(path, strlen(path), &t, err);
    if (rc)
        return rc;
    *full = t.width == SL_TILE_WIDTH;
    rc = current(r, db, &size, root, err);
    if (!rc)
        rc = sl_db_begin_read(db, err);
    if (rc)
        return rc;
    if (t.level == SL_TILE_ENTRIES) {
        uint64_t start = t.index * SL_TILE_WIDTH, end = start + t.width;
        if (end > (uint64_t)size) {
            rc = sl_error_set(err, SL_ENOTFOUND,
                              "the checkpointed log has %lld entries; this bundle needs %llu",
                              (long long)size, (unsigned long long)end);
        } else {
            /* the entries as stored: a damaged store gives a short
             * bundle, which clients check against the hashes */
            struct bundle_ctx b = {out, err, SL_OK};
            rc = sl_repo_log_entries_range(db, start, end, bundle_entry, &b, err);
            if (!rc)
                rc = b.rc;
        }
    } else {
        unsigned char buf[SL_TILE_MAX_BYTES];
        size_t n = 0;
        rc = sl_tile_read(&t, (uint64_t)size, read_hash, db, buf, &n, err);
        if (!rc && sl_buf_add(out, buf, n) != SL_OK)
            rc = sl_error_set(err, SL_ELIMIT, "tile too large");
    }
    sl_db_rollback(db);
    return rc;
}

/* Makes room for element n of an arena array of `size`-byte elements. */
static void *arena_grow(struct sl_arena *a, void *v, size_t n, size_t *cap, size_t size)
{
    void *w;

    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 16;
    w = sl_arena_alloc(a, *cap * size);
    if (n)
        memcpy(w, v, n * size);
    return w;
}

struct entries_ctx {
    struct sl_arena *a;
    struct sl_reg_log_entry *v;
    size_t n, cap;
};

static int add_entry(void *ctx, const struct sl_log_entry_row *row)
{
    struct entries_ctx *w = ctx;

    w->v = arena_grow(w->a, w->v, w->n, &w->cap, sizeof(*w->v));
    w->v[w->n].index = (uint64_t)row->idx;
    w->v[w->n].text = sl_arena_strndup(w->a, row->text, row->len);
    w->n++;
    return 0;
}

enum sl_err sl_reg_log_entries(struct sl_registry *r, uint64_t start, uint64_t end,
                               struct sl_arena *a, struct sl_reg_log_entry **out, size_t *n,
                               struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct entries_ctx w = {a, NULL, 0, 0};
    enum sl_err rc;

    *out = NULL;
    *n = 0;
    if (!db)
        return err->code;
    if (end <= start || end - start > 1000)
        return sl_error_set(err, SL_EINPUT, "ask for 1 to 1,000 entries (start <= i < end)");
    rc = sl_repo_log_entries_range(db, start, end, add_entry, &w, err);
    if (rc)
        return rc;
    *out = w.v;
    *n = w.n;
    return SL_OK;
}

int64_t sl_reg_version_log_index(struct sl_registry *r, int64_t version_id)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    int64_t v = -1;

    if (!db || sl_repo_log_version_idx(db, version_id, &v, &err) != SL_OK)
        return -1;
    return v;
}

int64_t sl_reg_license_log_index(struct sl_registry *r, const char *license_id)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    int64_t v = -1;

    if (!db || sl_repo_log_license_idx(db, license_id, &v, &err) != SL_OK)
        return -1;
    return v;
}

enum sl_err sl_reg_log_policy(struct sl_registry *r, bool *logged, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    json_t *packs = json_array(), *e;
    int32_t today = sl_date_today();
    char *text, *prev = NULL;
    bool found = false;
    enum sl_err rc = SL_OK;

    *logged = false;
    if (atomic_load(&r->policy_day) == today) {
        json_decref(packs);
        return SL_OK; /* checked already today */
    }
    if (!db) {
        json_decref(packs);
        return err->code;
    }
    for (size_t i = 0; i < sl_packset_count(r->policy); i++) {
        struct sl_pack_info in;
        char *doc, hex[65];
        unsigned char h[32];
        sl_packset_info(r->policy, i, &in);
        if (!in.default_active || in.effective > today || in.rescinded <= today)
            continue;
        doc = sl_json_dump(sl_packset_doc(r->policy, in.id), 0, NULL);
        sl_sha256(doc, strlen(doc), h);
        sl_hex(h, 32, hex);
        free(doc);
        json_array_append_new(packs, json_pack("{s:s, s:s, s:s, s:s}", "id", in.id, "version",
                                               in.version, "status", in.status, "sha256", hex));
    }
    text = sl_json_dump(packs, 0, NULL);
    rc = sl_repo_log_policy_get(db, &a, &prev, &found, err);
    if (rc || (found && strcmp(prev, text) == 0))
        goto out;
    rc = sl_db_begin(db, err);
    if (rc)
        goto out;
    e = json_pack("{s:s, s:O}", "type", "policy.activated", "packs", packs);
    rc = sl__log_append(r, db, e, NULL, err);
    json_decref(e);
    if (!rc)
        rc = sl_repo_log_policy_set(db, text, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    else
        *logged = true;
out:
    if (!rc)
        atomic_store(&r->policy_day, today);
    sl_arena_release(&a);
    free(text);
    json_decref(packs);
    return rc;
}

struct report_ctx {
    struct sl_arena *a;
    struct sl_reg_report *rep;
    size_t cap_events, cap_grants, cap_versions, cap_evals;
};

static int add_event(void *ctx, const struct sl_log_entry_row *row)
{
    struct report_ctx *w = ctx;
    struct sl_reg_report *rep = w->rep;
    struct sl_reg_report_event *e;

    rep->events = arena_grow(w->a, rep->events, rep->nevents, &w->cap_events, sizeof(*e));
    e = &rep->events[rep->nevents++];
    memset(e, 0, sizeof(*e));
    e->index = (uint64_t)row->idx;
    e->text = sl_arena_strndup(w->a, row->text, row->len);
    return 0;
}

static int add_grant(void *ctx, const struct sl_grant_count_row *row)
{
    struct report_ctx *w = ctx;
    struct sl_reg_report *rep = w->rep;
    const char *status = row->expired ? "expired" : row->status;
    struct sl_reg_report_grant *g;

    for (size_t i = 0; i < rep->ngrants; i++) {
        if (strcmp(rep->grants[i].status, status) == 0) {
            rep->grants[i].count += row->count;
            return 0;
        }
    }
    rep->grants = arena_grow(w->a, rep->grants, rep->ngrants, &w->cap_grants, sizeof(*g));
    g = &rep->grants[rep->ngrants++];
    snprintf(g->status, sizeof(g->status), "%s", status);
    g->count = row->count;
    return 0;
}

static int add_version(void *ctx, const struct sl_version_history_row *row)
{
    struct report_ctx *w = ctx;
    struct sl_reg_report *rep = w->rep;
    struct sl_reg_report_version *v;

    rep->versions = arena_grow(w->a, rep->versions, rep->nversions, &w->cap_versions, sizeof(*v));
    v = &rep->versions[rep->nversions++];
    v->seq = row->seq;
    memcpy(v->commit, row->commit, sizeof(v->commit));
    memcpy(v->tier, row->tier, sizeof(v->tier));
    memcpy(v->min_tier, row->min_tier, sizeof(v->min_tier));
    memcpy(v->floor_tier, row->floor_tier, sizeof(v->floor_tier));
    v->created = row->created;
    return 0;
}

static int add_eval(void *ctx, const struct sl_model_attestation_row *row)
{
    struct report_ctx *w = ctx;
    struct sl_reg_report *rep = w->rep;
    struct sl_reg_report_eval *e;

    rep->evals = arena_grow(w->a, rep->evals, rep->nevals, &w->cap_evals, sizeof(*e));
    e = &rep->evals[rep->nevals++];
    e->seq = row->seq;
    e->evaluator = sl_arena_strdup(w->a, row->evaluator ? row->evaluator : "");
    e->domain = sl_arena_strdup(w->a, row->domain ? row->domain : "");
    e->level = sl_arena_strdup(w->a, row->level ? row->level : "");
    e->date = row->date;
    return 0;
}

enum sl_err sl_reg_report(struct sl_registry *r, int64_t model_id, const char *model,
                          struct sl_arena *a, struct sl_reg_report *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct report_ctx w;
    char *note = NULL;
    uint64_t size = 0;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    memset(&w, 0, sizeof(w));
    w.a = a;
    w.rep = out;
    out->model = model;
    if (!db)
        return err->code;
    /* a checkpoint covering every entry so far, then proofs against it */
    rc = sl_reg_log_checkpoint(r, &note, &size, err);
    if (rc)
        return rc;
    out->checkpoint = sl_arena_strdup(a, note);
    out->checkpoint_size = size;
    free(note);
    rc = sl_db_begin_read(db, err);
    if (rc)
        return rc;
    rc = sl_repo_log_entries_of_model(db, model, size, add_event, &w, err);
    for (size_t i = 0; i < out->nevents && !rc; i++) {
        struct sl_reg_report_event *ev = &out->events[i];
        unsigned char proof[SL_MERKLE_MAX_HASHES][32];
        size_t n = 0;
        rc = sl_merkle_inclusion(ev->index, size, read_hash, db, proof, &n, err);
        if (rc)
            break;
        ev->proof = sl_arena_alloc(a, (n ? n : 1) * 32);
        memcpy(ev->proof, proof, n * 32);
        ev->nproof = n;
    }
    if (!rc)
        rc = sl_repo_model_grant_counts(db, model_id, sl__now(), add_grant, &w, err);
    if (!rc)
        rc = sl_repo_version_history(db, model_id, add_version, &w, err);
    if (!rc)
        rc = sl_repo_attestations_of_model(db, model_id, add_eval, &w, err);
    sl_db_rollback(db);
    if (rc) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    return SL_OK;
}
