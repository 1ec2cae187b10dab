/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store (DESIGN §5): content-defined chunks, addressed by their
 * SHA-256, appended to pack files of at most 64 MiB. The chunk index and the
 * file manifests live in the metadata database (db/); this module owns the
 * bytes: chunking, pack files, reading chunk runs back, garbage collection of
 * unreferenced bytes and checking that every stored byte hashes right.
 */
#ifndef SL_STORE_STORE_H
#define SL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_CDC_MIN  (8u * 1024u)
#define SL_CDC_MAX  (128u * 1024u)
#define SL_CDC_MASK 0xFFFF000000000000ULL

/* Chunker state: feed bytes in any pieces, get the same cut points. */
struct sl_cdc {
    uint64_t h;
    size_t len; /* bytes in the current chunk so far */
};

void sl_cdc_init(struct sl_cdc *c);

/* Scans `p[0..n)`. When a chunk ends inside it, sets `*cut` and returns the
 * number of bytes up to and including the chunk's last byte; otherwise
 * consumes everything and returns n. The caller ends the last chunk at EOF. */
size_t sl_cdc_scan(struct sl_cdc *c, const unsigned char *p, size_t n, bool *cut);

/* ---- the blob store seam ----
 *
 * Pack bytes live in a blob store reached through an ops table (SQLite's VFS
 * seam, one level up): the local folder (store/file.c, the default) or an
 * S3-compatible bucket (store/s3.c). Only store/ touches files or S3; the
 * registry names a pack by its 32 hex digits and the store decides where
 * it lies. A store URL names the place that holds XX/NAME.pack:
 *
 *   file:PATH              PATH/XX/NAME.pack (default DATA/packs)
 *   s3://BUCKET/PREFIX     objects PREFIX/XX/NAME.pack in BUCKET
 *
 * Packs are written locally first (a staging folder on local disk), then
 * handed to `put`, which makes them durable under their name before any
 * transaction names them: a rename into place for the folder, an upload
 * (multipart above the part size) for S3. Docs: docs/storage.md.
 */
#define SL_PACK_MAX      (64ull * 1024 * 1024)
#define SL_PACK_NAME_LEN 32

struct sl_store;

/* One object seen by `list`. `key` is the object's name relative to the
 * store (for example "ab/ab12....pack"); `pack` is the pack name when the key
 * is a well-formed sluice pack key, else NULL (an object another tool wrote:
 * garbage collection leaves it alone, fsck reports it). */
struct sl_store_obj {
    const char *key;
    const char *pack;
    uint64_t size;
    int64_t mtime; /* Unix seconds of the last write */
};

/* Called once per object; return non-zero to stop the walk. */
typedef int (*sl_store_list_fn)(void *arg, const struct sl_store_obj *o);

struct sl_store_ops {
    const char *kind; /* "file" or "s3" */
    /* Makes the finished local file `path` (`size` bytes) durable as pack
     * `name`. On success the local file is gone (renamed or uploaded and
     * removed); on failure it is left for the caller to remove. */
    enum sl_err (*put)(struct sl_store *s, const char *name, const char *path, uint64_t size,
                       struct sl_error *err);
    /* Reads exactly `n` bytes at `off` of pack (`id`, `name`); `id` keys a
     * per-store cache of open files. SL_EIO when the pack is missing or
     * shorter than asked. */
    enum sl_err (*read)(struct sl_store *s, int64_t id, const char *name, void *buf, size_t n,
                        uint64_t off, struct sl_error *err);
    /* Walks every object under the store (not the staging folder). */
    enum sl_err (*list)(struct sl_store *s, sl_store_list_fn fn, void *arg, struct sl_error *err);
    /* Removes pack `name`; a missing pack is not an error. */
    enum sl_err (*remove)(struct sl_store *s, const char *name, struct sl_error *err);
    /* Size of pack `name`; SL_ENOTFOUND when it does not exist. */
    enum sl_err (*stat)(struct sl_store *s, const char *name, uint64_t *size, struct sl_error *err);
    /* Aborts unfinished uploads of packs started before `before` (Unix
     * seconds), left by a process killed mid-upload; `*aborted` counts
     * them. Uploads of keys that are not sluice packs are left alone. NULL
     * for back ends without such uploads (the folder: gc sweeps staging). */
    enum sl_err (*sweep_uploads)(struct sl_store *s, int64_t before, int *aborted,
                                 struct sl_error *err);
    /* Forgets cached state for pack `id` after it was removed. */
    void (*drop)(struct sl_store *s, int64_t id);
    void (*free)(struct sl_store *s);
};

/* Every back end starts with this. */
struct sl_store {
    const struct sl_store_ops *ops;
    char *url;     /* as given, secrets never included */
    char *staging; /* local folder where packs are written before `put` */
};

struct sl_store_opts {
    uint64_t part_size; /* S3: multipart above this many bytes; 0 = 16 MiB */
    int attempts;       /* S3: tries per request (1 = no retry); 0 = 4 */
    int timeout_ms;     /* S3: per-request timeout; 0 = 60 s */
    int list_page;      /* S3: keys per list request (1 to 1000); 0 = 1000 */
};

/* The file in the data folder naming the store the server last ran with. */
#define SL_STORE_RECORD "store.url"

/* Opens the store named by `url`; NULL or "" means the one recorded in
 * DATA/store.url (sl_store_remember), else file:DATA/packs. `data` is the
 * data folder (local staging lives under it for remote stores). `opts` may be
 * NULL. Checks the store is reachable: fails with SL_EUNREACHABLE naming the
 * URL and the cause when it is not, SL_EUSAGE for a malformed URL or missing
 * credentials. Free with sl_store_free(). */
enum sl_err sl_store_open(const char *url, const char *data, const struct sl_store_opts *opts,
                          struct sl_store **out, struct sl_error *err);
void sl_store_free(struct sl_store *s);

/* Records `s`'s URL in DATA/store.url, so that later commands on the data
 * folder (`sluice admin`) find the same store without --store. */
enum sl_err sl_store_remember(const struct sl_store *s, const char *data, struct sl_error *err);

/* The back ends' constructors (file.c, s3.c); `rest` is the URL after the
 * scheme ("PATH" or "BUCKET/PREFIX"). */
enum sl_err sl__store_file_open(const char *path, struct sl_store **out, struct sl_error *err);
enum sl_err sl__store_s3_open(const char *url, const char *rest, const char *data,
                              const struct sl_store_opts *opts, struct sl_store **out,
                              struct sl_error *err);

/* Whether `key` (relative to the store) is a pack key "XX/NAME.pack" with
 * NAME 32 lower-case hex digits starting with XX; copies NAME into `name`
 * (SL_PACK_NAME_LEN + 1 bytes) when it is. */
bool sl_store_pack_key(const char *key, char *name);

static inline enum sl_err sl_store_put(struct sl_store *s, const char *name, const char *path,
                                       uint64_t size, struct sl_error *err)
{
    return s->ops->put(s, name, path, size, err);
}

static inline enum sl_err sl_store_read(struct sl_store *s, int64_t id, const char *name, void *buf,
                                        size_t n, uint64_t off, struct sl_error *err)
{
    return s->ops->read(s, id, name, buf, n, off, err);
}

static inline enum sl_err sl_store_list(struct sl_store *s, sl_store_list_fn fn, void *arg,
                                        struct sl_error *err)
{
    return s->ops->list(s, fn, arg, err);
}

static inline enum sl_err sl_store_remove(struct sl_store *s, const char *name,
                                          struct sl_error *err)
{
    return s->ops->remove(s, name, err);
}

static inline enum sl_err sl_store_stat(struct sl_store *s, const char *name, uint64_t *size,
                                        struct sl_error *err)
{
    return s->ops->stat(s, name, size, err);
}

static inline void sl_store_drop(struct sl_store *s, int64_t id)
{
    s->ops->drop(s, id);
}

/* Copies pack `name` from `src` to `dst` (copy.c) and proves the copy: the
 * source's bytes are hashed (SHA-256) while they are staged in `dst`'s
 * staging folder, and after `put` the object is read back from `dst` and
 * hashed again; the digests must agree (else SL_EIO, and the bad copy is
 * removed). A pack `dst` already holds is not uploaded again: both sides are
 * hashed and must agree (SL_ECONFLICT otherwise; nothing is overwritten).
 * `id` keys the stores' per-pack read caches, which are dropped afterwards.
 * `sha256` gets the source's digest, `*size` its size, `*copied` whether it
 * was uploaded. SL_ENOTFOUND when `src` lacks the pack. */
enum sl_err sl_store_copy_pack(struct sl_store *src, struct sl_store *dst, int64_t id,
                               const char *name, unsigned char sha256[32], uint64_t *size,
                               bool *copied, struct sl_error *err);

/* ---- pack writer ----
 *
 * A pack is an append-only file of chunk bytes, at most SL_PACK_MAX bytes,
 * named by 16 random bytes in hex. Packs carry no header: the database
 * records where each chunk lies. The writer fills STAGING/NAME.pack, and
 * sealing flushes and fsyncs it and hands it to the store's `put`, so a crash
 * leaves at worst an unnamed file or object that garbage collection removes.
 */
struct sl_pack_writer;

/* Starts a new pack in `s`'s staging folder. */
enum sl_err sl_pack_begin(struct sl_store *s, struct sl_pack_writer **w, struct sl_error *err);

/* Appends `n` bytes; `*offset` gets where they start. Fails with SL_ELIMIT
 * when the pack would pass SL_PACK_MAX. */
enum sl_err sl_pack_append(struct sl_pack_writer *w, const void *data, size_t n, uint64_t *offset,
                           struct sl_error *err);

uint64_t sl_pack_size(const struct sl_pack_writer *w);

/* Flushes and fsyncs the pack and stores it under its name; the name is
 * copied to `name` (SL_PACK_NAME_LEN + 1 bytes). The writer is freed either
 * way. */
enum sl_err sl_pack_seal(struct sl_pack_writer *w, char *name, struct sl_error *err);

/* Drops an unsealed pack and its staging file. NULL is a no-op. */
void sl_pack_abort(struct sl_pack_writer *w);

#endif
