/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: a data folder (SQLite metadata, pack files, the server key)
 * and the operations on it that combine the store, the database, the
 * weight readers and the classifier: accounts and tokens, chunk uploads,
 * version commits, reads for downloads, garbage collection and fsck.
 * `sluice serve` and the `sluice admin` commands are thin layers over it.
 *
 * Data folder layout:
 *   sluice.db            metadata (WAL)
 *   server.key           Ed25519 private key (hex seed), mode 0600
 *   admin.token          the first admin token, mode 0600
 *   packs/XX/NAME.pack   chunk bytes; packs/tmp/ holds packs being written
 */
#ifndef SL_REGISTRY_REGISTRY_H
#define SL_REGISTRY_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/crypto.h"

struct sl_db;
struct sl_registry;
struct sl_packset;

#define SL_TOKEN_LEN 67 /* "sl_" + 64 hex digits */
#define SL_NAME_MAX  96

enum sl_scope {
    SL_SCOPE_READ = 1,
    SL_SCOPE_WRITE = 2, /* push to orgs where the user publishes */
    SL_SCOPE_ADMIN = 4,
};

/* Who is calling: user 0 is anonymous. */
struct sl_principal {
    int64_t user_id;
    char name[SL_NAME_MAX + 1];
    bool admin;
    unsigned scopes;
};

struct sl_registry_opts {
    const char *origin;       /* log origin name; default "sluice" */
    struct sl_packset *packs; /* policy packs to use (taken over), or NULL for built-in */
    bool create;              /* create the data folder if missing */
};

/* Opens (creating when `opts->create`) the data folder at `root`. On the first
 * start it creates the server key, the admin user and its token, which is
 * written to ROOT/admin.token and copied into `first_token` (when non-NULL;
 * SL_TOKEN_LEN + 1 bytes; empty when the folder already existed). */
enum sl_err sl_registry_open(const char *root, struct sl_registry_opts *opts,
                             struct sl_registry **out, char *first_token, struct sl_error *err);
void sl_registry_close(struct sl_registry *r);

/* This thread's database connection (opened on first use, closed when the
 * thread ends). NULL with `err` set when it cannot be opened. */
struct sl_db *sl_reg_db(struct sl_registry *r, struct sl_error *err);

const char *sl_reg_root(const struct sl_registry *r);
const struct sl_packset *sl_reg_packs(const struct sl_registry *r);

/* The server's Ed25519 public key. */
const unsigned char *sl_reg_public_key(const struct sl_registry *r);

/* ---- names ---- */

/* Org and model names: [A-Za-z0-9][A-Za-z0-9._-]{0,95}, not "." or "..". */
bool sl_name_ok(const char *s);

/* File paths inside a version (docs/api.md): relative, '/'-separated, no
 * empty, "." or ".." component, no NUL, control character or backslash, at
 * most 1,024 bytes. On failure `why` says what is wrong. */
bool sl_path_ok(const char *s, size_t n, const char **why);

/* ---- accounts (accounts.c) ---- */

/* Creates a user and a read+write token for it (copied to `token`). */
enum sl_err sl_reg_user_add(struct sl_registry *r, const char *name, const char *email,
                            const char *affiliation, const char *country, bool admin, char *token,
                            struct sl_error *err);
enum sl_err sl_reg_org_add(struct sl_registry *r, const char *name, struct sl_error *err);
enum sl_err sl_reg_member_add(struct sl_registry *r, const char *org, const char *user,
                              const char *role, struct sl_error *err);

/* Issues a new token for `user` with `scopes`, expiring at `expires` (unix
 * seconds, 0 = never). */
enum sl_err sl_reg_token_new(struct sl_registry *r, const char *user, unsigned scopes,
                             int64_t expires, char *token, struct sl_error *err);

/* Revokes one token (given in full), or every token of `user` when `token`
 * is NULL. `*count` gets how many were revoked. */
enum sl_err sl_reg_token_revoke(struct sl_registry *r, const char *user, const char *token,
                                int *count, struct sl_error *err);

/* Resolves a bearer token to a principal: SL_EAUTH when it is unknown,
 * revoked or expired. */
enum sl_err sl_reg_auth(struct sl_registry *r, const char *token, struct sl_principal *p,
                        struct sl_error *err);

/* True when `p` may publish to `org` (publisher member, or admin). */
bool sl_reg_can_publish(struct sl_registry *r, const struct sl_principal *p, int64_t org_id);
bool sl_reg_is_member(struct sl_registry *r, const struct sl_principal *p, int64_t org_id);

/* Org id by name; SL_ENOTFOUND when missing. */
enum sl_err sl_reg_org_id(struct sl_registry *r, const char *org, int64_t *id,
                          struct sl_error *err);

/* ---- models and versions (read.c) ---- */

struct sl_version_ref {
    int64_t org_id, model_id, version_id;
    int64_t seq;
    char commit[65];
    char tier[16], min_tier[16];
    int64_t created;
    int64_t bytes_total;
};

/* Finds model `org/name` and resolves `rev` (ref, vN, N, commit or a unique
 * prefix of 12+ hex digits); SL_ENOTFOUND names what is missing. */
enum sl_err sl_reg_resolve(struct sl_registry *r, const char *org, const char *name,
                           const char *rev, struct sl_version_ref *v, struct sl_error *err);

/* Model id; SL_ENOTFOUND when missing. */
enum sl_err sl_reg_model_id(struct sl_registry *r, const char *org, const char *name,
                            int64_t *org_id, int64_t *model_id, struct sl_error *err);

struct sl_file_ref {
    int64_t blob_id;
    uint64_t size;
    char sha256[65];
};

enum sl_err sl_reg_file(struct sl_registry *r, int64_t version_id, const char *path,
                        struct sl_file_ref *f, struct sl_error *err);

/* A contiguous run of bytes of a file inside one pack. */
struct sl_run {
    uint64_t file_offset;
    uint64_t length;
    uint64_t pack_offset;
    int64_t pack_id;
    char pack[33];
};

/* The runs covering [start, end) of blob `blob_id`, adjacent chunks in the
 * same pack merged; the caller frees `*runs`. */
enum sl_err sl_reg_runs(struct sl_registry *r, int64_t blob_id, uint64_t start, uint64_t end,
                        struct sl_run **runs, size_t *n, struct sl_error *err);

/* Reads `n` bytes of a run at `offset` inside it. */
enum sl_err sl_reg_read_run(struct sl_registry *r, const struct sl_run *run, uint64_t offset,
                            void *buf, size_t n, struct sl_error *err);

/* JSON documents for the API (new references). */
json_t *sl_reg_model_json(struct sl_registry *r, int64_t model_id, const char *org,
                          const char *name, struct sl_error *err);
json_t *sl_reg_version_json(struct sl_registry *r, const struct sl_version_ref *v, const char *org,
                            const char *name, bool files, struct sl_error *err);
json_t *sl_reg_decision_json(struct sl_registry *r, const struct sl_version_ref *v,
                             struct sl_error *err);
json_t *sl_reg_models_json(struct sl_registry *r, const struct sl_principal *p,
                           struct sl_error *err);
/* Hugging Face model info / tree (docs/api.md). */
json_t *sl_reg_hf_info(struct sl_registry *r, const struct sl_version_ref *v, const char *org,
                       const char *name, struct sl_error *err);
json_t *sl_reg_hf_tree(struct sl_registry *r, const struct sl_version_ref *v, const char *dir,
                       bool recursive, struct sl_error *err);

/* The tier rule for downloads: SL_OK when `p` may download files of `v`
 * (model `model`, "org/name"); otherwise SL_EAUTH (no token) or
 * SL_EFORBIDDEN with a message naming the tier, and in `hint` what the
 * caller can do. */
enum sl_err sl_reg_may_download(struct sl_registry *r, const struct sl_principal *p,
                                const struct sl_version_ref *v, const char *model, char *hint,
                                size_t hintlen, struct sl_error *err);

/* ---- uploads (ingest.c) ---- */

/* Chunk ids (raw SHA-256) this org has not stored: `missing[i]` is set for
 * each `ids[i]` the org lacks. */
enum sl_err sl_reg_chunks_missing(struct sl_registry *r, int64_t org_id,
                                  const unsigned char (*ids)[32], size_t n, bool *missing,
                                  struct sl_error *err);

/* Streaming ingest of one upload body (frames: sha256, u32 LE length,
 * bytes). Nothing is visible until sl_ingest_finish() succeeds. */
struct sl_ingest;
enum sl_err sl_ingest_begin(struct sl_registry *r, int64_t org_id, uint64_t body_len,
                            struct sl_ingest **in, struct sl_error *err);
enum sl_err sl_ingest_feed(struct sl_ingest *in, const void *data, size_t n, struct sl_error *err);
enum sl_err sl_ingest_finish(struct sl_ingest *in, json_t **result, struct sl_error *err);
void sl_ingest_abort(struct sl_ingest *in);

/* ---- commits (commit.c) ---- */

/* Creates a version from a commit body (docs/api.md); `*created` tells
 * whether it is new (false when an identical version already existed).
 * SL_EREFUSED when the policy refuses the requested tier or a blocking
 * obligation is unmet: the message names the rule and its citation, and
 * `*result` holds the decision. */
enum sl_err sl_reg_commit(struct sl_registry *r, const struct sl_principal *p, const char *org,
                          const char *name, json_t *body, json_t **result, bool *created,
                          struct sl_error *err);

/* Registers a file (content only, no path) from its ordered chunk ids,
 * which this org must have uploaded: checks lengths, re-hashes the bytes and
 * stores the file so a commit can name it by SHA-256 without its chunk list.
 * Idempotent: `*created` is false when it was stored already (the list must
 * then be the stored one). Unused files go after the gc grace period. */
enum sl_err sl_reg_file_store(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                              const unsigned char sha[32], uint64_t size,
                              const unsigned char (*ids)[32], size_t n, bool *created,
                              struct sl_error *err);

/* ---- maintenance (gc.c) ---- */

struct sl_gc_opts {
    int64_t grace_seconds;  /* unreferenced chunks younger than this are kept */
    double compact_below;   /* rewrite packs whose live share is below this */
    int64_t retire_seconds; /* delete retired packs older than this */
};

/* Online garbage collection: drops chunks no version references (after the
 * grace period), rewrites packs that are mostly dead, removes retired packs
 * and stray files. Report in `*report` (new reference). */
enum sl_err sl_reg_gc(struct sl_registry *r, const struct sl_gc_opts *o, json_t **report,
                      struct sl_error *err);

/* Re-hashes every chunk and every file and checks every reference; `*report`
 * lists problems; `*ok` is false when there is any. */
enum sl_err sl_reg_fsck(struct sl_registry *r, json_t **report, bool *ok, struct sl_error *err);

#endif
