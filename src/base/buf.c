/*
 * src/base/buf.c — growable byte buffer.
 *
 * Capacity doubles (starting at 64) and always includes one byte for the NUL
 * that follows the content, so cap >= len + 1 whenever cap > 0. `max` bounds
 * len, not cap: a buffer with max = 100 can hold 100 bytes (cap 101).
 * Every failure leaves data[0..len) and the NUL untouched.
 */
#include "weft/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

void weft_buf_init(weft_buf *b, size_t max) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static __attribute__((noinline)) int grow(weft_buf *b, size_t n) {
    /* need = len + n + 1, checked. */
    if (n > SIZE_MAX - 1 - b->len) return b->max ? WEFT_ELIMIT : WEFT_ENOMEM;
    size_t want = b->len + n;
    if (b->max && want > b->max) return WEFT_ELIMIT;
    size_t need = want + 1;

    size_t cap = b->cap ? b->cap : MIN_CAP;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    if (b->max && cap - 1 > b->max) cap = b->max + 1; /* still >= need; no wrap at SIZE_MAX */

    char *p = realloc(b->data, cap);
    if (!p) return WEFT_ENOMEM;
    p[b->len] = '\0'; /* the first allocation had no NUL yet */
    b->data = p;
    b->cap = cap;
    return 0;
}

int weft_buf_reserve(weft_buf *b, size_t n) {
    /* Fits (including the NUL) without growing? Written so it cannot overflow. */
    if (b->cap > b->len && n < b->cap - b->len) return 0;
    return grow(b, n);
}

int weft_buf_append(weft_buf *b, const void *p, size_t n) {
    if (n == 0) return 0;
    int rc = weft_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int weft_buf_appendc(weft_buf *b, char c) {
    int rc = weft_buf_reserve(b, 1);
    if (rc) return rc;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int weft_buf_appends(weft_buf *b, const char *s) { return weft_buf_append(b, s, strlen(s)); }

int weft_buf_vprintf(weft_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    /* First try into whatever room there is (none when data is NULL). */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int r = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    int rc = 0;
    if (r < 0) {
        rc = WEFT_EINVAL; /* encoding error or output over INT_MAX */
    } else if ((size_t)r < room) {
        b->len += (size_t)r;
    } else {
        rc = weft_buf_reserve(b, (size_t)r);
        if (rc == 0) {
            vsnprintf(b->data + b->len, (size_t)r + 1, fmt, ap2);
            b->len += (size_t)r;
        }
    }
    va_end(ap2);
    /* A failed or truncated first attempt overwrote the NUL at data[len]. */
    if (rc && b->cap) b->data[b->len] = '\0';
    return rc;
}

int weft_buf_printf(weft_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = weft_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void weft_buf_consume(weft_buf *b, size_t n) {
    if (n >= b->len) {
        weft_buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void weft_buf_clear(weft_buf *b) {
    b->len = 0;
    if (b->cap) b->data[0] = '\0';
}

void weft_buf_free(weft_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0; /* max is kept: the buffer can be used again as it was */
}
