/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The text of the governance documents sluice signs as C2SP signed notes
 * (docs/access.md): licenses, evaluator attestations and the revocation
 * list. Each is a first line naming the kind and version, then one
 * "key value" line per field in a fixed order. Parsing is strict: every
 * field once, in order, with its syntax checked; the message names the line.
 * Signing and verifying is the note module's job (note.h).
 */
#ifndef SL_TLOG_GOVDOC_H
#define SL_TLOG_GOVDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_GOV_MODEL_MAX   193 /* "org/name", 96 + 1 + 96 */
#define SL_GOV_PURPOSE_MAX 2000
#define SL_GOV_METHOD_MAX  500
#define SL_GOV_ID_LEN      16 /* license ids: 16 lower-case hex digits */

struct sl_license {
    char id[SL_GOV_ID_LEN + 1];
    char model[SL_GOV_MODEL_MAX + 1];
    char commit[65];
    char tier[16];
    char licensee[64]; /* keyed pseudonym, "acct:" + 16 hex */
    char purpose[SL_GOV_PURPOSE_MAX + 1];
    int64_t issued;  /* unix seconds */
    int64_t expires; /* unix seconds; 0 = never */
    /* The fingerprint recipient the licensee's downloads are marked for
     * (docs/fingerprint.md); 0 when they are not fingerprinted. Written as
     * an optional last line "fingerprint recipient N", so that the licensee
     * is told in the document they keep. */
    uint32_t fingerprint;
    /* A gated or hosted license issued before the "use" line existed: it
     * parses, and formats back without the line (one spelling each). */
    bool no_use_line;
};

struct sl_attestation {
    char model[SL_GOV_MODEL_MAX + 1];
    char commit[65];
    char domain[16]; /* cbrn, cyber, autonomy, persuasion */
    char level[16];  /* none, low, medium, high, critical */
    char method[SL_GOV_METHOD_MAX + 1];
    int64_t date; /* unix seconds */
};

struct sl_revocation {
    char id[SL_GOV_ID_LEN + 1];
    int64_t revoked;
};

/* True for a one-line text field: 1..max bytes of valid UTF-8 without
 * control characters and without leading or trailing spaces. */
bool sl_gov_text_ok(const char *s, size_t max);

/* True unless the character `cp` is a control (C0, DEL, C1 such as
 * U+0085), a line or paragraph separator (U+2028, U+2029), a bidirectional
 * control (U+200E, U+200F, U+061C, U+202A-U+202E, U+2066-U+2069) or a BOM:
 * characters that make signed text read otherwise. */
bool sl_gov_char_ok(uint32_t cp);

/* What a license of `tier` lets the licensee do, as its "use" line says;
 * NULL for tiers whose licenses have no such line. */
const char *sl_license_use(const char *tier);

/* Evaluation domains and levels an attestation may name. */
bool sl_gov_domain_ok(const char *s);
bool sl_gov_level_ok(const char *s);

/* Formats unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into `buf` (21 bytes). */
const char *sl_gov_time(int64_t t, char *buf);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DD" (midnight UTC). */
bool sl_gov_parse_time(const char *s, int64_t *t);

/* The note text of a document (malloc'd, ends with '\n'); NULL with `err`
 * set when a field is not valid. */
char *sl_license_text(const struct sl_license *l, struct sl_error *err);
char *sl_attestation_text(const struct sl_attestation *a, struct sl_error *err);
char *sl_revocations_text(const char *origin, int64_t updated, const struct sl_revocation *r,
                          size_t n, struct sl_error *err);

/* Parses a document's note text (the part before the signatures). */
enum sl_err sl_license_parse(const char *text, size_t n, struct sl_license *l,
                             struct sl_error *err);
enum sl_err sl_attestation_parse(const char *text, size_t n, struct sl_attestation *a,
                                 struct sl_error *err);
/* `*out` is malloc'd (the caller frees it); `origin` holds 256 bytes. */
enum sl_err sl_revocations_parse(const char *text, size_t n, char *origin, int64_t *updated,
                                 struct sl_revocation **out, size_t *count, struct sl_error *err);

#endif
