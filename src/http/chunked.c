/*
 * src/http/chunked.c — incremental decoder of the chunked transfer coding
 * (RFC 9112 §7.1), in place.
 *
 * A byte-at-a-time state machine, so input may be split anywhere; chunk data
 * is moved down with memmove in bulk. Output never overtakes input (only
 * data bytes are written, each after it was read), which is what makes the
 * in-place decoding safe. Line endings are strictly CRLF: a bare CR or LF is
 * an error, as is anything but CRLF after chunk data.
 */
#include <stdint.h>
#include <string.h>

#include "weft/http.h"

enum {
    CS_SIZE0,    /* first hex digit of chunk-size */
    CS_SIZE,     /* more hex digits, or what follows them */
    CS_SIZE_WS,  /* BWS after chunk-size: only more BWS or ';' */
    CS_EXT,      /* chunk-ext, up to CR */
    CS_SIZE_LF,  /* LF ending the chunk line */
    CS_DATA,     /* chunk data */
    CS_DATA_CR,  /* CR after chunk data */
    CS_DATA_LF,  /* LF after chunk data */
    CS_TR_START, /* start of a trailer line (or the final empty line) */
    CS_TR,       /* inside a trailer line */
    CS_TR_LF,    /* LF ending a trailer line */
    CS_END_LF,   /* LF of the final empty line */
    CS_DONE,
    CS_ERROR,
};

enum { DEF_MAX_EXT = 4096, DEF_MAX_TRAILER = 16384 };

void weft_http_chunked_init(weft_http_chunked *d) {
    d->state = CS_SIZE0;
    d->remaining = 0;
    d->ext_len = 0;
    d->trailer_len = 0;
    d->max_ext = DEF_MAX_EXT;
    d->max_trailer = DEF_MAX_TRAILER;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A byte that may not appear in an extension or trailer line. */
static int is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

int weft_http_chunked_decode(weft_http_chunked *d, char *buf, size_t *len, size_t *consumed,
                             const char **reason) {
    const char *why_dummy;
    if (!reason) reason = &why_dummy;
    size_t max_ext = d->max_ext ? d->max_ext : DEF_MAX_EXT;
    size_t max_trailer = d->max_trailer ? d->max_trailer : DEF_MAX_TRAILER;
    size_t n = *len, r = 0, w = 0;
    const char *why = NULL;
    int h;

    while (r < n) {
        unsigned char c = (unsigned char)buf[r];
        switch (d->state) {
        case CS_SIZE0:
            if ((h = hexval(c)) < 0) {
                why = c == '\n' ? "bare LF in chunk line" : "invalid chunk size";
                goto error;
            }
            d->remaining = (uint64_t)h;
            d->ext_len = 0;
            d->state = CS_SIZE;
            r++;
            break;
        case CS_SIZE:
            if ((h = hexval(c)) >= 0) {
                if (d->remaining > ((uint64_t)INT64_MAX - (uint64_t)h) / 16) {
                    why = "chunk size overflow";
                    goto error;
                }
                d->remaining = d->remaining * 16 + (uint64_t)h;
            } else if (c == ';' || c == ' ' || c == '\t') {
                d->ext_len = 1; /* the extension's bytes count from here to CR */
                d->state = c == ';' ? CS_EXT : CS_SIZE_WS;
            } else if (c == '\r') {
                d->state = CS_SIZE_LF;
            } else {
                why = c == '\n' ? "bare LF in chunk line" : "invalid chunk size";
                goto error;
            }
            r++;
            break;
        case CS_SIZE_WS:
            if (c == ';') {
                d->state = CS_EXT;
            } else if (c != ' ' && c != '\t') {
                why = "invalid chunk extension";
                goto error;
            }
            if (++d->ext_len > max_ext) {
                why = "chunk extension too long";
                goto error;
            }
            r++;
            break;
        case CS_EXT:
            if (c == '\r') {
                d->state = CS_SIZE_LF;
            } else if (c == '\n') {
                why = "bare LF in chunk line";
                goto error;
            } else if (is_ctl(c)) {
                why = "control byte in chunk extension";
                goto error;
            } else if (++d->ext_len > max_ext) {
                why = "chunk extension too long";
                goto error;
            }
            r++;
            break;
        case CS_SIZE_LF:
            if (c != '\n') {
                why = "bare CR in chunk line";
                goto error;
            }
            r++;
            d->trailer_len = 0;
            d->state = d->remaining ? CS_DATA : CS_TR_START;
            break;
        case CS_DATA: {
            size_t k = n - r;
            if ((uint64_t)k > d->remaining) k = (size_t)d->remaining;
            if (w != r) memmove(buf + w, buf + r, k);
            w += k;
            r += k;
            d->remaining -= k;
            if (!d->remaining) d->state = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
            if (c != '\r') {
                why = "missing CRLF after chunk data";
                goto error;
            }
            r++;
            d->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (c != '\n') {
                why = "bare CR after chunk data";
                goto error;
            }
            r++;
            d->state = CS_SIZE0;
            break;
        case CS_TR_START:
        case CS_TR:
        case CS_TR_LF:
        case CS_END_LF:
            if (++d->trailer_len > max_trailer) {
                why = "trailer section too large";
                goto error;
            }
            r++;
            if (d->state == CS_TR_LF || d->state == CS_END_LF) {
                if (c != '\n') {
                    why = "bare CR in trailer";
                    goto error;
                }
                if (d->state == CS_END_LF) {
                    d->state = CS_DONE;
                    *len = w;
                    *consumed = r;
                    return 1;
                }
                d->state = CS_TR_START;
            } else if (c == '\r') {
                d->state = d->state == CS_TR_START ? CS_END_LF : CS_TR_LF;
            } else if (c == '\n') {
                why = "bare LF in trailer";
                goto error;
            } else if (c == 0) {
                why = "NUL in trailer";
                goto error;
            } else if (is_ctl(c)) {
                why = "control byte in trailer";
                goto error;
            } else {
                d->state = CS_TR;
            }
            break;
        case CS_DONE:
            *len = w;
            *consumed = r;
            return 1;
        default:
            why = "chunked decoder already failed";
            goto error;
        }
    }
    *len = w;
    *consumed = r;
    return d->state == CS_DONE ? 1 : 0;

error:
    d->state = CS_ERROR;
    *len = w;
    *consumed = r;
    *reason = why;
    return WEFT_EPARSE;
}
