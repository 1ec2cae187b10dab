/* SPDX-License-Identifier: Apache-2.0 */
/* The shared registry fixture (fixture.h). */
#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "registry/registry.h"
#include "../helpers.h"

void setup(struct fixture *f)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char first[SL_TOKEN_LEN + 1];

    memset(&o, 0, sizeof(o));
    o.create = true;
    f->dir = th_tmpdir();
    cr_assert_eq(sl_registry_open(f->dir, &o, &f->r, first, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_user_add(f->r, "alice", NULL, NULL, NULL, false, f->tok, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_reg_org_add(f->r, "acme", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_member_add(f->r, "acme", "alice", "publisher", &err), SL_OK);
    cr_assert_eq(sl_reg_auth(f->r, f->tok, &f->pub, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_org_id(f->r, "acme", &f->org, &err), SL_OK);
}

void teardown(struct fixture *f)
{
    sl_registry_close(f->r);
    th_rmtree(f->dir);
}

/* Uploads `n` random bytes as one chunk; returns the manifest entry. */
json_t *upload(struct fixture *f, const char *path, size_t n)
{
    unsigned char *data = malloc(n), h[32];
    unsigned char len[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), 0};
    struct sl_buf b = SL_BUF_INIT(1 << 20);
    struct sl_ingest *in;
    struct sl_error err;
    json_t *res = NULL, *entry;
    char hex[65];

    sl_random(data, n);
    sl_sha256(data, n, h);
    sl_hex(h, 32, hex);
    sl_buf_add(&b, h, 32);
    sl_buf_add(&b, len, 4);
    sl_buf_add(&b, data, n);
    cr_assert_eq(sl_ingest_begin(f->r, f->org, b.len, NULL, 0, &in, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_feed(in, b.data, b.len, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_ingest_finish(in, &res, &err), SL_OK, "%s", err.msg);
    json_decref(res);
    entry = json_pack("{s:s, s:I, s:s, s:[s]}", "path", path, "size", (json_int_t)n, "sha256", hex,
                      "chunks", hex);
    sl_buf_release(&b);
    free(data);
    return entry;
}

json_t *small_facts(void)
{
    return json_pack("{s:I, s:{s:f}}", "params", (json_int_t)1000000, "training", "tokens", 1e9);
}

/* Commits one new random file to acme/NAME; `facts` (taken) is left out of
 * the body when NULL; `force` is sent when set. */
json_t *commit(struct fixture *f, const char *name, json_t *facts, bool force, bool *created)
{
    json_t *body = json_pack("{s:[o]}", "files", upload(f, "w.bin", 20000)), *res = NULL;
    struct sl_error err;

    if (facts)
        json_object_set_new(body, "facts", facts);
    if (force)
        json_object_set_new(body, "force", json_true());
    cr_assert_eq(sl_reg_commit(f->r, &f->pub, "acme", name, body, &res, created, &err), SL_OK, "%s",
                 err.msg);
    json_decref(body);
    return res;
}
