/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Condition evaluation over incomplete facts, with three-valued logic
 * (docs/policy.md). Each evaluation also produces a readable account of what
 * decided it ("compute.cumulative 3.8e+25 > 1e+25"), which becomes the `why`
 * of a rule in the decision.
 */
#include "policy/policy_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/date.h"
#include "common/util.h"
#include "common/banned.h"

json_t *sl__fact_lookup(json_t *env, const char *dotted)
{
    char part[128];
    const char *p = dotted;
    json_t *cur = env;

    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part) || !json_is_object(cur))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        cur = json_object_get(cur, part);
        p = dot ? dot + 1 : p + n;
    }
    if (cur && json_is_null(cur))
        return NULL;
    return cur;
}

bool sl__threshold(const struct cond *c, int32_t date, double *v)
{
    switch (c->thr) {
    case THR_PLAIN:
        if (!json_is_number(c->value))
            return false;
        *v = json_number_value(c->value);
        return true;
    case THR_SCHEDULE: {
        bool found = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            if (c->steps[i].from <= date) {
                *v = c->steps[i].value;
                found = true;
            }
        }
        return found;
    }
    case THR_INDEXED:
        *v = c->base * pow(2.0, ((double)(date - c->base_date) / 365.25) / c->doubling_years);
        return true;
    }
    return false;
}

static const char *op_text(enum cond_op op)
{
    static const char *const t[] = {">", ">=", "<", "<=", "==", "!=", "in"};
    return t[op];
}

/* Writes a short rendering of a JSON scalar or array. */
static void render(struct sl_buf *b, json_t *v)
{
    char num[32];

    if (json_is_string(v)) {
        sl_buf_adds(b, json_string_value(v));
    } else if (json_is_number(v)) {
        sl_buf_adds(b, sl_fmt_sig(json_number_value(v), 3, num, sizeof(num)));
    } else if (json_is_true(v)) {
        sl_buf_adds(b, "true");
    } else if (json_is_false(v)) {
        sl_buf_adds(b, "false");
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        sl_buf_addc(b, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                sl_buf_adds(b, ", ");
            render(b, e);
        }
        sl_buf_addc(b, ']');
    } else {
        sl_buf_adds(b, "null");
    }
}

static bool scalar_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static void add_missing(json_t *missing, const char *fact)
{
    size_t i;
    json_t *e;

    if (!missing)
        return;
    json_array_foreach(missing, i, e)
    {
        if (strcmp(json_string_value(e), fact) == 0)
            return;
    }
    json_array_append_new(missing, json_string(fact));
}

static enum tri eval(const struct cond *c, json_t *env, int32_t date, struct sl_buf *why,
                     json_t *missing);

static enum tri eval_leaf(const struct cond *c, json_t *env, int32_t date, struct sl_buf *why,
                          json_t *missing)
{
    json_t *v = sl__fact_lookup(env, c->fact);
    bool r = false;
    double t;
    char num[32];

    if (c->kind == COND_KNOWN || c->kind == COND_UNKNOWN) {
        bool known = v != NULL;
        sl_buf_addf(why, "%s is %s", c->fact, known ? "known" : "not known");
        return (c->kind == COND_KNOWN) == known ? T_TRUE : T_FALSE;
    }
    if (!v) {
        add_missing(missing, c->fact);
        sl_buf_addf(why, "%s is not known", c->fact);
        return T_UNKNOWN;
    }
    sl_buf_addf(why, "%s ", c->fact);
    render(why, v);
    sl_buf_addf(why, " %s ", op_text(c->op));
    if (c->op == OP_IN) {
        size_t i, k;
        json_t *e, *x;
        render(why, c->value);
        if (json_is_array(v)) {
            json_array_foreach(v, i, e)
            {
                json_array_foreach(c->value, k, x)
                {
                    if (scalar_equal(e, x))
                        r = true;
                }
            }
        } else {
            json_array_foreach(c->value, k, x)
            {
                if (scalar_equal(v, x))
                    r = true;
            }
        }
        return r ? T_TRUE : T_FALSE;
    }
    if (c->op == OP_EQ || c->op == OP_NE) {
        render(why, c->value);
        r = scalar_equal(v, c->value);
        return (c->op == OP_EQ) == r ? T_TRUE : T_FALSE;
    }
    if (json_is_string(c->value)) {
        /* a date ordering (the loader allows strings only as dates here) */
        int32_t have, want;
        render(why, c->value);
        if (!json_is_string(v) || !sl_date_parse(json_string_value(v), &have) ||
            !sl_date_parse(json_string_value(c->value), &want))
            return T_FALSE;
        r = (c->op == OP_GT && have > want) || (c->op == OP_GE && have >= want) ||
            (c->op == OP_LT && have < want) || (c->op == OP_LE && have <= want);
        return r ? T_TRUE : T_FALSE;
    }
    if (!sl__threshold(c, date, &t)) {
        sl_buf_adds(why, "(no threshold in force yet)");
        return T_FALSE;
    }
    sl_buf_adds(why, sl_fmt_sig(t, 3, num, sizeof(num)));
    if (c->thr == THR_INDEXED)
        sl_buf_adds(why, " (indexed)");
    if (!json_is_number(v))
        return T_FALSE;
    switch (c->op) {
    case OP_GT:
        r = json_number_value(v) > t;
        break;
    case OP_GE:
        r = json_number_value(v) >= t;
        break;
    case OP_LT:
        r = json_number_value(v) < t;
        break;
    case OP_LE:
        r = json_number_value(v) <= t;
        break;
    default:
        break;
    }
    return r ? T_TRUE : T_FALSE;
}

static enum tri eval(const struct cond *c, json_t *env, int32_t date, struct sl_buf *why,
                     json_t *missing)
{
    struct sl_buf part = SL_BUF_INIT(1 << 16), acc = SL_BUF_INIT(1 << 16);
    enum tri res;

    switch (c->kind) {
    case COND_ALL:
    case COND_ANY: {
        /* `acc` collects the parts that agree with the default outcome (the
         * true parts of an `all`); the first decisive part replaces them. */
        bool all = c->kind == COND_ALL;
        bool any_unknown = false, decided = false;
        /* Facts count as missing only when their absence leaves the result
         * open: a decided `all`/`any` needs none of its unknown parts. */
        json_t *mine = missing ? json_array() : NULL;
        for (size_t i = 0; i < c->nkids; i++) {
            enum tri k;
            sl_buf_reset(&part);
            k = eval(c->kids[i], env, date, &part, mine);
            if (k == T_UNKNOWN) {
                any_unknown = true;
            } else if ((all && k == T_TRUE) || (!all && k == T_FALSE)) {
                if (!decided) {
                    if (acc.len)
                        sl_buf_adds(&acc, all ? " and " : " or ");
                    sl_buf_add(&acc, sl_buf_cstr(&part), part.len);
                }
            } else if (!decided) {
                sl_buf_reset(&acc);
                sl_buf_add(&acc, sl_buf_cstr(&part), part.len);
                decided = true;
            }
        }
        if (decided)
            res = all ? T_FALSE : T_TRUE;
        else
            res = any_unknown ? T_UNKNOWN : (all ? T_TRUE : T_FALSE);
        if (mine) {
            size_t i;
            json_t *e;
            if (res == T_UNKNOWN)
                json_array_foreach(mine, i, e) add_missing(missing, json_string_value(e));
            json_decref(mine);
        }
        sl_buf_add(why, sl_buf_cstr(&acc), acc.len);
        break;
    }
    case COND_NOT: {
        enum tri k = eval(c->kids[0], env, date, &part, missing);
        sl_buf_adds(why, "not (");
        sl_buf_add(why, sl_buf_cstr(&part), part.len);
        sl_buf_adds(why, ")");
        res = k == T_UNKNOWN ? T_UNKNOWN : (k == T_TRUE ? T_FALSE : T_TRUE);
        break;
    }
    default:
        res = eval_leaf(c, env, date, why, missing);
        break;
    }
    sl_buf_release(&part);
    sl_buf_release(&acc);
    return res;
}

enum tri sl__cond_eval(const struct cond *c, json_t *env, int32_t date, json_t *why_parts,
                       json_t *missing)
{
    struct sl_buf why = SL_BUF_INIT(1 << 16);
    enum tri r = eval(c, env, date, &why, missing);

    if (why_parts)
        json_array_append_new(why_parts, json_string(sl_buf_cstr(&why)));
    sl_buf_release(&why);
    return r;
}
