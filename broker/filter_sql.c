/* SQL92 property filters: RocketMQ 4.9.x's SelectorParser grammar and the semantics of its
 * expression classes (ComparisonExpression, UnaryExpression, LogicExpression), written anew.
 *
 * Grammar, loosest binding first:
 *   or    := and (OR and)*
 *   and   := eq (AND eq)*
 *   eq    := cmp ('=' cmp | '<>' cmp | IS NULL | IS NOT NULL)*
 *   cmp   := unary ('>' | '>=' | '<' | '<=' unary | [NOT] BETWEEN unary AND unary
 *                   | [NOT] IN '(' string (',' string)* ')')*
 *   unary := '+' unary | '-' unary | NOT unary | primary        (so NOT binds tighter than '=')
 *   primary := literal | identifier | '(' or ')'
 * Literals: 123 / 123L (Integer when it fits, else Long), 1.5 / .5 / 1e3 (Double), 'it''s',
 * TRUE, FALSE, NULL; keywords any case; comments -- and / * * /. The 4.9.x grammar has no
 * CONTAINS / STARTSWITH / ENDSWITH (those came with 5.x), so neither have we.
 *
 * Values are NULL, Boolean, Integer, Long, Double or String; a property is its String value,
 * or NULL when the message lacks it (or has it empty, as RocketMQ's property decoder drops
 * empty values). Comparing a String with a number converts the String the way Java's
 * Integer/Long/Double.valueOf would; a failed conversion is an evaluation error, which (as the
 * broker's catch-all in ExpressionMessageFilter) makes the whole expression not match. AND / OR
 * are three-valued with RocketMQ's left-to-right short cut; a comparison with NULL is NULL; only
 * TRUE matches.
 *
 * Parse-time checks as RocketMQ's: NULL cannot be an operand of = / <>; only numbers, properties
 * and arithmetic go into > >= < <= BETWEEN; IN needs a property on the left; constant BETWEEN
 * bounds must be ordered; AND / OR / NOT and the whole expression need a boolean (a bare
 * property is cast: a String is never TRUE). Where we differ, on purpose: the whole input must
 * parse (RocketMQ ignores whatever follows the first complete expression), and a Double literal
 * of 0.0 is accepted (RocketMQ rejects it as "less than Double.MIN_VALUE").
 *
 * Compiled form: nodes in one array (children by index), string constants and property names
 * in one pool. Evaluation first finds every referenced property with one pass over the stored
 * properties string (no map per message), then walks the nodes. */
#include "broker/filter_sql.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/msg.h"

#define MAX_DEPTH 200 /* nesting depth the recursive parser accepts */
#define MAX_PROPS 64  /* distinct property names in one expression */
#define MAX_TREE                                                                                   \
    1000 /* depth of the compiled tree (a chain of ANDs), bounds evaluation's stack                \
          */

/* ---- values --------------------------------------------------------------------------- */

typedef enum { V_NULL, V_BOOL, V_INT, V_LONG, V_DOUBLE, V_STR, V_ERR } vtype_t;

typedef struct {
    uint8_t t;
    union {
        bool b;
        int64_t i; /* V_INT and V_LONG */
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
    } u;
} val_t;

/* ---- compiled form ------------------------------------------------------------------- */

typedef enum {
    N_CONST,
    N_PROP,
    N_NEG,
    N_NOT,
    N_BOOLCAST,
    N_AND,
    N_OR,
    N_EQ,
    N_GT,
    N_GE,
    N_LT,
    N_LE,
    N_IN,
} nkind_t;

typedef struct {
    uint8_t kind;
    bool not_;     /* N_IN: NOT IN */
    int32_t a, b;  /* children */
    int32_t slot;  /* N_PROP: property slot */
    uint32_t list; /* N_IN: first entry in strs */
    uint32_t nlist;
    val_t v; /* N_CONST (strings point into pool after compile) */
    uint32_t soff;
    uint32_t src_beg, src_end; /* source span, for messages */
    uint32_t depth;            /* of the subtree */
} node_t;

typedef struct {
    uint32_t off, len; /* into pool */
} str_t;

struct rmq_broker_sql_s {
    node_t *nodes;
    size_t nn, capn;
    str_t *strs; /* IN lists */
    size_t ns, caps;
    str_t props[MAX_PROPS];
    size_t nprops;
    char *pool;
    size_t pool_len, pool_cap;
    int32_t root;
};

/* ---- lexer --------------------------------------------------------------------------- */

typedef enum {
    T_EOF,
    T_NOT,
    T_AND,
    T_OR,
    T_BETWEEN,
    T_IN,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_IS,
    T_DEC,
    T_FLT,
    T_STR,
    T_ID,
    T_EQ,
    T_NE,
    T_GT,
    T_GE,
    T_LT,
    T_LE,
    T_LP,
    T_COMMA,
    T_RP,
    T_PLUS,
    T_MINUS,
} ttype_t;

static const char *const tok_names[] = {
    "end of expression",
    "NOT",
    "AND",
    "OR",
    "BETWEEN",
    "IN",
    "TRUE",
    "FALSE",
    "NULL",
    "IS",
    "number",
    "number",
    "string",
    "identifier",
    "'='",
    "'<>'",
    "'>'",
    "'>='",
    "'<'",
    "'<='",
    "'('",
    "','",
    "')'",
    "'+'",
    "'-'",
};

typedef struct {
    ttype_t t;
    size_t beg, end; /* offsets in the source */
} tok_t;

typedef struct {
    const char *src;
    size_t len, pos;
    tok_t tok;  /* current token */
    tok_t peek; /* next one, when has_peek */
    bool has_peek;
    rmq_broker_sql_t *f; /* being built */
    char *err;
    size_t errlen;
    bool failed, nomem;
    int depth;
} parser_t;

static void fail(parser_t *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(parser_t *p, size_t at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = true;
    if (!p->err || !p->errlen) return;
    int n = snprintf(p->err, p->errlen, "position %zu: ", at + 1);
    if (n < 0 || (size_t)n >= p->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool is_id_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}
static bool is_id_part(int c) {
    return is_id_start(c) || is_digit(c);
}

static bool ieq(const char *a, size_t n, const char *kw) {
    size_t k = strlen(kw);
    if (k != n) return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)a[i];
        if (c >= 'a' && c <= 'z') c -= 32;
        if (c != kw[i]) return false;
    }
    return true;
}

/* Length of an exponent ([eE][+-]?digits) at s[i..], 0 if none. */
static size_t exp_len(const char *s, size_t len, size_t i) {
    if (i >= len || (s[i] != 'e' && s[i] != 'E')) return 0;
    size_t j = i + 1;
    if (j < len && (s[j] == '+' || s[j] == '-')) j++;
    size_t d = j;
    while (j < len && is_digit(s[j])) j++;
    return j > d ? j - i : 0;
}

/* Scan one token at p->pos into *t; false (and p failed) on a lexical error. */
static bool lex(parser_t *p, tok_t *t) {
    const char *s = p->src;
    size_t len = p->len, i = p->pos;
    for (;;) { /* whitespace and comments */
        while (i < len &&
               (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f'))
            i++;
        if (i + 1 < len && s[i] == '-' && s[i + 1] == '-') {
            while (i < len && s[i] != '\n' && s[i] != '\r') i++;
            continue;
        }
        if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < len && !(s[j] == '*' && s[j + 1] == '/')) j++;
            if (j + 1 >= len) {
                fail(p, i, "comment not closed");
                return false;
            }
            i = j + 2;
            continue;
        }
        break;
    }
    t->beg = i;
    if (i >= len) {
        t->t = T_EOF;
        t->end = i;
        p->pos = i;
        return true;
    }
    int c = (unsigned char)s[i];
    if (is_digit(c) || (c == '.' && i + 1 < len && is_digit(s[i + 1]))) {
        /* longest of DECIMAL ("0" | [1-9][0-9]*[lL]?) and FLOATING_POINT; DECIMAL on a tie */
        size_t dl = 0;
        if (c == '0') {
            dl = 1;
        } else if (c != '.') {
            size_t j = i;
            while (j < len && is_digit(s[j])) j++;
            if (j < len && (s[j] == 'l' || s[j] == 'L')) j++;
            dl = j - i;
        }
        size_t fl = 0, j = i;
        while (j < len && is_digit(s[j])) j++;
        if (j > i && j < len && s[j] == '.') {
            j++;
            while (j < len && is_digit(s[j])) j++;
            fl = j + exp_len(s, len, j) - i;
        } else if (j > i) {
            size_t e = exp_len(s, len, j);
            fl = e ? j + e - i : 0;
        } else { /* ".5" */
            j++;
            while (j < len && is_digit(s[j])) j++;
            fl = j + exp_len(s, len, j) - i;
        }
        t->t = fl > dl ? T_FLT : T_DEC;
        t->end = i + (fl > dl ? fl : dl);
    } else if (c == '\'') {
        size_t j = i + 1;
        for (;;) {
            if (j >= len) {
                fail(p, i, "string literal not closed");
                return false;
            }
            if (s[j] == '\'') {
                if (j + 1 < len && s[j + 1] == '\'') {
                    j += 2;
                    continue;
                }
                break;
            }
            j++;
        }
        t->t = T_STR;
        t->end = j + 1;
    } else if (is_id_start(c)) {
        size_t j = i + 1;
        while (j < len && is_id_part(s[j])) j++;
        static const struct {
            const char *kw;
            ttype_t t;
        } kws[] = {{"NOT", T_NOT},         {"AND", T_AND},   {"OR", T_OR},
                   {"BETWEEN", T_BETWEEN}, {"IN", T_IN},     {"TRUE", T_TRUE},
                   {"FALSE", T_FALSE},     {"NULL", T_NULL}, {"IS", T_IS}};
        t->t = T_ID;
        for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++)
            if (ieq(s + i, j - i, kws[k].kw)) t->t = kws[k].t;
        t->end = j;
    } else {
        size_t n = 1;
        switch (c) {
        case '=': t->t = T_EQ; break;
        case '>':
            if (i + 1 < len && s[i + 1] == '=') {
                t->t = T_GE;
                n = 2;
            } else {
                t->t = T_GT;
            }
            break;
        case '<':
            if (i + 1 < len && s[i + 1] == '=') {
                t->t = T_LE;
                n = 2;
            } else if (i + 1 < len && s[i + 1] == '>') {
                t->t = T_NE;
                n = 2;
            } else {
                t->t = T_LT;
            }
            break;
        case '(': t->t = T_LP; break;
        case ')': t->t = T_RP; break;
        case ',': t->t = T_COMMA; break;
        case '+': t->t = T_PLUS; break;
        case '-': t->t = T_MINUS; break;
        default:
            if (c >= 0x20 && c < 0x7f)
                fail(p, i, "unexpected character '%c'", c);
            else
                fail(p, i, "unexpected byte 0x%02x", c);
            return false;
        }
        t->end = i + n;
    }
    p->pos = t->end;
    return true;
}

static bool advance(parser_t *p) {
    if (p->has_peek) {
        p->tok = p->peek;
        p->has_peek = false;
        return true;
    }
    return lex(p, &p->tok);
}

static const tok_t *peek(parser_t *p) {
    if (!p->has_peek) {
        if (!lex(p, &p->peek)) return NULL;
        p->has_peek = true;
    }
    return &p->peek;
}

/* ---- building ------------------------------------------------------------------------ */

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *na = realloc(*arr, nc * elem);
    if (!na) return false;
    *arr = na;
    *cap = nc;
    return true;
}

static int32_t node_new(parser_t *p, nkind_t k, size_t beg, size_t end) {
    rmq_broker_sql_t *f = p->f;
    if (!grow((void **)&f->nodes, &f->capn, f->nn + 1, sizeof *f->nodes)) {
        p->nomem = p->failed = true;
        return -1;
    }
    node_t *n = &f->nodes[f->nn];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)k;
    n->a = n->b = n->slot = -1;
    n->src_beg = (uint32_t)beg;
    n->src_end = (uint32_t)end;
    return (int32_t)f->nn++;
}

static node_t *N(parser_t *p, int32_t i) {
    return &p->f->nodes[i];
}

/* Append bytes to the pool; returns the offset, or UINT32_MAX on failure. */
static uint32_t pool_add(parser_t *p, const char *s, size_t n) {
    rmq_broker_sql_t *f = p->f;
    if (!grow((void **)&f->pool, &f->pool_cap, f->pool_len + n + 1, 1)) {
        p->nomem = p->failed = true;
        return UINT32_MAX;
    }
    uint32_t off = (uint32_t)f->pool_len;
    if (n) memcpy(f->pool + off, s, n);
    f->pool[off + n] = 0;
    f->pool_len += n + 1;
    return off;
}

/* Decode a string literal token ('' -> ') into the pool. */
static bool str_lit(parser_t *p, const tok_t *t, str_t *out) {
    const char *s = p->src + t->beg + 1;
    size_t n = t->end - t->beg - 2;
    uint32_t off = pool_add(p, s, n);
    if (off == UINT32_MAX) return false;
    char *d = p->f->pool + off;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        d[w++] = s[i];
        if (s[i] == '\'') i++;
    }
    d[w] = 0;
    out->off = off;
    out->len = (uint32_t)w;
    return true;
}

static bool is_const(parser_t *p, int32_t i) {
    return N(p, i)->kind == N_CONST;
}

/* RocketMQ's BooleanExpression: comparisons, logic, NOT, casts, IN and TRUE/FALSE/NULL. */
static bool is_boolean(parser_t *p, int32_t i) {
    const node_t *n = N(p, i);
    switch (n->kind) {
    case N_CONST: return n->v.t == V_BOOL || n->v.t == V_NULL;
    case N_PROP:
    case N_NEG: return false;
    default: return true;
    }
}

static int span_len(parser_t *p, int32_t i) {
    const node_t *n = N(p, i);
    size_t l = n->src_end - n->src_beg;
    return (int)(l > 60 ? 60 : l);
}
#define SPAN(p, i) span_len(p, i), (p)->src + N(p, i)->src_beg

static bool set_depth(parser_t *p, int32_t n);

/* asBooleanExpression: a property is cast, anything else not boolean is refused. */
static int32_t as_boolean(parser_t *p, int32_t i) {
    if (i < 0) return -1;
    if (is_boolean(p, i)) return i;
    if (N(p, i)->kind == N_PROP) {
        int32_t c = node_new(p, N_BOOLCAST, N(p, i)->src_beg, N(p, i)->src_end);
        if (c < 0) return -1;
        N(p, c)->a = i;
        return set_depth(p, c) ? c : -1;
    }
    fail(p, N(p, i)->src_beg, "expression will not result in a boolean value: %.*s", SPAN(p, i));
    return -1;
}

/* Set n's depth from its children; false (failed) past MAX_TREE. */
static bool set_depth(parser_t *p, int32_t n) {
    node_t *nd = N(p, n);
    uint32_t d = 0;
    if (nd->a >= 0 && N(p, nd->a)->depth > d) d = N(p, nd->a)->depth;
    if (nd->b >= 0 && N(p, nd->b)->depth > d) d = N(p, nd->b)->depth;
    nd->depth = d + 1;
    if (nd->depth <= MAX_TREE) return true;
    fail(p, nd->src_beg, "expression deeper than %d operations", MAX_TREE);
    return false;
}

static int32_t binary(parser_t *p, nkind_t k, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return -1;
    int32_t n = node_new(p, k, N(p, a)->src_beg, N(p, b)->src_end);
    if (n < 0) return -1;
    N(p, n)->a = a;
    N(p, n)->b = b;
    return set_depth(p, n) ? n : -1;
}

static int32_t unary_node(parser_t *p, nkind_t k, int32_t a, size_t beg) {
    if (a < 0) return -1;
    int32_t n = node_new(p, k, beg, N(p, a)->src_end);
    if (n < 0) return -1;
    N(p, n)->a = a;
    return set_depth(p, n) ? n : -1;
}

/* checkLessThanOperand: only numbers, properties and arithmetic compare with > >= < <=. */
static bool check_less(parser_t *p, int32_t i, size_t at) {
    if (i < 0) return false;
    const node_t *n = N(p, i);
    bool bad = n->kind == N_CONST ? !(n->v.t == V_INT || n->v.t == V_LONG || n->v.t == V_DOUBLE)
                                  : is_boolean(p, i);
    if (bad) fail(p, at, "value '%.*s' cannot be compared", SPAN(p, i));
    return !bad;
}

/* checkEqualOperand / checkEqualOperandCompatability for = and <>. */
static bool check_equal(parser_t *p, int32_t a, int32_t b, size_t at) {
    if (a < 0 || b < 0) return false;
    for (int k = 0; k < 2; k++) {
        int32_t i = k ? b : a;
        if (is_const(p, i) && N(p, i)->v.t == V_NULL) {
            fail(p, at, "'NULL' cannot be compared (use IS NULL)");
            return false;
        }
    }
    if (is_const(p, a) && is_const(p, b) && is_boolean(p, a) && !is_boolean(p, b)) {
        fail(p, at, "'%.*s' cannot be compared with '%.*s'", SPAN(p, a), SPAN(p, b));
        return false;
    }
    return true;
}

static int32_t parse_or(parser_t *p);

static int32_t literal_number(parser_t *p, const tok_t *t) {
    char buf[400];
    size_t n = t->end - t->beg;
    if (n >= sizeof buf) {
        fail(p, t->beg, "number literal too long");
        return -1;
    }
    memcpy(buf, p->src + t->beg, n);
    buf[n] = 0;
    int32_t i = node_new(p, N_CONST, t->beg, t->end);
    if (i < 0) return -1;
    node_t *nd = N(p, i);
    if (t->t == T_DEC) {
        if (buf[n - 1] == 'l' || buf[n - 1] == 'L') buf[n - 1] = 0;
        errno = 0;
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE || *end) {
            fail(p, t->beg, "number %s out of the range of a long", buf);
            return -1;
        }
        nd->v.t = (v >= INT32_MIN && v <= INT32_MAX) ? V_INT : V_LONG;
        nd->v.u.i = v;
    } else {
        double d = strtod(buf, NULL);
        if (isinf(d)) {
            fail(p, t->beg, "%s is greater than 1.7976931348623157E308", buf);
            return -1;
        }
        nd->v.t = V_DOUBLE;
        nd->v.u.d = d;
    }
    return i;
}

static int32_t prop_node(parser_t *p, const tok_t *t) {
    rmq_broker_sql_t *f = p->f;
    const char *name = p->src + t->beg;
    size_t n = t->end - t->beg;
    size_t slot = 0;
    for (; slot < f->nprops; slot++)
        if (f->props[slot].len == n && !memcmp(f->pool + f->props[slot].off, name, n)) break;
    if (slot == f->nprops) {
        if (f->nprops == MAX_PROPS) {
            fail(p, t->beg, "more than %d distinct properties", MAX_PROPS);
            return -1;
        }
        uint32_t off = pool_add(p, name, n);
        if (off == UINT32_MAX) return -1;
        f->props[slot].off = off;
        f->props[slot].len = (uint32_t)n;
        f->nprops++;
    }
    int32_t i = node_new(p, N_PROP, t->beg, t->end);
    if (i >= 0) N(p, i)->slot = (int32_t)slot;
    return i;
}

static int32_t parse_primary(parser_t *p) {
    tok_t t = p->tok;
    int32_t i;
    switch (t.t) {
    case T_DEC:
    case T_FLT: i = literal_number(p, &t); break;
    case T_STR: {
        str_t s;
        if (!str_lit(p, &t, &s)) return -1;
        i = node_new(p, N_CONST, t.beg, t.end);
        if (i < 0) return -1;
        N(p, i)->v.t = V_STR;
        N(p, i)->soff = s.off;
        N(p, i)->v.u.s.n = s.len;
        break;
    }
    case T_TRUE:
    case T_FALSE:
    case T_NULL:
        i = node_new(p, N_CONST, t.beg, t.end);
        if (i < 0) return -1;
        N(p, i)->v.t = t.t == T_NULL ? V_NULL : V_BOOL;
        N(p, i)->v.u.b = t.t == T_TRUE;
        break;
    case T_ID: i = prop_node(p, &t); break;
    case T_LP:
        if (!advance(p)) return -1;
        i = parse_or(p);
        if (i < 0) return -1;
        if (p->tok.t != T_RP) {
            fail(p, p->tok.beg, "expected ')' but found %s", tok_names[p->tok.t]);
            return -1;
        }
        break;
    default: fail(p, t.beg, "expected a value but found %s", tok_names[t.t]); return -1;
    }
    if (i < 0 || !advance(p)) return -1;
    return i;
}

static int32_t parse_unary(parser_t *p) {
    if (++p->depth > MAX_DEPTH) {
        fail(p, p->tok.beg, "expression nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    int32_t r;
    size_t beg = p->tok.beg;
    switch (p->tok.t) {
    case T_PLUS: r = advance(p) ? parse_unary(p) : -1; break;
    case T_MINUS: r = advance(p) ? unary_node(p, N_NEG, parse_unary(p), beg) : -1; break;
    case T_NOT:
        r = advance(p) ? unary_node(p, N_NOT, as_boolean(p, parse_unary(p)), beg) : -1;
        break;
    default: r = parse_primary(p); break;
    }
    p->depth--;
    return r;
}

/* IN ( 'a', 'b', ... ): the current token is IN. */
static int32_t parse_in(parser_t *p, int32_t left, bool not_, size_t at) {
    if (left < 0) return -1;
    if (N(p, left)->kind != N_PROP) {
        fail(p, at, "expected a property for IN, got: %.*s", SPAN(p, left));
        return -1;
    }
    if (!advance(p)) return -1;
    if (p->tok.t != T_LP) {
        fail(p, p->tok.beg, "expected '(' after IN but found %s", tok_names[p->tok.t]);
        return -1;
    }
    int32_t i = node_new(p, N_IN, N(p, left)->src_beg, p->tok.end);
    if (i < 0) return -1;
    rmq_broker_sql_t *f = p->f;
    N(p, i)->a = left;
    N(p, i)->not_ = not_;
    N(p, i)->list = (uint32_t)f->ns;
    for (;;) {
        if (!advance(p)) return -1;
        if (p->tok.t != T_STR) {
            fail(p, p->tok.beg, "IN takes string literals, found %s", tok_names[p->tok.t]);
            return -1;
        }
        if (!grow((void **)&f->strs, &f->caps, f->ns + 1, sizeof *f->strs)) {
            p->nomem = p->failed = true;
            return -1;
        }
        if (!str_lit(p, &p->tok, &f->strs[f->ns])) return -1;
        f->ns++;
        N(p, i)->nlist++;
        if (!advance(p)) return -1;
        if (p->tok.t == T_RP) break;
        if (p->tok.t != T_COMMA) {
            fail(p, p->tok.beg, "expected ',' or ')' in IN list but found %s", tok_names[p->tok.t]);
            return -1;
        }
    }
    N(p, i)->src_end = (uint32_t)p->tok.end;
    return set_depth(p, i) && advance(p) ? i : -1;
}

static bool num_const(parser_t *p, int32_t i, double *d) {
    const node_t *n = N(p, i);
    if (n->kind != N_CONST) return false;
    if (n->v.t == V_INT || n->v.t == V_LONG) {
        *d = (double)n->v.u.i;
        return true;
    }
    if (n->v.t == V_DOUBLE) {
        *d = n->v.u.d;
        return true;
    }
    return false;
}

/* [NOT] BETWEEN low AND high: the current token is BETWEEN. */
static int32_t parse_between(parser_t *p, int32_t left, bool not_, size_t at) {
    if (!advance(p)) return -1;
    int32_t lo = parse_unary(p);
    if (lo < 0) return -1;
    if (p->tok.t != T_AND) {
        fail(p, p->tok.beg, "expected AND in BETWEEN but found %s", tok_names[p->tok.t]);
        return -1;
    }
    if (!advance(p)) return -1;
    int32_t hi = parse_unary(p);
    if (hi < 0 || left < 0) return -1;
    if (!not_ && is_const(p, lo) && is_const(p, hi)) {
        if (N(p, lo)->v.t == V_NULL || N(p, hi)->v.t == V_NULL) {
            fail(p, at, "illegal values of BETWEEN: values can not be NULL");
            return -1;
        }
        double dl, dh;
        if (num_const(p, lo, &dl) && num_const(p, hi, &dh) && dh < dl) {
            fail(p, at, "illegal values of BETWEEN: %.*s must be less than or equal to %.*s",
                 SPAN(p, lo), SPAN(p, hi));
            return -1;
        }
    }
    if (!check_less(p, left, at) || !check_less(p, lo, at) || !check_less(p, hi, at)) return -1;
    int32_t l = binary(p, not_ ? N_LT : N_GE, left, lo);
    int32_t r = binary(p, not_ ? N_GT : N_LE, left, hi);
    return binary(p, not_ ? N_OR : N_AND, l, r);
}

static int32_t parse_cmp(parser_t *p) {
    int32_t left = parse_unary(p);
    while (left >= 0) {
        tok_t t = p->tok;
        nkind_t k;
        switch (t.t) {
        case T_GT: k = N_GT; break;
        case T_GE: k = N_GE; break;
        case T_LT: k = N_LT; break;
        case T_LE: k = N_LE; break;
        case T_BETWEEN: left = parse_between(p, left, false, t.beg); continue;
        case T_IN: left = parse_in(p, left, false, t.beg); continue;
        case T_NOT: {
            const tok_t *nx = peek(p);
            if (!nx) return -1;
            if (nx->t != T_BETWEEN && nx->t != T_IN) return left;
            bool between = nx->t == T_BETWEEN;
            if (!advance(p)) return -1;
            left = between ? parse_between(p, left, true, t.beg) : parse_in(p, left, true, t.beg);
            continue;
        }
        default: return left;
        }
        if (!advance(p)) return -1;
        int32_t right = parse_unary(p);
        if (right < 0 || !check_less(p, left, t.beg) || !check_less(p, right, t.beg)) return -1;
        left = binary(p, k, left, right);
    }
    return left;
}

static int32_t null_const(parser_t *p, size_t beg, size_t end) {
    int32_t i = node_new(p, N_CONST, beg, end);
    if (i >= 0) N(p, i)->v.t = V_NULL;
    return i;
}

static int32_t parse_eq(parser_t *p) {
    int32_t left = parse_cmp(p);
    while (left >= 0) {
        tok_t t = p->tok;
        if (t.t == T_EQ || t.t == T_NE) {
            if (!advance(p)) return -1;
            int32_t right = parse_cmp(p);
            if (!check_equal(p, left, right, t.beg)) return -1;
            left = binary(p, N_EQ, left, right);
            if (left < 0) return -1; /* too deep, or no memory */
            if (t.t == T_NE) left = unary_node(p, N_NOT, left, N(p, left)->src_beg);
        } else if (t.t == T_IS) {
            if (!advance(p)) return -1;
            bool not_ = false;
            if (p->tok.t == T_NOT) {
                not_ = true;
                if (!advance(p)) return -1;
            }
            if (p->tok.t != T_NULL) {
                fail(p, p->tok.beg, "expected %sNULL after IS but found %s", not_ ? "" : "NOT or ",
                     tok_names[p->tok.t]);
                return -1;
            }
            size_t end = p->tok.end;
            if (!advance(p)) return -1;
            left = binary(p, N_EQ, left, null_const(p, t.beg, end));
            if (left < 0) return -1;
            N(p, left)->src_end = (uint32_t)end;
            if (not_) left = unary_node(p, N_NOT, left, N(p, left)->src_beg);
        } else {
            return left;
        }
    }
    return left;
}

static int32_t parse_and(parser_t *p) {
    int32_t left = parse_eq(p);
    while (left >= 0 && p->tok.t == T_AND) {
        if (!advance(p)) return -1;
        int32_t right = parse_eq(p);
        int32_t l = as_boolean(p, left);
        left = binary(p, N_AND, l, as_boolean(p, right));
    }
    return left;
}

static int32_t parse_or(parser_t *p) {
    if (++p->depth > MAX_DEPTH) {
        fail(p, p->tok.beg, "expression nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    int32_t left = parse_and(p);
    while (left >= 0 && p->tok.t == T_OR) {
        if (!advance(p)) return -1;
        int32_t right = parse_and(p);
        int32_t l = as_boolean(p, left);
        left = binary(p, N_OR, l, as_boolean(p, right));
    }
    p->depth--;
    return left;
}

void rmq_broker_sql_destroy(rmq_broker_sql_t *f) {
    if (!f) return;
    free(f->nodes);
    free(f->strs);
    free(f->pool);
    free(f);
}

rmq_err_t rmq_broker_sql_compile(const char *expr, size_t len, rmq_broker_sql_t **out, char *err,
                                 size_t errlen) {
    *out = NULL;
    if (err && errlen) err[0] = 0;
    if (len > UINT32_MAX / 2) len = UINT32_MAX / 2;
    rmq_broker_sql_t *f = calloc(1, sizeof *f);
    if (!f) return RMQ_ERR__NOMEM;
    parser_t p = {
        .src = expr ? expr : "", .len = expr ? len : 0, .f = f, .err = err, .errlen = errlen};
    int32_t root = -1;
    if (advance(&p)) {
        if (p.tok.t == T_EOF)
            fail(&p, 0, "empty expression");
        else
            root = as_boolean(&p, parse_or(&p));
        if (root >= 0 && p.tok.t != T_EOF)
            fail(&p, p.tok.beg, "unexpected %s after a complete expression", tok_names[p.tok.t]);
    }
    if (p.failed || root < 0) {
        bool nomem = p.nomem;
        rmq_broker_sql_destroy(f);
        if (nomem) {
            if (err && errlen) snprintf(err, errlen, "out of memory");
            return RMQ_ERR__NOMEM;
        }
        if (err && errlen && !err[0]) snprintf(err, errlen, "position 1: invalid expression");
        return RMQ_ERR_SUBSCRIPTION_PARSE_FAILED;
    }
    f->root = root;
    /* the pool is final now: point string constants into it */
    for (size_t i = 0; i < f->nn; i++)
        if (f->nodes[i].kind == N_CONST && f->nodes[i].v.t == V_STR)
            f->nodes[i].v.u.s.p = f->pool + f->nodes[i].soff;
    *out = f;
    return RMQ_OK;
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct {
    const rmq_broker_sql_t *f;
    const char *pv[MAX_PROPS]; /* value of each slot, NULL when absent */
    size_t pn[MAX_PROPS];
} ctx_t;

static val_t mk(vtype_t t) {
    val_t v;
    memset(&v, 0, sizeof v);
    v.t = (uint8_t)t;
    return v;
}
static val_t mkbool(bool b) {
    val_t v = mk(V_BOOL);
    v.u.b = b;
    return v;
}

/* Java Integer/Long.valueOf: [+-]?digits, in range; false on NumberFormatException. */
static bool java_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) return false;
    uint64_t lim = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi, v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool is_hex(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Java Double.valueOf: trimmed; [+-]? (NaN | Infinity | decimal [eE..] | hex with p..) and an
 * optional [fFdD] suffix. false on NumberFormatException. */
static bool java_double(const char *s, size_t n, double *out) {
    while (n && (unsigned char)*s <= ' ') s++, n--;
    while (n && (unsigned char)s[n - 1] <= ' ') n--;
    if (n == 0 || n > 350) return false;
    char buf[360];
    memcpy(buf, s, n);
    buf[n] = 0;
    size_t i = 0;
    bool neg = false;
    if (buf[0] == '+' || buf[0] == '-') neg = buf[i++] == '-';
    if (!strcmp(buf + i, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!strcmp(buf + i, "Infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    size_t end = n;
    if (end > i && strchr("fFdD", buf[end - 1])) end--;
    size_t j = i, digits = 0;
    if (end - i >= 2 && buf[i] == '0' && (buf[i + 1] == 'x' || buf[i + 1] == 'X')) {
        j += 2;
        while (j < end && is_hex(buf[j])) j++, digits++;
        if (j < end && buf[j] == '.') {
            j++;
            while (j < end && is_hex(buf[j])) j++, digits++;
        }
        if (!digits || j >= end || (buf[j] != 'p' && buf[j] != 'P')) return false;
        j++;
        if (j < end && (buf[j] == '+' || buf[j] == '-')) j++;
        size_t e = j;
        while (j < end && is_digit(buf[j])) j++;
        if (j == e || j != end) return false;
    } else {
        while (j < end && is_digit(buf[j])) j++, digits++;
        if (j < end && buf[j] == '.') {
            j++;
            while (j < end && is_digit(buf[j])) j++, digits++;
        }
        if (!digits) return false;
        if (j < end && (buf[j] == 'e' || buf[j] == 'E')) {
            j++;
            if (j < end && (buf[j] == '+' || buf[j] == '-')) j++;
            size_t e = j;
            while (j < end && is_digit(buf[j])) j++;
            if (j == e) return false;
        }
        if (j != end) return false;
    }
    buf[end] = 0;
    *out = strtod(buf, NULL);
    return true;
}

/* Java Double.compare: -0.0 < 0.0, NaN equal to itself and above everything. */
static int dcmp(double a, double b) {
    if (a < b) return -1;
    if (a > b) return 1;
    bool na = isnan(a), nb = isnan(b);
    if (na || nb) return na && nb ? 0 : (na ? 1 : -1);
    bool sa = signbit(a), sb = signbit(b);
    return sa == sb ? 0 : (sa ? -1 : 1);
}
static int lcmp(int64_t a, int64_t b) {
    return a < b ? -1 : a > b;
}

static bool is_num(const val_t *v) {
    return v->t == V_INT || v->t == V_LONG || v->t == V_DOUBLE;
}
static double as_d(const val_t *v) {
    return v->t == V_DOUBLE ? v->u.d : (double)v->u.i;
}

/* String -> the type of the other operand, as __compare's valueOf calls; false on error. */
static bool convert(const val_t *str, vtype_t to, val_t *out) {
    const char *s = str->u.s.p;
    size_t n = str->u.s.n;
    *out = mk(to);
    switch (to) {
    case V_BOOL: out->u.b = n == 4 && !strncasecmp(s, "true", 4); return true;
    case V_INT: return java_int(s, n, INT32_MIN, INT32_MAX, &out->u.i);
    case V_LONG: return java_int(s, n, INT64_MIN, INT64_MAX, &out->u.i);
    case V_DOUBLE: return java_double(s, n, &out->u.d);
    default: return false;
    }
}

/* ComparisonExpression.__compare with string conversion on: sign of l - r, or V_ERR through
 * *err. Mismatched types that do not convert compare as -1, as RocketMQ's. */
static int compare(val_t l, val_t r, bool *err) {
    if (l.t != r.t) {
        if (l.t == V_BOOL) {
            if (r.t == V_STR) *err = true; /* RocketMQ casts the Boolean to String: throws */
            return -1;
        }
        if (is_num(&l) && is_num(&r)) {
            if (l.t == V_DOUBLE || r.t == V_DOUBLE) return dcmp(as_d(&l), as_d(&r));
            return lcmp(l.u.i, r.u.i);
        }
        if (is_num(&l) && r.t == V_STR) {
            val_t c;
            if (!convert(&r, (vtype_t)l.t, &c)) {
                *err = true;
                return -1;
            }
            r = c;
        } else if (l.t == V_STR && (is_num(&r) || r.t == V_BOOL)) {
            val_t c;
            if (!convert(&l, (vtype_t)r.t, &c)) {
                *err = true;
                return -1;
            }
            l = c;
        } else {
            return -1;
        }
    }
    switch (l.t) {
    case V_BOOL: return (int)l.u.b - (int)r.u.b;
    case V_INT:
    case V_LONG: return lcmp(l.u.i, r.u.i);
    case V_DOUBLE: return dcmp(l.u.d, r.u.d);
    case V_STR: {
        size_t m = l.u.s.n < r.u.s.n ? l.u.s.n : r.u.s.n;
        int c = m ? memcmp(l.u.s.p, r.u.s.p, m) : 0;
        return c ? c : lcmp((int64_t)l.u.s.n, (int64_t)r.u.s.n);
    }
    default: return 0;
    }
}

/* Object.equals of two values (same type, same value; Double by bits). */
static bool jequals(const val_t *l, const val_t *r) {
    if (l->t != r->t) return false;
    switch (l->t) {
    case V_BOOL: return l->u.b == r->u.b;
    case V_INT:
    case V_LONG: return l->u.i == r->u.i;
    case V_DOUBLE: return dcmp(l->u.d, r->u.d) == 0;
    case V_STR: return l->u.s.n == r->u.s.n && !memcmp(l->u.s.p, r->u.s.p, l->u.s.n);
    default: return false;
    }
}

static val_t ev(ctx_t *cx, int32_t i) {
    const node_t *n = &cx->f->nodes[i];
    switch ((nkind_t)n->kind) {
    case N_CONST: return n->v;
    case N_PROP: {
        if (!cx->pv[n->slot]) return mk(V_NULL);
        val_t v = mk(V_STR);
        v.u.s.p = cx->pv[n->slot];
        v.u.s.n = cx->pn[n->slot];
        return v;
    }
    case N_NEG: {
        val_t v = ev(cx, n->a);
        if (v.t == V_INT || v.t == V_LONG) {
            v.u.i = (int64_t)(0 - (uint64_t)v.u.i);
            return v;
        }
        if (v.t == V_DOUBLE) {
            v.u.d = -v.u.d;
            return v;
        }
        return v.t == V_ERR ? v : mk(V_NULL);
    }
    case N_BOOLCAST: {
        val_t v = ev(cx, n->a);
        if (v.t == V_ERR || v.t == V_NULL || v.t == V_BOOL) return v;
        return mkbool(false);
    }
    case N_NOT: {
        val_t v = ev(cx, n->a);
        if (v.t == V_BOOL) return mkbool(!v.u.b);
        return v.t == V_NULL ? v : mk(V_ERR);
    }
    case N_AND:
    case N_OR: {
        bool stop = n->kind == N_OR; /* the value that decides alone */
        val_t l = ev(cx, n->a);
        if (l.t != V_BOOL && l.t != V_NULL) return mk(V_ERR);
        if (l.t == V_BOOL && l.u.b == stop) return l;
        val_t r = ev(cx, n->b);
        if (r.t != V_BOOL && r.t != V_NULL) return mk(V_ERR);
        if (r.t == V_BOOL && r.u.b == stop) return r;
        if (l.t == V_NULL || r.t == V_NULL) return mk(V_NULL);
        return mkbool(!stop);
    }
    case N_EQ: {
        val_t l = ev(cx, n->a);
        if (l.t == V_ERR) return l;
        val_t r = ev(cx, n->b);
        if (r.t == V_ERR) return r;
        if ((l.t == V_NULL) != (r.t == V_NULL)) return l.t == V_NULL ? l : mkbool(false);
        if (l.t == V_NULL || jequals(&l, &r)) return mkbool(true);
        bool err = false;
        int c = compare(l, r, &err);
        return err ? mk(V_ERR) : mkbool(c == 0);
    }
    case N_GT:
    case N_GE:
    case N_LT:
    case N_LE: {
        val_t l = ev(cx, n->a);
        if (l.t == V_ERR || l.t == V_NULL) return l;
        val_t r = ev(cx, n->b);
        if (r.t == V_ERR || r.t == V_NULL) return r;
        bool err = false;
        int c;
        if (l.t == V_STR && r.t == V_STR) { /* two properties: both as Double or throw */
            val_t a, b;
            if (!convert(&l, V_DOUBLE, &a) || !convert(&r, V_DOUBLE, &b)) return mk(V_ERR);
            c = dcmp(a.u.d, b.u.d);
        } else {
            c = compare(l, r, &err);
            if (err) return mk(V_ERR);
        }
        switch (n->kind) {
        case N_GT: return mkbool(c > 0);
        case N_GE: return mkbool(c >= 0);
        case N_LT: return mkbool(c < 0);
        default: return mkbool(c <= 0);
        }
    }
    case N_IN: {
        val_t v = ev(cx, n->a);
        if (v.t == V_ERR || v.t == V_NULL) return v;
        if (v.t != V_STR) return mk(V_NULL);
        bool found = false;
        for (uint32_t k = 0; k < n->nlist && !found; k++) {
            const str_t *s = &cx->f->strs[n->list + k];
            found = s->len == v.u.s.n && !memcmp(cx->f->pool + s->off, v.u.s.p, v.u.s.n);
        }
        return mkbool(found != n->not_);
    }
    }
    return mk(V_ERR);
}

/* One pass over the properties: the last non-empty value of each referenced name (as
 * RocketMQ's decoder: a pair needs a key and a non-empty value). */
static void bind_props(ctx_t *cx, const char *props, size_t len) {
    const rmq_broker_sql_t *f = cx->f;
    for (size_t k = 0; k < f->nprops; k++) cx->pv[k] = NULL;
    if (!f->nprops || !props) return;
    size_t i = 0;
    while (i < len) {
        const char *e = memchr(props + i, RMQ_PROP_SEP, len - i);
        size_t end = e ? (size_t)(e - props) : len;
        const char *kv = memchr(props + i, RMQ_PROP_NAME_SEP, end - i);
        if (kv && kv > props + i && (size_t)(kv - props) + 1 < end) {
            size_t kl = (size_t)(kv - (props + i));
            for (size_t k = 0; k < f->nprops; k++) {
                if (f->props[k].len == kl && !memcmp(f->pool + f->props[k].off, props + i, kl)) {
                    cx->pv[k] = kv + 1;
                    cx->pn[k] = end - (size_t)(kv + 1 - props);
                }
            }
        }
        i = end + 1;
    }
}

rmq_sql_result_t rmq_broker_sql_eval(const rmq_broker_sql_t *f, const char *props, size_t len) {
    ctx_t cx;
    cx.f = f;
    bind_props(&cx, props, len);
    val_t v = ev(&cx, f->root);
    switch (v.t) {
    case V_BOOL: return v.u.b ? RMQ_SQL_TRUE : RMQ_SQL_FALSE;
    case V_NULL: return RMQ_SQL_NULL;
    default: return RMQ_SQL_ERROR;
    }
}

bool rmq_broker_sql_match_record(const rmq_broker_sql_t *f, const uint8_t *rec, size_t len) {
    rmq_msg_rec_t r;
    if (rmq_msg_rec_decode(rec, len, false, &r) <= 0) return false;
    return rmq_broker_sql_eval(f, r.props, (size_t)r.props_len) == RMQ_SQL_TRUE;
}
