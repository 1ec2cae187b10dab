/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice inspect PATH... [--json] [--tensors]`: reads the weight headers of
 * one model (files and folders together) and reports its parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "compute/compute.h"
#include "formats/formats.h"
#include "common/banned.h"

static void print_human(const struct sl_model *m, const struct sl_param_count *pc)
{
    char a[40], b[40];

    printf("format        %s%s, %zu file%s, %zu tensors\n", sl_format_name(m->format),
           m->sharded ? " (sharded)" : "", m->nfiles, m->nfiles == 1 ? "" : "s", m->ntensors);
    printf("parameters    %s\n", sl_fmt_count(pc->total, a, sizeof(a)));
    if (pc->active_known)
        printf("active        %s per token%s\n", sl_fmt_count(pc->active, b, sizeof(b)),
               pc->experts > 0 ? " (routed experts scaled by k/E; embeddings and head counted)"
                               : "");
    else
        printf("active        unknown\n");
    printf("by dtype     ");
    for (size_t i = 0; i < pc->n_dtypes; i++)
        printf(" %s %s%s", sl_dtype_name(pc->by_dtype[i].dtype),
               sl_fmt_count(pc->by_dtype[i].params, a, sizeof(a)), i + 1 < pc->n_dtypes ? "," : "");
    printf("\n");
    printf("architecture  %s", pc->arch[0] ? pc->arch : "(type unknown)");
    if (pc->layers >= 0)
        printf(", %lld layers", (long long)pc->layers);
    if (pc->hidden_size >= 0)
        printf(", hidden %lld", (long long)pc->hidden_size);
    if (pc->vocab_size >= 0)
        printf(", vocabulary %s", sl_fmt_count((uint64_t)pc->vocab_size, a, sizeof(a)));
    if (pc->experts > 0) {
        printf(", %lld experts", (long long)pc->experts);
        if (pc->experts_per_token > 0)
            printf(" (%lld per token)", (long long)pc->experts_per_token);
    }
    if (pc->tied_embeddings >= 0)
        printf(", %s embeddings", pc->tied_embeddings ? "tied" : "untied");
    printf("\n");
    if (pc->buffer_elements || pc->quant_elements)
        printf("not counted   %s buffer elements (masks, position ids), %s quantisation "
               "bookkeeping elements\n",
               sl_fmt_count(pc->buffer_elements, a, sizeof(a)),
               sl_fmt_count(pc->quant_elements, b, sizeof(b)));
    if (pc->packed_tensors)
        printf("packed        %llu tensors hold several values per element and count by "
               "value\n",
               (unsigned long long)pc->packed_tensors);
    if (pc->note[0])
        printf("note          %s\n", pc->note);
    for (size_t i = 0; i < m->nwarnings; i++)
        printf("warning       %s\n", m->warnings[i]);
}

int sl_cmd_inspect(int argc, char **argv)
{
    struct sl_opt o;
    const char **paths = sl_xcalloc((size_t)argc, sizeof(char *));
    size_t npaths = 0;
    bool json = false, tensors = false, is_opt;
    const char *a;
    struct sl_model *m = NULL;
    struct sl_param_count pc;
    struct sl_error err;
    enum sl_err rc;
    int code = 0;

    sl_opt_init(&o, "inspect", argc, argv);
    while ((a = sl_opt_next(&o, &is_opt)) != NULL) {
        if (!is_opt)
            paths[npaths++] = a;
        else if (strcmp(a, "--json") == 0)
            json = true;
        else if (strcmp(a, "--tensors") == 0)
            tensors = true;
        else {
            code = sl_cli_usage("inspect", "unknown option %s", a);
            goto out;
        }
    }
    if (npaths == 0) {
        code = sl_cli_usage("inspect", "give at least one file or folder");
        goto out;
    }
    sl_error_clear(&err);
    rc = sl_model_open(paths, npaths, &m, &err);
    if (rc) {
        code = sl_cli_fail(&err);
        goto out;
    }
    sl_count_params(m, &pc);
    if (json) {
        json_t *r = sl_model_report(m, &pc, tensors);
        sl_cli_print_json(r);
        json_decref(r);
    } else {
        print_human(m, &pc);
        if (tensors) {
            for (size_t i = 0; i < m->ntensors; i++) {
                const struct sl_tensor *t = &m->tensors[i];
                fputs("  ", stdout);
                sl_cli_put_safe(stdout, t->name);
                printf("  %-8s [", sl_dtype_name(t->dtype));
                for (unsigned d = 0; d < t->ndim; d++)
                    printf("%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
                printf("]\n");
            }
        }
    }
out:
    sl_opt_release(&o);
    sl_model_free(m);
    free(paths);
    return code;
}
