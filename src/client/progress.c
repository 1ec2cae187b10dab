/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A one-line progress bar on stderr (bytes done and total, rate, time left),
 * drawn only when stderr is a terminal and at most ten times a second, so
 * logs and pipes never see it.
 */
#include "client/client_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

const char *sl__cl_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
    return buf;
}

void sl__cl_progress_init(struct sl_cl_progress *p, bool want, const char *label, uint64_t total)
{
    memset(p, 0, sizeof(*p));
    p->on = want && isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->start = sl__cl_now();
}

static void fmt_secs(double secs, char *buf, size_t len)
{
    long t = (long)(secs + 0.5);

    if (t < 60)
        snprintf(buf, len, "%lds", t);
    else if (t < 3600)
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void draw(struct sl_cl_progress *p, double now)
{
    char line[200], d[32], t[32], r[32] = "", eta[48] = "", left_s[32], ru[48] = "";
    double secs = now - p->start;
    int pct = p->total ? (int)((double)p->done * 100.0 / (double)p->total) : 100;
    int n;

    /* The rate means something after half a second. */
    if (secs >= 0.5) {
        double rate = (double)(p->done - p->base) / secs;
        sl__cl_fmt_bytes((uint64_t)rate, d, sizeof(d));
        snprintf(r, sizeof(r), "  %s/s", d);
        if (rate > 0 && p->total > p->done) {
            double left = (double)(p->total - p->done) / rate;
            if (left < 360000) {
                fmt_secs(left, left_s, sizeof(left_s));
                snprintf(eta, sizeof(eta), "  ETA %s", left_s);
            }
        }
    }
    if (p->reused) {
        char b[32];
        snprintf(ru, sizeof(ru), "  (%s reused)", sl__cl_fmt_bytes(p->reused, b, sizeof(b)));
    }
    n = snprintf(line, sizeof(line), "%s %s / %s  %3d%%%s%s%s", p->label,
                 sl__cl_fmt_bytes(p->done, d, sizeof(d)), sl__cl_fmt_bytes(p->total, t, sizeof(t)),
                 pct > 100 ? 100 : pct, r, eta, ru);
    if (n < 0)
        return;
    if (n >= (int)sizeof(line))
        n = (int)sizeof(line) - 1;
    fprintf(stderr, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
    fflush(stderr);
    p->width = n;
}

void sl__cl_progress_set(struct sl_cl_progress *p, uint64_t done)
{
    double now;

    p->done = done;
    if (!p->on)
        return;
    now = sl__cl_now();
    if (now - p->last < 0.1)
        return;
    p->last = now;
    draw(p, now);
}

void sl__cl_progress_end(struct sl_cl_progress *p)
{
    if (!p->on || p->width == 0)
        return;
    fprintf(stderr, "\r%*s\r", p->width, "");
    fflush(stderr);
    p->width = 0;
}
