/*
 * apps/fleet/api.c — the web port's router: which path goes to which
 * api_*.c handler, and the landing page.
 */
#include "api.h"

#include <stdio.h>

static int landing(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    weft_buf *b = weft_http_body_buf(c);
    weft_buf_printf(b,
                    "<!doctype html><html lang=en><head><meta charset=utf-8><title>weft fleet</title>"
                    "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;padding:0 1em;"
                    "color:#1b1f24}code{background:#eef1f4;padding:0 .3em;border-radius:3px}</style></head><body>"
                    "<h1>weft fleet</h1><p>Live vehicle tracking. %zu devices known.</p><ul>"
                    "<li>REST API: <code>/api/...</code>, documented in <code>/api/openapi.json</code> and "
                    "docs/fleet-api.md; sign in with <code>POST /api/session</code></li>"
                    "<li>Live updates: WebSocket <code>/api/socket</code>, Server-Sent Events <code>/api/stream</code></li>"
                    "<li>Health: <a href=/api/health>/api/health</a>; metrics: <a href=/metrics>/metrics</a></li>"
                    "<li>Devices report to port %d (OsmAnd / Traccar Client over HTTP) and %d (Teltonika)</li>"
                    "</ul></body></html>\n",
                    live_count(f->devices), f->cfg.osmand_port, f->cfg.teltonika_port);
    weft_http_set_content_type(c, "text/html; charset=utf-8");
    weft_http_set_status(c, 200);
    return 0;
}

weft_http_router *api_router(fleet *f) {
    weft_http_router *r = weft_http_router_new();
    if (!r) return NULL;
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/", landing, f);
    rc |= weft_http_route(r, "GET", "/api/health", api_health, f);
    rc |= weft_http_route(r, "GET", "/metrics", api_metrics, f);
    if (rc < 0) {
        weft_http_router_free(r);
        return NULL;
    }
    return r;
}
