/*
 * apps/fleet/api.c — the web port's router: which path goes to which
 * api_*.c handler, and the landing page.
 */
#include "api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_int.h"

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

/* Unknown paths under /api answer JSON like the rest of the API. */
static int not_found(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_error(c, 404, "no such path");
}

weft_http_router *api_router(fleet *f) {
    if (sodium_init() < 0) return NULL;
    if (!f->api) {
        if (!(f->api = calloc(1, sizeof *f->api))) return NULL;
        pthread_mutex_init(&f->api->mu, NULL);
    }
    weft_http_router *r = weft_http_router_new();
    if (!r) return NULL;
    int rc = 0;
    int web = api_routes_web(r, f); /* 1: no dashboard files: / is the landing page */
    if (web < 0) rc = web;
    if (web == 1) rc |= weft_http_route(r, "GET", "/", landing, f);
    rc |= weft_http_route(r, "GET", "/api/health", api_health, f);
    rc |= weft_http_route(r, "GET", "/metrics", api_metrics, f);
    rc |= weft_http_route(r, "GET", "/api/openapi.json", api_openapi, f);
    rc |= api_routes_session(r, f);
    rc |= api_routes_devices(r, f);
    rc |= api_routes_groups(r, f);
    rc |= api_routes_users(r, f);
    rc |= api_routes_geofences(r, f);
    rc |= api_routes_positions(r, f);
    rc |= api_routes_events(r, f);
    rc |= api_routes_reports(r, f);
    rc |= api_routes_live(r, f);
    weft_http_router_not_found(r, not_found, NULL);
    if (rc < 0) {
        weft_http_router_free(r);
        return NULL;
    }
    return r;
}

void api_free(fleet *f) {
    api_live_free(f);
    if (!f->api) return;
    pthread_mutex_destroy(&f->api->mu);
    free(f->api);
    f->api = NULL;
}
