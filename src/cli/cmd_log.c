/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice log ...` and `sluice report`: the transparency log from a
 * client's side (docs/log.md). Every command that fetches a checkpoint
 * checks it with the server key pinned at first contact and against the
 * last checkpoint this client verified, and records it; entries and proofs
 * are printed only after their inclusion in a verified checkpoint held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/client.h"
#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "common/banned.h"

#define PROOF_FILE_MAX (16u << 20) /* a tlog-proof, or a decision document holding one */
#define ENTRY_FILE_MAX (SL_NOTE_MAX + 2)
#define INTERVAL_MAX   86400

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const char *b64(const unsigned char h[32], char out[45])
{
    sl_base64(h, 32, out);
    return out;
}

/* A log index or size: decimal, no sign, no leading zeros, 64 bits. */
static int parse_index(const char *cmd, const char *what, const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return sl_cli_usage(cmd, "give %s", what);
    if (s[0] == '0' && s[1])
        return sl_cli_usage(cmd, "%s \"%s\": no leading zeros", what, s);
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return sl_cli_usage(cmd, "%s \"%s\" is not a decimal number", what, s);
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return sl_cli_usage(cmd, "%s \"%s\" is out of range", what, s);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

/* ---- events in one line ---- */

/* The expiry of a logged grant or license: entries store it as the
 * "YYYY-MM-DDTHH:MM:SSZ" text (older ones as seconds); null or absent is
 * "never". Anything else is shown as unreadable rather than as "never". */
static const char *expiry(json_t *e, char when[21])
{
    json_t *x = json_object_get(e, "expires");
    int64_t t;

    if (json_is_integer(x))
        return sl_gov_time(json_integer_value(x), when);
    if (json_is_string(x) && sl_gov_parse_time(json_string_value(x), &t))
        return sl_gov_time(t, when);
    if (!x || json_is_null(x))
        return "never";
    return "(unreadable)";
}

/* Appends PRE, the string at `key` and POST, when `e` has that string. */
static void add_str(struct sl_buf *b, json_t *e, const char *key, const char *pre, const char *post)
{
    const char *s = json_string_value(json_object_get(e, key));

    if (s) {
        sl_buf_adds(b, pre);
        sl_buf_adds(b, s);
        sl_buf_adds(b, post);
    }
}

static void add_short_commit(struct sl_buf *b, json_t *e)
{
    const char *c = json_string_value(json_object_get(e, "commit"));

    if (c)
        sl_buf_addf(b, " commit %.12s", c);
}

/* "2026-11-28T18:00:00Z" from an entry's "time", or "?" */
static const char *entry_time(json_t *e, char buf[24])
{
    json_t *t = json_object_get(e, "time");

    if (!json_is_integer(t))
        return "?";
    return sl_gov_time(json_integer_value(t), buf);
}

/* A readable one-line summary of a log entry (without index and time). */
static char *event_summary(json_t *e)
{
    struct sl_buf b = SL_BUF_INIT(1u << 16);
    const char *type = str(e, "type"), *model = str(e, "model");
    char when[24];

    if (model[0])
        sl_buf_addf(&b, "%s", model);
    if (strcmp(type, "version.published") == 0) {
        json_t *files = json_object_get(e, "files");
        if (json_is_integer(json_object_get(e, "version")))
            sl_buf_addf(&b, " v%lld", (long long)json_integer_value(json_object_get(e, "version")));
        sl_buf_adds(&b, " published");
        add_short_commit(&b, e);
        add_str(&b, e, "tier", ", tier ", "");
        add_str(&b, json_object_get(e, "decision"), "min_tier", " (minimum ", "");
        if (json_string_value(json_object_get(json_object_get(e, "decision"), "min_tier")))
            add_str(&b, e, "floor_tier", ", floor ", ")");
        if (json_is_array(files))
            sl_buf_addf(&b, ", %zu files", json_array_size(files));
        else if (json_is_integer(json_object_get(e, "file_count")))
            sl_buf_addf(&b, ", %lld files",
                        (long long)json_integer_value(json_object_get(e, "file_count")));
        add_str(&b, e, "by", ", by ", "");
    } else if (strcmp(type, "tier.changed") == 0) {
        if (json_is_integer(json_object_get(e, "version")))
            sl_buf_addf(&b, " v%lld", (long long)json_integer_value(json_object_get(e, "version")));
        sl_buf_addf(&b, " tier %s -> %s", str(e, "old"), str(e, "new"));
        add_str(&b, e, "why", " (", ")");
        add_str(&b, e, "by", ", by ", "");
    } else if (strcmp(type, "schedule.added") == 0 || strcmp(type, "schedule.step") == 0) {
        sl_buf_addf(&b, " %s step %lld: tier %s at %s",
                    strcmp(type, "schedule.added") == 0 ? "scheduled" : "ran",
                    (long long)json_integer_value(json_object_get(e, "step")), str(e, "tier"),
                    str(e, "at"));
        add_str(&b, e, "status", ", ", "");
        add_str(&b, e, "reason", " (", ")");
    } else if (strcmp(type, "attestation.attached") == 0) {
        add_short_commit(&b, e);
        sl_buf_addf(&b, ": evaluation by %s, %s %s", str(e, "evaluator"), str(e, "domain"),
                    str(e, "level"));
    } else if (strcmp(type, "obligation.satisfied") == 0) {
        add_short_commit(&b, e);
        sl_buf_addf(&b, ": obligation %s satisfied", str(e, "obligation"));
        add_str(&b, e, "by", ", by ", "");
    } else if (strcmp(type, "license.accepted") == 0) {
        add_short_commit(&b, e);
        sl_buf_addf(&b, ": license accepted by %s", str(e, "account"));
    } else if (strncmp(type, "access.", 7) == 0 && strcmp(type, "access.rules_set") != 0) {
        sl_buf_addf(&b, ": access %s, %s", type + 7, str(e, "account"));
        add_str(&b, e, "by", ", by ", "");
        if (json_object_get(e, "expires") && !json_is_null(json_object_get(e, "expires")))
            sl_buf_addf(&b, ", expires %s", expiry(e, when));
    } else if (strcmp(type, "access.rules_set") == 0) {
        sl_buf_adds(&b, ": auto-approval rules changed");
        add_str(&b, e, "by", ", by ", "");
    } else if (strcmp(type, "license.issued") == 0) {
        sl_buf_addf(&b, ": license %s issued to %s", str(e, "license"), str(e, "account"));
        add_short_commit(&b, e);
        add_str(&b, e, "tier", ", tier ", "");
        sl_buf_addf(&b, ", expires %s", expiry(e, when));
    } else if (strcmp(type, "evaluator.key_added") == 0) {
        sl_buf_addf(&b, "evaluator %s: key added", str(e, "evaluator"));
    } else if (strcmp(type, "policy.activated") == 0) {
        json_t *packs = json_object_get(e, "packs"), *p;
        size_t i;
        sl_buf_adds(&b, "policy packs in force:");
        json_array_foreach(packs, i, p)
        {
            sl_buf_addf(&b, "%s %s@%s", i ? "," : "", str(p, "id"), str(p, "version"));
        }
        if (json_array_size(packs) == 0)
            sl_buf_adds(&b, " none");
    } else if (strcmp(type, "account.removed") == 0) {
        sl_buf_addf(&b, "account %s removed", str(e, "account"));
    } else {
        add_short_commit(&b, e);
    }
    return sl_buf_detach(&b, NULL);
}

/* "#INDEX  TIME  TYPE  summary", control characters escaped. */
static void print_event(FILE *f, uint64_t index, json_t *e)
{
    char when[24], *s = event_summary(e);

    fprintf(f, "#%-6llu %s  ", (unsigned long long)index, entry_time(e, when));
    sl_cli_put_safe(f, str(e, "type")[0] ? str(e, "type") : "(no type)");
    fputs("  ", f);
    sl_cli_put_safe(f, s);
    fputc('\n', f);
    free(s);
}

/* ---- verification shared by the commands ---- */

static json_t *verify_json(struct sl_client_config *cfg, const struct sl_log_verify *v,
                           enum sl_err rc, const struct sl_error *err, bool full)
{
    char vk[SL_NOTE_VKEY_MAX], r[45], when[24];
    json_t *o = json_object();

    json_object_set_new(o, "ok", json_boolean(rc == SL_OK));
    json_object_set_new(o, "url", json_string(cfg->url));
    json_object_set_new(o, "key",
                        sl_note_vkey(&v->key, vk, sizeof(vk), NULL) == SL_OK ? json_string(vk)
                                                                             : json_null());
    json_object_set_new(o, "pinned_now", json_boolean(v->pinned_now));
    if (v->have_cp)
        json_object_set_new(o, "checkpoint",
                            json_pack("{s:s, s:I, s:s, s:s}", "origin", v->cp.origin, "size",
                                      (json_int_t)v->cp.size, "root", b64(v->cp.root, r), "note",
                                      v->note));
    else
        json_object_set_new(o, "checkpoint", json_null());
    if (v->had_state)
        json_object_set_new(o, "previous",
                            json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)v->old.size,
                                      "root", b64(v->old.root, r), "note", v->old.note, "verified",
                                      sl_gov_time(v->old.verified, when)));
    else
        json_object_set_new(o, "previous", json_null());
    json_object_set_new(o, "consistent", json_boolean(v->consistent));
    json_object_set_new(o, "full", json_boolean(full));
    json_object_set_new(o, "entries_checked", json_integer((json_int_t)v->full_entries));
    json_object_set_new(o, "first_bad_index",
                        v->have_bad ? json_integer((json_int_t)v->first_bad) : json_null());
    json_object_set_new(o, "bad_entries", json_integer((json_int_t)v->bad_count));
    json_object_set_new(o, "state_file", v->state_path ? json_string(v->state_path) : json_null());
    json_object_set_new(o, "saved", json_boolean(v->saved));
    json_object_set_new(o, "problem", rc && err->kind ? json_string(err->kind) : json_null());
    json_object_set_new(o, "error", rc ? json_string(err->msg) : json_null());
    return o;
}

/* One line on stderr about what the check of the checkpoint established. */
static void say_checked(struct sl_client_config *cfg, const struct sl_log_verify *v)
{
    if (v->pinned_now)
        fprintf(stderr, "Pinned the key of %s (first contact): %s.\n", cfg->url, v->key.name);
    if (!v->had_state)
        fprintf(stderr,
                "Checkpoint of %llu entries: signature good; the first checkpoint this client "
                "sees of %s, trusted on first use.\n",
                (unsigned long long)v->cp.size, cfg->url);
    else if (v->old.size == v->cp.size)
        fprintf(stderr,
                "Checkpoint of %llu entries: signature good, the same tree this client verified "
                "before.\n",
                (unsigned long long)v->cp.size);
    else
        fprintf(stderr,
                "Checkpoint of %llu entries: signature good, extends the checkpoint of %llu "
                "entries this client verified before.\n",
                (unsigned long long)v->cp.size, (unsigned long long)v->old.size);
}

/* ---- sluice log key / checkpoint / verify ---- */

static int log_key(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_note_key k;
    struct sl_error err;
    char vk[SL_NOTE_VKEY_MAX];
    bool pinned_now = false;
    int code;

    sl_error_clear(&err);
    if (a->npos != 1)
        return sl_cli_usage("log key", "takes no argument");
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    if (sl_client_server_key(cl, &k, &pinned_now, &err) || sl_note_vkey(&k, vk, sizeof(vk), &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(a, "--json")) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "url", cfg.url, "key", vk, "name", k.name,
                              "pinned_now", pinned_now);
        char *pin = sl_client_pin_path();
        json_object_set_new(o, "pin_file", pin ? json_string(pin) : json_null());
        free(pin);
        sl_cli_print_json(o);
        json_decref(o);
    } else {
        printf("%s\n", vk);
        fprintf(stderr, "%s the key of %s.\n",
                pinned_now ? "Pinned (first contact)" : "This is the pinned key,", cfg.url);
    }
out:
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

static void progress_draw(void *ctx, uint64_t done, uint64_t total)
{
    double *last = ctx;
    struct timespec ts;
    double now;
    char d[32], t[32];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (now - *last < 0.1 && done < total)
        return;
    *last = now;
    fprintf(stderr, "\rverifying entries %s / %s", sl_fmt_count(done, d, sizeof(d)),
            sl_fmt_count(total, t, sizeof(t)));
    if (done >= total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int log_verify(const struct sl_cli_args *a, bool checkpoint_only)
{
    const char *cmd = checkpoint_only ? "log checkpoint" : "log verify";
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_log_verify_opts o;
    struct sl_log_verify v;
    struct sl_error err;
    bool json = sl_cli_has(a, "--json"), full = sl_cli_has(a, "--full");
    double last = 0;
    char r[45];
    enum sl_err rc;
    int code;

    sl_error_clear(&err);
    memset(&v, 0, sizeof(v));
    if (a->npos != 1)
        return sl_cli_usage(cmd, "takes no argument");
    if (checkpoint_only && full)
        return sl_cli_usage(cmd, "--full belongs to `sluice log verify`");
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    memset(&o, 0, sizeof(o));
    o.full = full;
    o.save = true;
    if (full && !json && isatty(STDERR_FILENO)) {
        o.progress = progress_draw;
        o.progress_ctx = &last;
    }
    rc = sl_client_log_verify(cl, &o, &v, &err);
    code = sl_err_exit_code(rc);
    if (json && (rc == SL_OK || (rc == SL_EREFUSED && v.have_cp))) {
        json_t *doc = verify_json(&cfg, &v, rc, &err, full);
        if (checkpoint_only && rc == SL_OK) {
            json_t *cp = json_incref(json_object_get(doc, "checkpoint"));
            json_object_set_new(cp, "previous_size",
                                v.had_state ? json_integer((json_int_t)v.old.size) : json_null());
            json_decref(doc);
            doc = cp;
        }
        sl_cli_print_json(doc);
        json_decref(doc);
        if (rc)
            sl_cli_fail(&err);
        goto out;
    }
    if (rc) {
        if (rc == SL_EREFUSED && v.have_cp && err.kind)
            sl_error_prefix(&err, "the log of %s failed verification", cfg.url);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (checkpoint_only) {
        fputs(v.note, stdout);
        say_checked(&cfg, &v);
        goto out;
    }
    printf("OK: the log of %s verified at %llu entries\n", cfg.url, (unsigned long long)v.cp.size);
    printf("  %-12s %s\n", "root", b64(v.cp.root, r));
    printf("  %-12s good, by \"", "signature");
    sl_cli_put_safe(stdout, v.key.name);
    printf("\" (key ID %08x), %s\n", (unsigned)v.key.id,
           v.pinned_now ? "the key pinned now (first contact)" : "the pinned key");
    if (!v.had_state)
        printf("  %-12s nothing verified before: this checkpoint is trusted on first use\n",
               "history");
    else if (v.old.size == v.cp.size)
        printf("  %-12s the same tree as the checkpoint verified before\n", "history");
    else
        printf("  %-12s extends the checkpoint of %llu entries verified before (consistency "
               "proof checked)\n",
               "history", (unsigned long long)v.old.size);
    if (full)
        printf("  %-12s all %llu rebuilt: each matches the server's hash tiles, together they "
               "make the signed root\n",
               "entries", (unsigned long long)v.full_entries);
    else
        printf("  %-12s not fetched (--full rebuilds the tree from every entry)\n", "entries");
    printf("  %-12s %s\n", "state", v.state_path ? v.state_path : "(none)");
out:
    sl_client_log_verify_release(&v);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

/* ---- sluice log entry / proof ---- */

/* Verifies the newest checkpoint, then fetches entry N and checks its
 * inclusion: `*text` (caller frees) and the proof. */
static int fetch_included(struct sl_client_config *cfg, struct sl_client *cl, uint64_t index,
                          struct sl_log_verify *v, char **text, size_t *len,
                          unsigned char (*proof)[32], size_t *plen)
{
    struct sl_log_verify_opts o;
    struct sl_error err, e;
    unsigned char leaf[32];

    sl_error_clear(&err);
    memset(&o, 0, sizeof(o));
    o.save = true;
    if (sl_client_log_verify(cl, &o, v, &err)) {
        if (err.code == SL_EREFUSED && v->have_cp && err.kind)
            sl_error_prefix(&err, "the log of %s failed verification", cfg->url);
        return sl_cli_fail(&err);
    }
    if (index >= v->cp.size) {
        sl_error_set(&err, SL_ENOTFOUND,
                     "the log of %s has %llu entries (verified checkpoint); there is no entry "
                     "%llu",
                     cfg->url, (unsigned long long)v->cp.size, (unsigned long long)index);
        return sl_cli_fail(&err);
    }
    if (sl_client_log_entry_text(cl, index, text, len, &err) ||
        sl_client_log_inclusion(cl, index, v->cp.size, proof, plen, &err))
        return sl_cli_fail(&err);
    sl_merkle_leaf(*text, *len, leaf);
    sl_error_clear(&e);
    if (sl_merkle_verify_inclusion(index, v->cp.size, leaf, (const unsigned char(*)[32])proof,
                                   *plen, v->cp.root, &e)) {
        sl_error_setk(&err, SL_EREFUSED, SL_LOG_K_NOT_INCLUDED,
                      "the log of %s failed verification: entry %llu as served is not entry "
                      "%llu of the verified checkpoint of %llu entries (%s)",
                      cfg->url, (unsigned long long)index, (unsigned long long)index,
                      (unsigned long long)v->cp.size, e.msg);
        return sl_cli_fail(&err);
    }
    return 0;
}

static json_t *hashes_json(const unsigned char (*h)[32], size_t n)
{
    json_t *arr = json_array();
    char s[45];

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(b64(h[i], s)));
    return arr;
}

static int log_entry(const struct sl_cli_args *a, bool proof_only)
{
    const char *cmd = proof_only ? "log proof" : "log entry";
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_log_verify v;
    struct sl_error err;
    unsigned char proof[SL_MERKLE_MAX_HASHES][32], leaf[32];
    char *text = NULL, *tp = NULL, r[45];
    size_t len = 0, plen = 0, tplen = 0;
    uint64_t index;
    int code;

    sl_error_clear(&err);
    memset(&v, 0, sizeof(v));
    if (a->npos != 2)
        return sl_cli_usage(cmd, "expected the index N of an entry");
    code = parse_index(cmd, "N", a->pos[1], &index);
    if (code)
        return code;
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    code = fetch_included(&cfg, cl, index, &v, &text, &len, proof, &plen);
    if (code)
        goto out;
    if (sl_client_log_proof_format(index, (const unsigned char(*)[32])proof, plen, v.note, &tp,
                                   &tplen, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    sl_merkle_leaf(text, len, leaf);
    if (sl_cli_has(a, "--json")) {
        json_t *e = json_loadb(text, len, 0, NULL);
        json_t *o = json_pack(
            "{s:I, s:I, s:s, s:s, s:o, s:s}", "index", (json_int_t)index, "checkpoint_size",
            (json_int_t)v.cp.size, "checkpoint_root", b64(v.cp.root, r), "text", text, "proof",
            hashes_json((const unsigned char(*)[32])proof, plen), "tlog_proof", tp);
        json_object_set_new(o, "entry", e ? e : json_null());
        json_object_set_new(o, "leaf_hash", json_string(b64(leaf, r)));
        json_object_set_new(o, "verified", json_true());
        sl_cli_print_json(o);
        json_decref(o);
    } else if (proof_only) {
        fwrite(tp, 1, tplen, stdout);
        fprintf(stderr,
                "Entry %llu is included in the checkpoint of %llu entries (checked); the proof "
                "above verifies offline with `sluice log verify-proof`.\n",
                (unsigned long long)index, (unsigned long long)v.cp.size);
    } else {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        fprintf(stderr, "Entry %llu: included in the checkpoint of %llu entries (checked).\n",
                (unsigned long long)index, (unsigned long long)v.cp.size);
    }
out:
    free(tp);
    free(text);
    sl_client_log_verify_release(&v);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

/* ---- sluice log verify-proof ---- */

/* The tlog-proof in `text`: the text itself, or the "log_proof" of a JSON
 * document (a decision, a license answer). `*proof` points into `text` or
 * into `*doc`. */
static int proof_of(const char *path, const char *text, size_t len, json_t **doc,
                    const char **proof, size_t *plen, int64_t *log_index)
{
    struct sl_error err;
    size_t i = 0;

    *doc = NULL;
    *log_index = -1;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (i < len && text[i] == '{') {
        json_error_t je;
        json_t *p;
        *doc = json_loadb(text, len, 0, &je);
        p = json_object_get(*doc, "log_proof");
        if (!json_is_string(p)) {
            sl_error_set(&err, SL_EINPUT, "%s: %s", path,
                         *doc ? "a JSON document without \"log_proof\"" : je.text);
            return sl_cli_fail(&err);
        }
        if (json_is_integer(json_object_get(*doc, "log_index")))
            *log_index = json_integer_value(json_object_get(*doc, "log_index"));
        *proof = json_string_value(p);
        *plen = json_string_length(p);
        return 0;
    }
    *proof = text;
    *plen = len;
    return 0;
}

/* Checks that the verified license.issued entry `e` is the issuance of
 * the license note in `path`, signed by the same key. */
static int license_matches(const char *path, const struct sl_note_key *key, json_t *e,
                           struct sl_license_check *lc)
{
    struct sl_error err;
    char *text = NULL;
    size_t len = 0;
    int code = 0;

    sl_error_clear(&err);
    if (sl_read_file(path, SL_NOTE_MAX + 1, &text, &len, &err))
        return sl_cli_fail(&err);
    if (sl_client_license_verify(text, len, key, 0, NULL, 0, lc, &err)) {
        sl_error_prefix(&err, "%s", path);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (strcmp(str(e, "type"), "license.issued") != 0 || strcmp(str(e, "license"), lc->lic.id) ||
        strcmp(str(e, "model"), lc->lic.model) || strcmp(str(e, "commit"), lc->lic.commit) ||
        strcmp(str(e, "account"), lc->lic.licensee)) {
        sl_error_set(&err, SL_EREFUSED,
                     "%s: license %s (%s, licensee %s) is not the one this entry records "
                     "(%s of license \"%s\")",
                     path, lc->lic.id, lc->lic.model, lc->lic.licensee,
                     str(e, "type")[0] ? str(e, "type") : "an entry", str(e, "license"));
        code = sl_cli_fail(&err);
    }
out:
    free(text);
    return code;
}

/* The key for offline checks: --key, else the one pinned for the
 * configured server. */
static int offline_key(const char *cmd, const struct sl_cli_args *a, struct sl_note_key *k,
                       char *desc, size_t cap)
{
    struct sl_client_config cfg = {0};
    const char *given = sl_cli_val(a, "--key");
    struct sl_error err;
    int code = 0;

    sl_error_clear(&err);
    if (given) {
        if (sl_note_vkey_parse(given, strlen(given), k, &err))
            return sl_cli_usage(cmd, "--key: %s", err.msg);
        snprintf(desc, cap, "the key given with --key");
        return 0;
    }
    if (sl_client_config_load(&cfg, &err))
        return sl_cli_fail(&err);
    if (!cfg.url) {
        sl_error_set(&err, SL_EUSAGE,
                     "no key to verify with: give --key VKEY (`sluice log key` prints a "
                     "server's), or log in to the server (`sluice login`) and run `sluice log "
                     "key` once to pin its key");
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_client_pinned_key(cfg.url, k, &err)) {
        if (err.code == SL_ENOTFOUND)
            sl_error_set(&err, SL_EUSAGE,
                         "no key of %s is pinned yet: run `sluice log key` (pins it at first "
                         "contact) or give --key VKEY",
                         cfg.url);
        code = sl_cli_fail(&err);
        goto out;
    }
    snprintf(desc, cap, "the key pinned for %s", cfg.url);
out:
    sl_client_config_release(&cfg);
    return code;
}

static int log_verify_proof(const struct sl_cli_args *a)
{
    const char *cmd = "log verify-proof", *entry_path = sl_cli_val(a, "--entry");
    const char *lic_path = sl_cli_val(a, "--license"), *proof = NULL;
    struct sl_log_proof_check pc;
    struct sl_license_check lc;
    struct sl_note_key k;
    struct sl_error err;
    char *ptext = NULL, *etext = NULL, desc[600], r[45];
    size_t plen_file = 0, plen = 0, elen = 0;
    int64_t log_index;
    json_t *doc = NULL, *e = NULL;
    bool json = sl_cli_has(a, "--json");
    enum sl_err rc;
    int code;

    sl_error_clear(&err);
    memset(&pc, 0, sizeof(pc));
    if (a->npos != 2)
        return sl_cli_usage(cmd, "expected the PROOF file");
    if (!entry_path)
        return sl_cli_usage(cmd, "--entry FILE is needed: the exact entry the proof is for "
                                 "(`sluice log entry N > FILE` writes it)");
    if (sl_read_file(a->pos[1], PROOF_FILE_MAX, &ptext, &plen_file, &err) ||
        sl_read_file(entry_path, ENTRY_FILE_MAX, &etext, &elen, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    /* The entry as `sluice log entry` prints it: one line. */
    if (elen && etext[elen - 1] == '\n')
        etext[--elen] = '\0';
    code = proof_of(a->pos[1], ptext, plen_file, &doc, &proof, &plen, &log_index);
    if (code)
        goto out;
    code = offline_key(cmd, a, &k, desc, sizeof(desc));
    if (code)
        goto out;
    rc = sl_client_log_proof_verify(proof, plen, etext, elen, &k, &pc, &err);
    if (rc == SL_OK && log_index >= 0 && (uint64_t)log_index != pc.index)
        rc = sl_error_set(&err, SL_EREFUSED,
                          "the document gives log_index %lld but its proof is for entry %llu",
                          (long long)log_index, (unsigned long long)pc.index);
    if (rc) {
        if (rc == SL_EINPUT || rc == SL_ELIMIT)
            sl_error_prefix(&err, "%s", a->pos[1]);
        code = sl_err_exit_code(rc);
        if (json && rc == SL_EREFUSED) {
            json_t *o =
                json_pack("{s:b, s:s, s:s?}", "valid", 0, "reason", err.msg, "problem", err.kind);
            sl_cli_print_json(o);
            json_decref(o);
        } else if (rc == SL_EREFUSED) {
            printf("INVALID: ");
            sl_cli_put_safe(stdout, err.msg);
            printf("\n");
        } else {
            code = sl_cli_fail(&err);
        }
        goto out;
    }
    e = json_loadb(etext, elen, 0, NULL);
    if (lic_path) {
        code = license_matches(lic_path, &k, e, &lc);
        if (code)
            goto out;
    }
    if (json) {
        json_t *o =
            json_pack("{s:b, s:I, s:s, s:I, s:s, s:s}", "valid", 1, "index", (json_int_t)pc.index,
                      "origin", pc.cp.origin, "checkpoint_size", (json_int_t)pc.cp.size,
                      "checkpoint_root", b64(pc.cp.root, r), "key", k.name);
        json_object_set_new(o, "entry", e ? json_incref(e) : json_null());
        if (lic_path)
            json_object_set_new(o, "license", json_string(lc.lic.id));
        sl_cli_print_json(o);
        json_decref(o);
        goto out;
    }
    printf("VALID: entry %llu is in the log \"", (unsigned long long)pc.index);
    sl_cli_put_safe(stdout, pc.cp.origin);
    printf("\" at the checkpoint of %llu entries (root %s)\n", (unsigned long long)pc.cp.size,
           b64(pc.cp.root, r));
    if (e) {
        printf("  %-12s ", "entry");
        print_event(stdout, pc.index, e);
    }
    printf("  %-12s good, by \"", "signature");
    sl_cli_put_safe(stdout, k.name);
    printf("\" (key ID %08x), %s\n", (unsigned)k.id, desc);
    if (lic_path)
        printf("  %-12s %s is the license this entry records\n", "license", lc.lic.id);
    printf("  %-12s offline: `sluice log verify` checks that this checkpoint is on the log "
           "the server shows you\n",
           "note");
out:
    sl_checkpoint_free(&pc.cp);
    json_decref(e);
    json_decref(doc);
    free(ptext);
    free(etext);
    return code;
}

/* ---- sluice log monitor ---- */

static int monitor_once(struct sl_client_config *cfg, struct sl_client *cl, bool json, bool first)
{
    struct sl_log_verify_opts o;
    struct sl_log_verify v;
    struct sl_error err;
    enum sl_err rc;
    int code = 0;

    sl_error_clear(&err);
    memset(&o, 0, sizeof(o));
    o.new_entries = true;
    o.save = true;
    rc = sl_client_log_verify(cl, &o, &v, &err);
    if (rc) {
        if (rc == SL_EREFUSED && v.have_cp && err.kind)
            sl_error_prefix(&err, "the log of %s failed verification", cfg->url);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (first || v.cp.size != v.old.size) {
        if (!v.had_state)
            fprintf(stderr,
                    "Watching %s: checkpoint of %llu entries, signature good, trusted on first "
                    "use; new entries are shown from here.\n",
                    cfg->url, (unsigned long long)v.cp.size);
        else if (v.cp.size == v.old.size)
            fprintf(stderr, "Watching %s: checkpoint of %llu entries, as verified before.\n",
                    cfg->url, (unsigned long long)v.cp.size);
        else
            fprintf(stderr,
                    "Checkpoint of %llu entries: signature good, extends %llu; %zu new entries, "
                    "each checked against it.\n",
                    (unsigned long long)v.cp.size, (unsigned long long)v.old.size, v.nentries);
    }
    for (size_t i = 0; i < v.nentries; i++) {
        json_t *e = json_loadb(v.entries[i].text, v.entries[i].len, 0, NULL);
        if (json) {
            json_t *o2 = json_pack("{s:I, s:o, s:I}", "index", (json_int_t)v.entries[i].index,
                                   "entry", e ? json_incref(e) : json_null(), "checkpoint_size",
                                   (json_int_t)v.cp.size);
            char *s = sl_json_dump(o2, 0, NULL);
            printf("%s\n", s);
            free(s);
            json_decref(o2);
        } else if (e) {
            print_event(stdout, v.entries[i].index, e);
        } else {
            printf("#%-6llu (not JSON) ", (unsigned long long)v.entries[i].index);
            sl_cli_put_safe(stdout, v.entries[i].text);
            printf("\n");
        }
        json_decref(e);
    }
    fflush(stdout);
out:
    sl_client_log_verify_release(&v);
    return code;
}

static int log_monitor(const struct sl_cli_args *a)
{
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    const char *iv = sl_cli_val(a, "--interval");
    uint64_t interval = 60;
    bool once = sl_cli_has(a, "--once"), json = sl_cli_has(a, "--json");
    int code;

    if (a->npos != 1)
        return sl_cli_usage("log monitor", "takes no argument");
    if (iv) {
        code = parse_index("log monitor", "--interval", iv, &interval);
        if (code)
            return code;
        if (interval < 1 || interval > INTERVAL_MAX)
            return sl_cli_usage("log monitor", "--interval is 1 to %d seconds", INTERVAL_MAX);
    }
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    for (bool first = true;; first = false) {
        code = monitor_once(&cfg, cl, json, first);
        /* A server that is down for a while is no verdict on its log. */
        if (once || (code != 0 && code != 3))
            break;
        sleep((unsigned)interval);
    }
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}

int sl_cmd_log(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG}, {"--full", SL_OPT_FLAG},   {"--interval", SL_OPT_VALUE},
        {"--once", SL_OPT_FLAG}, {"--entry", SL_OPT_VALUE}, {"--license", SL_OPT_VALUE},
        {"--key", SL_OPT_VALUE}, {NULL, SL_OPT_FLAG}};
    static const char *const only_verify_proof[] = {"--entry", "--license", "--key"};
    static const char *const only_monitor[] = {"--interval", "--once"};
    struct sl_cli_args a;
    const char *sub;
    int code = sl_cli_args_parse(&a, "log", defs, argc, argv);

    if (code)
        return code;
    sub = a.npos ? a.pos[0] : "";
    for (size_t i = 0; i < SL_ARRAY_LEN(only_verify_proof); i++)
        if (sl_cli_has(&a, only_verify_proof[i]) && strcmp(sub, "verify-proof") != 0)
            return sl_cli_usage("log", "%s belongs to `sluice log verify-proof`",
                                only_verify_proof[i]);
    for (size_t i = 0; i < SL_ARRAY_LEN(only_monitor); i++)
        if (sl_cli_has(&a, only_monitor[i]) && strcmp(sub, "monitor") != 0)
            return sl_cli_usage("log", "%s belongs to `sluice log monitor`", only_monitor[i]);
    if (sl_cli_has(&a, "--full") && strcmp(sub, "verify") != 0)
        return sl_cli_usage("log", "--full belongs to `sluice log verify`");
    if (strcmp(sub, "key") == 0)
        return log_key(&a);
    if (strcmp(sub, "checkpoint") == 0)
        return log_verify(&a, true);
    if (strcmp(sub, "verify") == 0)
        return log_verify(&a, false);
    if (strcmp(sub, "entry") == 0)
        return log_entry(&a, false);
    if (strcmp(sub, "proof") == 0)
        return log_entry(&a, true);
    if (strcmp(sub, "verify-proof") == 0)
        return log_verify_proof(&a);
    if (strcmp(sub, "monitor") == 0)
        return log_monitor(&a);
    return sl_cli_usage("log",
                        "expected key, checkpoint, entry, proof, verify, verify-proof or monitor");
}

/* ---- sluice report ---- */

/* Checks each event's inclusion proof against the verified checkpoint;
 * the entry is re-serialised canonically, which must give the logged
 * bytes. Sets "verified" on each event; returns how many passed. */
static size_t check_events(json_t *events, const struct sl_checkpoint *cp, json_t *failed)
{
    size_t i, ok = 0;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        unsigned char proof[SL_MERKLE_MAX_HASHES][32], leaf[32];
        json_t *entry = json_object_get(ev, "entry"), *arr = json_object_get(ev, "inclusion_proof");
        json_t *idx = json_object_get(ev, "index"), *h;
        struct sl_error e;
        size_t n = 0, k;
        bool good = json_is_object(entry) && json_is_integer(idx) && json_integer_value(idx) >= 0 &&
                    json_is_array(arr) && json_array_size(arr) <= SL_MERKLE_MAX_HASHES;
        json_array_foreach(arr, k, h)
        {
            const char *s = json_string_value(h);
            size_t got = 0;
            if (!good)
                break;
            good = s && strlen(s) == 44 && sl_unbase64(s, 44, proof[n], 32, &got) && got == 32;
            n++;
        }
        if (good) {
            size_t len;
            char *text = sl_json_dump(entry, 0, &len);
            sl_merkle_leaf(text, len, leaf);
            free(text);
            sl_error_clear(&e);
            good = sl_merkle_verify_inclusion((uint64_t)json_integer_value(idx), cp->size, leaf,
                                              (const unsigned char(*)[32])proof, n, cp->root,
                                              &e) == SL_OK;
        }
        json_object_set_new(ev, "verified", json_boolean(good));
        if (good)
            ok++;
        else
            json_array_append(failed, idx ? idx : json_null());
    }
    return ok;
}

static void print_report(json_t *doc, const char *model, const struct sl_log_verify *v, size_t ok,
                         json_t *failed, const char *url)
{
    json_t *versions = json_object_get(doc, "versions"),
           *evals = json_object_get(doc, "evaluations");
    json_t *grants = json_object_get(doc, "grants"), *events = json_object_get(doc, "events"), *x;
    const char *k;
    char when[24], r[45];
    size_t i;

    printf("%s: history from the transparency log of %s\n", model, url);
    printf("  checkpoint  %llu entries, root %s, signed by \"", (unsigned long long)v->cp.size,
           b64(v->cp.root, r));
    sl_cli_put_safe(stdout, v->key.name);
    printf("\" (key ID %08x)\n", (unsigned)v->key.id);
    if (v->had_state && v->old.size != v->cp.size)
        printf("              extends the checkpoint of %llu entries this client verified "
               "before\n",
               (unsigned long long)v->old.size);
    else if (v->had_state)
        printf("              the checkpoint this client verified before\n");
    else
        printf("              the first checkpoint this client sees: trusted on first use\n");

    printf("\nVersions\n");
    json_array_foreach(versions, i, x)
    {
        json_t *c = json_object_get(x, "created");
        printf("  v%-4lld commit %.12s  tier %-8s minimum %-8s floor %-8s %s\n",
               (long long)json_integer_value(json_object_get(x, "version")), str(x, "commit"),
               str(x, "tier"), str(x, "min_tier"), str(x, "floor_tier"),
               json_is_integer(c) ? sl_gov_time(json_integer_value(c), when) : "");
    }
    if (json_array_size(versions) == 0)
        printf("  (none)\n");

    printf("\nEvaluations\n");
    json_array_foreach(evals, i, x)
    {
        json_t *d = json_object_get(x, "date");
        printf("  v%-4lld ", (long long)json_integer_value(json_object_get(x, "version")));
        sl_cli_put_safe(stdout, str(x, "evaluator"));
        printf("  %s %s  %s\n", str(x, "domain"), str(x, "level"),
               json_is_integer(d) ? sl_gov_time(json_integer_value(d), when) : "");
    }
    if (json_array_size(evals) == 0)
        printf("  (none)\n");

    printf("\nAccess requests by state\n ");
    json_object_foreach(grants, k, x)
    {
        printf(" %s %lld", k, (long long)json_integer_value(x));
    }
    printf("%s\n", json_object_size(grants) ? "" : " (none)");

    printf("\nEvents (%zu; %zu verified against the checkpoint)\n", json_array_size(events), ok);
    json_array_foreach(events, i, x)
    {
        json_t *e = json_object_get(x, "entry");
        printf("  %s", json_is_true(json_object_get(x, "verified")) ? "" : "NOT VERIFIED ");
        if (json_is_object(e))
            print_event(stdout, (uint64_t)json_integer_value(json_object_get(x, "index")), e);
        else
            printf("#%lld (no entry)\n",
                   (long long)json_integer_value(json_object_get(x, "index")));
    }
    if (json_array_size(failed))
        printf("\n%zu of %zu events did NOT verify: their inclusion proofs do not lead to the "
               "signed root.\n",
               json_array_size(failed), json_array_size(events));
    else
        printf("\nAll %zu events verified: each is in the signed log at its index.\n", ok);
}

int sl_cmd_report(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {{"--json", SL_OPT_FLAG}, {NULL, SL_OPT_FLAG}};
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_log_verify_opts o;
    struct sl_log_verify v;
    struct sl_cli_args a;
    struct sl_error err;
    char *org = NULL, *name = NULL, *model = NULL, vk[SL_NOTE_VKEY_MAX];
    json_t *doc = NULL, *failed = json_array(), *events;
    const char *note;
    size_t ok;
    int code;

    sl_error_clear(&err);
    memset(&v, 0, sizeof(v));
    code = sl_cli_args_parse(&a, "report", defs, argc, argv);
    if (code)
        goto out;
    if (a.npos != 1) {
        code = sl_cli_usage("report", "expected ORG/NAME");
        goto out;
    }
    if (sl_client_parse_model(a.pos[0], &org, &name, NULL, &err)) {
        code = sl_cli_usage("report", "%s", err.msg);
        goto out;
    }
    model = sl_xasprintf("%s/%s", org, name);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        goto out;
    if (sl_client_report(cl, org, name, &doc, &err)) {
        code = sl_cli_fail(&err);
        goto out;
    }
    note = json_string_value(json_object_get(doc, "checkpoint"));
    events = json_object_get(doc, "events");
    if (!note || !json_is_array(events) || strcmp(str(doc, "model"), model) != 0) {
        sl_error_set(&err, SL_EINPUT,
                     "%s: the report holds no signed checkpoint and events for the model", model);
        code = sl_cli_fail(&err);
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.note = note;
    o.note_len = strlen(note);
    o.save = true;
    if (sl_client_log_verify(cl, &o, &v, &err)) {
        if (err.code == SL_EREFUSED && v.have_cp && err.kind)
            sl_error_prefix(&err, "%s: the report's checkpoint failed verification", model);
        code = sl_cli_fail(&err);
        goto out;
    }
    if (json_is_integer(json_object_get(doc, "checkpoint_size")) &&
        (uint64_t)json_integer_value(json_object_get(doc, "checkpoint_size")) != v.cp.size) {
        sl_error_set(&err, SL_EINPUT,
                     "%s: the report says its checkpoint has %lld entries, the checkpoint says "
                     "%llu",
                     model, (long long)json_integer_value(json_object_get(doc, "checkpoint_size")),
                     (unsigned long long)v.cp.size);
        code = sl_cli_fail(&err);
        goto out;
    }
    ok = check_events(events, &v.cp, failed);
    {
        /* every event must name the model it is reported for */
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            json_t *e = json_object_get(ev, "entry");
            if (json_is_true(json_object_get(ev, "verified")) &&
                strcmp(str(e, "model"), model) != 0) {
                json_object_set_new(ev, "verified", json_false());
                json_array_append(failed, json_object_get(ev, "index"));
                ok--;
            }
        }
    }
    code = json_array_size(failed) ? 1 : 0;
    if (sl_cli_has(&a, "--json")) {
        json_object_set_new(
            doc, "verification",
            json_pack("{s:s, s:b, s:o, s:I, s:I, s:O}", "key",
                      sl_note_vkey(&v.key, vk, sizeof(vk), NULL) == SL_OK ? vk : v.key.name,
                      "checkpoint_ok", 1, "previous_size",
                      v.had_state ? json_integer((json_int_t)v.old.size) : json_null(),
                      "events_total", (json_int_t)json_array_size(events), "events_verified",
                      (json_int_t)ok, "failed", failed));
        sl_cli_print_json(doc);
    } else {
        print_report(doc, model, &v, ok, failed, cfg.url);
    }
    if (code)
        fprintf(stderr, "sluice: error: %s: %zu of %zu events of the report did not verify\n",
                model, json_array_size(failed), json_array_size(events));
out:
    json_decref(failed);
    json_decref(doc);
    sl_client_log_verify_release(&v);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    free(model);
    free(org);
    free(name);
    return code;
}
