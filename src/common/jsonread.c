/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON pull reader (jsonread.h).
 */
#include "common/jsonread.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "common/banned.h"

/* Decoded strings are at most the input length, which callers bound. */
#define SCRATCH_CAP ((size_t)1 << 30)

void sl_jr_init(struct sl_jr *jr, const char *p, size_t len, uint64_t base, const char *name,
                int max_depth, struct sl_error *err)
{
    jr->p = p;
    jr->len = len;
    jr->pos = 0;
    jr->base = base;
    jr->name = name;
    jr->kind = NULL;
    jr->depth = 0;
    jr->max_depth = max_depth;
    jr->err = err;
    sl_buf_init(&jr->scratch, SCRATCH_CAP);
}

void sl_jr_release(struct sl_jr *jr)
{
    sl_buf_release(&jr->scratch);
}

enum sl_err sl_jr_fail(struct sl_jr *jr, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_error_setk(jr->err, SL_EINPUT, jr->kind, "%s: byte %llu: %s", jr->name,
                         (unsigned long long)(jr->base + jr->pos), what);
}

static inline void skip_ws(struct sl_jr *jr)
{
    jr->pos = sl_jr_skip_blank(jr->p, jr->len, jr->pos);
}

/* SWAR (Mycroft's zero-byte test): a byte of `w` is flagged when it equals
 * `c`, or is below 0x20 for ctl_bytes(). The lowest flagged byte is always a
 * real match; flags above it may be false, so callers only use "any flag". */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t eq_bytes(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);

    return (x - ONES) & ~x & HIGHS;
}

static inline uint64_t ctl_bytes(uint64_t w)
{
    return (w - ONES * 0x20) & ~w & HIGHS;
}

size_t sl_jr_plain_string_hash(const char *p, size_t len, size_t i, uint64_t *hash)
{
    uint64_t h = SL_STRHASH_SEED, tail = 0;
    size_t start = i, end;

    /* As sl_jr_plain_string_end(), hashing each word that holds no special
     * byte on the way; the word with the quote is hashed as the tail. */
    while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (eq_bytes(w, '"') | eq_bytes(w, '\\') | ctl_bytes(w))
            break;
        h = sl_strhash_word(h, w);
        i += 8;
    }
    for (end = i; end < len; end++) {
        unsigned char c = (unsigned char)p[end];
        if (c == '"')
            break;
        if (c == '\\' || c < 0x20)
            return 0;
    }
    if (end >= len)
        return 0;
    if (end > i) {
        memcpy(&tail, p + i, end - i);
        h = sl_strhash_word(h, tail);
    }
    *hash = sl_strhash_finish(h, end - start);
    return end;
}

size_t sl_jr_plain_string_end(const char *p, size_t len, size_t i)
{
    /* Eight bytes at a time until a word holds a quote, a backslash or a
     * control character, then byte by byte to find which. */
    while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (eq_bytes(w, '"') | eq_bytes(w, '\\') | ctl_bytes(w))
            break;
        i += 8;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            return i;
        if (c == '\\' || c < 0x20)
            return 0;
    }
    return 0;
}

int sl_jr_peek(struct sl_jr *jr)
{
    skip_ws(jr);
    if (jr->pos >= jr->len)
        return -1;
    return (unsigned char)jr->p[jr->pos];
}

static const char *describe(int c, char *buf)
{
    if (c < 0)
        return "end of input";
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "0x%02x", c);
    return buf;
}

static enum sl_err begin(struct sl_jr *jr, char open, const char *what)
{
    char d[8];
    int c = sl_jr_peek(jr);

    if (c != open)
        return sl_jr_fail(jr, "expected %s, found %s", what, describe(c, d));
    if (jr->depth >= jr->max_depth)
        return sl_jr_fail(jr, "JSON nested deeper than %d levels", jr->max_depth);
    jr->depth++;
    jr->pos++;
    return SL_OK;
}

enum sl_err sl_jr_begin_object(struct sl_jr *jr)
{
    return begin(jr, '{', "an object");
}

enum sl_err sl_jr_begin_array(struct sl_jr *jr)
{
    return begin(jr, '[', "an array");
}

static enum sl_err next(struct sl_jr *jr, bool *first, char close, bool *more)
{
    char d[8];
    int c = sl_jr_peek(jr);

    if (c == close) {
        jr->pos++;
        jr->depth--;
        *more = false;
        return SL_OK;
    }
    if (!*first) {
        if (c != ',')
            return sl_jr_fail(jr, "expected ',' or '%c', found %s", close, describe(c, d));
        jr->pos++;
    }
    *first = false;
    *more = true;
    return SL_OK;
}

enum sl_err sl_jr_next_key(struct sl_jr *jr, bool *first, const char **key, size_t *klen,
                           bool *more)
{
    char d[8];
    enum sl_err rc = next(jr, first, '}', more);
    int c;

    if (rc || !*more)
        return rc;
    if (sl_jr_peek(jr) != '"')
        return sl_jr_fail(jr, "expected a member name");
    rc = sl_jr_string(jr, key, klen);
    if (rc)
        return rc;
    c = sl_jr_peek(jr);
    if (c != ':')
        return sl_jr_fail(jr, "expected ':' after member name, found %s", describe(c, d));
    jr->pos++;
    return SL_OK;
}

enum sl_err sl_jr_next_elem(struct sl_jr *jr, bool *first, bool *more)
{
    return next(jr, first, ']', more);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(struct sl_jr *jr, size_t at, unsigned *out)
{
    unsigned v = 0;

    if (at + 4 > jr->len)
        return false;
    for (int i = 0; i < 4; i++) {
        int h = hexval(jr->p[at + i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

static void put_utf8(struct sl_buf *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sl_buf_add(b, u, n);
}

/* Slow path: the string has escapes, decode it into the scratch buffer. */
static enum sl_err decode_string(struct sl_jr *jr, size_t start, const char **s, size_t *n)
{
    size_t i = start;

    sl_buf_reset(&jr->scratch);
    for (;;) {
        unsigned char c;
        if (i >= jr->len) {
            jr->pos = i;
            return sl_jr_fail(jr, "unterminated string");
        }
        c = (unsigned char)jr->p[i];
        if (c == '"')
            break;
        if (c < 0x20) {
            jr->pos = i;
            return sl_jr_fail(jr, "control character 0x%02x inside a string", c);
        }
        if (c != '\\') {
            sl_buf_addc(&jr->scratch, (char)c);
            i++;
            continue;
        }
        if (i + 1 >= jr->len) {
            jr->pos = i;
            return sl_jr_fail(jr, "unterminated escape");
        }
        switch (jr->p[i + 1]) {
        case '"':
        case '\\':
        case '/':
            sl_buf_addc(&jr->scratch, jr->p[i + 1]);
            i += 2;
            break;
        case 'b':
            sl_buf_addc(&jr->scratch, '\b');
            i += 2;
            break;
        case 'f':
            sl_buf_addc(&jr->scratch, '\f');
            i += 2;
            break;
        case 'n':
            sl_buf_addc(&jr->scratch, '\n');
            i += 2;
            break;
        case 'r':
            sl_buf_addc(&jr->scratch, '\r');
            i += 2;
            break;
        case 't':
            sl_buf_addc(&jr->scratch, '\t');
            i += 2;
            break;
        case 'u': {
            unsigned cp, lo;
            if (!read_hex4(jr, i + 2, &cp)) {
                jr->pos = i;
                return sl_jr_fail(jr, "bad \\u escape");
            }
            i += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (i + 1 < jr->len && jr->p[i] == '\\' && jr->p[i + 1] == 'u' &&
                    read_hex4(jr, i + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                } else {
                    jr->pos = i - 6;
                    return sl_jr_fail(jr, "lone UTF-16 surrogate in \\u escape");
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                jr->pos = i - 6;
                return sl_jr_fail(jr, "lone UTF-16 surrogate in \\u escape");
            }
            put_utf8(&jr->scratch, cp);
            break;
        }
        default:
            jr->pos = i;
            return sl_jr_fail(jr, "unknown escape '\\%c'", jr->p[i + 1]);
        }
    }
    jr->pos = i + 1;
    *s = sl_buf_cstr(&jr->scratch);
    *n = jr->scratch.len;
    return SL_OK;
}

enum sl_err sl_jr_string(struct sl_jr *jr, const char **s, size_t *n)
{
    char d[8];
    int c = sl_jr_peek(jr);
    size_t start, i;

    if (c != '"')
        return sl_jr_fail(jr, "expected a string, found %s", describe(c, d));
    start = jr->pos + 1;
    /* Fast path: no escapes, point into the input. */
    i = sl_jr_plain_string_end(jr->p, jr->len, start);
    if (i) {
        *s = jr->p + start;
        *n = i - start;
        jr->pos = i + 1;
        return SL_OK;
    }
    /* An escape, a control character or the end: find which, as before. */
    for (i = start; i < jr->len; i++) {
        unsigned char ch = (unsigned char)jr->p[i];
        if (ch == '"') {
            *s = jr->p + start;
            *n = i - start;
            jr->pos = i + 1;
            return SL_OK;
        }
        if (ch == '\\')
            return decode_string(jr, start, s, n);
        if (ch < 0x20) {
            jr->pos = i;
            return sl_jr_fail(jr, "control character 0x%02x inside a string", ch);
        }
    }
    jr->pos = jr->len;
    return sl_jr_fail(jr, "unterminated string");
}

/* Scans a JSON number's extent and reports whether it is a plain integer. */
static enum sl_err scan_number(struct sl_jr *jr, size_t *end, bool *integer, bool *negative)
{
    size_t i = jr->pos;

    *integer = true;
    *negative = false;
    if (i < jr->len && jr->p[i] == '-') {
        *negative = true;
        i++;
    }
    if (i >= jr->len || jr->p[i] < '0' || jr->p[i] > '9')
        return sl_jr_fail(jr, "expected a number");
    if (jr->p[i] == '0' && i + 1 < jr->len && jr->p[i + 1] >= '0' && jr->p[i + 1] <= '9')
        return sl_jr_fail(jr, "number with a leading zero");
    while (i < jr->len && jr->p[i] >= '0' && jr->p[i] <= '9')
        i++;
    if (i < jr->len && jr->p[i] == '.') {
        *integer = false;
        i++;
        if (i >= jr->len || jr->p[i] < '0' || jr->p[i] > '9') {
            jr->pos = i;
            return sl_jr_fail(jr, "expected digits after '.'");
        }
        while (i < jr->len && jr->p[i] >= '0' && jr->p[i] <= '9')
            i++;
    }
    if (i < jr->len && (jr->p[i] == 'e' || jr->p[i] == 'E')) {
        *integer = false;
        i++;
        if (i < jr->len && (jr->p[i] == '+' || jr->p[i] == '-'))
            i++;
        if (i >= jr->len || jr->p[i] < '0' || jr->p[i] > '9') {
            jr->pos = i;
            return sl_jr_fail(jr, "expected digits in exponent");
        }
        while (i < jr->len && jr->p[i] >= '0' && jr->p[i] <= '9')
            i++;
    }
    *end = i;
    return SL_OK;
}

enum sl_err sl_jr_u64(struct sl_jr *jr, uint64_t *v)
{
    char d[8];
    int c = sl_jr_peek(jr);
    size_t end;
    bool integer, negative;
    uint64_t acc = 0;
    enum sl_err rc;

    if (c != '-' && (c < '0' || c > '9'))
        return sl_jr_fail(jr, "expected a non-negative integer, found %s", describe(c, d));
    rc = scan_number(jr, &end, &integer, &negative);
    if (rc)
        return rc;
    if (negative || !integer)
        return sl_jr_fail(jr, "expected a non-negative integer, found %.*s", (int)(end - jr->pos),
                          jr->p + jr->pos);
    for (size_t i = jr->pos; i < end; i++) {
        uint64_t digit = (uint64_t)(jr->p[i] - '0');
        if (acc > (UINT64_MAX - digit) / 10)
            return sl_jr_fail(jr, "integer %.*s does not fit in 64 bits", (int)(end - jr->pos),
                              jr->p + jr->pos);
        acc = acc * 10 + digit;
    }
    jr->pos = end;
    *v = acc;
    return SL_OK;
}

enum sl_err sl_jr_number(struct sl_jr *jr, double *v)
{
    char tmp[64];
    size_t end;
    bool integer, negative;
    enum sl_err rc;
    double x;

    (void)sl_jr_peek(jr);
    rc = scan_number(jr, &end, &integer, &negative);
    if (rc)
        return rc;
    if (end - jr->pos >= sizeof(tmp))
        return sl_jr_fail(jr, "number too long");
    memcpy(tmp, jr->p + jr->pos, end - jr->pos);
    tmp[end - jr->pos] = '\0';
    errno = 0;
    x = strtod(tmp, NULL);
    if (!isfinite(x))
        return sl_jr_fail(jr, "number %s is out of range", tmp);
    jr->pos = end;
    *v = x;
    return SL_OK;
}

static enum sl_err literal(struct sl_jr *jr, const char *word)
{
    size_t n = strlen(word);

    if (jr->len - jr->pos < n || memcmp(jr->p + jr->pos, word, n) != 0)
        return sl_jr_fail(jr, "invalid literal");
    jr->pos += n;
    return SL_OK;
}

enum sl_err sl_jr_skip(struct sl_jr *jr)
{
    char d[8];
    int c = sl_jr_peek(jr);
    enum sl_err rc;
    bool first = true, more = true;

    switch (c) {
    case '{':
        rc = sl_jr_begin_object(jr);
        while (!rc) {
            const char *k;
            size_t kn;
            rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
            if (rc || !more)
                break;
            rc = sl_jr_skip(jr);
        }
        return rc;
    case '[':
        rc = sl_jr_begin_array(jr);
        while (!rc) {
            rc = sl_jr_next_elem(jr, &first, &more);
            if (rc || !more)
                break;
            rc = sl_jr_skip(jr);
        }
        return rc;
    case '"': {
        const char *s;
        size_t n;
        return sl_jr_string(jr, &s, &n);
    }
    case 't':
        return literal(jr, "true");
    case 'f':
        return literal(jr, "false");
    case 'n':
        return literal(jr, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end;
            bool integer, negative;
            rc = scan_number(jr, &end, &integer, &negative);
            if (!rc)
                jr->pos = end;
            return rc;
        }
        return sl_jr_fail(jr, "expected a value, found %s", describe(c, d));
    }
}

enum sl_err sl_jr_end(struct sl_jr *jr)
{
    char d[8];
    int c = sl_jr_peek(jr);

    if (c != -1)
        return sl_jr_fail(jr, "unexpected %s after the end of the JSON value", describe(c, d));
    return SL_OK;
}
