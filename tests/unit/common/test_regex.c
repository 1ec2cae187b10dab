/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/regex: the linear-time engine of the hosted filters. The subset's
 * meaning, errors that name the offset, the limits, streaming in pieces
 * (a UTF-8 character or a match cut between pieces), case folding beyond
 * ASCII, and patterns that make a backtracking engine take exponential
 * time finishing in linear time.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/regex.h"

static struct sl_re *compile(const char *pat, unsigned flags)
{
    struct sl_re *re = NULL;
    struct sl_error err;
    size_t pos = 99;
    enum sl_err rc = sl_re_compile(pat, strlen(pat), flags, &re, &pos, &err);

    cr_assert_eq(rc, SL_OK, "compile %s: %s", pat, err.msg);
    return re;
}

static bool m(const char *pat, const char *text)
{
    struct sl_re *re = compile(pat, 0);
    bool r = sl_re_search(re, text, strlen(text));

    sl_re_free(re);
    return r;
}

static bool mi(const char *pat, const char *text)
{
    struct sl_re *re = compile(pat, SL_RE_ICASE);
    bool r = sl_re_search(re, text, strlen(text));

    sl_re_free(re);
    return r;
}

/* Expects `pat` refused with `code` at byte offset `pos`, the message
 * naming the offset and containing `what`. */
static void bad(const char *pat, enum sl_err code, size_t pos, const char *what)
{
    struct sl_re *re = NULL;
    struct sl_error err;
    size_t at = 999;
    char want[32];
    enum sl_err rc = sl_re_compile(pat, strlen(pat), 0, &re, &at, &err);

    cr_expect_eq(rc, code, "%s: rc %d (%s)", pat, rc, rc ? err.msg : "ok");
    cr_expect_null(re);
    if (rc == SL_OK) {
        sl_re_free(re);
        return;
    }
    cr_expect_eq(at, pos, "%s: at %zu, wanted %zu (%s)", pat, at, pos, err.msg);
    snprintf(want, sizeof(want), "at offset %zu", pos);
    cr_expect(strstr(err.msg, want), "%s: %s", pat, err.msg);
    cr_expect(strstr(err.msg, what), "%s: %s", pat, err.msg);
}

Test(regex, literals_dot_and_anchors)
{
    cr_expect(m("abc", "xxabcxx"));
    cr_expect(!m("abc", "ab c"));
    cr_expect(m("a.c", "a\nc"), "dot matches a newline");
    cr_expect(m("a.c", "a\xc3\xa9"
                       "c"),
              "dot is one character, not one byte");
    cr_expect(!m("a..c", "a\xc3\xa9"
                         "c"));
    cr_expect(m("^abc", "abcdef"));
    cr_expect(!m("^abc", "xabc"));
    cr_expect(m("def$", "abcdef"));
    cr_expect(!m("def$", "defx"));
    cr_expect(m("^$", ""));
    cr_expect(!m("^$", "x"));
    cr_expect(m("^a$", "a"));
    cr_expect(!m("a^b", "a^b"), "^ in the middle is the start of the text");
    cr_expect(m("a\\^b", "a^b"));
    cr_expect(m("\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\$", ".*+?()[]{}|\\$"));
    cr_expect(m("a\\tb\\nc\\r", "a\tb\nc\r"));
}

Test(regex, classes_and_perl_escapes)
{
    cr_expect(m("[a-c]x", "bx"));
    cr_expect(!m("[a-c]x", "dx"));
    cr_expect(m("[^a-c]x", "dx"));
    cr_expect(!m("^[^a-c]x", "ax"));
    cr_expect(m("[]]", "]"), "a ']' first is a member");
    cr_expect(m("[a-]", "-"), "a '-' last is a member");
    cr_expect(m("^\\d\\d\\d-\\d\\d\\d\\d$", "555-0199"));
    cr_expect(!m("\\d", "no digits"));
    cr_expect(m("^\\D+$", "no digits"));
    cr_expect(m("^\\w+$", "snake_case9"));
    cr_expect(!m("^\\w+$", "kebab-case"));
    cr_expect(m("\\W", "kebab-case"));
    cr_expect(m("a\\sb", "a\tb"));
    cr_expect(!m("a\\Sb", "a b"));
    cr_expect(m("^[\\d\\s]+$", "1 2\t3"));
    cr_expect(m("^[\\D]+$", "abc"));
    cr_expect(!m("^[\\D]+$", "ab1"));
    cr_expect(m("^[\\W]$", "\xc3\xa9"), "\\W includes every non-ASCII character");
    cr_expect(m("[\xc3\xa0-\xc3\xbf]", "caf\xc3\xa9"), "ranges of code points");
    cr_expect(m("[^a]", "\xff"), "an invalid byte meets a negated class");
}

Test(regex, groups_alternation_repetition)
{
    cr_expect(m("^(cat|dog)s?$", "dogs"));
    cr_expect(m("^(cat|dog)s?$", "cat"));
    cr_expect(!m("^(cat|dog)s?$", "cow"));
    cr_expect(m("^ab*c$", "ac"));
    cr_expect(m("^ab*c$", "abbbc"));
    cr_expect(!m("^ab+c$", "ac"));
    cr_expect(m("^ab+c$", "abbc"));
    cr_expect(m("^a{3}$", "aaa"));
    cr_expect(!m("^a{3}$", "aa"));
    cr_expect(!m("^a{3}$", "aaaa"));
    cr_expect(m("^a{2,}$", "aaaaaa"));
    cr_expect(!m("^a{2,}$", "a"));
    cr_expect(m("^a{2,4}$", "aaaa"));
    cr_expect(!m("^a{2,4}$", "aaaaa"));
    cr_expect(m("^(ab){0,2}$", ""));
    cr_expect(m("^(ab){0,2}$", "abab"));
    cr_expect(!m("^(ab){0,2}$", "ababab"));
    cr_expect(m("^a*?b$", "aab"), "a lazy quantifier is accepted");
    cr_expect(m("^(a|)+$", "aaa"), "an empty alternative inside a loop ends");
    cr_expect(m("^((a*)*)*b$", "aaab"));
    cr_expect(m("x|", "anything"), "an empty alternative matches everywhere");
    cr_expect(m("a(b|c(d|e))f", "xxacef"));
}

Test(regex, literal_flag_makes_nothing_special)
{
    struct sl_re *re = compile("(a+)+$ [x]", SL_RE_LITERAL);

    cr_expect(sl_re_search(re, "say (a+)+$ [x] now", 18));
    cr_expect(!sl_re_search(re, "aaaa x", 6));
    sl_re_free(re);
    re = compile("SeCrEt", SL_RE_LITERAL | SL_RE_ICASE);
    cr_expect(sl_re_search(re, "the secret is", 13));
    sl_re_free(re);
}

Test(regex, case_insensitive_beyond_ascii)
{
    cr_expect(mi("hello", "Say HeLLo"));
    cr_expect(!m("hello", "Say HeLLo"));
    cr_expect(mi("\xc3\x89"
                 "cole",
                 "\xc3\xa9"
                 "COLE"),
              "É and é");
    cr_expect(mi("\xc3\xa9"
                 "cole",
                 "\xc3\x89"
                 "cole"));
    cr_expect(
        mi("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1"),
        "Greek ΣΟΦΙΑ and σοφια");
    cr_expect(mi("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
                 "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2"),
              "Cyrillic привет and ПРИВЕТ");
    cr_expect(mi("\xc5\x82\xc3\xb3"
                 "d\xc5\xba",
                 "\xc5\x81\xc3\x93"
                 "D\xc5\xb9"),
              "Polish łódź ŁÓDŹ");
    cr_expect(mi("[a-c]", "B"), "classes fold too");
    cr_expect(mi("[A-C]", "b"));
    cr_expect(mi("[\xc3\xa0-\xc3\xbe]", "\xc3\x89"), "É in [à-þ]");
    cr_expect(!mi("[^a-z]", "Q"), "a negated class folds too");
    cr_expect_eq(sl_re_fold(0x178), 0xff);
    cr_expect_eq(sl_re_fold(0x141), 0x142, "Ł");
    cr_expect_eq(sl_re_fold('7'), '7');
    cr_expect_eq(sl_re_fold(0xd7), 0xd7, "the multiplication sign has no case");
}

Test(regex, errors_name_the_offset)
{
    bad("ab)", SL_EINPUT, 2, "unbalanced ')'");
    bad("(ab", SL_EINPUT, 0, "missing ')'");
    bad("x(a|(b)", SL_EINPUT, 1, "missing ')'");
    bad("[abc", SL_EINPUT, 0, "missing ']'");
    bad("ab[z-a]", SL_EINPUT, 3, "range out of order");
    bad("*a", SL_EINPUT, 0, "nothing to repeat");
    bad("a|+", SL_EINPUT, 2, "nothing to repeat");
    bad("^*", SL_EINPUT, 1, "nothing to repeat");
    bad("()+", SL_EINPUT, 2, "nothing to repeat");
    bad("a**", SL_EINPUT, 2, "quantifier after a quantifier");
    bad("a{2", SL_EINPUT, 1, "missing '}'");
    bad("a{x}", SL_EINPUT, 1, "count");
    bad("a{3,2}", SL_EINPUT, 1, "less than");
    bad("ab{101}", SL_ELIMIT, 2, "over 100");
    bad("a{99999999999999999999}", SL_ELIMIT, 1, "over 100");
    bad("a\\b", SL_EINPUT, 1, "unsupported escape");
    bad("a\\1", SL_EINPUT, 1, "unsupported escape");
    bad("[\\q]", SL_EINPUT, 1, "unsupported escape");
    bad("[a-\\d]", SL_EINPUT, 3, "cannot end a range");
    bad("abc\\", SL_EINPUT, 3, "trailing");
    bad("(?i)abc", SL_EINPUT, 1, "not supported");
    bad("ab\xff", SL_EINPUT, 2, "invalid UTF-8");
    bad("ab\xc3", SL_EINPUT, 2, "invalid UTF-8");
    bad("a}", SL_EINPUT, 1, "bracket");
}

Test(regex, limits)
{
    char pat[SL_RE_PATTERN_MAX + 2];
    struct sl_re *re = NULL;
    struct sl_error err;
    size_t pos;

    cr_expect_eq(sl_re_compile("", 0, 0, &re, &pos, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "empty"));

    memset(pat, 'a', sizeof(pat));
    cr_expect_eq(sl_re_compile(pat, SL_RE_PATTERN_MAX + 1, 0, &re, &pos, &err), SL_ELIMIT);
    cr_expect(strstr(err.msg, "longer than 1024"), "%s", err.msg);
    cr_expect_eq(sl_re_compile(pat, SL_RE_PATTERN_MAX, 0, &re, &pos, &err), SL_OK);
    sl_re_free(re);

    /* Nested counted repetition multiplies: refused before it is built. */
    bad("((a{100}){100}){100}", SL_ELIMIT, 1, "too large once repetitions are expanded");
    bad("(a{50}|b{50}){30}", SL_ELIMIT, 0, "too large");
    bad("a{40}b{40}c{40}(x{100}){20}", SL_ELIMIT, 15, "too large");

    /* 33 nested groups. */
    memset(pat, 0, sizeof(pat));
    for (int i = 0; i < 33; i++)
        pat[i] = '(';
    pat[33] = 'a';
    for (int i = 0; i < 33; i++)
        pat[34 + i] = ')';
    bad(pat, SL_ELIMIT, 32, "nested too deep");
    pat[0] = 'x'; /* 32 deep is fine once the first '(' is gone... */
    pat[66] = '\0';
    cr_expect_eq(sl_re_compile(pat, strlen(pat), 0, &re, &pos, &err), SL_OK, "%s", err.msg);
    cr_expect(sl_re_search(re, "xa", 2));
    cr_expect(sl_re_size(re) <= SL_RE_PROG_MAX);
    sl_re_free(re);
}

static double seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The time of searching `pat` in `n` copies of `fill` followed by `tail`. */
static double time_search(const char *pat, char fill, size_t n, const char *tail, bool want)
{
    struct sl_re *re = compile(pat, 0);
    size_t tn = strlen(tail);
    char *text = malloc(n + tn);
    double t0, t1;

    memset(text, fill, n);
    memcpy(text + n, tail, tn);
    t0 = seconds();
    cr_expect_eq(sl_re_search(re, text, n + tn), want, "%s", pat);
    t1 = seconds();
    free(text);
    sl_re_free(re);
    return t1 - t0;
}

Test(regex, catastrophic_patterns_run_in_linear_time, .timeout = 60)
{
    /* (a+)+$ on 100k 'a's and a final '!': a backtracking engine tries
     * 2^100000 ways. Linear means ten times the text takes about ten times
     * as long, never a hundred. */
    const char *pats[] = {"(a+)+$", "(a|aa)+$", "(a*)*b", "^(a|a)*c", "(.*a){20}x"};

    for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
        double small = time_search(pats[k], 'a', 10000, "!", false);
        double big = time_search(pats[k], 'a', 100000, "!", false);
        cr_expect(big < 5.0, "%s on 100k: %.3f s", pats[k], big);
        cr_expect(big < 30 * small + 0.1, "%s: 10k %.4f s, 100k %.4f s", pats[k], small, big);
    }
    cr_expect(time_search("(a+)+$", 'a', 100000, "", true) < 5.0);
}

Test(regex, fed_in_pieces)
{
    struct sl_re *re = compile("forbidden phrase", SL_RE_ICASE);
    const char *text = "xx FORBIDDEN PHRASE yy";
    size_t n = strlen(text);

    /* Every cut into two and into single bytes still finds it. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct sl_re_run *run = sl_re_run_new(re);
        bool a = sl_re_run_feed(run, text, cut);
        bool b = sl_re_run_feed(run, text + cut, n - cut);
        cr_expect(!a || cut >= 19, "matched before the phrase was whole (cut %zu)", cut);
        cr_expect(b, "cut at %zu", cut);
        cr_expect(sl_re_run_end(run));
        sl_re_run_free(run);
    }
    sl_re_free(re);

    /* A two-byte character cut in the middle. */
    re = compile("caf\xc3\xa9!", 0);
    {
        struct sl_re_run *run = sl_re_run_new(re);
        cr_expect(!sl_re_run_feed(run, "a caf\xc3", 6));
        cr_expect(sl_re_run_feed(run, "\xa9!", 2));
        sl_re_run_free(run);
    }
    /* A cut sequence followed by ASCII is a bad byte, then the ASCII. */
    {
        struct sl_re_run *run = sl_re_run_new(re);
        cr_expect(!sl_re_run_feed(run, "caf\xc3", 4));
        cr_expect(!sl_re_run_feed(run, "e!", 2));
        cr_expect(!sl_re_run_end(run));
        sl_re_run_free(run);
    }
    sl_re_free(re);

    /* $ is decided at the end only; ^ only at the very start. */
    re = compile("^ab$", 0);
    {
        struct sl_re_run *run = sl_re_run_new(re);
        cr_expect(!sl_re_run_feed(run, "a", 1));
        cr_expect(!sl_re_run_feed(run, "b", 1));
        cr_expect(sl_re_run_end(run));
        sl_re_run_free(run);
        run = sl_re_run_new(re);
        sl_re_run_feed(run, "ab", 2);
        cr_expect(!sl_re_run_feed(run, "c", 1));
        cr_expect(!sl_re_run_end(run));
        sl_re_run_free(run);
    }
    sl_re_free(re);
}

Test(regex, invalid_utf8_text_is_matched_safely)
{
    cr_expect(m("a.b", "a\xffz"
                       "b") == false);
    cr_expect(m("a.b", "a\xff"
                       "b"));
    cr_expect(m("a.b", "a\xc0\xaf"
                       "b") == false,
              "an overlong pair is two bad bytes");
    cr_expect(m("a..b", "a\xc0\xaf"
                        "b"));
    cr_expect(m("a.b", "a\xe0\x80\x80"
                       "b"),
              "a complete overlong triple is one bad character");
    cr_expect(!m("\xc3\xa9", "\xc3"));
}
