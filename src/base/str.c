/*
 * src/base/str.c — string slices.
 *
 * Slices may have p == NULL when n == 0 (weft_str_cut returns one), and the
 * C library's mem* functions must not see a NULL pointer even with a zero
 * length, so every call below is guarded by n != 0.
 */
#include "weft/base.h"

#include <string.h>

weft_str weft_str_c(const char *s) {
    if (!s) return (weft_str){"", 0};
    return (weft_str){s, strlen(s)};
}

int weft_str_eq(weft_str a, weft_str b) {
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline unsigned char ascii_lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

int weft_str_eq_nocase(weft_str a, weft_str b) {
    if (a.n != b.n) return 0;
    for (size_t i = 0; i < a.n; i++)
        if (ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)b.p[i])) return 0;
    return 1;
}

int weft_str_has_prefix(weft_str s, weft_str prefix) {
    return prefix.n <= s.n && (prefix.n == 0 || memcmp(s.p, prefix.p, prefix.n) == 0);
}

weft_str weft_str_trim(weft_str s) {
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) s.p++, s.n--;
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t')) s.n--;
    return s;
}

weft_str weft_str_cut(weft_str s, char c, weft_str *head) {
    const char *hit = s.n ? memchr(s.p, (unsigned char)c, s.n) : NULL;
    if (!hit) {
        if (head) *head = s;
        return (weft_str){NULL, 0};
    }
    size_t i = (size_t)(hit - s.p);
    if (head) *head = (weft_str){s.p, i};
    return (weft_str){hit + 1, s.n - i - 1};
}

/* The decimal digits s[i..n) as a magnitude no larger than limit (>= 10^18):
 * 0, WEFT_EPARSE (none, or a non-digit) or WEFT_ERANGE (above limit). A
 * non-digit anywhere wins over out of range. */
static int digits_to_u64(weft_str s, size_t i, uint64_t limit, uint64_t *out) {
    if (i == s.n) return WEFT_EPARSE; /* empty, or a sign only */
    uint64_t v = 0;
    if (s.n - i <= 18) { /* < 10^18 <= limit: no overflow possible */
        for (; i < s.n; i++) {
            unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
            if (d > 9) return WEFT_EPARSE;
            v = v * 10 + d;
        }
        *out = v;
        return 0;
    }
    int overflow = 0;
    for (; i < s.n; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
        if (d > 9) return WEFT_EPARSE;
        if (v > (limit - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    if (overflow) return WEFT_ERANGE;
    *out = v;
    return 0;
}

int weft_str_to_i64(weft_str s, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (s.n && (s.p[0] == '+' || s.p[0] == '-')) {
        neg = s.p[0] == '-';
        i = 1;
    }
    /* Accumulate the magnitude unsigned: |INT64_MIN| = INT64_MAX + 1 fits. */
    uint64_t v;
    int rc = digits_to_u64(s, i, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v);
    if (rc) return rc;
    /* Negate via v - 1 so that v = INT64_MAX + 1 never overflows int64_t. */
    *out = !neg ? (int64_t)v : v == 0 ? 0 : -(int64_t)(v - 1) - 1;
    return 0;
}

int weft_str_to_u64(weft_str s, uint64_t *out) { return digits_to_u64(s, 0, UINT64_MAX, out); }

size_t weft_i64_to_text(char *out, int64_t v) {
    char tmp[WEFT_I64_TEXT_MAX], *q = tmp + sizeof tmp;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do *--q = (char)('0' + m % 10);
    while (m /= 10);
    if (v < 0) *--q = '-';
    size_t n = (size_t)(tmp + sizeof tmp - q);
    memcpy(out, q, n);
    return n;
}
