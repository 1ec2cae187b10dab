/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline parts of tiered access on the client: evaluator key files
 * (Go's PRIVATE+KEY form, checked against golang.org/x/mod's own example
 * key), signing attestations, the pinned server keys, and reading and
 * verifying licenses, through the library and through `sluice license`
 * itself: tampered, truncated, expired, revoked and wrongly keyed notes.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "client/client.h"
#include "crypto/crypto.h"
#include "tlog/govdoc.h"
#include "tlog/note.h"
#include "../helpers.h"

/* golang.org/x/mod/sumdb/note example_test.go (tests/vectors/note). */
#define PETER_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_TEXT                                                                                 \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define PETER_NOTE                                                                                 \
    PETER_TEXT "\n\xe2\x80\x94 PeterNeumann "                                                      \
               "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE" \
               "6RyyBwJnAM=\n"

#define COMMIT "5b1e000000000000000000000000000000000000000000000000000000000a1c"
#define URL    "http://127.0.0.1:8080"

static char *tmp;

static void setup(void)
{
    tmp = th_tmpdir();
    setenv("XDG_STATE_HOME", tmp, 1);
    setenv("XDG_CONFIG_HOME", tmp, 1);
    unsetenv("SLUICE_URL");
    unsetenv("SLUICE_TOKEN");
    umask(022);
}

static void teardown(void)
{
    th_rmtree(tmp);
}

/* A server key from a fixed seed, like the one `sluice serve` makes. */
static void server_key(const char *name, unsigned char fill, struct sl_note_key *k)
{
    unsigned char seed[32];
    struct sl_error err;

    memset(seed, fill, sizeof(seed));
    cr_assert_eq(sl_note_key_from_seed(name, seed, k, &err), SL_OK, "%s", err.msg);
}

static void vkey_of(const struct sl_note_key *k, char out[SL_NOTE_VKEY_MAX])
{
    struct sl_error err;

    cr_assert_eq(sl_note_vkey(k, out, SL_NOTE_VKEY_MAX, &err), SL_OK, "%s", err.msg);
}

static struct sl_license sample_license(int64_t expires)
{
    struct sl_license l;

    memset(&l, 0, sizeof(l));
    strcpy(l.id, "9f2c4e1ab07d3355");
    strcpy(l.model, "acme/big");
    strcpy(l.commit, COMMIT);
    strcpy(l.tier, "gated");
    strcpy(l.licensee, "acct:7d0e5f3a9c1b2e44");
    strcpy(l.purpose, "Evaluating multilingual summarisation for a health NGO");
    l.issued = 1795888800; /* 2026-11-28T18:00:00Z */
    l.expires = expires;
    return l;
}

/* The signed license note (caller frees). */
static char *signed_license(const struct sl_note_key *k, int64_t expires, size_t *len)
{
    struct sl_license l = sample_license(expires);
    struct sl_error err;
    char *text = sl_license_text(&l, &err), *note = NULL;

    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_eq(sl_note_sign(text, strlen(text), k, 1, &note, len, &err), SL_OK, "%s", err.msg);
    free(text);
    return note;
}

static char *signed_revocations(const struct sl_note_key *k, const char *id, size_t *len)
{
    struct sl_revocation r[2];
    struct sl_error err;
    char *text, *note = NULL;

    memset(r, 0, sizeof(r));
    strcpy(r[0].id, "0123456789abcdef");
    r[0].revoked = 1795888000;
    if (id) {
        strcpy(r[1].id, id);
        r[1].revoked = 1795888899;
    }
    text = sl_revocations_text(k->name, 1795888900, r, id ? 2 : 1, &err);
    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_eq(sl_note_sign(text, strlen(text), k, 1, &note, len, &err), SL_OK, "%s", err.msg);
    free(text);
    return note;
}

/* ---- evaluator key files ---- */

Test(skey, go_example_key_round_trips)
{
    struct sl_note_key k;
    struct sl_error err;
    char vk[SL_NOTE_VKEY_MAX], *again, *note = NULL;
    size_t len;

    cr_assert_eq(sl_client_skey_parse(PETER_SKEY, strlen(PETER_SKEY), &k, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(k.has_priv);
    cr_expect_eq(k.id, 0xc74f20a3u);
    vkey_of(&k, vk);
    cr_expect_str_eq(vk, PETER_VKEY);
    again = sl_client_skey_format(&k);
    cr_expect_str_eq(again, PETER_SKEY);
    /* Signing Go's example text reproduces Go's signed note byte for byte. */
    cr_assert_eq(sl_note_sign(PETER_TEXT, strlen(PETER_TEXT), &k, 1, &note, &len, &err), SL_OK);
    cr_expect_str_eq(note, PETER_NOTE);
    free(note);
    free(again);
    sl_note_key_clear(&k);
}

Test(skey, newline_allowed_garbage_refused)
{
    static const char *const bad[] = {
        "",
        "PRIVATE+KEY+",
        "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        PETER_VKEY,
        /* key ID off by one digit */
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        /* upper-case hex */
        "PRIVATE+KEY+PeterNeumann+C74F20A3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        /* seed truncated */
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXH",
        /* a second line */
        PETER_SKEY "\nmore\n",
        /* name with a space */
        "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    };
    struct sl_note_key k;
    struct sl_error err;

    cr_expect_eq(sl_client_skey_parse(PETER_SKEY "\n", strlen(PETER_SKEY) + 1, &k, &err), SL_OK);
    sl_note_key_clear(&k);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_error_clear(&err);
        cr_expect_neq(sl_client_skey_parse(bad[i], strlen(bad[i]), &k, &err), SL_OK, "case %zu", i);
        cr_expect(!k.has_priv, "case %zu", i);
        /* The secret never ends up in a message. */
        cr_expect_null(strstr(err.msg, "AYEKFALV"), "case %zu: %s", i, err.msg);
    }
}

Test(skey, other_key_type_unsupported)
{
    /* 0x04 (cosignature) instead of 0x01 */
    unsigned char raw[33];
    char b64[64], line[256];
    struct sl_note_key k;
    struct sl_error err;

    memset(raw, 7, sizeof(raw));
    raw[0] = 0x04;
    sl_base64(raw, sizeof(raw), b64);
    snprintf(line, sizeof(line), "PRIVATE+KEY+w+00000000+%s", b64);
    cr_expect_eq(sl_client_skey_parse(line, strlen(line), &k, &err), SL_EUNSUPPORTED);
}

Test(keygen, writes_private_file_once, .init = setup, .fini = teardown)
{
    char *path = th_path(tmp, "eval.key"), vk[SL_NOTE_VKEY_MAX];
    struct sl_note_key k, loaded, again;
    struct sl_error err;
    struct stat st;
    unsigned char *before, *after;
    size_t n1 = 0, n2 = 0;

    umask(0); /* the file is 0600 whatever the umask */
    cr_assert_eq(sl_client_keygen("alice", path, &k, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    before = th_read(path, &n1);
    cr_expect(n1 > 12 && memcmp(before, "PRIVATE+KEY+alice+", 18) == 0);
    cr_expect_eq(before[n1 - 1], '\n');
    cr_assert_eq(sl_client_key_load(path, &loaded, &err), SL_OK, "%s", err.msg);
    cr_expect(memcmp(loaded.pub, k.pub, 32) == 0);
    cr_expect(memcmp(loaded.priv, k.priv, 32) == 0);
    cr_expect_eq(loaded.id, k.id);
    /* The vkey printed names the key and opens notes it signs. */
    vkey_of(&k, vk);
    cr_expect(strncmp(vk, "alice+", 6) == 0);

    /* Never replaced: the old key stays as it was. */
    cr_expect_eq(sl_client_keygen("alice", path, &again, &err), SL_ECONFLICT);
    cr_expect(strstr(err.msg, "never replaced") != NULL, "%s", err.msg);
    after = th_read(path, &n2);
    cr_expect(n1 == n2 && memcmp(before, after, n1) == 0);
    cr_expect_eq(sl_client_keygen("bad name", "/nonexistent/x", &again, &err), SL_EUSAGE);
    free(before);
    free(after);
    free(path);
    sl_note_key_clear(&k);
    sl_note_key_clear(&loaded);
}

Test(keygen, does_not_follow_symlinks, .init = setup, .fini = teardown)
{
    char *target = th_path(tmp, "target"), *link = th_path(tmp, "link");
    struct sl_note_key k;
    struct sl_error err;
    struct stat st;

    cr_assert_eq(symlink(target, link), 0);
    cr_expect_neq(sl_client_keygen("alice", link, &k, &err), SL_OK);
    cr_expect_neq(stat(target, &st), 0, "nothing was written through the link");
    free(target);
    free(link);
}

/* ---- attestations ---- */

Test(attest, signed_note_opens_and_parses, .init = setup, .fini = teardown)
{
    char *path = th_path(tmp, "e.key"), vk[SL_NOTE_VKEY_MAX], *note = NULL;
    struct sl_note_key k, pub;
    struct sl_attestation a, back;
    struct sl_note opened;
    struct sl_error err;
    size_t len;

    cr_assert_eq(sl_client_keygen("evaluator-1", path, &k, &err), SL_OK, "%s", err.msg);
    memset(&a, 0, sizeof(a));
    strcpy(a.model, "acme/big");
    strcpy(a.commit, COMMIT);
    strcpy(a.domain, "cbrn");
    strcpy(a.level, "high");
    strcpy(a.method, "WMDP-bio + expert red team, 40 h");
    a.date = 1795888800;
    cr_assert_eq(sl_client_attestation_sign(&k, &a, &note, &len, &err), SL_OK, "%s", err.msg);
    cr_expect(strstr(note, "sluice attestation v1\n") == note);

    vkey_of(&k, vk);
    cr_assert_eq(sl_note_vkey_parse(vk, strlen(vk), &pub, &err), SL_OK);
    cr_assert_eq(sl_note_open(note, len, &pub, 1, &opened, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_attestation_parse(opened.text, opened.text_len, &back, &err), SL_OK, "%s",
                 err.msg);
    cr_expect_str_eq(back.model, "acme/big");
    cr_expect_str_eq(back.commit, COMMIT);
    cr_expect_str_eq(back.domain, "cbrn");
    cr_expect_str_eq(back.level, "high");
    cr_expect_str_eq(back.method, a.method);
    cr_expect_eq(back.date, a.date);
    sl_note_free(&opened);

    /* A bad level is refused before anything is signed. */
    strcpy(a.level, "extreme");
    free(note);
    note = NULL;
    cr_expect_neq(sl_client_attestation_sign(&k, &a, &note, &len, &err), SL_OK);
    cr_expect_null(note);
    sl_note_key_clear(&k);
    free(path);
}

Test(attest, cli_sign_checks_commit, .init = setup, .fini = teardown)
{
    char *path = th_path(tmp, "e.key");
    struct sl_note_key k;
    struct sl_error err;
    char a0[] = "eval", a1[] = "sign", a2[] = "--key", a4[] = "--model", a5[] = "acme/big@main",
         a6[] = "--domain", a7[] = "cbrn", a8[] = "--level", a9[] = "high", a10[] = "--method",
         a11[] = "red team";
    char *argv[] = {a0, a1, a2, path, a4, a5, a6, a7, a8, a9, a10, a11, NULL};

    cr_assert_eq(sl_client_keygen("evaluator-1", path, &k, &err), SL_OK);
    cr_redirect_stderr();
    cr_expect_eq(sl_cmd_eval(12, argv), 2, "a ref is not a commit");
    sl_note_key_clear(&k);
    free(path);
}

/* ---- pinned server keys ---- */

Test(pin, first_contact_pins_then_compares, .init = setup, .fini = teardown)
{
    struct sl_note_key a, b, got;
    char va[SL_NOTE_VKEY_MAX], vb[SL_NOTE_VKEY_MAX], *v = NULL, *path;
    struct sl_error err;
    struct stat st;
    bool now = false;

    server_key("sluice", 1, &a);
    server_key("sluice", 2, &b);
    vkey_of(&a, va);
    vkey_of(&b, vb);

    cr_assert_eq(sl_client_pin_get(URL, &v, &err), SL_OK);
    cr_expect_null(v);
    cr_expect_eq(sl_client_pinned_key(URL, &got, &err), SL_ENOTFOUND);

    cr_assert_eq(sl_client_pin_check(URL, va, &now, &err), SL_OK, "%s", err.msg);
    cr_expect(now, "pinned at first contact");
    path = sl_client_pin_path();
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);

    cr_expect_eq(sl_client_pin_check(URL, va, &now, &err), SL_OK);
    cr_expect(!now, "already pinned");
    cr_assert_eq(sl_client_pinned_key(URL, &got, &err), SL_OK, "%s", err.msg);
    cr_expect(memcmp(got.pub, a.pub, 32) == 0);

    /* Another key for the same server: refused, loudly, saying what to do. */
    sl_error_clear(&err);
    cr_expect_eq(sl_client_pin_check(URL, vb, &now, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, "ServerKeyChanged");
    cr_expect(strstr(err.msg, "the server's key changed") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "remove the entry") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, va) != NULL && strstr(err.msg, vb) != NULL, "%s", err.msg);
    /* ...and the pinned key is still the first one. */
    cr_assert_eq(sl_client_pin_get(URL, &v, &err), SL_OK);
    cr_expect_str_eq(v, va);
    free(v);

    /* Each server has its own pin. */
    cr_expect_eq(sl_client_pin_check("https://other.example", vb, &now, &err), SL_OK);
    cr_expect(now);
    cr_assert_eq(sl_client_pin_get(URL, &v, &err), SL_OK);
    cr_expect_str_eq(v, va);
    free(v);
    free(path);
}

Test(pin, malformed_file_is_an_error, .init = setup, .fini = teardown)
{
    char *dir = th_path(tmp, "sluice"), *v = NULL;
    struct sl_error err;

    mkdir(dir, 0700);
    th_write(dir, "servers.json", "{\"servers\": [1, 2]}", 19);
    cr_expect_eq(sl_client_pin_get(URL, &v, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "servers.json") != NULL, "%s", err.msg);
    th_write(dir, "servers.json", "not json", 8);
    cr_expect_eq(sl_client_pin_check(URL, "x+00000000+AA==", NULL, &err), SL_EINPUT);
    free(dir);
}

/* ---- licenses ---- */

Test(license, read_without_key)
{
    struct sl_note_key k;
    struct sl_license_check c;
    struct sl_error err;
    size_t len;
    char *note;

    server_key("sluice", 3, &k);
    note = signed_license(&k, 0, &len);
    cr_assert_eq(sl_client_license_read(note, len, &c, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(c.lic.id, "9f2c4e1ab07d3355");
    cr_expect_str_eq(c.lic.model, "acme/big");
    cr_expect_str_eq(c.lic.commit, COMMIT);
    cr_expect_eq(c.lic.expires, 0);
    cr_expect_str_eq(c.signer, "sluice");
    cr_expect_eq(c.signer_id, k.id);
    cr_expect(!c.signature_ok, "nothing is verified by reading");
    free(note);
}

Test(license, verify_good_and_tampered)
{
    struct sl_note_key k, other, impostor;
    struct sl_license_check c;
    struct sl_error err;
    int64_t now = 1795900000;
    size_t len;
    char *note, *copy;

    server_key("sluice", 3, &k);
    server_key("sluice", 4, &other);
    server_key("sluice", 3, &impostor);
    note = signed_license(&k, 0, &len);

    cr_expect_eq(sl_client_license_verify(note, len, &k, now, NULL, 0, &c, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(c.signature_ok);
    cr_expect(!c.expired);
    cr_expect(!c.revocations_checked);

    /* a byte of the text flipped: the signature fails */
    copy = strdup(note);
    copy[strstr(copy, "purpose ") - copy + 8] ^= 0x01;
    sl_error_clear(&err);
    cr_expect_eq(sl_client_license_verify(copy, len, &k, now, NULL, 0, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, "InvalidSignature");
    cr_expect(!c.signature_ok);
    free(copy);

    /* a byte of the signature changed (still base64) */
    copy = strdup(note);
    {
        char *sig = strstr(copy, "\xe2\x80\x94 sluice ") + strlen("\xe2\x80\x94 sluice ") + 10;
        *sig = *sig == 'A' ? 'B' : 'A';
    }
    cr_expect_eq(sl_client_license_verify(copy, len, &k, now, NULL, 0, &c, &err), SL_EREFUSED);
    free(copy);

    /* truncated: malformed, not merely invalid */
    for (size_t cut = 1; cut < len; cut += len / 7) {
        sl_error_clear(&err);
        enum sl_err rc = sl_client_license_verify(note, len - cut, &k, now, NULL, 0, &c, &err);
        cr_expect(rc == SL_EINPUT || rc == SL_EREFUSED, "cut %zu: %d", cut, rc);
        cr_expect(!c.signature_ok, "cut %zu", cut);
    }
    cr_expect_eq(
        sl_client_license_verify(note, strstr(note, "\n\n") - note + 1, &k, now, NULL, 0, &c, &err),
        SL_EINPUT);

    /* another key with the same name: a wrong key, not a good license */
    sl_error_clear(&err);
    cr_expect_eq(sl_client_license_verify(note, len, &other, now, NULL, 0, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, "InvalidSignature");
    cr_expect(strstr(err.msg, "not by the key") != NULL, "%s", err.msg);
    /* the same seed is the same key */
    cr_expect_eq(sl_client_license_verify(note, len, &impostor, now, NULL, 0, &c, &err), SL_OK);
    free(note);
}

Test(license, expiry_by_the_clock)
{
    struct sl_note_key k;
    struct sl_license_check c;
    struct sl_error err;
    size_t len;
    char *note;

    server_key("sluice", 3, &k);
    note = signed_license(&k, 1800000000, &len);
    cr_expect_eq(sl_client_license_verify(note, len, &k, 1799999999, NULL, 0, &c, &err), SL_OK);
    sl_error_clear(&err);
    cr_expect_eq(sl_client_license_verify(note, len, &k, 1800000000, NULL, 0, &c, &err),
                 SL_EREFUSED);
    cr_expect_str_eq(err.kind, "Expired");
    cr_expect(c.signature_ok && c.expired);
    cr_expect(strstr(err.msg, "expired on 2027-01-15T08:00:00Z") != NULL, "%s", err.msg);
    free(note);
}

Test(license, revocation_list)
{
    struct sl_note_key k, other;
    struct sl_license_check c;
    struct sl_error err;
    size_t len, rlen;
    char *note, *revs;
    int64_t now = 1795900000;

    server_key("sluice", 3, &k);
    server_key("sluice", 4, &other);
    note = signed_license(&k, 0, &len);

    revs = signed_revocations(&k, NULL, &rlen);
    cr_expect_eq(sl_client_license_verify(note, len, &k, now, revs, rlen, &c, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(c.revocations_checked && !c.revoked);
    cr_expect_eq(c.revocations_updated, 1795888900);
    free(revs);

    revs = signed_revocations(&k, "9f2c4e1ab07d3355", &rlen);
    sl_error_clear(&err);
    cr_expect_eq(sl_client_license_verify(note, len, &k, now, revs, rlen, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, "Revoked");
    cr_expect(c.revoked);
    cr_expect_eq(c.revoked_at, 1795888899);
    free(revs);

    /* a list signed by another key says nothing */
    revs = signed_revocations(&other, NULL, &rlen);
    sl_error_clear(&err);
    cr_expect_eq(sl_client_license_verify(note, len, &k, now, revs, rlen, &c, &err), SL_EREFUSED);
    cr_expect_str_eq(err.kind, "BadRevocationList");
    cr_expect(!c.revocations_checked);
    free(revs);
    free(note);
}

Test(license, other_documents_are_not_licenses)
{
    struct sl_note_key k;
    struct sl_license_check c;
    struct sl_error err;
    size_t len;
    char *revs;

    server_key("sluice", 3, &k);
    revs = signed_revocations(&k, NULL, &len);
    cr_expect_eq(sl_client_license_read(revs, len, &c, &err), SL_EINPUT);
    cr_expect_eq(sl_client_license_verify(revs, len, &k, 0, NULL, 0, &c, &err), SL_EINPUT);
    cr_expect_eq(sl_client_license_read("", 0, &c, &err), SL_EINPUT);
    cr_expect_eq(sl_client_license_read("x\n\nnot a sig\n", 13, &c, &err), SL_EINPUT);
    free(revs);
}

/* ---- `sluice license show|verify` ---- */

static char *write_note(const char *name, const char *note, size_t len)
{
    th_write(tmp, name, note, len);
    return th_path(tmp, name);
}

static int run_license(const char *sub, const char *file, const char *opt, const char *val)
{
    char a0[] = "license", a1[16], a2[1024], a3[64], a4[SL_NOTE_VKEY_MAX];
    char *argv[6] = {a0, a1, a2, NULL, NULL, NULL};
    int argc = 3;

    snprintf(a1, sizeof(a1), "%s", sub);
    snprintf(a2, sizeof(a2), "%s", file);
    if (opt) {
        snprintf(a3, sizeof(a3), "%s", opt);
        argv[argc++] = a3;
    }
    if (val) {
        snprintf(a4, sizeof(a4), "%s", val);
        argv[argc++] = a4;
    }
    fflush(stdout);
    return sl_cmd_license(argc, argv);
}

Test(license_cli, verify_exit_codes, .init = setup, .fini = teardown)
{
    struct sl_note_key k, other;
    char vk[SL_NOTE_VKEY_MAX], vo[SL_NOTE_VKEY_MAX], *good, *bad, *cut, *old, *note, *copy;
    char path[1100];
    size_t len;

    server_key("sluice", 3, &k);
    server_key("sluice", 4, &other);
    vkey_of(&k, vk);
    vkey_of(&other, vo);
    note = signed_license(&k, 0, &len);
    good = write_note("good.sluice", note, len);
    copy = strdup(note);
    copy[strstr(copy, "purpose Eval") - copy + 8] = 'e'; /* "evaluating": same syntax */
    bad = write_note("bad.sluice", copy, len);
    copy[strstr(copy, "tier gated") - copy + 5] = 'h'; /* "tier hated": not a license */
    free(write_note("hated.sluice", copy, len));
    cut = write_note("cut.sluice", note, len - 30);
    free(note);
    note = signed_license(&k, 1000000000, &len); /* expired in 2001 */
    old = write_note("old.sluice", note, len);

    cr_redirect_stdout();
    cr_redirect_stderr();
    cr_expect_eq(run_license("verify", good, "--key", vk), 0);
    cr_expect_eq(run_license("verify", bad, "--key", vk), 1);
    cr_expect_eq(run_license("verify", good, "--key", vo), 1);
    cr_expect_eq(run_license("verify", old, "--key", vk), 1);
    cr_expect_eq(run_license("verify", cut, "--key", vk), 2);
    cr_expect_eq(run_license("verify", strcat(strcpy(path, tmp), "/hated.sluice"), "--key", vk), 2);
    cr_expect_eq(run_license("verify", "/nonexistent/file", "--key", vk), 3);
    cr_expect_eq(run_license("verify", good, "--key", "not-a-key"), 2);
    cr_expect_eq(run_license("show", good, NULL, NULL), 0);
    cr_expect_eq(run_license("show", cut, NULL, NULL), 2);

    /* Without --key: the key pinned for the configured server. */
    setenv("SLUICE_URL", URL, 1);
    cr_expect_eq(run_license("verify", good, NULL, NULL), 2, "nothing pinned yet");
    cr_assert_eq(sl_client_pin_check(URL, vk, NULL, NULL), SL_OK);
    cr_expect_eq(run_license("verify", good, NULL, NULL), 0);
    cr_expect_eq(run_license("verify", bad, NULL, NULL), 1);
    free(copy);
    free(note);
    free(good);
    free(bad);
    free(cut);
    free(old);
}

Test(license_cli, show_json_fields, .init = setup, .fini = teardown)
{
    struct sl_note_key k;
    char *note, *path, buf[4096] = "";
    size_t len, n;
    FILE *f;

    server_key("sluice", 3, &k);
    note = signed_license(&k, 1800000000, &len);
    path = write_note("l.sluice", note, len);
    cr_redirect_stdout();
    cr_assert_eq(run_license("show", path, "--json", NULL), 0);
    fflush(stdout);
    f = cr_get_redirected_stdout();
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    cr_expect(strstr(buf, "\"id\": \"9f2c4e1ab07d3355\"") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"expires\": \"2027-01-15T08:00:00Z\"") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"signer\": \"sluice\"") != NULL, "%s", buf);
    free(note);
    free(path);
}
