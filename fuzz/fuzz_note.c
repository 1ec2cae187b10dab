/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the signed-note, checkpoint, vkey and tlog-proof parsers with the same
 * bytes. The parsers are strict, so whatever one accepts must format back to
 * exactly the input, and any text the signer accepts must open again: either
 * failing aborts, so the fuzzer finds lax parsing as well as memory errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlog/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The log key of the derived test vectors (RFC 8032 TEST 1 seed), so the seed
 * corpus holds notes that really verify. */
static const unsigned char seed[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static void same_or_abort(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) != 0)
        abort();
}

static void check_checkpoint(const char *text, size_t n)
{
    struct sl_checkpoint c;
    char *out;
    size_t len;

    if (sl_checkpoint_parse(text, n, &c, NULL) != SL_OK)
        return;
    if (sl_checkpoint_format(&c, &out, &len, NULL) != SL_OK)
        abort();
    same_or_abort(out, len, text, n);
    free(out);
    sl_checkpoint_free(&c);
}

static void check_note(const char *buf, size_t n, const struct sl_note_key *k)
{
    struct sl_note note;

    if (sl_note_open(buf, n, k, 1, &note, NULL) != SL_OK)
        return;
    if (note.nsigs == 0 || note.text_len >= n || memcmp(note.text, buf, note.text_len) != 0 ||
        note.text[note.text_len] != '\0')
        abort();
    check_checkpoint(note.text, note.text_len);
    sl_note_free(&note);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_note_key key;
    static int ready;
    const char *s = (const char *)data;
    struct sl_note_key vk;
    struct sl_tlog_proof p;
    char *out;
    size_t len;

    if (!ready) {
        if (sl_note_key_from_seed("example.com/testlog", seed, &key, NULL) != SL_OK)
            abort();
        ready = 1;
    }

    check_note(s, size, &key);
    check_checkpoint(s, size);

    if (sl_note_vkey_parse(s, size, &vk, NULL) == SL_OK) {
        char v[SL_NOTE_VKEY_MAX];

        if (sl_note_vkey(&vk, v, sizeof(v), NULL) != SL_OK)
            abort();
        same_or_abort(v, strlen(v), s, size);
    }

    if (sl_tlog_proof_parse(s, size, &p, NULL) == SL_OK) {
        if (sl_tlog_proof_format(&p, &out, &len, NULL) != SL_OK)
            abort();
        same_or_abort(out, len, s, size);
        free(out);
        check_note(p.checkpoint, p.checkpoint_len, &key);
        sl_tlog_proof_free(&p);
    }

    /* Whatever text the signer takes must open with the same key and give the
     * text back. */
    if (sl_note_sign(s, size, &key, 1, &out, &len, NULL) == SL_OK) {
        struct sl_note note;

        if (sl_note_open(out, len, &key, 1, &note, NULL) != SL_OK || note.text_len != size ||
            memcmp(note.text, s, size) != 0 || note.nsigs != 1 || !note.sigs[0].verified)
            abort();
        sl_note_free(&note);
        free(out);
    }
    return 0;
}
