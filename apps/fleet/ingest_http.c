/*
 * apps/fleet/ingest_http.c — the OsmAnd port: what the Traccar Client and
 * OsmAnd apps send, any method, any path, parameters in the query, a form
 * body or the Traccar Client's JSON body. 200 once the fix is durable; 400
 * with the reason for bad input or a device the server refuses.
 */
#include <string.h>

#include "weft/log.h"

#include "ingest.h"
#include "isotime.h"
#include "osmand.h"

static int handle(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    atomic_fetch_add(&f->m.messages[PROTO_OSMAND], 1);
    weft_arena *a = weft_http_arena(c);
    weft_buf attrs;
    weft_buf_init(&attrs, 1 << 20);
    osmand_msg m;
    fleet_fix one, *fixes = &one; /* a JSON body may carry a batch: room for it then */
    const char *why = NULL;
    int rc;
    weft_str ctype = weft_http_get_header(c, "Content-Type");
    weft_str body = weft_http_body(c);
    int64_t now = fleet_now_ms();
    if (ctype.p && ctype.n >= 16 && strncasecmp(ctype.p, "application/json", 16) == 0) {
        fixes = weft_arena_alloc(a, OSMAND_BATCH_MAX * sizeof *fixes);
        rc = fixes ? osmand_parse_json(body, now, &m, fixes, OSMAND_BATCH_MAX, &attrs, a, &why) : WEFT_ENOMEM;
    } else {
        weft_str form = {NULL, 0};
        if (ctype.p && ctype.n >= 33 && strncasecmp(ctype.p, "application/x-www-form-urlencoded", 33) == 0)
            form = body;
        else if (!ctype.p && body.n) /* some trackers post a form without saying so */
            form = body;
        rc = osmand_parse_form(weft_http_raw_query(c), form, now, &m, &fixes[0], &attrs, a, &why);
    }
    if (rc < 0) {
        atomic_fetch_add(&f->m.bad_messages[PROTO_OSMAND], 1);
        weft_buf_free(&attrs);
        return weft_http_error(c, rc == WEFT_EPARSE || rc == WEFT_ELIMIT ? 400 : 500, why ? why : weft_strerror(rc));
    }
    live_device *d = ingest_device(f, PROTO_OSMAND, m.device_id);
    if (!d) {
        weft_buf_free(&attrs);
        return weft_http_error(c, 400, "unknown or disabled device");
    }
    ingest_result res;
    rc = pipeline_ingest(f, d, PROTO_OSMAND, fixes, m.nfix, attrs.data, &res);
    weft_buf_free(&attrs);
    if (rc < 0) {
        char failed[160];
        if (store_failed(f->db, failed, sizeof failed)) /* logged once by the store; the device keeps the fix */
            return weft_http_error(c, 503, failed);
        weft_log_warn("osmand %s: storing failed: %s", m.device_id, weft_strerror(rc));
        return weft_http_error(c, 503, "storage unavailable, retry later");
    }
    if (res.accepted == 0 && res.rejected) return weft_http_error(c, 400, res.why);
    weft_http_set_status(c, 200);
    return 0;
}

weft_http_router *ingest_http_router(fleet *f) {
    weft_http_router *r = weft_http_router_new();
    if (!r) return NULL;
    if (weft_http_route(r, "*", "/", handle, f) < 0 || weft_http_route(r, "*", "/{rest...}", handle, f) < 0) {
        weft_http_router_free(r);
        return NULL;
    }
    return r;
}
