/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client: where the server is and which token to send (config),
 * an HTTP connection to it (libcurl, loaded on first use), and the two
 * transfers, push (chunk, hash, upload what the server lacks, commit) and
 * pull (parallel ranged downloads, resumable, verified); the calls of tiered
 * access (access.c), the server key pinned at first contact (pin.c), and
 * the offline side of signed notes: evaluator keys, attestations, license
 * checks (notes.c). The CLI commands are thin layers over this module.
 */
#ifndef SL_CLIENT_CLIENT_H
#define SL_CLIENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "tlog/govdoc.h"
#include "tlog/merkle.h"
#include "tlog/note.h"

/* Where the server is and the token to send it. Strings are owned by the
 * struct (sl_client_config_release frees them). */
struct sl_client_config {
    char *url;   /* base URL without a trailing '/', or NULL when none is set */
    char *token; /* bearer token, or NULL (anonymous) */
    char *file;  /* the config file read, or NULL */
};

/* Resolves the server and token: SLUICE_URL and SLUICE_TOKEN win; otherwise
 * the config file ($XDG_CONFIG_HOME/sluice/config.json, default
 * ~/.config/sluice/config.json). A token in the file is only used for the URL
 * it was saved with, so pointing SLUICE_URL elsewhere never sends it to
 * another server. A missing file is not an error; a malformed one is
 * (SL_EINPUT). `c->url` stays NULL when nothing names a server. */
enum sl_err sl_client_config_load(struct sl_client_config *c, struct sl_error *err);

void sl_client_config_release(struct sl_client_config *c);

/* Returns the config file path (caller frees), or NULL when neither
 * XDG_CONFIG_HOME nor HOME can be found. */
char *sl_client_config_path(void);

/* Records `token` for `url` and makes `url` the default server: the file is
 * written with mode 0600 (its folder 0700), to a temporary name, fsynced and
 * renamed into place. Other servers' tokens in the file are kept. */
enum sl_err sl_client_config_save(const char *url, const char *token, struct sl_error *err);

/* Normalises a server URL: http:// or https:// with a host, no query or
 * fragment, trailing '/' removed. Returns a new string (caller frees) or NULL
 * with an SL_EUSAGE error. */
char *sl_client_url_normalize(const char *url, struct sl_error *err);

/* A token is sent in a header: printable ASCII without spaces, 1..512 bytes. */
bool sl_client_token_ok(const char *token);

/* A connection to a server. Creating it loads libcurl (SL_EIO with a clear
 * message when the library is missing). */
struct sl_client;

enum sl_err sl_client_new(const char *url, const char *token, struct sl_client **out,
                          struct sl_error *err);
void sl_client_free(struct sl_client *cl);

/* Transfer politeness for push and pull: `rate` caps the bytes per second
 * of all the client's parallel transfers together (0 = no limit);
 * `retry_for` is how many seconds a transfer keeps retrying through
 * connection failures and 408/429/5xx answers since it last moved a byte
 * (0 = no retries). New clients have no limit and 600 s. */
#define SL_CLIENT_RETRY_FOR_DEFAULT 600.0
void sl_client_set_transfer(struct sl_client *cl, uint64_t rate, double retry_for);

/* Parses a rate in curl's --limit-rate syntax: a whole number of bytes per
 * second with an optional suffix K, M, G (1024-based, either case), such as
 * "500K" or "2M". Zero, fractions, signs, other suffixes and values over
 * 1 TiB/s are SL_EUSAGE naming the text. */
enum sl_err sl_client_parse_rate(const char *s, uint64_t *out, struct sl_error *err);

/* Parses a duration: a whole number with a unit s, m or h ("30s", "10m",
 * "1h"; a bare number is seconds), at most 7 days; "0" is allowed. Other
 * text is SL_EUSAGE naming it. */
enum sl_err sl_client_parse_duration(const char *s, double *seconds, struct sl_error *err);

/* The JSON body of the last request the server refused (its `error`,
 * `message`, and for a refused version the `decision`), or NULL. Owned by
 * the client; valid until its next request. */
json_t *sl_client_last_error(struct sl_client *cl);

/* GET /api/v1/health and checks the answer is {"ok": true, ...}. */
enum sl_err sl_client_health(struct sl_client *cl, struct sl_error *err);

/* ---- hub-style reads (hub.c) ---- */

/* Every model the server lists (GET /api/models, page by page), filtered
 * by `search` (substring of ORG/NAME) and `org` (both may be NULL). */
enum sl_err sl_client_models(struct sl_client *cl, const char *search, const char *org,
                             json_t **out, struct sl_error *err);

/* A model with its refs and versions (GET /api/v1/models/ORG/NAME). */
enum sl_err sl_client_model(struct sl_client *cl, const char *org, const char *name, json_t **out,
                            struct sl_error *err);

/* A version (`what` NULL) or one of its documents (`what` "decision"). */
enum sl_err sl_client_version(struct sl_client *cl, const char *org, const char *name,
                              const char *rev, const char *what, json_t **out,
                              struct sl_error *err);

/* The caller's account (GET /api/whoami-v2). */
enum sl_err sl_client_whoami(struct sl_client *cl, json_t **out, struct sl_error *err);

/* Forgets the token saved for `url` (and `url` as the default server when
 * it is); `*removed` tells whether one was saved. */
enum sl_err sl_client_config_forget(const char *url, bool *removed, struct sl_error *err);

/* Validates "ORG/NAME" (and "@REV" when `rev` is not NULL; `*rev` is then
 * "main" when absent). Returns new strings the caller frees. */
enum sl_err sl_client_parse_model(const char *spec, char **org, char **name, char **rev,
                                  struct sl_error *err);

struct sl_push_opts {
    const char *org, *name;
    const char *path;      /* a folder or a single file */
    json_t *facts;         /* validated facts, or NULL */
    const char *tier;      /* requested tier, or NULL for the minimum */
    const char *license;   /* license text, or NULL */
    bool force;            /* move `main` even when the new version's tier is stricter */
    bool progress;         /* draw a progress bar on stderr */
    int threads;           /* hashing threads; 0 = number of CPUs, at most 8 */
    int streams;           /* parallel uploads; 0 = 4 */
    const char *cache_dir; /* scan cache folder; NULL = the default, "" = none */
};

/* Pushes a model version. On success `*result` (new reference) holds the
 * server's answer (`model`, `version`, `commit`, `tier`, `min_tier`,
 * `bytes_total`, `decision`) plus `bytes_uploaded` and `files` (count).
 * A refusal (4xx) is SL_EREFUSED with the server's message. */
enum sl_err sl_client_push(struct sl_client *cl, const struct sl_push_opts *o, json_t **result,
                           struct sl_error *err);

struct sl_pull_opts {
    const char *org, *name, *rev;
    const char *dest; /* folder to write into (created) */
    bool progress;
    int streams;              /* parallel downloads; 0 = 4 */
    uint64_t segment;         /* bytes per ranged request; 0 = 64 MiB */
    const char *cache_dir;    /* scan cache folder (chunk lists of local files); NULL = the
                                 default $XDG_CACHE_HOME/sluice/scan-cache, "" = none */
    const char *const *seeds; /* more folders whose files may hold chunks */
    size_t nseeds;
    const char *const *include, *const *exclude; /* glob patterns (HF rules) */
    size_t ninclude, nexclude;
};

/* Pulls a version into `dest`: the files selected by the patterns that are
 * not already there, fetching only the chunks no local file holds (open and
 * click versions; the destination's files and `seeds` are the local files)
 * and verifying each file's SHA-256 before it replaces anything. `*result`
 * (new reference): `commit`, `files` [{`path`, `size`, `sha256`,
 * `downloaded`}], `bytes_downloaded` (from the network in this run),
 * `bytes_reused` (from local files), `bytes_total` (of the selected
 * files), `bad_local_chunks` (local copies that failed their check and
 * were fetched), and `model`, `version`, `tier` for the human summary. */
enum sl_err sl_client_pull(struct sl_client *cl, const struct sl_pull_opts *o, json_t **result,
                           struct sl_error *err);

/* ---- pull-through mirrors (mirror.c; docs/mirror.md) ---- */

/* Sends `method` `path` (with its query) to the server at `url` with the
 * caller's `token` (NULL: anonymous) and an optional body (`ctype`, NULL for
 * JSON). Any HTTP answer is SL_OK: `*status`, the body in `*out` (at most
 * `max` bytes, NUL-terminated, caller frees, length in `*len`) and its
 * Content-Type in `out_ctype`. No answer is SL_EUNREACHABLE naming the
 * server; a longer answer SL_ELIMIT. Safe to call from several threads. */
enum sl_err sl_client_mirror_request(const char *url, const char *token, const char *method,
                                     const char *path, const char *ctype, const char *body,
                                     size_t blen, size_t max, long *status, char **out, size_t *len,
                                     char *out_ctype, size_t ctype_cap, struct sl_error *err);

/* Fetches one file of ORG/NAME at `commit` from `url` into
 * STORE/files/ORG/NAME/COMMIT/PATH with the delta pull: chunks that any
 * file of the model already in the store holds are copied, the rest come
 * over the link, and the file's SHA-256 is checked before it is put in
 * place. Only open and click versions are kept (anything else is
 * SL_EFORBIDDEN and removed). `*result` is the pull's answer (new
 * reference). Not safe to run twice at once for the same commit. */
enum sl_err sl_client_mirror_fetch(const char *url, const char *token, const char *org,
                                   const char *name, const char *commit, const char *path,
                                   const char *store, json_t **result, struct sl_error *err);

/* ---- offline bundles (bundle.c; docs/bundle.md) ---- */

struct sl_export_opts {
    const char *org, *name, *rev;
    const char *out;          /* the bundle file, written atomically */
    const char *const *seeds; /* folders whose files may hold chunks */
    size_t nseeds;
    bool progress;
};

/* Pulls a version as the caller may have it (into OUT.sluice-export, kept
 * for a resume when anything fails) and writes the bundle: a tar whose
 * first entry is the manifest, then the server's key, a checkpoint signed
 * with it, the version's log entry and its inclusion proof, for a gated
 * copy the signed manifest of the copy and the caller's license, then the
 * files. `*result` (new reference): model, version, commit, tier,
 * log_index, checkpoint_size, files (count), out, and the pull's
 * bytes_downloaded and bytes_reused. */
enum sl_err sl_client_export(struct sl_client *cl, const struct sl_export_opts *o, json_t **result,
                             struct sl_error *err);

struct sl_bundle_opts {
    const char *file; /* the bundle */
    const char *key;  /* trusted vkey text, or NULL for the key pinned for its server */
    const char *dest; /* NULL: verify only; else import into this folder */
};

/* Verifies a bundle with no network, in one pass: entries in the
 * manifest's order with its sizes and digests, safe names, no duplicates;
 * the bundle's key is the trusted one; the checkpoint is signed with it and
 * not older than the one this machine verified for that server; the entry
 * is included in it and is the publication of this version; every file
 * hashes to the logged digest (a gated copy: to the signed manifest of the
 * copy, whose license must be signed too). With `dest` the files are
 * written to a staging folder inside it and moved into place only when
 * everything holds. Malformed bundles are SL_EINPUT (exit 2) naming the
 * entry; failed checks SL_EREFUSED (exit 1) with a `kind`. `*result` (new
 * reference): model, version, commit, tier, server, log_index,
 * checkpoint_size, files [{path, size, sha256}], verified, dest. */
enum sl_err sl_bundle_verify(const struct sl_bundle_opts *o, json_t **result, struct sl_error *err);

struct sl_license_check;

/* ---- tiered access (access.c; docs/access.md) ----
 *
 * Thin calls over the HTTP API of docs/access.md. Each returns the server's
 * JSON answer in `*out` (a new reference the caller releases; `out` may be
 * NULL to drop it). `org` and `name` must be valid names (see
 * sl_client_parse_model); `rev` may be NULL for the server's default
 * (`main`). A refusal is an error whose message is the server's (with the
 * tier and the hint when it gives them), prefixed with "ORG/NAME"; the JSON
 * body stays available from sl_client_last_error(). A user name or a field
 * the server would refuse anyway (a bad user name, an empty reason) is
 * SL_EUSAGE before anything is sent. */

/* GET .../terms: model, version, commit, tier, license_sha256, license
 * (text or null), accepted. */
enum sl_err sl_client_terms(struct sl_client *cl, const char *org, const char *name,
                            const char *rev, json_t **out, struct sl_error *err);

/* POST .../accept with {rev, license_sha256}: accepts the license text of
 * `rev`. When `license_sha256` (64 hex digits, or NULL) is given, the
 * server refuses if the text changed since the caller read it. */
enum sl_err sl_client_accept(struct sl_client *cl, const char *org, const char *name,
                             const char *rev, const char *license_sha256, json_t **out,
                             struct sl_error *err);

/* POST .../access: asks for access with a purpose and the publisher's
 * fields (`fields` a JSON object of strings, or NULL; borrowed). */
enum sl_err sl_client_access_request(struct sl_client *cl, const char *org, const char *name,
                                     const char *purpose, json_t *fields, json_t **out,
                                     struct sl_error *err);

/* GET .../access/me: the caller's own request. SL_ENOTFOUND when none. */
enum sl_err sl_client_access_me(struct sl_client *cl, const char *org, const char *name,
                                json_t **out, struct sl_error *err);

/* POST .../access/me/appeal {text}. */
enum sl_err sl_client_access_appeal(struct sl_client *cl, const char *org, const char *name,
                                    const char *text, json_t **out, struct sl_error *err);

/* GET .../access[?status=S]: the requests (publishers). `status` may be NULL. */
enum sl_err sl_client_access_list(struct sl_client *cl, const char *org, const char *name,
                                  const char *status, json_t **out, struct sl_error *err);

/* POST .../access/{user}/{action}: `action` is "approve" (then `arg` is the
 * expiry DATE or NULL), "deny" or "revoke" (then `arg` is the reason, which
 * must not be empty). */
enum sl_err sl_client_access_decide(struct sl_client *cl, const char *org, const char *name,
                                    const char *user, const char *action, const char *arg,
                                    json_t **out, struct sl_error *err);

/* GET or PUT .../access-rules: {everyone, email_domains, orgs, fields}.
 * `rules` is borrowed. */
enum sl_err sl_client_access_rules_get(struct sl_client *cl, const char *org, const char *name,
                                       json_t **out, struct sl_error *err);
enum sl_err sl_client_access_rules_put(struct sl_client *cl, const char *org, const char *name,
                                       json_t *rules, json_t **out, struct sl_error *err);

/* GET .../license[?rev=R]: the caller's license of that version, a signed
 * note, into `*text` (NUL-terminated, `*len` bytes, caller frees). Not
 * verified here: see sl_client_license_verify. */
enum sl_err sl_client_license_get(struct sl_client *cl, const char *org, const char *name,
                                  const char *rev, char **text, size_t *len, struct sl_error *err);

/* Fetches the caller's license of a version (as sl_client_license_get),
 * then checks it before anyone relies on it: signed by the server's pinned
 * key (sl_client_server_key, which pins at first contact), for ORG/NAME,
 * and for the commit `rev` when that is a full commit digest. `c` receives
 * the fields. Expiry is not judged here. On failure `*text` is NULL. */
enum sl_err sl_client_license_fetch(struct sl_client *cl, const char *org, const char *name,
                                    const char *rev, char **text, size_t *len,
                                    struct sl_license_check *c, bool *pinned_now,
                                    struct sl_error *err);

/* Writes `len` bytes to `path` atomically (a temporary file in the same
 * folder with `mode`, fsync, rename), so a reader never sees half a file. */
enum sl_err sl_client_write_file(const char *path, const void *data, size_t len, unsigned mode,
                                 struct sl_error *err);

/* GET /api/v1/revocations: the signed revocation list (caller frees). */
enum sl_err sl_client_revocations(struct sl_client *cl, char **text, size_t *len,
                                  struct sl_error *err);

/* GET /log/key: the server's verifier key line, without its newline
 * (caller frees). Not pinned here: see sl_client_server_key. */
enum sl_err sl_client_log_key(struct sl_client *cl, char **vkey, struct sl_error *err);

/* GET and POST /api/v1/eval/keys ([{name, vkey, added}]; adding is for
 * admins). */
enum sl_err sl_client_eval_keys(struct sl_client *cl, json_t **out, struct sl_error *err);
/* An org's members [{user, role}]; set a member's role (admin, publisher,
 * member); remove a member. For the org's admins. */
enum sl_err sl_client_org_members(struct sl_client *cl, const char *org, json_t **out,
                                  struct sl_error *err);
enum sl_err sl_client_org_member_set(struct sl_client *cl, const char *org, const char *user,
                                     const char *role, json_t **out, struct sl_error *err);
enum sl_err sl_client_org_member_remove(struct sl_client *cl, const char *org, const char *user,
                                        json_t **out, struct sl_error *err);

/* Revokes evaluator NAME's key (admin token). */
enum sl_err sl_client_eval_key_remove(struct sl_client *cl, const char *name, json_t **out,
                                      struct sl_error *err);
enum sl_err sl_client_eval_key_add(struct sl_client *cl, const char *name, const char *vkey,
                                   json_t **out, struct sl_error *err);

/* POST .../versions/{rev}/attestations with the attestation note as
 * text/plain: {attestation, decision, tier, floor_tier, moved}. */
enum sl_err sl_client_attest_attach(struct sl_client *cl, const char *org, const char *name,
                                    const char *rev, const char *note, size_t len, json_t **out,
                                    struct sl_error *err);

/* GET .../versions/{rev}/attestations. */
enum sl_err sl_client_attestations(struct sl_client *cl, const char *org, const char *name,
                                   const char *rev, json_t **out, struct sl_error *err);

/* GET .../versions/{rev}/decision (with log_index and log_proof). */
enum sl_err sl_client_decision(struct sl_client *cl, const char *org, const char *name,
                               const char *rev, json_t **out, struct sl_error *err);

/* GET .../versions/{rev}/obligations and POST .../obligations/{id}/satisfy
 * {evidence}. `rev` NULL means main. */
enum sl_err sl_client_obligations(struct sl_client *cl, const char *org, const char *name,
                                  const char *rev, json_t **out, struct sl_error *err);
enum sl_err sl_client_obligation_satisfy(struct sl_client *cl, const char *org, const char *name,
                                         const char *rev, const char *id, const char *evidence,
                                         json_t **out, struct sl_error *err);

/* POST .../tier {tier, rev}: sets the tier of a version now. */
enum sl_err sl_client_tier_set(struct sl_client *cl, const char *org, const char *name,
                               const char *rev, const char *tier, json_t **out,
                               struct sl_error *err);

/* GET .../schedule (the steps) and POST .../schedule {tier, at, rev}. */
enum sl_err sl_client_schedule_list(struct sl_client *cl, const char *org, const char *name,
                                    json_t **out, struct sl_error *err);
enum sl_err sl_client_schedule_add(struct sl_client *cl, const char *org, const char *name,
                                   const char *rev, const char *tier, const char *at, json_t **out,
                                   struct sl_error *err);

/* True for the five tier names. */
bool sl_client_tier_ok(const char *tier);

/* ---- the server's key, pinned at first contact (pin.c) ----
 *
 * The verifier key a server signs licenses and log checkpoints with is
 * recorded per server URL the first time a command needs it, in
 * $XDG_STATE_HOME/sluice/servers.json (mode 0600):
 *
 *   {"servers": {"https://registry.example": {"log_key": "name+hexid+base64",
 *                                              "pinned": "2026-11-28T18:00:00Z"}}}
 *
 * Later contacts compare the key the server presents with the pinned one and
 * refuse on a mismatch, so a license or a checkpoint is checked offline
 * against the key seen first (trust on first use, as ssh does). */

/* The pin file's path (caller frees), or NULL when no home folder is known. */
char *sl_client_pin_path(void);

/* The key pinned for `url` (a normalised URL): `*vkey` (caller frees) is the
 * vkey text, or NULL when none is pinned. A malformed file is SL_EINPUT. */
enum sl_err sl_client_pin_get(const char *url, char **vkey, struct sl_error *err);

/* Pins `vkey` for `url` when nothing is pinned (then `*pinned_now`, which may
 * be NULL, is true) or compares it with the pinned key: equal is SL_OK, a
 * different key SL_EREFUSED (kind "ServerKeyChanged") with a message that
 * names both keys and how to accept the new one. */
enum sl_err sl_client_pin_check(const char *url, const char *vkey, bool *pinned_now,
                                struct sl_error *err);

/* Fetches the server's key (GET /log/key), checks it is a valid Ed25519
 * vkey, and pins or compares it as sl_client_pin_check does. Fills `k`
 * (public key only). */
enum sl_err sl_client_server_key(struct sl_client *cl, struct sl_note_key *k, bool *pinned_now,
                                 struct sl_error *err);

/* The key pinned for `url`, parsed into `k`. SL_ENOTFOUND when none. */
enum sl_err sl_client_pinned_key(const char *url, struct sl_note_key *k, struct sl_error *err);

/* ---- the transparency log (log.c; docs/log.md) ----
 *
 * A client trusts a log as far as it has checked it: the server's key is
 * pinned at first contact, every checkpoint must carry that key's signature
 * (and nothing else) under the key's name as origin, and every new
 * checkpoint must extend the last one this client verified, which it keeps
 * per server URL in
 * $XDG_STATE_HOME/sluice/log/<32 hex digits of SHA-256(URL)>.json (mode 0600,
 * written atomically):
 *
 *   {"url": URL, "origin": NAME, "size": N, "root": base64 root,
 *    "checkpoint": the signed note verbatim, "verified": "YYYY-MM-DDTHH:MM:SSZ"}
 *
 * The `kind` of a failed check (struct sl_error) says what failed: */
#define SL_LOG_K_ROLLBACK     "Rollback"     /* the server's tree is smaller than one seen */
#define SL_LOG_K_FORK         "Fork"         /* same size, another root */
#define SL_LOG_K_INCONSISTENT "Inconsistent" /* larger, but not an extension */
#define SL_LOG_K_WRONG_ORIGIN "WrongOrigin"  /* checkpoint origin is not the key's name */
#define SL_LOG_K_EXTRA_SIG    "ExtraSignature"
#define SL_LOG_K_BAD_ENTRY    "BadEntry"     /* an entry does not match the log's hashes */
#define SL_LOG_K_ROOT         "RootMismatch" /* entries rebuild another tree */
#define SL_LOG_K_NOT_INCLUDED "NotIncluded"  /* an inclusion proof fails */

/* The last checkpoint a client verified. */
struct sl_log_state {
    uint64_t size;
    unsigned char root[32];
    char *note;       /* the signed checkpoint, verbatim (NUL-terminated) */
    int64_t verified; /* unix seconds */
};

void sl_client_log_state_release(struct sl_log_state *s);

/* The state file of `url` (caller frees), or NULL without a home folder. */
char *sl_client_log_state_path(const char *url);

/* Reads the state of `url`. `*found` is false (and `s` empty) when there is
 * none. The stored note must still verify with `key` and agree with the
 * stored size and root; otherwise, or when the file is malformed, SL_EINPUT
 * naming the file. Release `s` with sl_client_log_state_release(). */
enum sl_err sl_client_log_state_load(const char *url, const struct sl_note_key *key,
                                     struct sl_log_state *s, bool *found, struct sl_error *err);

/* Records `s` as the state of `url` (`s->note` must be set), atomically.
 * A state file that meanwhile holds a larger tree (another sluice process
 * got further) is kept as it is. */
enum sl_err sl_client_log_state_save(const char *url, const struct sl_log_state *s,
                                     struct sl_error *err);

/* Opens the signed checkpoint `note[0..n)` with the server key `key`: the
 * note must be well formed, signed by `key` and by no other key (SL_EREFUSED,
 * kind SL_LOG_K_EXTRA_SIG, or the note.h kinds), and its origin must be the
 * key's name (SL_EREFUSED, kind SL_LOG_K_WRONG_ORIGIN); a malformed note or
 * checkpoint is SL_EINPUT. On success release `c` with sl_checkpoint_free(). */
enum sl_err sl_client_checkpoint_verify(const char *note, size_t n, const struct sl_note_key *key,
                                        struct sl_checkpoint *c, struct sl_error *err);

/* Judges a new tree (`new_size`, `new_root`) against the one verified
 * before (`old_size`, `old_root`), with the consistency proof from the
 * server (`proof` may be NULL when `len` is 0; it is only used when
 * 0 < old_size < new_size). SL_OK when the new tree extends the old one;
 * SL_EREFUSED with kind SL_LOG_K_ROLLBACK (new smaller than old), SL_LOG_K_FORK
 * (same size, other root) or SL_LOG_K_INCONSISTENT (the proof fails), each
 * message naming both sizes. */
enum sl_err sl_client_log_check_growth(uint64_t old_size, const unsigned char old_root[32],
                                       uint64_t new_size, const unsigned char new_root[32],
                                       const unsigned char (*proof)[32], size_t len,
                                       struct sl_error *err);

/* GET /log/checkpoint: the newest signed checkpoint, not verified here
 * (caller frees `*note`). */
enum sl_err sl_client_log_checkpoint_get(struct sl_client *cl, char **note, size_t *len,
                                         struct sl_error *err);

/* GET /api/v1/log/proof/inclusion and .../consistency: the proof hashes
 * into `proof` (SL_MERKLE_MAX_HASHES of them fit), `*len` their number.
 * An answer that is not the proof asked for is SL_EINPUT. */
enum sl_err sl_client_log_inclusion(struct sl_client *cl, uint64_t index, uint64_t size,
                                    unsigned char (*proof)[32], size_t *len, struct sl_error *err);
enum sl_err sl_client_log_consistency(struct sl_client *cl, uint64_t from, uint64_t to,
                                      unsigned char (*proof)[32], size_t *len,
                                      struct sl_error *err);

/* GET /api/v1/log/entries?start=&end=: the exact text of entry `index`
 * (caller frees), checked to be one entry with that index. */
enum sl_err sl_client_log_entry_text(struct sl_client *cl, uint64_t index, char **text, size_t *len,
                                     struct sl_error *err);

/* GET /log/tile/...: the bytes of the tile or entry bundle `t` (tiles.h),
 * at most 256 entries of 65,537 bytes (caller frees). */
struct sl_tile;
enum sl_err sl_client_log_tile_get(struct sl_client *cl, const struct sl_tile *t,
                                   unsigned char **data, size_t *len, struct sl_error *err);

/* Rebuilding a tree from its entries, offline: entry bundles and the
 * level-0 hash tiles of the same range are fed in order; every entry's leaf
 * hash is compared with the log's stored hash of it, so a changed, dropped
 * or reordered entry is found by index, and the tree is rebuilt from the
 * entries alone (O(log n) memory) to compare with a checkpoint. */
struct sl_log_rebuild;

/* A rebuild from the empty tree (caller frees with _free, which accepts
 * NULL). */
struct sl_log_rebuild *sl_client_log_rebuild_new(void);
void sl_client_log_rebuild_free(struct sl_log_rebuild *rb);

/* Starts a fresh rebuild at a tree of `size` leaves already verified to
 * have root `root`: reads the tree's peaks (the stored hashes of its
 * largest complete subtrees) through `read` and checks that they make
 * `root` (SL_EREFUSED, kind SL_LOG_K_ROOT, if not). */
enum sl_err sl_client_log_rebuild_start(struct sl_log_rebuild *rb, uint64_t size,
                                        sl_merkle_read_fn read, void *ctx,
                                        const unsigned char root[32], struct sl_error *err);

/* Called for each entry the rebuild appends, with its bytes, before the
 * bundle is released. */
typedef void (*sl_log_entry_fn)(void *ctx, uint64_t index, const unsigned char *entry, size_t len);

/* Feeds the entry bundle `bundle[0..blen)` whose first entry has index
 * `first` and which has `width` entries in the tree being rebuilt, with the
 * level-0 hash tile of the same range (`tile`, width * 32 bytes). Entries
 * before the rebuild's size are skipped (a rebuild that starts in the middle
 * of a bundle). A short bundle or an entry whose leaf hash differs from the
 * tile's is recorded (see _first_bad), not an error; a bundle that does not
 * parse or a tile of the wrong length is SL_EINPUT. `fn` (may be NULL) sees
 * every appended entry. */
enum sl_err sl_client_log_rebuild_feed(struct sl_log_rebuild *rb, uint64_t first, unsigned width,
                                       const unsigned char *bundle, size_t blen,
                                       const unsigned char *tile, size_t tlen, sl_log_entry_fn fn,
                                       void *ctx, struct sl_error *err);

/* One entry bundle with its level-0 hash tile, as for _feed. */
struct sl_log_bundle {
    uint64_t first;
    unsigned width;
    const unsigned char *bundle;
    size_t blen;
    const unsigned char *tile;
    size_t tlen;
};

/* Feeds `n` consecutive bundles as _feed does, one after another, hashing
 * the full bundles on up to `threads` threads (each full bundle's 256
 * leaves and their subtree in one thread, the subtree roots folded in
 * order afterwards). The outcome is the same as feeding them one by one. */
enum sl_err sl_client_log_rebuild_feed_many(struct sl_log_rebuild *rb,
                                            const struct sl_log_bundle *bundles, size_t n,
                                            int threads, struct sl_error *err);

/* Threads worth using for hashing here: the CPUs online, 1 to 8. */
int sl_client_log_threads(void);

/* Leaves appended so far, and the root of the tree they make. */
uint64_t sl_client_log_rebuild_size(const struct sl_log_rebuild *rb);
void sl_client_log_rebuild_root(const struct sl_log_rebuild *rb, unsigned char out[32]);

/* The first entry that did not match (true), and how many did not. */
bool sl_client_log_rebuild_first_bad(const struct sl_log_rebuild *rb, uint64_t *index,
                                     uint64_t *count);

/* Checks the rebuilt tree against checkpoint (`size`, `root`): SL_OK when
 * every entry matched and the roots are equal; SL_EREFUSED with kind
 * SL_LOG_K_BAD_ENTRY naming the first bad index, or SL_LOG_K_ROOT. */
enum sl_err sl_client_log_rebuild_finish(const struct sl_log_rebuild *rb, uint64_t size,
                                         const unsigned char root[32], struct sl_error *err);

/* One entry fetched and checked by sl_client_log_verify (opts.new_entries). */
struct sl_log_entry {
    uint64_t index;
    char *text; /* the exact bytes, NUL-terminated */
    size_t len;
};

struct sl_log_verify_opts {
    bool full;        /* rebuild the whole tree from the entry bundles */
    bool new_entries; /* fetch and check the entries since the stored checkpoint */
    const char *note; /* check this signed checkpoint instead of fetching one (or NULL) */
    size_t note_len;
    bool save; /* record the verified checkpoint as the new state */
    /* Called now and then during `full` (may be NULL). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
};

/* What a verification found; filled as far as it got, so a failure can be
 * reported with both checkpoints. Release with sl_client_log_verify_release. */
struct sl_log_verify {
    struct sl_note_key key; /* the server's key (public part) */
    bool pinned_now;        /* first contact: the key was pinned by this call */
    char *note;             /* the new checkpoint, verbatim */
    bool have_cp;           /* `cp` is the verified checkpoint */
    struct sl_checkpoint cp;
    bool had_state; /* this client had verified a checkpoint before */
    struct sl_log_state old;
    bool consistent; /* the new checkpoint extends the old one */
    bool saved;      /* the state file now holds `cp` */
    char *state_path;
    bool full_done;        /* the rebuild ran to the end and matched */
    uint64_t full_entries; /* entries checked by the rebuild */
    bool have_bad;         /* an entry did not match: */
    uint64_t first_bad, bad_count;
    struct sl_log_entry *entries; /* with opts.new_entries: old size .. new size */
    size_t nentries;
};

void sl_client_log_verify_release(struct sl_log_verify *v);

/* Verifies the server's log as far as `o` asks: fetches the server's key
 * (pinning it at first contact), fetches (or takes) a checkpoint and checks
 * its signature and origin, checks it extends the checkpoint this client
 * verified last (a consistency proof from the server), with `o->full`
 * rebuilds the tree from every entry and compares each entry with the
 * server's hash tiles and the root with the checkpoint, with
 * `o->new_entries` fetches the entries added since the last checkpoint and
 * checks them against the new one, and finally (with `o->save`) records the
 * new checkpoint. Nothing is recorded when any check fails. Errors carry
 * the SL_LOG_K_* kinds; `v` holds what was learnt. */
enum sl_err sl_client_log_verify(struct sl_client *cl, const struct sl_log_verify_opts *o,
                                 struct sl_log_verify *v, struct sl_error *err);

/* What an offline tlog-proof check learnt. */
struct sl_log_proof_check {
    uint64_t index;
    struct sl_checkpoint cp;
    unsigned char leaf[32];
};

/* Verifies a c2sp.org/tlog-proof@v1 (`proof[0..plen)`) for the entry
 * `entry[0..elen)` offline: the checkpoint it carries is checked as
 * sl_client_checkpoint_verify does with `key`, and the inclusion of the
 * entry's leaf hash at the proof's index in that tree. SL_EINPUT for a
 * malformed proof, SL_EREFUSED (kind SL_LOG_K_NOT_INCLUDED, or a signature
 * kind) when it does not hold. Release `out->cp` with sl_checkpoint_free(). */
enum sl_err sl_client_log_proof_verify(const char *proof, size_t plen, const void *entry,
                                       size_t elen, const struct sl_note_key *key,
                                       struct sl_log_proof_check *out, struct sl_error *err);

/* Formats a tlog-proof of entry `index` from a verified checkpoint note and
 * its inclusion proof (caller frees `*text`). */
enum sl_err sl_client_log_proof_format(uint64_t index, const unsigned char (*proof)[32], size_t len,
                                       const char *note, char **text, size_t *text_len,
                                       struct sl_error *err);

/* GET /api/v1/models/{org}/{name}/report (docs/log.md). */
enum sl_err sl_client_report(struct sl_client *cl, const char *org, const char *name, json_t **out,
                             struct sl_error *err);

/* ---- signed notes on the client (notes.c) ---- */

/* An evaluator's private key file holds one line in the form Go's
 * golang.org/x/mod/sumdb/note and C2SP use for signer keys:
 *
 *   PRIVATE+KEY+<name>+<8 hex key ID>+base64(0x01 || 32-byte Ed25519 seed)
 *
 * The key ID is that of the public key (the same as in the vkey). */

/* Formats the signer key `k` (has_priv) as above; the caller wipes and frees
 * the string. NULL when `k` has no private key or an invalid name. */
char *sl_client_skey_format(const struct sl_note_key *k);

/* Parses a signer key line (one trailing newline allowed). The key ID must
 * match the one recomputed from the seed. SL_EINPUT otherwise, without
 * quoting the secret. Wipe `k` with sl_note_key_clear. */
enum sl_err sl_client_skey_parse(const char *text, size_t n, struct sl_note_key *k,
                                 struct sl_error *err);

/* Makes a new key pair named `name` and writes the signer key to `path`
 * (created with O_EXCL and mode 0600, fsynced; an existing file is never
 * replaced: SL_ECONFLICT). `k` receives the key (wipe it after use). */
enum sl_err sl_client_keygen(const char *name, const char *path, struct sl_note_key *k,
                             struct sl_error *err);

/* Reads a signer key file written by sl_client_keygen (or Go's
 * note.GenerateKey). */
enum sl_err sl_client_key_load(const char *path, struct sl_note_key *k, struct sl_error *err);

/* Formats and signs an attestation with the evaluator's key: `*note` (caller
 * frees, `*len` bytes) is the signed note. */
enum sl_err sl_client_attestation_sign(const struct sl_note_key *k, const struct sl_attestation *a,
                                       char **note, size_t *len, struct sl_error *err);

/* What is known about a license note; filled as far as the check got. */
struct sl_license_check {
    struct sl_license lic;
    char signer[SL_NOTE_NAME_MAX + 1]; /* key name of the first signature line */
    uint32_t signer_id;
    bool signature_ok; /* verified with the key given */
    bool expired;      /* `expires` is at or before `now` */
    bool revocations_checked;
    bool revoked;
    int64_t revoked_at;          /* when listed */
    int64_t revocations_updated; /* the list's `updated` */
};

/* Reads a license note without verifying anything: the fields, and the
 * name and key ID of its first signature line. SL_EINPUT (or SL_ELIMIT)
 * when it is not a signed note holding a license. */
enum sl_err sl_client_license_read(const char *note, size_t n, struct sl_license_check *c,
                                   struct sl_error *err);

/* Checks a license note: read as above, its signature against `key`, its
 * expiry against `now` (unix seconds), and when `revocations` is not NULL,
 * that the revocation list (a signed note, verified with the same key) does
 * not list its id. SL_OK: valid. SL_EINPUT or SL_ELIMIT: not a license.
 * SL_EREFUSED with kind "InvalidSignature", "Expired" or "Revoked": not
 * valid, the message says why. A revocation list that is malformed or not
 * signed by `key` is SL_EREFUSED too (kind "BadRevocationList"): nothing can
 * be said about revocation then. */
enum sl_err sl_client_license_verify(const char *note, size_t n, const struct sl_note_key *key,
                                     int64_t now, const char *revocations, size_t rlen,
                                     struct sl_license_check *c, struct sl_error *err);

/* `sluice trace`: streams the suspect files (folders give their top-level
 * *.safetensors, *.gguf and *.json) to POST .../trace and returns the
 * server's report (docs/fingerprint.md). */
enum sl_err sl_client_trace(struct sl_client *cl, const char *org, const char *name,
                            const char *const *paths, size_t npaths, json_t **answer,
                            struct sl_error *err);

/* A hosted model's publisher endpoint `what` ("retention",
 * "retention/items", "quota", "usage"; docs/hosted.md) under
 * /api/v1/models/ORG/NAME/hosted/, with `method`, an optional query
 * `qkey`=`qval` (`qval` NULL: none) and an optional JSON `body` (borrowed);
 * `*out` the server's answer, which the caller frees. */
enum sl_err sl_client_hosted(struct sl_client *cl, const char *method, const char *org,
                             const char *name, const char *what, const char *qkey, const char *qval,
                             json_t *body, json_t **out, struct sl_error *err);

/* The hosted filter of ORG/NAME: `method` "GET" (show), "PUT" (set
 * `filter`, the policy file's JSON) or "DELETE" (clear); `*out` the
 * server's answer, which the caller frees. */
enum sl_err sl_client_hosted_filter(struct sl_client *cl, const char *method, const char *org,
                                    const char *name, json_t *filter, json_t **out,
                                    struct sl_error *err);

#endif
