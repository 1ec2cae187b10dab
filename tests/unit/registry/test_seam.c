/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage seam (issue 13): registry answers read through the typed
 * repository operations of src/db/repo_*.c. Each step of an answer is made to
 * fail in turn (the db test seam): every failure is an error, and an answer
 * that comes back is exactly the answer without the failure, never one
 * missing what the failed read would have added (a satisfied obligation
 * shown as open, a model info without its parameters).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "registry/registry.h"
#include "../helpers.h"

struct fixture {
    char *dir;
    struct sl_registry *r;
    struct sl_principal pub;
    int64_t org;
};

static void setup(struct fixture *f)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1], first[SL_TOKEN_LEN + 1];

    memset(&o, 0, sizeof(o));
    o.create = true;
    f->dir = th_tmpdir();
    cr_assert_eq(sl_registry_open(f->dir, &o, &f->r, first, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_user_add(f->r, "alice", "a@example.org", "lab", "KE", false, tok, &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_add(f->r, "acme", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_member_add(f->r, "acme", "alice", "publisher", &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f->r, tok, &f->pub, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_id(f->r, "acme", &f->org, &err), SL_OK);
}

static void teardown(struct fixture *f)
{
    sl_registry_close(f->r);
    th_rmtree(f->dir);
}

/* Uploads `data` as one chunk and commits it as `path` of acme/`name` with
 * `facts` (taken) and tier `tier` (NULL: the floor). */
static void push_one(struct fixture *f, const char *name, const char *path,
                     const unsigned char *data, size_t n, json_t *facts, const char *tier)
{
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    struct sl_ingest *in;
    struct sl_error err;
    unsigned char h[32],
        l[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), 0};
    char hex[65];
    json_t *res = NULL, *body;
    bool created;

    sl_sha256(data, n, h);
    sl_hex(h, 32, hex);
    sl_buf_add(&b, h, 32);
    sl_buf_add(&b, l, 4);
    sl_buf_add(&b, data, n);
    cr_assert_eq(sl_ingest_begin(f->r, f->org, b.len, NULL, 0, &in, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_feed(in, b.data, b.len, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_finish(in, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    body = json_pack("{s:[{s:s, s:I, s:s, s:[s]}], s:o, s:s?}", "files", "path", path, "size",
                     (json_int_t)n, "sha256", hex, "chunks", hex, "facts", facts, "tier", tier);
    cr_assert_eq(sl_reg_commit(f->r, &f->pub, "acme", name, body, &res, &created, &err), SL_OK,
                 "%s", err.msg);
    json_decref(res);
    json_decref(body);
    sl_buf_release(&b);
}

/* Calls `get` with step k failing for k = 1, 2, ... until a call makes
 * fewer steps than k; each answer must be NULL with the seam's error or
 * equal to `clean`. Returns how many steps were failed. */
static int fail_each_step(json_t *clean, json_t *(*get)(void *ctx, struct sl_error *err), void *ctx)
{
    int failed = 0;

    for (long k = 1; k < 1000; k++) {
        struct sl_error err;
        json_t *got;
        sl_error_clear(&err);
        sl__db_fail_step = k;
        got = get(ctx, &err);
        if (sl__db_fail_step > 0) {
            /* the call made fewer than k steps: all were covered */
            sl__db_fail_step = 0;
            cr_expect(got && json_equal(got, clean), "a call without a failure differs");
            json_decref(got);
            break;
        }
        failed++;
        if (got) {
            char *a = json_dumps(got, JSON_SORT_KEYS), *b = json_dumps(clean, JSON_SORT_KEYS);
            cr_expect(json_equal(got, clean),
                      "step %ld failed, yet an answer came back that differs:\n%s\nnot\n%s", k, a,
                      b);
            free(a);
            free(b);
        } else {
            cr_expect_eq(err.code, SL_EIO, "step %ld: %s", k, err.msg);
        }
        json_decref(got);
    }
    return failed;
}

struct obl_ctx {
    struct fixture *f;
    struct sl_version_ref v;
};

/* The obligations answer's facts as JSON, to compare whole. */
static json_t *get_obligations(void *ctx, struct sl_error *err)
{
    struct obl_ctx *c = ctx;
    struct sl_obligations o;
    json_t *out;

    if (sl_reg_obligations(c->f->r, &c->v, &o, err) != SL_OK)
        return NULL;
    out = json_pack("{s:I, s:s, s:s, s:s, s:s, s:O, s:O}", "version", (json_int_t)o.version,
                    "commit", o.commit, "tier", o.tier, "min_tier", o.min_tier, "floor_tier",
                    o.floor_tier, "held_by", o.held_by, "obligations", o.obligations);
    sl_obligations_release(&o);
    return out;
}

Test(seam, obligations_never_show_a_failed_read_as_open)
{
    struct fixture f;
    struct obl_ctx c;
    struct sl_error err;
    unsigned char data[3000];
    struct sl_gov_state state;
    json_t *clean, *o;
    size_t i;
    bool satisfied = false;

    setup(&f);
    sl_random(data, sizeof(data));
    /* no training facts: the blocking obligation facts.training-compute
     * holds the version at withheld until evidence is given */
    push_one(&f, "held", "blob.dat", data, sizeof(data),
             json_pack("{s:I}", "params", (json_int_t)1000000), NULL);
    c.f = &f;
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "held", "main", &c.v, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_obligation_satisfy(f.r, &f.pub, &c.v, "acme/held", "facts.training-compute",
                                           "trained on 1e9 tokens; see the model card", &state,
                                           &err),
                 SL_OK, "%s", err.msg);
    sl_gov_state_release(&state);
    clean = get_obligations(&c, &err);
    cr_assert(clean, "%s", err.msg);
    json_array_foreach(json_object_get(clean, "obligations"), i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "id")), "facts.training-compute") == 0)
            satisfied = strcmp(json_string_value(json_object_get(o, "status")), "satisfied") == 0;
    }
    cr_assert(satisfied, "the evidence satisfies the obligation");
    cr_expect_gt(fail_each_step(clean, get_obligations, &c), 3);
    json_decref(clean);
    teardown(&f);
}

/* The model info's facts as JSON, to compare whole. */
static json_t *get_hf_info(void *ctx, struct sl_error *err)
{
    struct obl_ctx *c = ctx;
    struct sl_hf_info info;
    json_t *files = json_array(), *out;

    if (sl_reg_hf_info(c->f->r, NULL, &c->v, &info, err) != SL_OK) {
        json_decref(files);
        return NULL;
    }
    for (size_t i = 0; i < info.nfiles; i++)
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "path", info.files[i].path,
                                               "size", (json_int_t)info.files[i].size, "sha256",
                                               info.files[i].sha256));
    out =
        json_pack("{s:s, s:b, s:I, s:I, s:I, s:O?, s:O?, s:o}", "sha", info.sha, "has_created",
                  info.has_created, "created", (json_int_t)info.created, "downloads",
                  (json_int_t)info.downloads, "downloads_all", (json_int_t)info.downloads_all,
                  "safetensors", info.params_by_dtype, "total", info.params_total, "files", files);
    sl_hf_info_release(&info);
    return out;
}

Test(seam, hf_info_never_drops_what_a_failed_read_held)
{
    static const char hdr[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    struct fixture f;
    struct obl_ctx c;
    struct sl_error err;
    unsigned char st[8 + 64 + 8];
    size_t hl = 64;
    json_t *clean;

    /* a safetensors file: 8-byte header length, the header padded with
     * spaces, two float32 values */
    memset(st, 0, sizeof(st));
    for (int i = 0; i < 8; i++)
        st[i] = (unsigned char)(hl >> (8 * i));
    memset(st + 8, ' ', hl);
    memcpy(st + 8, hdr, strlen(hdr));
    setup(&f);
    push_one(&f, "st", "model.safetensors", st, sizeof(st),
             json_pack("{s:I, s:{s:f}}", "params", (json_int_t)2, "training", "tokens", 1e9),
             "open");
    c.f = &f;
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "st", "main", &c.v, &err), SL_OK, "%s", err.msg);
    clean = get_hf_info(&c, &err);
    cr_assert(clean, "%s", err.msg);
    cr_assert(json_is_object(json_object_get(clean, "safetensors")),
              "the inspected parameters are in the model info");
    cr_expect_gt(fail_each_step(clean, get_hf_info, &c), 1);
    json_decref(clean);
    teardown(&f);
}
