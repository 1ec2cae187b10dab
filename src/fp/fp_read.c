/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a suspect: observing each position (unchanged, moved, unread)
 * against the original or a re-quantised reference, scoring recipients with
 * the symmetric Tardos score (Škorić et al.), and decoding the payload.
 * Scoring thousands of recipients is the hot path: per recipient and tensor
 * one AES-CTR keystream over the positions, compared with the thresholds and
 * summed in fixed point in loops the compiler vectorises.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "fp/fp_int.h"

#include "common/banned.h"

struct sl_fp_obs *sl_fp_obs_new(const struct sl_fp_plan *p)
{
    struct sl_fp_obs *o = calloc(1, sizeof(*o));

    if (!o)
        abort();
    o->p = p;
    o->state = calloc(p->npos ? p->npos : 1, 1);
    o->d = calloc(p->nt ? p->nt : 1, sizeof(*o->d));
    if (!o->state || !o->d)
        abort();
    return o;
}

void sl_fp_obs_free(struct sl_fp_obs *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->p->nt; i++) {
        free(o->d[i].thr);
        free(o->d[i].c);
    }
    free(o->d);
    free(o->state);
    free(o);
}

/* ---- observing ---- */

/* Against the original (ref NULL): the nearest of "unchanged" and "moved"
 * when it is within a quarter step; `alt` adds the bf16 roundings of both
 * (f32 originals). */
static uint8_t classify_exact(double v, double o, double m, bool alt, double ob, double mb)
{
    double du = fabs(v - o), dm = fabs(v - m), tol = 0.25 * fabs(m - o);

    if (alt) {
        if (fabs(v - ob) < du)
            du = fabs(v - ob);
        if (fabs(v - mb) < dm)
            dm = fabs(v - mb);
    }
    if (du <= tol && du < dm)
        return SL__FP_UNCHANGED;
    if (dm <= tol && dm < du)
        return SL__FP_MOVED;
    return SL__FP_UNREAD;
}

/* Against a re-quantised reference: the sign of the change. */
static uint8_t classify_ref(double v, double r, bool up)
{
    double d = up ? v - r : r - v;

    if (!isfinite(r))
        return SL__FP_UNREAD;
    return d > 0 ? SL__FP_MOVED : d < 0 ? SL__FP_UNCHANGED : SL__FP_UNREAD;
}

static uint8_t observe_one(const struct sl__fp_tensor *t, uint32_t meta, const unsigned char *q,
                           float v, const float *ref, uint64_t e)
{
    bool up = (meta & SL__FP_UP) != 0, alt = false;
    double o, m, ob = 0, mb = 0;

    switch (t->dtype) {
    case SL_FP_BF16: {
        uint16_t b = sl__ld16(q), x;
        if (!sl__edit_bf16(b, up, &x))
            return SL__FP_SKIPPED;
        o = sl__bf16_f(b);
        m = sl__bf16_f(x);
        break;
    }
    case SL_FP_F16: {
        uint16_t b = sl__ld16(q), x;
        if (!sl__edit_f16(b, up, &x))
            return SL__FP_SKIPPED;
        o = sl__f16_f(b);
        m = sl__f16_f(x);
        break;
    }
    default: {
        uint32_t b = sl__ld32(q), x;
        if (!sl__edit_f32(b, up, &x))
            return SL__FP_SKIPPED;
        o = sl__f32(b);
        m = sl__f32(x);
        ob = sl__bf16_f(sl__f_bf16((float)o));
        mb = sl__bf16_f(sl__f_bf16((float)m));
        alt = true;
        break;
    }
    }
    if (!isfinite(v))
        return SL__FP_UNREAD;
    if (ref)
        return classify_ref(v, ref[e], up);
    return classify_exact(v, o, m, alt, ob, mb);
}

static void rebuild_dense(struct sl_fp_obs *o, size_t ti)
{
    const struct sl_fp_plan *p = o->p;
    const struct sl__fp_tensor *t = &p->t[ti];
    struct sl__fp_dense *d = &o->d[ti];
    size_t n = (t->npos + SL__FP_PAD - 1) / SL__FP_PAD * SL__FP_PAD, lo = n, hi = 0;

    if (d->cap < n) {
        free(d->thr);
        free(d->c);
        d->thr = malloc(n * sizeof(*d->thr));
        d->c = malloc(n * sizeof(*d->c));
        if (!d->thr || !d->c)
            abort();
        d->cap = n;
    }
    memset(d->thr, 0, n * sizeof(*d->thr));
    memset(d->c, 0, n * sizeof(*d->c));
    d->base = 0;
    d->m0 = 0;
    for (size_t j = 0; j < t->npos; j++) {
        uint32_t meta = p->meta[t->first + j];
        uint8_t st = o->state[t->first + j];
        double pr, a, b;
        int32_t cq;
        int64_t bq;
        if ((meta & SL__FP_PAYLOAD) || (st != SL__FP_MOVED && st != SL__FP_UNCHANGED))
            continue;
        d->thr[j] = (uint16_t)(meta & SL__FP_THR_MASK);
        pr = d->thr[j] / 65536.0;
        a = sqrt((1 - pr) / pr);
        b = sqrt(pr / (1 - pr));
        cq = (int32_t)floor((a + b) * SL__FP_Q + 0.5);
        bq = (int64_t)floor(b * SL__FP_Q + 0.5);
        /* moved: X ? +a : -b; unchanged: X ? -a : +b; S = sum b_i + sum X c_i */
        if (st == SL__FP_MOVED) {
            d->base -= bq;
            d->c[j] = cq;
        } else {
            d->base += bq;
            d->c[j] = -cq;
        }
        d->m0++;
        if (j < lo)
            lo = j;
        hi = j + 1;
    }
    if (d->m0 == 0) {
        d->lo = d->hi = 0;
        return;
    }
    d->lo = lo / SL__FP_PAD * SL__FP_PAD;
    d->hi = (hi + SL__FP_PAD - 1) / SL__FP_PAD * SL__FP_PAD;
}

enum sl_err sl_fp_observe(struct sl_fp_obs *o, const char *name, enum sl_fp_dtype dtype,
                          const void *orig, const float *suspect, const float *ref,
                          struct sl_error *err)
{
    const struct sl_fp_plan *p = o->p;
    const unsigned char *ob = orig;
    const struct sl__fp_tensor *t;
    size_t ti = sl__fp_find(p, name);

    if (ti == SIZE_MAX)
        return sl_error_set(err, SL_ENOTFOUND, "tensor '%s' carries no fingerprint", name);
    t = &p->t[ti];
    if (dtype != t->dtype)
        return sl_error_set(err, SL_EINPUT,
                            "tensor '%s': the original's type differs from the plan's", name);
    size_t marked = 0, read = 0;

    for (size_t j = 0; j < t->npos; j++) {
        size_t k = t->first + j;
        uint64_t e = p->idx[k];
        uint8_t st = observe_one(t, p->meta[k], ob + e * t->esize, suspect[e], ref, e);
        o->state[k] = st;
        marked += st != SL__FP_SKIPPED;
        read += st == SL__FP_MOVED || st == SL__FP_UNCHANGED;
    }
    if (!ref && read * 10 < marked * 9) {
        /* not a near-exact copy (drifted, or quantised in a way we cannot
         * reproduce): read the sign of the change against the original */
        for (size_t j = 0; j < t->npos; j++) {
            size_t k = t->first + j;
            uint64_t e = p->idx[k];
            float orig1;
            if (o->state[k] == SL__FP_SKIPPED)
                continue;
            sl_fp_to_float(t->dtype, ob + e * t->esize, &orig1, 1);
            o->state[k] = isfinite(suspect[e])
                              ? classify_ref(suspect[e], orig1, (p->meta[k] & SL__FP_UP) != 0)
                              : SL__FP_UNREAD;
        }
    }
    rebuild_dense(o, ti);
    return SL_OK;
}

void sl_fp_obs_counts(const struct sl_fp_obs *o, uint64_t *read, uint64_t *total)
{
    uint64_t r = 0, s = 0;

    for (size_t k = 0; k < o->p->npos; k++) {
        uint8_t st = o->state[k];
        r += st == SL__FP_MOVED || st == SL__FP_UNCHANGED;
        s += st == SL__FP_SKIPPED;
    }
    *read = r;
    *total = o->p->npos - s;
}

/* ---- scoring ---- */

#define GROUP 32   /* recipients sharing one pass over a chunk of positions */
#define CHUNK 4096 /* positions per keystream, a multiple of SL__FP_PAD */

/* One padded block: sum of c_j over j with R_j < thr_j. Bounded: 256 terms
 * of at most 35 * 2^16 stay below 2^31. */
static int32_t kernel(const uint16_t *ks, const uint16_t *thr, const int32_t *c)
{
    int32_t acc = 0;

    /* a mask rather than a branch or ?:, so that gcc -O2 vectorises it */
    for (int j = 0; j < SL__FP_PAD; j++)
        acc += c[j] & -(int32_t)(ks[j] < thr[j]);
    return acc;
}

/* Accumulates S (fixed point) of recipients r[0..n). */
static void score_range(const struct sl_fp_obs *o, const struct sl_fp_recipient *r, size_t n,
                        int64_t *acc)
{
    const struct sl_fp_plan *p = o->p;
    struct sl_prf *prf[GROUP] = {0};
    uint16_t *ks = malloc(CHUNK * sizeof(*ks));

    if (!ks)
        abort();
    for (size_t g = 0; g < n; g += GROUP) {
        size_t gn = n - g < GROUP ? n - g : GROUP;
        for (size_t i = 0; i < gn; i++) {
            if (prf[i])
                sl_prf_rekey(prf[i], r[g + i].key);
            else
                prf[i] = sl_prf_new(r[g + i].key);
            acc[g + i] = 0;
        }
        for (size_t ti = 0; ti < p->nt; ti++) {
            const struct sl__fp_dense *d = &o->d[ti];
            if (d->m0 == 0)
                continue;
            for (size_t i = 0; i < gn; i++)
                acc[g + i] += d->base;
            for (size_t lo = d->lo; lo < d->hi; lo += CHUNK) {
                size_t cnt = d->hi - lo < CHUNK ? d->hi - lo : CHUNK;
                for (size_t i = 0; i < gn; i++) {
                    int64_t s = 0;
                    sl_prf_blocks(prf[i], p->t[ti].nonce, lo / 8, (unsigned char *)ks, 2 * cnt);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                    for (size_t j = 0; j < cnt; j++)
                        ks[j] = (uint16_t)(ks[j] >> 8 | ks[j] << 8);
#endif
                    for (size_t b = 0; b < cnt; b += SL__FP_PAD)
                        s += kernel(ks + b, d->thr + lo + b, d->c + lo + b);
                    acc[g + i] += s;
                }
            }
        }
    }
    for (size_t i = 0; i < GROUP; i++)
        sl_prf_free(prf[i]);
    free(ks);
}

struct job {
    const struct sl_fp_obs *o;
    const struct sl_fp_recipient *r;
    size_t n;
    int64_t *acc;
};

static void *job_run(void *arg)
{
    struct job *j = arg;

    score_range(j->o, j->r, j->n, j->acc);
    return NULL;
}

static void finish(const struct sl_fp_obs *o, int64_t acc, struct sl_fp_score *out)
{
    uint64_t m0 = 0;
    double z, bm = sl__fp_bmax();

    for (size_t ti = 0; ti < o->p->nt; ti++)
        m0 += o->d[ti].m0;
    out->readable = m0;
    if (m0 == 0) {
        out->z = 0;
        out->fp_bound = 1;
        return;
    }
    z = (double)acc / SL__FP_Q / sqrt((double)m0);
    out->z = z;
    out->fp_bound = z <= 0 ? 1 : exp(-(z * z / 2) / (1 + bm * z / (3 * sqrt((double)m0))));
}

double sl_fp_threshold(uint64_t readable, uint64_t recipients, double fp_total)
{
    /* solve (z^2 / 2) / (1 + B z / (3 sqrt(m))) = L for z > 0, L = ln(n / fp):
     * z^2 - 2 a z - 2 L = 0 with a = L B / (3 sqrt(m)) */
    double l, a;

    if (readable == 0 || !(fp_total > 0))
        return INFINITY;
    l = log((double)(recipients ? recipients : 1) / fp_total);
    if (l <= 0)
        return 0;
    a = l * sl__fp_bmax() / (3 * sqrt((double)readable));
    return a + sqrt(a * a + 2 * l);
}

void sl_fp_score_many(const struct sl_fp_obs *o, const struct sl_fp_recipient *r, size_t n,
                      struct sl_fp_score *out)
{
    int64_t *acc;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (size_t)ncpu;
    pthread_t th[8];
    struct job jobs[8];
    size_t started = 0;

    if (n == 0)
        return;
    acc = calloc(n, sizeof(*acc));
    if (!acc)
        abort();
    if (nt > (n + GROUP - 1) / GROUP)
        nt = (n + GROUP - 1) / GROUP;
    for (size_t i = 0; i < nt; i++) {
        size_t a = n * i / nt, b = n * (i + 1) / nt;
        jobs[i] = (struct job){o, r + a, b - a, acc + a};
    }
    /* the calling thread takes the first share; a thread that cannot start
     * leaves its share to the caller */
    for (size_t i = 1; i < nt; i++) {
        if (pthread_create(&th[i], NULL, job_run, &jobs[i]) != 0)
            break;
        started = i;
    }
    job_run(&jobs[0]);
    for (size_t i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = started + 1; i < nt; i++)
        job_run(&jobs[i]);
    for (size_t i = 0; i < n; i++)
        finish(o, acc[i], &out[i]);
    free(acc);
}

void sl_fp_score(const struct sl_fp_obs *o, const struct sl_fp_recipient *r,
                 struct sl_fp_score *out)
{
    int64_t acc = 0;

    score_range(o, r, 1, &acc);
    finish(o, acc, out);
}

/* ---- payload ---- */

void sl_fp_decode(const struct sl_fp_obs *o, const unsigned char master[SL_FP_KEY_LEN],
                  uint32_t *id, bool *ok)
{
    const struct sl_fp_plan *p = o->p;
    int64_t vote[64] = {0}, cnt[64] = {0};
    uint64_t word = 0;
    struct sl_fp_recipient r;
    unsigned char a[4], b[4];

    *id = 0;
    *ok = false;
    for (size_t k = 0; k < p->npos; k++) {
        uint32_t meta = p->meta[k];
        uint8_t st = o->state[k];
        unsigned bit;
        bool moved, chip;
        if (!(meta & SL__FP_PAYLOAD) || (st != SL__FP_MOVED && st != SL__FP_UNCHANGED))
            continue;
        bit = meta & SL__FP_BIT_MASK;
        moved = st == SL__FP_MOVED;
        chip = (meta & SL__FP_CHIP) != 0;
        /* symbol = bit xor chip, and "moved" reads symbol 1 */
        vote[bit] += moved != chip ? 1 : -1;
        cnt[bit]++;
    }
    for (int i = 0; i < 64; i++) {
        /* a clear majority: at least one standard deviation of a coin */
        if (cnt[i] == 0 || (double)vote[i] * (double)vote[i] < (double)cnt[i])
            return;
        word = word << 1 | (vote[i] > 0);
    }
    sl_fp_recipient_init(master, (uint32_t)(word >> 32), &r);
    for (int i = 0; i < 4; i++) {
        a[i] = (unsigned char)(r.mac >> (24 - 8 * i));
        b[i] = (unsigned char)(word >> (24 - 8 * i));
    }
    if (sl_secret_eq(a, b, 4)) {
        *id = r.id;
        *ok = true;
    }
    sl_wipe(&r, sizeof(r));
}
