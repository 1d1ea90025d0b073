/*
 * fuzz/str_to_i64.c — libFuzzer target for weft_str_to_i64() and its
 * unsigned sibling weft_str_to_u64(), the integer parsers under every
 * numeric header (Content-Length), query parameter, database integer and
 * config value.
 *
 * Checks more than "does not crash": a successful parse must print back to
 * the same digits (modulo a leading '+' and leading zeros), the result codes
 * must be exactly 0, WEFT_EPARSE or WEFT_ERANGE, and the two parsers must
 * agree: on an input without a sign, to_u64 accepts exactly what to_i64
 * accepts plus the values above INT64_MAX, with the same value; on one with
 * a sign, to_u64 refuses with WEFT_EPARSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/base.h"

/* The canonical text of a parsed input: sign (not for zero), no leading zeros. */
static void canonical(const uint8_t *data, size_t size, char *canon, size_t cap) {
    size_t i = 0;
    int neg = 0;
    if (i < size && (data[i] == '+' || data[i] == '-')) neg = data[i++] == '-';
    while (i + 1 < size && data[i] == '0') i++;
    size_t n = size - i;
    if (n + 2 > cap) abort(); /* would have overflowed 64 bits */
    int k = snprintf(canon, cap, "%s%.*s", neg && !(n == 1 && data[i] == '0') ? "-" : "", (int)n,
                     (const char *)data + i);
    if (k < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    weft_str s = {(const char *)data, size};
    char canon[64], printed[64];

    int64_t v = 12345;
    int rc = weft_str_to_i64(s, &v);
    if (rc != 0 && rc != WEFT_EPARSE && rc != WEFT_ERANGE) abort();
    if (rc != 0 && v != 12345) abort(); /* untouched on error */
    if (rc == 0) {
        canonical(data, size, canon, sizeof canon);
        snprintf(printed, sizeof printed, "%" PRId64, v);
        if (strcmp(canon, printed) != 0) abort();
    }

    uint64_t u = 12345;
    int urc = weft_str_to_u64(s, &u);
    if (urc != 0 && urc != WEFT_EPARSE && urc != WEFT_ERANGE) abort();
    if (urc != 0 && u != 12345) abort();
    int signed_input = size && (data[0] == '+' || data[0] == '-');
    if (signed_input) {
        if (urc != WEFT_EPARSE) abort();
        return 0;
    }
    if (urc == 0) {
        canonical(data, size, canon, sizeof canon);
        snprintf(printed, sizeof printed, "%" PRIu64, u);
        if (strcmp(canon, printed) != 0) abort();
        /* to_i64 agrees below 2^63 and reports the rest out of range */
        if (u <= (uint64_t)INT64_MAX ? rc != 0 || (uint64_t)v != u : rc != WEFT_ERANGE) abort();
    } else if (urc == WEFT_EPARSE) {
        if (rc != WEFT_EPARSE) abort();
    } else if (rc != WEFT_ERANGE) { /* above UINT64_MAX is above INT64_MAX */
        abort();
    }
    return 0;
}
