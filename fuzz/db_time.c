/*
 * fuzz/db_time.c — libFuzzer target for weft__db_parse_time(), the parser
 * of the timestamp text a database server sends (src/db/rows.c).
 *
 * Beyond "does not crash or read past the input": the result code is 0 or
 * WEFT_EPARSE, and a parsed instant formatted back (weft__db_format_time)
 * parses to the same microsecond, unless the offset moved it out of the
 * four-digit years the format covers.
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *p = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!p) return 0;
    memcpy(p, data, size);
    int64_t us = 0;
    int rc = weft__db_parse_time(p, size, &us);
    free(p);
    if (rc != 0 && rc != WEFT_EPARSE) abort();
    if (rc) return 0;
    char buf[64];
    int n = weft__db_format_time(us, buf);
    if (n <= 0 || n >= (int)sizeof buf) abort();
    int64_t again = 0;
    if (weft__db_parse_time(buf, (size_t)n, &again) == 0) {
        if (again != us) abort();
    } else if (buf[0] != '-' && buf[4] == '-') {
        abort(); /* a four-digit year that does not parse back */
    }
    return 0;
}
