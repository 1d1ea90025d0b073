/*
 * weft/json.h — JSON (RFC 8259): a parser into an arena-allocated DOM with
 * typed getters, and an encoder that writes straight into a weft_buf.
 *
 * Parser: exact RFC 8259 — invalid UTF-8, lone surrogates in \u escapes,
 * leading zeros, trailing commas, unescaped control characters, trailing
 * garbage are all errors that name the byte offset. Integers that fit in
 * int64 are kept exact; other numbers are doubles, correctly rounded. Depth
 * is limited (default 128) so hostile input cannot exhaust a task's stack.
 * Strings are decoded (escapes resolved) into the arena, NUL-terminated.
 *
 * Encoder: escapes as RFC 8259 requires (plus U+2028/2029 for embedding in
 * script), rejects invalid UTF-8, writes integers exactly and doubles in the
 * shortest form that reads back to the same value; NaN/Inf are errors.
 */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_json_type {
    WEFT_JSON_NULL = 0,
    WEFT_JSON_FALSE,
    WEFT_JSON_TRUE,
    WEFT_JSON_INT,    /* integer literal that fits int64 */
    WEFT_JSON_DOUBLE, /* any other number */
    WEFT_JSON_STRING,
    WEFT_JSON_ARRAY,
    WEFT_JSON_OBJECT,
} weft_json_type;

typedef struct weft_json weft_json;
typedef struct weft_json_member weft_json_member;

struct weft_json {
    weft_json_type type;
    uint32_t len; /* STRING: bytes (excl. NUL); ARRAY/OBJECT: number of elements */
    union {
        int64_t i;                 /* INT */
        double d;                  /* DOUBLE */
        const char *s;             /* STRING: decoded UTF-8, NUL-terminated (may hold \0) */
        weft_json *items;          /* ARRAY: len values */
        weft_json_member *members; /* OBJECT: len members, in document order */
    } u;
};

struct weft_json_member {
    weft_str key; /* decoded, NUL-terminated in the arena */
    weft_json value;
};

typedef struct weft_json_error {
    size_t offset;   /* byte offset of the problem in the input */
    const char *msg; /* static text, e.g. "leading zero in number" */
} weft_json_error;

/* Parse buf[0..len) as one JSON text. On success returns 0 and *out points to
 * the root, all of it in the arena (freed with it). Errors: WEFT_EPARSE
 * (malformed; *err filled, err may be NULL), WEFT_ENOMEM, WEFT_ELIMIT (depth
 * over max_depth; *err filled). max_depth <= 0 means 128; recursion is one C
 * frame per level, so keep it modest inside a task. A number whose magnitude
 * overflows a double (1e400) is WEFT_EPARSE; underflow gives 0 or a
 * subnormal. Numbers are read in the C locale (weft never calls setlocale). */
int weft_json_parse(const char *buf, size_t len, weft_arena *a, int max_depth, weft_json **out,
                    weft_json_error *err);

/* Getters. NULL-safe: a NULL or mistyped node gives NULL / an error. */
const weft_json *weft_json_get(const weft_json *obj, const char *key); /* first match */
const weft_json *weft_json_at(const weft_json *arr, size_t i);
/* 0, WEFT_EINVAL (not a number / not exact), WEFT_ERANGE (does not fit). A
 * DOUBLE with an integral value in range converts; 1.5 is WEFT_EINVAL. */
int weft_json_int(const weft_json *v, int64_t *out);
int weft_json_double(const weft_json *v, double *out); /* INT or DOUBLE */
int weft_json_bool(const weft_json *v, int *out);
/* STRING as a slice; {NULL, 0} for anything else. */
weft_str weft_json_str(const weft_json *v);
/* Structural equality: same types, values (doubles bit for bit), strings
 * and keys byte for byte, members in the same order. NULL equals only NULL. */
int weft_json_equal(const weft_json *a, const weft_json *b);

/* Encoder. Calls append to b; the first error sticks (later calls do
 * nothing) and is returned by weft_json_enc_finish(). Nesting and commas are
 * tracked: key() is required before each value inside an object. */
typedef struct weft_json_enc {
    weft_buf *b;
    int depth;       /* private */
    int err;         /* private: first error */
    uint64_t comma;  /* private: bit per level, "a value was written" */
    uint64_t in_obj; /* private: bit per level, "this level is an object" */
    int want_value;  /* private: a key was written, its value is due */
} weft_json_enc;

void weft_json_enc_init(weft_json_enc *e, weft_buf *b);
void weft_json_enc_object(weft_json_enc *e); /* { */
void weft_json_enc_array(weft_json_enc *e);  /* [ */
void weft_json_enc_end(weft_json_enc *e);    /* } or ] */
void weft_json_enc_key(weft_json_enc *e, weft_str key);
void weft_json_enc_str(weft_json_enc *e, weft_str s);
void weft_json_enc_int(weft_json_enc *e, int64_t v);
/* Shortest of %.15g/%.16g/%.17g that reads back to the same bits; ".0" is
 * appended when that would look like an integer (2.0 -> "2.0", -0.0 ->
 * "-0.0"), so a round trip keeps it a double. NaN/Inf: WEFT_EINVAL. */
void weft_json_enc_double(weft_json_enc *e, double v);
void weft_json_enc_bool(weft_json_enc *e, int v);
void weft_json_enc_null(weft_json_enc *e);
/* Write json, already-encoded JSON text, as one value, byte for byte (like
 * Go's json.RawMessage): for values encoded once and sent many times, e.g.
 * attributes kept as JSON text. The caller vouches that it is one complete,
 * valid JSON value; only emptiness is checked (WEFT_EINVAL). */
void weft_json_enc_raw(weft_json_enc *e, weft_str json);
/* Write a DOM value (e.g. one from weft_json_parse) with all it contains. */
void weft_json_enc_value(weft_json_enc *e, const weft_json *v);
/* 0 when the document is complete and valid; WEFT_EINVAL (misuse: value
 * without key, unbalanced end, NaN/Inf, invalid UTF-8), WEFT_ELIMIT (nesting
 * over 64), WEFT_ENOMEM or the buffer's WEFT_ELIMIT. */
int weft_json_enc_finish(weft_json_enc *e);

#ifdef __cplusplus
}
#endif
#endif
