#!/usr/bin/env python3
"""scripts/gen-pow10-128.py — writes src/json/dtoa_pow10.c, the 128-bit powers
of ten of the shortest-double printer (src/json/dtoa.c), and proves on the way
the two facts that printer relies on. Exact integer arithmetic (Fraction) only.

    python3 scripts/gen-pow10-128.py            print the file to stdout
    python3 scripts/gen-pow10-128.py --write    rewrite src/json/dtoa_pow10.c

tests/scripts/dtoa_table.sh checks that the committed file is what this prints.

The table: for e = -K_MAX .. -K_MIN, g(e) = floor(10^e * 2^(127 - floor(e*log2(10)))) + 1,
a 128-bit integer with bit 127 set: 10^e scaled into [2^127, 2^128), plus
more than 0 and at most 1. dtoa.c multiplies n << h (n <= 2^55 + 2, h in 1..4)
by g(-k); bits 128..191 of the 192-bit product are the integer part, and the
low 128 bits exceeding n << h say "not an integer" (the proof is in dtoa.c).
What it needs, checked here for every binary exponent q of a double
(v = c * 2^q) and its decimal exponent k:

 1. the shift-and-multiply formulas dtoa.c uses for floor(q*log10(2)),
    floor(q*log10(2) + log10(3/4)) and floor(e*log2(10)) are exact over the
    whole range;
 2. for every n in 1 .. 2^55 + 2 (4c-2, 4c-1, 4c and 4c+2 for every
    significand c), x = n * 2^q * 10^-k is an integer or at least 2^-68 away
    from every integer. The product's error is below (n << h) / 2^128 < 2^-68
    of a unit (h = q + 1 + floor(-k*log2(10)), checked to be 1..4), so it
    cannot move x across an integer, nor hide that it is not one.
    Fact 2 is proved per q with the three-distance / continued-fraction walk
    (min_residue below), not sampled. (With a 64-bit window instead of 68 it
    fails, at q = 664: the margin is real.)
"""
import sys
from fractions import Fraction

Q_MIN, Q_MAX = -1074, 971  # v = c * 2^q over every finite double
N_MAX = 2**55 + 2  # the largest of 4c-2, 4c-1, 4c, 4c+2


def floor_log10_pow2(q):  # exact floor(q * log10(2))
    k = 0
    while Fraction(10) ** (k + 1) <= Fraction(2) ** q:
        k += 1
    while Fraction(10) ** k > Fraction(2) ** q:
        k -= 1
    return k


def floor_log10_3q_pow2(q):  # exact floor(log10(3/4 * 2^q))
    x = Fraction(3, 4) * Fraction(2) ** q
    k = floor_log10_pow2(q)
    while Fraction(10) ** k > x:
        k -= 1
    return k


def floor_log2_pow10(e):  # exact floor(e * log2(10))
    x = Fraction(10) ** e
    b = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** b > x:
        b -= 1
    while Fraction(2) ** (b + 1) <= x:
        b += 1
    return b


# the formulas dtoa.c uses (>> on a negative int is a floor, as in C on gcc/clang)
def c_log10_pow2(q):
    return (q * 315653) >> 20


def c_log10_3q_pow2(q):
    return (q * 315653 - 131237) >> 20


def c_log2_pow10(e):
    return (e * 217707) >> 16


def min_residue(a, m, nmax):
    """min over 1 <= n <= nmax of (n * a) mod m, for 0 < a < m.
    Walks the one-sided best approximations: lo = (n1, d1) with n1*a = d1
    (mod m), hi = (n2, d2) with n2*a = -d2 (mod m); n1*d2 + n2*d1 = m holds
    throughout, so no n < n1 + n2 has a residue in (-d2, d1) other than 0, and
    the record low residues are exactly the successive lo's."""
    n1, d1, n2, d2 = 1, a, 0, m
    while True:
        if d1 == d2:  # n1 + n2 gives residue 0
            return 0 if n1 + n2 <= nmax else d1
        if d2 > d1:  # move hi towards 0 in steps of d1 (no new low records)
            t = (d2 - 1) // d1
            n2, d2 = n2 + t * n1, d2 - t * d1
            continue
        # d1 > d2: each step lo += hi is a new low record
        if n1 + n2 > nmax:
            return d1
        t = min((d1 - 1) // d2, (nmax - n1) // n2)
        n1, d1 = n1 + t * n2, d1 - t * d2


def self_test_min_residue():
    import random
    rnd = random.Random(1)
    for _ in range(3000):
        m = rnd.randrange(2, 400)
        a = rnd.randrange(1, m)
        nmax = rnd.randrange(1, 600)
        want = min((n * a) % m for n in range(1, nmax + 1))
        got = min_residue(a, m, nmax)
        assert got == want, (a, m, nmax, got, want)


def near_integer_ok(r, ns=None):
    """Fact 2 for x = n * r: n in ns, or every n in 1..N_MAX."""
    if ns is not None:
        for n in ns:
            f = (n * r) - (n * r).numerator // (n * r).denominator
            if f != 0 and not (Fraction(1, 2**68) <= f <= 1 - Fraction(1, 2**68)):
                return False
        return True
    a, m = r.numerator % r.denominator, r.denominator
    if m <= 2**68:  # every fraction is a multiple of 1/m >= 2^-68
        return True
    # m > 2^68 > N_MAX: no n makes x an integer; distance to the integer
    # below (residue a*n) and above (residue (m-a)*n) both >= m / 2^68
    return (min_residue(a, m, N_MAX) * 2**68 >= m and
            min_residue(m - a, m, N_MAX) * 2**68 >= m)


def table():
    ks = set()
    for q in range(Q_MIN, Q_MAX + 1):
        k = floor_log10_pow2(q)
        assert c_log10_pow2(q) == k, q
        r = Fraction(2) ** q / Fraction(10) ** k
        assert near_integer_ok(r), ("regular", q)
        assert 1 <= q + 1 + floor_log2_pow10(-k) <= 4, ("h", q)
        ks.add(k)
        if q > Q_MIN:  # c = 2^52 with a lower neighbour half as far: E > 1
            k3 = floor_log10_3q_pow2(q)
            assert c_log10_3q_pow2(q) == k3, q
            r3 = Fraction(2) ** q / Fraction(10) ** k3
            c = 2**52
            assert near_integer_ok(r3, (4 * c - 1, 4 * c, 4 * c + 2)), ("irregular", q)
            assert 1 <= q + 1 + floor_log2_pow10(-k3) <= 4, ("h", q)
            ks.add(k3)
    k_min, k_max = min(ks), max(ks)
    rows = []
    for e in range(-k_max, -k_min + 1):
        b = floor_log2_pow10(e)
        assert c_log2_pow10(e) == b, e
        beta = Fraction(10) ** e * Fraction(2) ** (127 - b)
        assert 2**127 <= beta < 2**128
        g = beta.numerator // beta.denominator + 1
        assert g < 2**128
        rows.append((e, g))
    return k_min, k_max, rows


def render(k_min, k_max, rows):
    out = []
    w = out.append
    w("/*")
    w(" * src/json/dtoa_pow10.c — GENERATED by scripts/gen-pow10-128.py; do not edit.")
    w(" * g(e) = floor(10^e * 2^(127 - floor(e*log2(10)))) + 1 for e = %d..%d:" % (-k_max, -k_min))
    w(" * 10^e as a 128-bit integer with bit 127 set, rounded up (src/json/dtoa.c).")
    w(" * tests/scripts/dtoa_table.sh checks that the script still prints this file.")
    w(" */")
    w("#include <stdint.h>")
    w("")
    w('#include "json/json_int.h"')
    w("")
    w("_Static_assert(WEFT__DTOA_K_MIN == %d && WEFT__DTOA_K_MAX == %d, \"regenerate\");" % (k_min, k_max))
    w("")
    w("const weft__u128 weft__dtoa_pow10[WEFT__DTOA_K_MAX - WEFT__DTOA_K_MIN + 1] = {")
    for e, g in rows:
        w("    {0x%016x, 0x%016x}, /* 1e%d */" % (g >> 64, g & (2**64 - 1), e))
    w("};")
    return "\n".join(out) + "\n"


def main():
    self_test_min_residue()
    text = render(*table())
    if sys.argv[1:] == ["--write"]:
        with open("src/json/dtoa_pow10.c", "w") as f:
            f.write(text)
    elif sys.argv[1:]:
        sys.exit("usage: gen-pow10-128.py [--write]")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
