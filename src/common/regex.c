/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The linear-time regular-expression engine (regex.h): a recursive-descent
 * parser builds a small syntax tree, bounded by the pattern's length and the
 * nesting limit; the tree is emitted as a Thompson NFA program whose size is
 * known before it is emitted (repetitions expanded, capped); the matcher
 * simulates all threads at once over the text's code points, one list of
 * program counters per position (Pike VM without captures), so it never
 * backtracks: time is the text's length times the program's size.
 */
#include "common/regex.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* ---- program ---------------------------------------------------------- */

enum op { OP_CHAR, OP_ANY, OP_CLASS, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_MATCH };

/* One instruction: CHAR a = code point (folded when case-insensitive);
 * CLASS a = first range, b = number of ranges, neg; SPLIT a, b = targets;
 * JMP a = target. */
struct inst {
    uint8_t op;
    uint8_t neg;
    uint32_t a, b;
};

struct sl_re {
    struct inst *code;
    size_t n;
    uint32_t (*ranges)[2];
    size_t nranges;
    bool icase;
};

/* Text bytes that are not valid UTF-8 are matched as code points past
 * Unicode's end, so they meet only `.` and negated classes. */
#define BAD_BASE 0x110000u
#define CP_LAST  (BAD_BASE + 0xffu)
#define REP_INF  (-1)

/* ---- case folding ----------------------------------------------------- */

static bool in(uint32_t c, uint32_t lo, uint32_t hi)
{
    return c >= lo && c <= hi;
}

/* Latin Extended-A pairs whose capital is the even code point. */
static bool even_pair(uint32_t c)
{
    return in(c, 0x100, 0x12f) || in(c, 0x132, 0x137) || in(c, 0x14a, 0x177);
}

/* ... and those whose capital is the odd one. */
static bool odd_pair(uint32_t c)
{
    return in(c, 0x139, 0x148) || in(c, 0x179, 0x17e);
}

uint32_t sl_re_fold(uint32_t c)
{
    if (in(c, 'A', 'Z'))
        return c + 32;
    if (in(c, 0xc0, 0xde) && c != 0xd7)
        return c + 32;
    if (c == 0x178)
        return 0xff;
    if (even_pair(c) && c % 2 == 0)
        return c + 1;
    if (odd_pair(c) && c % 2 == 1)
        return c + 1;
    if (in(c, 0x391, 0x3a9) && c != 0x3a2)
        return c + 32;
    if (c == 0x3c2) /* final sigma */
        return 0x3c3;
    if (in(c, 0x410, 0x42f))
        return c + 32;
    if (in(c, 0x400, 0x40f))
        return c + 80;
    return c;
}

/* The capital of a folded (lower-case) code point, the inverse of fold. */
static uint32_t unfold(uint32_t c)
{
    if (in(c, 'a', 'z'))
        return c - 32;
    if (in(c, 0xe0, 0xfe) && c != 0xf7)
        return c - 32;
    if (c == 0xff)
        return 0x178;
    if (c > 0x100 && even_pair(c) && even_pair(c - 1) && c % 2 == 1)
        return c - 1;
    if (c > 0x100 && odd_pair(c) && odd_pair(c - 1) && c % 2 == 0)
        return c - 1;
    if (in(c, 0x3b1, 0x3c9) && c != 0x3c2)
        return c - 32;
    if (in(c, 0x430, 0x44f))
        return c - 32;
    if (in(c, 0x450, 0x45f))
        return c - 80;
    return c;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Decodes one strict UTF-8 character at p[*i]; -1 when invalid. */
static int utf8_next(const unsigned char *p, size_t n, size_t *i, uint32_t *cp)
{
    unsigned char b = p[*i];
    size_t need;
    uint32_t c, min;

    if (b < 0x80) {
        *cp = b;
        (*i)++;
        return 0;
    }
    if (in(b, 0xc2, 0xdf)) {
        need = 1, c = b & 0x1f, min = 0x80;
    } else if (in(b, 0xe0, 0xef)) {
        need = 2, c = b & 0x0f, min = 0x800;
    } else if (in(b, 0xf0, 0xf4)) {
        need = 3, c = b & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (n - *i <= need)
        return -1;
    for (size_t k = 1; k <= need; k++) {
        if ((p[*i + k] & 0xc0) != 0x80)
            return -1;
        c = (c << 6) | (p[*i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || in(c, 0xd800, 0xdfff))
        return -1;
    *cp = c;
    *i += need + 1;
    return 0;
}

/* ---- syntax tree ------------------------------------------------------ */

enum kind { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_REP };

struct node {
    uint8_t kind;
    uint8_t neg;
    uint32_t c;      /* CHAR: code point; CLASS: first range */
    uint32_t nr;     /* CLASS: number of ranges */
    int left, right; /* CAT, ALT; REP: left */
    int min, max;    /* REP; max REP_INF for none */
    size_t size;     /* instructions once emitted */
};

struct parser {
    const unsigned char *p;
    size_t n, i;
    unsigned flags;
    struct node *nodes;
    size_t nnodes, capnodes;
    uint32_t (*ranges)[2];
    size_t nranges, capranges;
    size_t errpos;
    struct sl_error *err;
};

static enum sl_err fail(struct parser *ps, enum sl_err code, size_t pos, const char *what)
{
    ps->errpos = pos;
    return sl_error_set(ps->err, code, "%s at offset %zu", what, pos);
}

static enum sl_err new_node(struct parser *ps, uint8_t kind, size_t size, int *out)
{
    struct node *nd;

    if (ps->nnodes == ps->capnodes)
        return fail(ps, SL_ELIMIT, ps->i, "pattern too complex");
    nd = &ps->nodes[ps->nnodes];
    memset(nd, 0, sizeof(*nd));
    nd->kind = kind;
    nd->size = size;
    *out = (int)ps->nnodes++;
    return SL_OK;
}

static enum sl_err add_range(struct parser *ps, uint32_t lo, uint32_t hi)
{
    if (ps->nranges == ps->capranges)
        return fail(ps, SL_ELIMIT, ps->i, "character class too large");
    ps->ranges[ps->nranges][0] = lo;
    ps->ranges[ps->nranges][1] = hi;
    ps->nranges++;
    return SL_OK;
}

/* Checks a size against the program's cap (one instruction kept for MATCH). */
static enum sl_err check_size(struct parser *ps, size_t size, size_t pos)
{
    if (size > SL_RE_PROG_MAX - 1) {
        ps->errpos = pos;
        return sl_error_set(ps->err, SL_ELIMIT,
                            "pattern too large once repetitions are expanded (over %d "
                            "instructions) at offset %zu",
                            SL_RE_PROG_MAX, pos);
    }
    return SL_OK;
}

static enum sl_err cat(struct parser *ps, int a, int b, size_t pos, int *out)
{
    size_t size = ps->nodes[a].size + ps->nodes[b].size;
    enum sl_err rc = check_size(ps, size, pos);

    if (rc)
        return rc;
    rc = new_node(ps, N_CAT, size, out);
    if (rc)
        return rc;
    ps->nodes[*out].left = a;
    ps->nodes[*out].right = b;
    return SL_OK;
}

static const uint32_t DIGIT[][2] = {{'0', '9'}};
static const uint32_t WORD[][2] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const uint32_t SPACE[][2] = {{0x09, 0x0d}, {' ', ' '}};

/* The ranges of \d, \w or \s (lower-case `e`); NULL for other letters. */
static const uint32_t (*perl_class(unsigned char e, size_t *n))[2]
{
    switch (e) {
    case 'd':
        *n = 1;
        return DIGIT;
    case 'w':
        *n = 4;
        return WORD;
    case 's':
        *n = 2;
        return SPACE;
    default:
        return NULL;
    }
}

/* Adds the ranges of a sorted, disjoint set, or of its complement. */
static enum sl_err add_set(struct parser *ps, const uint32_t (*set)[2], size_t n, bool neg)
{
    enum sl_err rc = SL_OK;
    uint32_t lo = 0;

    if (!neg) {
        for (size_t k = 0; k < n && !rc; k++)
            rc = add_range(ps, set[k][0], set[k][1]);
        return rc;
    }
    for (size_t k = 0; k < n && !rc; k++) {
        if (set[k][0] > lo)
            rc = add_range(ps, lo, set[k][0] - 1);
        lo = set[k][1] + 1;
    }
    if (!rc)
        rc = add_range(ps, lo, CP_LAST);
    return rc;
}

/* A single escaped character after `\` (not a class); -1 when unsupported. */
static int escape_char(unsigned char e, uint32_t *cp)
{
    switch (e) {
    case 'n':
        *cp = '\n';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case 't':
        *cp = '\t';
        return 0;
    default:
        break;
    }
    if (e < 0x80 && !(in(e, '0', '9') || in(e, 'A', 'Z') || in(e, 'a', 'z')) && e > 0x20 &&
        e != 0x7f) {
        *cp = e;
        return 0;
    }
    return -1;
}

/* A literal character at ps->i (not `\`); moves past it. */
static enum sl_err literal_char(struct parser *ps, uint32_t *cp)
{
    size_t at = ps->i;

    if (utf8_next(ps->p, ps->n, &ps->i, cp) != 0)
        return fail(ps, SL_EINPUT, at, "invalid UTF-8");
    return SL_OK;
}

/* One member of a class (`\` escapes, perl classes): a single code point in
 * `*cp`, or `*set` true when it added a perl class's ranges itself. */
static enum sl_err class_atom(struct parser *ps, uint32_t *cp, bool *set)
{
    size_t at = ps->i, n;
    const uint32_t(*pc)[2];
    unsigned char e;

    *set = false;
    if (ps->p[ps->i] != '\\')
        return literal_char(ps, cp);
    if (ps->i + 1 >= ps->n)
        return fail(ps, SL_EINPUT, at, "trailing '\\'");
    e = ps->p[ps->i + 1];
    ps->i += 2;
    pc = perl_class((unsigned char)(e | 0x20), &n);
    if (pc && in(e | 0x20, 'a', 'z')) {
        *set = true;
        return add_set(ps, pc, n, e >= 'A' && e <= 'Z');
    }
    if (escape_char(e, cp) != 0)
        return fail(ps, SL_EINPUT, at, "unsupported escape");
    return SL_OK;
}

/* `[...]` at ps->i. */
static enum sl_err parse_class(struct parser *ps, int *out)
{
    size_t open = ps->i, first;
    bool neg = false, set;
    uint32_t lo, hi;
    enum sl_err rc;

    ps->i++;
    if (ps->i < ps->n && ps->p[ps->i] == '^') {
        neg = true;
        ps->i++;
    }
    first = ps->nranges;
    /* A ']' first is a member, as in POSIX. */
    if (ps->i < ps->n && ps->p[ps->i] == ']') {
        rc = add_range(ps, ']', ']');
        if (rc)
            return rc;
        ps->i++;
    }
    for (;;) {
        size_t at = ps->i;
        if (ps->i >= ps->n)
            return fail(ps, SL_EINPUT, open, "missing ']' for the '['");
        if (ps->p[ps->i] == ']')
            break;
        rc = class_atom(ps, &lo, &set);
        if (rc)
            return rc;
        if (set)
            continue;
        hi = lo;
        if (ps->i + 1 < ps->n && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
            size_t hat;
            ps->i++;
            hat = ps->i;
            rc = class_atom(ps, &hi, &set);
            if (rc)
                return rc;
            if (set)
                return fail(ps, SL_EINPUT, hat, "a class escape cannot end a range");
            if (hi < lo)
                return fail(ps, SL_EINPUT, at, "range out of order");
        }
        rc = add_range(ps, lo, hi);
        if (rc)
            return rc;
    }
    ps->i++; /* ']' */
    rc = new_node(ps, N_CLASS, 1, out);
    if (rc)
        return rc;
    ps->nodes[*out].c = (uint32_t)first;
    ps->nodes[*out].nr = (uint32_t)(ps->nranges - first);
    ps->nodes[*out].neg = neg;
    return SL_OK;
}

static enum sl_err parse_alt(struct parser *ps, int depth, int *out);

static enum sl_err char_node(struct parser *ps, uint32_t cp, int *out)
{
    enum sl_err rc = new_node(ps, N_CHAR, 1, out);

    if (!rc)
        ps->nodes[*out].c = (ps->flags & SL_RE_ICASE) ? sl_re_fold(cp) : cp;
    return rc;
}

static enum sl_err parse_atom(struct parser *ps, int depth, int *out)
{
    size_t at = ps->i, n;
    unsigned char b = ps->p[ps->i];
    const uint32_t(*pc)[2];
    uint32_t cp;
    enum sl_err rc;

    switch (b) {
    case '(':
        if (depth >= SL_RE_DEPTH_MAX)
            return fail(ps, SL_ELIMIT, at, "groups nested too deep");
        ps->i++;
        if (ps->i < ps->n && ps->p[ps->i] == '?')
            return fail(ps, SL_EINPUT, ps->i, "group options '(?' are not supported");
        rc = parse_alt(ps, depth + 1, out);
        if (rc)
            return rc;
        if (ps->i >= ps->n || ps->p[ps->i] != ')')
            return fail(ps, SL_EINPUT, at, "missing ')' for the '('");
        ps->i++;
        return SL_OK;
    case '[':
        return parse_class(ps, out);
    case '.':
        ps->i++;
        return new_node(ps, N_ANY, 1, out);
    case '^':
        ps->i++;
        return new_node(ps, N_BOL, 1, out);
    case '$':
        ps->i++;
        return new_node(ps, N_EOL, 1, out);
    case '*':
    case '+':
    case '?':
    case '{':
        return fail(ps, SL_EINPUT, at, "nothing to repeat");
    case ']':
    case '}':
        return fail(ps, SL_EINPUT, at, "unescaped bracket");
    case '\\':
        if (ps->i + 1 >= ps->n)
            return fail(ps, SL_EINPUT, at, "trailing '\\'");
        b = ps->p[ps->i + 1];
        ps->i += 2;
        pc = perl_class((unsigned char)(b | 0x20), &n);
        if (pc && in(b | 0x20, 'a', 'z')) {
            rc = new_node(ps, N_CLASS, 1, out);
            if (rc)
                return rc;
            ps->nodes[*out].c = (uint32_t)ps->nranges;
            ps->nodes[*out].nr = (uint32_t)n;
            ps->nodes[*out].neg = b >= 'A' && b <= 'Z';
            return add_set(ps, pc, n, false);
        }
        if (escape_char(b, &cp) != 0)
            return fail(ps, SL_EINPUT, at, "unsupported escape");
        return char_node(ps, cp, out);
    default:
        rc = literal_char(ps, &cp);
        if (rc)
            return rc;
        return char_node(ps, cp, out);
    }
}

/* A decimal count of {m,n} at ps->i; -1 when there is none. */
static int parse_count(struct parser *ps, int *v)
{
    size_t start = ps->i;

    *v = 0;
    while (ps->i < ps->n && in(ps->p[ps->i], '0', '9')) {
        if (*v > SL_RE_REPEAT_MAX)
            return -2;
        *v = *v * 10 + (ps->p[ps->i] - '0');
        ps->i++;
    }
    if (ps->i == start)
        return -1;
    return *v > SL_RE_REPEAT_MAX ? -2 : 0;
}

/* `{m}`, `{m,}`, `{m,n}` at ps->i (the '{'). */
static enum sl_err parse_braces(struct parser *ps, int *min, int *max)
{
    size_t at = ps->i;
    int r;

    ps->i++;
    r = parse_count(ps, min);
    if (r == -2)
        goto big;
    if (r == -1)
        return fail(ps, SL_EINPUT, at,
                    "'{' must be followed by a count (write '\\{' for the brace)");
    *max = *min;
    if (ps->i < ps->n && ps->p[ps->i] == ',') {
        ps->i++;
        if (ps->i < ps->n && ps->p[ps->i] == '}') {
            *max = REP_INF;
        } else {
            r = parse_count(ps, max);
            if (r == -2)
                goto big;
            if (r == -1)
                return fail(ps, SL_EINPUT, at, "bad repetition count");
        }
    }
    if (ps->i >= ps->n || ps->p[ps->i] != '}')
        return fail(ps, SL_EINPUT, at, "missing '}' for the '{'");
    ps->i++;
    if (*max != REP_INF && *max < *min)
        return fail(ps, SL_EINPUT, at, "repetition {m,n} with n less than m");
    return SL_OK;
big:
    ps->errpos = at;
    return sl_error_set(ps->err, SL_ELIMIT, "repetition count over %d at offset %zu",
                        SL_RE_REPEAT_MAX, at);
}

static size_t rep_size(size_t e, int min, int max)
{
    if (max == REP_INF)
        return min == 0 ? e + 2 : (size_t)min * e + 1;
    return (size_t)min * e + (size_t)(max - min) * (e + 1);
}

static enum sl_err parse_repeat(struct parser *ps, int depth, int *out)
{
    size_t at = ps->i;
    enum sl_err rc = parse_atom(ps, depth, out);
    bool quantified = false;

    while (!rc && ps->i < ps->n) {
        unsigned char b = ps->p[ps->i];
        size_t qat = ps->i, size;
        int min, max, rep;
        uint8_t k = ps->nodes[*out].kind;

        if (b == '*') {
            min = 0, max = REP_INF, ps->i++;
        } else if (b == '+') {
            min = 1, max = REP_INF, ps->i++;
        } else if (b == '?') {
            min = 0, max = 1, ps->i++;
        } else if (b == '{') {
            rc = parse_braces(ps, &min, &max);
            if (rc)
                return rc;
        } else {
            break;
        }
        if (quantified)
            return fail(ps, SL_EINPUT, qat, "a quantifier after a quantifier");
        if (k == N_BOL || k == N_EOL || k == N_EMPTY)
            return fail(ps, SL_EINPUT, qat, "nothing to repeat");
        quantified = true;
        if (ps->i < ps->n && ps->p[ps->i] == '?') /* lazy: the same for a yes/no match */
            ps->i++;
        size = rep_size(ps->nodes[*out].size, min, max);
        rc = check_size(ps, size, at);
        if (rc)
            return rc;
        rc = new_node(ps, N_REP, size, &rep);
        if (rc)
            return rc;
        ps->nodes[rep].left = *out;
        ps->nodes[rep].min = min;
        ps->nodes[rep].max = max;
        *out = rep;
    }
    return rc;
}

static enum sl_err parse_cat(struct parser *ps, int depth, int *out)
{
    enum sl_err rc = new_node(ps, N_EMPTY, 0, out);

    while (!rc && ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')') {
        size_t at = ps->i;
        int a;
        rc = parse_repeat(ps, depth, &a);
        if (rc)
            return rc;
        if (ps->nodes[*out].kind == N_EMPTY)
            *out = a;
        else
            rc = cat(ps, *out, a, at, out);
    }
    return rc;
}

static enum sl_err parse_alt(struct parser *ps, int depth, int *out)
{
    enum sl_err rc = parse_cat(ps, depth, out);

    while (!rc && ps->i < ps->n && ps->p[ps->i] == '|') {
        size_t at = ps->i;
        int b, alt;
        ps->i++;
        rc = parse_cat(ps, depth, &b);
        if (rc)
            return rc;
        rc = check_size(ps, ps->nodes[*out].size + ps->nodes[b].size + 2, at);
        if (rc)
            return rc;
        rc = new_node(ps, N_ALT, ps->nodes[*out].size + ps->nodes[b].size + 2, &alt);
        if (rc)
            return rc;
        ps->nodes[alt].left = *out;
        ps->nodes[alt].right = b;
        *out = alt;
    }
    return rc;
}

/* The whole pattern as a plain string. */
static enum sl_err parse_literal(struct parser *ps, int *out)
{
    enum sl_err rc = new_node(ps, N_EMPTY, 0, out);

    while (!rc && ps->i < ps->n) {
        size_t at = ps->i;
        uint32_t cp;
        int a;
        rc = literal_char(ps, &cp);
        if (!rc)
            rc = char_node(ps, cp, &a);
        if (rc)
            return rc;
        if (ps->nodes[*out].kind == N_EMPTY)
            *out = a;
        else
            rc = cat(ps, *out, a, at, out);
    }
    return rc;
}

/* ---- emission --------------------------------------------------------- */

static size_t emit_inst(struct sl_re *re, uint8_t op, uint32_t a, uint32_t b)
{
    struct inst *ins = &re->code[re->n];

    ins->op = op;
    ins->neg = 0;
    ins->a = a;
    ins->b = b;
    return re->n++;
}

/* Emits node `k`; the sizes computed while parsing bound re->n. */
static void emit(const struct parser *ps, struct sl_re *re, int k)
{
    const struct node *nd = &ps->nodes[k];
    size_t l, j;
    uint32_t chain = UINT32_MAX;

    switch (nd->kind) {
    case N_EMPTY:
        break;
    case N_CHAR:
        emit_inst(re, OP_CHAR, nd->c, 0);
        break;
    case N_ANY:
        emit_inst(re, OP_ANY, 0, 0);
        break;
    case N_CLASS:
        l = emit_inst(re, OP_CLASS, nd->c, nd->nr);
        re->code[l].neg = nd->neg;
        break;
    case N_BOL:
        emit_inst(re, OP_BOL, 0, 0);
        break;
    case N_EOL:
        emit_inst(re, OP_EOL, 0, 0);
        break;
    case N_CAT:
        emit(ps, re, nd->left);
        emit(ps, re, nd->right);
        break;
    case N_ALT:
        l = emit_inst(re, OP_SPLIT, (uint32_t)re->n + 1, 0);
        emit(ps, re, nd->left);
        j = emit_inst(re, OP_JMP, 0, 0);
        re->code[l].b = (uint32_t)re->n;
        emit(ps, re, nd->right);
        re->code[j].a = (uint32_t)re->n;
        break;
    case N_REP:
        if (nd->max == REP_INF && nd->min > 0) {
            for (int i = 0; i < nd->min - 1; i++)
                emit(ps, re, nd->left);
            l = re->n;
            emit(ps, re, nd->left);
            emit_inst(re, OP_SPLIT, (uint32_t)l, (uint32_t)re->n + 1);
        } else if (nd->max == REP_INF) {
            l = emit_inst(re, OP_SPLIT, (uint32_t)re->n + 1, 0);
            emit(ps, re, nd->left);
            emit_inst(re, OP_JMP, (uint32_t)l, 0);
            re->code[l].b = (uint32_t)re->n;
        } else {
            for (int i = 0; i < nd->min; i++)
                emit(ps, re, nd->left);
            /* Each optional copy's SPLIT skips to the end; until the end
             * is known, its b links to the previous one (a small stack
             * frame however deep the recursion). */
            for (int i = nd->min; i < nd->max; i++) {
                chain = (uint32_t)emit_inst(re, OP_SPLIT, (uint32_t)re->n + 1, chain);
                emit(ps, re, nd->left);
            }
            while (chain != UINT32_MAX) {
                j = re->code[chain].b;
                re->code[chain].b = (uint32_t)re->n;
                chain = (uint32_t)j;
            }
        }
        break;
    default:
        break;
    }
}

enum sl_err sl_re_compile(const char *pat, size_t n, unsigned flags, struct sl_re **out,
                          size_t *pos, struct sl_error *err)
{
    struct parser ps;
    struct sl_re *re = NULL;
    enum sl_err rc;
    int root;

    memset(&ps, 0, sizeof(ps));
    *out = NULL;
    if (pos)
        *pos = 0;
    if (n == 0)
        return sl_error_set(err, SL_EINPUT, "empty pattern");
    if (n > SL_RE_PATTERN_MAX) {
        if (pos)
            *pos = SL_RE_PATTERN_MAX;
        return sl_error_set(err, SL_ELIMIT, "pattern longer than %d bytes", SL_RE_PATTERN_MAX);
    }
    ps.p = (const unsigned char *)pat;
    ps.n = n;
    ps.flags = flags;
    ps.err = err;
    /* Each byte makes at most a leaf and a join; each class member at most
     * the ranges of a negated \w (five). */
    ps.capnodes = 2 * n + 4;
    ps.capranges = 5 * n + 8;
    ps.nodes = calloc(ps.capnodes, sizeof(*ps.nodes));
    ps.ranges = calloc(ps.capranges, sizeof(*ps.ranges));
    if (!ps.nodes || !ps.ranges) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory compiling a pattern");
        goto out;
    }
    if (flags & SL_RE_LITERAL) {
        rc = parse_literal(&ps, &root);
    } else {
        rc = parse_alt(&ps, 0, &root);
        if (!rc && ps.i < ps.n) /* only a ')' stops the top level early */
            rc = fail(&ps, SL_EINPUT, ps.i, "unbalanced ')'");
    }
    if (rc)
        goto out;
    re = calloc(1, sizeof(*re));
    if (!re) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory compiling a pattern");
        goto out;
    }
    re->icase = (flags & SL_RE_ICASE) != 0;
    re->code = calloc(ps.nodes[root].size + 1, sizeof(*re->code));
    re->ranges = calloc(ps.nranges ? ps.nranges : 1, sizeof(*re->ranges));
    if (!re->code || !re->ranges) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory compiling a pattern");
        goto out;
    }
    memcpy(re->ranges, ps.ranges, ps.nranges * sizeof(*ps.ranges));
    re->nranges = ps.nranges;
    emit(&ps, re, root);
    emit_inst(re, OP_MATCH, 0, 0);
    *out = re;
    re = NULL;
out:
    if (rc && pos)
        *pos = ps.errpos;
    sl_re_free(re);
    free(ps.ranges);
    free(ps.nodes);
    return rc;
}

void sl_re_free(struct sl_re *re)
{
    if (!re)
        return;
    free(re->code);
    free(re->ranges);
    free(re);
}

size_t sl_re_size(const struct sl_re *re)
{
    return re->n;
}

/* ---- matching --------------------------------------------------------- */

struct sl_re_run {
    const struct sl_re *re;
    uint32_t *cur, *nxt; /* program counters of the live threads */
    size_t ncur, nnxt;
    uint32_t *seen; /* seen[pc] == gen: pc is already in this step's list */
    uint32_t gen;
    uint32_t *stack;
    bool matched, ended, consumed;
    /* A UTF-8 sequence cut by the end of a piece. */
    uint32_t pend_cp;
    unsigned pend_need, pend_len;
    unsigned char pend_lead;
};

static void next_gen(struct sl_re_run *r)
{
    if (++r->gen == 0) {
        memset(r->seen, 0, r->re->n * sizeof(*r->seen));
        r->gen = 1;
    }
}

/* Adds the thread at `pc` and every thread its empty moves reach to
 * `list`; reaching MATCH records the match. */
static void add_thread(struct sl_re_run *r, uint32_t *list, size_t *nlist, uint32_t pc,
                       bool at_start, bool at_end)
{
    const struct inst *code = r->re->code;
    size_t sp = 0;

    r->stack[sp++] = pc;
    while (sp > 0) {
        pc = r->stack[--sp];
        if (r->seen[pc] == r->gen)
            continue;
        r->seen[pc] = r->gen;
        switch (code[pc].op) {
        case OP_JMP:
            r->stack[sp++] = code[pc].a;
            break;
        case OP_SPLIT:
            r->stack[sp++] = code[pc].b;
            r->stack[sp++] = code[pc].a;
            break;
        case OP_BOL:
            if (at_start)
                r->stack[sp++] = pc + 1;
            break;
        case OP_EOL:
            if (at_end)
                r->stack[sp++] = pc + 1;
            else
                list[(*nlist)++] = pc; /* decided when the text ends */
            break;
        case OP_MATCH:
            r->matched = true;
            break;
        default:
            list[(*nlist)++] = pc;
            break;
        }
    }
}

static bool class_has(const struct sl_re *re, const struct inst *ins, uint32_t c)
{
    for (uint32_t k = 0; k < ins->b; k++) {
        const uint32_t *rg = re->ranges[ins->a + k];
        if (c >= rg[0] && c <= rg[1])
            return true;
    }
    return false;
}

static bool class_match(const struct sl_re *re, const struct inst *ins, uint32_t c)
{
    bool has = class_has(re, ins, c);

    if (!has && re->icase && c < BAD_BASE) {
        uint32_t f = sl_re_fold(c);
        has = class_has(re, ins, f) || class_has(re, ins, unfold(f));
    }
    return ins->neg ? !has : has;
}

/* One step over code point `c`. */
static void step(struct sl_re_run *r, uint32_t c)
{
    const struct sl_re *re = r->re;
    uint32_t *t;
    uint32_t fc = (re->icase && c < BAD_BASE) ? sl_re_fold(c) : c;

    next_gen(r);
    r->nnxt = 0;
    for (size_t k = 0; k < r->ncur && !r->matched; k++) {
        const struct inst *ins = &re->code[r->cur[k]];
        bool ok;
        switch (ins->op) {
        case OP_CHAR:
            ok = ins->a == fc;
            break;
        case OP_ANY:
            ok = true;
            break;
        case OP_CLASS:
            ok = class_match(re, ins, c);
            break;
        default:
            ok = false;
            break;
        }
        if (ok)
            add_thread(r, r->nxt, &r->nnxt, r->cur[k] + 1, false, false);
    }
    /* A match may start after every character. */
    if (!r->matched)
        add_thread(r, r->nxt, &r->nnxt, 0, false, false);
    t = r->cur, r->cur = r->nxt, r->nxt = t;
    r->ncur = r->nnxt;
    r->consumed = true;
}

struct sl_re_run *sl_re_run_new(const struct sl_re *re)
{
    struct sl_re_run *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->re = re;
    r->cur = calloc(re->n, sizeof(*r->cur));
    r->nxt = calloc(re->n, sizeof(*r->nxt));
    r->seen = calloc(re->n, sizeof(*r->seen));
    /* Each instruction is expanded once per step and pushes at most two. */
    r->stack = calloc(2 * re->n + 1, sizeof(*r->stack));
    if (!r->cur || !r->nxt || !r->seen || !r->stack) {
        sl_re_run_free(r);
        return NULL;
    }
    next_gen(r);
    add_thread(r, r->cur, &r->ncur, 0, true, false);
    return r;
}

bool sl_re_run_feed(struct sl_re_run *r, const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *)text;

    for (size_t i = 0; i < n && !r->matched && !r->ended; i++) {
        unsigned char b = p[i];
        if (r->pend_need > 0) {
            if ((b & 0xc0) == 0x80) {
                r->pend_cp = (r->pend_cp << 6) | (b & 0x3f);
                r->pend_len++;
                if (--r->pend_need == 0) {
                    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
                    uint32_t c = r->pend_cp;
                    if (c < min[r->pend_len] || c > 0x10ffff || in(c, 0xd800, 0xdfff))
                        c = BAD_BASE + r->pend_lead;
                    step(r, c);
                }
                continue;
            }
            /* The sequence was cut: its lead is one bad byte, and this byte
             * starts afresh. */
            r->pend_need = 0;
            step(r, BAD_BASE + r->pend_lead);
            if (r->matched)
                break;
        }
        if (b < 0x80) {
            step(r, b);
        } else if (in(b, 0xc2, 0xf4)) {
            r->pend_lead = b;
            r->pend_len = 1;
            r->pend_need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
            r->pend_cp = b & (b < 0xe0 ? 0x1f : b < 0xf0 ? 0x0f : 0x07);
        } else {
            step(r, BAD_BASE + b);
        }
    }
    return r->matched;
}

bool sl_re_run_end(struct sl_re_run *r)
{
    if (r->ended || r->matched) {
        r->ended = true;
        return r->matched;
    }
    if (r->pend_need > 0) {
        r->pend_need = 0;
        step(r, BAD_BASE + r->pend_lead);
    }
    r->ended = true;
    if (r->matched)
        return true;
    next_gen(r);
    r->nnxt = 0;
    for (size_t k = 0; k < r->ncur && !r->matched; k++) {
        uint32_t pc = r->cur[k];
        if (r->re->code[pc].op == OP_EOL)
            add_thread(r, r->nxt, &r->nnxt, pc + 1, !r->consumed, true);
    }
    return r->matched;
}

void sl_re_run_free(struct sl_re_run *r)
{
    if (!r)
        return;
    free(r->cur);
    free(r->nxt);
    free(r->seen);
    free(r->stack);
    free(r);
}

bool sl_re_search(const struct sl_re *re, const char *text, size_t n)
{
    struct sl_re_run *r = sl_re_run_new(re);
    bool m;

    if (!r)
        return false;
    sl_re_run_feed(r, text, n);
    m = sl_re_run_end(r);
    sl_re_run_free(r);
    return m;
}
