/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed notes on the client, all offline: evaluator key files (made with
 * `sluice eval keygen`, in the PRIVATE+KEY form of Go's note package),
 * signing attestations (`sluice eval sign`), and reading and verifying
 * licenses against the server's key and its signed revocation list
 * (`sluice license show|verify`). The note format itself is tlog/note.c's;
 * the document texts are tlog/govdoc.c's.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "tlog/govdoc.h"
#include "tlog/note.h"
#include "common/banned.h"

#define SKEY_PREFIX   "PRIVATE+KEY+"
#define KEY_FILE_MAX  4096
#define SIG_DASH      "\xe2\x80\x94 " /* "— ", which starts a signature line */
#define SIG_BYTES_MAX 1024

char *sl_client_skey_format(const struct sl_note_key *k)
{
    unsigned char raw[33];
    char b64[64], *out;

    if (!k->has_priv || !sl_note_name_ok(k->name))
        return NULL;
    raw[0] = SL_NOTE_TYPE_ED25519;
    memcpy(raw + 1, k->priv, 32);
    sl_base64(raw, sizeof(raw), b64);
    out = sl_xasprintf(SKEY_PREFIX "%s+%08x+%s", k->name, (unsigned)k->id, b64);
    sl_wipe(raw, sizeof(raw));
    sl_wipe(b64, sizeof(b64));
    return out;
}

enum sl_err sl_client_skey_parse(const char *text, size_t n, struct sl_note_key *k,
                                 struct sl_error *err)
{
    const char *p, *end = text + n, *plus;
    unsigned char raw[34], idb[4];
    char name[SL_NOTE_NAME_MAX + 1];
    size_t rawlen = 0, nlen;
    uint32_t id;
    enum sl_err rc = SL_EINPUT;

    memset(k, 0, sizeof(*k));
    /* One line; a final newline (or CRLF) is allowed. */
    if (n && end[-1] == '\n')
        end--;
    if (end > text && end[-1] == '\r')
        end--;
    if ((size_t)(end - text) < sizeof(SKEY_PREFIX) ||
        memcmp(text, SKEY_PREFIX, sizeof(SKEY_PREFIX) - 1) != 0) {
        sl_error_set(err, SL_EINPUT,
                     "not a signer key: it does not start with \"" SKEY_PREFIX
                     "\" (a file from `sluice eval keygen` does)");
        goto out;
    }
    p = text + sizeof(SKEY_PREFIX) - 1;
    plus = memchr(p, '+', (size_t)(end - p));
    nlen = plus ? (size_t)(plus - p) : 0;
    if (!plus || nlen == 0 || nlen > SL_NOTE_NAME_MAX) {
        sl_error_set(err, SL_EINPUT, "malformed signer key: no key name");
        goto out;
    }
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    if (!sl_note_name_ok(name)) {
        sl_error_set(err, SL_EINPUT, "malformed signer key: the key name is not valid");
        goto out;
    }
    p = plus + 1;
    if (end - p < 10 || p[8] != '+' || !sl_unhex(p, 8, idb, 4)) {
        sl_error_set(err, SL_EINPUT, "malformed signer key: no 8-digit hex key ID after the name");
        goto out;
    }
    for (int i = 0; i < 8; i++)
        if (p[i] >= 'A' && p[i] <= 'F') {
            sl_error_set(err, SL_EINPUT, "malformed signer key: the key ID is not lower-case hex");
            goto out;
        }
    id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    p += 9;
    if (!sl_unbase64(p, (size_t)(end - p), raw, sizeof(raw), &rawlen) || rawlen != 33) {
        sl_error_set(err, SL_EINPUT, "malformed signer key: the key is not base64 of 33 bytes");
        goto out;
    }
    if (raw[0] != SL_NOTE_TYPE_ED25519) {
        rc = sl_error_set(err, SL_EUNSUPPORTED,
                          "signer key of type 0x%02x: only Ed25519 (0x01) is supported", raw[0]);
        goto out;
    }
    rc = sl_note_key_from_seed(name, raw + 1, k, err);
    if (rc)
        goto out;
    if (k->id != id) {
        sl_note_key_clear(k);
        rc = sl_error_set(err, SL_EINPUT,
                          "malformed signer key: the key ID %08x does not match the key (%08x); "
                          "the file is damaged",
                          (unsigned)id,
                          (unsigned)sl_note_key_id(name, SL_NOTE_TYPE_ED25519, k->pub));
        goto out;
    }
    rc = SL_OK;
out:
    sl_wipe(raw, sizeof(raw));
    if (rc)
        memset(k, 0, sizeof(*k));
    return rc;
}

enum sl_err sl_client_keygen(const char *name, const char *path, struct sl_note_key *k,
                             struct sl_error *err)
{
    unsigned char seed[32];
    char *skey = NULL;
    size_t len, done = 0;
    int fd = -1;
    bool created = false;
    enum sl_err rc;

    memset(k, 0, sizeof(*k));
    if (!sl_note_name_ok(name))
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": a key name is 1-255 bytes of UTF-8 without spaces, control "
                            "characters or '+'",
                            name);
    sl_random(seed, sizeof(seed));
    rc = sl_note_key_from_seed(name, seed, k, err);
    sl_wipe(seed, sizeof(seed));
    if (rc)
        return rc;
    skey = sl_client_skey_format(k);
    len = strlen(skey);
    skey[len++] = '\n'; /* replaces the NUL: written as a line */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            rc = sl_error_set(err, SL_ECONFLICT,
                              "%s: the file exists; a key file is never replaced (choose another "
                              "--out, or remove it if the key is no longer needed)",
                              path);
        else
            rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    created = true;
    if (fchmod(fd, 0600) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot set mode 0600: %s", path, strerror(errno));
        goto out;
    }
    while (done < len) {
        ssize_t w = write(fd, skey + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", path, strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: fsync failed: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = sl_error_set(err, SL_EIO, "%s: close failed: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    if (rc && created)
        (void)unlink(path);
    if (skey) {
        sl_wipe(skey, len);
        free(skey);
    }
    if (rc)
        sl_note_key_clear(k);
    return rc;
}

enum sl_err sl_client_key_load(const char *path, struct sl_note_key *k, struct sl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    enum sl_err rc = sl_read_file(path, KEY_FILE_MAX, &text, &len, err);

    if (rc)
        return rc;
    rc = sl_client_skey_parse(text, len, k, err);
    if (rc)
        sl_error_prefix(err, "%s", path);
    sl_wipe(text, len);
    free(text);
    return rc;
}

enum sl_err sl_client_attestation_sign(const struct sl_note_key *k, const struct sl_attestation *a,
                                       char **note, size_t *len, struct sl_error *err)
{
    char *text = sl_attestation_text(a, err);
    enum sl_err rc;

    if (!text)
        return err ? err->code : SL_EINPUT;
    rc = sl_note_sign(text, strlen(text), k, 1, note, len, err);
    free(text);
    return rc;
}

/* Splits a note into its text and its first signature line, without
 * verifying anything: `*text_len` bytes of text (final newline included),
 * the key name and ID of the first signature. */
static enum sl_err split_note(const char *note, size_t n, size_t *text_len, char *signer,
                              uint32_t *id, struct sl_error *err)
{
    const char *sigs = NULL, *line, *sp, *nl;
    unsigned char raw[SIG_BYTES_MAX];
    size_t rawlen = 0, nlen;

    if (n > SL_NOTE_MAX)
        return sl_error_setk(err, SL_ELIMIT, SL_NOTE_K_MALFORMED,
                             "the note is larger than %u bytes", (unsigned)SL_NOTE_MAX);
    if (memchr(note, '\0', n))
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED, "the note holds a NUL byte");
    /* The text ends at the last blank line (as Go's note.Open reads it). */
    for (size_t i = n; i >= 2; i--) {
        if (note[i - 1] == '\n' && note[i - 2] == '\n') {
            sigs = note + i;
            *text_len = i - 1;
            break;
        }
    }
    if (!sigs || *text_len == 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "not a signed note: no blank line before signatures");
    line = sigs;
    nl = memchr(line, '\n', (size_t)(note + n - line));
    if (!nl || (size_t)(nl - line) < sizeof(SIG_DASH) ||
        memcmp(line, SIG_DASH, sizeof(SIG_DASH) - 1) != 0)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "not a signed note: no signature line after the blank line");
    line += sizeof(SIG_DASH) - 1;
    sp = memchr(line, ' ', (size_t)(nl - line));
    nlen = sp ? (size_t)(sp - line) : 0;
    if (!sp || nlen == 0 || nlen > SL_NOTE_NAME_MAX ||
        !sl_unbase64(sp + 1, (size_t)(nl - sp - 1), raw, sizeof(raw), &rawlen) || rawlen < 5)
        return sl_error_setk(err, SL_EINPUT, SL_NOTE_K_MALFORMED,
                             "not a signed note: malformed signature line");
    memcpy(signer, line, nlen);
    signer[nlen] = '\0';
    *id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    return SL_OK;
}

enum sl_err sl_client_license_read(const char *note, size_t n, struct sl_license_check *c,
                                   struct sl_error *err)
{
    size_t text_len = 0;
    enum sl_err rc;

    memset(c, 0, sizeof(*c));
    rc = split_note(note, n, &text_len, c->signer, &c->signer_id, err);
    if (rc)
        return rc;
    rc = sl_license_parse(note, text_len, &c->lic, err);
    if (rc)
        sl_error_prefix(err, "not a sluice license");
    return rc;
}

static const char *fmt_time(int64_t t, char *buf)
{
    return sl_gov_time(t, buf);
}

/* Checks the revocation list and records what it says about `c`. */
static enum sl_err check_revocations(const char *list, size_t n, const struct sl_note_key *key,
                                     struct sl_license_check *c, struct sl_error *err)
{
    struct sl_note opened = {0};
    struct sl_revocation *r = NULL;
    struct sl_error e;
    char origin[256];
    size_t count = 0;
    enum sl_err rc;

    rc = sl_note_open(list, n, key, 1, &opened, &e);
    if (rc)
        return sl_error_setk(err, SL_EREFUSED, "BadRevocationList",
                             "the server's revocation list does not verify with the key \"%s\" "
                             "(%s), so revocation cannot be checked",
                             key->name, e.msg);
    rc = sl_revocations_parse(opened.text, opened.text_len, origin, &c->revocations_updated, &r,
                              &count, &e);
    sl_note_free(&opened);
    if (rc)
        return sl_error_setk(err, SL_EREFUSED, "BadRevocationList",
                             "the server's revocation list is malformed (%s), so revocation "
                             "cannot be checked",
                             e.msg);
    c->revocations_checked = true;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(r[i].id, c->lic.id) == 0) {
            c->revoked = true;
            c->revoked_at = r[i].revoked;
            break;
        }
    }
    free(r);
    return SL_OK;
}

enum sl_err sl_client_license_verify(const char *note, size_t n, const struct sl_note_key *key,
                                     int64_t now, const char *revocations, size_t rlen,
                                     struct sl_license_check *c, struct sl_error *err)
{
    struct sl_note opened = {0};
    struct sl_error e;
    char t1[24];
    enum sl_err rc = sl_client_license_read(note, n, c, err);

    if (rc)
        return rc;
    rc = sl_note_open(note, n, key, 1, &opened, &e);
    if (rc == SL_EINPUT || rc == SL_ELIMIT) {
        if (err)
            *err = e;
        return rc;
    }
    if (rc) {
        if (e.kind && strcmp(e.kind, SL_NOTE_K_UNVERIFIED) == 0)
            return sl_error_setk(err, SL_EREFUSED, "InvalidSignature",
                                 "the license is signed by \"%s\" (key ID %08x), not by the key "
                                 "\"%s\" (key ID %08x)",
                                 c->signer, (unsigned)c->signer_id, key->name, (unsigned)key->id);
        return sl_error_setk(err, SL_EREFUSED, "InvalidSignature",
                             "the signature does not verify with the key \"%s\" (key ID %08x): "
                             "the license was altered or forged",
                             key->name, (unsigned)key->id);
    }
    /* Parse what was verified, not what was read before. */
    rc = sl_license_parse(opened.text, opened.text_len, &c->lic, err);
    sl_note_free(&opened);
    if (rc)
        return rc;
    c->signature_ok = true;
    c->expired = c->lic.expires != 0 && c->lic.expires <= now;
    if (revocations) {
        rc = check_revocations(revocations, rlen, key, c, err);
        if (rc)
            return rc;
    }
    if (c->revoked)
        return sl_error_setk(err, SL_EREFUSED, "Revoked", "license %s was revoked on %s", c->lic.id,
                             fmt_time(c->revoked_at, t1));
    if (c->expired)
        return sl_error_setk(err, SL_EREFUSED, "Expired", "license %s expired on %s", c->lic.id,
                             fmt_time(c->lic.expires, t1));
    return SL_OK;
}
