/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the JSON bodies the server takes, past the HTTP layer: a commit
 * (files, facts, tier, license), an access request (purpose, fields), the
 * auto-approval rules, a publisher's decision (reason, expires), a license
 * acceptance and an appeal. The first byte picks the endpoint; the rest is
 * the body, loaded as the handlers load it (jansson, duplicate keys refused)
 * and handed to the registry on a real data folder in /dev/shm. Every
 * refusal must carry a message; nothing may crash or leak.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/vfs.h"
#include "registry/registry.h"
#include "tlog/govdoc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_registry *reg;
static struct sl_principal pub, bob;
static int64_t org, model;
static char dir[64];
static struct sl_vfs fast;

static int no_fsync(int fd)
{
    (void)fd;
    return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void cleanup(void)
{
    if (reg)
        sl_registry_close(reg);
    reg = NULL;
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sl_registry_opts o;
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1], tok2[SL_TOKEN_LEN + 1];
    json_t *body, *res = NULL;
    bool created;

    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/sluice-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    fast = sl_vfs_posix;
    fast.fsync = no_fsync;
    sl_vfs_set(&fast);
    memset(&o, 0, sizeof(o));
    o.create = true;
    if (sl_registry_open(dir, &o, &reg, NULL, &err) != SL_OK ||
        sl_reg_user_add(reg, "alice", "a@example.org", "lab", "KE", false, tok, &err) != SL_OK ||
        sl_reg_user_add(reg, "bob", "b@example.org", "uni", "FR", false, tok2, &err) != SL_OK ||
        sl_reg_org_add(reg, "acme", &err) != SL_OK ||
        sl_reg_member_add(reg, "acme", "alice", "publisher", &err) != SL_OK ||
        sl_reg_auth(reg, tok, &pub, &err) != SL_OK || sl_reg_auth(reg, tok2, &bob, &err) != SL_OK)
        abort();
    /* a gated model with one version (an empty README) for the access calls */
    body = json_pack(
        "{s:[{s:s, s:i, s:s, s:[]}], s:{s:I, s:{s:f}}, s:s}", "files", "path", "README.md", "size",
        0, "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "chunks",
        "facts", "params", (json_int_t)1000000, "training", "tokens", 1e9, "tier", "gated");
    if (sl_reg_commit(reg, &pub, "acme", "g", body, &res, &created, &err) != SL_OK) {
        fprintf(stderr, "fuzz_json_body: setup commit: %s\n", err.msg);
        abort();
    }
    json_decref(res);
    json_decref(body);
    if (sl_reg_model_id(reg, "acme", "g", &org, &model, &err) != SL_OK)
        abort();
    atexit(cleanup);
    return 0;
}

/* A string member as the handlers take it: absent, null or a string without
 * NUL; false for anything else (the handler answers 400). */
static bool str_member(json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return false;
    *out = json_string_value(v);
    return true;
}

static void done(enum sl_err rc, json_t *res, const struct sl_error *err)
{
    if (rc != SL_OK && err->msg[0] == '\0')
        abort();
    json_decref(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *body, *res = NULL;
    struct sl_error err;
    struct sl_version_ref v;
    struct sl_arena arena = SL_ARENA_INIT;
    struct sl_reg_request req;
    struct sl_reg_acceptance acc;
    const char *s1, *s2;
    bool created;
    enum sl_err rc;

    if (size == 0)
        return 0;
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!body)
        return 0;
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    sl_error_clear(&err);
    switch (data[0] % 6) {
    case 0: /* POST .../versions */
        rc = sl_reg_commit(reg, &pub, "acme", "f", body, &res, &created, &err);
        done(rc, res, &err);
        break;
    case 1: /* POST .../access */
        if (str_member(body, "purpose", &s1)) {
            rc = sl_reg_access_request(reg, &bob, org, model, "acme/g", s1,
                                       json_object_get(body, "fields"), &arena, &req, &created,
                                       &err);
            done(rc, NULL, &err);
        }
        break;
    case 2: /* PUT .../access-rules */
        rc = sl_reg_access_rules_set(reg, &pub, model, "acme/g", body, &res, &err);
        done(rc, res, &err);
        break;
    case 3: /* POST .../access/bob/{approve,deny,revoke} */
        if (str_member(body, "reason", &s1) && str_member(body, "expires", &s2)) {
            int64_t exp = 0;
            enum sl_access_action a = (enum sl_access_action)(size % 3);
            if (s2 && !sl_gov_parse_time(s2, &exp))
                break;
            rc = sl_reg_access_decide(reg, &pub, org, model, "acme/g", "bob", a, s1, exp, &arena,
                                      &req, &err);
            done(rc, NULL, &err);
        }
        break;
    case 4: /* POST .../accept */
        if (str_member(body, "rev", &s1) && str_member(body, "license_sha256", &s2) &&
            sl_reg_resolve(reg, "acme", "g", s1 ? s1 : "main", &v, &err) == SL_OK) {
            rc = sl_reg_accept(reg, &bob, &v, "acme/g", s2, &acc, &err);
            done(rc, NULL, &err);
        }
        break;
    default: /* POST .../access/me/appeal */
        if (str_member(body, "text", &s1)) {
            rc = sl_reg_access_appeal(reg, &bob, model, "acme/g", s1, &arena, &req, &err);
            done(rc, NULL, &err);
        }
        break;
    }
    json_decref(body);
    sl_arena_release(&arena);
    return 0;
}
