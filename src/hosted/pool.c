/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pool of backend connections (pool.h): a small array of idle pairs
 * under one mutex, searched from the newest (the warmest connection) and
 * reaped of pairs idle too long whenever one is taken or given back.
 */
#include "hosted/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "common/banned.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_hosted_conn *idle[SL_HOSTED_POOL_MAX];
static size_t nidle;

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void conn_free(struct sl_hosted_conn *k, const struct sl_curl_api *cu)
{
    cu->easy_cleanup(k->h);
    cu->multi_cleanup(k->mh);
    free(k);
}

/* Moves the pairs idle past SL_HOSTED_POOL_IDLE_MS to `out` (the caller
 * frees them outside the lock); returns how many. Called with `lock`. */
static size_t reap(long long now, struct sl_hosted_conn **out)
{
    size_t k = 0, n = 0;

    for (size_t i = 0; i < nidle; i++) {
        if (now - idle[i]->idle_since > SL_HOSTED_POOL_IDLE_MS)
            out[n++] = idle[i];
        else
            idle[k++] = idle[i];
    }
    nidle = k;
    return n;
}

struct sl_hosted_conn *sl_hosted_conn_take(const struct sl_curl_api *cu, int64_t backend_id)
{
    struct sl_hosted_conn *k = NULL, *old[SL_HOSTED_POOL_MAX];
    size_t nold;

    pthread_mutex_lock(&lock);
    nold = reap(now_ms(), old);
    for (size_t i = nidle; i-- > 0;)
        if (idle[i]->backend_id == backend_id) {
            k = idle[i];
            memmove(&idle[i], &idle[i + 1], (nidle - i - 1) * sizeof(idle[0]));
            nidle--;
            break;
        }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < nold; i++)
        conn_free(old[i], cu);
    if (k)
        return k;
    k = sl_xcalloc(1, sizeof(*k));
    k->mh = cu->multi_init();
    k->h = cu->easy_init();
    k->backend_id = backend_id;
    if (!k->mh || !k->h)
        abort(); /* out of memory: small internal allocations may abort */
    return k;
}

void sl_hosted_conn_give(const struct sl_curl_api *cu, struct sl_hosted_conn *k)
{
    struct sl_hosted_conn *old[SL_HOSTED_POOL_MAX];
    size_t nold, same = 0;
    bool kept = false;
    long long now = now_ms();

    if (!k)
        return;
    cu->easy_reset(k->h); /* its options pointed at the call's memory */
    pthread_mutex_lock(&lock);
    nold = reap(now, old);
    for (size_t i = 0; i < nidle; i++)
        same += idle[i]->backend_id == k->backend_id;
    if (nidle < SL_HOSTED_POOL_MAX && same < SL_HOSTED_POOL_PER_BACKEND) {
        k->idle_since = now;
        idle[nidle++] = k;
        kept = true;
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < nold; i++)
        conn_free(old[i], cu);
    if (!kept)
        conn_free(k, cu);
}

void sl_hosted_conn_drain(void)
{
    struct sl_hosted_conn *all[SL_HOSTED_POOL_MAX];
    const struct sl_curl_api *cu;
    struct sl_error err;
    size_t n;

    sl_error_clear(&err);
    if (sl_curl_load(&cu, &err) != SL_OK)
        return; /* never loaded: nothing was pooled */
    pthread_mutex_lock(&lock);
    n = nidle;
    memcpy(all, idle, n * sizeof(idle[0]));
    nidle = 0;
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++)
        conn_free(all[i], cu);
}

size_t sl_hosted_conn_idle(int64_t backend_id)
{
    size_t n = 0;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nidle; i++)
        n += backend_id == 0 || idle[i]->backend_id == backend_id;
    pthread_mutex_unlock(&lock);
    return n;
}
