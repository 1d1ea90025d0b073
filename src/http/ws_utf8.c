/*
 * src/http/ws_utf8.c — incremental UTF-8 validation (RFC 3629) for WebSocket
 * text (RFC 6455 §8.1): a text message split over frames, or over reads, is
 * checked as its bytes arrive, and the first invalid byte is reported where
 * it is, so a connection fails fast (Autobahn 6.4) instead of after buffering
 * the whole message.
 *
 * The state is two things: how many continuation bytes are still owed, and
 * the range the next one must fall in. The range is narrower than 80..BF only
 * right after the lead bytes that would otherwise allow overlongs (E0, F0),
 * surrogates (ED) or code points past U+10FFFF (F4); every later continuation
 * byte is 80..BF. ASCII, by far the common case, is skipped eight bytes at a
 * time.
 */
#include <stdint.h>
#include <string.h>

#include "weft/ws.h"

/* A stuck validator: owes a byte no byte can be (lo > hi). */
#define STUCK_LO 0xFF
#define STUCK_HI 0x00

size_t weft_utf8_feed(weft_utf8 *v, const void *p, size_t n) {
    const uint8_t *s = p;
    size_t i = 0;
    if (v->lo == STUCK_LO) return 0;
    while (i < n) {
        if (v->need) {
            uint8_t c = s[i];
            if (c < v->lo || c > v->hi) goto bad;
            v->need--;
            v->lo = 0x80, v->hi = 0xBF;
            i++;
            continue;
        }
        /* on a boundary: skip ASCII a word at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xC2) goto bad; /* a stray continuation byte, or C0/C1 (overlong) */
        if (c < 0xE0) {
            v->need = 1;
        } else if (c < 0xF0) {
            v->need = 2;
            if (c == 0xE0)
                v->lo = 0xA0; /* overlong below U+0800 */
            else if (c == 0xED)
                v->hi = 0x9F; /* U+D800..DFFF surrogates */
        } else if (c < 0xF5) {
            v->need = 3;
            if (c == 0xF0)
                v->lo = 0x90; /* overlong below U+10000 */
            else if (c == 0xF4)
                v->hi = 0x8F; /* past U+10FFFF */
        } else {
            goto bad;
        }
        i++;
    }
    return n;
bad:
    v->need = 1;
    v->lo = STUCK_LO, v->hi = STUCK_HI;
    return i;
}

int weft_utf8_valid(const void *p, size_t n) {
    weft_utf8 v;
    weft_utf8_init(&v);
    return weft_utf8_feed(&v, p, n) == n && weft_utf8_done(&v);
}
