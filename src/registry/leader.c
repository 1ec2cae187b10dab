/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Many servers, one hub: which server leads (runs the ticker's work), how
 * servers tell each other that cached tiers and refs went stale, and the hub
 * stamp a cached lookup is checked against: while the listening connection
 * is heard from, a constant (NOTIFY voids the cache), else the log's size.
 * The leader lock and LISTEN use a database connection each, apart from the
 * per-thread ones, since a session-level lock and a LISTEN live as long as
 * their connection.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <time.h>

#include "db/repo_hub.h"
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

/* How long one proof that the listening connection lives (a round trip on
 * it, with every notification it brought drained) lets cached lookups skip
 * the hub stamp. A lookup cache entry lives no longer than this anyway
 * (src/http/cache.c), so a listener that dies silently leaves no entry
 * served past it. */
#define HEARD_MS 1000

/* The stamp of lookups made while the listener vouches for the cache. The
 * log never grows to this size, so an entry made under it never matches a
 * lookup that read the log's size, and back. */
#define STAMP_HEARD (UINT64_MAX - 1)

static long long mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum sl_err sl_reg_watch(struct sl_registry *r, int timeout_ms, bool *changed, struct sl_error *err)
{
    enum sl_err rc;
    long long heard;
    bool more = false;

    *changed = false;
    if (!r->shared) {
        /* one process: it voids its own cache */
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return SL_OK;
    }
    if (!r->watch_db) {
        atomic_store(&r->hub_heard_until_ms, 0);
        rc = sl_db_open(r->db_path, &r->watch_db, err);
        if (!rc)
            rc = sl_db_listen(r->watch_db, CACHE_CHANNEL, err);
        if (rc) {
            sl_db_close(r->watch_db);
            r->watch_db = NULL;
            return rc;
        }
        /* whatever was announced before we listened is unknown to us; the
         * caller voids its cache, and the next round vouches */
        *changed = true;
        return SL_OK;
    }
    rc = sl_db_wait(r->watch_db, timeout_ms, changed, err);
    if (!rc && !*changed) {
        /* Nothing arrived: prove the connection still lives with a round
         * trip, then take what it brought. Only a round that found no change
         * vouches, so the caller has voided its cache for every change it
         * was told of before lookups trust the cache again. */
        heard = mono_ms();
        rc = sl_repo_listener_ping(r->watch_db, err);
        if (!rc)
            rc = sl_db_wait(r->watch_db, 0, &more, err);
        if (!rc && !more)
            atomic_store(&r->hub_heard_until_ms, heard + HEARD_MS);
        *changed = more;
    }
    if (rc) {
        /* LISTEN does not survive a reconnect: start over next time, and
         * until then every lookup checks the hub stamp */
        atomic_store(&r->hub_heard_until_ms, 0);
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
    if (mono_ms() < atomic_load(&r->hub_heard_until_ms)) {
        *stamp = STAMP_HEARD;
        return SL_OK;
    }
    return sl_reg_log_size(r, stamp, err);
}
