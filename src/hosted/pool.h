/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections to the hosted gateway's backends, kept between calls
 * (docs/PERFORMANCE.md, "Hosted gateway"): a libcurl multi handle (whose
 * connection cache holds the backend's keep-alive connection) with its easy
 * handle, parked per backend when a call ends and taken by the next call to
 * the same backend, so that call skips the TCP handshake, the backend's
 * accept and libcurl's set-up.
 */
#ifndef SL_HOSTED_POOL_H
#define SL_HOSTED_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/curl.h"

#define SL_HOSTED_POOL_MAX         64    /* idle handles kept, every backend */
#define SL_HOSTED_POOL_PER_BACKEND 16    /* idle handles kept for one backend */
#define SL_HOSTED_POOL_IDLE_MS     30000 /* an idle handle is freed after this */
#define SL_HOSTED_CONN_MAXAGE_S                                                                    \
    4 /* an idle connection older is not reused: under                                             \
         the 5 s keep-alive of llama-server and uvicorn */

struct sl_hosted_conn {
    CURLM *mh;
    CURL *h; /* added to nothing, its options reset */
    int64_t backend_id;
    long long idle_since;
};

/* An idle pair for backend `backend_id`, or a new one; never NULL. The
 * caller sets the easy handle's options (reset), adds it to the multi handle, and
 * gives the pair back with sl_hosted_conn_give(). */
struct sl_hosted_conn *sl_hosted_conn_take(const struct sl_curl_api *cu, int64_t backend_id);

/* Parks the pair (its easy handle removed from the multi handle) for the
 * next call to the same backend, or frees it when the pool is full. A
 * transfer removed before its end has its connection closed by libcurl, so
 * only a cleanly ended one is reused. */
void sl_hosted_conn_give(const struct sl_curl_api *cu, struct sl_hosted_conn *k);

/* How many pairs are idle for backend `backend_id`, or for every backend
 * when it is 0. */
size_t sl_hosted_conn_idle(int64_t backend_id);

/* Frees every idle pair, closing their connections (the server is
 * stopping). */
void sl_hosted_conn_drain(void);

#endif
