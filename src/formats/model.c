/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A model is the set of weight files given on the command line or found in a
 * folder. This file decides which files make up the model, reads each with
 * the right reader, and checks that they fit together:
 *
 *   - an index (model.safetensors.index.json) names the shards; tensors must
 *     match its weight_map exactly; other safetensors files are ignored;
 *   - otherwise all safetensors files together are the model, names unique;
 *   - GGUF files count only when there is no safetensors; several GGUF files
 *     must be one gguf-split set (NAME-00001-of-00003.gguf);
 *   - config.json, when present, gives architecture hints.
 */
#include "formats/formats_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "common/banned.h"

struct sl_model *sl__model_new(void)
{
    struct sl_model *m = sl_xcalloc(1, sizeof(*m));

    sl__hints_init(&m->hints);
    return m;
}

void sl_model_free(struct sl_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i].path);
    free(m->files);
    free(m->tensors);
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    sl_strmap_release(&m->names);
    sl_arena_release(&m->arena);
    free(m);
}

uint16_t sl__model_add_file(struct sl_model *m, const char *path, uint64_t size, enum sl_format fmt)
{
    struct sl_model_file *f;

    m->files = sl_xrealloc(m->files, (m->nfiles + 1) * sizeof(*m->files));
    f = &m->files[m->nfiles];
    memset(f, 0, sizeof(*f));
    f->path = sl_xstrdup(path);
    f->name = sl_path_base(f->path);
    f->size = size;
    f->format = fmt;
    f->split_no = -1;
    f->split_count = -1;
    return (uint16_t)m->nfiles++;
}

void sl__model_warn(struct sl_model *m, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    if (m->nwarnings >= 100)
        return; /* enough to tell the user something is off */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->warnings = sl_xrealloc(m->warnings, (m->nwarnings + 1) * sizeof(char *));
    m->warnings[m->nwarnings++] = sl_xstrdup(msg);
}

enum sl_err sl__model_add_tensor(struct sl_model *m, uint16_t file, const char *name,
                                 size_t name_len, unsigned dtype, const uint64_t *shape,
                                 unsigned ndim, uint64_t offset, uint64_t nbytes,
                                 struct sl_error *err)
{
    struct sl_tensor *t;
    uint32_t prev;
    uint64_t nelem = 1;

    if (m->ntensors >= SL_MODEL_MAX_TENSORS)
        return sl_error_set(err, SL_ELIMIT, "%s: more than %u tensors", m->files[file].path,
                            SL_MODEL_MAX_TENSORS);
    if (m->ntensors == m->tensors_cap) {
        m->tensors_cap = m->tensors_cap ? m->tensors_cap * 2 : 256;
        m->tensors = sl_xrealloc(m->tensors, m->tensors_cap * sizeof(*m->tensors));
    }
    t = &m->tensors[m->ntensors];
    t->name = sl_arena_strndup(&m->arena, name, name_len);
    t->name_len = (uint32_t)name_len;
    t->hash = sl_strhash(name, name_len);
    if (!sl_strmap_insert_h(&m->names, t->name, name_len, t->hash, (uint32_t)m->ntensors, &prev)) {
        const struct sl_tensor *p = &m->tensors[prev];
        if (p->file == file)
            return sl_error_set(err, SL_EINPUT, "%s: tensor \"%.200s\" appears twice",
                                m->files[file].path, t->name);
        return sl_error_set(err, SL_EINPUT, "tensor \"%.200s\" appears in both %s and %s", t->name,
                            m->files[p->file].name, m->files[file].name);
    }
    t->shape = sl_arena_alloc(&m->arena, (ndim ? ndim : 1) * sizeof(uint64_t));
    for (unsigned d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        if (sl_mul_u64_overflow(nelem, shape[d], &nelem))
            nelem = UINT64_MAX; /* the reader reports the overflow */
    }
    t->ndim = (uint8_t)ndim;
    t->nelem = nelem;
    t->dtype = (uint16_t)dtype;
    t->file = file;
    t->offset = offset;
    t->nbytes = nbytes;
    m->ntensors++;
    return SL_OK;
}

enum cand_kind { C_ST, C_GGUF, C_INDEX, C_CONFIG };

struct cand {
    char *path;
    enum cand_kind kind;
};

struct cands {
    struct cand *v;
    size_t n;
};

static void cand_add(struct cands *c, char *path, enum cand_kind kind)
{
    c->v = sl_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n].path = path;
    c->v[c->n].kind = kind;
    c->n++;
}

static bool is_pickle(const char *name)
{
    size_t n = strlen(name);

    return sl_str_has_suffix(name, n, ".bin") || sl_str_has_suffix(name, n, ".pt") ||
           sl_str_has_suffix(name, n, ".pth") || sl_str_has_suffix(name, n, ".ckpt");
}

/* Classifies a file by its name; returns false for files a model folder may
 * hold that are not weights (tokenizer, README, ...). */
static bool kind_of(const char *name, enum cand_kind *k)
{
    size_t n = strlen(name);

    if (sl_str_has_suffix(name, n, ".safetensors.index.json")) {
        *k = C_INDEX;
        return true;
    }
    if (sl_str_has_suffix(name, n, ".safetensors")) {
        *k = C_ST;
        return true;
    }
    if (sl_str_has_suffix(name, n, ".gguf")) {
        *k = C_GGUF;
        return true;
    }
    if (strcmp(name, "config.json") == 0) {
        *k = C_CONFIG;
        return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum sl_err expand_dir(struct sl_model *m, const char *dir, struct cands *c,
                              struct sl_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    if (!d)
        return sl_error_set(err, SL_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n >= SL_MODEL_MAX_FILES * 4) {
            closedir(d);
            for (size_t i = 0; i < n; i++)
                free(names[i]);
            free(names);
            return sl_error_set(err, SL_ELIMIT, "%s: more than %d entries", dir,
                                SL_MODEL_MAX_FILES * 4);
        }
        names = sl_xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        enum cand_kind k;
        if (kind_of(names[i], &k))
            cand_add(c, sl_path_join(dir, names[i]), k);
        else if (is_pickle(names[i]))
            sl__model_warn(m,
                           "ignored %s: pickle checkpoints are not read (they can run code); "
                           "convert them to safetensors",
                           names[i]);
        free(names[i]);
    }
    free(names);
    return SL_OK;
}

static enum sl_err sniff(const char *path, enum cand_kind *k, struct sl_error *err)
{
    int fd;
    uint64_t size;
    unsigned char magic[4];
    enum sl_err rc = sl_file_open(path, &fd, &size, err);

    if (rc)
        return rc;
    *k = C_ST;
    if (size >= 4 && sl_pread_full(fd, magic, 4, 0, path, err) == SL_OK &&
        memcmp(magic, "GGUF", 4) == 0)
        *k = C_GGUF;
    close(fd);
    return SL_OK;
}

static enum sl_err read_gguf(struct sl_model *m, const char *path, struct sl_error *err)
{
    int fd;
    uint64_t size;
    uint16_t file;
    struct sl_src src;
    enum sl_err rc;

    rc = sl_file_open(path, &fd, &size, err);
    if (rc)
        return rc;
    file = sl__model_add_file(m, path, size, SL_FMT_GGUF);
    memset(&src, 0, sizeof(src));
    src.fd = fd;
    src.size = size;
    src.name = m->files[file].path;
    rc = sl__gguf_read(m, file, &src, err);
    close(fd);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return sl_xstrdup(".");
    if (slash == path)
        return sl_xstrdup("/");
    return sl_xstrndup(path, (size_t)(slash - path));
}

/* The index was parsed without looking for keys listed twice. A single
 * careful pass would have stopped at such a key before reading any shard, so
 * before reporting `found`, an error met later, parse again looking for
 * them. Returns the error of that pass, or `found` (leaving `err` alone) when
 * no key repeats. */
static enum sl_err index_repeats(const char *index_path, const char *text, size_t len,
                                 enum sl_err found, struct sl_error *err)
{
    struct sl_st_index again;
    struct sl_error e; /* a pass that succeeds may still have written here */
    enum sl_err rc = sl__st_index_parse(index_path, text, len, true, &again, &e);

    if (!rc) {
        sl__st_index_release(&again);
        return found;
    }
    if (err)
        *err = e;
    return rc;
}

/* True when each index member names a model tensor in its shard, no tensor
 * twice, and the counts agree: then index and shards agree exactly. */
static bool index_matches(const struct sl_model *m, const struct sl_st_index *idx)
{
    unsigned char *seen;
    bool ok = idx->ntensors == m->ntensors;

    if (!ok)
        return false;
    seen = sl_xcalloc(m->ntensors ? m->ntensors : 1, 1);
    for (size_t i = 0; i < idx->ntensors && ok; i++) {
        const struct sl_st_index_entry *e = &idx->tensors[i];
        uint32_t ti;
        /* Lookups miss the cache twice, on the slot and on the name it
         * points to: fetch slots 16 names ahead and their names 8 ahead. */
        if (i + 16 < idx->ntensors)
            sl_strmap_prefetch(&m->names, idx->tensors[i + 16].hash);
        if (i + 8 < idx->ntensors)
            sl_strmap_prefetch_key(&m->names, idx->tensors[i + 8].hash);
        ok = sl_strmap_get_h(&m->names, e->name, e->len, e->hash, &ti) && !seen[ti];
        if (!ok)
            break;
        seen[ti] = 1;
        /* Shards were read in index order, so file == shard is the usual
         * case; otherwise compare file names as the messages below do. */
        ok = m->tensors[ti].file == e->shard ||
             strcmp(m->files[m->tensors[ti].file].name, sl_path_base(idx->shards[e->shard])) == 0;
    }
    free(seen);
    return ok;
}

/* Says how index and shards disagree, member by member, as the messages
 * always have. */
static enum sl_err index_mismatch(const struct sl_model *m, const struct sl_st_index *idx,
                                  const char *index_path, struct sl_error *err)
{
    struct sl_strmap listed = SL_STRMAP_INIT;
    enum sl_err rc = SL_OK;

    /* Every tensor of the index must be in its shard, and nothing else. */
    for (size_t i = 0; i < idx->ntensors; i++) {
        const struct sl_st_index_entry *e = &idx->tensors[i];
        const char *want = idx->shards[e->shard];
        int nl = (int)(e->len > 200 ? 200 : e->len);
        uint32_t ti;
        if (!sl_strmap_get_h(&m->names, e->name, e->len, e->hash, &ti))
            return sl_error_set(err, SL_EINPUT, "%s: tensor \"%.*s\" is not in shard %s",
                                index_path, nl, e->name, want);
        if (strcmp(m->files[m->tensors[ti].file].name, sl_path_base(want)) != 0)
            return sl_error_set(err, SL_EINPUT, "%s: tensor \"%.*s\" is in %s, not in %s",
                                index_path, nl, e->name, m->files[m->tensors[ti].file].name, want);
    }
    if (idx->ntensors == m->ntensors)
        return SL_OK;
    for (size_t i = 0; i < idx->ntensors; i++)
        sl_strmap_insert_h(&listed, idx->tensors[i].name, idx->tensors[i].len, idx->tensors[i].hash,
                           0, NULL);
    for (size_t i = 0; i < m->ntensors; i++) {
        const struct sl_tensor *t = &m->tensors[i];
        if (!sl_strmap_get_h(&listed, t->name, t->name_len, t->hash, NULL)) {
            rc = sl_error_set(err, SL_EINPUT,
                              "%s: shard %s holds tensor \"%.200s\" that the index does not list",
                              index_path, m->files[t->file].name, t->name);
            break;
        }
    }
    sl_strmap_release(&listed);
    return rc;
}

struct shard_sink {
    struct sl_st_reader *reader;
    const char *dir;
};

/* Starts reading a shard as soon as the index names it. */
static void add_shard(void *arg, const char *shard)
{
    struct shard_sink *sink = arg;
    char *path = sl_path_join(sink->dir, shard);

    sl__st_reader_add(sink->reader, path, shard);
    free(path);
}

/* Reading the index of a big checkpoint takes milliseconds in which the
 * shards could be read already: guess that the files in its folder named
 * like shards (model-00001-of-00004.safetensors) are its shards. A guess is
 * only work done early; what the model holds is still decided by the index. */
static void guess_shards(struct sl_st_reader *r, const char *dir, const struct cands *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *path = c->v[i].path, *base = sl_path_base(path);
        size_t dlen = (size_t)(base - path);
        if (c->v[i].kind != C_ST || !strstr(base, "-of-"))
            continue;
        /* The same folder, spelt as the index's shard paths will be. */
        if (dlen == 0 || dlen - 1 != strlen(dir) || memcmp(path, dir, dlen - 1) != 0)
            continue;
        sl__st_reader_guess(r, path);
    }
}

static enum sl_err load_index(struct sl_model *m, const char *index_path, struct cands *c,
                              struct sl_error *err)
{
    struct sl_st_index idx;
    struct sl_strmap names = SL_STRMAP_INIT;
    struct shard_sink sink;
    char *text = NULL, *dir = dir_of(index_path);
    size_t len;
    enum sl_err rc;

    memset(&idx, 0, sizeof(idx));
    sink.reader = sl__st_reader_start(m, index_path, true);
    sink.dir = dir;
    guess_shards(sink.reader, dir, c);
    rc = sl_read_file(index_path, SL_INDEX_MAX_BYTES, &text, &len, err);
    if (!rc)
        rc = sl__st_index_parse_cb(index_path, text, len, false, &idx, add_shard, &sink, err);
    if (rc) {
        sl__st_reader_abort(sink.reader);
        if (text)
            rc = index_repeats(index_path, text, len, rc, err);
        goto out;
    }
    m->index_total_size = idx.total_size;
    sl__st_reader_expect(sink.reader, idx.ntensors);
    rc = sl__st_reader_finish(sink.reader, err);
    if (rc) {
        rc = index_repeats(index_path, text, len, rc, err);
        goto out;
    }
    if (!index_matches(m, &idx)) {
        rc = index_repeats(index_path, text, len, SL_OK, err);
        if (!rc)
            rc = index_mismatch(m, &idx, index_path, err);
        if (rc)
            goto out;
    }
    /* Safetensors files in the folder that the index does not name. */
    for (size_t f = 0; f < m->nfiles; f++)
        sl_strmap_insert(&names, m->files[f].name, strlen(m->files[f].name), 0, NULL);
    for (size_t i = 0; i < c->n; i++) {
        const char *base = sl_path_base(c->v[i].path);
        if (c->v[i].kind == C_ST && !sl_strmap_get(&names, base, strlen(base), NULL))
            sl__model_warn(m, "ignored %s: not listed in %s", base, sl_path_base(index_path));
    }
    m->sharded = true;
out:
    sl_strmap_release(&names);
    sl__st_index_release(&idx);
    free(text);
    free(dir);
    return rc;
}

/* Parses NAME-00001-of-00003.gguf; returns false for other names. */
static bool split_name(const char *name, size_t *base_len, unsigned *part, unsigned *count)
{
    size_t n = strlen(name);
    const char *p;

    if (n < 20 || !sl_str_has_suffix(name, n, ".gguf"))
        return false;
    p = name + n - 5 - 18; /* "-00001-of-00003" is 15; allow 5 digits each */
    p = name + n - 5 - 15;
    if (p[0] != '-' || memcmp(p + 6, "-of-", 4) != 0)
        return false;
    *part = 0;
    *count = 0;
    for (int i = 1; i <= 5; i++) {
        if (p[i] < '0' || p[i] > '9' || p[9 + i] < '0' || p[9 + i] > '9')
            return false;
        *part = *part * 10 + (unsigned)(p[i] - '0');
        *count = *count * 10 + (unsigned)(p[9 + i] - '0');
    }
    *base_len = (size_t)(p - name);
    return *part >= 1 && *part <= *count;
}

static enum sl_err load_gguf_set(struct sl_model *m, struct cands *c, struct sl_error *err)
{
    size_t ngguf = 0, base_len = 0, first = 0;
    unsigned count = 0;
    enum sl_err rc;

    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].kind == C_GGUF)
            ngguf++;
    if (ngguf == 1) {
        for (size_t i = 0; i < c->n; i++)
            if (c->v[i].kind == C_GGUF)
                return read_gguf(m, c->v[i].path, err);
    }
    /* Several: they must be the parts of one split set, in order. */
    for (size_t i = 0; i < c->n; i++) {
        size_t bl;
        unsigned part, cnt;
        const char *name;
        if (c->v[i].kind != C_GGUF)
            continue;
        name = sl_path_base(c->v[i].path);
        if (!split_name(name, &bl, &part, &cnt) ||
            (count && (cnt != count || bl != base_len ||
                       memcmp(name, sl_path_base(c->v[first].path), bl) != 0))) {
            return sl_error_set(err, SL_EINPUT,
                                "several GGUF files that are not one gguf-split set (%s, ...): "
                                "name the one to inspect",
                                sl_path_base(c->v[first].path));
        }
        if (!count) {
            count = cnt;
            base_len = bl;
            first = i;
        }
    }
    if (ngguf != count)
        return sl_error_set(err, SL_EINPUT, "gguf-split set %.*s has %zu of its %u parts",
                            (int)base_len, sl_path_base(c->v[first].path), ngguf, count);
    /* Candidates are sorted by name, so parts come in order. */
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].kind != C_GGUF)
            continue;
        rc = read_gguf(m, c->v[i].path, err);
        if (rc)
            return rc;
        {
            const struct sl_model_file *f = &m->files[m->nfiles - 1];
            if (f->split_count != (int32_t)count || f->split_no != (int32_t)(m->nfiles - 1))
                return sl_error_set(err, SL_EINPUT,
                                    "%s: split.no %d of split.count %d does not match its name",
                                    f->path, f->split_no, f->split_count);
        }
    }
    m->sharded = true;
    return SL_OK;
}

enum sl_err sl_model_open(const char *const *paths, size_t npaths, struct sl_model **out,
                          struct sl_error *err)
{
    struct sl_model *m = sl__model_new();
    struct cands c = {NULL, 0};
    size_t nst = 0, ngguf = 0, nindex = 0, index_at = 0, config_at = 0, nconfig = 0;
    enum sl_err rc = SL_OK;

    for (size_t i = 0; i < npaths && !rc; i++) {
        struct stat st;
        enum cand_kind k;
        if (stat(paths[i], &st) != 0) {
            rc = sl_error_set(err, SL_EIO, "%s: %s", paths[i], strerror(errno));
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = expand_dir(m, paths[i], &c, err);
        } else if (kind_of(sl_path_base(paths[i]), &k)) {
            cand_add(&c, sl_xstrdup(paths[i]), k);
        } else if (is_pickle(paths[i])) {
            rc = sl_error_set(err, SL_EUNSUPPORTED,
                              "%s: pickle checkpoints are not read (they can run code); convert "
                              "to safetensors",
                              paths[i]);
        } else {
            rc = sniff(paths[i], &k, err);
            if (!rc)
                cand_add(&c, sl_xstrdup(paths[i]), k);
        }
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < c.n; i++) {
        switch (c.v[i].kind) {
        case C_ST:
            nst++;
            break;
        case C_GGUF:
            ngguf++;
            break;
        case C_INDEX:
            if (nindex == 0 ||
                strcmp(sl_path_base(c.v[i].path), "model.safetensors.index.json") == 0)
                index_at = i;
            nindex++;
            break;
        case C_CONFIG:
            if (nconfig++ == 0)
                config_at = i;
            break;
        }
    }
    if (nconfig > 0) {
        char *text;
        size_t len;
        if (nconfig > 1)
            sl__model_warn(m, "several config.json files; read %s", c.v[config_at].path);
        rc = sl_read_file(c.v[config_at].path, SL_CONFIG_MAX_BYTES, &text, &len, err);
        if (!rc) {
            rc = sl__config_parse(c.v[config_at].path, text, len, &m->hints, err);
            free(text);
        }
        if (rc)
            goto out;
    }
    if (nindex > 1 &&
        strcmp(sl_path_base(c.v[index_at].path), "model.safetensors.index.json") != 0) {
        rc = sl_error_set(err, SL_EINPUT, "several safetensors index files: name the one to use");
        goto out;
    }
    if (nindex > 0) {
        if (nindex > 1)
            sl__model_warn(m, "several index files; used %s", sl_path_base(c.v[index_at].path));
        rc = load_index(m, c.v[index_at].path, &c, err);
        m->format = SL_FMT_SAFETENSORS;
    } else if (nst > 0) {
        struct sl_st_reader *r = sl__st_reader_start(m, NULL, false);
        for (size_t i = 0; i < c.n; i++)
            if (c.v[i].kind == C_ST)
                sl__st_reader_add(r, c.v[i].path, NULL);
        rc = sl__st_reader_finish(r, err);
        m->format = SL_FMT_SAFETENSORS;
        m->sharded = nst > 1;
    } else if (ngguf > 0) {
        rc = load_gguf_set(m, &c, err);
        m->format = SL_FMT_GGUF;
    } else {
        rc = sl_error_set(err, SL_EINPUT, "%s%s: no safetensors or GGUF weights found", paths[0],
                          npaths > 1 ? " (and others)" : "");
    }
    if (!rc && ngguf > 0 && m->format == SL_FMT_SAFETENSORS)
        sl__model_warn(m, "read the safetensors weights; ignored %zu GGUF file%s", ngguf,
                       ngguf > 1 ? "s" : "");
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].path);
    free(c.v);
    if (rc) {
        sl_model_free(m);
        return rc;
    }
    *out = m;
    return SL_OK;
}
