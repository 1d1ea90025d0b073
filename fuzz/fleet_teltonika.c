/*
 * fuzz/fleet_teltonika.c — libFuzzer target for the fleet app's Teltonika
 * decoder (apps/fleet/teltonika.c), fed the way a TCP connection feeds it:
 * the input is the byte stream a device sends, an IMEI login followed by AVL
 * packets, cut into frames by tlt_frame() exactly as the ingest loop does.
 *
 * Checks more than "does not crash": results are only the documented codes;
 * a decoded packet's fixes point inside the attribute buffer, and each one's
 * attributes are a JSON object that weft's own parser accepts.
 */
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"

/* the app's pure decoder, compiled into this target */
#include "../apps/fleet/fix.c"
#include "../apps/fleet/teltonika.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char imei[TLT_IMEI_MAX + 1];
    const char *why = NULL;
    int k = tlt_login(data, size, imei, &why);
    if (k == 0) return 0;
    if (k < 0) {
        if (k != WEFT_EPARSE || !why) abort();
        /* a device that skips the login: decode the stream as packets anyway */
        k = 0;
    } else if (strlen(imei) == 0 || strlen(imei) > TLT_IMEI_MAX) {
        abort();
    }
    const uint8_t *p = data + k, *end = data + size;
    static fleet_fix fixes[TLT_RECORDS_MAX];
    weft_buf attrs;
    weft_buf_init(&attrs, 1 << 20);
    weft_arena arena;
    weft_arena_init(&arena, 0);
    while (p < end) {
        why = NULL;
        long n = tlt_frame(p, (size_t)(end - p), TLT_PACKET_MAX, &why);
        if (n == 0) break;
        if (n < 0) {
            if ((n != WEFT_EPARSE && n != WEFT_ELIMIT) || !why) abort();
            break; /* the ingest loop closes the connection */
        }
        if ((size_t)n > (size_t)(end - p)) break; /* waits for the rest */
        tlt_packet pk;
        attrs.len = 0;
        int rc = tlt_decode(p, (size_t)n, &pk, fixes, TLT_RECORDS_MAX, &attrs, &why);
        if (rc > 0) {
            if (rc != pk.count || rc > TLT_RECORDS_MAX) abort();
            for (int i = 0; i < rc; i++) {
                const fleet_fix *f = &fixes[i];
                if (f->attr_off + f->attr_len > attrs.len) abort();
                weft_json *j = NULL;
                weft_json_error je;
                weft_arena_reset(&arena);
                if (weft_json_parse(attrs.data + f->attr_off, f->attr_len, &arena, 64, &j, &je) != 0)
                    abort();
                if (j->type != WEFT_JSON_OBJECT) abort();
                if (f->lat < -215 || f->lat > 215 || f->lon < -215 || f->lon > 215) abort();
            }
        } else if (!why || (rc != WEFT_EPARSE && rc != WEFT_ENOTSUP && rc != WEFT_ELIMIT &&
                            rc != WEFT_ENOMEM)) {
            abort();
        }
        p += n;
    }
    weft_arena_free(&arena);
    weft_buf_free(&attrs);
    return 0;
}
