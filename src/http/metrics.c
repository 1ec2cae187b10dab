/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics in the Prometheus text format (version 0.0.4): requests by
 * route pattern and status, bytes sent, a latency histogram, requests in
 * flight, database errors, 5xx answers by error kind, the log's size,
 * access grants by state and whether each hosted backend is up. Counters
 * are per process (each instance of a hub is scraped on its own); labels
 * come from bounded sets only (the route table, HTTP status codes, the
 * error enum, the operator's backend ids), never from paths or names.
 */
#include "http/http_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "db/db.h"
#include "hosted/health.h"
#include "common/banned.h"

#define MAX_ROUTES 128 /* the route table's size is checked against it */

/* Statuses counted separately; any other falls in the last slot. */
static const unsigned statuses[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405,
                                    409, 413, 416, 422, 429, 499, 500, 502, 503, 507};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NBUCKET (sizeof(buckets) / sizeof(buckets[0]))

static atomic_ullong requests[MAX_ROUTES + 1][NSTATUS]; /* last row: no route */
static atomic_ullong bytes_sent;
static atomic_ullong hist[NBUCKET + 1]; /* cumulative at render time */
static atomic_ullong hist_count;
static atomic_ullong hist_sum_us;
static atomic_ullong errors_5xx[32];

static size_t route_index(const struct sl_route *r)
{
    size_t i;

    if (!r)
        return MAX_ROUTES;
    i = (size_t)(r - sl_routes);
    return i < MAX_ROUTES ? i : MAX_ROUTES;
}

static size_t status_index(unsigned status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void sl_metrics_observe(const struct sl_req *q, double seconds)
{
    size_t b = 0;

    atomic_fetch_add(&requests[route_index(q->route)][status_index(q->status)], 1);
    atomic_fetch_add(&bytes_sent, q->bytes);
    while (b < NBUCKET && seconds > buckets[b])
        b++;
    atomic_fetch_add(&hist[b], 1);
    atomic_fetch_add(&hist_count, 1);
    atomic_fetch_add(&hist_sum_us, (unsigned long long)(seconds * 1e6));
}

void sl_metrics_error(enum sl_err code)
{
    if ((unsigned)code < sizeof(errors_5xx) / sizeof(errors_5xx[0]))
        atomic_fetch_add(&errors_5xx[code], 1);
}

/* A label value: the route patterns hold no quote, backslash or newline,
 * but escape anyway as the format asks. */
static void label(struct sl_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            sl_buf_addc(b, '\\');
        if (*s == '\n') {
            sl_buf_adds(b, "\\n");
            continue;
        }
        sl_buf_addc(b, *s);
    }
}

static void head(struct sl_buf *b, const char *name, const char *type, const char *help)
{
    sl_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sl_h_metrics(struct sl_req *q)
{
    struct sl_buf b = SL_BUF_INIT((size_t)4 << 20);
    struct sl_error err;
    unsigned long long cum = 0;
    uint64_t log_size = 0;
    struct sl_grant_counts grants;

    head(&b, "sluice_build_info", "gauge", "The version of this server.");
    sl_buf_adds(&b, "sluice_build_info{version=\"0.1.0\"} 1\n");
    head(&b, "sluice_http_requests_total", "counter",
         "Requests answered, by route pattern and status.");
    for (size_t r = 0; r <= MAX_ROUTES; r++) {
        const char *pat, *meth;
        if (r < MAX_ROUTES && !sl_routes[r].methods)
            r = MAX_ROUTES; /* past the table's end: the unmatched row */
        pat = r < MAX_ROUTES ? sl_routes[r].pattern : "none";
        meth = r < MAX_ROUTES ? sl_routes[r].methods : "";
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long long n = atomic_load(&requests[r][s]);
            if (!n)
                continue;
            sl_buf_adds(&b, "sluice_http_requests_total{route=\"");
            label(&b, pat);
            sl_buf_adds(&b, "\",methods=\"");
            label(&b, meth);
            if (s < NSTATUS - 1)
                sl_buf_addf(&b, "\",status=\"%u\"} %llu\n", statuses[s], n);
            else
                sl_buf_addf(&b, "\",status=\"other\"} %llu\n", n);
        }
    }
    head(&b, "sluice_http_response_bytes_total", "counter", "Body bytes sent.");
    sl_buf_addf(&b, "sluice_http_response_bytes_total %llu\n", atomic_load(&bytes_sent));
    head(&b, "sluice_http_request_duration_seconds", "histogram",
         "Time from the request's headers to the end of its answer.");
    for (size_t i = 0; i < NBUCKET; i++) {
        cum += atomic_load(&hist[i]);
        sl_buf_addf(&b, "sluice_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
                    cum);
    }
    cum += atomic_load(&hist[NBUCKET]);
    sl_buf_addf(&b, "sluice_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    sl_buf_addf(&b, "sluice_http_request_duration_seconds_sum %.6f\n",
                (double)atomic_load(&hist_sum_us) / 1e6);
    sl_buf_addf(&b, "sluice_http_request_duration_seconds_count %llu\n", atomic_load(&hist_count));
    head(&b, "sluice_http_requests_in_flight", "gauge", "Requests being answered now.");
    sl_buf_addf(&b, "sluice_http_requests_in_flight %d\n", atomic_load(&q->srv->in_flight));
    head(&b, "sluice_http_server_errors_total", "counter",
         "5xx answers by the kind of error behind them (store and database failures among them).");
    for (size_t i = 0; i < sizeof(errors_5xx) / sizeof(errors_5xx[0]); i++) {
        unsigned long long n = atomic_load(&errors_5xx[i]);
        if (n)
            sl_buf_addf(&b, "sluice_http_server_errors_total{kind=\"%s\"} %llu\n",
                        sl_err_name((enum sl_err)i), n);
    }
    head(&b, "sluice_db_errors_total", "counter", "Database operations that failed.");
    sl_buf_addf(&b, "sluice_db_errors_total %llu\n", sl_db_error_count());
    sl_error_clear(&err);
    if (sl_reg_log_size(q->srv->r, &log_size, &err) == SL_OK) {
        head(&b, "sluice_log_entries", "gauge", "Entries in the transparency log.");
        sl_buf_addf(&b, "sluice_log_entries %llu\n", (unsigned long long)log_size);
    }
    if (sl_reg_grant_counts(q->srv->r, &grants, &err) == SL_OK) {
        const struct {
            const char *state;
            int64_t n;
        } by[] = {{"pending", grants.pending},
                  {"approved", grants.approved},
                  {"denied", grants.denied},
                  {"revoked", grants.revoked},
                  {"expired", grants.expired}};
        head(&b, "sluice_access_requests", "gauge", "Access requests by state, every model.");
        for (size_t i = 0; i < sizeof(by) / sizeof(by[0]); i++)
            sl_buf_addf(&b, "sluice_access_requests{state=\"%s\"} %lld\n", by[i].state,
                        (long long)by[i].n);
    }
    sl_hosted_health_metrics(&b);
    {
        size_t len = b.len;
        char *text = sl_buf_detach(&b, NULL);
        struct MHD_Response *resp =
            sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        sl_mhd->add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
        sl_mhd->add_response_header(resp, "Cache-Control", "no-store");
        sl_reply(q, 200, resp, len);
    }
}
