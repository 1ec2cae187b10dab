/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance documents as note text: fixed field order, one "key value"
 * line each, strict parsing with the line number in every message.
 */
#include "tlog/govdoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/date.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_REVOCATIONS 1000000u

static const char *const domains[] = {"cbrn", "cyber", "autonomy", "persuasion", NULL};
static const char *const levels[] = {"none", "low", "medium", "high", "critical", NULL};
static const char *const tiers[] = {"open", "click", "gated", "hosted", "withheld", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

bool sl_gov_domain_ok(const char *s)
{
    return in_list(domains, s);
}

bool sl_gov_level_ok(const char *s)
{
    return in_list(levels, s);
}

bool sl_gov_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = sl_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (k == 0 || !sl_gov_char_ok(cp))
            return false;
        i += k;
    }
    return true;
}

bool sl_gov_char_ok(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7f)
        return false;
    /* C1 controls (U+0085 among them), line and paragraph separators,
     * bidirectional embeddings, overrides and isolates, and the BOM: text
     * that would read differently from what is signed */
    if (cp >= 0x80 && cp <= 0x9f)
        return false;
    if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c ||
        cp == 0xfeff)
        return false;
    return true;
}

const char *sl_gov_time(int64_t t, char *buf)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    char d[11];

    sl_date_format((int32_t)days, d);
    snprintf(buf, 21, "%sT%02d:%02d:%02dZ", d, (int)(secs / 3600), (int)(secs / 60 % 60),
             (int)(secs % 60));
    return buf;
}

static bool two_digits(const char *s, int max, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return *v <= max;
}

bool sl_gov_parse_time(const char *s, int64_t *t)
{
    char day[11];
    int32_t days;
    int h, m, sec;
    size_t n = strlen(s);

    if (n != 10 && n != 20)
        return false;
    memcpy(day, s, 10);
    day[10] = '\0';
    if (!sl_date_parse(day, &days))
        return false;
    if (n == 10) {
        *t = (int64_t)days * 86400;
        return true;
    }
    if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        !two_digits(s + 11, 23, &h) || !two_digits(s + 14, 59, &m) || !two_digits(s + 17, 59, &sec))
        return false;
    *t = (int64_t)days * 86400 + h * 3600 + m * 60 + sec;
    return true;
}

static bool hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "org/name" with both parts valid names. */
static bool model_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    size_t a, b;

    if (!slash || strchr(slash + 1, '/'))
        return false;
    a = (size_t)(slash - s);
    b = strlen(slash + 1);
    if (a == 0 || b == 0 || a > 96 || b > 96)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (p == slash)
            continue;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return s[0] != '.' && s[0] != '_' && s[0] != '-' && slash[1] != '.' && slash[1] != '_' &&
           slash[1] != '-';
}

static bool pseudonym_ok(const char *s)
{
    return strncmp(s, "acct:", 5) == 0 && hex_ok(s + 5, 16);
}

const char *sl_license_use(const char *tier)
{
    if (strcmp(tier, "hosted") == 0)
        return "api-only: inference through the hosted gateway; the weights are not released";
    if (strcmp(tier, "gated") == 0)
        return "fingerprinted-copy: each download is marked for the licensee and traceable";
    return NULL;
}

char *sl_license_text(const struct sl_license *l, struct sl_error *err)
{
    struct sl_buf b;
    char t1[21], t2[21];

    if (!hex_ok(l->id, SL_GOV_ID_LEN) || !model_ok(l->model) || !hex_ok(l->commit, 64) ||
        !in_list(tiers, l->tier) || !pseudonym_ok(l->licensee) ||
        !sl_gov_text_ok(l->purpose, SL_GOV_PURPOSE_MAX) || l->issued <= 0 || l->expires < 0 ||
        (l->fingerprint && strcmp(l->tier, "gated") != 0)) {
        sl_error_set(err, SL_EINPUT, "license fields are not valid");
        return NULL;
    }
    sl_buf_init(&b, (size_t)64 << 20);
    sl_buf_addf(&b,
                "sluice license v1\nid %s\nmodel %s\ncommit %s\ntier %s\nlicensee %s\n"
                "purpose %s\nissued %s\nexpires %s\n",
                l->id, l->model, l->commit, l->tier, l->licensee, l->purpose,
                sl_gov_time(l->issued, t1), l->expires ? sl_gov_time(l->expires, t2) : "never");
    if (sl_license_use(l->tier) && !l->no_use_line)
        sl_buf_addf(&b, "use %s\n", sl_license_use(l->tier));
    if (l->fingerprint)
        sl_buf_addf(&b, "fingerprint recipient %u\n", (unsigned)l->fingerprint);
    sl_buf_cstr(&b);
    return sl_buf_detach(&b, NULL);
}

char *sl_attestation_text(const struct sl_attestation *a, struct sl_error *err)
{
    struct sl_buf b;
    char t[21];

    if (!model_ok(a->model)) {
        sl_error_set(err, SL_EINPUT, "model \"%s\" is not ORG/NAME", a->model);
        return NULL;
    }
    if (!hex_ok(a->commit, 64)) {
        sl_error_set(err, SL_EINPUT, "the commit must be 64 lower-case hex digits");
        return NULL;
    }
    if (!sl_gov_domain_ok(a->domain)) {
        sl_error_set(err, SL_EINPUT, "domain \"%s\" is not cbrn, cyber, autonomy or persuasion",
                     a->domain);
        return NULL;
    }
    if (!sl_gov_level_ok(a->level)) {
        sl_error_set(err, SL_EINPUT, "level \"%s\" is not none, low, medium, high or critical",
                     a->level);
        return NULL;
    }
    if (!sl_gov_text_ok(a->method, SL_GOV_METHOD_MAX)) {
        sl_error_set(err, SL_EINPUT,
                     "the method must be 1 to %d bytes of UTF-8 text on one line, without "
                     "control characters or leading and trailing spaces",
                     SL_GOV_METHOD_MAX);
        return NULL;
    }
    if (a->date <= 0) {
        sl_error_set(err, SL_EINPUT, "the date is not valid");
        return NULL;
    }
    sl_buf_init(&b, (size_t)64 << 20);
    sl_buf_addf(&b,
                "sluice attestation v1\nmodel %s\ncommit %s\ndomain %s\nlevel %s\nmethod %s\n"
                "date %s\n",
                a->model, a->commit, a->domain, a->level, a->method, sl_gov_time(a->date, t));
    sl_buf_cstr(&b);
    return sl_buf_detach(&b, NULL);
}

char *sl_revocations_text(const char *origin, int64_t updated, const struct sl_revocation *r,
                          size_t n, struct sl_error *err)
{
    struct sl_buf b;
    char t[21];

    if (!sl_gov_text_ok(origin, 255) || strchr(origin, ' ') || updated <= 0) {
        sl_error_set(err, SL_EINPUT, "the revocation list's origin or time is not valid");
        return NULL;
    }
    sl_buf_init(&b, (size_t)64 << 20);
    sl_buf_addf(&b, "sluice revocations v1\norigin %s\nupdated %s\n", origin,
                sl_gov_time(updated, t));
    for (size_t i = 0; i < n; i++) {
        if (!hex_ok(r[i].id, SL_GOV_ID_LEN) || r[i].revoked <= 0) {
            sl_buf_release(&b);
            sl_error_set(err, SL_EINPUT, "revocation %zu is not valid", i);
            return NULL;
        }
        sl_buf_addf(&b, "revoked %s %s\n", r[i].id, sl_gov_time(r[i].revoked, t));
    }
    sl_buf_cstr(&b);
    return sl_buf_detach(&b, NULL);
}

/* A line reader over note text. */
struct lines {
    const char *p, *end;
    int lineno;
    const char *what;
    struct sl_error *err;
    char line[4096];
};

static enum sl_err bad(struct lines *ln, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum sl_err bad(struct lines *ln, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_error_setk(ln->err, SL_EINPUT, "MalformedDocument", "%s: line %d: %s", ln->what,
                         ln->lineno, msg);
}

/* Reads the next line (without '\n'); SL_ENOTFOUND at the end. */
static enum sl_err next_line(struct lines *ln)
{
    const char *nl;
    size_t n;

    if (ln->p >= ln->end)
        return SL_ENOTFOUND;
    ln->lineno++;
    nl = memchr(ln->p, '\n', (size_t)(ln->end - ln->p));
    if (!nl)
        return bad(ln, "%s", "the text does not end with a newline");
    n = (size_t)(nl - ln->p);
    if (n >= sizeof(ln->line))
        return bad(ln, "%s", "the line is too long");
    memcpy(ln->line, ln->p, n);
    ln->line[n] = '\0';
    if (memchr(ln->line, '\0', n))
        return bad(ln, "%s", "the line holds a NUL byte");
    ln->p = nl + 1;
    return SL_OK;
}

/* Reads "key value" for the expected key; `*value` points into ln->line. */
static enum sl_err field(struct lines *ln, const char *key, const char **value)
{
    size_t k = strlen(key);
    enum sl_err rc = next_line(ln);

    if (rc == SL_ENOTFOUND) {
        ln->lineno++;
        return bad(ln, "the field \"%s\" is missing", key);
    }
    if (rc)
        return rc;
    if (strncmp(ln->line, key, k) != 0 || ln->line[k] != ' ')
        return bad(ln, "expected the field \"%s\"", key);
    *value = ln->line + k + 1;
    return SL_OK;
}

static enum sl_err header(struct lines *ln, const char *want)
{
    enum sl_err rc = next_line(ln);

    if (rc == SL_ENOTFOUND) {
        ln->lineno = 1;
        return bad(ln, "%s", "the document is empty");
    }
    if (rc)
        return rc;
    if (strcmp(ln->line, want) != 0)
        return bad(ln, "expected \"%s\"", want);
    return SL_OK;
}

static enum sl_err end(struct lines *ln)
{
    if (ln->p < ln->end) {
        ln->lineno++;
        return bad(ln, "%s", "unexpected text after the last field");
    }
    return SL_OK;
}

static enum sl_err copy(struct lines *ln, char *dst, size_t cap, const char *v, bool ok,
                        const char *what)
{
    if (!ok || strlen(v) >= cap)
        return bad(ln, "%s is not valid", what);
    memcpy(dst, v, strlen(v) + 1);
    return SL_OK;
}

static enum sl_err time_field(struct lines *ln, const char *key, bool never_ok, int64_t *t)
{
    const char *v;
    enum sl_err rc = field(ln, key, &v);

    if (rc)
        return rc;
    if (never_ok && strcmp(v, "never") == 0) {
        *t = 0;
        return SL_OK;
    }
    if (strlen(v) != 20 || !sl_gov_parse_time(v, t) || *t <= 0)
        return bad(ln, "the %s time is not YYYY-MM-DDTHH:MM:SSZ", key);
    return SL_OK;
}

enum sl_err sl_license_parse(const char *text, size_t n, struct sl_license *l, struct sl_error *err)
{
    struct lines ln = {.p = text, .end = text + n, .what = "license", .err = err};
    const char *v;
    enum sl_err rc;

    memset(l, 0, sizeof(*l));
    if ((rc = header(&ln, "sluice license v1")) != SL_OK)
        return rc;
    if ((rc = field(&ln, "id", &v)) ||
        (rc = copy(&ln, l->id, sizeof(l->id), v, hex_ok(v, SL_GOV_ID_LEN), "the license id")))
        return rc;
    if ((rc = field(&ln, "model", &v)) ||
        (rc = copy(&ln, l->model, sizeof(l->model), v, model_ok(v), "the model")))
        return rc;
    if ((rc = field(&ln, "commit", &v)) ||
        (rc = copy(&ln, l->commit, sizeof(l->commit), v, hex_ok(v, 64), "the commit")))
        return rc;
    if ((rc = field(&ln, "tier", &v)) ||
        (rc = copy(&ln, l->tier, sizeof(l->tier), v, in_list(tiers, v), "the tier")))
        return rc;
    if ((rc = field(&ln, "licensee", &v)) ||
        (rc = copy(&ln, l->licensee, sizeof(l->licensee), v, pseudonym_ok(v), "the licensee")))
        return rc;
    if ((rc = field(&ln, "purpose", &v)) ||
        (rc = copy(&ln, l->purpose, sizeof(l->purpose), v, sl_gov_text_ok(v, SL_GOV_PURPOSE_MAX),
                   "the purpose")))
        return rc;
    if ((rc = time_field(&ln, "issued", false, &l->issued)) ||
        (rc = time_field(&ln, "expires", true, &l->expires)))
        return rc;
    /* "use" follows from the tier; licenses issued before it existed lack it */
    l->no_use_line = sl_license_use(l->tier) != NULL && ln.p >= ln.end;
    if (ln.p < ln.end) {
        const char *want = sl_license_use(l->tier);
        if ((rc = field(&ln, "use", &v)) != SL_OK)
            return rc;
        if (!want || strcmp(v, want) != 0)
            return bad(&ln, "%s", "the use does not match the tier");
    }
    /* optional, after "use" in a gated license: the copies are
     * fingerprinted for this recipient */
    if (ln.p < ln.end && strcmp(l->tier, "gated") == 0) {
        char *e;
        unsigned long id;
        if ((rc = field(&ln, "fingerprint", &v)))
            return rc;
        if (strncmp(v, "recipient ", 10) != 0 || v[10] < '1' || v[10] > '9')
            return bad(&ln, "%s", "the fingerprint is not \"recipient N\"");
        errno = 0;
        id = strtoul(v + 10, &e, 10);
        if (errno || *e || id > UINT32_MAX)
            return bad(&ln, "%s", "the fingerprint recipient is not a number below 2^32");
        l->fingerprint = (uint32_t)id;
    }
    return end(&ln);
}

enum sl_err sl_attestation_parse(const char *text, size_t n, struct sl_attestation *a,
                                 struct sl_error *err)
{
    struct lines ln = {.p = text, .end = text + n, .what = "attestation", .err = err};
    const char *v;
    enum sl_err rc;

    memset(a, 0, sizeof(*a));
    if ((rc = header(&ln, "sluice attestation v1")) != SL_OK)
        return rc;
    if ((rc = field(&ln, "model", &v)) ||
        (rc = copy(&ln, a->model, sizeof(a->model), v, model_ok(v), "the model")))
        return rc;
    if ((rc = field(&ln, "commit", &v)) ||
        (rc = copy(&ln, a->commit, sizeof(a->commit), v, hex_ok(v, 64), "the commit")))
        return rc;
    if ((rc = field(&ln, "domain", &v)) ||
        (rc = copy(&ln, a->domain, sizeof(a->domain), v, sl_gov_domain_ok(v), "the domain")))
        return rc;
    if ((rc = field(&ln, "level", &v)) ||
        (rc = copy(&ln, a->level, sizeof(a->level), v, sl_gov_level_ok(v), "the level")))
        return rc;
    if ((rc = field(&ln, "method", &v)) ||
        (rc = copy(&ln, a->method, sizeof(a->method), v, sl_gov_text_ok(v, SL_GOV_METHOD_MAX),
                   "the method")))
        return rc;
    if ((rc = time_field(&ln, "date", false, &a->date)))
        return rc;
    return end(&ln);
}

enum sl_err sl_revocations_parse(const char *text, size_t n, char *origin, int64_t *updated,
                                 struct sl_revocation **out, size_t *count, struct sl_error *err)
{
    struct lines ln = {.p = text, .end = text + n, .what = "revocation list", .err = err};
    struct sl_revocation *r = NULL;
    size_t len = 0, cap = 0;
    const char *v;
    enum sl_err rc;

    *out = NULL;
    *count = 0;
    if ((rc = header(&ln, "sluice revocations v1")) != SL_OK)
        return rc;
    if ((rc = field(&ln, "origin", &v)) ||
        (rc = copy(&ln, origin, 256, v, sl_gov_text_ok(v, 255) && !strchr(v, ' '), "the origin")))
        return rc;
    if ((rc = time_field(&ln, "updated", false, updated)))
        return rc;
    while ((rc = next_line(&ln)) == SL_OK) {
        char id[SL_GOV_ID_LEN + 1], when[21];
        if (strncmp(ln.line, "revoked ", 8) != 0 || strlen(ln.line) != 8 + 16 + 1 + 20 ||
            ln.line[8 + 16] != ' ') {
            rc = bad(&ln, "%s", "expected \"revoked ID TIME\"");
            break;
        }
        memcpy(id, ln.line + 8, 16);
        id[16] = '\0';
        memcpy(when, ln.line + 25, 20);
        when[20] = '\0';
        if (!hex_ok(id, 16)) {
            rc = bad(&ln, "%s", "the license id is not 16 hex digits");
            break;
        }
        if (len == MAX_REVOCATIONS) {
            rc = bad(&ln, "%s", "more than 1,000,000 revocations");
            break;
        }
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            r = sl_xrealloc(r, cap * sizeof(*r));
        }
        memcpy(r[len].id, id, sizeof(id));
        if (!sl_gov_parse_time(when, &r[len].revoked) || r[len].revoked <= 0) {
            rc = bad(&ln, "%s", "the revocation time is not YYYY-MM-DDTHH:MM:SSZ");
            break;
        }
        len++;
    }
    if (rc != SL_ENOTFOUND) {
        free(r);
        return rc;
    }
    *out = r;
    *count = len;
    return SL_OK;
}
