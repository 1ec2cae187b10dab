/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log's JSON answers rendered from typed results (src/http/render_log.c):
 * the exact bytes of an entries list and a report, an entry whose stored
 * text does not parse (null, with its text kept), and proofs in base64.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonout.h"
#include "http/render_log.h"

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);

    json_decref(v);
    return s;
}

Test(render_log, entries_keep_the_stored_text)
{
    struct sl_reg_log_entry v[2] = {{7, "{\"type\":\"x\"}"}, {8, "not json"}};
    char *s = dump(sl_render_log_entries(v, 2));

    cr_expect_str_eq(s, "[{\"index\":7,\"entry\":{\"type\":\"x\"},\"text\":\"{\\\"type\\\":"
                        "\\\"x\\\"}\"},{\"index\":8,\"entry\":null,\"text\":\"not json\"}]");
    free(s);
    s = dump(sl_render_log_entries(NULL, 0));
    cr_expect_str_eq(s, "[]");
    free(s);
}

Test(render_log, report_in_its_documented_shape)
{
    unsigned char proof[2][32];
    struct sl_reg_report_event ev = {3, "{\"type\":\"version.published\"}", proof, 2};
    struct sl_reg_report_version ver = {1, "ab", "open", "click", "gated", 1700000000};
    struct sl_reg_report_eval ev2 = {1, "aisi", "cyber", "high", 20260101};
    struct sl_reg_report_grant g[2] = {{"approved", 2}, {"expired", 1}};
    struct sl_reg_report rep;
    char *s;

    memset(proof, 0, sizeof(proof));
    proof[1][31] = 1;
    memset(&rep, 0, sizeof(rep));
    rep.model = "acme/m1";
    rep.checkpoint = "note\n";
    rep.checkpoint_size = 9;
    rep.versions = &ver;
    rep.nversions = 1;
    rep.evals = &ev2;
    rep.nevals = 1;
    rep.grants = g;
    rep.ngrants = 2;
    rep.events = &ev;
    rep.nevents = 1;
    s = dump(sl_render_report(&rep));
    cr_expect_str_eq(
        s, "{\"model\":\"acme/m1\",\"checkpoint\":\"note\\n\",\"checkpoint_size\":9,\"versions\":["
           "{\"version\":1,\"commit\":\"ab\",\"tier\":\"open\",\"min_tier\":\"click\","
           "\"floor_tier\":\"gated\",\"created\":1700000000}],\"evaluations\":[{\"version\":1,"
           "\"evaluator\":\"aisi\",\"domain\":\"cyber\",\"level\":\"high\",\"date\":20260101}],"
           "\"grants\":{\"approved\":2,\"expired\":1},\"events\":[{\"index\":3,\"entry\":{"
           "\"type\":\"version.published\"},\"inclusion_proof\":["
           "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
           "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\"]}]}");
    free(s);
}
