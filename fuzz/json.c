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
    weft_json_enc_value(&e, r1);
    int erc = weft_json_enc_finish(&e);
    if (erc != 0) abort();
    rc = weft_json_parse(b.data, b.len, &a, 64, &r2, &err);
    if (rc != 0) abort();
    if (!weft_json_equal(r1, r2)) abort();
    weft_buf_free(&b);
    weft_arena_free(&a);
    return 0;
}
