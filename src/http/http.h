/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice serve`: the HTTP server (docs/api.md) over a registry.
 */
#ifndef SL_HTTP_HTTP_H
#define SL_HTTP_HTTP_H

#include <stdint.h>

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

struct sl_registry;

/* Slow and idle clients (docs/RELIABILITY.md): connections one address may
 * hold before its new ones are answered 503, how long a client has to send
 * a request's headers (also the idle time allowed between two requests of a
 * kept-alive connection), and how long a request body or an answer may stall. */
#define SL_MAX_CONNS_PER_IP    64
#define SL_HEADER_TIMEOUT_S    10
#define SL_BODY_IDLE_TIMEOUT_S 30

/* Self-service sign-up in the web UI (docs/web.md): nobody, holders of an
 * admin's invitation, or anyone. */
enum sl_signup { SL_SIGNUP_CLOSED, SL_SIGNUP_INVITE, SL_SIGNUP_OPEN };
#define SL_SESSION_HOURS SL_REG_SESSION_HOURS

struct sl_server_opts {
    const char *host; /* numeric IPv4 or IPv6 address */
    uint16_t port;
    unsigned threads;                   /* 0: one per CPU */
    int drain_seconds;                  /* how long SIGTERM waits for requests in flight */
    int ready_fd;                       /* if >= 0, "ready\n" is written here once listening */
    unsigned max_conns_per_ip;          /* 0: SL_MAX_CONNS_PER_IP */
    const struct sl_mirror_ops *mirror; /* NULL, or serve as a mirror of mirror->upstream */
    bool trust_proxy;                   /* believe X-Forwarded-Proto (--trust-proxy yes) */
    enum sl_signup signup;              /* --signup open|invite|closed (docs/web.md) */
    unsigned session_hours;             /* a browser session's life; 0: SL_SESSION_HOURS */
};

/* A pull-through mirror of an upstream sluice (docs/mirror.md). The caller
 * supplies the upstream calls (the client module has them), so http/ holds
 * no HTTP client. Both calls must be safe from several threads. */
struct sl_mirror_ops {
    const char *upstream; /* the upstream's base URL */
    const char *dir;      /* the mirror's own folder (DATA/mirror) */
    /* One request sent upstream as the caller made it; see
     * sl_client_mirror_request. */
    enum sl_err (*request)(const char *url, const char *token, const char *method, const char *path,
                           const char *ctype, const char *body, size_t blen, size_t max,
                           long *status, char **out, size_t *len, char *out_ctype, size_t ctype_cap,
                           struct sl_error *err);
    /* One file of an open or click version into DIR/files/ORG/NAME/COMMIT/;
     * see sl_client_mirror_fetch. */
    enum sl_err (*fetch)(const char *url, const char *token, const char *org, const char *name,
                         const char *commit, const char *path, const char *store, json_t **result,
                         struct sl_error *err);
};

/* Serves until SIGTERM or SIGINT, then stops accepting, lets requests in
 * flight finish (up to drain_seconds) and returns SL_OK. Logs one JSON line
 * per request on stderr. */
enum sl_err sl_serve(struct sl_registry *r, const struct sl_server_opts *o, struct sl_error *err);

/* Parses "HOST:PORT" ("[::1]:8080" for IPv6). */
enum sl_err sl_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port,
                            struct sl_error *err);

#endif
