/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the transparency log (docs/log.md): checkpoints
 * checked against the server key pinned at first contact, the last verified
 * checkpoint kept per server so that every later one must extend it, proofs,
 * hash tiles and entry bundles over HTTP, and rebuilding the tree from the
 * entries to find the first one that the log's own hashes disown.
 */
#include "client/client_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "tlog/tiles.h"
#include "common/banned.h"

#define STATE_FILE_MAX (4u * SL_NOTE_MAX)
#define BUNDLE_MAX     ((size_t)SL_TILE_WIDTH * (2 + SL_ENTRY_MAX))
#define HASH_B64_LEN   44

static const char *b64(const unsigned char h[32], char out[HASH_B64_LEN + 1])
{
    sl_base64(h, 32, out);
    return out;
}

/* ---- checkpoints ---- */

enum sl_err sl_client_checkpoint_verify(const char *note, size_t n, const struct sl_note_key *key,
                                        struct sl_checkpoint *c, struct sl_error *err)
{
    struct sl_note on;
    enum sl_err rc;

    memset(c, 0, sizeof(*c));
    memset(&on, 0, sizeof(on));
    rc = sl_note_open(note, n, key, 1, &on, err);
    if (rc) {
        sl_error_prefix(err, "the checkpoint");
        return rc;
    }
    /* Only the server's signature: anything riding along unchecked is refused
     * rather than silently ignored (witness cosignatures are not supported). */
    for (size_t i = 0; i < on.nsigs; i++) {
        if (!on.sigs[i].verified) {
            rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_EXTRA_SIG,
                               "the checkpoint carries a signature by another key, \"%s\" (key ID "
                               "%08x), besides the server's \"%s\"; sluice accepts checkpoints "
                               "signed by the server's key alone",
                               on.sigs[i].name, (unsigned)on.sigs[i].id, key->name);
            goto out;
        }
    }
    rc = sl_checkpoint_parse(on.text, on.text_len, c, err);
    if (rc) {
        sl_error_prefix(err, "the checkpoint");
        goto out;
    }
    if (strcmp(c->origin, key->name) != 0) {
        rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_WRONG_ORIGIN,
                           "the checkpoint is for the log \"%s\", but the server's key is named "
                           "\"%s\": a checkpoint of another log, refused",
                           c->origin, key->name);
        sl_checkpoint_free(c);
    }
out:
    sl_note_free(&on);
    return rc;
}

enum sl_err sl_client_log_check_growth(uint64_t old_size, const unsigned char old_root[32],
                                       uint64_t new_size, const unsigned char new_root[32],
                                       const unsigned char (*proof)[32], size_t len,
                                       struct sl_error *err)
{
    char a[HASH_B64_LEN + 1], b[HASH_B64_LEN + 1];
    struct sl_error e;

    if (new_size < old_size)
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_ROLLBACK,
                             "rollback: the server's checkpoint has %llu entries, but this client "
                             "already verified a checkpoint of %llu entries; a log only grows, so "
                             "the server rolled it back (or serves another log under its key)",
                             (unsigned long long)new_size, (unsigned long long)old_size);
    if (new_size == old_size) {
        if (memcmp(old_root, new_root, 32) == 0)
            return SL_OK;
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_FORK,
                             "fork: the server's checkpoint of %llu entries has root %s, but this "
                             "client verified root %s for the same size; the server signed two "
                             "different logs",
                             (unsigned long long)new_size, b64(new_root, a), b64(old_root, b));
    }
    if (old_size == 0)
        return SL_OK; /* the empty tree is a prefix of every tree */
    sl_error_clear(&e);
    if (sl_merkle_verify_consistency(old_size, new_size, old_root, new_root, proof, len, &e))
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_INCONSISTENT,
                             "inconsistent: the server's checkpoint of %llu entries does not "
                             "extend the checkpoint of %llu entries this client verified (%s); "
                             "the log was rewritten, a fork",
                             (unsigned long long)new_size, (unsigned long long)old_size, e.msg);
    return SL_OK;
}

/* ---- state ---- */

void sl_client_log_state_release(struct sl_log_state *s)
{
    if (!s)
        return;
    free(s->note);
    memset(s, 0, sizeof(*s));
}

char *sl_client_log_state_path(const char *url)
{
    char *dir = sl__cl_state_dir(), *p, hex[65];
    unsigned char h[32];

    if (!dir)
        return NULL;
    sl_sha256(url, strlen(url), h);
    sl_hex(h, 16, hex);
    p = sl_xasprintf("%s/log/%s.json", dir, hex);
    free(dir);
    return p;
}

/* Reads the state file: NULL `*out` when there is none. */
static enum sl_err read_state(const char *path, json_t **out, struct sl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t je;
    enum sl_err rc;

    *out = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return SL_OK;
    rc = sl_read_file(path, STATE_FILE_MAX, &text, &len, err);
    if (rc)
        return rc;
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return sl_error_set(err, SL_EINPUT, "%s: not a log state file sluice writes (%s)", path,
                            je.text[0] ? je.text : "not an object");
    }
    return SL_OK;
}

enum sl_err sl_client_log_state_load(const char *url, const struct sl_note_key *key,
                                     struct sl_log_state *s, bool *found, struct sl_error *err)
{
    char *path = sl_client_log_state_path(url);
    json_t *j = NULL, *size_j;
    const char *u, *root_b64, *note;
    struct sl_checkpoint c;
    struct sl_error e;
    unsigned char root[32];
    size_t rlen = 0;
    int64_t when = 0;
    enum sl_err rc = SL_OK;

    memset(s, 0, sizeof(*s));
    memset(&c, 0, sizeof(c));
    *found = false;
    if (!path)
        return SL_OK; /* no home folder: nothing was ever stored */
    rc = read_state(path, &j, err);
    if (rc || !j)
        goto out;
    u = json_string_value(json_object_get(j, "url"));
    size_j = json_object_get(j, "size");
    root_b64 = json_string_value(json_object_get(j, "root"));
    note = json_string_value(json_object_get(j, "checkpoint"));
    if (!u || strcmp(u, url) != 0 || !json_is_integer(size_j) || json_integer_value(size_j) < 0 ||
        !root_b64 || strlen(root_b64) != HASH_B64_LEN ||
        !sl_unbase64(root_b64, HASH_B64_LEN, root, sizeof(root), &rlen) || rlen != 32 || !note) {
        rc = sl_error_set(err, SL_EINPUT,
                          "%s: not the log state of %s (a url, size, root and checkpoint are "
                          "expected); move it aside and the next check starts again from the "
                          "server's current checkpoint",
                          path, url);
        goto out;
    }
    sl_error_clear(&e);
    if (sl_client_checkpoint_verify(note, strlen(note), key, &c, &e)) {
        rc = sl_error_set(err, SL_EINPUT,
                          "%s: the checkpoint stored for %s does not verify with the server's "
                          "pinned key \"%s\" (%s); if the key was replaced on purpose, move the "
                          "file aside",
                          path, url, key->name, e.msg);
        goto out;
    }
    if (c.size != (uint64_t)json_integer_value(size_j) || memcmp(c.root, root, 32) != 0) {
        rc = sl_error_set(err, SL_EINPUT,
                          "%s: the size and root recorded do not match the checkpoint stored "
                          "beside them; the file was edited",
                          path);
        goto out;
    }
    if (json_string_value(json_object_get(j, "verified")))
        sl_gov_parse_time(json_string_value(json_object_get(j, "verified")), &when);
    s->size = c.size;
    memcpy(s->root, c.root, 32);
    s->note = sl_xstrdup(note);
    s->verified = when;
    *found = true;
out:
    sl_checkpoint_free(&c);
    json_decref(j);
    free(path);
    return rc;
}

enum sl_err sl_client_log_state_save(const char *url, const struct sl_log_state *s,
                                     struct sl_error *err)
{
    char *path = sl_client_log_state_path(url), *dir = NULL, *text = NULL, when[24];
    char root[HASH_B64_LEN + 1];
    json_t *old = NULL, *j = NULL;
    size_t len, origin_len;
    enum sl_err rc;

    if (!path)
        return sl_error_set(err, SL_EIO,
                            "no home folder to keep the log's state in: set HOME or "
                            "XDG_STATE_HOME");
    dir = sl_xstrndup(path, (size_t)(strrchr(path, '/') - path));
    rc = sl__cl_mkdirs(dir, 0700, err);
    if (rc)
        goto out;
    /* Another sluice process may have got further meanwhile: never go back. */
    if (read_state(path, &old, NULL) == SL_OK && old) {
        json_t *sz = json_object_get(old, "size");
        const char *u = json_string_value(json_object_get(old, "url"));
        if (u && strcmp(u, url) == 0 && json_is_integer(sz) && json_integer_value(sz) >= 0 &&
            (uint64_t)json_integer_value(sz) > s->size)
            goto out;
    }
    origin_len = strcspn(s->note, "\n");
    j = json_object();
    json_object_set_new(j, "url", json_string(url));
    json_object_set_new(j, "origin", json_stringn(s->note, origin_len));
    json_object_set_new(j, "size", json_integer((json_int_t)s->size));
    json_object_set_new(j, "root", json_string(b64(s->root, root)));
    json_object_set_new(j, "checkpoint", json_string(s->note));
    json_object_set_new(
        j, "verified",
        json_string(sl_gov_time(s->verified ? s->verified : (int64_t)time(NULL), when)));
    text = sl_json_dump(j, 2, &len);
    rc = sl__cl_write_atomic(path, text, len, 0600, true, err);
out:
    free(text);
    json_decref(j);
    json_decref(old);
    free(dir);
    free(path);
    return rc;
}

/* ---- over HTTP ---- */

static void prefix_get(struct sl_client *cl, enum sl_err rc, const char *path, struct sl_error *err)
{
    if (rc != SL_EUNREACHABLE)
        sl_error_prefix(err, "GET %s%s", cl->url, path);
}

enum sl_err sl_client_log_checkpoint_get(struct sl_client *cl, char **note, size_t *len,
                                         struct sl_error *err)
{
    enum sl_err rc = sl__cl_http_text(cl, "GET", "/log/checkpoint", NULL, NULL, 0, SL_NOTE_MAX,
                                      NULL, note, len, err);

    if (rc)
        prefix_get(cl, rc, "/log/checkpoint", err);
    return rc;
}

/* Reads a JSON proof answer: the two numbers echoed and the hashes. */
static enum sl_err get_proof(struct sl_client *cl, const char *kind, const char *ka, uint64_t a,
                             const char *kb, uint64_t b, unsigned char (*proof)[32], size_t *len,
                             struct sl_error *err)
{
    char *path = sl_xasprintf("/api/v1/log/proof/%s?%s=%llu&%s=%llu", kind, ka,
                              (unsigned long long)a, kb, (unsigned long long)b);
    json_t *ans = NULL, *arr, *x;
    size_t i;
    enum sl_err rc = sl__cl_http_json(cl, "GET", path, NULL, 0, 60, NULL, &ans, err);

    *len = 0;
    if (rc) {
        prefix_get(cl, rc, path, err);
        goto out;
    }
    arr = json_object_get(ans, "proof");
    if (!json_is_integer(json_object_get(ans, ka)) || !json_is_integer(json_object_get(ans, kb)) ||
        (uint64_t)json_integer_value(json_object_get(ans, ka)) != a ||
        (uint64_t)json_integer_value(json_object_get(ans, kb)) != b || !json_is_array(arr) ||
        json_array_size(arr) > SL_MERKLE_MAX_HASHES) {
        rc = sl_error_set(err, SL_EINPUT, "GET %s%s: the answer is not the %s proof asked for",
                          cl->url, path, kind);
        goto out;
    }
    json_array_foreach(arr, i, x)
    {
        const char *s = json_string_value(x);
        char back[HASH_B64_LEN + 1];
        size_t n = 0;
        /* canonical base64 of exactly 32 bytes */
        if (!s || strlen(s) != HASH_B64_LEN || !sl_unbase64(s, HASH_B64_LEN, proof[i], 32, &n) ||
            n != 32 || strcmp(b64(proof[i], back), s) != 0) {
            rc = sl_error_set(err, SL_EINPUT,
                              "GET %s%s: proof hash %zu is not the base64 of 32 bytes", cl->url,
                              path, i);
            goto out;
        }
    }
    *len = json_array_size(arr);
out:
    json_decref(ans);
    free(path);
    return rc;
}

enum sl_err sl_client_log_inclusion(struct sl_client *cl, uint64_t index, uint64_t size,
                                    unsigned char (*proof)[32], size_t *len, struct sl_error *err)
{
    return get_proof(cl, "inclusion", "index", index, "size", size, proof, len, err);
}

enum sl_err sl_client_log_consistency(struct sl_client *cl, uint64_t from, uint64_t to,
                                      unsigned char (*proof)[32], size_t *len, struct sl_error *err)
{
    return get_proof(cl, "consistency", "from", from, "to", to, proof, len, err);
}

enum sl_err sl_client_log_entry_text(struct sl_client *cl, uint64_t index, char **text, size_t *len,
                                     struct sl_error *err)
{
    char *path = sl_xasprintf("/api/v1/log/entries?start=%llu&end=%llu", (unsigned long long)index,
                              (unsigned long long)index + 1);
    json_t *ans = NULL, *e;
    const char *t;
    enum sl_err rc = sl__cl_http_json(cl, "GET", path, NULL, 0, 60, NULL, &ans, err);

    *text = NULL;
    if (rc) {
        prefix_get(cl, rc, path, err);
        goto out;
    }
    if (!json_is_array(ans) || json_array_size(ans) > 1) {
        rc = sl_error_set(err, SL_EINPUT, "GET %s%s: the answer is not a list of entries", cl->url,
                          path);
        goto out;
    }
    if (json_array_size(ans) == 0) {
        rc = sl_error_set(err, SL_ENOTFOUND, "the log of %s has no entry %llu", cl->url,
                          (unsigned long long)index);
        goto out;
    }
    e = json_array_get(ans, 0);
    t = json_string_value(json_object_get(e, "text"));
    if (!json_is_integer(json_object_get(e, "index")) ||
        (uint64_t)json_integer_value(json_object_get(e, "index")) != index || !t ||
        strlen(t) != json_string_length(json_object_get(e, "text"))) {
        rc = sl_error_set(err, SL_EINPUT, "GET %s%s: the answer is not entry %llu with its text",
                          cl->url, path, (unsigned long long)index);
        goto out;
    }
    *len = strlen(t);
    *text = sl_xstrdup(t);
out:
    json_decref(ans);
    free(path);
    return rc;
}

enum sl_err sl_client_log_tile_get(struct sl_client *cl, const struct sl_tile *t,
                                   unsigned char **data, size_t *len, struct sl_error *err)
{
    char tp[SL_TILE_PATH_MAX], path[SL_TILE_PATH_MAX + 8], *text = NULL;
    enum sl_err rc;

    sl_tile_path(t, tp);
    snprintf(path, sizeof(path), "/log/%s", tp);
    rc = sl__cl_http_text(cl, "GET", path, NULL, NULL, 0,
                          t->level == SL_TILE_ENTRIES ? BUNDLE_MAX : SL_TILE_MAX_BYTES, NULL, &text,
                          len, err);
    if (rc) {
        prefix_get(cl, rc, path, err);
        return rc;
    }
    *data = (unsigned char *)text;
    return SL_OK;
}

enum sl_err sl_client_report(struct sl_client *cl, const char *org, const char *name, json_t **out,
                             struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(4096);
    char *path;
    enum sl_err rc;

    sl_buf_adds(&b, "/api/v1/models/");
    sl__cl_url_escape(&b, org, false);
    sl_buf_addc(&b, '/');
    sl__cl_url_escape(&b, name, false);
    sl_buf_adds(&b, "/report");
    path = sl_buf_detach(&b, NULL);
    rc = sl__cl_http_json(cl, "GET", path, NULL, 0, 120, NULL, out, err);
    if (rc && rc != SL_EUNREACHABLE)
        sl_error_prefix(err, "%s/%s", org, name);
    free(path);
    return rc;
}

/* ---- rebuilding the tree ---- */

struct sl_log_rebuild {
    uint64_t size;
    unsigned char peaks[64][32]; /* left to right: the largest subtree first */
    int npeaks;
    bool have_bad;
    uint64_t first_bad, bad;
};

struct sl_log_rebuild *sl_client_log_rebuild_new(void)
{
    return sl_xcalloc(1, sizeof(struct sl_log_rebuild));
}

void sl_client_log_rebuild_free(struct sl_log_rebuild *rb)
{
    free(rb);
}

/* Appends the hash of a complete subtree of 2^level leaves (level 0: a leaf
 * hash) at the end of the tree, which must end on a multiple of 2^level:
 * merges the equal-sized subtrees it completes, one node hash per leaf on
 * average. */
static void rb_append_at(struct sl_log_rebuild *rb, int level, const unsigned char hash[32])
{
    unsigned char h[32];
    uint64_t n = rb->size >> level;

    memcpy(h, hash, 32);
    while (n & 1) {
        sl_merkle_node(rb->peaks[--rb->npeaks], h, h);
        n >>= 1;
    }
    memcpy(rb->peaks[rb->npeaks++], h, 32);
    rb->size += (uint64_t)1 << level;
}

static void rb_append(struct sl_log_rebuild *rb, const unsigned char leaf[32])
{
    rb_append_at(rb, 0, leaf);
}

uint64_t sl_client_log_rebuild_size(const struct sl_log_rebuild *rb)
{
    return rb->size;
}

void sl_client_log_rebuild_root(const struct sl_log_rebuild *rb, unsigned char out[32])
{
    unsigned char h[32];

    if (rb->npeaks == 0) {
        sl_sha256("", 0, out);
        return;
    }
    memcpy(h, rb->peaks[rb->npeaks - 1], 32);
    for (int i = rb->npeaks - 2; i >= 0; i--)
        sl_merkle_node(rb->peaks[i], h, h);
    memcpy(out, h, 32);
}

bool sl_client_log_rebuild_first_bad(const struct sl_log_rebuild *rb, uint64_t *index,
                                     uint64_t *count)
{
    *index = rb->first_bad;
    *count = rb->bad;
    return rb->have_bad;
}

enum sl_err sl_client_log_rebuild_start(struct sl_log_rebuild *rb, uint64_t size,
                                        sl_merkle_read_fn read, void *ctx,
                                        const unsigned char root[32], struct sl_error *err)
{
    unsigned char got[32];
    char a[HASH_B64_LEN + 1], b[HASH_B64_LEN + 1];
    uint64_t start = 0;
    enum sl_err rc;

    memset(rb, 0, sizeof(*rb));
    for (int level = 63; level >= 0; level--) {
        uint64_t span = (uint64_t)1 << level;
        if (!(size & span))
            continue;
        rc = read(ctx, level, start >> level, rb->peaks[rb->npeaks], err);
        if (rc)
            return rc;
        rb->npeaks++;
        start += span;
    }
    rb->size = size;
    sl_client_log_rebuild_root(rb, got);
    if (memcmp(got, root, 32) != 0)
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_ROOT,
                             "the server's hash tiles make root %s for the tree of %llu entries, "
                             "but its checkpoint signed %s",
                             b64(got, a), (unsigned long long)size, b64(root, b));
    return SL_OK;
}

static void mark_bad(struct sl_log_rebuild *rb, uint64_t index)
{
    if (!rb->have_bad || index < rb->first_bad)
        rb->first_bad = index;
    rb->have_bad = true;
    rb->bad++;
}

enum sl_err sl_client_log_rebuild_feed(struct sl_log_rebuild *rb, uint64_t first, unsigned width,
                                       const unsigned char *bundle, size_t blen,
                                       const unsigned char *tile, size_t tlen, sl_log_entry_fn fn,
                                       void *ctx, struct sl_error *err)
{
    struct sl_bundle_entry e[SL_TILE_WIDTH];
    unsigned char leaf[32];
    unsigned count = 0;
    enum sl_err rc;

    if (width == 0 || width > SL_TILE_WIDTH || tlen != (size_t)width * 32)
        return sl_error_set(err, SL_EINPUT,
                            "the hash tile of entries %llu to %llu has %zu bytes, not %u",
                            (unsigned long long)first,
                            (unsigned long long)first + (width ? width - 1 : 0), tlen, width * 32);
    if (first > rb->size || first + width <= rb->size)
        return sl_error_set(err, SL_EUSAGE, "entries %llu to %llu are not the next ones (%llu)",
                            (unsigned long long)first, (unsigned long long)first + width - 1,
                            (unsigned long long)rb->size);
    /* Every entry of a bundle may be gone: that is an empty bundle. */
    if (blen > 0) {
        rc = sl_bundle_parse(bundle, blen, e, &count, err);
        if (rc) {
            sl_error_prefix(err, "the entry bundle of entries %llu to %llu",
                            (unsigned long long)first, (unsigned long long)first + width - 1);
            return SL_EINPUT;
        }
    }
    if (count > width)
        return sl_error_set(
            err, SL_EINPUT, "the entry bundle of entries %llu to %llu holds %u entries, not %u",
            (unsigned long long)first, (unsigned long long)first + width - 1, count, width);
    for (unsigned i = (unsigned)(rb->size - first); i < width; i++) {
        const unsigned char *want = tile + (size_t)i * 32;
        if (i < count) {
            sl_merkle_leaf(e[i].data, e[i].len, leaf);
            if (memcmp(leaf, want, 32) != 0)
                mark_bad(rb, first + i);
            if (fn)
                fn(ctx, first + i, e[i].data, e[i].len);
        } else {
            /* missing: go on with the log's hash to check what follows */
            mark_bad(rb, first + i);
            memcpy(leaf, want, 32);
        }
        rb_append(rb, leaf);
    }
    return SL_OK;
}

/* One bundle's share of a parallel feed: its entries hashed and compared
 * with the tile, and the root of its 256 leaves. */
struct bundle_job {
    const struct sl_log_bundle *b;
    unsigned char root[32];
    bool have_bad;
    uint64_t first_bad, bad;
    bool serial; /* left to the calling thread (partial, or not aligned) */
    enum sl_err rc;
    struct sl_error err;
};

struct feed_pool {
    struct bundle_job *jobs;
    size_t n;
    atomic_size_t next;
};

static void hash_bundle(struct bundle_job *j)
{
    const struct sl_log_bundle *b = j->b;
    struct sl_bundle_entry e[SL_TILE_WIDTH];
    unsigned char h[SL_TILE_WIDTH][32];
    unsigned count = 0;

    if (b->tlen != (size_t)SL_TILE_WIDTH * 32) {
        j->rc = sl_error_set(
            &j->err, SL_EINPUT, "the hash tile of entries %llu to %llu has %zu bytes, not %u",
            (unsigned long long)b->first, (unsigned long long)b->first + SL_TILE_WIDTH - 1, b->tlen,
            SL_TILE_WIDTH * 32);
        return;
    }
    if (b->blen > 0 && sl_bundle_parse(b->bundle, b->blen, e, &count, &j->err)) {
        sl_error_prefix(&j->err, "the entry bundle of entries %llu to %llu",
                        (unsigned long long)b->first,
                        (unsigned long long)b->first + SL_TILE_WIDTH - 1);
        j->rc = SL_EINPUT;
        return;
    }
    for (unsigned i = 0; i < SL_TILE_WIDTH; i++) {
        const unsigned char *want = b->tile + (size_t)i * 32;
        bool bad;
        if (i < count) {
            sl_merkle_leaf(e[i].data, e[i].len, h[i]);
            bad = memcmp(h[i], want, 32) != 0;
        } else {
            memcpy(h[i], want, 32);
            bad = true;
        }
        if (bad) {
            if (!j->have_bad)
                j->first_bad = b->first + i;
            j->have_bad = true;
            j->bad++;
        }
    }
    for (unsigned n = SL_TILE_WIDTH; n > 1; n /= 2)
        for (unsigned i = 0; i < n / 2; i++)
            sl_merkle_node(h[2 * i], h[2 * i + 1], h[i]);
    memcpy(j->root, h[0], 32);
}

static void *feed_worker(void *arg)
{
    struct feed_pool *p = arg;
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
        if (!p->jobs[i].serial)
            hash_bundle(&p->jobs[i]);
    return NULL;
}

int sl_client_log_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);

    return online < 1 ? 1 : online > 8 ? 8 : (int)online;
}

enum sl_err sl_client_log_rebuild_feed_many(struct sl_log_rebuild *rb,
                                            const struct sl_log_bundle *bundles, size_t n,
                                            int threads, struct sl_error *err)
{
    struct feed_pool p;
    pthread_t tids[8];
    int started = 0;
    uint64_t size = rb->size;
    enum sl_err rc = SL_OK;

    if (n == 0)
        return SL_OK;
    p.jobs = sl_xcalloc(n, sizeof(*p.jobs));
    p.n = n;
    atomic_init(&p.next, 0);
    /* Full bundles that start where the tree ends are hashed in parallel;
     * the rest (a partial bundle, a start inside a bundle) serially. */
    for (size_t i = 0; i < n; i++) {
        p.jobs[i].b = &bundles[i];
        p.jobs[i].serial = bundles[i].width != SL_TILE_WIDTH || bundles[i].first != size ||
                           size % SL_TILE_WIDTH != 0;
        size = bundles[i].first + bundles[i].width;
    }
    if (threads > 8)
        threads = 8;
    for (int t = 1; t < threads && (size_t)t < n; t++)
        if (pthread_create(&tids[started], NULL, feed_worker, &p) == 0)
            started++;
    feed_worker(&p);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    for (size_t i = 0; i < n && !rc; i++) {
        struct bundle_job *j = &p.jobs[i];
        const struct sl_log_bundle *b = j->b;
        if (j->serial) {
            rc = sl_client_log_rebuild_feed(rb, b->first, b->width, b->bundle, b->blen, b->tile,
                                            b->tlen, NULL, NULL, err);
            continue;
        }
        if (j->rc) {
            if (err)
                *err = j->err;
            rc = j->rc;
            break;
        }
        if (j->have_bad) {
            if (!rb->have_bad || j->first_bad < rb->first_bad)
                rb->first_bad = j->first_bad;
            rb->have_bad = true;
            rb->bad += j->bad;
        }
        rb_append_at(rb, SL_TILE_HEIGHT, j->root);
    }
    free(p.jobs);
    return rc;
}

enum sl_err sl_client_log_rebuild_finish(const struct sl_log_rebuild *rb, uint64_t size,
                                         const unsigned char root[32], struct sl_error *err)
{
    unsigned char got[32];
    char a[HASH_B64_LEN + 1], b[HASH_B64_LEN + 1];

    if (rb->size != size)
        return sl_error_set(err, SL_EINTERNAL, "rebuilt %llu of the %llu entries",
                            (unsigned long long)rb->size, (unsigned long long)size);
    if (rb->have_bad)
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_BAD_ENTRY,
                             "entry %llu is not the entry the log's hashes were made from "
                             "(changed, dropped or moved): the first bad index is %llu (%llu of "
                             "%llu entries do not match the server's hash tiles)",
                             (unsigned long long)rb->first_bad, (unsigned long long)rb->first_bad,
                             (unsigned long long)rb->bad, (unsigned long long)size);
    sl_client_log_rebuild_root(rb, got);
    if (memcmp(got, root, 32) != 0)
        return sl_error_setk(err, SL_EREFUSED, SL_LOG_K_ROOT,
                             "the tree rebuilt from all %llu entries has root %s, but the "
                             "checkpoint signed root %s: the entries and hash tiles served are "
                             "not the tree the server signed",
                             (unsigned long long)size, b64(got, a), b64(root, b));
    return SL_OK;
}

/* Stored hashes of a tree read through the server's hash tiles: hash
 * (level, index) is the root of 2^(level mod 8) consecutive hashes of one
 * tile. Used for the peaks of a tree already verified, which are checked
 * against its root, so the server cannot lie here undetected. */
struct tile_reader {
    struct sl_client *cl;
    uint64_t size;
    struct sl_tile t; /* the tile in `data` */
    unsigned char *data;
    size_t len;
};

static enum sl_err tile_hash(void *ctx, int level, uint64_t index, unsigned char out[32],
                             struct sl_error *err)
{
    struct tile_reader *tr = ctx;
    int r = level % SL_TILE_HEIGHT;
    uint64_t first = index << r;
    unsigned off = (unsigned)(first % SL_TILE_WIDTH), cnt = 1u << r;
    unsigned char h[SL_TILE_WIDTH / 2][32];
    struct sl_tile t;
    enum sl_err rc;

    t.level = level / SL_TILE_HEIGHT;
    t.index = first / SL_TILE_WIDTH;
    t.width = sl_tile_width_at(t.level, t.index, tr->size);
    if (t.width < off + cnt)
        return sl_error_set(err, SL_EINTERNAL,
                            "no tile of the tree of %llu entries holds the hash at level %d "
                            "index %llu",
                            (unsigned long long)tr->size, level, (unsigned long long)index);
    if (!tr->data || tr->t.level != t.level || tr->t.index != t.index || tr->t.width != t.width) {
        free(tr->data);
        tr->data = NULL;
        rc = sl_client_log_tile_get(tr->cl, &t, &tr->data, &tr->len, err);
        if (rc)
            return rc;
        tr->t = t;
        if (tr->len != (size_t)t.width * 32)
            return sl_error_set(err, SL_EINPUT, "the hash tile %d/%llu has %zu bytes, not %u",
                                t.level, (unsigned long long)t.index, tr->len, t.width * 32);
    }
    memcpy(h, tr->data + (size_t)off * 32, (size_t)cnt * 32);
    for (unsigned n = cnt; n > 1; n /= 2)
        for (unsigned i = 0; i < n / 2; i++)
            sl_merkle_node(h[2 * i], h[2 * i + 1], h[i]);
    memcpy(out, h[0], 32);
    return SL_OK;
}

#define FETCH_BATCH 64 /* bundles fetched before they are hashed together */

/* Feeds the bundles and level-0 tiles from the rebuild's size to `size`,
 * fetched in batches and hashed on several threads (one by one when `fn`
 * wants to see the entries). */
static enum sl_err rebuild_to(struct sl_client *cl, struct sl_log_rebuild *rb, uint64_t size,
                              const struct sl_log_verify_opts *o, sl_log_entry_fn fn, void *ctx,
                              struct sl_error *err)
{
    struct sl_log_bundle batch[FETCH_BATCH];
    unsigned char *data[2 * FETCH_BATCH];
    size_t nb = 0, nd = 0;
    uint64_t start = rb->size, at = rb->size;
    int threads = fn ? 1 : sl_client_log_threads();
    enum sl_err rc = SL_OK;

    while (!rc && at < size) {
        struct sl_tile te, th;
        struct sl_log_bundle *b = &batch[nb];
        size_t blen = 0, tlen = 0;
        rc = sl_tile_for(SL_TILE_ENTRIES, at, size, &te, err);
        if (rc)
            break;
        th = te;
        th.level = 0;
        data[nd] = data[nd + 1] = NULL;
        rc = sl_client_log_tile_get(cl, &te, &data[nd], &blen, err);
        if (!rc)
            rc = sl_client_log_tile_get(cl, &th, &data[nd + 1], &tlen, err);
        nd += 2;
        if (rc)
            break;
        b->first = te.index * SL_TILE_WIDTH;
        b->width = te.width;
        b->bundle = data[nd - 2];
        b->blen = blen;
        b->tile = data[nd - 1];
        b->tlen = tlen;
        nb++;
        at = b->first + b->width;
        if (nb == FETCH_BATCH || at >= size) {
            if (fn)
                for (size_t i = 0; i < nb && !rc; i++)
                    rc = sl_client_log_rebuild_feed(rb, batch[i].first, batch[i].width,
                                                    batch[i].bundle, batch[i].blen, batch[i].tile,
                                                    batch[i].tlen, fn, ctx, err);
            else
                rc = sl_client_log_rebuild_feed_many(rb, batch, nb, threads, err);
            for (size_t i = 0; i < nd; i++)
                free(data[i]);
            nb = nd = 0;
            if (o->progress)
                o->progress(o->progress_ctx, rb->size - start, size - start);
        }
    }
    for (size_t i = 0; i < nd; i++)
        free(data[i]);
    return rc;
}

static void keep_entry(void *ctx, uint64_t index, const unsigned char *entry, size_t len)
{
    struct sl_log_verify *v = ctx;
    struct sl_log_entry *e;

    if ((v->nentries & (v->nentries - 1)) == 0) /* 0, 1, 2, 4...: double */
        v->entries = sl_xrealloc(v->entries, (v->nentries ? v->nentries * 2 : 1) * sizeof(*e));
    e = &v->entries[v->nentries++];
    e->index = index;
    e->text = sl_xstrndup((const char *)entry, len);
    e->len = len;
}

void sl_client_log_verify_release(struct sl_log_verify *v)
{
    if (!v)
        return;
    free(v->note);
    sl_checkpoint_free(&v->cp);
    sl_client_log_state_release(&v->old);
    free(v->state_path);
    for (size_t i = 0; i < v->nentries; i++)
        free(v->entries[i].text);
    free(v->entries);
    memset(v, 0, sizeof(*v));
}

enum sl_err sl_client_log_verify(struct sl_client *cl, const struct sl_log_verify_opts *o,
                                 struct sl_log_verify *v, struct sl_error *err)
{
    unsigned char proof[SL_MERKLE_MAX_HASHES][32];
    struct sl_log_rebuild *rb = NULL;
    struct tile_reader tr;
    size_t len = 0, plen = 0;
    enum sl_err rc;

    memset(v, 0, sizeof(*v));
    memset(&tr, 0, sizeof(tr));
    rc = sl_client_server_key(cl, &v->key, &v->pinned_now, err);
    if (rc)
        return rc;
    if (o->note) {
        v->note = sl_xstrndup(o->note, o->note_len);
        len = o->note_len;
    } else {
        rc = sl_client_log_checkpoint_get(cl, &v->note, &len, err);
        if (rc)
            return rc;
    }
    rc = sl_client_checkpoint_verify(v->note, len, &v->key, &v->cp, err);
    if (rc) {
        if (!o->note)
            sl_error_prefix(err, "GET %s/log/checkpoint", cl->url);
        return rc;
    }
    v->have_cp = true;
    v->state_path = sl_client_log_state_path(cl->url);
    rc = sl_client_log_state_load(cl->url, &v->key, &v->old, &v->had_state, err);
    if (rc)
        return rc;
    if (v->had_state) {
        if (v->old.size > 0 && v->old.size < v->cp.size) {
            rc = sl_client_log_consistency(cl, v->old.size, v->cp.size, proof, &plen, err);
            if (rc)
                return rc;
        }
        rc = sl_client_log_check_growth(v->old.size, v->old.root, v->cp.size, v->cp.root,
                                        (const unsigned char(*)[32])proof, plen, err);
        if (rc)
            return rc;
    }
    v->consistent = true;
    if (o->full) {
        rb = sl_client_log_rebuild_new();
        rc = rebuild_to(cl, rb, v->cp.size, o, NULL, NULL, err);
        v->full_entries = rb->size;
        v->have_bad = sl_client_log_rebuild_first_bad(rb, &v->first_bad, &v->bad_count);
        if (!rc)
            rc = sl_client_log_rebuild_finish(rb, v->cp.size, v->cp.root, err);
        sl_client_log_rebuild_free(rb);
        rb = NULL;
        if (rc)
            return rc;
        v->full_done = true;
    }
    if (o->new_entries && v->had_state && v->cp.size > v->old.size) {
        rb = sl_client_log_rebuild_new();
        tr.cl = cl;
        tr.size = v->old.size;
        rc = sl_client_log_rebuild_start(rb, v->old.size, tile_hash, &tr, v->old.root, err);
        free(tr.data);
        if (!rc)
            rc = rebuild_to(cl, rb, v->cp.size, o, keep_entry, v, err);
        if (!rc)
            rc = sl_client_log_rebuild_finish(rb, v->cp.size, v->cp.root, err);
        if (rb->have_bad) {
            v->have_bad = true;
            v->first_bad = rb->first_bad;
            v->bad_count = rb->bad;
        }
        sl_client_log_rebuild_free(rb);
        if (rc)
            return rc;
    }
    if (o->save) {
        struct sl_log_state s;
        s.size = v->cp.size;
        memcpy(s.root, v->cp.root, 32);
        s.note = v->note;
        s.verified = (int64_t)time(NULL);
        rc = sl_client_log_state_save(cl->url, &s, err);
        if (rc)
            return rc;
        v->saved = true;
    }
    return SL_OK;
}

/* ---- offline proofs ---- */

enum sl_err sl_client_log_proof_verify(const char *proof, size_t plen, const void *entry,
                                       size_t elen, const struct sl_note_key *key,
                                       struct sl_log_proof_check *out, struct sl_error *err)
{
    struct sl_tlog_proof p;
    struct sl_error e;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    rc = sl_tlog_proof_parse(proof, plen, &p, err);
    if (rc)
        return rc;
    out->index = p.index;
    rc = sl_client_checkpoint_verify(p.checkpoint, p.checkpoint_len, key, &out->cp, err);
    if (rc)
        goto out;
    sl_merkle_leaf(entry, elen, out->leaf);
    sl_error_clear(&e);
    rc = sl_merkle_verify_inclusion(p.index, out->cp.size, out->leaf,
                                    (const unsigned char(*)[32])p.hashes, p.nhashes, out->cp.root,
                                    &e);
    if (rc == SL_EREFUSED)
        rc = sl_error_setk(err, SL_EREFUSED, SL_LOG_K_NOT_INCLUDED,
                           "the entry is not entry %llu of the log's checkpoint of %llu entries: "
                           "the proof leads to another root (the entry or the proof was changed)",
                           (unsigned long long)p.index, (unsigned long long)out->cp.size);
    else if (rc)
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF, "the proof of entry %llu: %s",
                           (unsigned long long)p.index, e.msg);
    if (rc)
        sl_checkpoint_free(&out->cp);
out:
    sl_tlog_proof_free(&p);
    return rc;
}

enum sl_err sl_client_log_proof_format(uint64_t index, const unsigned char (*proof)[32], size_t len,
                                       const char *note, char **text, size_t *text_len,
                                       struct sl_error *err)
{
    struct sl_tlog_proof p;

    if (len > SL_TLOG_PROOF_HASHES_MAX)
        return sl_error_set(err, SL_EINPUT, "an inclusion proof of %zu hashes is too long", len);
    memset(&p, 0, sizeof(p));
    p.index = index;
    memcpy(p.hashes, proof, len * 32);
    p.nhashes = len;
    p.checkpoint = (char *)note;
    p.checkpoint_len = strlen(note);
    return sl_tlog_proof_format(&p, text, text_len, err);
}
