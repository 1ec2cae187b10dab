/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Issue 12 in-process: a commit without facts inherits the newest version's,
 * `main` never moves to a stricter tier without force, a refusal can name
 * the newest version the caller may download, download counts, the Hugging
 * Face model listing (search, author, sort, pages) and `hf_` token aliases.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "crypto/crypto.h"
#include "registry/registry.h"
#include "../helpers.h"

#include "fixture.h"

static int64_t main_seq(struct fixture *f, const char *name)
{
    struct sl_version_ref v;
    struct sl_error err;

    cr_assert_eq(sl_reg_resolve(f->r, "acme", name, "main", &v, &err), SL_OK, "%s", err.msg);
    return v.seq;
}

Test(hub, facts_carry_over_and_main_never_gets_stricter)
{
    struct fixture f;
    struct sl_error err;
    struct sl_principal anon;
    struct sl_version_ref v;
    json_t *res, *body;
    bool created;
    int64_t seq;
    char c[65];

    setup(&f);
    memset(&anon, 0, sizeof(anon));
    res = commit(&f, "m", small_facts(), false, &created);
    cr_expect_str_eq(json_string_value(json_object_get(res, "tier")), "open");
    cr_expect(json_is_true(json_object_get(res, "on_main")));
    cr_expect_null(json_object_get(json_object_get(res, "decision"), "facts_inherited_from"));
    json_decref(res);

    /* no facts: v1's carry over, the tier stays open and main moves */
    res = commit(&f, "m", NULL, false, &created);
    cr_expect_eq(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(res, "decision"), "facts_inherited_from"), "version")),
        1);
    cr_expect_str_eq(json_string_value(json_object_get(res, "facts_note")),
                     "facts inherited from v1");
    cr_expect_str_eq(json_string_value(json_object_get(res, "tier")), "open");
    cr_expect_eq(main_seq(&f, "m"), 2);
    json_decref(res);

    /* {} declares none: withheld, stored, main stays at v2 */
    res = commit(&f, "m", json_object(), false, &created);
    cr_expect_str_eq(json_string_value(json_object_get(res, "tier")), "withheld");
    cr_expect(json_is_false(json_object_get(res, "on_main")));
    cr_expect_eq(json_integer_value(json_object_get(res, "main_version")), 2);
    cr_expect(strstr(json_string_value(json_object_get(res, "main_note")), "--force") != NULL);
    cr_expect_eq(main_seq(&f, "m"), 2);
    json_decref(res);
    /* the newest version anonymous callers may download is v2 */
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m", "v3", &v, &err), SL_OK);
    cr_assert_eq(sl_reg_last_servable(f.r, &anon, &v, &seq, c, &err), SL_OK);
    cr_expect_eq(seq, 2);
    /* a member may download v3 itself, so for them the newest other is v2 */
    cr_assert_eq(sl_reg_last_servable(f.r, &f.pub, &v, &seq, c, &err), SL_OK);
    cr_expect_eq(seq, 2);

    /* "force" must be a boolean */
    body = json_pack("{s:[], s:s}", "files", "force", "yes");
    cr_expect_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "force") != NULL, "%s", err.msg);
    json_decref(body);
    teardown(&f);
}

Test(hub, force_moves_main_also_to_a_stored_version)
{
    struct fixture f;
    json_t *res, *again;
    bool created;
    struct sl_error err;
    const char *commit_hex;
    json_t *body;

    setup(&f);
    json_decref(commit(&f, "m", small_facts(), false, &created));
    body = json_pack("{s:[o], s:o}", "files", upload(&f, "w.bin", 30000), "facts", json_object());
    cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &res, &created, &err), SL_OK);
    cr_expect(created);
    cr_expect(json_is_false(json_object_get(res, "on_main")));
    commit_hex = json_string_value(json_object_get(res, "commit"));
    /* the same manifest again, forced: not stored twice, main moves to it */
    json_object_set_new(body, "force", json_true());
    cr_assert_eq(sl_reg_commit(f.r, &f.pub, "acme", "m", body, &again, &created, &err), SL_OK);
    cr_expect(!created);
    cr_expect_str_eq(json_string_value(json_object_get(again, "commit")), commit_hex);
    cr_expect(json_is_true(json_object_get(again, "on_main")));
    cr_expect_eq(main_seq(&f, "m"), 2);
    json_decref(again);
    json_decref(res);
    json_decref(body);
    teardown(&f);
}

Test(hub, downloads_and_listing)
{
    struct fixture f;
    struct sl_error err;
    struct sl_version_ref v;
    struct sl_hf_list_query q;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_repo_model_item *page;
    size_t n;
    bool created, more;
    int64_t recent, all;

    setup(&f);
    json_decref(commit(&f, "m1", small_facts(), false, &created));
    json_decref(commit(&f, "Other-m2", small_facts(), false, &created));
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m1", "main", &v, &err), SL_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sl_reg_count_download(f.r, v.version_id, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_reg_downloads(f.r, v.model_id, 0, &recent, &all, &err), SL_OK);
    cr_expect_eq(recent, 3);
    cr_expect_eq(all, 3);
    cr_assert_eq(sl_reg_downloads(f.r, v.model_id, v.version_id, &recent, &all, &err), SL_OK);
    cr_expect_eq(all, 3);

    memset(&q, 0, sizeof(q));
    q.sort = "downloads";
    q.limit = 1;
    cr_assert_eq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(n, 1);
    cr_expect_str_eq(page[0].id, "acme/m1");
    cr_expect_str_eq(page[0].org, "acme");
    cr_expect_eq(page[0].dl_recent, 3);
    cr_expect_eq(page[0].dl_all, 3);
    cr_expect(more);
    q.offset = 1;
    cr_assert_eq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 1);
    cr_expect_str_eq(page[0].id, "acme/Other-m2");
    cr_expect(!more);

    memset(&q, 0, sizeof(q));
    q.limit = 10;
    q.search = "oTHER";
    cr_assert_eq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 1);
    q.search = "%";
    cr_assert_eq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 0, "search is a substring, not a LIKE pattern");
    cr_expect_null(page);
    q.search = NULL;
    q.author = "ACME";
    cr_assert_eq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 2);
    /* a failed step is an error, not a shorter page */
    sl__db_fail_step = 2;
    cr_expect_neq(sl_reg_hf_list(f.r, &f.pub, &q, &a, &page, &n, &more, &err), SL_OK);
    cr_expect(n == 0 && page == NULL && !more);
    sl__db_fail_step = 0;
    sl_arena_release(&a);

    cr_expect(sl_reg_hf_sort_ok("lastModified"));
    cr_expect(!sl_reg_hf_sort_ok("popularity"));
    cr_expect(!sl_reg_hf_sort_ok(""));
    cr_expect(sl_reg_is_query_file("config.json"));
    cr_expect(sl_reg_is_query_file("q/model-Q8_0.gguf"));
    cr_expect(!sl_reg_is_query_file("sub/config.json"));
    cr_expect(!sl_reg_is_query_file(".gguf"));
    cr_expect(!sl_reg_is_query_file("model.safetensors"));
    teardown(&f);
}

Test(hub, hf_prefixed_token_is_the_same_token)
{
    struct fixture f;
    struct sl_error err;
    struct sl_principal p;
    char alias[SL_TOKEN_LEN + 2];

    setup(&f);
    snprintf(alias, sizeof(alias), "hf_%s", f.tok + 3);
    cr_assert_eq(sl_reg_auth(f.r, alias, &p, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(p.user_id, f.pub.user_id);
    cr_expect_eq(p.scopes, f.pub.scopes);
    alias[10] = alias[10] == 'a' ? 'b' : 'a';
    cr_expect_eq(sl_reg_auth(f.r, alias, &p, &err), SL_EAUTH);
    snprintf(alias, sizeof(alias), "hf_%s0", f.tok + 3);
    cr_expect_eq(sl_reg_auth(f.r, alias, &p, &err), SL_EAUTH);
    snprintf(alias, sizeof(alias), "HF_%s", f.tok + 3);
    cr_expect_eq(sl_reg_auth(f.r, alias, &p, &err), SL_EAUTH);
    teardown(&f);
}
