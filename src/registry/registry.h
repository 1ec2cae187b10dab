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

#include "common/arena.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "db/repo_access.h"
#include "db/repo_hub.h"
#include "db/repo_web.h"

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
    /* refuse to start a new log without `origin` (serve: the origin must be
     * globally unique, docs/log.md) */
    bool require_origin;
    /* `origin` was derived from --public-url: an existing log keeps its own
     * (a public URL may change; a log's origin may not) */
    bool origin_derived;
    const char *db; /* database URL (sl_db_open); default sqlite:ROOT/sluice.db */
    /* The folder of the key files (server.key, fp.key, log.secret); default
     * ROOT. Given explicitly it must exist; missing key files are made there
     * only when all three are missing and the database has no log yet (a new
     * hub), never beside a log that other keys signed. */
    const char *keys;
    const char *store;   /* blob store URL (store.h); NULL: the recorded one */
    bool remember_store; /* record `store` in ROOT/store.url for later commands */
};

/* The log origin for a public URL: the URL without its scheme, trailing
 * slash, query or fragment, plus "/log" ("https://hub.example.org/" ->
 * "hub.example.org/log"). NULL (with `err`) when URL is not http(s). */
char *sl_origin_from_url(const char *url, struct sl_error *err);

/* Opens (creating when `opts->create`) the data folder at `root`. On the first
 * start it creates the server key, the admin user and its token, which is
 * written to ROOT/admin.token and copied into `first_token` (when non-NULL;
 * SL_TOKEN_LEN + 1 bytes; empty when the folder already existed). */
enum sl_err sl_registry_open(const char *root, struct sl_registry_opts *opts,
                             struct sl_registry **out, char *first_token, struct sl_error *err);
void sl_registry_close(struct sl_registry *r);

/* Copies the database of the registry at `root` (keys in `keys`, NULL for
 * `root`) from `from` (sqlite:PATH) into `to` (postgresql://...), verifying
 * every table's row count and contents (sl_db_copy; `note` hears of each
 * table) and that the log is the same tree under the same key: the newest
 * checkpoint after the copy is the one the source had. Resumable: a second
 * run copies what is left or only verifies. `*checkpoint` gets that
 * checkpoint (malloc'd). SL_EUSAGE for URLs of the wrong kind, SL_ECONFLICT
 * when the target holds other rows or the log came out different. */
enum sl_err sl_registry_migrate(const char *root, const char *keys, const char *from,
                                const char *to, sl_db_copy_note note, void *ctx, char **checkpoint,
                                struct sl_error *err);

/* Copies the packs of the registry at `root` (database `db`, NULL for the
 * data folder's; keys in `keys`) from the store `from` into the store `to`
 * (URLs as for --store), every pack the database names, each one hashed on
 * both sides (sl_store_copy_pack; `note` hears of each with its size, hex
 * SHA-256 and whether it was uploaded). Resumable: packs already in `to`
 * with the same bytes are skipped. Retired packs gc already deleted are
 * skipped; any other pack missing from `from` is SL_EIO. SL_ECONFLICT when
 * `to` holds other bytes under a pack's name. */
typedef void (*sl_pack_copy_note)(void *ctx, const char *pack, uint64_t size, const char *sha256,
                                  bool copied);
enum sl_err sl_registry_migrate_store(const char *root, const char *keys, const char *db,
                                      const char *from, const char *to, sl_pack_copy_note note,
                                      void *ctx, struct sl_error *err);

/* Makes the data folder at `root` private when its mode lets the group or
 * others in: the folder and every folder under it become 0700, every file
 * loses its group, other and execute bits (0600 at most); symbolic links
 * are left alone. A folder already without group and other bits is not
 * walked, nor one without a sluice.db, admin.token or server.key (not yet a
 * data folder: only the folder itself is made private). `*mode_was` gets the folder's mode (0 when
 * it does not exist yet),
 * `*changed` how many entries were changed. SL_EIO naming the `chmod`
 * command to run when a change is refused (another user's files). */
enum sl_err sl_registry_make_private(const char *root, unsigned *mode_was,
                                     unsigned long long *changed, struct sl_error *err);

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

/* What a pushed path must also be (docs/api.md): portable to every file
 * system a licensee may use. No component ends in '.' or ' ', is a Windows
 * device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with any extension), or
 * holds < > : " | ? *; no Unicode look-alike of '.', '/' or '\\' (U+2024,
 * U+FF0E, U+2215 ...), no bidirectional or other invisible control. Assumes
 * sl_path_ok(s) held. */
bool sl_path_portable(const char *s, size_t n, const char **why);

/* ---- accounts (accounts.c) ---- */

/* Creates a user and a read+write token for it (copied to `token`). */
enum sl_err sl_reg_user_add(struct sl_registry *r, const char *name, const char *email,
                            const char *affiliation, const char *country, bool admin, char *token,
                            struct sl_error *err);
/* Removes an account: its tokens stop working at once and its memberships
 * go; its rows (and attestations it signed) stay for the records. */
enum sl_err sl_reg_user_remove(struct sl_registry *r, const char *name, struct sl_error *err);
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
/* True for the org's admins and publishers (and server admins): who may
 * reach hosted and withheld weights. A plain member may not. */
bool sl_reg_is_insider(struct sl_registry *r, const struct sl_principal *p, int64_t org_id);

/* True for the org's admins (role admin) and server admins: who manage
 * the org's members. */
bool sl_reg_is_org_admin(struct sl_registry *r, const struct sl_principal *p, int64_t org_id);

/* The org's members by user name (`user` and `role` of each row): `*rows`
 * in `arena` (NULL when there are none) and `*n`. */
enum sl_err sl_reg_org_members(struct sl_registry *r, int64_t org_id, struct sl_arena *arena,
                               struct sl_member_row **rows, size_t *n, struct sl_error *err);

/* Removes USER from ORG; SL_ENOTFOUND when not a member. */
enum sl_err sl_reg_member_remove(struct sl_registry *r, const char *org, const char *user,
                                 struct sl_error *err);

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

/* One chunk of a stored file: where it sits in the file, its length and its
 * SHA-256 (raw). */
struct sl_chunk_ref {
    uint64_t file_offset;
    uint32_t length;
    unsigned char id[32];
};

/* The chunks of blob `blob_id` in file order (a delta pull's map of the
 * file: docs/api.md). The caller frees `*chunks`. */
enum sl_err sl_reg_chunk_list(struct sl_registry *r, int64_t blob_id, struct sl_chunk_ref **chunks,
                              size_t *n, struct sl_error *err);

/* Reads `n` bytes of a run at `offset` inside it. */
enum sl_err sl_reg_read_run(struct sl_registry *r, const struct sl_run *run, uint64_t offset,
                            void *buf, size_t n, struct sl_error *err);

/* A version of a model as GET /api/v1/models/{org}/{name}/versions/{rev}
 * shows it (http/render_read.c renders it). Text and arrays come from the
 * caller's arena; the stored documents are their canonical JSON text. */
struct sl_reg_version_file {
    char *path;
    uint64_t size;
    char sha256[65]; /* empty when the stored digest is malformed */
};
struct sl_reg_version_doc {
    bool with_files; /* files and inspect were asked for */
    struct sl_reg_version_file *files;
    size_t nfiles;
    bool stored;                        /* the version row was read (it may be gone) */
    char *inspect, *decision, *license; /* NULL when absent */
    char floor_tier[16];                /* the minimum tier when no floor is stored */
};
enum sl_err sl_reg_version_doc(struct sl_registry *r, const struct sl_version_ref *v, bool files,
                               struct sl_arena *a, struct sl_reg_version_doc *out,
                               struct sl_error *err);

/* A model with its refs and versions (GET /api/v1/models/{org}/{name}). */
struct sl_reg_model_ref {
    char *name;
    char commit[65];
};
struct sl_reg_model_version {
    int64_t seq;
    char commit[65];
    char tier[16], min_tier[16];
    int64_t created, bytes_total;
    int64_t downloads, downloads_all_time; /* last 30 days, all time */
};
struct sl_reg_model_doc {
    struct sl_reg_model_ref *refs; /* by name */
    size_t nrefs;
    struct sl_reg_model_version *versions; /* by number */
    size_t nversions;
    const char *tier; /* main's tier, else the newest version's; NULL without versions */
    int64_t downloads, downloads_all_time;
};
enum sl_err sl_reg_model_doc(struct sl_registry *r, int64_t model_id, struct sl_arena *a,
                             struct sl_reg_model_doc *out, struct sl_error *err);

/* The stored decision of a version (new reference; NULL when none). */
json_t *sl_reg_decision_json(struct sl_registry *r, const struct sl_version_ref *v,
                             struct sl_error *err);

/* Every model with a `main` ref, by org and name (GET /api/v1/models). */
struct sl_reg_model_summary {
    char *org, *name;
    char tier[16];
    int64_t seq;
    char commit[65];
};
enum sl_err sl_reg_models(struct sl_registry *r, const struct sl_principal *p, struct sl_arena *a,
                          struct sl_reg_model_summary **out, size_t *n, struct sl_error *err);
/* Hugging Face model info / tree (docs/api.md), as seen by `p` (hf.c;
 * rendered by src/http/render_hf.c): a file whose copy carries p's
 * fingerprint is described by the SHA-256 of p's bytes (blobId, lfs.sha256,
 * oid, lfs.oid), never by the canonical one. */
struct sl_hf_file {
    char *path;
    uint64_t size;
    char sha256[65]; /* of the bytes the caller receives ("" when unknown) */
};

/* Frees `n` files and the array; NULL is allowed. */
void sl_hf_files_free(struct sl_hf_file *f, size_t n);

/* The files of version `v` in path order, as `p` (may be NULL) sees them.
 * The caller frees them with sl_hf_files_free(). */
enum sl_err sl_reg_hf_files(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, struct sl_hf_file **files, size_t *n,
                            struct sl_error *err);

struct sl_hf_info {
    char sha[65];             /* the commit id `p` sees (a licensee's own copy's) */
    bool has_created;         /* `created` is known */
    int64_t created;          /* when the model's first version was made */
    int64_t downloads;        /* the last 30 days */
    int64_t downloads_all;    /* all time */
    json_t *params_by_dtype;  /* the stored inspection report's, or NULL */
    json_t *params_total;     /* likewise (set with params_by_dtype) */
    struct sl_hf_file *files; /* in path order */
    size_t nfiles;
};

/* What the model info says of version `v` as `p` (may be NULL) sees it.
 * Release `out` with sl_hf_info_release() after success. */
enum sl_err sl_reg_hf_info(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_version_ref *v, struct sl_hf_info *out,
                           struct sl_error *err);
void sl_hf_info_release(struct sl_hf_info *info);

/* ---- Hugging Face Hub parity (hub.c; docs/api.md) ---- */

/* True for the files whose downloads count (config.json, *.gguf), as the
 * Hub counts its "query files". */
bool sl_reg_is_query_file(const char *path);

/* Counts one download of a query file of version `version_id` today, in
 * memory: a download costs no database write. */
enum sl_err sl_reg_count_download(struct sl_registry *r, int64_t version_id, struct sl_error *err);

/* Writes the downloads counted in memory to the database in one
 * transaction (the server's ticker does every second on every instance;
 * every reader of the counts first). On failure they stay counted. */
enum sl_err sl_reg_flush_downloads(struct sl_registry *r, struct sl_error *err);

/* Downloads of a model (`version_id` 0) or one version: `*recent` in the
 * last 30 days, `*all` since the start. */
enum sl_err sl_reg_downloads(struct sl_registry *r, int64_t model_id, int64_t version_id,
                             int64_t *recent, int64_t *all, struct sl_error *err);

/* A validated GET /api/models query. Strings may be NULL. */
struct sl_hf_list_query {
    const char *search; /* substring of "org/name", case-insensitive */
    const char *author; /* the org */
    const char *sort;   /* a key sl_reg_hf_sort_ok() accepts, or NULL (by id) */
    bool ascending;     /* with `sort`: ascending (the Hub sorts descending) */
    int64_t limit;      /* page size, 1 to 1,000 */
    int64_t offset;     /* models skipped (the cursor) */
};

/* True when `key` is a sort key of GET /api/models. */
bool sl_reg_hf_sort_ok(const char *key);

/* One page of the model listing, each model with its `main` version and
 * download counts (last 30 days, all time): `*items` in `arena` (NULL when
 * none) and `*n`; `*more` tells whether another page follows. */
enum sl_err sl_reg_hf_list(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_hf_list_query *lq, struct sl_arena *arena,
                           struct sl_repo_model_item **items, size_t *n, bool *more,
                           struct sl_error *err);

/* What GET /api/whoami-v2 tells a signed-in principal about itself. */
struct sl_reg_whoami {
    char *email;                /* in the caller's arena; NULL when none was given */
    struct sl_member_row *orgs; /* `org_id`, `org` and `role` of each, by org name */
    size_t norgs;
};

/* The account of `p` (signed in): SL_EAUTH when it is gone. Text goes into
 * `arena`. */
enum sl_err sl_reg_whoami(struct sl_registry *r, const struct sl_principal *p,
                          struct sl_arena *arena, struct sl_reg_whoami *out, struct sl_error *err);

/* ---- tiered access (access.c; docs/access.md) ---- */

/* The tier rule for downloads, checked on every request: SL_OK when `p` may
 * download files of `v` (model `model`, "org/name"); otherwise SL_EAUTH (no
 * token) or SL_EFORBIDDEN with a message naming the tier and the caller's
 * state, and in `hint` the command to run next. */
enum sl_err sl_reg_may_download(struct sl_registry *r, const struct sl_principal *p,
                                const struct sl_version_ref *v, const char *model, char *hint,
                                size_t hintlen, struct sl_error *err);

/* The newest version of `v`'s model other than `v` that `p` may download:
 * `*seq` (0 when there is none) and its `commit`. Looks at the 100 newest
 * versions; a refused download names it so the caller knows what still
 * works. */
enum sl_err sl_reg_last_servable(struct sl_registry *r, const struct sl_principal *p,
                                 const struct sl_version_ref *v, int64_t *seq, char commit[65],
                                 struct sl_error *err);

/* True when `p` may see the list of files of `v` (everyone, except for
 * `withheld` versions: members and evaluators only). */
bool sl_reg_may_list(struct sl_registry *r, const struct sl_principal *p,
                     const struct sl_version_ref *v);

/* True when `p` holds a registered evaluator key. */
bool sl_reg_is_evaluator(struct sl_registry *r, const struct sl_principal *p);

/* The license terms of a version as `p` sees them. */
struct sl_reg_terms {
    char license_sha256[65];
    const char *license;    /* the text (the default when none was given), in the arena */
    bool given;             /* the publisher gave a text */
    bool accepted;          /* `p` accepted this text */
    int64_t retention_days; /* prompts kept by the hosted gateway (0: none); the text says so */
    const char **fields;    /* the request fields the access rules require, in the arena */
    size_t nfields;
};

/* The license terms of `v`; text goes into `arena`. */
enum sl_err sl_reg_terms(struct sl_registry *r, const struct sl_principal *p,
                         const struct sl_version_ref *v, struct sl_arena *arena,
                         struct sl_reg_terms *out, struct sl_error *err);

/* An acceptance recorded by sl_reg_accept(). */
struct sl_reg_acceptance {
    char license_sha256[65];
    bool fresh; /* false when `p` had accepted this text before */
};

/* Records that `p` accepted the license text of `v` (`want_sha`, when not
 * NULL, must be its SHA-256: SL_ECONFLICT otherwise). */
enum sl_err sl_reg_accept(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, const char *want_sha,
                          struct sl_reg_acceptance *out, struct sl_error *err);

/* An access request as its requester and the publishers see it. Its text
 * lives in the arena the call was given. */
struct sl_reg_request {
    struct sl_request_row row;
    char status[SL_REPO_STATUS_MAX + 1]; /* "expired" for an approval past its expiry,
                                          * else row.status */
    bool final;                          /* denied for good (twice, after an appeal) */
    const char *license;                 /* a license note issued with this answer, or NULL */
};

/* A gated access request by `p` for model `model_id` ("org/name" in
 * `model`); `fields` is an object or NULL. `*created` is false when the
 * same pending request existed. Auto-approval rules apply at once (the
 * answer then carries the license). Text goes into `arena`. */
enum sl_err sl_reg_access_request(struct sl_registry *r, const struct sl_principal *p,
                                  int64_t org_id, int64_t model_id, const char *model,
                                  const char *purpose, json_t *fields, struct sl_arena *arena,
                                  struct sl_reg_request *out, bool *created, struct sl_error *err);

/* The caller's own request. SL_ENOTFOUND when there is none. */
enum sl_err sl_reg_access_me(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                             const char *model, struct sl_arena *arena, struct sl_reg_request *out,
                             struct sl_error *err);

/* Appeals a denial, once. */
enum sl_err sl_reg_access_appeal(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t model_id, const char *model, const char *text,
                                 struct sl_arena *arena, struct sl_reg_request *out,
                                 struct sl_error *err);

/* The requests for a model (publishers) by creation time, optionally of
 * one status (as sl_reg_request.status says it): `*out` in `arena` (NULL
 * when none) and `*n`. */
enum sl_err sl_reg_access_list(struct sl_registry *r, int64_t model_id, const char *status,
                               struct sl_arena *arena, struct sl_reg_request **out, size_t *n,
                               struct sl_error *err);

enum sl_access_action { SL_ACCESS_APPROVE, SL_ACCESS_DENY, SL_ACCESS_REVOKE };

/* A publisher's decision on `user`'s request. `reason` is required for deny
 * and revoke; `expires` (unix seconds, 0 = never) only for approve. An
 * approval answers with the license of the `main` version. Text goes into
 * `arena`. */
enum sl_err sl_reg_access_decide(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t org_id, int64_t model_id, const char *model,
                                 const char *user, enum sl_access_action action, const char *reason,
                                 int64_t expires, struct sl_arena *arena,
                                 struct sl_reg_request *out, struct sl_error *err);

/* Auto-approval rules and required fields of a model. */
enum sl_err sl_reg_access_rules(struct sl_registry *r, int64_t model_id, json_t **result,
                                struct sl_error *err);
enum sl_err sl_reg_access_rules_set(struct sl_registry *r, const struct sl_principal *p,
                                    int64_t model_id, const char *model, json_t *rules,
                                    json_t **result, struct sl_error *err);

/* The caller's license of version `v` (a signed note, malloc'd), issued on
 * first request, and the log index of its issuance (`log_idx` may be NULL).
 * SL_EFORBIDDEN without a live grant. */
enum sl_err sl_reg_license(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_version_ref *v, const char *model, char **note,
                           int64_t *log_idx, struct sl_error *err);

/* The signed revocation list (malloc'd). */
enum sl_err sl_reg_revocations(struct sl_registry *r, char **note, struct sl_error *err);

/* The server's verifier key ("name+id+base64"). */
enum sl_err sl_reg_vkey(struct sl_registry *r, char *out, size_t cap, struct sl_error *err);

/* Marks grants whose expiry passed as expired (and logs it). */
enum sl_err sl_reg_expire_grants(struct sl_registry *r, int *count, struct sl_error *err);

/* ---- the transparency log (log.c; docs/log.md) ---- */

struct sl_buf;

/* The newest signed checkpoint (a malloc'd note) and its size; signs a new
 * one first when the tree grew (each checked consistent with the last). */
enum sl_err sl_reg_log_checkpoint(struct sl_registry *r, char **note, uint64_t *size,
                                  struct sl_error *err);

/* Logs a "policy.activated" event when the set of packs in force today
 * (id, version, status, digest) differs from the last one logged. */
enum sl_err sl_reg_log_policy(struct sl_registry *r, bool *logged, struct sl_error *err);

/* Logs a "hosted.usage" event for each (hosted model, UTC day) before
 * today with calls or refusals not logged yet: counts only, no user and no
 * text (registry/hosted_log.c, docs/hosted.md). Checks once a day per
 * process; `*logged` gets the entries appended. */
enum sl_err sl_reg_log_hosted_usage(struct sl_registry *r, size_t *logged, struct sl_error *err);

/* Entries in the log (signed or not yet). */
enum sl_err sl_reg_log_size(struct sl_registry *r, uint64_t *size, struct sl_error *err);

/* Access requests of every model by state (an approval past its expiry is
 * expired). */
enum sl_err sl_reg_grant_counts(struct sl_registry *r, struct sl_grant_counts *out,
                                struct sl_error *err);

/* RFC 6962 proofs from the stored hashes; `proof` holds 65 hashes. */
enum sl_err sl_reg_log_inclusion(struct sl_registry *r, uint64_t index, uint64_t size,
                                 unsigned char (*proof)[32], size_t *len, struct sl_error *err);
enum sl_err sl_reg_log_consistency(struct sl_registry *r, uint64_t m, uint64_t size,
                                   unsigned char (*proof)[32], size_t *len, struct sl_error *err);

/* A c2sp.org/tlog-proof@v1 (malloc'd) of entry `index` against a signed
 * checkpoint that covers it (signed now if needed). */
enum sl_err sl_reg_log_proof(struct sl_registry *r, int64_t index, char **text,
                             struct sl_error *err);

/* The bytes of tile `path` ("tile/..." in the tlog-tiles layout) for the
 * newest checkpoint, appended to `out`; `*full` tells whether the tile is
 * full (and so immutable). */
enum sl_err sl_reg_log_tile(struct sl_registry *r, const char *path, struct sl_buf *out, bool *full,
                            struct sl_error *err);

/* One log entry: its index and canonical JSON text as stored. */
struct sl_reg_log_entry {
    uint64_t index;
    char *text;
};

/* Entries [start, end) (at most 1,000) into `*out` (`*n` of them), all
 * allocated from `a` (http/render_log.c renders them). */
enum sl_err sl_reg_log_entries(struct sl_registry *r, uint64_t start, uint64_t end,
                               struct sl_arena *a, struct sl_reg_log_entry **out, size_t *n,
                               struct sl_error *err);

/* A model's history as an auditor reads it (sl_reg_report). Text and arrays
 * are allocated from the caller's arena. */
struct sl_reg_report_event {
    uint64_t index;
    char *text;                 /* the entry as stored */
    unsigned char (*proof)[32]; /* inclusion proof against the checkpoint */
    size_t nproof;
};
struct sl_reg_report_version {
    int64_t seq;
    char commit[65];
    char tier[16], min_tier[16], floor_tier[16];
    int64_t created;
};
struct sl_reg_report_eval {
    int64_t seq;
    char *evaluator, *domain, *level;
    int64_t date;
};
struct sl_reg_report_grant {
    char status[32]; /* an access request state, or "expired" */
    int64_t count;
};
struct sl_reg_report {
    const char *model;
    char *checkpoint; /* the signed checkpoint the proofs are against */
    uint64_t checkpoint_size;
    struct sl_reg_report_version *versions;
    size_t nversions;
    struct sl_reg_report_eval *evals;
    size_t nevals;
    struct sl_reg_report_grant *grants; /* in the order first seen */
    size_t ngrants;
    struct sl_reg_report_event *events;
    size_t nevents;
};

/* Fills `out` with a model's history as an auditor reads it: every log
 * entry naming the model with its inclusion proof against a signed
 * checkpoint covering them, versions with their tiers, attestations, and
 * grant counts by state (approved grants past their expiry as "expired").
 * `model` ("org/name") must outlive `out`; everything else comes from `a`. */
enum sl_err sl_reg_report(struct sl_registry *r, int64_t model_id, const char *model,
                          struct sl_arena *a, struct sl_reg_report *out, struct sl_error *err);

/* The log index of the entry a version's current decision rests on, and of
 * a license; -1 when there is none. */
int64_t sl_reg_version_log_index(struct sl_registry *r, int64_t version_id);
int64_t sl_reg_license_log_index(struct sl_registry *r, const char *license_id);

/* ---- fingerprints (fingerprint.c; docs/fingerprint.md) ---- */

/* A download being marked for one recipient. */
struct sl_reg_mark;

/* For a download by `p` of file `path` (`f`) of `v`: `*out` is a marker
 * when the copy must carry p's fingerprint (tier gated, p downloads through
 * a grant, a weight file with eligible tensors), else NULL. */
enum sl_err sl_reg_mark_for(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *path,
                            const struct sl_file_ref *f, struct sl_reg_mark **out,
                            struct sl_error *err);
/* The range to read so that no marked element is cut: [*start, *end)
 * holds [offset, offset + len) and at most 3 more bytes either side. */
void sl_reg_mark_span(const struct sl_reg_mark *m, uint64_t offset, uint64_t len, uint64_t *start,
                      uint64_t *end);
/* Marks `buf`, the bytes of file range [offset, offset + len), in place;
 * the range must come from sl_reg_mark_span. */
void sl_reg_mark_apply(const struct sl_reg_mark *m, uint64_t offset, void *buf, size_t len);
uint32_t sl_reg_mark_recipient(const struct sl_reg_mark *m);
void sl_reg_mark_free(struct sl_reg_mark *m);
/* The SHA-256 (64 hex digits and a NUL into `hex`) of the marked copy of
 * file `f` that `m` produces: read and hashed once per recipient and file,
 * then kept in the database (fp_copies), so every later answer (ETag,
 * X-Linked-Etag, tree, paths-info, manifest) names the same digest. */
enum sl_err sl_reg_mark_sha256(const struct sl_reg_mark *m, const struct sl_file_ref *f,
                               char hex[65], struct sl_error *err);
/* Background work for the server: hashes the next not yet hashed copy of
 * a weight file of a `gated` main version for a recipient who may download
 * it now, so that their first listing or HEAD finds its digest kept.
 * `*did` is false when a pass over all of them found nothing left (sleep a
 * while before the next call). sl_reg_fp_warm_stop makes a hashing in
 * progress give up (the server is stopping). */
enum sl_err sl_reg_fp_warm(struct sl_registry *r, bool *did, struct sl_error *err);
void sl_reg_fp_warm_stop(struct sl_registry *r);
/* The SHA-256 of file `path` (`f`) of `v` as `p` receives it: the
 * canonical digest, or that of p's fingerprinted copy. `*recipient` (may be
 * NULL) is p's recipient id, 0 when the copy is not marked. */
enum sl_err sl_reg_copy_sha256(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, const char *path,
                               const struct sl_file_ref *f, char hex[65], uint32_t *recipient,
                               struct sl_error *err);

/* The commit id `p` knows version `v` by on the Hugging Face routes: for a
 * licensee who receives fingerprinted copies (`*marked`), an id of their
 * own copy (SHA-256 of the commit and their recipient), so clients that keep
 * snapshots by commit (huggingface_hub, @huggingface/hub) never serve one
 * licensee's copy to another from a shared cache; else the commit. */
enum sl_err sl_reg_copy_commit(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, char out[65], bool *marked,
                               struct sl_error *err);

/* Resolves a copy commit (above) of `p` on ORG/NAME to its version;
 * SL_ENOTFOUND when REV is none of p's copy commits. */
enum sl_err sl_reg_resolve_copy(struct sl_registry *r, const struct sl_principal *p,
                                const char *org, const char *name, const char *rev,
                                struct sl_version_ref *v, struct sl_error *err);

/* The caller's manifest of version `v`: a signed note listing the SHA-256 of
 * every file as the caller receives it (marked copies included), computed
 * once per recipient and file. */
enum sl_err sl_reg_manifest(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *model, char **note,
                            struct sl_error *err);

/* Traces the suspect weight files `paths` against model `model_id`: reads
 * the marks, scores every recipient ever issued, decodes the payload.
 * `*out`: {model, version, commit, accused [{user, grant, z, fp_bound,
 * positions_read}], positions_read, positions_total, recipients_scored,
 * threshold_z, payload_id, unread, quantised_reference}. */
enum sl_err sl_reg_trace(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                         const char *model, const char *const *paths, size_t npaths, json_t **out,
                         struct sl_error *err);

/* ---- evaluations, obligations, tiers (govern.c) ---- */

/* Registers evaluator `name` (an existing account) with verifier key
 * `vkey`, whose key name must be `name`. Admins only. */
struct sl_arena;

/* `*canon` (in `a`) gets the key in its canonical text. */
enum sl_err sl_reg_eval_key_add(struct sl_registry *r, const struct sl_principal *p,
                                const char *name, const char *vkey, struct sl_arena *a,
                                const char **canon, struct sl_error *err);
/* Revokes evaluator NAME's key (admins): attestations it signs are refused
 * from then on; what it attested before keeps its history. */
enum sl_err sl_reg_eval_key_remove(struct sl_registry *r, const struct sl_principal *p,
                                   const char *name, struct sl_error *err);

/* An evaluator key as listed (rendered by src/http/render_govern.c). */
struct sl_eval_key_info {
    const char *name, *vkey;
    int64_t added;
    bool revoked;
    int64_t revoked_at;
};

/* Every evaluator key by name: an array of `*n` in `a`. */
enum sl_err sl_reg_eval_keys(struct sl_registry *r, struct sl_arena *a,
                             struct sl_eval_key_info **keys, size_t *n, struct sl_error *err);

/* Where applying a new decision left a version (rendered by
 * src/http/render_govern.c). */
struct sl_gov_state {
    char tier[16];     /* the tier now */
    char min_tier[16]; /* the decision's minimum */
    char floor_tier[16];
    char old_tier[16]; /* the tier before */
    bool moved;        /* the floor rose above the tier and took it along */
    json_t *held_by;   /* the decision's blocking obligations that hold it, with status */
};

void sl_gov_state_release(struct sl_gov_state *s);

/* An attestation attached: what it says, who signed it, the decision now in
 * force (a stored document) and where that left the version. */
struct sl_attest_result {
    char evaluator[SL_NAME_MAX + 1];
    char domain[16], level[16];
    char method[512];
    char commit[65];
    json_t *decision;
    struct sl_gov_state state;
};

void sl_attest_result_release(struct sl_attest_result *res);

/* Attaches a signed attestation to `v`, re-runs the decision and applies
 * it (the tier moves up when the new floor is above it). `*created` is
 * false when the same attestation was attached before. Release `*res`
 * after success. */
enum sl_err sl_reg_attest(struct sl_registry *r, const struct sl_principal *p,
                          const struct sl_version_ref *v, const char *model, const char *note,
                          size_t len, struct sl_attest_result *res, bool *created,
                          struct sl_error *err);
/* An attestation of a version as listed: `date` in seconds, `note` the
 * signed note itself. */
struct sl_attestation_info {
    const char *evaluator, *domain, *level, *method, *note;
    int64_t date;
};

/* The attestations of `v` in the order they came: an array of `*n` in
 * `a`. */
enum sl_err sl_reg_attestations(struct sl_registry *r, const struct sl_version_ref *v,
                                struct sl_arena *a, struct sl_attestation_info **list, size_t *n,
                                struct sl_error *err);

/* The obligations of a version with their status, the floor and what
 * holds it. */
struct sl_obligations {
    int64_t version;
    char commit[65];
    char tier[16], min_tier[16], floor_tier[16];
    json_t *held_by;     /* the blocking obligations that hold it, with status */
    json_t *obligations; /* every obligation of the decision, with status */
};

void sl_obligations_release(struct sl_obligations *o);

/* The obligations of `v`; release `*out` after success. */
enum sl_err sl_reg_obligations(struct sl_registry *r, const struct sl_version_ref *v,
                               struct sl_obligations *out, struct sl_error *err);

/* Records evidence for obligation `id` of `v`; `*state` gets where the
 * decision applied again left the version (release it after success). */
enum sl_err sl_reg_obligation_satisfy(struct sl_registry *r, const struct sl_principal *p,
                                      const struct sl_version_ref *v, const char *model,
                                      const char *id, const char *evidence,
                                      struct sl_gov_state *state, struct sl_error *err);

/* Sets the tier of `v` after deciding it again with today's policy;
 * SL_EREFUSED below the floor, naming the rule or obligation. */
struct sl_tier_result {
    bool refused; /* SL_EREFUSED: decision, floor_tier and held_by say why */
    json_t *decision;
    json_t *held_by;
    int64_t version; /* the rest after success */
    char commit[65];
    char tier[16], floor_tier[16], min_tier[16], old_tier[16];
};

void sl_tier_result_release(struct sl_tier_result *res);

/* Release `*res` after success and after SL_EREFUSED. */
enum sl_err sl_reg_tier_set(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *model, const char *tier,
                            struct sl_tier_result *res, struct sl_error *err);

/* Staged release: a tier step for `v` at `at` (unix seconds, future). */
struct sl_schedule_step {
    int64_t id;
    int64_t version; /* the version's number */
    char commit[65];
    char tier[16];
    int64_t at;
    char status[16];    /* pending, done or refused */
    const char *reason; /* why it was refused, or NULL */
    bool has_done;
    int64_t done; /* when it ran (has_done) */
};

/* `*step` gets the pending step added (reason NULL, not done). */
enum sl_err sl_reg_schedule_add(struct sl_registry *r, const struct sl_principal *p,
                                const struct sl_version_ref *v, const char *model, const char *tier,
                                int64_t at, struct sl_schedule_step *step, struct sl_error *err);

/* The steps of model `model_id` by time: an array of `*n` in `a`. */
enum sl_err sl_reg_schedule(struct sl_registry *r, int64_t model_id, struct sl_arena *a,
                            struct sl_schedule_step **steps, size_t *n, struct sl_error *err);

/* Runs the steps that are due (each decided with the policy in force on its
 * day) and expires grants; `*changed` tells whether any tier changed. */
enum sl_err sl_reg_tick(struct sl_registry *r, bool *changed, struct sl_error *err);

/* ---- many servers, one hub (leader.c) ---- */

/* Whether this server is the hub's leader, the one that runs the ticker's
 * work (staged steps, expiries, the daily policy entry, checkpoints). On
 * PostgreSQL one server at a time holds a session-level advisory lock on a
 * connection of its own; when it dies PostgreSQL releases the lock and the
 * next server to ask takes over. On SQLite the one process always leads.
 * Call from one thread only (the ticker), about twice a second. */
enum sl_err sl_reg_leader(struct sl_registry *r, bool *leader, struct sl_error *err);

/* Tells every server sharing the database that tiers or refs changed, so
 * that they void their lookup caches (NOTIFY on PostgreSQL; nothing on
 * SQLite, where another process's caches expire within a second). Call after
 * the change has committed. */
enum sl_err sl_reg_announce(struct sl_registry *r, struct sl_error *err);

/* Waits up to `timeout_ms` for another server's (or this one's)
 * sl_reg_announce(); `*changed` is set when one arrived, and also when the
 * listening connection was lost and remade (announcements may have been
 * missed). A round in which none arrived ends with a round trip on the
 * listening connection; when it succeeds and brought no announcement either,
 * the listener vouches for cached lookups for one second
 * (sl_reg_hub_stamp). A lost connection withdraws that at once. Call from
 * one thread only (the listener), and void the cache whenever `*changed` is
 * set, before calling again. */
enum sl_err sl_reg_watch(struct sl_registry *r, int timeout_ms, bool *changed,
                         struct sl_error *err);

/* A stamp that changes whenever a tier, a floor or a ref changes anywhere in
 * the hub, for checking a cached lookup without redoing it. On PostgreSQL,
 * while the listener vouches (sl_reg_watch heard from its connection within
 * the last second), a constant that costs no query: other servers' changes
 * then reach the cache through NOTIFY. Otherwise the log's size (every such
 * change appends a log entry in its own transaction, so a change committed
 * by any server is seen by the next lookup on every other); the two never
 * match, so entries made under one are not used under the other. On SQLite
 * always 0, since the one process voids its own cache. */
enum sl_err sl_reg_hub_stamp(struct sl_registry *r, uint64_t *stamp, struct sl_error *err);

/* ---- uploads (ingest.c) ---- */

/* Chunk ids (raw SHA-256) this org has not stored: `missing[i]` is set for
 * each `ids[i]` the org lacks. */
enum sl_err sl_reg_chunks_missing(struct sl_registry *r, int64_t org_id,
                                  const unsigned char (*ids)[32], size_t n, bool *missing,
                                  struct sl_error *err);

/* Streaming ingest of one upload body (frames: sha256, u32 LE length,
 * bytes). Nothing is visible until sl_ingest_finish() succeeds. With
 * `file_sid` (16 bytes, or NULL) the frames are the chunks of one file from
 * index `from` on, and feed that file's streamed SHA-256 (see
 * sl_reg_file_store). */
struct sl_ingest;
enum sl_err sl_ingest_begin(struct sl_registry *r, int64_t org_id, uint64_t body_len,
                            const unsigned char *file_sid, uint64_t from, struct sl_ingest **in,
                            struct sl_error *err);
enum sl_err sl_ingest_feed(struct sl_ingest *in, const void *data, size_t n, struct sl_error *err);
enum sl_err sl_ingest_finish(struct sl_ingest *in, json_t **result, struct sl_error *err);
void sl_ingest_abort(struct sl_ingest *in);

/* ---- commits (commit.c) ---- */

/* Creates a version from a commit body (docs/api.md); `*created` tells
 * whether it is new (false when an identical version already existed).
 * Without "facts" the newest version's facts are inherited; `main` moves
 * only when the new tier is not stricter than main's or "force" is true
 * (`*result` says `on_main` and why not). SL_EREFUSED when the policy
 * refuses the requested tier or a blocking obligation is unmet: the
 * message names the rule and its citation, and `*result` holds the
 * decision. */
enum sl_err sl_reg_commit(struct sl_registry *r, const struct sl_principal *p, const char *org,
                          const char *name, json_t *body, json_t **result, bool *created,
                          struct sl_error *err);

/* Registers a file (content only, no path) from its ordered chunk ids,
 * which this org must have uploaded: checks lengths, re-hashes the bytes and
 * stores the file so a commit can name it by SHA-256 without its chunk list.
 * With `file_sid` (16 bytes, or NULL), the session its chunk uploads named:
 * the part of the file whose SHA-256 the server computed as the chunks
 * arrived, when its chunk ids are the first ones of `ids`, is not read
 * again; the rest is read back from the packs. `*reread` (may be NULL) gets
 * the bytes read back, now or during the upload (chunks of requests that
 * arrived ahead of their turn with no memory window are hashed by reading
 * them back). Idempotent: `*created` is false when it was stored already
 * (the list must then be the stored one). Unused files go after the gc
 * grace period. */
enum sl_err sl_reg_file_store(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                              const unsigned char sha[32], uint64_t size,
                              const unsigned char (*ids)[32], size_t n,
                              const unsigned char *file_sid, bool *created, uint64_t *reread,
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

/* ---- the hosted gateway's filters (filter.c; docs/hosted.md, "Filters") ---- */

/* The keyed pseudonym of `user_id` on `model` ("acct:" + 16 hex digits), as
 * the log writes it; for the server's own log lines about a caller. */
void sl_reg_pseudonym(const struct sl_registry *r, const char *model, int64_t user_id,
                      char out[22]);

/* Sets `policy` (canonical JSON, already validated) as the filter of
 * `model_id`, with a "hosted.filter_set" log entry in the same transaction:
 * the fields of `summary` (rule ids, places and actions; the cap; the
 * allowed parameters), a keyed digest of the policy, the setter's
 * pseudonym. `*log_idx` (may be NULL) gets the entry's index. */
enum sl_err sl_reg_filter_set(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                              const char *model, const char *policy, json_t *summary,
                              int64_t *log_idx, struct sl_error *err);

/* Removes the filter of `model_id` ("hosted.filter_cleared" logged when
 * there was one); `*had` says whether there was. */
enum sl_err sl_reg_filter_clear(struct sl_registry *r, const struct sl_principal *p,
                                int64_t model_id, const char *model, bool *had,
                                struct sl_error *err);

/* The stored filter (malloc'd canonical JSON, NULL when none). */
enum sl_err sl_reg_filter_get(struct sl_registry *r, int64_t model_id, char **policy,
                              int64_t *updated, struct sl_error *err);

/* Counts one refusal or flag today (db/repo_hosted.h, sl_repo_refusal_add). */
enum sl_err sl_reg_refusal_count(struct sl_registry *r, int64_t model_id, const char *reason,
                                 const char *rule, struct sl_error *err);

struct sl_hosted_refusal;
/* The refusal counts of a model from `since_day` on; the caller frees. */
enum sl_err sl_reg_refusal_list(struct sl_registry *r, int64_t model_id, int64_t since_day,
                                struct sl_hosted_refusal **out, size_t *n, struct sl_error *err);

/* ---- the web UI's accounts (web.c; docs/web.md, "Sessions") ----
 * Browser sessions, sign-up and invitations. None of this is a log entry:
 * who signed up or in is personal data, and the log is public. */

#define SL_SESSION_HEX        64 /* a session id or CSRF token: 32 random bytes in hex */
#define SL_INVITE_CODE_LEN    68 /* "inv_" + 64 hex digits */
#define SL_INVITE_DAYS_MAX    365
#define SL_SIGNUP_FIELD_MAX   200 /* name, email, affiliation */
#define SL_SIGNUP_COUNTRY_MAX 64
#define SL_REG_SESSION_HOURS  12 /* a session's life when the caller gives none */
#define SL_REG_SESSIONS_MAX   20 /* live sessions per user; more end the oldest */

struct sl_session {
    char id[SL_SESSION_HEX + 1]; /* the cookie's value: set by sl_reg_session_open only */
    char csrf[SL_SESSION_HEX + 1];
    int64_t expires;
    struct sl_principal who; /* with the scopes of the token it was opened with */
};

/* Opens a session for the holder of `token` lasting `hours` (0:
 * SL_REG_SESSION_HOURS): SL_EAUTH as sl_reg_auth for a bad token. Only the
 * SHA-256 of the id is stored. The user's sessions beyond the
 * SL_REG_SESSIONS_MAX newest end. */
enum sl_err sl_reg_session_open(struct sl_registry *r, const char *token, unsigned hours,
                                struct sl_session *s, struct sl_error *err);

/* The live session of cookie value `id`: `*alive` false when it is unknown,
 * malformed, expired, or its token was revoked or its account removed (a
 * dead one found is deleted on the way). */
enum sl_err sl_reg_session_get(struct sl_registry *r, const char *id, struct sl_session *s,
                               bool *alive, struct sl_error *err);

/* Ends the session of cookie value `id` (no error when there is none). */
enum sl_err sl_reg_session_close(struct sl_registry *r, const char *id, struct sl_error *err);

/* Deletes every dead session (the ticker calls this); `*count` gets how many. */
enum sl_err sl_reg_session_reap(struct sl_registry *r, int *count, struct sl_error *err);

/* The sign-up limit (docs/web.md, "Sessions"): SL_SIGNUPS_PER_HOUR sign-ups
 * per client address in any SL_SIGNUP_WINDOW seconds, counted in the
 * database so every server of a hub shares one count and a restart keeps it. */
#define SL_SIGNUPS_PER_HOUR 5
#define SL_SIGNUP_WINDOW    3600

/* Takes one sign-up for client address `addr` (an IPv4 address or an IPv6
 * /64, as the HTTP layer derives it): `*allowed` false when the address
 * already had SL_SIGNUPS_PER_HOUR in the last SL_SIGNUP_WINDOW seconds (then
 * nothing is recorded). The address is stored only as HMAC-SHA-256 under the
 * hub's log secret, so the table names nobody to a reader of the database. */
enum sl_err sl_reg_signup_take(struct sl_registry *r, const char *addr, bool *allowed,
                               struct sl_error *err);

/* Deletes the sign-ups older than the window (the leader's ticker calls
 * this); `*count` gets how many. */
enum sl_err sl_reg_signup_prune(struct sl_registry *r, int *count, struct sl_error *err);

/* A sign-up: `user` (sl_name_ok), `name` and `email` required, the rest
 * may be NULL; `invite` a code from sl_reg_invite_new. */
struct sl_signup_form {
    const char *user, *name, *email, *affiliation, *country, *invite;
};

/* Checks every field of `f` (SL_EUSAGE naming the field); SL_EUSAGE
 * "invitation code ..." when need_invite and none is given. */
enum sl_err sl_reg_signup_check(const struct sl_signup_form *f, bool need_invite,
                                struct sl_error *err);

/* Creates the account of `f` with its profile and a read+write token
 * (copied to `token`), using up its invitation when `need_invite`: all or
 * nothing. SL_EFORBIDDEN for an unknown, used, expired or other-address
 * invitation; SL_ECONFLICT for a taken user name. */
enum sl_err sl_reg_signup(struct sl_registry *r, const struct sl_signup_form *f, bool need_invite,
                          char *token, struct sl_error *err);

/* Makes an invitation by admin `p` valid for `days` (1..SL_INVITE_DAYS_MAX),
 * for `email` only when not NULL: the code (shown once) into `code`. */
enum sl_err sl_reg_invite_new(struct sl_registry *r, const struct sl_principal *p,
                              const char *email, int days, char code[SL_INVITE_CODE_LEN + 1],
                              int64_t *id, int64_t *expires, struct sl_error *err);
enum sl_err sl_reg_invites(struct sl_registry *r, struct sl_arena *a, struct sl_invite_row **rows,
                           size_t *n, struct sl_error *err);
/* SL_ENOTFOUND when there is no invitation `id`. */
enum sl_err sl_reg_invite_delete(struct sl_registry *r, int64_t id, struct sl_error *err);

/* Every user with its profile (admins only; rows in `a`). */
enum sl_err sl_reg_users(struct sl_registry *r, struct sl_arena *a, struct sl_user_row **rows,
                         size_t *n, struct sl_error *err);

/* Every org by name with how many of its models sl_reg_models lists for `p`
 * (GET /api/v1/models). */
struct sl_org_summary {
    char *org;
    size_t models;
};
enum sl_err sl_reg_orgs(struct sl_registry *r, const struct sl_principal *p, struct sl_arena *a,
                        struct sl_org_summary **rows, size_t *n, struct sl_error *err);

/* ---- the hosted gateway's prompt retention (retention.c; docs/hosted.md,
 * "Retention") ---- */

/* Sets the retention of `model_id` ("org/name" in `model`) to `days` (1 to
 * SL_HOSTED_RETAIN_DAYS_MAX), or clears it (`days` 0), with a
 * "hosted.retention_set" or "hosted.retention_cleared" log entry (the days
 * and the setter's pseudonym) in the same transaction; clearing what is not
 * set logs nothing. `*had` (may be NULL) says whether one was set before;
 * `*log_idx` (may be NULL) gets the entry's index, -1 when none. */
enum sl_err sl_reg_retention_set(struct sl_registry *r, const struct sl_principal *p,
                                 int64_t model_id, const char *model, int64_t days, bool *had,
                                 int64_t *log_idx, struct sl_error *err);

/* The retention of `model_id` in days (0: nothing is kept). */
enum sl_err sl_reg_retention_get(struct sl_registry *r, int64_t model_id, int64_t *days,
                                 int64_t *updated, struct sl_error *err);

struct sl_hosted_retained;
/* The calls of `model_id` kept since `since` (unix time), oldest first, and
 * after item `after` when it is not 0, one listing's worth (at most
 * SL_HOSTED_RETAINED_LIST_MAX rows and SL_HOSTED_RETAINED_LIST_BYTES of
 * text); `*more` when rows were left. Free with sl_repo_retained_free
 * (db/repo_hosted.h). */
enum sl_err sl_reg_retained_list(struct sl_registry *r, int64_t model_id, int64_t since,
                                 int64_t after, struct sl_hosted_retained **out, size_t *n,
                                 bool *more, struct sl_error *err);

/* Deletes the kept calls whose time is up (the leader's ticker). */
enum sl_err sl_reg_retained_expire(struct sl_registry *r, int64_t *deleted, struct sl_error *err);

#endif
