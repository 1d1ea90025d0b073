/*
 * fuzz/ws_handshake.c — libFuzzer target for the WebSocket opening handshake
 * (weft_ws_server_handshake) and the Sec-WebSocket-Extensions parser
 * (weft_ws_deflate_negotiate).
 *
 * The input is used twice: as a request head (parsed by the HTTP parser, then
 * judged by the handshake: the status must be one of 101/400/403/426, a
 * refusal must carry a reason, a 101 must produce a response head that ends
 * its header section exactly once), and as an extension header value (the
 * result must be 1, 0 or WEFT_EPARSE; agreed parameters must be in range and
 * survive a round trip through weft_ws_deflate_format), and as a server's
 * answer to the client (weft_ws_client_response: a head length within the
 * input, WEFT_EAGAIN, or WEFT_EPARSE with a reason), and as a ws:// URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/ws.h"

static int odd_origin(weft_str origin, void *ud) {
    (void)ud;
    return origin.n % 2 == 1;
}

static void check_params(const weft_ws_deflate_params *p) {
    if (p->server_max_window_bits < 8 || p->server_max_window_bits > 15) abort();
    if (p->client_max_window_bits < 8 || p->client_max_window_bits > 15) abort();
    if ((p->server_no_context_takeover | p->client_no_context_takeover) & ~1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    weft_http_header hdrs[100];
    weft_http_request req;
    int st;
    const char *why;
    if (weft_http_parse_request(buf, size, &req, hdrs, 100, NULL, &st, &why) > 0) {
        static const char *const subs[] = {"chat", "v2"};
        weft_ws_server_opts o = {.subprotocols = subs,
                                 .nsubprotocols = 2,
                                 .check_origin = size % 3 ? odd_origin : NULL,
                                 .no_deflate = size % 5 == 0};
        weft_ws_handshake hs;
        int s = weft_ws_server_handshake(&req, &o, &hs);
        if (s != hs.status) abort();
        if (s == 101) {
            if (strlen(hs.accept) != 28) abort();
            if (hs.deflate) check_params(&hs.params);
            weft_buf out;
            weft_buf_init(&out, 0);
            if (weft_ws_handshake_response(&hs, &out)) abort();
            char *end = strstr(out.data, "\r\n\r\n");
            if (!end || (size_t)(end - out.data) + 4 != out.len) abort();
            weft_buf_free(&out);
        } else {
            if (s != 400 && s != 403 && s != 426) abort();
            if (!hs.reason || !*hs.reason) abort();
        }
    }

    weft_ws_deflate_params p;
    int rc = weft_ws_deflate_negotiate((weft_str){buf, size}, &p);
    if (rc != 0 && rc != 1 && rc != WEFT_EPARSE) abort();
    if (rc == 1) {
        check_params(&p);
        weft_buf f;
        weft_buf_init(&f, 0);
        if (weft_ws_deflate_format(&p, &f)) abort();
        weft_ws_deflate_params q;
        if (weft_ws_deflate_negotiate((weft_str){f.data, f.len}, &q) != 1) abort();
        if (q.server_no_context_takeover != p.server_no_context_takeover ||
            q.client_no_context_takeover != p.client_no_context_takeover ||
            q.server_max_window_bits != p.server_max_window_bits)
            abort();
        weft_buf_free(&f);
    }

    /* the input as a server's answer to our request with the RFC's example key */
    static const char *const offered[] = {"chat", "v2"};
    weft_ws_client_opts co = {.subprotocols = offered, .nsubprotocols = 2, .deflate = size % 2};
    weft_ws_handshake ch;
    const char *reason = NULL;
    rc = weft_ws_client_response(buf, size, "dGhlIHNhbXBsZSBub25jZQ==", &co, &ch, &reason);
    if (rc > 0) {
        if ((size_t)rc > size || ch.status != 101) abort();
        if (ch.deflate) check_params(&ch.params);
        if (ch.deflate && !co.deflate) abort();
    } else if (rc == WEFT_EPARSE) {
        if (!reason || !*reason) abort();
    } else if (rc != WEFT_EAGAIN) {
        abort();
    }

    /* the input as a ws:// URL */
    weft_ws_url u;
    rc = weft_ws_url_parse(buf, size, &u);
    if (rc == 0) {
        if (!u.host.n || u.port < 1 || u.port > 65535 || !u.target.n) abort();
        if (u.target.p[0] != '/' && u.target.p[0] != '?') abort();
        if (u.host.p < buf || u.host.p + u.host.n > buf + size) abort();
        if (memchr(u.host.p, '/', u.host.n) || memchr(u.target.p, '#', u.target.n)) abort();
    } else if (rc != WEFT_EINVAL && rc != WEFT_ENOTSUP) {
        abort();
    }
    free(buf);
    return 0;
}
