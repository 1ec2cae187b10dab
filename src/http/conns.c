/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open connections counted per client address (http_int.h). libmicrohttpd
 * tells us when a connection opens and closes; a connection that opens while
 * its address already holds `per_ip` connections, or while the server holds
 * `global` in all, is marked over the cap and its requests are answered 503
 * with Retry-After (server.c). libmicrohttpd's own limits sit a margin above
 * ours and close connections at accept without a word (docs/RELIABILITY.md).
 *
 * The table also holds each connection's header deadline: libmicrohttpd's
 * timeout only measures silence, so a client sending one byte every few
 * seconds would hold a connection forever; sl_conns_reap() shuts down the
 * socket of a connection whose request headers did not arrive in time.
 * libmicrohttpd reports a connection closed before it closes the socket, so
 * a socket found in the table (under the lock) is still that connection's.
 */
#include "http/http_int.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define NBUCKETS 1024

struct ipcount {
    struct ipcount *next;
    unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    unsigned n;
};

struct sl_conn {
    struct sl_conn *prev, *next; /* every open connection */
    struct ipcount *ip;          /* NULL: the address was not IPv4 or IPv6 */
    int fd;
    enum sl_conn_cap over;
    bool reaped;
    long long deadline_ms; /* the request headers are due by then; 0: none */
};

struct sl_conns {
    pthread_mutex_t lock;
    unsigned per_ip, global, total;
    uint64_t seed;
    struct ipcount *buckets[NBUCKETS];
    struct sl_conn *head;
};

static long long mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct sl_conns *sl_conns_new(unsigned per_ip, unsigned global)
{
    struct sl_conns *t = sl_xcalloc(1, sizeof(*t));
    unsigned char r[8];

    pthread_mutex_init(&t->lock, NULL);
    t->per_ip = per_ip;
    t->global = global;
    /* A random seed so that no one can pick addresses that share a bucket. */
    sl_random(r, sizeof(r));
    memcpy(&t->seed, r, sizeof(t->seed));
    return t;
}

void sl_conns_free(struct sl_conns *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct ipcount *p = t->buckets[i], *next;
        for (; p; p = next) {
            next = p->next;
            free(p);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static bool addr_key(const struct sockaddr *sa, unsigned char key[16])
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        memcpy(key, &a->sin6_addr, 16);
        return true;
    }
    return false;
}

static size_t bucket_of(const struct sl_conns *t, const unsigned char key[16])
{
    uint64_t h = t->seed;

    for (int i = 0; i < 16; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    return (size_t)(h & (NBUCKETS - 1));
}

struct sl_conn *sl_conns_open(struct sl_conns *t, const struct sockaddr *sa, int fd)
{
    struct sl_conn *c = sl_xcalloc(1, sizeof(*c));
    unsigned char key[16];

    c->fd = fd;
    c->deadline_ms = mono_ms() + SL_HEADER_TIMEOUT_S * 1000LL;
    pthread_mutex_lock(&t->lock);
    c->next = t->head;
    if (t->head)
        t->head->prev = c;
    t->head = c;
    if (t->total >= t->global)
        c->over = SL_CONN_OVER_GLOBAL;
    t->total++;
    if (addr_key(sa, key)) {
        size_t b = bucket_of(t, key);
        struct ipcount *p = t->buckets[b];
        while (p && memcmp(p->addr, key, 16) != 0)
            p = p->next;
        if (!p) {
            p = sl_xcalloc(1, sizeof(*p));
            memcpy(p->addr, key, 16);
            p->next = t->buckets[b];
            t->buckets[b] = p;
        }
        if (p->n >= t->per_ip && !c->over)
            c->over = SL_CONN_OVER_PER_IP;
        p->n++;
        c->ip = p;
    }
    pthread_mutex_unlock(&t->lock);
    return c;
}

enum sl_conn_cap sl_conn_over(const struct sl_conn *c)
{
    return c ? c->over : SL_CONN_SERVED;
}

void sl_conns_close(struct sl_conns *t, struct sl_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&t->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->total--;
    if (c->ip && --c->ip->n == 0) {
        size_t b = bucket_of(t, c->ip->addr);
        struct ipcount **pp = &t->buckets[b];
        while (*pp != c->ip)
            pp = &(*pp)->next;
        *pp = c->ip->next;
        free(c->ip);
    }
    pthread_mutex_unlock(&t->lock);
    free(c);
}

void sl_conns_wait_headers(struct sl_conns *t, struct sl_conn *c, bool waiting)
{
    if (!c)
        return;
    pthread_mutex_lock(&t->lock);
    c->deadline_ms = waiting ? mono_ms() + SL_HEADER_TIMEOUT_S * 1000LL : 0;
    pthread_mutex_unlock(&t->lock);
}

unsigned sl_conns_reap(struct sl_conns *t, long long now)
{
    unsigned n = 0;

    pthread_mutex_lock(&t->lock);
    for (struct sl_conn *c = t->head; c; c = c->next) {
        if (c->reaped || !c->deadline_ms || now < c->deadline_ms || c->fd < 0)
            continue;
        /* shutdown, not close: libmicrohttpd sees the end of the stream,
         * closes the connection itself and reports it closed. */
        shutdown(c->fd, SHUT_RDWR);
        c->reaped = true;
        n++;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}
