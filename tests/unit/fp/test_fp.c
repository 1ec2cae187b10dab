/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fingerprints: a synthetic model of realistic weights (bf16 matrices of
 * N(0, 0.02), heavier-tailed MLP weights with zeros and outliers, norms and
 * biases that must stay untouched), 96 issued recipients, and each attack of
 * the issue: the right recipients accused with z >= 10, no innocent above 5.
 * Also marking by ranges, the edit rule's bounds, determinism, the payload,
 * and the alignment helpers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "formats/formats.h"
#include "fp/fp.h"

#define NREC       96
#define FIRST_ID   1001
#define LAYERS     3
#define HID        512
#define FFN        1408
#define VOCAB      2048
#define NHEAD      8
#define NHEAD_KV   2
#define MAXT       64
#define Z_GUILTY   10.0
#define Z_INNOCENT 5.0

static const unsigned char master[SL_FP_KEY_LEN] = "sluice test master secret 32byte";

/* ---- random numbers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double unif(void)
{
    return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
}

/* ---- a synthetic model: one file, tensors at odd-ish offsets ---- */

struct ten {
    char name[128];
    enum sl_fp_dtype dt;
    uint64_t rows, cols, offset;
    bool eligible;
};

struct model {
    struct ten t[MAXT];
    size_t n;
    unsigned char *file;
    size_t flen;
    struct sl_fp_tensor ft[MAXT]; /* the eligible ones, for plans */
    size_t nft;
};

enum dist { D_NORMAL, D_HEAVY, D_SPARSE, D_NORM1 };

static void add(struct model *m, const char *name, enum sl_fp_dtype dt, uint64_t rows,
                uint64_t cols, enum dist d)
{
    struct ten *t = &m->t[m->n++];
    uint64_t n = rows * cols, es = dt == SL_FP_F32 ? 4 : 2;
    float *v = malloc(n * sizeof(float));
    uint64_t shape[2] = {rows, cols};
    unsigned dtype = dt == SL_FP_BF16 ? SL_DT_BF16 : dt == SL_FP_F16 ? SL_DT_F16 : SL_DT_F32;

    snprintf(t->name, sizeof(t->name), "%s", name);
    t->dt = dt;
    t->rows = rows;
    t->cols = cols;
    /* a little padding between tensors, sometimes not a multiple of 4 */
    t->offset = m->flen + 2 * (rnd() % 7);
    for (uint64_t i = 0; i < n; i++) {
        double x;
        switch (d) {
        case D_NORMAL:
            x = 0.02 * gauss();
            break;
        case D_HEAVY: /* Student-t-like: a normal over a random scale */
            x = 0.015 * gauss() * exp(0.6 * gauss());
            break;
        case D_SPARSE: /* pruned: 2% zeros, 0.1% large outliers */
            x = unif() < 0.02 ? 0.0 : 0.02 * gauss() * (unif() < 0.001 ? 30 : 1);
            break;
        default:
            x = 1.0 + 0.05 * gauss();
            break;
        }
        v[i] = (float)x;
    }
    m->file = realloc(m->file, t->offset + n * es);
    memset(m->file + m->flen, 0, t->offset - m->flen);
    sl_fp_from_float(dt, v, m->file + t->offset, n);
    m->flen = t->offset + n * es;
    free(v);
    t->eligible = sl_fp_eligible(name, dtype, shape, cols == 1 ? 1 : 2);
    if (t->eligible) {
        struct sl_fp_tensor *f = &m->ft[m->nft++];
        f->name = t->name;
        f->dtype = dt;
        f->rows = rows;
        f->cols = cols;
        f->offset = t->offset;
    }
}

static void build_model(struct model *m, enum sl_fp_dtype dt, uint64_t seed)
{
    char n[128];

    memset(m, 0, sizeof(*m));
    rng_state = seed;
    m->file = calloc(1, 4096);
    m->flen = 4096 - 6; /* the "header" */
    add(m, "model.embed_tokens.weight", dt, VOCAB, HID, D_NORMAL);
    for (int l = 0; l < LAYERS; l++) {
        snprintf(n, sizeof(n), "model.layers.%d.input_layernorm.weight", l);
        add(m, n, dt, HID, 1, D_NORM1);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.q_proj.weight", l);
        add(m, n, dt, HID, HID, D_NORMAL);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.q_proj.bias", l);
        add(m, n, dt, HID, 1, D_NORMAL);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.k_proj.weight", l);
        add(m, n, dt, HID / NHEAD * NHEAD_KV, HID, D_NORMAL);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.v_proj.weight", l);
        add(m, n, dt, HID / NHEAD * NHEAD_KV, HID, D_NORMAL);
        snprintf(n, sizeof(n), "model.layers.%d.self_attn.o_proj.weight", l);
        add(m, n, dt, HID, HID, D_NORMAL);
        snprintf(n, sizeof(n), "model.layers.%d.post_attention_layernorm.weight", l);
        add(m, n, dt, HID, 1, D_NORM1);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.gate_proj.weight", l);
        add(m, n, dt, FFN, HID, D_HEAVY);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.up_proj.weight", l);
        add(m, n, dt, FFN, HID, D_HEAVY);
        snprintf(n, sizeof(n), "model.layers.%d.mlp.down_proj.weight", l);
        add(m, n, dt, HID, FFN, D_SPARSE);
    }
    add(m, "model.norm.weight", dt, HID, 1, D_NORM1);
    add(m, "lm_head.weight", dt, VOCAB, HID, D_NORMAL);
}

static void free_model(struct model *m)
{
    free(m->file);
}

static uint64_t eligible_elems(const struct model *m)
{
    uint64_t e = 0;

    for (size_t i = 0; i < m->nft; i++)
        e += m->ft[i].rows * m->ft[i].cols;
    return e;
}

static struct sl_fp_plan *plan_of(const struct model *m, const struct sl_fp_tensor *ft, size_t n)
{
    unsigned char lk[SL_FP_KEY_LEN];
    struct sl_fp_plan *p = NULL;
    struct sl_error err;

    sl_fp_lineage_key(master, "model:42", lk);
    cr_assert_eq(sl_fp_plan_new(lk, sl_fp_density(eligible_elems(m)), ft, n, &p, &err), SL_OK, "%s",
                 err.msg);
    return p;
}

static struct sl_fp_recipient rcpt(uint32_t id)
{
    struct sl_fp_recipient r;

    sl_fp_recipient_init(master, id, &r);
    return r;
}

/* The whole file marked for `id` in one call. */
static unsigned char *marked_copy(const struct model *m, const struct sl_fp_plan *p, uint32_t id)
{
    unsigned char *c = malloc(m->flen);
    struct sl_fp_recipient r = rcpt(id);

    memcpy(c, m->file, m->flen);
    cr_assert_eq(sl_fp_mark(p, &r, 0, c, m->flen), 0);
    return c;
}

static const struct ten *find(const struct model *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0)
            return &m->t[i];
    return NULL;
}

/* ---- tracing ---- */

/* A suspect: for each eligible tensor, its values as floats (canonical
 * layout) and an optional reference. */
typedef void (*suspect_fn)(const struct model *m, const struct ten *t, const unsigned char *img,
                           float *out, float **ref, void *ctx);

struct result {
    double z[NREC];
    double zmax_innocent;
    uint64_t read, total, readable;
    uint32_t id;
    bool ok;
};

static void trace(const struct model *m, const struct sl_fp_plan *p, const unsigned char *img,
                  suspect_fn fn, void *ctx, const uint32_t *guilty, size_t ng, struct result *res,
                  const char *label)
{
    struct sl_fp_obs *o = sl_fp_obs_new(p);
    struct sl_fp_recipient rs[NREC];
    struct sl_fp_score sc[NREC];
    struct sl_error err;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < m->nft; i++) {
        const struct ten *t = find(m, m->ft[i].name);
        uint64_t n = t->rows * t->cols;
        float *sv = malloc(n * sizeof(float)), *ref = NULL;
        fn(m, t, img, sv, &ref, ctx);
        cr_assert_eq(sl_fp_observe(o, t->name, t->dt, m->file + t->offset, sv, ref, &err), SL_OK,
                     "%s", err.msg);
        free(sv);
        free(ref);
    }
    for (int i = 0; i < NREC; i++)
        rs[i] = rcpt(FIRST_ID + (uint32_t)i);
    sl_fp_score_many(o, rs, NREC, sc);
    res->zmax_innocent = -1e9;
    for (int i = 0; i < NREC; i++) {
        bool g = false;
        for (size_t k = 0; k < ng; k++)
            g = g || guilty[k] == FIRST_ID + (uint32_t)i;
        res->z[i] = sc[i].z;
        if (!g && sc[i].z > res->zmax_innocent)
            res->zmax_innocent = sc[i].z;
    }
    res->readable = sc[0].readable;
    sl_fp_obs_counts(o, &res->read, &res->total);
    sl_fp_decode(o, master, &res->id, &res->ok);
    fprintf(stderr, "fp: %-26s", label);
    for (size_t k = 0; k < ng; k++)
        fprintf(stderr, " guilty %u z=%6.1f (bound %.1e)", guilty[k], res->z[guilty[k] - FIRST_ID],
                sc[guilty[k] - FIRST_ID].fp_bound);
    fprintf(stderr, "  max innocent z=%5.2f  read %llu/%llu  payload %s %u\n", res->zmax_innocent,
            (unsigned long long)res->read, (unsigned long long)res->total, res->ok ? "id" : "none",
            res->ok ? res->id : 0);
    sl_fp_obs_free(o);
}

static void check(const struct result *r, const uint32_t *guilty, size_t ng)
{
    for (size_t k = 0; k < ng; k++)
        cr_expect_geq(r->z[guilty[k] - FIRST_ID], Z_GUILTY, "recipient %u: z = %.2f", guilty[k],
                      r->z[guilty[k] - FIRST_ID]);
    cr_expect_lt(r->zmax_innocent, Z_INNOCENT, "an innocent reached z = %.2f", r->zmax_innocent);
}

/* suspects */

static void s_plain(const struct model *m, const struct ten *t, const unsigned char *img,
                    float *out, float **ref, void *ctx)
{
    sl_fp_to_float(t->dt, img + t->offset, out, t->rows * t->cols);
}

static void s_via_f32(const struct model *m, const struct ten *t, const unsigned char *img,
                      float *out, float **ref, void *ctx)
{
    /* bf16 -> f32 file -> bf16 file -> read */
    uint64_t n = t->rows * t->cols;
    unsigned char *f32 = malloc(4 * n), *b16 = malloc(2 * n);

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    sl_fp_from_float(SL_FP_F32, out, f32, n);
    sl_fp_to_float(SL_FP_F32, f32, out, n);
    sl_fp_from_float(SL_FP_BF16, out, b16, n);
    sl_fp_to_float(SL_FP_BF16, b16, out, n);
    free(f32);
    free(b16);
}

static void s_to(enum sl_fp_dtype to, const struct ten *t, const unsigned char *img, float *out)
{
    uint64_t n = t->rows * t->cols;
    unsigned char *b = malloc(4 * n);

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    sl_fp_from_float(to, out, b, n);
    sl_fp_to_float(to, b, out, n);
    free(b);
}

static void s_f32(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                  float **ref, void *ctx)
{
    s_to(SL_FP_F32, t, img, out);
}

static void s_bf16(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                   float **ref, void *ctx)
{
    s_to(SL_FP_BF16, t, img, out);
}

static void s_f16(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                  float **ref, void *ctx)
{
    s_to(SL_FP_F16, t, img, out);
}

/* +-1 ulp (integer domain) on 10% of the nonzero weights */
static void s_noise(const struct model *m, const struct ten *t, const unsigned char *img,
                    float *out, float **ref, void *ctx)
{
    uint64_t n = t->rows * t->cols;
    unsigned char *b = malloc(2 * n);

    memcpy(b, img + t->offset, 2 * n);
    for (uint64_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
        uint64_t x = rnd();
        if ((v & 0x7fff) == 0 || (v & 0x7f80) == 0x7f80 || x % 10 != 0)
            continue;
        v = (uint16_t)((x >> 32) & 1 ? v + 1 : v - 1);
        b[2 * i] = (unsigned char)v;
        b[2 * i + 1] = (unsigned char)(v >> 8);
    }
    sl_fp_to_float(SL_FP_BF16, b, out, n);
    free(b);
}

static void s_q8_0(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                   float **ref, void *ctx)
{
    uint64_t n = t->rows * t->cols;

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    sl_fp_q8_0_roundtrip(out, out, n);
    *ref = malloc(n * sizeof(float));
    sl_fp_to_float(t->dt, m->file + t->offset, *ref, n);
    sl_fp_q8_0_roundtrip(*ref, *ref, n);
}

/* the average of two copies (ctx: the second image), rounded to bf16 */
static void s_avg(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                  float **ref, void *ctx)
{
    const unsigned char *img2 = ctx;
    uint64_t n = t->rows * t->cols;
    float *b = malloc(n * sizeof(float));
    unsigned char *r = malloc(2 * n);

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    sl_fp_to_float(t->dt, img2 + t->offset, b, n);
    for (uint64_t i = 0; i < n; i++)
        out[i] = (out[i] + b[i]) / 2;
    sl_fp_from_float(SL_FP_BF16, out, r, n);
    sl_fp_to_float(SL_FP_BF16, r, out, n);
    free(b);
    free(r);
}

/* 3% of the values replaced by NaN, infinities or huge values */
static void s_poison(const struct model *m, const struct ten *t, const unsigned char *img,
                     float *out, float **ref, void *ctx)
{
    uint64_t n = t->rows * t->cols;

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = rnd() % 100;
        if (x == 0)
            out[i] = NAN;
        else if (x == 1)
            out[i] = (i & 1) ? INFINITY : -INFINITY;
        else if (x == 2)
            out[i] = (i & 1) ? 3e38f : -3e38f;
    }
}

/* ---- attacks ---- */

static struct model M;
static struct sl_fp_plan *P;

static void setup_bf16(void)
{
    build_model(&M, SL_FP_BF16, 7);
    P = plan_of(&M, M.ft, M.nft);
}

static void teardown(void)
{
    sl_fp_plan_free(P);
    free_model(&M);
}

TestSuite(fp_attacks, .init = setup_bf16, .fini = teardown, .timeout = 200);

Test(fp_attacks, exact_copy_and_payload)
{
    uint32_t g[] = {1017};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    trace(&M, P, c, s_plain, NULL, g, 1, &r, "exact copy");
    check(&r, g, 1);
    cr_expect(r.ok, "the payload did not decode");
    cr_expect_eq(r.id, g[0]);
    cr_expect_eq(r.read, r.total);
    free(c);
}

Test(fp_attacks, bf16_f32_bf16)
{
    uint32_t g[] = {1033};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    trace(&M, P, c, s_via_f32, NULL, g, 1, &r, "bf16->f32->bf16");
    check(&r, g, 1);
    cr_expect(r.ok && r.id == g[0]);
    free(c);
}

Test(fp_attacks, f32_copy)
{
    uint32_t g[] = {1050};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    trace(&M, P, c, s_f32, NULL, g, 1, &r, "f32 copy");
    check(&r, g, 1);
    cr_expect(r.ok && r.id == g[0]);
    free(c);
}

Test(fp_attacks, f16_copy)
{
    uint32_t g[] = {1051};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    trace(&M, P, c, s_f16, NULL, g, 1, &r, "fp16 copy");
    check(&r, g, 1);
    free(c);
}

Test(fp_attacks, one_ulp_noise)
{
    uint32_t g[] = {1002};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    rng_state = 99;
    trace(&M, P, c, s_noise, NULL, g, 1, &r, "+-1 ulp on 10%");
    check(&r, g, 1);
    free(c);
}

Test(fp_attacks, q8_0_requantised)
{
    uint32_t g[] = {1090};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    trace(&M, P, c, s_q8_0, NULL, g, 1, &r, "Q8_0 (ref Q8_0(orig))");
    check(&r, g, 1);
    free(c);
}

Test(fp_attacks, average_of_two)
{
    uint32_t g[] = {1005, 1077};
    unsigned char *a = marked_copy(&M, P, g[0]), *b = marked_copy(&M, P, g[1]);
    struct result r;

    trace(&M, P, a, s_avg, b, g, 2, &r, "average of two");
    check(&r, g, 2);
    /* a coalition garbles the payload: no id, or one of theirs */
    cr_expect(!r.ok || r.id == g[0] || r.id == g[1]);
    free(a);
    free(b);
}

Test(fp_attacks, original_accuses_no_one)
{
    struct result r;

    trace(&M, P, M.file, s_plain, NULL, NULL, 0, &r, "original");
    cr_expect_lt(r.zmax_innocent, Z_INNOCENT);
    cr_expect(!r.ok, "the original decoded to id %u", r.id);
    cr_expect_eq(r.read, r.total);
}

Test(fp_attacks, never_issued_accuses_no_one)
{
    unsigned char *c = marked_copy(&M, P, 777777);
    struct result r;

    trace(&M, P, c, s_plain, NULL, NULL, 0, &r, "never-issued recipient");
    cr_expect_lt(r.zmax_innocent, Z_INNOCENT);
    /* the payload names the (unissued) recipient it was made for */
    cr_expect(r.ok && r.id == 777777);
    free(c);
}

Test(fp_attacks, nan_and_inf_are_unread)
{
    uint32_t g[] = {1060};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;

    rng_state = 5;
    trace(&M, P, c, s_poison, NULL, g, 1, &r, "3% NaN/inf/huge");
    check(&r, g, 1);
    cr_expect_lt(r.read, r.total);
    cr_expect_gt(r.read, r.total * 9 / 10);
    free(c);
}

/* Resharded and renamed: marked per shard (each with its own plan and
 * offsets), the tensors equal those of the one-file copy by name; then the
 * copy turned into a GGUF-like one (llama.cpp names, q/k rows permuted) is
 * traced after undoing both. */
static void permute_rows(const float *in, float *out, uint64_t rows, uint64_t cols, uint32_t nh)
{
    uint64_t hd = rows / nh, half = hd / 2;

    for (uint64_t h = 0; h < nh; h++)
        for (uint64_t i = 0; i < half; i++)
            for (uint64_t a = 0; a < 2; a++)
                memcpy(out + (h * hd + 2 * i + a) * cols, in + (h * hd + a * half + i) * cols,
                       cols * sizeof(float));
}

static const char *to_gguf(const char *hf, char *buf, size_t n)
{
    static const char *map[][2] = {
        {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
        {"mlp.gate_proj", "ffn_gate"},  {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},
    };
    int l;
    char part[64];

    if (strcmp(hf, "model.embed_tokens.weight") == 0)
        return "token_embd.weight";
    if (strcmp(hf, "lm_head.weight") == 0)
        return "output.weight";
    if (sscanf(hf, "model.layers.%d.%63[a-z_.]", &l, part) != 2)
        return NULL;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t k = strlen(map[i][0]);
        if (strncmp(part, map[i][0], k) == 0 && strcmp(part + k, ".weight") == 0) {
            snprintf(buf, n, "blk.%d.%s.weight", l, map[i][1]);
            return buf;
        }
    }
    return NULL;
}

struct gguf_copy {
    char names[MAXT][128];
    float *vals[MAXT]; /* in GGUF layout (q/k permuted) */
    size_t n;
};

static void s_gguf(const struct model *m, const struct ten *t, const unsigned char *img, float *out,
                   float **ref, void *ctx)
{
    const struct gguf_copy *g = ctx;
    char hf[128];
    uint64_t n = t->rows * t->cols;

    for (size_t i = 0; i < g->n; i++) {
        const char *name = sl_fp_gguf_name(g->names[i], hf, sizeof(hf));
        struct sl_error err;
        cr_assert(name, "no canonical name for %s", g->names[i]);
        if (strcmp(name, t->name) != 0)
            continue;
        if (strstr(g->names[i], "attn_q."))
            cr_assert_eq(sl_fp_unpermute_qk(g->vals[i], out, t->rows, t->cols, NHEAD, &err), 0);
        else if (strstr(g->names[i], "attn_k."))
            cr_assert_eq(sl_fp_unpermute_qk(g->vals[i], out, t->rows, t->cols, NHEAD_KV, &err), 0);
        else
            memcpy(out, g->vals[i], n * sizeof(float));
        return;
    }
    cr_assert_fail("%s missing from the copy", t->name);
}

Test(fp_attacks, resharded_renamed_gguf)
{
    uint32_t g[] = {1044};
    struct sl_fp_recipient r = rcpt(g[0]);
    unsigned char *whole = marked_copy(&M, P, g[0]);
    struct gguf_copy gc;
    struct result res;

    /* three shards, tensors in reverse order, new offsets, one plan each */
    for (int s = 0; s < 3; s++) {
        struct sl_fp_tensor ft[MAXT];
        size_t nft = 0, flen = 1000 + 2 * (size_t)s + 1; /* an odd header length */
        unsigned char *shard;
        struct sl_fp_plan *sp;
        for (size_t i = M.nft; i-- > 0;) {
            if (i % 3 != (size_t)s)
                continue;
            ft[nft] = M.ft[i];
            ft[nft].offset = flen;
            flen += ft[nft].rows * ft[nft].cols * 2 + 6;
            nft++;
        }
        shard = calloc(1, flen);
        for (size_t k = 0; k < nft; k++) {
            const struct ten *t = find(&M, ft[k].name);
            memcpy(shard + ft[k].offset, M.file + t->offset, t->rows * t->cols * 2);
        }
        sp = plan_of(&M, ft, nft);
        cr_assert_eq(sl_fp_mark(sp, &r, 0, shard, flen), 0);
        for (size_t k = 0; k < nft; k++) {
            const struct ten *t = find(&M, ft[k].name);
            cr_assert(memcmp(shard + ft[k].offset, whole + t->offset, t->rows * t->cols * 2) == 0,
                      "%s differs between layouts", t->name);
        }
        sl_fp_plan_free(sp);
        free(shard);
    }
    /* the GGUF-like copy of the whole marked file */
    memset(&gc, 0, sizeof(gc));
    for (size_t i = 0; i < M.nft; i++) {
        const struct ten *t = find(&M, M.ft[i].name);
        uint64_t n = t->rows * t->cols;
        float *v = malloc(n * sizeof(float));
        const char *gn = to_gguf(t->name, gc.names[gc.n], sizeof(gc.names[gc.n]));
        cr_assert(gn, "%s", t->name);
        if (gn != gc.names[gc.n])
            snprintf(gc.names[gc.n], sizeof(gc.names[gc.n]), "%s", gn);
        sl_fp_to_float(t->dt, whole + t->offset, v, n);
        gc.vals[gc.n] = malloc(n * sizeof(float));
        if (strstr(gn, "attn_q."))
            permute_rows(v, gc.vals[gc.n], t->rows, t->cols, NHEAD);
        else if (strstr(gn, "attn_k."))
            permute_rows(v, gc.vals[gc.n], t->rows, t->cols, NHEAD_KV);
        else
            memcpy(gc.vals[gc.n], v, n * sizeof(float));
        free(v);
        gc.n++;
    }
    trace(&M, P, whole, s_gguf, &gc, g, 1, &res, "resharded+renamed (GGUF)");
    check(&res, g, 1);
    cr_expect(res.ok && res.id == g[0]);
    for (size_t i = 0; i < gc.n; i++)
        free(gc.vals[i]);
    free(whole);
}

/* ---- other source types ---- */

static void attacks_for(enum sl_fp_dtype dt, const char *label)
{
    struct model m;
    struct sl_fp_plan *p;
    uint32_t g[] = {1011};
    unsigned char *c;
    struct result r;
    char l[64];

    build_model(&m, dt, 11);
    p = plan_of(&m, m.ft, m.nft);
    c = marked_copy(&m, p, g[0]);
    snprintf(l, sizeof(l), "%s: exact", label);
    trace(&m, p, c, s_plain, NULL, g, 1, &r, l);
    check(&r, g, 1);
    cr_expect(r.ok && r.id == g[0]);
    snprintf(l, sizeof(l), "%s: to bf16", label);
    trace(&m, p, c, s_bf16, NULL, g, 1, &r, l);
    check(&r, g, 1);
    if (dt == SL_FP_F32)
        cr_expect(r.ok && r.id == g[0]);
    snprintf(l, sizeof(l), "%s: to fp16", label);
    trace(&m, p, c, s_f16, NULL, g, 1, &r, l);
    check(&r, g, 1);
    snprintf(l, sizeof(l), "%s: Q8_0", label);
    trace(&m, p, c, s_q8_0, NULL, g, 1, &r, l);
    check(&r, g, 1);
    free(c);
    sl_fp_plan_free(p);
    free_model(&m);
}

Test(fp_types, f32_original, .timeout = 200)
{
    attacks_for(SL_FP_F32, "f32 original");
}

Test(fp_types, f16_original, .timeout = 200)
{
    uint32_t g[] = {1012};
    struct model m;
    struct sl_fp_plan *p;
    unsigned char *c;
    struct result r;

    build_model(&m, SL_FP_F16, 12);
    p = plan_of(&m, m.ft, m.nft);
    c = marked_copy(&m, p, g[0]);
    trace(&m, p, c, s_plain, NULL, g, 1, &r, "fp16 original: exact");
    check(&r, g, 1);
    cr_expect(r.ok && r.id == g[0]);
    trace(&m, p, c, s_f32, NULL, g, 1, &r, "fp16 original: f32 copy");
    check(&r, g, 1);
    free(c);
    sl_fp_plan_free(p);
    free_model(&m);
}

/* ---- marking ---- */

/* Marks the file of `m` in random ranges, three ways: the widened span read
 * and marked then cut down (sl_fp_mark_span + sl_fp_mark), in place with the
 * bytes around (sl_fp_mark_range), and raw (which must report its cuts). */
static void check_ranges(const struct model *m, const struct sl_fp_plan *p)
{
    struct sl_fp_recipient r = rcpt(1003);
    unsigned char *whole = marked_copy(m, p, 1003), *parts = malloc(m->flen);
    unsigned char *inplace = malloc(m->flen);
    size_t cuts = 0;

    rng_state = 3;
    for (int round = 0; round < 4; round++) {
        /* round 0: ranges of 1..64 bytes over the first 3 MB */
        uint64_t at = 0, limit = round == 0 && m->flen > 3000000 ? 3000000 : m->flen;
        memcpy(parts, m->file, m->flen);
        memcpy(inplace, m->file, m->flen);
        while (at < limit) {
            uint64_t len = round == 0 ? 1 + rnd() % 64 : 1 + rnd() % (1u << (12 + 2 * round));
            uint64_t s, e;
            unsigned char *tmp;
            if (len > limit - at)
                len = limit - at;
            sl_fp_mark_span(p, at, len, &s, &e);
            cr_assert(s <= at && e >= at + len && at - s < 4 && e - (at + len) < 4);
            cr_assert_leq(e, m->flen);
            tmp = malloc(e - s);
            memcpy(tmp, m->file + s, e - s);
            cr_assert_eq(sl_fp_mark(p, &r, s, tmp, e - s), 0);
            memcpy(parts + at, tmp + (at - s), len);
            free(tmp);
            cr_assert_eq(
                sl_fp_mark_range(p, &r, at, inplace + at, len, m->file + s, m->file + at + len), 0);
            tmp = malloc(len);
            memcpy(tmp, m->file + at, len);
            cuts += sl_fp_mark(p, &r, at, tmp, len);
            free(tmp);
            at += len;
        }
        cr_assert(memcmp(parts, whole, limit) == 0, "round %d differs", round);
        cr_assert(memcmp(inplace, whole, limit) == 0, "round %d differs in place", round);
    }
    cr_expect_gt(cuts, 0, "no raw range ever cut a position (the test is too weak)");
    free(inplace);
    free(parts);
    free(whole);
}

Test(fp_mark, ranges_equal_whole, .init = setup_bf16, .fini = teardown)
{
    check_ranges(&M, P);
}

Test(fp_mark, ranges_equal_whole_f32)
{
    struct model m;
    struct sl_fp_plan *p;

    build_model(&m, SL_FP_F32, 14);
    p = plan_of(&m, m.ft, m.nft);
    check_ranges(&m, p);
    sl_fp_plan_free(p);
    free_model(&m);
}

Test(fp_mark, bounded_changes, .init = setup_bf16, .fini = teardown)
{
    unsigned char *c = marked_copy(&M, P, 1020);
    uint64_t changed = 0, elems = 0, positions = sl_fp_plan_positions(P);

    for (size_t i = 0; i < M.n; i++) {
        const struct ten *t = &M.t[i];
        uint64_t n = t->rows * t->cols;
        for (uint64_t k = 0; k < n; k++) {
            const unsigned char *a = M.file + t->offset + 2 * k, *b = c + t->offset + 2 * k;
            int va = a[0] | a[1] << 8, vb = b[0] | b[1] << 8;
            if (va == vb)
                continue;
            changed++;
            cr_assert(t->eligible, "%s changed", t->name);
            cr_assert_eq(abs(va - vb), 1, "%s[%llu]: %04x -> %04x", t->name, (unsigned long long)k,
                         va, vb);
            cr_assert((va & 0x7f80) != 0 && (va & 0x7f80) != 0x7f80, "zero/subnormal/inf edited");
            cr_assert_eq(va & 0x8000, vb & 0x8000);
        }
        elems += n;
    }
    /* padding and header bytes untouched */
    cr_assert(memcmp(c, M.file, M.t[0].offset) == 0);
    fprintf(stderr, "fp: %llu positions, %llu of %llu weights changed (%.4f%%)\n",
            (unsigned long long)positions, (unsigned long long)changed, (unsigned long long)elems,
            100.0 * (double)changed / (double)elems);
    cr_expect_leq(changed * 1000, elems);
    cr_expect_gt(changed * 4, positions, "too few changes: %llu", (unsigned long long)changed);
    free(c);
}

Test(fp_mark, f32_step_is_one_bf16_ulp)
{
    struct model m;
    struct sl_fp_plan *p;
    unsigned char *c;
    uint64_t changed = 0;

    build_model(&m, SL_FP_F32, 13);
    p = plan_of(&m, m.ft, m.nft);
    c = marked_copy(&m, p, 1001);
    for (size_t i = 0; i < m.n; i++) {
        const struct ten *t = &m.t[i];
        for (uint64_t k = 0; k < t->rows * t->cols; k++) {
            uint32_t a, b;
            memcpy(&a, m.file + t->offset + 4 * k, 4);
            memcpy(&b, c + t->offset + 4 * k, 4);
            if (a == b)
                continue;
            changed++;
            cr_assert(a - b == 0x10000u || b - a == 0x10000u);
            cr_assert_eq(a >> 23, b >> 23, "the step left the binade");
        }
    }
    cr_expect_gt(changed, 100);
    free(c);
    sl_fp_plan_free(p);
    free_model(&m);
}

/* The scheme is a format: copies handed out must stay traceable by later
 * builds. These hashes pin positions, biases, directions and symbols on a
 * model made without libm; change them only with a plan for old copies. */
Test(fp_mark, golden)
{
    static const char *want_marked =
        "d076e48c886621d4ef94742eda5170f4117ab5ed18fccc4848a4ad91006bf09e";
    unsigned char lk[SL_FP_KEY_LEN], h[32];
    char hex[65];
    size_t n = 300 * 1000;
    unsigned char *buf = malloc(2 * n);
    struct sl_fp_tensor t[2] = {
        {"model.layers.0.mlp.up_proj.weight", SL_FP_BF16, 300, 500, 16},
        {"model.layers.0.mlp.down_proj.weight", SL_FP_BF16, 500, 300, 16 + 300000},
    };
    struct sl_fp_plan *p = NULL;
    struct sl_fp_recipient r = rcpt(4242);

    rng_state = 1;
    for (size_t i = 0; i < 2 * n; i += 2) {
        uint64_t x = rnd();
        buf[i] = (unsigned char)x;
        buf[i + 1] = (unsigned char)(0x3c + ((x >> 8) & 1) * 0x80); /* ~ +-0.01 */
    }
    sl_fp_lineage_key(master, "model:golden", lk);
    cr_assert_eq(sl_fp_plan_new(lk, 1e-3, t, 2, &p, NULL), SL_OK);
    sl_fp_mark(p, &r, 16, buf, 2 * n);
    sl_sha256(buf, 2 * n, h);
    sl_hex(h, 32, hex);
    fprintf(stderr, "fp: golden %s, %llu positions, mac %08x\n", hex,
            (unsigned long long)sl_fp_plan_positions(p), r.mac);
    cr_expect_str_eq(hex, want_marked);
    sl_fp_plan_free(p);
    free(buf);
}

Test(fp_mark, deterministic, .init = setup_bf16, .fini = teardown)
{
    unsigned char *a = marked_copy(&M, P, 1010), *b;
    struct sl_fp_plan *p2 = plan_of(&M, M.ft, M.nft);

    b = marked_copy(&M, p2, 1010);
    cr_assert(memcmp(a, b, M.flen) == 0);
    cr_assert_eq(sl_fp_plan_positions(P), sl_fp_plan_positions(p2));
    free(b);
    b = marked_copy(&M, p2, 1011);
    cr_assert(memcmp(a, b, M.flen) != 0, "two recipients got the same copy");
    free(a);
    free(b);
    sl_fp_plan_free(p2);
}

Test(fp_mark, positions_per_density)
{
    unsigned char lk[SL_FP_KEY_LEN] = {1};
    struct sl_fp_tensor t = {"w", SL_FP_BF16, 4000, 1000, 0};
    struct sl_fp_plan *p = NULL;
    double want = 4e6 * 1e-3;

    cr_assert_eq(sl_fp_plan_new(lk, 1e-3, &t, 1, &p, NULL), SL_OK);
    /* Poisson-like count: within 5 standard deviations of n * density */
    cr_expect_lt(fabs((double)sl_fp_plan_positions(p) - want), 5 * sqrt(want), "%llu positions",
                 (unsigned long long)sl_fp_plan_positions(p));
    sl_fp_plan_free(p);
    cr_expect_float_eq(sl_fp_density(1000000), 1e-3, 1e-12);
    cr_expect_float_eq(sl_fp_density(8000000000ull), 4194304.0 / 8e9, 1e-15);
}

Test(fp_mark, plan_errors)
{
    unsigned char lk[SL_FP_KEY_LEN] = {0};
    struct sl_fp_tensor t[2] = {{"a", SL_FP_BF16, 64, 64, 0}, {"a", SL_FP_BF16, 64, 64, 8192}};
    struct sl_fp_plan *p = NULL;
    struct sl_error err;

    cr_expect_eq(sl_fp_plan_new(lk, 1e-3, t, 2, &p, &err), SL_EINPUT);
    cr_expect_null(p);
    cr_expect_eq(sl_fp_plan_new(lk, 0, t, 1, &p, &err), SL_EINPUT);
    cr_expect_eq(sl_fp_plan_new(lk, NAN, t, 1, &p, &err), SL_EINPUT);
    t[1].name = "b";
    t[1].rows = 0;
    cr_expect_eq(sl_fp_plan_new(lk, 1e-3, t, 2, &p, &err), SL_EINPUT);
    t[1].rows = 1ull << 40;
    t[1].cols = 1ull << 40;
    cr_expect_eq(sl_fp_plan_new(lk, 1e-3, t, 2, &p, &err), SL_EINPUT);
    t[1].rows = 1ull << 30;
    t[1].cols = 1ull << 10;
    cr_expect_eq(sl_fp_plan_new(lk, 0.5, t, 2, &p, &err), SL_ELIMIT);
    cr_expect_eq(sl_fp_plan_new(lk, 1e-3, t, 0, &p, &err), SL_OK);
    cr_expect_eq(sl_fp_plan_positions(p), 0);
    {
        struct sl_fp_recipient r = rcpt(1);
        unsigned char b[4] = {1, 2, 3, 4};
        cr_expect_eq(sl_fp_mark(p, &r, 0, b, 4), 0);
        cr_expect_eq(b[3], 4);
    }
    sl_fp_plan_free(p);
    sl_fp_plan_free(NULL);
    sl_fp_obs_free(NULL);
}

/* ---- scoring ---- */

Test(fp_score, innocents_are_standard_normal, .init = setup_bf16, .fini = teardown)
{
    enum { N = 2000 };
    uint32_t g[] = {1001};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct sl_fp_obs *o = sl_fp_obs_new(P);
    struct sl_fp_recipient *rs = malloc(N * sizeof(*rs));
    struct sl_fp_score *sc = malloc(N * sizeof(*sc)), one;
    double sum = 0, sq = 0, mx = -1e9;

    for (size_t i = 0; i < M.nft; i++) {
        const struct ten *t = find(&M, M.ft[i].name);
        float *v = malloc(t->rows * t->cols * sizeof(float));
        sl_fp_to_float(t->dt, c + t->offset, v, t->rows * t->cols);
        cr_assert_eq(sl_fp_observe(o, t->name, t->dt, M.file + t->offset, v, NULL, NULL), SL_OK);
        free(v);
    }
    for (int i = 0; i < N; i++)
        rs[i] = rcpt(500000 + (uint32_t)i);
    sl_fp_score_many(o, rs, N, sc);
    for (int i = 0; i < N; i++) {
        sum += sc[i].z;
        sq += sc[i].z * sc[i].z;
        if (sc[i].z > mx)
            mx = sc[i].z;
    }
    fprintf(stderr, "fp: %d never-issued keys on an exact copy: mean %.3f sd %.3f max %.2f\n", N,
            sum / N, sqrt(sq / N - (sum / N) * (sum / N)), mx);
    cr_expect_lt(fabs(sum / N), 0.1);
    cr_expect_lt(fabs(sqrt(sq / N - (sum / N) * (sum / N)) - 1), 0.1);
    cr_expect_lt(mx, Z_INNOCENT);
    /* the one-recipient path agrees with the many-recipient one */
    for (int i = 0; i < 40; i++) {
        sl_fp_score(o, &rs[i * 37], &one);
        cr_expect_eq(one.z, sc[i * 37].z);
        cr_expect_eq(one.readable, sc[i * 37].readable);
    }
    cr_expect(sc[0].fp_bound > exp(-sc[0].z * sc[0].z / 2) * 0.999 || sc[0].z <= 0);
    sl_fp_obs_free(o);
    free(rs);
    free(sc);
    free(c);
}

Test(fp_score, observe_errors, .init = setup_bf16, .fini = teardown)
{
    struct sl_fp_obs *o = sl_fp_obs_new(P);
    struct sl_fp_score s;
    struct sl_fp_recipient r = rcpt(1);
    struct sl_error err;
    float v[4] = {0};
    uint32_t id = 5;
    bool ok = true;
    uint64_t rd, tot;

    cr_expect_eq(
        sl_fp_observe(o, "model.layers.0.input_layernorm.weight", SL_FP_BF16, v, v, NULL, &err),
        SL_ENOTFOUND);
    cr_expect_eq(sl_fp_observe(o, M.ft[0].name, SL_FP_F32, v, v, NULL, &err), SL_EINPUT);
    /* nothing read: z 0, bound 1, no payload */
    sl_fp_score(o, &r, &s);
    cr_expect_eq(s.z, 0);
    cr_expect_eq(s.fp_bound, 1);
    cr_expect_eq(s.readable, 0);
    sl_fp_decode(o, master, &id, &ok);
    cr_expect(!ok);
    cr_expect_eq(id, 0);
    sl_fp_obs_counts(o, &rd, &tot);
    cr_expect_eq(rd, 0);
    cr_expect_eq(tot, sl_fp_plan_positions(P));
    sl_fp_obs_free(o);
}

/* ---- helpers ---- */

Test(fp_util, gguf_names)
{
    char b[128];

    cr_expect_str_eq(sl_fp_gguf_name("blk.3.attn_q.weight", b, sizeof(b)),
                     "model.layers.3.self_attn.q_proj.weight");
    cr_expect_str_eq(sl_fp_gguf_name("blk.31.attn_output.weight", b, sizeof(b)),
                     "model.layers.31.self_attn.o_proj.weight");
    cr_expect_str_eq(sl_fp_gguf_name("blk.0.ffn_down.weight", b, sizeof(b)),
                     "model.layers.0.mlp.down_proj.weight");
    cr_expect_str_eq(sl_fp_gguf_name("blk.10.ffn_norm.weight", b, sizeof(b)),
                     "model.layers.10.post_attention_layernorm.weight");
    cr_expect_str_eq(sl_fp_gguf_name("blk.2.attn_k.bias", b, sizeof(b)),
                     "model.layers.2.self_attn.k_proj.bias");
    cr_expect_str_eq(sl_fp_gguf_name("token_embd.weight", b, sizeof(b)),
                     "model.embed_tokens.weight");
    cr_expect_str_eq(sl_fp_gguf_name("output.weight", b, sizeof(b)), "lm_head.weight");
    cr_expect_str_eq(sl_fp_gguf_name("output_norm.weight", b, sizeof(b)), "model.norm.weight");
    cr_expect_null(sl_fp_gguf_name("blk.0.ffn_gate_inp.weight", b, sizeof(b)));
    cr_expect_null(sl_fp_gguf_name("blk.01.attn_q.weight", b, sizeof(b)));
    cr_expect_null(sl_fp_gguf_name("blk..attn_q.weight", b, sizeof(b)));
    cr_expect_null(sl_fp_gguf_name("blk.1.attn_q", b, sizeof(b)));
    cr_expect_null(sl_fp_gguf_name("rope_freqs.weight", b, sizeof(b)));
    cr_expect_null(sl_fp_gguf_name("blk.3.attn_q.weight", b, 10));
}

Test(fp_util, eligible)
{
    uint64_t m[2] = {4096, 4096}, v[1] = {4096}, small[2] = {32, 64};

    cr_expect(sl_fp_eligible("model.layers.0.mlp.gate_proj.weight", SL_DT_BF16, m, 2));
    cr_expect(sl_fp_eligible("lm_head.weight", SL_DT_F32, m, 2));
    cr_expect(sl_fp_eligible("model.layers.0.self_attn.q_proj.weight", SL_DT_GGML + 1, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.mlp.gate.weight", SL_DT_BF16, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.block_sparse_moe.gate.weight", SL_DT_BF16, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.input_layernorm.weight", SL_DT_BF16, v, 1));
    cr_expect(!sl_fp_eligible("model.layers.0.self_attn.q_norm.weight", SL_DT_BF16, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.self_attn.q_proj.bias", SL_DT_BF16, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.mlp.down_proj.weight_scale_inv", SL_DT_F32, m, 2));
    cr_expect(!sl_fp_eligible("transformer.wpe.weight", SL_DT_F32, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.mlp.down_proj.weight", SL_DT_F8_E4M3, m, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.mlp.down_proj.weight", SL_DT_BF16, small, 2));
    cr_expect(!sl_fp_eligible("model.layers.0.mlp.down_proj.weight", SL_DT_BF16, m, 3));
}

Test(fp_util, unpermute_inverts_llama_cpp)
{
    enum { R = 64, C = 3 };
    float in[R * C], perm[R * C], back[R * C];
    struct sl_error err;

    for (int i = 0; i < R * C; i++)
        in[i] = (float)i;
    permute_rows(in, perm, R, C, 4);
    cr_assert(memcmp(in, perm, sizeof(in)) != 0);
    cr_assert_eq(sl_fp_unpermute_qk(perm, back, R, C, 4, &err), SL_OK);
    cr_assert(memcmp(in, back, sizeof(in)) == 0);
    /* head 0, head_dim 16: GGUF row 1 is HF row 8 */
    cr_expect_eq(perm[1 * C], in[8 * C]);
    cr_expect_eq(sl_fp_unpermute_qk(perm, back, R, C, 5, &err), SL_EINPUT);
    cr_expect_eq(sl_fp_unpermute_qk(perm, back, R, C, 0, &err), SL_EINPUT);
}

Test(fp_util, q8_0_reference)
{
    float x[64], y[64];

    /* block 0: amax 1.27 -> d = 0.01 (fp16 0.0099945068...), q = round(x / d) */
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) * 0.0397f;
    x[5] = 1.27f;
    for (int i = 32; i < 64; i++)
        x[i] = 0;
    sl_fp_q8_0_roundtrip(x, y, 64);
    {
        float d = 1.27f / 127, id = 1.0f / d, dd;
        uint16_t h;
        sl_fp_from_float(SL_FP_F16, &d, &h, 1);
        sl_fp_to_float(SL_FP_F16, &h, &dd, 1);
        cr_expect_eq(y[5], 127 * dd);
        for (int i = 0; i < 32; i++)
            cr_expect_eq(y[i], roundf(x[i] * id) * dd, "element %d", i);
    }
    for (int i = 32; i < 64; i++)
        cr_expect_eq(y[i], 0.0f);
    /* a short tail is copied; NaN gives NaN, not a crash */
    x[0] = NAN;
    sl_fp_q8_0_roundtrip(x, y, 40);
    cr_expect(isnan(y[1]) || isnan(y[0]));
    cr_expect_eq(y[39], x[39]);
}

Test(fp_util, conversions)
{
    struct {
        float f;
        uint16_t h, b;
    } v[] = {
        {1.0f, 0x3c00, 0x3f80},           {-2.0f, 0xc000, 0xc000}, {65504.0f, 0x7bff, 0x4780},
        {65520.0f, 0x7c00, 0x4780},       /* fp16: ties to even, to infinity */
        {0x1p-24f, 0x0001, 0x3380},       /* smallest fp16 subnormal */
        {0x1p-25f, 0x0000, 0x3300},       /* a tie between 0 and it: to even */
        {0x1.8p-25f, 0x0001, 0x3340},     /* above the tie */
        {0x1p-14f, 0x0400, 0x3880},       /* smallest fp16 normal */
        {1.00048828125f, 0x3c00, 0x3f80}, /* 1 + 2^-11: fp16 tie to even */
        {1.0029296875f, 0x3c03, 0x3f80},  /* 1 + 3 * 2^-10 */
        {INFINITY, 0x7c00, 0x7f80},
    };
    float f;
    uint16_t h;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sl_fp_from_float(SL_FP_F16, &v[i].f, &h, 1);
        cr_expect_eq(h, v[i].h, "fp16 of %a: %04x", (double)v[i].f, h);
        sl_fp_from_float(SL_FP_BF16, &v[i].f, &h, 1);
        cr_expect_eq(h, v[i].b, "bf16 of %a: %04x", (double)v[i].f, h);
    }
    /* every fp16 value survives fp16 -> f32 -> fp16 */
    for (uint32_t x = 0; x < 65536; x++) {
        uint16_t in = (uint16_t)x, out;
        sl_fp_to_float(SL_FP_F16, &in, &f, 1);
        sl_fp_from_float(SL_FP_F16, &f, &out, 1);
        if ((in & 0x7c00) == 0x7c00 && (in & 0x3ff))
            cr_expect(isnan(f) && (out & 0x7c00) == 0x7c00 && (out & 0x3ff));
        else
            cr_expect_eq(out, in, "%04x -> %a -> %04x", in, (double)f, out);
    }
    f = NAN;
    sl_fp_from_float(SL_FP_BF16, &f, &h, 1);
    cr_expect((h & 0x7f80) == 0x7f80 && (h & 0x7f));
}

Test(fp_util, keys)
{
    unsigned char a[32], b[32], c[32];
    struct sl_fp_recipient r1, r2;

    sl_fp_recipient_key(master, 1, a);
    sl_fp_recipient_key(master, 2, b);
    cr_expect(memcmp(a, b, 32) != 0);
    sl_fp_commitment(a, c);
    cr_expect(memcmp(a, c, 32) != 0);
    sl_fp_recipient_init(master, 1, &r1);
    sl_fp_recipient_init(master, 1, &r2);
    cr_expect(memcmp(&r1, &r2, sizeof(r1)) == 0);
    cr_expect(memcmp(r1.key, a, 32) == 0);
    sl_fp_lineage_key(master, "model:1", a);
    sl_fp_lineage_key(master, "model:2", b);
    cr_expect(memcmp(a, b, 32) != 0);
}

Test(fp_util, prf_is_seekable)
{
    unsigned char key[32] = {9}, whole[16 * 40], part[16 * 7];
    struct sl_prf *p = sl_prf_new(key);

    sl_prf_blocks(p, 77, 0xfffffff0ull, whole, sizeof(whole)); /* crosses 2^32 */
    sl_prf_blocks(p, 77, 0xfffffff0ull + 13, part, sizeof(part));
    cr_expect(memcmp(whole + 16 * 13, part, sizeof(part)) == 0);
    sl_prf_blocks(p, 78, 0xfffffff0ull + 13, part, 5);
    cr_expect(memcmp(whole + 16 * 13, part, 5) != 0);
    sl_prf_free(p);
}

Test(fp_score, threshold)
{
    double z = sl_fp_threshold(1000000, 10000, 1e-9);
    double m = 1e6, b, bound;

    /* n * bound(z) == fp_total at the threshold */
    b = sqrt(1199.0); /* about the largest term */
    bound = exp(-(z * z / 2) / (1 + b * z / (3 * sqrt(m))));
    cr_expect(z > 7.5 && z < 9, "z = %.3f", z);
    cr_expect_float_eq(10000 * bound, 1e-9, 1e-10, "%g", 10000 * bound);
    cr_expect_gt(sl_fp_threshold(10000, 10000, 1e-9), z);
    cr_expect(isinf(sl_fp_threshold(0, 10, 1e-9)));
}

/* ---- beyond the list: measured for docs/fingerprint.md ---- */

struct avg_ctx {
    unsigned char *img[8];
    int n;
};

static void s_avg_n(const struct model *m, const struct ten *t, const unsigned char *img,
                    float *out, float **ref, void *ctx)
{
    const struct avg_ctx *a = ctx;
    uint64_t n = t->rows * t->cols;
    float *b = malloc(n * sizeof(float));
    unsigned char *r = malloc(2 * n);

    memset(out, 0, n * sizeof(float));
    for (int k = 0; k < a->n; k++) {
        sl_fp_to_float(t->dt, a->img[k] + t->offset, b, n);
        for (uint64_t i = 0; i < n; i++)
            out[i] += b[i] / (float)a->n;
    }
    sl_fp_from_float(SL_FP_BF16, out, r, n);
    sl_fp_to_float(SL_FP_BF16, r, out, n);
    free(b);
    free(r);
}

/* Gaussian drift of `sigma` ulps on every weight, re-rounded (a stand-in
 * for a short fine-tune); read without a reference, so observe falls back to
 * the sign rule against the original. */
static void s_drift(const struct model *m, const struct ten *t, const unsigned char *img,
                    float *out, float **ref, void *ctx)
{
    double sigma = *(const double *)ctx;
    uint64_t n = t->rows * t->cols;
    unsigned char *r = malloc(2 * n);

    sl_fp_to_float(t->dt, img + t->offset, out, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        float ulp;
        memcpy(&u, &out[i], 4);
        u &= 0x7f800000u;
        memcpy(&ulp, &u, 4);
        out[i] += (float)(sigma * gauss()) * ulp / 128;
    }
    sl_fp_from_float(SL_FP_BF16, out, r, n);
    sl_fp_to_float(SL_FP_BF16, r, out, n);
    free(r);
}

Test(fp_limits, coalitions, .init = setup_bf16, .fini = teardown, .timeout = 200)
{
    static const int sizes[] = {3, 4, 8};
    uint32_t g[8];
    struct avg_ctx a;
    struct result r;
    char label[64];

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        a.n = sizes[s];
        for (int k = 0; k < a.n; k++) {
            g[k] = FIRST_ID + 10 * (uint32_t)k + 3;
            a.img[k] = marked_copy(&M, P, g[k]);
        }
        snprintf(label, sizeof(label), "average of %d", a.n);
        trace(&M, P, a.img[0], s_avg_n, &a, g, (size_t)a.n, &r, label);
        cr_expect_lt(r.zmax_innocent, Z_INNOCENT);
        for (int k = 0; k < a.n; k++)
            free(a.img[k]);
    }
}

Test(fp_limits, drift, .init = setup_bf16, .fini = teardown, .timeout = 200)
{
    static const double sigmas[] = {0.5, 1.0, 2.0, 4.0};
    uint32_t g[1] = {1066};
    unsigned char *c = marked_copy(&M, P, g[0]);
    struct result r;
    char label[64];

    for (size_t s = 0; s < sizeof(sigmas) / sizeof(sigmas[0]); s++) {
        rng_state = 17;
        snprintf(label, sizeof(label), "drift sigma %.1f ulp", sigmas[s]);
        trace(&M, P, c, s_drift, (void *)&sigmas[s], g, 1, &r, label);
        cr_expect_lt(r.zmax_innocent, Z_INNOCENT);
    }
    free(c);
}
