/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/registry/.
 */
#ifndef SL_REGISTRY_REGISTRY_INT_H
#define SL_REGISTRY_REGISTRY_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "db/db.h"
#include "formats/formats.h"
#include "policy/policy.h"
#include "registry/registry.h"
#include "store/store.h"
#include "tlog/note.h"

struct sl__dl_pending {
    int64_t version_id, day, n;
};

struct sl_registry {
    char *root;
    char *keys; /* the folder of the key files (--keys; default root) */
    char *db_path;
    char *origin;
    pthread_key_t db_key;
    struct sl_store *store; /* the blob store holding the packs */
    struct sl_packset *policy;
    unsigned char key_priv[SL_ED25519_PRIV_LEN];
    unsigned char key_pub[SL_ED25519_PUB_LEN];
    struct sl_note_key note_key;  /* the server key under the origin name */
    unsigned char log_secret[32]; /* log.secret: keys pseudonyms and text digests */
    pthread_mutex_t log_lock;     /* one checkpoint signer at a time */
    /* downloads counted since the last flush (hub.c): a GET of config.json
     * must not cost a database write */
    pthread_mutex_t dl_lock;
    /* held through a flush, so a reader's flush waits for one under way
     * (whose counts are out of memory and not yet committed) */
    pthread_mutex_t dl_flush;
    struct sl__dl_pending *dl;
    size_t ndl, dl_cap;
    _Atomic int32_t policy_day;  /* the day the packs in force were last logged */
    unsigned char fp_master[32]; /* the fingerprint secret (fp.key) */
    struct sl_fp_cache *fp_cache;
    bool shared;            /* PostgreSQL: other servers may share the database */
    struct sl_db *lead_db;  /* the leader lock's connection (leader.c; ticker thread) */
    struct sl_db *watch_db; /* the listening connection (leader.c; listener thread) */
    /* CLOCK_MONOTONIC ms until which the listener vouches that every NOTIFY
     * sent before it was heard (leader.c); 0: it does not */
    atomic_llong hub_heard_until_ms;
    struct sl__fh_table *fh; /* streamed file digests (filehash.c) */
};

/* ---- streamed file digests (filehash.c) ---- */

#define SL_FH_SID_LEN 16

/* A chunk of an upload request: its id, where this request stored it
 * (UINT64_MAX: it was already stored) and its length. */
struct sl__fh_chunk {
    unsigned char hash[32];
    uint64_t pack_offset;
    uint32_t length;
};

struct sl__fh;
struct sl__fh_table;
struct sl__fh_table *sl__fh_table_new(void);
void sl__fh_table_free(struct sl__fh_table *t);

/* A chunk upload naming session `sid` whose frames are the file's chunks
 * from index `from` on, in a body of `body_len` bytes. Returns the session
 * (NULL when the table is full); *inline_ is set when this request is next
 * in file order and hashes each chunk as it is verified (sl__fh_feed_hash).
 * A request ahead of its turn may instead get a window: *window is the
 * number of bytes reserved (0 for none) for holding its verified chunk bytes
 * in memory until their turn, so they are hashed without reading the packs
 * back. Every open is closed once. */
struct sl__fh *sl__fh_open(struct sl_registry *r, int64_t org_id,
                           const unsigned char sid[SL_FH_SID_LEN], uint64_t from, uint64_t body_len,
                           bool *inline_, size_t *window);
/* Adds one chunk to an inline request's session and writes its SHA-256 to
 * `id`, both hashes at once; the caller then checks `id` against the
 * declared one and fails the request (which spoils the session) if they
 * differ. */
void sl__fh_feed_hash(struct sl__fh *s, const void *bytes, uint32_t len, unsigned char id[32]);
/* The request ended; `committed` when its chunks are durable and recorded.
 * A committed out-of-order request leaves its chunks (v[0..n)) to be hashed
 * once the ones before it are: from `win` (their bytes, one after another,
 * `win_len` of them) when the request had a window, else read back from
 * pack `pack`. A failed inline one marks the session for a full read-back.
 * Takes `win` (malloc'd or NULL) and releases the `window` bytes reserved
 * at open. */
void sl__fh_close(struct sl_registry *r, struct sl__fh *s, bool inline_, bool committed,
                  uint64_t from, const struct sl__fh_chunk *v, size_t n, int64_t pack_id,
                  const char *pack, unsigned char *win, size_t win_len, size_t window);
/* Registration: removes the session and, unless it was spoiled, hands over
 * the digest of its first *next chunks (*nbytes bytes, of which *nread were
 * read back from the packs because their request arrived ahead of its turn
 * with no window; the caller finishes or frees *bytes) and the SHA-256 of
 * their ids, in order. False: read the whole file back. */
bool sl__fh_take(struct sl_registry *r, int64_t org_id, const unsigned char sid[SL_FH_SID_LEN],
                 struct sl_sha256_ctx **bytes, uint64_t *next, uint64_t *nbytes, uint64_t *nread,
                 unsigned char ids[32]);

/* ---- the log seam (log.c) ---- */

#define SL_PSEUDONYM_LEN 21 /* "acct:" + 16 hex digits */

/* Appends a governance event (a JSON object with at least "type") to the
 * log, inside the caller's write transaction, adding "time" and "log". The
 * entry is stored as canonical JSON (at most 65,535 bytes) with the tree
 * hashes it completes; `*idx` (when not NULL) gets its index. */
enum sl_err sl__log_append(struct sl_registry *r, struct sl_db *db, json_t *entry, int64_t *idx,
                           struct sl_error *err);

/* The keyed pseudonym of an account on one model: "acct:" + 16 hex digits
 * of HMAC-SHA-256(log secret, "acct\n" + model + "\n" + id). Per model, so
 * the same person on two models does not link; `model` is "" for events
 * about the account itself. */
void sl__pseudonym(const struct sl_registry *r, const char *model, int64_t user_id,
                   char out[SL_PSEUDONYM_LEN + 1]);

#define SL_TEXT_DIGEST_LEN 76 /* "hmac-sha256:" + 64 hex digits */

/* A keyed digest of a free text for a public log entry:
 * "hmac-sha256:" + hex of HMAC-SHA-256(log secret, "text\n" + s). Unlike a
 * bare SHA-256, nobody without the secret can confirm a guess of the text. */
void sl__text_digest(const struct sl_registry *r, const char *s, char out[SL_TEXT_DIGEST_LEN + 1]);

/* "sha256:" + hex of a public text (license terms), 73 bytes. */
void sl__public_digest(const char *s, char out[73]);

/* Revokes evaluator key `name` (or, when NULL, every live key of
 * `user_id`) inside the caller's transaction, one log entry each; `*count`
 * says how many. Attestations made before stand. */
enum sl_err sl__eval_keys_revoke(struct sl_registry *r, struct sl_db *db, const char *name,
                                 int64_t user_id, const char *why, int *count,
                                 struct sl_error *err);

/* Revokes every live grant of `user_id` (and the licenses issued under
 * them) inside the caller's transaction, one access.revoked entry each;
 * `*count` says how many. */
enum sl_err sl__access_revoke_user(struct sl_registry *r, struct sl_db *db, int64_t user_id,
                                   const char *reason, int *count, struct sl_error *err);

/* ---- fingerprints (fingerprint.c) ---- */

struct sl_fp_cache;
struct sl_fp_cache *sl__fp_cache_new(void);
void sl__fp_cache_free(struct sl_fp_cache *c);

/* Loads ROOT/fp.key, creating it (mode 0600) on the first start. */
enum sl_err sl__fp_load_key(struct sl_registry *r, struct sl_error *err);
/* Reads the hex key ROOT/NAME into KEY (N <= 64 bytes), or makes a random
 * one and writes it with mode 0600 (*FRESH true). */
enum sl_err sl__secret_file(const char *root, const char *name, unsigned char *key, size_t n,
                            bool *fresh, struct sl_error *err);

/* The fingerprint recipient of (model, user), created on first use inside
 * the caller's transaction; `commitment` (65 bytes) gets the hex
 * commitment to its key that the grant's log entry carries. */
enum sl_err sl__fp_recipient(struct sl_registry *r, struct sl_db *db, int64_t model_id,
                             int64_t user_id, int64_t *id, char commitment[65],
                             struct sl_error *err);

/* ---- floors (govern.c) ---- */

/* The obligations of `decision` with their status for version `version_id`
 * (0 for a version not stored yet: nothing is satisfied), the floor (the
 * strictest of the minimum tier and the holds of unsatisfied blocking
 * obligations) and `*held_by` (new reference: the obligations that hold). */
json_t *sl__obligations_status(struct sl_db *db, int64_t version_id, json_t *decision,
                               enum sl_tier *floor, json_t **held_by, struct sl_error *err);

/* SL_EREFUSED with a message naming the rule (below the minimum tier) or the
 * blocking obligation (below its hold) that refuses tier `want`. */
enum sl_err sl__refusal(json_t *decision, json_t *held_by, const char *want, struct sl_error *err);

/* Seconds since the epoch (the one place the registry reads the clock). */
int64_t sl__now(void);

/* Hashes a token for storage and lookup. */
void sl__token_hash(const char *token, unsigned char out[32]);

/* Formats a new random token. */
void sl__token_new(char *token);

/* Makes a new token for `user_id` with `scopes` (0 expiry: never) and
 * stores its hash; the token is written to `token` (SL_TOKEN_LEN + 1). */
enum sl_err sl__token_insert(struct sl_db *db, int64_t user_id, unsigned scopes, int64_t expires,
                             char *token, struct sl_error *err);

/* A file of a version being committed, for inspection. */
struct sl__ifile {
    const char *path;
    uint64_t size;
    int64_t blob_id;          /* a stored file, or 0 */
    const int64_t *chunk_ids; /* in order; NULL for a stored file */
    const uint32_t *chunk_len;
    size_t nchunks;
};

/* Reads the weight headers of `files` (the top-level *.safetensors, index,
 * *.gguf and config.json, by the rules of `sluice inspect`) from the store.
 * SL_ENOTFOUND when the version holds no weights. */
enum sl_err sl__reg_inspect(struct sl_registry *r, struct sl_db *db, const struct sl__ifile *files,
                            size_t n, struct sl_model **out, struct sl_error *err);

#endif
