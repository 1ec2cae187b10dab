/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlog/note: C2SP signed notes, checkpoints and tlog-proofs against the upstream
 * vectors in tests/vectors/note (Go's sumdb/note, the C2SP examples, a real
 * sum.golang.org checkpoint, derived checkpoints and a cosigned tlog-proof), then
 * malformed and hostile input.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "tlog/note.h"

#include "../helpers.h"

#define VEC SL_VECTORS_DIR "/note/"

static json_t *load_json(const char *name)
{
    char path[512];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof(path), VEC "%s", name);
    j = json_load_file(path, 0, &je);
    cr_assert(j, "%s: %s", path, je.text);
    return j;
}

static char *load_bytes(const char *name, size_t *len)
{
    char path[512];
    unsigned char *b;

    snprintf(path, sizeof(path), VEC "%s", name);
    b = th_read(path, len);
    cr_assert(b, "cannot read %s", path);
    b[*len] = '\0'; /* th_read() leaves room for it but does not write it */
    return (char *)b;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    cr_assert(s, "missing string \"%s\"", key);
    return s;
}

static struct sl_note_key vkey(const char *text)
{
    struct sl_note_key k;
    struct sl_error err;

    cr_assert_eq(sl_note_vkey_parse(text, strlen(text), &k, &err), SL_OK, "%s: %s", text, err.msg);
    return k;
}

static struct sl_note_key key_from_hex_seed(const char *name, const char *hex)
{
    unsigned char seed[32];
    struct sl_note_key k;
    struct sl_error err;

    cr_assert(sl_unhex(hex, 64, seed, 32));
    cr_assert_eq(sl_note_key_from_seed(name, seed, &k, &err), SL_OK, "%s", err.msg);
    return k;
}

/* Go's "PRIVATE+KEY+<name>+<hex id>+base64(0x01 || seed)". */
static struct sl_note_key key_from_skey(const char *skey)
{
    char name[SL_NOTE_NAME_MAX + 1];
    const char *p = skey + strlen("PRIVATE+KEY+"), *plus = strchr(p, '+');
    const char *b64 = plus + 1 + 8 + 1;
    unsigned char raw[40];
    size_t n;
    struct sl_note_key k;
    struct sl_error err;
    char id[9];

    cr_assert(strncmp(skey, "PRIVATE+KEY+", 12) == 0 && plus);
    memcpy(name, p, (size_t)(plus - p));
    name[plus - p] = '\0';
    cr_assert(sl_unbase64(b64, strlen(b64), raw, sizeof(raw), &n) && n == 33 && raw[0] == 1);
    cr_assert_eq(sl_note_key_from_seed(name, raw + 1, &k, &err), SL_OK, "%s", err.msg);
    snprintf(id, sizeof(id), "%08x", (unsigned)k.id);
    cr_expect(strncmp(plus + 1, id, 8) == 0, "key ID %s in %s", id, skey);
    return k;
}

static enum sl_err open_note(const char *note, size_t n, const struct sl_note_key *keys,
                             size_t nkeys, struct sl_note *out, struct sl_error *err)
{
    memset(err, 0, sizeof(*err));
    return sl_note_open(note, n, keys, nkeys, out, err);
}

static void expect_open_fails(const char *note, size_t n, const struct sl_note_key *keys,
                              size_t nkeys, enum sl_err want, const char *kind, const char *what)
{
    struct sl_note out;
    struct sl_error err;
    enum sl_err rc = open_note(note, n, keys, nkeys, &out, &err);

    cr_expect_eq(rc, want, "%s: got %s (%s), want %s", what, sl_strerror(rc), err.msg,
                 sl_strerror(want));
    if (kind && rc != SL_OK)
        cr_expect(err.kind && strcmp(err.kind, kind) == 0, "%s: kind %s, want %s (%s)", what,
                  err.kind ? err.kind : "(none)", kind, err.msg);
    cr_expect(out.text == NULL && out.sigs == NULL && out.nsigs == 0, "%s: output not empty", what);
    if (rc == SL_OK)
        sl_note_free(&out);
}

static struct sl_note_key peter(void)
{
    return key_from_skey(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
}

static const char peter_text[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n";
static const char peter_line[] = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuG"
                                 "UgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/* Returns "<text>\n<line><extra>" in a new buffer. */
static char *cat3(const char *text, const char *line, const char *extra)
{
    return sl_xasprintf("%s\n%s%s", text, line, extra);
}

/* Returns "<peter_text>\n<peter_line><extra>" in a new buffer. */
static char *peter_note(const char *extra)
{
    return cat3(peter_text, peter_line, extra);
}

/* A well-formed signature line by a key nobody knows: 68 zero bytes. */
static char *unknown_line(const char *name)
{
    unsigned char raw[68] = {0};
    char b64[93];

    sl_base64(raw, sizeof(raw), b64);
    return sl_xasprintf("— %s %s\n", name, b64);
}

/* ---- keys ---- */

Test(note_key, names)
{
    char longname[SL_NOTE_NAME_MAX + 2];

    cr_expect(sl_note_name_ok("PeterNeumann"));
    cr_expect(sl_note_name_ok("example.com/testlog"));
    cr_expect(sl_note_name_ok("caf\xc3\xa9.example/\xe2\x80\x94"));
    cr_expect(!sl_note_name_ok(""));
    cr_expect(!sl_note_name_ok(NULL));
    cr_expect(!sl_note_name_ok("Bad Name"));
    cr_expect(!sl_note_name_ok("a+b"));
    cr_expect(!sl_note_name_ok("tab\there"));
    cr_expect(!sl_note_name_ok("nbsp\xc2\xa0here"), "U+00A0 is a Unicode space");
    cr_expect(!sl_note_name_ok("em\xe2\x80\x83space"), "U+2003");
    cr_expect(!sl_note_name_ok("ideo\xe3\x80\x80space"), "U+3000");
    cr_expect(!sl_note_name_ok("nel\xc2\x85"), "U+0085");
    cr_expect(!sl_note_name_ok("bad\xc3\x28utf8"));
    cr_expect(!sl_note_name_ok("overlong\xc0\xaf"));
    cr_expect(!sl_note_name_ok("surrogate\xed\xa0\x80"));
    cr_expect(!sl_note_name_ok("ctl\x01"));
    memset(longname, 'a', sizeof(longname));
    longname[SL_NOTE_NAME_MAX] = '\0';
    cr_expect(sl_note_name_ok(longname), "255 bytes is the limit");
    longname[SL_NOTE_NAME_MAX] = 'a';
    longname[SL_NOTE_NAME_MAX + 1] = '\0';
    cr_expect(!sl_note_name_ok(longname), "256 bytes is over");
}

Test(note_key, sumdb_keys_and_vkeys)
{
    json_t *doc = load_json("sumdb-note.json");
    json_t *keys = json_object_get(doc, "keys");
    size_t i;
    json_t *v;

    cr_assert_eq(json_array_size(keys), 2);
    json_array_foreach(keys, i, v)
    {
        struct sl_note_key k = key_from_skey(jstr(v, "skey"));
        struct sl_note_key pk = vkey(jstr(v, "vkey"));
        char out[SL_NOTE_VKEY_MAX], id[9];
        struct sl_error err;

        cr_expect_str_eq(k.name, jstr(v, "name"));
        snprintf(id, sizeof(id), "%08x", (unsigned)k.id);
        cr_expect_str_eq(id, jstr(v, "key_id_hex"));
        cr_assert_eq(sl_note_vkey(&k, out, sizeof(out), &err), SL_OK, "%s", err.msg);
        cr_expect_str_eq(out, jstr(v, "vkey"));
        cr_expect_str_eq(pk.name, k.name);
        cr_expect_eq(pk.id, k.id);
        cr_expect(memcmp(pk.pub, k.pub, 32) == 0);
        cr_expect(!pk.has_priv && k.has_priv);
        sl_note_key_clear(&k);
        cr_expect(k.name[0] == '\0' && !k.has_priv);
    }
    json_decref(doc);
}

Test(note_key, c2sp_and_derived_key_ids)
{
    json_t *doc = load_json("derived-checkpoints.json");
    json_t *lk = json_object_get(doc, "log_key"), *wk = json_object_get(doc, "witness_key");
    struct sl_note_key k = key_from_hex_seed(jstr(lk, "name"), jstr(lk, "seed_hex"));
    unsigned char wpub[32];
    char out[SL_NOTE_VKEY_MAX], hex[65];
    struct sl_error err;

    sl_hex(k.pub, 32, hex);
    cr_expect_str_eq(hex, jstr(lk, "public_key_hex"));
    cr_assert_eq(sl_note_vkey(&k, out, sizeof(out), &err), SL_OK);
    cr_expect_str_eq(out, jstr(lk, "vkey"));
    /* The witness key ID uses type 0x04 (cosignature/v1). */
    cr_assert(sl_unhex(jstr(wk, "public_key_hex"), 64, wpub, 32));
    cr_expect_eq(sl_note_key_id("example.com/witness", 0x04, wpub), 0xbd9f4fe9u);
    json_decref(doc);
}

Test(note_key, vkey_buffer_too_small)
{
    struct sl_note_key k = peter();
    char out[20];
    struct sl_error err;

    cr_expect_eq(sl_note_vkey(&k, out, sizeof(out), &err), SL_ELIMIT);
    cr_expect_str_eq(out, "");
    cr_expect_eq(sl_note_vkey(&k, out, 0, &err), SL_ELIMIT);
}

Test(note_key, key_from_seed_rejects_bad_names)
{
    unsigned char seed[32] = {0};
    struct sl_note_key k;
    struct sl_error err;

    cr_expect_eq(sl_note_key_from_seed("Bad Name", seed, &k, &err), SL_EINPUT);
    cr_expect_eq(sl_note_key_from_seed("a+b", seed, &k, &err), SL_EINPUT);
    cr_expect_eq(sl_note_key_from_seed("", seed, &k, &err), SL_EINPUT);
    cr_expect_eq(sl_note_key_from_seed("EnochRoot", seed, &k, &err), SL_OK);
    cr_expect_eq(k.id, 0xaf0cfe78u, "EnochRoot is the all-zero seed upstream");
}

Test(note_vkey, bad_vkeys)
{
    json_t *doc = load_json("sumdb-note.json");
    json_t *bad = json_object_get(doc, "bad_vkeys");
    static const char *const more[] = {
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+ ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    };
    size_t i;
    json_t *v;

    cr_assert_eq(json_array_size(bad), 2, "sumdb-note.json bad_vkeys changed: update the count");
    json_array_foreach(bad, i, v)
    {
        struct sl_note_key k;
        struct sl_error err;
        const char *s = jstr(v, "vkey");

        cr_expect_neq(sl_note_vkey_parse(s, strlen(s), &k, &err), SL_OK, "%s", s);
    }
    for (i = 0; i < SL_ARRAY_LEN(more); i++) {
        struct sl_note_key k;
        struct sl_error err;

        cr_expect_neq(sl_note_vkey_parse(more[i], strlen(more[i]), &k, &err), SL_OK, "%s", more[i]);
    }
    json_decref(doc);
}

/* Upstream's own check: every proper substring and every one-byte increment of a
 * good vkey is rejected. */
Test(note_vkey, substrings_and_increments)
{
    const char *good = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    size_t n = strlen(good);
    char buf[128];
    struct sl_note_key k;
    struct sl_error err;

    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            if (i == 0 && j == n)
                continue;
            cr_expect_neq(sl_note_vkey_parse(good + i, j - i, &k, &err), SL_OK, "[%zu:%zu]", i, j);
        }
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, good, n + 1);
        buf[i]++;
        cr_expect_neq(sl_note_vkey_parse(buf, n, &k, &err), SL_OK, "%s", buf);
    }
    cr_expect_eq(sl_note_vkey_parse(good, n, &k, &err), SL_OK);
}

Test(note_vkey, other_types_are_unsupported)
{
    const char *w = "example.com/witness+bd9f4fe9+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM";
    const char *z = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    struct sl_note_key k;
    struct sl_error err;

    cr_expect_eq(sl_note_vkey_parse(w, strlen(w), &k, &err), SL_EUNSUPPORTED, "%s", err.msg);
    cr_expect(strstr(err.msg, "0x04"), "%s", err.msg);
    cr_expect_eq(sl_note_vkey_parse(z, strlen(z), &k, &err), SL_EUNSUPPORTED, "%s", err.msg);
}

/* ---- signing and opening the vectors ---- */

Test(note, c2sp_example_verifies)
{
    json_t *doc = load_json("c2sp-examples.json");
    json_t *ex = json_object_get(doc, "signed_note_example");
    struct sl_note_key k = vkey(jstr(ex, "vkey"));
    size_t n;
    char *note = load_bytes("c2sp-example-foo.note", &n);
    struct sl_note out;
    struct sl_error err;

    cr_expect_str_eq(note, jstr(ex, "note"));
    cr_assert_eq(open_note(note, n, &k, 1, &out, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(out.text, "This is an example message.\n");
    cr_expect_eq(out.text_len, strlen(out.text));
    cr_assert_eq(out.nsigs, 1);
    cr_expect_str_eq(out.sigs[0].name, "example.com/foo");
    cr_expect_eq(out.sigs[0].id, 0x530d903au);
    cr_expect_eq(out.sigs[0].sig_len, 64);
    cr_expect(out.sigs[0].verified);
    sl_note_free(&out);
    sl_note_free(&out);
    sl_note_free(NULL);
    free(note);
    json_decref(doc);
}

Test(note, sumdb_sign_reproduces_upstream_bytes)
{
    json_t *doc = load_json("sumdb-note.json");
    json_t *keys = json_object_get(doc, "keys");
    struct sl_note_key k[2];
    const char *text = jstr(doc, "text");
    char *note;
    size_t len, flen;
    char *file = load_bytes("sumdb-peter-enoch.note", &flen);
    struct sl_error err;

    k[0] = key_from_skey(jstr(json_array_get(keys, 0), "skey"));
    k[1] = key_from_skey(jstr(json_array_get(keys, 1), "skey"));
    cr_assert_eq(sl_note_sign(text, strlen(text), k, 1, &note, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(note, jstr(doc, "signed_by_peter"));
    cr_expect_eq(len, strlen(note));
    free(note);
    cr_assert_eq(sl_note_sign(text, strlen(text), k, 2, &note, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(note, jstr(doc, "signed_by_peter_and_enoch"));
    cr_expect(len == flen && memcmp(note, file, len) == 0, "the .note file");
    free(note);
    free(file);
    json_decref(doc);
}

Test(note, sumdb_open_cases)
{
    json_t *doc = load_json("sumdb-note.json");
    json_t *cases = json_object_get(doc, "open_cases");
    size_t i;
    json_t *c;

    cr_assert_eq(json_array_size(cases), 5);
    json_array_foreach(cases, i, c)
    {
        struct sl_note_key keys[4];
        json_t *kv = json_object_get(c, "known_vkeys");
        const char *note = jstr(c, "note"), *want = jstr(c, "want"), *desc = jstr(c, "desc");
        size_t nk = json_array_size(kv);
        struct sl_note out;
        struct sl_error err;
        enum sl_err rc;

        cr_assert(nk <= 4);
        for (size_t j = 0; j < nk; j++)
            keys[j] = vkey(json_string_value(json_array_get(kv, j)));
        rc = open_note(note, strlen(note), keys, nk, &out, &err);
        if (strncmp(want, "ok", 2) == 0) {
            cr_assert_eq(rc, SL_OK, "%s: %s", desc, err.msg);
            cr_expect_str_eq(out.text, jstr(doc, "text"));
            cr_assert_eq(out.nsigs, 2, "%s", desc);
            cr_expect_str_eq(out.sigs[0].name, "PeterNeumann");
            cr_expect(out.sigs[0].verified);
            cr_expect_str_eq(out.sigs[1].name, "EnochRoot");
            cr_expect_eq(out.sigs[1].verified, nk == 2, "%s", desc);
            sl_note_free(&out);
        } else {
            cr_expect_neq(rc, SL_OK, "%s", desc);
            cr_expect(out.text == NULL && out.nsigs == 0);
        }
    }
    /* The error kinds, case by case. */
    expect_open_fails(jstr(json_array_get(cases, 2), "note"),
                      strlen(jstr(json_array_get(cases, 2), "note")), NULL, 0, SL_EREFUSED,
                      SL_NOTE_K_UNVERIFIED, "no known keys");
    {
        struct sl_note_key p = peter();
        const char *bad = jstr(json_array_get(cases, 3), "note");
        const char *many = jstr(json_array_get(cases, 4), "note");

        expect_open_fails(bad, strlen(bad), &p, 1, SL_EREFUSED, SL_NOTE_K_BADSIG, "corrupted");
        expect_open_fails(many, strlen(many), &p, 1, SL_ELIMIT, SL_NOTE_K_MALFORMED, "101");
    }
    json_decref(doc);
}

Test(note, sumdb_malformed_notes)
{
    json_t *doc = load_json("sumdb-note.json");
    json_t *bad = json_object_get(doc, "malformed_notes");
    struct sl_note_key p = peter();
    char *ff;
    size_t i;
    json_t *c;

    cr_assert_eq(json_array_size(bad), 6);
    json_array_foreach(bad, i, c)
    {
        const char *note = jstr(c, "note");

        expect_open_fails(note, strlen(note), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED,
                          jstr(c, "desc"));
    }
    /* Upstream's raw 0xFF case, which JSON cannot carry. */
    ff = peter_note("");
    ff[0] = (char)0xff;
    expect_open_fails(ff, strlen(ff), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "0xff");
    free(ff);
    json_decref(doc);
}

Test(note, real_sum_golang_org_checkpoint)
{
    json_t *doc = load_json("real-checkpoints.json");
    json_t *sigs = json_object_get(doc, "signatures");
    const char *text = jstr(doc, "checkpoint_text");
    struct sl_note_key keys[4];
    struct sl_checkpoint cp;
    struct sl_note out;
    struct sl_error err;
    char all[2048], hex[65];
    size_t i, o;
    json_t *s;

    o = (size_t)snprintf(all, sizeof(all), "%s\n", text);
    cr_assert_eq(json_array_size(sigs), 4, "keys[] holds four");
    json_array_foreach(sigs, i, s)
    {
        keys[i] = vkey(jstr(s, "vkey"));
        /* Each line alone verifies under its own key. */
        {
            char one[1024];

            snprintf(one, sizeof(one), "%s\n%s\n", text, jstr(s, "line"));
            cr_assert_eq(open_note(one, strlen(one), &keys[i], 1, &out, &err), SL_OK, "%s: %s",
                         jstr(s, "vkey"), err.msg);
            cr_expect(out.sigs[0].verified);
            sl_note_free(&out);
        }
        o += (size_t)snprintf(all + o, sizeof(all) - o, "%s\n", jstr(s, "line"));
    }
    cr_assert_eq(open_note(all, o, keys, 4, &out, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(out.nsigs, 4);
    for (i = 0; i < 4; i++)
        cr_expect(out.sigs[i].verified);
    cr_assert_eq(sl_checkpoint_parse(out.text, out.text_len, &cp, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(cp.origin, "go.sum database tree");
    cr_expect_eq(cp.size, 6476701);
    sl_hex(cp.root, 32, hex);
    {
        unsigned char want[32];
        size_t wl;
        const char *b = jstr(doc, "root_hash_b64");

        cr_assert(sl_unbase64(b, strlen(b), want, 32, &wl) && wl == 32);
        cr_expect(memcmp(cp.root, want, 32) == 0, "%s", hex);
    }
    cr_expect_null(cp.extra);
    sl_checkpoint_free(&cp);
    /* Only the log key: the three others are kept, unverified. */
    sl_note_free(&out);
    cr_assert_eq(open_note(all, o, keys, 1, &out, &err), SL_OK, "%s", err.msg);
    cr_expect(out.sigs[0].verified && !out.sigs[1].verified && !out.sigs[3].verified);
    sl_note_free(&out);
    json_decref(doc);
}

Test(note, derived_checkpoints_verify_and_resign)
{
    json_t *doc = load_json("derived-checkpoints.json");
    json_t *lk = json_object_get(doc, "log_key");
    json_t *cps = json_object_get(doc, "checkpoints_by_size");
    struct sl_note_key k = key_from_hex_seed(jstr(lk, "name"), jstr(lk, "seed_hex"));
    struct sl_note_key v = vkey(jstr(lk, "vkey"));
    size_t i;
    json_t *c;

    cr_assert_eq(json_array_size(cps), 9);
    json_array_foreach(cps, i, c)
    {
        const char *note = jstr(c, "checkpoint");
        struct sl_checkpoint cp;
        struct sl_note out;
        struct sl_error err;
        char *text, *signed_note;
        size_t tlen, slen;

        cr_assert_eq(open_note(note, strlen(note), &v, 1, &out, &err), SL_OK, "size %zu: %s", i,
                     err.msg);
        cr_assert_eq(sl_checkpoint_parse(out.text, out.text_len, &cp, &err), SL_OK, "%s", err.msg);
        cr_expect_eq(cp.size, (uint64_t)json_integer_value(json_object_get(c, "tree_size")));
        cr_expect_str_eq(cp.origin, "example.com/testlog");
        cr_assert_eq(sl_checkpoint_format(&cp, &text, &tlen, &err), SL_OK, "%s", err.msg);
        cr_expect(tlen == out.text_len && memcmp(text, out.text, tlen) == 0);
        cr_assert_eq(sl_note_sign(text, tlen, &k, 1, &signed_note, &slen, &err), SL_OK, "%s",
                     err.msg);
        cr_expect_str_eq(signed_note, note, "size %zu re-signed", i);
        free(signed_note);
        free(text);
        sl_checkpoint_free(&cp);
        sl_note_free(&out);
    }
    /* The empty tree's root is SHA-256(""). */
    {
        const char *n0 = jstr(json_array_get(cps, 0), "checkpoint");
        struct sl_note out;
        struct sl_checkpoint cp;
        struct sl_error err;
        char hex[65];

        cr_assert_eq(open_note(n0, strlen(n0), &v, 1, &out, &err), SL_OK);
        cr_assert_eq(sl_checkpoint_parse(out.text, out.text_len, &cp, &err), SL_OK);
        sl_hex(cp.root, 32, hex);
        cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        cr_expect_eq(cp.size, 0);
        sl_note_free(&out);
    }
    json_decref(doc);
}

Test(note, cosigned_note_opens_with_log_key)
{
    json_t *doc = load_json("derived-checkpoints.json");
    json_t *lk = json_object_get(doc, "log_key"), *wk = json_object_get(doc, "witness_key");
    json_t *co = json_object_get(doc, "cosigned_checkpoint_size8");
    struct sl_note_key v = vkey(jstr(lk, "vkey"));
    size_t n;
    char *note = load_bytes("derived-testlog-size8-cosigned.note", &n);
    const char *msg = jstr(co, "signed_message");
    unsigned char wpub[32];
    uint64_t ts = 0;
    struct sl_note out;
    struct sl_error err;

    cr_expect_str_eq(note, jstr(co, "note"));
    cr_assert_eq(open_note(note, n, &v, 1, &out, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(out.nsigs, 2);
    cr_expect(out.sigs[0].verified);
    cr_expect_str_eq(out.sigs[1].name, "example.com/witness");
    cr_expect_eq(out.sigs[1].id, 0xbd9f4fe9u);
    cr_expect(!out.sigs[1].verified);
    /* The unverified cosignature is kept whole: timestamp then signature. */
    cr_assert_eq(out.sigs[1].sig_len, 72);
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | out.sigs[1].sig[i];
    cr_expect_eq(ts, 1700000000u);
    cr_assert(sl_unhex(jstr(wk, "public_key_hex"), 64, wpub, 32));
    cr_expect(strncmp(msg, "cosignature/v1\ntime 1700000000\n", 31) == 0);
    cr_expect_str_eq(msg + 31, out.text);
    cr_expect(sl_ed25519_verify(wpub, msg, strlen(msg), out.sigs[1].sig + 8));
    sl_note_free(&out);
    /* With no key for the log, the witness line alone does not make it verified. */
    expect_open_fails(note, n, NULL, 0, SL_EREFUSED, SL_NOTE_K_UNVERIFIED, "no keys");
    free(note);
    json_decref(doc);
}

/* ---- hostile notes ---- */

Test(note, every_truncation_fails)
{
    struct sl_note_key p = peter();
    char *note = peter_note("");
    size_t n = strlen(note);
    struct sl_note out;
    struct sl_error err;

    cr_assert_eq(open_note(note, n, &p, 1, &out, &err), SL_OK, "%s", err.msg);
    sl_note_free(&out);
    for (size_t i = 0; i < n; i++) {
        enum sl_err rc = open_note(note, i, &p, 1, &out, &err);

        cr_expect_neq(rc, SL_OK, "prefix of %zu bytes", i);
        if (rc == SL_OK)
            sl_note_free(&out);
    }
    expect_open_fails(NULL, 0, &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "empty");
    free(note);
}

Test(note, flipped_bytes_fail)
{
    struct sl_note_key p = peter();
    char *note = peter_note("");
    size_t n = strlen(note), tl = strlen(peter_text);
    struct sl_note out;
    struct sl_error err;
    unsigned char raw[68];
    char b64[93], *forged;
    size_t rl;

    /* Any change to the text breaks the signature (or the format). */
    for (size_t i = 0; i < tl; i++) {
        for (int bit = 0; bit < 8; bit++) {
            enum sl_err rc;

            note[i] ^= (char)(1 << bit);
            rc = open_note(note, n, &p, 1, &out, &err);
            cr_expect_neq(rc, SL_OK, "byte %zu bit %d", i, bit);
            if (rc == SL_OK)
                sl_note_free(&out);
            note[i] ^= (char)(1 << bit);
        }
    }
    /* Each bit of the signature itself, re-encoded as canonical base64. */
    cr_assert(sl_unbase64(peter_line + 17, 92, raw, sizeof(raw), &rl) && rl == 68);
    for (size_t i = 4; i < 68; i++) {
        raw[i] ^= 0x01;
        sl_base64(raw, 68, b64);
        forged = cat3(peter_text, "— PeterNeumann ", b64);
        forged = realloc(forged, strlen(forged) + 2);
        memcpy(forged + strlen(forged), "\n", 2);
        expect_open_fails(forged, strlen(forged), &p, 1, SL_EREFUSED, SL_NOTE_K_BADSIG,
                          "flipped signature byte");
        free(forged);
        raw[i] ^= 0x01;
    }
    free(note);
}

Test(note, wrong_keys)
{
    struct sl_note_key p = peter();
    struct sl_note_key other = key_from_hex_seed(
        "PeterNeumann", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    struct sl_note_key forged = p;
    char *note = peter_note("");
    size_t n = strlen(note);

    /* Same name, other key ID: an unknown key, so nothing verifies. */
    expect_open_fails(note, n, &other, 1, SL_EREFUSED, SL_NOTE_K_UNVERIFIED, "same name");
    /* Name and ID of Peter's key with another public key: a bad signature. */
    memcpy(forged.pub, other.pub, 32);
    expect_open_fails(note, n, &forged, 1, SL_EREFUSED, SL_NOTE_K_BADSIG, "forged key");
    /* Two keys with the same name and ID are a configuration error. */
    {
        struct sl_note_key two[2] = {p, forged};

        expect_open_fails(note, n, two, 2, SL_EUSAGE, NULL, "ambiguous keys");
    }
    /* The other key's ID with Peter's name: unknown too. */
    other.id = p.id ^ 1;
    expect_open_fails(note, n, &other, 1, SL_EREFUSED, SL_NOTE_K_UNVERIFIED, "other id");
    free(note);
}

Test(note, extra_and_duplicate_signature_lines)
{
    struct sl_note_key p = peter();
    char *unknown = unknown_line("someone.example/w");
    char *dup = peter_note(peter_line);
    char *dup_unknown, *trailing, *blank_inside, *notext;
    struct sl_note out;
    struct sl_error err;

    expect_open_fails(dup, strlen(dup), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "duplicate");
    open_note(dup, strlen(dup), &p, 1, &out, &err);
    cr_expect(strstr(err.msg, "line 5") && strstr(err.msg, "line 4"), "%s", err.msg);

    dup_unknown = cat3(peter_text, peter_line, unknown);
    cr_assert_eq(open_note(dup_unknown, strlen(dup_unknown), &p, 1, &out, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(out.nsigs == 2 && !out.sigs[1].verified && out.sigs[1].sig_len == 64);
    sl_note_free(&out);
    free(dup_unknown);
    {
        char *twice = cat3(peter_text, unknown, unknown);
        char *both = realloc(twice, strlen(twice) + sizeof(peter_line));

        memcpy(both + strlen(both), peter_line, sizeof(peter_line));
        cr_assert(strlen(both) > 0);
        expect_open_fails(both, strlen(both), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED,
                          "duplicate unknown");
        free(both);
    }

    trailing = peter_note("Unexpected line.\n");
    expect_open_fails(trailing, strlen(trailing), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED,
                      "trailing line");
    open_note(trailing, strlen(trailing), &p, 1, &out, &err);
    cr_expect(strstr(err.msg, "line 5"), "%s", err.msg);
    free(trailing);

    /* A blank line inside the signatures moves the split: the text then includes
     * Peter's line and his signature no longer matches. */
    blank_inside = peter_note("\n— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+"
                              "vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n");
    {
        struct sl_note_key e =
            vkey("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop");

        expect_open_fails(blank_inside, strlen(blank_inside), &e, 1, SL_EREFUSED, SL_NOTE_K_BADSIG,
                          "blank line inside");
    }
    free(blank_inside);

    /* Signature lines with no text above them. */
    notext = cat3("", "", peter_line);
    expect_open_fails(notext, strlen(notext), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "no text");
    free(notext);
    {
        static const char *const lines[] = {
            "— PeterNeumann\n",
            "— PeterNeumann \n",
            "—PeterNeumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "- PeterNeumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "— PeterNeumann  "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "— PeterNeumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM= \n",
            "— PeterNeumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n",
            "— PeterNeumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n",
            "— Peter+Neumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "— Peter\xc2\xa0Neumann "
            "x08go/ZJkuBS9UG/"
            "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "— PeterNeumann x08gow==\n",
            "— PeterNeumann AAAAAA==\n",
        };

        for (size_t i = 0; i < SL_ARRAY_LEN(lines); i++) {
            char *bad = cat3(peter_text, "", lines[i]);

            expect_open_fails(bad, strlen(bad), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, lines[i]);
            free(bad);
        }
    }
    free(unknown);
    free(dup);
}

Test(note, control_characters_and_utf8)
{
    struct sl_note_key p = peter();
    char *note = peter_note("");
    size_t n = strlen(note);
    char *crlf;
    struct sl_note out;
    struct sl_error err;

    note[5] = '\r';
    expect_open_fails(note, n, &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "CR");
    open_note(note, n, &p, 1, &out, &err);
    cr_expect(strstr(err.msg, "byte 5") && strstr(err.msg, "0x0d"), "%s", err.msg);
    note[5] = '\0';
    expect_open_fails(note, n, &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "NUL");
    note[5] = '\t';
    expect_open_fails(note, n, &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "tab");
    note[5] = (char)0x80;
    expect_open_fails(note, n, &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "stray continuation");
    free(note);
    /* CRLF line endings. */
    crlf = cat3("a\r\n", "\r\n", peter_line);
    expect_open_fails(crlf, strlen(crlf), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "CRLF");
    free(crlf);
    {
        /* A non-UTF-8 key name on the signature line. */
        char *bad = cat3(peter_text, "",
                         "— Peter\xc3\x28 x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
                         "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");

        expect_open_fails(bad, strlen(bad), &p, 1, SL_EINPUT, SL_NOTE_K_MALFORMED, "name utf8");
        open_note(bad, strlen(bad), &p, 1, &out, &err);
        cr_expect(strstr(err.msg, "invalid UTF-8"), "%s", err.msg);
        free(bad);
    }
}

Test(note, oversize)
{
    struct sl_note_key p = peter();
    size_t n = SL_NOTE_MAX + 1;
    char *big = malloc(n), *note;
    size_t len, max_text = SL_NOTE_MAX - 1 - (4 + strlen("PeterNeumann") + 1 + 92 + 1);
    struct sl_note out;
    struct sl_error err;

    memset(big, 'a', n);
    for (size_t i = 79; i < n; i += 80)
        big[i] = '\n';
    expect_open_fails(big, n, &p, 1, SL_ELIMIT, SL_NOTE_K_MALFORMED, "over SL_NOTE_MAX");
    /* The largest text whose signed note still fits, and one byte more. */
    big[max_text - 1] = '\n';
    cr_assert_eq(sl_note_sign(big, max_text, &p, 1, &note, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(len, SL_NOTE_MAX);
    cr_expect_eq(open_note(note, len, &p, 1, &out, &err), SL_OK, "%s", err.msg);
    sl_note_free(&out);
    free(note);
    big[max_text] = '\n';
    cr_expect_eq(sl_note_sign(big, max_text + 1, &p, 1, &note, &len, &err), SL_ELIMIT);
    cr_expect_null(note);
    free(big);
}

/* Builds Peter's note with `nunknown` lines by distinct unknown keys first. */
static char *note_with_unknown(size_t nunknown)
{
    size_t cap = strlen(peter_text) + 1 + (nunknown + 1) * 128, o;
    char *b = malloc(cap);

    o = (size_t)snprintf(b, cap, "%s\n", peter_text);
    for (size_t i = 0; i < nunknown; i++) {
        char name[32], *line;

        snprintf(name, sizeof(name), "w%zu.example", i);
        line = unknown_line(name);
        o += (size_t)snprintf(b + o, cap - o, "%s", line);
        free(line);
    }
    snprintf(b + o, cap - o, "%s", peter_line);
    return b;
}

Test(note, signature_count_limit)
{
    struct sl_note_key p = peter();
    char *ok = note_with_unknown(99), *over = note_with_unknown(100);
    struct sl_note out;
    struct sl_error err;

    cr_assert_eq(open_note(ok, strlen(ok), &p, 1, &out, &err), SL_OK, "100 lines: %s", err.msg);
    cr_expect_eq(out.nsigs, 100);
    cr_expect(out.sigs[99].verified && !out.sigs[0].verified);
    sl_note_free(&out);
    expect_open_fails(over, strlen(over), &p, 1, SL_ELIMIT, SL_NOTE_K_MALFORMED, "101 lines");
    open_note(over, strlen(over), &p, 1, &out, &err);
    cr_expect(strstr(err.msg, "101"), "%s", err.msg);
    free(ok);
    free(over);
}

Test(note, sign_rejects_bad_input)
{
    struct sl_note_key p = peter(),
                       pub = vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                  "LDE4izWy10TW");
    struct sl_note_key two[2] = {p, p}, mismatched = p;
    char *note = (char *)"unchanged";
    size_t len = 7;
    struct sl_error err;

    cr_expect_eq(sl_note_sign("no newline", 10, &p, 1, &note, &len, &err), SL_EINPUT);
    cr_expect(note == NULL && len == 0);
    cr_expect_eq(sl_note_sign("", 0, &p, 1, &note, &len, &err), SL_EINPUT);
    cr_expect_eq(sl_note_sign("cr\r\n", 4, &p, 1, &note, &len, &err), SL_EINPUT);
    cr_expect_eq(sl_note_sign("nul\0\n", 5, &p, 1, &note, &len, &err), SL_EINPUT);
    cr_expect_eq(sl_note_sign("\xff\n", 2, &p, 1, &note, &len, &err), SL_EINPUT);
    cr_expect_eq(sl_note_sign("ok\n", 3, NULL, 0, &note, &len, &err), SL_EUSAGE);
    cr_expect_eq(sl_note_sign("ok\n", 3, &pub, 1, &note, &len, &err), SL_EUSAGE, "no private key");
    cr_expect_eq(sl_note_sign("ok\n", 3, two, 2, &note, &len, &err), SL_EUSAGE, "same key twice");
    mismatched.pub[0] ^= 1;
    cr_expect_eq(sl_note_sign("ok\n", 3, &mismatched, 1, &note, &len, &err), SL_EUSAGE);
    mismatched = p;
    mismatched.id ^= 1;
    cr_expect_eq(sl_note_sign("ok\n", 3, &mismatched, 1, &note, &len, &err), SL_EUSAGE);
    /* Blank lines inside the text and at its end survive a round trip. */
    {
        static const char text[] = "first\n\nthird\n\n";
        struct sl_note out;

        cr_assert_eq(sl_note_sign(text, strlen(text), &p, 1, &note, &len, &err), SL_OK);
        cr_assert_eq(open_note(note, len, &p, 1, &out, &err), SL_OK, "%s", err.msg);
        cr_expect_str_eq(out.text, text);
        sl_note_free(&out);
        free(note);
        cr_assert_eq(sl_note_sign("\n", 1, &p, 1, &note, &len, &err), SL_OK);
        cr_assert_eq(open_note(note, len, &p, 1, &out, &err), SL_OK, "%s", err.msg);
        cr_expect_str_eq(out.text, "\n");
        sl_note_free(&out);
        free(note);
    }
}

/* ---- checkpoints ---- */

#define ROOT8 "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="

Test(note_checkpoint, upstream_parse_cases)
{
    json_t *doc = load_json("real-checkpoints.json");
    json_t *cases = json_object_get(doc, "parse_cases_from_formats_checkpoint_test");
    size_t i;
    json_t *c;

    /* Upstream's generic parser takes any hash length; every one of its cases has a
     * root that is not 32 bytes, so a SHA-256 log rejects them all. */
    cr_assert_eq(json_array_size(cases), 9, "real-checkpoints.json cases changed: update");
    json_array_foreach(cases, i, c)
    {
        const char *t = jstr(c, "text");
        struct sl_checkpoint cp;
        struct sl_error err;

        cr_expect_eq(sl_checkpoint_parse(t, strlen(t), &cp, &err), SL_EINPUT, "%s", t);
        cr_expect_null(cp.extra);
    }
    json_decref(doc);
}

Test(note_checkpoint, strict_parse)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"Head\n9944\n", "too few lines"},
        {"\n9944\n" ROOT8 "\n", "empty origin"},
        {"Log\n123\n" ROOT8, "no final newline"},
        {"Log\nbananas\n" ROOT8 "\n", "not a number"},
        {"Log\n-34\n" ROOT8 "\n", "negative"},
        {"Log\n+34\n" ROOT8 "\n", "plus sign"},
        {"Log\n 34\n" ROOT8 "\n", "space"},
        {"Log\n034\n" ROOT8 "\n", "leading zero"},
        {"Log\n00\n" ROOT8 "\n", "two zeros"},
        {"Log\n\n" ROOT8 "\n", "empty size"},
        {"Log\n3438945738945739845734895735\n" ROOT8 "\n", "overflow"},
        {"Log\n18446744073709551616\n" ROOT8 "\n", "2^64"},
        {"Log\n123\nThisIsn'tBase64\n", "not base64"},
        {"Log\n123\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n", "non-canonical base64"},
        {"Log\n123\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n", "no padding"},
        {"Log\n123\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQ==\n", "31 bytes"},
        {"Log\n123\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=AAAA\n", "36 bytes"},
        {"Log\n123\n" ROOT8 "\n\n", "empty extension line"},
        {"Log\n123\n" ROOT8 "\next\n\nmore\n", "empty extension line in the middle"},
        {"Log\n123\n" ROOT8 "\next", "extension without newline"},
        {"Log\r\n123\n" ROOT8 "\n", "CR"},
        {"Log\n123\r\n" ROOT8 "\n", "CR after size"},
        {"L\xffg\n123\n" ROOT8 "\n", "not UTF-8"},
        {"", "empty"},
    };
    struct sl_checkpoint cp;
    struct sl_error err;
    char origin[400];

    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        enum sl_err rc = sl_checkpoint_parse(bad[i].text, strlen(bad[i].text), &cp, &err);

        cr_expect_eq(rc, SL_EINPUT, "%s", bad[i].why);
        if (rc == SL_EINPUT)
            cr_expect_str_eq(err.kind, SL_NOTE_K_CHECKPOINT);
        if (rc == SL_OK)
            sl_checkpoint_free(&cp);
    }
    cr_assert_eq(
        sl_checkpoint_parse("Log\n034\n" ROOT8 "\n", strlen("Log\n034\n" ROOT8 "\n"), &cp, &err),
        SL_EINPUT);
    cr_expect(strstr(err.msg, "line 2") && strstr(err.msg, "\"034\""), "%s", err.msg);

    /* The limits themselves. */
    cr_assert_eq(sl_checkpoint_parse("L\n18446744073709551615\n" ROOT8 "\n",
                                     strlen("L\n18446744073709551615\n" ROOT8 "\n"), &cp, &err),
                 SL_OK, "%s", err.msg);
    cr_expect_eq(cp.size, UINT64_MAX);
    memset(origin, 'o', 255);
    snprintf(origin + 255, sizeof(origin) - 255, "\n0\n" ROOT8 "\n");
    cr_expect_eq(sl_checkpoint_parse(origin, strlen(origin), &cp, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(strlen(cp.origin), 255);
    memset(origin, 'o', 256);
    snprintf(origin + 256, sizeof(origin) - 256, "\n0\n" ROOT8 "\n");
    cr_expect_eq(sl_checkpoint_parse(origin, strlen(origin), &cp, &err), SL_EINPUT);
    {
        char *big = malloc(SL_NOTE_MAX + 1);

        memset(big, 'a', SL_NOTE_MAX + 1);
        cr_expect_eq(sl_checkpoint_parse(big, SL_NOTE_MAX + 1, &cp, &err), SL_ELIMIT);
        free(big);
    }
}

Test(note_checkpoint, extension_lines_round_trip)
{
    static const char text[] = "example.com/behind-the-sofa\n20852163\n"
                               "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
                               "Here's some associated data.\nAnd more.\n";
    struct sl_checkpoint cp;
    struct sl_error err;
    char *out;
    size_t len;

    cr_assert_eq(sl_checkpoint_parse(text, strlen(text), &cp, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(cp.origin, "example.com/behind-the-sofa");
    cr_expect_eq(cp.size, 20852163);
    cr_expect_str_eq(cp.extra, "Here's some associated data.\nAnd more.\n");
    cr_assert_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(out, text);
    cr_expect_eq(len, strlen(text));
    free(out);
    sl_checkpoint_free(&cp);
    cr_expect_null(cp.extra);
    sl_checkpoint_free(&cp);
    sl_checkpoint_free(NULL);
}

Test(note_checkpoint, format_rejects_bad_fields)
{
    struct sl_checkpoint cp;
    struct sl_error err;
    char *out;
    size_t len;

    memset(&cp, 0, sizeof(cp));
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT, "empty origin");
    cr_expect_null(out);
    snprintf(cp.origin, sizeof(cp.origin), "a\nb");
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT, "newline in origin");
    snprintf(cp.origin, sizeof(cp.origin), "go.sum database tree");
    cp.extra = (char *)"no newline";
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT);
    cp.extra = (char *)"\n";
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT);
    cp.extra = (char *)"a\n\nb\n";
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT);
    cp.extra = (char *)"tab\there\n";
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT);
    cp.extra = (char *)"";
    cp.size = 6476701;
    cr_assert_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_str_eq(
        out, "go.sum database tree\n6476701\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    free(out);
    memset(cp.origin, 'x', sizeof(cp.origin));
    cp.extra = NULL;
    cr_expect_eq(sl_checkpoint_format(&cp, &out, &len, &err), SL_EINPUT, "unterminated origin");
}

/* ---- tlog-proof ---- */

/* RFC 9162 2.1.3.2, only to show the parsed proof is the real audit path. */
static bool inclusion_ok(uint64_t index, uint64_t size, const unsigned char leaf[32],
                         unsigned char (*path)[32], size_t n, const unsigned char root[32])
{
    uint64_t fn = index, sn = size - 1;
    unsigned char r[32], buf[65];

    if (index >= size)
        return false;
    memcpy(r, leaf, 32);
    buf[0] = 1;
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            memcpy(buf + 1, path[i], 32);
            memcpy(buf + 33, r, 32);
            if (!(fn & 1)) {
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            memcpy(buf + 1, r, 32);
            memcpy(buf + 33, path[i], 32);
        }
        sl_sha256(buf, 65, r);
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, 32) == 0;
}

Test(note_tlog_proof, vector_round_trip_and_verify)
{
    json_t *doc = load_json("derived-checkpoints.json");
    json_t *pv = json_object_get(doc, "tlog_proof_index5_size8");
    struct sl_note_key v = vkey(jstr(json_object_get(doc, "log_key"), "vkey"));
    size_t n, cn, len;
    char *text = load_bytes("derived-testlog-index5.tlog-proof", &n);
    char *cosigned = load_bytes("derived-testlog-size8-cosigned.note", &cn), *out;
    unsigned char leaf[32], in[5] = {0, 0x40, 0x41, 0x42, 0x43};
    char hex[65];
    struct sl_tlog_proof p;
    struct sl_checkpoint cp;
    struct sl_note note;
    struct sl_error err;

    cr_expect_str_eq(text, jstr(pv, "proof"));
    cr_assert_eq(sl_tlog_proof_parse(text, n, &p, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(p.index, 5);
    cr_expect(!p.has_extra && p.extra == NULL);
    cr_assert_eq(p.nhashes, 3);
    sl_hex(p.hashes[0], 32, hex);
    cr_expect(strncmp(hex, "bc1a0643", 8) == 0, "%s", hex);
    sl_hex(p.hashes[2], 32, hex);
    cr_expect(strncmp(hex, "d37ee418", 8) == 0, "%s", hex);
    cr_expect(p.checkpoint_len == cn && memcmp(p.checkpoint, cosigned, cn) == 0);

    cr_assert_eq(sl_tlog_proof_format(&p, &out, &len, &err), SL_OK, "%s", err.msg);
    cr_expect(len == n && memcmp(out, text, n) == 0, "byte-for-byte round trip");
    free(out);

    /* The whole chain: the checkpoint opens with the log key, and the path leads
     * from leaf 5 (input 40414243) to its root. */
    cr_assert_eq(open_note(p.checkpoint, p.checkpoint_len, &v, 1, &note, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_checkpoint_parse(note.text, note.text_len, &cp, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(cp.size, 8);
    sl_sha256(in, sizeof(in), leaf);
    sl_hex(leaf, 32, hex);
    cr_expect_str_eq(hex, jstr(pv, "leaf_hash_hex"));
    cr_expect(inclusion_ok(p.index, cp.size, leaf, p.hashes, p.nhashes, cp.root));
    cr_expect(!inclusion_ok(p.index - 1, cp.size, leaf, p.hashes, p.nhashes, cp.root));
    sl_note_free(&note);
    sl_tlog_proof_free(&p);
    sl_tlog_proof_free(&p);
    sl_tlog_proof_free(NULL);
    free(cosigned);
    free(text);
    json_decref(doc);
}

Test(note_tlog_proof, extra_data_round_trips)
{
    static const char *const texts[] = {
        "c2sp.org/tlog-proof@v1\nextra ZXh0cmEgaW5mb3JtYXRpb24=\nindex 10\n" ROOT8 "\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nextra \nindex 0\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex 18446744073709551615\n\ncp\n\n— x AAAAAAA=\n",
    };

    for (size_t i = 0; i < SL_ARRAY_LEN(texts); i++) {
        struct sl_tlog_proof p;
        struct sl_error err;
        char *out;
        size_t len;

        cr_assert_eq(sl_tlog_proof_parse(texts[i], strlen(texts[i]), &p, &err), SL_OK, "%s: %s",
                     texts[i], err.msg);
        cr_assert_eq(sl_tlog_proof_format(&p, &out, &len, &err), SL_OK, "%s", err.msg);
        cr_expect_str_eq(out, texts[i]);
        if (i == 0)
            cr_expect(p.has_extra && p.extra_len == 17 &&
                      memcmp(p.extra, "extra information", 17) == 0);
        if (i == 1)
            cr_expect(p.has_extra && p.extra_len == 0);
        if (i == 2)
            cr_expect_eq(p.index, UINT64_MAX);
        free(out);
        sl_tlog_proof_free(&p);
    }
}

Test(note_tlog_proof, strict_parse)
{
    static const struct {
        const char *text, *why;
        enum sl_err want;
    } bad[] = {
        {"wrong-header\nindex 0\n\ncheckpoint\n", "missing header", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1 \nindex 0\n\ncp\n", "header with a space", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\ncp\n", "bad extra", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nextra ZXh0cmF=\nindex 0\n\ncp\n", "non-canonical extra",
         SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\n\n\ncheckpoint\n", "missing index", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex notanumber\n\ncp\n", "not a number", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex -5\n\ncp\n", "negative", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 05\n\ncp\n", "leading zero", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\ncp\n", "2^64", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex  5\n\ncp\n", "two spaces", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\ncp\n", "bad hash", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
         "\n"
         "\ncp\n",
         "64-byte hash", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n" ROOT8 "\n", "no blank line", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n" ROOT8 "\n\n", "no checkpoint", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n\ncp", "checkpoint without newline", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nextra AAAA\n\ncp\n", "extra then no index", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\nextra AAAA\n\ncp\n", "extra after index", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\r\nindex 0\n\ncp\n", "CR", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1\nindex 0\n\ncp\r\n", "CR in checkpoint", SL_EINPUT},
        {"c2sp.org/tlog-proof@v1", "header only", SL_EINPUT},
        {"", "empty", SL_EINPUT},
    };
    struct sl_tlog_proof p;
    struct sl_error err;

    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        enum sl_err rc = sl_tlog_proof_parse(bad[i].text, strlen(bad[i].text), &p, &err);

        cr_expect_eq(rc, bad[i].want, "%s: %s", bad[i].why, err.msg);
        cr_expect(p.checkpoint == NULL && p.extra == NULL, "%s", bad[i].why);
        if (rc == SL_OK)
            sl_tlog_proof_free(&p);
    }
    cr_assert_eq(sl_tlog_proof_parse("c2sp.org/tlog-proof@v1\nindex 0\n!!\n\ncp\n", 38, &p, &err),
                 SL_EINPUT);
    cr_expect(strstr(err.msg, "line 3"), "%s", err.msg);
}

Test(note_tlog_proof, hash_count_limit)
{
    size_t cap = 64 + 65 * 45 + 16, o;
    char *b = malloc(cap);
    struct sl_tlog_proof p;
    struct sl_error err;
    char *out;
    size_t len;

    o = (size_t)snprintf(b, cap, "c2sp.org/tlog-proof@v1\nindex 0\n");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(b + o, cap - o, ROOT8 "\n");
    snprintf(b + o, cap - o, "\ncp\n");
    cr_assert_eq(sl_tlog_proof_parse(b, strlen(b), &p, &err), SL_OK, "64 hashes: %s", err.msg);
    cr_expect_eq(p.nhashes, 64);
    sl_tlog_proof_free(&p);
    snprintf(b + o, cap - o, ROOT8 "\n\ncp\n");
    cr_expect_eq(sl_tlog_proof_parse(b, strlen(b), &p, &err), SL_ELIMIT, "65 hashes");

    memset(&p, 0, sizeof(p));
    p.checkpoint = (char *)"cp\n";
    p.checkpoint_len = 3;
    p.nhashes = 65;
    cr_expect_eq(sl_tlog_proof_format(&p, &out, &len, &err), SL_EINPUT);
    p.nhashes = 0;
    p.checkpoint_len = 2;
    cr_expect_eq(sl_tlog_proof_format(&p, &out, &len, &err), SL_EINPUT, "no final newline");
    p.checkpoint_len = 0;
    cr_expect_eq(sl_tlog_proof_format(&p, &out, &len, &err), SL_EINPUT, "empty checkpoint");
    {
        char *big = malloc(SL_TLOG_PROOF_MAX + 1);

        memset(big, 'a', SL_TLOG_PROOF_MAX + 1);
        cr_expect_eq(sl_tlog_proof_parse(big, SL_TLOG_PROOF_MAX + 1, &p, &err), SL_ELIMIT);
        free(big);
    }
    free(b);
}
