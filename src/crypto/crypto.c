/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL 3 libcrypto behind crypto.h. SHA-256 uses OpenSSL's SHA-NI code
 * where the CPU has it (one-shot through EVP, streaming through the
 * low-level context); two digests of the same or other bytes at once go
 * through sha256ni.c's two-stream block function when the CPU has the SHA
 * extensions.
 */
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* SHA256_Init and friends are deprecated in OpenSSL 3 but kept: the
 * streaming context is OpenSSL's low-level one (the same SHA-NI block
 * function as EVP's), whose public state lets sl_sha256_update_and_digest
 * run whole blocks through the two-stream function of sha256ni.c. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

struct sl_sha256_ctx {
    SHA256_CTX c;
};

static EVP_MD *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
    /* Fetch once (EVP_sha256() re-resolves the provider on every init), and
     * once only: threads hash concurrently. */
    pthread_once(&md_once, fetch_sha256);
    if (!md_sha256)
        abort();
    return md_sha256;
}

void sl_sha256(const void *data, size_t n, unsigned char out[SL_SHA256_LEN])
{
    unsigned int len = 0;

    if (!EVP_Digest(data, n, out, &len, sha256_md(), NULL) || len != SL_SHA256_LEN)
        abort();
}

struct sl_sha256_ctx *sl_sha256_new(void)
{
    struct sl_sha256_ctx *c = calloc(1, sizeof(*c));

    if (!c || !SHA256_Init(&c->c))
        abort();
    return c;
}

void sl_sha256_update(struct sl_sha256_ctx *c, const void *data, size_t n)
{
    if (n && !SHA256_Update(&c->c, data, n))
        abort();
}

void sl_sha256_final(struct sl_sha256_ctx *c, unsigned char out[SL_SHA256_LEN])
{
    if (!SHA256_Final(out, &c->c))
        abort();
    sl_sha256_free(c);
}

void sl_sha256_free(struct sl_sha256_ctx *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

/* Counts `blocks` whole blocks hashed into `c` outside SHA256_Update (the
 * bit length is Nh:Nl). */
static void count_blocks(SHA256_CTX *c, size_t blocks)
{
    uint64_t bits = ((uint64_t)c->Nh << 32 | c->Nl) + (uint64_t)blocks * 512;

    c->Nl = (SHA_LONG)bits;
    c->Nh = (SHA_LONG)(bits >> 32);
}

void sl_sha256_update_and_digest(struct sl_sha256_ctx *c, const void *cp, size_t cn, const void *p,
                                 size_t n, unsigned char out[SL_SHA256_LEN])
{
    const unsigned char *a = cp, *b = p;
    SHA256_CTX d;
    size_t m;

    if (!sl__shani_available()) {
        sl_sha256_update(c, cp, cn);
        sl_sha256(p, n, out);
        return;
    }
    if (!SHA256_Init(&d))
        abort();
    if (c->c.num != 0) {
        /* c has a partial block: complete it first */
        size_t k = SHA256_CBLOCK - c->c.num;
        if (k > cn)
            k = cn;
        sl_sha256_update(c, a, k);
        a += k;
        cn -= k;
    }
    m = c->c.num == 0 ? (cn < n ? cn : n) / SHA256_CBLOCK : 0;
    if (m > 0) {
        sl__shani_x2(c->c.h, a, d.h, b, m);
        count_blocks(&c->c, m);
        count_blocks(&d, m);
        a += m * SHA256_CBLOCK;
        b += m * SHA256_CBLOCK;
        cn -= m * SHA256_CBLOCK;
        n -= m * SHA256_CBLOCK;
    }
    if ((cn && !SHA256_Update(&c->c, a, cn)) || (n && !SHA256_Update(&d, b, n)) ||
        !SHA256_Final(out, &d))
        abort();
}

void sl_sha256_pair(const void *a, size_t na, unsigned char oa[SL_SHA256_LEN], const void *b,
                    size_t nb, unsigned char ob[SL_SHA256_LEN])
{
    struct sl_sha256_ctx c;

    if (!sl__shani_available()) {
        sl_sha256(a, na, oa);
        sl_sha256(b, nb, ob);
        return;
    }
    if (!SHA256_Init(&c.c))
        abort();
    sl_sha256_update_and_digest(&c, a, na, b, nb, ob);
    if (!SHA256_Final(oa, &c.c))
        abort();
}

void sl_sha256_2(const void *a, size_t na, const void *b, size_t nb,
                 unsigned char out[SL_SHA256_LEN])
{
    SHA256_CTX c;

    if (!SHA256_Init(&c) || (na && !SHA256_Update(&c, a, na)) ||
        (nb && !SHA256_Update(&c, b, nb)) || !SHA256_Final(out, &c))
        abort();
}
#pragma GCC diagnostic pop

void sl_random(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fprintf(stderr, "sluice: the system random number generator failed\n");
        abort();
    }
}

bool sl_secret_eq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void sl_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

void sl_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool sl_unhex(const char *in, size_t inlen, unsigned char *out, size_t n)
{
    if (inlen != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

size_t sl_base64(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

    return len < 0 ? 0 : (size_t)len;
}

bool sl_unbase64(const char *in, size_t inlen, unsigned char *out, size_t cap, size_t *outlen)
{
    unsigned char *tmp;
    int len;
    size_t pad = 0;

    if (inlen % 4 != 0 || inlen / 4 * 3 > cap + 2)
        return false;
    for (size_t i = 0; i < inlen; i++) {
        char ch = in[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
                  (ch == '=' && i >= inlen - 2);
        if (!ok)
            return false;
    }
    if (inlen >= 1 && in[inlen - 1] == '=')
        pad++;
    if (inlen >= 2 && in[inlen - 2] == '=')
        pad++;
    if (pad == 1 && in[inlen - 2] == '=')
        return false;
    tmp = malloc(inlen / 4 * 3 + 1);
    if (!tmp)
        abort();
    len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)inlen);
    if (len < 0 || (size_t)len < pad || (size_t)len - pad > cap) {
        free(tmp);
        return false;
    }
    memcpy(out, tmp, (size_t)len - pad);
    *outlen = (size_t)len - pad;
    free(tmp);
    return true;
}

void sl_ed25519_keygen(unsigned char pub[SL_ED25519_PUB_LEN],
                       unsigned char priv[SL_ED25519_PRIV_LEN])
{
    sl_random(priv, SL_ED25519_PRIV_LEN);
    if (sl_ed25519_public(priv, pub) != SL_OK)
        abort();
}

enum sl_err sl_ed25519_public(const unsigned char priv[SL_ED25519_PRIV_LEN],
                              unsigned char pub[SL_ED25519_PUB_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, SL_ED25519_PRIV_LEN);
    size_t len = SL_ED25519_PUB_LEN;
    enum sl_err rc = SL_OK;

    if (!k)
        return SL_EINPUT;
    if (EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != SL_ED25519_PUB_LEN)
        rc = SL_EINTERNAL;
    EVP_PKEY_free(k);
    return rc;
}

enum sl_err sl_ed25519_sign(const unsigned char priv[SL_ED25519_PRIV_LEN], const void *msg,
                            size_t n, unsigned char sig[SL_ED25519_SIG_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, SL_ED25519_PRIV_LEN);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t len = SL_ED25519_SIG_LEN;
    enum sl_err rc = SL_OK;

    if (!k || !md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(md, sig, &len, msg, n) != 1 || len != SL_ED25519_SIG_LEN)
        rc = SL_EINTERNAL;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

bool sl_ed25519_verify(const unsigned char pub[SL_ED25519_PUB_LEN], const void *msg, size_t n,
                       const unsigned char sig[SL_ED25519_SIG_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SL_ED25519_PUB_LEN);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(md, sig, SL_ED25519_SIG_LEN, msg, n) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return ok;
}

void sl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[SL_SHA256_LEN])
{
    unsigned char k[64], pad[64], inner[SL_SHA256_LEN];
    struct sl_sha256_ctx *c;

    memset(k, 0, sizeof(k));
    if (keylen > sizeof(k))
        sl_sha256(key, keylen, k);
    else if (keylen)
        memcpy(k, key, keylen);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    c = sl_sha256_new();
    sl_sha256_update(c, pad, sizeof(pad));
    sl_sha256_update(c, msg, n);
    sl_sha256_final(c, inner);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    c = sl_sha256_new();
    sl_sha256_update(c, pad, sizeof(pad));
    sl_sha256_update(c, inner, sizeof(inner));
    sl_sha256_final(c, out);
    sl_wipe(k, sizeof(k));
    sl_wipe(pad, sizeof(pad));
}

/* ---- keyed PRF ---- */

struct sl_prf {
    EVP_CIPHER_CTX *ctx;
};

static EVP_CIPHER *aes256ctr;
static pthread_once_t aes_once = PTHREAD_ONCE_INIT;

static void fetch_aes(void)
{
    aes256ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
}

struct sl_prf *sl_prf_new(const unsigned char key[SL_PRF_KEY_LEN])
{
    struct sl_prf *p = calloc(1, sizeof(*p));

    pthread_once(&aes_once, fetch_aes);
    if (!p || !aes256ctr || !(p->ctx = EVP_CIPHER_CTX_new()))
        abort();
    sl_prf_rekey(p, key);
    return p;
}

void sl_prf_rekey(struct sl_prf *p, const unsigned char key[SL_PRF_KEY_LEN])
{
    unsigned char iv[16] = {0};

    if (!EVP_EncryptInit_ex(p->ctx, aes256ctr, NULL, key, iv))
        abort();
}

void sl_prf_blocks(struct sl_prf *p, uint64_t nonce, uint64_t block, unsigned char *out, size_t n)
{
    unsigned char iv[16];
    int len;

    for (int i = 0; i < 8; i++) {
        iv[i] = (unsigned char)(nonce >> (56 - 8 * i));
        iv[8 + i] = (unsigned char)(block >> (56 - 8 * i));
    }
    /* A new IV restarts the counter (and drops any partial block). */
    if (!EVP_EncryptInit_ex(p->ctx, NULL, NULL, NULL, iv))
        abort();
    memset(out, 0, n);
    while (n > 0) {
        int take = n > (1u << 30) ? 1 << 30 : (int)n;
        if (!EVP_EncryptUpdate(p->ctx, out, &len, out, take) || len != take)
            abort();
        out += take;
        n -= (size_t)take;
    }
}

void sl_prf_free(struct sl_prf *p)
{
    if (!p)
        return;
    EVP_CIPHER_CTX_free(p->ctx);
    free(p);
}
