/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/client/: the libcurl function table (curl.c), the HTTP
 * helpers and transfer pool (http.c), the local scan of a model folder
 * (scan.c) and its cache (cache.c), the chunk upload frames (push.c), path
 * rules (path.c) and the progress bar (progress.c). The on-disk and wire
 * formats are written down here, next to the code that reads them.
 */
#ifndef SL_CLIENT_CLIENT_INT_H
#define SL_CLIENT_CLIENT_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/client.h"
#include "common/curl.h"
#include "common/err.h"
#include "crypto/crypto.h"

/* libcurl is loaded on first use through common/curl.h, which the S3 store
 * back end shares. */

/* ---- HTTP (http.c) ---- */

struct sl_client {
    const struct sl_curl_api *c;
    char *url;          /* base, no trailing '/' */
    char *auth_header;  /* "Authorization: Bearer ..." or NULL */
    CURL *easy;         /* reused for one-at-a-time requests (keeps the connection) */
    json_t *last_error; /* JSON body of the last refused one-at-a-time request */
    /* Transfer politeness (sl_client_set_transfer). */
    uint64_t rate;    /* bytes per second over all transfers, 0 = no limit */
    double retry_for; /* seconds a transfer keeps retrying through failures */
    double tokens;    /* the rate limit's bucket, in bytes (may run into debt) */
    double refilled;  /* when the bucket was last refilled (sl__cl_now) */
};

/* The rate limit: takes `n` bytes from the client's bucket. Returns false
 * (and sets `s->paused`) when the bucket is empty; the caller's libcurl
 * callback must then return CURL_WRITEFUNC_PAUSE or CURL_READFUNC_PAUSE and
 * the pool resumes the transfer when the bucket has refilled. Always true
 * without a limit. */
struct sl_pool_slot;
bool sl__cl_rate_take(struct sl_client *cl, struct sl_pool_slot *s, size_t n);

/* Largest JSON answer read into memory. */
#define SL_CLIENT_JSON_MAX (256u << 20)

/* Appends `s` to `b` percent-encoded (RFC 3986 unreserved characters are
 * kept; with `keep_slash` '/' too). */
struct sl_buf;
enum sl_err sl__cl_url_escape(struct sl_buf *b, const char *s, bool keep_slash);

/* Prepares `h` for a request to `url`: headers (auth, user agent, no
 * Expect: 100-continue), timeouts, no redirects. `*headers` receives the
 * list to free after the transfer; `extra` is added when not NULL.
 * `low_speed_secs` 0 disables the stall timeout. */
void sl__cl_http_setup(struct sl_client *cl, CURL *h, const char *url, struct curl_slist **headers,
                       const char *extra, long low_speed_secs);
/* The same with "Expect: 100-continue": for a large one-off upload the
 * server may refuse before the body (who may send it is checked on the
 * headers). With the header the refusal comes before any byte of the body
 * is sent; without it the server's answer can be lost when it closes the
 * connection while the body is still coming, and the caller sees a broken
 * pipe instead of the reason. Costs one round trip. */
void sl__cl_http_setup_expect(struct sl_client *cl, CURL *h, const char *url,
                              struct curl_slist **headers, const char *extra, long low_speed_secs);

/* Sends one request with an optional JSON body (`body`, `body_len` bytes;
 * NULL for none) and reads a JSON answer. `path` starts with '/'. A 2xx
 * answer must be JSON when `answer` is not NULL. Any other status becomes an
 * error made by sl__cl_http_status_error; `*status` (optional) gets it. */
enum sl_err sl__cl_http_json(struct sl_client *cl, const char *method, const char *path,
                             const char *body, size_t body_len, long low_speed_secs, long *status,
                             json_t **answer, struct sl_error *err);

/* The same for text (signed notes, keys): sends `body` (`body_len` bytes,
 * NULL for none) as `content_type` and reads at most `max` bytes of answer
 * into `*text` (NUL-terminated, caller frees; `text_len` may be NULL; when
 * `text` is NULL the answer is dropped). Non-2xx answers are errors as
 * above, and their JSON body becomes sl_client_last_error(); an answer over
 * `max` is SL_ELIMIT. */
enum sl_err sl__cl_http_text(struct sl_client *cl, const char *method, const char *path,
                             const char *content_type, const char *body, size_t body_len,
                             size_t max, long *status, char **text, size_t *text_len,
                             struct sl_error *err);

/* Turns a failed HTTP exchange into an error: the server's JSON error
 * message (and tier and hint) when there is one. 404 → SL_ENOTFOUND, 401 →
 * SL_EAUTH, 403 → SL_EFORBIDDEN, 409 → SL_ECONFLICT, other 4xx → SL_EREFUSED
 * (all exit 1), 502/503/504 → SL_EUNREACHABLE, other 5xx →
 * SL_EINTERNAL. `what` names the request ("upload", "acme/x"...). */
enum sl_err sl__cl_http_status_error(long status, const char *body, size_t len, const char *what,
                                     struct sl_error *err);

/* Turns a libcurl failure into SL_EUNREACHABLE naming the server. */
enum sl_err sl__cl_http_curl_error(struct sl_client *cl, CURLcode cc, const char *errbuf,
                                   struct sl_error *err);

/* True for failures worth retrying: connection errors, timeouts, 408, 429,
 * 500, 502, 503, 504. */
bool sl__cl_http_retryable(CURLcode cc, long status);

/* A pool of parallel transfers over one curl multi handle. Jobs are handed
 * out in order; a job whose `finish` asks for a retry goes back to the
 * queue after a back-off with full jitter (uniform in [0, min(30 s,
 * 0.5 s * 2^n)], at least a server's Retry-After), for as long as the
 * client's retry budget (sl_client_set_transfer) allows since the job last
 * moved a byte. */
#define SL_POOL_BACKOFF_BASE 0.5
#define SL_POOL_BACKOFF_CAP  30.0

struct sl_pool_slot {
    CURL *easy;
    struct curl_slist *headers;
    size_t job; /* index of the job running in this slot */
    char errbuf[CURL_ERROR_SIZE];
    char *body; /* error answer text (capped), for messages */
    size_t body_len;
    bool busy;
    bool paused; /* by the rate limit (sl__cl_rate_take) */
    int index;   /* 0..streams-1, for the caller's per-slot state */
};

enum sl_pool_verdict { SL_POOL_DONE, SL_POOL_RETRY, SL_POOL_FAIL };

struct sl_pool_ops {
    /* Configures `s->easy` (freshly reset) for job `job` with
     * sl__cl_http_setup(..., &s->headers, ...) and its callbacks. */
    enum sl_err (*start)(void *ctx, struct sl_pool_slot *s, size_t job, struct sl_error *err);
    /* Judges a finished transfer. On SL_POOL_FAIL `err` says why. */
    enum sl_pool_verdict (*finish)(void *ctx, struct sl_pool_slot *s, CURLcode cc, long status,
                                   struct sl_error *err);
    /* Called about ten times a second and once at the end (may be NULL). */
    void (*tick)(void *ctx);
};

/* Runs jobs 0..njobs-1 on `streams` parallel transfers until all are done or
 * one fails (the others are then stopped). */
enum sl_err sl__cl_pool_run(struct sl_client *cl, size_t njobs, int streams,
                            const struct sl_pool_ops *ops, void *ctx, struct sl_error *err);

/* Appends up to `n` bytes to the slot's error body (kept to 64 KiB). */
void sl__cl_pool_slot_body(struct sl_pool_slot *s, const char *p, size_t n);

/* Monotonic seconds. */
double sl__cl_now(void);

/* ---- pull (pull.c) ---- */

/* One --include/--exclude pattern against a manifest path, with Hugging
 * Face's rules (huggingface_hub filter_repo_objects): fnmatch without
 * FNM_PATHNAME or FNM_PERIOD ('*' also matches '/'), case-sensitive,
 * backslash is not an escape but '/', and a pattern ending in '/' matches
 * everything under that folder. */
bool sl__cl_glob_match(const char *pat, const char *path);

/* ---- paths (path.c) ---- */

#define SL_PATH_MAX_LEN 1024

/* A file path in a manifest (docs/api.md): relative, '/'-separated, every
 * component non-empty and not "." or "..", no NUL, control character or
 * backslash, at most 1,024 bytes. */
bool sl__cl_path_ok(const char *p);

/* Valid org or model name: [A-Za-z0-9][A-Za-z0-9._-]{0,95}, not "." or "..". */
bool sl__cl_name_ok(const char *s);

/* Opens (creating as needed, mode 0755) the folder that will hold `rel`
 * under the folder `rootfd`, one component at a time with O_NOFOLLOW, so a
 * symbolic link planted in the destination cannot send writes elsewhere.
 * Returns a descriptor of the parent folder and sets `*base` to the last
 * component of `rel` (a pointer into it). */
enum sl_err sl__cl_open_parent(int rootfd, const char *rel, const char **base, int *dirfd,
                               struct sl_error *err);

/* Creates `dir` and missing parents with `mode`. */
enum sl_err sl__cl_mkdirs(const char *dir, mode_t mode, struct sl_error *err);

/* Writes `len` bytes to `path` atomically: a temporary file in the same
 * folder with `mode`, fsync, rename, fsync of the folder (when `durable`). */
enum sl_err sl__cl_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                bool durable, struct sl_error *err);

/* $VAR/sluice when VAR holds an absolute path (the XDG rule: relative
 * values are ignored), else ~/FALLBACK/sluice; caller frees. NULL when no
 * home folder is known. */
char *sl__cl_xdg_dir(const char *var, const char *fallback);

/* $XDG_STATE_HOME/sluice (default ~/.local/state/sluice); caller frees. */
char *sl__cl_state_dir(void);

/* ---- scan (scan.c) and its cache (cache.c) ---- */

struct sl_cl_chunk {
    unsigned char id[SL_SHA256_LEN];
    uint32_t len;
    uint64_t off; /* offset in the file */
};

struct sl_scan_file {
    char *rel; /* path in the manifest ('/'-separated) */
    char *src; /* absolute path to read */
    uint64_t size;
    int64_t mtime_ns, ctime_ns;
    uint64_t ino, dev;
    unsigned char sha[SL_SHA256_LEN];
    struct sl_cl_chunk *chunks;
    size_t nchunks;
    bool cached; /* came from the scan cache */
    /* Pipelined push (struct sl_scan_flow): chunks[0..ready) are final
     * while the file is still being hashed (the array is allocated whole
     * first, so it never moves); `done` is set once nchunks and sha are. */
    atomic_size_t ready;
    atomic_bool done;
};

struct sl_scan {
    struct sl_scan_file *files; /* sorted by rel */
    size_t nfiles;
    uint64_t bytes;
    atomic_uint_least64_t hashed; /* bytes hashed so far (progress) */
    uint64_t cached_bytes;        /* bytes whose hashes came from the cache */
    size_t *order;                /* hashing order (biggest first), from sl__cl_scan_order */
};

/*
 * Lets a consumer (the push's upload) take chunks while files are still
 * being hashed. The hashers publish each file's chunks as their ids become
 * final and broadcast `cond`. Hashing runs at most `window` bytes ahead of
 * the upload, so the upload re-reads bytes the page cache still holds: the
 * hasher of the consumer's current file (`cur`, a position in `order`)
 * waits while it has read more than `window` bytes past `cur_off`; one of a
 * later file waits while more than `window` bytes are hashed but not yet
 * `consumed`. The current file is held back only by its own lead, and the
 * consumer needs less than a window of it to go on, so the two never wait
 * for each other. `abort` stops the hashers.
 */
struct sl_scan_flow {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t window;   /* bytes; 0 = no limit */
    uint64_t consumed; /* bytes the consumer is done with */
    size_t cur;        /* the consumer's position in `order` */
    uint64_t cur_off;  /* and its offset in that file */
    bool abort;
};

#define SL_SCAN_MAX_FILES 100000

/* Lists what `path` holds: a single file, or every regular file under a
 * folder, recursively, skipping names that start with '.' and sluice's own
 * partial downloads (*.sluice-part, *.sluice-part.state). Symbolic links
 * are followed only when they stay inside the folder; one that leaves it is
 * an error (SL_EINPUT), as are other special files and names a manifest
 * cannot hold. */
enum sl_err sl__cl_scan_list(const char *path, struct sl_scan *s, struct sl_error *err);

struct sl_scan_opts {
    int threads;             /* 0 = CPUs, at most 8 */
    const char *cache_dir;   /* NULL or "" = no cache */
    void (*tick)(void *ctx); /* called ~10 times a second from the calling thread */
    void *tick_ctx;
    struct sl_scan_flow *flow; /* NULL: no consumer while hashing */
};

/* Sets s->order, the order files are hashed in (biggest first); idempotent.
 * A consumer of a flow takes files in this order. */
void sl__cl_scan_order(struct sl_scan *s);

/* Chunks and hashes every listed file (one read per file, several files in
 * parallel), or takes the result from the cache when the file is unchanged. */
enum sl_err sl__cl_scan_hash(struct sl_scan *s, const struct sl_scan_opts *o, struct sl_error *err);

/* Chunks and hashes one open file of `size` bytes. When `chunks` is NULL
 * only the file SHA-256 is computed. `progress` (may be NULL) is advanced by
 * the bytes read. */
enum sl_err sl__cl_hash_fd(int fd, const char *name, uint64_t size,
                           unsigned char sha[SL_SHA256_LEN], struct sl_cl_chunk **chunks,
                           size_t *nchunks, atomic_uint_least64_t *progress, struct sl_error *err);

void sl__cl_scan_release(struct sl_scan *s);

/*
 * Scan cache entry: one file per source path under the cache folder, named by
 * the hex SHA-256 of the absolute path. Little-endian.
 *
 *   OFFSET   SIZE  DESCRIPTION
 *   0        8     magic "SLSCAN1\n"
 *   8        4     flags: bit 0 = the chunk list is present
 *   12       4     length P of the absolute path
 *   16       8     file size
 *   24       8     mtime, nanoseconds since the epoch
 *   32       8     ctime, nanoseconds since the epoch
 *   40       8     inode
 *   48       8     device
 *   56       P     absolute path (no NUL)
 *   56+P     32    SHA-256 of the file
 *   88+P     8     chunk count N (0 without the chunk list)
 *   96+P     36*N  chunks: SHA-256 (32), length (u32)
 *   96+P+36N 32    SHA-256 of all bytes before it
 *
 * An entry is used only when every key field matches the file now; anything
 * malformed (bad magic, sizes that do not add up, chunk lengths that do not
 * sum to the file size, a bad checksum) is ignored and rewritten.
 */
#define SL_CACHE_MAGIC      "SLSCAN1\n"
#define SL_CACHE_HAS_CHUNKS 1u
#define SL_CACHE_MAX_BYTES  (256ull << 20) /* total size kept by sl__cl_cache_prune */

/* Looks `f` up (by src, size, times, inode, device). With `need_chunks`, an
 * entry without a chunk list is a miss. Fills sha (and chunks). */
bool sl__cl_cache_get(const char *dir, struct sl_scan_file *f, bool need_chunks);

/* Writes `f`'s entry (with its chunks when f->chunks is not NULL). Failures
 * are ignored: the cache is an optimisation. */
void sl__cl_cache_put(const char *dir, const struct sl_scan_file *f);

/* Removes the oldest entries until the folder holds at most `max_bytes`. */
void sl__cl_cache_prune(const char *dir, uint64_t max_bytes);

/* ---- upload frames (push.c) ---- */

/*
 * Body of POST /api/v1/models/{org}/{name}/chunks: frames back to back.
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       32    SHA-256 of the chunk (raw)
 *   32      4     chunk length L, u32 little-endian (1..131072)
 *   36      L     chunk bytes
 *
 * At most 64 MiB per request, frames included.
 */
#define SL_FRAME_HEADER   36u
#define SL_UPLOAD_MAX_REQ (16u << 20) /* an interrupted request loses at most this */

/* Writes the frame header for a chunk into `out`. */
void sl__cl_frame_header(unsigned char out[SL_FRAME_HEADER], const unsigned char id[SL_SHA256_LEN],
                         uint32_t len);

/* Splits `n` chunks of lengths `lens` (in upload order) into requests of at
 * most `max` bytes with frames. `starts` (n + 1 entries) receives the index
 * of the first chunk of each request followed by n; returns the number of
 * requests. */
size_t sl__cl_plan_requests(const uint32_t *lens, size_t n, uint64_t max, size_t *starts);

/* ---- offline bundles (bundle.c; docs/bundle.md) ----
 *
 * A ustar archive, entries in this order (a pax 'x' header with only
 * path= and size= precedes an entry whose name is 100 bytes or more or
 * whose size is 8 GiB or more; mode 0644, uid/gid 0, mtime 0):
 *
 *   NAME                 SIZE      DESCRIPTION
 *   sluice-bundle.json   <=16 MiB  {format "sluice-bundle/1", model, version,
 *                                   commit, tier, server, log_index,
 *                                   entries [{name, size, sha256}] (the rest,
 *                                   in order)}
 *   server.vkey          <=16 MiB  the server's vkey and '\n'
 *   checkpoint           <=16 MiB  signed checkpoint note
 *   log/version.json     <=16 MiB  the version.published entry, exact bytes
 *   log/version.proof    <=16 MiB  {index, size, proof [base64]}
 *   copy-manifest.note   <=16 MiB  gated only: signed manifest of the copy
 *   LICENSE.sluice       <=16 MiB  gated only: the exporter's license note
 *   files/PATH           any       each file of the version
 *   (two zero blocks)
 */

/* ---- progress bar (progress.c) ---- */

struct sl_cl_progress {
    bool on;
    const char *label;
    uint64_t total, done, base; /* base: bytes already done at start */
    uint64_t reused;            /* of them, copied from local files */
    double start, last;
    int width; /* of the last line drawn */
};

/* Turns the bar on only when `want` and stderr is a terminal. */
void sl__cl_progress_init(struct sl_cl_progress *p, bool want, const char *label, uint64_t total);

/* Records `done` and redraws at most ten times a second. */
void sl__cl_progress_set(struct sl_cl_progress *p, uint64_t done);

/* Clears the line. */
void sl__cl_progress_end(struct sl_cl_progress *p);

/* "1.50 GiB" style sizes for people. */
const char *sl__cl_fmt_bytes(uint64_t n, char *buf, size_t len);

#endif
