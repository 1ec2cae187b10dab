/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The read API's JSON rendered from typed results (src/http/render_read.c):
 * the exact bytes of the model list, a model and a version (with and
 * without files), times in UTC, stored documents parsed and null when
 * absent or unreadable, and a null tier for a model with no versions.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/render_read.h"

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);

    json_decref(v);
    return s;
}

Test(render_read, models)
{
    struct sl_reg_model_summary m = {"acme", "m1", "open", 2, "ab"};
    char *s = dump(sl_render_models(&m, 1));

    cr_expect_str_eq(s, "[{\"model\":\"acme/m1\",\"tier\":\"open\",\"latest\":{\"version\":2,"
                        "\"commit\":\"ab\"}}]");
    free(s);
}

Test(render_read, model)
{
    struct sl_reg_model_ref ref = {"main", "ab"};
    struct sl_reg_model_version v = {1, "ab", "gated", "click", 0, 10, 3, 5};
    struct sl_reg_model_doc d = {&ref, 1, &v, 1, v.tier, 3, 5};
    struct sl_reg_model_doc none;
    char *s = dump(sl_render_model("acme", "m1", &d));

    cr_expect_str_eq(s, "{\"model\":\"acme/m1\",\"tier\":\"gated\",\"refs\":{\"main\":\"ab\"},"
                        "\"versions\":[{\"version\":1,\"commit\":\"ab\",\"tier\":\"gated\","
                        "\"min_tier\":\"click\",\"created\":\"1970-01-01T00:00:00.000Z\","
                        "\"bytes_total\":10,\"downloads\":3,\"downloads_all_time\":5}],"
                        "\"downloads\":3,\"downloads_all_time\":5}");
    free(s);
    memset(&none, 0, sizeof(none));
    s = dump(sl_render_model("acme", "m1", &none));
    cr_expect_str_eq(
        s, "{\"model\":\"acme/m1\",\"tier\":null,\"refs\":{},\"versions\":[],\"downloads\":0,"
           "\"downloads_all_time\":0}");
    free(s);
}

Test(render_read, version_with_and_without_files)
{
    struct sl_version_ref v;
    struct sl_reg_version_file f = {"w.bin", 5000, "cd"};
    struct sl_reg_version_doc d;
    char *s;

    memset(&v, 0, sizeof(v));
    v.seq = 1;
    strcpy(v.commit, "ab");
    strcpy(v.tier, "open");
    strcpy(v.min_tier, "open");
    v.created = 86400;
    v.bytes_total = 5000;
    memset(&d, 0, sizeof(d));
    d.with_files = true;
    d.files = &f;
    d.nfiles = 1;
    d.stored = true;
    d.inspect = "not json";
    d.decision = "{\"tier\":\"open\"}";
    strcpy(d.floor_tier, "open");
    s = dump(sl_render_version("acme", "m1", &v, &d));
    cr_expect_str_eq(s, "{\"model\":\"acme/m1\",\"version\":1,\"commit\":\"ab\",\"tier\":\"open\","
                        "\"min_tier\":\"open\",\"created\":\"1970-01-02T00:00:00.000Z\","
                        "\"bytes_total\":5000,\"files\":[{\"path\":\"w.bin\",\"size\":5000,"
                        "\"sha256\":\"cd\"}],\"inspect\":null,\"decision\":{\"tier\":\"open\"},"
                        "\"license\":null,\"floor_tier\":\"open\"}");
    free(s);
    /* no files asked for: neither files nor the inspection report */
    d.with_files = false;
    d.license = "apache-2.0";
    s = dump(sl_render_version("acme", "m1", &v, &d));
    cr_expect_str_eq(s, "{\"model\":\"acme/m1\",\"version\":1,\"commit\":\"ab\",\"tier\":\"open\","
                        "\"min_tier\":\"open\",\"created\":\"1970-01-02T00:00:00.000Z\","
                        "\"bytes_total\":5000,\"decision\":{\"tier\":\"open\"},"
                        "\"license\":\"apache-2.0\",\"floor_tier\":\"open\"}");
    free(s);
}
