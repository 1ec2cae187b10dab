/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections counted per client address (src/http/conns.c): the per-address
 * and global caps, IPv4 and IPv6 kept apart, counts given back on close, and
 * the header deadline shutting down a socket (seen from its peer).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static long long mono(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

Test(conns, per_address_cap_counts_and_gives_back)
{
    struct sl_conns *t = sl_conns_new(3, 1000);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct sl_conn *c[5], *other, *again;

    for (int i = 0; i < 5; i++)
        c[i] = sl_conns_open(t, (struct sockaddr *)&a, -1);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(sl_conn_over(c[i]), SL_CONN_SERVED, "connection %d", i);
    cr_expect_eq(sl_conn_over(c[3]), SL_CONN_OVER_PER_IP);
    cr_expect_eq(sl_conn_over(c[4]), SL_CONN_OVER_PER_IP);
    /* another address has its own count */
    other = sl_conns_open(t, (struct sockaddr *)&b, -1);
    cr_expect_eq(sl_conn_over(other), SL_CONN_SERVED);
    /* closing two gives room for one more (5 open -> 3 open) */
    sl_conns_close(t, c[0]);
    sl_conns_close(t, c[3]);
    sl_conns_close(t, c[4]);
    again = sl_conns_open(t, (struct sockaddr *)&a, -1);
    cr_expect_eq(sl_conn_over(again), SL_CONN_SERVED);
    sl_conns_close(t, again);
    sl_conns_close(t, c[1]);
    sl_conns_close(t, c[2]);
    sl_conns_close(t, other);
    sl_conns_free(t);
}

Test(conns, global_cap_and_unknown_addresses)
{
    struct sl_conns *t = sl_conns_new(100, 4);
    struct sl_conn *c[6];
    char ip[32];

    for (int i = 0; i < 6; i++) {
        struct sockaddr_in a;
        snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
        a = v4(ip);
        c[i] = sl_conns_open(t, i == 5 ? NULL : (struct sockaddr *)&a, -1);
    }
    for (int i = 0; i < 4; i++)
        cr_expect_eq(sl_conn_over(c[i]), SL_CONN_SERVED, "connection %d", i);
    cr_expect_eq(sl_conn_over(c[4]), SL_CONN_OVER_GLOBAL);
    cr_expect_eq(sl_conn_over(c[5]), SL_CONN_OVER_GLOBAL, "no address: still counted");
    for (int i = 0; i < 6; i++)
        sl_conns_close(t, c[i]);
    sl_conns_free(t);
    cr_expect_eq(sl_conn_over(NULL), SL_CONN_SERVED);
    sl_conns_close(NULL, NULL);
}

Test(conns, ipv4_and_ipv6_are_different_addresses)
{
    struct sl_conns *t = sl_conns_new(1, 100);
    struct sockaddr_in a = v4("127.0.0.1");
    struct sockaddr_in6 b;
    struct sl_conn *x, *y, *z;

    memset(&b, 0, sizeof(b));
    b.sin6_family = AF_INET6;
    cr_assert_eq(inet_pton(AF_INET6, "::1", &b.sin6_addr), 1);
    x = sl_conns_open(t, (struct sockaddr *)&a, -1);
    y = sl_conns_open(t, (struct sockaddr *)&b, -1);
    z = sl_conns_open(t, (struct sockaddr *)&b, -1);
    cr_expect_eq(sl_conn_over(x), SL_CONN_SERVED);
    cr_expect_eq(sl_conn_over(y), SL_CONN_SERVED);
    cr_expect_eq(sl_conn_over(z), SL_CONN_OVER_PER_IP);
    sl_conns_close(t, x);
    sl_conns_close(t, y);
    sl_conns_close(t, z);
    sl_conns_free(t);
}

Test(conns, header_deadline_shuts_the_socket_down)
{
    struct sl_conns *t = sl_conns_new(10, 10);
    struct sockaddr_in a = v4("10.2.0.1");
    int waiting[2], busy[2];
    struct sl_conn *w, *b;
    long long now = mono();
    char buf[4];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, waiting), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
    w = sl_conns_open(t, (struct sockaddr *)&a, waiting[0]);
    b = sl_conns_open(t, (struct sockaddr *)&a, busy[0]);
    sl_conns_wait_headers(t, b, false); /* its headers are in */
    /* not yet due */
    cr_expect_eq(sl_conns_reap(t, now + SL_HEADER_TIMEOUT_S * 1000LL - 500), 0);
    /* due: only the connection still waiting for headers is shut down, once */
    cr_expect_eq(sl_conns_reap(t, now + SL_HEADER_TIMEOUT_S * 1000LL + 500), 1);
    cr_expect_eq(sl_conns_reap(t, now + SL_HEADER_TIMEOUT_S * 1000LL + 900), 0);
    cr_expect_eq(read(waiting[1], buf, sizeof(buf)), 0, "the peer sees the end of the stream");
    cr_expect_eq(write(busy[1], "x", 1), 1);
    cr_expect_eq(read(busy[0], buf, 1), 1, "the busy connection is untouched");
    /* a kept-alive connection waits for the next request's headers again */
    sl_conns_wait_headers(t, b, true);
    cr_expect_eq(sl_conns_reap(t, mono() + SL_HEADER_TIMEOUT_S * 1000LL + 500), 1);
    cr_expect_eq(read(busy[1], buf, sizeof(buf)), 0);
    sl_conns_close(t, w);
    sl_conns_close(t, b);
    sl_conns_free(t);
    for (int i = 0; i < 2; i++) {
        close(waiting[i]);
        close(busy[i]);
    }
}
