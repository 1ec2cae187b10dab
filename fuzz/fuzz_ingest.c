/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes chunk upload bodies (POST .../chunks): frames of SHA-256, u32 LE
 * length and bytes, fed to sl_ingest_* on a real data folder (in /dev/shm,
 * fsync made a no-op through the vfs table for speed). The first byte sets
 * the size of the pieces the body arrives in and whether the declared
 * length is the true one, or (top bits 10) that the body is part of a file
 * session (?file=ID&from=K, one of four sessions, K from 0 to 2), so the
 * streamed digest, its memory windows and the inline path are fuzzed too.
 * Beyond memory errors it checks the rule that
 * nothing is stored half-way: after a refused body no chunk of it became
 * visible unless it was stored before, and after an accepted one every
 * chunk is visible and reads back with its hash.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/vfs.h"
#include "crypto/crypto.h"
#include "registry/registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_registry *reg;
static int64_t org;
static char dir[64];

static int no_fsync(int fd)
{
    (void)fd;
    return 0;
}

static struct sl_vfs fast;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void cleanup(void)
{
    if (reg)
        sl_registry_close(reg);
    reg = NULL;
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sl_registry_opts o;
    struct sl_error err;

    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/sluice-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    fast = sl_vfs_posix;
    fast.fsync = no_fsync;
    sl_vfs_set(&fast);
    memset(&o, 0, sizeof(o));
    o.create = true;
    if (sl_registry_open(dir, &o, &reg, NULL, &err) != SL_OK ||
        sl_reg_org_add(reg, "acme", &err) != SL_OK ||
        sl_reg_org_id(reg, "acme", &org, &err) != SL_OK)
        abort();
    atexit(cleanup);
    return 0;
}

#define MAXF 64

/* The well-formed frames at the start of the body: their hashes and
 * whether the bytes hash to them. */
static size_t frames(const uint8_t *p, size_t n, unsigned char (*ids)[32], bool *good)
{
    size_t k = 0;

    while (n >= 36 && k < MAXF) {
        uint32_t len =
            (uint32_t)p[32] | (uint32_t)p[33] << 8 | (uint32_t)p[34] << 16 | (uint32_t)p[35] << 24;
        unsigned char h[32];
        if (len == 0 || len > n - 36)
            break;
        memcpy(ids[k], p, 32);
        sl_sha256(p + 36, len, h);
        good[k] = memcmp(h, p, 32) == 0;
        k++;
        p += 36 + len;
        n -= 36 + len;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char ids[MAXF][32];
    bool good[MAXF], before[MAXF], after[MAXF];
    struct sl_ingest *in = NULL;
    struct sl_error err;
    json_t *res = NULL;
    size_t piece, nf;
    uint64_t declared;
    unsigned char sid[16]; /* a file session id (SL_FH_SID_LEN) */
    bool session;
    enum sl_err rc;

    if (size == 0)
        return 0;
    piece = 1 + (size_t)(data[0] & 0x3f) * 97;
    declared = (data[0] & 0x40) ? size - 1 + (data[0] >> 7) : size - 1;
    session = (data[0] & 0xC0) == 0x80;
    memset(sid, 0, sizeof(sid));
    sid[0] = (unsigned char)(size & 3);
    data++;
    size--;
    nf = frames(data, size, ids, good);
    if (nf &&
        sl_reg_chunks_missing(reg, org, (const unsigned char(*)[32])ids, nf, before, &err) != SL_OK)
        abort();
    rc = sl_ingest_begin(reg, org, declared, session ? sid : NULL, session ? piece % 3 : 0, &in,
                         &err);
    for (size_t off = 0; rc == SL_OK && off < size; off += piece) {
        size_t take = size - off < piece ? size - off : piece;
        rc = sl_ingest_feed(in, data + off, take, &err);
    }
    if (rc == SL_OK)
        rc = sl_ingest_finish(in, &res, &err);
    else if (in)
        sl_ingest_abort(in);
    if (rc != SL_OK && err.msg[0] == '\0')
        abort();
    json_decref(res);
    if (nf &&
        sl_reg_chunks_missing(reg, org, (const unsigned char(*)[32])ids, nf, after, &err) != SL_OK)
        abort();
    for (size_t i = 0; i < nf; i++) {
        /* missing[] is true for chunks the org lacks */
        if (rc != SL_OK && before[i] && !after[i])
            abort(); /* a refused body stored a chunk */
        if (rc == SL_OK && after[i])
            abort(); /* an accepted body left a chunk out */
        if (rc == SL_OK && !good[i])
            abort(); /* a chunk with the wrong hash was accepted */
    }
    return 0;
}
