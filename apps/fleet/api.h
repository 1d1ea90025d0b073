/*
 * apps/fleet/api.h — the web port: the REST API for web and mobile apps
 * (api_*.c, documented in docs/fleet-api.md and /api/openapi.json), the
 * live socket, /metrics, and the pages.
 */
#ifndef FLEET_API_H
#define FLEET_API_H

#include "weft/http.h"

#include "fleet.h"

/* The router of the web port. NULL when out of memory. */
weft_http_router *api_router(fleet *f);

/* /metrics (Prometheus text format) and /api/health (api_metrics.c). */
int api_metrics(weft_http_ctx *c, void *ud);
int api_health(weft_http_ctx *c, void *ud);

#endif
