/*
 * fuzz/http_chunked.c — libFuzzer target for weft_http_chunked_decode().
 *
 * Decodes the input whole, in two pieces split where the data says, and one
 * byte at a time: all three must give the same result, the same body and the
 * same number of input bytes consumed (the decoder is a state machine, so the
 * split must not matter). Per call: output never exceeds input consumed,
 * consumed never exceeds the input, an incomplete body takes all of it, and
 * results are only 0, 1 or WEFT_EPARSE with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/http.h"

typedef struct outcome {
    int rc;
    size_t used;   /* input bytes consumed in total */
    size_t outlen; /* decoded body bytes */
    char *out;     /* decoded body (malloc'd, size of the input) */
} outcome;

static void limits(weft_http_chunked *d, const uint8_t *data, size_t size) {
    weft_http_chunked_init(d);
    if (size && (data[size - 1] & 1)) { /* sometimes tight limits, chosen by the data */
        d->max_ext = 8;
        d->max_trailer = 32;
    }
}

/* Feeds data in pieces of at most step bytes until a non-zero result. */
static outcome decode(const uint8_t *data, size_t size, size_t first, size_t step) {
    weft_http_chunked d;
    limits(&d, data, size);
    outcome o = {0, 0, 0, malloc(size ? size : 1)};
    size_t piece = first;
    while (o.used < size && o.rc == 0) {
        size_t k = size - o.used < piece ? size - o.used : piece;
        char *tmp = malloc(k ? k : 1);
        memcpy(tmp, data + o.used, k);
        size_t len = k, cons = 12345;
        const char *why = NULL;
        o.rc = weft_http_chunked_decode(&d, tmp, &len, &cons, &why);
        if (cons > k || len > cons) abort();
        if (o.rc == 0 && cons != k) abort();
        if (o.rc == WEFT_EPARSE && (!why || !*why)) abort();
        if (o.rc != 0 && o.rc != 1 && o.rc != WEFT_EPARSE) abort();
        memcpy(o.out + o.outlen, tmp, len);
        o.outlen += len;
        o.used += cons;
        free(tmp);
        piece = step;
    }
    if (o.outlen > o.used) abort();
    return o;
}

static void same(const outcome *a, const outcome *b) {
    if (a->rc != b->rc || a->used != b->used || a->outlen != b->outlen) abort();
    if (memcmp(a->out, b->out, a->outlen) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    outcome whole = decode(data, size, size, size);
    size_t cut = size ? (size_t)data[0] * 131 % (size + 1) : 0;
    outcome two = decode(data, size, cut ? cut : 1, size);
    same(&whole, &two);
    if (size <= 4096) {
        outcome one = decode(data, size, 1, 1);
        same(&whole, &one);
        free(one.out);
    }
    free(whole.out);
    free(two.out);
    return 0;
}
