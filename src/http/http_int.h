/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/http/: the request context, the route table and the
 * helpers handlers use to answer.
 */
#ifndef SL_HTTP_HTTP_INT_H
#define SL_HTTP_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "common/buf.h"
#include "http/http.h"
#include "http/mhd.h"
#include "registry/registry.h"

#define SL_JSON_BODY_MAX  (64u << 20)
#define SL_SMALL_BODY_MAX (256u << 10)

enum perm {
    P_NONE,           /* anyone */
    P_USER,           /* a valid token */
    P_ADMIN,          /* an admin token */
    P_MODEL,          /* {org}/{name} exists */
    P_VERSION,        /* and {rev} resolves (default main) */
    P_DOWNLOAD,       /* and the tier rule lets the caller download */
    P_PUBLISH,        /* a write token of a publisher of {org} */
    P_USER_MODEL,     /* a valid token and {org}/{name} exists */
    P_MANAGE,         /* a publisher of {org} and {org}/{name} exists */
    P_MANAGE_VERSION, /* and {rev} resolves */
    P_ORG_ADMIN,      /* an admin of {org} (role admin, or a server admin) */
    P_SIGNIN,         /* anyone; a session cookie is not read (sign-in, sign-up) */
};

/* Bodies: none, buffered (JSON or raw bytes, at most SL_JSON_BODY_MAX, or
 * SL_SMALL_BODY_MAX for the governance routes), streamed into a chunk
 * upload as they arrive, or streamed into files in a temporary folder
 * (upload.c). */
enum body_kind { BODY_NONE, BODY_JSON, BODY_SMALL, BODY_STREAM, BODY_FILES };

/* The token scope a route needs (docs/access.md). S_READ routes also answer
 * anonymous callers when their permission allows; a token of any scope
 * reads. S_WRITE is every state change; S_ADMIN the admin routes. */
enum need_scope { S_READ, S_WRITE, S_ADMIN };

struct sl_req;
typedef void (*sl_handler)(struct sl_req *q);

struct sl_route {
    const char *methods; /* "GET", "GET HEAD", "POST" */
    const char *pattern; /* "/api/v1/models/{org}/{name}"; "{path*}" takes the rest */
    sl_handler handler;
    enum perm perm;
    enum body_kind body;
    enum need_scope scope;
};

/* Open connections per client address (conns.c). A connection opened while
 * its address already held `per_ip` connections, or while the server held
 * `global`, is over the cap: its requests are answered 503. Thread-safe. */
struct sl_conns;
struct sl_conn;
struct sockaddr;
struct sl_conns *sl_conns_new(unsigned per_ip, unsigned global);
void sl_conns_free(struct sl_conns *t);
/* Counts a new connection from `sa` (may be NULL) on socket `fd`; the
 * caller keeps the handle and gives it back to sl_conns_close(). Its request
 * headers are due within SL_HEADER_TIMEOUT_S. */
struct sl_conn *sl_conns_open(struct sl_conns *t, const struct sockaddr *sa, int fd);
enum sl_conn_cap { SL_CONN_SERVED, SL_CONN_OVER_PER_IP, SL_CONN_OVER_GLOBAL };
enum sl_conn_cap sl_conn_over(const struct sl_conn *c);
void sl_conns_close(struct sl_conns *t, struct sl_conn *c);
/* `waiting`: the connection waits for a request's headers (a new
 * connection, or a kept-alive one after an answer), due within
 * SL_HEADER_TIMEOUT_S; false: the headers are in. */
void sl_conns_wait_headers(struct sl_conns *t, struct sl_conn *c, bool waiting);
/* Shuts down the sockets of connections whose headers are overdue at `now`
 * (CLOCK_MONOTONIC, in ms); returns how many. */
unsigned sl_conns_reap(struct sl_conns *t, long long now);

struct sl_server {
    struct sl_registry *r;
    struct MHD_Daemon *d;
    struct sl_conns *conns;
    unsigned max_per_ip, max_conns; /* our caps; libmicrohttpd's sit a margin above */
    atomic_int in_flight;
    atomic_ullong requests;
    atomic_bool draining;     /* SIGTERM seen: answer new requests 503 */
    atomic_llong progress_ms; /* last time any request moved a byte */
    atomic_bool stop_ticker;
    atomic_bool leader;       /* this server runs the clock (the ticker's last round) */
    const char *mirror_url;   /* the upstream's URL when a mirror */
    struct sl_mirror *mirror; /* serving as a pull-through mirror (mirror.c), or NULL */
    bool loopback;            /* the listener is a loopback address (127.0.0.0/8, ::1) */
    bool trust_proxy;         /* X-Forwarded-Proto is believed (--trust-proxy yes) */
    enum sl_signup signup;
    unsigned session_hours;
};

/* The request reached the user over TLS: a proxy we trust (--trust-proxy
 * yes) says X-Forwarded-Proto: https. sluice itself does not terminate TLS. */
bool sl_req_https(struct sl_req *q);
/* A browser may be given the web UI and its session cookie: over TLS, or on
 * a loopback listener with no proxy in front (browsers treat
 * http://127.0.0.1 as a secure context; WebCrypto and SameSite cookies
 * work there). Anywhere else the UI explains why it needs TLS. */
bool sl_req_ui_ok(struct sl_req *q);

/* The pull-through mirror (mirror.c; docs/mirror.md). sl_mirror_open pins
 * the upstream's log key at first contact (DIR/upstream.key) or checks it
 * against the pinned one; sl_mirror_dispatch answers every routed request
 * of a mirror in place of the registry's handlers. */
struct sl_mirror;
enum sl_err sl_mirror_open(const struct sl_mirror_ops *ops, struct sl_mirror **out,
                           struct sl_error *err);
void sl_mirror_free(struct sl_mirror *m);
struct sl_req;
void sl_mirror_dispatch(struct sl_req *q);

#define MAX_PARAMS 4

struct sl_req {
    struct sl_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    bool head;
    char *raw_path;
    const struct sl_route *route;
    char *params[MAX_PARAMS]; /* decoded captures: org, name, rev, path */
    const char *org, *name, *rev, *path, *sha;
    const char *sub; /* {user} or {id} */
    struct sl_principal who;
    struct sl_version_ref v;           /* for P_VERSION and P_DOWNLOAD */
    struct sl_file_ref file;           /* downloads: from the cache when `cached` */
    const unsigned char *cached_bytes; /* a small file's bytes, from the cache */
    bool cached;
    unsigned long long cache_gen; /* the cache generation when the lookup began */
    long long cache_ms;           /* CLOCK_MONOTONIC ms when the lookup began */
    uint64_t cache_hub;           /* sl_reg_hub_stamp() then; UINT64_MAX: do not cache */
    int64_t org_id, model_id;     /* for P_MODEL and up */
    /* request body */
    uint64_t content_length;
    bool has_length;
    struct sl_buf body;
    struct sl_ingest *ingest;
    struct sl_upload *upload;
    bool body_failed;
    struct sl_error body_err;
    bool checked;           /* sl_permitted() passed */
    struct sl_hreq *hosted; /* a gateway call (handlers_hosted.c), or NULL */
    bool suspended;         /* waiting for the call, unanswered on purpose */
    const char *x_error;    /* Hugging Face X-Error-Code for an error answer, or NULL */
    /* the web UI's session (handlers_web.c): the caller was authenticated
     * by the sluice_session cookie; a Set-Cookie header for the answer */
    bool by_session;
    struct sl_session session;
    char set_cookie[200];
    /* answer */
    bool answered;
    unsigned status;
    char reason[200]; /* why a 5xx answer, for the request log */
    uint64_t bytes;
    struct timespec t0;
};

/* The download lookup cache (cache.c). Files up to SL_CACHE_BYTES_MAX are
 * cached with their bytes. */
#define SL_CACHE_BYTES_MAX (64u * 1024u)
bool sl_cache_get(struct sl_req *q, struct sl_version_ref *v, struct sl_file_ref *f,
                  const unsigned char **bytes);
void sl_cache_put(struct sl_req *q, const struct sl_version_ref *v, const struct sl_file_ref *f,
                  const void *bytes);
/* Voids every cached lookup (after a commit or a tier change). */
void sl_cache_bump(void);

/* Tiers or refs changed (committed): voids this server's lookup cache and
 * tells the other servers sharing the database to void theirs. */
void sl_hub_changed(struct sl_server *s);

/* Files streamed into a private temporary folder (upload.c), for trace. */
struct sl_upload;
enum sl_err sl_upload_begin(const char *root, struct sl_upload **out, struct sl_error *err);
enum sl_err sl_upload_feed(struct sl_upload *u, const char *data, size_t n, struct sl_error *err);
enum sl_err sl_upload_finish(struct sl_upload *u, struct sl_error *err);
const char *sl_upload_dir(const struct sl_upload *u);
void sl_upload_free(struct sl_upload *u);

/* Notes that a request moved bytes (drain waits only for requests that do). */
void sl_progress(struct sl_server *s);

/* The route table (routes.c). */
extern const struct sl_route sl_routes[];

/* Answers with JSON (takes the reference) and `status`. */
void sl_reply_json(struct sl_req *q, unsigned status, json_t *v);

/* Answers with text/plain (takes the malloc'd string). */
void sl_reply_text(struct sl_req *q, unsigned status, char *text);

/* Answers with an error JSON; the status follows from the error code. */
void sl_reply_error(struct sl_req *q, const struct sl_error *e);

/* Answers with `status`, an error code name and a message. */
void sl_reply_status(struct sl_req *q, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Queues a prepared response (and records status and size for the log). */
void sl_reply(struct sl_req *q, unsigned status, struct MHD_Response *resp, uint64_t size);

/* Handlers. */
void sl_h_health(struct sl_req *q);
void sl_h_models(struct sl_req *q);
void sl_h_model(struct sl_req *q);
void sl_h_version(struct sl_req *q);
void sl_h_hf_list(struct sl_req *q);
void sl_h_whoami(struct sl_req *q);
void sl_h_decision(struct sl_req *q);
void sl_h_file(struct sl_req *q);
void sl_h_file_chunks(struct sl_req *q);
void sl_h_missing(struct sl_req *q);
void sl_h_chunks(struct sl_req *q);
void sl_h_commit(struct sl_req *q);
void sl_h_file_store(struct sl_req *q);
void sl_h_hf_info(struct sl_req *q);
void sl_h_hf_tree(struct sl_req *q);
void sl_h_hf_paths_info(struct sl_req *q);
void sl_h_terms(struct sl_req *q);
void sl_h_accept(struct sl_req *q);
void sl_h_access_request(struct sl_req *q);
void sl_h_access_me(struct sl_req *q);
void sl_h_access_appeal(struct sl_req *q);
void sl_h_access_list(struct sl_req *q);
void sl_h_access_approve(struct sl_req *q);
void sl_h_access_deny(struct sl_req *q);
void sl_h_access_revoke(struct sl_req *q);
void sl_h_access_rules(struct sl_req *q);
void sl_h_access_rules_set(struct sl_req *q);
void sl_h_license(struct sl_req *q);
void sl_h_revocations(struct sl_req *q);
void sl_h_log_key(struct sl_req *q);
void sl_h_eval_keys(struct sl_req *q);
void sl_h_eval_key_add(struct sl_req *q);
void sl_h_eval_key_remove(struct sl_req *q);
void sl_h_metrics(struct sl_req *q);

/* The OpenAI-compatible gateway (handlers_hosted.c; docs/hosted.md). */
struct sl_hreq;
void sl_h_v1_models(struct sl_req *q);
void sl_h_v1_model(struct sl_req *q);
void sl_h_v1_chat(struct sl_req *q);
/* handlers_filter.c: a hosted model's filter (docs/hosted.md, "Filters") */
void sl_h_filter_get(struct sl_req *q);
void sl_h_filter_set(struct sl_req *q);
void sl_h_filter_clear(struct sl_req *q);
/* handlers_retention.c: a hosted model's retention, quotas and usage for its
 * publishers (docs/hosted.md, "Retention", "Quotas", "Usage") */
void sl_h_retention_get(struct sl_req *q);
void sl_h_retention_set(struct sl_req *q);
void sl_h_retention_clear(struct sl_req *q);
void sl_h_retained_list(struct sl_req *q);
void sl_h_quota_get(struct sl_req *q);
void sl_h_quota_set(struct sl_req *q);
void sl_h_usage_get(struct sl_req *q);
struct sl_filter;
/* Applies model `model_id`'s filter, read now from the database, to a
 * validated gateway request `body` (capping max_tokens in place): false
 * after answering a refusal (400 content_policy naming the rule, 400 for a
 * parameter not allowed) or 503; true with `*out` the compiled filter (NULL
 * when the model has none) for the call's output rules. */
bool sl__hosted_filter_request(struct sl_req *q, int64_t model_id, const char *model, json_t *body,
                               struct sl_filter **out);
void sl_h_v1_completions(struct sl_req *q);
/* Ends the request's part in a gateway call (the call stops when its
 * answer is done with too). NULL is a no-op. */
void sl_hosted_req_free(struct sl_hreq *h);
/* Ends every gateway call (streams with an error event) and waits up to
 * 5 s for their connections to finish: libmicrohttpd must not be stopped
 * while one is suspended. */
void sl_hosted_stop_all(void);

/* Counts a finished request for GET /metrics (metrics.c), and a 5xx by the
 * kind of error behind it. */
void sl_metrics_observe(const struct sl_req *q, double seconds);
void sl_metrics_error(enum sl_err code);
void sl_h_org_members(struct sl_req *q);
void sl_h_org_member_set(struct sl_req *q);
void sl_h_org_member_remove(struct sl_req *q);
void sl_h_attest(struct sl_req *q);
void sl_h_attestations(struct sl_req *q);
void sl_h_obligations(struct sl_req *q);
void sl_h_satisfy(struct sl_req *q);
void sl_h_tier_set(struct sl_req *q);
void sl_h_schedule(struct sl_req *q);
void sl_h_schedule_add(struct sl_req *q);
void sl_h_log_checkpoint(struct sl_req *q);
void sl_h_log_tile(struct sl_req *q);
void sl_h_log_inclusion(struct sl_req *q);
void sl_h_log_consistency(struct sl_req *q);
void sl_h_log_entries(struct sl_req *q);
void sl_h_report(struct sl_req *q);
void sl_h_manifest(struct sl_req *q);
void sl_h_trace(struct sl_req *q);

/* The web UI's accounts (handlers_web.c; docs/web.md, "Sessions"). */
#define SL_SESSION_COOKIE "sluice_session"
void sl_h_session_open(struct sl_req *q);
void sl_h_session_get(struct sl_req *q);
void sl_h_session_close(struct sl_req *q);
void sl_h_signup_mode(struct sl_req *q);
void sl_h_signup(struct sl_req *q);
void sl_h_invites(struct sl_req *q);
void sl_h_invite_new(struct sl_req *q);
void sl_h_invite_delete(struct sl_req *q);
void sl_h_users(struct sl_req *q);
void sl_h_user_add(struct sl_req *q);
void sl_h_user_remove(struct sl_req *q);
void sl_h_orgs(struct sl_req *q);
void sl_h_org_add(struct sl_req *q);
/* The web UI (issue 14; docs/web.md). Pages answer the shell web/index.html
 * (404 for a model that does not exist), /ui/{path*} the embedded files of
 * web/ (pages.c); both refuse with a 403 page when !sl_req_ui_ok(). A
 * version's model card is at most SL_CARD_MAX bytes (a longer one is cut,
 * with a note); the viewer tells the caller what it may do
 * (handlers_card.c). */
#define SL_CARD_MAX (512u * 1024u)
void sl_h_page(struct sl_req *q);
void sl_h_ui(struct sl_req *q);
void sl_h_card(struct sl_req *q);
void sl_h_viewer(struct sl_req *q);
/* True when the first segment of `raw_path` is one an API route begins
 * with ("api", "v1", "log", "ui"...): the page routes /{org}/{name}...
 * never take such a path, so every API path keeps its JSON 404 and 405. */
bool sl__page_path_reserved(const char *raw_path);
/* The headers every file download carries (files.c; docs/web.md):
 * X-Content-Type-Options: nosniff, Content-Security-Policy: sandbox and
 * Content-Disposition: attachment naming the last segment of `path`. */
void sl_add_download_headers(struct MHD_Response *resp, const char *path);
/* That Content-Disposition value: attachment; filename="NAME", where a
 * name with a byte outside printable ASCII, a quote, a backslash or a
 * percent sign gets a fallback with '_' for them and the exact name as
 * filename*=UTF-8''... (RFC 6266). The caller frees it. */
char *sl_content_disposition(const char *path);

/* Adds "log_index" and "log_proof" (a c2sp.org/tlog-proof@v1 of the entry
 * the version's decision rests on) to `doc`, when there is one. */
void sl_attach_log_proof(struct sl_req *q, json_t *doc, int64_t version_id);

/* Adds `X-Error-Message: msg` (printable ASCII, at most
 * SL_ERROR_HEADER_MAX bytes) to an error answer; every error answer has
 * it, as the Hub's do. */
#define SL_ERROR_HEADER_MAX 1000
void sl_add_error_message(struct MHD_Response *resp, const char *msg);

/* Adds to the refusal `doc` of a download of q->v the newest version the
 * caller may download: "last_servable" {version, commit} and a sentence
 * naming it appended to "message" (or "no version of ... can be downloaded
 * by you"), so an error never leaves the user without what still works. */
void sl_note_last_servable(struct sl_req *q, json_t *doc);

/* Authenticates and applies the route's permission; answers and returns
 * false when refused (router.c). */
bool sl_permitted(struct sl_req *q);

/* Runs the route's checks (unless done) and its handler. */
void sl_dispatch(struct sl_req *q);

/* Matches method and path; returns the route (params filled) or NULL with
 * *status 404 or 405, or 400 for a malformed path. */
const struct sl_route *sl_route_match(struct sl_req *q, unsigned *status, const char **why);

/* Parses one Range header value against a file of `size` bytes into
 * [*start, *end); 0 when satisfiable, -1 with `*why` otherwise (files.c). */
int sl__parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end, const char **why);

#endif
