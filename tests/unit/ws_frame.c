/*
 * tests/unit/ws_frame.c — src/http/ws_frame.c and ws_utf8.c: the WebSocket
 * frame codec, the receiver's rules and the UTF-8 validator, named after the
 * RFC 6455 section each rule comes from. They cover the Autobahn|Testsuite
 * case groups (noted as "Autobahn N.x"): framing (1), ping/pong (2), reserved
 * bits (3), opcodes (4), fragmentation (5), UTF-8 (6), close (7), limits (9).
 * All plain tests: the codec needs no runtime.
 */
#include "test.h"

#include <stdlib.h>

#include "weft/ws.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- building frames -------------------------------------------------------- */

typedef struct wire {
    uint8_t b[1 << 17];
    size_t n;
} wire;

/* A frame as a client sends it (masked with KEY), any bits: rsv is 4/2/1 for
 * RSV1/2/3, opcode may be reserved. */
static void put_frame(wire *w, int fin, int rsv, int opcode, const void *p, size_t n) {
    size_t h = weft_ws_frame_head(w->b + w->n, fin ? WEFT_WS_FIN : 0, opcode, n, KEY);
    w->b[w->n] |= (uint8_t)(rsv << 4);
    w->n += h;
    memcpy(w->b + w->n, p, n);
    weft_ws_mask(w->b + w->n, n, KEY, 0);
    w->n += n;
}
/* The same, unmasked, as a server sends it. */
static void put_server_frame(wire *w, int fin, int opcode, const void *p, size_t n) {
    w->n += weft_ws_frame_head(w->b + w->n, fin ? WEFT_WS_FIN : 0, opcode, n, NULL);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put_text(wire *w, int fin, int opcode, const char *s) {
    put_frame(w, fin, 0, opcode, s, strlen(s));
}

/* ---- running the receiver ---------------------------------------------------- */

typedef struct evrec {
    int type, opcode, code;
    size_t len;
    char data[256]; /* first bytes of the data */
    const char *reason;
} evrec;

typedef struct run {
    evrec ev[64];
    int nev;
    size_t fail_at;       /* input offset just after the byte that failed the connection */
    size_t total_len[64]; /* full length of each event's data */
    uint8_t *big;         /* a copy of the last MESSAGE (malloc'd) */
    size_t big_n;
} run;

/* Feeds w's bytes in pieces of `step` (each piece a separate heap copy, so
 * ASan sees an over-read) and records every event. */
static void feed_steps(weft_ws_rx *rx, const uint8_t *b, size_t n, size_t step, run *r) {
    memset(r, 0, sizeof *r);
    size_t pos = 0;
    while (pos < n) {
        size_t k = n - pos < step ? n - pos : step;
        uint8_t *piece = malloc(k);
        memcpy(piece, b + pos, k);
        size_t off = 0;
        while (off < k) {
            weft_ws_event ev;
            size_t used = 0;
            int t = weft_ws_rx_feed(rx, piece + off, k - off, &used, &ev);
            if (used > k - off) abort();
            off += used;
            if (t == WEFT_WS_EV_NONE) {
                if (off != k) abort(); /* NONE means everything was consumed */
                break;
            }
            if (t != ev.type) abort();
            if (r->nev < 64) {
                evrec *e = &r->ev[r->nev];
                e->type = t, e->opcode = ev.opcode, e->code = ev.code, e->reason = ev.reason;
                e->len = ev.data.n;
                memcpy(e->data, ev.data.p ? ev.data.p : "", ev.data.n < 255 ? ev.data.n : 255);
                r->total_len[r->nev] = ev.data.n;
                if (t == WEFT_WS_EV_MESSAGE) {
                    free(r->big);
                    r->big = malloc(ev.data.n + 1);
                    memcpy(r->big, ev.data.p, ev.data.n);
                    r->big_n = ev.data.n;
                }
                r->nev++;
            }
            if (t == WEFT_WS_EV_FAIL) r->fail_at = pos + off;
        }
        free(piece);
        pos += k;
    }
}

static void run_server(const wire *w, size_t step, size_t max, run *r) {
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, max);
    feed_steps(&rx, w->b, w->n, step, r);
    weft_ws_rx_free(&rx);
}

static void run_free(run *r) {
    free(r->big);
    r->big = NULL;
}

/* The close code the server fails with when fed w whole (0 if it did not fail). */
static int fail_code(const wire *w) {
    run r;
    run_server(w, w->n ? w->n : 1, 0, &r);
    int code = 0;
    for (int i = 0; i < r.nev; i++)
        if (r.ev[i].type == WEFT_WS_EV_FAIL) code = r.ev[i].code;
    run_free(&r);
    return code;
}

/* ---- §5.2 frame heads ---------------------------------------------------------- */

TEST_PLAIN(rfc6455_5_2_head_roundtrip_and_minimal_length) {
    static const struct {
        uint64_t len;
        size_t head; /* unmasked head bytes */
    } cases[] = {{0, 2},      {1, 2},           {125, 2},
                 {126, 4},    {127, 4},         {65535, 4},
                 {65536, 10}, {1ull << 32, 10}, {(1ull << 63) - 1, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t h[WEFT_WS_HEAD_MAX];
            size_t n = weft_ws_frame_head(h, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_BINARY,
                                          cases[i].len, masked ? KEY : NULL);
            ASSERT_EQ(n, cases[i].head + (masked ? 4 : 0));
            weft_ws_frame f;
            for (size_t cut = 0; cut < n; cut++) /* every prefix is incomplete */
                ASSERT_ERR(weft_ws_frame_parse(h, cut, &f), WEFT_EAGAIN);
            ASSERT_EQ(weft_ws_frame_parse(h, n, &f), (int)n);
            ASSERT_EQ(f.fin, 1);
            ASSERT_EQ(f.rsv, 4);
            ASSERT_EQ(f.opcode, WEFT_WS_BINARY);
            ASSERT_EQ(f.masked, masked);
            ASSERT(f.len == cases[i].len);
            if (masked) ASSERT_MEMEQ(f.mask, KEY, 4);
        }
    }
}

TEST_PLAIN(rfc6455_5_2_len64_top_bit_is_1002) {
    uint8_t h[14] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    weft_ws_frame f;
    ASSERT_ERR(weft_ws_frame_parse(h, sizeof h, &f), WEFT_EPARSE);
    wire w = {.n = 0};
    memcpy(w.b, h, sizeof h);
    w.n = sizeof h;
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
}

/* Autobahn 1.1/1.2: text and binary payloads of every boundary length, fed
 * whole, in 997-byte pieces and one byte at a time. */
TEST_PLAIN(rfc6455_5_2_payload_lengths_autobahn_1) {
    static const size_t lens[] = {0, 1, 125, 126, 127, 128, 65535, 65536, 100000};
    static uint8_t payload[100000];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)('a' + i % 26);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (int op = WEFT_WS_TEXT; op <= WEFT_WS_BINARY; op++) {
            static wire w;
            w.n = 0;
            put_frame(&w, 1, 0, op, payload, lens[li]);
            const size_t steps[] = {w.n, 997, 1};
            for (size_t s = 0; s < 3; s++) {
                if (steps[s] == 1 && lens[li] > 70000) continue;
                run r;
                run_server(&w, steps[s], 0, &r);
                ASSERT_EQ(r.nev, 1);
                ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
                ASSERT_EQ(r.ev[0].opcode, op);
                ASSERT_EQ(r.big_n, lens[li]);
                ASSERT_MEMEQ(r.big, payload, lens[li]);
                run_free(&r);
            }
        }
    }
}

/* ---- §5.3 masking --------------------------------------------------------------- */

TEST_PLAIN(rfc6455_5_3_mask_in_pieces_equals_whole) {
    uint8_t a[300], b[300], orig[300];
    for (int i = 0; i < 300; i++) orig[i] = (uint8_t)(i * 7 + 3);
    memcpy(a, orig, 300);
    weft_ws_mask(a, 300, KEY, 0);
    for (size_t i = 0; i < 300; i++) ASSERT_EQ(a[i], orig[i] ^ KEY[i % 4]);
    for (size_t cut = 0; cut <= 300; cut += 7) {
        memcpy(b, orig, 300);
        weft_ws_mask(b, cut, KEY, 0);
        weft_ws_mask(b + cut, 300 - cut, KEY, cut);
        ASSERT_MEMEQ(a, b, 300);
    }
    weft_ws_mask(a, 300, KEY, 0); /* twice restores */
    ASSERT_MEMEQ(a, orig, 300);
}

TEST_PLAIN(rfc6455_5_1_client_frames_must_be_masked) {
    wire w = {.n = 0};
    put_server_frame(&w, 1, WEFT_WS_TEXT, "hi", 2); /* unmasked, to a server */
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
}

TEST_PLAIN(rfc6455_5_1_server_frames_must_not_be_masked) {
    wire w = {.n = 0};
    put_text(&w, 1, WEFT_WS_TEXT, "hi"); /* masked, to a client */
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_CLIENT, 0);
    run r;
    feed_steps(&rx, w.b, w.n, w.n, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(r.ev[0].code, WEFT_WS_PROTOCOL_ERROR);
    weft_ws_rx_free(&rx);
    /* and an unmasked one is read */
    w.n = 0;
    put_server_frame(&w, 1, WEFT_WS_TEXT, "hello", 5);
    weft_ws_rx_init(&rx, WEFT_WS_CLIENT, 0);
    feed_steps(&rx, w.b, w.n, 1, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(r.ev[0].len, 5);
    ASSERT_MEMEQ(r.ev[0].data, "hello", 5);
    weft_ws_rx_free(&rx);
    run_free(&r);
}

/* ---- §5.2 reserved bits (Autobahn 3.x) ----------------------------------------- */

TEST_PLAIN(rfc6455_5_2_rsv_bits_without_extension_are_1002) {
    static const int ops[] = {WEFT_WS_TEXT, WEFT_WS_BINARY, WEFT_WS_PING, WEFT_WS_CLOSE};
    for (int rsv = 1; rsv < 8; rsv++) {
        for (size_t o = 0; o < 4; o++) {
            /* 3.2-3.7: a valid message first, then the bad frame, then a ping */
            wire w = {.n = 0};
            put_text(&w, 1, WEFT_WS_TEXT, "Hello");
            put_frame(&w, 1, rsv, ops[o], "x", ops[o] == WEFT_WS_CLOSE ? 0 : 1);
            put_text(&w, 1, WEFT_WS_PING, "p");
            run r;
            run_server(&w, w.n, 0, &r);
            ASSERT_EQ(r.nev, 2);
            ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
            ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_FAIL);
            ASSERT_EQ(r.ev[1].code, WEFT_WS_PROTOCOL_ERROR);
            ASSERT(r.ev[1].reason && *r.ev[1].reason);
            run_free(&r);
        }
    }
}

/* ---- §5.2 opcodes (Autobahn 4.x) -------------------------------------------------- */

TEST_PLAIN(rfc6455_5_2_reserved_opcodes_are_1002) {
    static const int ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (int with_payload = 0; with_payload < 2; with_payload++) {
            wire w = {.n = 0};
            put_text(&w, 1, WEFT_WS_TEXT, "before");
            put_frame(&w, 1, 0, ops[i], "reserved", with_payload ? 8 : 0);
            run r;
            run_server(&w, w.n, 0, &r);
            ASSERT_EQ(r.nev, 2);
            ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_FAIL);
            ASSERT_EQ(r.ev[1].code, WEFT_WS_PROTOCOL_ERROR);
            ASSERT_STREQ(r.ev[1].reason, "reserved opcode");
            run_free(&r);
        }
    }
}

/* ---- §5.5 control frames (Autobahn 2.x) ---------------------------------------- */

TEST_PLAIN(rfc6455_5_5_control_payload_125_ok_126_is_1002) {
    uint8_t p[126];
    for (int i = 0; i < 126; i++) p[i] = (uint8_t)(0xFE - i); /* binary payload (2.3) */
    wire w = {.n = 0};
    put_frame(&w, 1, 0, WEFT_WS_PING, p, 125);
    run r;
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PING);
    ASSERT_EQ(r.ev[0].len, 125);
    ASSERT_MEMEQ(r.ev[0].data, p, 125);
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_PING, p, 126);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_PONG, p, 126);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, p, 126);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    /* judged at the head: only the head needs to arrive */
    w.n = weft_ws_frame_head(w.b, WEFT_WS_FIN, WEFT_WS_PING, 200, KEY);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
}

TEST_PLAIN(rfc6455_5_5_fragmented_control_is_1002) {
    static const int ops[] = {WEFT_WS_PING, WEFT_WS_PONG, WEFT_WS_CLOSE};
    for (int i = 0; i < 3; i++) {
        wire w = {.n = 0};
        put_text(&w, 0, ops[i], "frag"); /* Autobahn 5.1, 5.2 */
        put_text(&w, 1, WEFT_WS_CONT, "ment");
        ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    }
}

TEST_PLAIN(rfc6455_5_5_2_ping_empty_and_with_payload) {
    wire w = {.n = 0};
    put_text(&w, 1, WEFT_WS_PING, "");
    put_text(&w, 1, WEFT_WS_PING, "Hello, world!");
    run r;
    run_server(&w, 3, 0, &r);
    ASSERT_EQ(r.nev, 2);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PING);
    ASSERT_EQ(r.ev[0].len, 0);
    ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_PING);
    ASSERT_EQ(r.ev[1].len, 13);
    ASSERT_MEMEQ(r.ev[1].data, "Hello, world!", 13);
}

/* 2.7/2.8: an unsolicited pong is reported (as a sign of life) and changes nothing. */
TEST_PLAIN(rfc6455_5_5_3_unsolicited_pong_is_harmless) {
    wire w = {.n = 0};
    put_text(&w, 1, WEFT_WS_PONG, "unsolicited");
    put_text(&w, 1, WEFT_WS_TEXT, "after");
    run r;
    run_server(&w, w.n, 0, &r);
    ASSERT_EQ(r.nev, 2);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PONG);
    ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(r.ev[1].len, 5);
    run_free(&r);
}

/* 2.10/2.11: ten pings in a row, every one reported, in order, fed in any pieces. */
TEST_PLAIN(rfc6455_5_5_2_ten_pings_in_order) {
    wire w = {.n = 0};
    char p[32];
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "ping-%d", i);
        put_text(&w, 1, WEFT_WS_PING, p);
    }
    for (size_t step = 1; step <= w.n; step++) {
        run r;
        run_server(&w, step, 0, &r);
        ASSERT_EQ(r.nev, 10);
        for (int i = 0; i < 10; i++) {
            snprintf(p, sizeof p, "ping-%d", i);
            ASSERT_EQ(r.ev[i].type, WEFT_WS_EV_PING);
            ASSERT_EQ(r.ev[i].len, strlen(p));
            ASSERT_MEMEQ(r.ev[i].data, p, strlen(p));
        }
    }
}

/* ---- §5.4 fragmentation (Autobahn 5.x) -------------------------------------------- */

TEST_PLAIN(rfc6455_5_4_fragments_with_controls_between) {
    wire w = {.n = 0};
    put_text(&w, 0, WEFT_WS_TEXT, "frag");
    put_text(&w, 1, WEFT_WS_PING, "ping in the middle");
    put_text(&w, 0, WEFT_WS_CONT, "men");
    put_text(&w, 1, WEFT_WS_PONG, "pong in the middle");
    put_text(&w, 0, WEFT_WS_CONT, "");
    put_text(&w, 1, WEFT_WS_CONT, "tation");
    put_frame(&w, 0, 0, WEFT_WS_BINARY, "\x00\xff", 2);
    put_frame(&w, 1, 0, WEFT_WS_CONT, "\x01", 1);
    /* every way of splitting the stream gives the same events */
    for (size_t step = 1; step <= w.n; step++) {
        run r;
        run_server(&w, step, 0, &r);
        ASSERT_EQ(r.nev, 4);
        ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PING);
        ASSERT_MEMEQ(r.ev[0].data, "ping in the middle", 18);
        ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_PONG);
        ASSERT_EQ(r.ev[2].type, WEFT_WS_EV_MESSAGE);
        ASSERT_EQ(r.ev[2].opcode, WEFT_WS_TEXT);
        ASSERT_EQ(r.ev[2].len, 13);
        ASSERT_MEMEQ(r.ev[2].data, "fragmentation", 13);
        ASSERT_EQ(r.ev[3].opcode, WEFT_WS_BINARY);
        ASSERT_EQ(r.ev[3].len, 3);
        ASSERT_MEMEQ(r.ev[3].data, "\x00\xff\x01", 3);
        run_free(&r);
    }
}

TEST_PLAIN(rfc6455_5_4_continuation_without_start_is_1002) {
    for (int fin = 0; fin < 2; fin++) { /* 5.3-5.5 with fin, 5.9-5.14 without */
        wire w = {.n = 0};
        put_text(&w, fin, WEFT_WS_CONT, "non-continuation payload");
        put_text(&w, 1, WEFT_WS_TEXT, "Hello, world!");
        ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    }
    /* after a whole message ended, a continuation has nothing to continue */
    wire w = {.n = 0};
    put_text(&w, 0, WEFT_WS_TEXT, "a");
    put_text(&w, 1, WEFT_WS_CONT, "b");
    put_text(&w, 1, WEFT_WS_CONT, "c");
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
}

TEST_PLAIN(rfc6455_5_4_new_data_frame_inside_fragmented_message_is_1002) {
    static const int ops[] = {WEFT_WS_TEXT, WEFT_WS_BINARY};
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            wire w = {.n = 0};
            put_text(&w, 0, ops[i], "first");
            put_text(&w, 1, ops[j], "second"); /* 5.18 */
            ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
        }
    }
}

/* ---- §8.1 UTF-8 (Autobahn 6.x) ------------------------------------------------- */

/* A straightforward reference decoder: 1 if s[0..n) is UTF-8 per RFC 3629. */
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

/* Every sequence of 1 to 3 bytes, and every 4-byte one with a lead byte of
 * F0..F7 and a last byte from a spread set, against the reference. */
TEST_PLAIN(rfc3629_utf8_validator_matches_reference_exhaustively) {
    uint8_t s[4];
    long checked = 0;
    for (int a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        ASSERT_EQ(weft_utf8_valid(s, 1), ref_utf8(s, 1));
        for (int b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            ASSERT_EQ(weft_utf8_valid(s, 2), ref_utf8(s, 2));
            for (int c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (weft_utf8_valid(s, 3) != ref_utf8(s, 3)) {
                    test__fail(__FILE__, __LINE__, "3-byte %02x %02x %02x", a, b, c);
                    return;
                }
                checked++;
                if (a < 0xF0 || a > 0xF7) continue;
                static const int last[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0, 0xFF};
                for (int d = 0; d < 8; d++) {
                    s[3] = (uint8_t)last[d];
                    if (weft_utf8_valid(s, 4) != ref_utf8(s, 4)) {
                        test__fail(__FILE__, __LINE__, "4-byte %02x %02x %02x %02x", a, b, c,
                                   last[d]);
                        return;
                    }
                }
            }
        }
    }
    ASSERT_EQ(checked, 256 * 256 * 256);
}

/* The first invalid byte is reported at its own offset, however the input is cut. */
TEST_PLAIN(rfc3629_utf8_first_invalid_byte_position) {
    static const struct {
        const char *s;
        size_t bad; /* offset of the first invalid byte */
    } cases[] = {
        {"abc\x80xyz", 3},       /* stray continuation */
        {"ab\xC0\x80", 2},       /* overlong NUL: C0 is never valid */
        {"\xE0\x80\x80", 1},     /* overlong 3-byte: the second byte is wrong */
        {"\xED\xA0\x80", 1},     /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 1}, /* U+110000 */
        {"\xF5\x80\x80\x80", 0}, /* lead past F4 */
        {"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"
         "edited",
         12},
        {"\xE2\x82\xACx", 3 + 99},    /* valid: 99 = none */
        {"\xE2\x82x", 2},             /* truncated then ASCII */
        {"0123456789abcdef\xFF", 16}, /* after the word-at-a-time path */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s), bad = cases[i].bad >= 99 ? n : cases[i].bad;
        for (size_t cut = 0; cut <= n; cut++) {
            weft_utf8 v;
            weft_utf8_init(&v);
            size_t a = weft_utf8_feed(&v, cases[i].s, cut), at;
            if (a < cut)
                at = a;
            else {
                size_t b = weft_utf8_feed(&v, cases[i].s + cut, n - cut);
                at = cut + b;
            }
            ASSERT_EQ(at, bad);
        }
    }
}

/* Valid texts from Autobahn 6.2-6.3 and 6.5 and the boundary code points
 * (6.6-6.8), sent in two fragments split at every byte, and one byte per
 * fragment. */
static const char *const VALID_TEXTS[] = {
    "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!",
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",
    "\x7F",
    "\xC2\x80",
    "\xDF\xBF",
    "\xE0\xA0\x80",
    "\xED\x9F\xBF",
    "\xEE\x80\x80",
    "\xEF\xBF\xBD",
    "\xEF\xBF\xBF",
    "\xF0\x90\x80\x80",
    "\xF4\x8F\xBF\xBF",
    "\xF0\x9F\x98\x80 emoji and \xE2\x82\xAC sign",
};
/* Invalid ones from 6.3, 6.8-6.21. */
static const char *const INVALID_TEXTS[] = {
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64",
    "\xF8\x88\x80\x80\x80",     /* 5-byte */
    "\xFC\x84\x80\x80\x80\x80", /* 6-byte */
    "\xF7\xBF\xBF\xBF",         /* past U+10FFFF */
    "\xF4\x90\x80\x80",
    "\x80", /* lone continuation */
    "\xBF",
    "\xC0 ",    /* lonely start */
    "\xE0\x80", /* last byte missing, and overlong */
    "\xC0\xAF", /* overlong '/' */
    "\xE0\x80\xAF",
    "\xF0\x80\x80\xAF",
    "\xC1\xBF", /* maximum overlongs */
    "\xE0\x9F\xBF",
    "\xF0\x8F\xBF\xBF",
    "\xED\xA0\x80", /* single surrogates */
    "\xED\xAD\xBF",
    "\xED\xBF\xBF",
    "\xED\xA0\x80\xED\xB0\x80", /* paired surrogates */
    "\xFE",
    "\xFF",
    "\xCE\xBA\xE1", /* ends inside a character */
};

TEST_PLAIN(rfc6455_8_1_valid_utf8_split_at_every_position) {
    for (size_t i = 0; i < sizeof VALID_TEXTS / sizeof VALID_TEXTS[0]; i++) {
        const char *s = VALID_TEXTS[i];
        size_t n = strlen(s);
        for (size_t cut = 0; cut <= n; cut++) {
            wire w = {.n = 0};
            put_frame(&w, 0, 0, WEFT_WS_TEXT, s, cut);
            put_frame(&w, 1, 0, WEFT_WS_CONT, s + cut, n - cut);
            run r;
            run_server(&w, w.n, 0, &r);
            ASSERT_EQ(r.nev, 1);
            ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
            ASSERT_EQ(r.ev[0].len, n);
            ASSERT_MEMEQ(r.ev[0].data, s, n);
            run_free(&r);
        }
        wire w = {.n = 0}; /* one byte per frame */
        for (size_t k = 0; k < n; k++)
            put_frame(&w, k == n - 1, 0, k ? WEFT_WS_CONT : WEFT_WS_TEXT, s + k, 1);
        run r;
        run_server(&w, 1, 0, &r);
        ASSERT_EQ(r.nev, 1);
        ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
        ASSERT_MEMEQ(r.ev[0].data, s, n);
        run_free(&r);
    }
}

TEST_PLAIN(rfc6455_8_1_invalid_utf8_is_1007_split_at_every_position) {
    for (size_t i = 0; i < sizeof INVALID_TEXTS / sizeof INVALID_TEXTS[0]; i++) {
        const char *s = INVALID_TEXTS[i];
        size_t n = strlen(s);
        for (size_t cut = 0; cut <= n; cut++) {
            wire w = {.n = 0};
            put_frame(&w, 0, 0, WEFT_WS_TEXT, s, cut);
            put_frame(&w, 1, 0, WEFT_WS_CONT, s + cut, n - cut);
            for (size_t step = 1; step <= w.n; step += (step < 4 ? 1 : 5)) {
                run r;
                run_server(&w, step, 0, &r);
                ASSERT_EQ(r.nev, 1);
                ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_FAIL);
                ASSERT_EQ(r.ev[0].code, WEFT_WS_INVALID_DATA);
                run_free(&r);
            }
        }
        /* the same as a single frame, and as a close reason */
        wire w = {.n = 0};
        put_frame(&w, 1, 0, WEFT_WS_TEXT, s, n);
        ASSERT_EQ(fail_code(&w), WEFT_WS_INVALID_DATA);
        uint8_t cp[125] = {0x03, 0xE8};
        memcpy(cp + 2, s, n);
        w.n = 0;
        put_frame(&w, 1, 0, WEFT_WS_CLOSE, cp, n + 2);
        ASSERT_EQ(fail_code(&w), WEFT_WS_INVALID_DATA);
    }
}

/* 6.4: the connection fails at the bad byte, before the rest of the frame
 * (or the rest of the message) arrives. */
TEST_PLAIN(rfc6455_8_1_invalid_utf8_fails_fast) {
    const char *s = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF4\x90\x80\x80";
    wire w = {.n = 0};
    uint8_t payload[1000];
    memset(payload, 'a', sizeof payload);
    memcpy(payload, s, strlen(s));
    put_frame(&w, 1, 0, WEFT_WS_TEXT, payload, sizeof payload);
    size_t head = 2 + 2 + 4, bad = 12; /* F4 90: the 90 is the first bad byte */
    w.n = head + bad + 1;              /* only this much of the frame is sent */
    run r;
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(r.ev[0].code, WEFT_WS_INVALID_DATA);
    ASSERT_EQ(r.fail_at, head + bad + 1);
    /* the same with the bad byte in a continuation frame of a message not yet done */
    w.n = 0;
    put_frame(&w, 0, 0, WEFT_WS_TEXT, "ok so far", 9);
    size_t mark = w.n;
    put_frame(&w, 0, 0, WEFT_WS_CONT, "\xED\xA0\x80 and more", 12);
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(r.ev[0].code, WEFT_WS_INVALID_DATA);
    ASSERT_EQ(r.fail_at, mark + 6 + 2);
}

TEST_PLAIN(rfc6455_8_1_binary_is_not_utf8_checked) {
    wire w = {.n = 0};
    put_frame(&w, 1, 0, WEFT_WS_BINARY, "\xFF\xFE\xC0", 3);
    run r;
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(r.ev[0].opcode, WEFT_WS_BINARY);
    run_free(&r);
}

/* ---- §5.5.1, §7.4 close (Autobahn 7.x) ------------------------------------------- */

static int close_with_code(int code, int *got_code) {
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    wire w = {.n = 0};
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, p, 2);
    run r;
    run_server(&w, w.n, 0, &r);
    *got_code = r.nev == 1 ? r.ev[0].code : -1;
    return r.nev == 1 ? r.ev[0].type : -1;
}

TEST_PLAIN(rfc6455_7_4_valid_close_codes) {
    static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                             1010, 1011, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int code;
        ASSERT_EQ(close_with_code(ok[i], &code), WEFT_WS_EV_CLOSE);
        ASSERT_EQ(code, ok[i]);
        ASSERT_EQ(weft_ws_close_code_valid(ok[i]), 1);
    }
}

TEST_PLAIN(rfc6455_7_4_invalid_close_codes_are_1002) {
    static const int bad[] = {0,    999,  1004, 1005, 1006, 1012, 1013, 1014,
                              1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int code;
        ASSERT_EQ(close_with_code(bad[i], &code), WEFT_WS_EV_FAIL);
        ASSERT_EQ(code, WEFT_WS_PROTOCOL_ERROR);
        ASSERT_EQ(weft_ws_close_code_valid(bad[i]), 0);
    }
}

TEST_PLAIN(rfc6455_5_5_1_close_payloads) {
    /* 7.3.1: empty -> 1005 reported */
    wire w = {.n = 0};
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, "", 0);
    run r;
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_CLOSE);
    ASSERT_EQ(r.ev[0].code, WEFT_WS_NO_STATUS);
    ASSERT_EQ(r.ev[0].len, 0);
    /* 7.3.2: one byte -> 1002 */
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, "\x03", 1);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
    /* 7.3.3-7.3.5: code with a reason, up to 123 bytes of it */
    uint8_t p[125] = {0x03, 0xE8};
    memset(p + 2, 'r', 123);
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, p, 125);
    run_server(&w, 7, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_CLOSE);
    ASSERT_EQ(r.ev[0].code, 1000);
    ASSERT_EQ(r.ev[0].len, 123);
    /* 7.3.6: 124 bytes of reason is a control frame over 125 -> 1002 */
    w.n = 0;
    uint8_t q[126] = {0x03, 0xE8};
    memset(q + 2, 'r', 124);
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, q, 126);
    ASSERT_EQ(fail_code(&w), WEFT_WS_PROTOCOL_ERROR);
}

/* 7.1.x: after the peer's close nothing more is read. */
TEST_PLAIN(rfc6455_5_5_1_nothing_after_close) {
    wire w = {.n = 0};
    put_text(&w, 1, WEFT_WS_TEXT, "before");
    put_frame(&w, 1, 0, WEFT_WS_CLOSE,
              "\x03\xE8"
              "bye",
              5);
    put_text(&w, 1, WEFT_WS_TEXT, "after close");
    put_text(&w, 1, WEFT_WS_PING, "after close");
    for (size_t step = 1; step <= w.n; step++) {
        run r;
        run_server(&w, step, 0, &r);
        ASSERT_EQ(r.nev, 2);
        ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
        ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_CLOSE);
        ASSERT_EQ(r.ev[1].code, 1000);
        ASSERT_EQ(r.ev[1].len, 3);
        ASSERT_MEMEQ(r.ev[1].data, "bye", 3);
        run_free(&r);
    }
}

TEST_PLAIN(rfc6455_5_5_1_close_in_the_middle_of_a_fragmented_message) {
    wire w = {.n = 0};
    put_text(&w, 0, WEFT_WS_TEXT, "frag");
    put_frame(&w, 1, 0, WEFT_WS_CLOSE, "\x03\xE9", 2);
    put_text(&w, 1, WEFT_WS_CONT, "ment");
    run r;
    run_server(&w, 1, 0, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_CLOSE);
    ASSERT_EQ(r.ev[0].code, 1001);
}

TEST_PLAIN(rfc6455_5_5_1_close_payload_builder) {
    uint8_t out[WEFT_WS_CONTROL_MAX];
    ASSERT_EQ(weft_ws_close_payload(out, 0, "x", 1), 0);
    ASSERT_EQ(weft_ws_close_payload(out, WEFT_WS_NO_STATUS, "x", 1), 0);
    ASSERT_EQ(weft_ws_close_payload(out, 1001, "going", 5), 7);
    ASSERT_MEMEQ(out, "\x03\xE9going", 7);
    /* a long reason is cut to 123 bytes, never inside a character */
    char reason[200];
    for (int i = 0; i < 100; i++) memcpy(reason + 2 * i, "\xC3\xA9", 2); /* e-acute */
    size_t n = weft_ws_close_payload(out, 1000, reason, 200);
    ASSERT_EQ(n, 2 + 122);
    ASSERT(weft_utf8_valid(out + 2, n - 2));
    memset(reason, 'a', 200);
    ASSERT_EQ(weft_ws_close_payload(out, 1000, reason, 200), 125);
}

/* ---- limits (Autobahn 9.x) --------------------------------------------------------- */

TEST_PLAIN(rfc6455_10_4_message_size_limit_is_1009) {
    static uint8_t p[5000];
    memset(p, 'x', sizeof p);
    wire w = {.n = 0};
    put_frame(&w, 1, 0, WEFT_WS_TEXT, p, 4096);
    run r;
    run_server(&w, w.n, 4096, &r); /* exactly the limit */
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(r.ev[0].len, 4096);
    run_free(&r);
    w.n = 0;
    put_frame(&w, 1, 0, WEFT_WS_BINARY, p, 4097);
    run_server(&w, w.n, 4096, &r);
    ASSERT_EQ(r.nev, 1);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(r.ev[0].code, WEFT_WS_TOO_BIG);
    /* judged at the head: 8 bytes in, nothing of the payload needed */
    ASSERT_EQ(r.fail_at, 8);
    /* over the limit only in total, across fragments */
    w.n = 0;
    put_frame(&w, 0, 0, WEFT_WS_TEXT, p, 3000);
    put_text(&w, 1, WEFT_WS_PING, "between");
    put_frame(&w, 1, 0, WEFT_WS_CONT, p, 1097);
    run_server(&w, 100, 4096, &r);
    ASSERT_EQ(r.nev, 2);
    ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PING);
    ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(r.ev[1].code, WEFT_WS_TOO_BIG);
    /* a 2^62-byte frame head is refused at once, not waited for */
    w.n = weft_ws_frame_head(w.b, WEFT_WS_FIN, WEFT_WS_BINARY, 1ull << 62, KEY);
    ASSERT_EQ(fail_code(&w), WEFT_WS_TOO_BIG);
}

/* The default limit is 1 MiB. */
TEST_PLAIN(rfc6455_10_4_default_limit_1mib) {
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(rx.max_message, 1 << 20);
    uint8_t h[WEFT_WS_HEAD_MAX];
    size_t n = weft_ws_frame_head(h, WEFT_WS_FIN, WEFT_WS_BINARY, (1 << 20) + 1, KEY);
    weft_ws_event ev;
    size_t used;
    ASSERT_EQ(weft_ws_rx_feed(&rx, h, n, &used, &ev), WEFT_WS_EV_FAIL);
    ASSERT_EQ(ev.code, WEFT_WS_TOO_BIG);
    /* finished: later input is consumed and ignored */
    ASSERT_EQ(weft_ws_rx_feed(&rx, h, n, &used, &ev), WEFT_WS_EV_NONE);
    ASSERT_EQ(used, n);
    weft_ws_rx_free(&rx);
}

/* A message can be taken out of the receiver without a copy. */
TEST_PLAIN(ws_rx_take_moves_the_message) {
    wire w = {.n = 0};
    put_text(&w, 1, WEFT_WS_TEXT, "take me");
    put_text(&w, 1, WEFT_WS_TEXT, "second");
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    weft_ws_event ev;
    size_t used;
    ASSERT_EQ(weft_ws_rx_feed(&rx, w.b, w.n, &used, &ev), WEFT_WS_EV_MESSAGE);
    weft_buf b;
    weft_ws_rx_take(&rx, &b);
    ASSERT_EQ(b.len, 7);
    ASSERT_MEMEQ(b.data, "take me", 7);
    ASSERT_EQ(b.max, 0); /* the caller may grow it as it likes */
    ASSERT_EQ(weft_buf_append(&b, "!", 1), 0);
    size_t used2;
    ASSERT_EQ(weft_ws_rx_feed(&rx, w.b + used, w.n - used, &used2, &ev), WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(ev.data.n, 6);
    ASSERT_MEMEQ(ev.data.p, "second", 6);
    ASSERT_MEMEQ(b.data, "take me!", 8); /* untouched by the next message */
    weft_buf_free(&b);
    weft_ws_rx_free(&rx);
}

/* ---- encoding -------------------------------------------------------------------- */

TEST_PLAIN(rfc6455_5_5_frame_append_refuses_bad_control_frames) {
    weft_buf b;
    weft_buf_init(&b, 0);
    char p[126] = {0};
    ASSERT_ERR(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, p, 126, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_ws_frame_append(&b, 0, WEFT_WS_CLOSE, p, 2, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_ws_frame_append(&b, WEFT_WS_FIN, 3, p, 1, NULL), WEFT_EINVAL);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, p, 125, NULL), 0);
    ASSERT_EQ(b.len, 127);
    weft_buf_free(&b);
}

/* What one side encodes, the other side's receiver reads back: server to
 * client unmasked, client to server masked. */
TEST_PLAIN(rfc6455_5_2_encode_decode_both_roles) {
    for (int client = 0; client < 2; client++) {
        weft_buf b;
        weft_buf_init(&b, 0);
        const uint8_t *mask = client ? KEY : NULL;
        ASSERT_EQ(weft_ws_frame_append(&b, 0, WEFT_WS_TEXT, "he", 2, mask), 0);
        ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, "p", 1, mask), 0);
        ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_CONT, "llo", 3, mask), 0);
        uint8_t cp[WEFT_WS_CONTROL_MAX];
        size_t cn = weft_ws_close_payload(cp, 4001, "done", 4);
        ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_CLOSE, cp, cn, mask), 0);
        weft_ws_rx rx;
        weft_ws_rx_init(&rx, client ? WEFT_WS_SERVER : WEFT_WS_CLIENT, 0);
        run r;
        feed_steps(&rx, (const uint8_t *)b.data, b.len, 1, &r);
        ASSERT_EQ(r.nev, 3);
        ASSERT_EQ(r.ev[0].type, WEFT_WS_EV_PING);
        ASSERT_EQ(r.ev[1].type, WEFT_WS_EV_MESSAGE);
        ASSERT_MEMEQ(r.ev[1].data, "hello", 5);
        ASSERT_EQ(r.ev[2].type, WEFT_WS_EV_CLOSE);
        ASSERT_EQ(r.ev[2].code, 4001);
        ASSERT_MEMEQ(r.ev[2].data, "done", 4);
        run_free(&r);
        weft_ws_rx_free(&rx);
        weft_buf_free(&b);
    }
}
