/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic JSON output from a jansson tree: object keys sorted by byte
 * value, no insignificant whitespace (or a fixed two-space indent), integers
 * exact, reals in the shortest form that reads back to the same double. The
 * compact form is the canonical JSON that decisions and log entries use.
 */
#ifndef SL_COMMON_JSONOUT_H
#define SL_COMMON_JSONOUT_H

#include <jansson.h>
#include <stddef.h>

/* Returns a new NUL-terminated string the caller frees. `indent` 0 gives the
 * canonical compact form; 2 gives a readable form with the same content. */
char *sl_json_dump(json_t *v, int indent, size_t *len);

struct sl_buf;

/* Appends `s[0..n)` as a JSON string literal (quotes included). */
void sl_json_put_string(struct sl_buf *b, const char *s, size_t n);

#endif
