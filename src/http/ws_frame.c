/*
 * src/http/ws_frame.c — the WebSocket frame codec (RFC 6455 §5) and the
 * receiver that turns a peer's bytes into messages and control events.
 *
 * The receiver is a two-state machine (a frame head being collected, then its
 * payload) fed with whatever a read returned, so frames may be split at any
 * byte. Every rule is checked as early as the bytes allow: a head is judged
 * before any of its payload is taken (a reserved opcode, a 64-bit length with
 * the top bit set, a frame that would push the message past max_message), and
 * text is validated as each piece of payload arrives, so a bad byte ends the
 * connection where it is (Autobahn 6.4 "fail fast"), not after the message.
 *
 * Data payload is unmasked straight into the message buffer (one copy in all);
 * control payload (<= 125 bytes) goes into a small array inside the receiver,
 * so a ping between two fragments does not disturb the message being built.
 * Compressed messages go through the inflater in pieces; the size limit then
 * applies to the inflated bytes, so a small frame that inflates to gigabytes
 * fails with 1009 once max_message bytes came out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_int.h"

enum { ST_HEAD, ST_PAYLOAD, ST_DONE };
enum { DEF_MAX_MESSAGE = 1 << 20 };

int weft_ws_close_code_valid(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* ---- frame heads ---------------------------------------------------------- */

int weft_ws_frame_parse(const void *buf, size_t n, weft_ws_frame *f) {
    const uint8_t *b = buf;
    if (n < 2) return WEFT_EAGAIN;
    f->fin = b[0] >> 7;
    f->rsv = (b[0] >> 4) & 7;
    f->opcode = b[0] & 0x0F;
    f->masked = b[1] >> 7;
    unsigned len7 = b[1] & 0x7F;
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (f->masked ? 4 : 0);
    if (n < need) return WEFT_EAGAIN;
    size_t i = 2;
    if (len7 < 126) {
        f->len = len7;
    } else if (len7 == 126) {
        f->len = (uint64_t)b[2] << 8 | b[3];
        i = 4;
    } else {
        f->len = 0;
        for (i = 2; i < 10; i++) f->len = f->len << 8 | b[i];
    }
    if (f->masked)
        memcpy(f->mask, b + i, 4);
    else
        memset(f->mask, 0, 4);
    f->head_len = need;
    if (f->len >> 63) return WEFT_EPARSE;
    return (int)need;
}

size_t weft_ws_frame_head(uint8_t *out, int flags, int opcode, uint64_t len, const uint8_t *mask) {
    size_t i = 2;
    out[0] = (uint8_t)((flags & (WEFT_WS_FIN | WEFT_WS_RSV1)) | (opcode & 0x0F));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[1] = m | (uint8_t)len;
    } else if (len <= 0xFFFF) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        i = 4;
    } else {
        out[1] = m | 127;
        for (int k = 0; k < 8; k++) out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
        i = 10;
    }
    if (mask) {
        memcpy(out + i, mask, 4);
        i += 4;
    }
    return i;
}

void weft_ws_mask(void *p, size_t n, const uint8_t mask[4], uint64_t offset) {
    uint8_t *s = p;
    uint8_t k[8];
    /* the key rotated to this offset, twice over, for 8-byte steps */
    for (int j = 0; j < 8; j++) k[j] = mask[(offset + (uint64_t)j) & 3];
    size_t i = 0;
    if (n >= 16) {
        uint64_t kw;
        memcpy(&kw, k, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            w ^= kw;
            memcpy(s + i, &w, 8);
        }
    }
    for (; i < n; i++) s[i] ^= k[i & 7];
}

static int is_control(int op) { return op >= 8; }
static int is_known(int op) { return op <= 2 || (op >= 8 && op <= 10); }

int weft_ws_frame_append(weft_buf *out, int flags, int opcode, const void *p, size_t n,
                         const uint8_t *mask) {
    if (!is_known(opcode)) return WEFT_EINVAL;
    if (is_control(opcode) && (n > WEFT_WS_CONTROL_MAX || !(flags & WEFT_WS_FIN)))
        return WEFT_EINVAL;
    uint8_t head[WEFT_WS_HEAD_MAX];
    size_t h = weft_ws_frame_head(head, flags, opcode, n, mask);
    int rc = weft_buf_reserve(out, h + n);
    if (rc) return rc;
    memcpy(out->data + out->len, head, h);
    if (n) memcpy(out->data + out->len + h, p, n);
    if (mask) weft_ws_mask(out->data + out->len + h, n, mask, 0);
    out->len += h + n;
    out->data[out->len] = '\0';
    return 0;
}

size_t weft_ws_close_payload(uint8_t *out, int code, const char *reason, size_t reason_len) {
    if (code <= 0 || code == WEFT_WS_NO_STATUS) return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? reason_len : 0;
    if (n > WEFT_WS_CONTROL_MAX - 2) {
        n = WEFT_WS_CONTROL_MAX - 2;
        /* back off continuation bytes so the cut falls on a character start */
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(out + 2, reason, n);
    return 2 + n;
}

/* ---- the receiver --------------------------------------------------------- */

void weft_ws_rx_init(weft_ws_rx *rx, int role, size_t max_message) {
    memset(rx, 0, sizeof *rx);
    rx->role = role;
    rx->max_message = max_message ? max_message : DEF_MAX_MESSAGE;
    rx->state = ST_HEAD;
    weft_buf_init(&rx->msg, 0);
    weft_utf8_init(&rx->utf8);
}

int weft_ws_rx_enable_deflate(weft_ws_rx *rx, const weft_ws_deflate_params *p) {
    if (rx->inflater) return 0;
    rx->inflater = weft__ws_inflater_new(p, rx->role);
    return rx->inflater ? 0 : WEFT_ENOMEM;
}

void weft_ws_rx_take(weft_ws_rx *rx, weft_buf *out) {
    *out = rx->msg;
    out->max = 0; /* the receiver's cap is not the caller's */
    weft_buf_init(&rx->msg, 0);
}

void weft_ws_rx_free(weft_ws_rx *rx) {
    weft_buf_free(&rx->msg);
    if (rx->inflater) weft__ws_inflater_free(rx->inflater);
    rx->inflater = NULL;
    rx->state = ST_DONE;
}

static int fail(weft_ws_rx *rx, weft_ws_event *ev, int code, const char *why) {
    rx->state = ST_DONE;
    rx->failed = 1;
    ev->type = WEFT_WS_EV_FAIL;
    ev->code = code;
    ev->reason = why;
    return WEFT_WS_EV_FAIL;
}

/* The rules a head can be judged by alone (§5.2, §5.4, §5.5, RFC 7692 §6).
 * Returns WEFT_WS_EV_NONE, or FAIL with ev filled. */
static int check_head(weft_ws_rx *rx, weft_ws_event *ev) {
    const weft_ws_frame *f = &rx->f;
    if (f->rsv & 3)
        return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "RSV2/RSV3 set: no extension uses them");
    if (!is_known(f->opcode)) return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "reserved opcode");
    if (rx->role == WEFT_WS_SERVER && !f->masked)
        return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "client frame not masked");
    if (rx->role == WEFT_WS_CLIENT && f->masked)
        return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "server frame masked");
    if (f->rsv & 4) {
        if (!rx->inflater)
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "RSV1 set without permessage-deflate");
        if (is_control(f->opcode))
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "RSV1 set on a control frame");
        if (f->opcode == WEFT_WS_CONT)
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "RSV1 set on a continuation frame");
    }
    if (is_control(f->opcode)) {
        if (!f->fin) return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "fragmented control frame");
        if (f->len > WEFT_WS_CONTROL_MAX)
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "control frame payload over 125 bytes");
        return WEFT_WS_EV_NONE;
    }
    if (f->opcode == WEFT_WS_CONT) {
        if (!rx->msg_op)
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR,
                        "continuation frame without a message to continue");
    } else {
        if (rx->msg_op)
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR,
                        "new data frame inside a fragmented message");
        rx->msg_op = f->opcode;
        rx->msg_deflated = (f->rsv & 4) != 0;
        rx->zin = 0;
        /* a big message's buffer is not kept for the next one */
        if (rx->msg.cap > 65536) weft_buf_free(&rx->msg);
        rx->msg.len = 0;
        /* capacity never passes the limit (plus the inflater's one byte of proof) */
        rx->msg.max = rx->max_message + 1;
        weft_utf8_init(&rx->utf8);
    }
    /* compressed: the limit applies to what comes out of the inflater */
    if (!rx->msg_deflated && f->len > rx->max_message - rx->msg.len)
        return fail(rx, ev, WEFT_WS_TOO_BIG, "message over the size limit");
    return WEFT_WS_EV_NONE;
}

/* Validates the text bytes appended at msg[from..len). */
static int check_text(weft_ws_rx *rx, size_t from, weft_ws_event *ev) {
    if (rx->msg_op != WEFT_WS_TEXT) return WEFT_WS_EV_NONE;
    size_t n = rx->msg.len - from;
    if (weft_utf8_feed(&rx->utf8, rx->msg.data + from, n) != n)
        return fail(rx, ev, WEFT_WS_INVALID_DATA, "invalid UTF-8 in a text message");
    return WEFT_WS_EV_NONE;
}

static int inflate_piece(weft_ws_rx *rx, const uint8_t *p, size_t n, int fin, weft_ws_event *ev) {
    uint8_t tmp[4096];
    do {
        size_t k = n < sizeof tmp ? n : sizeof tmp;
        memcpy(tmp, p, k);
        if (rx->f.masked) weft_ws_mask(tmp, k, rx->f.mask, rx->got);
        p += k, n -= k, rx->got += k;
        size_t from = rx->msg.len;
        int rc = weft__ws_inflate(rx->inflater, tmp, k, fin && n == 0, &rx->msg, rx->max_message);
        /* what came out is checked before the inflater's verdict, so the first
         * problem in byte order wins however the payload was cut */
        if (check_text(rx, from, ev)) return WEFT_WS_EV_FAIL;
        if (rc == WEFT_ELIMIT)
            return fail(rx, ev, WEFT_WS_TOO_BIG, "inflated message over the size limit");
        if (rc == WEFT_EPARSE) return fail(rx, ev, WEFT_WS_INVALID_DATA, "invalid DEFLATE data");
        if (rc) return fail(rx, ev, WEFT_WS_INTERNAL, "out of memory");
    } while (n);
    return WEFT_WS_EV_NONE;
}

/* A piece of data payload: unmask into the message (or through the inflater). */
static int data_piece(weft_ws_rx *rx, const uint8_t *p, size_t n, weft_ws_event *ev) {
    if (rx->msg_deflated) {
        int last = rx->f.fin && rx->got + n == rx->f.len;
        if (n == 0 && !last) return WEFT_WS_EV_NONE;
        rx->zin += n;
        /* a compressed message with no payload at all (some senders make one
         * for an empty message instead of RFC 7692's 0x00): it is empty, and
         * the 00 00 FF FF tail alone must not reach the inflater, where it
         * would begin a stored block that swallows the next message */
        if (last && rx->zin == 0) return WEFT_WS_EV_NONE;
        return inflate_piece(rx, p, n, last, ev);
    }
    if (n == 0) return WEFT_WS_EV_NONE;
    if (weft_buf_reserve(&rx->msg, n)) return fail(rx, ev, WEFT_WS_INTERNAL, "out of memory");
    size_t from = rx->msg.len;
    memcpy(rx->msg.data + from, p, n);
    if (rx->f.masked) weft_ws_mask(rx->msg.data + from, n, rx->f.mask, rx->got);
    rx->msg.len += n;
    rx->msg.data[rx->msg.len] = '\0';
    rx->got += n;
    return check_text(rx, from, ev);
}

/* The whole frame is in: controls come out, a FIN ends the message. */
static int finish_frame(weft_ws_rx *rx, weft_ws_event *ev) {
    const weft_ws_frame *f = &rx->f;
    rx->state = ST_HEAD;
    rx->head_have = 0;
    if (!is_control(f->opcode)) {
        if (!f->fin) return WEFT_WS_EV_NONE;
        if (rx->msg_op == WEFT_WS_TEXT && !weft_utf8_done(&rx->utf8))
            return fail(rx, ev, WEFT_WS_INVALID_DATA, "text message ends inside a UTF-8 sequence");
        ev->type = WEFT_WS_EV_MESSAGE;
        ev->opcode = rx->msg_op;
        ev->data = (weft_str){rx->msg.data ? rx->msg.data : "", rx->msg.len};
        rx->msg_op = 0;
        return WEFT_WS_EV_MESSAGE;
    }
    weft_str pl = {(const char *)rx->ctl, (size_t)f->len};
    if (f->opcode == WEFT_WS_PING || f->opcode == WEFT_WS_PONG) {
        ev->type = f->opcode == WEFT_WS_PING ? WEFT_WS_EV_PING : WEFT_WS_EV_PONG;
        ev->data = pl;
        return ev->type;
    }
    /* close (§5.5.1, §7.4) */
    if (f->len == 1)
        return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "close frame with a 1-byte payload");
    int code = WEFT_WS_NO_STATUS;
    weft_str why = {(const char *)rx->ctl, 0};
    if (f->len >= 2) {
        code = rx->ctl[0] << 8 | rx->ctl[1];
        if (!weft_ws_close_code_valid(code))
            return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR, "invalid close code");
        why = (weft_str){(const char *)rx->ctl + 2, (size_t)f->len - 2};
        if (!weft_utf8_valid(why.p, why.n))
            return fail(rx, ev, WEFT_WS_INVALID_DATA, "close reason is not UTF-8");
    }
    rx->state = ST_DONE;
    ev->type = WEFT_WS_EV_CLOSE;
    ev->code = code;
    ev->data = why;
    return WEFT_WS_EV_CLOSE;
}

/* Bytes of a head given its first two bytes. */
static size_t head_size(const uint8_t *h) {
    unsigned len7 = h[1] & 0x7F;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

int weft_ws_rx_feed(weft_ws_rx *rx, const void *buf, size_t n, size_t *consumed,
                    weft_ws_event *ev) {
    const uint8_t *b = buf;
    size_t pos = 0;
    memset(ev, 0, sizeof *ev);
    if (rx->state == ST_DONE) {
        *consumed = n;
        return WEFT_WS_EV_NONE;
    }
    for (;;) {
        if (rx->state == ST_HEAD) {
            size_t need = rx->head_have < 2 ? 2 : head_size(rx->head);
            while (rx->head_have < need) {
                if (pos == n) {
                    *consumed = n;
                    return WEFT_WS_EV_NONE;
                }
                size_t k = need - rx->head_have;
                if (k > n - pos) k = n - pos;
                memcpy(rx->head + rx->head_have, b + pos, k);
                rx->head_have += k, pos += k;
                if (rx->head_have >= 2) need = head_size(rx->head);
            }
            int rc = weft_ws_frame_parse(rx->head, rx->head_have, &rx->f);
            *consumed = pos;
            if (rc == WEFT_EPARSE)
                return fail(rx, ev, WEFT_WS_PROTOCOL_ERROR,
                            "64-bit payload length with the top bit set");
            if (check_head(rx, ev)) return WEFT_WS_EV_FAIL;
            rx->got = 0;
            rx->state = ST_PAYLOAD;
        }
        /* ST_PAYLOAD */
        uint64_t left = rx->f.len - rx->got;
        size_t k = left < n - pos ? (size_t)left : n - pos;
        if (is_control(rx->f.opcode)) {
            memcpy(rx->ctl + rx->got, b + pos, k);
            if (rx->f.masked) weft_ws_mask(rx->ctl + rx->got, k, rx->f.mask, rx->got);
            rx->got += k;
        } else if (data_piece(rx, b + pos, k, ev)) {
            *consumed = pos + k;
            return WEFT_WS_EV_FAIL;
        }
        pos += k;
        if (rx->got < rx->f.len) {
            *consumed = n;
            return WEFT_WS_EV_NONE;
        }
        int t = finish_frame(rx, ev);
        if (t != WEFT_WS_EV_NONE) {
            *consumed = pos;
            return t;
        }
        if (pos == n) {
            *consumed = n;
            return WEFT_WS_EV_NONE;
        }
    }
}
