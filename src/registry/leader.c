/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Many servers, one hub: which server leads (runs the ticker's work), how
 * servers tell each other that cached tiers and refs went stale, and the hub
 * stamp a cached lookup is checked against. The leader lock and LISTEN use a
 * database connection each, apart from the per-thread ones, since a
 * session-level lock and a LISTEN live as long as their connection.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <time.h>

#include "common/banned.h"

/* The channel every server listens on for cache invalidation. */
#define CACHE_CHANNEL "sluice_cache"

enum sl_err sl_reg_leader(struct sl_registry *r, bool *leader, struct sl_error *err)
{
    enum sl_err rc;

    *leader = false;
    if (!r->shared) {
        *leader = true;
        return SL_OK;
    }
    if (!r->lead_db) {
        rc = sl_db_open(r->db_path, &r->lead_db, err);
        if (rc)
            return rc;
    }
    return sl_db_try_leader(r->lead_db, leader, err);
}

enum sl_err sl_reg_announce(struct sl_registry *r, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return sl_db_notify(db, CACHE_CHANNEL, err);
}

enum sl_err sl_reg_watch(struct sl_registry *r, int timeout_ms, bool *changed, struct sl_error *err)
{
    enum sl_err rc;

    *changed = false;
    if (!r->shared) {
        /* one process: it voids its own cache */
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return SL_OK;
    }
    if (!r->watch_db) {
        rc = sl_db_open(r->db_path, &r->watch_db, err);
        if (!rc)
            rc = sl_db_listen(r->watch_db, CACHE_CHANNEL, err);
        if (rc) {
            sl_db_close(r->watch_db);
            r->watch_db = NULL;
            return rc;
        }
        /* whatever was announced before we listened is unknown to us */
        *changed = true;
        return SL_OK;
    }
    rc = sl_db_wait(r->watch_db, timeout_ms, changed, err);
    if (rc) {
        /* LISTEN does not survive a reconnect: start over next time */
        sl_db_close(r->watch_db);
        r->watch_db = NULL;
    }
    return rc;
}

enum sl_err sl_reg_hub_stamp(struct sl_registry *r, uint64_t *stamp, struct sl_error *err)
{
    *stamp = 0;
    if (!r->shared)
        return SL_OK;
    return sl_reg_log_size(r, stamp, err);
}
