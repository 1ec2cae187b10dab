/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice serve`: the HTTP server (docs/api.md) over a registry.
 */
#ifndef SL_HTTP_HTTP_H
#define SL_HTTP_HTTP_H

#include <stdint.h>

#include "common/err.h"

struct sl_registry;

/* Slow and idle clients (docs/RELIABILITY.md): connections one address may
 * hold before its new ones are answered 503, how long a client has to send
 * a request's headers (also the idle time allowed between two requests of a
 * kept-alive connection), and how long a request body or an answer may stall. */
#define SL_MAX_CONNS_PER_IP    64
#define SL_HEADER_TIMEOUT_S    10
#define SL_BODY_IDLE_TIMEOUT_S 30

struct sl_server_opts {
    const char *host; /* numeric IPv4 or IPv6 address */
    uint16_t port;
    unsigned threads;          /* 0: one per CPU */
    int drain_seconds;         /* how long SIGTERM waits for requests in flight */
    int ready_fd;              /* if >= 0, "ready\n" is written here once listening */
    unsigned max_conns_per_ip; /* 0: SL_MAX_CONNS_PER_IP */
};

/* Serves until SIGTERM or SIGINT, then stops accepting, lets requests in
 * flight finish (up to drain_seconds) and returns SL_OK. Logs one JSON line
 * per request on stderr. */
enum sl_err sl_serve(struct sl_registry *r, const struct sl_server_opts *o, struct sl_error *err);

/* Parses "HOST:PORT" ("[::1]:8080" for IPv6). */
enum sl_err sl_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port,
                            struct sl_error *err);

#endif
