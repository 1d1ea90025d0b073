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

/* 10^0 .. 10^22: every one is an exact double */
static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

enum { POW10_MIN = -348, POW10_MAX = 347 };
/* pow10_hi[e - POW10_MIN] = floor(10^e * 2^k) with k chosen so the result has
 * bit 63 set (the high half of Go's strconv 128-bit table, pow10tab.go);
 * 10^e = pow10_hi * 2^(exp2 - 64) with exp2 = 1 + floor(e * log2(10)).
 * Generated by (Python):
 *   from fractions import Fraction
 *   for e in range(-348, 348):
 *       r = Fraction(10) ** e
 *       while r < 2**63: r *= 2
 *       while r >= 2**64: r /= 2
 *       print("0x%016x," % (r.numerator // r.denominator)) */
static const uint64_t pow10_hi[POW10_MAX - POW10_MIN + 1] = {
    0xfa8fd5a0081c0288, 0x9c99e58405118195, 0xc3c05ee50655e1fa,
    0xf4b0769e47eb5a78, 0x98ee4a22ecf3188b, 0xbf29dcaba82fdeae,
    0xeef453d6923bd65a, 0x9558b4661b6565f8, 0xbaaee17fa23ebf76,
    0xe95a99df8ace6f53, 0x91d8a02bb6c10594, 0xb64ec836a47146f9,
    0xe3e27a444d8d98b7, 0x8e6d8c6ab0787f72, 0xb208ef855c969f4f,
    0xde8b2b66b3bc4723, 0x8b16fb203055ac76, 0xaddcb9e83c6b1793,
    0xd953e8624b85dd78, 0x87d4713d6f33aa6b, 0xa9c98d8ccb009506,
    0xd43bf0effdc0ba48, 0x84a57695fe98746d, 0xa5ced43b7e3e9188,
    0xcf42894a5dce35ea, 0x818995ce7aa0e1b2, 0xa1ebfb4219491a1f,
    0xca66fa129f9b60a6, 0xfd00b897478238d0, 0x9e20735e8cb16382,
    0xc5a890362fddbc62, 0xf712b443bbd52b7b, 0x9a6bb0aa55653b2d,
    0xc1069cd4eabe89f8, 0xf148440a256e2c76, 0x96cd2a865764dbca,
    0xbc807527ed3e12bc, 0xeba09271e88d976b, 0x93445b8731587ea3,
    0xb8157268fdae9e4c, 0xe61acf033d1a45df, 0x8fd0c16206306bab,
    0xb3c4f1ba87bc8696, 0xe0b62e2929aba83c, 0x8c71dcd9ba0b4925,
    0xaf8e5410288e1b6f, 0xdb71e91432b1a24a, 0x892731ac9faf056e,
    0xab70fe17c79ac6ca, 0xd64d3d9db981787d, 0x85f0468293f0eb4e,
    0xa76c582338ed2621, 0xd1476e2c07286faa, 0x82cca4db847945ca,
    0xa37fce126597973c, 0xcc5fc196fefd7d0c, 0xff77b1fcbebcdc4f,
    0x9faacf3df73609b1, 0xc795830d75038c1d, 0xf97ae3d0d2446f25,
    0x9becce62836ac577, 0xc2e801fb244576d5, 0xf3a20279ed56d48a,
    0x9845418c345644d6, 0xbe5691ef416bd60c, 0xedec366b11c6cb8f,
    0x94b3a202eb1c3f39, 0xb9e08a83a5e34f07, 0xe858ad248f5c22c9,
    0x91376c36d99995be, 0xb58547448ffffb2d, 0xe2e69915b3fff9f9,
    0x8dd01fad907ffc3b, 0xb1442798f49ffb4a, 0xdd95317f31c7fa1d,
    0x8a7d3eef7f1cfc52, 0xad1c8eab5ee43b66, 0xd863b256369d4a40,
    0x873e4f75e2224e68, 0xa90de3535aaae202, 0xd3515c2831559a83,
    0x8412d9991ed58091, 0xa5178fff668ae0b6, 0xce5d73ff402d98e3,
    0x80fa687f881c7f8e, 0xa139029f6a239f72, 0xc987434744ac874e,
    0xfbe9141915d7a922, 0x9d71ac8fada6c9b5, 0xc4ce17b399107c22,
    0xf6019da07f549b2b, 0x99c102844f94e0fb, 0xc0314325637a1939,
    0xf03d93eebc589f88, 0x96267c7535b763b5, 0xbbb01b9283253ca2,
    0xea9c227723ee8bcb, 0x92a1958a7675175f, 0xb749faed14125d36,
    0xe51c79a85916f484, 0x8f31cc0937ae58d2, 0xb2fe3f0b8599ef07,
    0xdfbdcece67006ac9, 0x8bd6a141006042bd, 0xaecc49914078536d,
    0xda7f5bf590966848, 0x888f99797a5e012d, 0xaab37fd7d8f58178,
    0xd5605fcdcf32e1d6, 0x855c3be0a17fcd26, 0xa6b34ad8c9dfc06f,
    0xd0601d8efc57b08b, 0x823c12795db6ce57, 0xa2cb1717b52481ed,
    0xcb7ddcdda26da268, 0xfe5d54150b090b02, 0x9efa548d26e5a6e1,
    0xc6b8e9b0709f109a, 0xf867241c8cc6d4c0, 0x9b407691d7fc44f8,
    0xc21094364dfb5636, 0xf294b943e17a2bc4, 0x979cf3ca6cec5b5a,
    0xbd8430bd08277231, 0xece53cec4a314ebd, 0x940f4613ae5ed136,
    0xb913179899f68584, 0xe757dd7ec07426e5, 0x9096ea6f3848984f,
    0xb4bca50b065abe63, 0xe1ebce4dc7f16dfb, 0x8d3360f09cf6e4bd,
    0xb080392cc4349dec, 0xdca04777f541c567, 0x89e42caaf9491b60,
    0xac5d37d5b79b6239, 0xd77485cb25823ac7, 0x86a8d39ef77164bc,
    0xa8530886b54dbdeb, 0xd267caa862a12d66, 0x8380dea93da4bc60,
    0xa46116538d0deb78, 0xcd795be870516656, 0x806bd9714632dff6,
    0xa086cfcd97bf97f3, 0xc8a883c0fdaf7df0, 0xfad2a4b13d1b5d6c,
    0x9cc3a6eec6311a63, 0xc3f490aa77bd60fc, 0xf4f1b4d515acb93b,
    0x991711052d8bf3c5, 0xbf5cd54678eef0b6, 0xef340a98172aace4,
    0x9580869f0e7aac0e, 0xbae0a846d2195712, 0xe998d258869facd7,
    0x91ff83775423cc06, 0xb67f6455292cbf08, 0xe41f3d6a7377eeca,
    0x8e938662882af53e, 0xb23867fb2a35b28d, 0xdec681f9f4c31f31,
    0x8b3c113c38f9f37e, 0xae0b158b4738705e, 0xd98ddaee19068c76,
    0x87f8a8d4cfa417c9, 0xa9f6d30a038d1dbc, 0xd47487cc8470652b,
    0x84c8d4dfd2c63f3b, 0xa5fb0a17c777cf09, 0xcf79cc9db955c2cc,
    0x81ac1fe293d599bf, 0xa21727db38cb002f, 0xca9cf1d206fdc03b,
    0xfd442e4688bd304a, 0x9e4a9cec15763e2e, 0xc5dd44271ad3cdba,
    0xf7549530e188c128, 0x9a94dd3e8cf578b9, 0xc13a148e3032d6e7,
    0xf18899b1bc3f8ca1, 0x96f5600f15a7b7e5, 0xbcb2b812db11a5de,
    0xebdf661791d60f56, 0x936b9fcebb25c995, 0xb84687c269ef3bfb,
    0xe65829b3046b0afa, 0x8ff71a0fe2c2e6dc, 0xb3f4e093db73a093,
    0xe0f218b8d25088b8, 0x8c974f7383725573, 0xafbd2350644eeacf,
    0xdbac6c247d62a583, 0x894bc396ce5da772, 0xab9eb47c81f5114f,
    0xd686619ba27255a2, 0x8613fd0145877585, 0xa798fc4196e952e7,
    0xd17f3b51fca3a7a0, 0x82ef85133de648c4, 0xa3ab66580d5fdaf5,
    0xcc963fee10b7d1b3, 0xffbbcfe994e5c61f, 0x9fd561f1fd0f9bd3,
    0xc7caba6e7c5382c8, 0xf9bd690a1b68637b, 0x9c1661a651213e2d,
    0xc31bfa0fe5698db8, 0xf3e2f893dec3f126, 0x986ddb5c6b3a76b7,
    0xbe89523386091465, 0xee2ba6c0678b597f, 0x94db483840b717ef,
    0xba121a4650e4ddeb, 0xe896a0d7e51e1566, 0x915e2486ef32cd60,
    0xb5b5ada8aaff80b8, 0xe3231912d5bf60e6, 0x8df5efabc5979c8f,
    0xb1736b96b6fd83b3, 0xddd0467c64bce4a0, 0x8aa22c0dbef60ee4,
    0xad4ab7112eb3929d, 0xd89d64d57a607744, 0x87625f056c7c4a8b,
    0xa93af6c6c79b5d2d, 0xd389b47879823479, 0x843610cb4bf160cb,
    0xa54394fe1eedb8fe, 0xce947a3da6a9273e, 0x811ccc668829b887,
    0xa163ff802a3426a8, 0xc9bcff6034c13052, 0xfc2c3f3841f17c67,
    0x9d9ba7832936edc0, 0xc5029163f384a931, 0xf64335bcf065d37d,
    0x99ea0196163fa42e, 0xc06481fb9bcf8d39, 0xf07da27a82c37088,
    0x964e858c91ba2655, 0xbbe226efb628afea, 0xeadab0aba3b2dbe5,
    0x92c8ae6b464fc96f, 0xb77ada0617e3bbcb, 0xe55990879ddcaabd,
    0x8f57fa54c2a9eab6, 0xb32df8e9f3546564, 0xdff9772470297ebd,
    0x8bfbea76c619ef36, 0xaefae51477a06b03, 0xdab99e59958885c4,
    0x88b402f7fd75539b, 0xaae103b5fcd2a881, 0xd59944a37c0752a2,
    0x857fcae62d8493a5, 0xa6dfbd9fb8e5b88e, 0xd097ad07a71f26b2,
    0x825ecc24c873782f, 0xa2f67f2dfa90563b, 0xcbb41ef979346bca,
    0xfea126b7d78186bc, 0x9f24b832e6b0f436, 0xc6ede63fa05d3143,
    0xf8a95fcf88747d94, 0x9b69dbe1b548ce7c, 0xc24452da229b021b,
    0xf2d56790ab41c2a2, 0x97c560ba6b0919a5, 0xbdb6b8e905cb600f,
    0xed246723473e3813, 0x9436c0760c86e30b, 0xb94470938fa89bce,
    0xe7958cb87392c2c2, 0x90bd77f3483bb9b9, 0xb4ecd5f01a4aa828,
    0xe2280b6c20dd5232, 0x8d590723948a535f, 0xb0af48ec79ace837,
    0xdcdb1b2798182244, 0x8a08f0f8bf0f156b, 0xac8b2d36eed2dac5,
    0xd7adf884aa879177, 0x86ccbb52ea94baea, 0xa87fea27a539e9a5,
    0xd29fe4b18e88640e, 0x83a3eeeef9153e89, 0xa48ceaaab75a8e2b,
    0xcdb02555653131b6, 0x808e17555f3ebf11, 0xa0b19d2ab70e6ed6,
    0xc8de047564d20a8b, 0xfb158592be068d2e, 0x9ced737bb6c4183d,
    0xc428d05aa4751e4c, 0xf53304714d9265df, 0x993fe2c6d07b7fab,
    0xbf8fdb78849a5f96, 0xef73d256a5c0f77c, 0x95a8637627989aad,
    0xbb127c53b17ec159, 0xe9d71b689dde71af, 0x9226712162ab070d,
    0xb6b00d69bb55c8d1, 0xe45c10c42a2b3b05, 0x8eb98a7a9a5b04e3,
    0xb267ed1940f1c61c, 0xdf01e85f912e37a3, 0x8b61313bbabce2c6,
    0xae397d8aa96c1b77, 0xd9c7dced53c72255, 0x881cea14545c7575,
    0xaa242499697392d2, 0xd4ad2dbfc3d07787, 0x84ec3c97da624ab4,
    0xa6274bbdd0fadd61, 0xcfb11ead453994ba, 0x81ceb32c4b43fcf4,
    0xa2425ff75e14fc31, 0xcad2f7f5359a3b3e, 0xfd87b5f28300ca0d,
    0x9e74d1b791e07e48, 0xc612062576589dda, 0xf79687aed3eec551,
    0x9abe14cd44753b52, 0xc16d9a0095928a27, 0xf1c90080baf72cb1,
    0x971da05074da7bee, 0xbce5086492111aea, 0xec1e4a7db69561a5,
    0x9392ee8e921d5d07, 0xb877aa3236a4b449, 0xe69594bec44de15b,
    0x901d7cf73ab0acd9, 0xb424dc35095cd80f, 0xe12e13424bb40e13,
    0x8cbccc096f5088cb, 0xafebff0bcb24aafe, 0xdbe6fecebdedd5be,
    0x89705f4136b4a597, 0xabcc77118461cefc, 0xd6bf94d5e57a42bc,
    0x8637bd05af6c69b5, 0xa7c5ac471b478423, 0xd1b71758e219652b,
    0x83126e978d4fdf3b, 0xa3d70a3d70a3d70a, 0xcccccccccccccccc,
    0x8000000000000000, 0xa000000000000000, 0xc800000000000000,
    0xfa00000000000000, 0x9c40000000000000, 0xc350000000000000,
    0xf424000000000000, 0x9896800000000000, 0xbebc200000000000,
    0xee6b280000000000, 0x9502f90000000000, 0xba43b74000000000,
    0xe8d4a51000000000, 0x9184e72a00000000, 0xb5e620f480000000,
    0xe35fa931a0000000, 0x8e1bc9bf04000000, 0xb1a2bc2ec5000000,
    0xde0b6b3a76400000, 0x8ac7230489e80000, 0xad78ebc5ac620000,
    0xd8d726b7177a8000, 0x878678326eac9000, 0xa968163f0a57b400,
    0xd3c21bcecceda100, 0x84595161401484a0, 0xa56fa5b99019a5c8,
    0xcecb8f27f4200f3a, 0x813f3978f8940984, 0xa18f07d736b90be5,
    0xc9f2c9cd04674ede, 0xfc6f7c4045812296, 0x9dc5ada82b70b59d,
    0xc5371912364ce305, 0xf684df56c3e01bc6, 0x9a130b963a6c115c,
    0xc097ce7bc90715b3, 0xf0bdc21abb48db20, 0x96769950b50d88f4,
    0xbc143fa4e250eb31, 0xeb194f8e1ae525fd, 0x92efd1b8d0cf37be,
    0xb7abc627050305ad, 0xe596b7b0c643c719, 0x8f7e32ce7bea5c6f,
    0xb35dbf821ae4f38b, 0xe0352f62a19e306e, 0x8c213d9da502de45,
    0xaf298d050e4395d6, 0xdaf3f04651d47b4c, 0x88d8762bf324cd0f,
    0xab0e93b6efee0053, 0xd5d238a4abe98068, 0x85a36366eb71f041,
    0xa70c3c40a64e6c51, 0xd0cf4b50cfe20765, 0x82818f1281ed449f,
    0xa321f2d7226895c7, 0xcbea6f8ceb02bb39, 0xfee50b7025c36a08,
    0x9f4f2726179a2245, 0xc722f0ef9d80aad6, 0xf8ebad2b84e0d58b,
    0x9b934c3b330c8577, 0xc2781f49ffcfa6d5, 0xf316271c7fc3908a,
    0x97edd871cfda3a56, 0xbde94e8e43d0c8ec, 0xed63a231d4c4fb27,
    0x945e455f24fb1cf8, 0xb975d6b6ee39e436, 0xe7d34c64a9c85d44,
    0x90e40fbeea1d3a4a, 0xb51d13aea4a488dd, 0xe264589a4dcdab14,
    0x8d7eb76070a08aec, 0xb0de65388cc8ada8, 0xdd15fe86affad912,
    0x8a2dbf142dfcc7ab, 0xacb92ed9397bf996, 0xd7e77a8f87daf7fb,
    0x86f0ac99b4e8dafd, 0xa8acd7c0222311bc, 0xd2d80db02aabd62b,
    0x83c7088e1aab65db, 0xa4b8cab1a1563f52, 0xcde6fd5e09abcf26,
    0x80b05e5ac60b6178, 0xa0dc75f1778e39d6, 0xc913936dd571c84c,
    0xfb5878494ace3a5f, 0x9d174b2dcec0e47b, 0xc45d1df942711d9a,
    0xf5746577930d6500, 0x9968bf6abbe85f20, 0xbfc2ef456ae276e8,
    0xefb3ab16c59b14a2, 0x95d04aee3b80ece5, 0xbb445da9ca61281f,
    0xea1575143cf97226, 0x924d692ca61be758, 0xb6e0c377cfa2e12e,
    0xe498f455c38b997a, 0x8edf98b59a373fec, 0xb2977ee300c50fe7,
    0xdf3d5e9bc0f653e1, 0x8b865b215899f46c, 0xae67f1e9aec07187,
    0xda01ee641a708de9, 0x884134fe908658b2, 0xaa51823e34a7eede,
    0xd4e5e2cdc1d1ea96, 0x850fadc09923329e, 0xa6539930bf6bff45,
    0xcfe87f7cef46ff16, 0x81f14fae158c5f6e, 0xa26da3999aef7749,
    0xcb090c8001ab551c, 0xfdcb4fa002162a63, 0x9e9f11c4014dda7e,
    0xc646d63501a1511d, 0xf7d88bc24209a565, 0x9ae757596946075f,
    0xc1a12d2fc3978937, 0xf209787bb47d6b84, 0x9745eb4d50ce6332,
    0xbd176620a501fbff, 0xec5d3fa8ce427aff, 0x93ba47c980e98cdf,
    0xb8a8d9bbe123f017, 0xe6d3102ad96cec1d, 0x9043ea1ac7e41392,
    0xb454e4a179dd1877, 0xe16a1dc9d8545e94, 0x8ce2529e2734bb1d,
    0xb01ae745b101e9e4, 0xdc21a1171d42645d, 0x899504ae72497eba,
    0xabfa45da0edbde69, 0xd6f8d7509292d603, 0x865b86925b9bc5c2,
    0xa7f26836f282b732, 0xd1ef0244af2364ff, 0x8335616aed761f1f,
    0xa402b9c5a8d3a6e7, 0xcd036837130890a1, 0x802221226be55a64,
    0xa02aa96b06deb0fd, 0xc83553c5c8965d3d, 0xfa42a8b73abbf48c,
    0x9c69a97284b578d7, 0xc38413cf25e2d70d, 0xf46518c2ef5b8cd1,
    0x98bf2f79d5993802, 0xbeeefb584aff8603, 0xeeaaba2e5dbf6784,
    0x952ab45cfa97a0b2, 0xba756174393d88df, 0xe912b9d1478ceb17,
    0x91abb422ccb812ee, 0xb616a12b7fe617aa, 0xe39c49765fdf9d94,
    0x8e41ade9fbebc27d, 0xb1d219647ae6b31c, 0xde469fbd99a05fe3,
    0x8aec23d680043bee, 0xada72ccc20054ae9, 0xd910f7ff28069da4,
    0x87aa9aff79042286, 0xa99541bf57452b28, 0xd3fa922f2d1675f2,
    0x847c9b5d7c2e09b7, 0xa59bc234db398c25, 0xcf02b2c21207ef2e,
    0x8161afb94b44f57d, 0xa1ba1ba79e1632dc, 0xca28a291859bbf93,
    0xfcb2cb35e702af78, 0x9defbf01b061adab, 0xc56baec21c7a1916,
    0xf6c69a72a3989f5b, 0x9a3c2087a63f6399, 0xc0cb28a98fcf3c7f,
    0xf0fdf2d3f3c30b9f, 0x969eb7c47859e743, 0xbc4665b596706114,
    0xeb57ff22fc0c7959, 0x9316ff75dd87cbd8, 0xb7dcbf5354e9bece,
    0xe5d3ef282a242e81, 0x8fa475791a569d10, 0xb38d92d760ec4455,
    0xe070f78d3927556a, 0x8c469ab843b89562, 0xaf58416654a6babb,
    0xdb2e51bfe9d0696a, 0x88fcf317f22241e2, 0xab3c2fddeeaad25a,
    0xd60b3bd56a5586f1, 0x85c7056562757456, 0xa738c6bebb12d16c,
    0xd106f86e69d785c7, 0x82a45b450226b39c, 0xa34d721642b06084,
    0xcc20ce9bd35c78a5, 0xff290242c83396ce, 0x9f79a169bd203e41,
    0xc75809c42c684dd1, 0xf92e0c3537826145, 0x9bbcc7a142b17ccb,
    0xc2abf989935ddbfe, 0xf356f7ebf83552fe, 0x98165af37b2153de,
    0xbe1bf1b059e9a8d6, 0xeda2ee1c7064130c, 0x9485d4d1c63e8be7,
    0xb9a74a0637ce2ee1, 0xe8111c87c5c1ba99, 0x910ab1d4db9914a0,
    0xb54d5e4a127f59c8, 0xe2a0b5dc971f303a, 0x8da471a9de737e24,
    0xb10d8e1456105dad, 0xdd50f1996b947518, 0x8a5296ffe33cc92f,
    0xace73cbfdc0bfb7b, 0xd8210befd30efa5a, 0x8714a775e3e95c78,
    0xa8d9d1535ce3b396, 0xd31045a8341ca07c, 0x83ea2b892091e44d,
    0xa4e4b66b68b65d60, 0xce1de40642e3f4b9, 0x80d2ae83e9ce78f3,
    0xa1075a24e4421730, 0xc94930ae1d529cfc, 0xfb9b7cd9a4a7443c,
    0x9d412e0806e88aa5, 0xc491798a08a2ad4e, 0xf5b5d7ec8acb58a2,
    0x9991a6f3d6bf1765, 0xbff610b0cc6edd3f, 0xeff394dcff8a948e,
    0x95f83d0a1fb69cd9, 0xbb764c4ca7a4440f, 0xea53df5fd18d5513,
    0x92746b9be2f8552c, 0xb7118682dbb66a77, 0xe4d5e82392a40515,
    0x8f05b1163ba6832d, 0xb2c71d5bca9023f8, 0xdf78e4b2bd342cf6,
    0x8bab8eefb6409c1a, 0xae9672aba3d0c320, 0xda3c0f568cc4f3e8,
    0x8865899617fb1871, 0xaa7eebfb9df9de8d, 0xd51ea6fa85785631,
    0x8533285c936b35de, 0xa67ff273b8460356, 0xd01fef10a657842c,
    0x8213f56a67f6b29b, 0xa298f2c501f45f42, 0xcb3f2f7642717713,
    0xfe0efb53d30dd4d7, 0x9ec95d1463e8a506, 0xc67bb4597ce2ce48,
    0xf81aa16fdc1b81da, 0x9b10a4e5e9913128, 0xc1d4ce1f63f57d72,
    0xf24a01a73cf2dccf, 0x976e41088617ca01, 0xbd49d14aa79dbc82,
    0xec9c459d51852ba2, 0x93e1ab8252f33b45, 0xb8da1662e7b00a17,
    0xe7109bfba19c0c9d, 0x906a617d450187e2, 0xb484f9dc9641e9da,
    0xe1a63853bbd26451, 0x8d07e33455637eb2, 0xb049dc016abc5e5f,
    0xdc5c5301c56b75f7, 0x89b9b3e11b6329ba, 0xac2820d9623bf429,
    0xd732290fbacaf133, 0x867f59a9d4bed6c0, 0xa81f301449ee8c70,
    0xd226fc195c6a2f8c, 0x83585d8fd9c25db7, 0xa42e74f3d032f525,
    0xcd3a1230c43fb26f, 0x80444b5e7aa7cf85, 0xa0555e361951c366,
    0xc86ab5c39fa63440, 0xfa856334878fc150, 0x9c935e00d4b9d8d2,
    0xc3b8358109e84f07, 0xf4a642e14c6262c8, 0x98e7e9cccfbd7dbd,
    0xbf21e44003acdd2c, 0xeeea5d5004981478, 0x95527a5202df0ccb,
    0xbaa718e68396cffd, 0xe950df20247c83fd, 0x91d28b7416cdd27e,
    0xb6472e511c81471d, 0xe3d8f9e563a198e5, 0x8e679c2f5e44ff8f,
    0xb201833b35d63f73, 0xde81e40a034bcf4f, 0x8b112e86420f6191,
    0xadd57a27d29339f6, 0xd94ad8b1c7380874, 0x87cec76f1c830548,
    0xa9c2794ae3a3c69a, 0xd433179d9c8cb841, 0x849feec281d7f328,
    0xa5c7ea73224deff3, 0xcf39e50feae16bef, 0x81842f29f2cce375,
    0xa1e53af46f801c53, 0xca5e89b18b602368, 0xfcf62c1dee382c42,
    0x9e19db92b4e31ba9, 0xc5a05277621be293, 0xf70867153aa2db38,
    0x9a65406d44a5c903, 0xc0fe908895cf3b44, 0xf13e34aabb430a15,
    0x96c6e0eab509e64d, 0xbc789925624c5fe0, 0xeb96bf6ebadf77d8,
    0x933e37a534cbaae7, 0xb80dc58e81fe95a1, 0xe61136f2227e3b09,
    0x8fcac257558ee4e6, 0xb3bd72ed2af29e1f, 0xe0accfa875af45a7,
    0x8c6c01c9498d8b88, 0xaf87023b9bf0ee6a, 0xdb68c2ca82ed2a05,
    0x892179be91d43a43, 0xab69d82e364948d4, 0xd6444e39c3db9b09,
    0x85eab0e41a6940e5, 0xa7655d1d2103911f, 0xd13eb46469447567,
};

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
    if (e10 < POW10_MIN || e10 > POW10_MAX) return 0;
    uint64_t pw = pow10_hi[e10 - POW10_MIN];
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
            d /= exact_pow10[-e10];
        else
            d *= exact_pow10[e10];
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
