/*
 * fuzz/fleet_osmand.c — libFuzzer target for the fleet app's OsmAnd /
 * Traccar Client parser (apps/fleet/osmand.c) and its timestamp reader.
 * The first byte picks the form: even, a query string and a form body split
 * at the first '\n'; odd, a JSON body.
 *
 * Checks: results are only the documented codes, a failure always says why,
 * and an accepted fix has finite coordinates, a device id, and attributes
 * that weft's own JSON parser reads back as an object.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"

#include "../apps/fleet/fix.c"
#include "../apps/fleet/isotime.c"
#include "../apps/fleet/osmand.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int json = data[0] & 1;
    weft_str in = {(const char *)data + 1, size - 1};
    weft_arena a, chk;
    weft_arena_init(&a, 0);
    weft_arena_init(&chk, 0);
    weft_buf attrs;
    weft_buf_init(&attrs, 1 << 20);
    osmand_msg m;
    static fleet_fix fx[OSMAND_BATCH_MAX];
    const char *why = NULL;
    int rc;
    if (json) {
        rc = osmand_parse_json(in, 1700000000000LL, &m, fx, OSMAND_BATCH_MAX, &attrs, &a, &why);
    } else {
        weft_str form, query = in;
        form = weft_str_cut(in, '\n', &query);
        rc = osmand_parse_form(query, form, 1700000000000LL, &m, &fx[0], &attrs, &a, &why);
    }
    if (rc == 0) {
        if (m.nfix < 1 || m.nfix > OSMAND_BATCH_MAX || strlen(m.device_id) == 0) abort();
        for (int i = 0; i < m.nfix; i++) {
            if (!isfinite(fx[i].lat) || !isfinite(fx[i].lon) || fx[i].speed_kn < 0) abort();
            if (fx[i].attr_off + fx[i].attr_len > attrs.len) abort();
            weft_json *j = NULL;
            weft_json_error je;
            weft_arena_reset(&chk);
            if (weft_json_parse(attrs.data + fx[i].attr_off, fx[i].attr_len, &chk, 64, &j, &je) != 0 ||
                j->type != WEFT_JSON_OBJECT)
                abort();
        }
    } else if (!why || (rc != WEFT_EPARSE && rc != WEFT_ELIMIT && rc != WEFT_ENOMEM)) {
        abort();
    }
    /* the timestamp reader alone: a parse that succeeds formats and re-parses
     * to the same instant when it is in the formatter's 4-digit-year range */
    int64_t ms, back;
    if (fleet_time_parse(in, &ms) == 0 && ms >= -62135596800000LL && ms < 253402300800000LL) {
        char out[32];
        fleet_time_format(out, ms);
        if (fleet_time_parse(weft_str_c(out), &back) != 0 || back != ms) abort();
    }
    weft_buf_free(&attrs);
    weft_arena_free(&a);
    weft_arena_free(&chk);
    return 0;
}
