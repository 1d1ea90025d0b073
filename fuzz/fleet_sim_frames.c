/*
 * fuzz/fleet_sim_frames.c — libFuzzer target for the light viewers' frame
 * reader (apps/fleet-sim/watch.c, watch_frames_feed), fed any bytes a live
 * socket might carry after the handshake.
 *
 * Checks more than "does not crash": the reader never takes more than it is
 * given; it gives the same events (type, length, close code, ping payload,
 * reason) whether the bytes come at once, one at a time or in pieces of a
 * size the input picks; after a close or a failure it takes nothing more;
 * a message's length is never more than the bytes read. Every input is read
 * twice: as a connection without extensions, and as one with
 * permessage-deflate agreed (RSV1 marks a compressed message, counted not
 * inflated); a compressed message only ever comes from the second.
 */
#include <stdlib.h>
#include <string.h>

/* the viewers, their histogram and the fleet app's time parser, compiled
 * into this target (the Makefile adds -Iapps/fleet for isotime.h) */
#include "../apps/fleet-sim/watch.c"
#include "../apps/fleet-sim/hist.c"
#include "../apps/fleet/isotime.c"

enum { MAX_EV = 64 };

typedef struct trace {
    int n, ended;
    size_t taken;
    int type[MAX_EV], code[MAX_EV], deflated[MAX_EV];
    uint64_t len[MAX_EV];
    size_t dn[MAX_EV];
    uint8_t data[MAX_EV][WEFT_WS_CONTROL_MAX];
    const char *why[MAX_EV];
} trace;

static void run(const uint8_t *p, size_t size, size_t piece, int deflate, trace *t) {
    watch_frames fr;
    watch_frames_init(&fr);
    fr.deflate = deflate;
    memset(t, 0, sizeof *t);
    size_t i = 0;
    while (i < size && !t->ended) {
        size_t m = piece && size - i > piece ? piece : size - i, off = 0;
        while (off < m && !t->ended) {
            watch_frame_ev ev;
            size_t k = watch_frames_feed(&fr, p + i + off, m - off, &ev);
            if (k > m - off) abort();
            off += k;
            if (ev.type == WATCH_FR_NONE) {
                if (off != m) abort(); /* no event: everything taken */
                continue;
            }
            if (ev.type == WATCH_FR_MESSAGE && ev.len > i + off) abort();
            if (ev.type == WATCH_FR_FAIL && !ev.why) abort();
            if (ev.deflated && (!deflate || ev.type != WATCH_FR_MESSAGE)) abort();
            if (t->n < MAX_EV) {
                t->type[t->n] = ev.type, t->code[t->n] = ev.code, t->len[t->n] = ev.len;
                t->deflated[t->n] = ev.deflated;
                t->why[t->n] = ev.type == WATCH_FR_FAIL ? ev.why : NULL;
                if (ev.type == WATCH_FR_PING || ev.type == WATCH_FR_CLOSE) {
                    if (ev.n > WEFT_WS_CONTROL_MAX) abort();
                    t->dn[t->n] = ev.n;
                    if (ev.n) memcpy(t->data[t->n], ev.data, ev.n);
                }
            }
            t->n++;
            if (ev.type == WATCH_FR_FAIL || ev.type == WATCH_FR_CLOSE) {
                t->ended = 1;
                watch_frame_ev again;
                if (watch_frames_feed(&fr, p, size, &again) != 0 || again.type != WATCH_FR_NONE) abort();
            }
        }
        i += off;
    }
    t->taken = i;
}

static void same(const trace *a, const trace *b) {
    if (a->n != b->n || a->ended != b->ended || a->taken != b->taken) abort();
    for (int i = 0; i < a->n && i < MAX_EV; i++)
        if (a->type[i] != b->type[i] || a->code[i] != b->code[i] || a->len[i] != b->len[i] || a->deflated[i] != b->deflated[i] ||
            a->why[i] != b->why[i] || a->dn[i] != b->dn[i] || memcmp(a->data[i], b->data[i], a->dn[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static trace whole, bytes, pieces;
    for (int deflate = 0; deflate < 2; deflate++) {
        run(data, size, 0, deflate, &whole);
        if (size < 1 << 14) { /* byte by byte is slow for big inputs */
            run(data, size, 1, deflate, &bytes);
            same(&whole, &bytes);
        }
        run(data, size, size ? 1 + data[0] % 17 : 1, deflate, &pieces);
        same(&whole, &pieces);
    }
    return 0;
}
