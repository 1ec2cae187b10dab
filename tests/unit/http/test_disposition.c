/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content-Disposition of file downloads (src/http/files.c): a file name
 * from the publisher never breaks out of the header's quoted string, and a
 * name a quoted string cannot carry goes exactly in filename* (RFC 6266).
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "http/http_int.h"

static void check(const char *path, const char *want)
{
    char *got = sl_content_disposition(path);
    cr_assert_str_eq(got, want, "%s", path);
    free(got);
}

Test(disposition, plain_names)
{
    check("config.json", "attachment; filename=\"config.json\"");
    check("sub/dir/extra.txt", "attachment; filename=\"extra.txt\"");
    check("a b;c=d.bin", "attachment; filename=\"a b;c=d.bin\"");
}

Test(disposition, names_a_quoted_string_cannot_carry)
{
    check("x\";filename=evil.html", "attachment; filename=\"x_;filename=evil.html\"; "
                                    "filename*=UTF-8''x%22%3Bfilename%3Devil.html");
    check("back\\slash", "attachment; filename=\"back_slash\"; filename*=UTF-8''back%5Cslash");
    check("50%.bin", "attachment; filename=\"50_.bin\"; filename*=UTF-8''50%25.bin");
    check("d/mod\xc3\xa8le.bin",
          "attachment; filename=\"mod__le.bin\"; filename*=UTF-8''mod%C3%A8le.bin");
}
