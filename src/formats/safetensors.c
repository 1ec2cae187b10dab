/* SPDX-License-Identifier: Apache-2.0 */
/*
 * safetensors header reader. It follows the reference reader's rules and
 * error order (formats_int.h) and names the reference's error variant as the
 * error kind, so tests can compare with the reference's own unit tests.
 *
 * A file is read into a struct sl_st_part without touching the model, so
 * that shards can be read on several threads; the merge at the end of this
 * file appends parts to the model in order. Entries in the layout writers
 * emit are read straight from the bytes (fast_entry()); anything else goes
 * through the JSON pull reader, which owns every error message.
 */
#include "formats/formats_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonread.h"
#include "common/util.h"
#include "common/banned.h"

#define K_TOO_SMALL  "HeaderTooSmall"
#define K_TOO_LARGE  "HeaderTooLarge"
#define K_BAD_LENGTH "InvalidHeaderLength"
#define K_BAD_UTF8   "InvalidHeader"
#define K_BAD_JSON   "InvalidHeaderDeserialization"
#define K_BAD_OFFSET "InvalidOffset"
#define K_OVERFLOW   "ValidationOverflow"
#define K_MISALIGNED "MisalignedSlice"
#define K_BAD_INFO   "TensorInvalidInfo"
#define K_INCOMPLETE "MetadataIncompleteBuffer"

/* Depth of a valid header is 3 ({ tensor { shape [ ); allow some slack for
 * __metadata__ garbage that we reject anyway. */
#define ST_MAX_DEPTH 16

struct span {
    uint64_t begin, end;
    size_t idx;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static enum sl_err parse_metadata(struct sl_jr *jr)
{
    bool first = true, more;
    enum sl_err rc;

    if (sl_jr_peek(jr) == 'n') /* the reference accepts "__metadata__": null */
        return sl_jr_skip(jr);
    rc = sl_jr_begin_object(jr);
    while (!rc) {
        const char *k, *v;
        size_t kn, vn;
        rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (sl_jr_peek(jr) != '"')
            return sl_jr_fail(jr, "__metadata__ values must be strings");
        rc = sl_jr_string(jr, &v, &vn);
    }
    return rc;
}

bool sl__utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    const uint64_t highs = 0x8080808080808080ULL;
    size_t i = 0;

    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];
        memcpy(w, s + i, 32);
        if ((w[0] | w[1] | w[2] | w[3]) & highs)
            break;
    }
    /* s[0..i) is ASCII, so s + i starts a character. */
    if (sl_utf8_valid((const unsigned char *)s + i, len - i, bad_at))
        return true;
    if (bad_at)
        *bad_at += i;
    return false;
}

static void part_warn(struct sl_st_part *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same cap as sl__model_warn(): more could never be shown. */
static void part_warn(struct sl_st_part *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    if (p->nwarnings >= 100)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->warnings = sl_xrealloc(p->warnings, (p->nwarnings + 1) * sizeof(char *));
    p->warnings[p->nwarnings++] = sl_xstrdup(msg);
}

/* Parses one tensor entry's object into dtype, shape and offsets. */
static enum sl_err parse_entry(struct sl_jr *jr, struct sl_st_part *p, const char *tname,
                               unsigned *dtype, uint64_t *shape, unsigned *ndim, uint64_t off[2])
{
    bool first = true, more;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    enum sl_err rc;

    rc = sl_jr_begin_object(jr);
    while (!rc) {
        const char *k;
        size_t kn;
        rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (kn == 5 && memcmp(k, "dtype", 5) == 0) {
            const char *v;
            size_t vn;
            if (have_dtype)
                return sl_jr_fail(jr, "tensor \"%s\": duplicate \"dtype\"", tname);
            rc = sl_jr_string(jr, &v, &vn);
            if (rc)
                return rc;
            if (!sl_st_dtype_parse(v, vn, dtype))
                return sl_jr_fail(jr, "tensor \"%s\": unknown dtype \"%.*s\"", tname,
                                  (int)(vn > 40 ? 40 : vn), v);
            have_dtype = true;
        } else if (kn == 5 && memcmp(k, "shape", 5) == 0) {
            bool f2 = true, m2;
            if (have_shape)
                return sl_jr_fail(jr, "tensor \"%s\": duplicate \"shape\"", tname);
            *ndim = 0;
            rc = sl_jr_begin_array(jr);
            while (!rc) {
                rc = sl_jr_next_elem(jr, &f2, &m2);
                if (rc || !m2)
                    break;
                if (*ndim >= SL_ST_MAX_DIMS)
                    return sl_jr_fail(jr, "tensor \"%s\": more than %d dimensions", tname,
                                      SL_ST_MAX_DIMS);
                rc = sl_jr_u64(jr, &shape[*ndim]);
                (*ndim)++;
            }
            if (rc)
                return rc;
            have_shape = true;
        } else if (kn == 12 && memcmp(k, "data_offsets", 12) == 0) {
            bool f2 = true, m2;
            unsigned n = 0;
            if (have_offsets)
                return sl_jr_fail(jr, "tensor \"%s\": duplicate \"data_offsets\"", tname);
            rc = sl_jr_begin_array(jr);
            while (!rc) {
                rc = sl_jr_next_elem(jr, &f2, &m2);
                if (rc || !m2)
                    break;
                if (n >= 2)
                    return sl_jr_fail(jr, "tensor \"%s\": data_offsets must have 2 entries", tname);
                rc = sl_jr_u64(jr, &off[n++]);
            }
            if (rc)
                return rc;
            if (n != 2)
                return sl_jr_fail(jr, "tensor \"%s\": data_offsets must have 2 entries", tname);
            have_offsets = true;
        } else {
            /* The reference reader ignores unknown members; so do we, with a note. */
            part_warn(p, "tensor \"%s\": ignored unknown member \"%.*s\"", tname,
                      (int)(kn > 40 ? 40 : kn), k);
            rc = sl_jr_skip(jr);
        }
    }
    if (rc)
        return rc;
    if (!have_dtype || !have_shape || !have_offsets)
        return sl_jr_fail(jr, "tensor \"%s\": missing \"%s\"", tname,
                          !have_dtype   ? "dtype"
                          : !have_shape ? "shape"
                                        : "data_offsets");
    return SL_OK;
}

/* The common entry layout, as safetensors writers emit it:
 *
 *   "NAME":{"dtype":"BF16","shape":[4096,4096],"data_offsets":[0,33554432]}
 *
 * with blanks allowed between tokens. These are the fields of one. */
struct entry {
    const char *name;
    size_t name_len;
    uint64_t hash; /* sl_strhash() of the name */
    unsigned dtype;
    unsigned ndim;
    uint64_t shape[SL_ST_MAX_DIMS];
    uint64_t off[2];
};

/* Expects byte `c` at p[i] after blanks; returns the index past it, or 0. */
static inline size_t expect(const char *p, size_t n, size_t i, char c)
{
    i = sl_jr_skip_blank(p, n, i);
    return i < n && p[i] == c ? i + 1 : 0;
}

/* Expects the member name `key` (quotes included) and its colon; returns the
 * index past the colon, or 0. Always inlined so that the compiler sees the
 * key's length and compares in a word or two instead of calling memcmp(). */
static inline __attribute__((always_inline)) size_t expect_key(const char *p, size_t n, size_t i,
                                                               const char *key, size_t klen)
{
    i = sl_jr_skip_blank(p, n, i);
    if (n - i < klen || memcmp(p + i, key, klen) != 0)
        return 0;
    return expect(p, n, i + klen, ':');
}

/* Reads "[a,b,...]" of at most `max` plain integers into v; returns the index
 * past the ']', or 0. */
static size_t plain_u64_array(const char *p, size_t n, size_t i, uint64_t *v, unsigned max,
                              unsigned *count)
{
    unsigned k = 0;

    i = expect(p, n, i, '[');
    if (!i)
        return 0;
    i = sl_jr_skip_blank(p, n, i);
    if (i < n && p[i] == ']') {
        *count = 0;
        return i + 1;
    }
    for (;;) {
        if (k >= max)
            return 0;
        i = sl_jr_skip_blank(p, n, i);
        if (!sl_jr_plain_u64(p, n, &i, &v[k]))
            return 0;
        k++;
        i = sl_jr_skip_blank(p, n, i);
        if (i >= n)
            return 0;
        if (p[i] == ']')
            break;
        if (p[i] != ',')
            return 0;
        i++;
    }
    *count = k;
    return i + 1;
}

/* Reads one entry of the common layout at jr->pos, with its leading ','
 * unless it is the first. Returns true and moves the reader past it when the
 * entry has exactly that layout and values the pull reader would accept;
 * otherwise returns false and leaves the reader where it was, and the pull
 * reader takes the entry (escapes, other member orders, unknown members,
 * "__metadata__", numbers it must judge, anything wrong). */
static bool fast_entry(struct sl_jr *jr, bool first, struct entry *e)
{
    const char *p = jr->p;
    size_t n = jr->len, i = jr->pos, end;
    unsigned noff = 0;

    if (!first) {
        i = expect(p, n, i, ',');
        if (!i)
            return false;
    }
    i = expect(p, n, i, '"');
    if (!i)
        return false;
    end = sl_jr_plain_string_hash(p, n, i, &e->hash);
    if (!end || (end - i == 12 && memcmp(p + i, "__metadata__", 12) == 0))
        return false;
    e->name = p + i;
    e->name_len = end - i;
    i = expect(p, n, end + 1, ':');
    if (i)
        i = expect(p, n, i, '{');
    if (i)
        i = expect_key(p, n, i, "\"dtype\"", 7);
    if (i)
        i = expect(p, n, i, '"');
    if (!i)
        return false;
    end = sl_jr_plain_string_end(p, n, i);
    if (!end || !sl_st_dtype_parse(p + i, end - i, &e->dtype))
        return false;
    i = expect(p, n, end + 1, ',');
    if (i)
        i = expect_key(p, n, i, "\"shape\"", 7);
    if (i)
        i = plain_u64_array(p, n, i, e->shape, SL_ST_MAX_DIMS, &e->ndim);
    if (i)
        i = expect(p, n, i, ',');
    if (i)
        i = expect_key(p, n, i, "\"data_offsets\"", 14);
    if (i)
        i = plain_u64_array(p, n, i, e->off, 2, &noff);
    if (i)
        i = expect(p, n, i, '}');
    /* end < begin is an error the pull reader words. */
    if (!i || noff != 2 || e->off[1] < e->off[0])
        return false;
    jr->pos = i;
    return true;
}

/* Appends entry `e` to the part. Until validate() has checked the offsets in
 * order, `offset` holds begin and `nbytes` end - begin. */
static void part_add(struct sl_st_part *p, const struct entry *e, uint64_t nbytes)
{
    struct sl_tensor *t;

    if (p->ntensors == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->tensors = sl_xrealloc(p->tensors, p->cap * sizeof(*p->tensors));
    }
    t = &p->tensors[p->ntensors++];
    t->name = sl_arena_strndup(p->arena, e->name, e->name_len);
    t->name_len = (uint32_t)e->name_len;
    t->hash = e->hash;
    t->shape = sl_arena_alloc(p->arena, (e->ndim ? e->ndim : 1) * sizeof(uint64_t));
    if (e->ndim)
        memcpy(t->shape, e->shape, e->ndim * sizeof(uint64_t));
    t->ndim = (uint8_t)e->ndim;
    t->nelem = 0; /* validate() sets it */
    t->dtype = (uint16_t)e->dtype;
    t->file = 0; /* the merge sets it */
    t->offset = e->off[0];
    t->nbytes = nbytes;
}

/* Checks one tensor in data order; `*start` is where its data must begin. */
static enum sl_err check_span(struct sl_tensor *t, uint64_t begin, uint64_t end, uint64_t *start,
                              const char *fname, struct sl_error *err)
{
    uint64_t nelem = 1, nbits;
    unsigned bits = sl_st_dtype_bits(t->dtype);

    if (begin != *start || end < begin)
        return sl_error_setk(err, SL_EINPUT, K_BAD_OFFSET,
                             "%s: tensor \"%s\": data_offsets [%llu, %llu] should begin at "
                             "%llu (tensors must be contiguous, no gaps or overlaps)",
                             fname, t->name, (unsigned long long)begin, (unsigned long long)end,
                             (unsigned long long)*start);
    *start = end;
    for (unsigned d = 0; d < t->ndim; d++) {
        if (sl_mul_u64_overflow(nelem, t->shape[d], &nelem))
            return sl_error_setk(err, SL_EINPUT, K_OVERFLOW,
                                 "%s: tensor \"%s\": shape product overflows 64 bits", fname,
                                 t->name);
    }
    if (sl_mul_u64_overflow(nelem, bits, &nbits))
        return sl_error_setk(err, SL_EINPUT, K_OVERFLOW,
                             "%s: tensor \"%s\": size in bits overflows 64 bits", fname, t->name);
    if (nbits % 8 != 0)
        return sl_error_setk(err, SL_EINPUT, K_MISALIGNED,
                             "%s: tensor \"%s\": %llu elements of %s do not fill whole bytes",
                             fname, t->name, (unsigned long long)nelem, sl_dtype_name(t->dtype));
    if (end - begin != nbits / 8)
        return sl_error_setk(err, SL_EINPUT, K_BAD_INFO,
                             "%s: tensor \"%s\": data_offsets span %llu bytes but %s shape "
                             "needs %llu",
                             fname, t->name, (unsigned long long)(end - begin),
                             sl_dtype_name(t->dtype), (unsigned long long)(nbits / 8));
    t->nelem = nelem;
    return SL_OK;
}

/* The reference sorts tensors by data_offsets and checks them in that order.
 * Writers store them in that order already, so a linear pass first sees
 * whether sorting (by begin, end, then header position) would change it. */
static enum sl_err validate(struct sl_st_part *p, uint64_t n, struct sl_error *err)
{
    size_t count = p->ntensors;
    struct sl_tensor *tv = p->tensors;
    struct span *sp = NULL;
    uint64_t start = 0;
    bool sorted = true;
    enum sl_err rc = SL_OK;

    for (size_t i = 1; i < count && sorted; i++) {
        uint64_t b0 = tv[i - 1].offset, e0 = b0 + tv[i - 1].nbytes;
        uint64_t b1 = tv[i].offset, e1 = b1 + tv[i].nbytes;
        sorted = b0 < b1 || (b0 == b1 && e0 <= e1);
    }
    if (sorted) {
        for (size_t i = 0; i < count && !rc; i++)
            rc =
                check_span(&tv[i], tv[i].offset, tv[i].offset + tv[i].nbytes, &start, p->path, err);
    } else {
        sp = sl_xcalloc(count, sizeof(*sp));
        for (size_t i = 0; i < count; i++) {
            sp[i].begin = tv[i].offset;
            sp[i].end = tv[i].offset + tv[i].nbytes;
            sp[i].idx = i;
        }
        qsort(sp, count, sizeof(*sp), cmp_span);
        for (size_t i = 0; i < count && !rc; i++)
            rc = check_span(&tv[sp[i].idx], sp[i].begin, sp[i].end, &start, p->path, err);
    }
    if (rc)
        goto out;
    /* start is the end of the data buffer; n <= size - 8 was checked. */
    if (start != p->size - 8 - n) {
        rc =
            sl_error_setk(err, SL_EINPUT, K_INCOMPLETE,
                          "%s: tensor data ends at byte %llu but the file has %llu bytes%s",
                          p->path, (unsigned long long)(8 + n + start), (unsigned long long)p->size,
                          8 + n + start < p->size ? " (trailing bytes)" : " (file is truncated)");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        tv[i].offset += 8 + n;
    p->data_start = 8 + n;
out:
    free(sp);
    return rc;
}

/* Parses the N header bytes in `json` (the file has p->size bytes) into `p`. */
static enum sl_err parse_header(struct sl_st_part *p, const char *json, size_t n,
                                struct sl_error *err)
{
    const char *fname = p->path;
    size_t bad;
    struct sl_jr jr;
    bool first = true, more, have_meta = false;
    enum sl_err rc;
    struct entry e;
    char *tname = NULL;

    if (!sl__utf8_valid(json, n, &bad))
        return sl_error_setk(err, SL_EINPUT, K_BAD_UTF8, "%s: byte %llu: header is not valid UTF-8",
                             fname, (unsigned long long)(8 + bad));
    sl_jr_init(&jr, json, n, 8, fname, ST_MAX_DEPTH, err);
    jr.kind = K_BAD_JSON;
    rc = sl_jr_begin_object(&jr);
    while (!rc) {
        const char *k;
        size_t kn;

        if (fast_entry(&jr, first, &e)) {
            first = false;
            part_add(p, &e, e.off[1] - e.off[0]);
            continue;
        }
        rc = sl_jr_next_key(&jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (kn == 12 && memcmp(k, "__metadata__", 12) == 0) {
            if (have_meta) {
                rc = sl_jr_fail(&jr, "duplicate \"__metadata__\"");
                break;
            }
            have_meta = true;
            rc = parse_metadata(&jr);
            continue;
        }
        if (memchr(k, '\0', kn)) {
            rc = sl_jr_fail(&jr, "tensor name contains a NUL character");
            break;
        }
        free(tname);
        tname = sl_xstrndup(k, kn);
        e.ndim = 0;
        e.off[0] = e.off[1] = 0;
        rc = parse_entry(&jr, p, tname, &e.dtype, e.shape, &e.ndim, e.off);
        if (rc)
            break;
        /* Store begin and end - begin; validate() checks them in order.
         * end < begin is reported here as the reference does. */
        e.name = tname;
        e.name_len = kn;
        e.hash = sl_strhash(tname, kn);
        part_add(p, &e, e.off[1] >= e.off[0] ? e.off[1] - e.off[0] : 0);
        if (e.off[1] < e.off[0])
            rc = sl_error_setk(err, SL_EINPUT, K_BAD_OFFSET,
                               "%s: tensor \"%s\": data_offsets end %llu is before begin %llu",
                               fname, tname, (unsigned long long)e.off[1],
                               (unsigned long long)e.off[0]);
    }
    if (!rc)
        rc = sl_jr_end(&jr);
    free(tname);
    sl_jr_release(&jr);
    if (rc)
        return rc;
    return validate(p, n, err);
}

static enum sl_err check_prefix(const char *fname, const unsigned char *p8, uint64_t size,
                                uint64_t *n, struct sl_error *err)
{
    if (size < 8)
        return sl_error_setk(err, SL_EINPUT, K_TOO_SMALL,
                             "%s: file is %llu bytes, too small for a safetensors header", fname,
                             (unsigned long long)size);
    *n = sl_load_le64(p8);
    if (*n > SL_ST_MAX_HEADER)
        return sl_error_setk(err, SL_EINPUT, K_TOO_LARGE,
                             "%s: byte 0: header length %llu is over the limit of %llu bytes",
                             fname, (unsigned long long)*n, (unsigned long long)SL_ST_MAX_HEADER);
    if (*n > size - 8)
        return sl_error_setk(err, SL_EINPUT, K_BAD_LENGTH,
                             "%s: byte 0: header length %llu runs past the end of the file "
                             "(%llu bytes)",
                             fname, (unsigned long long)*n, (unsigned long long)size);
    return SL_OK;
}

/* The first read takes this much: the length and, for most small files,
 * the whole header, in one system call. More would copy tensor data for
 * nothing. */
#define FIRST_READ 4096

/* Reads the header of the open file `fd` into `p`; `scratch` receives the
 * file's first 8 + N bytes. */
static enum sl_err read_fd(struct sl_st_part *p, int fd, struct sl_buf *scratch,
                           struct sl_error *err)
{
    unsigned char p8[8] = {0};
    uint64_t n;
    size_t got = 0;
    enum sl_err rc;

    /* One read of the first page usually brings the length and the header.
     * When it brings less than the length, the length is read as before, and
     * the rest of the header is read from where it stopped, so failures and
     * their messages stay those of reading exactly 8 + N bytes. */
    sl_buf_reset(scratch);
    if (p->size >= 8 && sl_buf_grow(scratch, FIRST_READ) == SL_OK) {
        ssize_t r = pread(fd, scratch->data, p->size < FIRST_READ ? p->size : FIRST_READ, 0);
        if (r >= 8) {
            got = (size_t)r;
            memcpy(p8, scratch->data, 8);
        }
    }
    if (!got && p->size >= 8) {
        rc = sl_pread_full(fd, p8, 8, 0, p->path, err);
        if (rc)
            return rc;
        memcpy(scratch->data, p8, 8);
        got = 8;
    }
    rc = check_prefix(p->path, p8, p->size, &n, err);
    if (rc)
        return rc;
    if (got < 8 + n) {
        scratch->len = got;
        if (sl_buf_grow(scratch, (size_t)(8 + n - got)))
            return sl_error_set(err, SL_ELIMIT, "%s: header of %llu bytes is too large", p->path,
                                (unsigned long long)n);
        rc = sl_pread_full(fd, scratch->data + got, (size_t)(8 + n - got), got, p->path, err);
        if (rc)
            return rc;
    }
    scratch->len = (size_t)(8 + n);
    return parse_header(p, scratch->data + 8, (size_t)n, err);
}

void sl__st_part_read(struct sl_st_part *p, struct sl_buf *scratch)
{
    int fd;

    sl_error_clear(&p->err);
    p->rc = sl_file_open(p->path, &fd, &p->size, &p->err);
    if (p->rc)
        return;
    p->opened = true;
    p->rc = read_fd(p, fd, scratch, &p->err);
    close(fd);
}

void sl__st_part_release(struct sl_st_part *p)
{
    free(p->tensors);
    p->tensors = NULL;
    p->ntensors = 0;
    p->cap = 0;
    for (size_t i = 0; i < p->nwarnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    p->warnings = NULL;
    p->nwarnings = 0;
}

void sl__st_merge_begin(struct sl_model *m, struct sl_st_merge *mg)
{
    memset(mg, 0, sizeof(*mg));
    mg->first_tensor = m->ntensors;
    mg->named = m->ntensors;
}

/* Enters the names of tensors [mg->named, m->ntensors) in m->names, in order;
 * stops at the first name seen before, which ends the merge. */
static void enter_names(struct sl_model *m, struct sl_st_merge *mg)
{
    size_t end = m->ntensors;

    for (size_t i = mg->named; i < end && !mg->name_rc; i++) {
        const struct sl_tensor *t = &m->tensors[i], *prev;
        uint32_t pi;

        /* Fetch a slot a few names ahead while this one goes in. */
        if (i + 8 < end)
            sl_strmap_prefetch(&m->names, m->tensors[i + 8].hash);
        mg->named = i + 1;
        if (sl_strmap_insert_h(&m->names, t->name, t->name_len, t->hash, (uint32_t)i, &pi))
            continue;
        prev = &m->tensors[pi];
        if (prev->file == t->file)
            mg->name_rc = sl_error_setk(&mg->name_err, SL_EINPUT, K_BAD_JSON,
                                        "%s: tensor \"%.200s\" appears twice",
                                        m->files[t->file].path, t->name);
        else
            mg->name_rc = sl_error_setk(&mg->name_err, SL_EINPUT, K_BAD_JSON,
                                        "tensor \"%.200s\" appears in both %s and %s", t->name,
                                        m->files[prev->file].name, m->files[t->file].name);
        mg->stopped = true;
    }
}

void sl__st_merge_reserve(struct sl_model *m, struct sl_st_merge *mg, size_t count)
{
    size_t want = mg->first_tensor + count;

    /* Big arrays are sized once and backed at once: growing them or taking
     * page faults while other threads allocate costs far more. */
    if (want > m->tensors_cap && want <= SL_MODEL_MAX_TENSORS) {
        m->tensors = sl_xrealloc(m->tensors, want * sizeof(*m->tensors));
        sl_populate(m->tensors + m->ntensors, (want - m->ntensors) * sizeof(*m->tensors));
        m->tensors_cap = want;
    }
    sl_strmap_reserve(&m->names, m->names.count + count);
    mg->reserved = true;
    enter_names(m, mg);
}

static bool merge_stop(struct sl_st_merge *mg, enum sl_err rc, const struct sl_error *err)
{
    mg->stopped = true;
    mg->rc = rc;
    mg->err = *err;
    return false;
}

bool sl__st_merge_part(struct sl_model *m, struct sl_st_merge *mg, const struct sl_st_part *p)
{
    struct sl_error e;
    uint16_t file;
    size_t room, take;

    if (mg->stopped)
        return false;
    if (m->nfiles >= SL_MODEL_MAX_FILES) {
        sl_error_set(&e, SL_ELIMIT, "more than %d weight files", SL_MODEL_MAX_FILES);
        return merge_stop(mg, SL_ELIMIT, &e);
    }
    /* A shard the index lists that is not there has its own message. The
     * one-by-one reader asked access() before opening; asking only when the
     * open failed gives the same answer with one system call less. */
    if (!p->opened && p->listed && access(p->path, F_OK) != 0) {
        sl_error_set(&e, SL_EINPUT, "%s: shard %s is listed but missing", p->index_path, p->listed);
        return merge_stop(mg, SL_EINPUT, &e);
    }
    if (!p->opened)
        return merge_stop(mg, p->rc, &p->err);
    file = sl__model_add_file(m, p->path, p->size, SL_FMT_SAFETENSORS);
    /* The tensor limit counts across files and stops at the tensor past it. */
    room = SL_MODEL_MAX_TENSORS - m->ntensors;
    take = p->ntensors < room ? p->ntensors : room;
    if (m->tensors_cap - m->ntensors < take) {
        size_t cap = m->tensors_cap ? m->tensors_cap : 256;
        while (cap - m->ntensors < take)
            cap *= 2;
        m->tensors = sl_xrealloc(m->tensors, cap * sizeof(*m->tensors));
        m->tensors_cap = cap;
    }
    for (size_t i = 0; i < take; i++) {
        m->tensors[m->ntensors] = p->tensors[i];
        m->tensors[m->ntensors].file = file;
        m->ntensors++;
    }
    if (mg->reserved)
        enter_names(m, mg);
    if (mg->stopped)
        return false;
    if (take < p->ntensors) {
        sl_error_set(&e, SL_ELIMIT, "%s: more than %u tensors", p->path, SL_MODEL_MAX_TENSORS);
        return merge_stop(mg, SL_ELIMIT, &e);
    }
    if (p->rc)
        return merge_stop(mg, p->rc, &p->err);
    m->files[file].data_start = p->data_start;
    m->files[file].tensors = (uint32_t)p->ntensors;
    for (size_t i = 0; i < p->nwarnings; i++)
        sl__model_warn(m, "%s", p->warnings[i]);
    return true;
}

enum sl_err sl__st_merge_end(struct sl_model *m, struct sl_st_merge *mg, struct sl_error *err)
{
    /* Names are entered in model order, so the first name seen twice is the
     * one a one-by-one reader met first, and it comes before any failure
     * that stopped the merge (that failure came later in the same order). */
    if (!mg->reserved)
        sl__st_merge_reserve(m, mg, m->ntensors - mg->named);
    enter_names(m, mg);
    if (mg->name_rc) {
        if (err)
            *err = mg->name_err;
        return mg->name_rc;
    }
    if (mg->stopped) {
        if (err)
            *err = mg->err;
        return mg->rc;
    }
    return SL_OK;
}

enum sl_err sl_safetensors_parse_mem(const char *name, const unsigned char *data, size_t len,
                                     struct sl_model **out, struct sl_error *err)
{
    struct sl_model *m = sl__model_new();
    struct sl_st_part part;
    struct sl_st_merge mg;
    uint64_t n;
    enum sl_err rc;

    memset(&part, 0, sizeof(part));
    part.path = name;
    part.arena = &m->arena;
    part.size = len;
    part.opened = true;
    rc = check_prefix(name, data, len, &n, err);
    if (rc)
        goto out;
    part.rc = parse_header(&part, (const char *)data + 8, (size_t)n, &part.err);
    sl__st_merge_begin(m, &mg);
    sl__st_merge_part(m, &mg, &part);
    rc = sl__st_merge_end(m, &mg, err);
out:
    sl__st_part_release(&part);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    m->format = SL_FMT_SAFETENSORS;
    *out = m;
    return SL_OK;
}
