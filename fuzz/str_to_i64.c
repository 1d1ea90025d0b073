/*
 * fuzz/str_to_i64.c — libFuzzer target for weft_str_to_i64(), the integer
 * parser under every numeric header, query parameter and config value.
 *
 * Checks more than "does not crash": a successful parse must print back to
 * the same digits (modulo a leading '+' and leading zeros), and the result
 * codes must be exactly 0, WEFT_EPARSE or WEFT_ERANGE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    weft_str s = {(const char *)data, size};
    int64_t v = 12345;
    int rc = weft_str_to_i64(s, &v);
    if (rc != 0 && rc != WEFT_EPARSE && rc != WEFT_ERANGE) abort();
    if (rc != 0) return 0;
    /* round trip: canonical form of the input must equal printing v */
    size_t i = 0;
    int neg = 0;
    if (i < size && (data[i] == '+' || data[i] == '-')) neg = data[i++] == '-';
    while (i + 1 < size && data[i] == '0') i++;
    char canon[64], printed[64];
    size_t n = size - i;
    if (n + 2 > sizeof canon) abort(); /* would have overflowed int64 */
    int k = snprintf(canon, sizeof canon, "%s%.*s", neg && !(n == 1 && data[i] == '0') ? "-" : "",
                     (int)n, (const char *)data + i);
    snprintf(printed, sizeof printed, "%" PRId64, v);
    if (k < 0 || strcmp(canon, printed) != 0) abort();
    return 0;
}
