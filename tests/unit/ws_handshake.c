/*
 * tests/unit/ws_handshake.c — src/http/ws_handshake.c and ws_deflate.c: the
 * opening handshake (RFC 6455 §4.2), the permessage-deflate negotiation
 * (RFC 7692 §5, §7.1) and compressed messages through the receiver (§7.2),
 * including the inflated-size limit. All plain tests.
 */
#include "test.h"

#include <stdlib.h>

#include "weft/ws.h"

#define GOOD_HEAD                                                                                  \
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"                     \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                       \
    "Sec-WebSocket-Version: 13\r\n"

static weft_http_header hdrs[64];

/* Parses head (without the final CRLF, added here) and runs the server
 * handshake on it; returns the status. */
static int shake(const char *head, const weft_ws_server_opts *o, weft_ws_handshake *hs) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s\r\n", head);
    weft_http_request req;
    int st;
    const char *why;
    memset(hs, 0, sizeof *hs);
    int rc = weft_http_parse_request(buf, strlen(buf), &req, hdrs, 64, NULL, &st, &why);
    if (rc <= 0) return -1;
    return weft_ws_server_handshake(&req, o, hs);
}

/* ---- §4.2.1, §4.2.2 the server's checks ---------------------------------------- */

TEST_PLAIN(rfc6455_4_2_2_accept_key_of_the_rfc_example) {
    char out[29];
    weft_ws_accept_key(WEFT_STR("dGhlIHNhbXBsZSBub25jZQ=="), out);
    ASSERT_STREQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_PLAIN(rfc6455_4_2_2_valid_upgrade_answers_101) {
    weft_ws_handshake hs;
    ASSERT_EQ(shake(GOOD_HEAD, NULL, &hs), 101);
    ASSERT_STREQ(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ASSERT_EQ(hs.deflate, 0);
    ASSERT_EQ(hs.subprotocol.n, 0);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT_STREQ(b.data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                         "\r\n\r\n");
    weft_buf_free(&b);
}

TEST_PLAIN(rfc6455_4_2_1_token_lists_and_case) {
    weft_ws_handshake hs;
    ASSERT_EQ(
        shake("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
              "Connection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n",
              NULL, &hs),
        101);
    /* Connection on two lines */
    ASSERT_EQ(shake("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                    "Connection: keep-alive\r\nConnection: upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
                    NULL, &hs),
              101);
}

/* Each broken rule: its status and its reason. */
TEST_PLAIN(rfc6455_4_2_1_refusals_with_reasons) {
    static const struct {
        const char *head;
        int status;
        const char *reason;
    } cases[] = {
        {"POST /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
         "13\r\nContent-Length: 0\r\n",
         400, "a WebSocket upgrade must be a GET request"},
        {"GET /chat HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         400, "a WebSocket upgrade needs HTTP/1.1"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         400, "missing Upgrade: websocket"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         400, "missing Upgrade: websocket"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         400, "the Connection header lacks the upgrade token"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
         426, "unsupported WebSocket version (only 13)"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
         426, "unsupported WebSocket version (only 13)"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400, "missing Sec-WebSocket-Key"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n",
         400, "Sec-WebSocket-Key is not 16 bytes in base64"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Version: 13\r\n",
         400, "Sec-WebSocket-Key is not 16 bytes in base64"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\nSec-WebSocket-Version: 13\r\n",
         400, "Sec-WebSocket-Key is not 16 bytes in base64"},
        {"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: "
         "dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400, "more than one Sec-WebSocket-Key"},
        {GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate; =x\r\n", 400,
         "malformed Sec-WebSocket-Extensions"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_ws_handshake hs;
        int st = shake(cases[i].head, NULL, &hs);
        if (st != cases[i].status || !hs.reason || strcmp(hs.reason, cases[i].reason) != 0) {
            test__fail(__FILE__, __LINE__, "case %zu: %d \"%s\", wanted %d \"%s\"", i, st,
                       hs.reason ? hs.reason : "(null)", cases[i].status, cases[i].reason);
            return;
        }
        weft_buf b;
        weft_buf_init(&b, 0);
        ASSERT_ERR(weft_ws_handshake_response(&hs, &b), WEFT_EINVAL);
        ASSERT_EQ(b.len, 0);
    }
}

static int only_example_origin(weft_str origin, void *ud) {
    (void)ud;
    return weft_str_eq(origin, WEFT_STR("https://example.com"));
}

TEST_PLAIN(rfc6455_4_2_2_origin_hook_403) {
    weft_ws_server_opts o = {.check_origin = only_example_origin};
    weft_ws_handshake hs;
    ASSERT_EQ(shake(GOOD_HEAD "Origin: https://example.com\r\n", &o, &hs), 101);
    ASSERT_EQ(shake(GOOD_HEAD "Origin: https://evil.example\r\n", &o, &hs), 403);
    ASSERT_STREQ(hs.reason, "origin not allowed");
    ASSERT_EQ(shake(GOOD_HEAD, &o, &hs), 403); /* no Origin: the hook sees an empty one */
}

TEST_PLAIN(rfc6455_4_2_2_subprotocol_server_preference) {
    static const char *const ours[] = {"v2.chat", "v1.chat"};
    weft_ws_server_opts o = {.subprotocols = ours, .nsubprotocols = 2};
    weft_ws_handshake hs;
    ASSERT_EQ(shake(GOOD_HEAD "Sec-WebSocket-Protocol: v1.chat, v2.chat\r\n", &o, &hs), 101);
    ASSERT(weft_str_eq(hs.subprotocol, WEFT_STR("v2.chat")));
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "\r\nSec-WebSocket-Protocol: v2.chat\r\n") != NULL);
    weft_buf_free(&b);
    ASSERT_EQ(shake(GOOD_HEAD
                    "Sec-WebSocket-Protocol: other\r\nSec-WebSocket-Protocol: v1.chat\r\n",
                    &o, &hs),
              101);
    ASSERT(weft_str_eq(hs.subprotocol, WEFT_STR("v1.chat")));
    /* none in common: no subprotocol, no header */
    ASSERT_EQ(shake(GOOD_HEAD "Sec-WebSocket-Protocol: mqtt\r\n", &o, &hs), 101);
    ASSERT_EQ(hs.subprotocol.n, 0);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "Sec-WebSocket-Protocol") == NULL);
    weft_buf_free(&b);
}

/* ---- RFC 7692 §5, §7.1 negotiation --------------------------------------------- */

static int nego(const char *offers, weft_ws_deflate_params *p) {
    memset(p, 0x55, sizeof *p);
    return weft_ws_deflate_negotiate(weft_str_c(offers), p);
}

TEST_PLAIN(rfc7692_7_1_negotiation_parameters) {
    weft_ws_deflate_params p;
    ASSERT_EQ(nego("permessage-deflate", &p), 1);
    ASSERT_EQ(p.server_no_context_takeover, 0);
    ASSERT_EQ(p.client_no_context_takeover, 0);
    ASSERT_EQ(p.server_max_window_bits, 15);
    ASSERT_EQ(p.client_max_window_bits, 15);
    ASSERT_EQ(nego("permessage-deflate; client_max_window_bits", &p), 1);
    ASSERT_EQ(p.client_max_window_bits, 15);
    ASSERT_EQ(nego("permessage-deflate;server_no_context_takeover ; client_no_context_takeover;"
                   " server_max_window_bits=10; client_max_window_bits=\"9\"",
                   &p),
              1);
    ASSERT_EQ(p.server_no_context_takeover, 1);
    ASSERT_EQ(p.client_no_context_takeover, 1);
    ASSERT_EQ(p.server_max_window_bits, 10);
    ASSERT_EQ(p.client_max_window_bits, 9);
    ASSERT_EQ(nego("PerMessage-Deflate; server_max_window_bits=8", &p), 1);
    ASSERT_EQ(p.server_max_window_bits, 8);
    /* the first acceptable offer wins; unacceptable ones are skipped (§5.1) */
    ASSERT_EQ(nego("permessage-deflate; server_max_window_bits=7, "
                   "permessage-deflate; server_max_window_bits=12",
                   &p),
              1);
    ASSERT_EQ(p.server_max_window_bits, 12);
    ASSERT_EQ(nego("x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover", &p),
              1);
    ASSERT_EQ(p.client_no_context_takeover, 1);
}

TEST_PLAIN(rfc7692_7_1_unacceptable_offers_are_declined) {
    static const char *const declined[] = {
        "permessage-deflate; server_max_window_bits",    /* needs a value */
        "permessage-deflate; server_max_window_bits=16", /* out of range */
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010", /* leading zero */
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; server_no_context_takeover=1", /* no value allowed */
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
        "permessage-deflate; unknown_param",
        "x-webkit-deflate-frame",
        "",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        weft_ws_deflate_params p;
        if (nego(declined[i], &p) != 0) {
            test__fail(__FILE__, __LINE__, "accepted: %s", declined[i]);
            return;
        }
    }
}

TEST_PLAIN(rfc6455_9_1_extension_header_syntax_errors) {
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits=\"10",    /* unterminated quote */
        "permessage-deflate; server_max_window_bits=\"1 0\"", /* not a token inside */
        "permessage-deflate;",                                /* parameter missing */
        "permessage-deflate server_no_context_takeover",      /* no ';' */
        "; permessage-deflate",
        "permessage-deflate; a=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_ws_deflate_params p;
        if (nego(bad[i], &p) != WEFT_EPARSE) {
            test__fail(__FILE__, __LINE__, "not a syntax error: %s", bad[i]);
            return;
        }
    }
}

TEST_PLAIN(rfc7692_5_handshake_response_and_switch_off) {
    weft_ws_handshake hs;
    ASSERT_EQ(shake(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate; "
                              "client_max_window_bits; server_no_context_takeover\r\n",
                    NULL, &hs),
              101);
    ASSERT_EQ(hs.deflate, 1);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                          "server_no_context_takeover\r\n\r\n") != NULL);
    weft_buf_free(&b);
    /* window bits asked of the server are echoed */
    ASSERT_EQ(shake(GOOD_HEAD
                    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11\r\n",
                    NULL, &hs),
              101);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_deflate_format(&hs.params, &b), 0);
    ASSERT_STREQ(b.data, "permessage-deflate; server_max_window_bits=11");
    weft_buf_free(&b);
    /* switched off per server: the offer is ignored */
    weft_ws_server_opts o = {.no_deflate = 1};
    ASSERT_EQ(shake(GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n", &o, &hs), 101);
    ASSERT_EQ(hs.deflate, 0);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "Sec-WebSocket-Extensions") == NULL);
    weft_buf_free(&b);
}

/* RFC 7692 §7.1.1.1: a server may agree server_no_context_takeover that was
 * not offered. With deflate_server_no_context_takeover on, a browser's offer
 * (Chromium: "permessage-deflate; client_max_window_bits") is answered with
 * it; with the option off the answer is unchanged; an offer that already asks
 * for it is answered the same either way. The weft client, which did not ask,
 * accepts the answer and reads the parameter. */
TEST_PLAIN(rfc7692_7_1_1_1_server_adds_no_context_takeover) {
    static const char *const browser =
        GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    weft_ws_server_opts on = {.deflate_server_no_context_takeover = 1};
    weft_ws_handshake hs;
    weft_buf b;
    ASSERT_EQ(shake(browser, &on, &hs), 101);
    ASSERT_EQ(hs.deflate, 1);
    ASSERT_EQ(hs.params.server_no_context_takeover, 1);
    ASSERT_EQ(hs.params.client_no_context_takeover, 0);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                          "server_no_context_takeover\r\n\r\n") != NULL);
    weft_buf_free(&b);
    /* off (the default): the answer carries no parameter */
    weft_ws_server_opts off = {0};
    ASSERT_EQ(shake(browser, &off, &hs), 101);
    ASSERT_EQ(hs.params.server_no_context_takeover, 0);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n") != NULL);
    weft_buf_free(&b);
    /* asked for: the same answer with the option on or off */
    static const char *const asks = GOOD_HEAD "Sec-WebSocket-Extensions: permessage-deflate; "
                                              "server_no_context_takeover; server_max_window_bits=12\r\n";
    ASSERT_EQ(shake(asks, &on, &hs), 101);
    ASSERT_EQ(hs.params.server_no_context_takeover, 1);
    ASSERT_EQ(hs.params.server_max_window_bits, 12);
    ASSERT_EQ(shake(asks, &off, &hs), 101);
    ASSERT_EQ(hs.params.server_no_context_takeover, 1);
    /* no offer, or deflate switched off: nothing is added */
    ASSERT_EQ(shake(GOOD_HEAD, &on, &hs), 101);
    ASSERT_EQ(hs.deflate, 0);
    weft_ws_server_opts both = {.no_deflate = 1, .deflate_server_no_context_takeover = 1};
    ASSERT_EQ(shake(browser, &both, &hs), 101);
    ASSERT_EQ(hs.deflate, 0);
    ASSERT_EQ(hs.params.server_no_context_takeover, 0);

    /* the weft client offered deflate without the parameter and accepts it */
    weft_ws_client_opts co = {.deflate = 1};
    char key[25];
    weft_ws_client_key(key);
    weft_buf req;
    weft_buf_init(&req, 0);
    ASSERT_EQ(weft_ws_client_request(&req, "127.0.0.1:9001", "/", key, &co), 0);
    ASSERT(strstr(req.data, "server_no_context_takeover") == NULL);
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_EQ(weft_http_parse_request(req.data, req.len, &r, hdrs, 64, NULL, &st, &why),
              (int)req.len);
    ASSERT_EQ(weft_ws_server_handshake(&r, &on, &hs), 101);
    weft_buf_init(&b, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &b), 0);
    ASSERT(strstr(b.data, "server_no_context_takeover") != NULL);
    weft_ws_handshake ch;
    const char *reason = NULL;
    ASSERT_EQ(weft_ws_client_response(b.data, b.len, key, &co, &ch, &reason), (int)b.len);
    ASSERT_EQ(ch.deflate, 1);
    ASSERT_EQ(ch.params.server_no_context_takeover, 1);
    ASSERT_EQ(ch.params.client_no_context_takeover, 0);
    weft_buf_free(&b);
    weft_buf_free(&req);
}

/* ---- RFC 7692 §7.2 compressed messages ---------------------------------------- */

static const uint8_t KEY[4] = {1, 2, 3, 4};

/* Compresses msg with d and appends it to w as client frames (RSV1 on the
 * first), cut into `frags` fragments. */
static int put_compressed(weft_buf *w, weft_ws_deflater *d, int opcode, const void *msg, size_t n,
                          int frags) {
    weft_buf c;
    weft_buf_init(&c, 0);
    int rc = weft_ws_deflate(d, msg, n, &c);
    if (rc) return rc;
    size_t per = c.len / (size_t)frags + 1, off = 0;
    for (int i = 0; i < frags; i++) {
        size_t k = c.len - off < per ? c.len - off : per;
        int last = i == frags - 1;
        if (last) k = c.len - off;
        int flags = (last ? WEFT_WS_FIN : 0) | (i == 0 ? WEFT_WS_RSV1 : 0);
        rc = weft_ws_frame_append(w, flags, i == 0 ? opcode : WEFT_WS_CONT, c.data + off, k, KEY);
        if (rc) break;
        off += k;
    }
    weft_buf_free(&c);
    return rc;
}

/* Feeds w to rx in pieces of step; stores the messages' bytes in out[] and
 * returns the number of events, the last one in *last. */
static int rx_all(weft_ws_rx *rx, const weft_buf *w, size_t step, weft_buf *out, int nout,
                  weft_ws_event *last) {
    int nev = 0, nmsg = 0;
    size_t pos = 0;
    while (pos < w->len) {
        size_t k = w->len - pos < step ? w->len - pos : step, off = 0;
        while (off < k) {
            size_t used;
            int t = weft_ws_rx_feed(rx, w->data + pos + off, k - off, &used, last);
            off += used;
            if (t == WEFT_WS_EV_NONE) break;
            nev++;
            if (t == WEFT_WS_EV_MESSAGE && nmsg < nout) {
                weft_buf_init(&out[nmsg], 0);
                weft_buf_append(&out[nmsg], last->data.p, last->data.n);
                nmsg++;
            }
            if (t == WEFT_WS_EV_FAIL) return nev;
        }
        pos += k;
    }
    return nev;
}

TEST_PLAIN(rfc7692_7_2_compressed_messages_roundtrip_all_parameters) {
    static char text[20000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "the quick brown fox "[i % 20] ^ (char)(i / 997 % 2);
    for (int takeover = 0; takeover < 2; takeover++) {
        for (int bits = 8; bits <= 15; bits++) {
            weft_ws_deflate_params p = {takeover, takeover, bits, bits};
            weft_ws_deflater *d = weft_ws_deflater_new(&p, WEFT_WS_CLIENT);
            ASSERT(d != NULL);
            weft_buf w;
            weft_buf_init(&w, 0);
            /* an empty message after others: zlib then writes nothing at all */
            static const size_t sizes[] = {0, 1, 100, 20000, 0, 5};
            for (int m = 0; m < 6; m++)
                ASSERT_EQ(put_compressed(&w, d, m == 3 ? WEFT_WS_BINARY : WEFT_WS_TEXT, text,
                                         sizes[m], 1 + m % 3),
                          0);
            weft_ws_deflater_free(d);
            for (size_t step = 7; step <= w.len; step *= 13) {
                weft_ws_rx rx;
                weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
                ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
                weft_buf out[6];
                weft_ws_event last;
                ASSERT_EQ(rx_all(&rx, &w, step, out, 6, &last), 6);
                for (int m = 0; m < 6; m++) {
                    ASSERT_EQ(out[m].len, sizes[m]);
                    ASSERT_MEMEQ(out[m].data ? out[m].data : "", text, sizes[m]);
                    weft_buf_free(&out[m]);
                }
                weft_ws_rx_free(&rx);
            }
            weft_buf_free(&w);
        }
    }
}

/* Context takeover really carries the window: the second copy of a message
 * compresses to a few bytes; without takeover it costs as much as the first. */
TEST_PLAIN(rfc7692_7_2_3_context_takeover_shrinks_repeats) {
    static char msg[2000];
    test_fill_pattern((unsigned char *)msg, sizeof msg, 7);
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = 'a' + ((unsigned char)msg[i] % 26);
    size_t second[2];
    for (int nct = 0; nct < 2; nct++) {
        weft_ws_deflate_params p = {nct, nct, 15, 15};
        weft_ws_deflater *d = weft_ws_deflater_new(&p, WEFT_WS_SERVER);
        weft_buf a, b;
        weft_buf_init(&a, 0);
        weft_buf_init(&b, 0);
        ASSERT_EQ(weft_ws_deflate(d, msg, sizeof msg, &a), 0);
        ASSERT_EQ(weft_ws_deflate(d, msg, sizeof msg, &b), 0);
        second[nct] = b.len;
        if (nct) ASSERT_EQ(a.len, b.len);
        weft_buf_free(&a);
        weft_buf_free(&b);
        weft_ws_deflater_free(d);
    }
    ASSERT_LT(second[0] * 20, second[1]);
}

/* A zip bomb: 16 MiB of zeros compress to ~16 KiB; the receiver fails with 1009
 * once max_message bytes came out, holding no more than that. */
TEST_PLAIN(rfc7692_7_2_inflated_size_limit_zip_bomb_1009) {
    weft_ws_deflate_params p = {0, 0, 15, 15};
    weft_ws_deflater *d = weft_ws_deflater_new(&p, WEFT_WS_CLIENT);
    size_t n = 16u << 20;
    char *zeros = calloc(1, n);
    ASSERT(zeros != NULL);
    weft_buf w;
    weft_buf_init(&w, 0);
    ASSERT_EQ(put_compressed(&w, d, WEFT_WS_BINARY, zeros, n, 1), 0);
    free(zeros);
    weft_ws_deflater_free(d);
    ASSERT_LT(w.len, 50000);
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 1 << 20);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    weft_ws_event ev;
    size_t used;
    ASSERT_EQ(weft_ws_rx_feed(&rx, w.data, w.len, &used, &ev), WEFT_WS_EV_FAIL);
    ASSERT_EQ(ev.code, WEFT_WS_TOO_BIG);
    ASSERT_STREQ(ev.reason, "inflated message over the size limit");
    ASSERT_LE(rx.msg.cap, (1 << 20) + 2); /* never grew past the limit */
    weft_ws_rx_free(&rx);
    weft_buf_free(&w);
}

TEST_PLAIN(rfc7692_6_rsv1_rules) {
    weft_ws_deflate_params p = {0, 0, 15, 15};
    weft_buf w;
    weft_buf_init(&w, 0);
    /* RSV1 on a continuation frame */
    ASSERT_EQ(weft_ws_frame_append(&w, 0, WEFT_WS_TEXT, "a", 1, KEY), 0);
    ASSERT_EQ(weft_ws_frame_append(&w, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_CONT, "b", 1, KEY), 0);
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    weft_ws_event ev;
    ASSERT_EQ(rx_all(&rx, &w, w.len, NULL, 0, &ev), 1);
    ASSERT_EQ(ev.type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(ev.code, WEFT_WS_PROTOCOL_ERROR);
    ASSERT_STREQ(ev.reason, "RSV1 set on a continuation frame");
    weft_ws_rx_free(&rx);
    /* RSV1 on a ping */
    w.len = 0;
    ASSERT_EQ(weft_ws_frame_append(&w, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_PING, "p", 1, KEY), 0);
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    ASSERT_EQ(rx_all(&rx, &w, w.len, NULL, 0, &ev), 1);
    ASSERT_STREQ(ev.reason, "RSV1 set on a control frame");
    weft_ws_rx_free(&rx);
    /* garbage that is not DEFLATE */
    w.len = 0;
    ASSERT_EQ(
        weft_ws_frame_append(&w, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_TEXT, "\xff\xff\xff", 3, KEY),
        0);
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    ASSERT_EQ(rx_all(&rx, &w, w.len, NULL, 0, &ev), 1);
    ASSERT_EQ(ev.type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(ev.code, WEFT_WS_INVALID_DATA);
    weft_ws_rx_free(&rx);
    /* uncompressed messages still pass on a deflate connection (RSV1 clear) */
    w.len = 0;
    ASSERT_EQ(weft_ws_frame_append(&w, WEFT_WS_FIN, WEFT_WS_TEXT, "plain", 5, KEY), 0);
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    weft_buf out[1];
    ASSERT_EQ(rx_all(&rx, &w, w.len, out, 1, &ev), 1);
    ASSERT_EQ(ev.type, WEFT_WS_EV_MESSAGE);
    ASSERT_EQ(out[0].len, 5);
    weft_buf_free(&out[0]);
    weft_ws_rx_free(&rx);
    weft_buf_free(&w);
}

/* Invalid UTF-8 inside a compressed text message is 1007 too. */
TEST_PLAIN(rfc7692_8_1_compressed_text_utf8_checked) {
    weft_ws_deflate_params p = {0, 0, 15, 15};
    weft_ws_deflater *d = weft_ws_deflater_new(&p, WEFT_WS_CLIENT);
    weft_buf w;
    weft_buf_init(&w, 0);
    ASSERT_EQ(put_compressed(&w, d, WEFT_WS_TEXT, "ok \xED\xA0\x80 bad", 11, 2), 0);
    weft_ws_deflater_free(d);
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    weft_ws_event ev;
    ASSERT_EQ(rx_all(&rx, &w, 1, NULL, 0, &ev), 1);
    ASSERT_EQ(ev.type, WEFT_WS_EV_FAIL);
    ASSERT_EQ(ev.code, WEFT_WS_INVALID_DATA);
    weft_ws_rx_free(&rx);
    weft_buf_free(&w);
}

/* ---- §4.1 the client's side ---------------------------------------------------- */

TEST_PLAIN(rfc6455_4_1_client_key_is_random_16_bytes_base64) {
    char a[25], b[25];
    weft_ws_client_key(a);
    weft_ws_client_key(b);
    ASSERT_EQ(strlen(a), 24);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(a[22] == '=' && a[23] == '=');
}

/* Our client's request passes our server's checks, and our client accepts
 * our server's answer: subprotocol and deflate agreed on both sides. */
TEST_PLAIN(rfc6455_4_1_client_request_and_server_answer_roundtrip) {
    static const char *const offered[] = {"v1.chat", "v2.chat"};
    static const char *const ours[] = {"v2.chat"};
    weft_ws_client_opts co = {.subprotocols = offered,
                              .nsubprotocols = 2,
                              .deflate = 1,
                              .origin = "http://localhost",
                              .headers = "X-Trace: 1\r\n"};
    char key[25];
    weft_ws_client_key(key);
    weft_buf req;
    weft_buf_init(&req, 0);
    ASSERT_EQ(weft_ws_client_request(&req, "127.0.0.1:9001", "/chat?room=a", key, &co), 0);
    ASSERT(strstr(req.data, "GET /chat?room=a HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n") == req.data);
    ASSERT(strstr(req.data, "\r\nSec-WebSocket-Protocol: v1.chat, v2.chat\r\n") != NULL);
    ASSERT(strstr(req.data, "\r\nX-Trace: 1\r\n\r\n") != NULL);
    weft_http_request r;
    int st;
    const char *why;
    ASSERT_EQ(weft_http_parse_request(req.data, req.len, &r, hdrs, 64, NULL, &st, &why),
              (int)req.len);
    weft_ws_server_opts so = {.subprotocols = ours, .nsubprotocols = 1};
    weft_ws_handshake hs;
    ASSERT_EQ(weft_ws_server_handshake(&r, &so, &hs), 101);
    ASSERT_EQ(hs.deflate, 1);
    weft_buf resp;
    weft_buf_init(&resp, 0);
    ASSERT_EQ(weft_ws_handshake_response(&hs, &resp), 0);
    size_t head = resp.len;
    weft_buf_append(&resp, "\x81\x02hi", 4); /* a first frame right behind the head */
    weft_ws_handshake ch;
    const char *reason;
    for (size_t cut = 0; cut < head; cut++)
        ASSERT_ERR(weft_ws_client_response(resp.data, cut, key, &co, &ch, &reason), WEFT_EAGAIN);
    ASSERT_EQ(weft_ws_client_response(resp.data, resp.len, key, &co, &ch, &reason), (int)head);
    ASSERT(weft_str_eq(ch.subprotocol, WEFT_STR("v2.chat")));
    ASSERT_EQ(ch.deflate, 1);
    ASSERT_EQ(ch.params.server_max_window_bits, 15);
    weft_buf_free(&req);
    weft_buf_free(&resp);
}

TEST_PLAIN(rfc6455_4_1_client_refuses_bad_answers) {
    static const char *const offered[] = {"v1"};
    weft_ws_client_opts co = {.subprotocols = offered, .nsubprotocols = 1, .deflate = 1};
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
#define OK_HEAD "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
#define OK_ACCEPT "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    static const struct {
        const char *resp;
        const char *reason; /* NULL: accepted */
    } cases[] = {
        {OK_HEAD OK_ACCEPT "\r\n", NULL},
        {OK_HEAD OK_ACCEPT
         "Sec-WebSocket-Protocol: v1\r\n"
         "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; "
         "server_no_context_takeover\r\n\r\n",
         NULL},
        {"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
         "the server did not switch protocols (not 101)"},
        {"HTTP/1.0 101 Switching Protocols\r\n\r\n", "malformed status line"},
        {OK_HEAD "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
         "Sec-WebSocket-Accept does not match the key"},
        {OK_HEAD "\r\n", "missing or repeated Sec-WebSocket-Accept"},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" OK_ACCEPT "\r\n",
         "missing Upgrade: websocket in the response"},
        {OK_HEAD OK_ACCEPT "Sec-WebSocket-Protocol: v2\r\n\r\n",
         "the server chose a subprotocol we did not offer"},
        {OK_HEAD OK_ACCEPT "Sec-WebSocket-Extensions: x-other\r\n\r\n",
         "the server answered with an extension we cannot use"},
        {OK_HEAD OK_ACCEPT
         "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
         "the server answered with an extension we cannot use"},
        {OK_HEAD OK_ACCEPT
         "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n",
         "the server answered with an extension we cannot use"},
        {OK_HEAD OK_ACCEPT "Bad Header\r\n\r\n", "malformed header line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_ws_handshake hs;
        const char *reason;
        int rc =
            weft_ws_client_response(cases[i].resp, strlen(cases[i].resp), key, &co, &hs, &reason);
        if (cases[i].reason == NULL) {
            if (rc != (int)strlen(cases[i].resp)) {
                test__fail(__FILE__, __LINE__, "case %zu refused: %s", i, reason ? reason : "?");
                return;
            }
        } else if (rc != WEFT_EPARSE || !reason || strcmp(reason, cases[i].reason) != 0) {
            test__fail(__FILE__, __LINE__, "case %zu: %d \"%s\", wanted \"%s\"", i, rc,
                       reason ? reason : "(null)", cases[i].reason);
            return;
        }
    }
    /* an extension the client did not offer */
    weft_ws_client_opts plain = {0};
    weft_ws_handshake hs;
    const char *reason;
    const char *r = OK_HEAD OK_ACCEPT "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    ASSERT_ERR(weft_ws_client_response(r, strlen(r), key, &plain, &hs, &reason), WEFT_EPARSE);
    /* a head that never ends */
    static char big[20000];
    memset(big, 'a', sizeof big);
    ASSERT_ERR(weft_ws_client_response(big, sizeof big, key, &co, &hs, &reason), WEFT_EPARSE);
    ASSERT_STREQ(reason, "response head over 16 KiB");
    ASSERT_ERR(weft_ws_client_response(big, 100, key, &co, &hs, &reason), WEFT_EAGAIN);
}

/* RFC 7692 §7.2.3.6: an empty message is sent as 0x00, never as nothing; a
 * peer that sends nothing (no payload, RSV1) still gets an empty message and
 * the next compressed message reads right. */
TEST_PLAIN(rfc7692_7_2_3_6_empty_compressed_messages) {
    weft_ws_deflate_params p = {0, 0, 15, 15};
    weft_ws_deflater *d = weft_ws_deflater_new(&p, WEFT_WS_CLIENT);
    weft_buf z;
    weft_buf_init(&z, 0);
    ASSERT_EQ(weft_ws_deflate(d, "abc", 3, &z), 0);
    z.len = 0;
    ASSERT_EQ(weft_ws_deflate(d, "", 0, &z), 0); /* right after a flush */
    ASSERT_EQ(z.len, 1);
    ASSERT_EQ((uint8_t)z.data[0], 0x00);
    weft_buf_free(&z);
    weft_ws_deflater_free(d);
    /* a sender's empty payload, then a real compressed message */
    d = weft_ws_deflater_new(&p, WEFT_WS_CLIENT);
    weft_buf w;
    weft_buf_init(&w, 0);
    ASSERT_EQ(put_compressed(&w, d, WEFT_WS_TEXT, "first", 5, 1), 0);
    ASSERT_EQ(weft_ws_frame_append(&w, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_TEXT, "", 0, KEY), 0);
    ASSERT_EQ(put_compressed(&w, d, WEFT_WS_TEXT, "third", 5, 1), 0);
    weft_ws_deflater_free(d);
    weft_ws_rx rx;
    weft_ws_rx_init(&rx, WEFT_WS_SERVER, 0);
    ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &p), 0);
    weft_buf out[3];
    weft_ws_event ev;
    ASSERT_EQ(rx_all(&rx, &w, 1, out, 3, &ev), 3);
    ASSERT_EQ(out[0].len, 5);
    ASSERT_EQ(out[1].len, 0);
    ASSERT_EQ(out[2].len, 5);
    ASSERT_MEMEQ(out[2].data, "third", 5);
    for (int i = 0; i < 3; i++) weft_buf_free(&out[i]);
    weft_ws_rx_free(&rx);
    weft_buf_free(&w);
}
