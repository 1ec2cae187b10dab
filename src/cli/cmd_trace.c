/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice trace FILE... --model ORG/NAME [--json]`: sends a suspect copy of
 * a model's weights to the server, which reads the fingerprints in it and
 * scores every recipient the model's gated copies were ever issued to
 * (docs/fingerprint.md). Publishers of the model's org and admins only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/util.h"
#include "common/banned.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_report(json_t *r)
{
    json_t *acc = json_object_get(r, "accused"), *e;
    size_t i;
    long long read = json_integer_value(json_object_get(r, "positions_read"));
    long long total = json_integer_value(json_object_get(r, "positions_total"));

    printf("Traced against %s version %lld (commit %.12s)\n", str(r, "model"),
           (long long)json_integer_value(json_object_get(r, "version")), str(r, "commit"));
    printf("  positions read   %lld of %lld\n", read, total);
    if (json_is_number(json_object_get(r, "threshold_z")))
        printf("  recipients       %lld scored, accused at z >= %.1f\n",
               (long long)json_integer_value(json_object_get(r, "recipients_scored")),
               json_number_value(json_object_get(r, "threshold_z")));
    else
        printf("  recipients       %lld scored, none can be accused\n",
               (long long)json_integer_value(json_object_get(r, "recipients_scored")));
    if (json_is_true(json_object_get(r, "quantised_reference")))
        printf("  reference        quantised tensors compared with Q8_0 of the original\n");
    if (json_is_integer(json_object_get(r, "payload_id")))
        printf("  payload          names recipient %lld (MAC checked)\n",
               (long long)json_integer_value(json_object_get(r, "payload_id")));
    else
        printf("  payload          not decoded (not readable, or no valid MAC)\n");
    if (json_array_size(json_object_get(r, "matched_by_content"))) {
        printf("Matched by content (renamed in the copy):\n");
        json_array_foreach(json_object_get(r, "matched_by_content"), i, e)
        {
            printf("  ");
            sl_cli_put_safe(stdout, str(e, "tensor"));
            printf(" <- ");
            sl_cli_put_safe(stdout, str(e, "suspect"));
            printf("  (correlation %.3f)\n", json_number_value(json_object_get(e, "correlation")));
        }
    }
    if (json_array_size(acc) == 0) {
        printf("No one is accused%s", strcmp(str(r, "verdict"), "insufficient") == 0
                                          ? ": the copy says too little to accuse anyone.\n"
                                          : ".\n");
        if (str(r, "why")[0]) {
            printf("  ");
            sl_cli_put_safe(stdout, str(r, "why"));
            fputc('\n', stdout);
        }
    } else {
        printf("Accused:\n");
        json_array_foreach(acc, i, e)
        {
            printf("  ");
            sl_cli_put_safe(stdout, str(e, "user"));
            printf("  (recipient %lld)  z = %.1f  P(innocent scores this) <= %.1e\n",
                   (long long)json_integer_value(json_object_get(e, "grant")),
                   json_number_value(json_object_get(e, "z")),
                   json_number_value(json_object_get(e, "fp_bound")));
        }
    }
    if (json_array_size(json_object_get(r, "unread"))) {
        printf("Not read:\n");
        json_array_foreach(json_object_get(r, "unread"), i, e)
        {
            printf("  ");
            sl_cli_put_safe(stdout, str(e, "tensor"));
            printf(": ");
            sl_cli_put_safe(stdout, str(e, "why"));
            fputc('\n', stdout);
        }
    }
}

int sl_cmd_trace(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--model", SL_OPT_VALUE}, {"--json", SL_OPT_FLAG}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    char *org = NULL, *name = NULL;
    json_t *report = NULL;
    int code = sl_cli_args_parse(&a, "trace", defs, argc, argv);

    if (code)
        return code;
    if (a.npos == 0)
        return sl_cli_usage("trace", "name the suspect files or folder");
    if (!sl_cli_val(&a, "--model"))
        return sl_cli_usage("trace", "--model ORG/NAME is required");
    sl_error_clear(&err);
    if (sl_client_parse_model(sl_cli_val(&a, "--model"), &org, &name, NULL, &err) != SL_OK)
        return sl_cli_fail(&err);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_trace(cl, org, name, a.pos, a.npos, &report, &err) != SL_OK) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json"))
        sl_cli_print_json(report);
    else
        print_report(report);
out:
    json_decref(report);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(org);
    free(name);
    return code;
}
