/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations for what the Hugging Face clients ask besides
 * files (download counts, the model listing) and for the hub-wide state
 * the registry reads when it opens (the log's origin, its size). The SQL
 * lives here; src/registry/hub.c and registry.c call these (the storage
 * seam, docs/repository.md). Errors as in repo_accounts.h.
 */
#ifndef SL_DB_REPO_HUB_H
#define SL_DB_REPO_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/repo_accounts.h"

struct sl_db;

/* ---- download counts ---- */

/* Adds `n` downloads of `version_id` on UTC day `day` (days since the
 * epoch) to the stored counts. */
enum sl_err sl_repo_downloads_add(struct sl_db *db, int64_t version_id, int64_t day, int64_t n,
                                  struct sl_error *err);

/* The downloads of model `model_id` (or only of version `version_id` when
 * not 0): `*recent` on days after `since_day`, `*all` in total. */
enum sl_err sl_repo_downloads_sum(struct sl_db *db, int64_t model_id, int64_t version_id,
                                  int64_t since_day, int64_t *recent, int64_t *all,
                                  struct sl_error *err);

/* ---- the model listing (GET /api/models) ---- */

/* True when `key` is a sort key of the listing. */
bool sl_repo_model_sort_ok(const char *key);

/* A validated listing query. Strings may be NULL. */
struct sl_repo_model_query {
    const char *search; /* substring of "org/name", case-insensitive, taken literally */
    const char *author; /* the org, case-insensitive */
    const char *sort;   /* a key sl_repo_model_sort_ok() accepts, or NULL: by id */
    bool ascending;     /* with `sort` (without, the order is ascending) */
    int64_t limit;      /* rows at most */
    int64_t offset;     /* rows skipped */
    int64_t since_day;  /* `dl_recent` counts downloads on days after this one */
};

/* One model of the listing, with its `main` version. */
struct sl_repo_model_item {
    char id[SL_REPO_NAME_MAX * 2 + 2]; /* "org/name" */
    char org[SL_REPO_NAME_MAX + 1];
    char tier[16];
    char commit[65];
    int64_t version_created, model_created, bytes_total;
    int64_t dl_recent, dl_all;
    int64_t seq;
};

/* Calls `fn` for each model of the page `q` asks for, in its order; a
 * non-zero return from `fn` stops the walk (SL_OK). */
enum sl_err sl_repo_model_list(struct sl_db *db, const struct sl_repo_model_query *q,
                               int (*fn)(void *ctx, const struct sl_repo_model_item *item),
                               void *ctx, struct sl_error *err);

/* ---- hub-wide state ---- */

/* The log origin chosen when the log was new (a copy in `arena`); `*origin`
 * NULL when none is stored. */
enum sl_err sl_repo_log_origin_get(struct sl_db *db, struct sl_arena *arena, char **origin,
                                   struct sl_error *err);

/* Stores the log origin unless one is stored already (that one stays). */
enum sl_err sl_repo_log_origin_put(struct sl_db *db, const char *origin, struct sl_error *err);

/* The number of log entries. */
enum sl_err sl_repo_log_entry_count(struct sl_db *db, int64_t *n, struct sl_error *err);

/* One round trip on the listening connection `db` (leader.c), to prove it
 * still lives; its text, `SELECT 1 AS sluice_listener`, names it in
 * pg_stat_activity. */
enum sl_err sl_repo_listener_ping(struct sl_db *db, struct sl_error *err);

#endif
