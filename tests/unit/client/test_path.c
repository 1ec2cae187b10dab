/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path rules: manifest paths that could leave the destination are refused,
 * and a symbolic link planted in the destination is never written through.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/buf.h"
#include "../helpers.h"

Test(path, manifest_paths)
{
    char longp[1100];

    cr_expect(sl__cl_path_ok("model.safetensors"));
    cr_expect(sl__cl_path_ok("a/b/c.json"));
    cr_expect(sl__cl_path_ok("..a/b..")); /* dots inside names are fine */
    cr_expect(sl__cl_path_ok("caf\xc3\xa9.txt"));
    cr_expect(!sl__cl_path_ok(""));
    cr_expect(!sl__cl_path_ok("/etc/passwd"));
    cr_expect(!sl__cl_path_ok(".."));
    cr_expect(!sl__cl_path_ok("../x"));
    cr_expect(!sl__cl_path_ok("a/../../x"));
    cr_expect(!sl__cl_path_ok("a/.."));
    cr_expect(!sl__cl_path_ok("./x"));
    cr_expect(!sl__cl_path_ok("a/./x"));
    cr_expect(!sl__cl_path_ok("a//b"));
    cr_expect(!sl__cl_path_ok("a/"));
    cr_expect(!sl__cl_path_ok("a\\..\\x"));
    cr_expect(!sl__cl_path_ok("a\nb"));
    cr_expect(!sl__cl_path_ok("a\x7f"));
    cr_expect(!sl__cl_path_ok("bad\xff utf8"));
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    cr_expect(!sl__cl_path_ok(longp));
    longp[1024] = '\0';
    cr_expect(sl__cl_path_ok(longp));
}

Test(path, names)
{
    cr_expect(sl__cl_name_ok("acme"));
    cr_expect(sl__cl_name_ok("Llama-3.1_8B"));
    cr_expect(!sl__cl_name_ok(""));
    cr_expect(!sl__cl_name_ok("."));
    cr_expect(!sl__cl_name_ok(".."));
    cr_expect(!sl__cl_name_ok("-x"));
    cr_expect(!sl__cl_name_ok("a/b"));
    cr_expect(!sl__cl_name_ok("a b"));
}

Test(path, model_spec)
{
    char *org, *name, *rev;
    struct sl_error err;

    cr_assert_eq(sl_client_parse_model("acme/llama@v3", &org, &name, &rev, &err), SL_OK);
    cr_expect_str_eq(org, "acme");
    cr_expect_str_eq(name, "llama");
    cr_expect_str_eq(rev, "v3");
    free(org);
    free(name);
    free(rev);
    cr_assert_eq(sl_client_parse_model("acme/llama", &org, &name, &rev, &err), SL_OK);
    cr_expect_str_eq(rev, "main");
    free(org);
    free(name);
    free(rev);
    cr_expect_eq(sl_client_parse_model("acme", &org, &name, &rev, &err), SL_EUSAGE);
    cr_expect_eq(sl_client_parse_model("a/b/c", &org, &name, &rev, &err), SL_EUSAGE);
    cr_expect_eq(sl_client_parse_model("../x", &org, &name, &rev, &err), SL_EUSAGE);
    cr_expect_eq(sl_client_parse_model("a/b@", &org, &name, &rev, &err), SL_EUSAGE);
    cr_expect_eq(sl_client_parse_model("a/b@v1", &org, &name, NULL, &err), SL_EUSAGE);
}

Test(path, open_parent_creates_folders)
{
    char *dir = th_tmpdir(), *p;
    const char *base;
    int root = open(dir, O_RDONLY | O_DIRECTORY), fd;
    struct sl_error err;
    struct stat st;

    cr_assert_eq(sl__cl_open_parent(root, "a/b/c.bin", &base, &fd, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(base, "c.bin");
    close(fd);
    p = th_path(dir, "a/b");
    cr_expect(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    free(p);
    cr_assert_eq(sl__cl_open_parent(root, "top.bin", &base, &fd, &err), SL_OK);
    cr_expect_str_eq(base, "top.bin");
    close(fd);
    cr_expect_eq(sl__cl_open_parent(root, "../escape", &base, &fd, &err), SL_EINPUT);
    close(root);
    th_rmtree(dir);
}

Test(path, planted_symlink_is_not_followed)
{
    char *dir = th_tmpdir(), *elsewhere = th_tmpdir(), *link;
    const char *base;
    int root = open(dir, O_RDONLY | O_DIRECTORY), fd = -1;
    struct sl_error err;

    link = th_path(dir, "sub");
    cr_assert_eq(symlink(elsewhere, link), 0);
    cr_expect_eq(sl__cl_open_parent(root, "sub/w.bin", &base, &fd, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "symbolic link") != NULL, "%s", err.msg);
    close(root);
    free(link);
    th_rmtree(elsewhere);
    th_rmtree(dir);
}

Test(path, url_escape)
{
    struct sl_buf b = SL_BUF_INIT(1024);

    cr_assert_eq(sl__cl_url_escape(&b, "dir/a b%#?.bin", true), SL_OK);
    cr_expect_str_eq(sl_buf_cstr(&b), "dir/a%20b%25%23%3F.bin");
    sl_buf_reset(&b);
    cr_assert_eq(sl__cl_url_escape(&b, "v1/x", false), SL_OK);
    cr_expect_str_eq(sl_buf_cstr(&b), "v1%2Fx");
    sl_buf_release(&b);
}
