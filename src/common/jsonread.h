/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pull reader for JSON held in memory (RFC 8259). It builds no tree: the
 * caller walks objects and arrays and takes the values it wants, so reading a
 * safetensors header of 100,000 tensors costs one pass and no per-value
 * allocation. Nesting depth is bounded. Every error names the byte offset in
 * the file (`base` + position) and what was expected.
 *
 * The input must already be valid UTF-8 (see sl_utf8_valid()); the reader
 * checks JSON grammar, string escapes and control characters.
 */
#ifndef SL_COMMON_JSONREAD_H
#define SL_COMMON_JSONREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct sl_jr {
    const char *p;
    size_t len;
    size_t pos;
    uint64_t base;    /* file offset of p[0], for messages */
    const char *name; /* file name, for messages */
    const char *kind; /* error kind recorded on grammar errors, may be NULL */
    int depth;
    int max_depth;
    struct sl_error *err;
    struct sl_buf scratch; /* decoded strings that had escapes */
};

/* Prepares a reader over `p[0..len)`. `name` and `base` only feed messages. */
void sl_jr_init(struct sl_jr *jr, const char *p, size_t len, uint64_t base, const char *name,
                int max_depth, struct sl_error *err);
void sl_jr_release(struct sl_jr *jr);

/* Records a grammar error at the current position and returns SL_EINPUT. */
enum sl_err sl_jr_fail(struct sl_jr *jr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the next non-blank byte without consuming it, or -1 at the end. */
int sl_jr_peek(struct sl_jr *jr);

/* Consumes '{' or '['. */
enum sl_err sl_jr_begin_object(struct sl_jr *jr);
enum sl_err sl_jr_begin_array(struct sl_jr *jr);

/* Steps to the next object member: on SL_OK, `*more` tells whether a key was
 * read (into `*key`, `*klen`, valid until the next string read) and the ':'
 * consumed; false means the closing '}' was consumed. `*first` must start true. */
enum sl_err sl_jr_next_key(struct sl_jr *jr, bool *first, const char **key, size_t *klen,
                           bool *more);

/* Steps to the next array element: `*more` false means ']' was consumed. */
enum sl_err sl_jr_next_elem(struct sl_jr *jr, bool *first, bool *more);

/* Reads a string value. The result is not NUL-terminated inside the input, so
 * use `*n`; it stays valid until the next string read. */
enum sl_err sl_jr_string(struct sl_jr *jr, const char **s, size_t *n);

/* Reads a non-negative integer that fits in 64 bits (no sign, fraction or
 * exponent). */
enum sl_err sl_jr_u64(struct sl_jr *jr, uint64_t *v);

/* Reads any number as a double (finite). */
enum sl_err sl_jr_number(struct sl_jr *jr, double *v);

/* Skips one value of any kind. */
enum sl_err sl_jr_skip(struct sl_jr *jr);

/* Fails unless only blanks remain. */
enum sl_err sl_jr_end(struct sl_jr *jr);

/* ---- Fast paths for known layouts ----
 *
 * Readers of big files (safetensors headers, the shard index) read their
 * common layout straight from the bytes with these helpers and hand anything
 * unusual to the pull reader above, which then reports errors exactly as it
 * always does. Both accept only what the pull reader would accept and yield
 * the same values. */

/* Returns the index of the '"' that closes the string whose body starts at
 * p[i] (i >= 1, just past the opening quote), or 0 when a backslash or a
 * control character comes first or the input ends (the pull reader must
 * then decode or reject the string). */
size_t sl_jr_plain_string_end(const char *p, size_t len, size_t i);

/* Same, and also sets `*hash` to sl_strhash() of the string's body when it
 * returns non-zero: one pass over a name that is about to be hashed. */
size_t sl_jr_plain_string_hash(const char *p, size_t len, size_t i, uint64_t *hash);

/* Reads a non-negative integer of at most 19 digits at p[*i], as sl_jr_u64()
 * would. Returns false, leaving `*i`, when p[*i] is not a digit, the number has
 * a leading zero or more digits, or a '.', 'e' or 'E' follows it. */
static inline bool sl_jr_plain_u64(const char *p, size_t len, size_t *i, uint64_t *v)
{
    size_t k = *i, end;
    uint64_t acc;

    if (k >= len || p[k] < '0' || p[k] > '9')
        return false;
    acc = (uint64_t)(p[k] - '0');
    end = k + 19 < len ? k + 19 : len;
    for (k++; k < end && p[k] >= '0' && p[k] <= '9'; k++) {
        if (acc == 0)
            return false; /* leading zero */
        acc = acc * 10 + (uint64_t)(p[k] - '0');
    }
    /* 19 digits always fit in 64 bits; a 20th digit or a fraction is left
     * to the pull reader. */
    if (k < len && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.' || p[k] == 'e' || p[k] == 'E'))
        return false;
    *i = k;
    *v = acc;
    return true;
}

/* Skips JSON blanks from p[i]; returns the index of the first other byte. */
static inline size_t sl_jr_skip_blank(const char *p, size_t len, size_t i)
{
    while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* File offset of the reader's position (for callers' own messages). */
static inline uint64_t sl_jr_offset(const struct sl_jr *jr)
{
    return jr->base + jr->pos;
}

#endif
