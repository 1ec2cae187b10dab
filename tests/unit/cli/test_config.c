/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli/config.c: the configuration file of serve and admin (`--config FILE`):
 * the line format, the key table, the checks of values and the argv the
 * file's options are put into.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static enum sl_err parse(const char *text, struct sl_cli_conf_entry **e, size_t *n, bool *pw,
                         struct sl_error *err)
{
    sl_error_clear(err);
    return sl_cli_conf_parse("hub.conf", text, strlen(text), e, n, pw, err);
}

Test(config, reads_keys_values_comments_blank_lines_and_crlf)
{
    struct sl_cli_conf_entry *e;
    size_t n;
    bool pw = true;
    struct sl_error err;
    const char *t = "# the hub\n"
                    "\n"
                    "  db   =  postgresql://sluice@db.example.org/hub  \r\n"
                    "store=s3://bucket/packs\n"
                    "\t# indented comment\n"
                    "listen = 0.0.0.0:8080\n"
                    "threads = 8\n"
                    "origin = hub.example.org/log # not a comment: values run to the end";

    cr_assert_eq(parse(t, &e, &n, &pw, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(n, 5);
    cr_expect_str_eq(e[0].key, "db");
    cr_expect_str_eq(e[0].value, "postgresql://sluice@db.example.org/hub");
    cr_expect_eq(e[0].line, 3);
    cr_expect(e[0].admin);
    cr_expect_str_eq(e[1].value, "s3://bucket/packs");
    cr_expect_str_eq(e[2].key, "listen");
    cr_expect(!e[2].admin, "listen is a server setting only");
    cr_expect_eq(e[2].line, 6);
    cr_expect_str_eq(e[4].value, "hub.example.org/log # not a comment: values run to the end");
    cr_expect(!pw);
    sl_cli_conf_entries_free(e, n);
}

Test(config, password_in_db_url_is_noticed)
{
    struct sl_cli_conf_entry *e;
    size_t n;
    bool pw = false;
    struct sl_error err;

    cr_assert_eq(parse("db = postgresql://sluice:s3cret@db/hub\n", &e, &n, &pw, &err), SL_OK);
    cr_expect(pw);
    sl_cli_conf_entries_free(e, n);
    cr_assert_eq(parse("db = postgresql://db/hub?password=s3cret\n", &e, &n, &pw, &err), SL_OK);
    cr_expect(pw);
    sl_cli_conf_entries_free(e, n);
}

static void expect_error(const char *text, const char *want)
{
    struct sl_cli_conf_entry *e = (void *)1;
    size_t n = 7;
    bool pw;
    struct sl_error err;

    cr_expect_eq(parse(text, &e, &n, &pw, &err), SL_EUSAGE, "accepted: %s", text);
    cr_expect(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    cr_expect_eq(e, NULL);
    cr_expect_eq(n, 0);
}

Test(config, refuses_what_a_careless_or_hostile_file_holds)
{
    expect_error("db = sqlite:/x\ndatabase = sqlite:/y\n", "hub.conf:2: unknown key \"database\"");
    expect_error("# c\nstore = s3://a/b\nstore = file:/x\n",
                 "hub.conf:3: duplicate key \"store\" (first set on line 2)");
    expect_error("listen 127.0.0.1:80\n", "hub.conf:1: expected \"key = value\"");
    expect_error("= x\n", "hub.conf:1: a key is missing");
    expect_error("--db = sqlite:/x\n", "hub.conf:1:");
    expect_error("DB = sqlite:/x\n", "is not a key");
    expect_error("db =   \n", "hub.conf:1: db: empty value");
    expect_error("threads = many\n", "hub.conf:1: threads: wants a number from 0 to 3600");
    expect_error("threads = -1\n", "threads: wants a number");
    expect_error("threads = 99999999999999999999999\n", "threads: wants a number");
    expect_error("max-conns-per-ip = 0\n", "max-conns-per-ip: wants a number from 1 to 100000");
    expect_error("drain = 3601\n", "drain: wants a number");
    expect_error("store = /var/packs\n", "hub.conf:1: store: \"/var/packs\" is not a store URL");
    expect_error("store = file:\n", "store:");
    expect_error("listen = localhost:http\n", "hub.conf:1: listen:");
    expect_error("public-url = hub.example.org\n", "public-url: \"hub.example.org\" is not an");
    expect_error("mirror-of = ftp://x\n", "mirror-of:");
    expect_error("data = /x\n\x1b[2Jdb = sqlite:/y\n", "hub.conf:2: control character 0x1b");
}

Test(config, a_bad_db_url_is_quoted_without_its_password)
{
    struct sl_cli_conf_entry *e;
    size_t n;
    bool pw;
    struct sl_error err;

    cr_assert_eq(parse("db = mysql://root:hunter2@db/hub\n", &e, &n, &pw, &err), SL_EUSAGE);
    cr_expect(strstr(err.msg, "hub.conf:1: db:") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "hunter2") == NULL, "%s", err.msg);
}

Test(config, a_nul_byte_is_refused)
{
    struct sl_cli_conf_entry *e;
    size_t n;
    bool pw;
    struct sl_error err;

    sl_error_clear(&err);
    cr_expect_eq(sl_cli_conf_parse("hub.conf", "keys = /a\0b\n", 12, &e, &n, &pw, &err), SL_EUSAGE);
    cr_expect(strstr(err.msg, "hub.conf:1: control character 0x00") != NULL, "%s", err.msg);
}

Test(config, over_the_size_limit_is_refused)
{
    size_t len = SL_CLI_CONF_MAX + 1;
    char *big = malloc(len);
    struct sl_cli_conf_entry *e;
    size_t n;
    bool pw;
    struct sl_error err;

    memset(big, '#', len);
    sl_error_clear(&err);
    cr_expect_eq(sl_cli_conf_parse("hub.conf", big, len, &e, &n, &pw, &err), SL_EUSAGE);
    free(big);
}

Test(config, file_options_go_before_the_command_line_and_admin_keeps_its_keys)
{
    char path[] = "/tmp/sluice-conf-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "data = /srv/hub\nlisten = 0.0.0.0:9\nkeys = /etc/keys\n";
    char a0[] = "admin", a1[] = "gc", a2[] = "--config", a4[] = "--keys=/other";
    char *argv[] = {a0, a1, a2, path, a4, NULL};
    struct sl_cli_conf c;

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(sl_cli_conf_expand(&c, "admin", false, 5, argv), 0);
    cr_assert_eq(c.argc, 5);
    cr_expect_str_eq(c.argv[0], "admin");
    cr_expect_str_eq(c.argv[1], "--data=/srv/hub");
    cr_expect_str_eq(c.argv[2], "--keys=/etc/keys");
    cr_expect_str_eq(c.argv[3], "gc");
    cr_expect_str_eq(c.argv[4], "--keys=/other", "the command line comes last, so it wins");
    cr_expect_eq(c.argv[5], NULL);
    sl_cli_conf_release(&c);

    cr_assert_eq(sl_cli_conf_expand(&c, "serve", true, 5, argv), 0);
    cr_expect_eq(c.argc, 6);
    cr_expect_str_eq(c.argv[2], "--listen=0.0.0.0:9");
    sl_cli_conf_release(&c);
    unlink(path);
}

Test(config, config_given_twice_or_empty_is_usage)
{
    char a0[] = "serve", a1[] = "--config=x", a2[] = "--config", a3[] = "y", a4[] = "--config=";
    char *twice[] = {a0, a1, a2, a3, NULL};
    char *empty[] = {a0, a4, NULL};
    char *missing[] = {a0, a2, NULL};
    struct sl_cli_conf c;

    cr_expect_eq(sl_cli_conf_expand(&c, "serve", true, 4, twice), 2);
    sl_cli_conf_release(&c);
    cr_expect_eq(sl_cli_conf_expand(&c, "serve", true, 2, empty), 2);
    sl_cli_conf_release(&c);
    cr_expect_eq(sl_cli_conf_expand(&c, "serve", true, 2, missing), 2);
    sl_cli_conf_release(&c);
}

Test(config, without_config_argv_is_unchanged)
{
    char a0[] = "serve", a1[] = "--", a2[] = "--config";
    char *argv[] = {a0, a1, a2, NULL};
    struct sl_cli_conf c;

    cr_assert_eq(sl_cli_conf_expand(&c, "serve", true, 3, argv), 0);
    cr_expect_eq(c.argv, argv, "--config after -- is not an option");
    sl_cli_conf_release(&c);
}
