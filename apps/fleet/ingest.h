/*
 * apps/fleet/ingest.h — the device-facing ports: Teltonika over TCP
 * (ingest_tcp.c) and the OsmAnd protocol over HTTP (ingest_http.c).
 */
#ifndef FLEET_INGEST_H
#define FLEET_INGEST_H

#include "weft/http.h"

#include "fleet.h"

/* The device a message names: known and enabled, or created when
 * ingest.auto_register is on; NULL when the device must be refused (unknown
 * or disabled). Counts unknown devices in the metrics. */
live_device *ingest_device(fleet *f, int proto, const char *unique_id);

/* Listen on host:port for Teltonika devices; the accept task and every
 * connection run in group g (cancel it to stop). Returns the listening fd
 * (close it to stop accepting) and the port in *bound_port. */
int ingest_tcp_start(fleet *f, const char *host, int port, weft_group *g, int *bound_port);

/* The OsmAnd port's router: every path and method goes to the handler. */
weft_http_router *ingest_http_router(fleet *f);

#endif
