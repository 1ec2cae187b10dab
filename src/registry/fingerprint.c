/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fingerprinted gated downloads (docs/fingerprint.md): which downloads are
 * marked, the recipients and their key commitments, the mark plans of
 * weight files (cached), the per-recipient manifest of the marked copies'
 * SHA-256 (signed), and tracing a suspect copy back to its recipient.
 *
 * A download is marked when the version is in tier `gated` and the caller
 * gets it through a grant (members of the publishing org, admins and
 * evaluators get the originals). Files marked: safetensors and GGUF files
 * with eligible float tensors; the others (config, tokenizer) are sent as
 * they are.
 */
#include "registry/registry_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "common/vfs.h"
#include "db/repo_fp.h"
#include "db/repo_read.h"
#include "formats/formats.h"
#include "fp/fp.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

#define PLAN_CACHE 16

struct plan_entry {
    int64_t model_id, blob_id;
    struct sl_fp_plan *plan; /* NULL: the file has nothing to mark */
    int refs;
    uint64_t used;
};

#define HASHING_MAX 64

struct sl_fp_cache {
    pthread_mutex_t lock;
    struct plan_entry e[PLAN_CACHE];
    uint64_t clock;
    /* the copies being hashed now: a second request for the same copy
     * waits for the first instead of reading the whole file again */
    pthread_cond_t hashed;
    struct {
        uint32_t recipient;
        int64_t blob_id;
    } hashing[HASHING_MAX];
    size_t nhashing;
    /* the background hashing of copies (sl_reg_fp_warm): where it is in
     * its pass over (recipient, file), and whether the server is stopping */
    int64_t warm_recipient, warm_blob;
    atomic_bool stop;
};

struct sl_reg_mark {
    struct sl_registry *r;
    struct plan_entry *entry;
    struct sl_fp_recipient rcpt;
};

struct sl_fp_cache *sl__fp_cache_new(void)
{
    struct sl_fp_cache *c = sl_xcalloc(1, sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->hashed, NULL);
    return c;
}

void sl__fp_cache_free(struct sl_fp_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < PLAN_CACHE; i++)
        sl_fp_plan_free(c->e[i].plan);
    pthread_cond_destroy(&c->hashed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

enum sl_err sl__fp_load_key(struct sl_registry *r, struct sl_error *err)
{
    bool fresh;
    return sl__secret_file(r->keys, "fp.key", r->fp_master, sizeof(r->fp_master), &fresh, err);
}

/* ---- recipients ---- */

enum sl_err sl__fp_recipient(struct sl_registry *r, struct sl_db *db, int64_t model_id,
                             int64_t user_id, int64_t *id, char commitment[65],
                             struct sl_error *err)
{
    unsigned char key[SL_FP_KEY_LEN], c[32];
    bool found = false;
    enum sl_err rc = sl_repo_fp_recipient_get(db, model_id, user_id, id, commitment, &found, err);

    if (rc || found)
        return rc;
    /* a new recipient: its id is the row id; commit to its key */
    rc = sl_repo_fp_recipient_insert(db, model_id, user_id, sl__now(), id, err);
    if (rc)
        return rc;
    if (*id > (int64_t)UINT32_MAX)
        return sl_error_set(err, SL_ELIMIT, "more than 2^32 fingerprint recipients");
    sl_fp_recipient_key(r->fp_master, (uint32_t)*id, key);
    sl_fp_commitment(key, c);
    sl_wipe(key, sizeof(key));
    sl_hex(c, 32, commitment);
    return sl_repo_fp_recipient_commit(db, *id, commitment, err);
}

/* The lineage's density, fixed at its first marked download. */
static enum sl_err lineage_density(struct sl_registry *r, struct sl_db *db, int64_t model_id,
                                   int64_t version_id, double *density, struct sl_error *err)
{
    struct sl_arena a = SL_ARENA_INIT;
    char *inspect = NULL;
    uint64_t params = 0;
    bool found = false;
    enum sl_err rc = sl_repo_fp_lineage_get(db, model_id, density, &found, err);

    (void)r;
    if (rc || found)
        return rc;
    rc = sl_repo_fp_version_inspect(db, &a, version_id, &inspect, err);
    if (!rc && inspect) {
        json_t *ins = json_loads(inspect, 0, NULL);
        json_t *t = json_object_get(ins, "params_total");
        if (json_is_integer(t) && json_integer_value(t) > 0)
            params = (uint64_t)json_integer_value(t);
        json_decref(ins);
    }
    sl_arena_release(&a);
    if (rc)
        return rc;
    *density = sl_fp_density(params ? params : 1);
    return sl_repo_fp_lineage_insert(db, model_id, *density, sl__now(), err);
}

/* ---- plans ---- */

static bool fp_dtype(unsigned dt, enum sl_fp_dtype *out)
{
    switch (dt) {
    case SL_DT_BF16:
        *out = SL_FP_BF16;
        return true;
    case SL_DT_F16:
        *out = SL_FP_F16;
        return true;
    case SL_DT_F32:
        *out = SL_FP_F32;
        return true;
    case SL_DT_GGML + 0:
        *out = SL_FP_F32;
        return true;
    case SL_DT_GGML + 1:
        *out = SL_FP_F16;
        return true;
    case SL_DT_GGML + 30:
        *out = SL_FP_BF16;
        return true;
    default:
        return false;
    }
}

/* Lists the eligible tensors of a parsed weight file, canonical names. */
static struct sl_fp_tensor *eligible(const struct sl_model *m, size_t *n, char ***names)
{
    struct sl_fp_tensor *t = sl_xcalloc(m->ntensors ? m->ntensors : 1, sizeof(*t));
    char **own = sl_xcalloc(m->ntensors ? m->ntensors : 1, sizeof(*own));

    *n = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const struct sl_tensor *x = &m->tensors[i];
        enum sl_fp_dtype dt;
        const char *name = x->name;
        unsigned dtype = x->dtype;
        char buf[512];
        if (!fp_dtype(x->dtype, &dt) || x->ndim != 2)
            continue;
        if (x->dtype >= SL_DT_GGML) {
            name = sl_fp_gguf_name(x->name, buf, sizeof(buf));
            if (!name)
                continue;
            dtype = dt == SL_FP_F32 ? SL_DT_F32 : dt == SL_FP_F16 ? SL_DT_F16 : SL_DT_BF16;
        }
        if (!sl_fp_eligible(name, dtype, x->shape, x->ndim))
            continue;
        own[*n] = sl_xstrdup(name);
        t[*n].name = own[*n];
        t[*n].dtype = dt;
        t[*n].rows = x->shape[0];
        t[*n].cols = x->shape[1];
        t[*n].offset = x->offset;
        (*n)++;
    }
    *names = own;
    return t;
}

static bool weight_file(const char *path)
{
    size_t n = strlen(path);

    return (n > 12 && strcmp(path + n - 12, ".safetensors") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".gguf") == 0);
}

/* Builds the plan of one stored weight file. `*plan` stays NULL when it has
 * nothing to mark. */
static enum sl_err build_plan(struct sl_registry *r, struct sl_db *db, int64_t model_id,
                              int64_t version_id, const char *path, const struct sl_file_ref *f,
                              struct sl_fp_plan **plan, struct sl_error *err)
{
    struct sl__ifile in;
    struct sl_model *m = NULL;
    struct sl_fp_tensor *t = NULL;
    char **names = NULL, lineage[32];
    unsigned char lkey[SL_FP_KEY_LEN];
    double density = 0;
    size_t n = 0;
    const char *base = strrchr(path, '/');
    enum sl_err rc;

    *plan = NULL;
    memset(&in, 0, sizeof(in));
    in.path = base ? base + 1 : path;
    in.size = f->size;
    in.blob_id = f->blob_id;
    rc = sl__reg_inspect(r, db, &in, 1, &m, err);
    if (rc == SL_ENOTFOUND)
        return SL_OK;
    if (rc)
        return rc;
    t = eligible(m, &n, &names);
    if (n > 0) {
        rc = lineage_density(r, db, model_id, version_id, &density, err);
        if (!rc) {
            snprintf(lineage, sizeof(lineage), "model:%lld", (long long)model_id);
            sl_fp_lineage_key(r->fp_master, lineage, lkey);
            rc = sl_fp_plan_new(lkey, density, t, n, plan, err);
            sl_wipe(lkey, sizeof(lkey));
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(t);
    sl_model_free(m);
    return rc;
}

/* A cached plan for (model, blob), built when missing; the entry is held
 * (refs) until released. */
static enum sl_err plan_get(struct sl_registry *r, struct sl_db *db, int64_t model_id,
                            int64_t version_id, const char *path, const struct sl_file_ref *f,
                            struct plan_entry **out, struct sl_error *err)
{
    struct sl_fp_cache *c = r->fp_cache;
    struct sl_fp_plan *plan = NULL;
    struct plan_entry *victim = NULL;
    enum sl_err rc;

    *out = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < PLAN_CACHE; i++) {
        struct plan_entry *e = &c->e[i];
        if (e->refs >= 0 && e->model_id == model_id && e->blob_id == f->blob_id && e->used) {
            e->refs++;
            e->used = ++c->clock;
            *out = e;
            pthread_mutex_unlock(&c->lock);
            return SL_OK;
        }
    }
    pthread_mutex_unlock(&c->lock);
    /* build outside the lock (it reads the header from the store) */
    rc = build_plan(r, db, model_id, version_id, path, f, &plan, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < PLAN_CACHE; i++) {
        struct plan_entry *e = &c->e[i];
        if (e->refs == 0 && (!victim || e->used < victim->used))
            victim = e;
    }
    if (!victim) {
        pthread_mutex_unlock(&c->lock);
        sl_fp_plan_free(plan);
        return sl_error_set(err, SL_ELIMIT, "too many fingerprinted downloads at once (%d files)",
                            PLAN_CACHE);
    }
    sl_fp_plan_free(victim->plan);
    victim->plan = plan;
    victim->model_id = model_id;
    victim->blob_id = f->blob_id;
    victim->refs = 1;
    victim->used = ++c->clock;
    *out = victim;
    pthread_mutex_unlock(&c->lock);
    return SL_OK;
}

static void plan_release(struct sl_registry *r, struct plan_entry *e)
{
    pthread_mutex_lock(&r->fp_cache->lock);
    e->refs--;
    pthread_mutex_unlock(&r->fp_cache->lock);
}

/* ---- marking downloads ---- */

/* The recipient a download by `p` of `v` is marked for, or 0 when the
 * copy is not marked. */
static enum sl_err marked_for(struct sl_registry *r, struct sl_db *db, const struct sl_principal *p,
                              const struct sl_version_ref *v, int64_t *recipient,
                              struct sl_error *err)
{
    bool found = false;
    enum sl_err rc;

    *recipient = 0;
    if (strcmp(v->tier, "gated") != 0 || p->user_id == 0)
        return SL_OK;
    if (sl_reg_is_member(r, p, v->org_id) || sl_reg_is_evaluator(r, p))
        return SL_OK;
    rc = sl_repo_fp_recipient_id(db, v->model_id, p->user_id, recipient, &found, err);
    if (rc)
        return rc;
    if (!found) {
        /* a grant from before fingerprints: make its recipient now */
        char commitment[65];
        rc = sl_db_begin(db, err);
        if (!rc)
            rc = sl__fp_recipient(r, db, v->model_id, p->user_id, recipient, commitment, err);
        if (!rc)
            rc = sl_db_commit(db, err);
        if (rc) {
            sl_db_rollback(db);
            return rc;
        }
    }
    return SL_OK;
}

enum sl_err sl_reg_mark_for(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *path,
                            const struct sl_file_ref *f, struct sl_reg_mark **out,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct plan_entry *e = NULL;
    int64_t recipient = 0;
    enum sl_err rc;

    *out = NULL;
    if (!db)
        return err->code;
    if (!weight_file(path))
        return SL_OK;
    rc = marked_for(r, db, p, v, &recipient, err);
    if (rc || recipient == 0)
        return rc;
    rc = plan_get(r, db, v->model_id, v->version_id, path, f, &e, err);
    if (rc)
        return rc;
    if (!e->plan) {
        plan_release(r, e);
        return SL_OK;
    }
    *out = sl_xcalloc(1, sizeof(**out));
    (*out)->r = r;
    (*out)->entry = e;
    sl_fp_recipient_init(r->fp_master, (uint32_t)recipient, &(*out)->rcpt);
    return SL_OK;
}

void sl_reg_mark_apply(const struct sl_reg_mark *m, uint64_t offset, void *buf, size_t len)
{
    sl_fp_mark(m->entry->plan, &m->rcpt, offset, buf, len);
}

void sl_reg_mark_span(const struct sl_reg_mark *m, uint64_t offset, uint64_t len, uint64_t *start,
                      uint64_t *end)
{
    sl_fp_mark_span(m->entry->plan, offset, len, start, end);
}

uint32_t sl_reg_mark_recipient(const struct sl_reg_mark *m)
{
    return m->rcpt.id;
}

void sl_reg_mark_free(struct sl_reg_mark *m)
{
    if (!m)
        return;
    plan_release(m->r, m->entry);
    sl_wipe(&m->rcpt, sizeof(m->rcpt));
    free(m);
}

/* ---- the manifest of a recipient's copy ---- */

/* Copies file bytes [off, off + n) from `runs` (covering the file). */
static enum sl_err read_range(struct sl_registry *r, const struct sl_run *runs, size_t nruns,
                              uint64_t off, unsigned char *dst, size_t n, struct sl_error *err)
{
    size_t done = 0, i = 0;

    while (done < n) {
        uint64_t in_run, take;
        enum sl_err rc;
        while (i < nruns && runs[i].file_offset + runs[i].length <= off)
            i++;
        if (i == nruns || runs[i].file_offset > off)
            return sl_error_set(err, SL_EINTERNAL, "the file's runs do not cover byte %llu",
                                (unsigned long long)off);
        in_run = off - runs[i].file_offset;
        take = runs[i].length - in_run;
        if (take > n - done)
            take = n - done;
        rc = sl_reg_read_run(r, &runs[i], in_run, dst + done, (size_t)take, err);
        if (rc)
            return rc;
        done += take;
        off += take;
    }
    return SL_OK;
}

/* The kept SHA-256 of a recipient's copy: 1 found, 0 not yet, -1 error. */
static int kept_sha(struct sl_db *db, uint32_t recipient, int64_t blob_id, char hex[65],
                    struct sl_error *err)
{
    bool found = false;

    if (sl_repo_fp_copy_get(db, recipient, blob_id, hex, &found, err) != SL_OK)
        return -1;
    return found ? 1 : 0;
}

/* Claims the hashing of (recipient, blob) for this thread: false when
 * another thread was hashing it (this one waited until it finished; look
 * again). `*claimed` says whether this thread must release the claim. */
static bool claim_hashing(struct sl_fp_cache *c, uint32_t recipient, int64_t blob_id, bool *claimed)
{
    bool waited = false;

    *claimed = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nhashing; i++) {
        if (c->hashing[i].recipient == recipient && c->hashing[i].blob_id == blob_id) {
            pthread_cond_wait(&c->hashed, &c->lock);
            waited = true;
            break;
        }
    }
    if (!waited && c->nhashing < HASHING_MAX) {
        c->hashing[c->nhashing].recipient = recipient;
        c->hashing[c->nhashing].blob_id = blob_id;
        c->nhashing++;
        *claimed = true;
    }
    pthread_mutex_unlock(&c->lock);
    return !waited;
}

static void release_hashing(struct sl_fp_cache *c, uint32_t recipient, int64_t blob_id)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nhashing; i++) {
        if (c->hashing[i].recipient == recipient && c->hashing[i].blob_id == blob_id) {
            c->hashing[i] = c->hashing[--c->nhashing];
            break;
        }
    }
    pthread_cond_broadcast(&c->hashed);
    pthread_mutex_unlock(&c->lock);
}

/* SHA-256 of the marked copy of file `f`, computed once per recipient (and
 * by one thread at a time), then kept in fp_copies. */
static enum sl_err copy_sha(struct sl_registry *r, struct sl_db *db, const struct sl_reg_mark *m,
                            const struct sl_file_ref *f, char hex[65], struct sl_error *err)
{
    struct sl_run *runs = NULL;
    size_t nruns = 0;
    unsigned char *buf = NULL, h[32];
    struct sl_sha256_ctx *ctx;
    bool claimed = false;
    int row;
    enum sl_err rc;

    for (;;) {
        row = kept_sha(db, m->rcpt.id, f->blob_id, hex, err);
        if (row != 0)
            return row < 0 ? err->code : SL_OK;
        if (claim_hashing(r->fp_cache, m->rcpt.id, f->blob_id, &claimed))
            break;
    }
    rc = sl_reg_runs(r, f->blob_id, 0, f->size, &runs, &nruns, err);
    if (rc)
        goto out;
    buf = sl_xmalloc((1u << 20) + 8);
    ctx = sl_sha256_new();
    for (uint64_t off = 0; off < f->size && !rc; off += 1u << 20) {
        uint64_t n = f->size - off < (1u << 20) ? f->size - off : 1u << 20, s, e;
        /* whole elements around the piece, as a download reads them */
        sl_reg_mark_span(m, off, n, &s, &e);
        if (atomic_load(&r->fp_cache->stop)) {
            rc = sl_error_set(err, SL_EINTERNAL, "the server is stopping");
            break;
        }
        rc = read_range(r, runs, nruns, s, buf, (size_t)(e - s), err);
        if (!rc) {
            sl_reg_mark_apply(m, s, buf, (size_t)(e - s));
            sl_sha256_update(ctx, buf + (off - s), (size_t)n);
        }
    }
    if (rc) {
        sl_sha256_free(ctx);
        goto out;
    }
    sl_sha256_final(ctx, h);
    sl_hex(h, 32, hex);
    rc = sl_repo_fp_copy_insert(db, m->rcpt.id, f->blob_id, hex, err);
out:
    if (claimed)
        release_hashing(r->fp_cache, m->rcpt.id, f->blob_id);
    free(buf);
    free(runs);
    return rc;
}

enum sl_err sl_reg_mark_sha256(const struct sl_reg_mark *m, const struct sl_file_ref *f,
                               char hex[65], struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(m->r, err);

    if (!db)
        return err->code;
    return copy_sha(m->r, db, m, f, hex, err);
}

enum sl_err sl_reg_copy_sha256(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, const char *path,
                               const struct sl_file_ref *f, char hex[65], uint32_t *recipient,
                               struct sl_error *err)
{
    struct sl_reg_mark *m = NULL;
    enum sl_err rc = sl_reg_mark_for(r, p, v, path, f, &m, err);

    if (recipient)
        *recipient = 0;
    if (rc)
        return rc;
    if (!m) {
        snprintf(hex, 65, "%s", f->sha256);
        return SL_OK;
    }
    if (recipient)
        *recipient = m->rcpt.id;
    rc = sl_reg_mark_sha256(m, f, hex, err);
    sl_reg_mark_free(m);
    return rc;
}

void sl_reg_fp_warm_stop(struct sl_registry *r)
{
    atomic_store(&r->fp_cache->stop, true);
}

enum sl_err sl_reg_fp_warm(struct sl_registry *r, bool *did, struct sl_error *err)
{
    struct sl_fp_cache *c = r->fp_cache;
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_fp_warm_row w;
    struct sl_principal p;
    struct sl_version_ref v;
    struct sl_reg_mark *m = NULL;
    char hint[8];
    char model[2 * SL_NAME_MAX + 2], hex[65];
    bool found = false;
    enum sl_err rc;

    *did = false;
    if (!db)
        return err->code;
    /* the next weight file of a gated main version whose recipient's copy
     * has not been hashed, after the cursor */
    rc = sl_repo_fp_warm_next(db, c->warm_recipient, c->warm_blob, &w, &found, err);
    if (rc)
        return rc;
    if (!found) {
        /* the pass is over; the next starts from the beginning */
        c->warm_recipient = c->warm_blob = 0;
        return SL_OK;
    }
    p = w.user;
    p.scopes = ~0u;
    *did = true;
    c->warm_recipient = w.recipient;
    c->warm_blob = w.f.blob_id;
    /* only copies the recipient may download now are worth hashing */
    rc = sl_reg_resolve(r, w.org, w.name, "main", &v, err);
    if (rc)
        return rc == SL_ENOTFOUND ? SL_OK : rc;
    snprintf(model, sizeof(model), "%s/%s", w.org, w.name);
    if (sl_reg_may_download(r, &p, &v, model, hint, sizeof(hint), err) != SL_OK) {
        sl_error_clear(err);
        return SL_OK;
    }
    rc = sl_reg_mark_for(r, &p, &v, w.path, &w.f, &m, err);
    if (!rc && m)
        rc = copy_sha(r, db, m, &w.f, hex, err);
    sl_reg_mark_free(m);
    return rc;
}

struct manifest_file {
    char *path;
    struct sl_file_ref f;
};

struct manifest_files {
    struct manifest_file *v;
    size_t n, cap;
};

static int add_manifest_file(void *ctx, const struct sl_version_file_row *row)
{
    struct manifest_files *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = sl_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].path = sl_xstrdup(row->path);
    l->v[l->n].f = row->f;
    l->n++;
    return 0;
}

enum sl_err sl_reg_manifest(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, const char *model, char **note,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_buf b = SL_BUF_INIT((size_t)60 << 10);
    struct manifest_files l = {NULL, 0, 0};
    struct manifest_file *files;
    size_t n, len;
    uint32_t recipient = 0;
    enum sl_err rc = SL_OK;

    *note = NULL;
    if (!db)
        return err->code;
    rc = sl_repo_version_files(db, v->version_id, add_manifest_file, &l, err);
    files = l.v;
    n = l.n;
    if (!rc)
        sl_buf_addf(&b, "sluice manifest v1\nmodel %s\ncommit %s\n", model, v->commit);
    for (size_t i = 0; i < n && !rc; i++) {
        struct sl_reg_mark *m = NULL;
        char hex[65];
        rc = sl_reg_mark_for(r, p, v, files[i].path, &files[i].f, &m, err);
        if (rc)
            break;
        if (m) {
            recipient = m->rcpt.id;
            rc = copy_sha(r, db, m, &files[i].f, hex, err);
            sl_reg_mark_free(m);
        } else {
            snprintf(hex, sizeof(hex), "%s", files[i].f.sha256);
        }
        if (!rc && sl_buf_addf(&b, "file %s %llu %s\n", hex, (unsigned long long)files[i].f.size,
                               files[i].path) != SL_OK)
            rc =
                sl_error_set(err, SL_ELIMIT,
                             "the manifest of %zu files is over the 60 KiB a signed note holds", n);
    }
    if (!rc) {
        char line[64];
        if (recipient)
            snprintf(line, sizeof(line), "fingerprint recipient %u\n", recipient);
        else
            snprintf(line, sizeof(line), "fingerprint none\n");
        if (sl_buf_adds(&b, line) != SL_OK)
            rc = sl_error_set(err, SL_ELIMIT, "the manifest is too long");
    }
    if (!rc)
        rc = sl_note_sign(sl_buf_cstr(&b), b.len, &r->note_key, 1, note, &len, err);
    for (size_t i = 0; i < n; i++)
        free(files[i].path);
    free(files);
    sl_buf_release(&b);
    return rc;
}

/* ---- tracing ---- */

#define GGML_Q8_0 8

static float half_to_float(uint16_t h)
{
    float f;
    sl_fp_to_float(SL_FP_F16, &h, &f, 1);
    return f;
}

/* True when trace can read tensor `t` of a suspect (as floats). */
static bool suspect_readable(const struct sl_tensor *t)
{
    enum sl_fp_dtype dt;

    return fp_dtype(t->dtype, &dt) || (t->dtype == SL_DT_GGML + GGML_Q8_0 && t->nelem % 32 == 0);
}

/* Reads elements [e0, e0 + n) of suspect tensor `t` (file `fd`, named
 * `path`) into `out` as floats. For Q8_0, e0 and n are multiples of 32. */
static enum sl_err read_elems(int fd, const char *path, const struct sl_tensor *t, uint64_t e0,
                              uint64_t n, float *out, struct sl_error *err)
{
    enum sl_fp_dtype dt;
    uint64_t off, len;
    unsigned char *raw;
    bool q8 = !fp_dtype(t->dtype, &dt);
    enum sl_err rc;

    if (q8) {
        off = e0 / 32 * 34;
        len = n / 32 * 34;
    } else {
        size_t es = dt == SL_FP_F32 ? 4 : 2;
        off = e0 * es;
        len = n * es;
    }
    raw = sl_xmalloc(len ? (size_t)len : 1);
    rc = sl_pread_full(fd, raw, (size_t)len, t->offset + off, path, err);
    if (!rc && !q8) {
        sl_fp_to_float(dt, raw, out, (size_t)n);
    } else if (!rc) {
        for (uint64_t b = 0; b < n / 32; b++) {
            const unsigned char *blk = raw + b * 34;
            float d = half_to_float((uint16_t)(blk[0] | blk[1] << 8));
            for (int k = 0; k < 32; k++)
                out[b * 32 + (uint64_t)k] = (float)(int8_t)blk[2 + k] * d;
        }
    }
    free(raw);
    return rc;
}

/* Reads a suspect tensor into floats (`out` holds nelem). */
static enum sl_err read_suspect(const struct sl_model *m, const struct sl_tensor *t, float *out,
                                bool *quantised, struct sl_error *err)
{
    const char *path = m->files[t->file].path;
    int fd;
    enum sl_err rc;

    *quantised = false;
    if (!suspect_readable(t))
        return sl_error_set(err, SL_EUNSUPPORTED,
                            "%s: tensor %s has type %s, which trace cannot read", path, t->name,
                            sl_dtype_name(t->dtype));
    if (t->nbytes > ((uint64_t)1 << 34))
        return sl_error_set(err, SL_ELIMIT, "%s: tensor %s is over 16 GiB", path, t->name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    rc = read_elems(fd, path, t, 0, t->nelem, out, err);
    close(fd);
    *quantised = t->dtype == SL_DT_GGML + GGML_Q8_0;
    return rc;
}

/* ---- matching a suspect's tensors to the original's, by content ----
 *
 * Converters rename tensors (GGUF names, an added or stripped prefix, MLX),
 * so a name says little about which original matrix a suspect tensor is.
 * Its values do: a copy, however marked, converted or lightly fine-tuned,
 * correlates almost perfectly with its original (r > 0.9), and two different
 * weight matrices hardly at all (|r| < 0.1 for random-like weights). Each
 * tensor is compared on a sample: SAMPLE_RUNS runs of SAMPLE_RUN consecutive
 * elements spread evenly over it, the same elements in both. */

/* The mean score per scoring position of an exact copy of one recipient's
 * download (measured: z = 58.4 over about 8,000 positions, docs/
 * fingerprint.md): with n positions read, such a leak scores about
 * SL_FP_GUILTY_Z * sqrt(n). Below the threshold, nobody could be accused. */
#define SL_FP_GUILTY_Z 0.65

#define SAMPLE_RUNS 64
#define SAMPLE_RUN  64
#define SAMPLE_N    (SAMPLE_RUNS * SAMPLE_RUN)
#define MATCH_MIN   0.5  /* the least correlation that makes two tensors one */
#define MATCH_SURE  0.95 /* a correlation no other tensor will beat: stop looking */

/* The first element of sample run `j` of a tensor of `nelem` (>= SAMPLE_N)
 * elements: runs never overlap and start at multiples of 64 (whole Q8_0
 * blocks). */
static uint64_t sample_at(uint64_t nelem, size_t j)
{
    return nelem / SAMPLE_RUNS * j / SAMPLE_RUN * SAMPLE_RUN;
}

/* The row of a GGUF attn_q / attn_k tensor that holds row `row` of the
 * Hugging Face original, for heads of `hd` rows (convert_hf_to_gguf.py
 * permutes the rows of each head for its rotary layout: GGUF row 2i + a is
 * HF row a * hd / 2 + i). */
static uint64_t gguf_row(uint64_t row, uint64_t hd)
{
    uint64_t h = row / hd, r = row % hd, a = r / (hd / 2), i = r % (hd / 2);

    return h * hd + 2 * i + a;
}

/* The sample of a suspect tensor (SAMPLE_N floats, malloc'd). With `hd`
 * not 0, the sample of the tensor with llama.cpp's q/k row permutation for
 * heads of `hd` rows undone (the tensor's columns a multiple of SAMPLE_RUN,
 * so that no run crosses a row). */
static enum sl_err suspect_sample(const struct sl_model *m, const struct sl_tensor *t, uint64_t hd,
                                  float **out, struct sl_error *err)
{
    const char *path = m->files[t->file].path;
    float *v = sl_xmalloc(SAMPLE_N * sizeof(*v));
    enum sl_err rc = SL_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0) {
        free(v);
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    for (size_t j = 0; j < SAMPLE_RUNS && !rc; j++) {
        uint64_t e = sample_at(t->nelem, j), cols = t->shape[1];
        if (hd)
            e = gguf_row(e / cols, hd) * cols + e % cols;
        rc = read_elems(fd, path, t, e, SAMPLE_RUN, v + j * SAMPLE_RUN, err);
    }
    close(fd);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return SL_OK;
}

/* Pearson's correlation of original sample `a` and suspect sample `b` over
 * the pairs where both are finite and b is within 16 times a's largest
 * magnitude; 0 when either side is constant there. */
static double correlation(const float *a, const float *b)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, n = 0, va, vb, amax = 0;

    for (size_t i = 0; i < SAMPLE_N; i++)
        if (isfinite(a[i]) && fabs(a[i]) > amax)
            amax = fabs(a[i]);
    for (size_t i = 0; i < SAMPLE_N; i++) {
        /* garbage a leaker wrote over some weights (NaN, infinities, 3e38)
         * would swamp the sums: values far outside the original's range
         * are left out */
        if (!isfinite(a[i]) || !isfinite(b[i]) || fabs(b[i]) > 16 * amax)
            continue;
        sa += a[i];
        sb += b[i];
        saa += (double)a[i] * a[i];
        sbb += (double)b[i] * b[i];
        sab += (double)a[i] * b[i];
        n++;
    }
    if (n < 2)
        return 0;
    va = saa - sa * sa / n;
    vb = sbb - sb * sb / n;
    if (!(va > 0) || !(vb > 0))
        return 0;
    return (sab - sa * sb / n) / sqrt(va * vb);
}

/* True when a sample has no spread (an all-zero or constant tensor): its
 * values cannot tell it from another tensor of the same shape. */
static bool constant_sample(const float *a)
{
    for (size_t i = 1; i < SAMPLE_N; i++)
        if (a[i] != a[0])
            return false;
    return true;
}

/* The suspect's tensors, with their samples once read. */
/* Head sizes tried when undoing llama.cpp's q/k row permutation. */
static const uint64_t head_dims[] = {64, 128, 256, 32, 80, 96, 112, 160, 192};
#define NHEAD_DIMS (sizeof(head_dims) / sizeof(head_dims[0]))

struct suspect_set {
    const struct sl_model *m;
    float **sample; /* per tensor, NULL until read */
    float **perm;   /* per tensor and head size, the permutation undone; NULL until read */
    bool *taken;    /* already matched to an original tensor */
};

static const float *sample_of(struct suspect_set *s, size_t i, struct sl_error *err)
{
    if (!s->sample[i] && suspect_sample(s->m, &s->m->tensors[i], 0, &s->sample[i], err) != SL_OK)
        return NULL;
    return s->sample[i];
}

static bool same_shape(const struct sl_tensor *t, const struct sl_fp_tensor *o)
{
    return t->ndim == 2 && t->shape[0] == o->rows && t->shape[1] == o->cols &&
           t->nelem >= SAMPLE_N && suspect_readable(t);
}

/* The suspect tensor that holds original tensor `o` (whose sample is
 * `osample`): the one of the same name when its values agree, else the
 * untaken tensor of the same shape whose values correlate best, when that is
 * at least MATCH_MIN. `*index` is SIZE_MAX when none does, with `why` saying
 * so; `*r` is the correlation (1 for a constant original matched by name). */
/* Tries suspect tensor `i` (of a GGUF file) with llama.cpp's q/k row
 * permutation undone for the usual head sizes; raises `*best_r` (and sets
 * `*best`, `*best_hd`) when one of them correlates better. */
static enum sl_err try_permuted(struct suspect_set *s, size_t i, const float *osample,
                                double *best_r, size_t *best, uint64_t *best_hd,
                                struct sl_error *err)
{
    const struct sl_tensor *t = &s->m->tensors[i];

    if (s->m->files[t->file].format != SL_FMT_GGUF || t->shape[1] % SAMPLE_RUN != 0)
        return SL_OK;
    if (!s->perm)
        s->perm = sl_xcalloc(s->m->ntensors * NHEAD_DIMS, sizeof(*s->perm));
    for (size_t h = 0; h < NHEAD_DIMS; h++) {
        float **sv = &s->perm[i * NHEAD_DIMS + h];
        double c;
        if (t->shape[0] % head_dims[h] != 0)
            continue;
        /* kept: every original tensor of this shape may try it */
        if (!*sv && suspect_sample(s->m, t, head_dims[h], sv, err) != SL_OK)
            return err->code;
        c = correlation(osample, *sv);
        if (c > *best_r) {
            *best_r = c;
            *best = i;
            *best_hd = head_dims[h];
        }
        if (c >= MATCH_SURE)
            break;
    }
    return SL_OK;
}

static enum sl_err match_tensor(struct suspect_set *s, const struct sl_fp_tensor *o,
                                const float *osample, size_t *index, double *r, uint64_t *head_dim,
                                char *why, size_t whylen, struct sl_error *err)
{
    const struct sl_model *m = s->m;
    size_t by_name = SIZE_MAX, best = SIZE_MAX, same = 0;
    uint64_t best_hd = 0;
    double best_r = -2;
    bool flat = constant_sample(osample);

    *index = SIZE_MAX;
    *r = 0;
    *head_dim = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const struct sl_tensor *t = &m->tensors[i];
        char buf[512];
        const char *cn =
            t->dtype >= SL_DT_GGML ? sl_fp_gguf_name(t->name, buf, sizeof(buf)) : t->name;
        if (!s->taken[i] && cn && strcmp(cn, o->name) == 0 && same_shape(t, o)) {
            by_name = i;
            break;
        }
    }
    if (by_name != SIZE_MAX) {
        const float *sv = sample_of(s, by_name, err);
        if (!sv)
            return err->code;
        *r = flat ? 1 : correlation(osample, sv);
        if (*r >= MATCH_MIN) {
            *index = by_name;
            return SL_OK;
        }
        /* a GGUF attn_q / attn_k under its own name, rows permuted */
        if (!flat && try_permuted(s, by_name, osample, &best_r, &best, &best_hd, err) != SL_OK)
            return err->code;
        if (best_r >= MATCH_MIN) {
            *index = best;
            *r = best_r;
            *head_dim = best_hd;
            return SL_OK;
        }
    }
    if (flat) {
        /* a constant original matches nothing by its values */
        snprintf(why, whylen,
                 "its values are all equal, so only a tensor of its name and shape "
                 "could stand for it, and the suspect copy has none");
        return SL_OK;
    }
    for (size_t i = 0; i < m->ntensors; i++) {
        const float *sv;
        double c;
        if (s->taken[i] || !same_shape(&m->tensors[i], o))
            continue;
        same++;
        sv = sample_of(s, i, err);
        if (!sv)
            return err->code;
        c = correlation(osample, sv);
        if (c > best_r) {
            best_r = c;
            best = i;
            best_hd = 0;
        }
        if (c >= MATCH_SURE)
            break;
    }
    /* a GGUF copy of attn_q / attn_k has the rows of each head permuted:
     * try the usual head sizes */
    for (size_t i = 0; i < m->ntensors && best_r < MATCH_MIN; i++) {
        if (!s->taken[i] && i != by_name && same_shape(&m->tensors[i], o) &&
            try_permuted(s, i, osample, &best_r, &best, &best_hd, err) != SL_OK)
            return err->code;
    }
    if (best != SIZE_MAX && best_r >= MATCH_MIN) {
        *index = best;
        *r = best_r;
        *head_dim = best_hd;
        return SL_OK;
    }
    if (same == 0) {
        /* say so when the shape is there in a type trace cannot read */
        const struct sl_tensor *odd = NULL;
        for (size_t i = 0; i < m->ntensors && !odd; i++) {
            const struct sl_tensor *t = &m->tensors[i];
            if (!s->taken[i] && t->ndim == 2 && t->shape[0] == o->rows && t->shape[1] == o->cols)
                odd = t;
        }
        if (odd)
            snprintf(why, whylen,
                     "the suspect copy's tensor of shape [%llu, %llu] (%.100s) has type %s, which "
                     "trace cannot read",
                     (unsigned long long)o->rows, (unsigned long long)o->cols, odd->name,
                     sl_dtype_name(odd->dtype));
        else
            snprintf(why, whylen, "no tensor of shape [%llu, %llu] left in the suspect copy",
                     (unsigned long long)o->rows, (unsigned long long)o->cols);
    } else
        snprintf(why, whylen,
                 "none of the %zu tensors of shape [%llu, %llu] in the suspect copy matches its "
                 "values (best correlation %.2f, at least %.2f needed)",
                 same, (unsigned long long)o->rows, (unsigned long long)o->cols, best_r, MATCH_MIN);
    return SL_OK;
}

/* The original bytes of tensor `t` (of version file `blob`) from the store. */
static enum sl_err read_original(struct sl_registry *r, int64_t blob_id, const struct sl_tensor *t,
                                 unsigned char **out, struct sl_error *err)
{
    struct sl_run *runs = NULL;
    size_t nruns = 0;
    unsigned char *buf;
    enum sl_err rc = sl_reg_runs(r, blob_id, t->offset, t->offset + t->nbytes, &runs, &nruns, err);

    *out = NULL;
    if (rc)
        return rc;
    buf = sl_xmalloc(t->nbytes ? (size_t)t->nbytes : 1);
    for (size_t i = 0; i < nruns && !rc; i++) {
        uint64_t from = runs[i].file_offset < t->offset ? t->offset - runs[i].file_offset : 0;
        uint64_t at = runs[i].file_offset + from;
        uint64_t take = runs[i].length - from;
        if (at + take > t->offset + t->nbytes)
            take = t->offset + t->nbytes - at;
        rc = sl_reg_read_run(r, &runs[i], from, buf + (at - t->offset), (size_t)take, err);
    }
    free(runs);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return SL_OK;
}

struct vfile {
    int64_t blob_id;
    uint64_t size;
    char *path;
    struct sl_model *m; /* header of the original file */
};

struct vfiles {
    struct vfile *v;
    size_t n, cap;
};

/* The original weight files of the version traced against. */
static int add_vfile(void *ctx, const struct sl_version_file_row *row)
{
    struct vfiles *l = ctx;

    if (!weight_file(row->path))
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = sl_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].path = sl_xstrdup(row->path);
    l->v[l->n].blob_id = row->f.blob_id;
    l->v[l->n].size = row->f.size;
    l->v[l->n].m = NULL;
    l->n++;
    return 0;
}

struct rcpt_list {
    struct sl_registry *r;
    struct sl_fp_recipient *rcpts;
    int64_t *users;
    size_t n, cap;
};

static int add_rcpt(void *ctx, const struct sl_fp_recipient_row *row)
{
    struct rcpt_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rcpts = sl_xrealloc(l->rcpts, l->cap * sizeof(*l->rcpts));
        l->users = sl_xrealloc(l->users, l->cap * sizeof(*l->users));
    }
    sl_fp_recipient_init(l->r->fp_master, (uint32_t)row->id, &l->rcpts[l->n]);
    l->users[l->n] = row->user_id;
    l->n++;
    return 0;
}

enum sl_err sl_reg_trace(struct sl_registry *r, const struct sl_principal *p, int64_t model_id,
                         const char *model, const char *const *paths, size_t npaths, json_t **out,
                         struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_model *sus = NULL;
    struct vfile *vf = NULL;
    size_t nvf = 0, ntens = 0, tcap = 0;
    struct sl_fp_tensor *tens = NULL;
    size_t *tens_file = NULL, *tens_idx = NULL;
    struct sl_fp_plan *plan = NULL;
    struct sl_fp_obs *obs = NULL;
    struct sl_fp_recipient *rcpts = NULL;
    struct sl_fp_score *scores = NULL;
    int64_t *users = NULL, version_id = 0, seq = 0;
    size_t nr = 0;
    json_t *accused = json_array(), *unread = json_array(), *matched = json_array();
    unsigned char lkey[SL_FP_KEY_LEN];
    char lineage[32], commit[65] = "", why[512] = "";
    double density, zthr = INFINITY, max_z = -INFINITY;
    const char *verdict;
    uint64_t read = 0, total = 0, tardos_read = 0;
    uint32_t payload = 0;
    bool any_quantised = false, payload_ok = false;
    struct suspect_set ss = {0};
    bool found = false;
    enum sl_err rc = SL_OK;

    (void)p;
    *out = NULL;
    if (!db) {
        rc = err->code;
        goto out;
    }
    rc = sl_model_open(paths, npaths, &sus, err);
    if (rc) {
        sl_error_prefix(err, "the suspect copy");
        goto out;
    }
    /* the version: main (the version copies are traced against) */
    rc = sl_repo_fp_main_version(db, model_id, &version_id, &seq, commit, &found, err);
    if (rc)
        goto out;
    if (!found || !version_id) {
        rc = sl_error_set(err, SL_ENOTFOUND, "%s has no version", model);
        goto out;
    }
    /* the original weight files' headers */
    {
        struct vfiles l = {NULL, 0, 0};
        rc = sl_repo_version_files(db, version_id, add_vfile, &l, err);
        vf = l.v;
        nvf = l.n;
        if (rc)
            goto out; /* never a trace against some of the files */
    }
    for (size_t i = 0; i < nvf && !rc; i++) {
        struct sl__ifile in;
        const char *base = strrchr(vf[i].path, '/');
        memset(&in, 0, sizeof(in));
        in.path = base ? base + 1 : vf[i].path;
        in.size = vf[i].size;
        in.blob_id = vf[i].blob_id;
        rc = sl__reg_inspect(r, db, &in, 1, &vf[i].m, err);
        if (rc == SL_ENOTFOUND)
            rc = SL_OK;
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < nvf; i++) {
        size_t n = 0;
        char **names = NULL;
        struct sl_fp_tensor *t;
        if (!vf[i].m)
            continue;
        t = eligible(vf[i].m, &n, &names);
        for (size_t k = 0; k < n; k++) {
            if (ntens == tcap) {
                tcap = tcap ? tcap * 2 : 64;
                tens = sl_xrealloc(tens, tcap * sizeof(*tens));
                tens_file = sl_xrealloc(tens_file, tcap * sizeof(*tens_file));
                tens_idx = sl_xrealloc(tens_idx, tcap * sizeof(*tens_idx));
            }
            tens[ntens] = t[k]; /* names stay owned by `names` until the end */
            tens_file[ntens] = i;
            tens_idx[ntens] = SIZE_MAX;
            for (size_t x = 0; x < vf[i].m->ntensors; x++) {
                if (vf[i].m->tensors[x].offset == t[k].offset) {
                    tens_idx[ntens] = x;
                    break;
                }
            }
            ntens++;
        }
        free(t);
        free(names); /* the strings now belong to tens[], freed at the end */
    }
    if (ntens == 0) {
        /* nothing carries a mark: an answer, not an error */
        snprintf(why, sizeof(why),
                 "version %lld has no tensor that carries a fingerprint (no 2-D float weight "
                 "matrix of at least 4,096 elements)",
                 (long long)seq);
        goto report;
    }
    rc = lineage_density(r, db, model_id, version_id, &density, err);
    if (rc)
        goto out;
    snprintf(lineage, sizeof(lineage), "model:%lld", (long long)model_id);
    sl_fp_lineage_key(r->fp_master, lineage, lkey);
    rc = sl_fp_plan_new(lkey, density, tens, ntens, &plan, err);
    sl_wipe(lkey, sizeof(lkey));
    if (rc)
        goto out;
    obs = sl_fp_obs_new(plan);
    ss.m = sus;
    ss.sample = sl_xcalloc(sus->ntensors ? sus->ntensors : 1, sizeof(*ss.sample));
    ss.taken = sl_xcalloc(sus->ntensors ? sus->ntensors : 1, sizeof(*ss.taken));
    for (size_t k = 0; k < ntens && !rc; k++) {
        const struct sl_tensor *ot = &vf[tens_file[k]].m->tensors[tens_idx[k]];
        const struct sl_tensor *stt;
        unsigned char *orig = NULL;
        float *sv = NULL, *ref = NULL, osample[SAMPLE_N];
        size_t si;
        double corr;
        uint64_t hd = 0;
        char whyt[256];
        bool quantised = false;
        rc = read_original(r, vf[tens_file[k]].blob_id, ot, &orig, err);
        if (rc)
            break;
        for (size_t j = 0; j < SAMPLE_RUNS; j++)
            sl_fp_to_float(tens[k].dtype,
                           orig + sample_at(ot->nelem, j) * (tens[k].dtype == SL_FP_F32 ? 4 : 2),
                           osample + j * SAMPLE_RUN, SAMPLE_RUN);
        whyt[0] = '\0';
        rc = match_tensor(&ss, &tens[k], osample, &si, &corr, &hd, whyt, sizeof(whyt), err);
        if (!rc && si == SIZE_MAX) {
            json_array_append_new(unread,
                                  json_pack("{s:s, s:s}", "tensor", tens[k].name, "why", whyt));
            free(orig);
            continue;
        }
        if (rc) {
            free(orig);
            break;
        }
        stt = &sus->tensors[si];
        ss.taken[si] = true;
        sv = sl_xmalloc((size_t)stt->nelem * sizeof(float));
        rc = read_suspect(sus, stt, sv, &quantised, err);
        if (!rc && hd) {
            /* put llama.cpp's rows back in the original's order */
            float *un = sl_xmalloc((size_t)stt->nelem * sizeof(float));
            rc = sl_fp_unpermute_qk(sv, un, tens[k].rows, tens[k].cols,
                                    (uint32_t)(tens[k].rows / hd), err);
            free(sv);
            sv = un;
        }
        if (!rc) {
            char cn[512];
            const char *sn =
                stt->dtype >= SL_DT_GGML ? sl_fp_gguf_name(stt->name, cn, sizeof(cn)) : stt->name;
            if (!sn || strcmp(sn, tens[k].name) != 0 || hd) {
                json_t *e = json_pack("{s:s, s:s, s:f}", "tensor", tens[k].name, "suspect",
                                      stt->name, "correlation", isfinite(corr) ? corr : 0.0);
                if (hd)
                    json_object_set_new(e, "qk_rows_unpermuted_head_dim",
                                        json_integer((json_int_t)hd));
                json_array_append_new(matched, e);
            }
        }
        if (!rc && quantised) {
            float *of = sl_xmalloc((size_t)stt->nelem * sizeof(float));
            ref = sl_xmalloc((size_t)stt->nelem * sizeof(float));
            sl_fp_to_float(tens[k].dtype, orig, of, (size_t)stt->nelem);
            sl_fp_q8_0_roundtrip(of, ref, (size_t)stt->nelem);
            free(of);
            any_quantised = true;
        }
        if (!rc)
            rc = sl_fp_observe(obs, tens[k].name, tens[k].dtype, orig, sv, ref, err);
        free(orig);
        free(sv);
        free(ref);
    }
    if (rc)
        goto out;
    /* every recipient ever issued for this lineage */
    {
        struct rcpt_list l = {r, NULL, NULL, 0, 0};
        rc = sl_repo_fp_recipients_of_model(db, model_id, add_rcpt, &l, err);
        rcpts = l.rcpts;
        users = l.users;
        nr = l.n;
        if (rc)
            goto out;
    }
    scores = sl_xcalloc(nr ? nr : 1, sizeof(*scores));
    if (nr)
        sl_fp_score_many(obs, rcpts, nr, scores);
    {
        /* the Tardos positions read, from a key never issued (ids start at 1) */
        struct sl_fp_recipient none;
        struct sl_fp_score s0;
        sl_fp_recipient_init(r->fp_master, 0, &none);
        sl_fp_score(obs, &none, &s0);
        sl_wipe(&none, sizeof(none));
        tardos_read = s0.readable;
    }
    sl_fp_obs_counts(obs, &read, &total);
    sl_fp_decode(obs, r->fp_master, &payload, &payload_ok);
    /* accuse only where the chance that any innocent recipient scores as
     * high is at most one in a million (Bernstein's bound over the
     * positions read, times the recipients scored) */
    zthr = sl_fp_threshold(tardos_read, nr ? nr : 1, 1e-6);
    for (size_t i = 0; i < nr; i++) {
        if (!isfinite(zthr) || !isfinite(scores[i].z) || !isfinite(scores[i].fp_bound) ||
            scores[i].z < zthr)
            continue;
        char uname[SL_NAME_MAX + 1];
        rc = sl_repo_fp_user_name(db, users[i], uname, &found, err);
        if (rc)
            goto out;
        if (found)
            json_array_append_new(accused,
                                  json_pack("{s:s, s:I, s:f, s:f, s:I}", "user", uname, "grant",
                                            (json_int_t)rcpts[i].id, "z", scores[i].z, "fp_bound",
                                            scores[i].fp_bound, "positions_read",
                                            (json_int_t)scores[i].readable));
    }
    if (json_array_size(accused) == 0) {
        if (tardos_read == 0)
            snprintf(why, sizeof(why),
                     "no fingerprint position could be read in the suspect copy (%llu carry a "
                     "mark in the tensors matched, %zu of %zu tensors matched)",
                     (unsigned long long)total, ntens - json_array_size(unread), ntens);
        else if (!isfinite(zthr) || SL_FP_GUILTY_Z * sqrt((double)tardos_read) < zthr)
            snprintf(why, sizeof(why),
                     "only %llu scoring positions could be read: even an exact copy of one "
                     "recipient's download would score about %.1f, under the z of %.1f needed to "
                     "accuse anyone",
                     (unsigned long long)tardos_read, SL_FP_GUILTY_Z * sqrt((double)tardos_read),
                     zthr);
    }
report:
    verdict = json_array_size(accused) ? "accused" : why[0] ? "insufficient" : "not_accused";
    for (size_t i = 0; i < nr; i++)
        if (isfinite(scores[i].z) && scores[i].z > max_z)
            max_z = scores[i].z;
    if (!why[0] && json_array_size(accused) == 0 && nr == 0)
        snprintf(why, sizeof(why),
                 "%llu scoring positions read, but the model's copies were never issued to "
                 "anyone, so there is nobody to score",
                 (unsigned long long)tardos_read);
    else if (!why[0] && json_array_size(accused) == 0)
        snprintf(why, sizeof(why),
                 "%llu scoring positions read; no recipient scores at or above z = %.1f "
                 "(the highest scores %.1f): the copy is the original, a copy made for "
                 "someone not scored, or too altered to read",
                 (unsigned long long)tardos_read, zthr, max_z);
    else if (!why[0])
        snprintf(why, sizeof(why),
                 "%zu recipient%s at or above z = %.1f over %llu scoring positions",
                 json_array_size(accused), json_array_size(accused) == 1 ? " scores" : "s score",
                 zthr, (unsigned long long)tardos_read);
    *out = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, "
                     "s:b}",
                     "model", model, "version", (json_int_t)seq, "commit", commit, "verdict",
                     verdict, "why", why, "accused", accused, "positions_read", (json_int_t)read,
                     "positions_total", (json_int_t)total, "scoring_positions_read",
                     (json_int_t)tardos_read, "recipients_scored", (json_int_t)nr, "threshold_z",
                     isfinite(zthr) ? json_real(zthr) : json_null(), "payload_id",
                     payload_ok ? json_integer(payload) : json_null(), "unread", unread,
                     "matched_by_content", matched, "quantised_reference", any_quantised);
    accused = unread = matched = NULL;
    if (!*out)
        rc = sl_error_set(err, SL_EINTERNAL, "could not build the trace report");
out:
    if (tens)
        for (size_t k = 0; k < ntens; k++)
            free((char *)tens[k].name);
    free(tens);
    free(tens_file);
    free(tens_idx);
    for (size_t i = 0; i < nvf; i++) {
        free(vf[i].path);
        sl_model_free(vf[i].m);
    }
    free(vf);
    if (ss.sample)
        for (size_t i = 0; i < sus->ntensors; i++)
            free(ss.sample[i]);
    if (ss.perm)
        for (size_t i = 0; i < sus->ntensors * NHEAD_DIMS; i++)
            free(ss.perm[i]);
    free(ss.sample);
    free(ss.perm);
    free(ss.taken);
    sl_model_free(sus);
    sl_fp_obs_free(obs);
    sl_fp_plan_free(plan);
    if (rcpts)
        sl_wipe(rcpts, nr * sizeof(*rcpts));
    free(rcpts);
    free(users);
    free(scores);
    json_decref(accused);
    json_decref(unread);
    json_decref(matched);
    return rc;
}

/* ---- the commit a licensee's copy is known by ---- */

/* "sluice copy v1\n" + commit + "\n" + recipient, hashed: one id per
 * recipient and version, so that Hugging Face clients, whose caches keep
 * snapshots by commit, never hand one licensee's marked copy to another. */
static void copy_commit(const char *commit, int64_t recipient, char out[65])
{
    char msg[128];
    unsigned char h[32];
    int n = snprintf(msg, sizeof(msg), "sluice copy v1\n%s\n%lld", commit, (long long)recipient);

    sl_sha256(msg, (size_t)n, h);
    sl_hex(h, 32, out);
}

enum sl_err sl_reg_copy_commit(struct sl_registry *r, const struct sl_principal *p,
                               const struct sl_version_ref *v, char out[65], bool *marked,
                               struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_error ignore;
    char hint[8];
    int64_t recipient = 0;
    enum sl_err rc;

    *marked = false;
    snprintf(out, 65, "%s", v->commit);
    if (!db)
        return err->code;
    if (strcmp(v->tier, "gated") != 0 || p->user_id == 0 ||
        sl_reg_may_download(r, p, v, "the model", hint, sizeof(hint), &ignore) != SL_OK)
        return SL_OK;
    rc = marked_for(r, db, p, v, &recipient, err);
    if (rc || recipient == 0)
        return rc;
    copy_commit(v->commit, recipient, out);
    *marked = true;
    return SL_OK;
}

struct copy_match {
    const char *rev;
    int64_t recipient;
    char found[65];
};

static int match_copy(void *ctx, const char *commit)
{
    struct copy_match *w = ctx;
    char c[65];

    copy_commit(commit, w->recipient, c);
    if (strcmp(c, w->rev) != 0)
        return 0;
    snprintf(w->found, sizeof(w->found), "%s", commit);
    return 1;
}

enum sl_err sl_reg_resolve_copy(struct sl_registry *r, const struct sl_principal *p,
                                const char *org, const char *name, const char *rev,
                                struct sl_version_ref *v, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct copy_match w = {rev, 0, ""};
    int64_t org_id = 0, model_id = 0;
    bool found = false;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (p->user_id == 0 || strlen(rev) != 64)
        return sl_error_set(err, SL_ENOTFOUND, "no revision %s", rev);
    rc = sl_reg_model_id(r, org, name, &org_id, &model_id, err);
    if (rc)
        return rc;
    rc = sl_repo_fp_recipient_id(db, model_id, p->user_id, &w.recipient, &found, err);
    if (rc)
        return rc;
    if (w.recipient == 0)
        return sl_error_set(err, SL_ENOTFOUND, "no revision %.64s of %s/%s", rev, org, name);
    rc = sl_repo_fp_model_commits(db, model_id, match_copy, &w, err);
    if (rc)
        return rc;
    if (!w.found[0])
        return sl_error_set(err, SL_ENOTFOUND, "no revision %.64s of %s/%s", rev, org, name);
    return sl_reg_resolve(r, org, name, w.found, v, err);
}
