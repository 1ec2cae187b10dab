/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice hosted filter set|show|clear ORG/NAME [FILE]`: a hosted model's
 * filter (docs/hosted.md, "Filters"). Unlike backends and quotas, which are
 * the operator's and work on the data folder, a filter is the publisher's:
 * these commands talk to the server with the logged-in token, and the
 * server lets only the model's publishers and org admins through. A file is
 * checked here first, with the server's own parser, so a bad pattern is
 * named (rule id, offset) before anything is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/io.h"
#include "common/util.h"
#include "hosted/filter.h"
#include "common/banned.h"

static void print_filter(json_t *res)
{
    json_t *f = json_object_get(res, "filter"), *rule;
    size_t i;

    if (!json_is_object(f)) {
        printf("%s: no filter\n", json_string_value(json_object_get(res, "model")));
        return;
    }
    printf("%s: filter\n", json_string_value(json_object_get(res, "model")));
    json_array_foreach(json_object_get(f, "rules"), i, rule)
    {
        printf("  rule %-20s %-6s %-7s %-6s%s %s\n", json_string_value(json_object_get(rule, "id")),
               json_string_value(json_object_get(rule, "where")),
               json_string_value(json_object_get(rule, "kind")),
               json_string_value(json_object_get(rule, "action")),
               json_is_true(json_object_get(rule, "case_insensitive")) ? " (any case)" : "",
               json_string_value(json_object_get(rule, "pattern")));
    }
    if (json_is_integer(json_object_get(f, "max_tokens")))
        printf("  max_tokens %lld\n",
               (long long)json_integer_value(json_object_get(f, "max_tokens")));
    if (json_is_array(json_object_get(f, "allowed_parameters"))) {
        json_t *p;
        printf("  allowed parameters (beyond the core ones):");
        json_array_foreach(json_object_get(f, "allowed_parameters"), i, p)
        {
            printf(" %s", json_string_value(p));
        }
        printf("\n");
    }
}

int sl__cmd_hosted_filter(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_filter *f = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *text = NULL;
    const char *verb = a->npos >= 2 ? a->pos[1] : "";
    const char *method;
    json_t *body = NULL, *res = NULL;
    size_t len = 0;
    int code = 0;

    sl_error_clear(&err);
    if (strcmp(verb, "set") == 0) {
        method = "PUT";
        if (a->npos != 4)
            return sl_cli_usage("hosted", "usage: sluice hosted filter set ORG/NAME FILE");
    } else if (strcmp(verb, "show") == 0 || strcmp(verb, "clear") == 0) {
        method = verb[0] == 's' ? "GET" : "DELETE";
        if (a->npos != 3)
            return sl_cli_usage("hosted", "usage: sluice hosted filter %s ORG/NAME", verb);
    } else {
        return sl_cli_usage("hosted", "usage: sluice hosted filter set|show|clear ORG/NAME [FILE]");
    }
    if (sl_client_parse_model(a->pos[2], &org, &name, &rev, &err) != SL_OK ||
        strchr(a->pos[2], '@')) {
        code = sl_cli_usage("hosted", "the model must be ORG/NAME, got \"%s\"", a->pos[2]);
        goto out;
    }
    if (method[0] == 'P') {
        json_error_t je;
        if (sl_read_file(a->pos[3], SL_FILTER_TEXT_MAX, &text, &len, &err) != SL_OK) {
            code = sl_cli_fail(&err);
            goto out;
        }
        if (sl_filter_parse(text, len, &f, &err) != SL_OK) {
            sl_error_prefix(&err, "%s", a->pos[3]);
            code = sl_cli_fail(&err);
            goto out;
        }
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_hosted_filter(cl, method, org, name, body, &res, &err) != SL_OK) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json"))
        sl_cli_print_json(res);
    else if (method[0] == 'D')
        printf("%s: %s\n", json_string_value(json_object_get(res, "model")),
               json_is_true(json_object_get(res, "cleared")) ? "filter cleared" : "had no filter");
    else
        print_filter(res);
out:
    json_decref(res);
    json_decref(body);
    sl_filter_free(f);
    free(text);
    free(org);
    free(name);
    free(rev);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}
