/* SPDX-License-Identifier: Apache-2.0 */
/*
 * C2SP signed notes, tlog checkpoints and tlog-proofs (formats in note.h). The
 * parsers walk bytes with explicit lengths, check every size against a limit
 * before allocating and name the byte or line at fault; the formatters refuse
 * to produce anything the parsers would reject.
 */
#include "tlog/note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

/* U+2014 EM DASH and a space start every signature line. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN (sizeof(sig_prefix) - 1)

static const char proof_header[] = "c2sp.org/tlog-proof@v1";

/* A vkey longer than this is refused before decoding (an ML-DSA-44 key, the
 * largest type in use, is about 1,800 characters). */
#define VKEY_TEXT_MAX 4096

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- text checks ---- */

/* Decodes the UTF-8 sequence at s[0..n) (n > 0) into *cp and returns its length,
 * or 0 when it is ill-formed (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (uint32_t)(s[k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return need + 1;
}

/* Go's unicode.IsSpace: the Latin-1 spaces and the White_Space property. */
static bool is_space(uint32_t cp)
{
    switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

enum text_fault { TEXT_OK, TEXT_UTF8, TEXT_CONTROL };

/* Checks that s[0..n) is UTF-8 with no control character (below U+0020) other
 * than '\n' when `allow_nl`. On a fault `*at` gets the offset of the bad byte. */
static enum text_fault text_scan(const char *s, size_t n, bool allow_nl, size_t *at)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t len;

        if (u[i] >= 0x20 && u[i] < 0x80) {
            i++;
            continue;
        }
        len = utf8_next(u + i, n - i, &cp);
        *at = i;
        if (len == 0)
            return TEXT_UTF8;
        if (cp < 0x20 && !(cp == '\n' && allow_nl))
            return TEXT_CONTROL;
        i += len;
    }
    return TEXT_OK;
}

/* Sets a message for a text_scan() fault at `at` of `s`. */
static enum sl_err text_fail(struct sl_error *err, const char *kind, const char *what,
                             enum text_fault f, const char *s, size_t at)
{
    if (f == TEXT_UTF8)
        return sl_error_setk(err, SL_EINPUT, kind, "%s: byte %zu: invalid UTF-8", what, at);
    return sl_error_setk(err, SL_EINPUT, kind, "%s: byte %zu: control character 0x%02x", what, at,
                         (unsigned char)s[at]);
}

static bool name_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    if (n == 0 || n > SL_NOTE_NAME_MAX)
        return false;
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_next(u + i, n - i, &cp);

        if (len == 0 || cp < 0x20 || cp == '+' || is_space(cp))
            return false;
        i += len;
    }
    return true;
}

bool sl_note_name_ok(const char *name)
{
    return name && name_ok(name, strnlen(name, SL_NOTE_NAME_MAX + 1));
}

/* Counts the '\n' in s[0..n). */
static size_t count_lines(const char *s, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n';
    return k;
}

/* A copy of s[0..n) with a NUL after it; the caller frees. */
static char *dup_bytes(const char *s, size_t n)
{
    char *d = sl_xmalloc(n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ---- base64 and numbers ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 that must also be canonical: the bits a padded group leaves
 * over are zero, so each value has exactly one encoding. */
static bool unb64(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    if (!sl_unbase64(s, n, out, cap, outlen))
        return false;
    if (n >= 4 && s[n - 1] == '=') {
        size_t pad = s[n - 2] == '=' ? 2 : 1;
        int v = b64_value(s[n - 1 - pad]);

        if (v < 0 || (v & (pad == 2 ? 0x0f : 0x03)) != 0)
            return false;
    }
    return true;
}

/* Decodes base64 of any length into a new buffer (at least one byte long, so
 * the result is never NULL); false when it is not canonical base64. */
static bool unb64_alloc(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
    size_t cap = n / 4 * 3;
    unsigned char *b = sl_xmalloc(cap + 1);

    if (!unb64(s, n, b, cap, outlen)) {
        free(b);
        return false;
    }
    *out = b;
    return true;
}

enum num_fault { NUM_OK, NUM_SYNTAX, NUM_OVERFLOW };

/* ASCII decimal without sign or leading zeros ("0" alone is fine). */
static enum num_fault parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t r = 0;

    if (n == 0 || (s[0] == '0' && n > 1))
        return NUM_SYNTAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NUM_SYNTAX;
    }
    for (size_t i = 0; i < n; i++) {
        if (sl_mul_u64_overflow(r, 10, &r) || sl_add_u64_overflow(r, (uint64_t)(s[i] - '0'), &r))
            return NUM_OVERFLOW;
    }
    *v = r;
    return NUM_OK;
}

/* How much of s[0..n) to show in a message: at most 40 bytes, not cutting a
 * UTF-8 sequence in two (the callers have checked the text is UTF-8). */
static int quote_len(const char *s, size_t n)
{
    if (n <= 40)
        return (int)n;
    n = 40;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

/* Hands out the lines of s[0..n) one at a time: `*line` and `*len` get the next line
 * without its '\n'. Returns false when no complete line is left. */
struct lines {
    const char *s;
    size_t n, pos, no;
};

static bool next_line(struct lines *l, const char **line, size_t *len)
{
    const char *nl;

    if (l->pos >= l->n)
        return false;
    nl = memchr(l->s + l->pos, '\n', l->n - l->pos);
    if (!nl)
        return false;
    *line = l->s + l->pos;
    *len = (size_t)(nl - *line);
    l->pos += *len + 1;
    l->no++;
    return true;
}

/* ---- keys ---- */

static uint32_t key_id_raw(const char *name, size_t nlen, const unsigned char *key, size_t klen)
{
    struct sl_sha256_ctx *c = sl_sha256_new();
    unsigned char d[SL_SHA256_LEN];

    sl_sha256_update(c, name, nlen);
    sl_sha256_update(c, "\n", 1);
    sl_sha256_update(c, key, klen);
    sl_sha256_final(c, d);
    return load_be32(d);
}

uint32_t sl_note_key_id(const char *name, unsigned char type, const unsigned char pub[32])
{
    unsigned char key[33];

    key[0] = type;
    memcpy(key + 1, pub, 32);
    return key_id_raw(name, strlen(name), key, sizeof(key));
}

enum sl_err sl_note_key_from_seed(const char *name, const unsigned char seed[32],
                                  struct sl_note_key *k, struct sl_error *err)
{
    enum sl_err rc;

    memset(k, 0, sizeof(*k));
    if (!sl_note_name_ok(name))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                             "invalid key name: it must be 1 to %d bytes of UTF-8 without "
                             "spaces, '+' or control characters",
                             SL_NOTE_NAME_MAX);
    rc = sl_ed25519_public(seed, k->pub);
    if (rc)
        return sl_error_set(err, rc, "cannot derive the Ed25519 public key of \"%s\"", name);
    memcpy(k->name, name, strlen(name) + 1);
    memcpy(k->priv, seed, 32);
    k->has_priv = true;
    k->id = sl_note_key_id(k->name, SL_NOTE_TYPE_ED25519, k->pub);
    return SL_OK;
}

void sl_note_key_clear(struct sl_note_key *k)
{
    if (k)
        sl_wipe(k, sizeof(*k));
}

enum sl_err sl_note_vkey(const struct sl_note_key *k, char *out, size_t cap, struct sl_error *err)
{
    unsigned char key[33];
    char b64[45];
    int w;

    if (!sl_note_name_ok(k->name))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY, "verifier key: invalid key name");
    key[0] = SL_NOTE_TYPE_ED25519;
    memcpy(key + 1, k->pub, 32);
    sl_base64(key, sizeof(key), b64);
    w = snprintf(out, cap, "%s+%08x+%s", k->name, (unsigned)k->id, b64);
    if (w < 0 || (size_t)w >= cap) {
        if (cap)
            out[0] = '\0';
        return sl_error_set(err, SL_ELIMIT, "verifier key: needs %d bytes, the buffer has %zu",
                            w + 1, cap);
    }
    return SL_OK;
}

enum sl_err sl_note_vkey_parse(const char *vkey, size_t n, struct sl_note_key *k,
                               struct sl_error *err)
{
    const char *p1, *p2, *hex, *b64;
    size_t nlen, blen, klen = 0;
    unsigned char *key = NULL;
    uint32_t id = 0, want;
    enum sl_err rc = SL_OK;

    memset(k, 0, sizeof(*k));
    if (!vkey || n == 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY, "verifier key: empty");
    if (n > VKEY_TEXT_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_VKEY,
                             "verifier key: %zu bytes, over the limit of %d", n, VKEY_TEXT_MAX);
    p1 = memchr(vkey, '+', n);
    if (!p1)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                             "verifier key: no '+' after the key name");
    nlen = (size_t)(p1 - vkey);
    p2 = memchr(p1 + 1, '+', n - nlen - 1);
    if (!p2)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                             "verifier key: no '+' after the key ID");
    if (!name_ok(vkey, nlen))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                             "verifier key: invalid key name (1 to %d bytes of UTF-8 without "
                             "spaces, '+' or control characters)",
                             SL_NOTE_NAME_MAX);
    hex = p1 + 1;
    if (p2 - hex != 8)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                             "verifier key: byte %zu: the key ID must be 8 hex digits", nlen + 1);
    for (int i = 0; i < 8; i++) {
        char c = hex[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

        if (d < 0)
            return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                                 "verifier key: byte %zu: the key ID must be lowercase hex",
                                 nlen + 1 + (size_t)i);
        id = id << 4 | (uint32_t)d;
    }
    b64 = p2 + 1;
    blen = n - (size_t)(b64 - vkey);
    if (!unb64_alloc(b64, blen, &key, &klen) || klen == 0) {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                           "verifier key: byte %zu: the key is not canonical base64",
                           (size_t)(b64 - vkey));
        goto out;
    }
    want = key_id_raw(vkey, nlen, key, klen);
    if (id != want) {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                           "verifier key: key ID %08x does not match the key (%08x)", (unsigned)id,
                           (unsigned)want);
        goto out;
    }
    if (key[0] != SL_NOTE_TYPE_ED25519) {
        rc = sl_error_setk(err, SL_EUNSUPPORTED, SL_NOTE_K_VKEY,
                           "verifier key: key type 0x%02x is not supported (only 0x01 Ed25519)",
                           key[0]);
        goto out;
    }
    if (klen != 33) {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_VKEY,
                           "verifier key: an Ed25519 key is 32 bytes, this one %zu", klen - 1);
        goto out;
    }
    memcpy(k->name, vkey, nlen);
    k->name[nlen] = '\0';
    k->id = id;
    memcpy(k->pub, key + 1, 32);
out:
    free(key);
    return rc;
}

/* ---- signed notes ---- */

enum sl_err sl_note_sign(const char *text, size_t n, const struct sl_note_key *keys, size_t nkeys,
                         char **note, size_t *note_len, struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(SL_NOTE_MAX);
    enum text_fault f;
    size_t at = 0;
    enum sl_err rc = SL_OK;

    *note = NULL;
    *note_len = 0;
    if (!text || n == 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED, "note text: empty");
    if (n > SL_NOTE_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_MALFORMED,
                             "note text: %zu bytes, over the limit of %d", n, SL_NOTE_MAX);
    if (text[n - 1] != '\n')
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note text: does not end with a newline");
    f = text_scan(text, n, true, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_MALFORMED, "note text", f, text, at);
    if (nkeys == 0 || !keys)
        return sl_error_set(err, SL_EUSAGE, "no key to sign the note with");
    if (nkeys > SL_NOTE_SIGS_MAX)
        return sl_error_set(err, SL_ELIMIT, "%zu signing keys, over the limit of %d", nkeys,
                            SL_NOTE_SIGS_MAX);
    for (size_t i = 0; i < nkeys; i++) {
        const struct sl_note_key *k = &keys[i];
        unsigned char pub[32];

        if (!sl_note_name_ok(k->name))
            return sl_error_set(err, SL_EINPUT, "signing key %zu: invalid key name", i);
        if (!k->has_priv)
            return sl_error_set(err, SL_EUSAGE, "signing key \"%s\" has no private key", k->name);
        rc = sl_ed25519_public(k->priv, pub);
        if (rc)
            return sl_error_set(err, rc, "signing key \"%s\": bad private key", k->name);
        if (memcmp(pub, k->pub, 32) != 0 ||
            k->id != sl_note_key_id(k->name, SL_NOTE_TYPE_ED25519, k->pub))
            return sl_error_set(err, SL_EUSAGE,
                                "signing key \"%s\": the public key or key ID does not match "
                                "the private key",
                                k->name);
        for (size_t j = 0; j < i; j++) {
            if (keys[j].id == k->id && strcmp(keys[j].name, k->name) == 0)
                return sl_error_set(err, SL_EUSAGE, "signing key %s+%08x is given twice", k->name,
                                    (unsigned)k->id);
        }
    }

    if (sl_buf_add(&b, text, n) || sl_buf_addc(&b, '\n'))
        goto toobig;
    for (size_t i = 0; i < nkeys; i++) {
        unsigned char raw[4 + SL_ED25519_SIG_LEN];
        char b64[4 * ((sizeof(raw) + 2) / 3) + 1];

        store_be32(raw, keys[i].id);
        rc = sl_ed25519_sign(keys[i].priv, text, n, raw + 4);
        if (rc) {
            sl_error_set(err, rc, "cannot sign with key \"%s\"", keys[i].name);
            goto fail;
        }
        sl_base64(raw, sizeof(raw), b64);
        if (sl_buf_add(&b, sig_prefix, SIG_PREFIX_LEN) || sl_buf_adds(&b, keys[i].name) ||
            sl_buf_addc(&b, ' ') || sl_buf_adds(&b, b64) || sl_buf_addc(&b, '\n'))
            goto toobig;
    }
    *note = sl_buf_detach(&b, note_len);
    return SL_OK;

toobig:
    rc = sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_MALFORMED,
                       "the signed note would be over the limit of %d bytes", SL_NOTE_MAX);
fail:
    sl_buf_release(&b);
    return rc;
}

void sl_note_free(struct sl_note *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nsigs; i++)
        free(n->sigs[i].sig);
    free(n->sigs);
    free(n->text);
    memset(n, 0, sizeof(*n));
}

/* Parses the signature line `line[0..len)` (line number `no`) into `s`. */
static enum sl_err parse_sig_line(const char *line, size_t len, size_t no, struct sl_note_sig *s,
                                  struct sl_error *err)
{
    const char *name, *sp, *b64;
    size_t nlen, blen, rawlen;
    unsigned char *raw;

    if (len < SIG_PREFIX_LEN || memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: a signature line must start with an em dash "
                             "(U+2014) and a space",
                             no);
    name = line + SIG_PREFIX_LEN;
    sp = memchr(name, ' ', len - SIG_PREFIX_LEN);
    if (!sp)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: no space between the key name and the signature", no);
    nlen = (size_t)(sp - name);
    if (!name_ok(name, nlen))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: invalid key name (1 to %d bytes without spaces or "
                             "'+')",
                             no, SL_NOTE_NAME_MAX);
    b64 = sp + 1;
    blen = len - (size_t)(b64 - line);
    if (!unb64_alloc(b64, blen, &raw, &rawlen))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: the signature is not canonical base64", no);
    if (rawlen < 5) {
        free(raw);
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: the signature has %zu bytes, too few for a key ID "
                             "and a signature",
                             no, rawlen);
    }
    memcpy(s->name, name, nlen);
    s->name[nlen] = '\0';
    s->id = load_be32(raw);
    memmove(raw, raw + 4, rawlen - 4);
    s->sig = raw;
    s->sig_len = rawlen - 4;
    return SL_OK;
}

/* Finds the one key with this name and ID; SL_EUSAGE when several match. */
static enum sl_err find_key(const struct sl_note_key *keys, size_t nkeys, const char *name,
                            uint32_t id, const struct sl_note_key **found, struct sl_error *err)
{
    *found = NULL;
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].id != id || strcmp(keys[i].name, name) != 0)
            continue;
        if (*found)
            return sl_error_set(err, SL_EUSAGE, "two verifier keys are named %s+%08x", name,
                                (unsigned)id);
        *found = &keys[i];
    }
    return SL_OK;
}

enum sl_err sl_note_open(const char *buf, size_t n, const struct sl_note_key *keys, size_t nkeys,
                         struct sl_note *out, struct sl_error *err)
{
    struct lines l;
    const char *line;
    size_t split = 0, text_len, nlines, first_line, at = 0, len, nverified = 0;
    enum text_fault f;
    bool found = false;
    enum sl_err rc = SL_OK;

    memset(out, 0, sizeof(*out));
    if ((!buf && n) || (!keys && nkeys))
        return sl_error_set(err, SL_EUSAGE, "sl_note_open: NULL buffer or key list");
    if (n > SL_NOTE_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_MALFORMED,
                             "note: %zu bytes, over the limit of %d", n, SL_NOTE_MAX);
    f = text_scan(buf, n, true, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_MALFORMED, "note", f, buf, at);

    /* The signatures follow the last blank line; signature lines never hold one. */
    for (size_t i = n; i >= 2; i--) {
        if (buf[i - 2] == '\n' && buf[i - 1] == '\n') {
            split = i - 2;
            found = true;
            break;
        }
    }
    if (!found)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: no blank line between the text and the signatures");
    text_len = split + 1;
    first_line = count_lines(buf, text_len) + 2;
    if (split + 2 == n)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: no signature lines after the blank line (line %zu)",
                             first_line - 1);
    if (buf[n - 1] != '\n')
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "note: line %zu: the last signature line does not end with a "
                             "newline",
                             first_line + count_lines(buf + split + 2, n - split - 2));
    nlines = count_lines(buf + split + 2, n - split - 2);
    if (nlines > SL_NOTE_SIGS_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_MALFORMED,
                             "note: %zu signature lines, over the limit of %d", nlines,
                             SL_NOTE_SIGS_MAX);

    out->sigs = sl_xcalloc(nlines, sizeof(*out->sigs));
    l.s = buf;
    l.n = n;
    l.pos = split + 2;
    l.no = first_line - 1;
    while (next_line(&l, &line, &len)) {
        struct sl_note_sig *s = &out->sigs[out->nsigs];

        rc = parse_sig_line(line, len, l.no, s, err);
        if (rc)
            goto fail;
        out->nsigs++;
        for (size_t j = 0; j + 1 < out->nsigs; j++) {
            if (out->sigs[j].id == s->id && strcmp(out->sigs[j].name, s->name) == 0) {
                rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                                   "note: line %zu: a second signature by key %s+%08x (the "
                                   "first is on line %zu)",
                                   l.no, s->name, (unsigned)s->id, first_line + j);
                goto fail;
            }
        }
    }

    for (size_t i = 0; i < out->nsigs; i++) {
        struct sl_note_sig *s = &out->sigs[i];
        const struct sl_note_key *k;

        rc = find_key(keys, nkeys, s->name, s->id, &k, err);
        if (rc)
            goto fail;
        if (!k)
            continue;
        if (s->sig_len != SL_ED25519_SIG_LEN || !sl_ed25519_verify(k->pub, buf, text_len, s->sig)) {
            rc = sl_error_setk(err, SL_EREFUSED, SL_NOTE_K_BADSIG,
                               "note: line %zu: invalid signature for key %s+%08x", first_line + i,
                               s->name, (unsigned)s->id);
            goto fail;
        }
        s->verified = true;
        nverified++;
    }
    if (nverified == 0) {
        rc = sl_error_setk(err, SL_EREFUSED, SL_NOTE_K_UNVERIFIED,
                           "note has no verifiable signatures (%zu by unknown keys)", out->nsigs);
        goto fail;
    }
    out->text = sl_xmalloc(text_len + 1);
    memcpy(out->text, buf, text_len);
    out->text[text_len] = '\0';
    out->text_len = text_len;
    return SL_OK;

fail:
    sl_note_free(out);
    return rc;
}

/* ---- checkpoints ---- */

enum sl_err sl_checkpoint_format(const struct sl_checkpoint *c, char **text, size_t *len,
                                 struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(SL_NOTE_MAX);
    size_t olen = strnlen(c->origin, sizeof(c->origin)), elen = 0, at = 0;
    char root[45];
    enum text_fault f;

    *text = NULL;
    *len = 0;
    if (olen == 0 || olen == sizeof(c->origin))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: the origin must be 1 to %d bytes", SL_NOTE_NAME_MAX);
    f = text_scan(c->origin, olen, false, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_CHECKPOINT, "checkpoint origin", f, c->origin, at);
    if (c->extra && c->extra[0]) {
        elen = strlen(c->extra);
        if (elen > SL_NOTE_MAX)
            return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_CHECKPOINT,
                                 "checkpoint: extension lines over the limit of %d bytes",
                                 SL_NOTE_MAX);
        if (c->extra[elen - 1] != '\n' || c->extra[0] == '\n' || strstr(c->extra, "\n\n"))
            return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                                 "checkpoint: extension lines must be non-empty and end with a "
                                 "newline");
        f = text_scan(c->extra, elen, true, &at);
        if (f != TEXT_OK)
            return text_fail(err, SL_NOTE_K_CHECKPOINT, "checkpoint extension lines", f, c->extra,
                             at);
    }
    sl_base64(c->root, 32, root);
    if (sl_buf_add(&b, c->origin, olen) ||
        sl_buf_addf(&b, "\n%llu\n%s\n", (unsigned long long)c->size, root) ||
        sl_buf_add(&b, c->extra, elen)) {
        sl_buf_release(&b);
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: over the limit of %d bytes", SL_NOTE_MAX);
    }
    *text = sl_buf_detach(&b, len);
    return SL_OK;
}

enum sl_err sl_checkpoint_parse(const char *text, size_t n, struct sl_checkpoint *c,
                                struct sl_error *err)
{
    struct lines l = {text, n, 0, 0};
    const char *line;
    size_t len, at = 0, rootlen;
    enum text_fault f;
    enum num_fault nf;

    memset(c, 0, sizeof(*c));
    if (!text && n)
        return sl_error_set(err, SL_EUSAGE, "sl_checkpoint_parse: NULL text");
    if (n > SL_NOTE_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: %zu bytes, over the limit of %d", n, SL_NOTE_MAX);
    f = text_scan(text, n, true, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_CHECKPOINT, "checkpoint", f, text, at);
    if (n == 0 || text[n - 1] != '\n')
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: line %zu does not end with a newline",
                             count_lines(text, n) + 1);
    if (count_lines(text, n) < 3)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: %zu lines, want origin, tree size and root hash",
                             count_lines(text, n));

    next_line(&l, &line, &len);
    if (len == 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: line 1: empty origin");
    if (len > SL_NOTE_NAME_MAX)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: line 1: origin longer than %d bytes", SL_NOTE_NAME_MAX);
    memcpy(c->origin, line, len);
    c->origin[len] = '\0';

    next_line(&l, &line, &len);
    nf = parse_u64(line, len, &c->size);
    if (nf != NUM_OK)
        return sl_error_setk(
            err, SL_EINPUT, SL_NOTE_K_CHECKPOINT, "checkpoint: line 2: tree size \"%.*s\" %s",
            quote_len(line, len), line,
            nf == NUM_OVERFLOW ? "does not fit in 64 bits"
                               : "is not a decimal number without sign or leading zeros");

    next_line(&l, &line, &len);
    if (len != 44 || !unb64(line, len, c->root, sizeof(c->root), &rootlen) || rootlen != 32)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                             "checkpoint: line 3: root hash \"%.*s\" is not the canonical base64 "
                             "of 32 bytes",
                             quote_len(line, len), line);

    if (l.pos < n) {
        size_t start = l.pos;

        while (next_line(&l, &line, &len)) {
            if (len == 0)
                return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_CHECKPOINT,
                                     "checkpoint: line %zu: empty extension line", l.no);
        }
        c->extra = dup_bytes(text + start, n - start);
    }
    return SL_OK;
}

void sl_checkpoint_free(struct sl_checkpoint *c)
{
    if (!c)
        return;
    free(c->extra);
    c->extra = NULL;
}

/* ---- tlog-proof ---- */

enum sl_err sl_tlog_proof_format(const struct sl_tlog_proof *p, char **text, size_t *len,
                                 struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(SL_TLOG_PROOF_MAX);
    char h[45];
    size_t at = 0;
    enum text_fault f;

    *text = NULL;
    *len = 0;
    if (p->nhashes > SL_TLOG_PROOF_HASHES_MAX)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                             "tlog-proof: %zu hashes, more than %d", p->nhashes,
                             SL_TLOG_PROOF_HASHES_MAX);
    if (!p->checkpoint || p->checkpoint_len == 0 || p->checkpoint[p->checkpoint_len - 1] != '\n')
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                             "tlog-proof: the checkpoint is empty or does not end with a newline");
    if (p->checkpoint_len > SL_NOTE_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF,
                             "tlog-proof: the checkpoint is over the limit of %d bytes",
                             SL_NOTE_MAX);
    f = text_scan(p->checkpoint, p->checkpoint_len, true, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_PROOF, "tlog-proof checkpoint", f, p->checkpoint, at);
    if (p->has_extra && p->extra_len > SL_TLOG_PROOF_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF,
                             "tlog-proof: extra data over the limit of %d bytes",
                             SL_TLOG_PROOF_MAX);
    if (p->has_extra && p->extra_len && !p->extra)
        return sl_error_set(err, SL_EUSAGE, "sl_tlog_proof_format: NULL extra data");

    if (sl_buf_adds(&b, proof_header) || sl_buf_addc(&b, '\n'))
        goto toobig;
    if (p->has_extra) {
        char *e = sl_xmalloc(4 * ((p->extra_len + 2) / 3) + 1);
        size_t elen = p->extra_len ? sl_base64(p->extra, p->extra_len, e) : 0;
        bool bad = sl_buf_adds(&b, "extra ") || sl_buf_add(&b, e, elen) || sl_buf_addc(&b, '\n');

        free(e);
        if (bad)
            goto toobig;
    }
    if (sl_buf_addf(&b, "index %llu\n", (unsigned long long)p->index))
        goto toobig;
    for (size_t i = 0; i < p->nhashes; i++) {
        sl_base64(p->hashes[i], 32, h);
        if (sl_buf_adds(&b, h) || sl_buf_addc(&b, '\n'))
            goto toobig;
    }
    if (sl_buf_addc(&b, '\n') || sl_buf_add(&b, p->checkpoint, p->checkpoint_len))
        goto toobig;
    *text = sl_buf_detach(&b, len);
    return SL_OK;

toobig:
    sl_buf_release(&b);
    return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF, "tlog-proof: over the limit of %d bytes",
                         SL_TLOG_PROOF_MAX);
}

enum sl_err sl_tlog_proof_parse(const char *text, size_t n, struct sl_tlog_proof *p,
                                struct sl_error *err)
{
    struct lines l = {text, n, 0, 0};
    const char *line;
    size_t len, cplen, at = 0;
    enum text_fault f;
    enum num_fault nf;
    enum sl_err rc = SL_OK;

    memset(p, 0, sizeof(*p));
    if (!text && n)
        return sl_error_set(err, SL_EUSAGE, "sl_tlog_proof_parse: NULL text");
    if (n > SL_TLOG_PROOF_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF,
                             "tlog-proof: %zu bytes, over the limit of %d", n, SL_TLOG_PROOF_MAX);
    f = text_scan(text, n, true, &at);
    if (f != TEXT_OK)
        return text_fail(err, SL_NOTE_K_PROOF, "tlog-proof", f, text, at);
    if (!next_line(&l, &line, &len) || len != sizeof(proof_header) - 1 ||
        memcmp(line, proof_header, len) != 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF, "tlog-proof: line 1 is not \"%s\"",
                             proof_header);
    if (!next_line(&l, &line, &len))
        goto truncated;
    if (len >= 6 && memcmp(line, "extra ", 6) == 0) {
        if (len > 6) {
            if (!unb64_alloc(line + 6, len - 6, &p->extra, &p->extra_len)) {
                rc =
                    sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                                  "tlog-proof: line %zu: extra data is not canonical base64", l.no);
                goto fail;
            }
        }
        p->has_extra = true;
        if (!next_line(&l, &line, &len))
            goto truncated;
    }
    if (len < 6 || memcmp(line, "index ", 6) != 0) {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                           "tlog-proof: line %zu: want \"index \" and the leaf index", l.no);
        goto fail;
    }
    nf = parse_u64(line + 6, len - 6, &p->index);
    if (nf != NUM_OK) {
        rc = sl_error_setk(
            err, SL_EINPUT, SL_NOTE_K_PROOF, "tlog-proof: line %zu: index \"%.*s\" %s", l.no,
            quote_len(line + 6, len - 6), line + 6,
            nf == NUM_OVERFLOW ? "does not fit in 64 bits"
                               : "is not a decimal number without sign or leading zeros");
        goto fail;
    }
    for (;;) {
        size_t hlen;

        if (!next_line(&l, &line, &len))
            goto truncated;
        if (len == 0)
            break;
        if (p->nhashes == SL_TLOG_PROOF_HASHES_MAX) {
            rc = sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF,
                               "tlog-proof: line %zu: more than %d proof hashes", l.no,
                               SL_TLOG_PROOF_HASHES_MAX);
            goto fail;
        }
        if (len != 44 || !unb64(line, len, p->hashes[p->nhashes], 32, &hlen) || hlen != 32) {
            rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                               "tlog-proof: line %zu: not the canonical base64 of a 32-byte hash",
                               l.no);
            goto fail;
        }
        p->nhashes++;
    }
    cplen = n - l.pos;
    if (cplen == 0) {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                           "tlog-proof: no checkpoint after the empty line %zu", l.no);
        goto fail;
    }
    if (cplen > SL_NOTE_MAX) {
        rc = sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_PROOF,
                           "tlog-proof: the checkpoint is %zu bytes, over the limit of %d", cplen,
                           SL_NOTE_MAX);
        goto fail;
    }
    if (text[n - 1] != '\n') {
        rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                           "tlog-proof: the checkpoint does not end with a newline");
        goto fail;
    }
    p->checkpoint = dup_bytes(text + l.pos, cplen);
    p->checkpoint_len = cplen;
    return SL_OK;

truncated:
    rc = sl_error_setk(err, SL_EINPUT, SL_NOTE_K_PROOF,
                       "tlog-proof: ends at line %zu before the empty line and the checkpoint",
                       l.no + 1);
fail:
    sl_tlog_proof_free(p);
    return rc;
}

void sl_tlog_proof_free(struct sl_tlog_proof *p)
{
    if (!p)
        return;
    free(p->extra);
    free(p->checkpoint);
    p->extra = NULL;
    p->extra_len = 0;
    p->checkpoint = NULL;
    p->checkpoint_len = 0;
}
