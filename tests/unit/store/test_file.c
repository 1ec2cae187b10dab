/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The folder blob store and the pack key rule shared by every back end:
 * packs land at PATH/XX/NAME.pack, the staging folder is not listed, other
 * files are listed as not packs, and a folder that cannot be made is
 * reported as an unreachable store.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../helpers.h"
#include "store/store.h"

Test(store_key, only_sluice_pack_keys_are_packs)
{
    char name[SL_PACK_NAME_LEN + 1];

    cr_assert(sl_store_pack_key("ab/ab0123456789abcdef0123456789abcd.pack", name));
    cr_assert_str_eq(name, "ab0123456789abcdef0123456789abcd");
    cr_assert_not(sl_store_pack_key("ab/cd0123456789abcdef0123456789abcd.pack", NULL),
                  "folder must match the name");
    cr_assert_not(sl_store_pack_key("AB/AB0123456789ABCDEF0123456789ABCD.pack", NULL));
    cr_assert_not(sl_store_pack_key("ab/ab0123456789abcdef0123456789abc.pack", NULL));
    cr_assert_not(sl_store_pack_key("ab/ab0123456789abcdef0123456789abcd.pak", NULL));
    cr_assert_not(sl_store_pack_key("ab/ab0123456789abcdef0123456789abcg.pack", NULL));
    cr_assert_not(sl_store_pack_key("x/ab/ab0123456789abcdef0123456789abcd.pack", NULL));
    cr_assert_not(sl_store_pack_key("README.txt", NULL));
    cr_assert_not(sl_store_pack_key("", NULL));
}

struct seen {
    int packs, foreign;
    char pack[SL_PACK_NAME_LEN + 1];
    char key[200];
};

static int count(void *arg, const struct sl_store_obj *o)
{
    struct seen *s = arg;

    if (o->pack) {
        s->packs++;
        snprintf(s->pack, sizeof(s->pack), "%s", o->pack);
    } else {
        s->foreign++;
        snprintf(s->key, sizeof(s->key), "%s", o->key);
    }
    return 0;
}

Test(store_file, put_read_list_stat_remove)
{
    char *data = th_tmpdir(), *dir = th_path(data, "elsewhere"), url[1200];
    char name[SL_PACK_NAME_LEN + 1], path[1300], got[5];
    struct sl_store *s;
    struct sl_pack_writer *w;
    struct sl_error err;
    struct seen seen = {0};
    uint64_t off, size;
    struct stat st;

    snprintf(url, sizeof(url), "file:%s", dir);
    cr_assert_eq(sl_store_open(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_str_eq(s->ops->kind, "file");
    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_append(w, "hello world", 11, &off, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_seal(w, name, &err), SL_OK, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/%.2s/%s.pack", dir, name, name);
    cr_assert_eq(stat(path, &st), 0, "no pack at %s", path);
    cr_assert_eq(sl_store_read(s, 7, name, got, 5, 6, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, "world", 5);
    cr_assert_eq(sl_store_read(s, 7, name, got, 5, 8, &err), SL_EIO);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(size, 11);
    /* a file of another tool, and one staged pack: neither is a pack */
    th_write(dir, "README.txt", "x", 1);
    th_write(s->staging, "0123456789abcdef0123456789abcdef.pack", "x", 1);
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 1);
    cr_assert_str_eq(seen.pack, name);
    cr_assert_eq(seen.foreign, 1);
    cr_assert_str_eq(seen.key, "README.txt");
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_ENOTFOUND);
    sl_store_free(s);
    free(dir);
    th_rmtree(data);
}

Test(store_file, the_default_is_the_data_folders_packs)
{
    char *data = th_tmpdir(), *packs = th_path(data, "packs");
    struct sl_store *s;
    struct sl_error err;

    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_str_eq(s->url + 5, packs);
    sl_store_free(s);
    free(packs);
    th_rmtree(data);
}

Test(store_file, a_folder_that_cannot_be_made_is_unreachable)
{
    char *data = th_tmpdir(), url[1200];
    struct sl_store *s = NULL;
    struct sl_error err;

    th_write(data, "plainfile", "x", 1);
    snprintf(url, sizeof(url), "file:%s/plainfile/packs", data);
    cr_assert_eq(sl_store_open(url, data, NULL, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, url), "%s", err.msg);
    cr_assert_null(s);
    cr_assert_eq(sl_store_open("file:", data, NULL, &s, &err), SL_EUSAGE);
    th_rmtree(data);
}

Test(store_file, the_recorded_store_is_the_default)
{
    char *data = th_tmpdir(), *dir = th_path(data, "kept-here"), url[1200];
    struct sl_store *s;
    struct sl_error err;

    snprintf(url, sizeof(url), "file:%s", dir);
    cr_assert_eq(sl_store_open(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_remember(s, data, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_str_eq(s->url, url);
    sl_store_free(s);
    free(dir);
    th_rmtree(data);
}
