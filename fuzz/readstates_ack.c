/*
 * fuzz/readstates_ack.c — libFuzzer target for the GC case's request
 * parsers (apps/readstates): the {user} path segment and the ack body.
 * The first byte picks: even, the rest is a path segment; odd, a JSON body.
 *
 * Checks: only the documented codes; a rejected body always says why; an
 * accepted user is 1..2^63-1 and prints back as exactly the input digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../apps/readstates/readstates.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        uint64_t u = 0;
        int rc = rs_parse_user((weft_str){p, n}, &u);
        if (rc == 0) {
            char back[32];
            int k = snprintf(back, sizeof back, "%llu", (unsigned long long)u);
            if (u == 0 || u > INT64_MAX || (size_t)k != n || memcmp(back, p, n) != 0) abort();
        } else if (rc != WEFT_EINVAL) {
            abort();
        }
        return 0;
    }
    weft_arena a;
    weft_arena_init(&a, 0);
    rs_ack k = {0};
    const char *why = NULL;
    int rc = rs_parse_ack(p, n, &a, &k, &why);
    if (rc != 0 && (rc != WEFT_EINVAL || !why || !*why)) abort();
    if (rc == 0 && (k.channel > INT64_MAX || k.message > INT64_MAX)) abort();
    weft_arena_free(&a);
    return 0;
}
