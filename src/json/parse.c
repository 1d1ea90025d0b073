/*
 * src/json/parse.c — RFC 8259 parser into an arena DOM, and the getters.
 *
 * Recursive descent with an explicit depth counter (max_depth, default 128),
 * so the C stack used is bounded by the caller's choice, not by the input.
 * The scanner works on pointers into the input and never reads past its end
 * (the input is not padded); a function that fails returns NULL after
 * recording the error (code, byte offset, message) in the parser.
 *
 * Containers: array elements are pushed on one scratch stack of values and
 * object members on one scratch stack of members, each shared by every level
 * (a child finishes before its parent pushes it, so the discipline is
 * strictly LIFO); when a container closes, its elements are copied with one
 * memcpy into an exactly sized arena block and popped. So a container costs
 * one arena allocation, not one per element. The scratch stacks grow by
 * doubling inside the arena (old blocks are abandoned there: at most as much
 * again as the largest scratch), so everything is freed with the arena.
 *
 * Strings are scanned once, 8 bytes at a time (SWAR: one 64-bit word tests
 * eight bytes for '"', '\\', control characters and non-ASCII at once), which
 * validates UTF-8 and escapes and measures the decoded length; without
 * escapes the bytes are copied with one memcpy, otherwise a second pass
 * decodes into an exactly sized block.
 *
 * Numbers are scanned once, accumulating up to 19 significant digits in a
 * uint64 and the decimal exponent. Integers without fraction or exponent that
 * fit int64 are exact. Doubles, correctly rounded, by the first of:
 *  1. Clinger's fast path: mantissa <= 2^53 and |exp10| <= 22; both operands
 *     are exact doubles, so one IEEE multiplication or division rounds once,
 *     correctly (x86-64 / SSE2 double arithmetic: FLT_EVAL_METHOD == 0);
 *  2. Eisel-Lemire (as in Go's strconv, fast_float, wuffs): the normalised
 *     mantissa times a 64-bit truncation of 10^exp10 gives a 128-bit product
 *     whose top 54 bits are the answer unless the truncation error could
 *     carry into them or the product sits on a halfway point; those cases
 *     (and subnormals, overflow) are refused, not guessed;
 *  3. strtod() on a NUL-terminated copy, for everything refused above and for
 *     more than 19 significant digits. glibc's strtod is correctly rounded,
 *     but it honours LC_NUMERIC. weft never calls setlocale(), so the C locale
 *     ('.' as the decimal point) applies; a program that switches LC_NUMERIC
 *     to a ',' locale breaks this path.
 * A number whose magnitude overflows a double is rejected ("number out of
 * range"); underflow gives 0 or a subnormal, as strtod does.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"
#include "base/utf8.h"
#include "json/json_int.h"

enum { DEF_MAX_DEPTH = 128, SCRATCH_MIN = 64 };

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

typedef const unsigned char *cur_t;

typedef struct parser {
    const unsigned char *s, *end; /* the input */
    weft_arena *a;
    int depth, max_depth;
    int rc; /* the error code once a function returned NULL */
    weft_json_error *err;
    /* scratch stacks: array elements and object members of open containers */
    weft_json *vals;
    size_t nvals, capvals;
    weft_json_member *mems;
    size_t nmems, capmems;
} parser;

static cur_t fail(parser *p, const unsigned char *at, const char *msg, int code) {
    if (p->err) {
        p->err->offset = (size_t)(at - p->s);
        p->err->msg = msg;
    }
    p->rc = code;
    return NULL;
}
#define EPARSE(p, at, msg) fail((p), (at), (msg), WEFT_EPARSE)
#define ENOMEM_(p, at) fail((p), (at), "out of memory", WEFT_ENOMEM)

static inline cur_t skip_ws(cur_t c, cur_t end) {
    while (c < end && *c <= ' ' && (*c == ' ' || *c == '\n' || *c == '\r' || *c == '\t')) c++;
    return c;
}

/* ---- strings ---------------------------------------------------------------- */

#define HIGHS 0x8080808080808080ull
#define special_bytes weft__json_special8
#define load64 weft__load8

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

/* Reads the \u escape(s) at c (pointing at the backslash). On success *cp is
 * the code point and the result the bytes consumed (6 or 12); 0 on error. */
static size_t read_u(parser *p, cur_t c, unsigned *cp) {
    size_t left = (size_t)(p->end - c);
    unsigned u, lo;
    if (left < 6 || hex4(c + 2, &u) != 0) {
        EPARSE(p, c, "invalid \\u escape: four hex digits expected");
        return 0;
    }
    if (u >= 0xDC00 && u <= 0xDFFF) {
        EPARSE(p, c, "lone low surrogate in \\u escape");
        return 0;
    }
    if (u < 0xD800 || u > 0xDBFF) {
        *cp = u;
        return 6;
    }
    if (left < 12 || c[6] != '\\' || c[7] != 'u' || hex4(c + 8, &lo) != 0 || lo < 0xDC00 ||
        lo > 0xDFFF) {
        EPARSE(p, c, "high surrogate not followed by a low surrogate");
        return 0;
    }
    *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    return 12;
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

/* Pass 2 for a string with escapes: raw [c, end) was validated by pass 1. */
static void decode_escapes(parser *p, cur_t c, cur_t end, unsigned char *o) {
    while (c < end) {
        const unsigned char *bs = memchr(c, '\\', (size_t)(end - c));
        size_t run = (size_t)((bs ? bs : end) - c);
        memcpy(o, c, run);
        o += run, c += run;
        if (!bs) break;
        switch (c[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp = 0;
            size_t used = read_u(p, c, &cp);
            o += put_utf8(o, cp);
            c += used;
            continue;
        }
        default:
            *o++ = c[1]; /* " \ / */
            break;
        }
        c += 2;
    }
}

/* c at the opening quote. On success *out (length *n) is the decoded,
 * NUL-terminated string in the arena; returns the byte after the closing
 * quote. */
static cur_t parse_string(parser *p, cur_t c, const char **out, size_t *n) {
    cur_t start = ++c, end = p->end;
    size_t shrink = 0; /* raw bytes minus decoded bytes */
    for (;;) {
        while (LIKELY(end - c >= 8)) {
            uint64_t m = special_bytes(load64(c));
            if (m) {
                c += (unsigned)__builtin_ctzll(m) >> 3;
                goto special;
            }
            c += 8;
        }
        while (c < end && *c >= 0x20 && *c < 0x80 && *c != '"' && *c != '\\') c++;
        if (UNLIKELY(c >= end)) return EPARSE(p, c, "unterminated string");
    special:;
        unsigned char ch = *c;
        if (LIKELY(ch == '"')) break;
        if (ch >= 0x80) {
            size_t k = weft__utf8_seq(c, (size_t)(end - c));
            if (k == 0) return EPARSE(p, c, "invalid UTF-8 in string");
            c += k;
            continue;
        }
        if (ch < 0x20) return EPARSE(p, c, "unescaped control character in string");
        /* backslash */
        if (end - c < 2) return EPARSE(p, c, "unterminated string");
        switch (c[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            c += 2, shrink++;
            break;
        case 'u': {
            unsigned cp;
            size_t used = read_u(p, c, &cp);
            if (!used) return NULL;
            c += used, shrink += used - utf8_len(cp);
            break;
        }
        default:
            return EPARSE(p, c, "invalid escape in string");
        }
    }
    size_t raw = (size_t)(c - start), dlen = raw - shrink;
    if (dlen > UINT32_MAX) return fail(p, start - 1, "string too long", WEFT_ELIMIT);
    unsigned char *o = weft_arena_alloc(p->a, dlen + 1);
    if (!o) return ENOMEM_(p, start - 1);
    if (!shrink)
        memcpy(o, start, dlen);
    else
        decode_escapes(p, start, c, o);
    o[dlen] = 0;
    *out = (const char *)o;
    *n = dlen;
    return c + 1;
}

/* ---- numbers ------------------------------------------------------------------ */

/* floor(e * log2(10)) for |e| <= 500, without shifting a negative number */
static inline int floor_log2_10(int e) {
    return (int)((((int64_t)e * 108853) + ((int64_t)1 << 40)) >> 15) - (1 << 25);
}

/* Eisel-Lemire: man * 10^e10 (man != 0) correctly rounded into *out, or 0
 * when it cannot decide (then strtod does). See the blog post
 * https://nigeltao.github.io/blog/2020/eisel-lemire.html and Go's
 * strconv.eiselLemire64, which this follows; only the high 64 bits of the
 * power are kept, so where Go would consult the low half we refuse instead. */
static int eisel_lemire(uint64_t man, int e10, int neg, double *out) {
#if defined(__SIZEOF_INT128__)
    if (e10 < WEFT__JSON_POW10_MIN || e10 > WEFT__JSON_POW10_MAX) return 0;
    uint64_t pw = weft__json_pow10_hi[e10 - WEFT__JSON_POW10_MIN];
    int clz = __builtin_clzll(man);
    man <<= clz;
    int64_t exp2 = (int64_t)floor_log2_10(e10) + 1 + 63 + 1023 - clz;
    unsigned __int128 x = (unsigned __int128)man * pw;
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    /* the truncation error (< man) could carry into the bits that matter */
    if ((hi & 0x1FF) == 0x1FF && lo + man < man) return 0;
    uint64_t msb = hi >> 63;
    uint64_t mant = hi >> (msb + 9);
    exp2 -= (int64_t)(1 ^ msb);
    if (lo == 0 && (hi & 0x1FF) == 0 && (mant & 3) == 1) return 0; /* halfway */
    mant += mant & 1;
    mant >>= 1;
    if (mant >> 53) {
        mant >>= 1;
        exp2++;
    }
    if (exp2 <= 0 || exp2 >= 0x7FF) return 0; /* subnormal, or overflow */
    uint64_t bits = (uint64_t)exp2 << 52 | (mant & (((uint64_t)1 << 52) - 1));
    if (neg) bits |= (uint64_t)1 << 63;
    memcpy(out, &bits, sizeof bits);
    return 1;
#else
    (void)man, (void)e10, (void)neg, (void)out;
    return 0;
#endif
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10; }

/* SWAR digit scanning (after Lemire, "Fast numeric string to int"): a
 * little-endian word of 8 input bytes is tested and converted at once. */
static const uint64_t pow10_u64[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                      100000000};

/* Number of leading bytes of w (in input order) that are ASCII digits, 0..8.
 * Bytes after the first non-digit may be misjudged (carries); unused. */
static inline unsigned leading_digits(uint64_t w) {
    uint64_t x = ((w & 0xF0F0F0F0F0F0F0F0ull) |
                  (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ^
                 0x3333333333333333ull; /* byte is 0 iff it is a digit */
    uint64_t nz = (((x & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full) | x) & HIGHS;
    return nz ? (unsigned)__builtin_ctzll(nz) >> 3 : 8;
}

/* Value of 8 ASCII digits, the first in the low byte. */
static inline uint64_t parse_eight(uint64_t w) {
    const uint64_t mask = 0x000000FF000000FFull, mul1 = 0x000F424000000064ull, /* 100 + 10^6 << 32 */
        mul2 = 0x0000271000000001ull;                                       /* 1 + 10^4 << 32 */
    w -= 0x3030303030303030ull;
    w = (w * 10) + (w >> 8);
    return (((w & mask) * mul1) + (((w >> 16) & mask) * mul2)) >> 32;
}

/* Appends the decimal digits at c to *m (wrapping past 19 digits: the caller
 * counts them) and returns the first non-digit. */
static inline cur_t scan_digits(cur_t c, cur_t end, uint64_t *m) {
    uint64_t v = *m;
    while (end - c >= 8) {
        uint64_t w = load64(c);
        unsigned k = leading_digits(w);
        if (k == 8) {
            v = v * 100000000 + parse_eight(w);
            c += 8;
            continue;
        }
        if (k) {
            /* move the k digits to the top, fill the bottom with '0's */
            w = (w << (8 * (8 - k))) | (0x3030303030303030ull >> (8 * k));
            v = v * pow10_u64[k] + parse_eight(w);
            c += k;
        }
        *m = v;
        return c;
    }
    while (c < end && is_digit(*c)) v = v * 10 + (unsigned)(*c++ - '0');
    *m = v;
    return c;
}

/* Slow path: strtod on a NUL-terminated copy of [start, c). */
static cur_t number_strtod(parser *p, cur_t start, cur_t c, weft_json *v) {
    char small[64], *buf = small;
    size_t n = (size_t)(c - start);
    if (n >= sizeof small) {
        buf = weft_arena_alloc(p->a, n + 1);
        if (!buf) return ENOMEM_(p, start);
    }
    memcpy(buf, start, n);
    buf[n] = 0;
    char *endp;
    double d = strtod(buf, &endp);
    if (endp != buf + n) return EPARSE(p, start, "invalid number"); /* cannot happen */
    if (isinf(d)) return EPARSE(p, start, "number out of range");
    v->type = WEFT_JSON_DOUBLE;
    v->len = 0;
    v->u.d = d;
    return c;
}

static cur_t parse_number(parser *p, cur_t c, weft_json *v) {
    cur_t start = c, end = p->end;
    int neg = *c == '-';
    c += neg;
    if (c >= end || !is_digit(*c)) return EPARSE(p, c, "digit expected in number");
    cur_t digits = c;
    uint64_t m = 0; /* wraps past 19 digits; then ndig says so */
    if (*c == '0') {
        c++;
        if (c < end && is_digit(*c)) return EPARSE(p, c - 1, "leading zero in number");
    } else {
        c = scan_digits(c, end, &m);
    }
    size_t ndig = (size_t)(c - digits);
    if (LIKELY(c >= end || (*c != '.' && *c != 'e' && *c != 'E'))) {
        if (LIKELY(ndig <= 19)) {
            /* magnitude in uint64; -2^63 is the one value whose magnitude is 2^63 */
            uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
            if (ndig < 19 || m <= lim) {
                v->type = WEFT_JSON_INT;
                v->len = 0;
                v->u.i = neg ? (int64_t)(0 - m) : (int64_t)m; /* 0 - 2^63 wraps to INT64_MIN */
                return c;
            }
            /* 19 digits, too big for int64: still exact in m, go on as a double */
        }
    }
    int64_t e10 = 0;
    if (c < end && *c == '.') {
        c++;
        cur_t frac = c;
        c = scan_digits(c, end, &m);
        if (c == frac) return EPARSE(p, c, "digit expected after decimal point");
        ndig += (size_t)(c - frac);
        e10 = -(int64_t)(c - frac);
    }
    if (c < end && (*c == 'e' || *c == 'E')) {
        c++;
        int eneg = 0;
        if (c < end && (*c == '+' || *c == '-')) eneg = *c++ == '-';
        if (c >= end || !is_digit(*c)) return EPARSE(p, c, "digit expected in exponent");
        int64_t ex = 0;
        while (c < end && is_digit(*c)) {
            if (ex < 100000000) ex = ex * 10 + (*c - '0');
            c++;
        }
        e10 += eneg ? -ex : ex;
    }
    if (UNLIKELY(ndig > 19)) {
        /* leading zeros ("0.000123") are not significant */
        size_t lz = 0;
        for (cur_t q = digits; q < c && (*q == '0' || *q == '.'); q++) lz += *q == '0';
        if (ndig - lz > 19) return number_strtod(p, start, c, v);
    }
    double d;
    if (m == 0) {
        d = neg ? -0.0 : 0.0;
    } else if (FLT_EVAL_METHOD == 0 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        d = (double)m; /* exact */
        if (e10 < 0)
            d /= weft__json_exact_pow10[-e10];
        else
            d *= weft__json_exact_pow10[e10];
        if (neg) d = -d;
    } else if (e10 < -400 || e10 > 400 || !eisel_lemire(m, (int)e10, neg, &d)) {
        return number_strtod(p, start, c, v);
    }
    v->type = WEFT_JSON_DOUBLE;
    v->len = 0;
    v->u.d = d;
    return c;
}

/* ---- containers ------------------------------------------------------------------- */

static int grow_vals(parser *p) {
    size_t cap = p->capvals ? p->capvals * 2 : SCRATCH_MIN;
    weft_json *ns = weft_arena_alloc(p->a, cap * sizeof *ns);
    if (!ns) return -1;
    if (p->nvals) memcpy(ns, p->vals, p->nvals * sizeof *ns);
    p->vals = ns;
    p->capvals = cap;
    return 0;
}

static int grow_mems(parser *p) {
    size_t cap = p->capmems ? p->capmems * 2 : SCRATCH_MIN;
    weft_json_member *ns = weft_arena_alloc(p->a, cap * sizeof *ns);
    if (!ns) return -1;
    if (p->nmems) memcpy(ns, p->mems, p->nmems * sizeof *ns);
    p->mems = ns;
    p->capmems = cap;
    return 0;
}

static cur_t parse_value(parser *p, cur_t c, weft_json *v);

static cur_t parse_array(parser *p, cur_t c, weft_json *v) {
    cur_t open = c, end = p->end;
    if (++p->depth > p->max_depth) return fail(p, open, "nesting too deep", WEFT_ELIMIT);
    size_t base = p->nvals;
    c = skip_ws(c + 1, end);
    if (c < end && *c == ']') {
        c++;
    } else {
        for (;;) {
            weft_json item;
            c = parse_value(p, c, &item);
            if (!c) return NULL;
            if (UNLIKELY(p->nvals == p->capvals) && grow_vals(p)) return ENOMEM_(p, c);
            p->vals[p->nvals++] = item;
            c = skip_ws(c, end);
            if (UNLIKELY(c >= end)) return EPARSE(p, c, "unexpected end of input");
            if (*c == ',') {
                c = skip_ws(c + 1, end);
                if (UNLIKELY(c < end && *c == ']')) return EPARSE(p, c, "trailing comma");
                continue;
            }
            if (LIKELY(*c == ']')) {
                c++;
                break;
            }
            return EPARSE(p, c, "',' or ']' expected");
        }
    }
    size_t n = p->nvals - base;
    if (n > UINT32_MAX) return fail(p, open, "too many elements", WEFT_ELIMIT);
    v->type = WEFT_JSON_ARRAY;
    v->len = (uint32_t)n;
    v->u.items = NULL;
    if (n) {
        weft_json *it = weft_arena_alloc(p->a, n * sizeof *it);
        if (!it) return ENOMEM_(p, c);
        memcpy(it, p->vals + base, n * sizeof *it);
        v->u.items = it;
    }
    p->nvals = base;
    p->depth--;
    return c;
}

static cur_t parse_object(parser *p, cur_t c, weft_json *v) {
    cur_t open = c, end = p->end;
    if (++p->depth > p->max_depth) return fail(p, open, "nesting too deep", WEFT_ELIMIT);
    size_t base = p->nmems;
    c = skip_ws(c + 1, end);
    if (c < end && *c == '}') {
        c++;
    } else {
        for (;;) {
            weft_str key;
            weft_json item;
            if (UNLIKELY(c >= end)) return EPARSE(p, c, "unexpected end of input");
            if (UNLIKELY(*c != '"')) return EPARSE(p, c, "string key expected");
            c = parse_string(p, c, &key.p, &key.n);
            if (!c) return NULL;
            if (LIKELY(c < end && *c == ':')) {
                c++;
            } else {
                c = skip_ws(c, end);
                if (c >= end) return EPARSE(p, c, "unexpected end of input");
                if (*c != ':') return EPARSE(p, c, "':' expected after key");
                c++;
            }
            c = skip_ws(c, end);
            c = parse_value(p, c, &item);
            if (!c) return NULL;
            if (UNLIKELY(p->nmems == p->capmems) && grow_mems(p)) return ENOMEM_(p, c);
            weft_json_member *m = &p->mems[p->nmems++];
            m->key = key;
            m->value = item;
            c = skip_ws(c, end);
            if (UNLIKELY(c >= end)) return EPARSE(p, c, "unexpected end of input");
            if (*c == ',') {
                c = skip_ws(c + 1, end);
                if (UNLIKELY(c < end && *c == '}')) return EPARSE(p, c, "trailing comma");
                continue;
            }
            if (LIKELY(*c == '}')) {
                c++;
                break;
            }
            return EPARSE(p, c, "',' or '}' expected");
        }
    }
    size_t n = p->nmems - base;
    if (n > UINT32_MAX) return fail(p, open, "too many elements", WEFT_ELIMIT);
    v->type = WEFT_JSON_OBJECT;
    v->len = (uint32_t)n;
    v->u.members = NULL;
    if (n) {
        weft_json_member *m = weft_arena_alloc(p->a, n * sizeof *m);
        if (!m) return ENOMEM_(p, c);
        memcpy(m, p->mems + base, n * sizeof *m);
        v->u.members = m;
    }
    p->nmems = base;
    p->depth--;
    return c;
}

static cur_t match_lit(parser *p, cur_t c, const char *lit, size_t n) {
    if ((size_t)(p->end - c) < n || memcmp(c, lit, n) != 0) {
        /* name the first byte that differs */
        size_t j = 0;
        while (c + j < p->end && j < n && c[j] == (unsigned char)lit[j]) j++;
        return EPARSE(p, c + j, c + j >= p->end ? "unexpected end of input" : "invalid literal");
    }
    return c + n;
}

static cur_t parse_value(parser *p, cur_t c, weft_json *v) {
    if (UNLIKELY(c >= p->end)) return EPARSE(p, c, "unexpected end of input");
    switch (*c) {
    case '{':
        return parse_object(p, c, v);
    case '[':
        return parse_array(p, c, v);
    case '"': {
        size_t n = 0;
        c = parse_string(p, c, &v->u.s, &n);
        v->type = WEFT_JSON_STRING;
        v->len = (uint32_t)n;
        return c;
    }
    case 't':
        v->type = WEFT_JSON_TRUE;
        v->len = 0;
        v->u.i = 0;
        return match_lit(p, c, "true", 4);
    case 'f':
        v->type = WEFT_JSON_FALSE;
        v->len = 0;
        v->u.i = 0;
        return match_lit(p, c, "false", 5);
    case 'n':
        v->type = WEFT_JSON_NULL;
        v->len = 0;
        v->u.i = 0;
        return match_lit(p, c, "null", 4);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(p, c, v);
    default:
        return EPARSE(p, c, "value expected");
    }
}

int weft_json_parse(const char *buf, size_t len, weft_arena *a, int max_depth, weft_json **out,
                    weft_json_error *err) {
    parser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)buf;
    p.end = p.s + (buf ? len : 0);
    p.a = a;
    p.max_depth = max_depth > 0 ? max_depth : DEF_MAX_DEPTH;
    p.err = err;
    if (err) err->offset = 0, err->msg = NULL;
    if (!buf && len) return EPARSE(&p, p.s, "NULL input"), p.rc;
    weft_json *root = weft_arena_alloc(a, sizeof *root);
    if (!root) return ENOMEM_(&p, p.s), p.rc;
    memset(root, 0, sizeof *root);
    cur_t c = skip_ws(p.s, p.end);
    c = parse_value(&p, c, root);
    if (!c) return p.rc;
    c = skip_ws(c, p.end);
    if (c != p.end) return EPARSE(&p, c, "trailing characters after the JSON text"), p.rc;
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
