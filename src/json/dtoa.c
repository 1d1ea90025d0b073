/*
 * src/json/dtoa.c — a double to the shortest decimal that reads back to it,
 * for the JSON encoder (weft__json_dtoa, json_int.h). The method is
 * R. Giulietti's Schubfach ("The Schubfach way to render doubles", 2020),
 * written here from the paper's mathematics; the 128-bit powers of ten and
 * the proof of the one fact the arithmetic needs come from our own script,
 * scripts/gen-pow10-128.py.
 *
 * A finite v > 0 is c * 2^q (c the significand with its hidden bit). Every
 * real number strictly between v and its neighbours' midpoints reads back to
 * v; so do the midpoints themselves when c is even (strtod rounds a tie to
 * the even significand). That rounding interval is [v - 2^(q-1), v + 2^(q-1)],
 * except when c = 2^52 above the smallest binade: the neighbour below is then
 * only half as far, and the interval's lower end is v - 2^(q-2). In quarter
 * units of 2^q: 4v = cb * 2^q with cb = 4c, and the ends are cbl = 4c - 2 (or
 * 4c - 1) and cbr = 4c + 2.
 *
 * Pick k = floor(log10(width)) with width = 2^q (3/4 * 2^q in the uneven
 * case), and scale by 10^-k: the interval is then between 1 and 10 units wide.
 * So it holds at least one integer, and at most one multiple of 10. If it
 * holds a multiple of 10, that one is the only candidate with fewer digits
 * than the integers around v * 10^-k, hence the shortest (its trailing zeros
 * are dropped). Otherwise the shortest have as many digits as
 * s = floor(v * 10^-k), and the interval holds s or s + 1 (or both); of two,
 * the nearer to v is taken, the even one on a tie, as "%.*g" rounds. The
 * result d * 10^k is the shortest decimal that reads back to v and the
 * nearest of that length. Where the old snprintf/strtod search (kept as
 * tests/unit/json.c's reference) found a decimal, it is the same one, with
 * one exception: at an uneven c = 2^52, the nearest decimal of the shortest
 * length may lie below v outside the narrow lower half while the next one
 * up reads back; the search then took one digit more, this takes the one
 * that reads back. 2^-24 = 5.9604644775390625e-08 exactly: of 16 digits,
 * ...062 (the tie's even side) is below and does not read back, ...063 does;
 * "5.960464477539063e-08" here, the search's was the exact 17 digits. 46
 * powers of two print one digit shorter so. No other double can differ:
 * with a symmetric interval, the nearest decimal of a length reads back
 * whenever any decimal of that length does, which is what the search found.
 *
 * Arithmetic: the test "is integer n inside the interval" only needs each of
 * x = cb, cbl, cbr times 2^q * 10^-k rounded to odd: its floor, with the low
 * bit set when x is not an integer. Comparing an even number (4n, 4n + 2)
 * with that gives the same answer as comparing it with x itself. g =
 * weft__dtoa_pow10[K_MAX - k] is 10^-k * 2^s plus more than 0 and at most 1
 * (floor + 1), and with h = q - s + 128 (1..4), P = (x << h) * g is
 * 2^128 * x * 2^q * 10^-k plus an error e, 0 < e <= x << h < 2^60.
 * floor(P / 2^128) is floor(x * 2^q * 10^-k) and P mod 2^128 > x << h says
 * "not an integer", provided no x * 2^q * 10^-k lies within 2^-68 of an
 * integer without being one: the generator proves that for every q.
 */
#include <stdint.h>
#include <string.h>

#include "json/json_int.h"

/* the shifts below floor negative products: arithmetic right shift */
_Static_assert((-1 >> 1) == -1, "signed >> must be arithmetic");

typedef unsigned __int128 u128;

/* floor(m * g / 2^128), its low bit set when m * (10^-k * 2^s) / 2^128 (the
 * exact value g stands for) is not an integer; m < 2^60 (see above). */
static uint64_t round_to_odd(weft__u128 g, uint64_t m) {
    u128 lo = (u128)m * g.lo;
    u128 mid = (u128)m * g.hi + (uint64_t)(lo >> 64); /* P >> 64: no overflow */
    uint64_t top = (uint64_t)(mid >> 64);
    u128 rest = ((u128)(uint64_t)mid << 64) | (uint64_t)lo; /* P mod 2^128 */
    return top | (rest > m);
}

/* The shortest decimal of the positive finite double with these bits:
 * returns d and sets *e10 so that v reads back from d * 10^e10; d has no
 * trailing zero. */
static uint64_t shortest(uint64_t bits, int *e10) {
    uint64_t f = bits & ((UINT64_C(1) << 52) - 1);
    int be = (int)(bits >> 52);
    uint64_t c = be ? f | (UINT64_C(1) << 52) : f;
    int q = be ? be - 1075 : -1074;
    int uneven = f == 0 && be > 1;
    uint64_t cb = c << 2, cbl = uneven ? cb - 1 : cb - 2, cbr = cb + 2;
    /* floor(q * log10(2)) and floor(q * log10(2) + log10(3/4)), exact for
     * every q of a double (checked by the generator) */
    int k = uneven ? (q * 315653 - 131237) >> 20 : (q * 315653) >> 20;
    int h = q + 1 + ((-k * 217707) >> 16); /* floor(-k * log2(10)): 1..4 */
    weft__u128 g = weft__dtoa_pow10[WEFT__DTOA_K_MAX - k];
    uint64_t vb = round_to_odd(g, cb << h);
    uint64_t vbl = round_to_odd(g, cbl << h);
    uint64_t vbr = round_to_odd(g, cbr << h);
    uint64_t odd = c & 1; /* odd c: the ends do not read back to v */
    uint64_t s = vb >> 2; /* >= 1: v * 10^-k >= c >= 1 */
    uint64_t d;
    /* n is inside when vbl + odd <= 4n <= vbr - odd */
    uint64_t sp = s / 10 * 10, tp = sp + 10;
    if (sp && vbl + odd <= sp << 2) {
        d = sp;
    } else if ((tp << 2) + odd <= vbr) {
        d = tp;
    } else {
        uint64_t t = s + 1;
        int s_in = vbl + odd <= s << 2, t_in = (t << 2) + odd <= vbr;
        if (s_in != t_in)
            d = s_in ? s : t;
        else /* both: the nearer one, the even one on a tie */
            d = vb < (s << 2) + 2 || (vb == (s << 2) + 2 && !(s & 1)) ? s : t;
    }
    /* drop trailing zeros: at most 16 (d < 10^17), so 16, 8, 4, 2, 1 once each */
    if (d % UINT64_C(10000000000000000) == 0) d /= UINT64_C(10000000000000000), k += 16;
    if (d % 100000000 == 0) d /= 100000000, k += 8;
    if (d % 10000 == 0) d /= 10000, k += 4;
    if (d % 100 == 0) d /= 100, k += 2;
    if (d % 10 == 0) d /= 10, k += 1;
    *e10 = k;
    return d;
}

static const char two_digits[201] = "00010203040506070809101112131415161718192021222324"
                                    "25262728293031323334353637383940414243444546474849"
                                    "50515253545556575859606162636465666768697071727374"
                                    "75767778798081828384858687888990919293949596979899";

/* Copies n <= 17 bytes from p to o with fixed-size moves (no call to memcpy
 * for a variable length); reads and writes 17 bytes whatever n is. */
static inline char *copy17(char *o, const char *p, int n) {
    memcpy(o, p, 16);
    o[16] = p[16];
    return o + n;
}

int weft__json_dtoa(double v, char *out) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    char *o = out;
    if (bits >> 63) *o++ = '-';
    bits &= ~(UINT64_C(1) << 63);
    if (bits == 0) {
        memcpy(o, "0.0", 3);
        return (int)(o + 3 - out);
    }
    int e;
    uint64_t d = shortest(bits, &e);
    /* the digits of d (at most 17), most significant first, at p[0..nd),
     * ending at dig + 20; the 20 bytes after them are there for copy17 */
    char dig[40];
    memset(dig + 20, '0', 20);
    char *p = dig + 20;
    while (d >= 100) {
        uint64_t hi = d / 100;
        p -= 2;
        memcpy(p, two_digits + 2 * (d - hi * 100), 2);
        d = hi;
    }
    if (d >= 10) {
        p -= 2;
        memcpy(p, two_digits + 2 * d, 2);
    } else {
        *--p = (char)('0' + d);
    }
    int nd = (int)(dig + 20 - p);
    int x = nd - 1 + e; /* v = p[0].p[1]p[2]... * 10^x */
    if (e >= 0 && bits < UINT64_C(0x4310000000000000)) {
        /* integral and below 2^50 (bits of 2^50): plain digits (16 at most,
         * e <= 15) and ".0". The decimal is v itself: below 2^53 an integer
         * that reads back to v is v */
        o = copy17(o, p, nd);
        memset(o, '0', 16);
        o += e;
        memcpy(o, ".0", 2);
        return (int)(o + 2 - out);
    }
    if (x < -4 || x >= nd) { /* %g's exponent form: d.ddde+XX, two digits at least */
        *o++ = p[0];
        if (nd > 1) {
            *o++ = '.';
            o = copy17(o, p + 1, nd - 1);
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        memcpy(o, two_digits + 2 * (ax % 100), 2);
        o += 2;
    } else if (x >= 0) { /* fixed, x + 1 digits before the point */
        o = copy17(o, p, x + 1);
        *o++ = '.';
        if (nd == x + 1)
            *o++ = '0'; /* would look integral: keep it a double */
        else
            o = copy17(o, p + x + 1, nd - x - 1);
    } else { /* fixed, 0.000ddd: 1 to 4 zeros after the point */
        memcpy(o, "0.0000", 6);
        o += 2 + (-x - 1);
        o = copy17(o, p, nd);
    }
    return (int)(o - out);
}
