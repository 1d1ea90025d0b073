/*
 * fuzz/latwin_response.c — libFuzzer target for the GC case load
 * generator's HTTP/1.1 response framing (bench/tools/latwin.h,
 * http_response_len).
 *
 * Checks: the result is -1, 0 or a length within the input; a framed
 * response starts with "HTTP/1." and its status has three digits; framing
 * a longer buffer with the same prefix gives the same length.
 */
#include <stdlib.h>
#include <string.h>

#include "../bench/tools/latwin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *b = malloc(size + 8);
    if (!b) return 0;
    memcpy(b, data, size);
    int st = -7;
    long n = http_response_len(b, size, &st);
    if (n < -1 || n > (long)size) abort();
    if (n > 0) {
        if (memcmp(b, "HTTP/1.", 7) != 0 || st < 0 || st > 999) abort();
        memcpy(b + size, "garbage!", 8);
        int st2 = -7;
        if (http_response_len(b, size + 8, &st2) != n || st2 != st) abort();
    }
    free(b);
    return 0;
}
