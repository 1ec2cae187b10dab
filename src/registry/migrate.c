/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Moving a single-box registry's database into PostgreSQL (`sluice admin
 * migrate`): the rows are copied and verified table by table (db_copy.c),
 * and the log must come out the same tree under the same key: the newest
 * checkpoint signed from the source and the one the target serves after the
 * copy are the same note, byte for byte (Ed25519 signatures are
 * deterministic), so clients' pinned state keeps verifying. The packs move
 * between blob stores pack by pack (sl_store_copy_pack), each one hashed on
 * both sides.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "db/repo_chunks.h"
#include "store/store.h"
#include "common/banned.h"

/* The newest checkpoint of the registry at `root` on database `url`
 * (signing one first when the tree grew). */
static enum sl_err checkpoint_of(const char *root, const char *keys, const char *url, char **note,
                                 uint64_t *size, struct sl_error *err)
{
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    enum sl_err rc;

    memset(&ro, 0, sizeof(ro));
    ro.db = url;
    ro.keys = keys;
    rc = sl_registry_open(root, &ro, &r, NULL, err);
    if (!rc)
        rc = sl_reg_log_checkpoint(r, note, size, err);
    sl_registry_close(r);
    return rc;
}

enum sl_err sl_registry_migrate(const char *root, const char *keys, const char *from,
                                const char *to, sl_db_copy_note note, void *ctx, char **checkpoint,
                                struct sl_error *err)
{
    struct sl_db *src = NULL, *dst = NULL;
    char *before = NULL, *after = NULL;
    uint64_t size_before = 0, size_after = 0;
    enum sl_err rc;

    *checkpoint = NULL;
    if (strncmp(from, "sqlite:", 7) != 0)
        return sl_error_set(err, SL_EUSAGE, "--from-db must be sqlite:PATH, got \"%.200s\"", from);
    if (strncmp(to, "postgresql:", 11) != 0 && strncmp(to, "postgres:", 9) != 0)
        return sl_error_set(err, SL_EUSAGE, "--to-db must be postgresql://..., got \"%.40s...\"",
                            to);
    /* the source's log, signed up to its end, is what the target must show */
    rc = checkpoint_of(root, keys, from, &before, &size_before, err);
    if (rc)
        goto out;
    rc = sl_db_open(from, &src, err);
    if (!rc)
        rc = sl_db_open(to, &dst, err);
    if (!rc)
        rc = sl_db_copy(src, dst, note, ctx, err);
    sl_db_close(src);
    sl_db_close(dst);
    if (rc)
        goto out;
    rc = checkpoint_of(root, keys, to, &after, &size_after, err);
    if (rc)
        goto out;
    if (size_after != size_before || strcmp(before, after) != 0) {
        rc = sl_error_set(err, SL_ECONFLICT,
                          "the log differs after the copy: %llu entries before, %llu after, or "
                          "another checkpoint (are the key files the source's?)",
                          (unsigned long long)size_before, (unsigned long long)size_after);
        goto out;
    }
    *checkpoint = after;
    after = NULL;
out:
    free(before);
    free(after);
    return rc;
}

struct pack_row {
    int64_t id;
    char *name;
    bool retired;
};

struct pack_list {
    struct pack_row *v;
    size_t n;
};

static int add_pack(void *ctx, const struct sl_pack_row *row)
{
    struct pack_list *l = ctx;

    l->v = sl_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n].id = row->id;
    l->v[l->n].name = sl_xstrdup(row->name);
    l->v[l->n].retired = row->retired;
    l->n++;
    return 0;
}

enum sl_err sl_registry_migrate_store(const char *root, const char *keys, const char *db,
                                      const char *from, const char *to, sl_pack_copy_note note,
                                      void *ctx, struct sl_error *err)
{
    struct sl_registry_opts ro;
    struct sl_registry *r = NULL;
    struct sl_store *dst = NULL;
    struct sl_db *d;
    struct pack_list l = {NULL, 0};
    struct pack_row *v = NULL;
    size_t n = 0;
    enum sl_err rc;

    if (strcmp(from, to) == 0)
        return sl_error_set(err, SL_EUSAGE, "--from-store and --to-store are the same (%.200s)",
                            from);
    memset(&ro, 0, sizeof(ro));
    ro.db = db;
    ro.keys = keys;
    ro.store = from; /* opened and checked reachable; not recorded */
    rc = sl_registry_open(root, &ro, &r, NULL, err);
    if (rc)
        return rc;
    rc = sl_store_open(to, root, NULL, &dst, err);
    if (rc)
        goto out;
    /* the packs the database names: the store holds nothing else of ours */
    d = sl_reg_db(r, err);
    if (!d) {
        rc = err->code;
        goto out;
    }
    rc = sl_repo_packs_all(d, add_pack, &l, err);
    v = l.v;
    n = l.n;
    if (rc)
        goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char h[32];
        uint64_t size;
        bool copied;
        char hex[65];
        rc = sl_store_copy_pack(r->store, dst, v[i].id, v[i].name, h, &size, &copied, err);
        if (rc == SL_ENOTFOUND && v[i].retired) {
            /* retired by gc and already deleted: nothing needs it */
            sl_error_clear(err);
            rc = SL_OK;
            continue;
        }
        if (rc == SL_ENOTFOUND)
            rc = sl_error_set(err, SL_EIO,
                              "pack %s: the database names it but %s does not hold it (run "
                              "`sluice admin fsck --store %.200s`)",
                              v[i].name, from, from);
        if (!rc && note) {
            sl_hex(h, 32, hex);
            note(ctx, v[i].name, size, hex, copied);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    sl_store_free(dst);
    sl_registry_close(r);
    return rc;
}
