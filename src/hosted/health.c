/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend health (health.h): one table per process, fed by the calls the
 * gateway makes and by a probe thread that asks every backend for
 * GET /v1/models at once, every few seconds, with libcurl's multi
 * interface. The table is in memory; after each round it is written to the
 * data folder for `sluice hosted backend list`.
 */
#include "hosted/health.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/curl.h"
#include "common/util.h"
#include "common/banned.h"

#define PROBE_ANSWER_MAX (1u << 20) /* a /v1/models answer larger than this is no answer */

struct entry {
    int64_t id;
    uint64_t ident;        /* what the backend is (ident()): an id reused is another backend */
    bool probed;           /* a probe has judged it */
    bool probe_down;       /* SL_HOSTED_PROBE_FAILS probes in a row failed */
    unsigned fails;        /* probes failed in a row */
    long long call_until;  /* a failed call keeps it down until then (monotonic ms) */
    bool call_unreachable; /* that call found it unreachable: a good probe ends it */
    bool silent;           /* its last failure was a timeout */
    bool down;             /* the state `since` dates */
    int64_t since, last_probe, error_at; /* unix seconds, 0 never */
    char last_error[200];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *tab;
static size_t ntab, captab;

static struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct sl_registry *r;
    const struct sl_curl_api *cu;
    unsigned interval, timeout;
} pr;

static atomic_uint fails_needed = SL_HOSTED_PROBE_FAILS;

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

char *sl__hosted_endpoint(const struct sl_hosted_backend *b, const char *path)
{
    size_t n = strlen(b->url);

    while (n && b->url[n - 1] == '/')
        n--;
    if (n >= 3 && memcmp(b->url + n - 3, "/v1", 3) == 0)
        n -= 3;
    return sl_xasprintf("%.*s/v1%s", (int)n, b->url, path);
}

/* ---- the table (callers hold `lock`) ---- */

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        *h = (*h ^ s[i]) * 1099511628211ull;
}

static uint64_t ident(const struct sl_hosted_backend *b)
{
    uint64_t h = 14695981039346656037ull;

    fnv(&h, b->url, strlen(b->url) + 1);
    fnv(&h, b->backend_model, strlen(b->backend_model) + 1);
    fnv(&h, b->key_env, strlen(b->key_env) + 1);
    fnv(&h, &b->model_id, sizeof(b->model_id));
    fnv(&h, &b->version_id, sizeof(b->version_id));
    fnv(&h, &b->created, sizeof(b->created));
    return h;
}

/* The entry of backend `b`; a new one when `add` (an entry of another
 * backend that had its id is started afresh), else NULL when none. */
static struct entry *find(const struct sl_hosted_backend *b, bool add)
{
    uint64_t id = ident(b);
    struct entry *e = NULL;

    for (size_t i = 0; i < ntab && !e; i++)
        if (tab[i].id == b->id)
            e = &tab[i];
    if (e && e->ident == id)
        return e;
    if (!add)
        return NULL;
    if (!e) {
        if (ntab == captab) {
            captab = captab ? 2 * captab : 16;
            tab = sl_xrealloc(tab, captab * sizeof(*tab));
        }
        e = &tab[ntab++];
    }
    memset(e, 0, sizeof(*e));
    e->id = b->id;
    e->ident = id;
    e->since = (int64_t)time(NULL);
    return e;
}

/* Whether `e` is down now; dates a change of state. */
static bool settle(struct entry *e, long long now)
{
    bool down = e->probe_down || e->call_until > now;

    if (down != e->down) {
        e->down = down;
        e->since = (int64_t)time(NULL);
    }
    return down;
}

static void set_error(struct entry *e, const char *why)
{
    snprintf(e->last_error, sizeof(e->last_error), "%s", why ? why : "");
    for (char *p = e->last_error; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    e->error_at = (int64_t)time(NULL);
}

void sl_hosted_health_note(const struct sl_hosted_backend *b, enum sl_hosted_outcome o,
                           const char *why)
{
    long long now = now_ms();
    struct entry *e;

    pthread_mutex_lock(&lock);
    e = find(b, true);
    if (o == SL_HOSTED_OK) {
        e->call_until = 0;
        e->silent = false;
    } else {
        e->call_until = now + SL_HOSTED_DOWN_MS;
        e->call_unreachable = o == SL_HOSTED_UNREACHABLE || o == SL_HOSTED_SILENT;
        e->silent = o == SL_HOSTED_SILENT;
        set_error(e, why);
    }
    settle(e, now);
    pthread_mutex_unlock(&lock);
}

bool sl_hosted_backend_silent(const struct sl_hosted_backend *b)
{
    struct entry *e;
    bool silent = false;

    pthread_mutex_lock(&lock);
    e = find(b, false);
    if (e)
        silent = settle(e, now_ms()) && e->silent;
    pthread_mutex_unlock(&lock);
    return silent;
}

bool sl_hosted_backend_down(const struct sl_hosted_backend *b)
{
    struct entry *e;
    bool down = false;

    pthread_mutex_lock(&lock);
    e = find(b, false);
    if (e)
        down = settle(e, now_ms());
    pthread_mutex_unlock(&lock);
    return down;
}

/* A probe's verdict on backend `id`: `why` NULL when it answered;
 * `silent` when it did not answer in time. */
static void probe_note(const struct sl_hosted_backend *b, const char *why, bool silent)
{
    long long now = now_ms();
    struct entry *e = find(b, true);

    e->probed = true;
    e->last_probe = (int64_t)time(NULL);
    if (!why) {
        e->fails = 0;
        e->probe_down = false;
        e->silent = false;
        if (e->call_unreachable)
            e->call_until = 0; /* it answers again */
    } else {
        if (e->fails < 1000000)
            e->fails++;
        if (e->fails >= atomic_load(&fails_needed))
            e->probe_down = true;
        e->silent = silent;
        set_error(e, why);
    }
    settle(e, now);
}

/* Forgets backends no longer in the database. */
static void prune(const struct sl_hosted_backend *all, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < ntab; i++) {
        bool keep = false;
        for (size_t j = 0; j < n && !keep; j++)
            keep = all[j].id == tab[i].id && ident(&all[j]) == tab[i].ident;
        if (keep)
            tab[k++] = tab[i];
    }
    ntab = k;
}

static json_t *snapshot_json(void)
{
    json_t *m = json_object();
    long long now = now_ms();

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntab; i++) {
        struct entry *e = &tab[i];
        bool down = settle(e, now);
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)e->id);
        char hex[17];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)e->ident);
        json_object_set_new(m, key,
                            json_pack("{s:s, s:I, s:I, s:I, s:s?, s:I, s:s}", "state",
                                      down ? "down" : "up", "since", (json_int_t)e->since,
                                      "last_probe", (json_int_t)e->last_probe, "fails",
                                      (json_int_t)e->fails, "last_error",
                                      e->last_error[0] ? e->last_error : NULL, "error_at",
                                      (json_int_t)e->error_at, "ident", hex));
    }
    pthread_mutex_unlock(&lock);
    return m;
}

void sl_hosted_health_metrics(struct sl_buf *out)
{
    long long now = now_ms();

    sl_buf_adds(out, "# HELP sluice_hosted_backend_up Whether this server takes the hosted "
                     "backend as up (1) or down (0), by backend id (sluice hosted backend "
                     "list).\n# TYPE sluice_hosted_backend_up gauge\n");
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntab; i++)
        sl_buf_addf(out, "sluice_hosted_backend_up{backend=\"%lld\"} %d\n", (long long)tab[i].id,
                    settle(&tab[i], now) ? 0 : 1);
    pthread_mutex_unlock(&lock);
}

/* ---- the published state ---- */

static void publish(void)
{
    json_t *doc = json_pack("{s:I, s:I, s:I, s:o}", "written", (json_int_t)time(NULL), "probe_ms",
                            (json_int_t)pr.interval, "pid", (json_int_t)getpid(), "backends",
                            snapshot_json());
    char *path = sl_xasprintf("%s/%s", sl_reg_root(pr.r), SL_HOSTED_HEALTH_FILE);
    char *tmp = sl_xasprintf("%s.tmp.%ld", path, (long)getpid());
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    /* private, as everything in the data folder */
    int fd = s ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = false;
    static bool failing; /* the prober's thread only */

    /* a snapshot, not a record: no fsync; rename keeps readers from a half */
    if (fd >= 0 && !f)
        close(fd);
    if (f) {
        ok = fputs(s, f) >= 0;
        ok = fclose(f) == 0 && ok;
        ok = ok && rename(tmp, path) == 0;
        if (!ok)
            unlink(tmp);
    }
    if (!ok && !failing) /* once, not every round */
        fprintf(stderr, "{\"event\":\"hosted_health_unpublished\",\"path\":\"%s\"}\n",
                SL_HOSTED_HEALTH_FILE);
    failing = !ok;
    free(s);
    free(tmp);
    free(path);
    json_decref(doc);
}

json_t *sl_hosted_health_load(const char *root, bool *fresh)
{
    char *path = sl_xasprintf("%s/%s", root, SL_HOSTED_HEALTH_FILE);
    struct stat st;
    json_t *doc = NULL, *b, *out;
    json_int_t written, probe;

    *fresh = false;
    if (stat(path, &st) == 0 && st.st_size < (16 << 20))
        doc = json_load_file(path, 0, NULL);
    free(path);
    b = json_object_get(doc, "backends");
    written = json_integer_value(json_object_get(doc, "written"));
    probe = json_integer_value(json_object_get(doc, "probe_ms"));
    /* three rounds without a new file: no server is probing */
    if (json_is_object(b) && written > 0 &&
        (json_int_t)time(NULL) - written <= 3 * (probe + SL_HOSTED_PROBE_TIMEOUT_MS) / 1000 + 2) {
        *fresh = true;
        out = json_incref(b);
    } else {
        out = json_object();
    }
    json_decref(doc);
    return out;
}

json_t *sl_hosted_health_of(json_t *loaded, const struct sl_hosted_backend *b)
{
    char key[24], hex[17];
    json_t *s, *out;

    snprintf(key, sizeof(key), "%lld", (long long)b->id);
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)ident(b));
    s = json_object_get(loaded, key);
    if (!json_is_object(s) || !json_is_string(json_object_get(s, "ident")) ||
        strcmp(json_string_value(json_object_get(s, "ident")), hex) != 0)
        return NULL;
    out = json_deep_copy(s);
    json_object_del(out, "ident");
    return out;
}

/* ---- the probe thread ---- */

struct probe {
    CURL *h;
    struct curl_slist *hdr;
    char *url;
    size_t got;
    bool done;
    CURLcode result;
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct probe *p = ud;

    (void)ptr;
    p->got += size * nmemb;
    return p->got > PROBE_ANSWER_MAX ? 0 : size * nmemb;
}

/* What a finished probe says: NULL when the backend answered, else why not
 * (in `why`). */
static const char *verdict(const struct probe *p, const struct sl_hosted_backend *b, char *why,
                           size_t n)
{
    long code = 0;

    if (!p->done) {
        snprintf(why, n, "probe: no answer within %u ms", pr.timeout);
        return why;
    }
    if (p->result == CURLE_COULDNT_CONNECT) {
        snprintf(why, n, "probe: cannot connect (connection refused or no route)");
        return why;
    }
    if (p->result == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, n, "probe: no answer within %u ms", pr.timeout);
        return why;
    }
    if (p->result == CURLE_WRITE_ERROR) {
        snprintf(why, n, "probe: GET /v1/models answered more than %u bytes", PROBE_ANSWER_MAX);
        return why;
    }
    if (p->result != CURLE_OK) {
        snprintf(why, n, "probe: %s", pr.cu->easy_strerror(p->result));
        return why;
    }
    pr.cu->easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return NULL;
    if ((code == 401 || code == 403) && b->key_env[0])
        snprintf(why, n, "probe: GET /v1/models answered HTTP %ld (is the key in $%s right?)", code,
                 b->key_env);
    else
        snprintf(why, n, "probe: GET /v1/models answered HTTP %ld", code);
    return why;
}

static void probe_round(void)
{
    const struct sl_curl_api *cu = pr.cu;
    struct sl_hosted_backend *all = NULL;
    struct probe *p = NULL;
    struct sl_error err;
    struct sl_db *db;
    size_t n = 0;
    CURLM *mh;
    int running = 1;
    long long t0 = now_ms();
    static bool db_failing;

    sl_error_clear(&err);
    db = sl_reg_db(pr.r, &err);
    if (!db || sl_repo_backend_all(db, &all, &n, &err) != SL_OK) {
        if (!db_failing)
            fprintf(stderr, "{\"event\":\"hosted_probe_skipped\",\"message\":\"%s\"}\n",
                    sl_strerror(err.code));
        db_failing = true;
        return;
    }
    db_failing = false;
    mh = cu->multi_init();
    p = sl_xcalloc(n ? n : 1, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        const char *key = all[i].key_env[0] ? getenv(all[i].key_env) : NULL;
        p[i].h = cu->easy_init();
        p[i].url = sl__hosted_endpoint(&all[i], "/models");
        p[i].hdr = cu->slist_append(NULL, "Accept: application/json");
        if (key && *key) {
            char *line = sl_xasprintf("Authorization: Bearer %s", key);
            p[i].hdr = cu->slist_append(p[i].hdr, line);
            free(line);
        }
        cu->easy_setopt(p[i].h, CURLOPT_URL, p[i].url);
        cu->easy_setopt(p[i].h, CURLOPT_HTTPGET, 1L);
        cu->easy_setopt(p[i].h, CURLOPT_HTTPHEADER, p[i].hdr);
        cu->easy_setopt(p[i].h, CURLOPT_WRITEFUNCTION, discard);
        cu->easy_setopt(p[i].h, CURLOPT_WRITEDATA, &p[i]);
        cu->easy_setopt(p[i].h, CURLOPT_NOSIGNAL, 1L);
        cu->easy_setopt(p[i].h, CURLOPT_CONNECTTIMEOUT_MS, (long)pr.timeout);
        cu->easy_setopt(p[i].h, CURLOPT_TIMEOUT_MS, (long)pr.timeout);
        cu->easy_setopt(p[i].h, CURLOPT_PROTOCOLS_STR, "http,https");
        cu->easy_setopt(p[i].h, CURLOPT_FOLLOWLOCATION, 0L);
        cu->easy_setopt(p[i].h, CURLOPT_USERAGENT, "sluice-health");
        cu->multi_add_handle(mh, p[i].h);
    }
    while (n && running && !atomic_load(&pr.stop) && now_ms() - t0 < pr.timeout + 1000) {
        CURLMsg *msg;
        int left;
        cu->multi_perform(mh, &running);
        while ((msg = cu->multi_info_read(mh, &left)) != NULL)
            for (size_t i = 0; i < n; i++)
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == p[i].h) {
                    p[i].done = true;
                    p[i].result = msg->data.result;
                }
        if (running)
            cu->multi_poll(mh, NULL, 0, 100, NULL);
    }
    if (!atomic_load(&pr.stop)) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n; i++) {
            char why[200];
            bool silent = !p[i].done || p[i].result == CURLE_OPERATION_TIMEDOUT;
            probe_note(&all[i], verdict(&p[i], &all[i], why, sizeof(why)), silent);
        }
        prune(all, n);
        pthread_mutex_unlock(&lock);
    }
    for (size_t i = 0; i < n; i++) {
        cu->multi_remove_handle(mh, p[i].h);
        cu->easy_cleanup(p[i].h);
        cu->slist_free_all(p[i].hdr);
        free(p[i].url);
    }
    cu->multi_cleanup(mh);
    free(p);
    free(all);
}

static void *prober(void *arg)
{
    (void)arg;
    while (!atomic_load(&pr.stop)) {
        long long t0 = now_ms();
        probe_round();
        if (!atomic_load(&pr.stop))
            publish();
        while (!atomic_load(&pr.stop) && now_ms() - t0 < (long long)pr.interval) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* A number from the environment of `sluice serve`, else `def`: lo to hi.
 * A value that is not one is said on stderr (the server starts anyway, with
 * the default). */
static unsigned env_num(const char *name, unsigned def, unsigned lo, unsigned hi)
{
    const char *s = getenv(name);
    unsigned long v = 0;
    bool ok = s && *s && strlen(s) <= 7;

    if (!s)
        return def;
    for (const char *q = s; ok && *q; q++) {
        ok = *q >= '0' && *q <= '9';
        v = v * 10 + (unsigned long)(*q - '0');
    }
    ok = ok && v >= lo && v <= hi;
    if (!ok) {
        fprintf(stderr,
                "{\"event\":\"setting_ignored\",\"name\":\"%s\",\"message\":\"%s wants a "
                "whole number from %u to %u; using %u\"}\n",
                name, name, lo, hi, def);
        return def;
    }
    return (unsigned)v;
}

enum sl_err sl_hosted_prober_start(struct sl_registry *r, struct sl_error *err)
{
    if (pr.started)
        return SL_OK;
    if (sl_curl_load(&pr.cu, err) != SL_OK)
        return err->code;
    pr.r = r;
    pr.interval = env_num("SLUICE_HOSTED_PROBE_MS", SL_HOSTED_PROBE_MS, 50, 3600000);
    pr.timeout =
        pr.interval < SL_HOSTED_PROBE_TIMEOUT_MS ? pr.interval : SL_HOSTED_PROBE_TIMEOUT_MS;
    atomic_store(&fails_needed,
                 env_num("SLUICE_HOSTED_PROBE_FAILS", SL_HOSTED_PROBE_FAILS, 1, 100));
    atomic_store(&pr.stop, false);
    if (pthread_create(&pr.thread, NULL, prober, NULL) != 0)
        return sl_error_set(err, SL_EINTERNAL, "cannot start the backend probe thread");
    pr.started = true;
    return SL_OK;
}

void sl_hosted_prober_stop(void)
{
    if (!pr.started)
        return;
    atomic_store(&pr.stop, true);
    pthread_join(pr.thread, NULL);
    pr.started = false;
}
