/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys, eligibility, plans (positions, biases, directions, payload chips of
 * a lineage) and marking while streaming. The derivations are written down
 * in fp_int.h; reading a suspect is in fp_read.c, conversions and alignment
 * helpers in fp_util.c.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "formats/formats.h"
#include "fp/fp_int.h"

#include "common/banned.h"

__extension__ typedef unsigned __int128 u128;

/* ---- keys ---- */

static void hmac_label(const unsigned char *key, const char *label, const void *msg, size_t n,
                       unsigned char out[32])
{
    size_t ll = strlen(label) + 1;
    unsigned char stackbuf[256], *m = stackbuf;

    if (ll + n > sizeof(stackbuf)) {
        m = malloc(ll + n);
        if (!m)
            abort();
    }
    memcpy(m, label, ll);
    if (n)
        memcpy(m + ll, msg, n);
    sl_hmac_sha256(key, SL_FP_KEY_LEN, m, ll + n, out);
    if (m != stackbuf)
        free(m);
}

static void be32(uint32_t v, unsigned char b[4])
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

void sl_fp_lineage_key(const unsigned char master[SL_FP_KEY_LEN], const char *lineage,
                       unsigned char out[SL_FP_KEY_LEN])
{
    hmac_label(master, "sluice-fp-lineage", lineage, strlen(lineage), out);
}

void sl_fp_recipient_key(const unsigned char master[SL_FP_KEY_LEN], uint32_t recipient,
                         unsigned char out[SL_FP_KEY_LEN])
{
    unsigned char b[4];

    be32(recipient, b);
    hmac_label(master, "sluice-fp-recipient", b, 4, out);
}

void sl_fp_commitment(const unsigned char rkey[SL_FP_KEY_LEN], unsigned char out[32])
{
    static const char label[] = "sluice-fp-commit";
    unsigned char m[sizeof(label) - 1 + SL_FP_KEY_LEN];

    memcpy(m, label, sizeof(label) - 1);
    memcpy(m + sizeof(label) - 1, rkey, SL_FP_KEY_LEN);
    sl_sha256(m, sizeof(m), out);
}

void sl_fp_recipient_init(const unsigned char master[SL_FP_KEY_LEN], uint32_t id,
                          struct sl_fp_recipient *r)
{
    unsigned char b[4], mac[32];

    memset(r, 0, sizeof(*r));
    r->id = id;
    sl_fp_recipient_key(master, id, r->key);
    be32(id, b);
    hmac_label(master, "sluice-fp-mac", b, 4, mac);
    r->mac = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
    sl_wipe(mac, sizeof(mac));
}

/* ---- what gets marked ---- */

double sl_fp_density(uint64_t eligible)
{
    double d = 4194304.0 / (double)(eligible ? eligible : 1);

    return d < 1e-3 ? d : 1e-3;
}

bool sl_fp_dtype_of(unsigned dtype, enum sl_fp_dtype *out)
{
    switch (dtype) {
    case SL_DT_BF16:
    case SL_DT_GGML + 30:
        *out = SL_FP_BF16;
        return true;
    case SL_DT_F16:
    case SL_DT_GGML + 1:
        *out = SL_FP_F16;
        return true;
    case SL_DT_F32:
    case SL_DT_GGML + 0:
        *out = SL_FP_F32;
        return true;
    default:
        return false;
    }
}

/* Names of tensors that are not weight matrices, or whose marks would do
 * harm (routers: a small change can flip an expert choice). Matched on the
 * lower-cased name. */
static const char *const skip_parts[] = {
    "norm",      "bias",     "router", "scale",    "position", "pos_emb",
    "rotary",    "inv_freq", "wpe",    "ln_",      ".gate.",   "shared_expert_gate",
    "gate_inp.", "alibi",    "rel_",   "relative", "mask",
};

bool sl_fp_eligible(const char *name, unsigned dtype, const uint64_t *shape, size_t ndim)
{
    enum sl_fp_dtype dt;
    char low[512];
    size_t n;

    if (!name || !shape || ndim != 2 || !sl_fp_dtype_of(dtype, &dt))
        return false;
    if (shape[0] == 0 || shape[1] == 0 || shape[0] > SL__FP_MAXELEM / shape[1] ||
        shape[0] * shape[1] < 4096)
        return false;
    n = strlen(name);
    if (n == 0 || n >= sizeof(low))
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    for (size_t i = 0; i < sizeof(skip_parts) / sizeof(skip_parts[0]); i++)
        if (strstr(low, skip_parts[i]))
            return false;
    /* "mlp.gate" as a whole component (a router), not gate_proj */
    if (n >= 5 && strcmp(low + n - 5, ".gate") == 0)
        return false;
    return true;
}

/* ---- biases ---- */

static uint16_t bias_table[65536];
static double bias_bmax;
static pthread_once_t bias_once = PTHREAD_ONCE_INIT;

static void bias_init(void)
{
    const double pi = 3.14159265358979323846;
    double t = 1.0 / (300.0 * SL__FP_C0), tp = asin(sqrt(t));
    unsigned lo = 65535;

    for (unsigned u = 0; u < 65536; u++) {
        double r = tp + ((double)u + 0.5) / 65536.0 * (pi / 2 - 2 * tp);
        double s = sin(r), v = floor(s * s * 65536.0 + 0.5);
        if (v < 1)
            v = 1;
        if (v > 65535)
            v = 65535;
        bias_table[u] = (uint16_t)v;
        if (bias_table[u] < lo)
            lo = bias_table[u];
        if (65536u - bias_table[u] < lo)
            lo = 65536u - bias_table[u];
    }
    bias_bmax = sqrt((65536.0 - lo) / lo);
}

double sl__fp_bmax(void)
{
    pthread_once(&bias_once, bias_init);
    return bias_bmax;
}

/* ---- plans ---- */

/* -log2(u / 2^64) with 24 fraction bits, by integer squaring: the same bits
 * on every machine, whatever its libm. */
static uint64_t neglog2_q24(uint64_t u)
{
    unsigned n;
    uint64_t m, frac = 0;

    if (u == 0)
        u = 1;
    n = 63 - (unsigned)__builtin_clzll(u); /* u = 2^n * (m / 2^63) */
    m = u << (63 - n);
    for (int i = 0; i < 24; i++) {
        u128 sq = (u128)m * m;
        frac <<= 1;
        if (sq >> 127) {
            m = (uint64_t)(sq >> 64);
            frac |= 1;
        } else {
            m = (uint64_t)(sq >> 63);
        }
    }
    /* log2(u) = n + frac / 2^24; -log2(u / 2^64) = 64 - n - frac / 2^24 */
    return ((uint64_t)(64 - n) << 24) - frac;
}

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
    const struct sl__fp_tensor *t = ctx;

    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int cmp_off(const void *a, const void *b, void *ctx)
{
    const struct sl__fp_tensor *t = ctx;
    uint64_t x = t[*(const size_t *)a].offset, y = t[*(const size_t *)b].offset;

    return x < y ? -1 : x > y;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        abort();
    return q;
}

/* Appends the positions of tensor `t` to the plan. */
static enum sl_err gen_positions(struct sl_fp_plan *p, const unsigned char lkey[SL_FP_KEY_LEN],
                                 struct sl__fp_tensor *t, uint64_t cq, size_t *cap,
                                 struct sl_error *err)
{
    unsigned char tkey[32], h[32], ks[16 * 256];
    struct sl_prf *prf;
    uint64_t e = 0, k = 0, have = 0;
    size_t ksn = 0;
    enum sl_err rc = SL_OK;

    hmac_label(lkey, "sluice-fp-tensor", t->name, strlen(t->name), tkey);
    hmac_label(lkey, "sluice-fp-nonce", t->name, strlen(t->name), h);
    t->nonce = (uint64_t)h[0] << 56 | (uint64_t)h[1] << 48 | (uint64_t)h[2] << 40 |
               (uint64_t)h[3] << 32 | (uint64_t)h[4] << 24 | (uint64_t)h[5] << 16 |
               (uint64_t)h[6] << 8 | h[7];
    t->first = p->npos;
    prf = sl_prf_new(tkey);
    for (;;) {
        const unsigned char *b;
        uint64_t gap;
        uint32_t meta;
        if (k == have) {
            sl_prf_blocks(prf, 0, k, ks, sizeof(ks));
            have = k + sizeof(ks) / 16;
            ksn = 0;
        }
        b = ks + 16 * ksn++;
        k++;
        gap = 1 + (uint64_t)(((u128)neglog2_q24(le64(b)) * cq) >> 56);
        if (k == 1 ? gap > t->nelem : gap >= t->nelem - e)
            break;
        e = k == 1 ? gap - 1 : e + gap;
        if (p->npos == SL__FP_MAXPOS) {
            rc = sl_error_set(err, SL_ELIMIT, "the fingerprint plan exceeds %zu positions",
                              SL__FP_MAXPOS);
            break;
        }
        if (p->npos == *cap) {
            *cap = *cap < 1024 ? 1024 : *cap + *cap / 2;
            p->idx = xrealloc(p->idx, *cap * sizeof(*p->idx));
            p->meta = xrealloc(p->meta, *cap * sizeof(*p->meta));
        }
        if ((b[11] & 3) == 0)
            meta = SL__FP_PAYLOAD | (b[12] & SL__FP_BIT_MASK) | (b[12] & SL__FP_CHIP);
        else
            meta = bias_table[sl__ld16(b + 8)];
        if (b[10] & 1)
            meta |= SL__FP_UP;
        p->idx[p->npos] = e;
        p->meta[p->npos] = meta;
        p->npos++;
    }
    t->npos = p->npos - t->first;
    sl_prf_free(prf);
    sl_wipe(tkey, sizeof(tkey));
    sl_wipe(ks, sizeof(ks));
    return rc;
}

enum sl_err sl_fp_plan_new(const unsigned char lineage_key[SL_FP_KEY_LEN], double density,
                           const struct sl_fp_tensor *tensors, size_t n, struct sl_fp_plan **out,
                           struct sl_error *err)
{
    struct sl_fp_plan *p;
    size_t cap = 0;
    uint64_t cq;
    double est = 0;
    enum sl_err rc = SL_OK;

    *out = NULL;
    if (!(density >= 1e-9 && density <= 0.5))
        return sl_error_set(err, SL_EINPUT, "fingerprint density %g is not in [1e-9, 0.5]",
                            density);
    pthread_once(&bias_once, bias_init);
    p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->density = density;
    p->t = calloc(n ? n : 1, sizeof(*p->t));
    p->by_name = calloc(n ? n : 1, sizeof(*p->by_name));
    p->by_off = calloc(n ? n : 1, sizeof(*p->by_off));
    p->maxend = calloc(n ? n : 1, sizeof(*p->maxend));
    if (!p->t || !p->by_name || !p->by_off || !p->maxend)
        abort();
    p->nt = n;
    for (size_t i = 0; i < n; i++) {
        const struct sl_fp_tensor *x = &tensors[i];
        struct sl__fp_tensor *t = &p->t[i];
        if (!x->name || !*x->name) {
            rc = sl_error_set(err, SL_EINPUT, "fingerprint tensor %zu has no name", i);
            goto fail;
        }
        t->name = strdup(x->name);
        if (!t->name)
            abort();
        if (x->dtype != SL_FP_BF16 && x->dtype != SL_FP_F16 && x->dtype != SL_FP_F32) {
            rc = sl_error_set(err, SL_EINPUT, "tensor '%s' has no fingerprint type", x->name);
            goto fail;
        }
        t->dtype = x->dtype;
        t->esize = x->dtype == SL_FP_F32 ? 4 : 2;
        if (x->rows == 0 || x->cols == 0 || x->rows > SL__FP_MAXELEM / x->cols) {
            rc = sl_error_set(err, SL_EINPUT, "tensor '%s' has a bad shape [%llu, %llu]", x->name,
                              (unsigned long long)x->rows, (unsigned long long)x->cols);
            goto fail;
        }
        t->rows = x->rows;
        t->cols = x->cols;
        t->nelem = x->rows * x->cols;
        if (x->offset > UINT64_MAX - t->nelem * t->esize) {
            rc = sl_error_set(err, SL_EINPUT, "tensor '%s' ends past 2^64", x->name);
            goto fail;
        }
        t->offset = x->offset;
        t->end = x->offset + t->nelem * t->esize;
        p->by_name[i] = p->by_off[i] = i;
        est += (double)t->nelem * density;
    }
    qsort_r(p->by_name, n, sizeof(size_t), cmp_name, p->t);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(p->t[p->by_name[i - 1]].name, p->t[p->by_name[i]].name) == 0) {
            rc = sl_error_set(err, SL_EINPUT, "tensor '%s' is listed twice",
                              p->t[p->by_name[i]].name);
            goto fail;
        }
    }
    qsort_r(p->by_off, n, sizeof(size_t), cmp_off, p->t);
    for (size_t i = 0; i < n; i++) {
        uint64_t e = p->t[p->by_off[i]].end;
        p->maxend[i] = i && p->maxend[i - 1] > e ? p->maxend[i - 1] : e;
    }
    if (est > (double)SL__FP_MAXPOS) {
        rc = sl_error_set(err, SL_ELIMIT,
                          "the fingerprint plan would have about %.0f positions (limit %zu)", est,
                          SL__FP_MAXPOS);
        goto fail;
    }
    cap = (size_t)(est + 6 * sqrt(est) + 64 * (double)n + 64);
    p->idx = xrealloc(NULL, cap * sizeof(*p->idx));
    p->meta = xrealloc(NULL, cap * sizeof(*p->meta));
    /* c = (1 / density - 0.5) ln 2 with 32 fraction bits; one IEEE product */
    cq = (uint64_t)ldexp((1.0 / density - 0.5) * 0.69314718055994530942, 32);
    for (size_t i = 0; i < n && !rc; i++)
        rc = gen_positions(p, lineage_key, &p->t[i], cq, &cap, err);
    if (rc)
        goto fail;
    *out = p;
    return SL_OK;
fail:
    sl_fp_plan_free(p);
    return rc;
}

void sl_fp_plan_free(struct sl_fp_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nt; i++)
        free(p->t[i].name);
    free(p->t);
    free(p->by_name);
    free(p->by_off);
    free(p->maxend);
    free(p->idx);
    free(p->meta);
    free(p);
}

uint64_t sl_fp_plan_positions(const struct sl_fp_plan *p)
{
    return p ? p->npos : 0;
}

size_t sl__fp_find(const struct sl_fp_plan *p, const char *name)
{
    size_t lo = 0, hi = p->nt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->t[p->by_name[mid]].name, name);
        if (c == 0)
            return p->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* ---- marking ---- */

/* The first k in offset order whose tensor (or an earlier one) ends after
 * `at`; tensors from there on may overlap [at, ...). */
static size_t first_after(const struct sl_fp_plan *p, uint64_t at)
{
    size_t lo = 0, hi = p->nt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->maxend[mid] > at)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Index (in the plan) of the first position of `t` at or after element `e`. */
static size_t lower_pos(const struct sl_fp_plan *p, const struct sl__fp_tensor *t, uint64_t e)
{
    size_t lo = t->first, hi = t->first + t->npos;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->idx[mid] < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool is_position(const struct sl_fp_plan *p, const struct sl__fp_tensor *t, uint64_t e)
{
    size_t k = lower_pos(p, t, e);

    return k < t->first + t->npos && p->idx[k] == e;
}

/* The span of sl_fp_mark_span, with the sizes of the elements cut at the
 * start and the end (0 when none is cut). */
static void span(const struct sl_fp_plan *p, uint64_t offset, uint64_t len, uint64_t *start,
                 uint64_t *end, unsigned *es_head, unsigned *es_tail)
{
    uint64_t s = offset, e = len > UINT64_MAX - offset ? UINT64_MAX : offset + len;

    *start = s;
    *end = e;
    *es_head = *es_tail = 0;
    if (!p || len == 0)
        return;
    for (size_t k = first_after(p, s); k < p->nt && p->t[p->by_off[k]].offset < e; k++) {
        const struct sl__fp_tensor *t = &p->t[p->by_off[k]];
        if (t->end <= s)
            continue;
        if (s > t->offset && (s - t->offset) % t->esize) {
            uint64_t a = s - (s - t->offset) % t->esize;
            if (a < *start) {
                *start = a;
                *es_head = t->esize;
            }
        }
        if (e < t->end && e > t->offset && (e - t->offset) % t->esize) {
            uint64_t b = e + (t->esize - (e - t->offset) % t->esize);
            if (b > *end) {
                *end = b;
                *es_tail = t->esize;
            }
        }
    }
}

void sl_fp_mark_span(const struct sl_fp_plan *p, uint64_t offset, uint64_t len, uint64_t *start,
                     uint64_t *end)
{
    unsigned h, t;

    span(p, offset, len, start, end, &h, &t);
}

#define KS_ORDS 4096 /* recipient symbols generated at a time */

static inline void mark_one(unsigned char *q, enum sl_fp_dtype dt, bool up)
{
    switch (dt) {
    case SL_FP_BF16: {
        uint16_t m;
        if (sl__edit_bf16(sl__ld16(q), up, &m))
            sl__st16(q, m);
        break;
    }
    case SL_FP_F16: {
        uint16_t m;
        if (sl__edit_f16(sl__ld16(q), up, &m))
            sl__st16(q, m);
        break;
    }
    case SL_FP_F32: {
        uint32_t m;
        if (sl__edit_f32(sl__ld32(q), up, &m))
            sl__st32(q, m);
        break;
    }
    }
}

size_t sl_fp_mark(const struct sl_fp_plan *p, const struct sl_fp_recipient *r, uint64_t offset,
                  unsigned char *buf, size_t len)
{
    uint64_t end = len > UINT64_MAX - offset ? UINT64_MAX : offset + len;
    uint64_t word;
    unsigned char ks[2 * KS_ORDS];
    struct sl_prf *prf = NULL;
    size_t cut = 0;

    if (!p || !r || len == 0 || p->npos == 0)
        return 0;
    word = (uint64_t)r->id << 32 | r->mac;
    for (size_t k = first_after(p, offset); k < p->nt && p->t[p->by_off[k]].offset < end; k++) {
        const struct sl__fp_tensor *t = &p->t[p->by_off[k]];
        uint64_t bs, be, e0, e1;
        size_t j, j1;
        if (t->end <= offset || t->npos == 0)
            continue;
        bs = (offset > t->offset ? offset : t->offset) - t->offset;
        be = (end < t->end ? end : t->end) - t->offset;
        e0 = (bs + t->esize - 1) / t->esize;
        e1 = be / t->esize;
        if (bs % t->esize && is_position(p, t, bs / t->esize))
            cut++;
        if (be % t->esize && be / t->esize >= e0 && is_position(p, t, be / t->esize))
            cut++;
        if (e1 <= e0)
            continue;
        j = lower_pos(p, t, e0);
        j1 = lower_pos(p, t, e1);
        if (j == j1)
            continue;
        if (!prf)
            prf = sl_prf_new(r->key);
        while (j < j1) {
            /* symbols for ordinals [o0, o0 + KS_ORDS), o0 a multiple of 8 */
            size_t o0 = (j - t->first) & ~(size_t)7;
            size_t stop = t->first + o0 + KS_ORDS < j1 ? t->first + o0 + KS_ORDS : j1;
            size_t nb = (stop - t->first - o0 + 7) / 8;
            sl_prf_blocks(prf, t->nonce, o0 / 8, ks, 16 * nb);
            for (; j < stop; j++) {
                uint32_t meta = p->meta[j];
                bool x;
                if (meta & SL__FP_PAYLOAD) {
                    unsigned bit = meta & SL__FP_BIT_MASK;
                    x = (((word >> (63 - bit)) & 1) ^ ((meta & SL__FP_CHIP) != 0)) != 0;
                } else {
                    size_t o = j - t->first - o0;
                    x = sl__ld16(ks + 2 * o) < (meta & SL__FP_THR_MASK);
                }
                if (x)
                    mark_one(buf + (t->offset + p->idx[j] * t->esize - offset), t->dtype,
                             (meta & SL__FP_UP) != 0);
            }
        }
    }
    sl_prf_free(prf);
    return cut;
}

size_t sl_fp_mark_range(const struct sl_fp_plan *p, const struct sl_fp_recipient *r,
                        uint64_t offset, unsigned char *buf, size_t len, const unsigned char *head,
                        const unsigned char *tail)
{
    unsigned char small[16], eh[8], et[8];
    uint64_t s, e;
    size_t hl, tl, hn = 0, tn = 0;
    unsigned esh, est;

    span(p, offset, len, &s, &e, &esh, &est);
    hl = (size_t)(offset - s);
    tl = (size_t)(e - offset - len);
    if ((hl && !head) || (tl && !tail))
        return sl_fp_mark(p, r, offset, buf, len);
    if (hl == 0 && tl == 0)
        return sl_fp_mark(p, r, offset, buf, len);
    if (hl + len + tl <= sizeof(small)) {
        /* a few bytes: the whole span in one place */
        memcpy(small, head, hl);
        memcpy(small + hl, buf, len);
        memcpy(small + hl + len, tail, tl);
        sl_fp_mark(p, r, s, small, hl + len + tl);
        memcpy(buf, small + hl, len);
        return 0;
    }
    /* the cut elements on their own (len > 9: they are distinct and each
     * has fewer than 4 bytes in buf), then the whole ones in place */
    if (hl) {
        hn = esh - hl;
        memcpy(eh, head, hl);
        memcpy(eh + hl, buf, hn);
        sl_fp_mark(p, r, s, eh, esh);
    }
    if (tl) {
        tn = est - tl;
        memcpy(et, buf + len - tn, tn);
        memcpy(et + tn, tail, tl);
        sl_fp_mark(p, r, e - est, et, est);
    }
    sl_fp_mark(p, r, offset, buf, len);
    memcpy(buf, eh + hl, hn);
    memcpy(buf + len - tn, et, tn);
    return 0;
}
