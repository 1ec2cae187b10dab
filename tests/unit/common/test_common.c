/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/: UTF-8 validation, the JSON pull reader, canonical JSON output,
 * dates, capped buffers and the string map.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/buf.h"
#include "common/date.h"
#include "common/jsonout.h"
#include "common/jsonread.h"
#include "common/strmap.h"
#include "common/util.h"

Test(utf8, accepts_valid_and_names_first_bad_byte)
{
    size_t bad = 99;
    const char *ok = "plain ascii, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80 and more ascii text";

    cr_expect(sl_utf8_valid((const unsigned char *)ok, strlen(ok), &bad));
    cr_expect(!sl_utf8_valid((const unsigned char *)"abc\xc0\xafz", 6, &bad), "overlong");
    cr_expect_eq(bad, 3);
    cr_expect(!sl_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3, &bad), "surrogate");
    cr_expect(!sl_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4, &bad), "> U+10FFFF");
    cr_expect(!sl_utf8_valid((const unsigned char *)"abcdefgh\xe2\x82", 10, &bad), "cut");
    cr_expect_eq(bad, 8);
}

Test(utf8, scrub_replaces_each_bad_byte_and_keeps_the_rest)
{
    char cut[] = "caf\xc3\xa9 \xc3";           /* a character cut at a byte count */
    char mixed[] = "\xff\xfe ok \xe2\x82\xac"; /* stray bytes before a valid euro sign */
    char bad[] = "\xc0\xaf\xed\xa0\x80";       /* an overlong and a surrogate */
    char empty[] = "";

    sl_utf8_scrub(cut);
    cr_expect_str_eq(cut, "caf\xc3\xa9 ?");
    sl_utf8_scrub(mixed);
    cr_expect_str_eq(mixed, "?? ok \xe2\x82\xac");
    sl_utf8_scrub(bad);
    cr_expect_str_eq(bad, "?????");
    sl_utf8_scrub(empty);
    cr_expect_str_eq(empty, "");
    cr_expect(sl_utf8_valid((const unsigned char *)mixed, strlen(mixed), NULL));
}

Test(jsonread, walks_objects_arrays_and_numbers)
{
    const char *s =
        " {\"a\": [1, 18446744073709551615], \"b\\u00e9\\n\": \"x\\\"y\", \"c\": -2.5e3} ";
    struct sl_jr jr;
    struct sl_error err;
    bool first = true, more;
    const char *k, *v;
    size_t kn, vn;
    uint64_t u;
    double d;

    sl_jr_init(&jr, s, strlen(s), 0, "t", 8, &err);
    cr_assert_eq(sl_jr_begin_object(&jr), SL_OK);
    cr_assert_eq(sl_jr_next_key(&jr, &first, &k, &kn, &more), SL_OK);
    cr_assert(more && kn == 1 && k[0] == 'a');
    {
        bool f2 = true, m2;
        cr_assert_eq(sl_jr_begin_array(&jr), SL_OK);
        cr_assert_eq(sl_jr_next_elem(&jr, &f2, &m2), SL_OK);
        cr_assert_eq(sl_jr_u64(&jr, &u), SL_OK);
        cr_expect_eq(u, 1);
        cr_assert_eq(sl_jr_next_elem(&jr, &f2, &m2), SL_OK);
        cr_assert_eq(sl_jr_u64(&jr, &u), SL_OK);
        cr_expect_eq(u, UINT64_MAX);
        cr_assert_eq(sl_jr_next_elem(&jr, &f2, &m2), SL_OK);
        cr_expect(!m2);
    }
    cr_assert_eq(sl_jr_next_key(&jr, &first, &k, &kn, &more), SL_OK);
    cr_expect_eq(kn, 4);
    cr_expect(memcmp(k, "b\xc3\xa9\n", 4) == 0, "escapes decoded");
    cr_assert_eq(sl_jr_string(&jr, &v, &vn), SL_OK);
    cr_expect(vn == 3 && memcmp(v, "x\"y", 3) == 0);
    cr_assert_eq(sl_jr_next_key(&jr, &first, &k, &kn, &more), SL_OK);
    cr_assert_eq(sl_jr_number(&jr, &d), SL_OK);
    cr_expect(d == -2500.0);
    cr_assert_eq(sl_jr_next_key(&jr, &first, &k, &kn, &more), SL_OK);
    cr_expect(!more);
    cr_expect_eq(sl_jr_end(&jr), SL_OK);
    sl_jr_release(&jr);
}

static enum sl_err skip_all(const char *s, struct sl_error *err)
{
    struct sl_jr jr;
    enum sl_err rc;

    sl_jr_init(&jr, s, strlen(s), 100, "f.json", 4, err);
    rc = sl_jr_skip(&jr);
    if (!rc)
        rc = sl_jr_end(&jr);
    sl_jr_release(&jr);
    return rc;
}

Test(jsonread, rejects_bad_json_with_offsets)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"[[[[[1]]]]]", "deeper than 4"}, {"[01]", "leading zero"},
        {"[1.]", "digits after"},         {"[1e]", "exponent"},
        {"\"\\ud800\"", "surrogate"},     {"\"\\x\"", "unknown escape"},
        {"\"abc", "unterminated"},        {"[1,]", "expected a value"},
        {"{\"a\" 1}", "expected ':'"},    {"[tru]", "invalid literal"},
        {"[1] [2]", "after the end"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_error err;
        cr_expect_eq(skip_all(bad[i].text, &err), SL_EINPUT, "%s", bad[i].text);
        cr_expect(strstr(err.msg, bad[i].needle) != NULL, "%s -> %s", bad[i].text, err.msg);
        cr_expect(strncmp(err.msg, "f.json: byte 1", 14) == 0, "offset includes base: %s", err.msg);
    }
    {
        struct sl_error err;
        cr_expect_eq(skip_all("{\"a\":[1,{\"b\":null}],\"c\":\"\\ud83d\\ude00\"}", &err), SL_OK,
                     "%s", err.msg);
    }
}

Test(jsonread, u64_overflow_and_sign)
{
    struct sl_jr jr;
    struct sl_error err;
    uint64_t v;

    sl_jr_init(&jr, "18446744073709551616", 20, 0, "t", 4, &err);
    cr_expect_eq(sl_jr_u64(&jr, &v), SL_EINPUT);
    cr_expect(strstr(err.msg, "64 bits") != NULL);
    sl_jr_release(&jr);
    sl_jr_init(&jr, "-1", 2, 0, "t", 4, &err);
    cr_expect_eq(sl_jr_u64(&jr, &v), SL_EINPUT);
    sl_jr_release(&jr);
}

Test(jsonout, canonical_form)
{
    json_t *v = json_pack("{s:i, s:f, s:s, s:[b,n,f], s:{}}", "b", 2, "a", 0.1, "c", "q\"\x01", "d",
                          1, 1e25, "e");
    size_t len;
    char *s = sl_json_dump(v, 0, &len);

    cr_expect_str_eq(s,
                     "{\"a\":0.1,\"b\":2,\"c\":\"q\\\"\\u0001\",\"d\":[true,null,1e+25],\"e\":{}}");
    cr_expect_eq(len, strlen(s));
    free(s);
    json_decref(v);
}

Test(fmt, shortest_round_trip_doubles)
{
    char b[40];
    const double vals[] = {0.1, 1e25, 3.14e23, 1.0 / 3, 123456789.0, 6.02214076e23, 1e-300};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        cr_expect(strtod(sl_fmt_double(vals[i], b, sizeof(b)), NULL) == vals[i], "%s", b);
    cr_expect_str_eq(sl_fmt_double(2000, b, sizeof(b)), "2000");
    cr_expect_str_eq(sl_fmt_double(1e25, b, sizeof(b)), "1e+25");
    cr_expect_str_eq(sl_fmt_count(1234567, b, sizeof(b)), "1,234,567");
    cr_expect_str_eq(sl_fmt_count(12, b, sizeof(b)), "12");
}

Test(date, parse_format_and_reject)
{
    int32_t d;
    char b[11];

    cr_assert(sl_date_parse("1970-01-01", &d));
    cr_expect_eq(d, 0);
    cr_assert(sl_date_parse("2024-02-29", &d));
    cr_expect_str_eq(sl_date_format(d, b), "2024-02-29");
    cr_assert(sl_date_parse("2027-01-01", &d));
    cr_expect_eq(d, 20819);
    cr_expect(!sl_date_parse("2023-02-29", &d), "not a leap year");
    cr_expect(!sl_date_parse("2026-13-01", &d));
    cr_expect(!sl_date_parse("2026-1-01", &d));
    cr_expect(!sl_date_parse("2026-01-01x", &d));
    cr_expect(!sl_date_parse("", &d));
}

Test(buf, cap_is_enforced)
{
    struct sl_buf b = SL_BUF_INIT(8);

    cr_expect_eq(sl_buf_adds(&b, "12345678"), SL_OK);
    cr_expect_eq(sl_buf_addc(&b, '9'), SL_ELIMIT);
    cr_expect_eq(b.len, 8);
    cr_expect_str_eq(sl_buf_cstr(&b), "12345678");
    sl_buf_release(&b);
}

Test(strmap, insert_get_duplicate)
{
    struct sl_strmap m = SL_STRMAP_INIT;
    char keys[1000][16];
    uint32_t v;

    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        cr_assert(sl_strmap_insert(&m, keys[i], strlen(keys[i]), (uint32_t)i, NULL));
    }
    cr_expect(!sl_strmap_insert(&m, "k7", 2, 5, &v));
    cr_expect_eq(v, 7);
    cr_expect(sl_strmap_get(&m, "k999", 4, &v));
    cr_expect_eq(v, 999);
    cr_expect(!sl_strmap_get(&m, "k1000", 5, &v));
    sl_strmap_release(&m);
}
