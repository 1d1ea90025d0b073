/*
 * src/http/ws_upgrade.c — the WebSocket upgrade from an ordinary route
 * handler: the pure handshake (ws_handshake.c) decides, the HTTP server's
 * hand-over (weft_http_hand_over) writes the 101 and gives up the socket, and
 * the connection (ws_conn.c) takes it.
 *
 * The connection object is made before the hand-over and given to the server
 * as the shutdown notification's argument: if a graceful shutdown is already
 * under way the server calls it during the hand-over, before there is a
 * socket, and the 1001 close is then queued the moment the socket arrives.
 * The server may call the notification until the handler has returned, so
 * the upgrade holds a reference of its own, dropped by a weft_defer() cleanup
 * when the connection's task ends (after the server has forgotten it).
 */
#include <string.h>

#include "ws_int.h"

static void going_away(void *ud) { weft__ws_going_away(ud); }

weft_ws *weft_ws_upgrade(weft_http_ctx *c, const weft_ws_server_opts *opts,
                         const weft_ws_config *cfg, int *err) {
    int e = 0;
    if (!err) err = &e;
    weft_ws_handshake hs;
    int st = weft_ws_server_handshake(weft_http_request_head(c), opts, &hs);
    if (st != 101) {
        if (st == 426) weft_http_add_header(c, "Sec-WebSocket-Version", "13");
        weft_http_text(c, st, hs.reason);
        *err = WEFT_EPARSE;
        return NULL;
    }
    weft_ws *ws = weft__ws_new(WEFT_WS_SERVER, hs.deflate ? &hs.params : NULL, cfg);
    if (!ws) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft__ws_set_subprotocol(ws, hs.subprotocol);
    /* the server's reference, for its shutdown notification */
    weft__ws_ref(ws);
    if (weft_defer(weft__ws_unref, ws)) {
        weft__ws_unref(ws);
        weft__ws_unref(ws);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft_buf head;
    weft_buf_init(&head, 0);
    if (weft_ws_handshake_response(&hs, &head)) {
        weft_ws_free(ws);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft_http_handover h = {
        .head = head.data, .head_len = head.len, .on_shutdown = going_away, .ud = ws};
    int rc = weft_http_hand_over(c, &h);
    weft_buf_free(&head);
    if (rc < 0) {
        weft_ws_free(ws);
        *err = rc;
        return NULL;
    }
    rc = weft__ws_attach(ws, h.fd, h.leftover.data, h.leftover.len);
    weft_buf_free(&h.leftover);
    if (rc) {
        weft_close(h.fd);
        weft_ws_free(ws);
        *err = rc;
        return NULL;
    }
    return ws;
}
