/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice draft ORG/NAME[@REV] --form FORM [--json] [--out FILE]`: a
 * pre-filled draft of a document a regulator asks for, from the version's
 * facts, decision, files, attestations and log entry (docs/drafts.md). The
 * decision's inclusion proof is checked against the server's pinned log key
 * before anything is drafted from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "policy/draft.h"
#include "tlog/note.h"
#include "common/banned.h"

/* Checks the decision's tlog-proof: the entry at its index, fetched from the
 * server, must be included in a checkpoint signed with the pinned key, and
 * be the publication of this version. Fills `check` with what was checked. */
static enum sl_err check_log(struct sl_client *cl, const char *url, json_t *decision,
                             const char *commit, char *check, size_t cap, struct sl_error *err)
{
    struct sl_note_key k;
    struct sl_log_proof_check pc;
    const char *proof = json_string_value(json_object_get(decision, "log_proof"));
    json_int_t index = json_integer_value(json_object_get(decision, "log_index"));
    char *entry = NULL;
    size_t elen = 0;
    bool pinned_now = false;
    json_t *e = NULL;
    enum sl_err rc;

    memset(&pc, 0, sizeof(pc));
    if (!proof || !json_is_integer(json_object_get(decision, "log_index")) || index < 0)
        return sl_error_set(err, SL_EINPUT,
                            "the decision carries no log entry and inclusion proof, so a draft "
                            "could not quote it");
    rc = sl_client_server_key(cl, &k, &pinned_now, err);
    if (!rc)
        rc = sl_client_log_entry_text(cl, (uint64_t)index, &entry, &elen, err);
    if (!rc)
        rc = sl_client_log_proof_verify(proof, strlen(proof), entry, elen, &k, &pc, err);
    if (!rc && pc.index != (uint64_t)index)
        rc = sl_error_set(err, SL_EREFUSED,
                          "the decision gives log_index %lld but its proof is for entry %llu",
                          (long long)index, (unsigned long long)pc.index);
    if (!rc) {
        const char *c;
        e = json_loadb(entry, elen, 0, NULL);
        c = json_string_value(json_object_get(e, "commit"));
        if (!c || strcmp(c, commit) != 0)
            rc =
                sl_error_set(err, SL_EREFUSED, "log entry %lld is not the publication of commit %s",
                             (long long)index, commit);
    }
    if (rc) {
        sl_error_prefix(err, "the decision's log entry did not verify");
        goto out;
    }
    snprintf(check, cap,
             "inclusion verified by sluice draft against a checkpoint of %llu entries signed with "
             "the log key %s %s",
             (unsigned long long)pc.cp.size, pinned_now ? "pinned now for" : "pinned for", url);
out:
    json_decref(e);
    free(entry);
    sl_checkpoint_free(&pc.cp);
    return rc;
}

int sl_cmd_draft(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--form", SL_OPT_VALUE},
                                                {"--json", SL_OPT_FLAG},
                                                {"--out", SL_OPT_VALUE},
                                                {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_draft_in in;
    struct sl_error err;
    char *org = NULL, *name = NULL, *rev = NULL, *model = NULL, *text = NULL, check[600];
    json_t *version = NULL, *decision = NULL, *atts = NULL, *obl = NULL, *draft = NULL;
    const char *form;
    int code = sl_cli_args_parse(&a, "draft", defs, argc, argv);

    sl_error_clear(&err);
    if (code)
        return code;
    if (a.npos != 1)
        return sl_cli_usage("draft", "expected ORG/NAME[@REV] --form FORM");
    form = sl_cli_val(&a, "--form");
    if (!form)
        return sl_cli_usage("draft", "--form FORM is required (see `sluice draft --help`)");
    if (!sl_draft_form_title(form))
        return sl_cli_usage("draft",
                            "unknown form \"%s\" (forms: eu-art52-notification, eu-annex-xi, "
                            "eu-annex-xii, eu-training-summary, ca-sb53-transparency, "
                            "ca-sb53-framework-outline, ny-raise-transparency)",
                            form);
    if (sl_client_parse_model(a.pos[0], &org, &name, &rev, &err)) {
        code = sl_cli_usage("draft", "%s", err.msg);
        goto out;
    }
    model = sl_xasprintf("%s/%s", org, name);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_version(cl, org, name, rev, NULL, &version, &err) ||
        sl_client_decision(cl, org, name, rev, &decision, &err) ||
        sl_client_attestations(cl, org, name, rev, &atts, &err) ||
        sl_client_obligations(cl, org, name, rev, &obl, &err) ||
        check_log(cl, cfg.url, decision,
                  json_string_value(json_object_get(version, "commit"))
                      ? json_string_value(json_object_get(version, "commit"))
                      : "",
                  check, sizeof(check), &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    memset(&in, 0, sizeof(in));
    in.form = form;
    in.model = model;
    in.version = version;
    in.decision = decision;
    in.attestations = json_is_array(atts) ? atts : NULL;
    in.obligations = obl;
    in.log_check = check;
    if (sl_draft_build(&in, &draft, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    text = sl_cli_has(&a, "--json") ? sl_json_dump(draft, 2, NULL) : sl_draft_markdown(draft);
    if (sl_cli_has(&a, "--out")) {
        char *t = sl_xasprintf("%s\n", text);
        if (sl_client_write_file(sl_cli_val(&a, "--out"), t, strlen(t), 0644, &err)) {
            free(t);
            code = sl_cli_fail(&err);
            goto out;
        }
        free(t);
        fprintf(stderr, "sluice draft: wrote %s (%zu TODO items)\n", sl_cli_val(&a, "--out"),
                json_array_size(json_object_get(draft, "todos")));
    } else {
        printf("%s\n", text);
    }
out:
    free(text);
    json_decref(draft);
    json_decref(version);
    json_decref(decision);
    json_decref(atts);
    json_decref(obl);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(model);
    free(org);
    free(name);
    free(rev);
    return code;
}
