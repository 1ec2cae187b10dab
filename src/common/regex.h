/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small regular-expression engine that runs in linear time: patterns are
 * compiled once into a Thompson NFA program and matched by simulating every
 * thread at once (Pike VM without captures), so no pattern and no text can
 * make it backtrack. The hosted gateway's filters use it (docs/hosted.md,
 * "Filters"); glibc's regexec backtracks and is not used. Text is UTF-8 and
 * is matched by code point; a match can be fed in pieces (a stream).
 *
 * The subset (docs/hosted.md lists it for users):
 *   literals, `.` (any character, newline included), classes `[a-z]`,
 *   `[^...]`, escapes `\d \w \s` (ASCII) and their negations `\D \W \S`,
 *   `\n \r \t`, `\` before any punctuation; anchors `^` (start of the text)
 *   and `$` (end of the text); groups `(...)` with alternation `|`;
 *   `* + ?` and `{m}`, `{m,}`, `{m,n}` (at most SL_RE_REPEAT_MAX); a `?`
 *   after a quantifier is accepted (lazy) and changes nothing, since only
 *   whether there is a match is reported. Everything else is refused with
 *   the byte offset where it stands.
 */
#ifndef SL_COMMON_REGEX_H
#define SL_COMMON_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_RE_PATTERN_MAX 1024 /* bytes of one pattern */
#define SL_RE_PROG_MAX    2000 /* instructions once repetitions are expanded */
#define SL_RE_REPEAT_MAX  100  /* the largest count in {m,n} */
#define SL_RE_DEPTH_MAX   32   /* nested groups */

/* Compile flags. */
#define SL_RE_ICASE   1u /* case-insensitive (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic) */
#define SL_RE_LITERAL 2u /* the pattern is a plain string: no character is special */

struct sl_re;
struct sl_re_run;

/* Compiles `pat` (`n` bytes of UTF-8, at most SL_RE_PATTERN_MAX) with
 * `flags`. On success `*out` is the program, immutable and safe to share
 * between threads; free it with sl_re_free(). On failure returns SL_EINPUT
 * (a syntax error) or SL_ELIMIT (too long, too large once expanded, nested
 * too deep), sets `*pos` (may be NULL) to the byte offset in the pattern the
 * error is about, and `err` to a message that names it ("unbalanced ')' at
 * offset 4"). */
enum sl_err sl_re_compile(const char *pat, size_t n, unsigned flags, struct sl_re **out,
                          size_t *pos, struct sl_error *err);

/* Frees a program. NULL is a no-op. */
void sl_re_free(struct sl_re *re);

/* The number of instructions of `re` (what a match costs per character). */
size_t sl_re_size(const struct sl_re *re);

/* Whether `re` matches anywhere in the `n` bytes of `text`. Time is linear
 * in `n` times the program's size; memory is the program's size. Invalid
 * UTF-8 bytes match only `.` and negated classes. Returns false as well when
 * memory runs out. */
bool sl_re_search(const struct sl_re *re, const char *text, size_t n);

/* A search fed in pieces: new, feed any number of times, end. A piece may
 * end inside a UTF-8 sequence. Feeding after a match is cheap (nothing is
 * looked at). `re` must outlive the run. Returns NULL when memory runs out. */
struct sl_re_run *sl_re_run_new(const struct sl_re *re);

/* Feeds `n` more bytes; returns whether the pattern has matched so far
 * (sticky: once true, always true). `$` is only decided by sl_re_run_end. */
bool sl_re_run_feed(struct sl_re_run *run, const char *text, size_t n);

/* The text has ended: returns whether the pattern matched anywhere, `$`
 * included. Further feeds are ignored. */
bool sl_re_run_end(struct sl_re_run *run);

/* Frees a run. NULL is a no-op. */
void sl_re_run_free(struct sl_re_run *run);

/* The simple lower-case of code point `c` over the scripts SL_RE_ICASE
 * covers; other code points are returned unchanged. */
uint32_t sl_re_fold(uint32_t c);

#endif
