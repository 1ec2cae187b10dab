/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Hugging Face clients ask the Hub besides files: download counts
 * (kept per version and UTC day, reported for the last 30 days and all
 * time, as the Hub does), the model listing of GET /api/models and the
 * account behind GET /api/whoami-v2 (rendered in http/render_access.c).
 * The HTTP layer validates the query and renders pagination; this file
 * answers from the database.
 */
#include "registry/registry_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/repo_hub.h"
#include "common/banned.h"

#define DAY 86400

bool sl_reg_is_query_file(const char *path)
{
    size_t n = strlen(path);

    /* the Hub counts its "query files": config.json at the top, and every
     * GGUF file (a GGUF repository has no config.json) */
    return strcmp(path, "config.json") == 0 || (n > 5 && strcmp(path + n - 5, ".gguf") == 0);
}

/* Adds `n` downloads of `version_id` on `day` to the tally in memory. */
static void tally(struct sl_registry *r, int64_t version_id, int64_t day, int64_t n)
{
    size_t i;

    pthread_mutex_lock(&r->dl_lock);
    for (i = 0; i < r->ndl; i++)
        if (r->dl[i].version_id == version_id && r->dl[i].day == day)
            break;
    if (i == r->ndl) {
        if (r->ndl == r->dl_cap) {
            r->dl_cap = r->dl_cap ? 2 * r->dl_cap : 16;
            r->dl = sl_xrealloc(r->dl, r->dl_cap * sizeof(*r->dl));
        }
        r->dl[i].version_id = version_id;
        r->dl[i].day = day;
        r->dl[i].n = 0;
        r->ndl++;
    }
    r->dl[i].n += n;
    pthread_mutex_unlock(&r->dl_lock);
}

enum sl_err sl_reg_count_download(struct sl_registry *r, int64_t version_id, struct sl_error *err)
{
    (void)err;
    /* kept in memory and written by sl_reg_flush_downloads (the server's
     * ticker, every second, and every reader of the counts) */
    tally(r, version_id, sl__now() / DAY, 1);
    return SL_OK;
}

enum sl_err sl_reg_flush_downloads(struct sl_registry *r, struct sl_error *err)
{
    struct sl_db *db;
    struct sl__dl_pending *v;
    size_t n;
    enum sl_err rc;

    pthread_mutex_lock(&r->dl_flush);
    pthread_mutex_lock(&r->dl_lock);
    v = r->dl;
    n = r->ndl;
    r->dl = NULL;
    r->ndl = r->dl_cap = 0;
    pthread_mutex_unlock(&r->dl_lock);
    if (n == 0) {
        pthread_mutex_unlock(&r->dl_flush);
        return SL_OK;
    }
    db = sl_reg_db(r, err);
    rc = db ? sl_db_begin(db, err) : err->code;
    for (size_t i = 0; i < n && !rc; i++)
        rc = sl_repo_downloads_add(db, v[i].version_id, v[i].day, v[i].n, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        /* not lost: back into the tally for the next flush */
        if (db)
            sl_db_rollback(db);
        for (size_t i = 0; i < n; i++)
            tally(r, v[i].version_id, v[i].day, v[i].n);
    }
    pthread_mutex_unlock(&r->dl_flush);
    free(v);
    return rc;
}

enum sl_err sl_reg_downloads(struct sl_registry *r, int64_t model_id, int64_t version_id,
                             int64_t *recent, int64_t *all, struct sl_error *err)
{
    enum sl_err rc;
    struct sl_db *db = sl_reg_db(r, err);

    *recent = *all = 0;
    if (!db)
        return err->code;
    rc = sl_reg_flush_downloads(r, err);
    if (rc)
        return rc;
    return sl_repo_downloads_sum(db, model_id, version_id, sl__now() / DAY - 30, recent, all, err);
}

bool sl_reg_hf_sort_ok(const char *key)
{
    return sl_repo_model_sort_ok(key);
}

struct hf_page {
    struct sl_arena *arena;
    struct sl_repo_model_item *items;
    size_t n, cap;
    int64_t limit;
    bool *more;
};

static int hf_item(void *ctx, const struct sl_repo_model_item *it)
{
    struct hf_page *pg = ctx;

    if ((int64_t)pg->n == pg->limit) {
        *pg->more = true;
        return 1;
    }
    if (pg->n == pg->cap) {
        struct sl_repo_model_item *bigger;
        pg->cap = pg->cap ? 2 * pg->cap : 16;
        bigger = sl_arena_alloc(pg->arena, pg->cap * sizeof(*bigger));
        if (pg->n)
            memcpy(bigger, pg->items, pg->n * sizeof(*bigger));
        pg->items = bigger;
    }
    pg->items[pg->n++] = *it;
    return 0;
}

enum sl_err sl_reg_hf_list(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_hf_list_query *lq, struct sl_arena *arena,
                           struct sl_repo_model_item **items, size_t *n, bool *more,
                           struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_repo_model_query q;
    struct hf_page pg;
    enum sl_err rc;

    (void)p; /* every model's metadata is public; the tiers guard the files */
    *items = NULL;
    *n = 0;
    *more = false;
    if (!db)
        return err->code;
    rc = sl_reg_flush_downloads(r, err);
    if (rc)
        return rc;
    q.search = lq->search;
    q.author = lq->author;
    q.sort = lq->sort;
    q.ascending = lq->ascending;
    q.limit = lq->limit + 1; /* one more tells whether another page follows */
    q.offset = lq->offset;
    q.since_day = sl__now() / DAY - 30;
    memset(&pg, 0, sizeof(pg));
    pg.arena = arena;
    pg.limit = lq->limit;
    pg.more = more;
    rc = sl_repo_model_list(db, &q, hf_item, &pg, err);
    if (rc) {
        *more = false;
        return rc;
    }
    *items = pg.items;
    *n = pg.n;
    return SL_OK;
}

enum sl_err sl_reg_whoami(struct sl_registry *r, const struct sl_principal *p,
                          struct sl_arena *arena, struct sl_reg_whoami *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    bool found;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    rc = sl_repo_user_orgs(db, p->user_id, arena, &out->orgs, &out->norgs, err);
    if (!rc)
        rc = sl_repo_user_email(db, p->user_id, arena, &out->email, &found, err);
    if (!rc && !found)
        rc = sl_error_set(err, SL_EAUTH, "the account of this token is gone");
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
