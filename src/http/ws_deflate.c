/*
 * src/http/ws_deflate.c — permessage-deflate (RFC 7692) on zlib: the inflater
 * the receiver feeds compressed payload through, and the compressor for
 * outgoing messages. zlib lives in this file only.
 *
 * A message is raw DEFLATE ended with a sync flush whose final 00 00 FF FF
 * the sender removes and the receiver puts back (§7.2.1, §7.2.2). With
 * context takeover the window carries over to the next message; without it
 * (the *_no_context_takeover parameters) each message starts afresh, and the
 * inflater then frees its zlib state after every message, so an idle
 * connection holds no window.
 *
 * The inflater never writes more than max + 1 bytes of a message: output
 * space is handed to zlib in steps bounded by what is left under the limit
 * (plus the one byte that proves the limit was passed), so a zip bomb costs
 * at most max_message bytes of memory and then fails with WEFT_ELIMIT.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ws_int.h"

enum { STEP = 16384 };

struct weft_ws_inflater {
    z_stream z;
    int live;       /* inflateInit2 done */
    int reset_each; /* the peer starts every message with an empty window */
};

weft_ws_inflater *weft__ws_inflater_new(const weft_ws_deflate_params *p, int role) {
    weft_ws_inflater *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->reset_each =
        role == WEFT_WS_SERVER ? p->client_no_context_takeover : p->server_no_context_takeover;
    return z;
}

void weft__ws_inflater_free(weft_ws_inflater *z) {
    if (!z) return;
    if (z->live) inflateEnd(&z->z);
    free(z);
}

/* Runs inflate over next_in until it is all used, growing out. */
static int run_inflate(weft_ws_inflater *z, weft_buf *out, size_t max) {
    for (;;) {
        size_t room = max - out->len + 1; /* one byte past max proves the overflow */
        if (room > STEP) room = STEP;
        if (weft_buf_reserve(out, room)) return WEFT_ENOMEM;
        z->z.next_out = (Bytef *)out->data + out->len;
        z->z.avail_out = (uInt)room;
        int rc = inflate(&z->z, Z_SYNC_FLUSH);
        size_t made = room - z->z.avail_out;
        out->len += made;
        out->data[out->len] = '\0'; /* len <= len + room < cap */
        if (out->len > max) return WEFT_ELIMIT;
        if (rc == Z_STREAM_END) {
            /* the sender closed the DEFLATE stream (BFINAL); what follows,
             * if anything, starts a new one */
            inflateReset(&z->z);
            if (z->z.avail_in == 0) return 0;
            continue;
        }
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) return WEFT_EPARSE;
        if (rc == Z_MEM_ERROR) return WEFT_ENOMEM;
        if (rc == Z_STREAM_ERROR) return WEFT_EPARSE;
        /* Z_OK or Z_BUF_ERROR: done when the input is used and the output
         * was not the bottleneck */
        if (z->z.avail_in == 0 && z->z.avail_out > 0) return 0;
    }
}

int weft__ws_inflate(weft_ws_inflater *z, const void *in, size_t n, int fin, weft_buf *out,
                     size_t max) {
    static const uint8_t tail[4] = {0x00, 0x00, 0xFF, 0xFF};
    if (!z->live) {
        memset(&z->z, 0, sizeof z->z);
        /* a 32 KiB window reads what any window size 8..15 produced */
        if (inflateInit2(&z->z, -15) != Z_OK) return WEFT_ENOMEM;
        z->live = 1;
    }
    int rc = 0;
    if (n) {
        z->z.next_in = (Bytef *)(uintptr_t)in;
        z->z.avail_in = (uInt)n;
        rc = run_inflate(z, out, max);
    }
    if (rc == 0 && fin) {
        z->z.next_in = (Bytef *)(uintptr_t)tail;
        z->z.avail_in = 4;
        rc = run_inflate(z, out, max);
    }
    /* after a failure the connection is closing: the state is dropped either way */
    if (rc || (fin && z->reset_each)) {
        inflateEnd(&z->z);
        z->live = 0;
    }
    return rc;
}

struct weft_ws_deflater {
    z_stream z;
    int live;
    int reset_each; /* we promised no context takeover */
    int bits;
};

weft_ws_deflater *weft_ws_deflater_new(const weft_ws_deflate_params *p, int role) {
    weft_ws_deflater *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    int server = role == WEFT_WS_SERVER;
    d->reset_each = server ? p->server_no_context_takeover : p->client_no_context_takeover;
    d->bits = server ? p->server_max_window_bits : p->client_max_window_bits;
    if (d->bits < 8 || d->bits > 15) d->bits = 15;
    /* zlib refuses a raw 256-byte window (8); 9 is safe in its place because
     * zlib never matches farther back than the window minus 262 bytes, 250
     * bytes for a 512-byte window: every distance fits the peer's 256 bytes */
    if (d->bits == 8) d->bits = 9;
    return d;
}

void weft_ws_deflater_free(weft_ws_deflater *d) {
    if (!d) return;
    if (d->live) deflateEnd(&d->z);
    free(d);
}

int weft_ws_deflate(weft_ws_deflater *d, const void *p, size_t n, weft_buf *out) {
    if (!d->live) {
        memset(&d->z, 0, sizeof d->z);
        if (deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -d->bits, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return WEFT_ENOMEM;
        d->live = 1;
    }
    size_t start = out->len;
    d->z.next_in = (Bytef *)(uintptr_t)p;
    d->z.avail_in = (uInt)n;
    int rc = 0;
    for (;;) {
        /* room for the worst case of what is left, in steps of at most 256 KiB */
        size_t room = deflateBound(&d->z, d->z.avail_in) + 8;
        if (room > 16 * STEP) room = 16 * STEP;
        rc = weft_buf_reserve(out, room);
        if (rc) break;
        d->z.next_out = (Bytef *)out->data + out->len;
        d->z.avail_out = (uInt)room;
        int zr = deflate(&d->z, Z_SYNC_FLUSH);
        out->len += room - d->z.avail_out;
        if (zr == Z_STREAM_ERROR) {
            rc = WEFT_ENOMEM;
            break;
        }
        /* all input taken and room left over: the flush is complete */
        if (d->z.avail_in == 0 && d->z.avail_out > 0) break;
    }
    if (rc) {
        out->len = start;
        if (out->data) out->data[out->len] = '\0';
        deflateEnd(&d->z);
        d->live = 0;
        return rc;
    }
    /* drop the sync flush's empty stored block marker 00 00 FF FF */
    if (out->len - start >= 4) out->len -= 4;
    /* zlib writes nothing for a flush with no new input right after a flush
     * (an empty message); the receiver appends 00 00 FF FF to whatever comes,
     * which alone is no valid block: send the start of an empty stored block
     * instead (RFC 7692 §7.2.3.6) */
    if (out->len == start) out->data[out->len++] = 0x00;
    out->data[out->len] = '\0';
    if (d->reset_each) deflateReset(&d->z);
    return 0;
}
