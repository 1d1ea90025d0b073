/*
 * fuzz/json.c — libFuzzer target for weft_json_parse() and the encoder.
 *
 * Checks more than "does not crash": the result code is one of those the
 * header names; on success an error-free walk of the DOM through the encoder
 * must succeed (a parsed DOM is always encodable), and parsing the encoder's
 * output must give a structurally identical DOM (doubles by bits, strings
 * and keys by bytes, members in order).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"

static void enc_dom(weft_json_enc *e, const weft_json *v) {
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
        for (uint32_t i = 0; i < v->len; i++) enc_dom(e, &v->u.items[i]);
        weft_json_enc_end(e);
        break;
    case WEFT_JSON_OBJECT:
        weft_json_enc_object(e);
        for (uint32_t i = 0; i < v->len; i++) {
            weft_json_enc_key(e, v->u.members[i].key);
            enc_dom(e, &v->u.members[i].value);
        }
        weft_json_enc_end(e);
        break;
    default:
        abort();
    }
}

static int dom_eq(const weft_json *a, const weft_json *b) {
    if (a->type != b->type || a->len != b->len) return 0;
    switch (a->type) {
    case WEFT_JSON_INT:
        return a->u.i == b->u.i;
    case WEFT_JSON_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case WEFT_JSON_STRING:
        return memcmp(a->u.s, b->u.s, (size_t)a->len + 1) == 0;
    case WEFT_JSON_ARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (!dom_eq(&a->u.items[i], &b->u.items[i])) return 0;
        return 1;
    case WEFT_JSON_OBJECT:
        for (uint32_t i = 0; i < a->len; i++) {
            const weft_json_member *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->key.n != y->key.n || memcmp(x->key.p, y->key.p, x->key.n + 1) != 0) return 0;
            if (!dom_eq(&x->value, &y->value)) return 0;
        }
        return 1;
    default:
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    weft_arena a;
    weft_arena_init(&a, 1024);
    weft_json *r1 = NULL, *r2 = NULL;
    weft_json_error err = {0, NULL};
    /* max_depth 64 = the encoder's nesting limit, so every DOM is encodable */
    int rc = weft_json_parse((const char *)data, size, &a, 64, &r1, &err);
    if (rc != 0) {
        if (rc != WEFT_EPARSE && rc != WEFT_ELIMIT && rc != WEFT_ENOMEM) abort();
        if (rc != WEFT_ENOMEM && (err.msg == NULL || err.offset > size)) abort();
        weft_arena_free(&a);
        return 0;
    }
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    enc_dom(&e, r1);
    int erc = weft_json_enc_finish(&e);
    if (erc != 0) abort();
    rc = weft_json_parse(b.data, b.len, &a, 64, &r2, &err);
    if (rc != 0) abort();
    if (!dom_eq(r1, r2)) abort();
    weft_buf_free(&b);
    weft_arena_free(&a);
    return 0;
}
