/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/fp/: the plan and observation structures, the derivation of
 * positions and symbols (a format: changing any of it orphans every copy
 * already handed out, so it is written down here and in docs/fingerprint.md),
 * the edit rule and the float conversions shared by marking and reading.
 */
#ifndef SL_FP_FP_INT_H
#define SL_FP_FP_INT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fp/fp.h"

/*
 * KEYS (HMAC-SHA-256 unless said otherwise; "x" || 0 is the label and a NUL)
 *
 *   lineage key     HMAC(master, "sluice-fp-lineage" || 0 || lineage)
 *   recipient key   HMAC(master, "sluice-fp-recipient" || 0 || be32(id))
 *   payload MAC     be32(first 4 bytes of HMAC(master, "sluice-fp-mac" || 0 || be32(id)))
 *   commitment      SHA-256("sluice-fp-commit" || recipient key)
 *   tensor key      HMAC(lineage key, "sluice-fp-tensor" || 0 || name)
 *   tensor nonce    be64(first 8 bytes of HMAC(lineage key, "sluice-fp-nonce" || 0 || name))
 *
 * STREAMS (sl_prf_blocks: AES-256-CTR, block i of stream n is
 * AES_k(be64(n) || be64(i)))
 *
 *   lineage stream of a tensor: key = tensor key, nonce 0; block k describes
 *   position k of the tensor (k counts positions in element order):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      8    U, le64: the gap before this position (below)
 *   8      2    u, le16: the Tardos bias, p = bias_table[u] / 65536
 *   10     1    bit 0: direction s (1 = towards +infinity)
 *   11     1    payload position iff (byte & 3) == 0 (a quarter)
 *   12     1    bits 0-5: payload bit b (0 = top bit of id || mac); bit 6: chip
 *   13     3    unused
 *
 *   recipient stream of a tensor: key = recipient key, nonce = tensor nonce;
 *   bytes 2k and 2k + 1 (le16) are R_k, and the recipient's Tardos symbol at
 *   position k is X = [R_k < thr_k]. At a payload position the symbol is
 *   bit b of (id || mac) xor chip.
 *
 * GAPS: element index of position 0 is G_0 - 1, of position k is
 * idx_{k-1} + G_k, with G = 1 + floor(L * c): L = -log2(max(U, 1) / 2^64)
 * in fixed point with 24 fraction bits (integer squaring, no libm), c =
 * (1 / density - 0.5) * ln 2 in fixed point with 32 fraction bits; the gaps
 * are geometric with mean 1 / density, and bit-exact on every machine.
 *
 * BIASES: bias_table[u] = round(65536 * sin^2(t' + (u + 0.5) / 65536 *
 * (pi / 2 - 2 t'))), clamped to [1, 65535], with t' = asin(sqrt(t)) and the
 * Tardos cutoff t = 1 / (300 * c0), c0 = 4.
 */

#define SL__FP_C0      4.0
#define SL__FP_MAXPOS  ((size_t)1 << 26) /* positions per plan: 16x the 2^22 budget */
#define SL__FP_PAD     256               /* scoring arrays are padded to this */
#define SL__FP_MAXELEM ((uint64_t)1 << 50)
#define SL__FP_Q       65536.0 /* fixed-point scale of score terms */

/* Position meta word. */
#define SL__FP_THR_MASK 0xffffu /* Tardos threshold (1..65535) */
#define SL__FP_UP       (1u << 16)
#define SL__FP_PAYLOAD  (1u << 17)
#define SL__FP_BIT_MASK 0x3fu /* payload: bit number (in the threshold field) */
#define SL__FP_CHIP     0x40u /* payload: chip */

/* Observation states. */
#define SL__FP_UNREAD    0
#define SL__FP_UNCHANGED 1
#define SL__FP_MOVED     2
#define SL__FP_SKIPPED   3

struct sl__fp_tensor {
    char *name;
    enum sl_fp_dtype dtype;
    unsigned esize; /* bytes per element */
    uint64_t rows, cols, nelem;
    uint64_t offset, end; /* byte range in the file */
    uint64_t nonce;       /* of the recipient streams */
    size_t first, npos;   /* positions [first, first + npos) of the plan */
};

struct sl_fp_plan {
    struct sl__fp_tensor *t;
    size_t nt;
    size_t *by_name;  /* tensor numbers in name order */
    size_t *by_off;   /* tensor numbers in offset order */
    uint64_t *maxend; /* maxend[k]: the largest end among by_off[0..k] */
    uint64_t *idx;    /* element index of each position, ascending per tensor */
    uint32_t *meta;   /* SL__FP_* meta word of each position */
    size_t npos;
    double density;
};

/* Scoring arrays of one observed tensor, per position number (padded to a
 * multiple of SL__FP_PAD): thr 0 where nothing is read. */
struct sl__fp_dense {
    uint16_t *thr;
    int32_t *c;    /* a_i - b_i in units of 1 / SL__FP_Q */
    int64_t base;  /* sum of b_i, same units */
    uint64_t m0;   /* Tardos positions read */
    size_t lo, hi; /* [lo, hi) holds every readable one, multiples of SL__FP_PAD */
    size_t cap;
};

struct sl_fp_obs {
    const struct sl_fp_plan *p;
    uint8_t *state; /* SL__FP_UNREAD.. per position */
    struct sl__fp_dense *d;
};

/* fp.c */
size_t sl__fp_find(const struct sl_fp_plan *p, const char *name); /* SIZE_MAX if absent */
double sl__fp_bmax(void);                                         /* the largest |score term| */

/* ---- numbers ---- */

static inline uint16_t sl__ld16(const unsigned char *b)
{
    return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t sl__ld32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline void sl__st16(unsigned char *b, uint16_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
}

static inline void sl__st32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static inline float sl__f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t sl__u32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float sl__bf16_f(uint16_t b)
{
    return sl__f32((uint32_t)b << 16);
}

static inline uint16_t sl__f_bf16(float f)
{
    uint32_t u = sl__u32(f);

    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40); /* quiet NaN, sign kept */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float sl__f16_f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;

    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* exact */
        return sign ? -v : v;
    }
    if (e == 31)
        return sl__f32(sign | 0x7f800000u | m << 13);
    return sl__f32(sign | (e + 112) << 23 | m << 13);
}

static inline uint16_t sl__f_f16(float f)
{
    uint32_t x = sl__u32(f), sign = (x >> 16) & 0x8000, mag = x & 0x7fffffffu;

    if (mag > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00 | ((mag >> 13) & 0x3ff));
    if (mag >= 0x477ff000u) /* 65520 and up round to infinity */
        return (uint16_t)(sign | 0x7c00);
    if (mag < 0x38800000u) { /* below 2^-14: fp16 subnormal or zero */
        uint32_t e = mag >> 23, mant = (mag & 0x7fffff) | 0x800000, shift, q, rem, half;
        if (e == 0 || 126 - e > 24)
            return (uint16_t)sign;
        shift = 126 - e;
        q = mant >> shift;
        rem = mant & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    mag -= 0x38000000u;
    mag += 0xfffu + ((mag >> 13) & 1);
    return (uint16_t)(sign | (mag >> 13));
}

/* ---- the edit rule ---- */

/* bf16 and fp16 (exponent mask, mantissa mask, largest finite magnitude):
 * one ulp in the integer domain, magnitude up when the value's sign agrees
 * with the direction, down otherwise; skipped (false) for zeros, subnormals,
 * infinities, NaNs, the largest finite value and a step down from an
 * all-zero mantissa (it would cross into the binade below). */
static inline bool sl__edit16(uint16_t b, bool up, uint16_t emask, uint16_t mmask, uint16_t maxfin,
                              uint16_t *out)
{
    uint16_t mag = b & 0x7fff, e = mag & emask;
    bool neg = (b & 0x8000) != 0;

    if (e == 0 || e == emask || mag == maxfin)
        return false;
    if (up != neg) {
        *out = (uint16_t)(b + 1);
        return true;
    }
    if ((mag & mmask) == 0)
        return false;
    *out = (uint16_t)(b - 1);
    return true;
}

static inline bool sl__edit_bf16(uint16_t b, bool up, uint16_t *out)
{
    return sl__edit16(b, up, 0x7f80, 0x007f, 0x7f7f, out);
}

static inline bool sl__edit_f16(uint16_t b, bool up, uint16_t *out)
{
    return sl__edit16(b, up, 0x7c00, 0x03ff, 0x7bff, out);
}

/* f32: one bf16 ulp (2^16 in the integer domain), so the mark survives a
 * conversion to bf16 exactly; skipped for zeros, subnormals, the two top
 * exponents (infinity, NaN, overflow), a bf16 rounding tie (low half 0x8000,
 * where the conversion would not be a translation) and a step that would
 * leave the binade (top seven mantissa bits all ones up, all zeros down). */
static inline bool sl__edit_f32(uint32_t u, bool up, uint32_t *out)
{
    uint32_t mag = u & 0x7fffffffu, e = mag >> 23, top = (mag >> 16) & 0x7f;
    bool neg = (u & 0x80000000u) != 0;

    if (e == 0 || e >= 254 || (u & 0xffff) == 0x8000)
        return false;
    if (up != neg) {
        if (top == 0x7f)
            return false;
        *out = u + 0x10000u;
        return true;
    }
    if (top == 0)
        return false;
    *out = u - 0x10000u;
    return true;
}

#endif
