/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reader for model.safetensors.index.json, the map of a sharded checkpoint:
 *
 *   {"metadata": {"total_size": 16060522496, ...},
 *    "weight_map": {"lm_head.weight": "model-00004-of-00004.safetensors", ...}}
 *
 * Index files of large mixtures of experts reach tens of megabytes, so this
 * is a streaming pass with the pull reader, not a tree. Shard names must be
 * relative paths inside the index's folder (no "..", no absolute paths).
 */
#include "formats/formats_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonread.h"
#include "common/strmap.h"
#include "common/util.h"
#include "common/banned.h"

#define INDEX_MAX_DEPTH 16

static bool safe_shard_name(const char *s, size_t n)
{
    size_t start = 0;

    if (n == 0 || n > 1024 || s[0] == '/' || memchr(s, '\\', n) || memchr(s, '\0', n))
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 1 && s[start] == '.') ||
                (len == 2 && s[start] == '.' && s[start + 1] == '.'))
                return false;
            start = i + 1;
        }
    }
    return true;
}

static enum sl_err parse_metadata(struct sl_jr *jr, struct sl_st_index *idx)
{
    bool first = true, more;
    enum sl_err rc;

    if (sl_jr_peek(jr) == 'n')
        return sl_jr_skip(jr);
    rc = sl_jr_begin_object(jr);
    while (!rc) {
        const char *k;
        size_t kn;
        rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (kn == 10 && memcmp(k, "total_size", 10) == 0) {
            int c = sl_jr_peek(jr);
            if (c == '"') {
                const char *v;
                size_t vn;
                uint64_t acc = 0;
                rc = sl_jr_string(jr, &v, &vn);
                for (size_t i = 0; !rc && i < vn; i++) {
                    if (v[i] < '0' || v[i] > '9' || acc > UINT64_MAX / 10 - 1) {
                        rc = sl_jr_fail(jr, "metadata.total_size is not a byte count");
                        break;
                    }
                    acc = acc * 10 + (uint64_t)(v[i] - '0');
                }
                idx->total_size = acc;
            } else if (c >= '0' && c <= '9') {
                double d;
                size_t save = jr->pos;
                rc = sl_jr_u64(jr, &idx->total_size);
                if (rc) { /* some writers emit 1.6e10: accept a whole float */
                    jr->pos = save;
                    rc = sl_jr_number(jr, &d);
                    if (!rc && (d < 0 || d > 1.8e19))
                        rc = sl_jr_fail(jr, "metadata.total_size is out of range");
                    if (!rc)
                        idx->total_size = (uint64_t)d;
                }
            } else {
                rc = sl_jr_skip(jr);
            }
        } else {
            rc = sl_jr_skip(jr);
        }
    }
    return rc;
}

/* What parse_weight_map() carries from member to member. */
struct wm_state {
    struct sl_st_index *idx;
    struct sl_strmap shard_map;  /* shard name -> index */
    struct sl_strmap tensor_map; /* keys seen, when looking for repeats */
    bool find_repeats;
    size_t cap;
    const char *last_value; /* the previous member's value and its shard: */
    size_t last_value_len;  /* values repeat in runs, so most members skip */
    uint32_t last_shard;    /* the checks and the map lookup */
    void (*on_shard)(void *arg, const char *shard);
    void *arg;
};

/* Enters key `k` with its sl_strhash() `hash`; fails, as the one careful
 * pass always did, when it is listed twice. `after_colon` is where that pass
 * stood when it found out. */
static enum sl_err add_key(struct sl_jr *jr, struct wm_state *st, const char *k, size_t kn,
                           uint64_t hash, size_t after_colon, struct sl_st_index_entry *e)
{
    e->name = k;
    e->len = (uint32_t)kn;
    e->hash = hash;
    if (st->find_repeats && !sl_strmap_insert_h(&st->tensor_map, k, kn, e->hash, 0, NULL)) {
        jr->pos = after_colon;
        return sl_jr_fail(jr, "weight_map lists tensor \"%.*s\" twice", (int)(kn > 120 ? 120 : kn),
                          k);
    }
    return SL_OK;
}

/* Finds or adds shard `v`, which has passed safe_shard_name(). */
static enum sl_err find_shard(struct sl_jr *jr, struct wm_state *st, const char *v, size_t vn,
                              uint32_t *shard)
{
    struct sl_st_index *idx = st->idx;
    char *sname;

    if (sl_strmap_get(&st->shard_map, v, vn, shard))
        return SL_OK;
    if (idx->nshards >= SL_INDEX_MAX_SHARDS)
        return sl_jr_fail(jr, "more than %d shards", SL_INDEX_MAX_SHARDS);
    sname = sl_arena_strndup(&idx->arena, v, vn);
    *shard = (uint32_t)idx->nshards;
    idx->shards = sl_xrealloc(idx->shards, (idx->nshards + 1) * sizeof(*idx->shards));
    idx->shards[idx->nshards++] = sname;
    sl_strmap_insert(&st->shard_map, sname, vn, *shard, NULL);
    if (st->on_shard)
        st->on_shard(st->arg, sname);
    return SL_OK;
}

/* Returns room for the next member. `pos` is how far the reader is: members
 * are much alike, so the bytes per member so far predict how many are left,
 * and the array grows once or twice rather than ten times (each growth of a
 * big array costs more while shard threads run). */
static struct sl_st_index_entry *next_entry(struct wm_state *st, size_t pos, size_t len)
{
    struct sl_st_index *idx = st->idx;

    if (idx->ntensors == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 1024;
        if (st->cap && pos > 0) {
            size_t guess =
                idx->ntensors / 8 * 9 + (size_t)((double)idx->ntensors * (len - pos) / pos);
            if (guess > cap)
                cap = guess;
        }
        /* One past the limit: the member that passes it is stored before
         * it is refused, where the single pass always refused it. */
        if (cap > (size_t)SL_MODEL_MAX_TENSORS + 1)
            cap = (size_t)SL_MODEL_MAX_TENSORS + 1;
        idx->tensors = sl_xrealloc(idx->tensors, cap * sizeof(*idx->tensors));
        sl_populate(idx->tensors + st->cap, (cap - st->cap) * sizeof(*idx->tensors));
        st->cap = cap;
    }
    return &idx->tensors[idx->ntensors];
}

/* Reads a member of the common layout, `"NAME": "SHARD"` with its leading ','
 * unless it is the first, straight from the bytes. Returns false, leaving the
 * reader where it was, for anything else (escapes, a shard name not seen
 * before that fails the checks, a limit reached): the pull reader then takes
 * the member and words the error. A repeated key is an error here too. */
static bool fast_member(struct sl_jr *jr, struct wm_state *st, bool first, enum sl_err *rc)
{
    const char *p = jr->p, *k, *v;
    size_t n = jr->len, i = jr->pos, end, kn, vn, after_colon;
    uint64_t hash;
    uint32_t shard;
    struct sl_st_index_entry *e;

    if (!first) {
        i = sl_jr_skip_blank(p, n, i);
        if (i >= n || p[i] != ',')
            return false;
        i++;
    }
    i = sl_jr_skip_blank(p, n, i);
    if (i >= n || p[i] != '"')
        return false;
    end = sl_jr_plain_string_hash(p, n, i + 1, &hash);
    if (!end)
        return false;
    k = p + i + 1;
    kn = end - (i + 1);
    i = sl_jr_skip_blank(p, n, end + 1);
    if (i >= n || p[i] != ':')
        return false;
    after_colon = ++i;
    i = sl_jr_skip_blank(p, n, i);
    if (i >= n || p[i] != '"')
        return false;
    end = sl_jr_plain_string_end(p, n, i + 1);
    if (!end)
        return false;
    v = p + i + 1;
    vn = end - (i + 1);
    if (vn == st->last_value_len && st->last_value && memcmp(v, st->last_value, vn) == 0) {
        shard = st->last_shard;
    } else {
        if (!safe_shard_name(v, vn) || !sl_strmap_get(&st->shard_map, v, vn, &shard)) {
            /* New shards are rare: let the pull reader add them. */
            return false;
        }
        st->last_value = v;
        st->last_value_len = vn;
        st->last_shard = shard;
    }
    if (st->idx->ntensors >= SL_MODEL_MAX_TENSORS)
        return false;
    e = next_entry(st, i, n);
    *rc = add_key(jr, st, k, kn, hash, after_colon, e);
    if (*rc)
        return true;
    e->shard = shard;
    st->idx->ntensors++;
    jr->pos = end + 1;
    return true;
}

static enum sl_err parse_weight_map(struct sl_jr *jr, struct wm_state *st)
{
    struct sl_st_index *idx = st->idx;
    bool first = true, more;
    enum sl_err rc;

    rc = sl_jr_begin_object(jr);
    while (!rc) {
        const char *k, *v;
        size_t kn, vn;
        uint32_t shard;
        struct sl_st_index_entry *e;

        if (fast_member(jr, st, first, &rc)) {
            first = false;
            continue;
        }
        rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (memchr(k, '\0', kn))
            return sl_jr_fail(jr, "tensor name contains a NUL character");
        /* A key with escapes was decoded into scratch space: keep a copy. */
        if ((uintptr_t)k < (uintptr_t)jr->p || (uintptr_t)k >= (uintptr_t)(jr->p + jr->len))
            k = sl_arena_strndup(&idx->arena, k, kn);
        e = next_entry(st, jr->pos, jr->len);
        rc = add_key(jr, st, k, kn, sl_strhash(k, kn), jr->pos, e);
        if (rc)
            return rc;
        if (sl_jr_peek(jr) != '"')
            return sl_jr_fail(jr, "weight_map[\"%.*s\"] must be a file name string",
                              (int)(kn > 120 ? 120 : kn), k);
        rc = sl_jr_string(jr, &v, &vn);
        if (rc)
            return rc;
        if (!safe_shard_name(v, vn))
            return sl_jr_fail(jr, "weight_map[\"%.*s\"]: unsafe shard name \"%.*s\"",
                              (int)(kn > 120 ? 120 : kn), k, (int)(vn > 120 ? 120 : vn), v);
        rc = find_shard(jr, st, v, vn, &shard);
        if (rc)
            return rc;
        if (idx->ntensors >= SL_MODEL_MAX_TENSORS)
            return sl_jr_fail(jr, "more than %u tensors", SL_MODEL_MAX_TENSORS);
        e->shard = shard;
        idx->ntensors++;
        /* The value may sit in scratch space that the next string reuses. */
        st->last_value = NULL;
    }
    return rc;
}

enum sl_err sl__st_index_parse(const char *name, const char *data, size_t len, bool find_repeats,
                               struct sl_st_index *idx, struct sl_error *err)
{
    return sl__st_index_parse_cb(name, data, len, find_repeats, idx, NULL, NULL, err);
}

enum sl_err sl__st_index_parse_cb(const char *name, const char *data, size_t len, bool find_repeats,
                                  struct sl_st_index *idx,
                                  void (*on_shard)(void *arg, const char *shard), void *arg,
                                  struct sl_error *err)
{
    struct sl_jr jr;
    struct wm_state st;
    bool first = true, more, have_map = false;
    size_t bad;
    enum sl_err rc;

    memset(idx, 0, sizeof(*idx));
    memset(&st, 0, sizeof(st));
    st.idx = idx;
    st.find_repeats = find_repeats;
    st.on_shard = on_shard;
    st.arg = arg;
    if (!sl__utf8_valid(data, len, &bad))
        return sl_error_set(err, SL_EINPUT, "%s: byte %zu: not valid UTF-8", name, bad);
    sl_jr_init(&jr, data, len, 0, name, INDEX_MAX_DEPTH, err);
    rc = sl_jr_begin_object(&jr);
    while (!rc) {
        const char *k;
        size_t kn;
        rc = sl_jr_next_key(&jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (kn == 8 && memcmp(k, "metadata", 8) == 0) {
            rc = parse_metadata(&jr, idx);
        } else if (kn == 10 && memcmp(k, "weight_map", 10) == 0) {
            if (have_map) {
                rc = sl_jr_fail(&jr, "duplicate \"weight_map\"");
                break;
            }
            have_map = true;
            rc = parse_weight_map(&jr, &st);
        } else {
            rc = sl_jr_skip(&jr);
        }
    }
    if (!rc)
        rc = sl_jr_end(&jr);
    if (!rc && !have_map)
        rc = sl_error_set(err, SL_EINPUT, "%s: no \"weight_map\" object", name);
    sl_jr_release(&jr);
    sl_strmap_release(&st.shard_map);
    sl_strmap_release(&st.tensor_map);
    if (rc)
        sl__st_index_release(idx);
    return rc;
}

void sl__st_index_release(struct sl_st_index *idx)
{
    free(idx->shards);
    free(idx->tensors);
    sl_arena_release(&idx->arena);
    memset(idx, 0, sizeof(*idx));
}

enum sl_err sl_st_index_parse_mem(const char *name, const char *data, size_t len, size_t *nshards,
                                  size_t *nweights, struct sl_error *err)
{
    struct sl_st_index idx;
    enum sl_err rc = sl__st_index_parse(name, data, len, true, &idx, err);

    if (rc)
        return rc;
    *nshards = idx.nshards;
    *nweights = idx.ntensors;
    sl__st_index_release(&idx);
    return SL_OK;
}
