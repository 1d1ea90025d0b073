/*
 * fuzz/ws_utf8.c — libFuzzer target for the incremental UTF-8 validator.
 *
 * The verdict of weft_utf8_valid() must match a plain reference decoder, and
 * feeding the input in two pieces (cut where the data says) or one byte at a
 * time must report the first invalid byte at the same offset.
 */
#include <stdint.h>
#include <stdlib.h>

#include "weft/ws.h"

static int ref_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07;
        else
            return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Offset of the first invalid byte feeding in pieces (n if none); *done set. */
static size_t first_bad(const uint8_t *s, size_t n, size_t first, size_t step, int *done) {
    weft_utf8 v;
    weft_utf8_init(&v);
    size_t pos = 0, piece = first;
    while (pos < n) {
        size_t k = n - pos < piece ? n - pos : piece;
        size_t ok = weft_utf8_feed(&v, s + pos, k);
        if (ok > k) abort();
        if (ok < k) {
            *done = 0;
            return pos + ok;
        }
        pos += k;
        piece = step;
    }
    *done = weft_utf8_done(&v);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int valid = weft_utf8_valid(data, size);
    if (valid != ref_utf8(data, size)) abort();
    int d1, d2, d3;
    size_t a = first_bad(data, size, size ? size : 1, size ? size : 1, &d1);
    size_t cut = size ? (size_t)data[0] * 131 % (size + 1) : 0;
    size_t b = first_bad(data, size, cut ? cut : 1, size ? size : 1, &d2);
    size_t c = first_bad(data, size, 1, 1, &d3);
    if (a != b || a != c || d1 != d2 || d1 != d3) abort();
    if (valid != (a == size && d1)) abort();
    /* the prefix before the first bad byte is never rejected on its own terms */
    if (a < size) {
        weft_utf8 v;
        weft_utf8_init(&v);
        if (weft_utf8_feed(&v, data, a) != a) abort();
    }
    return 0;
}
