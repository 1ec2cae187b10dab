/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client config: `sluice login` writes the file with mode 0600 in a 0700
 * folder; the environment wins over it; a token is only used for the server
 * it was saved for.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "../helpers.h"

static char *home;

static void setup(void)
{
    home = th_tmpdir();
    setenv("XDG_CONFIG_HOME", home, 1);
    unsetenv("SLUICE_URL");
    unsetenv("SLUICE_TOKEN");
    umask(022);
}

static void teardown(void)
{
    th_rmtree(home);
}

#define TOKEN "sl_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test(config, saved_file_is_private, .init = setup, .fini = teardown)
{
    struct sl_error err;
    struct stat st;
    char *path = sl_client_config_path(), *dir = th_path(home, "sluice");

    cr_assert_eq(sl_client_config_save("http://127.0.0.1:8080", TOKEN, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "file mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700, "folder mode %o", st.st_mode & 0777);
    free(path);
    free(dir);
}

Test(config, existing_wide_folder_is_narrowed, .init = setup, .fini = teardown)
{
    struct sl_error err;
    struct stat st;
    char *dir = th_path(home, "sluice");

    mkdir(dir, 0755);
    cr_assert_eq(sl_client_config_save("http://h", TOKEN, &err), SL_OK);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700);
    free(dir);
}

Test(config, load_round_trip, .init = setup, .fini = teardown)
{
    struct sl_client_config c;
    struct sl_error err;

    cr_assert_eq(sl_client_config_save("http://a:1", "tok-a", &err), SL_OK);
    cr_assert_eq(sl_client_config_save("http://b:2", "tok-b", &err), SL_OK);
    cr_assert_eq(sl_client_config_load(&c, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(c.url, "http://b:2", "the last login is the default");
    cr_expect_str_eq(c.token, "tok-b");
    sl_client_config_release(&c);

    setenv("SLUICE_URL", "http://a:1/", 1);
    cr_assert_eq(sl_client_config_load(&c, &err), SL_OK);
    cr_expect_str_eq(c.url, "http://a:1");
    cr_expect_str_eq(c.token, "tok-a", "each server keeps its own token");
    sl_client_config_release(&c);

    setenv("SLUICE_URL", "http://elsewhere", 1);
    cr_assert_eq(sl_client_config_load(&c, &err), SL_OK);
    cr_expect_str_eq(c.url, "http://elsewhere");
    cr_expect_null(c.token, "a saved token never goes to another server");
    sl_client_config_release(&c);

    setenv("SLUICE_TOKEN", "from-env", 1);
    cr_assert_eq(sl_client_config_load(&c, &err), SL_OK);
    cr_expect_str_eq(c.token, "from-env");
    sl_client_config_release(&c);
}

Test(config, nothing_configured, .init = setup, .fini = teardown)
{
    struct sl_client_config c;
    struct sl_error err;

    cr_assert_eq(sl_client_config_load(&c, &err), SL_OK);
    cr_expect_null(c.url);
    cr_expect_null(c.token);
    sl_client_config_release(&c);
}

Test(config, malformed_file_is_an_input_error, .init = setup, .fini = teardown)
{
    struct sl_client_config c;
    struct sl_error err;
    char *dir = th_path(home, "sluice");

    mkdir(dir, 0700);
    th_write(dir, "config.json", "{not json", 9);
    cr_expect_eq(sl_client_config_load(&c, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "config.json") != NULL, "%s", err.msg);
    /* Logging in again replaces it. */
    cr_expect_eq(sl_client_config_save("http://h", TOKEN, &err), SL_OK);
    cr_expect_eq(sl_client_config_load(&c, &err), SL_OK);
    sl_client_config_release(&c);
    free(dir);
}

Test(config, url_normalisation)
{
    struct sl_error err;
    char *u;

    u = sl_client_url_normalize("HTTPS://Registry.example/base///", &err);
    cr_expect_str_eq(u, "https://Registry.example/base");
    free(u);
    u = sl_client_url_normalize("http://127.0.0.1:8080", &err);
    cr_expect_str_eq(u, "http://127.0.0.1:8080");
    free(u);
    cr_expect_null(sl_client_url_normalize("ftp://x", &err));
    cr_expect_null(sl_client_url_normalize("http://", &err));
    cr_expect_null(sl_client_url_normalize("http://user:pw@host", &err));
    cr_expect_null(sl_client_url_normalize("http://host/?q=1", &err));
    cr_expect_null(sl_client_url_normalize("http://ho st", &err));
    cr_expect(sl_client_token_ok(TOKEN));
    cr_expect(!sl_client_token_ok(""));
    cr_expect(!sl_client_token_ok("a b"));
    cr_expect(!sl_client_token_ok("a\r\nX-Evil: 1"));
}
