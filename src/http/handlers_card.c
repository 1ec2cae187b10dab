/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two calls the web UI's model page makes besides the existing API
 * (docs/web.md): a version's model card (its README.md) and what the
 * caller may do with the version (the viewer), so the page shows download
 * links only to those who may download.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/util.h"
#include "common/banned.h"

/* The top-level README.md of the version (any case; the exact name first),
 * or NULL. Points into `d`. */
static const char *card_path(const struct sl_reg_version_doc *d)
{
    const char *found = NULL;

    for (size_t i = 0; i < d->nfiles; i++) {
        const char *p = d->files[i].path;
        if (strcmp(p, "README.md") == 0)
            return p;
        if (!found && strcasecmp(p, "README.md") == 0)
            found = p;
    }
    return found;
}

/* Reads the first `n` bytes of the file `f` into `buf`. */
static enum sl_err read_head(struct sl_registry *r, const struct sl_file_ref *f, char *buf,
                             size_t n, struct sl_error *err)
{
    struct sl_run *runs = NULL;
    size_t nruns = 0, done = 0;
    enum sl_err rc;

    if (n == 0)
        return SL_OK;
    rc = sl_reg_runs(r, f->blob_id, 0, n, &runs, &nruns, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < nruns && done < n; i++) {
        uint64_t take = runs[i].length;
        if (runs[i].file_offset != done) {
            rc = sl_error_set(err, SL_EIO, "the stored runs of the model card have a gap");
            goto out;
        }
        if (take > n - done)
            take = n - done;
        rc = sl_reg_read_run(r, &runs[i], 0, buf + done, (size_t)take, err);
        if (rc)
            goto out;
        done += take;
    }
    if (done != n)
        rc = sl_error_set(err, SL_EIO, "the stored model card is shorter than its size");
out:
    free(runs);
    return rc;
}

/* GET .../versions/{rev}/card: the version's README.md as text/markdown,
 * at most SL_CARD_MAX bytes (a longer card is cut at a character boundary
 * and ends with a note saying so). The card is the publisher's public
 * description and is shown on every tier to whoever may see the version's
 * files: everyone, except on a withheld version (its publishers and named
 * evaluators, as the file list). */
void sl_h_card(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_version_doc d;
    struct sl_file_ref f;
    struct sl_error err;
    struct MHD_Response *resp;
    const char *path;
    size_t n, len;
    bool cut;
    char *buf = NULL;

    sl_error_clear(&err);
    if (!sl_reg_may_list(r, &q->who, &q->v)) {
        sl_reply_status(q, 403, "forbidden",
                        "%s/%s is %s: its model card, like its files, is shown only to its "
                        "publishers and named evaluators",
                        q->org, q->name, q->v.tier);
        goto out;
    }
    if (sl_reg_version_doc(r, &q->v, true, &a, &d, &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    path = card_path(&d);
    if (!path) {
        sl_reply_status(q, 404, "not_found", "%s/%s@%.12s has no model card (README.md)", q->org,
                        q->name, q->v.commit);
        goto out;
    }
    if (sl_reg_file(r, q->v.version_id, path, &f, &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    cut = f.size > SL_CARD_MAX;
    n = cut ? SL_CARD_MAX : (size_t)f.size;
    buf = sl_xmalloc(n + 256);
    /* one byte past the cut, to see whether it splits a character */
    if (read_head(r, &f, buf, cut ? n + 1 : n, &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    len = n;
    if (cut) {
        /* back to the start of a UTF-8 character, then the note */
        while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
            len--;
        len += (size_t)snprintf(buf + len, 256,
                                "\n\n---\n\n*This model card is %llu bytes long; the first %zu "
                                "are shown here. The whole text is %s in the model's files.*\n",
                                (unsigned long long)f.size, len, path);
    }
    resp = sl_mhd->create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    buf = NULL;
    sl_mhd->add_response_header(resp, "Content-Type", "text/markdown; charset=utf-8");
    /* the publisher's text on the UI's origin: never sniffed, never run */
    sl_mhd->add_response_header(resp, "X-Content-Type-Options", "nosniff");
    sl_mhd->add_response_header(resp, "Content-Security-Policy", "sandbox");
    sl_mhd->add_response_header(resp, "X-Card-Path", path);
    if (cut)
        sl_mhd->add_response_header(resp, "X-Card-Truncated", "1");
    sl_reply(q, 200, resp, len);
out:
    free(buf);
    sl_arena_release(&a);
}

/* GET .../versions/{rev}/viewer: what the caller may do with the version. */
void sl_h_viewer(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    char model[2 * SL_NAME_MAX + 2], hint[300] = "";
    struct sl_error err;
    bool may, signed_in = q->who.user_id != 0;
    json_t *v;

    sl_error_clear(&err);
    snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
    may = sl_reg_may_download(r, &q->who, &q->v, model, hint, sizeof(hint), &err) == SL_OK;
    v = json_pack("{s:b, s:o, s:b, s:o, s:o, s:b, s:b}", "signed_in", signed_in, "user",
                  signed_in ? json_string(q->who.name) : json_null(), "may_download", may, "reason",
                  !may && err.msg[0] ? json_string(err.msg) : json_null(), "hint",
                  !may && hint[0] ? json_string(hint) : json_null(), "publisher",
                  signed_in && sl_reg_can_publish(r, &q->who, q->v.org_id), "member",
                  signed_in && sl_reg_is_member(r, &q->who, q->v.org_id));
    sl_reply_json(q, 200, v);
}
