/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inspection of a version's weights from the store. The top-level weight
 * files are laid out in a private temporary folder as header-only sparse
 * copies (the real header bytes, then a hole up to the real size), and the
 * same reader as `sluice inspect` reads that folder: one set of rules for
 * the command line and the server, and no tensor data copied. Index and
 * config.json files are copied whole (they are small and bounded).
 */
#include "registry/registry_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/vfs.h"
#include "db/repo_versions.h"
#include "common/banned.h"

#define GGUF_HEADER_MAX (64ull << 20) /* GGUF metadata read on the server */

enum kind { K_NONE, K_ST, K_GGUF, K_WHOLE };

static enum kind kind_of(const char *path)
{
    size_t n = strlen(path);

    if (strchr(path, '/'))
        return K_NONE; /* top level only, as for a folder on the command line */
    if (sl_str_has_suffix(path, n, ".safetensors.index.json") || strcmp(path, "config.json") == 0)
        return K_WHOLE;
    if (sl_str_has_suffix(path, n, ".safetensors"))
        return K_ST;
    if (sl_str_has_suffix(path, n, ".gguf"))
        return K_GGUF;
    return K_NONE;
}

/* The chunks of one file, in order, with their pack locations. */
struct loc {
    int64_t pack_id;
    char pack[SL_PACK_NAME_LEN + 1];
    uint64_t pack_offset;
    uint32_t length;
};

_Static_assert(sizeof(((struct sl_chunk_loc_row *)0)->pack) >= SL_PACK_NAME_LEN + 1,
               "a chunk location holds a pack name");

static void loc_set(struct loc *l, const struct sl_chunk_loc_row *row)
{
    l->pack_id = row->pack_id;
    snprintf(l->pack, sizeof(l->pack), "%s", row->pack);
    l->pack_offset = row->pack_offset;
    l->length = row->length;
}

/* The stored chunks of a file, collected in order. */
struct loc_list {
    struct loc *v;
    size_t n, cap;
};

static int loc_add(void *ctx, const struct sl_chunk_loc_row *row)
{
    struct loc_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sl_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    loc_set(&l->v[l->n++], row);
    return 0;
}

static enum sl_err locate(struct sl_db *db, const struct sl__ifile *f, struct loc **out,
                          size_t *nout, struct sl_error *err)
{
    struct loc_list l = {NULL, 0, 0};
    enum sl_err rc = SL_OK;

    if (f->chunk_ids) {
        l.v = sl_xcalloc(f->nchunks + 1, sizeof(*l.v));
        for (; l.n < f->nchunks; l.n++) {
            struct sl_chunk_loc_row row;
            bool found;
            rc = sl_repo_chunk_locate(db, f->chunk_ids[l.n], &found, &row, err);
            if (!rc && !found)
                rc = sl_error_set(err, SL_EINTERNAL, "%s: a chunk vanished", f->path);
            if (rc)
                break;
            loc_set(&l.v[l.n], &row);
        }
    } else {
        rc = sl_repo_blob_chunk_locs(db, f->blob_id, loc_add, &l, err);
    }
    if (rc) {
        free(l.v);
        return rc;
    }
    *out = l.v;
    *nout = l.n;
    return SL_OK;
}

/* Reads [0, len) of the file into `buf`. */
static enum sl_err read_prefix(struct sl_registry *r, const struct loc *v, size_t n, void *buf,
                               uint64_t len, struct sl_error *err)
{
    unsigned char *o = buf;
    uint64_t done = 0;

    for (size_t i = 0; i < n && done < len; i++) {
        uint64_t take = v[i].length;
        enum sl_err rc;
        if (take > len - done)
            take = len - done;
        rc = sl_store_read(r->store, v[i].pack_id, v[i].pack, o + done, (size_t)take,
                           v[i].pack_offset, err);
        if (rc)
            return rc;
        done += take;
    }
    if (done < len)
        return sl_error_set(err, SL_EINTERNAL, "file shorter than its chunks say");
    return SL_OK;
}

/* Writes the header bytes of one file into `dir` and extends it (sparse) to
 * its real size. */
static enum sl_err lay_out(struct sl_registry *r, struct sl_db *db, const char *dir,
                           const struct sl__ifile *f, enum kind k, struct sl_error *err)
{
    struct loc *v = NULL;
    size_t n = 0;
    uint64_t want = 0;
    unsigned char *buf = NULL;
    char *path = sl_path_join(dir, f->path);
    int fd = -1;
    enum sl_err rc = locate(db, f, &v, &n, err);

    if (rc)
        goto out;
    switch (k) {
    case K_WHOLE:
        want = f->size;
        if (want > SL_INDEX_MAX_BYTES)
            want = SL_INDEX_MAX_BYTES + 1; /* the reader names the limit */
        break;
    case K_ST:
        want = f->size < 8 ? f->size : 8;
        if (want == 8) {
            unsigned char p8[8];
            uint64_t hl;
            rc = read_prefix(r, v, n, p8, 8, err);
            if (rc)
                goto out;
            hl = sl_load_le64(p8);
            /* a bad length is the reader's to report: give it just the prefix */
            if (hl <= SL_ST_MAX_HEADER && hl <= f->size - 8)
                want = 8 + hl;
        }
        break;
    case K_GGUF:
        want = f->size < GGUF_HEADER_MAX ? f->size : GGUF_HEADER_MAX;
        break;
    default:
        goto out;
    }
    buf = sl_xmalloc(want ? (size_t)want : 1);
    rc = read_prefix(r, v, n, buf, want, err);
    if (rc)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    rc = sl_vfs_write_all(fd, buf, (size_t)want, 0, path, err);
    if (!rc && k != K_WHOLE && ftruncate(fd, (off_t)f->size) != 0)
        rc = sl_error_set(err, SL_EIO, "%s: cannot extend: %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(v);
    free(path);
    return rc;
}

enum sl_err sl__reg_inspect(struct sl_registry *r, struct sl_db *db, const struct sl__ifile *files,
                            size_t n, struct sl_model **out, struct sl_error *err)
{
    char *dir = sl_xasprintf("%s/packs/tmp/inspect-XXXXXX", r->root);
    const char *paths[1];
    bool any = false;
    enum sl_err rc = SL_OK;

    *out = NULL;
    for (size_t i = 0; i < n; i++)
        any |= kind_of(files[i].path) == K_ST || kind_of(files[i].path) == K_GGUF;
    if (!any) {
        free(dir);
        return sl_error_set(err, SL_ENOTFOUND, "no weight files");
    }
    if (!mkdtemp(dir)) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        enum kind k = kind_of(files[i].path);
        if (k != K_NONE)
            rc = lay_out(r, db, dir, &files[i], k, err);
    }
    if (!rc) {
        paths[0] = dir;
        rc = sl_model_open(paths, 1, out, err);
        if (!rc) {
            /* report the version's paths, not the temporary copies */
            for (size_t i = 0; i < (*out)->nfiles; i++) {
                struct sl_model_file *mf = &(*out)->files[i];
                char *rel = sl_xstrdup(mf->name);
                free(mf->path);
                mf->path = rel;
                mf->name = rel;
            }
        } else {
            /* name the version's file, not the temporary copy */
            char *prefix = sl_xasprintf("%s/", dir);
            char *at = strstr(err->msg, prefix);
            if (at) {
                size_t plen = strlen(prefix);
                memmove(at, at + plen, strlen(at + plen) + 1);
            }
            free(prefix);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (kind_of(files[i].path) != K_NONE) {
            char *p = sl_path_join(dir, files[i].path);
            unlink(p);
            free(p);
        }
    }
    rmdir(dir);
    free(dir);
    return rc;
}
