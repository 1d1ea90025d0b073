/*
 * src/json/encode.c — the JSON encoder: appends straight into a weft_buf.
 *
 * State, all private to weft_json_enc: depth is the number of open
 * containers (at most 64); bit depth-1 of in_obj says whether the innermost
 * one is an object, bit depth-1 of comma whether it already holds a value
 * (so the next one needs a ','). want_value is 1 after a key (its value is
 * due), 2 once the root value is complete (anything more is misuse), else 0.
 * The first error sticks; every call after it does nothing.
 *
 * Doubles: weft__json_dtoa (dtoa.c, Schubfach) writes the shortest decimal
 * that reads back to the same bits, nearest to v of that length (5e-324,
 * 0.1, 0.30000000000000004), in "%.*g"'s layout, except that an integral
 * value below 2^50 keeps its plain digits ("20.0", not "2e+01"); when the
 * result would look like an integer (no '.', no exponent) ".0" is appended,
 * so a parser keeps it a double: 2.0 gives "2.0" and -0.0 gives "-0.0". No
 * locale is involved (no printf).
 *
 * Output goes through put(), which copies straight into the buffer when it
 * has room and calls weft_buf_append() only to grow; strings are scanned 8
 * bytes at a time for the bytes that need attention (as in the parser).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "weft/json.h"
#include "base/utf8.h"
#include "json/json_int.h"

enum { MAX_NEST = 64, WANT_KEYED = 1, ROOT_DONE = 2 };

static void set_err(weft_json_enc *e, int code) {
    if (!e->err) e->err = code;
}

static inline void put(weft_json_enc *e, const void *p, size_t n) {
    if (e->err) return;
    weft_buf *b = e->b;
    /* room for n bytes and the NUL the buffer keeps after its content */
    if (__builtin_expect(b->cap > b->len && n < b->cap - b->len, 1)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    int rc = weft_buf_append(b, p, n);
    if (rc) set_err(e, rc);
}

static void putc_(weft_json_enc *e, char c) { put(e, &c, 1); }

static uint64_t bit(int depth) { return (uint64_t)1 << (depth - 1); }

void weft_json_enc_init(weft_json_enc *e, weft_buf *b) {
    e->b = b;
    e->depth = 0;
    e->err = b ? 0 : WEFT_EINVAL;
    e->comma = 0;
    e->in_obj = 0;
    e->want_value = 0;
}

/* Checks that a value may be written here and writes its ',' if one is
 * due. 0 when the caller may go on. */
static int before_value(weft_json_enc *e) {
    if (e->err) return -1;
    if (e->depth == 0) {
        if (e->want_value == ROOT_DONE) {
            set_err(e, WEFT_EINVAL); /* a second root value */
            return -1;
        }
        return 0;
    }
    if (e->in_obj & bit(e->depth)) {
        if (e->want_value != WANT_KEYED) {
            set_err(e, WEFT_EINVAL); /* value without key */
            return -1;
        }
        e->want_value = 0;
        return 0;
    }
    if (e->comma & bit(e->depth)) putc_(e, ',');
    e->comma |= bit(e->depth);
    return e->err ? -1 : 0;
}

static void after_scalar(weft_json_enc *e) {
    if (e->depth == 0 && !e->err) e->want_value = ROOT_DONE;
}

static void open_(weft_json_enc *e, int obj) {
    if (before_value(e)) return;
    if (e->depth >= MAX_NEST) {
        set_err(e, WEFT_ELIMIT);
        return;
    }
    e->depth++;
    if (obj)
        e->in_obj |= bit(e->depth);
    else
        e->in_obj &= ~bit(e->depth);
    e->comma &= ~bit(e->depth);
    putc_(e, obj ? '{' : '[');
}

void weft_json_enc_object(weft_json_enc *e) { open_(e, 1); }
void weft_json_enc_array(weft_json_enc *e) { open_(e, 0); }

void weft_json_enc_end(weft_json_enc *e) {
    if (e->err) return;
    if (e->depth == 0 || e->want_value == WANT_KEYED) {
        set_err(e, WEFT_EINVAL); /* unbalanced, or a key without its value */
        return;
    }
    putc_(e, (e->in_obj & bit(e->depth)) ? '}' : ']');
    e->in_obj &= ~bit(e->depth);
    e->comma &= ~bit(e->depth);
    e->depth--;
    after_scalar(e);
}

static void put_string(weft_json_enc *e, weft_str str) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str.p;
    size_t n = str.p ? str.n : 0, run = 0, i = 0;
    putc_(e, '"');
    while (i < n && !e->err) {
        /* skip plain ASCII 8 bytes at a time */
        while (n - i >= 8) {
            uint64_t m = weft__json_special8(weft__load8(s + i));
            if (m) {
                size_t skip = (unsigned)__builtin_ctzll(m) >> 3;
                i += skip, run += skip;
                break;
            }
            i += 8, run += 8;
        }
        if (i >= n) break;
        unsigned char c = s[i];
        size_t k = 1;
        const char *esc = NULL;
        char ubuf[6];
        if (c >= 0x80) {
            k = weft__utf8_seq(s + i, n - i);
            if (k == 0) {
                set_err(e, WEFT_EINVAL);
                return;
            }
            /* U+2028 / U+2029 are legal JSON but end a line in JavaScript */
            if (k == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
                esc = s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
        } else if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default:
                memcpy(ubuf, "\\u00", 4);
                ubuf[4] = hex[c >> 4];
                ubuf[5] = hex[c & 15];
                put(e, s + i - run, run);
                run = 0;
                put(e, ubuf, 6);
                i++;
                continue;
            }
        }
        if (esc) {
            put(e, s + i - run, run);
            run = 0;
            put(e, esc, strlen(esc));
        } else {
            run += k;
        }
        i += k;
    }
    put(e, s + n - run, run);
    putc_(e, '"');
}

void weft_json_enc_key(weft_json_enc *e, weft_str key) {
    if (e->err) return;
    if (e->depth == 0 || !(e->in_obj & bit(e->depth)) || e->want_value == WANT_KEYED) {
        set_err(e, WEFT_EINVAL); /* key outside an object, or two keys in a row */
        return;
    }
    if (e->comma & bit(e->depth)) putc_(e, ',');
    e->comma |= bit(e->depth);
    put_string(e, key);
    putc_(e, ':');
    if (!e->err) e->want_value = WANT_KEYED;
}

void weft_json_enc_str(weft_json_enc *e, weft_str s) {
    if (before_value(e)) return;
    put_string(e, s);
    after_scalar(e);
}

void weft_json_enc_int(weft_json_enc *e, int64_t v) {
    if (before_value(e)) return;
    char buf[WEFT_I64_TEXT_MAX];
    put(e, buf, weft_i64_to_text(buf, v));
    after_scalar(e);
}

void weft_json_enc_double(weft_json_enc *e, double v) {
    if (e->err) return;
    if (!isfinite(v)) {
        set_err(e, WEFT_EINVAL);
        return;
    }
    if (before_value(e)) return;
    weft_buf *b = e->b;
    if (b->cap > b->len && b->cap - b->len > WEFT__JSON_DTOA_MAX) {
        /* straight into the buffer: it may scribble past its length, within cap */
        b->len += (size_t)weft__json_dtoa(v, b->data + b->len);
        b->data[b->len] = '\0';
    } else {
        char buf[WEFT__JSON_DTOA_MAX];
        put(e, buf, (size_t)weft__json_dtoa(v, buf));
    }
    after_scalar(e);
}

void weft_json_enc_bool(weft_json_enc *e, int v) {
    if (before_value(e)) return;
    if (v)
        put(e, "true", 4);
    else
        put(e, "false", 5);
    after_scalar(e);
}

void weft_json_enc_null(weft_json_enc *e) {
    if (before_value(e)) return;
    put(e, "null", 4);
    after_scalar(e);
}

void weft_json_enc_raw(weft_json_enc *e, weft_str json) {
    if (before_value(e)) return;
    if (json.n == 0) {
        set_err(e, WEFT_EINVAL);
        return;
    }
    put(e, json.p, json.n);
    after_scalar(e);
}

void weft_json_enc_value(weft_json_enc *e, const weft_json *v) {
    if (!v) {
        set_err(e, WEFT_EINVAL);
        return;
    }
    switch (v->type) {
    case WEFT_JSON_NULL:
        weft_json_enc_null(e);
        break;
    case WEFT_JSON_FALSE:
        weft_json_enc_bool(e, 0);
        break;
    case WEFT_JSON_TRUE:
        weft_json_enc_bool(e, 1);
        break;
    case WEFT_JSON_INT:
        weft_json_enc_int(e, v->u.i);
        break;
    case WEFT_JSON_DOUBLE:
        weft_json_enc_double(e, v->u.d);
        break;
    case WEFT_JSON_STRING:
        weft_json_enc_str(e, (weft_str){v->u.s, v->len});
        break;
    case WEFT_JSON_ARRAY:
        weft_json_enc_array(e);
        for (uint32_t i = 0; i < v->len; i++) weft_json_enc_value(e, &v->u.items[i]);
        weft_json_enc_end(e);
        break;
    case WEFT_JSON_OBJECT:
        weft_json_enc_object(e);
        for (uint32_t i = 0; i < v->len; i++) {
            weft_json_enc_key(e, v->u.members[i].key);
            weft_json_enc_value(e, &v->u.members[i].value);
        }
        weft_json_enc_end(e);
        break;
    default:
        set_err(e, WEFT_EINVAL);
    }
}

int weft_json_enc_finish(weft_json_enc *e) {
    if (e->err) return e->err;
    if (e->depth != 0 || e->want_value != ROOT_DONE) return WEFT_EINVAL;
    return 0;
}
