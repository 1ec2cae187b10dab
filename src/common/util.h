/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every module uses: allocation that aborts on failure (only for
 * small internal sizes, never sizes taken from input), checked integer
 * arithmetic and little-endian loads.
 */
#ifndef SL_COMMON_UTIL_H
#define SL_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* malloc/calloc/realloc/strdup that abort the process when memory runs out.
 * Use them only for sizes the program controls or that were checked against a
 * limit first (Redis and git do the same). */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t count, size_t size);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);

/* Formats into a newly allocated string; the caller frees it. */
char *sl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checked arithmetic: return true when the result overflowed. */
static inline bool sl_mul_u64_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

static inline bool sl_add_u64_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* a * b / c without intermediate overflow (c > 0); saturates at UINT64_MAX. */
static inline uint64_t sl_muldiv_u64(uint64_t a, uint64_t b, uint64_t c)
{
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b / c;

    return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static inline uint64_t sl_load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint32_t sl_load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t sl_load_le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline bool sl_str_has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static inline bool sl_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Returns true when `s[0..len)` is well-formed UTF-8 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). On failure `*bad_at` gets the offset
 * of the first byte of the bad sequence. */
bool sl_utf8_valid(const unsigned char *s, size_t len, size_t *bad_at);

/* Decodes the UTF-8 sequence at `p` (`n` bytes available): its length, with
 * the scalar value in `*cp`, or 0 when it is not a valid, shortest-form
 * encoding of a scalar value (no surrogates, at most U+10FFFF). */
size_t sl_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);

/* Replaces, in place, every byte of the NUL-terminated `s` that does not
 * start a well-formed UTF-8 sequence with '?', so text quoted from a request
 * (a header, a query value cut at a byte count) can go into a JSON answer.
 * The length does not change. */
void sl_utf8_scrub(char *s);

/* Formats `v` with thousands separators ("1,234,567") into `buf`. */
const char *sl_fmt_count(uint64_t v, char *buf, size_t bufsz);

/* Formats a double in the shortest form that reads back to the same value
 * ("1e+25", "0.4", "3.14e+23"). `buf` needs at least 32 bytes. */
const char *sl_fmt_double(double v, char *buf, size_t bufsz);

/* Formats a double with `sig` significant digits ("4.21e+25"); for people,
 * not for round trips. */
const char *sl_fmt_sig(double v, int sig, char *buf, size_t bufsz);

/* Appends `s` to the path `dir` with one '/' between them; the caller frees. */
char *sl_path_join(const char *dir, const char *s);

/* Returns the final component of `path` (a pointer into it). */
const char *sl_path_base(const char *path);

#endif
