/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded web UI (src/web/assets.c, cmake/embed_web.cmake): every file
 * of web/ is in the binary byte for byte with its SHA-256 (a file that refers
 * to others with each reference's version added), the shell and the scripts
 * name each asset with its version, and the header decisions (type, gzip,
 * If-None-Match, ?v=) take what clients really send.
 */
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/web.h"

#define WEB_DIR SL_DATA_DIR "/../../web/"

static unsigned char *slurp(const char *name, size_t *n)
{
    char path[512];
    FILE *f;
    unsigned char *buf;
    long len;

    snprintf(path, sizeof(path), "%s%s", WEB_DIR, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void sha_hex(const unsigned char *p, size_t n, char out[65])
{
    unsigned char d[32];

    SHA256(p, n, d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

Test(web, every_file_is_embedded_as_it_is_with_its_digest)
{
    /* the files that refer to no other asset */
    const char *names[] = {"app.css", "favicon.svg", "md.js", "verify.js", "manage.js"};
    char hex[65];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        unsigned char *disk = slurp(names[i], &n);
        const struct sl_web_file *f = sl_web_find(names[i]);
        cr_assert_not_null(f, "%s", names[i]);
        cr_assert_eq(f->len, n, "%s", names[i]);
        cr_assert(memcmp(f->data, disk, n) == 0, "%s differs from web/", names[i]);
        sha_hex(f->data, f->len, hex);
        cr_assert_str_eq(f->sha256, hex, "%s", names[i]);
        cr_assert(f->gz == NULL || f->gzlen < f->len, "%s: a gzip copy only when smaller",
                  names[i]);
        free(disk);
    }
}

Test(web, the_shell_names_each_asset_with_its_version)
{
    const struct sl_web_file *shell = sl_web_find("index.html"), *js = sl_web_find("app.js"),
                             *css = sl_web_find("app.css");
    char want[64], hex[65];

    cr_assert_not_null(shell);
    cr_assert_eq(shell->data[shell->len], 0);
    snprintf(want, sizeof(want), "\"/ui/app.js?v=%.8s\"", js->sha256);
    cr_assert_not_null(strstr((const char *)shell->data, want), "%s", want);
    snprintf(want, sizeof(want), "\"/ui/app.css?v=%.8s\"", css->sha256);
    cr_assert_not_null(strstr((const char *)shell->data, want), "%s", want);
    cr_assert_null(strstr((const char *)shell->data, "\"/ui/app.js\""));
    /* the shell's digest is of the bytes served, after the rewrite */
    sha_hex(shell->data, shell->len, hex);
    cr_assert_str_eq(shell->sha256, hex);
}

Test(web, the_modules_app_js_imports_carry_their_versions)
{
    const char *mods[] = {"md.js", "verify.js", "manage.js"};
    const struct sl_web_file *js = sl_web_find("app.js");
    unsigned char *disk, *back;
    size_t n, m = 0;
    char want[64], hex[65];

    cr_assert_not_null(js);
    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        const struct sl_web_file *f = sl_web_find(mods[i]);
        cr_assert_not_null(f, "%s", mods[i]);
        snprintf(want, sizeof(want), "\"/ui/%s?v=%.8s\"", mods[i], f->sha256);
        cr_assert_not_null(strstr((const char *)js->data, want), "%s", want);
        snprintf(want, sizeof(want), "\"/ui/%s\"", mods[i]);
        cr_assert_null(strstr((const char *)js->data, want), "%s", want);
    }
    /* app.js's digest, and so its version in the shell, is of the bytes served */
    sha_hex(js->data, js->len, hex);
    cr_assert_str_eq(js->sha256, hex);
    /* with the versions taken out again it is web/app.js byte for byte */
    disk = slurp("app.js", &n);
    back = malloc(js->len + 1);
    cr_assert_not_null(back);
    for (size_t i = 0; i < js->len; i++) {
        if (js->data[i] == '?' && i + 11 < js->len && memcmp(js->data + i, "?v=", 3) == 0 &&
            js->data[i + 11] == '"') {
            i += 10;
            continue;
        }
        back[m++] = js->data[i];
    }
    cr_assert_eq(m, n);
    cr_assert(memcmp(back, disk, n) == 0, "app.js differs from web/ beyond the versions");
    free(back);
    free(disk);
}

Test(web, lookup_takes_exact_names_only)
{
    cr_assert_not_null(sl_web_find("app.js"));
    cr_assert_null(sl_web_find(""));
    cr_assert_null(sl_web_find(NULL));
    cr_assert_null(sl_web_find("./app.js"));
    cr_assert_null(sl_web_find("APP.JS"));
    cr_assert_null(sl_web_find("app.js/"));
    cr_assert_null(sl_web_find("../web/app.js"));
    cr_assert_null(sl_web_find("app"));
}

Test(web, content_types_by_extension)
{
    cr_assert_str_eq(sl_web_content_type("app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(sl_web_content_type("app.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(sl_web_content_type("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(sl_web_content_type("favicon.svg"), "image/svg+xml");
    cr_assert_str_eq(sl_web_content_type("x.PNG"), "image/png");
    cr_assert_str_eq(sl_web_content_type("noext"), "application/octet-stream");
    cr_assert_str_eq(sl_web_content_type("a.js/b"), "application/octet-stream");
    cr_assert_str_eq(sl_web_content_type("x.exe"), "application/octet-stream");
}

Test(web, gzip_negotiation)
{
    cr_assert(sl_web_accepts_gzip("gzip"));
    cr_assert(sl_web_accepts_gzip("gzip, deflate, br"));
    cr_assert(sl_web_accepts_gzip("deflate,GZIP;q=0.5"));
    cr_assert(sl_web_accepts_gzip("x-gzip"));
    cr_assert(sl_web_accepts_gzip("*"));
    cr_assert(sl_web_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    cr_assert(sl_web_accepts_gzip("gzip ; q=1"));
    cr_assert_not(sl_web_accepts_gzip(NULL));
    cr_assert_not(sl_web_accepts_gzip(""));
    cr_assert_not(sl_web_accepts_gzip("identity"));
    cr_assert_not(sl_web_accepts_gzip("br, deflate"));
    cr_assert_not(sl_web_accepts_gzip("gzip;q=0"));
    cr_assert_not(sl_web_accepts_gzip("gzip;q=0.000"));
    cr_assert_not(sl_web_accepts_gzip("gzip;q=0, *")); /* named beats the wildcard */
    cr_assert_not(sl_web_accepts_gzip("*;q=0"));
    cr_assert_not(sl_web_accepts_gzip("gzipx, xgzip")); /* whole tokens only */
    cr_assert_not(sl_web_accepts_gzip("gzip;q=x"));     /* a malformed weight */
    cr_assert_not(sl_web_accepts_gzip(",,,;;;"));
}

Test(web, if_none_match)
{
    cr_assert(sl_web_etag_match("\"abc\"", "abc"));
    cr_assert(sl_web_etag_match("W/\"abc\"", "abc"));
    cr_assert(sl_web_etag_match("\"x\", \"abc\"", "abc"));
    cr_assert(sl_web_etag_match("*", "abc"));
    cr_assert_not(sl_web_etag_match(NULL, "abc"));
    cr_assert_not(sl_web_etag_match("", "abc"));
    cr_assert_not(sl_web_etag_match("\"abcd\"", "abc"));
    cr_assert_not(sl_web_etag_match("\"ab\"", "abc"));
    cr_assert_not(sl_web_etag_match("abc", "abc")); /* not a quoted tag */
    cr_assert_not(sl_web_etag_match("\"abc", "abc"));
    cr_assert_not(sl_web_etag_match("\"abc-gzip\"", "abc"));
}

Test(web, versions)
{
    const struct sl_web_file *js = sl_web_find("app.js");
    char v[16];

    snprintf(v, sizeof(v), "%.8s", js->sha256);
    cr_assert(sl_web_version_current(js, v));
    cr_assert_not(sl_web_version_current(js, NULL));
    cr_assert_not(sl_web_version_current(js, ""));
    cr_assert_not(sl_web_version_current(js, "00000000"));
    cr_assert_not(sl_web_version_current(js, js->sha256)); /* 8 digits, not more */
}
