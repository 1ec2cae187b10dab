/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_fp: the two costs of fingerprinting (issue 6), on a synthetic bf16
 * model shaped like TinyLlama-1.1B (22 layers, hidden 2048, MLP 5632, 32
 * heads, 4 KV heads, vocabulary 32000: 1.1x10^9 parameters, 2.2 GB) held in
 * memory as one file.
 *
 * (a) marking while streaming: the file copied through a 1 MiB buffer, as
 *     the server copies a download out of its pack files, once plain and once
 *     with sl_fp_mark_span + sl_fp_mark on every buffer; throughput of each
 *     and their ratio (target: marked >= 0.7x plain).
 * (b) tracing: a copy marked for one recipient read back against the
 *     original (plan, conversion to float, observation) and scored against
 *     10,000 issued recipients, plus the payload decode (target: < 60 s).
 *
 * Usage: bench_fp [RECIPIENTS [RUNS]]   (defaults 10000 and 5)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fp/fp.h"

#include "common/banned.h"

#define LAYERS       22
#define HIDDEN       2048
#define FFN          5632
#define HEADS        32
#define KV_HEADS     4
#define VOCAB        32000
#define BUF          ((size_t)1 << 20)
#define MAX_TENSORS  (2 + 7 * LAYERS)
#define GUILTY       1234
#define TARGET_RATIO 0.7
#define TARGET_TRACE 60.0

static const unsigned char master[SL_FP_KEY_LEN] = "bench_fp master secret, 32 bytes";

struct tensor {
    char name[96];
    uint64_t rows, cols, offset;
};

static struct tensor T[MAX_TENSORS];
static size_t NT;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (!p) {
        fprintf(stderr, "bench_fp: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t add(const char *name, uint64_t rows, uint64_t cols, uint64_t at)
{
    struct tensor *t = &T[NT++];

    snprintf(t->name, sizeof(t->name), "%s", name);
    t->rows = rows;
    t->cols = cols;
    t->offset = at;
    return at + rows * cols * 2;
}

/* The tensors in safetensors order after a 24 KiB header; returns the size. */
static uint64_t layout(void)
{
    uint64_t at = 24 * 1024;
    char n[96];

    at = add("model.embed_tokens.weight", VOCAB, HIDDEN, at);
    for (int l = 0; l < LAYERS; l++) {
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.q_proj.weight", l);
        at = add(n, HIDDEN, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.k_proj.weight", l);
        at = add(n, HIDDEN / HEADS * KV_HEADS, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.v_proj.weight", l);
        at = add(n, HIDDEN / HEADS * KV_HEADS, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.o_proj.weight", l);
        at = add(n, HIDDEN, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.gate_proj.weight", l);
        at = add(n, FFN, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.up_proj.weight", l);
        at = add(n, FFN, HIDDEN, at);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.down_proj.weight", l);
        at = add(n, HIDDEN, FFN, at);
    }
    return add("lm_head.weight", VOCAB, HIDDEN, at);
}

/* bf16 weights of N(0, 0.02): a table of 65536 normal values (Box-Muller)
 * indexed by a xorshift generator, fast enough for 10^9 values. */
static void fill(unsigned char *file, uint64_t size)
{
    uint16_t *table = xmalloc(65536 * sizeof(*table));
    uint64_t s = 0x9E3779B97F4A7C15ULL;

    for (int i = 0; i < 65536; i++) {
        double u1 = (i + 0.5) / 65536.0, u2 = fmod(i * 0.6180339887498949, 1.0);
        float f = (float)(0.02 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        sl_fp_from_float(SL_FP_BF16, &f, &table[i], 1);
    }
    memset(file, 0, T[0].offset);
    for (uint64_t i = T[0].offset; i + 8 <= size; i += 8) {
        uint16_t v[4];
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        for (int k = 0; k < 4; k++)
            v[k] = table[(s >> (16 * k)) & 0xffff];
        memcpy(file + i, v, 8);
    }
    free(table);
}

static void cpu_model(char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];

    snprintf(out, cap, "unknown CPU");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c += 1 + (c[1] == ' ');
                c[strcspn(c, "\n")] = '\0';
                snprintf(out, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One pass over the file through a 1 MiB buffer; marks when `r` is given. */
static double pass(const unsigned char *file, uint64_t size, unsigned char *buf,
                   const struct sl_fp_plan *p, const struct sl_fp_recipient *r, size_t *cuts,
                   unsigned *sink)
{
    double t0 = now();

    for (uint64_t at = 0; at < size; at += BUF) {
        uint64_t len = size - at < BUF ? size - at : BUF, s = at, e = at + len;
        if (r)
            sl_fp_mark_span(p, at, len, &s, &e);
        memcpy(buf, file + s, e - s);
        if (r)
            *cuts += sl_fp_mark(p, r, s, buf, e - s);
        *sink += buf[len / 2];
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    size_t nrec = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10000;
    int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    uint64_t size, elems = 0;
    unsigned char *file, *copy, *buf, lk[SL_FP_KEY_LEN];
    struct sl_fp_tensor ft[MAX_TENSORS];
    struct sl_fp_plan *plan = NULL, *tplan = NULL;
    struct sl_fp_recipient guilty, *rs;
    struct sl_fp_score *sc;
    struct sl_fp_obs *obs;
    struct sl_error err;
    double t_plan, t_copy[16], t_mark[16], gb, med_copy, med_mark, ratio;
    double t0, t_tplan, t_obs = 0, t_conv = 0, t_keys, t_score, t_decode, t_total;
    double zg = 0, zmax = -1e9, zthr;
    float *fv;
    size_t cuts = 0, biggest = 0;
    unsigned sink = 0;
    uint32_t id = 0;
    bool ok = false, pass_a, pass_b;
    char cpu[128], date[64];
    struct utsname un;
    struct tm tm;
    time_t tnow = time(NULL);
    uint64_t read = 0, total = 0;

    if (nrec < 1 || nrec > 10000000 || runs < 1 || runs > 16) {
        fprintf(stderr, "usage: bench_fp [RECIPIENTS (1..10^7) [RUNS (1..16)]]\n");
        return 2;
    }
    if (tnow == (time_t)-1 || !gmtime_r(&tnow, &tm) ||
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(date, sizeof(date), "unknown");
    if (uname(&un) != 0)
        memset(&un, 0, sizeof(un));
    cpu_model(cpu, sizeof(cpu));
    printf("bench_fp: fingerprint marking and tracing (issue 6)\n");
    printf("date     %s\n", date);
    printf("machine  %s, %ld CPUs online, Linux %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           un.release);

    size = layout();
    for (size_t i = 0; i < NT; i++) {
        ft[i] = (struct sl_fp_tensor){T[i].name, SL_FP_BF16, T[i].rows, T[i].cols, T[i].offset};
        elems += T[i].rows * T[i].cols;
        if (T[i].rows * T[i].cols > biggest)
            biggest = T[i].rows * T[i].cols;
    }
    printf("model    TinyLlama-1.1B shapes, %zu bf16 tensors, %.3g parameters, %.2f GB, "
           "density %.3g\n",
           NT, (double)elems, (double)size / 1e9, sl_fp_density(elems));
    file = xmalloc(size);
    copy = xmalloc(size);
    buf = xmalloc(BUF + 8);
    fill(file, size);
    sl_fp_lineage_key(master, "model:bench", lk);
    sl_fp_recipient_init(master, GUILTY, &guilty);

    /* (a) marking */
    t0 = now();
    if (sl_fp_plan_new(lk, sl_fp_density(elems), ft, NT, &plan, &err) != SL_OK) {
        fprintf(stderr, "bench_fp: %s\n", err.msg);
        return 1;
    }
    t_plan = now() - t0;
    printf("\n(a) marking in %zu KiB buffers: plan of %llu positions built in %.3f s\n", BUF >> 10,
           (unsigned long long)sl_fp_plan_positions(plan), t_plan);
    pass(file, size, buf, NULL, NULL, &cuts, &sink); /* warm up the pages */
    for (int i = 0; i < runs; i++) {
        t_copy[i] = pass(file, size, buf, NULL, NULL, &cuts, &sink);
        t_mark[i] = pass(file, size, buf, plan, &guilty, &cuts, &sink);
    }
    qsort(t_copy, (size_t)runs, sizeof(double), cmp_double);
    qsort(t_mark, (size_t)runs, sizeof(double), cmp_double);
    gb = (double)size / 1e9;
    med_copy = t_copy[runs / 2];
    med_mark = t_mark[runs / 2];
    ratio = med_copy / med_mark;
    pass_a = ratio >= TARGET_RATIO && cuts == 0;
    printf("    %-28s %8.2f GB/s (median of %d; best %.2f)\n", "plain copy", gb / med_copy, runs,
           gb / t_copy[0]);
    printf("    %-28s %8.2f GB/s (median of %d; best %.2f)\n", "copy + mark_span + mark",
           gb / med_mark, runs, gb / t_mark[0]);
    printf(
        "    marking costs %.1f us per MiB; at the 2.3 GB/s of an open download (PERFORMANCE.md) "
        "that is %.2fx\n",
        (med_mark - med_copy) / ((double)size / (double)BUF) * 1e6,
        1.0 / (1.0 + (med_mark - med_copy) / (double)size * 2.3e9));
    printf("    ratio marked / plain: %.2fx (target >= %.1fx), positions cut by buffers: %zu  %s\n",
           ratio, TARGET_RATIO, cuts, pass_a ? "PASS" : "FAIL");

    /* (b) tracing: the suspect is the whole file marked for GUILTY */
    memcpy(copy, file, size);
    sl_fp_mark(plan, &guilty, 0, copy, size);
    sl_fp_plan_free(plan);
    fv = xmalloc(biggest * sizeof(float));
    printf("\n(b) tracing a %.2f GB bf16 copy against %zu recipients (%ld threads)\n", gb, nrec,
           sysconf(_SC_NPROCESSORS_ONLN));
    t0 = now();
    for (size_t i = 0; i < NT; i++)
        ft[i].offset = 0;
    if (sl_fp_plan_new(lk, sl_fp_density(elems), ft, NT, &tplan, &err) != SL_OK) {
        fprintf(stderr, "bench_fp: %s\n", err.msg);
        return 1;
    }
    t_tplan = now() - t0;
    obs = sl_fp_obs_new(tplan);
    for (size_t i = 0; i < NT; i++) {
        double a = now(), b;
        sl_fp_to_float(SL_FP_BF16, copy + T[i].offset, fv, T[i].rows * T[i].cols);
        b = now();
        if (sl_fp_observe(obs, T[i].name, SL_FP_BF16, file + T[i].offset, fv, NULL, &err)) {
            fprintf(stderr, "bench_fp: %s\n", err.msg);
            return 1;
        }
        t_conv += b - a;
        t_obs += now() - b;
    }
    {
        double a = now();
        rs = xmalloc(nrec * sizeof(*rs));
        sc = xmalloc(nrec * sizeof(*sc));
        for (size_t i = 0; i < nrec; i++)
            sl_fp_recipient_init(master, (uint32_t)(i + 1), &rs[i]);
        t_keys = now() - a;
        a = now();
        sl_fp_score_many(obs, rs, nrec, sc);
        t_score = now() - a;
        a = now();
        sl_fp_decode(obs, master, &id, &ok);
        t_decode = now() - a;
    }
    t_total = now() - t0;
    sl_fp_obs_counts(obs, &read, &total);
    for (size_t i = 0; i < nrec; i++) {
        if (rs[i].id == GUILTY)
            zg = sc[i].z;
        else if (sc[i].z > zmax)
            zmax = sc[i].z;
    }
    zthr = sl_fp_threshold(sc[0].readable, nrec, 1e-9);
    pass_b = t_total < TARGET_TRACE && (nrec < GUILTY || zg >= zthr) && zmax < zthr;
    printf("    %-34s %8.2f s\n", "plan (all tensors)", t_tplan);
    printf("    %-34s %8.2f s\n", "suspect bf16 -> float", t_conv);
    printf("    %-34s %8.2f s  (%llu of %llu positions read)\n", "observe", t_obs,
           (unsigned long long)read, (unsigned long long)total);
    printf("    %-34s %8.2f s\n", "recipient keys", t_keys);
    printf("    %-34s %8.2f s  (%.1f us per recipient)\n", "score", t_score,
           t_score / (double)nrec * 1e6);
    printf("    %-34s %8.2f s  (payload %s %u)\n", "decode", t_decode, ok ? "names" : "fails,",
           ok ? id : 0);
    printf("    %-34s %8.2f s  (target < %.0f s)\n", "total", t_total, TARGET_TRACE);
    printf("    recipient %d: z = %.1f; largest innocent z = %.2f (accuse at %.2f: %zu x bound "
           "<= 1e-9)  %s\n",
           GUILTY, zg, zmax, zthr, nrec, pass_b ? "PASS" : "FAIL");
    printf("\nbench_fp: %s (sink %u)\n", pass_a && pass_b ? "PASS" : "FAIL", sink & 1);
    sl_fp_obs_free(obs);
    sl_fp_plan_free(tplan);
    free(rs);
    free(sc);
    free(fv);
    free(buf);
    free(copy);
    free(file);
    return pass_a && pass_b ? 0 : 1;
}
