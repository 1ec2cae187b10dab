/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Facts file validation (docs/facts.md). The key names are a contract: every
 * key is optional and an unknown key is an error, so a typo never silently
 * changes a classification. Each error names the key path.
 */
#include "policy/policy_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/date.h"
#include "common/util.h"
#include "common/banned.h"

#define FACTS_MAX_BYTES (1u << 20)

enum ftype {
    F_INT,  /* exact non-negative integer (counts) */
    F_NUM,  /* finite number >= 0 */
    F_POS,  /* finite number > 0 */
    F_FRAC, /* 0 < x <= 1 */
    F_BOOL,
    F_STR,
    F_DATE,
    F_ENUM,  /* string from a list */
    F_ENUMS, /* array of strings from a list (or matching a pattern) */
    F_OBJ,
    F_OBJS, /* array of objects */
};

struct field {
    const char *name;
    enum ftype type;
    double max;                   /* upper bound for numbers, 0 = none */
    const char *const *allowed;   /* F_ENUM / F_ENUMS; NULL = market codes */
    const struct field *children; /* F_OBJ / F_OBJS */
    size_t max_items;             /* F_ENUMS / F_OBJS */
};

static const char *const precisions[] = {"bf16", "fp16", "fp8", "int8", "tf32", "fp32", NULL};
static const char *const modalities[] = {"text",
                                         "code",
                                         "audio",
                                         "speech",
                                         "image",
                                         "video",
                                         "biological-sequence",
                                         "chemical-structure",
                                         "embedding",
                                         "robotics",
                                         "other",
                                         NULL};
static const char *const domains[] = {"cbrn",         "biological", "chemical", "nuclear",
                                      "radiological", "cyber",      "autonomy", "ai-rnd",
                                      "manipulation", "persuasion", "other",    NULL};
static const char *const levels[] = {"none", "low", "medium", "high", "critical", NULL};
static const char *const tiers[] = {"open", "click", "gated", "hosted", "withheld", NULL};
/* Chapters of the EU GPAI Code of Practice (10 Jul 2025). */
static const char *const cop_chapters[] = {"transparency", "copyright", "safety-security", NULL};

static const struct field hardware_fields[] = {
    {"chip", F_STR, 0, NULL, NULL, 0},
    {"count", F_POS, 1e9, NULL, NULL, 0},
    {"hours", F_POS, 1e9, NULL, NULL, 0},
    {"utilization", F_FRAC, 1, NULL, NULL, 0},
    {"precision", F_ENUM, 0, precisions, NULL, 0},
    {"peak_flops", F_POS, 1e20, NULL, NULL, 0},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field training_fields[] = {
    {"tokens", F_NUM, 1e18, NULL, NULL, 0},
    {"epochs", F_POS, 1e6, NULL, NULL, 0},
    {"fine_tune_tokens", F_NUM, 1e18, NULL, NULL, 0},
    {"declared_flop", F_NUM, 1e35, NULL, NULL, 0},
    {"synthetic_data_flop", F_NUM, 1e35, NULL, NULL, 0},
    {"hardware", F_OBJS, 0, NULL, hardware_fields, SL_MAX_HARDWARE},
    {"date", F_DATE, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field base_fields[] = {
    {"name", F_STR, 0, NULL, NULL, 0},
    {"training_flop", F_NUM, 1e35, NULL, NULL, 0},
    {"systemic_risk", F_BOOL, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field license_fields[] = {
    {"spdx", F_STR, 0, NULL, NULL, 0},       {"noncommercial", F_BOOL, 0, NULL, NULL, 0},
    {"user_cap", F_BOOL, 0, NULL, NULL, 0},  {"no_redistribution", F_BOOL, 0, NULL, NULL, 0},
    {"paid_only", F_BOOL, 0, NULL, NULL, 0}, {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field developer_fields[] = {
    {"annual_revenue_usd", F_NUM, 1e16, NULL, NULL, 0},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field eval_fields[] = {
    {"domain", F_ENUM, 0, domains, NULL, 0}, {"level", F_ENUM, 0, levels, NULL, 0},
    {"method", F_STR, 0, NULL, NULL, 0},     {"date", F_DATE, 0, NULL, NULL, 0},
    {"baseline", F_STR, 0, NULL, NULL, 0},   {NULL, 0, 0, NULL, NULL, 0},
};

static const struct field top_fields[] = {
    {"params", F_INT, 1e16, NULL, NULL, 0},
    {"active_params", F_INT, 1e16, NULL, NULL, 0},
    {"training", F_OBJ, 0, NULL, training_fields, 0},
    {"base_model", F_OBJ, 0, NULL, base_fields, 0},
    {"modality", F_ENUMS, 0, modalities, NULL, 16},
    {"biological_sequence_data", F_BOOL, 0, NULL, NULL, 0},
    {"license", F_OBJ, 0, NULL, license_fields, 0},
    {"developer", F_OBJ, 0, NULL, developer_fields, 0},
    {"markets", F_ENUMS, 0, NULL, NULL, 300},
    {"evaluations", F_OBJS, 0, NULL, eval_fields, 64},
    {"general_purpose", F_BOOL, 0, NULL, NULL, 0},
    {"placed_on_market", F_DATE, 0, NULL, NULL, 0},
    {"code_of_practice_signatory", F_ENUMS, 0, cop_chapters, NULL, 3},
    {"release_tier", F_ENUM, 0, tiers, NULL, 0},
    {NULL, 0, 0, NULL, NULL, 0},
};

struct vctx {
    const char *name;
    char path[200];
    struct sl_error *err;
};

static enum sl_err fail(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum sl_err fail(struct vctx *c, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_error_set(c->err, SL_EINPUT, "%s: %s: %s", c->name, c->path, what);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool market_code(const char *s)
{
    /* "EU", "US", "US-CA", "BR", "IN-KA": two capitals, optionally "-" and 1-3
     * capitals or digits. */
    size_t n = strlen(s);

    if (n < 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
        return false;
    if (n == 2)
        return true;
    if (n < 4 || n > 6 || s[2] != '-')
        return false;
    for (size_t i = 3; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static enum sl_err check_object(struct vctx *c, json_t *o, const struct field *fields);
static enum sl_err check_hardware(struct vctx *c, json_t *h);

static enum sl_err check_value(struct vctx *c, json_t *v, const struct field *f)
{
    char num[32], lim[32];

    switch (f->type) {
    case F_INT: {
        double d;
        if (json_is_integer(v)) {
            if (json_integer_value(v) < 0)
                return fail(c, "must not be negative");
            d = (double)json_integer_value(v);
        } else if (json_is_real(v)) {
            d = json_real_value(v);
            if (d < 0 || floor(d) != d)
                return fail(c, "must be a whole number, got %s",
                            sl_fmt_double(d, num, sizeof(num)));
        } else {
            return fail(c, "must be a whole number");
        }
        if (f->max > 0 && d > f->max)
            return fail(c, "%s is over the limit of %s", sl_fmt_double(d, num, sizeof(num)),
                        sl_fmt_double(f->max, lim, sizeof(lim)));
        /* Reals become exact integers later; beyond 2^53 they are not exact. */
        if (json_is_real(v) && d > 9007199254740992.0)
            return fail(c, "%s is too large to be exact as a real; write it as an integer",
                        sl_fmt_double(d, num, sizeof(num)));
        return SL_OK;
    }
    case F_NUM:
    case F_POS:
    case F_FRAC: {
        double d;
        if (!json_is_number(v))
            return fail(c, "must be a number");
        d = json_number_value(v);
        if (!isfinite(d) || d < 0)
            return fail(c, "must not be negative");
        if ((f->type == F_POS || f->type == F_FRAC) && d <= 0)
            return fail(c, "must be greater than 0");
        if (f->type == F_FRAC && d > 1)
            return fail(c, "must be a fraction between 0 and 1, got %s",
                        sl_fmt_double(d, num, sizeof(num)));
        if (f->max > 0 && d > f->max)
            return fail(c, "%s is over the limit of %s", sl_fmt_double(d, num, sizeof(num)),
                        sl_fmt_double(f->max, lim, sizeof(lim)));
        return SL_OK;
    }
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(c, "must be true or false");
        return SL_OK;
    case F_STR:
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
            return fail(c, "must be a string of 1 to 200 characters");
        return SL_OK;
    case F_DATE: {
        int32_t d;
        if (!json_is_string(v) || !sl_date_parse(json_string_value(v), &d))
            return fail(c, "must be a date YYYY-MM-DD");
        return SL_OK;
    }
    case F_ENUM:
        if (!json_is_string(v) || !in_list(json_string_value(v), f->allowed))
            return fail(c, "must be one of the documented values (docs/facts.md)");
        return SL_OK;
    case F_ENUMS: {
        size_t i;
        json_t *e;
        if (!json_is_array(v))
            return fail(c, "must be an array of strings");
        if (json_array_size(v) > f->max_items)
            return fail(c, "more than %zu entries", f->max_items);
        json_array_foreach(v, i, e)
        {
            bool ok = json_is_string(e) && (f->allowed ? in_list(json_string_value(e), f->allowed)
                                                       : market_code(json_string_value(e)));
            if (!ok)
                return fail(c, "entry %zu is not one of the documented values (docs/facts.md)", i);
        }
        return SL_OK;
    }
    case F_OBJ:
        if (!json_is_object(v))
            return fail(c, "must be an object");
        return check_object(c, v, f->children);
    case F_OBJS: {
        size_t i;
        json_t *e;
        if (!json_is_array(v))
            return fail(c, "must be an array of objects");
        if (json_array_size(v) > f->max_items)
            return fail(c, "more than %zu entries", f->max_items);
        json_array_foreach(v, i, e)
        {
            size_t n = strlen(c->path);
            enum sl_err rc;
            snprintf(c->path + n, sizeof(c->path) - n, "[%zu]", i);
            if (!json_is_object(e))
                return fail(c, "must be an object");
            rc = check_object(c, e, f->children);
            if (!rc && f->children == hardware_fields)
                rc = check_hardware(c, e);
            if (rc)
                return rc;
            c->path[n] = '\0';
        }
        return SL_OK;
    }
    }
    return SL_OK;
}

/* A hardware period needs a peak figure: from the chip table, or given. */
static enum sl_err check_hardware(struct vctx *c, json_t *h)
{
    json_t *chip = json_object_get(h, "chip"), *prec = json_object_get(h, "precision");
    double peak;

    if (json_is_number(json_object_get(h, "peak_flops")))
        return SL_OK;
    if (!json_is_string(chip))
        return fail(c, "needs \"chip\" (or \"peak_flops\")");
    if (!sl_peak_flops(json_string_value(chip),
                       json_is_string(prec) ? json_string_value(prec) : "bf16", &peak))
        return fail(c,
                    "no peak figure for chip \"%s\" at precision \"%s\" (see `sluice "
                    "classify --help` for the chips, or give \"peak_flops\")",
                    json_string_value(chip),
                    json_is_string(prec) ? json_string_value(prec) : "bf16");
    return SL_OK;
}

static enum sl_err check_object(struct vctx *c, json_t *o, const struct field *fields)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        const struct field *f = fields;
        size_t n = strlen(c->path);
        enum sl_err rc;

        while (f->name && strcmp(f->name, key) != 0)
            f++;
        snprintf(c->path + n, sizeof(c->path) - n, "%s%s", n ? "." : "", key);
        if (!f->name)
            return fail(c, "unknown key (see docs/facts.md for the keys)");
        if (!json_is_null(v)) {
            rc = check_value(c, v, f);
            if (rc)
                return rc;
        }
        c->path[n] = '\0';
    }
    return SL_OK;
}

enum sl_err sl_facts_validate(const char *name, json_t *facts, struct sl_error *err)
{
    struct vctx c;

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.err = err;
    if (!json_is_object(facts))
        return sl_error_set(err, SL_EINPUT, "%s: facts must be a JSON object", name);
    return check_object(&c, facts, top_fields);
}

enum sl_err sl_facts_parse(const char *name, const char *text, size_t len, json_t **facts,
                           struct sl_error *err)
{
    json_error_t je;
    json_t *doc;
    enum sl_err rc;

    if (len > FACTS_MAX_BYTES)
        return sl_error_set(err, SL_ELIMIT, "%s: facts file is over %u bytes", name,
                            FACTS_MAX_BYTES);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return sl_error_set(err, SL_EINPUT, "%s: line %d, column %d (byte %d): %s", name, je.line,
                            je.column, je.position, je.text);
    rc = sl_facts_validate(name, doc, err);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    *facts = doc;
    return SL_OK;
}
