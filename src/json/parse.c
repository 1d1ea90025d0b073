/*
 * src/json/parse.c — RFC 8259 parser into an arena DOM, and the getters.
 *
 * Recursive descent with an explicit depth counter (max_depth, default 128),
 * so the C stack used is bounded by the caller's choice, not by the input.
 * Array elements and object members are pushed on one scratch stack shared by
 * every level (a child finishes before its parent pushes it, so the discipline
 * is strictly LIFO); when a container closes, its elements are copied into an
 * exactly sized arena block and popped. The scratch grows by doubling inside
 * the arena (old blocks are abandoned there: at most as much again as the
 * largest scratch), so everything is freed with the arena.
 *
 * Strings are scanned once (validating UTF-8 and escapes, measuring the
 * decoded length); without escapes the bytes are copied with one memcpy,
 * otherwise a second pass decodes into an exactly sized block.
 *
 * Non-integers go through strtod() on a NUL-terminated copy: glibc's strtod
 * is correctly rounded, but it honours LC_NUMERIC. weft never calls
 * setlocale(), so the C locale ('.' as the decimal point) applies; a program
 * that switches LC_NUMERIC to a ',' locale breaks number parsing. A number
 * whose magnitude overflows a double is rejected ("number out of range");
 * underflow gives 0 or a subnormal, as strtod does.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"
#include "base/utf8.h"

enum { DEF_MAX_DEPTH = 128, SCRATCH_MIN = 16 };

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    weft_arena *a;
    int depth, max_depth;
    weft_json_error *err;
    /* scratch stack: vals[0..nvals), keys[i] is meaningful for object members */
    weft_json_member *stack;
    size_t nstack, capstack;
} parser;

static int fail(parser *p, size_t off, const char *msg, int code) {
    if (p->err) {
        p->err->offset = off;
        p->err->msg = msg;
    }
    return code;
}
#define EPARSE(p, off, msg) fail((p), (off), (msg), WEFT_EPARSE)
#define ENOMEM_(p) fail((p), (p)->pos, "out of memory", WEFT_ENOMEM)

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Reads the \u escape(s) at s[i] (pointing at the backslash) of a string
 * ending before s[end]. On success *cp is the code point and *used the bytes
 * consumed (6 or 12). */
static int read_u(parser *p, size_t i, unsigned *cp, size_t *used) {
    const unsigned char *s = p->s;
    unsigned u, lo;
    if (p->len - i < 6 || hex4(s + i + 2, &u) != 0)
        return EPARSE(p, i, "invalid \\u escape: four hex digits expected");
    if (u >= 0xDC00 && u <= 0xDFFF) return EPARSE(p, i, "lone low surrogate in \\u escape");
    if (u < 0xD800 || u > 0xDBFF) {
        *cp = u;
        *used = 6;
        return 0;
    }
    if (p->len - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s + i + 8, &lo) != 0 ||
        lo < 0xDC00 || lo > 0xDFFF)
        return EPARSE(p, i, "high surrogate not followed by a low surrogate");
    *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    *used = 12;
    return 0;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static size_t utf8_len(unsigned cp) {
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* p->pos at the opening quote. On success *out (length *n) is the decoded,
 * NUL-terminated string in the arena and p->pos is past the closing quote. */
static int parse_string(parser *p, const char **out, size_t *n) {
    const unsigned char *s = p->s;
    size_t start = ++p->pos, i = start, dlen = 0;
    int escapes = 0;
    /* pass 1: validate, find the end, measure the decoded length */
    for (;;) {
        if (i >= p->len) return EPARSE(p, i, "unterminated string");
        unsigned char c = s[i];
        if (c == '"') break;
        if (c < 0x20) return EPARSE(p, i, "unescaped control character in string");
        if (c < 0x80 && c != '\\') {
            i++, dlen++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = weft__utf8_seq(s + i, p->len - i);
            if (k == 0) return EPARSE(p, i, "invalid UTF-8 in string");
            i += k, dlen += k;
            continue;
        }
        escapes = 1;
        if (i + 1 >= p->len) return EPARSE(p, i, "unterminated string");
        switch (s[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2, dlen++;
            break;
        case 'u': {
            unsigned cp;
            size_t used;
            int rc = read_u(p, i, &cp, &used);
            if (rc) return rc;
            i += used, dlen += utf8_len(cp);
            break;
        }
        default:
            return EPARSE(p, i, "invalid escape in string");
        }
    }
    size_t end = i;
    if (dlen > UINT32_MAX) return fail(p, start - 1, "string too long", WEFT_ELIMIT);
    unsigned char *o = weft_arena_alloc(p->a, dlen + 1);
    if (!o) return ENOMEM_(p);
    if (!escapes) {
        memcpy(o, s + start, dlen);
    } else {
        /* pass 2: everything was validated above */
        size_t k = 0;
        for (i = start; i < end;) {
            unsigned char c = s[i];
            if (c != '\\') {
                o[k++] = c;
                i++;
                continue;
            }
            unsigned char e = s[i + 1];
            switch (e) {
            case 'b':
                o[k++] = '\b';
                break;
            case 'f':
                o[k++] = '\f';
                break;
            case 'n':
                o[k++] = '\n';
                break;
            case 'r':
                o[k++] = '\r';
                break;
            case 't':
                o[k++] = '\t';
                break;
            case 'u': {
                unsigned cp = 0;
                size_t used = 0;
                (void)read_u(p, i, &cp, &used);
                k += put_utf8(o + k, cp);
                i += used;
                continue;
            }
            default:
                o[k++] = e;
                break; /* " \ / */
            }
            i += 2;
        }
    }
    o[dlen] = 0;
    *out = (const char *)o;
    *n = dlen;
    p->pos = end + 1;
    return 0;
}

static int parse_number(parser *p, weft_json *v) {
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start;
    int neg = 0, integral = 1;
    if (s[i] == '-') neg = 1, i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9') return EPARSE(p, i, "digit expected in number");
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9')
            return EPARSE(p, i - 1, "leading zero in number");
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    size_t int_end = i;
    if (i < p->len && s[i] == '.') {
        integral = 0;
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return EPARSE(p, i, "digit expected after decimal point");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return EPARSE(p, i, "digit expected in exponent");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    p->pos = i;
    if (integral) {
        /* magnitude in uint64; -2^63 is the one value whose magnitude is 2^63 */
        uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int ovf = 0;
        for (size_t j = start + (size_t)neg; j < int_end; j++) {
            unsigned d = (unsigned)(s[j] - '0');
            if (m > (lim - d) / 10) {
                ovf = 1;
                break;
            }
            m = m * 10 + d;
        }
        if (!ovf) {
            v->type = WEFT_JSON_INT;
            v->u.i = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
            return 0;
        }
    }
    char small[64], *buf = small;
    size_t n = i - start;
    if (n >= sizeof small) {
        buf = weft_arena_alloc(p->a, n + 1);
        if (!buf) return ENOMEM_(p);
    }
    memcpy(buf, s + start, n);
    buf[n] = 0;
    char *endp;
    double d = strtod(buf, &endp);
    if (endp != buf + n) return EPARSE(p, start, "invalid number"); /* cannot happen */
    if (isinf(d)) return EPARSE(p, start, "number out of range");
    v->type = WEFT_JSON_DOUBLE;
    v->u.d = d;
    return 0;
}

static int push(parser *p, const weft_str *key, const weft_json *v) {
    if (p->nstack == p->capstack) {
        size_t cap = p->capstack ? p->capstack * 2 : SCRATCH_MIN;
        weft_json_member *ns = weft_arena_alloc(p->a, cap * sizeof *ns);
        if (!ns) return ENOMEM_(p);
        if (p->nstack) memcpy(ns, p->stack, p->nstack * sizeof *ns);
        p->stack = ns;
        p->capstack = cap;
    }
    weft_json_member *m = &p->stack[p->nstack++];
    if (key) m->key = *key;
    m->value = *v;
    return 0;
}

static int parse_value(parser *p, weft_json *v);

static int parse_container(parser *p, weft_json *v, int obj) {
    size_t open = p->pos;
    if (++p->depth > p->max_depth) return fail(p, open, "nesting too deep", WEFT_ELIMIT);
    p->pos++;
    size_t base = p->nstack;
    char close = obj ? '}' : ']';
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            weft_str key = {0, 0};
            weft_json item;
            int rc;
            skip_ws(p);
            if (obj) {
                if (p->pos >= p->len) return EPARSE(p, p->pos, "unexpected end of input");
                if (p->s[p->pos] != '"') return EPARSE(p, p->pos, "string key expected");
                if ((rc = parse_string(p, &key.p, &key.n)) != 0) return rc;
                skip_ws(p);
                if (p->pos >= p->len) return EPARSE(p, p->pos, "unexpected end of input");
                if (p->s[p->pos] != ':') return EPARSE(p, p->pos, "':' expected after key");
                p->pos++;
                skip_ws(p);
            }
            if ((rc = parse_value(p, &item)) != 0) return rc;
            if ((rc = push(p, obj ? &key : NULL, &item)) != 0) return rc;
            skip_ws(p);
            if (p->pos >= p->len) return EPARSE(p, p->pos, "unexpected end of input");
            unsigned char c = p->s[p->pos];
            if (c == close) {
                p->pos++;
                break;
            }
            if (c != ',')
                return EPARSE(p, p->pos, obj ? "',' or '}' expected" : "',' or ']' expected");
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == close)
                return EPARSE(p, p->pos, "trailing comma");
        }
    }
    size_t n = p->nstack - base;
    if (n > UINT32_MAX) return fail(p, open, "too many elements", WEFT_ELIMIT);
    v->type = obj ? WEFT_JSON_OBJECT : WEFT_JSON_ARRAY;
    v->len = (uint32_t)n;
    if (obj) {
        v->u.members = NULL;
        if (n) {
            weft_json_member *m = weft_arena_alloc(p->a, n * sizeof *m);
            if (!m) return ENOMEM_(p);
            memcpy(m, p->stack + base, n * sizeof *m);
            v->u.members = m;
        }
    } else {
        v->u.items = NULL;
        if (n) {
            weft_json *it = weft_arena_alloc(p->a, n * sizeof *it);
            if (!it) return ENOMEM_(p);
            for (size_t j = 0; j < n; j++) it[j] = p->stack[base + j].value;
            v->u.items = it;
        }
    }
    p->nstack = base;
    p->depth--;
    return 0;
}

static int match_lit(parser *p, const char *lit, size_t n) {
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0) {
        /* name the first byte that differs */
        size_t j = 0;
        while (p->pos + j < p->len && j < n && p->s[p->pos + j] == (unsigned char)lit[j]) j++;
        return EPARSE(p, p->pos + j,
                      p->pos + j >= p->len ? "unexpected end of input" : "invalid literal");
    }
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, weft_json *v) {
    memset(v, 0, sizeof *v);
    if (p->pos >= p->len) return EPARSE(p, p->pos, "unexpected end of input");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
        return parse_container(p, v, 1);
    case '[':
        return parse_container(p, v, 0);
    case '"': {
        size_t n = 0;
        int rc = parse_string(p, &v->u.s, &n);
        if (rc) return rc;
        v->type = WEFT_JSON_STRING;
        v->len = (uint32_t)n;
        return 0;
    }
    case 't':
        v->type = WEFT_JSON_TRUE;
        return match_lit(p, "true", 4);
    case 'f':
        v->type = WEFT_JSON_FALSE;
        return match_lit(p, "false", 5);
    case 'n':
        v->type = WEFT_JSON_NULL;
        return match_lit(p, "null", 4);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
        return EPARSE(p, p->pos, "value expected");
    }
}

int weft_json_parse(const char *buf, size_t len, weft_arena *a, int max_depth, weft_json **out,
                    weft_json_error *err) {
    parser p = {(const unsigned char *)buf,
                len,
                0,
                a,
                0,
                max_depth > 0 ? max_depth : DEF_MAX_DEPTH,
                err,
                NULL,
                0,
                0};
    if (err) err->offset = 0, err->msg = NULL;
    if (!buf && len) return EPARSE(&p, 0, "NULL input");
    weft_json *root = weft_arena_alloc(a, sizeof *root);
    if (!root) return ENOMEM_(&p);
    skip_ws(&p);
    int rc = parse_value(&p, root);
    if (rc) return rc;
    skip_ws(&p);
    if (p.pos != len) return EPARSE(&p, p.pos, "trailing characters after the JSON text");
    if (out) *out = root;
    return 0;
}

/* ---- getters --------------------------------------------------------------- */

const weft_json *weft_json_get(const weft_json *obj, const char *key) {
    if (!obj || !key || obj->type != WEFT_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->len; i++) {
        const weft_json_member *m = &obj->u.members[i];
        if (m->key.n == n && memcmp(m->key.p, key, n) == 0) return &m->value;
    }
    return NULL;
}

const weft_json *weft_json_at(const weft_json *arr, size_t i) {
    if (!arr || arr->type != WEFT_JSON_ARRAY || i >= arr->len) return NULL;
    return &arr->u.items[i];
}

int weft_json_int(const weft_json *v, int64_t *out) {
    if (!v) return WEFT_EINVAL;
    if (v->type == WEFT_JSON_INT) {
        if (out) *out = v->u.i;
        return 0;
    }
    if (v->type != WEFT_JSON_DOUBLE) return WEFT_EINVAL;
    double d = v->u.d;
    if (isnan(d) || d != trunc(d)) return WEFT_EINVAL;
    /* [-2^63, 2^63): both bounds are exact doubles */
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return WEFT_ERANGE;
    if (out) *out = (int64_t)d;
    return 0;
}

int weft_json_double(const weft_json *v, double *out) {
    if (!v) return WEFT_EINVAL;
    double d;
    if (v->type == WEFT_JSON_INT)
        d = (double)v->u.i;
    else if (v->type == WEFT_JSON_DOUBLE)
        d = v->u.d;
    else
        return WEFT_EINVAL;
    if (out) *out = d;
    return 0;
}

int weft_json_bool(const weft_json *v, int *out) {
    if (!v || (v->type != WEFT_JSON_TRUE && v->type != WEFT_JSON_FALSE)) return WEFT_EINVAL;
    if (out) *out = v->type == WEFT_JSON_TRUE;
    return 0;
}

weft_str weft_json_str(const weft_json *v) {
    if (!v || v->type != WEFT_JSON_STRING) return (weft_str){NULL, 0};
    return (weft_str){v->u.s, v->len};
}

int weft_json_equal(const weft_json *a, const weft_json *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type || a->len != b->len) return 0;
    switch (a->type) {
    case WEFT_JSON_INT:
        return a->u.i == b->u.i;
    case WEFT_JSON_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case WEFT_JSON_STRING:
        return memcmp(a->u.s, b->u.s, (size_t)a->len + 1) == 0;
    case WEFT_JSON_ARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (!weft_json_equal(&a->u.items[i], &b->u.items[i])) return 0;
        return 1;
    case WEFT_JSON_OBJECT:
        for (uint32_t i = 0; i < a->len; i++) {
            const weft_json_member *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->key.n != y->key.n || memcmp(x->key.p, y->key.p, x->key.n + 1) != 0) return 0;
            if (!weft_json_equal(&x->value, &y->value)) return 0;
        }
        return 1;
    default:
        return 1;
    }
}
