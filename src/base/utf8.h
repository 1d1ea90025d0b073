/*
 * src/base/utf8.h — UTF-8 validation shared by the JSON parser and encoder
 * (and, later, anything else that must refuse malformed text).
 */
#ifndef WEFT_BASE_UTF8_H
#define WEFT_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) whose lead byte is >= 0x80,
 * or 0 when it is invalid: overlong, surrogate, above U+10FFFF, truncated. */
static inline size_t weft__utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t k;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlongs */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90; /* no overlongs */
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < k) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

/* SWAR for JSON strings: w holds 8 input bytes, the first in the low byte
 * (see weft__load8). Bit 7 of byte k of the result is set when byte k is '"',
 * '\\', a control character (< 0x20) or not ASCII (>= 0x80): the bytes a JSON
 * string scanner must look at. Bits above the lowest set one may be spurious
 * (borrows); the lowest set bit never is, so use only that one. */
static inline uint64_t weft__json_special8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b, lt = (w - ones * 0x20) & ~w;
    return (zq | zb | lt | w) & highs;
}

/* 8 bytes at s as a little-endian word (s[0] in the low byte). */
static inline uint64_t weft__load8(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

#endif
