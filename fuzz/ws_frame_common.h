/*
 * fuzz/ws_frame_common.h — the body of the two frame-receiver fuzz targets
 * (ws_frame_server.c, ws_frame_client.c), which differ only in the role.
 *
 * The first input byte picks the settings (message limit, permessage-deflate
 * on or off with or without context takeover); the rest is the peer's byte
 * stream. It is fed whole, in pieces cut where the data says, and one byte at
 * a time: the three must give the same events (the receiver is a state
 * machine, the split must not matter). Per event: a message stays within the
 * limit and, if text, is valid UTF-8; pings and pongs are <= 125 bytes; a
 * close has a valid code (or 1005) and a UTF-8 reason; a failure carries one
 * of the close codes the receiver may send and a reason. Nothing is consumed
 * beyond what was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/ws.h"

#define MAX_EVENTS 4096

typedef struct outcome {
    int n;
    struct {
        int type, opcode, code;
        size_t len;
        uint64_t sum; /* FNV-1a of the data */
    } ev[MAX_EVENTS];
} outcome;

static uint64_t fnv(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static void check_event(const weft_ws_event *ev, size_t max) {
    switch (ev->type) {
    case WEFT_WS_EV_MESSAGE:
        if (ev->data.n > max) abort();
        if (ev->opcode == WEFT_WS_TEXT) {
            if (!weft_utf8_valid(ev->data.p, ev->data.n)) abort();
        } else if (ev->opcode != WEFT_WS_BINARY) {
            abort();
        }
        break;
    case WEFT_WS_EV_PING:
    case WEFT_WS_EV_PONG:
        if (ev->data.n > WEFT_WS_CONTROL_MAX) abort();
        break;
    case WEFT_WS_EV_CLOSE:
        if (ev->code != WEFT_WS_NO_STATUS && !weft_ws_close_code_valid(ev->code)) abort();
        if (ev->code == WEFT_WS_NO_STATUS && ev->data.n) abort();
        if (!weft_utf8_valid(ev->data.p, ev->data.n)) abort();
        break;
    case WEFT_WS_EV_FAIL:
        if (ev->code != 1002 && ev->code != 1007 && ev->code != 1009 && ev->code != 1011) abort();
        if (!ev->reason || !*ev->reason) abort();
        break;
    default:
        abort();
    }
}

static void setup(weft_ws_rx *rx, int role, uint8_t cfg, size_t *max) {
    static const size_t maxes[] = {16, 200, 4096, 0};
    size_t m = maxes[cfg & 3];
    weft_ws_rx_init(rx, role, m);
    *max = rx->max_message;
    if (cfg & 4) {
        weft_ws_deflate_params p = {(cfg >> 3) & 1, (cfg >> 4) & 1, 15, 15};
        if (weft_ws_rx_enable_deflate(rx, &p)) abort();
    }
}

static void feed(int role, uint8_t cfg, const uint8_t *data, size_t size, size_t first, size_t step,
                 outcome *o) {
    weft_ws_rx rx;
    size_t max;
    setup(&rx, role, cfg, &max);
    o->n = 0;
    size_t pos = 0, piece = first;
    while (pos < size) {
        size_t k = size - pos < piece ? size - pos : piece;
        uint8_t *tmp = malloc(k);
        memcpy(tmp, data + pos, k);
        size_t off = 0;
        while (off < k) {
            weft_ws_event ev;
            size_t used = (size_t)-1;
            int t = weft_ws_rx_feed(&rx, tmp + off, k - off, &used, &ev);
            if (used > k - off || t != ev.type) abort();
            off += used;
            if (t == WEFT_WS_EV_NONE) {
                if (off != k) abort();
                break;
            }
            check_event(&ev, max);
            if (o->n < MAX_EVENTS) {
                o->ev[o->n].type = t;
                o->ev[o->n].opcode = ev.opcode;
                o->ev[o->n].code = ev.code;
                o->ev[o->n].len = ev.data.n;
                o->ev[o->n].sum = fnv(ev.data.p, ev.data.n);
                o->n++;
            }
        }
        free(tmp);
        pos += k;
        piece = step;
    }
    weft_ws_rx_free(&rx);
}

static void same(const outcome *a, const outcome *b) {
    if (a->n != b->n) abort();
    for (int i = 0; i < a->n; i++)
        if (a->ev[i].type != b->ev[i].type || a->ev[i].opcode != b->ev[i].opcode ||
            a->ev[i].code != b->ev[i].code || a->ev[i].len != b->ev[i].len ||
            a->ev[i].sum != b->ev[i].sum)
            abort();
}

static int fuzz_rx(int role, const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16) return 0;
    uint8_t cfg = data[0];
    data++, size--;
    static outcome whole, two, one;
    feed(role, cfg, data, size, size ? size : 1, size ? size : 1, &whole);
    size_t cut = size ? (size_t)cfg * 131 % (size + 1) : 0;
    feed(role, cfg, data, size, cut ? cut : 1, size ? size : 1, &two);
    same(&whole, &two);
    if (size <= 4096) {
        feed(role, cfg, data, size, 1, 1, &one);
        same(&whole, &one);
    }
    return 0;
}
