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

#include <stdlib.h>
#include <string.h>

#include "common/jsonread.h"
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

static enum sl_err parse_weight_map(struct sl_jr *jr, struct sl_st_index *idx,
                                    struct sl_strmap *shard_map, struct sl_strmap *tensor_map)
{
    bool first = true, more;
    size_t cap = 0;
    enum sl_err rc;

    rc = sl_jr_begin_object(jr);
    while (!rc) {
        const char *k, *v;
        size_t kn, vn;
        char *name;
        uint32_t shard;

        rc = sl_jr_next_key(jr, &first, &k, &kn, &more);
        if (rc || !more)
            break;
        if (memchr(k, '\0', kn))
            return sl_jr_fail(jr, "tensor name contains a NUL character");
        name = sl_arena_strndup(&idx->arena, k, kn);
        if (!sl_strmap_insert(tensor_map, name, kn, 0, NULL))
            return sl_jr_fail(jr, "weight_map lists tensor \"%.120s\" twice", name);
        if (sl_jr_peek(jr) != '"')
            return sl_jr_fail(jr, "weight_map[\"%.120s\"] must be a file name string", name);
        rc = sl_jr_string(jr, &v, &vn);
        if (rc)
            return rc;
        if (!safe_shard_name(v, vn))
            return sl_jr_fail(jr, "weight_map[\"%.120s\"]: unsafe shard name \"%.*s\"", name,
                              (int)(vn > 120 ? 120 : vn), v);
        if (!sl_strmap_get(shard_map, v, vn, &shard)) {
            char *sname;
            if (idx->nshards >= SL_INDEX_MAX_SHARDS)
                return sl_jr_fail(jr, "more than %d shards", SL_INDEX_MAX_SHARDS);
            sname = sl_arena_strndup(&idx->arena, v, vn);
            shard = (uint32_t)idx->nshards;
            idx->shards = sl_xrealloc(idx->shards, (idx->nshards + 1) * sizeof(*idx->shards));
            idx->shards[idx->nshards++] = sname;
            sl_strmap_insert(shard_map, sname, vn, shard, NULL);
        }
        if (idx->ntensors == cap) {
            cap = cap ? cap * 2 : 1024;
            if (cap > SL_MODEL_MAX_TENSORS)
                return sl_jr_fail(jr, "more than %u tensors", SL_MODEL_MAX_TENSORS);
            idx->tensor_names = sl_xrealloc(idx->tensor_names, cap * sizeof(char *));
            idx->tensor_shard = sl_xrealloc(idx->tensor_shard, cap * sizeof(uint32_t));
        }
        idx->tensor_names[idx->ntensors] = name;
        idx->tensor_shard[idx->ntensors] = shard;
        idx->ntensors++;
    }
    return rc;
}

enum sl_err sl__st_index_parse(const char *name, const char *data, size_t len,
                               struct sl_st_index *idx, struct sl_error *err)
{
    struct sl_jr jr;
    struct sl_strmap shard_map = SL_STRMAP_INIT, tensor_map = SL_STRMAP_INIT;
    bool first = true, more, have_map = false;
    size_t bad;
    enum sl_err rc;

    memset(idx, 0, sizeof(*idx));
    if (!sl_utf8_valid((const unsigned char *)data, len, &bad))
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
            rc = parse_weight_map(&jr, idx, &shard_map, &tensor_map);
        } else {
            rc = sl_jr_skip(&jr);
        }
    }
    if (!rc)
        rc = sl_jr_end(&jr);
    if (!rc && !have_map)
        rc = sl_error_set(err, SL_EINPUT, "%s: no \"weight_map\" object", name);
    sl_jr_release(&jr);
    sl_strmap_release(&shard_map);
    sl_strmap_release(&tensor_map);
    if (rc)
        sl__st_index_release(idx);
    return rc;
}

void sl__st_index_release(struct sl_st_index *idx)
{
    free(idx->shards);
    free(idx->tensor_names);
    free(idx->tensor_shard);
    sl_arena_release(&idx->arena);
    memset(idx, 0, sizeof(*idx));
}

enum sl_err sl_st_index_parse_mem(const char *name, const char *data, size_t len, size_t *nshards,
                                  size_t *nweights, struct sl_error *err)
{
    struct sl_st_index idx;
    enum sl_err rc = sl__st_index_parse(name, data, len, &idx, err);

    if (rc)
        return rc;
    *nshards = idx.nshards;
    *nweights = idx.ntensors;
    sl__st_index_release(&idx);
    return SL_OK;
}
