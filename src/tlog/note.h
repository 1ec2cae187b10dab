/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The text formats of the transparency log: C2SP signed notes (c2sp.org/signed-note,
 * Ed25519 keys of type 0x01), checkpoints (c2sp.org/tlog-checkpoint, the body of the
 * log's signed tree head) and offline inclusion proofs (c2sp.org/tlog-proof@v1).
 * Pure parsing, formatting, signing and verification over bytes in memory; the
 * Merkle arithmetic lives elsewhere in tlog/.
 *
 * Signed note (every byte is UTF-8 with no control character other than '\n'):
 *
 *   <text: one or more lines, each ending in '\n'>
 *   '\n'                                  (the last "\n\n" separates text from signatures)
 *   "— " <key name> ' ' base64(key ID (4, big-endian) || signature) '\n'   (1..100 lines)
 *
 * The signed message is the text with its final newline. Key ID of an Ed25519 key =
 * SHA-256(name || 0x0A || 0x01 || 32-byte public key)[0:4]. Verifier key (vkey) text:
 * <name> '+' <8 lowercase hex of the key ID> '+' base64(0x01 || public key).
 *
 * Checkpoint text:  <origin>\n <tree size, decimal>\n <base64 root hash>\n [<extension>\n ...]
 *
 * tlog-proof:  "c2sp.org/tlog-proof@v1\n" ["extra " base64 "\n"] "index " <decimal> "\n"
 *              <base64 hash>\n ... (leaf sibling first)  "\n"  <signed checkpoint note verbatim>
 *
 * All base64 is RFC 4648 standard with padding, and must be canonical (zero padding
 * bits), which is stricter than Go's decoder; no honest encoder produces anything else.
 */
#ifndef SL_TLOG_NOTE_H
#define SL_TLOG_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_NOTE_MAX      65536 /* largest signed note accepted, in bytes */
#define SL_NOTE_NAME_MAX 255   /* longest key name (and checkpoint origin), in bytes */
#define SL_NOTE_SIGS_MAX 100   /* most signature lines in one note (Go's limit) */
/* Longest vkey text, with its NUL: name '+' 8 hex '+' 44 base64. */
#define SL_NOTE_VKEY_MAX (SL_NOTE_NAME_MAX + 1 + 8 + 1 + 44 + 1)

#define SL_NOTE_TYPE_ED25519 0x01 /* signature type byte of Ed25519 signed-note keys */

/* The `kind` set in struct sl_error by the functions below, so callers can tell a
 * forged or unverifiable note from a garbled one without reading the message. */
#define SL_NOTE_K_MALFORMED  "MalformedNote"    /* SL_EINPUT or SL_ELIMIT */
#define SL_NOTE_K_UNVERIFIED "UnverifiedNote"   /* SL_EREFUSED: no known key signed */
#define SL_NOTE_K_BADSIG     "InvalidSignature" /* SL_EREFUSED: a known key's line fails */
#define SL_NOTE_K_CHECKPOINT "MalformedCheckpoint"
#define SL_NOTE_K_PROOF      "MalformedProof"
#define SL_NOTE_K_VKEY       "MalformedVerifierKey"

/* ---- keys ---- */

/* A verifier key (and, when `has_priv`, a signer key) of type 0x01 Ed25519. `id` is
 * the key ID as a number (the vkey shows it as 8 hex digits). `priv` is the
 * 32-byte Ed25519 seed; wipe it with sl_note_key_clear() when done. */
struct sl_note_key {
    char name[SL_NOTE_NAME_MAX + 1];
    uint32_t id;
    unsigned char pub[32];
    unsigned char priv[32];
    bool has_priv;
};

/* Returns true when `name` (NUL-terminated) is a valid key name under the C2SP rules:
 * non-empty, well-formed UTF-8, no Unicode space (Go's unicode.IsSpace set) and no
 * '+'. We also require at most SL_NOTE_NAME_MAX bytes and no control characters. */
bool sl_note_name_ok(const char *name);

/* Returns the key ID of the public key `pub` of signature type `type` for `name`:
 * the first four bytes, big-endian, of SHA-256(name || 0x0A || type || pub). */
uint32_t sl_note_key_id(const char *name, unsigned char type, const unsigned char pub[32]);

/* Builds a signer key named `name` from a 32-byte Ed25519 seed: derives the public
 * key and key ID. Fails with SL_EINPUT when `name` is not a valid key name. */
enum sl_err sl_note_key_from_seed(const char *name, const unsigned char seed[32],
                                  struct sl_note_key *k, struct sl_error *err);

/* Wipes a key (the seed included). NULL is a no-op. */
void sl_note_key_clear(struct sl_note_key *k);

/* Writes the vkey text of `k` ("name+hexid+base64(0x01||pub)") with a NUL into `out`
 * of `cap` bytes (SL_NOTE_VKEY_MAX always suffices). Fails with SL_EINPUT for an
 * invalid name and SL_ELIMIT when `cap` is too small. */
enum sl_err sl_note_vkey(const struct sl_note_key *k, char *out, size_t cap, struct sl_error *err);

/* Parses the vkey text `vkey[0..n)` (no NUL needed, no trailing newline allowed)
 * into `k`, with has_priv false. The name must be valid, the key ID exactly 8
 * lowercase hex digits equal to the ID recomputed from the key, the base64 part
 * canonical. A well-formed key of a type other than 0x01 (for example a 0x04
 * cosignature key) fails with SL_EUNSUPPORTED; anything else wrong with SL_EINPUT
 * (kind SL_NOTE_K_VKEY). */
enum sl_err sl_note_vkey_parse(const char *vkey, size_t n, struct sl_note_key *k,
                               struct sl_error *err);

/* ---- signed notes ---- */

/* Signs `text[0..n)` with each of `keys[0..nkeys)` (all must have has_priv, distinct
 * names or IDs, and a public key that matches the seed) and returns the note in a
 * new NUL-terminated buffer `*note` of `*note_len` bytes that the caller frees.
 * Signature lines follow the order of `keys`. The text must be non-empty, valid
 * UTF-8 without control characters other than '\n', and end with '\n' (SL_EINPUT
 * otherwise); the note must fit in SL_NOTE_MAX and nkeys in SL_NOTE_SIGS_MAX
 * (SL_ELIMIT). Ed25519 is deterministic: the same text and keys give the same bytes. */
enum sl_err sl_note_sign(const char *text, size_t n, const struct sl_note_key *keys, size_t nkeys,
                         char **note, size_t *note_len, struct sl_error *err);

/* One signature line of an opened note. `sig` (owned by the note) holds the bytes
 * after the key ID: 64 for Ed25519, 72 for a cosignature/v1, more for other types.
 * `verified` is true when a key passed to sl_note_open() made it. */
struct sl_note_sig {
    char name[SL_NOTE_NAME_MAX + 1];
    uint32_t id;
    unsigned char *sig;
    size_t sig_len;
    bool verified;
};

/* An opened note: the signed text (NUL-terminated, final newline included) and its
 * signatures in the order of their lines. */
struct sl_note {
    char *text;
    size_t text_len;
    struct sl_note_sig *sigs;
    size_t nsigs;
};

/* Parses the signed note `buf[0..n)` and verifies it against `keys[0..nkeys)`
 * (`keys` may be NULL when nkeys is 0), like Go's note.Open:
 *
 *  - a note over SL_NOTE_MAX bytes or with more than SL_NOTE_SIGS_MAX signature
 *    lines fails with SL_ELIMIT; a malformed one (bad UTF-8, a control character,
 *    no blank line, a bad signature line, two lines for the same key name and ID)
 *    with SL_EINPUT. Both have kind SL_NOTE_K_MALFORMED and name the byte offset
 *    or line number.
 *  - a line whose name and key ID match a key that does not verify fails the whole
 *    note with SL_EREFUSED, kind SL_NOTE_K_BADSIG.
 *  - lines by unknown keys are kept with verified false (witness cosignatures, for
 *    instance); if no line verifies, SL_EREFUSED with kind SL_NOTE_K_UNVERIFIED.
 *  - two entries of `keys` with the same name and ID fail with SL_EUSAGE.
 *
 * Unlike Go, a repeated line for the same key is an error rather than skipped, so
 * a second, unchecked signature can never ride along behind a verified one.
 * On success `*out` is filled and must be released with sl_note_free(); on failure
 * it is left empty. */
enum sl_err sl_note_open(const char *buf, size_t n, const struct sl_note_key *keys, size_t nkeys,
                         struct sl_note *out, struct sl_error *err);

/* Frees what sl_note_open() put in `n` and empties it. NULL is a no-op. */
void sl_note_free(struct sl_note *n);

/* ---- checkpoints ---- */

/* A checkpoint body. `extra` holds the extension lines, each non-empty and ending
 * in '\n', as one NUL-terminated string, or NULL when there are none. */
struct sl_checkpoint {
    char origin[SL_NOTE_NAME_MAX + 1];
    uint64_t size;
    unsigned char root[32];
    char *extra;
};

/* Formats `c` as checkpoint text ("origin\nsize\nbase64(root)\n" then `extra`) into
 * a new NUL-terminated buffer `*text` of `*len` bytes that the caller frees. The
 * origin must be non-empty UTF-8 without control characters, `extra` NULL, empty or
 * non-empty lines each ending in '\n' (SL_EINPUT otherwise). */
enum sl_err sl_checkpoint_format(const struct sl_checkpoint *c, char **text, size_t *len,
                                 struct sl_error *err);

/* Parses the checkpoint text `text[0..n)` (the text of an opened note, not the note)
 * strictly: at least three lines, every line non-empty and ending in '\n', an origin
 * of at most SL_NOTE_NAME_MAX bytes (spaces are allowed: "go.sum database tree"),
 * the size in decimal without sign, leading zeros or overflow, the root canonical
 * base64 of exactly 32 bytes, valid UTF-8 without control characters. Fails with
 * SL_EINPUT (kind SL_NOTE_K_CHECKPOINT) naming the line, or SL_ELIMIT over
 * SL_NOTE_MAX. On success release `c` with sl_checkpoint_free(); on failure it holds
 * nothing to free. */
enum sl_err sl_checkpoint_parse(const char *text, size_t n, struct sl_checkpoint *c,
                                struct sl_error *err);

/* Frees `c->extra` and sets it to NULL. NULL is a no-op. */
void sl_checkpoint_free(struct sl_checkpoint *c);

/* ---- tlog-proof ---- */

/* An inclusion path for a uint64 tree size is at most 64 hashes long (size 2^64-1,
 * leaf 0: 63 hashes inside the left 2^63 subtree, then its sibling). */
#define SL_TLOG_PROOF_HASHES_MAX 64
#define SL_TLOG_PROOF_MAX        (2 * SL_NOTE_MAX) /* largest proof text accepted */

/* A c2sp.org/tlog-proof@v1. `extra` is the optional, unauthenticated extra data
 * (meaningful only when `has_extra`; it may be empty then). `checkpoint` is the
 * signed checkpoint note, verbatim; nothing here verifies it: pass it to
 * sl_note_open() and its text to sl_checkpoint_parse(), then check the inclusion
 * of the leaf at `index` against the root. */
struct sl_tlog_proof {
    uint64_t index;
    unsigned char hashes[SL_TLOG_PROOF_HASHES_MAX][32];
    size_t nhashes;
    bool has_extra;
    unsigned char *extra;
    size_t extra_len;
    char *checkpoint;
    size_t checkpoint_len;
};

/* Formats `p` as tlog-proof text into a new NUL-terminated buffer `*text` of `*len`
 * bytes that the caller frees. `p->checkpoint` must be non-empty and end in '\n',
 * `p->nhashes` at most SL_TLOG_PROOF_HASHES_MAX (SL_EINPUT otherwise). */
enum sl_err sl_tlog_proof_format(const struct sl_tlog_proof *p, char **text, size_t *len,
                                 struct sl_error *err);

/* Parses tlog-proof text `text[0..n)` strictly: UTF-8 without control characters
 * other than '\n' throughout, the exact header line, an optional
 * "extra " line of canonical base64, "index " and a decimal without leading zeros
 * or overflow, up to SL_TLOG_PROOF_HASHES_MAX lines of canonical base64 of 32 bytes,
 * one empty line, then a non-empty checkpoint note of at most SL_NOTE_MAX bytes
 * ending in '\n', copied verbatim (its signatures are not checked here). Fails with
 * SL_EINPUT (kind SL_NOTE_K_PROOF) naming the line, SL_ELIMIT over the limits. On
 * success release `p` with sl_tlog_proof_free(); on failure it holds nothing. */
enum sl_err sl_tlog_proof_parse(const char *text, size_t n, struct sl_tlog_proof *p,
                                struct sl_error *err);

/* Frees the extra data and the checkpoint of `p` and empties them. NULL is a no-op. */
void sl_tlog_proof_free(struct sl_tlog_proof *p);

#endif
