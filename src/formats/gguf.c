/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GGUF v3 header reader with ggml's stricter rules (formats_int.h): bounded
 * strings and arrays, no duplicate keys or tensor names, known value and
 * tensor types, whole blocks per row, tensors back to back in info order
 * each padded to the alignment, and all data inside the file. Metadata values
 * are skipped unless they are the few keys sluice reads (architecture, counts,
 * alignment, split information).
 */
#include "formats/formats_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "common/banned.h"

#define WINDOW  (64u * 1024u)
#define MAX_KEY 65535u

enum gtype {
    GT_U8 = 0,
    GT_I8 = 1,
    GT_U16 = 2,
    GT_I16 = 3,
    GT_U32 = 4,
    GT_I32 = 5,
    GT_F32 = 6,
    GT_BOOL = 7,
    GT_STRING = 8,
    GT_ARRAY = 9,
    GT_U64 = 10,
    GT_I64 = 11,
    GT_F64 = 12,
    GT_COUNT
};

static const unsigned gsize[GT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const gname[GT_COUNT] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                            "bool", "string", "array", "u64", "i64", "f64"};

/* Integer-valued keys we look at, matched as "<arch>.<suffix>" or by full name. */
struct kv_int {
    char key[96];
    int64_t value;
};

struct gctx {
    struct sl_src *src;
    struct sl_model *m;
    struct sl_error *err;
    struct sl_strmap keys;
    struct sl_arena key_arena;
    struct kv_int ints[32];
    size_t nints;
    char arch[64];
    uint32_t alignment;
    bool have_alignment;
};

static enum sl_err fail(struct gctx *g, enum sl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum sl_err fail(struct gctx *g, enum sl_err code, const char *fmt, ...)
{
    char what[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_error_set(g->err, code, "%s: byte %llu: %s", g->src->name,
                        (unsigned long long)g->src->pos, what);
}

static enum sl_err src_read(struct gctx *g, void *out, size_t n, const char *what)
{
    struct sl_src *s = g->src;
    unsigned char *o = out;

    if (n > s->size - s->pos)
        return fail(g, SL_EINPUT, "file ends while reading %s (%zu bytes needed, %llu left)", what,
                    n, (unsigned long long)(s->size - s->pos));
    if (s->fd < 0) {
        memcpy(o, s->mem + s->pos, n);
        s->pos += n;
        return SL_OK;
    }
    while (n > 0) {
        size_t take;
        if (s->pos >= s->buf_off && s->pos < s->buf_off + s->buf_len) {
            size_t at = (size_t)(s->pos - s->buf_off);
            take = s->buf_len - at;
            if (take > n)
                take = n;
            memcpy(o, s->buf + at, take);
            o += take;
            n -= take;
            s->pos += take;
            continue;
        }
        take = WINDOW;
        if (take > s->size - s->pos)
            take = (size_t)(s->size - s->pos);
        {
            enum sl_err rc = sl_pread_full(s->fd, s->buf, take, s->pos, s->name, g->err);
            if (rc)
                return rc;
        }
        s->buf_off = s->pos;
        s->buf_len = take;
    }
    return SL_OK;
}

static enum sl_err src_skip(struct gctx *g, uint64_t n, const char *what)
{
    struct sl_src *s = g->src;

    if (n > s->size - s->pos)
        return fail(g, SL_EINPUT, "file ends while skipping %s (%llu bytes needed, %llu left)",
                    what, (unsigned long long)n, (unsigned long long)(s->size - s->pos));
    s->pos += n;
    return SL_OK;
}

static enum sl_err rd_u32(struct gctx *g, uint32_t *v, const char *what)
{
    unsigned char b[4];
    enum sl_err rc = src_read(g, b, 4, what);

    if (!rc)
        *v = sl_load_le32(b);
    return rc;
}

static enum sl_err rd_u64(struct gctx *g, uint64_t *v, const char *what)
{
    unsigned char b[8];
    enum sl_err rc = src_read(g, b, 8, what);

    if (!rc)
        *v = sl_load_le64(b);
    return rc;
}

/* Reads a string's length and checks it against the limits and the file. */
static enum sl_err rd_strlen(struct gctx *g, uint64_t *n, const char *what)
{
    enum sl_err rc = rd_u64(g, n, what);

    if (rc)
        return rc;
    if (*n > SL_GGUF_MAX_STRING)
        return fail(g, SL_EINPUT, "%s length %llu is over the 1 GiB limit", what,
                    (unsigned long long)*n);
    if (*n > g->src->size - g->src->pos)
        return fail(g, SL_EINPUT, "%s length %llu runs past the end of the file", what,
                    (unsigned long long)*n);
    return SL_OK;
}

static enum sl_err skip_value(struct gctx *g, uint32_t type, int depth);

static enum sl_err skip_array(struct gctx *g, int depth)
{
    uint32_t et;
    uint64_t count;
    enum sl_err rc;

    if (depth > SL_GGUF_MAX_NEST)
        return fail(g, SL_EINPUT, "arrays nested deeper than %d levels", SL_GGUF_MAX_NEST);
    rc = rd_u32(g, &et, "array element type");
    if (!rc)
        rc = rd_u64(g, &count, "array length");
    if (rc)
        return rc;
    if (et >= GT_COUNT)
        return fail(g, SL_EINPUT, "unknown array element type %u", et);
    if (count > SL_GGUF_MAX_ARRAY)
        return fail(g, SL_EINPUT, "array of %llu elements is over the limit of 2^30",
                    (unsigned long long)count);
    if (gsize[et] > 0) {
        /* count <= 2^30 and size <= 8: no overflow. */
        if (et == GT_BOOL) {
            for (uint64_t i = 0; i < count; i++) {
                unsigned char b;
                rc = src_read(g, &b, 1, "bool");
                if (rc)
                    return rc;
                if (b > 1)
                    return fail(g, SL_EINPUT, "bool array element is %u, not 0 or 1", b);
            }
            return SL_OK;
        }
        return src_skip(g, count * gsize[et], "array data");
    }
    for (uint64_t i = 0; i < count; i++) {
        rc = skip_value(g, et, depth + 1);
        if (rc)
            return rc;
    }
    return SL_OK;
}

static enum sl_err skip_value(struct gctx *g, uint32_t type, int depth)
{
    if (type == GT_STRING) {
        uint64_t n;
        enum sl_err rc = rd_strlen(g, &n, "string");
        return rc ? rc : src_skip(g, n, "string");
    }
    if (type == GT_ARRAY)
        return skip_array(g, depth);
    if (type == GT_BOOL) {
        unsigned char b;
        enum sl_err rc = src_read(g, &b, 1, "bool");
        if (!rc && b > 1)
            return fail(g, SL_EINPUT, "bool value is %u, not 0 or 1", b);
        return rc;
    }
    return src_skip(g, gsize[type], gname[type]);
}

/* Reads an integer of any integer type into *v (as int64; u64 above INT64_MAX
 * saturates, which no count we read can reach). */
static enum sl_err read_int(struct gctx *g, uint32_t type, int64_t *v, bool *is_int)
{
    unsigned char b[8];
    enum sl_err rc;

    *is_int = true;
    switch (type) {
    case GT_U8:
    case GT_I8:
    case GT_U16:
    case GT_I16:
    case GT_U32:
    case GT_I32:
    case GT_U64:
    case GT_I64:
        rc = src_read(g, b, gsize[type], gname[type]);
        if (rc)
            return rc;
        break;
    default:
        *is_int = false;
        return skip_value(g, type, 0);
    }
    switch (type) {
    case GT_U8:
        *v = b[0];
        break;
    case GT_I8:
        *v = (int8_t)b[0];
        break;
    case GT_U16:
        *v = sl_load_le16(b);
        break;
    case GT_I16:
        *v = (int16_t)sl_load_le16(b);
        break;
    case GT_U32:
        *v = sl_load_le32(b);
        break;
    case GT_I32:
        *v = (int32_t)sl_load_le32(b);
        break;
    case GT_U64: {
        uint64_t u = sl_load_le64(b);
        *v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
        break;
    }
    default:
        *v = (int64_t)sl_load_le64(b);
        break;
    }
    return SL_OK;
}

static bool interesting_int(const char *key)
{
    static const char *const suffixes[] = {
        ".block_count", ".embedding_length",    ".expert_count",   ".expert_used_count",
        ".vocab_size",  ".feed_forward_length", ".context_length",
    };
    if (strcmp(key, "general.file_type") == 0 || strcmp(key, "split.no") == 0 ||
        strcmp(key, "split.count") == 0 || strcmp(key, "split.tensors.count") == 0)
        return true;
    for (size_t i = 0; i < SL_ARRAY_LEN(suffixes); i++)
        if (sl_str_has_suffix(key, strlen(key), suffixes[i]))
            return true;
    return false;
}

static enum sl_err read_kv(struct gctx *g, uint64_t index)
{
    uint64_t klen;
    uint32_t type;
    char *key;
    size_t bad;
    uint64_t at;
    enum sl_err rc;

    at = g->src->pos;
    rc = rd_strlen(g, &klen, "metadata key");
    if (rc)
        return rc;
    if (klen == 0)
        return fail(g, SL_EINPUT, "metadata key %llu is empty", (unsigned long long)index);
    if (klen > MAX_KEY)
        return fail(g, SL_EINPUT, "metadata key of %llu bytes is over the limit of %u",
                    (unsigned long long)klen, MAX_KEY);
    key = sl_arena_alloc(&g->key_arena, (size_t)klen + 1);
    rc = src_read(g, key, (size_t)klen, "metadata key");
    if (rc)
        return rc;
    key[klen] = '\0';
    if (!sl_utf8_valid((unsigned char *)key, (size_t)klen, &bad) || memchr(key, 0, (size_t)klen))
        return fail(g, SL_EINPUT, "metadata key %llu is not valid UTF-8 text",
                    (unsigned long long)index);
    if (!sl_strmap_insert(&g->keys, key, (size_t)klen, 0, NULL)) {
        g->src->pos = at;
        return fail(g, SL_EINPUT, "duplicate metadata key \"%.80s\"", key);
    }
    rc = rd_u32(g, &type, "value type");
    if (rc)
        return rc;
    if (type >= GT_COUNT)
        return fail(g, SL_EINPUT, "key \"%.80s\": unknown value type %u", key, type);

    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a;
        if (type != GT_U32)
            return fail(g, SL_EINPUT, "general.alignment must be a u32, not %s", gname[type]);
        rc = rd_u32(g, &a, "general.alignment");
        if (rc)
            return rc;
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(g, SL_EINPUT, "general.alignment %u is not a power of two", a);
        g->alignment = a;
        g->have_alignment = true;
        return SL_OK;
    }
    if (strcmp(key, "general.architecture") == 0 && type == GT_STRING) {
        uint64_t n;
        rc = rd_strlen(g, &n, "general.architecture");
        if (rc)
            return rc;
        if (n >= sizeof(g->arch))
            return src_skip(g, n, "general.architecture");
        rc = src_read(g, g->arch, (size_t)n, "general.architecture");
        g->arch[n] = '\0';
        for (size_t i = 0; i < n; i++) {
            char c = g->arch[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.')) {
                g->arch[0] = '\0';
                break;
            }
        }
        return rc;
    }
    if (interesting_int(key) && g->nints < SL_ARRAY_LEN(g->ints) && klen < 96) {
        int64_t v;
        bool is_int;
        rc = read_int(g, type, &v, &is_int);
        if (!rc && is_int) {
            memcpy(g->ints[g->nints].key, key, (size_t)klen + 1);
            g->ints[g->nints].value = v;
            g->nints++;
        }
        return rc;
    }
    return skip_value(g, type, 0);
}

static bool lookup_int(struct gctx *g, const char *suffix, int64_t *v)
{
    char key[160];

    if (g->arch[0])
        snprintf(key, sizeof(key), "%s%s", g->arch, suffix);
    else
        snprintf(key, sizeof(key), "%s", suffix + 1);
    for (size_t i = 0; i < g->nints; i++) {
        if (strcmp(g->ints[i].key, key) == 0) {
            *v = g->ints[i].value;
            return true;
        }
    }
    return false;
}

static void fill_hints(struct gctx *g)
{
    struct sl_model_hints *h = &g->m->hints;
    int64_t v;

    h->from_gguf = true;
    if (g->arch[0] && !h->arch[0])
        snprintf(h->arch, sizeof(h->arch), "%s", g->arch);
    if (lookup_int(g, ".block_count", &v) && h->layers < 0)
        h->layers = v;
    if (lookup_int(g, ".embedding_length", &v) && h->hidden_size < 0)
        h->hidden_size = v;
    if (lookup_int(g, ".vocab_size", &v) && h->vocab_size < 0)
        h->vocab_size = v;
    if (lookup_int(g, ".expert_count", &v) && h->experts < 0)
        h->experts = v;
    if (lookup_int(g, ".expert_used_count", &v) && h->experts_per_token < 0)
        h->experts_per_token = v;
    for (size_t i = 0; i < g->nints; i++)
        if (strcmp(g->ints[i].key, "general.file_type") == 0)
            h->gguf_file_type = g->ints[i].value;
}

static enum sl_err read_tensor_info(struct gctx *g, uint16_t file, uint64_t i, uint64_t *expect_off,
                                    uint64_t *data_total)
{
    uint64_t nlen, ne[SL_GGUF_MAX_DIMS] = {1, 1, 1, 1}, shape[SL_GGUF_MAX_DIMS];
    uint64_t nelem = 1, rows, nbytes, offset, padded;
    uint32_t ndim, type, be, bb;
    const char *tname;
    char name[SL_GGUF_MAX_NAME + 1];
    size_t bad;
    enum sl_err rc;

    rc = rd_strlen(g, &nlen, "tensor name");
    if (rc)
        return rc;
    if (nlen > SL_GGUF_MAX_NAME)
        return fail(g, SL_EINPUT, "tensor %llu: name of %llu bytes is longer than %d",
                    (unsigned long long)i, (unsigned long long)nlen, SL_GGUF_MAX_NAME);
    rc = src_read(g, name, (size_t)nlen, "tensor name");
    if (rc)
        return rc;
    name[nlen] = '\0';
    if (!sl_utf8_valid((unsigned char *)name, (size_t)nlen, &bad) || memchr(name, 0, (size_t)nlen))
        return fail(g, SL_EINPUT, "tensor %llu: name is not valid UTF-8 text",
                    (unsigned long long)i);
    rc = rd_u32(g, &ndim, "n_dims");
    if (rc)
        return rc;
    if (ndim > SL_GGUF_MAX_DIMS)
        return fail(g, SL_EINPUT, "tensor \"%s\": %u dimensions, at most %d allowed", name, ndim,
                    SL_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < ndim; d++) {
        rc = rd_u64(g, &ne[d], "tensor dimension");
        if (rc)
            return rc;
        if (ne[d] > (uint64_t)INT64_MAX)
            return fail(g, SL_EINPUT, "tensor \"%s\": dimension %u is negative", name, d);
        if (sl_mul_u64_overflow(nelem, ne[d], &nelem) || nelem > (uint64_t)INT64_MAX)
            return fail(g, SL_EINPUT, "tensor \"%s\": element count overflows", name);
    }
    rc = rd_u32(g, &type, "tensor type");
    if (rc)
        return rc;
    if (!sl_ggml_type_info(type, &tname, &be, &bb))
        return fail(g, SL_EUNSUPPORTED, "tensor \"%s\": ggml type %u is unknown or removed", name,
                    type);
    if (ne[0] % be != 0)
        return fail(g, SL_EINPUT,
                    "tensor \"%s\": row length %llu is not a multiple of the %s block size %u",
                    name, (unsigned long long)ne[0], tname, be);
    rows = ne[1] * ne[2] * ne[3]; /* cannot overflow: nelem fits */
    if (sl_mul_u64_overflow(ne[0] / be, bb, &nbytes) || sl_mul_u64_overflow(nbytes, rows, &nbytes))
        return fail(g, SL_EINPUT, "tensor \"%s\": byte size overflows", name);
    rc = rd_u64(g, &offset, "tensor offset");
    if (rc)
        return rc;
    if (offset != *expect_off)
        return fail(g, SL_EINPUT,
                    "tensor \"%s\": offset %llu, expected %llu (tensors must follow each other "
                    "in order, each padded to %u bytes)",
                    name, (unsigned long long)offset, (unsigned long long)*expect_off,
                    g->alignment);
    padded = (nbytes + g->alignment - 1) / g->alignment * g->alignment;
    if (padded < nbytes || sl_add_u64_overflow(*expect_off, padded, expect_off))
        return fail(g, SL_EINPUT, "tensor \"%s\": data offsets overflow", name);
    *data_total = offset + nbytes;
    for (uint32_t d = 0; d < ndim; d++)
        shape[d] = ne[ndim - 1 - d];
    rc = sl__model_add_tensor(g->m, file, name, (size_t)nlen, SL_DT_GGML + type, shape, ndim,
                              offset, nbytes, g->err);
    if (rc == SL_EINPUT)
        sl_error_prefix(g->err, "%s: byte %llu", g->src->name, (unsigned long long)g->src->pos);
    return rc;
}

enum sl_err sl__gguf_read(struct sl_model *m, uint16_t file, struct sl_src *src,
                          struct sl_error *err)
{
    struct gctx g;
    unsigned char magic[4];
    uint32_t version;
    uint64_t ntensors, nkv, expect = 0, data_end = 0, data_start;
    size_t first = m->ntensors;
    enum sl_err rc;

    memset(&g, 0, sizeof(g));
    g.src = src;
    g.m = m;
    g.err = err;
    g.alignment = 32;
    if (src->fd >= 0)
        src->buf = sl_xmalloc(WINDOW);

    rc = src_read(&g, magic, 4, "magic");
    if (rc)
        goto out;
    if (memcmp(magic, "GGUF", 4) != 0) {
        src->pos = 0;
        rc = fail(&g, SL_EINPUT, "not a GGUF file (magic is not \"GGUF\")");
        goto out;
    }
    rc = rd_u32(&g, &version, "version");
    if (rc)
        goto out;
    if (version == 0 || version == 1) {
        rc = fail(&g, SL_EUNSUPPORTED, "GGUF version %u is no longer supported (use v3)", version);
        goto out;
    }
    if (version > 3) {
        rc = fail(&g, SL_EUNSUPPORTED,
                  (version & 0xffff) == 0 ? "GGUF version %u: big-endian files are not supported"
                                          : "GGUF version %u is newer than the supported v3",
                  version);
        goto out;
    }
    rc = rd_u64(&g, &ntensors, "tensor_count");
    if (!rc)
        rc = rd_u64(&g, &nkv, "metadata_kv_count");
    if (rc)
        goto out;
    /* Each KV takes at least 13 bytes and each tensor info at least 24: counts
     * beyond what the file can hold are lies, refused before any work. */
    if (nkv > (src->size - src->pos) / 13) {
        rc = fail(&g, SL_EINPUT, "metadata_kv_count %llu cannot fit in a %llu-byte file",
                  (unsigned long long)nkv, (unsigned long long)src->size);
        goto out;
    }
    if (ntensors > (src->size - src->pos) / 24 || ntensors > SL_MODEL_MAX_TENSORS) {
        rc = fail(&g, SL_EINPUT, "tensor_count %llu cannot fit in a %llu-byte file",
                  (unsigned long long)ntensors, (unsigned long long)src->size);
        goto out;
    }
    for (uint64_t i = 0; i < nkv; i++) {
        rc = read_kv(&g, i);
        if (rc)
            goto out;
    }
    for (uint64_t i = 0; i < ntensors; i++) {
        rc = read_tensor_info(&g, file, i, &expect, &data_end);
        if (rc)
            goto out;
    }
    if (ntensors > 0) {
        data_start = (src->pos + g.alignment - 1) / g.alignment * g.alignment;
        if (data_start > src->size || data_end > src->size - data_start) {
            rc = sl_error_set(err, SL_EINPUT,
                              "%s: tensor data needs %llu bytes from byte %llu but the file has "
                              "%llu bytes (truncated?)",
                              src->name, (unsigned long long)data_end,
                              (unsigned long long)data_start, (unsigned long long)src->size);
            goto out;
        }
    } else {
        data_start = src->size;
    }
    for (size_t i = first; i < m->ntensors; i++)
        m->tensors[i].offset += data_start;
    m->files[file].data_start = data_start;
    m->files[file].tensors = (uint32_t)(m->ntensors - first);
    fill_hints(&g);
    {
        int64_t no = -1, count = -1;
        for (size_t i = 0; i < g.nints; i++) {
            if (strcmp(g.ints[i].key, "split.no") == 0)
                no = g.ints[i].value;
            if (strcmp(g.ints[i].key, "split.count") == 0)
                count = g.ints[i].value;
        }
        if (count > 65535 || no > 65535 || (count > 1 && (no < 0 || no >= count))) {
            rc = sl_error_set(err, SL_EINPUT, "%s: split.no %lld is outside split.count %lld",
                              src->name, (long long)no, (long long)count);
            goto out;
        }
        m->files[file].split_no = (int32_t)no;
        m->files[file].split_count = (int32_t)count;
        if (count > 1)
            m->sharded = true;
    }
out:
    free(src->buf);
    src->buf = NULL;
    sl_strmap_release(&g.keys);
    sl_arena_release(&g.key_arena);
    return rc;
}

enum sl_err sl_gguf_parse_mem(const char *name, const unsigned char *data, size_t len,
                              struct sl_model **out, struct sl_error *err)
{
    struct sl_model *m = sl__model_new();
    uint16_t file = sl__model_add_file(m, name, len, SL_FMT_GGUF);
    struct sl_src src;
    enum sl_err rc;

    memset(&src, 0, sizeof(src));
    src.fd = -1;
    src.mem = data;
    src.size = len;
    src.name = name;
    rc = sl__gguf_read(m, file, &src, err);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    m->format = SL_FMT_GGUF;
    *out = m;
    return SL_OK;
}
