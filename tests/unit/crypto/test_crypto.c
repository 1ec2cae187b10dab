/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/: SHA-256 and Ed25519 known answers (FIPS 180-2, RFC 8032), hex and
 * base64.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "crypto/crypto.h"

Test(sha256, known_answers_and_streaming)
{
    unsigned char d[32];
    char hex[65];
    struct sl_sha256_ctx *c;

    sl_sha256("abc", 3, d);
    sl_hex(d, 32, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    c = sl_sha256_new();
    sl_sha256_update(c, "a", 1);
    sl_sha256_update(c, "bc", 2);
    sl_sha256_final(c, d);
    sl_hex(d, 32, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sl_sha256("", 0, d);
    sl_hex(d, 32, hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(ed25519, rfc8032_test_1)
{
    unsigned char priv[32], pub[32], want_pub[32], sig[64], want_sig[64];

    cr_assert(
        sl_unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 64, priv, 32));
    cr_assert(sl_unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 64,
                       want_pub, 32));
    cr_assert(sl_unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                       "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                       128, want_sig, 64));
    cr_assert_eq(sl_ed25519_public(priv, pub), SL_OK);
    cr_expect(memcmp(pub, want_pub, 32) == 0);
    cr_assert_eq(sl_ed25519_sign(priv, "", 0, sig), SL_OK);
    cr_expect(memcmp(sig, want_sig, 64) == 0);
    cr_expect(sl_ed25519_verify(pub, "", 0, sig));
    sig[0] ^= 1;
    cr_expect(!sl_ed25519_verify(pub, "", 0, sig));
}

Test(codec, hex_and_base64)
{
    unsigned char b[16];
    char out[64];
    size_t n;

    cr_expect(!sl_unhex("0g", 2, b, 1));
    cr_expect(!sl_unhex("abc", 3, b, 1));
    cr_expect_eq(sl_base64((const unsigned char *)"hello", 5, out), 8);
    cr_expect_str_eq(out, "aGVsbG8=");
    cr_assert(sl_unbase64("aGVsbG8=", 8, b, sizeof(b), &n));
    cr_expect(n == 5 && memcmp(b, "hello", 5) == 0);
    cr_expect(!sl_unbase64("aGVsbG8", 7, b, sizeof(b), &n), "length not a multiple of 4");
    cr_expect(!sl_unbase64("aG=sbG8=", 8, b, sizeof(b), &n), "padding in the middle");
    cr_expect(!sl_unbase64("aGVsbG8=", 8, b, 4, &n), "over the cap");
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
Test(hmac, rfc4231)
{
    static const struct {
        const char *key_hex, *msg, *want;
    } cases[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"4a656665", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "a"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "a"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char key[200], mac[32];
        size_t klen = strlen(cases[i].key_hex) / 2;
        char hex[65];
        cr_assert(sl_unhex(cases[i].key_hex, 2 * klen, key, klen));
        sl_hmac_sha256(key, klen, cases[i].msg, strlen(cases[i].msg), mac);
        sl_hex(mac, 32, hex);
        cr_assert_str_eq(hex, cases[i].want, "case %zu", i);
    }
}
