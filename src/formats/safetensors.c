/* SPDX-License-Identifier: Apache-2.0 */
/*
 * safetensors header reader. It follows the reference reader's rules and
 * error order (formats_int.h) and names the reference's error variant as the
 * error kind, so tests can compare with the reference's own unit tests.
 */
#include "formats/formats_int.h"

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

/* Parses one tensor entry's object into dtype, shape and offsets. */
static enum sl_err parse_entry(struct sl_jr *jr, struct sl_model *m, const char *tname,
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
            sl__model_warn(m, "tensor \"%s\": ignored unknown member \"%.*s\"", tname,
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

static enum sl_err validate(struct sl_model *m, size_t first, uint16_t file, uint64_t n,
                            uint64_t size, const char *fname, struct sl_error *err)
{
    size_t count = m->ntensors - first;
    struct span *sp = sl_xcalloc(count ? count : 1, sizeof(*sp));
    uint64_t start = 0;
    enum sl_err rc = SL_OK;

    for (size_t i = 0; i < count; i++) {
        struct sl_tensor *t = &m->tensors[first + i];
        sp[i].begin = t->offset;
        sp[i].end = t->offset + t->nbytes; /* parse stored begin and end - begin */
        sp[i].idx = first + i;
    }
    qsort(sp, count, sizeof(*sp), cmp_span);
    for (size_t i = 0; i < count; i++) {
        struct sl_tensor *t = &m->tensors[sp[i].idx];
        uint64_t nelem = 1, nbits;
        unsigned bits = sl_st_dtype_bits(t->dtype);

        if (sp[i].begin != start || sp[i].end < sp[i].begin) {
            rc = sl_error_setk(err, SL_EINPUT, K_BAD_OFFSET,
                               "%s: tensor \"%s\": data_offsets [%llu, %llu] should begin at "
                               "%llu (tensors must be contiguous, no gaps or overlaps)",
                               fname, t->name, (unsigned long long)sp[i].begin,
                               (unsigned long long)sp[i].end, (unsigned long long)start);
            goto out;
        }
        start = sp[i].end;
        for (unsigned d = 0; d < t->ndim; d++) {
            if (sl_mul_u64_overflow(nelem, t->shape[d], &nelem)) {
                rc = sl_error_setk(err, SL_EINPUT, K_OVERFLOW,
                                   "%s: tensor \"%s\": shape product overflows 64 bits", fname,
                                   t->name);
                goto out;
            }
        }
        if (sl_mul_u64_overflow(nelem, bits, &nbits)) {
            rc = sl_error_setk(err, SL_EINPUT, K_OVERFLOW,
                               "%s: tensor \"%s\": size in bits overflows 64 bits", fname, t->name);
            goto out;
        }
        if (nbits % 8 != 0) {
            rc = sl_error_setk(err, SL_EINPUT, K_MISALIGNED,
                               "%s: tensor \"%s\": %llu elements of %s do not fill whole bytes",
                               fname, t->name, (unsigned long long)nelem, sl_dtype_name(t->dtype));
            goto out;
        }
        if (sp[i].end - sp[i].begin != nbits / 8) {
            rc = sl_error_setk(err, SL_EINPUT, K_BAD_INFO,
                               "%s: tensor \"%s\": data_offsets span %llu bytes but %s shape "
                               "needs %llu",
                               fname, t->name, (unsigned long long)(sp[i].end - sp[i].begin),
                               sl_dtype_name(t->dtype), (unsigned long long)(nbits / 8));
            goto out;
        }
        t->nelem = nelem;
    }
    /* start is the end of the data buffer; n <= size - 8 was checked. */
    if (start != size - 8 - n) {
        rc = sl_error_setk(err, SL_EINPUT, K_INCOMPLETE,
                           "%s: tensor data ends at byte %llu but the file has %llu bytes%s", fname,
                           (unsigned long long)(8 + n + start), (unsigned long long)size,
                           8 + n + start < size ? " (trailing bytes)" : " (file is truncated)");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        m->tensors[first + i].offset += 8 + n;
    m->files[file].data_start = 8 + n;
    m->files[file].tensors = (uint32_t)count;
out:
    free(sp);
    return rc;
}

enum sl_err sl__st_parse_header(struct sl_model *m, uint16_t file, const char *json, size_t n,
                                uint64_t size, struct sl_error *err)
{
    const char *fname = m->files[file].path;
    size_t bad;
    struct sl_jr jr;
    bool first = true, more, have_meta = false;
    size_t first_tensor = m->ntensors;
    enum sl_err rc;
    uint64_t shape[SL_ST_MAX_DIMS];
    char *tname = NULL;

    if (!sl_utf8_valid((const unsigned char *)json, n, &bad))
        return sl_error_setk(err, SL_EINPUT, K_BAD_UTF8, "%s: byte %llu: header is not valid UTF-8",
                             fname, (unsigned long long)(8 + bad));
    sl_jr_init(&jr, json, n, 8, fname, ST_MAX_DEPTH, err);
    jr.kind = K_BAD_JSON;
    rc = sl_jr_begin_object(&jr);
    while (!rc) {
        const char *k;
        size_t kn;
        unsigned dtype = 0, ndim = 0;
        uint64_t off[2] = {0, 0};

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
        rc = parse_entry(&jr, m, tname, &dtype, shape, &ndim, off);
        if (rc)
            break;
        /* Store begin and end - begin; validate() checks them in order.
         * end < begin is reported there as the reference does. */
        rc = sl__model_add_tensor(m, file, tname, kn, dtype, shape, ndim, off[0],
                                  off[1] >= off[0] ? off[1] - off[0] : 0, err);
        if (rc == SL_EINPUT && err)
            err->kind = K_BAD_JSON;
        if (!rc && off[1] < off[0]) {
            rc =
                sl_error_setk(err, SL_EINPUT, K_BAD_OFFSET,
                              "%s: tensor \"%s\": data_offsets end %llu is before begin %llu",
                              fname, tname, (unsigned long long)off[1], (unsigned long long)off[0]);
        }
    }
    if (!rc)
        rc = sl_jr_end(&jr);
    free(tname);
    sl_jr_release(&jr);
    if (rc)
        return rc;
    return validate(m, first_tensor, file, n, size, fname, err);
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

enum sl_err sl__st_read_fd(struct sl_model *m, uint16_t file, int fd, struct sl_buf *scratch,
                           struct sl_error *err)
{
    struct sl_model_file *f = &m->files[file];
    unsigned char p8[8] = {0};
    uint64_t n;
    enum sl_err rc;

    if (f->size >= 8) {
        rc = sl_pread_full(fd, p8, 8, 0, f->path, err);
        if (rc)
            return rc;
    }
    rc = check_prefix(f->path, p8, f->size, &n, err);
    if (rc)
        return rc;
    sl_buf_reset(scratch);
    if (sl_buf_grow(scratch, (size_t)n))
        return sl_error_set(err, SL_ELIMIT, "%s: header of %llu bytes is too large", f->path,
                            (unsigned long long)n);
    rc = sl_pread_full(fd, scratch->data, (size_t)n, 8, f->path, err);
    if (rc)
        return rc;
    scratch->len = (size_t)n;
    return sl__st_parse_header(m, file, scratch->data, (size_t)n, f->size, err);
}

enum sl_err sl_safetensors_parse_mem(const char *name, const unsigned char *data, size_t len,
                                     struct sl_model **out, struct sl_error *err)
{
    struct sl_model *m = sl__model_new();
    uint16_t file = sl__model_add_file(m, name, len, SL_FMT_SAFETENSORS);
    uint64_t n;
    enum sl_err rc;

    rc = check_prefix(name, data, len, &n, err);
    if (!rc)
        rc = sl__st_parse_header(m, file, (const char *)data + 8, (size_t)n, len, err);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    m->format = SL_FMT_SAFETENSORS;
    *out = m;
    return SL_OK;
}
