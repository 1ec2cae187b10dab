/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tlog: the transparency log at a million entries (issue 5), in one
 * run: (a) appending entries into a real data folder in batched
 * transactions, as the registry does when events happen; (b) inclusion
 * proofs read from the database store at that size; (c) the client's
 * `--full` verification over entries it already holds, side by side with
 * this machine's SHA-256 rate over the same bytes, and then, labelled
 * separately, `sluice log verify --full` end to end through a real server.
 *
 * Usage: bench_tlog [SLUICE_BIN]
 * Environment: SLUICE_BIN, BENCH_TLOG_ENTRIES (default 1000000),
 * BENCH_TLOG_BATCH (1000), BENCH_TLOG_PROOFS (20000), BENCH_TLOG_MODELS
 * (distinct models the events name, 1000), BENCH_TLOG_CACHE_MIB (a larger
 * SQLite page cache for the appending connection; default as the registry
 * opens it), BENCH_TLOG_E2E=0 skips the end-to-end row, BENCH_KEEP=1 keeps
 * the data folder, BENCH_TLOG_DB a database URL (postgresql://...; default
 * the data folder's SQLite file) so both back ends are measured by this same
 * code (bench_scale.py runs it on each side by side).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/client.h"
#include "common/buf.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "registry/registry.h"
#include "registry/registry_int.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "tlog/tiles.h"
#include "common/banned.h"

#define TARGET_APPEND_RATE 20000.0 /* entries per second */
#define TARGET_PROOF_US    100.0   /* median, microseconds */
#define TARGET_SHA_SHARE   0.5     /* verify rate / SHA-256 rate */
#define RUNS_C             5       /* SHA-256 and verification runs, alternating */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and system CPU seconds of this process so far. */
static double cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *verdict(int ok)
{
    return ok ? "PASS" : "FAIL";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
    const char *s = getenv(name);
    char *end;
    unsigned long long v;

    if (!s || !*s)
        return def;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_tlog: %s must be a number from %llu to %llu, not \"%s\"\n", name,
                (unsigned long long)lo, (unsigned long long)hi, s);
        exit(2);
    }
    return v;
}

static int is_exec(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* argv[1], else $SLUICE_BIN, else ../sluice beside this program. */
static int find_sluice(const char *arg, char *out, size_t cap)
{
    const char *want = arg && *arg ? arg : getenv("SLUICE_BIN");
    char self[PATH_MAX], cand[PATH_MAX + 16], real[PATH_MAX];
    ssize_t n;

    if (!want || !*want) {
        want = "build/sluice";
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            char *slash;
            self[n] = '\0';
            slash = strrchr(self, '/');
            if (slash) {
                *slash = '\0';
                snprintf(cand, sizeof(cand), "%s/../sluice", self);
                if (is_exec(cand))
                    want = cand;
            }
        }
    }
    if (!realpath(want, real) || !is_exec(real)) {
        fprintf(stderr, "bench_tlog: no sluice binary at %s (build it, or give its path)\n", want);
        return -1;
    }
    snprintf(out, cap, "%s", real);
    return 0;
}

static void cpu_model(char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(out, cap, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            snprintf(out, cap, "%.*s", (int)strcspn(colon, "\n"), colon);
            break;
        }
    }
    fclose(f);
}

static int has_sha_ni(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strncmp(line, "flags", 5) == 0 && strstr(line, " sha_ni") != NULL;
    fclose(f);
    return found;
}

/* ---- entries ---- */

static const char *const types[] = {"access.requested", "access.approved",  "license.issued",
                                    "tier.changed",     "license.accepted", "obligation.satisfied"};

static void hex_of(uint64_t seed, unsigned n, char *out)
{
    unsigned char h[32];

    sl_sha256(&seed, sizeof(seed), h);
    sl_hex(h, n, out);
}

/* A governance event like the registry logs (sl__log_append adds "time"
 * and "log"): about 300 bytes as canonical JSON. */
static uint64_t nmodels = 1000; /* distinct models the events name */

static json_t *make_event(uint64_t i)
{
    char model[64], acct[32], by[32], commit[65], digest[80], lic[17];
    const char *type = types[i % (sizeof(types) / sizeof(types[0]))];
    json_t *e;

    snprintf(model, sizeof(model), "org-%03llu/model-%05llu",
             (unsigned long long)(i % nmodels % 997), (unsigned long long)(i % nmodels));
    memcpy(acct, "acct:", 5);
    hex_of(i * 3 + 1, 8, acct + 5);
    memcpy(by, "acct:", 5);
    hex_of(i % 1013, 8, by + 5);
    hex_of(i / 50, 32, commit);
    memcpy(digest, "sha256:", 7);
    hex_of(i * 7 + 5, 32, digest + 7);
    hex_of(i * 11 + 3, 8, lic);
    e = json_pack("{s:s, s:s, s:s}", "type", type, "model", model, "account", acct);
    json_object_set_new(e, "by", json_string(by));
    json_object_set_new(e, "commit", json_string(commit));
    if (i % 6 == 0 || i % 6 == 5)
        json_object_set_new(e, "text_sha256", json_string(digest));
    if (i % 6 == 1 || i % 6 == 2)
        json_object_set_new(e, "expires",
                            i % 2 ? json_integer(1830000000 + (json_int_t)i) : json_null());
    if (i % 6 == 2)
        json_object_set_new(e, "license", json_string(lic));
    if (i % 6 == 3) {
        json_object_set_new(e, "old", json_string("gated"));
        json_object_set_new(e, "new", json_string("open"));
        json_object_set_new(e, "why", json_string("schedule step 3 (staged release)"));
        json_object_set_new(e, "version", json_integer((json_int_t)(i % 40 + 1)));
    }
    if (i % 6 == 5)
        json_object_set_new(e, "obligation",
                            json_string("eu-ai-act.art53.technical-documentation"));
    json_object_set_new(e, "tier", json_string(i % 3 ? "gated" : "click"));
    return e;
}

/* ---- (c) helpers: the data a client holds after fetching every bundle ---- */

struct held {
    unsigned char *bundles; /* every entry bundle, back to back */
    size_t *boff;           /* offset of bundle b (nbundles + 1) */
    unsigned char *tiles;   /* the level-0 hash tiles, back to back (32 per entry) */
    unsigned *width;
    size_t nbundles;
    unsigned char *entries; /* the entries alone, concatenated (for the SHA-256 baseline) */
    size_t entry_bytes;
    struct sl_log_bundle *list; /* the bundles as the client feeds them */
};

static int fetch_all(struct sl_registry *r, uint64_t size, struct held *h)
{
    struct sl_buf all = SL_BUF_INIT((size_t)1 << 34), ents = SL_BUF_INIT((size_t)1 << 34);
    struct sl_error err;

    h->nbundles = (size_t)((size + SL_TILE_WIDTH - 1) / SL_TILE_WIDTH);
    h->boff = calloc(h->nbundles + 1, sizeof(size_t));
    h->width = calloc(h->nbundles, sizeof(unsigned));
    h->tiles = malloc((size_t)size * 32);
    if (!h->boff || !h->width || !h->tiles)
        return -1;
    for (size_t b = 0; b < h->nbundles; b++) {
        struct sl_tile t;
        char path[SL_TILE_PATH_MAX];
        struct sl_buf one = SL_BUF_INIT(1u << 24), tile = SL_BUF_INIT(SL_TILE_MAX_BYTES);
        struct sl_bundle_entry e[SL_TILE_WIDTH];
        unsigned count = 0;
        bool full;
        if (sl_tile_for(SL_TILE_ENTRIES, (uint64_t)b * SL_TILE_WIDTH, size, &t, &err))
            goto fail;
        h->width[b] = t.width;
        sl_tile_path(&t, path);
        if (sl_reg_log_tile(r, path, &one, &full, &err))
            goto fail;
        t.level = 0;
        sl_tile_path(&t, path);
        if (sl_reg_log_tile(r, path, &tile, &full, &err) || tile.len != (size_t)t.width * 32)
            goto fail;
        memcpy(h->tiles + b * SL_TILE_WIDTH * 32, tile.data, tile.len);
        h->boff[b] = all.len;
        if (sl_buf_add(&all, one.data, one.len) ||
            sl_bundle_parse((unsigned char *)one.data, one.len, e, &count, &err))
            goto fail;
        for (unsigned i = 0; i < count; i++)
            sl_buf_add(&ents, e[i].data, e[i].len);
        sl_buf_release(&one);
        sl_buf_release(&tile);
        continue;
    fail:
        fprintf(stderr, "bench_tlog: reading bundle %zu: %s\n", b, err.msg);
        sl_buf_release(&one);
        sl_buf_release(&tile);
        return -1;
    }
    h->boff[h->nbundles] = all.len;
    h->bundles = (unsigned char *)sl_buf_detach(&all, NULL);
    h->list = calloc(h->nbundles, sizeof(*h->list));
    if (!h->list)
        return -1;
    for (size_t b = 0; b < h->nbundles; b++) {
        h->list[b].first = (uint64_t)b * SL_TILE_WIDTH;
        h->list[b].width = h->width[b];
        h->list[b].bundle = h->bundles + h->boff[b];
        h->list[b].blen = h->boff[b + 1] - h->boff[b];
        h->list[b].tile = h->tiles + b * SL_TILE_WIDTH * 32;
        h->list[b].tlen = (size_t)h->width[b] * 32;
    }
    h->entry_bytes = ents.len;
    h->entries = (unsigned char *)sl_buf_detach(&ents, NULL);
    return 0;
}

/* The client's verification work over held data, as `sluice log verify
 * --full` does it after each batch of 64 fetched bundles, on `threads`
 * threads; returns seconds or -1. */
static double verify_held(const struct held *h, uint64_t size, const unsigned char root[32],
                          int threads, char *why, size_t cap)
{
    struct sl_log_rebuild *rb = sl_client_log_rebuild_new();
    struct sl_error err;
    double t0 = now(), t;

    for (size_t b = 0; b < h->nbundles; b += 64) {
        size_t n = h->nbundles - b < 64 ? h->nbundles - b : 64;
        if (sl_client_log_rebuild_feed_many(rb, h->list + b, n, threads, &err)) {
            snprintf(why, cap, "%s", err.msg);
            sl_client_log_rebuild_free(rb);
            return -1;
        }
    }
    if (sl_client_log_rebuild_finish(rb, size, root, &err)) {
        snprintf(why, cap, "%s", err.msg);
        sl_client_log_rebuild_free(rb);
        return -1;
    }
    t = now() - t0;
    sl_client_log_rebuild_free(rb);
    return t;
}

struct sha_part {
    const unsigned char *p;
    size_t n;
    unsigned char d[32];
};

static void *sha_part_main(void *arg)
{
    struct sha_part *s = arg;

    sl_sha256(s->p, s->n, s->d);
    return NULL;
}

/* SHA-256 over the entries cut in `threads` parts hashed at the same time:
 * the machine's SHA-256 rate with every CPU busy. Seconds. */
static double sha_parallel(const struct held *h, int threads)
{
    struct sha_part parts[8];
    pthread_t tids[8];
    size_t per = h->entry_bytes / (size_t)threads;
    double t0 = now();

    for (int i = 0; i < threads; i++) {
        parts[i].p = h->entries + (size_t)i * per;
        parts[i].n = i == threads - 1 ? h->entry_bytes - (size_t)i * per : per;
    }
    for (int i = 1; i < threads; i++)
        pthread_create(&tids[i], NULL, sha_part_main, &parts[i]);
    sha_part_main(&parts[0]);
    for (int i = 1; i < threads; i++)
        pthread_join(tids[i], NULL);
    return now() - t0;
}

/* ---- the end-to-end row ---- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (s < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

/* Runs argv with `env` added, output to `out` (may be NULL: /dev/null);
 * returns the exit code, or -1. */
static int run(char *const argv[], char *const env[], const char *out, double *secs)
{
    double t0 = now();
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    if (secs)
        *secs = now() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double end_to_end(const char *sluice, const char *data, const char *tmp, char *cmd,
                         size_t cap)
{
    char listen[64], url[64], envurl[96], envstate[PATH_MAX + 32], envhome[PATH_MAX + 16];
    char envcfg[PATH_MAX + 32], log[PATH_MAX + 16], out[PATH_MAX + 16];
    int port = free_port(), status, rc = -1;
    double secs = -1;
    pid_t srv;

    if (port < 0)
        return -1;
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    snprintf(envurl, sizeof(envurl), "SLUICE_URL=%s", url);
    snprintf(envstate, sizeof(envstate), "XDG_STATE_HOME=%s/state", tmp);
    snprintf(envcfg, sizeof(envcfg), "XDG_CONFIG_HOME=%s/config", tmp);
    snprintf(envhome, sizeof(envhome), "HOME=%s", tmp);
    snprintf(log, sizeof(log), "%s/serve.log", tmp);
    snprintf(out, sizeof(out), "%s/verify.out", tmp);
    srv = fork();
    if (srv < 0)
        return -1;
    if (srv == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(sluice, sluice, "serve", "--data", data, "--listen", listen, "--origin",
              "bench.localhost/log", (char *)NULL);
        _exit(127);
    }
    {
        char *const argv[] = {(char *)sluice, "log", "key", NULL};
        char *const env[] = {envurl, envstate, envcfg, envhome, NULL};
        for (int i = 0; i < 300 && rc != 0; i++) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            rc = run(argv, env, NULL, NULL);
            if (rc != 0)
                nanosleep(&ts, NULL);
        }
    }
    if (rc == 0) {
        char *const argv[] = {(char *)sluice, "log", "verify", "--full", NULL};
        char *const env[] = {envurl, envstate, envcfg, envhome, NULL};
        rc = run(argv, env, out, &secs);
        if (rc != 0) {
            fprintf(stderr, "bench_tlog: sluice log verify --full exited %d (see %s)\n", rc, out);
            secs = -1;
        }
    } else {
        fprintf(stderr, "bench_tlog: the server did not come up (see %s)\n", log);
    }
    snprintf(cmd, cap, "SLUICE_URL=%s sluice log verify --full", url);
    kill(srv, SIGTERM);
    waitpid(srv, &status, 0);
    return secs;
}

/* ---- main ---- */

static int rmtree(const char *dir)
{
    char *cmd = sl_xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);

    free(cmd);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = env_u64("BENCH_TLOG_ENTRIES", 1000000, 1000, 100000000);
    uint64_t batch = env_u64("BENCH_TLOG_BATCH", 1000, 1, 1000000);
    uint64_t nproofs = env_u64("BENCH_TLOG_PROOFS", 20000, 100, 10000000);
    uint64_t cache_mib = env_u64("BENCH_TLOG_CACHE_MIB", 0, 0, 65536);
    int e2e = (int)env_u64("BENCH_TLOG_E2E", 1, 0, 1), ok_all = 1;
    const char *tmpdir = getenv("TMPDIR");
    const char *dburl = getenv("BENCH_TLOG_DB");
    char sluice[PATH_MAX], tmp[PATH_MAX], data[PATH_MAX + 8], cpu[256], date[64], why[600];
    char e2e_cmd[256] = "";
    struct sl_registry *r = NULL;
    struct sl_registry_opts ro;
    struct sl_error err;
    struct sl_db *db;
    struct utsname un;
    struct held h;
    struct tm tm;
    time_t t;
    unsigned char root[32];
    char *note = NULL;
    uint64_t size = 0, base = 0, bytes = 0, blocks = 0;
    double t_append, last_rate = 0, *lat, med_us, p99_us, mean_us = 0;
    double mean_hashes = 0, cpu_append = 0;
    double sha[RUNS_C], shat[RUNS_C], ver[RUNS_C], ver1[RUNS_C], e2e_secs = -1;
    int threads = sl_client_log_threads(), tty = isatty(STDERR_FILENO);
    int rc = 1;

    if (argc > 2 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: bench_tlog [SLUICE_BIN]\n"
                        "environment: SLUICE_BIN, BENCH_TLOG_ENTRIES, BENCH_TLOG_BATCH, "
                        "BENCH_TLOG_PROOFS, BENCH_TLOG_MODELS, BENCH_TLOG_CACHE_MIB,\n"
                        "BENCH_TLOG_E2E=0, BENCH_KEEP=1, BENCH_TLOG_DB\n");
        return 2;
    }
    if (dburl && *dburl)
        e2e = 0; /* the end-to-end row starts a server on the data folder's SQLite file */
    if (e2e && find_sluice(argc > 1 ? argv[1] : NULL, sluice, sizeof(sluice)) != 0)
        return 2;
    memset(&h, 0, sizeof(h));
    sl_error_clear(&err);
    snprintf(tmp, sizeof(tmp), "%s/sluice-bench-tlog-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "bench_tlog: cannot create a folder: %s\n", strerror(errno));
        return 1;
    }
    snprintf(data, sizeof(data), "%s/data", tmp);
    t = time(NULL);
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(date, sizeof(date), "unknown");
    if (uname(&un) != 0)
        memset(&un, 0, sizeof(un));
    cpu_model(cpu, sizeof(cpu));

    printf("sluice transparency log at %llu entries (issue 5)\n", (unsigned long long)n);
    printf("date     %s\n", date);
    printf("machine  %s, %ld CPUs online%s, Linux %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           has_sha_ni() ? ", SHA-NI" : "", un.release);
    if (dburl && *dburl)
        printf("data     %s, database %s (PostgreSQL, as `sluice serve --db` opens it)\n", data,
               dburl);
    else
        printf("data     %s (a real data folder: SQLite in WAL mode, as `sluice serve` opens "
               "it)\n",
               data);
    printf("append   transactions of %llu entries, one thread\n", (unsigned long long)batch);
    {
        double load[3];
        if (getloadavg(load, 3) == 3)
            printf("load     %.2f %.2f %.2f before the run (other work on this machine skews "
                   "timings)\n",
                   load[0], load[1], load[2]);
    }
    printf("\n");
    fflush(stdout);

    memset(&ro, 0, sizeof(ro));
    ro.create = true;
    if (dburl && *dburl)
        ro.db = dburl;
    if (sl_registry_open(data, &ro, &r, NULL, &err) || !(db = sl_reg_db(r, &err))) {
        fprintf(stderr, "bench_tlog: %s\n", err.msg);
        goto out;
    }
    nmodels = env_u64("BENCH_TLOG_MODELS", 1000, 1, 1000000);
    if (cache_mib && !(dburl && *dburl)) {
        /* the bench's own connection only: what a larger page cache would do */
        char *sql = sl_xasprintf("PRAGMA cache_size = -%llu", (unsigned long long)cache_mib * 1024);
        sl_db_exec(db, sql, &err);
        free(sql);
    }
    {
        bool logged;
        sl_reg_log_policy(r, &logged, &err);
        sl_reg_log_size(r, &base, &err);
    }

    /* (a) appends in transactions of `batch` entries */
    {
        double t0 = now(), tl = 0, c0 = cpu_seconds();
        uint64_t from = 0;
        for (uint64_t i = 0; i < n; i += batch) {
            if (n > 200000 && tl == 0 && i >= n - 100000) {
                tl = now();
                from = i;
            }
            if (sl_db_begin(db, &err))
                goto fail;
            for (uint64_t k = i; k < i + batch && k < n; k++) {
                json_t *e = make_event(k);
                enum sl_err erc = sl__log_append(r, db, e, NULL, &err);
                json_decref(e);
                if (erc) {
                    sl_db_rollback(db);
                    goto fail;
                }
            }
            if (sl_db_commit(db, &err))
                goto fail;
            if ((i / batch) % 100 == 99) {
                if (tty) {
                    fprintf(stderr, "\r(a) appended %llu entries", (unsigned long long)(i + batch));
                    fflush(stderr);
                }
            }
        }
        t_append = now() - t0;
        cpu_append = cpu_seconds() - c0;
        if (tl > 0)
            last_rate = (double)(n - from) / (now() - tl);
        if (tty)
            fprintf(stderr, "\r%60s\r", "");
    }
    if (sl_reg_log_checkpoint(r, &note, &size, &err))
        goto fail;
    {
        struct sl_note_key k;
        struct sl_checkpoint c;
        memset(&k, 0, sizeof(k));
        snprintf(k.name, sizeof(k.name), "sluice");
        memcpy(k.pub, sl_reg_public_key(r), 32);
        k.id = sl_note_key_id(k.name, SL_NOTE_TYPE_ED25519, k.pub);
        if (sl_client_checkpoint_verify(note, strlen(note), &k, &c, &err))
            goto fail;
        memcpy(root, c.root, 32);
        sl_checkpoint_free(&c);
    }

    /* (b) inclusion proofs at the full size, random leaves */
    lat = calloc(nproofs, sizeof(double));
    if (!lat)
        goto out;
    {
        uint64_t x = 88172645463325252ull;
        unsigned char proof[SL_MERKLE_MAX_HASHES][32];
        size_t plen;
        for (uint64_t i = 0; i < nproofs; i++) {
            double t0;
            uint64_t idx;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            idx = x % size;
            t0 = now();
            if (sl_reg_log_inclusion(r, idx, size, proof, &plen, &err)) {
                free(lat);
                goto fail;
            }
            lat[i] = (now() - t0) * 1e6;
            mean_us += lat[i];
            mean_hashes += (double)plen;
            if (i % 97 == 0) {
                /* a sample is checked, outside the timing */
                struct sl_buf one = SL_BUF_INIT(1 << 20);
                struct sl_tile tt;
                char path[SL_TILE_PATH_MAX];
                struct sl_bundle_entry e[SL_TILE_WIDTH];
                unsigned cnt;
                bool full;
                unsigned char leaf[32];
                sl_tile_for(SL_TILE_ENTRIES, idx, size, &tt, &err);
                sl_tile_path(&tt, path);
                if (sl_reg_log_tile(r, path, &one, &full, &err) ||
                    sl_bundle_parse((unsigned char *)one.data, one.len, e, &cnt, &err)) {
                    free(lat);
                    goto fail;
                }
                sl_merkle_leaf(e[idx % SL_TILE_WIDTH].data, e[idx % SL_TILE_WIDTH].len, leaf);
                sl_buf_release(&one);
                if (sl_merkle_verify_inclusion(idx, size, leaf, (const unsigned char(*)[32])proof,
                                               plen, root, &err)) {
                    free(lat);
                    goto fail;
                }
            }
        }
        mean_us /= (double)nproofs;
        mean_hashes /= (double)nproofs;
        qsort(lat, nproofs, sizeof(double), cmp_double);
        med_us = lat[nproofs / 2];
        p99_us = lat[nproofs * 99 / 100];
        free(lat);
    }

    /* (c) the client's verification over data it holds */
    if (tty)
        fprintf(stderr, "(c) reading every entry bundle and hash tile from the store ...");
    if (fetch_all(r, size, &h))
        goto out;
    if (tty)
        fprintf(stderr, "\r%70s\r", "");
    bytes = h.entry_bytes;
    /* Alternating runs, so a burst of load elsewhere hits every side; the
     * best run of each is compared, the medians are shown too. */
    for (int i = 0; i < RUNS_C; i++) {
        unsigned char d[32];
        double t0 = now();
        sl_sha256(h.entries, h.entry_bytes, d);
        sha[i] = now() - t0;
        shat[i] = sha_parallel(&h, threads);
        ver1[i] = verify_held(&h, size, root, 1, why, sizeof(why));
        ver[i] = ver1[i] < 0 ? -1 : verify_held(&h, size, root, threads, why, sizeof(why));
        if (ver[i] < 0) {
            fprintf(stderr, "bench_tlog: verification failed: %s\n", why);
            goto out;
        }
    }
    for (size_t b = 0; b < h.nbundles; b++) {
        struct sl_bundle_entry e[SL_TILE_WIDTH];
        unsigned cnt = 0;
        sl_bundle_parse(h.bundles + h.boff[b], h.boff[b + 1] - h.boff[b], e, &cnt, &err);
        for (unsigned i = 0; i < cnt; i++)
            blocks += (1 + e[i].len + 9 + 63) / 64 + 2; /* leaf, and one node */
    }
    qsort(sha, RUNS_C, sizeof(double), cmp_double);
    qsort(shat, RUNS_C, sizeof(double), cmp_double);
    qsort(ver, RUNS_C, sizeof(double), cmp_double);
    qsort(ver1, RUNS_C, sizeof(double), cmp_double);
    sl_registry_close(r);
    r = NULL;

    if (e2e)
        e2e_secs = end_to_end(sluice, data, tmp, e2e_cmd, sizeof(e2e_cmd));

    /* the table */
    {
        double rate = (double)n / t_append;
        double sha_rate = (double)bytes / sha[0], ver_rate = (double)bytes / ver[0];
        double share = ver_rate / sha_rate;
        double share_med = (double)sha[RUNS_C / 2] / ver[RUNS_C / 2];
        int ok_a = rate >= TARGET_APPEND_RATE, ok_b = med_us < TARGET_PROOF_US;
        int ok_c = share >= TARGET_SHA_SHARE;
        char c1[32], c2[32];
        ok_all = ok_a && ok_b && ok_c;
        printf("%-4s %-56s %16s %16s %s\n", "row", "what", "measured", "target", "");
        printf("%-4s %-56s %12.0f e/s %10s e/s %s\n", "(a)",
               "append, transactions of BATCH entries, whole run", rate, ">= 20,000",
               verdict(ok_a));
        if (last_rate > 0)
            printf("%-4s %-56s %12.0f e/s\n", "", "  the last 100,000 entries alone", last_rate);
        printf("%-4s %-56s %12.0f e/s\n", "", "  entries per CPU second (user + system)",
               cpu_append > 0 ? (double)n / cpu_append : 0);
        printf("%-4s %-56s %13.1f us %11s us %s\n", "(b)",
               "inclusion proof from the database, median", med_us, "< 100", verdict(ok_b));
        printf("%-4s %-56s %13.1f us\n", "", "  99th percentile", p99_us);
        printf("%-4s %-56s %13.1f us\n", "", "  mean", mean_us);
        printf("%-4s %-56s %10.0f MB/s\n", "(c)", "SHA-256 of the entries, 1 thread (best run)",
               sha_rate / 1e6);
        printf("%-4s %-56s %10.0f MB/s\n", "", "  the same, cut in parts on every CPU at once",
               (double)bytes / shat[0] / 1e6);
        printf("%-4s %-56s %10.0f MB/s %15.0f%%\n", "", "verification on 1 thread (best run)",
               (double)bytes / ver1[0] / 1e6, sha[0] / ver1[0] * 100);
        printf("%-4s %-56s %10.0f MB/s %15.0f%% %s\n", "", "verification as the client runs it",
               ver_rate / 1e6, share * 100, verdict(ok_c));
        printf("%-4s %-56s %15.0f%%\n", "", "  the same from the median runs", share_med * 100);
        printf("%-4s %-56s %15.0f%%\n", "",
               "  per CPU: verification / SHA-256 on every CPU at once", shat[0] / ver[0] * 100);
        printf("%-4s %-56s %14.2f s\n", "", "  verification time, best run", ver[0]);
        if (e2e && e2e_secs > 0)
            printf("%-4s %-56s %14.2f s %14s\n", "(e2e)",
                   "`sluice log verify --full` through a real server", e2e_secs, "(not judged)");
        else if (e2e)
            printf("%-4s %-56s %16s\n", "(e2e)", "`sluice log verify --full` through a real server",
                   "failed");
        printf("\nWhat each row is:\n");
        printf(
            "  (a) %s entries appended with sl__log_append (the registry's own append: canonical "
            "JSON, leaf and\n      subtree hashes, INSERTs into log_entries and log_hashes) "
            "in transactions of %llu, committed\n      with sl_db_commit; %.2f s in all; "
            "entries average %.0f bytes and name %llu models (the\n      log_entries_model "
            "index takes an insert per entry); SQLite page cache %s.\n",
            sl_fmt_count(n, c1, sizeof(c1)), (unsigned long long)batch, t_append,
            (double)bytes / (double)size, (unsigned long long)nmodels,
            cache_mib ? "enlarged by BENCH_TLOG_CACHE_MIB" : "as the registry opens it");
        printf("  (b) %s calls of sl_reg_log_inclusion(index, %s) at random indexes: a read "
               "transaction, the tree\n      size, and one SELECT per stored hash of the proof "
               "(%.1f hashes on average); timed each, sorted. One in 97\n      proofs checked "
               "against the "
               "signed root, untimed.\n",
               sl_fmt_count(nproofs, c1, sizeof(c1)), sl_fmt_count(size, c2, sizeof(c2)),
               mean_hashes);
        printf(
            "  (c) every entry bundle and level-0 hash tile read once from the store into "
            "memory (%.0f MB of\n      entries), then %d rounds of: sl_sha256 over the entries "
            "concatenated (1 thread; then cut in %d\n      parts hashed at once), and the "
            "client's rebuild (sl_client_log_rebuild_feed_many/_finish: parse\n      each bundle, "
            "leaf hash of each entry, compare with the tile, fold into the tree, compare the\n"
            "      root with the signed checkpoint) on 1 thread and on %d, in batches of 64 "
            "bundles as\n      `sluice log verify --full` does. Percentages are of the 1-thread "
            "SHA-256 rate. The rebuild\n      hashes more than the entries: a 0x00 before each "
            "and one 65-byte node per entry, %.2f\n      compression blocks per entry against "
            "%.2f for the entry bytes alone, so one thread cannot\n      pass %.0f%%.\n",
            (double)bytes / 1e6, RUNS_C, threads, threads, (double)blocks / (double)size,
            (double)bytes / 64.0 / (double)size, 100.0 * ((double)bytes / 64.0) / (double)blocks);
        if (e2e)
            printf("  (e2e) %s, wall time of the child process, with the server (a second\n"
                   "      process on the same CPUs) reading the bundles and tiles from SQLite "
                   "over HTTP on 127.0.0.1.\n",
                   e2e_cmd);
        printf("\nVerdict: %s\n", ok_all ? "all targets met" : "a target is MISSED (see FAIL)");
    }
    rc = 0; /* a measurement: the verdict is printed, not returned */
    goto out;
fail:
    fprintf(stderr, "bench_tlog: %s\n", err.msg);
out:
    free(note);
    free(h.bundles);
    free(h.boff);
    free(h.tiles);
    free(h.width);
    free(h.entries);
    free(h.list);
    if (r)
        sl_registry_close(r);
    if (!getenv("BENCH_KEEP") || strcmp(getenv("BENCH_KEEP"), "1") != 0)
        rmtree(tmp);
    else
        printf("kept %s\n", tmp);
    return rc;
}
